//! `POST /v2/sites/{site_id}/webhooks` — Create Webhook, with assetd's asset trigger types.
//! The answer carries the webhook's signing `secret`, the only time it is shown.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use serde_json::Value;

use super::WebhookBody;
use crate::error::{Error, FieldError, Result};
use crate::http::auth::Auth;
use crate::http::body::read_json;
use crate::http::path::ApiPath;
use crate::ids::ObjectId;
use crate::meta::{DeliveryStatus, Webhook};
use crate::scopes::Scope;
use crate::state::AppState;
use crate::webhook_events::Trigger;
use crate::webhook_signature::SigningSecret;
use crate::webhooks::target;

/// Body limit for the small create document.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Webflow's own trigger types (the JS SDK's `TriggerType`): named in the refusal, since a
/// client written for Webflow may send them.
const WEBFLOW_TRIGGERS: &[&str] = &[
    "form_submission",
    "site_publish",
    "page_created",
    "page_metadata_updated",
    "page_deleted",
    "ecomm_new_order",
    "ecomm_order_changed",
    "ecomm_inventory_changed",
    "collection_item_created",
    "collection_item_changed",
    "collection_item_deleted",
    "collection_item_published",
    "collection_item_unpublished",
    "comment_created",
];

/// Create Webhook request body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)]
pub struct WebhookCreateSchema {
    /// `asset_created`, `asset_changed`, `asset_replaced`, `asset_deleted` or
    /// `asset_folder_changed`.
    triggerType: String,
    /// Where deliveries are POSTed: an http or https URL whose host resolves to public
    /// addresses only (unless the operator opened ranges with `--webhook-allow`).
    url: String,
    /// Webflow uses it for `form_submission` only; must be absent or null here.
    #[schema(value_type = Option<Object>)]
    filter: Option<()>,
}

/// The fields of a valid body, before the URL's addresses are checked.
struct Request {
    trigger: Trigger,
    url: String,
}

fn supported() -> String {
    Trigger::EVERY
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn request_from(body: &Value) -> Result<Request, Vec<FieldError>> {
    let Value::Object(body) = body else {
        return Err(vec![FieldError::new(
            "body",
            "Request body must be a JSON object",
        )]);
    };
    let mut errors = Vec::new();
    let trigger = match body.get("triggerType") {
        None | Some(Value::Null) => {
            errors.push(FieldError::new("triggerType", "Required field is missing"));
            None
        }
        Some(Value::String(name)) => match name.parse::<Trigger>() {
            Ok(trigger) => Some(trigger),
            Err(_) if WEBFLOW_TRIGGERS.contains(&name.as_str()) => {
                errors.push(FieldError::new(
                    "triggerType",
                    format!(
                        "{name} is a Webflow trigger type that assetd does not emit; \
                         assetd's are: {}",
                        supported()
                    ),
                ));
                None
            }
            Err(_) => {
                errors.push(FieldError::new(
                    "triggerType",
                    format!("Must be one of: {}", supported()),
                ));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("triggerType", "Must be a string"));
            None
        }
    };
    let url = match body.get("url") {
        None | Some(Value::Null) => {
            errors.push(FieldError::new("url", "Required field is missing"));
            None
        }
        Some(Value::String(url)) => Some(url.clone()),
        Some(_) => {
            errors.push(FieldError::new("url", "Must be a string"));
            None
        }
    };
    if !matches!(body.get("filter"), None | Some(Value::Null)) {
        errors.push(FieldError::new(
            "filter",
            "Filters apply to form_submission webhooks only; assetd's trigger types take none",
        ));
    }
    match (trigger, url) {
        (Some(trigger), Some(url)) if errors.is_empty() => Ok(Request { trigger, url }),
        _ => Err(errors),
    }
}

/// Creates a webhook.
#[utoipa::path(
    post,
    path = "/v2/sites/{site_id}/webhooks",
    operation_id = "create-webhook",
    tag = "Webhooks (assetd extension)",
    params(("site_id" = String, Path, description = "Unique identifier for a Site")),
    request_body(content = WebhookCreateSchema, content_type = "application/json"),
    responses(
        (status = 200, body = WebhookBody, description = "The webhook, with its `secret` (shown only here)"),
        (status = 400, body = crate::http::openapi::ErrorSchema),
        (status = 401, body = crate::http::openapi::ErrorSchema),
        (status = 403, body = crate::http::openapi::ErrorSchema),
        (status = 404, body = crate::http::openapi::ErrorSchema),
        (status = 409, body = crate::http::openapi::ErrorSchema, description = "The site has 75 webhooks of this trigger type (Webflow's limit)"),
        (status = 413, body = crate::http::openapi::ErrorSchema),
        (status = 429, body = crate::http::openapi::ErrorSchema),
    ),
    security(("bearer" = ["assets:write"]))
)]
pub async fn create_webhook(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(site_id): ApiPath<String>,
    body: Body,
) -> Result<Json<WebhookBody>> {
    auth.require(Scope::AssetsWrite)?;
    let site = auth.site(&site_id)?;
    let Request { trigger, url } =
        request_from(&read_json(body, BODY_LIMIT, state.settings.body_idle_timeout).await?)
            .map_err(Error::Validation)?;
    let url = target::check(&url, &state.settings.webhooks.allow)
        .await
        .map_err(|problem| Error::invalid("url", problem.to_string()))?;
    let now = crate::timestamp::now();
    let webhook = Webhook {
        id: ObjectId::generate(now),
        site_id: site,
        trigger,
        url: url.to_string(),
        secret: SigningSecret::generate(),
        created_on: now,
        status: DeliveryStatus::default(),
    };
    state.meta.create_webhook(&webhook).await?;
    Ok(Json(WebhookBody::created(&webhook)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(body: Value) -> Vec<String> {
        match request_from(&body) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.param).collect(),
        }
    }

    #[test]
    fn validates_each_field() {
        assert!(params(json!({"triggerType": "asset_created", "url": "http://x/"})).is_empty());
        assert_eq!(params(json!({})), ["triggerType", "url"]);
        assert_eq!(
            params(json!({"triggerType": "form_submission", "url": "http://x/"})),
            ["triggerType"]
        );
        assert_eq!(
            params(json!({"triggerType": 3, "url": ["x"], "filter": {"name": "a"}})),
            ["triggerType", "url", "filter"]
        );
        assert!(
            params(json!({"triggerType": "asset_deleted", "url": "http://x/", "filter": null}))
                .is_empty()
        );
        assert_eq!(params(json!([1])), ["body"]);
    }
}
