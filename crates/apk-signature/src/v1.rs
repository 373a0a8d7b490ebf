//! JAR signing (v1): MANIFEST.MF, `*.SF` and PKCS#7 signature blocks, with Android's SDK-dependent rules.

use std::collections::{BTreeSet, HashMap, HashSet};

use apk_zip::{Archive, Entry};
use rayon::prelude::*;

use crate::asn1::{oid_string, parse_one, tag, Reader};
use crate::cert::parse_cert_set;
use crate::crypto::{HashAlg, KeyKind, SigKind};
use crate::{CertificateInfo, Issue};

const MANIFEST: &str = "META-INF/MANIFEST.MF";
/// Most JAR signers Android accepts (newer apksig and platform).
pub(crate) const MAX_SIGNERS: usize = 10;
const JB_MR2: u32 = 18;
const KITKAT: u32 = 19;
const N: u32 = 24;
/// Most errors kept per verification; the rest are counted in one `JAR_SIG_ERRORS_OMITTED` issue.
pub(crate) const MAX_ERRORS: usize = 64;
/// Most SignerInfos of one signature block tried (real blocks have one).
pub(crate) const MAX_SIGNER_INFOS: usize = 16;

/// One parsed manifest-format section.
#[derive(Debug, Clone)]
struct Section {
    start: usize,
    len: usize,
    attrs: Vec<(String, String)>,
}

impl Section {
    fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn name(&self) -> Option<&str> {
        self.get("Name")
    }
}

/// Parses JAR manifest format (`.MF` / `.SF`): the main section and the individual sections.
#[cfg(test)]
fn parse_manifest(data: &[u8]) -> (Option<Section>, Vec<Section>) {
    let mut p = sections(data);
    let main = p.next();
    (main, p.collect())
}

/// The sections of a manifest-format file, one at a time (the first is the main section): work
/// and memory stay linear in the file, whatever the number of sections.
fn sections(data: &[u8]) -> ManifestParser<'_> {
    ManifestParser { data, pos: 0 }
}

impl Iterator for ManifestParser<'_> {
    type Item = Section;
    fn next(&mut self) -> Option<Section> {
        self.read_section()
    }
}

/// Errors with a cap: the first [`MAX_ERRORS`] are kept, the rest only counted.
#[derive(Debug, Default)]
struct Capped {
    kept: Vec<Issue>,
    omitted: usize,
}

impl Capped {
    fn push(&mut self, i: Issue) {
        if self.kept.len() < MAX_ERRORS {
            self.kept.push(i);
        } else {
            self.omitted += 1;
        }
    }
    fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
    fn into_issues(mut self) -> Vec<Issue> {
        if self.omitted > 0 {
            self.kept.push(Issue::new(
                "JAR_SIG_ERRORS_OMITTED",
                format!("{} more errors of the same kinds omitted", self.omitted),
            ));
        }
        self.kept
    }
}

/// Whether the APK carries a JAR signature (a manifest and at least one `.SF`), without reading it.
pub(crate) fn present(archive: &Archive<'_>) -> bool {
    let mut manifest = false;
    let mut sf = false;
    for e in archive.entries() {
        let n = e.name.as_slice();
        manifest |= n == MANIFEST.as_bytes();
        sf |= n.starts_with(b"META-INF/") && n.ends_with(b".SF");
    }
    manifest && sf
}

struct ManifestParser<'a> {
    data: &'a [u8],
    pos: usize,
}

impl ManifestParser<'_> {
    fn read_line(&mut self) -> Option<&[u8]> {
        let rest = self.data.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let end = rest.iter().position(|&b| b == b'\r' || b == b'\n');
        match end {
            None => {
                self.pos = self.data.len();
                Some(rest)
            }
            Some(i) => {
                let mut next = i + 1;
                if rest.get(i) == Some(&b'\r') && rest.get(i + 1) == Some(&b'\n') {
                    next += 1;
                }
                self.pos += next;
                rest.get(..i)
            }
        }
    }

    fn read_attribute(&mut self) -> Option<Vec<u8>> {
        let mut line = self.read_line()?.to_vec();
        if line.is_empty() {
            return Some(line);
        }
        while self.data.get(self.pos) == Some(&b' ') {
            let cont = self.read_line().unwrap_or(&[]);
            line.extend_from_slice(cont.get(1..).unwrap_or(&[]));
        }
        Some(line)
    }

    fn read_section(&mut self) -> Option<Section> {
        let mut start;
        let mut attr;
        loop {
            start = self.pos;
            attr = self.read_attribute()?;
            if !attr.is_empty() {
                break;
            }
        }
        let mut attrs = vec![split_attr(&attr)];
        while let Some(a) = self.read_attribute() {
            if a.is_empty() {
                break;
            }
            attrs.push(split_attr(&a));
        }
        Some(Section {
            start,
            len: self.pos - start,
            attrs,
        })
    }
}

fn split_attr(a: &[u8]) -> (String, String) {
    let s = String::from_utf8_lossy(a);
    match s.find(": ") {
        Some(i) => (s[..i].to_owned(), s[i + 2..].to_owned()),
        None => (s.into_owned(), String::new()),
    }
}

fn canonical_digest(alg: &str) -> Option<HashAlg> {
    Some(match alg.to_ascii_uppercase().as_str() {
        "SHA" | "SHA1" | "SHA-1" => HashAlg::Sha1,
        "SHA-224" => HashAlg::Sha224,
        "SHA-256" => HashAlg::Sha256,
        "SHA-384" => HashAlg::Sha384,
        "SHA-512" => HashAlg::Sha512,
        _ => return None,
    })
}

