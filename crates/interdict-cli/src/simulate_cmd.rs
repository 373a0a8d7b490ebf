//! `interdict simulate`: enroll simulated devices and drive check-ins against a server.
//!
//! Most check-ins send the unchanged inventory's hash; some change the inventory; some
//! devices hold a prohibited app. Reports check-ins per second, latency p50/p99 and errors.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use app_policy::App;
use clap::Args;
use serde_json::{json, Value};

use crate::init_cmd::runtime;

/// Arguments of `interdict simulate`.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// Server base URL, e.g. http://127.0.0.1:8080 (loopback only in tests and benchmarks).
    #[arg(long)]
    server: String,
    /// Enrollment secret.
    #[arg(long)]
    enroll_secret: String,
    /// Number of simulated devices.
    #[arg(long, default_value_t = 100)]
    devices: usize,
    /// Apps per device.
    #[arg(long, default_value_t = 50)]
    apps_per_device: usize,
    /// How long to drive check-ins, seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Percent of check-ins that send a changed full inventory (the rest send the hash).
    #[arg(long, default_value_t = 10)]
    changed_percent: u32,
    /// Send the full inventory on every check-in (the "150-app inventories" benchmark).
    #[arg(long)]
    full_inventory: bool,
    /// Before timing, send every device's first (full) inventory, so the timed phase measures
    /// steady-state check-ins of an already-inventoried fleet.
    #[arg(long)]
    warmup: bool,
    /// Drive GET /api/v1/noop instead of check-ins (server overhead baseline).
    #[arg(long)]
    noop: bool,
    /// Print {"checkins", "checkins_per_s", "p50_ms", "p99_ms", "errors"} as JSON.
    #[arg(long)]
    json: bool,
}

struct SimDevice {
    token: String,
    apps: Vec<App>,
    seq: i64,
    /// The inventory hash the server last acknowledged (sent instead of an unchanged
    /// inventory, as a real agent does).
    hash: Option<String>,
}

fn app(id: String) -> App {
    App {
        id,
        version: Some("1.0".into()),
        version_code: Some(1),
        signers: Vec::new(),
        installer: Some("com.android.vending".into()),
        publisher: None,
    }
}

fn inventory(i: usize, m: usize) -> Vec<App> {
    let mut apps: Vec<App> = (0..m).map(|k| app(format!("com.example.app{k}"))).collect();
    // One device in 20 holds a prohibited app.
    if i.is_multiple_of(20) {
        if let Some(last) = apps.last_mut() {
            *last = app("com.tencent.mm".into());
        }
    }
    apps
}

pub(crate) fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(simulate(args))
}

