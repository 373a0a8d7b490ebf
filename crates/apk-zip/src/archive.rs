//! Parsing: EOCD search, ZIP64 records, central directory, local headers, anomaly detection.

use std::borrow::Cow;
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use crate::anomaly::{display_name, Anomaly, AnomalyCode, AnomalyLog};
use crate::error::ZipError;

/// Inflated sizes up to this many bytes are never subject to [`Limits::max_ratio`].
///
/// Small, highly compressible files (an all-zero 64 KiB resource, a blank image) are normal in APKs.
pub const RATIO_CHECK_FLOOR: u64 = 1 << 20;

pub(crate) const EOCD_SIG: [u8; 4] = *b"PK\x05\x06";
pub(crate) const ZIP64_LOCATOR_SIG: [u8; 4] = *b"PK\x06\x07";
pub(crate) const ZIP64_EOCD_SIG: [u8; 4] = *b"PK\x06\x06";
pub(crate) const CD_SIG: [u8; 4] = *b"PK\x01\x02";
pub(crate) const LFH_SIG: [u8; 4] = *b"PK\x03\x04";
pub(crate) const DD_SIG: [u8; 4] = *b"PK\x07\x08";

const EOCD_LEN: usize = 22;
const MAX_COMMENT: usize = 65_535;
const ZIP64_LOCATOR_LEN: u64 = 20;
const ZIP64_EOCD_LEN: u64 = 56;
const CD_ENTRY_LEN: u64 = 46;
pub(crate) const LFH_LEN: u64 = 30;
const SAT16: u16 = 0xFFFF;
const SAT32: u32 = 0xFFFF_FFFF;

/// Resource limits applied while parsing and reading.
///
/// Exceeding a limit is an error ([`ZipError::TooManyEntries`], [`ZipError::EntryTooLarge`],
/// [`ZipError::TotalSizeExceeded`], [`ZipError::CompressionRatioExceeded`]), never an out-of-memory abort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of central-directory entries (default 100,000).
    pub max_entries: usize,
    /// Maximum inflated size of one entry, in bytes (default 512 MiB).
    ///
    /// Stored (method 0) entries are borrowed from the input without copying and are not subject to it.
    pub max_entry_size: u64,
    /// Maximum number of bytes inflated over all reads of one [`Archive`] (default 2 GiB).
    ///
    /// Re-reading an entry counts again; stored entries (zero-copy) do not count.
    pub max_total_inflated: u64,
    /// Maximum inflated-to-compressed ratio (default 1000, i.e. 1000:1).
    ///
    /// Only checked once an entry's inflated output exceeds [`RATIO_CHECK_FLOOR`] (1 MiB).
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 100_000,
            max_entry_size: 512 << 20,
            max_total_inflated: 2 << 30,
            max_ratio: 1000,
        }
    }
}

/// One central-directory entry.
///
/// All fields come from the central directory, except `data_offset`, which is derived from the local header.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Raw name bytes from the central directory (not necessarily UTF-8).
    pub name: Vec<u8>,
    /// Compression method (0 stored, 8 deflate; anything else is treated like Android does).
    pub method: u16,
    /// General-purpose bit flags.
    pub flags: u16,
    /// CRC-32 of the uncompressed data.
    pub crc32: u32,
    /// Compressed size (ZIP64-resolved).
    pub compressed_size: u64,
    /// Uncompressed size (ZIP64-resolved).
    pub uncompressed_size: u64,
    /// Offset of the local file header (ZIP64-resolved).
    pub local_header_offset: u64,
    /// Offset of the first data byte (30 + local name length + local extra length past the local header).
    ///
    /// Zero when the local header is unusable (see [`AnomalyCode::LocalHeaderInvalid`]); reading then fails.
    pub data_offset: u64,
    /// Offset of this entry's central-directory record.
    pub cd_entry_offset: u64,
}

impl Entry {
    /// The name as UTF-8, with invalid sequences replaced.
    pub fn name_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.name)
    }

    /// Whether the name ends with `/` (a directory entry).
    pub fn is_dir(&self) -> bool {
        self.name.last() == Some(&b'/')
    }

    /// File offset one past the last data byte (`data_offset + compressed_size`, saturating).
    pub fn data_end(&self) -> u64 {
        self.data_offset.saturating_add(self.compressed_size)
    }

    /// Whether general-purpose bit 3 (sizes and CRC in a trailing data descriptor) is set.
    pub fn has_data_descriptor(&self) -> bool {
        self.flags & 0x0008 != 0
    }
}

