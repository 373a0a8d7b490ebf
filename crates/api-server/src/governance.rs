//! Governance routes of issue 14 that are not policy publishing: vendor appeals on the record
//! (`/api/v1/rules/{rule}/reviews`, `/api/v1/reviews/{id}/decide`) and trusted scope
//! (`POST /api/v1/enroll-secrets`, `PATCH /api/v1/devices/{id}`).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use storage::{ApiPrincipal, NewReview, ReviewOutcome, ScopeChange};

use crate::handlers::{body, to_json, ApiResult};
use crate::{fields, ApiError, AppState};

/// The ownership values an admin may assign (what `app_policy::Ownership` reads).
fn ownership(field: &str, v: &str) -> Result<(), ApiError> {
    match serde_json::from_value::<app_policy::Ownership>(json!(v)) {
        Ok(_) => Ok(()),
        Err(_) => Err(ApiError::Invalid(format!(
            "{field}: unknown ownership {:?} (corporate, personal or unknown)",
            v.chars().take(40).collect::<String>()
        ))),
    }
}

/// `POST /api/v1/rules/{rule}/reviews`: opens a review of a rule of the active policy.
pub(crate) async fn open_review(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Path(rule): Path<String>,
    b: Result<Json<NewReview>, JsonRejection>,
) -> ApiResult {
    let b = body(b)?;
    let active = state.active_policy();
    if !active.as_ref().is_some_and(|a| a.has_rule(&rule)) {
        return Err(ApiError::Invalid(format!(
            "rule: {:?} is not a rule of the active policy version",
            rule.chars().take(80).collect::<String>()
        )));
    }
    let review = state
        .store
        .open_review(&rule, &b, active.map(|a| a.version), &p.id)
        .await?;
    to_json(&review)
}

