//! Issue 12, item 4: `interdict serve` logs (it used to install no subscriber, so every
//! internal error vanished): human lines by default, JSON with `--log-format json`, filtered by
//! `RUST_LOG`; every response carries `x-request-id` and the request's log lines carry the
//! same id; no token or secret ever appears in the logs.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::support::{init, BIN};

/// Runs a server with `format`, makes requests carrying the admin token, the enrollment
/// secret and a device token, stops it and returns (its stderr, the secrets, the request ids
/// the responses carried).
async fn session(format: &str) -> (String, Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = vec!["--data-dir".to_string(), dir.path().display().to_string()];
    let (admin, secret) = init(&store);
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", format])
        .args(&store)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("URL")
        .to_string();
    let c = reqwest::Client::new();
    let mut ids = Vec::new();
    let mut id_of = |r: &reqwest::Response| {
        let id = r
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("x-request-id on every response")
            .to_string();
        ids.push(id);
    };
    let r = c
        .post(format!("{base}/api/v1/enroll"))
        .json(
            &json!({"enroll_secret": secret, "device": {"name": "n", "platform": "android",
               "serial": "s", "ownership": "corporate", "groups": []}}),
        )
        .send()
        .await
        .expect("enroll");
    id_of(&r);
    let v: Value = r.json().await.expect("json");
    let device = v["device_token"]
        .as_str()
        .expect("device token")
        .to_string();
    let r = c
        .post(format!("{base}/api/v1/checkin"))
        .bearer_auth(&device)
        .json(&json!({"inventory": {"apps": [{"id": "com.tencent.mm"}]}}))
        .send()
        .await
        .expect("checkin");
    id_of(&r);
    for path in ["/api/v1/devices", "/api/v1/events", "/metrics"] {
        let r = c
            .get(format!("{base}{path}"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("get");
        id_of(&r);
    }
    // Refused credentials: the wrong token is logged nowhere either.
    let r = c
        .get(format!("{base}/api/v1/devices"))
        .bearer_auth(format!("{admin}x"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 401);
    id_of(&r);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    (err, vec![admin, secret, device], ids)
}

fn assert_no_secrets(logs: &str, secrets: &[String]) {
    assert!(!logs.trim().is_empty(), "no logs at all");
    for s in secrets {
        assert!(s.len() >= 16, "{s}");
        // Any 12-character piece of a secret would be a leak too.
        let piece = &s[s.len() / 2 - 6..s.len() / 2 + 6];
        assert!(
            !logs.contains(piece),
            "a secret ({piece}...) is in the logs:\n{logs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_request_ids_and_no_secrets() {
    let (logs, secrets, ids) = session("json").await;
    assert_no_secrets(&logs, &secrets);
    let lines: Vec<Value> = logs
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("interdict:"))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().any(|l| l["message"] == "listening"), "{logs}");
    for id in &ids {
        assert!(
            lines.iter().any(|l| l["span"]["id"] == id.as_str()),
            "no log line for request {id}:\n{logs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn human_logs_by_default_without_secrets() {
    let (logs, secrets, ids) = session("human").await;
    assert_no_secrets(&logs, &secrets);
    assert!(logs.contains("listening"), "{logs}");
    assert!(serde_json::from_str::<Value>(logs.lines().next().unwrap_or("")).is_err());
    for id in &ids {
        assert!(
            logs.contains(id.as_str()),
            "no log line for request {id}:\n{logs}"
        );
    }
}
