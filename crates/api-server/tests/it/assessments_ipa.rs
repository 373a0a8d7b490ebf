//! IPAs uploaded to `POST /api/v1/assessments` (sniffed by content) are assessed by `ipa-analysis`, stored
//! under their bundle id, and read back as `interdict.assessment/v1` reports with `"platform": "ios"`.

#![allow(clippy::unwrap_used)]

use api_server::storage::Role;
use serde_json::Value;

use crate::{backends, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipa_uploads_are_assessed_and_stored() {
    let (bytes, direct) = tokio::task::spawn_blocking(|| {
        let bytes = std::fs::read(ipa_fixtures::build("wechat").expect("fixture IPA")).unwrap();
        let direct = ipa_analysis::assess(
            "upload",
            &bytes,
            &ipa_analysis::Options {
                risk: Some(ipa_analysis::RiskConfig::default()),
                ..Default::default()
            },
        )
        .unwrap();
        (bytes, direct)
    })
    .await
    .unwrap();
    let verdict = direct.risk.as_ref().unwrap().verdict;
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        let analyst = app.token(Role::Analyst).await;
        let r = app
            .client
            .post(format!("{}/api/v1/assessments", app.base))
            .bearer_auth(&analyst)
            .header("content-type", "application/octet-stream")
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["app_id"], "com.tencent.xin");
        assert_eq!(v["version_name"], "8.0.74");
        assert_eq!(v["verdict"], verdict);
        let id = v["id"].as_str().unwrap();
        let got: Value = app
            .client
            .get(format!("{}/api/v1/assessments/{id}", app.base))
            .bearer_auth(&analyst)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let report = &got["report"];
        assert_eq!(report["schema"], "interdict.assessment/v1");
        assert_eq!(report["platform"], "ios");
        assert_eq!(report["vendor"]["matched_by"], "team_id");
        assert_eq!(report["bundle_ids"].as_array().unwrap().len(), 3);
    }
}
