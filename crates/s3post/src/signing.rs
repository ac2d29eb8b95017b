//! SigV4 key material: secret keys, credential scopes and the derived signing key.
//!
//! The derivation (`kDate = HMAC("AWS4"+secret, yyyymmdd)`, then region, service,
//! `aws4_request`) is AWS's, see
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html>.
//! A signing key is valid for one day, so callers derive it once per date and region and reuse it.

use std::fmt;

use chrono::NaiveDate;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::timefmt::{push_date, scope_date};

type HmacSha256 = Hmac<Sha256>;

/// The terminator of every SigV4 credential scope.
pub const SCOPE_TERMINATOR: &str = "aws4_request";
/// The only signing algorithm this crate speaks.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// A secret access key. Its `Debug` output is redacted and its memory is wiped on drop.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<String>);

impl SecretKey {
    /// Wraps a secret access key.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    /// The secret itself, for the one place that must see it (key derivation, config files).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// The `<date>/<region>/<service>/aws4_request` part of a credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredentialScope {
    /// The day the signing key is valid for.
    pub date: NaiveDate,
    /// The region, e.g. `us-east-1`.
    pub region: String,
    /// The service, `s3` for everything this crate does.
    pub service: String,
}

impl CredentialScope {
    /// A scope for the `s3` service.
    pub fn s3(date: NaiveDate, region: impl Into<String>) -> Self {
        Self {
            date,
            region: region.into(),
            service: "s3".to_owned(),
        }
    }

    /// The credential string `AK/yyyymmdd/region/service/aws4_request`.
    pub fn credential(&self, access_key_id: &str) -> String {
        // Pushed piece by piece: `format!` through `Display` was 4 % of a presign.
        let parts = [self.region.as_str(), &self.service, SCOPE_TERMINATOR];
        let mut out = String::with_capacity(
            access_key_id.len() + 9 + parts.iter().map(|p| p.len() + 1).sum::<usize>(),
        );
        out.push_str(access_key_id);
        out.push('/');
        push_date(&mut out, self.date, None);
        for part in parts {
            out.push('/');
            out.push_str(part);
        }
        out
    }
}

impl fmt::Display for CredentialScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            scope_date(self.date),
            self.region,
            self.service,
            SCOPE_TERMINATOR
        )
    }
}

/// A derived SigV4 signing key for one scope.
#[derive(Clone)]
pub struct SigningKey {
    key: [u8; 32],
    /// HMAC state already keyed with `key`: cloning it skips hashing the two key pads on every
    /// signature, a tenth of the cost of signing a policy. (The pads are derived from `key`; the
    /// `hmac` crate does not zeroize them, so this key lives at most one day in a cache.)
    keyed: HmacSha256,
    scope: CredentialScope,
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key", &"<redacted>")
            .field("scope", &self.scope)
            .finish()
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

impl SigningKey {
    /// Derives the signing key for `scope` from a secret access key.
    pub fn derive(secret: &SecretKey, scope: CredentialScope) -> Self {
        let mut seed = Zeroizing::new(Vec::with_capacity(4 + secret.expose().len()));
        seed.extend_from_slice(b"AWS4");
        seed.extend_from_slice(secret.expose().as_bytes());
        let k_date = Zeroizing::new(hmac(&seed, scope_date(scope.date).as_bytes()));
        let k_region = Zeroizing::new(hmac(&*k_date, scope.region.as_bytes()));
        let k_service = Zeroizing::new(hmac(&*k_region, scope.service.as_bytes()));
        let key = hmac(&*k_service, SCOPE_TERMINATOR.as_bytes());
        let keyed =
            HmacSha256::new_from_slice(&key).expect("HMAC-SHA256 accepts keys of any length");
        Self { key, keyed, scope }
    }

    /// The scope this key signs for.
    pub fn scope(&self) -> &CredentialScope {
        &self.scope
    }

    /// Lower-case hex HMAC-SHA256 of `string_to_sign`. For a POST policy that string is the
    /// base64 policy exactly as sent.
    pub fn sign(&self, string_to_sign: &[u8]) -> String {
        // Into a fixed buffer: `hex::encode` goes through a char iterator, which measured as a
        // tenth of a presign.
        let mut digits = [0u8; 64];
        hex::encode_to_slice(self.mac(string_to_sign), &mut digits)
            .expect("64 hex digits encode 32 bytes");
        std::str::from_utf8(&digits)
            .expect("hex digits are ASCII")
            .to_owned()
    }

    fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// Whether `signature` (hex, any case) is this key's signature of `string_to_sign`.
    /// The comparison takes the same time wherever the first difference is.
    pub fn verify(&self, string_to_sign: &[u8], signature: &str) -> bool {
        let expected = self.mac(string_to_sign);
        let mut given = [0u8; 32];
        if signature.len() != 64 || hex::decode_to_slice(signature, &mut given).is_err() {
            return false;
        }
        expected.ct_eq(&given).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_key() -> SigningKey {
        let date = NaiveDate::from_ymd_opt(2015, 12, 29).expect("valid date");
        SigningKey::derive(
            &SecretKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            CredentialScope::s3(date, "us-east-1"),
        )
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let secret = SecretKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert!(!format!("{secret:?}").contains("wJalr"));
        let key = example_key();
        let shown = format!("{key:?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains(&hex::encode(key.key)));
    }

    #[test]
    fn credential_string_has_aws_layout() {
        assert_eq!(
            example_key().scope().credential("AKIAIOSFODNN7EXAMPLE"),
            "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"
        );
    }

    #[test]
    fn verify_accepts_own_signature_in_any_hex_case_and_rejects_others() {
        let key = example_key();
        let sig = key.sign(b"policy");
        assert!(key.verify(b"policy", &sig));
        assert!(key.verify(b"policy", &sig.to_uppercase()));
        assert!(!key.verify(b"policy2", &sig));
        assert!(!key.verify(b"policy", &sig[..63]));
        assert!(!key.verify(b"policy", &format!("{}zz", &sig[..62])));
        assert!(!key.verify(b"policy", ""));
    }
}
