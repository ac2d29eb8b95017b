mod create;
mod delete;
mod get;
mod list;
mod replace;
mod update;
mod variants;
mod webp_variants;

// Helpers the asset tests share.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat};
use reqwest::Method;
use serde_json::Value;

use crate::util::TestServer;

/// `image` encoded as `format`.
fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// Get Asset, which must answer 200.
async fn get_asset(server: &TestServer, id: &str) -> Value {
    let response = server
        .api(Method::GET, &format!("/v2/assets/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Every asset of the site is listed with the variants Get Asset gives it.
async fn assert_lists_carry_the_variants_of_get(server: &TestServer) {
    let listed: Value = server
        .api(Method::GET, &format!("/v2/sites/{}/assets", server.site_id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for asset in listed["assets"].as_array().unwrap() {
        let id = asset["id"].as_str().unwrap();
        assert_eq!(asset["variants"], get_asset(server, id).await["variants"]);
    }
}
