//! assetd: a self-hostable asset service that speaks Webflow's Assets API (Data API v2).
//!
//! `main.rs` only parses flags and calls [`cli::run`]; everything else lives here so tests can
//! start the real server in-process on `127.0.0.1:0`.

pub mod app;
pub mod background;
pub mod backup;
pub mod cli;
pub mod config;
pub mod confirmer;
pub mod connections;
pub mod create_request;
pub mod delivery_cache;
pub mod ephemeral;
pub mod error;
pub mod file_types;
pub mod grant_cache;
pub mod http;
pub mod ids;
pub mod import;
pub mod keys;
pub mod labels;
pub mod maintenance;
pub mod meta;
pub mod metrics;
pub mod ranges;
pub mod ratelimit;
pub mod scopes;
pub mod scrub;
pub mod server;
pub mod settle;
pub mod site_deletion;
pub mod site_listing;
pub mod state;
pub mod storage;
pub mod sweep;
pub mod text_table;
pub mod timestamp;
pub mod token_listing;
pub mod token_usage;
pub mod tokens;
pub mod upload_signer;
pub mod urls;
pub mod variant_plan;
pub mod variants;
pub mod webhook_events;
pub mod webhook_signature;
pub mod webhook_targets;
pub mod webhooks;
pub mod zero_copy;
