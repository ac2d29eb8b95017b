//! `DELETE /v2/assets/{asset_id}` — Delete Asset: 204, and the bytes go too.
//!
//! The row is removed and its key queued for deletion in one transaction; the bytes are then
//! deleted and the queue entry cleared. If the blob store fails in between, the sweep retries,
//! so no object is ever orphaned. A pending asset may be deleted too (it cancels the upload).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;

use crate::error::{Error, Result};
use crate::http::auth::Auth;
use crate::http::lookup;
use crate::http::path::ApiPath;
use crate::scopes::Scope;
use crate::state::AppState;

/// Deletes an asset and its bytes.
#[utoipa::path(
    delete,
    path = "/v2/assets/{asset_id}",
    operation_id = "delete-asset",
    tag = "Assets",
    params(("asset_id" = String, Path, description = "Unique identifier for an Asset")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, body = crate::http::openapi::ErrorSchema),
        (status = 401, body = crate::http::openapi::ErrorSchema),
        (status = 403, body = crate::http::openapi::ErrorSchema),
        (status = 404, body = crate::http::openapi::ErrorSchema),
        (status = 429, body = crate::http::openapi::ErrorSchema),
    ),
    security(("bearer" = ["assets:write"]))
)]
pub async fn delete_asset(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(asset_id): ApiPath<String>,
) -> Result<StatusCode> {
    auth.require(Scope::AssetsWrite)?;
    // Look first: with S3 storage an upload may have arrived unnoticed, and an asset known to be
    // uploaded needs no re-deletion after its upload window.
    let asset = state
        .confirmer
        .check(lookup::any_asset(&state, &auth, &asset_id).await?)
        .await?;
    // The delete queues every variant's key too; these are removed now so the response means
    // they are gone. A variant planned after this read is removed by the sweep.
    let variants = state.meta.variants_of(&[asset.id]).await?;
    let now = Utc::now();
    let deleted = state
        .meta
        .delete_asset(asset.id, now)
        .await?
        .ok_or(Error::NotFound("asset"))?;
    state.confirmer.forget(deleted.id);
    let keys: Vec<&str> = std::iter::once(deleted.storage_key.as_str())
        .chain(variants.iter().map(|v| v.storage_key.as_str()))
        .collect();
    state.delivery_cache.forget(keys.iter().copied());
    for key in keys {
        match state.blobs.delete(key).await {
            Ok(()) => state.meta.finish_blob_deletion(key, now).await?,
            Err(e) => {
                tracing::warn!(%key, error = %e, "blob delete failed; the sweep retries")
            }
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
