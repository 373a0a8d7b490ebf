use super::*;

/// Builds a minimal, valid DEX with the given class descriptors and extra strings.
pub(crate) fn build_dex(classes: &[&str], extra_strings: &[&[u8]]) -> Vec<u8> {
    let mut strings: Vec<Vec<u8>> = classes.iter().map(|c| c.as_bytes().to_vec()).collect();
    strings.extend(extra_strings.iter().map(|s| s.to_vec()));
    strings.sort();
    strings.dedup();
    let n_str = strings.len() as u32;
    let n_cls = classes.len() as u32;
    let string_ids_off = HEADER_SIZE as u32;
    let type_ids_off = string_ids_off + 4 * n_str;
    let class_defs_off = type_ids_off + 4 * n_cls;
    let data_off = class_defs_off + 32 * n_cls;
    let mut out = vec![0u8; data_off as usize];
    out[..8].copy_from_slice(b"dex\n035\0");
    let mut offs = Vec::new();
    for s in &strings {
        offs.push(out.len() as u32);
        out.push(s.len().min(127) as u8);
        out.extend_from_slice(s);
        out.push(0);
    }
    for (i, off) in offs.iter().enumerate() {
        let p = string_ids_off as usize + 4 * i;
        out[p..p + 4].copy_from_slice(&off.to_le_bytes());
    }
    for (i, c) in classes.iter().enumerate() {
        let sidx = strings.iter().position(|s| s == c.as_bytes()).unwrap() as u32;
        let p = type_ids_off as usize + 4 * i;
        out[p..p + 4].copy_from_slice(&sidx.to_le_bytes());
        let p = class_defs_off as usize + 32 * i;
        out[p..p + 4].copy_from_slice(&(i as u32).to_le_bytes());
    }
    let len = out.len() as u32;
    let put =
        |out: &mut Vec<u8>, off: usize, v: u32| out[off..off + 4].copy_from_slice(&v.to_le_bytes());
    put(&mut out, 32, len);
    put(&mut out, 36, HEADER_SIZE as u32);
    put(&mut out, 40, ENDIAN_CONSTANT);
    put(&mut out, 56, n_str);
    put(&mut out, 60, string_ids_off);
    put(&mut out, 64, n_cls);
    put(&mut out, 68, type_ids_off);
    put(&mut out, 96, n_cls);
    put(&mut out, 100, class_defs_off);
    let sum = adler32(&out[12..]);
    put(&mut out, 8, sum);
    out
}

#[test]
fn reads_classes_and_strings() {
    let dex = build_dex(
        &["Lcom/example/A;", "Lcom/example/B$C;"],
        &[b"https://x.test/"],
    );
    let f = DexFile::parse(&dex).unwrap();
    assert!(f.anomalies().is_empty(), "{:?}", f.anomalies());
    let names: Vec<_> = f
        .class_descriptors()
        .map(|d| descriptor_to_java(d.unwrap()).unwrap())
        .collect();
    assert_eq!(names, ["com.example.A", "com.example.B$C"]);
    let strings: Vec<_> = f.strings().map(|s| s.unwrap().into_owned()).collect();
    assert!(strings.contains(&"https://x.test/".to_string()));
}

#[test]
fn checksum_mismatch_is_an_anomaly() {
    let mut dex = build_dex(&["La;"], &[]);
    dex[8] ^= 1;
    let f = DexFile::parse(&dex).unwrap();
    assert_eq!(f.anomalies()[0].code, AnomalyCode::ChecksumMismatch);
}

#[test]
fn huge_table_is_rejected_before_allocation() {
    let mut dex = build_dex(&["La;"], &[]);
    dex[96..100].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        DexFile::parse(&dex),
        Err(DexError::TableOutOfBounds {
            table: "class_defs",
            ..
        })
    ));
}

#[test]
fn mutf8_decodes_nul_and_surrogates() {
    assert_eq!(decode_mutf8(b"a\xC0\x80b"), "a\u{0}b");
    // U+1F600 as two 3-byte surrogates.
    assert_eq!(decode_mutf8(b"\xED\xA0\xBD\xED\xB8\x80"), "\u{1F600}");
    assert_eq!(decode_mutf8("é".as_bytes()), "é");
    assert_eq!(decode_mutf8(b"\xFF"), "\u{FFFD}");
}

#[test]
fn descriptors() {
    assert_eq!(descriptor_to_java(b"La/b/C;").as_deref(), Some("a.b.C"));
    assert_eq!(descriptor_to_java(b"I"), None);
    assert_eq!(descriptor_to_java(b"[La;"), None);
    assert_eq!(descriptor_to_java(b"L;"), None);
}

#[test]
fn truncation_never_panics() {
    let dex = build_dex(&["Lcom/example/A;", "Lb;"], &[b"hello", "ünï".as_bytes()]);
    for cut in 0..dex.len() {
        if let Ok(f) = DexFile::parse(&dex[..cut]) {
            for d in f.class_descriptors() {
                let _ = d;
            }
            for s in f.strings() {
                let _ = s;
            }
        }
    }
}

proptest::proptest! {
    #[test]
    fn byte_flips_never_panic(flips in proptest::collection::vec((0usize..400, proptest::num::u8::ANY), 1..8)) {
        let mut dex = build_dex(&["Lcom/example/A;", "Lb;"], &[b"hello", b"\xC0\x80x"]);
        for (pos, val) in flips {
            let n = dex.len();
            dex[pos % n] = val;
        }
        if let Ok(f) = DexFile::parse(&dex) {
            let _ = f.class_descriptors().count();
            let _ = f.strings().count();
            for i in 0..f.type_count().min(100) { let _ = f.type_descriptor(i); }
        }
    }
}
