//! The check-in path: evaluate against the in-memory policy, then group-commit.

use std::sync::Arc;

use app_policy::model::Located;
use app_policy::{App, CompiledPolicy, Date, DeviceInventory, Loc, Policy, Remedy, Status};
use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use storage::{hash_secret, ActionResult, CheckinWrite, FindingWrite, Store, StoredApp};

use crate::cache::DeviceCtx;

use crate::{bump, ApiError, AppState};

/// Most apps accepted in one inventory.
pub(crate) const MAX_APPS: usize = 5000;

self_cell::self_cell!(
    /// A parsed policy and its compiled indexes, which borrow it, owned together: dropping the
    /// active policy frees both (issue 12: a reload once leaked the parsed policy).
    struct OwnedPolicy {
        owner: Policy,
        #[covariant]
        dependent: CompiledPolicy,
    }
);

/// The active policy version, compiled once; replaced (and freed) when a version is published
/// or an exception decided.
pub struct ActivePolicy {
    /// Server version number.
    pub version: i64,
    compiled: OwnedPolicy,
    /// Each rule's deadline (effective date plus grace), for findings under an exception.
    deadlines: std::collections::HashMap<String, Option<Date>>,
    /// The policy's `jurisdictions_of_concern` as written: the vendor factor of assessments
    /// uploaded while this version is active (normalised by `RiskConfig::add_concern`).
    pub(crate) concern: Vec<String>,
    /// The vendor catalog assessments uploaded while this version is active are attributed
    /// with: the built-in one with this policy's `[[vendors]]` merged in (one catalog format).
    pub(crate) vendors: Arc<apk_analysis::risk::VendorCatalog>,
}

impl ActivePolicy {
    /// Whether `id` is a rule of this version.
    pub(crate) fn has_rule(&self, id: &str) -> bool {
        self.deadlines.contains_key(id)
    }

    /// The groups the rules of this version scope (included or excluded).
    pub(crate) fn scope_groups(&self) -> Vec<String> {
        self.compiled
            .borrow_owner()
            .rules
            .iter()
            .flat_map(|r| r.scope.groups.iter().chain(&r.scope.exclude_groups))
            .cloned()
            .collect()
    }

    /// The parsed policy.
    pub fn policy(&self) -> &Policy {
        self.compiled.borrow_owner()
    }

    /// The rule ids of this version, in policy order.
    pub(crate) fn rule_ids(&self) -> Vec<&str> {
        self.compiled
            .borrow_owner()
            .rules
            .iter()
            .map(|r| r.id.as_str())
            .collect()
    }
}

/// Loads the latest policy version with the approved exceptions, compiled.
pub async fn load_active(store: &Store) -> Result<Option<ActivePolicy>, ApiError> {
    let Some(pv) = store.active_policy().await? else {
        return Ok(None);
    };
    let exceptions = store.exceptions(Some("approved")).await?;
    // Parsing and compiling take time in the size of the policy: off the async workers.
    tokio::task::spawn_blocking(move || build_active(pv, exceptions))
        .await
        .map_err(|e| ApiError::Internal(format!("policy compile task: {e}")))?
        .map(Some)
}

fn build_active(
    pv: storage::PolicyVersion,
    exceptions: Vec<storage::ExceptionRow>,
) -> Result<ActivePolicy, ApiError> {
    let mut policy = app_policy::parse_policy(&pv.source, "policy.toml")
        .map_err(|e| ApiError::Internal(format!("stored policy {}: {e}", pv.version)))?;
    let mut vendors = apk_analysis::risk::VendorCatalog::builtin();
    match apk_analysis::risk::VendorCatalog::parse(&pv.source) {
        Ok(own) => vendors.merge(own),
        Err(e) => {
            tracing::warn!(version = pv.version, error = %e, "the policy's vendors are not a catalog the assessments can use")
        }
    }
    for exc in exceptions {
        let Ok(expires) = Date::parse(&exc.expires) else {
            continue;
        };
        let loc = Loc { line: 1, column: 1 };
        policy.exceptions.push(app_policy::Exception {
            id: exc.id.clone(),
            loc,
            rule: Located {
                value: exc.rule.clone(),
                loc,
            },
            devices: vec![exc.device_id.clone()],
            groups: Vec::new(),
            apps: exc.app_id.iter().cloned().collect(),
            justification: exc.justification.clone(),
            basis: exc.basis.clone(),
            requester: exc.requested_by.clone(),
            approver: exc.decided_by.clone().unwrap_or_default(),
            granted: None,
            expires,
        });
    }
    let version = pv.version;
    let deadlines = policy
        .rules
        .iter()
        .map(|r| (r.id.clone(), r.deadline()))
        .collect();
    let concern = policy.jurisdictions_of_concern.clone();
    let compiled = OwnedPolicy::try_new(policy, |p| CompiledPolicy::new(p))
        .map_err(|e| ApiError::Internal(format!("stored policy {version}: {e}")))?;
    Ok(ActivePolicy {
        version,
        compiled,
        deadlines,
        concern,
        vendors: Arc::new(vendors),
    })
}

