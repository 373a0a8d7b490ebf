//! Threat intelligence on the server: a STIX bundle naming a host that an uploaded APK
//! contacts is matched against the stored assessment, and the server lists the devices
//! holding that app, whichever of the two arrived first; the network export is served with
//! its ETag and policy version.

use serde_json::{json, Value};

use crate::{apps, backends, TestApp, CANADA};

fn bundle(host: &str) -> String {
    json!({"type": "bundle", "id": "bundle--0b1f6c36-8d1b-4c5c-9d5b-3d0f5a1e2c11", "objects": [
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--a932fcc6-e032-476c-826f-cb970a5a1ade",
         "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
         "name": "C2 host", "pattern": format!("[domain-name:value = '{host}']"), "pattern_type": "stix",
         "valid_from": "2024-01-01T00:00:00Z", "confidence": 90},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--11111111-e032-476c-826f-cb970a5a1ade",
         "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
         "pattern": "[file:name = 'x.exe']", "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"}
    ]})
    .to_string()
}

async fn post_raw(app: &TestApp, path: &str, token: &str, body: Vec<u8>) -> (u16, Value) {
    let r = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_intel_lists_the_apps_and_devices_that_newly_match() {
    let apk = tokio::task::spawn_blocking(|| {
        std::fs::read(apk_fixtures::fixture("risk_hostile_strings")).expect("fixture")
    })
    .await
    .expect("fixture task");
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        app.publish(CANADA).await;
        let analyst = app.token(api_server::storage::Role::Analyst).await;
        let (holder, token) = app.enroll("holder").await;
        let (_other, token2) = app.enroll("other").await;
        let (s, v) = app
            .checkin(
                &token,
                json!({"inventory": apps(&["com.example.hostile", "org.example.ok"]), "seq": 1}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = app
            .checkin(
                &token2,
                json!({"inventory": apps(&["org.example.ok"]), "seq": 1}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = post_raw(&app, "/api/v1/assessments", &analyst, apk.clone()).await;
        assert_eq!(s, 201, "{v}");
        let asm = v["id"].as_str().expect("id").to_string();

        // An unrelated host: nothing matches.
        let (s, v) = post_raw(
            &app,
            "/api/v1/intel",
            &analyst,
            bundle("unrelated.example.org").into_bytes(),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["new_matches"], json!([]));
        assert_eq!(v["report"]["skipped"]["unsupported:path:file:name"], 1);

        // The host the APK contacts (written differently): the app and its device are listed.
        let (s, v) = post_raw(
            &app,
            "/api/v1/intel",
            &analyst,
            bundle("EVIL.example.com.").into_bytes(),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let nm = v["new_matches"].as_array().expect("new_matches");
        assert_eq!(nm.len(), 1, "{v}");
        assert_eq!(nm[0]["assessment_id"], asm);
        assert_eq!(nm[0]["app_id"], "com.example.hostile");
        assert_eq!(nm[0]["devices"], json!([holder]));
        let m = &nm[0]["matches"][0];
        assert_eq!(
            m["indicator"],
            "indicator--a932fcc6-e032-476c-826f-cb970a5a1ade"
        );
        assert!(
            m["value"].as_str().unwrap().contains("evil.example.com"),
            "{m}"
        );
        assert!(m["location"].as_str().is_some_and(|l| !l.is_empty()));

        // The same intel again: nothing new; the match stays listed.
        let (s, v) = post_raw(
            &app,
            "/api/v1/intel",
            &analyst,
            bundle("evil.example.com").into_bytes(),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["new_matches"], json!([]));
        let (s, v) = app.get("/api/v1/intel/matches", &analyst).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["apps"][0]["devices"], json!([holder]));

        // Garbage is refused whole.
        let (s, v) = post_raw(
            &app,
            "/api/v1/intel",
            &analyst,
            b"{\"type\":\"bundle\",\"objects\":[".to_vec(),
        )
        .await;
        assert_eq!(s, 422, "{v}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_after_the_intel_is_matched_too() {
    let apk = tokio::task::spawn_blocking(|| {
        std::fs::read(apk_fixtures::fixture("risk_hostile_strings")).expect("fixture")
    })
    .await
    .expect("fixture task");
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        app.publish(CANADA).await;
        let analyst = app.token(api_server::storage::Role::Analyst).await;
        let (holder, token) = app.enroll("holder").await;
        let (s, v) = app
            .checkin(
                &token,
                json!({"inventory": apps(&["com.example.hostile"]), "seq": 1}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        // The intel first: no assessment yet, nothing matches.
        let (s, v) = post_raw(
            &app,
            "/api/v1/intel",
            &analyst,
            bundle("evil.example.com").into_bytes(),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["new_matches"], json!([]));
        let (s, v) = app.get("/api/v1/intel/matches", &analyst).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["apps"], json!([]));

        // Then the APK that contacts the host: matched on upload, listed with its device.
        let (s, v) = post_raw(&app, "/api/v1/assessments", &analyst, apk.clone()).await;
        assert_eq!(s, 201, "{v}");
        let asm = v["id"].as_str().expect("id").to_string();
        let (s, v) = app.get("/api/v1/intel/matches", &analyst).await;
        assert_eq!(s, 200, "{v}");
        let listed = v["apps"].as_array().expect("apps");
        assert_eq!(listed.len(), 1, "{v}");
        assert_eq!(listed[0]["assessment_id"], asm);
        assert_eq!(listed[0]["app_id"], "com.example.hostile");
        assert_eq!(listed[0]["devices"], json!([holder]));
        let matched = listed[0]["matches"].as_array().expect("matches").clone();
        assert!(!matched.is_empty(), "{v}");
        assert!(
            matched
                .iter()
                .all(|m| m["indicator"] == "indicator--a932fcc6-e032-476c-826f-cb970a5a1ade"),
            "{v}"
        );

        // The same upload again and the same intel again: nothing new, the same matches.
        let (s, v) = post_raw(&app, "/api/v1/assessments", &analyst, apk.clone()).await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = post_raw(
            &app,
            "/api/v1/intel",
            &analyst,
            bundle("evil.example.com").into_bytes(),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["new_matches"], json!([]));
        let (s, v) = app.get("/api/v1/intel/matches", &analyst).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["apps"].as_array().expect("apps").len(), 1, "{v}");
        assert_eq!(v["apps"][0]["matches"], json!(matched), "{v}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_export_has_etag_and_policy_version() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        let version = app.publish(CANADA).await;
        let viewer = app.token(api_server::storage::Role::Viewer).await;
        let get = |etag: Option<String>| {
            let mut rb = app
                .client
                .get(format!("{}/api/v1/export/network/rpz", app.base))
                .bearer_auth(&viewer);
            if let Some(e) = etag {
                rb = rb.header("if-none-match", e);
            }
            rb.send()
        };
        let r = get(None).await.expect("request");
        assert_eq!(r.status().as_u16(), 200);
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        assert_eq!(
            r.headers()["x-interdict-policy-version"].to_str().unwrap(),
            version.to_string()
        );
        let body = r.text().await.unwrap();
        assert!(
            body.contains(&format!("( {version} 3600")),
            "SOA serial is the policy version"
        );
        assert!(body.contains("\nwechat.com CNAME .\n*.wechat.com CNAME .\n"));
        assert!(body.contains("\nkaspersky.com CNAME .\n"));
        let r = get(Some(etag.clone())).await.expect("request");
        assert_eq!(r.status().as_u16(), 304);
        // Same content, same ETag.
        let r = get(None).await.expect("request");
        assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
        let (s, _) = app.get("/api/v1/export/network/bogus", &viewer).await;
        assert_eq!(s, 404);
        app.stop().await;
    }
}
