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
}

impl PolicyDiff {
    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        *self == PolicyDiff::default()
    }
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
    d
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
    s
}
