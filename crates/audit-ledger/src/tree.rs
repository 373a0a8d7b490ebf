//! RFC 9162 §2.1 Merkle tree hashing, proofs and their verification.
//!
//! The tree is stored as its *complete subtrees*: [`NodeId`] `{ level, index }` is the hash of
//! the `2^level` leaves starting at `index << level`. A complete subtree never changes once its
//! last leaf is appended, so a store keeps each one once (an append adds one leaf and, on
//! average, one parent). Every hash a proof needs is either a complete subtree or the hash of a
//! range `[lo, hi)` that [`range_nodes`] splits into at most 64 complete subtrees, so proofs
//! read O(log n) stored hashes. The algorithms never branch on hash values, so a store can first
//! collect the [`NodeId`]s a proof needs (with a recording getter), fetch them in one query,
//! and then build the proof.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Largest proof accepted for verification: a tree of 2^63 leaves needs at most 63 hashes.
pub const MAX_PROOF_LEN: usize = 64;

/// Leaf hash: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// Interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    Sha256::digest(buf).into()
}

/// A complete subtree: the `2^level` leaves starting at leaf `index << level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    /// Height above the leaves (0: a leaf).
    pub level: u8,
    /// Position among the subtrees of this level, from the left.
    pub index: u64,
}

impl NodeId {
    /// The leaf at `index`.
    pub fn leaf(index: u64) -> Self {
        NodeId { level: 0, index }
    }
}

/// Errors of proof generation and verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// The requested index or sizes do not fit the tree.
    #[error("bad proof request: {0}")]
    BadRequest(String),
    /// The proof does not prove what it claims.
    #[error("proof does not verify: {0}")]
    ProofFailed(&'static str),
    /// The hash store could not supply a hash.
    #[error("hash {level}/{index} is not stored: the ledger is incomplete")]
    Missing {
        /// Level of the missing subtree.
        level: u8,
        /// Index of the missing subtree.
        index: u64,
    },
}

/// The complete subtrees covering leaves `[lo, hi)`, left to right, each as large as the
/// alignment allows. For the ranges RFC 9162 hashes (`lo` a multiple of a power of two
/// ≥ `hi - lo`), folding them from the right with [`node_hash`] gives MTH(D[lo:hi]).
pub fn range_nodes(lo: u64, hi: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut lo = lo;
    while lo < hi {
        let align = lo.trailing_zeros(); // 64 for lo == 0
        let fit = 63 - (hi - lo).leading_zeros(); // floor(log2(hi - lo))
        let level = align.min(fit);
        out.push(NodeId {
            level: level as u8,
            index: lo >> level,
        });
        lo += 1u64 << level;
    }
    out
}

/// MTH(D[lo:hi]) from stored complete subtrees.
fn range_hash<E>(
    lo: u64,
    hi: u64,
    get: &mut impl FnMut(NodeId) -> Result<Hash, E>,
) -> Result<Hash, E> {
    let nodes = range_nodes(lo, hi);
    let mut it = nodes.iter().rev();
    let Some(last) = it.next() else {
        return Ok(EMPTY_ROOT);
    };
    let mut h = get(*last)?;
    for n in it {
        h = node_hash(&get(*n)?, &h);
    }
    Ok(h)
}

/// Largest power of two strictly below `n` (n ≥ 2).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The root hash of the tree of `size` leaves.
pub fn root_hash<E>(size: u64, get: &mut impl FnMut(NodeId) -> Result<Hash, E>) -> Result<Hash, E> {
    range_hash(0, size, get)
}

/// The RFC 9162 inclusion proof (audit path) of leaf `index` in the tree of `size` leaves,
/// from the leaf's sibling upwards.
pub fn inclusion_proof<E: From<TreeError>>(
    index: u64,
    size: u64,
    get: &mut impl FnMut(NodeId) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    if index >= size {
        return Err(
            TreeError::BadRequest(format!("index {index} is not below tree size {size}")).into(),
        );
    }
    let (mut lo, mut hi) = (0u64, size);
    let mut ranges = Vec::new();
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
        }
    }
    ranges
        .iter()
        .rev()
        .map(|&(a, b)| range_hash(a, b, get))
        .collect()
}

