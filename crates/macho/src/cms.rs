//! CMS `SignedData` (RFC 5652) as Apple writes it: the code-signature blob (detached) and
//! `embedded.mobileprovision` (attached plist), DER or BER indefinite-length.
//!
//! Reads the encapsulated content, the certificates, the signer's certificate (matched by issuer and serial
//! number) and what verifying the first `SignerInfo` needs ([`SignerInfo`]); [`crate::trust`] does the
//! verification.

use sha2::Digest;

use crate::ber::{octet_string, oid_string, Reader, Tlv};
use crate::Error;

const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
const OID_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
/// At most this many certificates are kept.
pub const MAX_CERTIFICATES: usize = 16;

/// A parsed `SignedData`.
#[derive(Debug, Clone, Default)]
pub struct SignedData {
    /// The encapsulated content (`eContent`), when attached.
    pub content: Option<Vec<u8>>,
    /// The certificates of the `certificates` field, in order.
    pub certificates: Vec<Certificate>,
    /// Index in `certificates` of the first signer's certificate, when it could be matched.
    pub signer: Option<usize>,
    /// Whether any BER indefinite length was used (Apple's own encoder does this; DER tools do not).
    pub ber_indefinite: bool,
    /// The first `SignerInfo`, when present and readable.
    pub signer_info: Option<SignerInfo>,
}

/// What verifying the first `SignerInfo` needs (RFC 5652 §5.3, §5.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignerInfo {
    /// `digestAlgorithm` OID, dotted.
    pub digest_algorithm: String,
    /// `signedAttrs` re-tagged as `SET OF` (0x31), as RFC 5652 §5.4 says the signature covers them; `None` when
    /// the signature is directly over the content.
    pub signed_attrs: Option<Vec<u8>>,
    /// The `messageDigest` signed attribute's value.
    pub message_digest: Option<Vec<u8>>,
    /// `signatureAlgorithm` OID, dotted.
    pub signature_algorithm: String,
    /// `signature` value.
    pub signature: Vec<u8>,
    /// Offset of the `SignerInfo` in the CMS.
    pub offset: u64,
}

/// The facts of one X.509 certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Certificate {
    /// Lowercase hex SHA-256 of the certificate bytes as stored.
    pub sha256: String,
    /// Subject, RFC 4514-like (`CN=..., OU=..., O=..., C=...`, in stored order).
    pub subject: String,
    /// Issuer, same form.
    pub issuer: String,
    /// Subject organizational unit: on Apple signing certificates, the Team ID.
    pub subject_ou: Vec<String>,
    /// Subject organization values.
    pub subject_o: Vec<String>,
    /// Subject common names.
    pub subject_cn: Vec<String>,
    /// `notAfter` as stored (UTCTime or GeneralizedTime text).
    pub not_after: String,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// `notBefore` as stored.
    pub not_before: String,
    /// The whole certificate, DER.
    pub der: Vec<u8>,
    /// `tbsCertificate` as stored (identifier and length octets included): what the issuer signed.
    pub tbs: Vec<u8>,
    /// The outer `signatureAlgorithm` OID, dotted.
    pub signature_algorithm: String,
    /// The signature value (BIT STRING contents without the unused-bits octet).
    pub signature: Vec<u8>,
    /// `subjectPublicKeyInfo` as stored (whole TLV).
    pub spki: Vec<u8>,
    /// `basicConstraints` `cA`, when the extension is present (absent `cA` in a present extension is `false`).
    pub is_ca: Option<bool>,
    /// Subject name contents as stored (for issuer/subject matching).
    pub subject_raw: Vec<u8>,
    /// Issuer name contents as stored.
    pub issuer_raw: Vec<u8>,
}

impl Certificate {
    /// Whether issuer and subject are the same name.
    pub fn self_issued(&self) -> bool {
        self.subject == self.issuer
    }
}

