//! The optional WebP variants (`--variant-formats original,webp`, an assetd extension): a lossy
//! WebP beside each same-format variant, listed after them with `format: "webp"`, served as
//! `image/webp`, deleted with the asset. Without the flag nothing changes.

use image::{DynamicImage, ImageFormat};
use reqwest::Method;
use serde_json::Value;

use super::{assert_lists_carry_the_variants_of_get, encode, get_asset};
use crate::util::{TestServer, upload};

const WITH_WEBP: [&str; 2] = ["--variant-formats", "original,webp"];

fn photo(width: u32, height: u32, alpha: bool) -> DynamicImage {
    let rgb = |x: u32, y: u32| [(x % 251) as u8, (y % 241) as u8, ((x + y) % 199) as u8];
    if alpha {
        DynamicImage::ImageRgba8(image::RgbaImage::from_fn(width, height, |x, y| {
            let [r, g, b] = rgb(x, y);
            image::Rgba([r, g, b, if x % 7 == 0 { 0 } else { 255 }])
        }))
    } else {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb(rgb(x, y))
        }))
    }
}

fn variants(asset: &Value) -> &Vec<Value> {
    asset["variants"].as_array().unwrap()
}

/// What a variant says apart from its ids and URLs, to compare servers.
fn shape(variant: &Value) -> Value {
    let mut keys: Vec<&String> = variant.as_object().unwrap().keys().collect();
    keys.sort();
    serde_json::json!({
        "keys": keys,
        "originalFileName": variant["originalFileName"],
        "format": variant["format"],
        "width": variant["width"],
        "height": variant["height"],
        "quality": variant["quality"],
        "error": variant["error"],
    })
}

/// (file name, bytes, widths) of a JPEG, a PNG with alpha and a WebP.
fn uploads() -> Vec<(&'static str, Vec<u8>, Vec<u64>)> {
    vec![
        (
            "photo.JPG",
            encode(&photo(1700, 1000, false), ImageFormat::Jpeg),
            vec![500, 800, 1080, 1600],
        ),
        (
            "shape.png",
            encode(&photo(1200, 800, true), ImageFormat::Png),
            vec![500, 800, 1080],
        ),
        (
            "already.webp",
            encode(&photo(900, 333, true), ImageFormat::WebP),
            vec![500, 800],
        ),
    ]
}

