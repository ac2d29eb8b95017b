//! `assetd upload` against the real server: a file, a directory, a 200 MiB file with the CLI's
//! memory measured, and a retry after a 429.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Server {
    child: Child,
    base: String,
    site: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server(extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_assetd"))
        .env_clear()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let site = lines
        .next()
        .unwrap()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    let token = lines
        .next()
        .unwrap()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    let base = lines
        .next()
        .unwrap()
        .unwrap()
        .split(' ')
        .nth(3)
        .unwrap()
        .to_owned();
    Server {
        child,
        base,
        site,
        token,
        _dir: dir,
    }
}

fn upload_command(server: &Server, paths: &[&Path]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_assetd"));
    command
        .env_clear()
        .env("ASSETD_TOKEN", &server.token)
        .args([
            "upload",
            "--site",
            &server.site,
            "--api",
            &format!("{}/v2", server.base),
        ])
        .args(paths);
    command
}

fn fetch(url: &str) -> Vec<u8> {
    let response = reqwest::blocking::get(url).unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.bytes().unwrap().to_vec()
}

/// `path<TAB>hostedUrl` lines of the CLI's output.
fn lines(stdout: &[u8]) -> Vec<(String, String)> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|l| {
            let (path, url) = l.split_once('\t').unwrap();
            (path.to_owned(), url.to_owned())
        })
        .collect()
}

#[test]
fn uploads_a_file_and_a_directory_and_prints_hosted_urls() {
    let server = server(&[]);
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("logo.png");
    std::fs::write(&single, b"a png, of sorts").unwrap();
    let out = upload_command(&server, &[&single]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = lines(&out.stdout);
    assert_eq!(printed.len(), 1);
    assert_eq!(printed[0].0, single.display().to_string());
    assert_eq!(fetch(&printed[0].1), b"a png, of sorts");

    let tree = dir.path().join("docs");
    std::fs::create_dir_all(tree.join("nested/deeper")).unwrap();
    let files = [
        ("a.txt", "alpha"),
        ("nested/b.csv", "b,c"),
        ("nested/deeper/c.pdf", "%PDF-1.4"),
    ];
    for (name, body) in files {
        std::fs::write(tree.join(name), body).unwrap();
    }
    let out = upload_command(&server, &[&tree])
        .args(["-j", "2", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut uploaded: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    uploaded.sort_by_key(|v| v["path"].as_str().unwrap().to_owned());
    assert_eq!(uploaded.len(), 3);
    for (value, (name, body)) in uploaded.iter().zip(files) {
        assert_eq!(
            value["path"],
            tree.join(name).display().to_string().as_str()
        );
        assert_eq!(value["size"], body.len());
        assert_eq!(fetch(value["hostedUrl"].as_str().unwrap()), body.as_bytes());
    }

    // A refused file is reported in words and fails the command; the others still upload.
    let bad = dir.path().join("tool.exe");
    std::fs::write(&bad, b"MZ").unwrap();
    let out = upload_command(&server, &[&bad, &single]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tool.exe") && stderr.contains("File type is not supported"),
        "{stderr}"
    );
    assert_eq!(lines(&out.stdout).len(), 1);
}

fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

#[test]
fn a_200_mib_file_streams_from_disk_with_bounded_cli_memory() {
    const SIZE: usize = 200 * 1024 * 1024;
    let server = server(&["--document-max-bytes", &SIZE.to_string()]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.pdf");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut chunk = vec![0u8; 1024 * 1024];
        for i in 0..SIZE / chunk.len() {
            for (j, b) in chunk.iter_mut().enumerate() {
                *b = (i * 31 + j * 7 % 251) as u8;
            }
            file.write_all(&chunk).unwrap();
        }
    }
    let mut child = upload_command(&server, &[&path])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        if let Some(kib) = peak_kib(pid) {
            peak = peak.max(kib);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak_mib = peak as f64 / 1024.0;
    eprintln!("assetd upload of 200 MiB: CLI peak RSS {peak_mib:.1} MiB");
    assert!(
        peak > 0 && peak_mib < 64.0,
        "CLI peak RSS {peak_mib:.1} MiB"
    );
    let url = lines(&out.stdout)[0].1.clone();
    let served = fetch(&url);
    assert_eq!(served.len(), SIZE);
    assert!(
        served == std::fs::read(&path).unwrap(),
        "served bytes differ"
    );
}

#[test]
fn a_429_is_retried_after_retry_after() {
    // One create per two-second window: the second file's create meets a 429 and must wait.
    let server = server(&[
        "--rate-limit-per-minute",
        "1",
        "--rate-limit-window-secs",
        "2",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.txt");
    let b = dir.path().join("b.txt");
    std::fs::write(&a, b"first").unwrap();
    std::fs::write(&b, b"second").unwrap();
    let out = upload_command(&server, &[&a, &b])
        .args(["-j", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = lines(&out.stdout);
    assert_eq!(printed.len(), 2);
    for (path, url) in printed {
        assert_eq!(fetch(&url), std::fs::read(path).unwrap());
    }
    let metrics = reqwest::blocking::get(format!("{}/metrics", server.base))
        .unwrap()
        .text()
        .unwrap();
    let throttled = metrics
        .lines()
        .find(|l| l.starts_with("assetd_http_requests_total") && l.contains("status=\"429\""))
        .unwrap_or_else(|| panic!("no 429 was answered:\n{metrics}"));
    assert!(!throttled.ends_with(" 0"), "{throttled}");
}
