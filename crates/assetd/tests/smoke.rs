//! Drives the real binary: `assetd serve --listen 127.0.0.1:0` on a fresh data directory prints
//! its address, site and token; `site create` and `token create` print only what they create.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn assetd(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_assetd"));
    command.env_clear().arg("--data-dir").arg(data_dir);
    command
}

fn output(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn serve_on_a_fresh_data_dir_prints_site_token_and_address_then_the_cli_manages_sites_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = assetd(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let site = lines.next().unwrap().unwrap();
    let token = lines.next().unwrap().unwrap();
    let listening = lines.next().unwrap().unwrap();
    let site = site
        .strip_prefix("assetd: created site ")
        .unwrap()
        .to_owned();
    let token = token.rsplit(' ').next().unwrap().to_owned();
    let addr = listening
        .strip_prefix("assetd: listening on http://")
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .to_owned();
    assert_eq!(site.len(), 24);
    assert_eq!(token.len(), 64);

    let client = reqwest::blocking::Client::new();
    let create = |token: &str, site: &str| {
        client
            .post(format!("http://{addr}/v2/sites/{site}/assets"))
            .bearer_auth(token)
            .json(&serde_json::json!({"fileName": "a.png", "fileHash": "3c7d87c9575702bc3b1e991f4d3c638e"}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(create(&token, &site), 200);

    // SQLite in WAL mode lets the CLI write while the server runs.
    let new_site = output(assetd(dir.path()).args(["site", "create", "--name", "Second"]));
    let new_site = new_site.trim_end();
    assert_eq!(new_site.len(), 24, "{new_site:?}");
    let new_token = output(assetd(dir.path()).args([
        "token",
        "create",
        "--site",
        new_site,
        "--scope",
        "assets:write",
    ]));
    let new_token = new_token.trim_end();
    assert_eq!(new_token.len(), 64, "{new_token:?}");
    assert_eq!(create(new_token, new_site), 200);
    assert_eq!(create(new_token, &site), 404);
    let read_only = output(assetd(dir.path()).args([
        "token",
        "create",
        "--site",
        &site,
        "--scope",
        "assets:read",
    ]));
    assert_eq!(create(read_only.trim_end(), &site), 403);

    // Unknown sites and scopes are refused with an error, not a token.
    let bad = assetd(dir.path())
        .args(["token", "create", "--site", "0123456789abcdef01234567"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(bad.stdout.is_empty());
    let bad = assetd(dir.path())
        .args(["token", "create", "--site", &site, "--scope", "sites:write"])
        .output()
        .unwrap();
    assert!(!bad.status.success());

    // A restart on the same data directory creates nothing new and keeps the token valid.
    kill_and_wait(&mut child);
    let mut again = assetd(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = BufReader::new(again.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    assert!(first.starts_with("assetd: listening on http://"), "{first}");
    let addr2 = first
        .strip_prefix("assetd: listening on http://")
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .to_owned();
    let status = client
        .post(format!("http://{addr2}/v2/sites/{site}/assets"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"fileName": "b.png", "fileHash": "3c7d87c9575702bc3b1e991f4d3c638e"}))
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 200);
    kill_and_wait(&mut again);
}

/// Stops the server with SIGTERM and checks it exits cleanly (graceful shutdown).
fn kill_and_wait(child: &mut std::process::Child) {
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "server exited with {status}");
}

/// Starts `assetd serve` on `dir` with `extra` flags; returns the child and its address.
fn serve(dir: &std::path::Path, extra: &[&str]) -> (std::process::Child, String, Vec<String>) {
    let mut child = assetd(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut printed = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("assetd: listening on http://") {
            let addr = rest.split(' ').next().unwrap().to_owned();
            return (child, addr, printed);
        }
        printed.push(line);
    }
    let status = child.wait().unwrap();
    panic!("assetd exited ({status}) before listening: {printed:?}");
}

#[test]
fn a_queued_variant_job_survives_a_crash_and_runs_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    // No workers: the job stays queued when the process is killed.
    let (mut child, addr, printed) = serve(dir.path(), &["--variant-workers", "0"]);
    let site = printed[0]
        .strip_prefix("assetd: created site ")
        .unwrap()
        .to_owned();
    let token = printed[1].rsplit(' ').next().unwrap().to_owned();

    let client = reqwest::blocking::Client::new();
    let id = upload_png(&client, &addr, &site, &token, "wide.png", png(1200, 600, 0));
    child.kill().unwrap(); // SIGKILL: a crash, not a shutdown
    child.wait().unwrap();

    let (mut child, addr, _) = serve(dir.path(), &["--variant-workers", "1"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let asset = get_asset(&client, &addr, &token, &id);
        let widths: Vec<u64> = asset["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["width"].as_u64().unwrap())
            .collect();
        if widths == [500, 800, 1080] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{asset}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    kill_and_wait(&mut child);
}

/// A PNG of `width`×`height`, its pixels a gradient that `seed` varies.
fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let image = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, seed])
    }));
    let mut png = std::io::Cursor::new(Vec::new());
    image.write_to(&mut png, image::ImageFormat::Png).unwrap();
    png.into_inner()
}

/// The asset `id` as the API answers it.
fn get_asset(
    client: &reqwest::blocking::Client,
    addr: &str,
    token: &str,
    id: &str,
) -> serde_json::Value {
    client
        .get(format!("http://{addr}/v2/assets/{id}"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// Creates the asset `name` and uploads the PNG `png` for it (201); returns the asset's id.
fn upload_png(
    client: &reqwest::blocking::Client,
    addr: &str,
    site: &str,
    token: &str,
    name: &str,
    png: Vec<u8>,
) -> String {
    let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(&png));
    let created: serde_json::Value = client
        .post(format!("http://{addr}/v2/sites/{site}/assets"))
        .bearer_auth(token)
        .json(&serde_json::json!({"fileName": name, "fileHash": md5}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut form = reqwest::blocking::multipart::Form::new();
    for (field, value) in created["uploadDetails"].as_object().unwrap() {
        form = form.text(field.clone(), value.as_str().unwrap().to_owned());
    }
    let part = reqwest::blocking::multipart::Part::bytes(png)
        .file_name(name.to_owned())
        .mime_str("image/png")
        .unwrap();
    let posted = client
        .post(created["uploadUrl"].as_str().unwrap())
        .multipart(form.part("file", part))
        .send()
        .unwrap();
    assert_eq!(posted.status(), 201);
    created["id"].as_str().unwrap().to_owned()
}

#[test]
fn sigterm_with_work_in_every_queue_exits_cleanly_and_leaves_nothing_half_done() {
    let dir = tempfile::tempdir().unwrap();
    // One token makes every request: Webflow's 120 a minute would refuse most.
    let unlimited = ["--rate-limit-per-minute", "1000000"];
    let (mut child, addr, printed) = serve(
        dir.path(),
        &["--variant-workers", "1", unlimited[0], unlimited[1]],
    );
    let site = printed[0]
        .strip_prefix("assetd: created site ")
        .unwrap()
        .to_owned();
    let token = printed[1].rsplit(' ').next().unwrap().to_owned();
    let client = reqwest::blocking::Client::new();
    // Images uploaded: variant jobs queued (one worker, so most wait). Creates racing the
    // signal: some in the insert queue when it comes.
    let mut uploaded = Vec::new();
    for seed in 0..6 {
        let name = format!("p{seed}.png");
        uploaded.push(upload_png(
            &client,
            &addr,
            &site,
            &token,
            &name,
            png(1200, 600, seed),
        ));
    }
    let racing: Vec<_> = (0..8)
        .map(|n| {
            let (client, addr, site, token) =
                (client.clone(), addr.clone(), site.clone(), token.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0..50 {
                    let Ok(r) = client
                        .post(format!("http://{addr}/v2/sites/{site}/assets"))
                        .bearer_auth(&token)
                        .json(&serde_json::json!({"fileName": format!("r{n}-{i}.pdf"), "fileHash": "0123456789abcdef0123456789abcdef"}))
                        .send()
                    else {
                        break;
                    };
                    if r.status() != 200 {
                        break;
                    }
                    let created: serde_json::Value = r.json().unwrap();
                    acknowledged.push(created["id"].as_str().unwrap().to_owned());
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let started = std::time::Instant::now();
    kill_and_wait(&mut child); // SIGTERM, and the exit status must be success
    let took = started.elapsed();
    eprintln!("SIGTERM to exit with work queued: {took:?}");
    assert!(took < std::time::Duration::from_secs(40), "{took:?}");
    let acknowledged: Vec<String> = racing.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(!acknowledged.is_empty());

    // After the restart: every acknowledged create is there (pending, its form still valid),
    // every upload's variants are made, and no temp file was left.
    let tmp = dir.path().join("objects/.tmp");
    assert_eq!(
        std::fs::read_dir(&tmp).map_or(0, |d| d.count()),
        0,
        "temp files left"
    );
    let (mut child, addr, _) = serve(
        dir.path(),
        &["--variant-workers", "2", unlimited[0], unlimited[1]],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    for id in &uploaded {
        loop {
            let asset = get_asset(&client, &addr, &token, id);
            let made = asset["variants"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| v["hostedUrl"].is_string())
                .count();
            if made == 3 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{asset}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let listed: serde_json::Value = client
        .get(format!("http://{addr}/v2/sites/{site}/assets?limit=100"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let total = listed["pagination"]["total"].as_u64().unwrap();
    assert!(
        total >= uploaded.len() as u64,
        "{total} assets listed, {} uploaded",
        uploaded.len()
    );
    // Every acknowledged create is still there (a pending asset can be deleted: 204, not 404).
    for id in &acknowledged {
        let r = client
            .delete(format!("http://{addr}/v2/assets/{id}"))
            .bearer_auth(&token)
            .send()
            .unwrap();
        assert_eq!(r.status(), 204, "acknowledged create {id} is gone");
    }
    kill_and_wait(&mut child);
}

/// The status of `GET /v2/sites` with `token`.
fn sites_status(client: &reqwest::blocking::Client, addr: &str, token: &str) -> u16 {
    client
        .get(format!("http://{addr}/v2/sites"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Polls until `token` gets 401, at most `bound`; returns the last status.
fn until_refused(
    client: &reqwest::blocking::Client,
    addr: &str,
    token: &str,
    bound: std::time::Duration,
) -> u16 {
    let start = std::time::Instant::now();
    loop {
        let status = sites_status(client, addr, token);
        if status == 401 || start.elapsed() > bound {
            return status;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn tokens_are_listed_without_their_secret_expire_and_are_revoked_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, printed) = serve(dir.path(), &["--token-cache-secs", "1"]);
    let site = printed[0].rsplit(' ').next().unwrap().to_owned();
    let first = printed[1].rsplit(' ').next().unwrap().to_owned();
    let client = reqwest::blocking::Client::new();
    assert_eq!(sites_status(&client, &addr, &first), 200);

    let short = output(assetd(dir.path()).args([
        "token",
        "create",
        "--site",
        &site,
        "--scope",
        "assets:read",
        "--expires-in",
        "3s",
    ]))
    .trim()
    .to_owned();
    assert_eq!(sites_status(&client, &addr, &short), 200);
    let bad = assetd(dir.path())
        .args(["token", "create", "--site", &site, "--expires-in", "soon"])
        .output()
        .unwrap();
    assert!(!bad.status.success());

    // The table and the JSON lines name every token, never its secret.
    let table = output(assetd(dir.path()).args(["token", "list"]));
    assert!(table.starts_with("ID"), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");
    let json = output(assetd(dir.path()).args(["token", "list", "--site", &site, "--json"]));
    for listing in [&table, &json] {
        assert!(!listing.contains(&first) && !listing.contains(&short));
    }
    let tokens: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0]["sites"], serde_json::json!([site]));
    assert!(tokens[0]["expiresOn"].is_null());
    assert!(tokens[1]["expiresOn"].is_string());
    assert_eq!(tokens[1]["scopes"], "assets:read");

    // Revoked: 401 within the token cache's TTL; the other token keeps working.
    let first_id = tokens[0]["id"].as_str().unwrap();
    let revoked = output(assetd(dir.path()).args(["token", "revoke", first_id]));
    assert_eq!(revoked.trim(), format!("revoked {first_id}"));
    let bound = std::time::Duration::from_secs(3);
    assert_eq!(until_refused(&client, &addr, &first, bound), 401);
    assert_eq!(sites_status(&client, &addr, &short), 200);
    let again = assetd(dir.path())
        .args(["token", "revoke", first_id])
        .output()
        .unwrap();
    assert!(!again.status.success(), "a second revoke finds nothing");

    // Expired: 401 from its expiry on.
    assert_eq!(until_refused(&client, &addr, &short, bound + bound), 401);

    // Last use is written at shutdown at the latest.
    kill_and_wait(&mut child);
    let json = output(assetd(dir.path()).args(["token", "list", "--json"]));
    let left: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(left["id"], tokens[1]["id"]);
    assert!(left["lastUsed"].is_string(), "{left}");
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(current) = dirs.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn site_delete_from_the_cli_leaves_no_byte_of_the_site_and_every_byte_of_another() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, printed) = serve(dir.path(), &["--rate-limit-per-minute", "100000"]);
    let kept = printed[0].rsplit(' ').next().unwrap().to_owned();
    let kept_token = printed[1].rsplit(' ').next().unwrap().to_owned();
    let doomed = output(assetd(dir.path()).args(["site", "create", "--name", "Doomed"]))
        .trim()
        .to_owned();
    let doomed_token = output(assetd(dir.path()).args(["token", "create", "--site", &doomed]))
        .trim()
        .to_owned();
    let client = reqwest::blocking::Client::new();
    upload_png(
        &client,
        &addr,
        &kept,
        &kept_token,
        "kept.png",
        png(40, 30, 1),
    );
    for i in 0..3 {
        let name = format!("doomed-{i}.png");
        upload_png(
            &client,
            &addr,
            &doomed,
            &doomed_token,
            &name,
            png(40, 30, i),
        );
    }
    let objects = dir.path().join("objects");
    let kept_files: Vec<String> = files_under(&objects)
        .into_iter()
        .filter(|f| f.starts_with(&kept))
        .collect();
    assert_eq!(kept_files.len(), 1, "{kept_files:?}");

    let said = output(assetd(dir.path()).args(["site", "delete", &doomed]));
    assert!(
        said.starts_with(&format!("deleted site {doomed}: 3 assets, 0 folders")),
        "{said}"
    );
    let left = files_under(&objects);
    assert!(left.iter().all(|f| !f.starts_with(&doomed)), "{left:?}");
    assert_eq!(
        left.iter().filter(|f| f.starts_with(&kept)).count(),
        1,
        "{left:?}"
    );
    let listed = output(assetd(dir.path()).args(["site", "list", "--json"]));
    let sites: Vec<serde_json::Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(sites.len(), 2);
    assert_eq!(
        (sites[0]["id"].as_str(), sites[0]["assets"].as_i64()),
        (Some(kept.as_str()), Some(1))
    );
    assert!(sites[0]["deletingSince"].is_null());
    assert_eq!(sites[1]["assets"], 0);
    assert!(sites[1]["deletingSince"].is_string());
    let again = assetd(dir.path())
        .args(["site", "delete", "0123456789abcdef01234567"])
        .output()
        .unwrap();
    assert!(!again.status.success(), "an unknown site is an error");
    kill_and_wait(&mut child);
}

#[test]
fn an_ephemeral_instance_serves_a_fixed_site_and_token_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let site = "0123456789abcdef01234567";
    let token = "ci-token";
    let mut child = Command::new(env!("CARGO_BIN_EXE_assetd"))
        .env_clear()
        .env("TMPDIR", tmp.path())
        .args(["serve", "--ephemeral", "--listen", "127.0.0.1:0"])
        .args(["--site-id", site, "--token", token, "--print-json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let announced: serde_json::Value =
        serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(announced["siteId"], site);
    assert_eq!(announced["token"], token);
    let api = announced["apiBase"].as_str().unwrap().to_owned();
    assert_eq!(api, format!("{}/v2", announced["url"].as_str().unwrap()));
    let made: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(made.len(), 1, "one data directory under TMPDIR");

    // Ready as soon as the line is out: the fixed token works on the fixed site.
    let client = reqwest::blocking::Client::new();
    let addr = announced["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_owned();
    let id = upload_png(&client, &addr, site, token, "ci.png", png(20, 10, 3));
    let asset = get_asset(&client, &addr, token, &id);
    assert_eq!(asset["siteId"], site);
    let listed = client
        .get(format!("{api}/sites/{site}/assets"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(listed.status(), 200);

    kill_and_wait(&mut child);
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "the data directory is removed at exit: {left:?}"
    );

    // The fixed site and token are for ephemeral instances only.
    let refused = assetd(tmp.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--token", token])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let bad_token = Command::new(env!("CARGO_BIN_EXE_assetd"))
        .env_clear()
        .env("TMPDIR", tmp.path())
        .args([
            "serve",
            "--ephemeral",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "two words",
        ])
        .output()
        .unwrap();
    assert!(!bad_token.status.success());
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "a refused start leaves nothing either: {left:?}"
    );
}

#[test]
fn cli_commands_beside_a_running_service_leave_its_uploads_in_flight_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _addr, printed) = serve(dir.path(), &[]);
    let site = printed[0].rsplit(' ').next().unwrap().to_owned();
    // What an upload in flight looks like on disk: a temp file in the store's `.tmp`.
    let tmp_dir = dir.path().join("objects").join(".tmp");
    assert!(tmp_dir.is_dir());
    let in_flight = tmp_dir.join("upload-in-flight");
    std::fs::write(&in_flight, b"half an upload").unwrap();
    output(assetd(dir.path()).args(["token", "create", "--site", &site]));
    output(assetd(dir.path()).args(["site", "create", "--name", "Another"]));
    output(assetd(dir.path()).args(["site", "list"]));
    assert!(
        in_flight.exists(),
        "a CLI command removed the service's temp file"
    );
    kill_and_wait(&mut child);
}
