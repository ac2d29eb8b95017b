//! Opening a data directory and assembling the service from it.

use std::path::Path;
use std::sync::Arc;

use chrono::Utc;

use crate::config::Settings;
use crate::ids::ObjectId;
use crate::meta::sqlite::SqliteMeta;
use crate::meta::{MetaError, MetaStore, Site};
use crate::ratelimit::RateLimiter;
use crate::scopes::Scopes;
use crate::state::AppState;
use crate::storage::credentials::StoreCredentials;
use crate::storage::disk::DiskStore;
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
}

/// The opened parts of a data directory.
pub struct DataDir {
    /// The metadata database.
    pub meta: Arc<SqliteMeta>,
    /// The embedded store's credentials.
    pub credentials: StoreCredentials,
    /// The embedded object store.
    pub disk: Arc<DiskStore>,
}

/// Opens `path`, creating the directory, database and credentials as needed.
pub async fn open_data_dir(path: &Path) -> Result<DataDir, StartError> {
    let io_err = |source| StartError::DataDir {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(path).map_err(io_err)?;
    let (credentials, _) = StoreCredentials::load_or_create(path).map_err(io_err)?;
    let meta = Arc::new(SqliteMeta::open(&path.join(DATABASE_FILE)).await?);
    let disk = Arc::new(DiskStore::open(path.join(OBJECTS_DIR)).map_err(io_err)?);
    Ok(DataDir {
        meta,
        credentials,
        disk,
    })
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

/// Creates a token for `sites` with `scopes`; returns the token text, which is not stored.
pub async fn create_token(
    meta: &dyn MetaStore,
    sites: &[ObjectId],
    scopes: Scopes,
) -> Result<zeroize::Zeroizing<String>, MetaError> {
    let now = Utc::now();
    let (token, hash) = tokens::generate();
    meta.create_token(ObjectId::generate(now), &hash, scopes, sites, now)
        .await?;
    Ok(token)
}

/// On a database without sites, creates one site and a token with both scopes.
pub async fn first_run(meta: &dyn MetaStore) -> Result<Option<FirstRun>, MetaError> {
    if meta.count_sites().await? > 0 {
        return Ok(None);
    }
    let site_id = create_site(meta, "My site").await?;
    let token = create_token(meta, &[site_id], Scopes::ALL).await?;
    Ok(Some(FirstRun { site_id, token }))
}

/// The shared state of a service over an opened data directory.
pub fn state(data: &DataDir, settings: Settings) -> AppState {
    let signer = UploadSigner::new(
        data.credentials.clone(),
        settings.region.clone(),
        settings.bucket.clone(),
    );
    AppState {
        meta: data.meta.clone(),
        blobs: data.disk.clone(),
        disk: data.disk.clone(),
        signer: Arc::new(signer),
        limiter: Arc::new(RateLimiter::new(settings.rate_limit_per_minute)),
        settings: Arc::new(settings),
    }
}
