//! [`BatchStage`]: one step of an upload's pipeline (hashing, or writing to the file), run on
//! the blocking pool over the upload's batches of bytes, in order.
//!
//! A stage holds no thread while it has nothing to do: the first batch pushed to an idle stage
//! starts a job that keeps taking batches while there are any and ends when the queue is empty,
//! so a slow upload costs a short job per batch and a fast one keeps a single job running,
//! without a wake-up per batch. (One job per batch, awaited before the next was handed off,
//! left the hashing thread idle between batches while the request's task woke up.)

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::watch;

/// A batch of received chunks, shared by the stages that read it.
pub type Batch = Arc<Vec<Bytes>>;

/// What a stage does to each batch, with its state (an MD5, a file).
pub trait BatchStep: Send + 'static {
    /// Processes `batch`, the batch after the previous one.
    fn step(&mut self, batch: &[Bytes]) -> std::io::Result<()>;
}

/// How far a stage has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Batches processed.
    pub batches: u64,
    /// Bytes in them.
    pub bytes: u64,
    /// Whether a step failed; batches after a failure are dropped unprocessed.
    pub failed: bool,
}

struct Queue<S> {
    batches: VecDeque<Batch>,
    /// The step's state, `None` while a job is running it.
    step: Option<S>,
    error: Option<std::io::Error>,
}

/// One step over an upload's batches, in push order, off the async runtime.
pub struct BatchStage<S> {
    queue: Arc<Mutex<Queue<S>>>,
    progress: watch::Sender<Progress>,
    pushed: u64,
}

impl<S: BatchStep> BatchStage<S> {
    /// A stage running `step`.
    pub fn new(step: S) -> Self {
        Self {
            queue: Arc::new(Mutex::new(Queue {
                batches: VecDeque::new(),
                step: Some(step),
                error: None,
            })),
            progress: watch::Sender::new(Progress::default()),
            pushed: 0,
        }
    }

    /// Queues `batch`, starting a job if none is running.
    pub fn push(&mut self, batch: Batch) {
        self.pushed += 1;
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.batches.push_back(batch);
        // The state is present exactly when no job is running: take it to start one.
        if let Some(step) = queue.step.take() {
            let (queue, progress) = (Arc::clone(&self.queue), self.progress.clone());
            tokio::task::spawn_blocking(move || run(step, &queue, &progress));
        }
    }

    /// Pushed batches not yet processed.
    pub fn behind(&self) -> u64 {
        self.pushed.saturating_sub(self.progress.borrow().batches)
    }

    /// Waits until at most `behind` pushed batches are still unprocessed.
    pub async fn wait_until_behind(&self, behind: u64) -> std::io::Result<Progress> {
        let target = self.pushed.saturating_sub(behind);
        let mut progress = self.progress.subscribe();
        let reached = progress
            .wait_for(|p| p.failed || p.batches >= target)
            .await
            .map(|p| *p)
            // The sender lives in `self`, so it cannot have closed.
            .map_err(std::io::Error::other)?;
        if reached.failed {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            return Err(queue
                .error
                .take()
                .unwrap_or_else(|| std::io::Error::other("an earlier write failed")));
        }
        Ok(reached)
    }

    /// Waits for every batch, then hands back the step's state.
    pub async fn finish(self) -> std::io::Result<S> {
        self.wait_until_behind(0).await?;
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue
            .step
            .take()
            .ok_or_else(|| std::io::Error::other("stage still running"))
    }
}

/// The job: takes batches until the queue is empty, then puts the state back, which marks the
/// stage idle. The last batch's progress is published under the same lock, after the state is
/// back, so whoever sees every batch processed can take the state.
fn run<S: BatchStep>(mut step: S, queue: &Mutex<Queue<S>>, progress: &watch::Sender<Progress>) {
    let mut next = match queue
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .batches
        .pop_front()
    {
        Some(batch) => batch,
        None => return,
    };
    loop {
        // After a failure the remaining batches are only drained.
        let outcome = if progress.borrow().failed {
            None
        } else {
            Some(step.step(&next))
        };
        let len: usize = next.iter().map(Bytes::len).sum();
        let mut q = queue.lock().unwrap_or_else(PoisonError::into_inner);
        let failed = matches!(outcome, Some(Err(_)));
        if let Some(Err(e)) = outcome {
            q.error = Some(e);
        }
        let publish = |p: &mut Progress| {
            p.batches += 1;
            p.bytes += len as u64;
            p.failed |= failed;
        };
        match q.batches.pop_front() {
            Some(batch) => {
                progress.send_modify(publish);
                next = batch;
            }
            None => {
                q.step = Some(step);
                progress.send_modify(publish);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Keeps every byte it sees; fails on the batch numbered `fail_at`, counting calls.
    struct Collect {
        bytes: Vec<u8>,
        calls: Arc<AtomicUsize>,
        fail_at: Option<usize>,
    }

    impl BatchStep for Collect {
        fn step(&mut self, batch: &[Bytes]) -> std::io::Result<()> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            if Some(call) == self.fail_at {
                return Err(std::io::Error::other("disk full"));
            }
            for chunk in batch {
                self.bytes.extend_from_slice(chunk);
            }
            Ok(())
        }
    }

    fn collect(fail_at: Option<usize>) -> (BatchStage<Collect>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let step = Collect {
            bytes: Vec::new(),
            calls: Arc::clone(&calls),
            fail_at,
        };
        (BatchStage::new(step), calls)
    }

    fn batch(n: u8) -> Batch {
        Arc::new(vec![
            Bytes::from(vec![n; usize::from(n) + 1]),
            Bytes::from(vec![n.wrapping_add(1); 3]),
        ])
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_are_processed_in_order_and_the_state_comes_back() {
        let (mut stage, calls) = collect(None);
        let mut expected = Vec::new();
        for n in 0..200u8 {
            let progress = stage.wait_until_behind(2).await.expect("no failure");
            assert!(progress.batches + 2 >= u64::from(n), "at most 2 behind");
            let b = batch(n);
            for chunk in b.iter() {
                expected.extend_from_slice(chunk);
            }
            stage.push(b);
            if n % 50 == 0 {
                // Let the stage go idle: the next push must start it again.
                stage.wait_until_behind(0).await.expect("no failure");
            }
        }
        let progress = stage.wait_until_behind(0).await.expect("no failure");
        assert_eq!(progress.batches, 200);
        assert_eq!(progress.bytes, expected.len() as u64);
        let state = stage.finish().await.expect("finished");
        assert_eq!(state.bytes, expected);
        assert_eq!(calls.load(Ordering::SeqCst), 200);
    }

    #[tokio::test]
    async fn a_failed_step_is_reported_and_later_batches_are_not_processed() {
        let (mut stage, calls) = collect(Some(2));
        for n in 0..6 {
            stage.push(batch(n));
        }
        let err = stage.wait_until_behind(0).await.expect_err("step 2 failed");
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(calls.load(Ordering::SeqCst), 3, "nothing after the failure");
        assert!(stage.wait_until_behind(0).await.is_err(), "still failed");
        assert!(stage.finish().await.is_err());
    }

    #[tokio::test]
    async fn an_empty_stage_finishes_at_once() {
        let (stage, calls) = collect(None);
        assert!(stage.finish().await.expect("finished").bytes.is_empty());
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
}
