//! `GET /v2/sites` and `GET /v2/token/introspect`: what the token may see, so a client (the
//! upload page, the CLI) can offer the token's sites. Webflow's own endpoints of these names
//! answer with more fields; these carry the ones assetd has, in the same shape.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::Result;
use crate::http::auth::Auth;
use crate::state::AppState;
use crate::timestamp;

/// The sites the token may see: `{"sites": [{"id", "displayName", "createdOn"}]}`.
pub async fn list_sites(State(state): State<AppState>, auth: Auth) -> Result<Json<Value>> {
    let sites = state.meta.sites(&auth.0.sites).await?;
    let sites: Vec<Value> = sites
        .iter()
        .map(|site| {
            json!({
                "id": site.id,
                "displayName": site.name,
                "shortName": site.name,
                "createdOn": timestamp::format(site.created_on),
            })
        })
        .collect();
    Ok(Json(json!({ "sites": sites })))
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
