//! Verification of a received POST Object form: signature, policy, conditions and coverage.
//!
//! The rules are AWS's ("Creating a POST policy",
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html>, and
//! "Authenticating Requests in Browser-Based Uploads Using POST",
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-authentication-HTTPPOST.html>):
//!
//! 1. the form carries `key`, `policy`, `x-amz-algorithm`, `x-amz-credential`, `x-amz-date` and
//!    `x-amz-signature`, each once; form field names are case-insensitive, values are not;
//! 2. the credential is `AK/yyyymmdd/region/s3/aws4_request` and its date is the date of
//!    `x-amz-date`; the access key must be known;
//! 3. the signature (hex HMAC-SHA256 of the base64 policy exactly as received) must match, compared
//!    in constant time — checked before the policy is decoded;
//! 4. the policy has exactly `expiration` and `conditions` and has not expired;
//! 5. every condition holds (`${filename}` in `key` is expanded first), and `bucket`,
//!    `success_action_status` and the `x-amz-*` fields other than `x-amz-meta-*` allow `eq` only;
//! 6. every form field except `x-amz-signature`, `file`, `policy` and `x-ignore-*` is named by a
//!    condition.
//!
//! The file itself is not seen here: the caller enforces [`VerifiedPost::content_length_range`]
//! while it streams the file.

use chrono::{DateTime, NaiveDate, Utc};
use thiserror::Error;

use crate::policy::{Condition, PostPolicy};
use crate::signing::{ALGORITHM, CredentialScope, SCOPE_TERMINATOR, SecretKey, SigningKey};
use crate::timefmt::parse_amz_date;

/// The `${filename}` placeholder a `key` may contain.
pub const FILENAME_PLACEHOLDER: &str = "${filename}";

/// What was received: the URL's bucket, the fields before the file, and the file's name.
#[derive(Debug, Clone, Copy)]
pub struct PostRequest<'a> {
    /// The bucket named by the request URL.
    pub bucket: &'a str,
    /// The form fields before the file, in order, names as sent.
    pub fields: &'a [(String, String)],
    /// The `filename` of the file part, for `${filename}`.
    pub file_name: Option<&'a str>,
}

/// A form that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPost {
    /// The object key, with `${filename}` expanded.
    pub key: String,
    /// The inclusive size bounds the file must satisfy, if the policy sets any.
    pub content_length_range: Option<(u64, u64)>,
    /// The access key id that signed the form.
    pub access_key_id: String,
    fields: Vec<(String, String)>,
}

impl VerifiedPost {
    /// The value of form field `name` (case-insensitive).
    pub fn field(&self, name: &str) -> Option<&str> {
        find(&self.fields, name)
    }
}

/// Why a form is refused. [`VerifyError::code`] gives S3's error code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// A required field is absent.
    #[error("Bucket POST must contain a field named '{0}'")]
    MissingField(&'static str),
    /// A field appears more than once.
    #[error("Form field '{0}' appears more than once")]
    DuplicateField(String),
    /// `x-amz-algorithm` is not AWS4-HMAC-SHA256.
    #[error("Unsupported x-amz-algorithm; only AWS4-HMAC-SHA256 is supported")]
    UnsupportedAlgorithm,
    /// `x-amz-credential` or `x-amz-date` is malformed or inconsistent.
    #[error("Invalid credential: {0}")]
    MalformedCredential(&'static str),
    /// The access key is not known.
    #[error("The AWS Access Key Id you provided does not exist in our records.")]
    UnknownAccessKey,
    /// The signature does not match.
    #[error("The request signature we calculated does not match the signature you provided.")]
    SignatureMismatch,
    /// The policy document is malformed.
    #[error("Invalid Policy: {0}")]
    InvalidPolicy(String),
    /// The policy has expired.
    #[error("Invalid according to Policy: Policy expired.")]
    Expired,
    /// A condition does not hold.
    #[error("Invalid according to Policy: Policy Condition failed: {0}")]
    ConditionFailed(String),
    /// The form carries no signature at all: an anonymous request to a private bucket.
    #[error("Access Denied")]
    AnonymousDenied,
    /// A form field is not named by any condition.
    #[error("Invalid according to Policy: Extra input fields: {0}")]
    ExtraField(String),
}

impl VerifyError {
    /// S3's error code for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingField(_)
            | Self::DuplicateField(_)
            | Self::UnsupportedAlgorithm
            | Self::MalformedCredential(_) => "InvalidArgument",
            Self::UnknownAccessKey => "InvalidAccessKeyId",
            Self::SignatureMismatch => "SignatureDoesNotMatch",
            Self::InvalidPolicy(_) => "InvalidPolicyDocument",
            Self::Expired
            | Self::ConditionFailed(_)
            | Self::ExtraField(_)
            | Self::AnonymousDenied => "AccessDenied",
        }
    }
}

