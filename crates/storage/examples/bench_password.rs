//! Cost of local sign-in's password work: Argon2id hashing and verification with the server's
//! parameters, and the failure paths side by side (wrong password on a real account, unknown
//! account verified against the dummy hash, corrupt stored hash), which must cost the same so
//! that timing does not tell whether an account exists.
//!
//! cargo run --release -p storage --example bench_password -- [ROUNDS]

use std::time::{Duration, Instant};

type Case<'a> = (&'static str, Box<dyn FnMut() + 'a>);

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(rounds: usize, mut f: impl FnMut()) -> (Duration, Duration, Duration) {
    let mut v = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        f();
        v.push(t.elapsed());
    }
    let min = *v.iter().min().unwrap_or(&Duration::ZERO);
    let max = *v.iter().max().unwrap_or(&Duration::ZERO);
    (median(v), min, max)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(21);
    let pw = "a long passphrase here";
    let stored = storage::hash_password(pw)?;
    // Warm the dummy hash (made once per process).
    let _ = storage::verify_password(pw, None);
    let cases: [Case<'_>; 5] = [
        (
            "hash (new password)",
            Box::new(|| {
                let _ = storage::hash_password(pw);
            }),
        ),
        (
            "verify: right password",
            Box::new(|| {
                let _ = storage::verify_password(pw, Some(&stored));
            }),
        ),
        (
            "verify: wrong password",
            Box::new(|| {
                let _ = storage::verify_password("a wrong passphrase!", Some(&stored));
            }),
        ),
        (
            "verify: unknown account (dummy hash)",
            Box::new(|| {
                let _ = storage::verify_password(pw, None);
            }),
        ),
        (
            "verify: corrupt stored hash",
            Box::new(|| {
                let _ = storage::verify_password(pw, Some("$argon2id$garbage"));
            }),
        ),
    ];
    println!("| case | median | min | max |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, mut f) in cases {
        let (med, min, max) = time(rounds, &mut f);
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms |",
            med.as_secs_f64() * 1e3,
            min.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
    }
    Ok(())
}
