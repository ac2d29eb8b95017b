//! Metadata: sites, tokens, asset folders and assets, behind the [`MetaStore`] trait.
//!
//! One SQL implementation ([`sql::SqlMeta`]) serves both databases over a small [`dialect`]:
//! SQLite, embedded ([`sqlite`]), and PostgreSQL, for several nodes ([`postgres`]).

pub mod dialect;
mod group_commit;
pub mod list_plan;
pub mod postgres;
mod replacements;
mod rows;
pub mod sql;
pub mod sqlite;
mod statements;
pub mod webhooks;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::ObjectId;
use crate::scopes::Scopes;
use crate::tokens::TokenHash;
use crate::webhook_events::Trigger;
use crate::webhook_signature::SigningSecret;

/// A site: the owner of assets and folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Its id.
    pub id: ObjectId,
    /// A name for people.
    pub name: String,
    /// When it was created.
    pub created_on: DateTime<Utc>,
}

/// A site as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteSummary {
    /// The site.
    pub site: Site,
    /// Its assets, in every state.
    pub assets: i64,
    /// When its deletion began, if it is being deleted.
    pub deleting_since: Option<DateTime<Utc>>,
}

/// What a token may do: its scopes and the sites it sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// The token's record id (not the token).
    pub token_id: ObjectId,
    /// Its scopes.
    pub scopes: Scopes,
    /// The sites it may see.
    pub sites: Vec<ObjectId>,
    /// When it stops working, if it ever does.
    pub expires_at: Option<DateTime<Utc>>,
}

impl TokenGrant {
    /// Whether the token may see `site`.
    pub fn sees(&self, site: ObjectId) -> bool {
        self.sites.contains(&site)
    }

    /// Whether the token has expired at `now` (checked on every request, so a cached grant
    /// stops working at its expiry to the second).
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// A token as an operator sees it: everything but the token itself (which is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token's record id, what `assetd token revoke` takes.
    pub id: ObjectId,
    /// Its scopes.
    pub scopes: Scopes,
    /// The sites it may see, oldest grant first.
    pub sites: Vec<ObjectId>,
    /// When it was created.
    pub created_on: DateTime<Utc>,
    /// When a request last used it, as recorded (up to a minute late, see `token_usage`).
    pub last_used: Option<DateTime<Utc>>,
    /// When it stops working, if it ever does.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Where an asset's upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetState {
    /// Created; its bytes have not arrived.
    Pending,
    /// Its bytes are stored and verified.
    Uploaded,
    /// Bytes arrived that did not match the promised size or hash; they were deleted.
    Failed,
}

impl AssetState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Uploaded => "uploaded",
            Self::Failed => "failed",
        }
    }
}

/// An asset as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// Its id.
    pub id: ObjectId,
    /// The site it belongs to.
    pub site_id: ObjectId,
    /// The folder it is in, if any.
    pub folder_id: Option<ObjectId>,
    /// The file name given at creation.
    pub original_file_name: String,
    /// The name shown to people (default `{id}_{fileName}`).
    pub display_name: String,
    /// Alternative text for images.
    pub alt_text: Option<String>,
    /// Content-Type derived from the file name.
    pub content_type: String,
    /// MD5 of the content, lower-case hex, as promised at creation.
    pub file_hash: String,
    /// Object key in the blob store, `{siteId}/{assetId}_{fileName}`.
    pub storage_key: String,
    /// Size in bytes once uploaded.
    pub size: Option<i64>,
    /// Upload state.
    pub state: AssetState,
    /// When the upload policy expires; a pending asset is swept after it.
    pub upload_expires_at: DateTime<Utc>,
    /// Creation time.
    pub created_on: DateTime<Utc>,
    /// Last change.
    pub last_updated: DateTime<Utc>,
}

/// A new file for an uploaded asset, waiting for its bytes (`POST /v2/assets/{id}/replace`).
///
/// Its key is the asset's id and its own, `{siteId}/{assetId}_{replacementId}-{fileName}`
/// (`keys::replacement_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// Its own id (never an asset's).
    pub id: ObjectId,
    /// The asset whose file it replaces.
    pub asset_id: ObjectId,
    /// The asset's site.
    pub site_id: ObjectId,
    /// The new file's name.
    pub original_file_name: String,
    /// Content-Type derived from the new name.
    pub content_type: String,
    /// MD5 of the new content, lower-case hex, as promised.
    pub file_hash: String,
    /// Where its bytes go.
    pub storage_key: String,
    /// When its upload policy expires.
    pub upload_expires_at: DateTime<Utc>,
    /// When it was asked for.
    pub created_on: DateTime<Utc>,
}

