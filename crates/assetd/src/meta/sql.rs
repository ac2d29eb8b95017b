//! The one SQL implementation of [`MetaStore`], for SQLite and PostgreSQL alike.
//!
//! Written once, generic over a [`Dialect`] that supplies the handful of fragments and the two
//! statements that really differ (see [`super::dialect`]). The SQL is plain text with `$n`
//! placeholders rather than a query builder such as `sea-query`: every statement here is fixed
//! (only id lists vary, and they are bound as one parameter), so the text is the clearest
//! record of what runs, each statement stays a single prepared statement in sqlx's cache, and
//! the dialects differ by so little that a builder would add a dependency to express three
//! fragments. sqlx's `QueryBuilder` writes the two statements whose row count varies
//! (`meta::statements`).
//!
//! What stays per backend: opening (pragmas, pool sizes), the group-commit writer's statement
//! and, for SQLite, the checkpoint task.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::dialect::Dialect;
use super::group_commit::InsertQueue;
use super::list_plan::{self, BucketCount};
use super::statements::values_list;
use super::webhooks::{enqueue_asset_event, enqueue_folder_event, listened};
use super::{
    Asset, AssetChanges, AssetCounts, AssetState, DeletedTree, Delivery, DeliveryOutcome, Folder,
    FolderChanges, MetaError, MetaStore, Page, PageRequest, Replaced, Replacement, Site,
    SiteSummary, StatusReport, TokenGrant, TokenInfo, Variant, VariantJob, VariantOutcome, Webhook,
    keep_until, rows, variant_outcome_columns,
};
use crate::ids::ObjectId;
use crate::scopes::Scopes;
use crate::timestamp::{from_millis, to_millis};
use crate::tokens::TokenHash;
use crate::webhook_events::{FolderChange, Trigger};

/// Metadata in a SQL database.
#[derive(Debug)]
pub struct SqlMeta<D: Dialect> {
    pub(super) pool: Pool<D::Db>,
    pub(super) inserts: InsertQueue,
    pub(super) dialect: D,
    /// Wakes this node's webhook delivery worker after a commit that queued events.
    pub(super) outbox: std::sync::Arc<tokio::sync::Notify>,
}

// By hand: the derive would require sqlx's driver type itself to be `Clone`.
impl<D: Dialect + Clone> Clone for SqlMeta<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            inserts: self.inserts.clone(),
            dialect: self.dialect.clone(),
            outbox: self.outbox.clone(),
        }
    }
}

impl<D: Dialect> SqlMeta<D> {
    /// A transaction that will write (see [`Dialect::BEGIN_WRITE`]).
    pub(super) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, D::Db>, MetaError> {
        Ok(match D::BEGIN_WRITE {
            Some(begin) => self.pool.begin_with(begin).await?,
            None => self.pool.begin().await?,
        })
    }

