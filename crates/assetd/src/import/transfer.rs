//! Moving one asset's bytes: streamed from the source's `hostedUrl` into a temp file while its
//! MD5 is computed, then streamed from that file to the destination's `uploadUrl` as the S3 POST
//! form. Downloads are not API calls: no pacer, but the same retries.
//!
//! Memory per asset in flight is bounded whatever the file's size: the temp file's write
//! buffer (`WRITE_BUFFER`, 256 KiB). A file no bigger than that buffer never reaches the file
//! at all: it is held in memory from download to upload ([`Downloaded::held`]), the bytes the
//! buffer would hold anyway, which saves the file's writes, its reading back and their trips to
//! the blocking pool.

use std::path::Path;
use std::time::Duration;

use assetd_md5::Md5;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::wire::CreatedAsset;

/// The temp file's write buffer.
const WRITE_BUFFER: usize = 256 * 1024;

/// Why bytes did not move.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The temp file.
    #[error("temp file: {0}")]
    Io(#[from] std::io::Error),
    /// The connection, after retries.
    #[error("download failed: {0}")]
    Network(#[from] reqwest::Error),
    /// A non-2xx answer, after retries.
    #[error("{what} answered {status}: {message}")]
    Status {
        /// `download` or `upload`.
        what: &'static str,
        /// HTTP status.
        status: u16,
        /// What it said.
        message: String,
        /// Its `Retry-After`, if any.
        retry_after: Option<String>,
    },
    /// Fewer or more bytes than the source's `size`.
    #[error("downloaded {got} bytes, the source says the asset has {want}")]
    Size {
        /// Bytes received.
        got: u64,
        /// The source's `size`.
        want: u64,
    },
    /// The create answer lacked the form.
    #[error("unexpected create answer: {0}")]
    Protocol(String),
}

impl TransferError {
    /// How long to wait before attempt `attempt + 1`, or `None` to give up: connection
    /// failures and short bodies back off, 429 waits its `Retry-After`, 5xx backs off.
    fn wait(&self, attempt: u32) -> Option<Duration> {
        match self {
            Self::Network(_) | Self::Size { .. } => {
                assetd_client::retry::delay(attempt, None, None)
            }
            Self::Status {
                status,
                retry_after,
                ..
            } => assetd_client::retry::delay(attempt, Some(*status), retry_after.as_deref()),
            _ => None,
        }
    }
}

/// A downloaded file: its MD5 (lower-case hex) and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// MD5 of the bytes, as the destination will check it.
    pub md5: String,
    /// Bytes.
    pub size: u64,
    /// The bytes themselves for a file of at most `WRITE_BUFFER` bytes; `None` when they
    /// are in the temp file.
    pub held: Option<Bytes>,
}

/// Where a download's bytes go.
enum Sink {
    Memory(Vec<u8>),
    File(tokio::io::BufWriter<tokio::fs::File>),
}

async fn download_once(
    client: &reqwest::Client,
    url: &str,
    path: &Path,
    want: u64,
    on_bytes: &(dyn Fn(i64) + Send + Sync),
) -> Result<Downloaded, TransferError> {
    let response = client.get(url).send().await?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let message: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        return Err(TransferError::Status {
            what: "download",
            status,
            message,
            retry_after,
        });
    }
    let mut sink = if want <= WRITE_BUFFER as u64 {
        // `want` is the source's word, bounded here; more bytes than it are refused below.
        Sink::Memory(Vec::with_capacity(want as usize))
    } else {
        // Buffered: tokio's file writes each take a trip to the blocking pool, and network
        // chunks are small; one trip per 256 KiB instead (and that much memory per download,
        // bounded).
        Sink::File(tokio::io::BufWriter::with_capacity(
            WRITE_BUFFER,
            tokio::fs::File::create(path).await?,
        ))
    };
    let mut md5 = Md5::new();
    let mut got = 0u64;
    let mut body = response.bytes_stream();
    let mut counted = 0i64;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                on_bytes(-counted);
                return Err(e.into());
            }
        };
        got += chunk.len() as u64;
        // A source that sends more than it announced is cut off here, not after.
        if got > want {
            break;
        }
        md5.update(&chunk);
        match &mut sink {
            Sink::Memory(held) => held.extend_from_slice(&chunk),
            Sink::File(file) => file.write_all(&chunk).await?,
        }
        counted += chunk.len() as i64;
        on_bytes(chunk.len() as i64);
    }
    if got != want {
        on_bytes(-counted);
        return Err(TransferError::Size { got, want });
    }
    let held = match sink {
        Sink::Memory(held) => Some(Bytes::from(held)),
        Sink::File(mut file) => {
            file.flush().await?;
            None
        }
    };
    Ok(Downloaded {
        md5: md5.hex(),
        size: got,
        held,
    })
}

