//! Timing probe: `cargo run --release --example parse_time -- file.apk`.
fn main() {
    let path = std::env::args().nth(1).expect("usage: parse_time FILE");
    let data = std::fs::read(path).expect("read");
    let mut best = std::time::Duration::MAX;
    for _ in 0..10 {
        let t = std::time::Instant::now();
        let a = apk_zip::Archive::parse(&data, apk_zip::Limits::default()).expect("parse");
        best = best.min(t.elapsed());
        drop(a);
    }
    let a = apk_zip::Archive::parse(&data, apk_zip::Limits::default()).expect("parse");
    let t = std::time::Instant::now();
    let n: usize = a
        .entries()
        .iter()
        .map(|e| a.read(e).map_or(0, |b| b.len()))
        .sum();
    println!(
        "{} entries, parse {:?} (best of 10), read all {:?} ({n} bytes), {} anomalies",
        a.entries().len(),
        best,
        t.elapsed(),
        a.anomalies().len()
    );
}
