//! Two hand-written pieces that only show in whole requests, served in-process over loopback
//! from one `AppState` (embedded SQLite and disk store, one site, two uploaded files):
//! - `get_10KiB`: a `hostedUrl` GET through `http::dispatch::App`, which skips the router for
//!   it, against the same request through `http::router` alone (a cached small object: the
//!   per-request cost is mostly the server's own);
//! - `get_1MiB`: a `hostedUrl` GET sent with `sendfile` (`zero_copy`) against the same GET
//!   streamed through user space (a plain `TcpStream` and no `FileRegions`, as elsewhere).
//!
//! Every server here is the same minimal HTTP/1 accept loop (hyper, `writev(true)` as in
//! `server.rs`); only the piece under test differs. The client is a blocking keep-alive
//! socket that sends one GET and reads the whole answer, so its own cost is small and equal.
//!
//! `cargo bench -p assetd --bench serving -- --warm-up-time 1 --measurement-time 3 --noplot`

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use assetd::app;
use assetd::config::{ServeArgs, Settings};
use assetd::http::dispatch::App;
use assetd::state::AppState;
use assetd::zero_copy::{FileRegions, ZeroCopyStream};
use axum::extract::ConnectInfo;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tower::ServiceExt;

/// What answers a request: the service every connection runs, or the router alone.
#[derive(Clone)]
enum Handler {
    Dispatch(App),
    Router(axum::Router),
}

impl Handler {
    async fn call(
        self,
        request: axum::extract::Request,
    ) -> Result<axum::response::Response, std::convert::Infallible> {
        match self {
            Self::Dispatch(app) => app.call(request).await,
            Self::Router(router) => router.oneshot(request).await,
        }
    }
}

/// Serves `handler` on a fresh loopback port; HTTP/1 connections send files with `sendfile`
/// when `zero_copy`. Returns the address.
async fn serve(handler: Handler, zero_copy: bool, state: &AppState) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let sent = state.metrics.sendfile_bytes.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            let regions = FileRegions::new();
            let for_requests = Arc::clone(&regions);
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                if zero_copy {
                    request.extensions_mut().insert(Arc::clone(&for_requests));
                }
                handler.clone().call(request)
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.writev(true);
            if zero_copy {
                let stream = ZeroCopyStream::new(stream, regions, sent.clone());
                tokio::spawn(builder.serve_connection(TokioIo::new(stream), service));
            } else {
                tokio::spawn(builder.serve_connection(TokioIo::new(stream), service));
            }
        }
    });
    addr
}

/// A keep-alive client connection.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            buf: vec![0; 256 * 1024],
        }
    }

    /// GETs `path`; returns the body's length (the answer must be a 200).
    fn get(&mut self, path: &str) -> usize {
        let request = format!("GET {path} HTTP/1.1\r\nhost: bench\r\n\r\n");
        self.stream.write_all(request.as_bytes()).expect("send");
        let mut head = Vec::new();
        let (head_len, body_len) = loop {
            let n = self.stream.read(&mut self.buf).expect("read");
            assert!(n > 0, "connection closed");
            head.extend_from_slice(&self.buf[..n]);
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                let text = std::str::from_utf8(&head[..end]).expect("ASCII head");
                assert!(text.starts_with("HTTP/1.1 200"), "{text}");
                let len = text
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .expect("content-length");
                break (end + 4, len);
            }
        };
        let mut left = head_len + body_len - head.len();
        while left > 0 {
            let n = self.stream.read(&mut self.buf).expect("read");
            assert!(n > 0, "connection closed");
            left -= n;
        }
        body_len
    }
}

