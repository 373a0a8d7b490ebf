//! APK signature verification with Android's semantics: JAR signing (v1), APK Signature Scheme v2,
//! v3 (with proof-of-rotation lineage) and v3.1, over a range of Android API levels.
//!
//! The crate is pure: [`verify`] takes a parsed [`apk_zip::Archive`] (which borrows the whole file)
//! and returns a [`SigningReport`]. It does no I/O, never panics on any input, and keeps *present*,
//! *checked* and *verified* apart for every scheme.
//!
//! # Verdict
//!
//! The overall verdict follows apksig's `ApkVerifier` for `[min_sdk, max_sdk]`:
//! v3.1 (if `max_sdk >= 33`), then v3 (if `max_sdk >= 28`), then v2 (if `max_sdk >= 24` and
//! `min_sdk < 28` or nothing newer was found), then v1 (if `min_sdk < 24` or no v2+ signature was
//! found); the first scheme that fails decides, and [`SigningReport::errors`] holds its errors with
//! apksigner's issue codes (`V2_SIG_DID_NOT_VERIFY`, `JAR_SIG_NO_MANIFEST`, ...). v1 and v2 signer sets
//! must match, and the v3 signer must match the older signer or descend from it in the lineage.
//!
//! Independently of the verdict, every scheme that is present is evaluated on its own
//! ([`SchemeResult`]), so a broken v1 signature on an APK that Android would accept through v2 is
//! still visible. [`SchemeResult::checked`] says whether the scheme counted for the verdict.
//!
//! # Hashing
//!
//! The v2/v3 content digest is computed over 1 MiB chunks in parallel (rayon) straight from the
//! input slice; v1 entry digests are computed in parallel over entries.
//!
//! # Certificates
//!
//! Fingerprints are over the certificate bytes as stored (never re-encoded); fields are read with a
//! lenient BER reader, and negative RSA moduli are taken as their unsigned magnitude, as Android does.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod asn1;
mod block;
mod cert;
mod crypto;
mod digest;
mod name;
mod precomputed;
mod stamp;
mod v1;
mod v2v3;

pub use precomputed::EntryDigests;

use std::collections::BTreeSet;
use std::sync::Mutex;

use apk_zip::Archive;

pub use stamp::{SourceStamp, StampError};

/// The newest API level, for `max_sdk` ("no upper bound"). Larger values are clamped to it.
pub const LATEST: u32 = i32::MAX as u32;

/// Most JAR (v1) signers accepted (Android 13+ and apksig ≥ 33).
pub const MAX_V1_SIGNERS: usize = v1::MAX_SIGNERS;
/// Most v2 signers accepted (Android 13+ and apksig ≥ 33).
pub const MAX_V2_SIGNERS: usize = v2v3::MAX_V2_SIGNERS;

/// A signing scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// JAR signing.
    V1,
    /// APK Signature Scheme v2.
    V2,
    /// APK Signature Scheme v3.
    V3,
    /// APK Signature Scheme v3.1.
    V31,
}

impl Scheme {
    /// `"v1"`, `"v2"`, `"v3"`, `"v31"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::V1 => "v1",
            Scheme::V2 => "v2",
            Scheme::V3 => "v3",
            Scheme::V31 => "v31",
        }
    }
}

/// An error or warning, with apksigner's issue code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// apksigner's `ApkVerifier.Issue` name, e.g. `V2_SIG_DID_NOT_VERIFY`.
    pub code: String,
    /// Human-readable detail (untrusted strings from the APK may appear; escape on output).
    pub message: String,
}

