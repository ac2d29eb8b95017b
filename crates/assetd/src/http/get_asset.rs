//! `GET /v2/assets/{asset_id}` — Get Asset.

use axum::Json;
use axum::extract::State;

use crate::error::Result;
use crate::http::auth::Auth;
use crate::http::lookup;
use crate::http::model::AssetBody;
use crate::http::path::ApiPath;
use crate::scopes::Scope;
use crate::state::AppState;

/// Returns one uploaded asset.
#[utoipa::path(
    get,
    path = "/v2/assets/{asset_id}",
    operation_id = "get-asset",
    tag = "Assets",
    params(("asset_id" = String, Path, description = "Unique identifier for an Asset")),
    responses(
        (status = 200, body = AssetBody),
        (status = 400, body = crate::http::openapi::ErrorSchema),
        (status = 401, body = crate::http::openapi::ErrorSchema),
        (status = 403, body = crate::http::openapi::ErrorSchema),
        (status = 404, body = crate::http::openapi::ErrorSchema),
        (status = 429, body = crate::http::openapi::ErrorSchema),
    ),
    security(("bearer" = ["assets:read"]))
)]
pub async fn get_asset(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(asset_id): ApiPath<String>,
) -> Result<Json<AssetBody>> {
    auth.require(Scope::AssetsRead)?;
    let asset = lookup::uploaded_asset(&state, &auth, &asset_id).await?;
    let variants = state.meta.variants_of(&[asset.id]).await?;
    Ok(Json(AssetBody::new(
        &asset,
        &variants,
        &state.settings.urls,
    )))
}
