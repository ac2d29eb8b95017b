//! The SQL of replacing an asset's file (see [`super::Replacement`]), for both dialects.
//!
//! Kept apart from `sql.rs` so that file stays about the core tables; the trait methods there
//! call these. Every write takes the asset's row lock first (PostgreSQL; SQLite's write
//! transaction locks the database), the order `delete_asset` and `plan_variants` use too, so a
//! replace racing a delete or a variant job is serialized: whichever commits second sees the
//! first's rows.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

use super::dialect::Dialect;
use super::sql::{QUEUE_DELETION, SqlMeta};
use super::webhooks::enqueue_asset_event;
use super::{Asset, AssetState, MetaError, Replaced, Replacement, rows};
use crate::ids::ObjectId;
use crate::timestamp::to_millis;
use crate::variant_plan::VariantFormat;
use crate::webhook_events::Trigger;

/// Queues the keys of `asset`'s variants (`$2`) for deletion as of `$1`.
const QUEUE_VARIANTS: &str = "INSERT INTO blob_deletions (storage_key, queued_at, keep_until) \
     SELECT storage_key, $1, $1 FROM asset_variants WHERE asset_id = $2 \
     ON CONFLICT (storage_key) DO UPDATE SET queued_at = excluded.queued_at, \
     keep_until = excluded.keep_until";

/// Queues the keys of the waiting replacements of asset `$1`, each until its window closes
/// (a client may still post to it until then), as of `$2`.
pub(super) const QUEUE_WAITING_REPLACEMENTS: &str = "INSERT INTO blob_deletions (storage_key, queued_at, keep_until) \
     SELECT storage_key, $2, CASE WHEN upload_expires_at > $2 THEN upload_expires_at ELSE $2 END \
     FROM asset_replacements WHERE asset_id = $1 \
     ON CONFLICT (storage_key) DO UPDATE SET queued_at = excluded.queued_at, \
     keep_until = excluded.keep_until";

impl<D: Dialect> SqlMeta<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'c> &'c str: ColumnIndex<<D::Db as Database>::Row>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
{
    /// The asset `id`, locked for the rest of `tx` (see the module doc).
    async fn locked_asset(
        tx: &mut sqlx::Transaction<'static, D::Db>,
        id: ObjectId,
    ) -> Result<Option<Asset>, MetaError> {
        let lock = if D::ROW_LOCKS { " FOR UPDATE" } else { "" };
        sqlx::query(&format!("SELECT * FROM assets WHERE id = $1{lock}"))
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .as_ref()
            .map(rows::asset)
            .transpose()
    }

