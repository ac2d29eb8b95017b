//! `assetd backup`, `assetd restore` and `assetd verify`, driven through the real binary beside
//! a running `assetd serve` (issue 29, items 3 and 4).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "util/pg.rs"]
mod pg;

fn assetd(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_assetd"));
    command.env_clear().arg("--data-dir").arg(data_dir);
    command
}

/// A running `assetd serve`, stopped with SIGTERM when dropped.
struct Server {
    child: Child,
    addr: String,
    site: String,
    token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Starts `serve` on `dir` (with `env` set) and reads its address, and, on a fresh data
/// directory, its site and token (else `site`/`token` are taken from `known`).
fn serve(
    dir: &Path,
    extra: &[&str],
    env: &[(String, String)],
    known: Option<(&str, &str)>,
) -> Server {
    let mut child = assetd(dir)
        .envs(env.iter().cloned())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--rate-limit-per-minute",
            "1000000",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut printed: Vec<String> = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("assetd: listening on http://") {
            let addr = rest.split(' ').next().unwrap().to_owned();
            let (site, token) = match known {
                Some((site, token)) => (site.to_owned(), token.to_owned()),
                None => (
                    printed[0]
                        .strip_prefix("assetd: created site ")
                        .map(str::to_owned)
                        .unwrap(),
                    printed[1].rsplit(' ').next().map(str::to_owned).unwrap(),
                ),
            };
            return Server {
                child,
                addr,
                site,
                token,
            };
        }
        printed.push(line);
    }
    let status = child.wait().unwrap();
    panic!("assetd exited ({status}) before listening: {printed:?}");
}

/// An asset uploaded and acknowledged.
#[derive(Debug, Clone)]
struct Uploaded {
    id: String,
    key: String,
    bytes: Vec<u8>,
}

fn content(n: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ n.wrapping_mul(7919)) as u8)
        .collect()
}

/// Creates `name` and uploads `bytes` for it; returns once the upload is acknowledged.
fn upload(
    client: &reqwest::blocking::Client,
    server: &Server,
    name: &str,
    bytes: Vec<u8>,
) -> Uploaded {
    let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(&bytes));
    let created: serde_json::Value = client
        .post(format!(
            "http://{}/v2/sites/{}/assets",
            server.addr, server.site
        ))
        .bearer_auth(&server.token)
        .json(&serde_json::json!({"fileName": name, "fileHash": md5}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut form = reqwest::blocking::multipart::Form::new();
    for (field, value) in created["uploadDetails"].as_object().unwrap() {
        form = form.text(field.clone(), value.as_str().unwrap().to_owned());
    }
    let part = reqwest::blocking::multipart::Part::bytes(bytes.clone()).file_name(name.to_owned());
    let posted = client
        .post(created["uploadUrl"].as_str().unwrap())
        .multipart(form.part("file", part))
        .send()
        .unwrap();
    assert!(posted.status().is_success(), "{}", posted.status());
    let id = created["id"].as_str().unwrap().to_owned();
    Uploaded {
        key: format!("{}/{id}_{name}", server.site),
        id,
        bytes,
    }
}

fn get(client: &reqwest::blocking::Client, url: &str, token: &str) -> reqwest::blocking::Response {
    client.get(url).bearer_auth(token).send().unwrap()
}

/// Every listed asset of the server's site: id → hostedUrl.
fn listed(client: &reqwest::blocking::Client, server: &Server) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    let mut offset = 0;
    loop {
        let page: serde_json::Value = get(
            client,
            &format!(
                "http://{}/v2/sites/{}/assets?offset={offset}&limit=100",
                server.addr, server.site
            ),
            &server.token,
        )
        .json()
        .unwrap();
        let assets = page["assets"].as_array().unwrap();
        for asset in assets {
            all.insert(
                asset["id"].as_str().unwrap().to_owned(),
                asset["hostedUrl"].as_str().unwrap().to_owned(),
            );
        }
        if assets.len() < 100 {
            return all;
        }
        offset += 100;
    }
}

