//! Risk analysis on real fixture APKs: capabilities, trackers, endpoints, vendor attribution and the verdict.
//! Every capability and every Exodus tracker category has a fixture that detects it and one that must not.

#![allow(clippy::unwrap_used)] // Test helpers panic on purpose; `allow-unwrap-in-tests` covers only #[test] fns.

use std::collections::BTreeSet;

use apk_analysis::risk::RiskConfig;
use apk_analysis::{assess, Assessment, Options};

fn assess_risk(name: &str, concern: &[&str]) -> Assessment {
    let path = apk_fixtures::fixture(name);
    let data = std::fs::read(&path).unwrap();
    let options = Options {
        risk: Some(RiskConfig {
            concern: concern.iter().map(|c| (*c).to_owned()).collect(),
            ..RiskConfig::default()
        }),
        ..Options::default()
    };
    assess(name, &data, &options).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn capability_ids(a: &Assessment) -> BTreeSet<&'static str> {
    a.capabilities
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect()
}

fn capability<'a>(a: &'a Assessment, id: &str) -> &'a apk_analysis::risk::model::Capability {
    a.capabilities
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("{id} not detected in {:?}", capability_ids(a)))
}

fn tracker_ids(a: &Assessment) -> BTreeSet<u32> {
    a.trackers.as_ref().unwrap().iter().map(|t| t.id).collect()
}

#[test]
fn permission_and_flag_capabilities_are_detected() {
    let a = assess_risk("risk_capabilities", &[]);
    let ids = capability_ids(&a);
    for id in [
        "input_method",
        "sms_read",
        "sms_send",
        "call_log",
        "contacts",
        "location_precise",
        "location_background",
        "camera",
        "microphone",
        "all_files_access",
        "install_packages",
        "query_all_packages",
        "draw_over_apps",
        "usage_stats",
        "phone_identifiers",
        "start_at_boot",
        "exported_unprotected",
        "cleartext_traffic",
        "user_ca_trusted",
        "debuggable",
        "backup_allowed",
    ] {
        assert!(ids.contains(id), "{id} missing from {ids:?}");
    }
    // Only the bound services this fixture has.
    for id in [
        "accessibility_service",
        "device_admin",
        "vpn_service",
        "notification_listener",
    ] {
        assert!(!ids.contains(id), "{id} is a false positive");
    }
    let sms = capability(&a, "sms_read");
    assert_eq!(
        sms.evidence,
        vec!["<uses-permission android:name=\"android.permission.READ_SMS\">"]
    );
    let exported = capability(&a, "exported_unprotected");
    assert_eq!(exported.evidence.len(), 2, "{:?}", exported.evidence);
    assert!(exported
        .evidence
        .iter()
        .any(|e| e.contains("com.example.riskcaps.Boot")));
    assert!(exported
        .evidence
        .iter()
        .any(|e| e.contains("com.example.riskcaps.Data")));
    assert!(capability(&a, "start_at_boot")
        .evidence
        .iter()
        .any(|e| e.contains("BOOT_COMPLETED")));
    assert!(capability(&a, "cleartext_traffic").evidence[0].contains("targetSdkVersion 27"));
    assert!(capability(&a, "user_ca_trusted").evidence[0].contains("res/xml/nsc.xml"));

    // Protection levels for the target SDK, custom and unknown permissions.
    let risk = a.risk.as_ref().unwrap();
    let level = |n: &str| {
        risk.permissions
            .iter()
            .find(|p| p.name.ends_with(n))
            .unwrap()
    };
    assert_eq!(level(".READ_SMS").protection_level, "dangerous");
    assert_eq!(level(".READ_SMS").defined_by, "platform");
    assert!(level(".SYSTEM_ALERT_WINDOW")
        .protection_level
        .contains("appop"));
    assert_eq!(level(".UNDECLARED").defined_by, "unknown");
    assert_eq!(risk.verdict, "unacceptable");
}

