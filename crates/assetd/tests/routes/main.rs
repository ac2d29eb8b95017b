//! Route tests against the real server, one file per resource and verb.
#![allow(clippy::unwrap_used)]

#[path = "../util/mod.rs"]
mod util;

mod assets;
mod chosen_ids;
mod confirmer;
mod files;
mod folders;
mod health;
mod openapi;
mod s3;
mod sites;
mod sweep;
mod tokens;
mod unknown;
mod webhooks;
