//! The service's error type and the one place that renders it as Webflow's error body
//! `{"code","message","externalReference","details"}`
//! (<https://developers.webflow.com/data/v2.0.0/reference/error-handling>).
//!
//! 5xx bodies are generic; their cause is logged with `tracing`, never returned.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::confirmer::ConfirmError;
use crate::meta::MetaError;
use crate::storage::StoreError;

/// One entry of a `validation_error`'s `details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The request parameter at fault (`fileName`, `site_id`, …).
    pub param: String,
    /// What is wrong with it, for a person.
    pub description: String,
}

impl FieldError {
    /// A field error.
    pub fn new(param: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            description: description.into(),
        }
    }
}

/// Everything a Webflow-API request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body is not JSON at all.
    #[error("malformed request: {0}")]
    BadRequest(String),
    /// The request is well-formed but some parameters are invalid.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The body exceeds the endpoint's limit.
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The client did not send its whole request body in time.
    #[error("request body stalled for {idle:?}")]
    BodyStalled {
        /// How long no byte arrived.
        idle: std::time::Duration,
    },
    /// No token, or one that is unknown.
    #[error("not authorized")]
    NotAuthorized,
    /// The token lacks a scope the route needs.
    #[error("missing scope {0}")]
    MissingScopes(&'static str),
    /// The resource does not exist, or the token may not see it (deliberately the same answer).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The token's rate limit is spent.
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds until the limit resets.
        retry_after_secs: u64,
    },
    /// A unique name is already taken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A dependency (database, blob store) is not reachable.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; logged with its whole chain of causes, not returned.
    #[error("internal error: {0}")]
    Internal(#[source] BoxError),
}

/// Any error, kept whole (with its sources) until it is logged.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `err` and each of its sources, `: `-separated, for the log.
pub fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        let next = e.to_string();
        // thiserror's `transparent` and `{0}` messages repeat their source's text.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = e.source();
    }
    text
}

