//! The webhooks' delivery status, gathered in memory as attempts end and written a few times a
//! second, one statement per webhook ([`StatusBook::take`] → `MetaStore::report_delivery_status`).
//!
//! Why not with each attempt: every delivery of a webhook would update the webhook's one row,
//! and concurrent deliveries would take turns at its lock for the length of a commit. On
//! PostgreSQL that row lock was the most frequent wait of a 200 events/s run (2026-12-06, AMD
//! EPYC, 2 vCPU, `pg_stat_activity` sampled). Latency did not show a clear difference either way
//! in interleaved runs on that busy machine (`bench/webhooks.py`, p99 19–172 ms before, 21–75 ms
//! after): the change stands for the writes it saves (one UPDATE per delivery fewer). The
//! status is for people; the outbox rows, which carry delivery itself, are still written per
//! attempt. A crash loses at most the last interval's counts.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::ids::ObjectId;
use crate::meta::StatusReport;

/// How an attempt ended, for the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// 2xx.
    Delivered(u16),
    /// Failed, to be retried.
    Failed(Option<u16>, String),
    /// Failed, and given up.
    GaveUp(Option<u16>, String),
}

/// Status changes not yet written, per webhook.
#[derive(Debug, Default)]
pub struct StatusBook(Mutex<HashMap<ObjectId, StatusReport>>);

impl StatusBook {
    /// Notes that an attempt of `event` to `webhook` ended at `at`.
    pub fn note(&self, webhook: ObjectId, event: ObjectId, ended: Ended, at: DateTime<Utc>) {
        let mut book = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let report = book.entry(webhook).or_insert_with(|| StatusReport {
            webhook_id: webhook,
            delivered: 0,
            given_up: 0,
            succeeded: false,
            failures: 0,
            last_triggered: None,
            last_attempt_at: at,
            last_status: None,
            last_error: None,
            last_event_id: event,
        });
        // Attempts end out of order by a few milliseconds; the latest end is "the last".
        let latest = at >= report.last_attempt_at;
        let (status, error) = match ended {
            Ended::Delivered(status) => {
                report.delivered += 1;
                if report.last_triggered.is_none_or(|t| t < at) {
                    report.last_triggered = Some(at);
                    report.succeeded = true;
                    report.failures = 0;
                }
                (Some(status), None)
            }
            Ended::Failed(status, error) => {
                report.failures += 1;
                (status, Some(error))
            }
            Ended::GaveUp(status, error) => {
                report.failures += 1;
                report.given_up += 1;
                (status, Some(error))
            }
        };
        if latest {
            report.last_attempt_at = at;
            report.last_status = status.map(i64::from);
            report.last_error = error;
            report.last_event_id = event;
        }
    }

    /// Everything noted since the last call.
    pub fn take(&self) -> Vec<StatusReport> {
        let mut book = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        book.drain().map(|(_, report)| report).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_resets_the_failures_before_it() {
        let book = StatusBook::default();
        let t = DateTime::from_timestamp(1_000, 0).expect("valid");
        let (hook, a, b) = (
            ObjectId::generate(t),
            ObjectId::generate(t),
            ObjectId::generate(t),
        );
        let later = |s| t + chrono::Duration::seconds(s);
        book.note(hook, a, Ended::Failed(Some(503), "down".into()), t);
        book.note(hook, a, Ended::Delivered(200), later(1));
        book.note(hook, b, Ended::Failed(None, "timed out".into()), later(2));
        let reports = book.take();
        assert_eq!(reports.len(), 1);
        let report = &reports[0];
        assert_eq!((report.delivered, report.failures), (1, 1));
        assert!(report.succeeded);
        assert_eq!(report.last_triggered, Some(later(1)));
        assert_eq!(report.last_event_id, b);
        assert_eq!(report.last_status, None);
        assert_eq!(report.last_error.as_deref(), Some("timed out"));
        assert!(book.take().is_empty());
        // Failures alone add to what was stored; a give-up counts too.
        book.note(hook, b, Ended::GaveUp(Some(500), "x".into()), later(3));
        let report = &book.take()[0];
        assert!(!report.succeeded);
        assert_eq!((report.failures, report.given_up), (1, 1));
    }
}
