//! Verifies APK signatures and prints the report; with `--iters N`, times N runs (read + parse +
//! verify, from the page cache) and prints the median wall time and throughput.
//!
//! Usage: `bench_verify APK [--min N] [--max N] [--iters N]`

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let (mut min, mut max, mut iters) = (1u32, apk_signature::LATEST, 0usize);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--min" => min = args.next().ok_or("--min needs a value")?.parse()?,
            "--max" => max = args.next().ok_or("--max needs a value")?.parse()?,
            "--iters" => iters = args.next().ok_or("--iters needs a value")?.parse()?,
            _ => path = Some(a),
        }
    }
    let path = path.ok_or("usage: bench_verify APK [--min N] [--max N] [--iters N]")?;
    let run = || -> Result<apk_signature::SigningReport, Box<dyn std::error::Error>> {
        let data = std::fs::read(&path)?;
        let archive = apk_zip::Archive::parse(&data, apk_zip::Limits::default())?;
        Ok(apk_signature::verify(&archive, min, max))
    };
    if iters == 0 {
        let rep = run()?;
        println!("verified: {}", rep.verified);
        println!("summary: {}", rep.summary_line());
        for e in &rep.errors {
            println!("ERROR: {}: {}", e.code, e.message);
        }
        for (name, s) in [
            ("v1", &rep.v1),
            ("v2", &rep.v2),
            ("v3", &rep.v3),
            ("v31", &rep.v31),
        ] {
            let codes: Vec<&str> = s.errors.iter().map(|e| e.code.as_str()).collect();
            println!(
                "{name}: present={} evaluated={} checked={} verified={} errors={codes:?}",
                s.present, s.evaluated, s.checked, s.verified
            );
        }
        for s in &rep.signers {
            println!(
                "signer {}: {} {} {} {}-bit sha256={}",
                s.scheme.as_str(),
                s.cert.subject,
                s.cert.serial,
                s.cert.key_algorithm,
                s.cert.key_bits,
                s.cert.sha256
            );
        }
        for l in &rep.lineage {
            println!(
                "lineage: {} sha256={} flags={:#x}",
                l.cert.subject, l.cert.sha256, l.flags
            );
        }
        return Ok(());
    }
    let size = std::fs::metadata(&path)?.len() as f64;
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        let rep = run()?;
        times.push(t.elapsed().as_secs_f64());
        if !rep.verified {
            eprintln!("warning: the APK does not verify: {:?}", rep.errors);
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "median {:.1} ms over {iters} runs, {:.0} MB/s",
        median * 1e3,
        size / median / 1e6
    );
    Ok(())
}
