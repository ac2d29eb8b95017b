//! Background clean-up, so nothing is orphaned:
//! - a pending (or failed) asset whose upload window closed more than [`PENDING_GRACE`] ago is removed
//!   (the grace lets an upload that started just before expiry finish); with S3 storage its
//!   object is looked at one last time first ([`crate::confirmer::Confirmer::confirm_one`]).
//!   Open uploads are the confirmer's, which checks them on its own schedule;
//! - keys queued by deletes are deleted from the blob store, retried until the store succeeds.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::background::Background;
use crate::confirmer::Verdict;
use crate::error::Error;
use crate::state::AppState;

/// How long after its policy expired a pending asset is kept.
pub const PENDING_GRACE: Duration = Duration::from_secs(15 * 60);
const BATCH: i64 = 500;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Pending assets removed.
    pub expired_assets: usize,
    /// Objects deleted from the blob store.
    pub blobs_deleted: usize,
    /// Objects whose deletion failed and will be retried.
    pub blobs_failed: usize,
}

/// One pass over expired pending assets and queued deletions, as of `now`.
pub async fn sweep_once(state: &AppState, now: DateTime<Utc>) -> Result<SweepReport, Error> {
    let (meta, blobs) = (state.meta.as_ref(), state.blobs.as_ref());
    let mut report = SweepReport::default();
    let cutoff = now - chrono::Duration::from_std(PENDING_GRACE).unwrap_or_default();
    for asset in meta.expired_pending_assets(cutoff, BATCH).await? {
        // A last look: bytes that arrived just before the window closed still count. If the
        // store cannot be asked, the asset waits for a later pass (its bytes may be there), and
        // the rest of the pass goes on.
        match state.confirmer.confirm_one(&asset).await {
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
pub fn spawn(state: AppState, every: Duration, background: &Background) {
    background.spawn(|stop| async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            match sweep_once(&state, Utc::now()).await {
                Ok(report) if report != SweepReport::default() => tracing::info!(?report, "sweep"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "sweep failed"),
            }
        }
    });
}
