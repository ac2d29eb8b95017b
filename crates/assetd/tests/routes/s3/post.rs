//! `POST /s3/{bucket}`: the embedded S3 POST Object endpoint, step 2 of the upload.

use chrono::{Duration, Utc};
use s3post::policy::{Condition, PostPolicy};
use s3post::presign::presign_post;
use s3post::signing::{CredentialScope, SecretKey, SigningKey};
use serde_json::Value;

use crate::util::{TestServer, create_asset, details, form, md5_hex, s3_error_code};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really an image, but bytes";

fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    match fields
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        Some(field) => field.1 = value.to_owned(),
        None => fields.push((name.to_owned(), value.to_owned())),
    }
}

async fn post(server: &TestServer, url: &str, form: reqwest::multipart::Form) -> reqwest::Response {
    server
        .client
        .post(url)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// A form for `key` signed with `secret`/`access_key` for `conditions` (plus bucket and key).
fn signed_fields(
    access_key: &str,
    secret: &str,
    key: &str,
    extra: &[(&str, &str)],
    mut conditions: Vec<Condition>,
    expiration: chrono::DateTime<Utc>,
) -> Vec<(String, String)> {
    let now = Utc::now();
    conditions.insert(0, Condition::eq("bucket", "assetd"));
    conditions.insert(1, Condition::eq("key", key.to_owned()));
    let signing_key = SigningKey::derive(
        &SecretKey::new(secret),
        CredentialScope::s3(now.date_naive(), "us-east-1"),
    );
    let (policy, signature, credential, date) = if expiration > now {
        let post = presign_post(&signing_key, access_key, now, expiration, conditions).unwrap();
        (
            post.policy_base64,
            post.signature,
            post.credential,
            post.amz_date,
        )
    } else {
        // presign_post refuses a past expiration, so build the expired policy by hand.
        let credential = signing_key.scope().credential(access_key);
        let date = s3post::timefmt::amz_date(now);
        conditions.push(Condition::eq("x-amz-algorithm", "AWS4-HMAC-SHA256"));
        conditions.push(Condition::eq("x-amz-credential", credential.clone()));
        conditions.push(Condition::eq("x-amz-date", date.clone()));
        let policy = PostPolicy {
            expiration,
            conditions,
        }
        .to_base64();
        let signature = signing_key.sign(policy.as_bytes());
        (policy, signature, credential, date)
    };
    let mut fields: Vec<(String, String)> = vec![("key".into(), key.into())];
    fields.extend(
        extra
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    fields.extend([
        ("X-Amz-Algorithm".to_owned(), "AWS4-HMAC-SHA256".to_owned()),
        ("X-Amz-Credential".to_owned(), credential),
        ("X-Amz-Date".to_owned(), date),
        ("Policy".to_owned(), policy),
        ("X-Amz-Signature".to_owned(), signature),
    ]);
    fields
}

fn server_signed(
    server: &TestServer,
    key: &str,
    extra: &[(&str, &str)],
    conditions: Vec<Condition>,
) -> Vec<(String, String)> {
    let creds = &server.data.credentials;
    signed_fields(
        &creds.access_key_id,
        creds.secret.expose(),
        key,
        extra,
        conditions,
        Utc::now() + Duration::minutes(5),
    )
}

async fn asset_state(
    server: &TestServer,
    created: &Value,
) -> (assetd::meta::AssetState, Option<i64>) {
    let id = created["id"].as_str().unwrap().parse().unwrap();
    let asset = server.meta.get_asset(id).await.unwrap().unwrap();
    (asset.state, asset.size)
}

#[tokio::test]
async fn reqwest_multipart_upload_is_stored_and_served_at_both_urls() {
    let server = TestServer::start().await;
    if !server.embedded() {
        return server.skip("embedded store only").await;
    }
    let created = create_asset(&server, "file.png", PNG).await;
    let response = post(
        &server,
        created["uploadUrl"].as_str().unwrap(),
        form(&details(&created), PNG.to_vec(), "image/png"),
    )
    .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "application/xml");
    let etag = format!("\"{}\"", md5_hex(PNG));
    assert_eq!(response.headers()["etag"], etag.as_str());
    let body = response.text().await.unwrap();
    let key = created["uploadDetails"]["key"].as_str().unwrap();
    let location = server.url(&format!("/s3/assetd/{}", key.replace('/', "%2F")));
    assert!(
        body.contains(&format!("<Location>{location}</Location>")),
        "{body}"
    );
    assert!(body.contains("<Bucket>assetd</Bucket>"), "{body}");
    assert!(body.contains(&format!("<Key>{key}</Key>")), "{body}");
    assert!(body.contains(&format!("<ETag>{etag}</ETag>")), "{body}");

    assert_eq!(
        asset_state(&server, &created).await,
        (assetd::meta::AssetState::Uploaded, Some(PNG.len() as i64))
    );
    for url in [&created["hostedUrl"], &created["assetUrl"]] {
        let got = server
            .client
            .get(url.as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().await.unwrap(), PNG);
    }
    // The Location of the PostResponse resolves to the same object.
    let got = server.client.get(&location).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap(), PNG);
    assert_eq!(server.stored().await, (vec![key.to_owned()], 0));
    server.stop().await;
}

