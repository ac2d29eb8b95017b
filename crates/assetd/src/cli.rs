//! The subcommands. Output meant for scripts goes to stdout (ids, tokens, the listen address);
//! logs go to stderr.

use std::io::Write;

use tokio::net::TcpListener;

use crate::app;
use crate::background::Background;
use crate::config::{
    Cli, Command, IdPolicy, ImportArgs, LogFormat, ServeArgs, Settings, SiteCommand, TokenCommand,
    UploadArgs, VariantsArgs,
};
use crate::maintenance;
use crate::server;
use crate::{site_listing, token_listing};

/// Why a command failed; printed by `main` before exiting with status 1.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ASSETD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    init_logging(cli.log_format);
    // Neither needs a data directory.
    let cli = match cli.command {
        Command::Upload(args) => return upload(args).await,
        Command::Import(args) => return import(*args).await,
        Command::Variants(args) => return make_variants(&args),
        Command::Serve(args) if args.ephemeral => {
            return serve_ephemeral(cli.database_url.is_some(), *args).await;
        }
        // These run beside a live service: they open the data directory their own way.
        Command::Backup(args) => {
            return Ok(
                maintenance::backup(&cli.data_dir, cli.database_url.as_deref(), &args).await?,
            );
        }
        Command::Restore(args) => {
            return Ok(
                maintenance::restore(&cli.data_dir, cli.database_url.as_deref(), &args).await?,
            );
        }
        Command::Verify(args) => {
            return Ok(
                maintenance::verify(&cli.data_dir, cli.database_url.as_deref(), &args).await?,
            );
        }
        _ => cli,
    };
    // Only `serve` owns the embedded store's temp files; the other commands may run beside it.
    let data = if matches!(cli.command, Command::Serve(_)) {
        app::open(&cli.data_dir, cli.database_url.as_deref()).await?
    } else {
        app::open_beside(&cli.data_dir, cli.database_url.as_deref()).await?
    };
    match cli.command {
        Command::Serve(args) => serve(data, *args, None).await,
        Command::Site(SiteCommand::Create { name }) => {
            let id = app::create_site(data.meta.as_ref(), &name).await?;
            println!("{id}");
            Ok(())
        }
        Command::Site(SiteCommand::List { json }) => {
            let sites = data.meta.list_sites().await?;
            let mut out = std::io::stdout().lock();
            for line in site_listing::lines(&sites, json) {
                writeln!(out, "{line}")?;
            }
            Ok(())
        }
        Command::Site(SiteCommand::Delete { site_id, store }) => {
            let config = crate::config::StorageConfig::from_args(&store)?;
            let storage = app::Storage::open(&data, &config)?;
            let now = crate::timestamp::now();
            let Some(done) = crate::site_deletion::delete_site(
                data.meta.as_ref(),
                storage.blobs.as_ref(),
                site_id,
                now,
            )
            .await?
            else {
                return Err(format!("no site has the id {site_id}").into());
            };
            println!(
                "deleted site {site_id}: {} assets, {} folders, {} stored objects",
                done.assets, done.folders, done.objects
            );
            if done.objects_failed > 0 {
                eprintln!(
                    "assetd: {} objects could not be deleted now; the service's sweep retries them",
                    done.objects_failed
                );
            }
            Ok(())
        }
        Command::Upload(_)
        | Command::Import(_)
        | Command::Variants(_)
        | Command::Backup(_)
        | Command::Restore(_)
        | Command::Verify(_) => unreachable!("handled above"),
        Command::Token(TokenCommand::Create {
            sites,
            scope,
            expires_in,
        }) => {
            if scope.is_empty() {
                return Err("--scope must name at least one scope".into());
            }
            let token = app::create_token(data.meta.as_ref(), &sites, scope, expires_in).await?;
            println!("{}", token.as_str());
            Ok(())
        }
        Command::Token(TokenCommand::List { site, json }) => {
            let tokens = data.meta.list_tokens(site).await?;
            let mut out = std::io::stdout().lock();
            if json {
                for token in &tokens {
                    writeln!(out, "{}", token_listing::json_line(token))?;
                }
            } else {
                write!(out, "{}", token_listing::table(&tokens, chrono::Utc::now()))?;
            }
            Ok(())
        }
        Command::Token(TokenCommand::Revoke { token_id }) => {
            if !data.meta.revoke_token(token_id).await? {
                return Err(format!("no token has the id {token_id}").into());
            }
            println!("revoked {token_id}");
            Ok(())
        }
    }
}