fn find<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn required<'a>(
    fields: &'a [(String, String)],
    name: &'static str,
) -> Result<&'a str, VerifyError> {
    find(fields, name).ok_or(VerifyError::MissingField(name))
}

/// Fields whose conditions may only be `eq` (AWS's table of policy elements).
fn is_eq_only(field: &str) -> bool {
    let lower = field.to_ascii_lowercase();
    lower == "bucket"
        || lower == "success_action_status"
        || (lower.starts_with("x-amz-") && !lower.starts_with("x-amz-meta-"))
}

/// Fields the coverage rule exempts.
fn is_exempt(field: &str) -> bool {
    let lower = field.to_ascii_lowercase();
    matches!(lower.as_str(), "x-amz-signature" | "file" | "policy")
        || lower.starts_with("x-ignore-")
}

struct Credential<'a> {
    access_key_id: &'a str,
    scope: CredentialScope,
}

fn parse_credential<'a>(
    credential: &'a str,
    amz_date: &str,
) -> Result<Credential<'a>, VerifyError> {
    let mut parts = credential.split('/');
    let (Some(access_key_id), Some(date), Some(region), Some(service), Some(terminator), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(VerifyError::MalformedCredential(
            "expected AK/date/region/service/aws4_request",
        ));
    };
    if access_key_id.is_empty() || region.is_empty() {
        return Err(VerifyError::MalformedCredential(
            "empty access key or region",
        ));
    }
    if service != "s3" {
        return Err(VerifyError::MalformedCredential(
            "the credential's service must be s3",
        ));
    }
    if terminator != SCOPE_TERMINATOR {
        return Err(VerifyError::MalformedCredential(
            "the credential must end with aws4_request",
        ));
    }
    let date = NaiveDate::parse_from_str(date, "%Y%m%d")
        .ok()
        .filter(|_| date.len() == 8)
        .ok_or(VerifyError::MalformedCredential(
            "the credential's date is not yyyymmdd",
        ))?;
    let signed_at = parse_amz_date(amz_date).ok_or(VerifyError::MalformedCredential(
        "x-amz-date is not yyyymmddThhmmssZ",
    ))?;
    if signed_at.date_naive() != date {
        return Err(VerifyError::MalformedCredential(
            "the credential's date is not the date of x-amz-date",
        ));
    }
    Ok(Credential {
        access_key_id,
        scope: CredentialScope::s3(date, region),
    })
}

fn content_type_matches(value: &str, prefix: &str) -> bool {
    // AWS: for Content-Type a comma-separated value is a list, each element checked alone.
    value.split(',').all(|part| part.trim().starts_with(prefix))
}

