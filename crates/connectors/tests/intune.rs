//! The Intune (Graph) client against the emulator (`tests/mdm/graph_emulator.py`), which parses
//! every request and writes every response with the model classes of Microsoft's Graph SDK
//! (`msgraph-beta-sdk`), checks the client secret and the client assertion, and injects faults.
//!
//! Python comes from `$INTERDICT_MDM_PYTHON` (scripts/test.sh points it at a venv with
//! `tests/mdm/requirements.txt`).

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use connectors::intune::{IntuneClient, IntuneConfig, PushOutcome, Target};
use connectors::{ConnError, PushMode};
use serde_json::{json, Value};

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

/// A self-signed certificate and its key, as an app registration's certificate credential.
fn cert(dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{stem}.key"));
    let crt = dir.join(format!("{stem}.pem"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key.to_str().unwrap_or(""),
        "-out",
        crt.to_str().unwrap_or(""),
        "-days",
        "2",
        "-subj",
        "/CN=interdict-test",
    ]);
    (crt, key)
}

struct Emulator {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
    secret_file: PathBuf,
    cert: (PathBuf, PathBuf),
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
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = cert(dir.path(), "app");
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, format!("{SECRET}\n")).expect("secret");
        let script = repo().join("tests/mdm/graph_emulator.py");
        let mut child = Command::new(python())
            .arg(&script)
            .args(["--tenant", TENANT, "--client-id", CLIENT_ID, "--client-secret", SECRET])
            .args(["--certificate", cert.0.to_str().unwrap_or("")])
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
        Emulator {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
            secret_file,
            cert,
            http: reqwest::Client::new(),
        }
    }

    fn config(&self, extra: &str) -> IntuneConfig {
        toml::from_str(&format!(
            "name = \"intune\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = {:?}\ngraph_url = \"{b}\"\ntoken_url = \"{b}/{TENANT}/oauth2/v2.0/token\"\nios_policy_name = \"interdict ban\"\ngroups = [\"fleet\"]\n{extra}",
            self.secret_file.display().to_string(),
            b = self.base
        ))
        .expect("config")
    }

    fn client_with(&self, cfg: &IntuneConfig) -> IntuneClient {
        let mut c = IntuneClient::new(cfg).expect("client");
        c.backoff_base = Duration::from_millis(10);
        c
    }

    fn client(&self, extra: &str) -> IntuneClient {
        self.client_with(&self.config(extra))
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
        assert_eq!(
            self.get("violations").await,
            json!([]),
            "bodies the Graph SDK cannot read"
        );
    }
}

fn device(i: usize, os: &str) -> Value {
    json!({
        "id": format!("dev-{i:04}"),
        "deviceName": format!("Phone {i}"),
        "operatingSystem": os,
        "osVersion": "17.5",
        "managedDeviceOwnerType": if i.is_multiple_of(3) { "personal" } else { "company" },
        "complianceState": "compliant",
        "managementAgent": "mdm",
        "deviceEnrollmentType": "userEnrollment",
        "serialNumber": format!("SN{i}"),
        "model": "iPhone 15",
        "emailAddress": format!("user{i}@example.gc.ca"),
        "userPrincipalName": format!("user{i}@example.gc.ca"),
        "lastSyncDateTime": "2026-12-01T10:00:00Z",
    })
}

fn app(name: &str, platform: &str) -> Value {
    json!({"id": format!("{:x}", name.len()) + name, "displayName": name, "version": "1.0",
           "publisher": "Example", "platform": platform, "sizeInByte": 1000, "deviceCount": 1})
}

async fn pull_all(
    c: &IntuneClient,
) -> Result<
    (
        Vec<connectors::intune::IntuneDevice>,
        Vec<connectors::ItemError>,
        u64,
    ),
    (ConnError, usize),
