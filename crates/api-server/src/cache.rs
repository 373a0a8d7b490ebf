//! Device credentials and inventories in memory, so an unchanged check-in costs no database
//! read. A device is forgotten when the event follower (`follow.rs`) sees it revoked or
//! changed, by this server or another one on the same database; entries also expire after a
//! TTL, as a bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app_policy::{App, Device, DeviceInventory};
use storage::DeviceAuth;

use crate::ApiError;

/// A device as the check-in path needs it, ready for evaluation.
#[derive(Debug)]
pub(crate) struct CachedDevice {
    pub(crate) id: String,
    pub(crate) inventory_hash: Option<String>,
    pub(crate) compliant: bool,
    /// Fingerprint of the stored open findings.
    pub(crate) findings_hash: Option<String>,
    /// The stored inventory (device identity plus apps), ready for `evaluate`.
    pub(crate) inventory: DeviceInventory,
}

impl CachedDevice {
    pub(crate) fn from_auth(a: DeviceAuth) -> Result<Self, ApiError> {
        let platform = serde_json::from_value(serde_json::json!(a.platform))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let ownership = serde_json::from_value(serde_json::json!(a.ownership)).unwrap_or_default();
        let apps: Vec<App> =
            serde_json::from_str(&a.apps_json).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(CachedDevice {
            inventory: DeviceInventory {
                device: Device {
                    id: a.id.clone(),
                    platform,
                    groups: a.groups,
                    ownership,
                },
                apps,
            },
            id: a.id,
            inventory_hash: a.inventory_hash,
            compliant: a.compliant,
            findings_hash: a.findings_hash,
        })
    }

    /// The same device with a new inventory and compliance.
    pub(crate) fn with(
        &self,
        hash: Option<String>,
        apps: Option<Vec<App>>,
        compliant: bool,
        findings_hash: Option<String>,
    ) -> Self {
        CachedDevice {
            id: self.id.clone(),
            inventory_hash: hash.or_else(|| self.inventory_hash.clone()),
            compliant,
            findings_hash: findings_hash.or_else(|| self.findings_hash.clone()),
            inventory: DeviceInventory {
                device: self.inventory.device.clone(),
                apps: apps.unwrap_or_else(|| self.inventory.apps.clone()),
            },
        }
    }
}

/// The request extension the authorization layer hands to device handlers.
#[derive(Debug, Clone)]
pub(crate) struct DeviceCtx {
    pub(crate) token_hash: String,
    pub(crate) device: Arc<CachedDevice>,
}

pub(crate) struct DeviceCache {
    ttl: Duration,
    map: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_token: HashMap<String, (Arc<CachedDevice>, Instant)>,
    /// Device id to token hash, so a device is forgotten without a scan.
    by_id: HashMap<String, String>,
}

const MAX_ENTRIES: usize = 2_000_000;

impl DeviceCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        DeviceCache {
            ttl,
            map: Mutex::new(Entries::default()),
        }
    }

    pub(crate) fn get(&self, token_hash: &str) -> Option<Arc<CachedDevice>> {
        let map = self.map.lock().ok()?;
        let (d, at) = map.by_token.get(token_hash)?;
        (at.elapsed() < self.ttl).then(|| Arc::clone(d))
    }

    pub(crate) fn put(&self, token_hash: &str, d: Arc<CachedDevice>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut map) = self.map.lock() {
            if map.by_token.len() >= MAX_ENTRIES {
                map.by_token.clear();
                map.by_id.clear();
            }
            map.by_id.insert(d.id.clone(), token_hash.to_string());
            map.by_token
                .insert(token_hash.to_string(), (d, Instant::now()));
        }
    }

    /// Replaces an entry after a committed check-in, keeping its age (the TTL bounds how long
    /// this server trusts a credential without reading it again).
    pub(crate) fn update(&self, token_hash: &str, d: Arc<CachedDevice>) {
        if let Ok(mut map) = self.map.lock() {
            if let Some(e) = map.by_token.get_mut(token_hash) {
                e.0 = d;
            }
        }
    }

    /// Forgets a device: its next request reads it from the database again.
    pub(crate) fn remove_device(&self, id: &str) {
        if let Ok(mut map) = self.map.lock() {
            if let Some(token_hash) = map.by_id.remove(id) {
                map.by_token.remove(&token_hash);
            }
        }
    }
}
