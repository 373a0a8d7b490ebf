//! The screens: overview, rule, devices, device, exceptions register.

use std::collections::HashMap;

use api_server::storage::{
    now_ms, DeviceFilter, Exposure, ExposureScope, Freshness, Role, RuleWorst,
};
use api_server::AppState;
use app_policy::{Date, Ownership, Platform};
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::i18n::Tr;
use crate::text::{clip, show};
use crate::{api_error, render, signed_in, svg, url_encode, Ctx, PageError};

/// Rows per page of every list.
pub(crate) const PAGE: i64 = 50;
/// The meta key of the stale window (seconds), set by an admin; default 3 check-in intervals.
pub(crate) const STALE_WINDOW_KEY: &str = "dashboard.stale_window_s";

type PageResult = Result<Response, PageError>;

/// The stale window, seconds.
pub(crate) async fn stale_window_s(state: &AppState) -> i64 {
    let default = i64::try_from(state.checkin_interval_s().saturating_mul(3)).unwrap_or(i64::MAX);
    match state.store().meta(STALE_WINDOW_KEY).await {
        Ok(Some(v)) => v.parse().ok().filter(|s: &i64| *s > 0).unwrap_or(default),
        _ => default,
    }
}

// ---- overview ----------------------------------------------------------------------------

/// One number on a card: its label, value and the list behind it.
pub(crate) struct Count {
    /// Catalogue label.
    pub(crate) label: &'static str,
    /// CSS class (the status).
    pub(crate) class: &'static str,
    /// Formatted value.
    pub(crate) value: String,
    /// The list behind it.
    pub(crate) href: String,
}

/// One rule's card.
pub(crate) struct Card {
    /// Rule id (cleaned).
    pub(crate) id: String,
    /// Title or id.
    pub(crate) title: String,
    /// Link to the rule page.
    pub(crate) href: String,
    /// "of N devices in scope".
    pub(crate) denominator: String,
    /// Accessible name of the title link.
    pub(crate) open_label: String,
    /// The counts.
    pub(crate) counts: Vec<Count>,
    sort: (i64, i64, i64, i64, i64),
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    c: Ctx,
    as_of: String,
    policy: String,
    window: String,
    cards: Vec<Card>,
    no_policy: bool,
}

/// Per-rule counts of the overview.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RuleCounts {
    /// Devices the rule applies to.
    pub(crate) in_scope: i64,
    /// Fresh and holding nothing the rule matches.
    pub(crate) compliant: i64,
    /// Worst status in grace.
    pub(crate) in_grace: i64,
    /// Worst status overdue.
    pub(crate) violation: i64,
    /// Worst status excepted.
    pub(crate) excepted: i64,
    /// Worst status to review.
    pub(crate) review: i64,
    /// Stale and holding nothing known.
    pub(crate) stale: i64,
    /// Never reported.
    pub(crate) never: i64,
}

/// The overview's counts for one rule: devices in scope by freshness (from the buckets),
/// devices exposed by worst status; a stale or silent device is never compliant.
pub(crate) fn rule_counts(
    rule: &app_policy::Rule,
    buckets: &[api_server::storage::DeviceBucket],
    worst: &[&RuleWorst],
) -> RuleCounts {
    let mut c = RuleCounts::default();
    let (mut stale_scope, mut never_scope) = (0, 0);
    for b in buckets {
        let platform_ok = Platform::parse(&b.platform).is_none_or(|p| rule.applies_to(p));
        let ownership = Ownership::parse(&b.ownership).unwrap_or_default();
        if !platform_ok || !rule.scope.covers(&b.groups, ownership) {
            continue;
        }
        c.in_scope += b.devices;
        match b.freshness {
            Freshness::Stale => stale_scope += b.devices,
            Freshness::Never => never_scope += b.devices,
            Freshness::Fresh => {}
        }
    }
    let (mut stale_exposed, mut never_exposed) = (0, 0);
    for w in worst {
        match w.status.as_str() {
            "violation" => c.violation += w.devices,
            "in_grace" => c.in_grace += w.devices,
            "excepted" => c.excepted += w.devices,
            _ => c.review += w.devices,
        }
        match w.freshness {
            Freshness::Stale => stale_exposed += w.devices,
            Freshness::Never => never_exposed += w.devices,
            Freshness::Fresh => {}
        }
    }
    c.stale = (stale_scope - stale_exposed).max(0);
    c.never = (never_scope - never_exposed).max(0);
    let exposed = c.violation + c.in_grace + c.excepted + c.review;
    c.compliant = (c.in_scope - exposed - c.stale - c.never).max(0);
    c
}