/// `GET /api/v1/rules/{rule}/reviews`: the rule's reviews, oldest first.
pub(crate) async fn list_reviews(
    State(state): State<AppState>,
    Path(rule): Path<String>,
) -> ApiResult {
    let reviews = state.store.reviews(&rule).await?;
    let active = state.active_policy();
    if reviews.is_empty() && !active.as_ref().is_some_and(|a| a.has_rule(&rule)) {
        return Err(ApiError::NotFound);
    }
    Ok(Json(json!({
        "rule": rule,
        "in_active_policy": active.as_ref().is_some_and(|a| a.has_rule(&rule)),
        "active_version": active.map(|a| a.version),
        "reviews": reviews,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecideReview {
    outcome: ReviewOutcome,
    reasons: String,
    /// Required for `amended` and `reversed`: the published version that carries it out.
    #[serde(default)]
    policy_version: Option<i64>,
}

/// `POST /api/v1/reviews/{id}/decide`: upheld, amended or reversed, once. An amendment or
/// reversal names a published version, later than the one the review was opened under, whose
/// semantic diff against it changes (amended) or removes (reversed) the rule: the decision
/// is carried out through guarded publishing, never around it.
pub(crate) async fn decide_review(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Path(id): Path<String>,
    b: Result<Json<DecideReview>, JsonRejection>,
) -> ApiResult {
    let b = body(b)?;
    let review = state.store.review(&id).await?;
    if review.status != "open" {
        return Err(ApiError::Conflict(format!(
            "this review was already decided ({})",
            review.status
        )));
    }
    match (b.outcome, b.policy_version) {
        (ReviewOutcome::Upheld, Some(_)) => {
            return Err(ApiError::Invalid(
                "policy_version: an upheld rule is not changed; leave policy_version out".into(),
            ))
        }
        (ReviewOutcome::Upheld, None) => {}
        (o, None) => {
            return Err(ApiError::Invalid(format!(
                "policy_version: required when the outcome is {}: publish the version that carries it out first (PUT /api/v1/policy; a weakening needs a second person), then name it",
                o.as_str()
            )))
        }
        (o, Some(v)) => {
            let base = review.opened_version.ok_or_else(|| {
                ApiError::Invalid("policy_version: the review has no base version".into())
            })?;
            if v <= base {
                return Err(ApiError::Invalid(format!(
                    "policy_version: {v} is not later than version {base}, under which the review was opened"
                )));
            }
            let load = |n: i64| {
                let store = state.store.clone();
                async move {
                    match store.policy_version(n).await {
                        Ok(pv) => app_policy::parse_policy(&pv.source, "policy.toml")
                            .map_err(|e| ApiError::Internal(format!("stored policy {n}: {e}"))),
                        Err(storage::StorageError::NotFound) => Err(ApiError::Invalid(format!(
                            "policy_version: no published version {n}"
                        ))),
                        Err(e) => Err(e.into()),
                    }
                }
            };
            let (old, new) = (load(base).await?, load(v).await?);
            let d = app_policy::diff(&old, &new, crate::checkin::today());
            let removed = d.rules_removed.iter().any(|i| i.id == review.rule);
            let changed = d.rules_changed.iter().any(|c| c.id == review.rule);
            let ok = match o {
                ReviewOutcome::Reversed => removed,
                _ => changed,
            };
            if !ok {
                return Err(ApiError::Invalid(format!(
                    "policy_version: version {v} does not {} rule {:?} (compared with version {base})",
                    if o == ReviewOutcome::Reversed { "remove" } else { "change" },
                    review.rule
                )));
            }
        }
    }
    let decided = state
        .store
        .decide_review(&id, b.outcome, &b.reasons, b.policy_version, &p.id)
        .await?;
    to_json(&decided)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSecret {
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    ownership: Option<String>,
}

/// `POST /api/v1/enroll-secrets`: a further enrollment secret granting `groups` and, when
/// given, `ownership` (e.g. one for personal devices, one for government-issued ones).
pub(crate) async fn create_enroll_secret(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    b: Result<Json<NewSecret>, JsonRejection>,
) -> ApiResult {
    let b = body(b)?;
    fields::groups("groups", &b.groups)?;
    if let Some(o) = &b.ownership {
        ownership("ownership", o)?;
    }
    let (id, secret) = state
        .store
        .create_enroll_secret_granting(&b.groups, b.ownership.as_deref(), &p.id)
        .await?;
    Ok(Json(
        json!({"id": id, "enroll_secret": secret, "groups": b.groups, "ownership": b.ownership}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchDevice {
    #[serde(default)]
    groups: Option<Vec<String>>,
    #[serde(default)]
    ownership: Option<String>,
    reason: String,
}

/// `PATCH /api/v1/devices/{id}`: an admin sets a device's groups and/or ownership, as an event
/// with before, after and reason. Only groups that exist may be granted: those of live
/// enrollment secrets, of devices, and of the active policy's scopes.
pub(crate) async fn patch_device(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Path(id): Path<String>,
    b: Result<Json<PatchDevice>, JsonRejection>,
) -> ApiResult {
    let b = body(b)?;
    if b.reason.trim().is_empty() {
        return Err(ApiError::Invalid("reason: required".into()));
    }
    fields::text("reason", &b.reason, fields::MAX_JUSTIFICATION)?;
    if b.groups.is_none() && b.ownership.is_none() {
        return Err(ApiError::Invalid(
            "nothing to change: give groups and/or ownership".into(),
        ));
    }
    if let Some(o) = &b.ownership {
        ownership("ownership", o)?;
    }
    if let Some(groups) = &b.groups {
        fields::groups("groups", groups)?;
        let mut known = state.store.known_groups().await?;
        if let Some(a) = state.active_policy() {
            known.extend(a.scope_groups());
        }
        if let Some((i, g)) = groups.iter().enumerate().find(|(_, g)| !known.contains(*g)) {
            return Err(ApiError::Invalid(format!(
                "groups[{i}]: no group named {:?} exists (groups come from enrollment secrets, devices and the active policy's scopes)",
                g.chars().take(80).collect::<String>()
            )));
        }
    }
    let change = ScopeChange {
        groups: b.groups,
        ownership: b.ownership,
        reason: Some(b.reason),
        source: "admin",
    };
    let (before, after) = state.store.set_device_scope(&id, &change, &p.id).await?;
    // The next check-in is evaluated with the new scope (other servers learn it from the
    // event feed).
    state.devices.remove_device(&id);
    Ok(Json(json!({"id": id, "before": before, "after": after})))
}