impl Issue {
    pub(crate) fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Issue {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Facts about one certificate, taken from its stored encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// SHA-256 of the certificate bytes as stored (lowercase hex).
    pub sha256: String,
    /// SHA-1 of the certificate bytes as stored (lowercase hex).
    pub sha1: String,
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Issuer DN (RFC 4514).
    pub issuer: String,
    /// Serial number (hex, magnitude).
    pub serial: String,
    /// Validity start, ISO 8601 UTC.
    pub not_before: String,
    /// Validity end, ISO 8601 UTC.
    pub not_after: String,
    /// `"RSA"`, `"EC"`, `"DSA"` or `"unknown"`.
    pub key_algorithm: &'static str,
    /// RSA modulus bits, EC curve bits, DSA prime bits (0 if unknown).
    pub key_bits: u32,
}

/// A signer of a scheme that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The scheme.
    pub scheme: Scheme,
    /// The signing certificate.
    pub cert: CertificateInfo,
    /// v3/v3.1: lowest API level this signer targets.
    pub min_sdk: Option<u32>,
    /// v3/v3.1: highest API level this signer targets.
    pub max_sdk: Option<u32>,
}

/// One certificate of the v3 proof-of-rotation lineage (oldest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageEntry {
    /// The scheme whose signer carried the lineage (v3 or v3.1).
    pub scheme: Scheme,
    /// The certificate.
    pub cert: CertificateInfo,
    /// Capability flags (installed data, shared uid, permission, rollback, auth).
    pub flags: u32,
}

/// The result of one scheme.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemeResult {
    /// A signature of this scheme is in the file (v1: MANIFEST.MF and a `.SF`; v2+: a block pair).
    pub present: bool,
    /// The scheme was evaluated for this SDK range (v2 needs `max_sdk >= 24`, v3 `>= 28`, v3.1 `>= 33`).
    pub evaluated: bool,
    /// The scheme counted for the overall verdict (apksigner's "Verified using vN scheme" is
    /// `checked && verified`).
    pub checked: bool,
    /// The scheme's signature verified on its own over the range.
    pub verified: bool,
    /// Errors, with apksigner's codes.
    pub errors: Vec<Issue>,
    /// Warnings, with apksigner's codes.
    pub warnings: Vec<Issue>,
}

/// Where the APK Signing Block is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningBlockInfo {
    /// File offset of the block.
    pub offset: u64,
    /// Ids of the ID-value pairs, in order.
    pub pair_ids: Vec<u32>,
}

/// Everything known about an APK's signatures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigningReport {
    /// Lowest API level verified for.
    pub min_sdk: u32,
    /// Highest API level verified for.
    pub max_sdk: u32,
    /// Android would accept the signatures on every API level of the range.
    pub verified: bool,
    /// Why not (the failing scheme's errors, as apksigner reports them).
    pub errors: Vec<Issue>,
    /// Warnings of the schemes that counted.
    pub warnings: Vec<Issue>,
    /// JAR signing.
    pub v1: SchemeResult,
    /// APK Signature Scheme v2.
    pub v2: SchemeResult,
    /// APK Signature Scheme v3.
    pub v3: SchemeResult,
    /// APK Signature Scheme v3.1.
    pub v31: SchemeResult,
    /// Signers of every scheme that verified.
    pub signers: Vec<Signer>,
    /// The proof-of-rotation lineage of the newest verified v3.1/v3 signer (oldest first).
    pub lineage: Vec<LineageEntry>,
    /// A source stamp is present (block pair or `stamp-cert-sha256` entry); see [`Self::stamp`].
    pub source_stamp: bool,
    /// The source stamp, verified as apksig does, when a `stamp-cert-sha256` entry or a stamp
    /// block is present. Its signer is reported here, separately from the APK's signers.
    pub stamp: Option<SourceStamp>,
    /// The APK Signing Block, when one was found.
    pub signing_block: Option<SigningBlockInfo>,
}

