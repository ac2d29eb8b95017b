//! Command-line flags and their `ASSETD_*` environment equivalents, read once at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use s3post::signing::SecretKey;

use crate::ids::ObjectId;
use crate::scopes::Scopes;
use crate::storage::s3::S3Config;

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

    /// PostgreSQL URL for metadata (`postgres://…`); without it, SQLite in the data directory.
    #[arg(long, env = "ASSETD_DATABASE_URL", global = true)]
    pub database_url: Option<String>,

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
    Serve(Box<ServeArgs>),
    /// Manage sites.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Upload files (directories recursively) through any Webflow-compatible API; prints one
    /// line per file with its hostedUrl.
    Upload(UploadArgs),
    /// Copy a site's folders and assets (bytes, names, alt texts) from one Webflow-compatible
    /// API to another, keeping ids where the destination allows it; resumable. With
    /// `--rewrite`, replace source URLs by destination URLs in exported files instead.
    Import(Box<ImportArgs>),
    /// Make an image's responsive variants into a directory, exactly as the service would (to
    /// preview them, or to benchmark variant making alone).
    Variants(VariantsArgs),
    /// Copy the data directory (database, objects, credentials) consistently while the service
    /// runs, with a manifest of every file's size and MD5. Embedded configuration only.
    Backup(BackupArgs),
    /// Restore a backup into `--data-dir`, which must be empty or absent; refuses a backup that
    /// does not match its manifest.
    Restore(RestoreArgs),
    /// Re-read every stored original and variant and check its size and MD5; report missing
    /// and damaged objects, objects no row knows and uploads stuck pending. Exits 1 if anything
    /// is wrong.
    Verify(Box<VerifyArgs>),
}

/// `assetd backup` flags.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Directory the backup is written to: absent or empty.
    #[arg(long)]
    pub out: PathBuf,

    /// Copy every object, even where a hard link would do (a hard link shares the live file's
    /// disk blocks: it survives a delete, not a failed disk).
    #[arg(long)]
    pub copy: bool,

    /// Where asset bytes live (as for `serve`); only the embedded store can be backed up here.
    #[arg(long, env = "ASSETD_STORAGE", value_enum, default_value = "embedded")]
    pub storage: StorageKind,
}

/// `assetd restore` flags (the target is `--data-dir`).
#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// The backup directory.
    #[arg(long)]
    pub from: PathBuf,
}

/// `assetd verify` flags.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Mark assets whose bytes are missing or damaged failed, and remove orphans.
    #[arg(long)]
    pub repair: bool,

    /// Read every object, even where S3's ETag is its MD5 (single-part uploads).
    #[arg(long)]
    pub full: bool,

    /// One JSON object per finding, and a summary line, on stdout.
    #[arg(long)]
    pub json: bool,

    /// The service's flags: verify reads the storage ones (`--storage`, `--s3-*`, `--bucket`),
    /// so it takes whatever `serve` is given, environment included.
    #[command(flatten, next_help_heading = "Service flags (as for serve)")]
    pub serve: ServeArgs,
}

/// `assetd variants` flags.
#[derive(Debug, Clone, Args)]
pub struct VariantsArgs {
    /// A PNG, JPEG, WebP or GIF file.
    pub file: PathBuf,

    /// Directory the variants are written to (`{stem}-p-{width}.{ext}`).
    #[arg(long)]
    pub out: PathBuf,

    /// Refuse images with more pixels than this.
    #[arg(long, default_value_t = 40_000_000)]
    pub max_pixels: u64,

    /// Encodings to make, as `serve --variant-formats`: `original`, or `original,webp`.
    #[arg(long, value_delimiter = ',', default_value = "original")]
    pub variant_formats: Vec<VariantFormatArg>,
}

/// `assetd upload` flags.
#[derive(Debug, Clone, Args)]
pub struct UploadArgs {
    /// Files or directories to upload.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// Site id.
    #[arg(long, env = "ASSETD_SITE_ID")]
    pub site: String,

