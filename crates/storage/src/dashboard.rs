//! Reads for the web dashboard's overview that no API read model answers: active devices
//! grouped by what a rule's scope reads and by freshness, and each device's worst open status
//! per rule. A stale or never-reporting device is its own state, never compliant.

use serde::Serialize;
use sqlx::Row;

use crate::findings::EFFECTIVE_STATUS;
use crate::{groups_of, Result, Store};

/// How recently a device reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    /// Checked in within the window.
    Fresh,
    /// Last check-in older than the window.
    Stale,
    /// Enrolled but never checked in.
    Never,
}

impl Freshness {
    fn from_str(s: &str) -> Freshness {
        match s {
            "never" => Freshness::Never,
            "stale" => Freshness::Stale,
            _ => Freshness::Fresh,
        }
    }
}

/// Active devices sharing platform, ownership, groups and freshness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceBucket {
    /// Platform.
    pub platform: String,
    /// Ownership.
    pub ownership: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Freshness against the window.
    pub freshness: Freshness,
    /// How many devices.
    pub devices: i64,
}

/// Devices of one rule with one worst open status and freshness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleWorst {
    /// Rule id.
    pub rule: String,
    /// Worst effective status of the device's open findings under the rule
    /// (`violation` > `in_grace` > `excepted` > `review`).
    pub status: String,
    /// Freshness of those devices.
    pub freshness: Freshness,
    /// How many devices.
    pub devices: i64,
}

/// The SQL freshness of `devices` (`$n` is the stale cut-off, Unix ms).
fn freshness_sql(n: u8) -> String {
    format!(
        "CASE WHEN d.last_seen IS NULL THEN 'never' WHEN d.last_seen < ${n} THEN 'stale' \
         ELSE 'fresh' END"
    )
}

impl Store {
    /// Active devices grouped by platform, ownership, groups and freshness (a check-in
    /// before `stale_before` is stale). The groups are few, so a rule's scope is applied to
    /// the buckets, not to each device.
    pub async fn device_buckets(&self, stale_before: i64) -> Result<Vec<DeviceBucket>> {
        // One pass over the partial index `devices_scope` (migration 0010), grouped in its
        // order; freshness is summed per group rather than grouped on.
        let rows = sqlx::query(
            "SELECT platform, ownership, groups_json, \
             CAST(SUM(CASE WHEN last_seen IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS never, \
             CAST(SUM(CASE WHEN last_seen < $1 THEN 1 ELSE 0 END) AS BIGINT) AS stale, \
             COUNT(*) AS n FROM devices WHERE revoked_at IS NULL \
             GROUP BY platform, ownership, groups_json",
        )
        .bind(stale_before)
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::with_capacity(rows.len() * 3);
        for r in &rows {
            let (never, stale, n): (i64, i64, i64) =
                (r.try_get("never")?, r.try_get("stale")?, r.try_get("n")?);
            let platform: String = r.try_get("platform")?;
            let ownership: String = r.try_get("ownership")?;
            let groups = groups_of(r)?;
            for (freshness, devices) in [
                (Freshness::Never, never),
                (Freshness::Stale, stale),
                (Freshness::Fresh, n - never - stale),
            ] {
                if devices > 0 {
                    out.push(DeviceBucket {
                        platform: platform.clone(),
                        ownership: ownership.clone(),
                        groups: groups.clone(),
                        freshness,
                        devices,
                    });
                }
            }
        }
        Ok(out)
    }

