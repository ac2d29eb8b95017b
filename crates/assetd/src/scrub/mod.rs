//! `assetd verify`: scrubbing. Every stored original and variant is re-read and checked against
//! the size and MD5 its row promises ([`check`]), the store is listed for objects no row knows,
//! and assets left pending long after their upload window are reported. With `repair`, damaged
//! assets are marked failed and orphans removed.
//!
//! It runs beside the service, reading the database a page at a time by primary key (never
//! every row at once) and the store's listing as a stream, so memory stays bounded.
//!
//! **What is an orphan.** An object is an orphan only if no row knows its key — no asset (in any
//! state: an upload in flight or pending has its row before its object exists), no variant (its
//! row is written before its object), no queued deletion (the sweep deletes those) — and it
//! still exists after that was established: an object listed, then deleted by the sweep before
//! its key was looked up, is gone, not orphaned. Keys of a shape assetd never builds are
//! reported as foreign and never removed (a bucket may be shared).
//!
//! **What repair does.** A missing or damaged original: the asset is marked failed
//! ([`MetaStore::mark_corrupt`]), so lists and delivery treat it as an upload that did not
//! verify, and the service's sweep removes it and its bytes as it removes any failed upload.
//! (A service running beside verify keeps serving what its delivery cache holds for the
//! cache's TTL, 10 s by default.) A missing or damaged variant: recorded as failed, its bytes
//! removed. An orphan: removed, after a last look that no row has come to know it. A pending
//! asset stuck past its window is left to the sweep, which with S3 storage takes a last look at
//! its object first.

pub mod check;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::ids::ObjectId;
use crate::keys::parse_storage_key;
use crate::meta::{AssetState, MetaError, MetaStore, VariantOutcome, VariantState};
use crate::storage::{BlobStore, StoreError};
use check::Outcome;

/// How long after its window closed a pending asset counts as stuck: the sweep's grace plus
/// ten of its default intervals.
pub const STUCK_AFTER: Duration = Duration::from_secs(crate::sweep::PENDING_GRACE.as_secs() + 600);

/// Rows read per query.
const PAGE: i64 = 256;

/// Objects read at once: enough to keep an S3 service's latency hidden, few enough not to take
/// the disk from the service beside.
const READS_IN_FLIGHT: usize = 4;

/// Listed keys looked up at once.
const LOOKUPS_IN_FLIGHT: usize = 8;

/// Listed keys taken from the listing and looked up before the next are taken.
const KEY_BATCH: usize = 256;

/// What to do.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Fix what can be fixed.
    pub repair: bool,
    /// Read every object, even where the ETag is its MD5.
    pub full: bool,
    /// The time the check runs at (for stuck uploads and the repaired rows' timestamps).
    pub now: DateTime<Utc>,
}

/// What is wrong with one object or row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// A row's object does not exist.
    Missing {
        /// The object key.
        key: String,
        /// The asset.
        asset: ObjectId,
        /// Whether it is a variant's object.
        variant: bool,
        /// Whether repair fixed the rows.
        repaired: bool,
    },
    /// A row's object has other bytes than promised.
    Damaged {
        /// The object key.
        key: String,
        /// The asset.
        asset: ObjectId,
        /// Whether it is a variant's object.
        variant: bool,
        /// The promised size.
        expected_size: i64,
        /// The promised MD5.
        expected_md5: String,
        /// The size found.
        size: u64,
        /// The MD5 found, if read.
        #[serde(skip_serializing_if = "Option::is_none")]
        md5: Option<String>,
        /// Whether repair fixed the rows.
        repaired: bool,
    },
    /// An object no row knows.
    Orphan {
        /// The object key.
        key: String,
        /// Whether repair removed it.
        repaired: bool,
    },
    /// An object whose key assetd never builds: reported, never removed, not counted as damage.
    Foreign {
        /// The object key.
        key: String,
    },
    /// A pending asset, or a replacement of an asset's file, whose upload window closed long
    /// ago: the sweep is not removing it.
    StuckPending {
        /// The asset.
        asset: ObjectId,
        /// Its object key.
        key: String,
        /// When its window closed.
        expired_at: String,
    },
}

impl Finding {
    /// Whether it counts as something wrong (everything but a foreign object).
    pub fn is_problem(&self) -> bool {
        !matches!(self, Self::Foreign { .. })
    }
}