impl SigningReport {
    /// One line for text output: the signer and whether the signatures verified, e.g.
    /// `verified (v1, v2): CN=Example, O=Corp [sha256 3f2a…]` or
    /// `DOES NOT VERIFY (V2_SIG_DID_NOT_VERIFY)`. Subjects come from the APK: escape them on output.
    pub fn summary_line(&self) -> String {
        if !self.verified {
            let codes: Vec<&str> = self.errors.iter().map(|e| e.code.as_str()).collect();
            return format!("DOES NOT VERIFY ({})", codes.join(", "));
        }
        let schemes: Vec<&str> = [
            (Scheme::V1, &self.v1),
            (Scheme::V2, &self.v2),
            (Scheme::V3, &self.v3),
            (Scheme::V31, &self.v31),
        ]
        .iter()
        .filter(|(_, r)| r.checked && r.verified)
        .map(|(s, _)| s.as_str())
        .collect();
        let newest = self.signers.iter().max_by_key(|s| s.scheme);
        let signer = newest.map_or_else(String::new, |s| {
            format!(
                ": {} [sha256 {}]",
                s.cert.subject,
                s.cert.sha256.get(..16).unwrap_or(&s.cert.sha256)
            )
        });
        format!("verified ({}){signer}", schemes.join(", "))
    }

    /// The result of one scheme.
    pub fn scheme(&self, s: Scheme) -> &SchemeResult {
        match s {
            Scheme::V1 => &self.v1,
            Scheme::V2 => &self.v2,
            Scheme::V3 => &self.v3,
            Scheme::V31 => &self.v31,
        }
    }
}

/// Verification options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Lowest API level (usually the manifest's minSdkVersion; 1 if absent).
    pub min_sdk: u32,
    /// Highest API level ([`LATEST`] for no bound).
    pub max_sdk: u32,
    /// The manifest's targetSdkVersion: 30+ requires v2 or newer (`MIN_SIG_SCHEME_FOR_TARGET_SDK_NOT_MET`).
    pub target_sdk: Option<u32>,
    /// Evaluate the JAR (v1) signature even where Android would not consult it (the whole range is
    /// at API 24+ and a v2/v3 signature verified, or the verdict was already decided). Off by
    /// default: v1 is then reported as present but not evaluated, and costs nothing.
    pub always_check_v1: bool,
    /// Fail the verdict when a source stamp is present but does not verify. Off by default, as in
    /// Android and apksigner, where a bad stamp is only a warning.
    pub require_valid_stamp: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            min_sdk: 1,
            max_sdk: LATEST,
            target_sdk: None,
            always_check_v1: false,
            require_valid_stamp: false,
        }
    }
}

/// Shared state: the input, the layout and the content-digest cache.
pub(crate) struct Ctx<'a> {
    data: &'a [u8],
    block_offset: u64,
    cd_offset: u64,
    cd_size: u64,
    eocd_offset: u64,
    cache: Mutex<digest::Digests>,
}

impl Ctx<'_> {
    /// The requested content digests, computed once.
    pub(crate) fn content_digests(&self, w256: bool, w512: bool) -> Option<digest::Digests> {
        let mut cache = self.cache.lock().ok()?;
        let need256 = w256 && cache.sha256.is_none();
        let need512 = w512 && cache.sha512.is_none();
        if need256 || need512 {
            let d = digest::compute(
                self.data,
                self.block_offset,
                self.cd_offset,
                self.cd_size,
                self.eocd_offset,
                need256,
                need512,
            )?;
            if d.sha256.is_some() {
                cache.sha256 = d.sha256;
            }
            if d.sha512.is_some() {
                cache.sha512 = d.sha512;
            }
        }
        Some(cache.clone())
    }
}

/// Verifies an APK's signatures for API levels `[min_sdk, max_sdk]` (see [`Options`]).
pub fn verify(archive: &Archive<'_>, min_sdk: u32, max_sdk: u32) -> SigningReport {
    verify_with(
        archive,
        &Options {
            min_sdk,
            max_sdk,
            ..Options::default()
        },
    )
}

fn supported_ids(max: u32) -> BTreeSet<u32> {
    let mut s = BTreeSet::new();
    if max >= 24 {
        s.insert(2);
    }
    if max >= 28 {
        s.insert(3);
    }
    s
}

fn v3_outcome_into(r: &mut SchemeResult, o: &v2v3::Outcome<'_>) {
    r.evaluated = true;
    r.verified = o.verified;
    r.errors = o.all_errors();
    r.warnings = o.all_warnings();
}

/// Verifies an APK's signatures with [`Options`].
pub fn verify_with(archive: &Archive<'_>, opts: &Options) -> SigningReport {
    verify_with_digests(archive, opts, &EntryDigests::default())
}

