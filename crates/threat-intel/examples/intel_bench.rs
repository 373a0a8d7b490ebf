//! Benchmark: import a 100,000-indicator STIX bundle, then match an app's endpoints
//! against the 100,000 indicators. Run: `cargo run --release -p threat-intel --example intel_bench`.

use std::time::Instant;

use threat_intel::{import_stix, IntelSet, Limits, Observable};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let mut objects = Vec::with_capacity(n);
    for i in 0..n {
        let pattern = match i % 4 {
            0 => format!("[domain-name:value = 'c2-{i}.bad.example']"),
            1 => format!("[url:value = 'http://host{i}.bad.example/p']"),
            2 => format!("[ipv4-addr:value = '10.{}.{}.{}']", (i >> 16) & 255, (i >> 8) & 255, i & 255),
            _ => format!("[domain-name:value LIKE '%.zone{i}.bad.example' OR domain-name:value = 'zone{i}.bad.example']"),
        };
        objects.push(serde_json::json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--{:08x}-0000-4000-8000-{:012x}", i, i),
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
            "pattern": pattern, "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z", "confidence": 80
        }));
    }
    let bundle = serde_json::to_vec(
        &serde_json::json!({"type": "bundle", "id": "bundle--1", "objects": objects}),
    )
    .unwrap_or_default();
    println!(
        "bundle: {} indicators, {:.1} MB",
        n,
        bundle.len() as f64 / 1e6
    );

    let t = Instant::now();
    let imp = match import_stix(&bundle, "bench", Limits::default()) {
        Ok(i) => i,
        Err(e) => panic!("{e}"),
    };
    let import = t.elapsed();
    println!(
        "import (parse + validate every pattern): {:.0} ms, {} imported",
        import.as_secs_f64() * 1e3,
        imp.report.imported
    );

    let t = Instant::now();
    let set = IntelSet::new(imp.indicators);
    println!("compile index: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);

    // An app with 200 endpoints (a large real app has tens to a few hundred), 3 of them bad.
    let mut obs = Vec::new();
    for i in 0..200 {
        let host = match i {
            0 => "c2-400.bad.example".to_string(),
            1 => "deep.zone7.bad.example".to_string(),
            2 => "10.0.1.2".to_string(),
            _ => format!("api{i}.cdn.example.com"),
        };
        obs.extend(Observable::endpoint(
            &format!("https://{host}/v1/x"),
            &host,
            "classes.dex",
        ));
    }
    let runs = 200;
    let t = Instant::now();
    let mut found = 0;
    for _ in 0..runs {
        found = set.matches(&obs, 1_800_000_000_000).len();
    }
    let per = t.elapsed().as_secs_f64() * 1e3 / f64::from(runs);
    println!("match 200 endpoints against {n} indicators: {per:.3} ms per app ({found} matches)");
}
