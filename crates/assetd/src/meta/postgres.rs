//! The PostgreSQL metadata backend, for several nodes sharing one database. Same schema
//! semantics as the SQLite backend; concurrency rests on unique constraints and transactions,
//! never on check-then-insert.

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::Connection;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions, Postgres};

use super::dialect::Dialect;
use super::group_commit::{BatchWriter, InsertQueue, RowInsert, all_failed, insert_batch};
use super::sql::{SqlMeta, insert_outcome};
use super::statements::insert_statement;
use super::{Asset, MetaError, VariantJob, rows};
use crate::ids::ObjectId;
use crate::timestamp::to_millis;
use crate::variant_plan::VariantFormat;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Metadata in a PostgreSQL database.
pub type PostgresMeta = SqlMeta<Pg>;

/// PostgreSQL's side of the SQL layer.
#[derive(Debug, Clone)]
pub struct Pg;

impl SqlMeta<Pg> {
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
        Ok(Self {
            pool,
            inserts,
            outbox: Default::default(),
            dialect: Pg,
        })
    }
}

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
    let result = insert_statement::<Postgres>(std::slice::from_ref(asset))
        .build()
        .execute(conn)
        .await;
    insert_outcome(result, asset)
}

impl Dialect for Pg {
    type Db = Postgres;
    type IdList = Vec<String>;

    const IN_ID_LIST: &'static str = " = ANY($1)";
    const IN_TREE: &'static str = " = ANY(ARRAY(SELECT id FROM tree))";
    const TREE_PAGE_PER_FOLDER: Option<&'static str> = Some(
        "SELECT x.id FROM unnest(ARRAY(SELECT id FROM tree)) AS f(id), LATERAL ( \
           SELECT id, list_seq FROM assets WHERE folder_id = f.id AND state = 'uploaded' \
           AND list_seq >= $3 AND list_seq < $4 ORDER BY list_seq LIMIT $5 + $6) AS x \
         ORDER BY x.list_seq LIMIT $5 OFFSET $6",
    );
    const ROW_LOCKS: bool = true;
    const BEGIN_WRITE: Option<&'static str> = None;
    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

    fn id_list(ids: &[ObjectId]) -> Result<Vec<String>, MetaError> {
        Ok(ids.iter().map(ToString::to_string).collect())
    }

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }

    async fn stop_tasks(&self) {}

    async fn mark_uploaded(
        &self,
        pool: &PgPool,
        id: ObjectId,
        size: i64,
        now: DateTime<Utc>,
        event: ObjectId,
    ) -> Result<Option<u64>, MetaError> {
        // One statement, so one round trip and atomic without a transaction: the update, for an
        // image its variant job, and for an asset not uploaded before an `asset_created` event
        // per listening webhook, which the data-modifying CTEs insert from the updated row (the
        // event's snapshot is that row as JSON, `row_to_json`, which `webhook_events` reads by
        // its column names).
        let (updated, queued): (i64, i64) = sqlx::query_as(
            "WITH before AS ( \
               SELECT id, state AS old_state FROM assets WHERE id = $3 FOR UPDATE), \
             updated AS ( \
               UPDATE assets a SET state = 'uploaded', size = $1, last_updated = $2 \
               FROM before b WHERE a.id = b.id RETURNING a.*, b.old_state), \
             queued AS ( \
               INSERT INTO variant_jobs (asset_id, queued_at) \
               SELECT id, $2 FROM updated WHERE content_type = ANY($4) \
               ON CONFLICT (asset_id) DO NOTHING), \
             events AS ( \
               INSERT INTO webhook_outbox (event_id, webhook_id, trigger_type, payload, \
                 created_at, next_attempt_at) \
               SELECT $5, w.id, w.trigger_type, row_to_json(u)::text, $2, $2 \
               FROM updated u JOIN webhooks w ON w.site_id = u.site_id \
               WHERE w.trigger_type = 'asset_created' AND u.old_state <> 'uploaded' \
               RETURNING 1) \
             SELECT (SELECT count(*) FROM updated), (SELECT count(*) FROM events)",
        )
        .bind(size)
        .bind(to_millis(now))
        .bind(id.to_string())
        .bind(&VariantFormat::CONTENT_TYPES[..])
        .bind(event.to_string())
        .fetch_one(pool)
        .await?;
        Ok((updated == 1).then_some(u64::try_from(queued).unwrap_or(0)))
    }

    async fn claim_variant_job(
        pool: &PgPool,
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
        .fetch_optional(pool)
        .await?;
        claimed.as_ref().map(rows::variant_job).transpose()
    }
}
