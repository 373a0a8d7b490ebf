//! The policy screens: versions with author and date, a version's rules, the semantic diff
//! between two versions in words, and publishing a new version from a TOML upload (errors at
//! their line and column).

use api_server::storage::{now_ms, Role};
use api_server::AppState;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use crate::i18n::Tr;
use crate::text::{clip, show};
use crate::{api_error, render, signed_in, url_encode, Ctx, PageError};

type PageResult = Result<Response, PageError>;

/// Largest policy file taken from the form, bytes (the API applies its own limit too).
const MAX_UPLOAD: usize = 16 * 1024 * 1024;

pub(crate) struct VersionRow {
    href: String,
    version: String,
    name: String,
    at: String,
    by: String,
}

pub(crate) struct VOpt {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    c: Ctx,
    as_of: String,
    versions: Vec<VersionRow>,
    from: Vec<VOpt>,
    to: Vec<VOpt>,
    can_publish: bool,
    reason: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PolicyQuery {
    done: Option<String>,
    v: Option<String>,
}

async fn policy_page(
    state: &AppState,
    c: Ctx,
    reason: String,
    error: Option<String>,
    notice: Option<String>,
) -> PageResult {
    let tr = c.tr;
    let versions = match state.store().policy_versions().await {
        Ok(v) => v,
        Err(e) => return Err(api_error(c, e.into())),
    };
    let newest = versions.iter().map(|v| v.version).max().unwrap_or(0);
    let opts = |pick: i64| {
        versions
            .iter()
            .map(|v| VOpt {
                value: v.version.to_string(),
                label: tr.f1("policy.version", &v.version),
                selected: v.version == pick,
            })
            .collect::<Vec<_>>()
    };
    let page = PolicyPage {
        as_of: tr.f1("footer.as_of", &tr.time(&now_ms())),
        from: opts((newest - 1).max(1)),
        to: opts(newest),
        versions: versions
            .iter()
            .rev()
            .map(|v| VersionRow {
                href: format!("/policy/versions/{}", v.version),
                version: v.version.to_string(),
                name: show(&v.name),
                at: tr.time(&v.created_at),
                by: show(&v.created_by),
            })
            .collect(),
        can_publish: c.user.as_ref().is_some_and(|u| u.role >= Role::Approver),
        reason: clip(&reason, 2000),
        error: error.clone(),
        notice,
        c,
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, render(&page)).into_response())
}

pub(crate) async fn policy(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<PolicyQuery>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Viewer).await?;
    let v = clip(q.v.as_deref().unwrap_or(""), 40);
    let notice = match q.done.as_deref() {
        Some("published") => Some(c.tr.f1("policy.publish.done", &v)),
        Some("pending") => Some(c.tr.f1("policy.publish.pending", &v)),
        Some("unchanged") => Some(c.tr.t("policy.publish.unchanged").to_string()),
        _ => None,
    };
    policy_page(&state, c, String::new(), None, notice).await
}

pub(crate) async fn publish(
    State(state): State<AppState>,
    parts: Parts,
    mut form: Multipart,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Approver).await?;
    let Some(p) = c.user.clone() else {
        return Err(PageError::SignIn("/policy".into()));
    };
    let (mut source, mut reason) = (None::<String>, String::new());
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                let msg =
                    c.tr.f1("policy.publish.refused", &clip(&e.body_text(), 300));
                return policy_page(&state, c, reason, Some(msg), None).await;
            }
        };
        let name = field.name().unwrap_or("").to_string();
        let bytes = match field.bytes().await {
            Ok(b) if b.len() <= MAX_UPLOAD => b,
            Ok(_) | Err(_) => {
                let msg =
                    c.tr.f1("policy.publish.refused", &"file too large or unreadable");
                return policy_page(&state, c, reason, Some(msg), None).await;
            }
        };
        match name.as_str() {
            "file" => source = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "reason" => reason = String::from_utf8_lossy(&bytes).chars().take(4000).collect(),
            _ => {}
        }
    }
    let source = source.unwrap_or_default();
    // Parsed here first only to show a syntax error at its line and column; the API checks
    // and publishes the same bytes.
    if let Err(e) = app_policy::parse_policy(&source, "policy.toml") {
        let msg = c.tr.f(
            "policy.publish.error",
            &[&e.loc.line, &e.loc.column, &clip(&e.message, 300)],
        );
        return policy_page(&state, c, reason, Some(msg), None).await;
    }
    let why = (!reason.trim().is_empty()).then(|| reason.clone());
    match state.publish_policy(p, source, why).await {
        Ok(done) => {
            let status = done.body["status"].as_str().unwrap_or("");
            let to = match status {
                "pending" => format!(
                    "/policy?done=pending&v={}",
                    url_encode(done.body["proposal"]["id"].as_str().unwrap_or(""))
                ),
                "unchanged" => "/policy?done=unchanged".to_string(),
                _ => format!(
                    "/policy?done=published&v={}",
                    done.body["version"].as_i64().unwrap_or(0)
                ),
            };
            Ok((StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response())
        }
        Err(
            api_server::ApiError::Invalid(m)
            | api_server::ApiError::Conflict(m)
            | api_server::ApiError::Forbidden(m),
        ) => {
            let msg = c.tr.f1("policy.publish.refused", &clip(&m, 600));
            policy_page(&state, c, reason, Some(msg), None).await
        }
        Err(e) => Err(api_error(c, e)),
    }
}