pub(crate) async fn overview(State(state): State<AppState>, parts: Parts) -> PageResult {
    let c = signed_in(&state, &parts, Role::Viewer).await?;
    let now = now_ms();
    let window = stale_window_s(&state).await;
    let stale_before = now.saturating_sub(window.saturating_mul(1000));
    let tr = c.tr;
    let as_of = tr.f1("footer.as_of", &tr.time(&now));
    let window_text = tr.f1("overview.window", &tr.num(&(window / 60).max(1)));
    let Some(active) = state.active() else {
        return Ok(render(&OverviewPage {
            c,
            as_of,
            policy: String::new(),
            window: window_text,
            cards: Vec::new(),
            no_policy: true,
        }));
    };
    let today = state.time_zone().today().to_string();
    let store = state.store();
    let buckets = match store.device_buckets(stale_before).await {
        Ok(b) => b,
        Err(e) => return Err(api_error(c, e.into())),
    };
    let worst = match store.rule_worst(&today, stale_before).await {
        Ok(w) => w,
        Err(e) => return Err(api_error(c, e.into())),
    };
    let mut by_rule: HashMap<&str, Vec<&RuleWorst>> = HashMap::new();
    for w in &worst {
        by_rule.entry(w.rule.as_str()).or_default().push(w);
    }
    let policy = active.policy();
    let mut cards: Vec<Card> = policy
        .rules
        .iter()
        .map(|r| {
            let counts = rule_counts(
                r,
                &buckets,
                by_rule.get(r.id.as_str()).map_or(&[][..], |v| v),
            );
            card(&tr, r, &counts)
        })
        .collect();
    cards.sort_by(|a, b| b.sort.cmp(&a.sort).then_with(|| a.id.cmp(&b.id)));
    let policy_line = tr.f2("overview.policy", &show(&policy.name), &active.version);
    Ok(render(&OverviewPage {
        c,
        as_of,
        policy: policy_line,
        window: window_text,
        cards,
        no_policy: false,
    }))
}

fn card(tr: &Tr, r: &app_policy::Rule, n: &RuleCounts) -> Card {
    let base = format!("/rules/{}", url_encode(&r.id));
    let list = |status: &str| format!("{base}?status={status}#exposure");
    let devices = |seen: &str| format!("/devices?seen={seen}");
    let count = |label: &'static str, class: &'static str, v: i64, href: String| Count {
        label: tr.t(label),
        class,
        value: tr.num(&v),
        href,
    };
    Card {
        id: show(&r.id),
        title: show(r.title.as_deref().unwrap_or(&r.id)),
        href: base.clone(),
        denominator: tr.f1("overview.denominator", &tr.num(&n.in_scope)),
        open_label: tr.f1("overview.open_rule", &show(&r.id)),
        counts: vec![
            count(
                "status.violation",
                "violation",
                n.violation,
                list("violation"),
            ),
            count("status.in_grace", "in-grace", n.in_grace, list("in_grace")),
            count("status.review", "review", n.review, list("review")),
            count("status.stale", "stale", n.stale, devices("stale")),
            count("status.never", "never", n.never, devices("never")),
            count("status.excepted", "excepted", n.excepted, list("excepted")),
            count(
                "status.compliant",
                "compliant",
                n.compliant,
                devices("fresh"),
            ),
            count("status.in_scope", "scope", n.in_scope, "/devices".into()),
        ],
        sort: (
            n.violation,
            n.in_grace,
            n.review,
            n.stale + n.never,
            n.excepted,
        ),
    }
}

// ---- rule ----------------------------------------------------------------------------------

const STATUSES: [&str; 4] = ["violation", "in_grace", "excepted", "review"];

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ExposureQuery {
    status: Option<String>,
    after_device: Option<String>,
    after_app: Option<String>,
}

impl ExposureQuery {
    fn status(&self) -> Option<&'static str> {
        let s = self.status.as_deref()?;
        STATUSES.iter().copied().find(|k| *k == s)
    }
}

/// One exposure row as shown.
pub(crate) struct Row {
    device_href: String,
    device: String,
    app: String,
    status: &'static str,
    class: String,
    installed: String,
    flagged: String,
    deadline: String,
    until: String,
}

/// An option of a `<select>`.
pub(crate) struct Opt {
    value: String,
    label: String,
    selected: bool,
}

