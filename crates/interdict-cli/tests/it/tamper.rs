//! The tamper classes of issue 15, shared by the CI test (`audit.rs`, a small log from a real
//! server) and the full-size run (`examples/tamper_bench.rs`: 1,000 cases per class on a
//! 100,000-event log, `bench/audit.sh`). Each case copies an exported bundle, damages it one
//! way, and then runs the real `interdict audit verify` against an earlier trusted checkpoint.

use std::path::Path;
use std::process::Command;

use audit_ledger::{leaf_hash, Checkpoint, Frontier, Signer};

/// The kinds of damage: change one byte of an event, delete one, swap two, insert one,
/// truncate the tail, rewrite a suffix and re-sign every checkpoint with the real key.
pub(crate) const CLASSES: [&str; 6] = [
    "byte",
    "delete",
    "swap",
    "insert",
    "truncate",
    "rewrite+resign",
];

/// xorshift64: reproducible from the printed seed.
pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// An exported bundle read into memory: its entry lines and stored leaf-hash lines.
pub(crate) struct Bundle {
    pub(crate) entries: Vec<String>,
    pub(crate) leaves: Vec<String>,
}

impl Bundle {
    pub(crate) fn read(dir: &Path) -> Bundle {
        Bundle {
            entries: lines(&dir.join("entries.jsonl")),
            leaves: lines(&dir.join("leaf-hashes.txt")),
        }
    }
}

/// What one case came to.
pub(crate) enum Outcome {
    /// `audit verify` exited 1 and named the first bad entry.
    Detected,
    /// The edit changed nothing (e.g. two identical lines swapped) and verify passed.
    NoOp,
}

/// Damages a copy of `bundle` (exported at `src`) into `dir` by `class`, runs `bin audit verify
/// dir --trusted trusted`, and says what happened; an undetected real change, a crash or
/// terminal escapes in the output is an `Err` with the details.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_case(
    bin: &str,
    src: &Path,
    bundle: &Bundle,
    dir: &Path,
    trusted: &Path,
    signer: &Signer,
    class: &str,
    rng: &mut Rng,
) -> Result<Outcome, String> {
    copy_meta(src, dir);
    let mut e = bundle.entries.clone();
    let mut l = bundle.leaves.clone();
    match class {
        "byte" => {
            let i = rng.below(e.len());
            let mut b = e[i].clone().into_bytes();
            let j = rng.below(b.len());
            b[j] = if b[j] == b'7' { b'8' } else { b'7' };
            e[i] = String::from_utf8_lossy(&b).into_owned();
        }
        "delete" => {
            let i = rng.below(e.len());
            e.remove(i);
            l.remove(i);
        }
        "swap" => {
            let i = rng.below(e.len() - 1);
            let j = i + 1 + rng.below(e.len() - i - 1);
            e.swap(i, j);
            l.swap(i, j);
        }
        "insert" => {
            let i = rng.below(e.len() + 1);
            let copy = e[rng.below(e.len())].clone();
            l.insert(i, hex(&leaf_hash(copy.as_bytes())));
            e.insert(i, copy);
        }
        "truncate" => {
            let keep = rng.below(e.len());
            e.truncate(keep);
            l.truncate(keep);
        }
        "rewrite+resign" => {
            // Rewrite from a point inside the trusted tree, recompute the stored leaf hashes,
            // and re-sign every checkpoint with the real key.
            let from = rng.below(e.len());
            for (k, item) in e.iter_mut().enumerate().skip(from) {
                *item = item.replacen("\"actor\":\"", &format!("\"actor\":\"rewritten{k}-"), 1);
            }
            l = e.iter().map(|x| hex(&leaf_hash(x.as_bytes()))).collect();
            let mut sizes: Vec<(u64, std::path::PathBuf)> = Vec::new();
            for f in std::fs::read_dir(dir.join("checkpoints"))
                .map_err(|x| x.to_string())?
                .flatten()
            {
                let text = std::fs::read(f.path()).map_err(|x| x.to_string())?;
                let (cp, _) =
                    Checkpoint::open(&text, &[signer.verifier()]).map_err(|x| x.to_string())?;
                sizes.push((cp.size, f.path()));
            }
            // One pass over the rewritten log gives every checkpoint's forged root.
            sizes.sort();
            let mut fr = Frontier::new();
            let mut next = 0usize;
            for (size, path) in &sizes {
                while (next as u64) < *size && next < e.len() {
                    fr.push(leaf_hash(e[next].as_bytes()));
                    next += 1;
                }
                let text = std::fs::read(path).map_err(|x| x.to_string())?;
                let (cp, _) =
                    Checkpoint::open(&text, &[signer.verifier()]).map_err(|x| x.to_string())?;
                let forged = Checkpoint {
                    root: fr.root(),
                    ..cp
                };
                std::fs::write(path, forged.sign(signer).map_err(|x| x.to_string())?)
                    .map_err(|x| x.to_string())?;
            }
        }
        other => return Err(format!("unknown class {other}")),
    }
    write_lines(&dir.join("entries.jsonl"), &e);
    write_lines(&dir.join("leaf-hashes.txt"), &l);
    let out = Command::new(bin)
        .args(["audit", "verify"])
        .arg(dir)
        .arg("--trusted")
        .arg(trusted)
        .output()
        .map_err(|x| x.to_string())?;
    let code = out.status.code().unwrap_or(-1);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if text.contains('\u{1b}') || text.contains('\u{202e}') {
        return Err(format!("{class}: unescaped output {text:?}"));
    }
    match code {
        1 if text.starts_with("DAMAGED: first bad entry index ") => Ok(Outcome::Detected),
        0 if e == bundle.entries => Ok(Outcome::NoOp),
        _ => Err(format!("{class}: exit {code}, not detected: {text}")),
    }
}

pub(crate) fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .expect("read")
        .lines()
        .map(str::to_string)
        .collect()
}

pub(crate) fn write_lines(p: &Path, l: &[String]) {
    let mut s = l.join("\n");
    if !l.is_empty() {
        s.push('\n');
    }
    std::fs::write(p, s).expect("write");
}

pub(crate) fn copy_bundle(from: &Path, to: &Path) {
    copy_meta(from, to);
    for f in ["entries.jsonl", "leaf-hashes.txt"] {
        std::fs::copy(from.join(f), to.join(f)).expect("copy");
    }
}

/// The bundle's key and checkpoints, not its entries.
fn copy_meta(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("checkpoints")).expect("mkdir");
    std::fs::copy(from.join("keys.pub"), to.join("keys.pub")).expect("copy");
    for e in std::fs::read_dir(from.join("checkpoints"))
        .expect("dir")
        .flatten()
    {
        std::fs::copy(e.path(), to.join("checkpoints").join(e.file_name())).expect("copy");
    }
}

pub(crate) fn hex(h: &[u8; 32]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}
