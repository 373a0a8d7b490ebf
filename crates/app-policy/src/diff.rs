//! Semantic diff between two policy versions (or our policy and a partner's list).

use crate::date::Date;
use crate::model::*;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// One field that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// Field name as written in the policy file.
    pub field: String,
    /// Old value (`null` if absent).
    pub old: Value,
    /// New value (`null` if absent).
    pub new: Value,
}

/// Direction of a set change where "empty" means "everything".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Breadth {
    /// Covers more devices (or platforms) than before.
    Widened,
    /// Covers fewer.
    Narrowed,
    /// Neither a superset nor a subset.
    Changed,
}

/// A rule present in both versions, with what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleChange {
    /// Rule id.
    pub id: String,
    /// Changed fields.
    pub changes: Vec<FieldChange>,
    /// How the scope (groups, excluded groups, ownership) changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Breadth>,
    /// How the platforms changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platforms: Option<Breadth>,
}

/// A rule or exception in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// Id.
    pub id: String,
    /// One-line summary.
    pub summary: String,
}

/// Everything that differs between two policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct PolicyDiff {
    /// Changed `[policy]` fields.
    pub policy: Vec<FieldChange>,
    /// Rules only in the new version.
    pub rules_added: Vec<Item>,
    /// Rules only in the old version.
    pub rules_removed: Vec<Item>,
    /// Rules in both, changed.
    pub rules_changed: Vec<RuleChange>,
    /// Rules in both whose relative order changed (order decides which rule matches first).
    pub rules_reordered: bool,
    /// Exceptions only in the new version.
    pub exceptions_granted: Vec<Item>,
    /// Exceptions removed before their expiry.
    pub exceptions_revoked: Vec<Item>,
    /// Exceptions removed after their expiry, or kept but expired by `at`.
    pub exceptions_expired: Vec<Item>,
    /// Exceptions in both, changed.
    pub exceptions_changed: Vec<RuleChange>,
    /// Vendors added, removed or changed (by name).
    pub vendors: Vec<FieldChange>,
    /// What the prohibit/review rules target only in the old policy (app-id patterns,
    /// `vendor:NAME`, `sha256:…`, `sha1:…`).
    pub only_old_targets: Vec<String>,
    /// What they target only in the new policy.
    pub only_new_targets: Vec<String>,
    /// The changes that weaken the ban (see [`Weakening`]); empty when the new version only
    /// tightens it or changes nothing that decides compliance.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub weakenings: Vec<Weakening>,
}

impl PolicyDiff {
    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        *self == PolicyDiff::default()
    }

    /// Whether the new version weakens the ban anywhere (a second person must approve it).
    pub fn weakens(&self) -> bool {
        !self.weakenings.is_empty()
    }
}

/// How a change weakens the ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeakeningKind {
    /// A prohibit rule is gone, or no longer prohibits.
    ProhibitionRemoved,
    /// A prohibit rule matches fewer apps (an app id, signer, team or vendor dropped), fewer
    /// platforms or fewer devices (scope).
    ProhibitionNarrowed,
    /// A prohibit rule's grace period is longer.
    GraceLengthened,
    /// A prohibit rule takes effect later (or its effective date was added).
    DeadlineLater,
    /// An exception was granted, or covers more devices, groups, apps or days.
    ExceptionWidened,
    /// An allow rule was added or matches more, or the policy went from allowlist to
    /// denylist: apps the old version prohibited may now be allowed.
    AllowWidened,
    /// Rules changed order: an earlier allow rule may now shadow a prohibition.
    RulesReordered,
    /// A vendor named by prohibit rules lost an app id, prefix or signer, or is gone.
    VendorNarrowed,
}

/// One change that weakens the ban.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Weakening {
    /// What kind of weakening.
    pub kind: WeakeningKind,
    /// The rule, exception or vendor (or `policy`).
    pub id: String,
    /// What changed, for people.
    pub detail: String,
}

fn strs(v: &[Located<String>]) -> Value {
    Value::from(v.iter().map(|l| l.value.clone()).collect::<Vec<_>>())
}

