//! Keeps this server's in-memory state in step with the database by following the `events`
//! table: every state change appends an event in its own transaction, so the events are
//! the one change feed for every server sharing the database.
//!
//! Each `follow_interval`, the follower reads the events after the last one it saw and
//! * drops the cached credential and inventory of a device revoked, or whose inventory,
//!   compliance or findings a check-in on another server changed (it is read again on its next
//!   request; this server's own check-ins update the cache as they commit);
//! * recompiles the active policy when a policy version is published or an exception decided.
//!
//! So a revocation or a new policy made through another server applies here within one
//! interval, and device entries need no short expiry: the cache keeps them until told.

use std::time::Duration;

use crate::AppState;

/// Events read per query.
const PAGE: i64 = 1000;

/// What an event means for this server's memory.
#[derive(Debug, PartialEq, Eq)]
enum Effect<'a> {
    ForgetDevice(&'a str),
    ReloadPolicy,
    Nothing,
}

fn effect<'a>(action: &str, subject: &'a str) -> Effect<'a> {
    match action {
        "device.revoked"
        | "device.token_reissued"
        | "device.inventory_changed"
        | "device.compliance_changed"
        | "device.findings_changed"
        | "device.scope_changed" => Effect::ForgetDevice(subject),
        "policy.published" => Effect::ReloadPolicy,
        a if a.starts_with("exception.") && a != "exception.requested" => Effect::ReloadPolicy,
        _ => Effect::Nothing,
    }
}

/// Runs until the task is aborted.
pub(crate) async fn run(state: AppState, mut after: i64, interval: Duration) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        loop {
            let events = match state.store.events(after, PAGE).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, "following events failed; retrying");
                    break;
                }
            };
            let mut reload = false;
            for e in &events {
                match effect(&e.action, &e.subject) {
                    // This server's own check-ins updated its cache entry already.
                    Effect::ForgetDevice(_) if state.own_events.contains(e.seq, after) => {}
                    Effect::ForgetDevice(id) => state.devices.remove_device(id),
                    Effect::ReloadPolicy => reload = true,
                    Effect::Nothing => {}
                }
                after = after.max(e.seq);
            }
            if reload {
                if let Err(e) = state.reload_policy().await {
                    tracing::error!(error = %e, "reloading the policy failed");
                }
            }
            if (events.len() as i64) < PAGE {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_map_to_effects() {
        assert_eq!(effect("device.revoked", "d1"), Effect::ForgetDevice("d1"));
        assert_eq!(
            effect("device.findings_changed", "d2"),
            Effect::ForgetDevice("d2")
        );
        assert_eq!(effect("policy.published", "3"), Effect::ReloadPolicy);
        assert_eq!(effect("exception.approved", "e"), Effect::ReloadPolicy);
        assert_eq!(effect("exception.revoked", "e"), Effect::ReloadPolicy);
        assert_eq!(effect("exception.requested", "e"), Effect::Nothing);
        assert_eq!(effect("device.enrolled", "d"), Effect::Nothing);
    }
}
