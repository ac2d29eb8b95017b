//! The PostgreSQL metadata backend, for several nodes sharing one database. Same schema
//! semantics as the SQLite backend; concurrency rests on unique constraints and transactions,
//! never on check-then-insert.

use std::future::Future;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Connection;
use sqlx::Row;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions, Postgres};

use super::group_commit::{BatchWriter, InsertQueue, RowInsert, all_failed, insert_batch};
use super::statements::plan_variants_statement;
use super::{
    Asset, AssetChanges, AssetCounts, Folder, MetaError, MetaStore, Page, PageRequest, Site,
    TokenGrant, Variant, VariantJob, VariantOutcome, keep_until, rows, variant_outcome_columns,
};
use crate::ids::ObjectId;
use crate::scopes::Scopes;
use crate::timestamp::to_millis;
use crate::tokens::TokenHash;
use crate::variants::plan::VariantFormat;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Metadata in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresMeta {
    pool: PgPool,
    inserts: InsertQueue,
}

impl PostgresMeta {
    /// Connects to `url` and runs pending migrations (concurrent starters are serialised by
    /// sqlx's migration lock).
    pub async fn connect(url: &str) -> Result<Self, MetaError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // While PostgreSQL is down, a request waits at most this long for a connection and
            // is then answered 503 (sqlx keeps retrying the connect until then).
            .acquire_timeout(super::ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool, running pending migrations.
    pub async fn from_pool(pool: PgPool) -> Result<Self, MetaError> {
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| MetaError::Backend(e.into()))?;
        let inserts = InsertQueue::spawn((0..PG_WRITERS).map(|_| PgWriter::new(pool.clone())));
        Ok(Self { pool, inserts })
    }

    /// The underlying pool, for tests that inspect the schema.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// The folder `$1` of site `$2` and all its descendants, as the CTE `tree(id)`.
const FOLDER_TREE: &str = "WITH RECURSIVE tree(id) AS ( \
     SELECT id FROM asset_folders WHERE id = $1 AND site_id = $2 \
     UNION SELECT f.id FROM asset_folders f JOIN tree t ON f.parent_folder = t.id)";

/// Batches committing at once (each takes a pooled connection while it commits).
///
/// One: every new row's foreign key check locks its site's row (`FOR KEY SHARE`), and batches
/// of the same site committing side by side share that lock through a MultiXact, which
/// PostgreSQL must create, store and look up (about 46,800 MultiXact page reads in a 10 s
/// create run with four writers, none with one). With the UNNEST insert, measured at 64
/// connections (10 s, two interleaved rounds): 1 writer 29,439 / 29,655 req/s and PostgreSQL
/// at 46 % of a core; 2: 28,435 / 23,361; 4: 27,057 / 24,237 at 66 %; 8: 23,646 / 21,580 at
/// 80 %. A batch takes everything that queued while the previous one committed (up to
/// [`MAX_BATCH`](super::group_commit::MAX_BATCH)), so a slower round trip to a remote database
/// makes batches larger rather than throughput lower.
const PG_WRITERS: usize = 1;

/// A group-commit writer. It keeps its pooled connection from batch to batch: taking one from
/// the pool for every batch cost a round trip (the pool's liveness check), 13 % of create
/// throughput (29,486 and 28,442 → 34,189 and 31,787 req/s, 10 s runs, interleaved). A connection
/// idle for [`WRITER_IDLE_CHECK`] is checked before use, and one that failed is given back,
/// so a database restart costs no request that arrives after it.
struct PgWriter {
    pool: PgPool,
    conn: Option<(PoolConnection<Postgres>, Instant)>,
}

/// How long the writer's connection may sit unused before it is checked before the next batch.
const WRITER_IDLE_CHECK: Duration = Duration::from_secs(1);

impl PgWriter {
    fn new(pool: PgPool) -> Self {
        Self { pool, conn: None }
    }

