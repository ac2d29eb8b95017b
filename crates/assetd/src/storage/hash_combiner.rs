//! [`HashCombiner`]: the MD5 of concurrent uploads computed side by side.
//!
//! Each upload's hashing stage runs on a blocking-pool thread of its own (see `disk_write.rs`),
//! and one upload's MD5 is a chain of dependent steps that leaves most of a core idle.
//! [`assetd_md5::update_side_by_side`] hashes eight messages in the lanes of the same
//! instructions, so when several uploads have a batch to hash at once, one thread hashes them
//! all together while the others sleep until their batch is done (flat combining: whichever
//! thread finds no one hashing takes the queue). A lone upload is hashed on its own thread as
//! before, with one uncontended lock more per batch.
//!
//! Kept because it saves CPU on the upload path whose goal is missed for lack of CPU (see
//! BENCHMARKS.md), though by less than the lanes alone would suggest: eight threads hashing
//! 1 MiB each in 64 KiB batches (`cargo bench -p assetd --bench hand_tuned`, group
//! `hash_combiner_8x1MiB`), measured 2026-12-06 on AMD EPYC (Zen 4), 2 vCPU: process CPU 9.8–10.2 ms against
//! 11.2–11.6 ms with each upload on its own thread (1.12–1.14×, three runs), wall 9.7–11.7 ms
//! against 10.7–14.4 ms (1.10–1.39×, four runs).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use assetd_md5::Md5;
use bytes::Bytes;

/// Most batches one combining pass takes: enough to keep the eight lanes full twice over
/// while batches end at different points.
const MOST_PER_PASS: usize = 16;

/// Passes a combining thread runs for others once its own batch is done, before it hands the
/// queue to the next waiting thread and goes back to its own upload.
const PASSES_FOR_OTHERS: usize = 4;

/// Batches waiting to be hashed, and whether a thread is hashing.
struct Inner {
    queue: VecDeque<Request>,
    combining: bool,
    /// Passes that hashed more than one batch (for the tests: evidence that batches met).
    shared_passes: u64,
}

/// One upload's batch: its MD5 so far, moved here while the batch is hashed, and where its
/// thread waits.
struct Request {
    md5: Md5,
    batch: Vec<Bytes>,
    slot: Arc<Slot>,
}

/// What a waiting thread is told.
enum Turn {
    Waiting,
    /// Its batch is at the head of the queue and no one is hashing: it hashes next.
    Combine,
    Done(Md5),
}

/// A waiting thread's own lock and condition, so a pass wakes only the threads whose batch it
/// hashed (a shared condition would wake every waiting upload after every pass).
struct Slot {
    turn: Mutex<Turn>,
    changed: Condvar,
}

impl Slot {
    fn tell(&self, turn: Turn) {
        *self.turn.lock().unwrap_or_else(PoisonError::into_inner) = turn;
        self.changed.notify_one();
    }

    /// Waits for a turn other than `Waiting`, and takes it.
    fn wait(&self) -> Turn {
        let mut turn = self.turn.lock().unwrap_or_else(PoisonError::into_inner);
        while matches!(*turn, Turn::Waiting) {
            turn = self
                .changed
                .wait(turn)
                .unwrap_or_else(PoisonError::into_inner);
        }
        std::mem::replace(&mut *turn, Turn::Waiting)
    }
}

/// Hashes the batches of concurrent uploads together.
pub struct HashCombiner {
    inner: Mutex<Inner>,
}

impl Default for HashCombiner {
    fn default() -> Self {
        Self::new()
    }
}