/// A parsed ZIP/APK archive borrowing the whole file.
///
/// `Archive` is `Sync`: entries may be read from several threads at once.
pub struct Archive<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) limits: Limits,
    pub(crate) entries: Vec<Entry>,
    pub(crate) index: HashMap<&'a [u8], usize>,
    pub(crate) log: AnomalyLog,
    pub(crate) cd_offset: u64,
    pub(crate) cd_size: u64,
    pub(crate) eocd_offset: u64,
    pub(crate) zip64_eocd_offset: Option<u64>,
    pub(crate) declared_entries: u64,
    pub(crate) comment: &'a [u8],
    pub(crate) inflated: AtomicU64,
    pub(crate) read_log: Mutex<ReadLog>,
}

impl std::fmt::Debug for Archive<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Summarise: the input can be hundreds of megabytes.
        f.debug_struct("Archive")
            .field("len", &self.data.len())
            .field("entries", &self.entries.len())
            .field("cd_offset", &self.cd_offset)
            .field("cd_size", &self.cd_size)
            .field("eocd_offset", &self.eocd_offset)
            .field("zip64_eocd_offset", &self.zip64_eocd_offset)
            .field("anomalies", &self.log.kept.len())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Anomalies discovered while reading entries, de-duplicated per entry and code.
#[derive(Debug)]
pub(crate) struct ReadLog {
    pub(crate) log: AnomalyLog,
    pub(crate) seen: HashSet<(u64, AnomalyCode)>,
}

// ---------- little-endian helpers (all bounds-checked) ----------

/// `N` bytes at `off`, or `None` when out of range.
pub(crate) fn bytes_at<const N: usize>(data: &[u8], off: u64) -> Option<&[u8; N]> {
    let start = usize::try_from(off).ok()?;
    let end = start.checked_add(N)?;
    data.get(start..end)?.try_into().ok()
}

/// `len` bytes at `off`, or `None` when out of range.
pub(crate) fn slice_at(data: &[u8], off: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(off).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    data.get(start..end)
}

pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at.saturating_add(2)) {
        Some(&[x, y]) => u16::from_le_bytes([x, y]),
        _ => 0,
    }
}

pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at.saturating_add(4)) {
        Some(&[a, c, d, e]) => u32::from_le_bytes([a, c, d, e]),
        _ => 0,
    }
}

pub(crate) fn le64(b: &[u8], at: usize) -> u64 {
    match b
        .get(at..at.saturating_add(8))
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
    {
        Some(a) => u64::from_le_bytes(a),
        None => 0,
    }
}

/// Iterates `(header id, data)` over an extra-field block; `malformed` is set when a field overruns.
///
/// Fewer than 4 trailing bytes are tolerated silently (zipalign pads with zero bytes).
pub(crate) struct ExtraFields<'b> {
    rest: &'b [u8],
    pub(crate) malformed: bool,
}

impl<'b> ExtraFields<'b> {
    pub(crate) fn new(extra: &'b [u8]) -> Self {
        ExtraFields {
            rest: extra,
            malformed: false,
        }
    }
}

impl<'b> Iterator for ExtraFields<'b> {
    type Item = (u16, &'b [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.len() < 4 {
            return None;
        }
        let id = le16(self.rest, 0);
        let len = usize::from(le16(self.rest, 2));
        match self.rest.get(4..4 + len) {
            Some(d) => {
                self.rest = self.rest.get(4 + len..).unwrap_or(&[]);
                Some((id, d))
            }
            None => {
                self.malformed = true;
                self.rest = &[];
                None
            }
        }
    }
}

// ---------- local file header ----------

/// The parts of a local file header that matter.
pub(crate) struct LocalHeader<'a> {
    pub(crate) flags: u16,
    pub(crate) method: u16,
    pub(crate) crc32: u32,
    pub(crate) compressed_size: u64,
    pub(crate) uncompressed_size: u64,
    pub(crate) name: &'a [u8],
    pub(crate) data_start: u64,
}