    /// For every rule with an open finding on an active device: devices per worst status and
    /// freshness, on `today` (a device holding two apps under a rule counts once).
    pub async fn rule_worst(&self, today: &str, stale_before: i64) -> Result<Vec<RuleWorst>> {
        let sql = format!(
            "SELECT rule, worst, fresh, COUNT(*) AS n FROM (\
               SELECT f.rule, f.device_id, {fresh} AS fresh, CAST(MAX(CASE {eff} \
                 WHEN 'violation' THEN 4 WHEN 'in_grace' THEN 3 WHEN 'excepted' THEN 2 \
                 ELSE 1 END) AS BIGINT) AS worst \
               FROM findings f JOIN devices d ON d.id = f.device_id \
               WHERE f.resolved_at IS NULL AND d.revoked_at IS NULL \
               GROUP BY f.rule, f.device_id, d.last_seen) AS s \
             GROUP BY rule, worst, fresh ORDER BY rule",
            fresh = freshness_sql(2),
            eff = EFFECTIVE_STATUS,
        );
        let rows = sqlx::query(&sql)
            .bind(today)
            .bind(stale_before)
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                let worst: i64 = r.try_get("worst")?;
                Ok(RuleWorst {
                    rule: r.try_get("rule")?,
                    status: match worst {
                        4 => "violation",
                        3 => "in_grace",
                        2 => "excepted",
                        _ => "review",
                    }
                    .to_string(),
                    freshness: Freshness::from_str(&r.try_get::<String, _>("fresh")?),
                    devices: r.try_get("n")?,
                })
            })
            .collect()
    }
}

/// Filters of the activity screen (all optional; empty strings are ignored).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Exactly this actor (account, token or device id).
    pub actor: Option<String>,
    /// This kind (`exception.approved`), or every kind under a prefix ending in `.`
    /// (`exception.`).
    pub kind: Option<String>,
    /// Exactly this object (the event's subject).
    pub object: Option<String>,
    /// At or after this instant, Unix ms.
    pub from_ms: Option<i64>,
    /// Before this instant, Unix ms.
    pub to_ms: Option<i64>,
    /// Only events older than this sequence number (the keyset page).
    pub before_seq: Option<i64>,
    /// Page size (1 to 10,000).
    pub limit: i64,
}

impl Store {
    /// Events matching `f`, newest first.
    pub async fn events_filtered(&self, f: &EventFilter) -> Result<Vec<crate::Event>> {
        let mut sql =
            String::from("SELECT seq, at, actor, action, subject, body FROM events WHERE seq < $1");
        let mut texts: Vec<String> = Vec::new();
        let mut n = 1;
        let mut cond = |sql: &mut String, c: &str| {
            n += 1;
            sql.push_str(&format!(" AND {c} ${n}"));
        };
        if let Some(a) = f.actor.as_deref().filter(|s| !s.is_empty()) {
            cond(&mut sql, "actor =");
            texts.push(a.to_string());
        }
        if let Some(k) = f.kind.as_deref().filter(|s| !s.is_empty()) {
            if let Some(prefix) = k.strip_suffix('.') {
                // A prefix: kinds from "prefix." up to "prefix/" ('/' sorts after '.').
                cond(&mut sql, "action >=");
                texts.push(format!("{prefix}."));
                cond(&mut sql, "action <");
                texts.push(format!("{prefix}/"));
            } else {
                cond(&mut sql, "action =");
                texts.push(k.to_string());
            }
        }
        if let Some(o) = f.object.as_deref().filter(|s| !s.is_empty()) {
            cond(&mut sql, "subject =");
            texts.push(o.to_string());
        }
        let mut nums: Vec<i64> = Vec::new();
        for (c, v) in [("at >=", f.from_ms), ("at <", f.to_ms)] {
            if let Some(v) = v {
                n += 1;
                sql.push_str(&format!(" AND {c} ${n}"));
                nums.push(v);
            }
        }
        sql.push_str(&format!(
            " ORDER BY seq DESC LIMIT {}",
            f.limit.clamp(1, 10_000)
        ));
        let mut q = sqlx::query(&sql).bind(f.before_seq.unwrap_or(i64::MAX));
        for t in texts {
            q = q.bind(t);
        }
        for v in nums {
            q = q.bind(v);
        }
        let rows = q.fetch_all(&self.read).await?;
        rows.iter()
            .map(|r| {
                let body: String = r.try_get("body")?;
                Ok(crate::Event {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    subject: r.try_get("subject")?,
                    body: serde_json::from_str(&body)
                        .map_err(|e| crate::StorageError::Corrupt(e.to_string()))?,
                })
            })
            .collect()
    }
}
