//! `policy check`: everything wrong or risky in a policy, with locations.

use crate::date::Date;
use crate::eval::{app_glob, CompiledPolicy};
use crate::inventory::App;
use crate::model::*;
use serde::Serialize;
use std::collections::HashMap;
use std::ops::ControlFlow;

/// Most matcher hits the shadowed-rule search visits in one `check`. Real policies need a few
/// per rule; a policy where thousands of rules match the same app id would need millions per
/// rule (quadratic), so past this budget the search stops with a `shadow-search-truncated`
/// warning naming the rule it reached.
pub const SHADOW_BUDGET: u64 = 20_000_000;

/// Longest an exception may last (days from grant to expiry) before `check` warns
/// `long-exception`: a year, leap day included. The server uses it as its default limit on
/// exceptions requested through the API (`max_exception_days`).
pub const LONG_EXCEPTION_DAYS: u32 = 366;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The policy must not be used.
    Error,
    /// The policy works but probably not as intended.
    Warning,
}

/// One finding of `check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable code, e.g. `duplicate-id`.
    pub code: &'static str,
    /// `file:line:column`.
    pub location: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}: {sev}[{}]: {}",
            self.location, self.code, self.message
        )
    }
}

/// Whether any diagnostic is an error.
pub fn has_errors(d: &[Diagnostic]) -> bool {
    d.iter().any(|d| d.severity == Severity::Error)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Representative system apps an allowlist must not flag.
const SYSTEM_APPS: &[(Platform, &[&str])] = &[
    (
        Platform::Android,
        &[
            "android",
            "com.android.systemui",
            "com.android.settings",
            "com.android.phone",
            "com.google.android.gms",
            "com.android.vending",
        ],
    ),
    (
        Platform::Ios,
        &[
            "com.apple.Preferences",
            "com.apple.mobilesafari",
            "com.apple.MobileSMS",
        ],
    ),
    (Platform::Macos, &["com.apple.finder", "com.apple.Safari"]),
];

/// Checks a policy at date `at` (for expiry). Diagnostics are sorted by location.
pub fn check(p: &Policy, at: Date) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut push = |severity, code, loc: Loc, message: String| {
        out.push((
            loc,
            Diagnostic {
                severity,
                code,
                location: p.at(loc),
                message,
            },
        ));
    };
    use Severity::{Error, Warning};

    // Vendors and rules by name, as `Policy::vendor` and `Policy::rule` find them (first
    // wins): lookups, not scans, so `check` stays linear in the number of references.
    let mut vendor_by_name: HashMap<String, &Vendor> = HashMap::new();
    for v in &p.vendors {
        vendor_by_name
            .entry(v.name.to_ascii_lowercase())
            .or_insert(v);
    }
    let known_vendor = |name: &str| vendor_by_name.contains_key(&name.to_ascii_lowercase());
    let mut rule_by_id: HashMap<&str, &Rule> = HashMap::new();
    for r in &p.rules {
        rule_by_id.entry(r.id.as_str()).or_insert(r);
    }

    // Duplicates.
    let mut seen: HashMap<&str, Loc> = HashMap::new();
    for r in &p.rules {
        if let Some(first) = seen.insert(r.id.as_str(), r.loc) {
            push(
                Error,
                "duplicate-id",
                r.loc,
                format!("rule id `{}` already used at {}", r.id, p.at(first)),
            );
        }
    }
    let mut seen: HashMap<&str, Loc> = HashMap::new();
    for e in &p.exceptions {
        if let Some(first) = seen.insert(e.id.as_str(), e.loc) {
            push(
                Error,
                "duplicate-id",
                e.loc,
                format!("exception id `{}` already used at {}", e.id, p.at(first)),
            );
        }
    }
    let mut seen: HashMap<String, Loc> = HashMap::new();
    for v in &p.vendors {
        if let Some(first) = seen.insert(v.name.to_lowercase(), v.loc) {
            push(
                Error,
                "duplicate-id",
                v.loc,
                format!("vendor `{}` already defined at {}", v.name, p.at(first)),
            );
        }
        for s in &v.signer_sha256 {
            if !is_hex(s, 64) {
                push(
                    Error,
                    "bad-digest",
                    v.loc,
                    format!(
                        "vendor `{}`: `{s}` is not a SHA-256 digest (64 hex digits)",
                        v.name
                    ),
                );
            }
        }
        for s in &v.signer_sha1 {
            if !is_hex(s, 40) {
                push(
                    Error,
                    "bad-digest",
                    v.loc,
                    format!(
                        "vendor `{}`: `{s}` is not a SHA-1 digest (40 hex digits)",
                        v.name
                    ),
                );
            }
        }
        for pre in &v.package_prefixes {
            if !pre.ends_with('.') || pre.len() < 2 {
                push(Error, "bad-prefix", v.loc, format!("vendor `{}`: package prefix `{pre}` must end with `.` (e.g. `com.tencent.`)", v.name));
            }
        }
        if v.app_ids.is_empty()
            && v.package_prefixes.is_empty()
            && v.signer_sha256.is_empty()
            && v.signer_sha1.is_empty()
            && v.publishers.is_empty()
        {
            push(Warning, "empty-vendor", v.loc, format!("vendor `{}` has no app ids, prefixes, signers or publishers: rules naming it match nothing", v.name));
        }
    }

    // Rules.
    for r in &p.rules {
        if r.app_ids.is_empty()
            && r.signer_sha256.is_empty()
            && r.signer_sha1.is_empty()
            && r.vendors.is_empty()
            && r.team_ids.is_empty()
        {
            push(
                Error,
                "no-matcher",
                r.loc,
                format!(
                    "rule `{}` has no app_ids, signer_sha256, signer_sha1, vendors or team_ids",
                    r.id
                ),
            );
        }
        for t in &r.team_ids {
            if t.value.len() != 10 || !t.value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                push(
                    Error,
                    "bad-team-id",
                    t.loc,
                    format!(
                        "team id {:?} is not an Apple Team ID (10 letters and digits, e.g. 88L2Q4487U)",
                        t.value
                    ),
                );
            }
        }
        for a in &r.app_ids {
            if a.value.is_empty() {
                push(Error, "bad-glob", a.loc, "empty app id".into());
            } else if is_glob(&a.value) {
                if let Err(e) = app_glob(&a.value) {
                    push(
                        Error,
                        "bad-glob",
                        a.loc,
                        format!("bad glob `{}`: {}", a.value, e.kind()),
                    );
                } else if a.value.chars().all(|c| c == '*') && r.action == Action::Prohibit {
                    push(
                        Warning,
                        "match-all",
                        a.loc,
                        format!("rule `{}` prohibits every app", r.id),
                    );
                }
            }
        }
        for s in &r.signer_sha256 {
            if !is_hex(&s.value, 64) {
                push(
                    Error,
                    "bad-digest",
                    s.loc,
                    format!("`{}` is not a SHA-256 digest (64 hex digits)", s.value),
                );
            }
        }
        for s in &r.signer_sha1 {
            if !is_hex(&s.value, 40) {
                push(
                    Error,
                    "bad-digest",
                    s.loc,
                    format!("`{}` is not a SHA-1 digest (40 hex digits)", s.value),
                );
            }
        }
        for v in &r.vendors {
            if !known_vendor(&v.value) {
                push(Error, "unknown-vendor", v.loc, format!("vendor `{}` is not in the vendor catalog (add a [[vendors]] table or pass --vendors FILE)", v.value));
            }
        }
        if r.action == Action::Prohibit && r.authority.is_none() {
            push(
                Warning,
                "no-authority",
                r.loc,
                format!("prohibit rule `{}` names no authority", r.id),
            );
        }
    }

    // Exceptions.
    for e in &p.exceptions {
        match rule_by_id.get(e.rule.value.as_str()).copied() {
            None => push(
                Error,
                "missing-rule",
                e.rule.loc,
                format!(
                    "exception `{}` points at rule `{}`, which does not exist",
                    e.id, e.rule.value
                ),
            ),
            Some(r) if r.action != Action::Prohibit => push(
                Warning,
                "pointless-exception",
                e.rule.loc,
                format!(
                    "exception `{}` relaxes rule `{}`, which does not prohibit",
                    e.id, r.id
                ),
            ),
            Some(_) => {}
        }
        if e.devices.is_empty() && e.groups.is_empty() {
            push(
                Error,
                "blanket-exception",
                e.loc,
                format!("exception `{}` covers no devices or groups", e.id),
            );
        }
        if e.requester.trim().eq_ignore_ascii_case(e.approver.trim()) {
            push(
                Error,
                "self-approved",
                e.loc,
                format!(
                    "exception `{}` is approved by its own requester `{}`",
                    e.id, e.approver
                ),
            );
        }
        if e.justification.trim().is_empty() {
            push(
                Error,
                "no-justification",
                e.loc,
                format!("exception `{}` has an empty justification", e.id),
            );
        }
        if let Some(g) = e.granted {
            if e.expires < g {
                push(
                    Error,
                    "bad-dates",
                    e.loc,
                    format!(
                        "exception `{}` expires ({}) before it is granted ({g})",
                        e.id, e.expires
                    ),
                );
            } else if i64::from(
                e.expires
                    .days_since_epoch()
                    .saturating_sub(g.days_since_epoch()),
            ) > i64::from(LONG_EXCEPTION_DAYS)
            {
                push(
                    Warning,
                    "long-exception",
                    e.loc,
                    format!(
                        "exception `{}` lasts more than a year ({g} to {})",
                        e.id, e.expires
                    ),
                );
            }
        }
        if e.expires < at {
            push(
                Warning,
                "expired-exception",
                e.loc,
                format!(
                    "exception `{}` expired on {}; remove it or renew it",
                    e.id, e.expires
                ),
            );
        }
    }

    // Shadowed rules and allowlist safety need the compiled indexes; compile a copy without
    // the matchers already reported as errors so the other checks still run.
    let mut clean = p.clone();
    for r in &mut clean.rules {
        r.app_ids
            .retain(|a| !is_glob(&a.value) || app_glob(&a.value).is_ok());
        r.vendors.retain(|v| known_vendor(&v.value));
    }
    if let Ok(cp) = CompiledPolicy::new(&clean) {
        let p = &clean;
        let mut search = ShadowSearch::new(p);
        for (j, r) in p.rules.iter().enumerate() {
            match search.shadowed_by(&cp, j) {
                Ok(Some(i)) => {
                    if let Some(prev) = p.rules.get(i) {
                        push(Warning, "shadowed", r.loc, format!(
                            "rule `{}` never decides: earlier rule `{}` ({}) matches every app it matches, on the same devices",
                            r.id, prev.id, p.at(prev.loc)
                        ));
                    }
                }
                Ok(None) => {}
                Err(Truncated) => {
                    push(Warning, "shadow-search-truncated", r.loc, format!(
                        "the shadowed-rule search stopped at rule `{}` after {SHADOW_BUDGET} matcher comparisons: too many rules match the same apps; rules from here on were not checked for shadowing (merge rules that share app ids)",
                        r.id
                    ));
                    break;
                }
            }
        }
        if p.mode == Mode::Allowlist {
            let mut scratch = Vec::new();
            for (platform, apps) in SYSTEM_APPS {
                let flagged: Vec<&str> = apps
                    .iter()
                    .copied()
                    .filter(|id| {
                        let app = probe_app(id, None);
                        let mut best: Option<usize> = None;
                        cp.for_each_hit(&app, &mut scratch, |h, _| {
                            let ok = p.rules.get(h.rule).is_some_and(|r| r.applies_to(*platform));
                            if ok && best.is_none_or(|b| h.rule < b) {
                                best = Some(h.rule);
                            }
                        });
                        best.and_then(|b| p.rules.get(b))
                            .is_none_or(|r| r.action == Action::Prohibit)
                    })
                    .collect();
                if flagged.len() == apps.len() {
                    push(Warning, "allowlist-system-apps", Loc { line: 1, column: 1 }, format!(
                        "allowlist mode would flag every {platform} system app (e.g. {}); allow them explicitly (e.g. an allow rule for {})",
                        flagged.join(", "),
                        match platform { Platform::Android => "`android`, `com.android.*`, `com.google.android.*`", _ => "`com.apple.*`" }
                    ));
                } else if !flagged.is_empty() {
                    push(
                        Warning,
                        "allowlist-system-apps",
                        Loc { line: 1, column: 1 },
                        format!(
                            "allowlist mode would flag {platform} system apps: {}",
                            flagged.join(", ")
                        ),
                    );
                }
            }
        }
    }

    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.code.cmp(b.1.code)));
    out.into_iter().map(|(_, d)| d).collect()
}