#[test]
fn bound_service_capabilities_are_detected_each_alone() {
    for (fixture, id) in [
        ("accessibility_service", "accessibility_service"),
        ("device_admin", "device_admin"),
        ("vpn_service", "vpn_service"),
        ("notification_listener", "notification_listener"),
    ] {
        let a = assess_risk(fixture, &[]);
        let ids = capability_ids(&a);
        assert!(ids.contains(id), "{fixture}: {ids:?}");
        for other in [
            "accessibility_service",
            "device_admin",
            "vpn_service",
            "notification_listener",
            "input_method",
        ] {
            assert!(
                other == id || !ids.contains(other),
                "{fixture}: false positive {other}"
            );
        }
    }
    let acc = assess_risk("accessibility_service", &[]);
    let c = capability(&acc, "accessibility_service");
    assert_eq!(c.severity, apk_analysis::risk::model::Severity::Critical);
    assert!(
        c.evidence
            .iter()
            .any(|e| e.contains("canRetrieveWindowContent=true")),
        "{:?}",
        c.evidence
    );
    let admin = assess_risk("device_admin", &[]);
    let c = capability(&admin, "device_admin");
    assert!(
        c.evidence
            .iter()
            .any(|e| e.contains("wipe-data") && e.contains("reset-password")),
        "{:?}",
        c.evidence
    );
    assert_eq!(c.severity, apk_analysis::risk::model::Severity::Critical);
    let nsc = assess_risk("cleartext_nsc", &[]);
    assert!(capability(&nsc, "cleartext_traffic")
        .evidence
        .iter()
        .any(|e| e.contains("insecure.example.com")));
    assert!(capability_ids(&nsc).contains("user_ca_trusted"));
}

/// An APK whose signature does not verify is at least "review", even when nothing else
/// scores: its origin cannot be established (one byte of a stored resource changed).
#[test]
fn a_signature_that_does_not_verify_is_never_acceptable() {
    let path = apk_fixtures::fixture("risk_benign");
    let mut data = std::fs::read(&path).unwrap();
    let utf8 = b"example.org/privacy".to_vec();
    let utf16: Vec<u8> = "example.org/privacy"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let at = [utf8, utf16]
        .iter()
        .find_map(|n| data.windows(n.len()).position(|w| w == &n[..]))
        .expect("the stored resource string");
    data[at] ^= 0x01;
    let options = Options {
        risk: Some(RiskConfig::default()),
        ..Options::default()
    };
    let a = assess("tampered", &data, &options).unwrap();
    assert_eq!(a.signing.as_ref().map(|s| s.verified), Some(false));
    let risk = a.risk.as_ref().unwrap();
    assert!(risk.score < risk.thresholds.review, "{:?}", risk.factors);
    assert_eq!(risk.verdict, "review", "{:?}", risk.factors);
    let f = risk
        .factors
        .iter()
        .find(|f| f.id == "signature_not_verified")
        .unwrap();
    assert!(f.title.contains("at least \"review\""), "{}", f.title);
}

#[test]
fn benign_app_has_no_capability_tracker_or_vendor() {
    let a = assess_risk("risk_benign", &["CN", "RU"]);
    assert!(capability_ids(&a).is_empty(), "{:?}", a.capabilities);
    assert!(tracker_ids(&a).is_empty(), "{:?}", a.trackers);
    assert!(a.vendor.is_none());
    let values: Vec<&str> = a
        .endpoints
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| e.value.as_str())
        .collect();
    assert_eq!(values, vec!["https://www.example.org/privacy"]);
    let privacy = &a.endpoints.as_ref().unwrap()[0];
    assert_eq!(
        (privacy.source.as_str(), privacy.also_in.as_slice()),
        ("classes.dex", &["resources.arsc".to_owned()][..])
    );
    let risk = a.risk.as_ref().unwrap();
    assert_eq!(
        (risk.score, risk.verdict),
        (0, "acceptable"),
        "{:?}",
        risk.factors
    );
    let private = risk
        .permissions
        .iter()
        .find(|p| p.name == "com.example.benign.PRIVATE")
        .unwrap();
    assert_eq!(
        (private.protection_level.as_str(), private.defined_by),
        ("signature", "app")
    );
}

