//! ResStringPool parsing (UTF-8 and UTF-16), bounded by the chunk.

use crate::anomaly::Anomalies;
use crate::reader::{u16_at, u32_at, u8_at, us};

/// `RES_STRING_POOL_TYPE`.
pub(crate) const RES_STRING_POOL_TYPE: u16 = 0x0001;
const UTF8_FLAG: u32 = 0x100;
const POOL_HEADER_SIZE: usize = 28;

/// A decoded string pool.
#[derive(Debug, Default, Clone)]
pub(crate) struct StringPool {
    pub(crate) strings: Vec<String>,
    pub(crate) utf8: bool,
}

impl StringPool {
    pub(crate) fn get(&self, idx: u32) -> Option<&str> {
        self.strings.get(us(idx)).map(String::as_str)
    }
}

/// Parses the pool whose chunk starts at `base` and ends (already clamped to
/// the data) at `chunk_end`. Never fails: problems are anomalies and the pool
/// holds what could be decoded.
pub(crate) fn parse_string_pool(
    data: &[u8],
    base: usize,
    chunk_end: usize,
    an: &mut Anomalies,
) -> StringPool {
    let mut pool = StringPool::default();
    let chunk_end = chunk_end.min(data.len());
    let (
        Some(hs),
        Some(count),
        Some(style_count),
        Some(flags),
        Some(strings_start),
        Some(styles_start),
    ) = (
        u16_at(data, base + 2),
        u32_at(data, base + 8),
        u32_at(data, base + 12),
        u32_at(data, base + 16),
        u32_at(data, base + 20),
        u32_at(data, base + 24),
    )
    else {
        an.push(
            "bad_string_pool_header",
            base,
            "string pool header truncated",
        );
        return pool;
    };
    let hs = usize::from(hs);
    if hs < POOL_HEADER_SIZE || base.saturating_add(POOL_HEADER_SIZE) > chunk_end {
        an.push(
            "bad_string_pool_header",
            base,
            format!("string pool header size {hs} is smaller than {POOL_HEADER_SIZE} or truncated"),
        );
        return pool;
    }
    pool.utf8 = flags & UTF8_FLAG != 0;
    let offsets_start = base.saturating_add(hs);
    if offsets_start > chunk_end {
        an.push(
            "bad_string_pool_header",
            base,
            "string pool header runs past its chunk",
        );
        return pool;
    }
    if count == 0 {
        return pool;
    }
    let strings_abs = base.saturating_add(us(strings_start));
    if strings_start == 0 || strings_abs > chunk_end {
        an.push(
            "bad_strings_start",
            base,
            format!("stringsStart {strings_start:#x} is outside the string pool chunk"),
        );
        return pool;
    }
    // Room for the offsets array: up to stringsStart when it lies after the
    // header, otherwise to the end of the chunk.
    let offsets_limit = if strings_abs >= offsets_start {
        strings_abs
    } else {
        an.push(
            "bad_strings_start",
            base,
            "stringsStart overlaps the string pool header",
        );
        chunk_end
    };
    let avail_entries = (offsets_limit - offsets_start) / 4;
    let fits = if style_count != 0 && avail_entries > us(style_count) {
        avail_entries - us(style_count)
    } else {
        avail_entries
    };
    let mut n = us(count);
    if n > fits {
        an.push(
            "string_count_tampered",
            base + 8,
            format!("stringCount {count} but only {fits} offsets fit before the string data"),
        );
        n = fits;
    }
    let strings_end = if style_count > 0 && styles_start != 0 {
        let s = base.saturating_add(us(styles_start));
        if s > strings_abs && s <= chunk_end {
            s
        } else {
            an.push(
                "bad_styles_start",
                base + 24,
                format!("stylesStart {styles_start:#x} is outside the pool"),
            );
            chunk_end
        }
    } else {
        if style_count == 0 && styles_start != 0 {
            an.push(
                "styles_start_without_styles",
                base + 24,
                format!("stylesStart {styles_start:#x} with styleCount 0 (ignored)"),
            );
        }
        chunk_end
    };
    pool.strings.reserve(n);
    let mut bad_offsets = 0usize;
    // Offsets may all point at one long string: cap the decoded total so a
    // small pool cannot expand into gigabytes. Legitimate pools decode to at
    // most ~3x their size (UTF-16 to UTF-8, lossy replacement characters).
    let mut budget = (chunk_end - base).saturating_mul(4).saturating_add(1 << 20);
    for i in 0..n {
        let off_pos = offsets_start + i * 4;
        let Some(rel) = u32_at(data, off_pos) else {
            break;
        };
        let p = strings_abs.saturating_add(us(rel));
        if p >= strings_end {
            bad_offsets += 1;
            if bad_offsets <= 4 {
                an.push(
                    "string_offset_out_of_bounds",
                    off_pos,
                    format!("string {i} offset {rel:#x} lies outside the string data"),
                );
            }
            pool.strings.push(String::new());
            continue;
        }
        if budget == 0 {
            pool.strings.push(String::new());
            continue;
        }
        let s = if pool.utf8 {
            decode_utf8(data, p, strings_end, i, an)
        } else {
            decode_utf16(data, p, strings_end, i, an)
        };
        if s.len() > budget {
            an.push(
                "string_pool_budget_exceeded",
                off_pos,
                format!("decoded strings exceed {}x the pool size; rest emptied", 4),
            );
            budget = 0;
            pool.strings.push(String::new());
            continue;
        }
        budget -= s.len();
        pool.strings.push(s);
    }
    pool
}

