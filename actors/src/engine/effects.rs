//! Effects: the messages a committed transition sends to the other actors, delivered at least
//! once from the outbox.
//!
//! An outbox entry is written in the same transition that caused it (its snapshot is the
//! commit point), and removed only after its receiver has durably done the work and any answer
//! has been applied to the order. A crash anywhere in between leaves the entry in place, and
//! `Engine::start` sends it again; every receiver recognises a repeat by (order id, step) and
//! changes nothing twice. Notifications go to the notifier actor, which owns their retries and
//! dead letters; the other effects go to the inventory and carrier actors, and their answers
//! (stock reserved, shipment booked) come back to the order as commands through
//! [`ApplyAnswer`] — implemented by the registry, so this module does not depend on it.

use super::carrier::{Book, CancelBookings, CarrierActor, Consignee, Instruct};
use super::inventory::{Commit, InventoryActor, Release, Reserve, Restock};
use super::notifier::{Deliver, Notifier, Origin};
use super::{EngineError, EngineStats};
use crate::domain::inventory::ReserveOutcome;
use crate::domain::{BookingTerms, Cause, Command, EffectKind, OrderId, PaymentMethod};
use actix::prelude::*;
use futures::future::BoxFuture;
use orderly_storage::{OutboxEntry, Storage};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

/// When a command is answered: once its transition is durable, or also once the effects it
/// sent have run (packing waits for the booking so the answer has the label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    AfterCommit,
    AfterEffects,
}

/// Applies an actor's answer to an effect to the order it came from.
pub trait ApplyAnswer: Send + Sync + 'static {
    fn apply(
        self: Arc<Self>,
        id: OrderId,
        command: Command,
        cause: Cause,
    ) -> BoxFuture<'static, Result<(), EngineError>>;
}

/// The actors effects go to.
pub struct Receivers {
    pub inventory: Addr<InventoryActor>,
    pub carrier: Addr<CarrierActor>,
    pub notifier: Addr<Notifier>,
}

/// Sends outbox entries to their receivers; cheap to clone.
#[derive(Clone)]
pub struct Effects {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Storage>,
    inventory: Addr<InventoryActor>,
    carrier: Addr<CarrierActor>,
    notifier: Addr<Notifier>,
    stats: Arc<EngineStats>,
    /// How long [`Answer::AfterEffects`] waits before answering anyway.
    effect_wait: Duration,
    /// Where answers go; weak, because the registry's actors hold these `Effects`.
    orders: OnceLock<Weak<dyn ApplyAnswer>>,
    /// Some carrier books over HTTP: bookings read the order's address.
    needs_consignee: bool,
    clock: Arc<dyn crate::clock::Clock>,
}

