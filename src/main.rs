//! `orderly`: the service binary. `serve` (the default) reads the config, opens the storage the
//! config names and starts the engine once (`orderly::wiring`), then serves the HTTP API on
//! every worker; `check-config` only checks the config. The measuring tools are `orderly-bench`.

use clap::{Parser, Subcommand};
use orderly::config::Config;
use orderly::{init_tracing, serve};
use std::path::PathBuf;
use std::process::ExitCode;

/// sled copies tree nodes on write and the HTTP path allocates per request; under load glibc's
/// allocator was a fifth of the server's CPU profile. mimalloc cuts that (see README).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "orderly", version, about = "Order lifecycle orchestrator")]
struct Cli {
    /// Path of the configuration file.
    #[arg(
        long,
        short,
        global = true,
        default_value = "config.toml",
        env = "ORDERLY_CONFIG"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the service (the default).
    Serve,
    /// Check the configuration and exit.
    CheckConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Cmd::Serve) {
        Cmd::CheckConfig => {
            println!("configuration ok");
            ExitCode::SUCCESS
        }
        Cmd::Serve => {
            init_tracing(&config);
            match actix_web::rt::System::new().block_on(serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
