//! Governance (issue 14): exceptions validated like the policy file's (item 5) and guarded
//! policy publishing (item 1).

#![allow(clippy::unwrap_used)]

use api_server::storage::Role;
use serde_json::{json, Value};

use crate::{apps, backends, TestApp, CANADA};

const WECHAT: &str = "ca-2023-10-wechat";

fn err(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

fn day_in(days: i64) -> String {
    let today = api_server::storage::now_ms() / 86_400_000;
    app_policy::Date::from_days_since_epoch(today + days).to_string()
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
