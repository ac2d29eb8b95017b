//! An unauthenticated client cannot grow the server's memory with a form: the real binary's
//! peak RSS, read from `/proc`, while four 50 MB forms of a million empty parts each are
//! refused at once (each part was once kept, whatever its size: ~93 MB of RSS for one form).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Peak RSS growth allowed for refused forms (the issue's bound).
const BOUND: u64 = 16 << 20;

fn serve(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_assetd"))
        .env_clear()
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        // A 50 MB form is otherwise refused from its Content-Length alone (larger than any
        // policy allows); here it must reach the form reader, as a chunked body would.
        .args(["--document-max-bytes", "104857600"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("assetd: listening on http://") {
            return (child, rest.split(' ').next().unwrap().to_owned());
        }
    }
    let status = child.wait().unwrap();
    panic!("assetd exited ({status}) before listening");
}

/// A `/proc/PID/status` field in bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

/// Posts `body` as a multipart form with boundary `B` and returns the answer's text; the
/// client keeps sending while the server may already have answered.
async fn post_form(addr: &str, body: Arc<Vec<u8>>) -> String {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST /s3/assetd HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let sender = tokio::spawn(async move {
        // Fails once the server has answered and closed: that is the point.
        if write.write_all(head.as_bytes()).await.is_ok() {
            let _ = write.write_all(&body).await;
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(60), async {
        while !answer.windows(8).any(|w| w == b"</Error>") {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    sender.abort();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn issue_27_a_million_empty_form_parts_are_refused_without_growing_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = serve(dir.path());
    let pid = child.id();
    let part = b"--B\r\nContent-Disposition: form-data; name=\"\"\r\n\r\n\r\n";
    let mut body = Vec::with_capacity(part.len() * 1_000_000 + 8);
    for _ in 0..1_000_000 {
        body.extend_from_slice(part);
    }
    body.extend_from_slice(b"--B--\r\n");
    let body = Arc::new(body);
    // One first, so that the runtime's threads and buffers exist before the baseline.
    let warm = post_form(&addr, Arc::clone(&body)).await;
    assert!(warm.contains("MaxPostPreDataLengthExceeded"), "{warm}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let baseline = status_bytes(pid, "VmRSS:");
    // Resets the peak (VmHWM) to the current RSS; without it the peak since start is used.
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let answers =
        futures_util::future::join_all((0..4).map(|_| post_form(&addr, Arc::clone(&body)))).await;
    for answer in &answers {
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(
            answer.contains("<Code>MaxPostPreDataLengthExceeded</Code>"),
            "{answer}"
        );
    }
    let peak = status_bytes(pid, "VmHWM:");
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "4 x 1,000,000 empty parts: baseline RSS {} KiB, peak {} KiB, growth {} KiB (bound {} KiB)",
        baseline / 1024,
        peak / 1024,
        growth / 1024,
        BOUND / 1024
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(growth < BOUND, "peak RSS grew by {growth} bytes");
}
