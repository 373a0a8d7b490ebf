//! `interdict init`, `token`, `serve` and `simulate` as a user runs them: the real binary,
//! on 127.0.0.1 port 0, with a real SQLite file in a temp dir. Includes the kill -9 test.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::support::{call, init, serve, BIN};

const CANADA: &str = include_str!("../../../../examples/canada-gc-mobile-v2.toml");

/// Where a test's server keeps its data: `--data-dir` (SQLite) always, and `--database` on a
/// fresh PostgreSQL database when `TEST_POSTGRES_URL` is set.
async fn stores(dir: &Path) -> Vec<Vec<String>> {
    let mut out = vec![vec!["--data-dir".to_string(), dir.display().to_string()]];
    if let Ok(base) = std::env::var("TEST_POSTGRES_URL") {
        use sqlx::Executor;
        let name = format!("cli_{}", &api_server::storage::new_secret()[..16]);
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
            .await
            .expect("connect to TEST_POSTGRES_URL");
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
        let (prefix, _) = base.rsplit_once('/').expect("URL with a database path");
        out.push(vec!["--database".to_string(), format!("{prefix}/{name}")]);
    }
    out
}

async fn enroll(c: &reqwest::Client, base: &str, secret: &str, name: &str) -> (String, String) {
    let (s, v) = call(
        c,
        reqwest::Method::POST,
        format!("{base}/api/v1/enroll"),
        "",
        json!({"enroll_secret": secret, "device": {"name": name, "platform": "android",
               "serial": name, "ownership": "corporate", "groups": ["government-issued"]}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    (
        v["device_id"].as_str().expect("id").into(),
        v["device_token"].as_str().expect("token").into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_init_serve_policy_enroll_noncompliant() {
    let dir = tempfile::tempdir().expect("tempdir");
    for store in stores(dir.path()).await {
        quickstart(&store).await;
    }
}

async fn quickstart(store: &[String]) {
    let (admin, secret) = init(store);
    // A second init refuses to mint more admin tokens.
    let again = Command::new(BIN)
        .arg("init")
        .args(store)
        .output()
        .expect("init");
    assert!(!again.status.success());
    let tok = Command::new(BIN)
        .args(["token", "create", "--role", "viewer", "--json"])
        .args(store)
        .output()
        .expect("token");
    assert!(tok.status.success());
    let viewer: Value = serde_json::from_slice(&tok.stdout).expect("json");
    let viewer = viewer["token"].as_str().expect("token").to_string();

    let (mut child, base) = serve(store);
    let c = reqwest::Client::new();
    let (s, v) = call(
        &c,
        reqwest::Method::PUT,
        format!("{base}/api/v1/policy"),
        &admin,
        json!(CANADA),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // A viewer may not publish.
    let (s, _) = call(
        &c,
        reqwest::Method::PUT,
        format!("{base}/api/v1/policy"),
        &viewer,
        json!(CANADA),
    )
    .await;
    assert_eq!(s, 403);
    let (_, token) = enroll(&c, &base, &secret, "phone").await;
    let (s, v) = call(
        &c,
        reqwest::Method::POST,
        format!("{base}/api/v1/checkin"),
        &token,
        json!({"inventory": {"apps": [{"id": "com.tencent.mm"}]}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["compliant"], false);
    assert_eq!(v["actions"][0]["kind"], "uninstall");
    let (_, v) = call(
        &c,
        reqwest::Method::GET,
        format!("{base}/api/v1/compliance"),
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(v["non_compliant"], 1);

    // simulate, briefly.
    let sim = tokio::process::Command::new(BIN)
        .args([
            "simulate",
            "--server",
            &base,
            "--enroll-secret",
            &secret,
            "--devices",
            "5",
            "--apps-per-device",
            "10",
            "--duration",
            "1",
            "--concurrency",
            "4",
            "--json",
        ])
        .output()
        .await
        .expect("simulate");
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let r: Value = serde_json::from_slice(&sim.stdout).expect("simulate --json");
    assert!(r["checkins"].as_u64().expect("checkins") > 0, "{r}");
    assert_eq!(r["errors"], 0);
    for k in ["checkins_per_s", "p50_ms", "p99_ms"] {
        assert!(r[k].is_number(), "{r}");
    }

    // Graceful shutdown on SIGTERM.
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_checkin() {
    let dir = tempfile::tempdir().expect("tempdir");
    for store in stores(dir.path()).await {
        kill_9(&store).await;
    }
}

async fn kill_9(store: &[String]) {
    let (admin, secret) = init(store);
    let (mut child, base) = serve(store);
    let c = reqwest::Client::new();
    let mut devices = Vec::new();
    for i in 0..16 {
        devices.push(enroll(&c, &base, &secret, &format!("k{i}")).await);
    }
    // Each device checks in with seq 1, 2, 3, ...; the ledger keeps the highest acknowledged.
    let acked: Arc<Mutex<HashMap<String, (i64, i64)>>> = Arc::default();
    let mut tasks = Vec::new();
    for (id, token) in devices.clone() {
        let (c, base, acked) = (c.clone(), base.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            for seq in 1..=20_000i64 {
                let body = if seq % 5 == 1 {
                    json!({"inventory": {"apps": [{"id": format!("a.b{seq}")}]}, "seq": seq})
                } else {
                    json!({"inventory": {"apps": [{"id": format!("a.b{}", seq - (seq - 1) % 5)}]}, "seq": seq})
                };
                let r = c.post(format!("{base}/api/v1/checkin")).bearer_auth(&token).json(&body).send().await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        let mut a = acked.lock().expect("lock");
                        let e = a.entry(id.clone()).or_insert((0, 0));
                        e.0 = seq;
                        e.1 += 1;
                    }
                    _ => break,
                }
            }
        }));
    }
    // Let load build up (count-based, not time-based), then kill -9 mid-stream.
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let total: i64 = acked.lock().expect("lock").values().map(|v| v.1).sum();
        if total >= 400 {
            break;
        }
    }
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    for t in tasks {
        let _ = t.await;
    }
    let ledger = acked.lock().expect("lock").clone();
    assert!(ledger.values().map(|v| v.1).sum::<i64>() >= 400);

    let (mut child, base) = serve(store);
    for (id, _) in &devices {
        let (s, d) = call(
            &c,
            reqwest::Method::GET,
            format!("{base}/api/v1/devices/{id}"),
            &admin,
            Value::Null,
        )
        .await;
        assert_eq!(s, 200);
        let (seq, count) = ledger.get(id).copied().unwrap_or((0, 0));
        assert!(
            d["last_seq"].as_i64().expect("last_seq") >= seq,
            "{id}: acked seq {seq}, stored {d}"
        );
        assert!(
            d["checkins"].as_i64().expect("checkins") >= count,
            "{id}: acked {count}, stored {d}"
        );
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
}

/// A second server on a port already in use says so, names the address and exits with its
/// own status (not "internal error"), and a bad time zone is refused with its name.
#[test]
fn start_up_failures_name_their_cause() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = vec!["--data-dir".to_string(), dir.path().display().to_string()];
    let _ = init(&store);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let out = Command::new(BIN)
        .arg("serve")
        .args(&store)
        .args(["--listen", &addr])
        .output()
        .expect("run serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("address {addr} is already in use")),
        "{err}"
    );
    assert!(!err.contains("internal error"), "{err}");
    let out = Command::new(BIN)
        .arg("serve")
        .args(&store)
        .args(["--listen", "127.0.0.1:0", "--time-zone", "Mars/Olympus"])
        .output()
        .expect("run serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("Mars/Olympus"), "{err}");
}
