//! Asset webhook delivery: a background worker that takes due events from the outbox (written
//! in the transaction of each change, see `meta::webhooks`), sends each one signed as Webflow
//! signs its own, and records the outcome.
//!
//! - **At least once, nothing lost.** An event leaves the outbox only when its receiver answered
//!   2xx or its delivery was given up ([`schedule`]: backoff from 5 s doubling to an hour, given
//!   up 24 h after the event). A node that stops mid-attempt gives its leases back; one that
//!   dies leaves them to expire (the lease is the attempt's timeout plus 30 s), and the event is
//!   sent again: a receiver can see an event twice, and tells by `x-assetd-event-id`.
//! - **One sender per event at a time.** A worker leases rows before sending (PostgreSQL: `FOR
//!   UPDATE SKIP LOCKED`), so nodes sharing a database never send one event concurrently.
//! - **Slow receivers slow nobody else.** Requests run beside the API on their own tasks, at
//!   most `--webhook-concurrency` at once, each ending within `--webhook-timeout-secs`; after a
//!   failure a webhook's other due events wait for its next attempt time, so a dead receiver
//!   takes one slot per backoff step rather than all of them.

pub mod schedule;
pub mod send;
pub mod status;
pub mod target;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::background::Background;
use crate::meta::{Delivery, DeliveryOutcome, MetaStore};
use crate::urls::UrlPlan;
use crate::webhook_events::render;
use schedule::RetrySchedule;
use send::{Attempt, Sender};
use status::{Ended, StatusBook};

pub use crate::config::WebhookSettings;

/// How often an idle worker looks for events queued by other nodes or due for a retry.
const POLL: Duration = Duration::from_millis(500);
/// How often the webhooks' delivery status is written (see [`status`]).
const STATUS_EVERY: Duration = Duration::from_millis(250);

