//! `orderly bench`: the load generator (issue 3). Placeholder until implemented.

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {}

pub fn run(_args: BenchArgs, _config: &Config, _config_path: &std::path::Path) -> Result<(), String> {
    Err("not implemented yet".into())
}
