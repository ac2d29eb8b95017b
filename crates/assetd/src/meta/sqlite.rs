//! The embedded metadata backend: one SQLite file in the data directory, WAL mode, migrations
//! compiled into the binary.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Row, SqliteConnection};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::group_commit::{BatchWriter, InsertQueue, RowInsert, insert_batch};
use super::statements::{insert_statement, plan_variants_statement};
use super::{
    Asset, AssetChanges, AssetCounts, Folder, MetaError, MetaStore, Page, PageRequest, Site,
    TokenGrant, Variant, VariantJob, VariantOutcome, keep_until, rows, variant_outcome_columns,
};
use crate::ids::ObjectId;
use crate::scopes::Scopes;
use crate::timestamp::to_millis;
use crate::tokens::TokenHash;
use crate::variants::plan::VariantFormat;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Metadata in a SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteMeta {
    pool: SqlitePool,
    inserts: InsertQueue,
    /// Stops the WAL checkpoint task.
    checkpoints: CancellationToken,
    checkpointer: TaskTracker,
}

impl SqliteMeta {
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
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(super::ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| MetaError::Backend(e.into()))?;
        // SQLite has one writer at a time: the group-commit writer owns a connection of its own.
        let writer = SqliteConnection::connect_with(&options).await?;
        let gate = WriteGate::default();
        let inserts = InsertQueue::spawn([SqliteWriter {
            conn: writer,
            gate: gate.clone(),
        }]);
        let checkpoints = CancellationToken::new();
        let checkpointer = TaskTracker::new();
        checkpointer.spawn(checkpoint_periodically(
            pool.clone(),
            gate,
            checkpoints.clone(),
        ));
        checkpointer.close();
        Ok(Self {
            pool,
            inserts,
            checkpoints,
            checkpointer,
        })
    }

    /// The underlying pool, for tests that inspect the schema.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// The folder `?1` of site `?2` and all its descendants, as the CTE `tree(id)`.
