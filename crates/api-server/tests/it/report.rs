//! The point-in-time compliance report over HTTP: the same `at` gives the same bytes after
//! more history, a later `at` differs, the counts follow the history, each issue is an event
//! with the SHA-256 of the bytes served, the HTML escapes hostile names, bad `at` is a 400.

use std::time::Duration;

use api_server::storage::{now_ms, rfc3339_ms, sha256_hex, Role};
use api_server::{Config, LedgerConfig};
use audit_ledger::Signer;
use serde_json::{json, Value};

use crate::{apps, backends, TestApp, CANADA};

/// A time strictly in the past once this returns: later writes get a later `at`.
async fn instant() -> i64 {
    let t = now_ms();
    while now_ms() <= t {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    t
}

/// (status, content type, sha256 header, body bytes).
async fn fetch(app: &TestApp, query: &str, token: &str) -> (u16, String, String, String) {
    let r = app
        .client
        .get(format!("{}/api/v1/reports/compliance?{query}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (ct, sha) = (header("content-type"), header("x-interdict-report-sha256"));
    (status, ct, sha, r.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_at_t_is_reproducible_and_its_issue_is_logged() {
    for (url, dir) in backends().await {
        let signer = Signer::from_seed("test.example/report", [9u8; 32]).expect("signer");
        let mut ledger = LedgerConfig::new(signer);
        // Only on demand: the report route signs the checkpoint it needs.
        ledger.every_events = u64::MAX;
        ledger.every = Duration::from_secs(86_400);
        let config = Config {
            ledger: Some(ledger),
            ..Config::default()
        };
        let app = TestApp::start_with(&url, dir, config).await;
        app.publish(CANADA).await;
        let (a, token_a) = app.enroll("<script>alert('a')</script>").await;
        let (_b, token_b) = app.enroll("b").await;
        let (c, token_c) = app.enroll("c").await;
        for t in [&token_a, &token_c] {
            let (s, v) = app
                .checkin(t, json!({"inventory": apps(&["com.tencent.mm"])}))
                .await;
            assert_eq!(s, 200, "{v}");
        }
        let (s, _) = app
            .checkin(&token_b, json!({"inventory": apps(&["org.example"])}))
            .await;
        assert_eq!(s, 200);
        let analyst = app.token(Role::Analyst).await;
        let expires = crate::soon();
        let approver = app.token(Role::Approver).await;
        let (s, e) = app
            .post(
                "/api/v1/exceptions",
                Some(&analyst),
                json!({"device_id": a, "rule": "ca-2023-10-wechat", "app_id": "com.tencent.mm",
                       "justification": "lawful intercept <b>", "expires": expires}),
            )
            .await;
        assert_eq!(s, 200, "{e}");
        let eid = e["id"].as_str().expect("id").to_string();
        let (s, v) = app
            .post(
                &format!("/api/v1/exceptions/{eid}/approve"),
                Some(&approver),
                json!({}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let t1 = instant().await;
        let at1 = rfc3339_ms(t1);
        let auditor = app.token(Role::Auditor).await;

        let (s, ct, sha1, body1) = fetch(&app, &format!("at={at1}"), &auditor).await;
        assert_eq!(s, 200, "{body1}");
        assert!(ct.starts_with("application/json"), "{ct}");
        assert_eq!(sha1, sha256_hex(body1.as_bytes()));
        let r1: Value = serde_json::from_str(&body1).expect("json");
        assert_eq!(r1["at"], at1.as_str());
        assert_eq!(
            r1["summary"],
            json!({"devices": 3, "compliant": 1, "in_grace": 0, "excepted": 1, "overdue": 1,
                   "stale": 0})
        );
        assert_eq!(r1["policy"]["version"], 1);
        assert_eq!(r1["exceptions"][0]["id"], eid.as_str());
        assert_eq!(r1["exceptions"][0]["expires"], expires.as_str());
        assert!(!r1["exceptions"][0]["approved_by"]
            .as_str()
            .unwrap_or_default()
            .is_empty());
        assert!(
            r1["ledger"]["checkpoint"]["note"].is_string(),
            "signed on demand"
        );
        assert!(r1["ledger"]["checkpoint"]["size"].as_i64() >= r1["ledger"]["size"].as_i64());

        // More history, then the same time again: the same bytes.
        let (s, _) = app
            .checkin(&token_c, json!({"inventory": apps(&["org.example"])}))
            .await;
        assert_eq!(s, 200);
        app.enroll("d").await;
        let (s, _) = app
            .post(
                &format!("/api/v1/exceptions/{eid}/revoke"),
                Some(&approver),
                json!({}),
            )
            .await;
        assert_eq!(s, 200);
        let viewer = app.token(Role::Viewer).await;
        let (s, _, sha_again, again) = fetch(&app, &format!("at={at1}"), &viewer).await;
        assert_eq!(s, 200);
        assert_eq!(again, body1, "same T, same bytes");
        assert_eq!(sha_again, sha1);

        // Each issue is an event naming the SHA-256 of the bytes served.
        let events = app.store.events(0, 1000).await.expect("events");
        let issued: Vec<_> = events
            .iter()
            .filter(|e| e.action == "report.issued")
            .collect();
        assert_eq!(issued.len(), 2);
        for e in &issued {
            assert_eq!(e.body["sha256"], sha1.as_str());
            assert_eq!(e.body["at"], at1.as_str());
            assert_eq!(e.body["format"], "json");
        }

        // A later time sees the later state.
        let t2 = instant().await;
        let (s, _, _, body2) = fetch(&app, &format!("at={}", rfc3339_ms(t2)), &auditor).await;
        assert_eq!(s, 200);
        assert_ne!(body2, body1);
        let r2: Value = serde_json::from_str(&body2).expect("json");
        assert_eq!(
            r2["summary"],
            json!({"devices": 4, "compliant": 3, "in_grace": 0, "excepted": 0, "overdue": 1,
                   "stale": 0})
        );
        let status = |r: &Value, id: &str| {
            r["devices"]
                .as_array()
                .and_then(|d| d.iter().find(|x| x["id"] == id))
                .map(|x| x["status"].clone())
        };
        assert_eq!(status(&r2, &a), Some(json!("overdue")), "exception revoked");
        assert_eq!(status(&r2, &c), Some(json!("compliant")), "app removed");

        // HTML: printable, escaped, reproducible.
        let (s, ct, sha_h, html) = fetch(&app, &format!("at={at1}&format=html"), &auditor).await;
        assert_eq!(s, 200);
        assert!(ct.starts_with("text/html"), "{ct}");
        assert_eq!(sha_h, sha256_hex(html.as_bytes()));
        assert!(
            !html.contains("<script>") && !html.contains("<b>"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;alert(&#39;a&#39;)&lt;/script&gt;"));
        assert!(html.contains("@media print"));
        let (_, _, _, html2) = fetch(&app, &format!("at={at1}&format=html"), &auditor).await;
        assert_eq!(html2, html);

        // Bad requests name the parameter.
        for (q, want) in [
            ("", "`at`"),
            ("at=yesterday", "`at`"),
            ("at=2999-01-01T00:00:00Z", "not in the past"),
            (&format!("at={at1}&format=pdf") as &str, "`format`"),
        ] {
            let (s, _, _, body) = fetch(&app, q, &auditor).await;
            assert_eq!(s, 400, "{q}: {body}");
            assert!(body.contains(want), "{q}: {body}");
        }
        app.stop().await;
    }
}