    /// Folder id to place the assets in.
    #[arg(long)]
    pub folder: Option<String>,

    /// API base URL, ending in /v2.
    #[arg(
        long,
        env = "ASSETD_API_URL",
        default_value = "http://127.0.0.1:8080/v2"
    )]
    pub api: String,

    /// API token with assets:write.
    #[arg(long, env = "ASSETD_TOKEN", hide_env_values = true)]
    pub token: String,

    /// Files uploaded in parallel.
    #[arg(short = 'j', long, default_value_t = 4)]
    pub jobs: usize,

    /// Print one JSON object per file instead of `path<TAB>hostedUrl`.
    #[arg(long)]
    pub json: bool,
}

/// Whether `assetd import` keeps the source's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IdPolicy {
    /// Keep them where the destination allows it (assetd with `assets:import`), else map.
    Auto,
    /// Keep them or fail (CMS items must keep working).
    Keep,
    /// Let the destination choose new ids; the map file relates them.
    Map,
}

/// `assetd import` flags.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Source API base URL, ending in /v2 (`https://api.webflow.com/v2` for Webflow).
    #[arg(long, env = "ASSETD_FROM_API")]
    pub from_api: Option<String>,

    /// Source API token with assets:read.
    #[arg(long, env = "ASSETD_FROM_TOKEN", hide_env_values = true)]
    pub from_token: Option<String>,

    /// Source site id.
    #[arg(long, env = "ASSETD_FROM_SITE")]
    pub from_site: Option<String>,

    /// Destination API base URL, ending in /v2.
    #[arg(long, env = "ASSETD_TO_API")]
    pub to_api: Option<String>,

    /// Destination API token with assets:read and assets:write (and assets:import to keep ids
    /// on an assetd).
    #[arg(long, env = "ASSETD_TO_TOKEN", hide_env_values = true)]
    pub to_token: Option<String>,

    /// Destination site id.
    #[arg(long, env = "ASSETD_TO_SITE")]
    pub to_site: Option<String>,

    /// Whether ids are kept.
    #[arg(long, env = "ASSETD_IMPORT_IDS", value_enum, default_value = "auto")]
    pub ids: IdPolicy,

    /// The state file that makes a rerun continue where the last run stopped (default
    /// `assetd-import-{fromSite}-{toSite}.state` in the current directory).
    #[arg(long, env = "ASSETD_IMPORT_STATE")]
    pub state: Option<PathBuf>,

    /// Write the map of source to destination ids and URLs here (`.csv` or `.json`); with
    /// `--rewrite`, the map to read.
    #[arg(long, env = "ASSETD_IMPORT_MAP")]
    pub map: Option<PathBuf>,

    /// Assets downloaded and uploaded at once.
    #[arg(short = 'j', long, env = "ASSETD_IMPORT_JOBS", default_value_t = 4)]
    pub jobs: usize,

    /// Print what would be done, and do nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// One JSON object per line (each asset and folder, then the summary).
    #[arg(long)]
    pub json: bool,

    /// How long to wait at the end for the destination to list every imported asset (one on S3
    /// storage confirms uploads in the background) and, with `--map`, their responsive variants,
    /// so the map can pair them with the source's.
    #[arg(long, env = "ASSETD_IMPORT_VARIANT_WAIT_SECS", default_value_t = 30)]
    pub variant_wait_secs: u64,

    /// Instead of importing: rewrite these exported HTML, CSV or JSON files, replacing every
    /// source URL of `--map` by its destination URL. Writes `NAME.rewritten.EXT` beside each
    /// file (or into `--out-dir`); the originals are never touched.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub rewrite: Vec<PathBuf>,

    /// With `--rewrite`: the directory the rewritten files go to.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
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
    /// List sites: id, name, created, assets, and whether it is being deleted.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete a site: every asset, variant, folder, token grant and stored byte of it. Safe to
    /// interrupt: running it again, or the service's sweep, finishes the deletion.
    Delete {
        /// The site's id.
        site_id: ObjectId,
        /// Where the site's bytes live (the same flags as `serve`).
        #[command(flatten)]
        store: StorageArgs,
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
        /// Scopes, comma-separated: assets:read, assets:write, assets:import (choose the ids of new
        /// assets and folders, for `assetd import`).
        #[arg(long, default_value = "assets:read,assets:write")]
        scope: Scopes,
        /// The token stops working after this long (`90m`, `12h`, `30d`, `2w`); default never.
        #[arg(long, value_parser = crate::timestamp::parse_duration)]
        expires_in: Option<std::time::Duration>,
    },
    /// List tokens: id, scopes, sites, created, last used, expiry (never the token itself).
    List {
        /// Only tokens that may see this site.
        #[arg(long)]
        site: Option<ObjectId>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (from `assetd token list`): it gets 401 on every node within
    /// `--token-cache-secs`.
    Revoke {
        /// The token's id.
        token_id: ObjectId,
    },
}

