//! The point-in-time compliance report on a real SQLite file (and PostgreSQL when
//! `TEST_POSTGRES_URL` is set): rebuilt from the events up to `T` only, so later events do not
//! change its bytes; counts per status; the checkpoint covering `T`; issuance logged with the
//! SHA-256 of the bytes; hostile names escaped in the HTML.

use audit_ledger::Signer;
use serde_json::Value;
use storage::{
    now_ms, sha256_hex, CheckinWrite, EnrollSecret, FindingWrite, NewDevice, ReportFormat, Store,
};

const CANADA: &str = include_str!("../../../examples/canada-gc-mobile-v2.toml");

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

/// A time strictly in the past once this returns: later writes get a later `at`.
async fn instant() -> i64 {
    let t = now_ms();
    while now_ms() <= t {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    t
}

fn finding(rule: &str, app: &str, status: &str, deadline: Option<&str>) -> FindingWrite {
    FindingWrite {
        rule: rule.into(),
        app_id: app.into(),
        status: status.into(),
        deadline: deadline.map(str::to_string),
        remedy: Some("uninstall".into()),
        exception_id: None,
        excepted_until: None,
    }
}

fn checkin(device: &str, findings: Vec<FindingWrite>) -> CheckinWrite {
    CheckinWrite {
        device_id: device.into(),
        at_ms: now_ms(),
        inventory: None,
        compliant: findings.iter().all(|f| f.status != "violation"),
        overdue: false,
        in_grace: false,
        was_compliant: true,
        policy_version: Some(1),
        seq: 0,
        findings: Some((storage::new_secret(), findings)),
        action_results: Vec::new(),
    }
}

async fn enroll(store: &Store, secret: &EnrollSecret, name: &str) -> String {
    store
        .enroll(
            secret,
            &NewDevice {
                name: name.into(),
                platform: "android".into(),
                serial: name.into(),
                ownership: "corporate".into(),
                groups: vec!["government-issued".into()],
            },
        )
        .await
        .expect("enroll")
        .0
}

fn html_escapes_the_justification(html: &str) -> bool {
    html.contains("malware lab &lt;i&gt;") && !html.contains("<i>")
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_at_t_is_a_function_of_the_events_up_to_t() {
    for (url, _dir) in urls().await {
        let store = Store::connect(&url).await.expect("connect");
        let signer = Signer::from_seed("test.example/report", [7u8; 32]).expect("signer");
        let t0 = instant().await;
        let before = store.compliance_report_at(t0).await.expect("empty report");
        assert!(before.policy.is_none() && before.devices.is_empty());

        // TikTok's ban moved to the far future: holding it is "in grace".
        // And an exception in the policy file for Kaspersky's free app, by group.
        let policy = format!(
            "{}\n[[exceptions]]\nid = \"file-exc\"\nrule = \"ca-2023-10-kaspersky\"\n\
             groups = [\"government-issued\"]\napps = [\"com.kms.free\"]\n\
             justification = \"malware lab <i>\"\nrequester = \"carol\"\napprover = \"dave\"\n\
             expires = 2999-12-31\n",
            CANADA.replace("effective = 2023-02-28", "effective = 2999-01-01")
        );
        store
            .publish_policy("gc", &policy, "admin")
            .await
            .expect("publish");
        let sec = store
            .create_enroll_secret(&[], "admin")
            .await
            .expect("secret");
        let secret = store
            .enroll_secret(&sec)
            .await
            .expect("lookup")
            .expect("secret");
        let a = enroll(&store, &secret, "<script>alert('a')</script>").await;
        let b = enroll(&store, &secret, "b").await;
        let c = enroll(&store, &secret, "c").await;
        let d = enroll(&store, &secret, "d").await;
        let wechat = "ca-2023-10-wechat";
        store
            .apply_checkins(&[
                checkin(
                    &a,
                    vec![finding(
                        wechat,
                        "com.tencent.mm",
                        "violation",
                        Some("2023-10-30"),
                    )],
                ),
                checkin(
                    &b,
                    vec![finding(
                        wechat,
                        "com.tencent.mm",
                        "violation",
                        Some("2023-10-30"),
                    )],
                ),
                checkin(
                    &c,
                    vec![
                        finding(wechat, "com.tencent.mm", "violation", Some("2023-10-30")),
                        finding(
                            "ca-2023-10-kaspersky",
                            "com.kms.free",
                            "excepted",
                            Some("2023-10-30"),
                        ),
                    ],
                ),
                checkin(
                    &d,
                    vec![
                        finding(
                            "ca-2023-02-tiktok",
                            "com.zhiliaoapp.musically",
                            "in_grace",
                            Some("2999-01-01"),
                        ),
                        // A rule the active policy does not have: as last evaluated.
                        finding("ca-retired", "org.retired", "in_grace", Some("2999-01-01")),
                    ],
                ),
            ])
            .await
            .expect("checkins");
        let exc = store
            .request_exception(
                &storage::NewException {
                    device_id: &b,
                    rule: wechat,
                    app_id: Some("com.tencent.mm"),
                    basis: "other",
                    justification: "investigation",
                    expires: "2999-12-31",
                },
                "alice",
            )
            .await
            .expect("request");
        store
            .decide_exception(&exc.id, "approved", "bob", None, &today())
            .await
            .expect("approve");
        let t1 = instant().await;
        store
            .ledger_sign_checkpoint(&signer)
            .await
            .expect("checkpoint");

        let r1 = store.compliance_report_at(t1).await.expect("report");
        let s = &r1.summary;
        assert_eq!(
            (
                s.devices,
                s.compliant,
                s.in_grace,
                s.excepted,
                s.overdue,
                s.stale
            ),
            (4, 0, 1, 1, 2, 0),
            "{r1:?}"
        );
        assert_eq!(r1.policy.as_ref().map(|p| p.version), Some(1));
        let status = |r: &storage::ComplianceReport, id: &str| {
            r.devices
                .iter()
                .find(|x| x.id == id)
                .map(|x| x.status.clone())
                .unwrap_or_else(|| "absent".into())
        };
        assert_eq!(status(&r1, &a), "overdue");
        assert_eq!(status(&r1, &b), "excepted");
        assert_eq!(status(&r1, &c), "overdue");
        assert_eq!(status(&r1, &d), "in_grace");
        let dev_d = r1.devices.iter().find(|x| x.id == d).expect("d");
        let retired = dev_d.findings.iter().find(|f| f.rule == "ca-retired");
        assert_eq!(retired.map(|f| f.status.as_str()), Some("in_grace"));
        assert_eq!(retired.and_then(|f| f.deadline.clone()), None);
        assert_eq!(r1.exceptions.len(), 2);
        let server = r1
            .exceptions
            .iter()
            .find(|x| x.id == exc.id)
            .expect("server");
        assert_eq!(server.source, "server");
        assert_eq!(server.approved_by, "bob");
        assert_eq!(server.requested_by, "alice");
        assert_eq!(server.expires, "2999-12-31");
        assert!(server.approved_at.is_some());
        let file = r1
            .exceptions
            .iter()
            .find(|x| x.id == "file-exc")
            .expect("file");
        assert_eq!(file.source, "policy");
        assert_eq!(file.approved_by, "dave");
        assert_eq!(file.groups, vec!["government-issued".to_string()]);
        let dev_c = r1.devices.iter().find(|x| x.id == c).expect("c");
        let kas = dev_c.findings.iter().find(|f| f.app_id == "com.kms.free");
        assert_eq!(kas.map(|f| f.status.as_str()), Some("excepted"));
        assert_eq!(
            kas.and_then(|f| f.exception_id.as_deref()),
            Some("file-exc")
        );
        assert!(html_escapes_the_justification(&r1.to_html()));
        let rule = r1.rules.iter().find(|r| r.id == wechat).expect("rule");
        assert_eq!((rule.exposed, rule.overdue, rule.excepted), (3, 2, 1));
        assert_eq!(r1.rules.len(), 3, "every rule of the policy");
        let cp = r1.ledger.checkpoint.as_ref().expect("checkpoint covers t1");
        assert!(cp.size >= r1.ledger.size && r1.ledger.size > 0);
        assert!(r1.rule_reviews.is_empty());
        let json1 = r1.to_json();
        let html1 = r1.to_html();
        assert!(!html1.contains("<script>"), "{html1}");
        assert!(html1.contains("&lt;script&gt;alert(&#39;a&#39;)&lt;/script&gt;"));
        assert!(json(&json1)["devices"].as_array().is_some());

        // Later history: A removes the app, C is revoked, E enrolls, the exception is
        // revoked, a new policy is published; a report is issued (its own event).
        store
            .apply_checkins(&[checkin(&a, vec![])])
            .await
            .expect("checkin");
        store.revoke_device(&c, "admin").await.expect("revoke");
        let e = enroll(&store, &secret, "e").await;
        store
            .decide_exception(&exc.id, "revoked", "bob", None, &today())
            .await
            .expect("revoke exception");
        store
            .publish_policy("gc", CANADA, "admin")
            .await
            .expect("publish v2");
        let issued = store
            .issue_compliance_report(t1, ReportFormat::Json, "auditor")
            .await
            .expect("issue");
        let t2 = instant().await;

        // The same time, the same bytes.
        assert_eq!(issued.body, json1);
        let again = store.compliance_report_at(t1).await.expect("again");
        assert_eq!(again.to_json(), json1);
        assert_eq!(again.to_html(), html1);

        // The issuance is an event with the SHA-256 of the bytes.
        let events = store.events(0, 1000).await.expect("events");
        let ev = events
            .iter()
            .find(|e| e.action == "report.issued")
            .expect("report.issued");
        assert_eq!(ev.seq, issued.event_seq);
        assert_eq!(ev.body["sha256"], sha256_hex(json1.as_bytes()));
        assert_eq!(ev.body["sha256"], issued.sha256);
        assert_eq!(ev.body["at"], r1.at);
        assert_eq!(ev.body["format"], "json");
        assert_eq!(ev.actor, "auditor");

        // A later time sees the later state.
        let r2 = store.compliance_report_at(t2).await.expect("report t2");
        assert_ne!(r2.to_json(), json1);
        assert_eq!(r2.policy.as_ref().map(|p| p.version), Some(2));
        assert_eq!(status(&r2, &a), "compliant");
        assert_eq!(status(&r2, &b), "overdue", "exception revoked");
        assert_eq!(status(&r2, &c), "absent");
        assert_eq!(
            status(&r2, &d),
            "overdue",
            "v2's TikTok deadline has passed"
        );
        assert_eq!(status(&r2, &e), "compliant");
        assert!(
            r2.exceptions.is_empty(),
            "revoked, and v2 has no file exception"
        );
        let rule = r2.rules.iter().find(|r| r.id == wechat).expect("rule");
        assert_eq!(
            (rule.exposed, rule.overdue),
            (1, 1),
            "A resolved, C revoked"
        );
        assert!(r2.ledger.size > r1.ledger.size);

        // Before anything: still empty. The one thing a report may gain later is the
        // checkpoint that covers it, when none had been signed yet.
        assert!(before.ledger.checkpoint.is_none());
        let mut later = store.compliance_report_at(t0).await.expect("t0");
        assert!(later.ledger.checkpoint.take().is_some());
        later.notes = before.notes.clone();
        assert_eq!(later.to_json(), before.to_json());
        // The future is refused.
        assert!(store.compliance_report_at(now_ms() + 60_000).await.is_err());
        store.close().await;
    }
}

/// Today (UTC), as the server passes it to `decide_exception`.
fn today() -> String {
    storage::day_of(storage::now_ms())
}
