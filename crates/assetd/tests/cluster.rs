//! Many nodes: two assetd servers sharing one PostgreSQL database, one S3 service and Redis.
//! Runs in the {PostgreSQL + S3} configuration (`ASSETD_STORAGE=s3`, set by scripts/test);
//! with the embedded store there is nothing to share, and the tests say so and return.
#![allow(clippy::unwrap_used)]

#[path = "util/pg.rs"]
mod pg;

use std::net::SocketAddr;

use assetd::app;
use assetd::config::{ServeArgs, Settings};
use serde_json::{Value, json};

struct Node {
    base: String,
    _dir: tempfile::TempDir,
    /// The node's confirmer (S3 uploads are confirmed by it).
    _background: assetd::background::Background,
}

struct Cluster {
    nodes: Vec<Node>,
    site: String,
    token: String,
    meta: std::sync::Arc<dyn assetd::meta::MetaStore>,
    client: reqwest::Client,
    _db: pg::FreshDatabase,
}

/// The nodes' delivery cache lifetime: how long a node may serve an asset another node deleted.
const DELIVERY_CACHE_SECS: u64 = 2;

/// The nodes' token cache lifetime: how long a node may accept a token revoked meanwhile.
const TOKEN_CACHE_SECS: u64 = 1;

fn redis_url() -> String {
    std::env::var("ASSETD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn cluster(rate_limit: u32) -> Option<Cluster> {
    if std::env::var("ASSETD_STORAGE").as_deref() != Ok("s3") {
        eprintln!("skipped: needs the PostgreSQL + S3 configuration (ASSETD_STORAGE=s3)");
        return None;
    }
    let db = pg::FreshDatabase::create().await;
    let mut nodes = Vec::new();
    let mut first = None;
    let mut meta = None;
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let data = app::open(dir.path(), Some(&db.url)).await.unwrap();
        if first.is_none() {
            first = app::first_run(data.meta.as_ref()).await.unwrap();
            meta = Some(data.meta.clone());
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let args = ServeArgs::parse_args(vec![
            "--redis-url".to_owned(),
            redis_url(),
            "--rate-limit-per-minute".to_owned(),
            rate_limit.to_string(),
            "--delivery-cache-secs".to_owned(),
            DELIVERY_CACHE_SECS.to_string(),
            "--token-cache-secs".to_owned(),
            TOKEN_CACHE_SECS.to_string(),
        ]);
        let settings = Settings::new(&args, addr).unwrap();
        let storage = app::Storage::open(&data, &settings.storage).unwrap();
        let limiter = app::rate_limiter(
            args.redis_url.as_deref(),
            rate_limit,
            assetd::ratelimit::WINDOW,
        )
        .await
        .unwrap();
        let state = app::state(data.meta.clone(), storage, limiter, settings);
        let background = assetd::background::Background::new();
        state.confirmer.spawn(&background);
        tokio::spawn(assetd::server::run(listener, state, std::future::pending()));
        nodes.push(Node {
            base: format!("http://{addr}"),
            _dir: dir,
            _background: background,
        });
    }
    let first = first.unwrap();
    Some(Cluster {
        nodes,
        site: first.site_id.to_string(),
        token: first.token.to_string(),
        meta: meta.unwrap(),
        client: reqwest::Client::new(),
        _db: db,
    })
}

impl Cluster {
    fn on(&self, node: usize, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.nodes[node].base))
            .bearer_auth(&self.token)
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

#[tokio::test]
async fn create_on_one_node_then_read_update_delete_on_the_other() {
    let Some(c) = cluster(10_000).await else {
        return;
    };
    let bytes = b"bytes that go straight to S3";
    let created: Value = c
        .on(
            0,
            reqwest::Method::POST,
            &format!("/v2/sites/{}/assets", c.site),
        )
        .json(&json!({"fileName": "shared.txt", "fileHash": md5_hex(bytes)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in created["uploadDetails"].as_object().unwrap() {
        form = form.text(name.clone(), value.as_str().unwrap().to_owned());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("shared.txt"),
    );
    let posted = c
        .client
        .post(created["uploadUrl"].as_str().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(
        posted.status().is_success(),
        "{}",
        posted.text().await.unwrap()
    );

    let id = created["id"].as_str().unwrap();
    let got: Value = c
        .on(1, reqwest::Method::GET, &format!("/v2/assets/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["size"], bytes.len());
    let listed: Value = c
        .on(
            1,
            reqwest::Method::GET,
            &format!("/v2/sites/{}/assets", c.site),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["pagination"]["total"], 1);
    let hosted = got["hostedUrl"].as_str().unwrap();
    assert_eq!(
        c.client
            .get(hosted)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
        &bytes[..]
    );

    let renamed: Value = c
        .on(1, reqwest::Method::PATCH, &format!("/v2/assets/{id}"))
        .json(&json!({"displayName": "Shared"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["displayName"], "Shared");
    let seen_on_a: Value = c
        .on(0, reqwest::Method::GET, &format!("/v2/assets/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen_on_a["displayName"], "Shared");

    assert_eq!(
        c.on(1, reqwest::Method::DELETE, &format!("/v2/assets/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        c.on(0, reqwest::Method::GET, &format!("/v2/assets/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Node 0 served (and cached) the small asset before node 1 deleted it: it stops serving it
    // once its cache entry expires, not later.
    let deadline = std::time::Instant::now()
        + std::time::Duration::from_secs(DELIVERY_CACHE_SECS)
        + std::time::Duration::from_millis(500);
    loop {
        let status = c.client.get(hosted).send().await.unwrap().status();
        if status == 404 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            std::time::Instant::now() < deadline,
            "a deleted asset is still served after the delivery cache's lifetime"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        c.client
            .get(created["assetUrl"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
            / 100,
        4
    );
}

#[tokio::test]
async fn a_tokens_rate_limit_is_shared_by_the_nodes() {
    let Some(c) = cluster(5).await else { return };
    let path = format!("/v2/sites/{}/assets", c.site);
    let mut remaining = Vec::new();
    for node in [0, 1, 0, 1, 0] {
        let response = c
            .on(node, reqwest::Method::GET, &path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        remaining.push(
            response.headers()["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(remaining, ["4", "3", "2", "1", "0"]);
    for node in [1, 0] {
        let response = c
            .on(node, reqwest::Method::GET, &path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429);
        let retry: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry));
    }
}

#[tokio::test]
async fn a_token_revoked_once_gets_401_on_every_node_within_the_token_cache_ttl() {
    let Some(c) = cluster(10_000).await else {
        return;
    };
    let path = format!("/v2/sites/{}/assets", c.site);
    for node in [0, 1] {
        let response = c
            .on(node, reqwest::Method::GET, &path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "node {node} caches the grant");
    }
    let tokens = c.meta.list_tokens(None).await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert!(c.meta.revoke_token(tokens[0].id).await.unwrap());
    let revoked_at = std::time::Instant::now();
    for node in [0, 1] {
        // Bounded: the cache's TTL plus a margin.
        let mut status = 0;
        while revoked_at.elapsed() < std::time::Duration::from_secs(TOKEN_CACHE_SECS + 2) {
            status = c
                .on(node, reqwest::Method::GET, &path)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            if status == 401 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status, 401, "node {node}");
    }
}

#[tokio::test]
async fn two_hundred_parallel_creates_across_both_nodes_yield_two_hundred_assets() {
    let Some(c) = cluster(10_000).await else {
        return;
    };
    let c = std::sync::Arc::new(c);
    let requests = (0..200).map(|i| {
        let c = c.clone();
        tokio::spawn(async move {
            let response = c
                .on(i % 2, reqwest::Method::POST, &format!("/v2/sites/{}/assets", c.site))
                .json(&json!({"fileName": format!("f{i}.png"), "fileHash": md5_hex(format!("{i}").as_bytes())}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            body["id"].as_str().unwrap().to_owned()
        })
    });
    let ids: Vec<String> = futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), 200);
    assert_eq!(c.meta.asset_counts().await.unwrap().pending, 200);
}
