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
