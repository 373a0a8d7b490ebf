//! Issue 12 (hardening): each finding of the red-team pass, as a test that failed before its
//! fix. Run on SQLite and, when `TEST_POSTGRES_URL` is set, on PostgreSQL.

use std::time::Duration;

use api_server::storage::Role;
use api_server::Config;
use serde_json::{json, Value};

use crate::{backends, TestApp, CANADA};

#[path = "../../../app-policy/tests/it/bomb.rs"]
mod bomb;

/// Resident set size of this process, bytes (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("rss field");
    pages * 4096
}

async fn put_policy(app: &TestApp, source: String) -> (u16, Value) {
    app.send(
        reqwest::Method::PUT,
        "/api/v1/policy",
        Some(&app.admin),
        Some(Value::String(source)),
    )
    .await
}

/// Item 1: a policy bomb (40,000 rules naming one app id, 6 MB) is checked on the blocking
/// pool: the request timeout fires while the check runs (it used to fire only after the work
/// ended, and answer 200), nothing is published, and `/healthz` keeps answering meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_bomb_times_out_while_it_runs_and_healthz_answers() {
    for (url, dir) in backends().await {
        let config = Config {
            request_timeout: Duration::from_secs(1),
            ..Config::default()
        };
        let app = std::sync::Arc::new(TestApp::start_with(&url, dir, config).await);
        let src = bomb::policy("same-id-scoped", 40_000);
        assert!(src.len() > Config::default().max_body_bytes);
        let upload = {
            let app = app.clone();
            tokio::spawn(async move { put_policy(&app, src).await })
        };
        let mut health = 0;
        while !upload.is_finished() {
            let (s, v) = app.send(reqwest::Method::GET, "/healthz", None, None).await;
            assert_eq!(s, 200, "{v}");
            health += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (s, v) = upload.await.expect("upload task");
        assert_eq!(s, 408, "{v}");
        assert!(health > 0);
        let (s, v) = app.get("/api/v1/policy/versions", &app.admin).await;
        assert_eq!(s, 200);
        assert_eq!(v.as_array().map(Vec::len), Some(0), "{v}");
        // Over the rule-count limit: refused before parsing, with the limit named.
        let small = Config {
            max_policy_rules: 10,
            ..Config::default()
        };
        let app2 = TestApp::start_with(&url, None, small).await;
        let (s, v) = put_policy(&app2, bomb::policy("exact", 11)).await;
        assert_eq!(s, 422, "{v}");
        assert!(
            v["error"]
                .as_str()
                .unwrap_or("")
                .contains("--max-policy-rules"),
            "{v}"
        );
        app2.stop().await;
        match std::sync::Arc::try_unwrap(app) {
            Ok(app) => app.stop().await,
            Err(_) => panic!("app still shared"),
        }
    }
}