/// Like [`verify_with`], with entry digests the caller already computed (see [`EntryDigests`]):
/// JAR verification compares against them instead of inflating those entries again.
pub fn verify_with_digests(
    archive: &Archive<'_>,
    opts: &Options,
    digests: &EntryDigests,
) -> SigningReport {
    let min = opts.min_sdk;
    let max = opts.max_sdk.min(LATEST);
    let mut rep = SigningReport {
        min_sdk: min,
        max_sdk: max,
        ..SigningReport::default()
    };
    if min > max {
        rep.errors.push(Issue::new(
            "INVALID_SDK_RANGE",
            format!("minSdkVersion ({min}) > maxSdkVersion ({max})"),
        ));
        return rep;
    }
    let data = archive.data();
    let found_block = block::find(
        data,
        archive.cd_offset(),
        archive.cd_size(),
        archive.eocd_offset(),
    )
    .ok();
    let ctx = Ctx {
        data,
        block_offset: found_block.as_ref().map_or(0, |b| b.offset),
        cd_offset: archive.cd_offset(),
        cd_size: archive.cd_size(),
        eocd_offset: archive.eocd_offset(),
        cache: Mutex::new(digest::Digests::default()),
    };
    let pair = |id| found_block.as_ref().and_then(|b| b.find_pair(id));
    let (v2b, v3b, v31b) = (pair(block::V2_ID), pair(block::V3_ID), pair(block::V31_ID));
    rep.v2.present = v2b.is_some();
    rep.v3.present = v3b.is_some();
    rep.v31.present = v31b.is_some();
    rep.source_stamp = pair(block::STAMP_V2_ID).is_some()
        || pair(block::STAMP_V1_ID).is_some()
        || archive.find("stamp-cert-sha256").is_some();
    rep.signing_block = found_block.as_ref().map(|b| SigningBlockInfo {
        offset: b.offset,
        pair_ids: b.ids(),
    });
    let supported = supported_ids(max);
    let mut found: BTreeSet<u32> = BTreeSet::new();
    let mut verdict: Option<Vec<Issue>> = None;
    let mut warnings: Vec<Issue> = Vec::new();

    // v3.1: targets the newest platforms, starting at its signers' lowest minSdk (33 or later).
    let mut v3_max = max;
    let mut v31_out = None;
    if let Some(v) = v31b {
        let lo = v31_min_sdk(v).unwrap_or(33).max(33);
        if max >= lo {
            let o = v2v3::verify(
                v2v3::Kind::V31,
                v,
                &ctx,
                min.max(lo),
                max,
                &found,
                &supported,
            );
            v3_outcome_into(&mut rep.v31, &o);
            rep.v31.checked = true;
            found.insert(31);
            v3_max = lo - 1;
            if v3b.is_none() {
                rep.v31.errors.push(Issue::new(
                    "V31_BLOCK_FOUND_WITHOUT_V3_BLOCK",
                    "The APK contains a v3.1 signing block without a v3.0 base block",
                ));
                rep.v31.verified = false;
            }
            if !rep.v31.errors.is_empty() {
                verdict = Some(rep.v31.errors.clone());
            }
            warnings.extend(rep.v31.warnings.iter().cloned());
            v31_out = Some(o);
        }
    }
    // v3.
    let mut v3_out = None;
    if let Some(v) = v3b {
        if max >= 28 {
            let lo = min.max(28);
            let hi = v3_max.max(lo);
            let o = v2v3::verify(v2v3::Kind::V3, v, &ctx, lo, hi, &found, &supported);
            v3_outcome_into(&mut rep.v3, &o);
            v31_stripping_protection(&mut rep.v3, &o, v31b);
            if verdict.is_none() {
                rep.v3.checked = true;
                found.insert(3);
                warnings.extend(rep.v3.warnings.iter().cloned());
                if !rep.v3.errors.is_empty() {
                    verdict = Some(rep.v3.errors.clone());
                }
            }
            v3_out = Some(o);
        }
    }
    // v2.
    let mut v2_out = None;
    if let Some(v) = v2b {
        if max >= 24 {
            let mut found_for_v2 = found.clone();
            if v3b.is_some() && max >= 28 {
                found_for_v2.insert(3);
            }
            let o = v2v3::verify(
                v2v3::Kind::V2,
                v,
                &ctx,
                min.max(24),
                max,
                &found_for_v2,
                &supported,
            );
            v3_outcome_into(&mut rep.v2, &o);
            if verdict.is_none() && (min < 28 || found.is_empty()) {
                rep.v2.checked = true;
                found.insert(2);
                warnings.extend(rep.v2.warnings.iter().cloned());
                if !rep.v2.errors.is_empty() {
                    verdict = Some(rep.v2.errors.clone());
                }
            }
            v2_out = Some(o);
        }
    }
    // v1.
    let v1_counts = verdict.is_none() && (min < 24 || found.is_empty());
    let mut found_for_v1 = found.clone();
    if !v1_counts {
        // Evaluated for the report only: judge stripping against every block that is there.
        if v2b.is_some() && max >= 24 {
            found_for_v1.insert(2);
        }
        if v3b.is_some() && max >= 28 {
            found_for_v1.insert(3);
        }
    }
    let v1o = if v1_counts || opts.always_check_v1 {
        let o = v1::verify(archive, min, max, &found_for_v1, &supported, digests);
        rep.v1.evaluated = true;
        o
    } else {
        // Android does not consult v1 here: say whether it is there, and do no work on it.
        v1::Outcome {
            present: v1::present(archive),
            ..v1::Outcome::default()
        }
    };
    rep.v1.present = v1o.present;
    rep.v1.verified = v1o.verified;
    rep.v1.errors = v1o.errors.clone();
    rep.v1.warnings = v1o.warnings.clone();
    if v1_counts {
        rep.v1.checked = true;
        warnings.extend(rep.v1.warnings.iter().cloned());
        if !rep.v1.errors.is_empty() {
            verdict = Some(rep.v1.errors.clone());
        }
    }

    // Cross-scheme checks.
    if verdict.is_none() {
        let mut errs = Vec::new();
        let v1_certs: Vec<&CertificateInfo> = if rep.v1.checked && rep.v1.verified {
            v1o.signers.iter().map(|s| &s.cert).collect()
        } else {
            Vec::new()
        };
        let v2_infos: Vec<CertificateInfo> = match (&v2_out, rep.v2.checked && rep.v2.verified) {
            (Some(o), true) => o
                .signers
                .iter()
                .filter_map(|s| s.certs.first().map(cert::Cert::info))
                .collect(),
            _ => Vec::new(),
        };
        if rep.v1.checked && rep.v1.verified && rep.v2.checked && rep.v2.verified {
            for c in &v2_infos {
                if !v1_certs.iter().any(|x| x.sha256 == c.sha256) {
                    errs.push(Issue::new(
                        "JAR_SIG_MISSING",
                        "No JAR signature from this signer",
                    ));
                }
            }
            for c in &v1_certs {
                if !v2_infos.iter().any(|x| x.sha256 == c.sha256) {
                    errs.push(Issue::new(
                        "V2_SIG_MISSING",
                        "No APK Signature Scheme v2 signature from this signer",
                    ));
                }
            }
        }
        if rep.v3.checked && rep.v3.verified {
            let old: Vec<String> = if rep.v2.checked && rep.v2.verified {
                v2_infos.iter().map(|c| c.sha256.clone()).collect()
            } else if rep.v1.checked && rep.v1.verified {
                v1_certs.iter().map(|c| c.sha256.clone()).collect()
            } else {
                Vec::new()
            };
            if let (Some(o), false) = (&v3_out, old.is_empty()) {
                if old.len() != 1 {
                    errs.push(Issue::new(
                        "V3_SIG_MULTIPLE_PAST_SIGNERS",
                        "Multiple signatures found for pre-v3 signing with an APK Signature Scheme v3 signer.",
                    ));
                } else if let Some(s) = o.signers.first() {
                    let ok = if s.lineage.is_empty() {
                        s.certs.first().is_some_and(|c| c.sha256() == old[0])
                    } else {
                        s.lineage.iter().any(|n| n.cert.sha256() == old[0])
                    };
                    if !ok {
                        errs.push(Issue::new(
                            "V3_SIG_PAST_SIGNERS_MISMATCH",
                            "v3 signer differs from v1/v2 signer without proper signing certificate lineage.",
                        ));
                    }
                }
            }
        }
        if let Some(t) = opts.target_sdk {
            // apksig enforces it only when the range reaches the target SDK.
            if t >= 30
                && max >= t
                && !found.contains(&2)
                && !found.contains(&3)
                && !found.contains(&31)
            {
                errs.push(Issue::new(
                    "MIN_SIG_SCHEME_FOR_TARGET_SDK_NOT_MET",
                    format!("Target SDK version {t} requires a minimum of signature scheme v2"),
                ));
            }
        }
        if !errs.is_empty() {
            verdict = Some(errs);
        }
    }
    // Source stamp: over the content digests of every scheme that counted.
    rep.stamp = source_stamp(
        archive,
        pair(stamp::V2_ID),
        &rep,
        v2_out.as_ref(),
        v3_out.as_ref(),
    );
    if opts.require_valid_stamp && verdict.is_none() {
        if let Some(s) = rep.stamp.as_ref().filter(|s| !s.verified) {
            verdict = Some(s.issues.clone());
        }
    }
    rep.verified = verdict.is_none();
    rep.errors = verdict.unwrap_or_default();
    rep.warnings = warnings;

    // Signers and lineage of every scheme that verified.
    if rep.v1.verified {
        rep.signers.extend(v1o.signers.iter().map(|s| Signer {
            scheme: Scheme::V1,
            cert: s.cert.clone(),
            min_sdk: None,
            max_sdk: None,
        }));
    }
    for (scheme, res, out) in [
        (Scheme::V2, &rep.v2, &v2_out),
        (Scheme::V3, &rep.v3, &v3_out),
        (Scheme::V31, &rep.v31, &v31_out),
    ] {
        let Some(o) = out.as_ref().filter(|_| res.verified) else {
            continue;
        };
        for s in &o.signers {
            if let Some(c) = s.certs.first() {
                let v3 = scheme != Scheme::V2;
                rep.signers.push(Signer {
                    scheme,
                    cert: c.info(),
                    min_sdk: v3.then_some(s.min_sdk),
                    max_sdk: v3.then_some(s.max_sdk),
                });
            }
        }
    }
    for (scheme, res, out) in [
        (Scheme::V31, &rep.v31, &v31_out),
        (Scheme::V3, &rep.v3, &v3_out),
    ] {
        let Some(o) = out.as_ref().filter(|_| res.verified) else {
            continue;
        };
        let newest = o.signers.iter().max_by_key(|s| s.max_sdk);
        if let Some(s) = newest.filter(|s| !s.lineage.is_empty()) {
            rep.lineage = s
                .lineage
                .iter()
                .map(|n| LineageEntry {
                    scheme,
                    cert: n.cert.info(),
                    flags: n.flags,
                })
                .collect();
            break;
        }
    }
    rep
}

