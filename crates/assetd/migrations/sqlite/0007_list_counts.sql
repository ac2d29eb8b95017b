-- Lists at a million assets: exact totals without a COUNT(*) per call, and pages whose offset is
-- skipped in an index instead of the table. See meta/sql.rs (`list_assets`) for why.

-- How many uploaded assets each site has, and each folder directly holds. Kept by the triggers
-- below in the statement (so the transaction) that changes an asset, whichever statement that
-- is: insert, mark uploaded, mark failed, delete, a site's cascade. SQLite has one writer at a
-- time, so one row per site or folder (`shard` 0) costs no waiting; the column keeps the schema
-- the PostgreSQL one's, where concurrent uploads of one site spread over 16 rows.
CREATE TABLE site_asset_counts (
    site_id  TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    shard    INTEGER NOT NULL,
    uploaded INTEGER NOT NULL,
    PRIMARY KEY (site_id, shard)
);
CREATE TABLE folder_asset_counts (
    folder_id TEXT NOT NULL REFERENCES asset_folders(id) ON DELETE CASCADE,
    shard     INTEGER NOT NULL,
    uploaded  INTEGER NOT NULL,
    PRIMARY KEY (folder_id, shard)
);

-- Backfill: the rows a database already has.
INSERT INTO site_asset_counts (site_id, shard, uploaded)
    SELECT site_id, 0, COUNT(*) FROM assets WHERE state = 'uploaded' GROUP BY site_id;
INSERT INTO folder_asset_counts (folder_id, shard, uploaded)
    SELECT folder_id, 0, COUNT(*) FROM assets
    WHERE state = 'uploaded' AND folder_id IS NOT NULL GROUP BY folder_id;

-- An asset counts while it is uploaded. Increments upsert (the first asset of a site or folder
-- creates its row); decrements only update, since the row exists while the asset counted, and
-- a decrement must not recreate the row of a site being deleted by cascade.
CREATE TRIGGER assets_count_insert AFTER INSERT ON assets WHEN new.state = 'uploaded'
BEGIN
    INSERT INTO site_asset_counts (site_id, shard, uploaded) VALUES (new.site_id, 0, 1)
        ON CONFLICT (site_id, shard) DO UPDATE SET uploaded = uploaded + 1;
    INSERT INTO folder_asset_counts (folder_id, shard, uploaded)
        SELECT new.folder_id, 0, 1 WHERE new.folder_id IS NOT NULL
        ON CONFLICT (folder_id, shard) DO UPDATE SET uploaded = uploaded + 1;
END;

CREATE TRIGGER assets_count_leave AFTER UPDATE OF state, folder_id ON assets
    WHEN old.state = 'uploaded' AND (new.state <> 'uploaded' OR new.folder_id IS NOT old.folder_id)
BEGIN
    UPDATE site_asset_counts SET uploaded = uploaded - 1 WHERE site_id = old.site_id AND shard = 0;
    UPDATE folder_asset_counts SET uploaded = uploaded - 1
        WHERE folder_id = old.folder_id AND shard = 0;
END;

CREATE TRIGGER assets_count_enter AFTER UPDATE OF state, folder_id ON assets
    WHEN new.state = 'uploaded' AND (old.state <> 'uploaded' OR new.folder_id IS NOT old.folder_id)
BEGIN
    INSERT INTO site_asset_counts (site_id, shard, uploaded) VALUES (new.site_id, 0, 1)
        ON CONFLICT (site_id, shard) DO UPDATE SET uploaded = uploaded + 1;
    INSERT INTO folder_asset_counts (folder_id, shard, uploaded)
        SELECT new.folder_id, 0, 1 WHERE new.folder_id IS NOT NULL
        ON CONFLICT (folder_id, shard) DO UPDATE SET uploaded = uploaded + 1;
END;

CREATE TRIGGER assets_count_delete AFTER DELETE ON assets WHEN old.state = 'uploaded'
BEGIN
    UPDATE site_asset_counts SET uploaded = uploaded - 1 WHERE site_id = old.site_id AND shard = 0;
    UPDATE folder_asset_counts SET uploaded = uploaded - 1
        WHERE folder_id = old.folder_id AND shard = 0;
END;

-- The listed assets in list order, with the folder: a page's offset is skipped in this index
-- alone (only the page's own rows are read from the table), forwards or backwards.
CREATE INDEX assets_listed ON assets (site_id, created_on, id, folder_id) WHERE state = 'uploaded';
-- The same per folder, for a filter on a small part of the site.
CREATE INDEX assets_listed_by_folder ON assets (folder_id, created_on, id)
    WHERE state = 'uploaded' AND folder_id IS NOT NULL;
-- A folder's children: the folder filter's recursive CTE looks them up level by level (the
-- sibling-name index starts with the site and wraps the parent in COALESCE, so it cannot serve).
CREATE INDEX asset_folders_by_parent ON asset_folders (parent_folder)
    WHERE parent_folder IS NOT NULL;
