//! The service every connection runs: [`App`]. A plain `GET` of a `hostedUrl`, by far the most
//! frequent request of a site that serves its assets from assetd, goes straight to delivery;
//! every other request goes through the router.
//!
//! Why: for a small cached asset, the router's work was most of assetd's own per-request cost
//! (callgrind, 10 KiB GET: matching the path, storing its parameters and the matched path,
//! deserializing the parameters, the CORS layer building its headers), more than the delivery
//! itself. The straight way does only what that request needs, and answers exactly as the
//! router would: the same handler code, the same CORS headers, the same metrics under the same
//! route label. Measured 2026-12-06 on AMD EPYC (Zen 4), 2 vCPU, a busy machine, five runs of a
//! cached 10 KiB GET over loopback (`cargo bench -p assetd --bench serving`, group `get_10KiB`):
//! 27–43 µs against 33–57 µs through the router (0.98–1.40×, median 1.28×); on 2026-12-03,
//! callgrind: 18,767 against 30,045 instructions per GET.
//!
//! It is taken only where nothing of the router's work can differ:
//! - the method is `GET` (axum answers `HEAD` with the `GET` handler minus the body; the router
//!   keeps doing that);
//! - the path is `/files/{site}/{file}` with two non-empty segments and no `%`, so it needs no
//!   percent-decoding (an encoded path goes through the router's decoding and its errors);
//! - CORS allows every origin (the default), so the CORS headers are the same for every
//!   request: they are taken once, at start, from the router's own CORS layer. With a list of
//!   origins they depend on the request's `Origin`, and the router adds them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

use crate::http::{HOSTED_ROUTE, delivery};
use crate::state::AppState;

/// The router, and the straight way to hosted files where it may be taken.
#[derive(Clone)]
pub struct App {
    router: Router,
    hosted: Option<Arc<HostedWay>>,
}

struct HostedWay {
    state: AppState,
    /// What the CORS layer adds to every answer that is not a preflight.
    cors: HeaderMap,
}

impl App {
    /// The service for `state`.
    pub fn new(state: AppState) -> Self {
        let hosted =
            super::constant_cors_headers(&state.settings.cors_allowed_origins).map(|cors| {
                Arc::new(HostedWay {
                    state: state.clone(),
                    cors,
                })
            });
        Self {
            router: super::router(state),
            hosted,
        }
    }

    /// Answers `request`.
    pub async fn call(self, mut request: Request) -> Result<Response, Infallible> {
        if let Some(hosted) = &self.hosted
            && request.method() == Method::GET
        {
            let (parts, body) = request.into_parts();
            if let Some((site, file)) = hosted_path(parts.uri.path()) {
                return Ok(hosted.serve(site, file, &parts).await);
            }
            request = Request::from_parts(parts, body);
        }
        self.router.oneshot(request).await
    }
}

impl HostedWay {
    async fn serve(&self, site: &str, file: &str, request: &Parts) -> Response {
        let started = Instant::now();
        let mut response = delivery::hosted_file(&self.state, site, file, request)
            .await
            .unwrap_or_else(IntoResponse::into_response);
        let headers = response.headers_mut();
        for (name, value) in &self.cors {
            headers.append(name.clone(), value.clone());
        }
        self.state.metrics.request(
            HOSTED_ROUTE,
            // Only GETs come this way.
            Method::GET.as_str(),
            response.status(),
            started,
        );
        response
    }
}

/// The site and file of a `hostedUrl` path that needs no percent-decoding; `None` for any other
/// path (the router then matches and decodes it).
fn hosted_path(path: &str) -> Option<(&str, &str)> {
    let (site, file) = path.strip_prefix("/files/")?.split_once('/')?;
    let plain = !site.is_empty() && !file.is_empty() && !file.contains('/') && !path.contains('%');
    plain.then_some((site, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_hosted_paths_take_the_straight_way() {
        assert_eq!(
            hosted_path("/files/6b11/6b12_photo.png"),
            Some(("6b11", "6b12_photo.png"))
        );
        for routed in [
            "/files/6b11/6b12_a%20b.png",
            "/files/6b11/6b12_photo.png/",
            "/files/6b11/sub/photo.png",
            "/files/6b11/",
            "/files//photo.png",
            "/files/6b11",
            "/files/",
            "/s3/assetd/6b11/6b12_photo.png",
            "/v2/files/6b11/6b12_photo.png",
        ] {
            assert_eq!(hosted_path(routed), None, "{routed}");
        }
    }
}