impl HashCombiner {
    /// A combiner with nothing queued.
    pub const fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                combining: false,
                shared_passes: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `batch` to `md5`, as `md5.update` on each chunk would, possibly together with other
    /// uploads' batches. Blocks until it is done: call it on a blocking-pool thread.
    pub fn update(&self, md5: &mut Md5, batch: &[Bytes]) {
        let slot = Arc::new(Slot {
            turn: Mutex::new(Turn::Waiting),
            changed: Condvar::new(),
        });
        let mut inner = self.lock();
        inner.queue.push_back(Request {
            md5: std::mem::take(md5),
            batch: batch.to_vec(),
            slot: Arc::clone(&slot),
        });
        if inner.combining {
            drop(inner);
            match slot.wait() {
                Turn::Done(done) => {
                    *md5 = done;
                    return;
                }
                Turn::Combine | Turn::Waiting => inner = self.lock(),
            }
        }
        inner.combining = true;
        let mut own = None;
        let mut passes_after_own = 0;
        while !inner.queue.is_empty() && (own.is_none() || passes_after_own < PASSES_FOR_OTHERS) {
            let take = inner.queue.len().min(MOST_PER_PASS);
            let mut pass: Vec<Request> = inner.queue.drain(..take).collect();
            drop(inner);
            assetd_md5::update_side_by_side(
                pass.iter_mut()
                    .map(|r| (&mut r.md5, &r.batch[..]))
                    .collect(),
            );
            let shared = pass.len() > 1;
            if own.is_some() {
                passes_after_own += 1;
            }
            for request in pass {
                if Arc::ptr_eq(&request.slot, &slot) {
                    own = Some(request.md5);
                } else {
                    request.slot.tell(Turn::Done(request.md5));
                }
            }
            inner = self.lock();
            inner.shared_passes += u64::from(shared);
        }
        // Whoever queued first among those left hashes next; with no one left, no one does.
        match inner.queue.front() {
            Some(next) => next.slot.tell(Turn::Combine),
            None => inner.combining = false,
        }
        drop(inner);
        // The loop ran until the own batch was done: it was queued before the loop began, and
        // only the combining thread takes from the queue. (Were it ever not, `md5` would stay
        // empty and the upload would fail its digest check: refused, never stored wrongly.)
        if let Some(done) = own {
            *md5 = done;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(seed: u32, len: usize) -> Vec<Bytes> {
        let bytes: Vec<u8> = (0..len)
            .map(|i| {
                (i as u32)
                    .wrapping_mul(2_654_435_761 ^ seed)
                    .rotate_left(seed % 31) as u8
            })
            .collect();
        // Chunks of uneven sizes, as they come off a socket.
        bytes
            .chunks(1 + (seed as usize * 977) % 20_000)
            .map(Bytes::copy_from_slice)
            .collect()
    }

    #[test]
    fn concurrent_uploads_get_their_own_digests() {
        let combiner = Arc::new(HashCombiner::new());
        let threads: Vec<_> = (0..24u32)
            .map(|seed| {
                let combiner = Arc::clone(&combiner);
                std::thread::spawn(move || {
                    let mut md5 = Md5::new();
                    let mut whole = Vec::new();
                    for batch in 0..20 {
                        let batch = chunks(seed * 100 + batch, 40_000 + seed as usize * 531);
                        combiner.update(&mut md5, &batch);
                        whole.extend(batch.iter().flat_map(|c| c.iter().copied()));
                    }
                    (md5.finalize(), Md5::digest(&whole))
                })
            })
            .collect();
        for thread in threads {
            let (combined, alone) = thread.join().expect("no panic");
            assert_eq!(combined, alone);
        }
        let inner = combiner.lock();
        assert!(inner.queue.is_empty() && !inner.combining);
        assert!(inner.shared_passes > 0, "24 threads never met in a pass");
    }

    #[test]
    fn a_lone_upload_is_hashed_on_its_own_thread() {
        let combiner = HashCombiner::new();
        let mut md5 = Md5::new();
        md5.update(b"held");
        combiner.update(
            &mut md5,
            &[Bytes::from_static(b"a"), Bytes::from_static(b"bc")],
        );
        assert_eq!(md5.finalize(), Md5::digest(b"heldabc"));
    }
}
