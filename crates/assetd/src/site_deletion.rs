//! Deleting a site: every asset, variant, folder, token grant, webhook (with its undelivered
//! events) and stored byte of it, and nothing of another site.
//!
//! In steps, each safe to stop after and to run again (by `assetd site delete`, or by the sweep,
//! which finishes any deletion a crash or an interrupt left midway):
//! 1. the site is marked as being deleted and every token's grant to it and every webhook of it
//!    (their outbox rows cascade) are removed, in one transaction: the API stops showing it, its
//!    tokens stop reaching it within the nodes' token cache TTL, and the deletion of its assets
//!    notifies nobody;
//! 2. its assets are deleted in batches, each through the same delete as the API's, which queues
//!    the asset's and its variants' keys in the transaction that removes the rows;
//! 3. its folders, once no asset is left;
//! 4. the queued keys under the site's prefix (`{siteId}/`) are deleted from the blob store now
//!    (a key whose upload window is still open stays queued, and the sweep deletes it again
//!    until the window closes, as for any deleted pending asset);
//! 5. the site's row, once nothing of it is left and [`ROW_KEPT`] has passed since step 1: a node
//!    whose token cache still holds a grant could create an asset meanwhile, and the kept mark
//!    makes the sweep delete that one too.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ids::ObjectId;
use crate::meta::{MetaError, MetaStore};
use crate::storage::BlobStore;

/// How long a deleted site's (empty) row is kept: longer than any token cache TTL and upload
/// window a node is likely to run with.
pub const ROW_KEPT: Duration = Duration::from_secs(2 * 3600);

/// Assets deleted per batch.
const BATCH: i64 = 500;

/// What one run of a deletion did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SiteDeletion {
    /// Assets deleted.
    pub assets: u64,
    /// Folders deleted.
    pub folders: u64,
    /// Objects deleted from the blob store.
    pub objects: u64,
    /// Objects whose deletion failed (they stay queued for the sweep).
    pub objects_failed: u64,
    /// Whether the site's row is gone too.
    pub finished: bool,
}

/// Begins (or resumes) deleting `site` and does every step. Returns `None` if no such site
/// exists.
pub async fn delete_site(
    meta: &dyn MetaStore,
    blobs: &dyn BlobStore,
    site: ObjectId,
    now: DateTime<Utc>,
) -> Result<Option<SiteDeletion>, MetaError> {
    if !meta.start_site_deletion(site, now).await? {
        return Ok(None);
    }
    continue_deletion(meta, blobs, site, now).await.map(Some)
}

/// Steps 2–5 for a site already marked.
pub async fn continue_deletion(
    meta: &dyn MetaStore,
    blobs: &dyn BlobStore,
    site: ObjectId,
    now: DateTime<Utc>,
) -> Result<SiteDeletion, MetaError> {
    let mut done = SiteDeletion::default();
    loop {
        let batch = meta.site_assets(site, BATCH).await?;
        if batch.is_empty() {
            break;
        }
        for id in batch {
            if meta.delete_asset(id, now).await?.is_some() {
                done.assets += 1;
            }
        }
    }
    done.folders = meta.delete_site_folders(site).await?;
    let prefix = format!("{site}/");
    let mut after = String::new();
    loop {
        let keys = meta
            .queued_blob_deletions_under(&prefix, &after, BATCH)
            .await?;
        let Some(last) = keys.last() else { break };
        after.clone_from(last);
        for key in &keys {
            match blobs.delete(key).await {
                Ok(()) => {
                    meta.finish_blob_deletion(key, now).await?;
                    done.objects += 1;
                }
                Err(e) => {
                    tracing::warn!(%key, error = %e, "blob delete failed; the sweep retries it");
                    done.objects_failed += 1;
                }
            }
        }
    }
    let kept = chrono::Duration::from_std(ROW_KEPT).unwrap_or_default();
    done.finished = meta.finish_site_deletion(site, now - kept).await?;
    Ok(done)
}

/// Continues every deletion under way (the sweep's share).
pub async fn continue_all(
    meta: &dyn MetaStore,
    blobs: &dyn BlobStore,
    now: DateTime<Utc>,
) -> Result<(), MetaError> {
    for site in meta.deleting_sites().await? {
        let done = continue_deletion(meta, blobs, site, now).await?;
        if done != SiteDeletion::default() {
            tracing::info!(%site, ?done, "site deletion continued");
        }
    }
    Ok(())
}
