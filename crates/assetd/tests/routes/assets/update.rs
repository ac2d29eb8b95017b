//! `PATCH /v2/assets/{asset_id}`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::util::{TestServer, error_code, upload};

#[tokio::test]
async fn renames_and_sets_alt_text_with_locale_in_query_or_body() {
    let server = TestServer::start().await;
    let created = upload(&server, "logo.png", b"logo").await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v2/assets/{id}");
    let body: Value = server.api(Method::PATCH, &path).json(&json!({"displayName": "Brand logo", "localeId": "65427cf400e02b306eaa04a0", "unknown": true})).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["displayName"], "Brand logo");
    assert!(body["altText"].is_null());
    assert!(body["lastUpdated"].as_str().unwrap() >= created["lastUpdated"].as_str().unwrap());
    let body: Value = server
        .api(
            Method::PATCH,
            &format!("{path}?localeId=65427cf400e02b306eaa04a0"),
        )
        .json(&json!({"altText": "Our logo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["displayName"], "Brand logo");
    assert_eq!(body["altText"], "Our logo");
    let fetched: Value = server
        .api(Method::GET, &path)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (fetched["displayName"].clone(), fetched["altText"].clone()),
        (json!("Brand logo"), json!("Our logo"))
    );
    let cleared: Value = server
        .api(Method::PATCH, &path)
        .json(&json!({"altText": null}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(cleared["altText"].is_null());
    server.stop().await;
}

#[tokio::test]
async fn refuses_bad_values_scopes_and_foreign_assets() {
    let server = TestServer::start().await;
    let created = upload(&server, "logo.png", b"logo").await;
    let path = format!("/v2/assets/{}", created["id"].as_str().unwrap());
    for body in [
        json!({"displayName": 5}),
        json!({"displayName": ""}),
        json!({"altText": 1}),
        json!({"displayName": "x".repeat(256)}),
        json!([]),
    ] {
        let (status, code, _) = error_code(
            server
                .api(Method::PATCH, &path)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (400, "validation_error"),
            "{body}"
        );
    }
    let (status, code, _) = error_code(
        server
            .api(Method::PATCH, &path)
            .body("{oops")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "bad_request"));
    let read_only = server.token_with("assets:read").await;
    let refused = server
        .client
        .patch(server.url(&path))
        .bearer_auth(&read_only)
        .json(&json!({"displayName": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(refused).await.0, 403);
    let (_, other_token) = server.other_site().await;
    let foreign = server
        .client
        .patch(server.url(&path))
        .bearer_auth(&other_token)
        .json(&json!({"displayName": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(foreign).await.0, 404);
    server.stop().await;
}
