//! `PATCH /v2/assets/{asset_id}` — Update Asset: `displayName` and `altText`, and, as
//! assetd's extension, `parentFolder` (move to a folder of the same site, or null for the top
//! level; the asset keeps its id and `hostedUrl`).
//!
//! `localeId` is accepted in the query or the body (the Python SDK sends it in the body) and
//! ignored, since assetd keeps one version of each asset; unknown body keys are ignored.

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use serde_json::Value;

use crate::error::{Error, FieldError, Result};
use crate::http::auth::Auth;
use crate::http::body::read_json;
use crate::http::lookup;
use crate::http::model::AssetBody;
use crate::http::parent_folder::parent_folder_change;
use crate::http::path::ApiPath;
use crate::http::query::QueryParams;
use crate::labels::{MAX_NAME_CHARS, alt_text_problem, name_problem};
use crate::meta::AssetChanges;
use crate::scopes::Scope;
use crate::state::AppState;

/// Body limit for the small update document.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The writable fields of Update Asset.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)]
pub struct AssetUpdateSchema {
    /// New display name.
    displayName: Option<String>,
    /// New alt text; null clears it.
    altText: Option<String>,
    /// Accepted and ignored.
    localeId: Option<String>,
    /// assetd's extension: the folder to move the asset to (of the same site), or null for the
    /// top level. Absent leaves it where it is.
    parentFolder: Option<String>,
}

fn changes_from(body: &Value) -> Result<AssetChanges, Vec<FieldError>> {
    let Value::Object(body) = body else {
        return Err(vec![FieldError::new(
            "body",
            "Request body must be a JSON object",
        )]);
    };
    let mut errors = Vec::new();
    let mut changes = AssetChanges::default();
    match body.get("displayName") {
        None => {}
        Some(Value::String(name)) => match name_problem(name, MAX_NAME_CHARS) {
            None => changes.display_name = Some(name.clone()),
            Some(problem) => errors.push(FieldError::new("displayName", problem)),
        },
        Some(_) => errors.push(FieldError::new("displayName", "Must be a string")),
    }
    match body.get("altText") {
        None => {}
        Some(Value::Null) => changes.alt_text = Some(None),
        Some(Value::String(text)) => match alt_text_problem(text) {
            None => changes.alt_text = Some(Some(text.clone())),
            Some(problem) => errors.push(FieldError::new("altText", problem)),
        },
        Some(_) => errors.push(FieldError::new("altText", "Must be a string or null")),
    }
    match parent_folder_change(body) {
        Ok(folder) => changes.folder = folder,
        Err(e) => errors.push(e),
    }
    match body.get("localeId") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(_) => errors.push(FieldError::new("localeId", "Must be a string")),
    }
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(errors)
    }
}

/// Renames an asset, sets its alt text, or moves it to another folder.
#[utoipa::path(
    patch,
    path = "/v2/assets/{asset_id}",
    operation_id = "update-asset",
    tag = "Assets",
    params(
        ("asset_id" = String, Path, description = "Unique identifier for an Asset"),
        ("localeId" = Option<String>, Query, description = "Accepted and ignored"),
    ),
    request_body(content = AssetUpdateSchema, content_type = "application/json"),
    responses(
        (status = 200, body = AssetBody),
        (status = 400, body = crate::http::openapi::ErrorSchema),
        (status = 401, body = crate::http::openapi::ErrorSchema),
        (status = 403, body = crate::http::openapi::ErrorSchema),
        (status = 404, body = crate::http::openapi::ErrorSchema),
        (status = 413, body = crate::http::openapi::ErrorSchema),
        (status = 429, body = crate::http::openapi::ErrorSchema),
    ),
    security(("bearer" = ["assets:write"]))
)]
pub async fn update_asset(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(asset_id): ApiPath<String>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Json<AssetBody>> {
    auth.require(Scope::AssetsWrite)?;
    QueryParams::parse(query.as_deref()).get("localeId")?;
    let asset = lookup::uploaded_asset(&state, &auth, &asset_id).await?;
    let changes =
        changes_from(&read_json(body, BODY_LIMIT, state.settings.body_idle_timeout).await?)
            .map_err(Error::Validation)?;
    let now = crate::timestamp::now();
    let updated = state
        .meta
        .update_asset(asset.id, &changes, now)
        .await?
        .ok_or(Error::NotFound("asset"))?;
    let variants = state.meta.variants_of(&[updated.id]).await?;
    Ok(Json(AssetBody::new(
        &updated,
        &variants,
        &state.settings.urls,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_changes_and_ignores_unknown_keys() {
        let changes = changes_from(
            &json!({"displayName": "Logo", "altText": null, "localeId": "x", "other": 1}),
        )
        .expect("ok");
        assert_eq!(changes.display_name.as_deref(), Some("Logo"));
        assert_eq!(changes.alt_text, Some(None));
        assert_eq!(
            changes_from(&json!({})).expect("ok"),
            AssetChanges::default()
        );
        let params = |v: Value| {
            changes_from(&v)
                .expect_err("refused")
                .into_iter()
                .map(|e| e.param)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            params(json!({"displayName": 1, "altText": 2, "localeId": 3})),
            ["displayName", "altText", "localeId"]
        );
        assert_eq!(params(json!({"displayName": ""})), ["displayName"]);
        assert_eq!(params(json!("x")), ["body"]);
    }
}
