//! Hostile IPAs (testdata/ipa/hostile-*.toml) and byte flips: a report with anomalies or a typed error with
//! its offset, never a panic.

#![allow(clippy::unwrap_used)]

use ipa_analysis::{assess, AssessError, IpaAssessment, Options, RiskConfig};
use proptest::prelude::*;

fn options() -> Options {
    Options {
        risk: Some(RiskConfig::default()),
        ..Options::default()
    }
}

fn bytes(name: &str) -> Vec<u8> {
    let p = ipa_fixtures::build(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    std::fs::read(p).unwrap()
}

fn codes(a: &IpaAssessment) -> Vec<&str> {
    a.anomalies.iter().map(|x| x.code.as_str()).collect()
}

fn ok(name: &str) -> IpaAssessment {
    assess(name, &bytes(name), &options()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn bad_code_directory_ident_offset() {
    let a = ok("hostile-bad_cd_ident_offset");
    let x = a
        .anomalies
        .iter()
        .find(|x| x.code == "code_signature_blob_invalid")
        .unwrap();
    assert!(
        x.detail.contains("identOffset") && x.offset.is_some(),
        "{x:?}"
    );
    // No CodeDirectory: no identifier, and the team comes only from the certificate.
    let s = a.signing.as_ref().unwrap();
    assert!(s.identifier.is_none());
    assert_eq!(s.team_id.as_deref(), Some("HOSTILE123"));
}

#[test]
fn superblob_count_past_its_data() {
    let a = ok("hostile-superblob_count");
    let x = a
        .anomalies
        .iter()
        .find(|x| x.code == "code_signature_invalid")
        .unwrap();
    assert!(
        x.detail.contains("SuperBlob") && x.detail.contains("count"),
        "{x:?}"
    );
}

#[test]
fn overlapping_load_commands() {
    let a = ok("hostile-overlapping_load_commands");
    assert!(
        codes(&a).contains(&"load_commands_overlap_sections"),
        "{:?}",
        a.anomalies
    );
}

#[test]
fn fat_slice_past_end_of_file() {
    let a = ok("hostile-fat_slice_past_eof");
    let x = a
        .anomalies
        .iter()
        .find(|x| x.code == "fat_slice_out_of_bounds")
        .unwrap();
    assert_eq!(x.offset, Some(28));
    assert_eq!(a.binaries[0].slices.len(), 1);
}

#[test]
fn cyclic_binary_info_plist_is_a_typed_error() {
    match assess("x", &bytes("hostile-cyclic_info_plist"), &options()) {
        Err(e @ AssessError::BadInfoPlist { .. }) => {
            assert_eq!(e.code(), "bad_info_plist");
            assert!(e.to_string().contains("cycle"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn duplicate_payload_apps() {
    let a = ok("hostile-duplicate_app");
    assert!(codes(&a).contains(&"multiple_payload_apps"));
    assert_eq!(a.app.path, "Payload/Hostile.app/");
}

#[test]
fn dotdot_path() {
    let a = ok("hostile-dotdot_path");
    let x = a
        .anomalies
        .iter()
        .find(|x| x.code == "path_traversal")
        .unwrap();
    assert!(x.detail.contains("../evil.txt") && x.offset.is_some());
}

#[test]
fn executable_outside_bundle() {
    let a = ok("hostile-executable_outside");
    assert!(codes(&a).contains(&"executable_outside_bundle"));
    assert!(a.binaries.is_empty());
    assert_eq!(a.signing.as_ref().map(|s| s.signed), None);
}

#[test]
fn not_an_ipa() {
    assert!(matches!(
        assess("x", b"PK\x05\x06garbage", &options()),
        Err(AssessError::Zip(_))
    ));
    let apk_like = bytes("baseline");
    assert!(!ipa_analysis::is_ipa(b"not a zip"));
    assert!(ipa_analysis::is_ipa(&apk_like));
}

fn flip(mut data: Vec<u8>, flips: &[(usize, u8)]) -> Vec<u8> {
    let n = data.len();
    for &(at, x) in flips {
        data[at % n] ^= x | 1;
    }
    data
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whole IPAs (stored entries, so flips reach the plists and Mach-O bytes).
    #[test]
    fn byte_flips_over_whole_ipas(idx in 0usize..4, flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..16)) {
        let name = ["baseline", "trackers", "extensions", "enterprise"][idx];
        let data = flip(stored(name), &flips);
        let _ = assess("x", &data, &options());
    }

    /// The main executable alone (Mach-O header, load commands, SuperBlob, CodeDirectory, CMS).
    #[test]
    fn byte_flips_over_the_executable(flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..16)) {
        let data = flip(executable("baseline", "Payload/Baseline.app/Baseline"), &flips);
        if let Ok(m) = macho::parse(&data, &macho::Limits::default()) {
            for s in m.slices { let _ = s.code_signature; }
        }
    }

    /// The signature blob alone, with flips concentrated in its first 256 bytes (index and CodeDirectory).
    #[test]
    fn byte_flips_over_the_signature(flips in prop::collection::vec((0usize..256, any::<u8>()), 1..8)) {
        let exe = executable("baseline", "Payload/Baseline.app/Baseline");
        let m = macho::parse(&exe, &macho::Limits::default()).unwrap();
        let (off, size) = m.slices[0].code_signature_range.unwrap();
        let sig = exe[off as usize..(off + size) as usize].to_vec();
        let _ = macho::codesign::parse(&flip(sig, &flips), 0);
    }

    /// The provisioning profile (BER) alone.
    #[test]
    fn byte_flips_over_the_profile(flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let p = executable("enterprise", "Payload/InHouse.app/embedded.mobileprovision");
        let _ = macho::cms::parse_signed_data(&flip(p, &flips), 1 << 20);
    }
}

fn entry(ipa: &[u8], name: &str) -> Vec<u8> {
    let a = apk_zip::Archive::parse(ipa, apk_zip::Limits::default()).unwrap();
    a.read(a.find(name).unwrap()).unwrap().into_owned()
}

fn executable(fixture: &str, name: &str) -> Vec<u8> {
    entry(&bytes(fixture), name)
}

/// The fixture rewritten with every entry stored.
fn stored(name: &str) -> Vec<u8> {
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<std::collections::HashMap<String, Vec<u8>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap().get(name) {
        return v.clone();
    }
    let src = ipa_fixtures::build(name).unwrap();
    let dst = std::env::temp_dir().join(format!(
        "interdict-ipa-stored-{name}-{}.ipa",
        std::process::id()
    ));
    let rezip = ipa_fixtures::workspace_root().join("testdata/tools/rezip.py");
    let st = std::process::Command::new("python3")
        .arg(rezip)
        .arg(&src)
        .arg(&dst)
        .arg("--store")
        .status()
        .unwrap();
    assert!(st.success());
    let v = std::fs::read(&dst).unwrap();
    let _ = std::fs::remove_file(&dst);
    cache.lock().unwrap().insert(name.to_owned(), v.clone());
    v
}
