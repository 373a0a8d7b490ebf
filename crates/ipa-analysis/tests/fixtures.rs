//! IPAs built by `ipa-fixtures` (clang-14, ld64.lld-14, openssl; see testdata/ipa/*.toml): each report states
//! what the fixture was built with.

#![allow(clippy::unwrap_used)]

use ipa_analysis::{assess, IpaAssessment, Options, RiskConfig};

fn options() -> Options {
    Options {
        risk: Some(RiskConfig {
            concern: vec!["CN".into(), "RU".into()],
            ..RiskConfig::default()
        }),
        ..Options::default()
    }
}

fn run(name: &str) -> IpaAssessment {
    let path = ipa_fixtures::build(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let data = std::fs::read(&path).unwrap();
    assert!(ipa_analysis::is_ipa(&data), "{name}");
    assess(name, &data, &options()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn cap_ids(a: &IpaAssessment) -> Vec<&str> {
    a.capabilities
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect()
}

fn tracker_names(a: &IpaAssessment) -> Vec<&str> {
    a.trackers
        .as_ref()
        .unwrap()
        .iter()
        .map(|t| t.name.as_str())
        .collect()
}

fn factor(a: &IpaAssessment, id: &str) -> bool {
    a.risk.as_ref().unwrap().factors.iter().any(|f| f.id == id)
}

#[test]
fn baseline() {
    let a = run("baseline");
    let j = serde_json::to_value(&a).unwrap();
    assert_eq!(j["schema"], "interdict.assessment/v1");
    assert_eq!(j["platform"], "ios");
    assert_eq!(a.app.bundle_id, "com.example.baseline");
    assert_eq!(a.app.version.as_deref(), Some("1.2.3"));
    assert_eq!(a.app.build.as_deref(), Some("45"));
    assert_eq!(a.app.minimum_os.as_deref(), Some("14.0"));
    assert_eq!(a.app.device_family, ["iphone", "ipad"]);
    assert_eq!(a.info.format, "xml");
    let keys: Vec<&str> = a
        .info
        .usage_descriptions
        .iter()
        .map(|u| u.key.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "NSCameraUsageDescription",
            "NSContactsUsageDescription",
            "NSLocationWhenInUseUsageDescription"
        ]
    );
    assert!(a.info.ats.allows_arbitrary_loads);
    let ex = &a.info.ats.exception_domains[0];
    assert_eq!(
        (
            ex.domain.as_str(),
            ex.allows_insecure_http,
            ex.includes_subdomains
        ),
        ("legacy.example.org", true, true)
    );
    assert_eq!(a.info.url_schemes, ["baseline"]);
    assert_eq!(a.info.queried_schemes, ["weixin", "fb"]);
    let s = a.signing.as_ref().unwrap();
    assert!(s.signed);
    assert_eq!(s.team_id.as_deref(), Some("ABCDE12345"));
    assert_eq!(s.identifier.as_deref(), Some("com.example.baseline"));
    assert_eq!(s.hash_type, Some("sha256"));
    assert_eq!(s.entitlements["aps-environment"], "production");
    assert_eq!(s.entitlement_blobs, ["xml"]);
    let c = s.certificate.as_ref().unwrap();
    assert_eq!(c.team_id.as_deref(), Some("ABCDE12345"));
    assert!(
        c.self_signed
            && c.subject
                .contains("CN=Apple Development: Fixture Developer (ABCDE12345)")
    );
    assert_eq!(s.chain, "not_verified");
    assert!(a.code_analysed);
    let bin = &a.binaries[0];
    assert_eq!(bin.path, "Payload/Baseline.app/Baseline");
    let sl = &bin.slices[0];
    assert_eq!(
        (sl.arch.as_str(), sl.platform.as_deref(), sl.cryptid),
        ("arm64", Some("ios"), Some(0))
    );
    assert!(sl.objc_classes.contains(&"CLLocationManager".to_owned()));
    assert_eq!(sl.rpaths, ["@executable_path/Frameworks"]);
    let caps = cap_ids(&a);
    for c in ["camera", "contacts", "location"] {
        assert!(caps.contains(&c), "{caps:?}");
    }
    let eps: Vec<&str> = a
        .endpoints
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| e.host.as_str())
        .collect();
    for h in ["api.example.com", "cdn.example.net", "legacy.example.org"] {
        assert!(eps.contains(&h), "{eps:?}");
    }
    assert!(factor(&a, "ats_weakened"));
    assert!(a.vendor.is_none());
    assert_eq!(a.bundle_ids, ["com.example.baseline"]);
}

#[test]
fn trackers_and_contradicting_manifest() {
    let a = run("trackers");
    assert_eq!(a.info.format, "binary");
    let names = tracker_names(&a);
    for t in [
        "Facebook SDK / Audience Network",
        "AppsFlyer",
        "Google AdMob",
        "Apple advertising identifier (AdSupport)",
    ] {
        assert!(names.contains(&t), "{names:?}");
    }
    let fb = a
        .trackers
        .as_ref()
        .unwrap()
        .iter()
        .find(|t| t.id == 100001)
        .unwrap();
    let kinds: Vec<&str> = fb.evidence.iter().map(|e| e.kind).collect();
    assert!(
        kinds.contains(&"code") && kinds.contains(&"skadnetwork"),
        "{kinds:?}"
    );
    assert_eq!(
        a.info.skadnetwork_ids,
        ["cstr6suwn9.skadnetwork", "v9wttpbfk9.skadnetwork"]
    );
    assert_eq!(a.privacy_manifests.len(), 2);
    let root = a
        .privacy_manifests
        .iter()
        .find(|m| m.path == "Payload/Trackers.app/PrivacyInfo.xcprivacy")
        .unwrap();
    assert_eq!(root.tracking, Some(false));
    assert_eq!(
        root.collected_data_types,
        ["NSPrivacyCollectedDataTypeDeviceID"]
    );
    assert_eq!(
        root.accessed_api_types,
        ["NSPrivacyAccessedAPICategoryUserDefaults: CA92.1"]
    );
    assert!(
        a.privacy_contradictions
            .iter()
            .any(|c| c.contains("AdSupport is linked")),
        "{:?}",
        a.privacy_contradictions
    );
    assert!(factor(&a, "privacy_manifest_contradiction"));
    let caps = cap_ids(&a);
    for c in ["tracking_idfa", "background_location", "location_always"] {
        assert!(caps.contains(&c), "{caps:?}");
    }
    let dylibs: Vec<(&str, &str)> = a.binaries[0].slices[0]
        .dylibs
        .iter()
        .map(|d| (d.name.as_str(), d.kind))
        .collect();
    assert!(dylibs.contains(&(
        "/System/Library/Frameworks/AppTrackingTransparency.framework/AppTrackingTransparency",
        "weak"
    )));
    assert!(dylibs.contains(&("@rpath/FBSDKCoreKit.framework/FBSDKCoreKit", "load")));
    let fws: Vec<&str> = a
        .bundles
        .iter()
        .filter(|b| b.kind == "framework")
        .filter_map(|b| b.bundle_id.as_deref())
        .collect();
    assert_eq!(
        fws,
        ["com.appsflyer.AppsFlyerLib", "org.cocoapods.FBSDKCoreKit"]
    );
    // Frameworks are not MDM-blockable bundle ids.
    assert_eq!(a.bundle_ids, ["com.example.trackers"]);
}

#[test]
fn keyboard_and_packet_tunnel_extensions() {
    let a = run("extensions");
    assert_eq!(
        a.bundle_ids,
        [
            "com.example.keysvpn",
            "com.example.keysvpn.keyboard",
            "com.example.keysvpn.tunnel"
        ]
    );
    let kb = a
        .bundles
        .iter()
        .find(|b| b.bundle_id.as_deref() == Some("com.example.keysvpn.keyboard"))
        .unwrap();
    assert_eq!(
        (
            kb.kind,
            kb.extension_point.as_deref(),
            kb.requests_open_access
        ),
        ("app_extension", Some("com.apple.keyboard-service"), true)
    );
    let caps = a.capabilities.as_ref().unwrap();
    let kfa = caps
        .iter()
        .find(|c| c.id == "keyboard_full_access")
        .unwrap();
    assert!(kfa.evidence[0].contains("Keyboard.appex"));
    let ne = caps.iter().find(|c| c.id == "network_extension").unwrap();
    // Joined from the entitlement (app and tunnel) and the extension point.
    assert!(ne
        .evidence
        .iter()
        .any(|e| e.starts_with("entitlement com.apple.developer.networking.networkextension")));
    assert!(ne
        .evidence
        .iter()
        .any(|e| e.contains("com.apple.networkextension.packet-tunnel")));
    assert!(ne
        .evidence
        .iter()
        .any(|e| e.contains("Tunnel.appex/Tunnel")));
    assert_eq!(a.risk.as_ref().unwrap().verdict, "unacceptable");
}

#[test]
fn enterprise_profile_ber() {
    let a = run("enterprise");
    let p = a.provisioning_profile.as_ref().unwrap();
    assert_eq!(p.encoding, "ber_indefinite");
    assert!(p.provisions_all_devices);
    assert_eq!(p.kind, "enterprise");
    assert_eq!(p.team_id.as_deref(), Some("ENTTEAM123"));
    assert_eq!(p.app_id.as_deref(), Some("ENTTEAM123.com.corp.inhouse"));
    assert_eq!(p.expiration.as_deref(), Some("2030-01-01T00:00:00Z"));
    assert_eq!(p.name.as_deref(), Some("InHouse Profile"));
    assert!(p.signer.as_ref().unwrap().subject.contains("OU=ENTTEAM123"));
    assert_eq!(a.signing.as_ref().unwrap().distribution, "enterprise");
    assert!(factor(&a, "enterprise_distribution"));
}

#[test]
fn adhoc_profile_der() {
    let a = run("adhoc");
    let p = a.provisioning_profile.as_ref().unwrap();
    assert_eq!(
        (
            p.encoding,
            p.kind,
            p.provisioned_devices,
            p.provisions_all_devices
        ),
        ("der", "ad_hoc", 3, false)
    );
}

#[test]
fn app_store_encrypted_says_code_not_analysed() {
    let a = run("appstore");
    assert!(!a.code_analysed);
    assert!(a
        .code_note
        .as_deref()
        .unwrap()
        .starts_with("code not analysed"));
    assert_eq!(a.binaries[0].slices[0].cryptid, Some(1));
    // Strings in the encrypted range are not read, but imports (LINKEDIT) still are.
    assert!(a
        .endpoints
        .as_ref()
        .unwrap()
        .iter()
        .all(|e| e.host != "hidden.example.com"));
    assert!(tracker_names(&a).contains(&"Apple advertising identifier (AdSupport)"));
    assert!(factor(&a, "code_not_analysed"));
    let m = a.itunes_metadata.as_ref().unwrap();
    assert_eq!(
        (m.artist_name.as_deref(), m.artist_id),
        (Some("Example Store Inc."), Some(284882218))
    );
    assert!(a.provisioning_profile.is_none());
    assert_eq!(a.signing.as_ref().unwrap().distribution, "app_store");
}

#[test]
fn fat_binary() {
    let a = run("fat");
    let b = &a.binaries[0];
    assert!(b.fat);
    let mut arches: Vec<(&str, Option<&str>)> = b
        .slices
        .iter()
        .map(|s| (s.arch.as_str(), s.platform.as_deref()))
        .collect();
    arches.sort();
    assert_eq!(
        arches,
        [("arm64", Some("ios")), ("x86_64", Some("ios-simulator"))]
    );
    for s in &b.slices {
        assert_eq!(
            s.code_directory.as_ref().unwrap().team_id.as_deref(),
            Some("FATTEAM123")
        );
        assert!(s.objc_classes.contains(&"CNContactStore".to_owned()));
    }
    assert_ne!(
        b.slices[0].code_directory.as_ref().unwrap().cdhash,
        b.slices[1].code_directory.as_ref().unwrap().cdhash
    );
}

#[test]
fn wechat_vendor_by_team_id() {
    let a = run("wechat");
    let v = a.vendor.as_ref().unwrap();
    assert_eq!(
        (
            v.name.as_str(),
            v.matched_by,
            v.matched_value.as_str(),
            v.of_concern
        ),
        ("Tencent", "team_id", "88L2Q4487U", true)
    );
    assert_eq!(
        a.bundle_ids,
        [
            "com.tencent.xin",
            "com.tencent.xin.sharetimeline",
            "com.tencent.xin.widget"
        ]
    );
    assert!(tracker_names(&a).contains(&"Tencent Bugly"));
    assert!(factor(&a, "vendor_jurisdiction"));
    assert_eq!(a.risk.as_ref().unwrap().verdict, "unacceptable");
}
