//! `GET /v2/asset_folders/{asset_folder_id}`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::util::{TestServer, error_code, upload_into};

#[tokio::test]
async fn returns_the_folder_with_its_uploaded_assets() {
    let server = TestServer::start().await;
    let folder = server.folder("docs", None).await;
    let done = upload_into(&server, "a.pdf", b"pdf", Some(&folder)).await;
    let pending = server
        .api(
            Method::POST,
            &format!("/v2/sites/{}/assets", server.site_id),
        )
        .json(&json!({"fileName": "b.pdf", "fileHash": "0".repeat(32), "parentFolder": folder}))
        .send()
        .await
        .unwrap();
    assert_eq!(pending.status(), 200);
    let body: Value = server
        .api(Method::GET, &format!("/v2/asset_folders/{folder}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["id"], folder.as_str());
    assert_eq!(body["displayName"], "docs");
    assert_eq!(body["assets"], json!([done["id"]]));
    server.stop().await;
}

#[tokio::test]
async fn unknown_foreign_and_malformed_folder_ids() {
    let server = TestServer::start().await;
    let folder = server.folder("mine", None).await;
    let (_, other_token) = server.other_site().await;
    let foreign = server
        .client
        .get(server.url(&format!("/v2/asset_folders/{folder}")))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(foreign).await.0, 404);
    let nowhere = assetd::ids::ObjectId::generate(chrono::Utc::now());
    assert_eq!(
        error_code(
            server
                .api(Method::GET, &format!("/v2/asset_folders/{nowhere}"))
                .send()
                .await
                .unwrap()
        )
        .await
        .0,
        404
    );
    let (status, code, _) = error_code(
        server
            .api(Method::GET, "/v2/asset_folders/bad")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "validation_error"));
    server.stop().await;
}
