//! `orderly seed` and `orderly capacity`: the restart and memory scenarios (S4, S5).
//!
//! `seed` bulk-loads in-flight orders straight into a data directory (the same pure domain
//! functions and the same atomic transition writes as the engine, but one flush at the end
//! instead of one per order), so a million orders take seconds rather than an hour of HTTP.
//! `capacity` seeds a directory, starts the real service on it, and measures the time to
//! `/readyz` and to the first order served, then resident memory once the touched order actors
//! have gone idle, against the same service on an empty directory.

use crate::child::{get, rss_kib, wait_until, ChildService};
use crate::config::Config;
use chrono::Utc;
use orderly_actors::domain::inventory::{Reservation, ReservationState, StockLevel};
use orderly_actors::domain::Reactions;
use orderly_actors::domain::*;
use orderly_actors::store::{Store, TransitionWrite};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// Number of in-flight (confirmed, awaiting picking) orders to create.
    #[arg(long, default_value_t = 1_000_000)]
    pub orders: u64,
    /// Data directory to seed (default: the config's storage.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CapacityArgs {
    #[arg(long, default_value_t = 1_000_000)]
    pub orders: u64,
    /// Where to put the two data directories (default: a new temporary directory).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Order actors to wake (one command each) before measuring idle memory.
    #[arg(long, default_value_t = 10_000)]
    pub touch: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub const SEED_WAREHOUSE: &str = "seed";
pub const SEED_SKU: &str = "seed-sku";

fn seed_order(i: u64) -> NewOrder {
    NewOrder {
        external_ref: Some(format!("seed-{i}")),
        customer: Customer {
            id: format!("cust-{i}"),
            email: format!("customer{i}@example.com"),
            phone: None,
            locale: Some("nl-NL".into()),
        },
        currency: Currency::parse("EUR").expect("EUR is ISO 4217"),
        lines: vec![NewLine {
            sku: SEED_SKU.into(),
            quantity: 1,
            unit_price: 2495,
        }],
        shipping: Shipping {
            method: Some("standard".into()),
            address: Address {
                name: "Seed Customer".into(),
                line1: format!("Damrak {}", i % 500 + 1),
                line2: None,
                city: "Amsterdam".into(),
                postal_code: "1012LG".into(),
                country: "NL".into(),
            },
        },
        billing_address: None,
        payment: NewPayment {
            method: PaymentMethod::Card,
            status: InitialPaymentStatus::Captured,
        },
    }
}

/// Writes `n` confirmed orders with their reservations; returns one of their ids.
/// Orders go in atomic batches of a thousand: the bulk path.
pub fn seed_store(
    store: &Store,
    n: u64,
    mut progress: impl FnMut(u64),
) -> Result<Option<OrderId>, String> {
    let now = Utc::now();
    let mut last = None;
    let no_reactions = Reactions::default();
    let mut done = 0u64;
    while done < n {
        let chunk = (n - done).min(1000);
        let mut orders = Vec::with_capacity(chunk as usize);
        for i in done..done + chunk {
            let id = OrderId::now_v7();
            let mut token = [0u8; 20];
            getrandom::fill(&mut token).map_err(|e| e.to_string())?;
            let place = Command::Place {
                id,
                tracking_token: token.iter().map(|b| format!("{b:02x}")).collect(),
                order: seed_order(i),
                payment_timeout_secs: 86_400,
            };
            let mut events =
                decide(None, &place, &Cause::Storefront, now).map_err(|e| e.to_string())?;
            let placed = fold(None, &events);
            let reserved = Command::StockReserved {
                warehouse: SEED_WAREHOUSE.into(),
            };
            events.extend(
                decide(placed.as_ref(), &reserved, &Cause::InventoryActor, now)
                    .map_err(|e| e.to_string())?,
            );
            let after = fold(None, &events).ok_or("seed order did not fold")?;
            let reservation = Reservation {
                order_id: id,
                warehouse: Some(SEED_WAREHOUSE.into()),
                lines: vec![LineQty {
                    sku: SEED_SKU.into(),
                    quantity: 1,
                }],
                state: ReservationState::Open,
            };
            orders.push((after, events, reservation));
            last = Some(id);
        }
        let writes: Vec<TransitionWrite<'_>> = orders
            .iter()
            .map(|(after, events, _)| TransitionWrite {
                before: None,
                after,
                events,
                reactions: &no_reactions,
                outbox: &[],
                idempotency: None,
            })
            .collect();
        store
            .write_transitions(&writes)
            .map_err(|e| e.to_string())?;
        store
            .write_inventory_bulk(&[], orders.iter().map(|(_, _, r)| r), None)
            .map_err(|e| e.to_string())?;
        done += chunk;
        if done.is_multiple_of(50_000) {
            progress(done);
        }
    }
    let mut level = store
        .stock_levels()
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|((w, s), _)| w == SEED_WAREHOUSE && s == SEED_SKU)
        .map(|(_, l)| l)
        .unwrap_or_default();
    level = StockLevel {
        on_hand: level.on_hand + n as i64,
        reserved: level.reserved + n as i64,
    };
    store
        .write_inventory(
            &[((SEED_WAREHOUSE.into(), SEED_SKU.into()), level)],
            None,
            None,
        )
        .map_err(|e| e.to_string())?;
    Ok(last)
}

