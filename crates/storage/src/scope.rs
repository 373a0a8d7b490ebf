//! Trusted scope (issue 14 item 4): the groups and ownership a device is evaluated with come
//! from what its enrollment secret grants, an admin, or an MDM import, never from the device's
//! own word alone; its claim at enrollment is kept apart (`devices.claimed_json`), and where
//! the assignment came from is `devices.scope_source`.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use sqlx::Row;

use crate::{append_event, canonical_json, groups_of, now_ms, EnrollSecret, NewDevice, Result};
use crate::{StorageError, Store};

/// A device's scope as assigned at enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    /// Groups, sorted and without duplicates.
    pub groups: Vec<String>,
    /// Ownership.
    pub ownership: String,
    /// `enrollment-secret` or `claimed`.
    pub source: &'static str,
    /// The device's claim (`{"groups", "ownership"}`, canonical JSON).
    pub claimed_json: String,
}

impl Assigned {
    /// The `assigned` part of the `device.enrolled` event.
    pub(crate) fn event(&self) -> Value {
        json!({"groups": self.groups, "ownership": self.ownership, "source": self.source})
    }
}

impl EnrollSecret {
    /// The scope a device enrolling with this secret gets, or why it is refused: it may claim
    /// no group and no ownership beyond what the secret grants (claiming fewer groups, or
    /// `unknown` ownership, is fine: it gets the grant).
    pub fn assign(&self, dev: &NewDevice) -> std::result::Result<Assigned, String> {
        let claimed: BTreeSet<&String> = dev.groups.iter().collect();
        let claimed_json = canonical_json(&json!({"groups": claimed, "ownership": dev.ownership}));
        let extra: Vec<&&String> = claimed
            .iter()
            .filter(|g| !self.groups.contains(g))
            .collect();
        if !self.groups.is_empty() && !extra.is_empty() {
            return Err(format!(
                "device.groups: this enrollment secret grants {:?}; the device claimed {:?} as well (ask an admin for a secret that grants it)",
                self.groups, extra
            ));
        }
        if let Some(o) = &self.ownership {
            if dev.ownership != *o && dev.ownership != "unknown" {
                return Err(format!(
                    "device.ownership: this enrollment secret grants ownership {o:?}; the device claimed {:?}",
                    dev.ownership
                ));
            }
        }
        let granted = !self.groups.is_empty() || self.ownership.is_some();
        let groups: Vec<String> = if self.groups.is_empty() {
            claimed.into_iter().cloned().collect()
        } else {
            let g: BTreeSet<&String> = self.groups.iter().collect();
            g.into_iter().cloned().collect()
        };
        Ok(Assigned {
            groups,
            ownership: self
                .ownership
                .clone()
                .unwrap_or_else(|| dev.ownership.clone()),
            source: if granted {
                "enrollment-secret"
            } else {
                "claimed"
            },
            claimed_json,
        })
    }
}

/// A change of a device's scope by an admin (`PATCH /api/v1/devices/{id}`) or an import.
#[derive(Debug, Clone, Default)]
pub struct ScopeChange {
    /// New groups (replacing the old ones), if they change.
    pub groups: Option<Vec<String>>,
    /// New ownership, if it changes.
    pub ownership: Option<String>,
    /// Why (recorded in the event).
    pub reason: Option<String>,
    /// `admin` or `import`.
    pub source: &'static str,
}

impl Store {
    /// What the device claimed at enrollment, when recorded.
    pub(crate) async fn device_claim(&self, id: &str) -> Result<Option<Value>> {
        let row = sqlx::query("SELECT claimed_json FROM devices WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let text: Option<String> = row.try_get("claimed_json")?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| StorageError::Corrupt(e.to_string())))
            .transpose()
    }

    /// Groups that exist outside any one device: those granted by live enrollment secrets and
    /// those assigned to active devices.
    pub async fn known_groups(&self) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        for sql in [
            "SELECT groups_json FROM enroll_secrets WHERE revoked_at IS NULL",
            "SELECT DISTINCT groups_json FROM devices WHERE revoked_at IS NULL",
        ] {
            for r in sqlx::query(sql).fetch_all(&self.read).await? {
                out.extend(groups_of(&r)?);
            }
        }
        Ok(out)
    }

    /// Sets a device's groups and/or ownership, as an event with before, after and reason.
    /// Returns `(before, after)` as `{"groups", "ownership", "source"}`.
    pub async fn set_device_scope(
        &self,
        id: &str,
        change: &ScopeChange,
        actor: &str,
    ) -> Result<(Value, Value)> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT groups_json, ownership, scope_source FROM devices \
             WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StorageError::NotFound)?;
        let groups = groups_of(&row)?;
        let ownership: String = row.try_get("ownership")?;
        let source: String = row.try_get("scope_source")?;
        let before = json!({"groups": groups, "ownership": ownership, "source": source});
        let new_groups: Vec<String> = match &change.groups {
            Some(g) => {
                let set: BTreeSet<&String> = g.iter().collect();
                set.into_iter().cloned().collect()
            }
            None => groups,
        };
        let new_ownership = change.ownership.clone().unwrap_or(ownership);
        let after =
            json!({"groups": new_groups, "ownership": new_ownership, "source": change.source});
        sqlx::query(
            "UPDATE devices SET groups_json = $1, ownership = $2, scope_source = $3 WHERE id = $4",
        )
        .bind(canonical_json(&json!(new_groups)))
        .bind(&new_ownership)
        .bind(change.source)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            now,
            actor,
            "device.scope_changed",
            id,
            json!({"before": before, "after": after, "reason": change.reason}),
        )
        .await?;
        tx.commit().await?;
        Ok((before, after))
    }
}
