//! Findings (which device holds which prohibited app under which rule, since when, until
//! when) and the results devices report for their actions.
//!
//! A finding row is one exposure episode of a (device, rule, app): opened by the check-in
//! whose evaluation first reports it, closed (`resolved_at`) by the first one that no longer
//! does. The row keeps the status, deadline and exception as last evaluated; the status *now*
//! is derived in SQL from the date ([`EFFECTIVE_STATUS`]), so a grace period ending or an
//! exception expiring shows at once, without waiting for the device's next check-in.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use app_policy::{ActionResult, Date};

use crate::{append_event, Result, Store, Zone};

/// One finding as a check-in's evaluation reports it (statuses other than `allowed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingWrite {
    /// Rule id.
    pub rule: String,
    /// App id.
    pub app_id: String,
    /// `violation`, `in_grace`, `excepted` or `review`.
    pub status: String,
    /// The rule's deadline (effective date plus grace), `YYYY-MM-DD`.
    pub deadline: Option<String>,
    /// `uninstall` or `block`.
    pub remedy: Option<String>,
    /// Applied exception.
    pub exception_id: Option<String>,
    /// Last day the exception applies, `YYYY-MM-DD`.
    pub excepted_until: Option<String>,
}

/// A stored action result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredActionResult {
    /// As reported.
    #[serde(flatten)]
    pub result: ActionResult,
    /// When the server stored it, Unix ms.
    pub received_at: i64,
}

/// One device exposed to a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exposure {
    /// Device id.
    pub device_id: String,
    /// Device name.
    pub device_name: String,
    /// Platform.
    pub platform: String,
    /// Rule.
    pub rule: String,
    /// App held.
    pub app_id: String,
    /// Status now: `violation`, `in_grace`, `excepted` or `review`.
    pub status: String,
    /// When the app was first seen on the device, Unix ms.
    pub installed_since: Option<i64>,
    /// When the rule first flagged it, Unix ms.
    pub flagged_since: i64,
    /// The rule's deadline.
    pub deadline: Option<String>,
    /// Applied exception.
    pub exception_id: Option<String>,
    /// Last day of that exception.
    pub excepted_until: Option<String>,
}

/// Which open findings [`Store::exposures`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExposureScope<'a> {
    /// Every device exposed to this rule.
    Rule(&'a str),
    /// Every rule this device is exposed to.
    Device(&'a str),
}

/// Devices per status for one rule, now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleSummary {
    /// Rule id.
    pub rule: String,
    /// Devices holding a matched app (any status).
    pub exposed: i64,
    /// Past the deadline, no exception.
    pub violation: i64,
    /// Before the deadline.
    pub in_grace: i64,
    /// Covered by an exception.
    pub excepted: i64,
    /// Flagged for review.
    pub review: i64,
}

/// One point of a rule's burn-down: devices holding a matched app at time `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesPoint {
    /// Unix ms: the last instant of `day` in the server's zone, or the time of the query
    /// for a day not yet over.
    pub at: i64,
    /// The calendar day of the point, in the server's zone.
    pub day: String,
    /// `false` for a day not yet over (the point is the state at the time of the query).
    pub complete: bool,
    /// Devices holding a matched app.
    pub exposed: i64,
    /// Of those, past the deadline and not excepted.
    pub violation: i64,
    /// In grace.
    pub in_grace: i64,
    /// Excepted.
    pub excepted: i64,
    /// Review.
    pub review: i64,
}

/// The status of a finding row on day `$1` (`YYYY-MM-DD`), from its last evaluated status,
/// deadline and exception: the one place that ages findings.
pub(crate) const EFFECTIVE_STATUS: &str = "CASE \
     WHEN f.status = 'in_grace' AND f.deadline <= $1 THEN 'violation' \
     WHEN f.status = 'excepted' AND f.excepted_until < $1 THEN \
       CASE WHEN f.deadline IS NULL OR f.deadline <= $1 THEN 'violation' ELSE 'in_grace' END \
     ELSE f.status END";

/// [`EFFECTIVE_STATUS`] for one row at `day`, for the time series computed in Rust.
fn status_on(status: &str, deadline: Option<&str>, until: Option<&str>, day: &str) -> &'static str {
    match status {
        "in_grace" if deadline.is_some_and(|d| d <= day) => "violation",
        "in_grace" => "in_grace",
        "excepted" if until.is_some_and(|u| u < day) => {
            if deadline.is_none_or(|d| d <= day) {
                "violation"
            } else {
                "in_grace"
            }
        }
        "excepted" => "excepted",
        "violation" => "violation",
        _ => "review",
    }
}

