//! The running engine: the actors that move orders, and the one handle (`Engine`) through
//! which the service talks to them.
//!
//! Flow of a state change: `Engine::execute` finds (or activates) the order's actor via the
//! `registry`; the `order_actor` decides with the pure domain, writes the transition atomically,
//! waits for the group commit, then hands the transition's outbox entries to `outbox`, which
//! delivers them to the `inventory`, `carrier` and `notifier` actors and feeds their answers
//! back to the order as commands. `timers` fires stored timers. On start, `Engine::start`
//! re-dispatches every stored outbox entry and re-arms the timers, so work interrupted by a
//! crash carries on by itself.

pub mod carrier;
pub mod inventory;
pub mod notifier;
pub mod order_actor;
mod outbox;
pub mod registry;
mod timers;
pub mod webhook;

use crate::clock::Clock;
use crate::domain::shipping::{self, CarrierSpec};
use crate::domain::{
    fold, Cause, Command, DomainError, Effect, Event, NewOrder, Order, OrderId, Status,
};
use crate::store::{OutboxEntry, Store, StoreError};
use actix::prelude::*;
use chrono::NaiveDate;
use notifier::{Notifier, NotifierConfig};
use order_actor::{Execute, Executed};
use registry::Registry;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::domain::inventory::{ReserveOutcome, StockLevel};

/// Engine policy and tuning, filled from the service's config.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub payment_timeout_secs: i64,
    pub return_window_days: u32,
    pub idle_timeout: Duration,
    pub order_mailbox: usize,
    /// Threads running order actors.
    pub arbiters: usize,
    /// How long a request waits for its follow-ups (reservation, booking) before answering.
    pub effect_wait: Duration,
    /// How long a request waits for a busy order's mailbox before answering 503.
    pub send_timeout: Duration,
    pub timer_tick: Duration,
    pub carriers: Vec<CarrierSpec>,
    pub holidays: Vec<NaiveDate>,
    pub notifications: NotifierConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            payment_timeout_secs: 24 * 3600,
            return_window_days: 30,
            idle_timeout: Duration::from_secs(30),
            order_mailbox: 64,
            arbiters: 2,
            effect_wait: Duration::from_secs(5),
            send_timeout: Duration::from_secs(5),
            timer_tick: Duration::from_millis(500),
            carriers: Vec::new(),
            holidays: Vec::new(),
            notifications: NotifierConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("order not found")]
    NotFound,
    #[error("the order is busy; retry shortly")]
    Overloaded,
    #[error("the order's actor failed while handling this request; it has been restarted from its last durable state, retry the request")]
    ActorFailed,
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyMismatch,
    #[error("a request with this Idempotency-Key is still in progress")]
    IdempotencyInProgress,
    #[error("no configured carrier can ship these parcels to {0}")]
    NoCarrier(String),
    #[error("inventory: {0}")]
    Stock(#[from] crate::domain::inventory::StockError),
    /// Internal: the actor retired between lookup and delivery; the caller retries.
    #[error("retry")]
    Retry,
}

/// Counters exported at `/metrics`.
#[derive(Debug, Default)]
pub struct EngineStats {
    pub transitions: AtomicU64,
    pub rejected: AtomicU64,
    pub activations: AtomicU64,
    pub actor_failures: AtomicU64,
    pub effects_done: AtomicU64,
    pub effect_retries: AtomicU64,
    pub timers_fired: AtomicU64,
}

/// An order with its history, as clients see it.
#[derive(Debug, Clone)]
pub struct OrderView {
    pub order: Order,
    pub history: Vec<Event>,
}

/// Result of placing an order.
#[derive(Debug, Clone)]
pub struct PlaceResult {
    pub view: OrderView,
    /// True when the Idempotency-Key was seen before and the original result is returned.
    pub replayed: bool,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    registry: Registry,
    inventory: Addr<inventory::InventoryActor>,
    carrier: Addr<carrier::CarrierActor>,
    notifier: Addr<Notifier>,
    channels: Vec<String>,
    claims: Mutex<HashSet<String>>,
    stats: EngineStats,
    ready: AtomicBool,
}

