//! The HTTP surface: one module per endpoint, plus the extractors and middleware they share.

pub mod auth;
pub mod body;
pub mod create_asset;
pub mod create_folder;
pub mod delete_asset;
pub mod delete_folder;
pub mod delivery;
pub mod dispatch;
pub mod get_asset;
pub mod get_folder;
pub mod health;
pub mod list_assets;
pub mod list_folders;
pub mod lookup;
pub mod metrics;
pub mod model;
pub mod openapi;
pub mod parent_folder;
pub mod path;
pub mod query;
pub mod replace_asset;
pub mod s3_form;
pub mod s3_post;
pub mod sites;
pub mod update_asset;
pub mod update_folder;
pub mod web;
pub mod webhooks;

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::http::{Method, header};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use futures_util::FutureExt;
use tower::ServiceExt;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::error::Error;
use crate::state::AppState;

/// The route of `hostedUrl`, also its label in the metrics.
pub const HOSTED_ROUTE: &str = "/files/{site}/{file}";

/// All routes of the service.
///
/// No layer may read or transform response bodies (compression, body logging): large files
/// leave as placeholder chunks that only the connection's stream turns into bytes (`zero_copy`).
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/sites/{site_id}/assets",
            post(create_asset::create_asset).get(list_assets::list_assets),
        )
        .route(
            "/assets/{asset_id}",
            get(get_asset::get_asset)
                .patch(update_asset::update_asset)
                .delete(delete_asset::delete_asset),
        )
        .route(
            "/assets/{asset_id}/replace",
            post(replace_asset::replace_asset),
        )
        .route(
            "/sites/{site_id}/asset_folders",
            get(list_folders::list_folders).post(create_folder::create_folder),
        )
        .route(
            "/asset_folders/{asset_folder_id}",
            get(get_folder::get_folder)
                .patch(update_folder::update_folder)
                .delete(delete_folder::delete_folder),
        )
        .route(
            "/sites/{site_id}/webhooks",
            get(webhooks::list::list_webhooks).post(webhooks::create::create_webhook),
        )
        .route(
            "/webhooks/{webhook_id}",
            get(webhooks::get::get_webhook).delete(webhooks::delete::delete_webhook),
        )
        .route("/sites", get(sites::list_sites))
        .route("/sites/{site_id}", get(sites::get_site))
        .route("/token/introspect", get(sites::introspect))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        // Added after the auth layer, so the document needs no token.
        .route("/openapi.json", get(openapi::openapi_json));
    let public = Router::new()
        .route(
            "/s3/{bucket}",
            post(s3_post::post_object).layer(DefaultBodyLimit::disable()),
        )
        .route("/s3/{bucket}/{*key}", get(delivery::s3_object))
        .route(HOSTED_ROUTE, get(delivery::hosted));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .route("/", get(web::root))
        .route("/ui/", get(web::index))
        .route("/ui/{file}", get(web::file))
        .nest("/v2", api)
        .merge(public)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(crate::metrics::TrackLayer(state.metrics.clone()))
        // Outermost, so preflights are answered before routing. Browsers post upload forms and
        // fetch assets from other origins; the API authenticates with bearer tokens, never
        // cookies, so allowing other origins exposes nothing a token does not already grant.
        .layer(cors(&state.settings.cors_allowed_origins))
        .with_state(state)
}

/// Whether the configured origins include `*`.
fn allows_every_origin(allowed: &[String]) -> bool {
    allowed.iter().any(|o| o == "*")
}

fn cors(allowed: &[String]) -> CorsLayer {
    let any_origin = allows_every_origin(allowed);
    let origins = if any_origin {
        AllowOrigin::from(Any)
    } else {
        AllowOrigin::list(allowed.iter().filter_map(|o| o.parse().ok()))
    };
    let layer = CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(Any)
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::CONTENT_LENGTH,
            header::CONTENT_RANGE,
            header::ACCEPT_RANGES,
            header::LAST_MODIFIED,
            header::RETRY_AFTER,
            header::HeaderName::from_static(auth::X_RATELIMIT_LIMIT),
            header::HeaderName::from_static(auth::X_RATELIMIT_REMAINING),
        ])
        .max_age(std::time::Duration::from_secs(86_400));
    // With every origin allowed, no CORS header depends on the request (the origin is `*`, the
    // methods and headers are fixed lists or `*`), so no `Vary` is needed; tower-http's default
    // one is a new joined header value for every response. With a list, its default stays.
    if any_origin { layer.vary([]) } else { layer }
}

/// The headers the CORS layer adds to every answer that is not a preflight, when they are the
/// same for every request: with every origin allowed. `None` with a list of origins.
fn constant_cors_headers(allowed: &[String]) -> Option<HeaderMap> {
    if !allows_every_origin(allowed) {
        return None;
    }
    // Taken from the layer itself rather than restated, so the two cannot drift apart.
    let answer = tower::Layer::layer(
        &cors(allowed),
        tower::service_fn(|_: Request| async { Ok::<_, Infallible>(Response::new(Body::empty())) }),
    )
    .oneshot(Request::new(Body::empty()))
    .now_or_never()?
    .ok()?;
    Some(answer.headers().clone())
}

async fn not_found() -> Error {
    Error::NotFound("route")
}

async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}
