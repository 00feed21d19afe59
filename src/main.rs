//! `orderly`: the service binary. `serve` (the default) reads the config, opens the storage the
//! config names and starts the engine once (`orderly::wiring`), then serves the HTTP API on
//! every worker; `check-config` only checks the config. `export`, `import` and `backup` move and
//! keep the data (`orderly::data_commands`). The measuring tools are `orderly-bench`.

use clap::{Parser, Subcommand};
use orderly::config::Config;
use orderly::{data_commands, init_tracing, serve};
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
    /// Write every order with its history, the stock ledger, pending work and dead letters to
    /// an NDJSON file. The service must be stopped.
    Export {
        /// The file to write; `-` for standard output.
        #[arg(long, default_value = "-")]
        out: String,
    },
    /// Read an export into the configured storage, which must be empty. The service must be
    /// stopped.
    Import {
        /// The export file; `-` for standard input.
        file: PathBuf,
    },
    /// Write a consistent backup into DIR (which must not exist, or be empty) while the service
    /// runs: the service at `server.bind` makes it, asked with the first `auth.admin` key; when
    /// no service answers, the data directory is opened directly.
    Backup {
        /// Where the backup goes; afterwards a data directory (`storage.data_dir`) of its own.
        dir: PathBuf,
    },
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
        Cmd::Export { out } => done(data_commands::export(&config, &out).map(|c| {
            eprintln!("exported {c}");
        })),
        Cmd::Import { file } => done(data_commands::import(&config, &file).map(|c| {
            eprintln!("imported {c}");
        })),
        Cmd::Backup { dir } => done(data_commands::backup(&config, &dir).map(|(report, by)| {
            println!("{report}");
            if by == data_commands::BackupBy::Offline {
                eprintln!("(no service answered: the data directory was opened directly)");
            }
        })),
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

/// Exit status of a data command; its error on standard error.
fn done(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