/// Item 2: the parsed policy is owned with its compiled form, so publishing and deciding
/// exceptions does not grow memory (each reload used to leak the parsed policy).
///
/// RSS is per process and the other tests run in this one, so the test runs itself again in a
/// child process with only this test selected.
#[test]
fn reloads_do_not_leak() {
    if std::env::var_os(LEAK_CHILD).is_some() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(reloads_do_not_leak_child());
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "harden::reloads_do_not_leak",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(LEAK_CHILD, "1")
        .output()
        .expect("run the test binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success(), "child failed: {text}");
    assert!(text.contains("1 passed"), "the child ran no test: {text}");
}

const LEAK_CHILD: &str = "INTERDICT_TEST_LEAK_CHILD";

async fn reloads_do_not_leak_child() {
    let rounds = 1_000;
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        // CANADA plus 200 rules, each version different.
        let extra = bomb::policy("exact", 200);
        let extra = extra
            .split_once("\n\n")
            .map(|(_, rules)| rules.to_string())
            .unwrap_or_default();
        // Each with a greater `[policy] version` (an older one is refused).
        let version = |i: usize| {
            let canada = CANADA.replacen("\nversion = 2\n", &format!("\nversion = {}\n", i + 2), 1);
            format!("{canada}\n{extra}")
        };
        let approver = app.token(Role::Approver).await;
        let analyst = app.token(Role::Analyst).await;
        let (device, _) = app.enroll("phone-leak").await;
        // Warm up allocator pools and caches.
        for i in 0..20 {
            app.publish(&version(i)).await;
        }
        let before = rss_bytes();
        for i in 0..rounds {
            app.publish(&version(100 + i)).await;
        }
        let after_publish = rss_bytes();
        for _ in 0..rounds {
            let (s, e) = app
                .post(
                    "/api/v1/exceptions",
                    Some(&analyst),
                    json!({"device_id": device, "rule": "ca-2023-10-wechat", "app_id": "com.tencent.mm",
                           "justification": "investigation", "expires": crate::soon()}),
                )
                .await;
            assert_eq!(s, 200, "{e}");
            let id = e["id"].as_str().expect("id").to_string();
            let (s, e) = app
                .post(
                    &format!("/api/v1/exceptions/{id}/approve"),
                    Some(&approver),
                    json!({}),
                )
                .await;
            assert_eq!(s, 200, "{e}");
        }
        let after = rss_bytes();
        let mb = |b: u64| b as f64 / 1e6;
        eprintln!(
            "RSS before {:.1} MB, after {rounds} publishes {:.1} MB, after {rounds} decisions {:.1} MB",
            mb(before),
            mb(after_publish),
            mb(after)
        );
        // A leak of the parsed policy would be hundreds of MB here; allow for allocator noise.
        assert!(
            after_publish.saturating_sub(before) < 32_000_000,
            "publishing grew RSS from {:.1} MB to {:.1} MB",
            mb(before),
            mb(after_publish)
        );
        assert!(
            after.saturating_sub(after_publish) < 32_000_000,
            "deciding exceptions grew RSS from {:.1} MB to {:.1} MB",
            mb(after_publish),
            mb(after)
        );
        app.stop().await;
    }
}

/// Item 6: action results are stored only for actions issued to the reporting device, once per
/// action and status (they used to be stored as `done` whatever their id or device).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_results_only_for_issued_actions_once_each() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        app.publish(CANADA).await;
        let (a_id, a) = app.enroll("a").await;
        let (b_id, b) = app.enroll("b").await;
        let (_, v) = app
            .checkin(&a, json!({"inventory": crate::apps(&["com.tencent.mm"])}))
            .await;
        let action = v["actions"][0]["id"].as_str().expect("action").to_string();
        let result = |id: &str, at: i64| {
            json!({"id": id, "app_id": "com.tencent.mm", "kind": "uninstall", "status": "done",
                   "detail": "", "at_ms": at})
        };
        // Device b reports a's action, and one never issued: both dropped.
        let flood: Vec<Value> = (0..50)
            .map(|i| result(&format!("{i:016x}"), 1_700_000_000_000 + i))
            .chain([result(&action, 1_700_000_000_000)])
            .collect();
        let (s, v) = app
            .checkin(
                &b,
                json!({"inventory": crate::apps(&["org.example"]), "action_results": flood}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        // Device a reports its own action three times, at different device times: stored once.
        for at in 0..3 {
            let (s, v) = app
                .checkin(
                    &a,
                    json!({"inventory": crate::apps(&[]), "action_results": [result(&action, 1_700_000_000_000 + at)]}),
                )
                .await;
            assert_eq!(s, 200, "{v}");
        }
        let (_, d) = app
            .get(&format!("/api/v1/devices/{b_id}"), &app.admin)
            .await;
        assert_eq!(d["action_results"].as_array().map(Vec::len), Some(0), "{d}");
        let (_, d) = app
            .get(&format!("/api/v1/devices/{a_id}"), &app.admin)
            .await;
        assert_eq!(d["action_results"].as_array().map(Vec::len), Some(1), "{d}");
        app.stop().await;
    }
}

