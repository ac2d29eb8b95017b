//! `GET /v2/sites/{site_id}/asset_folders` — List Asset Folders.

use axum::Json;
use axum::extract::{RawQuery, State};

use crate::error::Result;
use crate::http::auth::Auth;
use crate::http::model::FolderList;
use crate::http::path::ApiPath;
use crate::http::query::QueryParams;
use crate::scopes::Scope;
use crate::state::AppState;

/// Lists a site's folders, oldest first, each with the ids of the assets directly in it.
#[utoipa::path(
    get,
    path = "/v2/sites/{site_id}/asset_folders",
    operation_id = "list-asset-folders",
    tag = "Asset Folders",
    params(
        ("site_id" = String, Path, description = "Unique identifier for a Site"),
        ("offset" = Option<i64>, Query, description = "Items to skip", minimum = 0),
        ("limit" = Option<i64>, Query, description = "Items to return (max 100)", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, body = FolderList),
        (status = 400, body = crate::http::openapi::ErrorSchema),
        (status = 401, body = crate::http::openapi::ErrorSchema),
        (status = 403, body = crate::http::openapi::ErrorSchema),
        (status = 404, body = crate::http::openapi::ErrorSchema),
        (status = 429, body = crate::http::openapi::ErrorSchema),
    ),
    security(("bearer" = ["assets:read"]))
)]
pub async fn list_folders(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(site_id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<FolderList>> {
    auth.require(Scope::AssetsRead)?;
    let site = auth.site(&site_id)?;
    let page = QueryParams::parse(query.as_deref()).page()?;
    // Never a HEAD here (see `confirmer`): arrived uploads show in a later read.
    state.confirmer.hurry_site(site);
    let folders = state.meta.list_folders(site, page).await?;
    let ids: Vec<_> = folders.items.iter().map(|f| f.id).collect();
    let contents = state.meta.folder_assets(&ids).await?;
    Ok(Json(FolderList::new(page, &folders, &contents)))
}
