//! One object being written to the embedded store: [`DiskWrite`].
//!
//! The bytes go to a temp file, are fsynced, renamed into place and the directory fsynced, so a
//! reader never sees a partial object and a crash leaves at most a temp file (removed at the
//! next start). A write dropped before [`DiskWrite::commit`] removes its temp file at once.
//!
//! Why it is built the way it is (each measured in `bench/run`'s upload rows):
//! - **No copies.** Chunks arrive as `Bytes` and are kept as they are until written, gathered
//!   into batches of [`BATCH`] bytes.
//! - **Hashing and writing run beside the receiving, and beside each other.** Each batch goes
//!   to two [`BatchStage`]s on the blocking pool: one feeds the MD5 (the object's ETag, which
//!   the upload endpoint compares with `fileHash`), the other appends to the file. Hashing is
//!   most of an upload's CPU; on the request's task it would wait for the socket and the socket
//!   for it, and in one job with the write the two add up. A stage keeps one job running while
//!   batches keep coming, so the hashing thread does not wait for a wake-up per batch.
//!   (One job per batch doing both, awaited before the next: 1 GiB at 451–487 MB/s; the two
//!   stages: 566–635 MB/s, same runs.)
//! - **No thread held per upload.** A stage holds a thread only while it has batches, so a
//!   thousand slow uploads cannot take the blocking pool from delivery and the rest, and an
//!   upload holds at most [`IN_FLIGHT`] + 1 batches of its own, however fast it arrives.
//! - **A deeper queue for a fast upload, from a budget all uploads share.** When an upload's
//!   stages fall behind (its client sends faster than they run), it may take up to
//!   [`MAX_EXTRA`] more batches in flight from [`SHARED_EXTRA`], a process-wide budget, and
//!   keeps them until it ends. So one fast upload has a 1 MiB queue, which smooths the
//!   hand-offs between the receiving task and the two stages on a busy machine, while memory
//!   for many concurrent uploads stays bounded: 256 KiB each plus the shared budget's 16 MiB.
//!   (2026-12-03, AMD EPYC, `bench/run --only upload`, five interleaved rounds: 1 GiB at
//!   248–312 MB/s, mean 280, with 4 batches per upload; 281–334, mean 311 (+11 %), with up to
//!   16. 64 × 1 MiB unchanged within noise, 165–216 MB/s both, RSS growth 25–36 MiB both.)
//! - **Write-back starts early.** Every [`WRITEBACK_STEP`] written bytes, the kernel is asked to
//!   start writing them to disk without waiting, so the disk works while the rest of the upload
//!   arrives and the final fsync waits only for the tail, not for the whole file (RocksDB's
//!   `bytes_per_sync`, PostgreSQL's `pg_flush_data`). See [`start_writeback`] for the call.
//!   (With direct I/O, below, whole blocks are already on the disk when their write returns;
//!   the request then only covers a file that fell back to the page cache.)
//! - **Concurrent uploads hashed side by side.** Each hashing stage hands its batch to
//!   [`HashCombiner`], which hashes the batches of uploads that arrive together in the lanes
//!   of the same instructions (see that module).
//! - **Direct I/O where the filesystem takes it.** The write stage appends through
//!   [`DirectAppend`]: whole 128 KiB blocks skip the page cache, whose fresh pages cost a
//!   virtual machine more than the disk does (see that module for the figures).
//! - **A small object is one hop.** Until the first batch fills, the bytes are only gathered:
//!   no temp file exists and no stage runs. An object that ends within one batch ([`BATCH`]) is
//!   hashed on the request's task when it finishes (at most 64 KiB, tens of microseconds), and
//!   [`DiskWrite::commit`] creates, writes, fsyncs and renames it in one trip to the blocking
//!   pool; one whose MD5 does not match never touches the disk. The stages' hand-offs (a
//!   thread per stage, the combiner's wake-ups) cost a small object more than its bytes do:
//!   importing 2,000 × 50 KiB made the receiving server switch threads 36 times an asset.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use assetd_md5::Md5;
use bytes::Bytes;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::task::JoinHandle;

use super::batch_stage::{BatchStage, BatchStep};
use super::direct_append::DirectAppend;
use super::hash_combiner::HashCombiner;

