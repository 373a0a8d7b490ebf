//! People, not just tokens: local sign-in, sessions, CSRF, throttling, token lifecycle and
//! two-person rules by account, on SQLite and PostgreSQL, over real HTTP.

#![allow(clippy::unwrap_used)]

use api_server::storage::{hash_password, Audit, NewUser, Role, Store};
use api_server::{Config, Server, SessionConfig, SESSION_COOKIE};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{apps, backends, TestApp, CANADA};

const ADMIN_PW: &str = "first admin passphrase";
const ANALYST_PW: &str = "analyst passphrase one";
const APPROVER_PW: &str = "approver passphrase two";

/// A browser-like caller: a session cookie, same-origin Fetch Metadata.
struct Browser {
    cookie: String,
}

struct Resp {
    status: u16,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Resp {
    let mut rb = app.client.request(method, format!("{}{path}", app.base));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(b) = body {
        rb = match b {
            Value::String(s) => rb.body(s),
            other => rb.json(&other),
        };
    }
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    Resp {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    }
}

async fn sign_in_raw(app: &TestApp, email: &str, password: &str) -> Resp {
    call(
        app,
        Method::POST,
        "/api/v1/sign-in",
        &[
            ("sec-fetch-site", "same-origin"),
            ("user-agent", "test-browser/1"),
        ],
        Some(json!({"email": email, "password": password})),
    )
    .await
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> Browser {
    let r = sign_in_raw(app, email, password).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let set = r.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Lax"), "{set}");
    assert!(set.contains("Path=/"), "{set}");
    assert!(!set.contains("Secure"), "loopback: no Secure flag: {set}");
    let cookie = set.split(';').next().unwrap().to_string();
    assert!(cookie.starts_with(&format!("{SESSION_COOKIE}=")));
    Browser { cookie }
}

impl Browser {
    async fn send(&self, app: &TestApp, m: Method, path: &str, body: Option<Value>) -> Resp {
        call(
            app,
            m,
            path,
            &[("cookie", &self.cookie), ("sec-fetch-site", "same-origin")],
            body,
        )
        .await
    }
    async fn get(&self, app: &TestApp, path: &str) -> Resp {
        self.send(app, Method::GET, path, None).await
    }
    async fn post(&self, app: &TestApp, path: &str, body: Value) -> Resp {
        self.send(app, Method::POST, path, Some(body)).await
    }
}

async fn person(store: &Store, email: &str, role: Role, password: &str) -> String {
    store
        .create_user(
            &NewUser {
                service: false,
                email: Some(email.into()),
                display_name: email.split('@').next().unwrap().into(),
                role,
                password_hash: Some(hash_password(password).unwrap()),
            },
            &Audit::local("cli"),
        )
        .await
        .expect("create user")
        .id
}

async fn events(app: &TestApp) -> Vec<Value> {
    let (s, v) = app.get("/api/v1/events?limit=1000", &app.admin).await;
    assert_eq!(s, 200);
    v["events"].as_array().unwrap().clone()
}

fn find<'a>(events: &'a [Value], action: &str, subject: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["action"] == action && (subject.is_empty() || e["subject"] == subject))
        .collect()
}

