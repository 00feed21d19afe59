//! Storage: one sled database, written through a single commit point per transition and made
//! durable by group commit.
//!
//! Layout (see ARCHITECTURE.md): the `orders` tree holds, under one-byte prefixes, each order's
//! snapshot, its events, its outbox entries, its timers, the idempotency records and the
//! secondary indexes. A transition writes everything its new snapshot vouches for first and
//! the snapshot last (see [`Store::write_transition`]), so after a crash a surviving snapshot
//! implies the rest survived, and readers ignore what a lost snapshot would have vouched for.
//! The `inventory` tree is the inventory actor's; its commit point is a journal record.
//!
//! Nothing is acknowledged before [`Durability::wait`] says the write is on disk.

mod durability;
mod keys;

pub use durability::{Durability, FlushStats};

use crate::domain::inventory::{Reservation, StockLevel};
use crate::domain::{Effect, Event, Order, OrderId, Reactions, Status, Timer, TimerKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored data could not be decoded: {0}")]
    Codec(#[from] serde_json::Error),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("storage is unavailable after a failed flush: {0}")]
    Poisoned(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The outbox's record of one message still to be delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub effect: Effect,
    /// Notification channel, for notification messages (one entry per channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl OutboxEntry {
    pub fn key(&self) -> Vec<u8> {
        keys::outbox(
            self.effect.order_id,
            self.effect.step,
            self.effect.action.name(),
            self.channel.as_deref(),
        )
    }

    /// Stable id of the message: the same on every redelivery.
    pub fn message_id(&self) -> String {
        let base = format!(
            "msg_{}_{}_{}",
            self.effect.order_id.simple(),
            self.effect.step,
            self.effect.action.name()
        );
        match &self.channel {
            Some(c) => format!("{base}_{c}"),
            None => base,
        }
    }
}

/// A notification that ran out of attempts, kept for an operator to inspect and retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadLetter {
    pub message_id: String,
    pub order_id: uuid::Uuid,
    pub kind: String,
    pub channel: Option<String>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub failed_at: DateTime<Utc>,
    #[serde(skip)]
    #[schema(ignore)]
    pub entry: Option<OutboxEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredDeadLetter {
    letter: DeadLetter,
    entry: OutboxEntry,
}

/// What an `Idempotency-Key` was first used for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub order_id: uuid::Uuid,
    /// The order's version right after the request, so a replay can rebuild the same response.
    pub version: u32,
}

/// Everything one order transition writes (see `Store::write_transition` for how it is made
/// atomic).
pub struct TransitionWrite<'a> {
    pub before: Option<&'a Order>,
    pub after: &'a Order,
    pub events: &'a [Event],
    pub reactions: &'a Reactions,
    /// Outbox entries, already expanded per notification channel.
    pub outbox: &'a [OutboxEntry],
    pub idempotency: Option<(&'a str, IdempotencyRecord)>,
}

/// The writes of one transition, in commit order.
struct TransitionOps {
    first: Vec<(Vec<u8>, Vec<u8>)>,
    commit: (Vec<u8>, Vec<u8>),
    then_remove: Vec<Vec<u8>>,
}

fn transition_ops(w: &TransitionWrite<'_>) -> Result<TransitionOps> {
    let id = w.after.id;
    let mut first = Vec::with_capacity(w.events.len() + w.outbox.len() + 4);
    let mut then_remove = Vec::new();
    // All of a transition's events under one key (the first event's step): one insert instead
    // of one per event, and fewer entries to read back for a history.
    if let Some(e) = w.events.first() {
        first.push((keys::event(id, e.seq), enc(&w.events)?));
    }
    for entry in w.outbox {
        first.push((entry.key(), enc(entry)?));
    }
    for t in &w.reactions.set_timers {
        first.push((keys::timer(t), vec![]));
    }
    if let Some((key, rec)) = &w.idempotency {
        first.push((keys::idempotency(key), enc(rec)?));
    }
    let before_status = w.before.map(|o| o.status);
    if before_status != Some(w.after.status) {
        first.push((keys::by_status(w.after.status, id), vec![]));
        if let Some(s) = before_status {
            then_remove.push(keys::by_status(s, id));
        }
    }
    // The pick list holds confirmed orders only.
    let was_pickable = w
        .before
        .filter(|o| o.status == Status::Confirmed)
        .and_then(|o| o.warehouse.as_deref());
    let is_pickable = Some(w.after)
        .filter(|o| o.status == Status::Confirmed)
        .and_then(|o| o.warehouse.as_deref());
    if was_pickable != is_pickable {
        if let Some(wh) = is_pickable {
            first.push((keys::pick(wh, id), vec![]));
        }
        if let Some(wh) = was_pickable {
            then_remove.push(keys::pick(wh, id));
        }
    }
    if w.before.is_none() {
        first.push((keys::token(&w.after.tracking_token), id.as_bytes().to_vec()));
    }
    let booked_before = w
        .before
        .and_then(|o| o.booking())
        .map(|b| b.tracking_number.clone());
    if let Some(bk) = w.after.booking() {
        if booked_before.as_deref() != Some(bk.tracking_number.as_str()) {
            first.push((
                keys::tracking_number(&bk.tracking_number),
                id.as_bytes().to_vec(),
            ));
        }
    }
    for t in &w.reactions.clear_timers {
        then_remove.push(keys::timer(t));
    }
    Ok(TransitionOps {
        first,
        commit: (keys::order(id), enc(w.after)?),
        then_remove,
    })
}

/// One inventory change as journalled: new absolute values, so replaying it is idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct InventoryChange {
    levels: Vec<((String, String), StockLevel)>,
    reservations: Vec<Reservation>,
    restock_marker: Option<(OrderId, u32)>,
}

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    orders: sled::Tree,
    inventory: sled::Tree,
    durability: Durability,
    dir: PathBuf,
    journal_seq: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(v)?)
}

