//! Apple MDM through NanoMDM (issue 17, item 3): the sync enqueues commands, the acknowledge
//! webhook brings the results back.
//!
//! - [`sync`] (on the connector's schedule, or `interdict connector sync NAME`) enqueues
//!   `RemoveApplication` for each removal due on a device it maps (from the device's last
//!   inventory, evaluated as a check-in), then `InstalledApplicationList` to every configured
//!   enrollment id; each command is stored by (CommandUUID, enrollment id).
//! - [`webhook`] (`POST /api/v1/connectors/{name}/webhook`, NanoMDM's `-webhook-url`) checks
//!   `X-Hmac-Signature`, refuses replays (the body's SHA-256 is taken once inside the
//!   `created_at` window; a command takes one final answer), and turns each answer into
//!   state: an `InstalledApplicationList` becomes the device's authoritative inventory through
//!   `mdm_sync::ingest` (the check-in evaluation), a `RemoveApplication` an action result
//!   (`Acknowledged` → done, `Error` → failed with the ErrorChain, `NotNow` → pending).

use std::collections::{BTreeMap, BTreeSet};

use app_policy::model::{Ownership, Platform};
use app_policy::{App, Device, DeviceInventory};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap};
use axum::Json;
use connectors::nanomdm::{self as nano, Command, NanoMdmClient, NanoMdmConfig};
use connectors::{ConnectorConfig, ItemError, PushMode};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use storage::{ActionResult, MdmDevice, NanoCommand, NewDevice, Store};

use crate::checkin::{evaluate, ActivePolicy};
use crate::mdm_sync::{ingest, Ingest, SyncReport, MAX_REPORTED_ITEM_ERRORS};
use crate::{ApiError, AppState};

/// Most removals listed in a sync's report (the counts are whole).
const MAX_LISTED: usize = 1000;
/// Tries of a webhook's write before it is answered 500 (another writer on the database).
const WRITE_ATTEMPTS: u32 = 4;
/// Seconds a webhook's `created_at` may be ahead of this server's clock.
const MAX_FUTURE_SECS: i64 = 300;

/// What a NanoMDM sync enqueued.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NanoSyncReport {
    /// Enrollment ids configured.
    pub enrollment_ids: u64,
    /// Devices sent an `InstalledApplicationList`.
    pub inventory_enqueued: u64,
    /// Devices skipped: their last `InstalledApplicationList` is still unanswered (younger
    /// than `requeue_after_secs`).
    pub inventory_waiting: u64,
    /// `off`, `dry_run` or `apply`.
    pub remove: PushMode,
    /// `RemoveApplication` commands enqueued (first 1000).
    pub removals_enqueued: Vec<PlannedRemoval>,
    /// Removals a dry run would enqueue (first 1000).
    pub removals_planned: Vec<PlannedRemoval>,
    /// Removals not sent again: an earlier one is queued, deferred (`NotNow`), or answered
    /// less than `requeue_after_secs` ago.
    pub removals_waiting: u64,
    /// Enqueued, but NanoMDM's APNs push failed (the device gets it at its next check-in).
    pub push_errors: Vec<ItemError>,
    /// What RemoveApplication can do.
    pub note: &'static str,
}

/// One removal.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedRemoval {
    /// NanoMDM enrollment id.
    pub enrollment_id: String,
    /// interdict's device.
    pub device_id: String,
    /// Bundle id.
    pub app_id: String,
    /// The finding's action.
    pub action_id: String,
    /// The command, when enqueued.
    pub command_uuid: Option<String>,
}

const NOTE: &str = "RemoveApplication removes managed apps only: on an app the user installed \
    the device answers \"not managed\" and the removal is failed; take it over first \
    (InstallApplication with ChangeManagementState = Managed, supervised devices) or ask the owner";

fn platform(cfg: &NanoMdmConfig) -> Platform {
    if cfg.platform == "macos" {
        Platform::Macos
    } else {
        Platform::Ios
    }
}

fn device_of(cfg: &NanoMdmConfig, id: String) -> Device {
    Device {
        id,
        platform: platform(cfg),
        groups: cfg.groups.clone(),
        ownership: Ownership::parse(&cfg.ownership).unwrap_or_default(),
    }
}

