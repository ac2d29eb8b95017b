//! `/healthz` (the process answers) and `/readyz` (its dependencies answer).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;
use crate::storage::StoreError;

/// Liveness: always 200 while the process serves requests.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: 200 when the metadata database and the blob store answer, else 503 naming the
/// one that does not (`unreachable`, or `full` for a store out of space). Redis is reported
/// (`rateLimiter`: `ok`, `unreachable`, or `local` without Redis) but does not make the node
/// unready: rate limits fail open while it is down.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (database, blob_store, rate_limiter) =
        tokio::join!(state.meta.ping(), state.blobs.ping(), state.limiter.ping());
    let database = database.map_err(|e| e.to_string());
    let blob_store_word = match &blob_store {
        Ok(()) => "ok",
        Err(StoreError::Unavailable(why)) if why.starts_with("no space") => "full",
        Err(_) => "unreachable",
    };
    let blob_store = blob_store.map_err(|e| e.to_string());
    let rate_limiter_word = match &rate_limiter {
        None => "local",
        Some(Ok(())) => "ok",
        Some(Err(_)) => "unreachable",
    };
    let ready = database.is_ok() && blob_store.is_ok();
    let rate_limiter = rate_limiter.and_then(|r| r.err()).map(|e| e.to_string());
    for error in [
        database.as_ref().err(),
        blob_store.as_ref().err(),
        rate_limiter.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        tracing::warn!(%error, "readiness check failed");
    }
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": if database.is_ok() { "ok" } else { "unreachable" },
        "blobStore": blob_store_word,
        "rateLimiter": rate_limiter_word,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