impl Replacement {
    /// The upload as the S3 POST endpoint and the confirmer see one: a pending asset-shaped
    /// record named by the replacement's id, with the new file's name, type, hash and key.
    pub fn upload(&self) -> Asset {
        Asset {
            id: self.id,
            site_id: self.site_id,
            folder_id: None,
            original_file_name: self.original_file_name.clone(),
            display_name: self.original_file_name.clone(),
            alt_text: None,
            content_type: self.content_type.clone(),
            file_hash: self.file_hash.clone(),
            storage_key: self.storage_key.clone(),
            size: None,
            state: AssetState::Pending,
            upload_expires_at: self.upload_expires_at,
            created_on: self.created_on,
            last_updated: self.created_on,
        }
    }
}

/// An asset whose file a replacement's verified bytes just took the place of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    /// The asset as it is now (new key, name, type, hash, size; variants to be made again).
    pub asset: Asset,
    /// The keys of its old file and old variants, queued for deletion in the same
    /// transaction; the caller removes them now or leaves them to the sweep.
    pub old_keys: Vec<String>,
}

/// Where a variant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantState {
    /// Planned; its object may or may not have been written yet.
    Pending,
    /// Its object is stored.
    Done,
    /// It could not be made; `error` says why.
    Failed,
}

impl VariantState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }
}

/// A responsive-image variant of an asset, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// Object key, `{siteId}/{assetId}_{stem}-p-{width}.{ext}`.
    pub storage_key: String,
    /// The asset it was made from.
    pub asset_id: ObjectId,
    /// Width in pixels.
    pub width: i64,
    /// Height in pixels, when known.
    pub height: Option<i64>,
    /// The format name reported to clients (the original's extension, lower case).
    pub format: String,
    /// Encoding quality, 0–100.
    pub quality: i64,
    /// Where it stands.
    pub state: VariantState,
    /// Size in bytes once stored.
    pub size: Option<i64>,
    /// MD5 of the stored bytes, lower-case hex (its ETag).
    pub file_hash: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// How making one variant ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantOutcome<'a> {
    /// Stored: its size and MD5.
    Done {
        /// Size in bytes.
        size: i64,
        /// MD5, lower-case hex.
        file_hash: &'a str,
    },
    /// Not made, for this reason.
    Failed(&'a str),
}

/// A leased job: make the variants of one asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariantJob {
    /// The asset.
    pub asset_id: ObjectId,
    /// How many times the job has been claimed, this claim included.
    pub attempts: i64,
}

/// An asset folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// Its id.
    pub id: ObjectId,
    /// The site it belongs to.
    pub site_id: ObjectId,
    /// The folder it is in, if any.
    pub parent_folder: Option<ObjectId>,
    /// Its name, unique among its siblings.
    pub display_name: String,
    /// Creation time.
    pub created_on: DateTime<Utc>,
    /// Last change.
    pub last_updated: DateTime<Utc>,
}

/// A page of results and the size of the whole set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many items the whole (filtered) set has.
    pub total: i64,
}

/// Which slice of a list to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Items to skip.
    pub offset: i64,
    /// Items to return.
    pub limit: i64,
}

/// Changes to an asset's writable fields; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetChanges {
    /// New display name.
    pub display_name: Option<String>,
    /// New alt text (`Some(None)` clears it).
    pub alt_text: Option<Option<String>>,
    /// The folder to move it to (`Some(None)`: the top level), a folder of the asset's site.
    pub folder: Option<Option<ObjectId>>,
}

/// Changes to an asset folder; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderChanges {
    /// New name, unique among its new siblings.
    pub display_name: Option<String>,
    /// The folder to move it into (`Some(None)`: the top level): a folder of the same site
    /// that is neither the folder itself nor one of its descendants.
    pub parent: Option<Option<ObjectId>>,
}

