//! Builds a large fleet database and times the compliance read models on it.
//!
//! ```text
//! cargo run --release -p storage --example bench_exposure -- [DATABASE_URL] [DEVICES] [APPS]
//! ```
//!
//! With no URL, a SQLite database in `./bench-exposure-data` (reused when it already holds the
//! fleet). DEVICES (default 1,000,000) each hold APPS (default 10) ordinary apps; one device in
//! 20 also holds WeChat (an open finding under `ca-2023-10-wechat`, one in five of those under
//! an exception) and one in 100 holds TikTok, a third of which was removed later (resolved
//! findings, for the burn-down). Rows are written with multi-row INSERTs in the schema the
//! server's migrations create, then each query runs 5 times; the median is printed.

use std::time::Instant;

use sqlx::{AnyPool, Executor};
use storage::{ExposureScope, Store};

const DAY: i64 = 86_400_000;

fn arg(n: usize) -> Option<String> {
    std::env::args().nth(n)
}

async fn populate(url: &str, devices: i64, apps: i64) -> Result<(), Box<dyn std::error::Error>> {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(url).await?;
    let have: i64 = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM devices")
        .fetch_one(&pool)
        .await?;
    if have >= devices {
        println!("reusing the database: {have} devices");
        return Ok(());
    }
    let t = Instant::now();
    let start: i64 = 1_696_118_400_000; // 2023-10-01
    let block = 10_000;
    let mut next = have;
    while next < devices {
        let end = (next + block).min(devices);
        let (mut devs, mut inst, mut finds) = (Vec::new(), Vec::new(), Vec::new());
        for i in next..end {
            let id = format!("dev_{i:08}");
            let seen = start + (i % 60) * DAY;
            devs.push(format!(
                "('{id}', 'tok_{i:08}', 'device {i}', 'android', 'SER{i}', 'corporate', \
                 '[\"government-issued\"]', {start}, {seen}, NULL, 1, 0, 0, 1, 3, 3, NULL)"
            ));
            for a in 0..apps {
                inst.push(format!(
                    "('{id}', 'org.example.app{}', '1.0', {start}, {seen}, NULL)",
                    (i * 7 + a) % 5000
                ));
            }
            if i % 20 == 0 {
                inst.push(format!(
                    "('{id}', 'com.tencent.mm', '8.0', {start}, {seen}, NULL)"
                ));
                let (status, exc, until) = if i % 100 == 0 {
                    ("excepted", format!("'exc_{i}'"), "'2099-01-01'")
                } else {
                    ("violation", "NULL".into(), "NULL")
                };
                finds.push(format!(
                    "('{id}', 'ca-2023-10-wechat', 'com.tencent.mm', {}, NULL, '{status}', \
                     '2023-10-30', 'uninstall', {exc}, {until})",
                    start + (i % 30) * DAY
                ));
            }
            if i % 100 == 1 {
                let resolved = if i % 300 == 1 {
                    format!("{}", start + (40 + i % 20) * DAY)
                } else {
                    "NULL".into()
                };
                finds.push(format!(
                    "('{id}', 'ca-2023-02-tiktok', 'com.zhiliaoapp.musically', {start}, \
                     {resolved}, 'violation', '2023-02-28', 'uninstall', NULL, NULL)"
                ));
            }
        }
        let mut tx = pool.begin().await?;
        for (head, rows) in [
            (
                "INSERT INTO devices (id, token_hash, name, platform, serial, ownership, \
                 groups_json, enrolled_at, last_seen, revoked_at, compliant, overdue, in_grace, \
                 policy_version, checkins, last_seq, findings_hash)",
                &devs,
            ),
            (
                "INSERT INTO installs (device_id, app_id, version, first_seen, last_seen, \
                 removed_at)",
                &inst,
            ),
            (
                "INSERT INTO findings (device_id, rule, app_id, opened_at, resolved_at, status, \
                 deadline, remedy, exception_id, excepted_until)",
                &finds,
            ),
        ] {
            for chunk in rows.chunks(500) {
                let sql = format!("{head} VALUES {}", chunk.join(","));
                tx.execute(sql.as_str()).await?;
            }
        }
        tx.commit().await?;
        next = end;
        eprint!("\rpopulated {next}/{devices} devices");
    }
    eprintln!();
    pool.execute("ANALYZE").await?;
    println!("populated in {:.1} s", t.elapsed().as_secs_f64());
    pool.close().await;
    Ok(())
}

async fn time<T, F, Fut>(label: &str, mut f: F) -> Result<(), Box<dyn std::error::Error>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = storage::Result<T>>,
    T: Measure,
{
    let mut ms = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let v = f().await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        size = v.size();
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "{label:<58} {:>9.1} ms median ({:.1}-{:.1}), {size} rows",
        ms[2], ms[0], ms[4]
    );
    Ok(())
}

trait Measure {
    fn size(&self) -> usize;
}
impl<T> Measure for Vec<T> {
    fn size(&self) -> usize {
        self.len()
    }
}
impl Measure for storage::ComplianceSummary {
    fn size(&self) -> usize {
        1
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = arg(1).filter(|s| !s.is_empty()).unwrap_or_else(|| {
        let dir = std::path::PathBuf::from("bench-exposure-data");
        let _ = std::fs::create_dir_all(&dir);
        Store::sqlite_url(&dir)
    });
    let devices: i64 = arg(2).map(|s| s.parse()).transpose()?.unwrap_or(1_000_000);
    let apps: i64 = arg(3).map(|s| s.parse()).transpose()?.unwrap_or(10);
    // The server's own migrations create the schema.
    Store::connect(&url).await?.close().await;
    populate(&url, devices, apps).await?;
    let store = Store::connect(&url).await?;
    let today = storage::today();
    let wechat = ExposureScope::Rule("ca-2023-10-wechat");
    time("exposure ca-2023-10-wechat, first page (1,000)", || {
        store.exposures(wechat, &today, None, 1000)
    })
    .await?;
    time("exposure ca-2023-10-wechat, every device", || {
        store.exposures(wechat, &today, None, 1_000_000)
    })
    .await?;
    time("per-rule summary (every rule)", || {
        store.rule_summaries(&today)
    })
    .await?;
    time("fleet compliance summary", || store.compliance_summary()).await?;
    let now = storage::now_ms();
    let zone = storage::Zone::utc();
    let last = zone.day_of(now);
    let first = app_policy::Date::from_days_since_epoch(i64::from(last.days_since_epoch()) - 399);
    let days = storage::series_days(first, last, 400);
    time("burn-down ca-2023-02-tiktok, 400 daily points", || {
        store.rule_series("ca-2023-02-tiktok", &zone, &days, now)
    })
    .await?;
    time("burn-down ca-2023-10-wechat, 400 daily points", || {
        store.rule_series("ca-2023-10-wechat", &zone, &days, now)
    })
    .await?;
    time("device detail (installs, findings, results)", || async {
        store.device_detail("dev_00000020").await.map(|d| vec![d])
    })
    .await?;
    let non_compliant = storage::DeviceFilter {
        compliant: Some(false),
        ..Default::default()
    };
    time("devices list, non-compliant, first 100", || {
        store.list_devices(&non_compliant)
    })
    .await?;
    time("exposure by app id (installs) com.tencent.mm", || {
        store.exposure("com.tencent.mm")
    })
    .await?;
    store.close().await;
    Ok(())
}
