//! A small, bounded BER/DER reader: enough of X.690 to walk CMS `SignedData` and X.509 names.
//!
//! Apple's CMS (provisioning profiles, code-signature blobs) uses BER indefinite lengths (`30 80 ... 00 00`) and
//! constructed OCTET STRINGs; this reader accepts both. Nesting depth is bounded, every length is checked against
//! the data, and nothing is allocated from a length field.

use crate::Error;

/// Maximum nesting depth of constructed values.
pub const MAX_DEPTH: usize = 32;

/// One TLV.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    /// Identifier octet (class, constructed bit and tag number, low-tag form only).
    pub tag: u8,
    /// The contents (for an indefinite-length value, without the end-of-contents octets).
    pub value: &'a [u8],
    /// Offset of the identifier octet from the start of the outermost input.
    pub offset: usize,
    /// Whether the length was indefinite (BER).
    pub indefinite: bool,
    /// The whole encoding as stored: identifier, length, contents (and end-of-contents octets).
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Whether the constructed bit is set.
    pub fn constructed(&self) -> bool {
        self.tag & 0x20 != 0
    }

    /// Iterates the children of a constructed value.
    pub fn children(&self) -> Reader<'a> {
        Reader {
            data: self.value,
            pos: 0,
            base: self.offset + self.header_len(),
            depth: 1,
        }
    }

    /// Length of the identifier and length octets.
    pub fn header_len(&self) -> usize {
        if self.indefinite {
            2
        } else {
            self.raw.len() - self.value.len()
        }
    }
}

/// Reads consecutive TLVs from a slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `data`, whose first byte is at `base` in the outermost input.
    pub fn new(data: &'a [u8], base: usize) -> Self {
        Reader {
            data,
            pos: 0,
            base,
            depth: 0,
        }
    }

    /// Whether all input was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// Reads the next TLV; `Ok(None)` at the end of input or at an end-of-contents marker.
    pub fn next_tlv(&mut self) -> Result<Option<Tlv<'a>>, Error> {
        if self.pos >= self.data.len() {
            return Ok(None);
        }
        let (tlv, used) = parse_one(&self.data[self.pos..], self.base + self.pos, self.depth)?;
        self.pos += used;
        if tlv.tag == 0 && tlv.value.is_empty() {
            return Ok(None);
        }
        Ok(Some(tlv))
    }

    /// Reads the next TLV and requires its tag.
    pub fn expect(&mut self, tag: u8, what: &'static str) -> Result<Tlv<'a>, Error> {
        let off = self.base + self.pos;
        match self.next_tlv()? {
            Some(t) if t.tag == tag => Ok(t),
            Some(t) => Err(Error::Malformed {
                structure: what,
                offset: t.offset as u64,
                detail: format!("expected tag 0x{tag:02x}, found 0x{:02x}", t.tag),
            }),
            None => Err(Error::Malformed {
                structure: what,
                offset: off as u64,
                detail: "missing".into(),
            }),
        }
    }
}

