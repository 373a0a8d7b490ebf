//! Hostile APKs made by mutating real fixtures: each trick of app-vetting.md §5.1–5.2,
//! truncation at many offsets and random byte flips.
//! The property everywhere: a typed result (a correct report with anomalies, or an error), never a panic.

use std::path::PathBuf;

use apk_analysis::{assess, Assessment, Options};
use proptest::prelude::*;

use crate::{rezip, scratch};

/// A fixture with code, resources and components: the base for mutations.
fn base() -> (PathBuf, Vec<u8>, Assessment) {
    let path = apk_fixtures::fixture(BASE);
    let data = std::fs::read(&path).unwrap();
    let report = assess("base", &data, &Options::default()).unwrap();
    assert!(!report.dex.files.is_empty() && !report.components.is_empty());
    (path, data, report)
}

const BASE: &str = "components_target30";

fn run(data: &[u8]) -> Result<Assessment, apk_analysis::AssessError> {
    assess("mutated", data, &Options::default())
}

fn codes(r: &Assessment) -> Vec<&str> {
    r.anomalies.iter().map(|a| a.code.as_str()).collect()
}

/// Asserts the mutated APK still reads as the original, and that `code` was flagged.
fn same_app_flagged(original: &Assessment, mutated: &[u8], code: &str) -> Assessment {
    let r =
        run(mutated).unwrap_or_else(|e| panic!("expected a report flagged {code}, got error {e}"));
    assert_eq!(r.app.package, original.app.package);
    assert_eq!(r.app.version_code, original.app.version_code);
    assert_eq!(r.permissions, original.permissions);
    assert_eq!(r.components.len(), original.components.len());
    assert_eq!(r.dex.classes, original.dex.classes);
    assert!(
        codes(&r).contains(&code),
        "expected anomaly {code}, got {:?}",
        codes(&r)
    );
    r
}

fn entries(data: &[u8]) -> Vec<apk_zip::Entry> {
    apk_zip::Archive::parse(data, apk_zip::Limits::default())
        .unwrap()
        .entries()
        .to_vec()
}