/// Downloads `url` into `path` (or memory, see the module doc), checking it has `want` bytes;
/// retried like an API call.
/// `on_bytes` hears of every chunk (and of a failed attempt's bytes taken back, negative).
pub async fn download(
    client: &reqwest::Client,
    url: &str,
    path: &Path,
    want: u64,
    on_bytes: &(dyn Fn(i64) + Send + Sync),
) -> Result<Downloaded, TransferError> {
    let mut attempt = 1;
    loop {
        match download_once(client, url, path, want, on_bytes).await {
            Ok(done) => return Ok(done),
            Err(e) => {
                match e.wait(attempt) {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => return Err(e),
                }
                attempt += 1;
            }
        }
    }
}

fn xml_text<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = body.get(start..)?.find(&format!("</{tag}>"))? + start;
    body.get(start..end)
}

/// Posts the form of `created` with the downloaded file (held, or at `path`) as `file`,
/// retrying 5xx and connection failures.
pub async fn upload(
    client: &reqwest::Client,
    created: &CreatedAsset,
    path: &Path,
    file_name: &str,
    downloaded: &Downloaded,
) -> Result<(), TransferError> {
    let fields: Vec<(String, String)> = created
        .upload_details
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect();
    if created.upload_url.is_empty() {
        return Err(TransferError::Protocol("no uploadUrl".into()));
    }
    let content_type = created
        .content_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    let boundary = format!("assetd-import-{}", created.id);
    let mut attempt = 1;
    loop {
        let form = match &downloaded.held {
            Some(bytes) => {
                assetd_client::form::in_memory(&fields, bytes, file_name, content_type, &boundary)
            }
            None => {
                assetd_client::form::build(
                    &fields,
                    path,
                    downloaded.size,
                    file_name,
                    content_type,
                    &boundary,
                    |_| {},
                )
                .await?
            }
        };
        let outcome = client
            .post(&created.upload_url)
            .header("content-type", form.content_type)
            .header("content-length", form.content_length)
            .timeout(Duration::from_secs(600))
            .body(form.body)
            .send()
            .await;
        let error = match outcome {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let text = r.text().await.unwrap_or_default();
                let message = match (xml_text(&text, "Code"), xml_text(&text, "Message")) {
                    (Some(code), Some(message)) => format!("{code}: {message}"),
                    _ => text.chars().take(200).collect(),
                };
                TransferError::Status {
                    what: "upload",
                    status,
                    message,
                    retry_after,
                }
            }
            Err(e) => TransferError::Network(e),
        };
        match error.wait(attempt) {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return Err(error),
        }
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_what_can_succeed_and_honours_retry_after() {
        let status = |status, retry_after: Option<&str>| TransferError::Status {
            what: "download",
            status,
            message: String::new(),
            retry_after: retry_after.map(str::to_owned),
        };
        assert_eq!(status(429, Some("2")).wait(1), Some(Duration::from_secs(2)));
        assert!(status(503, None).wait(1).is_some());
        assert_eq!(status(403, None).wait(1), None);
        assert!(TransferError::Size { got: 1, want: 2 }.wait(1).is_some());
        assert_eq!(TransferError::Protocol("x".into()).wait(1), None);
    }

    #[test]
    fn reads_s3_error_codes() {
        let body = "<Error><Code>BadDigest</Code><Message>no</Message></Error>";
        assert_eq!(xml_text(body, "Code"), Some("BadDigest"));
        assert_eq!(xml_text("<Code>", "Code"), None);
    }
}