fn opt<T: Serialize>(v: &Option<T>) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn rule_fields(r: &Rule) -> BTreeMap<&'static str, Value> {
    let mut m = BTreeMap::new();
    m.insert("title", opt(&r.title));
    m.insert("action", json!(r.action));
    m.insert("app_ids", strs(&r.app_ids));
    m.insert("signer_sha256", strs(&r.signer_sha256));
    m.insert("signer_sha1", strs(&r.signer_sha1));
    m.insert("team_ids", strs(&r.team_ids));
    m.insert("vendors", strs(&r.vendors));
    m.insert("platforms", json!(r.platforms));
    m.insert("scope.groups", json!(r.scope.groups));
    m.insert("scope.exclude_groups", json!(r.scope.exclude_groups));
    m.insert("scope.ownership", json!(r.scope.ownership));
    m.insert("effective", opt(&r.effective));
    m.insert("grace_days", json!(r.grace_days));
    m.insert("remedy", opt(&r.remedy));
    m.insert("rationale", opt(&r.rationale));
    m.insert("authority", opt(&r.authority));
    m.insert("references", json!(r.references));
    m.insert("precautionary", json!(r.precautionary));
    m.insert("source", opt(&r.source));
    m
}

fn exception_fields(e: &Exception) -> BTreeMap<&'static str, Value> {
    let mut m = BTreeMap::new();
    m.insert("rule", json!(e.rule.value));
    m.insert("devices", json!(e.devices));
    m.insert("groups", json!(e.groups));
    m.insert("apps", json!(e.apps));
    m.insert("justification", json!(e.justification));
    m.insert("basis", opt(&e.basis));
    m.insert("requester", json!(e.requester));
    m.insert("approver", json!(e.approver));
    m.insert("granted", opt(&e.granted));
    m.insert("expires", json!(e.expires));
    m
}

fn field_changes(
    a: &BTreeMap<&'static str, Value>,
    b: &BTreeMap<&'static str, Value>,
) -> Vec<FieldChange> {
    a.iter()
        .filter_map(|(k, va)| {
            let vb = b.get(k).cloned().unwrap_or(Value::Null);
            (*va != vb).then(|| FieldChange {
                field: (*k).to_string(),
                old: va.clone(),
                new: vb,
            })
        })
        .collect()
}

/// Breadth of a "list where empty means all" change; `None` if equal.
fn breadth<T: PartialEq>(old: &[T], new: &[T]) -> Option<Breadth> {
    let sub = |a: &[T], b: &[T]| b.is_empty() || (!a.is_empty() && a.iter().all(|x| b.contains(x)));
    let old_in_new = sub(old, new);
    let new_in_old = sub(new, old);
    match (old_in_new, new_in_old) {
        (true, true) => None,
        (true, false) => Some(Breadth::Widened),
        (false, true) => Some(Breadth::Narrowed),
        (false, false) => Some(Breadth::Changed),
    }
}

fn scope_breadth(o: &Scope, n: &Scope) -> Option<Breadth> {
    // Excluded groups work the other way round: fewer exclusions is wider.
    let excl = {
        let o_in_n = o
            .exclude_groups
            .iter()
            .all(|g| n.exclude_groups.contains(g));
        let n_in_o = n
            .exclude_groups
            .iter()
            .all(|g| o.exclude_groups.contains(g));
        match (n_in_o, o_in_n) {
            (true, true) => None,
            (true, false) => Some(Breadth::Widened),
            (false, true) => Some(Breadth::Narrowed),
            (false, false) => Some(Breadth::Changed),
        }
    };
    let parts = [
        breadth(&o.groups, &n.groups),
        breadth(&o.ownership, &n.ownership),
        excl,
    ];
    parts
        .into_iter()
        .flatten()
        .reduce(|a, b| if a == b { a } else { Breadth::Changed })
}

fn rule_summary(r: &Rule) -> String {
    let mut what: Vec<String> = r.app_ids.iter().map(|a| a.value.clone()).collect();
    what.extend(r.vendors.iter().map(|v| format!("vendor:{}", v.value)));
    let n_signers = r.signer_sha256.len().saturating_add(r.signer_sha1.len());
    if n_signers > 0 {
        what.push(format!("{n_signers} signer(s)"));
    }
    let mut s = format!(
        "{} {}",
        serde_json::to_value(r.action)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        what.join(", ")
    );
    if let Some(e) = r.effective {
        let _ = write!(s, " from {e}");
    }
    if let Some(src) = &r.source {
        let _ = write!(s, " [source: {src}]");
    }
    s
}

