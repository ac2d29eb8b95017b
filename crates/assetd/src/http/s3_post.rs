//! `POST {public}/s3/{bucket}` — the embedded S3 POST Object endpoint (step 2 of the upload).
//!
//! The form is read as a stream: fields before the file (at most 20 KB, with bounded memory
//! whatever the client sends; see `s3_form`) are collected and verified by `s3post` before a byte of the file is stored; the file then streams into a temp
//! file while its size and MD5 are computed, so memory stays bounded whatever the file size and
//! an oversized file is refused as soon as it passes the policy's limit. Only a file whose MD5
//! equals the asset's `fileHash` is committed (fsync, rename, fsync dir); every failure drops the
//! temp file.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use s3post::{Checksummer, ExpectedChecksum, PostRequest, VerifiedPost, verify_post};

use crate::error::{S3Error, xml_escape};
use crate::http::path::S3Path;
use crate::http::s3_form::{FieldBudget, FormGate, FormReader, GatedBody, MAX_FORM_BYTES};
use crate::keys::{self, parse_storage_key};
use crate::meta::Asset;
use crate::settle::{self, Settled};
use crate::state::AppState;
use crate::urls;
use crate::variants;

fn is_file_part(field: &multer::Field<'_>) -> bool {
    field.name().is_some_and(|n| n.eq_ignore_ascii_case("file"))
}

/// The upload that owns `key`: a pending or uploaded asset's file, or a waiting replacement
/// of one (as an asset-shaped record named by the replacement's id, see `settle`).
async fn expected_upload(state: &AppState, key: &str) -> Result<Asset, S3Error> {
    let (site, id) = parse_storage_key(key).ok_or(S3Error::NoUploadExpected)?;
    let Some(asset) = state.meta.get_asset(id).await? else {
        return Err(S3Error::NoUploadExpected);
    };
    if asset.site_id != site {
        return Err(S3Error::NoUploadExpected);
    }
    if asset.storage_key == key {
        return Ok(asset);
    }
    let Some(replacement) = keys::replacement_in_key(key) else {
        return Err(S3Error::NoUploadExpected);
    };
    match state.meta.replacement(replacement).await? {
        Some(r) if r.asset_id == asset.id && r.storage_key == key => Ok(r.upload()),
        _ => Err(S3Error::NoUploadExpected),
    }
}