/// Parses one TLV at the start of `data`; returns it and the number of bytes it used.
fn parse_one(data: &[u8], offset: usize, depth: usize) -> Result<(Tlv<'_>, usize), Error> {
    let bad = |detail: &str| Error::Malformed {
        structure: "BER",
        offset: offset as u64,
        detail: detail.to_owned(),
    };
    if depth > MAX_DEPTH {
        return Err(bad("nesting deeper than 32 levels"));
    }
    let tag = *data.first().ok_or_else(|| bad("truncated identifier"))?;
    if tag & 0x1f == 0x1f {
        return Err(bad("high-tag-number form is not used by CMS"));
    }
    let l0 = *data.get(1).ok_or_else(|| bad("truncated length"))?;
    let (len, hdr, indefinite) = if l0 < 0x80 {
        (Some(l0 as usize), 2, false)
    } else if l0 == 0x80 {
        (None, 2, true)
    } else {
        let n = (l0 & 0x7f) as usize;
        if n > 4 {
            return Err(bad("length of more than 4 octets"));
        }
        let bytes = data.get(2..2 + n).ok_or_else(|| bad("truncated length"))?;
        let len = bytes.iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        (Some(len), 2 + n, false)
    };
    match len {
        Some(len) => {
            let end = hdr
                .checked_add(len)
                .filter(|&e| e <= data.len())
                .ok_or_else(|| bad(&format!("length {len} runs past the end of its container")))?;
            Ok((
                Tlv {
                    tag,
                    value: &data[hdr..end],
                    offset,
                    indefinite: false,
                    raw: &data[..end],
                },
                end,
            ))
        }
        None => {
            if tag & 0x20 == 0 {
                return Err(bad("indefinite length on a primitive value"));
            }
            // Walk children until the end-of-contents octets.
            let mut pos = hdr;
            loop {
                if data.len() < pos + 2 {
                    return Err(bad("indefinite-length value without end-of-contents"));
                }
                if data[pos] == 0 && data[pos + 1] == 0 {
                    let value = &data[hdr..pos];
                    return Ok((
                        Tlv {
                            tag,
                            value,
                            offset,
                            indefinite,
                            raw: &data[..pos + 2],
                        },
                        pos + 2,
                    ));
                }
                let (_, used) = parse_one(&data[pos..], offset + pos, depth + 1)?;
                pos += used;
            }
        }
    }
}

/// Concatenates the content of an OCTET STRING, primitive (`04`) or constructed (`24`, BER), bounded by `max`.
pub fn octet_string(t: &Tlv<'_>, max: usize) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    collect_octets(t, max, &mut out, 0)?;
    Ok(out)
}

fn collect_octets(t: &Tlv<'_>, max: usize, out: &mut Vec<u8>, depth: usize) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(Error::Malformed {
            structure: "OCTET STRING",
            offset: t.offset as u64,
            detail: "nesting deeper than 32 levels".into(),
        });
    }
    match t.tag {
        0x04 => {
            if out.len() + t.value.len() > max {
                return Err(Error::Limit {
                    what: "encapsulated content",
                    limit: max as u64,
                });
            }
            out.extend_from_slice(t.value);
            Ok(())
        }
        0x24 => {
            let mut r = t.children();
            while let Some(c) = r.next_tlv()? {
                collect_octets(&c, max, out, depth + 1)?;
            }
            Ok(())
        }
        other => Err(Error::Malformed {
            structure: "OCTET STRING",
            offset: t.offset as u64,
            detail: format!("unexpected tag 0x{other:02x}"),
        }),
    }
}

/// Dotted form of an OBJECT IDENTIFIER's contents.
pub fn oid_string(v: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in v {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (acc / 40).min(2);
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
        if acc > u64::MAX >> 8 {
            break;
        }
    }
    parts
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definite_and_indefinite() {
        // SEQUENCE (indefinite) { INTEGER 5, OCTET STRING (constructed, indefinite) { "ab", "c" } }
        let data = [
            0x30, 0x80, 0x02, 0x01, 0x05, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c',
            0x00, 0x00, 0x00, 0x00,
        ];
        let mut r = Reader::new(&data, 0);
        let seq = r.next_tlv().unwrap().unwrap();
        assert!(seq.indefinite);
        let mut c = seq.children();
        assert_eq!(c.expect(0x02, "int").unwrap().value, &[5]);
        let os = c.next_tlv().unwrap().unwrap();
        assert_eq!(octet_string(&os, 10).unwrap(), b"abc");
        assert!(octet_string(&os, 2).is_err());
        assert!(c.next_tlv().unwrap().is_none());
    }

    #[test]
    fn hostile_lengths_are_errors() {
        for data in [
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
            &[0x30, 0x80, 0x02, 0x01][..],
            &[0x04, 0x80, 0x00, 0x00][..],
            &[0x30][..],
        ] {
            assert!(Reader::new(data, 0).next_tlv().is_err(), "{data:02x?}");
        }
        let deep: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], 100).flatten().collect();
        assert!(Reader::new(&deep, 0).next_tlv().is_err());
    }

    #[test]
    fn oids() {
        assert_eq!(
            oid_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02]),
            "1.2.840.113549.1.7.2"
        );
        assert_eq!(oid_string(&[0x55, 0x04, 0x0b]), "2.5.4.11");
    }
}
