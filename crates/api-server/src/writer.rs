//! The single writer: group commit for check-ins.
//!
//! Handlers send their [`CheckinWrite`] with a reply channel. The writer takes everything
//! waiting (up to `max_batch`), stores it in one transaction, commits (one fsync), and only
//! then answers each handler. While a commit is in flight, new check-ins queue up and form the
//! next batch, so the batch size grows with the load by itself.

use storage::{CheckinWrite, Store};
use tokio::sync::{mpsc, oneshot};

use crate::bump;

pub(crate) struct WriteReq {
    pub(crate) write: CheckinWrite,
    pub(crate) done: oneshot::Sender<bool>,
    pub(crate) metrics: std::sync::Arc<crate::Metrics>,
}

pub(crate) async fn run(
    store: Store,
    mut rx: mpsc::Receiver<WriteReq>,
    max_batch: usize,
    own: OwnEvents,
) {
    let mut batch: Vec<WriteReq> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch.max(1)).await > 0 {
        let writes: Vec<CheckinWrite> = batch.iter().map(|r| r.write.clone()).collect();
        match store.apply_checkins(&writes).await {
            Ok(events) => {
                own.add(events);
                if let Some(r) = batch.first() {
                    bump(&r.metrics.batches);
                }
                for r in batch.drain(..) {
                    let _ = r.done.send(true);
                }
            }
            Err(e) => {
                // One bad write must not fail its neighbours: retry each on its own.
                tracing::warn!(error = %e, size = batch.len(), "batch failed; retrying singly");
                for r in batch.drain(..) {
                    let ok = store.apply_checkins(std::slice::from_ref(&r.write)).await;
                    match &ok {
                        Ok(events) => own.add(events.clone()),
                        Err(e) => tracing::error!(error = %e, "check-in write failed"),
                    }
                    let _ = r.done.send(ok.is_ok());
                }
            }
        }
    }
}

/// The event sequence numbers this server's writer appended, so the event follower does not
/// drop from the cache a device this server has just updated there itself.
#[derive(Clone, Default)]
pub(crate) struct OwnEvents(std::sync::Arc<std::sync::Mutex<Vec<std::ops::Range<i64>>>>);

impl OwnEvents {
    fn add(&self, r: std::ops::Range<i64>) {
        if r.is_empty() {
            return;
        }
        if let Ok(mut v) = self.0.lock() {
            v.push(r);
        }
    }

    /// Whether `seq` is one of ours; ranges entirely at or below `seen` are forgotten.
    pub(crate) fn contains(&self, seq: i64, seen: i64) -> bool {
        let Ok(mut v) = self.0.lock() else {
            return false;
        };
        v.retain(|r| r.end > seen + 1);
        v.iter().any(|r| r.contains(&seq))
    }
}
