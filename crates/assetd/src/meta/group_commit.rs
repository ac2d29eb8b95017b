//! Group commit for Upload Asset's inserts, the hottest write, shared by every SQL backend.
//!
//! A commit costs far more than an insert (an fsync for SQLite; a round trip, a WAL flush and
//! per-transaction work for PostgreSQL), so concurrent inserts are queued to one dedicated
//! connection that takes everything waiting (up to [`MAX_BATCH`]) into one transaction. Each
//! caller is answered only after that transaction commits, so no acknowledged insert can be lost,
//! and a failing insert (a constraint) fails alone: the backend retries the batch row by row.

use std::future::Future;

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Asset, MetaError};

/// Most inserts one transaction takes.
pub const MAX_BATCH: usize = 256;

/// An asset waiting for the writer, and where to report its outcome.
type PendingInsert = (Asset, oneshot::Sender<Result<(), MetaError>>);

/// A backend's writer: commits a batch in one transaction and returns one outcome per asset, in
/// order.
pub trait BatchWriter: Send + 'static {
    /// Inserts `batch`.
    fn commit_batch(
        &mut self,
        batch: &[Asset],
    ) -> impl Future<Output = Vec<Result<(), MetaError>>> + Send;
}

/// The queue in front of a [`BatchWriter`] running on its own task.
#[derive(Debug, Clone)]
pub struct InsertQueue {
    inserts: mpsc::Sender<PendingInsert>,
    stop: CancellationToken,
    writers: TaskTracker,
}

impl InsertQueue {
    /// Starts `writers` on a task each; they stop when every queue handle is dropped. With one
    /// writer, batches commit one after the other (SQLite's single write lock allows no more).
    /// With several, a batch fills while others are committing, which hides the commit's
    /// latency instead of waiting it out, at the cost of concurrent transactions contending
    /// (PostgreSQL's backend measured fastest with one; see `postgres::PG_WRITERS`).
    pub fn spawn<W: BatchWriter>(writers: impl IntoIterator<Item = W>) -> Self {
        let (inserts, queue) = mpsc::channel(4 * MAX_BATCH);
        let queue = Arc::new(Mutex::new(queue));
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        for writer in writers {
            tasks.spawn(run(writer, queue.clone(), stop.clone()));
        }
        tasks.close();
        Self {
            inserts,
            stop,
            writers: tasks,
        }
    }

    /// Stops taking inserts, commits every one already queued (each caller gets its answer),
    /// and returns once the writers have stopped.
    pub async fn close(&self) {
        self.stop.cancel();
        self.writers.wait().await;
    }

    /// Inserts `asset` in the next batch; returns once that batch has committed.
    pub async fn insert(&self, asset: &Asset) -> Result<(), MetaError> {
        let (reply, outcome) = oneshot::channel();
        let closed = || MetaError::Unavailable("the insert queue is closed".to_owned());
        self.inserts
            .send((asset.clone(), reply))
            .await
            .map_err(|_| closed())?;
        outcome.await.map_err(|_| closed())?
    }
}

async fn run(
    mut writer: impl BatchWriter,
    queue: Arc<Mutex<mpsc::Receiver<PendingInsert>>>,
    stop: CancellationToken,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut assets = Vec::with_capacity(MAX_BATCH);
    let mut replies = Vec::with_capacity(MAX_BATCH);
    // The lock is held only while taking a batch, never while committing it. Once stopped,
    // the queue is closed to new inserts and what it holds is still committed.
    while take_batch(&queue, &mut batch, &stop).await > 0 {
        for (asset, reply) in batch.drain(..) {
            assets.push(asset);
            replies.push(reply);
        }
        let outcomes = writer.commit_batch(&assets).await;
        assets.clear();
        for (reply, outcome) in replies.drain(..).zip(outcomes) {
            // The caller may have gone (client disconnect); its row is committed regardless.
            let _ = reply.send(outcome);
        }
    }
}

async fn take_batch(
    queue: &Mutex<mpsc::Receiver<PendingInsert>>,
    batch: &mut Vec<PendingInsert>,
    stop: &CancellationToken,
) -> usize {
    let mut queue = queue.lock().await;
    tokio::select! {
        biased;
        taken = queue.recv_many(batch, MAX_BATCH) => taken,
        () = stop.cancelled() => {
            queue.close();
            queue.recv_many(batch, MAX_BATCH).await
        }
    }
}

/// How a backend inserts assets over one connection, for [`insert_batch`].
pub trait RowInsert: Send {
    /// Inserts the whole batch in one statement: every row or, on failure, none.
    fn insert_many(
        &mut self,
        batch: &[Asset],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Inserts one asset, with its constraint failures as their [`MetaError`].
    fn insert_one(&mut self, asset: &Asset) -> impl Future<Output = Result<(), MetaError>> + Send;
}

/// Inserts a batch and returns one outcome per asset, in order.
///
/// One multi-row INSERT, committed on its own: a single statement is atomic, so BEGIN and
/// COMMIT around it would only add round trips. If it fails (a constraint, rare: ids and keys
/// are unique by construction), none of its rows was written, and the rows are inserted one by
/// one, each committed on its own, so each caller gets its own outcome.
pub async fn insert_batch<C: RowInsert>(
    conn: &mut C,
    batch: &[Asset],
) -> Vec<Result<(), MetaError>> {
    if batch.len() > 1 && conn.insert_many(batch).await.is_ok() {
        return batch.iter().map(|_| Ok(())).collect();
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    for asset in batch {
        outcomes.push(conn.insert_one(asset).await);
    }
    outcomes
}

/// The outcome of every asset of a batch whose transaction failed as a whole.
pub fn all_failed(batch: &[Asset], e: &sqlx::Error) -> Vec<Result<(), MetaError>> {
    // sqlx's error is not Clone: each caller gets a copy of its text, and of whether the
    // database was unavailable (503) or the batch failed otherwise (500).
    let unavailable = super::sqlx_is_unavailable(e);
    batch
        .iter()
        .map(|_| {
            let why = format!("insert batch failed: {e}");
            Err(if unavailable {
                MetaError::Unavailable(why)
            } else {
                MetaError::Backend(sqlx::Error::Protocol(why))
            })
        })
        .collect()
}
