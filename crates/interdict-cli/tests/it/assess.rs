//! `interdict assess` as a user runs it: the real binary on real fixture APKs.

// Tests fail by panicking: unwrap on a broken fixture is the clearest message.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn interdict(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(args)
        .output()
        .expect("run interdict")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("interdict-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn json_report_has_the_v1_fields() {
    let apk = apk_fixtures::fixture("components_target30");
    let out = interdict(&["assess", "--format", "json", s(&apk)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &v.as_array().unwrap()[0];
    assert_eq!(r["schema"], "interdict.assessment/v1");
    for key in ["path", "size", "sha256"] {
        assert!(!r["file"][key].is_null(), "file.{key}");
    }
    assert_eq!(r["file"]["sha256"].as_str().unwrap().len(), 64);
    for key in [
        "package",
        "version_code",
        "version_name",
        "min_sdk",
        "target_sdk",
        "label",
    ] {
        assert!(r["app"].get(key).is_some(), "app.{key}");
    }
    assert!(r["permissions"][0].get("max_sdk").is_some());
    let c = &r["components"][0];
    for key in ["kind", "name", "exported", "permission", "actions"] {
        assert!(c.get(key).is_some(), "components[].{key}");
    }
    for key in ["files", "classes", "strings"] {
        assert!(r["dex"].get(key).is_some(), "dex.{key}");
    }
    assert!(r["native_libs"].is_array() && r["anomalies"].is_array());
}

#[test]
fn a_bad_file_does_not_stop_the_batch() {
    let dir = scratch("batch");
    let good = apk_fixtures::fixture("minimal_nocode");
    std::fs::copy(&good, dir.join("a-good.apk")).unwrap();
    std::fs::write(dir.join("b-garbage.apk"), b"this is not a zip file at all").unwrap();
    std::fs::write(dir.join("c-notes.txt"), b"ignored: not *.apk").unwrap();
    let sub = dir.join("nested");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(apk_fixtures::fixture("unsigned"), sub.join("d-good.apk")).unwrap();
    let missing = dir.join("missing.apk");

    let out = interdict(&[
        "assess",
        "--format",
        "jsonl",
        "--jobs",
        "2",
        s(&dir),
        s(&missing),
    ]);
    assert_eq!(out.status.code(), Some(2), "any unreadable input exits 2");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        4,
        "three APKs found recursively, plus the missing path"
    );
    assert!(lines[0]["file"]["path"]
        .as_str()
        .unwrap()
        .ends_with("a-good.apk"));
    assert_eq!(lines[0]["app"]["package"], "com.example.minimal");
    assert_eq!(lines[1]["error"]["code"], "not_a_zip");
    assert_eq!(lines[1]["schema"], "interdict.assessment/v1");
    assert!(!lines[1]["error"]["message"].as_str().unwrap().is_empty());
    assert_eq!(lines[2]["app"]["package"], "com.example.unsigned");
    assert_eq!(lines[3]["error"]["code"], "unreadable");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn all_good_exits_zero_and_output_file_is_written() {
    let dir = scratch("output");
    let report = dir.join("report.json");
    let apk = apk_fixtures::fixture("trackers");
    let out = interdict(&[
        "assess",
        "--format",
        "json",
        "--output",
        s(&report),
        s(&apk),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(v[0]["app"]["package"], "com.example.trackers");
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn text_summary_and_limits_flags() {
    let apk = apk_fixtures::fixture("multidex");
    let out = interdict(&["assess", s(&apk)]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("com.example.multidex") || text.contains("package"),
        "{text}"
    );
    assert!(text.contains("2 dex"), "{text}");
    // A per-entry limit below the DEX size is a typed, explained error.
    let out = interdict(&[
        "assess",
        "--format",
        "jsonl",
        "--max-entry-size",
        "1000",
        s(&apk),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "limit_exceeded");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--max-entry-size"),
        "{v}"
    );
}

#[test]
fn help_teaches() {
    let out = interdict(&["assess", "--help"]);
    let help = String::from_utf8(out.stdout).unwrap();
    for word in ["--format", "--jobs", "--output", "Examples", "Exit status"] {
        assert!(help.contains(word), "--help lacks {word}");
    }
}

/// `--policy FILE` judges as the policy does: its `jurisdictions_of_concern` drive the vendor
/// factor (WeChat's vendor is of concern under the Canadian policy, which names CN).
#[test]
fn the_policys_jurisdictions_of_concern_drive_the_vendor_factor() {
    let apk = apk_fixtures::fixture("risk_vendor_wechat");
    let policy =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/canada-gc-mobile-v2.toml");
    let report = |extra: &[&str]| {
        let mut args = vec!["assess", "--format", "json"];
        args.extend_from_slice(extra);
        args.push(s(&apk));
        let out = interdict(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v[0].clone()
    };
    let without = report(&[]);
    assert_eq!(
        without["vendor"]["of_concern"], false,
        "{}",
        without["vendor"]
    );
    let with = report(&["--policy", s(&policy)]);
    assert_eq!(with["vendor"]["of_concern"], true, "{}", with["vendor"]);
    assert_eq!(with["risk"]["factors"][0]["id"], "vendor_jurisdiction");
    assert_eq!(with["risk"]["verdict"], "unacceptable");
    let bad = interdict(&["assess", "--policy", "/nonexistent/p.toml", s(&apk)]);
    assert_ne!(bad.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/nonexistent/p.toml"));
}
