//! Serving stored assets: `GET`/`HEAD {public}/files/{siteId}/{assetId}_{fileName}` (`hostedUrl`)
//! and `GET`/`HEAD {public}/s3/{bucket}/{key}` (`assetUrl`).
//!
//! Both serve only assets whose upload is complete (and their variants once made), with the
//! asset's Content-Type (a WebP variant's is `image/webp`), a quoted ETag (the verified MD5, or the
//! variant's), Last-Modified, the configured Cache-Control, single byte ranges and
//! conditional GETs. Served bytes are never trusted as active content: `nosniff` stops type
//! guessing, and `Content-Security-Policy: sandbox` makes an SVG opened directly run no script
//! in our origin.
//!
//! Objects over 64 KiB in a store with local files are sent with `sendfile` on HTTP/1
//! connections (`zero_copy`), the way nginx serves static files; otherwise they are streamed.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio_util::io::ReaderStream;

use crate::delivery_cache::{CachedObject, SMALL_OBJECT};
use crate::error::{Error, S3Error};
use crate::http::path::{ApiPath, S3Path};
use crate::keys::parse_storage_key;
use crate::meta::{AssetState, VariantState};
use crate::ranges::{self, RangeRequest};
use crate::state::AppState;
use crate::storage::StoreError;
use crate::variant_plan::Encoding;
use crate::zero_copy::{FileBody, FileRegions};

/// The connection's file regions when this response may send a file with `sendfile`: present
/// on HTTP/1 connections (see `server.rs`), and worth it only when a body is sent.
fn sendfile_for(method: &Method, extensions: &Extensions) -> Option<Arc<FileRegions>> {
    if method != Method::GET {
        return None;
    }
    extensions.get::<Arc<FileRegions>>().cloned()
}

/// The CSP on every served asset: no script, no plugins, a unique opaque origin.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox";

/// Bytes read from the store per chunk: small chunks cost a thread hand-off each (tokio's file
/// reads run on the blocking pool), large ones hold memory per connection.
const READ_CHUNK: usize = 256 * 1024;

/// `hostedUrl`, through the router (see `http::dispatch` for the usual way in).
pub async fn hosted(
    State(state): State<AppState>,
    ApiPath((site, file)): ApiPath<(String, String)>,
    // The whole request rather than its headers, which axum's extractor would copy.
    request: Request,
) -> Result<Response, Error> {
    let (parts, _) = request.into_parts();
    hosted_file(&state, &site, &file, &parts).await
}

/// `hostedUrl` for the decoded path segments `site` and `file` of the request `parts`.
pub async fn hosted_file(
    state: &AppState,
    site: &str,
    file: &str,
    request: &Parts,
) -> Result<Response, Error> {
    let key = format!("{site}/{file}");
    let Some(object) = cached_servable(state, &key).await? else {
        return retired_redirect(state, &key).await;
    };
    serve(
        state,
        &object,
        &request.headers,
        sendfile_for(&request.method, &request.extensions),
    )
    .await?
    .ok_or(Error::NotFound("asset"))
}

/// The answer for a key that serves nothing: a redirect to the current file of the asset whose
/// file or variant the key was before a replace (for as long as the asset exists), else 404.
///
/// A `302` with `no-cache`, not a `301`: a browser or CDN would keep a permanent redirect
/// forever, and the asset may be replaced again or deleted.
async fn retired_redirect(state: &AppState, key: &str) -> Result<Response, Error> {
    let Some(asset) = state.meta.retired_key_owner(key).await? else {
        return Err(Error::NotFound("asset"));
    };
    let location = HeaderValue::from_str(&state.settings.urls.hosted_url(&asset.storage_key))
        .map_err(Error::internal)?;
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// `assetUrl`: the object in the embedded S3 endpoint, public-read. (A retired key is
/// `NoSuchKey` here, as S3 answers: only `hostedUrl`s redirect.)
pub async fn s3_object(
    State(state): State<AppState>,
    S3Path((bucket, key)): S3Path<(String, String)>,
    request: Request,
) -> Result<Response, S3Error> {
    if bucket != state.signer.bucket() {
        return Err(S3Error::NoSuchBucket);
    }
    let object = cached_servable(&state, &key)
        .await?
        .ok_or(S3Error::NoSuchKey)?;
    serve(
        &state,
        &object,
        request.headers(),
        sendfile_for(request.method(), request.extensions()),
    )
    .await?
    .ok_or(S3Error::NoSuchKey)
}

/// An object that may be served: an uploaded asset's, or one of its made variants.
struct Servable {
    key: String,
    content_type: String,
    /// MD5 of the bytes, the ETag.
    md5: String,
}

/// The object under `key` if it may be served, from the cache or else from the metadata and the
/// store (then cached).
async fn cached_servable(state: &AppState, key: &str) -> Result<Option<Arc<CachedObject>>, Error> {
    let now = Instant::now();
    if let Some(object) = state.delivery_cache.get(key, now) {
        return Ok(Some(object));
    }
    let Some(servable) = servable(state, key).await? else {
        return Ok(None);
    };
    let Some((meta, body)) = state.blobs.fetch_small(&servable.key, SMALL_OBJECT).await? else {
        return Ok(None);
    };
    let object = Arc::new(CachedObject {
        headers: object_headers(state, &servable.md5, meta.modified),
        key: servable.key,
        content_type: HeaderValue::from_str(&servable.content_type).ok(),
        size: meta.size,
        modified: meta.modified,
        body,
    });
    state.delivery_cache.insert(object.clone(), now);
    Ok(Some(object))
}

/// The headers every answer for an object carries (see [`CachedObject::headers`]).
fn object_headers(state: &AppState, md5: &str, modified: std::time::SystemTime) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(8);
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(header::ETAG, &format!("\"{md5}\""));
    set(header::LAST_MODIFIED, &httpdate::fmt_http_date(modified));
    set(header::CACHE_CONTROL, &state.settings.cache_control);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers
}

