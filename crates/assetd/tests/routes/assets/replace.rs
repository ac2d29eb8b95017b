//! `POST /v2/assets/{asset_id}/replace`: a new file for an asset, keeping its id, folder, name
//! and alt text; the old file is served until the new one verifies, then it and its variants
//! go, and old URLs served by assetd redirect.

use std::time::{Duration, Instant};

use assetd::sweep::sweep_once;
use image::{DynamicImage, ImageFormat};
use reqwest::Method;
use serde_json::{Value, json};

use super::{encode, get_asset};
use crate::util::{
    TestServer, details, error_code, form, md5_hex, s3_error_code, upload, upload_into,
};

async fn replace(server: &TestServer, id: &str, name: &str, bytes: &[u8]) -> reqwest::Response {
    server
        .api(Method::POST, &format!("/v2/assets/{id}/replace"))
        .json(&json!({"fileName": name, "fileHash": md5_hex(bytes)}))
        .send()
        .await
        .unwrap()
}

/// Posts `bytes` with the answer's presigned form.
async fn post_file(server: &TestServer, answer: &Value, bytes: &[u8]) -> reqwest::Response {
    server
        .client
        .post(answer["uploadUrl"].as_str().unwrap())
        .multipart(form(
            &details(answer),
            bytes.to_vec(),
            answer["contentType"].as_str().unwrap(),
        ))
        .send()
        .await
        .unwrap()
}

