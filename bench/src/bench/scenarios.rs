//! The three scenarios, the closed and open loops that drive them, and the storage baseline.

use super::baseline::{storage_baseline, Baseline};
use super::client::{histogram, micros, Http, Recorder, Req};
use super::report::{Figure, Ratio, Report};
use super::{BenchArgs, Env, Scenario};
use futures::StreamExt;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The warehouse stocked when the config names none (the service runs open).
const WAREHOUSE: &str = "bench";
const SKUS: [&str; 4] = ["BENCH-A", "BENCH-B", "BENCH-C", "BENCH-D"];
/// Split orders: one sku stocked only in the first warehouse, the other only in the second
/// (`split_warehouses`).
const SPLIT_SKUS: [&str; 2] = ["BENCH-SPLIT-A", "BENCH-SPLIT-B"];
const UNIT_PRICE: i64 = 1995;
/// Plenty for any run; set absolutely, so repeated runs against one server keep working.
const STOCK: i64 = 100_000_000;
const POLL_SLEEP: Duration = Duration::from_millis(2);
const POLL_LIMIT: Duration = Duration::from_secs(30);

const EP_PLACE: &str = "POST /v1/orders";
const EP_POLL: &str = "GET /v1/orders/{id} (poll for confirmed)";
const EP_PICKS: &str = "POST /v1/orders/{id}/picks";
const EP_PACK: &str = "POST /v1/orders/{id}/pack";
const EP_HANDOVER: &str = "POST /v1/orders/{id}/handover";
const EP_IN_TRANSIT: &str = "POST /v1/carriers/{c}/events in_transit";
const EP_DELIVERED: &str = "POST /v1/carriers/{c}/events delivered";
const EP_E2E: &str = "order: placed → delivered (end to end)";
const EP_SETUP_PLACE: &str = "setup: POST /v1/orders";
const EP_PAYMENT: &str = "POST /v1/orders/{id}/payments";
const EP_TRACK: &str = "GET /v1/track/{token}";
const EP_ORDER: &str = "GET /v1/orders/{id}";
const EP_HEALTHZ: &str = "GET /healthz";
const EP_QUOTE: &str = "POST /v1/quotes";

#[derive(Deserialize)]
struct OrderResp {
    id: String,
    status: String,
    #[serde(default)]
    tracking_token: Option<String>,
    #[serde(default)]
    warehouse: Option<String>,
    #[serde(default)]
    lines: Vec<LineResp>,
    total: MoneyResp,
    #[serde(default)]
    shipments: Vec<ShipmentResp>,
}

#[derive(Deserialize)]
struct LineResp {
    sku: String,
    quantity: u32,
}

#[derive(Deserialize)]
struct MoneyResp {
    amount: i64,
}

#[derive(Deserialize)]
struct ShipmentResp {
    #[serde(default)]
    id: u32,
    #[serde(default)]
    lines: Vec<LineResp>,
    #[serde(default)]
    booking: Option<BookingResp>,
}

#[derive(Deserialize)]
struct BookingResp {
    carrier: String,
    tracking_number: String,
}

#[derive(Deserialize)]
struct EventAck {
    order_status: String,
}

/// A quote for what `order_body(_, i, _)` orders, to the same address, every method.
fn quote_body(i: u64) -> Value {
    let body = order_body("quote", i, "captured");
    json!({
        "destination": {"country": "NL", "postal_code": "1012LG"},
        "lines": body["lines"],
    })
}

/// A card order to the Netherlands with one or two lines of the bench's SKUs.
fn order_body(run: &str, i: u64, payment_status: &str) -> Value {
    let a = SKUS[(i % 4) as usize];
    let b = SKUS[((i + 1) % 4) as usize];
    let lines = if i % 2 == 1 {
        json!([{"sku": a, "quantity": 1, "unit_price": UNIT_PRICE}, {"sku": b, "quantity": 2, "unit_price": UNIT_PRICE + 500}])
    } else {
        json!([{"sku": a, "quantity": 1, "unit_price": UNIT_PRICE}])
    };
    json!({
        "external_ref": format!("bench-{run}-{i}"),
        "customer": {"id": format!("bench-cust-{}", i % 1000), "email": format!("bench{}@example.com", i % 1000), "locale": "nl-NL"},
        "currency": "EUR",
        "lines": lines,
        "shipping": {
            "method": "standard",
            "address": {"name": "Bench Customer", "line1": format!("Damrak {}", i % 500 + 1), "city": "Amsterdam", "postal_code": "1012LG", "country": "NL"}
        },
        "payment": {"method": "card", "status": payment_status}
    })
}

/// A card order to the Netherlands of one unit of each split sku: no warehouse has both, so
/// it is split into two shipments.
fn split_order_body(run: &str, i: u64) -> Value {
    let mut body = order_body(run, i, "captured");
    body["lines"] = json!([
        {"sku": SPLIT_SKUS[0], "quantity": 1, "unit_price": UNIT_PRICE},
        {"sku": SPLIT_SKUS[1], "quantity": 1, "unit_price": UNIT_PRICE},
    ]);
    body
}

/// Whether order `i` is one of the `share` of split orders, spread evenly over the run.
fn is_split(i: u64, share: f64) -> bool {
    ((i + 1) as f64 * share).floor() > (i as f64 * share).floor()
}

pub(super) fn progress(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{msg:>14} [{elapsed_precise}] {wide_bar} {pos}/{len} ({rate}, eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .with_key(
        "rate",
        |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0}/s", s.per_sec());
        },
    );
    pb.set_style(style);
    pb.set_message(what.to_string());
    pb
}

// ---------------------------------------------------------------------------------------------
// Loops
// ---------------------------------------------------------------------------------------------