    /// Marks asset `id` failed if it is in state `from`; whether it was.
    async fn fail_from(
        &self,
        id: ObjectId,
        from: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, MetaError>
    where
        for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
        for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
        for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
        for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
        for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    {
        let result = sqlx::query(
            "UPDATE assets SET state = 'failed', last_updated = $1 WHERE id = $2 AND state = $3",
        )
        .bind(to_millis(now))
        .bind(id.to_string())
        .bind(from)
        .execute(&self.pool)
        .await?;
        Ok(D::rows_affected(&result) == 1)
    }

    /// Wakes the delivery worker if `queued` events were committed.
    pub(super) fn queued(&self, queued: u64) {
        if queued > 0 {
            self.outbox.notify_one();
        }
    }

    /// The underlying pool, for tests that inspect the schema.
    pub fn pool(&self) -> &Pool<D::Db> {
        &self.pool
    }
}

/// The folder `$1` of site `$2` and all its descendants, as the CTE `tree(id)`.
const FOLDER_TREE: &str = "WITH RECURSIVE tree(id) AS ( \
     SELECT id FROM asset_folders WHERE id = $1 AND site_id = $2 \
     UNION SELECT f.id FROM asset_folders f JOIN tree t ON f.parent_folder = t.id)";

/// The listed assets of site `$1` per bucket, in bucket order (see [`list_plan`]).
const SITE_BUCKETS: &str = "SELECT bucket, CAST(SUM(uploaded) AS BIGINT) FROM site_list_counts \
     WHERE site_id = $1 GROUP BY bucket ORDER BY bucket";

/// The listed assets of the folder tree of `$1` (site `$2`) per bucket, in bucket order.
fn tree_buckets<D: Dialect>() -> String {
    format!(
        "{FOLDER_TREE} SELECT bucket, CAST(SUM(uploaded) AS BIGINT) FROM folder_list_counts \
         WHERE folder_id{in_tree} GROUP BY bucket ORDER BY bucket",
        in_tree = D::IN_TREE
    )
}

/// A page of site `$1`'s list: the listed assets at positions `$2..$3`, `$4` of them after
/// skipping `$5`. The skip walks the covering index `assets_listed` alone (`SELECT id`); only
/// the page's rows are read whole.
const PAGE_OF_SITE: &str = "SELECT * FROM assets WHERE id IN (SELECT id FROM assets \
     WHERE site_id = $1 AND state = 'uploaded' AND list_seq >= $2 AND list_seq < $3 \
     ORDER BY list_seq LIMIT $4 OFFSET $5) ORDER BY list_seq";

/// A page of the folder tree of `$1` (site `$2`): the listed assets at positions `$3..$4`,
/// `$5` of them after skipping `$6`, read from each folder's index over that range alone: per
/// folder up to the page's end where the database can and the skip is short
/// ([`list_plan::PER_FOLDER_SKIP_MAX`]), else the range whole.
fn page_of_tree<D: Dialect>(skip: i64) -> String {
    let inner = match D::TREE_PAGE_PER_FOLDER {
        Some(per_folder) if skip <= list_plan::PER_FOLDER_SKIP_MAX => per_folder.to_owned(),
        _ => format!(
            "SELECT id FROM assets WHERE folder_id{in_tree} AND state = 'uploaded' \
             AND list_seq >= $3 AND list_seq < $4 ORDER BY list_seq LIMIT $5 OFFSET $6",
            in_tree = D::IN_TREE
        ),
    };
    format!("{FOLDER_TREE} SELECT * FROM assets WHERE id IN ({inner}) ORDER BY list_seq")
}

/// The site of folder `id`, locked so that the site's folder moves and deletions take turns
/// (PostgreSQL: `FOR NO KEY UPDATE` on the site's row, which leaves the foreign-key checks of
/// inserts alone; SQLite: the write transaction is the lock). `None` if the folder does not
/// exist.
async fn lock_site_of_folder<D: Dialect>(
    tx: &mut sqlx::Transaction<'static, D::Db>,
    id: ObjectId,
) -> Result<Option<String>, MetaError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
{
    let site: Option<String> =
        sqlx::query_scalar("SELECT site_id FROM asset_folders WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?;
    let Some(site) = site else {
        return Ok(None);
    };
    if D::ROW_LOCKS {
        sqlx::query("SELECT id FROM sites WHERE id = $1 FOR NO KEY UPDATE")
            .bind(site.clone())
            .execute(&mut **tx)
            .await?;
        // Moved or deleted while this waited for the lock?
        let still: Option<String> =
            sqlx::query_scalar("SELECT site_id FROM asset_folders WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut **tx)
                .await?;
        if still.is_none() {
            return Ok(None);
        }
    }
    Ok(Some(site))
}

/// Queues a key for deletion, or moves its deadline if it is queued already.
pub(super) const QUEUE_DELETION: &str = "INSERT INTO blob_deletions (storage_key, queued_at, keep_until) \
     VALUES ($1, $2, $3) ON CONFLICT (storage_key) DO UPDATE SET \
     queued_at = excluded.queued_at, keep_until = excluded.keep_until";

/// Whether `err` is a unique-constraint violation.
pub(super) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Whether `err` is a foreign-key violation.
pub(super) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

/// The outcome of inserting one asset, with its constraint failures as their [`MetaError`].
pub(super) fn insert_outcome<T>(
    result: Result<T, sqlx::Error>,
    asset: &Asset,
) -> Result<(), MetaError> {
    match result {
        Err(e) if is_foreign_key_violation(&e) => Err(MetaError::UnknownSite(asset.site_id)),
        Err(e) if is_unique_violation(&e) => {
            Err(MetaError::Conflict("asset id or key already exists".into()))
        }
        other => other.map(|_| ()).map_err(Into::into),
    }
}

#[async_trait]
impl<D: Dialect> MetaStore for SqlMeta<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'c> &'c str: ColumnIndex<<D::Db as Database>::Row>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> bool: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q [u8]: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Vec<u8>: Decode<'q, D::Db> + Type<D::Db>,
{
    async fn close(&self) {
        self.inserts.close().await;
        self.dialect.stop_tasks().await;
        self.pool.close().await;
    }

    async fn ping(&self) -> Result<(), MetaError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_site(&self, site: &Site) -> Result<(), MetaError> {
        sqlx::query("INSERT INTO sites (id, name, created_on) VALUES ($1, $2, $3)")
            .bind(site.id.to_string())
            .bind(site.name.as_str())
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

    async fn sites(&self, ids: &[ObjectId]) -> Result<Vec<Site>, MetaError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(&format!(
            "SELECT id, name, created_on FROM sites WHERE id{} AND deleting_since IS NULL \
             ORDER BY created_on, id",
            D::IN_ID_LIST
        ))
        .bind(D::id_list(ids)?)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(rows::site).collect()
    }

    async fn list_sites(&self) -> Result<Vec<SiteSummary>, MetaError> {
        let rows = sqlx::query(
            "SELECT id, name, created_on, deleting_since, \
             (SELECT COUNT(*) FROM assets a WHERE a.site_id = s.id) AS assets \
             FROM sites s ORDER BY created_on, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let deleting: Option<i64> = row.try_get("deleting_since")?;
                Ok(SiteSummary {
                    site: Site {
                        id: rows::id(row, "id")?,
                        name: row.try_get("name")?,
                        created_on: from_millis(row.try_get("created_on")?),
                    },
                    assets: row.try_get("assets")?,
                    deleting_since: deleting.map(from_millis),
                })
            })
            .collect()
    }

    async fn start_site_deletion(
        &self,
        site: ObjectId,
        now: DateTime<Utc>,
    ) -> Result<bool, MetaError> {
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(
            "UPDATE sites SET deleting_since = COALESCE(deleting_since, $2) WHERE id = $1",
        )
        .bind(site.to_string())
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await?;
        if D::rows_affected(&marked) != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM token_sites WHERE site_id = $1")
            .bind(site.to_string())
            .execute(&mut *tx)
            .await?;
        // Its webhooks and their undelivered events go at once (the outbox rows cascade): the
        // deletion of its assets that follows notifies nobody.
        sqlx::query("DELETE FROM webhooks WHERE site_id = $1")
            .bind(site.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn deleting_sites(&self) -> Result<Vec<ObjectId>, MetaError> {
        sqlx::query("SELECT id FROM sites WHERE deleting_since IS NOT NULL ORDER BY id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| rows::id(row, "id"))
            .collect()
    }

    async fn site_assets(&self, site: ObjectId, limit: i64) -> Result<Vec<ObjectId>, MetaError> {
        sqlx::query("SELECT id FROM assets WHERE site_id = $1 ORDER BY id LIMIT $2")
            .bind(site.to_string())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| rows::id(row, "id"))
            .collect()
    }

    async fn delete_site_folders(&self, site: ObjectId) -> Result<u64, MetaError> {
        // One statement: folders refer to their parents, and the foreign keys are checked at
        // the statement's end, when the whole tree is gone.
        let deleted = sqlx::query(
            "DELETE FROM asset_folders WHERE site_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM assets WHERE site_id = $1)",
        )
        .bind(site.to_string())
        .execute(&self.pool)
        .await?;
        Ok(D::rows_affected(&deleted))
    }

    async fn queued_blob_deletions_under(
        &self,
        prefix: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<String>, MetaError> {
        // A prefix compare rather than LIKE (no escaping) or a key range (which depends on the
        // column's collation); the queue is short, so a scan of it is cheap. Paging by key
        // works in any collation: `>` and ORDER BY agree.
        Ok(sqlx::query_scalar(
            "SELECT storage_key FROM blob_deletions \
             WHERE substr(storage_key, 1, length($1)) = $1 \
             AND storage_key > $2 ORDER BY storage_key LIMIT $3",
        )
        .bind(prefix)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn finish_site_deletion(
        &self,
        site: ObjectId,
        before: DateTime<Utc>,
    ) -> Result<bool, MetaError> {
        let deleted = sqlx::query(
            "DELETE FROM sites WHERE id = $1 AND deleting_since <= $2 \
             AND NOT EXISTS (SELECT 1 FROM assets WHERE site_id = $1) \
             AND NOT EXISTS (SELECT 1 FROM asset_folders WHERE site_id = $1)",
        )
        .bind(site.to_string())
        .bind(to_millis(before))
        .execute(&self.pool)
        .await?;
        Ok(D::rows_affected(&deleted) == 1)
    }

    async fn create_token(
        &self,
        token_id: ObjectId,
        hash: &TokenHash,
        scopes: Scopes,
        sites: &[ObjectId],
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), MetaError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO tokens (id, token_hash, scopes, created_on, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_id.to_string())
        .bind(&hash.0[..])
        .bind(scopes.to_string())
        .bind(to_millis(now))
        .bind(expires_at.map(to_millis))
        .execute(&mut *tx)
        .await?;
        for site in sites {
            let inserted = sqlx::query(
                "INSERT INTO token_sites (token_id, site_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
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
        let Some(row) = sqlx::query(
            "SELECT id, token_hash, scopes, expires_at FROM tokens WHERE token_hash = $1",
        )
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
        let scopes = rows::scopes(&row)?;
        let expires_at: Option<i64> = row.try_get("expires_at")?;
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
            expires_at: expires_at.map(from_millis),
        }))
    }

    async fn list_tokens(&self, site: Option<ObjectId>) -> Result<Vec<TokenInfo>, MetaError> {
        let rows = sqlx::query(
            "SELECT id, scopes, created_on, last_used_at, expires_at FROM tokens t \
             WHERE CAST($1 AS TEXT) IS NULL OR EXISTS ( \
               SELECT 1 FROM token_sites s WHERE s.token_id = t.id AND s.site_id = $1) \
             ORDER BY created_on, id",
        )
        .bind(site.map(|s| s.to_string()))
        .fetch_all(&self.pool)
        .await?;
        let mut tokens = Vec::with_capacity(rows.len());
        for row in &rows {
            let last_used: Option<i64> = row.try_get("last_used_at")?;
            let expires_at: Option<i64> = row.try_get("expires_at")?;
            tokens.push(TokenInfo {
                id: rows::id(row, "id")?,
                scopes: rows::scopes(row)?,
                sites: Vec::new(),
                created_on: from_millis(row.try_get("created_on")?),
                last_used: last_used.map(from_millis),
                expires_at: expires_at.map(from_millis),
            });
        }
        let ids: Vec<ObjectId> = tokens.iter().map(|t| t.id).collect();
        if ids.is_empty() {
            return Ok(tokens);
        }
        let grants = sqlx::query(&format!(
            "SELECT token_id, site_id FROM token_sites WHERE token_id{} ORDER BY site_id",
            D::IN_ID_LIST
        ))
        .bind(D::id_list(&ids)?)
        .fetch_all(&self.pool)
        .await?;
        for grant in &grants {
            let (token, site) = (rows::id(grant, "token_id")?, rows::id(grant, "site_id")?);
            if let Some(info) = tokens.iter_mut().find(|t| t.id == token) {
                info.sites.push(site);
            }
        }
        Ok(tokens)
    }

    async fn revoke_token(&self, token_id: ObjectId) -> Result<bool, MetaError> {
        let result = sqlx::query("DELETE FROM tokens WHERE id = $1")
            .bind(token_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(D::rows_affected(&result) == 1)
    }

    async fn record_token_use(&self, uses: &[(ObjectId, DateTime<Utc>)]) -> Result<(), MetaError> {
        for (token, at) in uses {
            sqlx::query(
                "UPDATE tokens SET last_used_at = $2 WHERE id = $1 \
                 AND (last_used_at IS NULL OR last_used_at < $2)",
            )
            .bind(token.to_string())
            .bind(to_millis(*at))
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    async fn folder_in_site(&self, site: ObjectId, folder: ObjectId) -> Result<bool, MetaError> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM asset_folders WHERE id = $1 AND site_id = $2")
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
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "INSERT INTO asset_folders (id, site_id, parent_folder, display_name, created_on, \
             last_updated) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.to_string())
        .bind(site.to_string())
        .bind(parent.map(|p| p.to_string()))
        .bind(display_name)
        .bind(to_millis(now))
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await;
        match result {
            Err(e) if is_unique_violation(&e) => {
                return Err(MetaError::Conflict(format!(
                    "a folder named {display_name:?} already exists here"
                )));
            }
            Err(e) if is_foreign_key_violation(&e) => return Err(MetaError::UnknownSite(site)),
            other => other.map(|_| ())?,
        }
        let folder = Folder {
            id,
            site_id: site,
            parent_folder: parent,
            display_name: display_name.to_owned(),
            created_on: now,
            last_updated: now,
        };
        let queued =
            enqueue_folder_event::<D>(&mut *tx, &folder, FolderChange::Created, now).await?;
        tx.commit().await?;
        self.queued(queued);
        Ok(())
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

    async fn list_assets(
        &self,
        site: ObjectId,
        folder: Option<ObjectId>,
        page: PageRequest,
    ) -> Result<Page<Asset>, MetaError> {
        let site = site.to_string();
        // One snapshot for the counts and the page: the page is placed by the counts, so both
        // must see the same rows.
        let mut tx = self.pool.begin_with(D::BEGIN_SNAPSHOT).await?;
        let tree_statement;
        let buckets: Vec<(i64, i64)> = match folder {
            None => sqlx::query_as(SITE_BUCKETS).bind(site.as_str()),
            Some(folder) => {
                tree_statement = tree_buckets::<D>();
                sqlx::query_as(&tree_statement)
                    .bind(folder.to_string())
                    .bind(site.as_str())
            }
        }
        .fetch_all(&mut *tx)
        .await?;
        let buckets: Vec<BucketCount> = buckets
            .into_iter()
            .map(|(bucket, listed)| BucketCount { bucket, listed })
            .collect();
        let total = list_plan::total(&buckets);
        let rows = match (list_plan::span(&buckets, page), folder) {
            (None, _) => Vec::new(),
            (Some(s), None) => {
                sqlx::query(PAGE_OF_SITE)
                    .bind(site.as_str())
                    .bind(s.from)
                    .bind(s.until)
                    .bind(s.take)
                    .bind(s.skip)
                    .fetch_all(&mut *tx)
                    .await?
            }
            (Some(s), Some(folder)) => {
                sqlx::query(&page_of_tree::<D>(s.skip))
                    .bind(folder.to_string())
                    .bind(site.as_str())
                    .bind(s.from)
                    .bind(s.until)
                    .bind(s.take)
                    .bind(s.skip)
                    .fetch_all(&mut *tx)
                    .await?
            }
        };
        tx.commit().await?;
        // In list order (`ORDER BY list_seq`), which the rows do not carry.
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
            Some(alt) => (true, alt.as_deref()),
            None => (false, None),
        };
        let (set_folder, folder) = match changes.folder {
            Some(folder) => (true, folder.map(|f| f.to_string())),
            None => (false, None),
        };
        // The folder must be the asset's site's: tested in the statement, so a move needs no
        // earlier read. The foreign key refuses a folder deleted meanwhile. A transaction: the
        // `asset_changed` event commits with the change.
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE assets SET display_name = COALESCE($1, display_name), \
             alt_text = CASE WHEN CAST($2 AS BOOLEAN) THEN $3 ELSE alt_text END, \
             folder_id = CASE WHEN CAST($6 AS BOOLEAN) THEN $7 ELSE folder_id END, \
             last_updated = $4 WHERE id = $5 AND (CAST($7 AS TEXT) IS NULL OR EXISTS \
             (SELECT 1 FROM asset_folders f WHERE f.id = $7 AND f.site_id = assets.site_id)) \
             RETURNING *",
        )
        .bind(changes.display_name.as_deref())
        .bind(set_alt)
        .bind(alt)
        .bind(to_millis(now))
        .bind(id.to_string())
        .bind(set_folder)
        .bind(folder.as_deref())
        .fetch_optional(&mut *tx)
        .await;
        let unknown_folder = || MetaError::UnknownFolder(changes.folder.flatten().unwrap_or(id));
        match row {
            Ok(Some(row)) => {
                let asset = rows::asset(&row)?;
                let queued = if asset.state == AssetState::Uploaded {
                    enqueue_asset_event::<D>(&mut *tx, Trigger::AssetChanged, &asset, now).await?
                } else {
                    0
                };
                tx.commit().await?;
                self.queued(queued);
                Ok(Some(asset))
            }
            // No row: the asset is gone, or the folder is not its site's.
            // (The transaction changed nothing; it rolls back when dropped.)
            Ok(None) if folder.is_some() && self.get_asset(id).await?.is_some() => {
                Err(unknown_folder())
            }
            Ok(None) => Ok(None),
            Err(e) if is_foreign_key_violation(&e) => Err(unknown_folder()),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_asset(
        &self,
        id: ObjectId,
        now: DateTime<Utc>,
    ) -> Result<Option<Asset>, MetaError> {
        let mut tx = self.pool.begin().await?;
        if D::ROW_LOCKS {
            // Lock the asset first so no variant can be planned between queueing the variants'
            // keys and removing the rows (see `plan_variants`). SQLite needs no lock: the first
            // write below takes the database's.
            sqlx::query("SELECT id FROM assets WHERE id = $1 FOR UPDATE")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        // Every variant that may have an object, written or about to be: a worker records a
        // variant's row before writing its object, and removes an object whose row is gone.
        sqlx::query(
            "INSERT INTO blob_deletions (storage_key, queued_at, keep_until) \
             SELECT storage_key, $1, $1 FROM asset_variants WHERE asset_id = $2 \
             ON CONFLICT (storage_key) DO UPDATE SET queued_at = excluded.queued_at, \
             keep_until = excluded.keep_until",
        )
        .bind(to_millis(now))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        // A replacement waiting for its bytes: its key too (its row goes with the asset's).
        sqlx::query(super::replacements::QUEUE_WAITING_REPLACEMENTS)
            .bind(id.to_string())
            .bind(to_millis(now))
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
        sqlx::query(QUEUE_DELETION)
            .bind(asset.storage_key.as_str())
            .bind(to_millis(now))
            .bind(to_millis(keep_until(&asset, now)))
            .execute(&mut *tx)
            .await?;
        // Only an asset that had been uploaded was ever seen (and announced): a cancelled upload
        // is no event.
        let queued = if asset.state == AssetState::Uploaded {
            enqueue_asset_event::<D>(&mut *tx, Trigger::AssetDeleted, &asset, now).await?
        } else {
            0
        };
        tx.commit().await?;
        self.queued(queued);
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

    async fn mark_failed(&self, id: ObjectId, now: DateTime<Utc>) -> Result<bool, MetaError> {
        self.fail_from(id, "pending", now).await
    }

    async fn open_uploads(
        &self,
        site: Option<ObjectId>,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Asset>, MetaError> {
        sqlx::query(
            "SELECT * FROM assets WHERE (CAST($1 AS TEXT) IS NULL OR site_id = $1) \
             AND state = 'pending' AND upload_expires_at >= $2 \
             ORDER BY created_on, id LIMIT $3",
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

    async fn expired_pending_assets(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Asset>, MetaError> {
        sqlx::query(
            "SELECT * FROM assets WHERE state IN ('pending', 'failed') \
             AND upload_expires_at < $1 ORDER BY upload_expires_at LIMIT $2",
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

    async fn update_folder(
        &self,
        id: ObjectId,
        changes: &FolderChanges,
        now: DateTime<Utc>,
    ) -> Result<Option<Folder>, MetaError> {
        let mut tx = self.begin_write().await?;
        let Some(site) = lock_site_of_folder::<D>(&mut tx, id).await? else {
            return Ok(None);
        };
        if let Some(Some(parent)) = changes.parent {
            let in_site: Option<String> =
                sqlx::query_scalar("SELECT id FROM asset_folders WHERE id = $1 AND site_id = $2")
                    .bind(parent.to_string())
                    .bind(site.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            if in_site.is_none() {
                return Err(MetaError::UnknownFolder(parent));
            }
            // The new parent's ancestors, itself included, must not include the folder. Moves
            // of a site are serialized (the site's lock above), so no move commits between
            // this read and the update.
            let cycle: Option<String> = sqlx::query_scalar(
                "WITH RECURSIVE up(id, parent) AS ( \
                   SELECT id, parent_folder FROM asset_folders WHERE id = $1 \
                   UNION SELECT f.id, f.parent_folder FROM asset_folders f JOIN up ON f.id = up.parent) \
                 SELECT id FROM up WHERE id = $2",
            )
            .bind(parent.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            if cycle.is_some() {
                return Err(MetaError::FolderCycle);
            }
        }
        let (set_parent, parent) = match changes.parent {
            Some(parent) => (true, parent.map(|p| p.to_string())),
            None => (false, None),
        };
        let row = sqlx::query(
            "UPDATE asset_folders SET display_name = COALESCE($1, display_name), \
             parent_folder = CASE WHEN CAST($2 AS BOOLEAN) THEN $3 ELSE parent_folder END, \
             last_updated = $4 WHERE id = $5 RETURNING *",
        )
        .bind(changes.display_name.as_deref())
        .bind(set_parent)
        .bind(parent.as_deref())
        .bind(to_millis(now))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await;
        let folder = match row {
            Err(e) if is_unique_violation(&e) => {
                return Err(MetaError::Conflict(
                    "a folder of that name already exists there".to_owned(),
                ));
            }
            other => other?.as_ref().map(rows::folder).transpose()?,
        };
        let mut queued = 0;
        if let Some(folder) = &folder {
            queued =
                enqueue_folder_event::<D>(&mut *tx, folder, FolderChange::Updated, now).await?;
        }
        tx.commit().await?;
        self.queued(queued);
        Ok(folder)
    }

    async fn delete_folder(
        &self,
        id: ObjectId,
        recursive: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<DeletedTree>, MetaError> {
        let mut tx = self.begin_write().await?;
        let Some(site) = lock_site_of_folder::<D>(&mut tx, id).await? else {
            return Ok(None);
        };
        let tree: Vec<String> = sqlx::query_scalar(
            "WITH RECURSIVE tree(id) AS (SELECT CAST($1 AS TEXT) \
               UNION SELECT f.id FROM asset_folders f JOIN tree t ON f.parent_folder = t.id) \
             SELECT id FROM tree",
        )
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let tree: Vec<ObjectId> = tree.iter().filter_map(|t| t.parse().ok()).collect();
        let ids = D::id_list(&tree)?;
        let lock = if D::ROW_LOCKS { " FOR UPDATE" } else { "" };
        // Locked, an asset cannot be created in, or moved into, these folders until this
        // commits (the foreign key's check waits for the lock, then fails); the assets' locks
        // keep variants from being planned for them meanwhile (see `plan_variants`).
        sqlx::query(&format!(
            "SELECT id FROM asset_folders WHERE id{}{lock}",
            D::IN_ID_LIST
        ))
        .bind(ids.clone())
        .execute(&mut *tx)
        .await?;
        let assets: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM assets WHERE folder_id{}{lock}",
            D::IN_ID_LIST
        ))
        .bind(ids.clone())
        .fetch_all(&mut *tx)
        .await?;
        if !recursive && (tree.len() > 1 || !assets.is_empty()) {
            return Err(MetaError::FolderNotEmpty);
        }
        // Events for what goes, read before it goes: an `asset_deleted` per asset and an
        // `asset_folder_changed` (`deleted`) per folder, each only if someone listens.
        let mut events: Vec<(Trigger, Option<Asset>, Option<Folder>)> = Vec::new();
        if listened::<D>(&mut *tx, &site, Trigger::AssetDeleted).await? && !assets.is_empty() {
            let rows = sqlx::query(&format!(
                "SELECT * FROM assets WHERE folder_id{} AND state = 'uploaded' ORDER BY id",
                D::IN_ID_LIST
            ))
            .bind(ids.clone())
            .fetch_all(&mut *tx)
            .await?;
            for row in &rows {
                events.push((Trigger::AssetDeleted, Some(rows::asset(row)?), None));
            }
        }
        if listened::<D>(&mut *tx, &site, Trigger::AssetFolderChanged).await? {
            let rows = sqlx::query(&format!(
                "SELECT * FROM asset_folders WHERE id{} ORDER BY id",
                D::IN_ID_LIST
            ))
            .bind(ids.clone())
            .fetch_all(&mut *tx)
            .await?;
            for row in &rows {
                events.push((Trigger::AssetFolderChanged, None, Some(rows::folder(row)?)));
            }
        }
        let keys: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT storage_key FROM assets WHERE folder_id{in_list} UNION ALL \
             SELECT v.storage_key FROM asset_variants v JOIN assets a ON a.id = v.asset_id \
             WHERE a.folder_id{in_list} UNION ALL \
             SELECT r.storage_key FROM asset_replacements r JOIN assets a \
             ON a.id = r.asset_id WHERE a.folder_id{in_list}",
            in_list = D::IN_ID_LIST
        ))
        .bind(ids.clone())
        .fetch_all(&mut *tx)
        .await?;
        // An object may still arrive for a pending asset until its policy expires: its key is
        // kept queued until then (as `delete_asset` does).
        for statement in [
            "INSERT INTO blob_deletions (storage_key, queued_at, keep_until) \
             SELECT storage_key, $2, CASE WHEN state <> 'uploaded' AND upload_expires_at > $2 \
             THEN upload_expires_at ELSE $2 END FROM assets WHERE folder_id{in_list} \
             ON CONFLICT (storage_key) DO UPDATE SET queued_at = excluded.queued_at, \
             keep_until = excluded.keep_until",
            "INSERT INTO blob_deletions (storage_key, queued_at, keep_until) \
             SELECT v.storage_key, $2, $2 FROM asset_variants v JOIN assets a \
             ON a.id = v.asset_id WHERE a.folder_id{in_list} \
             ON CONFLICT (storage_key) DO UPDATE SET queued_at = excluded.queued_at, \
             keep_until = excluded.keep_until",
            "INSERT INTO blob_deletions (storage_key, queued_at, keep_until) \
             SELECT r.storage_key, $2, CASE WHEN r.upload_expires_at > $2 \
             THEN r.upload_expires_at ELSE $2 END FROM asset_replacements r JOIN assets a \
             ON a.id = r.asset_id WHERE a.folder_id{in_list} \
             ON CONFLICT (storage_key) DO UPDATE SET queued_at = excluded.queued_at, \
             keep_until = excluded.keep_until",
        ] {
            sqlx::query(&statement.replace("{in_list}", D::IN_ID_LIST))
                .bind(ids.clone())
                .bind(to_millis(now))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(&format!(
            "DELETE FROM assets WHERE folder_id{}",
            D::IN_ID_LIST
        ))
        .bind(ids.clone())
        .execute(&mut *tx)
        .await?;
        // One statement: the folders' references to each other are checked at its end.
        let folders = sqlx::query(&format!(
            "DELETE FROM asset_folders WHERE id{}",
            D::IN_ID_LIST
        ))
        .bind(ids)
        .execute(&mut *tx)
        .await?;
        let folders = D::rows_affected(&folders);
        let mut queued = 0;
        for event in &events {
            queued += match event {
                (trigger, Some(asset), _) => {
                    enqueue_asset_event::<D>(&mut *tx, *trigger, asset, now).await?
                }
                (_, None, Some(folder)) => {
                    enqueue_folder_event::<D>(&mut *tx, folder, FolderChange::Deleted, now).await?
                }
                (_, None, None) => 0,
            };
        }
        tx.commit().await?;
        self.queued(queued);
        Ok(Some(DeletedTree {
            folders,
            assets: assets.len() as u64,
            keys,
        }))
    }

    async fn list_folders(
        &self,
        site: ObjectId,
        page: PageRequest,
    ) -> Result<Page<Folder>, MetaError> {
        let site = site.to_string();
        let items = sqlx::query(
            "SELECT * FROM asset_folders WHERE site_id = $1 \
             ORDER BY created_on, id LIMIT $2 OFFSET $3",
        )
        .bind(site.as_str())
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::folder)
        .collect::<Result<_, _>>()?;
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM asset_folders WHERE site_id = $1")
            .bind(site.as_str())
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
        sqlx::query(&format!(
            "SELECT folder_id, id FROM assets WHERE state = 'uploaded' AND folder_id{} \
             ORDER BY created_on, id",
            D::IN_ID_LIST
        ))
        .bind(D::id_list(folders)?)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((rows::id(row, "folder_id")?, rows::id(row, "id")?)))
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

    async fn claim_variant_job(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<VariantJob>, MetaError> {
        D::claim_variant_job(&self.pool, now, lease_until).await
    }

    async fn plan_variants(
        &self,
        asset: ObjectId,
        source_key: &str,
        variants: &[Variant],
    ) -> Result<bool, MetaError> {
        let mut tx = self.begin_write().await?;
        // FOR SHARE: a concurrent delete of the asset waits for this transaction, so the rows
        // inserted here are seen (and their keys queued) by that delete. (SQLite's write lock,
        // taken at BEGIN, does the same.)
        let lock = if D::ROW_LOCKS { " FOR SHARE" } else { "" };
        let exists: Option<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM assets WHERE id = $1 AND storage_key = $2{lock}"
        ))
        .bind(asset.to_string())
        .bind(source_key)
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_none() {
            return Ok(false);
        }
        if !variants.is_empty() {
            // One statement for all of them; keys already recorded are kept (a resumed job plans
            // the same keys again). Its text changes with the count: not a prepared statement.
            let sql = format!(
                "INSERT INTO asset_variants (storage_key, asset_id, width, height, format, \
                 quality, state, size, file_hash, error) VALUES {} \
                 ON CONFLICT (storage_key) DO NOTHING",
                values_list(variants.len(), 10)
            );
            let asset = asset.to_string();
            let mut insert = sqlx::query(&sql);
            for variant in variants {
                insert = insert
                    .bind(variant.storage_key.as_str())
                    .bind(asset.as_str())
                    .bind(variant.width)
                    .bind(variant.height)
                    .bind(variant.format.as_str())
                    .bind(variant.quality)
                    .bind(variant.state.as_str())
                    .bind(variant.size)
                    .bind(variant.file_hash.as_deref())
                    .bind(variant.error.as_deref());
            }
            insert.persistent(false).execute(&mut *tx).await?;
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
        Ok(D::rows_affected(&result) == 1)
    }

    async fn finish_variant_job(
        &self,
        asset: ObjectId,
        lease_until: DateTime<Utc>,
    ) -> Result<(), MetaError> {
        sqlx::query("DELETE FROM variant_jobs WHERE asset_id = $1 AND claimed_until = $2")
            .bind(asset.to_string())
            .bind(to_millis(lease_until))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn variants_of(&self, assets: &[ObjectId]) -> Result<Vec<Variant>, MetaError> {
        if assets.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query(&format!(
            "SELECT * FROM asset_variants WHERE asset_id{} ORDER BY asset_id, width",
            D::IN_ID_LIST
        ))
        .bind(D::id_list(assets)?)
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

    async fn mark_uploaded(
        &self,
        id: ObjectId,
        size: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, MetaError> {
        let marked = self
            .dialect
            .mark_uploaded(&self.pool, id, size, now, ObjectId::generate(now))
            .await?;
        if let Some(queued) = marked {
            self.queued(queued);
        }
        Ok(marked.is_some())
    }

    async fn assets_after(
        &self,
        after: Option<ObjectId>,
        limit: i64,
    ) -> Result<Vec<Asset>, MetaError> {
        // The primary key's order: each page is one index range scan from the cursor.
        sqlx::query(
            "SELECT * FROM assets WHERE (CAST($1 AS TEXT) IS NULL OR id > $1) \
             ORDER BY id LIMIT $2",
        )
        .bind(after.map(|id| id.to_string()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::asset)
        .collect()
    }

    async fn variants_after(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Variant>, MetaError> {
        sqlx::query(
            "SELECT * FROM asset_variants \
             WHERE (CAST($1 AS TEXT) IS NULL OR storage_key > $1) \
             ORDER BY storage_key LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::variant)
        .collect()
    }

    async fn key_known(&self, key: &str) -> Result<bool, MetaError> {
        // Four unique-index probes.
        let known: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(1 AS BIGINT) WHERE EXISTS (SELECT 1 FROM assets WHERE storage_key = $1) \
             OR EXISTS (SELECT 1 FROM asset_variants WHERE storage_key = $1) \
             OR EXISTS (SELECT 1 FROM asset_replacements WHERE storage_key = $1) \
             OR EXISTS (SELECT 1 FROM blob_deletions WHERE storage_key = $1)",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(known.is_some())
    }

    async fn mark_corrupt(&self, id: ObjectId, now: DateTime<Utc>) -> Result<bool, MetaError> {
        self.fail_from(id, "uploaded", now).await
    }

    async fn start_replacement(
        &self,
        replacement: &Replacement,
        now: DateTime<Utc>,
    ) -> Result<Option<Asset>, MetaError> {
        self.sql_start_replacement(replacement, now).await
    }

    async fn replacement(&self, id: ObjectId) -> Result<Option<Replacement>, MetaError> {
        self.sql_replacement(id).await
    }

    async fn complete_replacement(
        &self,
        id: ObjectId,
        size: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<Replaced>, MetaError> {
        self.sql_complete_replacement(id, size, now).await
    }

    async fn drop_replacement(&self, id: ObjectId, now: DateTime<Utc>) -> Result<bool, MetaError> {
        self.sql_drop_replacement(id, now).await
    }

    async fn open_replacements(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Replacement>, MetaError> {
        self.sql_open_replacements(now, limit).await
    }

    async fn expired_replacements(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Replacement>, MetaError> {
        self.sql_expired_replacements(before, limit).await
    }

    async fn retired_key_owner(&self, key: &str) -> Result<Option<Asset>, MetaError> {
        self.sql_retired_key_owner(key).await
    }

    async fn create_webhook(&self, webhook: &Webhook) -> Result<(), MetaError> {
        self.insert_webhook(webhook).await
    }

    async fn list_webhooks(
        &self,
        site: ObjectId,
        page: PageRequest,
    ) -> Result<Page<Webhook>, MetaError> {
        self.page_of_webhooks(site, page).await
    }

    async fn get_webhook(&self, id: ObjectId) -> Result<Option<Webhook>, MetaError> {
        self.one_webhook(id).await
    }

    async fn delete_webhook(&self, id: ObjectId) -> Result<bool, MetaError> {
        self.remove_webhook(id).await
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Delivery>, MetaError> {
        self.lease_deliveries(now, lease_until, limit).await
    }

    async fn finish_delivery(
        &self,
        delivery: &Delivery,
        outcome: DeliveryOutcome<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), MetaError> {
        self.record_delivery(delivery, outcome, now).await
    }

    async fn report_delivery_status(&self, reports: &[StatusReport]) -> Result<(), MetaError> {
        self.apply_status_reports(reports).await
    }

    async fn release_delivery(&self, delivery: &Delivery) -> Result<(), MetaError> {
        self.unlease_delivery(delivery).await
    }

    fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.outbox.clone()
    }
}