/// Lowest signer minSdk in a v3.1 block (cheap pre-parse).
fn v31_min_sdk(value: &[u8]) -> Option<u32> {
    let mut outer = block::Lp::new(value);
    let mut list = block::Lp::new(outer.slice()?);
    let mut lo: Option<u32> = None;
    while list.has_remaining() {
        let mut s = block::Lp::new(list.slice()?);
        s.slice()?;
        let m = s.u32()?;
        lo = Some(lo.map_or(m, |x| x.min(m)));
    }
    lo
}

/// Content digests of a v2/v3 outcome by apksig's content-digest id (1 chunked SHA-256,
/// 2 chunked SHA-512, 3 verity), as claimed in the signers' signed data.
fn claimed_digests(o: &v2v3::Outcome<'_>) -> std::collections::BTreeMap<u32, Vec<u8>> {
    let mut m = std::collections::BTreeMap::new();
    for s in &o.signers {
        for &(id, d) in &s.digests {
            let cid = match id {
                0x0421 | 0x0423 | 0x0425 => 3,
                _ => match v2v3::sig_alg(id).map(|a| a.content) {
                    Some(digest::ContentDigest::ChunkedSha256) => 1,
                    Some(digest::ContentDigest::ChunkedSha512) => 2,
                    None => continue,
                },
            };
            m.insert(cid, d.to_vec());
        }
    }
    m
}

