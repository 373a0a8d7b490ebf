//! Assessments: real fixture APKs (built by `apk-fixtures`) uploaded over HTTP, analysed,
//! stored, listed by verdict and app id, and read back; what the analyser refuses is refused.

use std::collections::BTreeSet;

use api_server::storage::Role;
use api_server::{Config, VERDICTS};
use serde_json::{json, Value};

use crate::{backends, TestApp};

const APK_TYPE: &str = "application/vnd.android.package-archive";

/// A fixture APK and what the analyser says of it when run directly, as the server runs it.
struct Fixture {
    bytes: Vec<u8>,
    sha256: String,
    package: String,
    version_name: Option<String>,
    version_code: Option<u64>,
    verdict: String,
    score: u32,
}

fn analyser_options() -> apk_analysis::Options {
    apk_analysis::Options {
        risk: Some(apk_analysis::risk::RiskConfig::default()),
        ..apk_analysis::Options::default()
    }
}

fn fixture(name: &str) -> Fixture {
    let bytes = std::fs::read(apk_fixtures::fixture(name)).expect("fixture APK");
    let a = apk_analysis::assess(name, &bytes, &analyser_options()).expect("assessable fixture");
    // The package the spec declares is the one the analyser reads.
    let manifest = apk_fixtures::fixture_spec(name).manifest;
    assert!(
        manifest.contains(&format!("package=\"{}\"", a.app.package)),
        "{name}: {}",
        a.app.package
    );
    let risk = a.risk.expect("risk analysis ran");
    Fixture {
        sha256: apk_analysis::sha256_hex(&bytes),
        bytes,
        package: a.app.package,
        version_name: a.app.version_name,
        version_code: a.app.version_code,
        verdict: risk.verdict.to_string(),
        score: risk.score,
    }
}

