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
