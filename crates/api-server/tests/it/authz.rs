//! The authorization matrix, built from the router's own route list: every route must have a
//! row here (the test fails otherwise), and every route is tried with no token, a malformed
//! token, a well-formed unknown token, the wrong kind of token, a role one step too weak, and
//! the weakest sufficient role.

use api_server::storage::{hash_password, Audit, NewUser, Role};
use api_server::{route_list, Access};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{apps, backends, TestApp, CANADA};

/// (method, path pattern) → (concrete path, body).
fn row(app: &Ctx, method: &Method, path: &str) -> Option<(String, Option<Value>)> {
    let dev = &app.device_a;
    let exc = &app.exception;
    Some(match (method.as_str(), path) {
        ("GET", "/healthz") => ("/healthz".into(), None),
        ("GET", "/api/v1/noop") => ("/api/v1/noop".into(), None),
        ("GET", "/metrics") => ("/metrics".into(), None),
        ("GET", "/api/v1/connectors") => ("/api/v1/connectors".into(), None),
        ("GET", "/api/v1/notifications") => ("/api/v1/notifications".into(), None),
        // No connector named so, and no signature (the NanoMDM tests cover the rest).
        ("POST", "/api/v1/connectors/{name}/webhook") => {
            ("/api/v1/connectors/apple/webhook".into(), Some(json!({})))
        }
        ("POST", "/api/v1/enroll") => (
            "/api/v1/enroll".into(),
            Some(
                json!({"enroll_secret": "0".repeat(64), "device": {"name": "n", "platform": "android"}}),
            ),
        ),
        ("POST", "/api/v1/checkin") => (
            "/api/v1/checkin".into(),
            Some(json!({"inventory": apps(&["a.b"])})),
        ),
        ("PUT", "/api/v1/policy") => ("/api/v1/policy".into(), Some(json!(CANADA))),
        ("GET", "/api/v1/policy/versions") => ("/api/v1/policy/versions".into(), None),
        ("GET", "/api/v1/policy/versions/{version}") => ("/api/v1/policy/versions/1".into(), None),
        ("GET", "/api/v1/policy/proposals") => ("/api/v1/policy/proposals".into(), None),
        // An unknown proposal: 404 once authorized (the governance tests cover the decisions).
        ("GET", "/api/v1/policy/proposals/{id}") => {
            ("/api/v1/policy/proposals/prop_missing".into(), None)
        }
        ("POST", "/api/v1/policy/proposals/{id}/approve") => (
            "/api/v1/policy/proposals/prop_missing/approve".into(),
            Some(json!({})),
        ),
        ("POST", "/api/v1/policy/proposals/{id}/reject") => (
            "/api/v1/policy/proposals/prop_missing/reject".into(),
            Some(json!({})),
        ),
        ("GET", "/api/v1/policy/diff") => ("/api/v1/policy/diff?from=1&to=1".into(), None),
        ("GET", "/api/v1/openapi.json") => ("/api/v1/openapi.json".into(), None),
        ("GET", "/api/v1/devices") => ("/api/v1/devices".into(), None),
        ("GET", "/api/v1/export/devices.csv") => ("/api/v1/export/devices.csv".into(), None),
        ("GET", "/api/v1/devices/{id}") => (format!("/api/v1/devices/{dev}"), None),
        ("PATCH", "/api/v1/devices/{id}") => (
            format!("/api/v1/devices/{dev}"),
            Some(json!({"ownership": "corporate", "reason": "matrix"})),
        ),
        ("POST", "/api/v1/enroll-secrets") => (
            "/api/v1/enroll-secrets".into(),
            Some(json!({"groups": ["government-issued"], "ownership": "corporate"})),
        ),
        ("POST", "/api/v1/rules/{rule}/reviews") => (
            "/api/v1/rules/ca-2023-10-wechat/reviews".into(),
            Some(
                json!({"appellant": "Vendor", "summary": "Please reverse.", "received": "2023-11-01"}),
            ),
        ),
        ("GET", "/api/v1/rules/{rule}/reviews") => {
            ("/api/v1/rules/ca-2023-10-wechat/reviews".into(), None)
        }
        // An unknown review: 404 once authorized (the governance tests cover decisions).
        ("POST", "/api/v1/reviews/{id}/decide") => (
            "/api/v1/reviews/rev_missing/decide".into(),
            Some(json!({"outcome": "upheld", "reasons": "r"})),
        ),
        ("POST", "/api/v1/devices/{id}/revoke") => (
            format!("/api/v1/devices/{}/revoke", app.device_c),
            Some(json!({})),
        ),
        ("GET", "/api/v1/compliance") => ("/api/v1/compliance".into(), None),
        ("GET", "/api/v1/exposure/{app_id}") => ("/api/v1/exposure/com.tencent.mm".into(), None),
        ("GET", "/api/v1/compliance/rules") => ("/api/v1/compliance/rules".into(), None),
        ("GET", "/api/v1/export/compliance.csv") => ("/api/v1/export/compliance.csv".into(), None),
        ("GET", "/api/v1/rules/{rule}/exposure") => {
            ("/api/v1/rules/ca-2023-10-wechat/exposure".into(), None)
        }
        ("GET", "/api/v1/export/rules/{rule}/exposure.csv") => (
            "/api/v1/export/rules/ca-2023-10-wechat/exposure.csv".into(),
            None,
        ),
        ("GET", "/api/v1/rules/{rule}/series") => {
            ("/api/v1/rules/ca-2023-10-wechat/series".into(), None)
        }
        ("GET", "/api/v1/export/rules/{rule}/series.csv") => (
            "/api/v1/export/rules/ca-2023-10-wechat/series.csv".into(),
            None,
        ),
        ("GET", "/api/v1/exceptions") => ("/api/v1/exceptions".into(), None),
        ("POST", "/api/v1/exceptions") => (
            "/api/v1/exceptions".into(),
            Some(
                json!({"device_id": dev, "rule": "ca-2023-10-wechat", "justification": "j", "expires": crate::soon()}),
            ),
        ),
        ("POST", "/api/v1/exceptions/{id}/approve") => {
            (format!("/api/v1/exceptions/{exc}/approve"), Some(json!({})))
        }
        ("POST", "/api/v1/exceptions/{id}/deny") => {
            (format!("/api/v1/exceptions/{exc}/deny"), Some(json!({})))
        }
        ("POST", "/api/v1/exceptions/{id}/revoke") => {
            (format!("/api/v1/exceptions/{exc}/revoke"), Some(json!({})))
        }
        ("GET", "/api/v1/events") => ("/api/v1/events".into(), None),
        ("POST", "/api/v1/tokens") => ("/api/v1/tokens".into(), Some(json!({"role": "viewer"}))),
        ("GET", "/api/v1/tokens") => ("/api/v1/tokens".into(), None),
        ("POST", "/api/v1/tokens/{id}/revoke") => (
            format!("/api/v1/tokens/{}/revoke", app.token_id),
            Some(json!({})),
        ),
        ("GET", "/api/v1/users") => ("/api/v1/users".into(), None),
        ("POST", "/api/v1/users") => (
            "/api/v1/users".into(),
            Some(json!({"email": "new@example.org", "display_name": "New", "role": "viewer"})),
        ),
        ("POST", "/api/v1/users/{id}/disable") => (
            format!("/api/v1/users/{}/disable", app.user),
            Some(json!({})),
        ),
        ("POST", "/api/v1/users/{id}/enable") => (
            format!("/api/v1/users/{}/enable", app.user),
            Some(json!({})),
        ),
        ("POST", "/api/v1/users/{id}/role") => (
            format!("/api/v1/users/{}/role", app.user),
            Some(json!({"role": "analyst"})),
        ),
        ("POST", "/api/v1/users/{id}/sign-out-everywhere") => (
            format!("/api/v1/users/{}/sign-out-everywhere", app.user),
            Some(json!({})),
        ),
        // Public: real credentials of a real account.
        ("POST", "/api/v1/sign-in") => (
            "/api/v1/sign-in".into(),
            Some(json!({"email": "signer@example.org", "password": SIGNER_PASSWORD})),
        ),
        ("POST", "/api/v1/sign-out") => ("/api/v1/sign-out".into(), Some(json!({}))),
        ("POST", "/api/v1/sign-out-everywhere") => {
            ("/api/v1/sign-out-everywhere".into(), Some(json!({})))
        }
        ("GET", "/api/v1/me") => ("/api/v1/me".into(), None),
        // Single sign-on is not configured here: 404 (the SSO tests cover it).
        ("GET", "/api/v1/sso/login") => ("/api/v1/sso/login".into(), None),
        ("GET", "/api/v1/sso/callback") => ("/api/v1/sso/callback".into(), None),
        ("POST", "/api/v1/enroll-secrets/rotate") => {
            ("/api/v1/enroll-secrets/rotate".into(), Some(json!({})))
        }
        // Not an APK (415/422 once authorized: the matrix checks authorization only).
        ("POST", "/api/v1/assessments") => {
            ("/api/v1/assessments".into(), Some(json!("not an apk")))
        }
        ("GET", "/api/v1/assessments") => ("/api/v1/assessments?verdict=review".into(), None),
        ("GET", "/api/v1/assessments/{id}") => ("/api/v1/assessments/asm_missing".into(), None),
        ("POST", "/api/v1/intel") => ("/api/v1/intel".into(), Some(json!("not intel"))),
        ("GET", "/api/v1/intel/matches") => ("/api/v1/intel/matches".into(), None),
        ("GET", "/api/v1/export/network/{format}") => ("/api/v1/export/network/rpz".into(), None),
        ("GET", "/api/v1/audit/checkpoint") => ("/api/v1/audit/checkpoint".into(), None),
        ("POST", "/api/v1/audit/checkpoint") => {
            ("/api/v1/audit/checkpoint".into(), Some(json!({})))
        }
        ("GET", "/api/v1/audit/checkpoints") => ("/api/v1/audit/checkpoints?from=0".into(), None),
        ("GET", "/api/v1/audit/entries") => ("/api/v1/audit/entries?start=0&end=2".into(), None),
        ("GET", "/api/v1/audit/proof/inclusion") => {
            ("/api/v1/audit/proof/inclusion?index=0&size=2".into(), None)
        }
        ("GET", "/api/v1/audit/proof/consistency") => {
            ("/api/v1/audit/proof/consistency?old=1&new=2".into(), None)
        }
        ("GET", "/api/v1/reports/compliance") => (
            "/api/v1/reports/compliance?at=2000-01-01T00:00:00Z".into(),
            None,
        ),
        _ => return None,
    })
}

