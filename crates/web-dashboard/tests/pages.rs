//! The dashboard over a real server (SQLite, and PostgreSQL when `TEST_POSTGRES_URL` is set):
//! who may open what, the error pages, headers, sign-in through the form, and the overview's
//! counts with stale and never-reported devices apart from compliant ones.

use std::net::SocketAddr;

use api_server::storage::{self, Audit, NewUser, Role, Store};
use api_server::{Config, Server};

const PASSWORD: &str = "violet-otter-lantern-42";

async fn stores() -> Vec<(Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = Store::sqlite_url(dir.path());
    let mut out = vec![(Store::connect(&url).await.expect("sqlite"), Some(dir))];
    if let Ok(base) = std::env::var("TEST_POSTGRES_URL") {
        use sqlx::Executor;
        let name = format!(
            "dash_{}",
            &storage::hash_secret(&format!("{:?}", std::time::SystemTime::now()))[..12]
        );
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
            .await
            .expect("pg");
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create db");
        let url = match base.rsplit_once('/') {
            Some((head, _)) => format!("{head}/{name}"),
            None => panic!("TEST_POSTGRES_URL has no database part"),
        };
        out.push((Store::connect(&url).await.expect("pg store"), None));
    }
    out
}

async fn user(store: &Store, email: &str, role: Role) {
    let audit = Audit {
        actor: "test".into(),
        address: String::new(),
        user_agent: String::new(),
    };
    store
        .create_user(
            &NewUser {
                service: false,
                email: Some(email.into()),
                display_name: email.into(),
                role,
                password_hash: Some(storage::hash_password(PASSWORD).expect("hash")),
            },
            &audit,
        )
        .await
        .expect("user");
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn sign_in(base: &str, email: &str) -> reqwest::Client {
    let c = client();
    let r = c
        .post(format!("{base}/sign-in"))
        .form(&[
            ("email", email),
            ("password", PASSWORD),
            ("next", "/devices"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/devices");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_access_errors_and_overview() {
    for (store, _dir) in stores().await {
        user(&store, "viewer@example.org", Role::Viewer).await;
        user(&store, "analyst@example.org", Role::Analyst).await;
        let (_, admin) = store
            .create_api_token(Role::Admin, "test", "test")
            .await
            .expect("token");
        let secret = store
            .create_enroll_secret(&[], "test")
            .await
            .expect("secret");
        let config = Config {
            pages: Some(web_dashboard::router),
            enroll_per_minute: 0,
            ..Config::default()
        };
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let server = Server::start(store.clone(), config, addr, std::future::pending())
            .await
            .expect("start");
        let base = format!("http://{}", server.addr());
        let http = client();

        // Anonymous: every page sends to the sign-in page, which comes back here.
        for path in [
            "/",
            "/devices",
            "/rules/x",
            "/exceptions",
            "/policy",
            "/activity",
            "/admin",
            "/assessments",
        ] {
            let r = http.get(format!("{base}{path}")).send().await.expect("get");
            assert_eq!(r.status(), 303, "{path}");
            let to = r.headers()["location"].to_str().expect("loc").to_string();
            assert!(to.starts_with("/sign-in?next="), "{path}: {to}");
        }
        // The API keeps its JSON errors.
        let r = http
            .get(format!("{base}/api/v1/nope"))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 404);
        assert!(r.text().await.expect("body").contains("\"error\""));
        // A wrong password: 401 page with the email kept, escaped.
        let r = http
            .post(format!("{base}/sign-in"))
            .form(&[
                ("email", "<b>x@example.org"),
                ("password", "wrong-password-123"),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 401);
        let body = r.text().await.expect("body");
        assert!(
            body.contains("value=\"&#60;b&#62;x@example.org\""),
            "{body}"
        );

        let viewer = sign_in(&base, "viewer@example.org").await;
        let r = viewer
            .get(format!("{base}/"))
            .send()
            .await
            .expect("overview");
        assert_eq!(r.status(), 200);
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .to_string();
        assert!(csp.starts_with("default-src 'self'"), "{csp}");
        assert!(r
            .text()
            .await
            .expect("body")
            .contains("No policy version is active yet"));
        // French by Accept-Language, English by the cookie the switcher sets.
        let r = viewer
            .get(format!("{base}/devices"))
            .header("accept-language", "fr-CA,fr;q=0.9")
            .send()
            .await
            .expect("fr");
        assert!(r.text().await.expect("body").contains("<html lang=\"fr\">"));
        // Role and not-found pages.
        let r = viewer
            .get(format!("{base}/admin"))
            .send()
            .await
            .expect("admin");
        assert_eq!(r.status(), 403);
        assert!(r.text().await.expect("body").contains("Not allowed"));
        let r = viewer
            .post(format!("{base}/exceptions/exc_x/approve"))
            .form(&[("comment", "")])
            .send()
            .await
            .expect("approve");
        assert_eq!(r.status(), 403);
        for path in [
            "/devices/nope",
            "/rules/nope",
            "/policy/versions/7",
            "/nope",
        ] {
            let r = viewer
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("404");
            assert_eq!(r.status(), 404, "{path}");
            assert!(
                r.text().await.expect("body").contains("Page not found"),
                "{path}"
            );
        }
        // A cross-site form post through the session is refused.
        let analyst = sign_in(&base, "analyst@example.org").await;
        let r = analyst
            .post(format!("{base}/exceptions"))
            .header("sec-fetch-site", "cross-site")
            .form(&[("device_id", "x")])
            .send()
            .await
            .expect("csrf");
        assert_eq!(r.status(), 403);
        // The vendored htmx: served with a year of cache.
        let r = viewer
            .get(format!("{base}{}", web_dashboard::HTMX_PATH))
            .send()
            .await
            .expect("htmx");
        assert_eq!(r.status(), 200);
        assert!(r.headers()["cache-control"]
            .to_str()
            .expect("cc")
            .contains("max-age=31536000"));

        // Overview counts: a policy, an overdue device, a compliant one, one never reported.
        let policy = "[policy]\nname = \"t\"\nversion = 1\nmode = \"denylist\"\n\n[[rules]]\nid = \"ban\"\naction = \"prohibit\"\napp_ids = [\"com.tencent.mm\"]\neffective = 2020-01-01\ngrace_days = 0\n";
        let api = reqwest::Client::new();
        let r = api
            .put(format!("{base}/api/v1/policy"))
            .bearer_auth(&admin)
            .body(policy)
            .send()
            .await
            .expect("publish");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        for (name, apps) in [
            ("bad", Some("com.tencent.mm")),
            ("good", Some("org.mozilla.firefox")),
            ("silent", None),
        ] {
            let v: serde_json::Value = api
                .post(format!("{base}/api/v1/enroll"))
                .json(&serde_json::json!({"enroll_secret": secret, "device": {"name": name, "platform": "android", "serial": name, "ownership": "corporate", "groups": []}}))
                .send()
                .await
                .expect("enroll")
                .json()
                .await
                .expect("json");
            let token = v["device_token"].as_str().expect("token");
            if let Some(app) = apps {
                let r = api
                    .post(format!("{base}/api/v1/checkin"))
                    .bearer_auth(token)
                    .json(&serde_json::json!({"inventory": {"apps": [{"id": app}]}}))
                    .send()
                    .await
                    .expect("checkin");
                assert_eq!(r.status(), 200);
            }
        }
        let html = viewer
            .get(format!("{base}/"))
            .send()
            .await
            .expect("overview")
            .text()
            .await
            .expect("body");
        let count = |class: &str| -> String {
            let at = html
                .find(&format!("count {class}\""))
                .unwrap_or_else(|| panic!("{class} in {html}"));
            let rest = &html[at..];
            let a = rest.find("\">").map(|i| &rest[i..]).unwrap_or_default();
            let dd = &a[a.find("<a href=").unwrap_or(0)..];
            let v = &dd[dd.find('>').unwrap_or(0) + 1..];
            v[..v.find('<').unwrap_or(0)].to_string()
        };
        assert_eq!(count("violation"), "1");
        assert_eq!(count("never"), "1");
        assert_eq!(
            count("compliant"),
            "1",
            "the silent device is not compliant"
        );
        assert_eq!(count("scope"), "3");
        let rule = viewer
            .get(format!("{base}/rules/ban?status=violation"))
            .send()
            .await
            .expect("rule")
            .text()
            .await
            .expect("body");
        assert!(rule.contains("<svg") && rule.contains("role=\"img\""));
        assert_eq!(
            rule.matches("<tr><th scope=\"row\"><a href=\"/devices/")
                .count(),
            1
        );
        let csv = viewer
            .get(format!("{base}/rules/ban/exposure.csv?status=violation"))
            .send()
            .await
            .expect("csv")
            .text()
            .await
            .expect("body");
        assert_eq!(
            csv.lines().filter(|l| l.starts_with("dev_")).count(),
            1,
            "{csv}"
        );

        server.shutdown().await.expect("shutdown");
    }
}