fn probe_app(id: &str, signer: Option<&str>) -> App {
    App {
        id: id.to_string(),
        version: None,
        version_code: None,
        signers: signer.map(|s| vec![s.to_string()]).unwrap_or_default(),
        installer: None,
        publisher: None,
    }
}

fn superset<T: PartialEq>(wide: &[T], narrow: &[T]) -> bool {
    wide.is_empty() || (!narrow.is_empty() && narrow.iter().all(|x| wide.contains(x)))
}

/// The shadowed-rule search ran out of its budget ([`SHADOW_BUDGET`]).
struct Truncated;

/// The shadowed-rule search over one policy: the rules naming each vendor, and the work left.
struct ShadowSearch<'a> {
    p: &'a Policy,
    /// Rule indices (ascending) naming each vendor, by lowercase name.
    by_vendor: HashMap<String, Vec<usize>>,
    budget: u64,
}

impl<'a> ShadowSearch<'a> {
    fn new(p: &'a Policy) -> Self {
        let mut by_vendor: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in p.rules.iter().enumerate() {
            for v in &r.vendors {
                let list = by_vendor.entry(v.value.to_ascii_lowercase()).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        ShadowSearch {
            p,
            by_vendor,
            budget: SHADOW_BUDGET,
        }
    }

    fn spend(&mut self, n: usize) -> Result<(), Truncated> {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        if n > self.budget {
            self.budget = 0;
            return Err(Truncated);
        }
        self.budget -= n;
        Ok(())
    }

    /// The first earlier rule that makes rule `j` unreachable, if any.
    ///
    /// Each of the rule's matchers is a probe; the earlier rules each probe hits form one sorted
    /// set per probe, and the answer is the smallest rule in every set whose scope covers rule
    /// `j`'s. The sets come from the compiled indexes (hash lookups, not a scan of the rules),
    /// so the cost is the number of hits, charged against the budget.
    fn shadowed_by(
        &mut self,
        cp: &CompiledPolicy<'_>,
        j: usize,
    ) -> Result<Option<usize>, Truncated> {
        let p = self.p;
        let Some(r) = p.rules.get(j) else {
            return Ok(None);
        };
        let mut probes: Vec<App> = Vec::new();
        for a in &r.app_ids {
            probes.push(probe_app(&a.value, None));
        }
        for s in r.signer_sha256.iter().chain(&r.signer_sha1) {
            probes.push(probe_app("", Some(&s.value)));
        }
        let mut scratch = Vec::new();
        // Per probe: the earlier rules that match it, sorted and deduplicated.
        let mut sets: Vec<Vec<usize>> = Vec::new();
        for probe in &probes {
            let mut s = Vec::new();
            let mut budget = self.budget;
            let flow = cp.try_for_each_hit(probe, &mut scratch, |h, _| {
                if budget == 0 {
                    return ControlFlow::Break(());
                }
                budget -= 1;
                if h.rule < j {
                    s.push(h.rule);
                }
                ControlFlow::Continue(())
            });
            self.budget = budget;
            if flow.is_break() {
                return Err(Truncated);
            }
            s.sort_unstable();
            s.dedup();
            if s.is_empty() {
                return Ok(None);
            }
            sets.push(s);
        }
        for v in &r.vendors {
            let all = self
                .by_vendor
                .get(&v.value.to_ascii_lowercase())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let earlier = &all[..all.partition_point(|&i| i < j)];
            if earlier.is_empty() {
                return Ok(None);
            }
            sets.push(earlier.to_vec());
        }
        // Walk the smallest set; membership in the others by binary search.
        sets.sort_by_key(Vec::len);
        let Some((first, rest)) = sets.split_first() else {
            return Ok(None);
        };
        self.spend(first.len().saturating_mul(rest.len() + 1))?;
        Ok(first.iter().copied().find(|&i| {
            rest.iter().all(|s| s.binary_search(&i).is_ok())
                && p.rules.get(i).is_some_and(|e| covers(e, r))
        }))
    }
}

/// Whether earlier rule `e` applies wherever (and whenever) rule `r` does.
fn covers(e: &Rule, r: &Rule) -> bool {
    superset(&e.platforms, &r.platforms)
        && superset(&e.scope.groups, &r.scope.groups)
        && e.scope
            .exclude_groups
            .iter()
            .all(|g| r.scope.exclude_groups.contains(g))
        && superset(&e.scope.ownership, &r.scope.ownership)
        && match (e.effective, r.effective) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => a <= b,
        }
}
