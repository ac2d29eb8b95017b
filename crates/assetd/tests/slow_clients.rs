//! Slow clients cannot starve others: connections that dribble their headers are cut off after
//! the header timeout, and meanwhile a normal client is served at once. Every other connection
//! state has its bound too: a socket that sends nothing or half the HTTP/2 preface, an idle
//! HTTP/2 connection, a stalled JSON body, a response the client stops reading; and a full
//! connection table does not lock out a new client.
#![allow(clippy::unwrap_used)]

#[path = "util/mod.rs"]
mod util;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use util::TestServer;

/// The head of an HTTP/1 Upload Asset request with `token` and a `length`-byte JSON body
/// (`extra` are more header lines, each ending in CRLF).
fn create_head(server: &TestServer, token: &str, length: usize, extra: &str) -> String {
    format!(
        "POST /v2/sites/{}/assets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n{extra}\r\n",
        server.site_id
    )
}

/// The header line that asks for `100 Continue`.
const CONTINUE: &str = "Expect: 100-continue\r\n";

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

/// Reads until the server closes `stream` (EOF or reset); returns how long that took, or `None`
/// if it was still open after `limit`. Whatever the server sent is discarded.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    tokio::time::timeout(limit, async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
    .map(|()| started.elapsed())
}

#[tokio::test]
async fn issue_27_silent_sockets_are_cut_and_a_full_table_does_not_lock_out_clients() {
    let server = TestServer::start_with(|s| {
        s.header_read_timeout = Duration::from_secs(2);
        s.max_connections = 100;
    })
    .await;
    // The whole table: half send nothing at all, half stop inside the HTTP/2 preface (the
    // protocol detection waits for its 24 bytes).
    let mut silent = Vec::new();
    for i in 0..100 {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        if i % 2 == 1 {
            stream.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
        }
        silent.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A client with work to do gets in at once: it takes an idle connection's place.
    for _ in 0..3 {
        let client = reqwest::Client::new();
        let ok = tokio::time::timeout(
            Duration::from_secs(1),
            client.get(server.url("/healthz")).send(),
        )
        .await
        .expect("a new client waited behind silent sockets")
        .expect("a new client was refused while the table held only silent sockets");
        assert_eq!(ok.status(), 200);
    }
    // Every silent socket is closed: evicted, or cut at the 2 s bound.
    let mut slowest = Duration::ZERO;
    for stream in &mut silent {
        let took = closed_within(stream, Duration::from_secs(6))
            .await
            .expect("a silent socket was kept open past the header timeout");
        slowest = slowest.max(took);
    }
    eprintln!("slowest silent socket closed after {slowest:?} (bound 2 s)");
    // Afterwards, a silent socket alone in the table is cut at the bound, not evicted.
    let mut alone = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let took = closed_within(&mut alone, Duration::from_secs(6))
        .await
        .expect("a silent socket was kept open");
    assert!(took >= Duration::from_millis(1900), "cut early: {took:?}");
    eprintln!("a lone silent socket was cut after {took:?} (bound 2 s)");
    server.stop().await;
}

#[tokio::test]
async fn issue_27_a_full_table_of_busy_connections_refuses_a_new_one() {
    let server = TestServer::start_with(|s| {
        s.max_connections = 2;
        s.body_idle_timeout = Duration::from_secs(5);
    })
    .await;
    // Two requests in flight: each has sent half its JSON body.
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let head = create_head(&server, &server.token, 100, "") + "{\"fileName\"";
        stream.write_all(head.as_bytes()).await.unwrap();
        busy.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = reqwest::Client::new()
        .get(server.url("/healthz"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a third connection was served: {refused:?}"
    );
    drop(busy);
    server.stop().await;
}

#[tokio::test]
async fn issue_27_a_stalled_json_body_is_answered_408() {
    let server = TestServer::start_with(|s| s.body_idle_timeout = Duration::from_secs(1)).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = create_head(&server, &server.token, 100, "") + "{\"fileName\": ";
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("a stalled JSON body held its connection")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"bad_request\""), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(server.asset_count().await, 0);
    server.stop().await;
}

async fn http2_connection(
    server: &TestServer,
) -> (
    hyper::client::conn::http2::SendRequest<String>,
    tokio::task::JoinHandle<()>,
) {
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (send, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let driven = tokio::spawn(async move {
        let _ = connection.await;
    });
    (send, driven)
}

#[tokio::test]
async fn issue_27_an_idle_http2_connection_is_closed_after_the_idle_timeout() {
    let server = TestServer::start_with(|s| {
        s.header_read_timeout = Duration::from_secs(1);
        s.idle_timeout = Duration::from_secs(2);
    })
    .await;
    let (mut send, driven) = http2_connection(&server).await;
    let request = hyper::Request::get(server.url("/healthz"))
        .body(String::new())
        .unwrap();
    assert_eq!(send.send_request(request).await.unwrap().status(), 200);
    let idle_from = Instant::now();
    tokio::time::timeout(Duration::from_secs(6), driven)
        .await
        .expect("an idle HTTP/2 connection was kept open")
        .unwrap();
    let took = idle_from.elapsed();
    // Not at the header timeout: after the idle timeout.
    assert!(
        took >= Duration::from_millis(1900),
        "closed early: {took:?}"
    );
    eprintln!("idle HTTP/2 connection closed after {took:?} (bound 2 s)");
    server.stop().await;
}

#[tokio::test]
async fn issue_27_an_http2_connection_without_a_request_is_cut_at_the_header_timeout() {
    let server = TestServer::start_with(|s| s.header_read_timeout = Duration::from_secs(1)).await;
    let started = Instant::now();
    let (_send, driven) = http2_connection(&server).await;
    tokio::time::timeout(Duration::from_secs(5), driven)
        .await
        .expect("an HTTP/2 connection that sent no request was kept open")
        .unwrap();
    eprintln!(
        "HTTP/2 connection without a request cut after {:?} (bound 1 s)",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn issue_27_a_response_the_client_stops_reading_is_cut() {
    let server = TestServer::start_with(|s| s.body_idle_timeout = Duration::from_secs(1)).await;
    let size = 8 << 20;
    let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let created = util::upload(&server, "big.pdf", &bytes).await;
    let hosted = reqwest::Url::parse(created["hostedUrl"].as_str().unwrap()).unwrap();
    // A small receive window, and then nothing read: the server's writes are refused.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    let head = format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", hosted.path());
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut received = 0usize;
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received += n,
            }
        }
    })
    .await;
    assert!(
        drained.is_ok(),
        "the stalled response's connection was kept open"
    );
    assert!(
        received < size,
        "the whole response arrived ({received} bytes): nothing was stalled"
    );
    server.stop().await;
}

