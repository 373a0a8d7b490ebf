//! Issue 17, item 3, as a new user tries it: a `kind = "nanomdm"` connector against the
//! NanoMDM emulator (`tests/mdm/nanomdm_emulator.py`: Basic auth and every command plist
//! checked, devices simulated, answers posted to `interdict serve` as NanoMDM's signed
//! webhook). A WeChat (`com.tencent.xin`) iPhone is found non-compliant from its
//! `InstalledApplicationList`, `RemoveApplication` is enqueued, and its acknowledgement shows
//! the removal done; a device answering NotNow then Acknowledged, an unmanaged app's Error with
//! its ErrorChain, a replayed webhook and a bad signature are each handled.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::support::{admin_get, call, data_dir_args, init, serve_on, BIN};

const CANADA: &str = include_str!("../../../../examples/canada-gc-mobile-v2.toml");
const KEY: &str = "nanomdm-api-key";
const SECRET: &str = "nanomdm-webhook-hmac-key-0123";
const WECHAT: &str = "com.tencent.xin";

fn python() -> String {
    if let Ok(p) = std::env::var("INTERDICT_MDM_PYTHON") {
        return p;
    }
    "python3".into()
}

struct Emulator(Child, String);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_emulator() -> Emulator {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mdm/nanomdm_emulator.py");
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
    Emulator(child, format!("http://127.0.0.1:{port}"))
}

