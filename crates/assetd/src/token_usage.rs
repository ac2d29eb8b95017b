//! When each token was last used, without a database write per request: requests note the time
//! in memory, and a background task writes what was noted once a minute (and once more at
//! shutdown). So `last used` is at most a minute late, and a busy token costs one `UPDATE` a
//! minute per node, whatever its request rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::background::Background;
use crate::ids::ObjectId;
use crate::meta::MetaStore;

/// How often the noted uses are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(60);

/// The uses noted since the last write.
#[derive(Debug, Default)]
pub struct TokenUsage {
    noted: Mutex<HashMap<ObjectId, DateTime<Utc>>>,
}

impl TokenUsage {
    /// Notes that `token` was used at `at`.
    pub fn note(&self, token: ObjectId, at: DateTime<Utc>) {
        let mut noted = self.noted.lock().unwrap_or_else(PoisonError::into_inner);
        let last = noted.entry(token).or_insert(at);
        *last = (*last).max(at);
    }

    /// Takes everything noted so far.
    pub fn take(&self) -> Vec<(ObjectId, DateTime<Utc>)> {
        let mut noted = self.noted.lock().unwrap_or_else(PoisonError::into_inner);
        noted.drain().collect()
    }

    /// Writes what was noted. On failure the uses are noted again, for the next write.
    pub async fn flush(&self, meta: &dyn MetaStore) {
        let uses = self.take();
        if uses.is_empty() {
            return;
        }
        if let Err(e) = meta.record_token_use(&uses).await {
            tracing::warn!(error = %e, "cannot record token use; will retry");
            for (token, at) in uses {
                self.note(token, at);
            }
        }
    }
}

/// Writes the noted uses every `every` until `background` stops, then once more.
pub fn spawn(
    usage: Arc<TokenUsage>,
    meta: Arc<dyn MetaStore>,
    every: Duration,
    background: &Background,
) {
    background.spawn(|stop| async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticker.tick() => usage.flush(meta.as_ref()).await,
            }
        }
        usage.flush(meta.as_ref()).await;
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_latest_use_of_each_token_is_kept_until_taken() {
        let usage = TokenUsage::default();
        let (a, b) = (
            ObjectId::generate(Utc::now()),
            ObjectId::generate(Utc::now()),
        );
        let t0 = Utc::now();
        let t1 = t0 + chrono::Duration::seconds(5);
        usage.note(a, t1);
        usage.note(a, t0);
        usage.note(b, t0);
        let mut taken = usage.take();
        taken.sort();
        let mut expected = vec![(a, t1), (b, t0)];
        expected.sort();
        assert_eq!(taken, expected);
        assert!(usage.take().is_empty());
    }
}
