//! Shared test helpers: a real assetd server on `127.0.0.1:0` over a temporary data directory.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use assetd::app::{self, DataDir};
use assetd::background::Background;
use assetd::config::{ServeArgs, Settings};
use assetd::ids::ObjectId;
use assetd::meta::MetaStore;
use assetd::scopes::Scopes;
use assetd::state::AppState;
use tokio::sync::oneshot;

#[path = "pg.rs"]
pub mod pg;

/// A running server and what a test needs to call it.
///
/// The configuration comes from the environment, as `assetd serve` reads it: by default SQLite
/// and the embedded store; with `ASSETD_TEST_POSTGRES=1` each server gets a fresh PostgreSQL
/// database, and with `ASSETD_STORAGE=s3` (plus the `ASSETD_S3_*` variables) an S3 service.
pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub site_id: ObjectId,
    pub token: String,
    pub data: DataDir,
    pub meta: Arc<dyn MetaStore>,
    pub client: reqwest::Client,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    /// The variant workers and the confirmer, stopped after the server as `assetd serve` does.
    pub background: Background,
    stop: Option<oneshot::Sender<()>>,
    // Dropped last: the database outlives the server using it.
    _db: Option<pg::FreshDatabase>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        Self::start_with_args(&[], adjust).await
    }

    /// A server with these `assetd serve` flags on top of the environment's configuration.
    pub async fn start_with_args(flags: &[&str], adjust: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = match std::env::var("ASSETD_TEST_POSTGRES") {
            Ok(v) if v == "1" => Some(pg::FreshDatabase::create().await),
            _ => None,
        };
        Self::boot(dir, db, None, flags, adjust).await
    }

    /// Stops this server (as `assetd serve` stops, closing its database) and starts a new one
    /// on the same data directory and database, with `flags`: the same site and token.
    pub async fn restart(mut self, flags: &[&str]) -> Self {
        self.stop_serving().await;
        self.meta.close().await;
        let known = (self.site_id, self.token.clone());
        let db = self._db.take();
        Self::boot(self.dir, db, Some(known), flags, |_| {}).await
    }

    async fn boot(
        dir: tempfile::TempDir,
        db: Option<pg::FreshDatabase>,
        known: Option<(ObjectId, String)>,
        flags: &[&str],
        adjust: impl FnOnce(&mut Settings),
    ) -> Self {
        let data = app::open(dir.path(), db.as_ref().map(|d| d.url.as_str()))
            .await
            .unwrap();
        let (site_id, token) = match known {
            Some(known) => known,
            None => {
                let first = app::first_run(data.meta.as_ref()).await.unwrap().unwrap();
                (first.site_id, first.token.to_string())
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let args = ServeArgs::parse_args(flags.iter().map(|f| (*f).to_owned()));
        let mut settings = Settings::new(&args, addr).unwrap();
        // Tests make variants on demand (`drain_variant_jobs`), so what an asset lists never
        // depends on a background worker's timing; a test that wants the pool turns it on.
        settings.variants.workers = 0;
        adjust(&mut settings);
        let storage = app::Storage::open(&data, &settings.storage).unwrap();
        let limiter = app::rate_limiter(
            args.redis_url.as_deref(),
            settings.rate_limit_per_minute,
            settings.rate_limit_window,
        )
        .await
        .unwrap();
        let state = app::state(data.meta.clone(), storage, limiter, settings);
        let background = Background::new();
        state.spawn_variant_workers(&background);
        state.confirmer.spawn(&background);
        state.spawn_webhook_worker(&background).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(assetd::server::run(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        let meta: Arc<dyn MetaStore> = data.meta.clone();
        Self {
            addr,
            base: format!("http://{addr}"),
            site_id,
            token,
            data,
            meta,
            client: reqwest::Client::new(),
            state,
            dir,
            background,
            stop: Some(stop),
            task: Some(task),
            _db: db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A new token for this server's site with `scopes`.
    pub async fn token_with(&self, scopes: &str) -> String {
        let scopes: Scopes = scopes.parse().unwrap();
        app::create_token(self.meta.as_ref(), &[self.site_id], scopes, None)
            .await
            .unwrap()
            .to_string()
    }

    /// A second site and a token that sees only it.
    pub async fn other_site(&self) -> (ObjectId, String) {
        let site = app::create_site(self.meta.as_ref(), "other").await.unwrap();
        let token = app::create_token(self.meta.as_ref(), &[site], Scopes::ALL, None)
            .await
            .unwrap()
            .to_string();
        (site, token)
    }

    pub async fn asset_count(&self) -> i64 {
        self.meta.asset_counts().await.unwrap().total()
    }

    /// Whether bytes go through assetd's own S3 endpoint (not an external S3 service).
    pub fn embedded(&self) -> bool {
        self.state.receiver.is_some()
    }

    /// With S3 storage, checks every open upload now (as a read of each would), so what arrived
    /// is confirmed; with the embedded store, nothing to do.
    pub async fn confirm_uploads(&self) {
        let open = self
            .meta
            .open_uploads(None, chrono::Utc::now(), 1000)
            .await
            .unwrap();
        for asset in open {
            self.state.confirmer.check(asset).await.unwrap();
        }
    }

    /// Waits (polling the database, at most 5 s) until the confirmer has settled asset `id` in
    /// the background, without any read of it; returns its state.
    pub async fn settled(&self, id: &str) -> assetd::meta::AssetState {
        let id = id.parse().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let asset = self.meta.get_asset(id).await.unwrap().unwrap();
            if asset.state != assetd::meta::AssetState::Pending {
                return asset.state;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "asset {id} still pending after 5 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Runs every queued variant job now (as the worker pool would); returns how many ran.
    pub async fn drain_variant_jobs(&self) -> usize {
        // With S3 storage uploads bypass assetd: make sure they are noticed first.
        self.confirm_uploads().await;
        let mut ran = 0;
        while assetd::variants::worker::run_one(&self.state.variant_work(), chrono::Utc::now())
            .await
            .unwrap()
        {
            ran += 1;
        }
        ran
    }

    pub async fn stop(mut self) {
        self.stop_serving().await;
    }

    /// Stops the HTTP server, then every background task.
    async fn stop_serving(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        // As `assetd serve` does after the HTTP drain: every background task stops, in time.
        assert!(
            self.background
                .stop(std::time::Duration::from_secs(10))
                .await,
            "background tasks did not stop"
        );
    }
}

/// The Webflow error body's `code`, checking the shape on the way.
pub async fn error_code(
    response: reqwest::Response,
) -> (reqwest::StatusCode, String, serde_json::Value) {
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    let object = body.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["code", "details", "externalReference", "message"],
        "{body}"
    );
    assert!(body["details"].is_array(), "{body}");
    assert!(body["externalReference"].is_null(), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    (status, body["code"].as_str().unwrap().to_owned(), body)
}

/// MD5 hex of `bytes`.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

/// Step 1: creates an asset for `file_name` with the MD5 of `bytes`; returns the response.
pub async fn create_asset(server: &TestServer, file_name: &str, bytes: &[u8]) -> serde_json::Value {
    let (site, token) = (server.site_id.to_string(), server.token.clone());
    create_asset_as(server, (&site, &token), file_name, bytes).await
}

/// Like [`create_asset`], in another site of the server with that site's token.
pub async fn create_asset_as(
    server: &TestServer,
    (site, token): (&str, &str),
    file_name: &str,
    bytes: &[u8],
) -> serde_json::Value {
    let response = server
        .client
        .post(server.url(&format!("/v2/sites/{site}/assets")))
        .bearer_auth(token)
        .json(&serde_json::json!({"fileName": file_name, "fileHash": md5_hex(bytes)}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The `uploadDetails` of a create response as (name, value) pairs, in order.
pub fn details(created: &serde_json::Value) -> Vec<(String, String)> {
    created["uploadDetails"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

/// A multipart form of `fields` then `file` (named `file`) last.
pub fn form(
    fields: &[(String, String)],
    file: Vec<u8>,
    content_type: &str,
) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.clone(), value.clone());
    }
    let part = reqwest::multipart::Part::bytes(file)
        .file_name("upload.bin")
        .mime_str(content_type)
        .unwrap();
    form.part("file", part)
}

/// The S3 error code in an XML error body.
pub async fn s3_error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    let code = body
        .split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .unwrap_or_else(|| panic!("not an S3 error body: {body}"))
        .to_owned();
    assert!(body.starts_with("<?xml"), "{body}");
    (status, code)
}

impl TestServer {
    /// Object keys stored for this server's site, and the number of leftover temp files.
    pub async fn stored(&self) -> (Vec<String>, usize) {
        match &self.state.receiver {
            Some(disk) => (disk.list_keys().unwrap(), disk.temp_files().unwrap()),
            None => (
                self.state
                    .blobs
                    .list(&self.site_id.to_string())
                    .await
                    .unwrap(),
                0,
            ),
        }
    }

    /// Ends a test that exercises assetd's own S3 POST endpoint when the server under test
    /// uses an external S3 service instead (its SDK suites cover that path).
    pub async fn skip(self, why: &str) {
        eprintln!("skipped: {why}");
        self.stop().await;
    }
}

/// Steps 1 and 2: an asset whose bytes are stored; returns the create response.
pub async fn upload(server: &TestServer, name: &str, bytes: &[u8]) -> serde_json::Value {
    upload_into(server, name, bytes, None).await
}

/// Like [`upload`], into `folder`.
pub async fn upload_into(
    server: &TestServer,
    name: &str,
    bytes: &[u8],
    folder: Option<&str>,
) -> serde_json::Value {
    let (site, token) = (server.site_id.to_string(), server.token.clone());
    upload_as(server, (&site, &token), name, bytes, folder).await
}

/// Like [`upload_into`], to another site of the server with that site's token.
pub async fn upload_as(
    server: &TestServer,
    (site, token): (&str, &str),
    name: &str,
    bytes: &[u8],
    folder: Option<&str>,
) -> serde_json::Value {
    let response = server
        .client
        .post(server.url(&format!("/v2/sites/{site}/assets")))
        .bearer_auth(token)
        .json(&serde_json::json!({"fileName": name, "fileHash": md5_hex(bytes), "parentFolder": folder}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let created: serde_json::Value = response.json().await.unwrap();
    let content_type = created["contentType"].as_str().unwrap().to_owned();
    let posted = server
        .client
        .post(created["uploadUrl"].as_str().unwrap())
        .multipart(form(&details(&created), bytes.to_vec(), &content_type))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201);
    if !server.embedded() {
        // With S3 storage the bytes went to the S3 service; a client sees the asset in lists once
        // assetd's confirmer has noticed them in the background (no read asks it to). Wait for
        // that here (bounded, 5 s), so the tests' assertions about lists hold as they are.
        server.settled(created["id"].as_str().unwrap()).await;
    }
    created
}

impl TestServer {
    /// A request to `path` with this server's token.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    /// A folder of a second site, made with that site's token; returns its id.
    pub async fn other_site_folder(&self) -> String {
        let (site, token) = self.other_site().await;
        let response = self
            .client
            .post(self.url(&format!("/v2/sites/{site}/asset_folders")))
            .bearer_auth(&token)
            .json(&serde_json::json!({"displayName": "theirs"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    /// Creates a folder through the API; returns its id.
    pub async fn folder(&self, name: &str, parent: Option<&str>) -> String {
        let response = self
            .api(
                reqwest::Method::POST,
                &format!("/v2/sites/{}/asset_folders", self.site_id),
            )
            .json(&serde_json::json!({"displayName": name, "parentFolder": parent}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }
}
