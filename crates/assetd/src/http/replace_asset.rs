//! `POST /v2/assets/{asset_id}/replace` — Replace Asset (assetd extension): a new file for an
//! asset, keeping its id, folder, display name and alt text.
//!
//! The body is Upload Asset's (`fileName`, `fileHash`) and so is the answer: a presigned POST,
//! here for the new file's key, `{siteId}/{assetId}_{replacementId}-{fileName}`
//! ([`keys::replacement_key`]), so the new file has a new
//! `hostedUrl` and no cache can serve the old bytes under it. Nothing changes until the new
//! bytes arrive and verify; then, in one transaction, the asset points at them (size, content
//! type, `originalFileName` and `lastUpdated` updated, variants made again) and the old file's
//! and variants' objects are deleted. Until then the old file is served. Old URLs served by
//! assetd redirect to the current file for as long as the asset exists (see `delivery`).
//!
//! A second replace before the first one's bytes arrive takes its place: the first one's
//! policy is then refused. A replacement whose bytes never arrive is dropped by the sweep.

use axum::body::Body;
use axum::extract::State;
use chrono::TimeDelta;

use crate::create_request::CreateAssetRequest;
use crate::error::{Error, FieldError, Result};
use crate::http::auth::Auth;
use crate::http::body::read_json;
use crate::http::create_asset::{AssetUpload, BODY_LIMIT, upload_answer};
use crate::http::lookup;
use crate::http::path::ApiPath;
use crate::ids::ObjectId;
use crate::keys;
use crate::meta::{Asset, Replacement};
use crate::scopes::Scope;
use crate::state::AppState;
use crate::variant_plan::VariantFormat;

/// Replace Asset request body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)]
pub struct ReplaceAssetSchema {
    /// The new file's name with extension, fewer than 100 characters (its type may differ).
    fileName: String,
    /// MD5 of the new file's content, 32 hex digits.
    fileHash: String,
}

/// Replace Asset: records a replacement and answers with a presigned POST for its bytes.
#[utoipa::path(
    post,
    path = "/v2/assets/{asset_id}/replace",
    operation_id = "replace-asset",
    tag = "Assets (assetd extension)",
    params(("asset_id" = String, Path, description = "Unique identifier for an Asset")),
    request_body(content = ReplaceAssetSchema, content_type = "application/json"),
    responses(
        (status = 200, body = AssetUpload, description = "As Upload Asset: post the new file to `uploadUrl` with `uploadDetails`; `hostedUrl` is where it will be served"),
        (status = 400, body = crate::http::openapi::ErrorSchema),
        (status = 401, body = crate::http::openapi::ErrorSchema),
        (status = 403, body = crate::http::openapi::ErrorSchema),
        (status = 404, body = crate::http::openapi::ErrorSchema),
        (status = 409, body = crate::http::openapi::ErrorSchema, description = "The asset's own file has not been uploaded yet"),
        (status = 429, body = crate::http::openapi::ErrorSchema),
    ),
    security(("bearer" = ["assets:write"]))
)]
pub async fn replace_asset(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(asset_id): ApiPath<String>,
    body: Body,
) -> Result<AssetUpload> {
    auth.require(Scope::AssetsWrite)?;
    // Any state: with S3 storage a pending asset's bytes may have arrived unnoticed (checked
    // now); one whose bytes have not is refused by the store with 409.
    let asset = state
        .confirmer
        .check(lookup::any_asset(&state, &auth, &asset_id).await?)
        .await?;
    let request = CreateAssetRequest::from_json(
        &read_json(body, BODY_LIMIT, state.settings.body_idle_timeout).await?,
    )
    .map_err(Error::Validation)?;
    // Upload Asset's other fields would be silently meaningless here: said instead.
    let mut refused = Vec::new();
    if request.parent_folder.is_some() {
        refused.push(FieldError::new(
            "parentFolder",
            "A replaced asset keeps its folder; move it with PATCH /v2/assets/{asset_id}",
        ));
    }
    if request.id.is_some() {
        refused.push(FieldError::new("id", "A replaced asset keeps its id"));
    }
    // The key holds the replacement's id too: the name has that much less room.
    let gets_variants = VariantFormat::from_content_type(request.file_type.content_type).is_some();
    let max_name = keys::max_file_name_bytes(gets_variants) - keys::REPLACEMENT_NAME_BYTES;
    if request.file_name.len() > max_name {
        refused.push(FieldError::new(
            "fileName",
            format!(
                "File name must be at most {max_name} bytes in UTF-8 for a replacement (this one is {} bytes)",
                request.file_name.len()
            ),
        ));
    }
    if !refused.is_empty() {
        return Err(Error::Validation(refused));
    }

    let settings = &state.settings;
    let now = crate::timestamp::now();
    let expiration = now + TimeDelta::from_std(settings.upload_expiry).map_err(Error::internal)?;
    let id = ObjectId::generate(now);
    let content_type = request.file_type.content_type;
    let replacement = Replacement {
        id,
        asset_id: asset.id,
        site_id: asset.site_id,
        storage_key: keys::replacement_key(asset.site_id, asset.id, id, &request.file_name),
        original_file_name: request.file_name,
        content_type: content_type.to_owned(),
        file_hash: request.file_hash,
        upload_expires_at: expiration,
        created_on: now,
    };
    let asset = state
        .meta
        .start_replacement(&replacement, now)
        .await?
        .ok_or(Error::NotFound("asset"))?;
    state.confirmer.created(&replacement.upload());
    // The asset as it will be once the new file arrives; until then it is unchanged.
    let future = Asset {
        storage_key: replacement.storage_key,
        original_file_name: replacement.original_file_name,
        content_type: replacement.content_type,
        file_hash: replacement.file_hash,
        upload_expires_at: expiration,
        ..asset
    };
    upload_answer(
        &state,
        &future,
        content_type,
        settings.max_bytes(request.file_type.class),
        now,
    )
}