/// Builds (or reads from the cache) the fixtures off the async threads.
async fn fixtures(names: &[&'static str]) -> Vec<Fixture> {
    let names = names.to_vec();
    tokio::task::spawn_blocking(move || names.into_iter().map(fixture).collect())
        .await
        .expect("fixtures")
}

async fn upload(
    app: &TestApp,
    token: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut rb = app
        .client
        .post(format!("{}/api/v1/assessments", app.base))
        .bearer_auth(token)
        .body(body);
    if let Some(t) = content_type {
        rb = rb.header("content-type", t);
    }
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn ids(list: &Value) -> BTreeSet<String> {
    list["assessments"]
        .as_array()
        .expect("assessments")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_stored_listed_by_verdict_and_read_back() {
    // Risky (every capability), trackers, and the no-false-positive fixture.
    let fx = fixtures(&[
        "risk_capabilities",
        "risk_trackers_categories",
        "risk_benign",
    ])
    .await;
    let verdicts: BTreeSet<&str> = fx.iter().map(|f| f.verdict.as_str()).collect();
    assert_eq!(verdicts.len(), fx.len(), "fixtures need distinct verdicts");
    assert!(
        verdicts.iter().all(|v| VERDICTS.contains(v)),
        "{verdicts:?}"
    );
    assert_ne!(
        fx[0].verdict, VERDICTS[0],
        "the risky fixture is not the lowest verdict"
    );
    assert_eq!(
        fx[2].verdict, VERDICTS[0],
        "the benign fixture is the lowest verdict"
    );

    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        let (analyst_id, analyst) = app
            .store
            .create_api_token(Role::Analyst, "analyst", "test")
            .await
            .unwrap();
        let viewer = app.token(Role::Viewer).await;

        // A viewer may not upload.
        let (s, _) = upload(&app, &viewer, Some(APK_TYPE), fx[0].bytes.clone()).await;
        assert_eq!(s, 403);

        let mut stored = Vec::new();
        for f in &fx {
            let (s, v) = upload(&app, &analyst, Some(APK_TYPE), f.bytes.clone()).await;
            assert_eq!(s, 201, "{v}");
            assert_eq!(v["sha256"], f.sha256.as_str());
            assert_eq!(v["app_id"], f.package.as_str());
            assert_eq!(v["version_name"], json!(f.version_name));
            assert_eq!(v["version_code"], json!(f.version_code));
            assert_eq!(v["verdict"], f.verdict.as_str());
            assert_eq!(v["score"], f.score);
            assert_eq!(v["size"], f.bytes.len());
            assert_eq!(v["created_by"], analyst_id.as_str());
            assert!(v["created_at"].as_i64().unwrap() > 0);
            assert!(v.get("report").is_none(), "{v}");
            stored.push(v);
        }
        let id = |i: usize| stored[i]["id"].as_str().unwrap().to_string();

        // The same file again: the stored assessment, not a new one (any accepted type).
        let (s, again) = upload(
            &app,
            &analyst,
            Some("application/octet-stream; charset=binary"),
            fx[0].bytes.clone(),
        )
        .await;
        assert_eq!(s, 200, "{again}");
        assert_eq!(again, stored[0]);

        // By verdict: exactly the matching uploads.
        for verdict in VERDICTS {
            let (s, list) = app
                .get(&format!("/api/v1/assessments?verdict={verdict}"), &viewer)
                .await;
            assert_eq!(s, 200, "{list}");
            let want: BTreeSet<String> = (0..fx.len())
                .filter(|&i| fx[i].verdict == verdict)
                .map(id)
                .collect();
            assert_eq!(ids(&list), want, "{verdict}");
        }
        let (s, v) = app
            .get("/api/v1/assessments?verdict=dangerous", &viewer)
            .await;
        assert_eq!(s, 400, "{v}");
        assert!(v["error"].as_str().unwrap().contains("unacceptable"), "{v}");

        // By app id: the link from an app to its assessments.
        for (i, f) in fx.iter().enumerate() {
            let (_, list) = app
                .get(
                    &format!("/api/v1/assessments?app_id={}", f.package),
                    &viewer,
                )
                .await;
            assert_eq!(ids(&list), BTreeSet::from([id(i)]), "{}", f.package);
        }
        let (_, list) = app
            .get("/api/v1/assessments?app_id=org.example.none", &viewer)
            .await;
        assert_eq!(list["assessments"], json!([]));
        assert!(list["next_after"].is_null());

        // Newest first, paged by keyset: every assessment once, then an empty page.
        let (_, all) = app.get("/api/v1/assessments", &viewer).await;
        let times: Vec<i64> = all["assessments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["created_at"].as_i64().unwrap())
            .collect();
        assert_eq!(times.len(), fx.len());
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
        let mut paged = Vec::new();
        let mut path = "/api/v1/assessments?limit=1".to_string();
        loop {
            let (s, page) = app.get(&path, &viewer).await;
            assert_eq!(s, 200, "{page}");
            for a in page["assessments"].as_array().unwrap() {
                paged.push(a.clone());
            }
            match page["next_after"].as_str() {
                Some(after) => path = format!("/api/v1/assessments?limit=1&after={after}"),
                None => break,
            }
            assert!(paged.len() <= fx.len(), "paging does not end");
        }
        assert_eq!(json!(paged), all["assessments"]);
        let (s, _) = app
            .get("/api/v1/assessments?after=asm_nosuchassessment", &viewer)
            .await;
        assert_eq!(s, 400);

        // One assessment with its report, as the analyser wrote it.
        for (i, f) in fx.iter().enumerate() {
            let (s, one) = app
                .get(&format!("/api/v1/assessments/{}", id(i)), &viewer)
                .await;
            assert_eq!(s, 200, "{one}");
            let report = &one["report"];
            assert_eq!(report["schema"], apk_analysis::SCHEMA);
            assert_eq!(report["app"]["package"], f.package.as_str());
            assert_eq!(report["file"]["sha256"], f.sha256.as_str());
            assert_eq!(report["risk"]["verdict"], f.verdict.as_str());
            assert!(report["signing"].is_object(), "signatures were verified");
            let mut summary = one.clone();
            summary.as_object_mut().unwrap().remove("report");
            assert_eq!(summary, stored[i]);
        }
        let (s, _) = app.get("/api/v1/assessments/asm_missing", &viewer).await;
        assert_eq!(s, 404);

        // One `assessment.created` event per stored file (none for the repeated upload).
        let (_, e) = app.get("/api/v1/events?limit=1000", &app.admin).await;
        let created: Vec<&Value> = e["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "assessment.created")
            .collect();
        assert_eq!(created.len(), fx.len(), "{created:?}");
        for (i, (ev, f)) in created.iter().zip(&fx).enumerate() {
            assert_eq!(ev["actor"], analyst_id.as_str());
            assert_eq!(ev["subject"], id(i).as_str());
            assert_eq!(
                ev["body"],
                json!({"sha256": f.sha256, "app_id": f.package, "verdict": f.verdict})
            );
        }
        app.stop().await;
    }
}

/// Makes the first central directory entry claim a name longer than the directory, so the
/// analyser refuses the file and names the entry's offset.
fn break_central_directory(mut apk: Vec<u8>) -> (Vec<u8>, u64) {
    let eocd = apk
        .windows(4)
        .rposition(|w| w == b"PK\x05\x06")
        .expect("end of central directory");
    let cd = u32::from_le_bytes(apk[eocd + 16..eocd + 20].try_into().expect("4 bytes"));
    let at = cd as usize;
    assert_eq!(&apk[at..at + 4], b"PK\x01\x02");
    apk[at + 28..at + 30].copy_from_slice(&u16::MAX.to_le_bytes());
    (apk, u64::from(cd))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unassessable_uploads_are_refused_with_the_analysers_message() {
    let fx = fixtures(&["risk_benign"]).await;
    let (broken, cd_offset) = break_central_directory(fx[0].bytes.clone());
    let expected = apk_analysis::assess("x", &broken, &analyser_options())
        .expect_err("broken central directory");
    assert!(
        expected
            .to_string()
            .contains(&format!("offset {cd_offset}")),
        "{expected}"
    );
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        let analyst = app.token(Role::Analyst).await;

        let (s, v) = upload(&app, &analyst, Some(APK_TYPE), broken.clone()).await;
        assert_eq!(s, 422, "{v}");
        assert_eq!(v["error"], expected.to_string());
        assert_eq!(v["code"], expected.code());

        let (s, v) = upload(&app, &analyst, Some(APK_TYPE), b"hello, not a zip".to_vec()).await;
        assert_eq!(s, 422, "{v}");
        assert_eq!(v["code"], "not_a_zip");
        assert!(v["error"].as_str().unwrap().contains("not a ZIP"), "{v}");

        let (s, v) = upload(&app, &analyst, Some(APK_TYPE), Vec::new()).await;
        assert_eq!(s, 400, "{v}");
        let (s, v) = upload(&app, &analyst, Some("text/plain"), fx[0].bytes.clone()).await;
        assert_eq!(s, 415, "{v}");
        let (s, v) = upload(&app, &analyst, None, fx[0].bytes.clone()).await;
        assert_eq!(s, 415, "{v}");

        // Nothing was stored, nothing was logged.
        let (_, list) = app.get("/api/v1/assessments", &analyst).await;
        assert_eq!(list["assessments"], json!([]));
        let (_, e) = app.get("/api/v1/events?limit=1000", &app.admin).await;
        assert!(
            e["events"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["action"] != "assessment.created"),
            "{e}"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_limit_is_separate_from_the_json_limit() {
    let fx = fixtures(&["risk_benign"]).await;
    let apk = &fx[0].bytes;
    let max_body_bytes = 1024;
    assert!(apk.len() > max_body_bytes, "{}", apk.len());
    for (url, dir) in backends().await {
        let config = Config {
            max_body_bytes,
            max_upload_bytes: apk.len(),
            ..Config::default()
        };
        let app = TestApp::start_with(&url, dir, config).await;
        let analyst = app.token(Role::Analyst).await;
        // An APK above the JSON limit but within the upload limit is accepted...
        let (s, v) = upload(&app, &analyst, Some(APK_TYPE), apk.clone()).await;
        assert_eq!(s, 201, "{v}");
        // ...one byte over the upload limit is not...
        let mut bigger = apk.clone();
        bigger.push(0);
        let (s, _) = upload(&app, &analyst, Some(APK_TYPE), bigger).await;
        assert_eq!(s, 413);
        // ...and the JSON routes keep their own limit.
        let (s, _) = app
            .post(
                "/api/v1/exceptions",
                Some(&analyst),
                json!({"device_id": "d", "rule": "r", "justification": "j".repeat(2 * max_body_bytes),
                       "expires": crate::soon()}),
            )
            .await;
        assert_eq!(s, 413);
        app.stop().await;
    }
}

/// An upload is judged with the active policy's `jurisdictions_of_concern` (issue 14), as
/// `interdict assess --policy FILE` is: Tencent (CN) is of concern once the Canadian policy
/// (CN, RU) is active, and not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_judged_with_the_active_policys_jurisdictions() {
    let fx = fixtures(&["risk_vendor_wechat"]).await;
    // A fresh database each time: an upload of a known APK returns the stored assessment.
    for with_policy in [false, true] {
        for (url, dir) in backends().await {
            let app = TestApp::start(&url, dir).await;
            if with_policy {
                app.publish(crate::CANADA).await;
            }
            let analyst = app.token(Role::Analyst).await;
            let (s, row) = upload(&app, &analyst, Some(APK_TYPE), fx[0].bytes.clone()).await;
            assert_eq!(s, 201, "{row}");
            let id = row["id"].as_str().expect("id");
            let (s, one) = app
                .get(&format!("/api/v1/assessments/{id}"), &analyst)
                .await;
            assert_eq!(s, 200, "{one}");
            let vendor = &one["report"]["vendor"];
            assert_eq!(vendor["name"], "Tencent", "{vendor}");
            assert_eq!(vendor["of_concern"], with_policy, "{vendor}");
            let first = &one["report"]["risk"]["factors"][0]["id"];
            assert_eq!(first == "vendor_jurisdiction", with_policy, "{first}");
            app.stop().await;
        }
    }
}
