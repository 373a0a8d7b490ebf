//! The point-in-time compliance report (issue 15): the state of the fleet as of an instant
//! `T`, rebuilt only from what was recorded at or before `T`, so the same `T` gives the same
//! bytes later, whatever happened since.
//!
//! **Invariant:** report = f(events with `at` ≤ T). The replay reads the append-only `events`
//! (enrolments, revocations, policy publications, exception requests and decisions, finding
//! changes) and the immutable rows they name (a policy version's source); it never reads the
//! mutable tables (`devices`, `findings`, `exceptions`), whose rows show the state *now*. The
//! ledger part is the Merkle tree of those same events (size and root at `T`) and the first
//! signed checkpoint covering it, which never changes once one exists.
//!
//! Findings are aged as the server ages them (`findings.rs`), by the UTC calendar day of
//! `T`: a finding is `excepted` while an exception in force at `T` covers it, `in_grace` before
//! its rule's deadline, `overdue` from the deadline on, and `review` for review rules.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use app_policy::{Action, Date};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{append_event, canonical_json, now_ms, Result, StorageError, Store};

/// The report's schema name.
pub const REPORT_SCHEMA: &str = "interdict.compliance-report/v1";

/// A device whose last recorded activity is older than this many days at `T` is stale.
pub const STALE_AFTER_DAYS: i64 = 7;

const DAY_MS: i64 = 86_400_000;

/// Events read per page of the replay.
const REPLAY_PAGE: i64 = 5000;

/// The compliance state as of one instant, rebuilt from the events recorded up to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComplianceReport {
    /// [`REPORT_SCHEMA`].
    pub schema: String,
    /// The instant of the report, RFC 3339 UTC with milliseconds.
    pub at: String,
    /// The calendar day (UTC) of `at`, by which deadlines and exception ends are aged.
    pub day: String,
    /// The policy version active at `at` (none published yet: `null`).
    pub policy: Option<ReportPolicy>,
    /// Every rule of that version, in policy order, with devices per status.
    pub rules: Vec<ReportRule>,
    /// Devices in scope (enrolled and not revoked at `at`) per status.
    pub summary: ReportSummary,
    /// The devices in scope, by id, with their open findings.
    pub devices: Vec<ReportDevice>,
    /// Exceptions in force at `at` (approved, not revoked, not expired), by id.
    pub exceptions: Vec<ReportException>,
    /// Rule reviews (appeals) open at `at` (opened and not decided by then), rebuilt from
    /// their events: id, rule, appellant, summary, received, documents, opened_at, opened_by.
    pub rule_reviews: Vec<Value>,
    /// The audit ledger at `at`.
    pub ledger: ReportLedger,
    /// What the figures mean and what the report cannot say.
    pub notes: Vec<String>,
}

/// The active policy version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportPolicy {
    /// Server-assigned version.
    pub version: i64,
    /// Policy name.
    pub name: String,
    /// SHA-256 of its source.
    pub sha256: String,
    /// When it was published (RFC 3339).
    pub published_at: String,
    /// Who published it.
    pub published_by: String,
}

/// One rule and the devices it holds, per status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportRule {
    /// Rule id.
    pub id: String,
    /// Title.
    pub title: Option<String>,
    /// `prohibit`, `allow` or `review`.
    pub action: String,
    /// Effective date.
    pub effective: Option<String>,
    /// Grace days.
    pub grace_days: u32,
    /// First day a present app is overdue.
    pub deadline: Option<String>,
    /// Devices holding a matched app.
    pub exposed: i64,
    /// Of those, overdue (worst status per device).
    pub overdue: i64,
    /// In grace.
    pub in_grace: i64,
    /// Excepted.
    pub excepted: i64,
    /// Review.
    pub review: i64,
}

/// Devices per status; every device has one status (its worst finding's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReportSummary {
    /// Devices in scope.
    pub devices: i64,
    /// No prohibited app held (review findings do not count).
    pub compliant: i64,
    /// Holding a prohibited app before its deadline.
    pub in_grace: i64,
    /// Holding a prohibited app under an exception in force.
    pub excepted: i64,
    /// Holding a prohibited app past its deadline, without an exception: non-compliant.
    pub overdue: i64,
    /// No recorded activity in the [`STALE_AFTER_DAYS`] days up to `at` (any status).
    pub stale: i64,
}