async fn servable(state: &AppState, key: &str) -> Result<Option<Servable>, Error> {
    let Some((site, id)) = parse_storage_key(key) else {
        return Ok(None);
    };
    let Some(asset) = state
        .meta
        .get_asset(id)
        .await?
        .filter(|asset| asset.site_id == site)
    else {
        return Ok(None);
    };
    if asset.storage_key != key {
        // A variant key has its asset's id and name stem, so it parses to the same asset.
        let variant = state
            .meta
            .variant(key)
            .await?
            .filter(|v| v.asset_id == asset.id && v.state == VariantState::Done);
        return Ok(variant.and_then(|v| {
            // A WebP variant of a JPEG is a WebP: its type is its own, not the asset's.
            let encoding = Encoding::of_variant(&asset.content_type, &v.format);
            Some(Servable {
                md5: v.file_hash?,
                content_type: encoding.content_type(&asset.content_type).to_owned(),
                key: v.storage_key,
            })
        }));
    }
    // A pending asset's upload may have arrived: checked now, waiting at most the confirmer's
    // short bound.
    let asset = state.confirmer.check(asset).await?;
    Ok((asset.state == AssetState::Uploaded).then_some(Servable {
        key: asset.storage_key,
        content_type: asset.content_type,
        md5: asset.file_hash,
    }))
}

/// `len` bytes of the stored object from `start`: sent from its file with `sendfile` where the
/// connection and the store allow, else streamed through user space.
async fn stored_body(
    state: &AppState,
    key: &str,
    start: u64,
    len: u64,
    sendfile: Option<Arc<FileRegions>>,
) -> Result<Option<Body>, StoreError> {
    if let Some(regions) = sendfile
        && let Some(file) = state.blobs.open_local(key).await?
    {
        return Ok(Some(Body::new(FileBody::new(regions, file, start, len))));
    }
    Ok(state
        .blobs
        .read(key, start, len)
        .await?
        .map(|reader| Body::from_stream(ReaderStream::with_capacity(reader, READ_CHUNK))))
}

fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn serve(
    state: &AppState,
    object: &CachedObject,
    request: &HeaderMap,
    sendfile: Option<Arc<FileRegions>>,
) -> Result<Option<Response>, StoreError> {
    let size = object.size;
    let not_modified = match header_str(request, header::IF_NONE_MATCH) {
        Some(tags) => {
            header_str(&object.headers, header::ETAG).is_some_and(|etag| etag_matches(tags, etag))
        }
        None => header_str(request, header::IF_MODIFIED_SINCE)
            .and_then(|since| httpdate::parse_http_date(since).ok())
            .is_some_and(|since| {
                // HTTP dates have whole seconds; compare at that precision.
                httpdate::HttpDate::from(object.modified) <= httpdate::HttpDate::from(since)
            }),
    };

    let (status, start, len) = if not_modified {
        (StatusCode::NOT_MODIFIED, 0, 0)
    } else {
        match ranges::parse(header_str(request, header::RANGE), size) {
            RangeRequest::Full => (StatusCode::OK, 0, size),
            RangeRequest::Partial { start, end } => {
                (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
            }
            RangeRequest::Unsatisfiable => (StatusCode::RANGE_NOT_SATISFIABLE, 0, 0),
        }
    };

    let body = if status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT {
        match &object.body {
            Some(bytes) => {
                let (start, len) = (
                    usize::try_from(start).unwrap_or(usize::MAX),
                    usize::try_from(len).unwrap_or(usize::MAX),
                );
                match bytes.get(start..start.saturating_add(len)) {
                    Some(_) => Body::from(bytes.slice(start..start + len)),
                    None => return Ok(None),
                }
            }
            None => match stored_body(state, &object.key, start, len, sendfile).await? {
                Some(body) => body,
                None => return Ok(None),
            },
        }
    } else {
        Body::empty()
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = object.headers.clone();
    let headers = response.headers_mut();
    let content_range = |value: String| HeaderValue::try_from(value).ok();
    match status {
        StatusCode::OK | StatusCode::PARTIAL_CONTENT => {
            if let Some(content_type) = &object.content_type {
                headers.insert(header::CONTENT_TYPE, content_type.clone());
            }
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            if status == StatusCode::PARTIAL_CONTENT
                && let Some(range) =
                    content_range(format!("bytes {start}-{}/{}", start + len - 1, size))
            {
                headers.insert(header::CONTENT_RANGE, range);
            }
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            if let Some(range) = content_range(format!("bytes */{size}")) {
                headers.insert(header::CONTENT_RANGE, range);
            }
        }
        _ => {}
    }
    Ok(Some(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let etag = "\"abc\"";
        assert!(etag_matches("\"abc\"", etag));
        assert!(etag_matches("\"x\", W/\"abc\"", etag));
        assert!(etag_matches("*", etag));
        assert!(!etag_matches("\"abd\"", etag));
        assert!(!etag_matches("abc", etag));
    }
}
