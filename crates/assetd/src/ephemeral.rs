//! `assetd serve --ephemeral`: a throwaway instance for a user's CI, in place of Webflow. Its
//! data directory is a fresh one under the system's temporary directory, removed at exit; its
//! one site and token can be fixed by flags, so test code can hard-code them.
//!
//! A process killed with SIGKILL cannot remove its directory: it stays under the temporary
//! directory, named `assetd-ephemeral-…`.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::ids::ObjectId;
use crate::meta::{MetaError, MetaStore, Site};
use crate::scopes::Scopes;
use crate::tokens::TokenHash;

/// A data directory removed when dropped.
#[derive(Debug)]
pub struct TempDataDir(PathBuf);

impl TempDataDir {
    /// Creates a new, empty directory under the system's temporary directory.
    pub fn create() -> std::io::Result<Self> {
        let now = chrono::Utc::now();
        let name = format!(
            "assetd-ephemeral-{}-{}",
            std::process::id(),
            ObjectId::generate(now)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path)?;
        Ok(Self(path))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDataDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(path = %self.0.display(), error = %e, "cannot remove the ephemeral data directory");
        }
    }
}

/// The site and token an ephemeral instance serves.
#[derive(Debug)]
pub struct Seeded {
    /// The site's id.
    pub site_id: ObjectId,
    /// The token, with both scopes.
    pub token: zeroize::Zeroizing<String>,
}

impl Seeded {
    /// `{"url","apiBase","siteId","token"}` for a service at `public_url`.
    pub fn json_line(&self, public_url: &str) -> String {
        json!({
            "url": public_url,
            "apiBase": format!("{public_url}/v2"),
            "siteId": self.site_id,
            "token": self.token.as_str(),
        })
        .to_string()
    }
}

/// Why the flags cannot seed an instance.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The token is empty or has whitespace (it could not be sent as a Bearer token).
    #[error("--token must be non-empty and without whitespace")]
    BadToken,
    /// The database refused.
    #[error(transparent)]
    Meta(#[from] MetaError),
}

/// Creates the one site (with `site_id` if given) and a token for it with both scopes (`token`
/// if given).
pub async fn seed(
    meta: &dyn MetaStore,
    site_id: Option<ObjectId>,
    token: Option<&str>,
) -> Result<Seeded, SeedError> {
    let now = crate::timestamp::now();
    let site_id = site_id.unwrap_or_else(|| ObjectId::generate(now));
    let token = match token {
        Some(t) if t.is_empty() || t.contains(char::is_whitespace) => {
            return Err(SeedError::BadToken);
        }
        Some(t) => zeroize::Zeroizing::new(t.to_owned()),
        None => crate::tokens::generate().0,
    };
    meta.create_site(&Site {
        id: site_id,
        name: "Ephemeral site".to_owned(),
        created_on: now,
    })
    .await?;
    let hash = TokenHash::of(&token);
    meta.create_token(
        ObjectId::generate(now),
        &hash,
        Scopes::ALL,
        &[site_id],
        now,
        None,
    )
    .await?;
    Ok(Seeded { site_id, token })
}