/// A device in scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportDevice {
    /// Id.
    pub id: String,
    /// Name given at enrolment.
    pub name: String,
    /// Platform.
    pub platform: String,
    /// Ownership.
    pub ownership: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Enrolled (RFC 3339).
    pub enrolled_at: String,
    /// The last event recorded about the device at or before `at` (RFC 3339).
    pub last_activity_at: String,
    /// `compliant`, `in_grace`, `excepted` or `overdue`.
    pub status: String,
    /// Whether the last activity is older than [`STALE_AFTER_DAYS`].
    pub stale: bool,
    /// Open findings at `at`, by rule then app.
    pub findings: Vec<ReportFinding>,
}

/// One open finding of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportFinding {
    /// Rule.
    pub rule: String,
    /// App held.
    pub app_id: String,
    /// `overdue`, `in_grace`, `excepted` or `review`.
    pub status: String,
    /// When the rule first flagged it in this episode (RFC 3339).
    pub flagged_at: String,
    /// The rule's deadline.
    pub deadline: Option<String>,
    /// The exception covering it.
    pub exception_id: Option<String>,
}

/// An exception in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportException {
    /// Id.
    pub id: String,
    /// `server` (requested and approved through the API) or `policy` (in the policy file).
    pub source: String,
    /// The rule relaxed.
    pub rule: String,
    /// Devices covered.
    pub devices: Vec<String>,
    /// Groups covered.
    pub groups: Vec<String>,
    /// Apps covered (empty: every app the rule matches).
    pub apps: Vec<String>,
    /// Why.
    pub justification: String,
    /// Who asked.
    pub requested_by: String,
    /// Who approved.
    pub approved_by: String,
    /// When it was approved (RFC 3339; policy exceptions: none).
    pub approved_at: Option<String>,
    /// Last day it applies (inclusive).
    pub expires: String,
}

/// The audit ledger at `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportLedger {
    /// Events recorded at or before `at` (the tree size; the last one's seq).
    pub size: i64,
    /// The Merkle root of that tree (hex).
    pub root: String,
    /// The first signed checkpoint whose tree holds every one of those events.
    pub checkpoint: Option<ReportCheckpoint>,
}

/// A signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportCheckpoint {
    /// Tree size.
    pub size: i64,
    /// Signing key id (hex).
    pub key_id: String,
    /// Root (hex).
    pub root: String,
    /// The signed note, as stored.
    pub note: String,
}

/// How a report is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// Canonical JSON.
    Json,
    /// A printable HTML page.
    Html,
}

impl ReportFormat {
    /// `json` or `html`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Json => "json",
            ReportFormat::Html => "html",
        }
    }

    /// The media type of the rendering.
    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Json => "application/json",
            ReportFormat::Html => "text/html; charset=utf-8",
        }
    }
}

/// A rendered report as issued: the exact bytes and their SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedReport {
    /// The rendering.
    pub body: String,
    /// SHA-256 of `body` (hex).
    pub sha256: String,
    /// The `report.issued` event's sequence number.
    pub event_seq: i64,
}

impl ComplianceReport {
    /// Canonical JSON (sorted keys, compact): the bytes served and hashed.
    pub fn to_json(&self) -> String {
        canonical_json(&serde_json::to_value(self).unwrap_or(Value::Null))
    }

    /// A printable HTML page (no script; every string escaped).
    pub fn to_html(&self) -> String {
        render_html(self)
    }

    /// The rendering in `format`.
    pub fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Json => self.to_json(),
            ReportFormat::Html => self.to_html(),
        }
    }
}

/// RFC 3339 (UTC, milliseconds) of a Unix-ms time: `2026-12-03T06:04:05.123Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    let day = Date::from_days_since_epoch(ms.div_euclid(DAY_MS));
    let r = ms.rem_euclid(DAY_MS);
    format!(
        "{day}T{:02}:{:02}:{:02}.{:03}Z",
        r / 3_600_000,
        r / 60_000 % 60,
        r / 1000 % 60,
        r % 1000
    )
}

/// Parses a report time: RFC 3339 with an offset (`2026-12-03T06:00:00Z`,
/// `2026-12-03T08:00:00+02:00`; below a millisecond is dropped), or a date `YYYY-MM-DD` meaning
/// its last millisecond in UTC. Returns Unix ms.
pub fn parse_report_time(s: &str) -> std::result::Result<i64, String> {
    let s = s.trim();
    if s.len() == 10 {
        return Date::parse(s)
            .map(|d| (i64::from(d.days_since_epoch()) + 1) * DAY_MS - 1)
            .map_err(|e| format!("{s:?} is not a date (YYYY-MM-DD): {e}"));
    }
    let ts: jiff::Timestamp = s.parse().map_err(|e| {
        format!("{s:?} is not an RFC 3339 time such as 2026-12-03T06:00:00Z or a date: {e}")
    })?;
    Ok(ts.as_millisecond())
}

