//! `resources.arsc` (ResTable) parsing and resolution.
//!
//! Parsing validates the chunk structure once (linear in the input) and keeps
//! an index of type chunks; entries are decoded lazily on lookup, so even
//! multi-megabyte tables cost O(n) to load and O(log n) or O(1) per lookup.

use crate::anomaly::{Anomalies, Anomaly};
use crate::reader::{chunk_header, u16_at, u32_at, u8_at, us};
use crate::string_pool::{parse_string_pool, StringPool, RES_STRING_POOL_TYPE};
use crate::value::Value;

const RES_TABLE_TYPE: u16 = 0x0002;
const RES_TABLE_PACKAGE_TYPE: u16 = 0x0200;
const RES_TABLE_TYPE_TYPE: u16 = 0x0201;
const RES_TABLE_TYPE_SPEC_TYPE: u16 = 0x0202;
const RES_TABLE_LIBRARY_TYPE: u16 = 0x0203;
const RES_TABLE_OVERLAYABLE_TYPE: u16 = 0x0204;
const RES_TABLE_OVERLAYABLE_POLICY_TYPE: u16 = 0x0205;
const RES_TABLE_STAGED_ALIAS_TYPE: u16 = 0x0206;

/// `ResTable_type::FLAG_SPARSE`.
const FLAG_SPARSE: u8 = 0x01;
/// `ResTable_type::FLAG_OFFSET16`.
const FLAG_OFFSET16: u8 = 0x02;
/// `ResTable_entry::FLAG_COMPLEX`.
const ENTRY_FLAG_COMPLEX: u16 = 0x0001;
/// `ResTable_entry::FLAG_COMPACT` (Android 14+).
const ENTRY_FLAG_COMPACT: u16 = 0x0008;

const MAX_CHUNKS: usize = 1 << 20;
/// String bytes copied into one [`ResolvedValue`] at most (further strings are
/// left as [`Value::Other`] with the raw index).
const RESOLVE_STRING_BUDGET: usize = 16 << 20;
/// Map items decoded per complex entry at most.
const MAX_MAP_ITEMS: usize = 1 << 16;
/// Maximum length of a reference chain followed by [`ResourceTable::resolve`].
pub const MAX_REFERENCE_DEPTH: usize = 8;

/// Fatal resource table errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArscError {
    /// Shorter than the table header.
    #[error("resource table too short: {len} bytes (offset {offset})")]
    TooShort {
        /// Offset where more data was needed.
        offset: usize,
        /// Input length.
        len: usize,
    },
    /// No global string pool.
    #[error("resource table has no global string pool (searched from offset {offset})")]
    NoStringPool {
        /// Offset where the chunk walk started.
        offset: usize,
    },
}

/// A `ResTable_config` (only what is needed to tell configurations apart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Raw config bytes after the `size` field (bounded by the chunk header).
    pub raw: Vec<u8>,
    /// Declared config size.
    pub size: u32,
}

impl Config {
    fn byte(&self, off: usize) -> u8 {
        // `off` is relative to the config start; `raw` starts after `size`.
        off.checked_sub(4)
            .and_then(|o| self.raw.get(o))
            .copied()
            .unwrap_or(0)
    }

    fn u16(&self, off: usize) -> u16 {
        u16::from_le_bytes([self.byte(off), self.byte(off + 1)])
    }

    /// True for the default configuration (all fields zero).
    pub fn is_default(&self) -> bool {
        self.raw.iter().all(|&b| b == 0)
    }

    /// Language code (`en`, `fr`, 3-letter codes unpacked), empty if none.
    pub fn language(&self) -> String {
        unpack_locale_part(self.byte(8), self.byte(9), b'a')
    }

    /// Region code (`US`), empty if none.
    pub fn country(&self) -> String {
        unpack_locale_part(self.byte(10), self.byte(11), b'0')
    }

    /// Screen density (0 = any).
    pub fn density(&self) -> u16 {
        self.u16(14)
    }

    /// Minimum SDK version qualifier (0 = none).
    pub fn sdk_version(&self) -> u16 {
        self.u16(24)
    }