fn len8(data: &[u8], p: usize, end: usize) -> Option<(usize, usize)> {
    if p >= end {
        return None;
    }
    let b0 = u8_at(data, p)?;
    if b0 & 0x80 != 0 {
        if p + 1 >= end {
            return None;
        }
        let b1 = u8_at(data, p + 1)?;
        Some(((usize::from(b0 & 0x7f) << 8) | usize::from(b1), 2))
    } else {
        Some((usize::from(b0), 1))
    }
}

fn len16(data: &[u8], p: usize, end: usize) -> Option<(usize, usize)> {
    if p + 2 > end {
        return None;
    }
    let u0 = u16_at(data, p)?;
    if u0 & 0x8000 != 0 {
        if p + 4 > end {
            return None;
        }
        let u1 = u16_at(data, p + 2)?;
        Some(((us(u32::from(u0 & 0x7fff)) << 16) | usize::from(u1), 4))
    } else {
        Some((usize::from(u0), 2))
    }
}

fn decode_utf8(data: &[u8], p: usize, end: usize, i: usize, an: &mut Anomalies) -> String {
    let Some((_chars, n1)) = len8(data, p, end) else {
        an.push(
            "bad_string_length",
            p,
            format!("string {i}: length prefix unreadable"),
        );
        return String::new();
    };
    let Some((blen, n2)) = len8(data, p + n1, end) else {
        an.push(
            "bad_string_length",
            p,
            format!("string {i}: length prefix unreadable"),
        );
        return String::new();
    };
    let s = p + n1 + n2;
    let avail = end.saturating_sub(s);
    let take = if blen > avail {
        an.push(
            "string_overrun",
            p,
            format!("string {i}: {blen} bytes declared, {avail} available"),
        );
        avail
    } else {
        if u8_at(data, s + blen) != Some(0) || s + blen >= end {
            an.push(
                "string_not_terminated",
                p,
                format!("string {i} is not NUL-terminated"),
            );
        }
        blen
    };
    let bytes = data.get(s..s + take).unwrap_or_default();
    String::from_utf8_lossy(bytes).into_owned()
}

