//! Reader for Dalvik Executable (DEX) files, for untrusted input.
//!
//! The reader takes the bytes of one `classes*.dex` file and gives lazy, zero-copy access to the tables an assessment needs: `string_ids`, `type_ids` and `class_defs`.
//! Every table size is checked against the file length before anything is read, so a hostile header cannot make the reader allocate or loop beyond the input.
//! Nothing here panics on any input: every read is bounds-checked and returns a [`DexError`] carrying the byte offset.
//! Problems that do not stop the reading (a wrong checksum, a `file_size` that disagrees with the data) are collected as [`Anomaly`] values.
//!
//! Names follow the DEX format specification (`header_item`, `string_id_item`, `class_def_item`).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::borrow::Cow;

mod mutf8;
pub use mutf8::decode_mutf8;

/// Size of `header_item` for every DEX version up to 040.
pub const HEADER_SIZE: usize = 0x70;
/// `endian_tag` of a little-endian DEX file, the only kind Android runs.
pub const ENDIAN_CONSTANT: u32 = 0x1234_5678;
/// `endian_tag` of a byte-swapped DEX file (never produced by Android tools).
pub const REVERSE_ENDIAN_CONSTANT: u32 = 0x7856_3412;
const CLASS_DEF_ITEM_SIZE: u64 = 32;

/// An error that makes the DEX file unreadable, or one of its items unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DexError {
    /// The file is shorter than a structure it must contain.
    #[error(
        "DEX truncated: {what} needs {needed} bytes at offset {offset}, but the file has {len}"
    )]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// How many bytes it needs.
        needed: u64,
        /// The length of the input.
        len: u64,
    },
    /// The first bytes are not `dex\n` followed by a three-digit version and NUL.
    #[error("not a DEX file: bad magic at offset 0 (expected \"dex\\n0NN\\0\")")]
    BadMagic,
    /// The endian tag says the file is byte-swapped, which Android never runs.
    #[error("unsupported DEX endianness: endian_tag {tag:#010x} at offset 40")]
    BadEndianTag {
        /// The tag found.
        tag: u32,
    },
    /// A table's offset and size point outside the file.
    #[error(
        "DEX table {table} ({count} items at offset {offset}) lies outside the {len}-byte file"
    )]
    TableOutOfBounds {
        /// The table name from the specification.
        table: &'static str,
        /// The declared offset.
        offset: u64,
        /// The declared item count.
        count: u64,
        /// The length of the input.
        len: u64,
    },
    /// An index into a table is out of range.
    #[error("DEX {table} index {index} out of range (table has {count} items), referenced at offset {offset}")]
    IndexOutOfRange {
        /// The table.
        table: &'static str,
        /// The index found.
        index: u32,
        /// The table size.
        count: u32,
        /// Where the index was read.
        offset: u64,
    },
    /// A string's data is malformed (bad ULEB128 length, or no NUL terminator before the end of the file).
    #[error("DEX string_data_item at offset {offset} is malformed: {reason}")]
    BadString {
        /// Where the string data starts.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// Reading a table would cost more than its work budget (the file's length in bytes of string
    /// data): its items overlap or repeat, which no DEX compiler writes.
    #[error("DEX {table} at offset {offset}: items overlap or repeat beyond the work budget of {budget} bytes; the rest of the table is skipped")]
    WorkLimit {
        /// The table or item being read.
        table: &'static str,
        /// Where the item that ran out of budget starts.
        offset: u64,
        /// The budget, in bytes of string data.
        budget: u64,
    },
}

/// Stable identifiers of the non-fatal problems the reader records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AnomalyCode {
    /// The Adler-32 `checksum` does not match the file.
    ChecksumMismatch,
    /// `file_size` disagrees with the length of the data.
    FileSizeMismatch,
    /// `header_size` is not 0x70.
    UnusualHeaderSize,
    /// The version in the magic is not one Android has shipped.
    UnknownVersion,
}

impl AnomalyCode {
    /// The stable snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyCode::ChecksumMismatch => "dex_checksum_mismatch",
            AnomalyCode::FileSizeMismatch => "dex_file_size_mismatch",
            AnomalyCode::UnusualHeaderSize => "dex_unusual_header_size",
            AnomalyCode::UnknownVersion => "dex_unknown_version",
        }
    }
}

/// A non-fatal problem found while reading, with the byte offset of the field concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// What kind of problem.
    pub code: AnomalyCode,
    /// A human-readable explanation.
    pub detail: String,
    /// The offset of the field within the DEX file.
    pub offset: u64,
}

