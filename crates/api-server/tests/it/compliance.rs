//! Compliance read models after real check-ins: per-rule exposure, the burn-down series, the
//! CSV exports, an exception expiring with no check-in, and device action results.

#![allow(clippy::unwrap_used)]

use api_server::storage::{day_of, now_ms, Role};
use serde_json::{json, Value};

use crate::{apps, backends, TestApp, CANADA};

const WECHAT: &str = "ca-2023-10-wechat";
const TIKTOK: &str = "ca-2023-02-tiktok";

fn devices(v: &Value) -> Vec<(String, String)> {
    v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["device_id"].as_str().unwrap().to_string(),
                d["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn summary_of<'a>(v: &'a Value, rule: &str) -> &'a Value {
    v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == rule)
        .unwrap_or(&Value::Null)
}

/// Moves a stored exception's end into the past, as the calendar would.
async fn age_exception(url: &str, device: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query("UPDATE findings SET excepted_until = '2020-01-01' WHERE device_id = $1")
        .bind(device)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// Sets when a device's finding under `rule` was opened and (if given) resolved.
async fn set_episode(url: &str, device: &str, rule: &str, opened: i64, resolved: Option<i64>) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query("UPDATE findings SET opened_at = $1 WHERE device_id = $2 AND rule = $3")
        .bind(opened)
        .bind(device)
        .bind(rule)
        .execute(&pool)
        .await
        .unwrap();
    if let Some(r) = resolved {
        sqlx::query(
            "UPDATE findings SET resolved_at = $1 WHERE device_id = $2 AND rule = $3 \
             AND resolved_at IS NOT NULL",
        )
        .bind(r)
        .bind(device)
        .bind(rule)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposure_series_and_exports_follow_the_checkins() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        app.publish(CANADA).await;
        let analyst = app.token(Role::Analyst).await;
        let approver = app.token(Role::Approver).await;
        let viewer = app.token(Role::Viewer).await;
        let (a, ta) = app.enroll("a").await;
        let (b, tb) = app.enroll("b").await;
        let (_c, tc) = app.enroll("c").await;

        let t0 = now_ms() - 1;
        let tiktok = "com.zhiliaoapp.musically";
        for (t, inv) in [
            (&ta, apps(&["com.tencent.mm", "org.ok"])),
            (&tb, apps(&["com.tencent.mm", tiktok])),
            (&tc, apps(&["org.ok"])),
        ] {
            let (s, v) = app.checkin(t, json!({ "inventory": inv })).await;
            assert_eq!(s, 200, "{v}");
        }

        let (s, v) = app
            .get(&format!("/api/v1/rules/{WECHAT}/exposure"), &viewer)
            .await;
        assert_eq!(s, 200, "{v}");
        let mut want = vec![
            (a.clone(), "violation".into()),
            (b.clone(), "violation".into()),
        ];
        want.sort();
        assert_eq!(devices(&v), want);
        let row = &v["devices"][0];
        assert_eq!(row["deadline"], "2023-10-30");
        assert_eq!(row["app_id"], "com.tencent.mm");
        assert!(row["installed_since"].as_i64().unwrap() >= t0, "{v}");
        assert!(row["flagged_since"].as_i64().unwrap() >= t0, "{v}");

        let (_, v) = app.get("/api/v1/compliance/rules", &viewer).await;
        assert_eq!(summary_of(&v, WECHAT)["exposed"], 2, "{v}");
        assert_eq!(summary_of(&v, WECHAT)["violation"], 2, "{v}");
        assert_eq!(summary_of(&v, TIKTOK)["exposed"], 1, "{v}");

        // Device a gets an exception: excepted, and compliant.
        let (s, e) = app
            .post(
                "/api/v1/exceptions",
                Some(&analyst),
                json!({"device_id": a, "rule": WECHAT, "app_id": "com.tencent.mm",
                       "justification": "lawful intercept test", "expires": crate::soon()}),
            )
            .await;
        assert_eq!(s, 200, "{e}");
        let eid = e["id"].as_str().unwrap();
        let (s, _) = app
            .post(
                &format!("/api/v1/exceptions/{eid}/approve"),
                Some(&approver),
                json!({}),
            )
            .await;
        assert_eq!(s, 200);
        let (_, v) = app
            .checkin(
                &ta,
                json!({"inventory": apps(&["com.tencent.mm", "org.ok"])}),
            )
            .await;
        assert_eq!(v["compliant"], true, "{v}");
        let (_, v) = app
            .get(&format!("/api/v1/rules/{WECHAT}/exposure"), &viewer)
            .await;
        let a_row = v["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["device_id"] == a.as_str())
            .unwrap();
        assert_eq!(a_row["status"], "excepted", "{v}");
        assert_eq!(a_row["exception_id"], eid);
        assert_eq!(a_row["excepted_until"], crate::soon().as_str());
        let (_, s1) = app.get("/api/v1/compliance", &viewer).await;
        assert_eq!(s1["non_compliant"], 1, "{s1}");

        // Device b removes WeChat (TikTok stays).
        let (_, v) = app
            .checkin(&tb, json!({"inventory": apps(&[tiktok])}))
            .await;
        assert_eq!(v["compliant"], false);
        let (_, v) = app
            .get(&format!("/api/v1/rules/{WECHAT}/exposure"), &viewer)
            .await;
        assert_eq!(devices(&v), vec![(a.clone(), "excepted".to_string())]);

        // The exception's last day passes: non-compliant at once, with no check-in.
        age_exception(&url, &a).await;
        let (_, s2) = app.get("/api/v1/compliance", &viewer).await;
        assert_eq!(s2["non_compliant"], 2, "{s2}");
        let (_, listed) = app.get("/api/v1/devices?compliant=false", &viewer).await;
        let ids: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&a.as_str()), "{listed}");
        let (_, v) = app
            .get(&format!("/api/v1/rules/{WECHAT}/exposure"), &viewer)
            .await;
        assert_eq!(devices(&v), vec![(a.clone(), "violation".to_string())]);

        // The burn-down, one point per day at the end of that day. Move the episodes into
        // the past as the calendar would: a holds WeChat from 2023-10-20 08:00 UTC on; b from
        // 2023-10-21 10:00 until its removal on 2023-10-23 at 15:00.
        let h = 3_600_000;
        let day =
            |d: &str| i64::from(app_policy::Date::parse(d).unwrap().days_since_epoch()) * 24 * h;
        set_episode(&url, &a, WECHAT, day("2023-10-20") + 8 * h, None).await;
        set_episode(
            &url,
            &b,
            WECHAT,
            day("2023-10-21") + 10 * h,
            Some(day("2023-10-23") + 15 * h),
        )
        .await;
        let series = |q: String| {
            let app = &app;
            let viewer = &viewer;
            async move {
                let (s, v) = app
                    .get(&format!("/api/v1/rules/{WECHAT}/series?{q}"), viewer)
                    .await;
                assert_eq!(s, 200, "{v}");
                v["points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        (
                            p["day"].as_str().unwrap().to_string(),
                            p["exposed"].as_i64().unwrap(),
                        )
                    })
                    .collect::<Vec<_>>()
            }
        };
        let week = series("from=2023-10-19&to=2023-10-25".into()).await;
        let want: Vec<(String, i64)> = [
            ("2023-10-19", 0),
            ("2023-10-20", 1),
            ("2023-10-21", 2),
            ("2023-10-22", 2),
            ("2023-10-23", 1),
            ("2023-10-24", 1),
            ("2023-10-25", 1),
        ]
        .iter()
        .map(|(d, n)| (d.to_string(), *n))
        .collect();
        assert_eq!(week, want);
        // Another range, and times given as Unix ms within those days: the same days, the
        // same counts.
        let two = series(format!(
            "from={}&to={}",
            day("2023-10-22") + 13 * h,
            day("2023-10-23") + h
        ))
        .await;
        assert_eq!(two, want[3..5].to_vec());
        // Fewer points than days keep whole days, with the counts of those days.
        let sparse = series("from=2023-10-01&to=2023-10-31&points=10".into()).await;
        assert!(sparse.len() <= 10, "{sparse:?}");
        for (d, n) in &sparse {
            if let Some((_, w)) = want.iter().find(|(wd, _)| wd == d) {
                assert_eq!(n, w, "{d}");
            }
        }
        let today = day_of(now_ms());
        let (s, v) = app
            .get(
                &format!("/api/v1/rules/{WECHAT}/series?from={today}&to={today}"),
                &viewer,
            )
            .await;
        assert_eq!(s, 200);
        assert_eq!(v["points"].as_array().unwrap().len(), 1, "{v}");
        assert_eq!(v["points"][0]["day"], today.as_str());
        assert_eq!(v["points"][0]["complete"], false, "{v}");
        assert_eq!(v["time_zone"], "UTC", "{v}");
        let (s, v) = app
            .get(
                &format!("/api/v1/rules/{WECHAT}/series?from=2024-13-01"),
                &viewer,
            )
            .await;
        assert_eq!(s, 422, "{v}");
        assert!(v["error"].as_str().unwrap().contains("from"), "{v}");

        // CSV exports: a header and one line per row.
        let (s, csv) = app
            .get(
                &format!("/api/v1/export/rules/{WECHAT}/exposure.csv"),
                &viewer,
            )
            .await;
        assert_eq!(s, 200);
        let lines: Vec<&str> = csv.as_str().unwrap().lines().collect();
        assert!(lines[0].starts_with("device_id,device_name,"), "{lines:?}");
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[1].contains(&format!("\"{a}\"")), "{lines:?}");
        let (_, csv) = app
            .get(
                &format!("/api/v1/export/rules/{WECHAT}/series.csv?from=2023-10-19&to=2023-10-25"),
                &viewer,
            )
            .await;
        let lines: Vec<&str> = csv.as_str().unwrap().lines().collect();
        assert_eq!(
            lines[0],
            "at_ms,day,exposed,violation,in_grace,excepted,review,complete"
        );
        assert_eq!(lines.len(), 8, "{lines:?}");
        assert!(lines[3].contains(",2023-10-21,2,"), "{lines:?}");
        let (_, csv) = app.get("/api/v1/export/compliance.csv", &viewer).await;
        let csv = csv.as_str().unwrap();
        assert!(
            csv.lines()
                .any(|l| l.starts_with(&format!("\"{TIKTOK}\",1,1,"))),
            "{csv}"
        );
        assert!(
            csv.lines().nth(1).unwrap().starts_with("\"*\",3,2,"),
            "{csv}"
        );

        // Revoking b ends its exposure: no longer counted anywhere, history kept.
        let (s, _) = app
            .post(
                &format!("/api/v1/devices/{b}/revoke"),
                Some(&app.admin),
                json!({}),
            )
            .await;
        assert_eq!(s, 200);
        let (_, v) = app
            .get(&format!("/api/v1/rules/{TIKTOK}/exposure"), &viewer)
            .await;
        assert_eq!(devices(&v), vec![]);
        let (_, s3) = app.get("/api/v1/compliance", &viewer).await;
        assert_eq!(
            (&s3["devices"], &s3["non_compliant"]),
            (&json!(2), &json!(1)),
            "{s3}"
        );
        let (_, v) = app.get("/api/v1/compliance/rules", &viewer).await;
        assert!(summary_of(&v, TIKTOK).is_null(), "{v}");
        assert_eq!(
            series("from=2023-10-19&to=2023-10-25".into()).await,
            want,
            "the past does not change"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_results_are_stored_once_and_shown_on_the_device() {
    for (url, dir) in backends().await {
        let app = TestApp::start(&url, dir).await;
        app.publish(CANADA).await;
        let (id, token) = app.enroll("r").await;
        let (_, v) = app
            .checkin(&token, json!({"inventory": apps(&["com.tencent.mm"])}))
            .await;
        let action = v["actions"][0].clone();
        let inv: Vec<app_policy::App> =
            serde_json::from_value(apps(&["com.tencent.mm"])["apps"].clone()).unwrap();
        assert_eq!(v["inventory_hash"], api_server::inventory_hash(&inv));
        let result = json!({"id": action["id"], "app_id": "com.tencent.mm", "kind": "uninstall",
            "status": "dry_run", "detail": "would run", "at_ms": 1_700_000_000_000_i64,
            "command": "adb -s X shell pm uninstall --user 0 com.tencent.mm"});
        for _ in 0..2 {
            let (s, v) = app
                .checkin(
                    &token,
                    json!({"inventory_hash": v["inventory_hash"], "action_results": [result]}),
                )
                .await;
            assert_eq!(s, 200, "{v}");
        }
        let (_, d) = app.get(&format!("/api/v1/devices/{id}"), &app.admin).await;
        let results = d["action_results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "{d}");
        assert_eq!(results[0]["status"], "dry_run");
        assert_eq!(results[0]["command"], result["command"]);
        assert!(results[0]["received_at"].is_i64());
        assert_eq!(d["findings"][0]["rule"], WECHAT, "{d}");

        let mut bad = result.clone();
        bad["status"] = json!("exploded");
        let (s, v) = app
            .checkin(
                &token,
                json!({"inventory": apps(&["com.tencent.mm"]), "action_results": [bad]}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        assert!(v["error"].as_str().unwrap().contains("status"), "{v}");

        let (_, e) = app.get("/api/v1/events?limit=1000", &app.admin).await;
        let n = e["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "device.action_result")
            .count();
        assert_eq!(n, 1);
        app.stop().await;
    }
}
