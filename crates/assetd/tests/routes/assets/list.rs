//! `GET /v2/sites/{site_id}/assets`.

use reqwest::Method;
use serde_json::Value;

use crate::util::{TestServer, create_asset, error_code, upload, upload_into};

async fn list(server: &TestServer, query: &str) -> reqwest::Response {
    server
        .api(
            Method::GET,
            &format!("/v2/sites/{}/assets{query}", server.site_id),
        )
        .send()
        .await
        .unwrap()
}

fn ids(body: &Value) -> Vec<String> {
    body["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn lists_uploaded_assets_oldest_first_with_pagination() {
    let server = TestServer::start().await;
    let mut expected = Vec::new();
    for i in 0..5 {
        let created = upload(
            &server,
            &format!("f{i}.txt"),
            format!("bytes {i}").as_bytes(),
        )
        .await;
        expected.push(created["id"].as_str().unwrap().to_owned());
    }
    // A pending asset (bytes not arrived) is not listed.
    create_asset(&server, "pending.txt", b"never sent").await;

    let body: Value = list(&server, "").await.json().await.unwrap();
    assert_eq!(ids(&body), expected);
    assert_eq!(
        body["pagination"],
        serde_json::json!({"limit": 100, "offset": 0, "total": 5})
    );
    let first = &body["assets"][0];
    for key in [
        "id",
        "contentType",
        "size",
        "siteId",
        "hostedUrl",
        "originalFileName",
        "displayName",
        "lastUpdated",
        "createdOn",
        "variants",
        "altText",
        "folderId",
    ] {
        assert!(first.get(key).is_some(), "missing {key}: {first}");
    }
    assert_eq!(first["size"], 7);
    assert_eq!(first["variants"], serde_json::json!([]));
    assert!(first["altText"].is_null() && first["folderId"].is_null());
    assert_eq!(
        first["displayName"],
        format!("{}_f0.txt", expected[0]).as_str()
    );

    let page: Value = list(&server, "?offset=1&limit=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&page), expected[1..3]);
    assert_eq!(
        page["pagination"],
        serde_json::json!({"limit": 2, "offset": 1, "total": 5})
    );
    let past_end: Value = list(&server, "?offset=50").await.json().await.unwrap();
    assert_eq!(ids(&past_end), Vec::<String>::new());
    assert_eq!(past_end["pagination"]["total"], 5);
    let last: Value = list(&server, "?offset=4&limit=100")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&last), expected[4..]);
    server.stop().await;
}

#[tokio::test]
async fn bad_pagination_is_a_validation_error() {
    let server = TestServer::start().await;
    for query in [
        "?limit=0",
        "?limit=101",
        "?limit=-1",
        "?offset=-1",
        "?offset=abc",
        "?limit=1&limit=2",
        "?folderId=xyz",
    ] {
        let (status, code, _) = error_code(list(&server, query).await).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (400, "validation_error"),
            "{query}"
        );
    }
    let ok = list(&server, "?limit=100&localeId=whatever").await;
    assert_eq!(ok.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn folder_filter_covers_descendants_and_counts_the_filtered_set() {
    let server = TestServer::start().await;
    let top = server.folder("top", None).await;
    let child = server.folder("child", Some(&top)).await;
    let grandchild = server.folder("grandchild", Some(&child)).await;
    let other = server.folder("other", None).await;
    let in_top = upload_into(&server, "a.txt", b"a", Some(&top)).await;
    let in_grandchild = upload_into(&server, "b.txt", b"b", Some(&grandchild)).await;
    let in_other = upload_into(&server, "c.txt", b"c", Some(&other)).await;
    let at_root = upload(&server, "d.txt", b"d").await;

    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let body: Value = list(&server, &format!("?folderId={top}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&body), [id(&in_top), id(&in_grandchild)]);
    assert_eq!(body["pagination"]["total"], 2);
    assert_eq!(body["assets"][1]["folderId"], grandchild.as_str());
    let body: Value = list(&server, &format!("?folderId={child}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&body), [id(&in_grandchild)]);
    let body: Value = list(&server, &format!("?folderId={other}&limit=1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&body), [id(&in_other)]);
    let all: Value = list(&server, "").await.json().await.unwrap();
    assert_eq!(all["pagination"]["total"], 4);
    assert!(ids(&all).contains(&id(&at_root)));
    server.stop().await;
}

#[tokio::test]
async fn other_sites_and_scopes_are_kept_apart() {
    let server = TestServer::start().await;
    upload(&server, "mine.txt", b"mine").await;
    let (other_site, other_token) = server.other_site().await;
    let theirs = server
        .client
        .get(server.url(&format!("/v2/sites/{}/assets", server.site_id)))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(theirs).await.0, 404);
    let own: Value = server
        .client
        .get(server.url(&format!("/v2/sites/{other_site}/assets")))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own["pagination"]["total"], 0);
    let foreign_folder = {
        let r = server
            .client
            .post(server.url(&format!("/v2/sites/{other_site}/asset_folders")))
            .bearer_auth(&other_token)
            .json(&serde_json::json!({"displayName": "x"}))
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (status, code, _) =
        error_code(list(&server, &format!("?folderId={foreign_folder}")).await).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (404, "resource_not_found")
    );
    let write_only = server.token_with("assets:write").await;
    let refused = server
        .client
        .get(server.url(&format!("/v2/sites/{}/assets", server.site_id)))
        .bearer_auth(&write_only)
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_code(refused).await;
    assert_eq!((status.as_u16(), code.as_str()), (403, "missing_scopes"));
    server.stop().await;
}
