//! Hand-built resource tables: compact entries (Android 14+; aapt 1 cannot
//! emit them), sparse and 16-bit offsets, reference chains and cycles.

use android_binxml::{ResourceTable, Value};

fn le16(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}
fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

fn pad4(v: &mut Vec<u8>) {
    while v.len() & 3 != 0 {
        v.push(0);
    }
}

/// A chunk: 8-byte header + rest of header + body (sizes filled in).
fn chunk(ty: u16, header_rest: &[u8], body: &[u8]) -> Vec<u8> {
    let hs = 8 + header_rest.len();
    let mut v = Vec::new();
    v.extend(le16(ty));
    v.extend(le16(hs as u16));
    v.extend(le32((hs + body.len()) as u32));
    v.extend(header_rest);
    v.extend(body);
    v
}

fn pool_utf8(strings: &[&str]) -> Vec<u8> {
    let mut offsets = Vec::new();
    let mut data = Vec::new();
    for s in strings {
        offsets.extend(le32(data.len() as u32));
        data.push(s.chars().count() as u8);
        data.push(s.len() as u8);
        data.extend(s.as_bytes());
        data.push(0);
    }
    pad4(&mut data);
    let mut h = Vec::new();
    h.extend(le32(strings.len() as u32));
    h.extend(le32(0));
    h.extend(le32(0x100));
    h.extend(le32(28 + offsets.len() as u32));
    h.extend(le32(0));
    let mut body = offsets;
    body.extend(data);
    chunk(0x0001, &h, &body)
}

fn config(lang: &[u8; 2]) -> Vec<u8> {
    let mut c = vec![0u8; 64];
    c[..4].copy_from_slice(&le32(64));
    c[8..10].copy_from_slice(lang);
    c
}

const NONE: &[u8; 2] = &[0, 0];

/// Entry encodings.
fn compact(key: u16, data_type: u8, data: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(le16(key));
    v.extend(le16(0x0008 | (u16::from(data_type) << 8)));
    v.extend(le32(data));
    v
}
fn full(key: u32, data_type: u8, data: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(le16(8));
    v.extend(le16(0));
    v.extend(le32(key));
    v.extend(le16(8));
    v.push(0);
    v.push(data_type);
    v.extend(le32(data));
    v
}

enum Layout {
    Plain,
    Offset16,
    Sparse,
}

/// A type chunk; `entries[i] = None` means no entry.
fn type_chunk(id: u8, lang: &[u8; 2], layout: Layout, entries: &[Option<Vec<u8>>]) -> Vec<u8> {
    let mut offs = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let mut count = 0u32;
    let flags = match layout {
        Layout::Plain => 0,
        Layout::Offset16 => 2,
        Layout::Sparse => 1,
    };
    for (i, e) in entries.iter().enumerate() {
        let at = data.len() as u32;
        match (&layout, e) {
            (Layout::Plain, None) => {
                offs.extend(le32(u32::MAX));
                count += 1;
            }
            (Layout::Offset16, None) => {
                offs.extend(le16(0xffff));
                count += 1;
            }
            (Layout::Sparse, None) => {}
            (Layout::Plain, Some(_)) => {
                offs.extend(le32(at));
                count += 1;
            }
            (Layout::Offset16, Some(_)) => {
                offs.extend(le16((at / 4) as u16));
                count += 1;
            }
            (Layout::Sparse, Some(_)) => {
                offs.extend(le16(i as u16));
                offs.extend(le16((at / 4) as u16));
                count += 1;
            }
        }
        if let Some(e) = e {
            data.extend(e);
        }
    }
    pad4(&mut offs);
    let cfg = config(lang);
    let hs = 20 + cfg.len();
    let mut h = vec![id, flags, 0, 0];
    h.extend(le32(count));
    h.extend(le32((hs + offs.len()) as u32));
    h.extend(&cfg);
    let mut body = offs;
    body.extend(data);
    chunk(0x0201, &h, &body)
}

fn package(types: &[Vec<u8>]) -> Vec<u8> {
    let tpool = pool_utf8(&["string", "bool"]);
    let kpool = pool_utf8(&["app_name", "flag", "other", "self", "a", "b", "next"]);
    let mut h = Vec::new();
    h.extend(le32(0x7f));
    let mut name = [0u8; 256];
    name[0] = b'p';
    h.extend(name);
    h.extend(le32(288));
    h.extend(le32(2));
    h.extend(le32(288 + tpool.len() as u32));
    h.extend(le32(7));
    h.extend(le32(0));
    let mut body = tpool;
    body.extend(kpool);
    for t in types {
        body.extend(t);
    }
    chunk(0x0200, &h, &body)
}

fn table(types: &[Vec<u8>]) -> Vec<u8> {
    let mut body = pool_utf8(&["Compact label", "Sparse value", "Étiquette"]);
    body.extend(package(types));
    chunk(0x0002, &le32(1), &body)
}

