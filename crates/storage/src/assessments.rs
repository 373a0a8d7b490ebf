//! Uploaded APKs' assessment reports: one row per distinct file (keyed by its SHA-256), with
//! the identity and verdict taken out of the report so they can be filtered, and the whole
//! `interdict.assessment/v1` report as stored JSON.
//!
//! Listings are newest first: ordered by `(created_at DESC, id DESC)` and paged by keyset
//! (the `after` cursor is the id of the last row of the previous page), so a page boundary
//! never skips or repeats a row even when several assessments share a millisecond.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{append_event, new_id, now_ms, Result, StorageError, Store};

/// An assessment to store (what the server took out of the analyser's report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAssessment {
    /// Lowercase hex SHA-256 of the uploaded file.
    pub sha256: String,
    /// Package name (`app.package` of the report), when it has one.
    pub app_id: Option<String>,
    /// `android:versionName`.
    pub version_name: Option<String>,
    /// `android:versionCode` (with `versionCodeMajor`), when it fits in an `i64`.
    pub version_code: Option<i64>,
    /// Risk verdict (`risk.verdict` of the report).
    pub verdict: String,
    /// Risk score (`risk.score` of the report).
    pub score: Option<i64>,
    /// File size in bytes.
    pub size: i64,
    /// The whole report, as JSON text.
    pub report_json: String,
}

/// An assessment without its report (listings and upload answers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssessmentSummary {
    /// Id (`asm_...`).
    pub id: String,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    /// Package name.
    pub app_id: Option<String>,
    /// Version name.
    pub version_name: Option<String>,
    /// Version code.
    pub version_code: Option<i64>,
    /// Risk verdict.
    pub verdict: String,
    /// Risk score.
    pub score: Option<i64>,
    /// File size in bytes.
    pub size: i64,
    /// Stored, Unix ms.
    pub created_at: i64,
    /// Token id of the uploader.
    pub created_by: String,
}

/// Filters and page for [`Store::list_assessments`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssessmentFilter {
    /// Only this verdict.
    pub verdict: Option<String>,
    /// Only this package.
    pub app_id: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<i64>,
    /// Id of the last assessment of the previous page.
    pub after: Option<String>,
}

const SUMMARY_COLUMNS: &str = "SELECT id, sha256, app_id, version_name, version_code, verdict, \
    score, size, created_at, created_by FROM assessments";

fn summary(r: &AnyRow) -> Result<AssessmentSummary> {
    Ok(AssessmentSummary {
        id: r.try_get("id")?,
        sha256: r.try_get("sha256")?,
        app_id: r.try_get("app_id")?,
        version_name: r.try_get("version_name")?,
        version_code: r.try_get("version_code")?,
        verdict: r.try_get("verdict")?,
        score: r.try_get("score")?,
        size: r.try_get("size")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

impl Store {
    /// The assessment of the file with this SHA-256, if one is stored.
    pub async fn assessment_by_sha256(&self, sha256: &str) -> Result<Option<AssessmentSummary>> {
        let row = sqlx::query(&format!("{SUMMARY_COLUMNS} WHERE sha256 = $1"))
            .bind(sha256)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(summary).transpose()
    }

    /// Stores an assessment and its `assessment.created` event in one transaction.
    ///
    /// Idempotent per file: when an assessment with the same SHA-256 is already stored (for
    /// instance by a concurrent upload of the same APK), nothing is written and the stored one
    /// is returned with `false`; otherwise the new one is returned with `true`.
    pub async fn create_assessment(
        &self,
        new: &NewAssessment,
        actor: &str,
    ) -> Result<(AssessmentSummary, bool)> {
        let row = AssessmentSummary {
            id: new_id("asm"),
            sha256: new.sha256.clone(),
            app_id: new.app_id.clone(),
            version_name: new.version_name.clone(),
            version_code: new.version_code,
            verdict: new.verdict.clone(),
            score: new.score,
            size: new.size,
            created_at: now_ms(),
            created_by: actor.to_string(),
        };
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO assessments (id, sha256, app_id, version_name, version_code, verdict, \
             score, size, report_json, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&row.id)
        .bind(&row.sha256)
        .bind(row.app_id.clone())
        .bind(row.version_name.clone())
        .bind(row.version_code)
        .bind(&row.verdict)
        .bind(row.score)
        .bind(row.size)
        .bind(&new.report_json)
        .bind(row.created_at)
        .bind(&row.created_by)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            let existing = sqlx::query(&format!("{SUMMARY_COLUMNS} WHERE sha256 = $1"))
                .bind(&row.sha256)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| {
                    StorageError::Corrupt("assessment conflict without a stored row".into())
                })?;
            let existing = summary(&existing)?;
            tx.rollback().await?;
            return Ok((existing, false));
        }
        append_event(
            &mut tx,
            row.created_at,
            actor,
            "assessment.created",
            &row.id,
            json!({"sha256": row.sha256, "app_id": row.app_id, "verdict": row.verdict}),
        )
        .await?;
        tx.commit().await?;
        Ok((row, true))
    }

    /// Assessments matching `f`, newest first (`created_at DESC, id DESC`), at most
    /// `f.limit` (default 100, 1..=1000). With `f.after`, the page starts after that
    /// assessment; [`StorageError::NotFound`] when no assessment has that id.
    pub async fn list_assessments(&self, f: &AssessmentFilter) -> Result<Vec<AssessmentSummary>> {
        enum Bind {
            Text(String),
            Int(i64),
        }
        let mut sql = format!("{SUMMARY_COLUMNS} WHERE 1 = 1");
        let mut binds: Vec<Bind> = Vec::new();
        let mut param = |b: Bind| {
            binds.push(b);
            format!("${}", binds.len())
        };
        if let Some(v) = &f.verdict {
            let p = param(Bind::Text(v.clone()));
            sql.push_str(&format!(" AND verdict = {p}"));
        }
        if let Some(a) = &f.app_id {
            let p = param(Bind::Text(a.clone()));
            sql.push_str(&format!(" AND app_id = {p}"));
        }
        if let Some(after) = &f.after {
            let cursor = sqlx::query("SELECT created_at FROM assessments WHERE id = $1")
                .bind(after)
                .fetch_optional(&self.read)
                .await?
                .ok_or(StorageError::NotFound)?;
            let at: i64 = cursor.try_get("created_at")?;
            let p_at = param(Bind::Int(at));
            let p_id = param(Bind::Text(after.clone()));
            sql.push_str(&format!(
                " AND (created_at < {p_at} OR (created_at = {p_at} AND id < {p_id}))"
            ));
        }
        let limit = f.limit.unwrap_or(100).clamp(1, 1000);
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {limit}"));
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = match b {
                Bind::Text(s) => q.bind(s),
                Bind::Int(i) => q.bind(i),
            };
        }
        let rows = q.fetch_all(&self.read).await?;
        rows.iter().map(summary).collect()
    }

    /// One assessment with its stored report (JSON text).
    pub async fn assessment(&self, id: &str) -> Result<(AssessmentSummary, String)> {
        let row = sqlx::query(
            "SELECT id, sha256, app_id, version_name, version_code, verdict, score, size, \
             created_at, created_by, report_json FROM assessments WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StorageError::NotFound)?;
        Ok((summary(&row)?, row.try_get("report_json")?))
    }
}
