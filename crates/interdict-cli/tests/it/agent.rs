//! `interdict agent` against a real `interdict serve` on loopback, with this machine's real
//! dpkg status file: enrollment, inventory, a prohibited installed package, the exact dry-run
//! command, and an outage (server killed, agent restarted, server back) in which nothing is
//! lost.
//!
//! The agent only ever runs with `--dry-run` here. As a tripwire, `PATH` starts with a
//! directory whose `apt-get` and `dpkg` only record that they were called: the test fails if
//! anything tried to remove a package.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{admin_get, call, data_dir_args, init, serve, serve_on, BIN};

/// An installed package of this machine with priority `optional` (nothing essential), as
/// `dpkg-query` reports it.
pub(crate) fn installed_optional_package() -> String {
    let out = Command::new("dpkg-query")
        .args([
            "-W",
            "-f",
            "${db:Status-Status}\t${Priority}\t${Essential}\t${Package}\n",
        ])
        .output()
        .expect("dpkg-query (this test needs a Debian machine)");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            match c.as_slice() {
                ["installed", "optional", ess, name] if *ess != "yes" => Some(name.to_string()),
                _ => None,
            }
        })
        .next()
        .expect("an installed optional package")
}

fn policy(pkg: &str) -> String {
    format!(
        r#"[policy]
name = "agent-test"
version = 1
mode = "denylist"

[[rules]]
id = "no-{pkg}"
title = "{pkg}"
action = "prohibit"
app_ids = ["{pkg}"]
platforms = ["linux"]
effective = 2020-01-01
grace_days = 0
remedy = "uninstall"
rationale = "test"
authority = "test"
"#
    )
}

/// A directory with `apt-get` and `dpkg` that only record being called (see the module docs).
pub(crate) fn tripwire(dir: &Path) -> (String, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("tripwire-bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let marker = dir.join("tripwire-called");
    for name in ["apt-get", "dpkg"] {
        let p = bin.join(name);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\necho \"{name} $*\" >> '{}'\nexit 1\n",
                marker.display()
            ),
        )
        .expect("write tripwire");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (path, marker)
}