> {
    let mut pager = c.devices();
    let mut devs = Vec::new();
    let mut errors = Vec::new();
    loop {
        match pager.next_page().await {
            Ok(Some(p)) => {
                devs.extend(p.devices);
                errors.extend(p.errors);
            }
            Ok(None) => {
                assert!(pager.complete());
                return Ok((devs, errors, pager.pages()));
            }
            Err(e) => return Err((e, devs.len())),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_pages_through_429_5xx_expired_token_and_changing_next_links() {
    let emu = Emulator::start();
    let mut devs: Vec<Value> = (0..230)
        .map(|i| {
            device(
                i,
                if i.is_multiple_of(2) {
                    "iOS"
                } else {
                    "Android"
                },
            )
        })
        .collect();
    devs.push(device(900, "Windows"));
    let mut apps = serde_json::Map::new();
    for (i, d) in devs.iter().enumerate() {
        let id = d["id"].as_str().expect("id").to_string();
        let n = if i == 4 { 95 } else { 2 };
        let list: Vec<Value> = (0..n)
            .map(|k| {
                app(
                    &format!("com.example.app{k}"),
                    if i % 2 == 0 {
                        "ios"
                    } else {
                        "androidWorkProfile"
                    },
                )
            })
            .collect();
        apps.insert(id, json!(list));
    }
    emu.put("devices", json!(devs)).await;
    emu.put("apps", Value::Object(apps)).await;
    emu.put(
        "faults",
        json!({"status_429": 1, "status_503": 2, "slow_ms": 5}),
    )
    .await;
    let c = emu.client("");
    let mut pager = c.devices();
    let first = pager.next_page().await.expect("page 1").expect("some");
    assert_eq!(first.devices.len(), 100);
    assert_eq!(
        first.devices[4].inventory.apps.len(),
        95,
        "detectedApps followed through its nextLinks"
    );
    emu.put("faults", json!({"expire_token": true, "slow_ms": 0}))
        .await;
    let mut n = first.devices.len();
    let mut other = first.other_platforms;
    while let Some(p) = pager.next_page().await.expect("page") {
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        n += p.devices.len();
        other += p.other_platforms;
    }
    assert!(pager.complete());
    assert_eq!((n, other, pager.pages()), (230, 1, 3));
    let counters = c.counters();
    assert_eq!(counters.tokens, 2, "a new token after the 401");
    assert!(counters.retries >= 3, "{counters:?}");
    emu.assert_no_violations().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maps_ownership_platform_and_apps_and_keeps_fully_managed_android_unread() {
    let emu = Emulator::start();
    let mut fm = device(2, "Android");
    fm["deviceEnrollmentType"] = json!("androidEnterpriseFullyManaged");
    fm["managementAgent"] = json!("googleCloudDevicePolicyController");
    let mut unknown = device(1, "iPadOS");
    unknown["managedDeviceOwnerType"] = json!("unknown");
    emu.put("devices", json!([device(0, "iOS"), unknown, fm]))
        .await;
    emu.put(
        "apps",
        json!({"dev-0000": [app("com.tencent.xin", "ios")], "dev-0001": [], "dev-0002": [app("com.tencent.mm", "androidDedicatedAndFullyManaged")]}),
    )
    .await;
    let c = emu.client("");
    let (devs, errors, _) = pull_all(&c).await.map_err(|(e, _)| e).expect("pull");
    assert!(errors.is_empty(), "{errors:?}");
    use app_policy::model::{Ownership, Platform};
    assert_eq!(devs[0].inventory.device.ownership, Ownership::Personal);
    assert_eq!(devs[0].inventory.device.platform, Platform::Ios);
    assert_eq!(devs[0].inventory.apps[0].id, "com.tencent.xin");
    assert_eq!(devs[0].inventory.device.groups, vec!["fleet"]);
    assert_eq!(devs[0].owner_email.as_deref(), Some("user0@example.gc.ca"));
    assert_eq!(devs[1].inventory.device.ownership, Ownership::Unknown);
    assert_eq!(devs[1].inventory.device.platform, Platform::Ios);
    assert!(devs[2].apps_unavailable.is_some());
    assert!(devs[2].inventory.apps.is_empty());
    let log = emu.get("log").await;
    assert!(
        !log.as_array().expect("log").iter().any(|l| l
            .as_str()
            .is_some_and(|l| l.contains("dev-0002/detectedApps"))),
        "Intune reports no apps for fully managed devices: not asked"
    );
    emu.assert_no_violations().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_devices_are_named_and_the_others_kept() {
    let emu = Emulator::start();
    let mut devs: Vec<Value> = (0..7).map(|i| device(i, "iOS")).collect();
    devs[1]
        .as_object_mut()
        .map(|o| o.remove("managedDeviceOwnerType"));
    devs[2]["complianceState"] = json!("sortOfCompliant");
    devs[5]["managedDeviceOwnerType"] = json!("shared");
    let mut apps = serde_json::Map::new();
    for d in &devs {
        apps.insert(
            d["id"].as_str().expect("id").into(),
            json!([app("com.ok", "ios")]),
        );
    }
    apps.insert(
        "dev-0003".into(),
        json!([app("com.ok", "ios"), {"id": "x", "version": "2"}]),
    );
    apps.insert(
        "dev-0004".into(),
        json!([{"id": "y", "displayName": "com.bad", "sizeInByte": "large"}]),
    );
    apps.insert(
        "dev-0006".into(),
        json!([{"id": "z", "displayName": "com.new", "platform": "fuchsia"}]),
    );
    emu.put("lenient", json!(true)).await;
    emu.put("devices", json!(devs)).await;
    emu.put("apps", Value::Object(apps)).await;
    let c = emu.client("page_size = 4");
    let (devs, errors, pages) = pull_all(&c).await.map_err(|(e, _)| e).expect("pull");
    assert_eq!((devs.len(), pages), (1, 2));
    let items: Vec<&str> = errors.iter().map(|e| e.item.as_str()).collect();
    assert_eq!(
        items,
        vec![
            "managedDevices/dev-0001",
            "managedDevices/dev-0002",
            "managedDevices/dev-0003/detectedApps[1]",
            "managedDevices/dev-0004/detectedApps[0] (com.bad)",
            "managedDevices/dev-0005",
            "managedDevices/dev-0006/detectedApps[0] (com.new)",
        ]
    );
    assert!(
        errors[0]
            .message
            .contains("managedDeviceOwnerType is missing"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].message.contains("sortOfCompliant"),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].message.contains("displayName is missing"),
        "{}",
        errors[2]
    );
    assert!(errors[3].message.contains("sizeInByte"), "{}", errors[3]);
    assert!(errors[4].message.contains("shared"), "{}", errors[4]);
    assert!(errors[5].message.contains("fuchsia"), "{}", errors[5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_keeps_failing_ends_the_pull_incomplete() {
    let emu = Emulator::start();
    let devs: Vec<Value> = (0..30).map(|i| device(i, "iOS")).collect();
    emu.put("devices", json!(devs)).await;
    emu.put("apps", json!({})).await;
    emu.put("faults", json!({"fail_page": 2})).await;
    let c = emu.client("page_size = 10\nmax_attempts = 3");
    let (e, got) = pull_all(&c).await.expect_err("page 2 fails");
    assert_eq!(got, 10);
    assert!(matches!(e, ConnError::Status { status: 500, .. }), "{e}");
    emu.assert_no_violations().await;
}

fn restricted(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"@odata.type": "#microsoft.graph.appListItem", "name": format!("com.banned.app{i:03}"),
                   "publisher": null, "appStoreUrl": null, "appId": format!("com.banned.app{i:03}")})
        })
        .collect()
}

fn ours(policies: &Value) -> Vec<(String, usize, Vec<String>)> {
    let mut v: Vec<(String, usize, Vec<String>)> = policies
        .as_array()
        .expect("list")
        .iter()
        .filter(|p| {
            p["displayName"]
                .as_str()
                .is_some_and(|n| n.starts_with("interdict ban"))
        })
        .map(|p| {
            (
                p["displayName"].as_str().unwrap_or("").to_string(),
                p["restrictedApps"].as_array().map(Vec::len).unwrap_or(0),
                p["assignments"]
                    .as_array()
                    .expect("assignments")
                    .iter()
                    .filter_map(|a| a["target"]["groupId"].as_str().map(String::from))
                    .collect(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splits_a_150_app_ios_restricted_list_into_two_policies() {
    let emu = Emulator::start();
    let other = json!({"id": "11111111-0000-4000-8000-000000000001", "@odata.type": "#microsoft.graph.iosCompliancePolicy",
        "displayName": "Passcode baseline", "passcodeRequired": true, "version": 3,
        "restrictedApps": [{"@odata.type": "#microsoft.graph.appListItem", "name": "Solitaire", "appId": "com.example.solitaire"}]});
    let stale = json!({"id": "22222222-0000-4000-8000-000000000002", "@odata.type": "#microsoft.graph.iosCompliancePolicy",
        "displayName": "interdict ban (1/1)", "version": 1, "restrictedApps": restricted(3)});
    emu.put("policies", json!([other, stale])).await;
    let c = emu.client("");
    let targets: BTreeSet<Target> = [Target::Group(GROUP.into())].into();
    let items = restricted(150);

    // Dry run first: the diff, nothing written.
    let mut dry = PushOutcome::default();
    c.push_ios(&items, &targets, PushMode::DryRun, &mut dry)
        .await
        .expect("dry run");
    assert_eq!((dry.ios_apps, dry.ios_parts), (150, 2));
    let diff = dry.diff_text();
    assert!(
        diff.contains("+ create interdict ban (1/2): iosCompliancePolicy, 100 restricted apps"),
        "{diff}"
    );
    assert!(
        diff.contains("+ create interdict ban (2/2): iosCompliancePolicy, 50 restricted apps"),
        "{diff}"
    );
    assert!(diff.contains("- delete interdict ban (1/1)"), "{diff}");
    assert!(dry
        .warnings
        .iter()
        .any(|w| w.contains("split into 2 policies")));
    assert_eq!(
        ours(&emu.get("policies").await),
        vec![("interdict ban (1/1)".into(), 3, vec![])],
        "the dry run wrote nothing"
    );

    // Apply: two policies, 100 + 50, both assigned; the stale part deleted; the
    // administrator's own policy untouched.
    let mut out = PushOutcome::default();
    c.push_ios(&items, &targets, PushMode::Apply, &mut out)
        .await
        .expect("apply");
    let all = emu.get("policies").await;
    assert_eq!(
        ours(&all),
        vec![
            ("interdict ban (1/2)".into(), 100, vec![GROUP.to_string()]),
            ("interdict ban (2/2)".into(), 50, vec![GROUP.to_string()]),
        ]
    );
    let kept = all
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["displayName"] == "Passcode baseline")
        .expect("other policy kept");
    assert_eq!(kept["restrictedApps"].as_array().map(Vec::len), Some(1));
    let mut ids: Vec<String> = all
        .as_array()
        .expect("list")
        .iter()
        .filter(|p| {
            p["displayName"]
                .as_str()
                .is_some_and(|n| n.starts_with("interdict ban"))
        })
        .flat_map(|p| p["restrictedApps"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["appId"].as_str().map(String::from))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 150, "every app in exactly one part");

    // Again: nothing to do.
    let mut again = PushOutcome::default();
    c.push_ios(&items, &targets, PushMode::Apply, &mut again)
        .await
        .expect("again");
    assert!(again.is_noop(), "{}", again.diff_text());

    // 120 apps: the second part is updated in place (read-modify-write of our policy only).
    let mut less = PushOutcome::default();
    c.push_ios(&items[..120], &targets, PushMode::Apply, &mut less)
        .await
        .expect("update");
    assert!(
        less.diff_text().contains("~ update interdict ban (2/2)"),
        "{}",
        less.diff_text()
    );
    assert_eq!(
        ours(&emu.get("policies").await),
        vec![
            ("interdict ban (1/2)".into(), 100, vec![GROUP.to_string()]),
            ("interdict ban (2/2)".into(), 20, vec![GROUP.to_string()]),
        ]
    );
    emu.assert_no_violations().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn android_uninstall_assignments_keep_the_other_assignments() {
    let emu = Emulator::start();
    let store_app = |id: &str, pkg: &str| {
        json!({"@odata.type": "#microsoft.graph.androidManagedStoreApp", "id": id, "displayName": pkg,
               "packageId": pkg, "appIdentifier": pkg, "isPrivate": false})
    };
    emu.put(
        "mobile_apps",
        json!([
            {"app": store_app("a-mail", "com.example.mail"), "assignments": [
                {"id": "x", "@odata.type": "#microsoft.graph.mobileAppAssignment", "intent": "required",
                 "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": GROUP}}]},
            {"app": store_app("a-wechat", "com.tencent.mm"), "assignments": [
                {"id": "y", "@odata.type": "#microsoft.graph.mobileAppAssignment", "intent": "available",
                 "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": GROUP}},
                {"id": "z", "@odata.type": "#microsoft.graph.mobileAppAssignment", "intent": "available",
                 "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": "other-group"}}]},
            {"app": {"@odata.type": "#microsoft.graph.iosStoreApp", "id": "i-wechat", "displayName": "WeChat",
                     "bundleId": "com.tencent.xin", "appStoreUrl": "https://apps.apple.com/app/id414478124"}}
        ]),
    )
    .await;
    let c = emu.client("");
    let targets: BTreeSet<Target> = [Target::Group(GROUP.into())].into();
    let banned: BTreeSet<String> = ["com.tencent.mm", "com.kaspersky.free"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut dry = PushOutcome::default();
    c.push_android(&banned, &targets, PushMode::DryRun, &mut dry)
        .await
        .expect("dry");
    assert!(dry.diff_text().contains(&format!("~ uninstall com.tencent.mm: group {GROUP} available -> uninstall; 1 other assignments kept")), "{}", dry.diff_text());
    assert_eq!(dry.android_not_managed, vec!["com.kaspersky.free"]);
    let mut out = PushOutcome::default();
    c.push_android(&banned, &targets, PushMode::Apply, &mut out)
        .await
        .expect("apply");
    let apps = emu.get("mobile_apps").await;
    let find = |id: &str| {
        apps.as_array()
            .expect("list")
            .iter()
            .find(|a| a["id"] == id)
            .cloned()
            .expect("app")
    };
    let wechat = find("a-wechat");
    let mut got: Vec<(String, String)> = wechat["assignments"]
        .as_array()
        .expect("assignments")
        .iter()
        .map(|a| {
            (
                a["target"]["groupId"].as_str().unwrap_or("").to_string(),
                a["intent"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (GROUP.to_string(), "uninstall".to_string()),
            ("other-group".to_string(), "available".to_string())
        ]
    );
    assert_eq!(
        find("a-mail")["assignments"][0]["intent"],
        "required",
        "not banned: untouched"
    );
    let mut again = PushOutcome::default();
    c.push_android(&banned, &targets, PushMode::Apply, &mut again)
        .await
        .expect("again");
    assert!(again.is_noop(), "{}", again.diff_text());
    emu.assert_no_violations().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_assertions_are_accepted_and_a_wrong_secret_refused() {
    let emu = Emulator::start();
    emu.put("devices", json!([device(0, "iOS")])).await;
    emu.put("apps", json!({})).await;
    let mut cfg = emu.config("");
    cfg.client_secret_file = None;
    cfg.certificate_file = Some(emu.cert.0.clone());
    cfg.private_key_file = Some(emu.cert.1.clone());
    let c = emu.client_with(&cfg);
    let (devs, _, _) = pull_all(&c)
        .await
        .map_err(|(e, _)| e)
        .expect("pull with a certificate");
    assert_eq!(devs.len(), 1);
    // A second token (after expiry) needs a fresh assertion: jti is never reused.
    emu.put("faults", json!({"expire_token": true})).await;
    let (devs, _, _) = pull_all(&c).await.map_err(|(e, _)| e).expect("pull again");
    assert_eq!((devs.len(), c.counters().tokens), (1, 2));

    // Another certificate: its assertion fails the signature check.
    let other = cert(emu.dir.path(), "other");
    cfg.certificate_file = Some(other.0);
    cfg.private_key_file = Some(other.1);
    cfg.max_attempts = 1;
    let e = pull_all(&emu.client_with(&cfg))
        .await
        .expect_err("refused")
        .0;
    assert!(matches!(e, ConnError::Auth(_)), "{e}");
    assert!(e.to_string().contains("AADSTS700027"), "{e}");

    let wrong = emu.dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-secret").expect("write");
    let mut cfg = emu.config("max_attempts = 1");
    cfg.client_secret_file = Some(wrong);
    let e = pull_all(&emu.client_with(&cfg))
        .await
        .expect_err("refused")
        .0;
    assert!(e.to_string().contains("AADSTS7000215"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_refuses_bodies_the_graph_sdk_cannot_read() {
    // The oracle itself: a body the SDK's models cannot read whole is refused and listed.
    let emu = Emulator::start();
    let tok: Value = emu
        .http
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", emu.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={SECRET}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
        ))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = tok["access_token"].as_str().expect("access_token");
    let url = format!(
        "{}/beta/deviceManagement/deviceCompliancePolicies",
        emu.base
    );
    let actions = json!([{"ruleName": "PasswordRequired", "scheduledActionConfigurations": [
        {"actionType": "block", "gracePeriodHours": 0}]}]);
    for body in [
        json!({"@odata.type": "#microsoft.graph.iosCompliancePolicy", "displayName": "x", "restrictedAps": [], "scheduledActionsForRule": actions}),
        json!({"@odata.type": "#microsoft.graph.iosCompliancePolicy", "displayName": "x", "restrictedApps": [{"appID": "a"}], "scheduledActionsForRule": actions}),
        json!({"@odata.type": "#microsoft.graph.iosCompliancePolicy", "displayName": "x", "scheduledActionsForRule": [
            {"ruleName": "PasswordRequired", "scheduledActionConfigurations": [{"actionType": "explode"}]}]}),
        json!({"@odata.type": "#microsoft.graph.iosCompliancePolicy", "displayName": "x", "restrictedApps": restricted(101), "scheduledActionsForRule": actions}),
    ] {
        let r = emu
            .http
            .post(&url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 400);
    }
    let v = emu.get("violations").await;
    let v: Vec<&str> = v
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(v.len(), 4, "{v:?}");
    assert!(
        v[0].contains("restrictedAps: not a property of IosCompliancePolicy"),
        "{v:?}"
    );
    assert!(
        v[1].contains("appID: not a property of AppListItem"),
        "{v:?}"
    );
    assert!(v[2].contains("actionType: the SDK could not read"), "{v:?}");
    assert!(v[3].contains("more than 100 apps"), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_write_reads_our_policies_again_and_finishes() {
    let emu = Emulator::start();
    emu.put("policies", json!([])).await;
    // The next two writes (PATCH or assign) answer 409, as when another administrator wrote
    // between our read and our write.
    emu.put("faults", json!({"conflict": 2})).await;
    let c = emu.client("");
    let targets: BTreeSet<Target> = [Target::Group(GROUP.into())].into();
    let mut out = PushOutcome::default();
    c.push_ios(&restricted(150), &targets, PushMode::Apply, &mut out)
        .await
        .expect("push");
    assert_eq!(out.conflicts, 2, "{}", out.diff_text());
    assert_eq!(
        ours(&emu.get("policies").await),
        vec![
            ("interdict ban (1/2)".into(), 100, vec![GROUP.to_string()]),
            ("interdict ban (2/2)".into(), 50, vec![GROUP.to_string()]),
        ],
        "read again: no duplicate parts, every part assigned"
    );
    emu.assert_no_violations().await;
}
