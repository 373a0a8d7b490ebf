//! Cryptographic verification of a CMS signer and of its certificate chain up to a trust anchor.
//!
//! Three checks, in the order a failure is reported:
//! 1. the first `SignerInfo`'s signature over its signed attributes (re-tagged `SET OF`, RFC 5652 §5.4) with the
//!    signer certificate's key ([`Failure::SignerSignature`]);
//! 2. the `messageDigest` attribute equals the digest of the signed content: for a code signature, the bytes of
//!    the CodeDirectory in slot 0 as stored in the SuperBlob (Apple's CMS is detached over it)
//!    ([`Failure::MessageDigest`]);
//! 3. a chain from the signer certificate through the CMS's certificates and the bundled Apple intermediates to a
//!    bundled Apple root (or an extra anchor the caller adds), each link's signature verified with the issuer's
//!    key and each issuer's name equal to the child's issuer name ([`Failure::NoIssuer`], [`Failure::LinkSignature`],
//!    [`Failure::UntrustedRoot`], [`Failure::SelfSigned`]).
//!
//! Algorithms: RSA PKCS#1 v1.5 with SHA-1/256/384/512, ECDSA P-256/P-384 with SHA-1/256/384/512 (RustCrypto).
//! Validity periods are read but **not enforced**: Apple keeps honouring App Store signatures after the leaf
//! expires, and this crate has no clock (no I/O). Paths are at most [`MAX_DEPTH`] certificates; nothing panics on
//! hostile certificates (unknown algorithms and unparsable keys are failures, not errors).

use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::hazmat::PrehashVerifier;

use crate::ber::{oid_string, Reader};
use crate::cms::{certificate_from_der, Certificate, SignerInfo};

/// Longest chain built (leaf and root included).
pub const MAX_DEPTH: usize = 8;
/// Largest RSA modulus accepted.
const MAX_RSA_BITS: usize = 8192;

/// Apple's root certificates, from <https://www.apple.com/certificateauthority/> (see `data/apple-certs/README.md`).
pub const APPLE_ROOTS: &[(&str, &[u8])] = &[
    (
        "AppleIncRootCertificate.cer",
        include_bytes!("../data/apple-certs/AppleIncRootCertificate.cer"),
    ),
    (
        "AppleRootCA-G2.cer",
        include_bytes!("../data/apple-certs/AppleRootCA-G2.cer"),
    ),
    (
        "AppleRootCA-G3.cer",
        include_bytes!("../data/apple-certs/AppleRootCA-G3.cer"),
    ),
    (
        "AppleComputerRootCertificate.cer",
        include_bytes!("../data/apple-certs/AppleComputerRootCertificate.cer"),
    ),
];

/// Apple's intermediate certificates used for code signing (WWDR G1–G8, Developer ID G1/G2).
pub const APPLE_INTERMEDIATES: &[(&str, &[u8])] = &[
    (
        "AppleWWDRCA.cer",
        include_bytes!("../data/apple-certs/AppleWWDRCA.cer"),
    ),
    (
        "AppleWWDRCAG2.cer",
        include_bytes!("../data/apple-certs/AppleWWDRCAG2.cer"),
    ),
    (
        "AppleWWDRCAG3.cer",
        include_bytes!("../data/apple-certs/AppleWWDRCAG3.cer"),
    ),
    (
        "AppleWWDRCAG4.cer",
        include_bytes!("../data/apple-certs/AppleWWDRCAG4.cer"),
    ),
    (
        "AppleWWDRCAG5.cer",
        include_bytes!("../data/apple-certs/AppleWWDRCAG5.cer"),
    ),
    (
        "AppleWWDRCAG6.cer",
        include_bytes!("../data/apple-certs/AppleWWDRCAG6.cer"),
    ),
    (
        "AppleWWDRCAG7.cer",
        include_bytes!("../data/apple-certs/AppleWWDRCAG7.cer"),
    ),
    (
        "AppleWWDRCAG8.cer",
        include_bytes!("../data/apple-certs/AppleWWDRCAG8.cer"),
    ),
    (
        "DeveloperIDCA.cer",
        include_bytes!("../data/apple-certs/DeveloperIDCA.cer"),
    ),
    (
        "DeveloperIDG2CA.cer",
        include_bytes!("../data/apple-certs/DeveloperIDG2CA.cer"),
    ),
];

