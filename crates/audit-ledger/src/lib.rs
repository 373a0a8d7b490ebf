//! The pure parts of interdict's audit ledger: no I/O, no SQL, no HTTP.
//!
//! - [`tree`]: the RFC 9162 Merkle tree (leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖ l ‖ r)),
//!   addressed by complete subtrees ([`NodeId`]), with inclusion and consistency proofs read
//!   through a caller's hash getter in O(log n) reads, and their verification.
//! - [`note`]: C2SP signed notes with Ed25519 keys in Go's `sumdb/note` key formats, and the
//!   C2SP `tlog-checkpoint` body.
//! - [`proof`]: the C2SP `tlog-proof` text format.
//!
//! Every parser takes bytes or text and returns a typed error; nothing panics on any input.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod note;
pub mod proof;
pub mod tree;

pub use note::{Checkpoint, NoteError, Signer, Verifier};
pub use proof::{ProofError, TlogProof};
pub use tree::{
    consistency_proof, inclusion_proof, leaf_hash, node_hash, range_nodes, root_hash,
    verify_consistency, verify_inclusion, Frontier, Hash, NodeId, TreeError, EMPTY_ROOT,
};
