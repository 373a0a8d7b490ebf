//! The benchmark switch `bench_skip_leaves` (process-wide, hence its own test binary): events
//! written while it is on get their leaves at the next connect, and the tree then equals the
//! one recomputed from the entries.

use audit_ledger::{leaf_hash, Frontier};
use storage::{Role, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaves_skipped_for_a_benchmark_are_added_at_the_next_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = Store::sqlite_url(dir.path());
    let store = Store::connect(&url).await.expect("connect");
    for i in 0..10 {
        store
            .create_api_token(Role::Viewer, &format!("before {i}"), "test")
            .await
            .expect("token");
    }
    let before = store.ledger_size().await.expect("size");
    assert_eq!(before, store.last_event_seq().await.expect("seq"));

    storage::bench_skip_leaves(true);
    for i in 0..25 {
        store
            .create_api_token(Role::Viewer, &format!("off {i}"), "test")
            .await
            .expect("token");
    }
    storage::bench_skip_leaves(false);
    let n = store.last_event_seq().await.expect("seq");
    assert_eq!(n, before + 25, "events are still written");
    assert_eq!(
        store.ledger_size().await.expect("size"),
        before,
        "no leaves while off"
    );
    assert!(
        store.ledger_self_check().await.expect("check").is_some(),
        "the self-check sees events without leaves"
    );
    store.close().await;

    let store = Store::connect(&url).await.expect("reconnect");
    assert_eq!(
        store.ledger_size().await.expect("size"),
        n,
        "backfilled at connect"
    );
    assert_eq!(store.ledger_self_check().await.expect("check"), None);
    let entries = store.ledger_entries(0, n).await.expect("entries");
    let mut fr = Frontier::new();
    for e in &entries {
        fr.push(leaf_hash(e.entry.as_bytes()));
    }
    assert_eq!(store.ledger_root(n as u64).await.expect("root"), fr.root());
    store.close().await;
}
