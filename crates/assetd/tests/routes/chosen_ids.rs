//! The `id` field of Upload Asset and Create Asset Folder (assetd's extension for `assetd
//! import`): kept with the `assets:import` scope, refused without it, 409 when taken, 400 when
//! malformed.

use reqwest::Method;
use serde_json::{Value, json};

use crate::util::{TestServer, error_code, md5_hex, upload_as};

const ID: &str = "5f0c1a2b3c4d5e6f70819203";
const FOLDER_ID: &str = "5f0c1a2b3c4d5e6f70819204";

async fn post(server: &TestServer, token: &str, what: &str, body: Value) -> reqwest::Response {
    server
        .client
        .post(server.url(&format!("/v2/sites/{}/{what}", server.site_id)))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_import_token_keeps_the_ids_it_sends_and_a_taken_id_is_409() {
    let server = TestServer::start().await;
    let import = server
        .token_with("assets:read,assets:write,assets:import")
        .await;
    let folder = post(
        &server,
        &import,
        "asset_folders",
        json!({"displayName": "Kept", "id": FOLDER_ID}),
    )
    .await;
    assert_eq!(folder.status(), 200);
    let folder: Value = folder.json().await.unwrap();
    assert_eq!(folder["id"], FOLDER_ID);
    let again = post(
        &server,
        &import,
        "asset_folders",
        json!({"displayName": "Other name", "id": FOLDER_ID}),
    )
    .await;
    let (status, code, body) = error_code(again).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (409, "conflict"),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains(FOLDER_ID),
        "{body}"
    );

    let bytes = b"kept bytes";
    let created = post(
        &server,
        &import,
        "assets",
        json!({"fileName": "k.pdf", "fileHash": md5_hex(bytes), "parentFolder": FOLDER_ID, "id": ID}),
    )
    .await;
    assert_eq!(created.status(), 200);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["id"], ID);
    assert!(created["hostedUrl"].as_str().unwrap().contains(ID));
    let taken = post(
        &server,
        &import,
        "assets",
        json!({"fileName": "other.pdf", "fileHash": md5_hex(b"x"), "id": ID}),
    )
    .await;
    let (status, code, _) = error_code(taken).await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "conflict"));
    // Taken in another site too: ids are unique in the whole service.
    let (other_site, _) = server.other_site().await;
    let other_import = assetd::app::create_token(
        server.meta.as_ref(),
        &[other_site],
        "assets:write,assets:import".parse().unwrap(),
        None,
    )
    .await
    .unwrap()
    .to_string();
    let elsewhere = server
        .client
        .post(server.url(&format!("/v2/sites/{other_site}/assets")))
        .bearer_auth(&other_import)
        .json(&json!({"fileName": "k.pdf", "fileHash": md5_hex(bytes), "id": ID}))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 409);
    server.stop().await;
}

#[tokio::test]
async fn a_chosen_id_without_the_scope_is_403_and_a_malformed_one_400() {
    let server = TestServer::start().await;
    // The first-run token has assets:read and assets:write only.
    let token = server.token.clone();
    for (what, body) in [
        (
            "assets",
            json!({"fileName": "a.pdf", "fileHash": md5_hex(b"a"), "id": ID}),
        ),
        (
            "asset_folders",
            json!({"displayName": "F", "id": FOLDER_ID}),
        ),
    ] {
        let (status, code, body) = error_code(post(&server, &token, what, body).await).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (403, "missing_scopes"),
            "{body}"
        );
        assert!(body["message"].as_str().unwrap().contains("assets:import"));
    }
    let import = server.token_with("assets:write,assets:import").await;
    for (what, body) in [
        (
            "assets",
            json!({"fileName": "a.pdf", "fileHash": md5_hex(b"a"), "id": "nope"}),
        ),
        ("asset_folders", json!({"displayName": "F", "id": 12})),
    ] {
        let (status, code, body) = error_code(post(&server, &import, what, body).await).await;
        assert_eq!((status.as_u16(), code.as_str()), (400, "validation_error"));
        assert_eq!(body["details"][0]["param"], "id");
    }
    // Without an id every token works as before, and null means "generate one".
    let plain = upload_as(
        &server,
        (&server.site_id.to_string(), &token),
        "p.pdf",
        b"p",
        None,
    )
    .await;
    assert_ne!(plain["id"], ID);
    let null = post(
        &server,
        &token,
        "asset_folders",
        json!({"displayName": "N", "id": null}),
    )
    .await;
    assert_eq!(null.status(), 200);
    assert_eq!(server.asset_count().await, 1);
    server.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_id_field() {
    let server = TestServer::start().await;
    let doc: Value = server
        .api(Method::GET, "/v2/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for schema in ["CreateAssetSchema", "FolderCreateSchema"] {
        let id = &doc["components"]["schemas"][schema]["properties"]["id"];
        assert!(
            id["description"]
                .as_str()
                .unwrap()
                .contains("assets:import"),
            "{schema}: {id}"
        );
    }
    server.stop().await;
}
