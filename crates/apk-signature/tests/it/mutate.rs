//! Defects made by mutating APKs that apksigner signed: one per class of app-vetting.md §4.3.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

const MAGIC: &[u8; 16] = b"APK Sig Block 42";
const V2: u32 = 0x7109_871a;
const V3: u32 = 0xf053_68c0;

fn u32_at(d: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(d[o..o + 4].try_into().unwrap())
}
fn u64_at(d: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(d[o..o + 8].try_into().unwrap())
}

/// The four regions of an APK.
pub(crate) struct Parts {
    pub(crate) entries: Vec<u8>,
    pub(crate) block: Option<Vec<u8>>,
    pub(crate) cd: Vec<u8>,
    pub(crate) eocd: Vec<u8>,
}

pub(crate) fn split(d: &[u8]) -> Parts {
    let eocd = (0..=d.len() - 22)
        .rev()
        .find(|&i| &d[i..i + 4] == b"PK\x05\x06")
        .expect("EOCD");
    let cd_size = u32_at(d, eocd + 12) as usize;
    let cd = u32_at(d, eocd + 16) as usize;
    let mut entries_end = cd;
    let mut block = None;
    if cd >= 32 && &d[cd - 16..cd] == MAGIC {
        let size = u64_at(d, cd - 24) as usize;
        let start = cd - size - 8;
        block = Some(d[start..cd].to_vec());
        entries_end = start;
    }
    Parts {
        entries: d[..entries_end].to_vec(),
        block,
        cd: d[cd..cd + cd_size].to_vec(),
        eocd: d[eocd..].to_vec(),
    }
}

pub(crate) fn assemble(p: &Parts) -> Vec<u8> {
    let mut out = p.entries.clone();
    if let Some(b) = &p.block {
        out.extend_from_slice(b);
    }
    let cd_off = out.len() as u32;
    out.extend_from_slice(&p.cd);
    let mut eocd = p.eocd.clone();
    eocd[16..20].copy_from_slice(&cd_off.to_le_bytes());
    out.extend_from_slice(&eocd);
    out
}

pub(crate) fn block_pairs(block: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let mut pairs = Vec::new();
    let end = block.len() - 24;
    let mut pos = 8;
    while pos < end {
        let len = u64_at(block, pos) as usize;
        let id = u32_at(block, pos + 8);
        pairs.push((id, block[pos + 12..pos + 8 + len].to_vec()));
        pos += 8 + len;
    }
    pairs
}

pub(crate) fn build_block(pairs: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (id, v) in pairs {
        body.extend_from_slice(&((v.len() + 4) as u64).to_le_bytes());
        body.extend_from_slice(&id.to_le_bytes());
        body.extend_from_slice(v);
    }
    let size = (body.len() + 24) as u64;
    let mut out = size.to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(MAGIC);
    out
}

fn lp(v: &[u8]) -> Vec<u8> {
    let mut o = (v.len() as u32).to_le_bytes().to_vec();
    o.extend_from_slice(v);
    o
}

struct Rd<'a>(&'a [u8], usize);
impl<'a> Rd<'a> {
    fn u32(&mut self) -> u32 {
        let v = u32_at(self.0, self.1);
        self.1 += 4;
        v
    }
    fn lp(&mut self) -> &'a [u8] {
        let n = self.u32() as usize;
        let v = &self.0[self.1..self.1 + n];
        self.1 += n;
        v
    }
    fn more(&self) -> bool {
        self.1 < self.0.len()
    }
}

#[derive(Clone)]
pub(crate) struct SignerV {
    pub(crate) digests: Vec<(u32, Vec<u8>)>,
    pub(crate) certs: Vec<Vec<u8>>,
    pub(crate) sd_minmax: Option<(u32, u32)>,
    pub(crate) attrs: Vec<u8>,
    pub(crate) sd_tail: Vec<u8>,
    pub(crate) minmax: Option<(u32, u32)>,
    pub(crate) sigs: Vec<(u32, Vec<u8>)>,
    pub(crate) pubkey: Vec<u8>,
}

pub(crate) fn parse_scheme(value: &[u8], v3: bool) -> Vec<SignerV> {
    let mut outer = Rd(value, 0);
    let mut list = Rd(outer.lp(), 0);
    let mut out = Vec::new();
    while list.more() {
        let mut s = Rd(list.lp(), 0);
        let sd = s.lp();
        let minmax = v3.then(|| (s.u32(), s.u32()));
        let mut sr = Rd(s.lp(), 0);
        let mut sigs = Vec::new();
        while sr.more() {
            let mut x = Rd(sr.lp(), 0);
            sigs.push((x.u32(), x.lp().to_vec()));
        }
        let pubkey = s.lp().to_vec();
        let mut d = Rd(sd, 0);
        let mut dr = Rd(d.lp(), 0);
        let mut digests = Vec::new();
        while dr.more() {
            let mut x = Rd(dr.lp(), 0);
            digests.push((x.u32(), x.lp().to_vec()));
        }
        let mut cr = Rd(d.lp(), 0);
        let mut certs = Vec::new();
        while cr.more() {
            certs.push(cr.lp().to_vec());
        }
        let sd_minmax = v3.then(|| (d.u32(), d.u32()));
        let attrs = d.lp().to_vec();
        let sd_tail = d.0[d.1..].to_vec();
        out.push(SignerV {
            digests,
            certs,
            sd_minmax,
            attrs,
            sd_tail,
            minmax,
            sigs,
            pubkey,
        });
    }
    out
}