/// Bytes gathered into one batch for the stages.
const BATCH: usize = 64 * 1024;

/// Batches handed to the stages and not yet through both, besides the one being gathered: an
/// upload holds at most `(IN_FLIGHT + 1) × BATCH`, 256 KiB (64 concurrent uploads: 16 MiB).
/// More bytes in flight measured a little faster for one big upload (3 × 128 KiB: 606–621 MB/s
/// against 583–588 for 4 × 64 KiB) but took 64 concurrent uploads past 64 MiB of RSS growth.
const IN_FLIGHT: u64 = 3;

/// Most batches an upload may have in flight beyond [`IN_FLIGHT`], taken from [`SHARED_EXTRA`].
const MAX_EXTRA: u32 = 12;

/// The extra batches every upload of the process may hold at once, beyond their own
/// [`IN_FLIGHT`]: 16 MiB.
static SHARED_EXTRA: Semaphore = Semaphore::const_new(16 * 1024 * 1024 / BATCH);

/// Bytes written between two requests to start write-back.
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

/// Where every upload's hashing stage hashes its batches, side by side with other uploads'.
static HASHING: HashCombiner = HashCombiner::new();

/// The hashing stage's state.
struct HashStep(Md5);

impl BatchStep for HashStep {
    fn step(&mut self, batch: &[Bytes]) -> std::io::Result<()> {
        HASHING.update(&mut self.0, batch);
        Ok(())
    }
}

/// The writing stage's state: the temp file, appended to (directly where the filesystem
/// allows, see [`DirectAppend`]).
struct WriteStep(DirectAppend<Arc<std::fs::File>>);

impl BatchStep for WriteStep {
    fn step(&mut self, batch: &[Bytes]) -> std::io::Result<()> {
        for chunk in batch {
            self.0.append(chunk)?;
        }
        Ok(())
    }
}

/// Where an object's bytes are.
enum Sink {
    /// Nothing handed off yet: every byte is in the gathered batch and no temp file exists.
    Gathering,
    /// The temp file and its two stages, from the first full batch on. The MD5 and the file
    /// write run side by side, each over every batch in order.
    Streaming {
        file: Arc<std::fs::File>,
        hash: Option<BatchStage<HashStep>>,
        write: BatchStage<WriteStep>,
    },
    /// Committed.
    Committed,
}

/// An object being written.
pub struct DiskWrite {
    sink: Sink,
    batch: Vec<Bytes>,
    batch_len: usize,
    /// Where extra batches in flight come from, and those this upload holds.
    budget: &'static Semaphore,
    extra: Option<SemaphorePermit<'static>>,
    /// The latest request to start write-back; it may block on a busy disk, so it runs apart
    /// from the batches, one at a time.
    writeback: Option<JoinHandle<()>>,
    /// Bytes write-back was asked for so far.
    written_back: u64,
    /// The temp file's path until the object is committed.
    temp: Option<PathBuf>,
    /// Whether this write created the temp file (and must remove it if dropped uncommitted).
    temp_created: bool,
    target: PathBuf,
}

impl std::fmt::Debug for DiskWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskWrite")
            .field("target", &self.target)
            .field("temp", &self.temp)
            .finish_non_exhaustive()
    }
}

fn after_commit() -> std::io::Error {
    std::io::Error::other("write after commit")
}

impl DiskWrite {
    /// A write of `target` through a temp file at `temp`, created (by
    /// [`super::direct_append::create`], direct where the filesystem allows) once the object
    /// outgrows one batch.
    pub(super) fn new(temp: PathBuf, target: PathBuf) -> Self {
        Self::with_budget(temp, target, &SHARED_EXTRA)
    }

    fn with_budget(temp: PathBuf, target: PathBuf, budget: &'static Semaphore) -> Self {
        Self {
            sink: Sink::Gathering,
            budget,
            extra: None,
            batch: Vec::new(),
            batch_len: 0,
            writeback: None,
            written_back: 0,
            temp: Some(temp),
            temp_created: false,
            target,
        }
    }

