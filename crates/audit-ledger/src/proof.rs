//! The C2SP `tlog-proof` text format: a self-contained, offline-verifiable proof that an entry
//! is in the log at a signed checkpoint.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64>            (optional; interdict puts the entry's canonical bytes here)
//! index <decimal>
//! <base64 hash>             (the inclusion proof, leaf sibling first)
//! ...
//!
//! <signed checkpoint note>
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::note::{Checkpoint, NoteError, Verifier};
use crate::tree::{leaf_hash, verify_inclusion, Hash, TreeError, MAX_PROOF_LEN};

const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Largest proof file accepted (the extra data included).
pub const MAX_PROOF_BYTES: usize = 4 * 1024 * 1024;

/// Errors of proof parsing and checking.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The proof text is malformed at `line` (1-based).
    #[error("malformed tlog-proof at line {line}: {what}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// The checkpoint note is malformed or its signature does not verify.
    #[error("checkpoint: {0}")]
    Note(#[from] NoteError),
    /// The inclusion proof does not verify.
    #[error("inclusion: {0}")]
    Tree(#[from] TreeError),
    /// The checkpoint's origin is not the expected one.
    #[error("checkpoint origin is {got:?}, expected {want:?}")]
    Origin {
        /// Origin in the proof.
        got: String,
        /// Origin expected.
        want: String,
    },
    /// No entry bytes were given and the proof carries none.
    #[error("no entry: the proof has no extra line and no entry was supplied")]
    NoEntry,
}

/// A parsed `tlog-proof`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// Optional opaque data (interdict: the entry's canonical bytes).
    pub extra: Option<Vec<u8>>,
    /// Leaf index.
    pub index: u64,
    /// Inclusion proof hashes.
    pub hashes: Vec<Hash>,
    /// The signed checkpoint note, as issued.
    pub checkpoint: String,
}

impl TlogProof {
    /// The text form.
    pub fn to_text(&self) -> String {
        let mut s = format!("{HEADER}\n");
        if let Some(e) = &self.extra {
            s.push_str(&format!("extra {}\n", B64.encode(e)));
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.hashes {
            s.push_str(&B64.encode(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    /// Parses the text form.
    pub fn parse(text: &[u8]) -> Result<Self, ProofError> {
        if text.len() > MAX_PROOF_BYTES {
            return Err(ProofError::Malformed {
                line: 1,
                what: "proof is larger than 4 MiB",
            });
        }
        let text = std::str::from_utf8(text).map_err(|_| ProofError::Malformed {
            line: 1,
            what: "proof is not UTF-8",
        })?;
        let (head, checkpoint) = text.split_once("\n\n").ok_or(ProofError::Malformed {
            line: 1,
            what: "no blank line before the checkpoint",
        })?;
        let mut lines = head.split('\n').enumerate().map(|(i, l)| (i + 1, l));
        let bad = |line, what| ProofError::Malformed { line, what };
        match lines.next() {
            Some((_, HEADER)) => {}
            _ => return Err(bad(1, "first line must be c2sp.org/tlog-proof@v1")),
        }
        let mut extra = None;
        let mut next = lines.next();
        if let Some((n, l)) = next {
            if let Some(e) = l.strip_prefix("extra ") {
                extra = Some(
                    B64.decode(e)
                        .map_err(|_| bad(n, "extra is not valid base64"))?,
                );
                next = lines.next();
            }
        }
        let (n, l) = next.ok_or(bad(2, "missing index line"))?;
        let idx = l
            .strip_prefix("index ")
            .ok_or(bad(n, "expected \"index N\""))?;
        if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(n, "index must be a decimal number"));
        }
        let index: u64 = idx
            .parse()
            .map_err(|_| bad(n, "index does not fit in 64 bits"))?;
        let mut hashes = Vec::new();
        for (n, l) in lines {
            if hashes.len() >= MAX_PROOF_LEN {
                return Err(bad(n, "more proof hashes than any tree needs"));
            }
            let h = B64
                .decode(l)
                .map_err(|_| bad(n, "proof hash is not valid base64"))?;
            hashes.push(
                h.try_into()
                    .map_err(|_| bad(n, "proof hash is not 32 bytes"))?,
            );
        }
        Ok(TlogProof {
            extra,
            index,
            hashes,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// Verifies the proof: the checkpoint's signature by one of `known`, its origin (if given),
    /// and the inclusion of `entry` (or of the `extra` bytes when `entry` is `None`) at `index`.
    /// Returns the verified checkpoint.
    pub fn verify(
        &self,
        entry: Option<&[u8]>,
        known: &[Verifier],
        origin: Option<&str>,
    ) -> Result<Checkpoint, ProofError> {
        let (cp, _) = Checkpoint::open(self.checkpoint.as_bytes(), known)?;
        if let Some(o) = origin {
            if cp.origin != o {
                return Err(ProofError::Origin {
                    got: cp.origin,
                    want: o.to_owned(),
                });
            }
        }
        let data = entry.or(self.extra.as_deref()).ok_or(ProofError::NoEntry)?;
        verify_inclusion(
            self.index,
            cp.size,
            &leaf_hash(data),
            &self.hashes,
            &cp.root,
        )?;
        Ok(cp)
    }
}
