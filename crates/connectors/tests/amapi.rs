//! The AMAPI client against the emulator (`tests/mdm/amapi_emulator.py`), which checks every
//! body against Google's discovery document and injects the service's faults.
//!
//! Python comes from `$INTERDICT_MDM_PYTHON` (scripts/test.sh points it at a venv with
//! `tests/mdm/requirements.txt`).

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use connectors::amapi::AmapiClient;
use connectors::config::AmapiConfig;
use connectors::{ConnError, PushMode};
use serde_json::{json, Value};

const ENTERPRISE: &str = "enterprises/LC01test";
const EMAIL: &str = "interdict@test-project.iam.gserviceaccount.com";

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

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn openssl(args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success(), "openssl {args:?}");
}

/// A running emulator, its keys and a key file pointing at its token endpoint.
struct Emulator {
    child: Child,
    base: String,
    key_file: PathBuf,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn key_json(dir: &Path, pem_file: &Path, token_uri: &str) -> PathBuf {
    let pem = std::fs::read_to_string(pem_file).expect("pem");
    let key = json!({
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": EMAIL,
        "client_id": "1",
        "token_uri": token_uri,
    });
    let p = dir.join(format!(
        "key-{}.json",
        pem_file.file_stem().and_then(|s| s.to_str()).unwrap_or("k")
    ));
    std::fs::write(&p, key.to_string()).expect("write key");
    p
}

impl Emulator {
    fn start(extra: &[&str]) -> Emulator {
        let dir = tempfile::tempdir().expect("tempdir");
        let pem = dir.path().join("sa.pem");
        let pubk = dir.path().join("sa.pub");
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            pem.to_str().unwrap_or(""),
        ]);
        openssl(&[
            "pkey",
            "-in",
            pem.to_str().unwrap_or(""),
            "-pubout",
            "-out",
            pubk.to_str().unwrap_or(""),
        ]);
        let script = repo().join("tests/mdm/amapi_emulator.py");
        let mut child = Command::new(python())
            .arg(&script)
            .args(["--public-key", pubk.to_str().unwrap_or(""), "--client-email", EMAIL, "--enterprise", ENTERPRISE])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; scripts/test.sh sets INTERDICT_MDM_PYTHON to a venv with tests/mdm/requirements.txt", python()));
        let mut line = String::new();
        let out = child.stdout.take().expect("stdout");
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .expect("port line");
        let port: u16 = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("emulator did not start: {line:?} (python {})", python()));
        let base = format!("http://127.0.0.1:{port}");
        let key_file = key_json(dir.path(), &pem, &format!("{base}/token"));
        Emulator {
            child,
            base,
            key_file,
            dir,
            http: reqwest::Client::new(),
        }
    }

    fn config(&self, extra: &str) -> AmapiConfig {
        toml::from_str(&format!(
            "name = \"android\"\nenterprise = \"{ENTERPRISE}\"\nservice_account_key_file = {:?}\nbase_url = \"{}\"\npolicy = \"{ENTERPRISE}/policies/default\"\ngroups = [\"fleet\"]\n{extra}",
            self.key_file.display().to_string(),
            self.base
        ))
        .expect("config")
    }

    fn client(&self, extra: &str) -> AmapiClient {
        let mut c = AmapiClient::new(&self.config(extra)).expect("client");
        c.backoff_base = Duration::from_millis(10);
        c
    }

    async fn put(&self, what: &str, body: Value) {
        let r = self
            .http
            .put(format!("{}/_control/{what}", self.base))
            .body(body.to_string())
            .send()
            .await
            .expect("control");
        assert!(r.status().is_success(), "control {what}");
    }

    async fn get(&self, what: &str) -> Value {
        self.http
            .get(format!("{}/_control/{what}", self.base))
            .send()
            .await
            .expect("control")
            .json()
            .await
            .expect("json")
    }

    async fn assert_no_violations(&self) {
        let v = self.get("violations").await;
        assert_eq!(
            v,
            json!([]),
            "requests or responses outside the discovery document"
        );
    }
}

fn device(i: usize, apps: &[&str]) -> Value {
    let reports: Vec<Value> = apps
        .iter()
        .map(|p| {
            json!({"packageName": p, "versionName": "1.0", "versionCode": 1, "state": "INSTALLED",
                        "applicationSource": "INSTALLED_FROM_PLAY_STORE",
                        "signingKeyCertFingerprints": ["0123456789abcdef0123456789abcdef01234567"]})
        })
        .collect();
    json!({
        "name": format!("{ENTERPRISE}/devices/d{i:04}"),
        "ownership": "COMPANY_OWNED",
        "managementMode": "DEVICE_OWNER",
        "state": "ACTIVE",
        "policyName": format!("{ENTERPRISE}/policies/default"),
        "hardwareInfo": {"model": "Pixel 8", "serialNumber": format!("SN{i}")},
        "applicationReports": reports,
    })
}

