//! The notifications queue (issue 17, migration 0011): what to tell whom, queued once per
//! `dedup_key`, sent by the server's notifier, retried with backoff, and then either sent or
//! failed (each with its event), never dropped.

use serde::Serialize;
use serde_json::{json, Value};
use sqlx::Row;

use crate::{append_event, canonical_json, new_id, Result, StorageError, Store};

/// A notification to queue.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// Queued once per key (e.g. `removal:{device}:{rule}:{app}:{deadline}:{channel}:{to}`).
    pub dedup_key: String,
    /// `email` or `webhook`.
    pub channel: String,
    /// Address, or webhook name.
    pub recipient: String,
    /// `removal_required`, ...
    pub kind: String,
    /// The event and language (`connectors::notify` shape).
    pub payload: Value,
}

/// A queued notification.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedNotification {
    /// Id (`ntf_…`).
    pub id: String,
    /// `email` or `webhook`.
    pub channel: String,
    /// Address, or webhook name.
    pub recipient: String,
    /// Kind.
    pub kind: String,
    /// Payload.
    pub payload: Value,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub sent_at: Option<i64>,
}

/// An open finding that asks the device's owner to act, with what the notice needs.
#[derive(Debug, Clone)]
pub struct RemovalNotice {
    /// Device id.
    pub device_id: String,
    /// Device name.
    pub device_name: String,
    /// Rule.
    pub rule: String,
    /// App id.
    pub app_id: String,
    /// `YYYY-MM-DD`.
    pub deadline: String,
    /// What the device's connector knows about it (`owner_email`, `owner_lang`).
    pub mdm: Value,
}

/// An exception with the people to tell.
#[derive(Debug, Clone)]
pub struct ExceptionNotice {
    /// Exception id.
    pub id: String,
    /// Device id.
    pub device_id: String,
    /// Device name.
    pub device_name: String,
    /// Rule.
    pub rule: String,
    /// Justification.
    pub justification: String,
    /// `YYYY-MM-DD`.
    pub expires: String,
    /// `requested`, `approved`, `denied`, `revoked`.
    pub status: String,
    /// The requester's e-mail, when the requester is an account with one.
    pub requester_email: Option<String>,
    /// The requester's name.
    pub requester_name: String,
    /// The device owner's e-mail and language, from its connector.
    pub mdm: Value,
}

const QUEUED_COLUMNS: &str =
    "SELECT id, channel, recipient, kind, payload_json, status, attempts, \
     last_error, created_at, sent_at FROM notifications";

fn queued(r: &sqlx::any::AnyRow) -> Result<QueuedNotification> {
    let payload: String = r.try_get("payload_json")?;
    Ok(QueuedNotification {
        id: r.try_get("id")?,
        channel: r.try_get("channel")?,
        recipient: r.try_get("recipient")?,
        kind: r.try_get("kind")?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        sent_at: r.try_get("sent_at")?,
    })
}

fn mdm_of(r: &sqlx::any::AnyRow) -> Result<Value> {
    let s: Option<String> = r.try_get("mdm_json")?;
    Ok(s.and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null))
}

