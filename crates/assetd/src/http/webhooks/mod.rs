//! The webhook endpoints, an assetd extension in the shape of Webflow's webhook API
//! (`shared/spec/webflow-webhooks-notes.md`): create, list, get and delete, with assetd's own
//! asset trigger types. Webflow's fields keep Webflow's names and types, so the SDKs parse them;
//! assetd adds `secret` (in the create answer only) and `deliveries` (how delivery goes).
//!
//! Scopes: Webflow asks `sites:read` / `sites:write` for its webhooks; assetd has no site
//! scopes, and these webhooks report asset changes, so reading them takes `assets:read` and
//! creating or deleting them `assets:write`.

pub mod create;
pub mod delete;
pub mod get;
pub mod list;

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Error;
use crate::http::auth::Auth;
use crate::ids::ObjectId;
use crate::meta::{DeliveryStatus, Page, PageRequest, Webhook};
use crate::state::AppState;
use crate::timestamp;

/// A webhook.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookBody {
    #[schema(value_type = String, example = "582266e0cd48de0f0e3c6d8b")]
    id: ObjectId,
    /// One of `asset_created`, `asset_changed`, `asset_replaced`, `asset_deleted`,
    /// `asset_folder_changed`.
    #[schema(example = "asset_created")]
    trigger_type: &'static str,
    url: String,
    #[schema(value_type = String)]
    site_id: ObjectId,
    /// When a delivery last succeeded; absent before the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_triggered: Option<String>,
    #[schema(example = "2023-02-09T23:58:22.294Z")]
    created_on: String,
    /// assetd extension: the signing secret, in the create answer only (never shown again).
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    /// assetd extension: how deliveries go.
    deliveries: DeliveriesBody,
}

/// assetd extension: a webhook's delivery status.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveriesBody {
    /// Events waiting for delivery (retries included).
    pending: i64,
    /// Events delivered (the receiver answered 2xx).
    delivered: i64,
    /// Events given up on (24 h of failures by default).
    given_up: i64,
    /// Attempts that failed since the last success.
    failures: i64,
    /// The last attempt, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_attempt: Option<LastAttemptBody>,
}

/// assetd extension: the last delivery attempt of a webhook.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastAttemptBody {
    at: String,
    /// The receiver's status code; absent if it could not be reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<i64>,
    /// Why it failed; absent if it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[schema(value_type = Option<String>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<ObjectId>,
}

impl DeliveriesBody {
    fn new(status: &DeliveryStatus) -> Self {
        Self {
            pending: status.pending,
            delivered: status.delivered,
            given_up: status.given_up,
            failures: status.failures,
            last_attempt: status.last_attempt_at.map(|at| LastAttemptBody {
                at: timestamp::format(at),
                status: status.last_status,
                error: status.last_error.clone(),
                event_id: status.last_event_id,
            }),
        }
    }
}

impl WebhookBody {
    /// The body of `webhook`, without its secret.
    pub fn new(webhook: &Webhook) -> Self {
        Self {
            id: webhook.id,
            trigger_type: webhook.trigger.as_str(),
            url: webhook.url.clone(),
            site_id: webhook.site_id,
            last_triggered: webhook.status.last_triggered.map(timestamp::format),
            created_on: timestamp::format(webhook.created_on),
            secret: None,
            deliveries: DeliveriesBody::new(&webhook.status),
        }
    }

    /// The body of a just-created `webhook`, with its secret.
    pub fn created(webhook: &Webhook) -> Self {
        Self {
            secret: Some(webhook.secret.expose().to_owned()),
            ..Self::new(webhook)
        }
    }
}

/// List Webhooks response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookList {
    webhooks: Vec<WebhookBody>,
    pagination: crate::http::model::Pagination,
}

impl WebhookList {
    /// The response for one page of webhooks.
    pub fn new(request: PageRequest, page: &Page<Webhook>) -> Self {
        Self {
            webhooks: page.items.iter().map(WebhookBody::new).collect(),
            pagination: crate::http::model::Pagination::new(request, page),
        }
    }
}

/// The webhook `raw` names, if the token sees its site (another site's and an unknown id get
/// the same 404).
pub async fn find(state: &AppState, auth: &Auth, raw: &str) -> Result<Webhook, Error> {
    let id: ObjectId = raw
        .parse()
        .map_err(|_| Error::invalid("webhook_id", "Provided ID is invalid"))?;
    match state.meta.get_webhook(id).await? {
        Some(webhook) if auth.0.sees(webhook.site_id) => Ok(webhook),
        _ => Err(Error::NotFound("webhook")),
    }
}
