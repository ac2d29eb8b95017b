-- Most assets are in no folder, yet every create paid for a NULL entry in assets_by_folder that
-- no query reads. Queries by folder compare folder_id with `=` or `IN`, which SQLite takes as
-- implying the index's `folder_id IS NOT NULL`, so they still use it (EXPLAIN QUERY PLAN).
-- The same change as the PostgreSQL migration 0003.
DROP INDEX assets_by_folder;
CREATE INDEX assets_by_folder ON assets (folder_id) WHERE folder_id IS NOT NULL;
