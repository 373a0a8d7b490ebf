//! Compliance read models: the fleet summary, per-rule exposure and the per-rule time series
//! (the burn-down after a ban), each as JSON and as CSV.
//!
//! All of them read the findings the check-ins stored, aged by today's date in SQL, so an
//! ended grace period or an expired exception shows at once.

use app_policy::Date;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use storage::{now_ms, Exposure, ExposureScope, SeriesPoint};

use crate::handlers::{csv_field, to_json, ApiResult};
use crate::{ApiError, AppState};

/// Largest exposure page.
const MAX_PAGE: i64 = 10_000;

fn csv(header: &str, rows: impl Iterator<Item = Vec<String>>) -> impl IntoResponse {
    let mut out = String::from(header);
    out.push('\n');
    for row in rows {
        out.push_str(&row.join(","));
        out.push('\n');
    }
    ([(CONTENT_TYPE, "text/csv; charset=utf-8")], out)
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::Invalid(e.body_text()))
}

/// `GET /api/v1/compliance`: the fleet summary now.
pub(crate) async fn summary(State(state): State<AppState>) -> ApiResult {
    to_json(&state.store.compliance_summary().await?)
}

/// `GET /api/v1/compliance/rules`: devices per status for every rule with an exposure.
pub(crate) async fn rules(State(state): State<AppState>) -> ApiResult {
    let rules = state
        .store
        .rule_summaries(&state.config.time_zone.today().to_string())
        .await?;
    Ok(Json(
        json!({"today": state.config.time_zone.today().to_string(), "rules": rules}),
    ))
}

