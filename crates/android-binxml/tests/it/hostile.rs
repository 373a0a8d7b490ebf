//! Byte-level mutations of a real manifest (hostile-APK tricks).

use std::sync::OnceLock;

use android_binxml::{ResourceTable, XmlDocument};
use proptest::prelude::*;

use crate::util::build;

struct Real {
    manifest: Vec<u8>,
    arsc: Vec<u8>,
}

fn real() -> &'static Real {
    static R: OnceLock<Real> = OnceLock::new();
    R.get_or_init(|| {
        let b = build(false);
        Real {
            manifest: b.entry("AndroidManifest.xml"),
            arsc: b.entry("resources.arsc"),
        }
    })
}

type Sig = Vec<(String, usize, Vec<(String, String)>)>;

fn sig(doc: &XmlDocument) -> Sig {
    doc.elements
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                e.depth,
                e.attributes
                    .iter()
                    .map(|a| (a.name.clone(), a.value.as_display()))
                    .collect(),
            )
        })
        .collect()
}

fn rd16(d: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([d[o], d[o + 1]])
}
fn rd32(d: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]])
}
fn wr32(d: &mut [u8], o: usize, v: u32) {
    d[o..o + 4].copy_from_slice(&v.to_le_bytes());
}

/// (offset, type, size) of the top-level chunks after the file header.
fn chunks(d: &[u8]) -> Vec<(usize, u16, usize)> {
    let mut out = Vec::new();
    let mut p = 8;
    while p + 8 <= d.len() {
        let size = rd32(d, p + 4) as usize;
        out.push((p, rd16(d, p), size));
        p += size;
    }
    out
}

fn original() -> (XmlDocument, Sig) {
    let doc = XmlDocument::parse(&real().manifest).expect("parse");
    let s = sig(&doc);
    (doc, s)
}

fn fix_file_size(d: &mut [u8]) {
    let n = d.len() as u32;
    wr32(d, 4, n);
}

#[test]
fn first_chunk_type_zero_is_accepted() {
    let (_, want) = original();
    let mut d = real().manifest.clone();
    d[0] = 0;
    d[1] = 0;
    let doc = XmlDocument::parse(&d).expect("parse");
    assert!(doc.has_anomaly("unexpected_file_type"));
    assert_eq!(sig(&doc), want);
}

#[test]
fn tampered_string_count_is_bounded() {
    let (orig, want) = original();
    let mut d = real().manifest.clone();
    let n = rd32(&d, 16);
    wr32(&mut d, 16, n + 17);
    let doc = XmlDocument::parse(&d).expect("parse");
    assert!(doc.has_anomaly("string_count_tampered"));
    assert_eq!(sig(&doc), want);
    assert_eq!(doc.strings, orig.strings);
    wr32(&mut d, 16, u32::MAX);
    let doc = XmlDocument::parse(&d).expect("parse");
    assert_eq!(sig(&doc), want);
}

/// Offsets (absolute) of UTF-16 strings 0..n in the manifest pool.
fn string_positions(d: &[u8], n: usize) -> Vec<usize> {
    let hs = rd16(d, 10) as usize;
    let strings_start = 8 + rd32(d, 8 + 20) as usize;
    (0..n)
        .map(|i| strings_start + rd32(d, 8 + hs + i * 4) as usize)
        .collect()
}

#[test]
fn garbage_attribute_names_resolve_by_resource_id() {
    let (orig, want) = original();
    let mut d = real().manifest.clone();
    let n = orig.resource_map.len();
    assert!(n > 5);
    for p in string_positions(&d, n) {
        let len = rd16(&d, p) as usize;
        for k in 0..len {
            d[p + 2 + 2 * k] = b'x';
            d[p + 3 + 2 * k] = 0;
        }
    }
    let doc = XmlDocument::parse(&d).expect("parse");
    assert!(doc.has_anomaly("attribute_name_mismatch"));
    assert_eq!(sig(&doc), want);
    let perm = doc
        .elements
        .iter()
        .find(|e| e.name == "uses-permission")
        .expect("perm");
    let a = perm.android_attr("name").expect("name by id");
    assert!(a.raw_name.starts_with("xx"));
    assert_eq!(a.value.as_str(), Some("android.permission.INTERNET"));
}