/// Checks one condition against the form; returns the size range of a content-length-range.
fn check_condition(
    condition: &Condition,
    request: &PostRequest<'_>,
    key: &str,
) -> Result<Option<(u64, u64)>, VerifyError> {
    let value_of = |field: &str| -> Option<&str> {
        if field.eq_ignore_ascii_case("key") {
            Some(key)
        } else {
            find(request.fields, field)
        }
    };
    match condition {
        Condition::ContentLengthRange { min, max } => Ok(Some((*min, *max))),
        Condition::Eq { field, value } if field.eq_ignore_ascii_case("bucket") => {
            let form_bucket = find(request.fields, "bucket");
            if request.bucket == value && form_bucket.is_none_or(|b| b == value) {
                Ok(None)
            } else {
                Err(VerifyError::ConditionFailed(format!(
                    "[\"eq\", \"$bucket\", \"{value}\"]"
                )))
            }
        }
        Condition::Eq { field, value } => match value_of(field) {
            Some(actual) if actual == value => Ok(None),
            _ => Err(VerifyError::ConditionFailed(format!(
                "[\"eq\", \"${field}\", \"{value}\"]"
            ))),
        },
        Condition::StartsWith { field, prefix } => {
            if is_eq_only(field) {
                return Err(VerifyError::InvalidPolicy(format!(
                    "{field} only supports eq"
                )));
            }
            let holds = match value_of(field) {
                Some(actual) if field.eq_ignore_ascii_case("content-type") => {
                    content_type_matches(actual, prefix)
                }
                Some(actual) => actual.starts_with(prefix.as_ref()),
                None => false,
            };
            if holds {
                Ok(None)
            } else {
                Err(VerifyError::ConditionFailed(format!(
                    "[\"starts-with\", \"${field}\", \"{prefix}\"]"
                )))
            }
        }
    }
}

/// Verifies a POST Object form at `now`. `secret_for` returns the secret of an access key id.
pub fn verify_post(
    request: &PostRequest<'_>,
    now: DateTime<Utc>,
    secret_for: impl FnOnce(&str) -> Option<SecretKey>,
) -> Result<VerifiedPost, VerifyError> {
    let fields = request.fields;
    for (i, (name, _)) in fields.iter().enumerate() {
        if fields[..i]
            .iter()
            .any(|(earlier, _)| earlier.eq_ignore_ascii_case(name))
        {
            return Err(VerifyError::DuplicateField(name.clone()));
        }
    }
    // Every form names its key, signed or not.
    let raw_key = required(fields, "key")?;
    // A form without any signature field is an anonymous request, which a private bucket
    // (assetd's, always) refuses as S3 does: 403 AccessDenied, not a missing-field 400.
    let signature_fields = [
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-signature",
        "AWSAccessKeyId",
        "signature",
    ];
    if signature_fields.iter().all(|f| find(fields, f).is_none()) {
        return Err(VerifyError::AnonymousDenied);
    }
    let policy_b64 = required(fields, "policy")?;
    let algorithm = required(fields, "x-amz-algorithm")?;
    let credential = required(fields, "x-amz-credential")?;
    let amz_date = required(fields, "x-amz-date")?;
    let signature = required(fields, "x-amz-signature")?;
    if algorithm != ALGORITHM {
        return Err(VerifyError::UnsupportedAlgorithm);
    }
    let credential = parse_credential(credential, amz_date)?;
    let secret = secret_for(credential.access_key_id).ok_or(VerifyError::UnknownAccessKey)?;
    let signing_key = SigningKey::derive(&secret, credential.scope);
    if !signing_key.verify(policy_b64.as_bytes(), signature) {
        return Err(VerifyError::SignatureMismatch);
    }

    let policy = PostPolicy::from_base64(policy_b64)
        .map_err(|e| VerifyError::InvalidPolicy(e.to_string()))?;
    if now >= policy.expiration {
        return Err(VerifyError::Expired);
    }

    let key = match request.file_name {
        Some(name) => raw_key.replace(FILENAME_PLACEHOLDER, name),
        None => raw_key.to_owned(),
    };
    let mut range: Option<(u64, u64)> = None;
    for condition in &policy.conditions {
        if let Some((min, max)) = check_condition(condition, request, &key)? {
            // Several ranges must all hold: keep their intersection.
            range = Some(match range {
                Some((lo, hi)) => (lo.max(min), hi.min(max)),
                None => (min, max),
            });
        }
    }
    for (name, _) in fields {
        let covered = policy
            .conditions
            .iter()
            .any(|c| c.field().is_some_and(|f| f.eq_ignore_ascii_case(name)));
        if !is_exempt(name) && !covered {
            return Err(VerifyError::ExtraField(name.clone()));
        }
    }
    Ok(VerifiedPost {
        key,
        content_length_range: range,
        access_key_id: credential.access_key_id.to_owned(),
        fields: fields.to_vec(),
    })
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
