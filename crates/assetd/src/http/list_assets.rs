//! `GET /v2/sites/{site_id}/assets` — List Assets.

use axum::Json;
use axum::extract::{RawQuery, State};

use crate::error::{Error, Result};
use crate::http::auth::Auth;
use crate::http::lookup;
use crate::http::model::AssetList;
use crate::http::path::ApiPath;
use crate::http::query::QueryParams;
use crate::scopes::Scope;
use crate::state::AppState;

/// Lists a site's uploaded assets, oldest first; `folderId` narrows to a folder and its
/// descendants, and `pagination.total` counts the filtered set.
#[utoipa::path(
    get,
    path = "/v2/sites/{site_id}/assets",
    operation_id = "list-assets",
    tag = "Assets",
    params(
        ("site_id" = String, Path, description = "Unique identifier for a Site"),
        ("offset" = Option<i64>, Query, description = "Items to skip", minimum = 0),
        ("limit" = Option<i64>, Query, description = "Items to return (max 100)", minimum = 1, maximum = 100),
        ("folderId" = Option<String>, Query, description = "Only assets in this folder and its descendants"),
        ("localeId" = Option<String>, Query, description = "Accepted and ignored"),
    ),
    responses(
        (status = 200, body = AssetList),
        (status = 400, body = crate::http::openapi::ErrorSchema),
        (status = 401, body = crate::http::openapi::ErrorSchema),
        (status = 403, body = crate::http::openapi::ErrorSchema),
        (status = 404, body = crate::http::openapi::ErrorSchema),
        (status = 429, body = crate::http::openapi::ErrorSchema),
    ),
    security(("bearer" = ["assets:read"]))
)]
pub async fn list_assets(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(site_id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<AssetList>> {
    auth.require(Scope::AssetsRead)?;
    let site = auth.site(&site_id)?;
    let query = QueryParams::parse(query.as_deref());
    let page = query.page()?;
    let folder = match query.get("folderId")? {
        Some(raw) => {
            let folder = lookup::folder(&state, &auth, raw, "folderId").await?;
            if folder.site_id != site {
                return Err(Error::NotFound("asset folder"));
            }
            Some(folder.id)
        }
        None => None,
    };
    // Never a HEAD here: uploads of the site that may have arrived are checked in the
    // background, and show in a later list.
    state.confirmer.hurry_site(site);
    let assets = state.meta.list_assets(site, folder, page).await?;
    let ids: Vec<_> = assets.items.iter().map(|a| a.id).collect();
    let variants = state.meta.variants_of(&ids).await?;
    Ok(Json(AssetList::new(
        page,
        &assets,
        &variants,
        &state.settings.urls,
    )))
}
