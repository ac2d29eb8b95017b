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