    /// aapt-like description: `default`, `fr`, `fr-rFR`, `hdpi`, `v26`, joined
    /// by `-`; `+other` marks qualifiers not decoded here.
    pub fn describe(&self) -> String {
        if self.is_default() {
            return "default".to_owned();
        }
        let mut parts = Vec::new();
        let lang = self.language();
        if !lang.is_empty() {
            parts.push(lang);
        }
        let country = self.country();
        if !country.is_empty() {
            parts.push(format!("r{country}"));
        }
        match self.density() {
            0 => {}
            120 => parts.push("ldpi".into()),
            160 => parts.push("mdpi".into()),
            213 => parts.push("tvdpi".into()),
            240 => parts.push("hdpi".into()),
            320 => parts.push("xhdpi".into()),
            480 => parts.push("xxhdpi".into()),
            640 => parts.push("xxxhdpi".into()),
            0xfffe => parts.push("anydpi".into()),
            0xffff => parts.push("nodpi".into()),
            d => parts.push(format!("{d}dpi")),
        }
        let sdk = self.sdk_version();
        if sdk != 0 {
            parts.push(format!("v{sdk}"));
        }
        let decoded = [8usize, 9, 10, 11, 14, 15, 24, 25];
        let other = (4..self.raw.len().saturating_add(4))
            .any(|o| !decoded.contains(&o) && self.byte(o) != 0);
        if other {
            parts.push("+other".into());
        }
        parts.join("-")
    }
}

fn unpack_locale_part(b0: u8, b1: u8, base: u8) -> String {
    if b0 == 0 && b1 == 0 {
        return String::new();
    }
    if b0 & 0x80 != 0 {
        let first = b1 & 0x1f;
        let second = ((b1 & 0xe0) >> 5) | ((b0 & 0x03) << 3);
        let third = (b0 & 0x7c) >> 2;
        [first, second, third]
            .iter()
            .map(|&c| char::from(base.wrapping_add(c)))
            .collect()
    } else {
        [b0, b1]
            .iter()
            .filter(|&&c| c != 0)
            .map(|&c| char::from(c))
            .collect()
    }
}

/// A complex (map/bag) entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplexEntry {
    /// Parent (style/bag) resource id, 0 if none.
    pub parent: u32,
    /// Declared number of map items.
    pub count: u32,
    /// Map items that fit in the chunk (at most 65,536): (attribute/key id,
    /// value).
    pub values: Vec<(u32, Value)>,
}

/// A value resolved from the table.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedValue {
    /// Id of the entry that provided the value (end of the reference chain).
    pub id: u32,
    /// The value (strings resolved from the global pool). For complex entries
    /// this is [`Value::Null`] and `complex` is set.
    pub value: Value,
    /// Configuration the value was taken from.
    pub config: Config,
    /// Map entry data for complex (bag) entries.
    pub complex: Option<ComplexEntry>,
}

#[derive(Debug, Clone)]
struct TypeChunk {
    end: usize,
    flags: u8,
    entry_count: usize,
    offsets_start: usize,
    entries_start: usize,
    config: Config,
}

#[derive(Debug, Clone)]
struct Package {
    id: u32,
    name: String,
    type_strings: StringPool,
    key_strings: StringPool,
    type_id_offset: u32,
    /// Indexed by type id (0..=255).
    types: Vec<Vec<TypeChunk>>,
    /// Indexed by type id, then entry index: 1 + the index in `types[type id]` of the chunk
    /// [`ResourceTable::resolve`] picks (0 when no chunk has the entry). Built once at parse time, in
    /// time linear in the offsets tables, so a lookup costs one entry read however many configuration
    /// chunks the type has.
    picked: Vec<Vec<u32>>,
}

enum RawData {
    Simple(u8, u32),
    Complex {
        parent: u32,
        count: u32,
        items: Vec<(u32, u8, u32)>,
    },
}

struct RawEntry {
    key: u32,
    data: RawData,
}

/// A parsed resource table.
#[derive(Debug, Clone)]
pub struct ResourceTable {
    data: Vec<u8>,
    strings: StringPool,
    packages: Vec<Package>,
    anomalies: Vec<Anomaly>,
}

