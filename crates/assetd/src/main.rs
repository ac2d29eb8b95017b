//! The `assetd` binary: parse flags, run the command, report failure on stderr.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = assetd::config::Cli::parse();
    match assetd::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assetd: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