/// One burn-down table row.
pub(crate) struct Day {
    day: String,
    exposed: String,
    violation: String,
    in_grace: String,
    excepted: String,
    review: String,
}

#[derive(Template)]
#[template(path = "rule.html")]
struct RulePage {
    c: Ctx,
    as_of: String,
    heading: String,
    facts: Vec<(&'static str, String)>,
    chart: String,
    chart_heading: &'static str,
    days: Vec<Day>,
    statuses: Vec<Opt>,
    action: String,
    rows: Vec<Row>,
    range: String,
    csv: String,
    json: String,
    next: Option<String>,
    first: Option<String>,
}

async fn exposure_page(
    state: &AppState,
    rule: &str,
    q: &ExposureQuery,
) -> Result<Vec<Exposure>, api_server::ApiError> {
    let today = state.time_zone().today().to_string();
    let after = q
        .after_device
        .as_deref()
        .map(|d| (d, q.after_app.as_deref().unwrap_or("")));
    Ok(state
        .store()
        .exposures_with_status(ExposureScope::Rule(rule), &today, q.status(), after, PAGE)
        .await?)
}

fn find_rule<'a>(policy: &'a app_policy::Policy, id: &str) -> Option<&'a app_policy::Rule> {
    policy.rules.iter().find(|r| r.id == id)
}