/// The RFC 9162 consistency proof between the trees of `old` and `new` leaves
/// (0 < old ≤ new; empty when they are equal).
pub fn consistency_proof<E: From<TreeError>>(
    old: u64,
    new: u64,
    get: &mut impl FnMut(NodeId) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    if old == 0 || old > new {
        return Err(TreeError::BadRequest(format!(
            "consistency needs 0 < old ≤ new, got old {old}, new {new}"
        ))
        .into());
    }
    let (mut lo, mut hi, mut whole) = (0u64, new, true);
    let mut ranges = Vec::new();
    loop {
        if old == hi {
            if !whole {
                ranges.push((lo, hi));
            }
            break;
        }
        let k = split_point(hi - lo);
        if old <= lo + k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
            whole = false;
        }
    }
    ranges
        .iter()
        .rev()
        .map(|&(a, b)| range_hash(a, b, get))
        .collect()
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), TreeError> {
    if index >= size {
        return Err(TreeError::ProofFailed("index is not below the tree size"));
    }
    if proof.len() > MAX_PROOF_LEN {
        return Err(TreeError::ProofFailed(
            "proof is longer than any tree needs",
        ));
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(TreeError::ProofFailed(
                "proof is too long for the tree size",
            ));
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(TreeError::ProofFailed(
            "proof is too short for the tree size",
        ));
    }
    if &r != root {
        return Err(TreeError::ProofFailed(
            "computed root differs from the checkpoint's root",
        ));
    }
    Ok(())
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2) between two roots.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), TreeError> {
    if old > new {
        return Err(TreeError::ProofFailed("old size is larger than new size"));
    }
    if proof.len() > MAX_PROOF_LEN {
        return Err(TreeError::ProofFailed(
            "proof is longer than any tree needs",
        ));
    }
    if old == new {
        if !proof.is_empty() {
            return Err(TreeError::ProofFailed(
                "proof between equal sizes must be empty",
            ));
        }
        if old_root != new_root {
            return Err(TreeError::ProofFailed("same size, different roots"));
        }
        return Ok(());
    }
    if old == 0 {
        // The empty tree is a prefix of every tree.
        if !proof.is_empty() {
            return Err(TreeError::ProofFailed(
                "proof from the empty tree must be empty",
            ));
        }
        return Ok(());
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(TreeError::ProofFailed("proof is empty"));
    };
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return Err(TreeError::ProofFailed(
                "proof is too long for the tree sizes",
            ));
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(TreeError::ProofFailed(
            "proof is too short for the tree sizes",
        ));
    }
    if &fr != old_root {
        return Err(TreeError::ProofFailed(
            "proof does not lead to the old root",
        ));
    }
    if &sr != new_root {
        return Err(TreeError::ProofFailed(
            "proof does not lead to the new root",
        ));
    }
    Ok(())
}

/// The right edge of a tree built from its first leaf: the complete subtrees of [`range_nodes`]
/// `(0, size)`. Appending a leaf is O(1) amortized and reports the subtrees it completes, so a
/// verifier can recompute a whole log in one pass and a store can write the new hashes.
#[derive(Clone, Debug, Default)]
pub struct Frontier {
    size: u64,
    nodes: Vec<(u8, Hash)>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the frontier of a tree of `size` leaves from its [`range_nodes`]`(0, size)`
    /// hashes, left to right. Returns `None` if the count does not match.
    pub fn from_parts(size: u64, hashes: &[Hash]) -> Option<Self> {
        let ids = range_nodes(0, size);
        if ids.len() != hashes.len() {
            return None;
        }
        Some(Frontier {
            size,
            nodes: ids
                .iter()
                .map(|n| n.level)
                .zip(hashes.iter().copied())
                .collect(),
        })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; calls `completed` with every complete subtree this creates (the leaf
    /// first, then each new parent).
    pub fn push_with(&mut self, leaf: Hash, mut completed: impl FnMut(NodeId, &Hash)) {
        let index = self.size;
        let mut h = leaf;
        let mut level = 0u8;
        completed(NodeId::leaf(index), &h);
        while let Some(&(l, left)) = self.nodes.last() {
            if l != level {
                break;
            }
            self.nodes.pop();
            h = node_hash(&left, &h);
            level += 1;
            completed(
                NodeId {
                    level,
                    index: index >> level,
                },
                &h,
            );
        }
        self.nodes.push((level, h));
        self.size += 1;
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.push_with(leaf, |_, _| {});
    }

    /// The root hash of the current tree.
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        let Some(&(_, last)) = it.next() else {
            return EMPTY_ROOT;
        };
        let mut h = last;
        for (_, left) in it {
            h = node_hash(left, &h);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_nodes_decompose() {
        assert_eq!(range_nodes(0, 0), vec![]);
        assert_eq!(
            range_nodes(0, 7),
            vec![
                NodeId { level: 2, index: 0 },
                NodeId { level: 1, index: 2 },
                NodeId { level: 0, index: 6 }
            ]
        );
        assert_eq!(range_nodes(4, 8), vec![NodeId { level: 2, index: 1 }]);
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(8), 4);
        assert_eq!(split_point(9), 8);
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
    }
}