/// Parses the local header at `off`; the error is a short detail for messages.
pub(crate) fn parse_local_header(data: &[u8], off: u64) -> Result<LocalHeader<'_>, &'static str> {
    let h: &[u8; 30] =
        bytes_at(data, off).ok_or("the 30-byte local header runs past the end of the file")?;
    if h[0..4] != LFH_SIG {
        return Err("no local file header signature (PK\\3\\4) at this offset");
    }
    let name_len = u64::from(le16(h, 26));
    let extra_len = u64::from(le16(h, 28));
    let name_off = off.saturating_add(LFH_LEN);
    let name = slice_at(data, name_off, name_len)
        .ok_or("the local header's name runs past the end of the file")?;
    let extra_off = name_off.saturating_add(name_len);
    let extra = slice_at(data, extra_off, extra_len)
        .ok_or("the local header's extra field runs past the end of the file")?;
    let mut compressed_size = u64::from(le32(h, 18));
    let mut uncompressed_size = u64::from(le32(h, 22));
    if compressed_size == u64::from(SAT32) || uncompressed_size == u64::from(SAT32) {
        for (id, d) in ExtraFields::new(extra) {
            if id == 0x0001 && d.len() >= 16 {
                uncompressed_size = le64(d, 0);
                compressed_size = le64(d, 8);
                break;
            }
        }
    }
    Ok(LocalHeader {
        flags: le16(h, 6),
        method: le16(h, 8),
        crc32: le32(h, 14),
        compressed_size,
        uncompressed_size,
        name,
        data_start: extra_off.saturating_add(extra_len),
    })
}

// ---------- name checks ----------

fn has_traversal(name: &[u8]) -> bool {
    if name.first() == Some(&b'/') || name.contains(&b'\\') {
        return true;
    }
    if let [d, b':', ..] = name {
        if d.is_ascii_alphabetic() {
            return true;
        }
    }
    name.split(|&b| b == b'/').any(|seg| seg == b"..")
}

fn has_control(name: &[u8]) -> bool {
    name.iter().any(|&b| b < 0x20 || b == 0x7F)
}

// ---------- end records ----------

struct EndRecords<'a> {
    eocd_offset: u64,
    zip64_eocd_offset: Option<u64>,
    /// The central directory must end at or before this offset.
    cd_limit: u64,
    cd_offset: u64,
    cd_size: u64,
    total_entries: u64,
    comment: &'a [u8],
}

fn find_eocd(data: &[u8], log: &mut AnomalyLog) -> Result<usize, ZipError> {
    let n = data.len();
    let max_search = (EOCD_LEN + MAX_COMMENT) as u64;
    let no_eocd = || ZipError::NoEndOfCentralDirectory {
        file_len: n as u64,
        searched: (n as u64).min(max_search),
    };
    let last = n.checked_sub(EOCD_LEN).ok_or_else(no_eocd)?;
    let first = last.saturating_sub(MAX_COMMENT);
    let mut exact = None;
    let mut loose = None;
    let mut found = 0u64;
    for pos in (first..=last).rev() {
        if data.get(pos..pos + 4) != Some(&EOCD_SIG[..]) {
            continue;
        }
        found += 1;
        let comment_len = usize::from(le16(data, pos + 20));
        let end = pos + EOCD_LEN + comment_len;
        if end == n {
            exact.get_or_insert(pos);
        } else if end < n {
            loose.get_or_insert(pos);
        }
    }
    let pos = match (exact, loose) {
        (Some(p), _) => p,
        (None, Some(p)) => {
            log.push(
                AnomalyCode::EocdCommentLengthMismatch,
                Some(p as u64),
                || {
                    format!(
                    "no end-of-central-directory record's comment reaches the end of the file; \
                     using the last record whose comment fits, with {} trailing bytes",
                    n - p - EOCD_LEN - usize::from(le16(data, p + 20))
                )
                },
            );
            p
        }
        (None, None) => return Err(no_eocd()),
    };
    if found > 1 {
        log.push(AnomalyCode::MultipleEocd, Some(pos as u64), || {
            format!(
                "{found} end-of-central-directory signatures in the last {} bytes; using the one at offset {pos}",
                n - first
            )
        });
    }
    Ok(pos)
}

