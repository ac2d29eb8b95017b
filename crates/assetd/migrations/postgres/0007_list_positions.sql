-- Lists at a million assets, any page: positions in the list and counts per bucket of 16,384
-- positions. The same change as the SQLite migration 0008; see meta/list_plan.rs for why.

DROP TRIGGER assets_count_insert ON assets;
DROP TRIGGER assets_count_update ON assets;
DROP TRIGGER assets_count_delete ON assets;
DROP FUNCTION assets_count_inserted();
DROP FUNCTION assets_count_deleted();
DROP FUNCTION assets_count_updated();
DROP FUNCTION asset_count_move(TEXT, TEXT, SMALLINT, BIGINT);
DROP TABLE site_asset_counts;
DROP TABLE folder_asset_counts;
DROP INDEX assets_listed;
DROP INDEX assets_listed_by_folder;

-- Positions: the rows a database already has keep their old list order (created_on, id); new
-- rows take the sequence's next value. A sequence value is taken at insert and its row may
-- commit after a later one's: a list read between the two sees a gap that fills, as it does
-- today for an upload that completes late.
ALTER TABLE assets ADD COLUMN list_seq BIGINT;
UPDATE assets SET list_seq = numbered.seq
    FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_on, id) AS seq FROM assets) AS numbered
    WHERE numbered.id = assets.id;
CREATE SEQUENCE assets_list_seq OWNED BY assets.list_seq;
SELECT setval('assets_list_seq', COALESCE((SELECT MAX(list_seq) FROM assets), 0) + 1, false);
ALTER TABLE assets ALTER COLUMN list_seq SET DEFAULT nextval('assets_list_seq'),
    ALTER COLUMN list_seq SET NOT NULL;

-- Counts per bucket. A site's are spread over 16 rows (`shard`, the asset id's last hex digit,
-- as before): a mark-uploaded holds its counter row's lock until it commits, and concurrent
-- uploads of a site fall in the same bucket. A folder's are one row per bucket (`shard` 0): a
-- folder tree's page sums its folders' rows, and 16 rows per folder and bucket made that sum
-- the slowest part of a tree's first page (20 folders × 62 buckets × 16 rows at 10⁶ assets:
-- about 20 ms, against 1–2 ms for one row each; 2026-12-06). The price: concurrent uploads
-- into one folder take turns at its row for the length of a commit.
CREATE TABLE site_list_counts (
    site_id  TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    bucket   BIGINT NOT NULL,
    shard    SMALLINT NOT NULL,
    uploaded BIGINT NOT NULL,
    PRIMARY KEY (site_id, bucket, shard)
);
CREATE TABLE folder_list_counts (
    folder_id TEXT NOT NULL REFERENCES asset_folders(id) ON DELETE CASCADE,
    bucket    BIGINT NOT NULL,
    shard     SMALLINT NOT NULL,
    uploaded  BIGINT NOT NULL,
    PRIMARY KEY (folder_id, bucket, shard)
);
INSERT INTO site_list_counts (site_id, bucket, shard, uploaded)
    SELECT site_id, list_seq >> 14, asset_count_shard(id), COUNT(*) FROM assets
    WHERE state = 'uploaded' GROUP BY 1, 2, 3;
INSERT INTO folder_list_counts (folder_id, bucket, shard, uploaded)
    SELECT folder_id, list_seq >> 14, 0, COUNT(*) FROM assets
    WHERE state = 'uploaded' AND folder_id IS NOT NULL GROUP BY 1, 2;

CREATE FUNCTION list_count_move(p_site TEXT, p_folder TEXT, p_bucket BIGINT, p_shard SMALLINT,
                                p_n BIGINT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_n > 0 THEN
        INSERT INTO site_list_counts AS c (site_id, bucket, shard, uploaded)
            VALUES (p_site, p_bucket, p_shard, p_n)
            ON CONFLICT (site_id, bucket, shard) DO UPDATE SET uploaded = c.uploaded + p_n;
        IF p_folder IS NOT NULL THEN
            INSERT INTO folder_list_counts AS c (folder_id, bucket, shard, uploaded)
                VALUES (p_folder, p_bucket, 0, p_n)
                ON CONFLICT (folder_id, bucket, shard) DO UPDATE SET uploaded = c.uploaded + p_n;
        END IF;
    ELSIF p_n < 0 THEN
        UPDATE site_list_counts SET uploaded = uploaded + p_n
            WHERE site_id = p_site AND bucket = p_bucket AND shard = p_shard;
        IF p_folder IS NOT NULL THEN
            UPDATE folder_list_counts SET uploaded = uploaded + p_n
                WHERE folder_id = p_folder AND bucket = p_bucket AND shard = 0;
        END IF;
    END IF;
END $$;

CREATE FUNCTION assets_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The group-commit writer's batches are pending: nothing to count, one scan of the batch.
    PERFORM list_count_move(site_id, folder_id, list_seq >> 14, asset_count_shard(id), COUNT(*))
        FROM new_rows WHERE state = 'uploaded'
        GROUP BY site_id, folder_id, list_seq >> 14, asset_count_shard(id);
    RETURN NULL;
END $$;

CREATE FUNCTION assets_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM list_count_move(site_id, folder_id, list_seq >> 14, asset_count_shard(id), -COUNT(*))
        FROM old_rows WHERE state = 'uploaded'
        GROUP BY site_id, folder_id, list_seq >> 14, asset_count_shard(id);
    RETURN NULL;
END $$;

CREATE FUNCTION assets_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- An asset that stays uploaded in the same folder and bucket (a repeated mark-uploaded, a
    -- rename) nets zero and moves nothing.
    PERFORM list_count_move(site_id, folder_id, bucket, shard, SUM(n))
        FROM (SELECT site_id, folder_id, list_seq >> 14 AS bucket,
                     asset_count_shard(id) AS shard, -1 AS n
                FROM old_rows WHERE state = 'uploaded'
              UNION ALL
              SELECT site_id, folder_id, list_seq >> 14, asset_count_shard(id), 1
                FROM new_rows WHERE state = 'uploaded') AS moved
        GROUP BY site_id, folder_id, bucket, shard HAVING SUM(n) <> 0;
    RETURN NULL;
END $$;

CREATE TRIGGER assets_count_insert AFTER INSERT ON assets REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION assets_count_inserted();
CREATE TRIGGER assets_count_update AFTER UPDATE ON assets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION assets_count_updated();
CREATE TRIGGER assets_count_delete AFTER DELETE ON assets REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION assets_count_deleted();

CREATE INDEX assets_listed ON assets (site_id, list_seq, id) WHERE state = 'uploaded';
CREATE INDEX assets_listed_by_folder ON assets (folder_id, list_seq, id)
    WHERE state = 'uploaded' AND folder_id IS NOT NULL;
