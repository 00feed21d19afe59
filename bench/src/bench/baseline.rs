//! The raw storage baseline of scenario S1: the only place the bench uses the storage layer
//! directly (everything else goes over HTTP or through the engine's public API). When the
//! storage layer changes, this function is the one to adapt.

use super::client::{histogram, micros};
use super::scenarios::{bump, closed_loop, progress};
use hdrhistogram::Histogram;
use orderly_actors::store::Store;
use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

pub struct Baseline {
    pub writes: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub flushes: u64,
    pub flushed_writes: u64,
    pub flush_micros: u64,
    pub latency: Histogram<u64>,
}

/// The raw storage baseline: `n` writes of `value_size` bytes to a fresh store under `dir`,
/// `concurrency` at a time, each acknowledged only after `Durability::wait`: the engine's
/// own group commit and flush, without the engine.
pub async fn storage_baseline(
    dir: &std::path::Path,
    n: u64,
    concurrency: usize,
    value_size: usize,
) -> Result<Baseline, String> {
    let store =
        Store::open(dir, 64 << 20).map_err(|e| format!("cannot open the baseline store: {e}"))?;
    let value: Vec<u8> = (0..value_size).map(|i| b'a' + (i % 26) as u8).collect();
    let errors = Cell::new(0u64);
    let latency = RefCell::new(histogram());
    let pb = progress(n, "baseline");
    let before = store.durability().stats();
    let elapsed = closed_loop(n, concurrency, None, |i| {
        let (store, value, errors, latency, pb) = (&store, &value, &errors, &latency, &pb);
        async move {
            let t = Instant::now();
            let key = format!("bench-baseline-{i:012}");
            let ok = match store.baseline_write(key.as_bytes(), value) {
                Ok(seq) => store.durability().wait(seq).await.is_ok(),
                Err(_) => false,
            };
            if ok {
                latency
                    .borrow_mut()
                    .saturating_record(micros(t.elapsed()).max(1));
            } else {
                bump(errors);
            }
            pb.inc(1);
        }
    })
    .await;
    pb.finish_and_clear();
    let after = store.durability().stats();
    Ok(Baseline {
        writes: n - errors.get(),
        errors: errors.get(),
        elapsed,
        flushes: after.flushes - before.flushes,
        flushed_writes: after.flushed_writes - before.flushed_writes,
        flush_micros: after.flush_micros - before.flush_micros,
        latency: latency.into_inner(),
    })
}
