//! `interdict audit report`: from a real server's data directory, the report as of a past time
//! is the same file every time, whatever happened since; each issue is a `report.issued`
//! event (seen in an export) with the file's SHA-256; bad `--at` is refused.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::support::{call, init, serve, BIN};

const CANADA: &str = include_str!("../../../../examples/canada-gc-mobile-v2.toml");

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run interdict");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A time strictly in the past once this returns.
async fn instant() -> i64 {
    let t = storage::now_ms();
    while storage::now_ms() <= t {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    t
}

fn report(data: &Path, at: &str, extra: &[&str], out: &Path) -> (i32, String) {
    let d = data.display().to_string();
    let o = out.display().to_string();
    let mut args = vec!["audit", "report", "--data-dir", &d, "--at", at, "--out", &o];
    args.extend_from_slice(extra);
    let (code, _, err) = run(&args);
    (code, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_report_is_the_same_file_every_time() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let store = vec!["--data-dir".to_string(), data.display().to_string()];
    let (admin, secret) = init(&store);
    let (mut child, base) = serve(&store);
    let c = reqwest::Client::new();
    let (s, v) = call(
        &c,
        reqwest::Method::PUT,
        format!("{base}/api/v1/policy"),
        &admin,
        Value::String(CANADA.into()),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let mut tokens = Vec::new();
    for name in ["<script>alert(1)</script>", "b"] {
        let (s, v) = call(
            &c,
            reqwest::Method::POST,
            format!("{base}/api/v1/enroll"),
            "",
            json!({"enroll_secret": secret, "device": {"name": name, "platform": "android",
                   "serial": name, "ownership": "corporate", "groups": ["government-issued"]}}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        tokens.push(v["device_token"].as_str().expect("token").to_string());
    }
    let inv = |ids: &[&str]| json!({"inventory": {"apps": ids.iter().map(|i| json!({"id": i})).collect::<Vec<_>>()}});
    for t in &tokens {
        let (s, v) = call(
            &c,
            reqwest::Method::POST,
            format!("{base}/api/v1/checkin"),
            t,
            inv(&["com.tencent.mm"]),
        )
        .await;
        assert_eq!(s, 200, "{v}");
    }
    let t1 = storage::rfc3339_ms(instant().await);
    // Later history: device b removes the app.
    let (s, _) = call(
        &c,
        reqwest::Method::POST,
        format!("{base}/api/v1/checkin"),
        &tokens[1],
        inv(&["org.example"]),
    )
    .await;
    assert_eq!(s, 200);
    let t2 = storage::rfc3339_ms(instant().await);
    // Through the running server: the same bytes the data directory gives below.
    let f0 = tmp.path().join("r0.json");
    let (code, _, err) = run(&[
        "audit",
        "report",
        "--server",
        &base,
        "--token",
        &admin,
        "--at",
        &t1,
        "--out",
        &f0.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    child.kill().expect("kill serve");
    child.wait().expect("wait");

    let (f1, f2, f3) = (
        tmp.path().join("r1.json"),
        tmp.path().join("r2.json"),
        tmp.path().join("r3.json"),
    );
    let (code, err) = report(&data, &t1, &[], &f1);
    assert_eq!(code, 0, "{err}");
    let (code, err) = report(&data, &t1, &["--format", "json"], &f2);
    assert_eq!(code, 0, "{err}");
    let b1 = std::fs::read(&f1).expect("r1");
    assert_eq!(b1, std::fs::read(&f2).expect("r2"), "same --at, same bytes");
    assert_eq!(
        b1,
        std::fs::read(&f0).expect("r0"),
        "server and data directory agree"
    );
    let sha = storage::sha256_hex(&b1);
    assert!(err.contains(&sha), "{err}");
    let r1: Value = serde_json::from_slice(&b1).expect("json");
    assert_eq!(r1["summary"]["devices"], 2);
    assert_eq!(r1["summary"]["overdue"], 2);
    assert!(
        r1["ledger"]["checkpoint"]["note"].is_string(),
        "signed with ledger.key"
    );

    let (code, err) = report(&data, &t2, &[], &f3);
    assert_eq!(code, 0, "{err}");
    let r2: Value = serde_json::from_slice(&std::fs::read(&f3).expect("r3")).expect("json");
    assert_eq!(r2["summary"]["overdue"], 1);
    assert_eq!(r2["summary"]["compliant"], 1);

    // HTML: escaped, and the same twice.
    let (h1, h2) = (tmp.path().join("r1.html"), tmp.path().join("r2.html"));
    for h in [&h1, &h2] {
        let (code, err) = report(&data, &t1, &["--format", "html"], h);
        assert_eq!(code, 0, "{err}");
    }
    let html = std::fs::read_to_string(&h1).expect("html");
    assert_eq!(html, std::fs::read_to_string(&h2).expect("html"));
    assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"));

    // Each issue is in the ledger with its SHA-256.
    let bundle = tmp.path().join("bundle");
    let (code, _, err) = run(&[
        "audit",
        "export",
        "--data-dir",
        &data.display().to_string(),
        "--out",
        &bundle.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    let entries = std::fs::read_to_string(bundle.join("entries.jsonl")).expect("entries");
    let issued: Vec<Value> = entries
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["action"] == "report.issued")
        .collect();
    assert_eq!(
        issued.len(),
        6,
        "one by the server, three JSON and two HTML by the CLI"
    );
    let body = |e: &Value| -> Value {
        match &e["body"] {
            Value::String(s) => serde_json::from_str(s).expect("body"),
            other => other.clone(),
        }
    };
    for e in &issued[..3] {
        assert_eq!(body(e)["sha256"], sha.as_str());
    }
    assert_ne!(issued[0]["actor"], "cli");
    assert_eq!(issued[1]["actor"], "cli");

    // Refused: malformed, future.
    let (code, err) = report(&data, "last tuesday", &[], &f3);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--at"), "{err}");
    let (code, err) = report(&data, "2999-01-01", &[], &f3);
    assert_ne!(code, 0);
    assert!(err.contains("not in the past"), "{err}");
}

/// `interdict policy reviews`: a vendor appeal recorded through the API is shown from the server
/// and from the data directory alike; an open appeal appears in the point-in-time report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_reviews_shows_an_appeal_from_the_server_and_the_data_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let store = vec!["--data-dir".to_string(), data.display().to_string()];
    let (admin, _) = init(&store);
    let (mut child, base) = serve(&store);
    let c = reqwest::Client::new();
    let (s, v) = call(
        &c,
        reqwest::Method::PUT,
        format!("{base}/api/v1/policy"),
        &admin,
        Value::String(CANADA.into()),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let digest = "b".repeat(64);
    let (s, v) = call(
        &c,
        reqwest::Method::POST,
        format!("{base}/api/v1/rules/ca-2023-10-kaspersky/reviews"),
        &admin,
        json!({"appellant": "Kaspersky Lab\u{202e}gpj.exe", "summary": "Reverse this decision.",
               "received": "2023-11-02", "documents": [{"name": "letter.pdf", "sha256": digest}]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let open_at = storage::rfc3339_ms(instant().await);

    let (code, out, err) = run(&[
        "policy",
        "reviews",
        "ca-2023-10-kaspersky",
        "--server",
        &base,
        "--token",
        &admin,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 review(s)"), "{out}");
    assert!(out.contains(&id) && out.contains(&digest), "{out}");
    assert!(out.contains("status open"), "{out}");
    assert!(
        !out.contains('\u{1b}'),
        "terminal escapes are shown escaped: {out:?}"
    );

    let d = data.display().to_string();
    let (code, out, err) = run(&[
        "policy",
        "reviews",
        "ca-2023-10-kaspersky",
        "--data-dir",
        &d,
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(j["reviews"][0]["id"], id.as_str());
    assert_eq!(j["reviews"][0]["documents"][0]["sha256"], digest.as_str());

    // Open at this time: the point-in-time report lists it.
    let rep = tmp.path().join("r.json");
    let (code, err) = report(&data, &open_at, &[], &rep);
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_slice(&std::fs::read(&rep).expect("read")).expect("json");
    assert_eq!(r["rule_reviews"][0]["id"], id.as_str(), "{r}");
    child.kill().expect("kill");
    child.wait().expect("wait");
}
