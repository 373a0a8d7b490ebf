//! The signer chain end to end: a fixture signed with an openssl-made chain (test root -> intermediate -> leaf
//! with OU = Team ID) verifies with the test root as an extra anchor, not without it, and each tampered part
//! (signed attributes, CodeDirectory, a certificate's signature) fails at the right step. DER entitlements are
//! decoded into the XML blob's JSON.

#![allow(clippy::unwrap_used)]

use ipa_analysis::{assess, IpaAssessment, Options, RiskConfig};
use proptest::prelude::*;

const EXE: &str = "Payload/Chained.app/Chained";

fn anchor() -> Vec<u8> {
    ipa_fixtures::anchor("chain")
        .unwrap()
        .expect("chain fixture has a test root")
}

fn options(with_anchor: bool) -> Options {
    Options {
        risk: Some(RiskConfig::default()),
        extra_anchors: if with_anchor { vec![anchor()] } else { vec![] },
        ..Options::default()
    }
}

fn ipa(name: &str) -> Vec<u8> {
    std::fs::read(ipa_fixtures::build(name).unwrap()).unwrap()
}

fn entry(ipa: &[u8], name: &str) -> Vec<u8> {
    let a = apk_zip::Archive::parse(ipa, apk_zip::Limits::default()).unwrap();
    a.read(a.find(name).unwrap()).unwrap().into_owned()
}

