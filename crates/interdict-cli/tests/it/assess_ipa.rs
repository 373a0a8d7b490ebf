//! `interdict assess` on IPAs, and on a directory holding both kinds.

#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn assess_directory_with_apk_and_ipa() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        ipa_fixtures::build("extensions").unwrap(),
        dir.path().join("keys.ipa"),
    )
    .unwrap();
    std::fs::copy(
        apk_fixtures::fixture("risk_benign"),
        dir.path().join("benign.apk"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["assess", "--format", "json", "--no-progress"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    assert!(
        page.contains("Custom keyboard with Full Access")
            && page.contains("com.example.keysvpn.tunnel")
    );
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

/// Done-when: a rule on `com.tencent.xin` plus a Team ID rule, end to end. The assessment names the vendor,
/// and the Apple export blocks every bundle id the IPA contains.
#[test]
fn wechat_rule_and_team_id_rule_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("wechat.json");
    let st = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args([
            "assess",
            "--format",
            "json",
            "--no-progress",
            "--concern",
            "CN",
            "-o",
        ])
        .arg(&report)
        .arg(ipa_fixtures::build("wechat").unwrap())
        .status()
        .unwrap();
    assert!(st.success());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(v[0]["vendor"]["name"], "Tencent");
    assert_eq!(v[0]["vendor"]["matched_by"], "team_id");
    let ids: Vec<&str> = v[0]["bundle_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);

    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        r#"[policy]
name = "gc-mobile"
version = 1
mode = "denylist"

[[rules]]
id = "wechat"
action = "prohibit"
app_ids = ["com.tencent.xin"]
platforms = ["ios"]
authority = "TBS 2023-10-30"

[[rules]]
id = "tencent-team"
action = "prohibit"
team_ids = ["88L2Q4487U"]
platforms = ["ios"]
authority = "TBS 2023-10-30"
"#,
    )
    .unwrap();
    let export = |with_report: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_interdict"));
        c.args(["policy", "export", "--to", "apple", "--policy"])
            .arg(&policy);
        if with_report {
            c.arg("--assessments").arg(&report);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (profile, _) = export(true);
    for id in &ids {
        assert!(
            profile.contains(&format!("<string>{id}</string>")),
            "{id} not blocked:\n{profile}"
        );
    }
    // Without the assessment only the listed id is exported, and the Team ID rule says why.
    let (profile, warnings) = export(false);
    assert!(profile.contains("<string>com.tencent.xin</string>"));
    assert!(!profile.contains("com.tencent.xin.widget"));
    assert!(warnings.contains("cannot match by Team ID"), "{warnings}");
}

#[test]
fn assess_ipa_reports_the_signer_chain() {
    // The chain fixture's test root is not an Apple root: the CLI (which adds no extra anchor) says so, with the
    // path it built; the JSON carries the per-step results and DER entitlements are decoded.
    let ipa = ipa_fixtures::build("chain").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["assess", "--format", "json", "--no-progress"])
        .arg(&ipa)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    let s = &v["signing"];
    assert_eq!(s["chain"], "not_verified");
    assert!(s["chain_note"]
        .as_str()
        .unwrap()
        .starts_with("chains to a root that is not Apple's"));
    assert_eq!(s["chain_path"].as_array().unwrap().len(), 3);
    assert_eq!(s["signer_signature_verified"], true);
    assert_eq!(s["message_digest_verified"], true);
    assert_eq!(s["entitlement_blobs"], serde_json::json!(["xml", "der"]));
    assert_eq!(v["provisioning_profile"]["signer_chain"], "not_verified");
    let text = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["assess", "--no-progress"])
        .arg(&ipa)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("chain     chains to a root that is not Apple's")
            && text.contains(
                "CN=Interdict Test Root CA, OU=Fixtures, O=Interdict Test, C=US (cms, sha256 "
            ),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("r.html");
    let st = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["assess", "--no-progress", "--format", "html", "-o"])
        .arg(&html)
        .arg(&ipa)
        .status()
        .unwrap();
    assert!(st.success());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("Signer chain") && page.contains("Interdict Test Developer Relations CA")
    );
}