/// What deleting a folder tree removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletedTree {
    /// Folders removed (the folder and its descendants).
    pub folders: u64,
    /// Assets removed, in any state.
    pub assets: u64,
    /// Every object key of the removed assets and their variants, queued for deletion in the
    /// same transaction; the caller removes them now or leaves them to the sweep.
    pub keys: Vec<String>,
}

/// How many assets are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssetCounts {
    /// Waiting for their bytes.
    pub pending: i64,
    /// Bytes stored and verified.
    pub uploaded: i64,
    /// Bytes arrived but did not verify.
    pub failed: i64,
}

impl AssetCounts {
    /// All assets.
    pub fn total(&self) -> i64 {
        self.pending + self.uploaded + self.failed
    }
}

/// A webhook as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Its id.
    pub id: ObjectId,
    /// The site whose events it receives.
    pub site_id: ObjectId,
    /// The events it receives.
    pub trigger: Trigger,
    /// Where deliveries are POSTed.
    pub url: String,
    /// What deliveries are signed with.
    pub secret: SigningSecret,
    /// Creation time.
    pub created_on: DateTime<Utc>,
    /// How its deliveries went (all zero for a new webhook).
    pub status: DeliveryStatus,
}

/// How a webhook's deliveries went, as GET /v2/webhooks/{id} shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryStatus {
    /// When a delivery last succeeded (Webflow's `lastTriggered`).
    pub last_triggered: Option<DateTime<Utc>>,
    /// When a delivery was last attempted.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's status code at that attempt, if it answered.
    pub last_status: Option<i64>,
    /// Why that attempt failed, if it did.
    pub last_error: Option<String>,
    /// The event of that attempt.
    pub last_event_id: Option<ObjectId>,
    /// Attempts that failed since the last success.
    pub failures: i64,
    /// Events delivered.
    pub delivered: i64,
    /// Events given up on.
    pub given_up: i64,
    /// Events waiting for delivery.
    pub pending: i64,
}

/// A leased delivery: one event for one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The event (the same for every webhook it goes to).
    pub event_id: ObjectId,
    /// The webhook.
    pub webhook_id: ObjectId,
    /// What happened.
    pub trigger: Trigger,
    /// The snapshot stored with the event (see [`crate::webhook_events`]).
    pub snapshot: String,
    /// When the event happened.
    pub created_at: DateTime<Utc>,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// The webhook's URL.
    pub url: String,
    /// The webhook's secret.
    pub secret: SigningSecret,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome<'a> {
    /// The receiver answered 2xx: the event is delivered.
    Delivered {
        /// Its status code.
        status: u16,
    },
    /// It failed: tried again at `retry_at`, or given up (`None`).
    Failed {
        /// The receiver's status code, if it answered.
        status: Option<u16>,
        /// Why, for the webhook's status.
        error: &'a str,
        /// When to try again; `None` gives up on the event.
        retry_at: Option<DateTime<Utc>>,
    },
}

/// What a delivery worker learned about one webhook's attempts since its last report, applied
/// to the webhook's status in one statement (see [`MetaStore::report_delivery_status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The webhook.
    pub webhook_id: ObjectId,
    /// Events delivered.
    pub delivered: i64,
    /// Events given up on.
    pub given_up: i64,
    /// Whether an attempt succeeded: then `failures` replaces the count, else adds to it.
    pub succeeded: bool,
    /// Failed attempts (after the last success, if one succeeded).
    pub failures: i64,
    /// The last success.
    pub last_triggered: Option<DateTime<Utc>>,
    /// The last attempt.
    pub last_attempt_at: DateTime<Utc>,
    /// Its status code, if the receiver answered.
    pub last_status: Option<i64>,
    /// Its error, if it failed.
    pub last_error: Option<String>,
    /// Its event.
    pub last_event_id: ObjectId,
}

/// Until when a deleted asset's key must be deleted again: the end of its upload window if its
/// bytes never arrived (a client may still post them), else no later than now.
pub fn keep_until(asset: &Asset, now: DateTime<Utc>) -> DateTime<Utc> {
    if asset.state == AssetState::Uploaded {
        now
    } else {
        asset.upload_expires_at.max(now)
    }
}

