//! `assetd import`: a site's folders and assets (bytes, display names, alt texts) copied from
//! one Webflow-compatible Data API v2 to another, over HTTP only, like `assetd upload`.
//!
//! 1. Both sides are listed (`api`), and each folder and asset gets an action from the listings
//!    and the state file (`plan`, `state_file`).
//! 2. Folders are created parents first. Assets go `-j` at a time: downloaded from `hostedUrl`
//!    into a temp file while hashed (`transfer`), created with that MD5 as `fileHash`, uploaded
//!    from the file, then named. Every step is written to the state file as it finishes.
//! 3. The map (`map_file`) is written from fresh listings, after waiting a bounded time for the
//!    destination's responsive variants.
//!
//! **Ids.** The source's ids are sent in the create bodies' `id` field (assetd's extension,
//! scope `assets:import`). The first answer tells whether the destination keeps them: the same
//! id back means kept; another id (a destination that ignores the field), a 403
//! `missing_scopes` or a 400 about `id` means mapped, and the call is repeated without it.
//! A 409 means the id is taken: by this import's earlier, unfinished upload (a pending asset,
//! deleted and created again), by the same asset already uploaded (adopted), or by something
//! else (a new id is mapped for this one).

pub mod api;
pub mod map_file;
pub mod pacer;
pub mod parts;
pub mod plan;
pub mod report;
pub mod rewrite;
pub mod state_file;
pub mod steps;
pub mod transfer;
pub mod wire;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use api::{Api, ApiError, Token};
use plan::{AssetAction, FolderAction};
use report::{Failure, Reporter, Summary};
use state_file::{Endpoints, Entry, StateFile};
use steps::{IDS_KEPT, IDS_MAPPED, IDS_UNKNOWN, Outcome, Run};
use wire::{RemoteAsset, RemoteFolder};

/// Whether ids are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdPolicy {
    /// Kept where the destination allows it, else mapped.
    Auto,
    /// Kept, or the asset fails.
    Keep,
    /// Never sent.
    Map,
}

/// One side of an import.
#[derive(Debug, Clone)]
pub struct Side {
    /// API base URL, ending in `/v2`.
    pub api: String,
    /// Its token.
    pub token: Token,
    /// The site.
    pub site: String,
}

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Where from.
    pub from: Side,
    /// Where to.
    pub to: Side,
    /// Ids kept or mapped.
    pub ids: IdPolicy,
    /// The state file.
    pub state: PathBuf,
    /// The map file to write, if any.
    pub map: Option<PathBuf>,
    /// Assets in flight.
    pub jobs: usize,
    /// Change nothing.
    pub dry_run: bool,
    /// How long to wait for the destination's variants before writing the map.
    pub variant_wait: Duration,
}