/// Item 6: per-device hourly quotas. A device that keeps changing its inventory, or floods
/// results and events, is refused with 429 and `Retry-After` past its quota (before, one
/// device wrote 105 MB and 12,000 events in 3 s); nothing of the refused check-in is stored,
/// other devices are not affected, and a check-in that changes nothing is still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_quotas_bound_what_one_device_writes_per_hour() {
    for (url, dir) in backends().await {
        let config = Config {
            device_quotas: api_server::DeviceQuotaLimits {
                inventories_per_hour: 3,
                results_per_hour: 0,
                events_per_hour: 2,
            },
            ..Config::default()
        };
        let app = TestApp::start_with(&url, dir, config).await;
        app.publish(CANADA).await;
        let (a_id, a) = app.enroll("a").await;
        let (_, b) = app.enroll("b").await;
        // Three changed inventories pass; the first two open and close a WeChat finding (two
        // events: the events quota is now full as well).
        let mut hash = String::new();
        for ids in [
            &["com.tencent.mm"][..],
            &["org.example.one"],
            &["org.example.two"],
        ] {
            let (s, v) = app
                .checkin(&a, json!({"inventory": crate::apps(ids)}))
                .await;
            assert_eq!(s, 200, "{v}");
            hash = v["inventory_hash"].as_str().expect("hash").to_string();
        }
        // The fourth changed inventory is refused whole, naming the quota.
        let r = app
            .client
            .post(format!("{}/api/v1/checkin", app.base))
            .bearer_auth(&a)
            .json(&json!({"inventory": crate::apps(&["com.tencent.mm"])}))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 429);
        let after: u64 = r
            .headers()
            .get("retry-after")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.parse().ok())
            .expect("Retry-After in seconds");
        assert!((1..=3600).contains(&after), "{after}");
        let v: Value = r.json().await.expect("JSON error");
        let msg = v["error"].as_str().unwrap_or_default();
        assert!(
            msg.contains("quota") && msg.contains("changed inventories"),
            "{v}"
        );
        // Nothing of it was stored: the device still holds the third inventory, no finding.
        let (_, d) = app
            .get(&format!("/api/v1/devices/{a_id}"), &app.admin)
            .await;
        let held: Vec<&str> = d["installs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|x| x["removed_at"].is_null())
                    .filter_map(|x| x["app_id"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(held, ["org.example.two"], "{d}");
        assert_eq!(d["findings"].as_array().map(Vec::len), Some(0), "{d}");
        // An unchanged check-in costs nothing and is answered.
        let (s, v) = app.checkin(&a, json!({"inventory_hash": hash})).await;
        assert_eq!(s, 200, "{v}");
        // Another device has its own quota.
        let (s, v) = app
            .checkin(&b, json!({"inventory": crate::apps(&["com.tencent.mm"])}))
            .await;
        assert_eq!(s, 200, "{v}");
        app.stop().await;
    }
}

/// Item 6: field caps (app ids at 255 bytes as Android allows, names, justifications, token
/// names) and NUL bytes refused with 422 naming the field, on every backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_caps_and_nul_bytes() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        app.publish(CANADA).await;
        let (id, token) = app.enroll("caps").await;
        let ok = "a".repeat(255);
        let (s, v) = app
            .checkin(&token, json!({"inventory": crate::apps(&[&ok])}))
            .await;
        assert_eq!(s, 200, "{v}");
        let long = "a".repeat(256);
        for (bad, what) in [(long.as_str(), "256 bytes"), ("com.x\u{0}y", "NUL")] {
            let (s, v) = app
                .checkin(&token, json!({"inventory": crate::apps(&["ok.app", bad])}))
                .await;
            assert_eq!(s, 422, "{v}");
            let e = v["error"].as_str().unwrap_or("");
            assert!(e.contains("apps[1].id") && e.contains(what), "{v}");
        }
        let (s, v) = app
            .post(
                "/api/v1/enroll",
                None,
                json!({"enroll_secret": app.secret, "device": {"name": "n\u{0}", "platform": "android",
                  "serial": "s", "ownership": "corporate", "groups": []}}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        assert!(
            v["error"].as_str().unwrap_or("").contains("device.name"),
            "{v}"
        );
        let (s, v) = app
            .post(
                "/api/v1/exceptions",
                Some(&app.admin),
                json!({"device_id": id, "rule": "ca-2023-10-wechat", "justification": "x".repeat(5000),
                       "expires": crate::soon()}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        assert!(
            v["error"].as_str().unwrap_or("").contains("justification"),
            "{v}"
        );
        let (s, v) = app
            .post(
                "/api/v1/tokens",
                Some(&app.admin),
                json!({"role": "viewer", "name": "t".repeat(300)}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        app.stop().await;
    }
}

/// Item 10: the `group` filter matches the group name literally (`%` and `_` were wildcards).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_filter_is_literal() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        for (name, group) in [("one", "a_c"), ("two", "abc"), ("three", "x%y")] {
            let (s, v) = app
                .post(
                    "/api/v1/enroll",
                    None,
                    json!({"enroll_secret": app.secret, "device": {"name": name, "platform": "android",
                      "serial": name, "ownership": "corporate", "groups": [group]}}),
                )
                .await;
            assert_eq!(s, 200, "{v}");
        }
        let names = |v: &Value| -> Vec<String> {
            v.as_array()
                .or_else(|| v["devices"].as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|d| d["name"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        for (q, want) in [
            ("a_c", vec!["one"]),
            ("abc", vec!["two"]),
            ("x%25y", vec!["three"]),
            ("%25", vec![]),
            ("_", vec![]),
        ] {
            let (s, v) = app
                .get(&format!("/api/v1/devices?group={q}"), &app.admin)
                .await;
            assert_eq!(s, 200, "{v}");
            assert_eq!(names(&v), want, "group={q}: {v}");
        }
        app.stop().await;
    }
}

/// Makes `file` read-only even for root (`chattr +i` where the filesystem supports it, else
/// mode 0444); returns the URL suffix that makes it read-only when neither applies (root on a
/// filesystem without attributes) and an undo.
fn make_read_only(file: &std::path::Path) -> (&'static str, impl FnOnce()) {
    use std::os::unix::fs::PermissionsExt;
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let immutable = root
        && std::process::Command::new("chattr")
            .arg("+i")
            .arg(file)
            .status()
            .is_ok_and(|s| s.success());
    let _ = std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o444));
    let f = file.to_path_buf();
    let undo = move || {
        if immutable {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&f)
                .status();
        }
        let _ = std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600));
    };
    let suffix = if root && !immutable { "ro" } else { "rwc" };
    (suffix, undo)
}