/// SHA-256 (hex) of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// One open finding during the replay: when it opened and its last evaluated status.
struct OpenFinding {
    opened_at: i64,
    status: String,
}

struct DeviceState {
    name: String,
    platform: String,
    ownership: String,
    groups: Vec<String>,
    enrolled_at: i64,
    last_activity: i64,
}

struct ServerException {
    id: String,
    device_id: String,
    rule: String,
    app_id: Option<String>,
    justification: String,
    expires: String,
    requested_by: String,
    status: String,
    decided_by: Option<String>,
    decided_at: Option<i64>,
}

/// An exception in force, as findings are matched against it.
struct Matcher {
    id: String,
    rule: String,
    devices: Vec<String>,
    groups: Vec<String>,
    apps: Vec<String>,
    expires: String,
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn rank(status: &str) -> u8 {
    match status {
        "overdue" => 3,
        "in_grace" => 2,
        "excepted" => 1,
        _ => 0,
    }
}

impl Store {
    /// The compliance report as of `at_ms` (Unix ms, in the past), rebuilt from the events
    /// recorded at or before it (see the module documentation).
    pub async fn compliance_report_at(&self, at_ms: i64) -> Result<ComplianceReport> {
        if at_ms >= now_ms() {
            return Err(StorageError::Invalid(format!(
                "at {} is not in the past: a report is only made for a time already recorded",
                rfc3339_ms(at_ms)
            )));
        }
        let day = Date::from_days_since_epoch(at_ms.div_euclid(DAY_MS));
        let day_s = day.to_string();
        let mut devices: BTreeMap<String, DeviceState> = BTreeMap::new();
        let mut open: BTreeMap<(String, String, String), OpenFinding> = BTreeMap::new();
        let mut excs: BTreeMap<String, ServerException> = BTreeMap::new();
        let mut policy: Option<(i64, i64, String)> = None;
        // One pass in seq order, a page at a time: memory in the size of the state, not of
        // the history.
        let mut after = 0i64;
        loop {
            let rows = sqlx::query(
                "SELECT seq, at, actor, action, subject, \
                 CASE WHEN action = 'device.inventory_changed' THEN '{}' ELSE body END AS body \
                 FROM events WHERE seq > $1 AND at <= $2 AND (action LIKE 'device.%' \
                 OR action LIKE 'exception.%' OR action = 'policy.published') \
                 ORDER BY seq LIMIT $3",
            )
            .bind(after)
            .bind(at_ms)
            .bind(REPLAY_PAGE)
            .fetch_all(&self.read)
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("seq")?;
            for r in &rows {
                let at: i64 = r.try_get("at")?;
                let actor: String = r.try_get("actor")?;
                let action: String = r.try_get("action")?;
                let subject: String = r.try_get("subject")?;
                let body: String = r.try_get("body")?;
                let body: Value = serde_json::from_str(&body)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?;
                if let Some(d) = devices.get_mut(&subject) {
                    d.last_activity = d.last_activity.max(at);
                }
                match action.as_str() {
                    "device.enrolled" => {
                        let after = &body["after"];
                        let mut groups: Vec<String> = after["groups"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|g| g.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default();
                        groups.sort();
                        groups.dedup();
                        devices.insert(
                            subject,
                            DeviceState {
                                name: text(after, "name"),
                                platform: text(after, "platform"),
                                ownership: text(after, "ownership"),
                                groups,
                                enrolled_at: at,
                                last_activity: at,
                            },
                        );
                    }
                    "device.scope_changed" => {
                        // A connector's pull (issue 17): the MDM is authoritative for scope.
                        if let Some(d) = devices.get_mut(&subject) {
                            let after = &body["after"];
                            d.ownership = text(after, "ownership");
                            d.name = text(after, "name");
                            let mut groups: Vec<String> = after["groups"]
                                .as_array()
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|g| g.as_str().map(str::to_string))
                                        .collect()
                                })
                                .unwrap_or_default();
                            groups.sort();
                            groups.dedup();
                            d.groups = groups;
                        }
                    }
                    "device.revoked" => {
                        devices.remove(&subject);
                        // Its findings end with it (the keys sort by device first).
                        let gone: Vec<(String, String, String)> = open
                            .range((subject.clone(), String::new(), String::new())..)
                            .take_while(|(k, _)| k.0 == subject)
                            .map(|(k, _)| k.clone())
                            .collect();
                        for k in gone {
                            open.remove(&k);
                        }
                    }
                    "device.findings_changed" => {
                        for f in body["opened"].as_array().into_iter().flatten() {
                            open.insert(
                                (subject.clone(), text(f, "rule"), text(f, "app_id")),
                                OpenFinding {
                                    opened_at: at,
                                    status: text(f, "status"),
                                },
                            );
                        }
                        for f in body["changed"].as_array().into_iter().flatten() {
                            let key = (subject.clone(), text(f, "rule"), text(f, "app_id"));
                            if let Some(o) = open.get_mut(&key) {
                                o.status = text(f, "after");
                            }
                        }
                        for f in body["resolved"].as_array().into_iter().flatten() {
                            open.remove(&(subject.clone(), text(f, "rule"), text(f, "app_id")));
                        }
                    }
                    "exception.requested" => {
                        let a = &body["after"];
                        excs.insert(
                            subject.clone(),
                            ServerException {
                                id: subject,
                                device_id: text(a, "device_id"),
                                rule: text(a, "rule"),
                                app_id: a["app_id"].as_str().map(str::to_string),
                                justification: text(a, "justification"),
                                expires: text(a, "expires"),
                                requested_by: text(a, "requested_by"),
                                status: "requested".into(),
                                decided_by: None,
                                decided_at: None,
                            },
                        );
                    }
                    "exception.approved" | "exception.denied" | "exception.revoked" => {
                        if let Some(e) = excs.get_mut(&subject) {
                            e.status = text(&body["after"], "status");
                            e.decided_by = Some(actor);
                            e.decided_at = Some(at);
                        }
                    }
                    "policy.published" => {
                        if let Some(v) = body["after"]["version"].as_i64() {
                            policy = Some((v, at, actor));
                        }
                    }
                    _ => {}
                }
            }
            if (rows.len() as i64) < REPLAY_PAGE {
                break;
            }
        }

