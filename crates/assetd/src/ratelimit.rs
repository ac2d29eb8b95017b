//! Per-token request limits with Webflow's headers: a fixed one-minute window per key.
//!
//! Webflow documents limits "per minute" with `X-RateLimit-Limit`, `X-RateLimit-Remaining` and,
//! when exceeded, 429 with `Retry-After` (<https://developers.webflow.com/data/reference/rate-limits>).
//!
//! Without Redis the counts live in this process, so with several nodes each enforces its own
//! limit. With `--redis-url` the count of a key is one Redis key shared by every node (INCR and
//! PEXPIRE in one script, so the window starts atomically). If Redis fails, requests are allowed
//! and the failure is logged: an outage of the limiter must not become an outage of the API.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::ids::ObjectId;

/// Webflow's window: limits are "per minute".
pub const WINDOW: Duration = Duration::from_secs(60);
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

/// Counts requests per key in this process.
#[derive(Debug)]
pub struct LocalLimiter {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<RateKey, Window>>,
}

impl LocalLimiter {
    /// A limiter allowing `limit` requests per `window` per key.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
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
            windows.retain(|_, w| now.duration_since(w.started) < self.window);
        }
        let window = windows.entry(key).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(window.started) >= self.window {
            *window = Window {
                started: now,
                count: 0,
            };
        }
        let left = self
            .window
            .saturating_sub(now.duration_since(window.started));
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

impl RateKey {
    fn redis_key(&self) -> String {
        match self {
            Self::Token(id) => format!("assetd:ratelimit:token:{id}"),
            Self::Client(ip) => format!("assetd:ratelimit:client:{ip}"),
        }
    }
}

const REDIS_WINDOW: &str = r#"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"#;

/// Counts requests per key in Redis, shared by every node.
pub struct RedisLimiter {
    limit: u32,
    window: Duration,
    connection: redis::aio::ConnectionManager,
    script: redis::Script,
    /// After Redis failed: until when (milliseconds since `epoch`; 0 while it answers) it is
    /// not asked. Then one request at a time asks it again ([`Self::probing`]), so an outage
    /// costs one request a [`REDIS_RETRY`] the wait for it, not every request.
    down_until_ms: AtomicU64,
    probing: AtomicBool,
    epoch: Instant,
}

/// Why Redis gave no count.
#[derive(Debug)]
enum RedisCheckError {
    /// It failed moments ago, or another request is asking it whether it is back.
    Skipped,
    /// It failed now.
    Failed(redis::RedisError),
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// Connects to Redis at `url`.
    pub async fn connect(
        url: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        // Short timeouts and few reconnect attempts: while Redis is down each request waits at
        // most REDIS_BOUND for it (and is then allowed), instead of riding out the manager's
        // default backoff.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(REDIS_BOUND)
            .set_response_timeout(REDIS_BOUND)
            .set_number_of_retries(1)
            .set_max_delay(100);
        let connection = redis::aio::ConnectionManager::new_with_config(client, config).await?;
        Ok(Self {
            limit,
            window,
            connection,
            script: redis::Script::new(REDIS_WINDOW),
            down_until_ms: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            epoch: Instant::now(),
        })
    }

    fn now_ms(&self) -> u64 {
        // +1: 0 means "Redis answers".
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
    }

    fn failed(&self) {
        let retry = u64::try_from(REDIS_RETRY.as_millis()).unwrap_or(u64::MAX);
        self.down_until_ms
            .store(self.now_ms().saturating_add(retry), Ordering::Release);
    }

    async fn check(&self, key: RateKey) -> Result<RateDecision, RedisCheckError> {
        let down_until = self.down_until_ms.load(Ordering::Acquire);
        if down_until == 0 {
            let decision = self.ask(key).await;
            if decision.is_err() {
                self.failed();
            }
            return decision.map_err(RedisCheckError::Failed);
        }
        if self.now_ms() < down_until || self.probing.swap(true, Ordering::AcqRel) {
            return Err(RedisCheckError::Skipped);
        }
        // This request asks whether Redis is back; the others keep going without it.
        let decision = self.ask(key).await;
        match &decision {
            Ok(_) => self.down_until_ms.store(0, Ordering::Release),
            Err(_) => self.failed(),
        }
        self.probing.store(false, Ordering::Release);
        decision.map_err(RedisCheckError::Failed)
    }

    async fn ask(&self, key: RateKey) -> Result<RateDecision, redis::RedisError> {
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(key.redis_key());
        invocation.arg(self.window.as_millis() as u64);
        let (count, ttl_ms): (u64, i64) =
            tokio::time::timeout(REDIS_BOUND, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| timed_out())??;
        let allowed = count <= u64::from(self.limit);
        let used = u32::try_from(count).unwrap_or(u32::MAX).min(self.limit);
        Ok(RateDecision {
            allowed,
            limit: self.limit,
            remaining: self.limit - used,
            reset_after_secs: (ttl_ms.max(1) as u64).div_ceil(1000),
        })
    }
}

/// The longest a request waits for Redis before it is allowed without it.
pub const REDIS_BOUND: Duration = Duration::from_millis(500);

/// After Redis fails, how long requests are allowed without asking it.
pub const REDIS_RETRY: Duration = Duration::from_secs(1);

fn timed_out() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "Redis did not answer in time",
    ))
}

impl RedisLimiter {
    /// Whether Redis answers a PING within [`REDIS_BOUND`].
    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut connection = self.connection.clone();
        tokio::time::timeout(
            REDIS_BOUND,
            redis::cmd("PING").query_async::<()>(&mut connection),
        )
        .await
        .map_err(|_| timed_out())?
    }
}

/// The limiter in use.
#[derive(Debug)]
pub enum RateLimiter {
    /// Per-process counts.
    Local(LocalLimiter),
    /// Counts shared through Redis.
    Redis(RedisLimiter),
}

impl RateLimiter {
    /// A per-process limiter.
    pub fn local(limit: u32, window: Duration) -> Self {
        Self::Local(LocalLimiter::new(limit, window))
    }

    /// Whether the shared store of counts answers; `None` for per-process counts.
    pub async fn ping(&self) -> Option<Result<(), redis::RedisError>> {
        match self {
            Self::Local(_) => None,
            Self::Redis(redis) => Some(redis.ping().await),
        }
    }

    /// Counts one request by `key`.
    pub async fn check(&self, key: RateKey) -> RateDecision {
        match self {
            Self::Local(local) => local.check(key, Instant::now()),
            Self::Redis(redis) => match redis.check(key).await {
                Ok(decision) => decision,
                Err(e) => {
                    if let RedisCheckError::Failed(e) = e {
                        tracing::warn!(error = %e, "rate limiter unavailable; allowing requests");
                    }
                    RateDecision {
                        allowed: true,
                        limit: redis.limit,
                        remaining: redis.limit,
                        reset_after_secs: redis.window.as_secs(),
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_limit_requests_per_window_then_refuses_until_reset() {
        let limiter = LocalLimiter::new(3, WINDOW);
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
        let limiter = LocalLimiter::new(1, WINDOW);
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
