//! Signs upload policies for the blob store, caching the SigV4 signing key per day.
//!
//! Deriving a signing key costs four HMACs; it is valid for a whole UTC day, so it is derived
//! once per day and shared by every request.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use s3post::policy::Condition;
use s3post::presign::{PresignedPost, presign_post};
use s3post::signing::{CredentialScope, SigningKey};

use crate::storage::credentials::StoreCredentials;

/// What one upload may be.
#[derive(Debug, Clone, Copy)]
pub struct UploadRules<'a> {
    /// The object key the form must use.
    pub key: &'a str,
    /// The Content-Type the form must send (one of the known types).
    pub content_type: &'static str,
    /// The Cache-Control the form must send.
    pub cache_control: &'a str,
    /// Largest allowed file, in bytes.
    pub max_bytes: u64,
    /// When the policy stops being accepted.
    pub expiration: DateTime<Utc>,
}

/// The `acl` every upload is pinned to: assets are public, as on Webflow.
pub const ACL: &str = "public-read";
/// The `success_action_status` every upload is pinned to, as Webflow does (201 + XML).
pub const SUCCESS_ACTION_STATUS: &str = "201";
/// Smallest accepted upload: an empty asset is almost certainly a client mistake.
pub const MIN_BYTES: u64 = 1;

/// Produces presigned POSTs for one bucket.
#[derive(Debug)]
pub struct UploadSigner {
    credentials: StoreCredentials,
    region: String,
    bucket: String,
    key_cache: RwLock<Option<Arc<SigningKey>>>,
}

impl UploadSigner {
    /// A signer for `bucket` in `region`.
    pub fn new(credentials: StoreCredentials, region: String, bucket: String) -> Self {
        Self {
            credentials,
            region,
            bucket,
            key_cache: RwLock::new(None),
        }
    }

    /// The secret of `access_key_id`, if it is this store's key.
    pub fn secret_for(&self, access_key_id: &str) -> Option<s3post::signing::SecretKey> {
        (access_key_id == self.credentials.access_key_id).then(|| self.credentials.secret.clone())
    }

    /// The bucket uploads go to.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The signing key for the day of `now`, derived at most once per day.
    pub fn signing_key(&self, now: DateTime<Utc>) -> Arc<SigningKey> {
        let today = now.date_naive();
        if let Some(key) = self
            .key_cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .filter(|key| key.scope().date == today)
        {
            return Arc::clone(key);
        }
        let key = Arc::new(SigningKey::derive(
            &self.credentials.secret,
            CredentialScope::s3(today, self.region.clone()),
        ));
        *self
            .key_cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::clone(&key));
        key
    }

    /// A presigned POST pinning bucket, key, acl, Content-Type, Cache-Control,
    /// success_action_status and the size range.
    pub fn presign(
        &self,
        now: DateTime<Utc>,
        rules: UploadRules<'_>,
    ) -> Result<PresignedPost, s3post::PresignError> {
        let conditions = vec![
            Condition::eq("bucket", self.bucket.clone()),
            Condition::eq("key", rules.key.to_owned()),
            Condition::eq("acl", ACL),
            Condition::eq("Content-Type", rules.content_type),
            Condition::eq("Cache-Control", rules.cache_control.to_owned()),
            Condition::eq("success_action_status", SUCCESS_ACTION_STATUS),
            Condition::content_length_range(MIN_BYTES, rules.max_bytes),
        ];
        presign_post(
            &self.signing_key(now),
            &self.credentials.access_key_id,
            now,
            rules.expiration,
            conditions,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use s3post::policy::PostPolicy;

    #[test]
    fn pins_every_field_and_reuses_the_days_key() {
        let signer = UploadSigner::new(
            StoreCredentials::generate(),
            "us-east-1".into(),
            "assetd".into(),
        );
        let now = Utc
            .with_ymd_and_hms(2026, 11, 25, 1, 0, 0)
            .single()
            .expect("date");
        let post = signer
            .presign(
                now,
                UploadRules {
                    key: "s/a_f.png",
                    content_type: "image/png",
                    cache_control: "max-age=1",
                    max_bytes: 10,
                    expiration: now + chrono::Duration::hours(1),
                },
            )
            .expect("presign");
        let policy = PostPolicy::from_base64(&post.policy_base64).expect("parses");
        assert!(
            policy
                .conditions
                .contains(&Condition::eq("key", "s/a_f.png"))
        );
        assert!(
            policy
                .conditions
                .contains(&Condition::content_length_range(1, 10))
        );
        assert!(Arc::ptr_eq(
            &signer.signing_key(now),
            &signer.signing_key(now + chrono::Duration::hours(5))
        ));
        assert!(!Arc::ptr_eq(
            &signer.signing_key(now),
            &signer.signing_key(now + chrono::Duration::days(1))
        ));
    }
}