/// A removal due on a device, found from its stored inventory.
struct Due {
    enrollment_id: String,
    device_id: String,
    app_id: String,
    action_id: String,
    kind: &'static str,
}

/// The removals due on `devices` (`(enrollment_id, device_id)`) that are not already on their
/// way; counts non-compliant devices and waiting removals into the reports.
async fn removals_due(
    store: &Store,
    cfg: &NanoMdmConfig,
    active: &ActivePolicy,
    devices: &[(String, String)],
    report: &mut SyncReport,
    nano: &mut NanoSyncReport,
) -> Result<Vec<Due>, ApiError> {
    let now = storage::now_ms();
    let requeue = i64::try_from(cfg.requeue_after_secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    let mut due = Vec::new();
    for (enrollment_id, device_id) in devices {
        let json = store.device_apps_json(device_id).await?;
        let apps: Vec<App> = serde_json::from_str(&json).unwrap_or_default();
        let inv = DeviceInventory {
            device: device_of(cfg, device_id.clone()),
            apps,
        };
        let o = evaluate(active, &inv);
        report.non_compliant += u64::from(!o.compliant);
        for a in o.actions.into_iter().filter(|a| a.kind == "uninstall") {
            if let Some(last) = store
                .nanomdm_last_removal(&cfg.name, enrollment_id, &a.app_id)
                .await?
            {
                let open = matches!(last.status.as_str(), "queued" | "not_now");
                if open || last.updated_at >= now.saturating_sub(requeue) {
                    nano.removals_waiting += 1;
                    continue;
                }
            }
            due.push(Due {
                enrollment_id: enrollment_id.clone(),
                device_id: device_id.clone(),
                app_id: a.app_id,
                action_id: a.id,
                kind: a.kind,
            });
        }
    }
    Ok(due)
}

/// Enqueues `RemoveApplication` for `due` (one command per bundle id and chunk of devices),
/// or lists them for a dry run; records the commands.
async fn enqueue_removals(
    store: &Store,
    client: &NanoMdmClient,
    due: Vec<Due>,
    report: &mut SyncReport,
    nano: &mut NanoSyncReport,
) -> Result<(), ApiError> {
    let cfg = client.config();
    let mut by_app: BTreeMap<String, Vec<Due>> = BTreeMap::new();
    for d in due {
        by_app.entry(d.app_id.clone()).or_default().push(d);
    }
    for (app, targets) in by_app {
        if cfg.remove != PushMode::Apply {
            for d in targets {
                if nano.removals_planned.len() < MAX_LISTED {
                    nano.removals_planned.push(PlannedRemoval {
                        enrollment_id: d.enrollment_id,
                        device_id: d.device_id,
                        app_id: d.app_id,
                        action_id: d.action_id,
                        command_uuid: None,
                    });
                }
            }
            continue;
        }
        for chunk in targets.chunks(cfg.ids_per_request.max(1)) {
            let cmd = match nano::new_uuid().and_then(|u| nano::remove_application(u, &app)) {
                Ok(c) => c,
                Err(e) => {
                    report.push_error = Some(e.to_string());
                    return Ok(());
                }
            };
            let ids: Vec<String> = chunk.iter().map(|d| d.enrollment_id.clone()).collect();
            // Recorded first: a device may answer before NanoMDM's answer reaches us.
            let now = storage::now_ms();
            let rows: Vec<NanoCommand> = chunk
                .iter()
                .map(|d| command_row(cfg, &cmd, &d.enrollment_id, Some(d), now))
                .collect();
            store.nanomdm_commands_record(&rows).await?;
            let r = match client.enqueue(&ids, &cmd).await {
                Ok(r) => r,
                Err(e) => {
                    settle_failed(store, cfg, &cmd, &ids, &e.to_string()).await?;
                    report.push_error = Some(format!("RemoveApplication {app}: {e}"));
                    return Ok(());
                }
            };
            settle(store, cfg, &cmd, &r).await?;
            let queued: BTreeSet<&String> = r.queued.iter().collect();
            for d in chunk {
                if !queued.contains(&d.enrollment_id) {
                    continue;
                }
                if nano.removals_enqueued.len() < MAX_LISTED {
                    nano.removals_enqueued.push(PlannedRemoval {
                        enrollment_id: d.enrollment_id.clone(),
                        device_id: d.device_id.clone(),
                        app_id: d.app_id.clone(),
                        action_id: d.action_id.clone(),
                        command_uuid: Some(cmd.uuid.clone()),
                    });
                }
            }
            for e in r.failed {
                report.item_error(e);
            }
            for e in r.push_errors {
                if nano.push_errors.len() < MAX_REPORTED_ITEM_ERRORS {
                    nano.push_errors.push(e);
                }
            }
        }
    }
    Ok(())
}

/// Records NanoMDM's answer to an enqueue (the ids not queued become `error`) and its event.
async fn settle(
    store: &Store,
    cfg: &NanoMdmConfig,
    cmd: &Command,
    r: &nano::EnqueueResult,
) -> Result<(), ApiError> {
    let failed: Vec<(String, String)> = r
        .failed
        .iter()
        .map(|e| (e.item.clone(), e.message.clone()))
        .collect();
    store
        .nanomdm_commands_settle(
            &cfg.name,
            &cmd.uuid,
            cmd.request_type,
            cmd.identifier.as_deref(),
            &r.queued,
            &failed,
            storage::now_ms(),
        )
        .await?;
    Ok(())
}

/// An enqueue that failed as a whole: every id's command becomes `error`.
async fn settle_failed(
    store: &Store,
    cfg: &NanoMdmConfig,
    cmd: &Command,
    ids: &[String],
    why: &str,
) -> Result<(), ApiError> {
    let failed: Vec<(String, String)> = ids
        .iter()
        .map(|i| (i.clone(), format!("not queued: {why}")))
        .collect();
    store
        .nanomdm_commands_settle(
            &cfg.name,
            &cmd.uuid,
            cmd.request_type,
            cmd.identifier.as_deref(),
            &[],
            &failed,
            storage::now_ms(),
        )
        .await?;
    Ok(())
}

fn command_row(
    cfg: &NanoMdmConfig,
    cmd: &Command,
    enrollment_id: &str,
    due: Option<&Due>,
    at: i64,
) -> NanoCommand {
    NanoCommand {
        connector: cfg.name.clone(),
        command_uuid: cmd.uuid.clone(),
        enrollment_id: enrollment_id.to_string(),
        request_type: cmd.request_type.to_string(),
        app_id: cmd.identifier.clone(),
        device_id: due.map(|d| d.device_id.clone()),
        action_id: due.map(|d| d.action_id.clone()),
        action_kind: due.map(|d| d.kind.to_string()),
        status: "queued".into(),
        detail: String::new(),
        enqueued_at: at,
        updated_at: at,
    }
}

/// One NanoMDM sync: removals due (as configured), then `InstalledApplicationList` to every
/// device. NanoMDM's failures are in the report; only a storage failure is an `Err`.
pub(crate) async fn sync(
    store: &Store,
    cfg: &NanoMdmConfig,
    active: Option<&ActivePolicy>,
    report: &mut SyncReport,
) -> Result<(), ApiError> {
    let mut nano = NanoSyncReport {
        remove: cfg.remove,
        note: NOTE,
        ..NanoSyncReport::default()
    };
    let result = sync_inner(store, cfg, active, report, &mut nano).await;
    report.nanomdm = Some(nano);
    result
}

async fn sync_inner(
    store: &Store,
    cfg: &NanoMdmConfig,
    active: Option<&ActivePolicy>,
    report: &mut SyncReport,
    nano: &mut NanoSyncReport,
) -> Result<(), ApiError> {
    let (ids, errors) = match cfg.enrollment_ids() {
        Ok(x) => x,
        Err(e) => {
            report.error = Some(e.to_string());
            return Ok(());
        }
    };
    for e in errors {
        report.item_error(e);
    }
    nano.enrollment_ids = ids.len() as u64;
    let client = match NanoMdmClient::new(cfg) {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(e.to_string());
            return Ok(());
        }
    };
    // Removals first: from each mapped device's last inventory.
    let wanted: BTreeSet<&String> = ids.iter().collect();
    let devices: Vec<(String, String)> = store
        .connector_device_ids(&cfg.name)
        .await?
        .into_iter()
        .filter(|(e, _)| wanted.contains(e))
        .collect();
    report.devices = devices.len() as u64;
    match active {
        Some(active) => {
            let due = removals_due(store, cfg, active, &devices, report, nano).await?;
            if cfg.remove != PushMode::Off {
                enqueue_removals(store, &client, due, report, nano).await?;
            }
        }
        None if cfg.remove != PushMode::Off => {
            report.push_error = Some("no active policy: no removal to enqueue".into());
        }
        None => {}
    }
    // Then the inventory of every device, skipping those still owing the last one.
    let requeue = i64::try_from(cfg.requeue_after_secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    let waiting = store
        .nanomdm_inventory_waiting(&cfg.name, storage::now_ms().saturating_sub(requeue))
        .await?;
    let targets: Vec<String> = ids.into_iter().filter(|i| !waiting.contains(i)).collect();
    nano.inventory_waiting = nano.enrollment_ids - targets.len() as u64;
    let mut complete = true;
    for (n, chunk) in targets.chunks(cfg.ids_per_request.max(1)).enumerate() {
        report.pages += 1;
        let cmd = match nano::new_uuid().and_then(nano::installed_application_list) {
            Ok(c) => c,
            Err(e) => {
                report.error = Some(e.to_string());
                complete = false;
                break;
            }
        };
        // Recorded first: a device may answer before NanoMDM's answer reaches us.
        let now = storage::now_ms();
        let rows: Vec<NanoCommand> = chunk
            .iter()
            .map(|id| command_row(cfg, &cmd, id, None, now))
            .collect();
        store.nanomdm_commands_record(&rows).await?;
        match client.enqueue(chunk, &cmd).await {
            Ok(r) => {
                settle(store, cfg, &cmd, &r).await?;
                nano.inventory_enqueued += r.queued.len() as u64;
                complete &= r.failed.is_empty();
                for e in r.failed {
                    report.item_error(e);
                }
                for e in r.push_errors {
                    if nano.push_errors.len() < MAX_REPORTED_ITEM_ERRORS {
                        nano.push_errors.push(e);
                    }
                }
            }
            Err(e) => {
                settle_failed(store, cfg, &cmd, chunk, &e.to_string()).await?;
                report.error = Some(format!(
                    "enqueue stopped at request {} of InstalledApplicationList: {e} (the earlier requests were queued)",
                    n + 1
                ));
                complete = false;
                break;
            }
        }
    }
    report.complete = complete;
    report.requests = client.counters();
    Ok(())
}

/// `X-Hmac-Signature` checked, replay refused, then the answer stored.
pub(crate) async fn webhook(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ext: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let cfg = state.config.connectors.iter().find_map(|c| match c {
        ConnectorConfig::Nanomdm(n) if n.name == name => Some(n),
        _ => None,
    });
    let Some(cfg) = cfg else {
        return Err(refuse(
            &state,
            &ext,
            &name,
            "unknown_connector",
            json!({}),
            ApiError::Unauthorized,
        )
        .await);
    };
    let secret = nano::read_secret(&cfg.webhook_secret_file, "webhook_secret_file", 16)
        .map_err(|e| ApiError::Internal(format!("connector {name}: {e}")))?;
    let sig = headers
        .get(nano::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    if !nano::verify_signature(&secret, &body, sig) {
        crate::bump(&state.metrics.auth_failures);
        return Err(refuse(
            &state,
            &ext,
            &name,
            "bad_signature",
            json!({"signature_present": sig.is_some(), "bytes": body.len()}),
            ApiError::Unauthorized,
        )
        .await);
    }
    // Authentic from here on.
    let event = match nano::parse_event(&body) {
        Ok(e) => e,
        Err(e) => {
            let msg = e.to_string();
            return Err(refuse(
                &state,
                &ext,
                &name,
                "malformed",
                json!({"error": msg}),
                ApiError::Invalid(msg),
            )
            .await);
        }
    };
    let now = storage::now_ms();
    let max_age = i64::try_from(cfg.webhook_max_age_secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    let created = nano::rfc3339_ms(&event.created_at);
    match created {
        None => {
            let msg = format!(
                "created_at {:?} is not an RFC 3339 time",
                event.created_at.chars().take(64).collect::<String>()
            );
            return Err(refuse(
                &state,
                &ext,
                &name,
                "malformed",
                json!({"error": msg}),
                ApiError::Invalid(msg),
            )
            .await);
        }
        Some(t) if t < now.saturating_sub(max_age) || t > now + MAX_FUTURE_SECS * 1000 => {
            let msg = format!(
                "created_at {} is outside the replay window ({} s)",
                event.created_at, cfg.webhook_max_age_secs
            );
            return Err(refuse(
                &state,
                &ext,
                &name,
                "stale",
                json!({"created_at": event.created_at}),
                ApiError::Conflict(msg),
            )
            .await);
        }
        Some(_) => {}
    }
    let digest = hex(&Sha256::digest(&body));
    if !state
        .store
        .nanomdm_webhook_take(
            &name,
            &digest,
            now,
            now.saturating_sub(max_age.saturating_add(MAX_FUTURE_SECS * 1000)),
        )
        .await?
    {
        return Err(refuse(
            &state,
            &ext,
            &name,
            "replayed",
            json!({"body_sha256": digest, "topic": event.topic}),
            ApiError::Conflict("replayed webhook: this body was already taken".into()),
        )
        .await);
    }
    let Some(ack) = event.acknowledge_event else {
        return Ok(Json(
            json!({"result": "ignored", "why": "not a command result", "topic": event.topic}),
        ));
    };
    let (Some(enrollment), Some(uuid)) = (
        ack.enrollment().map(str::to_string),
        ack.command_uuid.clone().filter(|u| !u.is_empty()),
    ) else {
        return Ok(Json(
            json!({"result": "ignored", "why": "no command (Idle)", "status": ack.status}),
        ));
    };
    let Some(cmd) = state
        .store
        .nanomdm_command(&name, &uuid, &enrollment)
        .await?
    else {
        return Ok(Json(
            json!({"result": "ignored", "why": "not a command of this connector", "command_uuid": uuid}),
        ));
    };
    if storage::NANO_FINAL.contains(&cmd.status.as_str()) {
        return Err(refuse(
            &state,
            &ext,
            &name,
            "replayed",
            json!({"command_uuid": uuid, "enrollment_id": enrollment, "status": cmd.status}),
            ApiError::Conflict(format!(
                "replayed: command {uuid} of {enrollment} was already answered ({})",
                cmd.status
            )),
        )
        .await);
    }
    let item = format!("{name}/{enrollment}");
    let report = match ack.raw_payload.as_deref() {
        None => Err(ItemError {
            item: item.clone(),
            message: "acknowledge_event has no raw_payload".into(),
        }),
        Some(b64) => {
            let b64 = b64.to_string();
            let it = item.clone();
            tokio::task::spawn_blocking(move || {
                nano::decode_raw_payload(&b64, &it).and_then(|raw| nano::parse_report(&raw, &it))
            })
            .await
            .map_err(|e| ApiError::Internal(format!("plist task: {e}")))?
        }
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => return Err(bad_answer(&state, &cmd, e).await?),
    };
    if report.status != ack.status
        || report.command_uuid.as_deref().is_some_and(|u| u != uuid)
        || report
            .device
            .as_deref()
            .is_some_and(|d| Some(d) != ack.udid.as_deref() && d != enrollment)
    {
        let e = ItemError {
            item,
            message: "raw_payload's Status, CommandUUID or UDID disagree with the event".into(),
        };
        return Err(bad_answer(&state, &cmd, e).await?);
    }
    let at = created.unwrap_or(now);
    match cmd.request_type.as_str() {
        "InstalledApplicationList" => inventory_answer(&state, cfg, &cmd, report, at).await,
        "RemoveApplication" => removal_answer(&state, cfg, &cmd, report, at).await,
        other => Ok(Json(
            json!({"result": "ignored", "why": format!("request type {other}")}),
        )),
    }
}

/// A device's answer that cannot be used: the command is `error` with why, a connector event
/// names the item, and the webhook is answered 422.
async fn bad_answer(
    state: &AppState,
    cmd: &NanoCommand,
    e: ItemError,
) -> Result<ApiError, ApiError> {
    tracing::warn!(connector = %cmd.connector, item = %e.item, error = %e.message, "NanoMDM answer refused");
    state
        .store
        .nanomdm_command_answered(cmd, "error", &e.to_string(), storage::now_ms(), None)
        .await?;
    state
        .store
        .connector_webhook_refused(
            &cmd.connector,
            "bad_answer",
            json!({"item": e.item, "error": e.message, "command_uuid": cmd.command_uuid}),
            storage::now_ms(),
        )
        .await?;
    Ok(ApiError::Invalid(e.to_string()))
}

async fn inventory_answer(
    state: &AppState,
    cfg: &NanoMdmConfig,
    cmd: &NanoCommand,
    report: nano::Report,
    at: i64,
) -> Result<Json<Value>, ApiError> {
    let (status, detail) = match report.status.as_str() {
        "Acknowledged" => ("acknowledged", String::new()),
        "NotNow" => (
            "not_now",
            "the device answered NotNow; NanoMDM sends it again".into(),
        ),
        _ => ("error", format!("{}: {}", report.status, report.error)),
    };
    if status != "acknowledged" {
        state
            .store
            .nanomdm_command_answered(cmd, status, &detail, at, None)
            .await?;
        return Ok(Json(json!({"result": status, "detail": detail})));
    }
    let Some(apps) = report.apps else {
        let e = ItemError {
            item: format!("{}/{}", cfg.name, cmd.enrollment_id),
            message: "Acknowledged without InstalledApplicationList".into(),
        };
        return Err(bad_answer(state, cmd, e).await?);
    };
    // Claim the answer first: a concurrent replay of it stops here.
    if !state
        .store
        .nanomdm_command_answered(
            cmd,
            "acknowledged",
            &format!("{} apps", apps.len()),
            at,
            None,
        )
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "replayed: command {} of {} was already answered",
            cmd.command_uuid, cmd.enrollment_id
        )));
    }
    let n = apps.len();
    let short: String = cmd.enrollment_id.chars().take(12).collect();
    let item = Ingest {
        mdm: MdmDevice {
            external_id: cmd.enrollment_id.clone(),
            device: NewDevice {
                name: format!("Apple device {short}"),
                platform: cfg.platform.clone(),
                serial: String::new(),
                ownership: cfg.ownership.clone(),
                groups: cfg.groups.clone(),
            },
            mdm: json!({
                "source": "nanomdm",
                "enrollment_id": cmd.enrollment_id,
                "command_uuid": cmd.command_uuid,
                "apps": n,
                "reported_at": at,
            }),
        },
        inventory: DeviceInventory {
            device: device_of(cfg, cmd.enrollment_id.clone()),
            apps,
        },
        removed: Vec::new(),
        blocked_still_installed: Vec::new(),
        gone: "the app is gone from the device's InstalledApplicationList",
    };
    let connector = ConnectorConfig::Nanomdm(cfg.clone());
    let active = state.active_policy();
    // NanoMDM does not post a webhook twice: a write that meets another writer (a sync in
    // another process on the same SQLite file) is tried again, a few times, before a 500.
    let mut attempt = 0u32;
    let sync_report = loop {
        let mut r = SyncReport::new(&connector);
        match ingest(
            &state.store,
            &cfg.name,
            active.as_deref(),
            vec![item.clone()],
            at,
            &mut r,
        )
        .await
        {
            Ok(()) => break r,
            Err(e) if attempt < WRITE_ATTEMPTS => {
                tracing::warn!(connector = %cfg.name, error = %e, "storing an inventory failed; trying again");
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(25u64 << attempt)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    if let Some(e) = sync_report.item_errors.first() {
        return Ok(Json(json!({"result": "ignored", "why": e.to_string()})));
    }
    // Removals due on this device go out now rather than at the next sync.
    if cfg.remove == PushMode::Apply && sync_report.non_compliant > 0 {
        if let Some(active) = active {
            let (store, cfg) = (state.store.clone(), cfg.clone());
            let enrollment = cmd.enrollment_id.clone();
            tokio::spawn(async move {
                if let Err(e) = remove_now(&store, &cfg, &active, &enrollment).await {
                    tracing::warn!(connector = %cfg.name, enrollment = %enrollment, error = %e, "enqueueing removals failed");
                }
            });
        }
    }
    Ok(Json(json!({
        "result": "inventory",
        "enrollment_id": cmd.enrollment_id,
        "apps": n,
        "compliant": sync_report.non_compliant == 0,
        "removals_confirmed": sync_report.removals_confirmed,
    })))
}

async fn remove_now(
    store: &Store,
    cfg: &NanoMdmConfig,
    active: &ActivePolicy,
    enrollment: &str,
) -> Result<(), String> {
    let devices: Vec<(String, String)> = store
        .connector_device_ids(&cfg.name)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|(e, _)| e == enrollment)
        .collect();
    let connector = ConnectorConfig::Nanomdm(cfg.clone());
    let mut report = SyncReport::new(&connector);
    let mut nano = NanoSyncReport::default();
    let due = removals_due(store, cfg, active, &devices, &mut report, &mut nano)
        .await
        .map_err(|e| e.to_string())?;
    if due.is_empty() {
        return Ok(());
    }
    let client = NanoMdmClient::new(cfg).map_err(|e| e.to_string())?;
    enqueue_removals(store, &client, due, &mut report, &mut nano)
        .await
        .map_err(|e| e.to_string())?;
    match report.push_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn removal_answer(
    state: &AppState,
    cfg: &NanoMdmConfig,
    cmd: &NanoCommand,
    report: nano::Report,
    at: i64,
) -> Result<Json<Value>, ApiError> {
    let app = cmd.app_id.clone().unwrap_or_default();
    let (status, result, detail) = match report.status.as_str() {
        "Acknowledged" => (
            "acknowledged",
            "done",
            format!(
                "RemoveApplication {app} acknowledged by the device (connector {}, command {})",
                cfg.name, cmd.command_uuid
            ),
        ),
        "NotNow" => (
            "not_now",
            "pending",
            format!(
                "the device answered NotNow to RemoveApplication {app} (locked or busy); NanoMDM sends it again (connector {})",
                cfg.name
            ),
        ),
        other => (
            "error",
            "failed",
            format!(
                "RemoveApplication {app}: {other}: {}{} (connector {})",
                if report.error.is_empty() { "no ErrorChain" } else { report.error.as_str() },
                if report.not_managed {
                    "; RemoveApplication removes managed apps only: the user installed this one"
                } else {
                    ""
                },
                cfg.name
            ),
        ),
    };
    let detail: String = detail.chars().take(storage::MAX_RESULT_TEXT).collect();
    let result = match (&cmd.action_id, &cmd.action_kind) {
        (Some(id), Some(kind)) => Some(ActionResult {
            id: id.clone(),
            app_id: app.clone(),
            kind: kind.clone(),
            status: result.into(),
            detail: detail.clone(),
            command: Some(format!("RemoveApplication {app} ({})", cmd.command_uuid)),
            at_ms: at,
        }),
        _ => None,
    };
    let mut attempt = 0u32;
    let answered = loop {
        match state
            .store
            .nanomdm_command_answered(cmd, status, &detail, at, result.as_ref())
            .await
        {
            Ok(a) => break a,
            Err(e) if attempt < WRITE_ATTEMPTS => {
                tracing::warn!(connector = %cfg.name, error = %e, "storing a result failed; trying again");
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(25u64 << attempt)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    if !answered {
        return Err(ApiError::Conflict(format!(
            "replayed: command {} of {} was already answered",
            cmd.command_uuid, cmd.enrollment_id
        )));
    }
    Ok(Json(
        json!({"result": status, "action_result": result.map(|r| r.status), "detail": detail}),
    ))
}

/// Refuses a webhook: a `connector.webhook_refused` event (at most 60 a minute per client
/// address, so that refusals cannot flood the ledger; beyond it the answer is 429 without an
/// event) and `err`.
async fn refuse(
    state: &AppState,
    ext: &Extensions,
    connector: &str,
    reason: &str,
    detail: Value,
    err: ApiError,
) -> ApiError {
    let client = crate::handlers::client_key(ext);
    if let Err(limited) = state.webhook_refusals.check(&client, &state.metrics) {
        return limited;
    }
    tracing::warn!(connector, reason, %client, "NanoMDM webhook refused");
    let name: String = connector.chars().take(64).collect();
    let mut detail = detail;
    if let Some(o) = detail.as_object_mut() {
        o.insert("client".into(), json!(client));
    }
    if let Err(e) = state
        .store
        .connector_webhook_refused(&name, reason, detail, storage::now_ms())
        .await
    {
        return e.into();
    }
    err
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
