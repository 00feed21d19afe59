//! Orderly's storage interface: what the engine needs from a backend, in role traits
//! ([`Transitions`], [`OrderReads`], [`Outbox`], [`Timers`], [`StockLedger`], [`AlertRecords`],
//! [`Archive`], each with [`Health`]) whose sum is [`Storage`], the values that cross it, the
//! stored schema ([`schema`]) and the conformance suite every backend must pass
//! ([`conformance`]).
//!
//! The engine holds an `Arc<dyn Storage>` and never sees a backend's types; a part of it that
//! needs one role holds only that role (the inventory: an `Arc<dyn StockLedger>`). Backends live in
//! crates of their own (`orderly-storage-sled` today); the service picks one at start-up from
//! `storage.backend`. [`memory::MemoryStorage`] is an in-memory backend for tests; it passes
//! the same conformance suite.
//!
//! # The contract in short
//!
//! * **A transition is atomic.** [`Transitions::commit_transition`] writes an order's new snapshot
//!   with its events, outbox entries, timers, idempotency record and index changes; after a
//!   crash either all of it is visible through this interface or none of it. What a write
//!   interrupted before its commit point left behind is the backend's business to ignore
//!   (and to clean up): readers, [`Outbox::claim_outbox`], [`Timers::claim_due_timers`],
//!   [`OrderReads::idempotency`] and [`Transitions::load_order_for_update`] never show it.
//! * **A write is durable once its [`Commit`] resolved**, and only then may anything it vouches
//!   for be acknowledged. Reads made after that see it (read-your-commit); a backend may show
//!   it earlier (sled does, as soon as the write returns).
//! * **An order has one writer at a time** (its actor). The writer loads the order with
//!   [`Transitions::load_order_for_update`] and then writes transitions on top of what it holds;
//!   its commits apply in the order it issued them, and one resolving means the earlier ones
//!   are durable too.
//! * **Outbox entries and timers are at-least-once.** They are handed out by `claim_*` and
//!   stay until acknowledged (`ack_*`); a restart (reopen) hands out again what was not
//!   acknowledged. Receivers recognise repeats.
//! * **The stock ledger never oversells, and its changes commute.** [`StockLedger::write_stock`]
//!   adds changes to the touched cells and skus' backorder records (units on hand, reserved,
//!   incoming, waiting), all at once, if the results are sound (nothing negative, no more
//!   reserved than on hand, no more waiting than a sku's cap) and the records that key the
//!   operation (the order's reservation, a order-step marker, a transfer) still hold what the
//!   caller decided against; otherwise it fails with [`StorageError::Conflict`] and the caller
//!   reloads and decides again. Writers (or nodes) selling the same sku therefore do not
//!   refuse each other's writes; only an absolute count by a person sets a value.
//! * **Stock alerts are written with their messages.** [`AlertRecords::write_alerts`] stores
//!   cells' alert records (conditional on what the caller decided against), ends the
//!   subscriptions that were told and writes the notices' outbox entries, all at once; stock
//!   notices in the outbox are about no order and count from that write on.
//! * **Data moves record by record.** [`Archive::export`] hands out every committed record in a
//!   fixed order and [`Archive::import`] stores one as it was (the file format and its drivers
//!   are in [`export`]); [`Archive::backup`] copies a live store consistently, or says which
//!   tool of the backend does.
//!
//! Reads are synchronous: a call blocks its thread for as long as the backend needs.

mod alerts;
pub mod commit;
pub mod conformance;
pub mod export;
pub mod index;
pub mod memory;
pub mod schema;
mod types;

// The domain's types cross the interface (orders, events, timers, stock levels).
pub(crate) use orderly_domain as domain;

pub use alerts::{AlertsWrite, CellAlertRecord, CellAlertWrite, CellKey};
pub use commit::{BoxFuture, Commit, CommitFuture, Durability};
pub use export::{ExportRecord, ExportedOrder, StoredTransition};
pub use types::*;