fn query_string(q: &ExposureQuery, after: Option<(&str, &str)>) -> String {
    let mut parts = Vec::new();
    if let Some(s) = q.status() {
        parts.push(format!("status={s}"));
    }
    if let Some((d, a)) = after {
        parts.push(format!("after_device={}", url_encode(d)));
        parts.push(format!("after_app={}", url_encode(a)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

pub(crate) async fn rule(
    State(state): State<AppState>,
    parts: Parts,
    Path(id): Path<String>,
    Query(q): Query<ExposureQuery>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Viewer).await?;
    let tr = c.tr;
    let Some(active) = state.active() else {
        return Err(PageError::NotFound(c));
    };
    let Some(r) = find_rule(active.policy(), &id) else {
        return Err(PageError::NotFound(c));
    };
    let now = now_ms();
    let none = || tr.t("rule.none").to_string();
    let facts = vec![
        (
            "rule.rationale",
            r.rationale
                .as_deref()
                .map(|s| clip(s, 2000))
                .unwrap_or_else(none),
        ),
        (
            "rule.authority",
            r.authority
                .as_deref()
                .map(|s| clip(s, 500))
                .unwrap_or_else(none),
        ),
        (
            "rule.effective",
            r.effective.map(|d| d.to_string()).unwrap_or_else(none),
        ),
        (
            "rule.deadline",
            r.deadline().map(|d| d.to_string()).unwrap_or_else(none),
        ),
        ("rule.version", active.version.to_string()),
    ];
    let facts = facts
        .into_iter()
        .map(|(k, v)| (tr.t(k), v))
        .collect::<Vec<_>>();
    // The burn-down from the effective date (or 60 days back) to today.
    let zone = state.time_zone();
    let today = zone.today();
    let from = r
        .effective
        .filter(|e| *e <= today)
        .unwrap_or_else(|| Date::from_days_since_epoch(i64::from(today.days_since_epoch()) - 60));
    let span = i64::from(today.days_since_epoch()) - i64::from(from.days_since_epoch()) + 1;
    let days_wanted = api_server::storage::series_days(from, today, span.clamp(1, 120));
    let points = match state
        .store()
        .rule_series(&r.id, zone, &days_wanted, now)
        .await
    {
        Ok(p) => p,
        Err(e) => return Err(api_error(c, e.into())),
    };
    let desc = tr.f1("rule.burndown.desc", &from);
    let chart = svg::burndown(
        "burndown",
        &points,
        &svg::Labels {
            title: tr.t("rule.burndown"),
            desc: &desc,
            statuses: [
                tr.t("status.violation"),
                tr.t("status.in_grace"),
                tr.t("status.excepted"),
                tr.t("status.review"),
            ],
        },
    );
    let days = points
        .iter()
        .map(|p| Day {
            day: p.day.clone(),
            exposed: tr.num(&p.exposed),
            violation: tr.num(&p.violation),
            in_grace: tr.num(&p.in_grace),
            excepted: tr.num(&p.excepted),
            review: tr.num(&p.review),
        })
        .collect();
    let rows = match exposure_page(&state, &r.id, &q).await {
        Ok(rows) => rows,
        Err(e) => return Err(api_error(c, e)),
    };
    let base = format!("/rules/{}", url_encode(&r.id));
    let this = query_string(
        &q,
        q.after_device
            .as_deref()
            .map(|d| (d, q.after_app.as_deref().unwrap_or(""))),
    );
    let next = (rows.len() as i64 == PAGE)
        .then(|| rows.last())
        .flatten()
        .map(|l| {
            format!(
                "{base}{}#exposure",
                query_string(&q, Some((&l.device_id, &l.app_id)))
            )
        });
    let first = q
        .after_device
        .is_some()
        .then(|| format!("{base}{}#exposure", query_string(&q, None)));
    let range = tr.f2(
        "rule.rows",
        &if rows.is_empty() { 0 } else { 1 },
        &rows.len(),
    );
    let mut statuses = vec![Opt {
        value: String::new(),
        label: tr.t("status.all").into(),
        selected: q.status().is_none(),
    }];
    statuses.extend(STATUSES.iter().map(|s| Opt {
        value: (*s).into(),
        label: tr.status(s).into(),
        selected: q.status() == Some(*s),
    }));
    let shown = rows.iter().map(|e| exposure_row(&tr, e)).collect();
    Ok(render(&RulePage {
        as_of: tr.f1("footer.as_of", &tr.time(&now)),
        heading: tr.f1("rule.title", &show(r.title.as_deref().unwrap_or(&r.id))),
        facts,
        chart,
        chart_heading: tr.t("rule.burndown"),
        days,
        statuses,
        action: base.clone(),
        rows: shown,
        range,
        csv: format!("{base}/exposure.csv{this}"),
        json: format!("{base}/exposure.json{this}"),
        next,
        first,
        c,
    }))
}

fn exposure_row(tr: &Tr, e: &Exposure) -> Row {
    Row {
        device_href: format!("/devices/{}", url_encode(&e.device_id)),
        device: show(&e.device_name),
        app: show(&e.app_id),
        status: tr.status(&e.status),
        class: e.status.replace('_', "-"),
        installed: tr.otime(&e.installed_since),
        flagged: tr.time(&e.flagged_since),
        deadline: tr.odate(&e.deadline),
        until: tr.odate(&e.excepted_until),
    }
}

async fn export_rows(
    state: &AppState,
    parts: &Parts,
    id: &str,
    q: &ExposureQuery,
) -> Result<(i64, Vec<Exposure>, String), PageError> {
    let c = signed_in(state, parts, Role::Viewer).await?;
    let Some(active) = state.active() else {
        return Err(PageError::NotFound(c));
    };
    if find_rule(active.policy(), id).is_none() {
        return Err(PageError::NotFound(c));
    }
    let rows = exposure_page(state, id, q)
        .await
        .map_err(|e| api_error(c, e))?;
    Ok((active.version, rows, active.policy().name.clone()))
}

/// A CSV field, quoted when needed, with spreadsheet formulas neutralised.
fn csv_field(s: &str) -> String {
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
}

fn file_name(id: &str, ext: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    format!("attachment; filename=\"exposure-{safe}.{ext}\"")
}

/// `GET /rules/{id}/exposure.csv`: exactly the rows of the page with the same query.
pub(crate) async fn rule_csv(
    State(state): State<AppState>,
    parts: Parts,
    Path(id): Path<String>,
    Query(q): Query<ExposureQuery>,
) -> PageResult {
    let (version, rows, policy) = export_rows(&state, &parts, &id, &q).await?;
    let mut out = format!(
        "# policy={},version={version},rule={},status={},as_of_ms={}\n",
        csv_field(&policy),
        csv_field(&id),
        q.status().unwrap_or("all"),
        now_ms()
    );
    out.push_str(
        "device_id,device_name,platform,app_id,status,installed_since_ms,flagged_since_ms,\
         deadline,exception_id,excepted_until\n",
    );
    for e in rows {
        let fields = [
            csv_field(&e.device_id),
            csv_field(&e.device_name),
            csv_field(&e.platform),
            csv_field(&e.app_id),
            e.status,
            e.installed_since.map(|v| v.to_string()).unwrap_or_default(),
            e.flagged_since.to_string(),
            e.deadline.unwrap_or_default(),
            csv_field(&e.exception_id.unwrap_or_default()),
            e.excepted_until.unwrap_or_default(),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (CONTENT_DISPOSITION, file_name(&id, "csv")),
        ],
        out,
    )
        .into_response())
}

/// `GET /rules/{id}/exposure.json`: the same rows as JSON.
pub(crate) async fn rule_json(
    State(state): State<AppState>,
    parts: Parts,
    Path(id): Path<String>,
    Query(q): Query<ExposureQuery>,
) -> PageResult {
    let (version, rows, policy) = export_rows(&state, &parts, &id, &q).await?;
    let body = serde_json::json!({
        "policy": policy,
        "version": version,
        "rule": id,
        "status": q.status(),
        "as_of_ms": now_ms(),
        "devices": rows,
    });
    Ok((
        [
            (CONTENT_TYPE, "application/json".to_string()),
            (CONTENT_DISPOSITION, file_name(&id, "json")),
        ],
        body.to_string(),
    )
        .into_response())
}

// ---- devices -------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DevicesQuery {
    group: Option<String>,
    platform: Option<String>,
    ownership: Option<String>,
    status: Option<String>,
    seen: Option<String>,
    q: Option<String>,
    after: Option<String>,
}

/// One device row.
pub(crate) struct DeviceRow {
    href: String,
    name: String,
    platform: String,
    ownership: String,
    groups: String,
    last_seen: String,
    status: &'static str,
    class: &'static str,
}

#[derive(Template)]
#[template(path = "devices.html")]
struct DevicesPage {
    c: Ctx,
    as_of: String,
    group: String,
    search: String,
    platforms: Vec<Opt>,
    ownerships: Vec<Opt>,
    statuses: Vec<Opt>,
    seens: Vec<Opt>,
    rows: Vec<DeviceRow>,
    next: Option<String>,
    first: Option<String>,
}

fn opts(tr: &Tr, values: &[(&str, &str)], chosen: Option<&str>, all: &'static str) -> Vec<Opt> {
    let mut v = vec![Opt {
        value: String::new(),
        label: tr.t(all).into(),
        selected: chosen.is_none_or(str::is_empty),
    }];
    v.extend(values.iter().map(|(val, label)| Opt {
        value: (*val).into(),
        label: if label.contains('.') {
            tr.t(label).into()
        } else {
            (*label).into()
        },
        selected: chosen == Some(*val),
    }));
    v
}

fn device_query(q: &DevicesQuery, after: Option<&str>) -> String {
    let mut p = Vec::new();
    for (k, v) in [
        ("group", &q.group),
        ("platform", &q.platform),
        ("ownership", &q.ownership),
        ("status", &q.status),
        ("seen", &q.seen),
        ("q", &q.q),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            p.push(format!("{k}={}", url_encode(v)));
        }
    }
    if let Some(a) = after {
        p.push(format!("after={}", url_encode(a)));
    }
    if p.is_empty() {
        String::new()
    } else {
        format!("?{}", p.join("&"))
    }
}