fn open_and_seed(dir: &Path, n: u64, cache_mb: u64) -> Result<(Option<OrderId>, Duration), String> {
    let t0 = Instant::now();
    let system = actix_rt::System::new();
    let result = system.block_on(async {
        let store = Store::open_patiently(dir, cache_mb << 20, Duration::from_secs(10))
            .map_err(|e| format!("cannot open {}: {e}", dir.display()))?;
        let last = seed_store(&store, n, |i| eprintln!("seeded {i} orders"))?;
        store.sync().await.map_err(|e| e.to_string())?;
        eprintln!("seeded {n} orders in {:.1} s", t0.elapsed().as_secs_f64());
        Ok::<_, String>(last)
    })?;
    Ok((result, t0.elapsed()))
}

pub fn seed(args: SeedArgs, config: &Config) -> Result<(), String> {
    let dir = args
        .data_dir
        .unwrap_or_else(|| config.storage.data_dir.clone());
    let (last, took) = open_and_seed(&dir, args.orders, config.storage.cache_mb)?;
    println!(
        "seeded {} orders into {} in {:.1} s ({:.0} orders/s); e.g. order {}",
        args.orders,
        dir.display(),
        took.as_secs_f64(),
        args.orders as f64 / took.as_secs_f64(),
        last.map(|id| id.to_string()).unwrap_or_default()
    );
    Ok(())
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

struct Measured {
    ready: Duration,
    first_order: Option<Duration>,
    rss_kib: u64,
}

async fn measure(
    config: &Config,
    config_path: &Path,
    dir: &Path,
    sample: Option<OrderId>,
    touch: &[OrderId],
) -> Result<Measured, String> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let started = Instant::now();
    let svc = ChildService::spawn(
        config_path,
        dir,
        &[("ORDERLY_ENGINE__IDLE_TIMEOUT_SECS", "2".into())],
    )?;
    let base = svc.base.clone();
    wait_until("/readyz", Duration::from_secs(120), async || {
        matches!(
            get(&client, &format!("{base}/readyz"), None).await,
            Some((200, _))
        )
    })
    .await?;
    let ready = started.elapsed();
    let sf = config.auth.storefront.first().cloned().unwrap_or_default();
    let first_order = match sample {
        Some(id) => {
            let r = get(&client, &format!("{base}/v1/orders/{id}"), Some(&sf)).await;
            match r {
                Some((200, _)) => Some(started.elapsed()),
                other => return Err(format!("first order not served: {other:?}")),
            }
        }
        None => None,
    };
    // Wake some order actors with a real command (a refused cancel reason is still a command),
    // then wait until every actor has gone idle and been stopped.
    for chunk in touch.chunks(256) {
        let reqs = chunk.iter().map(|id| {
            let client = &client;
            let url = format!("{base}/v1/orders/{id}/payments");
            let sf = sf.clone();
            async move {
                let _ = client
                    .post(url)
                    .bearer_auth(sf)
                    .send_json(&serde_json::json!({"status": "captured", "amount": 2495, "reference": "seed"}))
                    .await;
            }
        });
        futures::future::join_all(reqs).await;
    }
    wait_until(
        "order actors to go idle",
        Duration::from_secs(120),
        async || {
            get(&client, &format!("{base}/metrics"), None)
                .await
                .and_then(|(_, m)| metric(&m, "orderly_active_order_actors"))
                .is_some_and(|n| n == 0.0)
        },
    )
    .await?;
    let rss_kib = rss_kib(svc.pid())?;
    Ok(Measured {
        ready,
        first_order,
        rss_kib,
    })
}