#[test]
fn empty_attribute_names_resolve_by_resource_id() {
    let (orig, want) = original();
    let mut d = real().manifest.clone();
    for p in string_positions(&d, orig.resource_map.len()) {
        d[p] = 0;
        d[p + 1] = 0;
        d[p + 2] = 0;
        d[p + 3] = 0;
    }
    let doc = XmlDocument::parse(&d).expect("parse");
    assert_eq!(sig(&doc), want);
    let app = doc
        .elements
        .iter()
        .find(|e| e.name == "application")
        .expect("app");
    let dbg = app.android_attr("debuggable").expect("debuggable");
    assert_eq!(dbg.raw_name, "");
    let orig_app = orig
        .elements
        .iter()
        .find(|e| e.name == "application")
        .expect("app");
    assert_eq!(
        Some(&dbg.value),
        orig_app.android_attr("debuggable").map(|a| &a.value)
    );
    assert!(dbg.value.as_reference().is_some());
}

#[test]
fn android_attr_without_resource_id_is_ignored() {
    let (orig, _) = original();
    let mut d = real().manifest.clone();
    let idx = orig
        .resource_map
        .iter()
        .position(|&r| r == 0x0101_0003)
        .expect("name id");
    let (rm_off, _, _) = chunks(&d)
        .into_iter()
        .find(|c| c.1 == 0x0180)
        .expect("res map");
    wr32(&mut d, rm_off + 8 + idx * 4, 0);
    let doc = XmlDocument::parse(&d).expect("parse");
    let perm = doc
        .elements
        .iter()
        .find(|e| e.name == "uses-permission")
        .expect("perm");
    assert!(perm.android_attr("name").is_none());
    assert!(perm
        .attributes
        .iter()
        .any(|a| a.name == "name" && a.resource_id.is_none()));
}

#[test]
fn unterminated_and_overlong_strings() {
    let (orig, want) = original();
    let n = orig.strings.len();
    let mut d = real().manifest.clone();
    let pos = string_positions(&d, n);
    // String 0 loses its terminator.
    let p0 = pos[0];
    let len0 = rd16(&d, p0) as usize;
    d[p0 + 2 + 2 * len0] = b'Z';
    // The last string claims to run far past the pool.
    let last = pos[n - 1];
    d[last] = 0xff;
    d[last + 1] = 0x7f;
    let doc = XmlDocument::parse(&d).expect("parse");
    assert!(doc.has_anomaly("string_not_terminated"));
    assert!(doc.has_anomaly("string_overrun"));
    assert_eq!(sig(&doc).len(), want.len());
    assert_eq!(doc.strings[0], orig.strings[0]);
}

#[test]
fn zero_size_end_namespace() {
    let (_, want) = original();
    let mut d = real().manifest.clone();
    let (off, _, size) = chunks(&d)
        .into_iter()
        .find(|c| c.1 == 0x0101)
        .expect("end ns");
    assert_eq!(size, 24);
    wr32(&mut d, off + 4, 0);
    let doc = XmlDocument::parse(&d).expect("parse");
    assert!(doc.has_anomaly("zero_size_end_namespace"));
    assert_eq!(sig(&doc), want);
}

