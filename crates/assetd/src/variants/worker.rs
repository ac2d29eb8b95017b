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

use super::plan::{self, Encoding, VariantFormat, VariantFormats, VariantSize};
use super::render::{self, RenderError, RenderedVariant};
use crate::background::Background;
use crate::meta::{
    Asset, AssetState, MetaError, MetaStore, Variant, VariantJob, VariantOutcome, VariantState,
};
use crate::storage::{BlobStore, StoreError};

/// How long a claimed job is reserved for its worker. A job takes about a second; if its
/// worker dies, another takes the job when the lease runs out.
pub const LEASE: Duration = Duration::from_secs(60);
/// How often an idle worker looks for jobs queued by other nodes or left by a restart.
const POLL: Duration = Duration::from_secs(1);
/// Claims after which a job that keeps failing (e.g. it kills the process) is given up.
pub const MAX_ATTEMPTS: i64 = 5;

pub use crate::config::VariantSettings;

/// What a worker works with: the metadata, the blob store and the pixel limit.
#[derive(Clone)]
pub struct VariantWork {
    /// Where jobs and variants are recorded.
    pub meta: Arc<dyn MetaStore>,
    /// Where originals are read and variants written.
    pub blobs: Arc<dyn BlobStore>,
    /// Images with more pixels get a recorded error instead of variants.
    pub max_pixels: u64,
    /// The encodings each width gets besides the original's format.
    pub formats: VariantFormats,
}

