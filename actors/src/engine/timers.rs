//! Stored timers. A timer is stored data ordered by due time, written in the same transition
//! that set it; this loop polls the earliest due ones (at once again while it finds some,
//! every `timer_tick` otherwise), so a timer that fell due while the service was down fires at
//! the first tick after start, once. Firing sends the order a
//! command; the order decides whether it still matters (a paid order ignores its payment
//! timeout), and the timer is removed only after that is durable.

use super::effects::Answer;
use super::order_actor::OrderContext;
use super::registry::Registry;
use super::EngineError;
use crate::domain::{Cause, Command, Timer, TimerKind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

/// Runs until the engine is gone (the registry is only held weakly).
pub(super) fn spawn(ctx: Arc<OrderContext>, orders: Weak<Registry>) {
    actix_rt::spawn(async move {
        loop {
            let Some(registry) = orders.upgrade() else {
                return;
            };
            let now = ctx.clock.now();
            match claim(&ctx, now).await {
                Ok(due) if !due.is_empty() => {
                    futures::future::join_all(due.into_iter().map(|t| fire(&ctx, &registry, t)))
                        .await;
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not read timers"),
            }
            drop(registry);
            actix_rt::time::sleep(ctx.config.timer_tick).await;
        }
    });
}

/// The due timers, claimed off the system's thread when that is a query across the network
/// ([`super::off_thread`]).
async fn claim(
    ctx: &OrderContext,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Timer>, orderly_storage::StorageError> {
    super::off_thread(&ctx.store, move |s| s.claim_due_timers(now, 256))
        .await
        .unwrap_or_else(|| {
            Err(orderly_storage::StorageError::Backend(
                "the timer lookup did not finish".into(),
            ))
        })
}

async fn fire(ctx: &OrderContext, registry: &Registry, t: Timer) {
    let (command, cause) = match t.kind {
        TimerKind::PaymentDue => (Command::PaymentTimeout, Cause::PaymentTimer),
        TimerKind::PromiseDue => (Command::CheckPromises, Cause::PromiseTimer),
        TimerKind::ExceptionDue => (Command::CheckExceptions, Cause::ExceptionTimer),
        // The order's actor fills in which shipments are late (it knows the warehouses).
        TimerKind::DeadlineDue => (
            Command::CheckDeadlines { late: vec![] },
            Cause::DeadlineTimer,
        ),
    };
    match registry
        .execute(t.order_id, command, cause, None, Answer::AfterCommit)
        .await
    {
        Ok(_) | Err(EngineError::Domain(_)) | Err(EngineError::NotFound) => {
            ctx.stats.timers_fired.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = ctx.store.ack_timer(&t) {
                tracing::warn!(error = %e, "could not remove a fired timer; it will fire again harmlessly");
            }
        }
        Err(e) => {
            tracing::warn!(order_id = %t.order_id, error = %e, "timer could not fire; retrying next tick");
            actix_rt::time::sleep(ctx.config.timer_tick).await;
        }
    }
}
