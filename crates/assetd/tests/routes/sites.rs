//! Sites: `GET /v2/sites/{site_id}` and deleting a site (`assetd site delete`, the sweep).

use std::io::Cursor;
use std::time::Duration;

use assetd::site_deletion::{ROW_KEPT, delete_site};
use assetd::sweep::sweep_once;
use serde_json::Value;

use crate::util::{TestServer, upload, upload_as};

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, 90])
    });
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

async fn get(server: &TestServer, token: &str, path: &str) -> (u16, Value) {
    let response = server
        .client
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn folder_as(
    server: &TestServer,
    site: &str,
    token: &str,
    name: &str,
    parent: Option<&str>,
) -> String {
    let response = server
        .client
        .post(server.url(&format!("/v2/sites/{site}/asset_folders")))
        .bearer_auth(token)
        .json(&serde_json::json!({"displayName": name, "parentFolder": parent}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_site_is_read_in_webflows_shape_and_only_by_its_tokens() {
    let server = TestServer::start().await;
    let site = server.site_id.to_string();
    let (status, body) = get(&server, &server.token, &format!("/v2/sites/{site}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], site.as_str());
    assert!(body["displayName"].is_string() && body["createdOn"].is_string());
    assert_eq!(body["lastUpdated"], body["createdOn"]);
    let (other, other_token) = server.other_site().await;
    let (status, body) = get(&server, &other_token, &format!("/v2/sites/{site}")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("resource_not_found"))
    );
    let (status, _) = get(&server, &server.token, &format!("/v2/sites/{other}")).await;
    assert_eq!(status, 404);
    let (status, _) = get(&server, &server.token, "/v2/sites/not-an-id").await;
    assert_eq!(status, 400);
    server.stop().await;
}

#[tokio::test]
async fn deleting_a_site_removes_everything_of_it_and_nothing_of_another() {
    let server = TestServer::start_with(|s| s.token_cache_ttl = Duration::ZERO).await;
    let kept_site = server.site_id.to_string();
    let kept = upload(&server, "kept.jpg", &jpeg(600, 600)).await;
    let (doomed, token) = server.other_site().await;
    let doomed_s = doomed.to_string();
    let top = folder_as(&server, &doomed_s, &token, "top", None).await;
    let inner = folder_as(&server, &doomed_s, &token, "inner", Some(&top)).await;
    let photo = upload_as(
        &server,
        (&doomed_s, &token),
        "photo.jpg",
        &jpeg(1200, 800),
        Some(&inner),
    )
    .await;
    upload_as(
        &server,
        (&doomed_s, &token),
        "doc.pdf",
        b"%PDF-1.4 doomed",
        Some(&top),
    )
    .await;
    crate::util::create_asset_as(&server, (&doomed_s, &token), "never-sent.png", b"pending").await;
    server.drain_variant_jobs().await;
    let blobs = server.state.blobs.clone();
    let kept_before = blobs.list(&format!("{kept_site}/")).await.unwrap();
    assert!(
        kept_before.len() > 1,
        "the kept image and its variants: {kept_before:?}"
    );
    assert!(blobs.list(&format!("{doomed_s}/")).await.unwrap().len() > 2);
    let photo_url = photo["hostedUrl"].as_str().unwrap().to_owned();
    assert_eq!(
        server.client.get(&photo_url).send().await.unwrap().status(),
        200
    );

    let now = assetd::timestamp::now();
    let done = delete_site(server.meta.as_ref(), blobs.as_ref(), doomed, now)
        .await
        .unwrap()
        .expect("the site exists");
    assert_eq!((done.assets, done.folders), (3, 2));
    assert!(done.objects >= 3 && done.objects_failed == 0, "{done:?}");
    assert!(!done.finished, "the empty row is kept a while");

    // No byte of it is left; every byte of the other site is.
    assert_eq!(
        blobs.list(&format!("{doomed_s}/")).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        blobs.list(&format!("{kept_site}/")).await.unwrap(),
        kept_before
    );
    assert_eq!(
        server.client.get(&photo_url).send().await.unwrap().status(),
        404
    );
    let kept_url = kept["hostedUrl"].as_str().unwrap();
    assert_eq!(
        server.client.get(kept_url).send().await.unwrap().status(),
        200
    );
    // Its token reaches nothing; the API no longer shows it.
    let (status, _) = get(&server, &token, &format!("/v2/sites/{doomed_s}/assets")).await;
    assert_eq!(status, 404);
    let (_, sites) = get(&server, &token, "/v2/sites").await;
    assert_eq!(sites["sites"], serde_json::json!([]));
    let summary = server.meta.list_sites().await.unwrap();
    let listed = summary.iter().find(|s| s.site.id == doomed).unwrap();
    assert_eq!((listed.assets, listed.deleting_since), (0, Some(now)));

    // The sweep removes the empty row once it has been kept long enough.
    let soon = now + chrono::Duration::minutes(1);
    sweep_once(&server.state.sweep_work(), soon).await.unwrap();
    assert_eq!(server.meta.list_sites().await.unwrap().len(), 2);
    let later = now + chrono::Duration::from_std(ROW_KEPT).unwrap() + chrono::Duration::seconds(1);
    sweep_once(&server.state.sweep_work(), later).await.unwrap();
    let left: Vec<_> = server
        .meta
        .list_sites()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.site.id)
        .collect();
    assert_eq!(left, [server.site_id]);
    assert!(
        delete_site(server.meta.as_ref(), blobs.as_ref(), doomed, later)
            .await
            .unwrap()
            .is_none()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_deletion_stopped_midway_is_finished_by_the_sweep() {
    let server = TestServer::start().await;
    let (doomed, token) = server.other_site().await;
    let doomed_s = doomed.to_string();
    for i in 0..3 {
        upload_as(
            &server,
            (&doomed_s, &token),
            &format!("f{i}.txt"),
            b"doomed bytes",
            None,
        )
        .await;
    }
    let kept = upload(&server, "kept.txt", b"kept bytes").await;
    // A crash right after the first step: marked, nothing deleted yet.
    let now = assetd::timestamp::now();
    assert!(server.meta.start_site_deletion(doomed, now).await.unwrap());
    assert_eq!(
        server
            .state
            .blobs
            .list(&format!("{doomed_s}/"))
            .await
            .unwrap()
            .len(),
        3
    );
    let report = sweep_once(&server.state.sweep_work(), now).await.unwrap();
    assert_eq!(report.expired_assets, 0);
    assert!(
        server
            .state
            .blobs
            .list(&format!("{doomed_s}/"))
            .await
            .unwrap()
            .is_empty()
    );
    let listed = server.meta.list_sites().await.unwrap();
    assert_eq!(
        listed.iter().find(|s| s.site.id == doomed).unwrap().assets,
        0
    );
    let kept_id = kept["id"].as_str().unwrap();
    let (status, _) = get(&server, &server.token, &format!("/v2/assets/{kept_id}")).await;
    assert_eq!(status, 200);
    server.stop().await;
}