/// `YYYY-MM-DD` (UTC) of a Unix-ms time.
pub fn day_of(ms: i64) -> String {
    app_policy::Date::from_days_since_epoch(ms.div_euclid(86_400_000)).to_string()
}

/// Brings a device's open findings in line with its latest evaluation, in the check-in's
/// transaction: new ones opened, vanished ones resolved, changed ones updated; one event
/// records the change.
pub(crate) async fn sync_findings(
    tx: &mut Transaction<'static, Any>,
    device_id: &str,
    at_ms: i64,
    hash: &str,
    now: &[FindingWrite],
) -> Result<()> {
    let rows = sqlx::query(
        "SELECT rule, app_id, opened_at, status, deadline, remedy, exception_id, excepted_until \
         FROM findings WHERE device_id = $1 AND resolved_at IS NULL",
    )
    .bind(device_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut open: BTreeMap<(String, String), (i64, FindingWrite)> = BTreeMap::new();
    for r in &rows {
        let f = finding_row(r)?;
        open.insert(
            (f.rule.clone(), f.app_id.clone()),
            (r.try_get("opened_at")?, f),
        );
    }
    let (mut opened, mut changed, mut resolved) = (Vec::new(), Vec::new(), Vec::new());
    for f in now {
        match open.remove(&(f.rule.clone(), f.app_id.clone())) {
            Some((_, before)) if before == *f => {}
            Some((opened_at, before)) => {
                sqlx::query(
                    "UPDATE findings SET status = $1, deadline = $2, remedy = $3, \
                     exception_id = $4, excepted_until = $5 \
                     WHERE device_id = $6 AND rule = $7 AND app_id = $8 AND opened_at = $9",
                )
                .bind(&f.status)
                .bind(f.deadline.clone())
                .bind(f.remedy.clone())
                .bind(f.exception_id.clone())
                .bind(f.excepted_until.clone())
                .bind(device_id)
                .bind(&f.rule)
                .bind(&f.app_id)
                .bind(opened_at)
                .execute(&mut **tx)
                .await?;
                changed.push(json!({"rule": f.rule, "app_id": f.app_id,
                    "before": before.status, "after": f.status}));
            }
            None => {
                sqlx::query(
                    "INSERT INTO findings (device_id, rule, app_id, opened_at, status, deadline, \
                     remedy, exception_id, excepted_until) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (device_id, rule, app_id, opened_at) DO UPDATE SET \
                     resolved_at = NULL, status = excluded.status, deadline = excluded.deadline, \
                     remedy = excluded.remedy, exception_id = excluded.exception_id, \
                     excepted_until = excluded.excepted_until",
                )
                .bind(device_id)
                .bind(&f.rule)
                .bind(&f.app_id)
                .bind(at_ms)
                .bind(&f.status)
                .bind(f.deadline.clone())
                .bind(f.remedy.clone())
                .bind(f.exception_id.clone())
                .bind(f.excepted_until.clone())
                .execute(&mut **tx)
                .await?;
                opened.push(json!({"rule": f.rule, "app_id": f.app_id, "status": f.status}));
            }
        }
    }
    for ((rule, app_id), (opened_at, _)) in open {
        sqlx::query(
            "UPDATE findings SET resolved_at = $1 \
             WHERE device_id = $2 AND rule = $3 AND app_id = $4 AND opened_at = $5",
        )
        .bind(at_ms)
        .bind(device_id)
        .bind(&rule)
        .bind(&app_id)
        .bind(opened_at)
        .execute(&mut **tx)
        .await?;
        resolved.push(json!({"rule": rule, "app_id": app_id}));
    }
    sqlx::query("UPDATE devices SET findings_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(device_id)
        .execute(&mut **tx)
        .await?;
    if !(opened.is_empty() && changed.is_empty() && resolved.is_empty()) {
        append_event(
            tx,
            at_ms,
            device_id,
            "device.findings_changed",
            device_id,
            json!({"opened": opened, "changed": changed, "resolved": resolved}),
        )
        .await?;
    }
    Ok(())
}

/// Stores a device's action results (a result delivered twice is stored once) with one event
/// per new result.
pub(crate) async fn store_action_results(
    tx: &mut Transaction<'static, Any>,
    device_id: &str,
    at_ms: i64,
    results: &[ActionResult],
) -> Result<()> {
    for r in results {
        let n = sqlx::query(
            "INSERT INTO action_results (device_id, action_id, app_id, kind, status, detail, \
             command, reported_at, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (device_id, action_id, reported_at, status) DO NOTHING",
        )
        .bind(device_id)
        .bind(&r.id)
        .bind(&r.app_id)
        .bind(&r.kind)
        .bind(&r.status)
        .bind(&r.detail)
        .bind(r.command.clone())
        .bind(r.at_ms)
        .bind(at_ms)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if n > 0 {
            append_event(
                tx,
                at_ms,
                device_id,
                "device.action_result",
                device_id,
                serde_json::to_value(r).unwrap_or_default(),
            )
            .await?;
        }
    }
    Ok(())
}

fn finding_row(r: &AnyRow) -> Result<FindingWrite> {
    Ok(FindingWrite {
        rule: r.try_get("rule")?,
        app_id: r.try_get("app_id")?,
        status: r.try_get("status")?,
        deadline: r.try_get("deadline")?,
        remedy: r.try_get("remedy")?,
        exception_id: r.try_get("exception_id")?,
        excepted_until: r.try_get("excepted_until")?,
    })
}

/// Most points in one time series.
pub const MAX_SERIES_POINTS: i64 = 2000;

/// The days from `from` to `to` (inclusive) that carry a point when at most `points` are
/// wanted: every day, or every `k`-th day counted from 1970-01-01 plus the last day, so that
/// a day's point is the same whatever the range asked.
pub fn series_days(from: Date, to: Date, points: i64) -> Vec<Date> {
    let (a, b) = (
        i64::from(from.days_since_epoch()),
        i64::from(to.days_since_epoch()),
    );
    if a > b {
        return Vec::new();
    }
    let n = b - a + 1;
    let points = points.clamp(1, MAX_SERIES_POINTS);
    let step = (n + points - 1) / points;
    let mut out: Vec<Date> = (a..=b)
        .filter(|d| d.rem_euclid(step) == 0)
        .map(Date::from_days_since_epoch)
        .collect();
    if out.last().map(|d| i64::from(d.days_since_epoch())) != Some(b) {
        out.push(Date::from_days_since_epoch(b));
    }
    if out.len() as i64 > points {
        out.remove(0);
    }
    out
}

impl Store {
    /// The open findings of active devices now, for one rule or one device (`Scope`),
    /// ordered by device then app; `after` is a `(device_id, app_id)` keyset cursor.
    pub async fn exposures(
        &self,
        scope: ExposureScope<'_>,
        today: &str,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> Result<Vec<Exposure>> {
        self.exposures_with_status(scope, today, None, after, limit)
            .await
    }

    /// [`Store::exposures`] keeping only the rows whose status now is `status` (the
    /// dashboard's filtered, paged exposure list).
    pub async fn exposures_with_status(
        &self,
        scope: ExposureScope<'_>,
        today: &str,
        status: Option<&str>,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> Result<Vec<Exposure>> {
        let (ad, aa) = after.unwrap_or(("", ""));
        let status_cond = if status.is_some() {
            format!(" AND {EFFECTIVE_STATUS} = $6")
        } else {
            String::new()
        };
        let (column, value) = match scope {
            ExposureScope::Rule(r) => ("f.rule", r),
            ExposureScope::Device(d) => ("f.device_id", d),
        };
        let sql = format!(
            "SELECT f.device_id, d.name, d.platform, f.rule, f.app_id, {EFFECTIVE_STATUS} AS eff, \
             i.first_seen, f.opened_at, f.deadline, f.exception_id, f.excepted_until \
             FROM findings f JOIN devices d ON d.id = f.device_id \
             LEFT JOIN installs i ON i.device_id = f.device_id AND i.app_id = f.app_id \
             WHERE {column} = $2 AND f.resolved_at IS NULL \
             AND (f.device_id, f.app_id) > ($3, $4){status_cond} \
             ORDER BY f.device_id, f.app_id, f.rule LIMIT $5"
        );
        let mut q = sqlx::query(&sql)
            .bind(today)
            .bind(value)
            .bind(ad)
            .bind(aa)
            .bind(limit.clamp(1, 1_000_000));
        if let Some(st) = status {
            q = q.bind(st);
        }
        let rows = q.fetch_all(&self.read).await?;
        rows.iter()
            .map(|r| {
                Ok(Exposure {
                    device_id: r.try_get("device_id")?,
                    device_name: r.try_get("name")?,
                    platform: r.try_get("platform")?,
                    rule: r.try_get("rule")?,
                    app_id: r.try_get("app_id")?,
                    status: r.try_get("eff")?,
                    installed_since: r.try_get("first_seen")?,
                    flagged_since: r.try_get("opened_at")?,
                    deadline: r.try_get("deadline")?,
                    exception_id: r.try_get("exception_id")?,
                    excepted_until: r.try_get("excepted_until")?,
                })
            })
            .collect()
    }

    /// Devices per status for every rule with an open finding, now (one scan of the open
    /// findings index; a device holding two apps under one rule counts once).
    pub async fn rule_summaries(&self, today: &str) -> Result<Vec<RuleSummary>> {
        let count = |status: &str| {
            format!("COUNT(DISTINCT CASE WHEN eff = '{status}' THEN device_id END) AS {status}")
        };
        let sql = format!(
            "SELECT rule, COUNT(DISTINCT device_id) AS exposed, {}, {}, {}, {} FROM (\
             SELECT f.rule, f.device_id, {EFFECTIVE_STATUS} AS eff FROM findings f \
             WHERE f.resolved_at IS NULL) AS s GROUP BY rule ORDER BY rule",
            count("violation"),
            count("in_grace"),
            count("excepted"),
            count("review"),
        );
        let rows = sqlx::query(&sql).bind(today).fetch_all(&self.read).await?;
        rows.iter()
            .map(|r| {
                Ok(RuleSummary {
                    rule: r.try_get("rule")?,
                    exposed: r.try_get("exposed")?,
                    violation: r.try_get("violation")?,
                    in_grace: r.try_get("in_grace")?,
                    excepted: r.try_get("excepted")?,
                    review: r.try_get("review")?,
                })
            })
            .collect()
    }

    /// Devices (per status) holding an app matched by `rule` at the end of each of `days`
    /// (ascending) in `zone`: the burn-down after a ban. A day's point is the state at the last
    /// instant of that day, so it does not depend on the range queried or the hour of the
    /// query; a day not yet over (today) is the state at `now`, marked `complete: false`. A
    /// device counts from the check-in that first reported the app until the one that saw it
    /// gone (or the device's revocation, which resolves its findings); its status at each
    /// point is aged from its deadline and exception by the zone's calendar, and a device
    /// holding several matched apps counts once, with its worst status.
    pub async fn rule_series(
        &self,
        rule: &str,
        zone: &Zone,
        days: &[Date],
        now: i64,
    ) -> Result<Vec<SeriesPoint>> {
        let days: Vec<Date> = days
            .iter()
            .copied()
            .filter(|d| zone.day_start(*d) <= now)
            .take(MAX_SERIES_POINTS as usize)
            .collect();
        let times: Vec<i64> = days.iter().map(|d| zone.day_end(*d).min(now)).collect();
        let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT f.device_id, f.opened_at, f.resolved_at, f.status, f.deadline, \
             f.excepted_until FROM findings f WHERE f.rule = $1 AND f.opened_at <= $2 \
             AND (f.resolved_at IS NULL OR f.resolved_at > $3) ORDER BY f.device_id",
        )
        .bind(rule)
        .bind(last)
        .bind(first)
        .fetch_all(&self.read)
        .await?;
        // counts[rank][i]: devices whose worst status at times[i] has that rank, built from
        // per-device step functions added as differences (O(episodes · log points)).
        let mut diff = [(); 4].map(|()| vec![0i64; times.len() + 1]);
        let mut device_eps: Vec<Episode> = Vec::new();
        let mut current: Option<String> = None;
        for r in &rows {
            let device: String = r.try_get("device_id")?;
            if current.as_deref() != Some(device.as_str()) {
                add_device(&device_eps, &times, zone, &mut diff);
                device_eps.clear();
                current = Some(device);
            }
            device_eps.push(Episode {
                from: r.try_get("opened_at")?,
                to: r
                    .try_get::<Option<i64>, _>("resolved_at")?
                    .unwrap_or(i64::MAX),
                status: r.try_get("status")?,
                deadline: r.try_get("deadline")?,
                until: r.try_get("excepted_until")?,
            });
        }
        add_device(&device_eps, &times, zone, &mut diff);
        let mut running = [0i64; 4];
        Ok(times
            .iter()
            .zip(&days)
            .enumerate()
            .map(|(i, (&at, day))| {
                for (rank, d) in diff.iter().enumerate() {
                    running[rank] += d[i];
                }
                SeriesPoint {
                    at,
                    day: day.to_string(),
                    complete: at == zone.day_end(*day),
                    exposed: running.iter().sum(),
                    violation: running[3],
                    in_grace: running[2],
                    excepted: running[1],
                    review: running[0],
                }
            })
            .collect())
    }

    /// A device's action results, newest first (at most `limit`).
    pub async fn action_results(
        &self,
        device_id: &str,
        limit: i64,
    ) -> Result<Vec<StoredActionResult>> {
        let rows = sqlx::query(
            "SELECT action_id, app_id, kind, status, detail, command, reported_at, received_at \
             FROM action_results WHERE device_id = $1 \
             ORDER BY received_at DESC, reported_at DESC, action_id LIMIT $2",
        )
        .bind(device_id)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredActionResult {
                    result: ActionResult {
                        id: r.try_get("action_id")?,
                        app_id: r.try_get("app_id")?,
                        kind: r.try_get("kind")?,
                        status: r.try_get("status")?,
                        detail: r.try_get("detail")?,
                        command: r.try_get("command")?,
                        at_ms: r.try_get("reported_at")?,
                    },
                    received_at: r.try_get("received_at")?,
                })
            })
            .collect()
    }
}

