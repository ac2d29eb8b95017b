//! Uploading files: hash, create, post the form; several at once; retries; progress.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{files, form, retry};

/// What to upload to where.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// API base URL, ending in `/v2`.
    pub api: String,
    /// Bearer token with `assets:write`.
    pub token: String,
    /// Site id.
    pub site: String,
    /// Folder id, if any.
    pub folder: Option<String>,
    /// Files uploaded at the same time.
    pub jobs: usize,
    /// Show progress bars (they are drawn only on a terminal in any case).
    pub progress: bool,
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Uploaded {
    /// The local file.
    pub path: PathBuf,
    /// The asset id.
    pub id: String,
    /// Where the asset is served.
    pub hosted_url: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Why a file was not uploaded.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Reading the file failed.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// The request could not be sent (after retries).
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// The API refused the create (Webflow error body).
    #[error("the API answered {status}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// `code` and `message` (and validation details) of the error body.
        message: String,
    },
    /// The storage refused the upload (S3 XML error).
    #[error("the storage answered {status}: {message}")]
    Storage {
        /// HTTP status.
        status: u16,
        /// S3 `Code` and `Message`.
        message: String,
    },
    /// The API's answer lacked something the upload needs.
    #[error("unexpected API response: {0}")]
    Protocol(String),
}

fn api_message(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => {
            let mut text = format!(
                "{} ({})",
                v["message"].as_str().unwrap_or("no message"),
                v["code"].as_str().unwrap_or("no code")
            );
            for d in v["details"].as_array().into_iter().flatten() {
                if let (Some(p), Some(desc)) = (d["param"].as_str(), d["description"].as_str()) {
                    text.push_str(&format!("; {p}: {desc}"));
                }
            }
            text
        }
        Err(_) => body.chars().take(200).collect(),
    }
}

fn xml_text<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(&body[start..end])
}

fn storage_message(body: &str) -> String {
    match (xml_text(body, "Code"), xml_text(body, "Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => body.chars().take(200).collect(),
    }
}

/// Sends `make()` until it succeeds or [`retry::delay`] gives up; returns the last response.
async fn with_retries<F, Fut>(mut make: F) -> Result<reqwest::Response, UploadError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<reqwest::Response, UploadError>>,
{
    let mut attempt = 1;
    loop {
        let outcome = make().await;
        let (status, retry_after) = match &outcome {
            Ok(r) if r.status().is_success() => return outcome,
            Ok(r) => (
                Some(r.status().as_u16()),
                r.headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            ),
            Err(UploadError::Transport(_)) => (None, None),
            Err(_) => return outcome,
        };
        match retry::delay(attempt, status, retry_after.as_deref()) {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return outcome,
        }
        attempt += 1;
    }
}

struct Job<'a> {
    client: &'a reqwest::Client,
    options: &'a UploadOptions,
    bar: ProgressBar,
}

impl Job<'_> {
    async fn create(&self, name: &str, hash: &str) -> Result<Value, UploadError> {
        let url = format!(
            "{}/sites/{}/assets",
            self.options.api.trim_end_matches('/'),
            self.options.site
        );
        let mut body = json!({"fileName": name, "fileHash": hash});
        if let Some(folder) = &self.options.folder {
            body["parentFolder"] = json!(folder);
        }
        let response = with_retries(|| async {
            Ok(self
                .client
                .post(&url)
                .bearer_auth(&self.options.token)
                .json(&body)
                .send()
                .await?)
        })
        .await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        if !(200..300).contains(&status) {
            return Err(UploadError::Api {
                status,
                message: api_message(&text),
            });
        }
        serde_json::from_str(&text).map_err(|e| UploadError::Protocol(e.to_string()))
    }

    async fn post_form(
        &self,
        created: &Value,
        path: &Path,
        name: &str,
        size: u64,
    ) -> Result<(), UploadError> {
        let url = created["uploadUrl"]
            .as_str()
            .ok_or_else(|| UploadError::Protocol("no uploadUrl".into()))?;
        let fields: Vec<(String, String)> = created["uploadDetails"]
            .as_object()
            .ok_or_else(|| UploadError::Protocol("no uploadDetails".into()))?
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .collect();
        let content_type = created["contentType"]
            .as_str()
            .unwrap_or("application/octet-stream");
        let boundary = format!("assetd-upload-{}", created["id"].as_str().unwrap_or("form"));
        let response = with_retries(|| async {
            self.bar.set_position(0);
            let bar = self.bar.clone();
            let body = form::build(
                &fields,
                path,
                size,
                name,
                content_type,
                &boundary,
                move |n| bar.inc(n),
            )
            .await?;
            Ok(self
                .client
                .post(url)
                .header("content-type", body.content_type)
                .header("content-length", body.content_length)
                .body(body.body)
                .send()
                .await?)
        })
        .await?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(UploadError::Storage {
            status,
            message: storage_message(&text),
        })
    }

    async fn run(&self, path: &Path) -> Result<Uploaded, UploadError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                UploadError::Protocol(format!("{} has no UTF-8 file name", path.display()))
            })?
            .to_owned();
        self.bar.set_message(format!("hashing {name}"));
        let (hash, size) = files::md5_of(path).await?;
        self.bar.set_length(size);
        self.bar.set_message(name.clone());
        let created = self.create(&name, &hash).await?;
        self.post_form(&created, path, &name, size).await?;
        self.bar.finish_and_clear();
        Ok(Uploaded {
            path: path.to_path_buf(),
            id: created["id"].as_str().unwrap_or_default().to_owned(),
            hosted_url: created["hostedUrl"].as_str().unwrap_or_default().to_owned(),
            size,
        })
    }
}

/// Uploads `files`, `options.jobs` at a time, calling `report` as each finishes.
pub async fn upload_all(
    options: &UploadOptions,
    files: Vec<PathBuf>,
    mut report: impl FnMut(&Path, Result<Uploaded, UploadError>),
) {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new());
    let bars = Arc::new(if options.progress {
        MultiProgress::with_draw_target(ProgressDrawTarget::stderr())
    } else {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    });
    let style = ProgressStyle::with_template(
        "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let jobs = files.into_iter().map(|path| {
        let client = &client;
        let bar = bars.add(ProgressBar::new(0).with_style(style.clone()));
        async move {
            let job = Job {
                client,
                options,
                bar,
            };
            let result = job.run(&path).await;
            job.bar.finish_and_clear();
            (path, result)
        }
    });
    let mut results = futures_util::stream::iter(jobs).buffer_unordered(options.jobs.max(1));
    while let Some((path, result)) = results.next().await {
        report(&path, result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_readable_messages() {
        let api = r#"{"code":"validation_error","message":"Validation Error","externalReference":null,"details":[{"param":"fileName","description":"File type is not supported"}]}"#;
        assert_eq!(
            api_message(api),
            "Validation Error (validation_error); fileName: File type is not supported"
        );
        let s3 = "<?xml version=\"1.0\"?><Error><Code>EntityTooLarge</Code><Message>Too big</Message></Error>";
        assert_eq!(storage_message(s3), "EntityTooLarge: Too big");
        assert_eq!(storage_message("plain"), "plain");
    }
}
