-- The same change as migrations/sqlite/0005_token_lifecycle.sql.
ALTER TABLE tokens ADD COLUMN expires_at BIGINT, ADD COLUMN last_used_at BIGINT;