/// Parses a `ContentInfo` holding `SignedData`; `max_content` bounds the encapsulated content.
pub fn parse_signed_data(data: &[u8], max_content: usize) -> Result<SignedData, Error> {
    let mut top = Reader::new(data, 0);
    let ci = top.expect(0x30, "ContentInfo")?;
    let mut out = SignedData {
        ber_indefinite: ci.indefinite,
        ..Default::default()
    };
    let mut r = ci.children();
    let oid = r.expect(0x06, "ContentInfo.contentType")?;
    if oid_string(oid.value) != OID_SIGNED_DATA {
        return Err(Error::Malformed {
            structure: "ContentInfo",
            offset: oid.offset as u64,
            detail: format!(
                "content type {} is not signedData ({OID_SIGNED_DATA})",
                oid_string(oid.value)
            ),
        });
    }
    let explicit = r.expect(0xa0, "ContentInfo.content")?;
    let sd = explicit.children().expect(0x30, "SignedData")?;
    out.ber_indefinite |= sd.indefinite;
    let mut s = sd.children();
    s.expect(0x02, "SignedData.version")?;
    s.expect(0x31, "SignedData.digestAlgorithms")?;
    let eci = s.expect(0x30, "SignedData.encapContentInfo")?;
    let mut e = eci.children();
    e.expect(0x06, "EncapsulatedContentInfo.eContentType")?;
    if let Some(ec) = e.next_tlv()? {
        if ec.tag == 0xa0 {
            if let Some(os) = ec.children().next_tlv()? {
                out.ber_indefinite |= os.indefinite;
                out.content = Some(octet_string(&os, max_content)?);
            }
        }
    }
    let mut signer_infos: Option<Tlv<'_>> = None;
    while let Some(t) = s.next_tlv()? {
        match t.tag {
            0xa0 => {
                let mut certs = t.children();
                while let Some(c) = certs.next_tlv()? {
                    if out.certificates.len() >= MAX_CERTIFICATES {
                        break;
                    }
                    if c.tag == 0x30 {
                        out.certificates.push(parse_certificate(&c, data)?);
                    }
                }
            }
            0xa1 => {} // CRLs
            0x31 => signer_infos = Some(t),
            _ => {}
        }
    }
    if let Some(si) = signer_infos {
        if let Some(first) = si.children().next_tlv()? {
            let mut f = first.children();
            f.expect(0x02, "SignerInfo.version")?;
            let mut info = SignerInfo {
                offset: first.offset as u64,
                ..Default::default()
            };
            if let Some(sid) = f.next_tlv()? {
                if sid.tag == 0x30 {
                    let mut ias = sid.children();
                    let issuer = ias.expect(0x30, "IssuerAndSerialNumber.issuer")?;
                    let serial = ias.expect(0x02, "IssuerAndSerialNumber.serialNumber")?;
                    let serial_hex = hex(serial.value);
                    out.signer = out
                        .certificates
                        .iter()
                        .position(|c| c.issuer_raw == issuer.value && c.serial == serial_hex);
                }
            }
            let dalg = f.expect(0x30, "SignerInfo.digestAlgorithm")?;
            info.digest_algorithm = algorithm_oid(&dalg)?;
            let mut next = f.next_tlv()?;
            if let Some(sa) = next.filter(|t| t.tag == 0xa0) {
                // RFC 5652 §5.4: the signature covers the DER encoding of the SET OF, tag 0x31.
                let mut der = sa.raw.to_vec();
                if sa.indefinite {
                    der = reencode_header(&Tlv { tag: 0x31, ..sa });
                } else if let Some(b) = der.first_mut() {
                    *b = 0x31;
                }
                let mut attrs = sa.children();
                while let Some(attr) = attrs.next_tlv()? {
                    let mut a = attr.children();
                    let oid = a.expect(0x06, "Attribute.attrType")?;
                    if oid_string(oid.value) == OID_MESSAGE_DIGEST {
                        let set = a.expect(0x31, "Attribute.attrValues")?;
                        let v = set.children().expect(0x04, "messageDigest")?;
                        info.message_digest = Some(v.value.to_vec());
                    }
                }
                info.signed_attrs = Some(der);
                next = f.next_tlv()?;
            }
            let salg = next.filter(|t| t.tag == 0x30).ok_or(Error::Malformed {
                structure: "SignerInfo.signatureAlgorithm",
                offset: first.offset as u64,
                detail: "missing".into(),
            })?;
            info.signature_algorithm = algorithm_oid(&salg)?;
            info.signature = f.expect(0x04, "SignerInfo.signature")?.value.to_vec();
            out.signer_info = Some(info);
        }
    }
    if out.signer.is_none() && out.certificates.len() == 1 {
        out.signer = Some(0);
    }
    Ok(out)
}

/// Reads the facts of one DER certificate given as a whole TLV.
pub fn certificate_from_der(der: &[u8]) -> Result<Certificate, Error> {
    let t = Reader::new(der, 0).expect(0x30, "Certificate")?;
    parse_certificate(&t, der)
}

