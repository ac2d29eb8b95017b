//! The variant worker pool: each worker leases one queued job at a time, makes that image's
//! variants on the blocking pool and stores them. The pool size bounds how many images are
//! decoded at once, and with it the memory variants can take.

use std::sync::Arc;
use std::time::Duration;

use assetd_md5::Md5;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::plan::{self, VariantFormat, VariantSize};
use super::render::{self, RenderError, RenderedVariant};
use crate::background::Background;
use crate::error::Error;
use crate::meta::{Asset, AssetState, Variant, VariantJob, VariantOutcome, VariantState};
use crate::state::AppState;

/// How long a claimed job is reserved for its worker. A job takes about a second; if its
/// worker dies, another takes the job when the lease runs out.
pub const LEASE: Duration = Duration::from_secs(60);
/// How often an idle worker looks for jobs queued by other nodes or left by a restart.
const POLL: Duration = Duration::from_secs(1);
/// Claims after which a job that keeps failing (e.g. it kills the process) is given up.
pub const MAX_ATTEMPTS: i64 = 5;

/// What bounds the work: how many workers, and the largest image (in pixels) they decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariantSettings {
    /// Concurrent workers; 0 turns variant making off (jobs stay queued).
    pub workers: usize,
    /// Images with more pixels get a recorded error instead of variants.
    pub max_pixels: u64,
}

/// Starts the pool, which runs until `background` is stopped (a job under way is finished
/// first; one not begun stays queued for the next start). Completed uploads notify
/// `state.variant_jobs`, so their jobs start at once.
pub fn spawn(state: &AppState, background: &Background) {
    for _ in 0..state.settings.variants.workers {
        let (state, wakeup) = (state.clone(), state.variant_jobs.clone());
        background.spawn(|stop| run_worker(state, wakeup, stop));
    }
}

/// Tells the pool (through its wake-up, `state.variant_jobs`) that an asset of `content_type`
/// was just uploaded. Only an image has a variant job to start; waking a worker for any other
/// upload costs it a query that finds nothing.
pub fn uploaded(variant_jobs: &Notify, content_type: &str) {
    if VariantFormat::from_content_type(content_type).is_some() {
        variant_jobs.notify_one();
    }
}