/// Totals of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Uploaded assets checked.
    pub assets: u64,
    /// Made variants checked.
    pub variants: u64,
    /// Bytes read to check them.
    pub bytes_read: u64,
    /// Objects listed.
    pub objects_listed: u64,
    /// Missing objects.
    pub missing: u64,
    /// Damaged objects.
    pub damaged: u64,
    /// Orphans.
    pub orphans: u64,
    /// Foreign objects.
    pub foreign: u64,
    /// Stuck pending assets.
    pub stuck_pending: u64,
    /// Findings repair fixed.
    pub repaired: u64,
}

impl Summary {
    /// Findings that count as problems.
    pub fn problems(&self) -> u64 {
        self.missing + self.damaged + self.orphans + self.stuck_pending
    }

    fn count(&mut self, finding: &Finding) {
        let (counter, repaired) = match finding {
            Finding::Missing { repaired, .. } => (&mut self.missing, *repaired),
            Finding::Damaged { repaired, .. } => (&mut self.damaged, *repaired),
            Finding::Orphan { repaired, .. } => (&mut self.orphans, *repaired),
            Finding::Foreign { .. } => (&mut self.foreign, false),
            Finding::StuckPending { .. } => (&mut self.stuck_pending, false),
        };
        *counter += 1;
        self.repaired += u64::from(repaired);
    }
}

