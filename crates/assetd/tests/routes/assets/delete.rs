//! `DELETE /v2/assets/{asset_id}`.

use reqwest::Method;

use crate::util::{TestServer, create_asset, error_code, upload};

#[tokio::test]
async fn delete_is_204_and_removes_the_bytes() {
    let server = TestServer::start().await;
    let keep = upload(&server, "keep.png", b"keep").await;
    let gone = upload(&server, "gone.png", b"gone").await;
    assert_eq!(server.stored().await.0.len(), 2);
    let response = server
        .api(
            Method::DELETE,
            &format!("/v2/assets/{}", gone["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());
    assert_eq!(
        server.stored().await,
        (
            vec![keep["uploadDetails"]["key"].as_str().unwrap().to_owned()],
            0
        )
    );
    assert_eq!(
        server
            .client
            .get(gone["hostedUrl"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        server
            .client
            .get(keep["hostedUrl"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let again = server
        .api(
            Method::DELETE,
            &format!("/v2/assets/{}", gone["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(again).await.0, 404);
    let queued = server.meta.queued_blob_deletions(10).await.unwrap();
    assert!(queued.is_empty(), "{queued:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_pending_asset_can_be_deleted_and_its_upload_is_then_refused() {
    let server = TestServer::start().await;
    let created = create_asset(&server, "later.png", b"later").await;
    let response = server
        .api(
            Method::DELETE,
            &format!("/v2/assets/{}", created["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let posted = server
        .client
        .post(created["uploadUrl"].as_str().unwrap())
        .multipart(crate::util::form(
            &crate::util::details(&created),
            b"later".to_vec(),
            "image/png",
        ))
        .send()
        .await
        .unwrap();
    if server.embedded() {
        // assetd's endpoint refuses the upload outright.
        assert_eq!(
            crate::util::s3_error_code(posted).await,
            (403, "AccessDenied".to_owned())
        );
    } else {
        // An S3 service accepts it (the policy is still valid); the sweep deletes it again.
        assert!(posted.status().is_success());
        assert_eq!(server.stored().await.0.len(), 1);
        assetd::sweep::sweep_once(&server.state.sweep_work(), chrono::Utc::now())
            .await
            .unwrap();
    }
    assert_eq!(server.stored().await, (vec![], 0));
    server.stop().await;
}

#[tokio::test]
async fn delete_needs_write_scope_and_the_owning_site() {
    let server = TestServer::start().await;
    let created = upload(&server, "x.png", b"x").await;
    let path = format!("/v2/assets/{}", created["id"].as_str().unwrap());
    let read_only = server.token_with("assets:read").await;
    assert_eq!(
        error_code(
            server
                .client
                .delete(server.url(&path))
                .bearer_auth(&read_only)
                .send()
                .await
                .unwrap()
        )
        .await
        .0,
        403
    );
    let (_, other_token) = server.other_site().await;
    assert_eq!(
        error_code(
            server
                .client
                .delete(server.url(&path))
                .bearer_auth(&other_token)
                .send()
                .await
                .unwrap()
        )
        .await
        .0,
        404
    );
    assert_eq!(server.stored().await.0.len(), 1);
    server.stop().await;
}
