//! Inclusion-proof read time from a 10,000,000-leaf ledger in SQLite.
//!
//! The `ledger_nodes` table is filled in bulk with the tree of N synthetic leaves (every
//! complete subtree, exactly what N appends store; appending 10,000,000 events one by one
//! through the server would take hours on this machine), then `Store::ledger_inclusion_proof`
//! (the server's read path) is timed for random indexes and every proof is verified.
//!
//! Usage: cargo run --release -p storage --example ledger_proof_bench -- DIR [N] [PROOFS]

use std::time::Instant;

use audit_ledger::{leaf_hash, verify_inclusion, Frontier};
use sqlx::Executor;
use storage::Store;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(
        args.next()
            .ok_or("usage: ledger_proof_bench DIR [N] [PROOFS]")?,
    );
    let n: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000_000);
    let proofs: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1000);
    std::fs::create_dir_all(&dir)?;
    let url = Store::sqlite_url(&dir);
    let store = Store::connect(&url).await?;
    let have = store.ledger_size().await?;
    let mut fr = Frontier::new();
    if have as u64 != n {
        let t = Instant::now();
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await?;
        conn.execute("DELETE FROM ledger_nodes").await?;
        let mut rows: Vec<(u8, u64, String)> = Vec::new();
        let flush = |rows: &mut Vec<(u8, u64, String)>| {
            let mut sql = String::from("INSERT INTO ledger_nodes (level, idx, hash) VALUES ");
            for (i, (l, x, h)) in rows.iter().enumerate() {
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("({l},{x},'{h}')"));
            }
            rows.clear();
            sql
        };
        conn.execute("BEGIN").await?;
        for i in 0..n {
            fr.push_with(leaf_hash(&i.to_be_bytes()), |id, h| {
                rows.push((id.level, id.index, storage::hash_hex(h)))
            });
            if rows.len() >= 5000 {
                let sql = flush(&mut rows);
                conn.execute(sql.as_str()).await?;
            }
        }
        if !rows.is_empty() {
            let sql = flush(&mut rows);
            conn.execute(sql.as_str()).await?;
        }
        conn.execute("COMMIT").await?;
        println!("filled {n} leaves in {:.1} s", t.elapsed().as_secs_f64());
    } else {
        for i in 0..n {
            fr.push(leaf_hash(&i.to_be_bytes()));
        }
    }
    let root = store.ledger_root(n).await?;
    assert_eq!(root, fr.root(), "stored tree root");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut times = Vec::new();
    for _ in 0..proofs {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let index = x % n;
        let t = Instant::now();
        let p = store.ledger_inclusion_proof(index, n).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        verify_inclusion(index, n, &leaf_hash(&index.to_be_bytes()), &p, &root)?;
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let pct = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize];
    println!(
        "inclusion proof from a {n}-leaf ledger (SQLite), {proofs} random indexes, all verified: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}
