//! `interdict audit` as an auditor runs it: export a bundle from a real server's data
//! directory, verify it offline, prove single events; Go's own checksum-database code
//! (`sumdb/note`, `sumdb/tlog`) accepts every checkpoint and proof; every class of tampering is
//! detected; `kill -9` under load never leaves an event without its leaf or a leaf without its
//! event.

use std::path::{Path, PathBuf};
use std::process::Command;

use audit_ledger::Signer;

use crate::tamper::{copy_bundle, lines, run_case, Bundle, Outcome, Rng, CLASSES};
use serde_json::{json, Value};

use crate::support::{call, init, serve_on, BIN};

const CANADA: &str = include_str!("../../../../examples/canada-gc-mobile-v2.toml");

/// Tamper cases per class in CI (the 1,000 per class: INTERDICT_TAMPER_CASES=1000).
fn tamper_cases() -> usize {
    std::env::var("INTERDICT_TAMPER_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25)
}

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run interdict");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn serve_args(data: &Path, extra: &[&str]) -> Vec<String> {
    let mut v = vec!["--data-dir".to_string(), data.display().to_string()];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

async fn enroll(c: &reqwest::Client, base: &str, secret: &str, name: &str) -> u16 {
    let (s, _) = call(
        c,
        reqwest::Method::POST,
        format!("{base}/api/v1/enroll"),
        "",
        json!({"enroll_secret": secret, "device": {"name": name, "platform": "android",
               "serial": name, "ownership": "corporate", "groups": ["government-issued"]}}),
    )
    .await;
    s
}

/// Builds the Go verifier offline against Debian's golang-golang-x-mod-dev.
fn go_verifier(out: &Path) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/go-verifier");
    let have_go = Command::new("go").arg("version").output().is_ok();
    let have_mod = Path::new("/usr/share/gocode/src/golang.org/x/mod/sumdb/tlog").is_dir();
    if !(have_go && have_mod) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have golang-go and golang-golang-x-mod-dev (scripts/test.sh installs them)"
        );
        eprintln!("SKIPPED the Go verifier: install golang-go and golang-golang-x-mod-dev");
        return None;
    }
    let bin = out.join("verify-ledger");
    let st = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&root)
        .env("GOPATH", "/usr/share/gocode")
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GOCACHE", out.join("gocache"))
        .status()
        .expect("go build");
    assert!(st.success(), "go build of tests/go-verifier failed");
    Some(bin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_verify_prove_go_accepts_and_tampering_is_detected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let store = vec!["--data-dir".to_string(), data.display().to_string()];
    let (admin, secret) = init(&store);
    let key_meta = std::fs::metadata(data.join("ledger.key")).expect("ledger.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key_meta.permissions().mode() & 0o777, 0o600);
    let cpdir = tmp.path().join("published");
    let (mut child, base) = serve_on(
        &serve_args(
            &data,
            &[
                "--checkpoint-every-events",
                "16",
                "--checkpoint-dir",
                cpdir.to_str().expect("utf8"),
            ],
        ),
        "127.0.0.1:0",
    );
    let c = reqwest::Client::new();
    // Hostile strings are data: CR/LF, ANSI escapes, a right-to-left override, the longest
    // justification the server takes (4 KiB; a 64 KiB one is refused below, nothing stored).
    let hostile = [
        "line1\r\nFAKE: OK all verified".to_string(),
        "\u{1b}[2J\u{1b}[31mred".to_string(),
        "evil\u{202e}gpj.exe".to_string(),
        "x".repeat(4096),
    ];
    let (s, v) = call(
        &c,
        reqwest::Method::PUT,
        format!("{base}/api/v1/policy"),
        &admin,
        Value::String(CANADA.into()),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(&c, reqwest::Method::POST, format!("{base}/api/v1/enroll"), "",
        json!({"enroll_secret": secret, "device": {"name": "phone", "platform": "android", "serial": "s",
               "ownership": "corporate", "groups": ["government-issued"]}})).await;
    assert_eq!(s, 200, "{v}");
    let device = v["device_id"].as_str().expect("id").to_string();
    for (i, h) in hostile.iter().enumerate() {
        if h.len() <= 256 {
            assert_eq!(enroll(&c, &base, &secret, &format!("{h}{i}")).await, 200);
        }
        let (s, v) = call(&c, reqwest::Method::POST, format!("{base}/api/v1/exceptions"), &admin,
            json!({"device_id": device, "rule": "ca-2023-10-wechat", "justification": h, "expires": in_30_days()})).await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = call(&c, reqwest::Method::POST, format!("{base}/api/v1/exceptions"), &admin,
        json!({"device_id": device, "rule": "ca-2023-10-wechat", "justification": "x".repeat(64 * 1024),
               "expires": "2999-01-01"})).await;
    assert_eq!(s, 422, "{v}");
    let mut sizes = Vec::new();
    for round in 0..4 {
        for i in 0..20 {
            assert_eq!(
                enroll(&c, &base, &secret, &format!("d{round}-{i}")).await,
                200
            );
        }
        let (s, _) = call(
            &c,
            reqwest::Method::POST,
            format!("{base}/api/v1/audit/checkpoint"),
            &admin,
            json!({}),
        )
        .await;
        assert_eq!(s, 200);
        let (_, v) = call(
            &c,
            reqwest::Method::GET,
            format!("{base}/api/v1/audit/checkpoints?from=0"),
            &admin,
            Value::Null,
        )
        .await;
        sizes = v["checkpoints"]
            .as_array()
            .expect("list")
            .iter()
            .map(|c| c["size"].as_u64().expect("size"))
            .collect();
    }
    sizes.sort_unstable();
    sizes.dedup();
    assert!(sizes.len() >= 4, "{sizes:?}");
    // Consistency proofs between every pair of checkpoints, for the Go verifier.
    let mut consistency = String::new();
    for (i, &old) in sizes.iter().enumerate() {
        for &new in &sizes[i..] {
            if old == 0 {
                continue;
            }
            let (s, v) = call(
                &c,
                reqwest::Method::GET,
                format!("{base}/api/v1/audit/proof/consistency?old={old}&new={new}"),
                &admin,
                Value::Null,
            )
            .await;
            assert_eq!(s, 200, "{v}");
            let hs: Vec<&str> = v["hashes"]
                .as_array()
                .expect("hashes")
                .iter()
                .map(|h| h.as_str().expect("str"))
                .collect();
            let hs = if hs.is_empty() {
                "-".to_string()
            } else {
                hs.join(",")
            };
            consistency.push_str(&format!("{old} {new} {hs}\n"));
        }
    }
    let cfile = tmp.path().join("consistency.txt");
    std::fs::write(&cfile, consistency).expect("write");

    // Export while the server runs, then verify in another directory, offline.
    let b1 = tmp.path().join("b1");
    let (code, out) = run(&[
        "audit",
        "export",
        "--data-dir",
        data.to_str().expect("utf8"),
        "--out",
        b1.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 0, "{out}");
    let moved = tmp.path().join("elsewhere");
    copy_bundle(&b1, &moved);
    let (code, out) = run(&["audit", "verify", moved.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("OK: "), "{out}");

    // Proofs of single events, checked alone.
    let n = lines(&b1.join("entries.jsonl")).len();
    let mut proofs = Vec::new();
    for index in [0, 1, 2, 3, n / 2, n - 1] {
        let p = tmp.path().join(format!("e{index}.tlog-proof"));
        let (code, out) = run(&[
            "audit",
            "prove",
            "--data-dir",
            data.to_str().expect("utf8"),
            "--index",
            &index.to_string(),
            "--out",
            p.to_str().expect("utf8"),
        ]);
        assert_eq!(code, 0, "{out}");
        let (code, out) = run(&[
            "audit",
            "check-proof",
            p.to_str().expect("utf8"),
            "--key",
            b1.join("keys.pub").to_str().expect("utf8"),
        ]);
        assert_eq!(code, 0, "{out}");
        // Terminal output shows hostile entries escaped.
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{202e}') && !out.contains('\r'),
            "{out:?}"
        );
        proofs.push(p);
    }
    let bad = tmp.path().join("bad.tlog-proof");
    let mut text = std::fs::read_to_string(&proofs[3]).expect("read");
    let i = text.find("\nindex ").expect("index line") + 7;
    text.replace_range(i..i + 1, "2");
    std::fs::write(&bad, text).expect("write");
    let (code, out) = run(&[
        "audit",
        "check-proof",
        bad.to_str().expect("utf8"),
        "--key",
        b1.join("keys.pub").to_str().expect("utf8"),
    ]);
    assert_eq!(code, 1, "{out}");

    // Go's checksum-database code accepts every checkpoint and proof.
    if let Some(go) = go_verifier(tmp.path()) {
        let mut cmd = Command::new(go);
        cmd.arg(b1.join("keys.pub"))
            .arg(&b1)
            .args(&proofs)
            .arg(&cfile);
        let out = cmd.output().expect("run go verifier");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // And the checkpoints published outside the server.
        let pubdir = tmp.path().join("pubbundle");
        copy_bundle(&b1, &pubdir);
        for e in std::fs::read_dir(pubdir.join("checkpoints"))
            .expect("dir")
            .flatten()
        {
            std::fs::remove_file(e.path()).expect("rm");
        }
        for e in std::fs::read_dir(&cpdir).expect("published").flatten() {
            std::fs::copy(e.path(), pubdir.join("checkpoints").join(e.file_name())).expect("copy");
        }
        let out = Command::new(tmp.path().join("verify-ledger"))
            .arg(b1.join("keys.pub"))
            .arg(&pubdir)
            .output()
            .expect("go");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Tampering, class by class, checked against the newest checkpoint of this export.
    let trusted = std::fs::read_dir(b1.join("checkpoints"))
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .max()
        .expect("a checkpoint");
    let signer = Signer::parse(&std::fs::read_to_string(data.join("ledger.key")).expect("key"))
        .expect("signer");
    let bundle = Bundle::read(&b1);
    let seed = 0x5eed_u64 ^ u64::from(std::process::id());
    let mut rng = Rng(seed | 1);
    let cases = tamper_cases();
    let mut detected = std::collections::BTreeMap::<&str, usize>::new();
    for class in CLASSES {
        for case in 0..cases {
            let dir = tmp.path().join(format!("t-{class}-{case}"));
            match run_case(BIN, &b1, &bundle, &dir, &trusted, &signer, class, &mut rng) {
                Ok(Outcome::Detected) => *detected.entry(class).or_default() += 1,
                Ok(Outcome::NoOp) => {}
                Err(e) => panic!("case {case} (seed {seed:#x}): {e}"),
            }
            std::fs::remove_dir_all(&dir).expect("rm");
        }
    }
    println!("tamper detection ({cases} cases per class, seed {seed:#x}): {detected:?}");
    for (class, n) in &detected {
        assert!(*n > 0, "{class}");
    }

    // A user edits one event in the SQLite file: verify names it.
    child.kill().expect("kill");
    child.wait().expect("wait");
    let st = Command::new("sqlite3")
        .arg(data.join("interdict.db"))
        .arg("UPDATE events SET actor = 'mallory' WHERE seq = 7")
        .status()
        .expect("sqlite3");
    assert!(st.success());
    let b2 = tmp.path().join("b2");
    let (code, out) = run(&[
        "audit",
        "export",
        "--data-dir",
        data.to_str().expect("utf8"),
        "--out",
        b2.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&[
        "audit",
        "verify",
        b2.to_str().expect("utf8"),
        "--trusted",
        trusted.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("DAMAGED: first bad entry index 6 (modified entry)"),
        "{out}"
    );
}

/// `kill -9` at 20 moments under load: afterwards every event has its leaf, every leaf its
/// event, the sequence has no gap, and the stored tree matches the leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_never_separates_an_event_from_its_leaf() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let store = vec!["--data-dir".to_string(), data.display().to_string()];
    let (_, secret) = init(&store);
    let c = reqwest::Client::new();
    for round in 0..20 {
        let (mut child, base) = serve_on(&store, "127.0.0.1:0");
        let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for w in 0..4 {
            let (c, base, secret, done) = (c.clone(), base.clone(), secret.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..10_000 {
                    if enroll(&c, &base, &secret, &format!("r{round}w{w}i{i}")).await != 200 {
                        break;
                    }
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }));
        }
        // A count-based moment that varies per round, then kill -9 mid-stream.
        let target = 5 + round * 3;
        while done.load(std::sync::atomic::Ordering::Relaxed) < target {
            assert!(
                !tasks.iter().all(tokio::task::JoinHandle::is_finished),
                "round {round}: every enrolling task stopped (an enrollment was refused) before \
                 {target} enrollments"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        child.kill().expect("kill -9");
        child.wait().expect("wait");
        for t in tasks {
            let _ = t.await;
        }
        // Read the file as left (before any server opens it again and backfills).
        let out = Command::new("sqlite3")
            .arg(data.join("interdict.db"))
            .arg(
                "SELECT (SELECT COUNT(*) FROM events) || ' ' || (SELECT COALESCE(MAX(seq), 0) FROM events) \
                 || ' ' || (SELECT COUNT(*) FROM ledger_nodes WHERE level = 0) \
                 || ' ' || (SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_nodes WHERE level = 0)",
            )
            .output()
            .expect("sqlite3");
        let counts = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let f: Vec<&str> = counts.split(' ').collect();
        assert_eq!(f.len(), 4, "{counts}");
        assert!(
            f.iter().all(|x| *x == f[0]),
            "round {round}: events, max seq, leaves, max leaf+1 = {counts}"
        );
    }
    let st = api_server::storage::Store::connect(&api_server::storage::Store::sqlite_url(&data))
        .await
        .expect("open");
    let events = st.last_event_seq().await.expect("seq");
    assert!(events > 20 * 5, "{events}");
    assert_eq!(st.ledger_size().await.expect("size"), events);
    assert_eq!(st.ledger_self_check().await.expect("check"), None);
}

/// Rotating the signing key keeps the old checkpoints verifiable by their key id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_keys_keep_old_checkpoints_verifiable() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let store = vec!["--data-dir".to_string(), data.display().to_string()];
    let (admin, secret) = init(&store);
    let c = reqwest::Client::new();
    let mut key_ids = Vec::new();
    for round in 0..2 {
        if round == 1 {
            let (code, out) = run(&[
                "audit",
                "rotate-key",
                "--data-dir",
                data.to_str().expect("utf8"),
            ]);
            assert_eq!(code, 0, "{out}");
            let mode = std::fs::metadata(data.join("ledger.key"))
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (mut child, base) = serve_on(&store, "127.0.0.1:0");
        for i in 0..3 {
            assert_eq!(
                enroll(&c, &base, &secret, &format!("r{round}-{i}")).await,
                200
            );
        }
        let (s, _) = call(
            &c,
            reqwest::Method::POST,
            format!("{base}/api/v1/audit/checkpoint"),
            &admin,
            json!({}),
        )
        .await;
        assert_eq!(s, 200);
        let (_, v) = call(
            &c,
            reqwest::Method::GET,
            format!("{base}/api/v1/audit/checkpoints?from=0"),
            &admin,
            Value::Null,
        )
        .await;
        key_ids = v["checkpoints"]
            .as_array()
            .expect("list")
            .iter()
            .map(|c| c["key_id"].as_str().expect("id").to_string())
            .collect();
        child.kill().expect("kill");
        child.wait().expect("wait");
    }
    key_ids.dedup();
    assert_eq!(key_ids.len(), 2, "{key_ids:?}");
    assert_eq!(lines(&data.join("ledger.pub")).len(), 2);
    let b = tmp.path().join("b");
    let (code, out) = run(&[
        "audit",
        "export",
        "--data-dir",
        data.to_str().expect("utf8"),
        "--out",
        b.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&["audit", "verify", b.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 checkpoints"), "{out}");
    // With only the new key, the old checkpoint is not verifiable: verify says so.
    let only_new = tmp.path().join("new.pub");
    std::fs::write(
        &only_new,
        format!("{}\n", lines(&data.join("ledger.pub"))[1]),
    )
    .expect("write");
    let (code, out) = run(&[
        "audit",
        "verify",
        b.to_str().expect("utf8"),
        "--key",
        only_new.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bad checkpoint signature"), "{out}");
}

/// An exception expiry the server accepts (at most a year away by default).
fn in_30_days() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    app_policy::Date::from_days_since_epoch(i64::try_from(days).unwrap_or(0) + 30).to_string()
}
