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

/// assetd's extension: `parentFolder` moves an asset, keeping its id, `hostedUrl` and bytes.
#[tokio::test]
async fn moves_an_asset_between_folders_of_its_site_only() {
    let server = TestServer::start().await;
    let a = server.folder("a", None).await;
    let b = server.folder("b", Some(&a)).await;
    let created = upload(&server, "doc.pdf", b"a document").await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v2/assets/{id}");
    let listed_in = |folder: String| {
        let request = server.api(
            Method::GET,
            &format!("/v2/sites/{}/assets?folderId={folder}", server.site_id),
        );
        async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            (
                body["pagination"]["total"].as_i64().unwrap(),
                body["assets"].clone(),
            )
        }
    };
    let moved: Value = server
        .api(Method::PATCH, &path)
        .json(&json!({"parentFolder": b}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&moved["id"], &moved["hostedUrl"]),
        (&created["id"], &created["hostedUrl"])
    );
    assert_eq!(listed_in(a.clone()).await.0, 1);
    let (total, items) = listed_in(b.clone()).await;
    assert_eq!((total, &items[0]["folderId"]), (1, &json!(b)), "{items}");
    let bytes = server
        .client
        .get(created["hostedUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(bytes.bytes().await.unwrap().as_ref(), b"a document");

    let foreign = server.other_site_folder().await;
    for target in [
        json!(foreign),
        json!("0123456789abcdef01234567"),
        json!("x"),
        json!(3),
    ] {
        let (status, code, body) = error_code(
            server
                .api(Method::PATCH, &path)
                .json(&json!({"parentFolder": target}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (400, "validation_error"),
            "{target}"
        );
        assert_eq!(body["details"][0]["param"], "parentFolder", "{body}");
    }
    let top: Value = server
        .api(Method::PATCH, &path)
        .json(&json!({"parentFolder": null}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(top["id"], created["id"]);
    assert_eq!(listed_in(a).await.0, 0);
    server.stop().await;
}