/// What a run tells its caller as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// A phase began, with how many items it expects when known.
    Phase(&'static str, Option<u64>),
    /// One item done, with the bytes read for it.
    Advance(u64),
    /// Something is wrong.
    Found(&'a Finding),
}

/// Why a run stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum ScrubError {
    /// The database failed.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// The store failed (not one object: the store).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The handles a run uses.
pub struct Scrub {
    /// The metadata.
    pub meta: Arc<dyn MetaStore>,
    /// The objects.
    pub blobs: Arc<dyn BlobStore>,
    /// What to do.
    pub options: Options,
}

/// One row's object to check.
struct Item {
    key: String,
    asset: ObjectId,
    variant: bool,
    size: i64,
    md5: String,
}

impl Scrub {
    /// Runs every check, reporting as it goes.
    pub async fn run(
        &self,
        events: &mut (dyn FnMut(Event<'_>) + Send),
    ) -> Result<Summary, ScrubError> {
        let mut summary = Summary::default();
        let expected = self.meta.asset_counts().await?.uploaded;
        events(Event::Phase("originals", u64::try_from(expected).ok()));
        self.originals(&mut summary, events).await?;
        events(Event::Phase("variants", None));
        self.variants(&mut summary, events).await?;
        events(Event::Phase("orphans", None));
        self.orphans(&mut summary, events).await?;
        Ok(summary)
    }

    fn report(
        &self,
        summary: &mut Summary,
        events: &mut (dyn FnMut(Event<'_>) + Send),
        f: Finding,
    ) {
        summary.count(&f);
        events(Event::Found(&f));
    }

    async fn originals(
        &self,
        summary: &mut Summary,
        events: &mut (dyn FnMut(Event<'_>) + Send),
    ) -> Result<(), ScrubError> {
        let stuck_before =
            self.options.now - chrono::Duration::from_std(STUCK_AFTER).unwrap_or_default();
        let mut after = None;
        loop {
            let page = self.meta.assets_after(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            let mut items = Vec::new();
            for asset in page {
                match asset.state {
                    AssetState::Uploaded => items.push(Item {
                        size: asset.size.unwrap_or(-1),
                        key: asset.storage_key,
                        asset: asset.id,
                        variant: false,
                        md5: asset.file_hash,
                    }),
                    AssetState::Pending if asset.upload_expires_at < stuck_before => {
                        let finding = Finding::StuckPending {
                            asset: asset.id,
                            key: asset.storage_key,
                            expired_at: crate::timestamp::format(asset.upload_expires_at),
                        };
                        self.report(summary, events, finding);
                    }
                    _ => {}
                }
            }
            summary.assets += items.len() as u64;
            self.check_items(items, summary, events).await?;
        }
        // Replacements of a file stuck the same way (few: the sweep drops them; one page).
        for replacement in self.meta.expired_replacements(stuck_before, PAGE).await? {
            let finding = Finding::StuckPending {
                asset: replacement.asset_id,
                key: replacement.storage_key,
                expired_at: crate::timestamp::format(replacement.upload_expires_at),
            };
            self.report(summary, events, finding);
        }
        Ok(())
    }

    async fn variants(
        &self,
        summary: &mut Summary,
        events: &mut (dyn FnMut(Event<'_>) + Send),
    ) -> Result<(), ScrubError> {
        let mut after: Option<String> = None;
        loop {
            let page = self.meta.variants_after(after.as_deref(), PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.storage_key.clone());
            let items: Vec<Item> = page
                .into_iter()
                .filter_map(|v| match (v.state, v.size, v.file_hash) {
                    (VariantState::Done, Some(size), Some(md5)) => Some(Item {
                        key: v.storage_key,
                        asset: v.asset_id,
                        variant: true,
                        size,
                        md5,
                    }),
                    _ => None,
                })
                .collect();
            summary.variants += items.len() as u64;
            self.check_items(items, summary, events).await?;
        }
        Ok(())
    }

    /// Checks a page of objects, a few at a time, then reports and repairs what is wrong.
    async fn check_items(
        &self,
        items: Vec<Item>,
        summary: &mut Summary,
        events: &mut (dyn FnMut(Event<'_>) + Send),
    ) -> Result<(), ScrubError> {
        let full = self.options.full;
        let blobs = self.blobs.as_ref();
        let mut outcomes = futures_util::stream::iter(items)
            .map(|item| async move {
                let outcome = check::check(blobs, &item.key, item.size, &item.md5, full).await;
                (item, outcome)
            })
            .buffer_unordered(READS_IN_FLIGHT);
        while let Some((item, outcome)) = outcomes.next().await {
            let outcome = match outcome {
                Ok(outcome) => outcome,
                // The store itself is failing: stop rather than report every object.
                Err(e) if e.is_unavailable() => return Err(e.into()),
                // This object cannot be read (an I/O error on a bad block): damaged.
                Err(e) => {
                    tracing::warn!(key = %item.key, error = %e, "cannot read an object");
                    Outcome::Damaged {
                        size: 0,
                        md5: None,
                        read: 0,
                    }
                }
            };
            let read = match &outcome {
                Outcome::Good { read } | Outcome::Damaged { read, .. } => *read,
                Outcome::Missing => 0,
            };
            summary.bytes_read += read;
            events(Event::Advance(read));
            if matches!(outcome, Outcome::Good { .. }) || !self.still_promised(&item).await? {
                continue;
            }
            let repaired = self.options.repair && self.repair_row(&item, &outcome).await?;
            let finding = match outcome {
                Outcome::Damaged { size, md5, .. } => Finding::Damaged {
                    key: item.key,
                    asset: item.asset,
                    variant: item.variant,
                    expected_size: item.size,
                    expected_md5: item.md5,
                    size,
                    md5,
                    repaired,
                },
                _ => Finding::Missing {
                    key: item.key,
                    asset: item.asset,
                    variant: item.variant,
                    repaired,
                },
            };
            self.report(summary, events, finding);
        }
        Ok(())
    }

    /// Whether the row still promises the object: one deleted (or replaced) while it was being
    /// read is no finding.
    async fn still_promised(&self, item: &Item) -> Result<bool, MetaError> {
        Ok(if item.variant {
            self.meta
                .variant(&item.key)
                .await?
                .is_some_and(|v| v.state == VariantState::Done)
        } else {
            self.meta
                .get_asset(item.asset)
                .await?
                .is_some_and(|a| a.state == AssetState::Uploaded && a.storage_key == item.key)
        })
    }

    async fn repair_row(&self, item: &Item, outcome: &Outcome) -> Result<bool, ScrubError> {
        if !item.variant {
            return Ok(self.meta.mark_corrupt(item.asset, self.options.now).await?);
        }
        let recorded = self
            .meta
            .finish_variant(
                &item.key,
                VariantOutcome::Failed("its stored bytes were missing or damaged (assetd verify)"),
            )
            .await?;
        if recorded && matches!(outcome, Outcome::Damaged { .. }) {
            self.blobs.delete(&item.key).await?;
        }
        Ok(recorded)
    }

    async fn orphans(
        &self,
        summary: &mut Summary,
        events: &mut (dyn FnMut(Event<'_>) + Send),
    ) -> Result<(), ScrubError> {
        let meta = self.meta.as_ref();
        let mut keys = self.blobs.keys().fuse();
        loop {
            // A batch is looked up to the end before anything else touches the database: a
            // lookup left suspended in a half-polled stream would hold its pooled connection
            // while the repair below waited for one (with SQLite's four, verify --repair timed
            // out that way under load).
            let mut batch = Vec::with_capacity(KEY_BATCH);
            while batch.len() < KEY_BATCH {
                match keys.next().await {
                    Some(key) => batch.push(key?),
                    None => break,
                }
            }
            if batch.is_empty() {
                return Ok(());
            }
            let looked_up: Vec<(String, bool)> = futures_util::stream::iter(batch)
                .map(|key| async move {
                    let known = meta.key_known(&key).await?;
                    Ok::<_, MetaError>((key, known))
                })
                .buffer_unordered(LOOKUPS_IN_FLIGHT)
                .try_collect()
                .await?;
            for (key, known) in looked_up {
                summary.objects_listed += 1;
                events(Event::Advance(0));
                if !known {
                    self.unknown_key(key, summary, events).await?;
                }
            }
        }
    }

    /// A listed key no row knows: foreign, gone meanwhile, or an orphan.
    async fn unknown_key(
        &self,
        key: String,
        summary: &mut Summary,
        events: &mut (dyn FnMut(Event<'_>) + Send),
    ) -> Result<(), ScrubError> {
        if parse_storage_key(&key).is_none() {
            self.report(summary, events, Finding::Foreign { key });
            return Ok(());
        }
        // Listed, then unknown: an orphan only if it is still there (the sweep deletes an
        // object before it forgets its queued key).
        if self.blobs.head(&key).await?.is_none() {
            return Ok(());
        }
        let repaired = self.options.repair && self.remove_orphan(&key).await?;
        self.report(summary, events, Finding::Orphan { key, repaired });
        Ok(())
    }

    async fn remove_orphan(&self, key: &str) -> Result<bool, ScrubError> {
        // A last look, right before the delete.
        if self.meta.key_known(key).await? {
            return Ok(false);
        }
        self.blobs.delete(key).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::meta::sqlite::SqliteMeta;
    use crate::meta::{Asset, Replacement, Site};
    use crate::storage::disk::DiskStore;

    /// A replacement whose window closed long ago is reported like a stuck upload, with its
    /// asset and its key; a fresh one is not.
    #[tokio::test]
    async fn a_replacement_stuck_past_its_window_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let meta = SqliteMeta::open(&dir.path().join("db")).await.unwrap();
        let blobs = DiskStore::open(dir.path().join("objects")).unwrap();
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
        let key = crate::keys::storage_key(site, id, "a.txt");
        meta.insert_asset(&Asset {
            id,
            site_id: site,
            folder_id: None,
            original_file_name: "a.txt".into(),
            display_name: "a.txt".into(),
            alt_text: None,
            content_type: "text/plain".into(),
            file_hash: "5d41402abc4b2a76b9719d911017c592".into(),
            storage_key: key.clone(),
            size: None,
            state: crate::meta::AssetState::Pending,
            upload_expires_at: now,
            created_on: now,
            last_updated: now,
        })
        .await
        .unwrap();
        blobs
            .put(&key, b"hello".to_vec().into(), "text/plain")
            .await
            .unwrap();
        assert!(meta.mark_uploaded(id, 5, now).await.unwrap());
        let (old, fresh) = (ObjectId::generate(now), ObjectId::generate(now));
        let replacement = |rid: ObjectId, expires: DateTime<Utc>| Replacement {
            id: rid,
            asset_id: id,
            site_id: site,
            original_file_name: "b.txt".into(),
            content_type: "text/plain".into(),
            file_hash: "0".repeat(32),
            storage_key: crate::keys::replacement_key(site, id, rid, "b.txt"),
            upload_expires_at: expires,
            created_on: now,
        };
        let stuck = replacement(old, now - chrono::Duration::days(2));
        meta.start_replacement(&stuck, now).await.unwrap().unwrap();
        let scrub = |meta: Arc<dyn MetaStore>| Scrub {
            meta,
            blobs: Arc::new(DiskStore::open(dir.path().join("objects")).unwrap()),
            options: Options {
                repair: false,
                full: true,
                now,
            },
        };
        let meta: Arc<dyn MetaStore> = Arc::new(meta);
        let mut found = Vec::new();
        let summary = scrub(meta.clone())
            .run(&mut |e| {
                if let Event::Found(f) = e {
                    found.push(f.clone());
                }
            })
            .await
            .unwrap();
        assert_eq!(summary.stuck_pending, 1, "{found:?}");
        assert_eq!(
            found,
            vec![Finding::StuckPending {
                asset: id,
                key: stuck.storage_key.clone(),
                expired_at: crate::timestamp::format(stuck.upload_expires_at),
            }]
        );

        // A newer one takes its place, its window open: nothing stuck.
        meta.start_replacement(&replacement(fresh, now + chrono::Duration::hours(1)), now)
            .await
            .unwrap()
            .unwrap();
        let summary = scrub(meta.clone()).run(&mut |_| {}).await.unwrap();
        assert_eq!(summary.stuck_pending, 0);
    }
}
