//! The upload page: static files compiled into the binary and served at `/ui/`.
//!
//! The page talks to the same public API as any client (Bearer token, the two-step upload), so
//! it needs no privileges of its own. It keeps the token in the tab's `sessionStorage`, never in a
//! URL. For development `--web-dir` serves the files from disk instead, so editing them needs no
//! rebuild.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::state::AppState;

struct WebFile {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const FILES: &[WebFile] = &[
    WebFile {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../web/index.html"),
    },
    WebFile {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/app.js"),
    },
    WebFile {
        name: "md5.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/md5.js"),
    },
    WebFile {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../web/style.css"),
    },
];

/// The page's own CSP: its scripts only, no inline script; images and uploads may go to the
/// asset hosts (which, with S3 storage, are other origins).
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: http: https:; connect-src 'self' http: https:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `GET /` → the page.
pub async fn root() -> Redirect {
    Redirect::to("/ui/")
}

/// `GET /ui/` → `index.html`.
pub async fn index(state: State<AppState>) -> Response {
    file(state, Path("index.html".to_owned())).await
}

/// `GET /ui/{file}`.
pub async fn file(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let Some(known) = FILES.iter().find(|f| f.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let body = match &state.settings.web_dir {
        // Only the fixed names above are ever read, so the path cannot escape the directory.
        Some(dir) => match tokio::fs::read_to_string(dir.join(known.name)).await {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(error = %e, file = known.name, "cannot read --web-dir file");
                return StatusCode::NOT_FOUND.into_response();
            }
        },
        None => known.body.to_owned(),
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(known.content_type),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}
