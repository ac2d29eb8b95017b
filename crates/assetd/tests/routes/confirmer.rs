//! The confirmer (issue 28 item 5): with S3 storage, uploads are confirmed in the background,
//! and lists never ask the S3 service.

use std::time::Duration;

use assetd::meta::AssetState;
use reqwest::Method;

use crate::util::{TestServer, create_asset, details, error_code, form};

/// An "S3 service" that accepts connections and never answers, as a hung one does.
async fn silent_s3() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url, task)
}

/// A server whose blob store is an S3 service that never answers.
async fn server_with_silent_s3() -> (TestServer, tokio::task::JoinHandle<()>) {
    let (endpoint, s3) = silent_s3().await;
    let flags = [
        "--storage",
        "s3",
        "--s3-endpoint",
        &endpoint,
        "--s3-access-key-id",
        "silent",
        "--s3-secret-access-key",
        "silent-secret",
        "--bucket",
        "assetd",
    ];
    (TestServer::start_with_args(&flags, |_| {}).await, s3)
}

#[tokio::test]
async fn lists_answer_from_the_database_while_s3_does_not_answer() {
    let (server, s3) = server_with_silent_s3().await;
    let folder = server.folder("f", None).await;
    let created = create_asset(&server, "pending.png", b"never answered").await;
    let id = created["id"].as_str().unwrap();
    // A HEAD of the pending upload would hang until the confirmer's HEAD bound (5 s): a list
    // that asked the S3 service inline would not answer within this client's 4 s.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(4))
        .build()
        .unwrap();
    for path in [
        format!("/v2/sites/{}/assets", server.site_id),
        format!("/v2/sites/{}/asset_folders", server.site_id),
        format!("/v2/asset_folders/{folder}"),
    ] {
        for _ in 0..3 {
            let response = client
                .get(server.url(&path))
                .bearer_auth(&server.token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
        }
    }
    let listed: serde_json::Value = client
        .get(server.url(&format!("/v2/sites/{}/assets", server.site_id)))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["pagination"]["total"], 0);
    // A read of the one pending asset asks for its check and cannot tell whether its bytes are
    // there: 503, as before, after the confirmer's short wait.
    let (status, code, _) = error_code(
        client
            .get(server.url(&format!("/v2/assets/{id}")))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (503, "service_unavailable")
    );
    let hosted = client
        .get(created["hostedUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(hosted.status(), 503);
    assert!(server.state.confirmer.tracked() >= 1);
    server.stop().await;
    s3.abort();
}

#[tokio::test]
async fn the_confirmer_stops_at_shutdown_without_waiting_for_a_hung_head() {
    let (server, s3) = server_with_silent_s3().await;
    let created = create_asset(&server, "pending.png", b"never answered").await;
    let asset = server
        .meta
        .get_asset(created["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    // A check whose HEAD hangs is in flight...
    let confirmer = server.state.confirmer.clone();
    let read = tokio::spawn(async move { confirmer.check(asset).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ...and the confirmer still stops well within the HEAD's own bound (5 s): the unanswered
    // HEAD is dropped, nothing having been written.
    assert!(
        server.background.stop(Duration::from_secs(2)).await,
        "the confirmer did not stop"
    );
    assert!(read.await.unwrap().is_err());
    // Stopped, it answers reads at once instead of leaving them waiting.
    let pending = server
        .meta
        .get_asset(created["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.state, AssetState::Pending);
    assert_eq!(
        server.state.confirmer.check(pending).await,
        Err(assetd::confirmer::ConfirmError::Stopped)
    );
    server.stop().await;
    s3.abort();
}

/// Step 2 of an upload, posted straight to `created`'s upload URL (no helper that waits).
async fn post_upload(server: &TestServer, created: &serde_json::Value, bytes: &[u8]) -> u16 {
    let content_type = created["contentType"].as_str().unwrap();
    server
        .client
        .post(created["uploadUrl"].as_str().unwrap())
        .multipart(form(&details(created), bytes.to_vec(), content_type))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_upload_is_confirmed_in_the_background_without_any_read() {
    let server = TestServer::start().await;
    let bytes = b"confirmed without a read";
    let created = create_asset(&server, "quiet.txt", bytes).await;
    assert!((200..300).contains(&post_upload(&server, &created, bytes).await));
    let id = created["id"].as_str().unwrap();
    // No request reads the asset: the database row changes on its own (polled, at most 5 s).
    assert_eq!(server.settled(id).await, AssetState::Uploaded);
    let asset = server.meta.get_asset(id.parse().unwrap()).await.unwrap();
    assert_eq!(asset.unwrap().size, Some(bytes.len() as i64));
    let listed: serde_json::Value = server
        .api(Method::GET, &format!("/v2/sites/{}/assets", server.site_id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["pagination"]["total"], 1);
    assert_eq!(listed["assets"][0]["id"], id);
    assert_eq!(server.state.confirmer.tracked(), 0);
    server.stop().await;
}

#[tokio::test]
async fn bytes_that_do_not_verify_are_deleted_and_the_asset_failed_in_the_background() {
    let server = TestServer::start().await;
    if server.embedded() {
        // The embedded endpoint refuses such bytes itself (routes/s3/post.rs).
        return server.skip("S3 storage only").await;
    }
    let created = create_asset(&server, "wrong.txt", b"the promised bytes").await;
    assert!((200..300).contains(&post_upload(&server, &created, b"other bytes").await));
    assert_eq!(
        server.settled(created["id"].as_str().unwrap()).await,
        AssetState::Failed
    );
    assert_eq!(server.stored().await.0, Vec::<String>::new());
    server.stop().await;
}

#[tokio::test]
async fn a_read_right_after_an_upload_sees_it() {
    let server = TestServer::start().await;
    let bytes = b"read right away";
    for n in 0..5 {
        let created = create_asset(&server, &format!("r{n}.txt"), bytes).await;
        assert!((200..300).contains(&post_upload(&server, &created, bytes).await));
        // Whatever check of this upload is in flight, the read is answered by one that began
        // after it asked.
        let got = server
            .api(
                Method::GET,
                &format!("/v2/assets/{}", created["id"].as_str().unwrap()),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200);
        let hosted = server
            .client
            .get(created["hostedUrl"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(hosted.bytes().await.unwrap(), &bytes[..]);
    }
    server.stop().await;
}
