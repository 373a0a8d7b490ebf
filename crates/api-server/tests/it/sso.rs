//! Single sign-on against a real OpenID Provider: the `oidc-provider` npm package (pinned in
//! tests/oidc/package-lock.json, installed by scripts/test.sh with `npm ci`), started on
//! 127.0.0.1 with one client and three people whose `groups` claims differ. The browser is
//! driven end to end: redirects followed, the provider's login and consent forms posted.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};

use api_server::oidc::Oidc;
use api_server::storage::{hash_password, Audit, NewUser, Role, Store};
use api_server::{Config, OidcConfig, Server};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{backends, CANADA};

struct Provider {
    child: Child,
    issuer: String,
    // Kept open: the provider must never write to a closed pipe.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_provider(redirect: &str) -> Provider {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc");
    assert!(
        dir.join("node_modules/oidc-provider").is_dir(),
        "run `npm ci` in {} (scripts/test.sh does)",
        dir.display()
    );
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .arg(redirect)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node (Debian package nodejs) runs tests/oidc/provider.mjs");
    let out = child.stdout.take().expect("stdout");
    let mut line = String::new();
    let mut reader = std::io::BufReader::new(out);
    reader.read_line(&mut line).expect("provider output");
    let issuer = line
        .trim()
        .strip_prefix("issuer=")
        .unwrap_or_else(|| panic!("provider said {line:?}"))
        .to_string();
    Provider {
        child,
        issuer,
        _stdout: reader,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sso_config(issuer: &str, redirect: &str, create: bool) -> OidcConfig {
    let toml = format!(
        r#"
        issuer = "{issuer}"
        client_id = "interdict"
        client_secret_env = "UNUSED_IN_TESTS"
        redirect_url = "{redirect}"
        scopes = ["email", "profile", "groups"]
        role_claim = "groups"
        create_accounts = {create}
        [roles]
        interdict-approvers = "approver"
        interdict-analysts = "analyst"
        "#
    );
    let mut c: OidcConfig = toml_from(&toml);
    c.client_secret = "test-client-secret".into();
    c
}

fn toml_from(s: &str) -> OidcConfig {
    // The same shape `server.toml`'s [sso] has (the CLI parses it with the toml crate).
    let v: BTreeMap<String, Value> = parse_simple_toml(s);
    serde_json::from_value(json!(v)).expect("sso config")
}

/// A tiny reader for the flat TOML above (keys, strings, booleans, string arrays, one
/// `[roles]` table), so the test needs no TOML crate.
fn parse_simple_toml(s: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut roles = serde_json::Map::new();
    let mut in_roles = false;
    for line in s.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line == "[roles]" {
            in_roles = true;
            continue;
        }
        let (k, v) = line.split_once('=').expect("key = value");
        let v: Value = serde_json::from_str(v.trim()).expect("JSON-compatible value");
        if in_roles {
            roles.insert(k.trim().to_string(), v);
        } else {
            out.insert(k.trim().to_string(), v);
        }
    }
    out.insert("roles".into(), Value::Object(roles));
    out
}

/// A browser: a cookie jar, no automatic redirects.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let i = tag.find(&key)? + key.len();
    let j = tag[i..].find('"')?;
    Some(tag[i..i + j].replace("&amp;", "&"))
}

/// Follows redirects from `url` and posts the provider's forms (login as `login`, then
/// consent) until a redirect to `stop_prefix`; returns that URL (not followed).
async fn drive(client: &reqwest::Client, url: &str, login: &str, stop_prefix: &str) -> String {
    let mut next = url.to_string();
    let mut form: Option<(String, Vec<(String, String)>)> = None;
    for _ in 0..20 {
        let resp = match form.take() {
            Some((action, fields)) => client.post(&action).form(&fields).send().await,
            None => client.get(&next).send().await,
        }
        .expect("request");
        let base = resp.url().clone();
        if resp.status().is_redirection() {
            let loc = resp.headers()["location"].to_str().unwrap().to_string();
            let abs = base.join(&loc).unwrap().to_string();
            if abs.starts_with(stop_prefix) {
                return abs;
            }
            next = abs;
            continue;
        }
        let status = resp.status();
        let html = resp.text().await.unwrap();
        assert!(status.is_success(), "{status}: {html}");
        let start = html
            .find("<form")
            .unwrap_or_else(|| panic!("no form in {html}"));
        let end = start + html[start..].find('>').unwrap();
        let action = attr(&html[start..end], "action").expect("form action");
        let mut fields = Vec::new();
        for tag in html[end..].split("<input").skip(1) {
            let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
            let Some(name) = attr(tag, "name") else {
                continue;
            };
            let value = match name.as_str() {
                "login" => login.to_string(),
                "password" => "any password".to_string(),
                _ => attr(tag, "value").unwrap_or_default(),
            };
            fields.push((name, value));
        }
        form = Some((base.join(&action).unwrap().to_string(), fields));
    }
    panic!("the sign-in did not reach {stop_prefix}");
}

