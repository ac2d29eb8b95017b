//! Where asset bytes live. For now: the embedded object store's credentials, which the upload
//! signer and (next) the embedded S3 POST endpoint share.

pub mod credentials;
