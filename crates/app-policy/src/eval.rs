//! Compiling a policy into indexes, and evaluating device inventories against it.

use crate::date::Date;
use crate::inventory::{App, DeviceInventory};
use crate::model::*;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Serialize;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A small multiplicative hasher (the "Fx" scheme) for the lookup indexes: hashing app ids
/// and digests dominates evaluation time, and SipHash is several times slower. Keys come from
/// the policy; inventory strings are only looked up, never inserted.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.add(u64::from_le_bytes(b));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            if let Some(dst) = b.get_mut(..rest.len()) {
                dst.copy_from_slice(rest);
            }
            self.add(u64::from_le_bytes(b));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
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

/// The key up to and including its second `.`, or the whole key when it has fewer than two.
///
/// Every exact app id and every prefix of two or more segments shares its head with any app id it
/// matches, so an app whose head is absent from [`CompiledPolicy::heads`] matches none of them.
#[inline]
fn head2(key: &[u8]) -> &[u8] {
    let mut dots = 0;
    for (i, &b) in key.iter().enumerate() {
        if b == b'.' {
            dots += 1;
            if dots == 2 {
                return key.get(..=i).unwrap_or(key);
            }
        }
    }
    key
}

/// A Bloom filter over every key of the lookup indexes.
///
/// Almost every app on a device matches no rule. The indexes of a 10,000-rule policy do not fit in
/// the CPU caches, so each lookup would be a cache miss; the filter (16 bits per key, two probes)
/// fits, and answers "certainly absent" for nearly all keys before any map is touched.
#[derive(Debug, Clone)]
struct Bloom {
    bits: Vec<u64>,
    mask: u64,
}

impl Bloom {
    fn with_keys(keys: usize) -> Self {
        let nbits = (keys.saturating_mul(16)).max(4096).next_power_of_two() as u64;
        Bloom {
            bits: vec![0; (nbits / 64) as usize],
            mask: nbits - 1,
        }
    }

    /// A two-lane multiplicative hash: the lanes have no data dependency on each other, so a
    /// 64-digit signer digest costs four multiply latencies instead of eight.
    #[inline]
    fn hash(key: &[u8]) -> u64 {
        // Full words load directly; a short tail is assembled byte by byte (a variable-length
        // `copy_from_slice` would be a call to memcpy per key).
        let word = |c: &[u8]| match <[u8; 8]>::try_from(c) {
            Ok(w) => u64::from_le_bytes(w),
            Err(_) => c
                .iter()
                .enumerate()
                .fold(0u64, |w, (i, &b)| w | u64::from(b) << (8 * i)),
        };
        let (mut a, mut b) = (0u64, 0x9e37_79b9_7f4a_7c15u64);
        let mut pairs = key.chunks_exact(16);
        for c in &mut pairs {
            let (x, y) = c.split_at(8);
            a = (a.rotate_left(5) ^ word(x)).wrapping_mul(FX_SEED);
            b = (b.rotate_left(5) ^ word(y)).wrapping_mul(FX_SEED);
        }
        let rest = pairs.remainder();
        let (x, y) = rest.split_at(rest.len().min(8));
        a = (a.rotate_left(5) ^ word(x)).wrapping_mul(FX_SEED);
        b = (b.rotate_left(5) ^ word(y)).wrapping_mul(FX_SEED);
        // Final avalanche so both 32-bit halves are usable as probes.
        let mut x = a ^ b.rotate_left(32) ^ (key.len() as u64);
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }

    #[inline]
    fn probes(&self, h: u64) -> [u64; 2] {
        [
            h & self.mask,
            (h.rotate_left(32).wrapping_mul(FX_SEED) >> 7) & self.mask,
        ]
    }

    fn insert(&mut self, key: &[u8]) {
        for bit in self.probes(Self::hash(key)) {
            if let Some(w) = self.bits.get_mut((bit / 64) as usize) {
                *w |= 1 << (bit % 64);
            }
        }
    }

