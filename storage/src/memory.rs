//! An in-memory backend: everything in maps behind one mutex, every write durable at once.
//!
//! For tests that need storage but not a disk (the engine's unit tests), and as the second
//! backend the conformance suite runs against, which keeps the interface honest about what is
//! sled's business and what is the contract. Records are kept encoded in the stored schema, so
//! what the engine writes goes through the same codecs as on disk.
//!
//! "Durable" means: kept for as long as any handle on the data lives. [`MemoryStorage::reopen`]
//! gives a new handle on the same data, as a restart would. A commit is applied whole under the
//! mutex, so there is never anything half-written to ignore; the single writer is checked
//! (`before`'s version must be the stored one).

use crate::domain::inventory::transfer::{Transfer, TransferId};
use crate::domain::inventory::{Backorders, Reservation, StockLevel};
use crate::domain::stock_alerts::{CellAlert, Subscription};
use crate::domain::{Event, Order, OrderId, Sku, Status, Timer, TimerKind, WarehouseId};
use crate::index::{IndexChanges, OrderIndex};
use crate::{
    schema, AlertsWrite, BackupStats, CellAlertRecord, CellKey, Commit, DeadLetter, EventsJson,
    ExportRecord, ExportedOrder, FlushStats, IdempotencyRecord, OrderMessages, OutboxEntry,
    OutboxMessage, Result, SentMessage, StockCell, StockChange, StockOperation, StorageError,
    StoredTransition, TransitionWrite,
};
use crate::{AlertRecords, Archive, Health, OrderReads, Outbox, StockLedger, Timers, Transitions};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// An outbox entry's identity, in export order: an order's message by (order, step, action,
/// channel), then stock notices by message id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum OutboxKey {
    Order(OrderId, u32, String, Option<String>),
    Stock(String),
}

/// (due in microseconds, order, kind): timers in due order.
type TimerKey = (i64, OrderId, u8);

#[derive(Default)]
struct State {
    orders: BTreeMap<OrderId, Vec<u8>>,
    /// One record per transition, keyed by its first event's step.
    events: BTreeMap<(OrderId, u32), Vec<u8>>,
    outbox: BTreeMap<OutboxKey, Vec<u8>>,
    timers: BTreeSet<TimerKey>,
    idempotency: HashMap<String, Vec<u8>>,
    tokens: HashMap<String, OrderId>,
    tracking: HashMap<String, OrderId>,
    /// (warehouse, order): the pick lists.
    picks: BTreeSet<(String, OrderId)>,
    /// The backorder queue, oldest first.
    backorders: BTreeSet<OrderId>,
    dead: BTreeMap<String, Vec<u8>>,
    /// Messages delivered to people, by (order, message id).
    sent: BTreeMap<(OrderId, String), Vec<u8>>,
    stock: BTreeMap<CellKey, StockLevel>,
    reservations: HashMap<OrderId, Reservation>,
    /// Order steps that moved stock (their [`StockOperation::OrderStep`] markers).
    steps_applied: HashSet<(OrderId, u32)>,
    /// Each sku's backorder record.
    skus: BTreeMap<Sku, Backorders>,
    transfers: BTreeMap<TransferId, Transfer>,
    transfer_keys: HashMap<String, TransferId>,
    /// Stock cells' alert records.
    cell_alerts: BTreeMap<CellKey, CellAlert>,
    /// Back-in-stock subscriptions by (sku, contact).
    subscriptions: BTreeMap<(Sku, String), Subscription>,
    writes: u64,
}

fn outbox_key(e: &OutboxEntry) -> OutboxKey {
    match &e.message {
        OutboxMessage::Order(effect) => OutboxKey::Order(
            effect.order_id,
            effect.step,
            effect.kind.name().to_string(),
            e.channel.clone(),
        ),
        OutboxMessage::Stock(_) => OutboxKey::Stock(e.message_id()),
    }
}

fn kind_byte(k: TimerKind) -> u8 {
    match k {
        TimerKind::PaymentDue => 1,
        TimerKind::PromiseDue => 2,
        TimerKind::ExceptionDue => 3,
        TimerKind::DeadlineDue => 4,
    }
}

fn timer_key(t: &Timer) -> TimerKey {
    (t.due.timestamp_micros(), t.order_id, kind_byte(t.kind))
}