/// What the worker works with.
#[derive(Clone)]
pub struct WebhookWork {
    /// The outbox and the webhooks.
    pub meta: Arc<dyn MetaStore>,
    /// Public URLs, for the payloads' `hostedUrl`.
    pub urls: UrlPlan,
    /// Limits, timeouts, retries and the address policy.
    pub settings: WebhookSettings,
    /// Counts attempts and times deliveries.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Why the worker could not start.
#[derive(Debug, thiserror::Error)]
#[error("webhook HTTP client: {0}")]
pub struct StartError(#[from] reqwest::Error);

/// Starts the delivery worker; it runs until `background` is stopped, then gives back the
/// leases of attempts under way and returns.
pub fn spawn(work: WebhookWork, background: &Background) -> Result<(), StartError> {
    let sender = Sender::new(Arc::new(work.settings.allow.clone()), work.settings.timeout)?;
    let worker = Arc::new(Worker {
        work,
        sender,
        status: StatusBook::default(),
    });
    background.spawn(|stop| worker.run(stop));
    Ok(())
}

struct Worker {
    work: WebhookWork,
    sender: Sender,
    status: StatusBook,
}

impl Worker {
    fn schedule(&self) -> RetrySchedule {
        let s = &self.work.settings;
        RetrySchedule {
            base: s.retry_base,
            max: s.retry_max,
            give_up_after: s.give_up_after,
        }
    }

    async fn run(self: Arc<Self>, stop: CancellationToken) {
        let signal = self.work.meta.outbox_signal();
        let slots = Arc::new(Semaphore::new(self.work.settings.concurrency.max(1)));
        let attempts = TaskTracker::new();
        // Past a crash, an attempt's lease outlives it by this much.
        let lease = self.work.settings.timeout + Duration::from_secs(30);
        // Its own task: a status write waiting on the database must not hold up claims.
        let status_writer = {
            let (worker, stop) = (self.clone(), stop.clone());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(STATUS_EVERY);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        _ = every.tick() => worker.write_status().await,
                    }
                }
            })
        };
        loop {
            let free = slots.available_permits();
            let mut full = false;
            if free > 0 {
                let now = Utc::now();
                let until = now + chrono::Duration::from_std(lease).unwrap_or_default();
                match self
                    .work
                    .meta
                    .claim_deliveries(now, until, i64::try_from(free).unwrap_or(1))
                    .await
                {
                    Ok(batch) => {
                        full = batch.len() == free;
                        for delivery in batch {
                            let Ok(slot) = slots.clone().try_acquire_owned() else {
                                // Cannot happen (only this loop takes slots); give it back.
                                let _ = self.work.meta.release_delivery(&delivery).await;
                                continue;
                            };
                            let (worker, stop) = (self.clone(), stop.clone());
                            attempts.spawn(async move {
                                worker.deliver(delivery, stop).await;
                                drop(slot);
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "claiming webhook deliveries failed"),
                }
            }
            if full {
                // More may be due: claim again as soon as a slot frees up.
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = slots.clone().acquire_owned() => continue,
                }
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = signal.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
        attempts.close();
        attempts.wait().await;
        if let Err(e) = status_writer.await {
            tracing::warn!(error = %e, "the webhook status writer failed");
        }
        // What the last attempts noted.
        self.write_status().await;
    }

    /// Writes the status noted since the last time (kept for the next time if that fails).
    async fn write_status(&self) {
        let reports = self.status.take();
        if reports.is_empty() {
            return;
        }
        if let Err(e) = self.work.meta.report_delivery_status(&reports).await {
            tracing::warn!(error = %e, "writing webhook delivery status failed");
        }
    }

    /// One attempt and its record; stopped midway, the lease is given back.
    async fn deliver(&self, delivery: Delivery, stop: CancellationToken) {
        let attempt = tokio::select! {
            () = stop.cancelled() => {
                if let Err(e) = self.work.meta.release_delivery(&delivery).await {
                    tracing::warn!(error = %e, "giving back a webhook delivery failed; its lease expires");
                }
                return;
            }
            attempt = self.attempt(&delivery) => attempt,
        };
        let now = Utc::now();
        let (outcome, error, ended);
        match &attempt {
            Attempt::Delivered(status) => {
                outcome = DeliveryOutcome::Delivered { status: *status };
                ended = Ended::Delivered(*status);
                let lag = (now - delivery.created_at).to_std().ok();
                self.work.metrics.webhook_attempt("delivered", lag);
            }
            Attempt::Failed { status, error: why } => {
                error = why.clone();
                let retry_at =
                    self.schedule()
                        .next_attempt(delivery.attempts, delivery.created_at, now);
                self.work.metrics.webhook_attempt(
                    if retry_at.is_some() {
                        "failed"
                    } else {
                        "given_up"
                    },
                    None,
                );
                if retry_at.is_none() {
                    tracing::warn!(webhook = %delivery.webhook_id, event = %delivery.event_id,
                        error = %error, "webhook delivery given up");
                }
                ended = if retry_at.is_some() {
                    Ended::Failed(*status, error.clone())
                } else {
                    Ended::GaveUp(*status, error.clone())
                };
                outcome = DeliveryOutcome::Failed {
                    status: *status,
                    error: &error,
                    retry_at,
                };
            }
        }
        self.status
            .note(delivery.webhook_id, delivery.event_id, ended, now);
        if let Err(e) = self
            .work
            .meta
            .finish_delivery(&delivery, outcome, now)
            .await
        {
            // The lease expires and the event is sent again: at least once.
            tracing::warn!(error = %e, "recording a webhook delivery failed");
        }
    }

    async fn attempt(&self, delivery: &Delivery) -> Attempt {
        let body = match render(delivery.trigger, &delivery.snapshot, &self.work.urls) {
            Ok(body) => body,
            Err(e) => {
                return Attempt::Failed {
                    status: None,
                    error: e.to_string(),
                };
            }
        };
        self.sender
            .send(
                &delivery.url,
                body,
                &delivery.secret,
                Utc::now().timestamp_millis(),
                &delivery.event_id.to_string(),
                delivery.attempts,
            )
            .await
    }
}
