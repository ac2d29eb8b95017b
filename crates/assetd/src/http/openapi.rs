//! `GET /v2/openapi.json`: the service's OpenAPI 3.1 document, generated from the handlers'
//! annotations and the response types, so it cannot drift from the code.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::http::{
    create_asset, create_folder, delete_asset, delete_folder, get_asset, get_folder, list_assets,
    list_folders, model, replace_asset, update_asset, update_folder, webhooks,
};

/// Webflow's error body.
#[derive(ToSchema)]
#[allow(dead_code, non_snake_case)]
pub struct ErrorSchema {
    /// Machine-readable code, e.g. `validation_error`.
    code: String,
    /// Human-readable message.
    message: String,
    /// Always null.
    externalReference: Option<String>,
    /// For `validation_error`: `{param, description}` objects.
    #[schema(value_type = Vec<Object>)]
    details: Vec<()>,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "assetd — Webflow-compatible Assets API",
        description = "Webflow Data API v2, Assets endpoints, as served by assetd. assetd's own \
            extensions, which Webflow's API does not have: `parentFolder` in Update Asset (move), \
            Replace Asset (tag `Assets (assetd extension)`), Update Asset Folder and Delete Asset \
            Folder (tag `Asset Folders (assetd extension)`); asset webhooks in the shape of \
            Webflow's webhook API, with assetd's own trigger types `asset_created`, \
            `asset_changed`, `asset_replaced`, `asset_deleted` and `asset_folder_changed`, \
            deliveries signed as Webflow signs its own (`x-webflow-timestamp`, \
            `x-webflow-signature`) and retried for 24 h (tag `Webhooks (assetd extension)`)."
    ),
    paths(
        create_asset::create_asset,
        list_assets::list_assets,
        get_asset::get_asset,
        update_asset::update_asset,
        delete_asset::delete_asset,
        replace_asset::replace_asset,
        list_folders::list_folders,
        create_folder::create_folder,
        get_folder::get_folder,
        update_folder::update_folder,
        delete_folder::delete_folder,
        webhooks::list::list_webhooks,
        webhooks::create::create_webhook,
        webhooks::get::get_webhook,
        webhooks::delete::delete_webhook,
    ),
    components(schemas(
        ErrorSchema,
        model::AssetBody,
        model::ListedAsset,
        model::AssetList,
        model::VariantBody,
        model::Pagination,
        model::FolderBody,
        model::FolderList,
        create_asset::AssetUpload,
        create_asset::UploadDetails,
        create_asset::CreateAssetSchema,
        update_asset::AssetUpdateSchema,
        replace_asset::ReplaceAssetSchema,
        create_folder::FolderCreateSchema,
        update_folder::FolderUpdateSchema,
        webhooks::WebhookBody,
        webhooks::WebhookList,
        webhooks::DeliveriesBody,
        webhooks::LastAttemptBody,
        webhooks::create::WebhookCreateSchema,
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
});

/// Serves the document (no token needed: it holds no data).
pub async fn openapi_json() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT.as_str(),
    )
        .into_response()
}
