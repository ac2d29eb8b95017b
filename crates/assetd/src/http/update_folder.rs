//! `PATCH /v2/asset_folders/{asset_folder_id}` — assetd's extension (Webflow's Data API has no
//! folder update): rename a folder (`displayName`, unique among its siblings, 409 `conflict`
//! otherwise) and move it (`parentFolder`: a folder of the same site, or null for the top
//! level; never into itself or one of its descendants, also under concurrent moves, which the
//! metadata layer serializes per site). Answers the folder as Get Asset Folder does.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use serde_json::Value;

use crate::error::{Error, FieldError, Result};
use crate::http::auth::Auth;
use crate::http::body::read_json;
use crate::http::create_folder::folder_name_field;
use crate::http::get_folder::folder_body;
use crate::http::lookup;
use crate::http::model::FolderBody;
use crate::http::parent_folder::parent_folder_change;
use crate::http::path::ApiPath;
use crate::meta::FolderChanges;
use crate::scopes::Scope;
use crate::state::AppState;

/// Body limit for the small update document.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The writable fields of a folder.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)]
pub struct FolderUpdateSchema {
    /// New name, unique among its siblings.
    displayName: Option<String>,
    /// The folder to move it into (of the same site), or null for the top level. Absent leaves
    /// it where it is.
    parentFolder: Option<String>,
}

fn changes_from(body: &Value) -> Result<FolderChanges, Vec<FieldError>> {
    let Value::Object(body) = body else {
        return Err(vec![FieldError::new(
            "body",
            "Request body must be a JSON object",
        )]);
    };
    let mut errors = Vec::new();
    let mut changes = FolderChanges::default();
    if let Some(value) = body.get("displayName") {
        match folder_name_field(value) {
            Ok(name) => changes.display_name = Some(name),
            Err(e) => errors.push(e),
        }
    }
    match parent_folder_change(body) {
        Ok(parent) => changes.parent = parent,
        Err(e) => errors.push(e),
    }
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(errors)
    }
}

/// Renames or moves an asset folder.
#[utoipa::path(
    patch,
    path = "/v2/asset_folders/{asset_folder_id}",
    operation_id = "update-asset-folder",
    tag = "Asset Folders (assetd extension)",
    params(("asset_folder_id" = String, Path, description = "Unique identifier for an Asset Folder")),
    request_body(content = FolderUpdateSchema, content_type = "application/json"),
    responses(
        (status = 200, body = FolderBody),
        (status = 400, body = crate::http::openapi::ErrorSchema),
        (status = 401, body = crate::http::openapi::ErrorSchema),
        (status = 403, body = crate::http::openapi::ErrorSchema),
        (status = 404, body = crate::http::openapi::ErrorSchema),
        (status = 409, body = crate::http::openapi::ErrorSchema),
        (status = 429, body = crate::http::openapi::ErrorSchema),
    ),
    security(("bearer" = ["assets:write"]))
)]
pub async fn update_folder(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(folder_id): ApiPath<String>,
    body: Body,
) -> Result<Json<FolderBody>> {
    auth.require(Scope::AssetsWrite)?;
    let folder = lookup::folder(&state, &auth, &folder_id, "asset_folder_id").await?;
    let changes =
        changes_from(&read_json(body, BODY_LIMIT, state.settings.body_idle_timeout).await?)
            .map_err(Error::Validation)?;
    let updated = state
        .meta
        .update_folder(folder.id, &changes, crate::timestamp::now())
        .await?
        .ok_or(Error::NotFound("asset folder"))?;
    Ok(Json(folder_body(&state, &updated).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_rename_and_a_move() {
        let changes =
            changes_from(&json!({"displayName": "Logos", "parentFolder": null})).expect("valid");
        assert_eq!(changes.display_name.as_deref(), Some("Logos"));
        assert_eq!(changes.parent, Some(None));
        assert_eq!(
            changes_from(&json!({})).expect("valid"),
            FolderChanges::default()
        );
    }

    #[test]
    fn refuses_bad_fields_by_name() {
        let params: Vec<String> = changes_from(&json!({"displayName": "", "parentFolder": 3}))
            .expect_err("refused")
            .into_iter()
            .map(|e| e.param)
            .collect();
        assert_eq!(params, ["displayName", "parentFolder"]);
    }
}
