//! Threat intelligence and the network side of a ban.
//!
//! * `POST /api/v1/intel` (analyst) takes a STIX 2.1 bundle or MISP event JSON (body limit
//!   `max_upload_bytes`), parses it off the async threads with `threat-intel`'s limits,
//!   stores every indicator in one transaction (nothing half-imported), then re-matches
//!   every stored assessment against all stored indicators and answers the import report
//!   with the matches that are new, each with its app and the devices holding it now.
//! * `POST /api/v1/assessments` matches the new assessment against the stored indicators
//!   (`match_new_assessment`), so intel that arrived before the upload matches it too.
//! * `GET /api/v1/intel/matches` (viewer): every recorded match with app and devices.
//! * `GET /api/v1/export/network/{format}` (viewer): the active policy's network export
//!   (`rpz`, `unbound`, `dnsmasq`, `hosts`, `squid`, `suricata`, `edl`, `stix`) with an
//!   `ETag`, `X-Interdict-Policy-Version` (the server's policy version, also the RPZ SOA
//!   serial) and `If-None-Match` support.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};
use storage::{ApiPrincipal, IndicatorRow, IntelMatchRow, StoredReport};
use threat_intel::{Indicator, IntelSet, Limits};

use crate::{ApiError, AppState, RouteInfo};

/// Path of the intel upload.
pub(crate) const PATH: &str = "/api/v1/intel";

/// Whether `route` is the intel upload (body limit `max_upload_bytes`).
pub(crate) fn is_upload(route: &RouteInfo) -> bool {
    route.method == Method::POST && route.path == PATH
}

fn bad(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("intel task: {e}")))
}

fn now_ms() -> i64 {
    storage::now_ms()
}

/// Matches every stored assessment against every stored indicator; records and returns
/// the new matches grouped by assessment, each with its app and devices.
async fn rematch(state: &AppState, actor: &str) -> Result<Vec<Value>, ApiError> {
    let reports = state.store.assessment_reports().await?;
    match_reports(state, reports, actor).await
}

/// Matches a newly stored assessment against the stored indicators, so that an upload
/// made after the intel arrived is matched too; records and returns the new matches as
/// [`rematch`] does.
pub(crate) async fn match_new_assessment(
    state: &AppState,
    report: StoredReport,
    actor: &str,
) -> Result<Vec<Value>, ApiError> {
    match_reports(state, vec![report], actor).await
}

/// Matches `reports` against every stored indicator; records and returns the new matches.
async fn match_reports(
    state: &AppState,
    reports: Vec<StoredReport>,
    actor: &str,
) -> Result<Vec<Value>, ApiError> {
    let bodies = state.store.indicator_bodies().await?;
    if bodies.is_empty() || reports.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(IntelMatchRow, Option<String>, String)> = blocking(move || {
        let set = IntelSet::new(
            bodies
                .iter()
                .filter_map(|b| serde_json::from_str::<Indicator>(b).ok()),
        );
        let now = now_ms();
        let mut rows = Vec::new();
        for r in &reports {
            let Ok(v) = serde_json::from_str::<Value>(&r.report_json) else {
                continue;
            };
            let obs = threat_intel::report::observables(&v);
            for m in set.matches(&obs, now) {
                rows.push((
                    IntelMatchRow {
                        assessment_id: r.id.clone(),
                        indicator_id: m.indicator.clone(),
                        value: m.value.clone(),
                        location: m.location.clone(),
                        body: serde_json::to_string(&m).unwrap_or_default(),
                        matched_at: 0,
                    },
                    r.app_id.clone(),
                    r.sha256.clone(),
                ));
            }
        }
        rows
    })
    .await?;
    let meta: BTreeMap<String, (Option<String>, String)> = rows
        .iter()
        .map(|(m, a, s)| (m.assessment_id.clone(), (a.clone(), s.clone())))
        .collect();
    let plain: Vec<IntelMatchRow> = rows.into_iter().map(|(m, _, _)| m).collect();
    let new = state.store.record_intel_matches(&plain, actor).await?;
    group(state, &new, &meta).await
}

async fn group(
    state: &AppState,
    rows: &[IntelMatchRow],
    meta: &BTreeMap<String, (Option<String>, String)>,
) -> Result<Vec<Value>, ApiError> {
    let mut by: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for m in rows {
        let body: Value = serde_json::from_str(&m.body).unwrap_or(Value::Null);
        by.entry(m.assessment_id.as_str()).or_default().push(body);
    }
    let mut out = Vec::new();
    for (asm, matches) in by {
        let (app_id, sha256) = meta.get(asm).cloned().unwrap_or((None, String::new()));
        let devices = match &app_id {
            Some(a) => state.store.devices_with_app(a).await?,
            None => Vec::new(),
        };
        out.push(json!({
            "assessment_id": asm,
            "app_id": app_id,
            "sha256": sha256,
            "matches": matches,
            "devices": devices,
        }));
    }
    Ok(out)
}