pub(crate) async fn devices(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<DevicesQuery>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Viewer).await?;
    let tr = c.tr;
    let now = now_ms();
    let stale_before = now.saturating_sub(stale_window_s(&state).await.saturating_mul(1000));
    let nonempty = |s: &Option<String>| s.clone().filter(|v| !v.is_empty());
    let freshness = match q.seen.as_deref() {
        Some("fresh") => Some(Freshness::Fresh),
        Some("stale") => Some(Freshness::Stale),
        Some("never") => Some(Freshness::Never),
        _ => None,
    };
    let f = DeviceFilter {
        overdue: match q.status.as_deref() {
            Some("violation") => Some(true),
            Some("no_violation") => Some(false),
            _ => None,
        },
        platform: nonempty(&q.platform),
        group: nonempty(&q.group),
        ownership: nonempty(&q.ownership),
        freshness,
        stale_before,
        search: nonempty(&q.q),
        limit: Some(PAGE),
        after: nonempty(&q.after),
        ..DeviceFilter::default()
    };
    let list = match state.store().list_devices(&f).await {
        Ok(l) => l,
        Err(e) => return Err(api_error(c, e.into())),
    };
    let rows: Vec<DeviceRow> = list
        .iter()
        .map(|d| {
            let (status, class) = match d.last_seen {
                None => (tr.t("status.never"), "never"),
                Some(s) if s < stale_before => (tr.t("status.stale"), "stale"),
                _ if d.overdue => (tr.t("status.violation"), "violation"),
                _ if d.in_grace => (tr.t("status.in_grace"), "in-grace"),
                _ => (tr.t("status.compliant"), "compliant"),
            };
            DeviceRow {
                href: format!("/devices/{}", url_encode(&d.id)),
                name: show(&d.name),
                platform: show(&d.platform),
                ownership: show(&d.ownership),
                groups: clip(&d.groups.join(", "), 120),
                last_seen: tr.otime(&d.last_seen),
                status,
                class,
            }
        })
        .collect();
    let next = (list.len() as i64 == PAGE)
        .then(|| list.last())
        .flatten()
        .map(|d| format!("/devices{}", device_query(&q, Some(&d.id))));
    let first = q
        .after
        .is_some()
        .then(|| format!("/devices{}", device_query(&q, None)));
    Ok(render(&DevicesPage {
        as_of: tr.f1("footer.as_of", &tr.time(&now)),
        group: clip(q.group.as_deref().unwrap_or(""), 255),
        search: clip(q.q.as_deref().unwrap_or(""), 255),
        platforms: opts(
            &tr,
            &[
                ("android", "Android"),
                ("ios", "iOS"),
                ("macos", "macOS"),
                ("windows", "Windows"),
                ("linux", "Linux"),
            ],
            q.platform.as_deref(),
            "status.all",
        ),
        ownerships: opts(
            &tr,
            &[
                ("corporate", "corporate"),
                ("personal", "personal"),
                ("unknown", "unknown"),
            ],
            q.ownership.as_deref(),
            "status.all",
        ),
        statuses: opts(
            &tr,
            &[("violation", "status.violation")],
            q.status.as_deref(),
            "status.all",
        ),
        seens: opts(
            &tr,
            &[
                ("fresh", "status.compliant"),
                ("stale", "status.stale"),
                ("never", "status.never"),
            ],
            q.seen.as_deref(),
            "devices.seen.any",
        ),
        rows,
        next,
        first,
        c,
    }))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DeviceQuery {
    q: Option<String>,
}

