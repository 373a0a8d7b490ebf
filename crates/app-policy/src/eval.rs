//! Compiling a policy into indexes, and evaluating device inventories against it.

use crate::date::Date;
use crate::inventory::{App, Device, DeviceInventory};
use crate::model::*;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::ControlFlow;

/// A small multiplicative hasher (the "Fx" scheme) for the maps keyed by publisher names or by
/// [`KeyKind::hash`] values; SipHash is several times slower. Keys come from the policy;
/// inventory strings are only looked up, never inserted.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = mix(self.0, w);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(word(c));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            self.add(word(rest));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// One step of the Fx hash: fold an 8-byte word into the state.
#[inline]
fn mix(state: u64, w: u64) -> u64 {
    (state.rotate_left(5) ^ w).wrapping_mul(FX_SEED)
}

/// Up to 8 bytes as a little-endian word, zero-padded. Short tails use overlapping loads
/// rather than a byte loop or a variable-length copy (a call to memcpy).
#[inline]
fn word(b: &[u8]) -> u64 {
    if let Ok(w) = <[u8; 8]>::try_from(b) {
        return u64::from_le_bytes(w);
    }
    let n = b.len();
    if let (Some(lo), Some(hi)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) {
        // 4..=7 bytes: the first four and the last four, which may overlap.
        u64::from(u32::from_le_bytes(*lo)) | u64::from(u32::from_le_bytes(*hi)) << (8 * (n - 4))
    } else if let (Some(&first), Some(&mid), Some(&last)) = (b.first(), b.get(n / 2), b.last()) {
        // 1..=3 bytes: first, middle and last cover them all.
        u64::from(first) | u64::from(mid) << (8 * (n / 2)) | u64::from(last) << (8 * (n - 1))
    } else {
        0
    }
}

/// The final avalanche, so that every bit of a [`key_hash`] depends on every input bit.
#[inline]
fn finish(state: u64, len: usize) -> u64 {
    let mut x = state ^ (len as u64);
    x ^= x >> 32;
    x = x.wrapping_mul(0xd6e8_feb8_6659_fd93);
    x ^= x >> 32;
    x
}

/// The hash of an app id or of a dotted prefix of one: [`mix`] over its zero-padded 8-byte words,
/// then [`finish`].
#[inline]
fn key_hash(key: &[u8]) -> u64 {
    hash_with_prefixes(key, &[], |_, _| {})
}

/// The hash of a signer digest: [`mix`] of its first and last 8 bytes, then [`finish`].
///
/// A digest (64 hex digits for SHA-256) is identified, for a filter, by far fewer of its bytes,
/// and both ends are used so that digests written with leading or trailing zeros still spread;
/// the full comparison in [`Index::lookup`] settles every candidate. This costs two words where
/// [`key_hash`] would take eight.
#[inline]
fn signer_hash(s: &[u8]) -> u64 {
    match (s.first_chunk::<8>(), s.last_chunk::<8>()) {
        (Some(first), Some(last)) => finish(
            mix(
                mix(0, u64::from_le_bytes(*first)),
                u64::from_le_bytes(*last),
            ),
            s.len(),
        ),
        _ => key_hash(s),
    }
}

/// Where prefix keys can end: bit 7 of byte `b` of word `j` is set when some prefix key is
/// `8 * j + b + 1` bytes long (its last byte, a `.`, is byte `b` of the id's word `j`).
fn prefix_ends<'a>(prefixes: impl Iterator<Item = &'a str>) -> Vec<u64> {
    let mut ends: Vec<u64> = Vec::new();
    for last in prefixes.filter_map(|p| p.len().checked_sub(1)) {
        if ends.len() <= last / 8 {
            ends.resize(last / 8 + 1, 0);
        }
        if let Some(w) = ends.get_mut(last / 8) {
            *w |= 0x80 << (8 * (last % 8));
        }
    }
    ends
}

