//! `interdict agent` over HTTPS, for real: a throwaway CA and a server certificate for
//! 127.0.0.1 (IP SAN) made with the `openssl` tool, a real TLS-terminating proxy
//! (`testdata/tools/tls_proxy.py`, Python's `ssl`) in front of a real `interdict serve` on
//! loopback, and the agent verifying the proxy's certificate against `--ca-cert`.
//!
//! The same run without `--ca-cert` must fail on the certificate, so these tests cannot pass
//! with verification off.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

use serde_json::Value;

use crate::agent::{
    agent_args, device, installed_optional_package, json_lines, kill, publish, run_once, state_seq,
    tripwire,
};
use crate::support::{admin_get, data_dir_args, init, serve, BIN};

const UNENCRYPTED: &str = "device tokens will cross the network unencrypted";

/// A child process killed when dropped, so that a failing test leaves nothing running.
struct Reaped {
    child: Child,
    /// Held open: the TLS proxy exits when its stdin closes.
    _stdin: Option<ChildStdin>,
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `openssl ARGS` in `dir`; a missing tool fails with what to install.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `openssl` ({e}): these tests need the openssl command-line tool \
                 (Debian package `openssl`; scripts/test.sh installs it)"
            )
        });
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Paths of a throwaway PKI.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// A CA (P-256, one day) and a server certificate it signs for 127.0.0.1 only (IP SAN,
/// serverAuth), made with the `openssl` tool in `dir`.
fn make_pki(dir: &Path) -> Pki {
    std::fs::create_dir_all(dir).expect("mkdir pki");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=interdict test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = IP:127.0.0.1\n\
         basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\n",
    )
    .expect("write server.ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
    Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    }
}

