//! Issue 12 (hardening) regressions for the verifier, each on a tiny hostile APK built here, and
//! issue 11's byte flips over source stamp blocks and PKCS #7 SignerInfos.

use apk_signature::{verify, verify_with, Options, LATEST};
use proptest::prelude::*;

use crate::fixtures;
use crate::mutate::{block_pairs, rebuild_zip, split};

/// A stored ZIP with the given entries.
fn zip(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    // rebuild_zip needs a ZIP to start from: an empty one.
    let mut empty = b"PK\x05\x06".to_vec();
    empty.extend([0u8; 18]);
    rebuild_zip(&empty, |_, v| Some(v), entries)
}

/// `Manifest-Version` then `n` sections naming the same missing entry.
fn manifest_bomb(n: usize) -> Vec<u8> {
    let mut m = b"Manifest-Version: 1.0\r\n\r\n".to_vec();
    for _ in 0..n {
        m.extend_from_slice(b"Name: x\r\n\r\n");
    }
    m
}

const SECTIONS: usize = 200_000;

/// Unsigned APK with a huge MANIFEST.MF: no work on the manifest, one error.
#[test]
fn manifest_of_an_unsigned_apk_is_not_read() {
    let d = zip(&[
        ("META-INF/MANIFEST.MF", manifest_bomb(SECTIONS)),
        ("classes.dex", b"dex\n035\0".to_vec()),
    ]);
    let a = apk_zip::Archive::parse(&d, apk_zip::Limits::default()).unwrap();
    let r = verify(&a, 14, LATEST);
    assert!(!r.verified);
    let codes: Vec<&str> = r.v1.errors.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(codes, ["JAR_SIG_NO_SIGNATURES"], "{:?}", r.v1.errors.len());
    assert!(!r.v1.present);
}

/// With (bogus) signature files the manifest is read, but the error list stays bounded and says
/// how many were omitted.
#[test]
fn manifest_errors_are_capped_with_a_count() {
    let d = zip(&[
        ("META-INF/MANIFEST.MF", manifest_bomb(SECTIONS)),
        (
            "META-INF/CERT.SF",
            b"Signature-Version: 1.0\r\n\r\n".to_vec(),
        ),
        ("META-INF/CERT.RSA", vec![0x30, 0x00]),
        ("x", b"x".to_vec()),
    ]);
    let a = apk_zip::Archive::parse(&d, apk_zip::Limits::default()).unwrap();
    let r = verify(&a, 14, LATEST);
    assert!(!r.verified);
    assert!(r.errors.len() <= 65, "{} errors", r.errors.len());
    let last = r.errors.last().unwrap();
    assert_eq!(last.code, "JAR_SIG_ERRORS_OMITTED");
    // Every section after the first naming "x" is a duplicate.
    assert!(
        last.message
            .starts_with(&format!("{} more", SECTIONS - 1 - 64)),
        "{}",
        last.message
    );
    assert_eq!(r.errors[0].code, "JAR_SIG_DUPLICATE_MANIFEST_SECTION");
}

/// Android does not consult v1 when the whole range is API 24+ and v2/v3 verified: it is reported
/// present but not evaluated, unless asked for.
#[test]
fn v1_is_not_evaluated_where_android_ignores_it() {
    if !fixtures::tools_available() {
        return;
    }
    let all = fixtures::all();
    let f = all.iter().find(|f| f.name == "v123-rsa2048").unwrap();
    let d = std::fs::read(&f.path).unwrap();
    let a = apk_zip::Archive::parse(&d, apk_zip::Limits::default()).unwrap();
    let skip = verify(&a, 24, LATEST);
    assert!(skip.verified);
    assert!(skip.v1.present && !skip.v1.evaluated && !skip.v1.checked && !skip.v1.verified);
    assert!(skip
        .signers
        .iter()
        .all(|s| s.scheme != apk_signature::Scheme::V1));
    let all_v1 = verify_with(
        &a,
        &Options {
            min_sdk: 24,
            always_check_v1: true,
            ..Options::default()
        },
    );
    assert!(all_v1.v1.evaluated && all_v1.v1.verified && !all_v1.v1.checked);
    // Below 24 v1 counts, as before.
    let low = verify(&a, 14, LATEST);
    assert!(low.v1.evaluated && low.v1.checked && low.v1.verified);
}

