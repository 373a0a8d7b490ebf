//! Connectors to MDMs (issue 17, migration 0011): the devices a connector pulled, each
//! connector's last sync, and the notifications queue.
//!
//! An MDM device is a device row like an enrolled one (so findings, compliance and the read
//! models treat it alike), created by the connector, with a token nobody holds; it is mapped by
//! `(connector, external_id)` in `connector_devices`. The MDM is authoritative for its scope:
//! a pull that reports another ownership or other groups changes the row, with an event.

use serde::Serialize;
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::BTreeSet;

use crate::{
    append_event, canonical_json, groups_of, hash_secret, new_id, new_secret, DeviceAuth,
    NewDevice, Result, StorageError, Store,
};

/// One device as a connector pulled it.
#[derive(Debug, Clone)]
pub struct MdmDevice {
    /// The MDM's key (AMAPI: `enterprises/{e}/devices/{d}`).
    pub external_id: String,
    /// Display name, platform, serial, ownership and groups (the MDM's word).
    pub device: NewDevice,
    /// What else the MDM says (management mode, state, policy and its version).
    pub mdm: Value,
}

/// A connector's state as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorRow {
    /// Name.
    pub name: String,
    /// `amapi`, ...
    pub kind: String,
    /// `running`, `ok`, `partial` (items refused or pull incomplete) or `failed`.
    pub state: String,
    /// Unix ms.
    pub last_started_at: Option<i64>,
    /// Unix ms.
    pub last_finished_at: Option<i64>,
    /// Last sync that ended without a failure (items may have been refused), Unix ms.
    pub last_success_at: Option<i64>,
    /// Last sync whose pull read every page, Unix ms.
    pub last_complete_at: Option<i64>,
    /// The last failure, in words.
    pub last_error: Option<String>,
    /// The last sync's report.
    pub last_result: Value,
    /// Devices mapped to the connector.
    pub devices: i64,
    /// Of them, absent from the last complete pull.
    pub missing: i64,
}