/// An installed app row.
pub(crate) struct InstallRow {
    app: String,
    version: String,
    first_seen: String,
    removed: String,
}

/// An action result row.
pub(crate) struct ActionRow {
    app: String,
    kind: String,
    status: &'static str,
    detail: String,
    received: String,
}

/// An exception row.
pub(crate) struct ExcRow {
    id: String,
    rule: String,
    app: String,
    basis: &'static str,
    justification: String,
    expires: String,
    status: &'static str,
    requested_by: String,
    decided_by: String,
    device_href: String,
    device: String,
    can_decide: bool,
    can_revoke: bool,
    approve: String,
    deny: String,
    revoke: String,
}

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage {
    c: Ctx,
    as_of: String,
    heading: String,
    facts: Vec<(&'static str, String)>,
    search: String,
    inventory: Vec<InstallRow>,
    history: Vec<InstallRow>,
    findings: Vec<Row>,
    actions: Vec<ActionRow>,
    exceptions: Vec<ExcRow>,
}

pub(crate) async fn device(
    State(state): State<AppState>,
    parts: Parts,
    Path(id): Path<String>,
    Query(q): Query<DeviceQuery>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Viewer).await?;
    let tr = c.tr;
    let now = now_ms();
    let d = match state.store().device_detail(&id).await {
        Ok(d) => d,
        Err(e) => return Err(api_error(c, e.into())),
    };
    let search = q.q.clone().unwrap_or_default();
    let needle = search.to_lowercase();
    let install = |i: &api_server::storage::Install| InstallRow {
        app: show(&i.app_id),
        version: show(i.version.as_deref().unwrap_or("")),
        first_seen: tr.time(&i.first_seen),
        removed: tr.otime(&i.removed_at),
    };
    let inventory = d
        .installs
        .iter()
        .filter(|i| i.removed_at.is_none())
        .filter(|i| needle.is_empty() || i.app_id.to_lowercase().contains(&needle))
        .take(500)
        .map(install)
        .collect();
    let history = d
        .installs
        .iter()
        .filter(|i| i.removed_at.is_some())
        .take(500)
        .map(install)
        .collect();
    let actions = d
        .action_results
        .iter()
        .map(|a| ActionRow {
            app: show(&a.result.app_id),
            kind: show(&a.result.kind),
            status: match a.result.status.as_str() {
                "done" => tr.t("action.done"),
                "failed" => tr.t("action.failed"),
                "dry_run" => tr.t("action.dry_run"),
                _ => tr.t("status.review"),
            },
            detail: clip(&a.result.detail, 300),
            received: tr.time(&a.received_at),
        })
        .collect();
    let exceptions = match state.store().exceptions(None).await {
        Ok(all) => all
            .iter()
            .filter(|e| e.device_id == d.device.id)
            .map(|e| exc_row(&tr, e, &c, &state.time_zone().today().to_string()))
            .collect(),
        Err(e) => return Err(api_error(c, e.into())),
    };
    let facts = vec![
        (tr.t("col.platform"), show(&d.device.platform)),
        (tr.t("col.ownership"), show(&d.device.ownership)),
        (tr.t("col.groups"), clip(&d.device.groups.join(", "), 300)),
        (tr.t("device.serial"), show(&d.device.serial)),
        (tr.t("device.enrolled"), tr.time(&d.device.enrolled_at)),
        (tr.t("col.last_seen"), tr.otime(&d.device.last_seen)),
    ];
    Ok(render(&DevicePage {
        as_of: tr.f1("footer.as_of", &tr.time(&now)),
        heading: tr.f1("device.title", &show(&d.device.name)),
        facts,
        search: clip(&search, 255),
        inventory,
        history,
        findings: d.findings.iter().map(|e| exposure_row(&tr, e)).collect(),
        actions,
        exceptions,
        c,
    }))
}

