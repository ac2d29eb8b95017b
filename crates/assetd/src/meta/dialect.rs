//! The seam between the one SQL metadata layer ([`super::sql`]) and a database: the few SQL
//! fragments that differ, and the statements each database does its own way.
//!
//! Most of the SQL is the same text in both databases: placeholders are `$n` (PostgreSQL's; sqlx
//! binds SQLite's `$n` by number too), upserts are `ON CONFLICT … DO …` (SQLite 3.24+), casts are
//! `CAST(x AS t)`. What is left differs for a reason:
//! - an id list is a JSON array read by `json_each` in SQLite (it has no array type) and a
//!   `text[]` compared with `= ANY` in PostgreSQL (one index probe per id);
//! - PostgreSQL locks rows (`FOR UPDATE`, `FOR SHARE`); SQLite locks the whole database for
//!   writing, so a transaction that reads then writes begins `IMMEDIATE` instead;
//! - marking an upload done and claiming a variant job are one statement each in PostgreSQL
//!   (a data-modifying CTE; `SKIP LOCKED` so nodes take different jobs) and two cheaper steps
//!   in SQLite, each tuned by measurement in its backend's module.

use std::future::Future;

use chrono::{DateTime, Utc};
use sqlx::database::HasStatementCache;
use sqlx::{Database, Encode, Pool, Type};

use super::{MetaError, VariantJob};
use crate::ids::ObjectId;

/// A database the SQL metadata layer runs on.
pub trait Dialect: std::fmt::Debug + Send + Sync + 'static {
    /// sqlx's driver.
    type Db: Database + HasStatementCache;

    /// An id list as bound for [`Self::IN_ID_LIST`].
    type IdList: for<'q> Encode<'q, Self::Db> + Type<Self::Db> + Clone + Send + 'static;

    /// `column` + this: whether the column's value is in the id list bound as `$1`.
    const IN_ID_LIST: &'static str;

    /// `folder_id` + this: whether the folder is in the CTE `tree(id)` of a folder tree
    /// (PostgreSQL: `= ANY(ARRAY(…))`, which the planner takes as a list of index probes, where
    /// it turns `IN (SELECT …)` into a join that sorts the whole range; 0.7 ms against 1 s at
    /// 10⁶ assets on 2026-12-06).
    const IN_TREE: &'static str;

    /// The inner query of a folder tree's page that reads each folder's index only up to the
    /// page's end (`LIMIT skip + take` per folder, then merged), where the database has
    /// `LATERAL`: for a page near its range's start it reads a few hundred entries instead of
    /// the whole range (PostgreSQL, first page of a 20-folder tree at 10⁶ assets: 2.1 ms
    /// against 4.8 ms by hand, 2026-12-06). Placeholders as in `page_of_tree`. `None`: the
    /// range is read whole (SQLite, whose range read is cheap enough).
    const TREE_PAGE_PER_FOLDER: Option<&'static str>;

    /// Whether the database locks rows (`FOR UPDATE`, `FOR SHARE`). Without row locks, a
    /// transaction that reads and then writes begins with [`Self::BEGIN_WRITE`].
    const ROW_LOCKS: bool;

    /// The statement that begins a transaction that will write, if not the plain `BEGIN`.
    /// (SQLite: `BEGIN IMMEDIATE`. A deferred transaction that reads first must upgrade its
    /// read lock to write, and SQLite refuses that at once, with no busy wait, whenever another
    /// connection holds the write lock.)
    const BEGIN_WRITE: Option<&'static str>;

    /// The statement that begins a read-only transaction whose statements all see one snapshot,
    /// so a list's total and its page agree (SQLite: a deferred `BEGIN`, whose first read fixes
    /// the WAL snapshot; PostgreSQL: `REPEATABLE READ`, since each statement of a `READ
    /// COMMITTED` transaction sees the commits made before it began).
    const BEGIN_SNAPSHOT: &'static str;

    /// How many rows a statement changed (sqlx has no trait for it).
    fn rows_affected(result: &<Self::Db as Database>::QueryResult) -> u64;

    /// Ids as bound for [`Self::IN_ID_LIST`].
    fn id_list(ids: &[ObjectId]) -> Result<Self::IdList, MetaError>;

    /// See [`super::MetaStore::mark_uploaded`]; also queues an `asset_created` event (with id
    /// `event`) for the site's webhooks in the same transaction when the asset was not uploaded
    /// before. `None` if the asset does not exist, else how many deliveries were queued.
    fn mark_uploaded(
        &self,
        pool: &Pool<Self::Db>,
        id: ObjectId,
        size: i64,
        now: DateTime<Utc>,
        event: ObjectId,
    ) -> impl Future<Output = Result<Option<u64>, MetaError>> + Send;

    /// See [`super::MetaStore::claim_variant_job`].
    fn claim_variant_job(
        pool: &Pool<Self::Db>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<VariantJob>, MetaError>> + Send;

    /// Stops the backend's own tasks (after the queued inserts are committed, before the pool
    /// is closed).
    fn stop_tasks(&self) -> impl Future<Output = ()> + Send;
}