impl Store {
    /// Creates or updates the device rows of one page of a connector's pull, in one
    /// transaction; returns each device as the check-in path needs it, except its stored apps
    /// (`apps_json` is empty: see [`Store::device_apps_json`]), `None` for a device that was
    /// revoked here (the MDM does not bring it back), and whether it is new.
    pub async fn connector_devices_upsert(
        &self,
        connector: &str,
        devices: &[MdmDevice],
        at: i64,
    ) -> Result<Vec<Option<(DeviceAuth, bool)>>> {
        let actor = format!("connector:{connector}");
        let mut out = Vec::with_capacity(devices.len());
        let mut tx = self.begin().await?;
        for d in devices {
            let groups: BTreeSet<&String> = d.device.groups.iter().collect();
            let groups_json = canonical_json(&json!(groups));
            let mdm_json = canonical_json(&d.mdm);
            let row = sqlx::query(
                "SELECT d.id, d.name, d.platform, d.ownership, d.groups_json, d.revoked_at, \
                 i.hash AS inventory_hash, d.compliant, d.findings_hash \
                 FROM connector_devices c JOIN devices d ON d.id = c.device_id \
                 LEFT JOIN device_inventories i ON i.device_id = d.id \
                 WHERE c.connector = $1 AND c.external_id = $2",
            )
            .bind(connector)
            .bind(&d.external_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = row {
                let id: String = row.try_get("id")?;
                let revoked: Option<i64> = row.try_get("revoked_at")?;
                sqlx::query(
                    "UPDATE connector_devices SET last_pulled_at = $1, missing_since = NULL, \
                     mdm_json = $2 WHERE connector = $3 AND external_id = $4",
                )
                .bind(at)
                .bind(&mdm_json)
                .bind(connector)
                .bind(&d.external_id)
                .execute(&mut *tx)
                .await?;
                if revoked.is_some() {
                    out.push(None);
                    continue;
                }
                let old_groups = groups_of(&row)?;
                let old_ownership: String = row.try_get("ownership")?;
                let old_name: String = row.try_get("name")?;
                let new_groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
                if old_groups != new_groups
                    || old_ownership != d.device.ownership
                    || old_name != d.device.name
                {
                    sqlx::query(
                        "UPDATE devices SET ownership = $1, groups_json = $2, name = $3 WHERE id = $4",
                    )
                    .bind(&d.device.ownership)
                    .bind(&groups_json)
                    .bind(&d.device.name)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                    append_event(
                        &mut tx,
                        at,
                        &actor,
                        "device.scope_changed",
                        &id,
                        json!({
                            "before": {"name": old_name, "ownership": old_ownership, "groups": old_groups},
                            "after": {"name": d.device.name, "ownership": d.device.ownership, "groups": new_groups},
                            "connector": connector,
                            "external_id": d.external_id,
                        }),
                    )
                    .await?;
                }
                out.push(Some((
                    DeviceAuth {
                        id,
                        platform: row.try_get("platform")?,
                        ownership: d.device.ownership.clone(),
                        groups: new_groups,
                        inventory_hash: row.try_get("inventory_hash")?,
                        // Not read here (a pull of an unchanged fleet needs only the hash):
                        // `device_apps_json` reads it for the devices whose inventory changed.
                        apps_json: String::new(),
                        compliant: row.try_get::<i64, _>("compliant")? != 0,
                        findings_hash: row.try_get("findings_hash")?,
                    },
                    false,
                )));
                continue;
            }
            let id = new_id("dev");
            // A token nobody holds: an MDM device checks in only through its connector.
            let token_hash = hash_secret(&new_secret());
            sqlx::query(
                "INSERT INTO devices (id, token_hash, name, platform, serial, ownership, groups_json, \
                 enrolled_at, compliant, overdue, in_grace, checkins, last_seq) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, 0, 0, 0, 0)",
            )
            .bind(&id)
            .bind(&token_hash)
            .bind(&d.device.name)
            .bind(&d.device.platform)
            .bind(&d.device.serial)
            .bind(&d.device.ownership)
            .bind(&groups_json)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO connector_devices (connector, external_id, device_id, first_pulled_at, \
                 last_pulled_at, missing_since, mdm_json) VALUES ($1, $2, $3, $4, $4, NULL, $5)",
            )
            .bind(connector)
            .bind(&d.external_id)
            .bind(&id)
            .bind(at)
            .bind(&mdm_json)
            .execute(&mut *tx)
            .await?;
            append_event(
                &mut tx,
                at,
                &actor,
                "device.enrolled",
                &id,
                json!({"after": d.device, "connector": connector, "external_id": d.external_id}),
            )
            .await?;
            out.push(Some((
                DeviceAuth {
                    id,
                    platform: d.device.platform.clone(),
                    ownership: d.device.ownership.clone(),
                    groups: groups.iter().map(|g| g.to_string()).collect(),
                    inventory_hash: None,
                    apps_json: "[]".into(),
                    compliant: true,
                    findings_hash: None,
                },
                true,
            )));
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The last stored inventory of a device (canonical JSON of its apps; `[]` when none).
    pub async fn device_apps_json(&self, device_id: &str) -> Result<String> {
        let row = sqlx::query("SELECT apps_json FROM device_inventories WHERE device_id = $1")
            .bind(device_id)
            .fetch_optional(&self.write)
            .await?;
        Ok(match row {
            Some(r) => r.try_get("apps_json")?,
            None => "[]".to_string(),
        })
    }

    /// Records that a connector's sync started.
    pub async fn connector_sync_started(&self, name: &str, kind: &str, at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO connectors (name, kind, state, last_started_at, last_result_json) \
             VALUES ($1, $2, 'running', $3, '{}') \
             ON CONFLICT (name) DO UPDATE SET kind = $2, state = 'running', last_started_at = $3",
        )
        .bind(name)
        .bind(kind)
        .bind(at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Records a sync's end and appends its `connector.synced` event (the audit trail of every
    /// sync, with its report); returns the event's sequence number.
    #[allow(clippy::too_many_arguments)]
    pub async fn connector_sync_finished(
        &self,
        name: &str,
        kind: &str,
        state: &str,
        error: Option<&str>,
        complete: bool,
        result: &Value,
        at: i64,
    ) -> Result<i64> {
        if !matches!(state, "ok" | "partial" | "failed") {
            return Err(StorageError::Check(format!("connector state {state:?}")));
        }
        let result_json = canonical_json(result);
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO connectors (name, kind, state, last_started_at, last_result_json) \
             VALUES ($1, $2, 'running', $3, '{}') ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(kind)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE connectors SET state = $1, last_finished_at = $2, last_error = $3, \
             last_result_json = $4, \
             last_success_at = CASE WHEN $1 = 'failed' THEN last_success_at ELSE $2 END, \
             last_complete_at = CASE WHEN $5 = 1 THEN $2 ELSE last_complete_at END \
             WHERE name = $6",
        )
        .bind(state)
        .bind(at)
        .bind(error)
        .bind(&result_json)
        .bind(i64::from(complete))
        .bind(name)
        .execute(&mut *tx)
        .await?;
        let seq = append_event(
            &mut tx,
            at,
            &format!("connector:{name}"),
            "connector.synced",
            name,
            json!({"kind": kind, "state": state, "error": error, "complete": complete, "result": result}),
        )
        .await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// After a complete pull that started at `started_at`: marks the connector's devices it did
    /// not report as missing (never deletes them); returns how many are missing now.
    pub async fn connector_mark_missing(&self, name: &str, started_at: i64) -> Result<i64> {
        sqlx::query(
            "UPDATE connector_devices SET missing_since = $1 \
             WHERE connector = $2 AND last_pulled_at < $1 AND missing_since IS NULL",
        )
        .bind(started_at)
        .bind(name)
        .execute(&self.write)
        .await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM connector_devices WHERE connector = $1 AND missing_since IS NOT NULL",
        )
        .bind(name)
        .fetch_one(&self.write)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Every connector's state.
    pub async fn connectors(&self) -> Result<Vec<ConnectorRow>> {
        let rows = sqlx::query(
            "SELECT c.name, c.kind, c.state, c.last_started_at, c.last_finished_at, \
             c.last_success_at, c.last_complete_at, c.last_error, c.last_result_json, \
             (SELECT COUNT(*) FROM connector_devices d WHERE d.connector = c.name) AS devices, \
             (SELECT COUNT(*) FROM connector_devices d WHERE d.connector = c.name \
              AND d.missing_since IS NOT NULL) AS missing \
             FROM connectors c ORDER BY c.name",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                let result: String = r.try_get("last_result_json")?;
                Ok(ConnectorRow {
                    name: r.try_get("name")?,
                    kind: r.try_get("kind")?,
                    state: r.try_get("state")?,
                    last_started_at: r.try_get("last_started_at")?,
                    last_finished_at: r.try_get("last_finished_at")?,
                    last_success_at: r.try_get("last_success_at")?,
                    last_complete_at: r.try_get("last_complete_at")?,
                    last_error: r.try_get("last_error")?,
                    last_result: serde_json::from_str(&result)
                        .map_err(|e| StorageError::Corrupt(e.to_string()))?,
                    devices: r.try_get("devices")?,
                    missing: r.try_get("missing")?,
                })
            })
            .collect()
    }
}