pub(crate) fn agent_args(base: &str, secret: &str, state: &Path) -> Vec<String> {
    [
        "agent",
        "--server",
        base,
        "--enroll-secret",
        secret,
        "--state",
        &state.display().to_string(),
        "--source",
        "dpkg",
        "--enforce",
        "--dry-run",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

pub(crate) fn run_once(args: &[String], path: &str, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .args(["--once"])
        .args(extra)
        .env("PATH", path)
        .output()
        .expect("run agent")
}

pub(crate) fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

pub(crate) fn state_seq(state: &Path) -> (String, i64) {
    let v: Value =
        serde_json::from_slice(&std::fs::read(state).expect("state file")).expect("state JSON");
    let local = &v["devices"]["local"];
    (
        local["device_id"].as_str().expect("device_id").to_string(),
        local["seq"].as_i64().expect("seq"),
    )
}

pub(crate) async fn device(base: &str, admin: &str, id: &str) -> Value {
    admin_get(base, admin, &format!("/api/v1/devices/{id}")).await
}

pub(crate) async fn publish(base: &str, admin: &str, pkg: &str) {
    let (s, v) = call(
        &reqwest::Client::new(),
        reqwest::Method::PUT,
        format!("{base}/api/v1/policy"),
        admin,
        json!(policy(pkg)),
    )
    .await;
    assert_eq!(s, 200, "{v}");
}

/// Every result the agent reported is stored by the server, field for field but for the time:
/// the server keeps one result per action and status (the first), and an agent that re-sends a
/// result after an outage re-stamps it.
fn assert_results_stored(reported: &[Value], detail: &Value) {
    let stored = detail["action_results"]
        .as_array()
        .unwrap_or_else(|| panic!("no action_results in {detail}"));
    for r in reported {
        let found = stored.iter().any(|s| {
            ["id", "app_id", "kind", "status", "detail", "command"]
                .iter()
                .all(|k| s[k] == r[k])
        });
        assert!(found, "result {r} not in {stored:?}");
    }
}

pub(crate) fn kill(child: &Child, signal: &str) {
    let st = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_once_reports_dpkg_inventory_and_dry_run_removal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = data_dir_args(dir.path());
    let (admin, secret) = init(&store);
    let (mut server, base) = serve(&store);
    let pkg = installed_optional_package();
    publish(&base, &admin, &pkg).await;
    let (path, marker) = tripwire(dir.path());
    let state = dir.path().join("agent").join("state.json");
    let args = agent_args(&base, &secret, &state);

    let out = run_once(&args, &path, &["--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "non-compliant: {stderr}");
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let r = &lines[0];
    assert_eq!(r["device"], "local");
    assert_eq!(r["compliant"], false);
    assert_eq!(r["queued"], 0);
    let expected = format!("apt-get remove -y -- {pkg}");
    let action = r["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .find(|a| a["app_id"] == pkg.as_str())
        .unwrap_or_else(|| panic!("no action for {pkg}: {r}"));
    assert_eq!(action["kind"], "uninstall");
    assert_eq!(action["rule"], format!("no-{pkg}"));
    let result = &r["results"][0];
    assert_eq!(result["id"], action["id"]);
    assert_eq!(result["status"], "dry_run");
    assert_eq!(result["command"], expected.as_str());
    assert!(
        stderr.contains(&format!("would run: {expected}")),
        "{stderr}"
    );

    // The state file is private, and the server holds the device as the agent reported it.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&state)
        .expect("state")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let (id, seq) = state_seq(&state);
    let d = device(&base, &admin, &id).await;
    assert_eq!(d["platform"], "linux");
    assert_eq!(d["compliant"], false);
    assert_eq!(d["last_seq"], seq, "{d}");
    assert!(
        d["installs"]
            .as_array()
            .expect("installs")
            .iter()
            .any(|i| i["app_id"] == pkg.as_str() && i["removed_at"].is_null()),
        "{pkg} not in the stored inventory"
    );
    assert_results_stored(&r["results"].as_array().cloned().unwrap_or_default(), &d);

    // Text mode, same identity (no secret needed): the command on stdout as `would run:`.
    let text_args: Vec<String> = args
        .iter()
        .filter(|a| *a != "--enroll-secret" && **a != secret)
        .cloned()
        .collect();
    let out = run_once(&text_args, &path, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l == format!("would run: {expected}")),
        "{stdout}"
    );
    assert!(stdout.contains("NON-COMPLIANT"), "{stdout}");
    let (_, seq2) = state_seq(&state);
    assert!(seq2 > seq);
    assert_eq!(device(&base, &admin, &id).await["last_seq"], seq2);

    // The unchanged inventory went as the server's hash; a hash the server does not know
    // (409) makes the agent send the full inventory again.
    let mut st: Value =
        serde_json::from_slice(&std::fs::read(&state).expect("state")).expect("json");
    assert!(st["devices"]["local"]["ack"]["hash"].is_string(), "{st}");
    st["devices"]["local"]["ack"]["hash"] = json!("0".repeat(64));
    std::fs::write(&state, serde_json::to_vec(&st).expect("json")).expect("write state");
    let out = run_once(&text_args, &path, &["--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, seq3) = state_seq(&state);
    assert_eq!(device(&base, &admin, &id).await["last_seq"], seq3);

    assert!(!marker.exists(), "a package manager was run");
    kill(&server, "-TERM");
    assert!(server.wait().expect("wait").success());
}

/// Pending check-ins in the agent's queue directory.
fn pending(queue: &Path) -> usize {
    std::fs::read_dir(queue).map_or(0, |rd| {
        rd.filter_map(Result::ok)
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_suffix(".json")
                    .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            })
            .count()
    })
}

/// Waits (polling) until `cond` holds; panics with `what` after a generous deadline.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct RunningAgent {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
}

fn start_agent(args: &[String], path: &str) -> RunningAgent {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--interval", "1s", "--max-backoff", "1s", "--json"])
        .env("PATH", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn agent");
    let stdout = child.stdout.take().expect("stdout");
    let lines: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            let v: Value = serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l:?}"));
            sink.lock().expect("lock").push(v);
        }
    });
    RunningAgent { child, lines }
}

