//! Threat-intelligence indicators (opaque JSON bodies; `threat-intel` parses them) and
//! their matches against stored assessments. An import is one transaction with its
//! `intel.imported` event; new matches are recorded with one `intel.matched` event.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use crate::{append_event, now_ms, Result, Store};

/// One indicator to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorRow {
    /// Indicator id (STIX id or `misp-attribute--…`).
    pub id: String,
    /// Where it came from.
    pub source: String,
    /// The indicator as JSON.
    pub body: String,
    /// Its `modified` time, Unix ms (a stored later version is kept).
    pub modified_at: Option<i64>,
}

/// A match of an indicator against a stored assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntelMatchRow {
    /// Assessment id.
    pub assessment_id: String,
    /// Indicator id.
    pub indicator_id: String,
    /// Matched value.
    pub value: String,
    /// Where in the app it was found.
    pub location: String,
    /// The match as JSON (indicator, source, confidence, pattern, ...).
    pub body: String,
    /// When it was first recorded, Unix ms.
    pub matched_at: i64,
}

/// A stored assessment report, for re-matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    /// Assessment id.
    pub id: String,
    /// Package name.
    pub app_id: Option<String>,
    /// File SHA-256.
    pub sha256: String,
    /// The report JSON.
    pub report_json: String,
}

impl Store {
    /// Stores indicators (a later or equal `modified` replaces a stored one) and one
    /// `intel.imported` event with `summary`, all in one transaction. Returns the rows written.
    pub async fn import_indicators(
        &self,
        rows: &[IndicatorRow],
        actor: &str,
        summary: serde_json::Value,
    ) -> Result<u64> {
        let at = now_ms();
        let mut tx = self.begin().await?;
        let mut written = 0;
        for r in rows {
            written += sqlx::query(
                "INSERT INTO intel_indicators (id, source, body, modified_at, imported_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (id) DO UPDATE SET source = excluded.source, body = excluded.body, \
                 modified_at = excluded.modified_at, imported_at = excluded.imported_at \
                 WHERE intel_indicators.modified_at IS NULL OR excluded.modified_at IS NULL \
                 OR excluded.modified_at >= intel_indicators.modified_at",
            )
            .bind(&r.id)
            .bind(&r.source)
            .bind(&r.body)
            .bind(r.modified_at)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        append_event(
            &mut tx,
            at,
            actor,
            "intel.imported",
            "intel",
            json!({"written": written, "summary": summary}),
        )
        .await?;
        tx.commit().await?;
        Ok(written)
    }

    /// Every stored indicator body.
    pub async fn indicator_bodies(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT body FROM intel_indicators ORDER BY id")
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("body")?)).collect()
    }

    /// Every stored assessment report.
    pub async fn assessment_reports(&self) -> Result<Vec<StoredReport>> {
        let rows =
            sqlx::query("SELECT id, app_id, sha256, report_json FROM assessments ORDER BY id")
                .fetch_all(&self.read)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredReport {
                    id: r.try_get("id")?,
                    app_id: r.try_get("app_id")?,
                    sha256: r.try_get("sha256")?,
                    report_json: r.try_get("report_json")?,
                })
            })
            .collect()
    }

    /// Records matches; returns those not recorded before (with one `intel.matched` event
    /// when there are any), in one transaction.
    pub async fn record_intel_matches(
        &self,
        rows: &[IntelMatchRow],
        actor: &str,
    ) -> Result<Vec<IntelMatchRow>> {
        let at = now_ms();
        let mut tx = self.begin().await?;
        let mut new = Vec::new();
        for r in rows {
            let n = sqlx::query(
                "INSERT INTO intel_matches (assessment_id, indicator_id, value, location, body, matched_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(&r.assessment_id)
            .bind(&r.indicator_id)
            .bind(&r.value)
            .bind(&r.location)
            .bind(&r.body)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n > 0 {
                new.push(IntelMatchRow {
                    matched_at: at,
                    ..r.clone()
                });
            }
        }
        if !new.is_empty() {
            let mut assessments: Vec<&str> = new.iter().map(|m| m.assessment_id.as_str()).collect();
            assessments.sort_unstable();
            assessments.dedup();
            append_event(
                &mut tx,
                at,
                actor,
                "intel.matched",
                "intel",
                json!({"new_matches": new.len(), "assessments": assessments}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    /// Every recorded match, oldest first.
    pub async fn intel_matches(&self) -> Result<Vec<IntelMatchRow>> {
        let rows = sqlx::query(
            "SELECT assessment_id, indicator_id, value, location, body, matched_at FROM intel_matches \
             ORDER BY matched_at, assessment_id, indicator_id, value, location",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(IntelMatchRow {
                    assessment_id: r.try_get("assessment_id")?,
                    indicator_id: r.try_get("indicator_id")?,
                    value: r.try_get("value")?,
                    location: r.try_get("location")?,
                    body: r.try_get("body")?,
                    matched_at: r.try_get("matched_at")?,
                })
            })
            .collect()
    }

    /// Enrolled, not revoked devices on which `app_id` is installed now.
    pub async fn devices_with_app(&self, app_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT i.device_id FROM installs i JOIN devices d ON d.id = i.device_id \
             WHERE i.app_id = $1 AND i.removed_at IS NULL AND d.revoked_at IS NULL ORDER BY i.device_id",
        )
        .bind(app_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("device_id")?)).collect()
    }
}
