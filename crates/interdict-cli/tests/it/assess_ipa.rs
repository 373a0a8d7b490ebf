//! `interdict assess` on IPAs, and on a directory holding both kinds.

use std::process::Command;

#[test]
fn assess_directory_with_apk_and_ipa() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(ipa_fixtures::build("extensions").unwrap(), dir.path().join("keys.ipa")).unwrap();
    std::fs::copy(apk_fixtures::fixture("risk_benign"), dir.path().join("benign.apk")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["assess", "--format", "json", "--no-progress"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reports = v.as_array().unwrap();
    assert_eq!(reports.len(), 2);
    let ipa = reports.iter().find(|r| r["platform"] == "ios").unwrap();
    assert_eq!(ipa["schema"], "interdict.assessment/v1");
    assert_eq!(ipa["app"]["bundle_id"], "com.example.keysvpn");
    assert!(reports.iter().any(|r| r["app"]["package"].is_string()));

    // Text and HTML.
    let ipa_path = dir.path().join("keys.ipa");
    let text = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["assess", "--no-progress"])
        .arg(&ipa_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("com.example.keysvpn.keyboard"), "{text}");
    assert!(text.contains("team KVPNTEAM12"), "{text}");
    let html = dir.path().join("r.html");
    let st = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["assess", "--no-progress", "--format", "html", "-o"])
        .arg(&html)
        .arg(&ipa_path)
        .status()
        .unwrap();
    assert!(st.success());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Custom keyboard with Full Access") && page.contains("com.example.keysvpn.tunnel"));
}

#[test]
fn hostile_ipa_is_an_error_object_with_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["assess", "--format", "json", "--no-progress"])
        .arg(ipa_fixtures::build("hostile-cyclic_info_plist").unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["error"]["code"], "bad_info_plist");
}
