//! `POST /v2/sites/{site_id}/assets` — "Upload Asset", step 1 of the two-step upload
//! (`spec/upload-asset.md`): records a pending asset and answers with a presigned POST.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use chrono::TimeDelta;
use serde::Serialize;

use crate::create_request::CreateAssetRequest;
use crate::error::{Error, Result};
use crate::http::auth::Auth;
use crate::http::body::read_json;
use crate::http::path::ApiPath;
use crate::ids::ObjectId;
use crate::keys;
use crate::meta::{Asset, AssetState};
use crate::scopes::Scope;
use crate::state::AppState;
use crate::timestamp;
use crate::upload_signer::{ACL, SUCCESS_ACTION_STATUS, UploadRules};

/// The create body is three short strings; anything much larger is not a real request.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Upload Asset request body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)]
pub struct CreateAssetSchema {
    /// File name with extension, fewer than 100 characters.
    fileName: String,
    /// MD5 of the file's content, 32 hex digits.
    fileHash: String,
    /// The folder to place the asset in.
    parentFolder: Option<String>,
}

/// `uploadDetails`: the form fields for the S3 POST, spelled exactly as Webflow spells them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadDetails {
    acl: &'static str,
    bucket: String,
    #[serde(rename = "X-Amz-Algorithm")]
    algorithm: &'static str,
    #[serde(rename = "X-Amz-Credential")]
    credential: String,
    #[serde(rename = "X-Amz-Date")]
    date: String,
    key: String,
    #[serde(rename = "Policy")]
    policy: String,
    #[serde(rename = "X-Amz-Signature")]
    signature: String,
    success_action_status: &'static str,
    #[serde(rename = "content-type")]
    content_type: &'static str,
    #[serde(rename = "Cache-Control")]
    cache_control: String,
}

/// The 200 response body (`assets_create_Response_200`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssetUpload {
    upload_details: UploadDetails,
    content_type: &'static str,
    #[schema(value_type = String)]
    id: ObjectId,
    #[schema(value_type = Option<String>)]
    parent_folder: Option<ObjectId>,
    upload_url: String,
    asset_url: String,
    hosted_url: String,
    original_file_name: String,
    created_on: String,
    last_updated: String,
}

/// Upload Asset: records a pending asset and answers with a presigned POST.
#[utoipa::path(
    post,
    path = "/v2/sites/{site_id}/assets",
    operation_id = "create-asset",
    tag = "Assets",
    params(("site_id" = String, Path, description = "Unique identifier for a Site")),
    request_body(content = CreateAssetSchema, content_type = "application/json"),
    responses(
        (status = 200, body = AssetUpload),
        (status = 400, body = crate::http::openapi::ErrorSchema),
        (status = 401, body = crate::http::openapi::ErrorSchema),
        (status = 403, body = crate::http::openapi::ErrorSchema),
        (status = 404, body = crate::http::openapi::ErrorSchema),
        (status = 413, body = crate::http::openapi::ErrorSchema),
        (status = 429, body = crate::http::openapi::ErrorSchema),
    ),
    security(("bearer" = ["assets:write"]))
)]
pub async fn create_asset(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(site_id): ApiPath<String>,
    body: Body,
) -> Result<Json<AssetUpload>> {
    auth.require(Scope::AssetsWrite)?;
    let site_id = auth.site(&site_id)?;
    let request = CreateAssetRequest::from_json(&read_json(body, BODY_LIMIT).await?)
        .map_err(Error::Validation)?;
    if let Some(folder) = request.parent_folder
        && !state.meta.folder_in_site(site_id, folder).await?
    {
        return Err(Error::invalid(
            "parentFolder",
            "No asset folder with this ID exists on this site",
        ));
    }

    let settings = &state.settings;
    let now = crate::timestamp::now();
    let expiration = now + TimeDelta::from_std(settings.upload_expiry).map_err(Error::internal)?;
    let id = ObjectId::generate(now);
    let key = keys::storage_key(site_id, id, &request.file_name);
    let content_type = request.file_type.content_type;
    let max_bytes = settings.max_bytes(request.file_type.class);
    let post = state
        .signer
        .presign(
            now,
            UploadRules {
                key: &key,
                content_type,
                cache_control: &settings.cache_control,
                max_bytes,
                expiration,
            },
        )
        .map_err(Error::internal)?;

    let asset = Asset {
        id,
        site_id,
        folder_id: request.parent_folder,
        display_name: format!("{id}_{}", request.file_name),
        original_file_name: request.file_name,
        alt_text: None,
        content_type: content_type.to_owned(),
        file_hash: request.file_hash,
        storage_key: key,
        size: None,
        state: AssetState::Pending,
        upload_expires_at: expiration,
        created_on: now,
        last_updated: now,
    };
    state.meta.insert_asset(&asset).await?;

    let bucket = state.signer.bucket();
    Ok(Json(AssetUpload {
        upload_url: settings.urls.upload_url.clone(),
        asset_url: settings.urls.asset_url(&asset.storage_key),
        hosted_url: settings.urls.hosted_url(&asset.storage_key),
        upload_details: UploadDetails {
            acl: ACL,
            bucket: bucket.to_owned(),
            algorithm: post.algorithm,
            credential: post.credential,
            date: post.amz_date,
            key: asset.storage_key,
            policy: post.policy_base64,
            signature: post.signature,
            success_action_status: SUCCESS_ACTION_STATUS,
            content_type,
            cache_control: settings.cache_control.clone(),
        },
        content_type,
        id,
        parent_folder: asset.folder_id,
        original_file_name: asset.original_file_name,
        created_on: timestamp::format(now),
        last_updated: timestamp::format(now),
    }))
}