/// Item 5: a read-only database file fails at start-up, at once, naming the file (it used to
/// start "healthy" and fail every write); a data directory that cannot be written fails naming
/// the directory. Item 10: the database file is created 0600.
#[tokio::test]
async fn read_only_database_fails_at_start_naming_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    api_server::storage::create_data_dir(&data).expect("data dir");
    let url = api_server::storage::Store::sqlite_url(&data);
    let store = api_server::storage::Store::connect(&url)
        .await
        .expect("first start");
    store.close().await;
    let db = data.join("interdict.db");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&db), 0o600);
    let (m, undo) = make_read_only(&db);
    let url = url.replace("mode=rwc", &format!("mode={m}"));
    let r = api_server::storage::Store::connect(&url).await;
    undo();
    let e = r.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains(&db.display().to_string()), "{e}");
    assert!(e.contains("not writable"), "{e}");

    // A data directory whose database cannot be created (a file stands in its way).
    let blocked = dir.path().join("blocked");
    std::fs::write(&blocked, b"not a directory").expect("write");
    let url = api_server::storage::Store::sqlite_url(&blocked.join("sub"));
    let e = api_server::storage::Store::connect(&url)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains(&blocked.join("sub").display().to_string()),
        "{e}"
    );
}

/// Item 8: an enrollment with a wrong secret counts in the auth-failure metric.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_enrollment_secrets_are_auth_failures() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        let failures = |m: &Value| -> u64 {
            m.as_str()
                .unwrap_or("")
                .lines()
                .find_map(|l| l.strip_prefix("interdict_auth_failures_total "))
                .and_then(|n| n.trim().parse().ok())
                .expect("auth failure counter")
        };
        let (_, m) = app.get("/metrics", &app.admin).await;
        let before = failures(&m);
        for _ in 0..3 {
            let (s, v) = app
                .post(
                    "/api/v1/enroll",
                    None,
                    json!({"enroll_secret": "wrong", "device": {"name": "n", "platform": "android",
                      "serial": "s", "ownership": "corporate", "groups": []}}),
                )
                .await;
            assert_eq!(s, 401, "{v}");
        }
        let (_, m) = app.get("/metrics", &app.admin).await;
        assert_eq!(failures(&m), before + 3, "{m}");
        app.stop().await;
    }
}