fn parse_end_records<'a>(data: &'a [u8], log: &mut AnomalyLog) -> Result<EndRecords<'a>, ZipError> {
    let pos = find_eocd(data, log)?;
    let eocd_offset = pos as u64;
    let e: &[u8; EOCD_LEN] = bytes_at(data, eocd_offset).ok_or(ZipError::Truncated {
        what: "end-of-central-directory record",
        offset: eocd_offset,
    })?;
    let disk = le16(e, 4);
    let cd_disk = le16(e, 6);
    let entries_disk = le16(e, 8);
    let entries_total = le16(e, 10);
    let cd_size32 = le32(e, 12);
    let cd_offset32 = le32(e, 16);
    let comment_len = u64::from(le16(e, 20));
    let comment_start = eocd_offset.saturating_add(EOCD_LEN as u64);
    let avail = (data.len() as u64).saturating_sub(comment_start);
    let comment = slice_at(data, comment_start, comment_len.min(avail)).unwrap_or(&[]);
    if disk != 0 || cd_disk != 0 || entries_disk != entries_total {
        log.push(AnomalyCode::MultiDiskFields, Some(eocd_offset), || {
            format!(
                "end-of-central-directory disk fields are set (disk {disk}, central directory disk {cd_disk}, \
                 {entries_disk} entries on this disk of {entries_total}); ignored like Android does"
            )
        });
    }
    let mut rec = EndRecords {
        eocd_offset,
        zip64_eocd_offset: None,
        cd_limit: eocd_offset,
        cd_offset: u64::from(cd_offset32),
        cd_size: u64::from(cd_size32),
        total_entries: u64::from(entries_total),
        comment,
    };
    let needs64 = entries_total == SAT16 || cd_size32 == SAT32 || cd_offset32 == SAT32;
    let Some(loc_off) = eocd_offset.checked_sub(ZIP64_LOCATOR_LEN) else {
        return Ok(rec);
    };
    let Some(loc) = bytes_at::<20>(data, loc_off) else {
        return Ok(rec);
    };
    if loc[0..4] != ZIP64_LOCATOR_SIG {
        return Ok(rec);
    }
    let loc_disk = le32(loc, 4);
    let z_off = le64(loc, 8);
    let total_disks = le32(loc, 16);
    let z = match bytes_at::<56>(data, z_off) {
        Some(z) if z[0..4] == ZIP64_EOCD_SIG && z_off.saturating_add(ZIP64_EOCD_LEN) <= loc_off => {
            z
        }
        _ => {
            if needs64 {
                return Err(ZipError::BadSignature {
                    what: "ZIP64 end-of-central-directory record",
                    offset: z_off,
                });
            }
            log.push(AnomalyCode::Zip64Inconsistent, Some(loc_off), || {
                format!("ZIP64 locator points to offset {z_off}, where there is no ZIP64 end record; ignored")
            });
            return Ok(rec);
        }
    };
    let z_disk = le32(z, 16);
    let z_cd_disk = le32(z, 20);
    let z_entries_disk = le64(z, 24);
    let z_entries_total = le64(z, 32);
    let z_cd_size = le64(z, 40);
    let z_cd_offset = le64(z, 48);
    if loc_disk != 0
        || total_disks > 1
        || z_disk != 0
        || z_cd_disk != 0
        || z_entries_disk != z_entries_total
    {
        log.push(AnomalyCode::MultiDiskFields, Some(z_off), || {
            format!(
                "ZIP64 disk fields are set (locator disk {loc_disk}, {total_disks} disks, record disk {z_disk}, \
                 central directory disk {z_cd_disk}, {z_entries_disk} entries on this disk of {z_entries_total}); ignored"
            )
        });
    }
    let mut inconsistent = false;
    let mut pick = |v32: u64, sat: bool, v64: u64| {
        if sat {
            v64
        } else {
            if v32 != v64 {
                inconsistent = true;
            }
            v32
        }
    };
    rec.total_entries = pick(rec.total_entries, entries_total == SAT16, z_entries_total);
    rec.cd_size = pick(rec.cd_size, cd_size32 == SAT32, z_cd_size);
    rec.cd_offset = pick(rec.cd_offset, cd_offset32 == SAT32, z_cd_offset);
    if inconsistent {
        log.push(AnomalyCode::Zip64Inconsistent, Some(z_off), || {
            format!(
                "ZIP64 end record (entries {z_entries_total}, central directory size {z_cd_size} at {z_cd_offset}) \
                 disagrees with the non-saturated 32-bit fields (entries {entries_total}, size {cd_size32} at \
                 {cd_offset32}); the 32-bit values are used"
            )
        });
    }
    rec.zip64_eocd_offset = Some(z_off);
    rec.cd_limit = z_off;
    Ok(rec)
}

