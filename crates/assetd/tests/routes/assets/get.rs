//! `GET /v2/assets/{asset_id}`.

use reqwest::Method;
use serde_json::Value;

use crate::util::{TestServer, create_asset, error_code, upload};

#[tokio::test]
async fn returns_the_asset_with_every_field_the_sdks_need() {
    let server = TestServer::start().await;
    let created = upload(&server, "logo.png", b"logo bytes").await;
    let id = created["id"].as_str().unwrap();
    let body: Value = server
        .api(Method::GET, &format!("/v2/assets/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["id"], id);
    assert_eq!(body["contentType"], "image/png");
    assert_eq!(body["size"], 10);
    assert_eq!(body["siteId"], server.site_id.to_string().as_str());
    assert_eq!(body["hostedUrl"], created["hostedUrl"]);
    assert_eq!(body["originalFileName"], "logo.png");
    assert_eq!(body["displayName"], format!("{id}_logo.png").as_str());
    assert_eq!(body["createdOn"], created["createdOn"]);
    assert_eq!(body["variants"], serde_json::json!([]));
    assert!(body["altText"].is_null());
    assert!(
        body.get("folderId").is_none(),
        "folderId is only in list responses"
    );
    server.stop().await;
}

#[tokio::test]
async fn pending_unknown_foreign_and_malformed_ids() {
    let server = TestServer::start().await;
    let pending = create_asset(&server, "wait.png", b"x").await;
    let uploaded = upload(&server, "here.png", b"here").await;
    let nowhere = assetd::ids::ObjectId::generate(chrono::Utc::now()).to_string();
    for id in [pending["id"].as_str().unwrap(), nowhere.as_str()] {
        let (status, code, _) = error_code(
            server
                .api(Method::GET, &format!("/v2/assets/{id}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (404, "resource_not_found"),
            "{id}"
        );
    }
    let (_, other_token) = server.other_site().await;
    let foreign = server
        .client
        .get(server.url(&format!("/v2/assets/{}", uploaded["id"].as_str().unwrap())))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(foreign).await.0, 404);
    for bad in ["abc", "6390c49674a71f84b51a08d", "zz90c49674a71f84b51a08d8"] {
        let (status, code, _) = error_code(
            server
                .api(Method::GET, &format!("/v2/assets/{bad}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (400, "validation_error"),
            "{bad}"
        );
    }
    server.stop().await;
}
