//! APK container (ZIP) reader with Android's semantics.
//!
//! The crate is pure: [`Archive::parse`] takes the whole file as `&[u8]` (usually an mmap) and does no I/O.
//! It never panics on any input, never allocates from an untrusted length without bounding it by the input size,
//! and reports structural oddities as [`Anomaly`] values instead of failing where Android would carry on.
//!
//! # Android semantics chosen
//!
//! The end-of-central-directory (EOCD) record is searched backwards over at most 65,535 + 22 bytes.
//! The last EOCD whose comment length reaches the end of the file exactly is used (as apksig does), so a
//! maximum-size 65,535-byte comment works and a signature straddling any chunk boundary is still found.
//! If no EOCD fits exactly, the last one whose comment fits inside the file is used and `eocd_comment_length_mismatch` is flagged.
//! Every additional EOCD signature in the searched tail is flagged as `multiple_eocd`.
//! Multi-disk fields are ignored, and flagged as `multi_disk_fields` when non-zero.
//! ZIP64 is supported: the ZIP64 locator and end record, and ZIP64 extra fields (0x0001) in central-directory entries.
//! The central directory is authoritative: name, method, flags, sizes, CRC and local-header offset come from it.
//! The local file header is used only to find where the data starts (30 + local name length + local extra length).
//! Differences between the local header and the central directory are flagged as `local_header_mismatch`.
//! The central directory is walked over its declared size; the EOCD entry count is never trusted for allocation,
//! and a disagreement with the number of entries found is flagged as `cd_entry_count_mismatch`.
//! Method 0 is stored and method 8 is raw deflate.
//! Any other method is tolerated like Android and flagged as `unknown_compression_method`: equal sizes mean stored,
//! otherwise raw deflate is tried and must end cleanly with the declared size, otherwise the bytes are returned as stored.
//! The encryption flag (general-purpose bit 0) is ignored, as Android does, and flagged as `fake_encryption_flag`.
//! CRC-32 is checked on every read; a mismatch is recorded as `crc_mismatch`, not an error.
//! Duplicate names are all kept; [`Archive::find`] returns the FIRST entry with the name.
//! Android refuses to install an APK with duplicate names, so the duplicate is flagged (`duplicate_entry_name`) as a tamper signal.
//! Bytes before the first local header are flagged as `data_before_first_entry` (Janus).
//! Bytes between the last entry and the central directory are not flagged, because the APK Signing Block lives there.
//! Overlapping entries, path-traversal names, control characters in names and empty names are flagged too.
//! Parse-time anomalies are capped at [`MAX_ANOMALIES`]; the rest are only counted.
//!
//! # Limits
//!
//! [`Limits`] bounds the entry count, the inflated size of each entry, the total inflated over one archive, and the
//! compression ratio (checked only above [`RATIO_CHECK_FLOOR`] inflated bytes).
//! Inflation writes into a buffer whose growth is capped by those limits, so a zip bomb is rejected without being allocated.
//! The total budget is an atomic counter, so an [`Archive`] can be read from several threads.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod anomaly;
mod archive;
mod error;
mod read;

pub use anomaly::{Anomaly, AnomalyCode, MAX_ANOMALIES};
pub use archive::{Archive, Entry, Limits, RATIO_CHECK_FLOOR};
pub use error::ZipError;
