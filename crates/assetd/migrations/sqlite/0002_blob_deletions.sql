-- Object keys whose asset row is gone but whose bytes may still exist. A delete records the key
-- in the same transaction that removes the row, so a crash between the two steps leaves a
-- retryable entry, never an orphaned object.
CREATE TABLE blob_deletions (
    storage_key TEXT PRIMARY KEY NOT NULL,
    queued_at   INTEGER NOT NULL
);
