//! Orderly's measuring tools, as a library (the `orderly-bench` binary is its command line):
//!
//! - [`bench`]: the load generator, scenarios S1–S3 over HTTP against a service it starts.
//! - [`crash`]: the crash harness: SIGKILL under load, restart, check nothing acknowledged is
//!   lost; [`crash::run`] returns its report as data.
//! - [`seed`]: loads confirmed, in-flight orders into a data directory through the engine's
//!   public API, in this process.
//! - [`capacity`]: restart time and memory with many in-flight orders (S4, S5).
//!
//! The service runs as a child process (`orderly-testkit`), or for `seed` in-process through
//! `orderly::start_engine`; never by writing the store directly.

pub mod bench;
pub mod capacity;
pub mod crash;
pub mod seed;