/// The "Done when": the first admin signs in, creates an analyst and an approver;
/// the analyst requests an exception and cannot approve it through any token or session; the
/// approver approves; the events name each person.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_admin_creates_people_and_events_name_each_person() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        let admin_id = person(&app.store, "admin@example.org", Role::Admin, ADMIN_PW).await;
        let admin = sign_in(&app, "Admin@Example.org ", ADMIN_PW).await;
        let me = admin.get(&app, "/api/v1/me").await;
        assert_eq!(me.body["id"], admin_id.as_str(), "{}", me.body);
        assert_eq!(me.body["via"], "session");

        // The admin creates two people through the API, with their session.
        let mk = |email: &str, role: &str, pw: &str| json!({"email": email, "display_name": email, "role": role, "password": pw});
        let r = admin
            .post(
                &app,
                "/api/v1/users",
                mk("analyst@example.org", "analyst", ANALYST_PW),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let analyst_id = r.body["id"].as_str().unwrap().to_string();
        let r = admin
            .post(
                &app,
                "/api/v1/users",
                mk("approver@example.org", "approver", APPROVER_PW),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let approver_id = r.body["id"].as_str().unwrap().to_string();
        // A weak password is refused with the reason.
        let r = admin
            .post(
                &app,
                "/api/v1/users",
                mk("weak@example.org", "viewer", "password1234"),
            )
            .await;
        assert_eq!(r.status, 422);
        assert!(
            r.body["error"].as_str().unwrap().contains("common"),
            "{}",
            r.body
        );

        // The admin publishes the policy through the session.
        let r = admin
            .send(&app, Method::PUT, "/api/v1/policy", Some(json!(CANADA)))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let (device, dtoken) = app.enroll("phone").await;
        app.checkin(&dtoken, json!({"inventory": apps(&["com.tencent.mm"])}))
            .await;

        // The analyst holds a session and a token of their own.
        let analyst = sign_in(&app, "analyst@example.org", ANALYST_PW).await;
        let r = admin
            .post(
                &app,
                "/api/v1/tokens",
                json!({"role": "analyst", "name": "analyst cli", "user_id": analyst_id}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let analyst_token = r.body["token"].as_str().unwrap().to_string();
        // A token never gets more than its owner's role.
        let r = admin
            .post(
                &app,
                "/api/v1/tokens",
                json!({"role": "admin", "user_id": analyst_id}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);

        let r = analyst
            .post(
                &app,
                "/api/v1/exceptions",
                json!({"device_id": device, "rule": "ca-2023-10-wechat", "app_id": "com.tencent.mm",
                       "justification": "lawful intercept research", "expires": crate::soon()}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let eid = r.body["id"].as_str().unwrap().to_string();
        assert_eq!(r.body["requested_by"], analyst_id.as_str());
        let approve = format!("/api/v1/exceptions/{eid}/approve");
        assert_eq!(analyst.post(&app, &approve, json!({})).await.status, 403);
        let (s, _) = app.post(&approve, Some(&analyst_token), json!({})).await;
        assert_eq!(s, 403);

        let approver = sign_in(&app, "approver@example.org", APPROVER_PW).await;
        let r = approver.post(&app, &approve, json!({})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["decided_by"], approver_id.as_str());

        let ev = events(&app).await;
        let one = |action: &str, subject: &str| -> Value {
            let f = find(&ev, action, subject);
            assert_eq!(f.len(), 1, "{action} {subject}: {ev:?}");
            f[0].clone()
        };
        assert_eq!(one("user.created", &analyst_id)["actor"], admin_id.as_str());
        assert_eq!(
            one("user.created", &approver_id)["actor"],
            admin_id.as_str()
        );
        let created = one("user.created", &analyst_id);
        assert_eq!(created["body"]["source"]["address"], "127.0.0.1");
        assert_eq!(
            one("exception.requested", &eid)["actor"],
            analyst_id.as_str()
        );
        assert_eq!(
            one("exception.approved", &eid)["actor"],
            approver_id.as_str()
        );
        assert_eq!(one("policy.published", "")["actor"], admin_id.as_str());
        let signed_in = find(&ev, "session.signed_in", "");
        let who: Vec<&str> = signed_in
            .iter()
            .map(|e| e["actor"].as_str().unwrap())
            .collect();
        assert_eq!(who, [&admin_id, &analyst_id, &approver_id]);
        assert_eq!(
            signed_in[0]["body"]["source"]["user_agent"],
            "test-browser/1"
        );
        let token_created = find(&ev, "token.created", "")
            .into_iter()
            .find(|e| e["body"]["after"]["user_id"] == analyst_id.as_str())
            .expect("token.created for the analyst");
        assert_eq!(token_created["actor"], admin_id.as_str());
        app.stop().await;
    }
}

/// "Approver is not the requester" holds for people: one person through two tokens, or a
/// token and a session, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_person_cannot_approve_their_own_request_through_any_credential() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        app.publish(CANADA).await;
        let (device, _) = app.enroll("phone").await;
        let pat = person(&app.store, "pat@example.org", Role::Approver, APPROVER_PW).await;
        let audit = Audit::local("cli");
        let (_, t1) = app
            .store
            .create_user_token(&pat, Role::Approver, "laptop", &audit)
            .await
            .unwrap();
        let (_, t2) = app
            .store
            .create_user_token(&pat, Role::Approver, "script", &audit)
            .await
            .unwrap();
        let session = sign_in(&app, "pat@example.org", APPROVER_PW).await;
        let (s, e) = app
            .post(
                "/api/v1/exceptions",
                Some(&t1),
                json!({"device_id": device, "rule": "ca-2023-10-wechat",
                       "justification": "j", "expires": crate::soon()}),
            )
            .await;
        assert_eq!(s, 200, "{e}");
        assert_eq!(e["requested_by"], pat.as_str());
        let approve = format!("/api/v1/exceptions/{}/approve", e["id"].as_str().unwrap());
        let (s, v) = app.post(&approve, Some(&t2), json!({})).await;
        assert_eq!(s, 409, "second token of the same person: {v}");
        let r = session.post(&app, &approve, json!({})).await;
        assert_eq!(r.status, 409, "session of the same person: {}", r.body);
        let (s, _) = app.post(&approve, Some(&t1), json!({})).await;
        assert_eq!(s, 409, "the requesting token itself");
        // Another person can.
        let other = app.token(Role::Approver).await;
        let (s, v) = app.post(&approve, Some(&other), json!({})).await;
        assert_eq!(s, 200, "{v}");
        app.stop().await;
    }
}

/// Wrong passwords, unknown and disabled accounts look the same from outside; the audit log
/// tells them apart. Repeated failures are throttled per account with Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_failures_do_not_enumerate_and_are_throttled() {
    for (url, dir) in backends().await {
        let config = Config {
            session: SessionConfig {
                max_failures_per_account: 3,
                max_failures_per_address: 50,
                ..SessionConfig::default()
            },
            ..Config::default()
        };
        let app = TestApp::start_with(&url, dir, config).await;
        let ana = person(&app.store, "ana@example.org", Role::Analyst, ANALYST_PW).await;
        let gone = person(&app.store, "gone@example.org", Role::Viewer, ANALYST_PW).await;
        app.store
            .set_user_active(&gone, false, &Audit::local("cli"))
            .await
            .unwrap();

        let wrong = sign_in_raw(&app, "ana@example.org", "not the passphrase").await;
        let unknown = sign_in_raw(&app, "nobody@example.org", ANALYST_PW).await;
        let disabled = sign_in_raw(&app, "gone@example.org", ANALYST_PW).await;
        for r in [&wrong, &unknown, &disabled] {
            assert_eq!(r.status, 401);
            assert_eq!(r.body, wrong.body, "same answer whatever the reason");
            assert!(r.headers.get("set-cookie").is_none());
        }
        let ev = events(&app).await;
        let failed = find(&ev, "session.sign_in_failed", "");
        let reasons: Vec<(&str, &str)> = failed
            .iter()
            .map(|e| {
                (
                    e["subject"].as_str().unwrap(),
                    e["body"]["reason"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            reasons,
            [
                (ana.as_str(), "wrong_password"),
                ("unknown", "unknown_account"),
                (gone.as_str(), "account_disabled")
            ]
        );
        assert_eq!(failed[0]["body"]["source"]["address"], "127.0.0.1");

        // Two more failures reach the limit of 3; then even the right password waits.
        for _ in 0..2 {
            assert_eq!(
                sign_in_raw(&app, "ana@example.org", "wrong again!!")
                    .await
                    .status,
                401
            );
        }
        let r = sign_in_raw(&app, "ana@example.org", ANALYST_PW).await;
        assert_eq!(r.status, 429, "{}", r.body);
        let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=15 * 60).contains(&wait), "{wait}");
        // Unknown accounts are throttled the same way (no enumeration through 429).
        for _ in 0..3 {
            sign_in_raw(&app, "ghost@example.org", "whatever it is").await;
        }
        assert_eq!(
            sign_in_raw(&app, "ghost@example.org", "x").await.status,
            429
        );
        // Another account is not affected.
        let other = person(&app.store, "bo@example.org", Role::Viewer, APPROVER_PW).await;
        let b = sign_in(&app, "bo@example.org", APPROVER_PW).await;
        assert_eq!(b.get(&app, "/api/v1/me").await.body["id"], other.as_str());
        // Malformed bodies are a clear 422, not a 500.
        let r = call(
            &app,
            Method::POST,
            "/api/v1/sign-in",
            &[],
            Some(json!({"email": 1})),
        )
        .await;
        assert_eq!(r.status, 422);
        app.stop().await;
    }
}

/// Cookies and sessions: new id per sign-in, sign-out, sign-out everywhere, disabling ends
/// sessions and tokens, malformed/oversized/forged cookies, cross-site POSTs, open redirects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_resist_forgery_csrf_and_open_redirects() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        app.publish(CANADA).await;
        let (device, _) = app.enroll("phone").await;
        let ana = person(&app.store, "ana@example.org", Role::Analyst, ANALYST_PW).await;
        let s1 = sign_in(&app, "ana@example.org", ANALYST_PW).await;
        let s2 = sign_in(&app, "ana@example.org", ANALYST_PW).await;
        assert_ne!(s1.cookie, s2.cookie, "a new session id at every sign-in");

        let body = json!({"device_id": device, "rule": "ca-2023-10-wechat",
                          "justification": "j", "expires": crate::soon()});
        // Cross-site POST with a valid cookie: refused, with an event; nothing stored.
        for headers in [
            vec![
                ("cookie", s1.cookie.as_str()),
                ("sec-fetch-site", "cross-site"),
            ],
            vec![
                ("cookie", s1.cookie.as_str()),
                ("sec-fetch-site", "same-site"),
            ],
            vec![
                ("cookie", s1.cookie.as_str()),
                ("origin", "http://evil.example"),
            ],
            vec![("cookie", s1.cookie.as_str()), ("origin", "null")],
        ] {
            let r = call(
                &app,
                Method::POST,
                "/api/v1/exceptions",
                &headers,
                Some(body.clone()),
            )
            .await;
            assert_eq!(r.status, 403, "{headers:?}: {}", r.body);
            assert!(r.body["error"].as_str().unwrap().contains("cross-site"));
        }
        let (_, list) = app.get("/api/v1/exceptions", &app.admin).await;
        assert_eq!(list.as_array().unwrap().len(), 0);
        assert_eq!(
            find(&events(&app).await, "session.csrf_refused", &ana).len(),
            4
        );
        // A cross-site GET is not state-changing (SameSite=Lax lets top-level links work).
        let r = call(
            &app,
            Method::GET,
            "/api/v1/me",
            &[("cookie", &s1.cookie), ("sec-fetch-site", "cross-site")],
            None,
        )
        .await;
        assert_eq!(r.status, 200);
        // A same-origin POST (Origin matching Host) passes.
        let host = app.base.trim_start_matches("http://").to_string();
        let origin = app.base.clone();
        let r = call(
            &app,
            Method::POST,
            "/api/v1/exceptions",
            &[("cookie", &s1.cookie), ("origin", &origin), ("host", &host)],
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        // Bearer API calls are unaffected by Fetch Metadata.
        let r = call(
            &app,
            Method::POST,
            "/api/v1/exceptions",
            &[
                ("authorization", &format!("Bearer {}", app.admin)),
                ("sec-fetch-site", "cross-site"),
            ],
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        // Cross-site sign-in (login CSRF) is refused too.
        let r = call(
            &app,
            Method::POST,
            "/api/v1/sign-in",
            &[("sec-fetch-site", "cross-site")],
            Some(json!({"email": "ana@example.org", "password": ANALYST_PW})),
        )
        .await;
        assert_eq!(r.status, 403);

        // Open redirect through next=.
        for next in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
        ] {
            let r = call(
                &app,
                Method::POST,
                "/api/v1/sign-in",
                &[],
                Some(json!({"email": "ana@example.org", "password": ANALYST_PW, "next": next})),
            )
            .await;
            assert_eq!(r.status, 422, "{next}");
            assert!(r.headers.get("set-cookie").is_none());
        }
        assert_eq!(
            find(&events(&app).await, "session.open_redirect_refused", "").len(),
            4
        );
        let r = call(&app, Method::POST, "/api/v1/sign-in", &[], Some(json!({"email": "ana@example.org", "password": ANALYST_PW, "next": "/exceptions?status=requested"}))).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["next"], "/exceptions?status=requested");

        // Forged, malformed and oversized cookies.
        let forged = format!("{SESSION_COOKIE}={}", "ab".repeat(32));
        let malformed = format!("{SESSION_COOKIE}=../../etc/passwd");
        let oversized = format!(
            "{SESSION_COOKIE}={}; pad={}",
            "ab".repeat(32),
            "x".repeat(9000)
        );
        for (c, want) in [(&forged, 401), (&malformed, 401), (&oversized, 422)] {
            let r = call(&app, Method::GET, "/api/v1/me", &[("cookie", c)], None).await;
            assert_eq!(r.status, want, "{}", &c[..40]);
        }

        // Sign-out ends this session only; the cookie is cleared.
        let r = s1.post(&app, "/api/v1/sign-out", json!({})).await;
        assert_eq!(r.status, 200);
        assert!(r.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0"));
        assert_eq!(s1.get(&app, "/api/v1/me").await.status, 401);
        assert_eq!(s2.get(&app, "/api/v1/me").await.status, 200);
        // Sign-out everywhere ends the others.
        let s3 = sign_in(&app, "ana@example.org", ANALYST_PW).await;
        let r = s2
            .post(&app, "/api/v1/sign-out-everywhere", json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(s2.get(&app, "/api/v1/me").await.status, 401);
        assert_eq!(s3.get(&app, "/api/v1/me").await.status, 401);

        // Disabling the account ends its sessions and its tokens at once.
        let s4 = sign_in(&app, "ana@example.org", ANALYST_PW).await;
        let (_, tok) = app
            .store
            .create_user_token(&ana, Role::Viewer, "t", &Audit::local("cli"))
            .await
            .unwrap();
        assert_eq!(app.get("/api/v1/me", &tok).await.0, 200);
        let (s, v) = app
            .post(
                &format!("/api/v1/users/{ana}/disable"),
                Some(&app.admin),
                json!({}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["status"], "disabled");
        assert_eq!(s4.get(&app, "/api/v1/me").await.status, 401);
        assert_eq!(app.get("/api/v1/me", &tok).await.0, 401);
        let ev = events(&app).await;
        let d = find(&ev, "user.disabled", &ana);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0]["body"]["sessions_ended"], 1);
        assert_eq!(find(&ev, "session.signed_out", "").len(), 1);
        assert_eq!(find(&ev, "session.signed_out_everywhere", &ana).len(), 1);
        app.stop().await;
    }
}

/// Idle and absolute session limits (set to zero here, so no test waits on a clock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_after_idle_or_absolute_limits() {
    for (idle, absolute) in [(0, 3600), (3600, 0)] {
        let (url, dir) = backends().await.swap_remove(0);
        let mut config = Config::default();
        config.session.idle = std::time::Duration::from_secs(idle);
        config.session.absolute = std::time::Duration::from_secs(absolute);
        let app = TestApp::start_with(&url, dir, config).await;
        person(&app.store, "ana@example.org", Role::Viewer, ANALYST_PW).await;
        let s = sign_in(&app, "ana@example.org", ANALYST_PW).await;
        assert_eq!(
            s.get(&app, "/api/v1/me").await.status,
            401,
            "idle {idle} absolute {absolute}"
        );
        app.stop().await;
    }
}

/// Token lifecycle: listed without secrets, revoked through the API with an event naming
/// the actor, and refused at once by a second server on the same database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_are_refused_at_once_by_every_server() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        let admin_id = person(&app.store, "admin@example.org", Role::Admin, ADMIN_PW).await;
        let admin = sign_in(&app, "admin@example.org", ADMIN_PW).await;
        let r = admin
            .post(
                &app,
                "/api/v1/tokens",
                json!({"role": "viewer", "name": "dashboard"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["user_id"], admin_id.as_str(), "owned by the caller");
        let (tid, secret) = (
            r.body["id"].as_str().unwrap().to_string(),
            r.body["token"].as_str().unwrap().to_string(),
        );
        // A second server on the same database.
        let store2 = Store::connect(&url).await.unwrap();
        let server2 = Server::start(
            store2.clone(),
            Config::default(),
            "127.0.0.1:0".parse().unwrap(),
            std::future::pending(),
        )
        .await
        .unwrap();
        let base2 = format!("http://{}", server2.addr());
        let me2 = |t: String| {
            let c = app.client.clone();
            let base2 = base2.clone();
            async move {
                c.get(format!("{base2}/api/v1/me"))
                    .bearer_auth(t)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        assert_eq!(me2(secret.clone()).await, 200);

        let r = admin.get(&app, "/api/v1/tokens").await;
        assert_eq!(r.status, 200);
        let listed = r.body.as_array().unwrap();
        assert!(listed
            .iter()
            .any(|t| t["id"] == tid.as_str() && t["user_id"] == admin_id.as_str()));
        assert!(
            !r.body.to_string().contains(&secret),
            "no secret in the listing"
        );

        let r = admin
            .post(&app, &format!("/api/v1/tokens/{tid}/revoke"), json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            me2(secret.clone()).await,
            401,
            "the other server refuses it at once"
        );
        assert_eq!(app.get("/api/v1/me", &secret).await.0, 401);
        let r = admin
            .post(&app, &format!("/api/v1/tokens/{tid}/revoke"), json!({}))
            .await;
        assert_eq!(r.status, 409, "already revoked");
        let r = admin
            .post(&app, "/api/v1/tokens/tok_nope/revoke", json!({}))
            .await;
        assert_eq!(r.status, 404);
        let ev = events(&app).await;
        let rev = find(&ev, "token.revoked", &tid);
        assert_eq!(rev.len(), 1);
        assert_eq!(rev[0]["actor"], admin_id.as_str());
        assert_eq!(rev[0]["body"]["user_id"], admin_id.as_str());
        assert_eq!(rev[0]["body"]["source"]["address"], "127.0.0.1");
        server2.shutdown().await.unwrap();
        store2.close().await;
        app.stop().await;
    }
}

/// Role changes take effect at once, on tokens too (a token acts with the lower role).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_changes_apply_to_the_accounts_tokens_and_sessions() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        let bo = person(&app.store, "bo@example.org", Role::Approver, APPROVER_PW).await;
        let (_, tok) = app
            .store
            .create_user_token(&bo, Role::Approver, "t", &Audit::local("cli"))
            .await
            .unwrap();
        let s = sign_in(&app, "bo@example.org", APPROVER_PW).await;
        assert_eq!(app.get("/api/v1/me", &tok).await.1["role"], "approver");
        let (st, v) = app
            .post(
                &format!("/api/v1/users/{bo}/role"),
                Some(&app.admin),
                json!({"role": "viewer"}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(app.get("/api/v1/me", &tok).await.1["role"], "viewer");
        assert_eq!(s.get(&app, "/api/v1/me").await.body["role"], "viewer");
        let ev = events(&app).await;
        let c = find(&ev, "user.role_changed", &bo);
        assert_eq!(c[0]["body"]["before"]["role"], "approver");
        assert_eq!(c[0]["body"]["after"]["role"], "viewer");
        // Unknown role and unknown account: clear 4xx.
        let (st, _) = app
            .post(
                &format!("/api/v1/users/{bo}/role"),
                Some(&app.admin),
                json!({"role": "root"}),
            )
            .await;
        assert_eq!(st, 422);
        let (st, _) = app
            .post(
                "/api/v1/users/usr_nope/role",
                Some(&app.admin),
                json!({"role": "viewer"}),
            )
            .await;
        assert_eq!(st, 404);
        // Duplicate email.
        let (st, v) = app
            .post(
                "/api/v1/users",
                Some(&app.admin),
                json!({"email": "BO@example.org", "display_name": "Bo 2", "role": "viewer"}),
            )
            .await;
        assert_eq!(st, 409, "{v}");
        app.stop().await;
    }
}
