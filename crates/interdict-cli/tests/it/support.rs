//! Helpers shared by the test modules that drive a real `interdict serve`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The `interdict` binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_interdict");

/// Runs `interdict init --json` and returns (admin token, enrollment secret).
pub(crate) fn init(store: &[String]) -> (String, String) {
    let out = Command::new(BIN)
        .args(["init", "--json"])
        .args(store)
        .output()
        .expect("run init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("init --json");
    (
        v["admin_token"].as_str().expect("admin").to_string(),
        v["enroll_secret"].as_str().expect("secret").to_string(),
    )
}

/// Starts `interdict serve` on any free loopback port and returns the child and its base URL.
pub(crate) fn serve(store: &[String]) -> (Child, String) {
    serve_on(store, "127.0.0.1:0")
}

/// Starts `interdict serve --listen ADDR` and returns the child and its base URL. The tests
/// drive many devices from loopback, as a load generator does: no per-token or per-address
/// limits (those have their own tests in api-server).
pub(crate) fn serve_on(store: &[String], listen: &str) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", listen, "--rate-limit", "0"])
        .args(["--enroll-rate-limit", "0"])
        .args(store)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (child, url)
}

/// Sends one API request; returns the status and the JSON body (null when none).
pub(crate) async fn call(
    c: &reqwest::Client,
    m: reqwest::Method,
    url: String,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let mut rb = c.request(m, url).bearer_auth(token);
    rb = match body {
        Value::Null => rb,
        Value::String(s) => rb.body(s),
        other => rb.json(&other),
    };
    let r = rb.send().await.expect("send");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// `GET {base}{path}` with an admin token; asserts 200 and returns the JSON body.
pub(crate) async fn admin_get(base: &str, admin: &str, path: &str) -> Value {
    let (s, v) = call(
        &reqwest::Client::new(),
        reqwest::Method::GET,
        format!("{base}{path}"),
        admin,
        Value::Null,
    )
    .await;
    assert_eq!(s, 200, "GET {path}: {v}");
    v
}

/// The store arguments for a data directory `data` under `dir`.
pub(crate) fn data_dir_args(dir: &std::path::Path) -> Vec<String> {
    vec![
        "--data-dir".to_string(),
        dir.join("data").display().to_string(),
    ]
}
