//! The audit ledger's storage: the RFC 9162 Merkle tree over `events`, kept as its complete
//! subtrees in `ledger_nodes`, and the signed checkpoints in `ledger_checkpoints`.
//!
//! [`append_leaf`] runs inside the transaction of every event ([`crate::append_event`] is the
//! one place events are written), so no event exists without its leaf and no leaf without its
//! event. An append reads the left siblings it completes (amortized one row, at most 63) and
//! inserts its leaf and new parents in one statement. Proofs first list the stored subtrees
//! they need (the tree math never branches on hash values), fetch them in one query and then
//! compute: O(log n) rows per proof.
//!
//! Leaf index = `seq - 1`; leaf data = [`entry_bytes`] of the event row.

use std::collections::HashMap;

use audit_ledger::{Checkpoint, Frontier, Hash, NodeId, Signer, TreeError};
use serde::Serialize;
use sqlx::{Any, Row, Transaction};

use crate::{lock_counter, now_ms, Result, StorageError, Store};

/// Benchmark switch: when set, events are written without their leaf (see
/// [`bench_skip_leaves`]).
static SKIP_LEAVES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// **Benchmarks only.** Makes this process write events without their ledger leaf, so that a
/// benchmark can compare check-in throughput with the ledger on and off in one run
/// (`bench/serve.sh ledger-onoff`; `interdict serve` sets it from `INTERDICT_BENCH_NO_LEDGER=1`).
/// Nothing is lost: events are still written, and [`Store::connect`] adds the missing leaves
/// (`ledger_backfill`) at the next start. Another server on the same database that has the
/// ledger on refuses to append past the gap (its append finds a left sibling missing).
#[doc(hidden)]
pub fn bench_skip_leaves(skip: bool) {
    SKIP_LEAVES.store(skip, std::sync::atomic::Ordering::Relaxed);
}

/// Whether [`bench_skip_leaves`] is in force.
pub(crate) fn skipping_leaves() -> bool {
    SKIP_LEAVES.load(std::sync::atomic::Ordering::Relaxed)
}

/// The canonical bytes of one event, the ledger's leaf data: canonical JSON with sorted keys
/// `action, actor, at, body, seq, subject`, `body` being the stored canonical body text.
pub fn entry_bytes(
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    body: &str,
) -> String {
    let s = |v: &str| serde_json::Value::String(v.to_owned()).to_string();
    format!(
        "{{\"action\":{},\"actor\":{},\"at\":{at},\"body\":{body},\"seq\":{seq},\"subject\":{}}}",
        s(action),
        s(actor),
        s(subject)
    )
}

fn hex(h: &Hash) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in h {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn unhex(s: &str) -> Result<Hash> {
    let bad = || StorageError::Corrupt(format!("ledger hash {s:?} is not 64 hex digits"));
    if s.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

fn leaf_index(seq: i64) -> Result<u64> {
    u64::try_from(seq - 1).map_err(|_| StorageError::Corrupt(format!("event seq {seq} is below 1")))
}

/// Reads the given stored subtrees (in the transaction or on a pool).
async fn fetch_nodes<'e, E>(exec: E, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let mut out = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut sql = String::from("SELECT level, idx, hash FROM ledger_nodes WHERE ");
    for i in 0..ids.len() {
        if i > 0 {
            sql.push_str(" OR ");
        }
        sql.push_str(&format!(
            "(level = ${} AND idx = ${})",
            2 * i + 1,
            2 * i + 2
        ));
    }
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(i32::from(id.level)).bind(id.index as i64);
    }
    for r in q.fetch_all(exec).await? {
        let level: i32 = r.try_get("level")?;
        let idx: i64 = r.try_get("idx")?;
        let hash: String = r.try_get("hash")?;
        out.insert(
            NodeId {
                level: level as u8,
                index: idx as u64,
            },
            unhex(&hash)?,
        );
    }
    Ok(out)
}