/// Verifies the source stamp, if there is one (see [`stamp`]).
fn source_stamp(
    archive: &Archive<'_>,
    block: Option<&[u8]>,
    rep: &SigningReport,
    v2: Option<&v2v3::Outcome<'_>>,
    v3: Option<&v2v3::Outcome<'_>>,
) -> Option<SourceStamp> {
    let Some(entry) = archive.find(stamp::CERT_DIGEST_ENTRY) else {
        return block.map(|_| SourceStamp {
            block: true,
            issues: vec![Issue::new(
                "SOURCE_STAMP_SIGNATURE_BLOCK_WITHOUT_CERT_DIGEST",
                "A source stamp signature block was found without a corresponding certificate digest in the APK",
            )],
            ..SourceStamp::default()
        });
    };
    let expected = match archive.read(entry) {
        Ok(d) => d,
        Err(e) => {
            return Some(SourceStamp {
                digest_entry: true,
                block: block.is_some(),
                issues: vec![Issue::new(
                    "MALFORMED_APK",
                    format!(
                        "Malformed APK; cannot read {}: {e}",
                        stamp::CERT_DIGEST_ENTRY
                    ),
                )],
                ..SourceStamp::default()
            })
        }
    };
    let mut digests = std::collections::BTreeMap::new();
    if let Some(o) = v3.filter(|_| rep.v3.checked) {
        digests.insert(3, claimed_digests(o));
    }
    if let Some(o) = v2.filter(|_| rep.v2.checked) {
        digests.insert(2, claimed_digests(o));
    }
    if rep.v1.checked {
        if let Some(m) = archive.find("META-INF/MANIFEST.MF") {
            if let Ok(bytes) = archive.read(m) {
                let mut d = std::collections::BTreeMap::new();
                d.insert(4, crypto::HashAlg::Sha256.digest(&bytes));
                digests.insert(1, d);
            }
        }
    }
    Some(stamp::verify(&expected, block, &digests))
}