use chrono::{DateTime, Utc};
use domain::inventory::transfer::{Transfer, TransferId};
use domain::inventory::{Backorders, Reservation, StockLevel};
use domain::stock_alerts::Subscription;
use domain::{Event, Order, OrderId, Sku, Status, Timer, WarehouseId};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The backend failed (its own error, as text and source).
    #[error("storage error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("stored data could not be decoded: {0}")]
    Codec(String),
    #[error("a stored record has schema version {0}, which this release cannot read (written by a newer release?)")]
    UnknownSchemaVersion(u8),
    /// Durability can no longer be promised (a failed flush); writes fail until a restart.
    #[error("storage is unavailable after a failed flush: {0}")]
    Poisoned(String),
    /// A conditional write found other values than expected: reload and decide again. Also
    /// an imported record that differs from the one stored under the same identity, or that
    /// refers to an order not imported yet.
    #[error("conflicting write: {0}")]
    Conflict(String),
    /// The data is held by another process (sled: its directory lock); stop that process first.
    #[error("the data at {0} is in use by another process")]
    InUse(String),
    /// This backend does not do that (what to use instead is in the message).
    #[error("not supported by this storage backend: {0}")]
    Unsupported(String),
    /// A backup's target cannot be used (exists and is not empty, cannot be created, ...).
    #[error("backup target: {0}")]
    BackupTarget(String),
}

