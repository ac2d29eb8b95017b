//! The embedded metadata backend: one SQLite file in the data directory, WAL mode, migrations
//! compiled into the binary. The queries are [`super::sql`]'s; this module opens the database,
//! runs its group-commit writer and WAL checkpoints, and supplies SQLite's [`Dialect`].

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, SqliteConnection};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::dialect::Dialect;
use super::group_commit::{BatchWriter, InsertQueue, RowInsert, insert_batch};
use super::sql::{SqlMeta, insert_outcome};
use super::statements::insert_statement;
use super::{Asset, MetaError, VariantJob, rows};
use crate::ids::ObjectId;
use crate::timestamp::to_millis;
use crate::variant_plan::VariantFormat;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Metadata in a SQLite database.
pub type SqliteMeta = SqlMeta<Sqlite>;

/// SQLite's side of the SQL layer, and the WAL checkpoint task it owns.
#[derive(Debug, Clone)]
pub struct Sqlite {
    /// Stops the WAL checkpoint task.
    checkpoints: CancellationToken,
    checkpointer: TaskTracker,
    /// The write gate the group-commit writer and the checkpoints take, also taken by
    /// [`Dialect::mark_uploaded`].
    gate: WriteGate,
}

impl SqlMeta<Sqlite> {
    /// Opens (creating if needed) the database at `path` and runs pending migrations.
    pub async fn open(path: &Path) -> Result<Self, MetaError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across process crashes in WAL mode; only an OS crash can lose
            // the last transactions, never corrupt the file.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Checkpoints run from a background task instead of inside whichever commit crosses
            // the threshold: an in-line checkpoint stalls that writer (and every insert queued
            // behind it) for the length of a database fsync.
            .pragma("wal_autocheckpoint", "0")
            .pragma("journal_size_limit", WAL_SIZE_LIMIT);
        let (pool, writer) = connect(&options, 8).await?;
        let gate = WriteGate::default();
        let inserts = InsertQueue::spawn([SqliteWriter {
            conn: writer,
            gate: gate.clone(),
        }]);
        let checkpoints = CancellationToken::new();
        let checkpointer = TaskTracker::new();
        checkpointer.spawn(checkpoint_periodically(
            pool.clone(),
            gate.clone(),
            checkpoints.clone(),
        ));
        checkpointer.close();
        Ok(Self {
            pool,
            inserts,
            outbox: Default::default(),
            dialect: Sqlite {
                checkpoints,
                checkpointer,
                gate,
            },
        })
    }
}

