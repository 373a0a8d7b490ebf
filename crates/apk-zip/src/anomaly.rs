//! Structural anomalies: things Android tolerates (or rejects at install) that hint at tampering.

use std::fmt;

/// Maximum number of anomalies kept with their details; further ones are only counted.
pub const MAX_ANOMALIES: usize = 1000;

macro_rules! anomaly_codes {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal, )*) => {
        /// Stable identifier of an anomaly kind.
        ///
        /// [`AnomalyCode::as_str`] gives the snake_case code used in reports; it never changes once released.
        #[non_exhaustive]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum AnomalyCode {
            $( $(#[$doc])* $variant, )*
        }

        impl AnomalyCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [AnomalyCode] = &[$(AnomalyCode::$variant,)*];

            /// The stable snake_case code.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AnomalyCode::$variant => $code,)*
                }
            }
        }
    };
}

anomaly_codes! {
    /// More than one end-of-central-directory signature in the searched tail of the file.
    MultipleEocd => "multiple_eocd",
    /// No EOCD's comment length reaches the end of file exactly; a looser match was used.
    EocdCommentLengthMismatch => "eocd_comment_length_mismatch",
    /// Disk-number fields in the EOCD (or ZIP64 records) are non-zero; they are ignored.
    MultiDiskFields => "multi_disk_fields",
    /// The ZIP64 locator or record is present but unusable or inconsistent.
    Zip64Inconsistent => "zip64_inconsistent",
    /// The entry count in the EOCD differs from the entries found in the central directory.
    CdEntryCountMismatch => "cd_entry_count_mismatch",
    /// Bytes between the end of the central directory and the EOCD (or ZIP64 EOCD) record.
    GarbageBeforeEocd => "garbage_before_eocd",
    /// Two entries share the same raw name.
    DuplicateEntryName => "duplicate_entry_name",
    /// A name with `..` segments, a leading `/`, a backslash or a drive letter.
    PathTraversalName => "path_traversal_name",
    /// A name containing CR, LF, NUL, another C0 control byte or DEL.
    ControlCharInName => "control_char_in_name",
    /// An entry with an empty name.
    EmptyName => "empty_name",
    /// General-purpose flag bit 0 (encryption) is set; Android ignores it, so do we.
    FakeEncryptionFlag => "fake_encryption_flag",
    /// The local file header disagrees with the central directory.
    LocalHeaderMismatch => "local_header_mismatch",
    /// The local file header is missing, has a bad signature or runs out of the file.
    LocalHeaderInvalid => "local_header_invalid",
    /// Bytes before the first local file header (Janus, CVE-2017-13156).
    DataBeforeFirstEntry => "data_before_first_entry",
    /// Two entries' local header + data ranges overlap.
    OverlappingEntries => "overlapping_entries",
    /// An entry's data runs into the central directory.
    DataOverlapsCentralDirectory => "data_overlaps_central_directory",
    /// A compression method other than 0 (stored) or 8 (deflate).
    UnknownCompressionMethod => "unknown_compression_method",
    /// A stored entry whose compressed and uncompressed sizes differ.
    StoredSizeMismatch => "stored_size_mismatch",
    /// Inflated data length differs from the declared uncompressed size.
    UncompressedSizeMismatch => "uncompressed_size_mismatch",
    /// The CRC-32 of the extracted data differs from the central directory's.
    CrcMismatch => "crc_mismatch",
    /// The data descriptor (flag bit 3) is missing or disagrees with the central directory.
    DataDescriptorMismatch => "data_descriptor_mismatch",
    /// An extra field is truncated, or a needed ZIP64 extra field is missing.
    ExtraFieldMalformed => "extra_field_malformed",
}

impl fmt::Display for AnomalyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One structural anomaly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// The kind of anomaly.
    pub code: AnomalyCode,
    /// Human-readable detail (entry names are escaped and truncated).
    pub detail: String,
    /// File offset of the structure concerned, when there is one.
    pub offset: Option<u64>,
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(off) => write!(f, "{} at offset {}: {}", self.code, off, self.detail),
            None => write!(f, "{}: {}", self.code, self.detail),
        }
    }
}

/// A bounded anomaly list: keeps the first [`MAX_ANOMALIES`] with details, counts every one per code.
#[derive(Debug, Clone, Default)]
pub(crate) struct AnomalyLog {
    pub(crate) kept: Vec<Anomaly>,
    pub(crate) counts: Vec<u64>,
    pub(crate) dropped: u64,
}

impl AnomalyLog {
    pub(crate) fn new() -> Self {
        AnomalyLog {
            kept: Vec::new(),
            counts: vec![0; AnomalyCode::ALL.len()],
            dropped: 0,
        }
    }

    /// Records an anomaly; the detail closure only runs when the anomaly is kept.
    pub(crate) fn push(
        &mut self,
        code: AnomalyCode,
        offset: Option<u64>,
        detail: impl FnOnce() -> String,
    ) {
        if let Some(c) = self.counts.get_mut(code as usize) {
            *c = c.saturating_add(1);
        }
        if self.kept.len() < MAX_ANOMALIES {
            self.kept.push(Anomaly {
                code,
                detail: detail(),
                offset,
            });
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    pub(crate) fn count(&self, code: AnomalyCode) -> u64 {
        self.counts.get(code as usize).copied().unwrap_or(0)
    }
}

/// Formats a raw entry name for a message: lossy UTF-8, control characters escaped, at most 200 characters.
pub(crate) fn display_name(name: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let lossy = String::from_utf8_lossy(name);
    let mut out = String::with_capacity(lossy.len().min(MAX_CHARS + 8));
    for (i, ch) in lossy.chars().enumerate() {
        if i >= MAX_CHARS {
            out.push('…');
            break;
        }
        if ch.is_control() {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out
}