#[test]
fn each_tracker_category_is_detected() {
    let a = assess_risk("risk_trackers_categories", &[]);
    assert_eq!(
        tracker_ids(&a),
        BTreeSet::from([2, 44, 77, 90, 207, 305, 344])
    );
    let cats: BTreeSet<String> = a
        .trackers
        .as_ref()
        .unwrap()
        .iter()
        .flat_map(|t| t.categories.clone())
        .collect();
    for c in [
        "Analytics",
        "Advertisement",
        "Location",
        "Profiling",
        "Identification",
        "Crash reporting",
    ] {
        assert!(cats.contains(c), "{c} missing from {cats:?}");
    }
    let t = |id: u32| {
        a.trackers
            .as_ref()
            .unwrap()
            .iter()
            .find(|t| t.id == id)
            .unwrap()
    };
    // Inner classes are cut at `$` like Exodus does, so Pollfish$Builder adds nothing.
    let pollfish = &t(305).evidence[0];
    assert_eq!(
        (pollfish.kind, pollfish.pattern.as_str(), pollfish.count),
        ("code", "com.pollfish", 1)
    );
    assert_eq!(pollfish.matched, vec!["com.pollfish.Pollfish".to_owned()]);
    // OpenLocate only through its network signature.
    let ol = &t(44).evidence;
    assert_eq!(ol.len(), 1);
    assert_eq!(
        (ol[0].kind, ol[0].matched[0].as_str()),
        ("network", "api.safegraph.com")
    );
    // Bugsnag has no network signature in the database: its URL is an endpoint, not tracker evidence.
    let kinds: BTreeSet<&str> = t(207).evidence.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, BTreeSet::from(["code"]));
    let names: Vec<&str> = a
        .risk
        .as_ref()
        .unwrap()
        .factors
        .iter()
        .map(|f| f.id.as_str())
        .collect();
    assert!(
        names.contains(&"trackers") && names.contains(&"trackers_profiling"),
        "{names:?}"
    );
}

#[test]
fn tracker_fixture_matches_exodus_names_and_endpoints_are_sourced() {
    let a = assess_risk("trackers", &[]);
    let names: Vec<&str> = a
        .trackers
        .as_ref()
        .unwrap()
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    for n in ["AppsFlyer", "Facebook Ads", "Google Firebase Analytics"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    // Exodus semantics: AdMob's signature lists AdView, AdActivity, AdRequest, ... but not MobileAds.
    assert!(!names.contains(&"Google AdMob"), "{names:?}");
    // `https://graph.facebook.com` matches the network signature `\.facebook\.com` that several Facebook
    // SDKs share; those are reported as network-only evidence.
    let fb_login = a
        .trackers
        .as_ref()
        .unwrap()
        .iter()
        .find(|t| t.name == "Facebook Login")
        .unwrap();
    assert!(fb_login.evidence.iter().all(|e| e.kind == "network"));
    let eps = a.endpoints.as_ref().unwrap();
    let find = |v: &str| {
        eps.iter()
            .find(|e| e.value == v)
            .unwrap_or_else(|| panic!("{v} missing: {eps:?}"))
    };
    assert_eq!(find("https://api.example.com/v1").host, "api.example.com");
    assert_eq!(find("https://api.example.com/v1").source, "classes.dex");
    assert!(find("http://tracking.example.org/collect?id=1").cleartext);
    assert_eq!(find("10.0.0.1").kind, "ip");
    assert_eq!(find("192.168.1.254:8080").host, "192.168.1.254");
    assert!(
        !eps.iter().any(|e| e.value.contains('@')),
        "an e-mail address is not an endpoint"
    );
    let nsc = assess_risk("cleartext_nsc", &[]);
    let d = nsc
        .endpoints
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.value == "insecure.example.com")
        .unwrap();
    assert_eq!(d.source, "network_security_config (res/xml/nsc.xml)");
}

