//! The confirmer: learns of uploads that bypass assetd, in the background.
//!
//! With S3 storage the client posts its file straight to the S3 service, so assetd learns of it
//! by looking: an asset becomes uploaded when its object exists with a size inside the policy's
//! range and an ETag equal to the promised MD5 (a POST upload is single-part, so S3's ETag is the
//! MD5 of the bytes). An object that does not match is deleted and the asset marked failed.
//! [`Confirmer::confirm_one`] is the one implementation of that look; everything else here
//! decides when to take it. With the embedded store the confirmer does nothing (the receiver
//! verifies uploads itself) and its task is not started.
//!
//! Design:
//! - **One background task** per node, started with the sweep and the variant workers, stopped
//!   by their cancellation token and awaited on shutdown. It holds only the handles it uses
//!   ([`Handles`]), not the service state. At a stop no new check begins, a check whose HEAD has
//!   answered finishes its writes, and a HEAD still unanswered is dropped (nothing was written;
//!   the next start looks again).
//! - **After a create** (Upload Asset) the upload is tracked and checked on a backoff:
//!   [`schedule::FIRST_CHECK`] (200 ms) after the create, then at doubling intervals up to
//!   [`schedule::MAX_INTERVAL`] (60 s), the last check at the end of its upload window, so it
//!   converges without any read and an abandoned upload costs about 70 HEADs over the default
//!   hour. At most [`schedule::SLOTS`] (8) HEADs are in flight, one per asset, and background
//!   checks take at most [`schedule::BACKGROUND_SLOTS`] of them. At most
//!   [`schedule::CAPACITY`] uploads are tracked; past that, creates are left to the scan.
//! - **A scan** of the open uploads in the database every [`SCAN_EVERY`] (and at start) adopts
//!   those this node did not create — another node's, or any from before a restart — each
//!   joining the backoff at the place its age calls for.
//! - **Lists and folder reads** ([`Confirmer::hurry_site`]) never HEAD, write or wait: when the
//!   site has open uploads this node tracks (the cheap signal: uploads created here or adopted
//!   and not yet settled; no query), their checks come forward, each no sooner than half its interval after its last
//!   check, so a client polling a list at most doubles the backoff's pace. Otherwise a list
//!   costs one uncontended lock. During an S3 outage lists answer from the database as usual.
//! - **Single-asset reads** (Get, Update and Delete Asset, `hostedUrl` and `assetUrl` of a
//!   pending asset; [`Confirmer::check`]) ask for a check of that asset now, ahead of
//!   background ones, and wait for it at most [`READ_WAIT`] (1 s). Several reads of one asset
//!   share one check; a read that arrives while a check is in flight waits for the next one (the
//!   check in flight may have looked before the bytes the reader knows of arrived). If the
//!   store cannot be asked, or does not answer in time, the read is 503 as before: a pending
//!   asset whose object cannot be looked at may well exist, so it is not a 404. (The price: an
//!   S3 service that is up but takes over 1 s to answer a HEAD makes such a read 503 where it
//!   used to answer late; the check goes on, so a retry finds it settled.)
//! - **An outage** (the store unavailable) pauses background checks for 1 s, doubling up to
//!   30 s while it lasts, and every HEAD is bounded by [`HEAD_BOUND`].
//! - **The sweep** keeps removing expired uploads, after one last look through
//!   [`Confirmer::confirm_one`].

pub mod schedule;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::schedule::Schedule;
use crate::background::Background;
use crate::config::Settings;
use crate::delivery_cache::DeliveryCache;
use crate::file_types;
use crate::ids::ObjectId;
use crate::meta::{Asset, AssetState, MetaError, MetaStore};
use crate::metrics::Metrics;
use crate::settle::{self, Settled};
use crate::storage::{BlobStore, StoreError};
use crate::upload_signer::MIN_BYTES;
use crate::variants;

/// The longest a single-asset read waits for the check of its asset.
pub const READ_WAIT: Duration = Duration::from_secs(1);
/// The longest one HEAD may take; past it the store counts as unavailable. (The S3 client's
/// own timeout is 30 s, far too long to hold a slot.)
pub const HEAD_BOUND: Duration = Duration::from_secs(5);
/// How often open uploads are read from the database to adopt those this node did not create.
pub const SCAN_EVERY: Duration = Duration::from_secs(30);
/// Most open uploads one scan reads.
const SCAN_BATCH: i64 = 500;

