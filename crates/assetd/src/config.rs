//! Command-line flags and their `ASSETD_*` environment equivalents, read once at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::ids::ObjectId;
use crate::scopes::Scopes;

/// assetd: a self-hostable, Webflow-compatible asset service.
#[derive(Debug, Parser)]
#[command(name = "assetd", version, about)]
pub struct Cli {
    /// Directory for the database, the embedded object store and its credentials.
    #[arg(
        long,
        env = "ASSETD_DATA_DIR",
        default_value = "./assetd-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Log format on stderr.
    #[arg(
        long,
        env = "ASSETD_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service.
    Serve(ServeArgs),
    /// Manage sites.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `assetd site …`
#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Create a site; prints only its id.
    Create {
        /// A name for people.
        #[arg(long)]
        name: String,
    },
}

/// `assetd token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; prints only the token, which is not stored and cannot be shown again.
    Create {
        /// A site the token may see (repeat for several).
        #[arg(long = "site", required = true)]
        sites: Vec<ObjectId>,
        /// Scopes, comma-separated: assets:read, assets:write.
        #[arg(long, default_value = "assets:read,assets:write")]
        scope: Scopes,
    },
}

/// `assetd serve` flags.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, env = "ASSETD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Base URL clients reach this service at; uploadUrl, assetUrl and hostedUrl are built on it.
    /// Defaults to `http://<listen address>`.
    #[arg(long, env = "ASSETD_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Requests per minute per token (and per client address for unauthenticated requests).
    #[arg(long, env = "ASSETD_RATE_LIMIT_PER_MINUTE", default_value_t = 120)]
    pub rate_limit_per_minute: u32,

    /// Largest image upload in bytes (Webflow: 4 MB).
    #[arg(long, env = "ASSETD_IMAGE_MAX_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub image_max_bytes: u64,

    /// Largest document upload in bytes (Webflow: 10 MB).
    #[arg(long, env = "ASSETD_DOCUMENT_MAX_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub document_max_bytes: u64,

    /// Seconds an upload policy stays valid; a pending asset is removed after that.
    #[arg(long, env = "ASSETD_UPLOAD_EXPIRY_SECS", default_value_t = 3600)]
    pub upload_expiry_secs: u64,

    /// Bucket name of the embedded object store.
    #[arg(long, env = "ASSETD_BUCKET", default_value = "assetd")]
    pub bucket: String,

    /// Region the embedded object store signs for.
    #[arg(long, env = "ASSETD_S3_REGION", default_value = "us-east-1")]
    pub region: String,

    /// Cache-Control pinned in upload policies and served with assets.
    #[arg(
        long,
        env = "ASSETD_CACHE_CONTROL",
        default_value = "max-age=31536000, must-revalidate"
    )]
    pub cache_control: String,

    /// Seconds between clean-up sweeps (expired pending assets, queued blob deletions).
    #[arg(long, env = "ASSETD_SWEEP_INTERVAL_SECS", default_value_t = 60)]
    pub sweep_interval_secs: u64,

    /// Origins allowed to post upload forms and read assets from a browser (comma-separated,
    /// `*` for any).
    #[arg(
        long,
        env = "ASSETD_CORS_ALLOWED_ORIGINS",
        value_delimiter = ',',
        default_value = "*"
    )]
    pub cors_allowed_origins: Vec<String>,
}

/// Run-time settings of the HTTP service, derived from [`ServeArgs`] and the bound address.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Public base URL without a trailing slash.
    pub public_url: String,
    /// Requests per minute per token.
    pub rate_limit_per_minute: u32,
    /// Image size limit.
    pub image_max_bytes: u64,
    /// Document size limit.
    pub document_max_bytes: u64,
    /// Upload policy lifetime.
    pub upload_expiry: Duration,
    /// Bucket of the embedded store.
    pub bucket: String,
    /// Region of the embedded store.
    pub region: String,
    /// Cache-Control for assets.
    pub cache_control: String,
    /// CORS origins for the S3 endpoint and delivery.
    pub cors_allowed_origins: Vec<String>,
}

impl Settings {
    /// Settings for a service bound at `bound`.
    pub fn new(args: &ServeArgs, bound: SocketAddr) -> Self {
        let public_url = args
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"));
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            rate_limit_per_minute: args.rate_limit_per_minute,
            image_max_bytes: args.image_max_bytes,
            document_max_bytes: args.document_max_bytes,
            upload_expiry: Duration::from_secs(args.upload_expiry_secs.max(1)),
            bucket: args.bucket.clone(),
            region: args.region.clone(),
            cache_control: args.cache_control.clone(),
            cors_allowed_origins: args.cors_allowed_origins.clone(),
        }
    }

    /// Default settings for tests: what `assetd serve` uses with no flags.
    pub fn for_tests(bound: SocketAddr) -> Self {
        let args = ServeArgs::parse_from_defaults();
        Self::new(&args, bound)
    }
}

impl ServeArgs {
    fn parse_from_defaults() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: ServeArgs,
        }
        Only::parse_from(["assetd"]).args
    }
}
