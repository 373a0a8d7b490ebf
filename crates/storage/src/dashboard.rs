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
        let sql = format!(
            "SELECT d.platform, d.ownership, d.groups_json, {} AS fresh, COUNT(*) AS n \
             FROM devices d WHERE d.revoked_at IS NULL \
             GROUP BY d.platform, d.ownership, d.groups_json, fresh",
            freshness_sql(1)
        );
        let rows = sqlx::query(&sql)
            .bind(stale_before)
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DeviceBucket {
                    platform: r.try_get("platform")?,
                    ownership: r.try_get("ownership")?,
                    groups: groups_of(r)?,
                    freshness: Freshness::from_str(&r.try_get::<String, _>("fresh")?),
                    devices: r.try_get("n")?,
                })
            })
            .collect()
    }

    /// For every rule with an open finding on an active device: devices per worst status and
    /// freshness, on `today` (a device holding two apps under a rule counts once).
    pub async fn rule_worst(&self, today: &str, stale_before: i64) -> Result<Vec<RuleWorst>> {
        let sql = format!(
            "SELECT rule, worst, fresh, COUNT(*) AS n FROM (\
               SELECT f.rule, f.device_id, {fresh} AS fresh, MAX(CASE {eff} \
                 WHEN 'violation' THEN 4 WHEN 'in_grace' THEN 3 WHEN 'excepted' THEN 2 \
                 ELSE 1 END) AS worst \
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