/// Where a certificate of a path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Carried in the CMS.
    Cms,
    /// A bundled Apple intermediate.
    AppleIntermediate,
    /// A bundled Apple root.
    AppleRoot,
    /// An anchor the caller added ([`TrustStore::add_anchor`]).
    ExtraAnchor,
}

impl Source {
    /// `cms`, `apple_intermediate`, `apple_root`, `extra_anchor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cms => "cms",
            Source::AppleIntermediate => "apple_intermediate",
            Source::AppleRoot => "apple_root",
            Source::ExtraAnchor => "extra_anchor",
        }
    }
}

/// Trust anchors and known intermediates.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    certs: Vec<(Certificate, Source)>,
}

impl TrustStore {
    /// No anchor at all.
    pub fn empty() -> Self {
        TrustStore::default()
    }

    /// Apple's bundled roots and intermediates.
    pub fn apple() -> Self {
        let mut s = TrustStore::default();
        for (_, der) in APPLE_ROOTS {
            if let Ok(c) = certificate_from_der(der) {
                s.certs.push((c, Source::AppleRoot));
            }
        }
        for (_, der) in APPLE_INTERMEDIATES {
            if let Ok(c) = certificate_from_der(der) {
                s.certs.push((c, Source::AppleIntermediate));
            }
        }
        s
    }

    /// Adds a trust anchor (DER certificate), e.g. a test root.
    pub fn add_anchor(&mut self, der: &[u8]) -> Result<(), crate::Error> {
        let c = certificate_from_der(der)?;
        self.certs.push((c, Source::ExtraAnchor));
        Ok(())
    }

    /// Adds an intermediate that may be used to build paths but is not itself trusted.
    pub fn add_intermediate(&mut self, der: &[u8]) -> Result<(), crate::Error> {
        let c = certificate_from_der(der)?;
        self.certs.push((c, Source::AppleIntermediate));
        Ok(())
    }

    fn anchor(&self, c: &Certificate) -> Option<Source> {
        self.certs
            .iter()
            .find(|(a, s)| {
                matches!(s, Source::AppleRoot | Source::ExtraAnchor) && a.sha256 == c.sha256
            })
            .map(|(_, s)| *s)
    }
}

/// One certificate of a verified (or partly built) path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathCert {
    /// Subject.
    pub subject: String,
    /// SHA-256 of the DER bytes, lowercase hex.
    pub sha256: String,
    /// Where it came from.
    pub source: Source,
    /// `notBefore` as stored.
    pub not_before: String,
    /// `notAfter` as stored.
    pub not_after: String,
}

