//! Vendor appeals on the record (issue 14 item 3): a review of one rule, opened with the
//! appellant, a summary, the date it was received and the SHA-256 of each submitted document,
//! then decided once (upheld, amended or reversed, with reasons; an amendment or reversal
//! names the published policy version that carries it out). Each step is one transaction with
//! its event, and the events alone rebuild the reviews open at any time (the point-in-time
//! compliance report reads them that way).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{append_event, canonical_json, new_id, now_ms, Result, StorageError, Store};

/// Longest appellant name, in bytes.
pub const MAX_APPELLANT: usize = 256;
/// Longest summary or reasons text, in bytes.
pub const MAX_REVIEW_TEXT: usize = 16 * 1024;
/// Most documents per review.
pub const MAX_DOCUMENTS: usize = 100;

/// A submitted document, by name and digest (the document itself stays outside interdict).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewDocument {
    /// File name or title.
    pub name: String,
    /// SHA-256 of its bytes, 64 lowercase hex digits.
    pub sha256: String,
}

/// What opens a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    /// Who appeals (e.g. "Kaspersky Lab").
    pub appellant: String,
    /// What they ask and why, in a few paragraphs.
    pub summary: String,
    /// The date the appeal was received, `YYYY-MM-DD`.
    pub received: String,
    /// Submitted documents.
    #[serde(default)]
    pub documents: Vec<ReviewDocument>,
}

impl NewReview {
    /// Checks every field; the error names the field and what to do.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(StorageError::Invalid(m));
        let text = |field: &str, v: &str, max: usize| -> Result<()> {
            if v.trim().is_empty() {
                return bad(format!("{field}: required"));
            }
            if v.len() > max {
                return bad(format!("{field}: {} bytes; at most {max}", v.len()));
            }
            if v.chars()
                .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
            {
                return bad(format!("{field}: control characters are not allowed"));
            }
            Ok(())
        };
        text("appellant", &self.appellant, MAX_APPELLANT)?;
        text("summary", &self.summary, MAX_REVIEW_TEXT)?;
        if !valid_date(&self.received) {
            return bad(format!(
                "received: {:?} is not a date (YYYY-MM-DD)",
                self.received.chars().take(40).collect::<String>()
            ));
        }
        if self.documents.len() > MAX_DOCUMENTS {
            return bad(format!(
                "documents: {} documents; at most {MAX_DOCUMENTS}",
                self.documents.len()
            ));
        }
        for (i, d) in self.documents.iter().enumerate() {
            text(&format!("documents[{i}].name"), &d.name, MAX_APPELLANT)?;
            if d.sha256.len() != 64
                || !d
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return bad(format!(
                    "documents[{i}].sha256: not a SHA-256 (64 lowercase hex digits)"
                ));
            }
        }
        Ok(())
    }
}

fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=12).contains(&s[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u32>().unwrap_or(0))
}

/// How a review ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewOutcome {
    /// The rule stands as it is.
    Upheld,
    /// The rule was changed (a published version carries it out).
    Amended,
    /// The rule was withdrawn (a published version carries it out).
    Reversed,
}

impl ReviewOutcome {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewOutcome::Upheld => "upheld",
            ReviewOutcome::Amended => "amended",
            ReviewOutcome::Reversed => "reversed",
        }
    }
}

/// A review and its decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleReview {
    /// Id (`rev_...`).
    pub id: String,
    /// The rule appealed against.
    pub rule: String,
    /// Who appeals.
    pub appellant: String,
    /// Their summary.
    pub summary: String,
    /// Received, `YYYY-MM-DD`.
    pub received: String,
    /// Submitted documents by digest.
    pub documents: Vec<ReviewDocument>,
    /// `open`, `upheld`, `amended` or `reversed`.
    pub status: String,
    /// The active policy version when it was opened.
    pub opened_version: Option<i64>,
    /// Account (or token) id of who recorded it.
    pub opened_by: String,
    /// Unix ms.
    pub opened_at: i64,
    /// Account (or token) id of the decider.
    pub decided_by: Option<String>,
    /// Unix ms.
    pub decided_at: Option<i64>,
    /// The decider's reasons.
    pub reasons: Option<String>,
    /// Amended / reversed: the published version that carries it out.
    pub policy_version: Option<i64>,
}

const COLUMNS: &str = "id, rule, appellant, summary, received, documents_json, status, \
    opened_version, opened_by, opened_at, decided_by, decided_at, reasons, policy_version";

fn review_row(r: &AnyRow) -> Result<RuleReview> {
    let docs: String = r.try_get("documents_json")?;
    Ok(RuleReview {
        id: r.try_get("id")?,
        rule: r.try_get("rule")?,
        appellant: r.try_get("appellant")?,
        summary: r.try_get("summary")?,
        received: r.try_get("received")?,
        documents: serde_json::from_str(&docs)
            .map_err(|e| StorageError::Corrupt(format!("rule_reviews.documents_json: {e}")))?,
        status: r.try_get("status")?,
        opened_version: r.try_get("opened_version")?,
        opened_by: r.try_get("opened_by")?,
        opened_at: r.try_get("opened_at")?,
        decided_by: r.try_get("decided_by")?,
        decided_at: r.try_get("decided_at")?,
        reasons: r.try_get("reasons")?,
        policy_version: r.try_get("policy_version")?,
    })
}

