//! `POST /v2/sites/{site_id}/asset_folders` — Create Asset Folder. Names are unique among
//! siblings (Webflow: "only allows unique names for asset folders"); a duplicate is 409
//! `conflict`, enforced by a unique index, not a check-then-insert.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use serde_json::Value;

use crate::create_request::chosen_id;
use crate::error::{Error, FieldError, Result};
use crate::http::auth::Auth;
use crate::http::body::read_json;
use crate::http::model::FolderBody;
use crate::http::path::ApiPath;
use crate::ids::ObjectId;
use crate::labels::folder_name_problem;
use crate::meta::{Folder, MetaError};
use crate::scopes::Scope;
use crate::state::AppState;

/// Body limit for the small create document.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Create Asset Folder request body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)]
pub struct FolderCreateSchema {
    /// The folder's name, unique among its siblings.
    displayName: String,
    /// The folder to create it in; absent or null for the top level.
    parentFolder: Option<String>,
    /// assetd extension, for `assetd import`: the new folder's id (24 hex digits). Needs the
    /// `assets:import` scope (403 without it); 409 `conflict` if a folder with this id exists;
    /// 400 if it is not an ObjectId.
    id: Option<String>,
}

/// A valid Create Asset Folder body.
struct FolderRequest {
    display_name: String,
    parent: Option<ObjectId>,
    id: Option<ObjectId>,
}

/// A folder's `displayName` as sent (Create and Update Asset Folder): a string that is a valid
/// folder name.
pub fn folder_name_field(value: &Value) -> Result<String, FieldError> {
    match value {
        Value::String(name) => match folder_name_problem(name) {
            None => Ok(name.clone()),
            Some(problem) => Err(FieldError::new("displayName", problem)),
        },
        _ => Err(FieldError::new("displayName", "Must be a string")),
    }
}

fn request_from(body: &Value) -> Result<FolderRequest, Vec<FieldError>> {
    let Value::Object(body) = body else {
        return Err(vec![FieldError::new(
            "body",
            "Request body must be a JSON object",
        )]);
    };
    let mut errors = Vec::new();
    let name = match body.get("displayName") {
        None | Some(Value::Null) => {
            errors.push(FieldError::new("displayName", "Required field is missing"));
            None
        }
        Some(value) => folder_name_field(value).map_err(|e| errors.push(e)).ok(),
    };
    let parent = match body.get("parentFolder") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => match id.parse() {
            Ok(id) => Some(id),
            Err(_) => {
                errors.push(FieldError::new("parentFolder", "Provided ID is invalid"));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("parentFolder", "Must be a string"));
            None
        }
    };
    let id = chosen_id(body, &mut errors);
    match name {
        Some(display_name) if errors.is_empty() => Ok(FolderRequest {
            display_name,
            parent,
            id,
        }),
        _ => Err(errors),
    }
}

/// Creates a folder.
#[utoipa::path(
    post,
    path = "/v2/sites/{site_id}/asset_folders",
    operation_id = "create-asset-folder",
    tag = "Asset Folders",
    params(("site_id" = String, Path, description = "Unique identifier for a Site")),
    request_body(content = FolderCreateSchema, content_type = "application/json"),
    responses(
        (status = 200, body = FolderBody),
        (status = 400, body = crate::http::openapi::ErrorSchema),
        (status = 401, body = crate::http::openapi::ErrorSchema),
        (status = 403, body = crate::http::openapi::ErrorSchema),
        (status = 404, body = crate::http::openapi::ErrorSchema),
        (status = 409, body = crate::http::openapi::ErrorSchema),
        (status = 413, body = crate::http::openapi::ErrorSchema),
        (status = 429, body = crate::http::openapi::ErrorSchema),
    ),
    security(("bearer" = ["assets:write"]))
)]
pub async fn create_folder(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(site_id): ApiPath<String>,
    body: Body,
) -> Result<Json<FolderBody>> {
    auth.require(Scope::AssetsWrite)?;
    let site = auth.site(&site_id)?;
    let FolderRequest {
        display_name,
        parent,
        id,
    } = request_from(&read_json(body, BODY_LIMIT, state.settings.body_idle_timeout).await?)
        .map_err(Error::Validation)?;
    // Refused rather than ignored without the scope (see `create_asset`).
    if id.is_some() {
        auth.require(Scope::AssetsImport)?;
    }
    if let Some(parent) = parent
        && !state.meta.folder_in_site(site, parent).await?
    {
        return Err(Error::invalid(
            "parentFolder",
            "No asset folder with this ID exists on this site",
        ));
    }
    let now = crate::timestamp::now();
    let chosen = id;
    let id = chosen.unwrap_or_else(|| ObjectId::generate(now));
    match state
        .meta
        .create_folder(id, site, parent, &display_name, now)
        .await
    {
        // The unique index decided; the store's message names the folder name, which is wrong
        // when the chosen id is what collided, and an importer tells the two apart by it.
        Err(MetaError::Conflict(_))
            if chosen.is_some() && state.meta.get_folder(id).await?.is_some() =>
        {
            return Err(Error::Conflict(format!(
                "an asset folder with the id {id} already exists"
            )));
        }
        other => other?,
    }
    let folder = Folder {
        id,
        site_id: site,
        parent_folder: parent,
        display_name,
        created_on: now,
        last_updated: now,
    };
    Ok(Json(FolderBody::new(&folder, Vec::new())))
}
