//! X.509 certificates as Android reads them: fields taken from the stored (possibly BER) bytes,
//! fingerprints over the stored bytes, never re-encoded.

use der::Decode;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::asn1::{hex, oid_string, parse_one, tag, unsigned_bytes, Reader, Tlv};
use crate::crypto::{KeyKind, PublicKey};
use crate::CertificateInfo;

/// A parsed certificate.
#[derive(Debug, Clone)]
pub(crate) struct Cert<'a> {
    /// The stored encoding.
    pub(crate) raw: &'a [u8],
    /// Serial number magnitude bytes (as stored, sign ignored).
    pub(crate) serial: &'a [u8],
    /// Serial number INTEGER contents as stored (two's complement).
    pub(crate) serial_raw: &'a [u8],
    /// Issuer Name, stored encoding.
    pub(crate) issuer_raw: &'a [u8],
    /// Subject Name, stored encoding.
    pub(crate) subject_raw: &'a [u8],
    /// notBefore / notAfter as ISO 8601 (UTC).
    pub(crate) not_before: String,
    pub(crate) not_after: String,
    /// SubjectPublicKeyInfo, stored encoding.
    pub(crate) spki_raw: &'a [u8],
    /// keyUsage bits (digitalSignature, nonRepudiation) if the extension is present.
    pub(crate) key_usage: Option<(bool, bool)>,
    /// Whether a critical extension Java does not support is present.
    pub(crate) unsupported_critical: bool,
}

/// Critical extensions Java's X509CertImpl understands.
const KNOWN_EXTENSIONS: &[&str] = &[
    "2.5.29.14",
    "2.5.29.15",
    "2.5.29.17",
    "2.5.29.18",
    "2.5.29.19",
    "2.5.29.30",
    "2.5.29.32",
    "2.5.29.33",
    "2.5.29.35",
    "2.5.29.36",
    "2.5.29.37",
    "2.5.29.54",
];

impl<'a> Cert<'a> {
    /// Parses a certificate; `None` if it is not one.
    pub(crate) fn parse(raw: &'a [u8]) -> Option<Self> {
        let outer = parse_one(raw)?;
        if outer.tag != tag::SEQUENCE {
            return None;
        }
        let raw = outer.raw;
        let mut top = outer.children();
        let tbs = top.expect(tag::SEQUENCE)?;
        top.expect(tag::SEQUENCE)?; // signatureAlgorithm
        top.expect(tag::BIT_STRING)?;
        let mut r = tbs.children();
        r.optional(0xa0); // version
        let serial = r.expect(tag::INTEGER)?;
        r.expect(tag::SEQUENCE)?; // signature
        let issuer = r.expect(tag::SEQUENCE)?;
        let validity = r.expect(tag::SEQUENCE)?;
        let subject = r.expect(tag::SEQUENCE)?;
        let spki = r.expect(tag::SEQUENCE)?;
        let mut key_usage = None;
        let mut unsupported_critical = false;
        while let Some(t) = r.next_tlv() {
            if t.tag != 0xa3 {
                continue;
            }
            let exts = t.children().expect(tag::SEQUENCE)?;
            let mut er = exts.children();
            while let Some(ext) = er.next_tlv() {
                let mut x = ext.children();
                let oid = oid_string(x.expect(tag::OID)?.content);
                let critical = x
                    .optional(tag::BOOLEAN)
                    .is_some_and(|b| b.content.first().is_some_and(|&v| v != 0));
                let value = x.expect(tag::OCTET_STRING)?;
                if critical && !KNOWN_EXTENSIONS.contains(&oid.as_str()) {
                    unsupported_critical = true;
                }
                if oid == "2.5.29.15" {
                    let bits = parse_one(value.content).filter(|b| b.tag == tag::BIT_STRING);
                    let byte = bits.and_then(|b| b.content.get(1).copied()).unwrap_or(0);
                    key_usage = Some((byte & 0x80 != 0, byte & 0x40 != 0));
                }
            }
        }
        let mut v = validity.children();
        let not_before = time_string(v.next_tlv()?);
        let not_after = time_string(v.next_tlv()?);
        Some(Cert {
            raw,
            serial: unsigned_bytes(serial.content),
            serial_raw: serial.content,
            issuer_raw: issuer.raw,
            subject_raw: subject.raw,
            not_before,
            not_after,
            spki_raw: spki.raw,
            key_usage,
            unsupported_critical,
        })
    }

    pub(crate) fn sha256(&self) -> String {
        hex(&Sha256::digest(self.raw))
    }

    pub(crate) fn sha1(&self) -> String {
        hex(&Sha1::digest(self.raw))
    }

    pub(crate) fn public_key(&self) -> Option<PublicKey> {
        PublicKey::from_spki(self.spki_raw)
    }

    /// The owned, reportable view.
    pub(crate) fn info(&self) -> CertificateInfo {
        let key = self.public_key();
        CertificateInfo {
            sha256: self.sha256(),
            sha1: self.sha1(),
            subject: name_string(self.subject_raw),
            issuer: name_string(self.issuer_raw),
            serial: hex(self.serial),
            not_before: self.not_before.clone(),
            not_after: self.not_after.clone(),
            key_algorithm: match key.as_ref().map(PublicKey::kind) {
                Some(KeyKind::Rsa) => "RSA",
                Some(KeyKind::Ec) => "EC",
                Some(KeyKind::Dsa) => "DSA",
                None => "unknown",
            },
            key_bits: key.as_ref().map_or(0, PublicKey::bits),
        }
    }
}

