//! The maintenance subcommands: `assetd backup`, `assetd restore` and `assetd verify`. Each
//! opens what its service needs (never the way `serve` does: these run beside a running
//! service, so nothing in the data directory is created or cleaned), calls [`crate::backup`] or
//! [`crate::scrub`], prints findings and totals on stdout and, on a terminal, a progress bar
//! on stderr.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::app::{self, StartError};
use crate::backup::{self, BackupError, Layout, restore::RestoreError};
use crate::config::{BackupArgs, RestoreArgs, StorageConfig, StorageKind, VerifyArgs};
use crate::meta::postgres::PostgresMeta;
use crate::meta::sqlite::SqliteMeta;
use crate::meta::{MetaError, MetaStore};
use crate::scrub::{self, Event, Finding, ScrubError, Summary};
use crate::storage::disk::DiskStore;
use crate::storage::s3::S3Store;
use crate::storage::{BlobStore, StoreError};

/// Why `assetd backup` does not apply with PostgreSQL (or S3) and what to use instead.
pub const NOT_EMBEDDED: &str = "assetd backup copies the embedded configuration (the SQLite \
database and the objects in the data directory). With PostgreSQL and S3 the data lives in those \
services, which several assetd nodes share: back PostgreSQL up with its own tools (pg_dump, or \
base backups with WAL archiving for point-in-time recovery) and protect the bucket with the S3 \
service's (versioning, replication, object lock). A copy taken through one assetd process would \
be neither consistent with the other nodes' writes nor practical at that size. See README, \
\"Backup and restore\".";

