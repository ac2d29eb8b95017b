//! One folder's and one asset's way to the destination, shared by the tasks of a run: create
//! (keeping the source's id when the destination allows it, see the module doc of `import`),
//! download into a temp file while hashing, upload from it, name it, and write each step to the
//! state file.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::api::{Api, ApiError};
use super::parts::Parts;
use super::plan::{self, AssetAction, MetaChanges};
use super::report::Reporter;
use super::state_file::{Entry, StateError, StateFile};
use super::transfer::{self, TransferError};
use super::wire::{self, RemoteAsset, RemoteFolder, default_display_name};
use super::{IdPolicy, ImportError};

/// Why one asset did not make it (the run goes on; the summary lists it).
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    /// A call to either API.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Its bytes.
    #[error(transparent)]
    Transfer(#[from] TransferError),
    /// The state file.
    #[error(transparent)]
    State(#[from] StateError),
    /// `--ids keep`, and the destination does not keep them.
    #[error("the destination does not keep ids: {0}")]
    IdsRefused(String),
    /// `--ids keep`, and another asset holds the id.
    #[error("the id {0} is taken on the destination")]
    IdTaken(String),
    /// An earlier run's unfinished asset could not be removed.
    #[error("deleting the unfinished {id}: {source}")]
    Stale {
        /// Its id.
        id: String,
        /// The failure.
        source: ApiError,
    },
    /// Setting its display name or alt text failed.
    #[error("naming it: {0}")]
    Naming(ApiError),
    /// Every way of creating it was refused.
    #[error("the asset could not be created")]
    NotCreated,
}

pub(super) const IDS_UNKNOWN: u8 = 0;
pub(super) const IDS_KEPT: u8 = 1;
pub(super) const IDS_MAPPED: u8 = 2;

/// What every asset task shares.
pub(super) struct Run {
    pub from: Api,
    pub to: Api,
    pub downloads: reqwest::Client,
    pub ids: AtomicU8,
    pub policy: IdPolicy,
    pub state: Option<StateFile>,
    pub parts: Arc<Parts>,
    pub reporter: Arc<Reporter>,
    /// Source folder id → destination folder id.
    pub folders: HashMap<String, String>,
    /// Source asset id → destination asset id, of every asset on the destination.
    pub pairs: Mutex<HashMap<String, String>>,
    /// Assets finished, for the progress bar.
    pub finished: AtomicU64,
}

/// How one asset ended.
pub(super) enum Outcome {
    /// Copied.
    Imported { dst: String, bytes: u64 },
    /// Its name or alt text brought up to date.
    Updated { dst: String },
    /// Already there.
    Skipped { dst: String },
    /// Not copied.
    Failed(AssetError),
}

impl Run {
    pub fn record(&self, entry: &Entry) -> Result<(), StateError> {
        match &self.state {
            Some(file) => file.append(entry),
            None => Ok(()),
        }
    }

    fn wants_ids(&self) -> bool {
        self.policy != IdPolicy::Map && self.ids.load(Ordering::Relaxed) != IDS_MAPPED
    }

    /// The destination answered a create that carried `sent` with `got`.
    fn learn_ids(&self, sent: &str, got: &str) -> Result<(), AssetError> {
        if sent == got {
            let _ = self.ids.compare_exchange(
                IDS_UNKNOWN,
                IDS_KEPT,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            Ok(())
        } else {
            self.ids_refused("it answered with another id")
        }
    }

    fn ids_refused(&self, why: &str) -> Result<(), AssetError> {
        if self.policy == IdPolicy::Keep {
            return Err(AssetError::IdsRefused(why.to_owned()));
        }
        if self.ids.swap(IDS_MAPPED, Ordering::Relaxed) != IDS_MAPPED {
            self.reporter.note(&format!(
                "the destination does not keep ids ({why}); new ids are mapped"
            ));
        }
        Ok(())
    }

    pub async fn create_folder(
        &self,
        folder: &RemoteFolder,
        parent: Option<&str>,
    ) -> Result<String, ImportError> {
        let fail = |source| ImportError::Folder {
            name: folder.display_name.clone(),
            source,
        };
        let mut send_id = self.wants_ids();
        // At most: with the id, then without it.
        for _ in 0..2 {
            let id = send_id.then_some(folder.id.as_str());
            match self
                .to
                .create_folder(&folder.display_name, parent, id)
                .await
            {
                Ok(created) => {
                    if send_id {
                        self.learn_ids(&folder.id, &created.id)
                            .map_err(|e| ImportError::IdsRefused(e.to_string()))?;
                    }
                    return Ok(created.id);
                }
                Err(e) if send_id && e.refuses_chosen_id() => {
                    self.ids_refused(&e.to_string())
                        .map_err(|e| ImportError::IdsRefused(e.to_string()))?;
                    send_id = false;
                }
                Err(e) if e.status() == Some(409) => {
                    // Taken since we listed (another run), or the id is another site's.
                    let now = self.to.list_folders().await.map_err(fail)?;
                    if let Some(found) = now.iter().find(|f| f.id == folder.id) {
                        return Ok(found.id.clone());
                    }
                    if let Some(found) = plan::folder_named(&now, parent, &folder.display_name) {
                        return Ok(found.id.clone());
                    }
                    if !send_id || self.policy == IdPolicy::Keep {
                        return Err(fail(e));
                    }
                    send_id = false;
                }
                Err(e) => return Err(fail(e)),
            }
        }
        Err(fail(ApiError::Protocol(
            "the folder could not be created".into(),
        )))
    }

    /// Creates the destination asset for `source`, keeping its id if it can; `Ok(Err(dst))`
    /// when an uploaded asset under the kept id turns out to be this one already.
    async fn create_asset(
        &self,
        source: &RemoteAsset,
        md5: &str,
        folder: Option<&str>,
    ) -> Result<Result<wire::CreatedAsset, String>, AssetError> {
        let mut send_id = self.wants_ids();
        // At most: with the id; again after deleting our own stale pending one; without it.
        for _ in 0..3 {
            let id = send_id.then_some(source.id.as_str());
            match self
                .to
                .create_asset(&source.original_file_name, md5, folder, id)
                .await
            {
                Ok(created) => {
                    if send_id {
                        self.learn_ids(&source.id, &created.id)?;
                    }
                    return Ok(Ok(created));
                }
                Err(e) if send_id && e.refuses_chosen_id() => {
                    self.ids_refused(&e.to_string())?;
                    send_id = false;
                }
                Err(e) if send_id && e.status() == Some(409) => {
                    match self.to.get_asset(&source.id).await {
                        Ok(found)
                            if found.size == source.size
                                && found.original_file_name == source.original_file_name =>
                        {
                            return Ok(Err(found.id));
                        }
                        // Uploaded, but another asset: never delete it; map a new id.
                        Ok(_) => send_id = false,
                        Err(g) if g.status() == Some(404) => {
                            // Not readable: a pending asset of this site (an earlier run's,
                            // its bytes never arrived), or another site's.
                            match self.to.delete_asset(&source.id).await {
                                Ok(()) => {}
                                Err(d) if d.status() == Some(404) => send_id = false,
                                Err(d) => return Err(d.into()),
                            }
                        }
                        Err(g) => return Err(g.into()),
                    }
                    if !send_id && self.policy == IdPolicy::Keep {
                        return Err(AssetError::IdTaken(source.id.clone()));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(AssetError::NotCreated)
    }

    async fn import(
        &self,
        source: &RemoteAsset,
        stale: Option<&str>,
    ) -> Result<Outcome, AssetError> {
        if let Some(stale) = stale {
            match self.to.delete_asset(stale).await {
                Ok(()) => {}
                Err(e) if e.status() == Some(404) => {}
                Err(source) => {
                    return Err(AssetError::Stale {
                        id: stale.to_owned(),
                        source,
                    });
                }
            }
        }
        let part = self.parts.take();
        let reporter = Arc::clone(&self.reporter);
        let downloaded = transfer::download(
            &self.downloads,
            &source.hosted_url,
            part.path(),
            source.size,
            &move |n| reporter.bytes(n),
        )
        .await?;
        self.upload(source, part.path(), &downloaded).await
    }

    async fn upload(
        &self,
        source: &RemoteAsset,
        part: &Path,
        downloaded: &transfer::Downloaded,
    ) -> Result<Outcome, AssetError> {
        let folder = source
            .folder_id
            .as_ref()
            .and_then(|f| self.folders.get(f))
            .map(String::as_str);
        let created = match self.create_asset(source, &downloaded.md5, folder).await? {
            Ok(created) => created,
            Err(adopted) => {
                // Already there (an earlier run's upload): only its name may be missing.
                let found = self.to.get_asset(&adopted).await?;
                let changes = plan::meta_changes(
                    source,
                    &found.id,
                    &found.display_name,
                    found.alt_text.as_deref(),
                );
                self.name(&adopted, &changes).await?;
                self.done(source, &adopted)?;
                return Ok(if changes.is_empty() {
                    Outcome::Skipped { dst: adopted }
                } else {
                    Outcome::Updated { dst: adopted }
                });
            }
        };
        self.record(&Entry::Created {
            src: source.id.clone(),
            dst: created.id.clone(),
        })?;
        transfer::upload(
            &self.downloads,
            &created,
            part,
            &source.original_file_name,
            downloaded,
        )
        .await?;
        let changes = plan::meta_changes(
            source,
            &created.id,
            &default_display_name(&created.id, &source.original_file_name),
            None,
        );
        self.name(&created.id, &changes).await?;
        self.done(source, &created.id)?;
        Ok(Outcome::Imported {
            dst: created.id,
            bytes: downloaded.size,
        })
    }

    async fn name(&self, dst: &str, changes: &MetaChanges) -> Result<(), AssetError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.to
            .update_asset(dst, changes)
            .await
            .map(|_| ())
            .map_err(AssetError::Naming)
    }

    fn done(&self, source: &RemoteAsset, dst: &str) -> Result<(), AssetError> {
        self.pairs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(source.id.clone(), dst.to_owned());
        Ok(self.record(&Entry::Done {
            src: source.id.clone(),
            dst: dst.to_owned(),
        })?)
    }

    /// Does `action` for `source`.
    pub async fn run_asset(&self, source: &RemoteAsset, action: AssetAction) -> Outcome {
        let outcome = match action {
            AssetAction::Skip { dst } => match self.done_if_new(source, &dst) {
                Ok(()) => Ok(Outcome::Skipped { dst }),
                Err(e) => Err(e),
            },
            AssetAction::Update { dst, changes } => match self.name(&dst, &changes).await {
                Ok(()) => self.done(source, &dst).map(|()| Outcome::Updated { dst }),
                Err(e) => Err(e),
            },
            AssetAction::Import { stale } => self.import(source, stale.as_deref()).await,
        };
        outcome.unwrap_or_else(Outcome::Failed)
    }

    /// Records a pair found on the destination that the state file did not have yet.
    fn done_if_new(&self, source: &RemoteAsset, dst: &str) -> Result<(), AssetError> {
        let mut pairs = self
            .pairs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pairs.get(&source.id).map(String::as_str) == Some(dst) {
            return Ok(());
        }
        pairs.insert(source.id.clone(), dst.to_owned());
        drop(pairs);
        Ok(self.record(&Entry::Done {
            src: source.id.clone(),
            dst: dst.to_owned(),
        })?)
    }
}
