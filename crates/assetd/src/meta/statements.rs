//! Statements whose text and binds are the same in every SQL backend, built with sqlx's
//! `QueryBuilder`, which writes each backend's placeholders (`?` or `$n`). Both SQLite (3.24+)
//! and PostgreSQL accept `ON CONFLICT … DO NOTHING`.

use super::{Asset, Variant};
use crate::ids::ObjectId;
use crate::timestamp::to_millis;

/// The multi-row INSERT of a batch, in any backend's placeholder style (SQLite's; PostgreSQL
/// binds one array per column instead). Not to be cached as a prepared statement: its shape
/// changes with the batch size.
pub fn insert_statement<'a, DB>(batch: &'a [Asset]) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
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

/// One INSERT of `variants` of `asset`, keeping rows already recorded (a resumed job plans the
/// same keys again). `variants` must not be empty.
pub fn plan_variants_statement<'a, DB>(
    asset: ObjectId,
    variants: &'a [Variant],
) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::QueryBuilder::<DB>::new(
        "INSERT INTO asset_variants (storage_key, asset_id, width, height, format, quality, \
         state, size, file_hash, error) ",
    );
    query.push_values(variants, |mut row, variant| {
        row.push_bind(variant.storage_key.as_str())
            .push_bind(asset.to_string())
            .push_bind(variant.width)
            .push_bind(variant.height)
            .push_bind(variant.format.as_str())
            .push_bind(variant.quality)
            .push_bind(variant.state.as_str())
            .push_bind(variant.size)
            .push_bind(variant.file_hash.as_deref())
            .push_bind(variant.error.as_deref());
    });
    query.push(" ON CONFLICT (storage_key) DO NOTHING");
    query
}