#[tokio::test]
async fn the_same_bytes_can_be_uploaded_again() {
    let server = TestServer::start().await;
    if !server.embedded() {
        return server.skip("embedded store only").await;
    }
    let created = create_asset(&server, "file.png", PNG).await;
    let url = created["uploadUrl"].as_str().unwrap();
    for _ in 0..2 {
        let response = post(
            &server,
            url,
            form(&details(&created), PNG.to_vec(), "image/png"),
        )
        .await;
        assert_eq!(response.status(), 201);
    }
    assert_eq!(server.stored().await.0.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn success_action_status_and_redirect_shape_the_answer() {
    let server = TestServer::start().await;
    if !server.embedded() {
        return server.skip("embedded store only").await;
    }
    for (status_field, expected) in [("200", 200), ("204", 204), ("999", 204)] {
        let created = create_asset(&server, "a.png", PNG).await;
        let key = created["uploadDetails"]["key"].as_str().unwrap();
        let fields = server_signed(
            &server,
            key,
            &[("success_action_status", status_field)],
            vec![Condition::eq(
                "success_action_status",
                status_field.to_owned(),
            )],
        );
        let response = post(
            &server,
            created["uploadUrl"].as_str().unwrap(),
            form(&fields, PNG.to_vec(), "image/png"),
        )
        .await;
        assert_eq!(response.status().as_u16(), expected, "{status_field}");
        assert_eq!(
            response.headers()["etag"],
            format!("\"{}\"", md5_hex(PNG)).as_str()
        );
        assert!(response.bytes().await.unwrap().is_empty());
    }
    let created = create_asset(&server, "b.png", PNG).await;
    let key = created["uploadDetails"]["key"].as_str().unwrap();
    let fields = server_signed(
        &server,
        key,
        &[("success_action_redirect", "https://example.com/done?x=1")],
        vec![Condition::starts_with(
            "success_action_redirect",
            "https://example.com/",
        )],
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .post(created["uploadUrl"].as_str().unwrap())
        .multipart(form(&fields, PNG.to_vec(), "image/png"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://example.com/done?x=1&bucket=assetd&key="),
        "{location}"
    );
    assert!(
        location.ends_with(&format!("&etag=%22{}%22", md5_hex(PNG))),
        "{location}"
    );
    server.stop().await;
}

/// Every hostile form is refused with S3's code and leaves no object and no temp file.
#[tokio::test]
async fn hostile_uploads_are_refused_and_leave_nothing() {
    let server = TestServer::start_with(|s| s.image_max_bytes = 1000).await;
    if !server.embedded() {
        return server.skip("embedded store only").await;
    }
    let created = create_asset(&server, "file.png", PNG).await;
    let url = created["uploadUrl"].as_str().unwrap().to_owned();
    let key = created["uploadDetails"]["key"].as_str().unwrap().to_owned();
    let good = details(&created);
    let signature = good
        .iter()
        .find(|(n, _)| n == "X-Amz-Signature")
        .unwrap()
        .1
        .clone();
    let creds = &server.data.credentials;
    let other_created = create_asset(&server, "other.png", PNG).await;
    let other_key = other_created["uploadDetails"]["key"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut cases: Vec<(&str, reqwest::multipart::Form, u16, &str)> = Vec::new();
    let with = |name: &str, value: &str| {
        let mut fields = good.clone();
        set(&mut fields, name, value);
        fields
    };
    let flipped = format!(
        "{}{}",
        &signature[..63],
        if signature.ends_with('0') { "1" } else { "0" }
    );
    cases.push((
        "forged signature",
        form(
            &with("X-Amz-Signature", &flipped),
            PNG.to_vec(),
            "image/png",
        ),
        403,
        "SignatureDoesNotMatch",
    ));
    cases.push((
        "truncated signature",
        form(
            &with("X-Amz-Signature", &signature[..32]),
            PNG.to_vec(),
            "image/png",
        ),
        403,
        "SignatureDoesNotMatch",
    ));
    let other_secret = signed_fields(
        &creds.access_key_id,
        "not-the-secret-of-this-store-000000000000",
        &key,
        &[],
        vec![],
        Utc::now() + Duration::minutes(5),
    );
    cases.push((
        "signed with another secret",
        form(&other_secret, PNG.to_vec(), "image/png"),
        403,
        "SignatureDoesNotMatch",
    ));
    let unknown_key = signed_fields(
        "AKIAUNKNOWN000000000",
        creds.secret.expose(),
        &key,
        &[],
        vec![],
        Utc::now() + Duration::minutes(5),
    );
    cases.push((
        "unknown access key",
        form(&unknown_key, PNG.to_vec(), "image/png"),
        403,
        "InvalidAccessKeyId",
    ));
    let expired = signed_fields(
        &creds.access_key_id,
        creds.secret.expose(),
        &key,
        &[],
        vec![],
        Utc::now() - Duration::minutes(1),
    );
    cases.push((
        "expired policy",
        form(&expired, PNG.to_vec(), "image/png"),
        403,
        "AccessDenied",
    ));
    cases.push((
        "key of another asset",
        form(&with("key", &other_key), PNG.to_vec(), "image/png"),
        403,
        "AccessDenied",
    ));
    cases.push((
        "wrong Content-Type",
        form(
            &with("content-type", "text/html"),
            PNG.to_vec(),
            "text/html",
        ),
        403,
        "AccessDenied",
    ));
    cases.push((
        "extra unsigned field",
        form(&with("x-amz-meta-note", "hi"), PNG.to_vec(), "image/png"),
        403,
        "AccessDenied",
    ));
    cases.push((
        "extra unsigned Content-Disposition",
        form(
            &with("Content-Disposition", "attachment"),
            PNG.to_vec(),
            "image/png",
        ),
        403,
        "AccessDenied",
    ));
    cases.push((
        "size above the range",
        form(&good, vec![7u8; 1001], "image/png"),
        400,
        "EntityTooLarge",
    ));
    cases.push((
        "size below the range",
        form(&good, Vec::new(), "image/png"),
        400,
        "EntityTooSmall",
    ));
    cases.push((
        "bytes whose MD5 is not the fileHash",
        form(&good, b"other bytes".to_vec(), "image/png"),
        400,
        "BadDigest",
    ));
    let file_first = {
        let mut f = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("a.png"),
        );
        for (n, v) in &good {
            f = f.text(n.clone(), v.clone());
        }
        f
    };
    cases.push((
        "file not last (fields after it are not read)",
        file_first,
        400,
        "InvalidArgument",
    ));
    let two_files = form(&good, PNG.to_vec(), "image/png").part(
        "file",
        reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("b.png"),
    );
    cases.push((
        "two files",
        two_files,
        400,
        "IncorrectNumberOfFilesInPostRequest",
    ));
    let no_file = good
        .iter()
        .fold(reqwest::multipart::Form::new(), |f, (n, v)| {
            f.text(n.clone(), v.clone())
        });
    cases.push((
        "no file",
        no_file,
        400,
        "IncorrectNumberOfFilesInPostRequest",
    ));
    cases.push((
        "more than 20 KB before the file",
        form(
            &with("x-ignore-padding", &"p".repeat(21 * 1024)),
            PNG.to_vec(),
            "image/png",
        ),
        400,
        "MaxPostPreDataLengthExceeded",
    ));
    cases.push((
        "missing key",
        form(
            &good
                .iter()
                .filter(|(n, _)| n != "key")
                .cloned()
                .collect::<Vec<_>>(),
            PNG.to_vec(),
            "image/png",
        ),
        400,
        "InvalidArgument",
    ));
    let ghost_key = format!(
        "{}/{}_ghost.png",
        server.site_id,
        assetd::ids::ObjectId::generate(Utc::now())
    );
    cases.push((
        "upload for an asset that does not exist",
        form(
            &server_signed(&server, &ghost_key, &[], vec![]),
            PNG.to_vec(),
            "image/png",
        ),
        403,
        "AccessDenied",
    ));

    for (what, form, status, code) in cases {
        let response = post(&server, &url, form).await;
        assert_eq!(
            s3_error_code(response).await,
            (status, code.to_owned()),
            "{what}"
        );
        assert_eq!(
            server.stored().await,
            (vec![], 0),
            "{what} left something on disk"
        );
    }
    assert_eq!(
        asset_state(&server, &created).await,
        (assetd::meta::AssetState::Pending, None)
    );

    let wrong_bucket = post(
        &server,
        &server.url("/s3/elsewhere"),
        form(&good, PNG.to_vec(), "image/png"),
    )
    .await;
    assert_eq!(
        s3_error_code(wrong_bucket).await,
        (404, "NoSuchBucket".to_owned())
    );
    let not_multipart = server
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("key=a")
        .send()
        .await
        .unwrap();
    assert_eq!(
        s3_error_code(not_multipart).await,
        (412, "PreconditionFailed".to_owned())
    );
    let no_boundary = server
        .client
        .post(&url)
        .header("content-type", "multipart/form-data")
        .body("--x\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(
        s3_error_code(no_boundary).await,
        (412, "PreconditionFailed".to_owned())
    );
    assert_eq!(server.stored().await, (vec![], 0));
    server.stop().await;
}

fn raw_form(fields: &[(String, String)], boundary: &str, file: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n").as_bytes());
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

#[tokio::test]
async fn truncated_bodies_and_disconnects_leave_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    if !server.embedded() {
        return server.skip("embedded store only").await;
    }
    let bytes = vec![42u8; 512 * 1024];
    let created = create_asset(&server, "big.pdf", &bytes).await;
    let fields = details(&created);
    let body = raw_form(&fields, "XyZBoundary", &bytes);
    let cut = body.len() - 100 * 1024;

    // A body that ends before the form does: Content-Length matches what is sent.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /s3/assetd HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=XyZBoundary\r\nContent-Length: {cut}\r\nConnection: close\r\n\r\n",
        server.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..cut]).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("<Code>IncompleteBody</Code>"), "{answer}");
    assert_eq!(server.stored().await, (vec![], 0));

    // A client that promises the whole body and disconnects half-way.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /s3/assetd HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=XyZBoundary\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..cut]).await.unwrap();
    stream.flush().await.unwrap();
    drop(stream);
    // The server notices the disconnect asynchronously; wait for its cleanup (bounded).
    let mut left = server.stored().await;
    for _ in 0..100 {
        if left == (vec![], 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        left = server.stored().await;
    }
    assert_eq!(left, (vec![], 0));
    assert_eq!(
        asset_state(&server, &created).await.0,
        assetd::meta::AssetState::Pending
    );
    server.stop().await;
}

#[tokio::test]
async fn browser_style_form_in_the_webflow_guide_order() {
    let server = TestServer::start().await;
    if !server.embedded() {
        return server.skip("embedded store only").await;
    }
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    let created = create_asset(&server, "icon.svg", svg).await;
    let d = &created["uploadDetails"];
    // The order of the Webflow guide's Node example, with `Content-Type` as it spells it.
    let order = [
        "acl",
        "bucket",
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "key",
        "Policy",
        "X-Amz-Signature",
        "success_action_status",
    ];
    let mut fields: Vec<(String, String)> = order
        .iter()
        .map(|n| ((*n).to_owned(), d[*n].as_str().unwrap().to_owned()))
        .collect();
    fields.push((
        "Content-Type".into(),
        d["content-type"].as_str().unwrap().into(),
    ));
    fields.push((
        "Cache-Control".into(),
        d["Cache-Control"].as_str().unwrap().into(),
    ));
    let body = raw_form(&fields, "----WebKitFormBoundary7MA4YWxkTrZu0gW", svg);
    let response = server
        .client
        .post(created["uploadUrl"].as_str().unwrap())
        .header(
            "content-type",
            "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
        )
        .header("origin", "https://my-site.example")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let served = server
        .client
        .get(created["hostedUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(served.headers()["content-type"], "image/svg+xml");
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    assert!(
        served.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert_eq!(served.bytes().await.unwrap(), &svg[..]);
    server.stop().await;
}

#[tokio::test]
async fn cors_preflight_allows_a_cross_origin_form_post() {
    let server = TestServer::start().await;
    if !server.embedded() {
        return server.skip("embedded store only").await;
    }
    let response = server
        .client
        .request(reqwest::Method::OPTIONS, server.url("/s3/assetd"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(
        response.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    // Every origin gets the same answer, so none is named in Vary.
    assert!(response.headers().get("vary").is_none());
    server.stop().await;
}

#[tokio::test]
async fn cors_origins_can_be_restricted() {
    let server =
        TestServer::start_with(|s| s.cors_allowed_origins = vec!["https://good.example".into()])
            .await;
    let preflight = |origin: &'static str| {
        server
            .client
            .request(reqwest::Method::OPTIONS, server.url("/s3/assetd"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let good = preflight("https://good.example").await.unwrap();
    assert_eq!(
        good.headers()["access-control-allow-origin"],
        "https://good.example"
    );
    // The answer depends on the origin, so caches must keep one per origin.
    let vary = good.headers()["vary"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(vary.contains("origin"), "{vary}");
    let bad = preflight("https://evil.example").await.unwrap();
    assert!(bad.headers().get("access-control-allow-origin").is_none());
    server.stop().await;
}

/// Bytes of a document, different for each `seed`, starting as a PDF does.
fn document(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut bytes = b"%PDF-1.4\n".to_vec();
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_are_each_checked_against_their_own_hash() {
    // Uploads arriving together have their MD5s computed side by side (storage/hash_combiner.rs):
    // each must still be checked against its own fileHash, and a wrong one must cost only its
    // own upload.
    let server = TestServer::start().await;
    if !server.embedded() {
        return server.skip("embedded store only").await;
    }
    let mut uploads = Vec::new();
    for i in 0..24u64 {
        let hashed = document(i, 150_000 + 7_919 * i as usize);
        let created = create_asset(&server, &format!("doc-{i}.pdf"), &hashed).await;
        let mut sent = hashed.clone();
        let corrupted = i % 6 == 5;
        if corrupted {
            let at = 1_000 + 13_337 * i as usize % (sent.len() - 1_000);
            sent[at] ^= 0x40;
        }
        uploads.push((created, sent, corrupted));
    }
    let answers = futures_util::future::join_all(uploads.iter().map(|(created, sent, _)| {
        let content_type = created["contentType"].as_str().unwrap().to_owned();
        post(
            &server,
            created["uploadUrl"].as_str().unwrap(),
            form(&details(created), sent.clone(), &content_type),
        )
    }))
    .await;
    let mut kept = Vec::new();
    for ((created, sent, corrupted), response) in uploads.iter().zip(answers) {
        if *corrupted {
            assert_eq!(s3_error_code(response).await, (400, "BadDigest".to_owned()));
            let (state, _) = asset_state(&server, created).await;
            assert_ne!(state, assetd::meta::AssetState::Uploaded);
            continue;
        }
        assert_eq!(response.status(), 201);
        let etag = format!("\"{}\"", md5_hex(sent));
        assert_eq!(response.headers()["etag"], etag.as_str());
        let got = server
            .client
            .get(created["hostedUrl"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(got.bytes().await.unwrap(), &sent[..]);
        kept.push(created["uploadDetails"]["key"].as_str().unwrap().to_owned());
    }
    let (mut stored, temp_files) = server.stored().await;
    stored.sort();
    kept.sort();
    assert_eq!((stored, temp_files), (kept, 0));
    server.stop().await;
}

/// What S3 itself returned as the checksums of the object `test data..` (LocalStack's snapshot
/// tests, recorded against AWS; SHA-1 from Python's hashlib).
const CHECKSUMMED: &[u8] = b"test data..";
const AWS_CHECKSUMS: [(&str, &str); 5] = [
    ("x-amz-checksum-crc32", "cZWHwQ=="),
    ("x-amz-checksum-crc32c", "Pf4upw=="),
    ("x-amz-checksum-crc64nvme", "qUVrWYOrIAM="),
    ("x-amz-checksum-sha1", "B++3uSfJMSHWToQMQ1g6lIJY5Eo="),
    (
        "x-amz-checksum-sha256",
        "2l26x0trnT0r2AvakoFk2MB7eKVKzYESLMxSAKAzoik=",
    ),
];

/// Posts `CHECKSUMMED` for a new asset with `fields` signed into its policy; returns the
/// answer's status and S3 code, and whether the asset's bytes were stored.
async fn post_with_checksum_fields(
    server: &TestServer,
    fields: &[(&str, &str)],
) -> (u16, String, bool) {
    let created = create_asset(server, "sum.png", CHECKSUMMED).await;
    let key = created["uploadDetails"]["key"].as_str().unwrap();
    let conditions = fields
        .iter()
        .map(|(name, value)| Condition::eq((*name).to_owned(), (*value).to_owned()))
        .collect();
    let form_fields = server_signed(server, key, fields, conditions);
    let response = post(
        server,
        created["uploadUrl"].as_str().unwrap(),
        form(&form_fields, CHECKSUMMED.to_vec(), "image/png"),
    )
    .await;
    let status = response.status().as_u16();
    let code = if status < 300 {
        String::new()
    } else {
        s3_error_code(response).await.1
    };
    let (state, _) = asset_state(server, &created).await;
    (status, code, state == assetd::meta::AssetState::Uploaded)
}

#[tokio::test]
async fn issue_27_s3_additional_checksums_are_verified_as_aws_does() {
    let server = TestServer::start().await;
    if !server.embedded() {
        return server.skip("embedded store only").await;
    }
    for (field, right) in AWS_CHECKSUMS {
        assert_eq!(
            post_with_checksum_fields(&server, &[(field, right)]).await,
            (204, String::new(), true),
            "{field}: the right value"
        );
        // Well-formed, wrong: the first base64 character changed.
        let wrong = format!(
            "{}{}",
            if right.starts_with('A') { 'B' } else { 'A' },
            &right[1..]
        );
        assert_eq!(
            post_with_checksum_fields(&server, &[(field, &wrong)]).await,
            (400, "BadDigest".to_owned(), false),
            "{field}: a wrong value"
        );
        for malformed in [
            "not base64!",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "",
        ] {
            assert_eq!(
                post_with_checksum_fields(&server, &[(field, malformed)]).await,
                (400, "InvalidRequest".to_owned(), false),
                "{field}: malformed {malformed:?}"
            );
        }
        let algorithm = field
            .trim_start_matches("x-amz-checksum-")
            .to_ascii_uppercase();
        assert_eq!(
            post_with_checksum_fields(
                &server,
                &[("x-amz-checksum-algorithm", &algorithm), (field, right)]
            )
            .await,
            (204, String::new(), true),
            "{field}: named by x-amz-checksum-algorithm"
        );
    }
    let (crc, crc_value) = AWS_CHECKSUMS[0];
    let (sha, sha_value) = AWS_CHECKSUMS[4];
    for (what, fields) in [
        ("two checksums", vec![(crc, crc_value), (sha, sha_value)]),
        (
            "an unknown algorithm",
            vec![("x-amz-checksum-algorithm", "MD4")],
        ),
        (
            "the algorithm of another value",
            vec![("x-amz-checksum-algorithm", "SHA1"), (crc, crc_value)],
        ),
    ] {
        assert_eq!(
            post_with_checksum_fields(&server, &fields).await,
            (400, "InvalidRequest".to_owned(), false),
            "{what}"
        );
    }
    // Nothing of a refused upload stays, not even a temp file.
    let (keys, temp) = server.stored().await;
    assert_eq!(temp, 0);
    assert_eq!(keys.len(), AWS_CHECKSUMS.len() * 2);
    server.stop().await;
}

#[tokio::test]
async fn issue_27_a_form_without_policy_or_signature_is_anonymous_and_denied() {
    let server = TestServer::start().await;
    if !server.embedded() {
        return server.skip("embedded store only").await;
    }
    let created = create_asset(&server, "anon.png", PNG).await;
    let key = created["uploadDetails"]["key"].as_str().unwrap();
    let fields = vec![("key".to_owned(), key.to_owned())];
    let response = post(
        &server,
        created["uploadUrl"].as_str().unwrap(),
        form(&fields, PNG.to_vec(), "image/png"),
    )
    .await;
    assert_eq!(
        s3_error_code(response).await,
        (403, "AccessDenied".to_owned())
    );
    assert_eq!(server.stored().await, (vec![], 0));
    server.stop().await;
}