fn b64(s: &str) -> Option<Vec<u8>> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in s.trim().as_bytes() {
        if c == b'=' {
            break;
        }
        let v = T.iter().position(|&t| t == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn b64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let b = [
            c.first().copied().unwrap_or(0),
            c.get(1).copied().unwrap_or(0),
            c.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                s.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// A digest algorithm and the expected value.
type NamedDigest = (HashAlg, Vec<u8>);

/// Android's choice of digests to check in a section, for `[min, max]`.
fn digests_to_verify(section: &Section, suffix: &str, min: u32, max: u32) -> Vec<NamedDigest> {
    let mut result: Vec<NamedDigest> = Vec::new();
    if min < JB_MR2 {
        let algs = section
            .get("Digest-Algorithms")
            .unwrap_or("SHA SHA1")
            .to_owned();
        for alg in algs.split_whitespace() {
            let Some(value) = section.get(&format!("{alg}{suffix}")) else {
                continue;
            };
            let Some(h) = canonical_digest(alg) else {
                continue;
            };
            if let Some(d) = b64(value) {
                result.push((h, d));
            }
            break;
        }
    }
    if max >= JB_MR2 {
        for (h, attr) in [
            (HashAlg::Sha512, "SHA-512"),
            (HashAlg::Sha384, "SHA-384"),
            (HashAlg::Sha256, "SHA-256"),
            (HashAlg::Sha1, "SHA1"),
        ] {
            let Some(value) = section.get(&format!("{attr}{suffix}")) else {
                continue;
            };
            let Some(d) = b64(value) else { break };
            if !result.iter().any(|(a, v)| *a == h && *v == d) {
                result.push((h, d));
            }
            break;
        }
    }
    result
}

/// A verified JAR signer.
#[derive(Debug, Clone)]
pub(crate) struct V1Signer {
    pub(crate) cert: CertificateInfo,
}

/// The v1 outcome.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    pub(crate) present: bool,
    pub(crate) verified: bool,
    pub(crate) errors: Vec<Issue>,
    pub(crate) warnings: Vec<Issue>,
    pub(crate) signers: Vec<V1Signer>,
}

struct SignerFiles<'e> {
    name: String,
    block: &'e Entry,
    sf: &'e Entry,
}

fn read<'a>(archive: &Archive<'a>, e: &Entry) -> Result<std::borrow::Cow<'a, [u8]>, Issue> {
    archive.read(e).map_err(|err| {
        Issue::new(
            "MALFORMED_APK",
            format!("Malformed APK; cannot read {}: {err}", e.name_lossy()),
        )
    })
}

/// Verifies the JAR signature over `[min, max]`. `found`: v2+ scheme ids found; `supported`: ids the
/// range can reference (for `X-Android-APK-Signed`).
pub(crate) fn verify(
    archive: &Archive<'_>,
    min: u32,
    max: u32,
    found: &BTreeSet<u32>,
    supported: &BTreeSet<u32>,
    precomputed: &crate::EntryDigests,
) -> Outcome {
    let mut out = verify_uncapped(archive, min, max, found, supported, precomputed);
    for list in [&mut out.errors, &mut out.warnings] {
        if list.len() > MAX_ERRORS + 1 {
            let mut capped = Capped::default();
            for i in list.drain(..) {
                capped.push(i);
            }
            *list = capped.into_issues();
        }
    }
    out
}