impl Effects {
    pub fn new(
        store: Arc<dyn Storage>,
        receivers: Receivers,
        stats: Arc<EngineStats>,
        effect_wait: Duration,
        needs_consignee: bool,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Self {
        let Receivers {
            inventory,
            carrier,
            notifier,
        } = receivers;
        Effects {
            inner: Arc::new(Inner {
                store,
                inventory,
                carrier,
                notifier,
                stats,
                effect_wait,
                orders: OnceLock::new(),
                needs_consignee,
                clock,
            }),
        }
    }

    /// Names where answers to effects are applied (the registry), once, at start.
    pub fn answer_to(&self, orders: Weak<dyn ApplyAnswer>) {
        let _ = self.inner.orders.set(orders);
    }

    /// Sends each entry on its way. With [`Answer::AfterEffects`], returns when the
    /// non-notification entries are done or the effect timeout has passed (they carry on in
    /// the background either way).
    pub async fn send(&self, entries: Vec<OutboxEntry>, answer: Answer) {
        self.dispatch(entries, answer, Origin::Commit).await
    }

    /// Sends entries read back from storage (left by a previous run, or taken over from a
    /// stopped node) on their way, in the background.
    pub async fn send_stored(&self, entries: Vec<OutboxEntry>) {
        self.dispatch(entries, Answer::AfterCommit, Origin::Storage)
            .await
    }

    async fn dispatch(&self, entries: Vec<OutboxEntry>, answer: Answer, origin: Origin) {
        let mut running = Vec::new();
        for entry in entries {
            if entry.is_notification() {
                self.inner.notifier.do_send(Deliver { entry, origin });
                continue;
            }
            // Telling a carrier of a cancellation or an instruction changes nothing the
            // caller is answered with: it runs on without being waited for.
            let awaited = !matches!(
                entry.effect().map(|e| &e.kind),
                Some(EffectKind::CancelBookings { .. } | EffectKind::InstructCarrier { .. })
            );
            let effects = self.clone();
            let delivery = actix_rt::spawn(async move { effects.deliver_until_done(entry).await });
            if awaited {
                running.push(delivery);
            }
        }
        if answer == Answer::AfterEffects && !running.is_empty() {
            let _ =
                actix_rt::time::timeout(self.inner.effect_wait, futures::future::join_all(running))
                    .await;
        }
    }

    async fn deliver_until_done(&self, mut entry: OutboxEntry) {
        let mut delay = Duration::from_millis(50);
        loop {
            match self.run(&entry).await {
                Ok(()) => {
                    if let Err(e) = self.inner.store.ack_outbox(&entry) {
                        tracing::warn!(error = %e, "could not remove a delivered outbox entry; it will be redelivered harmlessly");
                    }
                    self.inner
                        .stats
                        .effects_done
                        .fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(EngineError::ShuttingDown) => return,
                Err(e) => {
                    if let EngineError::Carrier(b) = e {
                        // A carrier's failure counts against its attempts (see `carrier`).
                        if self.carrier_failed(&mut entry, b).await {
                            return;
                        }
                    } else {
                        tracing::warn!(message_id = %entry.message_id(), effect = entry.kind_name(), error = %e, retry_in_ms = delay.as_millis() as u64, "effect delivery failed");
                    }
                    self.inner
                        .stats
                        .effect_retries
                        .fetch_add(1, Ordering::Relaxed);
                    actix_rt::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Records a failed call to a carrier (a booking, a cancellation, an instruction) on its
    /// entry; dead-letters it (and returns true) when the refusal is permanent or the carrier's
    /// attempts are used up. A dead letter that could not be written is retried like the call.
    async fn carrier_failed(
        &self,
        entry: &mut OutboxEntry,
        b: super::carrier::CarrierError,
    ) -> bool {
        entry.attempts = entry.attempts.saturating_add(1);
        entry.last_error = Some(b.to_string());
        let message_id = entry.message_id();
        if b.permanent || entry.attempts >= b.max_attempts {
            let letter = orderly_storage::DeadLetter {
                message_id: message_id.clone(),
                order_id: entry.order_id(),
                kind: entry.kind_name().to_string(),
                channel: entry.channel.clone(),
                attempts: entry.attempts,
                last_error: entry.last_error.clone(),
                failed_at: self.inner.clock.now(),
                entry: None,
            };
            match self.inner.store.dead_letter(entry, &letter) {
                Ok(commit) => {
                    if let Err(e) = commit.await {
                        tracing::warn!(message_id = %message_id, error = %e, "a carrier call's dead letter did not reach the disk; retrying");
                        return false;
                    }
                    tracing::error!(message_id = %message_id, attempts = entry.attempts, error = %b, effect = entry.kind_name(), "carrier call dead-lettered; an operator can retry it (an unbooked shipment stays packed until then)");
                    return true;
                }
                Err(e) => {
                    tracing::warn!(message_id = %message_id, error = %e, "could not dead-letter a carrier call; retrying");
                    return false;
                }
            }
        }
        tracing::warn!(message_id = %message_id, attempts = entry.attempts, error = %b, effect = entry.kind_name(), "carrier call failed; retrying");
        if let Err(e) = self.inner.store.record_outbox_attempt(entry) {
            tracing::warn!(message_id = %message_id, error = %e, "could not record a carrier call's retry state");
        }
        false
    }

    async fn run(&self, entry: &OutboxEntry) -> Result<(), EngineError> {
        // Stock notices are notifications: they go to the notifier (`dispatch`).
        let Some(e) = entry.effect() else {
            return Ok(());
        };
        let order_id = e.order_id;
        let inventory = &self.inner.inventory;
        let closed = |_| EngineError::Overloaded;
        match &e.kind {
            EffectKind::ReserveStock {
                lines,
                country,
                allow_split,
            } => {
                let outcome = self
                    .reserve(Reserve {
                        order_id,
                        lines: lines.clone(),
                        country: country.clone(),
                        allow_split: *allow_split,
                    })
                    .await?;
                match stock_answer(outcome) {
                    Some(command) => self.answer(order_id, command, Cause::InventoryActor).await,
                    None => Ok(()),
                }
            }
            EffectKind::ReleaseStock { shipments } => Ok(inventory
                .send(Release {
                    order_id,
                    shipments: shipments.clone(),
                })
                .await
                .map_err(closed)??),
            EffectKind::CommitStock { shipment } => Ok(inventory
                .send(Commit {
                    order_id,
                    shipment: *shipment,
                })
                .await
                .map_err(closed)??),
            EffectKind::Restock { warehouse, lines } => Ok(inventory
                .send(Restock {
                    order_id,
                    step: e.step,
                    warehouse: warehouse.clone(),
                    lines: lines.clone(),
                })
                .await
                .map_err(closed)??),
            EffectKind::BookShipment {
                warehouse,
                parcels,
                country,
                method,
                shipment,
                terms,
            } => {
                // Asked before carrier rules: no postal code, value or payment to go by.
                let terms = terms.clone().unwrap_or(BookingTerms {
                    postal_code: String::new(),
                    value: 0,
                    cash_on_delivery: false,
                });
                let consignee = if self.inner.needs_consignee {
                    self.consignee(order_id).await?
                } else {
                    None
                };
                let booking = self
                    .inner
                    .carrier
                    .send(Book {
                        order_id,
                        step: e.step,
                        shipment: *shipment,
                        warehouse: warehouse.clone(),
                        country: country.clone(),
                        postal_code: terms.postal_code,
                        method: method.clone(),
                        value: terms.value,
                        cash_on_delivery: terms.cash_on_delivery,
                        parcels: parcels.clone(),
                        consignee,
                    })
                    .await
                    .map_err(closed)??;
                match booking {
                    Some(booking) => {
                        self.answer(
                            order_id,
                            Command::RecordBooking {
                                shipment: *shipment,
                                booking,
                            },
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
            EffectKind::CancelBookings { bookings } => Ok(self
                .inner
                .carrier
                .send(CancelBookings {
                    order_id,
                    bookings: bookings.clone(),
                })
                .await
                .map_err(closed)??),
            EffectKind::InstructCarrier {
                shipment,
                carrier,
                tracking_number,
                instruction,
            } => Ok(self
                .inner
                .carrier
                .send(Instruct {
                    order_id,
                    step: e.step,
                    shipment: *shipment,
                    carrier: carrier.clone(),
                    tracking_number: tracking_number.clone(),
                    instruction: instruction.clone(),
                })
                .await
                .map_err(closed)??),
            EffectKind::Notify { .. } => Ok(()),
        }
    }

    /// The order's address and cash-on-delivery amount, for a carrier booked over HTTP (the
    /// booking message carries only what the carrier rules need).
    async fn consignee(&self, id: OrderId) -> Result<Option<Consignee>, EngineError> {
        let store = self.inner.store.clone();
        let order = super::off_thread(&store, move |s| s.load_order(id))
            .await
            .ok_or(EngineError::ShuttingDown)??;
        Ok(order.map(|o| Consignee {
            cash_on_delivery: (o.payment.method == PaymentMethod::Cod
                && !o.payment.status.is_secured())
            .then(|| o.total()),
            address: o.shipping.address,
        }))
    }

    /// Reserves again for a backordered order (see `backorders`): a filled reservation is
    /// answered to the order, which confirms by itself; one still waiting changes nothing.
    pub(super) async fn reserve_again(&self, m: Reserve) -> Result<(), EngineError> {
        let order_id = m.order_id;
        match self.reserve(m).await? {
            filled @ ReserveOutcome::Reserved { .. } => {
                let command = stock_answer(filled).expect("a reservation is answered");
                self.answer(order_id, command, Cause::InventoryActor).await
            }
            _ => Ok(()),
        }
    }

    async fn reserve(&self, m: Reserve) -> Result<ReserveOutcome, EngineError> {
        Ok(self
            .inner
            .inventory
            .send(m)
            .await
            .map_err(|_| EngineError::Overloaded)??)
    }

    /// Applies a receiver's answer to the order. A refusal is final (the order moved on), so it
    /// is logged and the effect counts as delivered rather than retried forever.
    async fn answer(&self, id: OrderId, command: Command, cause: Cause) -> Result<(), EngineError> {
        let orders = self
            .inner
            .orders
            .get()
            .and_then(Weak::upgrade)
            .ok_or(EngineError::ShuttingDown)?;
        match orders.apply(id, command, cause).await {
            Ok(()) => Ok(()),
            Err(EngineError::Domain(e)) => {
                tracing::warn!(order_id = %id, error = %e, "answer refused by the order");
                Ok(())
            }
            Err(EngineError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// What an order is told of its reservation's outcome; nothing when the order was cancelled
/// before it (the reservation is a tombstone).
fn stock_answer(outcome: ReserveOutcome) -> Option<Command> {
    Some(match outcome {
        ReserveOutcome::Reserved { shipments, reason } => {
            Command::StockAllocated { shipments, reason }
        }
        ReserveOutcome::Backordered {
            held,
            backordered,
            reason,
        } => Command::StockBackordered {
            held,
            backordered,
            reason,
        },
        ReserveOutcome::Unavailable { shortages, reason } => {
            Command::StockUnavailable { shortages, reason }
        }
        ReserveOutcome::Released => return None,
    })
}