/// `GET /api/v1/export/compliance.csv`: the per-rule summary, with the fleet totals first
/// (rule `*`).
pub(crate) async fn rules_csv(
    State(state): State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    let fleet = state.store.compliance_summary().await?;
    let rules = state
        .store
        .rule_summaries(&state.config.time_zone.today().to_string())
        .await?;
    let total = vec![
        csv_field("*"),
        fleet.devices.to_string(),
        fleet.non_compliant.to_string(),
        fleet.in_grace.to_string(),
        String::new(),
        String::new(),
        fleet.compliant.to_string(),
    ];
    let rows = std::iter::once(total).chain(rules.into_iter().map(|r| {
        vec![
            csv_field(&r.rule),
            r.exposed.to_string(),
            r.violation.to_string(),
            r.in_grace.to_string(),
            r.excepted.to_string(),
            r.review.to_string(),
            String::new(),
        ]
    }));
    Ok(csv(
        "rule,devices_exposed,violation,in_grace,excepted,review,compliant",
        rows,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExposureQuery {
    /// Page size (default 1000, at most 10,000).
    limit: Option<i64>,
    /// Keyset cursor: the last row's device id ...
    after_device: Option<String>,
    /// ... and app id.
    after_app: Option<String>,
}

/// `GET /api/v1/rules/{rule}/exposure`: which devices hold an app the rule matches, since
/// when, until when, excepted or not.
pub(crate) async fn exposure(
    State(state): State<AppState>,
    Path(rule): Path<String>,
    q: Result<Query<ExposureQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(1000).clamp(1, MAX_PAGE);
    let after = q
        .after_device
        .as_deref()
        .map(|d| (d, q.after_app.as_deref().unwrap_or("")));
    let today = state.config.time_zone.today().to_string();
    let rows = state
        .store
        .exposures(ExposureScope::Rule(&rule), &today, after, limit)
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| {
            rows.last()
                .map(|r| json!({"after_device": r.device_id, "after_app": r.app_id}))
        })
        .flatten();
    Ok(Json(
        json!({"rule": rule, "today": today, "devices": rows, "next": next}),
    ))
}

/// `GET /api/v1/export/rules/{rule}/exposure.csv`: every exposed device.
pub(crate) async fn exposure_csv(
    State(state): State<AppState>,
    Path(rule): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let today = state.config.time_zone.today().to_string();
    let mut all: Vec<Exposure> = Vec::new();
    loop {
        let after = all
            .last()
            .map(|r| (r.device_id.as_str(), r.app_id.as_str()));
        let page = state
            .store
            .exposures(ExposureScope::Rule(&rule), &today, after, MAX_PAGE)
            .await?;
        let done = (page.len() as i64) < MAX_PAGE;
        all.extend(page);
        if done {
            break;
        }
    }
    let rows = all.into_iter().map(|e| {
        vec![
            csv_field(&e.device_id),
            csv_field(&e.device_name),
            csv_field(&e.platform),
            csv_field(&e.app_id),
            e.status,
            opt(&e.installed_since),
            e.flagged_since.to_string(),
            opt(&e.deadline),
            csv_field(&opt(&e.exception_id)),
            opt(&e.excepted_until),
        ]
    });
    Ok(csv(
        "device_id,device_name,platform,app_id,status,installed_since_ms,flagged_since_ms,\
         deadline,exception_id,excepted_until",
        rows,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeriesQuery {
    /// First day: `YYYY-MM-DD`, or Unix ms (its day in the server's zone). Default: 30 days
    /// before `to`.
    from: Option<String>,
    /// Last day: `YYYY-MM-DD`, or Unix ms (its day). Default: today.
    to: Option<String>,
    /// Most points (default: one per day, at most 2000); fewer points than days keep every
    /// k-th day counted from 1970-01-01, plus the last day.
    points: Option<i64>,
}

fn parse_day(state: &AppState, s: &str, field: &str) -> Result<Date, ApiError> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(state.config.time_zone.day_of(ms));
    }
    Date::parse(s).map_err(|e| {
        ApiError::Invalid(format!(
            "{field}: {e} (use YYYY-MM-DD or Unix milliseconds)"
        ))
    })
}

async fn series_points(
    state: &AppState,
    rule: &str,
    q: SeriesQuery,
) -> Result<Vec<SeriesPoint>, ApiError> {
    let zone = &state.config.time_zone;
    let to = match &q.to {
        Some(s) => parse_day(state, s, "to")?,
        None => zone.today(),
    };
    let from = match &q.from {
        Some(s) => parse_day(state, s, "from")?,
        None => Date::from_days_since_epoch(i64::from(to.days_since_epoch()) - 30),
    };
    if from > to {
        return Err(ApiError::Invalid(format!(
            "from ({from}) is after to ({to})"
        )));
    }
    let days = i64::from(to.days_since_epoch()) - i64::from(from.days_since_epoch()) + 1;
    let points = q
        .points
        .unwrap_or(days)
        .clamp(1, storage::MAX_SERIES_POINTS);
    let days = storage::series_days(from, to, points);
    Ok(state.store.rule_series(rule, zone, &days, now_ms()).await?)
}

/// `GET /api/v1/rules/{rule}/series`: devices holding a matched app over time, per status.
pub(crate) async fn series(
    State(state): State<AppState>,
    Path(rule): Path<String>,
    q: Result<Query<SeriesQuery>, QueryRejection>,
) -> ApiResult {
    let points = series_points(&state, &rule, query(q)?).await?;
    Ok(Json(json!({
        "rule": rule,
        "time_zone": state.config.time_zone.name(),
        "points": points,
    })))
}

/// `GET /api/v1/export/rules/{rule}/series.csv`.
pub(crate) async fn series_csv(
    State(state): State<AppState>,
    Path(rule): Path<String>,
    q: Result<Query<SeriesQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let points = series_points(&state, &rule, query(q)?).await?;
    let rows = points.into_iter().map(|p| {
        vec![
            p.at.to_string(),
            p.day,
            p.exposed.to_string(),
            p.violation.to_string(),
            p.in_grace.to_string(),
            p.excepted.to_string(),
            p.review.to_string(),
            p.complete.to_string(),
        ]
    });
    Ok(csv(
        "at_ms,day,exposed,violation,in_grace,excepted,review,complete",
        rows,
    ))
}
