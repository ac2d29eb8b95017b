//! Reading a JSON request body with a size limit, failing in Webflow's error shape.

use axum::body::Body;
use http_body_util::LengthLimitError;
use serde_json::Value;

use crate::error::Error;

fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Reads at most `limit` bytes and parses them as JSON: too long → 413, not JSON → 400
/// `bad_request`. Any Content-Type is accepted; the body must be JSON either way.
pub async fn read_json(body: Body, limit: usize) -> Result<Value, Error> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        if is_length_limit(&e) {
            Error::PayloadTooLarge { limit }
        } else {
            Error::BadRequest(format!("could not read the body: {e}"))
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::BadRequest(format!("body is not valid JSON: {e}")))
}