/// The first failing step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No `SignerInfo`, or no certificate matches it.
    NoSigner,
    /// An algorithm or key this module does not verify.
    Unsupported(String),
    /// The `SignerInfo` signature does not verify with the signer certificate's key.
    SignerSignature,
    /// `messageDigest` is missing or differs from the digest of the signed content.
    MessageDigest,
    /// No certificate (CMS, bundled, anchor) has the subject named as this certificate's issuer.
    NoIssuer {
        /// Subject of the certificate whose issuer is missing.
        subject: String,
        /// The issuer name looked for.
        issuer: String,
    },
    /// A certificate with the right name exists but its key does not verify the link (or it is not a CA).
    LinkSignature {
        /// The child.
        subject: String,
        /// The issuer tried.
        issuer: String,
        /// Why.
        detail: String,
    },
    /// The path ends at a self-signed certificate that is not a trusted root.
    UntrustedRoot {
        /// Its subject.
        subject: String,
        /// Its SHA-256.
        sha256: String,
    },
    /// The signer certificate is itself self-signed (and not an anchor).
    SelfSigned {
        /// Its subject.
        subject: String,
    },
    /// The path is longer than [`MAX_DEPTH`].
    TooDeep,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NoSigner => write!(f, "no signer: the CMS has no SignerInfo matching a certificate it carries"),
            Failure::Unsupported(d) => write!(f, "unsupported algorithm or key: {d}"),
            Failure::SignerSignature => write!(f, "signer signature did not verify: the SignerInfo signature over the signed attributes does not verify with the signer certificate's key"),
            Failure::MessageDigest => write!(f, "message digest mismatch: the messageDigest signed attribute is not the digest of the signed content"),
            Failure::NoIssuer { subject, issuer } => write!(f, "no issuer found for \"{subject}\" (issuer \"{issuer}\" is neither in the CMS nor among the bundled Apple certificates)"),
            Failure::LinkSignature { subject, issuer, detail } => write!(f, "link signature failed: \"{subject}\" is not validly signed by \"{issuer}\" ({detail})"),
            Failure::UntrustedRoot { subject, sha256 } => write!(f, "chains to a root that is not Apple's: \"{subject}\" (SHA-256 {sha256})"),
            Failure::SelfSigned { subject } => write!(f, "self-signed: the signer certificate \"{subject}\" is its own issuer and is not a trusted root, so its Team ID and subject are self-asserted"),
            Failure::TooDeep => write!(f, "the chain is longer than {MAX_DEPTH} certificates"),
        }
    }
}

/// The outcome of [`verify_signer`] or [`build_chain`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    /// The first failing step; `None` when everything verified.
    pub failure: Option<Failure>,
    /// The path from the signer certificate towards the root, as far as it was built.
    pub path: Vec<PathCert>,
    /// Whether the path ends at a bundled Apple root (rather than an extra anchor).
    pub apple_root: bool,
    /// Whether the `SignerInfo` signature verified.
    pub signer_signature: bool,
    /// Whether the `messageDigest` matched (`None`: not checked, no content given).
    pub message_digest: Option<bool>,
}

