//! Governance (issue 14): exceptions validated like the policy file's (item 5) and guarded
//! policy publishing (item 1).

#![allow(clippy::unwrap_used)]

use api_server::storage::{Audit, NewUser, Role};
use serde_json::{json, Value};

use crate::{apps, backends, day_in, TestApp, CANADA};

const WECHAT: &str = "ca-2023-10-wechat";

fn err(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

/// Events with this action, oldest first.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exception_requests_are_validated_like_the_policy_file() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        let analyst = app.token(Role::Analyst).await;
        let (device, _) = app.enroll("phone").await;
        let req = |rule: &str, basis: Option<&str>, justification: &str, expires: &str| {
            let mut b = json!({"device_id": device, "rule": rule, "justification": justification,
                               "expires": expires});
            if let Some(basis) = basis {
                b["basis"] = json!(basis);
            }
            b
        };
        let post = |b: Value| app.post("/api/v1/exceptions", Some(&analyst), b);

        // No policy yet: no rule exists.
        let (s, v) = post(req(WECHAT, None, "j", &day_in(30))).await;
        assert_eq!(s, 422, "{v}");
        assert!(err(&v).starts_with("invalid request: rule:"), "{v}");
        app.publish(CANADA).await;

        // An unknown rule: the message names the field and the rules that exist.
        let (s, v) = post(req("ca-wechat", None, "j", &day_in(30))).await;
        assert_eq!(s, 422, "{v}");
        assert!(err(&v).contains("rule: \"ca-wechat\""), "{v}");
        assert!(err(&v).contains(WECHAT), "{v}");

        // The end date: in the future, at most a year away.
        for (expires, why) in [
            (day_in(0), "not in the future"),
            (day_in(-3), "not in the future"),
            (day_in(400), "more than 366 days"),
            ("2024-02-30".to_string(), "expires:"),
        ] {
            let (s, v) = post(req(WECHAT, None, "j", &expires)).await;
            assert_eq!(s, 422, "{expires}: {v}");
            assert!(err(&v).contains("expires:"), "{v}");
            assert!(err(&v).contains(why), "{v}");
        }

        // The basis: one of the four categories; `other` (or any) needs a justification.
        let (s, v) = post(req(WECHAT, Some("curiosity"), "j", &day_in(30))).await;
        assert_eq!(s, 422, "{v}");
        assert!(err(&v).contains("basis:"), "{v}");
        assert!(err(&v).contains("security_research"), "{v}");
        let (s, v) = post(req(WECHAT, Some("other"), "  ", &day_in(30))).await;
        assert_eq!(s, 422, "{v}");
        assert!(err(&v).contains("justification:"), "{v}");

        // Nothing was stored by any refusal.
        let (_, list) = app.get("/api/v1/exceptions", &app.admin).await;
        assert_eq!(list, json!([]));
        assert!(events_of(&app, "exception.requested").await.is_empty());

        // Valid requests: with a basis, and without one (an older client: recorded as other).
        let (s, v) = post(req(
            WECHAT,
            Some("law_enforcement"),
            "intercept",
            &day_in(366),
        ))
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["basis"], "law_enforcement");
        let (s, v) = post(req(WECHAT, None, "liaison with vendor", &day_in(1))).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["basis"], "other");
        let (_, list) = app.get("/api/v1/exceptions", &app.admin).await;
        assert_eq!(list.as_array().unwrap().len(), 2, "{list}");

        // Approval checks the rule again: here the rule left the active policy meanwhile.
        let id = v["id"].as_str().unwrap().to_string();
        let without = {
            let src = CANADA.replacen("\nversion = 2\n", "\nversion = 3\n", 1);
            let start = src.find("[[rules]]\nid = \"ca-2023-10-wechat\"").unwrap();
            let end = start + 1 + src[start + 1..].find("[[rules]]\n").unwrap();
            format!("{}{}", &src[..start], &src[end..])
        };
        let (s, p) = app
            .send(
                reqwest::Method::PUT,
                "/api/v1/policy?reason=test",
                Some(&app.admin),
                Some(Value::String(without)),
            )
            .await;
        assert_eq!(s, 202, "{p}");
        let pid = p["proposal"]["id"].as_str().unwrap();
        let second = app.token(Role::Approver).await;
        let (s, p) = app
            .post(
                &format!("/api/v1/policy/proposals/{pid}/approve"),
                Some(&second),
                json!({}),
            )
            .await;
        assert_eq!(s, 200, "{p}");
        let (s, v) = app
            .post(
                &format!("/api/v1/exceptions/{id}/approve"),
                Some(&second),
                json!({}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        assert!(err(&v).contains("rule:"), "{v}");
        let (_, e) = app.get("/api/v1/exceptions", &app.admin).await;
        assert!(
            e.as_array()
                .unwrap()
                .iter()
                .all(|e| e["status"] == "requested"),
            "{e}"
        );

        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_comment_is_recorded_and_revocation_applies_at_once() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        app.publish(CANADA).await;
        let analyst = app.token(Role::Analyst).await;
        let approver = app.token(Role::Approver).await;
        let (device, token) = app.enroll("phone").await;
        let inv = json!({"inventory": apps(&["com.tencent.mm"])});
        let (_, v) = app.checkin(&token, inv.clone()).await;
        assert_eq!(v["compliant"], false, "{v}");

        let (s, e) = app
            .post(
                "/api/v1/exceptions",
                Some(&analyst),
                json!({"device_id": device, "rule": WECHAT, "app_id": "com.tencent.mm",
                       "basis": "security_research", "justification": "traffic analysis",
                       "expires": day_in(60)}),
            )
            .await;
        assert_eq!(s, 200, "{e}");
        let eid = e["id"].as_str().unwrap().to_string();
        // An unknown field in the decision body is refused.
        let (s, v) = app
            .post(
                &format!("/api/v1/exceptions/{eid}/approve"),
                Some(&approver),
                json!({"note": "x"}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        let (s, v) = app
            .post(
                &format!("/api/v1/exceptions/{eid}/approve"),
                Some(&approver),
                json!({"comment": "lab device, isolated network"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let approved = events_of(&app, "exception.approved").await;
        assert_eq!(approved.len(), 1);
        assert_eq!(
            approved[0]["body"]["comment"],
            "lab device, isolated network"
        );

        // The device checks in: its finding is excepted in the read models.
        let (_, v) = app.checkin(&token, inv.clone()).await;
        assert_eq!(v["compliant"], true, "{v}");
        let status_now = || async {
            let (_, v) = app
                .get(&format!("/api/v1/rules/{WECHAT}/exposure"), &app.admin)
                .await;
            v["devices"][0]["status"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(status_now().await, "excepted");
        let (_, c) = app.get("/api/v1/compliance", &app.admin).await;
        assert_eq!(c["non_compliant"], 0, "{c}");

        // Revoked: every view shows the finding not excepted at once, with no check-in.
        let (s, v) = app
            .post(
                &format!("/api/v1/exceptions/{eid}/revoke"),
                Some(&approver),
                json!({"comment": "research finished"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(status_now().await, "violation");
        let (_, c) = app.get("/api/v1/compliance", &app.admin).await;
        assert_eq!(c["non_compliant"], 1, "{c}");
        let (_, rules) = app.get("/api/v1/compliance/rules", &app.admin).await;
        let row = rules["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == WECHAT)
            .cloned()
            .unwrap();
        assert_eq!(
            (row["excepted"].as_i64(), row["violation"].as_i64()),
            (Some(0), Some(1)),
            "{row}"
        );
        let (_, d) = app.get("/api/v1/devices?compliant=false", &app.admin).await;
        assert_eq!(d[0]["id"], device.as_str(), "{d}");
        let revoked = events_of(&app, "exception.revoked").await;
        assert_eq!(revoked[0]["body"]["comment"], "research finished");
        assert_eq!(revoked[0]["body"]["findings_ended"], 1);
        // And the next check-in agrees.
        let (_, v) = app.checkin(&token, inv).await;
        assert_eq!(v["compliant"], false, "{v}");
        assert_eq!(status_now().await, "violation");
        app.stop().await;
    }
}

/// A person with the approver role and two tokens of their own; returns (id, token, token).
async fn approver(app: &TestApp, email: &str) -> (String, String, String) {
    let audit = Audit::local("test");
    let user = app
        .store
        .create_user(
            &NewUser {
                service: false,
                email: Some(email.to_string()),
                display_name: email.to_string(),
                role: Role::Approver,
                password_hash: None,
            },
            &audit,
        )
        .await
        .unwrap();
    let (_, t1) = app
        .store
        .create_user_token(&user.id, Role::Approver, "cli", &audit)
        .await
        .unwrap();
    let (_, t2) = app
        .store
        .create_user_token(&user.id, Role::Approver, "laptop", &audit)
        .await
        .unwrap();
    (user.id, t1, t2)
}

async fn put_policy(app: &TestApp, token: &str, toml: &str, reason: Option<&str>) -> (u16, Value) {
    let path = match reason {
        Some(r) => format!("/api/v1/policy?reason={}", r.replace(' ', "%20")),
        None => "/api/v1/policy".to_string(),
    };
    app.send(
        reqwest::Method::PUT,
        &path,
        Some(token),
        Some(Value::String(toml.to_string())),
    )
    .await
}

async fn versions(app: &TestApp) -> Vec<i64> {
    let (_, list) = app.get("/api/v1/policy/versions", &app.admin).await;
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect()
}

/// CANADA with `[policy] version = v`.
fn canada_v(v: u32) -> String {
    assert!(CANADA.contains("\nversion = 2\n"));
    CANADA.replacen("\nversion = 2\n", &format!("\nversion = {v}\n"), 1)
}

/// CANADA without its WeChat rule.
fn without_wechat(v: u32) -> String {
    let src = canada_v(v);
    let start = src.find("[[rules]]\nid = \"ca-2023-10-wechat\"").unwrap();
    let end = start + 1 + src[start + 1..].find("[[rules]]\n").unwrap();
    format!("{}{}", &src[..start], &src[end..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_is_idempotent_and_older_versions_are_refused() {
    let v1 = include_str!("../../../../examples/canada-gc-mobile-v1.toml");
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        assert_eq!(app.publish(CANADA).await, 1);

        // The same file again: the existing version, nothing new.
        let (s, v) = put_policy(&app, &app.admin, CANADA, None).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            (v["version"].as_i64(), v["unchanged"].as_bool()),
            (Some(1), Some(true))
        );
        assert_eq!(versions(&app).await, vec![1]);
        assert_eq!(events_of(&app, "policy.published").await.len(), 1);

        // Last year's file (version 1 < 2), and this file changed without a new version: 409
        // naming both versions, nothing stored.
        let (s, v) = put_policy(&app, &app.admin, v1, Some("rollback")).await;
        assert_eq!(s, 409, "{v}");
        assert!(
            err(&v).contains("version 1 is not greater than the active policy's version 2"),
            "{v}"
        );
        let same_version = CANADA.replace("title = \"WeChat\"", "title = \"WeChat (Weixin)\"");
        let (s, v) = put_policy(&app, &app.admin, &same_version, None).await;
        assert_eq!(s, 409, "{v}");
        assert!(err(&v).contains("version 2 is not greater"), "{v}");
        assert_eq!(versions(&app).await, vec![1]);
        let (_, proposals) = app.get("/api/v1/policy/proposals", &app.admin).await;
        assert_eq!(proposals, json!([]));

        // A tightening change (one more WeChat id) publishes at once, with its diff.
        let tighter = canada_v(3).replace(
            "app_ids = [\"com.tencent.mm\", \"com.tencent.xin\"]\nplatforms",
            "app_ids = [\"com.tencent.mm\", \"com.tencent.xin\", \"com.tencent.mm.lite\"]\nplatforms",
        );
        assert_ne!(tighter, canada_v(3));
        let (s, v) = put_policy(&app, &app.admin, &tighter, Some("WeChat lite")).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            (v["version"].as_i64(), v["status"].as_str()),
            (Some(2), Some("published"))
        );
        assert!(
            v["text"]
                .as_str()
                .unwrap()
                .contains("~ rule ca-2023-10-wechat"),
            "{v}"
        );
        assert!(v["diff"]["weakenings"].is_null(), "{v}");
        let published = events_of(&app, "policy.published").await;
        assert_eq!(published[1]["body"]["reason"], "WeChat lite");
        assert_eq!(versions(&app).await, vec![2, 1]);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_wechat_rule_waits_for_a_second_person() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        assert_eq!(app.publish(CANADA).await, 1);
        let (alice, alice_cli, alice_laptop) = approver(&app, "alice@example.org").await;
        let (bob, bob_cli, _) = approver(&app, "bob@example.org").await;
        let (_, device) = app.enroll("phone").await;
        let inv = json!({"inventory": apps(&["com.tencent.mm"])});
        let (_, v) = app.checkin(&device, inv.clone()).await;
        assert_eq!(v["compliant"], false, "{v}");

        // Weakening without a reason: 422 naming reason, nothing stored.
        let weaker = without_wechat(3);
        let (s, v) = put_policy(&app, &alice_cli, &weaker, None).await;
        assert_eq!(s, 422, "{v}");
        assert!(err(&v).contains("reason:"), "{v}");
        assert!(err(&v).contains("ca-2023-10-wechat"), "{v}");
        let (_, proposals) = app.get("/api/v1/policy/proposals", &app.admin).await;
        assert_eq!(proposals, json!([]));

        // With a reason: a pending proposal (202), the ban unchanged meanwhile.
        let (s, v) = put_policy(&app, &alice_cli, &weaker, Some("directive withdrawn")).await;
        assert_eq!(s, 202, "{v}");
        assert_eq!(v["status"], "pending");
        assert_eq!(v["weakenings"][0]["kind"], "prohibition-removed", "{v}");
        assert!(
            v["text"]
                .as_str()
                .unwrap()
                .contains("- rule ca-2023-10-wechat"),
            "{v}"
        );
        let id = v["proposal"]["id"].as_str().unwrap().to_string();
        assert_eq!(versions(&app).await, vec![1]);
        let (_, listed) = app
            .get("/api/v1/policy/proposals?status=pending", &app.admin)
            .await;
        assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
        assert_eq!(listed[0]["proposed_by"], alice.as_str());
        let (_, v) = app.checkin(&device, inv.clone()).await;
        assert_eq!(v["compliant"], false, "{v}");

        // The proposer cannot approve, whatever the credential.
        for t in [&alice_cli, &alice_laptop] {
            let (s, v) = app
                .post(
                    &format!("/api/v1/policy/proposals/{id}/approve"),
                    Some(t),
                    json!({}),
                )
                .await;
            assert_eq!(s, 403, "{v}");
            assert!(err(&v).contains("two-person rule"), "{v}");
        }
        // An analyst cannot either (role).
        let analyst = app.token(Role::Analyst).await;
        let (s, _) = app
            .post(
                &format!("/api/v1/policy/proposals/{id}/approve"),
                Some(&analyst),
                json!({}),
            )
            .await;
        assert_eq!(s, 403);
        assert_eq!(versions(&app).await, vec![1]);

        // A second approver approves: the version is active at once.
        let (s, v) = app
            .post(
                &format!("/api/v1/policy/proposals/{id}/approve"),
                Some(&bob_cli),
                json!({"comment": "checked against the TBS notice"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            (v["status"].as_str(), v["published_version"].as_i64()),
            (Some("approved"), Some(2))
        );
        assert_eq!(versions(&app).await, vec![2, 1]);
        let (_, v) = app.checkin(&device, inv.clone()).await;
        assert_eq!(v["compliant"], true, "{v}");
        let (s, _) = app
            .post(
                &format!("/api/v1/policy/proposals/{id}/approve"),
                Some(&bob_cli),
                json!({}),
            )
            .await;
        assert_eq!(s, 409);

        // The events say who proposed, who approved, and why.
        let proposed = events_of(&app, "policy.proposed").await;
        assert_eq!(proposed.len(), 1);
        assert_eq!(proposed[0]["actor"], alice.as_str());
        assert_eq!(proposed[0]["body"]["reason"], "directive withdrawn");
        assert_eq!(
            proposed[0]["body"]["weakenings"][0]["id"],
            "ca-2023-10-wechat"
        );
        let approved = events_of(&app, "policy.proposal_approved").await;
        assert_eq!(approved[0]["actor"], bob.as_str());
        assert_eq!(approved[0]["body"]["proposed_by"], alice.as_str());
        assert_eq!(approved[0]["body"]["reason"], "directive withdrawn");
        assert_eq!(
            approved[0]["body"]["comment"],
            "checked against the TBS notice"
        );
        let published = events_of(&app, "policy.published").await;
        let last = published.last().unwrap();
        assert_eq!(last["actor"], bob.as_str());
        assert_eq!(last["body"]["proposal"], id.as_str());
        assert_eq!(last["body"]["proposed_by"], alice.as_str());
        assert_eq!(last["body"]["reason"], "directive withdrawn");
        assert_eq!(last["body"]["after"]["version"], 2);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_can_be_rejected_and_go_stale() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        assert_eq!(app.publish(CANADA).await, 1);
        let (alice, alice_cli, _) = approver(&app, "alice@example.org").await;
        let (_, bob_cli, _) = approver(&app, "bob@example.org").await;

        // A longer grace period weakens; the proposer withdraws it.
        let longer = canada_v(3).replacen("grace_days = 0", "grace_days = 30", 1);
        let (s, v) = put_policy(&app, &alice_cli, &longer, Some("phase-in")).await;
        assert_eq!(s, 202, "{v}");
        assert_eq!(v["weakenings"][0]["kind"], "grace-lengthened", "{v}");
        let id = v["proposal"]["id"].as_str().unwrap().to_string();
        let (s, v) = app
            .post(
                &format!("/api/v1/policy/proposals/{id}/reject"),
                Some(&alice_cli),
                json!({"comment": "withdrawn"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["status"], "rejected");
        let rejected = events_of(&app, "policy.proposal_rejected").await;
        assert_eq!(rejected[0]["actor"], alice.as_str());
        assert_eq!(rejected[0]["body"]["comment"], "withdrawn");

        // Proposed again; a tightening version is published meanwhile: the proposal was diffed
        // against version 1 and can no longer be approved.
        let (s, v) = put_policy(&app, &alice_cli, &longer, Some("phase-in")).await;
        assert_eq!(s, 202, "{v}");
        let id = v["proposal"]["id"].as_str().unwrap().to_string();
        let tighter = canada_v(4).replace("[[rules]]\nid = \"ca-2023-10-wechat\"",
            "[[rules]]\nid = \"extra\"\naction = \"prohibit\"\napp_ids = [\"com.example.spy\"]\n\n[[rules]]\nid = \"ca-2023-10-wechat\"");
        let (s, v) = put_policy(&app, &bob_cli, &tighter, None).await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = app
            .post(
                &format!("/api/v1/policy/proposals/{id}/approve"),
                Some(&bob_cli),
                json!({}),
            )
            .await;
        assert_eq!(s, 409, "{v}");
        assert!(err(&v).contains("active policy version is now 2"), "{v}");
        assert_eq!(versions(&app).await, vec![2, 1]);
        let (_, p) = app
            .get(&format!("/api/v1/policy/proposals/{id}"), &app.admin)
            .await;
        assert_eq!(p["status"], "pending", "{p}");
        assert!(p["source"].as_str().unwrap().contains("grace_days = 30"));
        app.stop().await;
    }
}
