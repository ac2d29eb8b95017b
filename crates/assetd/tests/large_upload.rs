//! A 256 MiB upload through the real binary: the server's memory stays bounded (its peak RSS
//! grows by less than 64 MiB) and the bytes served back are the bytes sent. Memory is measured
//! from /proc, not inferred from timing; the throughput is printed for the record only.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use futures_util::StreamExt;
use md5::{Digest, Md5};

const SIZE: usize = 256 * 1024 * 1024;
const CHUNK: usize = 1024 * 1024;

/// Deterministic, incompressible-looking bytes: chunk `i` of the file.
fn chunk(i: usize) -> Vec<u8> {
    let mut state = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..CHUNK / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect()
}

fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_upload_streams_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let bin =
        std::env::var("ASSETD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_assetd").to_owned());
    let mut child = Command::new(bin)
        .env_clear()
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--document-max-bytes",
            &(SIZE + 1).to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let site = lines
        .next()
        .unwrap()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    let token = lines
        .next()
        .unwrap()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    let listening = lines.next().unwrap().unwrap();
    let base = listening.split(' ').nth(3).unwrap().to_owned();

    let mut md5 = Md5::new();
    for i in 0..SIZE / CHUNK {
        md5.update(chunk(i));
    }
    let file_hash = hex::encode(md5.finalize());

    let client = reqwest::Client::new();
    let created: serde_json::Value = client
        .post(format!("{base}/v2/sites/{site}/assets"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"fileName": "big.pdf", "fileHash": file_hash}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let boundary = "assetd-large-upload-boundary";
    let mut head = Vec::new();
    for (name, value) in created["uploadDetails"].as_object().unwrap() {
        let value = value.as_str().unwrap();
        head.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    head.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").as_bytes());
    let tail = format!("\r\n--{boundary}--\r\n").into_bytes();
    let parts = std::iter::once(head)
        .chain((0..SIZE / CHUNK).map(chunk))
        .chain(std::iter::once(tail));
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(
        parts.map(Ok::<_, std::io::Error>),
    ));

    let rss_before = proc_kib(pid, "VmRSS:");
    let started = Instant::now();
    let response = client
        .post(created["uploadUrl"].as_str().unwrap())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    let peak = proc_kib(pid, "VmHWM:");
    let growth_mib = peak.saturating_sub(rss_before) as f64 / 1024.0;
    eprintln!(
        "256 MiB upload: {:.1} MiB/s, server RSS before {:.1} MiB, peak {:.1} MiB, growth {growth_mib:.1} MiB",
        SIZE as f64 / 1024.0 / 1024.0 / elapsed.as_secs_f64(),
        rss_before as f64 / 1024.0,
        peak as f64 / 1024.0,
    );
    assert!(growth_mib < 64.0, "peak RSS grew by {growth_mib:.1} MiB");

    // The bytes served back are the bytes sent.
    let served = client
        .get(created["hostedUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.content_length(), Some(SIZE as u64));
    let mut md5 = Md5::new();
    let mut stream = served.bytes_stream();
    while let Some(bytes) = stream.next().await {
        md5.update(bytes.unwrap());
    }
    assert_eq!(hex::encode(md5.finalize()), file_hash);

    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}