/// Closed loop: `concurrency` workers each take the next index and run `f` to completion,
/// until `n` are done or `until` has passed. Returns the elapsed time.
pub(super) async fn closed_loop<F, Fut>(
    n: u64,
    concurrency: usize,
    until: Option<Instant>,
    f: F,
) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = ()>,
{
    let next = Cell::new(0u64);
    let started = Instant::now();
    let workers = (0..concurrency.min(n as usize).max(1)).map(|_| async {
        loop {
            let i = next.get();
            if i >= n || until.is_some_and(|u| Instant::now() >= u) {
                break;
            }
            next.set(i + 1);
            f(i).await;
        }
    });
    futures::future::join_all(workers).await;
    started.elapsed()
}

struct OpenLoop {
    started: Instant,
    elapsed: Duration,
    issued: u64,
    /// How late each request was handed to the runtime after its intended send time.
    lag: Histogram<u64>,
}

/// Open loop: request `i` is due at `start + i / rate`, whether or not earlier ones have
/// answered. A ticker thread keeps the schedule (std sleeps are far finer than the runtime's
/// millisecond timer) and hands each due index to this thread, which spawns `f(i, intended)`.
/// Stops after `n` requests or `run_for`, then waits for every request to finish.
async fn open_loop<F, Fut>(
    rate: f64,
    n: Option<u64>,
    run_for: Option<Duration>,
    f: F,
) -> Result<OpenLoop, String>
where
    F: Fn(u64, Instant) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let (tx, mut rx) = futures::channel::mpsc::unbounded::<(u64, Instant)>();
    let started = Instant::now() + Duration::from_millis(5);
    let ticker = std::thread::Builder::new()
        .name("bench-ticker".into())
        .spawn(move || {
            let mut i = 0u64;
            loop {
                if n.is_some_and(|n| i >= n) {
                    break;
                }
                let offset = Duration::from_secs_f64(i as f64 / rate);
                if run_for.is_some_and(|d| offset >= d) {
                    break;
                }
                let intended = started + offset;
                let now = Instant::now();
                if intended > now {
                    std::thread::sleep(intended - now);
                }
                if tx.unbounded_send((i, intended)).is_err() {
                    break;
                }
                i += 1;
            }
        })
        .map_err(|e| format!("cannot start the ticker thread: {e}"))?;
    let mut lag = histogram();
    let mut handles = Vec::new();
    while let Some((i, intended)) = rx.next().await {
        lag.saturating_record(micros(intended.elapsed()).max(1));
        handles.push(actix_rt::spawn(f(i, intended)));
    }
    let _ = ticker.join();
    let issued = handles.len() as u64;
    for h in handles {
        let _ = h.await;
    }
    Ok(OpenLoop {
        started,
        elapsed: started.elapsed(),
        issued,
        lag,
    })
}

// ---------------------------------------------------------------------------------------------
// Server counters and CPU time
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    transitions: f64,
    rejected: f64,
    flushes: f64,
    flushed_writes: f64,
    flush_micros: f64,
    effect_retries: f64,
}

/// The engine's counters from `/metrics`, or None if it cannot be read.
async fn scrape(http: &Http) -> Option<Counters> {
    let body = http.send(Req::get("/metrics")).await.ok()?;
    let text = std::str::from_utf8(&body).ok()?;
    let mut c = Counters::default();
    let mut seen = false;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut parts = line.split_whitespace();
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(v) = value.parse::<f64>() else {
            continue;
        };
        let slot = match name {
            "orderly_transitions_total" => &mut c.transitions,
            "orderly_commands_rejected_total" => &mut c.rejected,
            "orderly_flushes_total" => &mut c.flushes,
            "orderly_flushed_writes_total" => &mut c.flushed_writes,
            "orderly_flush_microseconds_total" => &mut c.flush_micros,
            "orderly_effect_retries_total" => &mut c.effect_retries,
            _ => continue,
        };
        *slot = v;
        seen = true;
    }
    seen.then_some(c)
}

/// User plus system CPU seconds of a process (`/proc/<pid>/stat`, 100 ticks a second).
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Busy CPU seconds of every process on the machine: user and system time of each live
/// process plus that of its exited, reaped children (`/proc/<pid>/stat`; these are precise,
/// whereas `/proc/stat`'s tick samples miss short bursts of work on this kernel). A process
/// that exits between two readings moves its total into its parent's children fields, so the
/// difference of two readings counts it exactly once.
fn machine_busy_secs() -> Option<f64> {
    let mut ticks = 0.0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        ticks += rest
            .split_whitespace()
            .skip(11)
            .take(4)
            .filter_map(|v| v.parse::<f64>().ok())
            .sum::<f64>();
    }
    Some(ticks / 100.0)
}

/// Where the server and the bench spent their time during a measured phase.
struct Probe {
    counters: Option<Counters>,
    server_cpu: Option<f64>,
    client_cpu: Option<f64>,
    machine_cpu: Option<f64>,
    at: Instant,
}

impl Probe {
    async fn take(env: &Env) -> Probe {
        Probe {
            counters: scrape(&env.http).await,
            server_cpu: env.server_pid.and_then(|p| cpu_secs(&p.to_string())),
            client_cpu: cpu_secs("self"),
            machine_cpu: machine_busy_secs(),
            at: Instant::now(),
        }
    }

