//! Hand-crafted hostile archives.

use std::borrow::Cow;

use apk_zip::{AnomalyCode, Archive, Limits, ZipError, MAX_ANOMALIES};

use crate::util::{deflate, RawEntry, ZipBuilder};

fn parse(data: &[u8]) -> Archive<'_> {
    Archive::parse(data, Limits::default()).unwrap_or_else(|e| panic!("parse: {e}"))
}

fn codes(a: &Archive<'_>) -> Vec<AnomalyCode> {
    a.anomalies().iter().map(|x| x.code).collect()
}

fn read_codes(a: &Archive<'_>) -> Vec<AnomalyCode> {
    a.read_anomalies().iter().map(|x| x.code).collect()
}

#[test]
fn not_a_zip_and_tiny_inputs() {
    for data in [&b""[..], b"PK", b"hello world, definitely not a zip file"] {
        match Archive::parse(data, Limits::default()) {
            Err(ZipError::NoEndOfCentralDirectory { file_len, .. }) => {
                assert_eq!(file_len, data.len() as u64)
            }
            other => panic!("{other:?}"),
        }
    }
    let err = Archive::parse(b"hello world, definitely not a zip file", Limits::default())
        .expect_err("not zip");
    assert!(err.to_string().contains("not a ZIP/APK"), "{err}");
}

#[test]
fn empty_archive_is_ok() {
    let data = ZipBuilder::new(vec![]).build();
    assert_eq!(data.len(), 22);
    let a = parse(&data);
    assert!(a.entries().is_empty());
    assert_eq!(a.anomalies(), &[]);
}

#[test]
fn comment_with_fake_eocd_that_does_not_reach_eof() {
    let mut b = ZipBuilder::new(vec![RawEntry::stored("a", b"A")]);
    // A fake EOCD inside the comment whose own comment length (0) does not reach the end of file.
    let mut comment = b"junk".to_vec();
    comment.extend_from_slice(b"PK\x05\x06");
    comment.extend_from_slice(&[0u8; 18]);
    comment.extend_from_slice(b"more junk");
    b.comment = comment;
    let data = b.build();
    let a = parse(&data);
    assert_eq!(
        a.eocd_offset(),
        data.len() as u64 - 22 - b.comment.len() as u64
    );
    assert_eq!(codes(&a), vec![AnomalyCode::MultipleEocd]);
    assert_eq!(&*a.read(&a.entries()[0]).expect("read"), b"A");
}

#[test]
fn comment_with_fake_eocd_reaching_eof_is_chosen_and_flagged() {
    // Like apksig, the last EOCD whose comment reaches EOF wins; here it repeats the real fields.
    let b = ZipBuilder::new(vec![RawEntry::stored("a", b"A")]);
    let real = b.build();
    let eocd = real[real.len() - 22..].to_vec();
    let mut b2 = b.clone();
    let mut comment = b"xx".to_vec();
    comment.extend_from_slice(&eocd); // comment length 0: ends exactly at EOF
    b2.comment = comment;
    let data = b2.build();
    let a = parse(&data);
    assert_eq!(a.eocd_offset(), data.len() as u64 - 22);
    assert!(codes(&a).contains(&AnomalyCode::MultipleEocd));
}

#[test]
fn trailing_garbage_after_comment_uses_loose_match() {
    let mut data = ZipBuilder::new(vec![RawEntry::stored("a", b"A")]).build();
    data.extend_from_slice(b"trailing");
    let a = parse(&data);
    assert_eq!(codes(&a), vec![AnomalyCode::EocdCommentLengthMismatch]);
    assert_eq!(&*a.read(&a.entries()[0]).expect("read"), b"A");
}

#[test]
fn duplicate_names_keep_all_and_find_first() {
    let data = ZipBuilder::new(vec![
        RawEntry::deflated("classes.dex", b"dex\nFIRST"),
        RawEntry::stored("AndroidManifest.xml", b"m"),
        RawEntry::deflated("classes.dex", b"dex\nSECOND"),
    ])
    .build();
    let a = parse(&data);
    assert_eq!(a.entries().len(), 3);
    assert_eq!(
        &*a.read(a.find("classes.dex").expect("dex")).expect("read"),
        b"dex\nFIRST"
    );
    let all: Vec<_> = a
        .find_all("classes.dex")
        .map(|e| a.read(e).expect("read").into_owned())
        .collect();
    assert_eq!(all, vec![b"dex\nFIRST".to_vec(), b"dex\nSECOND".to_vec()]);
    assert_eq!(codes(&a), vec![AnomalyCode::DuplicateEntryName]);
    let an = &a.anomalies()[0];
    assert_eq!(an.offset, Some(a.entries()[2].cd_entry_offset));
    assert_eq!(an.code.as_str(), "duplicate_entry_name");
    assert!(an.detail.contains("classes.dex"), "{}", an.detail);
}

