//! The binary's data commands: `orderly export` and `orderly import` (moving a shop's data
//! between stores and backends as an NDJSON file, `orderly_storage::export`, with the service
//! stopped) and `orderly backup` (a consistent copy while the service runs: the running service
//! makes it, asked over HTTP with the config's bind address and first admin key; when no service
//! answers, the command opens the data itself).
//!
//! Storage is opened through `wiring` only, so this module names no backend.

use crate::config::Config;
use crate::wiring::{open_storage_offline, Offline};
use orderly_storage::export::{self, Counts};
use std::io::{BufReader, BufWriter};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Writes the whole store to `out` (`-`: standard output); returns what it wrote.
pub fn export(config: &Config, out: &str) -> Result<Counts, String> {
    let store = open_storage_offline(config, Offline::Existing)?;
    let source = config.storage.backend.as_str();
    let result = if out == "-" {
        let mut w = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
        export::export(&*store, &mut w, source)
    } else {
        let file = std::fs::File::create(out).map_err(|e| format!("cannot create {out}: {e}"))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        export::export(&*store, &mut w, source).and_then(|counts| {
            w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            Ok(counts)
        })
    };
    result.map_err(|e| format!("export failed: {e}"))
}

/// Reads an export file (`-`: standard input) into the config's storage, which must be empty;
/// returns what it stored.
pub fn import(config: &Config, file: &Path) -> Result<Counts, String> {
    let mut input: Box<dyn std::io::BufRead> = if file == Path::new("-") {
        Box::new(BufReader::with_capacity(1 << 20, std::io::stdin().lock()))
    } else {
        let f = std::fs::File::open(file)
            .map_err(|e| format!("cannot open {}: {e}", file.display()))?;
        Box::new(BufReader::with_capacity(1 << 20, f))
    };
    let store = open_storage_offline(config, Offline::CreateIfMissing)?;
    export::import(&*store, &mut input).map_err(|e| format!("import failed: {e}"))
}

/// What a backup reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct BackupReport {
    pub dir: String,
    pub orders: u64,
    pub records: u64,
    pub held_us: u64,
    pub took_ms: u64,
}

impl std::fmt::Display for BackupReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "backup of {} orders written to {} in {} ms (writers held back {} µs)",
            self.orders, self.dir, self.took_ms, self.held_us
        )
    }
}

/// How a backup was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupBy {
    /// The running service made it.
    Service(String),
    /// No service answered: this command opened the data itself.
    Offline,
}

/// Makes a consistent backup of the config's storage into `dir`: by the running service if
/// one answers at `server.bind`, else by opening the data directly.
pub fn backup(config: &Config, dir: &Path) -> Result<(BackupReport, BackupBy), String> {
    let dir = std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir_text = dir
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", dir.display()))?
        .to_string();
    let url = service_url(&config.server.bind)?;
    let key = config.auth.admin.first();
    if let Some(key) = key {
        // `None`: nobody listens, the service is not running.
        if let Some(report) = ask_service(&url, key, &dir_text)? {
            return Ok((report, BackupBy::Service(url)));
        }
    }
    let store = open_storage_offline(config, Offline::Existing).map_err(|e| match key {
        None => format!(
            "{e}; no admin key is configured (auth.admin) to ask the running service for the backup"
        ),
        Some(_) => format!("{e}; and no service answered at {url}"),
    })?;
    let stats = store
        .backup(&dir)
        .map_err(|e| format!("backup failed: {e}"))?;
    Ok((
        BackupReport {
            dir: dir_text,
            orders: stats.orders,
            records: stats.records,
            held_us: stats.held.as_micros() as u64,
            took_ms: stats.took.as_millis() as u64,
        },
        BackupBy::Offline,
    ))
}

/// The service's base URL from its bind address (an unspecified address is reached on the
/// loopback interface).
fn service_url(bind: &str) -> Result<String, String> {
    let mut addr: SocketAddr = bind
        .parse()
        .map_err(|_| format!("server.bind: '{bind}' is not an address"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Ok(format!("http://{addr}"))
}

/// Asks the service at `url` for a backup into `dir`: `Ok(None)` when nothing listens there.
fn ask_service(url: &str, key: &str, dir: &str) -> Result<Option<BackupReport>, String> {
    let url = url.to_string();
    let auth = format!("Bearer {key}");
    let body = serde_json::json!({ "dir": dir });
    actix_web::rt::System::new().block_on(async move {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().timeout(Duration::from_secs(5)))
            // A backup of a large store takes a while; the service answers once it is durable.
            .timeout(Duration::from_secs(24 * 3600))
            .finish();
        let sent = client
            .post(format!("{url}/v1/admin/backup"))
            .insert_header(("Authorization", auth))
            .send_json(&body)
            .await;
        let mut resp = match sent {
            Ok(r) => r,
            Err(awc::error::SendRequestError::Connect(e)) => {
                tracing::debug!(error = %e, "no service answers");
                return Ok(None);
            }
            Err(e) => return Err(format!("asking the service at {url} for a backup: {e}")),
        };
        let bytes = resp
            .body()
            .limit(1 << 20)
            .await
            .map_err(|e| format!("reading the service's answer: {e}"))?;
        let status = resp.status();
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("the service's answer is not a backup report: {e}"));
        }
        let detail = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        Err(format!(
            "the service at {url} refused the backup ({status}): {detail}"
        ))
    })
}
