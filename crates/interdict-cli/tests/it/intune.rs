//! Issue 17, Intune, as a new user tries it: an Intune connector configured against the Graph
//! emulator (`tests/mdm/graph_emulator.py`, every body read and written by Microsoft's Graph SDK
//! models) pulls the devices and their detected apps through `interdict serve` and
//! `interdict connector sync`, marks the WeChat devices non-compliant, shows Intune's limits in
//! the report (7-day refresh, no apps on fully managed Android, whose stored inventory is kept),
//! and pushes the ban: a dry run first, then the iOS restricted-apps compliance policy assigned to
//! the mapped Azure AD group and the `uninstall` assignment of the managed Android app.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::support::{admin_get, call, data_dir_args, init, serve_on, BIN};

const CANADA: &str = include_str!("../../../../examples/canada-gc-mobile-v2.toml");
const TENANT: &str = "contoso-test";
const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
const SECRET: &str = "s3cret~value.for-tests";
const GROUP: &str = "0d6c0b7e-0000-4000-8000-000000000001";

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
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_emulator(dir: &Path) -> (Emulator, PathBuf) {
    let key = dir.join("app.key").display().to_string();
    let crt = dir.join("app.pem").display().to_string();
    let ok = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key,
        ])
        .args(["-out", &crt, "-days", "2", "-subj", "/CN=interdict-test"])
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mdm/graph_emulator.py");
    let mut child = Command::new(python())
        .arg(&script)
        .args(["--tenant", TENANT, "--client-id", CLIENT_ID])
        .args(["--client-secret", SECRET, "--certificate", &crt])
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
    let port: u16 = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("emulator did not start: {line:?}"));
    let secret = dir.join("intune.secret");
    std::fs::write(&secret, SECRET).expect("secret");
    (
        Emulator {
            child,
            base: format!("http://127.0.0.1:{port}"),
        },
        secret,
    )
}

