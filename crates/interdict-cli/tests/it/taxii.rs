//! `interdict intel pull` against a TAXII 2.1 server on loopback that pages with `next`,
//! checks basic auth and records `added_after`, and against hostile ones (a `next` loop,
//! garbage): those fail whole and import nothing.

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
