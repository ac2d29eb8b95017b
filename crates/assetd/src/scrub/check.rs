//! Checking one stored object against the size and MD5 its row promises.
//!
//! The size comes from a HEAD. The MD5 comes from the store's ETag where that is the MD5 (S3's
//! ETag of a single-part upload: 32 hex digits; a multipart ETag has a `-N` suffix, and with
//! SSE-KMS it is no MD5 at all, hence `--full`), else from reading every byte: from the local
//! file on the blocking pool where the store has files, else streamed.

use assetd_md5::Md5;
use tokio::io::AsyncReadExt;

use crate::storage::{BlobStore, StoreError};

/// What was found under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// As promised; `read` bytes were read to know it (0 when the ETag said it).
    Good {
        /// Bytes read.
        read: u64,
    },
    /// No object.
    Missing,
    /// An object that is not the one promised.
    Damaged {
        /// Its size.
        size: u64,
        /// Its MD5, when it was worth reading (not when the size already differs).
        md5: Option<String>,
        /// Bytes read.
        read: u64,
    },
}

/// Bytes read at a time.
const CHUNK: usize = 256 * 1024;

/// Whether `etag` is an MD5 (single-part upload), not a multipart or encrypted object's tag.
fn etag_is_md5(etag: &str) -> bool {
    etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks the object `key` against `size` bytes with MD5 `md5`; `full` reads it even where
/// the ETag would do.
pub async fn check(
    blobs: &dyn BlobStore,
    key: &str,
    size: i64,
    md5: &str,
    full: bool,
) -> Result<Outcome, StoreError> {
    let Some(meta) = blobs.head(key).await? else {
        return Ok(Outcome::Missing);
    };
    if i64::try_from(meta.size).ok() != Some(size) {
        return Ok(Outcome::Damaged {
            size: meta.size,
            md5: None,
            read: 0,
        });
    }
    if !full && let Some(etag) = meta.etag.as_deref().filter(|e| etag_is_md5(e)) {
        return Ok(if etag.eq_ignore_ascii_case(md5) {
            Outcome::Good { read: 0 }
        } else {
            Outcome::Damaged {
                size: meta.size,
                md5: Some(etag.to_ascii_lowercase()),
                read: 0,
            }
        });
    }
    let found = match blobs.open_local(key).await? {
        Some(file) => tokio::task::spawn_blocking(move || hash_file(file))
            .await
            .map_err(std::io::Error::other)??,
        None => {
            let Some(mut reader) = blobs.read(key, 0, meta.size).await? else {
                return Ok(Outcome::Missing);
            };
            let mut hasher = Md5::new();
            let mut buffer = vec![0u8; CHUNK];
            let mut read = 0u64;
            loop {
                let n = reader.read(&mut buffer).await?;
                if n == 0 {
                    break;
                }
                hasher.update(buffer.get(..n).unwrap_or_default());
                read += n as u64;
            }
            (read, hasher.hex())
        }
    };
    let (read, found_md5) = found;
    Ok(if read == meta.size && found_md5 == md5 {
        Outcome::Good { read }
    } else {
        Outcome::Damaged {
            size: read,
            md5: Some(found_md5),
            read,
        }
    })
}

fn hash_file(mut file: std::fs::File) -> std::io::Result<(u64, String)> {
    use std::io::Read;
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 4 * CHUNK];
    let mut read = 0u64;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(buffer.get(..n).unwrap_or_default());
        read += n as u64;
    }
    Ok((read, hasher.hex()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::disk::DiskStore;

    #[tokio::test]
    async fn tells_good_missing_truncated_and_flipped_objects_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = DiskStore::open(dir.path().join("objects")).expect("open");
        let md5 = "5eb63bbbe01eeed093cb22bb8f5acdc3";
        store
            .put("s/a_x", bytes::Bytes::from_static(b"hello world"), "")
            .await
            .expect("put");
        assert_eq!(
            check(&store, "s/a_x", 11, md5, false).await.expect("check"),
            Outcome::Good { read: 11 }
        );
        assert_eq!(
            check(&store, "s/b_x", 11, md5, false).await.expect("check"),
            Outcome::Missing
        );
        std::fs::write(dir.path().join("objects/s/a_x"), b"hello").expect("truncate");
        assert!(matches!(
            check(&store, "s/a_x", 11, md5, false).await.expect("check"),
            Outcome::Damaged {
                size: 5,
                md5: None,
                ..
            }
        ));
        std::fs::write(dir.path().join("objects/s/a_x"), b"hello World").expect("flip");
        assert!(matches!(
            check(&store, "s/a_x", 11, md5, false).await.expect("check"),
            Outcome::Damaged {
                size: 11,
                md5: Some(_),
                ..
            }
        ));
        assert!(etag_is_md5(md5));
        assert!(!etag_is_md5("5eb63bbbe01eeed093cb22bb8f5acdc3-2"));
    }
}