fn run(command: &mut Command) -> Output {
    command.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_backup_taken_during_uploads_restores_every_asset_acknowledged_before_it_began() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The sweep runs every second, so deletions reach the store while the backup runs.
    let server = Arc::new(serve(&data, &["--sweep-interval-secs", "1"], &[], None));
    let client = reqwest::blocking::Client::new();
    let acknowledged: Arc<Mutex<Vec<(Instant, Uploaded)>>> = Arc::default();
    for n in 0..40 {
        let up = upload(
            &client,
            &server,
            &format!("before-{n}.txt"),
            content(n, 20_000 + n),
        );
        acknowledged.lock().unwrap().push((Instant::now(), up));
    }
    // One large object, so the backup takes long enough for uploads to land during it.
    let big = upload(&client, &server, "big.pdf", content(999, 9 * 1024 * 1024));
    acknowledged.lock().unwrap().push((Instant::now(), big));

    // Uploads go on during the backup; every third one is deleted again at once.
    let stop = Arc::new(AtomicBool::new(false));
    let deleted: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let uploader = {
        let (server, acknowledged, stop, deleted) = (
            server.clone(),
            acknowledged.clone(),
            stop.clone(),
            deleted.clone(),
        );
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            let mut n = 1000;
            while !stop.load(Ordering::Relaxed) {
                let up = upload(
                    &client,
                    &server,
                    &format!("during-{n}.txt"),
                    content(n, 30_000),
                );
                if n % 3 == 0 {
                    deleted.lock().unwrap().insert(up.id.clone());
                    let status = client
                        .delete(format!("http://{}/v2/assets/{}", server.addr, up.id))
                        .bearer_auth(&server.token)
                        .send()
                        .unwrap()
                        .status();
                    assert_eq!(status, 204);
                }
                acknowledged.lock().unwrap().push((Instant::now(), up));
                n += 1;
            }
            n - 1000
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let began = Instant::now();
    let backup_dir = dir.path().join("backup");
    let out = run(assetd(&data).args(["backup", "--out"]).arg(&backup_dir));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("objects linked"), "{}", stdout(&out));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let during = uploader.join().unwrap();
    assert!(during > 0, "no upload ran during the backup");

    let restored = dir.path().join("restored");
    let out = run(assetd(&restored)
        .args(["restore", "--from"])
        .arg(&backup_dir));
    assert!(out.status.success(), "{}", stderr(&out));

    let (site, token) = (server.site.clone(), server.token.clone());
    drop(Arc::into_inner(server).expect("the uploader is done"));
    let again = serve(&restored, &[], &[], Some((&site, &token)));
    let listed = listed(&client, &again);
    let deleted = deleted.lock().unwrap().clone();
    let mut checked = 0;
    for (at, up) in acknowledged.lock().unwrap().iter() {
        if *at >= began || deleted.contains(&up.id) {
            continue;
        }
        let hosted = listed
            .get(&up.id)
            .unwrap_or_else(|| panic!("{} was acknowledged before the backup", up.key));
        let served = get(&client, hosted, &token);
        assert_eq!(served.status(), 200, "{hosted}");
        assert!(
            served.bytes().unwrap() == up.bytes,
            "{hosted}: bytes differ"
        );
        checked += 1;
    }
    assert!(checked >= 41, "{checked}");
    // The restored copy is whole by verify's standards too.
    let out = run(assetd(&restored).args(["verify"]));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

/// A small backup of a data directory with three uploads, taken with copies (so tampering with
/// the backup leaves the live files alone).
fn small_backup(root: &Path) -> std::path::PathBuf {
    let data = root.join("data");
    let server = serve(&data, &[], &[], None);
    let client = reqwest::blocking::Client::new();
    for n in 0..3 {
        upload(&client, &server, &format!("f{n}.txt"), content(n, 5_000));
    }
    let backup = root.join("backup");
    let out = run(assetd(&data)
        .args(["backup", "--copy", "--out"])
        .arg(&backup));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("0 objects linked, 3 copied"),
        "{}",
        stdout(&out)
    );
    backup
}

