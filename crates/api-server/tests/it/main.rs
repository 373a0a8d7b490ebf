//! API tests: the real server on 127.0.0.1 port 0, over HTTP, against a real SQLite file in a
//! temp dir, and again against PostgreSQL (a fresh database per test) when
//! `TEST_POSTGRES_URL` is set.

mod accounts;
mod assessments;
mod assessments_ipa;
mod audit;
mod authz;
mod compliance;
mod flows;
mod governance;
mod harden;
mod intel;
mod report;
mod scope_reviews;
mod sso;

use std::net::SocketAddr;

use api_server::storage::{new_secret, Role, Store};
use api_server::{Config, Server};
use serde_json::{json, Value};

pub(crate) const CANADA: &str = include_str!("../../../../examples/canada-gc-mobile-v2.toml");

pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    pub(crate) store: Store,
    pub(crate) admin: String,
    pub(crate) secret: String,
    server: Option<Server>,
    _dir: Option<tempfile::TempDir>,
}

/// Database URLs to run each test against: SQLite always, PostgreSQL when configured.
pub(crate) async fn backends() -> Vec<(String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = vec![(Store::sqlite_url(dir.path()), Some(dir))];
    if let Ok(base) = std::env::var("TEST_POSTGRES_URL") {
        out.push((fresh_pg_database(&base).await, None));
    }
    out
}

async fn fresh_pg_database(base: &str) -> String {
    use sqlx::Executor;
    let name = format!("t_{}", &new_secret()[..16]);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(base)
        .await
        .expect("connect to TEST_POSTGRES_URL");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create database");
    let (prefix, _) = base.rsplit_once('/').expect("URL with a database path");
    let query = base
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{prefix}/{name}{query}")
}

impl TestApp {
    pub(crate) async fn start(url: &str, dir: Option<tempfile::TempDir>) -> TestApp {
        Self::start_with(url, dir, Config::default()).await
    }

    pub(crate) async fn start_with(
        url: &str,
        dir: Option<tempfile::TempDir>,
        config: Config,
    ) -> TestApp {
        let store = Store::connect(url).await.expect("connect");
        let (_, admin) = store
            .create_api_token(Role::Admin, "test", "test")
            .await
            .expect("admin token");
        let secret = store
            .create_enroll_secret(&[], "test")
            .await
            .expect("secret");
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let server = Server::start(store.clone(), config, addr, std::future::pending())
            .await
            .expect("start");
        TestApp {
            base: format!("http://{}", server.addr()),
            client: reqwest::Client::new(),
            store,
            admin,
            secret,
            server: Some(server),
            _dir: dir,
        }
    }

    pub(crate) async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.expect("shutdown");
        }
        self.store.close().await;
    }

    pub(crate) async fn token(&self, role: Role) -> String {
        self.store
            .create_api_token(role, role.as_str(), "test")
            .await
            .expect("token")
            .1
    }

    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = match b {
                Value::String(s) => rb.body(s),
                other => rb.json(&other),
            };
        }
        let r = rb.send().await.expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub(crate) async fn publish(&self, toml: &str) -> i64 {
        let (s, v) = self
            .send(
                reqwest::Method::PUT,
                "/api/v1/policy",
                Some(&self.admin),
                Some(Value::String(toml.to_string())),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["version"].as_i64().expect("version")
    }

    /// Enrolls a corporate, government-issued Android device; returns (id, token).
    pub(crate) async fn enroll(&self, name: &str) -> (String, String) {
        let (s, v) = self
            .post(
                "/api/v1/enroll",
                None,
                json!({"enroll_secret": self.secret, "device": {"name": name, "platform": "android",
                  "serial": name, "ownership": "corporate", "groups": ["government-issued"]}}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        (
            v["device_id"].as_str().expect("id").to_string(),
            v["device_token"].as_str().expect("token").to_string(),
        )
    }

    pub(crate) async fn checkin(&self, token: &str, body: Value) -> (u16, Value) {
        self.post("/api/v1/checkin", Some(token), body).await
    }
}

pub(crate) fn apps(ids: &[&str]) -> Value {
    json!({"apps": ids.iter().map(|id| json!({"id": id, "version": "1"})).collect::<Vec<_>>()})
}

/// A valid exception expiry: 30 days from today (UTC), inside the default one-year limit.
pub(crate) fn soon() -> String {
    day_in(30)
}

/// The UTC day `days` from today, as `YYYY-MM-DD`.
pub(crate) fn day_in(days: i64) -> String {
    let today = api_server::storage::now_ms() / 86_400_000;
    app_policy::Date::from_days_since_epoch(today + days).to_string()
}
