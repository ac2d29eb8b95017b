//! `DELETE /v2/asset_folders/{asset_folder_id}[?recursive=true]` (assetd's extension).

use reqwest::Method;
use serde_json::{Value, json};

use crate::util::{TestServer, error_code, upload, upload_into};

async fn delete(server: &TestServer, folder: &str, query: &str) -> reqwest::Response {
    server
        .api(
            Method::DELETE,
            &format!("/v2/asset_folders/{folder}{query}"),
        )
        .send()
        .await
        .unwrap()
}

async fn status_of(server: &TestServer, path: &str) -> u16 {
    server
        .api(Method::GET, path)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn site_total(server: &TestServer) -> i64 {
    let body: Value = server
        .api(Method::GET, &format!("/v2/sites/{}/assets", server.site_id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["pagination"]["total"].as_i64().unwrap()
}

#[tokio::test]
async fn an_empty_folder_goes() {
    let server = TestServer::start().await;
    let a = server.folder("a", None).await;
    assert_eq!(delete(&server, &a, "").await.status(), 204);
    assert_eq!(
        status_of(&server, &format!("/v2/asset_folders/{a}")).await,
        404
    );
    // Its name is free again.
    server.folder("a", None).await;
    server.stop().await;
}

#[tokio::test]
async fn a_folder_with_anything_in_it_needs_recursive() {
    let server = TestServer::start().await;
    let with_child = server.folder("parent", None).await;
    server.folder("child", Some(&with_child)).await;
    let with_pending = server.folder("pending", None).await;
    let created = server
        .api(
            Method::POST,
            &format!("/v2/sites/{}/assets", server.site_id),
        )
        .json(
            &json!({"fileName": "p.pdf", "fileHash": "0".repeat(32), "parentFolder": with_pending}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    for folder in [&with_child, &with_pending] {
        let (status, code, _) = error_code(delete(&server, folder, "").await).await;
        assert_eq!((status.as_u16(), code.as_str()), (409, "conflict"));
        let (status, code, _) = error_code(delete(&server, folder, "?recursive=false").await).await;
        assert_eq!((status.as_u16(), code.as_str()), (409, "conflict"));
        assert_eq!(
            status_of(&server, &format!("/v2/asset_folders/{folder}")).await,
            200
        );
    }
    let (status, code, _) = error_code(delete(&server, &with_child, "?recursive=yes").await).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "validation_error"));
    server.stop().await;
}

#[tokio::test]
async fn recursive_removes_the_tree_its_assets_and_their_bytes_only() {
    let server = TestServer::start().await;
    let top = server.folder("top", None).await;
    let mid = server.folder("mid", Some(&top)).await;
    let deep = server.folder("deep", Some(&mid)).await;
    let beside = server.folder("beside", None).await;
    let mut gone = Vec::new();
    for (i, folder) in [&top, &mid, &deep, &deep].into_iter().enumerate() {
        let bytes = format!("bytes of asset {i} in the tree").into_bytes();
        gone.push(upload_into(&server, &format!("t{i}.pdf"), &bytes, Some(folder)).await);
    }
    let kept_in_folder = upload_into(&server, "kept.pdf", b"kept in a folder", Some(&beside)).await;
    let kept_at_top = upload(&server, "top.pdf", b"kept at the top").await;
    let (stored_before, _) = server.stored().await;
    assert_eq!(site_total(&server).await, 6);

    assert_eq!(delete(&server, &top, "?recursive=true").await.status(), 204);

    for folder in [&top, &mid, &deep] {
        assert_eq!(
            status_of(&server, &format!("/v2/asset_folders/{folder}")).await,
            404
        );
    }
    for asset in &gone {
        assert_eq!(
            status_of(
                &server,
                &format!("/v2/assets/{}", asset["id"].as_str().unwrap())
            )
            .await,
            404
        );
        let hosted = server
            .client
            .get(asset["hostedUrl"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(hosted.status(), 404);
    }
    for asset in [&kept_in_folder, &kept_at_top] {
        let hosted = server
            .client
            .get(asset["hostedUrl"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(hosted.status(), 200);
    }
    assert_eq!(site_total(&server).await, 2);
    assert_eq!(
        status_of(&server, &format!("/v2/asset_folders/{beside}")).await,
        200
    );
    // Every object of the tree's assets is gone from the store; no other object is.
    let (stored_after, _) = server.stored().await;
    let removed: Vec<&String> = stored_before
        .iter()
        .filter(|k| !stored_after.contains(k))
        .collect();
    assert_eq!(removed.len(), gone.len(), "{removed:?}");
    for asset in &gone {
        let id = asset["id"].as_str().unwrap();
        assert!(
            removed.iter().any(|k| k.contains(id)),
            "{id} not removed: {removed:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_foreign_and_read_only_requests() {
    let server = TestServer::start().await;
    let a = server.folder("a", None).await;
    assert_eq!(
        delete(&server, "0123456789abcdef01234567", "")
            .await
            .status(),
        404
    );
    let (_, other_token) = server.other_site().await;
    let foreign = server
        .client
        .delete(server.url(&format!("/v2/asset_folders/{a}")))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
    let reader = server.token_with("assets:read").await;
    let read_only = server
        .client
        .delete(server.url(&format!("/v2/asset_folders/{a}")))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(read_only.status(), 403);
    assert_eq!(
        status_of(&server, &format!("/v2/asset_folders/{a}")).await,
        200
    );
    server.stop().await;
}
