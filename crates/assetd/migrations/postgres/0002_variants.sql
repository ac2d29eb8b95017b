-- Responsive-image variants. A variant row exists before its object is written (state
-- 'pending'), so deleting the asset can queue the key of every variant that may exist: no
-- variant object is ever orphaned. Rows go with their asset (ON DELETE CASCADE).
CREATE TABLE asset_variants (
    storage_key TEXT PRIMARY KEY,
    asset_id    TEXT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    width       BIGINT NOT NULL,
    height      BIGINT,
    format      TEXT NOT NULL,
    quality     BIGINT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    size        BIGINT,
    file_hash   TEXT,
    error       TEXT
);
CREATE INDEX asset_variants_by_asset ON asset_variants (asset_id, width);

-- Images whose variants are still to be made, queued in the transaction that marks the upload
-- complete, so a restart resumes them. A worker leases a job until `claimed_until`; a crashed
-- worker's lease runs out and another takes the job. `attempts` stops a job that keeps failing.
CREATE TABLE variant_jobs (
    asset_id      TEXT PRIMARY KEY REFERENCES assets(id) ON DELETE CASCADE,
    queued_at     BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    attempts      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX variant_jobs_by_age ON variant_jobs (queued_at);