/// Starts the TLS proxy in front of `backend` (`http://HOST:PORT`); returns it and its
/// `https://127.0.0.1:PORT` URL.
fn tls_proxy(pki: &Pki, backend: &str) -> (Reaped, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/tools/tls_proxy.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .arg("--cert")
        .arg(&pki.cert)
        .arg("--key")
        .arg(&pki.key)
        .arg("--backend")
        .arg(backend.trim_start_matches("http://"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): scripts/test.sh installs it"));
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("proxy stdout");
    let proxy = Reaped {
        child,
        _stdin: stdin,
    };
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read proxy");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("tls_proxy.py did not start: {line:?}"))
        .to_string();
    (proxy, format!("https://{addr}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn devices(base: &str, admin: &str) -> Vec<Value> {
    let v = admin_get(base, admin, "/api/v1/devices").await;
    v.as_array().cloned().unwrap_or_else(|| panic!("{v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_over_https_verifies_the_server_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = data_dir_args(dir.path());
    let (admin, secret) = init(&store);
    let (server, base) = serve(&store);
    let server = Reaped {
        child: server,
        _stdin: None,
    };
    let pkg = installed_optional_package();
    publish(&base, &admin, &pkg).await;
    let pki = make_pki(&dir.path().join("pki"));
    let (_proxy, https) = tls_proxy(&pki, &base);
    let (path, marker) = tripwire(dir.path());
    let state = dir.path().join("agent").join("state.json");
    let args = agent_args(&https, &secret, &state);
    let ca = pki.ca.display().to_string();

    // Without --ca-cert the proxy's certificate is from an unknown issuer: nothing is sent,
    // the check-in stays queued, and the error says why and what to do.
    let out = run_once(&args, &path, &["--json"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("invalid peer certificate"), "{all}");
    assert!(all.contains("--ca-cert"), "{all}");
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0]["compliant"].is_null(), "{lines:?}");
    assert_eq!(lines[0]["queued"], 1);
    assert!(!all.contains(UNENCRYPTED), "{all}");
    assert!(devices(&base, &admin).await.is_empty(), "nothing enrolled");

    // The server certificate itself is no CA: trusting it alone is not enough either.
    let cert = pki.cert.display().to_string();
    let out = run_once(&args, &path, &["--json", "--ca-cert", &cert]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(devices(&base, &admin).await.is_empty(), "nothing enrolled");

    // With the CA: enrolled over TLS, the queued check-ins delivered, the device visible
    // through the admin API with the agent's last seq and its inventory.
    let out = run_once(&args, &path, &["--json", "--ca-cert", &ca]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "non-compliant: {all}");
    assert!(!all.contains(UNENCRYPTED), "{all}");
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["compliant"], false, "{lines:?}");
    assert_eq!(lines[0]["queued"], 0, "{lines:?}");
    assert_eq!(lines[0]["results"][0]["status"], "dry_run", "{lines:?}");
    let (id, seq) = state_seq(&state);
    assert_eq!(lines[0]["device_id"], id.as_str());
    let listed = devices(&base, &admin).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let d = device(&base, &admin, &id).await;
    assert_eq!(d["last_seq"], seq, "{d}");
    assert!(
        d["installs"]
            .as_array()
            .expect("installs")
            .iter()
            .any(|i| i["app_id"] == pkg.as_str()),
        "{pkg} not in the stored inventory: {d}"
    );

    // A second identity enrolled over plain http:// on loopback (no warning) moves to
    // https:// on the same host and keeps its identity; going back to http:// is refused.
    let state2 = dir.path().join("agent2").join("state.json");
    let out = run_once(&agent_args(&base, &secret, &state2), &path, &["--json"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(!all.contains(UNENCRYPTED), "loopback: {all}");
    let (id2, _) = state_seq(&state2);
    let out = run_once(
        &agent_args(&https, &secret, &state2),
        &path,
        &["--json", "--ca-cert", &ca],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("over HTTPS"), "{all}");
    let (id2b, seq2) = state_seq(&state2);
    assert_eq!(id2b, id2, "same identity after the upgrade");
    assert_eq!(device(&base, &admin, &id2).await["last_seq"], seq2);
    assert_eq!(devices(&base, &admin).await.len(), 2);
    let out = run_once(&agent_args(&base, &secret, &state2), &path, &["--json"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("holds identities for https://"), "{all}");

    assert!(!marker.exists(), "a package manager was run");
    kill(&server.child, "-TERM");
}

/// Runs the agent once, with no enrollment secret anywhere: it stops before connecting.
fn run_without_secret(server: &str, state: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["agent", "--once", "--server", server, "--source", "dpkg"])
        .arg("--state")
        .arg(state)
        .args(extra)
        .env_remove("INTERDICT_ENROLL_SECRET")
        .output()
        .expect("run agent")
}

#[test]
fn agent_names_an_unusable_ca_file_and_warns_about_plain_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");

    // Unusable --ca-cert files: exit 2 before anything is sent, naming the file.
    let missing = dir.path().join("missing-ca.pem");
    let garbage = dir.path().join("garbage-ca.pem");
    std::fs::write(&garbage, "not a certificate\n").expect("write");
    let bad_pem = dir.path().join("bad-ca.pem");
    std::fs::write(
        &bad_pem,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    for (file, why) in [
        (&missing, "cannot read it"),
        (&garbage, "no certificate in it"),
        (&bad_pem, "not a valid X.509 certificate"),
    ] {
        let f = file.display().to_string();
        let out = run_without_secret("https://127.0.0.1:9", &state, &["--ca-cert", &f]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{all}");
        assert!(all.contains(&format!("CA certificate file {f}")), "{all}");
        assert!(all.contains(why), "{all}");
    }
    assert!(!state.exists(), "stopped before the state file");

    // Plain http:// to a host other than this one: one warning line at start. (No secret, so
    // the agent stops before connecting: this test touches no network.)
    let out = run_without_secret("http://192.0.2.10:8080", &state, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains(UNENCRYPTED)).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].starts_with("interdict agent: warning: "),
        "{stderr}"
    );
    assert!(stderr.contains("not enrolled"), "{stderr}");

    // Not http(s): refused.
    let out = run_without_secret("ftp://127.0.0.1:9", &state, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("expected https://"), "{stderr}");
}