/// One exposure episode of a device, as the time series reads it.
struct Episode {
    from: i64,
    to: i64,
    status: String,
    deadline: Option<String>,
    until: Option<String>,
}

/// Unix ms of the start of a `YYYY-MM-DD` day in `zone` (`None` if unparsable).
fn day_start(zone: &Zone, day: &str) -> Option<i64> {
    Date::parse(day).ok().map(|d| zone.day_start(d))
}

/// Unix ms just after the end of a `YYYY-MM-DD` day in `zone` (`None` if unparsable).
fn day_after(zone: &Zone, day: &str) -> Option<i64> {
    Date::parse(day).ok().map(|d| zone.day_end(d) + 1)
}

fn rank(status: &str) -> usize {
    match status {
        "violation" => 3,
        "in_grace" => 2,
        "excepted" => 1,
        _ => 0,
    }
}

/// The rank of an episode's status at each instant of `[e.from, e.to)`, as constant pieces:
/// the status only changes where the deadline starts or the exception's last day ends.
fn pieces(e: &Episode, zone: &Zone) -> Vec<(i64, i64, usize)> {
    let mut cuts = vec![e.from];
    for t in [
        e.deadline.as_deref().and_then(|d| day_start(zone, d)),
        e.until.as_deref().and_then(|d| day_after(zone, d)),
    ]
    .into_iter()
    .flatten()
    {
        if t > e.from && t < e.to {
            cuts.push(t);
        }
    }
    cuts.sort_unstable();
    cuts.push(e.to);
    cuts.windows(2)
        .filter(|w| w[0] < w[1])
        .map(|w| {
            let day = zone.day_of(w[0]).to_string();
            let s = status_on(&e.status, e.deadline.as_deref(), e.until.as_deref(), &day);
            (w[0], w[1], rank(s))
        })
        .collect()
}