        // The policy version active at `at` (an immutable row named by its event).
        let (policy_out, parsed) = match &policy {
            Some((version, published, by)) => {
                let pv = self.policy_version(*version).await?;
                let parsed = app_policy::parse_policy(&pv.source, "policy.toml").map_err(|e| {
                    StorageError::Corrupt(format!("stored policy {}: {e}", pv.version))
                })?;
                (
                    Some(ReportPolicy {
                        version: pv.version,
                        name: pv.name,
                        sha256: pv.sha256,
                        published_at: rfc3339_ms(*published),
                        published_by: by.clone(),
                    }),
                    Some(parsed),
                )
            }
            None => (None, None),
        };

        // Exceptions in force at `at`: the server's (approved, not revoked, not expired) and
        // the policy file's (active on the day).
        let mut exceptions: Vec<ReportException> = Vec::new();
        let mut matchers: Vec<Matcher> = Vec::new();
        for e in excs.values() {
            if e.status != "approved" || e.expires.as_str() < day_s.as_str() {
                continue;
            }
            let apps: Vec<String> = e.app_id.iter().cloned().collect();
            matchers.push(Matcher {
                id: e.id.clone(),
                rule: e.rule.clone(),
                devices: vec![e.device_id.clone()],
                groups: Vec::new(),
                apps: apps.clone(),
                expires: e.expires.clone(),
            });
            exceptions.push(ReportException {
                id: e.id.clone(),
                source: "server".into(),
                rule: e.rule.clone(),
                devices: vec![e.device_id.clone()],
                groups: Vec::new(),
                apps,
                justification: e.justification.clone(),
                requested_by: e.requested_by.clone(),
                approved_by: e.decided_by.clone().unwrap_or_default(),
                approved_at: e.decided_at.map(rfc3339_ms),
                expires: e.expires.clone(),
            });
        }
        if let Some(p) = &parsed {
            for e in p.exceptions.iter().filter(|e| e.active(day)) {
                let sorted = |v: &[String]| {
                    let mut v = v.to_vec();
                    v.sort();
                    v
                };
                matchers.push(Matcher {
                    id: e.id.clone(),
                    rule: e.rule.value.clone(),
                    devices: e.devices.clone(),
                    groups: e.groups.clone(),
                    apps: e.apps.clone(),
                    expires: e.expires.to_string(),
                });
                exceptions.push(ReportException {
                    id: e.id.clone(),
                    source: "policy".into(),
                    rule: e.rule.value.clone(),
                    devices: sorted(&e.devices),
                    groups: sorted(&e.groups),
                    apps: sorted(&e.apps),
                    justification: e.justification.clone(),
                    requested_by: e.requester.clone(),
                    approved_by: e.approver.clone(),
                    approved_at: None,
                    expires: e.expires.to_string(),
                });
            }
        }
        exceptions.sort_by(|a, b| (&a.id, &a.source).cmp(&(&b.id, &b.source)));

