//! Reads that bound what a device may write (issue 12, item 6): action results are accepted
//! only for actions the server issued to the device, once per action and status.

use sqlx::Row;

use crate::{Result, Store};

impl Store {
    /// The rules of every finding (open or resolved) of `device_id` for `app_id`: an action the
    /// server issued for that app names one of them.
    pub async fn finding_rules(&self, device_id: &str, app_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT rule FROM findings WHERE device_id = $1 AND app_id = $2 LIMIT 1000",
        )
        .bind(device_id)
        .bind(app_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("rule").map_err(Into::into))
            .collect()
    }

    /// Whether the device already reported `status` for `action_id`.
    pub async fn has_action_result(
        &self,
        device_id: &str,
        action_id: &str,
        status: &str,
    ) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM action_results WHERE device_id = $1 AND action_id = $2 \
             AND status = $3 LIMIT 1",
        )
        .bind(device_id)
        .bind(action_id)
        .bind(status)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.is_some())
    }
}
