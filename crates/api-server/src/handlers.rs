//! Handlers. Authorization already ran (see `auth`); each handler finds its principal in the
//! request extensions and does one storage call or a few.

use std::sync::atomic::Ordering;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use storage::{ApiPrincipal, DeviceFilter, NewDevice, Role};

use crate::{ApiError, AppState};

pub(crate) type ApiResult<T = Json<Value>> = Result<T, ApiError>;

pub(crate) fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::Invalid(e.body_text()))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> ApiResult {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

pub(crate) async fn healthz(State(state): State<AppState>) -> axum::response::Response {
    use axum::http::StatusCode;
    let read = state.store.ping().await;
    // The write path too: a database that went read-only (file, directory, disk) is reported
    // here rather than by the next check-in's 500.
    let write =
        match tokio::time::timeout(std::time::Duration::from_secs(2), state.store.probe_write())
            .await
        {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("the write probe did not finish within 2 s".to_string()),
        };
    let backend = state.store.backend();
    match (read, write) {
        (Ok(()), Ok(())) => {
            Json(json!({"status": "ok", "backend": backend, "write": "ok"})).into_response()
        }
        (read, write) => {
            let read_err = read.err().map(|e| e.to_string());
            let write_err = write.err();
            tracing::error!(?read_err, ?write_err, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "failing", "backend": backend,
                    "read": read_err.unwrap_or_else(|| "ok".into()),
                    "write": write_err.unwrap_or_else(|| "ok".into())})),
            )
                .into_response()
        }
    }
}

pub(crate) async fn noop() -> &'static str {
    "ok"
}

pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let m = &state.metrics;
    let text = format!(
        "# HELP interdict_checkins_total Check-ins acknowledged.\n\
         # TYPE interdict_checkins_total counter\n\
         interdict_checkins_total {}\n\
         # HELP interdict_write_batches_total Group-commit transactions.\n\
         # TYPE interdict_write_batches_total counter\n\
         interdict_write_batches_total {}\n\
         # HELP interdict_rate_limited_total Requests refused by the rate limiter.\n\
         # TYPE interdict_rate_limited_total counter\n\
         interdict_rate_limited_total {}\n\
         # HELP interdict_auth_failures_total Requests refused by authorization.\n\
         # TYPE interdict_auth_failures_total counter\n\
         interdict_auth_failures_total {}\n",
        m.checkins.load(Ordering::Relaxed),
        m.batches.load(Ordering::Relaxed),
        m.rate_limited.load(Ordering::Relaxed),
        m.auth_failures.load(Ordering::Relaxed),
    );
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrollBody {
    enroll_secret: String,
    device: NewDevice,
}

/// The rate-limiting key of a client address: the address, or an IPv6 client's /64 (one
/// subscriber's prefix).
pub(crate) fn client_key(ext: &axum::http::Extensions) -> String {
    use std::net::IpAddr;
    match ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())
    {
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(ip) => ip.to_string(),
        None => "unknown".into(),
    }
}