async fn pull_all(
    c: &AmapiClient,
) -> Result<(usize, Vec<connectors::ItemError>, u64), (ConnError, usize)> {
    let mut pager = c.devices();
    let mut n = 0;
    let mut errors = Vec::new();
    loop {
        match pager.next_page().await {
            Ok(Some(p)) => {
                n += p.devices.len();
                errors.extend(p.errors);
            }
            Ok(None) => return Ok((n, errors, pager.pages())),
            Err(e) => return Err((e, n)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_pages_through_429_5xx_expired_token_and_slow_answers() {
    let emu = Emulator::start(&[]);
    let devs: Vec<Value> = (0..250)
        .map(|i| device(i, &["com.example.mail", "com.tencent.mm"]))
        .collect();
    emu.put("devices", json!(devs)).await;
    emu.put(
        "faults",
        json!({"status_429": 1, "status_503": 2, "slow_ms": 20}),
    )
    .await;
    let c = emu.client("");
    let mut pager = c.devices();
    let first = pager.next_page().await.expect("page 1").expect("some");
    assert_eq!(first.devices.len(), 100);
    emu.put("faults", json!({"expire_token": true, "slow_ms": 0}))
        .await;
    let mut n = first.devices.len();
    while let Some(p) = pager.next_page().await.expect("page") {
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        n += p.devices.len();
    }
    assert!(pager.complete());
    assert_eq!(n, 250);
    let counters = c.counters();
    assert_eq!(counters.tokens, 2, "a new token after the 401");
    assert!(counters.retries >= 3, "{counters:?}");
    emu.assert_no_violations().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_devices_are_named_and_the_others_kept() {
    let emu = Emulator::start(&[]);
    let mut devs: Vec<Value> = (0..6).map(|i| device(i, &["com.example.mail"])).collect();
    devs[1].as_object_mut().map(|o| o.remove("ownership"));
    devs[2]["managementMode"] = json!("SUPER_OWNER");
    devs[3]["applicationReports"] = json!([{"packageName": "ok.app"}, {"versionCode": "x"}]);
    devs[4]["applicationReports"][0]["state"] = json!("HALF_INSTALLED");
    emu.put("lenient", json!(true)).await;
    emu.put("devices", json!(devs)).await;
    let c = emu.client("page_size = 4");
    let (n, errors, pages) = pull_all(&c).await.map_err(|(e, _)| e).expect("pull");
    assert_eq!((n, pages), (2, 2));
    let items: Vec<&str> = errors.iter().map(|e| e.item.as_str()).collect();
    assert_eq!(
        items,
        vec![
            "enterprises/LC01test/devices/d0001",
            "enterprises/LC01test/devices/d0002",
            "enterprises/LC01test/devices/d0003/applicationReports[1]",
            "enterprises/LC01test/devices/d0004/applicationReports[0] (com.example.mail)",
        ]
    );
    assert!(errors[0].message.contains("ownership"));
    assert!(errors[1].message.contains("SUPER_OWNER"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_keeps_failing_ends_the_pull_incomplete() {
    let emu = Emulator::start(&[]);
    let devs: Vec<Value> = (0..30).map(|i| device(i, &["a.b"])).collect();
    emu.put("devices", json!(devs)).await;
    emu.put("faults", json!({"fail_page": 2})).await;
    let c = emu.client("page_size = 10\nmax_attempts = 3");
    let (e, got) = pull_all(&c).await.expect_err("page 2 fails");
    assert_eq!(got, 10);
    assert!(matches!(e, ConnError::Status { status: 500, .. }), "{e}");
    emu.assert_no_violations().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_merges_blocked_apps_keeping_the_others_dry_run_first() {
    let emu = Emulator::start(&[]);
    let name = format!("{ENTERPRISE}/policies/default");
    emu.put(
        &format!("policies/{name}"),
        json!({"name": name, "version": "7", "playStoreMode": "BLACKLIST", "applications": [
            {"packageName": "com.example.mail", "installType": "FORCE_INSTALLED",
             "managedConfiguration": {"server": "mail.example"}},
            {"packageName": "com.tencent.mm", "installType": "AVAILABLE"}
        ]}),
    )
    .await;
    let c = emu.client("");
    let blocked: BTreeSet<String> = ["com.tencent.mm", "com.kaspersky.free"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let dry = c.push(&blocked, PushMode::DryRun).await.expect("dry run");
    assert!(!dry.applied);
    assert_eq!(dry.plan.added, vec!["com.kaspersky.free"]);
    assert_eq!(dry.plan.changed.len(), 1);
    assert_eq!(
        emu.get(&format!("policies/{name}")).await["version"],
        "7",
        "dry run writes nothing"
    );
    let out = c.push(&blocked, PushMode::Apply).await.expect("push");
    assert!(out.applied);
    assert_eq!(out.written_version, Some(8));
    let p = emu.get(&format!("policies/{name}")).await;
    let apps = p["applications"].as_array().expect("apps");
    assert_eq!(apps.len(), 3);
    assert_eq!(apps[0]["managedConfiguration"]["server"], "mail.example");
    assert_eq!(apps[1]["installType"], "BLOCKED");
    assert_eq!(
        apps[2],
        json!({"packageName": "com.kaspersky.free", "installType": "BLOCKED"})
    );
    assert_eq!(
        p["playStoreMode"], "BLACKLIST",
        "updateMask=applications leaves the rest"
    );
    let again = c.push(&blocked, PushMode::Apply).await.expect("again");
    assert!(!again.applied && again.plan.is_noop());
    emu.assert_no_violations().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_reads_and_merges_again_after_a_conflict_or_a_concurrent_write() {
    let emu = Emulator::start(&[]);
    let name = format!("{ENTERPRISE}/policies/default");
    emu.put(
        &format!("policies/{name}"),
        json!({"name": name, "version": "1", "applications": [
        {"packageName": "com.example.mail", "installType": "FORCE_INSTALLED"}]}),
    )
    .await;
    emu.put("faults", json!({"conflict": 2})).await;
    let c = emu.client("");
    let blocked: BTreeSet<String> = ["com.tencent.mm".to_string()].into();
    let out = c.push(&blocked, PushMode::Apply).await.expect("push");
    assert!(out.applied);
    assert_eq!(out.conflicts, 2);
    let p = emu.get(&format!("policies/{name}")).await;
    let ids: Vec<&str> = p["applications"]
        .as_array()
        .expect("apps")
        .iter()
        .filter_map(|a| a["packageName"].as_str())
        .collect();
    assert_eq!(
        ids,
        vec![
            "com.example.mail",
            "com.other.admin1",
            "com.other.admin0",
            "com.tencent.mm"
        ],
        "the other writer's apps are kept"
    );

    let blocked: BTreeSet<String> = [
        "com.tencent.mm".to_string(),
        "com.kaspersky.free".to_string(),
    ]
    .into();
    emu.put("faults", json!({"sneak_write": true})).await;
    let out = c.push(&blocked, PushMode::Apply).await.expect("push");
    assert!(out.applied);
    assert_eq!(out.conflicts, 1, "the version moved by two: noticed");
    emu.assert_no_violations().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_refuses_a_key_it_does_not_know() {
    let emu = Emulator::start(&[]);
    let other = emu.dir.path().join("other.pem");
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        other.to_str().unwrap_or(""),
    ]);
    let key = key_json(emu.dir.path(), &other, &format!("{}/token", emu.base));
    let mut cfg = emu.config("max_attempts = 1");
    cfg.service_account_key_file = key;
    let c = AmapiClient::new(&cfg).expect("client");
    let e = c
        .get_policy(&format!("{ENTERPRISE}/policies/default"))
        .await
        .expect_err("refused");
    assert!(matches!(e, ConnError::Auth(_)), "{e}");
    assert!(
        e.to_string().contains("Signature verification failed"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_refuses_unknown_fields_and_wrong_enums() {
    // The oracle itself: a body outside the discovery document is refused and listed.
    let emu = Emulator::start(&[]);
    let signer = connectors::amapi::JwtSigner::from_json(
        &std::fs::read_to_string(&emu.key_file).expect("key"),
    )
    .expect("signer");
    let tok: Value = emu
        .http
        .post(format!("{}/token", emu.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={}",
            signer.assertion(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("now")
                    .as_secs()
            )
        ))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = tok["access_token"].as_str().expect("access_token");
    let url = format!(
        "{}/v1/{ENTERPRISE}/policies/p?updateMask=applications",
        emu.base
    );
    for body in [
        json!({"applications": [{"packageName": "x", "installTyp": "BLOCKED"}]}),
        json!({"applications": [{"packageName": "x", "installType": "BANNED"}]}),
        json!({"applications": [{"packageName": "x", "signingKeyCerts": [{}]}]}),
    ] {
        let r = emu
            .http
            .patch(&url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("patch");
        assert_eq!(r.status().as_u16(), 400, "{body}");
    }
    let v = emu.get("violations").await;
    let v: Vec<&str> = v
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(v.len(), 3, "{v:?}");
    assert!(v[0].contains("installTyp: unknown field"), "{v:?}");
    assert!(
        v[1].contains("'BANNED' is not one of the enum values"),
        "{v:?}"
    );
    assert!(
        v[2].contains("signingKeyCertFingerprintSha256: required field missing"),
        "{v:?}"
    );
}
