//! Source stamps (V2 source stamp block, id `0x6dff800d`), verified as apksig's
//! `V2SourceStampVerifier` does: the stamp certificate must match the `stamp-cert-sha256` entry,
//! the stamp key must sign the content digests of every scheme that counted for the verdict, and
//! the optional attributes (signed separately) may carry a proof-of-rotation lineage.
//!
//! Parsing is bounded by the block (every length is checked against what is left) and answers with
//! a typed [`StampError`], never a panic.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::block::Lp;
use crate::cert::Cert;
use crate::v2v3::{parse_lineage, sig_alg, LineageError, SigAlg};
use crate::{CertificateInfo, Issue};

/// Block id of the V2 source stamp.
pub(crate) const V2_ID: u32 = 0x6dff_800d;
/// The ZIP entry holding the stamp certificate's SHA-256.
pub(crate) const CERT_DIGEST_ENTRY: &str = "stamp-cert-sha256";
/// Attribute id of the stamp's proof-of-rotation lineage.
const LINEAGE_ATTR: u32 = 0x9d63_03f7;
/// Attribute id of the stamp's timestamp (seconds since the epoch, u64 LE; apksig 32+).
const TIMESTAMP_ATTR: u32 = 0xe43c_5946;
/// Most signed-scheme records, signatures per record and attributes read.
const MAX_RECORDS: usize = 64;

/// The result of verifying a source stamp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceStamp {
    /// The `stamp-cert-sha256` entry is present.
    pub digest_entry: bool,
    /// The stamp block is present in the APK Signing Block.
    pub block: bool,
    /// The stamp verified (certificate matches the entry, signatures over every counted scheme's
    /// digests and over the attributes verified, lineage valid).
    pub verified: bool,
    /// The stamp signer's certificate (when the block's certificate could be parsed).
    pub cert: Option<CertificateInfo>,
    /// The stamp's proof-of-rotation lineage, oldest first (empty if none).
    pub lineage: Vec<CertificateInfo>,
    /// When the stamp was made (seconds since the epoch), from its signed timestamp attribute.
    pub timestamp: Option<u64>,
    /// Why it did not verify, with apksig's codes (`SOURCE_STAMP_DID_NOT_VERIFY`, ...). apksig
    /// reports these as warnings: a bad stamp does not make the APK's signatures fail.
    pub issues: Vec<Issue>,
}

/// A structural defect of the stamp block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StampError {
    /// A length prefix or field runs past its enclosing record.
    #[error("malformed source stamp block: truncated {what} at byte {offset}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Offset inside the stamp pair value.
        offset: usize,
    },
    /// More records than [`MAX_RECORDS`].
    #[error("malformed source stamp block: more than {limit} {what}")]
    TooMany {
        /// What there were too many of.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

fn off(base: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(base.as_ptr() as usize)
}

/// One signature record: algorithm id and bytes.
type Sig<'a> = (u32, &'a [u8]);

/// The parsed structure of a V2 stamp block (no cryptography yet).
#[derive(Debug)]
pub(crate) struct Parsed<'a> {
    pub(crate) cert: &'a [u8],
    /// Scheme id → the signatures over that scheme's digests.
    pub(crate) schemes: BTreeMap<u32, Vec<Sig<'a>>>,
    /// Attributes: (signed bytes, signatures).
    pub(crate) attrs: Option<(&'a [u8], Vec<Sig<'a>>)>,
}

fn sigs<'a>(base: &'a [u8], data: &'a [u8]) -> Result<Vec<Sig<'a>>, StampError> {
    let mut r = Lp::new(data);
    let mut out = Vec::new();
    while r.has_remaining() {
        if out.len() == MAX_RECORDS {
            return Err(StampError::TooMany {
                what: "signatures",
                limit: MAX_RECORDS,
            });
        }
        let at = off(base, r.remaining());
        let rec = r.slice().ok_or(StampError::Truncated {
            what: "signature record",
            offset: at,
        })?;
        let mut rr = Lp::new(rec);
        let alg = rr.u32().ok_or(StampError::Truncated {
            what: "signature algorithm",
            offset: at,
        })?;
        let sig = rr.slice().ok_or(StampError::Truncated {
            what: "signature",
            offset: at,
        })?;
        out.push((alg, sig));
    }
    Ok(out)
}

