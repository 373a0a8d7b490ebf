//! The on-disk check-in queue of one logical device.
//!
//! Each pending check-in is a file `NNNNNNNNNN.json` (its seq, zero-padded) written
//! atomically; check-ins are sent in seq order and a file is deleted only after the server
//! acknowledged it (2xx). Inventories are stored once, by content (`inv-<sha256>.json`), and
//! referenced by digest, so a long outage with an unchanged inventory costs a few hundred
//! bytes per check-in. A check-in the server rejects as malformed moves to `rejected/` so it
//! cannot block the queue.
//!
//! Bounded: at most `max_pending` check-ins. When full, the oldest check-in that carries no
//! action results is dropped (only the newest inventory matters); action results are never
//! dropped. Bounded memory: one check-in is read at a time.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use app_policy::App;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::state::{create_private_dir, write_atomic, StateError};

/// Default bound on pending check-ins per device.
pub const DEFAULT_MAX_PENDING: usize = 1000;
/// Rejected check-ins kept for inspection.
const MAX_REJECTED: usize = 100;
/// Largest queue file read (an inventory of 5000 apps is well under it).
const MAX_FILE_BYTES: u64 = 32 << 20;
/// The outcome of one action, as the server receives it in `action_results`.
pub use app_policy::ActionResult;
/// Longest `detail` sent to the server.
pub use app_policy::MAX_RESULT_TEXT as MAX_DETAIL_CHARS;

/// One queued check-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    /// The device's check-in counter.
    pub seq: u64,
    /// When it was queued (Unix ms).
    pub at_ms: i64,
    /// Digest of the inventory (see [`Queue::store_inventory`]).
    pub inventory: String,
    /// Action results delivered with this check-in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub action_results: Vec<ActionResult>,
}

/// Queue errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// A queue file or directory could not be read or written.
    #[error("queue {path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] StateError),
    /// A queue file is unreadable (it is moved to `rejected/`).
    #[error("queue file {path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// What [`Queue::push`] did to stay within its bound.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// Seqs of older inventory-only check-ins dropped.
    pub dropped: Vec<u64>,
    /// False when the new check-in itself was dropped (the queue is full of action results
    /// and it carried none).
    pub stored: bool,
}

/// One device's queue directory.
#[derive(Debug, Clone)]
pub struct Queue {
    dir: PathBuf,
    max_pending: usize,
}

/// SHA-256 (hex) of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, QueueError> {
    let io = |error| QueueError::Io {
        path: path.to_path_buf(),
        error,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut buf = Vec::new();
    f.take(MAX_FILE_BYTES).read_to_end(&mut buf).map_err(io)?;
    Ok(buf)
}

