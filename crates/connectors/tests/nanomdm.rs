//! The NanoMDM client against the emulator (`tests/mdm/nanomdm_emulator.py`, Python's
//! standard library: plistlib, hmac), which checks Basic auth and every command plist and
//! answers with NanoMDM's per-id result; and the webhook's signature and body as the emulator
//! writes them.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use connectors::nanomdm::{self, NanoMdmClient, NanoMdmConfig};
use connectors::ConnError;
use serde_json::{json, Value};

const KEY: &str = "test-api-key-123";
const SECRET: &str = "webhook-secret-0123456789";

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

struct Emulator {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    fn start() -> Emulator {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mdm/nanomdm_emulator.py");
        let mut child = Command::new(python())
            .arg(&script)
            .args(["--api-key", KEY])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python()));
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("port");
        let port: u16 = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("emulator did not start: {line:?}"));
        Emulator {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir: tempfile::tempdir().expect("tempdir"),
            http: reqwest::Client::new(),
        }
    }

    async fn control(&self, verb: reqwest::Method, what: &str, body: Option<Value>) -> Value {
        let mut rb = self
            .http
            .request(verb, format!("{}/_control/{what}", self.base));
        if let Some(b) = body {
            rb = rb.body(b.to_string());
        }
        rb.send()
            .await
            .expect("control")
            .json()
            .await
            .unwrap_or(Value::Null)
    }

    fn config(&self, key: &str) -> NanoMdmConfig {
        let key_file = self.dir.path().join(format!("api-{}.key", key.len()));
        std::fs::write(&key_file, format!("{key}\n")).expect("key");
        let secret_file = self.dir.path().join("webhook.secret");
        std::fs::write(&secret_file, SECRET).expect("secret");
        let toml = format!(
            "name = \"apple\"\nbase_url = \"{}\"\napi_key_file = {:?}\nwebhook_secret_file = {:?}\n\
             enrollment_ids = [\"UDID-1\", \"UDID-2\"]\nownership = \"corporate\"\nmax_attempts = 4\n",
            self.base,
            key_file.display().to_string(),
            secret_file.display().to_string()
        );
        toml::from_str(&toml).expect("config")
    }
}

