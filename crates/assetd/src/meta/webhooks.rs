//! Webhooks and their outbox in the SQL layer: the webhook records, the events queued in the
//! transaction of the change that caused them, and the leases delivery workers take on them.
//!
//! An event is one row per webhook listening for it (`webhook_outbox`), inserted with an
//! `INSERT … SELECT` over the site's webhooks in the caller's transaction: it commits with the
//! change or not at all, so nothing is lost and nothing invented. Writers call [`enqueue`] (or
//! [`enqueue_asset_event`], [`enqueue_folder_event`]) with their open write transaction.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};

use super::dialect::Dialect;
use super::rows::{self, SqlRow, decode_error};
use super::sql::{SqlMeta, is_foreign_key_violation};
use super::{
    Asset, Delivery, DeliveryOutcome, DeliveryStatus, Folder, MetaError, Page, PageRequest,
    StatusReport, Webhook,
};
use crate::ids::ObjectId;
use crate::timestamp::{from_millis, to_millis};
use crate::webhook_events::{AssetSnapshot, FolderChange, FolderSnapshot, Trigger};
use crate::webhook_signature::SigningSecret;

/// An event to queue for every webhook of `site` listening for `trigger`.
#[derive(Debug, Clone, Copy)]
pub struct OutboxEvent<'a> {
    /// The event's id (shared by its deliveries; sent as `x-assetd-event-id`).
    pub id: ObjectId,
    /// The site it happened in.
    pub site: ObjectId,
    /// What happened.
    pub trigger: Trigger,
    /// The snapshot of the asset or folder (see [`crate::webhook_events`]).
    pub snapshot: &'a str,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// Queues `event` for every webhook of its site listening for it, on `conn` (the caller's
/// write transaction). Returns how many deliveries were queued (0 when nobody listens).
pub async fn enqueue<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    event: &OutboxEvent<'_>,
) -> Result<u64, MetaError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
{
    let queued = sqlx::query(
        "INSERT INTO webhook_outbox (event_id, webhook_id, trigger_type, payload, created_at, \
         next_attempt_at) SELECT $1, id, trigger_type, $2, $3, $3 FROM webhooks \
         WHERE site_id = $4 AND trigger_type = $5",
    )
    .bind(event.id.to_string())
    .bind(event.snapshot)
    .bind(to_millis(event.at))
    .bind(event.site.to_string())
    .bind(event.trigger.as_str())
    .execute(conn)
    .await?;
    Ok(D::rows_affected(&queued))
}

/// Queues an asset event (`asset_created`, `asset_changed`, `asset_replaced`,
/// `asset_deleted`) carrying `asset` as it is now, inside the caller's write transaction.
///
/// The replace endpoint calls this with [`Trigger::AssetReplaced`] and the replaced asset's new
/// row, before committing.
pub async fn enqueue_asset_event<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    trigger: Trigger,
    asset: &Asset,
    now: DateTime<Utc>,
) -> Result<u64, MetaError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
{
    let snapshot = serde_json::to_string(&asset_snapshot(asset))
        .map_err(|e| MetaError::Backend(sqlx::Error::Encode(Box::new(e))))?;
    enqueue::<D>(
        conn,
        &OutboxEvent {
            id: ObjectId::generate(now),
            site: asset.site_id,
            trigger,
            snapshot: &snapshot,
            at: now,
        },
    )
    .await
}

/// Queues an `asset_folder_changed` event for `folder` (as it is now, or was before its
/// deletion), inside the caller's write transaction.
pub async fn enqueue_folder_event<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    folder: &Folder,
    change: FolderChange,
    now: DateTime<Utc>,
) -> Result<u64, MetaError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
{
    let snapshot = serde_json::to_string(&FolderSnapshot {
        id: folder.id,
        site_id: folder.site_id,
        parent_folder: folder.parent_folder,
        display_name: folder.display_name.clone(),
        created_on: to_millis(folder.created_on),
        last_updated: to_millis(folder.last_updated),
        change,
    })
    .map_err(|e| MetaError::Backend(sqlx::Error::Encode(Box::new(e))))?;
    enqueue::<D>(
        conn,
        &OutboxEvent {
            id: ObjectId::generate(now),
            site: folder.site_id,
            trigger: Trigger::AssetFolderChanged,
            snapshot: &snapshot,
            at: now,
        },
    )
    .await
}