    #[inline]
    fn may_contain(&self, key: &[u8]) -> bool {
        self.probes(Self::hash(key)).iter().all(|&bit| {
            self.bits
                .get((bit / 64) as usize)
                .is_some_and(|w| w & (1 << (bit % 64)) != 0)
        })
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
    exact: FxMap<&'p str, Vec<Hit<'p>>>,
    prefixes: FxMap<&'p str, Vec<Hit<'p>>>,
    /// Longest key in `prefixes`, to stop scanning an app id early.
    max_prefix_len: usize,
    globs: GlobSet,
    glob_hits: Vec<Hit<'p>>,
    signers: FxMap<&'p str, Vec<Hit<'p>>>,
    publishers: FxMap<String, Vec<Hit<'p>>>,
    /// Prefilter over the keys of `exact`, `prefixes` and `signers`.
    bloom: Bloom,
    /// Prefilter over the two-segment heads ([`head2`]) of the `exact` and `prefixes` keys: one probe
    /// rules out an app id before any per-dot work.
    heads: Bloom,
    /// Prefix keys of a single segment (`com.`), which [`head2`] cannot cover.
    short_prefixes: bool,
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
        let mut exact: FxMap<&str, Vec<Hit<'_>>> = FxMap::default();
        let mut prefixes: FxMap<&str, Vec<Hit<'_>>> = FxMap::default();
        let mut signers: FxMap<&str, Vec<Hit<'_>>> = FxMap::default();
        let mut publishers: FxMap<String, Vec<Hit<'_>>> = FxMap::default();
        let mut gsb = GlobSetBuilder::new();
        let mut glob_hits = Vec::new();
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
                    prefixes.entry(prefix).or_default().push(hit(
                        MatcherKind::AppIdGlob,
                        a.value.as_str(),
                        None,
                    ));
                } else if is_glob(&a.value) {
                    let g = app_glob(&a.value).map_err(|e| CompileError {
                        location: policy.at(a.loc),
                        message: format!("bad glob `{}`: {}", a.value, e.kind()),
                    })?;
                    gsb.add(g);
                    glob_hits.push(hit(MatcherKind::AppIdGlob, a.value.as_str(), None));
                } else {
                    exact.entry(a.value.as_str()).or_default().push(hit(
                        MatcherKind::AppId,
                        a.value.as_str(),
                        None,
                    ));
                }
            }
            for s in &rule.signer_sha256 {
                signers.entry(s.value.as_str()).or_default().push(hit(
                    MatcherKind::SignerSha256,
                    s.value.as_str(),
                    None,
                ));
            }
            for s in &rule.signer_sha1 {
                signers.entry(s.value.as_str()).or_default().push(hit(
                    MatcherKind::SignerSha1,
                    s.value.as_str(),
                    None,
                ));
            }
            for vname in &rule.vendors {
                let v = policy.vendor(&vname.value).ok_or_else(|| CompileError {
                    location: policy.at(vname.loc),
                    message: format!("unknown vendor `{}`", vname.value),
                })?;
                let vn = Some(v.name.as_str());
                for a in &v.app_ids {
                    exact.entry(a.as_str()).or_default().push(hit(
                        MatcherKind::VendorAppId,
                        a.as_str(),
                        vn,
                    ));
                }
                for p in &v.package_prefixes {
                    prefixes.entry(p.as_str()).or_default().push(hit(
                        MatcherKind::VendorPrefix,
                        p.as_str(),
                        vn,
                    ));
                }
                for s in v.signer_sha256.iter().chain(&v.signer_sha1) {
                    signers.entry(s.as_str()).or_default().push(hit(
                        MatcherKind::VendorSigner,
                        s.as_str(),
                        vn,
                    ));
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
        let max_prefix_len = prefixes.keys().map(|k| k.len()).max().unwrap_or(0);
        let mut heads = Bloom::with_keys(exact.len() + prefixes.len());
        let mut short_prefixes = false;
        for k in exact.keys() {
            heads.insert(head2(k.as_bytes()));
        }
        for k in prefixes.keys() {
            if k.bytes().filter(|&b| b == b'.').count() < 2 {
                short_prefixes = true;
            } else {
                heads.insert(head2(k.as_bytes()));
            }
        }
        let mut bloom = Bloom::with_keys(exact.len() + prefixes.len() + signers.len());
        for k in exact.keys().chain(prefixes.keys()) {
            bloom.insert(k.as_bytes());
        }
        for k in signers.keys() {
            bloom.insert(k.as_bytes());
        }
        Ok(CompiledPolicy {
            bloom,
            heads,
            short_prefixes,
            policy,
            exact,
            prefixes,
            max_prefix_len,
            globs,
            glob_hits,
            signers,
            publishers,
            exceptions_by_rule,
        })
    }

    /// The policy this was compiled from.
    pub fn policy(&self) -> &'p Policy {
        self.policy
    }

    /// Calls `f` for every matcher hit of `app` (any rule, unfiltered).
    pub(crate) fn for_each_hit(
        &self,
        app: &App,
        scratch: &mut Vec<usize>,
        mut f: impl FnMut(&Hit<'p>, &str),
    ) {
        let id = app.id.as_bytes();
        // Nearly every app matches nothing: one probe on its two-segment head settles that,
        // unless the policy has single-segment prefixes such as `com.*`.
        if self.short_prefixes || self.heads.may_contain(head2(id)) {
            if self.bloom.may_contain(id) {
                if let Some(hs) = self.exact.get(app.id.as_str()) {
                    hs.iter().for_each(|h| f(h, &app.id));
                }
            }
            if !self.prefixes.is_empty() {
                // Prefix keys end with '.', so only the prefixes ending at a dot are candidates.
                for (i, &b) in id.iter().enumerate().take(self.max_prefix_len) {
                    if b == b'.' {
                        let end = i.saturating_add(1);
                        if let Some(prefix) = app.id.get(..end) {
                            if self.bloom.may_contain(prefix.as_bytes()) {
                                if let Some(hs) = self.prefixes.get(prefix) {
                                    hs.iter().for_each(|h| f(h, &app.id));
                                }
                            }
                        }
                    }
                }
            }
        }
        if !self.glob_hits.is_empty() {
            scratch.clear();
            self.globs.matches_into(app.id.as_str(), scratch);
            for &gi in scratch.iter() {
                if let Some(h) = self.glob_hits.get(gi) {
                    f(h, &app.id);
                }
            }
        }
        for s in &app.signers {
            if self.bloom.may_contain(s.as_bytes()) {
                if let Some(hs) = self.signers.get(s.as_str()) {
                    hs.iter().for_each(|h| f(h, s));
                }
            }
        }
        if let Some(p) = &app.publisher {
            if !self.publishers.is_empty() {
                if let Some(hs) = self.publishers.get(&p.to_lowercase()) {
                    hs.iter().for_each(|h| f(h, p));
                }
            }
        }
    }

    /// Evaluates one device at date `at`. Pure and deterministic: findings are sorted by
    /// app id then rule, whatever the order of apps, exceptions or vendors.
    pub fn evaluate(&self, inv: &DeviceInventory, at: Date) -> DeviceReport {
        let dev = &inv.device;
        let mut findings = Vec::new();
        let mut scratch = Vec::new();
        for app in &inv.apps {
            let mut best: Option<(Hit<'p>, String)> = None;
            self.for_each_hit(app, &mut scratch, |h, value| {
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
        let mut because = match hit.vendor {
            Some(v) => format!(
                "{field} `{value}` matched {} `{v}` (`{}`) of rule {} ({})",
                hit.kind.describe(),
                hit.pattern,
                rule.id,
                self.policy.at(rule.loc)
            ),
            None => format!(
                "{field} `{value}` matched {} `{}` of rule {} ({})",
                hit.kind.describe(),
                hit.pattern,
                rule.id,
                self.policy.at(rule.loc)
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