fn decode_utf16(data: &[u8], p: usize, end: usize, i: usize, an: &mut Anomalies) -> String {
    let Some((ulen, n)) = len16(data, p, end) else {
        an.push(
            "bad_string_length",
            p,
            format!("string {i}: length prefix unreadable"),
        );
        return String::new();
    };
    let s = p + n;
    let avail = end.saturating_sub(s) / 2;
    let take = if ulen > avail {
        an.push(
            "string_overrun",
            p,
            format!("string {i}: {ulen} UTF-16 units declared, {avail} available"),
        );
        avail
    } else {
        let t = s + ulen * 2;
        if t + 2 > end || u16_at(data, t) != Some(0) {
            an.push(
                "string_not_terminated",
                p,
                format!("string {i} is not NUL-terminated"),
            );
        }
        ulen
    };
    let units: Vec<u16> = (0..take).filter_map(|k| u16_at(data, s + k * 2)).collect();
    String::from_utf16_lossy(&units)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(utf8: bool, offsets: &[u32], data: &[u8], count: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(RES_STRING_POOL_TYPE.to_le_bytes());
        v.extend(28u16.to_le_bytes());
        let size = 28 + offsets.len() * 4 + data.len();
        v.extend(u32::try_from(size).unwrap_or(0).to_le_bytes());
        v.extend(count.to_le_bytes());
        v.extend(0u32.to_le_bytes());
        v.extend((if utf8 { UTF8_FLAG } else { 0 }).to_le_bytes());
        v.extend(
            u32::try_from(28 + offsets.len() * 4)
                .unwrap_or(0)
                .to_le_bytes(),
        );
        v.extend(0u32.to_le_bytes());
        for o in offsets {
            v.extend(o.to_le_bytes());
        }
        v.extend(data);
        v
    }

    fn parse(v: &[u8]) -> (StringPool, Anomalies) {
        let mut an = Anomalies::default();
        let p = parse_string_pool(v, 0, v.len(), &mut an);
        (p, an)
    }

    #[test]
    fn utf8_two_byte_lengths() {
        let s = "é".repeat(200); // 200 chars, 400 bytes: both lengths need 2 bytes
        let mut data = vec![0x80, 200, 0x81, 0x90];
        data.extend(s.as_bytes());
        data.push(0);
        let (p, an) = parse(&pool(true, &[0], &data, 1));
        assert_eq!(p.strings, vec![s]);
        assert!(an.list.is_empty(), "{:?}", an.list);
    }

    #[test]
    fn utf16_two_unit_length() {
        let n = 0x8001usize;
        let mut data = vec![0x00, 0x80, 0x01, 0x80];
        for _ in 0..n {
            data.extend([b'a', 0]);
        }
        data.extend([0, 0]);
        let (p, an) = parse(&pool(false, &[0], &data, 1));
        assert_eq!(p.strings.first().map(String::len), Some(n));
        assert!(an.list.is_empty(), "{:?}", an.list);
    }

    #[test]
    fn repeated_offsets_to_a_long_string_are_budgeted() {
        let n = 30_000usize;
        let mut data = Vec::new();
        data.extend(u16::try_from(n).unwrap_or(0).to_le_bytes());
        for _ in 0..n {
            data.extend([b'a', 0]);
        }
        data.extend([0, 0]);
        let offsets = vec![0u32; 10_000];
        let (p, an) = parse(&pool(false, &offsets, &data, 10_000));
        assert_eq!(p.strings.len(), 10_000);
        let total: usize = p.strings.iter().map(String::len).sum();
        assert!(total < 4 << 20, "{total}");
        assert!(an
            .list
            .iter()
            .any(|a| a.code == "string_pool_budget_exceeded"));
    }

    #[test]
    fn overrun_and_bad_offsets() {
        let (p, an) = parse(&pool(true, &[0, 1000], &[50, 50, b'a', b'b'], 2));
        assert_eq!(p.strings, vec!["ab".to_owned(), String::new()]);
        let codes: Vec<_> = an.list.iter().map(|a| a.code).collect();
        assert!(codes.contains(&"string_overrun"));
        assert!(codes.contains(&"string_offset_out_of_bounds"));
    }
}