const FOLDER_TREE: &str = "WITH RECURSIVE tree(id) AS ( \
     SELECT id FROM asset_folders WHERE id = ?1 AND site_id = ?2 \
     UNION SELECT f.id FROM asset_folders f JOIN tree t ON f.parent_folder = t.id)";

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
    let result = sqlx::query(
        "INSERT INTO assets (id, site_id, folder_id, original_file_name, display_name, alt_text, \
         content_type, file_hash, storage_key, size, state, upload_expires_at, created_on, last_updated) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(asset.id.to_string())
    .bind(asset.site_id.to_string())
    .bind(asset.folder_id.map(|f| f.to_string()))
    .bind(&asset.original_file_name)
    .bind(&asset.display_name)
    .bind(&asset.alt_text)
    .bind(&asset.content_type)
    .bind(&asset.file_hash)
    .bind(&asset.storage_key)
    .bind(asset.size)
    .bind(asset.state.as_str())
    .bind(to_millis(asset.upload_expires_at))
    .bind(to_millis(asset.created_on))
    .bind(to_millis(asset.last_updated))
    .execute(conn)
    .await;
    match result {
        Err(e) if is_foreign_key_violation(&e) => Err(MetaError::UnknownSite(asset.site_id)),
        Err(e) if is_unique_violation(&e) => {
            Err(MetaError::Conflict("asset id or key already exists".into()))
        }
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// The Content-Types that get variants, as a JSON array for `json_each`.
fn raster_content_types() -> Result<String, MetaError> {
    serde_json::to_string(&VariantFormat::CONTENT_TYPES)
        .map_err(|e| MetaError::Backend(sqlx::Error::Encode(Box::new(e))))
}

/// Ids as a JSON array for `json_each` (ids are validated 24-hex values).
fn id_array(ids: &[ObjectId]) -> Result<String, MetaError> {
    serde_json::to_string(&ids.iter().map(ToString::to_string).collect::<Vec<_>>())
        .map_err(|e| MetaError::Backend(sqlx::Error::Encode(Box::new(e))))
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

#[async_trait]
impl MetaStore for SqliteMeta {
    async fn close(&self) {
        self.inserts.close().await;
        self.checkpoints.cancel();
        self.checkpointer.wait().await;
        self.pool.close().await;
    }

    async fn ping(&self) -> Result<(), MetaError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_site(&self, site: &Site) -> Result<(), MetaError> {
        sqlx::query("INSERT INTO sites (id, name, created_on) VALUES (?, ?, ?)")
            .bind(site.id.to_string())
            .bind(&site.name)
            .bind(to_millis(site.created_on))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn count_sites(&self) -> Result<i64, MetaError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM sites")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn create_token(
        &self,
        token_id: ObjectId,
        hash: &TokenHash,
        scopes: Scopes,
        sites: &[ObjectId],
        now: DateTime<Utc>,
    ) -> Result<(), MetaError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO tokens (id, token_hash, scopes, created_on) VALUES (?, ?, ?, ?)")
            .bind(token_id.to_string())
            .bind(&hash.0[..])
            .bind(scopes.to_string())
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await?;
        for site in sites {
            let inserted =
                sqlx::query("INSERT OR IGNORE INTO token_sites (token_id, site_id) VALUES (?, ?)")
                    .bind(token_id.to_string())
                    .bind(site.to_string())
                    .execute(&mut *tx)
                    .await;
            match inserted {
                Err(e) if is_foreign_key_violation(&e) => {
                    return Err(MetaError::UnknownSite(*site));
                }
                other => {
                    other?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenGrant>, MetaError> {
        let Some(row) =
            sqlx::query("SELECT id, token_hash, scopes FROM tokens WHERE token_hash = ?")
                .bind(&hash.0[..])
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let stored: Vec<u8> = row.try_get("token_hash")?;
        if !hash.matches(&stored) {
            return Ok(None);
        }
        let token_id = rows::id(&row, "id")?;
        let scopes: String = row.try_get("scopes")?;
        let scopes = scopes
            .parse()
            .map_err(|e| MetaError::Backend(sqlx::Error::Decode(Box::new(e))))?;
        let sites = sqlx::query("SELECT site_id FROM token_sites WHERE token_id = ?")
            .bind(token_id.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| rows::id(row, "site_id"))
            .collect::<Result<_, _>>()?;
        Ok(Some(TokenGrant {
            token_id,
            scopes,
            sites,
        }))
    }

    async fn folder_in_site(&self, site: ObjectId, folder: ObjectId) -> Result<bool, MetaError> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM asset_folders WHERE id = ? AND site_id = ?")
                .bind(folder.to_string())
                .bind(site.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    async fn create_folder(
        &self,
        id: ObjectId,
        site: ObjectId,
        parent: Option<ObjectId>,
        display_name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), MetaError> {
        let result = sqlx::query(
            "INSERT INTO asset_folders (id, site_id, parent_folder, display_name, created_on, last_updated) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(site.to_string())
        .bind(parent.map(|p| p.to_string()))
        .bind(display_name)
        .bind(to_millis(now))
        .bind(to_millis(now))
        .execute(&self.pool)
        .await;
        match result {
            Err(e) if is_unique_violation(&e) => Err(MetaError::Conflict(format!(
                "a folder named {display_name:?} already exists here"
            ))),
            Err(e) if is_foreign_key_violation(&e) => Err(MetaError::UnknownSite(site)),
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    async fn insert_asset(&self, asset: &Asset) -> Result<(), MetaError> {
        self.inserts.insert(asset).await
    }

    async fn get_asset(&self, id: ObjectId) -> Result<Option<Asset>, MetaError> {
        sqlx::query("SELECT * FROM assets WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(rows::asset)
            .transpose()
    }

    async fn mark_uploaded(
        &self,
        id: ObjectId,
        size: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, MetaError> {
        // Most uploads are not images and queue no variant job: for them one statement in
        // autocommit does it all, instead of a transaction of four round trips to the
        // connection's thread (BEGIN, UPDATE, INSERT, COMMIT), each a pair of thread wake-ups.
        let plain = sqlx::query(
            "UPDATE assets SET state = 'uploaded', size = ?1, last_updated = ?2 \
             WHERE id = ?3 AND content_type NOT IN (SELECT value FROM json_each(?4))",
        )
        .bind(size)
        .bind(to_millis(now))
        .bind(id.to_string())
        .bind(raster_content_types()?)
        .execute(&self.pool)
        .await?;
        if plain.rows_affected() == 1 {
            return Ok(true);
        }
        // An image (or an asset that is gone): the update and its variant job commit together.
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query(
            "UPDATE assets SET state = 'uploaded', size = ?, last_updated = ? WHERE id = ?",
        )
        .bind(size)
        .bind(to_millis(now))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT OR IGNORE INTO variant_jobs (asset_id, queued_at) SELECT id, ?1 FROM assets \
             WHERE id = ?2 AND content_type IN (SELECT value FROM json_each(?3))",
        )
        .bind(to_millis(now))
        .bind(id.to_string())
        .bind(raster_content_types()?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn claim_variant_job(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<VariantJob>, MetaError> {
        // Look first, write only when there is a job: an idle worker polling must not take the
        // database's one write lock away from uploads.
        let Some(asset): Option<String> = sqlx::query_scalar(
            "SELECT asset_id FROM variant_jobs WHERE claimed_until <= ? ORDER BY queued_at LIMIT 1",
        )
        .bind(to_millis(now))
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let claimed = sqlx::query(
            "UPDATE variant_jobs SET claimed_until = ?1, attempts = attempts + 1 \
             WHERE asset_id = ?2 AND claimed_until <= ?3 RETURNING asset_id, attempts",
        )
        .bind(to_millis(lease_until))
        .bind(&asset)
        .bind(to_millis(now))
        .fetch_optional(&self.pool)
        .await?;
        claimed.as_ref().map(rows::variant_job).transpose()
    }

    async fn plan_variants(
        &self,
        asset: ObjectId,
        variants: &[Variant],
    ) -> Result<bool, MetaError> {
        // IMMEDIATE: this transaction reads, then writes. A deferred one would have to upgrade
        // its read to a write, and SQLite refuses that at once (no busy wait, to avoid a
        // deadlock) whenever another connection holds the write lock, as a checkpoint does.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM assets WHERE id = ?")
            .bind(asset.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(false);
        }
        if !variants.is_empty() {
            plan_variants_statement::<sqlx::Sqlite>(asset, variants)
                .build()
                .persistent(false)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn finish_variant(
        &self,
        key: &str,
        outcome: VariantOutcome<'_>,
    ) -> Result<bool, MetaError> {
        let (state, size, hash, error) = variant_outcome_columns(outcome);
        let result = sqlx::query(
            "UPDATE asset_variants SET state = ?, size = ?, file_hash = ?, error = ? WHERE storage_key = ?",
        )
        .bind(state.as_str())
        .bind(size)
        .bind(hash)
        .bind(error)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn finish_variant_job(&self, asset: ObjectId) -> Result<(), MetaError> {
        sqlx::query("DELETE FROM variant_jobs WHERE asset_id = ?")
            .bind(asset.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn variants_of(&self, assets: &[ObjectId]) -> Result<Vec<Variant>, MetaError> {
        if assets.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query(
            "SELECT * FROM asset_variants WHERE asset_id IN (SELECT value FROM json_each(?)) \
             ORDER BY asset_id, width",
        )
        .bind(id_array(assets)?)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::variant)
        .collect()
    }

    async fn variant(&self, key: &str) -> Result<Option<Variant>, MetaError> {
        sqlx::query("SELECT * FROM asset_variants WHERE storage_key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(rows::variant)
            .transpose()
    }

    async fn list_assets(
        &self,
        site: ObjectId,
        folder: Option<ObjectId>,
        page: PageRequest,
    ) -> Result<Page<Asset>, MetaError> {
        let site = site.to_string();
        let (rows, total) = match folder {
            None => {
                let rows = sqlx::query(
                    "SELECT * FROM assets WHERE site_id = ?1 AND state = 'uploaded' \
                     ORDER BY created_on, id LIMIT ?2 OFFSET ?3",
                )
                .bind(&site)
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(&self.pool)
                .await?;
                let total: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM assets WHERE site_id = ?1 AND state = 'uploaded'",
                )
                .bind(&site)
                .fetch_one(&self.pool)
                .await?;
                (rows, total)
            }
            Some(folder) => {
                let folder = folder.to_string();
                let rows = sqlx::query(&format!(
                    "{FOLDER_TREE} SELECT * FROM assets WHERE site_id = ?2 AND state = 'uploaded' \
                     AND folder_id IN (SELECT id FROM tree) ORDER BY created_on, id LIMIT ?3 OFFSET ?4"
                ))
                .bind(&folder)
                .bind(&site)
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(&self.pool)
                .await?;
                let total: i64 = sqlx::query_scalar(&format!(
                    "{FOLDER_TREE} SELECT COUNT(*) FROM assets WHERE site_id = ?2 \
                     AND state = 'uploaded' AND folder_id IN (SELECT id FROM tree)"
                ))
                .bind(&folder)
                .bind(&site)
                .fetch_one(&self.pool)
                .await?;
                (rows, total)
            }
        };
        let items = rows.iter().map(rows::asset).collect::<Result<_, _>>()?;
        Ok(Page { items, total })
    }

    async fn update_asset(
        &self,
        id: ObjectId,
        changes: &AssetChanges,
        now: DateTime<Utc>,
    ) -> Result<Option<Asset>, MetaError> {
        let (set_alt, alt) = match &changes.alt_text {
            Some(alt) => (true, alt.clone()),
            None => (false, None),
        };
        let row = sqlx::query(
            "UPDATE assets SET display_name = COALESCE(?1, display_name), \
             alt_text = CASE WHEN ?2 THEN ?3 ELSE alt_text END, last_updated = ?4 \
             WHERE id = ?5 RETURNING *",
        )
        .bind(&changes.display_name)
        .bind(set_alt)
        .bind(alt)
        .bind(to_millis(now))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rows::asset).transpose()
    }

    async fn delete_asset(
        &self,
        id: ObjectId,
        now: DateTime<Utc>,
    ) -> Result<Option<Asset>, MetaError> {
        let mut tx = self.pool.begin().await?;
        // Every variant that may have an object, written or about to be: a worker records a
        // variant's row before writing its object, and removes an object whose row is gone.
        sqlx::query(
            "INSERT OR REPLACE INTO blob_deletions (storage_key, queued_at, keep_until) \
             SELECT storage_key, ?1, ?1 FROM asset_variants WHERE asset_id = ?2",
        )
        .bind(to_millis(now))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let Some(row) = sqlx::query("DELETE FROM assets WHERE id = ? RETURNING *")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let asset = rows::asset(&row)?;
        sqlx::query("INSERT OR REPLACE INTO blob_deletions (storage_key, queued_at, keep_until) VALUES (?, ?, ?)")
            .bind(&asset.storage_key)
            .bind(to_millis(now))
            .bind(to_millis(keep_until(&asset, now)))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(asset))
    }

    async fn queued_blob_deletions(&self, limit: i64) -> Result<Vec<String>, MetaError> {
        Ok(
            sqlx::query_scalar("SELECT storage_key FROM blob_deletions ORDER BY queued_at LIMIT ?")
                .bind(limit)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn finish_blob_deletion(&self, key: &str, now: DateTime<Utc>) -> Result<(), MetaError> {
        sqlx::query("DELETE FROM blob_deletions WHERE storage_key = ? AND keep_until <= ?")
            .bind(key)
            .bind(to_millis(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn expired_pending_assets(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Asset>, MetaError> {
        sqlx::query(
            "SELECT * FROM assets WHERE state IN ('pending', 'failed') AND upload_expires_at < ? \
             ORDER BY upload_expires_at LIMIT ?",
        )
        .bind(to_millis(before))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::asset)
        .collect()
    }

    async fn get_folder(&self, id: ObjectId) -> Result<Option<Folder>, MetaError> {
        sqlx::query("SELECT * FROM asset_folders WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(rows::folder)
            .transpose()
    }

    async fn list_folders(
        &self,
        site: ObjectId,
        page: PageRequest,
    ) -> Result<Page<Folder>, MetaError> {
        let site = site.to_string();
        let items = sqlx::query(
            "SELECT * FROM asset_folders WHERE site_id = ? ORDER BY created_on, id LIMIT ? OFFSET ?",
        )
        .bind(&site)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::folder)
        .collect::<Result<_, _>>()?;
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM asset_folders WHERE site_id = ?")
            .bind(&site)
            .fetch_one(&self.pool)
            .await?;
        Ok(Page { items, total })
    }

    async fn folder_assets(
        &self,
        folders: &[ObjectId],
    ) -> Result<Vec<(ObjectId, ObjectId)>, MetaError> {
        if folders.is_empty() {
            return Ok(Vec::new());
        }
        // Ids are validated 24-hex values, so a JSON array parameter keeps this one query.
        let ids =
            serde_json::to_string(&folders.iter().map(ToString::to_string).collect::<Vec<_>>())
                .map_err(|e| MetaError::Backend(sqlx::Error::Encode(Box::new(e))))?;
        sqlx::query(
            "SELECT folder_id, id FROM assets WHERE state = 'uploaded' \
             AND folder_id IN (SELECT value FROM json_each(?)) ORDER BY created_on, id",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((rows::id(row, "folder_id")?, rows::id(row, "id")?)))
        .collect()
    }

    async fn mark_failed(&self, id: ObjectId, now: DateTime<Utc>) -> Result<bool, MetaError> {
        let result = sqlx::query(
            "UPDATE assets SET state = 'failed', last_updated = ? WHERE id = ? AND state = 'pending'",
        )
        .bind(to_millis(now))
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn open_uploads(
        &self,
        site: Option<ObjectId>,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Asset>, MetaError> {
        sqlx::query(
            "SELECT * FROM assets WHERE (?1 IS NULL OR site_id = ?1) AND state = 'pending' \
             AND upload_expires_at >= ?2 ORDER BY created_on, id LIMIT ?3",
        )
        .bind(site.map(|s| s.to_string()))
        .bind(to_millis(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::asset)
        .collect()
    }

    async fn asset_counts(&self) -> Result<AssetCounts, MetaError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM assets GROUP BY state")
                .fetch_all(&self.pool)
                .await?;
        let mut counts = AssetCounts::default();
        for (state, n) in rows {
            match state.as_str() {
                "pending" => counts.pending = n,
                "uploaded" => counts.uploaded = n,
                _ => counts.failed += n,
            }
        }
        Ok(counts)
    }

    async fn sites(&self, ids: &[ObjectId]) -> Result<Vec<Site>, MetaError> {
        let ids = serde_json::to_string(&ids.iter().map(ToString::to_string).collect::<Vec<_>>())
            .map_err(|e| MetaError::Backend(sqlx::Error::Encode(Box::new(e))))?;
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT id, name, created_on FROM sites WHERE id IN (SELECT value FROM json_each(?)) \
             ORDER BY created_on, id",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(rows::site).collect()
    }
}
