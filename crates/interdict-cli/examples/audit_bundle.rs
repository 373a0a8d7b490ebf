//! Writes a synthetic audit bundle of N events (canonical entries shaped like real
//! `device.enrolled` events, one signed checkpoint every 10,000 and one at the end) for the
//! `audit verify` benchmark (bench/audit.sh).
//!
//! Usage: cargo run --release -p interdict-cli --example audit_bundle -- OUT_DIR [N]

use std::io::Write;

use audit_ledger::{leaf_hash, Checkpoint, Frontier, Signer};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: audit_bundle OUT_DIR [N]"))?,
    );
    let n: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    std::fs::create_dir_all(out.join("checkpoints"))?;
    let signer = Signer::from_seed("bench.example/audit", [42u8; 32])?;
    std::fs::write(
        out.join("keys.pub"),
        format!("{}\n", signer.verifier().to_key_string()),
    )?;
    let mut entries = std::io::BufWriter::new(std::fs::File::create(out.join("entries.jsonl"))?);
    let mut leaves = std::io::BufWriter::new(std::fs::File::create(out.join("leaf-hashes.txt"))?);
    let mut fr = Frontier::new();
    let checkpoint = |fr: &Frontier| -> anyhow::Result<()> {
        let cp = Checkpoint {
            origin: signer.name().to_string(),
            size: fr.size(),
            root: fr.root(),
            extensions: vec![],
        };
        std::fs::write(
            out.join("checkpoints")
                .join(format!("{:020}.checkpoint", fr.size())),
            cp.sign(&signer)?,
        )?;
        Ok(())
    };
    for i in 0..n {
        let seq = i + 1;
        let e = storage::entry_bytes(
            seq as i64,
            1_796_000_000_000 + seq as i64,
            "enr_4ecd2a95ff2d6d2ed8f20ba3",
            "device.enrolled",
            &format!("dev_{seq:024x}"),
            &format!(
                "{{\"after\":{{\"groups\":[\"government-issued\"],\"name\":\"device-{seq}\",\"ownership\":\"corporate\",\"platform\":\"android\",\"serial\":\"SN{seq:010}\"}}}}"
            ),
        );
        entries.write_all(e.as_bytes())?;
        entries.write_all(b"\n")?;
        let h = leaf_hash(e.as_bytes());
        writeln!(leaves, "{}", storage::hash_hex(&h))?;
        fr.push(h);
        if fr.size().is_multiple_of(10_000) {
            checkpoint(&fr)?;
        }
    }
    checkpoint(&fr)?;
    entries.flush()?;
    leaves.flush()?;
    println!("wrote {n} entries to {}", out.display());
    Ok(())
}