async fn control(emu: &Emulator, verb: reqwest::Method, what: &str, body: Option<Value>) -> Value {
    let c = reqwest::Client::new();
    let mut rb = c.request(verb, format!("{}/_control/{what}", emu.base));
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

fn device(id: &str, os: &str, enrollment: &str) -> Value {
    json!({
        "id": id, "deviceName": format!("{id} phone"), "operatingSystem": os,
        "managedDeviceOwnerType": "company", "complianceState": "compliant",
        "managementAgent": "mdm", "deviceEnrollmentType": enrollment,
        "serialNumber": format!("SN-{id}"), "model": "Phone",
        "emailAddress": format!("{id}@example.gc.ca"), "lastSyncDateTime": "2026-12-01T10:00:00Z",
    })
}

fn apps(names: &[&str], platform: &str) -> Value {
    json!(names
        .iter()
        .map(|n| json!({"id": format!("app-{n}"), "displayName": n, "version": "1.0", "platform": platform}))
        .collect::<Vec<_>>())
}

fn sync(store: &[String], config: &Path) -> Value {
    let out = Command::new(BIN)
        .args(["connector", "sync", "intune", "--json", "--config"])
        .arg(config)
        .args(store)
        .output()
        .expect("connector sync");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intune_connector_pulls_detected_apps_and_pushes_restricted_apps_and_uninstall() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (emu, secret) = start_emulator(dir.path());
    control(
        &emu,
        reqwest::Method::PUT,
        "devices",
        Some(json!([
            device("ios-1", "iOS", "appleBulkWithUser"),
            device("ios-2", "iOS", "appleBulkWithUser"),
            device("and-1", "Android", "androidEnterpriseCorporateWorkProfile"),
            device("win-1", "Windows", "windowsAzureADJoin"),
        ])),
    )
    .await;
    control(
        &emu,
        reqwest::Method::PUT,
        "apps",
        Some(json!({
            "ios-1": apps(&["com.tencent.xin", "com.example.mail"], "ios"),
            "ios-2": apps(&["com.example.mail"], "ios"),
            "and-1": apps(&["com.tencent.mm"], "androidWorkProfile"),
        })),
    )
    .await;
    control(
        &emu,
        reqwest::Method::PUT,
        "mobile_apps",
        Some(json!([{"app": {"@odata.type": "#microsoft.graph.androidManagedStoreApp", "id": "ms-wechat",
            "displayName": "WeChat", "packageId": "com.tencent.mm", "appIdentifier": "com.tencent.mm"}}])),
    )
    .await;
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[[connector]]\nname = \"intune\"\nkind = \"intune\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = {:?}\ngraph_url = \"{b}\"\ntoken_url = \"{b}/{TENANT}/oauth2/v2.0/token\"\npush = \"dry_run\"\nios_policy_name = \"interdict ban\"\ngroups = [\"government-issued\"]\n[connector.aad_groups]\n\"government-issued\" = \"{GROUP}\"\n",
            secret.display().to_string(),
            b = emu.base
        ),
    )
    .expect("config");
    let store = data_dir_args(dir.path());
    let (admin, _) = init(&store);
    let mut store_cfg = store.clone();
    store_cfg.extend(["--config".to_string(), config.display().to_string()]);
    let (mut server, base) = serve_on(&store_cfg, "127.0.0.1:0");
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
    // The server's own first sync (at start): wait for it so the syncs below do not race it.
    for i in 0.. {
        assert!(i < 2400, "the server's first sync never finished");
        let v = admin_get(&base, &admin, "/api/v1/connectors").await;
        let state = v["connectors"][0]["state"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if state != "running" && state != "never" {
            assert_eq!(v["connectors"][0]["kind"], "intune", "{v}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Dry run: devices and findings, Intune's limits, the diff; nothing written.
    let r = sync(&store, &config);
    assert_eq!(r["state"], "ok", "{r}");
    assert_eq!(r["kind"], "intune");
    assert_eq!(
        (r["complete"].as_bool(), r["devices"].as_u64()),
        (Some(true), Some(3)),
        "{r}"
    );
    assert_eq!(r["non_compliant"], 2, "{r}");
    let notes = r["warnings"].to_string();
    assert!(notes.contains("every 7 days"), "{r}");
    assert!(notes.contains("1 devices of other platforms"), "{r}");
    let diff = r["intune_push"]["diff"].as_str().expect("diff");
    assert!(diff.contains("+ create interdict ban (1/1)"), "{diff}");
    assert!(
        diff.contains(&format!(
            "~ uninstall com.tencent.mm: group {GROUP} + uninstall"
        )),
        "{diff}"
    );
    assert_eq!(r["intune_push"]["applied"], false);
    assert_eq!(
        control(&emu, reqwest::Method::GET, "policies", None).await,
        json!([])
    );

    // Apply.
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .expect("read")
            .replace("push = \"dry_run\"", "push = \"apply\""),
    )
    .expect("write");
    let r = sync(&store, &config);
    assert_eq!(r["intune_push"]["applied"], true, "{r}");
    assert!(r["push_error"].is_null(), "{r}");
    let pols = control(&emu, reqwest::Method::GET, "policies", None).await;
    let pols = pols.as_array().expect("policies");
    assert_eq!(pols.len(), 1, "{pols:?}");
    assert_eq!(pols[0]["displayName"], "interdict ban (1/1)");
    assert_eq!(
        pols[0]["@odata.type"],
        "#microsoft.graph.iosCompliancePolicy"
    );
    let ids: Vec<&str> = pols[0]["restrictedApps"]
        .as_array()
        .expect("apps")
        .iter()
        .filter_map(|a| a["appId"].as_str())
        .collect();
    assert!(ids.contains(&"com.tencent.xin"), "{ids:?}");
    assert_eq!(pols[0]["assignments"][0]["target"]["groupId"], GROUP);
    let mobile = control(&emu, reqwest::Method::GET, "mobile_apps", None).await;
    assert_eq!(
        mobile[0]["assignments"][0]["intent"], "uninstall",
        "{mobile}"
    );
    assert_eq!(mobile[0]["assignments"][0]["target"]["groupId"], GROUP);

    // The Android device is now reported fully managed: Intune gives no apps for it; its stored
    // inventory is kept (still non-compliant), and the report says so.
    control(
        &emu,
        reqwest::Method::PUT,
        "devices",
        Some(json!([
            device("ios-1", "iOS", "appleBulkWithUser"),
            device("ios-2", "iOS", "appleBulkWithUser"),
            device("and-1", "Android", "androidEnterpriseFullyManaged"),
        ])),
    )
    .await;
    control(
        &emu,
        reqwest::Method::PUT,
        "apps",
        Some(json!({"ios-1": apps(&["com.example.mail"], "ios"), "ios-2": apps(&["com.example.mail"], "ios")})),
    )
    .await;
    let r = sync(&store, &config);
    assert_eq!(r["state"], "ok", "{r}");
    assert_eq!(r["non_compliant"], 1, "and-1 keeps its inventory: {r}");
    assert_eq!(r["removals_confirmed"], 1, "WeChat gone from ios-1: {r}");
    let notes = r["warnings"].to_string();
    assert!(notes.contains("managedDevices/and-1"), "{r}");
    assert!(notes.contains("fully managed"), "{r}");
    assert!(
        r["intune_push"]["diff"]
            .as_str()
            .expect("diff")
            .contains("= unchanged interdict ban (1/1)"),
        "{r}"
    );

    let v = admin_get(&base, &admin, "/api/v1/connectors").await;
    assert_eq!(v["connectors"][0]["state"], "ok", "{v}");
    assert_eq!(
        control(&emu, reqwest::Method::GET, "violations", None).await,
        json!([])
    );
    let _ = server.kill();
    let _ = server.wait();
}
