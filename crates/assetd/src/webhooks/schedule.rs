//! When a failed delivery is tried again, and when it is given up: exponential backoff from
//! `base` (doubling per failed attempt, no jitter: the outbox row's `next_attempt_at` spreads
//! nothing that arrives at once anyway, since a failing webhook's events wait together), capped
//! at `max`, until `give_up_after` has passed since the event.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The retry schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// Wait after the first failed attempt.
    pub base: Duration,
    /// Longest wait between two attempts.
    pub max: Duration,
    /// How long after the event delivery is given up.
    pub give_up_after: Duration,
}

impl Default for RetrySchedule {
    /// 5 s, 10 s, 20 s … doubling up to an hour between attempts; given up 24 hours after the
    /// event (about 30 attempts).
    fn default() -> Self {
        Self {
            base: Duration::from_secs(5),
            max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetrySchedule {
    /// When to try again after the `attempts`-th attempt (1-based) failed at `now`, for an event
    /// of `created_at`; `None`: give up.
    pub fn next_attempt(
        &self,
        attempts: i64,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let wait = self
            .base
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.max);
        let at = now + chrono::Duration::from_std(wait).ok()?;
        let deadline = created_at + chrono::Duration::from_std(self.give_up_after).ok()?;
        (at <= deadline).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_then_gives_up() {
        let schedule = RetrySchedule::default();
        let created = DateTime::from_timestamp(1_000_000, 0).expect("valid");
        let wait = |attempts, now: DateTime<Utc>| {
            schedule
                .next_attempt(attempts, created, now)
                .map(|at| (at - now).num_seconds())
        };
        assert_eq!(wait(1, created), Some(5));
        assert_eq!(wait(2, created), Some(10));
        assert_eq!(wait(4, created), Some(40));
        assert_eq!(wait(20, created), Some(3600));
        assert_eq!(wait(1000, created), Some(3600));
        // The next attempt would fall after the 24 hours.
        let late = created + chrono::Duration::hours(23) + chrono::Duration::minutes(30);
        assert_eq!(wait(20, late), None);
        assert_eq!(wait(1, late), Some(5));
    }
}