struct Ctx {
    device_a: String,
    device_c: String,
    exception: String,
    user: String,
    token_id: String,
}

const SIGNER_PASSWORD: &str = "matrix signer passphrase";

fn weaker(r: Role) -> Option<Role> {
    match r {
        Role::Auditor => None,
        Role::Viewer => Some(Role::Auditor),
        Role::Analyst => Some(Role::Viewer),
        Role::Approver => Some(Role::Analyst),
        Role::Admin => Some(Role::Approver),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_enforces_its_access() {
    let routes = route_list();
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        app.publish(CANADA).await;
        let (device_a, token_a) = app.enroll("a").await;
        let (device_b, token_b) = app.enroll("b").await;
        let (device_c, _) = app.enroll("c").await;
        let analyst = app.token(Role::Analyst).await;
        let (_, e) = app
            .post("/api/v1/exceptions", Some(&analyst),
                json!({"device_id": device_a, "rule": "ca-2023-10-wechat", "justification": "j", "expires": crate::soon()}))
            .await;
        let new_user = |email: &str, password: Option<&str>| NewUser {
            service: false,
            email: Some(email.to_string()),
            display_name: email.to_string(),
            role: Role::Viewer,
            password_hash: password.map(|p| hash_password(p).unwrap()),
        };
        let audit = Audit::local("test");
        let user = app
            .store
            .create_user(&new_user("managed@example.org", None), &audit)
            .await
            .unwrap()
            .id;
        app.store
            .create_user(
                &new_user("signer@example.org", Some(SIGNER_PASSWORD)),
                &audit,
            )
            .await
            .unwrap();
        let (token_id, _) = app
            .store
            .create_api_token(Role::Viewer, "to revoke", "test")
            .await
            .unwrap();
        let ctx = Ctx {
            device_a: device_a.clone(),
            device_c,
            exception: e["id"].as_str().unwrap().to_string(),
            user,
            token_id,
        };
        let unknown = "ab".repeat(32);
        for r in &routes {
            let (path, body) = row(&ctx, &r.method, r.path).unwrap_or_else(|| {
                panic!(
                    "route {} {} has no row in the authorization matrix",
                    r.method, r.path
                )
            });
            let call = |token: Option<String>| {
                let (path, body, m) = (path.clone(), body.clone(), r.method.clone());
                let app = &app;
                async move { app.send(m, &path, token.as_deref(), body).await.0 }
            };
            let what = format!("{} {}", r.method, r.path);
            match r.access {
                Access::Public if r.path.starts_with("/api/v1/sso/") => {
                    assert_eq!(call(None).await, 404, "{what}: SSO not configured");
                }
                Access::Public => {
                    assert_eq!(call(None).await, 200, "{what}");
                }
                Access::EnrollSecret => {
                    // The row carries an unknown secret.
                    assert_eq!(call(None).await, 401, "{what}");
                }
                Access::WebhookSignature => {
                    // Unsigned; a Bearer token is no substitute for the signature.
                    assert_eq!(call(None).await, 401, "{what}");
                    assert_eq!(
                        call(Some(app.admin.clone())).await,
                        401,
                        "{what}: admin token"
                    );
                }
                Access::Device => {
                    assert_eq!(call(None).await, 401, "{what}: no token");
                    assert_eq!(call(Some("garbage".into())).await, 401, "{what}: malformed");
                    assert_eq!(call(Some(unknown.clone())).await, 401, "{what}: unknown");
                    assert_eq!(
                        call(Some(app.admin.clone())).await,
                        401,
                        "{what}: admin token"
                    );
                    assert_eq!(call(Some(token_a.clone())).await, 200, "{what}: device");
                }
                Access::Role(min) => {
                    assert_eq!(call(None).await, 401, "{what}: no token");
                    assert_eq!(call(Some("garbage".into())).await, 401, "{what}: malformed");
                    assert_eq!(call(Some(unknown.clone())).await, 401, "{what}: unknown");
                    assert_eq!(
                        call(Some(token_a.clone())).await,
                        401,
                        "{what}: device token"
                    );
                    if let Some(w) = weaker(min) {
                        let t = app.token(w).await;
                        assert_eq!(call(Some(t)).await, 403, "{what}: role {w:?}");
                    }
                    let t = app.token(min).await;
                    let s = call(Some(t)).await;
                    assert!(s != 401 && s != 403, "{what}: role {min:?} got {s}");
                }
            }
        }

        // Device B cannot write as device A: identity comes from the token only.
        let (s, _) = app
            .checkin(
                &token_b,
                json!({"device_id": device_a, "inventory": apps(&["x.y"])}),
            )
            .await;
        assert_eq!(s, 422);
        let (_, v) = app
            .checkin(&token_b, json!({"inventory": apps(&["evil.app"])}))
            .await;
        assert!(v["compliant"].is_boolean());
        let (_, a) = app
            .get(&format!("/api/v1/devices/{device_a}"), &app.admin)
            .await;
        assert!(a["installs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["app_id"] != "evil.app"));
        let (_, b) = app
            .get(&format!("/api/v1/devices/{device_b}"), &app.admin)
            .await;
        assert!(b["installs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["app_id"] == "evil.app"));
        // A device token never reaches admin routes, including B's detail.
        let (s, _) = app
            .get(&format!("/api/v1/devices/{device_b}"), &token_a)
            .await;
        assert_eq!(s, 401);
        app.stop().await;
    }
}

#[test]
fn openapi_document_lists_every_route() {
    let doc = api_server::openapi();
    assert_eq!(doc["openapi"], "3.1.0");
    for r in route_list() {
        let op = &doc["paths"][r.path][r.method.as_str().to_lowercase()];
        assert!(
            op.is_object(),
            "{} {} missing from openapi.json",
            r.method,
            r.path
        );
        if let Access::Role(role) = r.access {
            assert_eq!(op["x-min-role"], role.as_str());
        }
    }
}