        let deadlines: BTreeMap<&str, Option<Date>> = parsed
            .as_ref()
            .map(|p| {
                p.rules
                    .iter()
                    .map(|r| (r.id.as_str(), r.deadline()))
                    .collect()
            })
            .unwrap_or_default();

        // Classify every open finding of a device in scope.
        let mut by_device: BTreeMap<&str, Vec<ReportFinding>> = BTreeMap::new();
        for ((device, rule, app), f) in &open {
            let Some(d) = devices.get(device) else {
                continue;
            };
            let deadline = deadlines.get(rule.as_str()).copied().flatten();
            let covering = matchers
                .iter()
                .filter(|m| {
                    m.rule == *rule
                        && (m.devices.contains(device)
                            || m.groups.iter().any(|g| d.groups.contains(g)))
                        && (m.apps.is_empty() || m.apps.contains(app))
                })
                // The longest-lasting, then the smallest id, as the evaluator picks.
                .max_by(|a, b| a.expires.cmp(&b.expires).then_with(|| b.id.cmp(&a.id)));
            let (status, exception_id) = if f.status == "review" {
                ("review", None)
            } else if let Some(m) = covering {
                ("excepted", Some(m.id.clone()))
            } else if !deadlines.contains_key(rule.as_str()) {
                // A rule the policy active at `at` no longer has (the device had not checked
                // in again since): its status as last evaluated, as the server shows it.
                match f.status.as_str() {
                    "in_grace" => ("in_grace", None),
                    _ => ("overdue", None),
                }
            } else if deadline.is_some_and(|dl| day < dl) {
                ("in_grace", None)
            } else {
                ("overdue", None)
            };
            by_device
                .entry(device.as_str())
                .or_default()
                .push(ReportFinding {
                    rule: rule.clone(),
                    app_id: app.clone(),
                    status: status.into(),
                    flagged_at: rfc3339_ms(f.opened_at),
                    deadline: deadline.map(|d| d.to_string()),
                    exception_id,
                });
        }

