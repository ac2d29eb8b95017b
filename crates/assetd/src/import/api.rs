//! One side's Webflow-compatible API: the few calls an import makes, each paced (`pacer`) and
//! retried: 429 after its `Retry-After`, 5xx and connection failures with backoff
//! (`assetd_client::retry`). Other statuses are answers, returned as [`ApiError::Status`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::pacer::{Pacer, Signal};
use super::wire::{AssetPage, FolderPage, RemoteAsset, RemoteFolder};

/// A token, never printed: its `Debug` is redacted.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// Wraps a token.
    pub fn new(token: String) -> Self {
        Self(token)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No answer, after retries.
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// A final non-2xx answer (Webflow's error body, read).
    #[error("the API answered {status}: {message} ({code})")]
    Status {
        /// HTTP status.
        status: u16,
        /// Webflow's `code`.
        code: String,
        /// Its `message`, with validation details.
        message: String,
        /// The first `details[].param`, if any.
        param: Option<String>,
    },
    /// An answer that is not what the API promises.
    #[error("unexpected API response: {0}")]
    Protocol(String),
}

impl ApiError {
    /// The HTTP status of a final answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the API refused the `id` field: it lacks the scope, or does not know the field.
    pub fn refuses_chosen_id(&self) -> bool {
        match self {
            Self::Status {
                status: 403, code, ..
            } => code == "missing_scopes",
            Self::Status {
                status: 400, param, ..
            } => param.as_deref() == Some("id"),
            _ => false,
        }
    }

    fn from_body(status: u16, body: &str) -> Self {
        let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let details: Vec<String> = parsed["details"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| {
                Some(format!(
                    "{}: {}",
                    d["param"].as_str()?,
                    d["description"].as_str().unwrap_or("")
                ))
            })
            .collect();
        let mut message = parsed["message"]
            .as_str()
            .map_or_else(|| body.chars().take(200).collect(), str::to_owned);
        if !details.is_empty() {
            message = format!("{message}; {}", details.join("; "));
        }
        Self::Status {
            status,
            code: parsed["code"].as_str().unwrap_or("").to_owned(),
            message,
            param: parsed["details"][0]["param"].as_str().map(str::to_owned),
        }
    }
}

/// Counts of what the API made us do, for the summary.
#[derive(Debug, Default)]
pub struct CallStats {
    /// Calls sent, retries included.
    pub calls: AtomicU64,
    /// 429 answers.
    pub throttled: AtomicU64,
    /// Retries after a 5xx or a connection failure.
    pub retried: AtomicU64,
}

/// Most 429s in a row one call waits out before giving up (each wait is at most a minute).
const MAX_THROTTLED: u32 = 30;
/// The longest one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Items per list page (Webflow's maximum).
const PAGE: u64 = 100;

/// One side.
#[derive(Debug)]
pub struct Api {
    base: String,
    token: Token,
    /// The site.
    pub site: String,
    client: reqwest::Client,
    pacer: Pacer,
    /// What happened.
    pub stats: CallStats,
}