impl ResourceTable {
    /// Parses a `resources.arsc`. Never panics.
    pub fn parse(data: &[u8]) -> Result<ResourceTable, ArscError> {
        let len = data.len();
        let Some(h) = chunk_header(data, 0) else {
            return Err(ArscError::TooShort { offset: 0, len });
        };
        if len < 12 {
            return Err(ArscError::TooShort { offset: 8, len });
        }
        let mut an = Anomalies::default();
        if h.ty != RES_TABLE_TYPE {
            an.push(
                "unexpected_file_type",
                0,
                format!("first chunk type {:#06x}, expected 0x0002", h.ty),
            );
        }
        if us(h.size) != len {
            an.push(
                "file_size_mismatch",
                4,
                format!("header declares {} bytes, file has {len}", h.size),
            );
        }
        let hs = usize::from(h.header_size);
        let start = if (12..=len).contains(&hs) { hs } else { 12 };
        let mut strings: Option<StringPool> = None;
        let mut packages = Vec::new();
        for_each_chunk(data, start, len, &mut an, |an, ty, pos, hs, end| match ty {
            RES_STRING_POOL_TYPE => {
                if strings.is_none() {
                    strings = Some(parse_string_pool(data, pos, end, an));
                } else {
                    an.push(
                        "duplicate_string_pool",
                        pos,
                        "additional global string pool ignored",
                    );
                }
            }
            RES_TABLE_PACKAGE_TYPE => {
                if let Some(p) = parse_package(data, pos, hs, end, an) {
                    packages.push(p);
                }
            }
            _ => an.push(
                "unknown_chunk_type",
                pos,
                format!("chunk type {ty:#06x} skipped"),
            ),
        });
        let Some(strings) = strings else {
            return Err(ArscError::NoStringPool { offset: start });
        };
        let declared = u32_at(data, 8).unwrap_or(0);
        if us(declared) != packages.len() {
            an.push(
                "package_count_mismatch",
                8,
                format!(
                    "header declares {declared} packages, found {}",
                    packages.len()
                ),
            );
        }
        Ok(ResourceTable {
            data: data.to_vec(),
            strings,
            packages,
            anomalies: an.list,
        })
    }

    /// Non-fatal irregularities found while parsing.
    pub fn anomalies(&self) -> &[Anomaly] {
        &self.anomalies
    }

    /// The global string pool.
    pub fn strings(&self) -> &[String] {
        &self.strings.strings
    }

    /// Packages as (id, name).
    pub fn packages(&self) -> Vec<(u32, &str)> {
        self.packages
            .iter()
            .map(|p| (p.id, p.name.as_str()))
            .collect()
    }

    fn package(&self, pkg_id: u32) -> Option<&Package> {
        self.packages.iter().find(|p| p.id == pkg_id).or_else(|| {
            // Package id 0 is the shared-library "self" package.
            if pkg_id == 0 {
                self.packages.first()
            } else {
                None
            }
        })
    }

