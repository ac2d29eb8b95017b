//! `POST /v2/sites/{site_id}/asset_folders`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::util::{TestServer, error_code, upload_into};

async fn create(server: &TestServer, body: Value) -> reqwest::Response {
    server
        .api(
            Method::POST,
            &format!("/v2/sites/{}/asset_folders", server.site_id),
        )
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn creates_folders_and_nests_them() {
    let server = TestServer::start().await;
    let response = create(&server, json!({"displayName": "Logos"})).await;
    assert_eq!(response.status(), 200);
    let top: Value = response.json().await.unwrap();
    assert_eq!(top["displayName"], "Logos");
    assert!(top["parentFolder"].is_null());
    assert_eq!(top["assets"], json!([]));
    assert_eq!(top["siteId"], server.site_id.to_string().as_str());
    assert_eq!(top["id"].as_str().unwrap().len(), 24);
    assert!(top["createdOn"].as_str().unwrap().ends_with('Z'));
    let child: Value = create(
        &server,
        json!({"displayName": "Dark", "parentFolder": top["id"]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(child["parentFolder"], top["id"]);
    // The same name is fine under another parent.
    assert_eq!(
        create(
            &server,
            json!({"displayName": "Dark", "parentFolder": null})
        )
        .await
        .status(),
        200
    );
    // Assets can be placed in it at create time.
    let created = upload_into(&server, "a.png", b"a", child["id"].as_str()).await;
    assert_eq!(created["parentFolder"], child["id"]);
    server.stop().await;
}

#[tokio::test]
async fn duplicate_sibling_names_are_409_conflict() {
    let server = TestServer::start().await;
    assert_eq!(
        create(&server, json!({"displayName": "Logos"}))
            .await
            .status(),
        200
    );
    let (status, code, _) =
        error_code(create(&server, json!({"displayName": "Logos"})).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "conflict"));
    server.stop().await;
}

#[tokio::test]
async fn invalid_bodies_parents_and_scopes() {
    let server = TestServer::start().await;
    let (other_site, other_token) = server.other_site().await;
    let foreign: Value = server
        .client
        .post(server.url(&format!("/v2/sites/{other_site}/asset_folders")))
        .bearer_auth(&other_token)
        .json(&json!({"displayName": "theirs"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (body, param) in [
        (json!({}), "displayName"),
        (json!({"displayName": ""}), "displayName"),
        (json!({"displayName": 3}), "displayName"),
        (json!({"displayName": "a\u{0}b"}), "displayName"),
        (
            json!({"displayName": "x", "parentFolder": "nope"}),
            "parentFolder",
        ),
        (
            json!({"displayName": "x", "parentFolder": foreign["id"]}),
            "parentFolder",
        ),
    ] {
        let (status, code, error) = error_code(create(&server, body.clone()).await).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (400, "validation_error"),
            "{body}"
        );
        assert_eq!(error["details"][0]["param"], param, "{body}");
    }
    let read_only = server.token_with("assets:read").await;
    let refused = server
        .client
        .post(server.url(&format!("/v2/sites/{}/asset_folders", server.site_id)))
        .bearer_auth(&read_only)
        .json(&json!({"displayName": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(refused).await.0, 403);
    let foreign_site = server
        .api(
            Method::POST,
            &format!("/v2/sites/{other_site}/asset_folders"),
        )
        .json(&json!({"displayName": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(foreign_site).await.0, 404);
    server.stop().await;
}