/// [`key_hash`] of `id`, and, in the same pass over its words, `f(len, key_hash(&id[..len]))`
/// for every prefix of `id` that ends with a `.` where [`prefix_ends`] says a prefix key can end,
/// shortest first. A prefix's hash is the id's state after the words before the dot, mixed with
/// the dot's word cut after the dot, so each costs one [`mix`] and one [`finish`].
#[inline]
fn hash_with_prefixes(id: &[u8], ends: &[u64], mut f: impl FnMut(usize, u64)) -> u64 {
    const DOTS: u64 = 0x2e2e_2e2e_2e2e_2e2e;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut state = 0;
    let mut step = |j: usize, w: u64| {
        if let Some(&ends) = ends.get(j) {
            // The top bit of each byte of `w` that is a '.' (exact: no carry crosses a byte),
            // kept where a prefix key can end.
            let x = w ^ DOTS;
            let mut dots = !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7) & ends;
            while dots != 0 {
                let byte = (dots.trailing_zeros() / 8) as usize;
                let len = 8 * j + byte + 1;
                // The prefix's last word: `w` cut after the dot (all of it when the dot is last).
                f(
                    len,
                    finish(mix(state, w & (u64::MAX >> (56 - 8 * byte))), len),
                );
                dots &= dots - 1;
            }
        }
        state = mix(state, w);
    };
    let mut chunks = id.chunks_exact(8);
    for (j, c) in (&mut chunks).enumerate() {
        step(j, word(c));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        step(id.len() / 8, word(rest));
    }
    finish(state, id.len())
}

/// A Bloom filter over the hashes ([`KeyKind::hash`]) of every index key.
///
/// Almost every app on a device matches no rule. The index of a 10,000-rule policy does not fit in
/// the CPU caches, so each lookup would be a cache miss; the filter answers "certainly absent" for
/// nearly all keys before the map is touched. It is blocked, the three bits of a key lie in one
/// 64-bit word so that a probe is one load, and has a word per key (64 KB for the benchmark's
/// 10,000 rules): fewer than 1 probe in 1,000 is then a false positive (0.7% at 16 bits per key),
/// each of which costs a map lookup.
#[derive(Debug, Clone)]
struct Bloom {
    words: Vec<u64>,
    mask: u64,
}

impl Bloom {
    fn with_keys(keys: usize) -> Self {
        let nwords = keys.max(64).next_power_of_two();
        Bloom {
            words: vec![0; nwords],
            mask: nwords as u64 - 1,
        }
    }

    /// The word a hash probes, and its three bits there.
    #[inline]
    fn probe(&self, h: u64) -> (usize, u64) {
        let bits = 1 << (h & 63) | 1 << ((h >> 6) & 63) | 1 << ((h >> 12) & 63);
        (((h >> 32) & self.mask) as usize, bits)
    }

    fn insert(&mut self, h: u64) {
        let (i, bits) = self.probe(h);
        if let Some(w) = self.words.get_mut(i) {
            *w |= bits;
        }
    }

    #[inline]
    fn may_contain(&self, h: u64) -> bool {
        let (i, bits) = self.probe(h);
        self.words.get(i).is_some_and(|w| w & bits == bits)
    }
}

/// Which index a key is in: the same string could be, say, both an exact app id and a signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    /// An exact app id.
    AppId,
    /// An app-id prefix ending with `.`.
    Prefix,
    /// A signer digest.
    Signer,
}

impl KeyKind {
    /// The hash a key of this kind is indexed by.
    fn hash(self, key: &str) -> u64 {
        match self {
            KeyKind::AppId | KeyKind::Prefix => key_hash(key.as_bytes()),
            KeyKind::Signer => signer_hash(key.as_bytes()),
        }
    }
}

/// One matcher in the index.
#[derive(Debug)]
struct Entry<'p> {
    kind: KeyKind,
    key: &'p str,
    hit: Hit<'p>,
}

/// The exact-id, prefix and signer matchers, keyed by [`KeyKind::hash`] behind one Bloom filter.
#[derive(Debug)]
struct Index<'p> {
    bloom: Bloom,
    /// Entries by key hash, each hash's in insertion (rule) order.
    map: FxMap<u64, Vec<Entry<'p>>>,
}