    /// Appends bytes.
    pub async fn write(&mut self, bytes: Bytes) -> std::io::Result<()> {
        if matches!(self.sink, Sink::Committed) {
            return Err(after_commit());
        }
        self.batch_len += bytes.len();
        self.batch.push(bytes);
        if self.batch_len >= BATCH {
            self.hand_off_batch().await?;
        }
        Ok(())
    }

    /// Creates the temp file and starts the stages (the first full batch).
    async fn start_streaming(&mut self) -> std::io::Result<()> {
        let temp = self.temp.clone().ok_or_else(after_commit)?;
        let file = tokio::task::spawn_blocking(move || super::direct_append::create(&temp))
            .await
            .map_err(std::io::Error::other)??;
        self.temp_created = true;
        let file = Arc::new(file);
        self.sink = Sink::Streaming {
            hash: Some(BatchStage::new(HashStep(Md5::new()))),
            write: BatchStage::new(WriteStep(DirectAppend::new(Arc::clone(&file)))),
            file,
        };
        Ok(())
    }

    /// Waits until the stages are at most as many batches behind as this upload may have in
    /// flight (deepening its queue first if the budget allows), then hands them the gathered
    /// one.
    async fn hand_off_batch(&mut self) -> std::io::Result<()> {
        if matches!(self.sink, Sink::Gathering) {
            self.start_streaming().await?;
        }
        let Sink::Streaming {
            file,
            hash: Some(hash),
            write,
        } = &mut self.sink
        else {
            return Err(after_commit());
        };
        let extra = self.extra.as_ref().map_or(0, SemaphorePermit::num_permits);
        let depth = IN_FLIGHT + extra as u64;
        // Only an upload that would wait asks for more: a slow client never holds any.
        if hash.behind().max(write.behind()) > depth
            && extra < MAX_EXTRA as usize
            && let Ok(more) = self.budget.try_acquire()
        {
            match &mut self.extra {
                Some(held) => held.merge(more),
                None => self.extra = Some(more),
            }
        }
        let depth = IN_FLIGHT + self.extra.as_ref().map_or(0, SemaphorePermit::num_permits) as u64;
        hash.wait_until_behind(depth).await?;
        let written = write.wait_until_behind(depth).await?.bytes;
        if written - self.written_back >= WRITEBACK_STEP
            && self.writeback.as_ref().is_none_or(JoinHandle::is_finished)
        {
            let (offset, len) = (self.written_back, written - self.written_back);
            self.written_back = written;
            let file = Arc::clone(file);
            self.writeback = Some(tokio::task::spawn_blocking(move || {
                start_writeback(&file, offset, len);
            }));
        }
        let batch = Arc::new(std::mem::take(&mut self.batch));
        self.batch_len = 0;
        hash.push(Arc::clone(&batch));
        write.push(batch);
        Ok(())
    }

    /// Hands off what is gathered and waits until every byte is in the file.
    async fn write_out(&mut self) -> std::io::Result<()> {
        if !self.batch.is_empty() {
            self.hand_off_batch().await?;
        }
        match &self.sink {
            Sink::Streaming { write, .. } => write.wait_until_behind(0).await.map(|_| ()),
            _ => Err(after_commit()),
        }
    }

    /// Returns the MD5 (lower-case hex) of every byte written; a streaming object's bytes are
    /// then all in its temp file. Nothing is visible under the key until [`DiskWrite::commit`].
    pub async fn finish(&mut self) -> std::io::Result<String> {
        match &mut self.sink {
            Sink::Gathering => {
                // At most one batch: hashed here, cheaper than a hop to a thread and back.
                let mut md5 = Md5::new();
                for chunk in &self.batch {
                    md5.update(chunk);
                }
                Ok(md5.hex())
            }
            Sink::Streaming { .. } => {
                self.write_out().await?;
                let Sink::Streaming { hash, .. } = &mut self.sink else {
                    return Err(after_commit());
                };
                let hash = hash.take().ok_or_else(after_commit)?;
                let HashStep(md5) = hash.finish().await?;
                Ok(md5.hex())
            }
            Sink::Committed => Err(after_commit()),
        }
    }

