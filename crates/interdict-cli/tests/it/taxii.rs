//! `interdict intel pull` against a TAXII 2.1 server on loopback that pages with `next`,
//! checks basic auth and records `added_after`, and against hostile ones (a `next` loop,
//! garbage): those fail whole and import nothing; and against medallion, the OASIS TAXII 2.1
//! reference server (from the venv of `$INTERDICT_PYTHON`, see scripts/test.sh).

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

fn interdict(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_interdict"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run interdict")
}

fn indicator(i: u32, host: &str) -> serde_json::Value {
    serde_json::json!({"type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--{i:08x}-e032-476c-826f-cb970a5a1ade"),
        "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
        "pattern": format!("[domain-name:value = '{host}']"), "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z"})
}

/// Serves requests with `respond(request line, headers) -> (status, extra headers, body)`;
/// records every request line and Authorization header.
fn server(respond: impl Fn(&str) -> (u16, String, String) + Send + 'static) -> (String, Seen) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}/api1/", l.local_addr().unwrap().port());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let mut r = BufReader::new(c.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
                if h.to_ascii_lowercase().starts_with("authorization:") {
                    auth = h[14..].trim().to_string();
                }
            }
            seen2.lock().unwrap().push((line.trim().to_string(), auth));
            let (status, headers, body) = respond(line.trim());
            let mut c = c;
            let _ = write!(
                c,
                "HTTP/1.1 {status} X\r\nContent-Type: application/taxii+json;version=2.1\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = c.flush();
            let mut sink = [0u8; 16];
            let _ = c.read(&mut sink);
        }
    });
    (base, seen)
}

