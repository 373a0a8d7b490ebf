//! The audit ledger over HTTP: an auditor reads signed checkpoints, entries and proofs, and
//! checks them with nothing but the verifier key; the checkpointer signs on its own and
//! publishes to the checkpoint directory.

use std::time::Duration;

use api_server::storage::Role;
use api_server::{Config, LedgerConfig};
use audit_ledger::{leaf_hash, verify_consistency, verify_inclusion, Checkpoint, Hash, Signer};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::Value;

use crate::{backends, TestApp, CANADA};

fn hashes(v: &Value) -> Vec<Hash> {
    v["hashes"]
        .as_array()
        .expect("hashes")
        .iter()
        .map(|h| {
            B64.decode(h.as_str().expect("str"))
                .expect("b64")
                .try_into()
                .expect("32")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_checks_entries_and_proofs_against_signed_checkpoints() {
    for (url, dir) in backends().await {
        let cpdir = tempfile::tempdir().expect("tempdir");
        let signer = Signer::from_seed("test.example/audit", [5u8; 32]).expect("signer");
        let verifier = signer.verifier();
        let mut ledger = LedgerConfig::new(signer);
        ledger.every_events = 5;
        ledger.every = Duration::from_millis(200);
        ledger.checkpoint_dir = Some(cpdir.path().to_path_buf());
        let config = Config {
            ledger: Some(ledger),
            ..Config::default()
        };
        let app = TestApp::start_with(&url, dir, config).await;
        app.publish(CANADA).await;
        for i in 0..6 {
            app.enroll(&format!("dev{i}")).await;
        }
        let auditor = app.token(Role::Auditor).await;
        // An auditor cannot read the fleet.
        assert_eq!(app.get("/api/v1/devices", &auditor).await.0, 403);

        // On demand (admin), then read back by the auditor.
        let (s, note) = app
            .post("/api/v1/audit/checkpoint", Some(&app.admin), Value::Null)
            .await;
        assert_eq!(s, 200, "{note}");
        let (s, latest) = app.get("/api/v1/audit/checkpoint", &auditor).await;
        assert_eq!(s, 200);
        let latest = latest.as_str().expect("text").to_string();
        let (cp, _) =
            Checkpoint::open(latest.as_bytes(), std::slice::from_ref(&verifier)).expect("signed");
        let n = cp.size;
        assert!(n >= 8, "policy + tokens + 6 enrollments: {n}");

        let (s, e) = app
            .get(&format!("/api/v1/audit/entries?start=0&end={n}"), &auditor)
            .await;
        assert_eq!(s, 200);
        let entries: Vec<String> = e["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|v| v.as_str().expect("str").to_string())
            .collect();
        assert_eq!(entries.len() as u64, n);
        for (i, entry) in entries.iter().enumerate() {
            let (s, p) = app
                .get(
                    &format!("/api/v1/audit/proof/inclusion?index={i}&size={n}"),
                    &auditor,
                )
                .await;
            assert_eq!(s, 200, "{p}");
            verify_inclusion(
                i as u64,
                n,
                &leaf_hash(entry.as_bytes()),
                &hashes(&p),
                &cp.root,
            )
            .expect("inclusion");
        }
        // Consistency with every earlier checkpoint the checkpointer signed.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let (_, list) = app.get("/api/v1/audit/checkpoints?from=0", &auditor).await;
        let list = list["checkpoints"].as_array().expect("list").clone();
        assert!(!list.is_empty());
        for old in &list {
            let (old_cp, _) = Checkpoint::open(
                old["note"].as_str().expect("note").as_bytes(),
                std::slice::from_ref(&verifier),
            )
            .expect("signed");
            if old_cp.size == 0 || old_cp.size > n {
                continue;
            }
            let (s, p) = app
                .get(
                    &format!(
                        "/api/v1/audit/proof/consistency?old={}&new={n}",
                        old_cp.size
                    ),
                    &auditor,
                )
                .await;
            assert_eq!(s, 200);
            verify_consistency(old_cp.size, n, &old_cp.root, &cp.root, &hashes(&p))
                .expect("consistent");
        }
        // The checkpoint directory holds the same notes.
        let files: Vec<_> = std::fs::read_dir(cpdir.path())
            .expect("dir")
            .flatten()
            .collect();
        assert!(!files.is_empty());
        for f in files {
            let text = std::fs::read(f.path()).expect("read");
            Checkpoint::open(&text, std::slice::from_ref(&verifier))
                .expect("published note verifies");
        }
        // Bad requests are 422 or 409, never 500.
        assert_eq!(
            app.get("/api/v1/audit/proof/inclusion?index=5&size=5", &auditor)
                .await
                .0,
            422
        );
        assert_eq!(
            app.get(
                &format!(
                    "/api/v1/audit/proof/inclusion?index=0&size={}",
                    n + 1_000_000
                ),
                &auditor
            )
            .await
            .0,
            409
        );
        assert_eq!(
            app.get("/api/v1/audit/proof/consistency?old=0&new=1", &auditor)
                .await
                .0,
            422
        );
        assert_eq!(
            app.get("/api/v1/audit/entries?start=3&end=1", &auditor)
                .await
                .0,
            422
        );
    }
}
