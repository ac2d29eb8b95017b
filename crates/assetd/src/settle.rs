//! What is recorded when an upload's bytes are found to verify, or not: one implementation for
//! the embedded S3 POST endpoint (which sees the bytes arrive) and the confirmer (which looks
//! for them in an S3 service).
//!
//! An upload is an asset-shaped record: an asset, for its first file, or a replacement's
//! [`crate::meta::Replacement::upload`], named by the replacement's own id, for each later
//! one. The ids never meet (a replacement's is generated; Upload Asset refuses a chosen id
//! that names a replacement), so the id says which it is: the asset is tried first, as nearly
//! every upload is one, then the replacement.

use chrono::{DateTime, Utc};

use crate::delivery_cache::DeliveryCache;
use crate::meta::{Asset, MetaError, MetaStore, Replaced};
use crate::storage::BlobStore;

/// What verified bytes became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// An asset's first file: the asset is uploaded.
    Uploaded,
    /// A replacement: the asset now points at the new file, and its old objects are deleted
    /// (or queued, if the store failed).
    Replaced(Box<Replaced>),
    /// Nothing waits for these bytes any more (the asset was deleted, or a newer replacement
    /// took this one's place): the caller deletes them.
    Gone,
}

/// Records that `upload`'s bytes (`size` of them) are stored and verified.
pub async fn verified(
    meta: &dyn MetaStore,
    blobs: &dyn BlobStore,
    cache: &DeliveryCache,
    upload: &Asset,
    size: i64,
    now: DateTime<Utc>,
) -> Result<Settled, MetaError> {
    if meta.mark_uploaded(upload.id, size, now).await? {
        return Ok(Settled::Uploaded);
    }
    let Some(replaced) = meta.complete_replacement(upload.id, size, now).await? else {
        return Ok(Settled::Gone);
    };
    tracing::info!(asset = %replaced.asset.id, replacement = %upload.id, "file replaced");
    // The old objects go now, so the replace leaves nothing behind; a store failure leaves
    // them queued for the sweep. Until this point the old file was served.
    cache.forget(replaced.old_keys.iter().map(String::as_str));
    for key in &replaced.old_keys {
        match blobs.delete(key).await {
            Ok(()) => meta.finish_blob_deletion(key, now).await?,
            Err(e) => tracing::warn!(%key, error = %e, "blob delete failed; the sweep retries"),
        }
    }
    Ok(Settled::Replaced(Box::new(replaced)))
}

/// Records that `upload`'s bytes did not verify (the caller has deleted them): an asset is
/// marked failed, a replacement dropped (the asset keeps its file). Returns false if nothing
/// waited for them.
pub async fn failed(
    meta: &dyn MetaStore,
    upload: &Asset,
    now: DateTime<Utc>,
) -> Result<bool, MetaError> {
    Ok(meta.mark_failed(upload.id, now).await? || meta.drop_replacement(upload.id, now).await?)
}
