//! Opening the metadata database and the blob store, and assembling the service from them.

use std::path::Path;
use std::sync::Arc;

use chrono::Utc;

use crate::config::{Settings, StorageConfig};
use crate::confirmer::{self, Confirmer};
use crate::ids::ObjectId;
use crate::meta::postgres::PostgresMeta;
use crate::meta::sqlite::SqliteMeta;
use crate::meta::{MetaError, MetaStore, Site};
use crate::ratelimit::RateLimiter;
use crate::scopes::Scopes;
use crate::state::{AppState, SharedState};
use crate::storage::credentials::StoreCredentials;
use crate::storage::disk::DiskStore;
use crate::storage::s3::S3Store;
use crate::storage::{BlobStore, StoreError};
use crate::tokens;
use crate::upload_signer::UploadSigner;

/// Directory of the embedded object store inside the data directory.
pub const OBJECTS_DIR: &str = "objects";

/// File name of the metadata database inside the data directory.
pub const DATABASE_FILE: &str = "assetd.sqlite3";

/// Why start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory or a file in it could not be used.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The path at fault.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// The blob store could not be set up.
    #[error("blob store: {0}")]
    Store(#[from] StoreError),
    /// The configuration is inconsistent.
    #[error("{0}")]
    Config(String),
}

/// The opened data directory and metadata database.
pub struct DataDir {
    /// The metadata database (SQLite in the data directory, or PostgreSQL).
    pub meta: Arc<dyn MetaStore>,
    /// The embedded store's credentials.
    pub credentials: StoreCredentials,
    /// The embedded object store.
    pub disk: Arc<DiskStore>,
}

/// Opens `path` (creating the directory, credentials and embedded store as needed) and the
/// metadata database: PostgreSQL at `database_url`, else SQLite in `path`. For `serve`: temp
/// files a crash left in the embedded store are removed.
pub async fn open(path: &Path, database_url: Option<&str>) -> Result<DataDir, StartError> {
    open_with(path, database_url, DiskStore::open).await
}

/// Like [`open`], for a command that may run beside a service on the same directory: the
/// embedded store's temp files (that service's uploads in flight) are left alone.
pub async fn open_beside(path: &Path, database_url: Option<&str>) -> Result<DataDir, StartError> {
    open_with(path, database_url, DiskStore::prepare).await
}

