//! APK Signature Scheme v2, v3 and v3.1 blocks.

use std::collections::BTreeSet;

use crate::block::Lp;
use crate::cert::Cert;
use crate::crypto::{HashAlg, SigKind};
use crate::digest::ContentDigest;
use crate::{Ctx, Issue};

/// Which block is being verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    V2,
    V3,
    V31,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::V2 => "V2_SIG_",
            Kind::V3 | Kind::V31 => "V3_SIG_",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::V2 => "APK Signature Scheme v2",
            Kind::V3 => "APK Signature Scheme v3",
            Kind::V31 => "APK Signature Scheme v3.1",
        }
    }
}

/// Proof-of-rotation attribute id (v3).
const POR_ATTR: u32 = 0x3ba0_6f8c;
/// v2 stripping-protection attribute id.
const STRIP_ATTR: u32 = 0xbeef_f00d;
/// v3 rotation-min-sdk attribute (v3.1 era).
const ROTATION_MIN_SDK_ATTR: u32 = 0x559f_8b02;
/// v3 rotation-on-dev-release attribute (v3.1 era).
const ROTATION_DEV_RELEASE_ATTR: u32 = 0xc2a6_b3ba;
/// Most certificates read from a proof-of-rotation lineage (each costs a signature check).
const MAX_LINEAGE: usize = 64;
/// Most signers Android accepts in one v2 block (newer apksig).
pub(crate) const MAX_V2_SIGNERS: usize = 10;

/// A v2/v3 signature algorithm Android knows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SigAlg {
    pub(crate) id: u32,
    pub(crate) kind: SigKind,
    pub(crate) hash: HashAlg,
    pub(crate) content: ContentDigest,
}

pub(crate) fn sig_alg(id: u32) -> Option<SigAlg> {
    use ContentDigest::*;
    let (kind, hash, content) = match id {
        0x0101 => (SigKind::RsaPss, HashAlg::Sha256, ChunkedSha256),
        0x0102 => (SigKind::RsaPss, HashAlg::Sha512, ChunkedSha512),
        0x0103 => (SigKind::RsaPkcs1, HashAlg::Sha256, ChunkedSha256),
        0x0104 => (SigKind::RsaPkcs1, HashAlg::Sha512, ChunkedSha512),
        0x0201 => (SigKind::Ecdsa, HashAlg::Sha256, ChunkedSha256),
        0x0202 => (SigKind::Ecdsa, HashAlg::Sha512, ChunkedSha512),
        0x0301 => (SigKind::Dsa, HashAlg::Sha256, ChunkedSha256),
        _ => return None,
    };
    Some(SigAlg {
        id,
        kind,
        hash,
        content,
    })
}

/// A lineage node.
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    pub(crate) cert: Cert<'a>,
    pub(crate) flags: u32,
}

/// A parsed (and, if `ok`, verified) signer of a block.
#[derive(Debug, Clone)]
pub(crate) struct BlockSigner<'a> {
    pub(crate) certs: Vec<Cert<'a>>,
    pub(crate) min_sdk: u32,
    pub(crate) max_sdk: u32,
    pub(crate) lineage: Vec<Node<'a>>,
    pub(crate) rotation_min_sdk: Option<u32>,
    pub(crate) errors: Vec<Issue>,
    pub(crate) warnings: Vec<Issue>,
    pub(crate) digests: Vec<(u32, &'a [u8])>,
}

/// The outcome of one block.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome<'a> {
    pub(crate) verified: bool,
    pub(crate) errors: Vec<Issue>,
    pub(crate) warnings: Vec<Issue>,
    pub(crate) signers: Vec<BlockSigner<'a>>,
}

impl Outcome<'_> {
    /// All errors (block-level and per signer), in apksig's order.
    pub(crate) fn all_errors(&self) -> Vec<Issue> {
        let mut v = self.errors.clone();
        for s in &self.signers {
            v.extend(s.errors.iter().cloned());
        }
        v
    }
    pub(crate) fn all_warnings(&self) -> Vec<Issue> {
        let mut v = self.warnings.clone();
        for s in &self.signers {
            v.extend(s.warnings.iter().cloned());
        }
        v
    }
    fn has_errors(&self) -> bool {
        !self.errors.is_empty() || self.signers.iter().any(|s| !s.errors.is_empty())
    }
}

fn issue(kind: Kind, code: &str, msg: impl Into<String>) -> Issue {
    Issue::new(format!("{}{code}", kind.prefix()), msg)
}