fn put_u16(data: &mut [u8], at: u64, v: u16) {
    let at = at as usize;
    data[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn truncation_at_many_offsets_never_panics() {
    let (_, data, _) = base();
    let step = (data.len() / 400).max(1);
    let mut errors = 0;
    for cut in (0..data.len()).step_by(step) {
        if run(&data[..cut]).is_err() {
            errors += 1;
        }
    }
    // Cutting off the end-of-central-directory makes every prefix unreadable.
    assert!(errors > 0);
}

#[test]
fn fake_encryption_flag_is_ignored_and_flagged() {
    let (_, mut data, original) = base();
    for e in entries(&data) {
        put_u16(&mut data, e.cd_entry_offset + 8, e.flags | 1);
        put_u16(&mut data, e.local_header_offset + 6, e.flags | 1);
    }
    same_app_flagged(&original, &data, "fake_encryption_flag");
}

#[test]
fn unknown_compression_method_is_read_as_android_does() {
    let (_, mut data, original) = base();
    for e in entries(&data) {
        if e.name == b"AndroidManifest.xml" || e.name == b"classes.dex" {
            put_u16(&mut data, e.cd_entry_offset + 10, 30208);
            put_u16(&mut data, e.local_header_offset + 8, 30208);
        }
    }
    same_app_flagged(&original, &data, "unknown_compression_method");
}

#[test]
fn local_header_disagreeing_with_central_directory() {
    let (_, mut data, original) = base();
    let e = entries(&data)
        .into_iter()
        .find(|e| e.name == b"AndroidManifest.xml")
        .unwrap();
    // Lie about sizes in the local header only: the central directory wins.
    let at = (e.local_header_offset + 18) as usize;
    data[at..at + 8].copy_from_slice(&[0xff; 8]);
    same_app_flagged(&original, &data, "local_header_mismatch");
}

#[test]
fn data_before_first_entry_janus() {
    let (_, data, original) = base();
    // A DEX header glued in front of the archive, with every offset shifted: the Janus layout.
    let mut prefix = b"dex\n035\0".to_vec();
    prefix.resize(0x70, 0);
    let shift = prefix.len() as u32;
    let archive = apk_zip::Archive::parse(&data, apk_zip::Limits::default()).unwrap();
    let (cd, eocd) = (archive.cd_offset(), archive.eocd_offset());
    let mut out = prefix;
    out.extend_from_slice(&data);
    for e in archive.entries() {
        let at = (u64::from(shift) + e.cd_entry_offset + 42) as usize;
        let v = u32::from_le_bytes(out[at..at + 4].try_into().unwrap()) + shift;
        out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    let at = (u64::from(shift) + eocd + 16) as usize;
    out[at..at + 4].copy_from_slice(&(cd as u32 + shift).to_le_bytes());
    same_app_flagged(&original, &out, "data_before_first_entry");
}

#[test]
fn duplicate_and_dangerous_names_are_flagged() {
    let (path, _, original) = base();
    let dir = scratch("names");
    let payload = dir.join("payload.txt");
    std::fs::write(&payload, b"x").unwrap();
    let out = dir.join("names.apk");
    let pl = payload.to_str().unwrap();
    rezip(
        &path,
        &out,
        &[
            "--dup",
            "AndroidManifest.xml",
            "--add",
            &format!("../../evil.sh={pl}"),
            "--add",
            &format!("res/a\\r\\nb\\0.txt={pl}"),
            "--add",
            &format!("/etc/passwd={pl}"),
        ],
    );
    let data = std::fs::read(&out).unwrap();
    let r = same_app_flagged(&original, &data, "duplicate_entry_name");
    let c = codes(&r);
    assert!(c.contains(&"path_traversal_name"), "{c:?}");
    assert!(c.contains(&"control_char_in_name"), "{c:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Replaces AndroidManifest.xml with `f(original bytes)` and returns the new APK's bytes.
fn with_manifest(tag: &str, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let (path, data, _) = base();
    let archive = apk_zip::Archive::parse(&data, apk_zip::Limits::default()).unwrap();
    let mut manifest = archive
        .read(archive.find("AndroidManifest.xml").unwrap())
        .unwrap()
        .into_owned();
    f(&mut manifest);
    let dir = scratch(tag);
    let m = dir.join("AndroidManifest.xml");
    std::fs::write(&m, &manifest).unwrap();
    let out = dir.join("out.apk");
    rezip(
        &path,
        &out,
        &["--replace", &format!("AndroidManifest.xml={}", m.display())],
    );
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_dir_all(dir);
    bytes
}

#[test]
fn axml_wrong_first_chunk_type() {
    let (_, _, original) = base();
    let data = with_manifest("chunk0", |m| {
        m[0] = 0;
        m[1] = 0;
    });
    let r = run(&data).unwrap();
    assert_eq!(r.app.package, original.app.package);
    assert_eq!(r.permissions, original.permissions);
    assert!(!r.anomalies.is_empty());
}

/// Overwrites every occurrence of an attribute-name string in the manifest's string pool (UTF-8 or UTF-16).
fn garble_string(m: &mut [u8], name: &str, with: u8) -> usize {
    let mut hits = 0;
    let utf16: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut pat16 = (name.len() as u16).to_le_bytes().to_vec();
    pat16.extend_from_slice(&utf16);
    pat16.extend_from_slice(&[0, 0]);
    let mut pat8 = vec![name.len() as u8, name.len() as u8];
    pat8.extend_from_slice(name.as_bytes());
    pat8.push(0);
    for (pat, start, len, unit) in [(&pat16, 2, utf16.len(), 2), (&pat8, 2, name.len(), 1)] {
        let mut i = 0;
        while i + pat.len() <= m.len() {
            if m[i..i + pat.len()] == pat[..] {
                for k in (0..len).step_by(unit) {
                    m[i + start + k] = with;
                }
                hits += 1;
            }
            i += 1;
        }
    }
    hits
}

#[test]
fn garbage_attribute_names_resolve_by_resource_id() {
    let (_, _, original) = base();
    let data = with_manifest("garble", |m| {
        for attr in [
            "name",
            "exported",
            "versionCode",
            "minSdkVersion",
            "targetSdkVersion",
            "permission",
        ] {
            assert!(
                garble_string(m, attr, b'z') > 0,
                "attribute string {attr} not found in the pool"
            );
        }
    });
    let r = run(&data).unwrap();
    assert_eq!(r.app.package, original.app.package);
    assert_eq!(r.app.version_code, original.app.version_code);
    assert_eq!(r.app.min_sdk, original.app.min_sdk);
    assert_eq!(r.app.target_sdk, original.app.target_sdk);
    assert_eq!(r.permissions, original.permissions);
    let names = |r: &Assessment| -> Vec<(String, bool)> {
        r.components
            .iter()
            .map(|c| (c.name.clone(), c.exported))
            .collect()
    };
    assert_eq!(names(&r), names(&original));
}

#[test]
fn tampered_string_count_is_survived() {
    let (_, _, original) = base();
    let data = with_manifest("strcount", |m| {
        // The string pool chunk starts right after the 8-byte file header; stringCount is its third field.
        m[16..20].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    });
    match run(&data) {
        Ok(r) => {
            assert_eq!(r.app.package, original.app.package);
            assert!(!r.anomalies.is_empty());
        }
        Err(e) => assert_eq!(e.code(), "bad_manifest"),
    }
}

#[test]
fn zip_bomb_is_refused_with_a_typed_error() {
    let (path, _, _) = base();
    let dir = scratch("bomb");
    let zeros = dir.join("zeros");
    std::fs::write(&zeros, vec![0u8; 64 << 20]).unwrap();
    let out = dir.join("bomb.apk");
    rezip(
        &path,
        &out,
        &["--replace", &format!("classes.dex={}", zeros.display())],
    );
    let data = std::fs::read(&out).unwrap();
    let options = Options {
        limits: apk_zip::Limits {
            max_entry_size: 16 << 20,
            ..apk_zip::Limits::default()
        },
        ..Options::default()
    };
    let err = assess("bomb", &data, &options).unwrap_err();
    assert_eq!(err.code(), "limit_exceeded", "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn random_byte_flips_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16)) {
        let data = BASE_BYTES.with(|b| b.clone());
        let mut data = data;
        let n = data.len();
        for (pos, val) in flips {
            data[pos % n] = val;
        }
        let _ = run(&data);
    }

    #[test]
    fn flips_in_the_manifest_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let manifest = MANIFEST_BYTES.with(|b| b.clone());
        let mut m = manifest;
        let n = m.len();
        for (pos, val) in flips {
            m[pos % n] = val;
        }
        let mut anomalies = Vec::new();
        let _ = android_binxml::XmlDocument::parse(&m).map(|d| anomalies.extend(d.anomalies));
    }
}

thread_local! {
    static BASE_BYTES: Vec<u8> = std::fs::read(apk_fixtures::fixture(BASE)).unwrap();
    static MANIFEST_BYTES: Vec<u8> = {
        let data = std::fs::read(apk_fixtures::fixture(BASE)).unwrap();
        let archive = apk_zip::Archive::parse(&data, apk_zip::Limits::default()).unwrap();
        let bytes = archive.read(archive.find("AndroidManifest.xml").unwrap()).unwrap().into_owned();
        bytes
    };
}
