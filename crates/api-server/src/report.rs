//! `GET /api/v1/reports/compliance?at=T[&format=html]`: the point-in-time compliance report
//! (storage's `compliance_report_at`), served as exactly the bytes whose SHA-256 the
//! `report.issued` event records. When no signed checkpoint covers `T` yet and the server
//! signs checkpoints, it signs one first, so the report names it and later issues of the same
//! `T` give the same bytes.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use storage::{parse_report_time, ApiPrincipal, ReportFormat};

use crate::{audit, ApiError, AppState};

/// The query of the report route.
#[derive(Debug, Deserialize)]
pub(crate) struct ReportQuery {
    at: Option<String>,
    format: Option<String>,
}

fn bad_request(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": msg}))).into_response()
}

/// `GET /api/v1/reports/compliance`.
pub(crate) async fn compliance(
    State(st): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let Some(at) = q.at.as_deref() else {
        return Ok(bad_request(
            "missing query parameter `at` (RFC 3339 time such as 2026-12-03T06:00:00Z, or a \
             date YYYY-MM-DD for its last millisecond in UTC)"
                .into(),
        ));
    };
    let at_ms = match parse_report_time(at) {
        Ok(t) => t,
        Err(e) => return Ok(bad_request(format!("query parameter `at`: {e}"))),
    };
    if at_ms >= storage::now_ms() {
        return Ok(bad_request(format!(
            "query parameter `at`: {} is not in the past; a report is made only for a time \
             already recorded",
            storage::rfc3339_ms(at_ms)
        )));
    }
    let format = match q.format.as_deref() {
        None | Some("json") => ReportFormat::Json,
        Some("html") => ReportFormat::Html,
        Some(other) => {
            return Ok(bad_request(format!(
                "query parameter `format`: {other:?} is not json or html"
            )))
        }
    };
    if let Some(cfg) = &st.config.ledger {
        if st.store.ledger_checkpoint_covering(at_ms).await?.is_none() {
            audit::sign_now(&st.store, cfg).await?;
        }
    }
    let issued = st
        .store
        .issue_compliance_report(at_ms, format, &p.id)
        .await?;
    let mut resp = issued.body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&issued.sha256) {
        h.insert("x-interdict-report-sha256", v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
