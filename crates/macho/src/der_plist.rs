//! Apple's DER encoding of plists, as used by the DER entitlements blob (`0xfade7172`, slot 7).
//!
//! The top level is `[APPLICATION 16]` (0x70) holding `INTEGER 1` (version) and a dictionary. A dictionary is
//! `[CONTEXT 16]` (0xb0) holding `SEQUENCE { UTF8String key, value }` entries; a value is `BOOLEAN`, `INTEGER`,
//! `UTF8String`, `SEQUENCE OF value` (array) or a dictionary. Data, dates and reals have no encoding. Read with
//! [`crate::ber`]; nesting is bounded by [`MAX_DEPTH`] and the number of values by [`MAX_VALUES`].

use crate::ber::{Reader, Tlv};
use crate::Error;

/// Deepest nesting of arrays and dictionaries read.
pub const MAX_DEPTH: usize = 32;
/// Most values (of any kind) read from one blob.
pub const MAX_VALUES: usize = 100_000;

/// A decoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DerValue {
    /// `BOOLEAN`.
    Bool(bool),
    /// `INTEGER` (at most 64 bits).
    Int(i64),
    /// `UTF8String`.
    String(String),
    /// `SEQUENCE OF value`.
    Array(Vec<DerValue>),
    /// `[CONTEXT 16]` of key/value entries, in stored order.
    Dict(Vec<(String, DerValue)>),
}

/// Decodes a DER entitlements payload (the blob without its 8-byte magic/length header) into its dictionary.
pub fn decode(data: &[u8]) -> Result<DerValue, Error> {
    let mut r = Reader::new(data, 0);
    let top = r.expect(0x70, "DER plist [APPLICATION 16]")?;
    let mut t = top.children();
    let version = t.expect(0x02, "DER plist version")?;
    if version.value != [1] {
        return Err(Error::Malformed {
            structure: "DER plist version",
            offset: version.offset as u64,
            detail: format!("version {:02x?}, expected 1", version.value),
        });
    }
    let body = t.expect(0xb0, "DER plist dictionary")?;
    let mut count = 0usize;
    value(&body, 0, &mut count)
}

