//! Pure protocol code for AWS S3 browser uploads ("POST Object" with a SigV4-signed POST policy).
//!
//! This crate owns the byte-level parts of the protocol and nothing else: it never touches a
//! socket, a file or the system clock. Callers pass "now" in, so every function is deterministic
//! and can be checked against published vectors.
//!
//! - [`signing`]: secret keys, credential scopes, and the SigV4 signing key derivation.
//! - [`policy`]: the POST policy document (expiration + conditions), encoding and strict parsing.
//! - [`presign`]: building the signed form fields a client posts to S3.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use s3post::policy::Condition;
//! use s3post::presign::presign_post;
//! use s3post::signing::{CredentialScope, SecretKey, SigningKey};
//!
//! let now = Utc.with_ymd_and_hms(2015, 12, 29, 0, 0, 0).unwrap();
//! let scope = CredentialScope::s3(now.date_naive(), "us-east-1");
//! let key = SigningKey::derive(&SecretKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), scope);
//! let post = presign_post(
//!     &key,
//!     "AKIAIOSFODNN7EXAMPLE",
//!     now,
//!     now + chrono::Duration::hours(1),
//!     vec![Condition::eq("bucket", "examplebucket"), Condition::eq("key", "a.png")],
//! )
//! .unwrap();
//! assert_eq!(post.signature.len(), 64);
//! assert_eq!(post.credential, "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request");
//! ```
#![deny(missing_docs)]

pub mod checksum;
pub mod error;
pub mod json;
pub mod policy;
pub mod presign;
pub mod signing;
pub mod timefmt;
pub mod verify;

pub use checksum::{ChecksumAlgorithm, ChecksumError, Checksummer, ExpectedChecksum};
pub use error::{PolicyError, PresignError};
pub use verify::{PostRequest, VerifiedPost, VerifyError, verify_post};