/// Where asset bytes live: the flags of `serve`, and of the commands that reach the bytes
/// (`site delete`).
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Where asset bytes live: the embedded store in the data directory, or an S3 service.
    #[arg(long, env = "ASSETD_STORAGE", value_enum, default_value = "embedded")]
    pub storage: StorageKind,

    /// Bucket name (of the embedded store, or of the S3 service).
    #[arg(long, env = "ASSETD_BUCKET", default_value = "assetd")]
    pub bucket: String,

    /// Region uploads are signed for.
    #[arg(long, env = "ASSETD_S3_REGION", default_value = "us-east-1")]
    pub region: String,

    /// S3 endpoint URL, e.g. `https://s3.eu-west-3.amazonaws.com` or `http://127.0.0.1:9000`.
    #[arg(long, env = "ASSETD_S3_ENDPOINT", required_if_eq("storage", "s3"))]
    pub s3_endpoint: Option<String>,

    /// S3 access key id.
    #[arg(long, env = "ASSETD_S3_ACCESS_KEY_ID", required_if_eq("storage", "s3"))]
    pub s3_access_key_id: Option<String>,

    /// S3 secret access key.
    #[arg(
        long,
        env = "ASSETD_S3_SECRET_ACCESS_KEY",
        required_if_eq("storage", "s3"),
        hide_env_values = true
    )]
    pub s3_secret_access_key: Option<String>,

    /// S3 addressing: `path` (`{endpoint}/{bucket}/{key}`) or `virtual` (`{bucket}.{host}/{key}`).
    #[arg(long, env = "ASSETD_S3_ADDRESSING", value_enum, default_value = "path")]
    pub s3_addressing: S3Addressing,

    /// Public or CDN base URL objects are read from (`{base}/{key}`) instead of the S3 URL.
    #[arg(long, env = "ASSETD_S3_PUBLIC_URL")]
    pub s3_public_url: Option<String>,

    /// With S3 storage, what `hostedUrl` points at: `assetd` streams the bytes from S3 through
    /// `/files/…` with the embedded delivery's headers; `public` is the object's public/CDN URL.
    #[arg(long, env = "ASSETD_HOSTED_URLS", value_enum, default_value = "assetd")]
    pub hosted_urls: HostedUrls,
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

    /// Requests per window per token (and per client address for unauthenticated requests).
    #[arg(long, env = "ASSETD_RATE_LIMIT_PER_MINUTE", default_value_t = 120)]
    pub rate_limit_per_minute: u32,

    /// Length of the rate-limit window in seconds (Webflow's is a minute).
    #[arg(long, env = "ASSETD_RATE_LIMIT_WINDOW_SECS", default_value_t = 60)]
    pub rate_limit_window_secs: u64,

    /// Redis URL (`redis://127.0.0.1:6379`) to share rate-limit counts between nodes; without
    /// it every node counts on its own.
    #[arg(long, env = "ASSETD_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Seconds a node reuses a token's grant (scopes, sites) before reading it again; 0 reads it
    /// on every request.
    #[arg(long, env = "ASSETD_TOKEN_CACHE_SECS", default_value_t = 10)]
    pub token_cache_secs: u64,

    /// Seconds a client has to send its request headers (slow-client protection).
    #[arg(long, env = "ASSETD_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,

    /// Seconds an upload body may stall (no bytes arriving) before the upload is cut off.
    #[arg(long, env = "ASSETD_BODY_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub body_idle_timeout_secs: u64,

    /// Seconds a connection with no request in flight stays open before it is closed (HTTP/2;
    /// an idle HTTP/1 connection is closed after the header timeout, which starts right after
    /// each response).
    #[arg(long, env = "ASSETD_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,

    /// Most connections open at once; past that, a new connection takes the place of the one
    /// idle longest, and is refused only when every connection has a request in flight.
    #[arg(long, env = "ASSETD_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Largest image upload in bytes (Webflow: 4 MB).
    #[arg(long, env = "ASSETD_IMAGE_MAX_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub image_max_bytes: u64,

    /// Largest document upload in bytes (Webflow: 10 MB).
    #[arg(long, env = "ASSETD_DOCUMENT_MAX_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub document_max_bytes: u64,

    /// Seconds an upload policy stays valid; a pending asset is removed after that.
    #[arg(long, env = "ASSETD_UPLOAD_EXPIRY_SECS", default_value_t = 3600)]
    pub upload_expiry_secs: u64,

    /// Where asset bytes live.
    #[command(flatten)]
    pub store: StorageArgs,

    /// Cache-Control pinned in upload policies and served with assets.
    #[arg(
        long,
        env = "ASSETD_CACHE_CONTROL",
        default_value = "max-age=31536000, must-revalidate"
    )]
    pub cache_control: String,

    /// Seconds delivery remembers a served object (key, type, MD5, size and, for objects up to
    /// 64 KiB, the bytes); a delete on another node can go unnoticed here this long. 0 = off.
    #[arg(long, env = "ASSETD_DELIVERY_CACHE_SECS", default_value_t = 10)]
    pub delivery_cache_secs: u64,

    /// Memory the delivery cache may use, in MiB.
    #[arg(long, env = "ASSETD_DELIVERY_CACHE_MIB", default_value_t = 64)]
    pub delivery_cache_mib: usize,

    /// Image variant workers: how many images are resized at once (each holds one decoded
    /// image in memory); 0 turns variant making off.
    #[arg(long, env = "ASSETD_VARIANT_WORKERS", default_value_t = 1)]
    pub variant_workers: usize,

    /// Images with more pixels than this get a recorded error instead of variants (protects
    /// against decompression bombs: 40 M pixels decode to 160 MB of RGBA).
    #[arg(long, env = "ASSETD_VARIANT_MAX_PIXELS", default_value_t = 40_000_000)]
    pub variant_max_pixels: u64,

    /// Encodings of image variants, comma-separated: `original` (the image's own format, as
    /// Webflow makes them; always) and `webp` (a lossy WebP beside it at each width, listed with
    /// `format: "webp"`: an assetd extension).
    #[arg(
        long,
        env = "ASSETD_VARIANT_FORMATS",
        value_delimiter = ',',
        default_value = "original"
    )]
    pub variant_formats: Vec<VariantFormatArg>,

    /// Seconds between clean-up sweeps (expired pending assets, queued blob deletions).
    #[arg(long, env = "ASSETD_SWEEP_INTERVAL_SECS", default_value_t = 60)]
    pub sweep_interval_secs: u64,

    /// Address ranges webhooks may target although they are internal (loopback, private,
    /// link-local, unique-local, CGNAT, metadata…), as CIDRs, comma-separated
    /// (`127.0.0.0/8,10.1.0.0/16`). Without it, such targets are refused.
    #[arg(long, env = "ASSETD_WEBHOOK_ALLOW", value_delimiter = ',')]
    pub webhook_allow: Vec<String>,

    /// Seconds a webhook delivery attempt may take (connect, send, response head).
    #[arg(long, env = "ASSETD_WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
    pub webhook_timeout_secs: u64,

    /// Webhook deliveries in flight at once, per node.
    #[arg(long, env = "ASSETD_WEBHOOK_CONCURRENCY", default_value_t = 16)]
    pub webhook_concurrency: usize,

    /// Milliseconds before the first retry of a failed webhook delivery; each further retry
    /// waits twice as long, up to `--webhook-retry-max-secs`.
    #[arg(long, env = "ASSETD_WEBHOOK_RETRY_BASE_MS", default_value_t = 5000)]
    pub webhook_retry_base_ms: u64,

    /// Longest wait between two attempts of a webhook delivery, in seconds.
    #[arg(long, env = "ASSETD_WEBHOOK_RETRY_MAX_SECS", default_value_t = 3600)]
    pub webhook_retry_max_secs: u64,

    /// Seconds after an event its webhook delivery is given up (default 24 h).
    #[arg(long, env = "ASSETD_WEBHOOK_GIVE_UP_SECS", default_value_t = 86_400)]
    pub webhook_give_up_secs: u64,

    /// Serve the upload page's files from this directory instead of the copies compiled into
    /// the binary (for working on the page without rebuilding).
    #[arg(long, env = "ASSETD_WEB_DIR")]
    pub web_dir: Option<PathBuf>,

    /// Origins allowed to post upload forms and read assets from a browser (comma-separated,
    /// `*` for any).
    #[arg(
        long,
        env = "ASSETD_CORS_ALLOWED_ORIGINS",
        value_delimiter = ',',
        default_value = "*"
    )]
    pub cors_allowed_origins: Vec<String>,

    /// A throwaway instance, as a test double for CI: a temporary data directory (SQLite and
    /// the embedded store) removed at exit, ignoring `--data-dir`.
    #[arg(long, env = "ASSETD_EPHEMERAL")]
    pub ephemeral: bool,

    /// With `--ephemeral`: the id of the one site (24 hex digits), so tests can hard-code it.
    #[arg(long, env = "ASSETD_EPHEMERAL_SITE_ID", requires = "ephemeral")]
    pub site_id: Option<ObjectId>,

    /// With `--ephemeral`: the API token for that site (no whitespace).
    #[arg(
        long,
        env = "ASSETD_EPHEMERAL_TOKEN",
        requires = "ephemeral",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// With `--ephemeral`: print `{"url","apiBase","siteId","token"}` as one JSON line on
    /// stdout once the service accepts requests.
    #[arg(long, requires = "ephemeral")]
    pub print_json: bool,
}

