//! Presigned POST generation: the signed fields a client posts to S3 with its file.
//!
//! Like botocore's `generate_presigned_post`, the caller's conditions are kept in order and the
//! `x-amz-algorithm`, `x-amz-credential` and `x-amz-date` conditions AWS requires are appended.

use chrono::{DateTime, Utc};

use crate::error::PresignError;
use crate::policy::{Condition, PostPolicy};
use crate::signing::{ALGORITHM, SigningKey};
use crate::timefmt::{amz_date, scope_date};

/// The signed values of a presigned POST. The caller adds its own eq-fields (bucket, key, acl…)
/// under whatever spelling its API uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedPost {
    /// The policy that was signed.
    pub policy: PostPolicy,
    /// `policy`: the base64 policy document.
    pub policy_base64: String,
    /// `x-amz-signature`: hex HMAC-SHA256 of `policy_base64`.
    pub signature: String,
    /// `x-amz-algorithm`.
    pub algorithm: &'static str,
    /// `x-amz-credential`.
    pub credential: String,
    /// `x-amz-date`.
    pub amz_date: String,
}

/// Signs a POST policy made of `conditions` plus the SigV4 fields, valid until `expiration`.
///
/// `key` must have been derived for the date of `now`.
pub fn presign_post(
    key: &SigningKey,
    access_key_id: &str,
    now: DateTime<Utc>,
    expiration: DateTime<Utc>,
    mut conditions: Vec<Condition>,
) -> Result<PresignedPost, PresignError> {
    if key.scope().date != now.date_naive() {
        return Err(PresignError::ScopeDateMismatch {
            key_date: scope_date(key.scope().date),
            now_date: scope_date(now.date_naive()),
        });
    }
    if expiration <= now {
        return Err(PresignError::ExpirationNotInFuture);
    }
    let credential = key.scope().credential(access_key_id);
    let amz_date = amz_date(now);
    // The three SigV4 conditions at once: a caller's exactly-filled `vec![…]` would otherwise
    // be reallocated and moved by the first push.
    conditions.reserve(3);
    conditions.push(Condition::eq("x-amz-algorithm", ALGORITHM));
    conditions.push(Condition::eq("x-amz-credential", credential.clone()));
    conditions.push(Condition::eq("x-amz-date", amz_date.clone()));
    let policy = PostPolicy {
        expiration,
        conditions,
    };
    let policy_base64 = policy.to_base64();
    let signature = key.sign(policy_base64.as_bytes());
    Ok(PresignedPost {
        policy,
        policy_base64,
        signature,
        algorithm: ALGORITHM,
        credential,
        amz_date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{CredentialScope, SecretKey};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 10, 30, 0)
            .single()
            .expect("valid date")
    }

    fn key_for(date: DateTime<Utc>) -> SigningKey {
        SigningKey::derive(
            &SecretKey::new("secret"),
            CredentialScope::s3(date.date_naive(), "us-east-1"),
        )
    }

    #[test]
    fn appends_sigv4_conditions_and_signs_the_encoded_policy() {
        let key = key_for(now());
        let post = presign_post(
            &key,
            "AK",
            now(),
            now() + chrono::Duration::minutes(10),
            vec![Condition::eq("key", "k")],
        )
        .expect("presign");
        assert_eq!(post.amz_date, "20261125T103000Z");
        assert_eq!(post.credential, "AK/20261125/us-east-1/s3/aws4_request");
        assert_eq!(
            post.policy.conditions[1..],
            [
                Condition::eq("x-amz-algorithm", "AWS4-HMAC-SHA256"),
                Condition::eq("x-amz-credential", "AK/20261125/us-east-1/s3/aws4_request"),
                Condition::eq("x-amz-date", "20261125T103000Z"),
            ]
        );
        assert_eq!(
            PostPolicy::from_base64(&post.policy_base64),
            Ok(post.policy.clone())
        );
        assert!(key.verify(post.policy_base64.as_bytes(), &post.signature));
    }

    #[test]
    fn refuses_a_stale_key_or_a_past_expiration() {
        let yesterday = now() - chrono::Duration::days(1);
        assert!(matches!(
            presign_post(
                &key_for(yesterday),
                "AK",
                now(),
                now() + chrono::Duration::hours(1),
                vec![]
            ),
            Err(PresignError::ScopeDateMismatch { .. })
        ));
        assert_eq!(
            presign_post(&key_for(now()), "AK", now(), now(), vec![]),
            Err(PresignError::ExpirationNotInFuture)
        );
    }
}