/// [`verify`] before the error lists are capped (they are bounded by the number of entries, or
/// already capped where a manifest could make them longer).
fn verify_uncapped<'a>(
    archive: &Archive<'a>,
    min: u32,
    max: u32,
    found: &BTreeSet<u32>,
    supported: &BTreeSet<u32>,
    precomputed: &crate::EntryDigests,
) -> Outcome {
    let mut out = Outcome::default();
    let entries = archive.entries();
    // Duplicate names.
    let mut seen = HashSet::new();
    let mut dups = Capped::default();
    for e in entries {
        if !seen.insert(e.name.as_slice()) {
            dups.push(Issue::new(
                "JAR_SIG_DUPLICATE_ZIP_ENTRY",
                format!("Duplicate entry: {}", e.name_lossy()),
            ));
        }
    }
    out.errors = dups.into_issues();
    let mut manifest_entry = None;
    let mut sf_entries: HashMap<String, &Entry> = HashMap::new();
    let mut block_entries: Vec<(String, &Entry)> = Vec::new();
    for e in entries {
        let name = e.name_lossy();
        if !name.starts_with("META-INF/") {
            continue;
        }
        if manifest_entry.is_none() && name == MANIFEST {
            manifest_entry = Some(e);
            continue;
        }
        if name.ends_with(".SF") {
            sf_entries.entry(name.into_owned()).or_insert(e);
        } else if name.ends_with(".RSA") || name.ends_with(".DSA") || name.ends_with(".EC") {
            block_entries.push((name.into_owned(), e));
        }
    }
    out.present = manifest_entry.is_some() && !sf_entries.is_empty();
    if !out.errors.is_empty() {
        return out;
    }
    let Some(manifest_entry) = manifest_entry else {
        out.errors.push(Issue::new(
            "JAR_SIG_NO_MANIFEST",
            "Missing META-INF/MANIFEST.MF",
        ));
        return out;
    };
    // No signature files at all: nothing to verify the manifest against, so do no work on it.
    if sf_entries.is_empty() || block_entries.is_empty() {
        out.errors
            .push(Issue::new("JAR_SIG_NO_SIGNATURES", "No JAR signatures"));
        return out;
    }
    let manifest = match read(archive, manifest_entry) {
        Ok(m) => m,
        Err(i) => {
            out.errors.push(i);
            return out;
        }
    };
    let mut manifest_sections = sections(&manifest);
    let main_section = manifest_sections.next();
    let cd_names: HashSet<String> = entries
        .iter()
        .map(|e| e.name_lossy().into_owned())
        .collect();
    // Only sections naming an entry are kept (at most one per entry); the others are errors.
    let mut by_name: HashMap<String, Section> = HashMap::new();
    let mut missing: HashSet<String> = HashSet::new();
    let mut errs = Capped::default();
    for (i, s) in manifest_sections.enumerate() {
        let Some(name) = s.name().map(str::to_owned) else {
            errs.push(Issue::new(
                "JAR_SIG_UNNNAMED_MANIFEST_SECTION",
                format!(
                    "Malformed META-INF/MANIFEST.MF: invidual section #{} does not have a name",
                    i + 1
                ),
            ));
            continue;
        };
        if by_name.contains_key(&name) || missing.contains(&name) {
            errs.push(Issue::new(
                "JAR_SIG_DUPLICATE_MANIFEST_SECTION",
                format!("Duplicate section in META-INF/MANIFEST.MF: {name}"),
            ));
            continue;
        }
        if !cd_names.contains(&name) {
            errs.push(Issue::new(
                "JAR_SIG_MISSING_ZIP_ENTRY_REFERENCED_IN_MANIFEST",
                format!("{name} entry referenced by META-INF/MANIFEST.MF not found in the APK"),
            ));
            missing.insert(name);
            continue;
        }
        by_name.insert(name, s);
    }
    if !errs.is_empty() {
        out.errors = errs.into_issues();
        return out;
    }
    let by_name: HashMap<String, &Section> = by_name.iter().map(|(k, v)| (k.clone(), v)).collect();
    // Signers: a block file with a matching .SF.
    let mut signers: Vec<SignerFiles<'_>> = Vec::new();
    for (bname, be) in &block_entries {
        let Some(dot) = bname.rfind('.') else {
            continue;
        };
        let sf_name = format!("{}.SF", &bname[..dot]);
        if let Some(sf) = sf_entries.get(&sf_name) {
            signers.push(SignerFiles {
                name: bname.clone(),
                block: be,
                sf,
            });
        }
    }
    if signers.is_empty() {
        out.errors
            .push(Issue::new("JAR_SIG_NO_SIGNATURES", "No JAR signatures"));
        return out;
    }
    if signers.len() > MAX_SIGNERS {
        out.errors.push(Issue::new(
            "JAR_SIG_MAX_SIGNATURES_EXCEEDED",
            format!("APK Signature Scheme v1 only supports a maximum of {MAX_SIGNERS} signers, found {}", signers.len()),
        ));
        return out;
    }
    // Signature block against .SF.
    let mut verified: Vec<(usize, V1Signer, std::borrow::Cow<'a, [u8]>)> = Vec::new();
    for (i, s) in signers.iter().enumerate() {
        let block = match read(archive, s.block) {
            Ok(b) => b,
            Err(e) => {
                out.errors.push(e);
                return out;
            }
        };
        let sf = match read(archive, s.sf) {
            Ok(b) => b,
            Err(e) => {
                out.errors.push(e);
                return out;
            }
        };
        let sf_name = s.sf.name_lossy().into_owned();
        match verify_block(&block, &sf, &s.name, &sf_name, min, max) {
            Ok(cert) => verified.push((i, V1Signer { cert }, sf)),
            Err(issue) => out.errors.push(issue),
        }
    }
    if !out.errors.is_empty() {
        return out;
    }
    // .SF against the manifest.
    let mut remaining: Vec<(V1Signer, HashSet<String>)> = Vec::new();
    for (i, signer, sf) in verified {
        let Some(files) = signers.get(i) else {
            continue;
        };
        let sf_name = files.sf.name_lossy().into_owned();
        let mut errs = Vec::new();
        match verify_sf(
            &sf,
            &sf_name,
            &manifest,
            main_section.as_ref(),
            &by_name,
            min,
            max,
            found,
            supported,
            &mut errs,
            &mut out.warnings,
        ) {
            SfResult::Ok(names) => {
                if errs.is_empty() {
                    remaining.push((signer, names));
                } else {
                    out.errors.extend(errs);
                }
            }
            SfResult::Ignored => out.warnings.extend(errs),
        }
    }
    if !out.errors.is_empty() {
        return out;
    }
    if remaining.is_empty() {
        out.errors
            .push(Issue::new("JAR_SIG_NO_SIGNATURES", "No JAR signatures"));
        return out;
    }
    // Entries.
    let mut first_signers: Option<(String, Vec<usize>)> = None;
    let mut to_digest: Vec<(&Entry, Vec<NamedDigest>)> = Vec::new();
    for e in entries {
        if e.is_dir() {
            continue;
        }
        let name = e.name_lossy().into_owned();
        let Some(section) = by_name.get(&name) else {
            if digest_needed(&name) {
                out.errors.push(Issue::new(
                    "JAR_SIG_NO_ZIP_ENTRY_DIGEST_IN_MANIFEST",
                    format!("No digest for {name} in META-INF/MANIFEST.MF"),
                ));
            }
            continue;
        };
        let entry_signers: Vec<usize> = remaining
            .iter()
            .enumerate()
            .filter(|(_, (_, names))| names.contains(&name))
            .map(|(i, _)| i)
            .collect();
        if entry_signers.is_empty() {
            out.errors.push(Issue::new(
                "JAR_SIG_ZIP_ENTRY_NOT_SIGNED",
                format!("{name} entry not signed"),
            ));
            continue;
        }
        match &first_signers {
            None => first_signers = Some((name.clone(), entry_signers)),
            Some((first, fs)) if *fs != entry_signers => {
                out.errors.push(Issue::new(
                    "JAR_SIG_ZIP_ENTRY_SIGNERS_MISMATCH",
                    format!("Entries {first} and {name} are signed with different sets of signers"),
                ));
                continue;
            }
            Some(_) => {}
        }
        let expected = digests_to_verify(section, "-Digest", min, max);
        if expected.is_empty() {
            out.errors.push(Issue::new(
                "JAR_SIG_NO_ZIP_ENTRY_DIGEST_IN_MANIFEST",
                format!("No digest for {name} in META-INF/MANIFEST.MF"),
            ));
            continue;
        }
        to_digest.push((e, expected));
    }
    if !out.errors.is_empty() {
        return out;
    }
    let results = verify_entry_digests(archive, &to_digest, precomputed);
    for r in results {
        out.errors.extend(r);
    }
    if !out.errors.is_empty() {
        return out;
    }
    out.signers = remaining.into_iter().map(|(s, _)| s).collect();
    out.verified = true;
    out
}

/// Entries to check: each with the digests its manifest section names.
type EntryDigests<'e> = [(&'e Entry, Vec<NamedDigest>)];

