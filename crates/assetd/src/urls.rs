//! The public URLs of an asset, decided once at start-up from the storage configuration.
//!
//! Embedded store (all on the configured public base URL):
//! - `uploadUrl`: the bucket root of the S3 POST endpoint, `{public}/s3/{bucket}`; the object
//!   path travels in the `key` form field, as with Webflow's real `uploadUrl`;
//! - `assetUrl`: the object in the S3 endpoint, `{public}/s3/{bucket}/{key}`;
//! - `hostedUrl`: the delivery URL, `{public}/files/{siteId}/{assetId}_{fileName}`.
//!
//! External S3 store: `uploadUrl` is the bucket's URL on the S3 service (path-style
//! `{endpoint}/{bucket}` or virtual-hosted `{scheme}://{bucket}.{host}`), `assetUrl` the object
//! there (or under `--s3-public-url`), and `hostedUrl` either assetd's `/files/…` (streamed from
//! S3) or the public/CDN base.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters is escaped in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Path prefix of the embedded S3 endpoint.
pub const S3_PREFIX: &str = "/s3";
/// Path prefix of hosted delivery.
pub const FILES_PREFIX: &str = "/files";

fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// Percent-encodes a whole string as one component (slashes included).
pub fn encode_component(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// The `Location` S3 reports for an object of the embedded store: the key percent-encoded,
/// `/` included.
pub fn object_location(public: &str, bucket: &str, key: &str) -> String {
    format!(
        "{public}{S3_PREFIX}/{}/{}",
        encode_path(bucket),
        encode_component(key)
    )
}

/// Where clients upload to and fetch from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPlan {
    /// `uploadUrl`.
    pub upload_url: String,
    asset_base: String,
    hosted_base: String,
}

/// A URL that cannot be used as a base.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadBaseUrl(pub String);

fn trim(url: &str) -> &str {
    url.trim_end_matches('/')
}

impl UrlPlan {
    /// URLs of the embedded store, all on `public`.
    pub fn embedded(public: &str, bucket: &str) -> Self {
        let bucket_url = format!("{}{S3_PREFIX}/{}", trim(public), encode_path(bucket));
        Self {
            upload_url: bucket_url.clone(),
            asset_base: bucket_url,
            hosted_base: format!("{}{FILES_PREFIX}", trim(public)),
        }
    }

    /// URLs of an external S3 store. `public_base` replaces the S3 object URL for `assetUrl`
    /// (and for `hostedUrl` unless `hosted_via_assetd`, which streams through `/files/…`).
    pub fn s3(
        endpoint: &str,
        bucket: &str,
        virtual_hosted: bool,
        public_base: Option<&str>,
        hosted_via_assetd: bool,
        assetd_public: &str,
    ) -> Result<Self, BadBaseUrl> {
        let endpoint = trim(endpoint);
        let bucket_url = if virtual_hosted {
            let (scheme, host) = endpoint
                .split_once("://")
                .ok_or_else(|| BadBaseUrl(format!("S3 endpoint {endpoint:?} has no scheme")))?;
            format!("{scheme}://{bucket}.{host}")
        } else {
            format!("{endpoint}/{}", encode_path(bucket))
        };
        let asset_base = public_base.map_or_else(|| bucket_url.clone(), |p| trim(p).to_owned());
        let hosted_base = if hosted_via_assetd {
            format!("{}{FILES_PREFIX}", trim(assetd_public))
        } else {
            asset_base.clone()
        };
        Ok(Self {
            upload_url: bucket_url,
            asset_base,
            hosted_base,
        })
    }

    /// `assetUrl` of `key`.
    pub fn asset_url(&self, key: &str) -> String {
        format!("{}/{}", self.asset_base, encode_path(key))
    }

    /// `hostedUrl` of `key` (`{siteId}/{assetId}_{fileName}`).
    pub fn hosted_url(&self, key: &str) -> String {
        format!("{}/{}", self.hosted_base, encode_path(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "64aa/64bb_my file #1 é.png";
    const ENCODED: &str = "64aa/64bb_my%20file%20%231%20%C3%A9.png";

    #[test]
    fn embedded_urls_encode_each_segment_but_keep_slashes() {
        let plan = UrlPlan::embedded("http://h/", "assetd");
        assert_eq!(plan.upload_url, "http://h/s3/assetd");
        assert_eq!(plan.asset_url(KEY), format!("http://h/s3/assetd/{ENCODED}"));
        assert_eq!(plan.hosted_url(KEY), format!("http://h/files/{ENCODED}"));
        assert_eq!(
            object_location("http://h", "assetd", "a/b c"),
            "http://h/s3/assetd/a%2Fb%20c"
        );
    }

    #[test]
    fn s3_urls_follow_addressing_and_public_base() {
        let path = UrlPlan::s3(
            "http://127.0.0.1:18333/",
            "bkt",
            false,
            None,
            true,
            "http://assetd",
        )
        .expect("plan");
        assert_eq!(path.upload_url, "http://127.0.0.1:18333/bkt");
        assert_eq!(
            path.asset_url(KEY),
            format!("http://127.0.0.1:18333/bkt/{ENCODED}")
        );
        assert_eq!(
            path.hosted_url(KEY),
            format!("http://assetd/files/{ENCODED}")
        );
        let virt = UrlPlan::s3(
            "https://s3.eu-west-3.amazonaws.com",
            "bkt",
            true,
            Some("https://cdn.example/"),
            false,
            "http://assetd",
        )
        .expect("plan");
        assert_eq!(virt.upload_url, "https://bkt.s3.eu-west-3.amazonaws.com");
        assert_eq!(
            virt.asset_url(KEY),
            format!("https://cdn.example/{ENCODED}")
        );
        assert_eq!(
            virt.hosted_url(KEY),
            format!("https://cdn.example/{ENCODED}")
        );
        assert!(UrlPlan::s3("no-scheme", "b", true, None, true, "http://a").is_err());
    }
}