    pub(super) async fn sql_start_replacement(
        &self,
        replacement: &Replacement,
        now: DateTime<Utc>,
    ) -> Result<Option<Asset>, MetaError> {
        let mut tx = self.begin_write().await?;
        let Some(asset) = Self::locked_asset(&mut tx, replacement.asset_id).await? else {
            return Ok(None);
        };
        if asset.state != AssetState::Uploaded {
            return Err(MetaError::NotUploaded);
        }
        let asset_id = asset.id.to_string();
        sqlx::query(QUEUE_WAITING_REPLACEMENTS)
            .bind(asset_id.as_str())
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM asset_replacements WHERE asset_id = $1")
            .bind(asset_id.as_str())
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO asset_replacements (id, asset_id, site_id, original_file_name, \
             content_type, file_hash, storage_key, upload_expires_at, created_on) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(replacement.id.to_string())
        .bind(asset_id.as_str())
        .bind(replacement.site_id.to_string())
        .bind(replacement.original_file_name.as_str())
        .bind(replacement.content_type.as_str())
        .bind(replacement.file_hash.as_str())
        .bind(replacement.storage_key.as_str())
        .bind(to_millis(replacement.upload_expires_at))
        .bind(to_millis(replacement.created_on))
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if super::sql::is_unique_violation(&e) => {
                return Err(MetaError::Conflict(
                    "replacement id or key already exists".into(),
                ));
            }
            other => other?,
        };
        tx.commit().await?;
        Ok(Some(asset))
    }

    pub(super) async fn sql_replacement(
        &self,
        id: ObjectId,
    ) -> Result<Option<Replacement>, MetaError> {
        sqlx::query("SELECT * FROM asset_replacements WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(rows::replacement)
            .transpose()
    }

    pub(super) async fn sql_complete_replacement(
        &self,
        id: ObjectId,
        size: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<Replaced>, MetaError> {
        let Some(waiting) = self.sql_replacement(id).await? else {
            return Ok(None);
        };
        let mut tx = self.begin_write().await?;
        let Some(old) = Self::locked_asset(&mut tx, waiting.asset_id).await? else {
            return Ok(None);
        };
        // Taking the row is the claim: a newer replacement or a drop may have removed it while
        // this waited for the asset's lock.
        let Some(row) = sqlx::query("DELETE FROM asset_replacements WHERE id = $1 RETURNING *")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let replacement = rows::replacement(&row)?;
        let (asset_id, at) = (old.id.to_string(), to_millis(now));
        let mut old_keys: Vec<String> =
            sqlx::query_scalar("SELECT storage_key FROM asset_variants WHERE asset_id = $1")
                .bind(asset_id.as_str())
                .fetch_all(&mut *tx)
                .await?;
        old_keys.push(old.storage_key.clone());
        sqlx::query(QUEUE_VARIANTS)
            .bind(at)
            .bind(asset_id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(QUEUE_DELETION)
            .bind(old.storage_key.as_str())
            .bind(at)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        for statement in [
            "INSERT INTO retired_keys (storage_key, asset_id, retired_at) \
             SELECT storage_key, asset_id, $1 FROM asset_variants WHERE asset_id = $2 \
             ON CONFLICT (storage_key) DO NOTHING",
            "INSERT INTO retired_keys (storage_key, asset_id, retired_at) \
             SELECT storage_key, id, $1 FROM assets WHERE id = $2 \
             ON CONFLICT (storage_key) DO NOTHING",
        ] {
            sqlx::query(statement)
                .bind(at)
                .bind(asset_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        for statement in [
            // A job for the old file may be leased: its worker's plan is refused (the source key
            // changed) and its finish removes no job but its own lease's.
            "DELETE FROM variant_jobs WHERE asset_id = $1",
            "DELETE FROM asset_variants WHERE asset_id = $1",
        ] {
            sqlx::query(statement)
                .bind(asset_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query(
            "UPDATE assets SET storage_key = $1, original_file_name = $2, content_type = $3, \
             file_hash = $4, size = $5, last_updated = $6 WHERE id = $7 RETURNING *",
        )
        .bind(replacement.storage_key.as_str())
        .bind(replacement.original_file_name.as_str())
        .bind(replacement.content_type.as_str())
        .bind(replacement.file_hash.as_str())
        .bind(size)
        .bind(at)
        .bind(asset_id.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let asset = rows::asset(&row)?;
        if VariantFormat::from_content_type(&asset.content_type).is_some() {
            sqlx::query("INSERT INTO variant_jobs (asset_id, queued_at) VALUES ($1, $2)")
                .bind(asset_id.as_str())
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        // The webhook event commits with the swap, or neither does (the outbox).
        let queued =
            enqueue_asset_event::<D>(&mut *tx, Trigger::AssetReplaced, &asset, now).await?;
        tx.commit().await?;
        self.queued(queued);
        Ok(Some(Replaced { asset, old_keys }))
    }

    pub(super) async fn sql_drop_replacement(
        &self,
        id: ObjectId,
        now: DateTime<Utc>,
    ) -> Result<bool, MetaError> {
        let mut tx = self.begin_write().await?;
        let dropped: Option<(String, i64)> = sqlx::query_as(
            "DELETE FROM asset_replacements WHERE id = $1 \
             RETURNING storage_key, upload_expires_at",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((key, expires)) = dropped else {
            return Ok(false);
        };
        let at = to_millis(now);
        sqlx::query(QUEUE_DELETION)
            .bind(key.as_str())
            .bind(at)
            .bind(expires.max(at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(super) async fn sql_open_replacements(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Replacement>, MetaError> {
        sqlx::query(
            "SELECT * FROM asset_replacements WHERE upload_expires_at >= $1 \
             ORDER BY created_on, id LIMIT $2",
        )
        .bind(to_millis(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::replacement)
        .collect()
    }

    pub(super) async fn sql_expired_replacements(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Replacement>, MetaError> {
        sqlx::query(
            "SELECT * FROM asset_replacements WHERE upload_expires_at < $1 \
             ORDER BY upload_expires_at LIMIT $2",
        )
        .bind(to_millis(before))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::replacement)
        .collect()
    }

    pub(super) async fn sql_retired_key_owner(
        &self,
        key: &str,
    ) -> Result<Option<Asset>, MetaError> {
        sqlx::query(
            "SELECT a.* FROM retired_keys r JOIN assets a ON a.id = r.asset_id \
             WHERE r.storage_key = $1 AND a.state = 'uploaded'",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::asset)
        .transpose()
    }
}
