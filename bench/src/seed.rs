//! `orderly-bench seed`: loads in-flight orders into a data directory through the engine's
//! public API, in this process: the storage and engine open exactly as `orderly serve` opens
//! them (`orderly::start_engine`), the seed warehouse is stocked with `set_stock`, and each order
//! is placed with `place_order` (a captured card payment, so the engine reserves its stock and
//! confirms it by itself), many at once. Every seeded order ends confirmed with its stock
//! reserved, awaiting picking. No HTTP, and nothing written to the store except by the engine.

use futures::StreamExt;
use orderly::config::Config;
use orderly_actors::domain::*;
use orderly_actors::engine::{Engine, EngineError};
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
    /// Orders in flight at once.
    #[arg(long, default_value_t = 512)]
    pub concurrency: usize,
}

pub const SEED_WAREHOUSE: &str = "seed";

/// The warehouse seeded orders are served from: the config's first by priority, or, running
/// open, [`SEED_WAREHOUSE`].
pub fn seed_warehouse(config: &Config) -> String {
    config
        .first_warehouse()
        .unwrap_or(SEED_WAREHOUSE)
        .to_string()
}
pub const SEED_SKU: &str = "seed-sku";
/// How long one order may take to be confirmed after it is placed.
const CONFIRM_DEADLINE: Duration = Duration::from_secs(60);

/// What a seeding run did.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub orders: u64,
    pub elapsed: Duration,
    /// Ids of the first orders seeded (as many as asked for).
    pub ids: Vec<OrderId>,
    /// The last order seeded.
    pub last: Option<OrderId>,
}

impl Seeded {
    pub fn per_sec(&self) -> f64 {
        self.orders as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn seed_order(i: u64) -> NewOrder {
    NewOrder {
        external_ref: Some(format!("seed-{i}")),
        customer: Customer {
            id: format!("cust-{i}"),
            email: format!("customer{i}@example.com"),
            phone: None,
            locale: Some("nl-NL".into()),
            channel: None,
            opt_out: Vec::new(),
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
            weight_grams: None,
        },
        billing_address: None,
        payment: NewPayment {
            method: PaymentMethod::Card,
            status: InitialPaymentStatus::Captured,
        },
        allow_split: None,
    }
}

/// Places order `i` (retrying while the engine is busy: the idempotency key makes that safe)
/// and waits until the engine has confirmed it.
async fn seed_one(engine: &Engine, run: &str, i: u64) -> Result<OrderId, String> {
    let key = format!("seed-{run}-{i}");
    let mut attempt = 0;
    let placed = loop {
        match engine.place(&key, seed_order(i)).await {
            Ok(p) => break p,
            Err(
                EngineError::Overloaded | EngineError::IdempotencyInProgress | EngineError::Retry,
            ) if attempt < 20 => {
                attempt += 1;
                actix_rt::time::sleep(Duration::from_millis(5 * attempt)).await;
            }
            Err(e) => return Err(format!("placing seed order {i}: {e}")),
        }
    };
    let id = placed.view.order.id;
    let t0 = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        let order = engine
            .order(id)
            .await
            .map_err(|e| format!("reading seed order {id}: {e}"))?;
        match (order.status, order.stock) {
            (Status::Confirmed, StockState::Reserved) => return Ok(id),
            (Status::Placed, _) => {}
            other => return Err(format!("seed order {id} ended as {other:?}")),
        }
        if t0.elapsed() > CONFIRM_DEADLINE {
            return Err(format!(
                "seed order {id} was not confirmed within {CONFIRM_DEADLINE:?}"
            ));
        }
        actix_rt::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Seeds `n` confirmed orders into `dir` (with `concurrency` in flight) and returns the ids of
/// the first `keep_ids`. Runs its own actix system and stops it (and the engine) at the end.
pub fn seed(
    config: &Config,
    dir: &Path,
    n: u64,
    concurrency: usize,
    keep_ids: usize,
) -> Result<Seeded, String> {
    let mut config = config.clone();
    config.storage.data_dir = dir.to_path_buf();
    // Seeded orders are history, not news: no notifications to deliver. Order actors retire
    // quickly so a million of them do not stay in memory.
    config.notifications.log = false;
    config.notifications.webhook = None;
    config.engine.idle_timeout_secs = 1;
    let system = actix_rt::System::new();
    let result = system.block_on(async {
        let r = seed_async(&config, n, concurrency.max(1), keep_ids).await;
        actix_rt::System::current().stop();
        r
    });
    // Lets the system stop the engine's arbiters, so the storage is let go of.
    let _ = system.run();
    result
}

async fn seed_async(
    config: &Config,
    n: u64,
    concurrency: usize,
    keep_ids: usize,
) -> Result<Seeded, String> {
    let t0 = Instant::now();
    let engine = orderly::start_engine(config)?;
    let warehouse = seed_warehouse(config);
    let on_hand = engine
        .stock(SEED_SKU.into())
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|(w, _)| *w == warehouse)
        .map(|(_, l)| l.on_hand)
        .unwrap_or(0)
        + n as i64;
    engine
        .set_stock(warehouse.as_str().into(), SEED_SKU.into(), on_hand)
        .await
        .map_err(|e| format!("cannot stock the seed warehouse: {e}"))?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let mut ids = Vec::with_capacity(keep_ids.min(n as usize));
    let mut last = None;
    let mut done = 0u64;
    let mut results = futures::stream::iter(0..n)
        .map(|i| {
            let (engine, run) = (&engine, &run);
            async move { (i, seed_one(engine, run, i).await) }
        })
        .buffer_unordered(concurrency);
    while let Some((i, r)) = results.next().await {
        let id = r?;
        if (i as usize) < keep_ids {
            ids.push(id);
        }
        if i + 1 == n {
            last = Some(id);
        }
        done += 1;
        if done.is_multiple_of(50_000) {
            eprintln!("seeded {done} orders");
        }
    }
    drop(results);
    // Every confirmation above was read back from storage; one more acknowledged (durable)
    // write after them makes sure the group commit has flushed them all.
    engine
        .set_stock(warehouse.as_str().into(), SEED_SKU.into(), on_hand)
        .await
        .map_err(|e| e.to_string())?;
    let elapsed = t0.elapsed();
    eprintln!("seeded {n} orders in {:.1} s", elapsed.as_secs_f64());
    Ok(Seeded {
        orders: n,
        elapsed,
        ids,
        last,
    })
}

pub fn run(args: &SeedArgs, config: &Config) -> Result<(), String> {
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| config.storage.data_dir.clone());
    let s = seed(config, &dir, args.orders, args.concurrency, 0)?;
    println!(
        "seeded {} orders into {} in {:.1} s ({:.0} orders/s, {} in flight, in-process engine); e.g. order {}",
        s.orders,
        dir.display(),
        s.elapsed.as_secs_f64(),
        s.per_sec(),
        args.concurrency,
        s.last.map(|id| id.to_string()).unwrap_or_default()
    );
    Ok(())
}

#[cfg(test)]
mod tests;
