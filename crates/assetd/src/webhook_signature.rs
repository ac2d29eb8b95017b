//! Signing webhook deliveries as Webflow signs its own: `x-webflow-timestamp` is the sending
//! time in milliseconds since the epoch, `x-webflow-signature` the lower-case hex HMAC-SHA256 of
//! `timestamp + ":" + body` keyed with the webhook's secret
//! (<https://developers.webflow.com/data/docs/working-with-webhooks#validating-request-signatures>).
//!
//! The key is the secret's text as UTF-8, exactly what the official JS SDK's
//! `webhooks.verifySignature({headers, body, secret})` imports as its HMAC key.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use zeroize::Zeroizing;

/// Header carrying the signing time.
pub const TIMESTAMP_HEADER: &str = "x-webflow-timestamp";
/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-webflow-signature";

/// A webhook's signing secret: 64 random hex digits. Its `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Zeroizing<String>);

impl SigningSecret {
    /// A new random secret (256 bits).
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::rng().random();
        Self(Zeroizing::new(hex::encode(bytes)))
    }

    /// A secret as stored.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The secret's text (shown once, at creation, and stored to sign with).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(…)")
    }
}

/// The `x-webflow-signature` of `body` sent at `timestamp_millis`.
pub fn sign(secret: &SigningSecret, timestamp_millis: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp_millis.to_string().as_bytes());
    mac.update(b":");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independent_hmac() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'whsec_test_0123456789abcdef',
        //   ('1733472000000:' + BODY).encode(), hashlib.sha256).hexdigest())"
        // with BODY the string below.
        let body = r#"{"triggerType":"asset_created","payload":{"id":"63e5889e7fe4eafa7384cea4"}}"#;
        let secret = SigningSecret::new("whsec_test_0123456789abcdef".to_owned());
        assert_eq!(
            sign(&secret, 1_733_472_000_000, body),
            "66ff28215441bd1d03a265d3e90a1afe3762f1dcd3409afe5f3dcbd238c7593e"
        );
    }

    #[test]
    fn secrets_are_random_hex_and_never_printed() {
        let (a, b) = (SigningSecret::generate(), SigningSecret::generate());
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
