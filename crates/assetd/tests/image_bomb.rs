//! A decompression bomb: a 20000×20000 PNG of a few hundred KB, refused from its header with a
//! recorded error and without the memory decoding it would take. Its own test binary, so the
//! process's peak RSS measures this test alone.
#![allow(clippy::unwrap_used)]

#[path = "util/mod.rs"]
mod util;

use std::io::Write;

use reqwest::Method;
use serde_json::Value;

use util::{TestServer, upload};

/// A PNG declaring `side`×`side` 8-bit grey pixels, all zero: a few hundred KB that would
/// decode to `side²` bytes (a decompression bomb).
fn png_bomb(side: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&side.to_be_bytes());
    header.extend_from_slice(&side.to_be_bytes());
    header.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit greyscale, no interlace
    chunk(&mut png, b"IHDR", &header);
    let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let row = vec![0u8; side as usize + 1]; // filter byte + pixels
    for _ in 0..side {
        deflate.write_all(&row).unwrap();
    }
    chunk(&mut png, b"IDAT", &deflate.finish().unwrap());
    chunk(&mut png, b"IEND", &[]);
    png
}

/// Peak resident memory of this process since the last reset, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn current_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_20000_by_20000_png_bomb_is_refused_without_decoding_it() {
    let server = TestServer::start().await;
    let bomb = png_bomb(20_000);
    assert!(
        bomb.len() < 4 * 1024 * 1024,
        "the bomb fits the image size limit: {}",
        bomb.len()
    );
    let created = upload(&server, "bomb.png", &bomb).await;
    // Reset the high-water mark (writing 5 to clear_refs), then make the variants.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = current_rss_kib();
    server.drain_variant_jobs().await;
    let growth_mib = peak_rss_kib().saturating_sub(before) / 1024;
    // Decoding would take 400 MB (1.6 GB as RGBA).
    assert!(growth_mib < 64, "peak RSS grew {growth_mib} MiB");

    let asset: Value = server
        .api(
            Method::GET,
            &format!("/v2/assets/{}", created["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let variants = asset["variants"].as_array().unwrap();
    let widths: Vec<u64> = variants
        .iter()
        .map(|v| v["width"].as_u64().unwrap())
        .collect();
    assert_eq!(widths, vec![500, 800, 1080, 1600, 2000, 2600, 3200]);
    // The original is still served as uploaded.
    let original = server
        .client
        .get(asset["hostedUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(original.bytes().await.unwrap().len(), bomb.len());
    for variant in variants {
        assert_eq!(
            variant["error"],
            "the image has 400000000 pixels, more than the limit of 40000000",
        );
    }
    server.stop().await;
}
