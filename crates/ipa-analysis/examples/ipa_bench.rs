//! Benchmark helper (see bench/ipa.sh and docs/BENCHMARKS.md).
//!
//! `ipa_bench build` builds testdata/ipa/bench-large.toml and prints its path;
//! `ipa_bench assess PATH [RUNS]` memory-maps the IPA and hashes it by streaming reads as `interdict assess` does, assesses it with risk
//! analysis RUNS times (default 5) and prints the fastest wall time and the peak RSS (VmHWM).

use std::time::Instant;

fn sha256_by_reads(path: &str) -> String {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path).expect("open");
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    format!("{:x}", h.finalize())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("build") => match ipa_fixtures::build("bench-large") {
            Ok(p) => println!("{}", p.display()),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        },
        Some("assess") if args.len() >= 3 => {
            let file = std::fs::File::open(&args[2]).expect("open");
            // SAFETY: read-only private mapping of a file nobody writes during the benchmark.
            let map = unsafe { memmap2::Mmap::map(&file) }.expect("mmap");
            let runs: usize = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(5);
            let opts = ipa_analysis::Options {
                risk: Some(ipa_analysis::RiskConfig::default()),
                ..Default::default()
            };
            let mut best = f64::MAX;
            for _ in 0..runs {
                let t = Instant::now();
                // As `interdict assess` does: the mapped file is hashed by streaming reads beside the parsing.
                let (r, _sha) = std::thread::scope(|s| {
                    let h = s.spawn(|| sha256_by_reads(&args[2]));
                    let file = ipa_analysis::report::FileInfo {
                        path: args[2].clone(),
                        size: map.len() as u64,
                        sha256: String::new(),
                    };
                    let r = ipa_analysis::assess_with_file(file, &map, &opts).expect("assess");
                    (r, h.join().expect("hash"))
                });
                best = best.min(t.elapsed().as_secs_f64());
                assert_eq!(r.binaries[0].slices.len(), 2);
            }
            let hwm = std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("VmHWM"))
                        .map(str::to_owned)
                })
                .unwrap_or_default();
            println!("best of {runs}: {best:.3} s; {hwm}");
        }
        _ => {
            eprintln!("usage: ipa_bench build | ipa_bench assess PATH [RUNS]");
            std::process::exit(2);
        }
    }
}