fn timer_of(k: &TimerKey) -> Option<Timer> {
    Some(Timer {
        due: DateTime::<Utc>::from_timestamp_micros(k.0)?,
        order_id: k.1,
        kind: match k.2 {
            1 => TimerKind::PaymentDue,
            2 => TimerKind::PromiseDue,
            3 => TimerKind::ExceptionDue,
            4 => TimerKind::DeadlineDue,
            _ => return None,
        },
    })
}

/// The in-memory backend; clone-free, share it as `Arc<dyn Storage>`.
pub struct MemoryStorage {
    state: Arc<Mutex<State>>,
    /// Refused stock writes fail through their commit rather than at once, as with a backend
    /// that pipelines them (see [`MemoryStorage::refusing_stock_writes_late`]).
    late_refusals: bool,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        MemoryStorage::new()
    }
}

impl MemoryStorage {
    /// Empty storage.
    pub fn new() -> MemoryStorage {
        MemoryStorage {
            state: Arc::new(Mutex::new(State::default())),
            late_refusals: false,
        }
    }

    /// Another handle on the same data, as after a restart.
    pub fn reopen(&self) -> MemoryStorage {
        MemoryStorage {
            state: self.state.clone(),
            late_refusals: self.late_refusals,
        }
    }

    /// This handle reports a refused stock write through the write's [`Commit`] instead of at
    /// once, as a backend that pipelines stock writes does (PostgreSQL): for testing the
    /// engine against both behaviours the storage contract allows.
    pub fn refusing_stock_writes_late(mut self) -> MemoryStorage {
        self.late_refusals = true;
        self
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a stock change if every expected value holds (see [`StockLedger::write_stock`]).
    fn apply_stock(&self, change: &StockChange) -> Result<Commit> {
        let mut s = self.state();
        let mut cells = Vec::with_capacity(change.cells.len());
        for c in &change.cells {
            let key = CellKey::new(c.warehouse.clone(), c.sku.clone());
            let current = s.stock.get(&key).copied().unwrap_or_default();
            cells.push((key, c.apply(current)?));
        }
        let mut skus = Vec::with_capacity(change.skus.len());
        for w in &change.skus {
            let current = s.skus.get(&w.sku).copied().unwrap_or_default();
            skus.push((w.sku.clone(), w.apply(current)?));
        }
        match &change.operation {
            StockOperation::Set => {}
            StockOperation::Reservation(r) => {
                if s.reservations.get(&r.new.order_id) != r.expected.as_ref() {
                    return Err(StorageError::Conflict(format!(
                        "the reservation of order {} changed",
                        r.new.order_id
                    )));
                }
            }
            &StockOperation::OrderStep { order, step } => {
                if s.steps_applied.contains(&(order, step)) {
                    return Err(StorageError::Conflict(format!(
                        "order {order} step {step} moved stock already"
                    )));
                }
            }
            StockOperation::Transfer(t) => {
                let stored = s.transfers.get(&t.new.id).map(|x| x.version);
                let key_taken =
                    t.expected_version.is_none() && s.transfer_keys.contains_key(&t.new.key);
                if stored != t.expected_version || key_taken {
                    return Err(StorageError::Conflict(format!(
                        "transfer {} is at version {stored:?}, not {:?} (or its key is taken)",
                        t.new.id, t.expected_version
                    )));
                }
            }
        }
        for (key, level) in cells {
            s.stock.insert(key, level);
        }
        for (sku, b) in skus {
            s.skus.insert(sku, b);
        }
        match &change.operation {
            StockOperation::Set => {}
            StockOperation::Reservation(r) => {
                s.reservations.insert(r.new.order_id, r.new.clone());
            }
            &StockOperation::OrderStep { order, step } => {
                s.steps_applied.insert((order, step));
            }
            StockOperation::Transfer(t) => {
                s.transfer_keys.insert(t.new.key.clone(), t.new.id);
                s.transfers.insert(t.new.id, t.new.clone());
            }
        }
        s.writes += 1;
        Ok(Commit::durable())
    }
}

/// A stock write refused after the fact (see [`MemoryStorage::refusing_stock_writes_late`]).
struct Refused(String);

impl crate::Durability for Refused {
    fn wait(&self, _ticket: u64) -> crate::BoxFuture<()> {
        let why = self.0.clone();
        Box::pin(std::future::ready(Err(StorageError::Conflict(why))))
    }
}

impl State {
    fn order(&self, id: OrderId) -> Result<Option<Order>> {
        self.orders
            .get(&id)
            .map(|v| schema::decode_order(v))
            .transpose()
    }

