-- Token lifecycle: an optional expiry (a request with an expired token gets 401) and when the
-- token was last used, recorded in batches (at most once a minute per token per node), never
-- by a write per request. Revoking a token deletes its row (and its grants, by cascade).
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;
