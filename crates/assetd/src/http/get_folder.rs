//! `GET /v2/asset_folders/{asset_folder_id}` — Get Asset Folder.

use axum::Json;
use axum::extract::State;

use crate::error::Result;
use crate::http::auth::Auth;
use crate::http::lookup;
use crate::http::model::FolderBody;
use crate::http::path::ApiPath;
use crate::meta::Folder;
use crate::scopes::Scope;
use crate::state::AppState;

/// Returns one folder with the ids of the assets directly in it.
#[utoipa::path(
    get,
    path = "/v2/asset_folders/{asset_folder_id}",
    operation_id = "get-asset-folder",
    tag = "Asset Folders",
    params(("asset_folder_id" = String, Path, description = "Unique identifier for an Asset Folder")),
    responses(
        (status = 200, body = FolderBody),
        (status = 400, body = crate::http::openapi::ErrorSchema),
        (status = 401, body = crate::http::openapi::ErrorSchema),
        (status = 403, body = crate::http::openapi::ErrorSchema),
        (status = 404, body = crate::http::openapi::ErrorSchema),
        (status = 429, body = crate::http::openapi::ErrorSchema),
    ),
    security(("bearer" = ["assets:read"]))
)]
pub async fn get_folder(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(folder_id): ApiPath<String>,
) -> Result<Json<FolderBody>> {
    auth.require(Scope::AssetsRead)?;
    let folder = lookup::folder(&state, &auth, &folder_id, "asset_folder_id").await?;
    // Never a HEAD here (see `confirmer`): arrived uploads show in a later read.
    state.confirmer.hurry_site(folder.site_id);
    Ok(Json(folder_body(&state, &folder).await?))
}

/// A folder as Get Asset Folder answers it: with the ids of the uploaded assets directly in it.
pub async fn folder_body(state: &AppState, folder: &Folder) -> Result<FolderBody> {
    let assets = state
        .meta
        .folder_assets(&[folder.id])
        .await?
        .into_iter()
        .map(|(_, asset)| asset)
        .collect();
    Ok(FolderBody::new(folder, assets))
}