pub(crate) struct RuleRow {
    id: String,
    href: Option<String>,
    title: String,
    action: String,
    effective: String,
    deadline: String,
    apps: String,
}

#[derive(Template)]
#[template(path = "policy_version.html")]
struct VersionPage {
    c: Ctx,
    as_of: String,
    heading: String,
    rules: Vec<RuleRow>,
}

pub(crate) async fn version(
    State(state): State<AppState>,
    parts: Parts,
    Path(v): Path<String>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Viewer).await?;
    let tr = c.tr;
    let Ok(n) = v.parse::<i64>() else {
        return Err(PageError::NotFound(c));
    };
    let pv = match state.store().policy_version(n).await {
        Ok(pv) => pv,
        Err(e) => return Err(api_error(c, e.into())),
    };
    let policy = match app_policy::parse_policy(&pv.source, "policy.toml") {
        Ok(p) => p,
        Err(e) => return Err(PageError::Internal(c, e.to_string())),
    };
    let active = state.active().map(|a| a.version) == Some(n);
    let rules = policy
        .rules
        .iter()
        .map(|r| RuleRow {
            id: show(&r.id),
            href: active.then(|| format!("/rules/{}", url_encode(&r.id))),
            title: show(r.title.as_deref().unwrap_or("")),
            action: show(&format!("{:?}", r.action).to_lowercase()),
            effective: r.effective.map(|d| d.to_string()).unwrap_or_default(),
            deadline: r.deadline().map(|d| d.to_string()).unwrap_or_default(),
            apps: clip(
                &r.app_ids
                    .iter()
                    .map(|a| a.value.as_str())
                    .chain(r.vendors.iter().map(|v| v.value.as_str()))
                    .collect::<Vec<_>>()
                    .join(", "),
                200,
            ),
        })
        .collect();
    Ok(render(&VersionPage {
        as_of: tr.f1("footer.as_of", &tr.time(&now_ms())),
        heading: tr.f2("policy.version.title", &n, &show(&policy.name)),
        rules,
        c,
    }))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

#[derive(Template)]
#[template(path = "policy_diff.html")]
struct DiffPage {
    c: Ctx,
    as_of: String,
    heading: String,
    lines: Vec<String>,
}

fn value_words(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The semantic diff in words of the page's language.
pub(crate) fn diff_lines(tr: &Tr, d: &app_policy::PolicyDiff) -> Vec<String> {
    let change = |f: &app_policy::diff::FieldChange| {
        format!(
            "{}: {}",
            f.field,
            tr.f2(
                "policy.diff.from_to",
                &clip(&value_words(&f.old), 200),
                &clip(&value_words(&f.new), 200)
            )
        )
    };
    let mut out = Vec::new();
    for f in &d.policy {
        out.push(tr.f1("policy.diff.changed_policy", &change(f)));
    }
    for i in &d.rules_added {
        out.push(tr.f1("policy.diff.added", &show(&i.id)));
    }
    for i in &d.rules_removed {
        out.push(tr.f1("policy.diff.removed", &show(&i.id)));
    }
    for r in &d.rules_changed {
        let what = r.changes.iter().map(change).collect::<Vec<_>>().join("; ");
        out.push(tr.f2("policy.diff.changed", &show(&r.id), &what));
    }
    if d.rules_reordered {
        out.push(tr.t("policy.diff.reordered").to_string());
    }
    for w in &d.weakenings {
        out.push(tr.f1(
            "policy.diff.weakens",
            &clip(&format!("{}: {}", w.id, w.detail), 300),
        ));
    }
    if out.is_empty() {
        out.push(tr.t("policy.diff.none").to_string());
    }
    out
}

pub(crate) async fn diff(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<DiffQuery>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Viewer).await?;
    let tr = c.tr;
    let (Some(from), Some(to)) = (
        q.from.as_deref().and_then(|v| v.parse::<i64>().ok()),
        q.to.as_deref().and_then(|v| v.parse::<i64>().ok()),
    ) else {
        return Err(PageError::NotFound(c));
    };
    let mut parsed = Vec::new();
    for v in [from, to] {
        let pv = match state.store().policy_version(v).await {
            Ok(pv) => pv,
            Err(e) => return Err(api_error(c, e.into())),
        };
        match app_policy::parse_policy(&pv.source, "policy.toml") {
            Ok(p) => parsed.push(p),
            Err(e) => return Err(PageError::Internal(c, e.to_string())),
        }
    }
    let d = app_policy::diff(&parsed[0], &parsed[1], state.time_zone().today());
    Ok(render(&DiffPage {
        as_of: tr.f1("footer.as_of", &tr.time(&now_ms())),
        heading: tr.f2("policy.diff.title", &from, &to),
        lines: diff_lines(&tr, &d),
        c,
    }))
}
