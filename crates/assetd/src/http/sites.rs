//! `GET /v2/sites`, `GET /v2/sites/{site_id}` and `GET /v2/token/introspect`: what the token may
//! see, so a client (the upload page, the CLI, the SDKs' `sites.get`) can offer the token's
//! sites. Webflow's own endpoints of these names answer with more fields; these carry the ones
//! assetd has, in the same shape.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::http::auth::Auth;
use crate::http::path::ApiPath;
use crate::meta::Site;
use crate::state::AppState;
use crate::timestamp;

/// The sites the token may see: `{"sites": [{"id", "displayName", "createdOn"}]}`.
pub async fn list_sites(State(state): State<AppState>, auth: Auth) -> Result<Json<Value>> {
    let sites = state.meta.sites(&auth.0.sites).await?;
    let sites: Vec<Value> = sites.iter().map(site_body).collect();
    Ok(Json(json!({ "sites": sites })))
}

/// One site the token may see (any scope will do: assetd has no `sites:read`); 404 for an
/// unknown site, another's, or one being deleted.
pub async fn get_site(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(site_id): ApiPath<String>,
) -> Result<Json<Value>> {
    let id = auth.site(&site_id)?;
    let site = state.meta.sites(&[id]).await?.into_iter().next();
    site.map(|site| Json(site_body(&site)))
        .ok_or(Error::NotFound("site"))
}

/// A site in Webflow's shape, with the fields assetd has (a site is never updated here, so
/// `lastUpdated` is its creation).
fn site_body(site: &Site) -> Value {
    let created = timestamp::format(site.created_on);
    json!({
        "id": site.id,
        "displayName": site.name,
        "shortName": site.name,
        "createdOn": created,
        "lastUpdated": created,
    })
}

/// The token's scopes and sites, as Webflow's `authorization` object.
pub async fn introspect(auth: Auth) -> Json<Value> {
    let scope = auth.0.scopes.to_string();
    Json(json!({
        "authorization": {
            "id": auth.0.token_id,
            "grantType": "access_token",
            "scope": scope,
            "authorizedTo": {
                "siteIds": auth.0.sites,
                "workspaceIds": [],
                "userIds": [],
            }
        }
    }))
}
