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

pub(crate) fn build_scheme(signers: &[SignerV]) -> Vec<u8> {
    let mut list = Vec::new();
    for s in signers {
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
}
