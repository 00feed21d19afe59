//! `orderly crash`: the crash harness. For N iterations it starts the service, drives
//! concurrent orders through their lifecycle, SIGKILLs it at a random moment, restarts it and
//! checks that every acknowledged change is there, nothing moved backwards or ran twice, and
//! in-flight orders carry on by themselves. A local webhook receiver counts raw deliveries and
//! distinct message ids, so duplicates (allowed: at-least-once) and losses (not allowed) show.

use crate::child::{get, wait_until, ChildService};
use crate::config::Config;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
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

/// An acknowledged order: (id, (highest acknowledged version, status at that version)).
type Acked = (String, (u64, String));

/// What clients were told: per order, the highest acknowledged version and its status.
#[derive(Default)]
struct Acks {
    orders: HashMap<String, (u64, String)>,
    transitions: u64,
    paid: HashSet<String>,
    /// Orders acknowledged since the last kill: verified after the restart.
    touched: HashSet<String>,
}

#[derive(Default)]
struct Receiver {
    raw: AtomicU64,
    ids: Mutex<HashSet<String>>,
}

fn rank(status: &str) -> u8 {
    match status {
        "placed" => 0,
        "confirmed" => 1,
        "packed" => 2,
        "shipped" => 3,
        "delivered" => 4,
        "returned" => 5,
        "cancelled" => 6,
        _ => 0,
    }
}

fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b) % n.max(1)
}

struct Keys {
    storefront: String,
    warehouse: String,
    admin: String,
    carriers: HashMap<String, String>,
}

struct Client {
    http: awc::Client,
    base: String,
    keys: Arc<Keys>,
}