/// `POST /api/v1/intel`.
pub(crate) async fn import(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let data = match body {
        Ok(b) => b,
        Err(r) => return bad(r.status(), r.body_text()),
    };
    if data.is_empty() {
        return bad(
            StatusCode::BAD_REQUEST,
            "empty body: send a STIX 2.1 bundle or MISP event JSON",
        );
    }
    let source = format!("api upload by {}", p.id);
    let parsed = match blocking(move || {
        threat_intel::import_json(&data, &source, Limits::default())
    })
    .await
    {
        Ok(Ok(i)) => i,
        Ok(Err(e)) => return bad(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Err(e) => return e.into_response(),
    };
    let rows: Vec<IndicatorRow> = parsed
        .indicators
        .iter()
        .map(|i| IndicatorRow {
            id: i.id.clone(),
            source: i.source.clone(),
            body: serde_json::to_string(i).unwrap_or_default(),
            modified_at: i.modified,
        })
        .collect();
    let report = serde_json::to_value(&parsed.report).unwrap_or(Value::Null);
    let written = match state
        .store
        .import_indicators(&rows, &p.id, report.clone())
        .await
    {
        Ok(n) => n,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let new_matches = match rematch(&state, &p.id).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    (
        StatusCode::OK,
        Json(json!({"report": report, "stored": written, "new_matches": new_matches})),
    )
        .into_response()
}

/// `GET /api/v1/intel/matches`.
pub(crate) async fn matches(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let rows = state.store.intel_matches().await?;
    let reports = state.store.assessment_reports().await?;
    let meta = reports
        .into_iter()
        .map(|r| (r.id, (r.app_id, r.sha256)))
        .collect();
    Ok(Json(json!({"apps": group(&state, &rows, &meta).await?})))
}

/// `GET /api/v1/export/network/{format}`.
pub(crate) async fn export(
    State(state): State<AppState>,
    Path(format): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(fmt) = net_blocklist::Format::parse(&format) else {
        return bad(
            StatusCode::NOT_FOUND,
            format!(
                "unknown network export format {format:?}: one of {}",
                net_blocklist::Format::ALL.map(|f| f.name()).join(", ")
            ),
        );
    };
    let pv = match state.store.active_policy().await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return bad(
                StatusCode::NOT_FOUND,
                "no policy published yet: PUT /api/v1/policy first",
            )
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let reports = match state.store.assessment_reports().await {
        Ok(r) => r,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let result = blocking(move || -> Result<(String, String), String> {
        let policy =
            app_policy::parse_policy(&pv.source, &format!("policy version {}", pv.version))
                .map_err(|e| e.to_string())?;
        let mut assessed = Vec::new();
        for r in &reports {
            let (Some(app), Ok(v)) = (&r.app_id, serde_json::from_str::<Value>(&r.report_json))
            else {
                continue;
            };
            for e in v
                .get("endpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(h) = e.get("host").and_then(Value::as_str) {
                    assessed.push(net_blocklist::policy::AssessedEndpoint {
                        app_id: app.clone(),
                        host: h.to_string(),
                        assessment: r.sha256.clone(),
                    });
                }
            }
        }
        let c = net_blocklist::policy::candidates(&policy, None, &assessed);
        let list = net_blocklist::Blocklist::build(&c, &net_blocklist::NeverBlock::shipped())
            .map_err(|e| e.to_string())?;
        let generated = threat_intel::time::format_rfc3339_ms(pv.created_at);
        let meta = net_blocklist::Meta::new(
            &policy.name,
            u64::try_from(pv.version).unwrap_or(0),
            &generated,
        );
        let body = net_blocklist::render(&list, fmt, &meta);
        let etag = format!("\"{}-{}-{}\"", pv.version, fmt.name(), &list.digest()[..16]);
        Ok((body, etag))
    })
    .await;
    let (body, etag) = match result {
        Ok(Ok(x)) => x,
        Ok(Err(msg)) => return bad(StatusCode::UNPROCESSABLE_ENTITY, msg),
        Err(e) => return e.into_response(),
    };
    let version = HeaderValue::from(pv.version);
    let etag_v = HeaderValue::from_str(&etag).unwrap_or_else(|_| HeaderValue::from_static("\"x\""));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag_v),
                (
                    header::HeaderName::from_static("x-interdict-policy-version"),
                    version,
                ),
            ],
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(fmt.media_type()),
            ),
            (header::ETAG, etag_v),
            (
                header::HeaderName::from_static("x-interdict-policy-version"),
                version,
            ),
        ],
        body,
    )
        .into_response()
}
