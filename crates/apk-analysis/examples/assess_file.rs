//! Assesses one APK the way `interdict assess` does (memory-mapped input, risk analysis, signatures),
//! and prints the report size, the wall time and the process's peak memory (VmHWM) to stderr: the
//! measuring tool behind the hostile-input and assess-memory figures in docs/BENCHMARKS.md.
//!
//! usage: cargo run --release -p apk-analysis --example assess_file -- FILE [--parse-only] [--include-strings]
//! `--parse-only` skips signatures and risk analysis and lists class names (androguard's work).

use std::time::Instant;

struct Counter(u64);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: assess_file FILE [--parse-only] [--include-strings]");
        return std::process::ExitCode::from(2);
    };
    let parse_only = args.iter().any(|a| a == "--parse-only");
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot open {path}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // SAFETY: the file is only read, and nothing else writes it while the benchmark runs.
    let map = match unsafe { memmap2::Mmap::map(&file) } {
        Ok(m) => m,
        Err(e) => {
            eprintln!("cannot map {path}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let options = apk_analysis::Options {
        include_strings: args.iter().any(|a| a == "--include-strings"),
        include_classes: parse_only,
        skip_signing: parse_only,
        risk: (!parse_only).then(apk_analysis::risk::RiskConfig::default),
        ..apk_analysis::Options::default()
    };
    let info = apk_analysis::FileInfo {
        path: path.clone(),
        size: map.len() as u64,
        sha256: String::new(),
    };
    let start = Instant::now();
    let result = apk_analysis::assess_with_file(info, &map, &options);
    // Streamed and counted, as the CLI streams the report to stdout (no whole-report buffer).
    let mut counter = Counter(0);
    if let Ok(r) = &result {
        let _ = serde_json::to_writer(&mut counter, r);
    }
    let json = counter.0;
    let elapsed = start.elapsed();
    eprintln!(
        "{path}: {} ms, peak RSS {} MiB, report {json} bytes{}",
        elapsed.as_millis(),
        peak_rss_kib() / 1024,
        match &result {
            Ok(_) => String::new(),
            Err(e) => format!(", error: {e}"),
        }
    );
    std::process::ExitCode::SUCCESS
}