    /// Figures for the report's server section, and the transitions recorded.
    fn delta(&self, after: &Probe) -> (Vec<Figure>, Option<f64>) {
        let secs = after.at.duration_since(self.at).as_secs_f64().max(1e-9);
        let mut out = Vec::new();
        let mut fig = |key: &str, label: &str, value: f64, unit: &'static str| {
            out.push(Figure {
                key: key.into(),
                label: label.into(),
                value,
                unit,
            });
        };
        let mut transitions = None;
        if let (Some(a), Some(b)) = (self.counters, after.counters) {
            let d = |f: fn(&Counters) -> f64| f(&b) - f(&a);
            let flushes = d(|c| c.flushes);
            transitions = Some(d(|c| c.transitions));
            fig(
                "transitions",
                "events recorded (orderly_transitions_total)",
                d(|c| c.transitions),
                "",
            );
            fig(
                "commands_rejected",
                "commands rejected",
                d(|c| c.rejected),
                "",
            );
            fig(
                "effect_retries",
                "effect retries",
                d(|c| c.effect_retries),
                "",
            );
            fig("flushes", "group-commit flushes", flushes, "");
            fig(
                "flushes_per_sec",
                "flushes per second",
                flushes / secs,
                "/s",
            );
            fig(
                "flushed_writes",
                "writes made durable by them",
                d(|c| c.flushed_writes),
                "",
            );
            if flushes > 0.0 {
                fig(
                    "writes_per_flush",
                    "writes per flush (mean)",
                    d(|c| c.flushed_writes) / flushes,
                    "",
                );
                fig(
                    "flush_ms_mean",
                    "flush time (sled flush + fdatasync, mean)",
                    d(|c| c.flush_micros) / flushes / 1000.0,
                    "ms",
                );
            }
            fig(
                "flusher_busy",
                "flusher busy (share of wall time)",
                d(|c| c.flush_micros) / 1e6 / secs,
                "",
            );
        }
        if let (Some(a), Some(b)) = (self.server_cpu, after.server_cpu) {
            fig(
                "server_cpu_cores",
                "server CPU (cores busy, mean)",
                (b - a) / secs,
                "cores",
            );
        }
        if let (Some(a), Some(b)) = (self.client_cpu, after.client_cpu) {
            fig(
                "bench_cpu_cores",
                "bench process CPU (cores busy, mean)",
                (b - a) / secs,
                "cores",
            );
        }
        if let (Some(a), Some(b)) = (self.machine_cpu, after.machine_cpu) {
            let all = (b - a) / secs;
            fig(
                "all_processes_cpu_cores",
                "all processes CPU (cores busy, mean)",
                all,
                "cores",
            );
            if let (Some(s0), Some(s1), Some(c0), Some(c1)) = (
                self.server_cpu,
                after.server_cpu,
                self.client_cpu,
                after.client_cpu,
            ) {
                let others = all - (s1 - s0) / secs - (c1 - c0) / secs;
                fig(
                    "other_cpu_cores",
                    "other processes (cores busy, mean)",
                    others.max(0.0),
                    "cores",
                );
            }
        }
        (out, transitions)
    }
}