    fn history_records(&self, id: OrderId, version: u32) -> impl Iterator<Item = &Vec<u8>> {
        self.events.range((id, 0)..=(id, version)).map(|(_, v)| v)
    }

    /// Everything an export hands out, in its order (see [`Archive::export`]).
    fn records(&self) -> Result<Vec<ExportRecord>> {
        let mut out = Vec::new();
        for (id, v) in &self.orders {
            let order = schema::decode_order(v)?;
            let transitions = self
                .events
                .range((*id, 0)..=(*id, order.version))
                .map(|((_, step), r)| {
                    Ok(StoredTransition {
                        step: *step,
                        events: schema::history_json(r)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            out.push(ExportRecord::Order(Box::new(ExportedOrder {
                order,
                transitions,
            })));
        }
        let mut keys: Vec<&String> = self.idempotency.keys().collect();
        keys.sort();
        for key in keys {
            out.push(ExportRecord::Idempotency {
                key: key.clone(),
                record: schema::decode_idempotency(&self.idempotency[key])?,
            });
        }
        for (CellKey { warehouse, sku }, level) in &self.stock {
            out.push(ExportRecord::Stock {
                warehouse: warehouse.clone(),
                sku: sku.clone(),
                level: *level,
            });
        }
        for (sku, backorders) in &self.skus {
            out.push(ExportRecord::Backorders {
                sku: sku.clone(),
                backorders: *backorders,
            });
        }
        let mut reservations: Vec<&Reservation> = self.reservations.values().collect();
        reservations.sort_by_key(|r| r.order_id);
        out.extend(
            reservations
                .into_iter()
                .cloned()
                .map(ExportRecord::Reservation),
        );
        let mut steps: Vec<&(OrderId, u32)> = self.steps_applied.iter().collect();
        steps.sort();
        out.extend(
            steps
                .into_iter()
                .map(|&(order_id, step)| ExportRecord::OrderStep { order_id, step }),
        );
        out.extend(self.transfers.values().cloned().map(ExportRecord::Transfer));
        for v in self.outbox.values() {
            out.push(ExportRecord::Outbox(schema::decode_outbox(v)?));
        }
        out.extend(
            self.timers
                .iter()
                .filter_map(timer_of)
                .map(ExportRecord::Timer),
        );
        for v in self.dead.values() {
            out.push(ExportRecord::DeadLetter(schema::decode_dead_letter(v)?));
        }
        for v in self.sent.values() {
            out.push(ExportRecord::SentMessage(schema::decode_sent(v)?));
        }
        for (CellKey { warehouse, sku }, alert) in &self.cell_alerts {
            out.push(ExportRecord::CellAlert {
                warehouse: warehouse.clone(),
                sku: sku.clone(),
                alert: *alert,
            });
        }
        out.extend(
            self.subscriptions
                .values()
                .cloned()
                .map(ExportRecord::Subscription),
        );
        Ok(out)
    }

    /// Stores `record` unless one is stored under its identity: then it must be the same.
    fn import(&mut self, record: &ExportRecord) -> Result<()> {
        fn same<T: PartialEq + std::fmt::Debug>(
            what: String,
            stored: Option<T>,
            new: T,
        ) -> Result<bool> {
            match stored {
                None => Ok(false),
                Some(s) if s == new => Ok(true),
                Some(s) => Err(StorageError::Conflict(format!(
                    "{what} is stored already, differently: {s:?}"
                ))),
            }
        }
        match record {
            ExportRecord::Order(o) => {
                let id = o.order.id;
                let stored = match self.order(id)? {
                    Some(order) => Some((
                        order,
                        self.history_records(id, u32::MAX)
                            .map(|r| schema::history_json(r))
                            .collect::<Result<Vec<_>>>()?,
                    )),
                    None => None,
                };
                let events: Vec<EventsJson> =
                    o.transitions.iter().map(|t| t.events.clone()).collect();
                if same(format!("order {id}"), stored, (o.order.clone(), events))? {
                    return Ok(());
                }
                if self.tokens.contains_key(&o.order.tracking_token) {
                    return Err(StorageError::Conflict(format!(
                        "another order has the tracking token of order {id}"
                    )));
                }
                for t in &o.transitions {
                    self.events
                        .insert((id, t.step), schema::events_record(&t.events));
                }
                self.index(&IndexChanges::of(None, &o.order), id);
                self.orders.insert(id, schema::encode_order(&o.order)?);
            }
            ExportRecord::Idempotency { key, record } => {
                let stored = self
                    .idempotency
                    .get(key)
                    .map(|v| schema::decode_idempotency(v))
                    .transpose()?;
                if !same(format!("idempotency key {key:?}"), stored, record.clone())? {
                    self.need_order(record.order_id)?;
                    self.idempotency
                        .insert(key.clone(), schema::encode_idempotency(record)?);
                }
            }
            ExportRecord::Stock {
                warehouse,
                sku,
                level,
            } => {
                let key = CellKey::new(warehouse.clone(), sku.clone());
                let stored = self.stock.get(&key).copied();
                if !same(format!("stock of {sku} at {warehouse}"), stored, *level)? {
                    self.stock.insert(key, *level);
                }
            }
            ExportRecord::Backorders { sku, backorders } => {
                let stored = self.skus.get(sku).copied();
                if !same(
                    format!("the backorder record of {sku}"),
                    stored,
                    *backorders,
                )? {
                    self.skus.insert(sku.clone(), *backorders);
                }
            }
            ExportRecord::Reservation(r) => {
                let stored = self.reservations.get(&r.order_id).cloned();
                if !same(
                    format!("the reservation of order {}", r.order_id),
                    stored,
                    r.clone(),
                )? {
                    self.reservations.insert(r.order_id, r.clone());
                }
            }
            ExportRecord::OrderStep { order_id, step } => {
                self.steps_applied.insert((*order_id, *step));
            }
            ExportRecord::Transfer(t) => {
                let stored = self.transfers.get(&t.id).cloned();
                if let Some(other) = self.transfer_keys.get(&t.key) {
                    if *other != t.id {
                        return Err(StorageError::Conflict(format!(
                            "transfer key {:?} belongs to transfer {other}",
                            t.key
                        )));
                    }
                }
                if !same(format!("transfer {}", t.id), stored, t.clone())? {
                    self.transfer_keys.insert(t.key.clone(), t.id);
                    self.transfers.insert(t.id, t.clone());
                }
            }
            ExportRecord::Outbox(e) => {
                let key = outbox_key(e);
                let stored = self
                    .outbox
                    .get(&key)
                    .map(|v| schema::decode_outbox(v))
                    .transpose()?;
                if !same(
                    format!("outbox entry {}", e.message_id()),
                    stored,
                    e.clone(),
                )? {
                    if let Some(id) = e.order_id() {
                        self.need_order(id)?;
                    }
                    self.outbox.insert(key, schema::encode_outbox(e)?);
                }
            }
            ExportRecord::Timer(t) => {
                self.need_order(t.order_id)?;
                self.timers.insert(timer_key(t));
            }
            ExportRecord::DeadLetter(d) => {
                let Some(entry) = &d.entry else {
                    return Err(StorageError::Codec(format!(
                        "dead letter {} without its outbox entry",
                        d.message_id
                    )));
                };
                let stored = self
                    .dead
                    .get(&d.message_id)
                    .map(|v| schema::decode_dead_letter(v))
                    .transpose()?;
                if !same(format!("dead letter {}", d.message_id), stored, d.clone())? {
                    self.dead
                        .insert(d.message_id.clone(), schema::encode_dead_letter(d, entry)?);
                }
            }
            ExportRecord::CellAlert {
                warehouse,
                sku,
                alert,
            } => {
                let key = CellKey::new(warehouse.clone(), sku.clone());
                let stored = self.cell_alerts.get(&key).copied();
                if !same(
                    format!("the alert record of {sku} at {warehouse}"),
                    stored,
                    *alert,
                )? {
                    self.cell_alerts.insert(key, *alert);
                }
            }
            ExportRecord::SentMessage(m) => {
                let key = (m.order_id, m.message_id.clone());
                let stored = self
                    .sent
                    .get(&key)
                    .map(|v| schema::decode_sent(v))
                    .transpose()?;
                if !same(format!("sent message {}", m.message_id), stored, m.clone())? {
                    self.sent.insert(key, schema::encode_sent(m)?);
                }
            }
            ExportRecord::Subscription(sub) => {
                let key = (sub.sku.clone(), sub.contact.clone());
                let stored = self.subscriptions.get(&key).cloned();
                if !same(
                    format!("the subscription of {} to {}", sub.contact, sub.sku),
                    stored,
                    sub.clone(),
                )? {
                    self.subscriptions.insert(key, sub.clone());
                }
            }
        }
        self.writes += 1;
        Ok(())
    }

    /// Applies an order's index changes (see [`crate::index`]).
    fn index(&mut self, c: &IndexChanges<'_>, id: OrderId) {
        if let Some(token) = c.token_added {
            self.tokens.insert(token.to_string(), id);
        }
        for w in &c.picks.removed {
            self.picks.remove(&(w.to_string(), id));
        }
        for w in &c.picks.added {
            self.picks.insert((w.to_string(), id));
        }
        for tn in &c.tracking_numbers.removed {
            if self.tracking.get(*tn) == Some(&id) {
                self.tracking.remove(*tn);
            }
        }
        for tn in &c.tracking_numbers.added {
            self.tracking.insert(tn.to_string(), id);
        }
        if c.backorder_removed {
            self.backorders.remove(&id);
        }
        if c.backorder_added {
            self.backorders.insert(id);
        }
    }

    fn need_order(&self, id: OrderId) -> Result<()> {
        if self.orders.contains_key(&id) {
            Ok(())
        } else {
            Err(StorageError::Conflict(format!(
                "the record refers to order {id}, which is not stored (orders come first)"
            )))
        }
    }

    fn version(&self, id: OrderId) -> Result<Option<u32>> {
        self.orders
            .get(&id)
            .map(|v| schema::decode_order_version(v))
            .transpose()
    }
}

impl Transitions for MemoryStorage {
    fn commit_transition(&self, w: &TransitionWrite<'_>) -> Result<Commit> {
        let id = w.after.id;
        // Encode before taking the lock: nothing changes if encoding fails.
        let snapshot = schema::encode_order(w.after)?;
        let events = w
            .events
            .first()
            .map(|e| Ok::<_, StorageError>((e.seq, schema::encode_events(w.events)?)))
            .transpose()?;
        let outbox = w
            .outbox
            .iter()
            .map(|e| Ok((outbox_key(e), schema::encode_outbox(e)?)))
            .collect::<Result<Vec<_>>>()?;
        let idempotency = w
            .idempotency
            .map(|(k, r)| Ok::<_, StorageError>((k.to_string(), schema::encode_idempotency(r)?)))
            .transpose()?;
        let mut s = self.state();
        let stored = s.version(id)?;
        if stored != w.before.map(|o| o.version) {
            return Err(StorageError::Conflict(format!(
                "order {id} is at version {stored:?}, the write was decided on {:?}",
                w.before.map(|o| o.version)
            )));
        }
        if let Some((seq, record)) = events {
            s.events.insert((id, seq), record);
        }
        s.outbox.extend(outbox);
        for t in w.set_timers {
            s.timers.insert(timer_key(t));
        }
        for t in w.clear_timers {
            s.timers.remove(&timer_key(t));
        }
        if let Some((k, rec)) = idempotency {
            s.idempotency.insert(k, rec);
        }
        s.index(&IndexChanges::of(w.before, w.after), id);
        s.orders.insert(id, snapshot);
        s.writes += 1;
        Ok(Commit::durable())
    }

    fn load_order_for_update(&self, id: OrderId) -> Result<Option<Order>> {
        // Commits are whole: nothing to discard.
        self.load_order(id)
    }
}

impl OrderReads for MemoryStorage {
    fn load_order(&self, id: OrderId) -> Result<Option<Order>> {
        self.state().order(id)
    }

    fn order_exists(&self, id: OrderId) -> Result<bool> {
        Ok(self.state().orders.contains_key(&id))
    }

    fn history(&self, id: OrderId, version: u32) -> Result<Vec<Event>> {
        let s = self.state();
        let mut out = Vec::new();
        for r in s.history_records(id, version) {
            out.extend(schema::decode_events(r)?);
        }
        Ok(out)
    }

    fn history_json(&self, id: OrderId, version: u32) -> Result<Vec<EventsJson>> {
        let s = self.state();
        s.history_records(id, version)
            .map(|r| schema::history_json(r))
            .collect()
    }

    fn order_by_token(&self, token: &str) -> Result<Option<Order>> {
        let s = self.state();
        match s.tokens.get(token) {
            Some(id) => s.order(*id),
            None => Ok(None),
        }
    }

    fn order_by_tracking_number(&self, tracking_number: &str) -> Result<Option<OrderId>> {
        Ok(self.state().tracking.get(tracking_number).copied())
    }

    fn list_orders(
        &self,
        status: Option<Status>,
        before: Option<OrderId>,
        limit: usize,
    ) -> Result<Vec<Order>> {
        let s = self.state();
        let mut out = Vec::new();
        let upper = match before {
            Some(b) => std::ops::Bound::Excluded(b),
            None => std::ops::Bound::Unbounded,
        };
        for v in s
            .orders
            .range((std::ops::Bound::Unbounded, upper))
            .rev()
            .map(|(_, v)| v)
        {
            if out.len() == limit {
                break;
            }
            let o = schema::decode_order(v)?;
            if status.is_none_or(|st| o.status == st) {
                out.push(o);
            }
        }
        Ok(out)
    }

    fn picks(&self, warehouse: &str, after: Option<OrderId>, limit: usize) -> Result<Vec<Order>> {
        let s = self.state();
        let lower = match after {
            Some(a) => std::ops::Bound::Excluded((warehouse.to_string(), a)),
            None => std::ops::Bound::Included((warehouse.to_string(), OrderId::nil())),
        };
        let mut out = Vec::new();
        for (w, id) in s.picks.range((lower, std::ops::Bound::Unbounded)) {
            if out.len() == limit || w != warehouse {
                break;
            }
            if let Some(o) = s.order(*id)? {
                debug_assert!(OrderIndex::of(&o).on_pick_list(warehouse));
                out.push(o);
            }
        }
        Ok(out)
    }

    fn backorders(&self, after: Option<OrderId>, limit: usize) -> Result<Vec<Order>> {
        let s = self.state();
        let lower = match after {
            Some(a) => std::ops::Bound::Excluded(a),
            None => std::ops::Bound::Unbounded,
        };
        let mut out = Vec::new();
        for id in s
            .backorders
            .range((lower, std::ops::Bound::Unbounded))
            .take(limit)
        {
            if let Some(o) = s.order(*id)? {
                debug_assert!(OrderIndex::of(&o).backordered);
                out.push(o);
            }
        }
        Ok(out)
    }

    fn idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>> {
        self.state()
            .idempotency
            .get(key)
            .map(|v| schema::decode_idempotency(v))
            .transpose()
    }

    fn order_count(&self) -> Result<usize> {
        Ok(self.state().orders.len())
    }
}

impl Outbox for MemoryStorage {
    fn claim_outbox(&self) -> Result<Vec<OutboxEntry>> {
        self.state()
            .outbox
            .values()
            .map(|v| schema::decode_outbox(v))
            .collect()
    }

    fn outbox_entry(&self, entry: &OutboxEntry) -> Result<Option<OutboxEntry>> {
        self.state()
            .outbox
            .get(&outbox_key(entry))
            .map(|v| schema::decode_outbox(v))
            .transpose()
    }

    fn record_outbox_attempt(&self, entry: &OutboxEntry) -> Result<()> {
        let v = schema::encode_outbox(entry)?;
        self.state().outbox.insert(outbox_key(entry), v);
        Ok(())
    }

    fn ack_outbox(&self, entry: &OutboxEntry) -> Result<()> {
        self.state().outbox.remove(&outbox_key(entry));
        Ok(())
    }

    fn ack_outbox_sent(&self, entry: &OutboxEntry, sent: &SentMessage) -> Result<()> {
        let record = schema::encode_sent(sent)?;
        let mut s = self.state();
        s.outbox.remove(&outbox_key(entry));
        s.sent
            .entry((sent.order_id, sent.message_id.clone()))
            .or_insert(record);
        Ok(())
    }

    fn order_messages(&self, order: OrderId, limit: usize) -> Result<OrderMessages> {
        let s = self.state();
        let sent = s
            .sent
            .range((order, String::new())..)
            .take_while(|((o, _), _)| *o == order)
            .take(limit)
            .map(|(_, v)| schema::decode_sent(v))
            .collect::<Result<_>>()?;
        let pending = s
            .outbox
            .iter()
            .filter(|(k, _)| matches!(k, OutboxKey::Order(o, ..) if *o == order))
            .take(limit)
            .map(|(_, v)| schema::decode_outbox(v))
            .collect::<Result<_>>()?;
        let prefix = format!("msg_{}_", order.simple());
        let dead = s
            .dead
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .take(limit)
            .map(|(_, v)| schema::decode_dead_letter(v))
            .collect::<Result<_>>()?;
        Ok(OrderMessages {
            sent,
            pending,
            dead,
        })
    }

    fn outbox_len(&self) -> Result<usize> {
        Ok(self.state().outbox.len())
    }

    fn dead_letter(&self, entry: &OutboxEntry, letter: &DeadLetter) -> Result<Commit> {
        let v = schema::encode_dead_letter(letter, entry)?;
        let mut s = self.state();
        s.dead.insert(letter.message_id.clone(), v);
        s.outbox.remove(&outbox_key(entry));
        Ok(Commit::durable())
    }

    fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        self.state()
            .dead
            .values()
            .take(limit)
            .map(|v| schema::decode_dead_letter(v))
            .collect()
    }

    fn requeue_dead_letter(&self, message_id: &str) -> Result<Option<(OutboxEntry, Commit)>> {
        let mut s = self.state();
        let Some(v) = s.dead.get(message_id) else {
            return Ok(None);
        };
        let Some(stored) = schema::decode_dead_letter(v)?.entry else {
            return Err(StorageError::Codec("dead letter without its entry".into()));
        };
        let entry = OutboxEntry::of(stored.message, stored.channel);
        s.outbox
            .insert(outbox_key(&entry), schema::encode_outbox(&entry)?);
        s.dead.remove(message_id);
        Ok(Some((entry, Commit::durable())))
    }
}

impl Timers for MemoryStorage {
    fn claim_due_timers(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Timer>> {
        let now = now.timestamp_micros();
        Ok(self
            .state()
            .timers
            .iter()
            .take_while(|k| k.0 <= now)
            .filter_map(timer_of)
            .take(limit)
            .collect())
    }

    fn ack_timer(&self, timer: &Timer) -> Result<()> {
        self.state().timers.remove(&timer_key(timer));
        Ok(())
    }

    fn pending_timers(&self, limit: usize) -> Result<Vec<Timer>> {
        Ok(self
            .state()
            .timers
            .iter()
            .filter_map(timer_of)
            .take(limit)
            .collect())
    }
}

impl StockLedger for MemoryStorage {
    fn stock_levels(&self) -> Result<Vec<StockCell>> {
        Ok(self
            .state()
            .stock
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect())
    }

    fn stock_level(&self, warehouse: &WarehouseId, sku: &Sku) -> Result<StockLevel> {
        Ok(self
            .state()
            .stock
            .get(&CellKey::new(warehouse, sku))
            .copied()
            .unwrap_or_default())
    }

    fn reservation(&self, id: OrderId) -> Result<Option<Reservation>> {
        Ok(self.state().reservations.get(&id).cloned())
    }

    fn order_step_applied(&self, id: OrderId, step: u32) -> Result<bool> {
        Ok(self.state().steps_applied.contains(&(id, step)))
    }

    fn transfer(&self, id: TransferId) -> Result<Option<Transfer>> {
        Ok(self.state().transfers.get(&id).cloned())
    }

    fn transfer_by_key(&self, key: &str) -> Result<Option<Transfer>> {
        let s = self.state();
        Ok(s.transfer_keys
            .get(key)
            .and_then(|id| s.transfers.get(id))
            .cloned())
    }

    fn transfers(&self, before: Option<TransferId>, limit: usize) -> Result<Vec<Transfer>> {
        let s = self.state();
        Ok(s.transfers
            .values()
            .rev()
            .filter(|t| before.is_none_or(|b| t.id < b))
            .take(limit)
            .cloned()
            .collect())
    }

    fn sku_backorders(&self) -> Result<Vec<(Sku, Backorders)>> {
        Ok(self
            .state()
            .skus
            .iter()
            .map(|(sku, b)| (sku.clone(), *b))
            .collect())
    }

    fn write_stock(&self, change: &StockChange) -> Result<Commit> {
        match self.apply_stock(change) {
            Err(StorageError::Conflict(why)) if self.late_refusals => {
                Ok(Commit::new(Arc::new(Refused(why)), 0))
            }
            other => other,
        }
    }
}

impl AlertRecords for MemoryStorage {
    fn cell_alerts(&self) -> Result<Vec<CellAlertRecord>> {
        Ok(self
            .state()
            .cell_alerts
            .iter()
            .map(|(k, a)| (k.clone(), *a))
            .collect())
    }

    fn cell_alerts_of(&self, cells: &[CellKey]) -> Result<Vec<CellAlertRecord>> {
        let s = self.state();
        let mut out: Vec<CellAlertRecord> = cells
            .iter()
            .filter_map(|k| s.cell_alerts.get(k).map(|a| (k.clone(), *a)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        Ok(out)
    }

    fn subscription(&self, sku: &str, contact: &str) -> Result<Option<Subscription>> {
        Ok(self
            .state()
            .subscriptions
            .get(&(Sku::new(sku), contact.to_string()))
            .cloned())
    }

    fn subscriptions(
        &self,
        sku: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Subscription>> {
        let s = self.state();
        let lower = match after {
            Some(c) => std::ops::Bound::Excluded((Sku::new(sku), c.to_string())),
            None => std::ops::Bound::Included((Sku::new(sku), String::new())),
        };
        Ok(s.subscriptions
            .range((lower, std::ops::Bound::Unbounded))
            .take_while(|((k, _), _)| k == sku)
            .take(limit)
            .map(|(_, v)| v.clone())
            .collect())
    }

    fn subscription_count(&self, sku: &str) -> Result<usize> {
        let s = self.state();
        Ok(s.subscriptions
            .range((Sku::new(sku), String::new())..)
            .take_while(|((k, _), _)| k == sku)
            .count())
    }

    fn subscribed_skus(&self, among: Option<&[Sku]>) -> Result<Vec<Sku>> {
        let s = self.state();
        let mut skus: Vec<Sku> = s.subscriptions.keys().map(|(sku, _)| sku.clone()).collect();
        skus.dedup();
        if let Some(among) = among {
            skus.retain(|sku| among.contains(sku));
        }
        Ok(skus)
    }

    fn add_subscription(&self, sub: &Subscription, max: usize) -> Result<Commit> {
        let mut s = self.state();
        let key = (sub.sku.clone(), sub.contact.clone());
        if s.subscriptions.contains_key(&key) {
            return Err(StorageError::Conflict(format!(
                "{} is subscribed to {} already",
                sub.contact, sub.sku
            )));
        }
        let count = s
            .subscriptions
            .range((sub.sku.clone(), String::new())..)
            .take_while(|((k, _), _)| *k == sub.sku)
            .count();
        if count >= max {
            return Err(StorageError::Conflict(format!(
                "{max} subscriptions wait for {} already",
                sub.sku
            )));
        }
        s.subscriptions.insert(key, sub.clone());
        s.writes += 1;
        Ok(Commit::durable())
    }

    fn write_alerts(&self, w: &AlertsWrite) -> Result<Commit> {
        let outbox = w
            .outbox
            .iter()
            .map(|e| Ok((outbox_key(e), schema::encode_outbox(e)?)))
            .collect::<Result<Vec<_>>>()?;
        let mut s = self.state();
        for c in &w.cells {
            let key = CellKey::new(c.warehouse.clone(), c.sku.clone());
            if s.cell_alerts.get(&key) != c.expected.as_ref() {
                return Err(StorageError::Conflict(format!(
                    "the alert record of {} at {} changed",
                    c.sku, c.warehouse
                )));
            }
        }
        for sub in &w.ended {
            let key = (sub.sku.clone(), sub.contact.clone());
            if s.subscriptions.get(&key).map(|x| x.id) != Some(sub.id) {
                return Err(StorageError::Conflict(format!(
                    "the subscription of {} to {} ended already",
                    sub.contact, sub.sku
                )));
            }
        }
        for c in &w.cells {
            s.cell_alerts
                .insert(CellKey::new(c.warehouse.clone(), c.sku.clone()), c.new);
        }
        for sub in &w.ended {
            s.subscriptions
                .remove(&(sub.sku.clone(), sub.contact.clone()));
        }
        for (key, v) in outbox {
            s.outbox.entry(key).or_insert(v);
        }
        s.writes += 1;
        Ok(Commit::durable())
    }
}

impl Archive for MemoryStorage {
    /// The whole store is taken at once, under the lock (it is in memory already), then handed
    /// out without holding the lock, so `sink` may use this store.
    fn export(&self, sink: &mut dyn FnMut(ExportRecord) -> Result<()>) -> Result<()> {
        let records = self.state().records()?;
        for r in records {
            sink(r)?;
        }
        Ok(())
    }

    fn import(&self, record: &ExportRecord) -> Result<()> {
        self.state().import(record)
    }

    fn backup(&self, _dir: &Path) -> Result<BackupStats> {
        Err(StorageError::Unsupported(
            "the in-memory store keeps nothing to back up; export it instead".into(),
        ))
    }
}

impl Health for MemoryStorage {
    fn sync(&self) -> Commit {
        Commit::durable()
    }

    fn is_healthy(&self) -> bool {
        true
    }

    fn flush_stats(&self) -> FlushStats {
        let writes = self.state().writes;
        FlushStats {
            flushes: writes,
            flushed_writes: writes,
            flush_micros: 0,
        }
    }
}
