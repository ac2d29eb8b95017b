//! Property tests of the policy encoding and the condition logic, over arbitrary text.

use chrono::{Duration, TimeZone, Utc};
use proptest::prelude::*;
use s3post::policy::{Condition, PostPolicy};
use s3post::presign::presign_post;
use s3post::signing::{CredentialScope, SecretKey, SigningKey};
use s3post::{PostRequest, verify_post};

fn condition() -> impl Strategy<Value = Condition> {
    prop_oneof![
        (any::<String>(), any::<String>()).prop_map(|(f, v)| Condition::eq(f, v)),
        ("[^\\x00]{1,20}", any::<String>()).prop_map(|(f, p)| Condition::starts_with(f, p)),
        (any::<u64>(), any::<u64>())
            .prop_map(|(a, b)| Condition::content_length_range(a.min(b), a.max(b))),
    ]
}

proptest! {
    #[test]
    fn policies_round_trip_through_json_and_base64(conditions in proptest::collection::vec(condition(), 0..12), secs in 0i64..4_000_000_000) {
        let policy = PostPolicy {
            expiration: Utc.timestamp_opt(secs, 0).single().expect("in range"),
            conditions,
        };
        prop_assert_eq!(PostPolicy::from_base64(&policy.to_base64()), Ok(policy.clone()));
        let reference: serde_json::Value = serde_json::from_str(&policy.to_json()).expect("valid JSON");
        prop_assert!(reference.is_object());
    }

    #[test]
    fn eq_and_starts_with_hold_exactly_when_they_should(value in "[ -~]{0,40}", prefix in "[ -~]{0,10}", other in "[ -~]{0,40}") {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).single().expect("date");
        let key = SigningKey::derive(&SecretKey::new("s"), CredentialScope::s3(now.date_naive(), "us-east-1"));
        let sign = |conditions: Vec<Condition>| presign_post(&key, "AK", now, now + Duration::hours(1), conditions).expect("presign");
        let verify = |post: &s3post::presign::PresignedPost, meta: &str| {
            let fields: Vec<(String, String)> = vec![
                ("key".into(), "k".into()),
                ("x-amz-meta-v".into(), meta.into()),
                ("x-amz-algorithm".into(), post.algorithm.into()),
                ("x-amz-credential".into(), post.credential.clone()),
                ("x-amz-date".into(), post.amz_date.clone()),
                ("policy".into(), post.policy_base64.clone()),
                ("x-amz-signature".into(), post.signature.clone()),
            ];
            verify_post(&PostRequest { bucket: "b", fields: &fields, file_name: None }, now, |_| Some(SecretKey::new("s"))).is_ok()
        };
        let eq = sign(vec![Condition::eq("key", "k"), Condition::eq("x-amz-meta-v", value.clone())]);
        prop_assert!(verify(&eq, &value));
        prop_assert_eq!(verify(&eq, &other), other == value);
        let starts = sign(vec![Condition::eq("key", "k"), Condition::starts_with("x-amz-meta-v", prefix.clone())]);
        prop_assert_eq!(verify(&starts, &other), other.starts_with(&prefix));
    }
}
