-- Object keys whose asset row is gone but whose bytes may still exist. A delete records the key
-- in the same transaction that removes the row, so a crash between the two steps leaves a
-- retryable entry, never an orphaned object. `keep_until` is the end of the asset's upload
-- window: with S3 storage a client may still post the object until then, so the key is deleted
-- again by every sweep until that time has passed.
CREATE TABLE blob_deletions (
    storage_key TEXT PRIMARY KEY NOT NULL,
    queued_at   INTEGER NOT NULL,
    keep_until  INTEGER NOT NULL
);
