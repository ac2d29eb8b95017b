-- Lists at a million assets: exact totals without a COUNT(*) per call, and pages whose offset is
-- skipped in an index instead of the table. The same change as the SQLite migration 0005; see
-- meta/sql.rs (`list_assets`) for why.

-- How many uploaded assets each site has, and each folder directly holds, spread over 16 rows
-- (`shard`, the asset id's last hex digit): a mark-uploaded holds its counter row's lock until
-- it commits, so with one row per site every upload of a site would wait for the previous one's
-- commit. Consecutive ids differ in their last digit, so concurrent uploads meet on a row only
-- one time in 16. A total is the sum of at most 16 rows.
CREATE TABLE site_asset_counts (
    site_id  TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    shard    SMALLINT NOT NULL,
    uploaded BIGINT NOT NULL,
    PRIMARY KEY (site_id, shard)
);
CREATE TABLE folder_asset_counts (
    folder_id TEXT NOT NULL REFERENCES asset_folders(id) ON DELETE CASCADE,
    shard     SMALLINT NOT NULL,
    uploaded  BIGINT NOT NULL,
    PRIMARY KEY (folder_id, shard)
);

CREATE FUNCTION asset_count_shard(id TEXT) RETURNS SMALLINT LANGUAGE sql IMMUTABLE AS
$$ SELECT CAST(position(right(id, 1) IN '0123456789abcdef') - 1 AS SMALLINT) $$;

-- Backfill: the rows a database already has.
INSERT INTO site_asset_counts (site_id, shard, uploaded)
    SELECT site_id, asset_count_shard(id), COUNT(*) FROM assets WHERE state = 'uploaded'
    GROUP BY 1, 2;
INSERT INTO folder_asset_counts (folder_id, shard, uploaded)
    SELECT folder_id, asset_count_shard(id), COUNT(*) FROM assets
    WHERE state = 'uploaded' AND folder_id IS NOT NULL GROUP BY 1, 2;

-- An asset counts while it is uploaded. Kept by triggers in the statement (so the transaction)
-- that changes assets, whichever statement that is: insert, mark uploaded, mark failed, delete,
-- a site's cascade. Statement-level, over the statement's transition tables: a row-level
-- trigger would update the same counter row once per asset, and PostgreSQL follows the chain of
-- that transaction's earlier versions of the row at every update, so a statement changing n
-- assets of one site took time in n² (a 10⁶-row insert ran for 15 minutes before it was
-- stopped, 2026-12-06, AMD EPYC 2 vCPU). Here each (site, folder, shard) moves once per
-- statement.
--
-- Increments upsert (the first asset of a shard creates its row); decrements only update: the
-- row exists while the asset counted, and a decrement must not recreate the row of a site being
-- deleted by cascade.
CREATE FUNCTION asset_count_move(p_site TEXT, p_folder TEXT, p_shard SMALLINT, p_n BIGINT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_n > 0 THEN
        INSERT INTO site_asset_counts AS c (site_id, shard, uploaded) VALUES (p_site, p_shard, p_n)
            ON CONFLICT (site_id, shard) DO UPDATE SET uploaded = c.uploaded + p_n;
        IF p_folder IS NOT NULL THEN
            INSERT INTO folder_asset_counts AS c (folder_id, shard, uploaded)
                VALUES (p_folder, p_shard, p_n)
                ON CONFLICT (folder_id, shard) DO UPDATE SET uploaded = c.uploaded + p_n;
        END IF;
    ELSIF p_n < 0 THEN
        UPDATE site_asset_counts SET uploaded = uploaded + p_n
            WHERE site_id = p_site AND shard = p_shard;
        IF p_folder IS NOT NULL THEN
            UPDATE folder_asset_counts SET uploaded = uploaded + p_n
                WHERE folder_id = p_folder AND shard = p_shard;
        END IF;
    END IF;
END $$;

CREATE FUNCTION assets_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The group-commit writer's batches are pending: nothing to count, one scan of the batch.
    PERFORM asset_count_move(site_id, folder_id, asset_count_shard(id), COUNT(*))
        FROM new_rows WHERE state = 'uploaded'
        GROUP BY site_id, folder_id, asset_count_shard(id);
    RETURN NULL;
END $$;

CREATE FUNCTION assets_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM asset_count_move(site_id, folder_id, asset_count_shard(id), -COUNT(*))
        FROM old_rows WHERE state = 'uploaded'
        GROUP BY site_id, folder_id, asset_count_shard(id);
    RETURN NULL;
END $$;

CREATE FUNCTION assets_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- An asset that stays uploaded in the same folder (a repeated mark-uploaded, a rename)
    -- nets zero and moves nothing.
    PERFORM asset_count_move(site_id, folder_id, shard, SUM(n))
        FROM (SELECT site_id, folder_id, asset_count_shard(id) AS shard, -1 AS n
                FROM old_rows WHERE state = 'uploaded'
              UNION ALL
              SELECT site_id, folder_id, asset_count_shard(id), 1
                FROM new_rows WHERE state = 'uploaded') AS moved
        GROUP BY site_id, folder_id, shard HAVING SUM(n) <> 0;
    RETURN NULL;
END $$;

-- (A trigger with transition tables cannot name columns, `UPDATE OF state, folder_id`: every
-- UPDATE statement on assets runs it, and finds nothing to move unless a state or folder
-- changed.)
CREATE TRIGGER assets_count_insert AFTER INSERT ON assets REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION assets_count_inserted();
CREATE TRIGGER assets_count_update AFTER UPDATE ON assets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION assets_count_updated();
CREATE TRIGGER assets_count_delete AFTER DELETE ON assets REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION assets_count_deleted();

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