/// The inventory hash a device sends instead of an unchanged inventory: SHA-256 (hex) of the
/// canonical JSON of its apps, sorted by id, duplicates removed.
pub fn inventory_hash(apps: &[App]) -> String {
    let (_, json) = canonical_apps(apps.to_vec());
    hash_secret(&json)
}

/// Sorts by id (in place: the hot path owns the parsed inventory) and drops duplicate ids.
pub(crate) fn canonical_apps(mut sorted: Vec<App>) -> (Vec<App>, String) {
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    sorted.dedup_by(|a, b| a.id == b.id);
    let mut json = Vec::with_capacity(sorted.len().saturating_mul(96));
    json.push(b'[');
    for (i, a) in sorted.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        canonical_app(a, &mut json);
    }
    json.push(b']');
    // serde_json writes UTF-8 and every literal above is ASCII.
    let json = String::from_utf8(json)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    (sorted, json)
}

/// `canonical_json(&json!(app))` without building a `serde_json::Value` (the hot path of a
/// full-inventory check-in): keys in byte order, fields skipped exactly as `App` skips them,
/// strings escaped by serde_json straight into the buffer.
/// The test `canonical_app_matches_generic_canonical_json` keeps the two in step.
fn canonical_app(a: &App, out: &mut Vec<u8>) {
    fn string(s: &str, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
    let App {
        id,
        version,
        version_code,
        signers,
        installer,
        publisher,
    } = a;
    out.extend_from_slice(b"{\"id\":");
    string(id, out);
    if let Some(v) = installer {
        out.extend_from_slice(b",\"installer\":");
        string(v, out);
    }
    if let Some(v) = publisher {
        out.extend_from_slice(b",\"publisher\":");
        string(v, out);
    }
    if !signers.is_empty() {
        out.extend_from_slice(b",\"signers\":[");
        for (i, sig) in signers.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(sig, out);
        }
        out.push(b']');
    }
    if let Some(v) = version {
        out.extend_from_slice(b",\"version\":");
        string(v, out);
    }
    if let Some(v) = version_code {
        out.extend_from_slice(b",\"version_code\":");
        out.extend_from_slice(v.to_string().as_bytes());
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use storage::canonical_json;

    #[test]
    fn canonical_app_matches_generic_canonical_json() {
        let mut apps = Vec::new();
        for mask in 0u32..32 {
            let some = |bit: u32, v: &str| (mask & (1 << bit) != 0).then(|| v.to_string());
            apps.push(App {
                id: format!("com.ex\u{e9}\"q\\{mask}\n"),
                version: some(0, "1.0 \u{202e}"),
                version_code: (mask & 2 != 0).then_some(-42),
                signers: if mask & 4 != 0 {
                    vec!["ab".into(), "cd\t".into()]
                } else {
                    vec![]
                },
                installer: some(3, "com.android.vending"),
                publisher: some(4, "Ex \"Corp\""),
            });
        }
        let (sorted, fast) = canonical_apps(apps);
        assert_eq!(fast, canonical_json(&json!(sorted)));
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InventoryBody {
    apps: Vec<App>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckinBody {
    #[serde(default)]
    inventory: Option<InventoryBody>,
    #[serde(default)]
    inventory_hash: Option<String>,
    #[serde(default)]
    action_results: Vec<ActionResult>,
    /// The device's own increasing check-in counter (optional).
    #[serde(default)]
    seq: i64,
}

/// An action's id: the same device, rule and app always get the same id.
fn action_id(device_id: &str, rule: &str, app_id: &str) -> String {
    let id = hash_secret(&format!("{device_id}\n{rule}\n{app_id}"));
    id.get(..16).unwrap_or(&id).to_string()
}

/// The results worth storing: for an action this server issued to this device (an action id
/// of one of the device's findings for the app), and not already stored with that status.
/// Others are dropped with a warning: a device cannot fill the table with made-up results.
async fn issued_results(
    state: &AppState,
    device_id: &str,
    results: Vec<ActionResult>,
) -> Result<Vec<ActionResult>, ApiError> {
    let mut keep: Vec<ActionResult> = Vec::new();
    for r in results {
        if keep.iter().any(|k| k.id == r.id && k.status == r.status) {
            continue;
        }
        let rules = state.store.finding_rules(device_id, &r.app_id).await?;
        if !rules
            .iter()
            .any(|rule| action_id(device_id, rule, &r.app_id) == r.id)
        {
            tracing::warn!(
                device_id,
                action_id = %r.id,
                app_id = %r.app_id,
                "dropped an action result for an action never issued to this device"
            );
            continue;
        }
        if state
            .store
            .has_action_result(device_id, &r.id, &r.status)
            .await?
        {
            continue;
        }
        keep.push(r);
    }
    Ok(keep)
}

/// One thing the device must do.
#[derive(Debug, Serialize)]
pub(crate) struct Action {
    pub(crate) id: String,
    pub(crate) kind: &'static str,
    pub(crate) app_id: String,
    pub(crate) rule: String,
    deadline: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CheckinResponse {
    policy_version: Option<i64>,
    compliant: bool,
    actions: Vec<Action>,
    next_checkin_s: u64,
    /// The hash of the inventory the server holds for the device: send it as
    /// `inventory_hash` while the inventory stays the same.
    inventory_hash: Option<String>,
}

pub(crate) fn today() -> Date {
    Date::from_days_since_epoch(storage::now_ms() / 86_400_000)
}

pub(crate) async fn checkin(
    State(state): State<AppState>,
    Extension(ctx): Extension<DeviceCtx>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<CheckinResponse>, ApiError> {
    // Parsed with serde_json directly: the hot path of the server (axum's `Json` adds a
    // path-tracking layer per value); errors still name the field, line and column.
    let is_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::Invalid(
            "expected Content-Type: application/json".into(),
        ));
    }
    let body: CheckinBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::Invalid(format!("invalid check-in body: {e}")))?;
    if body.action_results.len() > MAX_APPS {
        return Err(ApiError::Invalid("too many action results".into()));
    }
    for (i, r) in body.action_results.iter().enumerate() {
        r.validate().map_err(ApiError::Invalid)?;
        crate::fields::action_result(i, r)?;
    }
    if let Some(inv) = &body.inventory {
        for (i, a) in inv.apps.iter().enumerate() {
            crate::fields::app(i, a)?;
        }
    }
    let dev = &ctx.device;
    let mut body = body;
    body.action_results = issued_results(&state, &dev.id, body.action_results).await?;
    // `Some(apps)`: the inventory changed and is stored with this check-in.
    let (new_apps, new_inventory) = match (body.inventory, body.inventory_hash) {
        (Some(inv), None) => {
            if inv.apps.len() > MAX_APPS {
                return Err(ApiError::Invalid(format!("more than {MAX_APPS} apps")));
            }
            let (apps, json) = canonical_apps(inv.apps);
            let hash = hash_secret(&json);
            if dev.inventory_hash.as_deref() == Some(hash.as_str()) {
                (None, None)
            } else {
                let stored = apps
                    .iter()
                    .map(|a| StoredApp {
                        id: a.id.clone(),
                        version: a.version.clone(),
                    })
                    .collect();
                (Some(apps), Some((hash, json, stored)))
            }
        }
        (None, Some(hash)) => {
            if dev.inventory_hash.as_deref() != Some(hash.as_str()) {
                return Err(ApiError::Conflict(
                    "inventory_required: the hash does not match the stored inventory".into(),
                ));
            }
            (None, None)
        }
        _ => {
            return Err(ApiError::Invalid(
                "send exactly one of inventory and inventory_hash".into(),
            ))
        }
    };
    let active = state.active_policy();
    let outcome = match (&active, new_apps) {
        (Some(p), Some(apps)) => {
            let inv = DeviceInventory {
                device: dev.inventory.device.clone(),
                apps,
            };
            let o = evaluate(p, &inv);
            (o, Some(inv.apps))
        }
        (Some(p), None) => (evaluate(p, &dev.inventory), None),
        (None, apps) => (Outcome::default(), apps),
    };
    let (o, new_apps) = outcome;
    let (compliant, actions) = (o.compliant, o.actions);
    let new_hash = new_inventory.as_ref().map(|(h, _, _)| h.clone());
    let findings_changed = dev.findings_hash.as_deref() != Some(o.findings_hash.as_str());
    let new_findings_hash = findings_changed.then(|| o.findings_hash.clone());
    let at_ms = storage::now_ms();
    let results = u32::try_from(body.action_results.len()).unwrap_or(u32::MAX);
    state.quotas.charge(
        &dev.id,
        crate::device_quota::Charge {
            inventories: u32::from(new_inventory.is_some()),
            results,
            events: results.saturating_add(u32::from(findings_changed)),
        },
        at_ms,
    )?;
    let write = CheckinWrite {
        device_id: dev.id.clone(),
        at_ms,
        inventory: new_inventory,
        compliant,
        overdue: o.overdue,
        in_grace: o.in_grace,
        was_compliant: dev.compliant,
        policy_version: active.as_ref().map(|p| p.version),
        seq: body.seq.max(0),
        findings: findings_changed.then_some((o.findings_hash, o.findings)),
        action_results: body.action_results,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    state
        .writer
        .send(crate::writer::WriteReq {
            write,
            done: tx,
            metrics: Arc::clone(&state.metrics),
        })
        .await
        .map_err(|_| ApiError::Unavailable)?;
    // Acknowledge only after the commit.
    if !rx.await.unwrap_or(false) {
        return Err(ApiError::Unavailable);
    }
    let inventory_hash = new_hash.clone().or_else(|| dev.inventory_hash.clone());
    if new_hash.is_some() || compliant != dev.compliant || new_findings_hash.is_some() {
        let updated = dev.with(new_hash, new_apps, compliant, new_findings_hash);
        state.devices.update(&ctx.token_hash, Arc::new(updated));
    }
    bump(&state.metrics.checkins);
    Ok(Json(CheckinResponse {
        policy_version: active.as_ref().map(|p| p.version),
        compliant,
        actions,
        next_checkin_s: state.config.next_checkin_s,
        inventory_hash,
    }))
}

/// One check-in's evaluation.
pub(crate) struct Outcome {
    pub(crate) compliant: bool,
    pub(crate) overdue: bool,
    pub(crate) in_grace: bool,
    pub(crate) actions: Vec<Action>,
    /// Findings to store (every status but `allowed`), sorted by app then rule.
    pub(crate) findings: Vec<FindingWrite>,
    /// Fingerprint of `findings` (compared with the stored one: equal means no write).
    pub(crate) findings_hash: String,
}

impl Default for Outcome {
    fn default() -> Self {
        Outcome {
            compliant: true,
            overdue: false,
            in_grace: false,
            actions: Vec::new(),
            findings: Vec::new(),
            findings_hash: findings_fingerprint(&[]),
        }
    }
}

/// SHA-256 of the findings' canonical JSON.
fn findings_fingerprint(findings: &[FindingWrite]) -> String {
    hash_secret(&storage::canonical_json(&serde_json::json!(findings)))
}

pub(crate) fn evaluate(p: &ActivePolicy, inv: &DeviceInventory) -> Outcome {
    let dev_id = &inv.device.id;
    let report = p.compiled.borrow_dependent().evaluate(inv, today());
    let mut overdue = false;
    let mut in_grace = false;
    let mut actions = Vec::new();
    let mut findings = Vec::new();
    for f in report.findings {
        let status = match f.status {
            Status::Violation => "violation",
            Status::InGrace => "in_grace",
            Status::Excepted => "excepted",
            Status::Review => "review",
            Status::Allowed => continue,
        };
        let rule_deadline = match &f.exception {
            Some(_) => p.deadlines.get(f.rule.as_str()).copied().flatten(),
            None => f.deadline,
        };
        findings.push(FindingWrite {
            rule: f.rule.clone(),
            app_id: f.app_id.clone(),
            status: status.to_string(),
            deadline: rule_deadline.map(|d| d.to_string()),
            remedy: f.remedy.map(|r| {
                match r {
                    Remedy::Uninstall => "uninstall",
                    Remedy::Block => "block",
                }
                .to_string()
            }),
            exception_id: f.exception.as_ref().map(|e| e.id.clone()),
            excepted_until: f.exception.as_ref().map(|e| e.expires.to_string()),
        });
        let kind = match (f.status, f.remedy) {
            (Status::Violation | Status::InGrace, Some(Remedy::Uninstall)) => "uninstall",
            (Status::Violation | Status::InGrace, Some(Remedy::Block)) => "block",
            (Status::Violation | Status::InGrace | Status::Review, _) => "notify",
            _ => continue,
        };
        overdue |= f.status == Status::Violation;
        in_grace |= f.status == Status::InGrace;
        actions.push(Action {
            id: action_id(dev_id, &f.rule, &f.app_id),
            kind,
            app_id: f.app_id,
            rule: f.rule,
            deadline: f.deadline.map(|d| d.to_string()),
        });
    }
    let findings_hash = findings_fingerprint(&findings);
    Outcome {
        compliant: report.compliant,
        overdue,
        in_grace,
        actions,
        findings,
        findings_hash,
    }
}