/// The fields of `header_item` that the reader uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The three-digit format version from the magic, e.g. 35 or 39.
    pub version: u16,
    /// Declared Adler-32 checksum of everything after this field.
    pub checksum: u32,
    /// Declared file size.
    pub file_size: u32,
    /// Declared header size.
    pub header_size: u32,
    /// Number of `string_id_item`s.
    pub string_ids_size: u32,
    /// Offset of the `string_ids` table.
    pub string_ids_off: u32,
    /// Number of `type_id_item`s.
    pub type_ids_size: u32,
    /// Offset of the `type_ids` table.
    pub type_ids_off: u32,
    /// Number of `method_id_item`s.
    pub method_ids_size: u32,
    /// Number of `class_def_item`s.
    pub class_defs_size: u32,
    /// Offset of the `class_defs` table.
    pub class_defs_off: u32,
}

/// A parsed DEX file borrowing its input.
#[derive(Debug, Clone)]
pub struct DexFile<'a> {
    data: &'a [u8],
    header: Header,
    anomalies: Vec<Anomaly>,
}

/// Returns true when `data` starts with a DEX magic (`dex\n` + three digits + NUL).
pub fn has_dex_magic(data: &[u8]) -> bool {
    data.len() >= 8
        && &data[..4] == b"dex\n"
        && data[4..7].iter().all(u8::is_ascii_digit)
        && data[7] == 0
}

