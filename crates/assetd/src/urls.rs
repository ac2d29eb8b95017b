//! The public URLs of an asset, all built on the configured public base URL.
//!
//! - `uploadUrl`: the bucket root of the S3 POST endpoint, `{public}/s3/{bucket}`; the object
//!   path travels in the `key` form field, as with Webflow's real `uploadUrl`.
//! - `assetUrl`: the object in the S3 endpoint, `{public}/s3/{bucket}/{key}`.
//! - `hostedUrl`: the delivery URL, `{public}/files/{siteId}/{assetId}_{fileName}`.

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

/// The `Location` S3 reports for a stored object: the key percent-encoded, `/` included.
pub fn object_location(public: &str, bucket: &str, key: &str) -> String {
    format!("{}/{}", upload_url(public, bucket), encode_component(key))
}

/// `uploadUrl`.
pub fn upload_url(public: &str, bucket: &str) -> String {
    format!("{public}{S3_PREFIX}/{}", encode_path(bucket))
}

/// `assetUrl`.
pub fn asset_url(public: &str, bucket: &str, key: &str) -> String {
    format!("{}/{}", upload_url(public, bucket), encode_path(key))
}

/// `hostedUrl`; `key` is `{siteId}/{assetId}_{fileName}`.
pub fn hosted_url(public: &str, key: &str) -> String {
    format!("{public}{FILES_PREFIX}/{}", encode_path(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_each_segment_but_keeps_slashes() {
        let key = "64aa/64bb_my file #1 é.png";
        assert_eq!(upload_url("http://h", "assetd"), "http://h/s3/assetd");
        assert_eq!(
            asset_url("http://h", "assetd", key),
            "http://h/s3/assetd/64aa/64bb_my%20file%20%231%20%C3%A9.png"
        );
        assert_eq!(
            hosted_url("http://h", key),
            "http://h/files/64aa/64bb_my%20file%20%231%20%C3%A9.png"
        );
    }
}
