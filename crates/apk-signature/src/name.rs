//! X.500 names and certificate serial numbers compared the way Android (Java's `X500Principal.equals`
//! and `BigInteger.equals`) compares them, for matching a PKCS#7 SignerInfo's
//! `issuerAndSerialNumber` to a certificate.
//!
//! Java compares names by their RFC 2253 *canonical* form: RDN by RDN, the attribute values of a
//! multi-valued RDN in a fixed order, and each value either as text (`PrintableString` and
//! `UTF8String` only: leading/trailing white space removed, inner runs of white space collapsed to
//! one, case folded) or, for every other type, as its DER encoding. So `CN=Foo` as a
//! `PrintableString` equals `cn=  foo ` as a `UTF8String`, but not `CN=Foo` as a `BMPString`.
//!
//! Unicode NFKD normalisation (which Java also applies) is not done: two names that differ only in
//! composed/decomposed non-ASCII characters are treated as different (documented in
//! docs/signatures.md).
//!
//! Input is bounded: at most [`MAX_RDNS`] RDNs of at most [`MAX_AVAS`] attributes; errors are typed
//! and carry the byte offset inside the name.

use crate::asn1::{parse_one, tag};

/// Most RDNs in one name.
pub(crate) const MAX_RDNS: usize = 64;
/// Most attribute-value assertions in one RDN.
pub(crate) const MAX_AVAS: usize = 16;

const PRINTABLE_STRING: u8 = 0x13;
const UTF8_STRING: u8 = 0x0c;

/// Why a name could not be canonicalised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NameError {
    /// The bytes at `offset` are not the expected DER structure.
    #[error("malformed X.500 name at byte {offset}: {what}")]
    Malformed {
        /// Offset within the name's encoding.
        offset: usize,
        /// What was expected.
        what: &'static str,
    },
    /// More RDNs or attributes than [`MAX_RDNS`] / [`MAX_AVAS`].
    #[error("X.500 name too large at byte {offset}: more than {limit} {what}")]
    TooLarge {
        /// Offset of the element over the limit.
        offset: usize,
        /// The limit.
        limit: usize,
        /// `"RDNs"` or `"attributes in one RDN"`.
        what: &'static str,
    },
}

/// One attribute value in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    /// A `PrintableString` / `UTF8String`, white space normalised and case folded.
    Text(String),
    /// Any other type: its whole DER encoding.
    Der(Vec<u8>),
}

/// A name in canonical form: RDNs in order, each a sorted list of (OID bytes, value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CanonicalName(Vec<Vec<(Vec<u8>, Value)>>);

fn offset_in(base: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(base.as_ptr() as usize)
}

/// Canonicalises an encoded `Name` (`SEQUENCE OF RDN`).
pub(crate) fn canonical(raw: &[u8]) -> Result<CanonicalName, NameError> {
    let bad = |at: &[u8], what| NameError::Malformed {
        offset: offset_in(raw, at),
        what,
    };
    let seq = parse_one(raw).ok_or_else(|| bad(raw, "a SEQUENCE (Name)"))?;
    if seq.tag != tag::SEQUENCE {
        return Err(bad(raw, "a SEQUENCE (Name)"));
    }
    let mut rdns = Vec::new();
    let mut r = seq.children();
    while !r.is_empty() {
        let rdn = r
            .next_tlv()
            .filter(|t| t.tag == tag::SET)
            .ok_or_else(|| bad(seq.content, "a SET (RelativeDistinguishedName)"))?;
        if rdns.len() == MAX_RDNS {
            return Err(NameError::TooLarge {
                offset: offset_in(raw, rdn.raw),
                limit: MAX_RDNS,
                what: "RDNs",
            });
        }
        let mut avas = Vec::new();
        let mut ar = rdn.children();
        while !ar.is_empty() {
            let ava = ar
                .next_tlv()
                .filter(|t| t.tag == tag::SEQUENCE)
                .ok_or_else(|| bad(rdn.content, "a SEQUENCE (AttributeTypeAndValue)"))?;
            if avas.len() == MAX_AVAS {
                return Err(NameError::TooLarge {
                    offset: offset_in(raw, ava.raw),
                    limit: MAX_AVAS,
                    what: "attributes in one RDN",
                });
            }
            let mut vr = ava.children();
            let oid = vr
                .expect(tag::OID)
                .ok_or_else(|| bad(ava.content, "an OBJECT IDENTIFIER (attribute type)"))?;
            let value = vr
                .next_tlv()
                .ok_or_else(|| bad(oid.raw, "an attribute value"))?;
            let v = match value.tag {
                PRINTABLE_STRING | UTF8_STRING => match std::str::from_utf8(value.content) {
                    Ok(s) => Value::Text(fold(s)),
                    Err(_) => return Err(bad(value.raw, "valid UTF-8 text")),
                },
                _ => Value::Der(value.raw.to_vec()),
            };
            avas.push((oid.content.to_vec(), v));
        }
        avas.sort();
        rdns.push(avas);
    }
    Ok(CanonicalName(rdns))
}

/// Java's canonical text: trim, collapse inner white space to one space, upper- then lower-case.
fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut white = false;
    for c in s.trim_matches(char::is_whitespace).chars() {
        if c.is_whitespace() {
            if !white {
                out.push(' ');
            }
            white = true;
        } else {
            white = false;
            for u in c.to_uppercase() {
                out.extend(u.to_lowercase());
            }
        }
    }
    out
}

