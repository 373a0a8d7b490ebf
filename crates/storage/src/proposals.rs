//! Guarded policy publishing (issue 14, item 1): a version that weakens the ban waits as a
//! proposal until a second person approves it. Publishing, proposing, approving and rejecting
//! are each one transaction with their events, which name the person and the reason.

use serde::Serialize;
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{append_event, hash_secret, lock_counter, new_id, now_ms, Result, StorageError, Store};

/// A policy version to publish or propose.
#[derive(Debug, Clone, Copy)]
pub struct NewPolicy<'a> {
    /// Policy name.
    pub name: &'a str,
    /// TOML source.
    pub source: &'a str,
    /// The active server version the caller checked and diffed against (none: no policy yet).
    /// If another version became active since, the write is refused with a conflict.
    pub base_version: Option<i64>,
    /// Why (required for a proposal).
    pub reason: Option<&'a str>,
    /// The semantic diff against the base version (JSON of `app_policy::PolicyDiff`).
    pub diff: &'a Value,
    /// The weakenings of that diff, recorded in the events.
    pub weakenings: &'a Value,
}

/// A proposed policy version and its decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyProposal {
    /// Id (`prop_...`).
    pub id: String,
    /// Policy name.
    pub name: String,
    /// SHA-256 of the source.
    pub sha256: String,
    /// TOML source (left out of listings).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// The active server version when it was proposed.
    pub base_version: Option<i64>,
    /// Why the proposer wants it.
    pub reason: String,
    /// The semantic diff against the base version.
    pub diff: Value,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// Account (or token) id of the proposer.
    pub proposed_by: String,
    /// Unix ms.
    pub proposed_at: i64,
    /// Account (or token) id of the decider.
    pub decided_by: Option<String>,
    /// Unix ms.
    pub decided_at: Option<i64>,
    /// The decider's note.
    pub comment: Option<String>,
    /// The server version it became, once approved.
    pub published_version: Option<i64>,
}

const PROPOSAL_COLUMNS: &str = "SELECT id, name, sha256, source, base_version, reason, diff_json, \
    status, proposed_by, proposed_at, decided_by, decided_at, comment, published_version \
    FROM policy_proposals";

fn proposal_row(r: &AnyRow) -> Result<PolicyProposal> {
    let diff: String = r.try_get("diff_json")?;
    Ok(PolicyProposal {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        sha256: r.try_get("sha256")?,
        source: r.try_get("source")?,
        base_version: r.try_get("base_version")?,
        reason: r.try_get("reason")?,
        diff: serde_json::from_str(&diff).map_err(|e| StorageError::Corrupt(e.to_string()))?,
        status: r.try_get("status")?,
        proposed_by: r.try_get("proposed_by")?,
        proposed_at: r.try_get("proposed_at")?,
        decided_by: r.try_get("decided_by")?,
        decided_at: r.try_get("decided_at")?,
        comment: r.try_get("comment")?,
        published_version: r.try_get("published_version")?,
    })
}

/// Locks the event counter and refuses if the active version is not `base`.
async fn check_base(tx: &mut Transaction<'static, Any>, base: Option<i64>) -> Result<Option<i64>> {
    let _ = lock_counter(tx).await?;
    let active: Option<i64> = sqlx::query("SELECT MAX(version) FROM policy_versions")
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
    if active != base {
        let show = |v: Option<i64>| v.map_or_else(|| "none".to_string(), |v| v.to_string());
        return Err(StorageError::Conflict(format!(
            "the active policy version is now {}, not {}: diff against it and publish again",
            show(active),
            show(base)
        )));
    }
    Ok(active)
}