/// Request lines and Authorization headers seen by a test server.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn pulls_every_page_with_auth_and_keeps_added_after() {
    let (base, seen) = server(|line| {
        if line.contains("next=p2") {
            let body =
                serde_json::json!({"more": false, "objects": [indicator(2, "b.evil.example")]});
            (
                200,
                "X-TAXII-Date-Added-Last: 2024-05-02T00:00:00.000Z\r\n".into(),
                body.to_string(),
            )
        } else {
            let body = serde_json::json!({"more": true, "next": "p2", "objects": [indicator(1, "a.evil.example")]});
            (
                200,
                "X-TAXII-Date-Added-Last: 2024-05-01T00:00:00.000Z\r\n".into(),
                body.to_string(),
            )
        }
    });
    let dir = std::env::temp_dir().join(format!("interdict-taxii-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().unwrap();
    let args = [
        "intel",
        "pull",
        "--taxii",
        &base,
        "--collection",
        "91a7b528-80eb-42ed-a74d-c6fbd5a26116",
        "--dir",
        d,
        "--user",
        "analyst",
    ];
    let o = interdict(&args, &[("TAXII_PASSWORD", "s3cret")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("2 imported"), "{out}");
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.len(), 2);
        assert!(
            s[0].0
                .starts_with("GET /api1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/objects/"),
            "{s:?}"
        );
        assert!(!s[0].0.contains("added_after"));
        assert!(s[1].0.contains("next=p2"));
        // analyst:s3cret
        assert!(
            s.iter().all(|(_, a)| a == "Basic YW5hbHlzdDpzM2NyZXQ="),
            "{s:?}"
        );
    }
    let state = std::fs::read_to_string(dir.join("taxii-state.json")).unwrap();
    assert!(state.contains("2024-05-02T00:00:00.000Z"), "{state}");
    // The next pull sends added_after.
    let o = interdict(&args, &[("TAXII_PASSWORD", "s3cret")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        seen.lock().unwrap()[2]
            .0
            .contains("added_after=2024-05-02T00%3A00%3A00.000Z"),
        "{:?}",
        seen.lock().unwrap()
    );
    // And assess can use what was pulled.
    assert!(files(&dir).iter().any(|f| f.ends_with(".intel.json")));
}

#[test]
fn a_next_loop_or_garbage_fails_whole() {
    let (loop_base, _) = server(|_| {
        let body = serde_json::json!({"more": true, "next": "same", "objects": [indicator(1, "a.evil.example")]});
        (200, String::new(), body.to_string())
    });
    let (garbage_base, _) = server(|_| (200, String::new(), "<html>not taxii</html>".into()));
    let (endless_base, _) = server(|line| {
        let n = line
            .split("next=")
            .nth(1)
            .and_then(|s| s.split([' ', '&']).next())
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        let body = serde_json::json!({"more": true, "next": (n + 1).to_string(), "objects": []});
        (200, String::new(), body.to_string())
    });
    let (denied_base, _) = server(|_| (401, String::new(), "{}".into()));
    for (base, expect, extra) in [
        (loop_base, "repeated `next`", vec![]),
        (garbage_base, "not a TAXII 2.1 envelope", vec![]),
        (
            endless_base,
            "stopped after 5 pages",
            vec!["--max-pages", "5"],
        ),
        (denied_base, "401", vec![]),
    ] {
        let dir = std::env::temp_dir().join(format!(
            "interdict-taxii-bad-{}-{}",
            std::process::id(),
            expect.len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let mut args = vec![
            "intel",
            "pull",
            "--taxii",
            &base,
            "--collection",
            "c1",
            "--dir",
            dir.to_str().unwrap(),
        ];
        args.extend(extra);
        let o = interdict(&args, &[]);
        assert_eq!(o.status.code(), Some(2), "{expect}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(expect), "{expect}: {err}");
        assert!(
            !files(&dir).iter().any(|f| f.ends_with(".intel.json")),
            "{expect}: nothing imported"
        );
    }
}

/// medallion, the OASIS TAXII 2.1 reference server, on a loopback port, killed on drop.
struct Medallion(std::process::Child);

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const MEDALLION_COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";

/// Starts medallion (from the venv of `$INTERDICT_PYTHON`, as scripts/test.sh installs it
/// from testdata/intel/requirements.txt) with the memory backend over `data`, user
/// analyst:s3cret and pages of two objects; returns it with its API root URL.
fn medallion(dir: &Path, data: &serde_json::Value) -> (Medallion, String) {
    let python = std::env::var("INTERDICT_PYTHON").unwrap_or_else(|_| "python3".into());
    let data_path = dir.join("medallion-data.json");
    std::fs::write(&data_path, data.to_string()).unwrap();
    let config = dir.join("medallion.json");
    let cfg = serde_json::json!({
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                    "filename": data_path.to_str().unwrap()},
        "users": {"analyst": "s3cret"},
        "taxii": {"max_page_size": 2},
    });
    std::fs::write(&config, cfg.to_string()).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.join("medallion.log")).unwrap();
    let child = Command::new(&python)
        .args(["-m", "medallion.scripts.run"])
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg(&config)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; scripts/test.sh sets INTERDICT_PYTHON to a venv with testdata/intel/requirements.txt"));
    let mut m = Medallion(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        let log = || std::fs::read_to_string(dir.join("medallion.log")).unwrap_or_default();
        if let Some(st) = m.0.try_wait().unwrap() {
            panic!("medallion exited ({st}) before listening (is medallion==3.0.0 in the venv of {python}?): {}", log());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "medallion did not listen on port {port} within 60 s: {}",
            log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    (m, format!("http://127.0.0.1:{port}/api1/"))
}

/// A medallion collection holding these indicators, added a day apart from 2024-05-01.
fn medallion_data(hosts: &[&str]) -> serde_json::Value {
    let objects: Vec<_> = (0u32..)
        .zip(hosts)
        .map(|(i, h)| indicator(i + 1, h))
        .collect();
    let manifest: Vec<_> = objects
        .iter()
        .zip(1..)
        .map(|(o, day)| {
            serde_json::json!({"id": o["id"], "date_added": format!("2024-05-{day:02}T00:00:00.000000Z"),
                "version": "2024-01-01T00:00:00.000Z", "media_type": "application/stix+json;version=2.1"})
        })
        .collect();
    serde_json::json!({
        "/discovery": {"title": "interdict test", "api_roots": ["http://127.0.0.1/api1/"]},
        "api1": {
            "information": {"title": "api1", "versions": ["application/taxii+json;version=2.1"],
                            "max_content_length": 9_765_625},
            "status": [],
            "collections": [{"id": MEDALLION_COLLECTION, "title": "feed", "can_read": true, "can_write": true,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": objects, "manifest": manifest}],
        },
    })
}

#[test]
fn pulls_from_the_oasis_reference_server_medallion() {
    let dir = std::env::temp_dir().join(format!("interdict-medallion-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = [
        "a.evil.example",
        "b.evil.example",
        "evil.example.com",
        "d.evil.example",
        "e.evil.example",
    ];
    let (_server, base) = medallion(&dir, &medallion_data(&hosts));
    let intel = dir.join("intel");
    let pull = |extra: &[&str], password: &str| {
        let mut args = vec![
            "intel",
            "pull",
            "--taxii",
            &base,
            "--collection",
            MEDALLION_COLLECTION,
            "--dir",
            intel.to_str().unwrap(),
            "--user",
            "analyst",
        ];
        args.extend(extra);
        interdict(&args, &[("TAXII_PASSWORD", password)])
    };
    // Wrong password: medallion answers 401 and nothing is imported.
    let o = pull(&[], "wrong");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("401"));
    assert!(!files(&intel).iter().any(|f| f.ends_with(".intel.json")));

    // Five indicators in pages of two: three pages, every `next` followed.
    let o = pull(&[], "s3cret");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("3 page(s) pulled"), "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("5 object(s), 5 indicator(s): 5 imported"),
        "{out}"
    );
    let state = std::fs::read_to_string(intel.join("taxii-state.json")).unwrap();
    assert!(state.contains("2024-05-05T00:00:00.000000Z"), "{state}");

    // The next pull sends added_after: nothing new.
    let o = pull(&[], "s3cret");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("0 imported"), "{out}");
    // --full pulls everything again.
    let o = pull(&["--full", "--limit", "1"], "s3cret");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("5 page(s) pulled"), "{err}");

    // What was pulled is used by assess: the fixture contacts evil.example.com.
    let apk = apk_fixtures::fixture("risk_hostile_strings");
    let o = interdict(
        &[
            "assess",
            "--format",
            "json",
            "--intel",
            intel.to_str().unwrap(),
            apk.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<_> = v[0]["risk"]["factors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str().filter(|id| id.starts_with("intel.")))
        .collect();
    assert!(
        ids.contains(&"intel.indicator--00000003-e032-476c-826f-cb970a5a1ade"),
        "{ids:?}"
    );
}
