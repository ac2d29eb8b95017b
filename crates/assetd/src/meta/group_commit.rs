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

use super::{Asset, MetaError};
use crate::timestamp::to_millis;

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
}

impl InsertQueue {
    /// Starts `writers` on a task each; they stop when every queue handle is dropped. With one
    /// writer, batches commit one after the other (SQLite's single write lock allows no more).
    /// With several, a batch fills while others are committing, which hides the commit's
    /// latency (PostgreSQL's round trips and WAL flush) instead of waiting it out.
    pub fn spawn<W: BatchWriter>(writers: impl IntoIterator<Item = W>) -> Self {
        let (inserts, queue) = mpsc::channel(4 * MAX_BATCH);
        let queue = Arc::new(Mutex::new(queue));
        for writer in writers {
            tokio::spawn(run(writer, queue.clone()));
        }
        Self { inserts }
    }

    /// Inserts `asset` in the next batch; returns once that batch has committed.
    pub async fn insert(&self, asset: &Asset) -> Result<(), MetaError> {
        let (reply, outcome) = oneshot::channel();
        let closed = || MetaError::Backend(sqlx::Error::PoolClosed);
        self.inserts
            .send((asset.clone(), reply))
            .await
            .map_err(|_| closed())?;
        outcome.await.map_err(|_| closed())?
    }
}

async fn run(mut writer: impl BatchWriter, queue: Arc<Mutex<mpsc::Receiver<PendingInsert>>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut assets = Vec::with_capacity(MAX_BATCH);
    // The lock is held only while taking a batch, never while committing it.
    while queue.lock().await.recv_many(&mut batch, MAX_BATCH).await > 0 {
        assets.extend(batch.iter().map(|(asset, _)| asset.clone()));
        let outcomes = writer.commit_batch(&assets).await;
        assets.clear();
        for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
            // The caller may have gone (client disconnect); its row is committed regardless.
            let _ = reply.send(outcome);
        }
    }
}

/// The outcome of every asset of a batch whose transaction failed as a whole.
pub fn all_failed(batch: &[Asset], e: &sqlx::Error) -> Vec<Result<(), MetaError>> {
    batch
        .iter()
        .map(|_| {
            Err(MetaError::Backend(sqlx::Error::Protocol(format!(
                "insert batch failed: {e}"
            ))))
        })
        .collect()
}

/// The multi-row INSERT of a batch, in any backend's placeholder style. Not to be cached as a
/// prepared statement: its shape changes with the batch size.
pub fn insert_statement<'a, DB>(batch: &'a [Asset]) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::QueryBuilder::<DB>::new(
        "INSERT INTO assets (id, site_id, folder_id, original_file_name, display_name, alt_text, \
         content_type, file_hash, storage_key, size, state, upload_expires_at, created_on, last_updated) ",
    );
    query.push_values(batch, |mut row, asset| {
        row.push_bind(asset.id.to_string())
            .push_bind(asset.site_id.to_string())
            .push_bind(asset.folder_id.map(|f| f.to_string()))
            .push_bind(asset.original_file_name.as_str())
            .push_bind(asset.display_name.as_str())
            .push_bind(asset.alt_text.clone())
            .push_bind(asset.content_type.as_str())
            .push_bind(asset.file_hash.as_str())
            .push_bind(asset.storage_key.as_str())
            .push_bind(asset.size)
            .push_bind(asset.state.as_str())
            .push_bind(to_millis(asset.upload_expires_at))
            .push_bind(to_millis(asset.created_on))
            .push_bind(to_millis(asset.last_updated));
    });
    query
}
