-- The same change as migrations/sqlite/0006_site_deletion.sql.
ALTER TABLE sites ADD COLUMN deleting_since BIGINT;
