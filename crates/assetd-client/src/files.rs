//! Finding the files to upload and hashing them.

use std::path::{Path, PathBuf};

use assetd_md5::Md5;
use tokio::io::AsyncReadExt;

const HASH_CHUNK: usize = 1024 * 1024;

/// Every regular file under `paths` (directories recursively), in a stable order.
pub fn collect(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let meta = std::fs::metadata(path)?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
                .map(|entry| entry.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            entries.sort();
            for entry in entries {
                walk(&entry, out)?;
            }
        } else if meta.is_file() {
            out.push(path.to_path_buf());
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        walk(path, &mut out)?;
    }
    Ok(out)
}

/// The MD5 (lower-case hex) and size of a file, read once in 1 MiB chunks.
pub async fn md5_of(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; HASH_CHUNK];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        size += n as u64;
    }
    Ok((md5.hex(), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_and_walks_directories_in_order() {
        let dir = std::env::temp_dir().join(format!("assetd-client-files-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("b")).expect("mkdir");
        std::fs::write(dir.join("a.txt"), b"abc").expect("write");
        std::fs::write(dir.join("b/c.txt"), b"").expect("write");
        let found = collect(std::slice::from_ref(&dir)).expect("walk");
        assert_eq!(found, [dir.join("a.txt"), dir.join("b/c.txt")]);
        assert_eq!(
            md5_of(&dir.join("a.txt")).await.expect("hash"),
            ("900150983cd24fb0d6963f7d28e17f72".to_owned(), 3)
        );
        assert_eq!(
            md5_of(&dir.join("b/c.txt")).await.expect("hash").0,
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
