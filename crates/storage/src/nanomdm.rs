//! Apple MDM through NanoMDM (issue 17, migration 0014): the commands a connector enqueued,
//! one row per (connector, CommandUUID, enrollment id), each answered once; and the webhook
//! bodies already taken, kept for the replay window.

use serde::Serialize;
use serde_json::{json, Value};
use sqlx::Row;

use crate::{append_event, ActionResult, Result, StorageError, Store};

/// One command sent to one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NanoCommand {
    /// Connector name.
    pub connector: String,
    /// `CommandUUID`.
    pub command_uuid: String,
    /// NanoMDM enrollment id.
    pub enrollment_id: String,
    /// `InstalledApplicationList` or `RemoveApplication`.
    pub request_type: String,
    /// The bundle id a `RemoveApplication` removes.
    pub app_id: Option<String>,
    /// interdict's device.
    pub device_id: Option<String>,
    /// The finding's action the command carries out.
    pub action_id: Option<String>,
    /// That action's kind (`uninstall`).
    pub action_kind: Option<String>,
    /// `queued`, `not_now`, `acknowledged` or `error`.
    pub status: String,
    /// The device's error, or what happened.
    pub detail: String,
    /// Unix ms.
    pub enqueued_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// Statuses after which a command takes no more answers.
pub const NANO_FINAL: [&str; 2] = ["acknowledged", "error"];

