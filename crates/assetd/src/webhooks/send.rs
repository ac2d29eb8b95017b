//! One delivery attempt: the signed POST of an event's body to a webhook's URL, through an HTTP
//! client that connects only to addresses the [`AddressPolicy`] permits, whatever the host
//! resolves to at that moment (the DNS answer is checked by the client's own resolver, so the
//! address checked is the address connected to). Redirects are not followed (a 3xx is a
//! failure) and no proxy is used, so neither can lead a delivery elsewhere.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::webhook_signature::{SIGNATURE_HEADER, SigningSecret, TIMESTAMP_HEADER, sign};
use crate::webhook_targets::AddressPolicy;

/// Header carrying the event's id (the same on every retry, and for every webhook the event
/// goes to): receivers drop duplicates with it, since delivery is at least once.
pub const EVENT_ID_HEADER: &str = "x-assetd-event-id";
/// Header carrying the attempt's number, from 1.
pub const ATTEMPT_HEADER: &str = "x-assetd-delivery-attempt";

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered 2xx.
    Delivered(u16),
    /// It answered otherwise, or could not be reached in time.
    Failed {
        /// Its status, if it answered.
        status: Option<u16>,
        /// What went wrong, for the webhook's status.
        error: String,
    },
}

/// Sends deliveries.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

/// A host none of whose addresses may be targeted.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to no address webhooks may target")]
struct Refused {
    host: String,
}

/// Resolves hosts, keeping only the addresses the policy permits.
struct CheckedResolver(Arc<AddressPolicy>);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let permitted: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if permitted.is_empty() {
                return Err(Box::new(Refused { host }) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl Sender {
    /// A sender whose every attempt (connect, request, response head) ends within `timeout`.
    pub fn new(policy: Arc<AddressPolicy>, timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("assetd-webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(CheckedResolver(policy.clone())))
            .build()?;
        Ok(Self { client, policy })
    }

    /// POSTs `body`, signed with `secret` at `timestamp_millis`.
    pub async fn send(
        &self,
        url: &str,
        body: String,
        secret: &SigningSecret,
        timestamp_millis: i64,
        event_id: &str,
        attempt: i64,
    ) -> Attempt {
        let failed = |error: String| Attempt::Failed {
            status: None,
            error,
        };
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return failed("the webhook's URL does not parse".to_owned());
        };
        // An IP literal is never resolved, so the resolver does not see it: checked here.
        if let Some(ip) = super::target::literal_address(&parsed)
            && let Some(reason) = self.policy.why_refused(ip)
        {
            return failed(format!("{ip} is a {reason} address (see --webhook-allow)"));
        }
        let signature = sign(secret, timestamp_millis, &body);
        let sent = self
            .client
            .post(parsed)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp_millis.to_string())
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_ID_HEADER, event_id)
            .header(ATTEMPT_HEADER, attempt.to_string())
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                Attempt::Delivered(response.status().as_u16())
            }
            Ok(response) => Attempt::Failed {
                status: Some(response.status().as_u16()),
                error: format!("the receiver answered {}", response.status()),
            },
            Err(e) => failed(describe(&e)),
        }
    }
}

/// A short reason for a failed request, with its causes (reqwest's own message is "error
/// sending request" alone).
fn describe(err: &reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = what.to_owned();
    let mut cause = std::error::Error::source(err);
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}