/// How long background tasks get to finish what they are doing at shutdown (a variant job of a
/// large image takes a few seconds).
const BACKGROUND_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// `serve --ephemeral`: a fresh data directory under the system's temporary directory, one site
/// and one token (given by flags, else generated), removed at exit.
async fn serve_ephemeral(with_database: bool, args: ServeArgs) -> Result<(), CliError> {
    if with_database {
        return Err(
            "--ephemeral keeps its metadata in a temporary SQLite file; drop --database-url".into(),
        );
    }
    if args.store.storage != crate::config::StorageKind::Embedded {
        return Err(
            "--ephemeral stores bytes in its temporary directory; drop --storage s3".into(),
        );
    }
    let dir = crate::ephemeral::TempDataDir::create()?;
    let data = app::open(dir.path(), None).await?;
    let seeded =
        crate::ephemeral::seed(data.meta.as_ref(), args.site_id, args.token.as_deref()).await?;
    let announce = args.print_json.then_some(seeded);
    let served = serve(data, args, announce).await;
    // `dir` is removed when dropped, also after an error.
    drop(dir);
    served
}

async fn serve(
    data: app::DataDir,
    args: ServeArgs,
    announce: Option<crate::ephemeral::Seeded>,
) -> Result<(), CliError> {
    let first_run = app::first_run(data.meta.as_ref()).await?;
    let listener = TcpListener::bind(args.listen).await?;
    let bound = listener.local_addr()?;
    let settings = Settings::new(&args, bound)?;
    let storage = app::Storage::open(&data, &settings.storage)?;
    let public_url = settings.public_url.clone();
    {
        let mut out = std::io::stdout().lock();
        if let Some(first) = first_run {
            writeln!(out, "assetd: created site {}", first.site_id)?;
            writeln!(
                out,
                "assetd: created API token (shown only this once): {}",
                first.token.as_str()
            )?;
        }
        // With --print-json, stdout carries that one line only (a script reads it).
        if announce.is_none() {
            writeln!(
                out,
                "assetd: listening on http://{bound} (API base {public_url}/v2)"
            )?;
        }
        out.flush()?;
    }
    tracing::info!(%bound, %public_url, "serving");
    let limiter = app::rate_limiter(
        args.redis_url.as_deref(),
        settings.rate_limit_per_minute,
        settings.rate_limit_window,
    )
    .await?;
    let state = app::state(data.meta.clone(), storage, limiter, settings);
    let background = Background::new();
    crate::sweep::spawn(
        state.sweep_work(),
        std::time::Duration::from_secs(args.sweep_interval_secs.max(1)),
        &background,
    );
    state.spawn_variant_workers(&background);
    crate::token_usage::spawn(
        state.token_usage.clone(),
        state.meta.clone(),
        crate::token_usage::FLUSH_EVERY,
        &background,
    );
    state.confirmer.spawn(&background);
    state.spawn_webhook_worker(&background)?;
    if let Some(seeded) = announce {
        // Last, right before the accept loop: a client that reads this line can connect.
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", seeded.json_line(&public_url))?;
        out.flush()?;
    }
    server::run(listener, state, server::shutdown_signal()).await?;
    // In-flight requests have drained: the background tasks finish what they are doing, then
    // the metadata store commits its queued inserts and closes.
    if !background.stop(BACKGROUND_PATIENCE).await {
        tracing::warn!("background tasks did not stop within {BACKGROUND_PATIENCE:?}");
    }
    if tokio::time::timeout(BACKGROUND_PATIENCE, data.meta.close())
        .await
        .is_err()
    {
        tracing::warn!("the metadata store did not close within {BACKGROUND_PATIENCE:?}");
    }
    tracing::info!("stopped");
    Ok(())
}

