//! The HTTP surface: one module per endpoint, plus the extractors and middleware they share.

pub mod auth;
pub mod body;
pub mod create_asset;
pub mod health;
pub mod path;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

use crate::error::Error;
use crate::state::AppState;

/// All routes of the service.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/sites/{site_id}/assets", post(create_asset::create_asset))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .nest("/v2", api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found() -> Error {
    Error::NotFound("route")
}

async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}