/// The chain fixture with `name` replaced by `data` (through testdata/tools/rezip.py).
fn replaced(name: &str, data: &[u8], tag: &str) -> Vec<u8> {
    let src = ipa_fixtures::build("chain").unwrap();
    let dir = std::env::temp_dir().join(format!("ipa-chain-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("replacement");
    std::fs::write(&file, data).unwrap();
    let out = dir.join("out.ipa");
    let st = std::process::Command::new("python3")
        .arg(ipa_fixtures::workspace_root().join("testdata/tools/rezip.py"))
        .arg(&src)
        .arg(&out)
        .arg("--replace")
        .arg(format!("{name}={}", file.display()))
        .status()
        .unwrap();
    assert!(st.success());
    let v = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    v
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in executable")
}

fn signature(exe: &[u8]) -> macho::codesign::CodeSignature {
    let m = macho::parse(exe, &macho::Limits::default()).unwrap();
    m.slices[0].code_signature.clone().unwrap()
}

fn signing(a: &IpaAssessment) -> &ipa_analysis::report::IosSigning {
    a.signing.as_ref().unwrap()
}

#[test]
fn fixture_chain_verifies_with_the_test_anchor() {
    let a = assess("chain.ipa", &ipa("chain"), &options(true)).unwrap();
    let s = signing(&a);
    assert_eq!(s.chain, "verified", "{}", s.chain_note);
    assert_eq!(s.chain_anchor, Some("extra_anchor"));
    assert!(s.signer_signature_verified);
    assert_eq!(s.message_digest_verified, Some(true));
    let subjects: Vec<&str> = s.chain_path.iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert!(subjects[0].contains("OU=CHAIN12345"), "{subjects:?}");
    assert!(subjects[1].contains("Interdict Test Developer Relations CA"));
    assert!(subjects[2].contains("Interdict Test Root CA"));
    let sources: Vec<&str> = s.chain_path.iter().map(|c| c.source).collect();
    assert_eq!(sources, ["cms", "cms", "extra_anchor"]);
    assert!(s.chain_path.iter().all(|c| c.sha256.len() == 64));
    assert!(s.chain_note.contains("not enforced"), "{}", s.chain_note);
    // The profile's signer (same leaf) verifies too: (a), (b) over the attached plist, (c).
    let p = a.provisioning_profile.as_ref().unwrap();
    assert_eq!(p.signer_chain, "verified", "{}", p.signer_chain_note);
    assert_eq!(p.signer_chain_path.len(), 3);
    // JSON: the new fields are there.
    let j = serde_json::to_value(&a).unwrap();
    assert_eq!(j["signing"]["chain"], "verified");
    assert_eq!(j["signing"]["chain_path"][2]["source"], "extra_anchor");
    assert_eq!(j["provisioning_profile"]["signer_chain"], "verified");
}

#[test]
fn fixture_chain_without_the_anchor_ends_at_a_root_that_is_not_apples() {
    let a = assess("chain.ipa", &ipa("chain"), &options(false)).unwrap();
    let s = signing(&a);
    assert_eq!(s.chain, "not_verified");
    assert!(
        s.chain_note
            .starts_with("chains to a root that is not Apple's"),
        "{}",
        s.chain_note
    );
    assert!(s.chain_note.contains("Interdict Test Root CA"));
    // Steps (a) and (b) passed; only the anchor is missing.
    assert!(s.signer_signature_verified);
    assert_eq!(s.message_digest_verified, Some(true));
    assert_eq!(s.chain_path.len(), 3);
    let p = a.provisioning_profile.as_ref().unwrap();
    assert_eq!(p.signer_chain, "not_verified");
    assert!(p
        .signer_chain_note
        .starts_with("chains to a root that is not Apple's"));
}

#[test]
fn self_signed_fixtures_say_self_signed() {
    let a = assess("baseline.ipa", &ipa("baseline"), &options(true)).unwrap();
    let s = signing(&a);
    assert_eq!(s.chain, "not_verified");
    assert!(s.chain_note.starts_with("self-signed"), "{}", s.chain_note);
    // A self-signed signer still proves possession of its key: (a) and (b) hold.
    assert!(s.signer_signature_verified);
    assert_eq!(s.message_digest_verified, Some(true));
}

fn assess_tampered(exe: Vec<u8>, tag: &str) -> IpaAssessment {
    assess("t.ipa", &replaced(EXE, &exe, tag), &options(true)).unwrap()
}

#[test]
fn flipped_signed_attribute_fails_the_signer_signature() {
    let exe = entry(&ipa("chain"), EXE);
    let sig = signature(&exe);
    let info = sig.cms.unwrap().signer_info.unwrap();
    let md = info.message_digest.unwrap();
    let mut bad = exe.clone();
    let at = find(&exe, &md);
    bad[at + 3] ^= 0x01;
    let s = assess_tampered(bad, "attrs");
    let s = signing(&s);
    assert_eq!(s.chain, "not_verified");
    assert!(
        s.chain_note.starts_with("signer signature did not verify"),
        "{}",
        s.chain_note
    );
    assert!(!s.signer_signature_verified);
}

#[test]
fn flipped_code_directory_fails_the_message_digest() {
    let exe = entry(&ipa("chain"), EXE);
    let sig = signature(&exe);
    let cd = sig.code_directory_bytes.unwrap();
    let at = find(&exe, &cd);
    let mut bad = exe.clone();
    // The last byte is inside the last code page hash: the CodeDirectory still parses.
    bad[at + cd.len() - 1] ^= 0x01;
    let a = assess_tampered(bad, "cd");
    let s = signing(&a);
    assert_eq!(s.chain, "not_verified");
    assert!(
        s.chain_note.starts_with("message digest mismatch"),
        "{}",
        s.chain_note
    );
    assert!(s.signer_signature_verified);
    assert_eq!(s.message_digest_verified, Some(false));
}

#[test]
fn flipped_certificate_signatures_fail_the_link() {
    let exe = entry(&ipa("chain"), EXE);
    let sig = signature(&exe);
    let cms = sig.cms.unwrap();
    let leaf = &cms.certificates[cms.signer.unwrap()];
    let inter = cms
        .certificates
        .iter()
        .find(|c| c.subject.contains("Developer Relations"))
        .unwrap();
    for (cert, who) in [(leaf, "leaf"), (inter, "intermediate")] {
        let at = find(&exe, &cert.signature);
        let mut bad = exe.clone();
        bad[at + cert.signature.len() / 2] ^= 0x01;
        let a = assess_tampered(bad, who);
        let s = signing(&a);
        assert_eq!(s.chain, "not_verified", "{who}");
        assert!(
            s.chain_note.starts_with("link signature failed"),
            "{who}: {}",
            s.chain_note
        );
        assert!(
            s.chain_note.contains(&cert.subject),
            "{who}: {}",
            s.chain_note
        );
    }
}

#[test]
fn an_unrelated_extra_anchor_does_not_verify_the_fixture_chain() {
    // Only the anchor the chain ends at counts: another one (here Apple's G3 root) does not help.
    let other = std::fs::read(
        ipa_fixtures::workspace_root().join("crates/macho/data/apple-certs/AppleRootCA-G3.cer"),
    )
    .unwrap();
    let o = Options {
        extra_anchors: vec![other],
        ..options(false)
    };
    let a = assess("chain.ipa", &ipa("chain"), &o).unwrap();
    assert!(signing(&a)
        .chain_note
        .starts_with("chains to a root that is not Apple's"));
}

#[test]
fn team_id_vendor_match_is_verified_only_with_a_verified_chain() {
    // Tencent's Team ID from the catalog, signed by the chain fixture's leaf (OU = CHAIN12345) would need a
    // catalog entry; use a custom catalog naming CHAIN12345 instead.
    let mut risk = RiskConfig::default();
    let catalog = apk_analysis::risk::vendor::VendorCatalog::parse(
        r#"[[vendor]]
name = "Chain Test Vendor"
country = "CN"
ownership = "test"
team_ids = ["CHAIN12345"]
sources = ["test"]
"#,
    )
    .unwrap();
    let mut all = (*risk.vendors).clone();
    all.extend(catalog);
    risk.vendors = std::sync::Arc::new(all);
    risk.add_concern("CN");
    let run = |anchor: bool| {
        let o = Options {
            risk: Some(risk.clone()),
            ..options(anchor)
        };
        assess("chain.ipa", &ipa("chain"), &o).unwrap()
    };
    let verified = run(true);
    let v = verified.vendor.as_ref().unwrap();
    assert_eq!((v.matched_by, v.verified), ("team_id", true));
    let f = verified
        .risk
        .as_ref()
        .unwrap()
        .factors
        .iter()
        .find(|f| f.id == "vendor_jurisdiction")
        .unwrap();
    assert_eq!(f.points, 60, "{f:?}");
    let unverified = run(false);
    let v = unverified.vendor.as_ref().unwrap();
    assert_eq!((v.matched_by, v.verified), ("team_id", false));
    let f = unverified
        .risk
        .as_ref()
        .unwrap()
        .factors
        .iter()
        .find(|f| f.id == "vendor_jurisdiction")
        .unwrap();
    assert_eq!(f.points, 50, "{f:?}");
    assert!(f.evidence.contains("self-asserted"), "{f:?}");
}

fn xml_entitlements_json(spec: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(
        ipa_fixtures::workspace_root().join(format!("testdata/ipa/{spec}.toml")),
    )
    .unwrap();
    let spec: ipa_fixtures::Spec = toml::from_str(&text).unwrap();
    let v = plist::Value::from_reader_xml(spec.entitlements.unwrap().as_bytes()).unwrap();
    serde_json::to_value(v).unwrap()
}

#[test]
fn der_only_entitlements_are_decoded_into_the_xml_json() {
    let a = assess("d.ipa", &ipa("der-entitlements"), &options(false)).unwrap();
    let s = signing(&a);
    assert_eq!(s.entitlement_blobs, ["der"]);
    assert_eq!(s.entitlements_source, Some("der"));
    assert_eq!(s.entitlements, xml_entitlements_json("der-entitlements"));
    // Entitlements from DER feed capabilities like XML ones.
    let caps = serde_json::to_string(a.capabilities.as_ref().unwrap()).unwrap();
    assert!(caps.contains("networkextension"), "{caps}");
    assert!(!a
        .anomalies
        .iter()
        .any(|x| x.code.starts_with("entitlements")));
}

#[test]
fn both_blobs_agreeing_give_no_anomaly() {
    let a = assess("c.ipa", &ipa("chain"), &options(false)).unwrap();
    let s = signing(&a);
    assert_eq!(s.entitlement_blobs, ["xml", "der"]);
    assert_eq!(s.entitlements_source, Some("xml"));
    assert_eq!(s.entitlements, xml_entitlements_json("chain"));
    let exe = entry(&ipa("chain"), EXE);
    let sig = signature(&exe);
    let der = macho::der_plist::decode(sig.entitlements_der.as_deref().unwrap()).unwrap();
    let _ = der;
    assert!(
        !a.anomalies
            .iter()
            .any(|x| x.code.starts_with("entitlements")),
        "{:?}",
        a.anomalies
    );
}

#[test]
fn disagreeing_blobs_are_an_anomaly() {
    let a = assess(
        "m.ipa",
        &ipa("hostile-entitlements_mismatch"),
        &options(false),
    )
    .unwrap();
    let x = a
        .anomalies
        .iter()
        .find(|x| x.code == "entitlements_mismatch")
        .unwrap();
    assert!(x.detail.contains("get-task-allow"), "{x:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Byte flips over the DER entitlements payload: a value or a typed error, never a panic.
    #[test]
    fn byte_flips_over_the_der_entitlements(flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let der = der_blob();
        let mut d = der.clone();
        let n = d.len();
        for (at, x) in flips {
            d[at % n] ^= x | 1;
        }
        let _ = macho::der_plist::decode(&d);
    }

    /// Byte flips over the chain fixture's signature: verification never panics.
    #[test]
    fn byte_flips_over_the_chained_signature(flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let (sig_bytes, store) = chained_signature();
        let mut d = sig_bytes.clone();
        let n = d.len();
        for (at, x) in flips {
            d[at % n] ^= x | 1;
        }
        if let Ok(sig) = macho::codesign::parse(&d, 0) {
            if let Some(cms) = &sig.cms {
                let _ = macho::trust::verify_signer(
                    cms.signer_info.as_ref(),
                    cms.signer.and_then(|i| cms.certificates.get(i)),
                    &cms.certificates,
                    sig.code_directory_bytes.as_deref(),
                    &store,
                );
            }
        }
    }
}

fn der_blob() -> Vec<u8> {
    use std::sync::OnceLock;
    static D: OnceLock<Vec<u8>> = OnceLock::new();
    D.get_or_init(|| {
        let exe = entry(&ipa("chain"), EXE);
        signature(&exe).entitlements_der.unwrap()
    })
    .clone()
}

fn chained_signature() -> (Vec<u8>, macho::trust::TrustStore) {
    use std::sync::OnceLock;
    static S: OnceLock<Vec<u8>> = OnceLock::new();
    let sig = S
        .get_or_init(|| {
            let exe = entry(&ipa("chain"), EXE);
            let m = macho::parse(&exe, &macho::Limits::default()).unwrap();
            let (off, size) = m.slices[0].code_signature_range.unwrap();
            exe[off as usize..(off + size) as usize].to_vec()
        })
        .clone();
    (sig, options(true).trust_store())
}