/// What the confirmer works with.
pub struct Handles {
    /// Asset rows.
    pub meta: Arc<dyn MetaStore>,
    /// Where clients post their files.
    pub blobs: Arc<dyn BlobStore>,
    /// Whether uploads bypass assetd, and the size limits of uploads.
    pub settings: Arc<Settings>,
    /// Counts confirmed and failed uploads.
    pub metrics: Arc<Metrics>,
    /// Wakes a variant worker when an image is confirmed.
    pub variant_jobs: Arc<Notify>,
    /// Forgets a replaced file's old objects.
    pub delivery_cache: Arc<DeliveryCache>,
}

/// What one look at an upload's object found and recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing changed: no object yet (or, with the embedded store or an asset no longer
    /// pending, nothing to look for).
    Unchanged,
    /// The object verified: the asset is uploaded, with this size, as of `at`.
    Uploaded {
        /// Bytes.
        size: i64,
        /// When it was marked.
        at: DateTime<Utc>,
    },
    /// The object did not verify: it was deleted and the asset marked failed as of `at`.
    Failed {
        /// When it was marked.
        at: DateTime<Utc>,
    },
    /// The asset no longer exists (or is no longer pending): nothing to track.
    Gone,
}

impl Verdict {
    /// `asset` (as a read found it) after this verdict.
    pub fn apply(self, asset: Asset) -> Asset {
        match self {
            Self::Unchanged | Self::Gone => asset,
            Self::Uploaded { size, at } => Asset {
                state: AssetState::Uploaded,
                size: Some(size),
                last_updated: at,
                ..asset
            },
            Self::Failed { at } => Asset {
                state: AssetState::Failed,
                last_updated: at,
                ..asset
            },
        }
    }
}

/// Why an upload could not be confirmed. Cloned to every read waiting for one check, so it
/// carries the cause as text (the check logs it with its source).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmError {
    /// The blob store or the database is down, unreachable, full or too slow: the asset stays
    /// pending, and whether its bytes are there cannot be said now.
    #[error("cannot look at the upload now: {0}")]
    Unavailable(String),
    /// A read's check did not answer within the read's wait.
    #[error("the upload's check did not answer within {0:?}")]
    NoAnswer(Duration),
    /// The confirmer is stopping (or stopped).
    #[error("the confirmer is stopping")]
    Stopped,
    /// The store or the database failed otherwise.
    #[error("cannot confirm the upload: {0}")]
    Failed(String),
}

impl From<StoreError> for ConfirmError {
    fn from(err: StoreError) -> Self {
        if err.is_unavailable() {
            Self::Unavailable(err.to_string())
        } else {
            Self::Failed(err.to_string())
        }
    }
}

impl From<MetaError> for ConfirmError {
    fn from(err: MetaError) -> Self {
        if err.is_unavailable() {
            Self::Unavailable(err.to_string())
        } else {
            Self::Failed(err.to_string())
        }
    }
}

/// The handle to the confirmer: cheap to clone, held by the service state.
#[derive(Clone)]
pub struct Confirmer(Arc<Shared>);

struct Shared {
    handles: Handles,
    schedule: Mutex<Schedule>,
    /// Wakes the loop: a read's check, an upload due sooner than its alarm, a freed slot.
    wake: Notify,
}

impl Confirmer {
    /// A confirmer over `handles`; it checks nothing until [`Confirmer::spawn`]ed.
    pub fn new(handles: Handles) -> Self {
        Self(Arc::new(Shared {
            handles,
            schedule: Mutex::new(Schedule::default()),
            wake: Notify::new(),
        }))
    }

    /// Whether uploads bypass assetd, so there is anything to confirm.
    pub fn enabled(&self) -> bool {
        self.0.handles.settings.uploads_bypass_assetd()
    }

    fn schedule(&self) -> MutexGuard<'_, Schedule> {
        // The schedule is consistent between statements; a panic elsewhere leaves it usable.
        self.0
            .schedule
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the loop, which runs until `background` is stopped.
    pub fn spawn(&self, background: &Background) {
        if !self.enabled() {
            return;
        }
        let confirmer = self.clone();
        background.spawn(|stop| confirmer.run(stop));
    }

    /// Upload Asset recorded `asset`: it is checked on the backoff from now on.
    pub fn created(&self, asset: &Asset) {
        if !self.enabled() {
            return;
        }
        let due = Instant::now() + schedule::FIRST_CHECK;
        if self.schedule().track(asset, 0, due) {
            self.0.wake.notify_one();
        }
    }