/// Verifies one v2/v3/v3.1 block over the SDK range `[min, max]`.
///
/// `found` are the scheme ids found before this one (for v2 stripping protection) and `supported`
/// the scheme ids the range can reference.
pub(crate) fn verify<'a>(
    kind: Kind,
    value: &'a [u8],
    ctx: &Ctx<'a>,
    min: u32,
    max: u32,
    found: &BTreeSet<u32>,
    supported: &BTreeSet<u32>,
) -> Outcome<'a> {
    let mut out = Outcome::default();
    let mut outer = Lp::new(value);
    let Some(signers) = outer.slice() else {
        out.errors.push(issue(
            kind,
            "MALFORMED_SIGNERS",
            "Malformed list of signers",
        ));
        return out;
    };
    let mut list = Lp::new(signers);
    if !list.has_remaining() {
        out.errors.push(issue(
            kind,
            "NO_SIGNERS",
            format!("No signers in {} signature", kind.name()),
        ));
        return out;
    }
    if kind == Kind::V2 {
        // Newer Android rejects more than MAX_V2_SIGNERS before looking at any of them.
        let mut count = Lp::new(signers);
        let mut n = 0usize;
        while count.slice().is_some() {
            n += 1;
        }
        if n > MAX_V2_SIGNERS {
            out.errors.push(Issue::new(
                "V2_SIG_MAX_SIGNATURES_EXCEEDED",
                format!("APK Signature Scheme v2 only supports a maximum of {MAX_V2_SIGNERS} signers, found {n}"),
            ));
            return out;
        }
    }
    let mut to_check: BTreeSet<ContentDigest> = BTreeSet::new();
    let mut count = 0usize;
    while list.has_remaining() {
        count += 1;
        let mut signer = BlockSigner {
            certs: Vec::new(),
            min_sdk: 0,
            max_sdk: 0,
            lineage: Vec::new(),
            rotation_min_sdk: None,
            errors: Vec::new(),
            warnings: Vec::new(),
            digests: Vec::new(),
        };
        let parsed = list.slice().and_then(|s| {
            parse_signer(kind, s, count, &mut signer, &mut to_check, found, supported)
        });
        if parsed.is_none() {
            signer
                .errors
                .push(issue(kind, "MALFORMED_SIGNER", "Malformed signer block"));
            out.signers.push(signer);
            return out;
        }
        out.signers.push(signer);
    }
    if out.has_errors() {
        return out;
    }
    if kind != Kind::V2 {
        check_sdk_coverage(&mut out, min, max);
        if out.has_errors() {
            return out;
        }
    }
    // Integrity: compare the verified signers' content digests with the file.
    let computed = ctx.content_digests(
        to_check.contains(&ContentDigest::ChunkedSha256),
        to_check.contains(&ContentDigest::ChunkedSha512),
    );
    let Some(computed) = computed else {
        out.errors.push(Issue::new(
            "MALFORMED_APK",
            "signing block offsets out of range",
        ));
        return out;
    };
    for s in &mut out.signers {
        for &(id, expected) in &s.digests {
            let Some(alg) = sig_alg(id) else { continue };
            let Some(actual) = computed.get(alg.content) else {
                continue;
            };
            if actual != expected {
                s.errors.push(issue(
                    kind,
                    "APK_DIGEST_DID_NOT_VERIFY",
                    format!(
                        "APK integrity check failed. {} digest mismatch. Expected: <{}>, actual: <{}>",
                        alg.content.name(),
                        crate::asn1::hex(expected),
                        crate::asn1::hex(actual)
                    ),
                ));
            }
        }
    }
    out.verified = !out.has_errors();
    out
}

fn check_sdk_coverage(out: &mut Outcome<'_>, min: u32, max: u32) {
    let mut ranges: Vec<(u32, u32)> = out.signers.iter().map(|s| (s.min_sdk, s.max_sdk)).collect();
    ranges.sort_unstable();
    let mut first_min = None;
    let mut last_max = 0u32;
    for (lo, hi) in ranges {
        match first_min {
            None => first_min = Some(lo),
            Some(_) => {
                if u64::from(lo) != u64::from(last_max) + 1 {
                    out.errors.push(Issue::new(
                        "V3_INCONSISTENT_SDK_VERSIONS",
                        "APK Signature Scheme v3 signers supported min/max SDK versions are not continuous.",
                    ));
                    return;
                }
            }
        }
        last_max = hi;
    }
    let first_min = first_min.unwrap_or(0);
    if first_min > min || last_max < max {
        out.errors.push(Issue::new(
            "V3_MISSING_SDK_VERSIONS",
            format!(
                "APK Signature Scheme v3 signers supported min/max SDK versions do not cover the entire \
                 desired range.  Found min:  {first_min} max {last_max}"
            ),
        ));
    }
}

