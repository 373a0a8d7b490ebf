//! Assessments: upload an APK (analysed by the API server's own code path), list them by
//! verdict or app id, and read one report: verdict, score, the factors behind it, trackers,
//! permissions and endpoints, with the whole `interdict.assessment/v1` JSON to download.

use api_server::storage::{now_ms, AssessmentFilter, Role};
use api_server::AppState;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use crate::i18n::Tr;
use crate::text::{clip, show};
use crate::{api_error, render, signed_in, url_encode, Ctx, PageError};

type PageResult = Result<Response, PageError>;

const PAGE: i64 = 50;

fn verdict(tr: &Tr, v: &str) -> &'static str {
    match v {
        "acceptable" => tr.t("verdict.acceptable"),
        "unacceptable" => tr.t("verdict.unacceptable"),
        _ => tr.t("verdict.review"),
    }
}

pub(crate) struct AsmRow {
    href: String,
    app: String,
    version: String,
    verdict: &'static str,
    class: &'static str,
    score: String,
    at: String,
}

pub(crate) struct Opt {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "assessments.html")]
struct ListPage {
    c: Ctx,
    as_of: String,
    verdicts: Vec<Opt>,
    app: String,
    rows: Vec<AsmRow>,
    can_upload: bool,
    error: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    verdict: Option<String>,
    app_id: Option<String>,
    after: Option<String>,
}

fn class(v: &str) -> &'static str {
    match v {
        "acceptable" => "compliant",
        "unacceptable" => "violation",
        _ => "review",
    }
}

async fn list_page(state: &AppState, c: Ctx, q: &ListQuery, error: Option<String>) -> PageResult {
    let tr = c.tr;
    let verdict_q = q
        .verdict
        .as_deref()
        .filter(|v| api_server::VERDICTS.contains(v))
        .map(str::to_string);
    let f = AssessmentFilter {
        verdict: verdict_q.clone(),
        app_id: q.app_id.clone().filter(|a| !a.is_empty()),
        limit: Some(PAGE),
        after: q.after.clone().filter(|a| !a.is_empty()),
    };
    let rows = match state.store().list_assessments(&f).await {
        Ok(r) => r,
        Err(e) => return Err(api_error(c, e.into())),
    };
    let next = (rows.len() as i64 == PAGE)
        .then(|| rows.last())
        .flatten()
        .map(|l| {
            format!(
                "/assessments?verdict={}&app_id={}&after={}",
                url_encode(verdict_q.as_deref().unwrap_or("")),
                url_encode(q.app_id.as_deref().unwrap_or("")),
                url_encode(&l.id)
            )
        });
    let mut verdicts = vec![Opt {
        value: "",
        label: tr.t("status.all"),
        selected: verdict_q.is_none(),
    }];
    verdicts.extend(api_server::VERDICTS.iter().map(|v| Opt {
        value: v,
        label: verdict(&tr, v),
        selected: verdict_q.as_deref() == Some(*v),
    }));
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = ListPage {
        as_of: tr.f1("footer.as_of", &tr.time(&now_ms())),
        verdicts,
        app: clip(q.app_id.as_deref().unwrap_or(""), 255),
        rows: rows
            .iter()
            .map(|a| AsmRow {
                href: format!("/assessments/{}", url_encode(&a.id)),
                app: show(a.app_id.as_deref().unwrap_or(&a.sha256)),
                version: show(a.version_name.as_deref().unwrap_or("")),
                verdict: verdict(&tr, &a.verdict),
                class: class(&a.verdict),
                score: a.score.map(|s| s.to_string()).unwrap_or_default(),
                at: tr.time(&a.created_at),
            })
            .collect(),
        can_upload: c.user.as_ref().is_some_and(|u| u.role >= Role::Analyst),
        error,
        next,
        c,
    };
    Ok((status, render(&page)).into_response())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Viewer).await?;
    list_page(&state, c, &q, None).await
}