fn exception_summary(e: &Exception) -> String {
    let mut who: Vec<String> = e.devices.iter().map(|d| format!("device {d}")).collect();
    who.extend(e.groups.iter().map(|g| format!("group {g}")));
    format!(
        "rule {} for {} until {} (approved by {})",
        e.rule.value,
        who.join(", "),
        e.expires,
        e.approver
    )
}

fn targets(p: &Policy) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    for r in p.rules.iter().filter(|r| r.action != Action::Allow) {
        s.extend(r.app_ids.iter().map(|a| a.value.clone()));
        s.extend(
            r.vendors
                .iter()
                .map(|v| format!("vendor:{}", v.value.to_lowercase())),
        );
        s.extend(
            r.signer_sha256
                .iter()
                .map(|v| format!("sha256:{}", v.value)),
        );
        s.extend(r.signer_sha1.iter().map(|v| format!("sha1:{}", v.value)));
    }
    s
}

/// Diffs `old` against `new`; `at` decides whether a removed exception expired or was revoked.
pub fn diff(old: &Policy, new: &Policy, at: Date) -> PolicyDiff {
    let mut d = PolicyDiff::default();
    let header = |p: &Policy| -> BTreeMap<&'static str, Value> {
        let mut m = BTreeMap::new();
        m.insert("name", json!(p.name));
        m.insert("version", opt(&p.version));
        m.insert("mode", json!(p.mode));
        m.insert("description", opt(&p.description));
        m.insert(
            "jurisdictions_of_concern",
            json!(p.jurisdictions_of_concern),
        );
        m.insert("effective", opt(&p.effective));
        m.insert("grace_days", json!(p.grace_days));
        m
    };
    d.policy = field_changes(&header(old), &header(new));

    for r in &new.rules {
        match old.rule(&r.id) {
            None => d.rules_added.push(Item {
                id: r.id.clone(),
                summary: rule_summary(r),
            }),
            Some(o) => {
                let changes = field_changes(&rule_fields(o), &rule_fields(r));
                if !changes.is_empty() {
                    d.rules_changed.push(RuleChange {
                        id: r.id.clone(),
                        changes,
                        scope: scope_breadth(&o.scope, &r.scope),
                        platforms: breadth(&o.platforms, &r.platforms),
                    });
                }
            }
        }
    }
    for r in &old.rules {
        if new.rule(&r.id).is_none() {
            d.rules_removed.push(Item {
                id: r.id.clone(),
                summary: rule_summary(r),
            });
        }
    }
    let common_old: Vec<&str> = old
        .rules
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| new.rule(id).is_some())
        .collect();
    let common_new: Vec<&str> = new
        .rules
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| old.rule(id).is_some())
        .collect();
    d.rules_reordered = common_old != common_new;

    let find = |p: &Policy, id: &str| p.exceptions.iter().find(|e| e.id == id).cloned();
    for e in &new.exceptions {
        match find(old, &e.id) {
            None => d.exceptions_granted.push(Item {
                id: e.id.clone(),
                summary: exception_summary(e),
            }),
            Some(o) => {
                let changes = field_changes(&exception_fields(&o), &exception_fields(e));
                if !changes.is_empty() {
                    d.exceptions_changed.push(RuleChange {
                        id: e.id.clone(),
                        changes,
                        scope: None,
                        platforms: None,
                    });
                }
                if e.expires < at && o.expires >= at {
                    d.exceptions_expired.push(Item {
                        id: e.id.clone(),
                        summary: exception_summary(e),
                    });
                }
            }
        }
    }
    for e in &old.exceptions {
        if find(new, &e.id).is_none() {
            let item = Item {
                id: e.id.clone(),
                summary: exception_summary(e),
            };
            if e.expires < at {
                d.exceptions_expired.push(item);
            } else {
                d.exceptions_revoked.push(item);
            }
        }
    }

    for v in &new.vendors {
        match old.vendor(&v.name) {
            None => d.vendors.push(FieldChange {
                field: v.name.clone(),
                old: Value::Null,
                new: json!("added"),
            }),
            Some(o) => {
                let strip = |x: &Vendor| {
                    (
                        x.country.clone(),
                        x.app_ids.clone(),
                        x.package_prefixes.clone(),
                        x.signer_sha256.clone(),
                        x.signer_sha1.clone(),
                        x.publishers.clone(),
                        x.references.clone(),
                    )
                };
                if strip(o) != strip(v) {
                    d.vendors.push(FieldChange {
                        field: v.name.clone(),
                        old: json!("defined"),
                        new: json!("changed"),
                    });
                }
            }
        }
    }
    for v in &old.vendors {
        if new.vendor(&v.name).is_none() {
            d.vendors.push(FieldChange {
                field: v.name.clone(),
                old: json!("defined"),
                new: Value::Null,
            });
        }
    }

    let (to, tn) = (targets(old), targets(new));
    d.only_old_targets = to.difference(&tn).cloned().collect();
    d.only_new_targets = tn.difference(&to).cloned().collect();
    d.weakenings = weakenings(old, new, d.rules_reordered);
    d
}