fn object_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for site in std::fs::read_dir(dir.join("objects")).unwrap() {
        for file in std::fs::read_dir(site.unwrap().path()).unwrap() {
            files.push(file.unwrap().path());
        }
    }
    files.sort();
    files
}

#[test]
fn restore_refuses_a_used_target_and_a_backup_that_does_not_match_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let backup = small_backup(dir.path());

    let used = dir.path().join("used");
    std::fs::create_dir_all(&used).unwrap();
    std::fs::write(used.join("keep.txt"), b"mine").unwrap();
    let out = run(assetd(&used).args(["restore", "--from"]).arg(&backup));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
    assert_eq!(std::fs::read(used.join("keep.txt")).unwrap(), b"mine");

    // A backup taken with --out into a used directory is refused the same way.
    let out = run(assetd(&dir.path().join("data"))
        .args(["backup", "--out"])
        .arg(&used));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));

    // One flipped byte in one object (a new file: the backup's copies are its own).
    let victim = object_files(&backup).remove(0);
    let original = std::fs::read(&victim).unwrap();
    let mut flipped = original.clone();
    flipped[100] ^= 0x01;
    std::fs::remove_file(&victim).unwrap();
    std::fs::write(&victim, &flipped).unwrap();
    let target = dir.path().join("target");
    let out = run(assetd(&target).args(["restore", "--from"]).arg(&backup));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("does not match its manifest"),
        "{}",
        stderr(&out)
    );
    assert!(!target.exists(), "a refused restore leaves nothing");
    std::fs::write(&victim, &original).unwrap();

    // A file the manifest does not list.
    let extra = victim.with_file_name("0123456789abcdef01234567_extra.txt");
    std::fs::write(&extra, b"x").unwrap();
    let out = run(assetd(&target).args(["restore", "--from"]).arg(&backup));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not listed"), "{}", stderr(&out));
    std::fs::remove_file(&extra).unwrap();

    // A missing file, and a cut-off manifest.
    let manifest = std::fs::read_to_string(backup.join("manifest.jsonl")).unwrap();
    let cut: String = manifest.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(backup.join("manifest.jsonl"), cut).unwrap();
    let out = run(assetd(&target).args(["restore", "--from"]).arg(&backup));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("does not match its manifest"),
        "{}",
        stderr(&out)
    );
    std::fs::write(backup.join("manifest.jsonl"), &manifest).unwrap();
    std::fs::rename(&victim, dir.path().join("moved")).unwrap();
    let out = run(assetd(&target).args(["restore", "--from"]).arg(&backup));
    assert!(stderr(&out).contains("missing"), "{}", stderr(&out));
    std::fs::rename(dir.path().join("moved"), &victim).unwrap();

    // Put back as it was, it restores.
    let out = run(assetd(&target).args(["restore", "--from"]).arg(&backup));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(object_files(&target).len(), 3);
}

#[test]
fn backup_refuses_postgresql_and_s3_and_says_what_to_use() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(assetd(dir.path())
        .args(["--database-url", "postgres://nowhere/db", "backup", "--out"])
        .arg(dir.path().join("b")));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("pg_dump"), "{}", stderr(&out));
    let out = run(assetd(dir.path())
        .env("ASSETD_STORAGE", "s3")
        .args(["backup", "--out"])
        .arg(dir.path().join("b")));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("versioning"), "{}", stderr(&out));
}

/// verify's findings (`--json`), by kind, and its summary line.
fn findings(out: &Output) -> (BTreeMap<String, Vec<serde_json::Value>>, serde_json::Value) {
    let mut by_kind: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    let mut summary = serde_json::Value::Null;
    for line in stdout(out).lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        match value["finding"].as_str() {
            Some(kind) => by_kind.entry(kind.to_owned()).or_default().push(value),
            None => summary = value,
        }
    }
    (by_kind, summary)
}