pub(crate) async fn enroll(
    State(state): State<AppState>,
    ext: axum::http::Extensions,
    headers: axum::http::HeaderMap,
    b: Result<Json<EnrollBody>, JsonRejection>,
) -> ApiResult {
    // Every attempt counts, before the secret is looked up (guessing it is what is slowed).
    state
        .enroll_limiter
        .check(&client_key(&ext), &state.metrics)?;
    // The secret is checked before the body is otherwise trusted.
    let b = body(b)?;
    let Some(secret) = state.store.enroll_secret(&b.enroll_secret).await? else {
        // A wrong enrollment secret is an authentication failure like a wrong token.
        crate::bump(&state.metrics.auth_failures);
        return Err(ApiError::Unauthorized);
    };
    let d = &b.device;
    if serde_json::from_value::<app_policy::Platform>(json!(d.platform)).is_err() {
        return Err(ApiError::Invalid(format!(
            "unknown platform {:?}",
            d.platform
        )));
    }
    if serde_json::from_value::<app_policy::Ownership>(json!(d.ownership)).is_err() {
        return Err(ApiError::Invalid(format!(
            "unknown ownership {:?}",
            d.ownership
        )));
    }
    use crate::fields;
    fields::text("device.name", &d.name, fields::MAX_NAME)?;
    fields::text("device.serial", &d.serial, fields::MAX_NAME)?;
    fields::groups("device.groups", &d.groups)?;
    // What the secret grants bounds what the device may claim (checked by `EnrollSecret::
    // assign` in the enrollment's transaction: 403 naming the field).
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v.as_bytes();
            if k.is_empty() || k.len() > 255 || !k.iter().all(|b| (0x20..=0x7e).contains(b)) {
                return Err(ApiError::Invalid(
                    "Idempotency-Key: 1 to 255 bytes of printable ASCII".into(),
                ));
            }
            Some(String::from_utf8_lossy(k).into_owned())
        }
    };
    let (device_id, device_token) = match key {
        None => state.store.enroll(&secret, d).await?,
        Some(key) => {
            let (id, token, replayed) = state.store.enroll_idempotent(&secret, d, &key).await?;
            if replayed {
                // The token issued before no longer works: forget its cached credential.
                state.devices.remove_device(&id);
            }
            (id, token)
        }
    };
    Ok(Json(
        json!({"device_id": device_id, "device_token": device_token}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishQuery {
    /// Why this version: recorded in its events; required when it weakens the ban.
    #[serde(default)]
    reason: Option<String>,
}

impl PublishQuery {
    /// A publication from the dashboard's form.
    pub(crate) fn new(reason: Option<String>) -> Self {
        PublishQuery { reason }
    }
}

/// `PUT /api/v1/policy?reason=...`: the body is the policy TOML, as before; the reason is a
/// query parameter so that the body stays the file itself (issue 14, item 1).
///
/// * Identical to the active version (same SHA-256): 200 with that version and
///   `"unchanged": true`; nothing is written.
/// * `[policy] version` not greater than the active file's: 409 naming both versions.
/// * Otherwise the answer carries the semantic diff against the active version (`diff`,
///   `text`, `weakenings`). A version that only tightens the ban (or the first) is published
///   at once: 200 with `version`. One that weakens it (see `app_policy::WeakeningKind`) needs a
///   `reason` (422 otherwise) and becomes a pending proposal: 202 with `proposal`; a second
///   person (approver or admin) approves it with `POST /api/v1/policy/proposals/{id}/approve`.
pub(crate) async fn put_policy(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    q: Result<Query<PublishQuery>, axum::extract::rejection::QueryRejection>,
    source: String,
) -> Result<axum::response::Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::Invalid(e.body_text()))?;
    let reason = q.reason.filter(|r| !r.trim().is_empty());
    if let Some(r) = &reason {
        crate::fields::text("reason", r, crate::fields::MAX_JUSTIFICATION)?;
    }
    // Parsing, checking and compiling cost time in the size of the policy: they run on the
    // blocking pool, one policy at a time, so the async workers keep answering (`/healthz`)
    // and the request timeout fires while they run.
    let new = crate::policy_job::validate(&state, source.clone()).await?;
    let active = state.store.active_policy().await?;
    let Some(active) = active else {
        // The first version: nothing to weaken.
        let version = state
            .store
            .publish_checked(
                &storage::NewPolicy {
                    name: &new.name,
                    source: &source,
                    base_version: None,
                    reason: reason.as_deref(),
                    diff: &Value::Null,
                    weakenings: &json!([]),
                },
                &p.id,
            )
            .await?;
        state.reload_policy().await?;
        return Ok(Json(
            json!({"version": version, "name": new.name, "unchanged": false,
                              "status": "published", "diff": null}),
        )
        .into_response());
    };
    if active.sha256 == storage::hash_secret(&source) {
        return Ok(Json(json!({"version": active.version, "name": active.name,
                              "unchanged": true, "status": "unchanged",
                              "text": "no differences\n"}))
        .into_response());
    }
    let old_source = active.source.clone();
    let new_for_diff = std::sync::Arc::clone(&new);
    let (old_version, diff) = tokio::task::spawn_blocking(move || {
        let old = app_policy::parse_policy(&old_source, "policy.toml")
            .map_err(|e| ApiError::Internal(format!("stored policy: {e}")))?;
        let d = app_policy::diff(&old, &new_for_diff, crate::checkin::today());
        Ok::<_, ApiError>((old.version, d))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("policy diff task: {e}")))??;
    if let Some(ov) = old_version {
        if new.version.is_none_or(|nv| nv <= ov) {
            return Err(ApiError::Conflict(format!(
                "version: the file's version {} is not greater than the active policy's \
                 version {ov} (server version {}); increase [policy] version",
                new.version
                    .map_or_else(|| "(none)".to_string(), |v| v.to_string()),
                active.version
            )));
        }
    }
    let text = app_policy::diff_text(&diff);
    let weakenings =
        serde_json::to_value(&diff.weakenings).map_err(|e| ApiError::Internal(e.to_string()))?;
    let diff_json = serde_json::to_value(&diff).map_err(|e| ApiError::Internal(e.to_string()))?;
    let np = storage::NewPolicy {
        name: &new.name,
        source: &source,
        base_version: Some(active.version),
        reason: reason.as_deref(),
        diff: &diff_json,
        weakenings: &weakenings,
    };
    if diff.weakens() {
        if reason.is_none() {
            let kinds: Vec<String> = diff
                .weakenings
                .iter()
                .map(|w| {
                    format!(
                        "{} {}",
                        w.id,
                        serde_json::to_value(w.kind).unwrap_or_default()
                    )
                })
                .collect();
            return Err(ApiError::Invalid(format!(
                "reason: required: this version weakens the ban ({}); publish it with \
                 ?reason=... and a second person (approver or admin) must approve the proposal",
                kinds.join(", ")
            )));
        }
        let proposal = state.store.propose_policy(&np, &p.id).await?;
        return Ok((
            axum::http::StatusCode::ACCEPTED,
            Json(
                json!({"status": "pending", "unchanged": false, "name": new.name,
                        "proposal": proposal, "text": text, "weakenings": weakenings,
                        "diff": diff_json}),
            ),
        )
            .into_response());
    }
    let version = state.store.publish_checked(&np, &p.id).await?;
    state.reload_policy().await?;
    Ok(Json(
        json!({"version": version, "name": new.name, "unchanged": false,
                   "status": "published", "text": text, "diff": diff_json}),
    )
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProposalQuery {
    #[serde(default)]
    status: Option<String>,
}

/// `GET /api/v1/policy/proposals?status=pending`: proposals, newest first, without sources.
pub(crate) async fn policy_proposals(
    State(state): State<AppState>,
    q: Result<Query<ProposalQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::Invalid(e.body_text()))?;
    to_json(&state.store.policy_proposals(q.status.as_deref()).await?)
}

/// `GET /api/v1/policy/proposals/{id}`: one proposal, with its source.
pub(crate) async fn policy_proposal(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    to_json(&state.store.policy_proposal(&id).await?)
}

async fn decide_proposal(
    state: &AppState,
    p: &ApiPrincipal,
    id: &str,
    to: &str,
    bytes: &[u8],
) -> ApiResult {
    let b: DecisionBody = optional_body(bytes)?;
    if let Some(c) = &b.comment {
        crate::fields::text("comment", c, crate::fields::MAX_JUSTIFICATION)?;
    }
    let proposal = state.store.policy_proposal(id).await?;
    if to == "approved" && proposal.proposed_by == p.id {
        return Err(ApiError::Forbidden(format!(
            "two-person rule: proposal {id} was made by you; another approver or admin must \
             approve it"
        )));
    }
    let row = state
        .store
        .decide_policy_proposal(id, to, &p.id, b.comment.as_deref())
        .await?;
    if row.published_version.is_some() {
        state.reload_policy().await?;
    }
    to_json(&row)
}

/// `POST /api/v1/policy/proposals/{id}/approve`, body optional `{"comment": "..."}`: a second
/// person (approver or admin, not the proposer: 403) makes the proposal the next version,
/// if the active version is still the one it was diffed against (409 otherwise).
pub(crate) async fn approve_proposal(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> ApiResult {
    decide_proposal(&state, &p, &id, "approved", &bytes).await
}

/// `POST /api/v1/policy/proposals/{id}/reject`, body optional `{"comment": "..."}`: the
/// proposal is closed without a version (the proposer may withdraw their own this way).
pub(crate) async fn reject_proposal(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> ApiResult {
    decide_proposal(&state, &p, &id, "rejected", &bytes).await
}

pub(crate) async fn policy_versions(State(state): State<AppState>) -> ApiResult {
    to_json(&state.store.policy_versions().await?)
}

pub(crate) async fn policy_version(
    State(state): State<AppState>,
    Path(version): Path<i64>,
) -> ApiResult {
    to_json(&state.store.policy_version(version).await?)
}

pub(crate) async fn list_devices(
    State(state): State<AppState>,
    q: Result<Query<DeviceFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(f) = q.map_err(|e| ApiError::Invalid(e.body_text()))?;
    to_json(&state.store.list_devices(&f).await?)
}

pub(crate) async fn device_detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    to_json(&state.store.device_detail(&id).await?)
}

pub(crate) async fn revoke_device(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Path(id): Path<String>,
) -> ApiResult {
    state.store.revoke_device(&id, &p.id).await?;
    state.devices.remove_device(&id);
    Ok(Json(json!({"revoked": id})))
}

pub(crate) async fn exposure(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
) -> ApiResult {
    let rows = state.store.exposure(&app_id).await?;
    let devices: Vec<Value> = rows
        .into_iter()
        .map(|(d, since)| json!({"device_id": d, "since": since}))
        .collect();
    Ok(Json(json!({"app_id": app_id, "devices": devices})))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ExceptionQuery {
    status: Option<String>,
}

pub(crate) async fn list_exceptions(
    State(state): State<AppState>,
    q: Result<Query<ExceptionQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::Invalid(e.body_text()))?;
    to_json(&state.store.exceptions(q.status.as_deref()).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExceptionRequest {
    device_id: String,
    rule: String,
    #[serde(default)]
    app_id: Option<String>,
    /// `law_enforcement`, `national_security`, `security_research` or `other`; absent means
    /// `other` (see [`request_exception`]).
    #[serde(default)]
    basis: Option<String>,
    justification: String,
    expires: String,
}

/// `POST /api/v1/exceptions`: an analyst asks for a time-limited exception to one rule for one
/// device, validated as `policy check` validates the exceptions of a policy file (issue 14,
/// item 5):
///
/// * `rule` must be a rule of the active policy version (422 listing the rule ids, or saying
///   where to list them);
/// * `expires` (the last day, inclusive) must be after today and at most
///   `Config::max_exception_days` from today (default a year, `LONG_EXCEPTION_DAYS`);
/// * `basis` is the category of OMB M-23-13: `law_enforcement`, `national_security`,
///   `security_research` or `other`; `justification` must not be empty whatever the basis.
///   `basis` may be left out, and then is `other`: the API always required a non-empty
///   justification, which is exactly what `other` needs, so clients written before the basis
///   existed keep working and their requests are recorded as `other`.
///
/// Every refusal is a 422 naming the field, and nothing is stored.
pub(crate) async fn request_exception(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    b: Result<Json<ExceptionRequest>, JsonRejection>,
) -> ApiResult {
    let b = body(b)?;
    crate::fields::text("device_id", &b.device_id, crate::fields::MAX_NAME)?;
    crate::fields::text("rule", &b.rule, crate::fields::MAX_NAME)?;
    crate::fields::opt("app_id", b.app_id.as_deref(), crate::fields::MAX_APP_ID)?;
    crate::fields::text(
        "justification",
        &b.justification,
        crate::fields::MAX_JUSTIFICATION,
    )?;
    let basis = b.basis.as_deref().unwrap_or("other");
    if !app_policy::EXCEPTION_BASES.contains(&basis) {
        return Err(ApiError::Invalid(format!(
            "basis: {basis:?} is not a basis category; use one of {}",
            app_policy::EXCEPTION_BASES.join(", ")
        )));
    }
    if b.justification.trim().is_empty() {
        return Err(ApiError::Invalid(format!(
            "justification: required (basis {basis}): say why the exception is needed"
        )));
    }
    let expires = app_policy::Date::parse(&b.expires)
        .map_err(|e| ApiError::Invalid(format!("expires: {e}")))?;
    let today = state.config.time_zone.today();
    if expires <= today {
        return Err(ApiError::Invalid(format!(
            "expires: {expires} is not in the future (today is {today})"
        )));
    }
    let max = state.config.max_exception_days;
    let latest = today.add_days(max);
    if expires > latest {
        return Err(ApiError::Invalid(format!(
            "expires: {expires} is more than {max} days away; the latest allowed is {latest} \
             (--max-exception-days)"
        )));
    }
    check_rule(&state, &b.rule)?;
    let row = state
        .store
        .request_exception(
            &storage::NewException {
                device_id: &b.device_id,
                rule: &b.rule,
                app_id: b.app_id.as_deref(),
                basis,
                justification: &b.justification,
                expires: &b.expires,
            },
            &p.id,
        )
        .await?;
    to_json(&row)
}

/// Most rule ids named in the message refusing an unknown rule.
const RULES_LISTED: usize = 20;

/// 422 naming `rule` unless `rule` is a rule of the active policy version.
fn check_rule(state: &AppState, rule: &str) -> Result<(), ApiError> {
    let Some(active) = state.active_policy() else {
        return Err(ApiError::Invalid(format!(
            "rule: {rule:?} does not exist: no policy is published yet (PUT /api/v1/policy)"
        )));
    };
    if active.has_rule(rule) {
        return Ok(());
    }
    let ids = active.rule_ids();
    let listed = if ids.len() <= RULES_LISTED {
        format!("the rules are {}", ids.join(", "))
    } else {
        format!(
            "it has {} rules, listed in GET /api/v1/policy/versions/{}",
            ids.len(),
            active.version
        )
    };
    Err(ApiError::Invalid(format!(
        "rule: {rule:?} is not a rule of the active policy (version {}); {listed}",
        active.version
    )))
}

/// The optional body of an exception decision.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionBody {
    /// The decider's note, stored in the decision's event.
    #[serde(default)]
    comment: Option<String>,
}

/// Parses an optional JSON body (empty: none).
pub(crate) fn optional_body<T: Default + serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::Invalid(format!("body: {e}")))
}

pub(crate) async fn decide(
    state: &AppState,
    p: &ApiPrincipal,
    id: &str,
    to: &str,
    bytes: &[u8],
) -> ApiResult {
    let b: DecisionBody = optional_body(bytes)?;
    if let Some(c) = &b.comment {
        crate::fields::text("comment", c, crate::fields::MAX_JUSTIFICATION)?;
    }
    let today = state.config.time_zone.today();
    if to == "approved" {
        // Approval is checked again: the request may have waited past its end date, or its
        // rule may have left the active policy since.
        let exc = state.store.exception(id).await?;
        if app_policy::Date::parse(&exc.expires).is_ok_and(|e| e <= today) {
            return Err(ApiError::Invalid(format!(
                "expires: exception {id} ends on {}, which is not in the future (today is \
                 {today}); request a new one",
                exc.expires
            )));
        }
        check_rule(state, &exc.rule)?;
    }
    let day = today.to_string();
    let row = state
        .store
        .decide_exception(id, to, &p.id, b.comment.as_deref(), &day)
        .await?;
    state.reload_policy().await?;
    to_json(&row)
}

/// `POST /api/v1/exceptions/{id}/approve`, body optional: `{"comment": "..."}` (stored in the
/// approval event). The approver must not be the requester.
pub(crate) async fn approve_exception(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> ApiResult {
    decide(&state, &p, &id, "approved", &bytes).await
}

/// `POST /api/v1/exceptions/{id}/deny`, body optional: `{"comment": "..."}`.
pub(crate) async fn deny_exception(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> ApiResult {
    decide(&state, &p, &id, "denied", &bytes).await
}

/// `POST /api/v1/exceptions/{id}/revoke`, body optional: `{"comment": "..."}`. Takes effect at
/// once: the policy is recompiled here (other servers follow the event), and the findings the
/// exception covered show in grace or in violation in every read model from now, before the
/// device checks in again.
pub(crate) async fn revoke_exception(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> ApiResult {
    decide(&state, &p, &id, "revoked", &bytes).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct EventQuery {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    100
}

pub(crate) async fn events(
    State(state): State<AppState>,
    q: Result<Query<EventQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::Invalid(e.body_text()))?;
    let events = state.store.events(q.after, q.limit).await?;
    let next = events.last().map(|e| e.seq);
    Ok(Json(json!({"events": events, "next_after": next})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    role: Role,
    #[serde(default)]
    name: String,
    /// The account the token acts for (default: the caller's own account).
    #[serde(default)]
    user_id: Option<String>,
}

pub(crate) async fn create_token(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    src: crate::session::Source,
    b: Result<Json<TokenRequest>, JsonRejection>,
) -> ApiResult {
    let b = body(b)?;
    crate::fields::text("name", &b.name, crate::fields::MAX_NAME)?;
    // A token belongs to an account; only a caller without one (a token from before
    // accounts) makes an unowned token, as before.
    let owner = b
        .user_id
        .clone()
        .or_else(|| p.id.starts_with("usr_").then(|| p.id.clone()));
    let (id, token) = match &owner {
        Some(user) => {
            state
                .store
                .create_user_token(user, b.role, &b.name, &src.audit(&p.id))
                .await?
        }
        None => state.store.create_api_token(b.role, &b.name, &p.id).await?,
    };
    Ok(Json(
        json!({"id": id, "role": b.role, "token": token, "user_id": owner}),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateRequest {
    #[serde(default)]
    groups: Vec<String>,
}

pub(crate) async fn rotate_enroll_secret(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    b: Result<Json<RotateRequest>, JsonRejection>,
) -> ApiResult {
    let b = body(b)?;
    crate::fields::groups("groups", &b.groups)?;
    let secret = state.store.rotate_enroll_secret(&b.groups, &p.id).await?;
    Ok(Json(json!({"enroll_secret": secret})))
}

#[derive(Debug, Deserialize)]
pub(crate) struct DiffQuery {
    from: i64,
    to: i64,
}

pub(crate) async fn policy_diff(
    State(state): State<AppState>,
    q: Result<Query<DiffQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::Invalid(e.body_text()))?;
    let parse = |src: &str| {
        app_policy::parse_policy(src, "policy.toml").map_err(|e| ApiError::Internal(e.to_string()))
    };
    let old = parse(&state.store.policy_version(q.from).await?.source)?;
    let new = parse(&state.store.policy_version(q.to).await?.source)?;
    let d = app_policy::diff(&old, &new, crate::checkin::today());
    Ok(Json(
        json!({"from": q.from, "to": q.to, "text": app_policy::diff_text(&d), "diff": d}),
    ))
}

pub(crate) async fn openapi() -> Json<Value> {
    Json(crate::openapi())
}

/// One CSV field: quoted, quotes doubled, and a leading formula character neutralized
/// (device names come from devices: they are data, never spreadsheet formulas).
pub(crate) fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub(crate) async fn devices_csv(
    State(state): State<AppState>,
    q: Result<Query<DeviceFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(mut f) = q.map_err(|e| ApiError::Invalid(e.body_text()))?;
    let mut out = String::from(
        "id,name,platform,serial,ownership,groups,compliant,overdue,in_grace,policy_version,last_seen\n",
    );
    f.limit = Some(1000);
    loop {
        let page = state.store.list_devices(&f).await?;
        for d in &page {
            let row = [
                csv_field(&d.id),
                csv_field(&d.name),
                csv_field(&d.platform),
                csv_field(&d.serial),
                csv_field(&d.ownership),
                csv_field(&d.groups.join(";")),
                d.compliant.to_string(),
                d.overdue.to_string(),
                d.in_grace.to_string(),
                d.policy_version.map(|v| v.to_string()).unwrap_or_default(),
                d.last_seen.map(|v| v.to_string()).unwrap_or_default(),
            ];
            out.push_str(&row.join(","));
            out.push('\n');
        }
        match page.last() {
            Some(last) if page.len() == 1000 => f.after = Some(last.id.clone()),
            _ => break,
        }
    }
    Ok(([(CONTENT_TYPE, "text/csv; charset=utf-8")], out))
}

/// `GET /api/v1/connectors`: every configured connector with its last sync (state, last
/// error, last report); one configured but never synced shows as `never`.
pub(crate) async fn connectors(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = state.store.connectors().await?;
    let mut out: Vec<serde_json::Value> = Vec::new();
    for c in &state.config.connectors {
        match rows.iter().find(|r| r.name == c.name()) {
            Some(r) => out.push(serde_json::json!(r)),
            None => {
                out.push(serde_json::json!({"name": c.name(), "kind": c.kind(), "state": "never"}))
            }
        }
    }
    for r in rows
        .iter()
        .filter(|r| !state.config.connectors.iter().any(|c| c.name() == r.name))
    {
        let mut v = serde_json::json!(r);
        v["configured"] = serde_json::json!(false);
        out.push(v);
    }
    Ok(Json(serde_json::json!({ "connectors": out })))
}

#[derive(Debug, Deserialize)]
pub(crate) struct NotificationQuery {
    status: Option<String>,
}

/// `GET /api/v1/notifications?status=pending|sent|failed`: the notification queue, newest
/// first (at most 500), with attempts and the last error.
pub(crate) async fn notifications(
    State(state): State<AppState>,
    Query(q): Query<NotificationQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let list = state.store.notifications(q.status.as_deref(), 500).await?;
    Ok(Json(json!({ "notifications": list })))
}
