//! Issue 15's tamper-detection run at full size: 1,000 random cases per class (see
//! `tests/it/tamper.rs`) against a bundle written by the `audit_bundle` example (100,000
//! events, a checkpoint every 10,000), each checked by the real `interdict audit verify` with
//! the bundle's newest checkpoint as the earlier, trusted one.
//!
//! Usage: tamper_bench INTERDICT_BIN BUNDLE_DIR WORK_DIR [CASES] [SEED]
//! (bench/audit.sh runs it with WORK_DIR on tmpfs.)

#[allow(dead_code)]
#[path = "../tests/it/tamper.rs"]
mod tamper;

use std::collections::BTreeMap;
use std::path::PathBuf;

use audit_ledger::Signer;
use tamper::{run_case, Bundle, Outcome, Rng, CLASSES};

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let [bin, src, work, rest @ ..] = a.as_slice() else {
        anyhow::bail!("usage: tamper_bench INTERDICT_BIN BUNDLE_DIR WORK_DIR [CASES] [SEED]");
    };
    let cases: usize = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let seed: u64 = rest
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(0x5eed);
    let src = PathBuf::from(src);
    // The key audit_bundle signs with (a fixed seed: this is a benchmark, not a secret).
    let signer = Signer::from_seed("bench.example/audit", [42u8; 32])?;
    let trusted = std::fs::read_dir(src.join("checkpoints"))?
        .flatten()
        .map(|e| e.path())
        .max()
        .ok_or_else(|| anyhow::anyhow!("no checkpoint in {}", src.display()))?;
    let bundle = Bundle::read(&src);
    println!(
        "{} events, trusted checkpoint {}, {cases} cases per class, seed {seed:#x}",
        bundle.entries.len(),
        trusted.display()
    );
    let mut rng = Rng(seed | 1);
    let mut table: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    let started = std::time::Instant::now();
    for class in CLASSES {
        for case in 0..cases {
            let dir = PathBuf::from(work).join(format!("{}-{case}", class.replace('+', "_")));
            let r = run_case(bin, &src, &bundle, &dir, &trusted, &signer, class, &mut rng);
            let t = table.entry(class).or_default();
            match r {
                Ok(Outcome::Detected) => t.0 += 1,
                Ok(Outcome::NoOp) => t.1 += 1,
                Err(e) => {
                    t.2 += 1;
                    eprintln!("case {case}: {e}");
                }
            }
            std::fs::remove_dir_all(&dir)?;
        }
        eprintln!("{class}: done at {:.0} s", started.elapsed().as_secs_f64());
    }
    println!("| class | cases | detected | no-op edits (nothing changed) | missed |");
    println!("|---|---|---|---|---|");
    let mut missed = 0;
    for class in CLASSES {
        let (d, n, m) = table[class];
        missed += m;
        let pct = 100.0 * d as f64 / (d + m).max(1) as f64;
        println!("| {class} | {cases} | {d} ({pct:.1}% of real changes) | {n} | {m} |");
    }
    println!("total time {:.0} s", started.elapsed().as_secs_f64());
    if missed > 0 {
        anyhow::bail!("{missed} damaged bundles were not detected");
    }
    Ok(())
}
