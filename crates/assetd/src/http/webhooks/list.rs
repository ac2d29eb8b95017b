//! `GET /v2/sites/{site_id}/webhooks` — List Webhooks: `{"webhooks": […], "pagination": …}`.

use axum::Json;
use axum::extract::{RawQuery, State};

use super::WebhookList;
use crate::error::Result;
use crate::http::auth::Auth;
use crate::http::path::ApiPath;
use crate::http::query::QueryParams;
use crate::scopes::Scope;
use crate::state::AppState;

/// Lists a site's webhooks, oldest first (without their secrets).
#[utoipa::path(
    get,
    path = "/v2/sites/{site_id}/webhooks",
    operation_id = "list-webhooks",
    tag = "Webhooks (assetd extension)",
    params(
        ("site_id" = String, Path, description = "Unique identifier for a Site"),
        ("offset" = Option<i64>, Query, description = "Items to skip", minimum = 0),
        ("limit" = Option<i64>, Query, description = "Items to return (max 100)", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, body = WebhookList),
        (status = 400, body = crate::http::openapi::ErrorSchema),
        (status = 401, body = crate::http::openapi::ErrorSchema),
        (status = 403, body = crate::http::openapi::ErrorSchema),
        (status = 404, body = crate::http::openapi::ErrorSchema),
        (status = 429, body = crate::http::openapi::ErrorSchema),
    ),
    security(("bearer" = ["assets:read"]))
)]
pub async fn list_webhooks(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(site_id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<WebhookList>> {
    auth.require(Scope::AssetsRead)?;
    let site = auth.site(&site_id)?;
    let page = QueryParams::parse(query.as_deref()).page()?;
    let webhooks = state.meta.list_webhooks(site, page).await?;
    Ok(Json(WebhookList::new(page, &webhooks)))
}