struct SsoApp {
    base: String,
    server: Option<Server>,
    store: Store,
    admin: String,
    _dir: Option<tempfile::TempDir>,
}

async fn start_app(
    url: &str,
    dir: Option<tempfile::TempDir>,
    sso: OidcConfig,
    port: u16,
) -> SsoApp {
    let store = Store::connect(url).await.unwrap();
    let (_, admin) = store
        .create_api_token(Role::Admin, "test", "test")
        .await
        .unwrap();
    let config = Config {
        sso: Some(sso),
        ..Config::default()
    };
    let server = Server::start(
        store.clone(),
        config,
        format!("127.0.0.1:{port}").parse().unwrap(),
        std::future::pending(),
    )
    .await
    .unwrap();
    SsoApp {
        base: format!("http://127.0.0.1:{port}"),
        server: Some(server),
        store,
        admin,
        _dir: dir,
    }
}

impl SsoApp {
    async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.unwrap();
        }
        self.store.close().await;
    }

    async fn events(&self, action: &str) -> Vec<Value> {
        let v: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/events?limit=1000", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .cloned()
            .collect()
    }
}

/// Signs in through the provider as `login`; returns the callback's response.
async fn sso_sign_in(
    app: &SsoApp,
    client: &reqwest::Client,
    login: &str,
    next: &str,
) -> (u16, String, String) {
    let cb_prefix = format!("{}/api/v1/sso/callback", app.base);
    let callback = drive(
        client,
        &format!("{}/api/v1/sso/login?next={next}", app.base),
        login,
        &cb_prefix,
    )
    .await;
    let r = client.get(&callback).send().await.unwrap();
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = r.text().await.unwrap();
    (status, loc, if body.is_empty() { callback } else { body })
}