async fn control(emu: &Emulator, verb: reqwest::Method, what: &str, body: Option<Value>) -> Value {
    let mut rb = reqwest::Client::new().request(verb, format!("{}/_control/{what}", emu.1));
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

fn app(id: &str, name: &str) -> Value {
    json!({"Identifier": id, "Name": name, "ShortVersion": "8.0.45", "Version": "8.0.45.33"})
}

fn sync(store: &[String], config: &Path) -> Value {
    let out = Command::new(BIN)
        .args(["connector", "sync", "apple", "--json", "--config"])
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

/// Waits until the emulator has posted `n` webhooks; returns its log.
async fn posted(emu: &Emulator, n: usize) -> Vec<Value> {
    for _ in 0..2400 {
        let log = control(emu, reqwest::Method::GET, "log", None).await;
        let log = log.as_array().cloned().unwrap_or_default();
        if log.len() >= n {
            return log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the emulator never posted {n} webhooks");
}

async fn device_id(base: &str, admin: &str, udid: &str) -> String {
    let v = admin_get(base, admin, "/api/v1/devices").await;
    let devs = v["devices"]
        .as_array()
        .or(v.as_array())
        .cloned()
        .expect("devices");
    devs.iter()
        .find(|d| {
            d["name"]
                .as_str()
                .is_some_and(|n| n.ends_with(&udid[..12.min(udid.len())]))
        })
        .and_then(|d| d["id"].as_str())
        .unwrap_or_else(|| panic!("no device for {udid}: {v}"))
        .to_string()
}

async fn results(base: &str, admin: &str, id: &str) -> Vec<Value> {
    let d = admin_get(base, admin, &format!("/api/v1/devices/{id}")).await;
    d["action_results"].as_array().cloned().unwrap_or_default()
}

async fn events(base: &str, admin: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let v = admin_get(
            base,
            admin,
            &format!("/api/v1/events?after={after}&limit=500"),
        )
        .await;
        let page = v["events"].as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return out;
        }
        after = v["next_after"].as_i64().unwrap_or(after + 500);
        out.extend(page);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nanomdm_connector_finds_wechat_removes_it_and_refuses_forged_or_replayed_webhooks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emu = start_emulator();
    control(
        &emu,
        reqwest::Method::PUT,
        "devices",
        Some(json!({
            "UDID-WECHAT-0001": {"apps": [app(WECHAT, "WeChat"), app("com.apple.Pages", "Pages")]},
            "UDID-CLEAN-00002": {"apps": [app("com.apple.Pages", "Pages")]},
            "UDID-NOTNOW-0003": {"apps": [app(WECHAT, "WeChat")], "not_now": {"RemoveApplication": 1}},
            "UDID-UNMANAGED-4": {"apps": [app(WECHAT, "WeChat")], "unmanaged": [WECHAT]},
        })),
    )
    .await;
    let key_file = dir.path().join("nanomdm.key");
    std::fs::write(&key_file, format!("{KEY}\n")).expect("key");
    let secret_file = dir.path().join("nanomdm-webhook.key");
    std::fs::write(&secret_file, SECRET).expect("secret");
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[[connector]]\nname = \"apple\"\nkind = \"nanomdm\"\nbase_url = \"{}\"\n\
             api_key_file = {:?}\nwebhook_secret_file = {:?}\n\
             enrollment_ids = [\"UDID-WECHAT-0001\", \"UDID-CLEAN-00002\", \"UDID-NOTNOW-0003\", \"UDID-UNMANAGED-4\"]\n\
             ownership = \"corporate\"\ngroups = [\"government-issued\"]\nremove = \"apply\"\ninterval_secs = 3600\n",
            emu.1,
            key_file.display().to_string(),
            secret_file.display().to_string()
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

    // The server's first sync (at start) queued InstalledApplicationList to the four devices;
    // wait for it, then let the emulator deliver: answers go to the server's webhook.
    for i in 0.. {
        assert!(i < 2400, "the server's first sync never finished");
        let v = admin_get(&base, &admin, "/api/v1/connectors").await;
        let state = v["connectors"][0]["state"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if state != "running" && state != "never" && !state.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cmds = control(&emu, reqwest::Method::GET, "commands", None).await;
    assert_eq!(
        cmds[0]["request_type"], "InstalledApplicationList",
        "{cmds}"
    );
    assert_eq!(cmds[0]["ids"].as_array().map(Vec::len), Some(4), "{cmds}");
    control(
        &emu,
        reqwest::Method::PUT,
        "config",
        Some(json!({"webhook_url": format!("{base}/api/v1/connectors/apple/webhook"), "webhook_secret": SECRET})),
    )
    .await;

    // 4 inventories, then RemoveApplication to the 3 WeChat devices (NotNow once: 4 answers).
    let log = posted(&emu, 8).await;
    assert!(log.iter().all(|p| p["code"] == 200), "{log:#?}");
    let removals: Vec<&Value> = log
        .iter()
        .filter(|p| p["request_type"] == "RemoveApplication")
        .collect();
    assert_eq!(removals.len(), 4, "{log:#?}");
    let devices = control(&emu, reqwest::Method::GET, "devices", None).await;
    assert_eq!(
        devices["UDID-WECHAT-0001"]["apps"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        devices["UDID-UNMANAGED-4"]["apps"].as_array().map(Vec::len),
        Some(1)
    );

    // The WeChat iPhone: non-compliant from its inventory, the removal acknowledged → done.
    let wechat = device_id(&base, &admin, "UDID-WECHAT-0001").await;
    let d = admin_get(&base, &admin, &format!("/api/v1/devices/{wechat}")).await;
    assert_eq!(d["platform"], "ios", "{d}");
    let r = results(&base, &admin, &wechat).await;
    assert!(
        r.iter().any(|a| a["status"] == "done"
            && a["app_id"] == WECHAT
            && a["detail"].as_str().unwrap_or("").contains("acknowledged")),
        "{r:#?}"
    );
    // NotNow: pending, then done when the device took it.
    let notnow = device_id(&base, &admin, "UDID-NOTNOW-0003").await;
    let r = results(&base, &admin, &notnow).await;
    assert!(r.iter().any(|a| a["status"] == "pending"), "{r:#?}");
    assert!(r.iter().any(|a| a["status"] == "done"), "{r:#?}");
    // An app the user installed: failed, with the device's ErrorChain and why.
    let unmanaged = device_id(&base, &admin, "UDID-UNMANAGED-4").await;
    let r = results(&base, &admin, &unmanaged).await;
    assert!(
        r.iter().any(|a| a["status"] == "failed"
            && a["detail"]
                .as_str()
                .unwrap_or("")
                .contains("is not managed")
            && a["detail"]
                .as_str()
                .unwrap_or("")
                .contains("MCMDMErrorDomain 12029")
            && a["detail"]
                .as_str()
                .unwrap_or("")
                .contains("managed apps only")),
        "{r:#?}"
    );
    let clean = device_id(&base, &admin, "UDID-CLEAN-00002").await;
    assert!(results(&base, &admin, &clean).await.is_empty());

    // The last webhook posted again, byte for byte: refused. A forged one: refused.
    let replay = control(&emu, reqwest::Method::POST, "replay", None).await;
    assert_eq!(replay["code"], 409, "{replay}");
    let forged = control(&emu, reqwest::Method::POST, "bad_signature", None).await;
    assert_eq!(forged["code"], 401, "{forged}");
    // Signed but bad: a created_at outside the replay window, bodies that are not NanoMDM's
    // webhook; each refused with an event, never a panic.
    let stale = json!({"topic": "mdm.Connect", "event_id": "", "created_at": "2020-01-01T00:00:00Z",
        "acknowledge_event": {"udid": "UDID-CLEAN-00002", "status": "Idle", "raw_payload": null}});
    let r = control(
        &emu,
        reqwest::Method::POST,
        "post",
        Some(json!({"body": stale.to_string()})),
    )
    .await;
    assert_eq!(r["code"], 409, "{r}");
    for bad in ["{", "[]", "{\"topic\": 5}"] {
        let r = control(
            &emu,
            reqwest::Method::POST,
            "post",
            Some(json!({"body": bad})),
        )
        .await;
        assert_eq!(r["code"], 422, "{bad}: {r}");
    }
    let ev = events(&base, &admin).await;
    let refused: Vec<String> = ev
        .iter()
        .filter(|e| e["action"] == "connector.webhook_refused")
        .filter_map(|e| {
            let body: Value = match &e["body"] {
                Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                other => other.clone(),
            };
            body["reason"].as_str().map(str::to_string)
        })
        .collect();
    assert!(refused.iter().any(|r| r == "replayed"), "{refused:?}");
    assert!(refused.iter().any(|r| r == "bad_signature"), "{refused:?}");
    assert!(refused.iter().any(|r| r == "stale"), "{refused:?}");
    assert!(refused.iter().any(|r| r == "malformed"), "{refused:?}");

    // The next sync, with NanoMDM failing twice and slow: retried; new inventories confirm
    // the removal; no removal is sent twice.
    control(
        &emu,
        reqwest::Method::PUT,
        "faults",
        Some(json!({"status_503": 2, "slow_ms": 50})),
    )
    .await;
    let r = sync(&store, &config);
    assert_eq!(r["state"], "ok", "{r:#}");
    assert_eq!(r["nanomdm"]["inventory_enqueued"], 4, "{r:#}");
    assert_eq!(r["nanomdm"]["removals_enqueued"], json!([]), "{r:#}");
    assert!(r["requests"]["retries"].as_u64().unwrap_or(0) >= 2, "{r:#}");
    let log = posted(&emu, 12).await;
    assert!(log.iter().take(12).all(|p| p["code"] == 200), "{log:#?}");
    for _ in 0..2400 {
        let d = admin_get(&base, &admin, &format!("/api/v1/devices/{wechat}")).await;
        if d["compliant"] == true {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let r = results(&base, &admin, &wechat).await;
    assert!(
        r.iter().any(|a| a["status"] == "done"
            && a["detail"]
                .as_str()
                .unwrap_or("")
                .contains("InstalledApplicationList")),
        "{r:#?}"
    );
    let d = admin_get(&base, &admin, &format!("/api/v1/devices/{wechat}")).await;
    assert_eq!(d["compliant"], true, "{d}");
    let d = admin_get(&base, &admin, &format!("/api/v1/devices/{unmanaged}")).await;
    assert_eq!(d["compliant"], false, "{d}");

    assert_eq!(
        control(&emu, reqwest::Method::GET, "violations", None).await,
        json!([])
    );
    let _ = server.kill();
    let _ = server.wait();
}
