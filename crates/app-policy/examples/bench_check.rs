//! `policy check` cost on large hostile policies (issue 12, item 1):
//! `cargo run --release -p app-policy --example bench_check [RULES]`.
//! Prints, per policy shape, the source size, the parse time and the check time.

use std::time::Instant;

use app_policy::Date;

#[path = "../tests/it/bomb.rs"]
mod bomb;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    for shape in bomb::SHAPES {
        let src = bomb::policy(shape, n);
        let t = Instant::now();
        let p = match app_policy::parse_policy(&src, "bomb.toml") {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{shape}: {e}");
                continue;
            }
        };
        let parse = t.elapsed();
        let t = Instant::now();
        let d = app_policy::check(&p, Date::from_days_since_epoch(20_454));
        let check = t.elapsed();
        let t = Instant::now();
        let compiled = app_policy::CompiledPolicy::new(&p).is_ok();
        let compile = t.elapsed();
        println!(
            "{shape:<14} rules {n:>7}  {:>6.2} MB  parse {:>7.3} s  check {:>7.3} s  compile {:>7.3} s  ({} diagnostics, compiled {compiled})",
            src.len() as f64 / 1e6,
            parse.as_secs_f64(),
            check.as_secs_f64(),
            compile.as_secs_f64(),
            d.len()
        );
    }
}