impl<'p> Index<'p> {
    fn new(entries: Vec<Entry<'p>>) -> Self {
        let mut map: FxMap<u64, Vec<Entry<'p>>> = FxMap::default();
        for e in entries {
            map.entry(e.kind.hash(e.key)).or_default().push(e);
        }
        let mut bloom = Bloom::with_keys(map.len());
        for &h in map.keys() {
            bloom.insert(h);
        }
        Index { bloom, map }
    }

    /// Calls `f(hit, value)` for every entry of `kind` whose key is `key` (of hash `h`).
    #[inline]
    fn lookup(
        &self,
        kind: KeyKind,
        key: &str,
        h: u64,
        value: &str,
        f: &mut impl FnMut(&Hit<'p>, &str) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if !self.bloom.may_contain(h) {
            return ControlFlow::Continue(());
        }
        if let Some(es) = self.map.get(&h) {
            for e in es.iter().filter(|e| e.kind == kind && e.key == key) {
                f(&e.hit, value)?;
            }
        }
        ControlFlow::Continue(())
    }
}

/// Which kind of matcher matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatcherKind {
    /// Exact `app_ids` entry.
    AppId,
    /// Glob `app_ids` entry.
    AppIdGlob,
    /// `signer_sha256` entry.
    SignerSha256,
    /// `signer_sha1` entry.
    SignerSha1,
    /// A vendor's `app_ids`.
    VendorAppId,
    /// A vendor's `package_prefixes`.
    VendorPrefix,
    /// A vendor's signer digests.
    VendorSigner,
    /// A vendor's `publishers`.
    VendorPublisher,
    /// Allowlist mode: matched by no rule.
    Unlisted,
}

impl MatcherKind {
    fn field(self) -> &'static str {
        match self {
            MatcherKind::AppId | MatcherKind::AppIdGlob | MatcherKind::VendorAppId => "apps[].id",
            MatcherKind::VendorPrefix | MatcherKind::Unlisted => "apps[].id",
            MatcherKind::SignerSha256 | MatcherKind::SignerSha1 | MatcherKind::VendorSigner => {
                "apps[].signers"
            }
            MatcherKind::VendorPublisher => "apps[].publisher",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            MatcherKind::AppId => "exact app_ids entry",
            MatcherKind::AppIdGlob => "app_ids glob",
            MatcherKind::SignerSha256 => "signer_sha256 entry",
            MatcherKind::SignerSha1 => "signer_sha1 entry",
            MatcherKind::VendorAppId => "app id listed by vendor",
            MatcherKind::VendorPrefix => "package prefix of vendor",
            MatcherKind::VendorSigner => "signer digest of vendor",
            MatcherKind::VendorPublisher => "publisher name of vendor",
            MatcherKind::Unlisted => "no allow rule",
        }
    }
}

/// A compile error (e.g. a glob that does not parse), located in the policy file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct CompileError {
    /// `file:line:column`.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit<'p> {
    pub(crate) rule: usize,
    pub(crate) kind: MatcherKind,
    pub(crate) pattern: &'p str,
    pub(crate) vendor: Option<&'p str>,
}

/// A policy compiled into lookup indexes. Build once, evaluate many devices.
#[derive(Debug)]
pub struct CompiledPolicy<'p> {
    policy: &'p Policy,
    /// Exact app ids, app-id prefixes (`com.vendor.*` globs and vendor prefixes) and signers.
    index: Index<'p>,
    /// Where prefix keys end ([`prefix_ends`]): only those dots of an app id start a lookup.
    prefix_ends: Vec<u64>,
    globs: GlobSet,
    glob_hits: Vec<Hit<'p>>,
    publishers: FxMap<String, Vec<Hit<'p>>>,
    exceptions_by_rule: HashMap<&'p str, Vec<&'p Exception>>,
}

/// `Some("com.x.")` for a glob `com.x.*` whose prefix has no other glob syntax.
fn dot_prefix_glob(pattern: &str) -> Option<&str> {
    let prefix = pattern.strip_suffix('*')?;
    (prefix.ends_with('.') && prefix.len() > 1 && !is_glob(prefix) && !prefix.contains('\\'))
        .then_some(prefix)
}