        let mut summary = ReportSummary::default();
        let mut per_rule: BTreeMap<String, BTreeMap<&str, u8>> = BTreeMap::new();
        let mut out_devices = Vec::with_capacity(devices.len());
        for (id, d) in &devices {
            let findings = by_device.remove(id.as_str()).unwrap_or_default();
            let worst = findings.iter().map(|f| rank(&f.status)).max().unwrap_or(0);
            for f in &findings {
                let r = per_rule
                    .entry(f.rule.clone())
                    .or_default()
                    .entry(id.as_str())
                    .or_insert(0);
                // Review ranks below everything else but still counts as exposed.
                *r = (*r).max(match f.status.as_str() {
                    "review" => 1,
                    s => rank(s) + 1,
                });
            }
            let status = match worst {
                3 => "overdue",
                2 => "in_grace",
                1 => "excepted",
                _ => "compliant",
            };
            let stale = at_ms - d.last_activity > STALE_AFTER_DAYS * DAY_MS;
            summary.devices += 1;
            match worst {
                3 => summary.overdue += 1,
                2 => summary.in_grace += 1,
                1 => summary.excepted += 1,
                _ => summary.compliant += 1,
            }
            summary.stale += i64::from(stale);
            out_devices.push(ReportDevice {
                id: id.clone(),
                name: d.name.clone(),
                platform: d.platform.clone(),
                ownership: d.ownership.clone(),
                groups: d.groups.clone(),
                enrolled_at: rfc3339_ms(d.enrolled_at),
                last_activity_at: rfc3339_ms(d.last_activity),
                status: status.into(),
                stale,
                findings,
            });
        }
        let rules = parsed
            .as_ref()
            .map(|p| {
                p.rules
                    .iter()
                    .map(|r| {
                        let counts = per_rule.get(r.id.as_str());
                        let n = |k: u8| {
                            counts.map_or(0, |c| c.values().filter(|&&v| v == k).count() as i64)
                        };
                        ReportRule {
                            id: r.id.clone(),
                            title: r.title.clone(),
                            action: match r.action {
                                Action::Prohibit => "prohibit",
                                Action::Allow => "allow",
                                Action::Review => "review",
                            }
                            .into(),
                            effective: r.effective.map(|d| d.to_string()),
                            grace_days: r.grace_days,
                            deadline: r.deadline().map(|d| d.to_string()),
                            exposed: counts.map_or(0, |c| c.len() as i64),
                            overdue: n(4),
                            in_grace: n(3),
                            excepted: n(2),
                            review: n(1),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();

        // The ledger at `at`: the tree of the events recorded up to it, and the first signed
        // checkpoint that holds them all.
        let size: i64 = sqlx::query(
            "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) AS n FROM events WHERE at <= $1",
        )
        .bind(at_ms)
        .fetch_one(&self.read)
        .await?
        .try_get("n")?;
        let root = crate::ledger::hash_hex(&self.ledger_root(size as u64).await?);
        let checkpoint = self
            .ledger_checkpoint_covering(at_ms)
            .await?
            .map(|c| ReportCheckpoint {
                size: c.size,
                key_id: c.key_id,
                root: c.root,
                note: c.note,
            });

        let mut notes = vec![
            format!(
                "Built only from the events recorded at or before {} (the first {size} ledger entries); \
                 the same time gives the same report, whatever was recorded later.",
                rfc3339_ms(at_ms)
            ),
            format!(
                "Deadlines and exception ends are aged by the UTC calendar day {day_s}; a device's \
                 status is that of its worst open finding (overdue, then in grace, then excepted); \
                 review findings do not affect compliance."
            ),
            format!(
                "Stale: no event recorded about the device in the {STALE_AFTER_DAYS} days up to the \
                 report's time. A check-in that changes nothing records no event, so a device that \
                 checked in without any change also counts as stale."
            ),
            "Rule reviews: the appeals opened at or before this time and not decided by then."
                .to_string(),
        ];
        if checkpoint.is_none() {
            notes.push(
                "No signed checkpoint covers this time yet: the ledger size and root above are \
                 those of the events up to it; a report issued once a checkpoint is signed names \
                 it (and differs from this one only by it)."
                    .to_string(),
            );
        }
        Ok(ComplianceReport {
            schema: REPORT_SCHEMA.to_string(),
            at: rfc3339_ms(at_ms),
            day: day_s,
            policy: policy_out,
            rules,
            summary,
            devices: out_devices,
            exceptions,
            rule_reviews: self.reviews_open_at(at_ms).await?,
            ledger: ReportLedger {
                size,
                root,
                checkpoint,
            },
            notes,
        })
    }

    /// Builds the report as of `at_ms`, renders it in `format` and records its issue: one
    /// `report.issued` event (by `actor`) naming the time, format and SHA-256 of the bytes
    /// returned. The event is about the report and recorded after `at_ms`, so it is not in it.
    pub async fn issue_compliance_report(
        &self,
        at_ms: i64,
        format: ReportFormat,
        actor: &str,
    ) -> Result<IssuedReport> {
        let report = self.compliance_report_at(at_ms).await?;
        let body = report.render(format);
        let sha256 = sha256_hex(body.as_bytes());
        let mut tx = self.begin().await?;
        let event_seq = append_event(
            &mut tx,
            now_ms(),
            actor,
            "report.issued",
            "report/compliance",
            json!({"at": report.at, "format": format.as_str(), "schema": REPORT_SCHEMA,
                   "sha256": sha256, "ledger_size": report.ledger.size}),
        )
        .await?;
        tx.commit().await?;
        Ok(IssuedReport {
            body,
            sha256,
            event_seq,
        })
    }
}

// ---- HTML ---------------------------------------------------------------------------------

/// Appends `s` HTML-escaped (text and attribute values).
fn esc(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "&#xFFFD;");
            }
            c => out.push(c),
        }
    }
}

fn cell(out: &mut String, s: &str) {
    out.push_str("<td>");
    esc(out, s);
    out.push_str("</td>");
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("—")
}

