use crate::util::{TestServer, error_code};

#[tokio::test]
async fn unknown_route_is_404_in_webflow_shape() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(server.url("/v2/nothing/here"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_code(response).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (404, "resource_not_found")
    );
    server.stop().await;
}

#[tokio::test]
async fn wrong_method_is_405_in_webflow_shape() {
    let server = TestServer::start().await;
    let url = server.url(&format!("/v2/sites/{}/assets", server.site_id));
    let response = server
        .client
        .put(url)
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_code(response).await;
    assert_eq!((status.as_u16(), code.as_str()), (405, "bad_request"));
    server.stop().await;
}