impl Queue {
    /// Opens (creating, mode 0700) the queue directory `dir`.
    pub fn open(dir: &Path, max_pending: usize) -> Result<Queue, QueueError> {
        create_private_dir(dir)?;
        Ok(Queue {
            dir: dir.to_path_buf(),
            max_pending: max_pending.max(1),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(&self) -> impl Fn(std::io::Error) -> QueueError + '_ {
        move |error| QueueError::Io {
            path: self.dir.clone(),
            error,
        }
    }

    fn path_of(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:010}.json"))
    }

    fn inventory_path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("inv-{digest}.json"))
    }

    /// Seqs of the pending check-ins, oldest first.
    pub fn pending(&self) -> Result<Vec<u64>, QueueError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).map_err(self.io())? {
            let e = e.map_err(self.io())?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(num) = name.strip_suffix(".json") else {
                continue;
            };
            if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Ok(n) = num.parse::<u64>() {
                out.push(n);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Number of pending check-ins.
    pub fn len(&self) -> Result<usize, QueueError> {
        Ok(self.pending()?.len())
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> Result<bool, QueueError> {
        Ok(self.pending()?.is_empty())
    }

    /// Stores an inventory (if not already stored) and returns its digest: SHA-256 of the
    /// JSON array of apps exactly as it will be sent.
    pub fn store_inventory(&self, apps: &[App]) -> Result<String, QueueError> {
        let bytes = serde_json::to_vec(apps).map_err(|e| QueueError::Corrupt {
            path: self.dir.clone(),
            message: e.to_string(),
        })?;
        let digest = sha256_hex(&bytes);
        let path = self.inventory_path(&digest);
        if !path.exists() {
            write_atomic(&path, &bytes)?;
        }
        Ok(digest)
    }

    /// Reads a stored inventory, checking its digest.
    pub fn load_inventory(&self, digest: &str) -> Result<Vec<App>, QueueError> {
        let path = self.inventory_path(digest);
        let bytes = read_bounded(&path)?;
        if sha256_hex(&bytes) != digest {
            return Err(QueueError::Corrupt {
                path,
                message: "content does not match its digest".into(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| QueueError::Corrupt {
            path,
            message: e.to_string(),
        })
    }

    /// Reads one pending check-in.
    pub fn read(&self, seq: u64) -> Result<Pending, QueueError> {
        let path = self.path_of(seq);
        let bytes = read_bounded(&path)?;
        serde_json::from_slice(&bytes).map_err(|e| QueueError::Corrupt {
            path,
            message: e.to_string(),
        })
    }

    /// Queues a check-in, dropping the oldest inventory-only check-in when full.
    pub fn push(&self, p: &Pending) -> Result<PushOutcome, QueueError> {
        let mut outcome = PushOutcome {
            dropped: Vec::new(),
            stored: true,
        };
        let pending = self.pending()?;
        if pending.len() >= self.max_pending {
            let mut excess = pending
                .len()
                .saturating_add(1)
                .saturating_sub(self.max_pending);
            for &seq in &pending {
                if excess == 0 {
                    break;
                }
                let droppable = match self.read(seq) {
                    Ok(old) => old.action_results.is_empty(),
                    Err(_) => false,
                };
                if droppable {
                    self.remove(seq)?;
                    outcome.dropped.push(seq);
                    excess = excess.saturating_sub(1);
                }
            }
            // Full of action results: they are kept, and so is a new check-in carrying some;
            // an inventory-only one beyond twice the bound is dropped.
            if excess > 0
                && p.action_results.is_empty()
                && pending.len().saturating_sub(outcome.dropped.len())
                    >= self.max_pending.saturating_mul(2)
            {
                outcome.stored = false;
            }
            if !outcome.dropped.is_empty() {
                self.gc()?;
            }
        }
        if outcome.stored {
            let bytes = serde_json::to_vec(p).map_err(|e| QueueError::Corrupt {
                path: self.path_of(p.seq),
                message: e.to_string(),
            })?;
            write_atomic(&self.path_of(p.seq), &bytes)?;
        }
        Ok(outcome)
    }

    /// Deletes an acknowledged check-in.
    pub fn remove(&self, seq: u64) -> Result<(), QueueError> {
        let path = self.path_of(seq);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(QueueError::Io { path, error }),
        }
    }

    /// Moves a check-in the server refused (or that cannot be read) to `rejected/`, with the
    /// reason next to it; keeps the newest [`MAX_REJECTED`].
    pub fn reject(&self, seq: u64, reason: &str) -> Result<(), QueueError> {
        let rdir = self.dir.join("rejected");
        create_private_dir(&rdir)?;
        let from = self.path_of(seq);
        let to = rdir.join(format!("{seq:010}.json"));
        if let Err(error) = std::fs::rename(&from, &to) {
            if error.kind() != std::io::ErrorKind::NotFound {
                return Err(QueueError::Io { path: from, error });
            }
        }
        write_atomic(
            &rdir.join(format!("{seq:010}.reason.txt")),
            reason.as_bytes(),
        )?;
        let mut names: Vec<String> = std::fs::read_dir(&rdir)
            .map_err(self.io())?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        let excess = names.len().saturating_sub(MAX_REJECTED);
        for n in names.iter().take(excess) {
            let _ = std::fs::remove_file(rdir.join(n));
            let _ = std::fs::remove_file(rdir.join(n.replace(".json", ".reason.txt")));
        }
        Ok(())
    }

    /// Deletes stored inventories no pending check-in refers to.
    pub fn gc(&self) -> Result<(), QueueError> {
        let mut used = HashSet::new();
        for seq in self.pending()? {
            if let Ok(p) = self.read(seq) {
                used.insert(p.inventory);
            }
        }
        for e in std::fs::read_dir(&self.dir).map_err(self.io())? {
            let e = e.map_err(self.io())?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(digest) = name
                .strip_prefix("inv-")
                .and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            if !used.contains(digest) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: &str) -> App {
        App {
            id: id.into(),
            version: Some("1".into()),
            version_code: None,
            signers: Vec::new(),
            installer: None,
            publisher: None,
        }
    }

    fn result(id: &str) -> ActionResult {
        ActionResult {
            id: id.into(),
            app_id: "x".into(),
            kind: "uninstall".into(),
            status: "dry_run".into(),
            detail: "d".into(),
            command: Some("apt-get remove -y -- x".into()),
            at_ms: 1,
        }
    }

    #[test]
    fn fifo_inventories_by_content_and_gc() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(&dir.path().join("q"), 10).unwrap();
        let d1 = q.store_inventory(&[app("a")]).unwrap();
        let d1b = q.store_inventory(&[app("a")]).unwrap();
        assert_eq!(d1, d1b);
        let d2 = q.store_inventory(&[app("b")]).unwrap();
        for (seq, d) in [(3, &d1), (1, &d1), (12, &d2)] {
            let o = q
                .push(&Pending {
                    seq,
                    at_ms: 0,
                    inventory: d.clone(),
                    action_results: Vec::new(),
                })
                .unwrap();
            assert!(o.stored && o.dropped.is_empty());
        }
        assert_eq!(q.pending().unwrap(), vec![1, 3, 12]);
        assert_eq!(q.load_inventory(&d2).unwrap(), vec![app("b")]);
        q.remove(12).unwrap();
        q.gc().unwrap();
        assert!(q.load_inventory(&d2).is_err());
        assert_eq!(q.load_inventory(&d1).unwrap(), vec![app("a")]);
        // A restart (a new Queue over the same directory) resumes where it was.
        let q2 = Queue::open(&dir.path().join("q"), 10).unwrap();
        assert_eq!(q2.pending().unwrap(), vec![1, 3]);
        assert_eq!(q2.read(3).unwrap().inventory, d1);
    }

    #[test]
    fn bounded_coalescing_never_drops_action_results() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path(), 4).unwrap();
        let d = q.store_inventory(&[app("a")]).unwrap();
        let push = |seq: u64, with: bool| {
            q.push(&Pending {
                seq,
                at_ms: 0,
                inventory: d.clone(),
                action_results: if with {
                    vec![result(&format!("r{seq}"))]
                } else {
                    Vec::new()
                },
            })
            .unwrap()
        };
        push(1, false);
        push(2, true);
        push(3, false);
        push(4, true);
        // Full: the oldest inventory-only check-in goes.
        assert_eq!(push(5, false).dropped, vec![1]);
        assert_eq!(q.pending().unwrap(), vec![2, 3, 4, 5]);
        assert_eq!(push(6, true).dropped, vec![3]);
        assert_eq!(push(7, true).dropped, vec![5]);
        assert_eq!(q.pending().unwrap(), vec![2, 4, 6, 7]);
        // Only results left: they stay, and new results are still stored.
        let o = push(8, true);
        assert!(o.stored && o.dropped.is_empty());
        for seq in [2, 4, 6, 7, 8] {
            assert_eq!(q.read(seq).unwrap().action_results.len(), 1);
        }
        // The shared inventory survived the garbage collection.
        assert!(q.load_inventory(&d).is_ok());
        // Beyond the bound with results only, the newest inventory is still kept, and it is
        // the one the next check-in replaces.
        let o = push(9, false);
        assert!(o.stored && o.dropped.is_empty());
        assert_eq!(push(10, false).dropped, vec![9]);
        assert_eq!(q.pending().unwrap(), vec![2, 4, 6, 7, 8, 10]);
    }

    #[test]
    fn rejected_files_leave_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path(), 4).unwrap();
        let d = q.store_inventory(&[]).unwrap();
        q.push(&Pending {
            seq: 1,
            at_ms: 0,
            inventory: d,
            action_results: vec![],
        })
        .unwrap();
        q.reject(1, "HTTP 422: bad").unwrap();
        assert!(q.is_empty().unwrap());
        let reason =
            std::fs::read_to_string(dir.path().join("rejected/0000000001.reason.txt")).unwrap();
        assert_eq!(reason, "HTTP 422: bad");
    }

    #[test]
    fn detail_is_clamped() {
        let mut r = result("x");
        r.detail = "é".repeat(5000);
        assert_eq!(r.clamp().detail.chars().count(), MAX_DETAIL_CHARS);
    }
}