async fn me(app: &SsoApp, client: &reqwest::Client) -> (u16, Value) {
    let r = client
        .get(format!("{}/api/v1/me", app.base))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn person(email: &str, role: Role, password: Option<&str>) -> NewUser {
    NewUser {
        service: false,
        email: Some(email.into()),
        display_name: email.into(),
        role,
        password_hash: password.map(|p| hash_password(p).unwrap()),
    }
}

/// The whole sign-in through the real provider, on both databases: the mapped role, no
/// just-in-time account by default, a replayed state refused, and the same person through
/// SSO and a local account (same email) cannot approve their own request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_through_a_real_openid_provider() {
    for (url, dir) in backends().await {
        let port = free_port();
        let redirect = format!("http://127.0.0.1:{port}/api/v1/sso/callback");
        let provider = start_provider(&redirect);
        let app = start_app(
            &url,
            dir,
            sso_config(&provider.issuer, &redirect, false),
            port,
        )
        .await;
        let audit = Audit::local("cli");
        // Alice has a local account (analyst, with a password); Bob has none; Carol's groups map to nothing.
        let alice = app
            .store
            .create_user(
                &person(
                    "alice@example.org",
                    Role::Analyst,
                    Some("alice local passphrase"),
                ),
                &audit,
            )
            .await
            .unwrap()
            .id;
        let carol = app
            .store
            .create_user(&person("carol@example.org", Role::Viewer, None), &audit)
            .await
            .unwrap();

        let browser_a = browser();
        let (s, loc, _) = sso_sign_in(&app, &browser_a, "alice", "/exceptions").await;
        assert_eq!(s, 303);
        assert_eq!(loc, "/exceptions", "back to next=");
        let (s, who) = me(&app, &browser_a).await;
        assert_eq!(s, 200, "{who}");
        assert_eq!(
            who["id"],
            alice.as_str(),
            "linked by email to the local account"
        );
        assert_eq!(who["role"], "approver", "role from the groups claim");
        let signed = app.events("session.signed_in").await;
        assert_eq!(signed.last().unwrap()["body"]["method"], "oidc");
        let changed = app.events("user.role_changed").await;
        assert_eq!(changed[0]["actor"], "sso");
        assert_eq!(changed[0]["subject"], alice.as_str());

        // Replaying the callback (same code and state) is refused, with an event.
        let cb_prefix = format!("{}/api/v1/sso/callback", app.base);
        let b2 = browser();
        let callback = drive(
            &b2,
            &format!("{}/api/v1/sso/login", app.base),
            "alice",
            &cb_prefix,
        )
        .await;
        let first = b2.get(&callback).send().await.unwrap().status().as_u16();
        assert_eq!(first, 303);
        let again = b2.get(&callback).send().await.unwrap();
        assert_eq!(again.status().as_u16(), 403);
        assert!(again.text().await.unwrap().contains("state"));
        // A callback carried to another browser (no binding cookie) is refused too.
        let b3 = browser();
        let callback = drive(
            &b3,
            &format!("{}/api/v1/sso/login", app.base),
            "alice",
            &cb_prefix,
        )
        .await;
        let stolen = reqwest::Client::new().get(&callback).send().await.unwrap();
        assert_eq!(stolen.status().as_u16(), 403);
        let failed = app.events("session.sign_in_failed").await;
        assert_eq!(failed.len(), 2);
        assert!(failed
            .iter()
            .all(|e| e["body"]["reason"] == "oidc_state_unknown_or_replayed"));

        // Bob's groups map to analyst but he has no account, and accounts are not created
        // just in time by default; Carol's groups map to no role.
        let (s, _, body) = sso_sign_in(&app, &browser(), "bob", "/").await;
        assert_eq!(s, 403, "{body}");
        assert!(body.contains("no active account"), "{body}");
        let (s, _, body) = sso_sign_in(&app, &browser(), "carol", "/").await;
        assert_eq!(s, 403, "{body}");
        assert!(body.contains("mapped"), "{body}");
        assert_eq!(app.store.user(&carol.id).await.unwrap().role, Role::Viewer);

        // Open redirect through next=.
        let r = browser()
            .get(format!("{}/api/v1/sso/login?next=//evil.example", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 422);

        // Two-person rule across SSO and the local account of the same person.
        let admin_sess = &app.admin;
        let c = reqwest::Client::new();
        c.put(format!("{}/api/v1/policy", app.base))
            .bearer_auth(admin_sess)
            .body(CANADA)
            .send()
            .await
            .unwrap();
        let secret = app.store.create_enroll_secret(&[], "test").await.unwrap();
        let v: Value = c
            .post(format!("{}/api/v1/enroll", app.base))
            .json(&json!({"enroll_secret": secret, "device": {"name": "p", "platform": "android"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let device = v["device_id"].as_str().unwrap();
        let local = c
            .post(format!("{}/api/v1/sign-in", app.base))
            .json(&json!({"email": "alice@example.org", "password": "alice local passphrase"}))
            .send()
            .await
            .unwrap();
        assert_eq!(local.status().as_u16(), 200);
        let cookie = local.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let e: Value = c
            .post(format!("{}/api/v1/exceptions", app.base))
            .header("cookie", &cookie)
            .json(&json!({"device_id": device, "rule": "ca-2023-10-wechat", "justification": "j", "expires": crate::soon()}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(e["requested_by"], alice.as_str(), "{e}");
        let approve = format!(
            "{}/api/v1/exceptions/{}/approve",
            app.base,
            e["id"].as_str().unwrap()
        );
        let r = browser_a
            .post(&approve)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 409, "SSO session of the requester");
        drop(provider);
        app.stop().await;
    }
}

/// With just-in-time creation on, a mapped person gets an account at first sign-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn just_in_time_accounts_when_enabled() {
    let (url, dir) = backends().await.swap_remove(0);
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/api/v1/sso/callback");
    let provider = start_provider(&redirect);
    let app = start_app(
        &url,
        dir,
        sso_config(&provider.issuer, &redirect, true),
        port,
    )
    .await;
    let b = browser();
    let (s, _, body) = sso_sign_in(&app, &b, "bob", "/").await;
    assert_eq!(s, 303, "{body}");
    let (_, who) = me(&app, &b).await;
    assert_eq!(who["role"], "analyst");
    let created = app.events("user.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["actor"], "sso");
    assert_eq!(created[0]["body"]["after"]["email"], "bob@example.org");
    app.stop().await;
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// ID tokens issued by the real provider, then validated by interdict: a genuine one passes;
/// tampered, wrong nonce, expired, or from an issuer other than the configured one, fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_token_validation_refuses_tampering_wrong_nonce_expiry_and_unknown_issuer() {
    let redirect = "http://127.0.0.1:9/api/v1/sso/callback".to_string();
    let provider = start_provider(&redirect);
    let cfg = sso_config(&provider.issuer, &redirect, false);
    let oidc = Oidc::new(cfg.clone()).unwrap();
    let md: Value = reqwest::get(format!(
        "{}/.well-known/openid-configuration",
        provider.issuer
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    // Our own client run: PKCE and nonce, code captured at the redirect, exchanged by hand.
    let verifier = "v".repeat(50);
    let challenge = b64url(&Sha256::digest(verifier.as_bytes()));
    let nonce = "nonce-for-this-test-1234";
    let auth = format!(
        "{}?response_type=code&client_id=interdict&redirect_uri={}&scope=openid%20email%20profile%20groups&state=st4te-value-123&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256",
        md["authorization_endpoint"].as_str().unwrap(),
        redirect
    );
    let b = browser();
    let back = drive(&b, &auth, "alice", "http://127.0.0.1:9/").await;
    let code = back
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let tok: Value = reqwest::Client::new()
        .post(md["token_endpoint"].as_str().unwrap())
        .basic_auth("interdict", Some("test-client-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let raw = tok["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{tok}"))
        .to_string();

    let id = oidc.verify_id_token(&raw, nonce, None).await.unwrap();
    assert_eq!(id.subject, "alice");
    assert_eq!(id.email.as_deref(), Some("alice@example.org"));
    assert_eq!(id.groups, ["interdict-approvers", "staff"]);
    assert_eq!(oidc.role_for(&id), Some(Role::Approver));

    // Tampered: one character of the payload changed (e.g. the groups), signature kept.
    let parts: Vec<&str> = raw.split('.').collect();
    let mut payload = parts[1].as_bytes().to_vec();
    let i = payload.len() / 2;
    payload[i] = if payload[i] == b'A' { b'B' } else { b'A' };
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        String::from_utf8(payload).unwrap(),
        parts[2]
    );
    let e = oidc
        .verify_id_token(&tampered, nonce, None)
        .await
        .unwrap_err();
    assert!(matches!(e, api_server::oidc::OidcError::Token(_)), "{e}");
    // Signature stripped ("alg": "none" style).
    let unsigned = format!("{}.{}.", parts[0], parts[1]);
    assert!(oidc.verify_id_token(&unsigned, nonce, None).await.is_err());
    // Wrong nonce.
    let e = oidc
        .verify_id_token(&raw, "another-nonce", None)
        .await
        .unwrap_err();
    assert!(e.to_string().to_lowercase().contains("nonce"), "{e}");
    // Expired: validated two days later.
    let later = chrono::Utc::now() + chrono::Duration::days(2);
    let e = oidc
        .verify_id_token(&raw, nonce, Some(later))
        .await
        .unwrap_err();
    assert!(e.to_string().to_lowercase().contains("expir"), "{e}");
    // Unknown issuer: the same provider reached under another name is not the issuer its
    // tokens and metadata name.
    let other = provider.issuer.replace("127.0.0.1", "localhost");
    let wrong = Oidc::new(OidcConfig {
        issuer: other,
        ..cfg
    })
    .unwrap();
    assert!(wrong.verify_id_token(&raw, nonce, None).await.is_err());
    drop(provider);
}
