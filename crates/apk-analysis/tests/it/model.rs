//! The manifest model on fixtures whose specs state the expected facts.

use apk_analysis::Assessment;

use crate::assess_file;

fn fixture(name: &str) -> Assessment {
    assess_file(&apk_fixtures::fixture(name))
}

fn component<'a>(r: &'a Assessment, name: &str) -> &'a apk_analysis::report::Component {
    r.components
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no component {name} in {:?}", r.components))
}

#[test]
fn exported_explicit_implied_and_default() {
    let r = fixture("components_target31");
    let p = "com.example.components31";
    let c = |n: &str| component(&r, &format!("{p}.{n}"));
    assert!(c("MainActivity").exported && c("MainActivity").exported_reason == "explicit");
    assert!(c("DeepLinkActivity").exported);
    assert_eq!(c("DeepLinkActivity").exported_reason, "intent_filter");
    assert_eq!(c("DeepLinkActivity").data_schemes, ["https", "exampleapp"]);
    assert_eq!(
        c("DeepLinkActivity").data_hosts,
        ["app.example.com", "callback"]
    );
    assert_eq!(
        c("DeepLinkActivity").categories,
        [
            "android.intent.category.DEFAULT",
            "android.intent.category.BROWSABLE"
        ]
    );
    assert!(!c("InternalActivity").exported);
    assert!(!c("PlainActivity").exported && c("PlainActivity").exported_reason == "default");
    assert_eq!(c("LauncherAlias").kind, "activity-alias");
    assert!(!c("LauncherAlias").enabled);
    assert_eq!(
        c("LauncherAlias").target_activity.as_deref(),
        Some("com.example.components31.MainActivity")
    );
    assert_eq!(
        c("SyncService").permission.as_deref(),
        Some("com.example.components31.PROVIDER_ACCESS")
    );
    assert!(c("ImplicitService").exported);
    assert_eq!(
        c("BootReceiver").actions,
        [
            "android.intent.action.BOOT_COMPLETED",
            "android.provider.Telephony.SMS_RECEIVED"
        ]
    );
    assert_eq!(
        c("OpenProvider").authorities,
        ["com.example.components31.open"]
    );
    assert!(!c("PrivateProvider").exported);
    // Targeting 31 without android:exported on a component with filters: Android 12 refuses to install.
    let flagged = r
        .anomalies
        .iter()
        .filter(|a| a.code == "exported_not_declared")
        .count();
    assert_eq!(flagged, 4, "{:?}", r.anomalies);
    assert_eq!(r.declared_permissions[0].protection_level, "signature");
    let kinds: Vec<&str> = r.components.iter().map(|c| c.kind).collect();
    for k in [
        "activity",
        "activity-alias",
        "service",
        "receiver",
        "provider",
    ] {
        assert!(kinds.contains(&k), "{k} missing");
    }
}

#[test]
fn target30_does_not_flag_missing_exported() {
    let r = fixture("components_target30");
    assert!(r
        .anomalies
        .iter()
        .all(|a| a.code != "exported_not_declared"));
    assert!(r
        .components
        .iter()
        .any(|c| c.exported_reason == "intent_filter" && c.exported));
}

#[test]
fn flags_resolved_through_resources() {
    let r = fixture("debuggable_bool_ref");
    assert!(r.app.debuggable, "debuggable=@bool/dbg resolves to true");
    assert!(r.app.allow_backup);
    let r = fixture("allow_backup_false");
    assert!(!r.app.allow_backup);
    assert!(!r.app.debuggable);
}

#[test]
fn cleartext_and_network_security_config() {
    let r = fixture("cleartext_nsc");
    assert!(r.app.uses_cleartext_traffic);
    assert_eq!(r.app.network_security_config.as_deref(), Some("@xml/nsc"));
    // Target 30 without the attribute: Android's default forbids cleartext.
    let r = fixture("components_target30");
    assert!(!r.app.uses_cleartext_traffic);
}