/// Sends `request` on a fresh connection and reads the answer's head.
async fn answer_head(server: &TestServer, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(5), async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before an answer");
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap();
    String::from_utf8_lossy(&answer).to_ascii_lowercase()
}

#[tokio::test]
async fn issue_27_an_answer_sent_before_the_body_was_read_says_connection_close() {
    let server = TestServer::start().await;
    // A bad token: answered 401 before the (unsent) 10 KB body is read.
    let early = answer_head(
        &server,
        (create_head(&server, "nope", 10_000, "") + "{").as_bytes(),
    )
    .await;
    assert!(early.starts_with("http/1.1 401"), "{early}");
    assert!(early.contains("connection: close"), "{early}");
    // The same request with its whole body read: the connection stays open for the next.
    let body = "{}";
    let read = answer_head(
        &server,
        (create_head(&server, &server.token, body.len(), "") + body).as_bytes(),
    )
    .await;
    assert!(read.starts_with("http/1.1 400"), "{read}");
    assert!(!read.contains("connection: close"), "{read}");
    server.stop().await;
}

#[tokio::test]
async fn issue_27_an_oversized_body_is_refused_before_100_continue() {
    let server = TestServer::start().await;
    // A JSON body over the 16 KiB limit: 413 at once, no invitation to send it.
    let json = answer_head(
        &server,
        create_head(&server, &server.token, 20_000, CONTINUE).as_bytes(),
    )
    .await;
    assert!(json.starts_with("http/1.1 413"), "{json}");
    // A bad token: 401 before anything else.
    let unauthorized = answer_head(
        &server,
        create_head(&server, "nope", 20, CONTINUE).as_bytes(),
    )
    .await;
    assert!(unauthorized.starts_with("http/1.1 401"), "{unauthorized}");
    if server.embedded() {
        // An upload form larger than any policy allows.
        let form = answer_head(
            &server,
            b"POST /s3/assetd HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 1000000000\r\nExpect: 100-continue\r\n\r\n",
        )
        .await;
        assert!(form.starts_with("http/1.1 400"), "{form}");
    }
    // Within the limits, the client is invited to send its body.
    let invited = answer_head(
        &server,
        create_head(&server, &server.token, 2, CONTINUE).as_bytes(),
    )
    .await;
    assert!(invited.starts_with("http/1.1 100"), "{invited}");
    server.stop().await;
}

#[tokio::test]
async fn issue_27_an_http2_client_that_grants_no_window_is_cut() {
    let server = TestServer::start_with(|s| s.body_idle_timeout = Duration::from_secs(1)).await;
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // A window of 0: the server may send headers, never a byte of a body.
    let (mut send, connection) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .initial_stream_window_size(0)
            .handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let driven = tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = hyper::Request::get(server.url("/healthz"))
        .body(String::new())
        .unwrap();
    let response = send.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(6), driven)
        .await
        .expect("a stream the client never opened its window for held its connection")
        .unwrap();
    eprintln!(
        "HTTP/2 connection with a zero window cut after {:?} (bound 1 s)",
        started.elapsed()
    );
    drop(response);
    server.stop().await;
}

/// Sends `head` and then `body` a byte every 200 ms (each byte well inside the idle limit);
/// returns the answer and when it came.
async fn drip(server: &TestServer, head: String, body: &[u8]) -> (String, Duration) {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut read, mut write) = stream.into_split();
    let body = body.to_vec();
    let dripping = tokio::spawn(async move {
        for byte in body {
            if write.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        // The body of the answer too, if it is there.
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(200), read.read(&mut buf)).await
        {
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("a dripping client was never answered");
    dripping.abort();
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn issue_27_a_body_dripped_a_byte_at_a_time_is_cut_off() {
    let server = TestServer::start_with(|s| s.body_idle_timeout = Duration::from_secs(1)).await;
    // A JSON body: whole within the idle limit, or 408.
    let json = br#"{"fileName": "drip.png", "fileHash": "0123456789abcdef0123456789abcdef"}"#;
    let (answer, took) = drip(
        &server,
        create_head(&server, &server.token, json.len(), ""),
        json,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    if server.embedded() {
        // The fields of an upload form: whole within the idle limit, or RequestTimeout.
        let form =
            b"--B\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nsome/key\r\n--B--\r\n";
        let (answer, took) = drip(
            &server,
            format!(
                "POST /s3/assetd HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: {}\r\n\r\n",
                form.len()
            ),
            form,
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("<Code>RequestTimeout</Code>"), "{answer}");
        assert!(took < Duration::from_secs(3), "answered after {took:?}");
    }
    assert_eq!(server.asset_count().await, 0);
    server.stop().await;
}