#[test]
fn suspicious_names() {
    let traversal = [
        "../evil.so",
        "/abs/path",
        "a\\b",
        "C:boot.ini",
        "lib/../../x",
        "..",
    ];
    let fine = ["a..b", "...", "lib/arm64-v8a/libx.so", "x/..y/z"];
    let mut entries: Vec<_> = traversal
        .iter()
        .chain(fine.iter())
        .map(|n| RawEntry::stored(n, b""))
        .collect();
    entries.push(RawEntry::stored("", b"").raw_name(b"with\nnewline"));
    entries.push(RawEntry::stored("", b"").raw_name(b"nul\0byte"));
    entries.push(RawEntry::stored("", b"").raw_name(b"cr\rhere"));
    entries.push(RawEntry::stored("", b"").raw_name(b""));
    entries.push(RawEntry::stored("", b"").raw_name(b"\xff\xfe not utf-8"));
    let data = ZipBuilder::new(entries).build();
    let a = parse(&data);
    assert_eq!(
        a.anomaly_count(AnomalyCode::PathTraversalName),
        traversal.len() as u64
    );
    assert_eq!(a.anomaly_count(AnomalyCode::ControlCharInName), 3);
    assert_eq!(a.anomaly_count(AnomalyCode::EmptyName), 1);
    assert_eq!(a.anomalies().len(), traversal.len() + 3 + 1);
    // Details escape control characters.
    assert!(a
        .anomalies()
        .iter()
        .all(|x| !x.detail.contains('\n') && !x.detail.contains('\0')));
    assert!(a.find_bytes(b"nul\0byte").is_some());
    assert_eq!(
        a.find_bytes(b"\xff\xfe not utf-8")
            .expect("raw")
            .name_lossy(),
        "\u{fffd}\u{fffd} not utf-8"
    );
}

#[test]
fn fake_encryption_flag_is_ignored() {
    let mut e = RawEntry::deflated("classes.dex", b"dex\n035 not encrypted at all");
    e.flags = 0x0001;
    let data = ZipBuilder::new(vec![e]).build();
    let a = parse(&data);
    assert_eq!(codes(&a), vec![AnomalyCode::FakeEncryptionFlag]);
    assert_eq!(
        &*a.read(&a.entries()[0]).expect("read"),
        b"dex\n035 not encrypted at all"
    );
    assert_eq!(read_codes(&a), vec![]);
}

#[test]
fn unknown_method_equal_sizes_is_stored() {
    let mut e = RawEntry::stored(
        "AndroidManifest.xml",
        b"\x03\x00\x08\x00plain manifest bytes",
    );
    e.method = 30208;
    let data = ZipBuilder::new(vec![e]).build();
    let a = parse(&data);
    assert_eq!(codes(&a), vec![AnomalyCode::UnknownCompressionMethod]);
    let body = a.read(&a.entries()[0]).expect("read");
    assert!(matches!(body, Cow::Borrowed(_)));
    assert_eq!(&*body, b"\x03\x00\x08\x00plain manifest bytes");
    let ra = a.read_anomalies();
    assert_eq!(ra.len(), 1);
    assert_eq!(ra[0].code, AnomalyCode::UnknownCompressionMethod);
    assert!(ra[0].detail.contains("stored"), "{}", ra[0].detail);
    // Reading again does not duplicate the read anomaly.
    a.read(&a.entries()[0]).expect("read");
    assert_eq!(a.read_anomalies().len(), 1);
}

#[test]
fn unknown_method_with_deflate_data_is_inflated() {
    let text = b"deflated under a bogus method ".repeat(20);
    let mut e = RawEntry::deflated("classes.dex", &text);
    e.method = 7261;
    let data = ZipBuilder::new(vec![e]).build();
    let a = parse(&data);
    assert_eq!(&*a.read(&a.entries()[0]).expect("read"), text.as_slice());
    assert!(a.read_anomalies()[0].detail.contains("deflate"));
}