impl From<serde_json::Error> for StorageError {
    fn from(e: serde_json::Error) -> Self {
        StorageError::Codec(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// Every role, for code that calls them on a concrete backend rather than through
/// `dyn Storage` (`use orderly_storage::roles::*`).
pub mod roles {
    pub use crate::{
        AlertRecords, Archive, Health, OrderReads, Outbox, StockLedger, Storage, Timers,
        Transitions,
    };
}

/// What the engine needs from storage: the sum of its roles. Object safe: the engine holds
/// `Arc<dyn Storage>` and hands each part of itself only the roles it uses (an
/// `Arc<dyn StockLedger>`, say: the coercion is trait upcasting). Every type with all the roles
/// is a `Storage`; a backend implements each role.
pub trait Storage:
    Transitions + OrderReads + Outbox + Timers + StockLedger + AlertRecords + Archive
{
}

impl<
        T: Transitions + OrderReads + Outbox + Timers + StockLedger + AlertRecords + Archive + ?Sized,
    > Storage for T
{
}

/// The order's single writer: one transition at a time, atomically.
pub trait Transitions: Health {
    /// Writes one transition atomically: the snapshot `w.after`, `w.events`, `w.outbox`, the
    /// timers set and cleared, the idempotency record, and the index changes from `w.before`
    /// to `w.after`. Returns once the write is applied (visible to reads, at the latest once
    /// the commit resolved); the returned [`Commit`] resolves once it is durable.
    ///
    /// On error nothing may be assumed about the write: the writer must reload the order with
    /// [`Transitions::load_order_for_update`] before writing again. A backend that cannot trust
    /// its caller to be the only writer checks `w.before`'s version and fails with
    /// [`StorageError::Conflict`].
    fn commit_transition(&self, w: &TransitionWrite<'_>) -> Result<Commit>;

    /// The order's committed state, for the writer about to write on top of it (an order's
    /// actor, when it is activated). Whatever an interrupted transition left ahead of its
    /// commit point is discarded first, so it never mixes with the writer's next transition
    /// (which reuses its step numbers).
    fn load_order_for_update(&self, id: OrderId) -> Result<Option<Order>>;
}

/// Reads of orders: snapshots, histories, and the lists storage keeps per order (derived by
/// [`index::OrderIndex::of`]).
pub trait OrderReads: Health {
    /// The order's committed snapshot.
    fn load_order(&self, id: OrderId) -> Result<Option<Order>>;

    /// Whether the order has a committed snapshot (cheaper than loading it).
    fn order_exists(&self, id: OrderId) -> Result<bool>;

    /// The order's events with `seq <= version`, in order.
    fn history(&self, id: OrderId, version: u32) -> Result<Vec<Event>>;

    /// The same events as stored JSON in the domain `Event`'s shape, one [`EventsJson`] per
    /// transition, for reads that pass them through or read only a few fields.
    fn history_json(&self, id: OrderId, version: u32) -> Result<Vec<EventsJson>>;

    /// [`OrderReads::history_json`] as a future, for the same reason as
    /// [`OrderReads::order_with_history`]; the default reads synchronously.
    fn history_json_async(&self, id: OrderId, version: u32) -> BoxFuture<Vec<EventsJson>> {
        Box::pin(std::future::ready(self.history_json(id, version)))
    }

    /// The order's committed snapshot with its history up to that snapshot (as
    /// [`OrderReads::history_json`]), read together: what a client reading one order sees. A
    /// future, so that a backend whose reads wait on the network answers without holding the
    /// caller's thread; the default reads both at once, synchronously.
    fn order_with_history(&self, id: OrderId) -> BoxFuture<Option<(Order, Vec<EventsJson>)>> {
        let read = self.load_order(id).and_then(|order| match order {
            None => Ok(None),
            Some(order) => {
                let history = self.history_json(id, order.version)?;
                Ok(Some((order, history)))
            }
        });
        Box::pin(std::future::ready(read))
    }

    /// The order a tracking token belongs to.
    fn order_by_token(&self, token: &str) -> Result<Option<Order>>;

    /// The order a carrier tracking number is booked on.
    fn order_by_tracking_number(&self, tracking_number: &str) -> Result<Option<OrderId>>;

    /// Orders newest first (ids are UUIDv7), optionally of one status, strictly older than
    /// `before`, at most `limit`.
    fn list_orders(
        &self,
        status: Option<Status>,
        before: Option<OrderId>,
        limit: usize,
    ) -> Result<Vec<Order>>;

    /// Confirmed orders reserved at `warehouse`, oldest first, strictly after `after`.
    fn picks(&self, warehouse: &str, after: Option<OrderId>, limit: usize) -> Result<Vec<Order>>;

    /// The backorder queue: orders waiting for stock (placed and backordered, as
    /// [`index::OrderIndex`] derives it), oldest first (by id: UUIDv7), strictly after `after`,
    /// at most `limit`. First placed, first served.
    fn backorders(&self, after: Option<OrderId>, limit: usize) -> Result<Vec<Order>>;

    /// The record of an `Idempotency-Key`'s first use, if its transition committed.
    fn idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>>;

    /// Number of stored orders.
    fn order_count(&self) -> Result<usize>;
}

/// At-least-once messages: outbox entries handed out, attempted, acknowledged, and dead letters.
pub trait Outbox: Health {
    /// Hands out the committed outbox entries this caller should deliver. An entry stays
    /// until acknowledged or dead-lettered; a single-node backend hands out every pending entry
    /// (the engine claims once, at start), a shared one may lease them.
    fn claim_outbox(&self) -> Result<Vec<OutboxEntry>>;

    /// Entries left by other nodes that stopped (a shared backend's leases ran out), now this
    /// caller's to deliver: called now and then by a running engine. A single-node backend has
    /// no other nodes and returns nothing.
    fn take_over_outbox(&self) -> Result<Vec<OutboxEntry>> {
        Ok(Vec::new())
    }

    /// The stored state of the same message as `entry` (its retry state may be newer), or
    /// `None` once it was acknowledged or dead-lettered.
    fn outbox_entry(&self, entry: &OutboxEntry) -> Result<Option<OutboxEntry>>;

    /// Stores an entry's retry state. Not waited on: losing it only repeats an attempt.
    fn record_outbox_attempt(&self, entry: &OutboxEntry) -> Result<()>;

    /// The message was delivered: the entry goes. Not waited on: a lost acknowledgement only
    /// causes a redelivery, which receivers ignore.
    fn ack_outbox(&self, entry: &OutboxEntry) -> Result<()>;

    /// The message was delivered to a person: the entry goes and `sent` joins its order's
    /// message log, in one step (kept once per message id). Not waited on, as `ack_outbox`.
    fn ack_outbox_sent(&self, entry: &OutboxEntry, sent: &SentMessage) -> Result<()>;

    /// An order's messages: delivered to people (by message id), still in the outbox, and
    /// dead-lettered; at most `limit` of each.
    fn order_messages(&self, order: OrderId, limit: usize) -> Result<OrderMessages>;

    /// Number of entries in the outbox.
    fn outbox_len(&self) -> Result<usize>;

    /// Moves an entry to the dead letters (never in neither place).
    fn dead_letter(&self, entry: &OutboxEntry, letter: &DeadLetter) -> Result<Commit>;

    /// Dead letters, each with its outbox entry in `entry`, at most `limit`.
    fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>>;

    /// Puts a dead letter back into the outbox with a fresh attempt count; returns the entry
    /// to deliver and the commit to await first, or `None` if there is no such dead letter.
    fn requeue_dead_letter(&self, message_id: &str) -> Result<Option<(OutboxEntry, Commit)>>;
}

/// Timers as stored data: handed out when due, acknowledged once their command is durable.
pub trait Timers: Health {
    /// Committed timers due at or before `now`, earliest first, at most `limit`. A timer stays
    /// until acknowledged; a single-node backend hands out the due ones on every call.
    fn claim_due_timers(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Timer>>;

    /// The timer fired and what it caused is durable: it goes.
    fn ack_timer(&self, timer: &Timer) -> Result<()>;

    /// Every committed pending timer, earliest first, at most `limit` (operations, tests).
    fn pending_timers(&self, limit: usize) -> Result<Vec<Timer>>;
}

/// The stock ledger: cells, reservations, skus' backorder records and transfers, changed
/// together by [`StockLedger::write_stock`].
pub trait StockLedger: Health {
    /// Every stock cell: ((warehouse, sku), levels).
    fn stock_levels(&self) -> Result<Vec<StockCell>>;

    /// One cell's levels (zero when never written).
    fn stock_level(&self, warehouse: &WarehouseId, sku: &Sku) -> Result<StockLevel>;

    /// An order's reservation record.
    fn reservation(&self, id: OrderId) -> Result<Option<Reservation>>;

    /// Whether step `step` of an order moved stock already (its
    /// [`StockOperation::OrderStep`] was written).
    fn order_step_applied(&self, id: OrderId, step: u32) -> Result<bool>;

    /// Every sku's backorder record (whether it may be backordered, its cap, the units waiting
    /// now), by sku. A sku never written has none (it counts as `Backorders::default()`).
    fn sku_backorders(&self) -> Result<Vec<(Sku, Backorders)>>;

    /// Applies a stock change atomically: adds its deltas to the cells and skus' records (or
    /// sets a counted on hand, a sku's policy), writes the reservation, the order-step marker and
    /// the transfer it carries — if every result is sound ([`CellDelta::apply`],
    /// [`SkuDelta::apply`]), the reservation is still the expected one, the restock was not
    /// done and the transfer is still at its expected version (a new one: no transfer with its
    /// id or key). Otherwise it changes nothing and fails with [`StorageError::Conflict`] — at
    /// once, or when its commit is awaited (a backend may queue stock writes and apply them
    /// later, in the order they were made; a write decided on top of a refused one may then be
    /// refused too). The reads of this trait see every stock write made before them. Crash
    /// safe: after a crash the change is wholly there or wholly not.
    fn write_stock(&self, change: &StockChange) -> Result<Commit>;

    /// A transfer by id.
    fn transfer(&self, id: TransferId) -> Result<Option<Transfer>>;

    /// The transfer created with an `Idempotency-Key`.
    fn transfer_by_key(&self, key: &str) -> Result<Option<Transfer>>;

    /// Transfers newest first (ids are UUIDv7), strictly older than `before`, at most `limit`.
    fn transfers(&self, before: Option<TransferId>, limit: usize) -> Result<Vec<Transfer>>;
}

/// Stock alerts: reorder points with their low-stock state, back-in-stock subscriptions, and
/// the notices they send, written together by [`AlertRecords::write_alerts`].
pub trait AlertRecords: Health {
    /// Every stock cell's alert record (reorder point, low-stock state), by (warehouse, sku).
    /// A cell never given a reorder point has none.
    fn cell_alerts(&self) -> Result<Vec<CellAlertRecord>>;

    /// The alert records of those of `cells` that have one, by (warehouse, sku).
    fn cell_alerts_of(&self, cells: &[CellKey]) -> Result<Vec<CellAlertRecord>>;

    /// The subscription `contact` has to `sku`, if any.
    fn subscription(&self, sku: &str, contact: &str) -> Result<Option<Subscription>>;

    /// The subscriptions waiting for `sku`, by contact, strictly after the contact `after`, at
    /// most `limit`.
    fn subscriptions(
        &self,
        sku: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Subscription>>;

    /// How many subscriptions wait for `sku`.
    fn subscription_count(&self, sku: &str) -> Result<usize>;

    /// The skus that have subscriptions waiting, by sku: among `among`, or all of them.
    fn subscribed_skus(&self, among: Option<&[Sku]>) -> Result<Vec<Sku>>;

    /// Stores a new subscription, only if its contact has none to its sku yet and fewer than
    /// `max` wait for the sku; otherwise changes nothing and fails with
    /// [`StorageError::Conflict`] (the caller reads again and decides: a repeat, or full).
    /// Several writers (nodes) never store more than `max` for a sku, nor two for a contact.
    fn add_subscription(&self, s: &Subscription, max: usize) -> Result<Commit>;

    /// Writes what the stock alerts decided, atomically: every cell's new alert record if the
    /// stored one still equals the expected (see [`CellAlertWrite`]), the ended subscriptions
    /// removed if each is still stored as given (same id), and the notices' outbox entries
    /// inserted (counted from this write on; an entry stored already under the same message is
    /// left as it is). If anything expected does not hold, nothing changes and it fails with
    /// [`StorageError::Conflict`]. Crash safe: after a crash the write is wholly there or
    /// wholly not. The outbox entries are then handed out by [`Outbox::claim_outbox`] like
    /// every other.
    fn write_alerts(&self, w: &AlertsWrite) -> Result<Commit>;
}

/// Moving and keeping data: export, import, online backup.
pub trait Archive: Health {
    /// Hands every committed record to `sink`, one at a time, in this order (the order of an
    /// export file, see [`export`]): orders by id, each with its history as stored (one
    /// element per transition); idempotency records by key; stock cells by (warehouse, sku);
    /// skus' backorder records by sku; reservations by order; order-step markers by (order, step); outbox entries by (order,
    /// step, kind, channel), with their retry state; timers by (due, order); dead letters by
    /// message id, each with its outbox entry. Only what the reads of this interface show:
    /// nothing a transition left ahead of its commit point, no stock journal.
    ///
    /// Streams: holds one order's history at a time, never the whole store. Meant for a store
    /// no writer uses (an export of a live store is consistent per order only). An error from
    /// `sink` stops the export and is returned as it is.
    fn export(&self, sink: &mut dyn FnMut(ExportRecord) -> Result<()>) -> Result<()>;

    /// Stores one exported record as it was, so every read answers as it did in the store it
    /// came from: an order keeps its id, version, tracking token and tracking number, its
    /// history grouped per transition exactly as given (so [`OrderReads::history_json`] reads the
    /// same bytes), and its index entries (status, pick list, token, tracking number, backorder
    /// queue).
    /// Records that refer to an order (idempotency, outbox entry, timer) must come after it.
    ///
    /// Importing a record that is stored already, identically (the very same order with the
    /// same history, the same cell values, ...), changes nothing and succeeds, so an
    /// interrupted import can be replayed; a different record under the same identity (an
    /// order id, a key, a cell) fails with [`StorageError::Conflict`] and changes nothing. An
    /// order's snapshot is written last, as in a transition, so an import interrupted by a
    /// crash leaves no half order. Durable once a later [`Health::sync`] resolved.
    fn import(&self, record: &ExportRecord) -> Result<()>;

    /// Imports `records` as [`Archive::import`] does each, in their order (a record may refer
    /// to an order earlier in the same slice). A backend may store them together, which is
    /// faster; if one fails, those before it are stored and the error names its index. The
    /// default imports them one by one.
    fn import_many(
        &self,
        records: &[ExportRecord],
    ) -> std::result::Result<(), (usize, StorageError)> {
        for (i, r) in records.iter().enumerate() {
            self.import(r).map_err(|e| (i, e))?;
        }
        Ok(())
    }

    /// Writes a consistent copy of the whole store into `dir` (which must not exist, or be an
    /// empty directory), while the store stays in use: the copy is the state at one point of
    /// the write sequence — no half transition or stock change, the ledger agreeing with the
    /// reservations, everything applied before the backup began in it — and is durable when
    /// this returns. `dir` is then a data directory of this backend. Backends that cannot
    /// (an in-memory store; a database server, whose own tools do it better) fail with
    /// [`StorageError::Unsupported`] saying what to use instead.
    fn backup(&self, dir: &Path) -> Result<BackupStats>;
}

/// What every role shares: whether durability still holds, flush counters, whether other
/// nodes write too, whether reads wait on the network, and a commit covering every write made
/// so far.
pub trait Health: Send + Sync + 'static {
    /// A commit covering every write made before this call: resolves once they are durable.
    fn sync(&self) -> Commit;

    /// False once durability can no longer be promised (writes fail until a restart).
    fn is_healthy(&self) -> bool;

    /// Durability counters.
    fn flush_stats(&self) -> FlushStats;

    /// Whether other processes (nodes) may write the same orders. The engine then treats what
    /// an order's actor holds as possibly stale: a refusal or a no-op decided on it is checked
    /// against storage first, and a commit that fails with [`StorageError::Conflict`] makes the
    /// actor reload and decide again.
    fn has_other_writers(&self) -> bool {
        false
    }

    /// Whether a read waits on the network (a database server) rather than on this process's
    /// memory and disk. The engine then runs reads on a blocking pool, off the threads that
    /// serve requests and run actors.
    fn reads_wait_on_network(&self) -> bool {
        false
    }
}