impl Api {
    /// A client of the API at `base` (ending in `/v2`).
    pub fn new(client: reqwest::Client, base: &str, token: Token, site: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            site: site.to_owned(),
            client,
            pacer: Pacer::default(),
            stats: CallStats::default(),
        }
    }

    /// Sends one call until it gets a final answer; returns a 2xx body's text.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<String, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut failures = 1u32;
        let mut throttled = 0u32;
        loop {
            let turn = self.pacer.turn().await;
            let mut request = self
                .client
                .request(method.clone(), &url)
                .bearer_auth(&self.token.0)
                .timeout(CALL_TIMEOUT);
            if let Some(body) = body {
                request = request.json(body);
            }
            self.stats.calls.fetch_add(1, Ordering::Relaxed);
            let outcome = request.send().await;
            let status = match &outcome {
                Ok(response) => {
                    let header = |name: &str| {
                        response
                            .headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    let status = response.status().as_u16();
                    let retry_after = header("retry-after");
                    let wait = assetd_client::retry::delay(1, Some(429), retry_after.as_deref());
                    self.pacer.observe(
                        Signal {
                            status,
                            remaining: header("x-ratelimit-remaining")
                                .and_then(|v| v.trim().parse().ok()),
                            retry_after: (status == 429).then_some(wait).flatten(),
                        },
                        assetd_client::retry::FIRST_BACKOFF,
                    );
                    Some(status)
                }
                Err(_) => None,
            };
            drop(turn);
            match (outcome, status) {
                (Ok(response), Some(s)) if (200..300).contains(&s) => {
                    return Ok(response.text().await?);
                }
                (Ok(_), Some(429)) => {
                    self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    throttled += 1;
                    if throttled >= MAX_THROTTLED {
                        return Err(ApiError::Status {
                            status: 429,
                            code: "too_many_requests".into(),
                            message: format!("still throttled after {throttled} waits"),
                            param: None,
                        });
                    }
                    // The pacer holds this call (and every other) until the window reopens.
                    continue;
                }
                (outcome, status) => {
                    let delay = assetd_client::retry::delay(failures, status, None);
                    match (delay, outcome) {
                        (Some(wait), _) => {
                            self.stats.retried.fetch_add(1, Ordering::Relaxed);
                            failures += 1;
                            tokio::time::sleep(wait).await;
                        }
                        (None, Ok(response)) => {
                            let status = response.status().as_u16();
                            let text = response.text().await.unwrap_or_default();
                            return Err(ApiError::from_body(status, &text));
                        }
                        (None, Err(e)) => return Err(e.into()),
                    }
                }
            }
        }
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, ApiError> {
        let text = self.call(method, path, body).await?;
        serde_json::from_str(&text).map_err(|e| ApiError::Protocol(format!("{path}: {e}")))
    }

    /// Every asset of the site, a page of 100 at a time.
    pub async fn list_assets(&self) -> Result<Vec<RemoteAsset>, ApiError> {
        let mut all: Vec<RemoteAsset> = Vec::new();
        // Bounded by the total the first page reports (plus one page for a growing site).
        let mut pages_left = 1u64;
        let mut offset = 0u64;
        while pages_left > 0 {
            let page: AssetPage = self
                .call_json(
                    reqwest::Method::GET,
                    &format!("/sites/{}/assets?offset={offset}&limit={PAGE}", self.site),
                    None,
                )
                .await?;
            if offset == 0 {
                pages_left = page.pagination.total.div_ceil(PAGE) + 1;
            }
            pages_left -= 1;
            let got = page.assets.len() as u64;
            all.extend(page.assets);
            offset += got;
            if got == 0 || offset >= page.pagination.total {
                break;
            }
        }
        // A list that shifted under us (an asset added or deleted between pages) can repeat one.
        let mut seen = std::collections::HashSet::new();
        all.retain(|a| seen.insert(a.id.clone()));
        Ok(all)
    }

    /// Every folder of the site.
    pub async fn list_folders(&self) -> Result<Vec<RemoteFolder>, ApiError> {
        let mut all: Vec<RemoteFolder> = Vec::new();
        let mut pages_left = 1u64;
        let mut offset = 0u64;
        while pages_left > 0 {
            let page: FolderPage = self
                .call_json(
                    reqwest::Method::GET,
                    &format!(
                        "/sites/{}/asset_folders?offset={offset}&limit={PAGE}",
                        self.site
                    ),
                    None,
                )
                .await?;
            if offset == 0 {
                pages_left = page.pagination.total.div_ceil(PAGE) + 1;
            }
            pages_left -= 1;
            let got = page.asset_folders.len() as u64;
            let before = all.len();
            all.extend(page.asset_folders);
            let mut seen = std::collections::HashSet::new();
            all.retain(|f| seen.insert(f.id.clone()));
            offset += got;
            // Webflow's folder list takes no paging parameters and returns every folder at
            // once: a page that added nothing new ends the list.
            if got == 0 || all.len() == before || offset >= page.pagination.total {
                break;
            }
        }
        Ok(all)
    }

    /// Creates a folder; `id` is the id to keep, if any.
    pub async fn create_folder(
        &self,
        name: &str,
        parent: Option<&str>,
        id: Option<&str>,
    ) -> Result<RemoteFolder, ApiError> {
        let mut body = serde_json::json!({"displayName": name, "parentFolder": parent});
        if let Some(id) = id {
            body["id"] = Value::from(id);
        }
        self.call_json(
            reqwest::Method::POST,
            &format!("/sites/{}/asset_folders", self.site),
            Some(&body),
        )
        .await
    }

    /// Step 1 of an upload; `id` is the id to keep, if any.
    pub async fn create_asset(
        &self,
        file_name: &str,
        file_hash: &str,
        folder: Option<&str>,
        id: Option<&str>,
    ) -> Result<super::wire::CreatedAsset, ApiError> {
        let mut body = serde_json::json!({"fileName": file_name, "fileHash": file_hash});
        if let Some(folder) = folder {
            body["parentFolder"] = Value::from(folder);
        }
        if let Some(id) = id {
            body["id"] = Value::from(id);
        }
        self.call_json(
            reqwest::Method::POST,
            &format!("/sites/{}/assets", self.site),
            Some(&body),
        )
        .await
    }

    /// Reads an asset.
    pub async fn get_asset(&self, id: &str) -> Result<RemoteAsset, ApiError> {
        self.call_json(reqwest::Method::GET, &format!("/assets/{id}"), None)
            .await
    }

    /// Deletes an asset (a pending one an earlier run left).
    pub async fn delete_asset(&self, id: &str) -> Result<(), ApiError> {
        self.call(reqwest::Method::DELETE, &format!("/assets/{id}"), None)
            .await
            .map(|_| ())
    }

    /// Sets an asset's display name and alt text.
    pub async fn update_asset(
        &self,
        id: &str,
        changes: &super::plan::MetaChanges,
    ) -> Result<RemoteAsset, ApiError> {
        let mut body = serde_json::Map::new();
        if let Some(name) = &changes.display_name {
            body.insert("displayName".into(), Value::from(name.as_str()));
        }
        if let Some(alt) = &changes.alt_text {
            body.insert(
                "altText".into(),
                alt.as_deref().map_or(Value::Null, Value::from),
            );
        }
        self.call_json(
            reqwest::Method::PATCH,
            &format!("/assets/{id}"),
            Some(&Value::Object(body)),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_webflow_error_bodies_and_knows_an_id_refusal() {
        let scope = ApiError::from_body(
            403,
            r#"{"code":"missing_scopes","message":"OAuthForbidden","externalReference":null,"details":[]}"#,
        );
        assert!(scope.refuses_chosen_id());
        let bad_id = ApiError::from_body(
            400,
            r#"{"code":"validation_error","message":"Validation Error","details":[{"param":"id","description":"Provided ID is invalid"}]}"#,
        );
        assert!(bad_id.refuses_chosen_id());
        assert!(bad_id.to_string().contains("id: Provided ID is invalid"));
        let other = ApiError::from_body(400, "not json");
        assert!(!other.refuses_chosen_id());
        assert_eq!(other.status(), Some(400));
        assert_eq!(format!("{:?}", Token::new("secret".into())), "Token(…)");
    }
}
