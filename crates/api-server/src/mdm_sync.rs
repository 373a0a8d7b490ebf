//! Connector syncs (issue 17): pull an MDM's devices into the check-in evaluation, push the
//! ban into it, reconcile its results. The HTTP clients live in the `connectors` crate; this
//! module joins their typed results to the server's evaluation (the same `evaluate` as an
//! agent's check-in) and to `storage`.

use std::collections::BTreeSet;
use std::sync::Arc;

use app_policy::model::Ownership;
use app_policy::{App, DeviceInventory, Export, ExportOptions, Target};
use connectors::amapi::{AmapiClient, PulledDevice, PushOutcome};
use connectors::{ConnectorConfig, ItemError, PushMode};
use serde::Serialize;
use serde_json::json;
use storage::{ActionResult, CheckinWrite, MdmDevice, NewDevice, Store, StoredApp};

use crate::checkin::{canonical_apps, evaluate, load_active, today, ActivePolicy};
use crate::ApiError;

/// Most item errors kept in a sync's report (the count is always whole).
pub const MAX_REPORTED_ITEM_ERRORS: usize = 100;

/// What one sync did: stored as the connector's last result and in its `connector.synced`
/// event.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    /// Connector name.
    pub connector: String,
    /// `amapi`.
    pub kind: &'static str,
    /// `ok`, `partial` (items refused, or the push failed) or `failed` (the pull stopped).
    pub state: &'static str,
    /// Whether every page was read.
    pub complete: bool,
    /// Pages read.
    pub pages: u64,
    /// Devices stored.
    pub devices: u64,
    /// Of them, new to the server.
    pub new_devices: u64,
    /// Of them, not compliant with the active policy.
    pub non_compliant: u64,
    /// Removals confirmed by this pull (an app with an uninstall or block action gone from the
    /// MDM's reports).
    pub removals_confirmed: u64,
    /// Blocked apps the MDM reports still installed (`APP_INSTALLED`).
    pub removals_pending: u64,
    /// Devices of this connector absent from its last complete pull.
    pub missing: Option<i64>,
    /// Items refused, named (first [`MAX_REPORTED_ITEM_ERRORS`]).
    pub item_errors: Vec<ItemError>,
    /// All items refused.
    pub item_error_count: u64,
    /// The push (dry run or applied), when configured.
    pub push: Option<PushReport>,
    /// Why the push failed.
    pub push_error: Option<String>,
    /// Why the sync failed.
    pub error: Option<String>,
    /// Requests, retries and tokens.
    pub requests: connectors::amapi::Counters,
    /// What the administrator should know about the MDM's limits (Intune: apps refreshed every
    /// 7 days, no apps on fully managed Android).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The Intune push (dry run or applied), when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intune_push: Option<crate::mdm_intune::IntunePushReport>,
    /// What a NanoMDM connector enqueued (`kind = "nanomdm"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nanomdm: Option<crate::nanomdm::NanoSyncReport>,
    /// The `connector.synced` event.
    pub event_seq: i64,
}

/// A push as reported.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    /// The outcome.
    #[serde(flatten)]
    pub outcome: PushOutcome,
    /// The diff, one line per change.
    pub diff: String,
    /// `dry_run` or `apply`.
    pub mode: PushMode,
}

impl SyncReport {
    pub(crate) fn new(cfg: &ConnectorConfig) -> Self {
        SyncReport {
            connector: cfg.name().to_string(),
            kind: cfg.kind(),
            state: "ok",
            complete: false,
            pages: 0,
            devices: 0,
            new_devices: 0,
            non_compliant: 0,
            removals_confirmed: 0,
            removals_pending: 0,
            missing: None,
            item_errors: Vec::new(),
            item_error_count: 0,
            push: None,
            push_error: None,
            error: None,
            requests: Default::default(),
            warnings: Vec::new(),
            intune_push: None,
            nanomdm: None,
            event_seq: 0,
        }
    }

