//! Governance (issue 14): trusted scope (item 4) and vendor appeals on the record (item 3).

#![allow(clippy::unwrap_used)]

use api_server::storage::{now_ms, Role};
use serde_json::{json, Value};

use crate::{apps, backends, TestApp, CANADA};

const KASPERSKY: &str = "ca-2023-10-kaspersky";
const TIKTOK: &str = "ca-2023-02-tiktok";

fn err(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

async fn events_of(app: &TestApp, action: &str) -> Vec<Value> {
    let (s, v) = app.get("/api/v1/events?limit=1000", &app.admin).await;
    assert_eq!(s, 200, "{v}");
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

async fn device_count(app: &TestApp) -> usize {
    let (s, v) = app.get("/api/v1/devices?limit=1000", &app.admin).await;
    assert_eq!(s, 200, "{v}");
    v["devices"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_gets_the_scope_its_secret_grants_and_admins_change_it_on_the_record() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        app.publish(CANADA).await;
        let (s, v) = app
            .post(
                "/api/v1/enroll-secrets",
                Some(&app.admin),
                json!({"groups": ["personal-devices"], "ownership": "personal"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let personal = v["enroll_secret"].as_str().unwrap().to_string();
        let enroll = |groups: Value, ownership: &str| {
            app.post(
                "/api/v1/enroll",
                None,
                json!({"enroll_secret": personal, "device": {"name": "mine", "platform": "android",
                       "serial": "p1", "ownership": ownership, "groups": groups}}),
            )
        };
        let before = device_count(&app).await;
        // A device enrolled with the "personal" secret cannot call itself government-issued,
        // nor corporate; nothing is stored.
        let (s, v) = enroll(json!(["government-issued"]), "personal").await;
        assert_eq!(s, 403, "{v}");
        assert!(err(&v).contains("device.groups"), "{v}");
        let (s, v) = enroll(json!([]), "corporate").await;
        assert_eq!(s, 403, "{v}");
        assert!(err(&v).contains("device.ownership"), "{v}");
        assert_eq!(device_count(&app).await, before);

        // Claiming nothing, it gets what the secret grants; its claim is kept apart.
        let (s, v) = enroll(json!([]), "unknown").await;
        assert_eq!(s, 200, "{v}");
        let id = v["device_id"].as_str().unwrap().to_string();
        let token = v["device_token"].as_str().unwrap().to_string();
        let (_, d) = app.get(&format!("/api/v1/devices/{id}"), &app.admin).await;
        assert_eq!(d["groups"], json!(["personal-devices"]), "{d}");
        assert_eq!(d["ownership"], "personal");
        assert_eq!(d["scope_source"], "enrollment-secret");
        assert_eq!(d["claimed"], json!({"groups": [], "ownership": "unknown"}));

        // Out of the ban's scope: WeChat on a personal device is no finding.
        let (s, v) = app
            .checkin(&token, json!({"inventory": apps(&["com.tencent.mm"])}))
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["compliant"], true, "{v}");

        // A device enrolled with a secret that grants nothing: its own word, marked so.
        let (legacy, _) = app.enroll("legacy").await;
        let (_, d) = app
            .get(&format!("/api/v1/devices/{legacy}"), &app.admin)
            .await;
        assert_eq!(d["scope_source"], "claimed", "{d}");

        // PATCH: unknown group, empty reason, nothing to change: 422, nothing stored.
        let patch = |body: Value, token: String| {
            let app = &app;
            let id = id.clone();
            async move {
                app.send(
                    reqwest::Method::PATCH,
                    &format!("/api/v1/devices/{id}"),
                    Some(&token),
                    Some(body),
                )
                .await
            }
        };
        let (s, v) = patch(
            json!({"groups": ["government-issued", "no-such-group"], "reason": "r"}),
            app.admin.clone(),
        )
        .await;
        assert_eq!(s, 422, "{v}");
        assert!(err(&v).contains("groups[1]"), "{v}");
        assert!(err(&v).contains("no-such-group"), "{v}");
        let (s, v) = patch(
            json!({"ownership": "corporate", "reason": " "}),
            app.admin.clone(),
        )
        .await;
        assert_eq!(s, 422, "{v}");
        assert!(err(&v).contains("reason"), "{v}");
        let (s, v) = patch(
            json!({"ownership": "leased", "reason": "r"}),
            app.admin.clone(),
        )
        .await;
        assert_eq!(s, 422, "{v}");
        assert!(err(&v).contains("ownership"), "{v}");
        let (s, v) = patch(json!({"reason": "r"}), app.admin.clone()).await;
        assert_eq!(s, 422, "{v}");
        let approver = app.token(Role::Approver).await;
        let (s, _) = patch(json!({"ownership": "corporate", "reason": "r"}), approver).await;
        assert_eq!(s, 403);
        assert!(events_of(&app, "device.scope_changed").await.is_empty());

        // An admin reassigns it: an event with before, after and reason; the next check-in
        // is evaluated with the new scope.
        let (s, v) = patch(
            json!({"groups": ["government-issued"], "ownership": "corporate",
                   "reason": "re-issued as a government phone (ticket 42)"}),
            app.admin.clone(),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["before"]["ownership"], "personal");
        assert_eq!(v["after"]["groups"], json!(["government-issued"]));
        let ev = events_of(&app, "device.scope_changed").await;
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0]["subject"], id.as_str());
        assert_eq!(
            ev[0]["body"]["reason"],
            "re-issued as a government phone (ticket 42)"
        );
        assert_eq!(ev[0]["body"]["before"]["source"], "enrollment-secret");
        let (_, d) = app.get(&format!("/api/v1/devices/{id}"), &app.admin).await;
        assert_eq!(d["scope_source"], "admin");
        let (s, v) = app
            .checkin(&token, json!({"inventory": apps(&["com.tencent.mm"])}))
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["compliant"], false, "{v}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appeal_is_recorded_decided_once_and_kept_in_the_history() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        let v1 = app.publish(CANADA).await;
        let analyst = app.token(Role::Analyst).await;
        let approver = app.token(Role::Approver).await;
        let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let appeal = json!({"appellant": "Kaspersky Lab",
            "summary": "Kaspersky asks the Government to cooperate and reverse this decision.",
            "received": "2023-11-02",
            "documents": [{"name": "letter-to-tbs.pdf", "sha256": digest}]});
        let url_of = |rule: &str| format!("/api/v1/rules/{rule}/reviews");

        // Bad input: a clear 4xx naming the field; nothing stored.
        let mut big = appeal.clone();
        big["summary"] = json!("x".repeat(10 * 1024 * 1024));
        // The server answers 413 as soon as it reads Content-Length and closes the connection:
        // the client may still be writing the body and see a broken pipe instead of the answer.
        match app
            .client
            .post(format!("{}{}", app.base, url_of(KASPERSKY)))
            .bearer_auth(&analyst)
            .json(&big)
            .send()
            .await
        {
            Ok(r) => assert_eq!(r.status().as_u16(), 413, "a 10 MB body is over the limit"),
            Err(e) => assert!(
                format!("{e:?}").contains("BodyWrite"),
                "refused while the body was sent, or not at all: {e:?}"
            ),
        }
        let mut long = appeal.clone();
        long["summary"] = json!("x".repeat(100 * 1024));
        let (s, v) = app.post(&url_of(KASPERSKY), Some(&analyst), long).await;
        assert_eq!(s, 422, "{v}");
        assert!(err(&v).contains("summary:"), "{v}");
        let mut bad = appeal.clone();
        bad["documents"][0]["sha256"] = json!("not-a-digest");
        let (s, v) = app.post(&url_of(KASPERSKY), Some(&analyst), bad).await;
        assert_eq!(s, 422, "{v}");
        assert!(err(&v).contains("documents[0].sha256"), "{v}");
        let (s, v) = app
            .post(&url_of("ca-no-such-rule"), Some(&analyst), appeal.clone())
            .await;
        assert_eq!(s, 422, "{v}");
        assert!(err(&v).contains("rule:"), "{v}");
        let (s, _) = app.get(&url_of("ca-no-such-rule"), &analyst).await;
        assert_eq!(s, 404);
        assert!(events_of(&app, "rule_review.opened").await.is_empty());

        // Recorded.
        let (s, r) = app
            .post(&url_of(KASPERSKY), Some(&analyst), appeal.clone())
            .await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["status"], "open");
        assert_eq!(r["opened_version"], v1);
        assert_eq!(r["documents"][0]["sha256"], digest);
        let rid = r["id"].as_str().unwrap().to_string();
        let opened_at = now_ms();
        let open = app.store.reviews_open_at(opened_at).await.unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0]["appellant"], "Kaspersky Lab");
        assert_eq!(open[0]["id"], rid.as_str());

        // Decided by an approver, not an analyst; upheld takes no version.
        let decide = |id: &str| format!("/api/v1/reviews/{id}/decide");
        let (s, _) = app
            .post(
                &decide(&rid),
                Some(&analyst),
                json!({"outcome": "upheld", "reasons": "r"}),
            )
            .await;
        assert_eq!(s, 403);
        let (s, v) = app
            .post(
                &decide(&rid),
                Some(&approver),
                json!({"outcome": "upheld", "reasons": "r", "policy_version": v1}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        let (s, v) = app
            .post(
                &decide(&rid),
                Some(&approver),
                json!({"outcome": "reversed", "reasons": "r"}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        assert!(err(&v).contains("policy_version: required"), "{v}");
        let reasons =
            "The risk assessment stands: the product's access to the device is unchanged.";
        let (s, d) = app
            .post(
                &decide(&rid),
                Some(&approver),
                json!({"outcome": "upheld", "reasons": reasons}),
            )
            .await;
        assert_eq!(s, 200, "{d}");
        assert_eq!(d["status"], "upheld");
        let (s, v) = app
            .post(
                &decide(&rid),
                Some(&approver),
                json!({"outcome": "reversed", "reasons": "changed my mind", "policy_version": v1}),
            )
            .await;
        assert_eq!(s, 409, "{v}");

        // The point-in-time view: open while it was, not after.
        assert_eq!(app.store.reviews_open_at(opened_at).await.unwrap().len(), 1);
        assert!(app
            .store
            .reviews_open_at(now_ms())
            .await
            .unwrap()
            .is_empty());

        // A reversal goes through guarded publishing: the version without TikTok weakens the
        // ban, so it waits for a second person; then it can carry the decision out.
        let (s, r2) = app
            .post(
                &url_of(TIKTOK),
                Some(&analyst),
                json!({"appellant": "ByteDance", "summary": "Please reverse.", "received": "2023-03-01"}),
            )
            .await;
        assert_eq!(s, 200, "{r2}");
        let r2id = r2["id"].as_str().unwrap().to_string();
        let without = {
            let src = CANADA.replacen("\nversion = 2\n", "\nversion = 3\n", 1);
            let start = src.find("[[rules]]\nid = \"ca-2023-02-tiktok\"").unwrap();
            let end = start + 1 + src[start + 1..].find("[[rules]]\n").unwrap();
            format!("{}{}", &src[..start], &src[end..])
        };
        let (s, p) = app
            .send(
                reqwest::Method::PUT,
                "/api/v1/policy?reason=appeal%20upheld%20by%20review",
                Some(&app.admin),
                Some(Value::String(without)),
            )
            .await;
        assert_eq!(s, 202, "{p}");
        let pid = p["proposal"]["id"].as_str().unwrap();
        let (s, p) = app
            .post(
                &format!("/api/v1/policy/proposals/{pid}/approve"),
                Some(&approver),
                json!({}),
            )
            .await;
        assert_eq!(s, 200, "{p}");
        let v3 = p["published_version"].as_i64().unwrap();
        // The version must remove the rule for a reversal, change it for an amendment.
        let (s, v) = app
            .post(
                &decide(&r2id),
                Some(&approver),
                json!({"outcome": "amended", "reasons": "r", "policy_version": v3}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        assert!(err(&v).contains("does not change rule"), "{v}");
        let (s, d) = app
            .post(
                &decide(&r2id),
                Some(&approver),
                json!({"outcome": "reversed", "reasons": "Withdrawn after review.", "policy_version": v3}),
            )
            .await;
        assert_eq!(s, 200, "{d}");
        assert_eq!(d["policy_version"], v3);

        // The history on one page of JSON, and every step an event naming who.
        let (s, h) = app.get(&url_of(KASPERSKY), &app.admin).await;
        assert_eq!(s, 200, "{h}");
        let list = h["reviews"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["status"], "upheld");
        assert_eq!(list[0]["reasons"], reasons);
        assert!(list[0]["decided_by"].as_str().is_some());
        let (s, h) = app.get(&url_of(TIKTOK), &app.admin).await;
        assert_eq!(s, 200, "{h}");
        assert_eq!(h["in_active_policy"], false);
        assert_eq!(h["reviews"][0]["status"], "reversed");
        let opened = events_of(&app, "rule_review.opened").await;
        let decided = events_of(&app, "rule_review.decided").await;
        assert_eq!((opened.len(), decided.len()), (2, 2));
        assert_eq!(decided[0]["body"]["outcome"], "upheld");
        assert_ne!(opened[0]["actor"], decided[0]["actor"]);
        app.stop().await;
    }
}
