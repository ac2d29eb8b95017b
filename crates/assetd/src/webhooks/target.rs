//! Checking a webhook's URL: `http` or `https`, a host, and every address that host resolves
//! to permitted by the [`AddressPolicy`] (SSRF protection). Run when a webhook is created;
//! deliveries check again, address by address, as they connect ([`super::send`]).

use std::net::IpAddr;

use crate::webhook_targets::AddressPolicy;

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Why a URL cannot be a webhook's target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetProblem {
    /// Not an absolute http(s) URL with a host.
    #[error("Must be an absolute http or https URL of at most {MAX_URL_LEN} characters")]
    Malformed,
    /// The host does not resolve.
    #[error("The host {0} does not resolve")]
    Unresolvable(String),
    /// An address is in a range webhooks may not target.
    #[error(
        "The URL's host resolves to {address}, a {reason} address, which webhooks may not \
         target (an operator can open ranges with --webhook-allow)"
    )]
    Refused {
        /// The address.
        address: IpAddr,
        /// Its range.
        reason: &'static str,
    },
}

/// The host of `url` as an IP address, if it is one (`[::1]` included).
pub fn literal_address(url: &reqwest::Url) -> Option<IpAddr> {
    url.host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|h| h.parse().ok())
}

/// Parses `raw` and checks every address its host has now.
pub async fn check(raw: &str, policy: &AddressPolicy) -> Result<reqwest::Url, TargetProblem> {
    if raw.len() > MAX_URL_LEN {
        return Err(TargetProblem::Malformed);
    }
    let url = reqwest::Url::parse(raw).map_err(|_| TargetProblem::Malformed)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetProblem::Malformed);
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or(TargetProblem::Malformed)?
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let addresses: Vec<IpAddr> = match literal_address(&url) {
        Some(ip) => vec![ip],
        None => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| TargetProblem::Unresolvable(host.clone()))?
            .map(|a| a.ip())
            .collect(),
    };
    if addresses.is_empty() {
        return Err(TargetProblem::Unresolvable(host));
    }
    for address in addresses {
        if let Some(reason) = policy.why_refused(address) {
            return Err(TargetProblem::Refused { address, reason });
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_internal_targets_unless_allowed() {
        let closed = AddressPolicy::default();
        for url in [
            "http://127.0.0.1:9/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost:8080/",
            "http://[fd00:ec2::254]/",
        ] {
            assert!(
                matches!(
                    check(url, &closed).await,
                    Err(TargetProblem::Refused { .. })
                ),
                "{url}"
            );
        }
        let open = AddressPolicy::new(&["127.0.0.0/8".to_owned()]).expect("valid");
        assert!(check("http://127.0.0.1:9/hook", &open).await.is_ok());
    }

    #[tokio::test]
    async fn refuses_what_is_not_an_http_url() {
        let policy = AddressPolicy::default();
        for url in [
            "ftp://example.com/",
            "not a url",
            "http://",
            "file:///etc/passwd",
        ] {
            assert_eq!(
                check(url, &policy).await,
                Err(TargetProblem::Malformed),
                "{url}"
            );
        }
        let long = format!("http://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(check(&long, &policy).await, Err(TargetProblem::Malformed));
    }
}