async fn upload(args: UploadArgs) -> Result<(), CliError> {
    let files = assetd_client::files::collect(&args.paths)?;
    if files.is_empty() {
        return Err("no files to upload".into());
    }
    let options = assetd_client::UploadOptions {
        api: args.api,
        token: args.token,
        site: args.site,
        folder: args.folder,
        jobs: args.jobs,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let mut failures = 0usize;
    let total = files.len();
    assetd_client::upload_all(&options, files, |path, result| match result {
        Ok(done) if args.json => {
            println!("{}", serde_json::to_string(&done).unwrap_or_default());
        }
        Ok(done) => println!("{}\t{}", path.display(), done.hosted_url),
        Err(e) => {
            failures += 1;
            eprintln!("assetd: {}: {e}", path.display());
        }
    })
    .await;
    if failures > 0 {
        return Err(format!("{failures} of {total} files failed").into());
    }
    Ok(())
}

/// `assetd import`, or with `--rewrite`, the rewriting of exported files.
async fn import(args: ImportArgs) -> Result<(), CliError> {
    if !args.rewrite.is_empty() {
        let map = args
            .map
            .as_deref()
            .ok_or("--rewrite needs --map, the map file an import wrote")?;
        let done = crate::import::rewrite_files(map, &args.rewrite, args.out_dir.as_deref())?;
        for file in done {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"input": file.input, "output": file.output,
                                       "replaced": file.replaced})
                );
            } else {
                println!(
                    "{} -> {} ({} URLs replaced)",
                    file.input.display(),
                    file.output.display(),
                    file.replaced
                );
            }
        }
        return Ok(());
    }
    let side = |api: Option<String>, token: Option<String>, site: Option<String>, name: &str| match (
        api, token, site,
    ) {
        (Some(api), Some(token), Some(site)) => Ok(crate::import::Side {
            api,
            token: crate::import::api::Token::new(token),
            site,
        }),
        _ => Err(format!(
            "--{name}-api, --{name}-token and --{name}-site (or ASSETD_{}_API, _TOKEN, _SITE) are required",
            name.to_uppercase()
        )),
    };
    let from = side(args.from_api, args.from_token, args.from_site, "from")?;
    let to = side(args.to_api, args.to_token, args.to_site, "to")?;
    let state = args
        .state
        .unwrap_or_else(|| crate::import::default_state_path(&from.site, &to.site));
    let options = crate::import::ImportOptions {
        from,
        to,
        ids: match args.ids {
            IdPolicy::Auto => crate::import::IdPolicy::Auto,
            IdPolicy::Keep => crate::import::IdPolicy::Keep,
            IdPolicy::Map => crate::import::IdPolicy::Map,
        },
        state,
        map: args.map,
        jobs: args.jobs,
        dry_run: args.dry_run,
        variant_wait: std::time::Duration::from_secs(args.variant_wait_secs),
    };
    let reporter = std::sync::Arc::new(crate::import::report::Reporter::new(
        args.json,
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    ));
    let summary = crate::import::run(options, std::sync::Arc::clone(&reporter)).await?;
    reporter.summary(&summary);
    if summary.failed > 0 {
        return Err(format!(
            "{} of {} assets failed; run the same command again to retry them",
            summary.failed,
            summary.imported + summary.updated + summary.skipped + summary.failed
        )
        .into());
    }
    Ok(())
}

/// `assetd variants`: one line per variant, `{width}x{height} {path}` or `{width} error: …`.
fn make_variants(args: &VariantsArgs) -> Result<(), CliError> {
    use crate::variants::{plan, render};
    let name = args
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("the file name is not UTF-8")?;
    let format = crate::file_types::from_file_name(name)
        .and_then(|t| plan::VariantFormat::from_content_type(t.content_type))
        .ok_or("only PNG, JPEG, WebP and GIF files get variants")?;
    let encodings = crate::config::variant_formats(&args.variant_formats)?.encodings(format);
    let bytes = std::fs::read(&args.file)?;
    let original = render::decode(&bytes, format, args.max_pixels)?;
    let sizes = plan::sizes(original.width(), original.height());
    std::fs::create_dir_all(&args.out)?;
    let mut out = std::io::stdout().lock();
    let planned = sizes
        .iter()
        .flat_map(|size| encodings.iter().map(move |encoding| (size, encoding)));
    let made = render::render(&original, format, &encodings, &sizes);
    for ((size, encoding), made) in planned.zip(made) {
        match made {
            Ok(variant) => {
                let path = args.out.join(encoding.file_name(name, size.width));
                std::fs::write(&path, &variant.bytes)?;
                writeln!(out, "{}x{} {}", size.width, size.height, path.display())?;
            }
            Err(e) => writeln!(out, "{} error: {e}", size.width)?,
        }
    }
    Ok(())
}
