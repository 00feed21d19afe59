//! The engine: the one API through which the service runs orders ([`Engine`]), and the actors
//! behind it.
//!
//! [`Engine`]'s methods are the whole surface: commands (`place`, `pay`, `cancel`,
//! `acknowledge_picks`, `pack`, `hand_over`, `carrier_event`, `request_return`,
//! `receive_return`; and transfers between warehouses, `transfers.rs`) answer with the order **only once everything the answer shows is durable**;
//! reads and queries (`commands.rs`, `queries.rs`); stock; the notification dead letters;
//! an online backup of the store (`backup`); readiness and metrics. Nothing hands out the store
//! or an actor.
//!
//! Behind it, dependencies run one way: `registry` activates order actors and delivers
//! commands to them; an `order_actor` decides with the pure domain, writes the transition,
//! waits for the group commit and passes the transition's outbox entries to `effects`, which
//! delivers them to the `inventory`, `carrier` and `notifier` actors and applies their answers
//! to the order through a trait the registry implements. `timers` fires stored timers. On
//! start, every stored outbox entry is sent again and due timers fire, so work interrupted by
//! a crash carries on by itself.

mod alerts;
mod backorders;
mod backup;
mod carrier;
mod commands;
mod effects;
mod history;
mod inventory;
pub mod message_log;
pub mod notifier;
mod order_actor;
mod outbound;
mod poller;
pub mod previews;
mod queries;
pub mod quotes;
mod registry;
mod timers;
mod transfers;
mod watchers;
pub mod webhook;

use crate::clock::Clock;
use crate::domain::shipping::network::Network;
use crate::domain::warehouse::{AllocationPolicy, Warehouse};
use crate::domain::{DomainError, Order};
use actix::prelude::*;
use effects::{ApplyAnswer, Effects};
use notifier::{GetStats, Notifier, NotifierConfig, NotifierStats};
use order_actor::OrderContext;
use orderly_storage::{FlushStats, Storage, StorageError};
use registry::Registry;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::domain::inventory::StockLevel;
pub use crate::domain::stock_alerts::Subscription;
pub use alerts::ReorderPoint;
pub use commands::{CarrierEventOutcome, CarrierScan, Placed};
pub use history::{History, Milestone};
pub use orderly_storage::{BackupStats, DeadLetter};
pub use queries::SkuAvailability;
pub use transfers::Created;

/// Engine policy and tuning, filled from the service's config.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub payment_timeout_secs: i64,
    pub return_window_days: u32,
    pub idle_timeout: Duration,
    pub order_mailbox: usize,
    /// Threads running order actors.
    pub arbiters: usize,
    /// How long a command that waits for its effects (booking, restock) waits before answering.
    pub effect_wait: Duration,
    /// How long a request waits for a busy order's mailbox before answering 503.
    pub send_timeout: Duration,
    pub timer_tick: Duration,
    /// How often to look for work (outbox entries) left by nodes that stopped, when storage is
    /// shared with other nodes.
    pub takeover_interval: Duration,
    /// Stock alerts: the bound on subscriptions per sku, and how often to reconcile.
    pub stock_alerts: StockAlertsConfig,
    /// The carriers, their calendars and rates, the carrier rules and the warehouses' side of
    /// delivery promises (built and checked by the service).
    pub shipping: Arc<Network>,
    pub notifications: NotifierConfig,
    /// The configured warehouses (`[[warehouses]]`, validated by the service); empty means
    /// "open": any warehouse id is taken as given.
    pub warehouses: Vec<Warehouse>,
    /// `[allocation]`: how an order's lines are allocated to warehouses.
    pub allocation: AllocationPolicy,
    /// `[delivery_exceptions]`: how long a failed delivery waits for an answer, and after how
    /// many failed attempts a parcel goes back by itself.
    pub exceptions: crate::domain::ExceptionPolicy,
}

/// `[stock_alerts]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockAlertsConfig {
    /// Most back-in-stock subscriptions waiting for one sku.
    pub max_subscriptions_per_sku: usize,
    /// How often the stock alerts look at every reorder point and subscription again when
    /// storage is shared with other nodes (one that died between a stock write and its alert
    /// is repaired by the others); alone, they do so at start only.
    pub reconcile_interval: Duration,
}