/// Inserts the next version and its `policy.published` event; returns the version.
async fn insert_version(
    tx: &mut Transaction<'static, Any>,
    p: &NewPolicy<'_>,
    publisher: &str,
    now: i64,
    extra: Value,
) -> Result<i64> {
    let sha = hash_secret(p.source);
    let version = p.base_version.unwrap_or(0).saturating_add(1);
    sqlx::query(
        "INSERT INTO policy_versions (version, name, sha256, source, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(version)
    .bind(p.name)
    .bind(&sha)
    .bind(p.source)
    .bind(now)
    .bind(publisher)
    .execute(&mut **tx)
    .await?;
    let mut body = json!({
        "before": {"version": p.base_version},
        "after": {"version": version, "name": p.name, "sha256": sha},
        "reason": p.reason,
        "weakenings": p.weakenings,
    });
    if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    append_event(
        tx,
        now,
        publisher,
        "policy.published",
        &format!("policy/{version}"),
        body,
    )
    .await?;
    Ok(version)
}

impl Store {
    /// Publishes a version that needs no second person (it only tightens the ban, or it is the
    /// first), if the active version is still `p.base_version`; returns its number.
    pub async fn publish_checked(&self, p: &NewPolicy<'_>, actor: &str) -> Result<i64> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        check_base(&mut tx, p.base_version).await?;
        let version = insert_version(&mut tx, p, actor, now, json!({})).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Stores a version that weakens the ban as a pending proposal, with its
    /// `policy.proposed` event, if the active version is still `p.base_version`.
    pub async fn propose_policy(&self, p: &NewPolicy<'_>, actor: &str) -> Result<PolicyProposal> {
        let reason = p
            .reason
            .ok_or_else(|| StorageError::Invalid("reason: required for a proposal".into()))?;
        let now = now_ms();
        let id = new_id("prop");
        let sha = hash_secret(p.source);
        let mut tx = self.begin().await?;
        check_base(&mut tx, p.base_version).await?;
        let diff = crate::canonical_json(p.diff);
        sqlx::query(
            "INSERT INTO policy_proposals (id, name, sha256, source, base_version, reason, \
             diff_json, status, proposed_by, proposed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9)",
        )
        .bind(&id)
        .bind(p.name)
        .bind(&sha)
        .bind(p.source)
        .bind(p.base_version)
        .bind(reason)
        .bind(&diff)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            now,
            actor,
            "policy.proposed",
            &id,
            json!({
                "after": {"status": "pending", "name": p.name, "sha256": sha,
                          "base_version": p.base_version},
                "reason": reason,
                "weakenings": p.weakenings,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(PolicyProposal {
            id,
            name: p.name.to_string(),
            sha256: sha,
            source: String::new(),
            base_version: p.base_version,
            reason: reason.to_string(),
            diff: p.diff.clone(),
            status: "pending".into(),
            proposed_by: actor.to_string(),
            proposed_at: now,
            decided_by: None,
            decided_at: None,
            comment: None,
            published_version: None,
        })
    }

    /// Proposals, newest first, optionally only those with `status`; without sources.
    pub async fn policy_proposals(&self, status: Option<&str>) -> Result<Vec<PolicyProposal>> {
        let sql = format!(
            "{} WHERE ($1 = '' OR status = $1) ORDER BY proposed_at DESC, id",
            PROPOSAL_COLUMNS.replace("source,", "'' AS source,")
        );
        let rows = sqlx::query(&sql)
            .bind(status.unwrap_or(""))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(proposal_row).collect()
    }

    /// One proposal, with its source.
    pub async fn policy_proposal(&self, id: &str) -> Result<PolicyProposal> {
        let row = sqlx::query(&format!("{PROPOSAL_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StorageError::NotFound)?;
        proposal_row(&row)
    }

    /// Approves (`to = "approved"`: the proposal becomes the next version, if the active
    /// version is still the one it was diffed against) or rejects a pending proposal. The
    /// approver must differ from the proposer ([`StorageError::Conflict`] otherwise; the API
    /// checks first and answers 403); the proposer may reject (withdraw) their own. Returns the
    /// proposal as decided.
    pub async fn decide_policy_proposal(
        &self,
        id: &str,
        to: &str,
        actor: &str,
        comment: Option<&str>,
    ) -> Result<PolicyProposal> {
        if !matches!(to, "approved" | "rejected") {
            return Err(StorageError::Invalid(format!("status: {to:?}")));
        }
        let now = now_ms();
        let mut tx = self.begin().await?;
        let _ = lock_counter(&mut tx).await?;
        let row = sqlx::query(&format!("{PROPOSAL_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StorageError::NotFound)?;
        let mut p = proposal_row(&row)?;
        if p.status != "pending" {
            return Err(StorageError::Conflict(format!(
                "proposal {id} is {}, not pending",
                p.status
            )));
        }
        if to == "approved" && p.proposed_by == actor {
            return Err(StorageError::Conflict(
                "two-person rule: the proposer cannot decide their own proposal".into(),
            ));
        }
        let mut published = None;
        if to == "approved" {
            check_base(&mut tx, p.base_version).await?;
            let weakenings = p.diff.get("weakenings").cloned().unwrap_or(json!([]));
            let new = NewPolicy {
                name: &p.name,
                source: &p.source,
                base_version: p.base_version,
                reason: Some(&p.reason),
                diff: &p.diff,
                weakenings: &weakenings,
            };
            let extra = json!({"proposal": id, "proposed_by": p.proposed_by,
                               "approved_by": actor, "comment": comment});
            published = Some(insert_version(&mut tx, &new, actor, now, extra).await?);
        }
        sqlx::query(
            "UPDATE policy_proposals SET status = $1, decided_by = $2, decided_at = $3, \
             comment = $4, published_version = $5 WHERE id = $6",
        )
        .bind(to)
        .bind(actor)
        .bind(now)
        .bind(comment)
        .bind(published)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            now,
            actor,
            &format!("policy.proposal_{to}"),
            id,
            json!({
                "before": {"status": "pending"},
                "after": {"status": to, "published_version": published},
                "proposed_by": p.proposed_by,
                "reason": p.reason,
                "comment": comment,
            }),
        )
        .await?;
        tx.commit().await?;
        p.status = to.to_string();
        p.decided_by = Some(actor.to_string());
        p.decided_at = Some(now);
        p.comment = comment.map(str::to_string);
        p.published_version = published;
        p.source = String::new();
        Ok(p)
    }
}