fn command_row(r: &sqlx::any::AnyRow) -> Result<NanoCommand> {
    Ok(NanoCommand {
        connector: r.try_get("connector")?,
        command_uuid: r.try_get("command_uuid")?,
        enrollment_id: r.try_get("enrollment_id")?,
        request_type: r.try_get("request_type")?,
        app_id: r.try_get("app_id")?,
        device_id: r.try_get("device_id")?,
        action_id: r.try_get("action_id")?,
        action_kind: r.try_get("action_kind")?,
        status: r.try_get("status")?,
        detail: r.try_get("detail")?,
        enqueued_at: r.try_get("enqueued_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// Records commands about to be enqueued (one transaction), before the request, so that
    /// an answer arriving at once finds its command. [`Store::nanomdm_commands_settle`] then
    /// records what NanoMDM said.
    pub async fn nanomdm_commands_record(&self, rows: &[NanoCommand]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for c in rows {
            sqlx::query(
                "INSERT INTO nanomdm_commands (connector, command_uuid, enrollment_id, request_type, \
                 app_id, device_id, action_id, action_kind, status, detail, enqueued_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
                 ON CONFLICT (connector, command_uuid, enrollment_id) DO NOTHING",
            )
            .bind(&c.connector)
            .bind(&c.command_uuid)
            .bind(&c.enrollment_id)
            .bind(&c.request_type)
            .bind(c.app_id.clone())
            .bind(c.device_id.clone())
            .bind(c.action_id.clone())
            .bind(c.action_kind.clone())
            .bind(&c.status)
            .bind(&c.detail)
            .bind(c.enqueued_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records NanoMDM's answer to one enqueue: the ids it did not queue become `error` with
    /// why (unless a device already answered), and a `connector.commands_enqueued` event lists
    /// the ids queued.
    #[allow(clippy::too_many_arguments)]
    pub async fn nanomdm_commands_settle(
        &self,
        connector: &str,
        command_uuid: &str,
        request_type: &str,
        app_id: Option<&str>,
        queued: &[String],
        failed: &[(String, String)],
        at: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        for (id, why) in failed {
            sqlx::query(
                "UPDATE nanomdm_commands SET status = 'error', detail = $1, updated_at = $2 \
                 WHERE connector = $3 AND command_uuid = $4 AND enrollment_id = $5 \
                 AND status = 'queued'",
            )
            .bind(why)
            .bind(at)
            .bind(connector)
            .bind(command_uuid)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        append_event(
            &mut tx,
            at,
            &format!("connector:{connector}"),
            "connector.commands_enqueued",
            connector,
            json!({
                "request_type": request_type,
                "command_uuid": command_uuid,
                "app_id": app_id,
                "queued": queued.len(),
                "enrollment_ids": queued.iter().take(1000).collect::<Vec<_>>(),
                "not_queued": failed.len(),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One command sent to one device.
    pub async fn nanomdm_command(
        &self,
        connector: &str,
        command_uuid: &str,
        enrollment_id: &str,
    ) -> Result<Option<NanoCommand>> {
        let row = sqlx::query(
            "SELECT * FROM nanomdm_commands WHERE connector = $1 AND command_uuid = $2 \
             AND enrollment_id = $3",
        )
        .bind(connector)
        .bind(command_uuid)
        .bind(enrollment_id)
        .fetch_optional(&self.write)
        .await?;
        row.as_ref().map(command_row).transpose()
    }

    /// Enrollment ids with an `InstalledApplicationList` still unanswered (`queued` or
    /// `not_now`) enqueued at or after `since`.
    pub async fn nanomdm_inventory_waiting(
        &self,
        connector: &str,
        since: i64,
    ) -> Result<std::collections::BTreeSet<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT enrollment_id FROM nanomdm_commands WHERE connector = $1 \
             AND request_type = 'InstalledApplicationList' AND status IN ('queued', 'not_now') \
             AND enqueued_at >= $2",
        )
        .bind(connector)
        .bind(since)
        .fetch_all(&self.write)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>(0)?))
            .collect()
    }

    /// The last `RemoveApplication` of `app_id` to a device, if any.
    pub async fn nanomdm_last_removal(
        &self,
        connector: &str,
        enrollment_id: &str,
        app_id: &str,
    ) -> Result<Option<NanoCommand>> {
        let row = sqlx::query(
            "SELECT * FROM nanomdm_commands WHERE connector = $1 AND enrollment_id = $2 \
             AND request_type = 'RemoveApplication' AND app_id = $3 \
             ORDER BY enqueued_at DESC LIMIT 1",
        )
        .bind(connector)
        .bind(enrollment_id)
        .bind(app_id)
        .fetch_optional(&self.write)
        .await?;
        row.as_ref().map(command_row).transpose()
    }

    /// Records a device's answer to a command, with the action result it makes (if any) in
    /// the same transaction. Returns `false`, writing nothing, when the command had already
    /// taken a final answer (`acknowledged` or `error`): a replay.
    pub async fn nanomdm_command_answered(
        &self,
        c: &NanoCommand,
        status: &str,
        detail: &str,
        at: i64,
        result: Option<&ActionResult>,
    ) -> Result<bool> {
        if !matches!(status, "queued" | "not_now" | "acknowledged" | "error") {
            return Err(StorageError::Check(format!("command status {status:?}")));
        }
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE nanomdm_commands SET status = $1, detail = $2, updated_at = $3 \
             WHERE connector = $4 AND command_uuid = $5 AND enrollment_id = $6 \
             AND status NOT IN ('acknowledged', 'error')",
        )
        .bind(status)
        .bind(detail)
        .bind(at)
        .bind(&c.connector)
        .bind(&c.command_uuid)
        .bind(&c.enrollment_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        if let (Some(r), Some(device)) = (result, c.device_id.as_deref()) {
            crate::findings::store_action_results(&mut tx, device, at, std::slice::from_ref(r))
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Takes a webhook body's SHA-256 once: `false` when it was already taken (a replay).
    /// Bodies taken before `forget_before` are forgotten first (the replay window: older
    /// webhooks are refused by their `created_at`), so the table stays bounded.
    pub async fn nanomdm_webhook_take(
        &self,
        connector: &str,
        body_sha256: &str,
        at: i64,
        forget_before: i64,
    ) -> Result<bool> {
        sqlx::query("DELETE FROM nanomdm_webhooks_seen WHERE connector = $1 AND received_at < $2")
            .bind(connector)
            .bind(forget_before)
            .execute(&self.write)
            .await?;
        let n = sqlx::query(
            "INSERT INTO nanomdm_webhooks_seen (connector, body_sha256, received_at) \
             VALUES ($1, $2, $3) ON CONFLICT (connector, body_sha256) DO NOTHING",
        )
        .bind(connector)
        .bind(body_sha256)
        .bind(at)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Appends a `connector.webhook_refused` event (bad signature, replay, stale or
    /// malformed); returns its sequence number.
    pub async fn connector_webhook_refused(
        &self,
        connector: &str,
        reason: &str,
        detail: Value,
        at: i64,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let seq = append_event(
            &mut tx,
            at,
            &format!("connector:{connector}"),
            "connector.webhook_refused",
            connector,
            json!({"reason": reason, "detail": detail}),
        )
        .await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// The devices a connector maps: `(external_id, device_id)`, revoked ones left out.
    pub async fn connector_device_ids(&self, connector: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT c.external_id, c.device_id FROM connector_devices c \
             JOIN devices d ON d.id = c.device_id \
             WHERE c.connector = $1 AND d.revoked_at IS NULL ORDER BY c.external_id",
        )
        .bind(connector)
        .fetch_all(&self.write)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}