fn dec<T: for<'de> Deserialize<'de>>(b: &[u8]) -> Result<T> {
    Ok(serde_json::from_slice(b)?)
}

fn id_from(b: &[u8]) -> Option<OrderId> {
    <[u8; 16]>::try_from(b).ok().map(OrderId::from_bytes)
}

impl Store {
    /// Opens the store, waiting up to `patience` for a previous holder of the same directory in
    /// this process (whose flusher thread lets go within a few hundred milliseconds).
    pub fn open_patiently(
        dir: &Path,
        cache_bytes: u64,
        patience: std::time::Duration,
    ) -> Result<Store> {
        let deadline = std::time::Instant::now() + patience;
        loop {
            match Store::open(dir, cache_bytes) {
                Err(StoreError::Sled(sled::Error::Io(e)))
                    if e.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    /// Opens (or creates) the database under `dir` with a page cache of `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Store> {
        std::fs::create_dir_all(dir)?;
        let db = sled::Config::new()
            .path(dir.join("sled"))
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(Some(1000))
            .open()?;
        let orders = db.open_tree("orders")?;
        let inventory = db.open_tree("inventory")?;
        let durability = Durability::start(db.clone(), &dir.join("sled"))?;
        let store = Store {
            db,
            orders,
            inventory,
            durability,
            dir: dir.to_path_buf(),
            journal_seq: Default::default(),
        };
        store.replay_inventory_journal()?;
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn durability(&self) -> &Durability {
        &self.durability
    }

    /// Waits until every write made before this call is on disk.
    pub async fn sync(&self) -> Result<()> {
        let seq = self.durability.mark_written();
        self.durability.wait(seq).await
    }

    /// Writes one transition. Returns the write's sequence number, to pass to
    /// `Durability::wait` before acknowledging.
    ///
    /// Atomicity by a single commit point, not a sled batch: everything the new snapshot
    /// vouches for (events, outbox entries, timers, idempotency record, new index entries) is
    /// inserted first, then the snapshot (one key, atomic), then what it no longer vouches for
    /// is removed. sled recovers a prefix of its log, so a surviving snapshot implies everything
    /// written before it survived; anything written before a snapshot that did not survive is
    /// ignored by readers (they check it against the snapshot) and cleaned up on activation and
    /// at start. We avoid `apply_batch` because in sled 0.34 the first batch switches the whole
    /// database to a global reader-writer lock (every batch then waits for running flushes and
    /// excludes every other write) and each batch rolls the log buffer twice.
    pub fn write_transition(&self, w: &TransitionWrite<'_>) -> Result<u64> {
        self.durability.check()?;
        let ops = transition_ops(w)?;
        for (k, v) in ops.first {
            self.orders.insert(k, v)?;
        }
        self.orders.insert(ops.commit.0, ops.commit.1)?;
        for k in ops.then_remove {
            self.orders.remove(k)?;
        }
        Ok(self.durability.mark_written())
    }

    /// Bulk path for seeding a directory offline: many transitions in one sled batch. Not used
    /// by the running service (see `write_transition` for why).
    pub fn write_transitions(&self, ws: &[TransitionWrite<'_>]) -> Result<u64> {
        self.durability.check()?;
        let mut b = sled::Batch::default();
        for w in ws {
            let ops = transition_ops(w)?;
            for (k, v) in ops.first {
                b.insert(k, v);
            }
            b.insert(ops.commit.0, ops.commit.1);
            for k in ops.then_remove {
                b.remove(k);
            }
        }
        self.orders.apply_batch(b)?;
        Ok(self.durability.mark_written())
    }

    /// Removes what an interrupted transition wrote ahead of its snapshot: events and outbox
    /// entries past the committed version. Called before an order's actor writes anything.
    pub fn discard_uncommitted(&self, id: OrderId, version: u32) -> Result<()> {
        let events = keys::events_of(id);
        let from = keys::event(id, version.saturating_add(1));
        let mut to = events.clone();
        to.push(0xff);
        for k in self.orders.range(from..to).keys() {
            self.orders.remove(k?)?;
        }
        let mut from = keys::outbox_of(id);
        from.extend_from_slice(&version.saturating_add(1).to_be_bytes());
        let mut to = keys::outbox_of(id);
        to.push(0xff);
        for k in self.orders.range(from..to).keys() {
            self.orders.remove(k?)?;
        }
        Ok(())
    }

    /// Whether the order has a committed snapshot, without decoding it.
    pub fn order_exists(&self, id: OrderId) -> Result<bool> {
        Ok(self.orders.contains_key(keys::order(id))?)
    }

    pub fn load_order(&self, id: OrderId) -> Result<Option<Order>> {
        self.orders
            .get(keys::order(id))?
            .map(|v| dec(&v))
            .transpose()
    }

    /// The order's events up to `version` (later keys belong to an interrupted transition).
    pub fn history(&self, id: OrderId, version: u32) -> Result<Vec<Event>> {
        self.history_as(id, version)
    }

    /// The history decoded as `T`: a reader that needs only a few fields of each event (the
    /// tracking page) skips the cost of building whole events.
    pub fn history_as<T: for<'de> Deserialize<'de>>(
        &self,
        id: OrderId,
        version: u32,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for v in self.history_bytes(id, version)? {
            out.extend(dec::<Vec<T>>(&v)?);
        }
        Ok(out)
    }

    /// The history as stored JSON, for responses that pass it through without decoding.
    pub fn history_json(
        &self,
        id: OrderId,
        version: u32,
    ) -> Result<Vec<Box<serde_json::value::RawValue>>> {
        let mut out = Vec::new();
        for v in self.history_bytes(id, version)? {
            out.extend(dec::<Vec<Box<serde_json::value::RawValue>>>(&v)?);
        }
        Ok(out)
    }

    /// The stored values of the transitions up to `version`, each a JSON array of events.
    fn history_bytes(&self, id: OrderId, version: u32) -> Result<Vec<sled::IVec>> {
        Ok(self
            .orders
            .range(keys::event(id, 0)..=keys::event(id, version))
            .values()
            .collect::<std::result::Result<_, _>>()?)
    }

    #[cfg(test)]
    fn events(&self, id: OrderId) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        for v in self.orders.scan_prefix(keys::events_of(id)).values() {
            out.extend(dec::<Vec<Event>>(&v?)?);
        }
        Ok(out)
    }

    /// The order a tracking token belongs to (checked against the committed snapshot).
    pub fn order_by_token(&self, token: &str) -> Result<Option<Order>> {
        let Some(id) = self
            .orders
            .get(keys::token(token))?
            .and_then(|v| id_from(&v))
        else {
            return Ok(None);
        };
        Ok(self.load_order(id)?.filter(|o| o.tracking_token == token))
    }

    /// The order a carrier tracking number belongs to (checked against the committed snapshot).
    pub fn order_by_tracking_number(&self, tn: &str) -> Result<Option<OrderId>> {
        let Some(id) = self
            .orders
            .get(keys::tracking_number(tn))?
            .and_then(|v| id_from(&v))
        else {
            return Ok(None);
        };
        let booked = self
            .load_order(id)?
            .is_some_and(|o| o.booking().is_some_and(|b| b.tracking_number == tn));
        Ok(booked.then_some(id))
    }

    pub fn idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>> {
        self.orders
            .get(keys::idempotency(key))?
            .map(|v| dec(&v))
            .transpose()
    }

    /// Orders newest first (ids are UUIDv7, so key order is creation order), optionally of one
    /// status, strictly older than `before`.
    pub fn list_orders(
        &self,
        status: Option<Status>,
        before: Option<OrderId>,
        limit: usize,
    ) -> Result<Vec<Order>> {
        let (prefix, id_at): (Vec<u8>, usize) = match status {
            Some(s) => (keys::by_status_prefix(s), 2),
            None => (vec![keys::ORDER], 1),
        };
        let mut upper = prefix.clone();
        match before {
            Some(id) => upper.extend_from_slice(id.as_bytes()),
            None => upper.push(0xff),
        }
        let mut out = Vec::with_capacity(limit);
        for kv in self.orders.range(prefix.clone()..upper).rev() {
            let (k, v) = kv?;
            let order = if let Some(s) = status {
                // Index entries are checked against the snapshot: a stale or uncommitted one
                // is skipped.
                match id_from(&k[id_at..])
                    .map(|id| self.load_order(id))
                    .transpose()?
                    .flatten()
                {
                    Some(o) if o.status == s => o,
                    _ => continue,
                }
            } else {
                dec(&v)?
            };
            out.push(order);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    /// Confirmed orders waiting to be picked at `warehouse`, oldest first, after `after`.
    pub fn picks(
        &self,
        warehouse: &str,
        after: Option<OrderId>,
        limit: usize,
    ) -> Result<Vec<Order>> {
        let prefix = keys::pick_prefix(warehouse);
        let mut lower = prefix.clone();
        if let Some(id) = after {
            lower.extend_from_slice(id.as_bytes());
            lower.push(0);
        }
        let mut upper = prefix.clone();
        upper.push(0xff);
        let mut out = Vec::new();
        for k in self.orders.range(lower..upper).keys() {
            let k = k?;
            let order = id_from(&k[prefix.len()..])
                .map(|id| self.load_order(id))
                .transpose()?
                .flatten();
            if let Some(o) = order.filter(|o| {
                o.status == Status::Confirmed && o.warehouse.as_deref() == Some(warehouse)
            }) {
                out.push(o);
            }
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    /// Every outbox entry; read once at start to resume delivery.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        self.orders
            .scan_prefix([keys::OUTBOX])
            .values()
            .map(|v| dec(&v?))
            .collect()
    }

    pub fn outbox_entry(&self, key: &[u8]) -> Result<Option<OutboxEntry>> {
        self.orders.get(key)?.map(|v| dec(&v)).transpose()
    }

    /// Updates an entry's retry state. Not waited on: losing it only repeats an attempt.
    pub fn update_outbox(&self, entry: &OutboxEntry) -> Result<()> {
        self.orders.insert(entry.key(), enc(entry)?)?;
        Ok(())
    }

    /// Removes a delivered entry. Not waited on: a lost removal only causes a redelivery, which
    /// receivers ignore.
    pub fn remove_outbox(&self, key: &[u8]) -> Result<()> {
        self.orders.remove(key)?;
        Ok(())
    }

    pub fn outbox_len(&self) -> usize {
        self.orders.scan_prefix([keys::OUTBOX]).count()
    }

    /// Moves an entry to the dead-letter list: the dead letter is written first, so a crash in
    /// between leaves the entry in both places (one more delivery attempt), never in neither.
    pub fn dead_letter(&self, entry: &OutboxEntry, letter: &DeadLetter) -> Result<u64> {
        let stored = StoredDeadLetter {
            letter: letter.clone(),
            entry: entry.clone(),
        };
        self.orders
            .insert(keys::dead_letter(&letter.message_id), enc(&stored)?)?;
        self.orders.remove(entry.key())?;
        Ok(self.durability.mark_written())
    }

    pub fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        self.orders
            .scan_prefix([keys::DEAD])
            .values()
            .take(limit)
            .map(|v| {
                let s: StoredDeadLetter = dec(&v?)?;
                Ok(DeadLetter {
                    entry: Some(s.entry),
                    ..s.letter
                })
            })
            .collect()
    }

    /// Puts a dead letter back into the outbox with a fresh attempt count.
    pub fn requeue_dead_letter(&self, message_id: &str) -> Result<Option<OutboxEntry>> {
        let Some(v) = self.orders.get(keys::dead_letter(message_id))? else {
            return Ok(None);
        };
        let s: StoredDeadLetter = dec(&v)?;
        let entry = OutboxEntry {
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
            ..s.entry
        };
        // Outbox first, then forget the dead letter: never in neither place.
        self.orders.insert(entry.key(), enc(&entry)?)?;
        self.orders.remove(keys::dead_letter(message_id))?;
        self.durability.mark_written();
        Ok(Some(entry))
    }

    /// Timers due at or before `now`, earliest first.
    pub fn due_timers(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Timer>> {
        let upper = keys::timer_upper(now);
        let mut out = Vec::new();
        for k in self
            .orders
            .range(vec![keys::TIMER]..upper)
            .keys()
            .take(limit)
        {
            if let Some(t) = keys::parse_timer(&k?) {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// The earliest pending timer, to know how long to sleep.
    pub fn next_timer(&self) -> Result<Option<Timer>> {
        Ok(self
            .orders
            .scan_prefix([keys::TIMER])
            .keys()
            .next()
            .transpose()?
            .and_then(|k| keys::parse_timer(&k)))
    }

    pub fn remove_timer(&self, t: &Timer) -> Result<()> {
        self.orders.remove(keys::timer(t))?;
        Ok(())
    }

    pub fn count_timers(&self, kind: TimerKind) -> usize {
        self.orders
            .scan_prefix([keys::TIMER])
            .keys()
            .filter_map(|k| k.ok())
            .filter_map(|k| keys::parse_timer(&k))
            .filter(|t| t.kind == kind)
            .count()
    }

    // ---- inventory tree -------------------------------------------------------------------

    pub fn stock_levels(&self) -> Result<Vec<((String, String), StockLevel)>> {
        let mut out = Vec::new();
        for kv in self.inventory.scan_prefix([keys::STOCK]) {
            let (k, v) = kv?;
            if let Some(cell) = keys::parse_stock(&k) {
                out.push((cell, dec(&v)?));
            }
        }
        Ok(out)
    }

    pub fn reservation(&self, id: OrderId) -> Result<Option<Reservation>> {
        self.inventory
            .get(keys::reservation(id))?
            .map(|v| dec(&v))
            .transpose()
    }

    pub fn restocked(&self, id: OrderId, step: u32) -> Result<bool> {
        Ok(self.inventory.contains_key(keys::restock(id, step))?)
    }

    /// Writes an inventory change (levels, reservation, restock marker) atomically.
    pub fn write_inventory(
        &self,
        levels: &[((String, String), StockLevel)],
        reservation: Option<&Reservation>,
        restock_marker: Option<(OrderId, u32)>,
    ) -> Result<u64> {
        self.write_inventory_bulk(levels, reservation.into_iter(), restock_marker)
    }

    /// Stock levels and any number of reservation records, atomically: the change is first
    /// written as one journal record holding the new absolute values (the commit point), then
    /// applied to its keys, then the record is removed. `open` re-applies any record a crash
    /// left behind; applying absolute values twice is harmless.
    pub fn write_inventory_bulk<'r>(
        &self,
        levels: &[((String, String), StockLevel)],
        reservations: impl Iterator<Item = &'r Reservation>,
        restock_marker: Option<(OrderId, u32)>,
    ) -> Result<u64> {
        self.durability.check()?;
        let change = InventoryChange {
            levels: levels.to_vec(),
            reservations: reservations.cloned().collect(),
            restock_marker,
        };
        let seq = self
            .journal_seq
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let key = keys::journal(seq);
        self.inventory.insert(&key, enc(&change)?)?;
        self.apply_inventory(&change)?;
        self.inventory.remove(key)?;
        Ok(self.durability.mark_written())
    }

    fn apply_inventory(&self, c: &InventoryChange) -> Result<()> {
        for ((w, s), l) in &c.levels {
            self.inventory.insert(keys::stock(w, s), enc(l)?)?;
        }
        for r in &c.reservations {
            self.inventory
                .insert(keys::reservation(r.order_id), enc(r)?)?;
        }
        if let Some((id, step)) = c.restock_marker {
            self.inventory.insert(keys::restock(id, step), &[])?;
        }
        Ok(())
    }

    /// Finishes inventory changes interrupted by a crash (see `write_inventory_bulk`).
    fn replay_inventory_journal(&self) -> Result<()> {
        for kv in self.inventory.scan_prefix([keys::JOURNAL]) {
            let (k, v) = kv?;
            let change: InventoryChange = dec(&v)?;
            self.apply_inventory(&change)?;
            self.inventory.remove(k)?;
        }
        Ok(())
    }

    /// Raw snapshot-sized writes with the engine's group commit, for the storage baseline.
    pub fn baseline_write(&self, key: &[u8], value: &[u8]) -> Result<u64> {
        let mut k = vec![b'z'];
        k.extend_from_slice(key);
        self.orders.insert(k, value)?;
        Ok(self.durability.mark_written())
    }

    /// Number of stored orders (all statuses); used by readiness reporting and tests.
    pub fn order_count(&self) -> usize {
        self.orders.scan_prefix([keys::ORDER]).count()
    }

    pub fn db(&self) -> &sled::Db {
        &self.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::*;
    use chrono::TimeZone;

    fn placed() -> (Order, Vec<Event>) {
        let order = crate::domain::fixtures::new_order(
            &[("s", 1, 100)],
            PaymentMethod::Cod,
            InitialPaymentStatus::Pending,
        );
        let cmd = Command::Place {
            id: OrderId::now_v7(),
            tracking_token: "a".repeat(40),
            order,
            payment_timeout_secs: 60,
        };
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let events = decide(None, &cmd, &Cause::Storefront, now).unwrap();
        (fold(None, &events).unwrap(), events)
    }

    #[test]
    fn writes_ahead_of_an_uncommitted_snapshot_are_ignored_and_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8 << 20).unwrap();
        let (order, events) = placed();
        let r = reactions(&order, &events);
        store
            .write_transition(&TransitionWrite {
                before: None,
                after: &order,
                events: &events,
                reactions: &r,
                outbox: &[],
                idempotency: None,
            })
            .unwrap();
        // A cancel that crashed after its leading writes but before its snapshot.
        let id = order.id;
        let ghost = Event {
            seq: 2,
            at: order.placed_at,
            by: Cause::Storefront,
            change: Change::Cancelled { reason: "x".into() },
        };
        store
            .orders
            .insert(keys::event(id, 2), enc(&[ghost]).unwrap())
            .unwrap();
        let entry = OutboxEntry {
            effect: Effect {
                order_id: id,
                step: 2,
                action: Action::ReleaseStock,
            },
            channel: None,
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
        };
        store
            .orders
            .insert(entry.key(), enc(&entry).unwrap())
            .unwrap();
        store
            .orders
            .insert(keys::by_status(Status::Cancelled, id), vec![])
            .unwrap();

        assert_eq!(store.history(id, order.version).unwrap().len(), 1);
        assert!(store
            .list_orders(Some(Status::Cancelled), None, 10)
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .list_orders(Some(Status::Placed), None, 10)
                .unwrap()
                .len(),
            1
        );
        store.discard_uncommitted(id, order.version).unwrap();
        assert!(store.outbox().unwrap().is_empty());
        assert_eq!(store.events(id).unwrap().len(), 1);
    }

    #[test]
    fn a_transitions_events_share_one_key_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8 << 20).unwrap();
        let (placed, first) = placed();
        let write = |before: Option<&Order>, after: &Order, events: &[Event]| {
            let r = reactions(after, events);
            store
                .write_transition(&TransitionWrite {
                    before,
                    after,
                    events,
                    reactions: &r,
                    outbox: &[],
                    idempotency: None,
                })
                .unwrap();
        };
        write(None, &placed, &first);
        // Cash on delivery: the reservation also confirms the order, two events in one step.
        let now = placed.placed_at;
        let reserve = Command::StockReserved {
            warehouse: "ams".into(),
        };
        let second = decide(Some(&placed), &reserve, &Cause::InventoryActor, now).unwrap();
        assert_eq!(second.len(), 2, "{second:?}");
        let confirmed = fold(Some(placed.clone()), &second).unwrap();
        write(Some(&placed), &confirmed, &second);

        let id = confirmed.id;
        let all: Vec<Event> = first.iter().chain(&second).cloned().collect();
        assert_eq!(store.history(id, confirmed.version).unwrap(), all);
        let seqs: Vec<u32> = all.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=confirmed.version).collect::<Vec<_>>());
        // The version a replay of the placement asks for sees only the first step.
        assert_eq!(store.history(id, placed.version).unwrap(), first);
        let raw = store.history_json(id, confirmed.version).unwrap();
        let decoded: Vec<Event> = raw
            .iter()
            .map(|v| serde_json::from_str(v.get()).unwrap())
            .collect();
        assert_eq!(decoded, all);
        assert_eq!(store.orders.scan_prefix(keys::events_of(id)).count(), 2);
    }

    #[test]
    fn an_interrupted_inventory_change_is_finished_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), 8 << 20).unwrap();
            let change = InventoryChange {
                levels: vec![(
                    ("w".into(), "s".into()),
                    StockLevel {
                        on_hand: 7,
                        reserved: 2,
                    },
                )],
                reservations: vec![],
                restock_marker: None,
            };
            // Journalled (the commit point) but not applied: the crash came in between.
            store
                .inventory
                .insert(keys::journal(0), enc(&change).unwrap())
                .unwrap();
            store.db.flush().unwrap();
        }
        let store =
            Store::open_patiently(dir.path(), 8 << 20, std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(
            store.stock_levels().unwrap(),
            vec![(
                ("w".into(), "s".into()),
                StockLevel {
                    on_hand: 7,
                    reserved: 2
                }
            )]
        );
        assert_eq!(store.inventory.scan_prefix([keys::JOURNAL]).count(), 0);
    }
}