#[test]
fn unknown_method_with_garbage_falls_back_to_stored() {
    let mut e = RawEntry::stored("x.bin", b"\xff\xff\xff garbage that is not deflate");
    e.method = 99;
    e.uncompressed_size = 5000; // sizes differ, deflate fails -> stored
    let data = ZipBuilder::new(vec![e]).build();
    let a = parse(&data);
    assert_eq!(
        &*a.read(&a.entries()[0]).expect("read"),
        b"\xff\xff\xff garbage that is not deflate"
    );
}

#[test]
fn local_header_mismatch_uses_central_directory() {
    let mut e = RawEntry::deflated("classes.dex", b"dex\nreal contents");
    e.lfh_method = Some(0);
    e.lfh_name = Some(b"classes.deP".to_vec());
    e.lfh_crc = Some(0xdead_beef);
    e.lfh_extra = vec![0xAB; 7]; // junk extra: only its length matters
    let data = ZipBuilder::new(vec![e]).build();
    let a = parse(&data);
    assert_eq!(codes(&a), vec![AnomalyCode::LocalHeaderMismatch]);
    let d = &a.anomalies()[0].detail;
    assert!(
        d.contains("name") && d.contains("method") && d.contains("crc32"),
        "{d}"
    );
    assert!(!d.contains("flags"), "{d}");
    assert_eq!(
        &*a.read(&a.entries()[0]).expect("read"),
        b"dex\nreal contents"
    );
}

#[test]
fn data_before_first_entry_janus() {
    let mut b = ZipBuilder::new(vec![RawEntry::stored("AndroidManifest.xml", b"m")]);
    b.prefix = b"dex\n035\0 a whole dex file would be here".to_vec();
    let data = b.build();
    let a = parse(&data);
    assert_eq!(codes(&a), vec![AnomalyCode::DataBeforeFirstEntry]);
    assert!(a.anomalies()[0].detail.contains("Janus"));
    assert_eq!(&*a.read(&a.entries()[0]).expect("read"), b"m");
}

#[test]
fn signing_block_gap_before_cd_is_not_flagged_but_gap_after_cd_is() {
    let mut b = ZipBuilder::new(vec![RawEntry::stored("a", b"A")]);
    b.before_cd = b"fake APK Sig Block 42 contents".to_vec();
    let a_data = b.build();
    assert_eq!(parse(&a_data).anomalies(), &[]);
    b.after_cd = b"garbage".to_vec();
    let data = b.build();
    let a = parse(&data);
    assert_eq!(codes(&a), vec![AnomalyCode::GarbageBeforeEocd]);
    assert_eq!(a.cd_offset() + a.cd_size() + 7, a.eocd_offset());
}

#[test]
fn multi_disk_fields_are_ignored() {
    let mut b = ZipBuilder::new(vec![RawEntry::stored("a", b"A")]);
    b.eocd_disk = 3;
    let data = b.build();
    let a = parse(&data);
    assert_eq!(codes(&a), vec![AnomalyCode::MultiDiskFields]);
    assert_eq!(&*a.read(&a.entries()[0]).expect("read"), b"A");
}

#[test]
fn eocd_count_mismatch_never_allocates_from_count() {
    for count in [0u16, 1, 0xFFFE] {
        let mut b = ZipBuilder::new(vec![
            RawEntry::stored("a", b"A"),
            RawEntry::stored("b", b"B"),
        ]);
        b.eocd_count = Some(count);
        let data = b.build();
        let a = parse(&data);
        assert_eq!(
            a.entries().len(),
            2,
            "all central-directory entries are parsed"
        );
        assert_eq!(codes(&a), vec![AnomalyCode::CdEntryCountMismatch]);
        assert_eq!(a.declared_entry_count(), u64::from(count));
    }
}

#[test]
fn overlapping_entries_sharing_a_local_header() {
    let mut second = RawEntry::stored("b", b"A");
    second.share_lfh_of = Some(0);
    let data = ZipBuilder::new(vec![RawEntry::stored("a", b"A"), second]).build();
    let a = parse(&data);
    assert!(
        codes(&a).contains(&AnomalyCode::OverlappingEntries),
        "{:?}",
        a.anomalies()
    );
    assert!(codes(&a).contains(&AnomalyCode::LocalHeaderMismatch));
    assert_eq!(&*a.read(&a.entries()[1]).expect("read"), b"A");
}

