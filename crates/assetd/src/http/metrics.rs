//! `GET /metrics`: the service's collectors in Prometheus' text format, with the assets by state
//! counted from the database at each scrape.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>) -> Response {
    match state.meta.asset_counts().await {
        Ok(counts) => state.metrics.set_asset_counts(&counts),
        Err(e) => tracing::warn!(error = %e, "cannot count assets for /metrics"),
    }
    match state.metrics.encode() {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