pub fn capacity(args: CapacityArgs, config: &Config, config_path: &Path) -> Result<(), String> {
    let work = match &args.work_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!(
            "orderly-capacity-{}",
            uuid::Uuid::new_v4().simple()
        )),
    };
    let empty_dir = work.join("empty");
    let seeded_dir = work.join("seeded");
    std::fs::create_dir_all(&empty_dir).map_err(|e| e.to_string())?;
    let (sample, seed_time) = if seeded_dir.join("sled").exists() {
        eprintln!("reusing seeded data in {}", seeded_dir.display());
        let store = Store::open_patiently(&seeded_dir, 8 << 20, Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        let ids: Vec<OrderId> = store
            .list_orders(None, None, 1)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|o| o.id)
            .collect();
        drop(store);
        (ids.first().copied(), Duration::ZERO)
    } else {
        open_and_seed(&seeded_dir, args.orders, config.storage.cache_mb)?
    };
    let system = actix_rt::System::new();
    let (empty, seeded) = system.block_on(async {
        let touch_ids: Vec<OrderId> = {
            let store = Store::open_patiently(&seeded_dir, 8 << 20, Duration::from_secs(10))
                .map_err(|e| e.to_string())?;
            let ids = store
                .list_orders(None, None, args.touch.min(200_000) as usize)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|o| o.id)
                .collect();
            drop(store);
            ids
        };
        let empty = measure(config, config_path, &empty_dir, None, &[]).await?;
        let seeded = measure(config, config_path, &seeded_dir, sample, &touch_ids).await?;
        Ok::<_, String>((empty, seeded))
    })?;
    let per_order =
        (seeded.rss_kib.saturating_sub(empty.rss_kib)) as f64 * 1024.0 / args.orders.max(1) as f64;
    let cpus = crate::config::num_cpus();
    println!("capacity: {} in-flight orders, {} cores", args.orders, cpus);
    if !seed_time.is_zero() {
        println!(
            "  seed (bulk path):          {:.1} s ({:.0} orders/s)",
            seed_time.as_secs_f64(),
            args.orders as f64 / seed_time.as_secs_f64()
        );
    }
    println!(
        "  S4 start -> /readyz, empty:   {:>8.0} ms",
        empty.ready.as_secs_f64() * 1e3
    );
    println!(
        "  S4 start -> /readyz, seeded:  {:>8.0} ms   (target <= 5000 ms)",
        seeded.ready.as_secs_f64() * 1e3
    );
    if let Some(f) = seeded.first_order {
        println!(
            "  S4 start -> first order served: {:>6.0} ms",
            f.as_secs_f64() * 1e3
        );
    }
    println!(
        "  S5 RSS empty / seeded (idle): {} KiB / {} KiB",
        empty.rss_kib, seeded.rss_kib
    );
    println!("  S5 per in-flight order:       {per_order:.0} bytes   (target <= 1024)");
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "orders": args.orders,
            "cores": cpus,
            "seed_secs": seed_time.as_secs_f64(),
            "ready_ms_empty": empty.ready.as_secs_f64() * 1e3,
            "ready_ms_seeded": seeded.ready.as_secs_f64() * 1e3,
            "first_order_ms": seeded.first_order.map(|d| d.as_secs_f64() * 1e3),
            "rss_kib_empty": empty.rss_kib,
            "rss_kib_seeded": seeded.rss_kib,
            "bytes_per_order": per_order,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json).unwrap_or_default())
            .map_err(|e| e.to_string())?;
    }
    if args.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}
