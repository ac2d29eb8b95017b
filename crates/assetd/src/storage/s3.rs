//! An external S3 service as the blob store (AWS S3, MinIO, Garage, SeaweedFS).
//!
//! Client: the `object_store` crate (Apache Arrow project): well maintained, small, async,
//! speaks SigV4 to any S3 endpoint with path-style or virtual-hosted addressing, and covers
//! exactly what assetd does server-side — HEAD, ranged GET, PUT (image variants), DELETE, LIST.
//! Uploads never pass through here: clients post them to the S3 service with a presigned POST.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, ObjectStore, PutOptions, PutPayload,
};
use tokio_util::io::StreamReader;

use super::{BlobMeta, BlobReader, BlobStore, StoreError};

/// Connection settings of an S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Endpoint URL.
    pub endpoint: String,
    /// Region.
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (its `Debug` is redacted: this struct is logged with the settings).
    pub secret_access_key: s3post::signing::SecretKey,
    /// Virtual-hosted (`{bucket}.{host}`) instead of path-style addressing.
    pub virtual_hosted: bool,
}

/// How long retries of one S3 request may take in all.
const RETRY_BOUND: std::time::Duration = std::time::Duration::from_secs(3);

/// How long connecting to the S3 service may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Objects in an S3 bucket.
#[derive(Debug)]
pub struct S3Store {
    client: AmazonS3,
}

/// Every failure of the S3 service (it does not answer, answers 5xx, or refuses the request)
/// is its failure, not the client's: the request is worth retrying once it is back.
fn store_error(err: object_store::Error) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

/// object_store's path type refuses some characters; assetd keys never contain them, and a key
/// that does is treated as absent rather than mangled.
fn path_of(key: &str) -> Result<Path, StoreError> {
    if key.is_empty()
        || key.contains(['\0', '\\'])
        || key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(StoreError::InvalidKey);
    }
    Path::parse(key).map_err(|_| StoreError::InvalidKey)
}

impl S3Store {
    /// A client for `config`.
    pub fn new(config: &S3Config) -> Result<Self, StoreError> {
        let client = AmazonS3Builder::new()
            // First: it replaces every client option, `with_allow_http`'s included.
            .with_client_options(
                object_store::ClientOptions::new().with_connect_timeout(CONNECT_TIMEOUT),
            )
            .with_endpoint(config.endpoint.trim_end_matches('/'))
            .with_region(&config.region)
            .with_bucket_name(&config.bucket)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(config.secret_access_key.expose())
            .with_virtual_hosted_style_request(config.virtual_hosted)
            .with_allow_http(config.endpoint.starts_with("http://"))
            // While the S3 service is down a request fails within about RETRY_BOUND and is
            // answered 503, instead of riding out object_store's default of 10 retries over
            // up to 3 minutes.
            .with_retry(object_store::RetryConfig {
                max_retries: 2,
                retry_timeout: RETRY_BOUND,
                ..object_store::RetryConfig::default()
            })
            .build()
            .map_err(store_error)?;
        Ok(Self { client })
    }
}

#[async_trait]
impl BlobStore for S3Store {
    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, StoreError> {
        match self.client.head(&path_of(key)?).await {
            Ok(meta) => Ok(Some(BlobMeta {
                size: meta.size,
                modified: meta.last_modified.into(),
                etag: meta.e_tag.map(|t| t.trim_matches('"').to_owned()),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(e)),
        }
    }

    async fn read(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> Result<Option<BlobReader>, StoreError> {
        let options = GetOptions {
            range: (len > 0).then_some(GetRange::Bounded(offset..offset + len)),
            ..GetOptions::default()
        };
        match self.client.get_opts(&path_of(key)?, options).await {
            Ok(result) => {
                let stream = result.into_stream().map_err(std::io::Error::other);
                Ok(Some(Box::pin(StreamReader::new(stream))))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(e)),
        }
    }

    async fn put(
        &self,
        key: &str,
        bytes: bytes::Bytes,
        content_type: &str,
    ) -> Result<(), StoreError> {
        // The Content-Type is stored with the object so a CDN in front of the bucket serves it.
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.to_owned().into());
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        self.client
            .put_opts(&path_of(key)?, PutPayload::from(bytes), options)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.client.delete(&path_of(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let prefix =
            Path::parse(prefix.trim_end_matches('/')).map_err(|_| StoreError::InvalidKey)?;
        let mut keys: Vec<String> = self
            .client
            .list(Some(&prefix))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .map_err(store_error)?;
        keys.sort();
        Ok(keys)
    }

    fn keys(&self) -> super::KeyStream<'_> {
        // object_store asks for the next page (ListObjectsV2, 1,000 keys) only when the
        // previous one has been consumed.
        Box::pin(
            self.client
                .list(None)
                .map_ok(|meta| meta.location.to_string())
                .map_err(store_error),
        )
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // A HEAD of a key that cannot exist: any answer (even 404) means the service and the
        // credentials work.
        match self
            .client
            .head(&Path::from("assetd-readiness-probe"))
            .await
        {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(e)),
        }
    }
}