/// apksig 33+: a v3 signer whose rotation-min-SDK attribute promises a v3.1 block must have one,
/// targeting the same SDK; a v3.1 block without the attribute on the v3 signer is a warning.
fn v31_stripping_protection(r: &mut SchemeResult, o: &v2v3::Outcome<'_>, v31: Option<&[u8]>) {
    let attr = o.signers.iter().find_map(|s| s.rotation_min_sdk);
    let v31_min = v31.map(|v| v31_min_sdk(v).unwrap_or(33).max(33));
    match (attr, v31_min) {
        (Some(a), None) => {
            r.errors.push(Issue::new(
                "V31_BLOCK_MISSING",
                format!(
                    "The v3 signer indicates key rotation should be supported starting from SDK version {a}, \
                     but a v3.1 block was not found"
                ),
            ));
            r.verified = false;
        }
        (Some(a), Some(m)) if a != m => {
            r.errors.push(Issue::new(
                "V31_ROTATION_MIN_SDK_MISMATCH",
                format!(
                    "The v3 signer indicates key rotation should be supported starting from SDK version {a}, \
                     but the v3.1 block targets {m} for rotation"
                ),
            ));
            r.verified = false;
        }
        (None, Some(m)) => r.warnings.push(Issue::new(
            "V31_ROTATION_MIN_SDK_ATTR_MISSING",
            format!(
                "APK supports key rotation starting from SDK version {m}, but the v3 block does not contain \
                 the attribute to enforce this rotation min SDK version"
            ),
        )),
        _ => {}
    }
}