    /// Makes the object visible under its key: write the rest, fsync, rename, fsync the
    /// directory.
    pub async fn commit(mut self) -> std::io::Result<()> {
        if matches!(self.sink, Sink::Streaming { .. }) {
            self.write_out().await?;
        }
        let temp = self.temp.clone().ok_or_else(after_commit)?;
        let target = self.target.clone();
        match std::mem::replace(&mut self.sink, Sink::Committed) {
            Sink::Gathering => {
                let batch = std::mem::take(&mut self.batch);
                tokio::task::spawn_blocking(move || write_small(&batch, &temp, &target))
                    .await
                    .map_err(std::io::Error::other)??;
            }
            Sink::Streaming { file, write, .. } => {
                // Every batch is through, so the stage hands back its writer, which still
                // holds the tail that did not fill a direct-I/O block.
                let WriteStep(mut writer) = write.finish().await?;
                // The tail, fsync, rename and the directory's fsync in one hop to the blocking
                // pool.
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    writer.finish()?;
                    // The writer's handle on the file goes first, so the file closes after the
                    // fsync.
                    drop(writer);
                    file.sync_all()?;
                    drop(file);
                    rename_into_place(&temp, &target)
                })
                .await
                .map_err(std::io::Error::other)??;
            }
            Sink::Committed => return Err(after_commit()),
        }
        self.temp = None;
        Ok(())
    }
}

/// Renames the written and fsynced `temp` to `target` and fsyncs the directory, so the name
/// survives a crash.
fn rename_into_place(temp: &Path, target: &Path) -> std::io::Result<()> {
    let dir = target
        .parent()
        .ok_or_else(|| std::io::Error::other("object path has no parent"))?;
    std::fs::create_dir_all(dir)?;
    std::fs::rename(temp, target)?;
    std::fs::File::open(dir)?.sync_all()
}

/// A small object's whole write: create `temp`, write `chunks`, fsync, rename into place. On
/// failure the temp file is removed here, as no [`DiskWrite`] knows of it.
fn write_small(chunks: &[Bytes], temp: &Path, target: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let written = (|| {
        let mut file = std::fs::File::create(temp)?;
        for chunk in chunks {
            file.write_all(chunk)?;
        }
        file.sync_all()
    })();
    let renamed = written.and_then(|()| rename_into_place(temp, target));
    if renamed.is_err() {
        let _ = std::fs::remove_file(temp);
    }
    renamed
}

impl Drop for DiskWrite {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take().filter(|_| self.temp_created) {
            // An aborted upload must leave nothing behind. A batch still being written goes to
            // the unlinked file, whose space is freed when that write lets go of it.
            self.sink = Sink::Committed;
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn write_through(budget: &'static Semaphore) -> (Vec<u8>, String, Vec<u8>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let (temp, target) = (dir.path().join("part"), dir.path().join("object"));
        let mut write = DiskWrite::with_budget(temp, target.clone(), budget);
        // Not a whole number of direct-I/O blocks: the tail is written at commit.
        let bytes: Vec<u8> = (0..8 * 1024 * 1024 + 5_000u32)
            .map(|i| (i % 251) as u8)
            .collect();
        for chunk in bytes.chunks(16 * 1024) {
            write
                .write(Bytes::copy_from_slice(chunk))
                .await
                .expect("write");
        }
        let md5 = write.finish().await.expect("finish");
        write.commit().await.expect("commit");
        let stored = std::fs::read(&target).expect("object");
        (bytes, md5, stored)
    }

    /// Uploads complete, byte for byte, whatever the shared budget holds, and give back every
    /// extra batch they took.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn uploads_return_the_shared_budget_and_need_none_of_it() {
        static EMPTY: Semaphore = Semaphore::const_new(0);
        static SMALL: Semaphore = Semaphore::const_new(2);
        for budget in [&EMPTY, &SMALL, &SHARED_EXTRA] {
            let before = budget.available_permits();
            let (sent, md5, stored) = write_through(budget).await;
            assert!(
                stored == sent,
                "the stored object differs from the bytes sent"
            );
            assert_eq!(md5, hex::encode(<md5::Md5 as md5::Digest>::digest(&sent)));
            assert_eq!(budget.available_permits(), before);
        }
    }
}
