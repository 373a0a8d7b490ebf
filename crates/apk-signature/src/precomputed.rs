//! Entry digests computed by the caller while it had the entries inflated anyway (the assessment reads
//! every `classes*.dex`): JAR (v1) verification uses them instead of inflating those entries a second
//! time.

use std::collections::HashMap;

use apk_zip::Entry;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::crypto::HashAlg;

/// SHA-1 and SHA-256 digests of inflated entries, keyed by the entry's central-directory record
/// (the two algorithms JAR signers write; an entry whose manifest names another is read again).
#[derive(Debug, Clone, Default)]
pub struct EntryDigests {
    map: HashMap<u64, ([u8; 20], [u8; 32])>,
}

impl EntryDigests {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the digests of `inflated`, which must be exactly the bytes `archive.read(entry)` gives.
    pub fn insert(&mut self, entry: &Entry, inflated: &[u8]) {
        let sha1: [u8; 20] = Sha1::digest(inflated).into();
        let sha256: [u8; 32] = Sha256::digest(inflated).into();
        self.map.insert(entry.cd_entry_offset, (sha1, sha256));
    }

    /// Adds every digest recorded in `other`.
    pub fn extend(&mut self, other: EntryDigests) {
        self.map.extend(other.map);
    }

    /// Number of entries recorded.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no entry is recorded.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The recorded digest of `entry` with `alg`, if any.
    pub(crate) fn get(&self, entry: &Entry, alg: HashAlg) -> Option<Vec<u8>> {
        let (sha1, sha256) = self.map.get(&entry.cd_entry_offset)?;
        match alg {
            HashAlg::Sha1 => Some(sha1.to_vec()),
            HashAlg::Sha256 => Some(sha256.to_vec()),
            _ => None,
        }
    }
}