impl Verification {
    /// Whether every check passed.
    pub fn verified(&self) -> bool {
        self.failure.is_none()
    }
}

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// From a digest algorithm OID.
    pub fn from_oid(oid: &str) -> Option<Self> {
        Some(match oid {
            "1.3.14.3.2.26" => HashAlg::Sha1,
            "2.16.840.1.101.3.4.2.1" => HashAlg::Sha256,
            "2.16.840.1.101.3.4.2.2" => HashAlg::Sha384,
            "2.16.840.1.101.3.4.2.3" => HashAlg::Sha512,
            _ => return None,
        })
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha1 => Sha1::digest(data).to_vec(),
            HashAlg::Sha256 => Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigKind {
    Rsa,
    Ecdsa,
}

/// Signature kind and digest of a signature algorithm OID; `default_hash` serves bare key OIDs
/// (`rsaEncryption`, `id-ecPublicKey`) as SignerInfos use them.
fn sig_alg(oid: &str, default_hash: Option<HashAlg>) -> Option<(SigKind, HashAlg)> {
    Some(match oid {
        "1.2.840.113549.1.1.5" => (SigKind::Rsa, HashAlg::Sha1),
        "1.2.840.113549.1.1.11" => (SigKind::Rsa, HashAlg::Sha256),
        "1.2.840.113549.1.1.12" => (SigKind::Rsa, HashAlg::Sha384),
        "1.2.840.113549.1.1.13" => (SigKind::Rsa, HashAlg::Sha512),
        "1.2.840.113549.1.1.1" => (SigKind::Rsa, default_hash?),
        "1.2.840.10045.4.1" => (SigKind::Ecdsa, HashAlg::Sha1),
        "1.2.840.10045.4.3.2" => (SigKind::Ecdsa, HashAlg::Sha256),
        "1.2.840.10045.4.3.3" => (SigKind::Ecdsa, HashAlg::Sha384),
        "1.2.840.10045.4.3.4" => (SigKind::Ecdsa, HashAlg::Sha512),
        "1.2.840.10045.2.1" => (SigKind::Ecdsa, default_hash?),
        _ => return None,
    })
}

enum Key {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

/// Parses a SubjectPublicKeyInfo (RSA, EC P-256, EC P-384).
fn parse_key(spki: &[u8]) -> Result<Key, String> {
    let inner = || -> Result<Key, crate::Error> {
        let seq = Reader::new(spki, 0).expect(0x30, "SubjectPublicKeyInfo")?;
        let mut r = seq.children();
        let alg = r.expect(0x30, "SubjectPublicKeyInfo.algorithm")?;
        let bits = r.expect(0x03, "SubjectPublicKeyInfo.subjectPublicKey")?;
        let key_bytes = bits.value.get(1..).unwrap_or_default();
        let mut a = alg.children();
        let oid = oid_string(a.expect(0x06, "AlgorithmIdentifier")?.value);
        let params = a.next_tlv()?;
        let unsupported = |d: String| crate::Error::Malformed {
            structure: "SubjectPublicKeyInfo",
            offset: 0,
            detail: d,
        };
        match oid.as_str() {
            "1.2.840.113549.1.1.1" => {
                let k = Reader::new(key_bytes, 0).expect(0x30, "RSAPublicKey")?;
                let mut kr = k.children();
                let n = kr.expect(0x02, "RSAPublicKey.modulus")?;
                let e = kr.expect(0x02, "RSAPublicKey.publicExponent")?;
                let n = BigUint::from_bytes_be(n.value);
                let e = BigUint::from_bytes_be(e.value);
                RsaPublicKey::new_with_max_size(n, e, MAX_RSA_BITS)
                    .map(Key::Rsa)
                    .map_err(|e| unsupported(format!("RSA key: {e}")))
            }
            "1.2.840.10045.2.1" => {
                let curve = params
                    .filter(|p| p.tag == 0x06)
                    .map(|p| oid_string(p.value))
                    .unwrap_or_default();
                match curve.as_str() {
                    "1.2.840.10045.3.1.7" => p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                        .map(Key::P256)
                        .map_err(|e| unsupported(format!("P-256 key: {e}"))),
                    "1.3.132.0.34" => p384::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                        .map(Key::P384)
                        .map_err(|e| unsupported(format!("P-384 key: {e}"))),
                    other => Err(unsupported(format!("EC curve {other}"))),
                }
            }
            other => Err(unsupported(format!("key algorithm {other}"))),
        }
    };
    inner().map_err(|e| e.to_string())
}

/// Verifies `sig` over `msg` with the key in `spki`, using the signature algorithm `alg_oid`. `Err`: the
/// algorithm or key is not supported, or the signature encoding is invalid.
fn verify(
    spki: &[u8],
    alg_oid: &str,
    default_hash: Option<HashAlg>,
    msg: &[u8],
    sig: &[u8],
) -> Result<bool, String> {
    let (kind, hash) =
        sig_alg(alg_oid, default_hash).ok_or_else(|| format!("signature algorithm {alg_oid}"))?;
    let key = parse_key(spki)?;
    let digest = hash.digest(msg);
    match (key, kind) {
        (Key::Rsa(k), SigKind::Rsa) => {
            let scheme = match hash {
                HashAlg::Sha1 => Pkcs1v15Sign::new::<Sha1>(),
                HashAlg::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
                HashAlg::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
                HashAlg::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
            };
            Ok(k.verify(scheme, &digest, sig).is_ok())
        }
        (Key::P256(k), SigKind::Ecdsa) => {
            let s = p256::ecdsa::Signature::from_der(sig).map_err(|e| e.to_string())?;
            Ok(k.verify_prehash(&pad(&digest, 32), &s).is_ok())
        }
        (Key::P384(k), SigKind::Ecdsa) => {
            let s = p384::ecdsa::Signature::from_der(sig).map_err(|e| e.to_string())?;
            Ok(k.verify_prehash(&pad(&digest, 48), &s).is_ok())
        }
        (_, kind) => Err(format!("{kind:?} signature with a key of another type")),
    }
}

/// A digest shorter than the field is the same integer left-padded with zeros (the `ecdsa` crate wants at least
/// half the field size); a longer one is truncated by the crate (SEC 1 §4.1.4).
fn pad(digest: &[u8], field: usize) -> Vec<u8> {
    let mut v = vec![0u8; field.saturating_sub(digest.len())];
    v.extend_from_slice(digest);
    v
}

fn path_cert(c: &Certificate, source: Source) -> PathCert {
    PathCert {
        subject: c.subject.clone(),
        sha256: c.sha256.clone(),
        source,
        not_before: c.not_before.clone(),
        not_after: c.not_after.clone(),
    }
}

fn same_name(a: &[u8], b: &[u8]) -> bool {
    a == b
}

/// Builds and verifies a path from `leaf` through `extra` (e.g. the CMS's certificates) and `store`'s
/// intermediates to an anchor of `store`. Fills `path`, `apple_root` and `failure` of the result.
pub fn build_chain(leaf: &Certificate, extra: &[Certificate], store: &TrustStore) -> Verification {
    let mut out = Verification::default();
    let mut pool: Vec<(&Certificate, Source)> = store.certs.iter().map(|(c, s)| (c, *s)).collect();
    pool.extend(extra.iter().map(|c| (c, Source::Cms)));
    let mut current = leaf;
    let mut current_source = store.anchor(leaf).unwrap_or(Source::Cms);
    for depth in 0..MAX_DEPTH {
        out.path.push(path_cert(current, current_source));
        if let Some(s) = store.anchor(current) {
            out.apple_root = s == Source::AppleRoot;
            return out;
        }
        let self_issued = same_name(&current.subject_raw, &current.issuer_raw);
        let mut last_error: Option<(String, String)> = None;
        let mut next: Option<(&Certificate, Source)> = None;
        for (cand, src) in &pool {
            if cand.sha256 == current.sha256 || !same_name(&cand.subject_raw, &current.issuer_raw) {
                continue;
            }
            if cand.is_ca != Some(true) && store.anchor(cand).is_none() {
                last_error = Some((
                    cand.subject.clone(),
                    "the issuer is not a CA (basicConstraints)".into(),
                ));
                continue;
            }
            match verify(
                &cand.spki,
                &current.signature_algorithm,
                None,
                &current.tbs,
                &current.signature,
            ) {
                Ok(true) => {
                    next = Some((cand, *src));
                    break;
                }
                Ok(false) => {
                    last_error = Some((
                        cand.subject.clone(),
                        format!(
                            "signature by the key of SHA-256 {} does not verify",
                            cand.sha256
                        ),
                    ))
                }
                Err(e) => last_error = Some((cand.subject.clone(), e)),
            }
        }
        match next {
            Some((c, s)) => {
                current = c;
                current_source = s;
            }
            None if self_issued => {
                // A self-issued certificate that is not an anchor ends the path.
                out.failure = Some(if depth == 0 {
                    Failure::SelfSigned {
                        subject: current.subject.clone(),
                    }
                } else {
                    Failure::UntrustedRoot {
                        subject: current.subject.clone(),
                        sha256: current.sha256.clone(),
                    }
                });
                return out;
            }
            None => {
                out.failure = Some(match last_error {
                    Some((issuer, detail)) => Failure::LinkSignature {
                        subject: current.subject.clone(),
                        issuer,
                        detail,
                    },
                    None => Failure::NoIssuer {
                        subject: current.subject.clone(),
                        issuer: current.issuer.clone(),
                    },
                });
                return out;
            }
        }
    }
    out.failure = Some(Failure::TooDeep);
    out
}

/// Verifies a CMS signer: (a) the `SignerInfo` signature with `signer`'s key, (b) `messageDigest` against
/// `content` when given (detached content such as a CodeDirectory), (c) the chain via [`build_chain`].
pub fn verify_signer(
    info: Option<&SignerInfo>,
    signer: Option<&Certificate>,
    certificates: &[Certificate],
    content: Option<&[u8]>,
    store: &TrustStore,
) -> Verification {
    let (Some(info), Some(signer)) = (info, signer) else {
        return Verification {
            failure: Some(Failure::NoSigner),
            ..Default::default()
        };
    };
    let fail = |f: Failure, v: Verification| Verification {
        failure: Some(f),
        ..v
    };
    let mut v = Verification::default();
    let Some(hash) = HashAlg::from_oid(&info.digest_algorithm) else {
        return fail(
            Failure::Unsupported(format!("digest algorithm {}", info.digest_algorithm)),
            v,
        );
    };
    // (a) The signature over the signed attributes (or, without them, over the content).
    let signed: &[u8] = match (&info.signed_attrs, content) {
        (Some(a), _) => a,
        (None, Some(c)) => c,
        (None, None) => return fail(Failure::MessageDigest, v),
    };
    match verify(
        &signer.spki,
        &info.signature_algorithm,
        Some(hash),
        signed,
        &info.signature,
    ) {
        Ok(true) => v.signer_signature = true,
        Ok(false) => return fail(Failure::SignerSignature, v),
        Err(e) => return fail(Failure::Unsupported(e), v),
    }
    // (b) messageDigest.
    if let (Some(_), Some(c)) = (&info.signed_attrs, content) {
        let ok = info.message_digest.as_deref() == Some(&hash.digest(c)[..]);
        v.message_digest = Some(ok);
        if !ok {
            return fail(Failure::MessageDigest, v);
        }
    } else if info.signed_attrs.is_some() && info.message_digest.is_none() {
        v.message_digest = Some(false);
        return fail(Failure::MessageDigest, v);
    }
    // (c) The chain.
    let chain = build_chain(signer, certificates, store);
    Verification {
        failure: chain.failure,
        path: chain.path,
        apple_root: chain.apple_root,
        ..v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_certificates_parse_and_roots_are_self_signed() {
        for (name, der) in APPLE_ROOTS {
            let c = certificate_from_der(der).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(c.self_issued(), "{name}");
            let v = build_chain(&c, &[], &TrustStore::apple());
            assert!(v.verified() && v.apple_root, "{name}: {v:?}");
        }
    }

    #[test]
    fn every_bundled_intermediate_chains_to_an_apple_root() {
        let store = TrustStore::apple();
        for (name, der) in APPLE_INTERMEDIATES {
            let c = certificate_from_der(der).unwrap();
            let v = build_chain(&c, &[], &store);
            assert!(v.verified() && v.apple_root, "{name}: {v:?}");
            assert_eq!(v.path.len(), 2, "{name}");
        }
    }

    #[test]
    fn without_anchors_an_apple_root_is_untrusted() {
        let der = APPLE_ROOTS[0].1;
        let c = certificate_from_der(der).unwrap();
        let v = build_chain(&c, &[], &TrustStore::empty());
        assert!(
            matches!(v.failure, Some(Failure::SelfSigned { .. })),
            "{v:?}"
        );
        let wwdr = certificate_from_der(APPLE_INTERMEDIATES[2].1).unwrap();
        let v = build_chain(&wwdr, &[c], &TrustStore::empty());
        assert!(
            matches!(v.failure, Some(Failure::UntrustedRoot { .. })),
            "{v:?}"
        );
        let v = build_chain(&wwdr, &[], &TrustStore::empty());
        assert!(matches!(v.failure, Some(Failure::NoIssuer { .. })), "{v:?}");
    }

    #[test]
    fn a_flipped_signature_byte_fails_the_link() {
        let mut wwdr = certificate_from_der(APPLE_INTERMEDIATES[2].1).unwrap();
        wwdr.signature[10] ^= 1;
        let v = build_chain(&wwdr, &[], &TrustStore::apple());
        assert!(
            matches!(v.failure, Some(Failure::LinkSignature { .. })),
            "{v:?}"
        );
        assert!(v
            .failure
            .unwrap()
            .to_string()
            .starts_with("link signature failed"));
    }
}
