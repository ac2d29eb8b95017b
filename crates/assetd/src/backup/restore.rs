//! `assetd restore`: a backup made by [`super::take`] into a new data directory, checked file
//! by file against its manifest as it is copied.
//!
//! The copy is built in a sibling directory and renamed to the target only once every file has
//! matched, so a failed restore leaves no half-restored data directory behind, and the target
//! must be absent or empty, so a restore never mixes a backup with live data. Files are copied,
//! not linked: the restored service writes to its database, and must not write into the backup.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::files;
use super::manifest::{self, ManifestError};

/// What a restore copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Files copied.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Why a restore refused or failed. Nothing is left at the target in any case.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The target already has files.
    #[error("{0} is not empty; restore into an empty or new directory")]
    NotEmpty(PathBuf),
    /// The source has no manifest: not a backup, or one that did not finish.
    #[error("{0} has no {file}: not a finished backup", file = manifest::FILE_NAME)]
    NoManifest(PathBuf),
    /// The manifest is damaged.
    #[error("the backup does not match its manifest: {0}")]
    Manifest(#[from] ManifestError),
    /// A file differs from its manifest entry.
    #[error("the backup does not match its manifest: {path}: {what}")]
    Mismatch {
        /// The file, relative to the backup.
        path: String,
        /// How it differs.
        what: String,
    },
    /// The backup holds files its manifest does not list.
    #[error("the backup does not match its manifest: {0} files are not listed in it")]
    Unlisted(u64),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Restores the backup in `from` into the data directory `to`; `advance` is called with each
/// file's size as it is copied. Blocking: run it off the async runtime.
pub fn restore(
    from: &Path,
    to: &Path,
    advance: &mut dyn FnMut(u64),
) -> Result<Report, RestoreError> {
    if !files::absent_or_empty(to).map_err(io_at(to))? {
        return Err(RestoreError::NotEmpty(to.to_owned()));
    }
    let manifest_path = from.join(manifest::FILE_NAME);
    let manifest_file = match std::fs::File::open(&manifest_path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RestoreError::NoManifest(from.to_owned()));
        }
        Err(e) => return Err(io_at(&manifest_path)(e)),
    };
    let staging = staging_dir(to)?;
    let outcome = copy_all(from, &staging, manifest_file, advance).and_then(|report| {
        if to.exists() {
            // Empty (checked above): rename cannot replace a directory on every platform.
            std::fs::remove_dir(to).map_err(io_at(to))?;
        }
        std::fs::rename(&staging, to).map_err(io_at(to))?;
        if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
            files::sync_dir(parent).map_err(io_at(parent))?;
        }
        Ok(report)
    });
    if outcome.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    outcome
}

/// A new directory beside `to`, on the same filesystem so it can be renamed to `to`.
fn staging_dir(to: &Path) -> Result<PathBuf, RestoreError> {
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let staging = to.with_file_name(format!(".{name}.restoring-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io_at(&staging))?;
    }
    std::fs::create_dir_all(&staging).map_err(io_at(&staging))?;
    Ok(staging)
}

fn copy_all(
    from: &Path,
    staging: &Path,
    manifest_file: std::fs::File,
    advance: &mut dyn FnMut(u64),
) -> Result<Report, RestoreError> {
    // Files the manifest does not list are refused before anything is copied. Every listed file
    // is then read, so the two counts agreeing means the sets agree.
    let mut present = 0u64;
    files::walk_files(from, &mut |relative, _| {
        if relative != manifest::FILE_NAME {
            present += 1;
        }
        Ok(())
    })
    .map_err(io_at(from))?;
    let totals = manifest::read(BufReader::new(manifest_file), |entry| {
        let source = from.join(&entry.path);
        let target = staging.join(&entry.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io_at(parent))?;
        }
        let digest = match files::copy_hashing(&source, &target) {
            Ok(digest) => digest,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RestoreError::Mismatch {
                    path: entry.path,
                    what: "missing".into(),
                });
            }
            Err(e) => return Err(io_at(&source)(e)),
        };
        if digest.size != entry.size {
            return Err(RestoreError::Mismatch {
                path: entry.path,
                what: format!("{} bytes, the manifest says {}", digest.size, entry.size),
            });
        }
        if digest.md5 != entry.md5 {
            return Err(RestoreError::Mismatch {
                path: entry.path,
                what: format!("MD5 {}, the manifest says {}", digest.md5, entry.md5),
            });
        }
        advance(digest.size);
        Ok(())
    })?;
    if present != totals.files {
        return Err(RestoreError::Unlisted(present.saturating_sub(totals.files)));
    }
    // Every copied file and directory durable before the rename makes the restore visible.
    files::sync_filesystem(staging).map_err(io_at(staging))?;
    Ok(Report {
        files: totals.files,
        bytes: totals.bytes,
    })
}
