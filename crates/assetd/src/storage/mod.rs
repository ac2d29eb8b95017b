//! Where asset bytes live, behind the [`BlobStore`] trait.
//!
//! The embedded default is [`disk::DiskStore`], which the embedded S3 POST endpoint writes into.
//! Keys are always built by assetd from ids (`{siteId}/{assetId}_{fileName}`), and every backend
//! still checks them before any I/O.

mod batch_stage;
pub mod credentials;
mod direct_append;
pub mod disk;
mod disk_write;
// Public for `benches/hand_tuned.rs`.
pub mod hash_combiner;
pub mod s3;

use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use tokio::io::AsyncRead;

/// What a store knows about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    /// Size in bytes.
    pub size: u64,
    /// When it was written.
    pub modified: SystemTime,
    /// The store's ETag without quotes (the MD5 for single-part uploads), where it has one.
    pub etag: Option<String>,
}

/// A stream of an object's bytes.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// Every key of a store, read a page (or a directory entry) at a time.
pub type KeyStream<'a> =
    Pin<Box<dyn futures_util::Stream<Item = Result<String, StoreError>> + Send + 'a>>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The key is not one assetd would build.
    #[error("invalid object key")]
    InvalidKey,
    /// The store cannot be reached or cannot take more bytes (an S3 service that does not
    /// answer, a full disk): worth retrying later.
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
    /// The storage failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// Whether the store is down or full rather than the request or the data being wrong.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Io(e) => io_is_unavailable(e),
            Self::InvalidKey => false,
        }
    }
}

/// Whether a local I/O error means "no space" (the disk or a quota is full): the request was
/// fine, and the same request succeeds once space is freed.
pub fn io_is_unavailable(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// Reading and deleting stored objects.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// The object's metadata, or `None` if it does not exist.
    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, StoreError>;
    /// `len` bytes of the object starting at `offset`, or `None` if it does not exist.
    async fn read(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> Result<Option<BlobReader>, StoreError>;
    /// Stores a whole object written by assetd itself (image variants), replacing any object
    /// under the key; readers see the old object or the new one, never a part.
    async fn put(
        &self,
        key: &str,
        bytes: bytes::Bytes,
        content_type: &str,
    ) -> Result<(), StoreError>;
    /// The object's metadata and, if it has at most `small` bytes, its bytes; `None` if it does
    /// not exist. Delivery's first look at an object: one call instead of a HEAD and a GET.
    async fn fetch_small(
        &self,
        key: &str,
        small: u64,
    ) -> Result<Option<(BlobMeta, Option<bytes::Bytes>)>, StoreError> {
        use tokio::io::AsyncReadExt;
        let Some(meta) = self.head(key).await? else {
            return Ok(None);
        };
        if meta.size > small {
            return Ok(Some((meta, None)));
        }
        let Some(mut reader) = self.read(key, 0, meta.size).await? else {
            return Ok(None);
        };
        let mut bytes = Vec::with_capacity(usize::try_from(meta.size).unwrap_or(0));
        reader.read_to_end(&mut bytes).await?;
        Ok(Some((meta, Some(bytes.into()))))
    }
    /// The object as an open local file, for zero-copy delivery; `None` if it is missing or the
    /// store keeps no local files (then [`BlobStore::read`] streams it).
    async fn open_local(&self, key: &str) -> Result<Option<std::fs::File>, StoreError> {
        let _ = key;
        Ok(None)
    }
    /// Removes the object; removing a missing object succeeds.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Every key under `prefix` (a whole path segment, e.g. a site id), sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Checks the store can be used.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Every key in the store, in no particular order, read as the stream is polled: S3's
    /// listing a page of 1,000 keys at a time, the disk's one directory entry at a time, so
    /// memory stays bounded however many objects there are (`assetd verify` looks for objects
    /// no row knows this way).
    fn keys(&self) -> KeyStream<'_>;
}
