//! Device credentials and inventories in memory, so an unchanged check-in costs no database
//! read. Entries expire after a TTL (so a revocation made by another server on the same
//! PostgreSQL database applies within it); a revocation made by this server applies at once.

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
        })
    }

    /// The same device with a new inventory and compliance.
    pub(crate) fn with(
        &self,
        hash: Option<String>,
        apps: Option<Vec<App>>,
        compliant: bool,
    ) -> Self {
        CachedDevice {
            id: self.id.clone(),
            inventory_hash: hash.or_else(|| self.inventory_hash.clone()),
            compliant,
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
    map: Mutex<HashMap<String, (Arc<CachedDevice>, Instant)>>,
}

const MAX_ENTRIES: usize = 2_000_000;

impl DeviceCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        DeviceCache {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, token_hash: &str) -> Option<Arc<CachedDevice>> {
        let map = self.map.lock().ok()?;
        let (d, at) = map.get(token_hash)?;
        (at.elapsed() < self.ttl).then(|| Arc::clone(d))
    }

    pub(crate) fn put(&self, token_hash: &str, d: Arc<CachedDevice>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(token_hash.to_string(), (d, Instant::now()));
        }
    }

    /// Replaces an entry after a committed check-in, keeping its age (the TTL bounds how long
    /// this server trusts a credential without reading it again).
    pub(crate) fn update(&self, token_hash: &str, d: Arc<CachedDevice>) {
        if let Ok(mut map) = self.map.lock() {
            if let Some(e) = map.get_mut(token_hash) {
                e.0 = d;
            }
        }
    }

    pub(crate) fn remove_device(&self, id: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, (d, _)| d.id != id);
        }
    }
}