/// Adds one device's worst status over time to the difference arrays.
fn add_device(eps: &[Episode], times: &[i64], zone: &Zone, diff: &mut [Vec<i64>; 4]) {
    // Pieces of all its episodes; where they overlap, the worst rank wins, so split the
    // device's timeline at every piece boundary and take the maximum in each part.
    let all: Vec<(i64, i64, usize)> = eps.iter().flat_map(|e| pieces(e, zone)).collect();
    let mut cuts: Vec<i64> = all.iter().flat_map(|&(a, b, _)| [a, b]).collect();
    cuts.sort_unstable();
    cuts.dedup();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let worst = all
            .iter()
            .filter(|&&(pa, pb, _)| pa <= a && b <= pb)
            .map(|&(_, _, r)| r)
            .max();
        if let Some(r) = worst {
            let i0 = times.partition_point(|&t| t < a);
            let i1 = times.partition_point(|&t| t < b);
            if i0 < i1 {
                diff[r][i0] += 1;
                diff[r][i1] -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 86_400_000;

    #[test]
    fn day_of_known_dates() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(1_698_624_000_000), "2023-10-30");
        assert_eq!(day_of(951_782_400_000), "2000-02-29");
        assert_eq!(day_of(-1), "1969-12-31");
    }

    #[test]
    fn series_days_do_not_move_with_the_range() {
        let d = |s: &str| Date::parse(s).unwrap();
        let all = series_days(d("2023-10-01"), d("2023-10-31"), 100);
        assert_eq!(all.len(), 31);
        let weekly_a = series_days(d("2023-01-01"), d("2023-12-31"), 53);
        let weekly_b = series_days(d("2023-03-05"), d("2023-11-30"), 39);
        assert!(weekly_a.len() <= 53 && weekly_b.len() <= 39);
        // Apart from the range's own last day, the days chosen are the same in both.
        let inner = |v: &[Date]| v[..v.len() - 1].to_vec();
        for x in inner(&weekly_b) {
            assert!(weekly_a.contains(&x), "{x} missing");
        }
        assert_eq!(series_days(d("2023-10-02"), d("2023-10-01"), 5), vec![]);
    }

    #[test]
    fn status_ages_with_the_date() {
        let d = Some("2023-10-30");
        assert_eq!(status_on("in_grace", d, None, "2023-10-29"), "in_grace");
        assert_eq!(status_on("in_grace", d, None, "2023-10-30"), "violation");
        let until = Some("2023-11-05");
        assert_eq!(status_on("excepted", d, until, "2023-11-05"), "excepted");
        assert_eq!(status_on("excepted", d, until, "2023-11-06"), "violation");
        assert_eq!(
            status_on("excepted", Some("2024-01-01"), until, "2023-11-06"),
            "in_grace"
        );
        assert_eq!(status_on("review", None, None, "2023-11-06"), "review");
    }

    /// The sweep equals the definition (per point, per device, the worst status of the
    /// episodes open then), on pseudo-random episodes around deadlines and exception ends.
    #[test]
    fn series_sweep_matches_the_definition() {
        for zone in [Zone::utc(), Zone::named("America/Toronto").unwrap()] {
            sweep_matches_the_definition_in(&zone);
        }
    }

    fn sweep_matches_the_definition_in(zone: &Zone) {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: i64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as i64
        };
        let base = day_start(zone, "2023-10-20").unwrap();
        let days = ["2023-10-25", "2023-10-30", "2023-11-02"];
        let statuses = ["violation", "in_grace", "excepted", "review"];
        for _ in 0..200 {
            let devices: Vec<Vec<Episode>> = (0..5)
                .map(|_| {
                    (0..1 + next(3))
                        .map(|_| {
                            let from = base + next(20 * DAY_MS);
                            let to = if next(3) == 0 {
                                i64::MAX
                            } else {
                                from + next(10 * DAY_MS)
                            };
                            Episode {
                                from,
                                to,
                                status: statuses[next(4) as usize].to_string(),
                                deadline: (next(4) > 0).then(|| days[next(3) as usize].to_string()),
                                until: (next(2) > 0).then(|| days[next(3) as usize].to_string()),
                            }
                        })
                        .collect()
                })
                .collect();
            let times: Vec<i64> = (0..60).map(|i| base + i * DAY_MS / 2 + 7).collect();
            let mut diff = [(); 4].map(|()| vec![0i64; times.len() + 1]);
            for eps in &devices {
                add_device(eps, &times, zone, &mut diff);
            }
            let mut running = [0i64; 4];
            for (i, &t) in times.iter().enumerate() {
                for r in 0..4 {
                    running[r] += diff[r][i];
                }
                let mut want = [0i64; 4];
                for eps in &devices {
                    let day = zone.day_of(t).to_string();
                    let worst = eps
                        .iter()
                        .filter(|e| e.from <= t && t < e.to)
                        .map(|e| {
                            rank(status_on(
                                &e.status,
                                e.deadline.as_deref(),
                                e.until.as_deref(),
                                &day,
                            ))
                        })
                        .max();
                    if let Some(r) = worst {
                        want[r] += 1;
                    }
                }
                assert_eq!(running, want, "at {}", day_of(t));
            }
        }
    }
}
