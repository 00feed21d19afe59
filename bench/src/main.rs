//! `orderly-bench`: the measuring tools' command line. Each tool starts the `orderly` binary it
//! finds next to itself (build it in the same profile), `--orderly-bin`, or `$ORDERLY_BIN`.

use clap::{Parser, Subcommand};
use orderly::config::Config;
use orderly_bench::{bench, capacity, crash, seed};
use std::path::PathBuf;
use std::process::ExitCode;

/// The same allocator as the service: the storage baseline and `seed` run in this process.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "orderly-bench",
    version,
    about = "Orderly's measuring tools: load, crashes, restart time and memory"
)]
struct Cli {
    /// Path of the service's configuration file.
    #[arg(
        long,
        short,
        global = true,
        default_value = "config.toml",
        env = "ORDERLY_CONFIG"
    )]
    config: PathBuf,
    /// The `orderly` binary to start (default: the one next to this executable).
    #[arg(long, global = true, env = "ORDERLY_BIN")]
    orderly_bin: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Drive orders through their lifecycle over HTTP and report throughput and latency.
    Bench(bench::BenchArgs),
    /// Load in-flight (confirmed) orders into a data directory through the engine, in-process
    /// (for the restart and memory scenarios).
    Seed(seed::SeedArgs),
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
    let bin = || match &cli.orderly_bin {
        Some(p) => Ok(p.clone()),
        None => orderly_testkit::find_service_binary(),
    };
    let result = match cli.command {
        Cmd::Seed(args) => seed::run(&args, &config),
        Cmd::Capacity(args) => {
            bin().and_then(|b| capacity::capacity(&args, &config, &cli.config, &b))
        }
        Cmd::Crash(args) => bin().and_then(|b| {
            let report = crash::run(&args, &cli.config, &b)?;
            print!("{report}");
            if report.is_clean() {
                Ok(())
            } else {
                Err("the crash harness found violations (see above)".into())
            }
        }),
        Cmd::Bench(args) => {
            // Against a running server (--url) no binary is needed.
            let b = if args.url.is_some() {
                None
            } else {
                match bin() {
                    Ok(b) => Some(b),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(1);
                    }
                }
            };
            bench::run(args, &config, &cli.config, b.as_deref())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