/// Waits (at most 5 s) until the asset serves `hosted` as its file: with S3 storage the
/// confirmer notices the new bytes in the background.
async fn wait_for_file(server: &TestServer, id: &str, hosted: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let asset = get_asset(server, id).await;
        if asset["hostedUrl"] == hosted {
            return asset;
        }
        assert!(Instant::now() < deadline, "not replaced after 5 s: {asset}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether hostedUrls are served by assetd (not straight from an S3 service).
fn hosted_by_assetd(server: &TestServer, url: &str) -> bool {
    url.starts_with(&server.base)
}

/// Waits (at most 5 s) until exactly `expected` are stored for the site: the old objects are
/// deleted right after the swap commits, which a read can see first.
async fn wait_for_keys(server: &TestServer, expected: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let keys = stored_keys(server).await;
        if keys == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stored: {keys:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stored_keys(server: &TestServer) -> Vec<String> {
    let mut keys = server
        .state
        .blobs
        .list(&server.site_id.to_string())
        .await
        .unwrap();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_replaced_asset_keeps_its_id_folder_name_and_alt_text_and_serves_the_new_file() {
    let server = TestServer::start().await;
    let folder = server.folder("Docs", None).await;
    let (old_bytes, new_bytes) = (
        b"the first version".as_slice(),
        b"the second, longer version",
    );
    let created = upload_into(&server, "notes.txt", old_bytes, Some(&folder)).await;
    let id = created["id"].as_str().unwrap();
    let patched = server
        .api(Method::PATCH, &format!("/v2/assets/{id}"))
        .json(&json!({"displayName": "Release notes", "altText": "What changed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let before = get_asset(&server, id).await;
    let old_url = before["hostedUrl"].as_str().unwrap().to_owned();

    let answered = replace(&server, id, "notes-v2.csv", new_bytes).await;
    assert_eq!(answered.status(), 200);
    let answer: Value = answered.json().await.unwrap();
    // Upload Asset's shape, for the asset as it will be.
    assert_eq!(answer["id"], id);
    assert_eq!(answer["parentFolder"], folder.as_str());
    assert_eq!(answer["originalFileName"], "notes-v2.csv");
    assert_eq!(answer["contentType"], "text/csv");
    let new_url = answer["hostedUrl"].as_str().unwrap().to_owned();
    assert_ne!(new_url, old_url, "a new file gets a new URL");
    assert!(new_url.ends_with("-notes-v2.csv"), "{new_url}");
    assert!(
        new_url.contains(&format!("/{id}_")),
        "the asset's id leads its key: {new_url}"
    );
    let new_key = answer["uploadDetails"]["key"].as_str().unwrap().to_owned();
    assert!(new_url.ends_with(&new_key), "{new_url} {new_key}");

    // Nothing changes until the new bytes arrive: the old file is served.
    let unchanged = get_asset(&server, id).await;
    assert_eq!(unchanged["hostedUrl"], old_url.as_str());
    assert_eq!(unchanged["size"], old_bytes.len());
    let served = server.client.get(&old_url).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().as_ref(), old_bytes);

    assert_eq!(post_file(&server, &answer, new_bytes).await.status(), 201);
    let after = wait_for_file(&server, id, &new_url).await;
    assert_eq!(after["id"], id);
    assert_eq!(after["displayName"], "Release notes");
    assert_eq!(after["altText"], "What changed");
    assert_eq!(after["createdOn"], before["createdOn"]);
    assert_eq!(after["originalFileName"], "notes-v2.csv");
    assert_eq!(after["contentType"], "text/csv");
    assert_eq!(after["size"], new_bytes.len());
    assert_ne!(after["lastUpdated"], before["lastUpdated"]);
    let served = server.client.get(&new_url).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().as_ref(), new_bytes);

    // The old bytes are gone; the old URL, where assetd serves it, leads to the new file.
    wait_for_keys(&server, std::slice::from_ref(&new_key)).await;
    if hosted_by_assetd(&server, &old_url) {
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let moved = no_redirects.get(&old_url).send().await.unwrap();
        assert_eq!(moved.status(), 302);
        assert_eq!(moved.headers()["location"], new_url.as_str());
        assert_eq!(moved.headers()["cache-control"], "no-cache");
        let followed = server.client.get(&old_url).send().await.unwrap();
        assert_eq!(followed.bytes().await.unwrap().as_ref(), new_bytes);
        // Any other name under the asset's id is still a 404, not a redirect.
        let made_up = old_url.replace("notes.txt", "other.txt");
        assert_eq!(
            no_redirects.get(&made_up).send().await.unwrap().status(),
            404
        );
    }
    // The list shows the new file too.
    let listed: Value = server
        .api(Method::GET, &format!("/v2/sites/{}/assets", server.site_id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["assets"][0]["hostedUrl"], new_url.as_str());
    assert_eq!(listed["assets"][0]["folderId"], folder.as_str());
    assert_eq!(listed["pagination"]["total"], 1);

    // Deleting the asset removes the new file and ends the redirect.
    let deleted = server
        .api(Method::DELETE, &format!("/v2/assets/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert!(stored_keys(&server).await.is_empty());
    if hosted_by_assetd(&server, &old_url) {
        assert_eq!(
            server.client.get(&old_url).send().await.unwrap().status(),
            404
        );
    }
    server.stop().await;
}

/// A JPEG of a photo-like pattern.
fn photo(width: u32, height: u32) -> Vec<u8> {
    let image = DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, 90])
    }));
    encode(&image, ImageFormat::Jpeg)
}

fn variant_urls(asset: &Value) -> Vec<String> {
    asset["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["hostedUrl"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_replaced_image_gets_new_variants_and_its_old_ones_are_deleted() {
    let server = TestServer::start().await;
    let created = upload(&server, "wide.jpg", &photo(1200, 400)).await;
    let id = created["id"].as_str().unwrap();
    server.drain_variant_jobs().await;
    let before = get_asset(&server, id).await;
    let old_variants = variant_urls(&before);
    assert_eq!(old_variants.len(), 3, "{before}");

    let new_image = photo(900, 900);
    let answer: Value = replace(&server, id, "square.jpg", &new_image)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(post_file(&server, &answer, &new_image).await.status(), 201);
    let new_url = answer["hostedUrl"].as_str().unwrap();
    let replaced = wait_for_file(&server, id, new_url).await;
    // Variants are made again, from the new file.
    assert_eq!(variant_urls(&replaced), Vec::<String>::new());
    server.drain_variant_jobs().await;
    let after = get_asset(&server, id).await;
    let widths: Vec<u64> = after["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["width"].as_u64().unwrap())
        .collect();
    assert_eq!(widths, [500, 800], "{after}");
    assert!(
        after["variants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["height"] == v["width"])
    );
    // Only the new file and its variants are stored.
    let mut expected: Vec<String> = after["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let url = v["hostedUrl"].as_str().unwrap();
            url[url.find(&server.site_id.to_string()).unwrap()..].to_owned()
        })
        .collect();
    expected.push(answer["uploadDetails"]["key"].as_str().unwrap().to_owned());
    expected.sort();
    wait_for_keys(&server, &expected).await;
    for url in &old_variants {
        let status = server.client.get(url).send().await.unwrap().status();
        // Redirected to the new file where assetd serves it, gone where S3 does.
        assert!(
            status == 200 && hosted_by_assetd(&server, url) || status == 404 || status == 403,
            "{url}: {status}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn bytes_that_do_not_verify_leave_the_old_file_in_place() {
    let server = TestServer::start().await;
    let created = upload(&server, "a.txt", b"original").await;
    let id = created["id"].as_str().unwrap();
    let before = get_asset(&server, id).await;
    let answer: Value = replace(&server, id, "b.txt", b"promised")
        .await
        .json()
        .await
        .unwrap();
    let posted = post_file(&server, &answer, b"something else").await;
    if server.embedded() {
        assert_eq!(s3_error_code(posted).await, (400, "BadDigest".to_owned()));
    } else {
        // The S3 service stores it; the confirmer finds the ETag wrong and drops it.
        assert_eq!(posted.status(), 201);
        let deadline = Instant::now() + Duration::from_secs(5);
        let replacement = answer["uploadDetails"]["key"].as_str().unwrap();
        while stored_keys(&server).await.iter().any(|k| k == replacement) {
            assert!(
                Instant::now() < deadline,
                "the unverified object is still there"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let after = get_asset(&server, id).await;
    assert_eq!(after, before);
    wait_for_keys(
        &server,
        &[created["uploadDetails"]["key"].as_str().unwrap().to_owned()],
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_newer_replace_takes_the_place_of_one_still_waiting() {
    let server = TestServer::start().await;
    let created = upload(&server, "a.txt", b"version one").await;
    let id = created["id"].as_str().unwrap();
    let first: Value = replace(&server, id, "b.txt", b"version two")
        .await
        .json()
        .await
        .unwrap();
    let second: Value = replace(&server, id, "c.txt", b"version three")
        .await
        .json()
        .await
        .unwrap();
    let late = post_file(&server, &first, b"version two").await;
    if server.embedded() {
        assert_eq!(s3_error_code(late).await, (403, "AccessDenied".to_owned()));
    }
    assert_eq!(
        post_file(&server, &second, b"version three").await.status(),
        201
    );
    let after = wait_for_file(&server, id, second["hostedUrl"].as_str().unwrap()).await;
    assert_eq!(after["size"], b"version three".len());
    // The first one's object, if an S3 service took it, goes with the sweep.
    sweep_once(
        &server.state.sweep_work(),
        chrono::Utc::now() + chrono::Duration::days(1),
    )
    .await
    .unwrap();
    wait_for_keys(
        &server,
        &[second["uploadDetails"]["key"].as_str().unwrap().to_owned()],
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_replace_racing_a_delete_leaves_no_object_and_no_row() {
    let server = TestServer::start().await;
    for round in 0..6 {
        let name = format!("r{round}.txt");
        let created = upload(&server, &name, b"old bytes").await;
        let id = created["id"].as_str().unwrap().to_owned();
        let new_bytes = format!("new bytes {round}").into_bytes();
        let answer: Value = replace(&server, &id, &format!("n{round}.txt"), &new_bytes)
            .await
            .json()
            .await
            .unwrap();
        // The upload and the delete at once; either may win.
        let delete = server
            .api(Method::DELETE, &format!("/v2/assets/{id}"))
            .send();
        let (posted, deleted) = tokio::join!(post_file(&server, &answer, &new_bytes), delete);
        assert_eq!(deleted.unwrap().status(), 204);
        let status = posted.status().as_u16();
        assert!([201, 403].contains(&status), "round {round}: {status}");
    }
    // The confirmer or the sweep removes whatever an S3 service took after the delete.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        sweep_once(
            &server.state.sweep_work(),
            chrono::Utc::now() + chrono::Duration::days(1),
        )
        .await
        .unwrap();
        let keys = stored_keys(&server).await;
        if keys.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: {keys:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.asset_count().await, 0);
    assert!(
        server
            .meta
            .open_replacements(chrono::Utc::now(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        server
            .meta
            .queued_blob_deletions(10)
            .await
            .unwrap()
            .is_empty()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_replacement_whose_bytes_never_arrive_is_dropped_by_the_sweep() {
    let server = TestServer::start().await;
    let created = upload(&server, "a.txt", b"kept").await;
    let id = created["id"].as_str().unwrap();
    let before = get_asset(&server, id).await;
    let answer: Value = replace(&server, id, "b.txt", b"never sent")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        server
            .meta
            .open_replacements(chrono::Utc::now(), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let report = sweep_once(
        &server.state.sweep_work(),
        chrono::Utc::now() + chrono::Duration::days(1),
    )
    .await
    .unwrap();
    assert_eq!(report.expired_replacements, 1);
    assert!(
        server
            .meta
            .expired_replacements(chrono::Utc::now() + chrono::Duration::days(2), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(get_asset(&server, id).await, before);
    if server.embedded() {
        // Its policy is still valid, but nothing waits for it any more.
        let late = post_file(&server, &answer, b"never sent").await;
        assert_eq!(s3_error_code(late).await, (403, "AccessDenied".to_owned()));
    }
    server.stop().await;
}

#[tokio::test]
async fn refusals_have_webflows_error_shape() {
    let server = TestServer::start().await;
    let created = upload(&server, "a.txt", b"bytes").await;
    let id = created["id"].as_str().unwrap();

    let (status, code, _) =
        error_code(replace(&server, &"0".repeat(24), "b.txt", b"x").await).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (404, "resource_not_found")
    );
    let (status, code, _) = error_code(replace(&server, "nope", "b.txt", b"x").await).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "validation_error"));

    // Another site's asset is not found; a read-only token may not replace.
    let (other_site, other_token) = server.other_site().await;
    let theirs = crate::util::upload_as(
        &server,
        (&other_site.to_string(), &other_token),
        "theirs.txt",
        b"theirs",
        None,
    )
    .await;
    let (status, _, _) =
        error_code(replace(&server, theirs["id"].as_str().unwrap(), "b.txt", b"x").await).await;
    assert_eq!(status, 404);
    let reader = server.token_with("assets:read").await;
    let refused = server
        .client
        .post(server.url(&format!("/v2/assets/{id}/replace")))
        .bearer_auth(&reader)
        .json(&json!({"fileName": "b.txt", "fileHash": md5_hex(b"x")}))
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_code(refused).await;
    assert_eq!((status.as_u16(), code.as_str()), (403, "missing_scopes"));

    // Bodies: Upload Asset's rules, and no folder or id.
    for (body, param) in [
        (json!({"fileName": "b.txt"}), "fileHash"),
        (
            json!({"fileName": "b.exe", "fileHash": md5_hex(b"x")}),
            "fileName",
        ),
        (
            json!({"fileName": "b.txt", "fileHash": md5_hex(b"x"), "parentFolder": server.folder("F", None).await}),
            "parentFolder",
        ),
        (
            json!({"fileName": "b.txt", "fileHash": md5_hex(b"x"), "id": "0".repeat(24)}),
            "id",
        ),
    ] {
        let response = server
            .api(Method::POST, &format!("/v2/assets/{id}/replace"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, code, body) = error_code(response).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (400, "validation_error"),
            "{body}"
        );
        assert_eq!(body["details"][0]["param"], param, "{body}");
    }

    // An asset whose own file has not arrived has nothing to replace.
    let pending = crate::util::create_asset(&server, "p.txt", b"pending").await;
    let (status, code, _) =
        error_code(replace(&server, pending["id"].as_str().unwrap(), "b.txt", b"x").await).await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "conflict"));

    // The asset is untouched by all of it.
    assert_eq!(
        get_asset(&server, id).await["hostedUrl"],
        created["hostedUrl"]
    );
    server.stop().await;
}