/// A bad stamp is only reported (as in Android), unless the caller requires a valid stamp.
#[test]
fn bad_stamp_fails_only_when_required() {
    if !fixtures::tools_available() {
        return;
    }
    let all = fixtures::all();
    let f = all
        .iter()
        .find(|f| f.name == "m-v2-stamp-sig-flip")
        .unwrap();
    let d = std::fs::read(&f.path).unwrap();
    let a = apk_zip::Archive::parse(&d, apk_zip::Limits::default()).unwrap();
    let lenient = verify(&a, 24, LATEST);
    assert!(lenient.verified);
    let stamp = lenient.stamp.as_ref().unwrap();
    assert!(!stamp.verified);
    assert_eq!(stamp.issues[0].code, "SOURCE_STAMP_DID_NOT_VERIFY");
    let strict = verify_with(
        &a,
        &Options {
            min_sdk: 24,
            require_valid_stamp: true,
            ..Options::default()
        },
    );
    assert!(!strict.verified);
    assert_eq!(strict.errors[0].code, "SOURCE_STAMP_DID_NOT_VERIFY");
    // A good stamp reports its signer separately from the APK's signers.
    let good = all.iter().find(|f| f.name == "v2-stamp").unwrap();
    let d = std::fs::read(&good.path).unwrap();
    let a = apk_zip::Archive::parse(&d, apk_zip::Limits::default()).unwrap();
    let r = verify(&a, 24, LATEST);
    let s = r.stamp.as_ref().unwrap();
    assert!(s.verified, "{:?}", s.issues);
    let c = s.cert.as_ref().unwrap();
    assert!(c.subject.contains("CN=rsa3072"), "{}", c.subject);
    assert!(r.signers.iter().all(|x| x.cert.sha256 != c.sha256));
}

fn fixture(name: &str) -> Option<Vec<u8>> {
    if !fixtures::tools_available() {
        return None;
    }
    let all = fixtures::all();
    std::fs::read(&all.iter().find(|f| f.name == name)?.path).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Byte flips inside the source stamp block: never a panic, always a stamp verdict.
    #[test]
    fn stamp_block_flips_never_panic(pos in 0.0f64..1.0, x in 1u8..=255, which in 0usize..2) {
        let Some(d) = fixture(["v2-stamp", "v123-stamp"][which]) else { return Ok(()) };
        let mut p = split(&d);
        let block = p.block.clone().unwrap();
        // Offset of the stamp pair's value inside the block.
        let pairs = block_pairs(&block);
        let (_, value) = pairs.iter().find(|(id, _)| *id == 0x6dff_800d).unwrap();
        let start = block.windows(value.len()).position(|w| w == &value[..]).unwrap();
        let i = start + ((pos * value.len() as f64) as usize).min(value.len() - 1);
        p.block.as_mut().unwrap()[i] ^= x;
        let out = crate::mutate::assemble(&p);
        crate::robustness::check(&out);
        let a = apk_zip::Archive::parse(&out, apk_zip::Limits::default()).unwrap();
        let r = verify(&a, 24, LATEST);
        let s = r.stamp.as_ref().unwrap();
        prop_assert!(s.verified == s.issues.is_empty());
    }

    /// Byte flips inside the PKCS #7 SignerInfo (the end of the signature block file).
    #[test]
    fn signer_info_flips_never_panic(pos in 0.0f64..1.0, x in 1u8..=255, which in 0usize..3) {
        let Some(d) = fixture(["v1-rsa2048", "jarsigner-rsa2048", "v1-pstr"][which]) else { return Ok(()) };
        let out = rebuild_zip(&d, |n, mut v| {
            if n.ends_with(".RSA") {
                // The SignerInfo is the last ~300 bytes for a 2048-bit key.
                let window = 420.min(v.len());
                let i = v.len() - window + ((pos * window as f64) as usize).min(window - 1);
                v[i] ^= x;
            }
            Some(v)
        }, &[]);
        crate::robustness::check(&out);
    }
}