/// Reads from `s` until the server closes it (EOF or reset); false if still open after `within`.
async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

async fn healthz(app: &TestApp) -> u16 {
    // A client of its own: no pooled connection the server may have closed.
    reqwest::Client::new()
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Item 8: a slowloris client (a partial request head, never finished) is disconnected after
/// the header timeout, and the server keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_is_disconnected_after_the_header_timeout() {
    use tokio::io::AsyncWriteExt;
    let (url, dir) = backends().await.swap_remove(0);
    let config = Config {
        header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(120),
        ..Config::default()
    };
    let app = TestApp::start_with(&url, dir, config).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        .await
        .expect("partial head");
    assert!(closed_within(&mut s, Duration::from_secs(10)).await);
    assert_eq!(healthz(&app).await, 200);
    app.stop().await;
}

/// Item 8: a keep-alive connection with no request is closed after the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (url, dir) = backends().await.swap_remove(0);
    let config = Config {
        header_timeout: Duration::from_secs(120),
        idle_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    let app = TestApp::start_with(&url, dir, config).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).await.expect("response");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    // The connection is kept alive, then closed once idle.
    assert!(closed_within(&mut s, Duration::from_secs(10)).await);
    assert_eq!(healthz(&app).await, 200);
    app.stop().await;
}

/// Item 8: with a cap of N open connections, the N+1th is not served while N are held, and the
/// server answers again once they close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (url, dir) = backends().await.swap_remove(0);
    let config = Config {
        max_connections: 3,
        ..Config::default()
    };
    let app = TestApp::start_with(&url, dir, config).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        // A served request proves the connection holds a slot.
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("request");
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.expect("response");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(s);
    }
    let mut extra = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    let got = tokio::time::timeout(Duration::from_secs(10), extra.read(&mut buf))
        .await
        .expect("closed promptly, not left hanging");
    assert!(
        matches!(got, Ok(0) | Err(_)),
        "served beyond the cap: {got:?}"
    );
    drop(held);
    let mut status = 0;
    for _ in 0..100 {
        status = healthz(&app).await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    app.stop().await;
}

/// Item 8: enrollment attempts are limited per client address: 429 with `Retry-After` past the
/// burst, whether the secret is right or wrong, and wrong secrets still count as auth failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_is_rate_limited_per_address() {
    for (url, dir) in backends().await {
        let config = Config {
            enroll_per_minute: 3,
            ..Config::default()
        };
        let app = TestApp::start_with(&url, dir, config).await;
        let device = json!({"name": "n", "platform": "android", "serial": "s",
            "ownership": "corporate", "groups": []});
        let (s, v) = app
            .post(
                "/api/v1/enroll",
                None,
                json!({"enroll_secret": app.secret, "device": device}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        for _ in 0..2 {
            let (s, v) = app
                .post(
                    "/api/v1/enroll",
                    None,
                    json!({"enroll_secret": "wrong", "device": device}),
                )
                .await;
            assert_eq!(s, 401, "{v}");
        }
        for secret in ["wrong", app.secret.as_str()] {
            let r = app
                .client
                .post(format!("{}/api/v1/enroll", app.base))
                .json(&json!({"enroll_secret": secret, "device": device}))
                .send()
                .await
                .expect("request");
            assert_eq!(r.status().as_u16(), 429);
            let after: u64 = r
                .headers()
                .get("retry-after")
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.parse().ok())
                .expect("Retry-After in seconds");
            assert!((1..=60).contains(&after), "{after}");
        }
        // Other routes are not limited by it.
        assert_eq!(healthz(&app).await, 200);
        app.stop().await;
    }
}

