//! `interdict policy` and `interdict inventory`, run as the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    match option_env!("INTERDICT_REPO_ROOT") {
        Some(r) => PathBuf::from(r),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
    }
}

fn example(name: &str) -> String {
    root().join("examples").join(name).display().to_string()
}

fn interdict(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run interdict")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("interdict-policy-it-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write");
    p.display().to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const INVENTORY: &str = r#"[
  {"device": {"id": "gc-phone-1", "platform": "android", "groups": ["government-issued"], "ownership": "corporate"},
   "apps": [{"id": "com.tencent.mm", "version": "8.0.40", "version_code": 2400, "signers": [], "installer": "com.android.vending"},
            {"id": "com.android.chrome"}]},
  {"device": {"id": "gc-phone-2", "platform": "android", "groups": ["government-issued"], "ownership": "corporate"},
   "apps": [{"id": "com.android.chrome"}, {"id": "org.mozilla.firefox"}]},
  {"device": {"id": "gc-ipad-3", "platform": "ios", "groups": ["government-issued"], "ownership": "corporate"},
   "apps": [{"id": "com.kaspersky.safekids"}]}
]"#;

#[test]
fn eval_canadian_policy() {
    let dir = tmpdir("eval");
    let inv = write(&dir, "inv.json", INVENTORY);
    let policy = example("canada-gc-mobile-v2.toml");
    let out = interdict(&[
        "policy",
        "eval",
        "--policy",
        &policy,
        "--inventory",
        &inv,
        "--at",
        "2023-11-01",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let devices = report["devices"].as_array().expect("devices");
    let by_id = |id: &str| {
        devices
            .iter()
            .find(|d| d["device_id"] == id)
            .expect(id)
            .clone()
    };
    let d1 = by_id("gc-phone-1");
    assert_eq!(d1["compliant"], false);
    let f = &d1["findings"][0];
    assert_eq!(f["app_id"], "com.tencent.mm");
    assert_eq!(f["rule"], "ca-2023-10-wechat");
    assert_eq!(f["status"], "violation");
    assert_eq!(f["deadline"], "2023-10-30");
    assert_eq!(f["remedy"], "uninstall");
    assert!(f["because"]
        .as_str()
        .unwrap_or("")
        .contains("apps[].id `com.tencent.mm`"));
    assert_eq!(by_id("gc-phone-2")["compliant"], true);
    assert_eq!(
        by_id("gc-phone-2")["findings"].as_array().map(Vec::len),
        Some(0)
    );
    // Vendor rule: Kaspersky suite matched through the vendor catalog.
    let d3 = by_id("gc-ipad-3");
    assert_eq!(d3["compliant"], false);
    assert_eq!(d3["findings"][0]["matched"]["vendor"], "Kaspersky");

    // Before the WeChat rule existed, the same device complied.
    let out = interdict(&[
        "policy",
        "eval",
        "--policy",
        &policy,
        "--inventory",
        &inv,
        "--at",
        "2023-10-29",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // Only compliant devices: exit 0, text output.
    let ok = write(
        &dir,
        "ok.json",
        r#"{"device": {"id": "d", "platform": "android", "groups": ["government-issued"], "ownership": "corporate"}, "apps": [{"id": "com.android.chrome"}]}"#,
    );
    let out = interdict(&[
        "policy",
        "eval",
        "--policy",
        &policy,
        "--inventory",
        &ok,
        "--at",
        "2024-01-01",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("device d (android): compliant"),
        "{}",
        stdout(&out)
    );

    // Bad inventory: exit 2 with file:line:column.
    let bad = write(
        &dir,
        "bad.json",
        "{\"device\": {\"id\": \"d\", \"platform\": \"android\"},\n \"apps\": [{\"idd\": \"x\"}]}",
    );
    let out = interdict(&["policy", "eval", "--policy", &policy, "--inventory", &bad]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.json:2:"), "{}", stderr(&out));
}

#[test]
fn examples_check_clean() {
    for f in [
        "canada-gc-mobile-v1.toml",
        "canada-gc-mobile-v2.toml",
        "us-bod-17-01.toml",
        "us-omb-m-23-13.toml",
    ] {
        let out = interdict(&["policy", "check", &example(f), "--at", "2024-01-01"]);
        assert_eq!(out.status.code(), Some(0), "{f}: {}", stdout(&out));
        assert!(!stdout(&out).contains("error["), "{f}: {}", stdout(&out));
    }
}

#[test]
fn check_reports_problems_with_locations() {
    let dir = tmpdir("check");
    let p = write(
        &dir,
        "bad.toml",
        r#"[policy]
name = "bad"
mode = "denylist"

[[rules]]
id = "r1"
action = "prohibit"
app_ids = ["com.example.*"]
authority = "CIO"

[[rules]]
id = "r1"
action = "prohibit"
app_ids = ["com.example.[oops"]
authority = "CIO"

[[rules]]
id = "r3"
action = "prohibit"
app_ids = ["com.example.app"]
authority = "CIO"

[[exceptions]]
id = "e1"
rule = "nope"
devices = ["d1"]
justification = "test"
requester = "alice"
approver = "alice"
expires = 2020-01-01
"#,
    );
    let out = interdict(&["policy", "check", &p, "--at", "2024-01-01"]);
    assert_eq!(out.status.code(), Some(1));
    let s = stdout(&out);
    for want in [
        "bad.toml:12:6: error[duplicate-id]",
        "bad.toml:14:12: error[bad-glob]",
        "bad.toml:18:6: warning[shadowed]",
        "bad.toml:25:8: error[missing-rule]",
        "bad.toml:24:6: error[self-approved]",
        "bad.toml:24:6: warning[expired-exception]",
    ] {
        assert!(s.contains(want), "missing `{want}` in:\n{s}");
    }
    let unknown = write(
        &dir,
        "unknown.toml",
        "[policy]\nname = \"x\"\nmode = \"denylist\"\ncolour = 1\n",
    );
    let out = interdict(&["policy", "check", &unknown]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown.toml:4:1:"),
        "{}",
        stderr(&out)
    );

    let allow = write(&dir, "allow.toml", "[policy]\nname = \"x\"\nmode = \"allowlist\"\n[[rules]]\nid = \"a\"\naction = \"allow\"\napp_ids = [\"org.example.app\"]\n");
    let out = interdict(&["policy", "check", &allow]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("allowlist mode would flag every android system app"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn diff_versions_text_and_json() {
    let (v1, v2) = (
        example("canada-gc-mobile-v1.toml"),
        example("canada-gc-mobile-v2.toml"),
    );
    let out = interdict(&["policy", "diff", &v1, &v2, "--at", "2024-01-01"]);
    assert_eq!(out.status.code(), Some(0));
    let s = stdout(&out);
    assert!(s.contains("policy.version: 1 -> 2"), "{s}");
    assert!(s.contains("+ rule ca-2023-10-wechat"), "{s}");
    assert!(s.contains("+ rule ca-2023-10-kaspersky"), "{s}");
    let out = interdict(&["policy", "diff", &v1, &v2, "--format", "json"]);
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(d["rules_added"].as_array().map(Vec::len), Some(2));
    assert_eq!(d["rules_removed"].as_array().map(Vec::len), Some(0));

    // Scope narrowed and an exception revoked.
    let dir = tmpdir("diff");
    let base = std::fs::read_to_string(&v2).expect("read");
    let narrowed = base.replacen(
        "ownership = [\"corporate\"]",
        "ownership = [\"corporate\"]\nexclude_groups = [\"pilot\"]",
        1,
    );
    let with_ex = format!("{base}\n[[exceptions]]\nid = \"EX-1\"\nrule = \"ca-2023-10-wechat\"\ndevices = [\"d1\"]\njustification = \"liaison\"\nrequester = \"a\"\napprover = \"b\"\nexpires = 2030-01-01\n");
    let (a, b) = (
        write(&dir, "a.toml", &with_ex),
        write(&dir, "b.toml", &narrowed),
    );
    let out = interdict(&[
        "policy",
        "diff",
        &a,
        &b,
        "--at",
        "2024-01-01",
        "--format",
        "json",
    ]);
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(d["exceptions_revoked"][0]["id"], "EX-1");
    assert_eq!(d["rules_changed"][0]["scope"], "narrowed");
    assert_eq!(
        d["rules_changed"][0]["changes"][0]["field"],
        "scope.exclude_groups"
    );
}

fn python(script: &str, arg: &str) -> Output {
    Command::new("python3")
        .args(["-c", script, arg])
        .output()
        .expect("python3")
}

#[test]
fn export_apple_profile_parses_with_plistlib() {
    let dir = tmpdir("apple");
    let out_file = dir.join("p.mobileconfig").display().to_string();
    let out = interdict(&[
        "policy",
        "export",
        "--policy",
        &example("canada-gc-mobile-v2.toml"),
        "--to",
        "apple",
        "--output",
        &out_file,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not uninstall"),
        "{}",
        stderr(&out)
    );
    let script = r#"
import plistlib, sys, json
p = plistlib.load(open(sys.argv[1], 'rb'))
inner = p['PayloadContent'][0]
print(json.dumps({'type': p['PayloadType'], 'inner': inner['PayloadType'], 'ids': inner['blockedAppBundleIDs'],
  'uuids': [p['PayloadUUID'], inner['PayloadUUID']], 'ident': p['PayloadIdentifier'], 'ver': inner['PayloadVersion']}))
"#;
    let o = python(script, &out_file);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["type"], "Configuration");
    assert_eq!(v["inner"], "com.apple.applicationaccess");
    assert_eq!(v["ident"], "org.interdict.policy.gc-mobile-prohibited-apps");
    assert_eq!(v["ver"], 1);
    let ids: Vec<&str> = v["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    assert!(
        ids.contains(&"com.tencent.xin")
            && ids.contains(&"com.zhiliaoapp.musically")
            && ids.contains(&"com.kaspersky.safekids"),
        "{ids:?}"
    );
    assert_ne!(v["uuids"][0], v["uuids"][1]);
}

#[test]
fn export_amapi_and_intune_field_names() {
    let policy = example("canada-gc-mobile-v2.toml");
    // AMAPI Policy: applications[].packageName, applications[].installType = BLOCKED,
    // playStoreMode = BLACKLIST (androidmanagement v1 discovery document).
    let out = interdict(&["policy", "export", "--policy", &policy, "--to", "amapi"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["playStoreMode"], "BLACKLIST");
    let apps = v["applications"].as_array().expect("applications");
    assert!(apps
        .iter()
        .any(|a| a["packageName"] == "com.tencent.mm" && a["installType"] == "BLOCKED"));
    assert!(apps
        .iter()
        .all(|a| a.as_object().is_some_and(|o| o.len() == 2)));
    assert!(
        stderr(&out).contains("package prefixes"),
        "{}",
        stderr(&out)
    );
    // Intune Graph: iosCompliancePolicy.restrictedApps[] of appListItem {name, publisher,
    // appStoreUrl, appId}; scheduledActionsForRule[].scheduledActionConfigurations[].gracePeriodHours.
    let out = interdict(&["policy", "export", "--policy", &policy, "--to", "intune"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let pols = v["policies"].as_array().expect("policies");
    let ios = pols
        .iter()
        .find(|p| p["@odata.type"] == "#microsoft.graph.iosCompliancePolicy")
        .expect("ios");
    let items = ios["restrictedApps"].as_array().expect("restrictedApps");
    assert!(items.len() <= 100);
    assert!(items
        .iter()
        .any(|i| i["appId"] == "com.tencent.xin"
            && i["@odata.type"] == "#microsoft.graph.appListItem"));
    assert_eq!(
        ios["scheduledActionsForRule"][0]["scheduledActionConfigurations"][0]["gracePeriodHours"],
        0
    );
    // No Android device-administrator compliance policy (retired for Google Play devices in
    // 2024): Android goes out as the Android Enterprise form, never in an iOS object.
    assert!(pols
        .iter()
        .all(|p| p["@odata.type"] == "#microsoft.graph.iosCompliancePolicy"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("androidCompliancePolicy"));
    let ae = &v["androidEnterprise"];
    assert_eq!(ae["playStore"]["playStoreMode"], "blockList");
    assert_eq!(
        ae["playStore"]["@odata.type"],
        "#microsoft.graph.androidDeviceOwnerGeneralDeviceConfiguration"
    );
    let apps = ae["apps"].as_array().expect("android apps");
    let wechat = apps
        .iter()
        .find(|a| a["packageId"] == "com.tencent.mm")
        .expect("com.tencent.mm");
    let asg = &wechat["assign"]["mobileAppAssignments"][0];
    assert_eq!(asg["intent"], "uninstall");
    assert_eq!(asg["@odata.type"], "#microsoft.graph.mobileAppAssignment");
    assert!(
        stderr(&out).contains("listed for both Android and iOS"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn export_osquery_queries_run_in_sqlite() {
    let dir = tmpdir("osq");
    let yml = dir.join("p.yml").display().to_string();
    let out = interdict(&[
        "policy",
        "export",
        "--policy",
        &example("us-bod-17-01.toml"),
        "--to",
        "osquery",
        "--output",
        &yml,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Parse the YAML (PyYAML) and run every query with sqlite3 against the osquery table
    // columns it uses: on clean tables a Fleet policy query returns a row (pass); with a
    // prohibited app present it returns none (fail).
    let script = r#"
import yaml, sys, sqlite3, json
pols = yaml.safe_load(open(sys.argv[1]))
schema = '''
CREATE TABLE apps (name TEXT, path TEXT, bundle_identifier TEXT, bundle_short_version TEXT, bundle_version TEXT);
CREATE TABLE programs (name TEXT, version TEXT, install_location TEXT, publisher TEXT, identifying_number TEXT);
CREATE TABLE deb_packages (name TEXT, version TEXT, source TEXT, arch TEXT, revision TEXT, maintainer TEXT);
CREATE TABLE rpm_packages (name TEXT, version TEXT, release TEXT, source TEXT, vendor TEXT, arch TEXT);
'''
bad = {'darwin': "INSERT INTO apps (name, bundle_identifier) VALUES ('Kaspersky', 'com.kaspersky.kav.mac')",
       'windows': "INSERT INTO programs (name, publisher) VALUES ('Kaspersky Endpoint Security 12', 'AO Kaspersky Lab')",
       'linux': "INSERT INTO deb_packages (name, maintainer) VALUES ('kesl', 'AO Kaspersky Lab')"}
res = []
for p in pols:
    db = sqlite3.connect(':memory:'); db.executescript(schema)
    db.execute("INSERT INTO apps (name, bundle_identifier) VALUES ('Safari', 'com.apple.Safari')")
    clean = len(db.execute(p['query']).fetchall())
    db.execute(bad[p['platform']])
    dirty = len(db.execute(p['query']).fetchall())
    res.append({'platform': p['platform'], 'clean': clean, 'dirty': dirty, 'keys': sorted(p.keys())})
print(json.dumps(res))
"#;
    let o = python(script, &yml);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let res = v.as_array().expect("array");
    assert_eq!(res.len(), 3, "{v}");
    for r in res {
        assert_eq!(r["clean"], 1, "{r}");
        assert_eq!(r["dirty"], 0, "{r}");
        assert_eq!(
            r["keys"],
            serde_json::json!([
                "critical",
                "description",
                "name",
                "platform",
                "query",
                "resolution"
            ])
        );
    }
    // Detection form: a row when the prohibited app is present; checked by sqlite3's CLI.
    let out = interdict(&[
        "policy",
        "export",
        "--policy",
        &example("us-bod-17-01.toml"),
        "--to",
        "osquery",
        "--osquery-detect",
    ]);
    let pols: Vec<String> = stdout(&out)
        .lines()
        .filter_map(|l| l.strip_prefix("  query: "))
        .map(|q| serde_json::from_str::<String>(q).expect("quoted"))
        .collect();
    assert_eq!(pols.len(), 3);
    let darwin = &pols[0];
    let sql = format!("CREATE TABLE apps (name TEXT, bundle_identifier TEXT, bundle_short_version TEXT, bundle_version TEXT); INSERT INTO apps VALUES ('K', 'com.kaspersky.kav.mac', '1', '1'); INSERT INTO apps VALUES ('S', 'com.apple.Safari', '1', '1'); {darwin}");
    let o = Command::new("sqlite3")
        .arg(":memory:")
        .arg(&sql)
        .output()
        .expect("sqlite3 (apt-get install sqlite3)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "com.kaspersky.kav.mac"
    );
}

#[test]
fn inventory_import_then_eval() {
    let dir = tmpdir("import");
    let amapi = write(
        &dir,
        "device.json",
        r#"{
  "name": "enterprises/LC00abc/devices/3a1b2c", "ownership": "COMPANY_OWNED", "managementMode": "DEVICE_OWNER",
  "applicationReports": [
    {"packageName": "com.zhiliaoapp.musically", "versionName": "30.1.2", "versionCode": 2023001020,
     "signingKeyCertFingerprints": ["AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD"],
     "installerPackageName": "com.android.vending", "applicationSource": "INSTALLED_FROM_PLAY_STORE", "state": "INSTALLED"},
    {"packageName": "com.tencent.mm", "versionName": "8.0", "versionCode": 1, "state": "REMOVED"}
  ]}"#,
    );
    let out = interdict(&[
        "inventory",
        "import",
        "--from",
        "amapi",
        &amapi,
        "--group",
        "government-issued",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v[0]["device"]["id"], "3a1b2c");
    assert_eq!(v[0]["device"]["ownership"], "corporate");
    assert_eq!(v[0]["apps"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        v[0]["apps"][0]["signers"][0],
        "aabbccddeeff00112233445566778899aabbccdd"
    );
    let inv = write(&dir, "inv.json", &stdout(&out));
    let out = interdict(&[
        "policy",
        "eval",
        "--policy",
        &example("canada-gc-mobile-v1.toml"),
        "--inventory",
        &inv,
        "--at",
        "2023-03-01",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("violation com.zhiliaoapp.musically")
            || stdout(&out).contains("violation  com.zhiliaoapp.musically"),
        "{}",
        stdout(&out)
    );

    // Apple InstalledApplicationList response, written by python's plistlib.
    let plist = dir.join("resp.plist").display().to_string();
    let o = python(
        r#"
import plistlib, sys
plistlib.dump({'CommandUUID': 'c1', 'Status': 'Acknowledged', 'UDID': '00008030-000A',
  'InstalledApplicationList': [{'Identifier': 'com.tencent.xin', 'Name': 'WeChat', 'ShortVersion': '8.0.45', 'Version': '8.0.45.33'},
                               {'Identifier': 'com.apple.Pages', 'Name': 'Pages', 'ShortVersion': '13', 'Version': '7000'}]},
  open(sys.argv[1], 'wb'), fmt=plistlib.FMT_BINARY)
"#,
        &plist,
    );
    assert!(o.status.success());
    let out = interdict(&[
        "inventory",
        "import",
        "--from",
        "apple",
        &plist,
        "--ownership",
        "corporate",
        "--group",
        "government-issued",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v[0]["device"]["id"], "00008030-000A");
    assert_eq!(v[0]["device"]["platform"], "ios");
    assert_eq!(v[0]["apps"][0]["id"], "com.tencent.xin");
    assert_eq!(v[0]["apps"][1]["version_code"], 7000);

    // osquery programs (Windows) rows.
    let osq = write(
        &dir,
        "programs.json",
        r#"[{"name": "Kaspersky Endpoint Security for Windows", "version": "12.3", "publisher": "AO Kaspersky Lab", "install_location": "", "identifying_number": "{X}"}]"#,
    );
    let out = interdict(&[
        "inventory",
        "import",
        "--from",
        "osquery",
        &osq,
        "--device-id",
        "win-7",
        "--ownership",
        "corporate",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let inv = write(&dir, "win.json", &stdout(&out));
    let out = interdict(&[
        "policy",
        "eval",
        "--policy",
        &example("us-bod-17-01.toml"),
        "--inventory",
        &inv,
        "--at",
        "2018-01-01",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        r["devices"][0]["findings"][0]["matched"]["field"],
        "apps[].publisher"
    );
    // In the 90-day window the same device is in grace, hence compliant.
    let out = interdict(&[
        "policy",
        "eval",
        "--policy",
        &example("us-bod-17-01.toml"),
        "--inventory",
        &inv,
        "--at",
        "2017-10-01",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("in_grace"), "{}", stdout(&out));
}

#[test]
fn partner_list_import_and_diff() {
    let dir = tmpdir("partner");
    let csv = write(&dir, "partner.csv", "app_id,vendor,platform,name,reference\ncom.tencent.mm,,android,WeChat,https://partner.example/notice-1\n,ByteDance,,ByteDance apps,https://partner.example/notice-2\ncom.example.newapp,,,New app,\n");
    let out_file = dir.join("partner.toml").display().to_string();
    let out = interdict(&[
        "policy",
        "import-list",
        &csv,
        "--source",
        "Partner Directive 7",
        "--output",
        &out_file,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&out_file).expect("read");
    assert!(text.contains("source = \"Partner Directive 7\""), "{text}");
    assert!(text.contains("action = \"review\""));
    // One vendor catalog for policies and assessments (issue 14 item 6).
    let vendors = root()
        .join("crates/apk-analysis/data/vendors.toml")
        .display()
        .to_string();
    let out = interdict(&["policy", "check", &out_file, "--vendors", &vendors]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = interdict(&[
        "policy",
        "diff",
        &example("canada-gc-mobile-v2.toml"),
        &out_file,
        "--format",
        "json",
    ]);
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let only_new: Vec<&str> = d["only_new_targets"]
        .as_array()
        .expect("arr")
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    assert!(
        only_new.contains(&"com.example.newapp") && only_new.contains(&"vendor:bytedance"),
        "{only_new:?}"
    );
    let only_old: Vec<&str> = d["only_old_targets"]
        .as_array()
        .expect("arr")
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    assert!(only_old.contains(&"com.tencent.xin"), "{only_old:?}");
}
