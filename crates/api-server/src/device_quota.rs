//! Per-device hourly quotas (issue 12, item 6): what one enrolled device may make the server
//! store in an hour, so that a stolen or hostile device token cannot fill the database or the
//! audit ledger.
//!
//! Each device has a window per clock hour (UTC) counting three things:
//! - **inventories**: check-ins that carry a changed inventory (each one stores the whole list
//!   of apps, and its installs and removals);
//! - **results**: action results accepted (only results of actions issued to the device, once
//!   per action and status, reach this count);
//! - **events**: events the check-in writes (one `device.findings_changed` when its findings
//!   change, one `device.action_result` per new result).
//!
//! A check-in that would go past one of them is refused whole with 429, `Retry-After` until
//! the next hour, and an error naming the quota; nothing of it is stored, so the device sends
//! it again later (the agent keeps unacknowledged results). Check-ins that change nothing
//! (an unchanged `inventory_hash`) cost nothing and are always answered, so a device over its
//! quota still receives its actions.
//!
//! The counts are kept in memory by each server process: with several servers behind a load
//! balancer a device may get up to that many times the quota. They are bounded (one small
//! entry per device that wrote this hour; the map is cleared past a million devices).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::ApiError;

/// The limits, per device and per clock hour. Zero turns a limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceQuotaLimits {
    /// Check-ins with a changed inventory.
    pub inventories_per_hour: u32,
    /// Action results accepted.
    pub results_per_hour: u32,
    /// Events written for the device's check-ins.
    pub events_per_hour: u32,
}

impl Default for DeviceQuotaLimits {
    fn default() -> Self {
        // An agent checks in every few minutes and its inventory changes a few times a day;
        // a fleet-wide removal gives each device a handful of results. These leave two orders
        // of magnitude of headroom over that and still cap a hostile device at about
        // 120 × 5,000 apps an hour.
        DeviceQuotaLimits {
            inventories_per_hour: 120,
            results_per_hour: 1_000,
            events_per_hour: 1_200,
        }
    }
}

/// What one check-in would add.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Charge {
    pub(crate) inventories: u32,
    pub(crate) results: u32,
    pub(crate) events: u32,
}

impl Charge {
    fn is_free(self) -> bool {
        self.inventories == 0 && self.results == 0 && self.events == 0
    }
}

#[derive(Clone, Copy, Default)]
struct Window {
    hour: u64,
    used: [u32; 3],
}

/// The per-process counters.
pub(crate) struct DeviceQuotas {
    limits: DeviceQuotaLimits,
    windows: Mutex<HashMap<String, Window>>,
}

/// Devices tracked at most before the map is cleared (a few tens of MB).
const MAX_TRACKED: usize = 1_000_000;

impl DeviceQuotas {
    pub(crate) fn new(limits: DeviceQuotaLimits) -> Self {
        DeviceQuotas {
            limits,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `charge` from `device`'s window for the hour of `now_ms`, or refuses it whole.
    pub(crate) fn charge(&self, device: &str, charge: Charge, now_ms: i64) -> Result<(), ApiError> {
        if charge.is_free() {
            return Ok(());
        }
        let now_s = u64::try_from(now_ms.max(0)).unwrap_or(0) / 1000;
        let hour = now_s / 3600;
        let mut map = self
            .windows
            .lock()
            .map_err(|_| ApiError::Internal("device quotas poisoned".into()))?;
        if map.len() >= MAX_TRACKED && !map.contains_key(device) {
            // Entries of earlier hours are worthless; if they are all current, start over
            // rather than grow (the quota is a bound on damage, not an account).
            map.retain(|_, w| w.hour == hour);
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let w = map.entry(device.to_string()).or_default();
        if w.hour != hour {
            *w = Window { hour, used: [0; 3] };
        }
        let asks = [charge.inventories, charge.results, charge.events];
        let limits = [
            (self.limits.inventories_per_hour, "changed inventories"),
            (self.limits.results_per_hour, "action results"),
            (self.limits.events_per_hour, "events"),
        ];
        for (i, (limit, what)) in limits.iter().enumerate() {
            if *limit > 0 && u64::from(w.used[i]) + u64::from(asks[i]) > u64::from(*limit) {
                let retry = ((hour + 1) * 3600).saturating_sub(now_s).max(1);
                tracing::warn!(
                    device,
                    quota = what,
                    limit,
                    "device quota exceeded; check-in refused"
                );
                return Err(ApiError::QuotaExceeded(
                    retry,
                    format!(
                        "this device's {what} this hour would exceed {limit} (the server's \
                         per-device quota); nothing of this check-in was stored: send it again \
                         after the Retry-After delay"
                    ),
                ));
            }
        }
        for (u, a) in w.used.iter_mut().zip(asks) {
            *u = u.saturating_add(a);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    fn q(inv: u32, res: u32, ev: u32) -> DeviceQuotas {
        DeviceQuotas::new(DeviceQuotaLimits {
            inventories_per_hour: inv,
            results_per_hour: res,
            events_per_hour: ev,
        })
    }

    fn inv() -> Charge {
        Charge {
            inventories: 1,
            results: 0,
            events: 1,
        }
    }

    #[test]
    fn refuses_past_the_limit_until_the_next_hour() {
        let q = q(2, 0, 0);
        let t = 10 * HOUR_MS + 1_000;
        assert!(q.charge("a", inv(), t).is_ok());
        assert!(q.charge("a", inv(), t).is_ok());
        match q.charge("a", inv(), t) {
            Err(ApiError::QuotaExceeded(retry, m)) => {
                assert_eq!(retry, 3599);
                assert!(m.contains("changed inventories"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        // Another device has its own window; the next hour starts afresh.
        assert!(q.charge("b", inv(), t).is_ok());
        assert!(q.charge("a", inv(), 11 * HOUR_MS).is_ok());
    }

    #[test]
    fn a_refused_charge_takes_nothing_and_free_ones_always_pass() {
        let q = q(0, 3, 0);
        let t = HOUR_MS;
        let results = |n| Charge {
            inventories: 0,
            results: n,
            events: n,
        };
        assert!(q.charge("a", results(2), t).is_ok());
        assert!(q.charge("a", results(2), t).is_err());
        assert!(q.charge("a", results(1), t).is_ok());
        assert!(q.charge("a", Charge::default(), t).is_ok());
        assert!(q.charge("a", results(1), t).is_err());
    }

    #[test]
    fn zero_is_unlimited_and_huge_charges_do_not_overflow() {
        let q = q(0, 0, 5);
        let big = Charge {
            inventories: u32::MAX,
            results: u32::MAX,
            events: 0,
        };
        assert!(q.charge("a", big, 0).is_ok());
        assert!(q.charge("a", big, 0).is_ok());
        let ev = Charge {
            inventories: 0,
            results: 0,
            events: u32::MAX,
        };
        assert!(q.charge("a", ev, 0).is_err());
    }
}