/// The signed-data encoding of a v2/v3 signer (what its signatures cover).
pub(crate) fn signed_data(s: &SignerV) -> Vec<u8> {
    let mut digests = Vec::new();
    for (id, d) in &s.digests {
        let mut x = id.to_le_bytes().to_vec();
        x.extend(lp(d));
        digests.extend(lp(&x));
    }
    let mut certs = Vec::new();
    for c in &s.certs {
        certs.extend(lp(c));
    }
    let mut sd = lp(&digests);
    sd.extend(lp(&certs));
    if let Some((a, b)) = s.sd_minmax {
        sd.extend(a.to_le_bytes());
        sd.extend(b.to_le_bytes());
    }
    sd.extend(lp(&s.attrs));
    sd.extend(&s.sd_tail);
    sd
}

pub(crate) fn build_scheme(signers: &[SignerV]) -> Vec<u8> {
    let mut list = Vec::new();
    for s in signers {
        let sd = signed_data(s);
        let mut sigs = Vec::new();
        for (id, d) in &s.sigs {
            let mut x = id.to_le_bytes().to_vec();
            x.extend(lp(d));
            sigs.extend(lp(&x));
        }
        let mut signer = lp(&sd);
        if let Some((a, b)) = s.minmax {
            signer.extend(a.to_le_bytes());
            signer.extend(b.to_le_bytes());
        }
        signer.extend(lp(&sigs));
        signer.extend(lp(&s.pubkey));
        list.extend(lp(&signer));
    }
    lp(&list)
}

/// Applies `f` to the signers of scheme `id` and re-assembles the APK.
fn edit_scheme(d: &[u8], id: u32, f: impl FnOnce(&mut Vec<SignerV>)) -> Vec<u8> {
    let mut p = split(d);
    let mut pairs = block_pairs(p.block.as_ref().expect("block"));
    let pair = pairs
        .iter_mut()
        .find(|(i, _)| *i == id)
        .expect("scheme pair");
    let mut signers = parse_scheme(&pair.1, id != V2);
    assert_eq!(build_scheme(&signers), pair.1, "re-serialization is exact");
    f(&mut signers);
    pair.1 = build_scheme(&signers);
    p.block = Some(build_block(&pairs));
    assemble(&p)
}