fn u32_at(data: &[u8], offset: usize, what: &'static str) -> Result<u32, DexError> {
    let bytes = offset
        .checked_add(4)
        .and_then(|end| data.get(offset..end))
        .ok_or(DexError::Truncated {
            what,
            offset: offset as u64,
            needed: 4,
            len: data.len() as u64,
        })?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 is the largest n such that 255n(n+1)/2 + (n+1)(MOD-1) fits in u32.
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

impl<'a> DexFile<'a> {
    /// Reads the header and checks that every table the reader uses lies inside `data`.
    pub fn parse(data: &'a [u8]) -> Result<Self, DexError> {
        if data.len() < 8 {
            return Err(DexError::Truncated {
                what: "magic",
                offset: 0,
                needed: 8,
                len: data.len() as u64,
            });
        }
        if !has_dex_magic(data) {
            return Err(DexError::BadMagic);
        }
        if data.len() < HEADER_SIZE {
            return Err(DexError::Truncated {
                what: "header_item",
                offset: 0,
                needed: HEADER_SIZE as u64,
                len: data.len() as u64,
            });
        }
        let version = data[4..7]
            .iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        let r = |off: usize| u32_at(data, off, "header_item");
        let endian = r(40)?;
        if endian != ENDIAN_CONSTANT {
            return Err(DexError::BadEndianTag { tag: endian });
        }
        let header = Header {
            version,
            checksum: r(8)?,
            file_size: r(32)?,
            header_size: r(36)?,
            string_ids_size: r(56)?,
            string_ids_off: r(60)?,
            type_ids_size: r(64)?,
            type_ids_off: r(68)?,
            method_ids_size: r(88)?,
            class_defs_size: r(96)?,
            class_defs_off: r(100)?,
        };
        let mut anomalies = Vec::new();
        if !(35..=41).contains(&version) && version != 13 && version != 9 {
            anomalies.push(Anomaly {
                code: AnomalyCode::UnknownVersion,
                detail: format!("DEX version {version:03} is not one Android has shipped"),
                offset: 4,
            });
        }
        if header.header_size as usize != HEADER_SIZE && version < 41 {
            anomalies.push(Anomaly {
                code: AnomalyCode::UnusualHeaderSize,
                detail: format!("header_size is {:#x}, expected 0x70", header.header_size),
                offset: 36,
            });
        }
        if u64::from(header.file_size) != data.len() as u64 {
            anomalies.push(Anomaly {
                code: AnomalyCode::FileSizeMismatch,
                detail: format!(
                    "header says {} bytes, the data has {}",
                    header.file_size,
                    data.len()
                ),
                offset: 32,
            });
        }
        let checked_len = (header.file_size as usize).min(data.len());
        let actual = adler32(data.get(12..checked_len).unwrap_or_default());
        if actual != header.checksum {
            anomalies.push(Anomaly {
                code: AnomalyCode::ChecksumMismatch,
                detail: format!(
                    "checksum field is {:#010x}, the data sums to {actual:#010x}",
                    header.checksum
                ),
                offset: 8,
            });
        }
        let len = data.len() as u64;
        let table = |table: &'static str, off: u32, count: u32, item: u64| {
            let end = u64::from(off) + u64::from(count) * item;
            if count > 0 && end > len {
                Err(DexError::TableOutOfBounds {
                    table,
                    offset: u64::from(off),
                    count: u64::from(count),
                    len,
                })
            } else {
                Ok(())
            }
        };
        table(
            "string_ids",
            header.string_ids_off,
            header.string_ids_size,
            4,
        )?;
        table("type_ids", header.type_ids_off, header.type_ids_size, 4)?;
        table(
            "class_defs",
            header.class_defs_off,
            header.class_defs_size,
            CLASS_DEF_ITEM_SIZE,
        )?;
        Ok(DexFile {
            data,
            header,
            anomalies,
        })
    }

    /// The header fields.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Problems that did not stop the reading.
    pub fn anomalies(&self) -> &[Anomaly] {
        &self.anomalies
    }

    /// Number of strings in `string_ids`.
    pub fn string_count(&self) -> u32 {
        self.header.string_ids_size
    }

    /// Number of classes defined in `class_defs`.
    pub fn class_count(&self) -> u32 {
        self.header.class_defs_size
    }

    /// The raw MUTF-8 bytes of string `idx` (without the NUL terminator).
    ///
    /// The string is read by its declared length: the NUL terminator is looked for only within the
    /// `3 × utf16_size + 1` bytes that a string of that many UTF-16 code units can occupy, so one call
    /// costs at most that much whatever follows in the file.
    pub fn string_bytes(&self, idx: u32) -> Result<&'a [u8], DexError> {
        let mut unlimited = usize::MAX;
        self.string_within(idx, &mut unlimited)
    }

    /// Reads string `idx`, scanning at most `budget` bytes of string data; what is scanned (found or
    /// not) is taken off the budget.
    fn string_within(&self, idx: u32, budget: &mut usize) -> Result<&'a [u8], DexError> {
        if idx >= self.header.string_ids_size {
            return Err(DexError::IndexOutOfRange {
                table: "string_ids",
                index: idx,
                count: self.header.string_ids_size,
                offset: 0,
            });
        }
        let id_off = self.header.string_ids_off as usize + idx as usize * 4;
        let data_off = u32_at(self.data, id_off, "string_id_item")? as usize;
        let bad = |reason| DexError::BadString {
            offset: data_off as u64,
            reason,
        };
        // string_data_item: uleb128 utf16_size, then MUTF-8 bytes ending in NUL.
        let mut pos = data_off;
        let mut shift = 0u32;
        let mut utf16_size = 0u64;
        loop {
            let byte = *self
                .data
                .get(pos)
                .ok_or(bad("length runs past the end of the file"))?;
            pos += 1;
            utf16_size |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift >= 35 {
                return Err(bad("ULEB128 length longer than 5 bytes"));
            }
        }
        let rest = &self.data[pos..];
        // Each UTF-16 code unit takes one to three bytes of MUTF-8, plus the NUL.
        let declared_max =
            usize::try_from(utf16_size.saturating_mul(3).saturating_add(1)).unwrap_or(usize::MAX);
        let window = rest.len().min(declared_max);
        let scanned = window.min(*budget);
        let found = memchr_nul(&rest[..scanned]);
        *budget -= found.map_or(scanned, |end| end + 1);
        match found {
            Some(end) => Ok(&rest[..end]),
            None if scanned < window => Err(DexError::WorkLimit {
                table: "string_data_item",
                offset: data_off as u64,
                budget: self.data.len() as u64,
            }),
            None if window < rest.len() => Err(bad(
                "no NUL terminator within the declared length (utf16_size)",
            )),
            None => Err(bad("no NUL terminator before the end of the file")),
        }
    }

    /// Every string in `string_ids` order, as raw MUTF-8 bytes, reading at most as many bytes of string
    /// data in total as the file holds.
    ///
    /// In a well-formed DEX file every string has its own `string_data_item`, so the strings together
    /// never exceed the file; string ids that point into the same bytes again and again (a way to make a
    /// tiny file cost quadratic time) exhaust the budget instead: the iterator then yields one
    /// [`DexError::WorkLimit`] and ends.
    pub fn string_table(&self) -> impl Iterator<Item = Result<&'a [u8], DexError>> + '_ {
        let mut budget = self.data.len();
        let mut done = false;
        (0..self.header.string_ids_size).map_while(move |i| {
            if done {
                return None;
            }
            match self.string_within(i, &mut budget) {
                Ok(s) => Some(Ok(s)),
                Err(e @ DexError::WorkLimit { .. }) => {
                    done = true;
                    Some(Err(e))
                }
                Err(e) => Some(Err(e)),
            }
        })
    }

    /// String `idx`, decoded from MUTF-8 (borrowed when it is plain ASCII or valid UTF-8).
    pub fn string(&self, idx: u32) -> Result<Cow<'a, str>, DexError> {
        self.string_bytes(idx).map(decode_mutf8)
    }

    /// Every string in `string_ids` order, each decoded or its error, within the work budget of
    /// [`DexFile::string_table`].
    pub fn strings(&self) -> impl Iterator<Item = Result<Cow<'a, str>, DexError>> + '_ {
        self.string_table().map(|r| r.map(decode_mutf8))
    }

    /// The descriptor string (e.g. `Lcom/example/Foo;`) of type `idx`, as raw MUTF-8 bytes.
    pub fn type_descriptor(&self, idx: u32) -> Result<&'a [u8], DexError> {
        if idx >= self.header.type_ids_size {
            return Err(DexError::IndexOutOfRange {
                table: "type_ids",
                index: idx,
                count: self.header.type_ids_size,
                offset: 0,
            });
        }
        let off = self.header.type_ids_off as usize + idx as usize * 4;
        let string_idx = u32_at(self.data, off, "type_id_item")?;
        if string_idx >= self.header.string_ids_size {
            return Err(DexError::IndexOutOfRange {
                table: "string_ids",
                index: string_idx,
                count: self.header.string_ids_size,
                offset: off as u64,
            });
        }
        self.string_bytes(string_idx)
    }

    /// The number of entries in `type_ids`.
    pub fn type_count(&self) -> u32 {
        self.header.type_ids_size
    }

    /// The descriptor of each defined class, in `class_defs` order.
    ///
    /// Like [`DexFile::string_table`], the descriptors together are read within a budget of the file's
    /// length (class definitions that all name one huge descriptor would otherwise cost quadratic time);
    /// when it runs out the iterator yields one [`DexError::WorkLimit`] and ends.
    pub fn class_descriptors(&self) -> impl Iterator<Item = Result<&'a [u8], DexError>> + '_ {
        let mut budget = self.data.len();
        let mut done = false;
        (0..self.header.class_defs_size).map_while(move |i| {
            if done {
                return None;
            }
            let off =
                self.header.class_defs_off as usize + i as usize * CLASS_DEF_ITEM_SIZE as usize;
            Some(match self.class_descriptor_at(off, &mut budget) {
                Ok(desc) => Ok(desc),
                Err(e) => {
                    done = matches!(e, DexError::WorkLimit { .. });
                    Err(e)
                }
            })
        })
    }

    fn class_descriptor_at(&self, off: usize, budget: &mut usize) -> Result<&'a [u8], DexError> {
        let class_idx = u32_at(self.data, off, "class_def_item")?;
        let with_offset = |e| match e {
            DexError::IndexOutOfRange {
                table,
                index,
                count,
                offset: 0,
            } => DexError::IndexOutOfRange {
                table,
                index,
                count,
                offset: off as u64,
            },
            other => other,
        };
        if class_idx >= self.header.type_ids_size {
            return Err(with_offset(DexError::IndexOutOfRange {
                table: "type_ids",
                index: class_idx,
                count: self.header.type_ids_size,
                offset: 0,
            }));
        }
        let type_off = self.header.type_ids_off as usize + class_idx as usize * 4;
        let string_idx = u32_at(self.data, type_off, "type_id_item")?;
        if string_idx >= self.header.string_ids_size {
            return Err(DexError::IndexOutOfRange {
                table: "string_ids",
                index: string_idx,
                count: self.header.string_ids_size,
                offset: type_off as u64,
            });
        }
        self.string_within(string_idx, budget)
    }
}

fn memchr_nul(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == 0)
}

/// Turns a class descriptor such as `Lcom/example/Foo$Bar;` into the dotted Java name `com.example.Foo$Bar`.
///
/// Returns `None` for descriptors that do not name a class (primitives, arrays, malformed).
pub fn descriptor_to_java(descriptor: &[u8]) -> Option<String> {
    let inner = descriptor.strip_prefix(b"L")?.strip_suffix(b";")?;
    if inner.is_empty() {
        return None;
    }
    let mut name = decode_mutf8(inner).into_owned();
    // SAFETY-free: replacing one ASCII byte by another keeps the string valid UTF-8.
    name = name.replace('/', ".");
    Some(name)
}

#[cfg(test)]
mod tests;
