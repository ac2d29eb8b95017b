//! `assetd backup` and `assetd restore` for the embedded configuration (SQLite and the disk
//! store in one data directory): a consistent copy taken while the service runs and takes
//! uploads, and a restore that refuses a used target and a backup that does not match its
//! manifest ([`manifest`]).
//!
//! **What a backup holds.** Every asset and variant committed before the database snapshot
//! began, with the object of every uploaded asset and made variant; the embedded store's
//! credentials (the upload policies of the restored service are signed with them). Whatever
//! was acknowledged before `assetd backup` started is in it: an upload is acknowledged only after
//! its object was renamed into place and its row marked uploaded.
//!
//! **Why it is consistent.** Objects are written once (temp file, rename) and never changed, and
//! the service deletes an object only after its row is gone (the delete queues the key, the
//! sweep deletes it later). So:
//! 1. every object in the store is hard-linked (or copied) into the backup first: a link keeps
//!    the object's bytes whatever the sweep does afterwards;
//! 2. the database is copied with `VACUUM INTO`, one read transaction, while writes go on;
//! 3. every object a row of the *copy* names that step 1 did not see (its upload finished during
//!    step 1) is linked now. If an uploaded asset's object is already gone, the asset was
//!    uploaded after the backup began and deleted after step 2 (the sweep removed its object
//!    meanwhile): it is deleted from the copy too, as if that delete had come just before the
//!    snapshot (the same transaction: rows, variants, queued keys). Whatever was acknowledged
//!    before the backup began had its object in the store when step 1 ran, so it is never
//!    dropped this way. If the asset's file was replaced after step 2 instead (the old object
//!    deleted), the copy takes the live file, as if that replace had come just before the
//!    snapshot. If the live database still names the missing object, the live store is
//!    damaged and the backup fails, naming it;
//! 4. objects no row of the copy names (deleted meanwhile, uploads not yet marked, orphans) are
//!    dropped, and every file kept is hashed into the manifest, compared on the way with its
//!    row's size and MD5 (a mismatch is reported: the live object is damaged; `assetd verify`).
//!
//! A hard link shares its bytes with the live file: it protects against deletion, not against
//! the disk. A backup meant to survive the disk is taken onto another filesystem (then every
//! object is copied) or moved there; `--copy` copies even on the same filesystem.

pub mod files;
pub mod manifest;
pub mod restore;

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use chrono::Utc;
use futures_util::StreamExt;

use crate::ids::ObjectId;
use crate::keys::parse_storage_key;
use crate::meta::sqlite::SqliteMeta;
use crate::meta::{Asset, AssetState, MetaError, MetaStore, Replacement, VariantState};
use crate::storage::disk::DiskStore;
use crate::storage::{BlobStore, StoreError};
use files::{Digest, Placed};

/// The names of the things in a data directory (the app decides them; a backup has the same
/// layout, so a restored backup is a data directory).
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// The SQLite database file.
    pub database: &'static str,
    /// The embedded store's directory.
    pub objects: &'static str,
    /// The embedded store's credentials file.
    pub credentials: &'static str,
}

/// What to back up, and where to.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The live data directory.
    pub data_dir: PathBuf,
    /// The backup directory: absent or empty.
    pub out: PathBuf,
    /// Copy every object even where a hard link would do.
    pub copy: bool,
    /// The data directory's layout.
    pub layout: Layout,
}

/// What a backup did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Files in the manifest (database, credentials, objects).
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Objects hard-linked.
    pub linked: u64,
    /// Objects copied.
    pub copied: u64,
    /// Assets uploaded and deleted while the backup ran, whose objects were gone before they
    /// could be linked: left out of the copy, as if deleted just before its snapshot.
    pub dropped: u64,
    /// Assets whose file was replaced while the backup ran, after the snapshot, and whose old
    /// object was deleted before it could be linked: the copy has the new file, as if the
    /// replace had come just before the snapshot.
    pub replaced: u64,
    /// Objects whose bytes did not match their row (kept as they are; the live store needs
    /// `assetd verify`), at most [`MISMATCHES_KEPT`] of them named.
    pub mismatched: Vec<String>,
}

/// How many mismatched keys a report names (the count is in the manifest's log line anyway).
pub const MISMATCHES_KEPT: usize = 100;

/// What a backup tells its caller as it goes, for a progress display.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// A step began (with the number of items it will go through, when known).
    Step(&'static str, Option<u64>),
    /// Items done in the current step (and their bytes, where it reads them).
    Advance(u64, u64),
}