fn parse_certificate(c: &Tlv<'_>, _outer: &[u8]) -> Result<Certificate, Error> {
    let mut cr = c.children();
    let tbs = cr.expect(0x30, "TBSCertificate")?;
    let sig_alg = cr.expect(0x30, "Certificate.signatureAlgorithm")?;
    let sig_val = cr.expect(0x03, "Certificate.signatureValue")?;
    let mut t = tbs.children();
    let mut first = t.next_tlv()?.ok_or(Error::Malformed {
        structure: "TBSCertificate",
        offset: tbs.offset as u64,
        detail: "empty".into(),
    })?;
    if first.tag == 0xa0 {
        first = t.expect(0x02, "TBSCertificate.serialNumber")?;
    }
    let serial = hex(first.value);
    t.expect(0x30, "TBSCertificate.signature")?;
    let issuer = t.expect(0x30, "TBSCertificate.issuer")?;
    let validity = t.expect(0x30, "TBSCertificate.validity")?;
    let subject = t.expect(0x30, "TBSCertificate.subject")?;
    let spki = t.expect(0x30, "TBSCertificate.subjectPublicKeyInfo")?;
    let mut is_ca = None;
    while let Some(x) = t.next_tlv()? {
        if x.tag == 0xa3 {
            is_ca = basic_constraints(&x)?;
        }
    }
    let mut v = validity.children();
    let nb = v.next_tlv()?;
    let na = v.next_tlv()?;
    let (subject_text, attrs) = name(&subject)?;
    let (issuer_text, _) = name(&issuer)?;
    // The certificate's own bytes: as stored when definite (DER), else the header re-encoded.
    let whole = if c.indefinite {
        reencode_header(c)
    } else {
        c.raw.to_vec()
    };
    let tbs_bytes = if tbs.indefinite {
        reencode_header(&tbs)
    } else {
        tbs.raw.to_vec()
    };
    let time = |t: Option<Tlv<'_>>| {
        t.map(|t| String::from_utf8_lossy(t.value).into_owned())
            .unwrap_or_default()
    };
    let mut cert = Certificate {
        sha256: hex(&sha2::Sha256::digest(&whole)),
        subject: subject_text,
        issuer: issuer_text,
        not_after: time(na),
        not_before: time(nb),
        serial,
        issuer_raw: issuer.value.to_vec(),
        subject_raw: subject.value.to_vec(),
        der: whole,
        tbs: tbs_bytes,
        signature_algorithm: algorithm_oid(&sig_alg)?,
        signature: sig_val.value.get(1..).unwrap_or_default().to_vec(),
        spki: spki.raw.to_vec(),
        is_ca,
        ..Default::default()
    };
    for (k, val) in attrs {
        match k.as_str() {
            "OU" => cert.subject_ou.push(val),
            "O" => cert.subject_o.push(val),
            "CN" => cert.subject_cn.push(val),
            _ => {}
        }
    }
    Ok(cert)
}

/// The OID of an `AlgorithmIdentifier`.
fn algorithm_oid(alg: &Tlv<'_>) -> Result<String, Error> {
    Ok(oid_string(
        alg.children().expect(0x06, "AlgorithmIdentifier")?.value,
    ))
}

/// `basicConstraints` `cA` from the `[3] Extensions` wrapper, when the extension is present.
fn basic_constraints(wrapper: &Tlv<'_>) -> Result<Option<bool>, Error> {
    let exts = wrapper.children().expect(0x30, "Extensions")?;
    let mut r = exts.children();
    while let Some(ext) = r.next_tlv()? {
        let mut e = ext.children();
        let oid = e.expect(0x06, "Extension.extnID")?;
        if oid_string(oid.value) != "2.5.29.19" {
            continue;
        }
        let mut v = e.next_tlv()?;
        if v.is_some_and(|t| t.tag == 0x01) {
            v = e.next_tlv()?;
        }
        let Some(os) = v.filter(|t| t.tag == 0x04) else {
            return Ok(Some(false));
        };
        let seq =
            Reader::new(os.value, os.offset + os.header_len()).expect(0x30, "BasicConstraints")?;
        let ca = seq
            .children()
            .next_tlv()?
            .is_some_and(|b| b.tag == 0x01 && b.value.first().is_some_and(|&x| x != 0));
        return Ok(Some(ca));
    }
    Ok(None)
}

/// The DER encoding of a definite-length TLV (certificates inside CMS are DER even in BER containers).
fn reencode_header(t: &Tlv<'_>) -> Vec<u8> {
    let len = t.value.len();
    let mut out = Vec::with_capacity(len + 6);
    out.push(t.tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(t.value);
    out
}

fn name(n: &Tlv<'_>) -> Result<(String, Vec<(String, String)>), Error> {
    let mut parts = Vec::new();
    let mut rdns = n.children();
    while let Some(set) = rdns.next_tlv()? {
        let mut atvs = set.children();
        while let Some(atv) = atvs.next_tlv()? {
            let mut a = atv.children();
            let oid = a.expect(0x06, "AttributeTypeAndValue.type")?;
            let Some(val) = a.next_tlv()? else { continue };
            let key = match oid_string(oid.value).as_str() {
                "2.5.4.3" => "CN".to_owned(),
                "2.5.4.6" => "C".to_owned(),
                "2.5.4.7" => "L".to_owned(),
                "2.5.4.8" => "ST".to_owned(),
                "2.5.4.10" => "O".to_owned(),
                "2.5.4.11" => "OU".to_owned(),
                "0.9.2342.19200300.100.1.1" => "UID".to_owned(),
                other => other.to_owned(),
            };
            let text = if val.tag == 0x1e {
                let units: Vec<u16> = val
                    .value
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16_lossy(&units)
            } else {
                String::from_utf8_lossy(val.value).into_owned()
            };
            parts.push((key, text));
        }
    }
    let text = parts
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok((text, parts))
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}
