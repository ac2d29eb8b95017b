-- Replacing an asset's file (`POST /v2/assets/{id}/replace`).
--
-- A replacement waiting for its bytes, at the key `{siteId}/{assetId}_{replacementId}-{fileName}`
-- (an asset key of the asset, new for each replacement). The row goes when the bytes verify (the asset then
-- points at them, in the same transaction), when a newer replacement of the same asset takes
-- its place, when its upload window closes, or with its asset; each of those queues its key in
-- blob_deletions (kept until the window closes), so no object it may get is orphaned.
CREATE TABLE asset_replacements (
    id                 TEXT PRIMARY KEY NOT NULL,
    asset_id           TEXT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    site_id            TEXT NOT NULL,
    original_file_name TEXT NOT NULL,
    content_type       TEXT NOT NULL,
    file_hash          TEXT NOT NULL,
    storage_key        TEXT NOT NULL UNIQUE,
    upload_expires_at  BIGINT NOT NULL,
    created_on         BIGINT NOT NULL
);
CREATE INDEX asset_replacements_by_asset ON asset_replacements (asset_id);
CREATE INDEX asset_replacements_by_expiry ON asset_replacements (upload_expires_at);

-- Keys an asset's file and variants had before a replacement: their URLs redirect to the
-- asset's current file for as long as the asset exists (the rows go with it).
CREATE TABLE retired_keys (
    storage_key TEXT PRIMARY KEY NOT NULL,
    asset_id    TEXT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    retired_at  BIGINT NOT NULL
);
CREATE INDEX retired_keys_by_asset ON retired_keys (asset_id);