/// Rewrites the ZIP with every entry stored (no signing block), editing entries with `f`
/// (return `None` to drop an entry) and appending `extra`.
pub(crate) fn rebuild_zip(
    d: &[u8],
    mut f: impl FnMut(&str, Vec<u8>) -> Option<Vec<u8>>,
    extra: &[(&str, Vec<u8>)],
) -> Vec<u8> {
    let archive = apk_zip::Archive::parse(d, apk_zip::Limits::default()).expect("zip");
    let mut items: Vec<(String, Vec<u8>)> = Vec::new();
    for e in archive.entries() {
        let name = e.name_lossy().into_owned();
        let data = archive.read(e).expect("read").into_owned();
        if let Some(data) = f(&name, data) {
            items.push((name, data));
        }
    }
    for (n, v) in extra {
        items.push(((*n).to_owned(), v.clone()));
    }
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for (name, data) in &items {
        let off = out.len() as u32;
        let crc = crc32fast::hash(data);
        let mut h = Vec::new();
        h.extend(b"PK\x03\x04");
        h.extend(10u16.to_le_bytes());
        h.extend(0u16.to_le_bytes()); // flags
        h.extend(0u16.to_le_bytes()); // stored
        h.extend(0u32.to_le_bytes()); // time/date
        h.extend(crc.to_le_bytes());
        h.extend((data.len() as u32).to_le_bytes());
        h.extend((data.len() as u32).to_le_bytes());
        h.extend((name.len() as u16).to_le_bytes());
        h.extend(0u16.to_le_bytes());
        h.extend(name.as_bytes());
        out.extend(&h);
        out.extend(data);
        cd.extend(b"PK\x01\x02");
        cd.extend(10u16.to_le_bytes());
        cd.extend(10u16.to_le_bytes());
        cd.extend(0u16.to_le_bytes());
        cd.extend(0u16.to_le_bytes());
        cd.extend(0u32.to_le_bytes());
        cd.extend(crc.to_le_bytes());
        cd.extend((data.len() as u32).to_le_bytes());
        cd.extend((data.len() as u32).to_le_bytes());
        cd.extend((name.len() as u16).to_le_bytes());
        cd.extend([0u8; 8]); // extra, comment, disk, internal attrs
        cd.extend(0u32.to_le_bytes()); // external attrs
        cd.extend(off.to_le_bytes());
        cd.extend(name.as_bytes());
    }
    let cd_off = out.len() as u32;
    out.extend(&cd);
    out.extend(b"PK\x05\x06");
    out.extend([0u8; 4]);
    out.extend((items.len() as u16).to_le_bytes());
    out.extend((items.len() as u16).to_le_bytes());
    out.extend((cd.len() as u32).to_le_bytes());
    out.extend(cd_off.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

fn entry_data_offset(d: &[u8], name: &str) -> usize {
    let a = apk_zip::Archive::parse(d, apk_zip::Limits::default()).expect("zip");
    a.find(name).expect("entry").data_offset as usize
}

fn with_max_comment(d: &[u8]) -> Vec<u8> {
    let mut p = split(d);
    p.eocd.truncate(22);
    p.eocd[20..22].copy_from_slice(&0xffffu16.to_le_bytes());
    p.eocd.extend((0..65_535u32).map(|i| (i % 251) as u8));
    assemble(&p)
}

/// DER TLVs of a definite-length encoding: `(tag, header+content range, content range)`.
fn der_children(d: &[u8]) -> Vec<(u8, std::ops::Range<usize>, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < d.len() {
        let tag = d[pos];
        let first = d[pos + 1] as usize;
        let (hdr, len) = if first < 0x80 {
            (2, first)
        } else {
            let n = first & 0x7f;
            let mut l = 0usize;
            for i in 0..n {
                l = l * 256 + d[pos + 2 + i] as usize;
            }
            (2 + n, l)
        };
        out.push((tag, pos..pos + hdr + len, pos + hdr..pos + hdr + len));
        pos += hdr + len;
    }
    out
}

fn der_enc(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut o = vec![tag];
    let n = content.len();
    if n < 0x80 {
        o.push(n as u8);
    } else if n < 0x100 {
        o.extend([0x81, n as u8]);
    } else {
        o.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    o.extend_from_slice(content);
    o
}

/// The certificate with its RSA modulus re-encoded as a negative INTEGER (leading zero dropped).
/// Its own signature no longer verifies, which Android never checks for APK signers.
pub(crate) fn negative_modulus_cert(cert: &[u8]) -> Vec<u8> {
    let top = der_children(cert);
    let c = &cert[top[0].2.clone()];
    let parts = der_children(c);
    let tbs = &c[parts[0].2.clone()];
    let fields = der_children(tbs);
    let mut new_tbs = Vec::new();
    for (i, (_, raw, content)) in fields.iter().enumerate() {
        // [0] version, serial, signature, issuer, validity, subject, spki
        if i != 6 {
            new_tbs.extend_from_slice(&tbs[raw.clone()]);
            continue;
        }
        let spki = &tbs[content.clone()];
        let sp = der_children(spki);
        let bits = &spki[sp[1].2.clone()];
        let key = &bits[1..];
        let kseq = der_children(key);
        let k = &key[kseq[0].2.clone()];
        let ints = der_children(k);
        let n = &k[ints[0].2.clone()];
        assert_eq!(n[0], 0, "modulus has a leading zero");
        assert!(n[1] & 0x80 != 0);
        let mut rsa = der_enc(0x02, &n[1..]);
        rsa.extend_from_slice(&k[ints[1].1.clone()]);
        let mut bit_content = vec![bits[0]];
        bit_content.extend(der_enc(0x30, &rsa));
        let mut spki_body = spki[sp[0].1.clone()].to_vec();
        spki_body.extend(der_enc(0x03, &bit_content));
        new_tbs.extend(der_enc(0x30, &spki_body));
    }
    let mut body = der_enc(0x30, &new_tbs);
    for (_, raw, _) in &parts[1..] {
        body.extend_from_slice(&c[raw.clone()]);
    }
    der_enc(0x30, &body)
}

/// Rewrites the last copy of `name` (the SignerInfo's issuer) inside every signature block file
/// with `f` (which must keep the length).
fn edit_signer_issuer(d: &[u8], name: &[u8], f: impl Fn(&mut [u8])) -> Vec<u8> {
    rebuild_zip(
        d,
        |n, mut v| {
            if n.ends_with(".RSA") || n.ends_with(".EC") || n.ends_with(".DSA") {
                let at = v
                    .windows(name.len())
                    .rposition(|w| w == name)
                    .expect("issuer in block");
                let before = v[at..at + name.len()].len();
                f(&mut v[at..at + name.len()]);
                assert_eq!(before, name.len());
            }
            Some(v)
        },
        &[],
    )
}

/// The issuer Name of a DER certificate.
fn cert_issuer(cert: &[u8]) -> Vec<u8> {
    let c = &cert[der_children(cert)[0].2.clone()];
    let tbs = &c[der_children(c)[0].2.clone()];
    let fields = der_children(tbs);
    // [0] version is absent in X.509 v1 certificates (OpenSSL makes one without extensions).
    let skip = usize::from(fields[0].0 == 0xa0);
    tbs[fields[2 + skip].1.clone()].to_vec()
}

/// Re-types, re-cases and moves the white space of every PrintableString in a Name, keeping lengths.
fn retype_name(name: &mut [u8], new_tag: u8, shuffle: bool) {
    let mut i = 0;
    while i + 1 < name.len() {
        if name[i] == 0x13
            && (name[i + 1] as usize) < 0x80
            && i + 2 + name[i + 1] as usize <= name.len()
        {
            let len = name[i + 1] as usize;
            if len > 2 {
                name[i] = new_tag;
                let v = &mut name[i + 2..i + 2 + len];
                if shuffle {
                    let mut s: Vec<u8> = v.iter().map(u8::to_ascii_uppercase).collect();
                    // "INTERDICT  TEST" -> " INTERDICT TEST": same length, same canonical form.
                    if let Some(p) = s.windows(2).position(|w| w == b"  ") {
                        s.remove(p);
                        s.insert(0, b' ');
                    }
                    v.copy_from_slice(&s);
                }
                i += 2 + len;
                continue;
            }
        }
        i += 1;
    }
}

/// Signs `base` with apksigner using `key`/`cert` files.
fn apksigner_sign(dir: &Path, base: &[u8], key: &Path, cert: &Path, flags: &[&str]) -> Vec<u8> {
    let n = std::process::id();
    let tmp_in = dir.join(format!("sign-{n}.in.apk"));
    let out = dir.join(format!("sign-{n}.out.apk"));
    std::fs::write(&tmp_in, base).unwrap();
    let st = Command::new("apksigner")
        .arg("sign")
        .args(flags)
        .arg("--key")
        .arg(key)
        .arg("--cert")
        .arg(cert)
        .arg("--out")
        .arg(&out)
        .arg(&tmp_in)
        .status()
        .expect("apksigner");
    assert!(st.success());
    let d = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&tmp_in);
    let _ = std::fs::remove_file(&out);
    d
}

const STAMP_V2: u32 = 0x6dff_800d;

fn edit_pair(d: &[u8], id: u32, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut p = split(d);
    let mut pairs = block_pairs(p.block.as_ref().unwrap());
    let pair = pairs.iter_mut().find(|(i, _)| *i == id).expect("pair");
    f(&mut pair.1);
    p.block = Some(build_block(&pairs));
    assemble(&p)
}

/// Issue 11 fixture classes: names, serials, negative moduli, stamps.
fn make_issue11(dir: &Path, put: &mut dyn FnMut(&str, u32, Vec<u8>)) {
    let apks = dir.join("apks");
    let keys = dir.join("keys");
    let load = |n: &str| std::fs::read(apks.join(format!("{n}.apk"))).expect(n);
    let pstr = std::fs::read(keys.join("pstr.der")).unwrap();
    let issuer = cert_issuer(&pstr);
    // SignerInfo issuer as UTF8String, upper case, white space moved: Java's X500Principal equal.
    for (src, min) in [("v1-pstr", 14), ("v123-pstr", 14), ("jarsigner-pstr", 24)] {
        put(
            &format!("m-{src}-issuer-utf8-case-space"),
            min,
            edit_signer_issuer(&load(src), &issuer, |n| retype_name(n, 0x0c, true)),
        );
    }
    put(
        "m-v1-pstr-issuer-utf8",
        14,
        edit_signer_issuer(&load("v1-pstr"), &issuer, |n| retype_name(n, 0x0c, false)),
    );
    // BMPString is compared by its encoding in Java: not the same principal.
    put(
        "m-v1-pstr-issuer-bmp",
        14,
        edit_signer_issuer(&load("v1-pstr"), &issuer, |n| retype_name(n, 0x1e, false)),
    );
    // The SignerInfo serial as a negative number (0xff.. instead of 0x00..): not the same serial.
    let serialhi = std::fs::read(keys.join("serialhi.der")).unwrap();
    let serial_der: &[u8] = &[
        0x02, 0x11, 0x00, 0x8b, 0xad, 0xf0, 0x0d, 0xde, 0xad, 0xbe, 0xef, 0x8b, 0xad, 0xf0, 0x0d,
        0xde, 0xad, 0xbe, 0xef,
    ];
    assert!(serialhi.windows(serial_der.len()).any(|w| w == serial_der));
    put(
        "m-v1-serialhi-serial-negative",
        14,
        edit_signer_issuer(&load("v1-serialhi"), serial_der, |s| s[2] = 0xff),
    );
    // Negative RSA modulus in the certificate, signed by apksigner with it.
    let neg = negative_modulus_cert(&std::fs::read(keys.join("rsa2048.der")).unwrap());
    let neg_path = keys.join("rsa2048-negmod.der");
    std::fs::write(&neg_path, &neg).unwrap();
    let pk8 = keys.join("rsa2048.pk8");
    for (name, min, flags) in [
        (
            "negmod-v2",
            24u32,
            [
                "--v1-signing-enabled",
                "false",
                "--v2-signing-enabled",
                "true",
                "--v3-signing-enabled",
                "false",
            ],
        ),
        (
            "negmod-v3",
            28,
            [
                "--v1-signing-enabled",
                "false",
                "--v2-signing-enabled",
                "false",
                "--v3-signing-enabled",
                "true",
            ],
        ),
        (
            "negmod-v123",
            14,
            [
                "--v1-signing-enabled",
                "true",
                "--v2-signing-enabled",
                "true",
                "--v3-signing-enabled",
                "true",
            ],
        ),
    ] {
        let base = match min {
            14 => load("unsigned"),
            m => load(&format!("unsigned{m}")),
        };
        put(
            name,
            min,
            apksigner_sign(dir, &base, &pk8, &neg_path, &flags),
        );
    }
    // The signer's public key field with the negative encoding too: apksig re-encodes the
    // certificate's key as positive, so this no longer matches.
    put(
        "m-negmod-v2-pubkey-negative",
        24,
        edit_scheme(&load("negmod-v2"), V2, |s| {
            let c = negative_modulus_cert(&std::fs::read(keys.join("rsa2048.der")).unwrap());
            let ct = der_children(&c);
            let cc = &c[ct[0].2.clone()];
            let tbs = &cc[der_children(cc)[0].2.clone()];
            s[0].pubkey = tbs[der_children(tbs)[6].1.clone()].to_vec();
        }),
    );
    // Source stamps: signature flipped, block truncated (malformed), stamp certificate of
    // another key (mismatch with stamp-cert-sha256), stamp block dropped, stamp entry dropped.
    let other = std::fs::read(keys.join("rsa4096.der")).unwrap();
    for src in ["v2-stamp", "v123-stamp", "v1-stamp", "v3-stamp"] {
        let min = match src {
            "v2-stamp" => 24,
            "v3-stamp" => 28,
            _ => 14,
        };
        put(
            &format!("m-{src}-sig-flip"),
            min,
            edit_pair(&load(src), STAMP_V2, |v| {
                let l = v.len() - 1;
                v[l] ^= 1;
            }),
        );
        put(
            &format!("m-{src}-truncated"),
            min,
            edit_pair(&load(src), STAMP_V2, |v| v.truncate(v.len() - 10)),
        );
        put(
            &format!("m-{src}-cert-mismatch"),
            min,
            edit_pair(&load(src), STAMP_V2, |v| {
                // value = lp(lp(cert) ...)
                let inner_len = u32_at(v, 0) as usize;
                let cert_len = u32_at(v, 4) as usize;
                let rest = v[8 + cert_len..4 + inner_len].to_vec();
                let mut inner = lp(&other);
                inner.extend(rest);
                *v = lp(&inner);
            }),
        );
        put(&format!("m-{src}-block-dropped"), min, {
            let mut p = split(&load(src));
            let pairs: Vec<_> = block_pairs(p.block.as_ref().unwrap())
                .into_iter()
                .filter(|(i, _)| *i != STAMP_V2)
                .collect();
            p.block = Some(build_block(&pairs));
            assemble(&p)
        });
    }
    // v3.1 stripped: the v3 signer carries the rotation-min-SDK attribute (0x559f8b02, value 33)
    // but there is no v3.1 block. Re-signed with openssl (RSA PKCS #1 SHA-256, id 0x0103).
    put(
        "m-v3-rsa2048-v31-stripped",
        28,
        edit_scheme(&load("v3-rsa2048"), V3, |s| {
            let mut attr = 0x559f_8b02u32.to_le_bytes().to_vec();
            attr.extend(33u32.to_le_bytes());
            s[0].attrs.extend(lp(&attr));
            let sd = signed_data(&s[0]);
            let sd_path = dir.join(format!("sd-{}.bin", std::process::id()));
            std::fs::write(&sd_path, &sd).unwrap();
            let out = Command::new("openssl")
                .args(["dgst", "-sha256", "-sign"])
                .arg(keys.join("rsa2048.key.pem"))
                .arg(&sd_path)
                .output()
                .expect("openssl");
            assert!(out.status.success());
            let _ = std::fs::remove_file(&sd_path);
            assert_eq!(s[0].sigs.len(), 1);
            assert_eq!(s[0].sigs[0].0, 0x0103);
            s[0].sigs[0].1 = out.stdout;
        }),
    );
    // Malformed inner structure with consistent outer lengths: signed-digest list cut short.
    put(
        "m-v2-stamp-digests-malformed",
        24,
        edit_pair(&load("v2-stamp"), STAMP_V2, |v| {
            let cert_len = u32_at(v, 4) as usize;
            let at = 8 + cert_len + 4; // first signed-scheme record's length
            let bad = (u32_at(v, at) + 1000).to_le_bytes();
            v[at..at + 4].copy_from_slice(&bad);
        }),
    );
}

/// Makes every mutated fixture in `dir/apks` and appends them to `dir/index.txt`.
pub(crate) fn make_all(dir: &Path) {
    let apks = dir.join("apks");
    let keys = dir.join("keys");
    let load = |n: &str| std::fs::read(apks.join(format!("{n}.apk"))).expect(n);
    let mut index = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("index.txt"))
        .expect("index");
    let mut put = |name: &str, min: u32, data: Vec<u8>| {
        std::fs::write(apks.join(format!("{name}.apk")), data).expect("write");
        writeln!(index, "{name}.apk {min}").expect("index");
    };
    let flip_entry = |n: &str| {
        let mut d = load(n);
        let o = entry_data_offset(&d, "assets/big.bin") + 1000;
        d[o] ^= 1;
        d
    };
    let flip_cd = |n: &str| {
        let mut d = load(n);
        let p = split(&d);
        let cd_off = d.len() - p.eocd.len() - p.cd.len();
        d[cd_off + 12] ^= 1; // first entry's modification time
        d
    };
    let flip_sig = |n: &str, id: u32, signer: usize| {
        edit_scheme(&load(n), id, |s| {
            let sig = &mut s[signer].sigs[0].1;
            let last = sig.len() - 1;
            sig[last] ^= 1;
        })
    };
    // Byte flipped in a signed entry.
    put(
        "m-v1-rsa2048-entry-flip",
        14,
        rebuild_zip(
            &load("v1-rsa2048"),
            |n, mut v| {
                if n == "assets/big.bin" {
                    v[1000] ^= 1;
                }
                Some(v)
            },
            &[],
        ),
    );
    put("m-v2-ec256-entry-flip", 24, flip_entry("v2-ec256"));
    put("m-v3-rsa4096-entry-flip", 28, flip_entry("v3-rsa4096"));
    put("m-v123-ec384-entry-flip", 18, flip_entry("v123-ec384"));
    // Byte flipped in the central directory.
    put("m-v2-rsa2048-cd-flip", 24, flip_cd("v2-rsa2048"));
    put("m-v123-rsa2048-cd-flip", 14, flip_cd("v123-rsa2048"));
    put("m-v3-ec521-cd-flip", 28, flip_cd("v3-ec521"));
    put("m-v1-rsa2048-cd-flip", 14, flip_cd("v1-rsa2048"));
    // Byte flipped in a signature.
    put("m-v2-ec256-sig-flip", 24, flip_sig("v2-ec256", V2, 0));
    put("m-v2-rsa1024-sig-flip", 24, flip_sig("v2-rsa1024", V2, 0));
    put("m-v2-dsa1024-sig-flip", 24, flip_sig("v2-dsa1024", V2, 0));
    put("m-v3-dsa2048-sig-flip", 28, flip_sig("v3-dsa2048", V3, 0));
    put("m-v3-ec521-sig-flip", 28, flip_sig("v3-ec521", V3, 0));
    put(
        "m-v123-rsa3072-v3-sig-flip",
        14,
        flip_sig("v123-rsa3072", V3, 0),
    );
    put(
        "m-v123-rsa3072-v2-sig-flip",
        14,
        flip_sig("v123-rsa3072", V2, 0),
    );
    put(
        "m-two-signers-v2-second-sig-flip",
        24,
        flip_sig("two-signers-v2", V2, 1),
    );
    put(
        "m-v1-rsa2048-sig-flip",
        14,
        rebuild_zip(
            &load("v1-rsa2048"),
            |n, mut v| {
                if n.ends_with(".RSA") {
                    let l = v.len() - 1;
                    v[l] ^= 1;
                }
                Some(v)
            },
            &[],
        ),
    );
    put(
        "m-v1-dsa1024-sig-flip",
        14,
        rebuild_zip(
            &load("v1-dsa1024"),
            |n, mut v| {
                if n.ends_with(".DSA") {
                    let l = v.len() - 1;
                    v[l] ^= 1;
                }
                Some(v)
            },
            &[],
        ),
    );
    put(
        "m-v1-ec256-sf-edit",
        18,
        rebuild_zip(
            &load("v1-ec256"),
            |n, v| {
                if n.ends_with(".SF") {
                    let s = String::from_utf8(v).unwrap().replacen(
                        "Created-By: 1.0 (Android)",
                        "Created-By: 1.1 (Android)",
                        1,
                    );
                    return Some(s.into_bytes());
                }
                Some(v)
            },
            &[],
        ),
    );
    // Signed digest changed inside signed data (signature no longer matches).
    put(
        "m-v2-ec256-signed-digest-flip",
        24,
        edit_scheme(&load("v2-ec256"), V2, |s| s[0].digests[0].1[0] ^= 1),
    );
    // Certificate swapped.
    let rsa2048b = std::fs::read(keys.join("rsa2048b.der")).expect("cert");
    let ec384 = std::fs::read(keys.join("ec384.der")).expect("cert");
    put(
        "m-v2-rsa2048-cert-swap",
        24,
        edit_scheme(&load("v2-rsa2048"), V2, |s| {
            s[0].certs[0] = rsa2048b.clone()
        }),
    );
    put(
        "m-v3-ec256-cert-swap",
        28,
        edit_scheme(&load("v3-ec256"), V3, |s| s[0].certs[0] = ec384.clone()),
    );
    put("m-v1-rsa2048-cert-swap", 14, {
        let other = load("v1-rsa2048b-src");
        let a = apk_zip::Archive::parse(&other, apk_zip::Limits::default()).unwrap();
        let e = a
            .entries()
            .iter()
            .find(|e| e.name_lossy().ends_with(".RSA"))
            .unwrap();
        let block = a.read(e).unwrap().into_owned();
        rebuild_zip(
            &load("v1-rsa2048"),
            |n, v| {
                Some(if n.ends_with(".RSA") {
                    block.clone()
                } else {
                    v
                })
            },
            &[],
        )
    });
    // Signing block stripped (v1 keeps X-Android-APK-Signed).
    for (src, name, min) in [
        ("v12-rsa2048", "m-v12-rsa2048-stripped", 14),
        ("v123-rsa2048", "m-v123-rsa2048-stripped", 14),
    ] {
        let mut p = split(&load(src));
        p.block = None;
        put(name, min, assemble(&p));
    }
    {
        let mut p = split(&load("v123-ec256"));
        let pairs: Vec<_> = block_pairs(p.block.as_ref().unwrap())
            .into_iter()
            .filter(|(i, _)| *i != V3)
            .collect();
        p.block = Some(build_block(&pairs));
        put("m-v123-ec256-v3-stripped", 18, assemble(&p));
    }
    // Wrong magic, size mismatch.
    for (src, name, min) in [
        ("v2-rsa2048", "m-v2-rsa2048-wrong-magic", 24),
        ("v3-ec384", "m-v3-ec384-wrong-magic", 28),
    ] {
        let mut d = load(src);
        let p = split(&d);
        let cd_off = d.len() - p.eocd.len() - p.cd.len();
        d[cd_off - 3] ^= 0x20;
        put(name, min, d);
    }
    for (src, name, min) in [
        ("v2-rsa2048", "m-v2-rsa2048-size-mismatch", 24),
        ("v3-rsa4096", "m-v3-rsa4096-size-mismatch", 28),
    ] {
        let mut p = split(&load(src));
        let b = p.block.as_mut().unwrap();
        b[0] = b[0].wrapping_add(8);
        put(name, min, assemble(&p));
    }
    // Garbage between the central directory and the EOCD.
    for (src, name, min) in [
        ("v2-rsa2048", "m-v2-rsa2048-garbage-cd-eocd", 24),
        ("v1-rsa2048", "m-v1-rsa2048-garbage-cd-eocd", 14),
    ] {
        let p = split(&load(src));
        let mut d = assemble(&p);
        let at = d.len() - p.eocd.len();
        d.splice(at..at, b"GARBAGE!".iter().copied());
        put(name, min, d);
    }
    // Maximal EOCD comment, added after signing and signed over.
    put(
        "m-v1-rsa2048-max-comment",
        14,
        with_max_comment(&load("v1-rsa2048")),
    );
    put(
        "m-v2-rsa2048-max-comment",
        24,
        with_max_comment(&load("v2-rsa2048")),
    );
    for (src, name, min, flags) in [
        (
            "v2-rsa2048",
            "m-v2-rsa2048-max-comment-signed",
            24,
            [
                "--v1-signing-enabled",
                "false",
                "--v2-signing-enabled",
                "true",
            ],
        ),
        (
            "v1-rsa2048",
            "m-v1-rsa2048-max-comment-signed",
            14,
            [
                "--v1-signing-enabled",
                "true",
                "--v2-signing-enabled",
                "false",
            ],
        ),
    ] {
        let tmp_in = dir.join(format!("{name}.in.apk"));
        std::fs::write(&tmp_in, with_max_comment(&load(src))).unwrap();
        let out = dir.join(format!("{name}.out.apk"));
        let st = Command::new("apksigner")
            .arg("sign")
            .args(flags)
            .args([
                "--v3-signing-enabled",
                "false",
                "--v4-signing-enabled",
                "false",
                "--key",
            ])
            .arg(keys.join("rsa2048.pk8"))
            .arg("--cert")
            .arg(keys.join("rsa2048.der"))
            .arg("--out")
            .arg(&out)
            .arg(&tmp_in)
            .status()
            .expect("apksigner");
        assert!(st.success());
        let _ = std::fs::remove_file(&tmp_in);
        put(name, min, std::fs::read(&out).unwrap());
        let _ = std::fs::remove_file(&out);
    }
    // Unknown pair in the signing block.
    for (src, name, min) in [
        ("v2-rsa2048", "m-v2-rsa2048-unknown-pair", 24),
        ("v3-ec256", "m-v3-ec256-unknown-pair", 28),
    ] {
        let mut p = split(&load(src));
        let mut pairs = block_pairs(p.block.as_ref().unwrap());
        pairs.insert(0, (0x1234_5678, b"unknown pair value".to_vec()));
        p.block = Some(build_block(&pairs));
        put(name, min, assemble(&p));
    }
    // More signers than allowed: 11 JAR signers.
    {
        let s11 = load("v1-s11");
        let a = apk_zip::Archive::parse(&s11, apk_zip::Limits::default()).unwrap();
        let extra: Vec<(&str, Vec<u8>)> = ["META-INF/S11.SF", "META-INF/S11.EC"]
            .iter()
            .map(|n| (*n, a.read(a.find(n).unwrap()).unwrap().into_owned()))
            .collect();
        put(
            "m-v1-11-signers",
            18,
            rebuild_zip(&load("v1-10-signers"), |_, v| Some(v), &extra),
        );
    }
    // JAR entries: one not in the manifest, one in the manifest but missing.
    put(
        "m-v1-rsa2048-unsigned-entry",
        14,
        rebuild_zip(
            &load("v1-rsa2048"),
            |_, v| Some(v),
            &[("assets/extra.txt", b"not signed".to_vec())],
        ),
    );
    put(
        "m-v1-rsa2048-missing-entry",
        14,
        rebuild_zip(
            &load("v1-rsa2048"),
            |n, v| (n != "assets/text.txt").then_some(v),
            &[],
        ),
    );
    // v1 and v2 signed by different keys (v2 block grafted from another signer).
    {
        let mut p = split(&load("v12-rsa2048"));
        let other = split(&load("v2-rsa2048"));
        p.block = other.block;
        put("m-v12-rsa2048-v2-block-from-other-apk", 14, assemble(&p));
    }
    // Truncated lineage signature.
    put(
        "m-v3-lineage-3-sig-flip",
        28,
        flip_sig("v3-lineage-3", V3, 0),
    );
    make_issue11(dir, &mut put);
}

#[test]
fn issuer_edits_change_the_signer_info() {
    if !crate::fixtures::tools_available() {
        return;
    }
    let dir = crate::fixtures::fixture_dir();
    let d = std::fs::read(dir.join("apks/v1-pstr.apk")).unwrap();
    let issuer = cert_issuer(&std::fs::read(dir.join("keys/pstr.der")).unwrap());
    let out = edit_signer_issuer(&d, &issuer, |n| retype_name(n, 0x1e, false));
    let a = apk_zip::Archive::parse(&out, apk_zip::Limits::default()).unwrap();
    let rsa = a.read(a.find("META-INF/PSTR.RSA").unwrap()).unwrap();
    let pos: Vec<usize> = rsa
        .windows(issuer.len())
        .enumerate()
        .filter(|(_, w)| *w == issuer)
        .map(|(i, _)| i)
        .collect();
    let orig = apk_zip::Archive::parse(&d, apk_zip::Limits::default()).unwrap();
    let orsa = orig.read(orig.find("META-INF/PSTR.RSA").unwrap()).unwrap();
    let diff: Vec<usize> = (0..rsa.len()).filter(|&i| rsa[i] != orsa[i]).collect();
    eprintln!(
        "positions {pos:?} diff {diff:?} len {} {}",
        rsa.len(),
        orsa.len()
    );
    let disk = std::fs::read(dir.join("apks/m-v1-pstr-issuer-bmp.apk")).unwrap();
    eprintln!("same as disk: {}", disk == out);
    assert_eq!(pos.len(), 2, "the SignerInfo's copy was re-typed");
}