impl Store {
    /// Queues notifications not queued before (by `dedup_key`); returns how many are new.
    pub async fn notifications_enqueue(&self, list: &[NewNotification], at: i64) -> Result<u64> {
        let mut n = 0;
        let mut tx = self.begin().await?;
        for x in list {
            n += sqlx::query(
                "INSERT INTO notifications (id, dedup_key, channel, recipient, kind, payload_json, \
                 status, attempts, next_attempt_at, last_error, created_at, sent_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, NULL, $7, NULL) \
                 ON CONFLICT (dedup_key) DO NOTHING",
            )
            .bind(new_id("ntf"))
            .bind(&x.dedup_key)
            .bind(&x.channel)
            .bind(&x.recipient)
            .bind(&x.kind)
            .bind(canonical_json(&x.payload))
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Pending notifications due at `now`, oldest first.
    pub async fn notifications_due(&self, now: i64, limit: i64) -> Result<Vec<QueuedNotification>> {
        let rows = sqlx::query(&format!(
            "{QUEUED_COLUMNS} WHERE status = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.write)
        .await?;
        rows.iter().map(queued).collect()
    }

    /// Notifications, newest first (`status` filter optional).
    pub async fn notifications(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<QueuedNotification>> {
        let rows = sqlx::query(&format!(
            "{QUEUED_COLUMNS} WHERE ($1 = '' OR status = $1) ORDER BY created_at DESC, id LIMIT $2"
        ))
        .bind(status.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(queued).collect()
    }

    /// Records an attempt: delivered (`error` None: status `sent`, event `notification.sent`),
    /// failed with a retry at `retry_at`, or failed for good (`retry_at` None: status `failed`,
    /// event `notification.failed`).
    pub async fn notification_attempted(
        &self,
        id: &str,
        error: Option<&str>,
        retry_at: Option<i64>,
        at: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!("{QUEUED_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StorageError::NotFound)?;
        let n = queued(&row)?;
        let attempts = n.attempts + 1;
        let (status, next) = match (error, retry_at) {
            (None, _) => ("sent", at),
            (Some(_), Some(t)) => ("pending", t),
            (Some(_), None) => ("failed", at),
        };
        sqlx::query(
            "UPDATE notifications SET status = $1, attempts = $2, next_attempt_at = $3, \
             last_error = $4, sent_at = CASE WHEN $1 = 'sent' THEN $5 ELSE sent_at END WHERE id = $6",
        )
        .bind(status)
        .bind(attempts)
        .bind(next)
        .bind(error)
        .bind(at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if status != "pending" {
            append_event(
                &mut tx,
                at,
                "notifier",
                if status == "sent" {
                    "notification.sent"
                } else {
                    "notification.failed"
                },
                id,
                json!({"channel": n.channel, "recipient": n.recipient, "kind": n.kind,
                       "attempts": attempts, "error": error, "payload": n.payload}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Open findings that ask the owner to act (`violation` or `in_grace` with a remedy) on
    /// devices a connector pulled.
    pub async fn removal_notices(&self) -> Result<Vec<RemovalNotice>> {
        let rows = sqlx::query(
            "SELECT f.device_id, d.name, f.rule, f.app_id, f.deadline, c.mdm_json \
             FROM findings f JOIN devices d ON d.id = f.device_id \
             JOIN connector_devices c ON c.device_id = f.device_id \
             WHERE f.resolved_at IS NULL AND f.status IN ('violation', 'in_grace') \
             AND f.remedy IS NOT NULL AND f.deadline IS NOT NULL AND d.revoked_at IS NULL \
             ORDER BY f.device_id, f.rule, f.app_id",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RemovalNotice {
                    device_id: r.try_get("device_id")?,
                    device_name: r.try_get("name")?,
                    rule: r.try_get("rule")?,
                    app_id: r.try_get("app_id")?,
                    deadline: r.try_get("deadline")?,
                    mdm: mdm_of(r)?,
                })
            })
            .collect()
    }

    /// Exceptions requested, decided, or approved and not yet ended, with their people.
    pub async fn exception_notices(&self) -> Result<Vec<ExceptionNotice>> {
        let rows = sqlx::query(
            "SELECT e.id, e.device_id, d.name AS device_name, e.rule, e.justification, e.expires, \
             e.status, u.email, COALESCE(u.display_name, e.requested_by) AS requester_name, c.mdm_json \
             FROM exceptions e JOIN devices d ON d.id = e.device_id \
             LEFT JOIN users u ON u.id = e.requested_by \
             LEFT JOIN connector_devices c ON c.device_id = e.device_id \
             WHERE e.status IN ('requested', 'approved', 'denied') ORDER BY e.id",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ExceptionNotice {
                    id: r.try_get("id")?,
                    device_id: r.try_get("device_id")?,
                    device_name: r.try_get("device_name")?,
                    rule: r.try_get("rule")?,
                    justification: r.try_get("justification")?,
                    expires: r.try_get("expires")?,
                    status: r.try_get("status")?,
                    requester_email: r.try_get("email")?,
                    requester_name: r.try_get("requester_name")?,
                    mdm: mdm_of(r)?,
                })
            })
            .collect()
    }

    /// E-mail addresses of active approvers and admins.
    pub async fn approver_emails(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT email FROM users WHERE status = 'active' AND role IN ('approver', 'admin') \
             AND email IS NOT NULL ORDER BY email",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("email")?)).collect()
    }
}
