//! Notifications against real servers on loopback: aiosmtpd with STARTTLS required and a
//! certificate made by openssl for the test, and a webhook receiver that checks signatures
//! (`tests/mdm/smtp_server.py`, `tests/mdm/webhook_receiver.py`; Python from
//! `$INTERDICT_MDM_PYTHON`).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use connectors::notify::{self, Event, Lang, NotifyError, SmtpConfig};
use serde_json::Value;

fn python() -> String {
    if let Ok(p) = std::env::var("INTERDICT_MDM_PYTHON") {
        return p;
    }
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target")
            .display()
            .to_string()
    });
    let venv = Path::new(&target).join("mdm-venv/bin/python");
    if venv.exists() {
        return venv.display().to_string();
    }
    "python3".into()
}

struct Proc(Child, u16);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(script: &str, args: &[&str]) -> Proc {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/mdm")
        .join(script);
    let mut child = Command::new(python())
        .arg(path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}; scripts/test.sh sets INTERDICT_MDM_PYTHON",
                python()
            )
        });
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("port");
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{script} did not start: {line:?}"));
    Proc(child, port)
}

/// A self-signed certificate for 127.0.0.1, made now.
fn cert(dir: &Path) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.join("smtp.crt"), dir.join("smtp.key"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-keyout",
        ])
        .arg(&k)
        .arg("-out")
        .arg(&c)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success());
    (c, k)
}

fn wechat() -> Event {
    Event::RemovalRequired {
        device: "Pixel 8 (d1)".into(),
        app: "WeChat".into(),
        app_id: "com.tencent.mm".into(),
        rule: "ca-2023-10-wechat".into(),
        deadline: "2023-10-30".into(),
        reason: "Unacceptable level of risk to privacy and security.".into(),
    }
}

fn delivered(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("out")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).expect("read")).expect("json"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_gets_the_email_over_starttls_in_french_or_english() {
    let dir = tempfile::tempdir().expect("tmp");
    let (crt, key) = cert(dir.path());
    let out = dir.path().join("mail");
    std::fs::create_dir(&out).expect("mkdir");
    let smtp = start(
        "smtp_server.py",
        &[
            "--cert",
            crt.to_str().unwrap_or(""),
            "--key",
            key.to_str().unwrap_or(""),
            "--out",
            out.to_str().unwrap_or(""),
        ],
    );
    let cfg = SmtpConfig {
        host: "127.0.0.1".into(),
        port: smtp.1,
        from: "interdict <interdict@example.gc.ca>".into(),
        ca_file: Some(crt.clone()),
        username: None,
        password_file: None,
        timeout_secs: 30,
    };
    let fr = notify::render(&wechat(), Lang::Fr);
    notify::send_email(&cfg, "proprietaire@example.gc.ca", Lang::Fr, &fr)
        .await
        .expect("send fr");
    let en = notify::render(&wechat(), Lang::En);
    notify::send_email(&cfg, "owner@example.gc.ca", Lang::En, &en)
        .await
        .expect("send en");
    let mail = delivered(&out);
    assert_eq!(mail.len(), 2);
    assert_eq!(mail[0]["rcpt_tos"][0], "proprietaire@example.gc.ca");
    assert_eq!(
        mail[0]["subject"],
        "Action requise : supprimez WeChat d'ici le 2023-10-30"
    );
    assert_eq!(mail[0]["content_language"], "fr");
    assert!(
        mail[0]["body"]
            .as_str()
            .unwrap_or("")
            .contains("interdite (règle ca-2023-10-wechat)"),
        "{}",
        mail[0]
    );
    assert!(mail[0]["body"]
        .as_str()
        .unwrap_or("")
        .contains("Motif : Unacceptable level of risk"));
    assert_eq!(mail[0]["tls"], true, "delivered under STARTTLS");
    assert_eq!(
        mail[1]["subject"],
        "Action required: remove WeChat by 2023-10-30"
    );
    assert!(mail[1]["body"]
        .as_str()
        .unwrap_or("")
        .contains("Reason: Unacceptable level of risk"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_the_smtp_server_refuses_is_a_reported_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let (crt, key) = cert(dir.path());
    let out = dir.path().join("mail");
    std::fs::create_dir(&out).expect("mkdir");
    let smtp = start(
        "smtp_server.py",
        &[
            "--cert",
            crt.to_str().unwrap_or(""),
            "--key",
            key.to_str().unwrap_or(""),
            "--out",
            out.to_str().unwrap_or(""),
        ],
    );
    let mut cfg = SmtpConfig {
        host: "127.0.0.1".into(),
        port: smtp.1,
        from: "interdict@example.gc.ca".into(),
        ca_file: Some(crt.clone()),
        username: None,
        password_file: None,
        timeout_secs: 30,
    };
    let msg = notify::render(&wechat(), Lang::En);
    let e = notify::send_email(&cfg, "refuse.me@example.gc.ca", Lang::En, &msg)
        .await
        .expect_err("refused");
    assert!(matches!(e, NotifyError::Refused(_)), "{e}");
    assert!(e.to_string().contains("refuse.me@example.gc.ca"), "{e}");
    // A server certificate nobody trusts is not accepted either.
    cfg.ca_file = None;
    let e = notify::send_email(&cfg, "owner@example.gc.ca", Lang::En, &msg)
        .await
        .expect_err("untrusted");
    assert!(!e.to_string().is_empty());
    assert!(delivered(&out).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_and_retried_with_backoff() {
    let hook = start(
        "webhook_receiver.py",
        &["--secret", "s3cret", "--fail-first", "2"],
    );
    let url = format!("http://127.0.0.1:{}/hook", hook.1);
    let client = reqwest::Client::new();
    let body = notify::webhook_body(
        "ntf_1",
        "2026-12-03T09:00:00Z",
        "owner@example.gc.ca",
        Lang::En,
        &wechat(),
    );
    let tries = notify::with_retries(5, Duration::from_millis(10), || {
        notify::send_webhook(&client, &url, b"s3cret", &body, 1_764_752_400)
    })
    .await
    .expect("delivered");
    assert_eq!(tries, 3, "two 503s, then accepted");
    // A wrong secret: the receiver refuses it, and that is not retried.
    let e = notify::with_retries(5, Duration::from_millis(10), || {
        notify::send_webhook(&client, &url, b"wrong", &body, 1_764_752_400)
    })
    .await
    .expect_err("refused");
    assert!(matches!(e, NotifyError::Refused(_)), "{e}");
    let got: Value = client
        .get(&url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let got = got.as_array().expect("list");
    assert_eq!(got.len(), 4);
    assert!(got[..3].iter().all(|r| r["valid"] == true));
    assert_eq!(got[3]["valid"], false);
    assert_eq!(got[0]["body"]["schema"], "interdict.notification/v1");
    assert_eq!(got[0]["body"]["kind"], "removal_required");
    assert!(got[0]["body"]["text"]
        .as_str()
        .unwrap_or("")
        .starts_with("Action required: remove WeChat by 2023-10-30"));
}