/// Parses and verifies one signer. `None` means malformed framing (the caller reports MALFORMED_SIGNER).
fn parse_signer<'a>(
    kind: Kind,
    block: &'a [u8],
    index: usize,
    s: &mut BlockSigner<'a>,
    to_check: &mut BTreeSet<ContentDigest>,
    found: &BTreeSet<u32>,
    supported: &BTreeSet<u32>,
) -> Option<()> {
    let mut r = Lp::new(block);
    let signed_data = r.slice()?;
    if kind != Kind::V2 {
        s.min_sdk = r.u32()?;
        s.max_sdk = r.u32()?;
    }
    let signatures = r.slice()?;
    let public_key = r.slice()?;

    if kind != Kind::V2
        && (s.min_sdk > i32::MAX as u32 || s.max_sdk > i32::MAX as u32 || s.min_sdk > s.max_sdk)
    {
        s.errors.push(issue(
            kind,
            "INVALID_SDK_VERSIONS",
            format!(
                "Invalid SDK Version parameter(s) encountered in APK Signature scheme v3 signature: \
                 minSdkVersion {} maxSdkVersion: {}",
                s.min_sdk, s.max_sdk
            ),
        ));
        return Some(());
    }

    // Signatures.
    let mut sigs: Vec<(u32, &'a [u8])> = Vec::new();
    let mut best: Option<(crate::v2v3::SigAlg, &'a [u8])> = None;
    let mut sr = Lp::new(signatures);
    let mut n = 0;
    while sr.has_remaining() {
        n += 1;
        let one = sr.slice().and_then(|sig| {
            let mut x = Lp::new(sig);
            let id = x.u32()?;
            let bytes = x.slice()?;
            Some((id, bytes))
        });
        let Some((id, bytes)) = one else {
            s.errors.push(issue(
                kind,
                "MALFORMED_SIGNATURE",
                format!("Malformed {} signature record #{n}", kind.name()),
            ));
            return Some(());
        };
        sigs.push((id, bytes));
        match sig_alg(id) {
            None => s.warnings.push(issue(
                kind,
                "UNKNOWN_SIG_ALGORITHM",
                format!("Unknown signature algorithm: {id:#x}"),
            )),
            Some(alg) => {
                let better = best.is_none_or(|(b, _)| alg.content > b.content);
                if better {
                    best = Some((alg, bytes));
                }
            }
        }
    }
    if sigs.is_empty() {
        s.errors.push(issue(kind, "NO_SIGNATURES", "No signatures"));
        return Some(());
    }
    let sig_min = if kind == Kind::V2 { 24 } else { s.min_sdk };
    let Some((alg, sig_bytes)) = best.filter(|_| sig_min >= 24) else {
        s.errors.push(issue(
            kind,
            "NO_SUPPORTED_SIGNATURES",
            "No supported signatures",
        ));
        return Some(());
    };
    let Some(key) = crate::crypto::PublicKey::from_spki(public_key) else {
        s.errors
            .push(issue(kind, "MALFORMED_PUBLIC_KEY", "Malformed public key"));
        return Some(());
    };
    match key.verify(alg.kind, alg.hash, signed_data, sig_bytes) {
        Ok(true) => {}
        Ok(false) => {
            s.errors.push(issue(
                kind,
                "DID_NOT_VERIFY",
                format!("{:#06x} signature over signed-data did not verify", alg.id),
            ));
            return Some(());
        }
        Err(e) => {
            s.errors.push(issue(
                kind,
                "VERIFY_EXCEPTION",
                format!("Failed to verify {:#06x} signature: {e}", alg.id),
            ));
            return Some(());
        }
    }
    to_check.insert(alg.content);

    // Signed data.
    let mut d = Lp::new(signed_data);
    let digests = d.slice()?;
    let certificates = d.slice()?;
    let (signed_min, signed_max) = if kind == Kind::V2 {
        (0, 0)
    } else {
        (d.u32()?, d.u32()?)
    };
    let attrs = d.slice()?;

    let mut cr = Lp::new(certificates);
    let mut ci = 0;
    while cr.has_remaining() {
        ci += 1;
        let raw = cr.slice()?;
        match Cert::parse(raw) {
            Some(c) => s.certs.push(c),
            None => {
                s.errors.push(issue(
                    kind,
                    "MALFORMED_CERTIFICATE",
                    format!("Malformed certificate #{ci}"),
                ));
                return Some(());
            }
        }
    }
    let Some(main) = s.certs.first() else {
        s.errors
            .push(issue(kind, "NO_CERTIFICATES", "No certificates"));
        return Some(());
    };
    if !same_key(main.spki_raw, public_key) {
        s.errors.push(issue(
            kind,
            "PUBLIC_KEY_MISMATCH_BETWEEN_CERTIFICATE_AND_SIGNATURES_RECORD",
            "Public key mismatch between certificate and signature record",
        ));
        return Some(());
    }
    let mut dr = Lp::new(digests);
    let mut di = 0;
    while dr.has_remaining() {
        di += 1;
        let one = dr.slice().and_then(|x| {
            let mut x = Lp::new(x);
            Some((x.u32()?, x.slice()?))
        });
        match one {
            Some(v) => s.digests.push(v),
            None => {
                s.errors.push(issue(
                    kind,
                    "MALFORMED_DIGEST",
                    format!("Malformed {} digest record #{di}", kind.name()),
                ));
                return Some(());
            }
        }
    }
    let a: Vec<u32> = sigs.iter().map(|x| x.0).collect();
    let b: Vec<u32> = s.digests.iter().map(|x| x.0).collect();
    if a != b {
        s.errors.push(issue(
            kind,
            "SIG_ALG_MISMATCH_BETWEEN_SIGNATURES_AND_DIGESTS_RECORDS",
            format!("Signature algorithms mismatch between signatures and digests records: {a:x?} vs {b:x?}"),
        ));
        return Some(());
    }
    if kind != Kind::V2 {
        if signed_min != s.min_sdk {
            s.errors.push(Issue::new(
                "V3_MIN_SDK_VERSION_MISMATCH_BETWEEN_SIGNER_AND_SIGNED_DATA_RECORD",
                format!("minSdkVersion mismatch between signed data and signature record: <{signed_min}> vs <{}>", s.min_sdk),
            ));
        }
        if signed_max != s.max_sdk {
            s.errors.push(Issue::new(
                "V3_MAX_SDK_VERSION_MISMATCH_BETWEEN_SIGNER_AND_SIGNED_DATA_RECORD",
                format!("maxSdkVersion mismatch between signed data and signature record: <{signed_max}> vs <{}>", s.max_sdk),
            ));
        }
        if !s.errors.is_empty() {
            return Some(());
        }
    }

    // Additional attributes.
    let mut ar = Lp::new(attrs);
    let mut ai = 0;
    while ar.has_remaining() {
        ai += 1;
        let one = ar.slice().and_then(|x| {
            let mut x = Lp::new(x);
            Some((x.u32()?, x.remaining()))
        });
        let Some((id, value)) = one else {
            s.errors.push(issue(
                kind,
                "MALFORMED_ADDITIONAL_ATTRIBUTE",
                format!("Malformed additional attribute #{ai}"),
            ));
            return Some(());
        };
        match (kind, id) {
            (Kind::V2, STRIP_ATTR) => {
                let v = value
                    .get(..4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                match v {
                    Some(v) if supported.contains(&v) => {
                        if !found.contains(&v) {
                            s.errors.push(Issue::new(
                                "V2_SIG_MISSING_APK_SIG_REFERENCED",
                                format!(
                                    "APK Signature Scheme v2 signature {index} indicates the APK is signed using \
                                     APK Signature Scheme v{v} but no such signature was found. Signature stripped?"
                                ),
                            ));
                        }
                    }
                    Some(v) => s.warnings.push(Issue::new(
                        "V2_SIG_UNKNOWN_APK_SIG_SCHEME_ID",
                        format!("APK Signature Scheme v2 signer: {index} references unknown APK signature scheme ID: {v}"),
                    )),
                    None => {
                        s.errors.push(issue(kind, "MALFORMED_ADDITIONAL_ATTRIBUTE", format!("Malformed additional attribute #{ai}")));
                        return Some(());
                    }
                }
            }
            (Kind::V3 | Kind::V31, POR_ATTR) => match parse_lineage(value) {
                Ok(nodes) => {
                    let last_matches = nodes.last().is_some_and(|n| n.cert.raw == main.raw);
                    s.lineage = nodes;
                    if !last_matches {
                        s.errors.push(Issue::new(
                                "V3_SIG_POR_CERT_MISMATCH",
                                "APK signing certificate differs from the associated certificate found in the signer's SigningCertificateLineage.",
                            ));
                    }
                }
                Err(LineageError::DidNotVerify(m)) => {
                    s.errors.push(Issue::new(
                            "V3_SIG_POR_DID_NOT_VERIFY",
                            format!("SigningCertificateLineage attribute containd a proof-of-rotation record with signature(s) that did not verify: {m}"),
                        ));
                }
                Err(LineageError::Malformed(m)) => {
                    s.errors.push(Issue::new(
                        "V3_SIG_MALFORMED_LINEAGE",
                        format!("Failed to parse the SigningCertificateLineage structure: {m}"),
                    ));
                }
            },
            (Kind::V3 | Kind::V31, ROTATION_MIN_SDK_ATTR) => {
                s.rotation_min_sdk = value
                    .get(..4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                s.warnings.push(issue(
                    kind,
                    "UNKNOWN_ADDITIONAL_ATTRIBUTE",
                    format!("Unknown additional attribute: ID {id:#x}"),
                ));
            }
            (_, ROTATION_DEV_RELEASE_ATTR) | (_, _) => {
                s.warnings.push(issue(
                    kind,
                    "UNKNOWN_ADDITIONAL_ATTRIBUTE",
                    format!("Unknown additional attribute: ID {id:#x}"),
                ));
            }
        }
    }
    Some(())
}

/// Whether two SubjectPublicKeyInfo encodings denote the same key (bytes, else parsed RSA values).
/// The certificate's key (as apksig encodes it, see [`crate::cert::android_public_key_encoding`])
/// equals the signer's `public key` field.
fn same_key(cert_spki: &[u8], signer_key: &[u8]) -> bool {
    *crate::cert::android_public_key_encoding(cert_spki) == *signer_key
}

pub(crate) enum LineageError {
    Malformed(String),
    DidNotVerify(String),
}

/// Parses and verifies a SigningCertificateLineage (proof-of-rotation) structure.
pub(crate) fn parse_lineage(value: &[u8]) -> Result<Vec<Node<'_>>, LineageError> {
    let bad = |m: &str| LineageError::Malformed(m.to_owned());
    let mut r = Lp::new(value);
    let version = r.u32().ok_or_else(|| bad("truncated version"))?;
    if version != 1 {
        return Err(bad("unknown lineage version"));
    }
    let mut nodes: Vec<Node<'_>> = Vec::new();
    let mut last_sig_alg: u32 = 0;
    let mut n = 0;
    while r.has_remaining() {
        n += 1;
        if n > MAX_LINEAGE {
            return Err(bad("too many lineage nodes"));
        }
        let node = r.slice().ok_or_else(|| bad("truncated node"))?;
        let mut nr = Lp::new(node);
        let signed = nr.slice().ok_or_else(|| bad("truncated signed data"))?;
        let flags = nr.u32().ok_or_else(|| bad("truncated flags"))?;
        let sig_alg_id = nr.u32().ok_or_else(|| bad("truncated algorithm"))?;
        let signature = nr.slice().ok_or_else(|| bad("truncated signature"))?;
        if let Some(prev) = nodes.last() {
            let alg = sig_alg(last_sig_alg).ok_or_else(|| bad("unknown signature algorithm"))?;
            let key = prev
                .cert
                .public_key()
                .ok_or_else(|| bad("unparsable public key"))?;
            match key.verify(alg.kind, alg.hash, signed, signature) {
                Ok(true) => {}
                _ => {
                    return Err(LineageError::DidNotVerify(format!(
                        "Unable to verify signature of certificate #{n}"
                    )))
                }
            }
        }
        let mut sr = Lp::new(signed);
        let cert_raw = sr.slice().ok_or_else(|| bad("truncated certificate"))?;
        let signed_alg = sr.u32().ok_or_else(|| bad("truncated algorithm"))?;
        if !nodes.is_empty() && signed_alg != last_sig_alg {
            return Err(LineageError::DidNotVerify(format!(
                "Signing algorithm ID mismatch for certificate #{n}"
            )));
        }
        let cert = Cert::parse(cert_raw).ok_or_else(|| bad("malformed certificate"))?;
        if nodes.iter().any(|x| x.cert.raw == cert.raw) {
            return Err(LineageError::DidNotVerify(format!(
                "Encountered duplicate entries in SigningCertificateLineage at certificate #{n}"
            )));
        }
        nodes.push(Node { cert, flags });
        last_sig_alg = sig_alg_id;
    }
    Ok(nodes)
}
