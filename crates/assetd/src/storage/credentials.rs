//! The embedded object store's own access key and secret, created once per data directory.
//!
//! They live in `<data-dir>/s3-credentials.json` with mode 0600, written atomically (temp file,
//! fsync, rename) so a crash never leaves a half-written secret.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::Rng;
use rand::distr::Alphanumeric;
use s3post::signing::SecretKey;
use serde::{Deserialize, Serialize};

/// File name of the credentials inside the data directory.
pub const FILE_NAME: &str = "s3-credentials.json";

/// An access key id and its secret.
#[derive(Debug, Clone)]
pub struct StoreCredentials {
    /// The public half, sent in `x-amz-credential`.
    pub access_key_id: String,
    /// The secret half, used only to derive signing keys.
    pub secret: SecretKey,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    access_key_id: String,
    secret_access_key: String,
}

fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

impl StoreCredentials {
    /// Fresh random credentials in AWS's shapes (20-character key id, 40-character secret).
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let suffix: String = (&mut rng)
            .sample_iter(Alphanumeric)
            .take(16)
            .map(|c| char::from(c).to_ascii_uppercase())
            .collect();
        let secret: String = (&mut rng)
            .sample_iter(Alphanumeric)
            .take(40)
            .map(char::from)
            .collect();
        Self {
            access_key_id: format!("AKAD{suffix}"),
            secret: SecretKey::new(secret),
        }
    }

    /// Reads the credentials of `data_dir`, creating them on first use. Returns them and whether
    /// they were just created.
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<(Self, bool)> {
        let path = path_in(data_dir);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let on_disk: OnDisk = serde_json::from_slice(&bytes).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?;
                Ok((
                    Self {
                        access_key_id: on_disk.access_key_id,
                        secret: SecretKey::new(on_disk.secret_access_key),
                    },
                    false,
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let created = Self::generate();
                created.write(&path)?;
                Ok((created, true))
            }
            Err(e) => Err(e),
        }
    }

    fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(&OnDisk {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret.expose().to_owned(),
        })?;
        let tmp = path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_then_reads_the_same_credentials() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (first, created) = StoreCredentials::load_or_create(dir.path()).expect("create");
        assert!(created);
        assert_eq!(first.access_key_id.len(), 20);
        assert_eq!(first.secret.expose().len(), 40);
        let (second, created) = StoreCredentials::load_or_create(dir.path()).expect("read");
        assert!(!created);
        assert_eq!(first.access_key_id, second.access_key_id);
        assert_eq!(first.secret.expose(), second.secret.expose());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE_NAME))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