/// Item 10: an enrollment retried with the same `Idempotency-Key` gets the same device (a
/// fresh token; the earlier one stops working, even cached), not a second device; the key with
/// a different device is a 409; a malformed key a 422.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_with_an_idempotency_key_is_idempotent() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        app.publish(CANADA).await;
        let enroll = |key: String, serial: &'static str| {
            let app = &app;
            async move {
                let r = app
                    .client
                    .post(format!("{}/api/v1/enroll", app.base))
                    .header("Idempotency-Key", key)
                    .json(&json!({"enroll_secret": app.secret, "device": {"name": "n",
                        "platform": "android", "serial": serial, "ownership": "corporate",
                        "groups": []}}))
                    .send()
                    .await
                    .expect("request");
                let s = r.status().as_u16();
                (s, r.json::<Value>().await.expect("json"))
            }
        };
        let (s, first) = enroll("key-1".into(), "s1").await;
        assert_eq!(s, 200, "{first}");
        let old = first["device_token"].as_str().unwrap().to_string();
        let inv = |seq: u64| json!({"inventory": crate::apps(&["org.example.ok"]), "seq": seq});
        assert_eq!(app.checkin(&old, inv(1)).await.0, 200);

        let (s, again) = enroll("key-1".into(), "s1").await;
        assert_eq!(s, 200, "{again}");
        assert_eq!(again["device_id"], first["device_id"], "the same device");
        let new = again["device_token"].as_str().unwrap().to_string();
        assert_ne!(new, old);
        assert_eq!(
            app.checkin(&old, inv(2)).await.0,
            401,
            "the earlier token is revoked"
        );
        let (s, v) = app.checkin(&new, inv(2)).await;
        assert_eq!(s, 200, "{v}");

        let (s, v) = enroll("key-1".into(), "another serial").await;
        assert_eq!(s, 409, "{v}");
        for bad in ["x".repeat(256), "caf\u{e9}".into(), String::new()] {
            let r = app
                .client
                .post(format!("{}/api/v1/enroll", app.base))
                .header("Idempotency-Key", bad.as_bytes())
                .json(&json!({"enroll_secret": app.secret, "device": {"name": "n",
                    "platform": "android", "serial": "s9", "ownership": "corporate",
                    "groups": []}}))
                .send()
                .await
                .expect("request");
            assert_eq!(r.status().as_u16(), 422, "{bad:?}");
        }
        // A different key is a different device.
        let (s, other) = enroll("key-2".into(), "s1").await;
        assert_eq!(s, 200, "{other}");
        assert_ne!(other["device_id"], first["device_id"]);
        let (_, devices) = app.get("/api/v1/devices", &app.admin).await;
        let n = devices
            .as_array()
            .or_else(|| devices["devices"].as_array())
            .map(Vec::len);
        assert_eq!(n, Some(2), "{devices}");
        app.stop().await;
    }
}

const UPLOAD_TYPE: &str = "application/vnd.android.package-archive";

/// A chunked body of `chunks` × `chunk` bytes, made as it is sent (nothing held by the client).
fn streamed(chunk: usize, chunks: usize) -> reqwest::Body {
    let piece = bytes_of(chunk);
    let s = futures_util::stream::iter(
        (0..chunks).map(move |_| Ok::<_, std::io::Error>(piece.clone())),
    );
    reqwest::Body::wrap_stream(s)
}