fn value(t: &Tlv<'_>, depth: usize, count: &mut usize) -> Result<DerValue, Error> {
    let bad = |detail: String| Error::Malformed {
        structure: "DER plist value",
        offset: t.offset as u64,
        detail,
    };
    *count += 1;
    if *count > MAX_VALUES {
        return Err(Error::Limit {
            what: "DER plist values",
            limit: MAX_VALUES as u64,
        });
    }
    if depth > MAX_DEPTH {
        return Err(bad(format!("nesting deeper than {MAX_DEPTH} levels")));
    }
    Ok(match t.tag {
        0x01 => match t.value {
            [0] => DerValue::Bool(false),
            [_] => DerValue::Bool(true),
            _ => return Err(bad("BOOLEAN of more than one octet".into())),
        },
        0x02 => {
            if t.value.is_empty() || t.value.len() > 8 {
                return Err(bad(format!(
                    "INTEGER of {} octets (1 to 8 are read)",
                    t.value.len()
                )));
            }
            let neg = t.value[0] & 0x80 != 0;
            let mut v: i64 = if neg { -1 } else { 0 };
            for &b in t.value {
                v = (v << 8) | i64::from(b);
            }
            DerValue::Int(v)
        }
        0x0c => DerValue::String(
            std::str::from_utf8(t.value)
                .map_err(|e| bad(format!("UTF8String is not UTF-8: {e}")))?
                .to_owned(),
        ),
        0x30 => {
            let mut items = Vec::new();
            let mut r = t.children();
            while let Some(c) = r.next_tlv()? {
                items.push(value(&c, depth + 1, count)?);
            }
            DerValue::Array(items)
        }
        0xb0 => {
            let mut entries = Vec::new();
            let mut r = t.children();
            while let Some(e) = r.next_tlv()? {
                if e.tag != 0x30 {
                    return Err(Error::Malformed {
                        structure: "DER plist dictionary entry",
                        offset: e.offset as u64,
                        detail: format!("tag 0x{:02x}, expected SEQUENCE", e.tag),
                    });
                }
                let mut kv = e.children();
                let k = kv.expect(0x0c, "DER plist key")?;
                let key = std::str::from_utf8(k.value)
                    .map_err(|err| Error::Malformed {
                        structure: "DER plist key",
                        offset: k.offset as u64,
                        detail: format!("not UTF-8: {err}"),
                    })?
                    .to_owned();
                let v = kv.next_tlv()?.ok_or(Error::Malformed {
                    structure: "DER plist dictionary entry",
                    offset: e.offset as u64,
                    detail: format!("key {key:?} has no value"),
                })?;
                *count += 1;
                entries.push((key, value(&v, depth + 1, count)?));
            }
            DerValue::Dict(entries)
        }
        other => return Err(bad(format!("tag 0x{other:02x} is not a DER plist type"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers from apple-codesign 0.29.0 `plist_der.rs` (bytes produced by Apple's `codesign`).
    const DER_EMPTY_DICT: &[u8] = &[112, 5, 2, 1, 1, 176, 0];
    const DER_INTEGER_NEG1: &[u8] = &[
        112, 15, 2, 1, 1, 176, 10, 48, 8, 12, 3, 107, 101, 121, 2, 1, 255,
    ];
    const DER_ARRAY_TRUE_FOO: &[u8] = &[
        112, 22, 2, 1, 1, 176, 17, 48, 15, 12, 3, 107, 101, 121, 48, 8, 1, 1, 255, 12, 3, 102, 111,
        111,
    ];
    const DER_DICT_BOOL: &[u8] = &[
        112, 26, 2, 1, 1, 176, 21, 48, 19, 12, 3, 107, 101, 121, 176, 12, 48, 10, 12, 5, 105, 110,
        110, 101, 114, 1, 1, 0,
    ];
    const DER_MULTIPLE_KEYS: &[u8] = &[
        112, 37, 2, 1, 1, 176, 32, 48, 8, 12, 3, 107, 101, 121, 1, 1, 0, 48, 9, 12, 4, 107, 101,
        121, 50, 1, 1, 255, 48, 9, 12, 4, 107, 101, 121, 51, 2, 1, 42,
    ];

    fn key(v: DerValue) -> DerValue {
        DerValue::Dict(vec![("key".into(), v)])
    }

    #[test]
    fn known_answers() {
        assert_eq!(decode(DER_EMPTY_DICT), Ok(DerValue::Dict(vec![])));
        assert_eq!(decode(DER_INTEGER_NEG1), Ok(key(DerValue::Int(-1))));
        assert_eq!(
            decode(DER_ARRAY_TRUE_FOO),
            Ok(key(DerValue::Array(vec![
                DerValue::Bool(true),
                DerValue::String("foo".into())
            ])))
        );
        assert_eq!(
            decode(DER_DICT_BOOL),
            Ok(key(DerValue::Dict(vec![(
                "inner".into(),
                DerValue::Bool(false)
            )])))
        );
        assert_eq!(
            decode(DER_MULTIPLE_KEYS),
            Ok(DerValue::Dict(vec![
                ("key".into(), DerValue::Bool(false)),
                ("key2".into(), DerValue::Bool(true)),
                ("key3".into(), DerValue::Int(42)),
            ]))
        );
    }

    #[test]
    fn hostile_input_is_an_error() {
        // Wrong version, truncated, unknown tag, over-deep nesting.
        assert!(decode(&[112, 5, 2, 1, 2, 176, 0]).is_err());
        assert!(decode(&DER_MULTIPLE_KEYS[..20]).is_err());
        assert!(decode(&[112, 11, 2, 1, 1, 176, 6, 48, 4, 12, 0, 5, 0]).is_err());
        let mut nested = vec![0x30u8, 0x00];
        for _ in 0..40 {
            let mut n = vec![0x30, nested.len() as u8];
            n.extend_from_slice(&nested);
            nested = n;
            if nested.len() > 120 {
                break;
            }
        }
        let mut entry = vec![0x0c, 1, b'k'];
        entry.extend_from_slice(&nested);
        let mut e = vec![0x30, entry.len() as u8];
        e.extend_from_slice(&entry);
        let mut d = vec![0xb0, e.len() as u8];
        d.extend_from_slice(&e);
        let mut body = vec![2, 1, 1];
        body.extend_from_slice(&d);
        let mut top = vec![0x70, 0x81, body.len() as u8];
        top.extend_from_slice(&body);
        assert!(decode(&top).is_err());
    }
}
