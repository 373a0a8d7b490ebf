//! What chain verification adds to one assessment: building the Apple trust store (parsing the bundled
//! certificates) and verifying a real Apple-issued leaf up to its root.
//! Usage: `cargo run --release -p macho --example trust_bench [RUNS]`.

use std::time::Instant;

use macho::cms::certificate_from_der;
use macho::trust::{build_chain, TrustStore};

fn main() {
    let runs: u32 = std::env::args()
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/apple-certs");
    let mut leaves = Vec::new();
    for e in std::fs::read_dir(&dir)
        .expect("testdata/apple-certs")
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "cer") {
            let der = std::fs::read(e.path()).expect("read");
            leaves.push(certificate_from_der(&der).expect("parse"));
        }
    }
    let t = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(TrustStore::apple());
    }
    let store_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(runs);
    let store = TrustStore::apple();
    let t = Instant::now();
    for _ in 0..runs {
        for l in &leaves {
            let v = build_chain(l, &[], &store);
            assert!(v.verified());
        }
    }
    let chain_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(runs) / leaves.len() as f64;
    println!(
        "TrustStore::apple(): {store_us:.0} µs; build_chain (leaf -> WWDR/Developer ID -> root, 2 RSA verifications): {chain_us:.0} µs per leaf ({} leaves, {runs} runs)",
        leaves.len()
    );
}
