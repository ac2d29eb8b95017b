//! Presigned POST generation as assetd does it per create request: a cached signing key, the
//! Webflow condition set, policy JSON + base64 + HMAC. `bench/run` compares the result with
//! botocore's `generate_presigned_post` measured in the same run. It allocates with mimalloc,
//! assetd's global allocator.

use chrono::{TimeZone, Utc};
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use s3post::policy::Condition;
use s3post::presign::presign_post;
use s3post::signing::{CredentialScope, SecretKey, SigningKey};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn presign(c: &mut Criterion) {
    let now = Utc
        .with_ymd_and_hms(2026, 11, 25, 10, 30, 0)
        .single()
        .expect("date");
    let key = SigningKey::derive(
        &SecretKey::new("testsecretkeytestsecretkey0000000000001"),
        CredentialScope::s3(now.date_naive(), "us-east-1"),
    );
    let object_key = "6390c49674a71f84b51a08d8/64358b9544249dc43d37d2b7_file.png";
    c.bench_function("presign_post", |b| {
        b.iter(|| {
            let conditions = vec![
                Condition::eq("bucket", "assetd"),
                Condition::eq("key", black_box(object_key)),
                Condition::eq("acl", "public-read"),
                Condition::eq("Content-Type", "image/png"),
                Condition::eq("Cache-Control", "max-age=31536000, must-revalidate"),
                Condition::eq("success_action_status", "201"),
                Condition::content_length_range(1, 4_194_304),
            ];
            presign_post(
                &key,
                "AKIATESTLOCAL000001",
                now,
                now + chrono::Duration::hours(1),
                conditions,
            )
            .expect("presign")
        })
    });
    c.bench_function("signing_key_derivation", |b| {
        let secret = SecretKey::new("testsecretkeytestsecretkey0000000000001");
        b.iter(|| SigningKey::derive(&secret, CredentialScope::s3(now.date_naive(), "us-east-1")))
    });
}

criterion_group!(benches, presign);
criterion_main!(benches);