#[test]
fn crc_mismatch_is_recorded_not_fatal() {
    let mut e = RawEntry::deflated("a.txt", b"content");
    e.crc ^= 1;
    e.lfh_crc = Some(e.crc);
    let data = ZipBuilder::new(vec![e]).build();
    let a = parse(&data);
    assert_eq!(a.anomalies(), &[]);
    assert_eq!(&*a.read(&a.entries()[0]).expect("read"), b"content");
    assert_eq!(read_codes(&a), vec![AnomalyCode::CrcMismatch]);
}

#[test]
fn size_mismatches_are_recorded() {
    let mut stored = RawEntry::stored("s", b"stored");
    stored.uncompressed_size = 99;
    let mut deflated = RawEntry::deflated("d", b"deflated");
    deflated.uncompressed_size = 3;
    let data = ZipBuilder::new(vec![stored, deflated]).build();
    let a = parse(&data);
    assert_eq!(&*a.read(&a.entries()[0]).expect("read"), b"stored");
    assert_eq!(&*a.read(&a.entries()[1]).expect("read"), b"deflated");
    let rc = read_codes(&a);
    assert!(rc.contains(&AnomalyCode::StoredSizeMismatch), "{rc:?}");
    assert!(
        rc.contains(&AnomalyCode::UncompressedSizeMismatch),
        "{rc:?}"
    );
}

#[test]
fn data_descriptor_checked() {
    let mk = |good: bool| {
        let mut e = RawEntry::deflated("dd.txt", b"descriptor test");
        e.flags = 0x0008;
        let mut t = b"PK\x07\x08".to_vec();
        t.extend_from_slice(&(if good { e.crc } else { e.crc ^ 1 }).to_le_bytes());
        t.extend_from_slice(&(e.payload.len() as u32).to_le_bytes());
        t.extend_from_slice(&e.uncompressed_size.to_le_bytes());
        e.trailer = t;
        ZipBuilder::new(vec![e]).build()
    };
    let good = mk(true);
    let a = parse(&good);
    assert_eq!(a.anomalies(), &[]);
    assert!(a.entries()[0].has_data_descriptor());
    assert_eq!(&*a.read(&a.entries()[0]).expect("read"), b"descriptor test");
    let bad = mk(false);
    assert_eq!(
        codes(&parse(&bad)),
        vec![AnomalyCode::DataDescriptorMismatch]
    );
}

#[test]
fn hand_built_zip64() {
    let mut b = ZipBuilder::new(vec![
        RawEntry::deflated("classes.dex", &b"dex\n".repeat(100)),
        RawEntry::stored("s.txt", b"stored"),
    ]);
    b.zip64 = true;
    let data = b.build();
    let a = parse(&data);
    assert!(a.zip64_eocd_offset().is_some());
    assert_eq!(a.declared_entry_count(), 2);
    assert_eq!(
        &*a.read(a.find("classes.dex").expect("dex")).expect("read"),
        b"dex\n".repeat(100).as_slice()
    );
    assert_eq!(
        &*a.read(a.find("s.txt").expect("s")).expect("read"),
        b"stored"
    );
    assert_eq!(a.anomalies(), &[]);
}

