//! Reads a connector needs besides the pull's upsert (issue 17, Intune): the interdict device
//! a connector's external id maps to, so that a device whose MDM reports no apps (Intune's fully
//! managed Android) keeps its stored inventory instead of an empty one.

use sqlx::Row;

use crate::{Result, Store};

impl Store {
    /// The device id mapped to `(connector, external_id)`, when the connector pulled it before.
    pub async fn connector_device_id(
        &self,
        connector: &str,
        external_id: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT device_id FROM connector_devices WHERE connector = $1 AND external_id = $2",
        )
        .bind(connector)
        .bind(external_id)
        .fetch_optional(&self.write)
        .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("device_id")?),
            None => None,
        })
    }
}
