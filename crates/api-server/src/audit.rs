//! The audit ledger over HTTP: signed checkpoints, entries and proofs (readable by the
//! `auditor` role and above), on-demand checkpoints (admin), and the checkpointer task that
//! signs one every N events or T seconds and optionally writes each to a directory outside
//! the server's database.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use audit_ledger::{Hash, Signer};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use storage::{Store, StoredCheckpoint};

use crate::{ApiError, AppState};

/// Checkpoint signing: the key, the cadence and where else to publish.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// The note signing key (its name is the checkpoint origin).
    pub signer: Arc<Signer>,
    /// Sign when this many events were added since the last checkpoint (default 10,000).
    pub every_events: u64,
    /// Sign when this much time passed and events were added (default 60 s).
    pub every: Duration,
    /// Also write each checkpoint here as `<size>-<key id>.checkpoint`.
    pub checkpoint_dir: Option<PathBuf>,
}

impl LedgerConfig {
    /// The defaults (10,000 events, 60 s, no directory) for `signer`.
    pub fn new(signer: Signer) -> Self {
        LedgerConfig {
            signer: Arc::new(signer),
            every_events: 10_000,
            every: Duration::from_secs(60),
            checkpoint_dir: None,
        }
    }
}

/// Signs a checkpoint now and publishes it to the directory, if any.
pub(crate) async fn sign_now(
    store: &Store,
    cfg: &LedgerConfig,
) -> Result<StoredCheckpoint, ApiError> {
    let cp = store.ledger_sign_checkpoint(&cfg.signer).await?;
    if let Some(dir) = &cfg.checkpoint_dir {
        let dir = dir.clone();
        let name = format!("{:020}-{}.checkpoint", cp.size, cp.key_id);
        let note = cp.note.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let path = dir.join(&name);
            if path.exists() {
                return Ok(());
            }
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, note.as_bytes())?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &path)
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| {
            ApiError::Internal(format!("writing the checkpoint to the checkpoint dir: {e}"))
        })?;
    }
    Ok(cp)
}

/// Signs a checkpoint every `every_events` events or `every` (when events were added).
pub(crate) async fn checkpointer(store: Store, cfg: LedgerConfig) {
    let tick = cfg
        .every
        .min(Duration::from_secs(1))
        .max(Duration::from_millis(50));
    let mut last_size = match store.ledger_latest_checkpoint().await {
        Ok(Some(cp)) => cp.size,
        _ => -1,
    };
    let mut last_time = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(tick).await;
        let size = match store.ledger_size().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "checkpointer: reading the ledger size");
                continue;
            }
        };
        let due_count = size.saturating_sub(last_size.max(0)) as u64 >= cfg.every_events;
        let due_time = size > last_size && last_time.elapsed() >= cfg.every;
        if due_count || due_time {
            match sign_now(&store, &cfg).await {
                Ok(cp) => {
                    tracing::info!(size = cp.size, key = %cp.key_id, "checkpoint signed");
                    last_size = cp.size;
                    last_time = tokio::time::Instant::now();
                }
                Err(e) => tracing::warn!(error = %e, "checkpointer: signing"),
            }
        }
    }
}

fn b64s(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| B64.encode(h)).collect()
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// `GET /api/v1/audit/checkpoint`: the newest signed checkpoint (text/plain signed note).
pub(crate) async fn latest(State(st): State<AppState>) -> Result<Response, ApiError> {
    match st.store.ledger_latest_checkpoint().await? {
        Some(cp) => Ok(text(cp.note)),
        None => Err(ApiError::NotFound),
    }
}

/// `POST /api/v1/audit/checkpoint`: signs one now (admin).
pub(crate) async fn sign(State(st): State<AppState>) -> Result<Response, ApiError> {
    let Some(cfg) = &st.config.ledger else {
        return Err(ApiError::Conflict(
            "this server has no checkpoint signing key (run `interdict init` or pass --ledger-key)"
                .into(),
        ));
    };
    Ok(text(sign_now(&st.store, cfg).await?.note))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FromQ {
    #[serde(default)]
    from: i64,
    #[serde(default)]
    limit: Option<i64>,
}

/// `GET /api/v1/audit/checkpoints?from=SIZE&limit=`: checkpoints with size ≥ from.
pub(crate) async fn list(
    State(st): State<AppState>,
    Query(q): Query<FromQ>,
) -> Result<Json<Value>, ApiError> {
    let cps = st
        .store
        .ledger_checkpoints(q.from, q.limit.unwrap_or(1000))
        .await?;
    Ok(Json(json!({ "checkpoints": cps })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RangeQ {
    start: i64,
    end: i64,
}

/// `GET /api/v1/audit/entries?start=&end=`: the canonical bytes of entries `[start, end)`
/// (at most 10,000), each as a JSON string holding the exact bytes.
pub(crate) async fn entries(
    State(st): State<AppState>,
    Query(q): Query<RangeQ>,
) -> Result<Json<Value>, ApiError> {
    if q.start < 0 || q.end < q.start {
        return Err(ApiError::Invalid("need 0 ≤ start ≤ end".into()));
    }
    let rows = st.store.ledger_entries(q.start, q.end).await?;
    let entries: Vec<&str> = rows.iter().map(|e| e.entry.as_str()).collect();
    Ok(Json(json!({ "start": q.start, "entries": entries })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InclusionQ {
    index: u64,
    size: u64,
}

/// `GET /api/v1/audit/proof/inclusion?index=&size=`.
pub(crate) async fn inclusion(
    State(st): State<AppState>,
    Query(q): Query<InclusionQ>,
) -> Result<Json<Value>, ApiError> {
    if q.index >= q.size {
        return Err(ApiError::Invalid(format!(
            "index {} is not below size {}",
            q.index, q.size
        )));
    }
    let p = st.store.ledger_inclusion_proof(q.index, q.size).await?;
    Ok(Json(
        json!({ "index": q.index, "size": q.size, "hashes": b64s(&p) }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsistencyQ {
    old: u64,
    new: u64,
}

/// `GET /api/v1/audit/proof/consistency?old=&new=`.
pub(crate) async fn consistency(
    State(st): State<AppState>,
    Query(q): Query<ConsistencyQ>,
) -> Result<Json<Value>, ApiError> {
    if q.old == 0 || q.old > q.new {
        return Err(ApiError::Invalid(format!(
            "need 0 < old ≤ new, got {} and {}",
            q.old, q.new
        )));
    }
    let p = st.store.ledger_consistency_proof(q.old, q.new).await?;
    Ok(Json(
        json!({ "old": q.old, "new": q.new, "hashes": b64s(&p) }),
    ))
}
