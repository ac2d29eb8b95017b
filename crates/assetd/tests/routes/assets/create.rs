//! `POST /v2/sites/{site_id}/assets` (Upload Asset): every status the endpoint can answer.

use assetd::meta::AssetState;
use s3post::policy::{Condition, PostPolicy};
use serde_json::{Value, json};

use crate::util::{TestServer, error_code};

const HASH: &str = "3c7d87c9575702bc3b1e991f4d3c638e";

async fn create(server: &TestServer, token: &str, site: &str, body: &Value) -> reqwest::Response {
    server
        .client
        .post(server.url(&format!("/v2/sites/{site}/assets")))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn create_ok(server: &TestServer, body: Value) -> Value {
    let response = create(server, &server.token, &server.site_id.to_string(), &body).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn is_webflow_timestamp(value: &Value) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    text.len() == 24
        && text.ends_with('Z')
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
        && text.as_bytes()[19] == b'.'
}

#[tokio::test]
async fn returns_upload_details_exactly_as_webflow_spells_them() {
    let server = TestServer::start().await;
    let body = create_ok(&server, json!({"fileName": "file.png", "fileHash": HASH})).await;

    let top: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "id",
        "contentType",
        "parentFolder",
        "uploadUrl",
        "uploadDetails",
        "assetUrl",
        "hostedUrl",
        "originalFileName",
        "createdOn",
        "lastUpdated",
    ] {
        assert!(top.contains(&key), "missing {key} in {body}");
    }
    let details = body["uploadDetails"].as_object().unwrap();
    // serde_json's map is sorted here; the wire order is checked by the Python SDK test.
    let keys: Vec<&str> = details.keys().map(String::as_str).collect();
    let mut expected = [
        "acl",
        "bucket",
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "key",
        "Policy",
        "X-Amz-Signature",
        "success_action_status",
        "content-type",
        "Cache-Control",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert!(details.values().all(Value::is_string), "{body}");

    let id = body["id"].as_str().unwrap();
    assert_eq!(id.len(), 24);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let key = format!("{}/{id}_file.png", server.site_id);
    assert_eq!(details["key"], key.as_str());
    assert_eq!(details["success_action_status"], "201");
    assert_eq!(details["acl"], "public-read");
    assert_eq!(details["content-type"], "image/png");
    assert_eq!(body["contentType"], "image/png");
    assert_eq!(details["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
    assert_eq!(body["originalFileName"], "file.png");
    assert!(body["parentFolder"].is_null());
    assert!(
        is_webflow_timestamp(&body["createdOn"]),
        "{}",
        body["createdOn"]
    );
    assert!(
        is_webflow_timestamp(&body["lastUpdated"]),
        "{}",
        body["lastUpdated"]
    );
    let bucket_url = if server.embedded() {
        server.url("/s3/assetd")
    } else {
        format!("{}/assetd", std::env::var("ASSETD_S3_ENDPOINT").unwrap())
    };
    assert_eq!(body["uploadUrl"], bucket_url.as_str());
    assert_eq!(body["assetUrl"], format!("{bucket_url}/{key}").as_str());
    assert_eq!(
        body["hostedUrl"],
        server.url(&format!("/files/{key}")).as_str()
    );

    let credential = details["X-Amz-Credential"].as_str().unwrap();
    let access_key = credential.split('/').next().unwrap();
    assert!(
        server.state.signer.secret_for(access_key).is_some(),
        "{credential}"
    );
    assert!(credential.ends_with("/us-east-1/s3/aws4_request"));

    server.stop().await;
}

#[tokio::test]
async fn policy_pins_every_field_and_the_type_limit() {
    let server = TestServer::start().await;
    for (name, content_type, limit) in [
        ("photo.JPG", "image/jpeg", 4 * 1024 * 1024),
        ("report.pdf", "application/pdf", 10 * 1024 * 1024),
    ] {
        let body = create_ok(&server, json!({"fileName": name, "fileHash": HASH})).await;
        let details = &body["uploadDetails"];
        let policy = PostPolicy::from_base64(details["Policy"].as_str().unwrap()).unwrap();
        let conditions = &policy.conditions;
        let key = details["key"].as_str().unwrap();
        for expected in [
            Condition::eq("bucket", "assetd"),
            Condition::eq("key", key.to_owned()),
            Condition::eq("acl", "public-read"),
            Condition::eq("Content-Type", content_type),
            Condition::eq(
                "Cache-Control",
                details["Cache-Control"].as_str().unwrap().to_owned(),
            ),
            Condition::eq("success_action_status", "201"),
            Condition::content_length_range(1, limit),
            Condition::eq("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            Condition::eq(
                "x-amz-credential",
                details["X-Amz-Credential"].as_str().unwrap().to_owned(),
            ),
            Condition::eq(
                "x-amz-date",
                details["X-Amz-Date"].as_str().unwrap().to_owned(),
            ),
        ] {
            assert!(
                conditions.contains(&expected),
                "{name}: missing {expected:?} in {conditions:?}"
            );
        }
        assert_eq!(conditions.len(), 10);
        let expires_in = policy.expiration - chrono::Utc::now();
        assert!(
            expires_in > chrono::Duration::minutes(55) && expires_in <= chrono::Duration::hours(1)
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn records_a_pending_asset_with_the_promised_hash() {
    let server = TestServer::start().await;
    let body = create_ok(
        &server,
        json!({"fileName": "notes.txt", "fileHash": HASH.to_uppercase()}),
    )
    .await;
    let id = body["id"].as_str().unwrap().parse().unwrap();
    let asset = server.meta.get_asset(id).await.unwrap().unwrap();
    assert_eq!(asset.state, AssetState::Pending);
    assert_eq!(asset.file_hash, HASH);
    assert_eq!(asset.site_id, server.site_id);
    assert_eq!(asset.display_name, format!("{id}_notes.txt"));
    assert_eq!(
        asset.storage_key,
        body["uploadDetails"]["key"].as_str().unwrap()
    );
    assert_eq!(
        assetd::timestamp::format(asset.created_on),
        body["createdOn"].as_str().unwrap()
    );
    server.stop().await;
}

#[tokio::test]
async fn places_the_asset_in_a_folder_of_the_site() {
    let server = TestServer::start().await;
    let now = chrono::Utc::now();
    let folder = assetd::ids::ObjectId::generate(now);
    server
        .meta
        .create_folder(folder, server.site_id, None, "icons", now)
        .await
        .unwrap();
    let body = create_ok(
        &server,
        json!({"fileName": "a.svg", "fileHash": HASH, "parentFolder": folder.to_string()}),
    )
    .await;
    assert_eq!(body["parentFolder"], folder.to_string().as_str());

    let (other_site, _) = server.other_site().await;
    let foreign = assetd::ids::ObjectId::generate(now);
    server
        .meta
        .create_folder(foreign, other_site, None, "theirs", now)
        .await
        .unwrap();
    for missing in [
        foreign.to_string(),
        assetd::ids::ObjectId::generate(now).to_string(),
    ] {
        let response = create(
            &server,
            &server.token,
            &server.site_id.to_string(),
            &json!({"fileName": "a.svg", "fileHash": HASH, "parentFolder": missing}),
        )
        .await;
        let (status, code, body) = error_code(response).await;
        assert_eq!((status.as_u16(), code.as_str()), (400, "validation_error"));
        assert_eq!(body["details"][0]["param"], "parentFolder");
    }
    assert_eq!(server.asset_count().await, 1);
    server.stop().await;
}

#[tokio::test]
async fn malformed_json_is_bad_request() {
    let server = TestServer::start().await;
    for raw in ["{", "", "not json", "{\"fileName\": \"a.png\",}"] {
        let response = server
            .client
            .post(server.url(&format!("/v2/sites/{}/assets", server.site_id)))
            .bearer_auth(&server.token)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let (status, code, _) = error_code(response).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (400, "bad_request"),
            "{raw:?}"
        );
    }
    assert_eq!(server.asset_count().await, 0);
    server.stop().await;
}

#[tokio::test]
async fn invalid_fields_are_validation_errors_with_details() {
    let server = TestServer::start().await;
    let long = format!("{}.png", "x".repeat(96));
    let cases = [
        (json!({}), vec!["fileName", "fileHash"]),
        (json!({"fileHash": HASH}), vec!["fileName"]),
        (json!({"fileName": "a.png"}), vec!["fileHash"]),
        (json!({"fileName": 7, "fileHash": HASH}), vec!["fileName"]),
        (
            json!({"fileName": "a.png", "fileHash": 7}),
            vec!["fileHash"],
        ),
        (json!({"fileName": "", "fileHash": HASH}), vec!["fileName"]),
        (
            json!({"fileName": long, "fileHash": HASH}),
            vec!["fileName"],
        ),
        (
            json!({"fileName": "script.exe", "fileHash": HASH}),
            vec!["fileName"],
        ),
        (
            json!({"fileName": "page.html", "fileHash": HASH}),
            vec!["fileName"],
        ),
        (
            json!({"fileName": "../../etc/a.png", "fileHash": HASH}),
            vec!["fileName"],
        ),
        (
            json!({"fileName": "dir\\a.png", "fileHash": HASH}),
            vec!["fileName"],
        ),
        (
            json!({"fileName": "a\u{0}b.png", "fileHash": HASH}),
            vec!["fileName"],
        ),
        (
            json!({"fileName": "a\rb.png", "fileHash": HASH}),
            vec!["fileName"],
        ),
        (
            json!({"fileName": "a.png", "fileHash": "3c7d87c9575702bc3b1e991f4d3c638"}),
            vec!["fileHash"],
        ),
        (
            json!({"fileName": "a.png", "fileHash": "3c7d87c9575702bc3b1e991f4d3c638g"}),
            vec!["fileHash"],
        ),
        (
            json!({"fileName": "a.png", "fileHash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}),
            vec!["fileHash"],
        ),
        (
            json!({"fileName": "a.png", "fileHash": HASH, "parentFolder": "abc"}),
            vec!["parentFolder"],
        ),
        (
            json!({"fileName": "a.png", "fileHash": HASH, "parentFolder": 12}),
            vec!["parentFolder"],
        ),
        (json!(["fileName"]), vec!["body"]),
    ];
    for (body, params) in cases {
        let response = create(&server, &server.token, &server.site_id.to_string(), &body).await;
        let (status, code, error) = error_code(response).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (400, "validation_error"),
            "{body}"
        );
        let got: Vec<&str> = error["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["param"].as_str().unwrap())
            .collect();
        assert_eq!(got, params, "{body}");
        assert!(
            error["details"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["description"].as_str().is_some_and(|s| !s.is_empty()))
        );
    }
    assert_eq!(server.asset_count().await, 0);
    server.stop().await;
}

#[tokio::test]
async fn file_name_of_99_characters_is_accepted() {
    let server = TestServer::start().await;
    let name = format!("{}.png", "é".repeat(95));
    let body = create_ok(&server, json!({"fileName": name, "fileHash": HASH})).await;
    assert_eq!(body["originalFileName"], name.as_str());
    server.stop().await;
}

#[tokio::test]
async fn oversized_body_is_413_in_webflow_shape() {
    let server = TestServer::start().await;
    let body = json!({"fileName": "a.png", "fileHash": HASH, "padding": "x".repeat(64 * 1024)});
    let response = create(&server, &server.token, &server.site_id.to_string(), &body).await;
    let (status, _, _) = error_code(response).await;
    assert_eq!(status.as_u16(), 413);
    assert_eq!(server.asset_count().await, 0);
    server.stop().await;
}

#[tokio::test]
async fn missing_unknown_or_malformed_tokens_are_401() {
    let server = TestServer::start().await;
    let url = server.url(&format!("/v2/sites/{}/assets", server.site_id));
    let body = json!({"fileName": "a.png", "fileHash": HASH});
    let no_header = server.client.post(&url).json(&body).send().await.unwrap();
    let (status, code, _) = error_code(no_header).await;
    assert_eq!((status.as_u16(), code.as_str()), (401, "not_authorized"));
    for header in [
        "Bearer 0000000000000000000000000000000000000000000000000000000000000000".to_owned(),
        format!("Basic {}", server.token),
        format!("Bearer {} extra", server.token),
        server.token.clone(),
        "Bearer".to_owned(),
    ] {
        let response = server
            .client
            .post(&url)
            .header("authorization", &header)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, code, _) = error_code(response).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (401, "not_authorized"),
            "{header}"
        );
    }
    // The scheme is case-insensitive (RFC 7235 §2.1).
    let lower = server
        .client
        .post(&url)
        .header("authorization", format!("bearer {}", server.token))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), 200);
    assert_eq!(server.asset_count().await, 1);
    server.stop().await;
}

#[tokio::test]
async fn token_without_write_scope_is_403_missing_scopes() {
    let server = TestServer::start().await;
    let read_only = server.token_with("assets:read").await;
    let response = create(
        &server,
        &read_only,
        &server.site_id.to_string(),
        &json!({"fileName": "a.png", "fileHash": HASH}),
    )
    .await;
    let (status, code, body) = error_code(response).await;
    assert_eq!((status.as_u16(), code.as_str()), (403, "missing_scopes"));
    assert!(body["message"].as_str().unwrap().contains("assets:write"));
    let write_only = server.token_with("assets:write").await;
    let response = create(
        &server,
        &write_only,
        &server.site_id.to_string(),
        &json!({"fileName": "a.png", "fileHash": HASH}),
    )
    .await;
    assert_eq!(response.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn unknown_and_foreign_sites_are_the_same_404() {
    let server = TestServer::start().await;
    let (other_site, other_token) = server.other_site().await;
    let body = json!({"fileName": "a.png", "fileHash": HASH});
    let nowhere = assetd::ids::ObjectId::generate(chrono::Utc::now()).to_string();
    let foreign = create(&server, &server.token, &other_site.to_string(), &body).await;
    let (status, code, foreign_body) = error_code(foreign).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (404, "resource_not_found")
    );
    let missing = create(&server, &server.token, &nowhere, &body).await;
    let (status, code, missing_body) = error_code(missing).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (404, "resource_not_found")
    );
    assert_eq!(
        foreign_body, missing_body,
        "a foreign site must look exactly like a missing one"
    );
    // The other token sees its own site, and not ours.
    assert_eq!(
        create(&server, &other_token, &other_site.to_string(), &body)
            .await
            .status(),
        200
    );
    assert_eq!(
        create(&server, &other_token, &server.site_id.to_string(), &body)
            .await
            .status(),
        404
    );
    let bad_id = create(&server, &server.token, "not-an-id", &body).await;
    let (status, code, _) = error_code(bad_id).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "validation_error"));
    assert_eq!(server.asset_count().await, 1);
    server.stop().await;
}

#[tokio::test]
async fn rate_limit_headers_on_every_response_and_429_with_retry_after() {
    let server = TestServer::start_with(|s| s.rate_limit_per_minute = 3).await;
    let body = json!({"fileName": "a.png", "fileHash": HASH});
    let site = server.site_id.to_string();
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let response = create(&server, &server.token, &site, &body).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-ratelimit-limit"], "3");
        remaining.push(
            response.headers()["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let limited = create(&server, &server.token, &site, &body).await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
    let (status, code, _) = error_code(limited).await;
    assert_eq!((status.as_u16(), code.as_str()), (429, "too_many_requests"));
    // Errors carry the headers too, and another token has its own budget.
    let other = server.token_with("assets:read").await;
    let response = create(&server, &other, &site, &body).await;
    assert_eq!(response.status(), 403);
    assert_eq!(response.headers()["x-ratelimit-remaining"], "2");
    assert_eq!(server.asset_count().await, 3);
    server.stop().await;
}