fn sample() -> Vec<u8> {
    table(&[
        // string: default config, 16-bit offsets, compact entry 0; entry 1 absent.
        type_chunk(
            1,
            NONE,
            Layout::Offset16,
            &[Some(compact(0, 0x03, 0)), None],
        ),
        // string: fr, sparse: entries 0 and 1 (compact).
        type_chunk(
            1,
            b"fr",
            Layout::Sparse,
            &[Some(compact(0, 0x03, 2)), Some(compact(2, 0x03, 1))],
        ),
        // bool: plain offsets.
        type_chunk(
            2,
            NONE,
            Layout::Plain,
            &[
                Some(full(1, 0x12, u32::MAX)),
                Some(compact(6, 0x01, 0x7f01_0000)),
                Some(compact(3, 0x01, 0x7f02_0002)),
                Some(full(4, 0x01, 0x7f02_0004)),
                Some(full(5, 0x01, 0x7f02_0003)),
                Some(full(6, 0x01, 0x7f02_0001)),
                Some(full(6, 0x01, 0x7f02_0005)),
                Some(full(6, 0x01, 0x7f02_0006)),
                Some(full(6, 0x01, 0x7f02_0007)),
                Some(full(6, 0x01, 0x7f02_0008)),
                Some(full(6, 0x01, 0x7f02_0009)),
                Some(full(6, 0x01, 0x7f02_000a)),
                Some(full(6, 0x01, 0x7f02_000b)),
                None,
            ],
        ),
    ])
}

#[test]
fn compact_sparse_offset16_entries_resolve() {
    let t = ResourceTable::parse(&sample()).expect("parse");
    assert!(t.anomalies().is_empty(), "{:?}", t.anomalies());
    assert_eq!(t.packages(), vec![(0x7f, "p")]);

    let label = t.resolve(0x7f01_0000).expect("label");
    assert_eq!(label.value, Value::String("Compact label".into()));
    assert!(label.config.is_default());
    assert_eq!(t.name_of(0x7f01_0000), Some(("string", "app_name")));

    // Only in values-fr (sparse + compact): fallback to the first config that has it.
    let other = t.resolve(0x7f01_0001).expect("fr only");
    assert_eq!(other.value, Value::String("Sparse value".into()));
    assert_eq!(other.config.language(), "fr");
    assert_eq!(t.name_of(0x7f01_0001), Some(("string", "other")));

    let per: Vec<(String, Value)> = t
        .values_of(0x7f01_0000)
        .into_iter()
        .map(|(c, v)| (c.describe(), v.value))
        .collect();
    assert_eq!(
        per,
        vec![
            ("default".into(), Value::String("Compact label".into())),
            ("fr".into(), Value::String("Étiquette".into())),
        ]
    );

    assert_eq!(
        t.resolve(0x7f02_0000).map(|v| v.value),
        Some(Value::Bool(true))
    );
    assert_eq!(t.name_of(0x7f02_0000), Some(("bool", "flag")));
    // Compact reference chain.
    let chained = t.resolve(0x7f02_0001).expect("chain");
    assert_eq!(chained.id, 0x7f01_0000);
    assert_eq!(chained.value, Value::String("Compact label".into()));
    assert_eq!(t.resolve(0x7f02_0005).map(|v| v.id), Some(0x7f01_0000));
}

#[test]
fn cycles_and_long_chains_are_bounded() {
    let t = ResourceTable::parse(&sample()).expect("parse");
    assert!(t.resolve(0x7f02_0002).is_none(), "self reference");
    assert!(t.resolve(0x7f02_0003).is_none(), "2-cycle");
    // 0x7f02000c -> 0b -> ... -> 05 -> 01 -> 0x7f010000: 10 hops > 8.
    assert!(t.resolve(0x7f02_000c).is_none());
    assert!(t.resolve(0x7f02_0006).is_some());
    // Absent ids.
    assert!(t.resolve(0x7f02_000d).is_none());
    assert!(t.resolve(0x7f02_0fff).is_none());
    assert!(t.resolve(0x7f09_0000).is_none());
    assert!(t.name_of(0x7f09_0000).is_none());
}

#[test]
fn tampered_entry_count_is_bounded() {
    let mut d = sample();
    // First type chunk header: find it by its type and patch entryCount.
    let pos = d
        .windows(4)
        .position(|w| w == [0x01, 0x02, 84, 0])
        .expect("type chunk");
    d[pos + 12..pos + 16].copy_from_slice(&le32(0x7fff_ffff));
    let t = ResourceTable::parse(&d).expect("parse");
    assert!(t
        .anomalies()
        .iter()
        .any(|a| a.code == "entry_count_exceeds_chunk"));
    assert_eq!(
        t.resolve(0x7f01_0000).map(|v| v.value),
        Some(Value::String("Compact label".into()))
    );
    for n in 0..d.len() {
        if let Ok(t) = ResourceTable::parse(&d[..n]) {
            for id in [0x7f01_0000, 0x7f01_0001, 0x7f02_0001, 0x7f02_000c] {
                let _ = t.resolve(id);
                let _ = t.values_of(id);
            }
        }
    }
}