fn bytes_of(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

async fn upload_body(app: &TestApp, token: &str, body: reqwest::Body) -> (u16, String, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/assessments", app.base))
        .bearer_auth(token)
        .header("content-type", UPLOAD_TYPE)
        .body(body)
        .send()
        .await
        .expect("upload");
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        retry,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Item 3: an upload over the limit gets the same JSON 413 whether it announced its length or
/// is chunked, and uploads beyond `max_concurrent_uploads` are answered 503 with Retry-After
/// instead of being buffered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_the_limit_or_beyond_the_concurrency_are_refused_in_json() {
    let (url, dir) = backends().await.swap_remove(0);
    let max = 1 << 20;
    let config = Config {
        max_upload_bytes: max,
        max_concurrent_uploads: 1,
        ..Config::default()
    };
    let app = TestApp::start_with(&url, dir, config).await;
    let analyst = app.token(Role::Analyst).await;
    let want = format!("request body too large: this route takes at most {max} bytes");
    let (s, _, v) = upload_body(&app, &analyst, bytes_of(max + 1).into()).await;
    assert_eq!(s, 413, "{v}");
    assert_eq!(
        v["error"],
        want.as_str(),
        "Content-Length over the limit: {v}"
    );
    let (s, _, v) = upload_body(&app, &analyst, streamed(64 * 1024, 17)).await;
    assert_eq!(s, 413, "{v}");
    assert_eq!(v["error"], want.as_str(), "chunked over the limit: {v}");

    // A slow upload is tried up to three times: each failure is kept and shown.
    let mut failures = Vec::new();
    for _attempt in 0..3 {
        // One upload in progress (its body still arriving): the next is refused at once.
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(1);
        let slow = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
        });
        let mut first = {
            let base = app.base.clone();
            let token = analyst.clone();
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{base}/api/v1/assessments"))
                    .bearer_auth(token)
                    .header("content-type", UPLOAD_TYPE)
                    .body(reqwest::Body::wrap_stream(slow))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        };
        tx.send(b"PK".to_vec()).await.expect("first bytes");
        let mut refused = None;
        let mut seen = Vec::new();
        // Until the first request is in the handler (a busy machine may take a while to start it).
        let until = std::time::Instant::now() + Duration::from_secs(300);
        while std::time::Instant::now() < until {
            let (s, retry, v) = upload_body(&app, &analyst, bytes_of(10).into()).await;
            if s == 503 {
                refused = Some((retry, v));
                break;
            }
            if seen.len() < 5 {
                seen.push(format!("{s} {v}"));
            }
            if first.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let Some((retry, v)) = refused else {
            let outcome = if first.is_finished() {
                format!("{:?}", (&mut first).await)
            } else {
                "still sending".to_string()
            };
            failures.push(format!("got instead: {seen:?}; the slow upload: {outcome}"));
            continue;
        };
        assert!(
            retry.parse::<u64>().is_ok_and(|n| n > 0),
            "Retry-After: {retry:?}"
        );
        assert!(
            v["error"].as_str().unwrap_or_default().contains("uploads"),
            "{v}"
        );
        drop(tx);
        let first = first.await.expect("join").expect("first upload answered");
        assert_eq!(
            first, 422,
            "the slow upload is not an APK: analysed and refused"
        );
        break;
    }
    assert!(
        failures.len() < 3,
        "a second upload while one is received is refused: {failures:?}"
    );
    app.stop().await;
}

const UPLOAD_CHILD: &str = "INTERDICT_TEST_UPLOAD_CHILD";

/// Item 3: ten concurrent 24 MB uploads do not take ten times 24 MB: bodies stream to
/// temporary files and only the analysis memory budget (32 MiB here) is read back at once.
/// (Buffered whole, as before the fix, they took over 240 MB.) In a child process, so that its
/// peak RSS is this scenario's alone.
#[test]
fn concurrent_uploads_are_bounded_in_memory() {
    if std::env::var_os(UPLOAD_CHILD).is_some() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(concurrent_uploads_child());
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "harden::concurrent_uploads_are_bounded_in_memory",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(UPLOAD_CHILD, "1")
        .output()
        .expect("run the test binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success(), "child failed: {text}");
    assert!(text.contains("1 passed"), "the child ran no test: {text}");
}

/// Peak resident set size of this process, bytes (Linux `VmHWM`).
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM")
        * 1024
}

async fn concurrent_uploads_child() {
    let (url, dir) = backends().await.swap_remove(0);
    let config = Config {
        max_upload_bytes: 64 << 20,
        max_concurrent_uploads: 10,
        analysis_memory_bytes: 32 << 20,
        ..Config::default()
    };
    let app = std::sync::Arc::new(TestApp::start_with(&url, dir, config).await);
    let analyst = app.token(Role::Analyst).await;
    let before = rss_bytes();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let app = app.clone();
        let token = analyst.clone();
        tasks.push(tokio::spawn(async move {
            // 24 MiB that are not an APK: stored, read back within the budget, refused (422).
            upload_body(&app, &token, streamed(256 * 1024, 96)).await.0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join"), 422);
    }
    let grown = peak_rss_bytes().saturating_sub(before);
    eprintln!(
        "peak RSS grew by {} MiB over 10 concurrent 24 MiB uploads",
        grown >> 20
    );
    assert!(
        grown < 120 << 20,
        "peak RSS grew by {} MiB (10 x 24 MiB buffered would be 240)",
        grown >> 20
    );
}
