//! The ledger on a real SQLite file (and PostgreSQL when `TEST_POSTGRES_URL` is set): every
//! event gets its leaf in its transaction, proofs from the database verify, checkpoints are
//! signed notes, and a database from before the ledger is backfilled.

use audit_ledger::{leaf_hash, verify_consistency, verify_inclusion, Checkpoint, Frontier, Signer};
use storage::{Role, Store};

async fn urls() -> Vec<(String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = vec![(Store::sqlite_url(dir.path()), Some(dir))];
    if let Ok(base) = std::env::var("TEST_POSTGRES_URL") {
        use sqlx::{Connection, Executor};
        let name = format!("t_{}", &storage::new_secret()[..16]);
        let mut conn = sqlx::PgConnection::connect(&base)
            .await
            .expect("connect postgres");
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
        let (prefix, _) = base.rsplit_once('/').expect("URL with a database");
        let query = base
            .split_once('?')
            .map(|(_, q)| format!("?{q}"))
            .unwrap_or_default();
        out.push((format!("{prefix}/{name}{query}"), None));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_has_its_leaf_and_proofs_verify() {
    for (url, _dir) in urls().await {
        let store = Store::connect(&url).await.expect("connect");
        for i in 0..150 {
            store
                .create_api_token(Role::Viewer, &format!("t{i}\r\n\u{1b}[31m\u{202e}"), "test")
                .await
                .expect("token");
        }
        let n = store.last_event_seq().await.expect("seq");
        assert!(n >= 150);
        assert_eq!(store.ledger_size().await.expect("size"), n);
        assert_eq!(store.ledger_self_check().await.expect("check"), None);

        // The root from the stored subtrees equals the one recomputed from the entries.
        let entries = store.ledger_entries(0, n).await.expect("entries");
        assert_eq!(entries.len() as i64, n);
        let mut fr = Frontier::new();
        for e in &entries {
            fr.push(leaf_hash(e.entry.as_bytes()));
        }
        let root = store.ledger_root(n as u64).await.expect("root");
        assert_eq!(root, fr.root());

        for (index, size) in [
            (0u64, n as u64),
            (n as u64 - 1, n as u64),
            (37, 100),
            (64, 65),
        ] {
            let p = store
                .ledger_inclusion_proof(index, size)
                .await
                .expect("proof");
            let r = store.ledger_root(size).await.expect("root");
            let leaf = leaf_hash(entries[index as usize].entry.as_bytes());
            verify_inclusion(index, size, &leaf, &p, &r).expect("inclusion verifies");
        }
        for (old, new) in [(1u64, n as u64), (37, 100), (64, 128), (n as u64, n as u64)] {
            let p = store
                .ledger_consistency_proof(old, new)
                .await
                .expect("proof");
            let (a, b) = (
                store.ledger_root(old).await.expect("root"),
                store.ledger_root(new).await.expect("root"),
            );
            verify_consistency(old, new, &a, &b, &p).expect("consistency verifies");
        }
        assert!(store.ledger_inclusion_proof(0, n as u64 + 1).await.is_err());

        let signer = Signer::from_seed("test.example/audit", [3u8; 32]).expect("signer");
        let cp = store
            .ledger_sign_checkpoint(&signer)
            .await
            .expect("checkpoint");
        assert_eq!(cp.size, n);
        let (body, _) = Checkpoint::open(cp.note.as_bytes(), &[signer.verifier()]).expect("opens");
        assert_eq!(body.root, root);
        // Same size, same key: the same checkpoint.
        assert_eq!(
            store.ledger_sign_checkpoint(&signer).await.expect("again"),
            cp
        );
        assert_eq!(
            store.ledger_latest_checkpoint().await.expect("latest"),
            Some(cp.clone())
        );
        assert_eq!(
            store.ledger_checkpoints(0, 10).await.expect("list"),
            vec![cp]
        );
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_without_leaves_is_backfilled_and_an_edit_is_named() {
    use sqlx::Executor;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = Store::sqlite_url(dir.path());
    let store = Store::connect(&url).await.expect("connect");
    for i in 0..40 {
        store
            .create_api_token(Role::Viewer, &format!("t{i}"), "test")
            .await
            .expect("token");
    }
    let root = store.ledger_root(40).await.expect("root");
    store.close().await;
    {
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("raw");
        conn.execute("DELETE FROM ledger_nodes")
            .await
            .expect("delete");
    }
    let store = Store::connect(&url).await.expect("reconnect");
    assert_eq!(store.ledger_size().await.expect("size"), 40);
    assert_eq!(store.ledger_root(40).await.expect("root"), root);
    store.close().await;
    {
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("raw");
        conn.execute("UPDATE events SET actor = 'mallory' WHERE seq = 17")
            .await
            .expect("edit");
    }
    let store = Store::connect(&url).await.expect("reconnect");
    let found = store.ledger_self_check().await.expect("check");
    assert_eq!(
        found.as_deref(),
        Some("entry 16 (seq 17) does not match its stored leaf hash")
    );
}