const CSS: &str = "body{font-family:system-ui,sans-serif;font-size:10pt;margin:2em;color:#111}\
h1{font-size:16pt}h2{font-size:12pt;margin-top:1.5em;border-bottom:1px solid #999}\
table{border-collapse:collapse;width:100%;margin:.5em 0}\
th,td{border:1px solid #bbb;padding:2px 4px;text-align:left;vertical-align:top}\
th{background:#eee}td.n{text-align:right}pre{white-space:pre-wrap;font-size:8pt}\
.overdue{font-weight:bold}\
@page{size:A4;margin:15mm}\
@media print{body{margin:0}thead{display:table-header-group}tr{break-inside:avoid}}";

fn render_html(r: &ComplianceReport) -> String {
    let mut o = String::with_capacity(8192);
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.push_str("<title>Compliance report as of ");
    esc(&mut o, &r.at);
    o.push_str("</title>\n<style>");
    o.push_str(CSS);
    o.push_str("</style>\n</head>\n<body>\n<header>\n<h1>Compliance report as of ");
    esc(&mut o, &r.at);
    o.push_str("</h1>\n<p>Schema ");
    esc(&mut o, &r.schema);
    o.push_str("; calendar day ");
    esc(&mut o, &r.day);
    o.push_str(" (UTC).</p>\n</header>\n");

    o.push_str("<section>\n<h2>Policy</h2>\n");
    match &r.policy {
        Some(p) => {
            o.push_str("<table><tbody>");
            for (k, v) in [
                ("Version", p.version.to_string()),
                ("Name", p.name.clone()),
                ("SHA-256", p.sha256.clone()),
                ("Published", p.published_at.clone()),
                ("Published by", p.published_by.clone()),
            ] {
                let _ = write!(o, "<tr><th>{k}</th>");
                cell(&mut o, &v);
                o.push_str("</tr>");
            }
            o.push_str("</tbody></table>\n");
        }
        None => o.push_str("<p>No policy was published at this time.</p>\n"),
    }
    o.push_str("</section>\n");

    let s = &r.summary;
    o.push_str(
        "<section>\n<h2>Devices in scope</h2>\n<table><thead><tr><th>Devices</th>\
        <th>Compliant</th><th>In grace</th><th>Excepted</th><th>Overdue</th><th>Stale</th>\
        </tr></thead><tbody><tr>",
    );
    for n in [
        s.devices,
        s.compliant,
        s.in_grace,
        s.excepted,
        s.overdue,
        s.stale,
    ] {
        let _ = write!(o, "<td class=\"n\">{n}</td>");
    }
    o.push_str("</tr></tbody></table>\n</section>\n");

    o.push_str(
        "<section>\n<h2>Rules</h2>\n<table><thead><tr><th>Rule</th><th>Title</th>\
        <th>Action</th><th>Effective</th><th>Deadline</th><th>Exposed</th><th>Overdue</th>\
        <th>In grace</th><th>Excepted</th><th>Review</th></tr></thead><tbody>\n",
    );
    for rule in &r.rules {
        o.push_str("<tr>");
        cell(&mut o, &rule.id);
        cell(&mut o, opt(&rule.title));
        cell(&mut o, &rule.action);
        cell(&mut o, opt(&rule.effective));
        cell(&mut o, opt(&rule.deadline));
        for n in [
            rule.exposed,
            rule.overdue,
            rule.in_grace,
            rule.excepted,
            rule.review,
        ] {
            let _ = write!(o, "<td class=\"n\">{n}</td>");
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n</section>\n");

    o.push_str(
        "<section>\n<h2>Devices</h2>\n<table><thead><tr><th>Device</th><th>Id</th>\
        <th>Platform</th><th>Groups</th><th>Status</th><th>Last activity</th><th>Stale</th>\
        <th>Open findings</th></tr></thead><tbody>\n",
    );
    for d in &r.devices {
        o.push_str("<tr>");
        cell(&mut o, &d.name);
        cell(&mut o, &d.id);
        cell(&mut o, &d.platform);
        cell(&mut o, &d.groups.join(", "));
        let _ = write!(o, "<td class=\"{}\">", d.status);
        esc(&mut o, &d.status);
        o.push_str("</td>");
        cell(&mut o, &d.last_activity_at);
        cell(&mut o, if d.stale { "yes" } else { "no" });
        o.push_str("<td>");
        for (i, f) in d.findings.iter().enumerate() {
            if i > 0 {
                o.push_str("<br>");
            }
            esc(&mut o, &f.app_id);
            o.push_str(" (");
            esc(&mut o, &f.rule);
            o.push_str("): ");
            esc(&mut o, &f.status);
            if let Some(dl) = &f.deadline {
                o.push_str(", deadline ");
                esc(&mut o, dl);
            }
            if let Some(e) = &f.exception_id {
                o.push_str(", exception ");
                esc(&mut o, e);
            }
            o.push_str(", since ");
            esc(&mut o, &f.flagged_at);
        }
        o.push_str("</td></tr>\n");
    }
    o.push_str("</tbody></table>\n</section>\n");

    o.push_str(
        "<section>\n<h2>Exceptions in force</h2>\n<table><thead><tr><th>Id</th>\
        <th>Source</th><th>Rule</th><th>Devices / groups</th><th>Apps</th><th>Justification</th>\
        <th>Requested by</th><th>Approved by</th><th>Approved</th><th>Expires</th></tr></thead>\
        <tbody>\n",
    );
    for e in &r.exceptions {
        o.push_str("<tr>");
        cell(&mut o, &e.id);
        cell(&mut o, &e.source);
        cell(&mut o, &e.rule);
        let mut who = e.devices.clone();
        who.extend(e.groups.iter().map(|g| format!("group {g}")));
        cell(&mut o, &who.join(", "));
        cell(
            &mut o,
            &if e.apps.is_empty() {
                "all matched".to_string()
            } else {
                e.apps.join(", ")
            },
        );
        cell(&mut o, &e.justification);
        cell(&mut o, &e.requested_by);
        cell(&mut o, &e.approved_by);
        cell(&mut o, opt(&e.approved_at));
        cell(&mut o, &e.expires);
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n</section>\n");

    o.push_str("<section>\n<h2>Rule reviews open</h2>\n");
    if r.rule_reviews.is_empty() {
        o.push_str("<p>None open at this time.</p>\n");
    } else {
        o.push_str(
            "<table><thead><tr><th>Id</th><th>Rule</th><th>Appellant</th><th>Received</th>\
            <th>Summary</th><th>Documents (SHA-256)</th></tr></thead><tbody>\n",
        );
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        for v in &r.rule_reviews {
            o.push_str("<tr>");
            for k in ["id", "rule", "appellant", "received", "summary"] {
                cell(&mut o, &text(v, k));
            }
            let docs: Vec<String> = v
                .get("documents")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|d| format!("{} {}", text(d, "name"), text(d, "sha256")))
                        .collect()
                })
                .unwrap_or_default();
            cell(&mut o, &docs.join("; "));
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody></table>\n");
    }
    o.push_str("</section>\n");

    let l = &r.ledger;
    let _ = write!(
        o,
        "<section>\n<h2>Audit ledger</h2>\n<p>Tree size {} with root <code>",
        l.size
    );
    esc(&mut o, &l.root);
    o.push_str("</code>.</p>\n");
    match &l.checkpoint {
        Some(c) => {
            let _ = write!(
                o,
                "<p>Covered by the signed checkpoint of size {} (key ",
                c.size
            );
            esc(&mut o, &c.key_id);
            o.push_str("):</p>\n<pre>");
            esc(&mut o, &c.note);
            o.push_str("</pre>\n");
        }
        None => o.push_str("<p>No signed checkpoint covers this time yet.</p>\n"),
    }
    o.push_str("</section>\n<section>\n<h2>Notes</h2>\n<ul>\n");
    for n in &r.notes {
        o.push_str("<li>");
        esc(&mut o, n);
        o.push_str("</li>\n");
    }
    o.push_str("</ul>\n</section>\n</body>\n</html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_698_624_000_123), "2023-10-30T00:00:00.123Z");
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
        for ms in [0, 1_698_624_000_123, 1_764_741_845_001] {
            assert_eq!(parse_report_time(&rfc3339_ms(ms)), Ok(ms));
        }
        assert_eq!(
            parse_report_time("2023-10-30T02:00:00+02:00"),
            Ok(1_698_624_000_000)
        );
        assert_eq!(
            parse_report_time("2023-10-30"),
            Ok(1_698_624_000_000 + DAY_MS - 1)
        );
        for bad in [
            "",
            "yesterday",
            "2023-10-30T00:00:00",
            "2023-13-01",
            "2023-10-30T25:00Z",
        ] {
            assert!(parse_report_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn escaping() {
        let mut o = String::new();
        esc(&mut o, "<script>alert('x')</script>&\"\u{7}");
        assert_eq!(
            o,
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;&#xFFFD;"
        );
    }
}