// ---------- archive ----------

impl<'a> Archive<'a> {
    /// Parses the archive structure (end records, central directory, local headers).
    ///
    /// Nothing is inflated here; see [`Archive::read`].
    pub fn parse(data: &'a [u8], limits: Limits) -> Result<Self, ZipError> {
        let mut log = AnomalyLog::new();
        let end = parse_end_records(data, &mut log)?;
        let cd_end = end.cd_offset.checked_add(end.cd_size).ok_or_else(|| {
            ZipError::BadCentralDirectory {
                detail: format!(
                    "central directory offset {} + size {} overflows",
                    end.cd_offset, end.cd_size
                ),
                offset: end.eocd_offset,
            }
        })?;
        if cd_end > end.cd_limit {
            return Err(ZipError::BadCentralDirectory {
                detail: format!(
                    "central directory at offset {} with size {} runs past the end record at offset {}",
                    end.cd_offset, end.cd_size, end.cd_limit
                ),
                offset: end.cd_offset,
            });
        }

        // Bound the preallocation by what the central directory can physically hold.
        let cap = end
            .total_entries
            .min(end.cd_size / CD_ENTRY_LEN)
            .min(limits.max_entries as u64);
        let mut entries: Vec<Entry> = Vec::with_capacity(usize::try_from(cap).unwrap_or(0));
        let mut index: HashMap<&'a [u8], usize> = HashMap::with_capacity(entries.capacity());

        let mut p = end.cd_offset;
        while p < cd_end {
            match bytes_at::<4>(data, p) {
                Some(sig) if cd_end - p >= 4 && *sig == CD_SIG => {}
                _ => {
                    log.push(AnomalyCode::GarbageBeforeEocd, Some(p), || {
                        format!(
                            "{} bytes inside the declared central directory do not form an entry",
                            cd_end - p
                        )
                    });
                    break;
                }
            }
            if entries.len() >= limits.max_entries {
                return Err(ZipError::TooManyEntries {
                    limit: limits.max_entries,
                });
            }
            let truncated = || ZipError::Truncated {
                what: "central directory entry",
                offset: p,
            };
            if cd_end - p < CD_ENTRY_LEN {
                return Err(truncated());
            }
            let h: &[u8; 46] = bytes_at(data, p).ok_or_else(truncated)?;
            let name_len = u64::from(le16(h, 28));
            let extra_len = u64::from(le16(h, 30));
            let comment_len = u64::from(le16(h, 32));
            let total = CD_ENTRY_LEN + name_len + extra_len + comment_len;
            if cd_end - p < total {
                return Err(truncated());
            }
            let name: &'a [u8] =
                slice_at(data, p + CD_ENTRY_LEN, name_len).ok_or_else(truncated)?;
            let extra =
                slice_at(data, p + CD_ENTRY_LEN + name_len, extra_len).ok_or_else(truncated)?;
            let disk_start = le16(h, 34);
            let c32 = le32(h, 20);
            let u32_ = le32(h, 24);
            let o32 = le32(h, 42);
            let mut entry = Entry {
                name: name.to_vec(),
                method: le16(h, 10),
                flags: le16(h, 8),
                crc32: le32(h, 16),
                compressed_size: u64::from(c32),
                uncompressed_size: u64::from(u32_),
                local_header_offset: u64::from(o32),
                data_offset: 0,
                cd_entry_offset: p,
            };
            let idx = entries.len();

            // Extra fields: ZIP64 sizes and offsets; flag overruns.
            let need64 = u32_ == SAT32 || c32 == SAT32 || o32 == SAT32;
            let mut fields = ExtraFields::new(extra);
            let mut short64 = false;
            let mut missing64 = need64;
            for (id, d) in &mut fields {
                if id != 0x0001 || !missing64 {
                    continue;
                }
                missing64 = false;
                let mut cur = 0usize;
                let mut take = |field: &mut u64| {
                    if d.len() >= cur + 8 {
                        *field = le64(d, cur);
                        cur += 8;
                    } else {
                        short64 = true;
                    }
                };
                if u32_ == SAT32 {
                    take(&mut entry.uncompressed_size);
                }
                if c32 == SAT32 {
                    take(&mut entry.compressed_size);
                }
                if o32 == SAT32 {
                    take(&mut entry.local_header_offset);
                }
            }
            let malformed = fields.malformed || short64;
            if malformed || missing64 {
                log.push(AnomalyCode::ExtraFieldMalformed, Some(p), || {
                    if missing64 {
                        format!(
                            "entry {:?} has 0xFFFFFFFF sizes/offset but no ZIP64 extra field",
                            display_name(name)
                        )
                    } else {
                        format!(
                            "entry {:?} has a truncated or overrunning extra field",
                            display_name(name)
                        )
                    }
                });
            }
            if disk_start != 0 && disk_start != SAT16 {
                log.push(AnomalyCode::MultiDiskFields, Some(p), || {
                    format!(
                        "entry {:?} claims to start on disk {disk_start}; ignored",
                        display_name(name)
                    )
                });
            }

            // Name checks.
            if name.is_empty() {
                log.push(AnomalyCode::EmptyName, Some(p), || {
                    "entry with an empty name".to_owned()
                });
            }
            if has_traversal(name) {
                log.push(AnomalyCode::PathTraversalName, Some(p), || {
                    format!(
                        "entry name {:?} is absolute, has a drive letter, a backslash or a `..` segment",
                        display_name(name)
                    )
                });
            }
            if has_control(name) {
                log.push(AnomalyCode::ControlCharInName, Some(p), || {
                    format!(
                        "entry name {:?} contains control characters",
                        display_name(name)
                    )
                });
            }
            if entry.flags & 0x0001 != 0 {
                log.push(AnomalyCode::FakeEncryptionFlag, Some(p), || {
                    format!(
                        "entry {:?} has the encryption flag (bit 0) set; ignored like Android, data read as-is",
                        display_name(name)
                    )
                });
            }
            if entry.method != 0 && entry.method != 8 {
                let m = entry.method;
                log.push(AnomalyCode::UnknownCompressionMethod, Some(p), || {
                    format!(
                        "entry {:?} declares compression method {m}; Android reads it as stored (or deflate)",
                        display_name(name)
                    )
                });
            }
            match index.entry(name) {
                MapEntry::Occupied(o) => {
                    let first = entries
                        .get(*o.get())
                        .map_or(0, |e: &Entry| e.cd_entry_offset);
                    log.push(AnomalyCode::DuplicateEntryName, Some(p), || {
                        format!(
                            "entry name {:?} already used by the central-directory entry at offset {first}; \
                             find() returns the first one, Android rejects such APKs",
                            display_name(name)
                        )
                    });
                }
                MapEntry::Vacant(v) => {
                    v.insert(idx);
                }
            }
            entries.push(entry);
            p += total;
        }

        if entries.len() as u64 != end.total_entries {
            let (found, declared) = (entries.len(), end.total_entries);
            log.push(AnomalyCode::CdEntryCountMismatch, Some(end.eocd_offset), || {
                format!("end record declares {declared} entries but the central directory holds {found}")
            });
        }
        if cd_end != end.cd_limit {
            let gap = end.cd_limit - cd_end;
            log.push(AnomalyCode::GarbageBeforeEocd, Some(cd_end), || {
                format!("{gap} bytes between the end of the central directory and the end record")
            });
        }

        check_local_headers(data, &mut entries, end.cd_offset, &mut log);

        Ok(Archive {
            data,
            limits,
            entries,
            index,
            log,
            cd_offset: end.cd_offset,
            cd_size: end.cd_size,
            eocd_offset: end.eocd_offset,
            zip64_eocd_offset: end.zip64_eocd_offset,
            declared_entries: end.total_entries,
            comment: end.comment,
            inflated: AtomicU64::new(0),
            read_log: Mutex::new(ReadLog {
                log: AnomalyLog::new(),
                seen: HashSet::new(),
            }),
        })
    }