async fn open_with(
    path: &Path,
    database_url: Option<&str>,
    open_store: fn(std::path::PathBuf) -> std::io::Result<DiskStore>,
) -> Result<DataDir, StartError> {
    let io_err = |source| StartError::DataDir {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(path).map_err(io_err)?;
    let (credentials, _) = StoreCredentials::load_or_create(path).map_err(io_err)?;
    let meta: Arc<dyn MetaStore> = match database_url {
        Some(url) => Arc::new(PostgresMeta::connect(url).await?),
        None => Arc::new(SqliteMeta::open(&path.join(DATABASE_FILE)).await?),
    };
    let disk = Arc::new(open_store(path.join(OBJECTS_DIR)).map_err(io_err)?);
    Ok(DataDir {
        meta,
        credentials,
        disk,
    })
}

/// Where bytes live and who signs uploads for it.
pub struct Storage {
    /// Reads and deletes bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// The embedded store, when assetd receives uploads itself.
    pub receiver: Option<Arc<DiskStore>>,
    /// The credentials upload policies are signed with.
    pub credentials: StoreCredentials,
}

impl Storage {
    /// The embedded store of `data`.
    pub fn embedded(data: &DataDir) -> Self {
        Self {
            blobs: data.disk.clone(),
            receiver: Some(data.disk.clone()),
            credentials: data.credentials.clone(),
        }
    }

    /// The storage `config` describes: the embedded store of `data`, or an S3 service.
    pub fn open(data: &DataDir, config: &StorageConfig) -> Result<Self, StartError> {
        match config {
            StorageConfig::Embedded => Ok(Self::embedded(data)),
            StorageConfig::S3(s3) => Ok(Self {
                blobs: Arc::new(S3Store::new(s3)?),
                receiver: None,
                credentials: StoreCredentials {
                    access_key_id: s3.access_key_id.clone(),
                    secret: s3.secret_access_key.clone(),
                },
            }),
        }
    }
}

/// A new site's id and a token for it, shown once to the person who set the service up.
pub struct FirstRun {
    /// The created site.
    pub site_id: ObjectId,
    /// The created token (both scopes).
    pub token: zeroize::Zeroizing<String>,
}

/// Creates a site.
pub async fn create_site(meta: &dyn MetaStore, name: &str) -> Result<ObjectId, MetaError> {
    let now = Utc::now();
    let id = ObjectId::generate(now);
    meta.create_site(&Site {
        id,
        name: name.to_owned(),
        created_on: now,
    })
    .await?;
    Ok(id)
}

/// Creates a token for `sites` with `scopes`, working for `expires_in` if given; returns the
/// token text, which is not stored.
pub async fn create_token(
    meta: &dyn MetaStore,
    sites: &[ObjectId],
    scopes: Scopes,
    expires_in: Option<std::time::Duration>,
) -> Result<zeroize::Zeroizing<String>, MetaError> {
    let now = crate::timestamp::now();
    let expires_at = expires_in
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .and_then(|d| now.checked_add_signed(d));
    let (token, hash) = tokens::generate();
    meta.create_token(
        ObjectId::generate(now),
        &hash,
        scopes,
        sites,
        now,
        expires_at,
    )
    .await?;
    Ok(token)
}

/// On a database without sites, creates one site and a token with both scopes.
pub async fn first_run(meta: &dyn MetaStore) -> Result<Option<FirstRun>, MetaError> {
    if meta.count_sites().await? > 0 {
        return Ok(None);
    }
    let site_id = create_site(meta, "My site").await?;
    let token = create_token(meta, &[site_id], Scopes::ALL, None).await?;
    Ok(Some(FirstRun { site_id, token }))
}

/// The rate limiter `args` ask for: shared through Redis with `--redis-url`, else per process.
pub async fn rate_limiter(
    redis_url: Option<&str>,
    limit: u32,
    window: std::time::Duration,
) -> Result<RateLimiter, StartError> {
    match redis_url {
        Some(url) => Ok(RateLimiter::Redis(
            crate::ratelimit::RedisLimiter::connect(url, limit, window)
                .await
                .map_err(|e| StartError::Config(format!("redis at {url}: {e}")))?,
        )),
        None => Ok(RateLimiter::local(limit, window)),
    }
}

/// The shared state of a service.
pub fn state(
    meta: Arc<dyn MetaStore>,
    storage: Storage,
    limiter: RateLimiter,
    settings: Settings,
) -> AppState {
    let signer = UploadSigner::new(
        storage.credentials,
        settings.region.clone(),
        settings.bucket.clone(),
    );
    let settings = Arc::new(settings);
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let variant_jobs = Arc::new(tokio::sync::Notify::new());
    let delivery_cache = Arc::new(crate::delivery_cache::DeliveryCache::new(
        settings.delivery_cache_ttl,
        settings.delivery_cache_bytes,
    ));
    let confirmer = Confirmer::new(confirmer::Handles {
        meta: meta.clone(),
        blobs: storage.blobs.clone(),
        settings: settings.clone(),
        metrics: metrics.clone(),
        variant_jobs: variant_jobs.clone(),
        delivery_cache: delivery_cache.clone(),
    });
    AppState::new(SharedState {
        meta,
        blobs: storage.blobs,
        receiver: storage.receiver,
        signer: Arc::new(signer),
        token_usage: Arc::default(),
        grants: Arc::new(crate::grant_cache::GrantCache::new(
            settings.token_cache_ttl,
        )),
        limiter: Arc::new(limiter),
        metrics,
        delivery_cache,
        settings,
        variant_jobs,
        confirmer,
    })
}