impl Client {
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

fn ack(acks: &Mutex<Acks>, order: &Value) {
    let (Some(id), Some(version), Some(status)) = (
        order["id"].as_str(),
        order["version"].as_u64(),
        order["status"].as_str(),
    ) else {
        return;
    };
    let mut a = acks.lock().unwrap_or_else(|e| e.into_inner());
    a.transitions += 1;
    a.touched.insert(id.to_string());
    let e = a.orders.entry(id.to_string()).or_insert((0, String::new()));
    if version >= e.0 {
        *e = (version, status.to_string());
    }
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
        acks.lock()
            .unwrap_or_else(|e| e.into_inner())
            .paid
            .insert(id.clone());
        // Confirmation is automatic; give it a moment, then walk on.
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
                json!({"warehouse": "crash", "lines": [{"sku": "CRASH-1", "quantity": 1}]}),
            ),
            (
                format!("/v1/orders/{id}/pack"),
                json!({"warehouse": "crash", "parcels": [{"weight_grams": 500}]}),
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

/// Checks acknowledged orders, 64 at a time: each must be at or past its acknowledged version
/// and status, with a history numbered 1..n and each one-time step at most once.
async fn verify(client: &Client, acked: &[Acked]) -> (Vec<String>, u64) {
    let mut lost = Vec::new();
    let mut repeated = 0;
    for chunk in acked.chunks(64) {
        // A read that fails in transport is retried: only an answer counts as evidence.
        let reads = chunk.iter().map(|(id, _)| async move {
            for _ in 0..3 {
                if let Some(r) = client.order(id).await {
                    return Some(r);
                }
            }
            None
        });
        let results = futures::future::join_all(reads).await;
        for ((id, (version, status)), result) in chunk.iter().zip(results) {
            match result {
                Some((200, o)) => {
                    let v = o["version"].as_u64().unwrap_or(0);
                    let s = o["status"].as_str().unwrap_or("");
                    if v < *version || (rank(s) < rank(status) && s != "cancelled") {
                        lost.push(format!(
                            "{id}: acknowledged v{version} {status}, found v{v} {s}"
                        ));
                    }
                    let seqs: Vec<u64> = o["history"]
                        .as_array()
                        .map(|h| h.iter().filter_map(|e| e["seq"].as_u64()).collect())
                        .unwrap_or_default();
                    if seqs != (1..=seqs.len() as u64).collect::<Vec<_>>() {
                        repeated += 1;
                    }
                    let kinds: Vec<&str> = o["history"]
                        .as_array()
                        .map(|h| h.iter().filter_map(|e| e["type"].as_str()).collect())
                        .unwrap_or_default();
                    for once in [
                        "placed",
                        "stock_reserved",
                        "confirmed",
                        "packed",
                        "shipment_booked",
                        "shipped",
                        "delivered",
                    ] {
                        if kinds.iter().filter(|k| **k == once).count() > 1 {
                            repeated += 1;
                        }
                    }
                }
                other => lost.push(format!(
                    "{id}: acknowledged v{version} {status}, now {other:?}"
                )),
            }
        }
    }
    (lost, repeated)
}

async fn receiver(state: web::Data<Receiver>, req: HttpRequest) -> HttpResponse {
    state.raw.fetch_add(1, Ordering::Relaxed);
    if let Some(id) = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
    {
        state
            .ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string());
    }
    HttpResponse::NoContent().finish()
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

pub fn run(args: CrashArgs, config: &Config, config_path: &Path) -> Result<(), String> {
    actix_rt::System::new().block_on(run_async(args, config, config_path))
}

async fn run_async(args: CrashArgs, config: &Config, config_path: &Path) -> Result<(), String> {
    let keys = Arc::new(Keys {
        storefront: config
            .auth
            .storefront
            .first()
            .cloned()
            .ok_or("no storefront key configured")?,
        warehouse: config
            .auth
            .warehouse
            .first()
            .cloned()
            .ok_or("no warehouse key configured")?,
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
    });
    let dir: PathBuf =
        std::env::temp_dir().join(format!("orderly-crash-{}", uuid::Uuid::new_v4().simple()));
    let recv = web::Data::new(Receiver::default());
    let r2 = recv.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(r2.clone())
            .default_service(web::to(receiver))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .map_err(|e| e.to_string())?;
    let hook_port = server.addrs()[0].port();
    actix_rt::spawn(server.run());
    let env = vec![
        (
            "ORDERLY_NOTIFICATIONS__WEBHOOK__URL",
            format!("http://127.0.0.1:{hook_port}/hook"),
        ),
        (
            "ORDERLY_NOTIFICATIONS__WEBHOOK__SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string(),
        ),
        ("ORDERLY_NOTIFICATIONS__BACKOFF_BASE_MS", "20".to_string()),
        ("ORDERLY_NOTIFICATIONS__BACKOFF_CAP_MS", "200".to_string()),
        ("ORDERLY_ENGINE__TIMER_TICK_MS", "50".to_string()),
    ];
    let acks = Arc::new(Mutex::new(Acks::default()));
    let http = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let mut lost: Vec<String> = Vec::new();
    let mut repeated = 0u64;
    let started = Instant::now();
    for iteration in 1..=args.iterations {
        let mut svc = ChildService::spawn(config_path, &dir, &env)?;
        let base = svc.base.clone();
        wait_until("/readyz", Duration::from_secs(30), async || {
            matches!(
                get(&http, &format!("{base}/readyz"), None).await,
                Some((200, _))
            )
        })
        .await?;
        let client = Rc::new(Client {
            http: http.clone(),
            base: base.clone(),
            keys: keys.clone(),
        });
        if iteration == 1 {
            let r = client
                .call(
                    "PUT",
                    "/v1/inventory/crash/CRASH-1",
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
        let snapshot: Vec<Acked> = {
            let mut a = acks.lock().unwrap_or_else(|e| e.into_inner());
            let touched = std::mem::take(&mut a.touched);
            touched
                .into_iter()
                .filter_map(|id| a.orders.get(&id).map(|v| (id, v.clone())))
                .collect()
        };
        let (l, r) = verify(&client, &snapshot).await;
        lost.extend(l);
        repeated += r;
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..args.concurrency)
            .map(|_| actix_rt::spawn(drive(client.clone(), acks.clone(), stop.clone())))
            .collect();
        actix_rt::time::sleep(Duration::from_millis(50 + random_below(args.max_run_ms))).await;
        svc.kill9();
        stop.store(true, Ordering::SeqCst);
        futures::future::join_all(workers).await;
        let a = acks.lock().unwrap_or_else(|e| e.into_inner());
        eprintln!(
            "iteration {iteration}: {} orders, {} acknowledged transitions so far, lost {}",
            a.orders.len(),
            a.transitions,
            lost.len()
        );
    }
    // Final round: everything paid must confirm by itself, and every notification must arrive.
    let svc = ChildService::spawn(config_path, &dir, &env)?;
    let base = svc.base.clone();
    wait_until("/readyz", Duration::from_secs(30), async || {
        matches!(
            get(&http, &format!("{base}/readyz"), None).await,
            Some((200, _))
        )
    })
    .await?;
    let client = Client {
        http: http.clone(),
        base,
        keys: keys.clone(),
    };
    let (ids, paid, all): (Vec<String>, HashSet<String>, Vec<Acked>) = {
        let a = acks.lock().unwrap_or_else(|e| e.into_inner());
        (
            a.orders.keys().cloned().collect(),
            a.paid.clone(),
            a.orders
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    };
    let (l, r) = verify(&client, &all).await;
    lost.extend(l);
    repeated += r;
    let mut stuck = Vec::new();
    let mut expected = 0u64;
    for id in &ids {
        let mut last = Value::Null;
        let settled = wait_until("order to settle", Duration::from_secs(20), async || {
            if let Some((200, o)) = client.order(id).await {
                let ok = o["stock"] != "pending" && (!paid.contains(id) || o["status"] != "placed");
                last = o;
                ok
            } else {
                false
            }
        })
        .await;
        if settled.is_err() {
            stuck.push(id.clone());
        }
        expected += expected_notifications(&last["history"]);
    }
    let delivered = wait_until("notifications", Duration::from_secs(60), async || {
        recv.ids.lock().unwrap_or_else(|e| e.into_inner()).len() as u64 >= expected
    })
    .await;
    let unique = recv.ids.lock().unwrap_or_else(|e| e.into_inner()).len() as u64;
    let raw = recv.raw.load(Ordering::Relaxed);
    let a = acks.lock().unwrap_or_else(|e| e.into_inner());
    println!(
        "crash harness: {} iterations in {:.0} s",
        args.iterations,
        started.elapsed().as_secs_f64()
    );
    println!("  orders:                    {}", a.orders.len());
    println!("  acknowledged transitions:  {}", a.transitions);
    println!("  lost or moved backwards:   {}", lost.len());
    println!("  histories with a repeat:   {repeated}");
    println!("  paid orders not resumed:   {}", stuck.len());
    println!("  notifications expected:    {expected}");
    println!(
        "  notifications delivered:   {unique} distinct ids, {raw} raw deliveries ({} redelivered)",
        raw.saturating_sub(unique)
    );
    for l in lost.iter().take(10) {
        println!("  LOST {l}");
    }
    drop(svc);
    if args.keep_data {
        println!("  data kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if !lost.is_empty()
        || repeated > 0
        || !stuck.is_empty()
        || delivered.is_err()
        || unique < expected
    {
        return Err("the crash harness found violations (see above)".into());
    }
    Ok(())
}