    pub(crate) fn item_error(&mut self, e: ItemError) {
        tracing::warn!(connector = %self.connector, item = %e.item, error = %e.message, "connector item refused");
        self.item_error_count += 1;
        if self.item_errors.len() < MAX_REPORTED_ITEM_ERRORS {
            self.item_errors.push(e);
        }
    }
}

/// The Android packages the active policy blocks today, as its AMAPI export lists them.
pub fn blocked_packages(active: &ActivePolicy) -> Result<BTreeSet<String>, String> {
    let p = active.policy();
    if p.mode == app_policy::Mode::Allowlist {
        return Err("an allowlist policy is not merged into an MDM policy (it would uninstall every other app)".into());
    }
    let Export { content, .. } = app_policy::export(
        p,
        Target::Amapi,
        &ExportOptions {
            at: Some(today()),
            ..ExportOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_str(&content).map_err(|e| e.to_string())?;
    Ok(v["applications"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|x| x["installType"] == "BLOCKED")
                .filter_map(|x| x["packageName"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default())
}

fn platform_str(p: app_policy::model::Platform) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| "android".into())
}

fn ownership_str(o: Ownership) -> &'static str {
    match o {
        Ownership::Corporate => "corporate",
        Ownership::Personal => "personal",
        Ownership::Unknown => "unknown",
    }
}

/// One device as any connector reports it, ready for the check-in evaluation.
#[derive(Clone)]
pub(crate) struct Ingest {
    /// The device row and what else the MDM says.
    pub(crate) mdm: MdmDevice,
    /// The MDM's whole inventory of the device.
    pub(crate) inventory: DeviceInventory,
    /// Apps the MDM reports removed.
    pub(crate) removed: Vec<String>,
    /// Apps the MDM blocks that the device still has.
    pub(crate) blocked_still_installed: Vec<String>,
    /// Words of a removal confirmed because the app left the inventory.
    pub(crate) gone: &'static str,
}

/// Stores one page: devices (scope from the MDM), inventories evaluated as check-ins,
/// reconciled action results; one transaction for the devices, one for the check-ins.
pub(crate) async fn ingest_page(
    store: &Store,
    connector: &str,
    active: Option<&ActivePolicy>,
    page: Vec<PulledDevice>,
    at: i64,
    report: &mut SyncReport,
) -> Result<(), storage::StorageError> {
    let items = page
        .into_iter()
        .map(|p| Ingest {
            mdm: MdmDevice {
                external_id: p.name.clone(),
                device: NewDevice {
                    name: p.display_name.clone(),
                    platform: platform_str(p.inventory.device.platform),
                    serial: p.serial.clone(),
                    ownership: ownership_str(p.inventory.device.ownership).into(),
                    groups: p.inventory.device.groups.clone(),
                },
                mdm: json!({
                    "management_mode": p.management_mode,
                    "state": p.state,
                    "policy_name": p.policy_name,
                    "applied_policy_version": p.applied_policy_version,
                    "policy_compliant": p.policy_compliant,
                    "last_status_report_time": p.last_status_report_time,
                    "blocked_still_installed": p.blocked_still_installed,
                    "owner_email": p.owner_email,
                    "owner_lang": p.owner_lang,
                }),
            },
            inventory: p.inventory,
            removed: p.removed,
            blocked_still_installed: p.blocked_still_installed,
            gone: "the app is gone from the MDM's application reports",
        })
        .collect();
    ingest(store, connector, active, items, at, report).await
}

/// Stores devices of any connector: device rows (scope from the MDM), inventories evaluated
/// as check-ins (the same `evaluate`), reconciled action results; one transaction for the
/// devices, one for the check-ins.
pub(crate) async fn ingest(
    store: &Store,
    connector: &str,
    active: Option<&ActivePolicy>,
    page: Vec<Ingest>,
    at: i64,
    report: &mut SyncReport,
) -> Result<(), storage::StorageError> {
    let mdm: Vec<MdmDevice> = page.iter().map(|p| p.mdm.clone()).collect();
    let auths = store.connector_devices_upsert(connector, &mdm, at).await?;
    let mut writes = Vec::with_capacity(page.len());
    for (pulled, auth) in page.into_iter().zip(auths) {
        let Some((auth, is_new)) = auth else {
            report.item_error(ItemError {
                item: pulled.mdm.external_id,
                message: "the device was revoked in interdict; its pull is ignored".into(),
            });
            continue;
        };
        report.devices += 1;
        report.new_devices += u64::from(is_new);
        let mut device = pulled.inventory.device.clone();
        device.id = auth.id.clone();
        let (apps, json) = canonical_apps(pulled.inventory.apps);
        let hash = storage::hash_secret(&json);
        let new_inventory = (auth.inventory_hash.as_deref() != Some(hash.as_str())).then(|| {
            let stored = apps
                .iter()
                .map(|a| StoredApp {
                    id: a.id.clone(),
                    version: a.version.clone(),
                })
                .collect();
            (hash.clone(), json, stored)
        });
        let inv = DeviceInventory { device, apps };
        let mut results = Vec::new();
        let (compliant, overdue, in_grace, findings, policy_version) = match active {
            Some(p) => {
                let o = evaluate(p, &inv);
                // Reconcile: an action of the previous inventory whose app the MDM no longer
                // reports is done; a blocked app the MDM reports still installed is pending.
                if new_inventory.is_some() && auth.inventory_hash.is_some() {
                    let old_json = store.device_apps_json(&auth.id).await?;
                    let old: Vec<App> = serde_json::from_str(&old_json).unwrap_or_default();
                    if !old.is_empty() {
                        let old_inv = DeviceInventory {
                            device: inv.device.clone(),
                            apps: old,
                        };
                        let now: BTreeSet<&str> = inv.apps.iter().map(|a| a.id.as_str()).collect();
                        for a in evaluate(p, &old_inv).actions {
                            if a.kind == "notify" || now.contains(a.app_id.as_str()) {
                                continue;
                            }
                            report.removals_confirmed += 1;
                            results.push(ActionResult {
                                id: a.id,
                                app_id: a.app_id.clone(),
                                kind: a.kind.to_string(),
                                status: "done".into(),
                                detail: if pulled.removed.contains(&a.app_id) {
                                    format!(
                                        "the MDM reports the app REMOVED (connector {connector})"
                                    )
                                } else {
                                    format!("{} (connector {connector})", pulled.gone)
                                },
                                command: None,
                                at_ms: at,
                            });
                        }
                    }
                }
                for a in &o.actions {
                    if pulled.blocked_still_installed.contains(&a.app_id) {
                        report.removals_pending += 1;
                        if !store.has_action_result(&auth.id, &a.id, "pending").await? {
                            results.push(ActionResult {
                                id: a.id.clone(),
                                app_id: a.app_id.clone(),
                                kind: a.kind.to_string(),
                                status: "pending".into(),
                                detail: format!("APP_INSTALLED: the MDM blocks the app, the device still has it (connector {connector})"),
                                command: None,
                                at_ms: at,
                            });
                        }
                    }
                }
                let changed = auth.findings_hash.as_deref() != Some(o.findings_hash.as_str());
                (
                    o.compliant,
                    o.overdue,
                    o.in_grace,
                    changed.then_some((o.findings_hash, o.findings)),
                    Some(p.version),
                )
            }
            None => (true, false, false, None, None),
        };
        report.non_compliant += u64::from(!compliant);
        writes.push(CheckinWrite {
            device_id: auth.id.clone(),
            at_ms: at,
            inventory: new_inventory,
            compliant,
            overdue,
            in_grace,
            was_compliant: auth.compliant,
            policy_version,
            seq: 0,
            findings,
            action_results: results,
        });
    }
    store.apply_checkins(&writes).await?;
    Ok(())
}

/// Runs one sync of `cfg` now: pull (page by page), push (dry run or apply), record the
/// result and its event. Errors of the MDM are in the report; only a failure to record it is
/// an `Err`.
pub async fn sync(store: &Store, cfg: &ConnectorConfig) -> Result<SyncReport, ApiError> {
    let started = storage::now_ms();
    let mut report = SyncReport::new(cfg);
    store
        .connector_sync_started(cfg.name(), cfg.kind(), started)
        .await?;
    let active = load_active(store).await?;
    let amapi = match cfg {
        ConnectorConfig::Amapi(a) => a,
        ConnectorConfig::Intune(c) => {
            crate::mdm_intune::run(store, c, active.as_ref(), started, &mut report).await?;
            return finish(store, cfg, report).await;
        }
        ConnectorConfig::Nanomdm(n) => {
            crate::nanomdm::sync(store, n, active.as_ref(), &mut report).await?;
            return finish(store, cfg, report).await;
        }
    };
    match AmapiClient::new(amapi) {
        Err(e) => report.error = Some(e.to_string()),
        Ok(client) => {
            let mut pager = client.devices();
            loop {
                match pager.next_page().await {
                    Ok(Some(page)) => {
                        report.pages += 1;
                        for e in page.errors {
                            report.item_error(e);
                        }
                        if let Err(e) = ingest_page(
                            store,
                            cfg.name(),
                            active.as_ref(),
                            page.devices,
                            storage::now_ms(),
                            &mut report,
                        )
                        .await
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
            report.complete = pager.complete() && report.error.is_none();
            if report.complete {
                report.missing = Some(store.connector_mark_missing(cfg.name(), started).await?);
            }
            if amapi.policy.is_some() && amapi.push != PushMode::Off {
                match active.as_ref().map(blocked_packages) {
                    None => report.push_error = Some("no active policy to push".into()),
                    Some(Err(e)) => report.push_error = Some(e),
                    Some(Ok(blocked)) => match client.push(&blocked, amapi.push).await {
                        Ok(outcome) => {
                            report.push = Some(PushReport {
                                diff: outcome.plan.diff_text(),
                                outcome,
                                mode: amapi.push,
                            })
                        }
                        Err(e) => report.push_error = Some(e.to_string()),
                    },
                }
            }
            report.requests = client.counters();
        }
    }
    finish(store, cfg, report).await
}

/// Decides a sync's state, records it with its `connector.synced` event, and logs it.
pub(crate) async fn finish(
    store: &Store,
    cfg: &ConnectorConfig,
    mut report: SyncReport,
) -> Result<SyncReport, ApiError> {
    report.state = if report.error.is_some() {
        "failed"
    } else if report.item_error_count > 0 || report.push_error.is_some() {
        "partial"
    } else {
        "ok"
    };
    let error = report
        .error
        .clone()
        .or_else(|| report.push_error.clone().map(|e| format!("push: {e}")))
        .or_else(|| {
            (report.item_error_count > 0).then(|| {
                format!(
                    "{} items refused, first: {}",
                    report.item_error_count,
                    report
                        .item_errors
                        .first()
                        .map(|e| e.to_string())
                        .unwrap_or_default()
                )
            })
        });
    let value = serde_json::to_value(&report).unwrap_or_default();
    report.event_seq = store
        .connector_sync_finished(
            cfg.name(),
            cfg.kind(),
            report.state,
            error.as_deref(),
            report.complete,
            &value,
            storage::now_ms(),
        )
        .await?;
    tracing::info!(connector = %report.connector, state = report.state, devices = report.devices, pages = report.pages, "connector sync");
    Ok(report)
}

/// Runs each connector at start and then every `interval_secs`, until aborted.
pub(crate) async fn scheduler(store: Store, cfg: Arc<ConnectorConfig>) {
    let interval = std::time::Duration::from_secs(cfg.interval_secs());
    loop {
        if let Err(e) = sync(&store, &cfg).await {
            tracing::error!(connector = cfg.name(), error = %e, "connector sync could not be recorded");
        }
        tokio::time::sleep(interval).await;
    }
}