#[test]
fn missing_zip64_extra_is_flagged() {
    let mut b = ZipBuilder::new(vec![RawEntry::stored("s.txt", b"stored")]);
    b.zip64 = true;
    let mut data = b.build();
    // Rename the ZIP64 extra's header id (0x0001) in the central directory to an unknown id.
    let a = parse(&data);
    let cd = a.entries()[0].cd_entry_offset as usize;
    drop(a);
    let extra = cd + 46 + 5;
    assert_eq!(&data[extra..extra + 2], &[1, 0]);
    data[extra] = 0x99;
    match Archive::parse(&data, Limits::default()) {
        Ok(a) => {
            assert!(codes(&a).contains(&AnomalyCode::ExtraFieldMalformed));
            assert!(a.read(&a.entries()[0]).is_err());
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn bad_local_header_is_an_anomaly_and_a_read_error() {
    let mut data = ZipBuilder::new(vec![RawEntry::stored("a", b"A")]).build();
    data[0] = b'X';
    let a = parse(&data);
    assert!(codes(&a).contains(&AnomalyCode::LocalHeaderInvalid));
    let err = a.read(&a.entries()[0]).expect_err("bad lfh");
    assert!(
        matches!(err, ZipError::BadLocalHeader { offset: 0, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("offset 0"), "{err}");
}

#[test]
fn truncated_central_directory_is_an_error() {
    let b = ZipBuilder::new(vec![
        RawEntry::stored("a", b"A"),
        RawEntry::stored("bbbb", b"B"),
    ]);
    let mut data = b.build();
    // Shrink the declared CD size by 3 bytes so the last entry's name overruns it.
    let n = data.len();
    let size = u32::from_le_bytes(data[n - 10..n - 6].try_into().expect("4 bytes"));
    data[n - 10..n - 6].copy_from_slice(&(size - 3).to_le_bytes());
    match Archive::parse(&data, Limits::default()) {
        Err(ZipError::Truncated { what, .. }) => assert_eq!(what, "central directory entry"),
        other => panic!("{other:?}"),
    }
    // A CD claimed to extend past the EOCD is rejected.
    data[n - 10..n - 6].copy_from_slice(&(size + 100).to_le_bytes());
    assert!(matches!(
        Archive::parse(&data, Limits::default()),
        Err(ZipError::BadCentralDirectory { .. })
    ));
}

#[test]
fn too_many_entries() {
    let entries = (0..5)
        .map(|i| RawEntry::stored(&format!("f{i}"), b""))
        .collect();
    let data = ZipBuilder::new(entries).build();
    let limits = Limits {
        max_entries: 4,
        ..Limits::default()
    };
    let err = Archive::parse(&data, limits).expect_err("limit");
    assert_eq!(err, ZipError::TooManyEntries { limit: 4 });
    assert!(err.to_string().contains("--max-entries"));
    assert!(Archive::parse(
        &data,
        Limits {
            max_entries: 5,
            ..limits
        }
    )
    .is_ok());
}

#[test]
fn anomaly_list_is_bounded() {
    let n = MAX_ANOMALIES + 500;
    let entries = (0..n).map(|_| RawEntry::stored("../same", b"")).collect();
    let data = ZipBuilder::new(entries).build();
    let a = parse(&data);
    assert_eq!(a.anomalies().len(), MAX_ANOMALIES);
    assert_eq!(a.anomaly_count(AnomalyCode::PathTraversalName), n as u64);
    assert_eq!(
        a.anomaly_count(AnomalyCode::DuplicateEntryName),
        n as u64 - 1
    );
    assert_eq!(a.anomalies_dropped(), (2 * n - 1 - MAX_ANOMALIES) as u64);
}

#[test]
fn deflate_stream_truncated_is_inflate_error() {
    let mut e = RawEntry::deflated("x", &(0..=255u8).cycle().take(5000).collect::<Vec<_>>());
    e.payload.truncate(e.payload.len() / 2);
    let data = ZipBuilder::new(vec![e]).build();
    let a = parse(&data);
    let err = a.read(&a.entries()[0]).expect_err("truncated deflate");
    assert!(matches!(err, ZipError::Inflate { .. }), "{err:?}");
    assert!(err.to_string().contains("offset"), "{err}");
    // Garbage that is not deflate at all.
    let mut g = RawEntry::stored("g", &[0xFF; 64]);
    g.method = 8;
    let data = ZipBuilder::new(vec![g]).build();
    let a = parse(&data);
    assert!(matches!(
        a.read(&a.entries()[0]),
        Err(ZipError::Inflate { .. })
    ));
    let _ = deflate(b"");
}

#[test]
fn hundred_thousand_entries_at_the_default_limit() {
    let n = Limits::default().max_entries;
    let entries: Vec<_> = (0..n)
        .map(|i| RawEntry::stored(&format!("smali/C{i}.class"), b""))
        .collect();
    let mut b = ZipBuilder::new(entries);
    b.zip64 = true; // more than 65,535 entries need the ZIP64 count
    let data = b.build();
    let a = parse(&data);
    assert_eq!(a.entries().len(), n);
    assert_eq!(a.declared_entry_count(), n as u64);
    assert_eq!(a.anomalies(), &[]);
    assert!(a.find("smali/C99999.class").is_some());
    b.entries.push(RawEntry::stored("one/too/many", b""));
    let data = b.build();
    assert!(matches!(
        Archive::parse(&data, Limits::default()),
        Err(ZipError::TooManyEntries { limit }) if limit == n
    ));
}

#[test]
fn debug_output_is_a_summary() {
    let data = ZipBuilder::new(vec![RawEntry::stored("a", &[7u8; 4096])]).build();
    let a = parse(&data);
    let s = format!("{a:?}");
    assert!(s.contains("entries: 1") && s.len() < 400, "{s}");
}
