//! Background clean-up, so nothing is orphaned:
//! - a pending (or failed) asset whose upload window closed more than [`PENDING_GRACE`] ago is removed
//!   (the grace lets an upload that started just before expiry finish); with S3 storage its
//!   object is looked at one last time first ([`crate::confirmer::Confirmer::confirm_one`]).
//!   Open uploads are the confirmer's, which checks them on its own schedule;
//! - so is a replacement of an asset's file whose bytes never arrived (the asset keeps its
//!   file), after the same last look;
//! - deletions of sites left midway are continued ([`crate::site_deletion`]);
//! - keys queued by deletes are deleted from the blob store, retried until the store succeeds.

use std::time::Duration;

use chrono::{DateTime, Utc};

use std::sync::Arc;

use crate::background::Background;
use crate::confirmer::{Confirmer, Verdict};
use crate::meta::{MetaError, MetaStore};
use crate::storage::BlobStore;

/// How long after its policy expired a pending asset is kept.
pub const PENDING_GRACE: Duration = Duration::from_secs(15 * 60);
const BATCH: i64 = 500;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Pending assets removed.
    pub expired_assets: usize,
    /// Replacements whose bytes never arrived, dropped (their assets keep their files).
    pub expired_replacements: usize,
    /// Objects deleted from the blob store.
    pub blobs_deleted: usize,
    /// Objects whose deletion failed and will be retried.
    pub blobs_failed: usize,
}

/// What the sweep works with.
#[derive(Clone)]
pub struct SweepWork {
    /// Expired assets and queued deletions.
    pub meta: Arc<dyn MetaStore>,
    /// Where queued keys are deleted.
    pub blobs: Arc<dyn BlobStore>,
    /// The last look at an expired upload (S3 storage).
    pub confirmer: Confirmer,
}

/// One pass over expired pending assets and queued deletions, as of `now`. A failing blob
/// store only postpones deletions; a failing database ends the pass.
pub async fn sweep_once(work: &SweepWork, now: DateTime<Utc>) -> Result<SweepReport, MetaError> {
    let (meta, blobs) = (work.meta.as_ref(), work.blobs.as_ref());
    let mut report = SweepReport::default();
    let cutoff = now - chrono::Duration::from_std(PENDING_GRACE).unwrap_or_default();
    for asset in meta.expired_pending_assets(cutoff, BATCH).await? {
        // A last look: bytes that arrived just before the window closed still count. If the
        // store cannot be asked, the asset waits for a later pass (its bytes may be there), and
        // the rest of the pass goes on.
        match work.confirmer.confirm_one(&asset).await {
            Ok(Verdict::Uploaded { .. }) => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(asset = %asset.id, error = %e, "cannot check an expired upload; will retry");
                continue;
            }
        }
        if meta.delete_asset(asset.id, now).await?.is_some() {
            report.expired_assets += 1;
        }
    }
    for replacement in meta.expired_replacements(cutoff, BATCH).await? {
        // The same last look, for a replacement's bytes.
        match work.confirmer.confirm_one(&replacement.upload()).await {
            Ok(Verdict::Uploaded { .. }) => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(replacement = %replacement.id, error = %e, "cannot check an expired replacement; will retry");
                continue;
            }
        }
        if meta.drop_replacement(replacement.id, now).await? {
            report.expired_replacements += 1;
        }
    }
    crate::site_deletion::continue_all(meta, blobs, now).await?;
    for key in meta.queued_blob_deletions(BATCH).await? {
        match blobs.delete(&key).await {
            Ok(()) => {
                meta.finish_blob_deletion(&key, now).await?;
                report.blobs_deleted += 1;
            }
            Err(e) => {
                tracing::warn!(%key, error = %e, "blob delete failed; will retry");
                report.blobs_failed += 1;
            }
        }
    }
    Ok(report)
}

/// Runs [`sweep_once`] every `every` until `background` is stopped (a pass under way is
/// finished first).
pub fn spawn(work: SweepWork, every: Duration, background: &Background) {
    background.spawn(|stop| async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            match sweep_once(&work, Utc::now()).await {
                Ok(report) if report != SweepReport::default() => tracing::info!(?report, "sweep"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "sweep failed"),
            }
        }
    });
}