/// The `(state, size, file_hash, error)` columns of a finished variant.
pub(crate) fn variant_outcome_columns(
    outcome: VariantOutcome<'_>,
) -> (VariantState, Option<i64>, Option<&str>, Option<&str>) {
    match outcome {
        VariantOutcome::Done { size, file_hash } => {
            (VariantState::Done, Some(size), Some(file_hash), None)
        }
        VariantOutcome::Failed(error) => (VariantState::Failed, None, None, Some(error)),
    }
}

/// The longest a request waits for a database connection before it is answered 503.
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Why a metadata operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// A referenced site does not exist.
    #[error("site {0} does not exist")]
    UnknownSite(ObjectId),
    /// A unique constraint was violated.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A folder to put something in does not exist in the site (or is being deleted).
    #[error("folder {0} does not exist in this site")]
    UnknownFolder(ObjectId),
    /// A folder move would put a folder inside itself or one of its descendants.
    #[error("a folder cannot be moved into itself or one of its descendants")]
    FolderCycle,
    /// A folder to delete without `recursive` has subfolders or assets.
    #[error("the folder has subfolders or assets")]
    FolderNotEmpty,
    /// An asset whose file has not arrived (or did not verify) cannot have it replaced.
    #[error("the asset has no verified file to replace")]
    NotUploaded,
    /// The database is down, unreachable or full (a failure already classified, whose
    /// source could not be kept).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database failed.
    #[error(transparent)]
    Backend(#[from] sqlx::Error),
}

impl MetaError {
    /// Whether the database is down, unreachable, shutting down or out of space, rather than
    /// the request or the data being wrong: the same request succeeds once it is back.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Backend(e) => sqlx_is_unavailable(e),
            Self::Unavailable(_) => true,
            Self::UnknownSite(_)
            | Self::Conflict(_)
            | Self::UnknownFolder(_)
            | Self::FolderCycle
            | Self::FolderNotEmpty
            | Self::NotUploaded => false,
        }
    }
}

/// See [`MetaError::is_unavailable`].
pub fn sqlx_is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                postgres_unavailable(pg.code())
            } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                db.code()
                    .and_then(|code| code.parse::<u32>().ok())
                    .is_some_and(sqlite_unavailable)
            } else {
                false
            }
        }
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs of connection failures (class 08), shutdowns (57P01–57P03) and
/// exhausted resources (class 53: disk full, out of memory, too many connections).
fn postgres_unavailable(sqlstate: &str) -> bool {
    sqlstate.starts_with("08")
        || sqlstate.starts_with("53")
        || matches!(sqlstate, "57P01" | "57P02" | "57P03")
}

/// SQLite's result codes for a busy or locked database (5, 6), a read-only one (8), I/O
/// failures (10) and a full disk (13); sqlx reports extended codes, whose low byte is the
/// primary one.
fn sqlite_unavailable(code: u32) -> bool {
    matches!(code & 0xff, 5 | 6 | 8 | 10 | 13)
}