impl RunningAgent {
    fn lines(&self) -> Vec<Value> {
        self.lines.lock().expect("lock").clone()
    }

    /// SIGTERM, and the agent exits 0.
    fn stop(mut self) -> Vec<Value> {
        kill(&self.child, "-TERM");
        let st = self.child.wait().expect("wait");
        assert!(st.success(), "agent exit {st:?}");
        self.lines()
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

fn results_of(lines: &[Value]) -> Vec<Value> {
    lines
        .iter()
        .flat_map(|l| l["results"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_survives_server_outage_and_restart_losing_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = data_dir_args(dir.path());
    let (admin, secret) = init(&store);
    let (mut server, base) = serve(&store);
    let listen = base.trim_start_matches("http://").to_string();
    let pkg = installed_optional_package();
    publish(&base, &admin, &pkg).await;
    let (path, marker) = tripwire(dir.path());
    let state = dir.path().join("agent").join("state.json");
    let queue = dir.path().join("agent").join("state.queue").join("local");
    let args = agent_args(&base, &secret, &state);
    let mut reported = Vec::new();

    // Server up: enrolled, non-compliant, the dry-run result delivered.
    let mut agent = start_agent(&args, &path);
    wait_for("a delivered dry-run result", || {
        agent
            .lines()
            .iter()
            .any(|l| l["compliant"] == false && l["results"][0]["status"] == "dry_run")
    });

    // Server down: the agent keeps cycling and its queue grows.
    server.kill().expect("kill -9 server");
    server.wait().expect("wait");
    wait_for("check-ins queued during the outage", || {
        pending(&queue) >= 3
    });
    assert!(agent.running());
    // Restarted during the outage: exits 0 on SIGTERM, the queue stays on disk.
    reported.extend(results_of(&agent.stop()));
    let before = pending(&queue);
    assert!(before >= 3);
    let mut agent = start_agent(&args, &path);
    wait_for("more check-ins queued after the restart", || {
        pending(&queue) >= before + 2
    });
    assert!(agent.running());

    // Server back on the same address: the queue drains, in order.
    let (mut server, base2) = serve_on(&store, &listen);
    assert_eq!(base2, base);
    wait_for("the queue to drain", || {
        pending(&queue) == 0
            && agent
                .lines()
                .iter()
                .any(|l| l["compliant"] == false && l["queued"] == 0)
    });
    reported.extend(results_of(&agent.stop()));

    // A last --once run delivers whatever the SIGTERM left queued, then the ledger must
    // match: the server's last_seq is the agent's last seq, and every seq arrived.
    let out = run_once(&args, &path, &["--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    reported.extend(results_of(&json_lines(&out.stdout)));
    assert_eq!(pending(&queue), 0);
    let (id, seq) = state_seq(&state);
    let d = device(&base, &admin, &id).await;
    assert_eq!(d["last_seq"], seq, "{d}");
    assert!(
        d["checkins"].as_i64().expect("checkins") >= seq,
        "seq {seq}, {d}"
    );
    assert!(!reported.is_empty());
    assert_results_stored(&reported, &d);
    assert!(
        std::fs::read_dir(queue.join("rejected")).is_err(),
        "nothing was rejected"
    );

    assert!(!marker.exists(), "a package manager was run");
    kill(&server, "-TERM");
    assert!(server.wait().expect("wait").success());
}