    /// All central-directory entries, in central-directory order (duplicates included).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The FIRST entry whose raw name equals `name` byte for byte.
    ///
    /// Duplicates are flagged as [`AnomalyCode::DuplicateEntryName`]; use [`Archive::find_all`] to see them all.
    pub fn find(&self, name: &str) -> Option<&Entry> {
        self.find_bytes(name.as_bytes())
    }

    /// Like [`Archive::find`], for a raw (possibly non-UTF-8) name.
    pub fn find_bytes(&self, name: &[u8]) -> Option<&Entry> {
        self.index.get(name).and_then(|&i| self.entries.get(i))
    }

    /// Every entry whose raw name equals `name`, in central-directory order.
    pub fn find_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Entry> + 's {
        self.entries
            .iter()
            .filter(move |e| e.name == name.as_bytes())
    }

    /// Parse-time anomalies (at most [`crate::MAX_ANOMALIES`]; see [`Archive::anomalies_dropped`]).
    pub fn anomalies(&self) -> &[Anomaly] {
        &self.log.kept
    }

    /// How many parse-time anomalies of this kind occurred, including dropped ones.
    pub fn anomaly_count(&self, code: AnomalyCode) -> u64 {
        self.log.count(code)
    }

    /// How many parse-time anomalies were counted but not kept because the list was full.
    pub fn anomalies_dropped(&self) -> u64 {
        self.log.dropped
    }

    /// The limits this archive was parsed with.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Offset of the central directory's first byte.
    pub fn cd_offset(&self) -> u64 {
        self.cd_offset
    }

    /// Size of the central directory in bytes, as declared by the end record.
    pub fn cd_size(&self) -> u64 {
        self.cd_size
    }

    /// Offset of the (32-bit) end-of-central-directory record.
    pub fn eocd_offset(&self) -> u64 {
        self.eocd_offset
    }

    /// Offset of the ZIP64 end-of-central-directory record, when one is used.
    pub fn zip64_eocd_offset(&self) -> Option<u64> {
        self.zip64_eocd_offset
    }

    /// The entry count declared by the end record (untrusted; compare with `entries().len()`).
    pub fn declared_entry_count(&self) -> u64 {
        self.declared_entries
    }

    /// The archive comment (the bytes after the EOCD record, at most its declared length).
    pub fn comment(&self) -> &'a [u8] {
        self.comment
    }

    /// The whole input.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}