/// Why a job could not be run now (it stays leased and is retried when the lease ends).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The database failed.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// The blob store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The original could not be read whole.
    #[error("reading the original: {0}")]
    Read(#[source] std::io::Error),
    /// The resizing task panicked or was cancelled.
    #[error("resizing: {0}")]
    Render(#[source] tokio::task::JoinError),
}

/// Starts `workers` workers, which run until `background` is stopped (a job under way is
/// finished first; one not begun stays queued for the next start). Completed uploads notify
/// `wakeup` (see [`uploaded`]), so their jobs start at once.
pub fn spawn(work: &VariantWork, workers: usize, wakeup: &Arc<Notify>, background: &Background) {
    for _ in 0..workers {
        let (work, wakeup) = (work.clone(), wakeup.clone());
        background.spawn(|stop| run_worker(work, wakeup, stop));
    }
}

/// Tells the pool (through its wake-up, `AppState::variant_jobs`) that an asset of `content_type`
/// was just uploaded. Only an image has a variant job to start; waking a worker for any other
/// upload costs it a query that finds nothing.
pub fn uploaded(variant_jobs: &Notify, content_type: &str) {
    if VariantFormat::from_content_type(content_type).is_some() {
        variant_jobs.notify_one();
    }
}

async fn run_worker(work: VariantWork, wakeup: Arc<Notify>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        match run_one(&work, Utc::now()).await {
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
pub async fn run_one(work: &VariantWork, now: DateTime<Utc>) -> Result<bool, JobError> {
    let lease_until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
    let Some(job) = work.meta.claim_variant_job(now, lease_until).await? else {
        return Ok(false);
    };
    make_variants(work, job).await?;
    work.meta
        .finish_variant_job(job.asset_id, lease_until)
        .await?;
    Ok(true)
}

async fn make_variants(work: &VariantWork, job: VariantJob) -> Result<(), JobError> {
    let Some(asset) = work.meta.get_asset(job.asset_id).await? else {
        return Ok(());
    };
    let Some(format) = VariantFormat::from_content_type(&asset.content_type) else {
        return Ok(());
    };
    if asset.state != AssetState::Uploaded {
        return Ok(());
    }
    let existing = work.meta.variants_of(&[asset.id]).await?;
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
            record_unreadable(work, &asset, format, &why).await?;
        }
        for variant in unfinished {
            work.meta
                .finish_variant(&variant.storage_key, VariantOutcome::Failed(&why))
                .await?;
        }
        return Ok(());
    }

    let Some(original) = read_original(work, &asset).await? else {
        return Ok(()); // bytes gone: the asset is being deleted
    };
    let max_pixels = work.max_pixels;
    let (width, height) = match render::dimensions(&original, format) {
        Ok(dimensions) => dimensions,
        Err(e) => return record_unreadable(work, &asset, format, &e.to_string()).await,
    };
    let sizes = plan::sizes(width, height);
    let encodings = encodings(work.formats, format, &asset);
    let too_large = render::check_pixels(width, height, max_pixels).err();
    // Size by size, each size's encodings in order: the order `render` returns them in.
    let planned: Vec<Variant> = sizes
        .iter()
        .flat_map(|size| {
            encodings.iter().map(|&encoding| {
                planned_variant(&asset, format, encoding, *size, too_large.as_ref())
            })
        })
        .collect();
    if !work
        .meta
        .plan_variants(asset.id, &asset.storage_key, &planned)
        .await?
        || too_large.is_some()
    {
        return Ok(());
    }

    let rendered =
        tokio::task::spawn_blocking(
            move || match render::decode(&original, format, max_pixels) {
                Ok(image) => render::render(&image, format, &encodings, &sizes),
                Err(e) => (0..sizes.len() * encodings.len())
                    .map(|_| Err(e.clone()))
                    .collect(),
            },
        )
        .await
        .map_err(JobError::Render)?;
    for (variant, outcome) in planned.iter().zip(rendered) {
        store_variant(work, &asset, variant, outcome).await?;
    }
    Ok(())
}

/// The encodings `asset` (of `format`) gets at each width. A WebP variant whose key would not fit
/// the stores (a file name near the limit with a shorter extension than `.webp`) is left out:
/// the same-format variants are what Webflow clients rely on.
fn encodings(formats: VariantFormats, format: VariantFormat, asset: &Asset) -> Vec<Encoding> {
    let widest = plan::WEBFLOW_WIDTHS.iter().copied().max().unwrap_or(0);
    formats
        .encodings(format)
        .into_iter()
        .filter(|encoding| {
            let fits = crate::keys::fits(&encoding.key(&asset.storage_key, widest));
            if !fits {
                tracing::warn!(asset = %asset.id, ?encoding, "variant key too long; not made");
            }
            fits
        })
        .collect()
}

/// A variant row before its object exists (or, over the pixel limit, already failed).
fn planned_variant(
    asset: &Asset,
    format: VariantFormat,
    encoding: Encoding,
    size: VariantSize,
    refused: Option<&RenderError>,
) -> Variant {
    Variant {
        storage_key: encoding.key(&asset.storage_key, size.width),
        asset_id: asset.id,
        width: i64::from(size.width),
        height: Some(i64::from(size.height)),
        format: encoding.format_name(&asset.original_file_name),
        quality: i64::from(encoding.quality(format)),
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
    work: &VariantWork,
    asset: &Asset,
    format: VariantFormat,
    why: &str,
) -> Result<(), JobError> {
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
    work.meta
        .plan_variants(asset.id, &asset.storage_key, &[entry])
        .await?;
    Ok(())
}

async fn read_original(work: &VariantWork, asset: &Asset) -> Result<Option<Vec<u8>>, JobError> {
    let size = asset.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
    let Some(mut reader) = work.blobs.read(&asset.storage_key, 0, size).await? else {
        return Ok(None);
    };
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    reader
        .read_to_end(&mut bytes)
        .await
        .map_err(JobError::Read)?;
    Ok(Some(bytes))
}

async fn store_variant(
    work: &VariantWork,
    asset: &Asset,
    variant: &Variant,
    outcome: Result<RenderedVariant, RenderError>,
) -> Result<(), JobError> {
    let key = &variant.storage_key;
    let rendered = match outcome {
        Ok(rendered) => rendered,
        Err(e) => {
            tracing::warn!(asset = %asset.id, %key, error = %e, "variant failed");
            work.meta
                .finish_variant(key, VariantOutcome::Failed(&e.to_string()))
                .await?;
            return Ok(());
        }
    };
    let file_hash = hex::encode(Md5::digest(&rendered.bytes));
    // A variant is a few MB at most: its length always fits.
    let size = i64::try_from(rendered.bytes.len()).unwrap_or(i64::MAX);
    let content_type = rendered.encoding.content_type(&asset.content_type);
    work.blobs
        .put(key, Bytes::from(rendered.bytes), content_type)
        .await?;
    let recorded = work
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
        work.blobs.delete(key).await?;
    }
    Ok(())
}