/// Builds a glob matcher for an app-id pattern (`*` and `?` cross `.`).
pub fn app_glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
}

impl<'p> CompiledPolicy<'p> {
    /// Compiles the indexes. Fails on the first glob that does not parse or rule that names an
    /// unknown vendor; run [`crate::check`] for a full report.
    pub fn new(policy: &'p Policy) -> Result<Self, CompileError> {
        let mut entries: Vec<Entry<'_>> = Vec::new();
        let mut entry = |kind, key: &'p str, hit| entries.push(Entry { kind, key, hit });
        let mut publishers: FxMap<String, Vec<Hit<'_>>> = FxMap::default();
        let mut gsb = GlobSetBuilder::new();
        let mut glob_hits = Vec::new();
        // Vendors by name, as `Policy::vendor` finds them (case-insensitive, first wins): one
        // lookup per rule, not a scan of the catalog.
        let mut vendors: HashMap<String, &'p Vendor> = HashMap::new();
        for v in &policy.vendors {
            vendors.entry(v.name.to_ascii_lowercase()).or_insert(v);
        }
        for (ri, rule) in policy.rules.iter().enumerate() {
            let hit = |kind, pattern, vendor| Hit {
                rule: ri,
                kind,
                pattern,
                vendor,
            };
            for a in &rule.app_ids {
                if let Some(prefix) = dot_prefix_glob(&a.value) {
                    // `com.vendor.*` is a prefix lookup, not a regex.
                    entry(
                        KeyKind::Prefix,
                        prefix,
                        hit(MatcherKind::AppIdGlob, a.value.as_str(), None),
                    );
                } else if is_glob(&a.value) {
                    let g = app_glob(&a.value).map_err(|e| CompileError {
                        location: policy.at(a.loc),
                        message: format!("bad glob `{}`: {}", a.value, e.kind()),
                    })?;
                    gsb.add(g);
                    glob_hits.push(hit(MatcherKind::AppIdGlob, a.value.as_str(), None));
                } else {
                    entry(
                        KeyKind::AppId,
                        a.value.as_str(),
                        hit(MatcherKind::AppId, a.value.as_str(), None),
                    );
                }
            }
            for s in &rule.signer_sha256 {
                entry(
                    KeyKind::Signer,
                    s.value.as_str(),
                    hit(MatcherKind::SignerSha256, s.value.as_str(), None),
                );
            }
            for s in &rule.signer_sha1 {
                entry(
                    KeyKind::Signer,
                    s.value.as_str(),
                    hit(MatcherKind::SignerSha1, s.value.as_str(), None),
                );
            }
            for vname in &rule.vendors {
                let v = vendors
                    .get(&vname.value.to_ascii_lowercase())
                    .copied()
                    .ok_or_else(|| CompileError {
                        location: policy.at(vname.loc),
                        message: format!("unknown vendor `{}`", vname.value),
                    })?;
                let vn = Some(v.name.as_str());
                for a in &v.app_ids {
                    entry(
                        KeyKind::AppId,
                        a.as_str(),
                        hit(MatcherKind::VendorAppId, a.as_str(), vn),
                    );
                }
                for p in &v.package_prefixes {
                    entry(
                        KeyKind::Prefix,
                        p.as_str(),
                        hit(MatcherKind::VendorPrefix, p.as_str(), vn),
                    );
                }
                for s in v.signer_sha256.iter().chain(&v.signer_sha1) {
                    entry(
                        KeyKind::Signer,
                        s.as_str(),
                        hit(MatcherKind::VendorSigner, s.as_str(), vn),
                    );
                }
                for p in &v.publishers {
                    publishers.entry(p.to_lowercase()).or_default().push(hit(
                        MatcherKind::VendorPublisher,
                        p.as_str(),
                        vn,
                    ));
                }
            }
        }
        let globs = gsb.build().map_err(|e| CompileError {
            location: policy.file.clone(),
            message: format!("glob set: {e}"),
        })?;
        let mut exceptions_by_rule: HashMap<&str, Vec<&Exception>> = HashMap::new();
        for e in &policy.exceptions {
            exceptions_by_rule
                .entry(e.rule.value.as_str())
                .or_default()
                .push(e);
        }
        let prefix_ends = prefix_ends(
            entries
                .iter()
                .filter(|e| e.kind == KeyKind::Prefix)
                .map(|e| e.key),
        );
        Ok(CompiledPolicy {
            policy,
            index: Index::new(entries),
            prefix_ends,
            globs,
            glob_hits,
            publishers,
            exceptions_by_rule,
        })
    }

