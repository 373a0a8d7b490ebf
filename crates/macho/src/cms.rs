//! CMS `SignedData` (RFC 5652) as Apple writes it: the code-signature blob (detached) and
//! `embedded.mobileprovision` (attached plist), DER or BER indefinite-length.
//!
//! Reads the encapsulated content, the certificates and the signer's certificate (matched by issuer and serial
//! number). It does not check the signature value: the report says what was and was not verified.

use sha2::Digest;

use crate::ber::{octet_string, oid_string, Reader, Tlv};
use crate::Error;

const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
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
    issuer_raw: Vec<u8>,
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
    let mut v = validity.children();
    let _nb = v.next_tlv()?;
    let na = v.next_tlv()?;
    let (subject_text, attrs) = name(&subject)?;
    let (issuer_text, _) = name(&issuer)?;
    // The certificate's own bytes: re-encode only the header; the contents are the stored bytes.
    let whole = reencode_header(c);
    let mut cert = Certificate {
        sha256: hex(&sha2::Sha256::digest(&whole)),
        subject: subject_text,
        issuer: issuer_text,
        not_after: na
            .map(|t| String::from_utf8_lossy(t.value).into_owned())
            .unwrap_or_default(),
        serial,
        issuer_raw: issuer.value.to_vec(),
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