/// Waits until the server's background work (reservations, confirmations, notifications of
/// the set-up phase) has died down: the transition counter unchanged for half a second.
async fn settle(http: &Http) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    let mut stable = 0;
    while Instant::now() < deadline {
        let Some(c) = scrape(http).await else {
            actix_rt::time::sleep(Duration::from_secs(1)).await;
            return;
        };
        if last == Some(c.transitions) {
            stable += 1;
            if stable >= 2 {
                return;
            }
        } else {
            stable = 0;
        }
        last = Some(c.transitions);
        actix_rt::time::sleep(Duration::from_millis(250)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Common steps
// ---------------------------------------------------------------------------------------------

/// The warehouse the bench stocks: the config's first (by priority), or its own when none is
/// configured.
fn stock_warehouse(env: &Env) -> &str {
    env.config.first_warehouse().unwrap_or(WAREHOUSE)
}

/// The two warehouses split orders are served from: the first two configured by priority, or,
/// running open, `bench` and `bench-2`.
fn split_warehouses(env: &Env) -> (&str, &str) {
    let mut ws: Vec<_> = env.config.warehouses.iter().collect();
    ws.sort_by(|a, b| (a.priority, &a.id).cmp(&(b.priority, &b.id)));
    match ws.as_slice() {
        [a, b, ..] => (a.id.as_str(), b.id.as_str()),
        _ => (WAREHOUSE, "bench-2"),
    }
}

async fn stock(env: &Env) -> Result<(), String> {
    let warehouse = stock_warehouse(env);
    let (first, second) = split_warehouses(env);
    let cells = SKUS
        .iter()
        .map(|sku| (warehouse, *sku))
        .chain([(first, SPLIT_SKUS[0]), (second, SPLIT_SKUS[1])]);
    for (warehouse, sku) in cells {
        let req = Req::put(
            format!("/v1/inventory/{warehouse}/{sku}"),
            &json!({"on_hand": STOCK}),
        )
        .auth(&env.keys.admin);
        match env.http.send(req).await {
            Ok(_) => {}
            Err(super::client::Failure::Status(code, body)) => {
                return Err(format!(
                    "stocking {warehouse}/{sku} failed with {code}: {}",
                    String::from_utf8_lossy(&body)
                ))
            }
            Err(super::client::Failure::Transport(kind, msg)) => {
                return Err(format!("stocking {warehouse}/{sku} failed: {kind}: {msg}"))
            }
        }
    }
    Ok(())
}

/// Places `n` orders with `concurrency` in flight; the placed orders by index (None where
/// placing failed).
async fn pre_place(
    env: &Env,
    rec: &Recorder,
    n: u64,
    concurrency: usize,
    payment_status: &str,
) -> Vec<Option<OrderResp>> {
    eprintln!("placing {n} orders (card, payment {payment_status}) …");
    let placed: RefCell<Vec<Option<OrderResp>>> = RefCell::new((0..n).map(|_| None).collect());
    let pb = progress(n, "placing");
    closed_loop(n, concurrency, None, |i| {
        let (placed, pb) = (&placed, &pb);
        async move {
            let req = Req::post("/v1/orders", &order_body(&env.run_id, i, payment_status))
                .auth(&env.keys.storefront)
                .idempotency(format!("bench-{}-setup-{i}", env.run_id));
            if let Some(o) = env
                .http
                .json::<OrderResp>(rec, EP_SETUP_PLACE, req, Instant::now())
                .await
            {
                placed.borrow_mut()[i as usize] = Some(o);
            }
            pb.inc(1);
        }
    })
    .await;
    pb.finish_and_clear();
    placed.into_inner()
}

fn base_report(env: &Env, args: &BenchArgs) -> Report {
    let cfg = &env.config;
    let workers = if cfg.server.workers == 0 {
        orderly::config::num_cpus()
    } else {
        cfg.server.workers
    };
    let actor_threads = if cfg.engine.actor_threads == 0 {
        orderly::config::num_cpus()
    } else {
        cfg.engine.actor_threads
    };
    let load = match (args.scenario, args.rate) {
        (Scenario::Reads, rate) => {
            let r = rate.unwrap_or(1000.0);
            format!(
                "open loop: {r}/s reads (tracking, order and quote in turn) + {r}/s GET /healthz, interleaved, for {} s after {} s warm-up; latency from the intended send time",
                args.duration_secs.unwrap_or(10),
                args.warmup_secs
            )
        }
        (_, Some(r)) => format!(
            "open loop: {r} {}/s; latency from the intended send time",
            if args.scenario == Scenario::Lifecycle {
                "orders"
            } else {
                "transitions"
            }
        ),
        (_, None) => format!("closed loop: {} in flight", args.concurrency),
    };
    let mut header = vec![
        ("machine".to_string(), env.machine.describe()),
        ("target".to_string(), env.target.clone()),
        (
            "server config".to_string(),
            format!(
                "{} HTTP workers, {} actor threads, sled cache {} MiB{}",
                workers,
                actor_threads,
                cfg.storage.cache_mb,
                if args.url.is_some() {
                    " (as in the local config file)"
                } else {
                    ""
                }
            ),
        ),
        ("load".to_string(), load),
        ("loadavg at start".to_string(), env.loadavg_at_start.clone()),
        (
            "client".to_string(),
            "awc on one actix System thread, HTTP/1.1 keep-alive".to_string(),
        ),
        (
            "work dir".to_string(),
            format!(
                "{}{}",
                env.work_dir.display(),
                if args.keep_data {
                    " (kept)"
                } else {
                    " (deleted at exit; --keep-data keeps it)"
                }
            ),
        ),
        (
            "run".to_string(),
            format!(
                "{} at {}",
                env.run_id,
                chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ")
            ),
        ),
    ];
    if let Some(d) = args
        .duration_secs
        .filter(|_| args.scenario != Scenario::Reads)
    {
        header.push((
            "time limit".to_string(),
            format!("no new work started after {d} s"),
        ));
    }
    let mut params = std::collections::BTreeMap::new();
    params.insert(
        "scenario".to_string(),
        json!(format!("{:?}", args.scenario).to_lowercase()),
    );
    params.insert("orders".to_string(), json!(args.orders));
    params.insert("concurrency".to_string(), json!(args.concurrency));
    params.insert("split_share".to_string(), json!(args.split_share));
    params.insert("rate".to_string(), json!(args.rate));
    params.insert("duration_secs".to_string(), json!(args.duration_secs));
    params.insert("url".to_string(), json!(args.url));
    Report {
        title: format!("orderly bench — {}", args.scenario.title()),
        machine: Some(env.machine.clone()),
        header,
        params,
        ..Report::default()
    }
}

fn fig(key: &str, label: &str, value: f64, unit: &'static str) -> Figure {
    Figure {
        key: key.into(),
        label: label.into(),
        value,
        unit,
    }
}

fn lag_figures(report: &mut Report, l: &OpenLoop) {
    report.totals.push(fig(
        "issued",
        "requests issued by the open loop (incl. any warm-up)",
        l.issued as f64,
        "",
    ));
    if !l.lag.is_empty() {
        report.totals.push(fig(
            "send_lag_p99_ms",
            "client send lag behind schedule, p99",
            l.lag.value_at_quantile(0.99) as f64 / 1000.0,
            "ms",
        ));
        report.totals.push(fig(
            "send_lag_max_ms",
            "client send lag behind schedule, max",
            l.lag.max() as f64 / 1000.0,
            "ms",
        ));
    }
}

pub async fn run(args: &BenchArgs, env: Env) -> Result<Report, String> {
    stock(&env).await?;
    let env = Rc::new(env);
    match args.scenario {
        Scenario::Lifecycle => lifecycle(args, env).await,
        Scenario::Transitions => transitions(args, env).await,
        Scenario::Reads => reads(args, env).await,
    }
}

// ---------------------------------------------------------------------------------------------
// S3: lifecycle
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    started: Cell<u64>,
    delivered: Cell<u64>,
    failed: Cell<u64>,
    polls: Cell<u64>,
    /// Mutating requests answered 2xx: each is durable before its answer.
    writes: Cell<u64>,
    /// The share of orders split into two shipments (`--split-share`).
    split_share: f64,
}

pub(super) fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

/// One order, placed to delivered. `since` is when it was due (open loop) or started.
async fn one_order(env: &Env, rec: &Recorder, tally: &Tally, i: u64, since: Instant) {
    bump(&tally.started);
    let split = is_split(i, tally.split_share);
    if drive_order(env, rec, tally, i, since, split)
        .await
        .is_some()
    {
        bump(&tally.delivered);
        rec.ok(EP_E2E, since.elapsed());
    } else {
        bump(&tally.failed);
        rec.error(EP_E2E, "failed".into(), || {
            format!("order {i} did not reach delivered")
        });
    }
}

async fn drive_order(
    env: &Env,
    rec: &Recorder,
    tally: &Tally,
    i: u64,
    since: Instant,
    split: bool,
) -> Option<()> {
    let (http, keys) = (&env.http, &env.keys);
    let body = if split {
        split_order_body(&env.run_id, i)
    } else {
        order_body(&env.run_id, i, "captured")
    };
    let place = Req::post("/v1/orders", &body)
        .auth(&keys.storefront)
        .idempotency(format!("bench-{}-{i}", env.run_id));
    let mut order: OrderResp = http.json(rec, EP_PLACE, place, since).await?;
    bump(&tally.writes);
    let id = order.id.clone();
    let poll_until = Instant::now() + POLL_LIMIT;
    while order.status != "confirmed" {
        if order.status != "placed" {
            rec.error(EP_POLL, format!("order {}", order.status), || {
                format!("order {id} is {} instead of confirmed", order.status)
            });
            return None;
        }
        if Instant::now() > poll_until {
            rec.error(EP_POLL, "not confirmed in time".into(), || {
                format!("order {id} still placed after {} s", POLL_LIMIT.as_secs())
            });
            return None;
        }
        actix_rt::time::sleep(POLL_SLEEP).await;
        order = http
            .json(
                rec,
                EP_POLL,
                Req::get(format!("/v1/orders/{id}")).auth(&keys.storefront),
                Instant::now(),
            )
            .await?;
        bump(&tally.polls);
    }
    let bookings = if split {
        pack_each_shipment(env, rec, tally, &order).await?
    } else {
        vec![pack_whole(env, rec, tally, &order).await?]
    };
    let handover = Req::post(format!("/v1/orders/{id}/handover"), &json!({})).auth(&keys.warehouse);
    http.call(rec, EP_HANDOVER, handover, Instant::now())
        .await?;
    bump(&tally.writes);
    for (n, booking) in bookings.iter().enumerate() {
        let last = n + 1 == bookings.len();
        let carrier_key = keys.carrier(&booking.carrier);
        let path = format!("/v1/carriers/{}/events", booking.carrier);
        for (endpoint, kind, want) in [
            (EP_IN_TRANSIT, "in_transit", "shipped"),
            (
                EP_DELIVERED,
                "delivered",
                if last { "delivered" } else { "shipped" },
            ),
        ] {
            let event = json!({
                "event_id": format!("bench-{}-{i}-{n}-{kind}", env.run_id),
                "tracking_number": booking.tracking_number,
                "type": kind,
                "occurred_at": chrono::Utc::now().to_rfc3339(),
                "location": "Utrecht hub",
            });
            let ack: EventAck = http
                .json(
                    rec,
                    endpoint,
                    Req::post(path.clone(), &event).auth(carrier_key),
                    Instant::now(),
                )
                .await?;
            bump(&tally.writes);
            if ack.order_status != want {
                rec.error(endpoint, format!("order {}", ack.order_status), || {
                    format!(
                        "order {id} is {} after {kind}, expected {want}",
                        ack.order_status
                    )
                });
                return None;
            }
        }
    }
    Some(())
}

/// Picks and packs a one-shipment order through the order-level routes (as before shipments
/// had routes of their own); returns its booking.
async fn pack_whole(
    env: &Env,
    rec: &Recorder,
    tally: &Tally,
    order: &OrderResp,
) -> Option<BookingResp> {
    let (http, keys, id) = (&env.http, &env.keys, &order.id);
    let warehouse = order
        .warehouse
        .clone()
        .unwrap_or_else(|| stock_warehouse(env).to_string());
    let lines: Vec<Value> = order
        .lines
        .iter()
        .map(|l| json!({"sku": l.sku, "quantity": l.quantity}))
        .collect();
    let picks = Req::post(
        format!("/v1/orders/{id}/picks"),
        &json!({"warehouse": warehouse, "lines": lines}),
    )
    .auth(&keys.warehouse);
    http.call(rec, EP_PICKS, picks, Instant::now()).await?;
    bump(&tally.writes);
    let pack = Req::post(
        format!("/v1/orders/{id}/pack"),
        &json!({"warehouse": warehouse, "parcels": [{"weight_grams": 1200}]}),
    )
    .auth(&keys.warehouse);
    let packed: OrderResp = http.json(rec, EP_PACK, pack, Instant::now()).await?;
    bump(&tally.writes);
    let booking = packed.shipments.into_iter().find_map(|s| s.booking);
    if booking.is_none() {
        rec.error(EP_PACK, "no booking".into(), || {
            format!(
                "order {id} packed ({}) without a booked shipment",
                packed.status
            )
        });
    }
    booking
}

/// Picks and packs each shipment of a split order through the per-shipment routes; returns
/// their bookings.
async fn pack_each_shipment(
    env: &Env,
    rec: &Recorder,
    tally: &Tally,
    order: &OrderResp,
) -> Option<Vec<BookingResp>> {
    let (http, keys, id) = (&env.http, &env.keys, &order.id);
    let mut bookings = Vec::new();
    for s in &order.shipments {
        let base = format!("/v1/orders/{id}/shipments/{}", s.id);
        let lines: Vec<Value> = s
            .lines
            .iter()
            .map(|l| json!({"sku": l.sku, "quantity": l.quantity}))
            .collect();
        let picks =
            Req::post(format!("{base}/picks"), &json!({"lines": lines})).auth(&keys.warehouse);
        http.call(rec, EP_PICKS, picks, Instant::now()).await?;
        bump(&tally.writes);
        let pack = Req::post(
            format!("{base}/pack"),
            &json!({"parcels": [{"weight_grams": 600}]}),
        )
        .auth(&keys.warehouse);
        let packed: OrderResp = http.json(rec, EP_PACK, pack, Instant::now()).await?;
        bump(&tally.writes);
        let booking = packed
            .shipments
            .into_iter()
            .find(|x| x.id == s.id)
            .and_then(|x| x.booking);
        let Some(booking) = booking else {
            rec.error(EP_PACK, "no booking".into(), || {
                format!("shipment {} of order {id} packed without a booking", s.id)
            });
            return None;
        };
        bookings.push(booking);
    }
    if bookings.len() < 2 {
        rec.error(EP_PACK, "not split".into(), || {
            format!("order {id} was not split ({} shipments)", bookings.len())
        });
        return None;
    }
    Some(bookings)
}

async fn lifecycle(args: &BenchArgs, env: Rc<Env>) -> Result<Report, String> {
    let rec = Recorder::default();
    for ep in [
        EP_PLACE,
        EP_POLL,
        EP_PICKS,
        EP_PACK,
        EP_HANDOVER,
        EP_IN_TRANSIT,
        EP_DELIVERED,
        EP_E2E,
    ] {
        rec.declare(ep);
    }
    let tally = Rc::new(Tally {
        split_share: args.split_share,
        ..Tally::default()
    });
    let n = args.orders;
    eprintln!("driving {n} orders from placed to delivered …");
    let pb = progress(n, "orders");
    let before = Probe::take(&env).await;
    let (elapsed, open) = match args.rate {
        Some(rate) => {
            let l = open_loop(
                rate,
                Some(n),
                args.duration_secs.map(Duration::from_secs),
                |i, intended| {
                    let (env, rec, tally, pb) =
                        (env.clone(), rec.clone(), tally.clone(), pb.clone());
                    async move {
                        one_order(&env, &rec, &tally, i, intended).await;
                        pb.inc(1);
                    }
                },
            )
            .await?;
            (l.elapsed, Some(l))
        }
        None => {
            let until = args
                .duration_secs
                .map(|d| Instant::now() + Duration::from_secs(d));
            let e = closed_loop(n, args.concurrency, until, |i| {
                let (env, rec, tally, pb) = (&env, &rec, &tally, &pb);
                async move {
                    one_order(env, rec, tally, i, Instant::now()).await;
                    pb.inc(1);
                }
            })
            .await;
            (e, None)
        }
    };
    let after = Probe::take(&env).await;
    pb.finish_and_clear();

    let mut report = base_report(&env, args);
    let secs = elapsed.as_secs_f64();
    let delivered = tally.delivered.get() as f64;
    let (server, transitions) = before.delta(&after);
    let t = &mut report.totals;
    t.push(fig("elapsed_secs", "elapsed", secs, "s"));
    t.push(fig(
        "orders_started",
        "orders started",
        tally.started.get() as f64,
        "",
    ));
    t.push(fig("orders_delivered", "orders delivered", delivered, ""));
    t.push(fig(
        "orders_failed",
        "orders failed",
        tally.failed.get() as f64,
        "",
    ));
    t.push(fig(
        "orders_per_sec",
        "completed orders per second",
        delivered / secs,
        "/s",
    ));
    t.push(fig(
        "acknowledged_writes_per_sec",
        "acknowledged (durable) mutating requests per second",
        tally.writes.get() as f64 / secs,
        "/s",
    ));
    if let Some(tr) = transitions {
        t.push(fig(
            "transitions_per_sec",
            "durable transitions per second (events recorded)",
            tr / secs,
            "/s",
        ));
        if delivered > 0.0 {
            t.push(fig(
                "events_per_order",
                "events recorded per delivered order",
                tr / delivered,
                "",
            ));
        }
    }
    t.push(fig(
        "confirm_polls",
        "polls for confirmed (not counted as transitions)",
        tally.polls.get() as f64,
        "",
    ));
    if tally.started.get() > 0 {
        t.push(fig(
            "confirm_polls_per_order",
            "polls per order",
            tally.polls.get() as f64 / tally.started.get() as f64,
            "",
        ));
    }
    if let Some(l) = &open {
        lag_figures(&mut report, l);
    }
    let total_errors = rec.total_errors() - rec.error_count(EP_E2E);
    report.totals.push(fig(
        "errors",
        "request errors (all endpoints)",
        total_errors as f64,
        "",
    ));
    report.ratios.push(Ratio {
        key: "orders_per_sec".into(),
        label: "completed orders per second".into(),
        value: Some(delivered / secs),
        target: ">= 2000",
    });
    report.ratios.push(Ratio {
        key: "errors".into(),
        label: "request errors".into(),
        value: Some(total_errors as f64),
        target: "<= 0",
    });
    report.server = server;
    report.endpoints = rec.take();
    report.notes.push("per-endpoint latency counts from each request's send; the end-to-end line from the order's start (its intended start in an open loop), including the polls for confirmed".into());
    report.notes.push("durable transitions = the server's orderly_transitions_total delta: every event recorded, including the engine's own (stock reserved, confirmed, carrier booked), each acknowledged only after its group commit".into());
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// S1: transitions vs the storage baseline
// ---------------------------------------------------------------------------------------------

/// The order snapshot's size as stored: the order JSON without the response-only fields.
fn snapshot_size(body: &[u8]) -> Option<usize> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let o = v.as_object_mut()?;
    for k in ["history", "total", "label_url", "return_label_url"] {
        o.remove(k);
    }
    serde_json::to_vec(&v).ok().map(|b| b.len())
}

fn baseline_figures(out: &mut Vec<Figure>, prefix: &str, label: &str, b: &Baseline) {
    let f = |k: &str| format!("{prefix}_{k}");
    let secs = b.elapsed.as_secs_f64();
    out.push(fig(
        &f("writes"),
        &format!("{label}: durable writes"),
        b.writes as f64,
        "",
    ));
    out.push(fig(
        &f("elapsed_secs"),
        &format!("{label}: elapsed"),
        secs,
        "s",
    ));
    out.push(fig(
        &f("writes_per_sec"),
        &format!("{label}: durable writes per second"),
        b.writes as f64 / secs,
        "/s",
    ));
    if !b.latency.is_empty() {
        out.push(fig(
            &f("p50_ms"),
            &format!("{label}: write latency p50"),
            b.latency.value_at_quantile(0.5) as f64 / 1000.0,
            "ms",
        ));
        out.push(fig(
            &f("p99_ms"),
            &format!("{label}: write latency p99"),
            b.latency.value_at_quantile(0.99) as f64 / 1000.0,
            "ms",
        ));
    }
    out.push(fig(
        &f("flushes"),
        &format!("{label}: group-commit flushes"),
        b.flushes as f64,
        "",
    ));
    if b.flushes > 0 {
        out.push(fig(
            &f("writes_per_flush"),
            &format!("{label}: writes per flush (mean)"),
            b.flushed_writes as f64 / b.flushes as f64,
            "",
        ));
        out.push(fig(
            &f("flush_ms_mean"),
            &format!("{label}: flush time (mean)"),
            b.flush_micros as f64 / b.flushes as f64 / 1000.0,
            "ms",
        ));
    }
    if b.errors > 0 {
        out.push(fig(
            &f("errors"),
            &format!("{label}: failed writes"),
            b.errors as f64,
            "",
        ));
    }
}

async fn transitions(args: &BenchArgs, env: Rc<Env>) -> Result<Report, String> {
    let rec = Recorder::default();
    rec.declare(EP_PAYMENT);
    let n = args.orders;
    let placed = pre_place(&env, &rec, n, args.concurrency, "pending").await;
    let targets: Vec<Option<(String, i64)>> = placed
        .into_iter()
        .map(|o| o.map(|o| (o.id, o.total.amount)))
        .collect();
    eprintln!("waiting for the set-up's background work to finish …");
    settle(&env.http).await;

    eprintln!("recording {n} payments (one transition each) …");
    let targets = Rc::new(targets);
    let snapshot = Rc::new(Cell::new(None::<usize>));
    let skipped = Rc::new(Cell::new(0u64));
    let pb = progress(n, "transitions");
    let before = Probe::take(&env).await;
    let pay = |i: u64, since: Instant| {
        let (env, rec, targets, snapshot, skipped, pb) = (
            env.clone(),
            rec.clone(),
            targets.clone(),
            snapshot.clone(),
            skipped.clone(),
            pb.clone(),
        );
        async move {
            match &targets[i as usize] {
                Some((id, amount)) => {
                    let body = json!({"status": "authorized", "amount": amount, "reference": format!("bench-{}-{i}", env.run_id)});
                    let req = Req::post(format!("/v1/orders/{id}/payments"), &body)
                        .auth(&env.keys.storefront);
                    if let Some(b) = env.http.call(&rec, EP_PAYMENT, req, since).await {
                        if snapshot.get().is_none() {
                            snapshot.set(snapshot_size(&b));
                        }
                    }
                }
                None => bump(&skipped),
            }
            pb.inc(1);
        }
    };
    let (elapsed, open) = match args.rate {
        Some(rate) => {
            let l = open_loop(
                rate,
                Some(n),
                args.duration_secs.map(Duration::from_secs),
                &pay,
            )
            .await?;
            (l.elapsed, Some(l))
        }
        None => {
            let until = args
                .duration_secs
                .map(|d| Instant::now() + Duration::from_secs(d));
            (
                closed_loop(n, args.concurrency, until, |i| pay(i, Instant::now())).await,
                None,
            )
        }
    };
    let after = Probe::take(&env).await;
    pb.finish_and_clear();

    let ok = rec.ok_count(EP_PAYMENT);
    let secs = elapsed.as_secs_f64();
    let tps = ok as f64 / secs;
    let value_size = snapshot.get().unwrap_or(1024);
    eprintln!(
        "storage baseline: {n} writes of {value_size} bytes, {} at a time …",
        args.concurrency
    );
    let b = storage_baseline(
        &env.work_dir.join("baseline"),
        n,
        args.concurrency,
        value_size,
    )
    .await?;
    let bps = b.writes as f64 / b.elapsed.as_secs_f64();

    let mut report = base_report(&env, args);
    let (server, transitions) = before.delta(&after);
    let t = &mut report.totals;
    t.push(fig("elapsed_secs", "elapsed", secs, "s"));
    t.push(fig(
        "transitions",
        "transitions acknowledged (2xx)",
        ok as f64,
        "",
    ));
    t.push(fig(
        "transitions_per_sec",
        "durable transitions per second",
        tps,
        "/s",
    ));
    if let Some(tr) = transitions {
        t.push(fig(
            "events_per_sec",
            "events recorded per second (server counter)",
            tr / secs,
            "/s",
        ));
    }
    if skipped.get() > 0 {
        t.push(fig(
            "skipped",
            "orders skipped (placing them failed)",
            skipped.get() as f64,
            "",
        ));
    }
    if let Some(l) = &open {
        lag_figures(&mut report, l);
    }
    report.totals.push(fig(
        "errors",
        "request errors (all endpoints)",
        rec.total_errors() as f64,
        "",
    ));
    let bl = &mut report.baseline;
    bl.push(fig(
        "baseline_value_bytes",
        "value size (an order snapshot's JSON)",
        value_size as f64,
        "bytes",
    ));
    bl.push(fig(
        "baseline_concurrency",
        "writers in flight",
        args.concurrency as f64,
        "",
    ));
    baseline_figures(bl, "baseline", "storage", &b);
    report.ratios.push(Ratio {
        key: "transitions_vs_storage".into(),
        label: "transitions/s ÷ baseline writes/s".into(),
        value: (bps > 0.0).then(|| tps / bps),
        target: ">= 0.5",
    });
    report.server = server;
    report.endpoints = rec.take();
    report.notes.push("each transition: POST payments {status: authorized} on a placed card order; its 2xx comes only after the transition's group commit".into());
    report.notes.push("the baseline runs in the bench process after the HTTP phase, on the same file system, with the same sled store, group commit and fdatasync as the engine".into());
    if open.is_some() {
        report.notes.push("at a fixed --rate the transitions/s is the offered rate while the server keeps up, and the baseline is still a closed loop at --concurrency: the ratio to the baseline means capacity only in a closed loop".into());
    }
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// S2: reads vs /healthz
// ---------------------------------------------------------------------------------------------

async fn reads(args: &BenchArgs, env: Rc<Env>) -> Result<Report, String> {
    let setup = Recorder::default();
    let placed = pre_place(&env, &setup, args.orders, args.concurrency, "captured").await;
    let orders: Rc<Vec<(String, String)>> = Rc::new(
        placed
            .into_iter()
            .flatten()
            .filter_map(|o| Some((o.id, o.tracking_token?)))
            .collect(),
    );
    if orders.is_empty() {
        return Err(format!(
            "no order could be placed; errors: {}",
            setup
                .take()
                .iter()
                .flat_map(|e| e.samples.clone())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    eprintln!("waiting for the set-up's background work to finish …");
    settle(&env.http).await;

    let rate = args.rate.unwrap_or(1000.0);
    let measure = Duration::from_secs(args.duration_secs.unwrap_or(10));
    let warmup = Duration::from_secs(args.warmup_secs);
    let rec = Recorder::default();
    for ep in [EP_TRACK, EP_ORDER, EP_QUOTE, EP_HEALTHZ] {
        rec.declare(ep);
    }
    let discard = Recorder::default();
    let total_rate = 2.0 * rate;
    eprintln!(
        "reading at {rate}/s plus /healthz at {rate}/s for {} s (after {} s warm-up) …",
        measure.as_secs(),
        warmup.as_secs()
    );
    let pb = progress(
        ((warmup + measure).as_secs_f64() * total_rate) as u64,
        "requests",
    );
    let measure_from = Rc::new(Cell::new(None::<Instant>));
    let before = RefCell::new(None::<Probe>);
    let l = open_loop(total_rate, None, Some(warmup + measure), |i, intended| {
        let (env, rec, discard, orders, pb, measure_from) = (
            env.clone(),
            rec.clone(),
            discard.clone(),
            orders.clone(),
            pb.clone(),
            measure_from.clone(),
        );
        if i == 0 {
            measure_from.set(Some(intended + warmup));
        }
        async move {
            let recording = measure_from.get().is_some_and(|m| intended >= m);
            let rec = if recording { &rec } else { &discard };
            // Tracking, health, order, health, quote, health: each read kind at rate/3,
            // /healthz at rate.
            let (o_id, token) =
                &orders[((i / 6).wrapping_mul(7919) % orders.len() as u64) as usize];
            match i % 6 {
                0 => {
                    env.http
                        .call(
                            rec,
                            EP_TRACK,
                            Req::get(format!("/v1/track/{token}")),
                            intended,
                        )
                        .await
                }
                2 => {
                    env.http
                        .call(
                            rec,
                            EP_ORDER,
                            Req::get(format!("/v1/orders/{o_id}")).auth(&env.keys.storefront),
                            intended,
                        )
                        .await
                }
                4 => {
                    env.http
                        .call(
                            rec,
                            EP_QUOTE,
                            Req::post("/v1/quotes", &quote_body(i)).auth(&env.keys.storefront),
                            intended,
                        )
                        .await
                }
                _ => {
                    env.http
                        .call(rec, EP_HEALTHZ, Req::get("/healthz"), intended)
                        .await
                }
            };
            pb.inc(1);
        }
    });
    // Counters for the measured part only: taken when the warm-up ends, alongside the loop.
    let probe = async {
        actix_rt::time::sleep(warmup + Duration::from_millis(5)).await;
        *before.borrow_mut() = Some(Probe::take(&env).await);
    };
    let (l, ()) = futures::join!(l, probe);
    let l = l?;
    let after = Probe::take(&env).await;
    pb.finish_and_clear();

    let mut report = base_report(&env, args);
    let secs = (l.started + l.elapsed)
        .saturating_duration_since(l.started + warmup)
        .as_secs_f64();
    let t = &mut report.totals;
    t.push(fig(
        "orders_placed",
        "orders pre-placed and read",
        orders.len() as f64,
        "",
    ));
    t.push(fig("measured_secs", "measured", secs, "s"));
    let measured: u64 = [EP_TRACK, EP_ORDER, EP_QUOTE, EP_HEALTHZ]
        .iter()
        .map(|e| rec.ok_count(e) + rec.error_count(e))
        .sum();
    t.push(fig(
        "requests_per_sec",
        "requests per second (all four endpoints)",
        measured as f64 / secs,
        "/s",
    ));
    lag_figures(&mut report, &l);
    report.totals.push(fig(
        "errors",
        "request errors (measured)",
        rec.total_errors() as f64,
        "",
    ));
    if setup.total_errors() > 0 {
        report.totals.push(fig(
            "setup_errors",
            "errors while placing the orders",
            setup.total_errors() as f64,
            "",
        ));
    }
    let health = (
        rec.percentile_ms(EP_HEALTHZ, 0.5),
        rec.percentile_ms(EP_HEALTHZ, 0.99),
    );
    for (key, label, ep, p50_target, p99_target) in [
        ("track", "tracking", EP_TRACK, "<= 1.5", "<= 2"),
        ("order", "order", EP_ORDER, "<= 1.5", "<= 2"),
        ("quote", "quote", EP_QUOTE, "<= 3", super::report::NO_TARGET),
    ] {
        let ratio = |q: f64, base: Option<f64>| {
            Some(rec.percentile_ms(ep, q)? / base.filter(|b| *b > 0.0)?)
        };
        report.ratios.push(Ratio {
            key: format!("{key}_p50_vs_healthz"),
            label: format!("{label} read p50 ÷ /healthz p50"),
            value: ratio(0.5, health.0),
            target: p50_target,
        });
        report.ratios.push(Ratio {
            key: format!("{key}_p99_vs_healthz"),
            label: format!("{label} read p99 ÷ /healthz p99"),
            value: ratio(0.99, health.1),
            target: p99_target,
        });
    }
    if let Some(before) = before.into_inner() {
        report.server = before.delta(&after).0;
    }
    report.endpoints = rec.take();
    report.notes.push("all four endpoints share one open-loop schedule (track, healthz, order, healthz, quote, healthz, …) on one client, so they see the same load; latency counts from each request's intended send time; a quote is one or two lines of the bench's skus to a Dutch address, every shipping method".into());
    Ok(report)
}

#[cfg(test)]
mod tests;
