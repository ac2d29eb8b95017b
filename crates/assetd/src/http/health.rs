//! `/healthz` (the process answers) and `/readyz` (its dependencies answer).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

/// Liveness: always 200 while the process serves requests.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: 200 when the metadata database and the blob store answer, else 503 naming the
/// one that does not.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = state.meta.ping().await.map_err(|e| e.to_string());
    let blob_store = state.blobs.ping().await.map_err(|e| e.to_string());
    let word = |r: &Result<(), String>| if r.is_ok() { "ok" } else { "unreachable" };
    let ready = database.is_ok() && blob_store.is_ok();
    for error in [&database, &blob_store]
        .into_iter()
        .filter_map(|r| r.as_ref().err())
    {
        tracing::warn!(%error, "readiness check failed");
    }
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": word(&database),
        "blobStore": word(&blob_store),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
