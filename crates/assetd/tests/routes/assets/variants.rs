//! Responsive-image variants: which are made, how they are named, served, listed, refused and
//! deleted. Jobs are run with `drain_variant_jobs` so each test sees a finished state.

use image::{DynamicImage, ImageFormat};
use reqwest::Method;
use serde_json::Value;

use super::{assert_lists_carry_the_variants_of_get, encode, get_asset};
use crate::util::{TestServer, upload};

fn photo(width: u32, height: u32, alpha: bool) -> DynamicImage {
    if alpha {
        DynamicImage::ImageRgba8(image::RgbaImage::from_fn(width, height, |x, y| {
            image::Rgba([
                (x % 251) as u8,
                (y % 241) as u8,
                90,
                if x % 7 == 0 { 0 } else { 255 },
            ])
        }))
    } else {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 251) as u8, (y % 241) as u8, 90])
        }))
    }
}

/// A two-frame GIF: the first frame red, the second blue.
fn animated_gif(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut out);
        for color in [[255, 0, 0, 255], [0, 0, 255, 255]] {
            let frame = image::RgbaImage::from_pixel(width, height, image::Rgba(color));
            encoder.encode_frame(image::Frame::new(frame)).unwrap();
        }
    }
    out
}

fn widths(asset: &Value) -> Vec<u64> {
    asset["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["width"].as_u64().unwrap())
        .collect()
}

fn rounded_height(width: u32, height: u32, target: u32) -> u64 {
    ((u64::from(height) * u64::from(target) + u64::from(width) / 2) / u64::from(width)).max(1)
}

#[tokio::test]
async fn each_raster_format_gets_webflows_widths_below_its_own_in_its_own_format() {
    let server = TestServer::start().await;
    let cases = [
        (
            "photo.png",
            ImageFormat::Png,
            encode(&photo(1200, 800, true), ImageFormat::Png),
            (1200, 800),
            vec![500, 800, 1080],
        ),
        (
            "photo.JPG",
            ImageFormat::Jpeg,
            encode(&photo(1700, 1000, false), ImageFormat::Jpeg),
            (1700, 1000),
            vec![500, 800, 1080, 1600],
        ),
        (
            "photo.webp",
            ImageFormat::WebP,
            encode(&photo(900, 333, true), ImageFormat::WebP),
            (900, 333),
            vec![500, 800],
        ),
        (
            "anim.gif",
            ImageFormat::Gif,
            animated_gif(820, 410),
            (820, 410),
            vec![500, 800],
        ),
    ];
    let mut created = Vec::new();
    for (name, _, bytes, _, _) in &cases {
        created.push(upload(&server, name, bytes).await);
    }
    assert_eq!(server.drain_variant_jobs().await, cases.len());
    for ((name, format, _, (w, h), expected), created) in cases.iter().zip(&created) {
        let id = created["id"].as_str().unwrap();
        let asset = get_asset(&server, id).await;
        assert_eq!(widths(&asset), *expected, "{name}");
        let (stem, ext) = name.rsplit_once('.').unwrap();
        for variant in asset["variants"].as_array().unwrap() {
            let width = u32::try_from(variant["width"].as_u64().unwrap()).unwrap();
            assert!(
                width < *w,
                "{name}: a variant is never as wide as the original"
            );
            assert_eq!(
                variant["height"].as_u64().unwrap(),
                rounded_height(*w, *h, width),
                "{name}"
            );
            assert_eq!(
                variant["originalFileName"],
                format!("{stem}-p-{width}.{ext}").as_str()
            );
            assert_eq!(
                variant["displayName"],
                format!("{id}_{stem}-p-{width}.{ext}").as_str()
            );
            assert_eq!(variant["format"], ext.to_ascii_lowercase().as_str());
            assert_eq!(
                variant["quality"],
                if *format == ImageFormat::Jpeg {
                    85
                } else {
                    100
                }
            );
            assert!(variant["error"].is_null(), "{name}: {variant}");
            let hosted = variant["hostedUrl"].as_str().unwrap();
            assert!(
                hosted.ends_with(&format!("/{id}_{stem}-p-{width}.{ext}")),
                "{hosted}"
            );

            // Served like the original: same Content-Type, an ETag, and bytes that decode in
            // the original's format at the listed size.
            let served = server.client.get(hosted).send().await.unwrap();
            assert_eq!(served.status(), 200, "{hosted}");
            assert_eq!(
                served.headers()["content-type"],
                created["contentType"].as_str().unwrap()
            );
            assert!(served.headers().contains_key("etag"));
            let bytes = served.bytes().await.unwrap();
            let decoded = image::load_from_memory_with_format(&bytes, *format).unwrap();
            assert_eq!(u64::from(decoded.height()), rounded_height(*w, *h, width));
            assert_eq!(decoded.width(), width);
            if *format == ImageFormat::Gif {
                // The first frame (red), not the second (blue).
                let pixel = decoded.to_rgba8().get_pixel(width / 2, 5).0;
                assert!(pixel[0] > 200 && pixel[2] < 50, "{pixel:?}");
            }
        }
    }
    assert_lists_carry_the_variants_of_get(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn svg_small_images_and_documents_get_no_variants() {
    let server = TestServer::start().await;
    let svg = upload(
        &server,
        "logo.svg",
        br#"<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000"/>"#,
    )
    .await;
    let small = upload(
        &server,
        "icon.png",
        &encode(&photo(500, 300, false), ImageFormat::Png),
    )
    .await;
    let doc = upload(&server, "notes.txt", b"not an image").await;
    // Only the PNG is queued; it is too narrow for any width.
    assert_eq!(server.drain_variant_jobs().await, 1);
    for created in [svg, small, doc] {
        let asset = get_asset(&server, created["id"].as_str().unwrap()).await;
        assert_eq!(asset["variants"], serde_json::json!([]), "{asset}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_corrupt_image_records_an_error_and_stays_usable() {
    let server = TestServer::start().await;
    let garbage = upload(&server, "broken.png", b"this is not a png at all").await;
    // A readable header (1200×800) over a truncated body: each planned width fails.
    let mut truncated = encode(&photo(1200, 800, false), ImageFormat::Png);
    truncated.truncate(truncated.len() / 3);
    let cut = upload(&server, "cut.png", &truncated).await;
    server.drain_variant_jobs().await;

    let asset = get_asset(&server, garbage["id"].as_str().unwrap()).await;
    let variants = asset["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 1, "{asset}");
    assert_eq!(variants[0]["width"], 0);
    assert!(
        variants[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot decode the image"),
        "{asset}"
    );
    let original = server
        .client
        .get(asset["hostedUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(original.status(), 200);
    assert_eq!(
        &original.bytes().await.unwrap()[..],
        b"this is not a png at all"
    );
    let never_made = server
        .client
        .get(variants[0]["hostedUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(never_made.status(), 404);

    let asset = get_asset(&server, cut["id"].as_str().unwrap()).await;
    assert_eq!(widths(&asset), vec![500, 800, 1080]);
    for variant in asset["variants"].as_array().unwrap() {
        assert!(
            variant["error"]
                .as_str()
                .unwrap()
                .starts_with("cannot decode the image"),
            "{variant}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn deleting_an_asset_deletes_its_variants() {
    let server = TestServer::start().await;
    let created = upload(
        &server,
        "wide.jpg",
        &encode(&photo(2100, 700, false), ImageFormat::Jpeg),
    )
    .await;
    let kept = upload(
        &server,
        "kept.jpg",
        &encode(&photo(600, 600, false), ImageFormat::Jpeg),
    )
    .await;
    server.drain_variant_jobs().await;
    let id = created["id"].as_str().unwrap();
    let asset = get_asset(&server, id).await;
    let urls: Vec<String> = asset["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["hostedUrl"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(urls.len(), 5);
    let site = server.site_id.to_string();
    let before = server.state.blobs.list(&site).await.unwrap();
    assert_eq!(before.len(), 2 + 5 + 1, "{before:?}");
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
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(after.iter().all(|key| key.contains(kept_id)), "{after:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_again_when_its_lease_runs_out() {
    let server = TestServer::start().await;
    let created = upload(
        &server,
        "photo.png",
        &encode(&photo(1000, 1000, false), ImageFormat::Png),
    )
    .await;
    // (With S3 storage the upload is noticed first, as a read would.)
    server.confirm_uploads().await;
    // A worker claims the job and dies before finishing it.
    let now = chrono::Utc::now();
    let lease = chrono::Duration::from_std(assetd::variants::worker::LEASE).unwrap();
    let job = server
        .meta
        .claim_variant_job(now, now + lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.attempts, 1);
    // While the lease lasts, nobody else takes it.
    assert!(
        !assetd::variants::worker::run_one(&server.state.variant_work(), now)
            .await
            .unwrap()
    );
    assert_eq!(
        get_asset(&server, created["id"].as_str().unwrap()).await["variants"],
        serde_json::json!([])
    );
    // After it, the next worker does.
    let later = now + lease + chrono::Duration::seconds(1);
    assert!(
        assetd::variants::worker::run_one(&server.state.variant_work(), later)
            .await
            .unwrap()
    );
    assert!(
        !assetd::variants::worker::run_one(&server.state.variant_work(), later)
            .await
            .unwrap()
    );
    assert_eq!(
        widths(&get_asset(&server, created["id"].as_str().unwrap()).await),
        vec![500, 800]
    );
    server.stop().await;
}

#[tokio::test]
async fn the_worker_pool_makes_variants_on_its_own() {
    let server = TestServer::start_with(|s| s.variants.workers = 2).await;
    let created = upload(
        &server,
        "photo.webp",
        &encode(&photo(1100, 600, false), ImageFormat::WebP),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let asset = get_asset(&server, id).await;
        if widths(&asset) == vec![500, 800, 1080] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no variants after 60 s: {asset}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    server.stop().await;
}
