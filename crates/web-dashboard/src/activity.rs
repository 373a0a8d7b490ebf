//! The activity screen: the events, filtered by actor, kind, object and date range, paged
//! newest first, and the matching events as CSV.

use api_server::storage::{now_ms, Event, EventFilter, Role};
use api_server::AppState;
use app_policy::Date;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::text::{clip, show};
use crate::{api_error, render, signed_in, url_encode, Ctx, PageError};

type PageResult = Result<Response, PageError>;

/// Most events in one CSV export.
const MAX_CSV: usize = 100_000;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ActivityQuery {
    actor: Option<String>,
    kind: Option<String>,
    object: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<i64>,
}

impl ActivityQuery {
    /// The storage filter, or `Err` when a date is not `YYYY-MM-DD`.
    fn filter(&self, limit: i64) -> Result<EventFilter, ()> {
        let day = |s: &Option<String>, end: bool| -> Result<Option<i64>, ()> {
            match s.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => {
                    let d = Date::parse(s).map_err(|_| ())?;
                    let days = i64::from(d.days_since_epoch()) + i64::from(end);
                    Ok(Some(days * 86_400_000))
                }
            }
        };
        Ok(EventFilter {
            actor: self.actor.clone(),
            kind: self.kind.clone(),
            object: self.object.clone(),
            from_ms: day(&self.from, false)?,
            to_ms: day(&self.to, true)?,
            before_seq: self.before,
            limit,
        })
    }

    fn query_string(&self, before: Option<i64>) -> String {
        let mut p = Vec::new();
        for (k, v) in [
            ("actor", &self.actor),
            ("kind", &self.kind),
            ("object", &self.object),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                p.push(format!("{k}={}", url_encode(v)));
            }
        }
        if let Some(b) = before {
            p.push(format!("before={b}"));
        }
        if p.is_empty() {
            String::new()
        } else {
            format!("?{}", p.join("&"))
        }
    }
}

pub(crate) struct EventRow {
    seq: String,
    at: String,
    actor: String,
    kind: String,
    object: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage {
    c: Ctx,
    as_of: String,
    actor: String,
    kind: String,
    object: String,
    from: String,
    to: String,
    error: Option<String>,
    rows: Vec<EventRow>,
    csv: String,
    next: Option<String>,
}

const PAGE: i64 = 50;

pub(crate) async fn activity(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<ActivityQuery>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Viewer).await?;
    let tr = c.tr;
    let (events, error) = match q.filter(PAGE) {
        Ok(f) => match state.store().events_filtered(&f).await {
            Ok(e) => (e, None),
            Err(e) => return Err(api_error(c, e.into())),
        },
        Err(()) => (Vec::new(), Some(tr.t("activity.bad_date").to_string())),
    };
    let next = (events.len() as i64 == PAGE)
        .then(|| events.last())
        .flatten()
        .map(|e| format!("/activity{}", q.query_string(Some(e.seq))));
    let keep = |s: &Option<String>| clip(s.as_deref().unwrap_or(""), 255);
    let page = ActivityPage {
        as_of: tr.f1("footer.as_of", &tr.time(&now_ms())),
        actor: keep(&q.actor),
        kind: keep(&q.kind),
        object: keep(&q.object),
        from: keep(&q.from),
        to: keep(&q.to),
        error,
        rows: events
            .iter()
            .map(|e| EventRow {
                seq: e.seq.to_string(),
                at: tr.time(&e.at),
                actor: show(&e.actor),
                kind: show(&e.action),
                object: show(&e.subject),
                detail: clip(&e.body.to_string(), 200),
            })
            .collect(),
        csv: format!("/activity.csv{}", q.query_string(None)),
        next,
        c,
    };
    Ok(render(&page))
}

fn csv_row(e: &Event) -> String {
    let f = |s: &str| {
        let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{s}")
        } else {
            s.to_string()
        };
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    };
    format!(
        "{},{},{},{},{},{}\n",
        e.seq,
        e.at,
        f(&e.actor),
        f(&e.action),
        f(&e.subject),
        f(&e.body.to_string())
    )
}

/// `GET /activity.csv`: every event matching the filters (at most 100,000), newest first.
pub(crate) async fn activity_csv(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<ActivityQuery>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Viewer).await?;
    let Ok(mut f) = q.filter(10_000) else {
        return Err(PageError::NotFound(c));
    };
    let mut out = format!(
        "# interdict activity,actor={},kind={},object={},from={},to={},as_of_ms={}\n\
         seq,at_ms,actor,kind,object,body\n",
        url_encode(q.actor.as_deref().unwrap_or("")),
        url_encode(q.kind.as_deref().unwrap_or("")),
        url_encode(q.object.as_deref().unwrap_or("")),
        url_encode(q.from.as_deref().unwrap_or("")),
        url_encode(q.to.as_deref().unwrap_or("")),
        now_ms()
    );
    let mut n = 0;
    loop {
        let page = match state.store().events_filtered(&f).await {
            Ok(p) => p,
            Err(e) => return Err(api_error(c, e.into())),
        };
        for e in &page {
            out.push_str(&csv_row(e));
        }
        n += page.len();
        match page.last() {
            Some(last) if page.len() as i64 == f.limit && n < MAX_CSV => {
                f.before_seq = Some(last.seq);
            }
            _ => break,
        }
    }
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (CONTENT_DISPOSITION, "attachment; filename=\"activity.csv\""),
        ],
        out,
    )
        .into_response())
}
