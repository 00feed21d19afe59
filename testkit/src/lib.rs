//! Helpers shared by Orderly's black-box tests and its measuring tools (`orderly-bench`).
//!
//! - [`service`]: the `orderly` binary as a child process: start it on a free port with a given
//!   config and data directory, wait for `/readyz`, SIGKILL it, restart it, stop it, read its
//!   log and resident memory.
//! - [`crash`]: the crash checker: records what the service acknowledged (order id → version
//!   and status of each 2xx) and verifies it against what the service answers later.
//! - [`webhook`]: a local webhook receiver that records (or only counts) deliveries.
//! - [`smtp`]: a real SMTP server (aiosmtpd) that parses what it receives.
//! - [`provider`]: a local SMS / WhatsApp provider (Twilio-style, WhatsApp Cloud) that fails
//!   as scripted first.
//! - [`toml_overlay`]: a minimal TOML overlay, enough to override keys of a config file.
//! - [`wait`]: polling with a deadline, instead of sleeping and hoping.
//! - [`fixture`]: the data written by earlier releases (v0: sled; v1: sled and a PostgreSQL
//!   dump), copied for the tests that check it still opens.
//! - [`postgres`]: a throwaway PostgreSQL server (skipped, or failed in CI, when not installed).
//!
//! A plain library: it knows the service only by its HTTP contract, its command line and its
//! configuration keys, never by its code.

pub mod carrier;
pub mod crash;
pub mod fixture;
pub mod postgres;
pub mod provider;
pub mod service;
pub mod smtp;
pub mod toml_overlay;
pub mod wait;
pub mod webhook;

pub use crash::{AckLog, Acked, CheckReport, Checker, Violation, ViolationKind};
pub use service::{find_service_binary, free_port, rss_kib, Service, ServiceBuilder};
pub use webhook::{Hook, Receiver};
