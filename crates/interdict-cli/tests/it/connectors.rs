//! Issue 17 as a new user tries it: an AMAPI connector configured against the emulator
//! (`tests/mdm/amapi_emulator.py`, every body checked against Google's discovery document)
//! pulls the fleet, marks the WeChat device non-compliant, merges `BLOCKED` into the existing
//! policy without dropping the other apps, and shows the removal confirmed after the next pull.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::support::{admin_get, call, data_dir_args, init, serve_on, BIN};

const CANADA: &str = include_str!("../../../../examples/canada-gc-mobile-v2.toml");
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

struct Emulator {
    child: Child,
    base: String,
    key_file: PathBuf,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success(), "openssl {args:?}");
}

fn start_emulator(dir: &Path) -> Emulator {
    let pem = dir.join("sa.pem");
    let pubk = dir.join("sa.pub");
    let (pem_s, pub_s) = (pem.display().to_string(), pubk.display().to_string());
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &pem_s,
    ]);
    openssl(&["pkey", "-in", &pem_s, "-pubout", "-out", &pub_s]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mdm/amapi_emulator.py");
    let mut child = Command::new(python())
        .arg(&script)
        .args([
            "--public-key",
            &pub_s,
            "--client-email",
            EMAIL,
            "--enterprise",
            ENTERPRISE,
        ])
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
    let base = format!("http://127.0.0.1:{port}");
    let key_file = dir.join("amapi-key.json");
    let key = json!({
        "type": "service_account", "project_id": "test-project", "private_key_id": "k1",
        "private_key": std::fs::read_to_string(&pem).expect("pem"),
        "client_email": EMAIL, "client_id": "1", "token_uri": format!("{base}/token"),
    });
    std::fs::write(&key_file, key.to_string()).expect("key");
    Emulator {
        child,
        base,
        key_file,
    }
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

fn device(i: usize, apps: &[&str], ownership: &str) -> Value {
    let reports: Vec<Value> = apps
        .iter()
        .map(|p| {
            json!({"packageName": p, "versionName": "1.0", "versionCode": 10, "state": "INSTALLED",
                        "applicationSource": "INSTALLED_FROM_PLAY_STORE"})
        })
        .collect();
    json!({
        "name": format!("{ENTERPRISE}/devices/d{i}"),
        "ownership": ownership,
        "managementMode": "DEVICE_OWNER",
        "policyName": format!("{ENTERPRISE}/policies/default"),
        "hardwareInfo": {"model": "Pixel 8", "serialNumber": format!("SN{i}")},
        "applicationReports": reports,
    })
}

fn sync(store: &[String], config: &Path) -> Value {
    let out = Command::new(BIN)
        .args(["connector", "sync", "android", "--json", "--config"])
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
async fn amapi_connector_pulls_pushes_and_confirms_removals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emu = start_emulator(dir.path());
    let policy = format!("{ENTERPRISE}/policies/default");
    control(
        &emu,
        reqwest::Method::PUT,
        &format!("policies/{policy}"),
        Some(json!({
            "name": policy, "version": "3", "playStoreMode": "BLACKLIST",
            "applications": [
                {"packageName": "com.example.mail", "installType": "FORCE_INSTALLED"},
                {"packageName": "com.example.maps", "installType": "AVAILABLE"}
            ]
        })),
    )
    .await;
    control(
        &emu,
        reqwest::Method::PUT,
        "devices",
        Some(json!([
            device(1, &["com.example.mail", "com.tencent.mm"], "COMPANY_OWNED"),
            device(2, &["com.example.mail"], "COMPANY_OWNED"),
            device(3, &["com.example.maps"], "PERSONALLY_OWNED"),
        ])),
    )
    .await;
    let config = dir.path().join("server.toml");
    std::fs::write(&config, format!(
        "[[connector]]\nname = \"android\"\nkind = \"amapi\"\nenterprise = \"{ENTERPRISE}\"\nservice_account_key_file = {:?}\nbase_url = \"{}\"\npolicy = \"{policy}\"\npush = \"dry_run\"\ninterval_secs = 3600\ngroups = [\"government-issued\"]\n",
        emu.key_file.display().to_string(), emu.base)).expect("config");
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

    // The server ran the connector once at start (before the policy was published): wait for
    // it to finish, so that the syncs below do not race it.
    for i in 0.. {
        assert!(i < 2400, "the server's first sync never finished");
        let v = admin_get(&base, &admin, "/api/v1/connectors").await;
        let state = v["connectors"][0]["state"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if state != "running" && state != "never" {
            assert_eq!(v["connectors"][0]["devices"], 3, "{v}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Dry run first: the diff, nothing written.
    let r = sync(&store, &config);
    assert_eq!(r["state"], "ok", "{r}");
    assert_eq!(r["complete"], true);
    assert_eq!(r["devices"], 3);
    assert_eq!(r["non_compliant"], 1);
    assert!(
        r["push"]["diff"]
            .as_str()
            .expect("diff")
            .contains("+ com.tencent.mm installType=BLOCKED"),
        "{r}"
    );
    assert_eq!(r["push"]["applied"], false);
    let p = control(
        &emu,
        reqwest::Method::GET,
        &format!("policies/{policy}"),
        None,
    )
    .await;
    assert_eq!(p["version"], "3");

    let v = admin_get(&base, &admin, "/api/v1/devices?compliant=false").await;
    let devs = v["devices"]
        .as_array()
        .or(v.as_array())
        .cloned()
        .expect("devices");
    assert_eq!(devs.len(), 1, "{v}");
    let dev_id = devs[0]["id"].as_str().expect("id").to_string();

    // Apply: merged into the existing policy, the other apps kept.
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .expect("read")
            .replace("push = \"dry_run\"", "push = \"apply\""),
    )
    .expect("write");
    let r = sync(&store, &config);
    assert_eq!(r["push"]["applied"], true, "{r}");
    let p = control(
        &emu,
        reqwest::Method::GET,
        &format!("policies/{policy}"),
        None,
    )
    .await;
    let apps = p["applications"].as_array().expect("apps");
    let ids: Vec<(&str, &str)> = apps
        .iter()
        .map(|a| {
            (
                a["packageName"].as_str().unwrap_or(""),
                a["installType"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        ids.contains(&("com.example.mail", "FORCE_INSTALLED")),
        "{ids:?}"
    );
    assert!(ids.contains(&("com.example.maps", "AVAILABLE")), "{ids:?}");
    assert!(ids.contains(&("com.tencent.mm", "BLOCKED")), "{ids:?}");
    assert_eq!(p["playStoreMode"], "BLACKLIST");

    // The MDM reports the removal: the next pull confirms it.
    let mut d1 = device(1, &["com.example.mail"], "COMPANY_OWNED");
    d1["applicationReports"]
        .as_array_mut()
        .expect("reports")
        .push(json!({"packageName": "com.tencent.mm", "state": "REMOVED"}));
    control(
        &emu,
        reqwest::Method::PUT,
        "devices",
        Some(json!([
            d1,
            device(2, &["com.example.mail"], "COMPANY_OWNED"),
            device(3, &["com.example.maps"], "PERSONALLY_OWNED"),
        ])),
    )
    .await;
    let r = sync(&store, &config);
    assert_eq!(r["removals_confirmed"], 1, "{r}");
    assert_eq!(r["non_compliant"], 0, "{r}");
    assert_eq!(
        r["push"]["plan"]["added"],
        json!([]),
        "nothing left to change: {r}"
    );
    let d = admin_get(&base, &admin, &format!("/api/v1/devices/{dev_id}")).await;
    let results = d["action_results"].as_array().expect("results");
    assert!(
        results.iter().any(|a| a["status"] == "done"
            && a["app_id"] == "com.tencent.mm"
            && a["detail"].as_str().unwrap_or("").contains("REMOVED")),
        "{d}"
    );

    // State and last error in the API; each sync is an event.
    let v = admin_get(&base, &admin, "/api/v1/connectors").await;
    let conn = &v["connectors"][0];
    assert_eq!(conn["name"], "android");
    assert_eq!(conn["state"], "ok", "{v}");
    assert_eq!(conn["devices"], 3);
    assert!(
        conn["last_result"]["event_seq"].as_i64().unwrap_or(0) > 0
            || conn["last_result"]["devices"] == 3,
        "{v}"
    );
    assert_eq!(
        control(&emu, reqwest::Method::GET, "violations", None).await,
        json!([])
    );
    let _ = server.kill();
    let _ = server.wait();
}

struct Proc(Child, u16);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_py(script: &str, args: &[&str]) -> Proc {
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
        .expect("python");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("port");
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{script}: {line:?}"));
    Proc(child, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_gets_the_removal_email_in_french_and_a_refused_address_shows_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emu = start_emulator(dir.path());
    let mut d1 = device(1, &["com.tencent.mm"], "COMPANY_OWNED");
    d1["enrollmentTokenData"] =
        json!(json!({"owner_email": "proprietaire@example.gc.ca", "lang": "fr-CA"}).to_string());
    let mut d2 = device(2, &["com.tencent.mm"], "COMPANY_OWNED");
    d2["enrollmentTokenData"] =
        json!(json!({"owner_email": "refuse.owner@example.gc.ca", "lang": "en"}).to_string());
    control(
        &emu,
        reqwest::Method::PUT,
        "devices",
        Some(json!([
            d1,
            d2,
            device(3, &["com.example.mail"], "COMPANY_OWNED")
        ])),
    )
    .await;

    let (crt, key) = (dir.path().join("smtp.crt"), dir.path().join("smtp.key"));
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
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success());
    let mail = dir.path().join("mail");
    std::fs::create_dir(&mail).expect("mkdir");
    let smtp = start_py(
        "smtp_server.py",
        &[
            "--cert",
            &crt.display().to_string(),
            "--key",
            &key.display().to_string(),
            "--out",
            &mail.display().to_string(),
        ],
    );
    let secret = "webhook-secret-0123456789";
    let hook = start_py("webhook_receiver.py", &["--secret", secret]);
    std::fs::write(dir.path().join("hook.secret"), secret).expect("secret");

    let config = dir.path().join("server.toml");
    std::fs::write(&config, format!(
        "[[connector]]\nname = \"android\"\nkind = \"amapi\"\nenterprise = \"{ENTERPRISE}\"\nservice_account_key_file = {:?}\nbase_url = \"{}\"\npush = \"off\"\ngroups = [\"government-issued\"]\n\
         [notifications]\nretry_base_secs = 1\n[notifications.smtp]\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"interdict@example.gc.ca\"\nca_file = {:?}\n\
         [[notifications.webhook]]\nname = \"siem\"\nurl = \"http://127.0.0.1:{}/hook\"\nsecret_file = {:?}\n",
        emu.key_file.display().to_string(), emu.base, smtp.1, crt.display().to_string(), hook.1,
        dir.path().join("hook.secret").display().to_string())).expect("config");
    let store = data_dir_args(dir.path());
    let (admin, _) = init(&store);
    let (mut server, base) = serve_on(&store, "127.0.0.1:0");
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
    let r = sync(&store, &config);
    assert_eq!(r["non_compliant"], 2, "{r}");

    let notify = |store: &[String]| -> Value {
        let out = Command::new(BIN)
            .args(["connector", "notify", "--config"])
            .arg(&config)
            .args(store)
            .output()
            .expect("notify");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let run = notify(&store);
    assert_eq!(
        run,
        json!({"queued": 4, "sent": 3, "failed": 1, "retrying": 0})
    );
    let files: Vec<PathBuf> = std::fs::read_dir(&mail)
        .expect("mail")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert_eq!(files.len(), 1);
    let m: Value = serde_json::from_slice(&std::fs::read(&files[0]).expect("read")).expect("json");
    assert_eq!(m["rcpt_tos"][0], "proprietaire@example.gc.ca");
    assert_eq!(
        m["subject"],
        "Action requise : supprimez WeChat d'ici le 2023-10-30"
    );
    assert!(
        m["body"]
            .as_str()
            .unwrap_or("")
            .contains("Motif : Unacceptable level of risk"),
        "{m}"
    );
    assert_eq!(m["tls"], true);
    let got: Value = c
        .get(format!("http://127.0.0.1:{}/hook", hook.1))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let got = got.as_array().expect("list");
    assert_eq!(got.len(), 2);
    assert!(got
        .iter()
        .all(|h| h["valid"] == true && h["body"]["kind"] == "removal_required"));

    let failed = admin_get(&base, &admin, "/api/v1/notifications?status=failed").await;
    let failed = failed["notifications"].as_array().expect("list");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["recipient"], "refuse.owner@example.gc.ca");
    assert!(
        failed[0]["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("refuse.owner@example.gc.ca"),
        "{failed:?}"
    );
    // Queued once: the next run has nothing new.
    assert_eq!(
        notify(&store),
        json!({"queued": 0, "sent": 0, "failed": 0, "retrying": 0})
    );
    let _ = server.kill();
    let _ = server.wait();
}
