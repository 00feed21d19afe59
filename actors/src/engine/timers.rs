//! Stored timers. A timer is a key in the `orders` tree ordered by due time, written in the
//! same batch as the transition that set it; this loop polls the earliest due ones, so a timer
//! that fell due while the service was down fires at the first tick after start, once.
//! Firing sends the order a command; the order decides whether it still matters (a paid
//! order ignores its payment timeout), and the timer is removed only after that is durable.

use super::{Engine, EngineError};
use crate::domain::{Cause, Command, Timer, TimerKind};
use std::sync::atomic::Ordering;

pub(super) fn spawn(engine: Engine) {
    actix_rt::spawn(async move {
        loop {
            let now = engine.clock().now();
            match engine.store().due_timers(now, 256) {
                Ok(due) if !due.is_empty() => {
                    futures::future::join_all(due.into_iter().map(|t| fire(&engine, t))).await;
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not read timers"),
            }
            actix_rt::time::sleep(engine.config().timer_tick).await;
        }
    });
}

async fn fire(engine: &Engine, t: Timer) {
    let command = match t.kind {
        TimerKind::PaymentDue => Command::PaymentTimeout,
    };
    match engine
        .execute(t.order_id, command, Cause::PaymentTimer, false)
        .await
    {
        Ok(_) | Err(EngineError::Domain(_)) | Err(EngineError::NotFound) => {
            engine.stats().timers_fired.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = engine.store().remove_timer(&t) {
                tracing::warn!(error = %e, "could not remove a fired timer; it will fire again harmlessly");
            }
        }
        Err(e) => {
            tracing::warn!(order_id = %t.order_id, error = %e, "timer could not fire; retrying next tick");
            actix_rt::time::sleep(engine.config().timer_tick).await;
        }
    }
}