/// Why an import could not run at all (a failed asset is reported in the summary instead).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Listing a side failed.
    #[error("listing the {side}: {source}")]
    List {
        /// `source` or `destination`.
        side: &'static str,
        /// The failure.
        source: ApiError,
    },
    /// A folder could not be created (its assets would have nowhere to go).
    #[error("creating folder {name:?}: {source}")]
    Folder {
        /// Its name.
        name: String,
        /// The failure.
        source: ApiError,
    },
    /// The state file.
    #[error(transparent)]
    State(#[from] state_file::StateError),
    /// The map file.
    #[error(transparent)]
    Map(#[from] map_file::MapError),
    /// A file to rewrite.
    #[error(transparent)]
    Rewrite(#[from] rewrite::RewriteError),
    /// `--ids keep` and the destination does not keep them.
    #[error(
        "the destination does not keep ids ({0}); give its token assets:import, or use --ids map"
    )]
    IdsRefused(String),
    /// The temp directory.
    #[error("temp directory {path}: {source}")]
    TempDir {
        /// The directory.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

/// The default state file for a pair of sites.
pub fn default_state_path(from_site: &str, to_site: &str) -> PathBuf {
    PathBuf::from(format!("assetd-import-{from_site}-{to_site}.state"))
}

/// Runs an import; failed assets are in the summary, not an error.
pub async fn run(options: ImportOptions, reporter: Arc<Reporter>) -> Result<Summary, ImportError> {
    let started = Instant::now();
    if let Some(map) = &options.map {
        map_file::check_name(map)?;
    }
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new());
    let from = Api::new(
        client.clone(),
        &options.from.api,
        options.from.token.clone(),
        &options.from.site,
    );
    let to = Api::new(
        client.clone(),
        &options.to.api,
        options.to.token.clone(),
        &options.to.site,
    );
    let endpoints = Endpoints {
        from_api: options.from.api.trim_end_matches('/').to_owned(),
        from_site: options.from.site.clone(),
        to_api: options.to.api.trim_end_matches('/').to_owned(),
        to_site: options.to.site.clone(),
    };
    let (state_file, state) = if options.dry_run {
        let text = std::fs::read_to_string(&options.state).unwrap_or_default();
        let (_, state) = state_file::parse(&text).unwrap_or_default();
        (None, state)
    } else {
        let (file, state) = StateFile::open(&options.state, &endpoints)?;
        (Some(file), state)
    };
    let list = |side| move |source| ImportError::List { side, source };
    let source_folders = from.list_folders().await.map_err(list("source"))?;
    let source_assets = from.list_assets().await.map_err(list("source"))?;
    let mut dest_folders = to.list_folders().await.map_err(list("destination"))?;
    let dest_assets: HashMap<String, RemoteAsset> = to
        .list_assets()
        .await
        .map_err(list("destination"))?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();

    let parts = PathBuf::from(format!("{}.parts", options.state.display()));
    if !options.dry_run {
        // What a killed run left there is never state (every file is rewritten whole): start
        // empty, so the end of this run can remove the directory.
        let _ = std::fs::remove_dir_all(&parts);
        std::fs::create_dir_all(&parts).map_err(|source| ImportError::TempDir {
            path: parts.clone(),
            source,
        })?;
    }
    let mut summary = Summary {
        dry_run: options.dry_run,
        ids: "unknown".to_owned(),
        ..Summary::default()
    };
    let mut run = Run {
        from,
        to,
        downloads: client,
        ids: AtomicU8::new(match options.ids {
            IdPolicy::Map => IDS_MAPPED,
            _ => IDS_UNKNOWN,
        }),
        policy: options.ids,
        state: state_file,
        parts: parts::Parts::new(parts.clone()),
        reporter: Arc::clone(&reporter),
        folders: HashMap::new(),
        pairs: Mutex::new(state.done.clone()),
        finished: AtomicU64::new(0),
    };

    // Folders, parents first.
    for (folder, action) in plan::folders(&source_folders, &dest_folders, &state) {
        let parent = folder
            .parent_folder
            .as_ref()
            .and_then(|p| run.folders.get(p))
            .cloned();
        let existing = match action {
            FolderAction::Exists(dst) => Some(dst),
            FolderAction::Create => {
                plan::folder_named(&dest_folders, parent.as_deref(), &folder.display_name)
                    .map(|f| f.id.clone())
            }
        };
        let dst = match existing {
            Some(dst) => {
                summary.folders_existing += 1;
                reporter.folder(&folder.id, &folder.display_name, Some(&dst), "exists");
                dst
            }
            None if options.dry_run => {
                summary.folders_created += 1;
                reporter.folder(&folder.id, &folder.display_name, None, "would-create");
                // Children are planned as if it existed under a kept id.
                folder.id.clone()
            }
            None => {
                let dst = run.create_folder(&folder, parent.as_deref()).await?;
                summary.folders_created += 1;
                reporter.folder(&folder.id, &folder.display_name, Some(&dst), "created");
                dest_folders.push(RemoteFolder {
                    id: dst.clone(),
                    display_name: folder.display_name.clone(),
                    parent_folder: parent.clone(),
                });
                dst
            }
        };
        if state.folders.get(&folder.id) != Some(&dst) {
            run.record(&Entry::Folder {
                src: folder.id.clone(),
                dst: dst.clone(),
            })?;
        }
        run.folders.insert(folder.id.clone(), dst);
    }

    // Assets.
    let actions: Vec<(RemoteAsset, AssetAction)> = source_assets
        .iter()
        .map(|a| (a.clone(), plan::asset(a, &dest_assets, &state)))
        .collect();
    let to_import: Vec<&RemoteAsset> = actions
        .iter()
        .filter(|(_, a)| matches!(a, AssetAction::Import { .. }))
        .map(|(s, _)| s)
        .collect();
    let total = actions.len() as u64;
    reporter.start(
        to_import.len() as u64,
        to_import.iter().map(|a| a.size).sum(),
    );
    if options.dry_run {
        for (source, action) in &actions {
            let (verb, dst, bytes) = match action {
                AssetAction::Skip { dst } => {
                    summary.skipped += 1;
                    ("skipped", Some(dst.as_str()), 0)
                }
                AssetAction::Update { dst, .. } => {
                    summary.updated += 1;
                    ("would-update", Some(dst.as_str()), 0)
                }
                AssetAction::Import { .. } => {
                    summary.imported += 1;
                    summary.bytes += source.size;
                    ("would-import", None, source.size)
                }
            };
            reporter.asset(
                &source.id,
                &source.original_file_name,
                dst,
                verb,
                bytes,
                None,
            );
        }
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    let run = Arc::new(run);
    let mut outcomes = futures_util::stream::iter(actions.into_iter().map(|(source, action)| {
        let run = Arc::clone(&run);
        async move {
            let outcome = run.run_asset(&source, action).await;
            let n = run.finished.fetch_add(1, Ordering::Relaxed) + 1;
            run.reporter.advanced(n.min(total), total);
            (source, outcome)
        }
    }))
    .buffer_unordered(options.jobs.max(1));
    while let Some((source, outcome)) = outcomes.next().await {
        let name = source.original_file_name.as_str();
        match outcome {
            Outcome::Imported { dst, bytes } => {
                summary.imported += 1;
                summary.bytes += bytes;
                reporter.asset(&source.id, name, Some(&dst), "imported", bytes, None);
            }
            Outcome::Updated { dst } => {
                summary.updated += 1;
                reporter.asset(&source.id, name, Some(&dst), "updated", 0, None);
            }
            Outcome::Skipped { dst } => {
                summary.skipped += 1;
                reporter.asset(&source.id, name, Some(&dst), "skipped", 0, None);
            }
            Outcome::Failed(error) => {
                let reason = error.to_string();
                summary.failed += 1;
                reporter.asset(&source.id, name, None, "failed", 0, Some(&reason));
                summary.failures.push(Failure {
                    source_id: source.id.clone(),
                    file_name: name.to_owned(),
                    reason,
                });
            }
        }
    }
    drop(outcomes);
    run.parts.remove_all();

    summary.ids = match run.ids.load(Ordering::Relaxed) {
        IDS_KEPT => "kept",
        IDS_MAPPED => "mapped",
        _ => {
            // Nothing created this run: say what earlier runs did.
            let pairs = run
                .pairs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if pairs.is_empty() {
                "unknown"
            } else if pairs.iter().all(|(s, d)| s == d) {
                "kept"
            } else {
                "mapped"
            }
        }
    }
    .to_owned();

    if !options.dry_run {
        // Done means listed on the destination: one that confirms uploads in the background
        // (assetd on S3 storage) lists them a moment later. With a map, its variants too.
        let pairs = run
            .pairs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let wanted = Wanted {
            source: &source_assets,
            pairs: &pairs,
            variants: options.map.is_some(),
        };
        let dest = wait_for_destination(&run.to, &wanted, options.variant_wait)
            .await
            .map_err(list("destination"))?;
        if let Some(map_path) = &options.map {
            let map = map_file::build(&source_folders, &run.folders, &source_assets, &dest, &pairs);
            map.write(map_path)?;
        }
    }
    summary.source_throttled = run.from.stats.throttled.load(Ordering::Relaxed);
    summary.destination_throttled = run.to.stats.throttled.load(Ordering::Relaxed);
    summary.retried = run.from.stats.retried.load(Ordering::Relaxed)
        + run.to.stats.retried.load(Ordering::Relaxed);
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// What the destination should list at the end of a run.
struct Wanted<'a> {
    /// The source's assets.
    source: &'a [RemoteAsset],
    /// Source id → destination id of every asset imported or found there.
    pairs: &'a HashMap<String, String>,
    /// Whether the source's made variant widths are awaited too (for the map).
    variants: bool,
}

impl Wanted<'_> {
    /// What `dest` still lacks: each paired asset it does not list counts one, and, when
    /// variants are awaited, each of the source's made variant widths a listed one lacks.
    fn missing(&self, dest: &HashMap<String, RemoteAsset>) -> usize {
        self.source
            .iter()
            .filter_map(|s| Some((s, self.pairs.get(&s.id)?)))
            .map(|(s, d)| match dest.get(d) {
                None => 1,
                Some(_) if !self.variants => 0,
                Some(d) => s
                    .made_variants()
                    .filter(|sv| !d.variants.iter().any(|dv| dv.width == sv.width))
                    .count(),
            })
            .sum()
    }
}

/// Lists the destination until it has all that `wanted` asks for, or `wait` passes, or nothing
/// changes for a while (the destination makes other widths).
async fn wait_for_destination(
    to: &Api,
    wanted: &Wanted<'_>,
    wait: Duration,
) -> Result<HashMap<String, RemoteAsset>, ApiError> {
    const EVERY: Duration = Duration::from_secs(2);
    const STILL: u32 = 5;
    let deadline = Instant::now() + wait;
    let mut last = usize::MAX;
    let mut unchanged = 0;
    loop {
        let dest: HashMap<String, RemoteAsset> = to
            .list_assets()
            .await?
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        let missing = wanted.missing(&dest);
        unchanged = if missing == last { unchanged + 1 } else { 0 };
        last = missing;
        if missing == 0 || Instant::now() + EVERY > deadline || unchanged >= STILL {
            return Ok(dest);
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// One rewritten file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// The original, untouched.
    pub input: PathBuf,
    /// The new file.
    pub output: PathBuf,
    /// URLs replaced.
    pub replaced: u64,
}

/// `assetd import --rewrite`: each file rewritten beside itself (or into `out_dir`) with the
/// URLs of the map at `map`.
pub fn rewrite_files(
    map: &Path,
    files: &[PathBuf],
    out_dir: Option<&Path>,
) -> Result<Vec<Rewritten>, ImportError> {
    let map = map_file::ImportMap::read(map)?;
    let rewriter = rewrite::Rewriter::new(&map.url_pairs())?;
    if let Some(dir) = out_dir {
        std::fs::create_dir_all(dir).map_err(|source| rewrite::RewriteError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut done = Vec::new();
    for file in files {
        let output = rewrite::output_path(file, out_dir)?;
        let replaced = rewrite::rewrite_file(&rewriter, file, &output)?;
        done.push(Rewritten {
            input: file.clone(),
            output,
            replaced,
        });
    }
    Ok(done)
}