/// RFC 4514 string of a stored Name (most specific first, like Java's X500Principal).
pub(crate) fn name_string(raw: &[u8]) -> String {
    match x509_cert::name::Name::from_der(raw) {
        Ok(n) => n.to_string(),
        Err(_) => {
            // Not DER: fall back to walking it leniently.
            let mut parts = Vec::new();
            if let Some(t) = parse_one(raw) {
                let mut rdns = t.children();
                while let Some(rdn) = rdns.next_tlv() {
                    let mut atvs = rdn.children();
                    while let Some(atv) = atvs.next_tlv() {
                        let mut a = atv.children();
                        let oid = a
                            .next_tlv()
                            .map(|o| oid_string(o.content))
                            .unwrap_or_default();
                        let val = a
                            .next_tlv()
                            .map(|v| String::from_utf8_lossy(v.content).into_owned());
                        parts.push(format!("{oid}={}", val.unwrap_or_default()));
                    }
                }
            }
            parts.reverse();
            parts.join(",")
        }
    }
}

fn time_string(t: Tlv<'_>) -> String {
    let s = String::from_utf8_lossy(t.content);
    let s = s.trim_end_matches('Z');
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    let full = match t.tag {
        tag::UTC_TIME if digits.len() >= 10 => {
            let yy: u32 = digits.get(..2).and_then(|y| y.parse().ok()).unwrap_or(0);
            let century = if yy >= 50 { "19" } else { "20" };
            format!("{century}{digits}")
        }
        tag::GENERALIZED_TIME => digits,
        _ => return String::from_utf8_lossy(t.content).into_owned(),
    };
    let g = |a: usize, b: usize| full.get(a..b).unwrap_or("00");
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        g(0, 4),
        g(4, 6),
        g(6, 8),
        g(8, 10),
        g(10, 12),
        if full.len() >= 14 { g(12, 14) } else { "00" }
    )
}

/// Walks a `SET OF Certificate` (PKCS#7 `certificates [0] IMPLICIT`) and parses each.
pub(crate) fn parse_cert_set(content: &[u8]) -> Option<Vec<Cert<'_>>> {
    let mut out = Vec::new();
    let mut r = Reader::new(content);
    while !r.is_empty() {
        let t = r.next_tlv()?;
        if t.tag != tag::SEQUENCE {
            continue; // other certificate choices ([0] extended etc.) are skipped like Android
        }
        out.push(Cert::parse(t.raw)?);
    }
    Some(out)
}

/// DER length octets.
fn der_len(n: usize, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let sig = bytes.get(skip..).unwrap_or(&[]);
        out.push(0x80 | sig.len() as u8);
        out.extend_from_slice(sig);
    }
}

fn der(tag: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    der_len(content.len(), out);
    out.extend_from_slice(content);
}

/// The public-key encoding apksig compares with a v2/v3 signer's `public key` field
/// (`ApkSigningBlockUtils.encodePublicKey`): the certificate's SubjectPublicKeyInfo as stored,
/// except that an RSA key whose modulus is encoded as a negative INTEGER is re-encoded with a
/// leading zero byte (a positive modulus), as Android does for such certificates.
pub(crate) fn android_public_key_encoding(spki: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    use std::borrow::Cow;
    let fixed = (|| {
        let seq = parse_one(spki)?;
        let mut r = seq.children();
        let alg = r.expect(tag::SEQUENCE)?;
        if oid_string(alg.children().expect(tag::OID)?.content) != "1.2.840.113549.1.1.1" {
            return None;
        }
        let bits = r.expect(tag::BIT_STRING)?;
        let (&unused, key) = bits.content.split_first()?;
        let k = parse_one(key)?;
        let mut kr = k.children();
        let n = kr.expect(tag::INTEGER)?;
        let e = kr.expect(tag::INTEGER)?;
        if n.content.first().is_none_or(|&b| b & 0x80 == 0) {
            return None; // not negative: compared as stored
        }
        let mut modulus = vec![0u8];
        modulus.extend_from_slice(n.content);
        let mut rsa = Vec::with_capacity(modulus.len() + e.raw.len() + 8);
        der(tag::INTEGER, &modulus, &mut rsa);
        rsa.extend_from_slice(e.raw);
        let mut rsa_seq = Vec::with_capacity(rsa.len() + 6);
        der(tag::SEQUENCE, &rsa, &mut rsa_seq);
        let mut bit_content = vec![unused];
        bit_content.extend_from_slice(&rsa_seq);
        let mut body = alg.raw.to_vec();
        der(tag::BIT_STRING, &bit_content, &mut body);
        let mut out = Vec::with_capacity(body.len() + 6);
        der(tag::SEQUENCE, &body, &mut out);
        Some(out)
    })();
    match fixed {
        Some(v) => Cow::Owned(v),
        None => Cow::Borrowed(spki),
    }
}