/// Where asset bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StorageKind {
    /// Files under `<data-dir>/objects`, uploaded through assetd's own S3 POST endpoint.
    Embedded,
    /// An S3 service; uploads go straight to it.
    S3,
}

/// What bounds the image variant workers (how many, and the largest image in pixels they
/// decode) and which encodings they make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariantSettings {
    /// Concurrent workers; 0 turns variant making off (jobs stay queued).
    pub workers: usize,
    /// Images with more pixels get a recorded error instead of variants.
    pub max_pixels: u64,
    /// The encodings each width gets.
    pub formats: crate::variant_plan::VariantFormats,
}

/// One value of `--variant-formats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VariantFormatArg {
    /// The image's own format (PNG, JPEG, WebP or GIF), as Webflow makes them.
    Original,
    /// A lossy WebP beside it.
    Webp,
}

/// The encodings `--variant-formats` asks for. `original` must be among them: the same-format
/// variants are what Webflow makes and what clients of its API expect in `variants`.
pub fn variant_formats(
    args: &[VariantFormatArg],
) -> Result<crate::variant_plan::VariantFormats, ConfigError> {
    if !args.contains(&VariantFormatArg::Original) {
        return Err(ConfigError::VariantFormats);
    }
    Ok(crate::variant_plan::VariantFormats {
        webp: args.contains(&VariantFormatArg::Webp),
    })
}