#[tokio::test]
async fn with_webp_each_width_gets_a_webp_beside_the_same_format_variant() {
    let plain = TestServer::start().await;
    let server = TestServer::start_with_args(&WITH_WEBP, |_| {}).await;
    let cases = uploads();
    let mut created = Vec::new();
    for (name, bytes, _) in &cases {
        upload(&plain, name, bytes).await;
        created.push(upload(&server, name, bytes).await);
    }
    assert_eq!(plain.drain_variant_jobs().await, cases.len());
    assert_eq!(server.drain_variant_jobs().await, cases.len());
    let plain_list: Value = plain
        .api(Method::GET, &format!("/v2/sites/{}/assets", plain.site_id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    for ((name, _, widths), created) in cases.iter().zip(&created) {
        let id = created["id"].as_str().unwrap();
        let asset = get_asset(&server, id).await;
        let listed = variants(&asset);
        let plain_asset = plain_list["assets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["originalFileName"] == *name)
            .unwrap();
        let same_format = variants(plain_asset);
        assert_eq!(same_format.len(), widths.len(), "{name}");
        // The same-format variants come first, exactly as a server without WebP lists them.
        for (ours, theirs) in listed.iter().zip(same_format) {
            assert_eq!(shape(ours), shape(theirs), "{name}");
        }
        let extra = &listed[same_format.len()..];
        if name.ends_with(".webp") {
            // A WebP original's own variants are WebP already: no second set.
            assert!(extra.is_empty(), "{name}: {asset}");
            continue;
        }
        let stem = name.rsplit_once('.').unwrap().0;
        assert_eq!(extra.len(), widths.len(), "{name}: {asset}");
        for ((webp, same), &width) in extra.iter().zip(listed.iter()).zip(widths) {
            assert_eq!(webp["format"], "webp", "{webp}");
            assert_eq!(webp["width"], width);
            assert_eq!(webp["height"], same["height"]);
            assert_eq!(webp["quality"], 90);
            assert!(webp["error"].is_null(), "{webp}");
            assert_eq!(
                webp["originalFileName"],
                format!("{stem}-p-{width}.webp").as_str()
            );
            assert_eq!(
                webp["displayName"],
                format!("{id}_{stem}-p-{width}.webp").as_str()
            );
            let hosted = webp["hostedUrl"].as_str().unwrap();
            assert_ne!(hosted, same["hostedUrl"].as_str().unwrap());
            assert!(hosted.ends_with(&format!("/{id}_{stem}-p-{width}.webp")));

            let served = server.client.get(hosted).send().await.unwrap();
            assert_eq!(served.status(), 200, "{hosted}");
            assert_eq!(served.headers()["content-type"], "image/webp");
            assert!(served.headers().contains_key("etag"));
            let bytes = served.bytes().await.unwrap();
            let decoded = image::load_from_memory_with_format(&bytes, ImageFormat::WebP).unwrap();
            assert_eq!(u64::from(decoded.width()), width);
            assert_eq!(
                u64::from(decoded.height()),
                same["height"].as_u64().unwrap()
            );
            assert_eq!(decoded.color().has_alpha(), name.ends_with(".png"));

            // The same-format variant beside it is still served in its own type.
            let same_served = server
                .client
                .get(same["hostedUrl"].as_str().unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(
                same_served.headers()["content-type"],
                created["contentType"].as_str().unwrap()
            );
        }
    }
    assert_lists_carry_the_variants_of_get(&server).await;
    plain.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn without_the_flag_no_webp_is_made() {
    let server = TestServer::start().await;
    let created = upload(
        &server,
        "photo.jpg",
        &encode(&photo(1700, 1000, false), ImageFormat::Jpeg),
    )
    .await;
    server.drain_variant_jobs().await;
    let asset = get_asset(&server, created["id"].as_str().unwrap()).await;
    assert_eq!(variants(&asset).len(), 4);
    assert!(
        variants(&asset).iter().all(|v| v["format"] == "jpg"),
        "{asset}"
    );
    let site = server.site_id.to_string();
    let stored = server.state.blobs.list(&site).await.unwrap();
    assert_eq!(stored.len(), 1 + 4, "{stored:?}");
    assert!(!stored.iter().any(|k| k.ends_with(".webp")), "{stored:?}");
    server.stop().await;
}

#[tokio::test]
async fn deleting_an_asset_deletes_its_webp_variants_too() {
    let server = TestServer::start_with_args(&WITH_WEBP, |_| {}).await;
    let created = upload(
        &server,
        "wide.jpg",
        &encode(&photo(2100, 700, false), ImageFormat::Jpeg),
    )
    .await;
    let kept = upload(
        &server,
        "kept.png",
        &encode(&photo(600, 600, false), ImageFormat::Png),
    )
    .await;
    server.drain_variant_jobs().await;
    let id = created["id"].as_str().unwrap();
    let asset = get_asset(&server, id).await;
    let urls: Vec<String> = variants(&asset)
        .iter()
        .map(|v| v["hostedUrl"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(urls.len(), 2 * 5);
    let site = server.site_id.to_string();
    let before = server.state.blobs.list(&site).await.unwrap();
    // Two originals; 5 JPEG and 5 WebP variants; 1 PNG and 1 WebP variant.
    assert_eq!(before.len(), 2 + 10 + 2, "{before:?}");
    assert_eq!(before.iter().filter(|k| k.ends_with(".webp")).count(), 6);

    let deleted = server
        .api(Method::DELETE, &format!("/v2/assets/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    for url in &urls {
        assert_eq!(
            server.client.get(url).send().await.unwrap().status(),
            404,
            "{url}"
        );
    }
    let after = server.state.blobs.list(&site).await.unwrap();
    let kept_id = kept["id"].as_str().unwrap();
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(after.iter().all(|key| key.contains(kept_id)), "{after:?}");
    server.stop().await;
}

#[tokio::test]
async fn deleting_the_folder_or_the_site_leaves_no_webp_behind() {
    let server = TestServer::start_with_args(&WITH_WEBP, |_| {}).await;
    let folder: Value = server
        .api(
            Method::POST,
            &format!("/v2/sites/{}/asset_folders", server.site_id),
        )
        .json(&serde_json::json!({"displayName": "photos"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let folder_id = folder["id"].as_str().unwrap();
    crate::util::upload_into(
        &server,
        "in-folder.jpg",
        &encode(&photo(900, 600, false), ImageFormat::Jpeg),
        Some(folder_id),
    )
    .await;
    server.drain_variant_jobs().await;
    let site = server.site_id.to_string();
    assert_eq!(
        server.state.blobs.list(&site).await.unwrap().len(),
        1 + 2 + 2
    );
    let deleted = server
        .api(
            Method::DELETE,
            &format!("/v2/asset_folders/{folder_id}?recursive=true"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let after = server.state.blobs.list(&site).await.unwrap();
    assert!(after.is_empty(), "{after:?}");

    // A whole site: every object of it, WebP variants included.
    let (doomed, token) = server.other_site().await;
    let doomed_s = doomed.to_string();
    crate::util::upload_as(
        &server,
        (&doomed_s, &token),
        "photo.jpg",
        &encode(&photo(900, 600, false), ImageFormat::Jpeg),
        None,
    )
    .await;
    server.drain_variant_jobs().await;
    let blobs = server.state.blobs.clone();
    let stored = blobs.list(&format!("{doomed_s}/")).await.unwrap();
    assert_eq!(stored.iter().filter(|k| k.ends_with(".webp")).count(), 2);
    assetd::site_deletion::delete_site(
        server.meta.as_ref(),
        blobs.as_ref(),
        doomed,
        assetd::timestamp::now(),
    )
    .await
    .unwrap()
    .expect("the site exists");
    assert_eq!(
        blobs.list(&format!("{doomed_s}/")).await.unwrap(),
        Vec::<String>::new()
    );
    server.stop().await;
}
