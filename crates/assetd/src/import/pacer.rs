//! Politeness towards one API's rate limit, shared by every task that calls it.
//!
//! - A 429 makes *every* task wait out its `Retry-After`, not only the one that got it, so a
//!   throttled API sees one request when its window reopens instead of `-j` of them.
//! - `X-RateLimit-Remaining: 0` means the next request would be refused: until a response says
//!   there is room again, calls go one at a time, so at most one of them meets the 429 that
//!   reveals when the window reopens.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a response said about the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    /// The HTTP status.
    pub status: u16,
    /// `X-RateLimit-Remaining`, if sent.
    pub remaining: Option<u64>,
    /// `Retry-After` of a 429, as a wait.
    pub retry_after: Option<Duration>,
}

#[derive(Debug, Default)]
struct Limits {
    not_before: Option<Instant>,
    exhausted: bool,
}

impl Limits {
    /// Folds a response into the limits. Pure apart from the `now` it is given.
    fn observe(&mut self, signal: Signal, now: Instant, fallback: Duration) {
        if signal.status == 429 {
            let until = now + signal.retry_after.unwrap_or(fallback);
            self.not_before = Some(self.not_before.map_or(until, |t| t.max(until)));
            self.exhausted = true;
        } else if let Some(remaining) = signal.remaining {
            self.exhausted = remaining == 0;
        }
    }

    fn wait(&self, now: Instant) -> Duration {
        self.not_before
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now))
    }
}

/// The shared limits of one API.
#[derive(Debug, Default)]
pub struct Pacer {
    limits: Mutex<Limits>,
    single_file: tokio::sync::Mutex<()>,
}

/// Held while a call is in flight that must be the only one (the limit is spent).
pub type Turn<'a> = Option<tokio::sync::MutexGuard<'a, ()>>;

/// The longest a task sleeps before looking at the limits again.
const LOOK_AGAIN: Duration = Duration::from_secs(5);

impl Pacer {
    fn limits(&self) -> std::sync::MutexGuard<'_, Limits> {
        self.limits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until a call may be sent; hold the returned turn until its response is observed.
    pub async fn turn(&self) -> Turn<'_> {
        // Bounded: each wait is at most the remaining Retry-After (itself capped by the
        // caller), looked at again every few seconds.
        for _ in 0..1000 {
            let wait = self.limits().wait(Instant::now());
            if wait.is_zero() {
                break;
            }
            tokio::time::sleep(wait.min(LOOK_AGAIN)).await;
        }
        if self.limits().exhausted {
            let guard = self.single_file.lock().await;
            let wait = self.limits().wait(Instant::now());
            tokio::time::sleep(wait).await;
            return Some(guard);
        }
        None
    }

    /// Records what a response said.
    pub fn observe(&self, signal: Signal, fallback: Duration) {
        self.limits().observe(signal, Instant::now(), fallback);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_holds_everyone_and_remaining_zero_goes_single_file() {
        let now = Instant::now();
        let mut limits = Limits::default();
        let ok = |remaining| Signal {
            status: 200,
            remaining: Some(remaining),
            retry_after: None,
        };
        limits.observe(ok(5), now, Duration::from_secs(1));
        assert!(!limits.exhausted && limits.wait(now).is_zero());
        limits.observe(ok(0), now, Duration::from_secs(1));
        assert!(limits.exhausted && limits.wait(now).is_zero());
        let throttled = Signal {
            status: 429,
            remaining: Some(0),
            retry_after: Some(Duration::from_secs(3)),
        };
        limits.observe(throttled, now, Duration::from_secs(1));
        assert_eq!(limits.wait(now), Duration::from_secs(3));
        // A later, shorter Retry-After does not shorten the wait.
        limits.observe(
            Signal {
                retry_after: Some(Duration::from_secs(1)),
                ..throttled
            },
            now,
            Duration::from_secs(1),
        );
        assert_eq!(limits.wait(now), Duration::from_secs(3));
        assert!(limits.wait(now + Duration::from_secs(4)).is_zero());
        limits.observe(ok(9), now, Duration::from_secs(1));
        assert!(!limits.exhausted);
    }
}