/// Checks every entry's data against its manifest digests (in parallel over entries); one list of
/// errors per entry. This is the only place v1 inflates entry data: a caller that already holds
/// inflated entries (e.g. DEX files) can hand their digests in here.
fn verify_entry_digests(
    archive: &Archive<'_>,
    to_digest: &EntryDigests<'_>,
    precomputed: &crate::EntryDigests,
) -> Vec<Vec<Issue>> {
    to_digest
        .par_iter()
        .map(|(e, expected)| {
            let known: Option<Vec<Vec<u8>>> = expected
                .iter()
                .map(|(alg, _)| precomputed.get(e, *alg))
                .collect();
            let data = match known {
                Some(_) => None,
                None => match read(archive, e) {
                    Ok(d) => Some(d),
                    Err(i) => return vec![i],
                },
            };
            let mut errs = Vec::new();
            for (i, (alg, exp)) in expected.iter().enumerate() {
                let actual = match (&known, &data) {
                    (Some(k), _) => k[i].clone(),
                    (None, Some(d)) => alg.digest(d),
                    (None, None) => Vec::new(),
                };
                if &actual != exp {
                    errs.push(Issue::new(
                        "JAR_SIG_ZIP_ENTRY_DIGEST_DID_NOT_VERIFY",
                        format!(
                            "{} digest of {} does not match the digest specified in META-INF/MANIFEST.MF. \
                             Expected: <{}>, actual: <{}>",
                            alg.jca_name(),
                            e.name_lossy(),
                            b64_encode(exp),
                            b64_encode(&actual)
                        ),
                    ));
                }
            }
            errs
        })
        .collect()
}

fn digest_needed(name: &str) -> bool {
    if name.ends_with('/') {
        return false;
    }
    let Some(rest) = name.strip_prefix("META-INF/") else {
        return true;
    };
    if rest.contains('/') {
        return true;
    }
    let l = rest.to_ascii_lowercase();
    !(l == "manifest.mf"
        || l.ends_with(".sf")
        || l.ends_with(".rsa")
        || l.ends_with(".dsa")
        || l.ends_with(".ec")
        || l.starts_with("sig-"))
}

enum SfResult {
    Ok(HashSet<String>),
    Ignored,
}

#[allow(clippy::too_many_arguments)]
fn verify_sf(
    sf: &[u8],
    sf_name: &str,
    manifest: &[u8],
    main: Option<&Section>,
    by_name: &HashMap<String, &Section>,
    min: u32,
    max: u32,
    found: &BTreeSet<u32>,
    supported: &BTreeSet<u32>,
    errs: &mut Vec<Issue>,
    warnings: &mut Vec<Issue>,
) -> SfResult {
    let mut sf_sections = sections(sf);
    let sf_main = sf_sections.next();
    let Some(sf_main) = sf_main.filter(|m| m.get("Signature-Version").is_some()) else {
        errs.push(Issue::new(
            "JAR_SIG_MISSING_VERSION_ATTR_IN_SIG_FILE",
            format!("Malformed {sf_name}: missing Signature-Version attribute"),
        ));
        return SfResult::Ignored;
    };
    if max >= N {
        if let Some(ids) = sf_main.get("X-Android-APK-Signed") {
            for t in ids.split(',') {
                let Ok(id) = t.trim().parse::<u32>() else {
                    continue;
                };
                if found.contains(&id) {
                    continue;
                }
                if supported.contains(&id) {
                    errs.push(Issue::new(
                        "JAR_SIG_MISSING_APK_SIG_REFERENCED",
                        format!(
                            "JAR signature {sf_name} indicates the APK is signed using APK Signature Scheme v{id} \
                             but no such signature was found. Signature stripped?"
                        ),
                    ));
                }
            }
            if !errs.is_empty() {
                return SfResult::Ok(HashSet::new());
            }
        }
    }
    let signtool = sf_main
        .get("Created-By")
        .is_some_and(|c| c.contains("signtool"));
    // Whole-manifest digest.
    let expected = digests_to_verify(
        &sf_main,
        if signtool {
            "-Digest"
        } else {
            "-Digest-Manifest"
        },
        min,
        max,
    );
    let mut manifest_ok = !expected.is_empty();
    if expected.is_empty() {
        warnings.push(Issue::new(
            "JAR_SIG_NO_MANIFEST_DIGEST_IN_SIG_FILE",
            format!("{sf_name} does not specify digest of META-INF/MANIFEST.MF. This slows down verification."),
        ));
    }
    for (alg, exp) in &expected {
        if alg.digest(manifest) != *exp {
            warnings.push(Issue::new(
                "JAR_SIG_ZIP_ENTRY_DIGEST_DID_NOT_VERIFY",
                format!("{} digest of META-INF/MANIFEST.MF does not match the digest specified in {sf_name}", alg.jca_name()),
            ));
            manifest_ok = false;
        }
    }
    if !signtool {
        let expected = digests_to_verify(&sf_main, "-Digest-Manifest-Main-Attributes", min, max);
        if let Some(main) = main {
            for (alg, exp) in &expected {
                let part = manifest
                    .get(main.start..main.start + main.len)
                    .unwrap_or(&[]);
                if alg.digest(part) != *exp {
                    errs.push(Issue::new(
                        "JAR_SIG_MANIFEST_MAIN_SECTION_DIGEST_DID_NOT_VERIFY",
                        format!("{} digest of META-INF/MANIFEST.MF main section does not match the digest specified in {sf_name}", alg.jca_name()),
                    ));
                }
            }
        }
    }
    if !errs.is_empty() {
        return SfResult::Ok(HashSet::new());
    }
    let mut names = HashSet::new();
    for (i, s) in sf_sections.enumerate() {
        let Some(name) = s.name() else {
            errs.push(Issue::new(
                "JAR_SIG_UNNNAMED_SIG_FILE_SECTION",
                format!(
                    "Malformed {sf_name}: invidual section #{} does not have a name",
                    i + 1
                ),
            ));
            return SfResult::Ignored;
        };
        if !names.insert(name.to_owned()) {
            errs.push(Issue::new(
                "JAR_SIG_DUPLICATE_SIG_FILE_SECTION",
                format!("Duplicate section in {sf_name}: {name}"),
            ));
            return SfResult::Ignored;
        }
        if manifest_ok {
            continue;
        }
        let Some(ms) = by_name.get(name) else {
            errs.push(Issue::new(
                "JAR_SIG_NO_ZIP_ENTRY_DIGEST_IN_SIG_FILE",
                format!("No digest for {name} in {sf_name}"),
            ));
            return SfResult::Ignored;
        };
        let expected = digests_to_verify(&s, "-Digest", min, max);
        if expected.is_empty() {
            errs.push(Issue::new(
                "JAR_SIG_NO_ZIP_ENTRY_DIGEST_IN_SIG_FILE",
                format!("No digest for {name} in {sf_name}"),
            ));
            return SfResult::Ok(names);
        }
        let mut len = ms.len;
        if signtool {
            let end = ms.start + ms.len;
            if end >= 2
                && manifest.get(end - 1) == Some(&b'\n')
                && manifest.get(end - 2) == Some(&b'\n')
            {
                len = len.saturating_sub(1);
            }
        }
        let part = manifest.get(ms.start..ms.start + len).unwrap_or(&[]);
        for (alg, exp) in &expected {
            if alg.digest(part) != *exp {
                errs.push(Issue::new(
                    "JAR_SIG_MANIFEST_SECTION_DIGEST_DID_NOT_VERIFY",
                    format!("{} digest of META-INF/MANIFEST.MF section for {name} does not match the digest specified in {sf_name}", alg.jca_name()),
                ));
            }
        }
        if !errs.is_empty() {
            return SfResult::Ok(names);
        }
    }
    SfResult::Ok(names)
}

