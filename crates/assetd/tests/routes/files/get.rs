//! `GET`/`HEAD` of `hostedUrl` (`/files/…`) and `assetUrl` (`/s3/{bucket}/{key}`).

use crate::util::{TestServer, create_asset, error_code, md5_hex, s3_error_code};

async fn uploaded(
    server: &TestServer,
    name: &str,
    bytes: &[u8],
    _content_type: &str,
) -> serde_json::Value {
    crate::util::upload(server, name, bytes).await
}

#[tokio::test]
async fn not_served_until_the_upload_completes() {
    let server = TestServer::start().await;
    let created = create_asset(&server, "later.png", b"bytes").await;
    let hosted = server
        .client
        .get(created["hostedUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_code(hosted).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (404, "resource_not_found")
    );
    let asset = server
        .client
        .get(created["assetUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(s3_error_code(asset).await, (404, "NoSuchKey".to_owned()));
    let bogus = server
        .client
        .get(server.url("/files/x/y"))
        .send()
        .await
        .unwrap();
    assert_eq!(bogus.status(), 404);
    let traversal = server
        .client
        .get(server.url("/s3/assetd/..%2F..%2Fassetd.sqlite3"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        s3_error_code(traversal).await,
        (404, "NoSuchKey".to_owned())
    );
    server.stop().await;
}

#[tokio::test]
async fn serves_headers_ranges_and_conditional_gets() {
    let server = TestServer::start().await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let created = uploaded(&server, "doc.pdf", &bytes, "application/pdf").await;
    let url = created["hostedUrl"].as_str().unwrap();
    let etag = format!("\"{}\"", md5_hex(&bytes));

    let full = server.client.get(url).send().await.unwrap();
    assert_eq!(full.status(), 200);
    let h = full.headers().clone();
    assert_eq!(h["content-type"], "application/pdf");
    assert_eq!(h["content-length"], "1000");
    assert_eq!(h["etag"], etag.as_str());
    assert_eq!(
        h["cache-control"],
        created["uploadDetails"]["Cache-Control"].as_str().unwrap()
    );
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    let last_modified = h["last-modified"].to_str().unwrap().to_owned();
    assert!(httpdate::parse_http_date(&last_modified).is_ok());
    assert_eq!(full.bytes().await.unwrap(), bytes);

    let head = server.client.head(url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "1000");
    assert_eq!(head.headers()["etag"], etag.as_str());
    assert!(head.bytes().await.unwrap().is_empty());

    let part = server
        .client
        .get(url)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 10-19/1000");
    assert_eq!(part.headers()["content-length"], "10");
    assert_eq!(part.bytes().await.unwrap(), &bytes[10..20]);

    let suffix = server
        .client
        .get(url)
        .header("range", "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(suffix.status(), 206);
    assert_eq!(suffix.bytes().await.unwrap(), &bytes[995..]);

    let beyond = server
        .client
        .get(url)
        .header("range", "bytes=1000-")
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), 416);
    assert_eq!(beyond.headers()["content-range"], "bytes */1000");

    let cached = server
        .client
        .get(url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    assert_eq!(cached.headers()["etag"], etag.as_str());
    assert!(cached.bytes().await.unwrap().is_empty());
    let changed = server
        .client
        .get(url)
        .header("if-none-match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let since = server
        .client
        .get(url)
        .header("if-modified-since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(since.status(), 304);
    let old = server
        .client
        .get(url)
        .header("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 200);

    let via_s3 = server
        .client
        .get(created["assetUrl"].as_str().unwrap())
        .header("range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(via_s3.status(), 206);
    assert_eq!(via_s3.bytes().await.unwrap(), &bytes[..4]);
    server.stop().await;
}

#[tokio::test]
async fn names_with_spaces_and_unicode_are_served_at_their_encoded_urls() {
    let server = TestServer::start().await;
    let created = uploaded(&server, "my file #1 été.png", b"png bytes", "image/png").await;
    let hosted = created["hostedUrl"].as_str().unwrap();
    assert!(
        hosted.ends_with("_my%20file%20%231%20%C3%A9t%C3%A9.png"),
        "{hosted}"
    );
    for url in [hosted, created["assetUrl"].as_str().unwrap()] {
        let got = server.client.get(url).send().await.unwrap();
        assert_eq!(got.status(), 200, "{url}");
        assert_eq!(got.bytes().await.unwrap(), &b"png bytes"[..]);
    }
    server.stop().await;
}

#[tokio::test]
async fn cached_objects_serve_the_same_bytes_and_ranges_and_a_delete_forgets_them() {
    let server = TestServer::start().await;
    // One object small enough to be cached with its bytes, one served from the store each time.
    let small: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let large: Vec<u8> = (0..=250u8).cycle().take(100 * 1024).collect();
    let mut urls = Vec::new();
    for (name, bytes) in [("small.pdf", &small), ("large.pdf", &large)] {
        let created = uploaded(&server, name, bytes, "application/pdf").await;
        let id = created["id"].as_str().unwrap().to_owned();
        for url in [&created["hostedUrl"], &created["assetUrl"]] {
            let url = url.as_str().unwrap().to_owned();
            // The first GET fills the cache, the next ones are served from it.
            for _ in 0..3 {
                let whole = server.client.get(&url).send().await.unwrap();
                assert_eq!(whole.status(), 200);
                assert_eq!(
                    whole.headers()["etag"],
                    format!("\"{}\"", md5_hex(bytes)).as_str()
                );
                assert_eq!(whole.bytes().await.unwrap(), &bytes[..]);
                let part = server
                    .client
                    .get(&url)
                    .header("range", "bytes=10-19")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(part.status(), 206);
                assert_eq!(
                    part.headers()["content-range"],
                    format!("bytes 10-19/{}", bytes.len()).as_str()
                );
                assert_eq!(part.bytes().await.unwrap(), &bytes[10..20]);
            }
            urls.push(url);
        }
        let deleted = server
            .api(reqwest::Method::DELETE, &format!("/v2/assets/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
    }
    for url in &urls {
        let gone = server.client.get(url).send().await.unwrap();
        assert_eq!(gone.status(), 404, "{url} is still served after its delete");
    }
    server.stop().await;
}

/// Sends raw HTTP/1.1 requests on one connection and splits the answers by Content-Length.
async fn pipelined(server: &TestServer, requests: &str) -> Vec<(String, Vec<u8>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    socket.write_all(requests.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    socket.read_to_end(&mut raw).await.unwrap();
    let mut answers = Vec::new();
    let mut rest = &raw[..];
    while !rest.is_empty() {
        let end = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8(rest[..end].to_vec()).unwrap();
        let length: usize = head
            .lines()
            .find_map(|line| {
                line.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(str::to_owned)
            })
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        answers.push((head, rest[end..end + length].to_vec()));
        rest = &rest[end + length..];
    }
    answers
}

#[tokio::test]
async fn large_files_are_sent_with_sendfile_on_http1_and_streamed_on_http2() {
    let server = TestServer::start().await;
    // Over the 64 KiB cached with their bytes, over one 1 MiB placeholder chunk, and no zeros
    // anywhere, so a placeholder sent as content could not go unnoticed.
    let bytes: Vec<u8> = (0..3 * 1024 * 1024 + 12_345u32)
        .map(|i| (i % 251) as u8 + 1)
        .collect();
    let created = uploaded(&server, "big.pdf", &bytes, "application/pdf").await;
    let hosted = created["hostedUrl"].as_str().unwrap().to_owned();
    let asset = created["assetUrl"].as_str().unwrap().to_owned();
    let sent = || server.state.metrics.sendfile_bytes.get();
    // Only files in the embedded store are local; an S3 service's are streamed.
    let expect = |n: usize| if server.embedded() { n as u64 } else { 0 };

    for url in [&hosted, &asset] {
        let before = sent();
        let whole = server.client.get(url).send().await.unwrap();
        assert_eq!(whole.status(), 200);
        assert_eq!(whole.version(), reqwest::Version::HTTP_11);
        assert_eq!(whole.bytes().await.unwrap(), &bytes[..]);
        assert_eq!(sent() - before, expect(bytes.len()));

        let before = sent();
        let part = server
            .client
            .get(url)
            .header("range", "bytes=1000000-2500000")
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), 206);
        assert_eq!(part.bytes().await.unwrap(), &bytes[1_000_000..=2_500_000]);
        assert_eq!(sent() - before, expect(1_500_001));
    }

    let before = sent();
    let head = server.client.head(&hosted).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert!(head.bytes().await.unwrap().is_empty());
    assert_eq!(sent(), before, "a HEAD sends no file");

    // Two pipelined GETs and a small object between them: each answer carries its own bytes.
    let small = uploaded(&server, "small.pdf", b"small bytes", "application/pdf").await;
    let path_of = |url: &str| url.strip_prefix(&server.base).unwrap().to_owned();
    let host = server.addr;
    let requests = format!(
        "GET {big} HTTP/1.1\r\nhost: {host}\r\nrange: bytes=100-199999\r\n\r\n\
         GET {small} HTTP/1.1\r\nhost: {host}\r\n\r\n\
         GET {big} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n",
        big = path_of(&hosted),
        small = path_of(small["hostedUrl"].as_str().unwrap()),
    );
    let answers = pipelined(&server, &requests).await;
    assert_eq!(answers.len(), 3);
    assert!(answers[0].0.starts_with("HTTP/1.1 206"), "{}", answers[0].0);
    assert_eq!(answers[0].1, &bytes[100..200_000]);
    assert!(answers[1].0.starts_with("HTTP/1.1 200"), "{}", answers[1].0);
    assert_eq!(answers[1].1, b"small bytes");
    assert!(answers[2].0.starts_with("HTTP/1.1 200"), "{}", answers[2].0);
    assert_eq!(answers[2].1, &bytes[..]);

    // HTTP/2 frames data itself: the same bytes, streamed, never a placeholder.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let before = sent();
    let whole = h2.get(&hosted).send().await.unwrap();
    assert_eq!(whole.version(), reqwest::Version::HTTP_2);
    assert_eq!(whole.bytes().await.unwrap(), &bytes[..]);
    assert_eq!(sent(), before, "HTTP/2 does not use sendfile");
    server.stop().await;
}

/// Plain `hostedUrl` GETs skip the router (`http/dispatch.rs`); a path with a percent-encoded
/// byte is routed. `%5F` decodes to the `_` of the storage key, so both name the same object,
/// and every answer must be the same but for its `Date`, and be counted under the same route.
#[tokio::test]
async fn the_straight_way_answers_exactly_as_the_router() {
    let server = TestServer::start().await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let created = uploaded(&server, "same.pdf", &bytes, "application/pdf").await;
    let plain = created["hostedUrl"].as_str().unwrap().to_owned();
    let routed = plain.replacen("_same.pdf", "%5Fsame.pdf", 1);
    assert_ne!(plain, routed);
    let missing = server.url(&format!("/files/{}/0123_missing.pdf", server.site_id));
    let missing_routed = missing.replacen("_missing", "%5Fmissing", 1);
    let etag = format!("\"{}\"", md5_hex(&bytes));

    let cases: [(&str, &[(&str, &str)]); 6] = [
        ("whole", &[]),
        ("range", &[("range", "bytes=10-19")]),
        ("unsatisfiable range", &[("range", "bytes=5000-")]),
        ("not modified", &[("if-none-match", &etag)]),
        ("modified", &[("if-none-match", "\"other\"")]),
        ("cross-origin", &[("origin", "https://site.example")]),
    ];
    let mut statuses = Vec::new();
    for (what, headers) in cases {
        for (straight, via_router) in [(&plain, &routed), (&missing, &missing_routed)] {
            let a = answer(&server, straight, headers).await;
            let b = answer(&server, via_router, headers).await;
            assert_eq!(
                a, b,
                "{what}: {straight} and {via_router} answer differently"
            );
            statuses.push(a.0);
        }
    }
    assert_eq!(
        statuses,
        [200, 404, 206, 404, 416, 404, 304, 404, 200, 404, 200, 404]
    );

    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (status, times) in [("200", 6), ("206", 2), ("304", 2), ("404", 12), ("416", 2)] {
        let series = format!(
            r#"assetd_http_requests_total{{method="GET",route="/files/{{site}}/{{file}}",status="{status}"}} {times}"#
        );
        assert!(
            text.lines().any(|line| line == series),
            "{series} in\n{text}"
        );
    }
    server.stop().await;
}

/// The status, the headers but `Date` (sorted by name, then value) and the body of a GET.
async fn answer(
    server: &TestServer,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut request = server.client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date")
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    (status, headers, response.bytes().await.unwrap().to_vec())
}
