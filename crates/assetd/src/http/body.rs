//! Reading a JSON request body with a size limit and an idle limit, failing in Webflow's error
//! shape.

use std::time::Duration;

use axum::body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::Value;

use crate::error::Error;

fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Reads at most `limit` bytes and parses them as JSON: too long → 413 (before reading, when
/// the Content-Length says so), not JSON → 400
/// `bad_request`, not whole within `idle` → 408 (a stalled or dripping client must not hold its
/// connection and a request slot forever). Any Content-Type is accepted; the body must be JSON either way.
pub async fn read_json(body: Body, limit: usize, idle: Duration) -> Result<Value, Error> {
    // A Content-Length over the limit is refused before a byte is read, so a client that
    // asked `Expect: 100-continue` is not told to send it.
    if http_body::Body::size_hint(&body).lower() > limit as u64 {
        return Err(Error::PayloadTooLarge { limit });
    }
    let mut body = Limited::new(body, limit);
    let mut bytes = Vec::new();
    // The whole body within `idle`, not only each piece: a client dripping a byte at a time
    // must not hold its connection for hours.
    let deadline = tokio::time::Instant::now() + idle;
    loop {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .map_err(|_| Error::BodyStalled { idle })?;
        match frame {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
            Some(Err(e)) if is_length_limit(e.as_ref()) => {
                return Err(Error::PayloadTooLarge { limit });
            }
            Some(Err(e)) => {
                return Err(Error::BadRequest(format!("could not read the body: {e}")));
            }
        }
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::BadRequest(format!("body is not valid JSON: {e}")))
}
