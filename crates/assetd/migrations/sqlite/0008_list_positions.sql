-- Lists at a million assets, any page: every asset gets a position in its list (`list_seq`),
-- and the listed assets are counted per bucket of 16,384 consecutive positions (`list_seq >>
-- 14`). A page at offset n finds its bucket from the counts (the sum of the buckets before it
-- says how many assets precede the bucket) and skips at most one bucket's entries in the index,
-- instead of n entries. See meta/list_plan.rs.
--
-- The list order becomes `list_seq`, which is the order rows were inserted in: for the rows a
-- database already has it is their old list order (created_on, id), numbered below.

DROP TRIGGER assets_count_insert;
DROP TRIGGER assets_count_leave;
DROP TRIGGER assets_count_enter;
DROP TRIGGER assets_count_delete;
DROP TABLE site_asset_counts;
DROP TABLE folder_asset_counts;
DROP INDEX assets_listed;
DROP INDEX assets_listed_by_folder;

ALTER TABLE assets ADD COLUMN list_seq INTEGER;
UPDATE assets SET list_seq = numbered.seq
    FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_on, id) AS seq FROM assets) AS numbered
    WHERE numbered.id = assets.id;

-- SQLite has no sequences: the last position handed out, one row.
CREATE TABLE list_sequence (last INTEGER NOT NULL);
INSERT INTO list_sequence (last) SELECT COALESCE(MAX(list_seq), 0) FROM assets;

-- A row inserted without a position (every insert but a restored or imported one) takes the
-- next. The update touches no index (a pending row is in no list index), only its own page.
CREATE TRIGGER assets_list_seq_next AFTER INSERT ON assets WHEN new.list_seq IS NULL
BEGIN
    UPDATE list_sequence SET last = last + 1;
    UPDATE assets SET list_seq = (SELECT last FROM list_sequence) WHERE rowid = new.rowid;
END;
-- A row inserted with its position moves the sequence past it.
CREATE TRIGGER assets_list_seq_given AFTER INSERT ON assets WHEN new.list_seq IS NOT NULL
BEGIN
    UPDATE list_sequence SET last = new.list_seq WHERE last < new.list_seq;
END;

-- How many uploaded assets each site, and each folder directly, has per bucket. `shard` is
-- always 0 here (SQLite has one writer at a time); it keeps the schema PostgreSQL's, where
-- concurrent uploads spread over 16 rows per bucket.
CREATE TABLE site_list_counts (
    site_id  TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    bucket   INTEGER NOT NULL,
    shard    INTEGER NOT NULL,
    uploaded INTEGER NOT NULL,
    PRIMARY KEY (site_id, bucket, shard)
);
CREATE TABLE folder_list_counts (
    folder_id TEXT NOT NULL REFERENCES asset_folders(id) ON DELETE CASCADE,
    bucket    INTEGER NOT NULL,
    shard     INTEGER NOT NULL,
    uploaded  INTEGER NOT NULL,
    PRIMARY KEY (folder_id, bucket, shard)
);
INSERT INTO site_list_counts (site_id, bucket, shard, uploaded)
    SELECT site_id, list_seq >> 14, 0, COUNT(*) FROM assets WHERE state = 'uploaded'
    GROUP BY 1, 2;
INSERT INTO folder_list_counts (folder_id, bucket, shard, uploaded)
    SELECT folder_id, list_seq >> 14, 0, COUNT(*) FROM assets
    WHERE state = 'uploaded' AND folder_id IS NOT NULL GROUP BY 1, 2;

-- An asset counts in its bucket while it is uploaded and has a position. The triggers follow
-- every column a count depends on (state, folder, position), in the statement that changes it,
-- whichever statement that is. Increments upsert; decrements only update (the row exists while
-- the asset counted, and must not be recreated under a site's or folder's cascade).
CREATE TRIGGER assets_count_insert AFTER INSERT ON assets
    WHEN new.state = 'uploaded' AND new.list_seq IS NOT NULL
BEGIN
    INSERT INTO site_list_counts (site_id, bucket, shard, uploaded)
        VALUES (new.site_id, new.list_seq >> 14, 0, 1)
        ON CONFLICT (site_id, bucket, shard) DO UPDATE SET uploaded = uploaded + 1;
    INSERT INTO folder_list_counts (folder_id, bucket, shard, uploaded)
        SELECT new.folder_id, new.list_seq >> 14, 0, 1 WHERE new.folder_id IS NOT NULL
        ON CONFLICT (folder_id, bucket, shard) DO UPDATE SET uploaded = uploaded + 1;
END;

CREATE TRIGGER assets_count_leave AFTER UPDATE OF state, folder_id, list_seq ON assets
    WHEN old.state = 'uploaded' AND old.list_seq IS NOT NULL
     AND (new.state <> 'uploaded' OR new.folder_id IS NOT old.folder_id
          OR new.list_seq IS NOT old.list_seq)
BEGIN
    UPDATE site_list_counts SET uploaded = uploaded - 1
        WHERE site_id = old.site_id AND bucket = old.list_seq >> 14 AND shard = 0;
    UPDATE folder_list_counts SET uploaded = uploaded - 1
        WHERE folder_id = old.folder_id AND bucket = old.list_seq >> 14 AND shard = 0;
END;

CREATE TRIGGER assets_count_enter AFTER UPDATE OF state, folder_id, list_seq ON assets
    WHEN new.state = 'uploaded' AND new.list_seq IS NOT NULL
     AND (old.state <> 'uploaded' OR new.folder_id IS NOT old.folder_id
          OR old.list_seq IS NOT new.list_seq)
BEGIN
    INSERT INTO site_list_counts (site_id, bucket, shard, uploaded)
        VALUES (new.site_id, new.list_seq >> 14, 0, 1)
        ON CONFLICT (site_id, bucket, shard) DO UPDATE SET uploaded = uploaded + 1;
    INSERT INTO folder_list_counts (folder_id, bucket, shard, uploaded)
        SELECT new.folder_id, new.list_seq >> 14, 0, 1 WHERE new.folder_id IS NOT NULL
        ON CONFLICT (folder_id, bucket, shard) DO UPDATE SET uploaded = uploaded + 1;
END;

CREATE TRIGGER assets_count_delete AFTER DELETE ON assets
    WHEN old.state = 'uploaded' AND old.list_seq IS NOT NULL
BEGIN
    UPDATE site_list_counts SET uploaded = uploaded - 1
        WHERE site_id = old.site_id AND bucket = old.list_seq >> 14 AND shard = 0;
    UPDATE folder_list_counts SET uploaded = uploaded - 1
        WHERE folder_id = old.folder_id AND bucket = old.list_seq >> 14 AND shard = 0;
END;

-- The listed assets in list order: a page's skip (at most one bucket) walks this index alone;
-- only the page's own rows are read from the table.
CREATE INDEX assets_listed ON assets (site_id, list_seq, id) WHERE state = 'uploaded';
-- The same per folder: a folder tree's page reads its buckets' range from each folder's index.
CREATE INDEX assets_listed_by_folder ON assets (folder_id, list_seq, id)
    WHERE state = 'uploaded' AND folder_id IS NOT NULL;
