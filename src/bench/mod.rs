//! `orderly bench`: the load generator (issue 3, scenarios S1–S3).
//!
//! It drives real orders over HTTP, through the same API any storefront, warehouse terminal or
//! carrier uses, against a server it starts itself on a fresh data directory (or a running one
//! given by `--url`), and prints per-endpoint latency, errors by status code, throughput, and
//! the baselines the targets are measured against:
//!
//! - `lifecycle` (S3): orders placed → confirmed → picked → packed → shipped → delivered.
//! - `transitions` (S1): one durable transition per pre-placed order, against the raw storage
//!   baseline: the same number of snapshot-sized writes through the same group commit, in
//!   this process.
//! - `reads` (S2): order and tracking reads at a fixed rate, against `/healthz` at the same
//!   rate with the same client.
//!
//! The client is awc on one actix System thread. `--concurrency` is a closed loop (that many
//! requests or orders in flight); `--rate` is an open loop whose latencies count from the
//! intended send time, so a stalled server shows up in the percentiles instead of silently
//! slowing the load down (coordinated omission).

mod client;
mod report;
mod scenarios;

use crate::config::Config;
use client::Http;
use report::Machine;
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// S3: orders through the whole lifecycle, placed to delivered.
    Lifecycle,
    /// S1: one durable transition per pre-placed order, against the raw storage baseline.
    Transitions,
    /// S2: order and tracking reads at a fixed rate, against /healthz.
    Reads,
}

impl Scenario {
    fn title(self) -> &'static str {
        match self {
            Scenario::Lifecycle => "lifecycle (S3): orders placed → delivered",
            Scenario::Transitions => {
                "transitions (S1): durable transitions vs the raw storage baseline"
            }
            Scenario::Reads => "reads (S2): order and tracking reads vs /healthz",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Which scenario to run.
    #[arg(long, value_enum, default_value_t = Scenario::Lifecycle)]
    pub scenario: Scenario,
    /// Orders to drive (lifecycle), transitions to make (transitions), or orders to pre-place
    /// and read (reads).
    #[arg(long, default_value_t = 2000)]
    pub orders: u64,
    /// Closed loop: orders (lifecycle) or requests in flight at once. Also the concurrency of
    /// the set-up phases and of the storage baseline.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Open loop: a fixed arrival rate per second (orders, transitions, or for reads: order and
    /// tracking reads, plus as many /healthz requests). Latency counts from the intended send
    /// time. Required shape for reads (default 1000 there).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Reads: how long to measure (default 10). Lifecycle and transitions: stop starting new
    /// work after this long.
    #[arg(long)]
    pub duration_secs: Option<u64>,
    /// Reads: unrecorded warm-up at the same rate before measuring.
    #[arg(long, default_value_t = 2)]
    pub warmup_secs: u64,
    /// Run against this server instead of starting one (keys come from the config's [auth]).
    #[arg(long)]
    pub url: Option<String>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Keep the bench's temporary directory (server data, config and log) instead of deleting it.
    #[arg(long)]
    pub keep_data: bool,
}

/// Bearer header values (`Bearer …`) for each role, from the config's `[auth]` section. The
/// admin key may call every endpoint, so it stands in for a role without a key.
pub struct Keys {
    pub storefront: String,
    pub warehouse: String,
    pub admin: String,
    carriers: HashMap<String, String>,
}

impl Keys {
    fn from_config(c: &Config) -> Result<Keys, String> {
        let admin = c.auth.admin.first().ok_or(
            "the config has no [auth] admin key; the bench needs one to stock its warehouse",
        )?;
        let bearer = |k: &String| format!("Bearer {k}");
        let carriers = c
            .carriers
            .iter()
            .map(|carrier| {
                let key = c
                    .auth
                    .carriers
                    .get(&carrier.id)
                    .and_then(|ks| ks.first())
                    .unwrap_or(admin);
                (carrier.id.clone(), bearer(key))
            })
            .collect();
        Ok(Keys {
            storefront: bearer(c.auth.storefront.first().unwrap_or(admin)),
            warehouse: bearer(c.auth.warehouse.first().unwrap_or(admin)),
            admin: bearer(admin),
            carriers,
        })
    }