fn keys_of(found: &BTreeMap<String, Vec<serde_json::Value>>, kind: &str) -> BTreeSet<String> {
    found
        .get(kind)
        .map(|list| {
            list.iter()
                .map(|f| f["key"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn verify_finds_and_repairs_flipped_truncated_missing_and_orphaned_objects_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // No delivery cache: a repaired asset stops being served at once. Sweep far away, so the
    // failed assets stay for the checks below.
    let server = serve(&data, &["--delivery-cache-secs", "0"], &[], None);
    let client = reqwest::blocking::Client::new();
    let ups: Vec<Uploaded> = (0..6)
        .map(|n| {
            upload(
                &client,
                &server,
                &format!("doc-{n}.txt"),
                content(n, 70_000),
            )
        })
        .collect();
    // A pending upload (created, never posted) is neither damage nor an orphan's owner.
    let out = run(assetd(&data).args(["verify"]));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    let objects = data.join("objects");
    let path = |up: &Uploaded| objects.join(&up.key);
    let mut bytes = ups[0].bytes.clone();
    bytes[12_345] ^= 0x20;
    std::fs::write(path(&ups[0]), &bytes).unwrap(); // flipped, in place
    std::fs::write(path(&ups[1]), &ups[1].bytes[..1000]).unwrap(); // truncated
    std::fs::remove_file(path(&ups[2])).unwrap(); // missing
    let orphan = format!("{}/0123456789abcdef01234567_orphan.txt", server.site);
    std::fs::write(objects.join(&orphan), b"nobody's").unwrap();
    std::fs::write(objects.join("stray-file"), b"not ours").unwrap();

    let out = run(assetd(&data).args(["verify", "--json"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (found, summary) = findings(&out);
    assert_eq!(
        keys_of(&found, "damaged"),
        BTreeSet::from([ups[0].key.clone(), ups[1].key.clone()])
    );
    assert_eq!(
        keys_of(&found, "missing"),
        BTreeSet::from([ups[2].key.clone()])
    );
    assert_eq!(keys_of(&found, "orphan"), BTreeSet::from([orphan.clone()]));
    assert_eq!(
        keys_of(&found, "foreign"),
        BTreeSet::from(["stray-file".to_owned()])
    );
    assert_eq!(summary["problems"], 4, "{summary}");
    assert_eq!(summary["summary"]["assets"], 6, "{summary}");
    let truncated = &found["damaged"]
        .iter()
        .find(|f| f["key"] == ups[1].key.as_str())
        .unwrap();
    assert_eq!(truncated["size"], 1000);
    assert_eq!(truncated["expected_size"], 70_000);

    let out = run(assetd(&data).args(["verify", "--repair", "--json"]));
    assert_eq!(
        out.status.code(),
        Some(1),
        "repair still reports what it found: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("verify found 4 problem"),
        "{}",
        stderr(&out)
    );
    let (found, summary) = findings(&out);
    assert!(
        found
            .values()
            .flatten()
            .filter(|f| f["finding"] != "foreign")
            .all(|f| f["repaired"] == true)
    );
    assert_eq!(summary["summary"]["repaired"], 4, "{summary}");
    assert!(!objects.join(&orphan).exists(), "the orphan is removed");
    assert!(
        objects.join("stray-file").exists(),
        "a foreign object is left alone"
    );

    // The damaged assets are failed: neither listed nor served; the others are.
    let listed = listed(&client, &server);
    for up in &ups[..3] {
        assert!(!listed.contains_key(&up.id), "{} is still listed", up.key);
        let hosted = format!("http://{}/files/{}", server.addr, up.key);
        assert_eq!(
            get(&client, &hosted, &server.token).status(),
            404,
            "{hosted}"
        );
    }
    for up in &ups[3..] {
        let served = get(&client, &listed[&up.id], &server.token);
        assert!(served.bytes().unwrap() == up.bytes);
    }
    let out = run(assetd(&data).args(["verify"]));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("0 missing, 0 damaged, 0 orphans"),
        "{}",
        stdout(&out)
    );
}

/// The environment of the PostgreSQL + SeaweedFS configuration (`scripts/seaweedfs.sh`
/// `seaweedfs_env`), if this run has one.
fn s3_env() -> Option<Vec<(String, String)>> {
    std::env::var("ASSETD_STORAGE").ok().filter(|s| s == "s3")?;
    Some(
        std::env::vars()
            .filter(|(k, _)| k.starts_with("ASSETD_S3_") || k == "ASSETD_STORAGE")
            .collect(),
    )
}

/// A SigV4-signed request to the S3 service of `env` (bucket creation and the damage the test
/// does behind assetd's back; assetd itself only ever reads and deletes).
fn s3_request(env: &[(String, String)], method: &str, path: &str, body: &[u8]) -> u16 {
    use sha2::Digest;
    let var = |name: &str| env.iter().find(|(k, _)| k == name).unwrap().1.clone();
    let endpoint = var("ASSETD_S3_ENDPOINT");
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let now = chrono::Utc::now();
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let payload = hex::encode(sha2::Sha256::digest(body));
    let canonical = format!(
        "{method}\n{path}\n\nhost:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz_date}\n\n\
         host;x-amz-content-sha256;x-amz-date\n{payload}"
    );
    let scope = s3post::signing::CredentialScope::s3(now.date_naive(), "us-east-1");
    let key = s3post::signing::SigningKey::derive(
        &s3post::signing::SecretKey::new(var("ASSETD_S3_SECRET_ACCESS_KEY")),
        scope.clone(),
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(sha2::Sha256::digest(canonical.as_bytes()))
    );
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, \
         Signature={}",
        scope.credential(&var("ASSETD_S3_ACCESS_KEY_ID")),
        key.sign(to_sign.as_bytes())
    );
    reqwest::blocking::Client::new()
        .request(method.parse().unwrap(), format!("{endpoint}{path}"))
        .header("x-amz-date", amz_date)
        .header("x-amz-content-sha256", payload)
        .header("authorization", authorization)
        .body(body.to_vec())
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn verify_on_postgresql_and_s3_finds_and_repairs_a_missing_object_and_an_orphan() {
    let Some(mut env) = s3_env() else {
        eprintln!("skipped: needs the PostgreSQL + SeaweedFS environment (scripts/test)");
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let database = runtime.block_on(pg::FreshDatabase::create());
    // A bucket of its own: verify lists the whole bucket, and other tests' objects in a shared
    // one would be orphans to this test's database.
    let bucket = format!("verify-{}", std::process::id());
    assert!(
        matches!(
            s3_request(&env, "PUT", &format!("/{bucket}"), b""),
            200 | 409
        ),
        "bucket creation"
    );
    env.retain(|(k, _)| k != "ASSETD_BUCKET");
    env.push(("ASSETD_BUCKET".into(), bucket.clone()));
    env.push(("ASSETD_DATABASE_URL".into(), database.url.clone()));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = serve(&data, &["--delivery-cache-secs", "0"], &env, None);
    let client = reqwest::blocking::Client::new();
    let ups: Vec<Uploaded> = (0..3)
        .map(|n| upload(&client, &server, &format!("s3-{n}.txt"), content(n, 40_000)))
        .collect();
    // Reading each asset confirms its upload (the confirmer would, in the background).
    for up in &ups {
        let asset: serde_json::Value = get(
            &client,
            &format!("http://{}/v2/assets/{}", server.addr, up.id),
            &server.token,
        )
        .json()
        .unwrap();
        assert!(asset["size"].as_u64().is_some(), "{asset}");
    }
    let out = run(assetd(&data)
        .envs(env.iter().cloned())
        .args(["verify", "--full"]));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    assert_eq!(
        s3_request(&env, "DELETE", &format!("/{bucket}/{}", ups[0].key), b""),
        204
    );
    let orphan = format!("{}/0123456789abcdef01234567_orphan.txt", server.site);
    assert_eq!(
        s3_request(&env, "PUT", &format!("/{bucket}/{orphan}"), b"nobody's"),
        200
    );

    let out = run(assetd(&data)
        .envs(env.iter().cloned())
        .args(["verify", "--json"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (found, _) = findings(&out);
    assert_eq!(
        keys_of(&found, "missing"),
        BTreeSet::from([ups[0].key.clone()])
    );
    assert_eq!(keys_of(&found, "orphan"), BTreeSet::from([orphan.clone()]));
    assert!(!found.contains_key("damaged"), "{found:?}");

    let out = run(assetd(&data)
        .envs(env.iter().cloned())
        .args(["verify", "--repair"]));
    assert_eq!(out.status.code(), Some(1));
    let out = run(assetd(&data)
        .envs(env.iter().cloned())
        .args(["verify", "--full"]));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let listed = listed(&client, &server);
    assert!(!listed.contains_key(&ups[0].id));
    assert!(listed.contains_key(&ups[1].id));
}

#[test]
fn verify_and_backup_cover_webp_variants() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = serve(
        &data,
        &[
            "--delivery-cache-secs",
            "0",
            "--variant-formats",
            "original,webp",
        ],
        &[],
        None,
    );
    let client = reqwest::blocking::Client::new();
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(1200, 800, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 199) as u8])
    }))
    .write_to(&mut png, image::ImageFormat::Png)
    .unwrap();
    let up = upload(&client, &server, "wide.png", png.into_inner());
    // PNG and WebP variants at 500, 800 and 1080 px, made by the service's worker.
    let asset_url = format!("http://{}/v2/assets/{}", server.addr, up.id);
    let deadline = Instant::now() + Duration::from_secs(60);
    let variants = loop {
        let asset: serde_json::Value = get(&client, &asset_url, &server.token).json().unwrap();
        let variants = asset["variants"].as_array().unwrap().clone();
        if variants.len() == 6 || Instant::now() > deadline {
            break variants;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(variants.len(), 6, "{variants:?}");
    let webp_keys: Vec<String> = variants
        .iter()
        .filter(|v| v["format"] == "webp")
        .map(|v| format!("{}/{}", server.site, v["displayName"].as_str().unwrap()))
        .collect();
    assert_eq!(webp_keys.len(), 3);

    // verify checks them like any variant, and a backup carries them.
    let out = run(assetd(&data).args(["verify", "--json"]));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let (_, summary) = findings(&out);
    assert_eq!(summary["summary"]["variants"], 6, "{summary}");
    let backup = dir.path().join("backup");
    let out = run(assetd(&data)
        .args(["backup", "--copy", "--out"])
        .arg(&backup));
    assert!(out.status.success(), "{}", stderr(&out));
    let backed_up: BTreeSet<String> = object_files(&backup)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for key in &webp_keys {
        assert!(
            backed_up.contains(key.rsplit('/').next().unwrap()),
            "{key} not in {backed_up:?}"
        );
    }

    // A damaged WebP variant is found and, with --repair, removed.
    let damaged = data.join("objects").join(&webp_keys[1]);
    let mut bytes = std::fs::read(&damaged).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&damaged, &bytes).unwrap();
    let out = run(assetd(&data).args(["verify", "--repair", "--json"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (found, _) = findings(&out);
    assert_eq!(
        keys_of(&found, "damaged"),
        BTreeSet::from([webp_keys[1].clone()])
    );
    assert!(!damaged.exists(), "the damaged variant's bytes are removed");
    let out = run(assetd(&data).args(["verify"]));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}
