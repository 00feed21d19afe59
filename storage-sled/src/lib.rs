//! The sled storage backend: one sled database, written through a single commit point per
//! transition and made durable by group commit.
//!
//! Layout (see ARCHITECTURE.md and `keys`): the `orders` tree holds, under one-byte prefixes,
//! each order's snapshot, its events, its outbox entries, its timers, the idempotency records
//! and the secondary indexes (the backorder queue among them); the `inventory` tree holds the
//! stock ledger (cells, reservations, order-step markers, the skus' backorder records), whose
//! commit point is a journal record. Values are records of the stored schema
//! ([`orderly_storage::schema`]): a version byte and JSON, or the unmarked JSON of the release
//! before versioning, which reads as v1.
//!
//! **A transition is atomic by its commit point, the snapshot.** Everything the new snapshot
//! vouches for is inserted first, then the snapshot (one key, atomic), then what it no longer
//! vouches for is removed (see [`SledStorage::commit_transition`]). sled recovers a prefix of
//! its log, so a snapshot that survived a crash implies everything written before it survived.
//! What was written ahead of a snapshot that did not survive is this backend's business to
//! ignore, and it does so in every read of the interface:
//!
//! * index entries (status, pick list, tracking token and number, backorder queue) are checked
//!   against the snapshot they point to;
//! * history is read up to the snapshot's version;
//! * an idempotency record counts only if its order reached the recorded version;
//! * an outbox entry is handed out only if its order reached the entry's step, and entries past
//!   their order's version are dropped when the database is opened;
//! * a timer is handed out only if its order reached the version that set it (stored in the
//!   timer's value; timers written before versioning have none and count once the order exists);
//! * when an order's writer loads it ([`SledStorage::load_order_for_update`]), events and
//!   outbox entries past the committed version are removed, so the writer's next transition,
//!   which reuses those step numbers, never mixes with them.
//!
//! Nothing is acknowledged before the write's [`Commit`] resolved (see `durability`).

mod alerts;
mod backup;
mod durability;
mod export;
mod keys;

use backup::{Gate, TreeId};
use chrono::{DateTime, Utc};
use durability::GroupCommit;
use orderly_domain::inventory::transfer::{Transfer, TransferId};
use orderly_domain::inventory::{Backorders, Reservation, StockLevel};
use orderly_domain::stock_alerts::Subscription;
use orderly_domain::{Event, Order, OrderId, Sku, Status, Timer, WarehouseId};
use orderly_storage::index::{IndexChanges, OrderIndex};
use orderly_storage::schema::{self, v1, v2};
use orderly_storage::{
    AlertRecords, Archive, Health, OrderReads, Outbox, StockLedger, Timers, Transitions,
};
use orderly_storage::{
    AlertsWrite, BackupStats, CellAlertRecord, CellKey, Commit, DeadLetter, EventsJson,
    ExportRecord, FlushStats, IdempotencyRecord, OrderMessages, OutboxEntry, OutboxMessage, Result,
    SentMessage, StockCell, StockChange, StockOperation, StorageError, TransitionWrite,
};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A sled error as a storage error.
pub(crate) fn backend(e: sled::Error) -> StorageError {
    StorageError::Backend(Box::new(e))
}

trait OrBackend<T> {
    fn db(self) -> Result<T>;
}

impl<T> OrBackend<T> for std::result::Result<T, sled::Error> {
    fn db(self) -> Result<T> {
        self.map_err(backend)
    }
}

/// The writes of one transition, in commit order.
struct TransitionOps {
    first: Vec<(Vec<u8>, Vec<u8>)>,
    commit: (Vec<u8>, Vec<u8>),
    then_remove: Vec<Vec<u8>>,
}

