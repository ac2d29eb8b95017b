//! Decoding rows into domain types, shared by every SQL backend (the column names and types are
//! the same in each schema).

use std::str::FromStr;

use sqlx::{ColumnIndex, Database, Decode, Row, Type};

use super::{Asset, AssetState, Folder, MetaError, Replacement, Variant, VariantJob, VariantState};
use crate::ids::ObjectId;
use crate::timestamp::from_millis;

/// What a backend's rows must decode for the shared mapping.
pub trait SqlRow: Row
where
    for<'c> &'c str: ColumnIndex<Self>,
{
}

impl<R: Row> SqlRow for R where for<'c> &'c str: ColumnIndex<R> {}

pub(super) fn decode_error(e: impl std::error::Error + Send + Sync + 'static) -> MetaError {
    MetaError::Backend(sqlx::Error::Decode(Box::new(e)))
}

/// An id column.
pub fn id<R>(row: &R, column: &str) -> Result<ObjectId, MetaError>
where
    R: SqlRow,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let text: String = row.try_get(column)?;
    ObjectId::from_str(&text).map_err(decode_error)
}

/// A nullable id column.
pub fn optional_id<R>(row: &R, column: &str) -> Result<Option<ObjectId>, MetaError>
where
    R: SqlRow,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| ObjectId::from_str(&t))
        .transpose()
        .map_err(decode_error)
}

/// A `scopes` column.
pub fn scopes<R>(row: &R) -> Result<crate::scopes::Scopes, MetaError>
where
    R: SqlRow,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let text: String = row.try_get("scopes")?;
    text.parse().map_err(decode_error)
}

/// A `sites` row as `(id, name, created_on)`.
pub fn site((id, name, created_on): (String, String, i64)) -> Result<super::Site, MetaError> {
    Ok(super::Site {
        id: ObjectId::from_str(&id).map_err(decode_error)?,
        name,
        created_on: from_millis(created_on),
    })
}

/// An `assets` row.
pub fn asset<R, DB>(row: &R) -> Result<Asset, MetaError>
where
    DB: Database,
    R: SqlRow<Database = DB>,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> Option<i64>: Decode<'r, DB> + Type<DB>,
{
    let state: String = row.try_get("state")?;
    Ok(Asset {
        id: id(row, "id")?,
        site_id: id(row, "site_id")?,
        folder_id: optional_id(row, "folder_id")?,
        original_file_name: row.try_get("original_file_name")?,
        display_name: row.try_get("display_name")?,
        alt_text: row.try_get("alt_text")?,
        content_type: row.try_get("content_type")?,
        file_hash: row.try_get("file_hash")?,
        storage_key: row.try_get("storage_key")?,
        size: row.try_get("size")?,
        state: match state.as_str() {
            "uploaded" => AssetState::Uploaded,
            "failed" => AssetState::Failed,
            _ => AssetState::Pending,
        },
        upload_expires_at: from_millis(row.try_get("upload_expires_at")?),
        created_on: from_millis(row.try_get("created_on")?),
        last_updated: from_millis(row.try_get("last_updated")?),
    })
}

/// An `asset_replacements` row.
pub fn replacement<R, DB>(row: &R) -> Result<Replacement, MetaError>
where
    DB: Database,
    R: SqlRow<Database = DB>,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
{
    Ok(Replacement {
        id: id(row, "id")?,
        asset_id: id(row, "asset_id")?,
        site_id: id(row, "site_id")?,
        original_file_name: row.try_get("original_file_name")?,
        content_type: row.try_get("content_type")?,
        file_hash: row.try_get("file_hash")?,
        storage_key: row.try_get("storage_key")?,
        upload_expires_at: from_millis(row.try_get("upload_expires_at")?),
        created_on: from_millis(row.try_get("created_on")?),
    })
}

/// An `asset_variants` row.
pub fn variant<R, DB>(row: &R) -> Result<Variant, MetaError>
where
    DB: Database,
    R: SqlRow<Database = DB>,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> Option<i64>: Decode<'r, DB> + Type<DB>,
{
    let state: String = row.try_get("state")?;
    Ok(Variant {
        storage_key: row.try_get("storage_key")?,
        asset_id: id(row, "asset_id")?,
        width: row.try_get("width")?,
        height: row.try_get("height")?,
        format: row.try_get("format")?,
        quality: row.try_get("quality")?,
        state: match state.as_str() {
            "done" => VariantState::Done,
            "failed" => VariantState::Failed,
            _ => VariantState::Pending,
        },
        size: row.try_get("size")?,
        file_hash: row.try_get("file_hash")?,
        error: row.try_get("error")?,
    })
}

/// A claimed `variant_jobs` row (`asset_id, attempts`).
pub fn variant_job<R, DB>(row: &R) -> Result<VariantJob, MetaError>
where
    DB: Database,
    R: SqlRow<Database = DB>,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
{
    Ok(VariantJob {
        asset_id: id(row, "asset_id")?,
        attempts: row.try_get("attempts")?,
    })
}

/// An `asset_folders` row.
pub fn folder<R, DB>(row: &R) -> Result<Folder, MetaError>
where
    DB: Database,
    R: SqlRow<Database = DB>,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
{
    Ok(Folder {
        id: id(row, "id")?,
        site_id: id(row, "site_id")?,
        parent_folder: optional_id(row, "parent_folder")?,
        display_name: row.try_get("display_name")?,
        created_on: from_millis(row.try_get("created_on")?),
        last_updated: from_millis(row.try_get("last_updated")?),
    })
}
