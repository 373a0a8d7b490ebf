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
        push_uleb128(&mut out, utf16_units(s));
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

/// The number of UTF-16 code units of MUTF-8 bytes: every byte that is not a continuation byte starts one.
pub(crate) fn utf16_units(s: &[u8]) -> u32 {
    s.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u32
}

pub(crate) fn push_uleb128(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A DEX whose `n` string ids all point at one string of `run` bytes (with its true length): the shape
/// of the quadratic-time hostile input. `classes` class definitions all name the first string.
pub(crate) fn overlapping_dex(n: u32, run: usize, classes: u32) -> Vec<u8> {
    let string_ids_off = HEADER_SIZE as u32;
    let type_ids_off = string_ids_off + 4 * n;
    let class_defs_off = type_ids_off + 4;
    let data_off = class_defs_off + 32 * classes;
    let mut out = vec![0u8; data_off as usize];
    out[..8].copy_from_slice(b"dex\n035\0");
    // One string_data_item: a 5-byte ULEB128 length, then the run.
    let item = out.len();
    let len = run as u32;
    out.extend_from_slice(&[
        (len & 0x7f) as u8 | 0x80,
        ((len >> 7) & 0x7f) as u8 | 0x80,
        ((len >> 14) & 0x7f) as u8 | 0x80,
        ((len >> 21) & 0x7f) as u8 | 0x80,
        (len >> 28) as u8,
    ]);
    out.extend(std::iter::repeat_n(b'a', run));
    out.push(0);
    for i in 0..n {
        let off = item as u32;
        let p = string_ids_off as usize + 4 * i as usize;
        out[p..p + 4].copy_from_slice(&off.to_le_bytes());
    }
    for c in 0..classes as usize {
        let p = class_defs_off as usize + 32 * c;
        out[p..p + 4].copy_from_slice(&0u32.to_le_bytes());
    }
    let put =
        |out: &mut Vec<u8>, off: usize, v: u32| out[off..off + 4].copy_from_slice(&v.to_le_bytes());
    let total = out.len() as u32;
    put(&mut out, 32, total);
    put(&mut out, 36, HEADER_SIZE as u32);
    put(&mut out, 40, ENDIAN_CONSTANT);
    put(&mut out, 56, n);
    put(&mut out, 60, string_ids_off);
    put(&mut out, 64, 1);
    put(&mut out, 68, type_ids_off);
    put(&mut out, 96, classes);
    put(&mut out, 100, class_defs_off);
    out
}

#[test]
fn strings_are_read_by_declared_length() {
    let mut dex = build_dex(&["La;"], &[b"hello"]);
    let f = DexFile::parse(&dex).unwrap();
    let idx = (0..f.string_count())
        .find(|&i| f.string_bytes(i).unwrap() == b"hello")
        .unwrap();
    // Overwrite the NUL after "hello" and the following bytes: the declared length (5) bounds the
    // search, so the string is reported malformed instead of running on to some later NUL.
    let id_off = HEADER_SIZE + idx as usize * 4;
    let data_off = u32::from_le_bytes(dex[id_off..id_off + 4].try_into().unwrap()) as usize;
    for b in &mut dex[data_off + 6..] {
        *b = b'x';
    }
    dex.extend(std::iter::repeat_n(b'x', 100));
    dex.push(0);
    let f = DexFile::parse(&dex).unwrap();
    assert!(matches!(
        f.string_bytes(idx),
        Err(DexError::BadString { reason, .. }) if reason.contains("declared length")
    ));
}

#[test]
fn overlapping_strings_stay_within_the_file_budget() {
    // 2,000 ids over a 2,000-byte run: reading each to its end would scan ~2 MB (quadratic);
    // the budget stops after about the file's length and says so once.
    let dex = overlapping_dex(2_000, 2_000, 0);
    let f = DexFile::parse(&dex).unwrap();
    let items: Vec<_> = f.string_table().collect();
    let ok_bytes: usize = items
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|s| s.len())
        .sum();
    assert!(ok_bytes <= dex.len(), "{ok_bytes} > {}", dex.len());
    assert!(
        matches!(items.last(), Some(Err(DexError::WorkLimit { .. }))),
        "{:?}",
        items.last()
    );
    assert_eq!(
        items
            .iter()
            .filter(|r| matches!(r, Err(DexError::WorkLimit { .. })))
            .count(),
        1
    );
    assert!(items.len() < 2_000);
}

#[test]
fn class_defs_naming_one_huge_descriptor_stay_within_budget() {
    let dex = overlapping_dex(1, 50_000, 500);
    let f = DexFile::parse(&dex).unwrap();
    let items: Vec<_> = f.class_descriptors().collect();
    let ok: usize = items.iter().filter(|r| r.is_ok()).count();
    // The descriptor is most of the file, so only one fits in the budget.
    assert!(ok <= dex.len() / 50_000 + 1, "{ok} descriptors read");
    assert!(matches!(
        items.last(),
        Some(Err(DexError::WorkLimit { .. }))
    ));
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
