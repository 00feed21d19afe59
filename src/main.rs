//! `orderly`: the service binary. Reads the config, opens the store, starts the engine's
//! actors once, then serves the HTTP API on every worker.

mod bench;
mod capacity;
mod child;
mod crash;

pub(crate) use orderly::config;

use clap::{Parser, Subcommand};
use config::Config;
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
    /// Drive orders through their lifecycle over HTTP and report throughput and latency.
    Bench(bench::BenchArgs),
    /// Bulk-load in-flight orders into a data directory (for the restart and memory scenarios).
    Seed(capacity::SeedArgs),
    /// Measure restart time and memory with many in-flight orders (scenarios S4 and S5).
    Capacity(capacity::CapacityArgs),
    /// Kill -9 the service under load again and again, and check nothing acknowledged is lost.
    Crash(crash::CrashArgs),
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
        Cmd::Seed(args) => report(capacity::seed(args, &config)),
        Cmd::Capacity(args) => report(capacity::capacity(args, &config, &cli.config)),
        Cmd::Crash(args) => report(crash::run(args, &config, &cli.config)),
        Cmd::Bench(args) => match bench::run(args, &config, &cli.config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
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

fn report(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
