//! Slow clients cannot starve others: connections that dribble their headers are cut off after
//! the header timeout, and meanwhile a normal client is served at once.
#![allow(clippy::unwrap_used)]

#[path = "util/mod.rs"]
mod util;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use util::TestServer;

#[tokio::test]
async fn slowloris_connections_time_out_and_do_not_block_others() {
    let server = TestServer::start_with(|s| s.header_read_timeout = Duration::from_secs(1)).await;
    // 200 connections, each sending an unfinished request line and then nothing more.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(stream);
    }
    // A well-behaved client is served while they hang.
    let started = Instant::now();
    let ok = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "served behind the slow clients"
    );
    // Each slow connection is closed by the server after the header timeout (bounded wait).
    for mut stream in slow {
        let mut buf = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
        assert!(
            read.is_ok(),
            "a slow connection was kept open past the header timeout"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_upload_body_is_cut_off_and_leaves_nothing() {
    let server = TestServer::start_with(|s| s.body_idle_timeout = Duration::from_secs(1)).await;
    if !server.embedded() {
        return server.skip("embedded store only").await;
    }
    let created = util::create_asset(&server, "stall.png", &[7u8; 4096]).await;
    let mut body = Vec::new();
    for (name, value) in util::details(&created) {
        body.extend_from_slice(
            format!("--B\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.png\"\r\n\r\n",
    );
    body.extend_from_slice(&[7u8; 1024]);
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /s3/assetd HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: {}\r\n\r\n",
        body.len() + 4096
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    // ... and then nothing. The server answers IncompleteBody once the body has idled a second.
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            if answer.windows(8).any(|w| w == b"</Error>") {
                break;
            }
        }
    })
    .await
    .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("<Code>IncompleteBody</Code>"), "{answer}");
    assert_eq!(server.stored().await, (vec![], 0));
    server.stop().await;
}
