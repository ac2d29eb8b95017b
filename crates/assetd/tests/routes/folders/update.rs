//! `PATCH /v2/asset_folders/{asset_folder_id}` (assetd's extension): rename and move.

use reqwest::Method;
use serde_json::{Value, json};

use crate::util::{TestServer, error_code, upload_into};

async fn patch(server: &TestServer, folder: &str, body: Value) -> reqwest::Response {
    server
        .api(Method::PATCH, &format!("/v2/asset_folders/{folder}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The folder's parent as Get Asset Folder reports it.
async fn parent_of(server: &TestServer, folder: &str) -> Value {
    let body: Value = server
        .api(Method::GET, &format!("/v2/asset_folders/{folder}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["parentFolder"].clone()
}

/// The ids of the assets a folder filter lists.
async fn listed_in(server: &TestServer, folder: &str) -> Vec<Value> {
    let body: Value = server
        .api(
            Method::GET,
            &format!("/v2/sites/{}/assets?folderId={folder}", server.site_id),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect()
}

#[tokio::test]
async fn renames_and_refuses_a_sibling_name() {
    let server = TestServer::start().await;
    let a = server.folder("a", None).await;
    server.folder("b", None).await;
    let renamed = patch(&server, &a, json!({"displayName": "logos"})).await;
    assert_eq!(renamed.status(), 200);
    let body: Value = renamed.json().await.unwrap();
    assert_eq!(
        (body["id"].as_str(), body["displayName"].as_str()),
        (Some(a.as_str()), Some("logos"))
    );
    let (status, code, _) = error_code(patch(&server, &a, json!({"displayName": "b"})).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "conflict"));
    // A name taken at the top level is free inside another folder.
    let inner = server.folder("inner", Some(&a)).await;
    assert_eq!(
        patch(&server, &inner, json!({"displayName": "b"}))
            .await
            .status(),
        200
    );
    server.stop().await;
}

#[tokio::test]
async fn moves_into_a_folder_and_back_to_the_top() {
    let server = TestServer::start().await;
    let a = server.folder("a", None).await;
    let c = server.folder("c", None).await;
    let asset = upload_into(&server, "in-c.pdf", b"pdf bytes", Some(&c)).await;
    let moved = patch(&server, &c, json!({"parentFolder": a})).await;
    assert_eq!(moved.status(), 200);
    assert_eq!(parent_of(&server, &c).await, json!(a));
    // The folder filter of `a` covers its new subtree.
    assert_eq!(listed_in(&server, &a).await, [asset["id"].clone()]);
    assert_eq!(
        patch(&server, &c, json!({"parentFolder": null}))
            .await
            .status(),
        200
    );
    assert_eq!(parent_of(&server, &c).await, Value::Null);
    assert!(listed_in(&server, &a).await.is_empty());
    assert_eq!(listed_in(&server, &c).await, [asset["id"].clone()]);
    server.stop().await;
}

#[tokio::test]
async fn never_into_itself_a_descendant_another_site_or_nowhere() {
    let server = TestServer::start().await;
    let a = server.folder("a", None).await;
    let b = server.folder("b", Some(&a)).await;
    let c = server.folder("c", Some(&b)).await;
    let foreign = server.other_site_folder().await;
    for target in [
        a.clone(),
        c.clone(),
        foreign.clone(),
        "0123456789abcdef01234567".to_owned(),
        "not-an-id".to_owned(),
    ] {
        let (status, code, body) =
            error_code(patch(&server, &a, json!({"parentFolder": target})).await).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (400, "validation_error"),
            "{target}"
        );
        assert_eq!(body["details"][0]["param"], "parentFolder", "{body}");
    }
    assert_eq!(parent_of(&server, &a).await, Value::Null);
    server.stop().await;
}

#[tokio::test]
async fn concurrent_opposite_moves_never_make_a_cycle() {
    let server = TestServer::start().await;
    for round in 0..15 {
        let x = server.folder(&format!("x{round}"), None).await;
        let y = server.folder(&format!("y{round}"), None).await;
        let (first, second) = tokio::join!(
            patch(&server, &x, json!({"parentFolder": y})),
            patch(&server, &y, json!({"parentFolder": x})),
        );
        let statuses = [first.status().as_u16(), second.status().as_u16()];
        // One of them moves; the other, serialized after it, would close a loop.
        assert!(
            statuses.contains(&200) && statuses.contains(&400),
            "{statuses:?}"
        );
        let (px, py) = (parent_of(&server, &x).await, parent_of(&server, &y).await);
        assert!(
            (px == json!(y) && py.is_null()) || (py == json!(x) && px.is_null()),
            "round {round}: x in {px}, y in {py}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_foreign_and_read_only_requests() {
    let server = TestServer::start().await;
    let a = server.folder("a", None).await;
    let (status, code, _) = error_code(
        patch(
            &server,
            "0123456789abcdef01234567",
            json!({"displayName": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (404, "resource_not_found")
    );
    let (_, other_token) = server.other_site().await;
    let foreign = server
        .client
        .patch(server.url(&format!("/v2/asset_folders/{a}")))
        .bearer_auth(&other_token)
        .json(&json!({"displayName": "mine now"}))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
    let reader = server.token_with("assets:read").await;
    let read_only = server
        .client
        .patch(server.url(&format!("/v2/asset_folders/{a}")))
        .bearer_auth(&reader)
        .json(&json!({"displayName": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(read_only.status(), 403);
    let (status, code, _) = error_code(patch(&server, &a, json!({"displayName": 5})).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "validation_error"));
    server.stop().await;
}