/// Parses a V2 stamp pair value.
pub(crate) fn parse(value: &[u8]) -> Result<Parsed<'_>, StampError> {
    let t = |what, at: &[u8]| StampError::Truncated {
        what,
        offset: off(value, at),
    };
    let mut outer = Lp::new(value);
    let data = outer.slice().ok_or_else(|| t("stamp block", value))?;
    let mut r = Lp::new(data);
    let cert = r.slice().ok_or_else(|| t("certificate", data))?;
    let at = r.remaining();
    let signed = r.slice().ok_or_else(|| t("signed digests", at))?;
    let mut sr = Lp::new(signed);
    let mut schemes = BTreeMap::new();
    while sr.has_remaining() {
        if schemes.len() == MAX_RECORDS {
            return Err(StampError::TooMany {
                what: "signed schemes",
                limit: MAX_RECORDS,
            });
        }
        let at = sr.remaining();
        let rec = sr.slice().ok_or_else(|| t("signed scheme record", at))?;
        let mut rr = Lp::new(rec);
        let id = rr.u32().ok_or_else(|| t("scheme id", rec))?;
        let at = rr.remaining();
        let list = rr.slice().ok_or_else(|| t("scheme signatures", at))?;
        schemes.insert(id, sigs(value, list)?);
    }
    let attrs = if r.has_remaining() {
        let at = r.remaining();
        let a = r.slice().ok_or_else(|| t("attributes", at))?;
        let at = r.remaining();
        let s = r.slice().ok_or_else(|| t("attribute signatures", at))?;
        Some((a, sigs(value, s)?))
    } else {
        None
    };
    Ok(Parsed {
        cert,
        schemes,
        attrs,
    })
}

fn hex(b: &[u8]) -> String {
    crate::asn1::hex(b)
}

/// Verifies the strongest known signature of `list` over `data` with `cert`'s key, as apksig's
/// `verifySourceStampSignature` does.
fn verify_sigs(cert: &Cert<'_>, data: &[u8], list: &[Sig<'_>]) -> Result<(), Issue> {
    let mut best: Option<(SigAlg, &[u8])> = None;
    for &(id, bytes) in list {
        let Some(alg) = sig_alg(id) else {
            return Err(Issue::new(
                "SOURCE_STAMP_UNKNOWN_SIG_ALGORITHM",
                format!("Unknown signature algorithm: {id:#x}"),
            ));
        };
        if best.is_none_or(|(b, _)| alg.content > b.content) {
            best = Some((alg, bytes));
        }
    }
    let Some((alg, sig)) = best else {
        return Err(Issue::new("SOURCE_STAMP_NO_SIGNATURE", "No signature"));
    };
    let key = cert.public_key().ok_or_else(|| {
        Issue::new(
            "SOURCE_STAMP_VERIFY_EXCEPTION",
            format!(
                "Failed to verify {:#x} signature: unsupported public key",
                alg.id
            ),
        )
    })?;
    match key.verify(alg.kind, alg.hash, data, sig) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Issue::new(
            "SOURCE_STAMP_DID_NOT_VERIFY",
            format!("{:#x} signature over signed-data did not verify", alg.id),
        )),
        Err(e) => Err(Issue::new(
            "SOURCE_STAMP_VERIFY_EXCEPTION",
            format!("Failed to verify {:#x} signature: {e}", alg.id),
        )),
    }
}

/// apksig's `encodeAsSequenceOfLengthPrefixedPairsOfIntAndLengthPrefixedBytes` over digests
/// sorted by content-digest id.
pub(crate) fn encode_digests(digests: &BTreeMap<u32, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for (id, d) in digests {
        let len = (8 + d.len()) as u32;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(d.len() as u32).to_le_bytes());
        out.extend_from_slice(d);
    }
    out
}

/// Verifies a stamp. `expected` is the `stamp-cert-sha256` entry's content; `value` the V2 stamp
/// pair; `scheme_digests` the content digests (by content-digest id) of every scheme that counted
/// for the verdict, keyed by scheme id (1 = JAR, 2 = v2, 3 = v3).
pub(crate) fn verify(
    expected: &[u8],
    value: Option<&[u8]>,
    scheme_digests: &BTreeMap<u32, BTreeMap<u32, Vec<u8>>>,
) -> SourceStamp {
    let mut out = SourceStamp {
        digest_entry: true,
        block: value.is_some(),
        ..SourceStamp::default()
    };
    let Some(value) = value else {
        out.issues.push(Issue::new(
            "SOURCE_STAMP_SIG_MISSING",
            "No SourceStamp signature",
        ));
        return out;
    };
    let malformed = |e: StampError| {
        Issue::new(
            "SOURCE_STAMP_MALFORMED_SIGNATURE",
            format!("Malformed SourceStamp signature: {e}"),
        )
    };
    let parsed = match parse(value) {
        Ok(p) => p,
        Err(e) => {
            // apksig reads the certificate before anything else can fail: report it if it parses.
            out.issues.push(malformed(e));
            return out;
        }
    };
    let Some(cert) = Cert::parse(parsed.cert) else {
        out.issues.push(Issue::new(
            "SOURCE_STAMP_MALFORMED_CERTIFICATE",
            "Malformed certificate: not an X.509 certificate",
        ));
        return out;
    };
    out.cert = Some(cert.info());
    let actual = Sha256::digest(parsed.cert);
    if actual[..] != *expected {
        out.issues.push(Issue::new(
            "SOURCE_STAMP_CERTIFICATE_MISMATCH_BETWEEN_SIGNATURE_BLOCK_AND_APK",
            format!(
                "Certificate mismatch between SourceStamp block in APK signing block and SourceStamp file in APK: <{}> vs <{}>",
                hex(&actual),
                hex(expected)
            ),
        ));
        return out;
    }
    for (scheme, digests) in scheme_digests {
        let Some(list) = parsed.schemes.get(scheme) else {
            out.issues
                .push(Issue::new("SOURCE_STAMP_NO_SIGNATURE", "No signature"));
            return out;
        };
        if let Err(i) = verify_sigs(&cert, &encode_digests(digests), list) {
            out.issues.push(i);
            return out;
        }
    }
    if let Some((attrs, list)) = &parsed.attrs {
        if let Err(i) = verify_sigs(&cert, attrs, list) {
            out.issues.push(i);
            return out;
        }
        if let Err(i) = attributes(attrs, cert.raw, &mut out) {
            out.issues.push(i);
            return out;
        }
    }
    out.verified = out.issues.is_empty();
    out
}

