//! The embedded blob store: objects as files under `<data-dir>/objects/`.
//!
//! Writes go to a temp file in `objects/.tmp/` (same filesystem) through [`DiskWrite`]
//! (`disk_write.rs`), which fsyncs, renames into place and fsyncs the directory, so a reader
//! never sees a partial object; a crash leaves at most a temp file, which the next start removes.

use std::io::SeekFrom;
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use tokio::fs::File;
use tokio::io::AsyncReadExt;

pub use super::disk_write::DiskWrite;
use super::{BlobMeta, BlobReader, BlobStore, StoreError};

const TMP_DIR: &str = ".tmp";

/// Below this much free space the store reports itself full (readiness): no upload can finish.
const MIN_FREE_BYTES: u64 = 64 * 1024;

/// Bytes an unprivileged writer may still use on the filesystem of `path`, where known.
fn free_bytes(path: &Path) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        rustix::fs::statvfs(path)
            .ok()
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        None
    }
}
/// Objects (or ranges) up to this size are read into memory in one go.
const SMALL_READ: u64 = 64 * 1024;

enum Opened {
    Small(Vec<u8>),
    Large(std::fs::File),
}

/// Objects in a directory on local disk.
#[derive(Debug, Clone)]
pub struct DiskStore {
    root: PathBuf,
}

/// Turns a key into a path under the root, refusing anything that is not a plain relative path
/// of normal segments.
fn relative_path(key: &str) -> Result<PathBuf, StoreError> {
    if key.is_empty() || key.len() > 1024 || key.contains(['\0', '\\']) || key.starts_with('/') {
        return Err(StoreError::InvalidKey);
    }
    let mut path = PathBuf::new();
    for segment in key.split('/') {
        let mut components = Path::new(segment).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(part)), None) if part == segment && segment != TMP_DIR => {
                path.push(part);
            }
            _ => return Err(StoreError::InvalidKey),
        }
    }
    Ok(path)
}

impl DiskStore {
    /// A store rooted at `root` (created if needed). Temp files left by a crash are removed.
    pub fn open(root: PathBuf) -> std::io::Result<Self> {
        let tmp = root.join(TMP_DIR);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(Self { root })
    }

    /// A store rooted at `root` (created if needed), leaving its temp files alone: they may be
    /// the uploads in flight of a service running on the same directory. For the CLI's commands
    /// other than `serve` (`site create`, `token create`…).
    pub fn prepare(root: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join(TMP_DIR))?;
        Ok(Self { root })
    }

    /// The store rooted at `root` as another process uses it: nothing is created or removed
    /// (its temp files are the running service's uploads in flight). For `assetd verify` and
    /// `assetd backup`, which run beside `assetd serve`.
    pub fn attach(root: PathBuf) -> std::io::Result<Self> {
        if !root.join(TMP_DIR).is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} is not an object store", root.display()),
            ));
        }
        Ok(Self { root })
    }

    /// The directory objects live in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        Ok(self.root.join(relative_path(key)?))
    }

    /// Starts writing `key`; nothing is visible under the key until [`DiskWrite::commit`].
    pub fn begin_write(&self, key: &str) -> Result<DiskWrite, StoreError> {
        let target = self.path_of(key)?;
        let temp = self.root.join(TMP_DIR).join(format!(
            "{}.part",
            crate::ids::ObjectId::generate(chrono::Utc::now())
        ));
        Ok(DiskWrite::new(temp, target))
    }

    /// Every object key in the store (for tests and consistency checks).
    pub fn list_keys(&self) -> std::io::Result<Vec<String>> {
        let mut keys = Vec::new();
        walk_keys(&self.root, "", &mut |key| {
            keys.push(key);
            true
        })?;
        keys.sort();
        Ok(keys)
    }

    /// How many uncommitted temp files exist.
    pub fn temp_files(&self) -> std::io::Result<usize> {
        Ok(std::fs::read_dir(self.root.join(TMP_DIR))?.count())
    }
}