/// Appends the leaf of event `seq` (whose canonical bytes are `entry`) in the caller's
/// transaction: its leaf hash and every parent it completes.
pub(crate) async fn append_leaf(
    tx: &mut Transaction<'static, Any>,
    seq: i64,
    entry: &[u8],
) -> Result<()> {
    let index = leaf_index(seq)?;
    let ones = index.trailing_ones() as u8;
    let lefts: Vec<NodeId> = (0..ones)
        .map(|l| NodeId {
            level: l,
            index: (index >> l) - 1,
        })
        .collect();
    let have = fetch_nodes(&mut **tx, &lefts).await?;
    let mut h = audit_ledger::leaf_hash(entry);
    let mut rows = vec![(0u8, index, h)];
    for id in &lefts {
        let left = have.get(id).ok_or_else(|| {
            StorageError::Corrupt(format!(
                "ledger node {}/{} is missing: the ledger does not match the events (run `interdict audit verify`)",
                id.level, id.index
            ))
        })?;
        h = audit_ledger::node_hash(left, &h);
        rows.push((id.level + 1, index >> (id.level + 1), h));
    }
    let mut sql = String::from("INSERT INTO ledger_nodes (level, idx, hash) VALUES ");
    for i in 0..rows.len() {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3));
    }
    let mut q = sqlx::query(&sql);
    for (level, idx, hash) in &rows {
        q = q.bind(i32::from(*level)).bind(*idx as i64).bind(hex(hash));
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// A stored signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredCheckpoint {
    /// Tree size.
    pub size: i64,
    /// Signing key id (8 hex digits).
    pub key_id: String,
    /// Root hash (hex).
    pub root: String,
    /// The signed note.
    pub note: String,
    /// When it was issued (Unix ms).
    pub created_at: i64,
}

/// Events rows as ledger entries, with the stored leaf hash of each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    /// Leaf index (`seq - 1`).
    pub index: i64,
    /// The canonical entry bytes (UTF-8 JSON).
    pub entry: String,
    /// The stored leaf hash (hex), if any.
    pub leaf_hash: Option<String>,
}

fn checkpoint_row(r: &sqlx::any::AnyRow) -> Result<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        size: r.try_get("size")?,
        key_id: r.try_get("key_id")?,
        root: r.try_get("root")?,
        note: r.try_get("note")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Most entries returned by one [`Store::ledger_entries`] call.
pub const MAX_ENTRIES_PAGE: i64 = 10_000;