/// Why a backup failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target already has files.
    #[error("{0} is not empty; a backup goes into an empty or new directory")]
    NotEmpty(PathBuf),
    /// The data directory has no database.
    #[error("{0} has no database to back up")]
    NoDatabase(PathBuf),
    /// An object the live database still names is missing from the store.
    #[error(
        "the object {0} is missing from the store though the database names it (run assetd \
         verify)"
    )]
    Vanished(String),
    /// The database failed.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// The object store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Rows read from the snapshot per query.
const PAGE: i64 = 500;

/// Takes a backup (see the module documentation for the steps and why they are consistent).
pub async fn take(
    plan: &Plan,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Report, BackupError> {
    let Plan {
        data_dir,
        out,
        copy,
        layout,
    } = plan;
    if !files::absent_or_empty(out).map_err(io_at(out))? {
        return Err(BackupError::NotEmpty(out.clone()));
    }
    let live_db = data_dir.join(layout.database);
    if !live_db.is_file() {
        return Err(BackupError::NoDatabase(data_dir.clone()));
    }
    let objects = out.join(layout.objects);
    std::fs::create_dir_all(&objects).map_err(io_at(&objects))?;
    let live = SqliteMeta::open_beside(&live_db).await?;
    let store = DiskStore::attach(data_dir.join(layout.objects)).map_err(io_at(data_dir))?;
    let mut report = Report::default();

    // 1. Link every object there is.
    progress(Progress::Step("linking objects", None));
    let mut keys = store.keys();
    while let Some(key) = keys.next().await {
        let key = key?;
        if let Some(placed) = place(store.root(), &objects, &key, *copy).await? {
            count(&mut report, placed);
        }
        progress(Progress::Advance(1, 0));
    }
    drop(keys);

    // 2. The database as of now.
    progress(Progress::Step("copying the database", None));
    let snapshot_path = out.join(layout.database);
    live.snapshot_into(&snapshot_path).await?;
    let snapshot = SqliteMeta::open_beside(&snapshot_path).await?;

    // 3. Objects of the snapshot's rows that step 1 did not see.
    progress(Progress::Step("linking objects uploaded meanwhile", None));
    link_named(
        &live,
        &snapshot,
        &store,
        &objects,
        *copy,
        &mut report,
        progress,
    )
    .await?;
    live.close().await;

    // 4. The manifest: every object a row names, then the database and the credentials.
    progress(Progress::Step("hashing", None));
    let credentials = data_dir.join(layout.credentials);
    let credentials_copy = out.join(layout.credentials);
    // `std::fs::copy` keeps the file's mode (0600).
    std::fs::copy(&credentials, &credentials_copy).map_err(io_at(&credentials))?;
    let manifest_tmp = out.join(format!("{}.partial", manifest::FILE_NAME));
    let file = std::fs::File::create(&manifest_tmp).map_err(io_at(&manifest_tmp))?;
    let created_at = crate::timestamp::format(Utc::now());
    let mut writer =
        manifest::Writer::new(BufWriter::new(file), &created_at).map_err(io_at(&manifest_tmp))?;
    // The walk is blocking; the rows it needs are asked for on this task, through a channel.
    let (found_tx, mut found_rx) = tokio::sync::mpsc::channel::<(String, PathBuf)>(64);
    let walk_root = objects.clone();
    let walker = tokio::task::spawn_blocking(move || {
        files::walk_files(&walk_root, &mut |key, path| {
            found_tx
                .blocking_send((key.to_owned(), path.to_owned()))
                .map_err(std::io::Error::other)
        })
    });
    while let Some((key, path)) = found_rx.recv().await {
        let expected = match named_by(&snapshot, &key).await? {
            Some(expected) => expected,
            None => {
                std::fs::remove_file(&path).map_err(io_at(&path))?;
                continue;
            }
        };
        let digest = blocking(path.clone(), |p| files::hash_file(&p))
            .await
            .map_err(io_at(&path))?;
        if let Some((size, md5)) = expected
            && (Some(digest.size) != u64::try_from(size).ok() || digest.md5 != md5)
            && report.mismatched.len() < MISMATCHES_KEPT
        {
            report.mismatched.push(key.clone());
        }
        progress(Progress::Advance(1, digest.size));
        writer
            .add(&entry(&format!("{}/{key}", layout.objects), digest))
            .map_err(io_at(&manifest_tmp))?;
    }
    walker
        .await
        .map_err(std::io::Error::other)
        .and_then(|walked| walked)
        .map_err(io_at(&objects))?;
    snapshot.close().await;
    // A clean close checkpoints the copy's WAL into its file, so what SQLite may leave beside it
    // holds no data (a WAL that still does is an error, not something to delete).
    for suffix in ["-wal", "-shm", "-journal"] {
        let side = out.join(format!("{}{suffix}", layout.database));
        match std::fs::metadata(&side) {
            Ok(meta) if suffix == "-wal" && meta.len() > 0 => {
                return Err(io_at(&side)(std::io::Error::other(
                    "the database copy's WAL was not checkpointed",
                )));
            }
            Ok(_) => std::fs::remove_file(&side).map_err(io_at(&side))?,
            Err(_) => {}
        }
    }
    for (name, path) in [
        (layout.database, &snapshot_path),
        (layout.credentials, &credentials_copy),
    ] {
        let digest = blocking(path.clone(), |p| files::hash_file(&p))
            .await
            .map_err(io_at(path))?;
        writer
            .add(&entry(name, digest))
            .map_err(io_at(&manifest_tmp))?;
    }
    // Every copy, link and directory of the backup durable before the manifest says so.
    blocking(out.to_owned(), |p| files::sync_filesystem(&p))
        .await
        .map_err(io_at(out))?;
    let (buffered, totals) = writer.finish().map_err(io_at(&manifest_tmp))?;
    buffered
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|file| file.sync_all())
        .map_err(io_at(&manifest_tmp))?;
    // The manifest appears last, whole: a directory without one is not a backup.
    let manifest_path = out.join(manifest::FILE_NAME);
    std::fs::rename(&manifest_tmp, &manifest_path).map_err(io_at(&manifest_path))?;
    files::sync_dir(out).map_err(io_at(out))?;
    report.files = totals.files;
    report.bytes = totals.bytes;
    Ok(report)
}