#[test]
fn vendor_attribution_and_jurisdiction_of_concern() {
    let a = assess_risk("risk_vendor_wechat", &["CN", "RU"]);
    let v = a.vendor.as_ref().unwrap();
    assert_eq!(
        (
            v.name.as_str(),
            v.country.as_str(),
            v.matched_by,
            v.of_concern
        ),
        ("Tencent", "CN", "package", true)
    );
    let risk = a.risk.as_ref().unwrap();
    assert_eq!(risk.factors[0].id, "vendor_jurisdiction");
    assert_eq!(risk.verdict, "unacceptable");
    // Jurisdictions are configuration: without CN the same app is not unacceptable for its vendor.
    let b = assess_risk("risk_vendor_wechat", &["RU"]);
    assert!(!b.vendor.as_ref().unwrap().of_concern);
    assert!(b
        .risk
        .as_ref()
        .unwrap()
        .factors
        .iter()
        .all(|f| f.id != "vendor_jurisdiction"));
    assert_ne!(b.risk.as_ref().unwrap().verdict, "unacceptable");
    // Tencent's own trackers are in its code.
    assert!(tracker_ids(&a).contains(&116), "{:?}", tracker_ids(&a));
}

#[test]
fn risk_is_off_by_default_and_absent_from_json() {
    let path = apk_fixtures::fixture("risk_benign");
    let a = assess("x", &std::fs::read(path).unwrap(), &Options::default()).unwrap();
    assert!(a.risk.is_none() && a.capabilities.is_none());
    let json = serde_json::to_value(&a).unwrap();
    for k in ["capabilities", "trackers", "endpoints", "vendor", "risk"] {
        assert!(json.get(k).is_none(), "{k}");
    }
}

/// The risk part of the JSON report, stable across builds (no paths or hashes).
fn risk_json(a: &Assessment) -> serde_json::Value {
    let j = serde_json::to_value(a).unwrap();
    serde_json::json!({
        "capabilities": j["capabilities"],
        "trackers": j["trackers"],
        "endpoints": j["endpoints"],
        "vendor": j.get("vendor"),
        "risk": j["risk"],
    })
}

#[test]
fn json_snapshots() {
    for (name, concern) in [
        ("risk_capabilities", &[][..]),
        ("risk_benign", &["CN", "RU"][..]),
        ("risk_trackers_categories", &[][..]),
        ("risk_vendor_wechat", &["CN", "RU"][..]),
        ("device_admin", &[][..]),
    ] {
        let a = assess_risk(name, concern);
        insta::assert_json_snapshot!(name, risk_json(&a));
    }
}

#[test]
fn every_builtin_code_signature_is_detected() {
    // One class per signature alternative (see testdata/fixtures/risk_all_trackers.toml; alternatives with a
    // `-` are left out because the fixture builder refuses it in class names).
    let records = apk_analysis::risk::trackers::builtin_records();
    let expected: BTreeSet<u32> = records
        .iter()
        .filter(|r| r.code_signature.chars().count() > 3)
        .filter(|r| r.code_signature.split('|').any(|alt| !alt.contains('-')))
        .map(|r| r.id)
        .collect();
    let a = assess_risk("risk_all_trackers", &[]);
    let found = tracker_ids(&a);
    let missing: Vec<&u32> = expected.difference(&found).collect();
    assert!(missing.is_empty(), "not detected: {missing:?}");
    // Nothing is found that has no code signature (no network signature matched: there are no endpoints).
    assert!(
        found.is_subset(&expected),
        "{:?}",
        found.difference(&expected).collect::<Vec<_>>()
    );
    assert!(expected.len() > 420, "{}", expected.len());
}

#[test]
fn corrupted_apks_never_panic_risk_analysis() {
    // Deterministic byte flips over a fixture rich in manifest, resource and DEX content: every result is
    // fine (report or error) except a panic.
    let path = apk_fixtures::fixture("risk_capabilities");
    let original = std::fs::read(path).unwrap();
    let options = Options {
        risk: Some(RiskConfig::default()),
        ..Options::default()
    };
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for round in 0..300 {
        let mut data = original.clone();
        for _ in 0..(1 + round % 8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state % data.len() as u64) as usize;
            data[at] = (state >> 32) as u8;
        }
        let _ = assess("mutated", &data, &options);
    }
}