/// Why a maintenance command failed.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// The command does not apply to this configuration.
    #[error("{0}")]
    Refused(&'static str),
    /// The data directory has no database.
    #[error("{0} has no database (is it the data directory?)")]
    NoDatabase(String),
    /// Opening something failed.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The database failed.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The backup failed.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// The restore refused or failed.
    #[error(transparent)]
    Restore(#[from] RestoreError),
    /// Verify stopped before the end.
    #[error(transparent)]
    Scrub(#[from] ScrubError),
    /// Verify found problems (listed on stdout).
    #[error("verify found {0} problem(s)")]
    Found(u64),
    /// Writing the output failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A data directory's layout, as the app names its parts.
const LAYOUT: Layout = Layout {
    database: app::DATABASE_FILE,
    objects: app::OBJECTS_DIR,
    credentials: crate::storage::credentials::FILE_NAME,
};

/// A progress bar on stderr when it is a terminal; nothing otherwise.
fn progress_bar() -> ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

fn start_phase(bar: &ProgressBar, name: &str, total: Option<u64>) {
    let template = match total {
        Some(total) => {
            bar.set_length(total);
            "{prefix:>12} [{bar:30}] {pos}/{len} {msg} ({elapsed})"
        }
        None => {
            bar.unset_length();
            "{prefix:>12} {spinner} {pos} {msg} ({elapsed})"
        }
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(name.to_owned());
    bar.set_position(0);
}

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// `assetd backup --out DIR`.
pub async fn backup(
    data_dir: &Path,
    database_url: Option<&str>,
    args: &BackupArgs,
) -> Result<(), MaintenanceError> {
    if database_url.is_some() || args.storage == StorageKind::S3 {
        return Err(MaintenanceError::Refused(NOT_EMBEDDED));
    }
    let plan = backup::Plan {
        data_dir: data_dir.to_owned(),
        out: args.out.clone(),
        copy: args.copy,
        layout: LAYOUT,
    };
    let bar = progress_bar();
    let started = Instant::now();
    let mut bytes = 0u64;
    let report = backup::take(&plan, &mut |p| match p {
        backup::Progress::Step(name, total) => start_phase(&bar, name, total),
        backup::Progress::Advance(items, read) => {
            bar.inc(items);
            bytes += read;
            bar.set_message(format!("{:.0} MB", megabytes(bytes)));
        }
    })
    .await?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if report.dropped > 0 {
        eprintln!(
            "assetd: {} assets uploaded and deleted while the backup ran are left out",
            report.dropped
        );
    }
    if report.replaced > 0 {
        eprintln!(
            "assetd: {} assets whose file was replaced while the backup ran have their new file",
            report.replaced
        );
    }
    for key in &report.mismatched {
        eprintln!("assetd: warning: {key} does not match its record (run assetd verify)");
    }
    println!(
        "assetd: backup of {} in {}: {} files, {:.1} MB ({} objects linked, {} copied) in \
         {seconds:.2} s",
        data_dir.display(),
        args.out.display(),
        report.files,
        megabytes(report.bytes),
        report.linked,
        report.copied,
    );
    Ok(())
}

/// `assetd restore --from DIR --data-dir NEW`.
pub async fn restore(
    data_dir: &Path,
    database_url: Option<&str>,
    args: &RestoreArgs,
) -> Result<(), MaintenanceError> {
    if database_url.is_some() {
        return Err(MaintenanceError::Refused(NOT_EMBEDDED));
    }
    let (from, to) = (args.from.clone(), data_dir.to_owned());
    let bar = progress_bar();
    start_phase(&bar, "restoring", None);
    let shown = bar.clone();
    let started = Instant::now();
    let report = tokio::task::spawn_blocking(move || {
        backup::restore::restore(&from, &to, &mut |bytes| {
            shown.inc(1);
            shown.set_message(format!("{:.0} MB", megabytes(bytes)));
        })
    })
    .await
    .map_err(std::io::Error::other)??;
    bar.finish_and_clear();
    println!(
        "assetd: restored {} into {}: {} files, {:.1} MB, all matching the manifest, in {:.2} s",
        args.from.display(),
        data_dir.display(),
        report.files,
        megabytes(report.bytes),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `assetd verify [--repair] [--full] [--json]`.
pub async fn verify(
    data_dir: &Path,
    database_url: Option<&str>,
    args: &VerifyArgs,
) -> Result<(), MaintenanceError> {
    let meta: Arc<dyn MetaStore> = match database_url {
        Some(url) => Arc::new(PostgresMeta::connect(url).await?),
        None => {
            let path = data_dir.join(app::DATABASE_FILE);
            if !path.is_file() {
                return Err(MaintenanceError::NoDatabase(data_dir.display().to_string()));
            }
            Arc::new(SqliteMeta::open_beside(&path).await?)
        }
    };
    let storage = StorageConfig::from_args(&args.serve.store)
        .map_err(|e| StartError::Config(e.to_string()))?;
    let blobs: Arc<dyn BlobStore> = match &storage {
        StorageConfig::Embedded => Arc::new(
            DiskStore::attach(data_dir.join(app::OBJECTS_DIR)).map_err(|source| {
                StartError::DataDir {
                    path: data_dir.display().to_string(),
                    source,
                }
            })?,
        ),
        StorageConfig::S3(s3) => Arc::new(S3Store::new(s3)?),
    };
    let run = scrub::Scrub {
        meta: meta.clone(),
        blobs,
        options: scrub::Options {
            repair: args.repair,
            full: args.full,
            now: chrono::Utc::now(),
        },
    };
    let bar = progress_bar();
    let started = Instant::now();
    let mut bytes = 0u64;
    let mut out = std::io::stdout();
    let mut write_error = None;
    let summary = run
        .run(&mut |event| match event {
            Event::Phase(name, total) => start_phase(&bar, name, total),
            Event::Advance(read) => {
                bar.inc(1);
                bytes += read;
                bar.set_message(format!("{:.0} MB read", megabytes(bytes)));
            }
            Event::Found(finding) => {
                let line = if args.json {
                    serde_json::to_string(finding).unwrap_or_default()
                } else {
                    describe(finding)
                };
                bar.suspend(|| {
                    if let Err(e) = writeln!(out, "{line}") {
                        write_error.get_or_insert(e);
                    }
                });
            }
        })
        .await;
    bar.finish_and_clear();
    meta.close().await;
    let summary = summary?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    print_summary(&summary, started.elapsed(), args.json)?;
    match summary.problems() {
        0 => Ok(()),
        n => Err(MaintenanceError::Found(n)),
    }
}

fn describe(finding: &Finding) -> String {
    let repaired = |r: bool| if r { "\trepaired" } else { "" };
    let what = |variant: bool| if variant { "variant of" } else { "asset" };
    match finding {
        Finding::Missing {
            key,
            asset,
            variant,
            repaired: r,
        } => format!("missing\t{key}\t{} {asset}{}", what(*variant), repaired(*r)),
        Finding::Damaged {
            key,
            asset,
            variant,
            expected_size,
            expected_md5,
            size,
            md5,
            repaired: r,
        } => format!(
            "damaged\t{key}\t{} {asset}: expected {expected_size} bytes MD5 {expected_md5}, \
             found {size} bytes{}{}",
            what(*variant),
            md5.as_deref()
                .map(|m| format!(" MD5 {m}"))
                .unwrap_or_default(),
            repaired(*r)
        ),
        Finding::Orphan { key, repaired: r } => format!("orphan\t{key}{}", repaired(*r)),
        Finding::Foreign { key } => format!("foreign\t{key}\t(not an assetd key; left alone)"),
        Finding::StuckPending {
            asset,
            key,
            expired_at,
        } => format!("stuck-pending\t{key}\tasset {asset}: upload window closed {expired_at}"),
    }
}

fn print_summary(summary: &Summary, took: Duration, json: bool) -> std::io::Result<()> {
    let seconds = took.as_secs_f64();
    let mut out = std::io::stdout().lock();
    if json {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            summary: &'a Summary,
            problems: u64,
            seconds: f64,
        }
        let line = serde_json::to_string(&Line {
            summary,
            problems: summary.problems(),
            seconds,
        })
        .map_err(std::io::Error::other)?;
        return writeln!(out, "{line}");
    }
    writeln!(
        out,
        "assetd: verified {} originals and {} variants ({:.1} MB read, {:.0} MB/s) and {} \
         listed objects in {seconds:.2} s: {} missing, {} damaged, {} orphans, {} stuck \
         pending, {} foreign; {} repaired",
        summary.assets,
        summary.variants,
        megabytes(summary.bytes_read),
        megabytes(summary.bytes_read) / seconds.max(1e-3),
        summary.objects_listed,
        summary.missing,
        summary.damaged,
        summary.orphans,
        summary.stuck_pending,
        summary.foreign,
        summary.repaired,
    )
}
