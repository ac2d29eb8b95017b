//! Per-token request limits with Webflow's headers: a fixed one-minute window per key.
//!
//! Webflow documents limits "per minute" with `X-RateLimit-Limit`, `X-RateLimit-Remaining` and,
//! when exceeded, 429 with `Retry-After` (<https://developers.webflow.com/data/reference/rate-limits>).
//! The state is in this process: with several nodes each enforces its own count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::ids::ObjectId;

const WINDOW: Duration = Duration::from_secs(60);
/// Past this many keys, windows that have ended are dropped, so memory stays bounded by the
/// number of clients active within one minute.
const PRUNE_ABOVE: usize = 4096;

/// Who a request is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKey {
    /// An authenticated token.
    Token(ObjectId),
    /// An unauthenticated client, by address (so guessing tokens is limited too).
    Client(IpAddr),
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The limit per window.
    pub limit: u32,
    /// Requests left in this window.
    pub remaining: u32,
    /// Whole seconds until the window resets (at least 1).
    pub reset_after_secs: u64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

/// Counts requests per key.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    windows: Mutex<HashMap<RateKey, Window>>,
}

impl RateLimiter {
    /// A limiter allowing `limit` requests per minute per key.
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request by `key` at `now`.
    pub fn check(&self, key: RateKey, now: Instant) -> RateDecision {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, w| now.duration_since(w.started) < WINDOW);
        }
        let window = windows.entry(key).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(window.started) >= WINDOW {
            *window = Window {
                started: now,
                count: 0,
            };
        }
        let left = WINDOW.saturating_sub(now.duration_since(window.started));
        let reset_after_secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        let allowed = window.count < self.limit;
        if allowed {
            window.count += 1;
        }
        RateDecision {
            allowed,
            limit: self.limit,
            remaining: self.limit - window.count,
            reset_after_secs: reset_after_secs.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_limit_requests_per_window_then_refuses_until_reset() {
        let limiter = RateLimiter::new(3);
        let key = RateKey::Client(IpAddr::from([127, 0, 0, 1]));
        let t0 = Instant::now();
        let remaining: Vec<u32> = (0..3).map(|_| limiter.check(key, t0).remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.check(key, t0 + Duration::from_secs(20));
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.reset_after_secs, 40);
        let next = limiter.check(key, t0 + WINDOW);
        assert!(next.allowed);
        assert_eq!(next.remaining, 2);
    }

    #[test]
    fn keys_are_counted_separately() {
        let limiter = RateLimiter::new(1);
        let now = Instant::now();
        assert!(
            limiter
                .check(RateKey::Client(IpAddr::from([10, 0, 0, 1])), now)
                .allowed
        );
        assert!(
            limiter
                .check(RateKey::Client(IpAddr::from([10, 0, 0, 2])), now)
                .allowed
        );
        assert!(
            !limiter
                .check(RateKey::Client(IpAddr::from([10, 0, 0, 1])), now)
                .allowed
        );
    }
}