/// Whether any webhook of `site` listens for `trigger` (so a writer can skip reading the rows
/// an event would carry).
pub async fn listened<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    site: &str,
    trigger: Trigger,
) -> Result<bool, MetaError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
{
    let found: Option<String> = sqlx::query_scalar(
        "SELECT id FROM webhooks WHERE site_id = $1 AND trigger_type = $2 LIMIT 1",
    )
    .bind(site)
    .bind(trigger.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// The snapshot an asset event carries.
pub fn asset_snapshot(asset: &Asset) -> AssetSnapshot {
    AssetSnapshot {
        id: asset.id,
        site_id: asset.site_id,
        folder_id: asset.folder_id,
        original_file_name: asset.original_file_name.clone(),
        display_name: asset.display_name.clone(),
        alt_text: asset.alt_text.clone(),
        content_type: asset.content_type.clone(),
        storage_key: asset.storage_key.clone(),
        size: asset.size,
        created_on: to_millis(asset.created_on),
        last_updated: to_millis(asset.last_updated),
    }
}

/// A trigger column.
fn trigger<R>(row: &R, column: &str) -> Result<Trigger, MetaError>
where
    R: SqlRow,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let text: String = row.try_get(column)?;
    text.parse().map_err(decode_error)
}

/// A `webhooks` row with its `pending` count.
fn webhook<R, DB>(row: &R) -> Result<Webhook, MetaError>
where
    DB: Database,
    R: SqlRow<Database = DB>,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> Option<i64>: Decode<'r, DB> + Type<DB>,
{
    let millis = |column| -> Result<Option<DateTime<Utc>>, MetaError> {
        let at: Option<i64> = row.try_get(column)?;
        Ok(at.map(from_millis))
    };
    Ok(Webhook {
        id: rows::id(row, "id")?,
        site_id: rows::id(row, "site_id")?,
        trigger: trigger(row, "trigger_type")?,
        url: row.try_get("url")?,
        secret: SigningSecret::new(row.try_get("secret")?),
        created_on: from_millis(row.try_get("created_on")?),
        status: DeliveryStatus {
            last_triggered: millis("last_triggered")?,
            last_attempt_at: millis("last_attempt_at")?,
            last_status: row.try_get("last_status")?,
            last_error: row.try_get("last_error")?,
            last_event_id: rows::optional_id(row, "last_event_id")?,
            failures: row.try_get("failures")?,
            delivered: row.try_get("delivered")?,
            given_up: row.try_get("given_up")?,
            pending: row.try_get("pending")?,
        },
    })
}

/// Most webhooks a site may have per trigger type (Webflow: "Limit of 75 registrations per
/// `triggerType`, per site").
pub const WEBHOOKS_PER_TRIGGER: i64 = 75;

/// A webhook's columns and its count of undelivered events.
const WEBHOOK_COLUMNS: &str = "w.*, (SELECT COUNT(*) FROM webhook_outbox o \
     WHERE o.webhook_id = w.id) AS pending";

impl<D: Dialect> SqlMeta<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'c> &'c str: ColumnIndex<<D::Db as Database>::Row>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> bool: Encode<'q, D::Db> + Type<D::Db>,
{
    pub(super) async fn insert_webhook(&self, webhook: &Webhook) -> Result<(), MetaError> {
        // Not for a site being deleted (a token's cached grant may still show it): its
        // deletion removed its webhooks already, and one made now would hear that deletion.
        let full: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM webhooks WHERE site_id = $1 AND trigger_type = $2",
        )
        .bind(webhook.site_id.to_string())
        .bind(webhook.trigger.as_str())
        .fetch_one(&self.pool)
        .await?;
        // Webflow's limit. Counted, then inserted: concurrent creates may pass it by a few,
        // which costs nothing but their deliveries.
        if full >= WEBHOOKS_PER_TRIGGER {
            return Err(MetaError::Conflict(format!(
                "a site has at most {WEBHOOKS_PER_TRIGGER} webhooks per trigger type"
            )));
        }
        let inserted = sqlx::query(
            "INSERT INTO webhooks (id, site_id, trigger_type, url, secret, created_on) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS \
             (SELECT 1 FROM sites WHERE id = $2 AND deleting_since IS NOT NULL)",
        )
        .bind(webhook.id.to_string())
        .bind(webhook.site_id.to_string())
        .bind(webhook.trigger.as_str())
        .bind(webhook.url.as_str())
        .bind(webhook.secret.expose())
        .bind(to_millis(webhook.created_on))
        .execute(&self.pool)
        .await;
        match inserted {
            Err(e) if is_foreign_key_violation(&e) => Err(MetaError::UnknownSite(webhook.site_id)),
            Ok(done) if D::rows_affected(&done) == 0 => {
                Err(MetaError::UnknownSite(webhook.site_id))
            }
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    pub(super) async fn page_of_webhooks(
        &self,
        site: ObjectId,
        page: PageRequest,
    ) -> Result<Page<Webhook>, MetaError> {
        let site = site.to_string();
        let items = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks w WHERE site_id = $1 \
             ORDER BY created_on, id LIMIT $2 OFFSET $3"
        ))
        .bind(site.as_str())
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(webhook)
        .collect::<Result<_, _>>()?;
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM webhooks WHERE site_id = $1")
            .bind(site.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(Page { items, total })
    }

    pub(super) async fn one_webhook(&self, id: ObjectId) -> Result<Option<Webhook>, MetaError> {
        sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks w WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(webhook)
        .transpose()
    }

    pub(super) async fn remove_webhook(&self, id: ObjectId) -> Result<bool, MetaError> {
        // The outbox rows go with it (ON DELETE CASCADE).
        let deleted = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(D::rows_affected(&deleted) == 1)
    }

    pub(super) async fn lease_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Delivery>, MetaError> {
        // Look first, write only when something is due: an idle worker polling must not take
        // SQLite's one write lock away from uploads.
        let due: Option<String> = sqlx::query_scalar(
            "SELECT event_id FROM webhook_outbox WHERE next_attempt_at <= $1 \
             AND lease_until <= $1 LIMIT 1",
        )
        .bind(to_millis(now))
        .fetch_optional(&self.pool)
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        // SKIP LOCKED: nodes claiming at once take different rows instead of queueing on the
        // same ones; the outer `lease_until` test makes a row leased meanwhile stay unclaimed.
        let skip = if D::ROW_LOCKS {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let claimed = sqlx::query(&format!(
            "UPDATE webhook_outbox SET lease_until = $1, attempts = attempts + 1 \
             WHERE (event_id, webhook_id) IN (SELECT event_id, webhook_id FROM webhook_outbox \
               WHERE next_attempt_at <= $2 AND lease_until <= $2 \
               ORDER BY next_attempt_at LIMIT $3{skip}) \
             AND lease_until <= $2 \
             RETURNING event_id, webhook_id, trigger_type, payload, created_at, attempts"
        ))
        .bind(to_millis(lease_until))
        .bind(to_millis(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let mut hooks: Vec<ObjectId> = claimed
            .iter()
            .map(|row| rows::id(row, "webhook_id"))
            .collect::<Result<_, _>>()?;
        hooks.sort_unstable();
        hooks.dedup();
        let targets: Vec<(String, String, String)> = sqlx::query_as(&format!(
            "SELECT id, url, secret FROM webhooks WHERE id{}",
            D::IN_ID_LIST
        ))
        .bind(D::id_list(&hooks)?)
        .fetch_all(&self.pool)
        .await?;
        let mut deliveries = Vec::with_capacity(claimed.len());
        for row in &claimed {
            let webhook_id = rows::id(row, "webhook_id")?;
            // A webhook deleted since the claim took its rows with it.
            let Some((_, url, secret)) = targets.iter().find(|(id, _, _)| {
                id.parse::<ObjectId>()
                    .is_ok_and(|parsed| parsed == webhook_id)
            }) else {
                continue;
            };
            deliveries.push(Delivery {
                event_id: rows::id(row, "event_id")?,
                webhook_id,
                trigger: trigger(row, "trigger_type")?,
                snapshot: row.try_get("payload")?,
                created_at: from_millis(row.try_get("created_at")?),
                attempts: row.try_get("attempts")?,
                url: url.clone(),
                secret: SigningSecret::new(secret.clone()),
            });
        }
        Ok(deliveries)
    }

    pub(super) async fn record_delivery(
        &self,
        delivery: &Delivery,
        outcome: DeliveryOutcome<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), MetaError> {
        let (event, hook) = (
            delivery.event_id.to_string(),
            delivery.webhook_id.to_string(),
        );
        let retry_at = match outcome {
            DeliveryOutcome::Delivered { .. } | DeliveryOutcome::Failed { retry_at: None, .. } => {
                sqlx::query("DELETE FROM webhook_outbox WHERE event_id = $1 AND webhook_id = $2")
                    .bind(event.as_str())
                    .bind(hook.as_str())
                    .execute(&self.pool)
                    .await?;
                return Ok(());
            }
            DeliveryOutcome::Failed {
                retry_at: Some(at), ..
            } => at,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE webhook_outbox SET next_attempt_at = $1, lease_until = 0 \
             WHERE event_id = $2 AND webhook_id = $3",
        )
        .bind(to_millis(retry_at))
        .bind(event.as_str())
        .bind(hook.as_str())
        .execute(&mut *tx)
        .await?;
        // The receiver is failing: its other events wait for the same attempt time rather than
        // each taking a timeout now.
        sqlx::query(
            "UPDATE webhook_outbox SET next_attempt_at = $1 \
             WHERE webhook_id = $2 AND next_attempt_at < $1 AND lease_until <= $3",
        )
        .bind(to_millis(retry_at))
        .bind(hook.as_str())
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn apply_status_reports(
        &self,
        reports: &[StatusReport],
    ) -> Result<(), MetaError> {
        for report in reports {
            sqlx::query(
                "UPDATE webhooks SET delivered = delivered + $1, given_up = given_up + $2, \
                 failures = CASE WHEN CAST($3 AS BOOLEAN) THEN $4 ELSE failures + $4 END, \
                 last_triggered = COALESCE($5, last_triggered), last_attempt_at = $6, \
                 last_status = $7, last_error = $8, last_event_id = $9 WHERE id = $10",
            )
            .bind(report.delivered)
            .bind(report.given_up)
            .bind(report.succeeded)
            .bind(report.failures)
            .bind(report.last_triggered.map(to_millis))
            .bind(to_millis(report.last_attempt_at))
            .bind(report.last_status)
            .bind(report.last_error.as_deref())
            .bind(report.last_event_id.to_string())
            .bind(report.webhook_id.to_string())
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    pub(super) async fn unlease_delivery(&self, delivery: &Delivery) -> Result<(), MetaError> {
        sqlx::query(
            "UPDATE webhook_outbox SET lease_until = 0, attempts = attempts - 1 \
             WHERE event_id = $1 AND webhook_id = $2",
        )
        .bind(delivery.event_id.to_string())
        .bind(delivery.webhook_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
