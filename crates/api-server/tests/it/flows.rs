//! End-to-end flows: enrollment, check-in, history, policy versions, exceptions, events.

use api_server::storage::{canonical_json, Role};
use serde_json::json;

use crate::{apps, backends, TestApp, CANADA};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_is_wal_and_synchronous_full() {
    let (url, dir) = backends().await.swap_remove(0);
    let app = TestApp::start(&url, dir).await;
    let (mode, sync) = app.store.sqlite_pragmas().await.unwrap().unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    assert_eq!(sync, 2, "synchronous=FULL");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wechat_device_is_told_to_uninstall_then_complies() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        assert_eq!(app.publish(CANADA).await, 1);
        let (id, token) = app.enroll("phone-1").await;

        let (s, v) = app
            .checkin(
                &token,
                json!({"inventory": apps(&["com.tencent.mm", "org.example.ok"]), "seq": 1}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["compliant"], false);
        assert_eq!(v["policy_version"], 1);
        let actions = v["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 1, "{v}");
        assert_eq!(actions[0]["kind"], "uninstall");
        assert_eq!(actions[0]["app_id"], "com.tencent.mm");
        assert_eq!(actions[0]["rule"], "ca-2023-10-wechat");
        assert_eq!(actions[0]["deadline"], "2023-10-30");
        assert!(v["next_checkin_s"].as_u64().unwrap() > 0);

        // The unchanged inventory may be sent as its hash alone.
        let inv: Vec<app_policy::App> =
            serde_json::from_value(apps(&["org.example.ok", "com.tencent.mm"])["apps"].clone())
                .unwrap();
        let hash = api_server::inventory_hash(&inv);
        let (s, v) = app
            .checkin(&token, json!({"inventory_hash": hash, "seq": 2}))
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["compliant"], false);
        // A stale hash asks for the full inventory.
        let (s, _) = app
            .checkin(&token, json!({"inventory_hash": "00", "seq": 3}))
            .await;
        assert_eq!(s, 409);

        let (s, v) = app.get("/api/v1/compliance", &app.admin).await;
        assert_eq!(s, 200);
        assert_eq!(
            v,
            json!({"devices": 1, "compliant": 0, "non_compliant": 1, "in_grace": 0, "overdue": 1})
        );
        let (_, v) = app.get("/api/v1/devices?compliant=false", &app.admin).await;
        assert_eq!(v.as_array().unwrap().len(), 1);
        let (_, v) = app.get("/api/v1/devices?compliant=true", &app.admin).await;
        assert_eq!(v.as_array().unwrap().len(), 0);
        let (s, csv) = app.get("/api/v1/export/devices.csv", &app.admin).await;
        assert_eq!(s, 200);
        let csv = csv.as_str().unwrap();
        assert!(csv.starts_with("id,name,"), "{csv}");
        assert!(csv.contains(&format!("\"{id}\",\"phone-1\"")), "{csv}");
        let (_, v) = app.get("/api/v1/exposure/com.tencent.mm", &app.admin).await;
        assert_eq!(v["devices"][0]["device_id"], id.as_str());

        // The user removes WeChat: history keeps the removal.
        let (s, v) = app
            .checkin(
                &token,
                json!({"inventory": apps(&["org.example.ok"]), "seq": 4}),
            )
            .await;
        assert_eq!(s, 200);
        assert_eq!(v["compliant"], true);
        assert_eq!(v["actions"], json!([]));
        let (s, d) = app.get(&format!("/api/v1/devices/{id}"), &app.admin).await;
        assert_eq!(s, 200);
        assert_eq!(d["checkins"], 3);
        assert_eq!(d["last_seq"], 4);
        let installs = d["installs"].as_array().unwrap();
        let wechat = installs
            .iter()
            .find(|i| i["app_id"] == "com.tencent.mm")
            .unwrap();
        assert!(wechat["removed_at"].is_i64(), "{d}");
        let ok = installs
            .iter()
            .find(|i| i["app_id"] == "org.example.ok")
            .unwrap();
        assert!(ok["removed_at"].is_null());
        assert!(ok["last_seen"].as_i64() >= ok["first_seen"].as_i64());

        // Reinstalled: current again, with a new first_seen.
        let (s, v) = app
            .checkin(
                &token,
                json!({"inventory": apps(&["org.example.ok", "com.tencent.mm"]), "seq": 5}),
            )
            .await;
        assert_eq!((s, &v["compliant"]), (200, &json!(false)));
        let (_, d) = app.get(&format!("/api/v1/devices/{id}"), &app.admin).await;
        let again = d["installs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["app_id"] == "com.tencent.mm")
            .unwrap()
            .clone();
        assert!(again["removed_at"].is_null(), "{d}");
        assert!(
            again["first_seen"].as_i64() >= wechat["removed_at"].as_i64(),
            "{d}"
        );

        // Events: gapless, ordered, canonical, with the state changes.
        let (_, e) = app.get("/api/v1/events?limit=1000", &app.admin).await;
        let events = e["events"].as_array().unwrap();
        for (i, ev) in events.iter().enumerate() {
            assert_eq!(ev["seq"].as_i64().unwrap(), i as i64 + 1);
        }
        let actions: Vec<&str> = events
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        for want in [
            "policy.published",
            "device.enrolled",
            "device.inventory_changed",
            "device.compliance_changed",
        ] {
            assert!(actions.contains(&want), "{actions:?}");
        }
        for (_, body) in app.store.event_bodies().await.unwrap() {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(canonical_json(&v), body);
        }
        // Paging.
        let (_, p) = app.get("/api/v1/events?after=1&limit=2", &app.admin).await;
        assert_eq!(p["events"][0]["seq"], 2);
        assert_eq!(p["next_after"], 3);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_versions_are_immutable_and_listed() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        assert_eq!(app.publish(CANADA).await, 1);
        // A tightening change (a shorter grace period would also do; CANADA has none), with a
        // new `[policy] version`: published at once.
        let v2 = CANADA
            .replacen("\nversion = 2\n", "\nversion = 3\n", 1)
            .replacen(
                "app_ids = [\"com.tencent.mm\", \"com.tencent.xin\"]\nplatforms",
                "app_ids = [\"com.tencent.mm\", \"com.tencent.xin\", \"com.tencent.wework\"]\nplatforms",
                1,
            );
        assert_eq!(app.publish(&v2).await, 2);
        let (_, list) = app.get("/api/v1/policy/versions", &app.admin).await;
        let versions: Vec<i64> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect();
        assert_eq!(versions, vec![2, 1]);
        let (_, one) = app.get("/api/v1/policy/versions/1", &app.admin).await;
        assert_eq!(one["source"], CANADA);
        let (s, d) = app.get("/api/v1/policy/diff?from=1&to=2", &app.admin).await;
        assert_eq!(s, 200, "{d}");
        assert!(
            d["text"].as_str().unwrap().contains("com.tencent.wework"),
            "{d}"
        );
        let (s, _) = app.get("/api/v1/policy/versions/9", &app.admin).await;
        assert_eq!(s, 404);
        let (s, _) = app
            .send(
                reqwest::Method::PUT,
                "/api/v1/policy",
                Some(&app.admin),
                Some(json!("not toml [")),
            )
            .await;
        assert_eq!(s, 422);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceptions_need_a_second_person_and_expire() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        app.publish(CANADA).await;
        let analyst = app.token(Role::Analyst).await;
        let approver = app.token(Role::Approver).await;
        let (id, token) = app.enroll("phone-x").await;
        let inv = json!({"inventory": apps(&["com.tencent.mm"])});
        let (_, v) = app.checkin(&token, inv.clone()).await;
        assert_eq!(v["compliant"], false);

        let req = |expires: &str| {
            json!({"device_id": id, "rule": "ca-2023-10-wechat", "app_id": "com.tencent.mm",
                   "justification": "investigation", "expires": expires})
        };
        let (s, e) = app
            .post("/api/v1/exceptions", Some(&analyst), req(&crate::soon()))
            .await;
        assert_eq!(s, 200, "{e}");
        let eid = e["id"].as_str().unwrap().to_string();
        // An analyst cannot approve; the approver can.
        let (s, _) = app
            .post(
                &format!("/api/v1/exceptions/{eid}/approve"),
                Some(&analyst),
                json!({}),
            )
            .await;
        assert_eq!(s, 403);
        let (s, e) = app
            .post(
                &format!("/api/v1/exceptions/{eid}/approve"),
                Some(&approver),
                json!({}),
            )
            .await;
        assert_eq!(s, 200, "{e}");
        assert_eq!(e["status"], "approved");
        let (_, v) = app.checkin(&token, inv.clone()).await;
        assert_eq!(v["compliant"], true, "{v}");

        // The requester never decides their own request, whatever their role.
        let (s, e2) = app
            .post("/api/v1/exceptions", Some(&approver), req(&crate::soon()))
            .await;
        assert_eq!(s, 200);
        let e2 = e2["id"].as_str().unwrap();
        let (s, _) = app
            .post(
                &format!("/api/v1/exceptions/{e2}/approve"),
                Some(&approver),
                json!({}),
            )
            .await;
        assert_eq!(s, 409);
        let (s, d) = app
            .post(
                &format!("/api/v1/exceptions/{e2}/deny"),
                Some(&app.admin),
                json!({}),
            )
            .await;
        assert_eq!((s, d["status"].as_str()), (200, Some("denied")));

        // Revoked: non-compliant at the next check-in.
        let (s, _) = app
            .post(
                &format!("/api/v1/exceptions/{eid}/revoke"),
                Some(&approver),
                json!({}),
            )
            .await;
        assert_eq!(s, 200);
        let (_, v) = app.checkin(&token, inv.clone()).await;
        assert_eq!(v["compliant"], false);

        // An exception that has already expired is refused, and nothing is stored.
        let before = app.get("/api/v1/exceptions", &app.admin).await.1;
        let (s, e3) = app
            .post("/api/v1/exceptions", Some(&analyst), req("2020-01-01"))
            .await;
        assert_eq!(s, 422, "{e3}");
        assert!(e3["error"].as_str().unwrap().contains("expires"), "{e3}");
        assert_eq!(app.get("/api/v1/exceptions", &app.admin).await.1, before);
        let (_, v) = app.checkin(&token, inv.clone()).await;
        assert_eq!(v["compliant"], false);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checkins_are_all_stored() {
    for (url, dir) in backends().await {
        let app = std::sync::Arc::new(TestApp::start(&url, dir).await);
        app.publish(CANADA).await;
        let mut tokens = Vec::new();
        for i in 0..20 {
            tokens.push(app.enroll(&format!("d{i}")).await);
        }
        let mut set = tokio::task::JoinSet::new();
        for (_, token) in tokens.clone() {
            let app = app.clone();
            set.spawn(async move {
                for seq in 1..=10 {
                    let (s, v) = app
                        .checkin(
                            &token,
                            json!({"inventory": apps(&["a.b", "c.d"]), "seq": seq}),
                        )
                        .await;
                    assert_eq!(s, 200, "{v}");
                }
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        for (id, _) in &tokens {
            let (_, d) = app.get(&format!("/api/v1/devices/{id}"), &app.admin).await;
            assert_eq!(d["checkins"], 10);
            assert_eq!(d["last_seq"], 10);
        }
        let (_, m) = app
            .send(reqwest::Method::GET, "/metrics", Some(&app.admin), None)
            .await;
        assert!(
            m.as_str().unwrap().contains("interdict_checkins_total 200"),
            "{m}"
        );
        let app = std::sync::Arc::into_inner(app).unwrap();
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_device_and_limits() {
    for (url, dir) in backends().await {
        let config = api_server::Config {
            max_body_bytes: 64 * 1024,
            rate_per_token: 5,
            ..api_server::Config::default()
        };
        let app = TestApp::start_with(&url, dir, config).await;
        let (id, token) = app.enroll("r").await;
        let (s, _) = app
            .checkin(&token, json!({"inventory": apps(&["x.y"])}))
            .await;
        assert_eq!(s, 200);
        // Too big a body.
        let big: Vec<String> = (0..5000).map(|i| format!("com.example.a{i}")).collect();
        let refs: Vec<&str> = big.iter().map(String::as_str).collect();
        // The server answers 413 from the Content-Length alone and closes the connection; the
        // client may see that as a reset while it is still sending, never as a success. A client
        // of its own, so that the closed connection is not reused by the requests below.
        let sent = reqwest::Client::new()
            .post(format!("{}/api/v1/checkin", app.base))
            .bearer_auth(&token)
            .json(&json!({"inventory": apps(&refs)}))
            .send()
            .await;
        match sent {
            Ok(r) => assert_eq!(r.status().as_u16(), 413),
            Err(e) => assert!(!e.is_status() && !e.is_decode(), "{e}"),
        }
        // Rate limit: a burst of 2x5 then refusals.
        let mut limited = false;
        for _ in 0..30 {
            let (s, _) = app
                .checkin(&token, json!({"inventory": apps(&["x.y"])}))
                .await;
            limited |= s == 429;
        }
        assert!(limited);
        // Revocation cuts the device off at once.
        let (s, _) = app
            .post(
                &format!("/api/v1/devices/{id}/revoke"),
                Some(&app.admin),
                json!({}),
            )
            .await;
        assert_eq!(s, 200);
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let (s, _) = app
            .checkin(&token, json!({"inventory": apps(&["x.y"])}))
            .await;
        assert_eq!(s, 401);
        app.stop().await;
    }
}

/// Two servers on one database: a revocation and a policy version made through one reach the
/// other (through the events it follows), with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_follows_revocations_and_policy_versions() {
    for (url, dir) in backends().await {
        let a = TestApp::start(&url, dir).await;
        let store_b = api_server::storage::Store::connect(&url).await.unwrap();
        let b = api_server::Server::start(
            store_b.clone(),
            api_server::Config {
                follow_interval: std::time::Duration::from_millis(100),
                ..api_server::Config::default()
            },
            "127.0.0.1:0".parse().unwrap(),
            std::future::pending(),
        )
        .await
        .unwrap();
        let b_url = format!("http://{}/api/v1/checkin", b.addr());
        let checkin_b = |token: String| {
            let url = b_url.clone();
            let client = a.client.clone();
            async move {
                let r = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"inventory": apps(&["com.tencent.mm"])}))
                    .send()
                    .await
                    .unwrap();
                let s = r.status().as_u16();
                (s, r.json::<serde_json::Value>().await.unwrap_or_default())
            }
        };
        let (id, token) = a.enroll("shared").await;
        // B caches the device; no policy yet: compliant.
        let (s, v) = checkin_b(token.clone()).await;
        assert_eq!((s, &v["compliant"]), (200, &json!(true)), "{v}");

        // A policy published through A reaches B.
        a.publish(CANADA).await;
        let mut seen = false;
        for _ in 0..300 {
            let (_, v) = checkin_b(token.clone()).await;
            if v["policy_version"] == 1 {
                assert_eq!(v["compliant"], false, "{v}");
                seen = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(seen, "server B never loaded the policy published through A");

        // A revocation made through A reaches B's cache.
        let (s, _) = a
            .post(
                &format!("/api/v1/devices/{id}/revoke"),
                Some(&a.admin),
                json!({}),
            )
            .await;
        assert_eq!(s, 200);
        let mut refused = false;
        for _ in 0..300 {
            if checkin_b(token.clone()).await.0 == 401 {
                refused = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(refused, "server B kept accepting a revoked device");
        b.shutdown().await.unwrap();
        store_b.close().await;
        a.stop().await;
    }
}
