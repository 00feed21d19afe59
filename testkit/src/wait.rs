//! Polling with a deadline: wait for a condition by checking it, never by sleeping a guess.

use std::time::{Duration, Instant};

/// Polls `check` every `interval` until it returns true; returns how long that took, or an
/// error naming `what` once `deadline` has passed.
pub async fn until(
    what: &str,
    deadline: Duration,
    interval: Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> Result<Duration, String> {
    let t0 = Instant::now();
    while !check().await {
        if t0.elapsed() > deadline {
            return Err(format!("timed out after {deadline:?} waiting for {what}"));
        }
        actix_rt::time::sleep(interval).await;
    }
    Ok(t0.elapsed())
}