fn transition_ops(w: &TransitionWrite<'_>) -> Result<TransitionOps> {
    let id = w.after.id;
    let mut first = Vec::with_capacity(w.outbox.len() + w.set_timers.len() + 5);
    let mut then_remove = Vec::new();
    // All of a transition's events under one key (the first event's step): one insert instead
    // of one per event, and fewer entries to read back for a history.
    if let Some(e) = w.events.first() {
        first.push((keys::event(id, e.seq), schema::encode_events(w.events)?));
    }
    for entry in w.outbox {
        first.push((outbox_key(entry), schema::encode_outbox(entry)?));
    }
    // A timer's value is the version that set it: it counts once the snapshot reaches it.
    let version = w.after.version.to_be_bytes().to_vec();
    for t in w.set_timers {
        first.push((keys::timer(t), version.clone()));
    }
    if let Some((key, rec)) = w.idempotency {
        first.push((keys::idempotency(key), schema::encode_idempotency(rec)?));
    }
    // Index entries: what `OrderIndex` derives for `after` and did not for `before` goes in
    // first; what it no longer derives goes after the commit point.
    let ix = IndexChanges::of(w.before, w.after);
    if let Some(st) = ix.status_added {
        first.push((keys::by_status(st, id), vec![]));
    }
    if let Some(st) = ix.status_removed {
        then_remove.push(keys::by_status(st, id));
    }
    for wh in &ix.picks.added {
        first.push((keys::pick(wh, id), vec![]));
    }
    for wh in &ix.picks.removed {
        then_remove.push(keys::pick(wh, id));
    }
    if let Some(token) = ix.token_added {
        first.push((keys::token(token), id.as_bytes().to_vec()));
    }
    for tn in &ix.tracking_numbers.added {
        first.push((keys::tracking_number(tn), id.as_bytes().to_vec()));
    }
    for tn in &ix.tracking_numbers.removed {
        then_remove.push(keys::tracking_number(tn));
    }
    if ix.backorder_added {
        first.push((keys::backorder(id), vec![]));
    }
    if ix.backorder_removed {
        then_remove.push(keys::backorder(id));
    }
    for t in w.clear_timers {
        then_remove.push(keys::timer(t));
    }
    Ok(TransitionOps {
        first,
        commit: (keys::order(id), schema::encode_order(w.after)?),
        then_remove,
    })
}

/// An outbox entry's key: an order's message under its order (`X`), a stock notice under its
/// message id (`y`).
fn outbox_key(entry: &OutboxEntry) -> Vec<u8> {
    match &entry.message {
        OutboxMessage::Order(e) => {
            keys::outbox(e.order_id, e.step, e.kind.name(), entry.channel.as_deref())
        }
        OutboxMessage::Stock(_) => keys::notice(&entry.message_id()),
    }
}

/// (warehouse, sku).
type Cell<'a> = (Cow<'a, str>, Cow<'a, str>);