    /// A list or folder read of `site`: brings its tracked uploads' checks forward. Never
    /// waits, reads the database or asks the store.
    pub fn hurry_site(&self, site: ObjectId) {
        if self.enabled() && self.schedule().hurry(site) {
            self.0.wake.notify_one();
        }
    }

    /// `asset` as a single-asset read should see it: if it is pending, after a check begun now,
    /// waited for at most [`READ_WAIT`].
    pub async fn check(&self, asset: Asset) -> Result<Asset, ConfirmError> {
        if !self.enabled() || asset.state != AssetState::Pending {
            return Ok(asset);
        }
        let (answer, answered) = oneshot::channel();
        self.schedule().ask(&asset, answer);
        self.0.wake.notify_one();
        match tokio::time::timeout(READ_WAIT, answered).await {
            Ok(Ok(verdict)) => Ok(verdict?.apply(asset)),
            Ok(Err(_)) => Err(ConfirmError::Stopped),
            Err(_) => Err(ConfirmError::NoAnswer(READ_WAIT)),
        }
    }

    /// The asset `id` was deleted: it is no longer checked.
    pub fn forget(&self, id: ObjectId) {
        if self.enabled() {
            self.schedule().forget(id);
        }
    }

    /// How many uploads are tracked.
    pub fn tracked(&self) -> usize {
        self.schedule().len()
    }

    /// Looks for `asset`'s object and records what it finds: uploaded if it verifies, failed
    /// (and the object deleted) if it does not, unchanged if it is not there.
    pub async fn confirm_one(&self, asset: &Asset) -> Result<Verdict, ConfirmError> {
        self.look(asset, None).await
    }

    /// [`Confirmer::confirm_one`], giving up an unanswered HEAD when `stop` is cancelled.
    async fn look(
        &self,
        asset: &Asset,
        stop: Option<&CancellationToken>,
    ) -> Result<Verdict, ConfirmError> {
        if !self.enabled() || asset.state != AssetState::Pending {
            return Ok(Verdict::Unchanged);
        }
        let Handles {
            meta,
            blobs,
            settings,
            metrics,
            variant_jobs,
            delivery_cache,
        } = &self.0.handles;
        let head = tokio::time::timeout(HEAD_BOUND, blobs.head(&asset.storage_key));
        let headed = match stop {
            Some(stop) => tokio::select! {
                () = stop.cancelled() => return Err(ConfirmError::Stopped),
                headed = head => headed,
            },
            None => head.await,
        };
        let found = match headed {
            Ok(found) => found?,
            Err(_) => {
                return Err(ConfirmError::Unavailable(format!(
                    "the blob store did not answer a HEAD within {HEAD_BOUND:?}"
                )));
            }
        };
        let Some(found) = found else {
            return Ok(Verdict::Unchanged);
        };
        let max = file_types::from_file_name(&asset.original_file_name)
            .map_or(0, |t| settings.max_bytes(t.class));
        let now = crate::timestamp::now();
        let size_ok = (MIN_BYTES..=max).contains(&found.size);
        let hash_ok = found
            .etag
            .as_deref()
            .is_some_and(|etag| etag.eq_ignore_ascii_case(&asset.file_hash));
        // `max` fits an i64, so a size inside it does.
        if size_ok
            && hash_ok
            && let Ok(size) = i64::try_from(found.size)
        {
            let settled = settle::verified(
                meta.as_ref(),
                blobs.as_ref(),
                delivery_cache,
                asset,
                size,
                now,
            )
            .await?;
            if settled == Settled::Gone {
                // Deleted, or replaced again, meanwhile: its key is queued; removed now.
                blobs.delete(&asset.storage_key).await?;
                return Ok(Verdict::Gone);
            }
            variants::worker::uploaded(variant_jobs, &asset.content_type);
            tracing::info!(asset = %asset.id, size, "upload confirmed");
            metrics.upload("confirmed", found.size);
            return Ok(Verdict::Uploaded { size, at: now });
        }
        tracing::warn!(asset = %asset.id, size = found.size, size_ok, hash_ok, "uploaded object does not verify; deleting it");
        blobs.delete(&asset.storage_key).await?;
        if !settle::failed(meta.as_ref(), asset, now).await? {
            return Ok(Verdict::Gone);
        }
        metrics.upload("failed_verification", 0);
        Ok(Verdict::Failed { at: now })
    }