    /// The policy this was compiled from.
    pub fn policy(&self) -> &'p Policy {
        self.policy
    }

    /// Whether `app` may have a matcher hit: false when the Bloom filter rules out its id, every
    /// dotted prefix of it and every signer, and no glob or publisher matcher can apply. Each key is
    /// hashed once, in one pass over the id and one over each signer.
    #[inline]
    fn may_hit(&self, app: &App) -> bool {
        let bloom = &self.index.bloom;
        let mut maybe = false;
        let h = hash_with_prefixes(app.id.as_bytes(), &self.prefix_ends, |_, h| {
            maybe |= bloom.may_contain(h);
        });
        maybe
            || bloom.may_contain(h)
            || app
                .signers
                .iter()
                .any(|s| bloom.may_contain(signer_hash(s.as_bytes())))
            || (!self.glob_hits.is_empty() && self.globs.is_match(app.id.as_str()))
            || (app.publisher.is_some() && !self.publishers.is_empty())
    }

    /// Calls `f` for every matcher hit of `app` (any rule, unfiltered).
    pub(crate) fn for_each_hit(
        &self,
        app: &App,
        scratch: &mut Vec<usize>,
        mut f: impl FnMut(&Hit<'p>, &str),
    ) {
        let _ = self.try_for_each_hit(app, scratch, |h, v| {
            f(h, v);
            ControlFlow::Continue(())
        });
    }

    /// [`Self::for_each_hit`], stopping as soon as `f` breaks (the shadowed-rule search of
    /// `check` bounds its work with it).
    pub(crate) fn try_for_each_hit(
        &self,
        app: &App,
        scratch: &mut Vec<usize>,
        mut f: impl FnMut(&Hit<'p>, &str) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        // The calls come in a fixed order (exact id, prefixes shortest first, globs, signers,
        // publisher), which decides among several matchers of one rule.
        let id = app.id.as_str();
        self.index
            .lookup(KeyKind::AppId, id, key_hash(id.as_bytes()), id, &mut f)?;
        let mut flow = ControlFlow::Continue(());
        hash_with_prefixes(id.as_bytes(), &self.prefix_ends, |len, h| {
            if flow.is_continue() {
                if let Some(prefix) = id.get(..len) {
                    flow = self.index.lookup(KeyKind::Prefix, prefix, h, id, &mut f);
                }
            }
        });
        flow?;
        if !self.glob_hits.is_empty() {
            scratch.clear();
            self.globs.matches_into(app.id.as_str(), scratch);
            for &gi in scratch.iter() {
                if let Some(h) = self.glob_hits.get(gi) {
                    f(h, &app.id)?;
                }
            }
        }
        for s in &app.signers {
            self.index
                .lookup(KeyKind::Signer, s, signer_hash(s.as_bytes()), s, &mut f)?;
        }
        if let Some(p) = &app.publisher {
            if !self.publishers.is_empty() {
                if let Some(hs) = self.publishers.get(&p.to_lowercase()) {
                    for h in hs {
                        f(h, p)?;
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// Evaluates one device at date `at`. Pure and deterministic: findings are sorted by
    /// app id then rule, whatever the order of apps, exceptions or vendors.
    pub fn evaluate(&self, inv: &DeviceInventory, at: Date) -> DeviceReport {
        let dev = &inv.device;
        let mut findings = Vec::new();
        let mut scratch = Vec::new();
        for app in &inv.apps {
            // Nearly every app matches nothing, which the Bloom filter tells without touching
            // the map; this loop stays small and the lookups are out of line.
            let best = if self.may_hit(app) {
                self.best_hit(dev, app, at, &mut scratch)
            } else {
                None
            };
            match best {
                Some((hit, value)) => {
                    if let Some(rule) = self.policy.rules.get(hit.rule) {
                        findings.push(self.finding(inv, app, rule, &hit, value, at));
                    }
                }
                None if self.policy.mode == Mode::Allowlist => {
                    findings.push(self.unlisted(app, at));
                }
                None => {}
            }
        }
        findings.sort_by(|a, b| (&a.app_id, &a.rule).cmp(&(&b.app_id, &b.rule)));
        findings.dedup();
        let compliant = !findings.iter().any(|f| f.status == Status::Violation);
        DeviceReport {
            device_id: dev.id.clone(),
            platform: dev.platform,
            compliant,
            findings,
        }
    }

    /// The hit of the first rule that applies to `dev` at `at`, and the inventory value it matched.
    /// Kept out of line so that the loop over apps in [`Self::evaluate`] stays small.
    #[inline(never)]
    fn best_hit(
        &self,
        dev: &Device,
        app: &App,
        at: Date,
        scratch: &mut Vec<usize>,
    ) -> Option<(Hit<'p>, String)> {
        let mut best: Option<(Hit<'p>, String)> = None;
        self.for_each_hit(app, scratch, |h, value| {
            if best.as_ref().is_some_and(|(b, _)| b.rule <= h.rule) {
                return;
            }
            let Some(rule) = self.policy.rules.get(h.rule) else {
                return;
            };
            if !rule.applies_to(dev.platform)
                || !rule.scope.covers(&dev.groups, dev.ownership)
                || rule.effective.is_some_and(|e| e > at)
            {
                return;
            }
            best = Some((*h, value.to_string()));
        });
        best
    }

    fn unlisted(&self, app: &App, at: Date) -> Finding {
        let p = self.policy;
        let deadline = p.effective.map(|d| d.add_days(p.grace_days));
        let in_grace = deadline.is_some_and(|d| at < d);
        Finding {
            app_id: app.id.clone(),
            rule: ALLOWLIST_RULE.to_string(),
            status: if in_grace {
                Status::InGrace
            } else {
                Status::Violation
            },
            deadline,
            remedy: Some(Remedy::Uninstall),
            because: format!(
                "allowlist mode: apps[].id `{}` is matched by no allow or review rule",
                app.id
            ),
            matched: MatchInfo {
                kind: MatcherKind::Unlisted,
                pattern: String::new(),
                field: MatcherKind::Unlisted.field(),
                value: app.id.clone(),
                vendor: None,
            },
            exception: None,
        }
    }

    fn finding(
        &self,
        inv: &DeviceInventory,
        app: &App,
        rule: &Rule,
        hit: &Hit<'p>,
        value: String,
        at: Date,
    ) -> Finding {
        let field = hit.kind.field();
        let (describe, pattern, id) = (hit.kind.describe(), hit.pattern, &rule.id);
        // Written into one buffer of the usual size, with the location (`Policy::at`) in place:
        // `format!` would grow its buffer twice and allocate the location separately.
        let (file, line, column) = (&self.policy.file, rule.loc.line, rule.loc.column);
        let mut because = String::with_capacity(256);
        let _ = match hit.vendor {
            Some(v) => write!(
                because,
                "{field} `{value}` matched {describe} `{v}` (`{pattern}`) of rule {id} ({file}:{line}:{column})"
            ),
            None => write!(
                because,
                "{field} `{value}` matched {describe} `{pattern}` of rule {id} ({file}:{line}:{column})"
            ),
        };
        let matched = MatchInfo {
            kind: hit.kind,
            pattern: hit.pattern.to_string(),
            field,
            value,
            vendor: hit.vendor.map(str::to_string),
        };
        let (status, deadline, remedy, exception) = match rule.action {
            Action::Allow => (Status::Allowed, None, None, None),
            Action::Review => (Status::Review, None, None, None),
            Action::Prohibit => {
                let covering: Vec<&Exception> = self
                    .exceptions_by_rule
                    .get(rule.id.as_str())
                    .map(|v| {
                        v.iter()
                            .copied()
                            .filter(|e| e.covers(&inv.device.id, &inv.device.groups, &app.id))
                            .collect()
                    })
                    .unwrap_or_default();
                // Among active exceptions take the one lasting longest (then smallest id), so
                // the result does not depend on their order in the file.
                let active = covering
                    .iter()
                    .filter(|e| e.active(at))
                    .max_by(|a, b| a.expires.cmp(&b.expires).then_with(|| b.id.cmp(&a.id)));
                let remedy = Some(rule.remedy.unwrap_or(Remedy::Uninstall));
                if let Some(e) = active {
                    because.push_str(&format!(
                        "; exception {} (approved by {}) applies until {}",
                        e.id, e.approver, e.expires
                    ));
                    (
                        Status::Excepted,
                        Some(e.expires),
                        remedy,
                        Some(ExceptionRef {
                            id: e.id.clone(),
                            expires: e.expires,
                        }),
                    )
                } else {
                    let mut lapsed: Vec<&&Exception> =
                        covering.iter().filter(|e| e.expires < at).collect();
                    lapsed.sort_by(|a, b| a.id.cmp(&b.id));
                    for e in lapsed {
                        because.push_str(&format!("; exception {} expired on {}", e.id, e.expires));
                    }
                    let deadline = rule.deadline();
                    if deadline.is_some_and(|d| at < d) {
                        because.push_str(&format!(
                            "; in grace period of {} days until {}",
                            rule.grace_days,
                            deadline.map(|d| d.to_string()).unwrap_or_default()
                        ));
                        (Status::InGrace, deadline, remedy, None)
                    } else {
                        (Status::Violation, deadline, remedy, None)
                    }
                }
            }
        };
        Finding {
            app_id: app.id.clone(),
            rule: rule.id.clone(),
            status,
            deadline,
            remedy,
            because,
            matched,
            exception,
        }
    }

    /// Evaluates many devices; the report is sorted by device id.
    pub fn evaluate_all(&self, inventories: &[DeviceInventory], at: Date) -> Report {
        let mut devices: Vec<DeviceReport> =
            inventories.iter().map(|d| self.evaluate(d, at)).collect();
        devices.sort_by(|a, b| a.device_id.cmp(&b.device_id));
        Report {
            policy: self.policy.name.clone(),
            version: self.policy.version,
            at,
            compliant: devices.iter().all(|d| d.compliant),
            devices,
        }
    }
}

/// The rule id reported for apps that an allowlist policy does not list.
pub const ALLOWLIST_RULE: &str = "(allowlist)";

/// The outcome for one app under one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Prohibited and present past the deadline, without an active exception.
    Violation,
    /// Prohibited, but the grace period has not ended.
    InGrace,
    /// Prohibited, but an active exception covers it.
    Excepted,
    /// Explicitly allowed.
    Allowed,
    /// Flagged for review.
    Review,
}

/// How a rule matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchInfo {
    /// Matcher kind.
    pub kind: MatcherKind,
    /// The pattern, digest, prefix or publisher that matched.
    pub pattern: String,
    /// Inventory field it matched (`apps[].id`, `apps[].signers`, `apps[].publisher`).
    pub field: &'static str,
    /// The value of that field.
    pub value: String,
    /// Vendor, when the match came through the vendor catalog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
}

/// The exception applied to a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExceptionRef {
    /// Exception id.
    pub id: String,
    /// Last day it applies.
    pub expires: Date,
}

/// One app's outcome on one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The app.
    pub app_id: String,
    /// The deciding rule id (or [`ALLOWLIST_RULE`]).
    pub rule: String,
    /// Outcome.
    pub status: Status,
    /// When it becomes (or became) a violation; for `excepted`, when the exception ends.
    pub deadline: Option<Date>,
    /// What to do about it.
    pub remedy: Option<Remedy>,
    /// Human explanation: matcher, field, exception, grace.
    pub because: String,
    /// Structured form of the match.
    pub matched: MatchInfo,
    /// Applied exception.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<ExceptionRef>,
}

/// One device's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceReport {
    /// Device id.
    pub device_id: String,
    /// Platform.
    pub platform: Platform,
    /// No finding has status `violation`.
    pub compliant: bool,
    /// Findings, sorted by app id then rule.
    pub findings: Vec<Finding>,
}

/// All devices' outcomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Policy name.
    pub policy: String,
    /// Policy version.
    pub version: Option<u64>,
    /// Evaluation date.
    pub at: Date,
    /// Every device is compliant.
    pub compliant: bool,
    /// Per device, sorted by id.
    pub devices: Vec<DeviceReport>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids with dots before, on and after 8-byte word boundaries, some over 128 bytes long.
    fn ids() -> Vec<String> {
        let segs = [
            "a",
            "com",
            "abcdef",
            "abcdefg",
            "abcdefgh",
            "é",
            "",
            "x1234567890123",
        ];
        let mut ids = vec![String::new(), ".".to_string(), "..".to_string()];
        for (i, a) in segs.iter().enumerate() {
            for (j, b) in segs.iter().enumerate() {
                for c in segs.iter().skip((i + j) % segs.len()).take(3) {
                    ids.push(format!("{a}.{b}.{c}"));
                    ids.push(format!("{a}.{b}.{c}."));
                    ids.push(format!("{a}{b}.{c}.{a}.{b}{c}.{c}.{c}.{a}.{b}"));
                }
            }
        }
        ids
    }

    #[test]
    fn word_is_the_zero_padded_little_endian_value() {
        let bytes = *b"\x01\x02\x03\x04\x05\x06\x07\x08";
        for n in 0..=8 {
            let mut padded = [0u8; 8];
            padded[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(word(&bytes[..n]), u64::from_le_bytes(padded), "{n} bytes");
        }
    }

    #[test]
    fn prefix_hashes_are_the_key_hashes_of_the_prefixes() {
        // Every position allowed: every dotted prefix is reported.
        let all = vec![0x8080_8080_8080_8080; 64];
        for id in ids() {
            let mut seen = Vec::new();
            let h = hash_with_prefixes(id.as_bytes(), &all, |len, h| seen.push((len, h)));
            assert_eq!(h, key_hash(id.as_bytes()), "{id}");
            let expected: Vec<(usize, u64)> = id
                .match_indices('.')
                .map(|(i, _)| (i + 1, key_hash(&id.as_bytes()[..=i])))
                .collect();
            assert_eq!(seen, expected, "{id}");
        }
    }

    #[test]
    fn only_prefixes_ending_where_a_key_ends_are_reported() {
        let keys = [
            "com.",
            "abcdefg.",
            "abcdefgh.",
            "a.abcdefgh.x1234567890123.",
        ];
        let ends = prefix_ends(keys.iter().copied());
        for id in ids() {
            let mut seen = Vec::new();
            hash_with_prefixes(id.as_bytes(), &ends, |len, _| seen.push(len));
            let expected: Vec<usize> = id
                .match_indices('.')
                .map(|(i, _)| i + 1)
                .filter(|&len| keys.iter().any(|k| k.len() == len))
                .collect();
            assert_eq!(seen, expected, "{id}");
        }
    }

    #[test]
    fn signer_hash_reads_both_ends() {
        let zeros = |n: u64| format!("{n:064x}");
        assert_ne!(
            signer_hash(zeros(1).as_bytes()),
            signer_hash(zeros(2).as_bytes())
        );
        let high = |c: char| format!("{c}{}", "0".repeat(63));
        assert_ne!(
            signer_hash(high('1').as_bytes()),
            signer_hash(high('2').as_bytes())
        );
        assert_eq!(signer_hash(b"short"), key_hash(b"short"));
    }

    #[test]
    fn bloom_has_no_false_negatives() {
        let ids = ids();
        let mut bloom = Bloom::with_keys(ids.len());
        for id in &ids {
            bloom.insert(key_hash(id.as_bytes()));
        }
        assert!(ids
            .iter()
            .all(|id| bloom.may_contain(key_hash(id.as_bytes()))));
    }
}