async fn simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let base = args.server.trim_end_matches('/').to_string();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency.max(1))
        .timeout(Duration::from_secs(30))
        .build()?;
    let workers = args.concurrency.clamp(1, 4096);
    let bar = (!args.json).then(|| {
        let b = indicatif::ProgressBar::new(u64::try_from(args.devices).unwrap_or(u64::MAX));
        b.set_message("enrolling");
        b
    });
    // Enroll, `workers` at a time.
    let mut devices: Vec<SimDevice> = Vec::with_capacity(args.devices);
    let mut next = 0usize;
    while next < args.devices {
        let end = next.saturating_add(workers).min(args.devices);
        let mut set = tokio::task::JoinSet::new();
        for i in next..end {
            let client = client.clone();
            let base = base.clone();
            let secret = args.enroll_secret.clone();
            set.spawn(async move {
                let r = client
                    .post(format!("{base}/api/v1/enroll"))
                    .json(&json!({"enroll_secret": secret, "device": {
                        "name": format!("sim-{i}"), "platform": "android",
                        "serial": format!("SIM{i:08}"), "ownership": "corporate", "groups": ["government-issued", "sim"]}}))
                    .send()
                    .await?
                    .error_for_status()?;
                let v: Value = r.json().await?;
                let token = v["device_token"].as_str().unwrap_or_default().to_string();
                anyhow::Ok((i, token))
            });
        }
        let mut batch = Vec::new();
        while let Some(r) = set.join_next().await {
            batch.push(r.context("enroll task")?.context("enrolling a device")?);
        }
        batch.sort_by_key(|(i, _)| *i);
        for (i, token) in batch {
            devices.push(SimDevice {
                token,
                apps: inventory(i, args.apps_per_device),
                seq: 0,
                hash: None,
            });
        }
        next = end;
        if let Some(b) = &bar {
            b.set_position(u64::try_from(next).unwrap_or(u64::MAX));
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }

    // Drive check-ins: worker w owns devices w, w+workers, ...
    let bar = (!args.json).then(|| {
        let b = indicatif::ProgressBar::new(args.duration);
        b.set_message("check-ins");
        Arc::new(b)
    });
    let mut owned: Vec<Vec<SimDevice>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, d) in devices.into_iter().enumerate() {
        if let Some(slot) = owned.get_mut(i % workers) {
            slot.push(d);
        }
    }
    if args.warmup && !args.noop {
        let mut set = tokio::task::JoinSet::new();
        for mut mine in owned {
            let client = client.clone();
            let base = base.clone();
            set.spawn(async move {
                for d in &mut mine {
                    d.seq += 1;
                    let r = client
                        .post(format!("{base}/api/v1/checkin"))
                        .bearer_auth(&d.token)
                        .json(&json!({"inventory": {"apps": d.apps}, "seq": d.seq}))
                        .send()
                        .await;
                    d.hash = acknowledged_hash(r).await;
                }
                mine
            });
        }
        owned = Vec::with_capacity(workers);
        while let Some(r) = set.join_next().await {
            owned.push(r.context("warm-up task")?);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (w, mut mine) in owned.into_iter().enumerate() {
        let client = client.clone();
        let base = base.clone();
        let changed = args.changed_percent.min(100);
        let full = args.full_inventory;
        let noop = args.noop;
        set.spawn(async move {
            let mut lat: Vec<u32> = Vec::new();
            let mut errors = 0u64;
            let mut k: u64 = u64::try_from(w).unwrap_or(0);
            if mine.is_empty() && !noop {
                return (lat, errors);
            }
            let mut idx = 0usize;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let ok = if noop {
                    matches!(client.get(format!("{base}/api/v1/noop")).send().await,
                             Ok(r) if r.status().is_success())
                } else {
                    idx = (idx + 1) % mine.len();
                    let Some(d) = mine.get_mut(idx) else { break };
                    k = k
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let change = ((k >> 33) % 100) < u64::from(changed);
                    if change {
                        let n = (k >> 40) as usize;
                        let len = d.apps.len().max(1);
                        if let Some(a) = d.apps.get_mut(n % len) {
                            a.version = Some(format!("1.{}", k % 1000));
                        }
                    }
                    d.seq += 1;
                    let body = match &d.hash {
                        Some(h) if !full && !change => {
                            json!({"inventory_hash": h, "seq": d.seq})
                        }
                        _ => json!({"inventory": {"apps": d.apps}, "seq": d.seq}),
                    };
                    let r = client
                        .post(format!("{base}/api/v1/checkin"))
                        .bearer_auth(&d.token)
                        .json(&body)
                        .send()
                        .await;
                    d.hash = acknowledged_hash(r).await;
                    d.hash.is_some()
                };
                if ok {
                    let us = t0.elapsed().as_micros();
                    lat.push(u32::try_from(us).unwrap_or(u32::MAX));
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        });
    }
    let ticker = bar.clone().map(|b| {
        tokio::spawn(async move {
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(250)).await;
                b.set_position(started.elapsed().as_secs());
            }
        })
    });
    let mut lat: Vec<u32> = Vec::new();
    let mut errors = 0u64;
    while let Some(r) = set.join_next().await {
        let (l, e) = r.context("check-in task")?;
        lat.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    if let Some(t) = ticker {
        t.abort();
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    lat.sort_unstable();
    let pct = |p: usize| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = (lat.len().saturating_sub(1)).saturating_mul(p) / 100;
        f64::from(lat.get(i).copied().unwrap_or(0)) / 1000.0
    };
    let n = lat.len();
    let rate = n as f64 / elapsed;
    let (p50, p99) = (pct(50), pct(99));
    if args.json {
        println!(
            "{}",
            json!({"checkins": n, "checkins_per_s": (rate * 10.0).round() / 10.0,
                   "p50_ms": p50, "p99_ms": p99, "errors": errors})
        );
    } else {
        let what = if args.noop {
            "no-op requests"
        } else {
            "check-ins"
        };
        println!("{n} {what} in {elapsed:.1} s: {rate:.0}/s, p50 {p50:.2} ms, p99 {p99:.2} ms, {errors} errors");
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The `inventory_hash` of a successful check-in response (none on any failure, so the next
/// check-in sends the full inventory).
async fn acknowledged_hash(r: reqwest::Result<reqwest::Response>) -> Option<String> {
    let r = r.ok().filter(|r| r.status().is_success())?;
    let v: serde_json::Value = r.json().await.ok()?;
    v.get("inventory_hash")?.as_str().map(str::to_string)
}