async fn run_worker(state: AppState, wakeup: Arc<Notify>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        match run_one(&state, Utc::now()).await {
            Ok(true) => continue,
            Ok(false) => {}
            // The store or database is failing: the job stays leased and is retried later.
            Err(e) => tracing::warn!(error = %e, "variant job failed; will retry"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = wakeup.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Claims and runs one job as of `now`. Returns false when no job was waiting.
pub async fn run_one(state: &AppState, now: DateTime<Utc>) -> Result<bool, Error> {
    let lease_until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
    let Some(job) = state.meta.claim_variant_job(now, lease_until).await? else {
        return Ok(false);
    };
    make_variants(state, job).await?;
    state.meta.finish_variant_job(job.asset_id).await?;
    Ok(true)
}

async fn make_variants(state: &AppState, job: VariantJob) -> Result<(), Error> {
    let Some(asset) = state.meta.get_asset(job.asset_id).await? else {
        return Ok(());
    };
    let Some(format) = VariantFormat::from_content_type(&asset.content_type) else {
        return Ok(());
    };
    if asset.state != AssetState::Uploaded {
        return Ok(());
    }
    let existing = state.meta.variants_of(&[asset.id]).await?;
    let unfinished: Vec<&Variant> = existing
        .iter()
        .filter(|v| v.state == VariantState::Pending)
        .collect();
    if !existing.is_empty() && unfinished.is_empty() {
        return Ok(()); // finished before a restart, only the job row was left
    }
    if job.attempts > MAX_ATTEMPTS {
        let why = format!("gave up after {MAX_ATTEMPTS} attempts");
        if existing.is_empty() {
            record_unreadable(state, &asset, format, &why).await?;
        }
        for variant in unfinished {
            state
                .meta
                .finish_variant(&variant.storage_key, VariantOutcome::Failed(&why))
                .await?;
        }
        return Ok(());
    }

    let Some(original) = read_original(state, &asset).await? else {
        return Ok(()); // bytes gone: the asset is being deleted
    };
    let max_pixels = state.settings.variants.max_pixels;
    let (width, height) = match render::dimensions(&original, format) {
        Ok(dimensions) => dimensions,
        Err(e) => return record_unreadable(state, &asset, format, &e.to_string()).await,
    };
    let sizes = plan::sizes(width, height);
    let too_large = render::check_pixels(width, height, max_pixels).err();
    let planned: Vec<Variant> = sizes
        .iter()
        .map(|size| planned_variant(&asset, format, *size, too_large.as_ref()))
        .collect();
    if !state.meta.plan_variants(asset.id, &planned).await? || too_large.is_some() {
        return Ok(());
    }

    let rendered =
        tokio::task::spawn_blocking(
            move || match render::decode(&original, format, max_pixels) {
                Ok(image) => render::render(&image, format, &sizes),
                Err(e) => sizes.iter().map(|_| Err(e.clone())).collect(),
            },
        )
        .await
        .map_err(Error::internal)?;
    for (variant, outcome) in planned.iter().zip(rendered) {
        store_variant(state, &asset, variant, outcome).await?;
    }
    Ok(())
}

/// A variant row before its object exists (or, over the pixel limit, already failed).
fn planned_variant(
    asset: &Asset,
    format: VariantFormat,
    size: VariantSize,
    refused: Option<&RenderError>,
) -> Variant {
    Variant {
        storage_key: plan::variant_key(&asset.storage_key, size.width),
        asset_id: asset.id,
        width: i64::from(size.width),
        height: Some(i64::from(size.height)),
        format: plan::format_name(&asset.original_file_name),
        quality: i64::from(format.quality()),
        state: if refused.is_some() {
            VariantState::Failed
        } else {
            VariantState::Pending
        },
        size: None,
        file_hash: None,
        error: refused.map(ToString::to_string),
    }
}

/// Records that no variant could be made because the image cannot be read: one failed entry
/// of width 0 (no width is known), so the asset's `variants` carries the error.
async fn record_unreadable(
    state: &AppState,
    asset: &Asset,
    format: VariantFormat,
    why: &str,
) -> Result<(), Error> {
    let entry = Variant {
        storage_key: plan::variant_key(&asset.storage_key, 0),
        asset_id: asset.id,
        width: 0,
        height: None,
        format: plan::format_name(&asset.original_file_name),
        quality: i64::from(format.quality()),
        state: VariantState::Failed,
        size: None,
        file_hash: None,
        error: Some(why.to_owned()),
    };
    tracing::warn!(asset = %asset.id, error = why, "image variants cannot be made");
    state.meta.plan_variants(asset.id, &[entry]).await?;
    Ok(())
}

async fn read_original(state: &AppState, asset: &Asset) -> Result<Option<Vec<u8>>, Error> {
    let size = asset.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
    let Some(mut reader) = state.blobs.read(&asset.storage_key, 0, size).await? else {
        return Ok(None);
    };
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    reader
        .read_to_end(&mut bytes)
        .await
        .map_err(Error::internal)?;
    Ok(Some(bytes))
}

async fn store_variant(
    state: &AppState,
    asset: &Asset,
    variant: &Variant,
    outcome: Result<RenderedVariant, RenderError>,
) -> Result<(), Error> {
    let key = &variant.storage_key;
    let rendered = match outcome {
        Ok(rendered) => rendered,
        Err(e) => {
            tracing::warn!(asset = %asset.id, %key, error = %e, "variant failed");
            state
                .meta
                .finish_variant(key, VariantOutcome::Failed(&e.to_string()))
                .await?;
            return Ok(());
        }
    };
    let file_hash = hex::encode(Md5::digest(&rendered.bytes));
    let size = i64::try_from(rendered.bytes.len()).map_err(Error::internal)?;
    state
        .blobs
        .put(key, Bytes::from(rendered.bytes), &asset.content_type)
        .await?;
    let recorded = state
        .meta
        .finish_variant(
            key,
            VariantOutcome::Done {
                size,
                file_hash: &file_hash,
            },
        )
        .await?;
    if !recorded {
        // The asset was deleted while this variant was being written; its delete may have run
        // before the object existed, so remove it here.
        state.blobs.delete(key).await?;
    }
    Ok(())
}