/// The metadata operations the service needs. Every backend passes the same conformance tests.
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// Checks the database answers.
    async fn ping(&self) -> Result<(), MetaError>;
    /// Stops the backend's own tasks (its queued inserts are committed first) and closes its
    /// connections; called once, after the last request.
    async fn close(&self);
    /// Creates a site.
    async fn create_site(&self, site: &Site) -> Result<(), MetaError>;
    /// How many sites exist (0 means a fresh install).
    async fn count_sites(&self) -> Result<i64, MetaError>;
    /// The sites with these ids that exist and are not being deleted, oldest first.
    async fn sites(&self, ids: &[ObjectId]) -> Result<Vec<Site>, MetaError>;
    /// Every site, those being deleted included, oldest first, with their asset counts.
    async fn list_sites(&self) -> Result<Vec<SiteSummary>, MetaError>;
    /// Marks a site as being deleted (keeping the first mark's time) and removes every token's
    /// grant to it, in one transaction. Returns false if the site does not exist.
    async fn start_site_deletion(
        &self,
        site: ObjectId,
        now: DateTime<Utc>,
    ) -> Result<bool, MetaError>;
    /// The sites being deleted.
    async fn deleting_sites(&self) -> Result<Vec<ObjectId>, MetaError>;
    /// Up to `limit` ids of a site's assets, in every state.
    async fn site_assets(&self, site: ObjectId, limit: i64) -> Result<Vec<ObjectId>, MetaError>;
    /// Deletes a site's folders once it has no asset left. Returns how many went.
    async fn delete_site_folders(&self, site: ObjectId) -> Result<u64, MetaError>;
    /// Queued deletions of keys under `prefix`, after `after` in key order (a page of them).
    async fn queued_blob_deletions_under(
        &self,
        prefix: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<String>, MetaError>;
    /// Removes the row of a site being deleted since `before` or earlier, if nothing of it is
    /// left. Returns whether it went.
    async fn finish_site_deletion(
        &self,
        site: ObjectId,
        before: DateTime<Utc>,
    ) -> Result<bool, MetaError>;
    /// Stores a token's hash, scopes, sites and expiry.
    async fn create_token(
        &self,
        token_id: ObjectId,
        hash: &TokenHash,
        scopes: Scopes,
        sites: &[ObjectId],
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), MetaError>;
    /// Looks a token up by its hash (an expired one too: the caller checks
    /// [`TokenGrant::expired`]).
    async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenGrant>, MetaError>;
    /// Every token (or those granted `site`), oldest first.
    async fn list_tokens(&self, site: Option<ObjectId>) -> Result<Vec<TokenInfo>, MetaError>;
    /// Deletes a token and its grants. Returns false if it does not exist.
    async fn revoke_token(&self, token_id: ObjectId) -> Result<bool, MetaError>;
    /// Records when tokens were last used (a later time than the stored one wins).
    async fn record_token_use(&self, uses: &[(ObjectId, DateTime<Utc>)]) -> Result<(), MetaError>;
    /// Whether `folder` is a folder of `site`.
    async fn folder_in_site(&self, site: ObjectId, folder: ObjectId) -> Result<bool, MetaError>;
    /// Creates a folder (used by tests and, later, the folders API).
    async fn create_folder(
        &self,
        id: ObjectId,
        site: ObjectId,
        parent: Option<ObjectId>,
        display_name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), MetaError>;
    /// Records a new, pending asset.
    async fn insert_asset(&self, asset: &Asset) -> Result<(), MetaError>;
    /// Reads an asset.
    async fn get_asset(&self, id: ObjectId) -> Result<Option<Asset>, MetaError>;
    /// A page of a site's uploaded assets, oldest first; with `folder`, only assets in that folder
    /// and its descendants.
    async fn list_assets(
        &self,
        site: ObjectId,
        folder: Option<ObjectId>,
        page: PageRequest,
    ) -> Result<Page<Asset>, MetaError>;
    /// Applies `changes` to an asset; returns it as it is now, or `None` if it does not exist.
    async fn update_asset(
        &self,
        id: ObjectId,
        changes: &AssetChanges,
        now: DateTime<Utc>,
    ) -> Result<Option<Asset>, MetaError>;
    /// Removes an asset's row and its variants' rows and queues all their bytes for deletion, in
    /// one transaction. Returns the removed asset.
    async fn delete_asset(
        &self,
        id: ObjectId,
        now: DateTime<Utc>,
    ) -> Result<Option<Asset>, MetaError>;
    /// Keys queued for deletion (oldest first).
    async fn queued_blob_deletions(&self, limit: i64) -> Result<Vec<String>, MetaError>;
    /// Forgets a queued key once its bytes are gone, unless its upload window is still open at
    /// `now` (then a late upload could still create the object, and the sweep deletes it again).
    async fn finish_blob_deletion(&self, key: &str, now: DateTime<Utc>) -> Result<(), MetaError>;
    /// Marks a pending asset as failed (its bytes did not verify). Returns false if it no longer
    /// exists or is not pending.
    async fn mark_failed(&self, id: ObjectId, now: DateTime<Utc>) -> Result<bool, MetaError>;
    /// Pending assets whose upload window is still open (of one site, or of all), oldest first.
    async fn open_uploads(
        &self,
        site: Option<ObjectId>,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Asset>, MetaError>;
    /// Pending or failed assets whose upload window closed before `before`.
    async fn expired_pending_assets(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Asset>, MetaError>;
    /// Reads a folder.
    async fn get_folder(&self, id: ObjectId) -> Result<Option<Folder>, MetaError>;
    /// Renames or moves a folder; returns it as it is now, or `None` if it does not exist.
    /// Moves within a site are serialized, so two concurrent moves can never make a cycle.
    async fn update_folder(
        &self,
        id: ObjectId,
        changes: &FolderChanges,
        now: DateTime<Utc>,
    ) -> Result<Option<Folder>, MetaError>;
    /// Deletes a folder: only an empty one (no subfolder, no asset in any state) unless
    /// `recursive`, which removes its descendants and every asset in them, queueing their
    /// objects' keys, in one transaction. `None` if it does not exist.
    async fn delete_folder(
        &self,
        id: ObjectId,
        recursive: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<DeletedTree>, MetaError>;
    /// A page of a site's folders, oldest first.
    async fn list_folders(
        &self,
        site: ObjectId,
        page: PageRequest,
    ) -> Result<Page<Folder>, MetaError>;
    /// Ids of the uploaded assets directly in each of `folders`.
    async fn folder_assets(
        &self,
        folders: &[ObjectId],
    ) -> Result<Vec<(ObjectId, ObjectId)>, MetaError>;
    /// How many assets are in each state.
    async fn asset_counts(&self) -> Result<AssetCounts, MetaError>;
    /// Leases the oldest variant job that is not leased at `now`, until `lease_until`, counting
    /// the attempt.
    async fn claim_variant_job(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<VariantJob>, MetaError>;
    /// Records planned variants (pending) before their objects are written; variants already
    /// recorded are kept as they are. Returns false if the asset no longer exists or its file
    /// is no longer `source_key` (replaced since the worker read it).
    async fn plan_variants(
        &self,
        asset: ObjectId,
        source_key: &str,
        variants: &[Variant],
    ) -> Result<bool, MetaError>;
    /// Records how making a variant ended. Returns false if its row is gone (the asset was
    /// deleted meanwhile), in which case the caller removes what it wrote.
    async fn finish_variant(
        &self,
        key: &str,
        outcome: VariantOutcome<'_>,
    ) -> Result<bool, MetaError>;
    /// Removes a finished job, if it is still the one leased until `lease_until` (a replace
    /// queues a new job for the same asset, which a stale worker must not remove).
    async fn finish_variant_job(
        &self,
        asset: ObjectId,
        lease_until: DateTime<Utc>,
    ) -> Result<(), MetaError>;
    /// The variants of these assets, by asset then width.
    async fn variants_of(&self, assets: &[ObjectId]) -> Result<Vec<Variant>, MetaError>;
    /// The variant stored under `key`.
    async fn variant(&self, key: &str) -> Result<Option<Variant>, MetaError>;
    /// Marks an asset's bytes as stored and verified and, if it is a raster image, queues its
    /// variant job in the same transaction. Returns false if the asset no longer exists (deleted
    /// while its upload was in flight).
    ///
    /// Whatever the asset's state: callers call it only for bytes that verified against the
    /// asset's `fileHash`, so a failed asset (an upload that did not verify, or bytes `verify
    /// --repair` found damaged) that receives its right bytes under a still-valid policy is
    /// whole again.
    async fn mark_uploaded(
        &self,
        id: ObjectId,
        size: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, MetaError>;
    /// Up to `limit` assets of every site and state with ids after `after`, by id: a cursor
    /// over the whole table for `assetd verify` and `assetd backup`, a page per call, so
    /// neither ever holds every row.
    async fn assets_after(
        &self,
        after: Option<ObjectId>,
        limit: i64,
    ) -> Result<Vec<Asset>, MetaError>;
    /// Up to `limit` variants with keys after `after`, by key (the same cursor for variants).
    async fn variants_after(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Variant>, MetaError>;
    /// Whether a row knows the object `key`: an asset's or a variant's (in any state), or a key
    /// queued for deletion. An object no row knows is an orphan.
    async fn key_known(&self, key: &str) -> Result<bool, MetaError>;
    /// Marks an uploaded asset failed because its stored bytes are missing or no longer match
    /// its size and MD5 (`assetd verify --repair`): it is no longer listed or served, and the
    /// sweep removes it like any failed upload. Returns false if it is gone or not uploaded.
    async fn mark_corrupt(&self, id: ObjectId, now: DateTime<Utc>) -> Result<bool, MetaError>;
    /// Records a replacement of an uploaded asset's file. A replacement of the same asset still
    /// waiting for its bytes is dropped (its key queued until its window closes): the newest
    /// asked for wins. Returns the asset as it is, `None` if it does not exist, and
    /// [`MetaError::NotUploaded`] if its own file has not arrived.
    async fn start_replacement(
        &self,
        replacement: &Replacement,
        now: DateTime<Utc>,
    ) -> Result<Option<Asset>, MetaError>;
    /// Reads a waiting replacement.
    async fn replacement(&self, id: ObjectId) -> Result<Option<Replacement>, MetaError>;
    /// The replacement `id`'s bytes are stored and verified (`size` bytes): in one transaction
    /// the asset points at them (id, folder, display name and alt text kept), its old file and
    /// variants are queued for deletion and their keys retired (see
    /// [`MetaStore::retired_key_owner`]), and for a raster image a variant job is queued.
    /// `None` if the replacement no longer waits (dropped, or its asset deleted).
    async fn complete_replacement(
        &self,
        id: ObjectId,
        size: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<Replaced>, MetaError>;
    /// Drops a waiting replacement (its bytes did not verify, or its window closed), queueing
    /// its key until its window closes. Returns false if it no longer waits.
    async fn drop_replacement(&self, id: ObjectId, now: DateTime<Utc>) -> Result<bool, MetaError>;
    /// Waiting replacements whose upload window is still open, oldest first.
    async fn open_replacements(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Replacement>, MetaError>;
    /// Waiting replacements whose upload window closed before `before`.
    async fn expired_replacements(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Replacement>, MetaError>;
    /// The uploaded asset that `key` was a file or variant of before a replacement.
    async fn retired_key_owner(&self, key: &str) -> Result<Option<Asset>, MetaError>;
    /// Stores a new webhook (its status is ignored). `UnknownSite` if the site does not exist.
    async fn create_webhook(&self, webhook: &Webhook) -> Result<(), MetaError>;
    /// A page of a site's webhooks, oldest first.
    async fn list_webhooks(
        &self,
        site: ObjectId,
        page: PageRequest,
    ) -> Result<Page<Webhook>, MetaError>;
    /// Reads a webhook with its delivery status.
    async fn get_webhook(&self, id: ObjectId) -> Result<Option<Webhook>, MetaError>;
    /// Deletes a webhook and its undelivered events. Returns false if it does not exist.
    async fn delete_webhook(&self, id: ObjectId) -> Result<bool, MetaError>;
    /// Leases up to `limit` due deliveries (oldest due first) until `lease_until`, counting the
    /// attempt: no other worker, on this node or another, takes them meanwhile.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Delivery>, MetaError>;
    /// Records how an attempt ended: removes a delivered or given-up event, or schedules the
    /// next attempt (and holds the webhook's other due events until then, so a receiver that
    /// is down gets one attempt per step of the backoff, not one per event). The webhook's
    /// status is reported apart ([`Self::report_delivery_status`]), so concurrent deliveries
    /// of one webhook do not take turns at its row.
    async fn finish_delivery(
        &self,
        delivery: &Delivery,
        outcome: DeliveryOutcome<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), MetaError>;
    /// Applies what a worker learned about webhooks' attempts to their status.
    async fn report_delivery_status(&self, reports: &[StatusReport]) -> Result<(), MetaError>;
    /// Gives a leased delivery back unattempted (the node is stopping), due at once.
    async fn release_delivery(&self, delivery: &Delivery) -> Result<(), MetaError>;
    /// Notified after this node commits a change that queued webhook events (other nodes'
    /// events are found by polling).
    fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify>;
}

#[cfg(test)]
mod unavailable_tests {
    use super::*;

    #[test]
    fn postgres_and_sqlite_codes_are_told_apart() {
        for code in ["08006", "08000", "53100", "53300", "57P01", "57P03"] {
            assert!(postgres_unavailable(code), "{code}");
        }
        // Digits only, but PostgreSQL's: insufficient privilege is a bug, not an outage.
        for code in ["42501", "23505", "40001"] {
            assert!(!postgres_unavailable(code), "{code}");
        }
        // SQLITE_FULL, SQLITE_BUSY, SQLITE_IOERR_WRITE (778), SQLITE_BUSY_SNAPSHOT (517).
        for code in [13, 5, 778, 517] {
            assert!(sqlite_unavailable(code), "{code}");
        }
        // SQLITE_CONSTRAINT_UNIQUE (2067).
        assert!(!sqlite_unavailable(2067));
    }
}