/// One stock change as journalled: the new absolute values its changes came to (worked out
/// under the stock lock), so replaying it is idempotent. The shape is the one the release
/// before versioning journalled, with the reservations of the record's version (`R`: v2 today,
/// v1 in a journal a release before shipments left), the skus' new backorder records (absent
/// from journals of releases before backorders), levels with their `incoming` (absent before
/// transfers, and when 0) and the transfer written (absent before transfers).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Journal<'a, R> {
    levels: Vec<(Cell<'a>, v2::StockLevel)>,
    reservations: Vec<R>,
    /// The order step's marker ([`StockOperation::OrderStep`]); named when only restocks had
    /// one.
    restock_marker: Option<(OrderId, u32)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    skus: Vec<(Cow<'a, str>, v2::Backorders)>,
    #[serde(default, borrow, skip_serializing_if = "Vec::is_empty")]
    transfers: Vec<v2::Transfer<'a>>,
}

/// A journalled change, read back into the domain's values to apply.
struct Applied {
    levels: Vec<(CellKey, StockLevel)>,
    reservations: Vec<Reservation>,
    order_step: Option<(OrderId, u32)>,
    skus: Vec<(Sku, Backorders)>,
    transfers: Vec<Transfer>,
}

impl<'a, R: Into<Reservation>> From<Journal<'a, R>> for Applied {
    fn from(j: Journal<'a, R>) -> Self {
        Applied {
            levels: j
                .levels
                .into_iter()
                .map(|((w, s), l)| (CellKey::new(w.into_owned(), s.into_owned()), l.into()))
                .collect(),
            reservations: j.reservations.into_iter().map(Into::into).collect(),
            order_step: j.restock_marker,
            skus: j
                .skus
                .into_iter()
                .map(|(sku, b)| (Sku::from(sku.into_owned()), b.into()))
                .collect(),
            transfers: j.transfers.into_iter().map(Into::into).collect(),
        }
    }
}

fn id_from(b: &[u8]) -> Option<OrderId> {
    <[u8; 16]>::try_from(b).ok().map(OrderId::from_bytes)
}

/// The sled backend. Open it once per directory and process; share it as `Arc<dyn Storage>`.
pub struct SledStorage {
    db: sled::Db,
    orders: sled::Tree,
    inventory: sled::Tree,
    group: Arc<GroupCommit>,
    dir: PathBuf,
    journal_seq: AtomicU64,
    /// Serialises stock writes: their expected values are checked and applied under it.
    stock: Mutex<()>,
    /// Serialises stock-alert writes and subscriptions the same way (see `alerts`).
    alerts: Mutex<()>,
    /// Every write operation passes it; a backup holds it for its final pass (see `backup`).
    gate: Gate,
}

impl SledStorage {
    /// Opens the store, waiting up to `patience` for a previous holder of the same directory in
    /// this process (whose flusher thread lets go within a few hundred milliseconds).
    pub fn open_patiently(
        dir: &Path,
        cache_bytes: u64,
        patience: std::time::Duration,
    ) -> Result<SledStorage> {
        let deadline = std::time::Instant::now() + patience;
        loop {
            match SledStorage::open(dir, cache_bytes) {
                Err(StorageError::InUse(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    /// Opens (or creates) the database under `dir` with a page cache of `cache_bytes`,
    /// finishes stock changes a crash interrupted and drops outbox entries whose transition
    /// never committed.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<SledStorage> {
        std::fs::create_dir_all(dir)?;
        let db = sled::Config::new()
            .path(dir.join("sled"))
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(Some(1000))
            .open()
            .map_err(|e| match e {
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    StorageError::InUse(format!("{} ({io})", dir.display()))
                }
                e => backend(e),
            })?;
        let orders = db.open_tree("orders").db()?;
        let inventory = db.open_tree("inventory").db()?;
        let group = GroupCommit::start(db.clone(), &dir.join("sled"))?;
        let store = SledStorage {
            db,
            orders,
            inventory,
            group,
            dir: dir.to_path_buf(),
            journal_seq: AtomicU64::new(0),
            stock: Mutex::new(()),
            alerts: Mutex::new(()),
            gate: Gate::default(),
        };
        store.replay_stock_journal()?;
        store.replay_alerts_journal()?;
        store.discard_uncommitted_outbox()?;
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn commit(&self) -> Commit {
        Commit::new(self.group.clone(), self.group.mark_written())
    }

    /// A raw write outside the order keyspace, with the same group commit as transitions: the
    /// bench's storage baseline (what sled and the flush can do without the engine).
    pub fn baseline_write(&self, key: &[u8], value: &[u8]) -> Result<Commit> {
        self.group.check()?;
        let _w = self.gate.enter();
        let mut k = Vec::with_capacity(key.len() + 1);
        k.push(keys::BASELINE);
        k.extend_from_slice(key);
        self.put(TreeId::Orders, k, value)?;
        Ok(self.commit())
    }

    /// Writes what a crash inside [`Transitions::commit_transition`] could leave: everything ahead
    /// of the snapshot, without it. For the conformance suite and tests only.
    #[doc(hidden)]
    pub fn write_ahead_of_commit_point(&self, w: &TransitionWrite<'_>) -> Result<()> {
        let _w = self.gate.enter();
        for (k, v) in transition_ops(w)?.first {
            self.put(TreeId::Orders, k, v)?;
        }
        Ok(())
    }

    fn tree(&self, t: TreeId) -> &sled::Tree {
        match t {
            TreeId::Orders => &self.orders,
            TreeId::Inventory => &self.inventory,
        }
    }

    /// Every write goes through here or [`SledStorage::del`], inside the operation's pass
    /// through the gate, so a running backup learns of it.
    fn put(&self, t: TreeId, key: impl AsRef<[u8]>, value: impl Into<sled::IVec>) -> Result<()> {
        let key = key.as_ref();
        self.tree(t).insert(key, value).db()?;
        self.gate.note(t, key);
        Ok(())
    }

    fn del(&self, t: TreeId, key: impl AsRef<[u8]>) -> Result<()> {
        let key = key.as_ref();
        self.tree(t).remove(key).db()?;
        self.gate.note(t, key);
        Ok(())
    }

    /// The committed version of an order, read without decoding the whole snapshot.
    fn committed_version(&self, id: OrderId) -> Result<Option<u32>> {
        self.orders
            .get(keys::order(id))
            .db()?
            .map(|v| schema::decode_order_version(&v))
            .transpose()
    }

    /// Removes what an interrupted transition wrote ahead of its snapshot: events and outbox
    /// entries past the committed version.
    fn discard_uncommitted(&self, id: OrderId, version: u32) -> Result<()> {
        let mut to = keys::events_of(id);
        to.push(0xff);
        for k in self
            .orders
            .range(keys::event(id, version.saturating_add(1))..to)
            .keys()
        {
            self.del(TreeId::Orders, k.db()?)?;
        }
        let mut from = keys::outbox_of(id);
        from.extend_from_slice(&version.saturating_add(1).to_be_bytes());
        let mut to = keys::outbox_of(id);
        to.push(0xff);
        for k in self.orders.range(from..to).keys() {
            self.del(TreeId::Orders, k.db()?)?;
        }
        Ok(())
    }

    /// At open, before any writer: outbox entries of transitions that never committed go.
    fn discard_uncommitted_outbox(&self) -> Result<()> {
        for kv in self.orders.scan_prefix([keys::OUTBOX]) {
            let (k, v) = kv.db()?;
            let entry = schema::decode_outbox(&v)?;
            if !self.vouched_entry(&entry)? {
                self.del(TreeId::Orders, k)?;
            }
        }
        Ok(())
    }

    /// Whether an outbox entry counts: an order's message once its order reached the entry's
    /// step; a stock notice always (its write was atomic, see `alerts`).
    fn vouched_entry(&self, entry: &OutboxEntry) -> Result<bool> {
        match entry.effect() {
            Some(e) => self.vouched(e.order_id, e.step),
            None => Ok(true),
        }
    }

    /// Whether the order's committed snapshot has reached `version`.
    fn vouched(&self, id: OrderId, version: u32) -> Result<bool> {
        Ok(self.committed_version(id)?.is_some_and(|v| v >= version))
    }

    /// Whether a stored timer's transition committed (see the module doc).
    fn timer_committed(&self, t: &Timer, value: &[u8]) -> Result<bool> {
        let set_at = <[u8; 4]>::try_from(value)
            .map(u32::from_be_bytes)
            .unwrap_or(0);
        self.vouched(t.order_id, set_at)
    }

    /// Committed timers with keys in `range`, earliest first, at most `limit`.
    fn timers_in(
        &self,
        range: impl std::ops::RangeBounds<Vec<u8>>,
        limit: usize,
    ) -> Result<Vec<Timer>> {
        let mut out = Vec::new();
        for kv in self.orders.range(range) {
            if out.len() == limit {
                break;
            }
            let (k, v) = kv.db()?;
            if let Some(t) = keys::parse_timer(&k) {
                if self.timer_committed(&t, &v)? {
                    out.push(t);
                }
            }
        }
        Ok(out)
    }

    /// The stored values of the transitions up to `version`, each one record of events.
    fn history_records(&self, id: OrderId, version: u32) -> Result<Vec<sled::IVec>> {
        self.orders
            .range(keys::event(id, 0)..=keys::event(id, version))
            .values()
            .map(|v| v.db())
            .collect()
    }

    /// Journals `change` as the absolute values it comes to, then writes them to their keys,
    /// then drops the journal record. The caller holds the stock lock and checked the change.
    fn write_journalled(&self, change: &Applied) -> Result<()> {
        let journal = Journal {
            levels: change
                .levels
                .iter()
                .map(|(c, l)| {
                    (
                        (
                            Cow::Borrowed(c.warehouse.as_str()),
                            Cow::Borrowed(c.sku.as_str()),
                        ),
                        v2::StockLevel::from(l),
                    )
                })
                .collect(),
            reservations: change
                .reservations
                .iter()
                .map(v2::Reservation::from)
                .collect(),
            restock_marker: change.order_step,
            skus: change
                .skus
                .iter()
                .map(|(sku, b)| (Cow::Borrowed(sku.as_str()), v2::Backorders::from(b)))
                .collect(),
            transfers: change.transfers.iter().map(v2::Transfer::from).collect(),
        };
        let seq = self.journal_seq.fetch_add(1, Ordering::SeqCst);
        let key = keys::journal(seq);
        self.put(TreeId::Inventory, &key, schema::encode_record(&journal)?)?;
        self.apply_stock(change)?;
        self.del(TreeId::Inventory, key)?;
        Ok(())
    }

    /// Writes a stock change's new values to their keys, each encoded as the stored schema
    /// encodes it (a reservation that fits v1 as v1, see `schema::encode_reservation`).
    fn apply_stock(&self, change: &Applied) -> Result<()> {
        for (c, level) in &change.levels {
            self.put(
                TreeId::Inventory,
                keys::stock(&c.warehouse, &c.sku),
                schema::encode_stock_level(level)?,
            )?;
        }
        for r in &change.reservations {
            self.put(
                TreeId::Inventory,
                keys::reservation(r.order_id),
                schema::encode_reservation(r)?,
            )?;
        }
        if let Some((id, step)) = change.order_step {
            self.put(TreeId::Inventory, keys::restock(id, step), &[])?;
        }
        for (sku, b) in &change.skus {
            self.put(
                TreeId::Inventory,
                keys::sku(sku),
                schema::encode_backorders(b)?,
            )?;
        }
        for t in &change.transfers {
            self.put(
                TreeId::Inventory,
                keys::transfer_key(&t.key),
                t.id.as_bytes(),
            )?;
            self.put(
                TreeId::Inventory,
                keys::transfer(t.id),
                schema::encode_transfer(t)?,
            )?;
        }
        Ok(())
    }

    /// One sku's stored backorder record (the default when it has none).
    fn sku_record(&self, sku: &str) -> Result<Backorders> {
        Ok(self
            .inventory
            .get(keys::sku(sku))
            .db()?
            .map(|v| schema::decode_backorders(&v))
            .transpose()?
            .unwrap_or_default())
    }

    /// Finishes stock changes interrupted by a crash (see [`StockLedger::write_stock`]), whichever
    /// release journalled them.
    fn replay_stock_journal(&self) -> Result<()> {
        for kv in self.inventory.scan_prefix([keys::JOURNAL]) {
            let (k, v) = kv.db()?;
            let change: Applied = match schema::record_body(&v)? {
                (1, body) => {
                    serde_json::from_slice::<Journal<'_, v1::Reservation<'_>>>(body)?.into()
                }
                (2, body) => {
                    serde_json::from_slice::<Journal<'_, v2::Reservation<'_>>>(body)?.into()
                }
                (version, _) => return Err(StorageError::UnknownSchemaVersion(version)),
            };
            self.apply_stock(&change)?;
            self.del(TreeId::Inventory, k)?;
        }
        Ok(())
    }
}

impl Transitions for SledStorage {
    /// Atomicity by a single commit point, not a sled batch: everything the new snapshot
    /// vouches for (events, outbox entries, timers, idempotency record, new index entries) is
    /// inserted first, then the snapshot (one key, atomic), then what it no longer vouches for
    /// is removed. sled recovers a prefix of its log, so a surviving snapshot implies everything
    /// written before it survived; anything written before a snapshot that did not survive is
    /// ignored by readers (they check it against the snapshot) and cleaned up when the order's
    /// writer loads it and at open. We avoid `apply_batch` because in sled 0.34 the first batch
    /// switches the whole database to a global reader-writer lock (every batch then waits for
    /// running flushes and excludes every other write) and each batch rolls the log buffer
    /// twice. The single writer is trusted: `w.before` is not checked against storage.
    fn commit_transition(&self, w: &TransitionWrite<'_>) -> Result<Commit> {
        self.group.check()?;
        debug_assert!(
            w.idempotency.is_none() || w.before.is_none(),
            "only a placement carries an idempotency record"
        );
        let ops = transition_ops(w)?;
        let _w = self.gate.enter();
        for (k, v) in ops.first {
            self.put(TreeId::Orders, k, v)?;
        }
        self.put(TreeId::Orders, ops.commit.0, ops.commit.1)?;
        for k in ops.then_remove {
            self.del(TreeId::Orders, k)?;
        }
        Ok(self.commit())
    }

    fn load_order_for_update(&self, id: OrderId) -> Result<Option<Order>> {
        let order = self.load_order(id)?;
        // A brand-new order has nothing to discard: the engine draws a fresh id for every
        // placement attempt.
        if let Some(o) = &order {
            let _w = self.gate.enter();
            self.discard_uncommitted(id, o.version)?;
        }
        Ok(order)
    }
}

impl OrderReads for SledStorage {
    fn load_order(&self, id: OrderId) -> Result<Option<Order>> {
        self.orders
            .get(keys::order(id))
            .db()?
            .map(|v| schema::decode_order(&v))
            .transpose()
    }

    fn order_exists(&self, id: OrderId) -> Result<bool> {
        self.orders.contains_key(keys::order(id)).db()
    }

    fn history(&self, id: OrderId, version: u32) -> Result<Vec<Event>> {
        let mut out = Vec::with_capacity(version as usize);
        for v in self.history_records(id, version)? {
            out.extend(schema::decode_events(&v)?);
        }
        Ok(out)
    }

    fn history_json(&self, id: OrderId, version: u32) -> Result<Vec<EventsJson>> {
        self.history_records(id, version)?
            .iter()
            .map(|v| schema::history_json(v))
            .collect()
    }

    fn order_by_token(&self, token: &str) -> Result<Option<Order>> {
        let Some(id) = self
            .orders
            .get(keys::token(token))
            .db()?
            .and_then(|v| id_from(&v))
        else {
            return Ok(None);
        };
        Ok(self.load_order(id)?.filter(|o| o.tracking_token == token))
    }

    fn order_by_tracking_number(&self, tn: &str) -> Result<Option<OrderId>> {
        let Some(id) = self
            .orders
            .get(keys::tracking_number(tn))
            .db()?
            .and_then(|v| id_from(&v))
        else {
            return Ok(None);
        };
        let booked = self
            .load_order(id)?
            .is_some_and(|o| OrderIndex::of(&o).has_tracking_number(tn));
        Ok(booked.then_some(id))
    }

    fn list_orders(
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
        let mut out = Vec::with_capacity(limit.min(1024));
        if limit == 0 {
            return Ok(out);
        }
        for kv in self.orders.range(prefix.clone()..upper).rev() {
            let (k, v) = kv.db()?;
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
                schema::decode_order(&v)?
            };
            out.push(order);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    fn picks(&self, warehouse: &str, after: Option<OrderId>, limit: usize) -> Result<Vec<Order>> {
        let prefix = keys::pick_prefix(warehouse);
        let mut lower = prefix.clone();
        if let Some(id) = after {
            lower.extend_from_slice(id.as_bytes());
            lower.push(0);
        }
        let mut upper = prefix.clone();
        upper.push(0xff);
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        for k in self.orders.range(lower..upper).keys() {
            let k = k.db()?;
            let order = id_from(&k[prefix.len()..])
                .map(|id| self.load_order(id))
                .transpose()?
                .flatten();
            if let Some(o) = order.filter(|o| OrderIndex::of(o).on_pick_list(warehouse)) {
                out.push(o);
            }
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    /// Entries are checked against the snapshot they point to, as the pick lists' are.
    fn backorders(&self, after: Option<OrderId>, limit: usize) -> Result<Vec<Order>> {
        let mut lower = vec![keys::BACKORDER];
        if let Some(id) = after {
            lower.extend_from_slice(id.as_bytes());
            lower.push(0);
        }
        let upper = vec![keys::BACKORDER + 1];
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        for k in self.orders.range(lower..upper).keys() {
            let k = k.db()?;
            let order = id_from(&k[1..])
                .map(|id| self.load_order(id))
                .transpose()?
                .flatten();
            if let Some(o) = order.filter(|o| OrderIndex::of(o).backordered) {
                out.push(o);
            }
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    fn idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>> {
        let Some(v) = self.orders.get(keys::idempotency(key)).db()? else {
            return Ok(None);
        };
        let rec = schema::decode_idempotency(&v)?;
        // A record whose order never reached its version was written ahead of a snapshot
        // that did not commit: its request did not happen.
        Ok(self.vouched(rec.order_id, rec.version)?.then_some(rec))
    }

    fn order_count(&self) -> Result<usize> {
        Ok(self.orders.scan_prefix([keys::ORDER]).count())
    }
}

impl Outbox for SledStorage {
    /// Every pending entry whose transition committed. Single node: the caller (the engine, at
    /// start) owns them all; calling again hands them out again.
    fn claim_outbox(&self) -> Result<Vec<OutboxEntry>> {
        let mut out = Vec::new();
        for v in self.orders.scan_prefix([keys::OUTBOX]).values() {
            let entry = schema::decode_outbox(&v.db()?)?;
            if self.vouched_entry(&entry)? {
                out.push(entry);
            }
        }
        out.extend(self.notice_entries()?);
        Ok(out)
    }

    fn outbox_entry(&self, entry: &OutboxEntry) -> Result<Option<OutboxEntry>> {
        self.orders
            .get(outbox_key(entry))
            .db()?
            .map(|v| schema::decode_outbox(&v))
            .transpose()
    }

    fn record_outbox_attempt(&self, entry: &OutboxEntry) -> Result<()> {
        let _w = self.gate.enter();
        self.put(
            TreeId::Orders,
            outbox_key(entry),
            schema::encode_outbox(entry)?,
        )
    }

    fn ack_outbox(&self, entry: &OutboxEntry) -> Result<()> {
        let _w = self.gate.enter();
        self.del(TreeId::Orders, outbox_key(entry))
    }

    /// The sent record first, then the entry goes: a crash in between redelivers the message,
    /// whose record is then written again under the same key.
    fn ack_outbox_sent(&self, entry: &OutboxEntry, sent: &SentMessage) -> Result<()> {
        let _w = self.gate.enter();
        self.put(
            TreeId::Orders,
            keys::sent(sent.order_id, &sent.message_id),
            schema::encode_sent(sent)?,
        )?;
        self.del(TreeId::Orders, outbox_key(entry))
    }

    fn order_messages(&self, order: OrderId, limit: usize) -> Result<OrderMessages> {
        let sent = self
            .orders
            .scan_prefix(keys::sent_of(order))
            .values()
            .take(limit)
            .map(|v| schema::decode_sent(&v.db()?))
            .collect::<Result<_>>()?;
        let pending = self
            .orders
            .scan_prefix(keys::outbox_of(order))
            .values()
            .take(limit)
            .map(|v| schema::decode_outbox(&v.db()?))
            .collect::<Result<_>>()?;
        let dead = self
            .orders
            .scan_prefix(keys::dead_letters_of(order))
            .values()
            .take(limit)
            .map(|v| schema::decode_dead_letter(&v.db()?))
            .collect::<Result<_>>()?;
        Ok(OrderMessages {
            sent,
            pending,
            dead,
        })
    }

    fn outbox_len(&self) -> Result<usize> {
        Ok(self.orders.scan_prefix([keys::OUTBOX]).count()
            + self.orders.scan_prefix([keys::NOTICE]).count())
    }

    /// The dead letter is written first, so a crash in between leaves the entry in both places
    /// (one more delivery attempt), never in neither.
    fn dead_letter(&self, entry: &OutboxEntry, letter: &DeadLetter) -> Result<Commit> {
        let _w = self.gate.enter();
        self.put(
            TreeId::Orders,
            keys::dead_letter(&letter.message_id),
            schema::encode_dead_letter(letter, entry)?,
        )?;
        self.del(TreeId::Orders, outbox_key(entry))?;
        Ok(self.commit())
    }

    fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        self.orders
            .scan_prefix([keys::DEAD])
            .values()
            .take(limit)
            .map(|v| schema::decode_dead_letter(&v.db()?))
            .collect()
    }

    fn requeue_dead_letter(&self, message_id: &str) -> Result<Option<(OutboxEntry, Commit)>> {
        let _w = self.gate.enter();
        let Some(v) = self.orders.get(keys::dead_letter(message_id)).db()? else {
            return Ok(None);
        };
        let Some(stored) = schema::decode_dead_letter(&v)?.entry else {
            return Err(StorageError::Codec("dead letter without its entry".into()));
        };
        let entry = OutboxEntry::of(stored.message, stored.channel);
        // Outbox first, then forget the dead letter: never in neither place.
        self.put(
            TreeId::Orders,
            outbox_key(&entry),
            schema::encode_outbox(&entry)?,
        )?;
        self.del(TreeId::Orders, keys::dead_letter(message_id))?;
        Ok(Some((entry, self.commit())))
    }
}

impl Timers for SledStorage {
    /// Every due, committed timer on each call (single node: the caller owns them all).
    fn claim_due_timers(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Timer>> {
        self.timers_in(vec![keys::TIMER]..keys::timer_upper(now), limit)
    }

    fn ack_timer(&self, timer: &Timer) -> Result<()> {
        let _w = self.gate.enter();
        self.del(TreeId::Orders, keys::timer(timer))
    }

    fn pending_timers(&self, limit: usize) -> Result<Vec<Timer>> {
        self.timers_in(vec![keys::TIMER]..vec![keys::TIMER + 1], limit)
    }
}

impl StockLedger for SledStorage {
    fn stock_levels(&self) -> Result<Vec<StockCell>> {
        let mut out = Vec::new();
        for kv in self.inventory.scan_prefix([keys::STOCK]) {
            let (k, v) = kv.db()?;
            if let Some(cell) = keys::parse_stock(&k) {
                out.push((cell, schema::decode_stock_level(&v)?));
            }
        }
        Ok(out)
    }

    fn stock_level(&self, warehouse: &WarehouseId, sku: &Sku) -> Result<StockLevel> {
        Ok(self
            .inventory
            .get(keys::stock(warehouse, sku))
            .db()?
            .map(|v| schema::decode_stock_level(&v))
            .transpose()?
            .unwrap_or_default())
    }

    fn reservation(&self, id: OrderId) -> Result<Option<Reservation>> {
        self.inventory
            .get(keys::reservation(id))
            .db()?
            .map(|v| schema::decode_reservation(&v))
            .transpose()
    }

    fn order_step_applied(&self, id: OrderId, step: u32) -> Result<bool> {
        self.inventory.contains_key(keys::restock(id, step)).db()
    }

    fn sku_backorders(&self) -> Result<Vec<(Sku, Backorders)>> {
        let mut out = Vec::new();
        for kv in self.inventory.scan_prefix([keys::SKU]) {
            let (k, v) = kv.db()?;
            let sku = keys::parse_sku(&k)
                .ok_or_else(|| StorageError::Codec("a sku key that is not UTF-8".into()))?;
            out.push((sku, schema::decode_backorders(&v)?));
        }
        Ok(out)
    }

    /// Checked under a mutex (one process writes this database), then made atomic the way
    /// transitions are, with a commit point: the new absolute values of the touched cells, the
    /// reservation and the skus' backorder records are written as one journal record, then applied to their keys, then the
    /// record is removed. `open` re-applies any record a crash left; applying absolute values
    /// twice is harmless.
    fn write_stock(&self, change: &StockChange) -> Result<Commit> {
        self.group.check()?;
        let _w = self.gate.enter();
        let _guard = self.stock.lock().unwrap_or_else(|e| e.into_inner());
        let mut levels = Vec::with_capacity(change.cells.len());
        for c in &change.cells {
            let current = self.stock_level(&c.warehouse, &c.sku)?;
            levels.push((
                CellKey::new(c.warehouse.clone(), c.sku.clone()),
                c.apply(current)?,
            ));
        }
        let mut skus = Vec::with_capacity(change.skus.len());
        for w in &change.skus {
            skus.push((w.sku.clone(), w.apply(self.sku_record(&w.sku)?)?));
        }
        match &change.operation {
            StockOperation::Set => {}
            StockOperation::Reservation(r) => {
                if self.reservation(r.new.order_id)? != r.expected {
                    return Err(StorageError::Conflict(format!(
                        "the reservation of order {} changed",
                        r.new.order_id
                    )));
                }
            }
            &StockOperation::OrderStep { order, step } => {
                if self.order_step_applied(order, step)? {
                    return Err(StorageError::Conflict(format!(
                        "order {order} step {step} moved stock already"
                    )));
                }
            }
            StockOperation::Transfer(t) => {
                let stored = self.transfer(t.new.id)?.map(|x| x.version);
                let key_taken =
                    t.expected_version.is_none() && self.transfer_by_key(&t.new.key)?.is_some();
                if stored != t.expected_version || key_taken {
                    return Err(StorageError::Conflict(format!(
                        "transfer {} is at version {stored:?}, not {:?} (or its key is taken)",
                        t.new.id, t.expected_version
                    )));
                }
            }
        }
        let applied = Applied {
            levels,
            reservations: change.reservation().iter().map(|r| r.new.clone()).collect(),
            order_step: change.order_step(),
            skus,
            transfers: change.transfer().iter().map(|t| t.new.clone()).collect(),
        };
        self.write_journalled(&applied)?;
        Ok(self.commit())
    }

    fn transfer(&self, id: TransferId) -> Result<Option<Transfer>> {
        self.inventory
            .get(keys::transfer(id))
            .db()?
            .map(|v| schema::decode_transfer(&v))
            .transpose()
    }

    fn transfer_by_key(&self, key: &str) -> Result<Option<Transfer>> {
        match self.inventory.get(keys::transfer_key(key)).db()? {
            Some(id) => match id_from(&id) {
                Some(id) => self.transfer(id),
                None => Err(StorageError::Codec(
                    "a transfer key's id is not 16 bytes".into(),
                )),
            },
            None => Ok(None),
        }
    }

    fn transfers(&self, before: Option<TransferId>, limit: usize) -> Result<Vec<Transfer>> {
        let lower = vec![keys::TRANSFER];
        let upper = match before {
            Some(id) => keys::transfer(id),
            None => vec![keys::TRANSFER + 1],
        };
        let mut out = Vec::new();
        for kv in self.inventory.range(lower..upper).rev() {
            if out.len() >= limit {
                break;
            }
            let (_, v) = kv.db()?;
            out.push(schema::decode_transfer(&v)?);
        }
        Ok(out)
    }
}

impl AlertRecords for SledStorage {
    fn cell_alerts(&self) -> Result<Vec<CellAlertRecord>> {
        self.all_cell_alerts()
    }

    fn cell_alerts_of(&self, cells: &[CellKey]) -> Result<Vec<CellAlertRecord>> {
        self.cell_alerts_among(cells)
    }

    fn subscription(&self, sku: &str, contact: &str) -> Result<Option<Subscription>> {
        self.stored_subscription(sku, contact)
    }

    fn subscriptions(
        &self,
        sku: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Subscription>> {
        self.subscriptions_page(sku, after, limit)
    }

    fn subscription_count(&self, sku: &str) -> Result<usize> {
        self.count_subscriptions(sku)
    }

    fn subscribed_skus(&self, among: Option<&[Sku]>) -> Result<Vec<Sku>> {
        self.skus_subscribed(among)
    }

    fn add_subscription(&self, s: &Subscription, max: usize) -> Result<Commit> {
        self.insert_subscription(s, max)
    }

    /// Journalled, like stock writes (see `alerts`).
    fn write_alerts(&self, w: &AlertsWrite) -> Result<Commit> {
        self.write_alerts_journalled(w)
    }
}

impl Archive for SledStorage {
    fn export(&self, sink: &mut dyn FnMut(ExportRecord) -> Result<()>) -> Result<()> {
        export::export(self, sink)
    }

    fn import(&self, record: &ExportRecord) -> Result<()> {
        self.group.check()?;
        let _w = self.gate.enter();
        export::import(self, record)
    }

    /// Online, in passes; writers are held back only for the last one (see `backup`).
    fn backup(&self, dir: &Path) -> Result<BackupStats> {
        backup::run(self, dir)
    }
}

impl Health for SledStorage {
    fn sync(&self) -> Commit {
        self.commit()
    }

    fn is_healthy(&self) -> bool {
        self.group.is_healthy()
    }

    fn flush_stats(&self) -> FlushStats {
        self.group.stats()
    }
}

impl Drop for SledStorage {
    fn drop(&mut self) {
        // Best effort: what was not flushed yet may be lost like in a crash, which the design
        // tolerates; flushing here only makes clean shutdowns lose nothing.
        let _ = self.db.flush();
    }
}

#[cfg(test)]
mod tests;
