//! The client side of the two-step Webflow Assets upload, as `assetd upload` runs it.
//!
//! It talks only HTTP, so it works against any Webflow-compatible API, assetd included:
//! 1. stream each file once to compute its MD5 ([`files`]);
//! 2. `POST /v2/sites/{site}/assets` with `fileName`, `fileHash` and `parentFolder`;
//! 3. stream the multipart form from disk to `uploadUrl` ([`form`]), `file` last, with a known
//!    Content-Length and without holding the file in memory.
//!
//! 429s (honouring `Retry-After`) and 5xx or connection failures are retried with backoff
//! ([`retry`]).

pub mod files;
pub mod form;
pub mod retry;
pub mod upload;

pub use upload::{UploadError, UploadOptions, Uploaded, upload_all};
