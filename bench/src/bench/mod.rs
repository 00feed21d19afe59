//! `orderly-bench bench`: the load generator (issue 3, scenarios S1–S3).
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
//! - `reads` (S2): order, tracking and quote reads at a fixed rate, against `/healthz` at the same
//!   rate with the same client.
//!
//! The client is awc on one actix System thread. `--concurrency` is a closed loop (that many
//! requests or orders in flight); `--rate` is an open loop whose latencies count from the
//! intended send time, so a stalled server shows up in the percentiles instead of silently
//! slowing the load down (coordinated omission).

mod baseline;
mod client;
mod report;
mod scenarios;

use client::Http;
use orderly::config::Config;
use orderly_testkit::Service;
use report::Machine;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// S3: orders through the whole lifecycle, placed to delivered.
    Lifecycle,
    /// S1: one durable transition per pre-placed order, against the raw storage baseline.
    Transitions,
    /// S2: order, tracking and quote reads at a fixed rate, against /healthz.
    Reads,
}

impl Scenario {
    fn title(self) -> &'static str {
        match self {
            Scenario::Lifecycle => "lifecycle (S3): orders placed → delivered",
            Scenario::Transitions => {
                "transitions (S1): durable transitions vs the raw storage baseline"
            }
            Scenario::Reads => "reads (S2): order, tracking and quote reads vs /healthz",
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
    /// Lifecycle: the share (0 to 1) of orders whose two lines are stocked in two different
    /// warehouses, so each is split into two shipments, picked, packed, handed over and
    /// delivered one by one through the per-shipment routes.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    pub split_share: f64,
}

fn share(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1"))
    }
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
        let bearer = |k: &str| format!("Bearer {k}");
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
            warehouse: bearer(
                c.auth
                    .warehouse
                    .iter()
                    .find(|k| k.warehouses().is_none())
                    .map(|k| k.key())
                    .unwrap_or(admin),
            ),
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

/// Starts `orderly serve` with the loaded config file on a free port and a fresh data
/// directory under `work`, logging warnings only to `work/orderly.log`, and waits for `/readyz`.
async fn start_server(bin: &Path, config_path: &Path, work: &Path) -> Result<Service, String> {
    Service::builder(bin)
        .config_file(config_path)
        .work_dir(work)
        .data_dir(work.join("data"))
        .log_level("warn")
        .ready_within(Duration::from_secs(60))
        .start()
        .await
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

/// Runs the scenario against a server started from `bin` (the `orderly` binary), or the one
/// given by `--url`.
pub fn run(
    args: BenchArgs,
    config: &Config,
    config_path: &Path,
    bin: Option<&Path>,
) -> Result<(), String> {
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
                let bin = bin.ok_or("no `orderly` binary to start (or give --url)")?;
                eprintln!("starting the server on a fresh data directory under {} …", work.path.display());
                let s = start_server(bin, config_path, &work.path).await?;
                let url = s.base_url();
                (Some(s), url)
            }
        };
        // Enough connections that the pool never limits a closed loop; an open loop's
        // in-flight requests can pile up when the server stalls, and should.
        let pool = if args.rate.is_some() { 1024 } else { args.concurrency.max(8) + 8 };
        let env = Env {
            http: Http::new(&url, pool, Duration::from_secs(30)),
            keys,
            server_pid: server.as_ref().and_then(Service::pid),
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
            eprintln!("server log (last lines):\n{}", s.log_tail(20));
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
    // A lifecycle run in which orders failed measured something else than it says.
    let failed = report
        .totals
        .iter()
        .find(|f| f.key == "orders_failed")
        .map_or(0.0, |f| f.value);
    if failed > 0.0 {
        return Err(format!(
            "{failed} orders did not reach delivered (see the errors above)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