    /// The connection to write with: the kept one if it is alive, else a fresh one.
    async fn connection(&mut self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        if let Some((mut conn, last_used)) = self.conn.take()
            && (last_used.elapsed() < WRITER_IDLE_CHECK || conn.ping().await.is_ok())
        {
            return Ok(conn);
        }
        self.pool.acquire().await
    }
}

impl BatchWriter for PgWriter {
    async fn commit_batch(&mut self, batch: &[Asset]) -> Vec<Result<(), MetaError>> {
        let mut conn = match self.connection().await {
            Ok(conn) => conn,
            Err(e) => return all_failed(batch, &e),
        };
        let outcomes = insert_batch(&mut *conn, batch).await;
        // A failure other than the database refusing a row (a broken connection, a protocol
        // error, a server shutting down) drops the connection rather than keeping it for the
        // next batch.
        let broken = outcomes.iter().any(|o| match o {
            Err(MetaError::Backend(sqlx::Error::Database(_))) => {
                o.as_ref().is_err_and(MetaError::is_unavailable)
            }
            Err(MetaError::Conflict(_) | MetaError::UnknownSite(_)) | Ok(()) => false,
            Err(_) => true,
        });
        if broken {
            conn.close_on_drop();
        } else {
            self.conn = Some((conn, Instant::now()));
        }
        outcomes
    }
}

impl RowInsert for PgConnection {
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

/// The batch INSERT: one array per column, so a single prepared statement serves every batch
/// size. (A multi-row `VALUES` list is a new statement text per size, parsed and planned each
/// time with up to 14 × 256 parameters; that was most of PostgreSQL's CPU per create.)
const INSERT_MANY: &str = "INSERT INTO assets (id, site_id, folder_id, original_file_name, \
     display_name, alt_text, content_type, file_hash, storage_key, size, state, upload_expires_at, \
     created_on, last_updated) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::text[], $12::bigint[], \
     $13::bigint[], $14::bigint[])";

async fn insert_many(conn: &mut PgConnection, batch: &[Asset]) -> Result<(), sqlx::Error> {
    fn column<'a, T>(batch: &'a [Asset], value: impl Fn(&'a Asset) -> T) -> Vec<T> {
        batch.iter().map(value).collect()
    }
    sqlx::query(INSERT_MANY)
        .bind(column(batch, |a| a.id.to_string()))
        .bind(column(batch, |a| a.site_id.to_string()))
        .bind(column(batch, |a| a.folder_id.map(|f| f.to_string())))
        .bind(column(batch, |a| a.original_file_name.as_str()))
        .bind(column(batch, |a| a.display_name.as_str()))
        .bind(column(batch, |a| a.alt_text.as_deref()))
        .bind(column(batch, |a| a.content_type.as_str()))
        .bind(column(batch, |a| a.file_hash.as_str()))
        .bind(column(batch, |a| a.storage_key.as_str()))
        .bind(column(batch, |a| a.size))
        .bind(column(batch, |a| a.state.as_str()))
        .bind(column(batch, |a| to_millis(a.upload_expires_at)))
        .bind(column(batch, |a| to_millis(a.created_on)))
        .bind(column(batch, |a| to_millis(a.last_updated)))
        .execute(conn)
        .await
        .map(|_| ())
}

async fn insert_one(conn: &mut PgConnection, asset: &Asset) -> Result<(), MetaError> {
    let result = sqlx::query(
        "INSERT INTO assets (id, site_id, folder_id, original_file_name, display_name, alt_text, \
         content_type, file_hash, storage_key, size, state, upload_expires_at, created_on, last_updated) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
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

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

#[async_trait]
impl MetaStore for PostgresMeta {
    async fn close(&self) {
        self.inserts.close().await;
        self.pool.close().await;
    }

    async fn ping(&self) -> Result<(), MetaError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_site(&self, site: &Site) -> Result<(), MetaError> {
        sqlx::query("INSERT INTO sites (id, name, created_on) VALUES ($1, $2, $3)")
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
        sqlx::query(
            "INSERT INTO tokens (id, token_hash, scopes, created_on) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_id.to_string())
        .bind(&hash.0[..])
        .bind(scopes.to_string())
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await?;
        for site in sites {
            let inserted =
                sqlx::query("INSERT INTO token_sites (token_id, site_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
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
            sqlx::query("SELECT id, token_hash, scopes FROM tokens WHERE token_hash = $1")
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
        let sites = sqlx::query("SELECT site_id FROM token_sites WHERE token_id = $1")
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
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1::BIGINT FROM asset_folders WHERE id = $1 AND site_id = $2",
        )
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
             VALUES ($1, $2, $3, $4, $5, $6)",
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
        sqlx::query("SELECT * FROM assets WHERE id = $1")
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
        // One statement, so one round trip and atomic without a transaction: the update, and
        // for an image its variant job, which the data-modifying CTE inserts from the updated
        // row.
        let updated: i64 = sqlx::query_scalar(
            "WITH updated AS ( \
               UPDATE assets SET state = 'uploaded', size = $1, last_updated = $2 WHERE id = $3 \
               RETURNING id, content_type), \
             queued AS ( \
               INSERT INTO variant_jobs (asset_id, queued_at) \
               SELECT id, $2 FROM updated WHERE content_type = ANY($4) \
               ON CONFLICT (asset_id) DO NOTHING) \
             SELECT count(*) FROM updated",
        )
        .bind(size)
        .bind(to_millis(now))
        .bind(id.to_string())
        .bind(&VariantFormat::CONTENT_TYPES[..])
        .fetch_one(&self.pool)
        .await?;
        Ok(updated == 1)
    }

    async fn claim_variant_job(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<VariantJob>, MetaError> {
        // SKIP LOCKED: nodes polling at once each take a different job instead of queueing on
        // the same row.
        let claimed = sqlx::query(
            "UPDATE variant_jobs SET claimed_until = $1, attempts = attempts + 1 \
             WHERE asset_id = (SELECT asset_id FROM variant_jobs WHERE claimed_until <= $2 \
             ORDER BY queued_at LIMIT 1 FOR UPDATE SKIP LOCKED) AND claimed_until <= $2 \
             RETURNING asset_id, attempts",
        )
        .bind(to_millis(lease_until))
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
        let mut tx = self.pool.begin().await?;
        // FOR SHARE: a concurrent delete of the asset waits for this transaction, so the rows
        // inserted here are seen (and their keys queued) by that delete.
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM assets WHERE id = $1 FOR SHARE")
                .bind(asset.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Ok(false);
        }
        if !variants.is_empty() {
            plan_variants_statement::<sqlx::Postgres>(asset, variants)
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
            "UPDATE asset_variants SET state = $1, size = $2, file_hash = $3, error = $4 \
             WHERE storage_key = $5",
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
        sqlx::query("DELETE FROM variant_jobs WHERE asset_id = $1")
            .bind(asset.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn variants_of(&self, assets: &[ObjectId]) -> Result<Vec<Variant>, MetaError> {
        if assets.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = assets.iter().map(ToString::to_string).collect();
        sqlx::query(
            "SELECT * FROM asset_variants WHERE asset_id = ANY($1) ORDER BY asset_id, width",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::variant)
        .collect()
    }

    async fn variant(&self, key: &str) -> Result<Option<Variant>, MetaError> {
        sqlx::query("SELECT * FROM asset_variants WHERE storage_key = $1")
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
                    "SELECT * FROM assets WHERE site_id = $1 AND state = 'uploaded' \
                     ORDER BY created_on, id LIMIT $2 OFFSET $3",
                )
                .bind(&site)
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(&self.pool)
                .await?;
                let total: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM assets WHERE site_id = $1 AND state = 'uploaded'",
                )
                .bind(&site)
                .fetch_one(&self.pool)
                .await?;
                (rows, total)
            }
            Some(folder) => {
                let folder = folder.to_string();
                let rows = sqlx::query(&format!(
                    "{FOLDER_TREE} SELECT * FROM assets WHERE site_id = $2 AND state = 'uploaded' \
                     AND folder_id IN (SELECT id FROM tree) ORDER BY created_on, id LIMIT $3 OFFSET $4"
                ))
                .bind(&folder)
                .bind(&site)
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(&self.pool)
                .await?;
                let total: i64 = sqlx::query_scalar(&format!(
                    "{FOLDER_TREE} SELECT COUNT(*) FROM assets WHERE site_id = $2 \
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
            "UPDATE assets SET display_name = COALESCE($1, display_name), \
             alt_text = CASE WHEN $2::boolean THEN $3 ELSE alt_text END, last_updated = $4 \
             WHERE id = $5 RETURNING *",
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
        // Lock the asset first so no variant can be planned between queueing the variants' keys
        // and removing the rows (see `plan_variants`).
        sqlx::query("SELECT 1 FROM assets WHERE id = $1 FOR UPDATE")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        // Every variant that may have an object, written or about to be.
        sqlx::query(
            "INSERT INTO blob_deletions (storage_key, queued_at, keep_until) \
             SELECT storage_key, $1, $1 FROM asset_variants WHERE asset_id = $2 \
             ON CONFLICT (storage_key) DO UPDATE SET queued_at = EXCLUDED.queued_at, \
             keep_until = EXCLUDED.keep_until",
        )
        .bind(to_millis(now))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let Some(row) = sqlx::query("DELETE FROM assets WHERE id = $1 RETURNING *")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let asset = rows::asset(&row)?;
        sqlx::query(
            "INSERT INTO blob_deletions (storage_key, queued_at, keep_until) VALUES ($1, $2, $3) \
             ON CONFLICT (storage_key) DO UPDATE SET queued_at = EXCLUDED.queued_at, \
             keep_until = EXCLUDED.keep_until",
        )
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
            sqlx::query_scalar(
                "SELECT storage_key FROM blob_deletions ORDER BY queued_at LIMIT $1",
            )
            .bind(limit)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn finish_blob_deletion(&self, key: &str, now: DateTime<Utc>) -> Result<(), MetaError> {
        sqlx::query("DELETE FROM blob_deletions WHERE storage_key = $1 AND keep_until <= $2")
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
            "SELECT * FROM assets WHERE state IN ('pending', 'failed') AND upload_expires_at < $1 \
             ORDER BY upload_expires_at LIMIT $2",
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
        sqlx::query("SELECT * FROM asset_folders WHERE id = $1")
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
            "SELECT * FROM asset_folders WHERE site_id = $1 ORDER BY created_on, id LIMIT $2 OFFSET $3",
        )
        .bind(&site)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::folder)
        .collect::<Result<_, _>>()?;
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM asset_folders WHERE site_id = $1")
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
        let ids: Vec<String> = folders.iter().map(ToString::to_string).collect();
        sqlx::query(
            "SELECT folder_id, id FROM assets WHERE state = 'uploaded' \
             AND folder_id = ANY($1) ORDER BY created_on, id",
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
            "UPDATE assets SET state = 'failed', last_updated = $1 WHERE id = $2 AND state = 'pending'",
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
            "SELECT * FROM assets WHERE ($1::TEXT IS NULL OR site_id = $1) AND state = 'pending' \
             AND upload_expires_at >= $2 ORDER BY created_on, id LIMIT $3",
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
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT id, name, created_on FROM sites WHERE id = ANY($1) ORDER BY created_on, id",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(rows::site).collect()
    }
}