/// The values of `old` missing from `new`.
fn dropped<'a>(old: &'a [Located<String>], new: &[Located<String>]) -> Vec<&'a str> {
    old.iter()
        .map(|l| l.value.as_str())
        .filter(|v| !new.iter().any(|n| n.value == *v))
        .collect()
}

/// Whether a "list where empty means all" got narrower or changed sideways.
fn narrower(b: Option<Breadth>) -> bool {
    matches!(b, Some(Breadth::Narrowed | Breadth::Changed))
}

/// Whether it got wider or changed sideways.
fn wider(b: Option<Breadth>) -> bool {
    matches!(b, Some(Breadth::Widened | Breadth::Changed))
}

/// Every change from `old` to `new` that weakens the ban; conservative: a change that may
/// weaken it (a reordering, a glob rewritten) counts.
pub fn weakenings(old: &Policy, new: &Policy, reordered: bool) -> Vec<Weakening> {
    use WeakeningKind as K;
    let mut out = Vec::new();
    let mut push = |kind, id: &str, detail: String| {
        out.push(Weakening {
            kind,
            id: id.to_string(),
            detail,
        });
    };
    if old.mode == Mode::Allowlist && new.mode == Mode::Denylist {
        push(
            K::AllowWidened,
            "policy",
            "mode allowlist -> denylist: unlisted apps are no longer prohibited".into(),
        );
    }
    for o in &old.rules {
        let Some(n) = new.rule(&o.id) else {
            if o.action == Action::Prohibit {
                push(K::ProhibitionRemoved, &o.id, "prohibit rule removed".into());
            }
            continue;
        };
        if o.action == Action::Prohibit && n.action != Action::Prohibit {
            push(
                K::ProhibitionRemoved,
                &o.id,
                format!("action prohibit -> {}", show(&json!(n.action))),
            );
            continue;
        }
        if o.action == Action::Prohibit {
            let mut lost = Vec::new();
            for (field, a, b) in [
                ("app_ids", &o.app_ids, &n.app_ids),
                ("signer_sha256", &o.signer_sha256, &n.signer_sha256),
                ("signer_sha1", &o.signer_sha1, &n.signer_sha1),
                ("team_ids", &o.team_ids, &n.team_ids),
                ("vendors", &o.vendors, &n.vendors),
            ] {
                let gone = dropped(a, b);
                if !gone.is_empty() {
                    lost.push(format!("{field} lost {}", gone.join(", ")));
                }
            }
            if narrower(breadth(&o.platforms, &n.platforms)) {
                lost.push("platforms narrowed".into());
            }
            if narrower(scope_breadth(&o.scope, &n.scope)) {
                lost.push("scope narrowed".into());
            }
            if !lost.is_empty() {
                push(K::ProhibitionNarrowed, &o.id, lost.join("; "));
            }
            if n.grace_days > o.grace_days {
                push(
                    K::GraceLengthened,
                    &o.id,
                    format!("grace_days {} -> {}", o.grace_days, n.grace_days),
                );
            }
            let later = match (o.effective, n.effective) {
                (Some(a), Some(b)) => b > a,
                (None, Some(_)) => true,
                _ => false,
            };
            if later {
                push(
                    K::DeadlineLater,
                    &o.id,
                    format!(
                        "effective {} -> {}",
                        show(&opt(&o.effective)),
                        show(&opt(&n.effective))
                    ),
                );
            }
        }
        if n.action == Action::Allow {
            let more = o.action != Action::Allow
                || n.app_ids
                    .iter()
                    .chain(&n.signer_sha256)
                    .chain(&n.signer_sha1)
                    .chain(&n.team_ids)
                    .chain(&n.vendors)
                    .any(|v| {
                        !o.app_ids
                            .iter()
                            .chain(&o.signer_sha256)
                            .chain(&o.signer_sha1)
                            .chain(&o.team_ids)
                            .chain(&o.vendors)
                            .any(|x| x.value == v.value)
                    })
                || wider(breadth(&o.platforms, &n.platforms))
                || wider(scope_breadth(&o.scope, &n.scope));
            if more {
                push(K::AllowWidened, &n.id, "allow rule matches more".into());
            }
        }
    }
    for n in &new.rules {
        if n.action == Action::Allow && old.rule(&n.id).is_none() {
            push(K::AllowWidened, &n.id, "allow rule added".into());
        }
    }
    if reordered {
        push(
            K::RulesReordered,
            "policy",
            "rules reordered (the first matching rule decides)".into(),
        );
    }
    for e in &new.exceptions {
        let Some(o) = old.exceptions.iter().find(|o| o.id == e.id) else {
            push(
                K::ExceptionWidened,
                &e.id,
                format!("exception granted: {}", exception_summary(e)),
            );
            continue;
        };
        let mut more = Vec::new();
        if o.rule.value != e.rule.value {
            more.push(format!("rule {} -> {}", o.rule.value, e.rule.value));
        }
        let added = |a: &[String], b: &[String]| b.iter().any(|x| !a.contains(x));
        if added(&o.devices, &e.devices) {
            more.push("more devices".into());
        }
        if added(&o.groups, &e.groups) {
            more.push("more groups".into());
        }
        if wider(breadth(&o.apps, &e.apps)) {
            more.push("more apps".into());
        }
        if e.expires > o.expires {
            more.push(format!("expires {} -> {}", o.expires, e.expires));
        }
        let earlier = match (o.granted, e.granted) {
            (Some(a), Some(b)) => b < a,
            (Some(_), None) => true,
            _ => false,
        };
        if earlier {
            more.push("granted earlier".into());
        }
        if !more.is_empty() {
            push(K::ExceptionWidened, &e.id, more.join("; "));
        }
    }
    let named: BTreeSet<String> = old
        .rules
        .iter()
        .filter(|r| r.action == Action::Prohibit)
        .flat_map(|r| r.vendors.iter().map(|v| v.value.to_lowercase()))
        .collect();
    for v in old
        .vendors
        .iter()
        .filter(|v| named.contains(&v.name.to_lowercase()))
    {
        let Some(n) = new.vendor(&v.name) else {
            push(K::VendorNarrowed, &v.name, "vendor removed".into());
            continue;
        };
        let lost = |a: &[String], b: &[String]| a.iter().any(|x| !b.contains(x));
        if lost(&v.app_ids, &n.app_ids)
            || lost(&v.package_prefixes, &n.package_prefixes)
            || lost(&v.signer_sha256, &n.signer_sha256)
            || lost(&v.signer_sha1, &n.signer_sha1)
            || lost(&v.publishers, &n.publishers)
        {
            push(
                K::VendorNarrowed,
                &v.name,
                "vendor lost an app id, prefix, signer or publisher".into(),
            );
        }
    }
    out
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Renders a diff for humans.
pub fn diff_text(d: &PolicyDiff) -> String {
    let mut s = String::new();
    if d.is_empty() {
        s.push_str("no differences\n");
        return s;
    }
    for c in &d.policy {
        let _ = writeln!(
            s,
            "policy.{}: {} -> {}",
            c.field,
            show(&c.old),
            show(&c.new)
        );
    }
    for r in &d.rules_added {
        let _ = writeln!(s, "+ rule {}: {}", r.id, r.summary);
    }
    for r in &d.rules_removed {
        let _ = writeln!(s, "- rule {}: {}", r.id, r.summary);
    }
    for r in &d.rules_changed {
        let _ = writeln!(s, "~ rule {}", r.id);
        if let Some(b) = r.scope {
            let _ = writeln!(s, "    scope {}", show(&json!(b)));
        }
        if let Some(b) = r.platforms {
            let _ = writeln!(s, "    platforms {}", show(&json!(b)));
        }
        for c in &r.changes {
            let _ = writeln!(s, "    {}: {} -> {}", c.field, show(&c.old), show(&c.new));
        }
    }
    if d.rules_reordered {
        s.push_str("! rules reordered (the first matching rule decides)\n");
    }
    for e in &d.exceptions_granted {
        let _ = writeln!(s, "+ exception {} granted: {}", e.id, e.summary);
    }
    for e in &d.exceptions_revoked {
        let _ = writeln!(s, "- exception {} revoked: {}", e.id, e.summary);
    }
    for e in &d.exceptions_expired {
        let _ = writeln!(s, "- exception {} expired: {}", e.id, e.summary);
    }
    for e in &d.exceptions_changed {
        let _ = writeln!(s, "~ exception {}", e.id);
        for c in &e.changes {
            let _ = writeln!(s, "    {}: {} -> {}", c.field, show(&c.old), show(&c.new));
        }
    }
    for v in &d.vendors {
        let _ = writeln!(
            s,
            "~ vendor {}: {} -> {}",
            v.field,
            show(&v.old),
            show(&v.new)
        );
    }
    if !d.only_old_targets.is_empty() {
        let _ = writeln!(s, "targeted only by OLD: {}", d.only_old_targets.join(", "));
    }
    if !d.only_new_targets.is_empty() {
        let _ = writeln!(s, "targeted only by NEW: {}", d.only_new_targets.join(", "));
    }
    for w in &d.weakenings {
        let _ = writeln!(
            s,
            "WEAKENS ({}) {}: {}",
            show(&json!(w.kind)),
            w.id,
            w.detail
        );
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::parse_policy;

    const BASE: &str = r#"
[policy]
name = "p"
version = 1
mode = "denylist"

[[vendors]]
name = "Kaspersky"
app_ids = ["com.kms.free"]
package_prefixes = ["com.kaspersky."]

[[rules]]
id = "wechat"
action = "prohibit"
app_ids = ["com.tencent.mm", "com.tencent.xin"]
platforms = ["android", "ios"]
effective = 2023-10-30
grace_days = 0
[rules.scope]
groups = ["government-issued"]

[[rules]]
id = "kaspersky"
action = "prohibit"
vendors = ["Kaspersky"]

[[rules]]
id = "ok"
action = "allow"
app_ids = ["org.ok"]

[[exceptions]]
id = "EX-1"
rule = "wechat"
devices = ["d1"]
justification = "liaison"
requester = "a"
approver = "b"
expires = 2030-01-01
"#;

    fn kinds(new_src: &str) -> Vec<WeakeningKind> {
        let at = Date::parse("2026-01-01").unwrap();
        let old = parse_policy(BASE, "old.toml").unwrap();
        let new = parse_policy(new_src, "new.toml").unwrap();
        let d = diff(&old, &new, at);
        assert_eq!(d.weakens(), !d.weakenings.is_empty());
        d.weakenings.iter().map(|w| w.kind).collect()
    }

    fn edit(from: &str, to: &str) -> String {
        assert!(BASE.contains(from), "{from}");
        BASE.replacen(from, to, 1)
            .replace("version = 1", "version = 2")
    }

    use WeakeningKind as K;

    #[test]
    fn identical_and_version_only_do_not_weaken() {
        assert_eq!(kinds(BASE), vec![]);
        assert_eq!(kinds(&edit("name = \"p\"", "name = \"p\"")), vec![]);
    }

    #[test]
    fn tightening_does_not_weaken() {
        // A rule added, an app id added, a grace period shortened, a deadline earlier, a
        // platform and a group removed from an exception: all tighten.
        let src = edit(
            "app_ids = [\"com.tencent.mm\", \"com.tencent.xin\"]",
            "app_ids = [\"com.tencent.mm\", \"com.tencent.xin\", \"com.tencent.wework\"]",
        )
        .replace("effective = 2023-10-30", "effective = 2023-10-01")
        .replace("expires = 2030-01-01", "expires = 2029-01-01")
        .replace("[[exceptions]]", "[[rules]]\nid = \"tiktok\"\naction = \"prohibit\"\napp_ids = [\"com.zhiliaoapp.musically\"]\n\n[[exceptions]]")
        .replace("app_ids = [\"org.ok\"]", "app_ids = []\nplatforms = [\"android\"]\nvendors = []\nsigner_sha256 = []\n");
        // The allow rule narrowed to nothing: tighter (validated only by the diff here).
        let k = kinds(&src);
        assert!(!k.contains(&K::ProhibitionRemoved), "{k:?}");
        assert!(!k.contains(&K::ProhibitionNarrowed), "{k:?}");
        assert!(!k.contains(&K::DeadlineLater), "{k:?}");
        assert!(!k.contains(&K::ExceptionWidened), "{k:?}");
        assert!(!k.contains(&K::AllowWidened), "{k:?}");
    }

    #[test]
    fn removing_a_prohibition_weakens() {
        let src = BASE.replace(
            "[[rules]]\nid = \"kaspersky\"\naction = \"prohibit\"\nvendors = [\"Kaspersky\"]\n",
            "",
        );
        assert_eq!(kinds(&src), vec![K::ProhibitionRemoved]);
        let src = edit(
            "id = \"kaspersky\"\naction = \"prohibit\"",
            "id = \"kaspersky\"\naction = \"review\"",
        );
        assert_eq!(kinds(&src), vec![K::ProhibitionRemoved]);
    }

    #[test]
    fn narrowing_a_prohibition_weakens() {
        let narrowed = |from: &str, to: &str| kinds(&edit(from, to));
        assert_eq!(
            narrowed(
                "\"com.tencent.mm\", \"com.tencent.xin\"",
                "\"com.tencent.mm\""
            ),
            vec![K::ProhibitionNarrowed]
        );
        assert_eq!(
            narrowed(
                "platforms = [\"android\", \"ios\"]",
                "platforms = [\"android\"]"
            ),
            vec![K::ProhibitionNarrowed]
        );
        assert_eq!(
            narrowed(
                "groups = [\"government-issued\"]",
                "groups = [\"government-issued\"]\nexclude_groups = [\"lab\"]"
            ),
            vec![K::ProhibitionNarrowed]
        );
        assert_eq!(
            narrowed("vendors = [\"Kaspersky\"]", "app_ids = [\"com.kms.free\"]"),
            vec![K::ProhibitionNarrowed]
        );
    }

    #[test]
    fn longer_grace_and_later_deadline_weaken() {
        assert_eq!(
            kinds(&edit("grace_days = 0", "grace_days = 30")),
            vec![K::GraceLengthened]
        );
        assert_eq!(
            kinds(&edit("effective = 2023-10-30", "effective = 2024-10-30")),
            vec![K::DeadlineLater]
        );
    }

    #[test]
    fn wider_exceptions_weaken() {
        assert_eq!(
            kinds(&edit("devices = [\"d1\"]", "devices = [\"d1\", \"d2\"]")),
            vec![K::ExceptionWidened]
        );
        assert_eq!(
            kinds(&edit("expires = 2030-01-01", "expires = 2031-01-01")),
            vec![K::ExceptionWidened]
        );
        let granted = format!(
            "{}\n[[exceptions]]\nid = \"EX-2\"\nrule = \"kaspersky\"\ngroups = [\"lab\"]\n\
             justification = \"research\"\nrequester = \"a\"\napprover = \"b\"\n\
             expires = 2030-01-01\n",
            BASE.replace("version = 1", "version = 2")
        );
        assert_eq!(kinds(&granted), vec![K::ExceptionWidened]);
    }

    #[test]
    fn wider_allow_rules_reordering_and_vendors_weaken() {
        assert_eq!(
            kinds(&edit(
                "app_ids = [\"org.ok\"]",
                "app_ids = [\"org.ok\", \"com.tencent.*\"]"
            )),
            vec![K::AllowWidened]
        );
        assert_eq!(
            kinds(&edit(
                "package_prefixes = [\"com.kaspersky.\"]",
                "package_prefixes = []"
            )),
            vec![K::VendorNarrowed]
        );
        // The allow rule moved first.
        let allow = "[[rules]]\nid = \"ok\"\naction = \"allow\"\napp_ids = [\"org.ok\"]\n";
        let src = BASE.replace(allow, "").replace(
            "[[rules]]\nid = \"wechat\"",
            &format!("{allow}\n[[rules]]\nid = \"wechat\""),
        );
        assert_eq!(kinds(&src), vec![K::RulesReordered]);
    }
}