impl Store {
    /// Number of leaves in the ledger.
    pub async fn ledger_size(&self) -> Result<i64> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(MAX(idx) + 1, 0) AS BIGINT) AS n FROM ledger_nodes WHERE level = 0",
        )
        .fetch_one(&self.read)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Adds the leaves of events that have none (a database from before the ledger), in
    /// chunks, each under the event counter lock. Returns how many were added.
    pub async fn ledger_backfill(&self) -> Result<i64> {
        let mut added = 0;
        loop {
            let mut tx = self.begin().await?;
            lock_counter(&mut tx).await?;
            let size: i64 = sqlx::query(
                "SELECT CAST(COALESCE(MAX(idx) + 1, 0) AS BIGINT) AS n FROM ledger_nodes WHERE level = 0",
            )
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            let rows = sqlx::query(
                "SELECT seq, at, actor, action, subject, body FROM events WHERE seq > $1 ORDER BY seq LIMIT 5000",
            )
            .bind(size)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                tx.rollback().await?;
                return Ok(added);
            }
            for r in &rows {
                let seq: i64 = r.try_get("seq")?;
                let entry = entry_bytes(
                    seq,
                    r.try_get("at")?,
                    &r.try_get::<String, _>("actor")?,
                    &r.try_get::<String, _>("action")?,
                    &r.try_get::<String, _>("subject")?,
                    &r.try_get::<String, _>("body")?,
                );
                append_leaf(&mut tx, seq, entry.as_bytes()).await?;
                added += 1;
            }
            tx.commit().await?;
        }
    }

    /// Reads the stored subtrees a proof needs and runs `f` over them: first with a recording
    /// getter (to learn which), then with the fetched hashes.
    async fn with_nodes<T>(
        &self,
        f: impl Fn(
            &mut dyn FnMut(NodeId) -> std::result::Result<Hash, TreeError>,
        ) -> std::result::Result<T, TreeError>,
    ) -> Result<T> {
        let mut ids = Vec::new();
        f(&mut |id| {
            ids.push(id);
            Ok([0u8; 32])
        })
        .map_err(tree_err)?;
        ids.sort_unstable();
        ids.dedup();
        let have = fetch_nodes(&self.read, &ids).await?;
        f(&mut |id| {
            have.get(&id).copied().ok_or(TreeError::Missing {
                level: id.level,
                index: id.index,
            })
        })
        .map_err(tree_err)
    }

    /// The root hash of the tree of `size` leaves (≤ [`Store::ledger_size`]).
    pub async fn ledger_root(&self, size: u64) -> Result<Hash> {
        self.with_nodes(|get| audit_ledger::root_hash(size, &mut |id| get(id)))
            .await
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves.
    pub async fn ledger_inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        self.check_size(size).await?;
        self.with_nodes(|get| audit_ledger::inclusion_proof(index, size, &mut |id| get(id)))
            .await
    }

    /// The consistency proof between the trees of `old` and `new` leaves.
    pub async fn ledger_consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        self.check_size(new).await?;
        self.with_nodes(|get| audit_ledger::consistency_proof(old, new, &mut |id| get(id)))
            .await
    }

    async fn check_size(&self, size: u64) -> Result<()> {
        let have = self.ledger_size().await?;
        if size > have as u64 {
            return Err(StorageError::Conflict(format!(
                "tree size {size} is larger than the ledger ({have} entries)"
            )));
        }
        Ok(())
    }

    /// Ledger entries `[start, end)` (leaf indexes), at most [`MAX_ENTRIES_PAGE`], with their
    /// stored leaf hashes.
    pub async fn ledger_entries(&self, start: i64, end: i64) -> Result<Vec<LedgerEntry>> {
        let end = end.min(start.saturating_add(MAX_ENTRIES_PAGE));
        let rows = sqlx::query(
            "SELECT e.seq, e.at, e.actor, e.action, e.subject, e.body, n.hash FROM events e \
             LEFT JOIN ledger_nodes n ON n.level = 0 AND n.idx = e.seq - 1 \
             WHERE e.seq > $1 AND e.seq <= $2 ORDER BY e.seq",
        )
        .bind(start)
        .bind(end)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                let seq: i64 = r.try_get("seq")?;
                Ok(LedgerEntry {
                    index: seq - 1,
                    entry: entry_bytes(
                        seq,
                        r.try_get("at")?,
                        &r.try_get::<String, _>("actor")?,
                        &r.try_get::<String, _>("action")?,
                        &r.try_get::<String, _>("subject")?,
                        &r.try_get::<String, _>("body")?,
                    ),
                    leaf_hash: r.try_get("hash")?,
                })
            })
            .collect()
    }

    /// Signs a checkpoint of the current tree with `signer` (origin = the key name) and stores
    /// it; if the newest checkpoint by this key already covers the whole tree, returns it.
    pub async fn ledger_sign_checkpoint(&self, signer: &Signer) -> Result<StoredCheckpoint> {
        let size = self.ledger_size().await?;
        let key_id = format!("{:08x}", signer.id());
        let existing = sqlx::query(
            "SELECT size, key_id, root, note, created_at FROM ledger_checkpoints \
             WHERE size = $1 AND key_id = $2",
        )
        .bind(size)
        .bind(&key_id)
        .fetch_optional(&self.read)
        .await?;
        if let Some(r) = existing {
            return checkpoint_row(&r);
        }
        let root = self.ledger_root(size as u64).await?;
        let cp = Checkpoint {
            origin: signer.name().to_owned(),
            size: size as u64,
            root,
            extensions: vec![],
        };
        let note = cp
            .sign(signer)
            .map_err(|e| StorageError::Check(format!("signing the checkpoint: {e}")))?;
        let stored = StoredCheckpoint {
            size,
            key_id,
            root: hex(&root),
            note,
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO ledger_checkpoints (size, key_id, root, note, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (size, key_id) DO NOTHING",
        )
        .bind(stored.size)
        .bind(&stored.key_id)
        .bind(&stored.root)
        .bind(&stored.note)
        .bind(stored.created_at)
        .execute(&self.write)
        .await?;
        Ok(stored)
    }

    /// The newest checkpoint (largest tree, then newest).
    pub async fn ledger_latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>> {
        let r = sqlx::query(
            "SELECT size, key_id, root, note, created_at FROM ledger_checkpoints \
             ORDER BY size DESC, created_at DESC LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await?;
        r.as_ref().map(checkpoint_row).transpose()
    }

    /// Checkpoints with `size >= from`, smallest first, at most `limit` (1..=1000).
    pub async fn ledger_checkpoints(&self, from: i64, limit: i64) -> Result<Vec<StoredCheckpoint>> {
        let rows = sqlx::query(
            "SELECT size, key_id, root, note, created_at FROM ledger_checkpoints \
             WHERE size >= $1 ORDER BY size, created_at LIMIT $2",
        )
        .bind(from)
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(checkpoint_row).collect()
    }

    /// The first checkpoint issued at or after time `at` (Unix ms) whose tree covers every
    /// event up to `at`: the checkpoint an auditor uses for a report as of `at`.
    pub async fn ledger_checkpoint_covering(&self, at: i64) -> Result<Option<StoredCheckpoint>> {
        let last: i64 = sqlx::query(
            "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) AS n FROM events WHERE at <= $1",
        )
        .bind(at)
        .fetch_one(&self.read)
        .await?
        .try_get("n")?;
        let r = sqlx::query(
            "SELECT size, key_id, root, note, created_at FROM ledger_checkpoints \
             WHERE size >= $1 ORDER BY size, created_at LIMIT 1",
        )
        .bind(last)
        .fetch_optional(&self.read)
        .await?;
        r.as_ref().map(checkpoint_row).transpose()
    }

    /// Rebuilds the tree from the stored leaf hashes and compares every stored parent: the
    /// first inconsistency, if any (for `interdict audit` on a data directory and for tests).
    pub async fn ledger_self_check(&self) -> Result<Option<String>> {
        let size = self.ledger_size().await?;
        let last = self.last_event_seq().await?;
        if size != last {
            return Ok(Some(format!(
                "ledger has {size} leaves but there are {last} events"
            )));
        }
        let mut frontier = Frontier::new();
        let mut start = 0i64;
        while start < size {
            let page = self.ledger_entries(start, start + MAX_ENTRIES_PAGE).await?;
            if page.is_empty() {
                break;
            }
            for e in &page {
                if e.index != frontier.size() as i64 {
                    return Ok(Some(format!(
                        "event with seq {} is missing",
                        frontier.size() + 1
                    )));
                }
                let leaf = audit_ledger::leaf_hash(e.entry.as_bytes());
                if e.leaf_hash.as_deref() != Some(hex(&leaf).as_str()) {
                    return Ok(Some(format!(
                        "entry {} (seq {}) does not match its stored leaf hash",
                        e.index,
                        e.index + 1
                    )));
                }
                frontier.push(leaf);
            }
            start = page.last().map_or(size, |e| e.index + 1);
        }
        let stored = self.ledger_root(size as u64).await?;
        if stored != frontier.root() {
            return Ok(Some("stored subtree hashes do not match the leaves".into()));
        }
        Ok(None)
    }
}

fn tree_err(e: TreeError) -> StorageError {
    match e {
        TreeError::BadRequest(m) => StorageError::Conflict(m),
        other => StorageError::Corrupt(other.to_string()),
    }
}

/// Lowercase hex of a hash.
pub fn hash_hex(h: &Hash) -> String {
    hex(h)
}
