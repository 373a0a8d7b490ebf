//! `interdict init` → `interdict user add` → sign-in, as a new user runs them: the real binary
//! against a SQLite data directory; then `user list|set-role|disable` and `token list|revoke`.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::support::{serve, BIN};

fn run(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn interdict");
    if let Some(s) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(s.as_bytes())
            .expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_tells_how_to_create_the_first_admin_who_then_signs_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let (ok, out, err) = run(&["init", "--data-dir", &d], None);
    assert!(ok, "{err}");
    assert!(out.contains("interdict user add"), "{out}");
    assert!(out.contains("--role admin"), "{out}");

    // A short or common password is refused with the reason; nothing is created.
    let (ok, _, err) = run(
        &[
            "user",
            "add",
            "--data-dir",
            &d,
            "--email",
            "ana@example.org",
            "--name",
            "Ana",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert!(!ok);
    assert!(err.contains("at least 12"), "{err}");
    // No sign-in method: a clear error.
    let (ok, _, err) = run(
        &[
            "user",
            "add",
            "--data-dir",
            &d,
            "--email",
            "ana@example.org",
            "--name",
            "Ana",
            "--role",
            "admin",
        ],
        None,
    );
    assert!(!ok);
    assert!(err.contains("--password-stdin"), "{err}");

    let (ok, out, err) = run(
        &[
            "user",
            "add",
            "--data-dir",
            &d,
            "--email",
            "Ana@Example.org",
            "--name",
            "Ana",
            "--role",
            "admin",
            "--password-stdin",
            "--json",
        ],
        Some("correct staple battery horse\n"),
    );
    assert!(ok, "{err}");
    let ana: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(ana["email"], "ana@example.org");
    let (ok, _, err) = run(
        &[
            "user",
            "add",
            "--data-dir",
            &d,
            "--email",
            "ana@example.org",
            "--name",
            "Ana 2",
            "--role",
            "viewer",
            "--sso-only",
        ],
        None,
    );
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    let (ok, out, _) = run(
        &[
            "user",
            "add",
            "--data-dir",
            &d,
            "--service",
            "--name",
            "MDM sync",
            "--role",
            "analyst",
            "--json",
        ],
        None,
    );
    assert!(ok);
    let svc: Value = serde_json::from_str(&out).expect("json");
    let svc_id = svc["id"].as_str().expect("id");
    let (ok, out, err) = run(
        &[
            "token",
            "create",
            "--data-dir",
            &d,
            "--user",
            svc_id,
            "--role",
            "analyst",
            "--json",
        ],
        None,
    );
    assert!(ok, "{err}");
    let tok: Value = serde_json::from_str(&out).expect("json");

    let (mut child, base) = serve(&["--data-dir".to_string(), d.clone()]);
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{base}/api/v1/sign-in"))
        .json(&json!({"email": "ana@example.org", "password": "correct staple battery horse"}))
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    let me: Value = c
        .get(format!("{base}/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["id"], ana["id"]);
    assert_eq!(me["role"], "admin");
    // The service account's token acts as the service account.
    let me: Value = c
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(tok["token"].as_str().expect("token"))
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["id"], svc_id);

    // Revoked on the host: refused by the running server at once.
    let (ok, out, _) = run(&["token", "list", "--data-dir", &d, "--json"], None);
    assert!(ok);
    let list: Value = serde_json::from_str(&out).expect("json");
    assert!(
        !out.contains(tok["token"].as_str().expect("token")),
        "no secrets listed"
    );
    assert!(list
        .as_array()
        .expect("array")
        .iter()
        .any(|t| t["id"] == tok["id"]));
    let (ok, out, err) = run(
        &[
            "token",
            "revoke",
            "--data-dir",
            &d,
            tok["id"].as_str().expect("id"),
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(out.contains("Revoked"));
    let s = c
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(tok["token"].as_str().expect("token"))
        .send()
        .await
        .expect("me")
        .status()
        .as_u16();
    assert_eq!(s, 401);
    let (ok, _, err) = run(&["token", "revoke", "--data-dir", &d, "tok_nope"], None);
    assert!(!ok);
    assert!(err.contains("no token tok_nope"), "{err}");

    // Role change and disable by email; the session ends.
    let (ok, _, err) = run(
        &[
            "user",
            "set-role",
            "--data-dir",
            &d,
            "ana@example.org",
            "viewer",
        ],
        None,
    );
    assert!(ok, "{err}");
    let (ok, out, _) = run(&["user", "list", "--data-dir", &d], None);
    assert!(ok);
    assert!(
        out.contains("viewer") && out.contains("ana@example.org"),
        "{out}"
    );
    let (ok, _, err) = run(
        &["user", "disable", "--data-dir", &d, "ana@example.org"],
        None,
    );
    assert!(ok, "{err}");
    let s = c
        .get(format!("{base}/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("me")
        .status()
        .as_u16();
    assert_eq!(s, 401);
    let (ok, _, err) = run(
        &["user", "disable", "--data-dir", &d, "nobody@example.org"],
        None,
    );
    assert!(!ok);
    assert!(err.contains("no person with email"), "{err}");
    child.kill().expect("kill");
    child.wait().expect("wait");
}
