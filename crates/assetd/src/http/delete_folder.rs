//! `DELETE /v2/asset_folders/{asset_folder_id}[?recursive=true]` — assetd's extension (Webflow's
//! Data API cannot delete folders). An empty folder goes; one with subfolders or assets (in any
//! state, a pending upload included) is 409 `conflict` unless `recursive=true`, which removes
//! its whole subtree and every asset in it, in one transaction, with their objects and
//! variants queued for deletion in it (so none is orphaned) and removed before the answer
//! where the store allows, else by the sweep. 204 on success, like Delete Asset.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;

use crate::error::{Error, FieldError, Result};
use crate::http::auth::Auth;
use crate::http::lookup;
use crate::http::path::ApiPath;
use crate::http::query::QueryParams;
use crate::scopes::Scope;
use crate::state::AppState;

/// Objects removed before answering; the sweep removes the rest of a larger tree's.
const INLINE_DELETIONS: usize = 256;

/// What `recursive` says: absent or `false` deletes an empty folder only.
fn recursive(raw: Option<&str>) -> std::result::Result<bool, FieldError> {
    match raw {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(FieldError::new("recursive", "Must be true or false")),
    }
}

/// Deletes an asset folder, and with `recursive=true` everything in it.
#[utoipa::path(
    delete,
    path = "/v2/asset_folders/{asset_folder_id}",
    operation_id = "delete-asset-folder",
    tag = "Asset Folders (assetd extension)",
    params(
        ("asset_folder_id" = String, Path, description = "Unique identifier for an Asset Folder"),
        ("recursive" = Option<bool>, Query, description = "Also delete its subfolders and assets"),
    ),
    responses(
        (status = 204),
        (status = 400, body = crate::http::openapi::ErrorSchema),
        (status = 401, body = crate::http::openapi::ErrorSchema),
        (status = 403, body = crate::http::openapi::ErrorSchema),
        (status = 404, body = crate::http::openapi::ErrorSchema),
        (status = 409, body = crate::http::openapi::ErrorSchema),
        (status = 429, body = crate::http::openapi::ErrorSchema),
    ),
    security(("bearer" = ["assets:write"]))
)]
pub async fn delete_folder(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(folder_id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<StatusCode> {
    auth.require(Scope::AssetsWrite)?;
    let recursive = recursive(QueryParams::parse(query.as_deref()).get("recursive")?)
        .map_err(|e| Error::Validation(vec![e]))?;
    let folder = lookup::folder(&state, &auth, &folder_id, "asset_folder_id").await?;
    let now = crate::timestamp::now();
    let deleted = state
        .meta
        .delete_folder(folder.id, recursive, now)
        .await?
        .ok_or(Error::NotFound("asset folder"))?;
    state
        .delivery_cache
        .forget(deleted.keys.iter().map(String::as_str));
    // A large tree's objects are left to the sweep beyond the first few: the answer should not
    // wait for thousands of deletions, and the queue already holds every key.
    for key in deleted.keys.iter().take(INLINE_DELETIONS) {
        match state.blobs.delete(key).await {
            Ok(()) => state.meta.finish_blob_deletion(key, now).await?,
            Err(e) => {
                tracing::warn!(%key, error = %e, "blob delete failed; the sweep retries");
            }
        }
    }
    tracing::info!(folder = %folder.id, folders = deleted.folders, assets = deleted.assets, "asset folder deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recursive_is_true_false_or_absent() {
        assert_eq!(recursive(None).ok(), Some(false));
        assert_eq!(recursive(Some("false")).ok(), Some(false));
        assert_eq!(recursive(Some("true")).ok(), Some(true));
        assert!(recursive(Some("yes")).is_err());
    }
}