/// Uploads `bytes` as `name` through the real server at `base`; returns the hostedUrl's path.
async fn upload(base: &str, site: &str, token: &str, name: &str, bytes: Vec<u8>) -> String {
    let client = reqwest::Client::new();
    let created: serde_json::Value = client
        .post(format!("{base}/v2/sites/{site}/assets"))
        .bearer_auth(token)
        .json(&serde_json::json!({"fileName": name, "fileHash": assetd_md5::Md5::digest(&bytes).map(|b| format!("{b:02x}")).concat()}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("create answer");
    let mut form = reqwest::multipart::Form::new();
    for (key, value) in created["uploadDetails"].as_object().expect("details") {
        form = form.text(key.clone(), value.as_str().expect("text").to_owned());
    }
    let content_type = created["contentType"].as_str().expect("type").to_owned();
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(&content_type)
        .expect("mime");
    let posted = client
        .post(created["uploadUrl"].as_str().expect("uploadUrl"))
        .multipart(form.part("file", part))
        .send()
        .await
        .expect("upload");
    assert_eq!(posted.status(), 201);
    let hosted = created["hostedUrl"].as_str().expect("hostedUrl");
    hosted[hosted.find("/files/").expect("a /files/ URL")..].to_owned()
}

/// The four servers and the two files' paths.
struct Setup {
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    dispatch: SocketAddr,
    router: SocketAddr,
    streamed: SocketAddr,
    small: String,
    large: String,
}

fn setup() -> Setup {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (dispatch, router, streamed, small, large) = runtime.block_on(async {
        let data = app::open(dir.path(), None).await.expect("data dir");
        let first = app::first_run(data.meta.as_ref())
            .await
            .expect("first run")
            .expect("a fresh database");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let args = ServeArgs::parse_args(vec![
            "--rate-limit-per-minute".to_owned(),
            "100000000".to_owned(),
        ]);
        let settings = Settings::new(&args, addr).expect("settings");
        let storage = app::Storage::embedded(&data);
        let limiter = app::rate_limiter(None, 100_000_000, assetd::ratelimit::WINDOW)
            .await
            .expect("limiter");
        let state = app::state(data.meta.clone(), storage, limiter, settings);
        tokio::spawn(assetd::server::run(
            listener,
            state.clone(),
            std::future::pending(),
        ));
        let base = format!("http://{addr}");
        let site = first.site_id.to_string();
        let pattern = |len: usize| -> Vec<u8> { (0..len).map(|i| (i % 251) as u8 + 1).collect() };
        let small = upload(&base, &site, &first.token, "small.png", pattern(10 * 1024)).await;
        let large = upload(&base, &site, &first.token, "large.png", pattern(1 << 20)).await;
        (
            serve(Handler::Dispatch(App::new(state.clone())), true, &state).await,
            serve(
                Handler::Router(assetd::http::router(state.clone())),
                true,
                &state,
            )
            .await,
            serve(Handler::Dispatch(App::new(state.clone())), false, &state).await,
            small,
            large,
        )
    });
    Setup {
        _runtime: runtime,
        _dir: dir,
        dispatch,
        router,
        streamed,
        small,
        large,
    }
}

fn serving(c: &mut Criterion) {
    let setup = setup();
    let mut group = c.benchmark_group("get_10KiB");
    group.throughput(Throughput::Bytes(10 * 1024));
    for (name, addr) in [("bypass", setup.dispatch), ("router", setup.router)] {
        let mut client = Client::connect(addr);
        assert_eq!(client.get(&setup.small), 10 * 1024);
        group.bench_function(name, |b| b.iter(|| client.get(&setup.small)));
    }
    group.finish();
    let mut group = c.benchmark_group("get_1MiB");
    group.throughput(Throughput::Bytes(1 << 20));
    for (name, addr) in [("sendfile", setup.dispatch), ("streamed", setup.streamed)] {
        let mut client = Client::connect(addr);
        assert_eq!(client.get(&setup.large), 1 << 20);
        group.bench_function(name, |b| b.iter(|| client.get(&setup.large)));
    }
    group.finish();
}

criterion_group!(benches, serving);
criterion_main!(benches);