/// Handles a POST Object form, counting its outcome.
pub async fn post_object(
    State(state): State<AppState>,
    path: S3Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, S3Error> {
    let result = receive(state.clone(), path, headers, body).await;
    match &result {
        Ok(_) => {}
        Err(e) => state.metrics.upload(e.code_and_status().0, 0),
    }
    result
}

async fn receive(
    state: AppState,
    S3Path(bucket): S3Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, S3Error> {
    // With S3 storage uploads go to the S3 service; this endpoint has no bucket.
    let Some(receiver) = state
        .receiver
        .as_ref()
        .filter(|_| bucket == state.signer.bucket())
    else {
        return Err(S3Error::NoSuchBucket);
    };
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or(S3Error::NotMultipart)?;
    // No policy assetd signs allows more than the largest file plus the form around it: such
    // a Content-Length is refused before `100 Continue` invites the client to send it.
    let largest_object = state
        .settings
        .image_max_bytes
        .max(state.settings.document_max_bytes);
    if http_body::Body::size_hint(&body).lower() > largest_object.saturating_add(MAX_FORM_BYTES) {
        return Err(S3Error::EntityTooLarge);
    }
    let gate = FormGate::new();
    let mut form = multer::Multipart::new(
        GatedBody::new(body.into_data_stream(), std::sync::Arc::clone(&gate)),
        boundary,
    );
    let mut reader = FormReader::new(gate, state.settings.body_idle_timeout);

    let mut fields = Vec::new();
    let mut budget = FieldBudget::new();
    let mut file = loop {
        let Some(mut field) = reader.next_part(&mut form).await? else {
            return Err(S3Error::IncorrectNumberOfFiles);
        };
        if is_file_part(&field) {
            break field;
        }
        let name = field.name().unwrap_or_default().to_owned();
        let value = reader.read_field(&mut field, &mut budget).await?;
        fields.push((name, value));
    };
    reader.begin_file();

    let now = Utc::now();
    let file_name = file.file_name().map(str::to_owned);
    let verified = verify_post(
        &PostRequest {
            bucket: &bucket,
            fields: &fields,
            file_name: file_name.as_deref(),
        },
        now,
        |access_key| state.signer.secret_for(access_key),
    )?;
    // S3's additional checksums, verified as the bytes stream past (only when a form asks).
    let expected_checksum = ExpectedChecksum::from_fields(&fields)?;
    let mut checksummer = expected_checksum
        .as_ref()
        .map(|expected| Checksummer::new(expected.algorithm));
    let asset = expected_upload(&state, &verified.key).await?;
    let (min, max) = verified.content_length_range.unwrap_or((0, u64::MAX));

    let mut write = receiver.begin_write(&verified.key)?;
    let mut size: u64 = 0;
    while let Some(chunk) = reader.next_chunk(&mut file).await? {
        size += chunk.len() as u64;
        if size > max {
            // Stop reading at once; dropping `write` removes the temp file.
            return Err(S3Error::EntityTooLarge);
        }
        if let Some(checksummer) = checksummer.as_mut() {
            checksummer.update(&chunk);
        }
        // The store hashes the bytes as it writes them (off this task).
        write.write(chunk).await?;
    }
    drop(file);
    // AWS ignores fields after the file, but a second file is an error.
    reader.end_file();
    let mut trailing = FieldBudget::new();
    while let Some(mut field) = reader.next_part(&mut form).await? {
        if is_file_part(&field) {
            return Err(S3Error::IncorrectNumberOfFiles);
        }
        reader.read_field(&mut field, &mut trailing).await?;
    }
    if size < min {
        return Err(S3Error::EntityTooSmall);
    }
    if let (Some(expected), Some(checksummer)) = (&expected_checksum, checksummer) {
        // Dropping `write` removes the temp file.
        expected.check(&checksummer.finish())?;
    }
    let digest = write.finish().await?;
    if digest != asset.file_hash {
        return Err(S3Error::BadDigest);
    }
    write.commit().await?;
    let size_i64 = i64::try_from(size).map_err(S3Error::internal)?;
    // If the database fails here the object stays: the commit may have reached it before the
    // failure did, and a row marked uploaded must never point at nothing. A row left pending
    // is completed by the client's retry (the same key is written again) or removed with its
    // object by the sweep when its policy expires.
    let settled = settle::verified(
        state.meta.as_ref(),
        state.blobs.as_ref(),
        &state.delivery_cache,
        &asset,
        size_i64,
        now,
    )
    .await?;
    if settled == Settled::Gone {
        // Deleted (or replaced again) while uploading: keep nothing.
        state.blobs.delete(&verified.key).await?;
        return Err(S3Error::NoUploadExpected);
    }
    variants::worker::uploaded(&state.variant_jobs, &asset.content_type);
    tracing::info!(asset = %asset.id, size, "upload stored");
    state.metrics.upload("stored", size);
    Ok(success_response(&state, &bucket, &verified, &digest))
}

/// The answer AWS gives for `success_action_redirect` / `success_action_status`.
fn success_response(
    state: &AppState,
    bucket: &str,
    verified: &VerifiedPost,
    md5: &str,
) -> Response {
    let etag = format!("\"{md5}\"");
    let location = urls::object_location(&state.settings.public_url, bucket, &verified.key);
    let redirect = verified
        .field("success_action_redirect")
        .or_else(|| verified.field("redirect"))
        .filter(|r| !r.is_empty());
    let mut response = if let Some(target) = redirect {
        let separator = if target.contains('?') { '&' } else { '?' };
        let to = format!(
            "{target}{separator}bucket={}&key={}&etag={}",
            urls::encode_component(bucket),
            urls::encode_component(&verified.key),
            urls::encode_component(&etag)
        );
        let mut r = StatusCode::SEE_OTHER.into_response();
        if let Ok(value) = HeaderValue::from_str(&to) {
            r.headers_mut().insert(header::LOCATION, value);
        }
        r
    } else {
        match verified.field("success_action_status") {
            Some("200") => StatusCode::OK.into_response(),
            Some("201") => {
                let body = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></PostResponse>",
                    xml_escape(&location),
                    xml_escape(bucket),
                    xml_escape(&verified.key),
                    xml_escape(&etag)
                );
                (
                    StatusCode::CREATED,
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/xml"),
                    )],
                    body,
                )
                    .into_response()
            }
            _ => StatusCode::NO_CONTENT.into_response(),
        }
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if !headers.contains_key(header::LOCATION)
        && let Ok(value) = HeaderValue::from_str(&location)
    {
        headers.insert(header::LOCATION, value);
    }
    response
}