/// Reads the signed attributes: the lineage (verified, last certificate = stamp certificate);
/// unknown attributes are reported as apksig does.
fn attributes(data: &[u8], cert_raw: &[u8], out: &mut SourceStamp) -> Result<(), Issue> {
    let mut outer = Lp::new(data);
    let bad = |n: usize| {
        Issue::new(
            "SOURCE_STAMP_MALFORMED_ATTRIBUTE",
            format!("Malformed stamp attribute #{n}"),
        )
    };
    let list = outer.slice().ok_or_else(|| bad(1))?;
    let mut r = Lp::new(list);
    let mut n = 0;
    while r.has_remaining() {
        n += 1;
        if n > MAX_RECORDS {
            return Err(bad(n));
        }
        let a = r.slice().ok_or_else(|| bad(n))?;
        let mut ar = Lp::new(a);
        let id = ar.u32().ok_or_else(|| bad(n))?;
        let v = ar.remaining();
        if id == TIMESTAMP_ATTR {
            let t = v
                .get(..8)
                .filter(|_| v.len() == 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_le_bytes)
                .ok_or_else(|| bad(n))?;
            // apksig reads a signed long: zero or negative is invalid.
            if t == 0 || t > i64::MAX as u64 {
                return Err(Issue::new(
                    "SOURCE_STAMP_INVALID_TIMESTAMP",
                    format!(
                        "The source stamp timestamp attribute has an invalid value: {}",
                        t as i64
                    ),
                ));
            }
            out.timestamp = Some(t);
            continue;
        }
        if id != LINEAGE_ATTR {
            return Err(Issue::new(
                "SOURCE_STAMP_UNKNOWN_ATTRIBUTE",
                format!("Unknown stamp attribute: ID {id:#x}"),
            ));
        }
        match parse_lineage(v) {
            Ok(nodes) => {
                if nodes.last().is_none_or(|l| l.cert.raw != cert_raw) {
                    return Err(Issue::new(
                        "SOURCE_STAMP_POR_CERT_MISMATCH",
                        "APK signing certificate differs from the associated certificate found in the signer's SigningCertificateLineage.",
                    ));
                }
                out.lineage = nodes.iter().map(|x| x.cert.info()).collect();
            }
            Err(LineageError::DidNotVerify(_)) => {
                return Err(Issue::new(
                    "SOURCE_STAMP_POR_DID_NOT_VERIFY",
                    "Source stamp SigningCertificateLineage attribute contains a proof-of-rotation record with signature(s) that did not verify.",
                ))
            }
            Err(LineageError::Malformed(_)) => {
                return Err(Issue::new(
                    "SOURCE_STAMP_MALFORMED_LINEAGE",
                    "Failed to parse the SigningCertificateLineage structure in the source stamp attributes section.",
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lp(v: &[u8]) -> Vec<u8> {
        let mut o = (v.len() as u32).to_le_bytes().to_vec();
        o.extend_from_slice(v);
        o
    }

    /// A structurally valid block: a fake certificate, one scheme with one signature, attributes.
    fn sample() -> Vec<u8> {
        let mut sig = 0x0103u32.to_le_bytes().to_vec();
        sig.extend(lp(b"signature bytes"));
        let mut scheme = 2u32.to_le_bytes().to_vec();
        scheme.extend(lp(&lp(&sig)));
        let mut data = lp(b"certificate bytes");
        data.extend(lp(&lp(&scheme)));
        let mut attr = LINEAGE_ATTR.to_le_bytes().to_vec();
        attr.extend(1u32.to_le_bytes());
        data.extend(lp(&lp(&lp(&attr))));
        data.extend(lp(&lp(&sig)));
        lp(&data)
    }

    #[test]
    fn parses_the_layout_apksigner_writes() {
        let v = sample();
        let p = parse(&v).expect("parses");
        assert_eq!(p.cert, b"certificate bytes");
        assert_eq!(p.schemes.len(), 1);
        assert_eq!(p.schemes[&2], vec![(0x0103, &b"signature bytes"[..])]);
        assert!(p.attrs.is_some());
    }

    #[test]
    fn truncation_is_a_typed_error_with_offset() {
        let v = sample();
        for cut in 0..v.len() {
            let r = parse(&v[..cut]);
            assert!(
                matches!(r, Err(StampError::Truncated { .. })),
                "cut at {cut}: {r:?}"
            );
        }
        let mut bad = v.clone();
        bad[4..8].copy_from_slice(&u32::MAX.to_le_bytes()); // certificate length
        assert!(matches!(
            parse(&bad),
            Err(StampError::Truncated {
                what: "certificate",
                ..
            })
        ));
    }

    #[test]
    fn missing_or_mismatched_stamp_does_not_verify() {
        let none = verify(&[0; 32], None, &BTreeMap::new());
        assert!(!none.verified);
        assert_eq!(none.issues[0].code, "SOURCE_STAMP_SIG_MISSING");
        let bad = verify(&[0; 32], Some(&sample()), &BTreeMap::new());
        assert!(!bad.verified);
        assert_eq!(bad.issues[0].code, "SOURCE_STAMP_MALFORMED_CERTIFICATE");
    }

    fn attrs(list: &[(u32, &[u8])]) -> Vec<u8> {
        let mut l = Vec::new();
        for (id, v) in list {
            let mut a = id.to_le_bytes().to_vec();
            a.extend_from_slice(v);
            l.extend(lp(&a));
        }
        lp(&l)
    }

    #[test]
    fn timestamp_attribute_is_read_and_checked() {
        let mut s = SourceStamp::default();
        let t = 1_700_000_000u64.to_le_bytes();
        assert!(attributes(&attrs(&[(TIMESTAMP_ATTR, &t)]), b"c", &mut s).is_ok());
        assert_eq!(s.timestamp, Some(1_700_000_000));
        let zero = 0u64.to_le_bytes();
        let e = attributes(&attrs(&[(TIMESTAMP_ATTR, &zero)]), b"c", &mut s).unwrap_err();
        assert_eq!(e.code, "SOURCE_STAMP_INVALID_TIMESTAMP");
        let neg = (-5i64).to_le_bytes();
        let e = attributes(&attrs(&[(TIMESTAMP_ATTR, &neg)]), b"c", &mut s).unwrap_err();
        assert_eq!(e.code, "SOURCE_STAMP_INVALID_TIMESTAMP");
        let e = attributes(&attrs(&[(TIMESTAMP_ATTR, &t[..4])]), b"c", &mut s).unwrap_err();
        assert_eq!(e.code, "SOURCE_STAMP_MALFORMED_ATTRIBUTE");
        let e = attributes(&attrs(&[(0x1234, b"x")]), b"c", &mut s).unwrap_err();
        assert_eq!(e.code, "SOURCE_STAMP_UNKNOWN_ATTRIBUTE");
        let e = attributes(&attrs(&[(LINEAGE_ATTR, &[2, 0, 0, 0])]), b"c", &mut s).unwrap_err();
        assert_eq!(e.code, "SOURCE_STAMP_MALFORMED_LINEAGE");
        // Truncated attribute list.
        let e = attributes(&[9, 0, 0, 0, 1], b"c", &mut s).unwrap_err();
        assert_eq!(e.code, "SOURCE_STAMP_MALFORMED_ATTRIBUTE");
    }

    #[test]
    fn digests_are_encoded_as_apksig_does() {
        let mut d = BTreeMap::new();
        d.insert(2u32, vec![0xbb; 2]);
        d.insert(1u32, vec![0xaa; 1]);
        assert_eq!(
            encode_digests(&d),
            vec![
                9, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0xaa, 10, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0,
                0xbb, 0xbb
            ]
        );
    }

    proptest! {
        #[test]
        fn byte_flips_never_panic(i in 0usize..200, x in 1u8..=255) {
            let mut v = sample();
            let l = v.len();
            v[i % l] ^= x;
            let _ = parse(&v);
            let _ = verify(&[0; 32], Some(&v), &BTreeMap::new());
        }

        #[test]
        fn arbitrary_bytes_never_panic(v in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&v);
        }
    }
}
