//! One object being written to the embedded store: [`DiskWrite`].
//!
//! The bytes go to a temp file, are fsynced, renamed into place and the directory fsynced, so a
//! reader never sees a partial object and a crash leaves at most a temp file (removed at the
//! next start). A write dropped before [`DiskWrite::commit`] removes its temp file at once.
//!
//! Why it is built the way it is (each measured in `bench/run`'s upload rows):
//! - **No copies.** Chunks arrive as `Bytes` and are kept as they are until written; a batch of
//!   them goes to the file in one hop to the blocking pool, while the next batch is received.
//!   (tokio's `File` behind a `BufWriter` copied every byte twice before the `write`.)
//! - **The MD5 runs beside the receiving.** The batch's hop also feeds the bytes to the MD5 (the
//!   object's ETag, which the upload endpoint compares with `fileHash`): hashing is most of an
//!   upload's CPU, and on the request's task it would wait for the socket and the socket for it.
//! - **No thread held per upload.** A thread is used only while a batch is written, so a
//!   thousand slow uploads cannot take the blocking pool from delivery and the rest.
//! - **Write-back starts early.** Every [`WRITEBACK_STEP`] written bytes, the kernel is asked to
//!   start writing them to disk without waiting, so the disk works while the rest of the upload
//!   arrives and the final fsync waits only for the tail, not for the whole file (RocksDB's
//!   `bytes_per_sync`, PostgreSQL's `pg_flush_data`). See [`start_writeback`] for the call.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use md5::{Digest, Md5};
use tokio::task::JoinHandle;

/// Bytes gathered before they are handed to the blocking pool. With one batch being written
/// and one gathering, an upload holds at most twice this (64 concurrent uploads: 16 MiB).
/// (Batches growing to 512 KiB while one is in flight measured no faster.)
const BATCH: usize = 128 * 1024;

/// Bytes written between two requests to start write-back.
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

/// An object being written.
#[derive(Debug)]
pub struct DiskWrite {
    file: Option<Arc<std::fs::File>>,
    batch: Vec<Bytes>,
    batch_len: usize,
    /// The batch being written, at most one at a time so the file's bytes stay in order; it
    /// hands the MD5 state back when done.
    in_flight: Option<JoinHandle<std::io::Result<Md5>>>,
    /// The MD5 of the bytes written so far, while no batch is in flight.
    md5: Option<Md5>,
    /// The latest request to start write-back; it may block on a busy disk, so it runs apart
    /// from the batches, one at a time.
    writeback: Option<JoinHandle<()>>,
    /// Bytes handed to the blocking pool so far, and how many of them write-back was asked for.
    handed: u64,
    written_back: u64,
    temp: Option<PathBuf>,
    target: PathBuf,
}

impl DiskWrite {
    /// A write of `target` through the new, empty temp file `file` at `temp`.
    pub(super) fn new(file: std::fs::File, temp: PathBuf, target: PathBuf) -> Self {
        Self {
            file: Some(Arc::new(file)),
            batch: Vec::new(),
            batch_len: 0,
            in_flight: None,
            md5: Some(Md5::new()),
            writeback: None,
            handed: 0,
            written_back: 0,
            temp: Some(temp),
            target,
        }
    }

    /// Appends bytes.
    pub async fn write(&mut self, bytes: Bytes) -> std::io::Result<()> {
        if self.file.is_none() {
            return Err(std::io::Error::other("write after commit"));
        }
        self.batch_len += bytes.len();
        self.batch.push(bytes);
        if self.batch_len >= BATCH {
            self.hand_off_batch().await?;
        }
        Ok(())
    }

    /// Waits for the batch in flight, then starts writing the gathered one.
    async fn hand_off_batch(&mut self) -> std::io::Result<()> {
        self.finish_in_flight().await?;
        let (Some(file), Some(mut md5)) = (self.file.clone(), self.md5.take()) else {
            return Err(std::io::Error::other("write after commit"));
        };
        let batch = std::mem::take(&mut self.batch);
        // Write-back is asked for bytes whose batch is already written (the one just awaited).
        let written = self.handed;
        if written - self.written_back >= WRITEBACK_STEP
            && self.writeback.as_ref().is_none_or(JoinHandle::is_finished)
        {
            let (offset, len) = (self.written_back, written - self.written_back);
            self.written_back = written;
            let file = Arc::clone(&file);
            self.writeback = Some(tokio::task::spawn_blocking(move || {
                start_writeback(&file, offset, len);
            }));
        }
        self.handed += self.batch_len as u64;
        self.batch_len = 0;
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let mut out = &*file;
            for chunk in &batch {
                md5.update(chunk);
                out.write_all(chunk)?;
            }
            Ok(md5)
        }));
        Ok(())
    }

    async fn finish_in_flight(&mut self) -> std::io::Result<()> {
        if let Some(job) = self.in_flight.take() {
            self.md5 = Some(job.await.map_err(std::io::Error::other)??);
        }
        Ok(())
    }

    /// Hands off what is gathered and waits until every byte is in the file.
    async fn write_out(&mut self) -> std::io::Result<()> {
        if !self.batch.is_empty() {
            self.hand_off_batch().await?;
        }
        self.finish_in_flight().await
    }

    /// Writes what is gathered and returns the MD5 (lower-case hex) of every byte written.
    /// Nothing is visible under the key until [`DiskWrite::commit`].
    pub async fn finish(&mut self) -> std::io::Result<String> {
        self.write_out().await?;
        match &self.md5 {
            Some(md5) => Ok(hex::encode(md5.clone().finalize())),
            None => Err(std::io::Error::other("write after commit")),
        }
    }

    /// Makes the object visible under its key: write the rest, fsync, rename, fsync the
    /// directory.
    pub async fn commit(mut self) -> std::io::Result<()> {
        self.write_out().await?;
        let (Some(file), Some(temp)) = (self.file.take(), self.temp.clone()) else {
            return Err(std::io::Error::other("already committed"));
        };
        let target = self.target.clone();
        // fsync, rename and the directory's fsync in one hop to the blocking pool.
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            file.sync_all()?;
            drop(file);
            let dir = target
                .parent()
                .ok_or_else(|| std::io::Error::other("object path has no parent"))?;
            std::fs::create_dir_all(dir)?;
            std::fs::rename(&temp, &target)?;
            std::fs::File::open(dir)?.sync_all()
        })
        .await
        .map_err(std::io::Error::other)??;
        self.temp = None;
        Ok(())
    }
}

impl Drop for DiskWrite {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            // An aborted upload must leave nothing behind. A batch still being written goes to
            // the unlinked file, whose space is freed when that write lets go of it.
            drop(self.file.take());
            if let Err(e) = std::fs::remove_file(&temp) {
                tracing::warn!(path = %temp.display(), error = %e, "could not remove temp file");
            }
        }
    }
}

/// Asks the kernel to start writing `len` bytes from `offset` to disk, without waiting. Only a
/// hint: a failure is left to the final fsync to report.
///
/// `sync_file_range(SYNC_FILE_RANGE_WRITE)` says exactly this but has no safe binding here (the
/// workspace forbids `unsafe`). Linux's `posix_fadvise(POSIX_FADV_DONTNEED)` starts write-back
/// of the range's dirty pages without waiting, then drops only pages that are already clean,
/// which freshly written ones are not: the same effect, and PostgreSQL's fallback for the same
/// purpose.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    let _ = rustix::fs::fadvise(
        file,
        offset,
        std::num::NonZeroU64::new(len),
        rustix::fs::Advice::DontNeed,
    );
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File, _offset: u64, _len: u64) {}