#[async_trait]
impl BlobStore for DiskStore {
    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, StoreError> {
        match tokio::fs::metadata(self.path_of(key)?).await {
            Ok(meta) if meta.is_file() => Ok(Some(BlobMeta {
                size: meta.len(),
                modified: meta.modified()?,
                etag: None,
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn read(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> Result<Option<BlobReader>, StoreError> {
        let path = self.path_of(key)?;
        // File I/O runs on the blocking pool; every hop there costs a thread hand-off. Opening,
        // seeking and (for small objects) reading happen in one hop.
        let opened = tokio::task::spawn_blocking(move || -> std::io::Result<Option<Opened>> {
            use std::io::{Read, Seek};
            let mut file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            if offset > 0 {
                file.seek(SeekFrom::Start(offset))?;
            }
            if len <= SMALL_READ {
                let mut bytes = Vec::with_capacity(len as usize);
                file.take(len).read_to_end(&mut bytes)?;
                return Ok(Some(Opened::Small(bytes)));
            }
            Ok(Some(Opened::Large(file)))
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(opened.map(|opened| -> BlobReader {
            match opened {
                Opened::Small(bytes) => Box::pin(std::io::Cursor::new(bytes)),
                Opened::Large(file) => Box::pin(File::from_std(file).take(len)),
            }
        }))
    }

    async fn put(
        &self,
        key: &str,
        bytes: bytes::Bytes,
        _content_type: &str,
    ) -> Result<(), StoreError> {
        // The served Content-Type comes from the metadata, so the file needs none.
        let mut write = self.begin_write(key)?;
        write.write(bytes).await?;
        write.commit().await?;
        Ok(())
    }

    async fn fetch_small(
        &self,
        key: &str,
        small: u64,
    ) -> Result<Option<(BlobMeta, Option<bytes::Bytes>)>, StoreError> {
        let path = self.path_of(key)?;
        // Open, stat and (if small) read in one hop to the blocking pool.
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let stat = file.metadata()?;
            if !stat.is_file() {
                return Ok(None);
            }
            let meta = BlobMeta {
                size: stat.len(),
                modified: stat.modified()?,
                etag: None,
            };
            if meta.size > small {
                return Ok(Some((meta, None)));
            }
            let mut bytes = Vec::with_capacity(usize::try_from(meta.size).unwrap_or(0));
            file.take(meta.size).read_to_end(&mut bytes)?;
            Ok(Some((meta, Some(bytes.into()))))
        })
        .await
        .map_err(std::io::Error::other)?
        .map_err(StoreError::from)
    }

    async fn open_local(&self, key: &str) -> Result<Option<std::fs::File>, StoreError> {
        let path = self.path_of(key)?;
        // Objects are written to a temp file and renamed into place, never changed in place, so
        // an open file keeps the bytes it had even if the object is deleted meanwhile.
        tokio::task::spawn_blocking(move || match std::fs::File::open(&path) {
            Ok(file) => Ok(Some(file)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        })
        .await
        .map_err(std::io::Error::other)?
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.path_of(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let prefix = format!("{}/", prefix.trim_end_matches('/'));
        Ok(self
            .list_keys()?
            .into_iter()
            .filter(|key| key.starts_with(&prefix))
            .collect())
    }

    fn keys(&self) -> super::KeyStream<'_> {
        // A blocking walk feeding a small channel: the walk holds one open directory per level
        // (two: sites, then their objects) and waits whenever the reader is behind.
        let (tx, rx) = tokio::sync::mpsc::channel(KEYS_IN_FLIGHT);
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            // The walk stops when the reader is gone (a send fails).
            let walked = walk_keys(&root, "", &mut |key| tx.blocking_send(Ok(key)).is_ok());
            if let Err(e) = walked {
                let _ = tx.blocking_send(Err(e.into()));
            }
        });
        // Fused: a consumer may poll again after the end, which a bare `unfold` forbids.
        Box::pin(futures_util::StreamExt::fuse(futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
        )))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        tokio::fs::metadata(self.root.join(TMP_DIR)).await?;
        if let Some(free) = free_bytes(&self.root)
            && free < MIN_FREE_BYTES
        {
            return Err(StoreError::Unavailable(format!(
                "no space left: {free} bytes free"
            )));
        }
        Ok(())
    }
}

/// Keys [`BlobStore::keys`] reads ahead of its reader.
const KEYS_IN_FLIGHT: usize = 256;

/// Hands every file under `dir` to `visit` as a key (`prefix/name`), leaving out the temp
/// directory. Stops early, without error, when `visit` returns false.
fn walk_keys(
    dir: &Path,
    prefix: &str,
    visit: &mut dyn FnMut(String) -> bool,
) -> std::io::Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // A name that is not UTF-8 was not written by assetd; shown lossily, it names no row
        // and is reported as a foreign object.
        let name = entry.file_name().to_string_lossy().into_owned();
        if prefix.is_empty() && name == TMP_DIR {
            continue;
        }
        let key = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let go_on = if entry.file_type()?.is_dir() {
            walk_keys(&entry.path(), &key, visit)?
        } else {
            visit(key)
        };
        if !go_on {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn keys_must_be_plain_relative_paths() {
        assert_eq!(
            relative_path("a/b_c.png").expect("valid"),
            PathBuf::from("a/b_c.png")
        );
        for bad in [
            "", "/abs", "a/../b", "..", ".", "a//b", "a/./b", "a\\b", "a\0b", ".tmp", "a/",
        ] {
            assert!(relative_path(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn committed_writes_appear_atomically_and_dropped_writes_leave_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = DiskStore::open(dir.path().join("objects")).expect("open");
        let mut write = store.begin_write("s/a.txt").expect("begin");
        write
            .write(Bytes::from_static(b"hello "))
            .await
            .expect("write");
        write
            .write(Bytes::from_static(b"world"))
            .await
            .expect("write");
        assert_eq!(
            store.head("s/a.txt").await.expect("head"),
            None,
            "visible before commit"
        );
        // A small object is only gathered: no file exists until it commits.
        assert_eq!(store.temp_files().expect("tmp"), 0);
        assert_eq!(
            write.finish().await.expect("finish"),
            "5eb63bbbe01eeed093cb22bb8f5acdc3",
            "MD5 of \"hello world\""
        );
        write.commit().await.expect("commit");
        assert_eq!(
            store.head("s/a.txt").await.expect("head").map(|m| m.size),
            Some(11)
        );
        assert_eq!(store.temp_files().expect("tmp"), 0);
        let mut reader = store
            .read("s/a.txt", 6, 5)
            .await
            .expect("read")
            .expect("exists");
        let mut text = String::new();
        reader.read_to_string(&mut text).await.expect("read");
        assert_eq!(text, "world");

        let mut aborted = store.begin_write("s/b.txt").expect("begin");
        aborted
            .write(Bytes::from_static(b"partial"))
            .await
            .expect("write");
        drop(aborted);
        assert_eq!(store.temp_files().expect("tmp"), 0);
        assert_eq!(store.list_keys().expect("list"), ["s/a.txt"]);

        store.delete("s/a.txt").await.expect("delete");
        store.delete("s/a.txt").await.expect("delete twice");
        assert!(store.list_keys().expect("list").is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_of_many_batches_keeps_every_byte_in_order_and_hashes_them() {
        use md5::Digest;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = DiskStore::open(dir.path().join("objects")).expect("open");
        let mut write = store.begin_write("s/big.bin").expect("begin");
        // 3 MiB and a bit in chunks of uneven sizes, so batches end mid-chunk-run.
        let content: Vec<u8> = (0..3 * 1024 * 1024 + 12_345u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for (i, chunk) in content.chunks(7_919).enumerate() {
            let chunk = Bytes::copy_from_slice(chunk);
            write.write(chunk).await.expect("write");
            if i % 97 == 0 {
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(
            store.temp_files().expect("tmp"),
            1,
            "streams through a temp file"
        );
        let digest = write.finish().await.expect("finish");
        assert_eq!(digest, hex::encode(md5::Md5::digest(&content)));
        write.commit().await.expect("commit");
        let stored = std::fs::read(dir.path().join("objects/s/big.bin")).expect("read");
        assert!(stored == content, "stored bytes differ");
        assert_eq!(store.temp_files().expect("tmp"), 0);

        let mut aborted = store.begin_write("s/big2.bin").expect("begin");
        for chunk in content.chunks(64 * 1024).take(5) {
            aborted
                .write(Bytes::copy_from_slice(chunk))
                .await
                .expect("write");
        }
        assert_eq!(store.temp_files().expect("tmp"), 1);
        drop(aborted);
        assert_eq!(store.temp_files().expect("tmp"), 0);
        assert_eq!(store.list_keys().expect("list"), ["s/big.bin"]);
    }

    /// A small object's one-hop commit that fails (its directory cannot be made) leaves no
    /// temp file and no object; a big one's leaves none either.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = DiskStore::open(dir.path().join("objects")).expect("open");
        store
            .put("blocker", Bytes::from_static(b"a file"), "")
            .await
            .expect("put");
        for size in [10, 3 * 64 * 1024 + 7] {
            // `blocker` is a file, so `blocker/x` cannot be created.
            let mut write = store.begin_write("blocker/x").expect("begin");
            write
                .write(Bytes::from(vec![7u8; size]))
                .await
                .expect("write");
            write.finish().await.expect("finish");
            assert!(write.commit().await.is_err(), "{size} bytes committed");
            assert_eq!(store.temp_files().expect("tmp"), 0, "{size} bytes");
            assert_eq!(store.list_keys().expect("list"), ["blocker"]);
        }
    }

    #[tokio::test]
    async fn keys_streams_every_object_but_no_temp_file_and_attach_removes_nothing() {
        use futures_util::TryStreamExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("objects");
        let store = DiskStore::open(root.clone()).expect("open");
        for key in ["s1/a_x.txt", "s1/b_y.txt", "s2/c_z.txt"] {
            store
                .put(key, Bytes::from_static(b"x"), "")
                .await
                .expect("put");
        }
        std::fs::write(root.join(TMP_DIR).join("upload.part"), b"in flight").expect("write");
        let beside = DiskStore::attach(root.clone()).expect("attach");
        let mut keys: Vec<String> = beside.keys().try_collect().await.expect("keys");
        keys.sort();
        assert_eq!(keys, ["s1/a_x.txt", "s1/b_y.txt", "s2/c_z.txt"]);
        assert_eq!(
            beside.temp_files().expect("tmp"),
            1,
            "an upload in flight is kept"
        );
        assert!(DiskStore::attach(dir.path().join("none")).is_err());
    }

    #[test]
    fn opening_removes_leftover_temp_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("objects");
        std::fs::create_dir_all(root.join(TMP_DIR)).expect("mkdir");
        std::fs::write(root.join(TMP_DIR).join("x.part"), b"crash").expect("write");
        let store = DiskStore::open(root).expect("open");
        assert_eq!(store.temp_files().expect("tmp"), 0);
    }
}
