//! Evaluation benchmark: 10,000 rules (exact, glob, signer and vendor matchers) against
//! 300-app inventories. `cargo run --release -p app-policy --example bench_eval`

use app_policy::*;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

fn hex(n: usize) -> String {
    format!("{n:064x}")
}

/// One timed pass: every device evaluated `rounds` times, each right after `touch` (untimed).
struct Pass {
    times: Vec<Duration>,
    findings: usize,
    touched: usize,
}

impl Pass {
    fn mean_us(&self) -> f64 {
        self.times.iter().sum::<Duration>().as_secs_f64() * 1e6 / self.times.len().max(1) as f64
    }

    fn median_us(&self) -> f64 {
        let mut t = self.times.clone();
        t.sort_unstable();
        t.get(t.len() / 2).map_or(0.0, |t| t.as_secs_f64() * 1e6)
    }
}

fn timed(
    cp: &CompiledPolicy<'_>,
    devices: &[DeviceInventory],
    at: Date,
    rounds: usize,
    touch: impl Fn(&DeviceInventory) -> usize,
) -> Pass {
    let mut pass = Pass {
        times: Vec::with_capacity(rounds * devices.len()),
        findings: 0,
        touched: 0,
    };
    for _ in 0..rounds {
        for d in devices {
            pass.touched = pass.touched.wrapping_add(touch(d));
            let t = Instant::now();
            let report = cp.evaluate(d, at);
            pass.times.push(t.elapsed());
            pass.findings = pass.findings.wrapping_add(report.findings.len());
        }
    }
    pass
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut s = String::from("[policy]\nname = \"bench\"\nmode = \"denylist\"\n");
    for v in 0..200 {
        let _ = write!(s, "[[vendors]]\nname = \"vendor{v}\"\napp_ids = [\"net.v{v}.main\"]\npackage_prefixes = [\"net.v{v}.\"]\nsigner_sha256 = [\"{}\"]\n", hex(1_000_000 + v));
    }
    for i in 0..10_000usize {
        let m = match i % 5 {
            0 | 1 => format!("app_ids = [\"com.exact{i}.app\"]"),
            2 => format!("app_ids = [\"org.glob{i}.*\"]"),
            3 => format!("signer_sha256 = [\"{}\"]", hex(i)),
            _ => format!("vendors = [\"vendor{}\"]", i % 200),
        };
        let _ = write!(s, "[[rules]]\nid = \"r{i}\"\naction = \"prohibit\"\n{m}\neffective = 2023-01-01\n[rules.scope]\ngroups = [\"gov\"]\n");
    }
    let t = Instant::now();
    let policy = parse_policy(&s, "bench.toml")?;
    let parse = t.elapsed();
    let t = Instant::now();
    let cp = CompiledPolicy::new(&policy)?;
    let compile = t.elapsed();

    // 1,000 devices of 300 apps each; about 1% of apps hit some rule.
    let devices: Vec<DeviceInventory> = (0..1000usize)
        .map(|d| DeviceInventory {
            device: Device {
                id: format!("d{d}"),
                platform: Platform::Android,
                groups: vec!["gov".into()],
                ownership: Ownership::Corporate,
            },
            apps: (0..300usize)
                .map(|a| {
                    let k = d.wrapping_mul(7919).wrapping_add(a.wrapping_mul(104_729));
                    let id = match k % 100 {
                        0 => format!("com.exact{}.app", (k / 100) % 10_000),
                        1 => format!("org.glob{}.tool", (k / 100) % 10_000),
                        2 => format!("net.v{}.helper", (k / 100) % 200),
                        _ => format!("com.benign{}.app{}", k % 5000, a),
                    };
                    App {
                        id,
                        version: Some("1.0".into()),
                        version_code: Some(1),
                        signers: vec![hex(if k % 100 == 3 {
                            (k / 100) % 10_000
                        } else {
                            50_000 + k % 20_000
                        })],
                        installer: Some("com.android.vending".into()),
                        publisher: None,
                    }
                })
                .collect(),
        })
        .collect();
    let at = Date::parse("2024-01-01")?;
    // Warm up, then measure.
    let mut violations = 0usize;
    for d in devices.iter().take(50) {
        violations = violations.wrapping_add(cp.evaluate(d, at).findings.len());
    }
    let rounds = 5;
    let t = Instant::now();
    let mut findings = 0usize;
    for _ in 0..rounds {
        for d in &devices {
            findings = findings.wrapping_add(cp.evaluate(d, at).findings.len());
        }
    }
    let per_device = t.elapsed().as_secs_f64() * 1e6 / (rounds * devices.len()) as f64;
    let cold = timed(&cp, &devices, at, rounds, |_| 0);

    // A server evaluates an inventory it has just deserialised, so it is in cache: measure that
    // too, by touching each device's data right before evaluating it. "Just read" (the measure
    // since the first version) reads the app records and signer lists, not the bytes of the ids
    // and digests, which stay a cache miss each; "strings in cache" reads those bytes too.
    let just_read = timed(&cp, &devices, at, rounds, |d| {
        d.apps
            .iter()
            .map(|a| a.id.len() + a.signers.iter().map(String::len).sum::<usize>())
            .sum()
    });
    let strings = timed(&cp, &devices, at, rounds, |d| {
        let bytes = |s: &String| s.bytes().map(usize::from).sum::<usize>();
        d.apps
            .iter()
            .map(|a| bytes(&a.id) + a.signers.iter().map(bytes).sum::<usize>())
            .sum()
    });
    for pass in [&cold, &just_read, &strings] {
        findings = findings.wrapping_add(pass.findings);
    }
    println!(
        "rules: {}, vendors: {}, apps/device: 300, devices: {}, rounds: {rounds}",
        policy.rules.len(),
        policy.vendors.len(),
        devices.len()
    );
    println!(
        "parse: {:.1} ms, compile: {:.1} ms",
        parse.as_secs_f64() * 1e3,
        compile.as_secs_f64() * 1e3
    );
    // Four timed passes over every device.
    println!(
        "findings/device: {:.1} (warm-up {violations})",
        findings as f64 / (4 * rounds * devices.len()) as f64
    );
    println!("evaluate (inventories cold in cache): {per_device:.2} µs/device");
    println!(
        "evaluate (inventory just read, as in a check-in): {:.2} µs/device (touched {} bytes)",
        just_read.mean_us(),
        just_read.touched
    );
    println!(
        "evaluate (strings in cache too): {:.2} µs/device",
        strings.mean_us()
    );
    // On a shared machine the mean includes the devices during which this thread was
    // preempted; the median mostly does not.
    println!(
        "per-device median: cold {:.2} µs, just read {:.2} µs, strings in cache {:.2} µs",
        cold.median_us(),
        just_read.median_us(),
        strings.median_us()
    );
    Ok(())
}