#[test]
fn junk_between_chunks_and_unknown_chunk() {
    let (_, want) = original();
    let base = real().manifest.clone();
    let (rm_off, _, rm_size) = chunks(&base)
        .into_iter()
        .find(|c| c.1 == 0x0180)
        .expect("res map");
    let at = rm_off + rm_size;
    // Junk.
    let mut d = base.clone();
    d.splice(at..at, [0xde, 0xad, 0xbe, 0xef].repeat(3));
    fix_file_size(&mut d);
    let doc = XmlDocument::parse(&d).expect("parse");
    assert!(doc.has_anomaly("bad_chunk_size"));
    assert!(doc.has_anomaly("resynced"));
    assert_eq!(sig(&doc), want);
    // Unknown chunk type with a sane size.
    let mut d = base.clone();
    let mut chunk = vec![0x77, 0x07, 8, 0, 16, 0, 0, 0];
    chunk.extend_from_slice(&[0x41; 8]);
    d.splice(at..at, chunk);
    fix_file_size(&mut d);
    let doc = XmlDocument::parse(&d).expect("parse");
    assert!(doc.has_anomaly("unknown_chunk_type"));
    assert_eq!(sig(&doc), want);
}

#[test]
fn wrong_file_size() {
    let (_, want) = original();
    for delta in [1000i64, -100] {
        let mut d = real().manifest.clone();
        let v = (d.len() as i64 + delta) as u32;
        wr32(&mut d, 4, v);
        let doc = XmlDocument::parse(&d).expect("parse");
        assert!(doc.has_anomaly("file_size_mismatch"));
        assert_eq!(sig(&doc), want);
    }
}

#[test]
fn attribute_stride_24_is_honoured() {
    let (_, want) = original();
    let mut d = real().manifest.clone();
    let (off, _, size) = chunks(&d)
        .into_iter()
        .find(|&(o, t, _)| t == 0x0102 && rd16(&d, o + 16 + 12) == 1)
        .expect("element with one attribute");
    wr32(&mut d, off + 4, size as u32 + 4);
    d[off + 16 + 10] = 24;
    d.splice(off + size..off + size, [0xee; 4]);
    fix_file_size(&mut d);
    let doc = XmlDocument::parse(&d).expect("parse");
    assert!(doc.has_anomaly("unexpected_attribute_size"));
    assert_eq!(sig(&doc), want);
}

#[test]
fn too_short_and_no_pool_are_errors() {
    assert!(XmlDocument::parse(&[]).is_err());
    assert!(XmlDocument::parse(&[3, 0, 8, 0, 0, 0, 0]).is_err());
    assert!(XmlDocument::parse(&[3, 0, 8, 0, 8, 0, 0, 0]).is_err());
    assert!(ResourceTable::parse(&[2, 0, 12, 0]).is_err());
    assert!(ResourceTable::parse(&[2, 0, 12, 0, 12, 0, 0, 0, 0, 0, 0, 0]).is_err());
}

#[test]
fn truncation_at_every_offset_never_panics() {
    let m = &real().manifest;
    for n in 0..m.len() {
        let _ = XmlDocument::parse(&m[..n]);
    }
    let a = &real().arsc;
    for n in 0..a.len() {
        if let Ok(t) = ResourceTable::parse(&a[..n]) {
            for id in [0x7f02_0000u32, 0x7f02_0001, 0x7f03_0000, 0x7f07_0000] {
                let _ = t.resolve(id);
                let _ = t.values_of(id);
                let _ = t.name_of(id);
            }
        }
    }
}

fn exercise_table(d: &[u8]) {
    if let Ok(t) = ResourceTable::parse(d) {
        for ty in 1..10u32 {
            for e in 0..3u32 {
                let id = 0x7f00_0000 | (ty << 16) | e;
                let _ = t.resolve(id);
                let _ = t.values_of(id);
                let _ = t.name_of(id);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn manifest_byte_flips_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16)) {
        let mut d = real().manifest.clone();
        let n = d.len();
        for (i, v) in flips {
            d[i % n] = v;
        }
        let _ = XmlDocument::parse(&d);
    }

    #[test]
    fn arsc_byte_flips_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16)) {
        let mut d = real().arsc.clone();
        let n = d.len();
        for (i, v) in flips {
            d[i % n] = v;
        }
        exercise_table(&d);
    }

    #[test]
    fn random_bytes_never_panic(d in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = XmlDocument::parse(&d);
        exercise_table(&d);
    }
}