impl Default for StockAlertsConfig {
    fn default() -> Self {
        StockAlertsConfig {
            max_subscriptions_per_sku: crate::domain::stock_alerts::MAX_SUBSCRIPTIONS_PER_SKU,
            reconcile_interval: Duration::from_secs(60),
        }
    }
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
            takeover_interval: Duration::from_secs(1),
            stock_alerts: StockAlertsConfig::default(),
            shipping: Arc::new(Network::empty()),
            notifications: NotifierConfig::default(),
            warehouses: Vec::new(),
            allocation: AllocationPolicy::default(),
            exceptions: crate::domain::ExceptionPolicy::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Storage(#[from] StorageError),
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
    #[error(transparent)]
    Quote(#[from] quotes::QuoteError),
    /// A carrier did not take a booking, cancellation or instruction (yet): retried, or
    /// dead-lettered (see `carrier`).
    #[error(transparent)]
    Carrier(#[from] carrier::CarrierError),
    #[error("inventory: {0}")]
    Stock(#[from] crate::domain::inventory::StockError),
    #[error("transfer: {0}")]
    Transfer(crate::domain::inventory::transfer::TransferError),
    #[error("no transfer {0}")]
    NoTransfer(crate::domain::inventory::transfer::TransferId),
    #[error("stock alerts: {0}")]
    Alert(#[from] crate::domain::stock_alerts::AlertError),
    #[error(transparent)]
    Preview(#[from] previews::PreviewError),
    /// A setting that `validate` should have refused (only when it was skipped).
    #[error("configuration: {0}")]
    Config(String),
    #[error("unknown tracking number '{0}'")]
    UnknownTrackingNumber(String),
    /// Internal: the actor retired between lookup and delivery; the caller retries.
    #[error("retry")]
    Retry,
    /// Internal: the engine is being dropped; background work stops.
    #[error("the engine is shutting down")]
    ShuttingDown,
    #[error("a backup is running already; try again once it finished")]
    BackupRunning,
    /// The backup's target directory cannot take a backup (not empty, cannot be created, ...).
    #[error("{0}")]
    BackupTarget(String),
    /// The storage backend is backed up with its own tools (the message says which).
    #[error("{0}")]
    BackupUnsupported(String),
}

/// The engine's live counters, bumped by the actors; read through [`Engine::metrics`].
#[derive(Debug, Default)]
pub(crate) struct EngineStats {
    pub transitions: AtomicU64,
    pub rejected: AtomicU64,
    pub activations: AtomicU64,
    pub actor_failures: AtomicU64,
    pub effects_done: AtomicU64,
    pub effect_retries: AtomicU64,
    pub timers_fired: AtomicU64,
    /// Writes refused by storage's version check (another node wrote the order first).
    pub conflicts: AtomicU64,
    /// Orders reloaded because another node may have moved them on.
    pub reloads: AtomicU64,
    /// Carrier codes no `tracking_codes` table maps, by carrier.
    pub unknown_codes: Counts,
    /// Shipments recorded `pick_pack_late`, by warehouse.
    pub pick_pack_late: Counts,
}

/// A counter per label (a carrier, a warehouse).
#[derive(Debug, Default)]
pub(crate) struct Counts(Mutex<std::collections::BTreeMap<String, u64>>);

impl Counts {
    pub fn add(&self, label: &str) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(label.to_string()).or_default() += 1;
    }

    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.iter().map(|(c, n)| (c.clone(), *n)).collect()
    }
}

impl EngineStats {
    pub(crate) fn unknown_code(&self, carrier: &str) {
        self.unknown_codes.add(carrier);
    }
}

/// An order with its history, as clients see it.
#[derive(Debug, Clone)]
pub struct OrderView {
    pub order: Order,
    pub history: History,
}

/// A scrape of the engine's counters, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct EngineMetrics {
    pub transitions: u64,
    pub rejected: u64,
    pub activations: u64,
    pub actor_failures: u64,
    pub effects_done: u64,
    pub effect_retries: u64,
    pub timers_fired: u64,
    pub conflicts: u64,
    pub reloads: u64,
    pub flushes: FlushStats,
    pub notifications: NotifierStats,
    pub active_actors: usize,
    pub ready: bool,
    /// Carrier codes no `tracking_codes` table maps, by carrier.
    pub unknown_codes: Vec<(String, u64)>,
    /// Shipments that missed their warehouse's pick-and-pack deadline, by warehouse.
    pub pick_pack_late: Vec<(String, u64)>,
}

/// The engine's handle: cheap to clone, shared by every HTTP worker.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: Arc<OrderContext>,
    registry: Arc<Registry>,
    inventory: Addr<inventory::InventoryActor>,
    notifier: Addr<Notifier>,
    /// The stock alerts' loop (reorder points, subscriptions).
    alerts: alerts::StockWatch,
    claims: Mutex<HashSet<String>>,
    ready: AtomicBool,
    backup_running: AtomicBool,
    /// Templates and the shop's name, for previews.
    speech: Arc<notifier::channels::Speech>,
}

impl Engine {
    /// Starts the engine's actors inside the current actix system on `store` (whichever
    /// backend the service opened), sends again every outbox entry a previous run left, starts
    /// the timer loop, and returns once the engine is ready for requests.
    pub fn start(
        store: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Result<Engine, EngineError> {
        let speech = notifier::channels::Speech::new(&config.notifications)
            .map(Arc::new)
            .map_err(EngineError::Config)?;
        let arbiters = (0..config.arbiters.max(1))
            .map(|_| Arbiter::new().handle())
            .collect();
        let stats = Arc::new(EngineStats::default());
        let (stock_arrived, arrivals) = futures::channel::mpsc::unbounded();
        let (watch, alerts_inbox) = alerts::channel();
        let inventory = inventory::InventoryActor::load(
            store.clone(),
            Arc::new(config.warehouses.clone()),
            config.allocation,
            stock_arrived,
            watch.clone(),
        )?;
        // Its storage calls block; with storage across the network they take a round trip
        // each, so the inventory gets a thread of its own rather than stall the system's.
        let inventory = if store.reads_wait_on_network() {
            inventory::InventoryActor::start_in_arbiter(&Arbiter::new().handle(), move |_| {
                inventory
            })
        } else {
            inventory.start()
        };
        let carrier = carrier::CarrierActor::new(config.shipping.clone(), clock.clone()).start();
        // The notifier re-reads each entry before sending it: the same holds for it.
        let notifier = Notifier::with_speech(
            store.clone(),
            clock.clone(),
            config.notifications.clone(),
            Ok(speech.clone()),
        );
        let notifier = if store.reads_wait_on_network() {
            Notifier::start_in_arbiter(&Arbiter::new().handle(), move |_| notifier)
        } else {
            notifier.start()
        };
        let effects = Effects::new(
            store.clone(),
            effects::Receivers {
                inventory: inventory.clone(),
                carrier,
                notifier: notifier.clone(),
            },
            stats.clone(),
            config.effect_wait,
            config.shipping.has_integrations(),
            clock.clone(),
        );
        let stock_alerts = alerts::Alerts {
            store: store.clone(),
            inventory: inventory.clone(),
            notifier: notifier.clone(),
            clock: clock.clone(),
            customer_channels: config.notifications.channels(),
            notifications: config.notifications.clone(),
            operations_channels: config.notifications.operations_channels(),
            max_subscriptions: config.stock_alerts.max_subscriptions_per_sku,
            watching: Default::default(),
        };
        let reconcile_every = store
            .has_other_writers()
            .then_some(config.stock_alerts.reconcile_interval);
        let ctx = Arc::new(OrderContext {
            store,
            clock,
            channels: config.notifications.channels(),
            operations_channels: config.notifications.operations_channels(),
            config,
            stats,
            effects,
            watchers: Default::default(),
        });
        let registry = Arc::new(Registry::new(arbiters, ctx.clone()));
        let answers: Arc<dyn ApplyAnswer> = registry.clone();
        ctx.effects.answer_to(Arc::downgrade(&answers));
        let engine = Engine {
            inner: Arc::new(Inner {
                ctx,
                registry,
                inventory,
                notifier,
                alerts: watch,
                claims: Mutex::new(HashSet::new()),
                ready: AtomicBool::new(false),
                backup_running: AtomicBool::new(false),
                speech,
            }),
        };
        engine.resume()?;
        actix_rt::spawn(alerts::run(stock_alerts, alerts_inbox, reconcile_every));
        actix_rt::spawn(backorders::run(
            engine.inner.ctx.store.clone(),
            engine.inner.ctx.effects.clone(),
            arrivals,
        ));
        if engine.store().has_other_writers() {
            engine.spawn_takeover();
        }
        timers::spawn(
            engine.inner.ctx.clone(),
            Arc::downgrade(&engine.inner.registry),
        );
        poller::spawn(&engine);
        engine.inner.ready.store(true, Ordering::SeqCst);
        Ok(engine)
    }

    /// Sends again every outbox entry left by a previous run (storage hands out only those
    /// whose transition committed).
    fn resume(&self) -> Result<(), EngineError> {
        let entries = self.store().claim_outbox()?;
        if !entries.is_empty() {
            tracing::info!(count = entries.len(), "resuming undelivered messages");
        }
        let effects = self.inner.ctx.effects.clone();
        actix_rt::spawn(async move { effects.send_stored(entries).await });
        Ok(())
    }

    /// With other nodes sharing storage: now and then, take over and send the outbox entries
    /// of nodes that stopped (their timers come with the timer loop's claims).
    fn spawn_takeover(&self) {
        let store = self.inner.ctx.store.clone();
        let effects = self.inner.ctx.effects.clone();
        let every = self.config().takeover_interval;
        let engine = Arc::downgrade(&self.inner);
        actix_rt::spawn(async move {
            // Adaptive: after taking something over, look again at once (a stopped node may
            // have left more than one page of messages); otherwise every `takeover_interval`.
            let mut wait = every;
            loop {
                actix_rt::time::sleep(wait).await;
                if engine.upgrade().is_none() {
                    return;
                }
                let taken = off_thread(&store, |s| s.take_over_outbox())
                    .await
                    .unwrap_or_else(|| {
                        Err(StorageError::Backend("the lookup did not finish".into()))
                    });
                wait = every;
                match taken {
                    Ok(entries) if !entries.is_empty() => {
                        tracing::info!(
                            count = entries.len(),
                            "delivering messages of a stopped node"
                        );
                        let effects = effects.clone();
                        actix_rt::spawn(async move { effects.send_stored(entries).await });
                        wait = Duration::ZERO;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "could not look for a stopped node's messages")
                    }
                }
            }
        });
    }

    /// Runs a storage read: right here when storage answers from this process, on the blocking
    /// pool when a read waits on the network (PostgreSQL), so that HTTP workers and actors go on
    /// serving meanwhile.
    pub(super) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Storage) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, EngineError> {
        Ok(off_thread(&self.inner.ctx.store, f)
            .await
            .ok_or(EngineError::Overloaded)??)
    }

    fn store(&self) -> &dyn Storage {
        &*self.inner.ctx.store
    }

    /// Where stock-alert requests go (the alerts loop).
    fn alerts(&self) -> &futures::channel::mpsc::UnboundedSender<alerts::Msg> {
        self.inner.alerts.sender()
    }

    fn config(&self) -> &EngineConfig {
        &self.inner.ctx.config
    }

    /// Ready for requests: started, and storage healthy (no failed flush).
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst) && self.store().is_healthy()
    }

    /// The engine's counters, for `/metrics`.
    pub async fn metrics(&self) -> EngineMetrics {
        let s = &self.inner.ctx.stats;
        let notifications = self.inner.notifier.send(GetStats).await.unwrap_or_default();
        EngineMetrics {
            transitions: s.transitions.load(Ordering::Relaxed),
            rejected: s.rejected.load(Ordering::Relaxed),
            activations: s.activations.load(Ordering::Relaxed),
            actor_failures: s.actor_failures.load(Ordering::Relaxed),
            effects_done: s.effects_done.load(Ordering::Relaxed),
            effect_retries: s.effect_retries.load(Ordering::Relaxed),
            timers_fired: s.timers_fired.load(Ordering::Relaxed),
            conflicts: s.conflicts.load(Ordering::Relaxed),
            reloads: s.reloads.load(Ordering::Relaxed),
            flushes: self.store().flush_stats(),
            notifications,
            active_actors: self.inner.registry.active(),
            ready: self.is_ready(),
            unknown_codes: s.unknown_codes.snapshot(),
            pick_pack_late: s.pick_pack_late.snapshot(),
        }
    }

    /// Test hook: makes the order's actor panic, as a bug would.
    #[doc(hidden)]
    pub fn inject_panic(&self, id: crate::domain::OrderId) -> Result<(), EngineError> {
        self.inner.registry.inject_panic(id)
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

/// Runs a storage call where it does not hold up the caller's thread: right here when storage
/// answers from this process, on the blocking pool when a call waits on the network
/// (PostgreSQL), so that HTTP workers, actors and the system's loops go on meanwhile. `None`:
/// the call did not finish (its thread panicked).
pub(crate) async fn off_thread<R: Send + 'static>(
    store: &Arc<dyn Storage>,
    f: impl FnOnce(&dyn Storage) -> R + Send + 'static,
) -> Option<R> {
    if !store.reads_wait_on_network() {
        return Some(f(&**store));
    }
    let store = store.clone();
    actix_rt::task::spawn_blocking(move || f(&*store))
        .await
        .ok()
}

#[cfg(test)]
mod tests;
