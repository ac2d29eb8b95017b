//! Confirming uploads that bypass assetd.
//!
//! With S3 storage the client posts its file straight to the S3 service, so assetd learns of it
//! by looking: an asset becomes uploaded when its object exists with a size inside the policy's
//! range and an ETag equal to the promised MD5 (a POST upload is single-part, so S3's ETag is the
//! MD5 of the bytes). An object that does not match is deleted and the asset marked failed.
//! This runs when an asset is read and from the background sweep; with the embedded store it
//! does nothing, because the receiver verifies uploads itself.

use chrono::Utc;

use crate::error::Error;
use crate::file_types;
use crate::ids::ObjectId;
use crate::meta::{Asset, AssetState};
use crate::state::AppState;
use crate::upload_signer::MIN_BYTES;
use crate::variants;

/// How many open uploads one read confirms at most.
const CONFIRM_BATCH: i64 = 100;

/// The asset as it stands after looking for its object.
pub async fn confirm(state: &AppState, asset: Asset) -> Result<Asset, Error> {
    if !state.settings.uploads_bypass_assetd() || asset.state != AssetState::Pending {
        return Ok(asset);
    }
    let meta = match state.blobs.head(&asset.storage_key).await {
        Ok(Some(meta)) => meta,
        Ok(None) => return Ok(asset),
        // The store being unreachable is not the upload's fault: the asset stays pending, and
        // a read of this one asset cannot say whether it is there (503, not a 404).
        Err(e) => return Err(e.into()),
    };
    let max = file_types::from_file_name(&asset.original_file_name)
        .map_or(0, |t| state.settings.max_bytes(t.class));
    let now = Utc::now();
    let size_ok = (MIN_BYTES..=max).contains(&meta.size);
    let hash_ok = meta
        .etag
        .as_deref()
        .is_some_and(|etag| etag.eq_ignore_ascii_case(&asset.file_hash));
    if size_ok && hash_ok {
        let size = i64::try_from(meta.size).map_err(Error::internal)?;
        if state.meta.mark_uploaded(asset.id, size, now).await? {
            variants::worker::uploaded(state, &asset.content_type);
            tracing::info!(asset = %asset.id, size, "upload confirmed");
            state.metrics.upload("confirmed", meta.size);
            return Ok(Asset {
                state: AssetState::Uploaded,
                size: Some(size),
                last_updated: now,
                ..asset
            });
        }
        return Ok(asset);
    }
    tracing::warn!(asset = %asset.id, size = meta.size, size_ok, hash_ok, "uploaded object does not verify; deleting it");
    state.blobs.delete(&asset.storage_key).await?;
    state.meta.mark_failed(asset.id, now).await?;
    state.metrics.upload("failed_verification", 0);
    Ok(Asset {
        state: AssetState::Failed,
        last_updated: now,
        ..asset
    })
}

/// Confirms the open uploads of `site` (or of every site), so lists reflect arrived bytes.
pub async fn confirm_open_uploads(state: &AppState, site: Option<ObjectId>) -> Result<(), Error> {
    if !state.settings.uploads_bypass_assetd() {
        return Ok(());
    }
    for asset in state
        .meta
        .open_uploads(site, Utc::now(), CONFIRM_BATCH)
        .await?
    {
        let id = asset.id;
        // A list shows what is confirmed; an upload the store cannot be asked about now stays
        // pending until a later read or the sweep.
        if let Err(e) = confirm(state, asset).await {
            tracing::warn!(asset = %id, error = %e, "cannot check upload");
            if matches!(e, Error::Unavailable(_)) {
                break;
            }
        }
    }
    Ok(())
}