    pub fn carrier(&self, id: &str) -> &str {
        self.carriers.get(id).unwrap_or(&self.admin)
    }
}

/// The bench's temporary directory: generated config, server log, server data, baseline store.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    fn create(keep: bool) -> Result<WorkDir, String> {
        let path =
            std::env::temp_dir().join(format!("orderly-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(WorkDir { path, keep })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept the bench directory {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The `orderly serve` child process the bench started; killed when dropped.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let l =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// The loaded config file with the server bound to `bind`, storing under `data_dir`, logging
/// warnings only.
fn server_config(config_path: &Path, bind: &str, data_dir: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(config_path)
        .map_err(|e| format!("cannot read {}: {e}", config_path.display()))?;
    let mut doc: toml::Table = text
        .parse()
        .map_err(|e| format!("cannot parse {}: {e}", config_path.display()))?;
    let data_dir = data_dir
        .to_str()
        .ok_or("the temporary directory's path is not UTF-8")?;
    for (table, key, value) in [
        ("server", "bind", bind),
        ("storage", "data_dir", data_dir),
        ("log", "level", "warn"),
    ] {
        let t = doc
            .entry(table)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let t = t
            .as_table_mut()
            .ok_or_else(|| format!("{table} in {} is not a table", config_path.display()))?;
        t.insert(key.to_string(), toml::Value::String(value.to_string()));
    }
    toml::to_string(&doc).map_err(|e| e.to_string())
}

fn tail(path: &Path, lines: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Server {
    /// Starts this binary as `serve` on a free port and a fresh data directory under `work`,
    /// and waits for `/readyz`.
    async fn start(config_path: &Path, work: &Path) -> Result<Server, String> {
        let port = free_port()?;
        let bind = format!("127.0.0.1:{port}");
        let data_dir = work.join("data");
        let config_file = work.join("config.toml");
        std::fs::write(&config_file, server_config(config_path, &bind, &data_dir)?)
            .map_err(|e| format!("cannot write the server config: {e}"))?;
        let log = work.join("server.log");
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
        // The environment overrides the file, so the inherited ORDERLY_… variables stay in
        // force except where the bench must have its own values.
        let child = Command::new(exe)
            .arg("--config")
            .arg(&config_file)
            .arg("serve")
            .env("ORDERLY_SERVER__BIND", &bind)
            .env("ORDERLY_STORAGE__DATA_DIR", &data_dir)
            .env("ORDERLY_LOG__LEVEL", "warn")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start the server: {e}"))?;
        let mut server = Server {
            child,
            url: format!("http://{bind}"),
            log,
        };
        let probe = awc::Client::builder()
            .timeout(Duration::from_secs(2))
            .finish();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "the server exited ({status}) before it was ready; its log:\n{}",
                    tail(&server.log, 30)
                ));
            }
            if let Ok(resp) = probe.get(format!("{}/readyz", server.url)).send().await {
                if resp.status().as_u16() == 200 {
                    return Ok(server);
                }
            }
            if Instant::now() > deadline {
                let _ = server.child.kill();
                return Err(format!(
                    "the server was not ready within 60 s; its log:\n{}",
                    tail(&server.log, 30)
                ));
            }
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What the scenarios run against.
pub struct Env {
    pub http: Http,
    pub keys: Keys,
    /// The server's pid when the bench started it (for its CPU time).
    pub server_pid: Option<u32>,
    pub work_dir: PathBuf,
    /// Makes idempotency keys and references unique to this run.
    pub run_id: String,
    pub machine: Machine,
    pub target: String,
    pub config: Config,
    /// `/proc/loadavg` before the bench started anything: other work on the machine.
    pub loadavg_at_start: String,
}

pub fn run(args: BenchArgs, config: &Config, config_path: &Path) -> Result<(), String> {
    if args.orders == 0 {
        return Err("--orders must be at least 1".into());
    }
    if args.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    if let Some(r) = args.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err("--rate must be a positive number".into());
        }
    }
    if args.duration_secs == Some(0) {
        return Err("--duration-secs must be at least 1".into());
    }
    let keys = Keys::from_config(config)?;
    let work = WorkDir::create(args.keep_data)?;
    let machine = Machine::detect();
    let loadavg_at_start = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let report = actix_rt::System::new().block_on(async {
        let (server, url) = match &args.url {
            Some(u) => (None, u.trim_end_matches('/').to_string()),
            None => {
                eprintln!("starting the server on a fresh data directory under {} …", work.path.display());
                let s = Server::start(config_path, &work.path).await?;
                let url = s.url.clone();
                (Some(s), url)
            }
        };
        // Enough connections that the pool never limits a closed loop; an open loop's
        // in-flight requests can pile up when the server stalls, and should.
        let pool = if args.rate.is_some() { 1024 } else { args.concurrency.max(8) + 8 };
        let env = Env {
            http: Http::new(&url, pool, Duration::from_secs(30)),
            keys,
            server_pid: server.as_ref().map(|s| s.child.id()),
            work_dir: work.path.clone(),
            run_id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            machine,
            target: match &server {
                Some(_) => format!("{url} (started by the bench: `orderly serve`, fresh data directory, log level warn)"),
                None => format!("{url} (given by --url)"),
            },
            config: config.clone(),
            loadavg_at_start,
        };
        let result = scenarios::run(&args, env).await;
        if let (Err(_), Some(s)) = (&result, &server) {
            eprintln!("server log (last lines):\n{}", tail(&s.log, 20));
        }
        drop(server);
        result
    })?;
    print!("{}", report.table());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report.json()).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_config_overrides_bind_data_dir_and_log_level_only() {
        let dir = std::env::temp_dir().join(format!(
            "orderly-bench-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml"),
            &path,
        )
        .unwrap();
        let text = server_config(&path, "127.0.0.1:12345", &dir.join("data")).unwrap();
        std::fs::write(&path, &text).unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:12345");
        assert_eq!(c.storage.data_dir, dir.join("data"));
        assert_eq!(c.log.level, "warn");
        assert_eq!(c.carriers.len(), 2);
        assert!(!c.auth.carriers.is_empty());
        let keys = Keys::from_config(&c).unwrap();
        assert_eq!(keys.carrier("postnl"), "Bearer dev-carrier-postnl-0001");
        assert_eq!(keys.carrier("nobody"), keys.admin);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
