//! Tiny hostile APKs, written byte by byte (no Android tool makes these shapes): each is a few kilobytes
//! that inflate to a structure whose naive reading costs quadratic time or memory (issue 12, item 11).
//!
//! The writers here are deliberately small and independent of the parsers under test: a ZIP writer
//! (deflated entries, as `zip -9` writes them), an Android binary XML writer (UTF-8 string pool, resource
//! map, namespace and element chunks, as aapt2 writes them), a `resources.arsc` writer, and a DEX writer
//! for the three tables an assessment reads.

use std::io::Write;

use flate2::write::DeflateEncoder;
use flate2::Compression;

/// `android:name`.
pub const ATTR_NAME: u32 = 0x0101_0003;
/// `android:protectionLevel`.
pub const ATTR_PROTECTION_LEVEL: u32 = 0x0101_0009;

/// A ZIP archive of deflated entries (local headers, central directory, end record).
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::best());
        enc.write_all(data).expect("deflate into memory");
        let packed = enc.finish().expect("deflate into memory");
        let crc = crc32fast::hash(data);
        let offset = out.len() as u32;
        let fields = |sig: u32, central: bool| {
            let mut h = Vec::new();
            h.extend_from_slice(&sig.to_le_bytes());
            if central {
                h.extend_from_slice(&20u16.to_le_bytes()); // version made by
            }
            h.extend_from_slice(&20u16.to_le_bytes()); // version needed
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&8u16.to_le_bytes()); // deflate
            h.extend_from_slice(&0u16.to_le_bytes()); // time
            h.extend_from_slice(&0x21u16.to_le_bytes()); // date 1980-01-01
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(packed.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // extra length
            if central {
                h.extend_from_slice(&0u16.to_le_bytes()); // comment length
                h.extend_from_slice(&0u16.to_le_bytes()); // disk
                h.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
                h.extend_from_slice(&0u32.to_le_bytes()); // external attributes
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend(fields(0x0403_4b50, false));
        out.extend_from_slice(&packed);
        central.extend(fields(0x0201_4b50, true));
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn set32(out: &mut [u8], at: usize, v: u32) {
    out[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// A UTF-8 `ResStringPool` chunk.
fn string_pool(strings: &[&str]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut offsets = Vec::new();
    for s in strings {
        offsets.push(data.len() as u32);
        for n in [s.chars().count(), s.len()] {
            if n < 0x80 {
                data.push(n as u8);
            } else {
                data.push(((n >> 8) as u8 & 0x7f) | 0x80);
                data.push(n as u8);
            }
        }
        data.extend_from_slice(s.as_bytes());
        data.push(0);
    }
    while data.len() % 4 != 0 {
        data.push(0);
    }
    let mut out = Vec::new();
    put16(&mut out, 0x0001);
    put16(&mut out, 28);
    put32(&mut out, 0);
    put32(&mut out, strings.len() as u32);
    put32(&mut out, 0); // styles
    put32(&mut out, 0x100); // UTF-8
    put32(&mut out, 28 + 4 * strings.len() as u32);
    put32(&mut out, 0);
    for o in offsets {
        put32(&mut out, o);
    }
    out.extend_from_slice(&data);
    let len = out.len() as u32;
    set32(&mut out, 4, len);
    out
}

/// An attribute value in an [`Axml`] element.
#[derive(Debug, Clone, Copy)]
pub enum AttrValue<'a> {
    /// A string (`TYPE_STRING`).
    Str(&'a str),
    /// A reference to a resource id (`TYPE_REFERENCE`).
    Ref(u32),
    /// A decimal integer.
    Int(u32),
}

/// An Android binary XML document under construction: elements are written in document order.
pub struct Axml {
    strings: Vec<String>,
    index: std::collections::HashMap<String, u32>,
    res_ids: Vec<u32>,
    body: Vec<u8>,
}

const ANDROID_NS: &str = "http://schemas.android.com/apk/res/android";

impl Axml {
    /// A document whose first strings are the names of the framework attributes `attrs` (name, id), in
    /// the resource map, as aapt2 lays them out.
    pub fn new(attrs: &[(&str, u32)]) -> Self {
        let mut x = Axml {
            strings: Vec::new(),
            index: std::collections::HashMap::new(),
            res_ids: Vec::new(),
            body: Vec::new(),
        };
        for (name, id) in attrs {
            x.string(name);
            x.res_ids.push(*id);
        }
        x
    }

    /// The index of `s` in the string pool (added when new).
    pub fn string(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }

    /// A start-element chunk. Attribute names found among the framework attributes are in the android
    /// namespace.
    pub fn start(&mut self, name: &str, attrs: &[(&str, AttrValue<'_>)]) {
        let ns = self.string(ANDROID_NS);
        let name = self.string(name);
        let mut attr_bytes = Vec::new();
        for (aname, value) in attrs {
            let ai = self.string(aname);
            let in_ns = (ai as usize) < self.res_ids.len();
            put32(&mut attr_bytes, if in_ns { ns } else { u32::MAX });
            put32(&mut attr_bytes, ai);
            let (raw, ty, data) = match value {
                AttrValue::Str(s) => {
                    let si = self.string(s);
                    (si, 0x03u8, si)
                }
                AttrValue::Ref(id) => (u32::MAX, 0x01, *id),
                AttrValue::Int(v) => (u32::MAX, 0x10, *v),
            };
            put32(&mut attr_bytes, raw);
            put16(&mut attr_bytes, 8);
            attr_bytes.push(0);
            attr_bytes.push(ty);
            put32(&mut attr_bytes, data);
        }
        let b = &mut self.body;
        put16(b, 0x0102);
        put16(b, 16);
        put32(b, 16 + 20 + attr_bytes.len() as u32);
        put32(b, 1); // line
        put32(b, u32::MAX); // comment
        put32(b, u32::MAX); // element namespace
        put32(b, name);
        put16(b, 20);
        put16(b, 20);
        put16(b, attrs.len() as u16);
        put16(b, 0);
        put16(b, 0);
        put16(b, 0);
        b.extend_from_slice(&attr_bytes);
    }

    /// An end-element chunk.
    pub fn end(&mut self, name: &str) {
        let name = self.string(name);
        let b = &mut self.body;
        put16(b, 0x0103);
        put16(b, 16);
        put32(b, 24);
        put32(b, 1);
        put32(b, u32::MAX);
        put32(b, u32::MAX);
        put32(b, name);
    }

    /// The whole document: XML header, string pool, resource map, namespace, the elements.
    pub fn finish(mut self) -> Vec<u8> {
        let prefix = self.string("android");
        let uri = self.string(ANDROID_NS);
        let strs: Vec<&str> = self.strings.iter().map(String::as_str).collect();
        let pool = string_pool(&strs);
        let mut out = Vec::new();
        put16(&mut out, 0x0003);
        put16(&mut out, 8);
        put32(&mut out, 0);
        out.extend_from_slice(&pool);
        put16(&mut out, 0x0180);
        put16(&mut out, 8);
        put32(&mut out, 8 + 4 * self.res_ids.len() as u32);
        for id in &self.res_ids {
            put32(&mut out, *id);
        }
        let ns = |out: &mut Vec<u8>, ty: u16| {
            put16(out, ty);
            put16(out, 16);
            put32(out, 24);
            put32(out, 1);
            put32(out, u32::MAX);
            put32(out, prefix);
            put32(out, uri);
        };
        ns(&mut out, 0x0100);
        out.extend_from_slice(&self.body);
        ns(&mut out, 0x0101);
        let len = out.len() as u32;
        set32(&mut out, 4, len);
        out
    }
}

/// A manifest `<manifest package=...>` whose children are written by `children`, then closed.
pub fn manifest(package: &str, children: impl FnOnce(&mut Axml)) -> Vec<u8> {
    let mut x = Axml::new(&[
        ("name", ATTR_NAME),
        ("protectionLevel", ATTR_PROTECTION_LEVEL),
    ]);
    x.start("manifest", &[("package", AttrValue::Str(package))]);
    children(&mut x);
    x.end("manifest");
    x.finish()
}

/// A `resources.arsc` with package 0x7f, one type (`string`, id 1) and `configs` type chunks of
/// `entries` simple string entries each (entry `i` of every chunk is global string `i % strings`).
/// Every chunk is the same non-default configuration (`v1`), so a lookup that walks the chunks looking
/// for the default one reads all of them.
pub fn arsc(strings: &[&str], configs: usize, entries: usize) -> Vec<u8> {
    let mut out = Vec::new();
    put16(&mut out, 0x0002);
    put16(&mut out, 12);
    put32(&mut out, 0);
    put32(&mut out, 1);
    out.extend_from_slice(&string_pool(strings));
    let pkg_start = out.len();
    let mut pkg = Vec::new();
    put16(&mut pkg, 0x0200);
    put16(&mut pkg, 288);
    put32(&mut pkg, 0);
    put32(&mut pkg, 0x7f);
    let mut name = [0u8; 256];
    for (i, c) in "com.example.hostile".encode_utf16().enumerate() {
        name[i * 2..i * 2 + 2].copy_from_slice(&c.to_le_bytes());
    }
    pkg.extend_from_slice(&name);
    put32(&mut pkg, 0); // typeStrings, set below
    put32(&mut pkg, 1);
    put32(&mut pkg, 0); // keyStrings, set below
    put32(&mut pkg, 1);
    put32(&mut pkg, 0); // typeIdOffset
    let type_pool = string_pool(&["string"]);
    let key_pool = string_pool(&["k"]);
    let tso = pkg.len() as u32;
    set32(&mut pkg, 268, tso);
    pkg.extend_from_slice(&type_pool);
    let kso = pkg.len() as u32;
    set32(&mut pkg, 276, kso);
    pkg.extend_from_slice(&key_pool);
    for _ in 0..configs {
        let hs = 20 + 64;
        let entries_start = hs + 4 * entries;
        let mut t = Vec::new();
        put16(&mut t, 0x0201);
        put16(&mut t, hs as u16);
        put32(&mut t, (entries_start + 16 * entries) as u32);
        t.push(1); // type id
        t.push(0); // flags
        put16(&mut t, 0);
        put32(&mut t, entries as u32);
        put32(&mut t, entries_start as u32);
        let mut config = [0u8; 64];
        config[..4].copy_from_slice(&64u32.to_le_bytes());
        // sdkVersion 1 at offset 24 of the config: a non-default configuration.
        config[24..26].copy_from_slice(&1u16.to_le_bytes());
        t.extend_from_slice(&config);
        for i in 0..entries {
            put32(&mut t, (16 * i) as u32);
        }
        for i in 0..entries {
            put16(&mut t, 8);
            put16(&mut t, 0);
            put32(&mut t, 0);
            put16(&mut t, 8);
            t.push(0);
            t.push(0x03);
            put32(&mut t, (i % strings.len().max(1)) as u32);
        }
        pkg.extend_from_slice(&t);
    }
    let plen = pkg.len() as u32;
    set32(&mut pkg, 4, plen);
    out.extend_from_slice(&pkg);
    let _ = pkg_start;
    let len = out.len() as u32;
    set32(&mut out, 4, len);
    out
}

/// A DEX file holding `strings` (each written once, with its true length) and `ids` string ids, id `i`
/// pointing at string `ids[i]`; no types or classes. Repeated indices in `ids` are the hostile shape.
pub fn dex(strings: &[&[u8]], ids: &[usize]) -> Vec<u8> {
    let string_ids_off = 0x70usize;
    let data_off = string_ids_off + 4 * ids.len();
    let mut out = vec![0u8; data_off];
    out[..8].copy_from_slice(b"dex\n035\0");
    let mut offsets = Vec::new();
    for s in strings {
        offsets.push(out.len() as u32);
        let mut n = s.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u32;
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(s);
        out.push(0);
    }
    for (i, &s) in ids.iter().enumerate() {
        let at = string_ids_off + 4 * i;
        set32(&mut out, at, offsets[s]);
    }
    let len = out.len() as u32;
    set32(&mut out, 32, len);
    set32(&mut out, 36, 0x70);
    set32(&mut out, 40, 0x1234_5678);
    set32(&mut out, 56, ids.len() as u32);
    set32(&mut out, 60, string_ids_off as u32);
    out
}

/// A manifest with one `<uses-permission>`, for APKs whose hostile part is elsewhere.
pub fn plain_manifest() -> Vec<u8> {
    manifest("com.example.hostile", |x| {
        x.start(
            "uses-permission",
            &[("name", AttrValue::Str("android.permission.INTERNET"))],
        );
        x.end("uses-permission");
    })
}

/// Item 11, DEX strings: `ids` string ids all pointing at one string of `len` bytes. Read to the next
/// NUL per id (or per class), the run is rescanned `ids` times; with `--include-strings` it is also
/// written `ids` times.
pub fn dex_string_rescan(ids: usize, len: usize) -> Vec<u8> {
    let s = vec![b'a'; len];
    let dex = dex(&[&s], &vec![0; ids]);
    zip(&[
        ("AndroidManifest.xml", &plain_manifest()),
        ("classes.dex", &dex),
    ])
}

/// Item 11, endpoint scanner: one DEX string of `urls` back-to-back URLs with no terminator between
/// them (`http://a.co/http://a.co/...`): every `://` used to search to the end of the string, and to
/// copy it.
pub fn endpoint_rescan(urls: usize) -> Vec<u8> {
    let s = b"http://a.co/".repeat(urls);
    let dex = dex(&[&s], &[0]);
    zip(&[
        ("AndroidManifest.xml", &plain_manifest()),
        ("classes.dex", &dex),
    ])
}

/// Many distinct endpoints (`h<i>.example.com`), one DEX string each: more than the report keeps.
pub fn endpoint_flood(hosts: usize) -> Vec<u8> {
    let names: Vec<Vec<u8>> = (0..hosts)
        .map(|i| format!("h{i}.example.com").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
    let ids: Vec<usize> = (0..hosts).collect();
    let dex = dex(&refs, &ids);
    zip(&[
        ("AndroidManifest.xml", &plain_manifest()),
        ("classes.dex", &dex),
    ])
}

/// Item 11, resource lookups: `refs` `<uses-permission android:name="@0x7f010000">` elements, and a
/// resources.arsc whose type has `configs` non-default configuration chunks: each lookup used to walk
/// (and decode) every chunk.
pub fn resource_walk(configs: usize, refs: usize) -> Vec<u8> {
    let m = manifest("com.example.hostile", |x| {
        for _ in 0..refs {
            x.start("uses-permission", &[("name", AttrValue::Ref(0x7f01_0000))]);
            x.end("uses-permission");
        }
    });
    let table = arsc(&["android.permission.CAMERA"], configs, 1);
    zip(&[("AndroidManifest.xml", &m), ("resources.arsc", &table)])
}

/// Item 11, permission de-duplication: `n` distinct `<uses-permission>` and `n` distinct
/// `<permission>` elements (a linear scan per element is quadratic).
pub fn permission_flood(n: usize) -> Vec<u8> {
    let m = manifest("com.example.hostile", |x| {
        for i in 0..n {
            let name = format!("p.{i:x}");
            x.start("permission", &[("name", AttrValue::Str(&name))]);
            x.end("permission");
            x.start("uses-permission", &[("name", AttrValue::Str(&name))]);
            x.end("uses-permission");
        }
    });
    zip(&[("AndroidManifest.xml", &m)])
}

/// Every hostile APK at the size the regression tests use, by name (for the fuzz corpus and the
/// benchmark).
pub fn all() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("dex_string_rescan", dex_string_rescan(20_000, 20_000)),
        ("endpoint_rescan", endpoint_rescan(100_000)),
        ("endpoint_flood", endpoint_flood(12_000)),
        ("resource_walk", resource_walk(4_000, 4_000)),
        ("permission_flood", permission_flood(40_000)),
    ]
}
