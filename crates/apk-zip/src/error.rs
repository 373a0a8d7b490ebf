//! Typed errors returned by [`crate::Archive`].

/// Everything that can make parsing an archive or reading an entry fail.
///
/// Every variant says what was wrong and, where it applies, the byte offset in the file.
/// Limit variants name the command-line option that raises the limit.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipError {
    /// No end-of-central-directory record was found in the last 65,557 bytes.
    #[error(
        "no ZIP end-of-central-directory record found in the last {searched} bytes of the \
         {file_len}-byte file: it is not a ZIP/APK file, or it is truncated"
    )]
    NoEndOfCentralDirectory {
        /// Length of the whole input.
        file_len: u64,
        /// How many bytes at the end of the file were searched.
        searched: u64,
    },
    /// A structure runs past the end of the file (or of its enclosing region).
    #[error("truncated {what} at offset {offset}: the file ends (or the enclosing region ends) before it does")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// File offset of the structure.
        offset: u64,
    },
    /// A structure does not start with its expected magic number.
    #[error("bad signature for {what} at offset {offset}: the file is corrupt or not a ZIP/APK")]
    BadSignature {
        /// The structure being read.
        what: &'static str,
        /// File offset where the signature was expected.
        offset: u64,
    },
    /// The central directory location in the end records is inconsistent.
    #[error("invalid central directory at offset {offset}: {detail}")]
    BadCentralDirectory {
        /// What is inconsistent.
        detail: String,
        /// File offset the problem refers to.
        offset: u64,
    },
    /// An entry's local header cannot be used to locate its data.
    #[error("entry {name:?}: unusable local file header at offset {offset}: {detail}")]
    BadLocalHeader {
        /// Entry name (lossy, escaped).
        name: String,
        /// File offset of the local header.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// The archive has more central-directory entries than allowed.
    #[error(
        "the archive has more than {limit} entries; raise --max-entries if the file is trusted"
    )]
    TooManyEntries {
        /// The configured limit ([`crate::Limits::max_entries`]).
        limit: usize,
    },
    /// One entry inflates (or declares it inflates) to more than allowed.
    #[error(
        "entry {name:?} inflates to more than {limit} bytes; raise --max-entry-size if the file is trusted"
    )]
    EntryTooLarge {
        /// Entry name (lossy, escaped).
        name: String,
        /// The configured limit ([`crate::Limits::max_entry_size`]).
        limit: u64,
    },
    /// The bytes inflated from this archive so far exceed the total budget.
    #[error(
        "total inflated size of the archive exceeds {limit} bytes; raise --max-total-size if the file is trusted"
    )]
    TotalSizeExceeded {
        /// The configured limit ([`crate::Limits::max_total_inflated`]).
        limit: u64,
    },
    /// An entry expands more than the allowed ratio (a zip bomb).
    #[error(
        "entry {name:?} expands at least {ratio}:1, above the {limit}:1 limit (zip bomb?); \
         raise --max-ratio if the file is trusted"
    )]
    CompressionRatioExceeded {
        /// Entry name (lossy, escaped).
        name: String,
        /// The ratio reached when inflation stopped (inflated / compressed, rounded down).
        ratio: u64,
        /// The configured limit ([`crate::Limits::max_ratio`]).
        limit: u64,
    },
    /// The deflate stream is corrupt or truncated.
    #[error("entry {name:?}: cannot inflate data starting at offset {offset}: {detail}")]
    Inflate {
        /// Entry name (lossy, escaped).
        name: String,
        /// File offset where the compressed data starts.
        offset: u64,
        /// What the decompressor reported.
        detail: String,
    },
}