fn client(cfg: &NanoMdmConfig) -> NanoMdmClient {
    let mut c = NanoMdmClient::new(cfg).expect("client");
    c.backoff_base = Duration::from_millis(20);
    c
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_respects_nanomdm_results_and_faults() {
    let emu = Emulator::start();
    emu.control(
        reqwest::Method::PUT,
        "devices",
        Some(json!({"UDID-1": {"apps": []}, "UDID-2": {"apps": []}})),
    )
    .await;
    let cfg = emu.config(KEY);
    let c = client(&cfg);

    // Both devices queued, one command UUID for both.
    let cmd = nanomdm::installed_application_list(nanomdm::new_uuid().expect("uuid")).expect("cmd");
    let r = c
        .enqueue(&ids(&["UDID-1", "UDID-2"]), &cmd)
        .await
        .expect("enqueue");
    assert_eq!(r.queued, ids(&["UDID-1", "UDID-2"]));
    assert!(r.failed.is_empty() && r.push_errors.is_empty(), "{r:?}");
    let cmds = emu.control(reqwest::Method::GET, "commands", None).await;
    assert_eq!(cmds[0]["command_uuid"], cmd.uuid.as_str());
    assert_eq!(cmds[0]["request_type"], "InstalledApplicationList");

    // An unknown enrollment id: 207, that id named, the other queued.
    let cmd = nanomdm::remove_application(nanomdm::new_uuid().expect("uuid"), "com.tencent.xin")
        .expect("cmd");
    let r = c
        .enqueue(&ids(&["UDID-1", "UDID-404"]), &cmd)
        .await
        .expect("enqueue");
    assert_eq!(r.queued, ids(&["UDID-1"]));
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].item, "UDID-404");
    assert!(r.failed[0].message.contains("not found"), "{:?}", r.failed);

    // The same command again (as after a lost answer): NanoMDM refuses the known UUID per id
    // (a 500 with its result), which is an answer, not a retry.
    let before = c.counters().requests;
    let r = c.enqueue(&ids(&["UDID-1"]), &cmd).await.expect("answer");
    assert_eq!(c.counters().requests, before + 1);
    assert!(r.queued.is_empty());
    assert!(r.failed[0].message.contains("already exists"), "{r:?}");

    // 503 twice and slow answers: retried, then queued.
    emu.control(
        reqwest::Method::PUT,
        "faults",
        Some(json!({"status_503": 2, "slow_ms": 100})),
    )
    .await;
    let retries = c.counters().retries;
    let cmd = nanomdm::installed_application_list(nanomdm::new_uuid().expect("uuid")).expect("cmd");
    let r = c
        .enqueue(&ids(&["UDID-2"]), &cmd)
        .await
        .expect("enqueue after 503s");
    assert_eq!(r.queued, ids(&["UDID-2"]));
    assert_eq!(c.counters().retries, retries + 2);

    // 503 past max_attempts: an error naming the request.
    emu.control(
        reqwest::Method::PUT,
        "faults",
        Some(json!({"status_503": 10, "slow_ms": 0})),
    )
    .await;
    let cmd = nanomdm::installed_application_list(nanomdm::new_uuid().expect("uuid")).expect("cmd");
    match c.enqueue(&ids(&["UDID-2"]), &cmd).await {
        Err(ConnError::Status {
            status: 503, url, ..
        }) => {
            assert!(url.contains("InstalledApplicationList"), "{url}")
        }
        other => panic!("expected 503 after the retries: {other:?}"),
    }
    emu.control(
        reqwest::Method::PUT,
        "faults",
        Some(json!({"status_503": 0})),
    )
    .await;

    // A wrong API key: an authentication error, not retried.
    let bad = client(&emu.config("wrong-key"));
    match bad.enqueue(&ids(&["UDID-1"]), &cmd).await {
        Err(ConnError::Auth(m)) => assert!(m.contains("401"), "{m}"),
        other => panic!("expected Auth: {other:?}"),
    }
    // That one was the only violation: every command the client sent was a valid plist with
    // RequestType and CommandUUID.
    let v = emu.control(reqwest::Method::GET, "violations", None).await;
    assert_eq!(v, json!(["enqueue without NanoMDM's Basic credentials"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_signature_and_answers_as_the_emulator_writes_them() {
    let emu = Emulator::start();
    emu.control(
        reqwest::Method::PUT,
        "config",
        Some(json!({"webhook_url": "http://127.0.0.1:9/unused", "webhook_secret": SECRET})),
    )
    .await;
    let plist = json!({
        "CommandUUID": "C-1", "Status": "Acknowledged", "UDID": "UDID-1",
        "InstalledApplicationList": [
            {"Identifier": "com.tencent.xin", "Name": "WeChat", "ShortVersion": "8.0.45", "Version": "8.0.45.33"},
            {"Identifier": "com.apple.Pages", "Name": "Pages", "ShortVersion": "14.0", "Version": "7028"}
        ]
    });
    let s = emu
        .control(
            reqwest::Method::POST,
            "sample",
            Some(json!({"udid": "UDID-1", "plist": plist})),
        )
        .await;
    let body = s["body"].as_str().expect("body").as_bytes().to_vec();
    let sig = s["signature"].as_str().expect("signature");
    assert!(nanomdm::verify_signature(
        SECRET.as_bytes(),
        &body,
        Some(sig)
    ));
    assert!(!nanomdm::verify_signature(
        b"another secret 0123",
        &body,
        Some(sig)
    ));
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert!(!nanomdm::verify_signature(
        SECRET.as_bytes(),
        &tampered,
        Some(sig)
    ));

    let e = nanomdm::parse_event(&body).expect("event");
    assert_eq!(e.topic, "mdm.Connect");
    assert!(
        nanomdm::rfc3339_ms(&e.created_at).is_some(),
        "{}",
        e.created_at
    );
    let ack = e.acknowledge_event.expect("ack");
    assert_eq!(ack.enrollment(), Some("UDID-1"));
    assert_eq!(ack.command_uuid.as_deref(), Some("C-1"));
    let raw = nanomdm::decode_raw_payload(ack.raw_payload.as_deref().expect("raw"), "apple/UDID-1")
        .expect("base64");
    let r = nanomdm::parse_report(&raw, "apple/UDID-1").expect("report");
    assert_eq!(r.status, "Acknowledged");
    let apps = r.apps.expect("apps");
    assert_eq!(apps.len(), 2);
    assert_eq!(apps[0].id, "com.tencent.xin");
    assert_eq!(apps[0].version.as_deref(), Some("8.0.45"));

    // An app entry without Identifier refuses the list, naming the entry.
    let s = emu
        .control(
            reqwest::Method::POST,
            "sample",
            Some(
                json!({"udid": "UDID-1", "plist": {"CommandUUID": "C-2", "Status": "Acknowledged",
                "InstalledApplicationList": [{"Identifier": "a.b"}, {"Name": "no id"}]}}),
            ),
        )
        .await;
    let e = nanomdm::parse_event(s["body"].as_str().expect("body").as_bytes()).expect("event");
    let raw = nanomdm::decode_raw_payload(
        e.acknowledge_event
            .expect("ack")
            .raw_payload
            .as_deref()
            .expect("raw"),
        "apple/UDID-1",
    )
    .expect("base64");
    let err = nanomdm::parse_report(&raw, "apple/UDID-1").expect_err("refused");
    assert_eq!(err.item, "apple/UDID-1/InstalledApplicationList[1]");

    // Bodies that are not NanoMDM's webhook are errors, never panics.
    let bodies: [&[u8]; 5] = [b"", b"{}", b"[]", b"{\"topic\": 1}", b"\xff\xfe"];
    for bad in bodies {
        assert!(nanomdm::parse_event(bad).is_err());
    }
    let status = br#"{"topic":"mdm.Connect","created_at":"2026-01-01T00:00:00Z","acknowledge_event":{"status":"Maybe"}}"#;
    assert!(nanomdm::parse_event(status).is_err());
    let plists: [&[u8]; 4] = [
        b"<plist><dict>",
        b"not xml",
        b"",
        b"<plist><array/></plist>",
    ];
    for bad in plists {
        assert!(nanomdm::parse_report(bad, "x").is_err());
    }
}

#[test]
fn config_is_checked() {
    let base = |extra: &str| {
        format!(
            "name = \"apple\"\nbase_url = \"https://mdm.example.org\"\napi_key_file = \"/k\"\n\
             webhook_secret_file = \"/s\"\nownership = \"corporate\"\n{extra}"
        )
    };
    let ok: NanoMdmConfig = toml::from_str(&base("enrollment_ids = [\"a\"]")).expect("parses");
    assert_eq!(ok.remove, connectors::PushMode::DryRun);
    let wrapped = connectors::ConnectorConfig::Nanomdm(ok);
    assert!(wrapped.validate().is_ok());
    assert_eq!(wrapped.kind(), "nanomdm");
    for (extra, why) in [
        ("", "no devices"),
        ("enrollment_ids = [\"a,b\"]", "character"),
        (
            "enrollment_ids = [\"a\"]\nplatform = \"android\"",
            "platform",
        ),
        (
            "enrollment_ids = [\"a\"]\nids_per_request = 0",
            "ids_per_request",
        ),
    ] {
        let c: NanoMdmConfig = toml::from_str(&base(extra)).expect("parses");
        let e = connectors::ConnectorConfig::Nanomdm(c)
            .validate()
            .expect_err(why);
        assert!(e.contains(why), "{e}");
    }
    let plain = base("enrollment_ids = [\"a\"]")
        .replace("https://mdm.example.org", "http://mdm.example.org");
    let c: NanoMdmConfig = toml::from_str(&plain).expect("parses");
    assert!(connectors::ConnectorConfig::Nanomdm(c).validate().is_err());
    assert!(toml::from_str::<NanoMdmConfig>(&base("enrolment_ids = []")).is_err());
    let file: PathBuf = std::env::temp_dir().join(format!("nanomdm-ids-{}", std::process::id()));
    std::fs::write(&file, "# devices\nA1\nA1\n\nB2 # the second\nbad,id\n").expect("write");
    let c: NanoMdmConfig = toml::from_str(&base(&format!(
        "enrollment_ids = [\"A1\"]\nenrollment_ids_file = {:?}",
        file.display().to_string()
    )))
    .expect("parses");
    let (ids, errors) = c.enrollment_ids().expect("ids");
    assert_eq!(ids, vec!["A1".to_string(), "B2".to_string()]);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].item.ends_with(":6"), "{:?}", errors);
    let _ = std::fs::remove_file(&file);
}
