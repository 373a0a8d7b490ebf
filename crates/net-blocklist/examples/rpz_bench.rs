//! Benchmark: build and render an RPZ zone (and the other exports) for 100,000 names.
//! Run: `cargo run --release -p net-blocklist --example rpz_bench`.

use std::time::Instant;

use net_blocklist::{render, Blocklist, Candidate, Format, Meta, NeverBlock};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let cands: Vec<Candidate> = (0..n)
        .map(|i| Candidate {
            name: format!("Host{i}.Vendor{}.example.", i % 5000),
            source: "bench".into(),
            location: format!("bench:{i}"),
        })
        .collect();
    let never = NeverBlock::shipped();
    let t = Instant::now();
    let list = match Blocklist::build(&cands, &never) {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    };
    let build = t.elapsed();
    let meta = Meta::new("bench", 1, "2026-12-03T04:00:00.000Z");
    let t = Instant::now();
    let zone = render(&list, Format::Rpz, &meta);
    let rpz = t.elapsed();
    println!(
        "{n} names: normalise + never-block + collapse {:.0} ms; render RPZ {:.0} ms ({} entries, {:.1} MB); total {:.0} ms",
        build.as_secs_f64() * 1e3,
        rpz.as_secs_f64() * 1e3,
        list.entries.len(),
        zone.len() as f64 / 1e6,
        (build + rpz).as_secs_f64() * 1e3
    );
    for f in Format::ALL {
        let t = Instant::now();
        let s = render(&list, f, &meta);
        println!(
            "  {:9} {:6.0} ms {:7.1} MB",
            f.name(),
            t.elapsed().as_secs_f64() * 1e3,
            s.len() as f64 / 1e6
        );
    }
}
