use crate::util::TestServer;

#[tokio::test]
async fn healthz_and_readyz_answer_200_without_auth() {
    let server = TestServer::start().await;
    let health = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["blobStore"], "ok");
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_assets_by_state() {
    let server = TestServer::start().await;
    crate::util::upload(&server, "m.png", b"metrics").await;
    crate::util::create_asset(&server, "pending.png", b"later").await;
    let missing = server
        .client
        .get(server.url("/v2/assets/0123456789abcdef01234567"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // (With S3 storage, `upload` waited until assetd's confirmer saw the upload.)
    let text = metrics_text(&server).await;
    let line = |prefix: &str| metric_line(&text, prefix);
    let creates = line(
        r#"assetd_http_requests_total{method="POST",route="/v2/sites/{site_id}/assets",status="200"}"#,
    );
    assert!(creates.ends_with(" 2"), "{creates}");
    line(r#"assetd_http_requests_total{method="GET",route="/v2/assets/{asset_id}",status="404"}"#);
    line(
        r#"assetd_http_request_duration_seconds_bucket{method="POST",route="/v2/sites/{site_id}/assets""#,
    );
    assert!(line(r#"assetd_assets{state="pending"}"#).ends_with(" 1"));
    assert!(line(r#"assetd_assets{state="uploaded"}"#).ends_with(" 1"));
    let outcome = if server.embedded() {
        "stored"
    } else {
        "confirmed"
    };
    assert!(line(&format!(r#"assetd_uploads_total{{outcome="{outcome}"}}"#)).ends_with(" 1"));
    assert!(line("assetd_upload_bytes_total").ends_with(" 7"));
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_an_unknown_method_as_other_instead_of_its_own_series() {
    let server = TestServer::start().await;
    for method in ["FOOA", "FOOB", "GET"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        server
            .client
            .request(method, server.url("/healthz"))
            .send()
            .await
            .unwrap();
    }
    let text = metrics_text(&server).await;
    assert!(
        !text.contains("FOO"),
        "a client-chosen method became a label:\n{text}"
    );
    let counted = |method: &str, status: &str| {
        metric_line(
            &text,
            &format!(
                r#"assetd_http_requests_total{{method="{method}",route="/healthz",status="{status}"}}"#
            ),
        )
    };
    assert!(counted("other", "405").ends_with(" 2"));
    assert!(counted("GET", "200").ends_with(" 1"));
    server.stop().await;
}

/// The text of `/metrics`.
async fn metrics_text(server: &TestServer) -> String {
    server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The line of `text` starting with `prefix`.
fn metric_line(text: &str, prefix: &str) -> String {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
        .to_owned()
}
