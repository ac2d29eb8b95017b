//! `GET /v2/webhooks/{webhook_id}` — Get Webhook, with assetd's delivery status.

use axum::Json;
use axum::extract::State;

use super::WebhookBody;
use crate::error::Result;
use crate::http::auth::Auth;
use crate::http::path::ApiPath;
use crate::scopes::Scope;
use crate::state::AppState;

/// Returns one webhook (without its secret) and how its deliveries go.
#[utoipa::path(
    get,
    path = "/v2/webhooks/{webhook_id}",
    operation_id = "get-webhook",
    tag = "Webhooks (assetd extension)",
    params(("webhook_id" = String, Path, description = "Unique identifier for a Webhook")),
    responses(
        (status = 200, body = WebhookBody),
        (status = 400, body = crate::http::openapi::ErrorSchema),
        (status = 401, body = crate::http::openapi::ErrorSchema),
        (status = 403, body = crate::http::openapi::ErrorSchema),
        (status = 404, body = crate::http::openapi::ErrorSchema),
        (status = 429, body = crate::http::openapi::ErrorSchema),
    ),
    security(("bearer" = ["assets:read"]))
)]
pub async fn get_webhook(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(webhook_id): ApiPath<String>,
) -> Result<Json<WebhookBody>> {
    auth.require(Scope::AssetsRead)?;
    let webhook = super::find(&state, &auth, &webhook_id).await?;
    Ok(Json(WebhookBody::new(&webhook)))
}