fn entry(path: &str, digest: Digest) -> manifest::Entry {
    manifest::Entry {
        path: path.to_owned(),
        size: digest.size,
        md5: digest.md5,
    }
}

fn count(report: &mut Report, placed: Placed) {
    match placed {
        Placed::Linked => report.linked += 1,
        Placed::Copied => report.copied += 1,
    }
}

async fn blocking<T: Send + 'static>(
    path: PathBuf,
    work: impl FnOnce(PathBuf) -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(move || work(path))
        .await
        .map_err(std::io::Error::other)?
}

/// Links (or copies) the object `key` from the live store into the backup's `objects`.
async fn place(
    live: &Path,
    objects: &Path,
    key: &str,
    copy: bool,
) -> Result<Option<Placed>, BackupError> {
    let from = live.join(key);
    let to = objects.join(key);
    blocking(to.clone(), move |to| {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        files::link_or_copy(&from, &to, copy)
    })
    .await
    .map_err(io_at(&to))
}

/// Step 3: links every object a row of `snapshot` names that step 1 did not, settling the
/// rows whose objects are gone by what the live database says happened to them.
async fn link_named(
    live: &SqliteMeta,
    snapshot: &SqliteMeta,
    store: &DiskStore,
    objects: &Path,
    copy: bool,
    report: &mut Report,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), BackupError> {
    let mut after = None;
    loop {
        let page = snapshot.assets_after(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for asset in &page {
            let needed = asset.state == AssetState::Uploaded;
            let key = &asset.storage_key;
            if fill(store, objects, key, needed, copy, report).await? {
                continue;
            }
            match live_file(live, asset.id, key).await? {
                LiveFile::Deleted => {
                    snapshot.delete_asset(asset.id, Utc::now()).await?;
                    report.dropped += 1;
                }
                LiveFile::Replaced(current) => {
                    take_replaced(snapshot, &current, store, objects, copy, report).await?;
                }
                LiveFile::Same => return Err(BackupError::Vanished(key.clone())),
            }
        }
        progress(Progress::Advance(page.len() as u64, 0));
    }
    let mut after: Option<String> = None;
    loop {
        let page = snapshot.variants_after(after.as_deref(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.storage_key.clone());
        for variant in &page {
            let needed = variant.state == VariantState::Done;
            let key = &variant.storage_key;
            if fill(store, objects, key, needed, copy, report).await? {
                continue;
            }
            // A variant's row goes only with its asset's, or when its asset's file is replaced.
            if live.variant(key).await?.is_some() {
                return Err(BackupError::Vanished(key.clone()));
            }
            let Some(source) = snapshot.get_asset(variant.asset_id).await? else {
                continue;
            };
            match live_file(live, source.id, &source.storage_key).await? {
                LiveFile::Replaced(current) => {
                    take_replaced(snapshot, &current, store, objects, copy, report).await?;
                }
                LiveFile::Deleted | LiveFile::Same => {
                    if snapshot
                        .delete_asset(variant.asset_id, Utc::now())
                        .await?
                        .is_some()
                    {
                        report.dropped += 1;
                    }
                }
            }
        }
        progress(Progress::Advance(page.len() as u64, 0));
    }
    Ok(())
}

/// What the live database says of an asset whose object (`key`, as the snapshot names it) is
/// gone.
enum LiveFile {
    /// The asset was deleted (or is no longer uploaded) since.
    Deleted,
    /// Its file was replaced since: this is the asset now.
    Replaced(Box<Asset>),
    /// It still names `key`: the live store is damaged.
    Same,
}

async fn live_file(live: &SqliteMeta, id: ObjectId, key: &str) -> Result<LiveFile, MetaError> {
    Ok(match live.get_asset(id).await? {
        Some(asset) if asset.state == AssetState::Uploaded && asset.storage_key != key => {
            LiveFile::Replaced(Box::new(asset))
        }
        Some(asset) if asset.state == AssetState::Uploaded => LiveFile::Same,
        _ => LiveFile::Deleted,
    })
}

/// Step 3 for an asset whose file was replaced after the snapshot, and whose object the
/// snapshot names is already deleted: the copy takes the live file, as if that replace had come
/// just before the snapshot. It goes through the copy's own replace (one transaction: the
/// asset's row, its variants' rows removed and their keys retired, a variant job queued, so the
/// restored service makes its variants again). An asset acknowledged before the backup began
/// stays in it, with a file that was live during the backup.
async fn take_replaced(
    snapshot: &SqliteMeta,
    current: &Asset,
    store: &DiskStore,
    objects: &Path,
    copy: bool,
    report: &mut Report,
) -> Result<(), BackupError> {
    if !fill(store, objects, &current.storage_key, true, copy, report).await? {
        // Replaced again, or deleted, meanwhile: the live store moves on faster than a
        // backup can follow, which a later backup settles.
        return Err(BackupError::Vanished(current.storage_key.clone()));
    }
    let now = Utc::now();
    let replacement = Replacement {
        id: ObjectId::generate(now),
        asset_id: current.id,
        site_id: current.site_id,
        original_file_name: current.original_file_name.clone(),
        content_type: current.content_type.clone(),
        file_hash: current.file_hash.clone(),
        storage_key: current.storage_key.clone(),
        upload_expires_at: now,
        created_on: now,
    };
    let size = current.size.unwrap_or(0);
    if snapshot
        .start_replacement(&replacement, now)
        .await?
        .is_some()
    {
        snapshot
            .complete_replacement(replacement.id, size, now)
            .await?;
        report.replaced += 1;
    }
    Ok(())
}

/// Step 3 for one key a row names: links it if step 1 did not. False if the object is gone
/// though `needed` (its row says it is complete).
async fn fill(
    store: &DiskStore,
    objects: &Path,
    key: &str,
    needed: bool,
    copy: bool,
    report: &mut Report,
) -> Result<bool, BackupError> {
    // A key that is not a plain relative path is never one assetd wrote; nothing to link.
    if store.head(key).await.is_err() || objects.join(key).exists() {
        return Ok(true);
    }
    match place(store.root(), objects, key, copy).await? {
        Some(placed) => count(report, placed),
        None if needed => return Ok(false),
        None => {}
    }
    Ok(true)
}

/// Whether a row of `snapshot` names `key`, and with which size and MD5 when the row says its
/// object is complete (an uploaded asset, a made variant).
async fn named_by(
    snapshot: &SqliteMeta,
    key: &str,
) -> Result<Option<Option<(i64, String)>>, MetaError> {
    let Some((_, id)) = parse_storage_key(key) else {
        return Ok(None);
    };
    if let Some(asset) = snapshot.get_asset(id).await?
        && asset.storage_key == key
    {
        return Ok(Some(match (asset.state, asset.size) {
            (AssetState::Uploaded, Some(size)) => Some((size, asset.file_hash)),
            _ => None,
        }));
    }
    Ok(snapshot.variant(key).await?.map(|v| match v {
        crate::meta::Variant {
            state: VariantState::Done,
            size: Some(size),
            file_hash: Some(md5),
            ..
        } => Some((size, md5)),
        _ => None,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::meta::Site;

    async fn uploaded(meta: &SqliteMeta, store: &DiskStore, site: ObjectId, name: &str) -> Asset {
        let now = crate::timestamp::now();
        let id = ObjectId::generate(now);
        let asset = Asset {
            id,
            site_id: site,
            folder_id: None,
            original_file_name: name.into(),
            display_name: name.into(),
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
        store
            .put(
                &asset.storage_key,
                name.as_bytes().to_vec().into(),
                "text/plain",
            )
            .await
            .unwrap();
        assert!(meta.mark_uploaded(id, 5, now).await.unwrap());
        meta.get_asset(id).await.unwrap().unwrap()
    }

    /// Step 3 after the snapshot saw three uploaded assets whose objects then went: one
    /// replaced (the copy takes its new file), one deleted (left out), one still named by the
    /// live database (the live store is damaged: the backup fails).
    #[tokio::test]
    async fn objects_gone_since_the_snapshot_are_settled_by_what_happened_live() {
        let dir = tempfile::tempdir().unwrap();
        let live = SqliteMeta::open(&dir.path().join("live.db")).await.unwrap();
        let store = DiskStore::open(dir.path().join("objects")).unwrap();
        let now = crate::timestamp::now();
        let site = ObjectId::generate(now);
        live.create_site(&Site {
            id: site,
            name: "s".into(),
            created_on: now,
        })
        .await
        .unwrap();
        let replaced = uploaded(&live, &store, site, "replaced.txt").await;
        let deleted = uploaded(&live, &store, site, "deleted.txt").await;
        live.snapshot_into(&dir.path().join("copy.db"))
            .await
            .unwrap();
        let snapshot = SqliteMeta::open_beside(&dir.path().join("copy.db"))
            .await
            .unwrap();

        // After the snapshot: one file replaced and its old object deleted, one asset deleted.
        let rid = ObjectId::generate(now);
        let new_key = crate::keys::replacement_key(site, replaced.id, rid, "new.txt");
        let replacement = Replacement {
            id: rid,
            asset_id: replaced.id,
            site_id: site,
            original_file_name: "new.txt".into(),
            content_type: "text/plain".into(),
            file_hash: "1".repeat(32),
            storage_key: new_key.clone(),
            upload_expires_at: now + chrono::Duration::hours(1),
            created_on: now,
        };
        live.start_replacement(&replacement, now).await.unwrap();
        store
            .put(&new_key, b"the new file".to_vec().into(), "text/plain")
            .await
            .unwrap();
        live.complete_replacement(rid, 12, now)
            .await
            .unwrap()
            .unwrap();
        store.delete(&replaced.storage_key).await.unwrap();
        live.delete_asset(deleted.id, now).await.unwrap().unwrap();
        store.delete(&deleted.storage_key).await.unwrap();

        let objects = dir.path().join("backup-objects");
        std::fs::create_dir_all(&objects).unwrap();
        let mut report = Report::default();
        link_named(
            &live,
            &snapshot,
            &store,
            &objects,
            true,
            &mut report,
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!((report.replaced, report.dropped), (1, 1));
        let copied = snapshot.get_asset(replaced.id).await.unwrap().unwrap();
        assert_eq!(
            (
                copied.storage_key.as_str(),
                copied.size,
                copied.file_hash.as_str()
            ),
            (new_key.as_str(), Some(12), "1".repeat(32).as_str())
        );
        assert_eq!(
            std::fs::read(objects.join(&new_key)).unwrap(),
            b"the new file"
        );
        assert_eq!(snapshot.get_asset(deleted.id).await.unwrap(), None);

        // An object the live database still names, gone: the backup fails, naming it.
        let damaged = uploaded(&live, &store, site, "damaged.txt").await;
        live.snapshot_into(&dir.path().join("copy2.db"))
            .await
            .unwrap();
        let snapshot = SqliteMeta::open_beside(&dir.path().join("copy2.db"))
            .await
            .unwrap();
        store.delete(&damaged.storage_key).await.unwrap();
        let failed = link_named(
            &live,
            &snapshot,
            &store,
            &dir.path().join("backup-objects-2"),
            true,
            &mut Report::default(),
            &mut |_| {},
        )
        .await;
        assert!(
            matches!(&failed, Err(BackupError::Vanished(key)) if *key == damaged.storage_key),
            "{failed:?}"
        );
    }
}