/// (digest OID, signature OID, supported API-level ranges).
type SigAlgSupport = (&'static str, &'static str, &'static [(u32, u32)]);

/// apksig's table of JAR signature (digest OID, signature OID) pairs and the API levels on which
/// Android supports each (`OidConstants.SUPPORTED_SIG_ALG_OIDS`, extracted from apksig 31.0.2's
/// bytecode); `u32::MAX` is an open upper end.
#[rustfmt::skip]
const SUPPORTED_SIG_ALGS: &[SigAlgSupport] = &[
    ("1.2.840.113549.2.5", "1.2.840.113549.1.1.1", &[(0, u32::MAX)]),
    ("1.2.840.113549.2.5", "1.2.840.113549.1.1.4", &[(0, 8), (21, u32::MAX)]),
    ("1.2.840.113549.2.5", "1.2.840.113549.1.1.5", &[(21, 23)]),
    ("1.2.840.113549.2.5", "1.2.840.113549.1.1.14", &[(21, 23)]),
    ("1.2.840.113549.2.5", "1.2.840.113549.1.1.11", &[(21, 23)]),
    ("1.2.840.113549.2.5", "1.2.840.113549.1.1.12", &[(21, 23)]),
    ("1.2.840.113549.2.5", "1.2.840.113549.1.1.13", &[(21, 23)]),
    ("1.3.14.3.2.26", "1.2.840.113549.1.1.1", &[(0, u32::MAX)]),
    ("1.3.14.3.2.26", "1.2.840.113549.1.1.4", &[(21, 23)]),
    ("1.3.14.3.2.26", "1.2.840.113549.1.1.5", &[(0, u32::MAX)]),
    ("1.3.14.3.2.26", "1.2.840.113549.1.1.14", &[(21, 23)]),
    ("1.3.14.3.2.26", "1.2.840.113549.1.1.11", &[(21, 23)]),
    ("1.3.14.3.2.26", "1.2.840.113549.1.1.12", &[(21, 23)]),
    ("1.3.14.3.2.26", "1.2.840.113549.1.1.13", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.4", "1.2.840.113549.1.1.1", &[(0, 8), (21, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.4", "1.2.840.113549.1.1.4", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.4", "1.2.840.113549.1.1.5", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.4", "1.2.840.113549.1.1.14", &[(0, 8), (21, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.4", "1.2.840.113549.1.1.11", &[(21, 21)]),
    ("2.16.840.1.101.3.4.2.4", "1.2.840.113549.1.1.12", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.4", "1.2.840.113549.1.1.13", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.1.1", &[(0, 8), (18, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.1.4", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.1.5", &[(21, 21)]),
    ("2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.1.14", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.1.11", &[(0, 8), (18, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.1.12", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.1.13", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.2", "1.2.840.113549.1.1.1", &[(18, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.2", "1.2.840.113549.1.1.4", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.2", "1.2.840.113549.1.1.5", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.2", "1.2.840.113549.1.1.14", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.2", "1.2.840.113549.1.1.11", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.2", "1.2.840.113549.1.1.12", &[(21, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.2", "1.2.840.113549.1.1.13", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.3", "1.2.840.113549.1.1.1", &[(18, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.3", "1.2.840.113549.1.1.4", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.3", "1.2.840.113549.1.1.5", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.3", "1.2.840.113549.1.1.14", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.3", "1.2.840.113549.1.1.11", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.3", "1.2.840.113549.1.1.12", &[(21, 21)]),
    ("2.16.840.1.101.3.4.2.3", "1.2.840.113549.1.1.13", &[(21, u32::MAX)]),
    ("1.2.840.113549.2.5", "1.2.840.10040.4.3", &[(21, 23)]),
    ("1.2.840.113549.2.5", "2.16.840.1.101.3.4.3.1", &[(21, 23)]),
    ("1.2.840.113549.2.5", "2.16.840.1.101.3.4.3.2", &[(21, 23)]),
    ("1.3.14.3.2.26", "1.2.840.10040.4.1", &[(0, u32::MAX)]),
    ("1.3.14.3.2.26", "1.2.840.10040.4.3", &[(9, u32::MAX)]),
    ("1.3.14.3.2.26", "2.16.840.1.101.3.4.3.1", &[(21, 23)]),
    ("1.3.14.3.2.26", "2.16.840.1.101.3.4.3.2", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.4", "1.2.840.10040.4.1", &[(22, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.4", "1.2.840.10040.4.3", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.4", "2.16.840.1.101.3.4.3.1", &[(21, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.4", "2.16.840.1.101.3.4.3.2", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.1", "1.2.840.10040.4.1", &[(22, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.1", "1.2.840.10040.4.3", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.1", "2.16.840.1.101.3.4.3.1", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.1", "2.16.840.1.101.3.4.3.2", &[(21, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.2", "1.2.840.10040.4.3", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.2", "2.16.840.1.101.3.4.3.1", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.2", "2.16.840.1.101.3.4.3.2", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.3", "1.2.840.10040.4.3", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.3", "2.16.840.1.101.3.4.3.1", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.3", "2.16.840.1.101.3.4.3.2", &[(21, 23)]),
    ("1.3.14.3.2.26", "1.2.840.10045.2.1", &[(18, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.4", "1.2.840.10045.2.1", &[(21, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.1", "1.2.840.10045.2.1", &[(18, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.2", "1.2.840.10045.2.1", &[(18, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.3", "1.2.840.10045.2.1", &[(18, u32::MAX)]),
    ("1.2.840.113549.2.5", "1.2.840.10045.4.1", &[(21, 23)]),
    ("1.2.840.113549.2.5", "1.2.840.10045.4.3.1", &[(21, 23)]),
    ("1.2.840.113549.2.5", "1.2.840.10045.4.3.2", &[(21, 23)]),
    ("1.2.840.113549.2.5", "1.2.840.10045.4.3.3", &[(21, 23)]),
    ("1.2.840.113549.2.5", "1.2.840.10045.4.3.4", &[(21, 23)]),
    ("1.3.14.3.2.26", "1.2.840.10045.4.1", &[(18, u32::MAX)]),
    ("1.3.14.3.2.26", "1.2.840.10045.4.3.1", &[(21, 23)]),
    ("1.3.14.3.2.26", "1.2.840.10045.4.3.2", &[(21, 23)]),
    ("1.3.14.3.2.26", "1.2.840.10045.4.3.3", &[(21, 23)]),
    ("1.3.14.3.2.26", "1.2.840.10045.4.3.4", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.4", "1.2.840.10045.4.1", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.4", "1.2.840.10045.4.3.1", &[(21, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.4", "1.2.840.10045.4.3.2", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.4", "1.2.840.10045.4.3.3", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.4", "1.2.840.10045.4.3.4", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.1", "1.2.840.10045.4.1", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.1", "1.2.840.10045.4.3.1", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.1", "1.2.840.10045.4.3.2", &[(21, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.1", "1.2.840.10045.4.3.3", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.1", "1.2.840.10045.4.3.4", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.2", "1.2.840.10045.4.1", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.2", "1.2.840.10045.4.3.1", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.2", "1.2.840.10045.4.3.2", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.2", "1.2.840.10045.4.3.3", &[(21, u32::MAX)]),
    ("2.16.840.1.101.3.4.2.2", "1.2.840.10045.4.3.4", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.3", "1.2.840.10045.4.1", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.3", "1.2.840.10045.4.3.1", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.3", "1.2.840.10045.4.3.2", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.3", "1.2.840.10045.4.3.3", &[(21, 23)]),
    ("2.16.840.1.101.3.4.2.3", "1.2.840.10045.4.3.4", &[(21, u32::MAX)]),
];

/// The API levels of `[min, max]` on which Android cannot verify a JAR signature with this
/// (digest OID, signature OID) pair, as `"a-b, c-d"`; `None` when every level is supported.
fn unsupported_levels(digest_oid: &str, sig_oid: &str, min: u32, max: u32) -> Option<String> {
    let ranges = SUPPORTED_SIG_ALGS
        .iter()
        .find(|(d, s, _)| *d == digest_oid && *s == sig_oid)
        .map_or(&[][..], |(_, _, r)| *r);
    let mut gaps = Vec::new();
    let mut at = min;
    loop {
        // The supported range containing `at`, if any.
        match ranges.iter().find(|(lo, hi)| *lo <= at && at <= *hi) {
            Some(&(_, hi)) => {
                if hi >= max {
                    break;
                }
                at = hi + 1;
            }
            None => {
                let next = ranges
                    .iter()
                    .filter(|(lo, _)| *lo > at)
                    .map(|(lo, _)| *lo)
                    .min();
                let end = next.map_or(max, |n| (n - 1).min(max));
                gaps.push(if at == end {
                    at.to_string()
                } else {
                    format!("{at}-{end}")
                });
                match next {
                    Some(n) if n <= max => at = n,
                    _ => break,
                }
            }
        }
    }
    (!gaps.is_empty()).then(|| gaps.join(", "))
}

fn sig_key_kind(oid: &str) -> Option<KeyKind> {
    Some(match oid {
        "1.2.840.113549.1.1.1"
        | "1.2.840.113549.1.1.5"
        | "1.2.840.113549.1.1.11"
        | "1.2.840.113549.1.1.12"
        | "1.2.840.113549.1.1.13"
        | "1.2.840.113549.1.1.14" => KeyKind::Rsa,
        "1.2.840.10045.2.1"
        | "1.2.840.10045.4.1"
        | "1.2.840.10045.4.3.1"
        | "1.2.840.10045.4.3.2"
        | "1.2.840.10045.4.3.3"
        | "1.2.840.10045.4.3.4" => KeyKind::Ec,
        "1.2.840.10040.4.1"
        | "1.2.840.10040.4.3"
        | "2.16.840.1.101.3.4.3.1"
        | "2.16.840.1.101.3.4.3.2" => KeyKind::Dsa,
        _ => return None,
    })
}

/// Verifies a PKCS#7 signature block against the `.SF` bytes; returns the index of the signing
/// certificate (chosen by issuer and serial number, not by position in the bag).
fn verify_block(
    block: &[u8],
    sf: &[u8],
    block_name: &str,
    sf_name: &str,
    min: u32,
    max: u32,
) -> Result<CertificateInfo, Issue> {
    let parse_err = |m: &str| {
        Issue::new(
            "JAR_SIG_PARSE_EXCEPTION",
            format!("Failed to parse JAR signature {block_name}: {m}"),
        )
    };
    let sd = signed_data(block).ok_or_else(|| parse_err("malformed PKCS #7 SignedData"))?;
    if sd.signer_infos.is_empty() {
        return Err(Issue::new(
            "JAR_SIG_NO_SIGNERS",
            format!("JAR signature {block_name} contains no signers"),
        ));
    }
    let certs =
        parse_cert_set(sd.certificates).ok_or_else(|| parse_err("malformed certificate"))?;
    let to_try = if min < N {
        sd.signer_infos.get(..1).unwrap_or(&[])
    } else {
        // Bounded: every SignerInfo costs a signature check.
        sd.signer_infos
            .get(..MAX_SIGNER_INFOS)
            .unwrap_or(&sd.signer_infos[..])
    };
    // Each certificate's key is parsed once, and each (certificate, digest, signature) is
    // checked once, however many SignerInfos repeat it.
    let mut keys: HashMap<usize, Option<crate::crypto::PublicKey>> = HashMap::new();
    let mut tried: HashSet<(usize, Vec<u8>, &[u8])> = HashSet::new();
    let exc = |m: String| {
        Issue::new(
            "JAR_SIG_VERIFY_EXCEPTION",
            format!("Failed to verify JAR signature {block_name} against {sf_name}: {m}"),
        )
    };
    for si in to_try {
        let si = signer_info(si).ok_or_else(|| parse_err("malformed SignerInfo"))?;
        let hash = HashAlg::from_oid(&si.digest_oid);
        let key_kind = sig_key_kind(&si.sig_oid);
        let (Some(hash), Some(key_kind)) = (hash, key_kind) else {
            return Err(Issue::new(
                "JAR_SIG_UNSUPPORTED_SIG_ALG",
                format!(
                    "JAR signature {block_name} uses digest algorithm {} and signature algorithm {} which is not supported",
                    si.digest_oid, si.sig_oid
                ),
            ));
        };
        if let Some(levels) = unsupported_levels(&si.digest_oid, &si.sig_oid, min, max) {
            return Err(Issue::new(
                "JAR_SIG_UNSUPPORTED_SIG_ALG",
                format!(
                    "JAR signature {block_name} uses digest algorithm {} and signature algorithm {} which is not \
                     supported on API Level(s) {levels} for which this APK is being verified",
                    si.digest_oid, si.sig_oid,
                ),
            ));
        }
        let idx = certs
            .iter()
            .position(|c| {
                crate::name::integers_equal(c.serial_raw, si.serial)
                    && crate::name::names_equal(c.issuer_raw, si.issuer)
            })
            .ok_or_else(|| {
                exc("Signing certificate referenced in SignerInfo not found in SignedData".into())
            })?;
        let cert = certs
            .get(idx)
            .ok_or_else(|| exc("certificate index".into()))?;
        if cert.unsupported_critical {
            return Err(exc(
                "Signing certificate has unsupported critical extensions".into(),
            ));
        }
        if let Some((ds, nr)) = cert.key_usage {
            if !ds && !nr {
                return Err(exc(
                    "Signing certificate not authorized for use in digital signatures".into(),
                ));
            }
        }
        let key = keys
            .entry(idx)
            .or_insert_with(|| cert.public_key())
            .as_ref()
            .ok_or_else(|| exc("unsupported or malformed public key".into()))?;
        if key.kind() != key_kind {
            return Err(exc(
                "key algorithm does not match the signature algorithm".into()
            ));
        }
        let kind = match key_kind {
            KeyKind::Rsa => SigKind::RsaPkcs1,
            KeyKind::Ec => SigKind::Ecdsa,
            KeyKind::Dsa => SigKind::Dsa,
        };
        let digest = if let Some(attrs) = si.signed_attrs {
            if min < KITKAT {
                return Err(exc(format!(
                    "APKs with Signed Attributes broken on platforms with API Level < {KITKAT}"
                )));
            }
            let (content_type, message_digest) = parse_signed_attrs(attrs)
                .ok_or_else(|| exc("Failed to parse signed attributes".into()))?;
            if max >= N {
                let Some(ct) = content_type else {
                    return Err(exc("No Content Type in signed attributes".into()));
                };
                if ct != sd.econtent_type {
                    continue;
                }
            }
            let Some(md) = message_digest else {
                return Err(exc("No content digest in signed attributes".into()));
            };
            if hash.digest(sf) != md {
                continue;
            }
            hash.digest2(&[0x31], attrs.get(1..).unwrap_or(&[]))
        } else {
            hash.digest(sf)
        };
        if !tried.insert((idx, digest.clone(), si.signature)) {
            continue;
        }
        match key.verify_prehashed(kind, hash, &digest, si.signature) {
            Ok(true) => return Ok(cert.info()),
            Ok(false) => continue,
            Err(e) => return Err(exc(e)),
        }
    }
    Err(Issue::new(
        "JAR_SIG_DID_NOT_VERIFY",
        format!("JAR signature {block_name} did not verify against {sf_name}"),
    ))
}

struct SignedData<'a> {
    econtent_type: String,
    certificates: &'a [u8],
    signer_infos: Vec<&'a [u8]>,
}

fn signed_data(block: &[u8]) -> Option<SignedData<'_>> {
    let ci = parse_one(block)?;
    let mut r = ci.children();
    let ct = r.expect(tag::OID)?;
    if oid_string(ct.content) != "1.2.840.113549.1.7.2" {
        return None;
    }
    let explicit = r.expect(0xa0)?;
    let sd = parse_one(explicit.content)?;
    let mut s = sd.children();
    s.expect(tag::INTEGER)?;
    s.expect(tag::SET)?;
    let encap = s.expect(tag::SEQUENCE)?;
    let econtent_type = oid_string(encap.children().expect(tag::OID)?.content);
    let certificates = s.optional(0xa0).map(|t| t.content).unwrap_or(&[]);
    s.optional(0xa1);
    let infos = s.expect(tag::SET)?;
    let mut signer_infos = Vec::new();
    let mut ir = infos.children();
    while let Some(t) = ir.next_tlv() {
        signer_infos.push(t.raw);
    }
    Some(SignedData {
        econtent_type,
        certificates,
        signer_infos,
    })
}

struct SignerInfo<'a> {
    issuer: &'a [u8],
    serial: &'a [u8],
    digest_oid: String,
    signed_attrs: Option<&'a [u8]>,
    sig_oid: String,
    signature: &'a [u8],
}

fn signer_info(raw: &[u8]) -> Option<SignerInfo<'_>> {
    let t = parse_one(raw)?;
    let mut r = t.children();
    r.expect(tag::INTEGER)?;
    let sid = r.expect(tag::SEQUENCE)?; // IssuerAndSerialNumber (subjectKeyIdentifier is not used by Android)
    let mut sr = sid.children();
    let issuer = sr.expect(tag::SEQUENCE)?.raw;
    let serial = sr.expect(tag::INTEGER)?.content;
    let digest_oid = oid_string(
        r.expect(tag::SEQUENCE)?
            .children()
            .expect(tag::OID)?
            .content,
    );
    let signed_attrs = r.optional(0xa0).map(|a| a.raw);
    let sig_oid = oid_string(
        r.expect(tag::SEQUENCE)?
            .children()
            .expect(tag::OID)?
            .content,
    );
    let signature = r.expect(tag::OCTET_STRING)?.content;
    Some(SignerInfo {
        issuer,
        serial,
        digest_oid,
        signed_attrs,
        sig_oid,
        signature,
    })
}

/// (content-type OID, message digest) from a `[0] IMPLICIT SET OF Attribute`.
fn parse_signed_attrs(raw: &[u8]) -> Option<(Option<String>, Option<Vec<u8>>)> {
    let t = parse_one(raw)?;
    let mut r = Reader::new(t.content);
    let mut ct = None;
    let mut md = None;
    while let Some(attr) = r.next_tlv() {
        let mut a = attr.children();
        let oid = oid_string(a.expect(tag::OID)?.content);
        let values = a.expect(tag::SET)?;
        let mut vr = values.children();
        let first = vr.next_tlv();
        let single = vr.is_empty();
        match oid.as_str() {
            "1.2.840.113549.1.9.3" => {
                if ct.is_some() || !single {
                    return None;
                }
                ct = first
                    .filter(|v| v.tag == tag::OID)
                    .map(|v| oid_string(v.content));
            }
            "1.2.840.113549.1.9.4" => {
                if md.is_some() || !single {
                    return None;
                }
                md = first
                    .filter(|v| v.tag == tag::OCTET_STRING)
                    .map(|v| v.content.to_vec());
            }
            _ => {}
        }
    }
    Some((ct, md))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_sections_with_continuations_and_mixed_line_ends() {
        let mf = b"Manifest-Version: 1.0\r\nCreated-By: x\r\n\r\nName: a/very/long/na\r\n me.txt\r\nSHA1-Digest: AAAA\n\nName: b\rSHA-256-Digest: BBBB\r\n";
        let (main, sections) = parse_manifest(mf);
        let main = main.expect("main");
        assert_eq!(main.start, 0);
        assert_eq!(main.len, 40);
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[0].name(), Some("a/very/long/name.txt"));
        assert_eq!(sections[0].get("sha1-digest"), Some("AAAA"));
        assert_eq!(sections[1].name(), Some("b"));
        assert_eq!(sections[1].get("SHA-256-Digest"), Some("BBBB"));
    }

    #[test]
    fn base64_round_trip() {
        for data in [
            &b""[..],
            b"a",
            b"ab",
            b"abc",
            b"abcd",
            &[0xff, 0, 0x80, 7, 9],
        ] {
            assert_eq!(b64(&b64_encode(data)).as_deref(), Some(data));
        }
        assert_eq!(b64("not*base64"), None);
    }

    #[test]
    fn which_entries_need_a_manifest_digest() {
        assert!(digest_needed("classes.dex"));
        assert!(digest_needed("META-INF/services/x"));
        assert!(digest_needed("META-INF/x.txt"));
        assert!(!digest_needed("META-INF/CERT.RSA"));
        assert!(!digest_needed("META-INF/cert.sf"));
        assert!(!digest_needed("META-INF/SIG-foo"));
        assert!(!digest_needed("res/"));
    }

    #[test]
    fn signature_algorithm_support_by_sdk_range() {
        // SHA-256 with ecdsa-with-SHA256 (jarsigner's choice): 21+ only.
        let (sha256, ecdsa256) = ("2.16.840.1.101.3.4.2.1", "1.2.840.10045.4.3.2");
        assert_eq!(unsupported_levels(sha256, ecdsa256, 21, 30), None);
        assert_eq!(
            unsupported_levels(sha256, ecdsa256, 18, 23).as_deref(),
            Some("18-20")
        );
        // SHA-256 with the EC key OID (apksigner's choice): 18+.
        assert_eq!(
            unsupported_levels(sha256, "1.2.840.10045.2.1", 18, 30),
            None
        );
        // sha256WithRSAEncryption: 0-8 and 18+.
        assert_eq!(
            unsupported_levels(sha256, "1.2.840.113549.1.1.11", 1, 30).as_deref(),
            Some("9-17")
        );
        assert_eq!(
            unsupported_levels("1.2.3", "4.5.6", 5, 7).as_deref(),
            Some("5-7")
        );
    }

    #[test]
    fn digests_by_sdk_range() {
        let s = Section {
            start: 0,
            len: 0,
            attrs: vec![
                ("SHA1-Digest".into(), "AAAA".into()),
                ("SHA-256-Digest".into(), "BBBB".into()),
            ],
        };
        let pre18 = digests_to_verify(&s, "-Digest", 14, 17);
        assert_eq!(pre18.len(), 1);
        assert_eq!(pre18[0].0, HashAlg::Sha1);
        let post = digests_to_verify(&s, "-Digest", 18, 30);
        assert_eq!(post.len(), 1);
        assert_eq!(post[0].0, HashAlg::Sha256);
        assert_eq!(digests_to_verify(&s, "-Digest", 14, 30).len(), 2);
    }
}