impl Store {
    /// Opens a review of `rule` (the caller checked that the rule exists).
    pub async fn open_review(
        &self,
        rule: &str,
        new: &NewReview,
        opened_version: Option<i64>,
        actor: &str,
    ) -> Result<RuleReview> {
        new.validate()?;
        let id = new_id("rev");
        let now = now_ms();
        let docs = canonical_json(&json!(new.documents));
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO rule_reviews (id, rule, appellant, summary, received, documents_json, \
             status, opened_version, opened_by, opened_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9)",
        )
        .bind(&id)
        .bind(rule)
        .bind(&new.appellant)
        .bind(&new.summary)
        .bind(&new.received)
        .bind(&docs)
        .bind(opened_version)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            now,
            actor,
            "rule_review.opened",
            &id,
            json!({"rule": rule, "appellant": new.appellant, "summary": new.summary,
                   "received": new.received, "documents": new.documents,
                   "opened_version": opened_version}),
        )
        .await?;
        tx.commit().await?;
        self.review(&id).await
    }

    /// One review.
    pub async fn review(&self, id: &str) -> Result<RuleReview> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM rule_reviews WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.write)
            .await?
            .ok_or(StorageError::NotFound)?;
        review_row(&row)
    }

    /// The reviews of `rule`, oldest first (its history).
    pub async fn reviews(&self, rule: &str) -> Result<Vec<RuleReview>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM rule_reviews WHERE rule = $1 ORDER BY opened_at, id"
        ))
        .bind(rule)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(review_row)
        .collect()
    }

    /// Decides an open review once; a second decision is a conflict. `policy_version` (required
    /// for amended and reversed, checked by the caller against the rule) links the version
    /// that carries the decision out.
    pub async fn decide_review(
        &self,
        id: &str,
        outcome: ReviewOutcome,
        reasons: &str,
        policy_version: Option<i64>,
        actor: &str,
    ) -> Result<RuleReview> {
        if reasons.trim().is_empty() {
            return Err(StorageError::Invalid("reasons: required".into()));
        }
        if reasons.len() > MAX_REVIEW_TEXT {
            return Err(StorageError::Invalid(format!(
                "reasons: {} bytes; at most {MAX_REVIEW_TEXT}",
                reasons.len()
            )));
        }
        let now = now_ms();
        let mut tx = self.begin().await?;
        let rule: String = sqlx::query("SELECT rule FROM rule_reviews WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StorageError::NotFound)?
            .try_get("rule")?;
        let n = sqlx::query(
            "UPDATE rule_reviews SET status = $1, decided_by = $2, decided_at = $3, \
             reasons = $4, policy_version = $5 WHERE id = $6 AND status = 'open'",
        )
        .bind(outcome.as_str())
        .bind(actor)
        .bind(now)
        .bind(reasons)
        .bind(policy_version)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StorageError::Conflict(
                "this review was already decided".into(),
            ));
        }
        append_event(
            &mut tx,
            now,
            actor,
            "rule_review.decided",
            id,
            json!({"rule": rule, "outcome": outcome.as_str(), "reasons": reasons,
                   "policy_version": policy_version}),
        )
        .await?;
        tx.commit().await?;
        self.review(id).await
    }

    /// The reviews open at `at_ms`, rebuilt from the events recorded up to then (opened, and
    /// not decided by then), oldest first: what the point-in-time report lists.
    pub async fn reviews_open_at(&self, at_ms: i64) -> Result<Vec<Value>> {
        let rows = sqlx::query(
            "SELECT at, actor, action, subject, body FROM events \
             WHERE action IN ('rule_review.opened', 'rule_review.decided') AND at <= $1 \
             ORDER BY seq",
        )
        .bind(at_ms)
        .fetch_all(&self.read)
        .await?;
        let mut open: Vec<(String, Value)> = Vec::new();
        for r in &rows {
            let action: String = r.try_get("action")?;
            let subject: String = r.try_get("subject")?;
            if action == "rule_review.decided" {
                open.retain(|(id, _)| *id != subject);
                continue;
            }
            let body: String = r.try_get("body")?;
            let mut v: Value =
                serde_json::from_str(&body).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            if let Value::Object(m) = &mut v {
                m.insert("id".into(), json!(subject));
                m.insert("opened_at".into(), json!(r.try_get::<i64, _>("at")?));
                m.insert("opened_by".into(), json!(r.try_get::<String, _>("actor")?));
            }
            open.push((subject, v));
        }
        Ok(open.into_iter().map(|(_, v)| v).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review() -> NewReview {
        NewReview {
            appellant: "Kaspersky Lab".into(),
            summary: "We ask the Government to reverse this decision.".into(),
            received: "2023-11-02".into(),
            documents: vec![ReviewDocument {
                name: "letter.pdf".into(),
                sha256: "a".repeat(64),
            }],
        }
    }

    #[test]
    fn validation_names_the_field() {
        assert!(review().validate().is_ok());
        let cases: Vec<(NewReview, &str)> = vec![
            (
                NewReview {
                    summary: "x".repeat(10 * 1024 * 1024),
                    ..review()
                },
                "summary:",
            ),
            (
                NewReview {
                    appellant: " ".into(),
                    ..review()
                },
                "appellant: required",
            ),
            (
                NewReview {
                    received: "2023-13-01".into(),
                    ..review()
                },
                "received:",
            ),
            (
                NewReview {
                    documents: vec![ReviewDocument {
                        name: "a".into(),
                        sha256: "XYZ".into(),
                    }],
                    ..review()
                },
                "documents[0].sha256",
            ),
            (
                NewReview {
                    documents: vec![ReviewDocument {
                        name: "a".into(),
                        sha256: "A".repeat(64),
                    }],
                    ..review()
                },
                "documents[0].sha256",
            ),
        ];
        for (r, want) in cases {
            let e = r.validate().expect_err(want).to_string();
            assert!(e.starts_with(want), "{e}");
        }
    }
}
