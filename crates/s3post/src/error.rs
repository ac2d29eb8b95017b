//! Error types of the crate, one enum per operation.

use thiserror::Error;

/// Why a POST policy document could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// The policy field is not valid base64.
    #[error("policy is not valid base64")]
    Base64,
    /// The decoded policy is not a JSON object.
    #[error("policy is not a JSON object: {0}")]
    Json(String),
    /// The top-level object lacks a required key or has an extra one.
    #[error("policy must have exactly the keys \"expiration\" and \"conditions\"")]
    Shape,
    /// The expiration is not an ISO 8601 UTC timestamp.
    #[error("policy expiration is not an ISO 8601 timestamp")]
    Expiration,
    /// A condition has a form this crate does not accept.
    #[error("invalid policy condition #{index}: {reason}")]
    Condition {
        /// Position of the condition in the `conditions` array.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Why a presigned POST could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PresignError {
    /// The signing key was derived for another day than "now"; the caller's key cache is stale.
    #[error("signing key is for {key_date}, but the request date is {now_date}")]
    ScopeDateMismatch {
        /// The date the key was derived for (`yyyymmdd`).
        key_date: String,
        /// The date of "now" (`yyyymmdd`).
        now_date: String,
    },
    /// The expiration is not after "now".
    #[error("policy expiration must be after the signing time")]
    ExpirationNotInFuture,
}
