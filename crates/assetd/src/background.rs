//! The service's background tasks (the sweep, the variant workers, the confirmer), stopped
//! together: each is told to stop through one token, finishes what it is doing (a sweep pass, a
//! variant job, a check whose HEAD has answered), and is awaited. `assetd serve` stops them after the HTTP drain, then closes the metadata
//! store (which commits its queued inserts and stops its own tasks).

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A set of background tasks and the token that stops them.
#[derive(Debug, Clone, Default)]
pub struct Background {
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Background {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task(stop)`; the task returns once `stop` is cancelled.
    pub fn spawn<F>(&self, task: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task(self.stop.clone()));
    }

    /// Tells every task to stop and waits up to `patience` for them; returns whether they all
    /// stopped in time.
    pub async fn stop(&self, patience: Duration) -> bool {
        self.stop.cancel();
        self.tasks.close();
        tokio::time::timeout(patience, self.tasks.wait())
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_task_is_told_to_stop_and_awaited() {
        let background = Background::new();
        let finished = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for _ in 0..3 {
            let finished = finished.clone();
            background.spawn(|stop| async move {
                stop.cancelled().await;
                // Work after the signal still completes before `stop` returns.
                tokio::time::sleep(Duration::from_millis(20)).await;
                finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        assert!(background.stop(Duration::from_secs(5)).await);
        assert_eq!(finished.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_task_that_ignores_the_signal_is_reported() {
        let background = Background::new();
        background.spawn(|_stop| std::future::pending::<()>());
        assert!(!background.stop(Duration::from_millis(50)).await);
    }
}