// ---- exceptions ----------------------------------------------------------------------------

fn exc_row(tr: &Tr, e: &api_server::storage::ExceptionRow, c: &Ctx, today: &str) -> ExcRow {
    let role = c.user.as_ref().map(|u| u.role);
    let base = format!("/exceptions/{}", url_encode(&e.id));
    ExcRow {
        id: show(&e.id),
        rule: show(&e.rule),
        app: show(e.app_id.as_deref().unwrap_or("")),
        basis: match e.basis.as_deref() {
            Some("law_enforcement") => tr.t("basis.law_enforcement"),
            Some("national_security") => tr.t("basis.national_security"),
            Some("security_research") => tr.t("basis.security_research"),
            _ => tr.t("basis.other"),
        },
        justification: clip(&e.justification, 300),
        expires: tr.date(&e.expires),
        status: match e.status.as_str() {
            "requested" => tr.t("exc.status.requested"),
            "approved" => tr.t("exc.status.approved"),
            "denied" => tr.t("exc.status.denied"),
            _ => tr.t("exc.status.revoked"),
        },
        requested_by: show(&e.requested_by),
        decided_by: show(e.decided_by.as_deref().unwrap_or("")),
        device_href: format!("/devices/{}", url_encode(&e.device_id)),
        device: show(&e.device_id),
        // Shown to analysts too: the approver's page refuses them with a 403 page.
        can_decide: e.status == "requested" && role.is_some_and(|r| r >= Role::Analyst),
        can_revoke: e.status == "approved"
            && e.expires.as_str() >= today
            && role.is_some_and(|r| r >= Role::Approver),
        approve: format!("{base}/approve"),
        deny: format!("{base}/deny"),
        revoke: format!("{base}/revoke"),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ExceptionsQuery {
    filter: Option<String>,
    page: Option<usize>,
}

/// What the request form holds (kept when sent back with an error).
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct ExceptionForm {
    #[serde(default)]
    device_id: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    app_id: String,
    #[serde(default)]
    basis: String,
    #[serde(default)]
    justification: String,
    #[serde(default)]
    expires: String,
}

/// A filter tab.
pub(crate) struct Tab {
    href: String,
    label: &'static str,
    current: bool,
}

#[derive(Template)]
#[template(path = "exceptions.html")]
struct ExceptionsPage {
    c: Ctx,
    as_of: String,
    tabs: Vec<Tab>,
    rows: Vec<ExcRow>,
    can_request: bool,
    form: ExceptionForm,
    rules: Vec<Opt>,
    bases: Vec<Opt>,
    error: Option<String>,
    next: Option<String>,
}

async fn exceptions_page(
    state: &AppState,
    c: Ctx,
    q: &ExceptionsQuery,
    form: ExceptionForm,
    error: Option<String>,
) -> PageResult {
    let tr = c.tr;
    let now = now_ms();
    let today = state.time_zone().today();
    let today_s = today.to_string();
    let soon = today.add_days(14).to_string();
    let filter = q.filter.as_deref().unwrap_or("all");
    let all = match state.store().exceptions(None).await {
        Ok(a) => a,
        Err(e) => return Err(api_error(c, e.into())),
    };
    let keep = |e: &&api_server::storage::ExceptionRow| match filter {
        "pending" => e.status == "requested",
        "expiring" => e.status == "approved" && e.expires >= today_s && e.expires <= soon,
        "expired" => e.status == "approved" && e.expires < today_s,
        _ => true,
    };
    let page = q.page.unwrap_or(0);
    let page_size = PAGE as usize;
    let filtered: Vec<_> = all.iter().filter(keep).collect();
    let rows = filtered
        .iter()
        .skip(page * page_size)
        .take(page_size)
        .map(|e| exc_row(&tr, e, &c, &today_s))
        .collect();
    let next = (filtered.len() > (page + 1) * page_size)
        .then(|| format!("/exceptions?filter={filter}&page={}", page + 1));
    let tabs = [
        ("all", "exc.filter.all"),
        ("pending", "exc.filter.pending"),
        ("expiring", "exc.filter.expiring"),
        ("expired", "exc.filter.expired"),
    ]
    .into_iter()
    .map(|(k, label)| Tab {
        href: format!("/exceptions?filter={k}"),
        label: tr.t(label),
        current: k == filter,
    })
    .collect();
    let rules = state
        .active()
        .map(|a| {
            a.policy()
                .rules
                .iter()
                .map(|r| Opt {
                    value: r.id.clone(),
                    label: show(&r.id),
                    selected: r.id == form.rule,
                })
                .collect()
        })
        .unwrap_or_default();
    let bases = app_policy::EXCEPTION_BASES
        .iter()
        .map(|b| Opt {
            value: (*b).into(),
            label: tr.t(&format!("basis.{b}")).into(),
            selected: *b == form.basis,
        })
        .collect();
    let can_request = c.user.as_ref().is_some_and(|u| u.role >= Role::Analyst);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = ExceptionsPage {
        as_of: tr.f1("footer.as_of", &tr.time(&now)),
        tabs,
        rows,
        can_request,
        form,
        rules,
        bases,
        error,
        next,
        c,
    };
    Ok((status, render(&page)).into_response())
}

pub(crate) async fn exceptions(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<ExceptionsQuery>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Viewer).await?;
    exceptions_page(&state, c, &q, ExceptionForm::default(), None).await
}

pub(crate) async fn request_exception(
    State(state): State<AppState>,
    parts: Parts,
    Form(f): Form<ExceptionForm>,
) -> PageResult {
    let c = signed_in(&state, &parts, Role::Analyst).await?;
    let Some(p) = c.user.clone() else {
        return Err(PageError::SignIn("/exceptions".into()));
    };
    let mut body = serde_json::json!({
        "device_id": f.device_id.trim(),
        "rule": f.rule,
        "basis": f.basis,
        "justification": f.justification,
        "expires": f.expires.trim(),
    });
    if !f.app_id.trim().is_empty() {
        body["app_id"] = serde_json::json!(f.app_id.trim());
    }
    match state.request_exception(p, body).await {
        Ok(_) => Ok((
            StatusCode::SEE_OTHER,
            [(LOCATION, "/exceptions?filter=pending")],
        )
            .into_response()),
        Err(api_server::ApiError::Invalid(m) | api_server::ApiError::Conflict(m)) => {
            let msg = c.tr.f1("exc.error", &clip(&m, 400));
            let mut kept = f.clone();
            kept.justification = clip(&kept.justification, 4000);
            exceptions_page(&state, c, &ExceptionsQuery::default(), kept, Some(msg)).await
        }
        Err(api_server::ApiError::NotFound) => {
            let msg = c.tr.f1("exc.error", &"device not found");
            exceptions_page(&state, c, &ExceptionsQuery::default(), f, Some(msg)).await
        }
        Err(e) => Err(api_error(c, e)),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DecisionForm {
    #[serde(default)]
    comment: String,
}

pub(crate) async fn decide_exception(
    State(state): State<AppState>,
    parts: Parts,
    Path((id, decision)): Path<(String, String)>,
    Form(f): Form<DecisionForm>,
) -> PageResult {
    let to = match decision.as_str() {
        "approve" => "approved",
        "deny" => "denied",
        "revoke" => "revoked",
        _ => {
            let c = signed_in(&state, &parts, Role::Viewer).await?;
            return Err(PageError::NotFound(c));
        }
    };
    let c = signed_in(&state, &parts, Role::Approver).await?;
    let Some(p) = c.user.clone() else {
        return Err(PageError::SignIn("/exceptions".into()));
    };
    match state.decide_exception(&p, &id, to, Some(&f.comment)).await {
        Ok(_) => Ok((StatusCode::SEE_OTHER, [(LOCATION, "/exceptions")]).into_response()),
        Err(e) => Err(api_error(c, e)),
    }
}
