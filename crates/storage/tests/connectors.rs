//! Connector storage (migration 0011) on a real SQLite file (and PostgreSQL when
//! `TEST_POSTGRES_URL` is set): MDM devices with their scope from the MDM, missing devices,
//! sync records and the notification queue, each change with its event and ledger leaf.

use serde_json::json;
use storage::{MdmDevice, NewDevice, NewNotification, Store};

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
        out.push((format!("{prefix}/{name}"), None));
    }
    out
}

fn mdm(i: usize, ownership: &str) -> MdmDevice {
    MdmDevice {
        external_id: format!("enterprises/E/devices/d{i}"),
        device: NewDevice {
            name: format!("Pixel (d{i})"),
            platform: "android".into(),
            serial: format!("S{i}"),
            ownership: ownership.into(),
            groups: vec!["government-issued".into()],
        },
        mdm: json!({"owner_email": format!("o{i}@example.org")}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mdm_devices_scope_missing_syncs_and_notifications() {
    for (url, _dir) in urls().await {
        let store = Store::connect(&url).await.expect("connect");
        let first = store
            .connector_devices_upsert("android", &[mdm(1, "corporate"), mdm(2, "corporate")], 1000)
            .await
            .expect("upsert");
        assert!(first
            .iter()
            .all(|d| d.as_ref().is_some_and(|(_, new)| *new)));
        let id1 = first[0].as_ref().expect("d1").0.id.clone();
        let seq = store.last_event_seq().await.expect("seq");
        // The MDM now says d1 is personal: the row follows, with an event; d2 is not reported.
        let again = store
            .connector_devices_upsert("android", &[mdm(1, "personal")], 2000)
            .await
            .expect("upsert");
        let (auth, new) = again[0].clone().expect("d1");
        assert_eq!(
            (auth.id.as_str(), new, auth.ownership.as_str()),
            (id1.as_str(), false, "personal")
        );
        let events = store.events(seq, 10).await.expect("events");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "device.scope_changed");
        assert_eq!(
            store
                .connector_mark_missing("android", 2000)
                .await
                .expect("missing"),
            1
        );

        store
            .connector_sync_started("android", "amapi", 3000)
            .await
            .expect("start");
        let s = store
            .connector_sync_finished(
                "android",
                "amapi",
                "partial",
                Some("1 item refused"),
                true,
                &json!({"devices": 1}),
                3001,
            )
            .await
            .expect("finish");
        assert!(s > 0);
        let c = store.connectors().await.expect("list");
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].state.as_str(), c[0].devices, c[0].missing),
            ("partial", 2, 1)
        );
        assert_eq!(c[0].last_error.as_deref(), Some("1 item refused"));
        assert_eq!(c[0].last_complete_at, Some(3001));

        let n = NewNotification {
            dedup_key: "k1".into(),
            channel: "email".into(),
            recipient: "o1@example.org".into(),
            kind: "removal_required".into(),
            payload: json!({"x": 1}),
        };
        assert_eq!(
            store
                .notifications_enqueue(&[n.clone(), n.clone()], 4000)
                .await
                .expect("q"),
            1
        );
        assert_eq!(store.notifications_enqueue(&[n], 4001).await.expect("q"), 0);
        let due = store.notifications_due(4000, 10).await.expect("due");
        assert_eq!(due.len(), 1);
        store
            .notification_attempted(&due[0].id, Some("temporary"), Some(9000), 4002)
            .await
            .expect("retry");
        assert!(store
            .notifications_due(5000, 10)
            .await
            .expect("due")
            .is_empty());
        store
            .notification_attempted(&due[0].id, Some("refused"), None, 9001)
            .await
            .expect("fail");
        let failed = store.notifications(Some("failed"), 10).await.expect("list");
        assert_eq!((failed.len(), failed[0].attempts), (1, 2));
        let last = store
            .events(store.last_event_seq().await.expect("seq") - 1, 1)
            .await
            .expect("ev");
        assert_eq!(last[0].action, "notification.failed");
        assert_eq!(store.ledger_self_check().await.expect("check"), None);
    }
}
