//! Reading entry data: stored zero-copy, bounded raw-deflate inflation, Android's unknown-method tolerance.

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use flate2::{Decompress, FlushDecompress, Status};

use crate::anomaly::{display_name, Anomaly, AnomalyCode};
use crate::archive::{parse_local_header, slice_at, Archive, Entry, RATIO_CHECK_FLOOR};
use crate::error::ZipError;

/// Deflate cannot expand better than about 1032:1; used to bound preallocation by the input size.
const DEFLATE_MAX_RATIO: u64 = 1032;
/// Smallest growth step of the output buffer.
const MIN_GROW: u64 = 64 << 10;

/// Why an inflation attempt stopped.
enum InflateFail {
    /// A limit was hit: always an error.
    Limit(ZipError),
    /// Corrupt or truncated stream, or (in trial mode) output longer than declared.
    Data(String),
}

impl<'a> Archive<'a> {
    /// The compressed bytes of an entry, as stored in the file.
    ///
    /// The local header is re-checked; its bounds and signature must be valid.
    pub fn raw_data(&self, entry: &Entry) -> Result<&'a [u8], ZipError> {
        let lfh = parse_local_header(self.data, entry.local_header_offset).map_err(|detail| {
            ZipError::BadLocalHeader {
                name: display_name(&entry.name),
                offset: entry.local_header_offset,
                detail: detail.to_owned(),
            }
        })?;
        slice_at(self.data, lfh.data_start, entry.compressed_size).ok_or(ZipError::Truncated {
            what: "entry data",
            offset: lfh.data_start,
        })
    }

    /// The uncompressed bytes of an entry.
    ///
    /// Stored entries are borrowed from the input without copying.
    /// Deflated entries are inflated under [`crate::Limits`], counting towards the archive's total budget.
    /// Other methods are resolved like Android: equal sizes mean stored; else raw deflate if it ends cleanly
    /// with the declared size; else stored.
    /// A CRC mismatch, a size mismatch or an unknown method is recorded (see [`Archive::read_anomalies`]),
    /// not an error.
    pub fn read(&self, entry: &Entry) -> Result<Cow<'a, [u8]>, ZipError> {
        let raw = self.raw_data(entry)?;
        let csize = entry.compressed_size;
        let usize_ = entry.uncompressed_size;
        let out: Cow<'a, [u8]> = match entry.method {
            0 => {
                if csize != usize_ {
                    self.note(entry, AnomalyCode::StoredSizeMismatch, || {
                        format!(
                            "stored entry {:?} declares {csize} compressed but {usize_} uncompressed bytes; \
                             the {csize} stored bytes are returned",
                            display_name(&entry.name)
                        )
                    });
                }
                Cow::Borrowed(raw)
            }
            8 => match self.inflate(entry, raw, false) {
                Ok(v) => Cow::Owned(v),
                Err(InflateFail::Limit(e)) => return Err(e),
                Err(InflateFail::Data(detail)) => {
                    return Err(ZipError::Inflate {
                        name: display_name(&entry.name),
                        offset: entry.data_offset,
                        detail,
                    })
                }
            },
            m => {
                let (resolved, how) = if csize == usize_ {
                    (
                        Cow::Borrowed(raw),
                        "stored (compressed size equals uncompressed size)",
                    )
                } else {
                    match self.inflate(entry, raw, true) {
                        Ok(v) if v.len() as u64 == usize_ => (
                            Cow::Owned(v),
                            "raw deflate (the stream ends cleanly with the declared size)",
                        ),
                        Ok(_) | Err(InflateFail::Data(_)) => (
                            Cow::Borrowed(raw),
                            "stored (the data is not a clean deflate stream)",
                        ),
                        Err(InflateFail::Limit(e)) => return Err(e),
                    }
                };
                self.note(entry, AnomalyCode::UnknownCompressionMethod, || {
                    format!(
                        "entry {:?} with compression method {m} was read as {how}",
                        display_name(&entry.name)
                    )
                });
                resolved
            }
        };
        if entry.method == 8 && out.len() as u64 != usize_ {
            let got = out.len();
            self.note(entry, AnomalyCode::UncompressedSizeMismatch, || {
                format!(
                    "entry {:?} inflates to {got} bytes but declares {usize_}",
                    display_name(&entry.name)
                )
            });
        }
        let crc = crc32fast::hash(&out);
        if crc != entry.crc32 {
            let want = entry.crc32;
            self.note(entry, AnomalyCode::CrcMismatch, || {
                format!(
                    "entry {:?}: CRC-32 of the data is {crc:#010x}, the central directory says {want:#010x}",
                    display_name(&entry.name)
                )
            });
        }
        Ok(out)
    }

    /// The first `n` (at most 64) uncompressed bytes of an entry, for sniffing magic numbers.
    ///
    /// Only as much of a deflate stream as needed is inflated, so this costs microseconds whatever the entry's size,
    /// and it neither counts towards the inflation budget nor records anomalies.
    /// Entries with unknown methods are sniffed as stored bytes.
    pub fn peek(&self, entry: &Entry, n: usize) -> Result<Vec<u8>, ZipError> {
        let raw = self.raw_data(entry)?;
        let n = n.min(64);
        if entry.method != 8 {
            return Ok(raw.get(..n.min(raw.len())).unwrap_or_default().to_vec());
        }
        let mut out = vec![0u8; n];
        let mut inflater = Decompress::new(false);
        let mut filled = 0usize;
        // Each call makes progress or ends; a few hundred rounds cover any header a deflate stream can hold.
        for _ in 0..1024 {
            let in_pos = usize::try_from(inflater.total_in()).unwrap_or(usize::MAX);
            let Some(input) = raw.get(in_pos..) else {
                break;
            };
            let status = inflater
                .decompress(input, &mut out[filled..], FlushDecompress::None)
                .map_err(|e| ZipError::Inflate {
                    name: display_name(&entry.name),
                    offset: entry.data_offset,
                    detail: e.to_string(),
                })?;
            filled = usize::try_from(inflater.total_out()).unwrap_or(n).min(n);
            if filled >= n || matches!(status, Status::StreamEnd) || input.is_empty() {
                break;
            }
        }
        out.truncate(filled);
        Ok(out)
    }

    /// Anomalies found by [`Archive::read`] so far (each entry and code at most once), sorted by offset.
    ///
    /// Their offset is the entry's central-directory record ([`Entry::cd_entry_offset`]).
    /// At most [`crate::MAX_ANOMALIES`] are kept.
    pub fn read_anomalies(&self) -> Vec<Anomaly> {
        let guard = self.read_log.lock().unwrap_or_else(|p| p.into_inner());
        let mut v = guard.log.kept.clone();
        v.sort_by_key(|a| (a.offset, a.code));
        v
    }

    /// Bytes inflated so far by reads of this archive (checked against [`crate::Limits::max_total_inflated`]).
    pub fn inflated_total(&self) -> u64 {
        self.inflated.load(Ordering::Relaxed)
    }

    /// Records a read-time anomaly once per (entry, code).
    fn note(&self, entry: &Entry, code: AnomalyCode, detail: impl FnOnce() -> String) {
        let mut guard = self.read_log.lock().unwrap_or_else(|p| p.into_inner());
        if guard.seen.insert((entry.cd_entry_offset, code)) {
            guard.log.push(code, Some(entry.cd_entry_offset), detail);
        }
    }

    /// Inflates raw deflate data under the limits.
    ///
    /// In `trial` mode (unknown method), output longer than the declared size is a data failure.
    fn inflate(&self, entry: &Entry, raw: &[u8], trial: bool) -> Result<Vec<u8>, InflateFail> {
        let lim = self.limits;
        let name = || display_name(&entry.name);
        let too_large = || {
            InflateFail::Limit(ZipError::EntryTooLarge {
                name: name(),
                limit: lim.max_entry_size,
            })
        };
        if entry.uncompressed_size > lim.max_entry_size {
            return Err(too_large());
        }
        let csize = raw.len() as u64;
        let ratio_cap = csize.saturating_mul(lim.max_ratio).max(RATIO_CHECK_FLOOR);
        let budget_left = lim
            .max_total_inflated
            .saturating_sub(self.inflated.load(Ordering::Relaxed));
        // The buffer never grows past this + 1 byte, so exceeding any limit is detected without allocating more.
        let mut cap = lim.max_entry_size.min(ratio_cap).min(budget_left);
        if trial {
            cap = cap.min(entry.uncompressed_size);
        }
        let physical = csize.saturating_mul(DEFLATE_MAX_RATIO).saturating_add(1024);
        let prealloc = entry
            .uncompressed_size
            .min(cap.saturating_add(1))
            .min(physical);
        let mut out: Vec<u8> = Vec::new();
        reserve(&mut out, prealloc)?;

        let mut d = Decompress::new(false);
        loop {
            if out.len() == out.capacity() {
                let len = out.len() as u64;
                let target = len
                    .saturating_mul(2)
                    .max(len.saturating_add(MIN_GROW))
                    .min(cap.saturating_add(1));
                if target <= len {
                    // Only reachable when len > cap, which the checks below already reject.
                    return Err(InflateFail::Data("output buffer limit reached".to_owned()));
                }
                reserve(&mut out, target - len)?;
            }
            let consumed_before = d.total_in();
            let produced_before = d.total_out();
            let input = usize::try_from(consumed_before)
                .ok()
                .and_then(|i| raw.get(i..))
                .unwrap_or(&[]);
            let status = d
                .decompress_vec(input, &mut out, FlushDecompress::None)
                .map_err(|e| InflateFail::Data(format!("corrupt deflate stream: {e}")))?;
            let produced = d.total_out().saturating_sub(produced_before);
            let consumed = d.total_in().saturating_sub(consumed_before);
            if produced > 0 {
                let total = self
                    .inflated
                    .fetch_add(produced, Ordering::Relaxed)
                    .saturating_add(produced);
                let len = out.len() as u64;
                if len > lim.max_entry_size {
                    return Err(too_large());
                }
                if len > ratio_cap {
                    return Err(InflateFail::Limit(ZipError::CompressionRatioExceeded {
                        name: name(),
                        ratio: len / csize.max(1),
                        limit: lim.max_ratio,
                    }));
                }
                if total > lim.max_total_inflated {
                    return Err(InflateFail::Limit(ZipError::TotalSizeExceeded {
                        limit: lim.max_total_inflated,
                    }));
                }
                if trial && len > entry.uncompressed_size {
                    return Err(InflateFail::Data(
                        "longer than the declared size".to_owned(),
                    ));
                }
            }
            match status {
                Status::StreamEnd => return Ok(out),
                Status::Ok | Status::BufError => {
                    if produced == 0 && consumed == 0 && out.len() < out.capacity() {
                        return Err(InflateFail::Data(format!(
                            "deflate stream truncated after {} of {} compressed bytes",
                            d.total_in(),
                            csize
                        )));
                    }
                }
            }
        }
    }
}

/// Reserves `additional` bytes, turning an allocation failure into an error.
fn reserve(out: &mut Vec<u8>, additional: u64) -> Result<(), InflateFail> {
    let n = usize::try_from(additional).unwrap_or(usize::MAX);
    out.try_reserve_exact(n)
        .map_err(|e| InflateFail::Data(format!("cannot allocate {additional} bytes: {e}")))
}
