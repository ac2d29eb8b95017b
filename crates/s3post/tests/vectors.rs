//! Checks signing and policy encoding against independent implementations: AWS's published
//! POST example and botocore's `generate_presigned_post` (see `tests/data/README.md`).

use chrono::{DateTime, NaiveDate, Utc};
use s3post::policy::{Condition, PostPolicy};
use s3post::presign::presign_post;
use s3post::signing::{CredentialScope, SecretKey, SigningKey};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing string {key}"))
}

#[test]
fn aws_published_post_example_signature_matches() {
    let v = load("aws-sigv4-post-example.json");
    let date = NaiveDate::parse_from_str(str_at(&v, "date"), "%Y%m%d").expect("date");
    let key = SigningKey::derive(
        &SecretKey::new(str_at(&v, "secret_access_key")),
        CredentialScope::s3(date, str_at(&v, "region")),
    );
    let policy = str_at(&v, "policy");
    assert_eq!(key.sign(policy.as_bytes()), str_at(&v, "signature"));
    assert!(key.verify(policy.as_bytes(), str_at(&v, "signature")));

    // The published policy (pretty-printed, CRLF line ends) parses into the conditions the page lists.
    let parsed = PostPolicy::from_base64(policy).expect("AWS example policy parses");
    assert_eq!(parsed.conditions.len(), 11);
    assert_eq!(
        parsed.conditions[0],
        Condition::eq("bucket", "sigv4examplebucket")
    );
    assert_eq!(
        parsed.conditions[1],
        Condition::starts_with("key", "user/user1/")
    );
    assert_eq!(
        parsed.conditions[7],
        Condition::starts_with("x-amz-meta-tag", "")
    );
    assert_eq!(
        parsed.conditions[8],
        Condition::eq(
            "x-amz-credential",
            "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"
        )
    );
}

/// Rebuilds the conditions botocore's `generate_presigned_post` starts from: the caller's
/// conditions, then `bucket`, then `key` (a trailing `${filename}` becomes a starts-with).
fn input_conditions(input: &Value, expiration: DateTime<Utc>) -> Vec<Condition> {
    let wrapped = serde_json::json!({
        "expiration": s3post::timefmt::policy_expiration(expiration),
        "conditions": input["conditions"],
    });
    let mut conditions = PostPolicy::from_json(wrapped.to_string().as_bytes())
        .expect("input conditions parse")
        .conditions;
    conditions.push(Condition::eq("bucket", str_at(input, "bucket").to_owned()));
    let key = str_at(input, "key");
    conditions.push(match key.strip_suffix("${filename}") {
        Some(prefix) => Condition::starts_with("key", prefix.to_owned()),
        None => Condition::eq("key", key.to_owned()),
    });
    conditions
}

#[test]
fn botocore_presigned_posts_match_ours() {
    let file = load("botocore-presigned-post.json");
    let access_key = str_at(&file, "access_key_id");
    let secret = SecretKey::new(str_at(&file, "secret_access_key"));
    let vectors = file["vectors"].as_array().expect("vectors");
    assert!(vectors.len() >= 3);
    for vector in vectors {
        let input = &vector["input"];
        let fields = &vector["output"]["fields"];
        let name = str_at(input, "name");
        let now: DateTime<Utc> = str_at(input, "now").parse().expect("now");
        let expires_in = input["expires_in"].as_i64().expect("expires_in");
        let expiration = now + chrono::Duration::seconds(expires_in);
        let key = SigningKey::derive(
            &secret,
            CredentialScope::s3(now.date_naive(), str_at(input, "region")),
        );

        // 1. Our signature over botocore's own policy bytes is botocore's signature.
        let boto_policy = str_at(fields, "policy");
        assert_eq!(
            key.sign(boto_policy.as_bytes()),
            str_at(fields, "x-amz-signature"),
            "{name}: signature over botocore's policy"
        );

        // 2. Our presigned POST for the same inputs carries the same expiration, conditions and
        //    SigV4 fields as botocore's.
        let boto = PostPolicy::from_base64(boto_policy).expect("botocore policy parses");
        let ours = presign_post(
            &key,
            access_key,
            now,
            expiration,
            input_conditions(input, expiration),
        )
        .expect("presign");
        let decoded = PostPolicy::from_base64(&ours.policy_base64).expect("our policy parses");
        assert_eq!(decoded, boto, "{name}: decoded policies differ");
        assert_eq!(
            ours.credential,
            str_at(fields, "x-amz-credential"),
            "{name}"
        );
        assert_eq!(ours.amz_date, str_at(fields, "x-amz-date"), "{name}");
        assert_eq!(ours.algorithm, str_at(fields, "x-amz-algorithm"), "{name}");
        assert!(
            key.verify(ours.policy_base64.as_bytes(), &ours.signature),
            "{name}"
        );
    }
}