/// How webhooks are delivered (see `webhooks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// The internal ranges webhooks may target anyway.
    pub allow: crate::webhook_targets::AddressPolicy,
    /// Longest attempt.
    pub timeout: Duration,
    /// Attempts in flight at once.
    pub concurrency: usize,
    /// Wait before the first retry.
    pub retry_base: Duration,
    /// Longest wait between attempts.
    pub retry_max: Duration,
    /// How long after its event a delivery is given up.
    pub give_up_after: Duration,
}

/// Where asset bytes live, read once from the flags: every other part of assetd asks this
/// instead of the flags.
#[derive(Debug, Clone)]
pub enum StorageConfig {
    /// The embedded store in the data directory; assetd receives uploads itself.
    Embedded,
    /// An S3 service; clients upload straight to it.
    S3(S3Config),
}

impl StorageConfig {
    /// The storage `args` ask for; S3 needs its endpoint and both keys.
    pub fn from_args(args: &StorageArgs) -> Result<Self, ConfigError> {
        if args.storage == StorageKind::Embedded {
            return Ok(Self::Embedded);
        }
        let required =
            |value: &Option<String>, flag| value.clone().ok_or(ConfigError::S3Flag(flag));
        Ok(Self::S3(S3Config {
            endpoint: required(&args.s3_endpoint, "--s3-endpoint")?,
            region: args.region.clone(),
            bucket: args.bucket.clone(),
            access_key_id: required(&args.s3_access_key_id, "--s3-access-key-id")?,
            secret_access_key: SecretKey::new(required(
                &args.s3_secret_access_key,
                "--s3-secret-access-key",
            )?),
            virtual_hosted: args.s3_addressing == S3Addressing::Virtual,
        }))
    }
}

