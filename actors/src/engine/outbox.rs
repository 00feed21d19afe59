//! Delivery of outbox entries: at-least-once messages from an order to the other actors.
//!
//! An entry is written in the same atomic batch as the transition that caused it, and removed
//! only after its receiver has durably done the work and any answer has been applied to the
//! order. A crash anywhere in between leaves the entry in place, and `Engine::start` delivers it
//! again; every receiver recognises a repeat by (order id, step) and changes nothing twice.
//! Notifications go to the notifier actor, which owns their retries and dead letters.

use super::carrier::Book;
use super::inventory::{Commit, InventoryError, Release, Reserve, Restock};
use super::notifier::Deliver;
use super::{Engine, EngineError};
use crate::domain::inventory::ReserveOutcome;
use crate::domain::{Action, Cause, Command, OrderId};
use crate::store::OutboxEntry;
use std::sync::atomic::Ordering;
use std::time::Duration;

impl From<InventoryError> for EngineError {
    fn from(e: InventoryError) -> Self {
        match e {
            InventoryError::Stock(s) => EngineError::Stock(s),
            InventoryError::Store(s) => EngineError::Store(s),
        }
    }
}

impl Engine {
    /// Sends each entry on its way. With `wait`, returns when the non-notification entries are
    /// done or the effect timeout has passed (they carry on in the background either way).
    pub(crate) async fn dispatch(&self, entries: Vec<OutboxEntry>, wait: bool) {
        let mut running = Vec::new();
        for entry in entries {
            if matches!(entry.effect.action, Action::Notify { .. }) {
                self.notifier().do_send(Deliver(entry));
                continue;
            }
            let engine = self.clone();
            running.push(actix_rt::spawn(async move {
                engine.deliver_until_done(entry).await
            }));
        }
        if wait && !running.is_empty() {
            let _ = actix_rt::time::timeout(
                self.config().effect_wait,
                futures::future::join_all(running),
            )
            .await;
        }
    }

    async fn deliver_until_done(&self, entry: OutboxEntry) {
        let mut delay = Duration::from_millis(50);
        loop {
            match self.run_effect(&entry).await {
                Ok(()) => {
                    if let Err(e) = self.store().remove_outbox(&entry.key()) {
                        tracing::warn!(error = %e, "could not remove a delivered outbox entry; it will be redelivered harmlessly");
                    }
                    self.stats().effects_done.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(e) => {
                    tracing::warn!(order_id = %entry.effect.order_id, action = entry.effect.action.name(), error = %e, retry_in_ms = delay.as_millis() as u64, "message delivery failed");
                    self.stats().effect_retries.fetch_add(1, Ordering::Relaxed);
                    actix_rt::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    async fn run_effect(&self, entry: &OutboxEntry) -> Result<(), EngineError> {
        let e = &entry.effect;
        let order_id = e.order_id;
        let inventory = &self.inner.inventory;
        let closed = |_| EngineError::Overloaded;
        match &e.action {
            Action::ReserveStock { lines } => {
                let outcome = inventory
                    .send(Reserve {
                        order_id,
                        lines: lines.clone(),
                    })
                    .await
                    .map_err(closed)??;
                let command = match outcome {
                    ReserveOutcome::Reserved { warehouse } => Command::StockReserved { warehouse },
                    ReserveOutcome::Unavailable { shortages } => {
                        Command::StockUnavailable { shortages }
                    }
                    ReserveOutcome::Released => return Ok(()),
                };
                self.follow_up(order_id, command, Cause::InventoryActor)
                    .await
            }
            Action::ReleaseStock => Ok(inventory
                .send(Release { order_id })
                .await
                .map_err(closed)??),
            Action::CommitStock => Ok(inventory
                .send(Commit { order_id })
                .await
                .map_err(closed)??),
            Action::Restock { warehouse, lines } => Ok(inventory
                .send(Restock {
                    order_id,
                    step: e.step,
                    warehouse: warehouse.clone(),
                    lines: lines.clone(),
                })
                .await
                .map_err(closed)??),
            Action::BookShipment {
                parcels,
                country,
                method,
                ..
            } => {
                let booking = self
                    .inner
                    .carrier
                    .send(Book {
                        order_id,
                        step: e.step,
                        country: country.clone(),
                        method: method.clone(),
                        parcels: parcels.clone(),
                    })
                    .await
                    .map_err(closed)?;
                match booking {
                    Some(booking) => {
                        self.follow_up(
                            order_id,
                            Command::RecordBooking { booking },
                            Cause::CarrierActor,
                        )
                        .await
                    }
                    None => {
                        // Checked before packing; only a config change in between gets here.
                        tracing::error!(%order_id, "no configured carrier can take this shipment; it stays packed until an operator intervenes");
                        Ok(())
                    }
                }
            }
            Action::Notify { .. } => Ok(()),
        }
    }

    /// Applies an actor's answer to the order. A refusal is final (the order moved on), so it
    /// is logged and the message counts as delivered rather than retried forever.
    async fn follow_up(
        &self,
        id: OrderId,
        command: Command,
        cause: Cause,
    ) -> Result<(), EngineError> {
        match self.execute(id, command, cause, false).await {
            Ok(_) => Ok(()),
            Err(EngineError::Domain(e)) => {
                tracing::warn!(order_id = %id, error = %e, "follow-up refused by the order");
                Ok(())
            }
            Err(EngineError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