/// Resolves every entry's data offset and compares local headers with the central directory.
fn check_local_headers(data: &[u8], entries: &mut [Entry], cd_offset: u64, log: &mut AnomalyLog) {
    // (start, end, index) of each entry's local header + data, for the overlap sweep.
    let mut ranges: Vec<(u64, u64, usize)> = Vec::with_capacity(entries.len());
    for i in 0..entries.len() {
        let Some(e) = entries.get_mut(i) else {
            continue;
        };
        let lfh = match parse_local_header(data, e.local_header_offset) {
            Ok(l) => l,
            Err(detail) => {
                log.push(
                    AnomalyCode::LocalHeaderInvalid,
                    Some(e.local_header_offset),
                    || format!("entry {:?}: {detail}", display_name(&e.name)),
                );
                continue;
            }
        };
        e.data_offset = lfh.data_start;
        let e: &Entry = e;
        let name = e.name.as_slice();
        let data_end = e.data_end();
        if data_end > data.len() as u64 || e.data_offset.checked_add(e.compressed_size).is_none() {
            let (start, size) = (e.data_offset, e.compressed_size);
            log.push(AnomalyCode::LocalHeaderInvalid, Some(e.local_header_offset), || {
                format!(
                    "entry {:?}: {size} bytes of data from offset {start} run past the end of the file",
                    display_name(name)
                )
            });
        } else if data_end > cd_offset {
            log.push(AnomalyCode::DataOverlapsCentralDirectory, Some(e.data_offset), || {
                format!(
                    "entry {:?}: data ends at offset {data_end}, past the central directory start {cd_offset}",
                    display_name(name)
                )
            });
        }
        ranges.push((e.local_header_offset, data_end.max(e.data_offset), i));

        // Compare the local header with the central directory.
        let dd = (e.flags | lfh.flags) & 0x0008 != 0;
        let name_diff = lfh.name != name;
        let method_diff = lfh.method != e.method;
        let flags_diff = lfh.flags != e.flags;
        let crc_diff = !dd && lfh.crc32 != e.crc32;
        let csize_diff = !dd && lfh.compressed_size != e.compressed_size;
        let usize_diff = !dd && lfh.uncompressed_size != e.uncompressed_size;
        if name_diff || method_diff || flags_diff || crc_diff || csize_diff || usize_diff {
            let e_ref = e;
            log.push(AnomalyCode::LocalHeaderMismatch, Some(e_ref.local_header_offset), || {
                let mut parts = Vec::new();
                if name_diff {
                    parts.push(format!("name (local {:?})", display_name(lfh.name)));
                }
                if method_diff {
                    parts.push(format!("method (local {}, central {})", lfh.method, e_ref.method));
                }
                if flags_diff {
                    parts.push(format!("flags (local {:#06x}, central {:#06x})", lfh.flags, e_ref.flags));
                }
                if crc_diff {
                    parts.push(format!("crc32 (local {:#010x}, central {:#010x})", lfh.crc32, e_ref.crc32));
                }
                if csize_diff {
                    parts.push(format!(
                        "compressed size (local {}, central {})",
                        lfh.compressed_size, e_ref.compressed_size
                    ));
                }
                if usize_diff {
                    parts.push(format!(
                        "uncompressed size (local {}, central {})",
                        lfh.uncompressed_size, e_ref.uncompressed_size
                    ));
                }
                format!(
                    "entry {:?}: local header differs from the central directory in {}; the central directory is used",
                    display_name(name),
                    parts.join(", ")
                )
            });
        }

        if e.flags & 0x0008 != 0 {
            check_data_descriptor(data, e, log);
        }
    }

    if let Some(first) = ranges.iter().map(|r| r.0).min() {
        if first > 0 {
            let janus = data.starts_with(b"dex\n");
            log.push(AnomalyCode::DataBeforeFirstEntry, Some(0), || {
                format!(
                    "{first} bytes precede the first local file header{}",
                    if janus {
                        " and start with a DEX magic (Janus, CVE-2017-13156)"
                    } else {
                        ""
                    }
                )
            });
        }
    }

    ranges.sort_unstable();
    let mut reach: Option<(u64, usize)> = None; // furthest end so far and its entry
    for &(start, end, i) in &ranges {
        if let Some((far, j)) = reach {
            if start < far {
                let a = entries
                    .get(j)
                    .map(|e| display_name(&e.name))
                    .unwrap_or_default();
                let b = entries
                    .get(i)
                    .map(|e| display_name(&e.name))
                    .unwrap_or_default();
                log.push(AnomalyCode::OverlappingEntries, Some(start), move || {
                    format!("entry {b:?} (local header at {start}) overlaps entry {a:?}, which extends to {far}")
                });
            }
        }
        if reach.is_none_or(|(far, _)| end > far) {
            reach = Some((end, i));
        }
    }
}

/// Checks the data descriptor that follows an entry's data when flag bit 3 is set.
fn check_data_descriptor(data: &[u8], e: &Entry, log: &mut AnomalyLog) {
    let mut p = e.data_end();
    if bytes_at::<4>(data, p) == Some(&DD_SIG) {
        p = p.saturating_add(4);
    }
    let ok32 = bytes_at::<12>(data, p).is_some_and(|d| {
        le32(d, 0) == e.crc32
            && u64::from(le32(d, 4)) == e.compressed_size
            && u64::from(le32(d, 8)) == e.uncompressed_size
    });
    let ok64 = || {
        bytes_at::<20>(data, p).is_some_and(|d| {
            le32(d, 0) == e.crc32
                && le64(d, 4) == e.compressed_size
                && le64(d, 12) == e.uncompressed_size
        })
    };
    if !ok32 && !ok64() {
        log.push(AnomalyCode::DataDescriptorMismatch, Some(e.data_end()), || {
            format!(
                "entry {:?}: the data descriptor after the data is missing or disagrees with the central directory",
                display_name(&e.name)
            )
        });
    }
}
