//! `GET /v2/openapi.json`.

use serde_json::Value;

use crate::util::TestServer;

#[tokio::test]
async fn publishes_openapi_3_1_covering_webflows_eight_endpoints_and_assetds_own_without_a_token() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(server.url("/v2/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut operations: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    operations.sort();
    // Webflow's eight, and assetd's extensions: folder update and delete, asset replace, and
    // asset webhooks.
    let expected = [
        ("delete", "/v2/asset_folders/{asset_folder_id}"),
        ("delete", "/v2/assets/{asset_id}"),
        ("delete", "/v2/webhooks/{webhook_id}"),
        ("get", "/v2/asset_folders/{asset_folder_id}"),
        ("get", "/v2/assets/{asset_id}"),
        ("get", "/v2/sites/{site_id}/asset_folders"),
        ("get", "/v2/sites/{site_id}/assets"),
        ("get", "/v2/sites/{site_id}/webhooks"),
        ("get", "/v2/webhooks/{webhook_id}"),
        ("patch", "/v2/asset_folders/{asset_folder_id}"),
        ("patch", "/v2/assets/{asset_id}"),
        ("post", "/v2/assets/{asset_id}/replace"),
        ("post", "/v2/sites/{site_id}/asset_folders"),
        ("post", "/v2/sites/{site_id}/assets"),
        ("post", "/v2/sites/{site_id}/webhooks"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(operations, expected);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let extension = &doc["paths"]["/v2/asset_folders/{asset_folder_id}"]["patch"]["tags"];
    assert_eq!(extension[0], "Asset Folders (assetd extension)");
    let replace = &doc["paths"]["/v2/assets/{asset_id}/replace"]["post"];
    assert_eq!(replace["tags"][0], "Assets (assetd extension)");
    assert_eq!(
        replace["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/AssetUpload"
    );
    let hooks = &doc["paths"]["/v2/sites/{site_id}/webhooks"]["post"]["tags"];
    assert_eq!(hooks[0], "Webhooks (assetd extension)");
    let webhook = &doc["components"]["schemas"]["WebhookBody"];
    for field in [
        "id",
        "triggerType",
        "url",
        "siteId",
        "createdOn",
        "secret",
        "deliveries",
    ] {
        assert!(
            webhook["properties"].get(field).is_some(),
            "WebhookBody lacks {field}"
        );
    }
    let asset = &doc["components"]["schemas"]["AssetBody"];
    for field in ["displayName", "variants", "altText", "hostedUrl"] {
        assert!(
            asset["properties"].get(field).is_some(),
            "AssetBody lacks {field}"
        );
    }
    // The WebP variants are documented as an assetd extension.
    let format = &doc["components"]["schemas"]["VariantBody"]["properties"]["format"];
    assert!(
        format["description"]
            .as_str()
            .is_some_and(|d| d.contains("`format: \"webp\"`")),
        "{format}"
    );
    server.stop().await;
}