    /// The loop: begins due checks, sleeps until the next is due or it is woken, scans.
    async fn run(self, stop: CancellationToken) {
        let mut tasks = JoinSet::new();
        let mut scan = tokio::time::interval(SCAN_EVERY);
        scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let (starts, alarm) = {
                let mut schedule = self.schedule();
                let starts = schedule.start(Instant::now());
                (starts, schedule.set_alarm())
            };
            for start in starts {
                let guard = CheckGuard {
                    confirmer: self.clone(),
                    id: start.asset.id,
                    urgent: start.urgent,
                    done: false,
                };
                tasks.spawn(guard.run(start.asset, stop.clone()));
            }
            // Finished tasks recorded their outcome themselves; only their handles are left.
            while tasks.try_join_next().is_some() {}
            let sleep = async {
                match alarm {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.0.wake.notified() => {}
                () = sleep => {}
                _ = scan.tick() => {
                    if !std::mem::replace(&mut self.schedule().scanning, true) {
                        tasks.spawn(self.clone().scan());
                    }
                }
            }
        }
        // Checks in flight finish their writes (an unanswered HEAD is dropped); a scan under
        // way finishes its query.
        while tasks.join_next().await.is_some() {}
        self.schedule().close();
    }

    /// Adopts the open uploads the database knows of and this node does not track.
    async fn scan(self) {
        let wall = Utc::now();
        match self.open_uploads(wall).await {
            Ok(open) => {
                let adopted = self.schedule().adopt(&open, Instant::now(), wall);
                if adopted > 0 {
                    tracing::debug!(adopted, "open uploads adopted");
                    self.0.wake.notify_one();
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read open uploads; will retry"),
        }
        self.schedule().scanning = false;
    }

    /// The uploads whose windows are open at `wall`: assets' first files, then replacements
    /// (as the asset-shaped records `settle` takes).
    async fn open_uploads(&self, wall: DateTime<Utc>) -> Result<Vec<Asset>, MetaError> {
        let meta = &self.0.handles.meta;
        let mut open = meta.open_uploads(None, wall, SCAN_BATCH).await?;
        let replacements = meta.open_replacements(wall, SCAN_BATCH).await?;
        open.extend(replacements.iter().map(|r| r.upload()));
        Ok(open)
    }

    fn finish(&self, id: ObjectId, urgent: bool, answer: &schedule::Answer) {
        self.schedule()
            .finish(id, urgent, answer, Instant::now(), Utc::now());
        // A slot is free.
        self.0.wake.notify_one();
    }
}

/// One check in flight. Its outcome is recorded even if its task is cut short (a panic), so
/// its slot and its readers are released.
struct CheckGuard {
    confirmer: Confirmer,
    id: ObjectId,
    urgent: bool,
    done: bool,
}

impl CheckGuard {
    async fn run(mut self, asset: Asset, stop: CancellationToken) {
        let answer = self.confirmer.look(&asset, Some(&stop)).await;
        if let Err(e) = &answer
            && *e != ConfirmError::Stopped
        {
            tracing::warn!(asset = %asset.id, error = %e, "cannot check upload");
        }
        self.done = true;
        self.confirmer.finish(self.id, self.urgent, &answer);
    }
}

impl Drop for CheckGuard {
    fn drop(&mut self) {
        if !self.done {
            let answer = Err(ConfirmError::Failed("the check ended early".into()));
            self.confirmer.finish(self.id, self.urgent, &answer);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::meta::Site;
    use crate::meta::sqlite::SqliteMeta;
    use crate::storage::disk::DiskStore;

    /// A confirmer over the embedded components (SQLite, the disk store) standing in for S3
    /// storage, as no server would run them: the disk store keeps no ETags, so an object there
    /// never verifies, which is what these tests look for.
    async fn confirmer(dir: &std::path::Path) -> (Confirmer, Arc<dyn MetaStore>, Arc<DiskStore>) {
        let meta: Arc<dyn MetaStore> = Arc::new(SqliteMeta::open(&dir.join("db")).await.unwrap());
        let disk = Arc::new(DiskStore::open(dir.join("objects")).unwrap());
        let args = crate::config::ServeArgs::parse_args(Vec::new());
        let mut settings = Settings::new(&args, "127.0.0.1:1".parse().unwrap()).unwrap();
        settings.storage = crate::config::StorageConfig::S3(crate::storage::s3::S3Config {
            endpoint: "http://127.0.0.1:1".into(),
            region: "us-east-1".into(),
            bucket: "assetd".into(),
            access_key_id: "unused".into(),
            secret_access_key: s3post::signing::SecretKey::new("unused"),
            virtual_hosted: false,
        });
        let confirmer = Confirmer::new(Handles {
            meta: meta.clone(),
            blobs: disk.clone(),
            settings: Arc::new(settings),
            metrics: Arc::new(Metrics::new()),
            variant_jobs: Arc::new(Notify::new()),
            delivery_cache: Arc::new(DeliveryCache::new(Duration::ZERO, 0)),
        });
        (confirmer, meta, disk)
    }

    async fn pending(meta: &dyn MetaStore, name: &str) -> Asset {
        let now = crate::timestamp::now();
        let site = ObjectId::generate(now);
        meta.create_site(&Site {
            id: site,
            name: "s".into(),
            created_on: now,
        })
        .await
        .unwrap();
        let id = ObjectId::generate(now);
        let asset = Asset {
            id,
            site_id: site,
            folder_id: None,
            original_file_name: name.into(),
            display_name: format!("{id}_{name}"),
            alt_text: None,
            content_type: "text/plain".into(),
            file_hash: "0".repeat(32),
            storage_key: crate::keys::storage_key(site, id, name),
            size: None,
            state: AssetState::Pending,
            upload_expires_at: now + chrono::Duration::hours(1),
            created_on: now,
            last_updated: now,
        };
        meta.insert_asset(&asset).await.unwrap();
        asset
    }

    #[tokio::test]
    async fn a_created_upload_is_settled_in_the_background_and_the_loop_stops() {
        let dir = tempfile::tempdir().unwrap();
        let (confirmer, meta, disk) = confirmer(dir.path()).await;
        let background = Background::new();
        confirmer.spawn(&background);
        let asset = pending(meta.as_ref(), "a.txt").await;
        disk.put(
            &asset.storage_key,
            "not the promised bytes".into(),
            "text/plain",
        )
        .await
        .unwrap();
        confirmer.created(&asset);
        // Nobody reads it: the loop checks it on its own (polled here, at most 5 s).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while meta.get_asset(asset.id).await.unwrap().unwrap().state == AssetState::Pending {
            assert!(std::time::Instant::now() < deadline, "still pending");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            meta.get_asset(asset.id).await.unwrap().unwrap().state,
            AssetState::Failed
        );
        assert_eq!(disk.head(&asset.storage_key).await.unwrap(), None);
        assert_eq!(confirmer.tracked(), 0);

        // A read of an upload whose bytes have not arrived: answered at once, still pending.
        let waiting = pending(meta.as_ref(), "b.txt").await;
        let read = confirmer.check(waiting.clone()).await.unwrap();
        assert_eq!(read, waiting);
        assert_eq!(confirmer.tracked(), 1, "tracked until its window closes");

        assert!(background.stop(Duration::from_secs(5)).await);
        assert_eq!(confirmer.tracked(), 0);
        assert_eq!(
            confirmer.check(waiting).await,
            Err(ConfirmError::Stopped),
            "a stopped confirmer answers reads at once"
        );
    }

    #[tokio::test]
    async fn with_the_embedded_store_it_does_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (confirmer, meta, _disk) = confirmer(dir.path()).await;
        let embedded = Confirmer::new(Handles {
            settings: Arc::new(Settings {
                storage: crate::config::StorageConfig::Embedded,
                ..(*confirmer.0.handles.settings).clone()
            }),
            meta: meta.clone(),
            blobs: confirmer.0.handles.blobs.clone(),
            metrics: Arc::new(Metrics::new()),
            variant_jobs: Arc::new(Notify::new()),
            delivery_cache: Arc::new(DeliveryCache::new(Duration::ZERO, 0)),
        });
        let asset = pending(meta.as_ref(), "c.txt").await;
        embedded.created(&asset);
        embedded.hurry_site(asset.site_id);
        assert_eq!(embedded.tracked(), 0);
        assert_eq!(embedded.check(asset.clone()).await.unwrap(), asset);
        assert_eq!(embedded.confirm_one(&asset).await, Ok(Verdict::Unchanged));
    }
}