    /// Candidate (chunk, entry) pairs for `id`, in file order.
    fn entries(&self, id: u32) -> Vec<(&TypeChunk, RawEntry)> {
        let Some(pkg) = self.package(id >> 24) else {
            return Vec::new();
        };
        let type_id = us((id >> 16) & 0xff);
        let idx = us(id & 0xffff);
        pkg.types
            .get(type_id)
            .map(|chunks| {
                chunks
                    .iter()
                    .filter_map(|c| self.read_entry(c, idx).map(|e| (c, e)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The entry chosen for a device matching no qualifier: the default
    /// config first, otherwise the first non-default config that has it
    /// (looked up in the index built at parse time).
    fn pick(&self, id: u32) -> Option<(&TypeChunk, RawEntry)> {
        self.pick_items(id, MAX_MAP_ITEMS)
    }

    fn pick_items(&self, id: u32, max_items: usize) -> Option<(&TypeChunk, RawEntry)> {
        let pkg = self.package(id >> 24)?;
        let type_id = us((id >> 16) & 0xff);
        let idx = us(id & 0xffff);
        let slot = *pkg.picked.get(type_id)?.get(idx)?;
        let chunk = pkg.types.get(type_id)?.get(us(slot.checked_sub(1)?))?;
        self.read_entry_items(chunk, idx, max_items)
            .map(|e| (chunk, e))
    }

    /// Converts a raw value; `budget` caps the string bytes copied into one
    /// result (a bag may reference one huge string thousands of times).
    fn to_value(&self, data_type: u8, data: u32, budget: &mut usize) -> Value {
        Value::from_raw(data_type, data, |i| {
            let s = self.strings.get(i)?;
            if s.len() > *budget {
                return None;
            }
            *budget -= s.len();
            Some(s.to_owned())
        })
    }

    fn make_resolved(&self, id: u32, chunk: &TypeChunk, e: RawEntry) -> ResolvedValue {
        let mut budget = RESOLVE_STRING_BUDGET;
        match e.data {
            RawData::Simple(t, d) => ResolvedValue {
                id,
                value: self.to_value(t, d, &mut budget),
                config: chunk.config.clone(),
                complex: None,
            },
            RawData::Complex {
                parent,
                count,
                items,
            } => ResolvedValue {
                id,
                value: Value::Null,
                config: chunk.config.clone(),
                complex: Some(ComplexEntry {
                    parent,
                    count,
                    values: items
                        .into_iter()
                        .map(|(n, t, d)| (n, self.to_value(t, d, &mut budget)))
                        .collect(),
                }),
            },
        }
    }

    /// Resolves `id`, following reference chains (at most
    /// [`MAX_REFERENCE_DEPTH`] hops, cycle-safe).
    ///
    /// Config choice models a device that matches no qualifier: the default
    /// configuration if it has the entry, otherwise the first configuration
    /// (in file order) that does, like Android falling back when no default
    /// exists. A reference to an id absent from this table (e.g. a framework
    /// `@android:` resource) is returned as the reference value. Returns
    /// `None` if `id` is absent, or on a cycle or overlong chain.
    pub fn resolve(&self, id: u32) -> Option<ResolvedValue> {
        let mut cur = id;
        let mut seen: Vec<u32> = Vec::new();
        for _ in 0..=MAX_REFERENCE_DEPTH {
            if seen.contains(&cur) {
                return None;
            }
            seen.push(cur);
            let (chunk, e) = self.pick(cur)?;
            let rv = self.make_resolved(cur, chunk, e);
            match rv.value.as_reference() {
                Some(r) if r != 0 && self.pick(r).is_some() => cur = r,
                _ => return Some(rv),
            }
        }
        None
    }

    /// The value [`ResourceTable::resolve`] gives for `id` (same configuration choice and reference
    /// chain), without decoding the map items of a complex entry: [`Value::Null`] for a bag. Its cost
    /// does not grow with the size of the entry, so it suits looking up many attributes.
    ///
    /// `budget` caps the string bytes copied out, over every call that shares it: a string that does
    /// not fit is left as the raw value ([`Value::Other`] with the string index), so a thousand references to one huge
    /// string cannot copy it a thousand times.
    pub fn resolve_value(&self, id: u32, budget: &mut usize) -> Option<Value> {
        let mut cur = id;
        let mut seen: Vec<u32> = Vec::new();
        for _ in 0..=MAX_REFERENCE_DEPTH {
            if seen.contains(&cur) {
                return None;
            }
            seen.push(cur);
            let (_, e) = self.pick_items(cur, 0)?;
            let value = match e.data {
                RawData::Simple(t, d) => self.to_value(t, d, budget),
                RawData::Complex { .. } => Value::Null,
            };
            match value.as_reference() {
                Some(r) if r != 0 && self.pick_items(r, 0).is_some() => cur = r,
                _ => return Some(value),
            }
        }
        None
    }

    /// Each configuration's value for `id`, in file order (references are
    /// followed with [`ResourceTable::resolve`]; the config is the one that
    /// holds `id`'s entry). Useful for per-locale labels.
    pub fn values_of(&self, id: u32) -> Vec<(Config, ResolvedValue)> {
        self.entries(id)
            .into_iter()
            .map(|(c, e)| {
                let rv = self.make_resolved(id, c, e);
                let rv = match rv.value.as_reference() {
                    Some(r) if r != 0 => self.resolve(r).unwrap_or(rv),
                    _ => rv,
                };
                (c.config.clone(), rv)
            })
            .collect()
    }

    /// `(type_name, key_name)` of `id`, e.g. `("string", "app_name")`.
    pub fn name_of(&self, id: u32) -> Option<(&str, &str)> {
        let pkg = self.package(id >> 24)?;
        let type_id = (id >> 16) & 0xff;
        let type_name = type_id
            .checked_sub(1)
            .and_then(|t| t.checked_sub(pkg.type_id_offset))
            .and_then(|t| pkg.type_strings.get(t))?;
        let (_, e) = self.pick(id)?;
        let key = pkg.key_strings.get(e.key)?;
        Some((type_name, key))
    }

    /// Name of the package with this id.
    pub fn package_name(&self, pkg_id: u32) -> Option<&str> {
        self.package(pkg_id).map(|p| p.name.as_str())
    }

    fn read_entry(&self, c: &TypeChunk, idx: usize) -> Option<RawEntry> {
        self.read_entry_items(c, idx, MAX_MAP_ITEMS)
    }

    /// Like [`ResourceTable::read_entry`], decoding at most `max_items` map items of a complex entry.
    fn read_entry_items(&self, c: &TypeChunk, idx: usize, max_items: usize) -> Option<RawEntry> {
        let d = &self.data;
        let e = locate(d, c, idx)?;
        let size = u16_at(d, e)?;
        let flags = u16_at(d, e + 2)?;
        if flags & ENTRY_FLAG_COMPACT != 0 {
            // Compact entry: { u16 key; u16 flags (dataType in high byte); u32 data }.
            let data_type = u8::try_from(flags >> 8).unwrap_or(0);
            return Some(RawEntry {
                key: u32::from(size),
                data: RawData::Simple(data_type, u32_at(d, e + 4)?),
            });
        }
        let key = u32_at(d, e + 4)?;
        let body = e.checked_add(usize::from(size))?;
        if flags & ENTRY_FLAG_COMPLEX != 0 {
            if e + 16 > c.end {
                return None;
            }
            let parent = u32_at(d, e + 8)?;
            let count = u32_at(d, e + 12)?;
            let fit = c.end.saturating_sub(body) / 12;
            let n = us(count).min(fit).min(max_items);
            let items = (0..n)
                .filter_map(|i| {
                    let m = body + i * 12;
                    Some((u32_at(d, m)?, u8_at(d, m + 7)?, u32_at(d, m + 8)?))
                })
                .collect();
            return Some(RawEntry {
                key,
                data: RawData::Complex {
                    parent,
                    count,
                    items,
                },
            });
        }
        if body.checked_add(8)? > c.end {
            return None;
        }
        Some(RawEntry {
            key,
            data: RawData::Simple(u8_at(d, body + 3)?, u32_at(d, body + 4)?),
        })
    }
}

/// Where entry `idx` of chunk `c` starts, if the chunk has it and the entry fits in the chunk
/// (exactly the entries [`ResourceTable::read_entry`] can read).
fn locate(d: &[u8], c: &TypeChunk, idx: usize) -> Option<usize> {
    let off = if c.flags & FLAG_SPARSE != 0 {
        // Sorted (idx u16, offset/4 u16) pairs: binary search.
        let (mut lo, mut hi) = (0usize, c.entry_count);
        let mut found = None;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let p = c.offsets_start + mid * 4;
            let k = usize::from(u16_at(d, p)?);
            match k.cmp(&idx) {
                std::cmp::Ordering::Equal => {
                    found = Some(usize::from(u16_at(d, p + 2)?) * 4);
                    break;
                }
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        found?
    } else if idx >= c.entry_count {
        return None;
    } else if c.flags & FLAG_OFFSET16 != 0 {
        let o = u16_at(d, c.offsets_start + idx * 2)?;
        if o == 0xffff {
            return None;
        }
        usize::from(o) * 4
    } else {
        let o = u32_at(d, c.offsets_start + idx * 4)?;
        if o == u32::MAX {
            return None;
        }
        us(o)
    };
    let e = c.entries_start.checked_add(off)?;
    if e.checked_add(8)? > c.end {
        return None;
    }
    let size = u16_at(d, e)?;
    let flags = u16_at(d, e + 2)?;
    if flags & ENTRY_FLAG_COMPACT != 0 {
        return Some(e);
    }
    let body = e.checked_add(usize::from(size))?;
    if flags & ENTRY_FLAG_COMPLEX != 0 {
        if e + 16 > c.end {
            return None;
        }
    } else if body.checked_add(8)? > c.end {
        return None;
    }
    Some(e)
}

/// Builds [`Package::picked`]: for each type, default-configuration chunks first, then the others, each
/// in file order; an entry goes to the first chunk that has it.
fn index_picks(data: &[u8], types: &[Vec<TypeChunk>]) -> Vec<Vec<u32>> {
    types
        .iter()
        .map(|chunks| {
            let mut picked: Vec<u32> = Vec::new();
            let order = chunks
                .iter()
                .enumerate()
                .filter(|(_, c)| c.config.is_default())
                .chain(
                    chunks
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| !c.config.is_default()),
                );
            for (ci, c) in order {
                let mut mark = |idx: usize| {
                    if idx > 0xffff {
                        return;
                    }
                    if picked.len() <= idx {
                        picked.resize(idx + 1, 0);
                    }
                    if picked[idx] == 0 && locate(data, c, idx).is_some() {
                        picked[idx] = u32::try_from(ci + 1).unwrap_or(0);
                    }
                };
                if c.flags & FLAG_SPARSE != 0 {
                    for i in 0..c.entry_count {
                        if let Some(k) = u16_at(data, c.offsets_start + i * 4) {
                            mark(usize::from(k));
                        }
                    }
                } else {
                    for idx in 0..c.entry_count.min(0x1_0000) {
                        mark(idx);
                    }
                }
            }
            picked
        })
        .collect()
}

/// Walks sibling chunks in `[start, end)`, calling `f(anomalies, type, pos,
/// header_size, chunk_end)`. Stops at the first malformed header.
fn for_each_chunk(
    data: &[u8],
    start: usize,
    end: usize,
    an: &mut Anomalies,
    mut f: impl FnMut(&mut Anomalies, u16, usize, usize, usize),
) {
    let mut pos = start;
    let mut n = 0usize;
    while pos.saturating_add(8) <= end && n < MAX_CHUNKS {
        n += 1;
        let Some(h) = chunk_header(data, pos) else {
            break;
        };
        let hs = usize::from(h.header_size);
        let size = us(h.size);
        if size < 8 || hs < 8 || hs > size {
            an.push(
                "bad_chunk_size",
                pos,
                format!("chunk type {:#06x}: size {size}, header size {hs}", h.ty),
            );
            return;
        }
        let cend = pos.saturating_add(size);
        if cend > end {
            an.push(
                "chunk_truncated",
                pos,
                format!(
                    "chunk type {:#06x} declares {size} bytes, {} available",
                    h.ty,
                    end - pos
                ),
            );
            f(an, h.ty, pos, hs, end);
            return;
        }
        f(an, h.ty, pos, hs, cend);
        pos = cend;
    }
    if n >= MAX_CHUNKS {
        an.push("too_many_chunks", pos, "chunk limit reached");
    }
}

fn parse_inner_pool(
    data: &[u8],
    pkg: usize,
    rel: u32,
    end: usize,
    what: &str,
    an: &mut Anomalies,
) -> StringPool {
    let p = pkg.saturating_add(us(rel));
    match chunk_header(data, p) {
        Some(h) if rel != 0 && h.ty == RES_STRING_POOL_TYPE && p < end => {
            let pend = p.saturating_add(us(h.size)).min(end);
            parse_string_pool(data, p, pend, an)
        }
        _ => {
            an.push(
                "missing_package_pool",
                pkg,
                format!("package {what} pool not found at relative offset {rel:#x}"),
            );
            StringPool::default()
        }
    }
}

fn parse_package(
    data: &[u8],
    pos: usize,
    hs: usize,
    end: usize,
    an: &mut Anomalies,
) -> Option<Package> {
    if hs < 284 || pos + 284 > end {
        an.push(
            "bad_package_header",
            pos,
            format!("package header size {hs} is too small"),
        );
        return None;
    }
    let id = u32_at(data, pos + 8)?;
    let units: Vec<u16> = (0..128)
        .map_while(|i| u16_at(data, pos + 12 + i * 2).filter(|&u| u != 0))
        .collect();
    let name = String::from_utf16_lossy(&units);
    let type_strings_off = u32_at(data, pos + 268)?;
    let key_strings_off = u32_at(data, pos + 276)?;
    let type_id_offset = if hs >= 288 {
        u32_at(data, pos + 284).unwrap_or(0)
    } else {
        0
    };
    let type_strings = parse_inner_pool(data, pos, type_strings_off, end, "type", an);
    let key_strings = parse_inner_pool(data, pos, key_strings_off, end, "key", an);
    let mut types: Vec<Vec<TypeChunk>> = vec![Vec::new(); 256];
    for_each_chunk(
        data,
        pos + hs,
        end,
        an,
        |an, ty, cpos, chs, cend| match ty {
            RES_STRING_POOL_TYPE
            | RES_TABLE_TYPE_SPEC_TYPE
            | RES_TABLE_LIBRARY_TYPE
            | RES_TABLE_OVERLAYABLE_TYPE
            | RES_TABLE_OVERLAYABLE_POLICY_TYPE
            | RES_TABLE_STAGED_ALIAS_TYPE => {}
            RES_TABLE_TYPE_TYPE => {
                if let Some(tc) = parse_type_chunk(data, cpos, chs, cend, an) {
                    if let Some(slot) =
                        types.get_mut(usize::from(u8_at(data, cpos + 8).unwrap_or(0)))
                    {
                        slot.push(tc);
                    }
                }
            }
            _ => an.push(
                "unknown_chunk_type",
                cpos,
                format!("package chunk type {ty:#06x} skipped"),
            ),
        },
    );
    let picked = index_picks(data, &types);
    Some(Package {
        id,
        name,
        type_strings,
        key_strings,
        type_id_offset,
        types,
        picked,
    })
}

fn parse_type_chunk(
    data: &[u8],
    pos: usize,
    hs: usize,
    end: usize,
    an: &mut Anomalies,
) -> Option<TypeChunk> {
    if hs < 24 || pos + 24 > end {
        an.push(
            "bad_type_header",
            pos,
            format!("type chunk header size {hs}"),
        );
        return None;
    }
    let id = u8_at(data, pos + 8)?;
    let flags = u8_at(data, pos + 9)?;
    let count = u32_at(data, pos + 12)?;
    let entries_start = u32_at(data, pos + 16)?;
    let config_size = u32_at(data, pos + 20)?;
    if id == 0 {
        an.push("bad_type_id", pos, "type chunk with id 0 ignored");
        return None;
    }
    let cfg_room = hs - 20;
    let cfg_len = us(config_size).min(cfg_room);
    if us(config_size) > cfg_room || config_size < 4 {
        an.push(
            "bad_config_size",
            pos + 20,
            format!("config size {config_size} does not fit the header ({cfg_room} bytes)"),
        );
    }
    let raw = data
        .get(pos + 24..pos + 20 + cfg_len.max(4))
        .unwrap_or_default()
        .to_vec();
    let offsets_start = pos + hs;
    let entries_abs = pos.saturating_add(us(entries_start));
    if entries_abs < offsets_start || entries_abs > end {
        an.push(
            "bad_entries_start",
            pos + 16,
            format!("entriesStart {entries_start:#x} outside the type chunk"),
        );
        return None;
    }
    let width = if flags & FLAG_OFFSET16 != 0 && flags & FLAG_SPARSE == 0 {
        2
    } else {
        4
    };
    let fit = (entries_abs - offsets_start) / width;
    let mut entry_count = us(count);
    if entry_count > fit {
        an.push(
            "entry_count_exceeds_chunk",
            pos + 12,
            format!("entryCount {count}, only {fit} offsets fit"),
        );
        entry_count = fit;
    }
    Some(TypeChunk {
        end,
        flags,
        entry_count,
        offsets_start,
        entries_start: entries_abs,
        config: Config {
            raw,
            size: config_size,
        },
    })
}
