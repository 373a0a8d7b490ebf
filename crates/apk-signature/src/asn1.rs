//! A small, lenient BER/DER reader: enough to walk PKCS#7 SignedData and X.509 certificates the way
//! Android does (BER tolerated, stored bytes kept for hashing). It never panics and never allocates.

/// Maximum nesting depth for indefinite-length values.
const MAX_DEPTH: u32 = 32;

/// One TLV: the tag byte (low-tag-number form only), the contents and the whole encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    /// The identifier octet.
    pub(crate) tag: u8,
    /// The contents octets (for indefinite length: without the end-of-contents marker).
    pub(crate) content: &'a [u8],
    /// The whole encoding (identifier, length, contents, end-of-contents).
    pub(crate) raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Iterates over the children of a constructed value.
    pub(crate) fn children(&self) -> Reader<'a> {
        Reader::new(self.content)
    }
}

/// Reads consecutive TLVs from a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { rest: data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next TLV, or `None` at the end or on malformed input.
    pub(crate) fn next_tlv(&mut self) -> Option<Tlv<'a>> {
        let (tlv, len) = parse(self.rest, 0)?;
        self.rest = self.rest.get(len..)?;
        Some(tlv)
    }

    /// The next TLV, required to carry `tag`.
    pub(crate) fn expect(&mut self, tag: u8) -> Option<Tlv<'a>> {
        let save = self.rest;
        match self.next_tlv() {
            Some(t) if t.tag == tag => Some(t),
            _ => {
                self.rest = save;
                None
            }
        }
    }

    /// The next TLV if it carries `tag`; otherwise nothing is consumed.
    pub(crate) fn optional(&mut self, tag: u8) -> Option<Tlv<'a>> {
        self.expect(tag)
    }
}

/// Parses one TLV at the start of `data`; returns it and its total length.
fn parse(data: &[u8], depth: u32) -> Option<(Tlv<'_>, usize)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let tag = *data.first()?;
    if tag & 0x1f == 0x1f {
        return None; // high-tag-number form: not used by the structures we read
    }
    let first = *data.get(1)?;
    let (content_start, content_len) = if first < 0x80 {
        (2usize, usize::from(first))
    } else if first == 0x80 {
        // Indefinite length: constructed only; contents end with 00 00.
        if tag & 0x20 == 0 {
            return None;
        }
        let mut pos = 2usize;
        loop {
            let rest = data.get(pos..)?;
            if rest.get(..2) == Some(&[0, 0]) {
                let content = data.get(2..pos)?;
                let total = pos.checked_add(2)?;
                return Some((
                    Tlv {
                        tag,
                        content,
                        raw: data.get(..total)?,
                    },
                    total,
                ));
            }
            let (_, len) = parse(rest, depth + 1)?;
            pos = pos.checked_add(len)?;
        }
    } else {
        let n = usize::from(first & 0x7f);
        if n > 8 {
            return None;
        }
        let mut len: usize = 0;
        for i in 0..n {
            let b = *data.get(2 + i)?;
            len = len.checked_mul(256)?.checked_add(usize::from(b))?;
        }
        (2 + n, len)
    };
    let end = content_start.checked_add(content_len)?;
    let content = data.get(content_start..end)?;
    Some((
        Tlv {
            tag,
            content,
            raw: data.get(..end)?,
        },
        end,
    ))
}

/// Parses exactly one TLV spanning the whole slice (trailing bytes are tolerated, like Android's BER parser).
pub(crate) fn parse_one(data: &[u8]) -> Option<Tlv<'_>> {
    parse(data, 0).map(|(t, _)| t)
}

/// Universal tags.
pub(crate) mod tag {
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const UTC_TIME: u8 = 0x17;
    pub(crate) const GENERALIZED_TIME: u8 = 0x18;
    pub(crate) const SEQUENCE: u8 = 0x30;
    pub(crate) const SET: u8 = 0x31;
    pub(crate) const BOOLEAN: u8 = 0x01;
}

/// Dotted form of an OID's contents.
pub(crate) fn oid_string(content: &[u8]) -> String {
    let mut out = String::new();
    let mut value: u64 = 0;
    let mut first = true;
    for &b in content {
        value = value
            .saturating_mul(128)
            .saturating_add(u64::from(b & 0x7f));
        if b & 0x80 == 0 {
            if first {
                let (a, rest) = if value < 40 {
                    (0, value)
                } else if value < 80 {
                    (1, value - 40)
                } else {
                    (2, value - 80)
                };
                out.push_str(&format!("{a}.{rest}"));
                first = false;
            } else {
                out.push_str(&format!(".{value}"));
            }
            value = 0;
        }
    }
    out
}

/// The magnitude bytes of an INTEGER's contents (leading zero bytes removed; sign ignored, as
/// Android tolerates "negative" RSA moduli that are really unsigned).
pub(crate) fn unsigned_bytes(content: &[u8]) -> &[u8] {
    let mut c = content;
    while let [0, rest @ ..] = c {
        if rest.is_empty() {
            break;
        }
        c = rest;
    }
    c
}

/// Hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(H[usize::from(b >> 4)]));
        s.push(char::from(H[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definite_and_indefinite() {
        let der = [0x30, 0x03, 0x02, 0x01, 0x05];
        let t = parse_one(&der).expect("tlv");
        assert_eq!(t.tag, 0x30);
        let i = t.children().next_tlv().expect("int");
        assert_eq!(i.content, &[5]);
        let ber = [0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00];
        let t = parse_one(&ber).expect("tlv");
        assert_eq!(t.raw.len(), 7);
        assert_eq!(t.content, &[2, 1, 5]);
        assert_eq!(
            oid_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02]),
            "1.2.840.113549.1.7.2"
        );
    }

    #[test]
    fn truncated_is_none() {
        assert!(parse_one(&[0x30, 0x05, 0x02]).is_none());
        assert!(parse_one(&[0x30, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1]).is_none());
        assert!(parse_one(&[0x30, 0x80, 0x30, 0x80]).is_none());
    }
}