impl SqlMeta<Sqlite> {
    /// Opens the existing database at `path` beside the service that owns it (`assetd verify`,
    /// `assetd backup`): no checkpoint task (the service's does that), and a missing file is an
    /// error rather than a new empty database. Pending migrations run as at start-up.
    pub async fn open_beside(path: &Path) -> Result<Self, MetaError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(false)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let (pool, writer) = connect(&options, 4).await?;
        let gate = WriteGate::default();
        let inserts = InsertQueue::spawn([SqliteWriter {
            conn: writer,
            gate: gate.clone(),
        }]);
        let checkpointer = TaskTracker::new();
        checkpointer.close();
        Ok(Self {
            pool,
            inserts,
            outbox: Default::default(),
            dialect: Sqlite {
                checkpoints: CancellationToken::new(),
                checkpointer,
                gate,
            },
        })
    }

    /// Writes a consistent copy of the whole database to `dest` (which must not exist) while
    /// the service goes on writing: `VACUUM INTO` reads inside one read transaction, so the
    /// copy holds exactly the transactions committed before it began, and, in WAL mode,
    /// neither blocks writers nor waits for them.
    pub async fn snapshot_into(&self, dest: &Path) -> Result<(), MetaError> {
        let dest = dest.to_str().ok_or_else(|| {
            MetaError::Unavailable(format!("{} is not a UTF-8 path", dest.display()))
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(dest)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// A pool of `connections`, migrated, and the group-commit writer's own connection (SQLite has
/// one writer at a time).
async fn connect(
    options: &SqliteConnectOptions,
    connections: u32,
) -> Result<(SqlitePool, SqliteConnection), MetaError> {
    let pool = SqlitePoolOptions::new()
        .max_connections(connections)
        // sqlx pings an idle connection before lending it, by default: for SQLite a round trip
        // to the connection's thread and back (two thread switches) before every statement,
        // to test a "connection" to a local file that cannot hang up. Importing 2,000 small
        // files, these pings were a fifth of the server's thread switches.
        .test_before_acquire(false)
        .acquire_timeout(super::ACQUIRE_TIMEOUT)
        .connect_with(options.clone())
        .await?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| MetaError::Backend(e.into()))?;
    let writer = SqliteConnection::connect_with(options).await?;
    Ok((pool, writer))
}

/// How long a statement waits for a lock another connection holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the WAL is copied into the database file. A checkpoint fsyncs the WAL and the
/// database, and the creates committing meanwhile wait: each checkpoint delays the creates around
/// it by 5–30 ms, and a larger checkpoint longer (every 10 s: up to 75 ms). Measured with 64
/// connections for 20 s, create p99 was 14–18 ms checkpointing every second, 20–25 ms every
/// 10 s and 11.3–11.5 ms every 250 ms; at one connection, 250 ms and 1 s delayed as many
/// requests.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The size the WAL is cut back to when it starts over, should a burst or a long reader have
/// let it grow.
const WAL_SIZE_LIMIT: &str = "67108864";

/// Copies the WAL into the database file every [`CHECKPOINT_EVERY`] and makes the next commit
/// start the WAL over, so it stays at a fraction of a second of writes. Stops when the pool is
/// closed.
///
/// Two steps: PASSIVE checkpoints copy nearly everything without blocking the writer, then
/// a RESTART checkpoint copies the few frames committed meanwhile while holding the writer
/// back (between two batches: [`WriteGate`]). PASSIVE alone never lets the WAL start over
/// under a steady stream of commits (a new frame is always appended before the copy ends): the
/// WAL grew to 2.36 GB in one 20 s create benchmark, and every commit paid for the file's new
/// blocks (the kernel zeroing them was 13 % of assetd's CPU in create benchmarks).
async fn checkpoint_periodically(pool: SqlitePool, gate: WriteGate, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(CHECKPOINT_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if pool.is_closed() {
            return;
        }
        if let Err(e) = checkpoint(&pool, &gate).await {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

async fn checkpoint(pool: &SqlitePool, gate: &WriteGate) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    // The first pass copies the quarter second of commits (~30 ms under load); the second only
    // what was committed during the first, so RESTART, which holds the writer back, has less
    // left to do. Create p99 with the gate, three interleaved rounds: 6.2/6.6/6.6 ms with one
    // pass, 4.6/4.8/5.4 ms with two.
    for _pass in 0..2 {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut *conn)
            .await?;
    }
    // RESTART holds the write lock while it waits for readers of the old WAL to finish: wait
    // at most RESTART_WAIT (writers queue behind it meanwhile); a checkpoint that cannot finish
    // in time is simply tried again at the next tick.
    sqlx::query(&format!(
        "PRAGMA busy_timeout = {}",
        RESTART_WAIT.as_millis()
    ))
    .execute(&mut *conn)
    .await?;
    let restarted = {
        let _between_batches = gate.lock().await;
        sqlx::query("PRAGMA wal_checkpoint(RESTART)")
            .execute(&mut *conn)
            .await
    };
    sqlx::query(&format!(
        "PRAGMA busy_timeout = {}",
        BUSY_TIMEOUT.as_millis()
    ))
    .execute(&mut *conn)
    .await?;
    restarted.map(|_| ())
}

/// How long a RESTART checkpoint may wait for readers.
const RESTART_WAIT: Duration = Duration::from_millis(100);

/// Taken by the group-commit writer for each batch and by the RESTART checkpoint, so the two
/// take turns in the process instead of meeting on SQLite's write lock.
///
/// SQLite waits for a lock by sleeping 1, 2, 5, 10 ms… between tries, so a batch that met a
/// 4–5 ms RESTART slept until 8 ms: batches overlapping a checkpoint took 8.7 ms on average,
/// and they were most of create's p99. A tokio mutex wakes the writer the moment the
/// checkpoint is done, and the checkpoint starts between two batches rather than retrying
/// until it catches the writer idle.
type WriteGate = Arc<tokio::sync::Mutex<()>>;

/// The group-commit writer's connection.
struct SqliteWriter {
    conn: SqliteConnection,
    gate: WriteGate,
}

impl BatchWriter for SqliteWriter {
    async fn commit_batch(&mut self, batch: &[Asset]) -> Vec<Result<(), MetaError>> {
        let _turn = self.gate.lock().await;
        // Each statement is a round trip to sqlx's SQLite thread, which is what limits
        // throughput: the batch goes in as one.
        insert_batch(&mut self.conn, batch).await
    }
}

impl RowInsert for SqliteConnection {
    fn insert_many(
        &mut self,
        batch: &[Asset],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        insert_many(self, batch)
    }

    fn insert_one(&mut self, asset: &Asset) -> impl Future<Output = Result<(), MetaError>> + Send {
        insert_one(self, asset)
    }
}

async fn insert_many(conn: &mut SqliteConnection, batch: &[Asset]) -> Result<(), sqlx::Error> {
    insert_statement::<sqlx::Sqlite>(batch)
        .build()
        .persistent(false)
        .execute(conn)
        .await
        .map(|_| ())
}

async fn insert_one(conn: &mut SqliteConnection, asset: &Asset) -> Result<(), MetaError> {
    let result = insert_statement::<sqlx::Sqlite>(std::slice::from_ref(asset))
        .build()
        .execute(conn)
        .await;
    insert_outcome(result, asset)
}

/// The Content-Types that get variants, as a JSON array for `json_each`.
fn raster_content_types() -> Result<String, MetaError> {
    serde_json::to_string(&VariantFormat::CONTENT_TYPES)
        .map_err(|e| MetaError::Backend(sqlx::Error::Encode(Box::new(e))))
}

impl Dialect for Sqlite {
    type Db = sqlx::Sqlite;
    /// A JSON array of the ids (validated 24-hex values), for `json_each`.
    type IdList = String;

    const IN_ID_LIST: &'static str = " IN (SELECT value FROM json_each($1))";
    const IN_TREE: &'static str = " IN (SELECT id FROM tree)";
    const TREE_PAGE_PER_FOLDER: Option<&'static str> = None;
    const ROW_LOCKS: bool = false;
    const BEGIN_WRITE: Option<&'static str> = Some("BEGIN IMMEDIATE");
    const BEGIN_SNAPSHOT: &'static str = "BEGIN";

    fn id_list(ids: &[ObjectId]) -> Result<String, MetaError> {
        serde_json::to_string(&ids.iter().map(ToString::to_string).collect::<Vec<_>>())
            .map_err(|e| MetaError::Backend(sqlx::Error::Encode(Box::new(e))))
    }

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    async fn stop_tasks(&self) {
        self.checkpoints.cancel();
        self.checkpointer.wait().await;
    }

    async fn mark_uploaded(
        &self,
        pool: &SqlitePool,
        id: ObjectId,
        size: i64,
        now: DateTime<Utc>,
        event: ObjectId,
    ) -> Result<Option<u64>, MetaError> {
        // In turn with the insert batches and checkpoints: SQLite's own wait for its write lock
        // sleeps 1, 2, 5… ms between tries, and the upload waits that long for a lock held
        // microseconds (an import of 2,000 small files met such sleeps about 800 times).
        let _turn = self.gate.lock().await;
        // Most uploads are not images, queue no variant job and have no webhook listening: for
        // them one statement in autocommit does it all, instead of a transaction of four round
        // trips to the connection's thread (BEGIN, UPDATE, INSERT, COMMIT), each a pair of
        // thread wake-ups. Whether a webhook listens is tested in the same statement, so a
        // webhook committed before it is never missed.
        let plain = sqlx::query(
            "UPDATE assets SET state = 'uploaded', size = $1, last_updated = $2 \
             WHERE id = $3 AND content_type NOT IN (SELECT value FROM json_each($4)) \
             AND NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.site_id = assets.site_id \
               AND w.trigger_type = 'asset_created')",
        )
        .bind(size)
        .bind(to_millis(now))
        .bind(id.to_string())
        .bind(raster_content_types()?)
        .execute(pool)
        .await?;
        if plain.rows_affected() == 1 {
            return Ok(Some(0));
        }
        // An image, a listened site (or an asset that is gone): the update, its variant job and
        // its event commit together. The first update takes only an asset not uploaded yet, so
        // its row is the new upload an event announces; a repeated upload of an uploaded asset
        // takes the second and is no event.
        let mut tx = pool.begin().await?;
        let mark = "UPDATE assets SET state = 'uploaded', size = $1, last_updated = $2 \
             WHERE id = $3";
        let fresh = sqlx::query(&format!("{mark} AND state <> 'uploaded' RETURNING *"))
            .bind(size)
            .bind(to_millis(now))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if fresh.is_none() {
            let again = sqlx::query(mark)
                .bind(size)
                .bind(to_millis(now))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            if again.rows_affected() != 1 {
                return Ok(None);
            }
        }
        sqlx::query(
            "INSERT INTO variant_jobs (asset_id, queued_at) SELECT id, $1 FROM assets \
             WHERE id = $2 AND content_type IN (SELECT value FROM json_each($3)) \
             ON CONFLICT (asset_id) DO NOTHING",
        )
        .bind(to_millis(now))
        .bind(id.to_string())
        .bind(raster_content_types()?)
        .execute(&mut *tx)
        .await?;
        let mut queued = 0;
        if let Some(row) = fresh {
            let asset = rows::asset(&row)?;
            let snapshot = serde_json::to_string(&super::webhooks::asset_snapshot(&asset))
                .map_err(|e| MetaError::Backend(sqlx::Error::Encode(Box::new(e))))?;
            queued = super::webhooks::enqueue::<Self>(
                &mut *tx,
                &super::webhooks::OutboxEvent {
                    id: event,
                    site: asset.site_id,
                    trigger: crate::webhook_events::Trigger::AssetCreated,
                    snapshot: &snapshot,
                    at: now,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(queued))
    }

    async fn claim_variant_job(
        pool: &SqlitePool,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<VariantJob>, MetaError> {
        // Look first, write only when there is a job: an idle worker polling must not take the
        // database's one write lock away from uploads.
        let Some(asset): Option<String> = sqlx::query_scalar(
            "SELECT asset_id FROM variant_jobs WHERE claimed_until <= $1 \
             ORDER BY queued_at LIMIT 1",
        )
        .bind(to_millis(now))
        .fetch_optional(pool)
        .await?
        else {
            return Ok(None);
        };
        let claimed = sqlx::query(
            "UPDATE variant_jobs SET claimed_until = $1, attempts = attempts + 1 \
             WHERE asset_id = $2 AND claimed_until <= $3 RETURNING asset_id, attempts",
        )
        .bind(to_millis(lease_until))
        .bind(&asset)
        .bind(to_millis(now))
        .fetch_optional(pool)
        .await?;
        claimed.as_ref().map(rows::variant_job).transpose()
    }
}
