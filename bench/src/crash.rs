//! `orderly-bench crash`: the crash harness. For N iterations it starts the service, drives
//! concurrent orders through their lifecycle, SIGKILLs it at a random moment, restarts it and
//! checks that every acknowledged change is there, nothing moved backwards or ran twice, and
//! in-flight orders carry on by themselves. A local webhook receiver counts raw deliveries and
//! distinct message ids, so duplicates (allowed: at-least-once) and losses (not allowed) show.
//!
//! [`run`] returns a [`CrashReport`] (data); the command line prints it.

use orderly::config::Config;
use orderly_testkit::{wait, AckLog, CheckReport, Checker, Receiver, Service};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct CrashArgs {
    /// Kill/restart cycles.
    #[arg(long, default_value_t = 20)]
    pub iterations: u32,
    /// Concurrent clients driving orders.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Longest run before the kill, in milliseconds (the kill comes at a random moment).
    #[arg(long, default_value_t = 1500)]
    pub max_run_ms: u64,
    /// Keep the data directory (printed) instead of deleting it.
    #[arg(long)]
    pub keep_data: bool,
}

/// What a crash-harness run found.
#[derive(Debug, Clone)]
pub struct CrashReport {
    pub iterations: u32,
    pub elapsed: Duration,
    /// Orders acknowledged at least once.
    pub orders: usize,
    /// Acknowledged transitions (2xx answers that changed an order).
    pub acknowledged: u64,
    /// Every acknowledged order checked after each restart and at the end.
    pub check: CheckReport,
    /// Paid orders that did not confirm (or whose stock stayed pending) by themselves.
    pub not_resumed: Vec<String>,
    /// Notifications the final histories call for.
    pub notifications_expected: u64,
    /// Distinct webhook ids delivered (answered 200).
    pub notifications_delivered: u64,
    /// Deliveries received, redeliveries included.
    pub notifications_raw: u64,
    /// Whether the distinct deliveries reached the expected count before the deadline.
    pub notifications_in_time: bool,
    /// The service's work directory (config, log, `data/`), if kept.
    pub kept: Option<PathBuf>,
}

impl CrashReport {
    /// Acknowledged changes lost or moved backwards.
    pub fn lost(&self) -> usize {
        self.check.lost()
    }

    /// Histories with a gap or a repeated one-time step.
    pub fn repeats(&self) -> usize {
        self.check.repeats()
    }

    pub fn is_clean(&self) -> bool {
        self.check.is_clean()
            && self.not_resumed.is_empty()
            && self.notifications_in_time
            && self.notifications_delivered >= self.notifications_expected
    }
}

impl fmt::Display for CrashReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "crash harness: {} iterations in {:.0} s",
            self.iterations,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(f, "  orders:                    {}", self.orders)?;
        writeln!(f, "  acknowledged transitions:  {}", self.acknowledged)?;
        writeln!(f, "  lost or moved backwards:   {}", self.lost())?;
        writeln!(f, "  histories with a repeat:   {}", self.repeats())?;
        writeln!(f, "  paid orders not resumed:   {}", self.not_resumed.len())?;
        writeln!(
            f,
            "  notifications expected:    {}",
            self.notifications_expected
        )?;
        writeln!(
            f,
            "  notifications delivered:   {} distinct ids, {} raw deliveries ({} redelivered)",
            self.notifications_delivered,
            self.notifications_raw,
            self.notifications_raw
                .saturating_sub(self.notifications_delivered)
        )?;
        for v in self
            .check
            .violations
            .iter()
            .filter(|v| v.is_loss())
            .take(10)
        {
            writeln!(f, "  LOST {v}")?;
        }
        for v in self
            .check
            .violations
            .iter()
            .filter(|v| !v.is_loss())
            .take(10)
        {
            writeln!(f, "  REPEAT {v}")?;
        }
        if let Some(dir) = &self.kept {
            writeln!(f, "  data kept in {}", dir.display())?;
        }
        Ok(())
    }
}

/// What clients were told (the shared checker's log) and which orders were paid.
#[derive(Default)]
struct Acks {
    log: AckLog,
    paid: HashSet<String>,
}

fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b) % n.max(1)
}

struct Keys {
    storefront: String,
    warehouse: String,
    /// The warehouse the harness stocks and picks at: the config's first, or its own when
    /// the service runs open.
    stock_at: String,
    admin: String,
    carriers: HashMap<String, String>,
}

struct Client {
    http: awc::Client,
    base: String,
    keys: Arc<Keys>,
}

impl Client {
    fn new(base: String, keys: Arc<Keys>) -> Client {
        Client {
            http: awc::Client::builder()
                .timeout(Duration::from_secs(10))
                .finish(),
            base,
            keys,
        }
    }

    async fn order(&self, id: &str) -> Option<(u16, Value)> {
        self.call(
            "GET",
            &format!("/v1/orders/{id}"),
            &self.keys.storefront,
            None,
            None,
        )
        .await
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
        idem: Option<&str>,
    ) -> Option<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "POST" => self.http.post(url),
            "PUT" => self.http.put(url),
            _ => self.http.get(url),
        }
        .bearer_auth(key);
        if let Some(k) = idem {
            req = req.insert_header(("Idempotency-Key", k.to_string()));
        }
        let mut resp = match body {
            Some(b) => req.send_json(&b).await.ok()?,
            None => req.send().await.ok()?,
        };
        let bytes = resp.body().limit(4 << 20).await.ok()?;
        Some((
            resp.status().as_u16(),
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn ack(acks: &Mutex<Acks>, order: &Value) {
    lock(acks).log.record(order);
}

/// One client: places orders and walks each as far as it gets before the server dies.
async fn drive(c: Rc<Client>, acks: Arc<Mutex<Acks>>, stop: Arc<AtomicBool>) {
    let k = &c.keys;
    while !stop.load(Ordering::SeqCst) {
        let body = json!({
            "customer": {"id": "crash", "email": "crash@example.com"},
            "currency": "EUR",
            "lines": [{"sku": "CRASH-1", "quantity": 1, "unit_price": 1000}],
            "shipping": {"address": {"name": "C", "line1": "L", "city": "Utrecht", "postal_code": "3511", "country": "NL"}},
            "payment": {"method": "card", "status": "pending"}
        });
        let key = uuid::Uuid::new_v4().to_string();
        let Some((201, order)) = c
            .call("POST", "/v1/orders", &k.storefront, Some(body), Some(&key))
            .await
        else {
            return;
        };
        ack(&acks, &order);
        let id = order["id"].as_str().unwrap_or_default().to_string();
        let pay = json!({"status": "captured", "amount": 1000, "reference": format!("psp-{id}")});
        let Some((200, o)) = c
            .call(
                "POST",
                &format!("/v1/orders/{id}/payments"),
                &k.storefront,
                Some(pay),
                None,
            )
            .await
        else {
            return;
        };
        ack(&acks, &o);
        lock(&acks).paid.insert(id.clone());
        // Confirmation is automatic; poll for it (bounded), then walk on.
        let mut confirmed = false;
        for _ in 0..200 {
            match c.order(&id).await {
                Some((200, o)) if o["status"] == "confirmed" => {
                    confirmed = true;
                    break;
                }
                Some(_) => actix_rt::time::sleep(Duration::from_millis(5)).await,
                None => return,
            }
        }
        if !confirmed || random_below(4) == 0 {
            continue; // leave some orders in flight on purpose
        }
        let steps: Vec<(String, Value)> = vec![
            (
                format!("/v1/orders/{id}/picks"),
                json!({"warehouse": k.stock_at, "lines": [{"sku": "CRASH-1", "quantity": 1}]}),
            ),
            (
                format!("/v1/orders/{id}/pack"),
                json!({"warehouse": k.stock_at, "parcels": [{"weight_grams": 500}]}),
            ),
            (format!("/v1/orders/{id}/handover"), json!({})),
        ];
        let mut last = Value::Null;
        for (path, body) in steps {
            match c.call("POST", &path, &k.warehouse, Some(body), None).await {
                Some((200, o)) => {
                    ack(&acks, &o);
                    last = o;
                }
                _ => break,
            }
        }
        let (Some(carrier), Some(tn)) = (
            last["shipments"][0]["booking"]["carrier"].as_str(),
            last["shipments"][0]["booking"]["tracking_number"].as_str(),
        ) else {
            continue;
        };
        let Some(ckey) = k.carriers.get(carrier) else {
            continue;
        };
        for (i, kind) in ["in_transit", "out_for_delivery", "delivered"]
            .iter()
            .enumerate()
        {
            let ev = json!({"event_id": format!("{tn}-{i}"), "tracking_number": tn, "type": kind, "occurred_at": chrono::Utc::now().to_rfc3339()});
            match c
                .call(
                    "POST",
                    &format!("/v1/carriers/{carrier}/events"),
                    ckey,
                    Some(ev),
                    None,
                )
                .await
            {
                Some((200, ack_body)) => {
                    let o = json!({"id": id, "version": ack_body["version"], "status": ack_body["order_status"]});
                    ack(&acks, &o);
                }
                _ => break,
            }
        }
    }
}

/// Notifications the histories call for (one per customer-visible event).
fn expected_notifications(history: &Value) -> u64 {
    history
        .as_array()
        .map(|h| {
            h.iter()
                .filter(|e| {
                    let t = e["type"].as_str().unwrap_or("");
                    matches!(
                        t,
                        "confirmed"
                            | "shipped"
                            | "delivered"
                            | "cancelled"
                            | "return_approved"
                            | "refund_issued"
                    ) || (t == "carrier_scanned" && e["kind"] == "out_for_delivery")
                })
                .count() as u64
        })
        .unwrap_or(0)
}

fn keys(config: &Config) -> Result<Keys, String> {
    Ok(Keys {
        storefront: config
            .auth
            .storefront
            .first()
            .cloned()
            .ok_or("no storefront key configured")?,
        warehouse: config
            .auth
            .warehouse
            .iter()
            .find(|k| k.warehouses().is_none())
            .map(|k| k.key().to_string())
            .ok_or("no warehouse key for every warehouse configured")?,
        stock_at: config.first_warehouse().unwrap_or("crash").to_string(),
        admin: config
            .auth
            .admin
            .first()
            .cloned()
            .ok_or("no admin key configured")?,
        carriers: config
            .auth
            .carriers
            .iter()
            .filter_map(|(c, k)| Some((c.clone(), k.first()?.clone())))
            .collect(),
    })
}

/// Runs the harness against the `orderly` binary `bin` with the config file `config_path`
/// (keys come from it too), in its own actix system.
pub fn run(args: &CrashArgs, config_path: &Path, bin: &Path) -> Result<CrashReport, String> {
    let config = Config::load(config_path)?;
    actix_rt::System::new().block_on(run_async(args, &config, config_path, bin))
}

async fn run_async(
    args: &CrashArgs,
    config: &Config,
    config_path: &Path,
    bin: &Path,
) -> Result<CrashReport, String> {
    let keys = Arc::new(keys(config)?);
    let work: PathBuf =
        std::env::temp_dir().join(format!("orderly-crash-{}", uuid::Uuid::new_v4().simple()));
    let recv = Receiver::counting().await?;
    let acks = Arc::new(Mutex::new(Acks::default()));
    let mut check = CheckReport::default();
    let started = Instant::now();
    let mut svc = Service::builder(bin)
        .config_file(config_path)
        .work_dir(&work)
        .log_level("warn")
        .env("ORDERLY_NOTIFICATIONS__WEBHOOK__URL", recv.url.as_str())
        .env(
            "ORDERLY_NOTIFICATIONS__WEBHOOK__SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .env("ORDERLY_NOTIFICATIONS__BACKOFF_BASE_MS", "20")
        .env("ORDERLY_NOTIFICATIONS__BACKOFF_CAP_MS", "200")
        .env("ORDERLY_ENGINE__TIMER_TICK_MS", "50")
        .ready_within(Duration::from_secs(30))
        .start()
        .await?;
    let result = drive_iterations(args, &mut svc, &keys, &acks, &recv, &mut check).await;
    let report = result.map(|(not_resumed, expected, in_time)| {
        let a = lock(&acks);
        CrashReport {
            iterations: args.iterations,
            elapsed: started.elapsed(),
            orders: a.log.orders(),
            acknowledged: a.log.transitions(),
            check,
            not_resumed,
            notifications_expected: expected,
            notifications_delivered: recv.distinct_ids(),
            notifications_raw: recv.raw_count(),
            notifications_in_time: in_time,
            kept: args.keep_data.then(|| work.clone()),
        }
    });
    if report.is_err() {
        eprintln!("service log (last lines):\n{}", svc.log_tail(30));
    }
    drop(svc);
    recv.stop().await;
    if !args.keep_data {
        let _ = std::fs::remove_dir_all(&work);
    }
    report
}

/// The kill/restart cycles, then the final round. Returns the paid orders not resumed, the
/// notifications expected, and whether they all arrived in time.
async fn drive_iterations(
    args: &CrashArgs,
    svc: &mut Service,
    keys: &Arc<Keys>,
    acks: &Arc<Mutex<Acks>>,
    recv: &Receiver,
    check: &mut CheckReport,
) -> Result<(Vec<String>, u64, bool), String> {
    for iteration in 1..=args.iterations {
        if iteration > 1 {
            svc.restart().await?;
        }
        // A new client (and connection pool) for each run of the service.
        let client = Rc::new(Client::new(svc.base_url(), keys.clone()));
        if iteration == 1 {
            let r = client
                .call(
                    "PUT",
                    &format!("/v1/inventory/{}/CRASH-1", keys.stock_at),
                    &keys.admin,
                    Some(json!({"on_hand": 1_000_000})),
                    None,
                )
                .await;
            if !matches!(r, Some((200, _))) {
                return Err(format!("could not stock the warehouse: {r:?}"));
            }
        }
        // Verify what was acknowledged before the previous kill.
        let snapshot = lock(acks).log.take_touched();
        check.merge(
            Checker::new(&svc.base_url(), &keys.storefront)
                .verify(&snapshot)
                .await,
        );
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..args.concurrency)
            .map(|_| actix_rt::spawn(drive(client.clone(), acks.clone(), stop.clone())))
            .collect();
        actix_rt::time::sleep(Duration::from_millis(50 + random_below(args.max_run_ms))).await;
        svc.kill9();
        stop.store(true, Ordering::SeqCst);
        futures::future::join_all(workers).await;
        let a = lock(acks);
        eprintln!(
            "iteration {iteration}: {} orders, {} acknowledged transitions so far, lost {}",
            a.log.orders(),
            a.log.transitions(),
            check.lost()
        );
    }
    // Final round: everything paid must confirm by itself, and every notification must arrive.
    svc.restart().await?;
    let client = Client::new(svc.base_url(), keys.clone());
    let (all, paid) = {
        let a = lock(acks);
        (a.log.all(), a.paid.clone())
    };
    check.merge(
        Checker::new(&svc.base_url(), &keys.storefront)
            .verify(&all)
            .await,
    );
    let mut not_resumed = Vec::new();
    let mut expected = 0u64;
    for (id, _) in &all {
        let mut last = Value::Null;
        let settled = wait::until(
            "order to settle",
            Duration::from_secs(20),
            Duration::from_millis(2),
            async || {
                if let Some((200, o)) = client.order(id).await {
                    let ok =
                        o["stock"] != "pending" && (!paid.contains(id) || o["status"] != "placed");
                    last = o;
                    ok
                } else {
                    false
                }
            },
        )
        .await;
        if settled.is_err() {
            not_resumed.push(id.clone());
        }
        expected += expected_notifications(&last["history"]);
    }
    let delivered = wait::until(
        "notifications",
        Duration::from_secs(60),
        Duration::from_millis(2),
        async || recv.distinct_ids() >= expected,
    )
    .await;
    Ok((not_resumed, expected, delivered.is_ok()))
}
