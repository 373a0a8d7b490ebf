//! Intune syncs (issue 17): Graph's `managedDevices` and their `detectedApps` through the same
//! page ingestion as AMAPI (`mdm_sync::ingest_page`: scope from the MDM, inventories evaluated as
//! check-ins), then the push of the active policy's Intune export: iOS `restrictedApps`
//! compliance policies split by 100, Android Enterprise `uninstall` assignments.
//!
//! Intune's own limits are in every report: discovered apps refresh every 7 days from enrolment,
//! and fully managed or dedicated Android devices report none, so their stored inventory is kept
//! (never replaced by an empty list) and each is named in a warning.

use std::collections::BTreeSet;

use app_policy::model::Platform;
use app_policy::{App, Export, ExportOptions, Target};
use connectors::amapi::PulledDevice;
use connectors::intune::{self, IntuneClient, IntuneConfig, IntuneDevice, PushOutcome};
use connectors::PushMode;
use serde::Serialize;
use serde_json::Value;
use storage::Store;

use crate::checkin::{today, ActivePolicy};
use crate::mdm_sync::{ingest_page, SyncReport};
use crate::ApiError;

/// Most per-device warnings kept in a report (the count is always whole).
const MAX_DEVICE_WARNINGS: usize = 20;

/// An Intune push as reported.
#[derive(Debug, Clone, Serialize)]
pub struct IntunePushReport {
    /// The outcome.
    #[serde(flatten)]
    pub outcome: PushOutcome,
    /// The diff, one line per change.
    pub diff: String,
    /// `dry_run` or `apply`.
    pub mode: PushMode,
}

/// What the active policy asks of Intune today: the iOS `appListItem`s and the Android
/// packages, from `policy export --to intune`.
pub(crate) fn intune_lists(
    active: &ActivePolicy,
) -> Result<(Vec<Value>, BTreeSet<String>), String> {
    let p = active.policy();
    if p.mode == app_policy::Mode::Allowlist {
        return Err("an allowlist policy is not pushed into Intune (restrictedApps and uninstall assignments express a ban)".into());
    }
    let Export { content, .. } = app_policy::export(
        p,
        Target::Intune,
        &ExportOptions {
            at: Some(today()),
            ..ExportOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&content).map_err(|e| e.to_string())?;
    let ios: Vec<Value> = v["policies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["@odata.type"] == "#microsoft.graph.iosCompliancePolicy")
        .flat_map(|p| p["restrictedApps"].as_array().cloned().unwrap_or_default())
        .collect();
    let android = v["androidEnterprise"]["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["packageId"].as_str().map(String::from))
        .collect();
    Ok((ios, android))
}

fn pulled(d: IntuneDevice) -> PulledDevice {
    PulledDevice {
        name: d.id,
        inventory: d.inventory,
        display_name: d.display_name,
        serial: d.serial,
        management_mode: d.enrollment_type,
        policy_compliant: d.compliance_state.as_deref().map(|s| s == "compliant"),
        state: d.compliance_state,
        policy_name: d.management_agent,
        applied_policy_version: None,
        blocked_still_installed: Vec::new(),
        removed: Vec::new(),
        last_status_report_time: d.last_sync,
        owner_email: d.owner_email,
        owner_lang: None,
    }
}

/// Pulls and pushes one Intune connector into `report` (recorded by the caller).
pub(crate) async fn run(
    store: &Store,
    cfg: &IntuneConfig,
    active: Option<&ActivePolicy>,
    started: i64,
    report: &mut SyncReport,
) -> Result<(), ApiError> {
    report.warnings.push(format!(
        "Intune refreshes discovered apps every {} days from enrolment: an app installed or removed since shows at the next refresh",
        intune::DETECTED_APPS_REFRESH_DAYS
    ));
    let client = match IntuneClient::new(cfg) {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(e.to_string());
            return Ok(());
        }
    };
    let mut kept = 0u64;
    let mut other = 0u64;
    let mut pager = client.devices();
    loop {
        match pager.next_page().await {
            Ok(Some(page)) => {
                report.pages += 1;
                other += page.other_platforms;
                for e in page.errors {
                    report.item_error(e);
                }
                let mut devices = Vec::with_capacity(page.devices.len());
                for mut d in page.devices {
                    if let Some(why) = d.apps_unavailable.take() {
                        kept += 1;
                        if kept as usize <= MAX_DEVICE_WARNINGS {
                            report.warnings.push(format!(
                                "managedDevices/{} ({}): {why}",
                                d.id, d.display_name
                            ));
                        }
                        if let Some(id) = store.connector_device_id(&cfg.name, &d.id).await? {
                            let json = store.device_apps_json(&id).await?;
                            d.inventory.apps =
                                serde_json::from_str::<Vec<App>>(&json).unwrap_or_default();
                        }
                    }
                    devices.push(pulled(d));
                }
                if let Err(e) =
                    ingest_page(store, &cfg.name, active, devices, storage::now_ms(), report).await
                {
                    report.error = Some(format!("storing page {}: {e}", report.pages));
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                report.error = Some(format!(
                    "pull stopped at page {}: {e} (devices of the earlier pages were stored; nothing was marked missing)",
                    report.pages + 1
                ));
                break;
            }
        }
    }
    if kept > 0 {
        report.warnings.push(format!(
            "{kept} fully managed or dedicated Android devices: Intune reports no discovered apps for them, so their inventory was kept as stored (use the AMAPI connector or an agent for these devices)"
        ));
    }
    if other > 0 {
        report.warnings.push(format!(
            "{other} devices of other platforms (Windows, macOS, ...) were not pulled"
        ));
    }
    report.complete = pager.complete() && report.error.is_none();
    if report.complete {
        report.missing = Some(store.connector_mark_missing(&cfg.name, started).await?);
    }
    if cfg.push != PushMode::Off {
        match active.map(|a| (a, intune_lists(a))) {
            None => report.push_error = Some("no active policy to push".into()),
            Some((_, Err(e))) => report.push_error = Some(e),
            Some((a, Ok((ios, android)))) => {
                let mut out = PushOutcome {
                    applied: cfg.push == PushMode::Apply,
                    ..PushOutcome::default()
                };
                let (ios_t, w1) = intune::targets(a.policy(), Platform::Ios, today(), cfg);
                let (and_t, w2) = intune::targets(a.policy(), Platform::Android, today(), cfg);
                out.warnings.extend(w1);
                out.warnings.extend(w2);
                out.warnings.sort();
                out.warnings.dedup();
                let r = match client.push_ios(&ios, &ios_t, cfg.push, &mut out).await {
                    Ok(()) => {
                        client
                            .push_android(&android, &and_t, cfg.push, &mut out)
                            .await
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = r {
                    report.push_error = Some(e.to_string());
                }
                report.intune_push = Some(IntunePushReport {
                    diff: out.diff_text(),
                    outcome: out,
                    mode: cfg.push,
                });
            }
        }
    }
    report.requests = client.counters();
    Ok(())
}