#[test]
fn features_queries_and_meta_data() {
    let r = fixture("features_queries_metadata");
    let names: Vec<_> = r
        .features
        .iter()
        .filter_map(|f| f.name.as_deref())
        .collect();
    assert_eq!(
        names,
        [
            "android.hardware.camera",
            "android.hardware.nfc",
            "android.hardware.telephony"
        ]
    );
    assert!(!r.features[1].required);
    assert!(r
        .features
        .iter()
        .any(|f| f.gl_es_version.as_deref() == Some("2.0")));
    assert_eq!(
        r.queries.packages,
        ["com.whatsapp", "org.telegram.messenger"]
    );
    assert_eq!(r.queries.intent_actions, ["android.intent.action.SEND"]);
    let md = |n: &str| {
        r.meta_data
            .iter()
            .find(|m| m.name == n)
            .and_then(|m| m.value.clone())
    };
    assert_eq!(
        md("com.google.android.gms.version").as_deref(),
        Some("12451000")
    );
    assert_eq!(
        md("firebase_analytics_collection_enabled").as_deref(),
        Some("false")
    );
    assert_eq!(
        md("com.example.features.CONFIG").as_deref(),
        Some("@xml/config")
    );
}

#[test]
fn label_falls_back_to_a_locale() {
    let r = fixture("label_locale_only");
    assert_eq!(r.app.label.as_deref(), Some("Application en français"));
}

#[test]
fn native_libraries_and_hidden_code() {
    let r = fixture("native_two_abis");
    let mut abis: Vec<_> = r.native_libs.iter().map(|l| l.abi.as_str()).collect();
    abis.dedup();
    assert!(abis.len() >= 2, "{:?}", r.native_libs);
    assert!(r
        .native_libs
        .iter()
        .all(|l| l.name.ends_with(".so") && l.size > 0));
    let r = fixture("hidden_dex_nested_apk");
    let kinds: Vec<_> = r.embedded.iter().map(|e| e.kind).collect();
    assert!(
        kinds.contains(&"dex") && kinds.contains(&"apk"),
        "{:?}",
        r.embedded
    );
    assert!(
        r.embedded
            .iter()
            .any(|e| e.path.ends_with("logo.png") && e.kind == "dex"),
        "a stored DEX disguised as an image is found by its magic: {:?}",
        r.embedded
    );
}

#[test]
fn multidex_is_read_in_art_order() {
    let r = fixture("multidex");
    let names: Vec<_> = r.dex.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["classes.dex", "classes2.dex"]);
    assert_eq!(
        r.dex.classes,
        r.dex.files.iter().map(|f| f.classes).sum::<u64>()
    );
    assert!(r.dex.classes >= 60_000);
}

#[test]
fn signing_section_agrees_with_apksigner() {
    for name in [
        "signed_all_ec",
        "signed_v1_only",
        "signed_v2_only",
        "signed_v3_only",
        "signed_dsa",
    ] {
        let path = apk_fixtures::fixture(name);
        let r = assess_file(&path);
        let sig = r.signing.as_ref().expect("signing is on by default");
        assert!(sig.verified, "{name}: {:?}", sig.errors);
        let out = crate::tool(
            "apksigner",
            &["verify", "--print-certs", path.to_str().unwrap()],
        );
        let expected = out
            .lines()
            .find_map(|l| l.strip_prefix("Signer #1 certificate SHA-256 digest: "))
            .unwrap()
            .trim();
        assert!(
            sig.signers.iter().any(|s| s.sha256 == expected),
            "{name}: signer {expected} not among {:?}",
            sig.signers.iter().map(|s| &s.sha256).collect::<Vec<_>>()
        );
    }
    let r = fixture("unsigned");
    let sig = r.signing.as_ref().unwrap();
    assert!(!sig.verified && sig.signers.is_empty());
    assert!(
        sig.errors.iter().any(|e| e.code == "JAR_SIG_NO_MANIFEST"),
        "{:?}",
        sig.errors
    );
    assert!(!sig.schemes.v1.present && !sig.schemes.v2.present);
}
