//! `orderly-bench capacity`: the restart and memory scenarios (S4, S5).
//!
//! It seeds a data directory with in-flight orders through the engine, in-process (see
//! [`crate::seed`]), starts the real service on it, and measures the time to `/readyz` and to
//! the first order served, then resident memory once the touched order actors have gone idle,
//! against the same service on an empty directory.

use crate::seed;
use orderly::config::Config;
use orderly_testkit::{wait, Service};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    /// Orders in flight at once while seeding.
    #[arg(long, default_value_t = 512)]
    pub seed_concurrency: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The seeded directory's order ids the measurement uses, kept next to it so a later run with
/// the same `--work-dir` can reuse the data.
#[derive(serde::Serialize, serde::Deserialize)]
struct SeededIds {
    sample: Option<String>,
    touch: Vec<String>,
}

async fn get(client: &awc::Client, url: &str, key: Option<&str>) -> Option<(u16, String)> {
    let mut req = client.get(url);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let mut resp = req.send().await.ok()?;
    let body = resp.body().limit(16 << 20).await.ok()?;
    Some((
        resp.status().as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    ))
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
    bin: &Path,
    dir: &Path,
    sample: Option<&str>,
    touch: &[String],
) -> Result<Measured, String> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let started = Instant::now();
    // `start` returns once /readyz answers 200.
    let svc = Service::builder(bin)
        .config_file(config_path)
        .data_dir(dir)
        .log_level("warn")
        .env("ORDERLY_ENGINE__IDLE_TIMEOUT_SECS", "2")
        .ready_within(Duration::from_secs(120))
        .start()
        .await?;
    let ready = started.elapsed();
    let base = svc.base_url();
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
    wait::until(
        "order actors to go idle",
        Duration::from_secs(120),
        Duration::from_millis(2),
        async || {
            get(&client, &format!("{base}/metrics"), None)
                .await
                .and_then(|(_, m)| metric(&m, "orderly_active_order_actors"))
                .is_some_and(|n| n == 0.0)
        },
    )
    .await?;
    let rss_kib = svc.rss_kib()?;
    Ok(Measured {
        ready,
        first_order,
        rss_kib,
    })
}

pub fn capacity(
    args: &CapacityArgs,
    config: &Config,
    config_path: &Path,
    bin: &Path,
) -> Result<(), String> {
    let work = match &args.work_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!(
            "orderly-capacity-{}",
            uuid::Uuid::new_v4().simple()
        )),
    };
    let empty_dir = work.join("empty");
    let seeded_dir = work.join("seeded");
    let ids_file = work.join("seeded-ids.json");
    std::fs::create_dir_all(&empty_dir).map_err(|e| e.to_string())?;
    let touch = args.touch.min(200_000) as usize;
    let reuse = if seeded_dir.exists() {
        std::fs::read(&ids_file)
            .ok()
            .and_then(|b| serde_json::from_slice::<SeededIds>(&b).ok())
    } else {
        None
    };
    let (ids, seed_time) = match reuse {
        Some(ids) => {
            eprintln!("reusing seeded data in {}", seeded_dir.display());
            (ids, Duration::ZERO)
        }
        None => {
            let s = seed::seed(
                config,
                &seeded_dir,
                args.orders,
                args.seed_concurrency,
                touch,
            )?;
            let ids = SeededIds {
                sample: s.last.map(|id| id.to_string()),
                touch: s.ids.iter().map(|id| id.to_string()).collect(),
            };
            std::fs::write(
                &ids_file,
                serde_json::to_vec(&ids).map_err(|e| e.to_string())?,
            )
            .map_err(|e| format!("cannot write {}: {e}", ids_file.display()))?;
            (ids, s.elapsed)
        }
    };
    let system = actix_rt::System::new();
    let (empty, seeded) = system.block_on(async {
        let empty = measure(config, config_path, bin, &empty_dir, None, &[]).await?;
        let touch_ids = &ids.touch[..ids.touch.len().min(touch)];
        let seeded = measure(
            config,
            config_path,
            bin,
            &seeded_dir,
            ids.sample.as_deref(),
            touch_ids,
        )
        .await?;
        Ok::<_, String>((empty, seeded))
    })?;
    let per_order =
        (seeded.rss_kib.saturating_sub(empty.rss_kib)) as f64 * 1024.0 / args.orders.max(1) as f64;
    let cpus = orderly::config::num_cpus();
    println!("capacity: {} in-flight orders, {} cores", args.orders, cpus);
    if !seed_time.is_zero() {
        println!(
            "  seed (in-process engine):  {:.1} s ({:.0} orders/s)",
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
