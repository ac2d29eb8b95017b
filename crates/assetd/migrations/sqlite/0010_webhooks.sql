-- Asset webhooks (an assetd extension in the shape of Webflow's webhook API) and their outbox.
--
-- `secret` is the webhook's signing secret as shown once at creation: it must be readable to
-- sign deliveries (HMAC), so it cannot be stored as a hash; it is never returned again.
-- The status columns (`last_…`, `failures`, `delivered`, `given_up`) are what GET
-- /v2/webhooks/{id} shows about deliveries.
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY NOT NULL,
    site_id         TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    trigger_type    TEXT NOT NULL,
    url             TEXT NOT NULL,
    secret          TEXT NOT NULL,
    created_on      INTEGER NOT NULL,
    last_triggered  INTEGER,
    last_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    last_event_id   TEXT,
    failures        INTEGER NOT NULL DEFAULT 0,
    delivered       INTEGER NOT NULL DEFAULT 0,
    given_up        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhooks_by_site ON webhooks (site_id, trigger_type);

-- One row per (event, webhook) still to deliver, written in the transaction of the change that
-- caused the event, so an event is never lost and never invented. A delivery worker leases a
-- due row until `lease_until` (so two nodes never send it at once), removes it once the
-- receiver answered 2xx (or once it gave up), else moves `next_attempt_at` on.
CREATE TABLE webhook_outbox (
    event_id        TEXT NOT NULL,
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    trigger_type    TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, webhook_id)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at);
CREATE INDEX webhook_outbox_by_webhook ON webhook_outbox (webhook_id);