/// Why the flags do not make a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An S3 flag is missing.
    #[error("{0} is required with --storage s3")]
    S3Flag(&'static str),
    /// A base URL is not usable.
    #[error(transparent)]
    BaseUrl(#[from] crate::urls::BadBaseUrl),
    /// `--variant-formats` leaves out `original`.
    #[error("--variant-formats must include original (e.g. original,webp)")]
    VariantFormats,
    /// A `--webhook-allow` range is not a CIDR.
    #[error(transparent)]
    WebhookAllow(#[from] crate::webhook_targets::BadRange),
}

/// S3 URL style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum S3Addressing {
    /// `{endpoint}/{bucket}/{key}`.
    Path,
    /// `{scheme}://{bucket}.{host}/{key}`.
    Virtual,
}

/// What `hostedUrl` points at with S3 storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HostedUrls {
    /// assetd's `/files/…`, streamed from S3.
    Assetd,
    /// The object's public/CDN URL.
    Public,
}

/// Run-time settings of the HTTP service, derived from [`ServeArgs`] and the bound address.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Public base URL without a trailing slash.
    pub public_url: String,
    /// Requests per window per token.
    pub rate_limit_per_minute: u32,
    /// The rate-limit window.
    pub rate_limit_window: Duration,
    /// How long a token grant is reused.
    pub token_cache_ttl: Duration,
    /// Time allowed for request headers.
    pub header_read_timeout: Duration,
    /// Longest stall of a request body, or of a response the client stopped reading.
    pub body_idle_timeout: Duration,
    /// Longest time a connection stays open with no request in flight.
    pub idle_timeout: Duration,
    /// Most open connections.
    pub max_connections: usize,
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
    /// Where clients upload to and read from.
    pub urls: crate::urls::UrlPlan,
    /// Directory the upload page is served from, if not from the binary.
    pub web_dir: Option<PathBuf>,
    /// Where asset bytes live.
    pub storage: StorageConfig,
    /// The image variant workers.
    pub variants: VariantSettings,
    /// How long delivery caches an object.
    pub delivery_cache_ttl: Duration,
    /// Bytes the delivery cache may hold.
    pub delivery_cache_bytes: usize,
    /// Webhook delivery.
    pub webhooks: WebhookSettings,
}