impl Error {
    /// A validation error about one parameter.
    pub fn invalid(param: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(param, description)])
    }

    /// Wraps an unexpected failure, keeping its sources.
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        Self::Internal(cause.into())
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Validation(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyStalled { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::NotAuthorized => StatusCode::UNAUTHORIZED,
            Self::MissingScopes(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            // Webflow's code list has nothing for 405, 408 or 413; all are malformed requests.
            Self::BadRequest(_)
            | Self::PayloadTooLarge { .. }
            | Self::BodyStalled { .. }
            | Self::MethodNotAllowed => "bad_request",
            Self::Validation(_) => "validation_error",
            Self::NotAuthorized => "not_authorized",
            Self::MissingScopes(_) => "missing_scopes",
            Self::NotFound(_) => "resource_not_found",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Conflict(_) => "conflict",
            Self::Unavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::BadRequest(why) => format!("Bad Request: Request is malformed: {why}"),
            Self::Validation(_) => "Validation Error".to_owned(),
            Self::PayloadTooLarge { limit } => {
                format!("Bad Request: Request body is larger than {limit} bytes")
            }
            Self::BodyStalled { idle } => format!(
                "Bad Request: The request body did not arrive within {} seconds",
                idle.as_secs()
            ),
            Self::NotAuthorized => "Request not authorized".to_owned(),
            Self::MissingScopes(scope) => {
                format!("OAuthForbidden: You are missing the following scopes - {scope}")
            }
            Self::NotFound(what) => {
                format!("Requested resource not found: The {what} cannot be found")
            }
            Self::MethodNotAllowed => "Bad Request: Method not allowed on this resource".to_owned(),
            Self::TooManyRequests { .. } => "Too Many Requests".to_owned(),
            Self::Conflict(why) => format!("Conflict: {why}"),
            Self::Unavailable(_) => {
                "Service temporarily unavailable. Please try again later.".to_owned()
            }
            Self::Internal(_) => "An Internal Error occurred".to_owned(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    code: &'static str,
    message: String,
    external_reference: Option<&'a str>,
    details: &'a [FieldError],
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %with_causes(&self), "request failed");
        }
        let details: &[FieldError] = match &self {
            Self::Validation(details) => details,
            _ => &[],
        };
        let body = ErrorBody {
            code: self.code(),
            message: self.message(),
            external_reference: None,
            details,
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Self::TooManyRequests { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

// The conversions from the lower layers' errors, in one place: a dependency that is down or
// full is 503 (Webflow's `service_unavailable`, S3's `ServiceUnavailable`) everywhere; anything
// else unexpected is a 500 whose cause is logged.

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        if crate::meta::sqlx_is_unavailable(&err) {
            Self::Unavailable(err.to_string())
        } else {
            Self::internal(err)
        }
    }
}

impl From<MetaError> for Error {
    fn from(err: MetaError) -> Self {
        match err {
            MetaError::UnknownSite(_) => Self::NotFound("site"),
            MetaError::Conflict(why) => Self::Conflict(why),
            // Both come from a request's `parentFolder` (a move of an asset or a folder).
            MetaError::UnknownFolder(_) => Self::Validation(vec![FieldError::new(
                "parentFolder",
                "No asset folder with this id in this site",
            )]),
            MetaError::FolderCycle => Self::Validation(vec![FieldError::new(
                "parentFolder",
                "A folder cannot be moved into itself or one of its descendants",
            )]),
            MetaError::FolderNotEmpty => Self::Conflict(
                "the folder has subfolders or assets; delete with ?recursive=true to remove them too"
                    .to_owned(),
            ),
            MetaError::NotUploaded => Self::Conflict(
                "the asset's file has not been uploaded yet; upload it before replacing it"
                    .to_owned(),
            ),
            MetaError::Unavailable(why) => Self::Unavailable(why),
            MetaError::Backend(e) => e.into(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        if err.is_unavailable() {
            Self::Unavailable(err.to_string())
        } else {
            Self::internal(err)
        }
    }
}

impl From<ConfirmError> for Error {
    fn from(err: ConfirmError) -> Self {
        match err {
            // A pending asset whose object cannot be looked at may well exist: not a 404.
            ConfirmError::Unavailable(_) | ConfirmError::NoAnswer(_) | ConfirmError::Stopped => {
                Self::Unavailable(err.to_string())
            }
            ConfirmError::Failed(_) => Self::internal(err),
        }
    }
}

impl From<MetaError> for S3Error {
    fn from(err: MetaError) -> Self {
        Error::from(err).into()
    }
}

impl From<StoreError> for S3Error {
    fn from(err: StoreError) -> Self {
        Error::from(err).into()
    }
}

impl From<std::io::Error> for S3Error {
    fn from(err: std::io::Error) -> Self {
        StoreError::Io(err).into()
    }
}

impl From<Error> for S3Error {
    fn from(err: Error) -> Self {
        match err {
            Error::Unavailable(why) => Self::Unavailable(why),
            other => Self::Internal(Box::new(other)),
        }
    }
}

/// The result type of request handling.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the S3 POST endpoint and object reads can fail with, rendered as S3's XML
/// `<Error><Code>…</Code><Message>…</Message></Error>` because S3 clients parse that format
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html>).
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// The form failed signature or policy verification.
    #[error(transparent)]
    Verify(#[from] s3post::VerifyError),
    /// An S3 additional checksum is malformed, ambiguous or does not match the bytes.
    #[error(transparent)]
    Checksum(#[from] s3post::ChecksumError),
    /// The request is not multipart/form-data.
    #[error("Bucket POST must be of the enclosure-type multipart/form-data")]
    NotMultipart,
    /// The body is not well-formed multipart.
    #[error("The body of your POST request is not well-formed multipart/form-data: {0}")]
    MalformedPost(String),
    /// The body ended before the form did (truncated upload, client gone).
    #[error("You did not provide the number of bytes specified by the Content-Length HTTP header")]
    IncompleteBody,
    /// The client sends too slowly: its form fields did not arrive within the body idle
    /// timeout, or its file falls below the minimum rate.
    #[error(
        "Your socket connection to the server was not read from or written to within the timeout period."
    )]
    RequestTimeout,
    /// More than 20 KB of form fields.
    #[error("Your POST request fields preceding the upload file were too large.")]
    MaxPostPreDataLengthExceeded,
    /// No file, or more than one.
    #[error("POST requires exactly one file upload per request.")]
    IncorrectNumberOfFiles,
    /// A field is not UTF-8 or otherwise unusable.
    #[error("{0}")]
    InvalidArgument(String),
    /// The file is larger than the policy allows.
    #[error("Your proposed upload exceeds the maximum allowed size")]
    EntityTooLarge,
    /// The file is smaller than the policy allows.
    #[error("Your proposed upload is smaller than the minimum allowed size")]
    EntityTooSmall,
    /// The file's MD5 is not the `fileHash` promised at create time.
    #[error("The Content-MD5 you specified did not match what we received.")]
    BadDigest,
    /// No asset awaits this key (unknown or deleted asset).
    #[error("Access Denied: no asset awaits an upload to this key")]
    NoUploadExpected,
    /// The bucket is not this service's.
    #[error("The specified bucket does not exist")]
    NoSuchBucket,
    /// The object does not exist.
    #[error("The specified key does not exist.")]
    NoSuchKey,
    /// A dependency (database, blob store, disk space) is down or full; logged, not returned.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A failure on our side; logged with its causes, not returned.
    #[error("internal error: {0}")]
    Internal(#[source] BoxError),
}

impl S3Error {
    /// Wraps an unexpected failure, keeping its sources.
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        Self::Internal(cause.into())
    }

    /// S3's error code and HTTP status for this error.
    pub fn code_and_status(&self) -> (&'static str, StatusCode) {
        match self {
            Self::Verify(e) => {
                let status = match e.code() {
                    "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied" => {
                        StatusCode::FORBIDDEN
                    }
                    _ => StatusCode::BAD_REQUEST,
                };
                (e.code(), status)
            }
            Self::Checksum(e) => (e.code(), StatusCode::BAD_REQUEST),
            Self::NotMultipart => ("PreconditionFailed", StatusCode::PRECONDITION_FAILED),
            Self::MalformedPost(_) => ("MalformedPOSTRequest", StatusCode::BAD_REQUEST),
            Self::IncompleteBody => ("IncompleteBody", StatusCode::BAD_REQUEST),
            Self::RequestTimeout => ("RequestTimeout", StatusCode::BAD_REQUEST),
            Self::MaxPostPreDataLengthExceeded => {
                ("MaxPostPreDataLengthExceeded", StatusCode::BAD_REQUEST)
            }
            Self::IncorrectNumberOfFiles => (
                "IncorrectNumberOfFilesInPostRequest",
                StatusCode::BAD_REQUEST,
            ),
            Self::InvalidArgument(_) => ("InvalidArgument", StatusCode::BAD_REQUEST),
            Self::EntityTooLarge => ("EntityTooLarge", StatusCode::BAD_REQUEST),
            Self::EntityTooSmall => ("EntityTooSmall", StatusCode::BAD_REQUEST),
            Self::BadDigest => ("BadDigest", StatusCode::BAD_REQUEST),
            Self::NoUploadExpected => ("AccessDenied", StatusCode::FORBIDDEN),
            Self::NoSuchBucket => ("NoSuchBucket", StatusCode::NOT_FOUND),
            Self::NoSuchKey => ("NoSuchKey", StatusCode::NOT_FOUND),
            Self::Unavailable(_) => ("ServiceUnavailable", StatusCode::SERVICE_UNAVAILABLE),
            Self::Internal(_) => ("InternalError", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

/// Escapes text for an XML element body (quotes need no escaping there, and S3 clients expect
/// `<ETag>"…"</ETag>` verbatim).
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

impl IntoResponse for S3Error {
    fn into_response(self) -> Response {
        let (code, status) = self.code_and_status();
        let message = if let Self::Unavailable(why) = &self {
            tracing::warn!(error = %why, "S3 request failed: a dependency is unavailable");
            "Service is unable to handle request.".to_owned()
        } else if status.is_server_error() {
            tracing::error!(error = %with_causes(&self), "S3 request failed");
            "We encountered an internal error. Please try again.".to_owned()
        } else {
            self.to_string()
        };
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message></Error>",
            xml_escape(&message)
        );
        (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            )],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_keeps_its_causes_for_the_log() {
        let disk = std::io::Error::other("disk on fire");
        let err = Error::from(StoreError::Io(disk));
        assert!(matches!(err, Error::Internal(_)));
        let logged = with_causes(&err);
        assert!(logged.starts_with("internal error: "), "{logged}");
        assert!(logged.contains("disk on fire"), "{logged}");
        // The body stays generic.
        assert_eq!(err.message(), "An Internal Error occurred");
    }
}
