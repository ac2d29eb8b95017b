//! `DELETE /v2/webhooks/{webhook_id}` — Remove Webhook: 204; its undelivered events go with it.

use axum::extract::State;
use axum::http::StatusCode;

use crate::error::{Error, Result};
use crate::http::auth::Auth;
use crate::http::path::ApiPath;
use crate::scopes::Scope;
use crate::state::AppState;

/// Deletes a webhook and its undelivered events (an attempt already under way may still
/// arrive).
#[utoipa::path(
    delete,
    path = "/v2/webhooks/{webhook_id}",
    operation_id = "delete-webhook",
    tag = "Webhooks (assetd extension)",
    params(("webhook_id" = String, Path, description = "Unique identifier for a Webhook")),
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
pub async fn delete_webhook(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(webhook_id): ApiPath<String>,
) -> Result<StatusCode> {
    auth.require(Scope::AssetsWrite)?;
    let webhook = super::find(&state, &auth, &webhook_id).await?;
    if state.meta.delete_webhook(webhook.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound("webhook"))
    }
}