impl Settings {
    /// Settings for a service bound at `bound`.
    pub fn new(args: &ServeArgs, bound: SocketAddr) -> Result<Self, ConfigError> {
        let public_url = args
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
            .trim_end_matches('/')
            .to_owned();
        let storage = StorageConfig::from_args(&args.store)?;
        let urls = match &storage {
            StorageConfig::S3(s3) => crate::urls::UrlPlan::s3(
                &s3.endpoint,
                &s3.bucket,
                s3.virtual_hosted,
                args.store.s3_public_url.as_deref(),
                args.store.hosted_urls == HostedUrls::Assetd,
                &public_url,
            )?,
            StorageConfig::Embedded => {
                crate::urls::UrlPlan::embedded(&public_url, &args.store.bucket)
            }
        };
        Ok(Self {
            urls,
            storage,
            web_dir: args.web_dir.clone(),
            public_url,
            rate_limit_per_minute: args.rate_limit_per_minute,
            rate_limit_window: Duration::from_secs(args.rate_limit_window_secs.max(1)),
            token_cache_ttl: Duration::from_secs(args.token_cache_secs),
            header_read_timeout: Duration::from_secs(args.header_read_timeout_secs.max(1)),
            body_idle_timeout: Duration::from_secs(args.body_idle_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(args.idle_timeout_secs.max(1)),
            max_connections: args.max_connections,
            image_max_bytes: args.image_max_bytes,
            document_max_bytes: args.document_max_bytes,
            upload_expiry: Duration::from_secs(args.upload_expiry_secs.max(1)),
            bucket: args.store.bucket.clone(),
            region: args.store.region.clone(),
            cache_control: args.cache_control.clone(),
            cors_allowed_origins: args.cors_allowed_origins.clone(),
            delivery_cache_ttl: Duration::from_secs(args.delivery_cache_secs),
            delivery_cache_bytes: args.delivery_cache_mib.saturating_mul(1024 * 1024),
            variants: VariantSettings {
                workers: args.variant_workers,
                max_pixels: args.variant_max_pixels,
                formats: variant_formats(&args.variant_formats)?,
            },
            webhooks: WebhookSettings {
                allow: crate::webhook_targets::AddressPolicy::new(&args.webhook_allow)?,
                timeout: Duration::from_secs(args.webhook_timeout_secs.max(1)),
                concurrency: args.webhook_concurrency.max(1),
                retry_base: Duration::from_millis(args.webhook_retry_base_ms.max(1)),
                retry_max: Duration::from_secs(args.webhook_retry_max_secs.max(1)),
                give_up_after: Duration::from_secs(args.webhook_give_up_secs),
            },
        })
    }
}

impl Settings {
    /// Whether uploads bypass assetd (S3 storage), so assetd confirms them by looking at the
    /// object (HEAD) instead of receiving them.
    pub fn uploads_bypass_assetd(&self) -> bool {
        matches!(self.storage, StorageConfig::S3(_))
    }

    /// The size limit of a file class.
    pub fn max_bytes(&self, class: crate::file_types::FileClass) -> u64 {
        match class {
            crate::file_types::FileClass::Image => self.image_max_bytes,
            crate::file_types::FileClass::Document => self.document_max_bytes,
        }
    }
}

impl ServeArgs {
    /// The flags `assetd serve` would have with these command-line arguments (for tests).
    pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: ServeArgs,
        }
        Only::parse_from(std::iter::once("assetd".to_owned()).chain(args)).args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_formats_default_to_the_original_and_must_keep_it() {
        let formats = |flags: &[&str]| {
            let args = ServeArgs::parse_args(flags.iter().map(|f| (*f).to_owned()));
            variant_formats(&args.variant_formats)
        };
        assert_eq!(
            formats(&[]).ok(),
            Some(crate::variant_plan::VariantFormats { webp: false })
        );
        assert_eq!(
            formats(&["--variant-formats", "original,webp"]).ok(),
            Some(crate::variant_plan::VariantFormats { webp: true })
        );
        assert!(matches!(
            formats(&["--variant-formats", "webp"]),
            Err(ConfigError::VariantFormats)
        ));
    }
}