/// Two encoded names denote the same principal (as `X500Principal.equals`). Byte-identical names
/// are equal without parsing; names that cannot be parsed are equal only if byte-identical.
pub(crate) fn names_equal(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    match (canonical(a), canonical(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// The minimal two's-complement form of an INTEGER's contents (what `BigInteger` keeps).
fn minimal_integer(c: &[u8]) -> &[u8] {
    let mut c = c;
    while let [first, second, ..] = c {
        let redundant =
            (*first == 0 && second & 0x80 == 0) || (*first == 0xff && second & 0x80 != 0);
        if !redundant {
            break;
        }
        c = c.get(1..).unwrap_or(&[]);
    }
    c
}

/// Two INTEGER contents denote the same (signed) number, as `BigInteger.equals`. Empty contents
/// (not a valid INTEGER) equal nothing.
pub(crate) fn integers_equal(a: &[u8], b: &[u8]) -> bool {
    !a.is_empty() && !b.is_empty() && minimal_integer(a) == minimal_integer(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, <tag> value } } ... }` for short values.
    fn name(avas: &[&[(u8, &str)]]) -> Vec<u8> {
        let mut body = Vec::new();
        for rdn in avas {
            let mut set = Vec::new();
            for (t, v) in *rdn {
                let mut ava = vec![0x06, 0x03, 0x55, 0x04, 0x03, *t, v.len() as u8];
                ava.extend_from_slice(v.as_bytes());
                set.push(0x30);
                set.push(ava.len() as u8);
                set.extend(ava);
            }
            body.push(0x31);
            body.push(set.len() as u8);
            body.extend(set);
        }
        let mut out = vec![0x30, body.len() as u8];
        out.extend(body);
        out
    }

    #[test]
    fn string_type_case_and_white_space_do_not_matter() {
        let a = name(&[&[(PRINTABLE_STRING, "Interdict  Test")]]);
        let b = name(&[&[(UTF8_STRING, " INTERDICT TEST")]]);
        assert_ne!(a, b);
        assert!(names_equal(&a, &b));
        let c = name(&[&[(UTF8_STRING, "Interdict Tests")]]);
        assert!(!names_equal(&a, &c));
    }

    #[test]
    fn other_string_types_compare_by_encoding_as_java_does() {
        // IA5String (0x16) is not canonicalised by Java: compared by its DER bytes.
        let a = name(&[&[(0x16, "Foo")]]);
        let b = name(&[&[(UTF8_STRING, "Foo")]]);
        assert!(!names_equal(&a, &b));
        assert!(names_equal(&a, &name(&[&[(0x16, "Foo")]])));
        assert!(!names_equal(&a, &name(&[&[(0x16, "foo")]])));
    }

    #[test]
    fn multi_valued_rdn_order_does_not_matter_but_rdn_order_does() {
        let a = name(&[&[(UTF8_STRING, "a"), (UTF8_STRING, "b")]]);
        let b = name(&[&[(UTF8_STRING, "B"), (PRINTABLE_STRING, "A")]]);
        assert!(names_equal(&a, &b));
        let c = name(&[&[(UTF8_STRING, "a")], &[(UTF8_STRING, "b")]]);
        let d = name(&[&[(UTF8_STRING, "b")], &[(UTF8_STRING, "a")]]);
        assert!(!names_equal(&c, &d));
    }

    #[test]
    fn serials_compare_as_signed_integers() {
        assert!(integers_equal(&[0x00, 0x80, 0x01], &[0x00, 0x80, 0x01]));
        assert!(integers_equal(&[0x00, 0x00, 0x7f], &[0x7f]));
        assert!(integers_equal(&[0xff, 0x80], &[0x80]));
        // 0x0080 (128) is not 0x80 (-128).
        assert!(!integers_equal(&[0x00, 0x80], &[0x80]));
        assert!(!integers_equal(&[], &[]));
    }

    #[test]
    fn errors_are_typed_with_offsets_and_limits_hold() {
        let mut n = name(&[&[(UTF8_STRING, "a")]]);
        n[2] = 0x30; // RDN is not a SET
        assert!(matches!(
            canonical(&n),
            Err(NameError::Malformed { offset: 2, .. })
        ));
        let many: Vec<&[(u8, &str)]> = vec![&[(UTF8_STRING, "x")]; MAX_RDNS + 1];
        // Build a long-form length by hand.
        let mut body = Vec::new();
        for _ in &many {
            body.extend([
                0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x02, b'x', b'y',
            ]);
        }
        let mut big = vec![0x30, 0x82, (body.len() >> 8) as u8, body.len() as u8];
        big.extend(body);
        assert!(matches!(canonical(&big), Err(NameError::TooLarge { .. })));
        assert!(!names_equal(&big, &name(&[&[(UTF8_STRING, "xy")]])));
        // Invalid UTF-8 in a UTF8String.
        let mut u = name(&[&[(UTF8_STRING, "ab")]]);
        let l = u.len();
        u[l - 1] = 0xff;
        assert!(matches!(canonical(&u), Err(NameError::Malformed { .. })));
    }

    proptest! {
        #[test]
        fn never_panics_on_flipped_names(i in 0usize..64, b in any::<u8>()) {
            let mut n = name(&[&[(UTF8_STRING, "Interdict Test")], &[(PRINTABLE_STRING, "DE"), (UTF8_STRING, "x")]]);
            let l = n.len();
            n[i % l] ^= b;
            let _ = canonical(&n);
            let _ = names_equal(&n, &name(&[&[(UTF8_STRING, "Interdict Test")]]));
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = canonical(&data);
        }
    }
}