impl Engine {
    /// Starts the engine's actors inside the current actix system, resumes stored outbox
    /// entries and timers, and returns once the engine is ready for requests.
    pub fn start(
        store: Store,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Result<Engine, EngineError> {
        let arbiters = (0..config.arbiters.max(1))
            .map(|_| Arbiter::new().handle())
            .collect();
        let inv = inventory::InventoryActor::load(store.clone())?;
        let inventory = inv.start();
        let carrier = carrier::CarrierActor::new(
            Arc::new(config.carriers.clone()),
            Arc::new(config.holidays.clone()),
            clock.clone(),
        )
        .start();
        let notifier =
            Notifier::new(store.clone(), clock.clone(), config.notifications.clone()).start();
        let channels = config.notifications.channels();
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                clock,
                registry: Registry::new(arbiters),
                inventory,
                carrier,
                notifier,
                channels,
                claims: Mutex::new(HashSet::new()),
                stats: EngineStats::default(),
                ready: AtomicBool::new(false),
                config,
            }),
        };
        engine.resume()?;
        timers::spawn(engine.clone());
        engine.inner.ready.store(true, Ordering::SeqCst);
        Ok(engine)
    }

    /// Re-dispatches every outbox entry left by a previous run.
    /// Entries written ahead of a snapshot that never committed (a crash mid-transition) are
    /// dropped: the transition they belong to did not happen.
    fn resume(&self) -> Result<(), EngineError> {
        let mut entries = Vec::new();
        for entry in self.store().outbox()? {
            let committed = self
                .store()
                .load_order(entry.effect.order_id)?
                .is_some_and(|o| o.version >= entry.effect.step);
            if committed {
                entries.push(entry);
            } else {
                self.store().remove_outbox(&entry.key())?;
            }
        }
        if !entries.is_empty() {
            tracing::info!(count = entries.len(), "resuming undelivered messages");
        }
        let engine = self.clone();
        actix_rt::spawn(async move { engine.dispatch(entries, false).await });
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    pub fn stats(&self) -> &EngineStats {
        &self.inner.stats
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    pub fn active_actors(&self) -> usize {
        self.inner.registry.active()
    }

    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst) && self.store().durability().is_healthy()
    }

    pub fn notifier(&self) -> &Addr<Notifier> {
        &self.inner.notifier
    }

    /// One outbox entry per effect, and per channel for notifications.
    pub(crate) fn outbox_entries(&self, effects: &[Effect]) -> Vec<OutboxEntry> {
        let mut out = Vec::with_capacity(effects.len());
        for e in effects {
            let blank = |channel| OutboxEntry {
                effect: e.clone(),
                channel,
                attempts: 0,
                next_attempt_at: None,
                last_error: None,
            };
            if matches!(e.action, crate::domain::Action::Notify { .. }) {
                out.extend(self.inner.channels.iter().map(|c| blank(Some(c.clone()))));
            } else {
                out.push(blank(None));
            }
        }
        out
    }

    /// Runs a command on an order and returns once its transition is durable (and, with
    /// `await_effects`, once its follow-ups have run or the effect timeout passed).
    pub async fn execute(
        &self,
        id: OrderId,
        command: Command,
        cause: Cause,
        await_effects: bool,
    ) -> Result<Executed, EngineError> {
        self.execute_with(id, command, cause, None, await_effects)
            .await
    }

    async fn execute_with(
        &self,
        id: OrderId,
        command: Command,
        cause: Cause,
        idempotency: Option<(String, String)>,
        await_effects: bool,
    ) -> Result<Executed, EngineError> {
        let create = matches!(command, Command::Place { .. });
        let msg = Execute {
            command,
            cause,
            idempotency,
            await_effects,
            nonce: 0,
        };
        // A few tries: an actor may retire (idle) between lookup and delivery.
        for _ in 0..5 {
            let slot = self.registry().get_or_activate(self, id, create)?;
            let nonce = Registry::nonce();
            let send = slot.addr.send(Execute {
                nonce,
                ..msg.clone()
            });
            let outcome = match actix_rt::time::timeout(self.config().send_timeout, send).await {
                Err(_) => return Err(EngineError::Overloaded),
                Ok(r) => r,
            };
            match outcome {
                Ok(Err(EngineError::Retry)) => continue,
                Ok(r) => return r,
                Err(MailboxError::Timeout) => return Err(EngineError::Overloaded),
                Err(MailboxError::Closed) => {
                    if self.registry().remove_if_same(id, slot.generation) {
                        // Still registered, so it did not retire: it died.
                        self.stats().actor_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(order_id = %id, "order actor failed; it will be reactivated from storage");
                        if slot.current.load(Ordering::SeqCst) == nonce {
                            return Err(EngineError::ActorFailed);
                        }
                    }
                    continue;
                }
            }
        }
        Err(EngineError::Overloaded)
    }

    /// Places an order under an idempotency key: the same key and body return the original
    /// result; the same key with another body is refused.
    pub async fn place_order(
        &self,
        idempotency_key: &str,
        order: NewOrder,
    ) -> Result<PlaceResult, EngineError> {
        order.validate()?;
        let fingerprint = {
            let bytes = serde_json::to_vec(&order).map_err(StoreError::from)?;
            let digest = Sha256::digest(&bytes);
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let _claim = Claim::take(&self.inner.claims, idempotency_key)?;
        // A record whose order was never committed (a crash mid-write) does not count.
        let committed = |rec: &crate::store::IdempotencyRecord| -> Result<bool, EngineError> {
            Ok(self
                .store()
                .load_order(rec.order_id)?
                .is_some_and(|o| o.version >= rec.version))
        };
        if let Some(rec) = self
            .store()
            .idempotency(idempotency_key)?
            .filter(|r| committed(r).unwrap_or(false))
        {
            if rec.fingerprint != fingerprint {
                return Err(EngineError::IdempotencyMismatch);
            }
            let history: Vec<Event> = self.store().history(rec.order_id, rec.version)?;
            let order = fold(None, &history).ok_or(EngineError::NotFound)?;
            return Ok(PlaceResult {
                view: OrderView { order, history },
                replayed: true,
            });
        }
        let id = OrderId::now_v7();
        let command = Command::Place {
            id,
            tracking_token: new_tracking_token(),
            order,
            payment_timeout_secs: self.config().payment_timeout_secs,
        };
        let done = self
            .execute_with(
                id,
                command,
                Cause::Storefront,
                Some((idempotency_key.to_string(), fingerprint)),
                false,
            )
            .await?;
        Ok(PlaceResult {
            view: OrderView {
                order: done.order,
                history: done.events,
            },
            replayed: false,
        })
    }

    /// Packs an order, refusing up front when no carrier could take the parcels, then waits
    /// for the carrier booking so the answer carries the label.
    pub async fn pack(
        &self,
        id: OrderId,
        warehouse: String,
        parcels: Vec<crate::domain::Parcel>,
    ) -> Result<Executed, EngineError> {
        if let Some(order) = self.store().load_order(id)? {
            let country = &order.shipping.address.country;
            if order.status == Status::Confirmed
                && shipping::choose(
                    &self.config().carriers,
                    country,
                    order.shipping.method.as_deref(),
                    &parcels,
                )
                .is_none()
            {
                return Err(EngineError::NoCarrier(country.clone()));
            }
        }
        self.execute(
            id,
            Command::Pack { warehouse, parcels },
            Cause::Warehouse,
            true,
        )
        .await
    }

    /// The order and its full history, read from storage.
    pub fn view(&self, id: OrderId) -> Result<Option<OrderView>, EngineError> {
        let Some(order) = self.store().load_order(id)? else {
            return Ok(None);
        };
        let history = self.store().history(id, order.version)?;
        Ok(Some(OrderView { order, history }))
    }

    pub fn order_by_tracking_number(&self, tn: &str) -> Result<Option<OrderId>, EngineError> {
        Ok(self.store().order_by_tracking_number(tn)?)
    }

    pub async fn set_stock(
        &self,
        warehouse: String,
        sku: String,
        on_hand: i64,
    ) -> Result<StockLevel, EngineError> {
        let r = self
            .inner
            .inventory
            .send(inventory::SetOnHand {
                warehouse,
                sku,
                on_hand,
            })
            .await
            .map_err(|_| EngineError::Overloaded)?;
        r.map_err(|e| match e {
            inventory::InventoryError::Stock(s) => EngineError::Stock(s),
            inventory::InventoryError::Store(s) => EngineError::Store(s),
        })
    }

    pub async fn stock(&self, sku: String) -> Result<Vec<(String, StockLevel)>, EngineError> {
        self.inner
            .inventory
            .send(inventory::GetStock { sku })
            .await
            .map_err(|_| EngineError::Overloaded)
    }

    /// Test hook: makes the order's actor panic (see `order_actor::InjectPanic`).
    #[doc(hidden)]
    pub fn inject_panic(&self, id: OrderId) -> Result<(), EngineError> {
        let slot = self.registry().get_or_activate(self, id, false)?;
        slot.addr.do_send(order_actor::InjectPanic);
        Ok(())
    }
}

/// An in-flight claim on an idempotency key, released on drop.
struct Claim<'a> {
    set: &'a Mutex<HashSet<String>>,
    key: String,
}

impl<'a> Claim<'a> {
    fn take(set: &'a Mutex<HashSet<String>>, key: &str) -> Result<Self, EngineError> {
        let mut s = set.lock().unwrap_or_else(|e| e.into_inner());
        if !s.insert(key.to_string()) {
            return Err(EngineError::IdempotencyInProgress);
        }
        Ok(Claim {
            set,
            key: key.to_string(),
        })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// 160 random bits, hex: the customer's unguessable handle on their order.
fn new_tracking_token() -> String {
    let mut b = [0u8; 20];
    getrandom::fill(&mut b).expect("the operating system's random source is available");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests;
