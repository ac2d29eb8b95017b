-- The same schema as migrations/sqlite, in PostgreSQL's types. Times are integer milliseconds
-- since the Unix epoch (UTC).
CREATE TABLE sites (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_on  BIGINT NOT NULL
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    token_hash  BYTEA NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,
    created_on  BIGINT NOT NULL
);

CREATE TABLE token_sites (
    token_id    TEXT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    site_id     TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, site_id)
);

CREATE TABLE asset_folders (
    id            TEXT PRIMARY KEY,
    site_id       TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    parent_folder TEXT REFERENCES asset_folders(id),
    display_name  TEXT NOT NULL,
    created_on    BIGINT NOT NULL,
    last_updated  BIGINT NOT NULL
);
CREATE UNIQUE INDEX asset_folders_sibling_name
    ON asset_folders (site_id, COALESCE(parent_folder, ''), display_name);

CREATE TABLE assets (
    id                 TEXT PRIMARY KEY,
    site_id            TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    folder_id          TEXT REFERENCES asset_folders(id),
    original_file_name TEXT NOT NULL,
    display_name       TEXT NOT NULL,
    alt_text           TEXT,
    content_type       TEXT NOT NULL,
    file_hash          TEXT NOT NULL,
    storage_key        TEXT NOT NULL UNIQUE,
    size               BIGINT,
    state              TEXT NOT NULL CHECK (state IN ('pending', 'uploaded', 'failed')),
    upload_expires_at  BIGINT NOT NULL,
    created_on         BIGINT NOT NULL,
    last_updated       BIGINT NOT NULL
);
CREATE INDEX assets_by_site ON assets (site_id, created_on, id);
CREATE INDEX assets_by_folder ON assets (folder_id);
CREATE INDEX assets_pending_expiry ON assets (upload_expires_at) WHERE state = 'pending';

-- Keys whose row is gone but whose bytes may still exist (see the SQLite migration 0002).
CREATE TABLE blob_deletions (
    storage_key TEXT PRIMARY KEY,
    queued_at   BIGINT NOT NULL,
    keep_until  BIGINT NOT NULL
);