pub(crate) async fn upload(
    State(state): State<AppState>,
    parts: Parts,
    mut form: Multipart,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Analyst).await?;
    let Some(p) = c.user.clone() else {
        return Err(PageError::SignIn("/assessments".into()));
    };
    let mut apk = None;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("file") {
            match field.bytes().await {
                Ok(b) => apk = Some(b),
                Err(e) => {
                    let msg = c.tr.f1("asm.upload.error", &clip(&e.body_text(), 300));
                    return list_page(&state, c, &ListQuery::default(), Some(msg)).await;
                }
            }
        }
    }
    let apk = apk.unwrap_or_default();
    match state.upload_assessment(p, apk).await {
        Ok(v) => {
            let id = v["id"].as_str().unwrap_or("");
            Ok((
                StatusCode::SEE_OTHER,
                [(LOCATION, format!("/assessments/{}", url_encode(id)))],
            )
                .into_response())
        }
        Err((status, m)) if status.is_client_error() => {
            let msg = c.tr.f1("asm.upload.error", &clip(&m, 400));
            list_page(&state, c, &ListQuery::default(), Some(msg)).await
        }
        Err((_, m)) => Err(PageError::Internal(c, m)),
    }
}

pub(crate) struct FactorRow {
    points: String,
    title: String,
    evidence: String,
}

#[derive(Template)]
#[template(path = "assessment.html")]
struct ReportPage {
    c: Ctx,
    as_of: String,
    heading: String,
    verdict: &'static str,
    class: &'static str,
    facts: Vec<(&'static str, String)>,
    factors: Vec<FactorRow>,
    trackers: Vec<String>,
    permissions: Vec<String>,
    endpoints: Vec<String>,
    json: String,
}

fn strings(v: &Value, field: &str, max: usize) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get(field).and_then(Value::as_str).or_else(|| x.as_str()))
                .take(max)
                .map(show)
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) async fn report(
    State(state): State<AppState>,
    parts: Parts,
    Path(id): Path<String>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Viewer).await?;
    let tr = c.tr;
    let (row, json) = match state.store().assessment(&id).await {
        Ok(r) => r,
        Err(e) => return Err(api_error(c, e.into())),
    };
    let r: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
    let factors = r["risk"]["factors"]
        .as_array()
        .map(|a| {
            a.iter()
                .take(200)
                .map(|f| FactorRow {
                    points: f["points"].as_i64().unwrap_or(0).to_string(),
                    title: clip(f["title"].as_str().unwrap_or(""), 300),
                    evidence: clip(f["evidence"].as_str().unwrap_or(""), 300),
                })
                .collect()
        })
        .unwrap_or_default();
    let app = row.app_id.clone().unwrap_or_else(|| row.sha256.clone());
    Ok(render(&ReportPage {
        as_of: tr.f1("footer.as_of", &tr.time(&now_ms())),
        heading: tr.f1("asm.report", &show(&app)),
        verdict: verdict(&tr, &row.verdict),
        class: class(&row.verdict),
        facts: vec![
            (tr.t("asm.app"), show(&app)),
            (
                tr.t("col.version"),
                show(row.version_name.as_deref().unwrap_or("")),
            ),
            (
                tr.t("asm.score"),
                row.score.map(|s| s.to_string()).unwrap_or_default(),
            ),
            (tr.t("asm.sha256"), row.sha256.clone()),
            (tr.t("asm.size"), tr.num(&row.size)),
            (tr.t("asm.uploaded"), tr.time(&row.created_at)),
        ],
        factors,
        trackers: strings(&r["trackers"], "name", 200),
        permissions: strings(&r["permissions"], "name", 500),
        endpoints: strings(&r["endpoints"], "value", 200),
        json: format!("/assessments/{}/report.json", url_encode(&row.id)),
        c,
    }))
}

pub(crate) async fn report_json(
    State(state): State<AppState>,
    parts: Parts,
    Path(id): Path<String>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Viewer).await?;
    match state.store().assessment(&id).await {
        Ok((row, json)) => Ok((
            [
                (CONTENT_TYPE, "application/json".to_string()),
                (
                    CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}.json\"", row.sha256),
                ),
            ],
            json,
        )
            .into_response()),
        Err(e) => Err(api_error(c, e.into())),
    }
}
