//! `GET /v2/sites/{site_id}/asset_folders`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::util::{TestServer, error_code, upload_into};

#[tokio::test]
async fn lists_folders_with_their_direct_assets() {
    let server = TestServer::start().await;
    let a = server.folder("a", None).await;
    let b = server.folder("b", Some(&a)).await;
    let in_a = upload_into(&server, "1.png", b"1", Some(&a)).await;
    let in_b = upload_into(&server, "2.png", b"2", Some(&b)).await;
    let body: Value = server
        .api(
            Method::GET,
            &format!("/v2/sites/{}/asset_folders", server.site_id),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let folders = body["assetFolders"].as_array().unwrap();
    assert_eq!(folders.len(), 2);
    assert_eq!(folders[0]["id"], a.as_str());
    assert_eq!(folders[0]["assets"], json!([in_a["id"]]));
    assert_eq!(folders[1]["parentFolder"], a.as_str());
    assert_eq!(folders[1]["assets"], json!([in_b["id"]]));
    assert_eq!(
        body["pagination"],
        json!({"limit": 100, "offset": 0, "total": 2})
    );
    let page: Value = server
        .api(
            Method::GET,
            &format!(
                "/v2/sites/{}/asset_folders?offset=1&limit=1",
                server.site_id
            ),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["assetFolders"][0]["id"], b.as_str());
    let (_, other_token) = server.other_site().await;
    let foreign = server
        .client
        .get(server.url(&format!("/v2/sites/{}/asset_folders", server.site_id)))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(foreign).await.0, 404);
    server.stop().await;
}
