//! The inventory actor: the engine's one writer of stock levels, reservations and transfers.
//!
//! One actor serialises every stock operation, so two orders racing for the last unit are
//! decided one after the other against the same in-memory ledger: nothing is oversold. Each
//! operation asks the pure ledger (`domain::inventory`) what it changes, then writes the
//! changes of the touched cells and skus (units added or taken; a person's count as counted),
//! the order's reservation record, any order-step marker and any transfer through
//! [`StockLedger::write_stock`] — atomically, and only if every result is sound (nothing negative,
//! no more reserved than on hand) and the records keyed by the operation are as decided on. The
//! answer comes only once the write is durable. Operations are keyed by order (and step for
//! restocks, version for transfers), so a redelivered message answers the same and changes
//! nothing.
//!
//! The actor does not wait for one write before deciding the next: a backend may queue stock
//! writes and check them later (PostgreSQL pipelines them). Changes commute, so another node
//! writing the same cells refuses nothing while there is stock; a refused write means the stock
//! was short after all, or a record keyed by the operation changed. Whether the refusal comes at
//! once or through the write's commit, the ledger is reloaded before the next decision and the
//! operation is decided again, a few times at most (then its sender retries the message). While
//! writes are being refused, the actor takes the next operation only once the previous write's
//! outcome is known. With other nodes, the ledger lags behind their changes: reads answer from
//! storage, and a new order is made to wait for stock only after a look at storage.
//!
//! The actor remembers the reservations it wrote, so deciding an operation costs no read; a
//! reservation it has not seen is read from storage, except when reserving: a new order has
//! none, and the conditional write checks that it still has none.

use super::alerts::StockWatch;
use crate::domain::inventory::transfer::{Transfer, TransferError, TransferId};
use crate::domain::inventory::Short;
use crate::domain::inventory::{
    AllocationRequest, Backorders, Change, Ledger, Reservation, ReserveOutcome, StockError,
    StockLevel,
};
use crate::domain::warehouse::{AllocationPolicy, Warehouse};
use crate::domain::{Allocation, LineQty, OrderId};
use crate::domain::{CellKey, Sku, WarehouseId};
use actix::prelude::*;
use chrono::{DateTime, Utc};
use orderly_storage::{
    CellDelta, Commit as Durable, ReservationWrite, SkuDelta, StockChange, StockLedger,
    StockOperation, Storage, StorageError, TransferWrite,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// How often an operation is decided again after its write was refused before giving up (the
/// message is then retried by its sender).
const ATTEMPTS: usize = 5;

/// Most reservations remembered; beyond, the memory starts afresh (and reads on demand).
const RESERVATIONS_KEPT: usize = 100_000;

/// For how long after a refused write the actor takes one operation at a time.
const CONTENDED_MS: u64 = 2_000;

/// A write was refused: the ledger is stale, and the cells are contended for a while.
fn refused(stale: &AtomicBool, refused_at: &AtomicU64, born: Instant) {
    stale.store(true, Ordering::SeqCst);
    refused_at.store(millis_since(born).max(1), Ordering::SeqCst);
}

fn millis_since(born: Instant) -> u64 {
    born.elapsed().as_millis() as u64
}

pub struct InventoryActor {
    /// The one storage role it uses.
    store: Arc<dyn StockLedger>,
    ledger: Ledger,
    /// The configured warehouses (empty: any warehouse holding stock) and the shop's policy,
    /// for allocation.
    warehouses: Arc<Vec<Warehouse>>,
    policy: AllocationPolicy,
    /// Told when stock became available for skus that backordered orders wait for, so the
    /// engine reserves again for them (oldest first).
    stock_arrived: futures::channel::mpsc::UnboundedSender<()>,
    /// Told of every stock write, for the stock alerts (reorder points, back in stock).
    watch: StockWatch,
    /// Reservations as this actor last wrote or read them.
    reservations: HashMap<OrderId, Reservation>,
    /// A write was refused after the fact: the ledger is ahead of storage until reloaded.
    stale: Arc<AtomicBool>,
    /// When a write was last refused (milliseconds after `born`; 0: never).
    refused_at: Arc<AtomicU64>,
    born: Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Stock(#[from] StockError),
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error("no transfer {0}")]
    NoTransfer(TransferId),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

type Reply<T> = ResponseFuture<Result<T, InventoryError>>;

/// What keys an operation so that it happens once: the order it is for, or the transfer.
#[derive(Clone)]
enum Keyed {
    /// Reserving stock for an order: its reservation, if not remembered, is taken to be none
    /// (the write checks it).
    Reserve(OrderId),
    /// Other operations on an order's reservation (release, commit).
    Order(OrderId),
    /// A step of an order that moves stock without its reservation (a restock), once per
    /// (order, step).
    OrderStep(OrderId, u32),
    /// A transfer's new record, over the version it was decided on.
    Transfer(TransferWrite),
    /// An admin's count or policy.
    Nothing,
}

/// Where the reservation an operation was decided on came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Known {
    Stored,
    Remembered,
    Assumed,
}

/// A stock operation: decided on the actor's ledger, and decided again when its write is
/// refused.
pub trait StockOp: Clone + Send + Unpin + 'static {
    type Value: Send + 'static;
    /// `again`: the operation's write was refused before, so nothing is assumed this time.
    fn decide(
        &self,
        actor: &mut InventoryActor,
        again: bool,
    ) -> Result<(Self::Value, Durable), InventoryError>;
}

/// An operation decided again after its write was refused through its commit.
struct Again<M> {
    op: M,
    left: usize,
}

impl<M: StockOp> Message for Again<M> {
    type Result = Result<M::Value, InventoryError>;
}

impl<M: StockOp> Handler<Again<M>> for InventoryActor {
    type Result = Reply<M::Value>;
    fn handle(&mut self, m: Again<M>, ctx: &mut Context<Self>) -> Self::Result {
        self.answer(m.op, m.left, ctx)
    }
}

impl InventoryActor {
    pub fn load(
        store: Arc<dyn Storage>,
        warehouses: Arc<Vec<Warehouse>>,
        policy: AllocationPolicy,
        stock_arrived: futures::channel::mpsc::UnboundedSender<()>,
        watch: StockWatch,
    ) -> Result<Self, StorageError> {
        let ledger = ledger(store.as_ref())?;
        Ok(InventoryActor {
            store,
            ledger,
            warehouses,
            policy,
            stock_arrived,
            watch,
            reservations: HashMap::new(),
            stale: Arc::new(AtomicBool::new(false)),
            refused_at: Arc::new(AtomicU64::new(0)),
            born: Instant::now(),
        })
    }

    /// Decides `op` and answers once its write is durable; a write refused through its commit
    /// marks the ledger stale and sends the operation back to this actor, `left - 1` more
    /// times at most.
    fn answer<M: StockOp>(&mut self, op: M, left: usize, ctx: &mut Context<Self>) -> Reply<M::Value>
    where
        Self: Handler<Again<M>>,
    {
        let decided = op.decide(self, left < ATTEMPTS);
        let stale = self.stale.clone();
        if self.contended() {
            // Others write the same cells right now: a write queued behind this one would be
            // decided on values that may never be stored, and refused with it. Take the next
            // operation only once this write is known to be applied or refused (not yet
            // durable: the answer waits for that), as one writer at a time.
            if let Ok((_, durable)) = &decided {
                let settled = durable.settled();
                let (stale, refused_at, born) = (stale.clone(), self.refused_at.clone(), self.born);
                ctx.wait(
                    async move {
                        if let Err(StorageError::Conflict(_)) = settled.await {
                            refused(&stale, &refused_at, born);
                        }
                    }
                    .into_actor(self),
                );
            }
        }
        let (refused_at, born) = (self.refused_at.clone(), self.born);
        let me = ctx.address();
        Box::pin(async move {
            let (value, durable) = decided?;
            match durable.await {
                Ok(()) => Ok(value),
                Err(e) => {
                    if matches!(e, StorageError::Conflict(_)) {
                        refused(&stale, &refused_at, born);
                    } else {
                        stale.store(true, Ordering::SeqCst);
                    }
                    match e {
                        StorageError::Conflict(why) if left > 1 => {
                            tracing::info!(reason = %why, "stock changed under us; deciding again");
                            me.send(Again { op, left: left - 1 }).await.map_err(|_| {
                                StorageError::Backend("the inventory actor stopped".into())
                            })?
                        }
                        other => Err(other.into()),
                    }
                }
            }
        })
    }

    /// Whether a write was refused lately: other nodes are writing the same cells.
    fn contended(&self) -> bool {
        let at = self.refused_at.load(Ordering::SeqCst);
        at != 0 && millis_since(self.born).saturating_sub(at) < CONTENDED_MS
    }

    /// The order's reservation: remembered, or read from storage.
    fn reservation(&mut self, id: OrderId) -> Result<Option<Reservation>, StorageError> {
        if let Some(r) = self.reservations.get(&id) {
            return Ok(Some(r.clone()));
        }
        let stored = self.store.reservation(id)?;
        if let Some(r) = &stored {
            self.remember(r.clone());
        }
        Ok(stored)
    }

    /// Runs an operation on the order's reservation (release, commit), touching the skus it
    /// holds (none without one).
    fn run_on_held<T>(
        &mut self,
        id: OrderId,
        mut op: impl FnMut(&mut Ledger, Option<&Reservation>) -> (T, Change),
    ) -> Result<(T, Durable), InventoryError> {
        let held: Vec<Sku> = self
            .reservation(id)?
            .map(|r| {
                r.parts
                    .into_iter()
                    .flat_map(|p| p.lines)
                    .chain(r.backordered)
                    .map(|l| l.sku)
                    .collect()
            })
            .unwrap_or_default();
        let skus: Vec<&Sku> = held.iter().collect();
        self.run(Keyed::Order(id), &skus, |ledger, existing| {
            Ok(op(ledger, existing))
        })
    }

    fn remember(&mut self, r: Reservation) {
        if self.reservations.len() >= RESERVATIONS_KEPT {
            self.reservations.clear();
        }
        self.reservations.insert(r.order_id, r);
    }

    /// Decides `op` on the ledger and writes what it changed, conditional on the values it was
    /// decided on; decides again on a conflict reported at once. `skus` are the skus the
    /// operation may touch (their cells' current values are what the write expects). Returns
    /// the operation's value and the commit to await; an operation that changes nothing still
    /// waits for whatever produced the stored state it answered from.
    fn run<T>(
        &mut self,
        keyed: Keyed,
        skus: &[&Sku],
        mut op: impl FnMut(&mut Ledger, Option<&Reservation>) -> Result<(T, Change), StockError>,
    ) -> Result<(T, Durable), InventoryError> {
        if self.stale.swap(false, Ordering::SeqCst) {
            self.reload()?;
        }
        let mut reloaded = false;
        let mut known = Known::Remembered;
        for _ in 0..ATTEMPTS {
            let existing = match &keyed {
                &Keyed::Order(id) | &Keyed::Reserve(id) => match self.reservations.get(&id) {
                    Some(r) if known != Known::Stored => Some(r.clone()),
                    None if known != Known::Stored && matches!(keyed, Keyed::Reserve(_)) => {
                        known = Known::Assumed;
                        None
                    }
                    _ => {
                        known = Known::Stored;
                        self.reservations.remove(&id);
                        self.reservation(id)?
                    }
                },
                _ => None,
            };
            let before_skus: HashMap<&Sku, Backorders> = skus
                .iter()
                .map(|sku| (*sku, self.ledger.backorders(sku)))
                .collect();
            let before: HashMap<CellKey, StockLevel> = skus
                .iter()
                .flat_map(|sku| {
                    self.ledger
                        .by_sku(sku)
                        .map(|(w, l)| (CellKey::new(w.clone(), *sku), l))
                })
                .collect();
            let (value, mut change) = op(&mut self.ledger, existing.as_ref())?;
            // Other nodes' writes commute with ours and are not refused, so this ledger may lag
            // behind storage: before making a new order wait for stock, look at storage once
            // more (units may have arrived through another node).
            let backordering = existing.is_none()
                && change
                    .reservation
                    .as_ref()
                    .is_some_and(|r| !r.backordered.is_empty());
            if backordering && !reloaded && self.store.has_other_writers() {
                reloaded = true;
                known = Known::Stored;
                self.reload()?;
                continue;
            }
            // What keys the write: the reservation it changes, else what the operation was
            // keyed by.
            let operation = match (change.reservation.take(), &keyed) {
                (Some(new), _) => StockOperation::Reservation(ReservationWrite {
                    expected: existing,
                    new,
                }),
                (None, &Keyed::OrderStep(order, step)) => StockOperation::OrderStep { order, step },
                (None, Keyed::Transfer(t)) => StockOperation::Transfer(t.clone()),
                (None, Keyed::Reserve(_) | Keyed::Order(_) | Keyed::Nothing) => StockOperation::Set,
            };
            let nothing = change.touched.is_empty() && change.skus.is_empty();
            if operation == StockOperation::Set && nothing {
                // Nothing to write, so no check to catch a reservation that was only remembered
                // or assumed: decide once more on the stored one. With other writers, on a
                // fresh ledger too.
                let keyed_by_order = matches!(keyed, Keyed::Order(_) | Keyed::Reserve(_));
                if keyed_by_order && known != Known::Stored {
                    known = Known::Stored;
                    continue;
                }
                if self.store.has_other_writers() && !reloaded {
                    reloaded = true;
                    known = Known::Stored;
                    self.reload()?;
                    continue;
                }
                return Ok((value, self.store.sync()));
            }
            // Stock became free where backordered orders wait: they get first call on it.
            // (With other nodes, whose backorders this ledger may not know yet, on any rise.)
            let others = self.store.has_other_writers();
            let arrived = change.touched.iter().any(|cell| {
                let (w, s) = (&cell.warehouse, &cell.sku);
                let was = before.get(cell).copied().unwrap_or_default();
                let rose = self.ledger.level(w, s).available() > was.available();
                rose && (others || self.ledger.has_waiting(s))
            });
            // What the operation changed, as changes (they commute with other writers'); what a
            // person set, as it was set.
            let mut sku_writes: Vec<SkuDelta> = Vec::with_capacity(change.skus.len());
            for sku in change.skus {
                if sku_writes.iter().any(|x| x.sku == sku) {
                    continue;
                }
                let was = before_skus.get(&sku).copied().unwrap_or_default();
                let now = self.ledger.backorders(&sku);
                let policy = change.absolute || (was.allowed, was.cap) != (now.allowed, now.cap);
                sku_writes.push(SkuDelta {
                    sku,
                    waiting: now.waiting - was.waiting,
                    policy: policy.then_some((now.allowed, now.cap)),
                });
            }
            let mut cells: Vec<CellDelta> = Vec::with_capacity(change.touched.len());
            for key in change.touched {
                if cells
                    .iter()
                    .any(|c| c.warehouse == key.warehouse && c.sku == key.sku)
                {
                    continue;
                }
                let was = before.get(&key).copied().unwrap_or_default();
                let now = self.ledger.level(&key.warehouse, &key.sku);
                cells.push(CellDelta {
                    warehouse: key.warehouse,
                    sku: key.sku,
                    on_hand: if change.absolute {
                        0
                    } else {
                        now.on_hand - was.on_hand
                    },
                    reserved: now.reserved - was.reserved,
                    incoming: now.incoming - was.incoming,
                    counted: change.absolute.then_some(now.on_hand),
                });
            }
            if arrived {
                let _ = self.stock_arrived.unbounded_send(());
            }
            let write = StockChange {
                operation,
                cells,
                skus: sku_writes,
            };
            match self.store.write_stock(&write) {
                Ok(durable) => {
                    self.watch.written(&write, &durable);
                    if let StockOperation::Reservation(r) = write.operation {
                        self.remember(r.new);
                    }
                    return Ok((value, durable));
                }
                Err(e) => {
                    // The ledger is ahead of storage now: reload it, so it never drifts.
                    self.reload()?;
                    known = Known::Stored;
                    match e {
                        StorageError::Conflict(why) => {
                            tracing::info!(reason = %why, "stock changed under us; deciding again");
                        }
                        other => return Err(other.into()),
                    }
                }
            }
        }
        Err(
            StorageError::Conflict(format!("stock kept changing during {ATTEMPTS} attempts"))
                .into(),
        )
    }
}

impl InventoryActor {
    /// The ledger from storage (which has every write this actor made), and no remembered
    /// reservations.
    fn reload(&mut self) -> Result<(), StorageError> {
        self.reservations.clear();
        self.ledger = ledger(self.store.as_ref())?;
        Ok(())
    }
}

/// The ledger as stored: every cell and every sku's backorder record.
fn ledger(store: &dyn StockLedger) -> Result<Ledger, StorageError> {
    Ok(Ledger::from_levels(store.stock_levels()?).with_backorders(store.sku_backorders()?))
}

impl Actor for InventoryActor {
    type Context = Context<Self>;
}

/// Allocate and reserve every line of an order: from one warehouse, or split across several
/// (see `domain::inventory`).
#[derive(Message, Clone)]
#[rtype(result = "Result<ReserveOutcome, InventoryError>")]
pub struct Reserve {
    pub order_id: OrderId,
    pub lines: Vec<LineQty>,
    /// Where the order ships to (`None`: asked before allocation knew; anywhere).
    pub country: Option<String>,
    /// The order's own say on splitting (`None`: the shop's policy).
    pub allow_split: Option<bool>,
}

impl StockOp for Reserve {
    type Value = ReserveOutcome;
    fn decide(
        &self,
        actor: &mut InventoryActor,
        again: bool,
    ) -> Result<(ReserveOutcome, Durable), InventoryError> {
        let skus: Vec<&Sku> = self.lines.iter().map(|l| &l.sku).collect();
        // A repeated request changes nothing and answers once whatever produced the stored
        // answer is durable.
        let keyed = if again {
            Keyed::Order(self.order_id)
        } else {
            Keyed::Reserve(self.order_id)
        };
        let warehouses = actor.warehouses.clone();
        let req = AllocationRequest {
            warehouses: &warehouses,
            strategy: actor.policy.strategy,
            allow_split: self.allow_split.unwrap_or(actor.policy.allow_split),
            country: self.country.as_deref(),
        };
        actor.run(keyed, &skus, |ledger, existing| {
            Ok(ledger.reserve(existing, self.order_id, &self.lines, &req))
        })
    }
}

/// Give back an order's reservation, or the parts of some shipments (cancellation). Leaves a
/// tombstone if none exists yet.
#[derive(Message, Clone)]
#[rtype(result = "Result<(), InventoryError>")]
pub struct Release {
    pub order_id: OrderId,
    pub shipments: Option<Vec<u32>>,
}

impl StockOp for Release {
    type Value = ();
    fn decide(
        &self,
        actor: &mut InventoryActor,
        _again: bool,
    ) -> Result<((), Durable), InventoryError> {
        actor.run_on_held(self.order_id, |ledger, existing| {
            let change = ledger.release(existing, self.order_id, self.shipments.as_deref());
            ((), change)
        })
    }
}

/// The reserved units of a shipment (or of every open part) left with the carrier.
#[derive(Message, Clone)]
#[rtype(result = "Result<(), InventoryError>")]
pub struct Commit {
    pub order_id: OrderId,
    pub shipment: Option<u32>,
}

impl StockOp for Commit {
    type Value = ();
    fn decide(
        &self,
        actor: &mut InventoryActor,
        _again: bool,
    ) -> Result<((), Durable), InventoryError> {
        actor.run_on_held(self.order_id, |ledger, existing| {
            ((), ledger.commit(existing, self.shipment))
        })
    }
}

/// Returned goods back on the shelf, once per (order, step).
#[derive(Message, Clone)]
#[rtype(result = "Result<(), InventoryError>")]
pub struct Restock {
    pub order_id: OrderId,
    pub step: u32,
    pub warehouse: WarehouseId,
    pub lines: Vec<LineQty>,
}

impl StockOp for Restock {
    type Value = ();
    fn decide(
        &self,
        actor: &mut InventoryActor,
        _again: bool,
    ) -> Result<((), Durable), InventoryError> {
        if actor.store.order_step_applied(self.order_id, self.step)? {
            return Ok(((), actor.store.sync()));
        }
        let skus: Vec<&Sku> = self.lines.iter().map(|l| &l.sku).collect();
        let keyed = Keyed::OrderStep(self.order_id, self.step);
        actor.run(keyed, &skus, |ledger, _| {
            Ok(((), ledger.restock(&self.warehouse, &self.lines)))
        })
    }
}

/// An admin's stock count for one cell.
#[derive(Message, Clone)]
#[rtype(result = "Result<StockLevel, InventoryError>")]
pub struct SetOnHand {
    pub warehouse: WarehouseId,
    pub sku: Sku,
    pub on_hand: i64,
}

impl StockOp for SetOnHand {
    type Value = StockLevel;
    fn decide(
        &self,
        actor: &mut InventoryActor,
        _again: bool,
    ) -> Result<(StockLevel, Durable), InventoryError> {
        actor.run(Keyed::Nothing, &[&self.sku], |ledger, _| {
            let change = ledger.set_on_hand(&self.warehouse, &self.sku, self.on_hand)?;
            Ok((ledger.level(&self.warehouse, &self.sku), change))
        })
    }
}

/// An admin sets whether a sku may be backordered and its cap.
#[derive(Message, Clone)]
#[rtype(result = "Result<Backorders, InventoryError>")]
pub struct SetBackorders {
    pub sku: Sku,
    pub allowed: bool,
    pub cap: i64,
}

impl StockOp for SetBackorders {
    type Value = Backorders;
    fn decide(
        &self,
        actor: &mut InventoryActor,
        _again: bool,
    ) -> Result<(Backorders, Durable), InventoryError> {
        actor.run(Keyed::Nothing, &[&self.sku], |ledger, _| {
            let change = ledger.set_backorders(&self.sku, self.allowed, self.cap)?;
            Ok((ledger.backorders(&self.sku), change))
        })
    }
}

/// A new transfer leaves its source, created under its `Idempotency-Key`: the transfer as
/// stored — this one, or the one created before under the same key (whether it asked for the
/// same is for the caller to compare).
#[derive(Message, Clone)]
#[rtype(result = "Result<Transfer, InventoryError>")]
pub struct Dispatch {
    /// Checked by `Transfer::dispatch`; whether the source holds the units is decided here.
    pub transfer: Transfer,
}

impl StockOp for Dispatch {
    type Value = Transfer;
    fn decide(
        &self,
        actor: &mut InventoryActor,
        _again: bool,
    ) -> Result<(Transfer, Durable), InventoryError> {
        if let Some(earlier) = actor.store.transfer_by_key(&self.transfer.key)? {
            return Ok((earlier, actor.store.sync()));
        }
        let t = &self.transfer;
        let skus: Vec<&Sku> = t.lines.iter().map(|l| &l.sku).collect();
        let keyed = Keyed::Transfer(TransferWrite {
            expected_version: None,
            new: t.clone(),
        });
        actor.run(keyed, &skus, |ledger, _| {
            Ok((t.clone(), ledger.dispatch(t)?))
        })
    }
}

/// What happens to a transfer in transit.
#[derive(Clone, Debug)]
pub enum TransferStep {
    /// The destination received these units.
    Receive(Vec<LineQty>),
    /// Called off: the units go back to the source.
    Cancel,
}

/// A receipt or a cancellation of a transfer, decided on the transfer as stored (read again
/// when its write was refused: another node may have moved it on).
#[derive(Message, Clone)]
#[rtype(result = "Result<Transfer, InventoryError>")]
pub struct MoveTransfer {
    pub id: TransferId,
    pub step: TransferStep,
    pub now: DateTime<Utc>,
}

impl StockOp for MoveTransfer {
    type Value = Transfer;
    fn decide(
        &self,
        actor: &mut InventoryActor,
        _again: bool,
    ) -> Result<(Transfer, Durable), InventoryError> {
        let t = actor
            .store
            .transfer(self.id)?
            .ok_or(InventoryError::NoTransfer(self.id))?;
        let (after, moved) = match &self.step {
            TransferStep::Receive(lines) => (t.receive(lines, self.now)?, lines.clone()),
            TransferStep::Cancel => (t.cancel(self.now)?, t.in_transit()),
        };
        let skus: Vec<&Sku> = moved.iter().map(|l| &l.sku).collect();
        let keyed = Keyed::Transfer(TransferWrite {
            expected_version: Some(t.version),
            new: after.clone(),
        });
        actor.run(keyed, &skus, |ledger, _| {
            let change = match &self.step {
                TransferStep::Receive(_) => ledger.receive(&t.to, &moved),
                TransferStep::Cancel => ledger.cancel_transfer(&t.from, &t.to, &moved),
            };
            Ok((after.clone(), change))
        })
    }
}

/// Every stock operation is handled the same way: decided, written, answered once durable.
macro_rules! handle_stock_ops {
    ($($op:ty),*) => {$(
        impl Handler<$op> for InventoryActor {
            type Result = Reply<<$op as StockOp>::Value>;
            fn handle(&mut self, m: $op, ctx: &mut Context<Self>) -> Self::Result {
                self.answer(m, ATTEMPTS, ctx)
            }
        }
    )*};
}
handle_stock_ops!(
    Reserve,
    Release,
    Commit,
    Restock,
    SetOnHand,
    SetBackorders,
    Dispatch,
    MoveTransfer
);

/// One sku's backorder record, from the actor's ledger.
#[derive(Message)]
#[rtype(result = "Backorders")]
pub struct GetBackorders {
    pub sku: Sku,
}

impl Handler<GetBackorders> for InventoryActor {
    type Result = MessageResult<GetBackorders>;
    fn handle(&mut self, m: GetBackorders, _: &mut Context<Self>) -> Self::Result {
        self.reload_if_shared();
        MessageResult(self.ledger.backorders(&m.sku))
    }
}

impl InventoryActor {
    /// Other nodes change the ledger too: reads answer from storage then.
    fn reload_if_shared(&mut self) {
        if self.store.has_other_writers() {
            if let Err(e) = self.reload() {
                tracing::warn!(error = %e, "could not reload the stock ledger; answering from memory");
            }
        }
    }
}

/// Levels of one sku in every warehouse, from the actor's ledger.
#[derive(Message)]
#[rtype(result = "Vec<(WarehouseId, StockLevel)>")]
pub struct GetStock {
    pub sku: Sku,
}

impl Handler<GetStock> for InventoryActor {
    type Result = MessageResult<GetStock>;
    fn handle(&mut self, m: GetStock, _: &mut Context<Self>) -> Self::Result {
        self.reload_if_shared();
        MessageResult(
            self.ledger
                .by_sku(&m.sku)
                .map(|(w, l)| (w.clone(), l))
                .collect(),
        )
    }
}

/// Levels of several skus in every warehouse, from the actor's ledger, in one message: the
/// skus in the order asked, each with the warehouses that have a cell for it.
#[derive(Message)]
#[rtype(result = "Vec<(Sku, Vec<(WarehouseId, StockLevel)>, Backorders)>")]
pub struct GetAvailability {
    pub skus: Vec<Sku>,
}

impl Handler<GetAvailability> for InventoryActor {
    type Result = MessageResult<GetAvailability>;
    fn handle(&mut self, m: GetAvailability, _: &mut Context<Self>) -> Self::Result {
        self.reload_if_shared();
        let index: HashMap<&str, usize> = m
            .skus
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect();
        let mut cells = vec![Vec::new(); m.skus.len()];
        // Only the warehouses allocation may use: stock elsewhere cannot be sold.
        let allocatable = |w: &str| crate::domain::warehouse::is_known(&self.warehouses, w);
        for (CellKey { warehouse: w, sku }, level) in self.ledger.levels() {
            if let Some(&i) = index.get(sku.as_str()).filter(|_| allocatable(w)) {
                cells[i].push((w.clone(), *level));
            }
        }
        let answer = m
            .skus
            .into_iter()
            .zip(cells)
            .map(|(sku, cells)| {
                let b = self.ledger.backorders(&sku);
                (sku, cells, b)
            })
            .collect();
        MessageResult(answer)
    }
}

/// The warehouses that have at least one stock cell, by id.
#[derive(Message)]
#[rtype(result = "Vec<WarehouseId>")]
pub struct GetStockedWarehouses;

impl Handler<GetStockedWarehouses> for InventoryActor {
    type Result = MessageResult<GetStockedWarehouses>;
    fn handle(&mut self, _: GetStockedWarehouses, _: &mut Context<Self>) -> Self::Result {
        self.reload_if_shared();
        let mut ids: Vec<WarehouseId> = self
            .ledger
            .levels()
            .map(|(c, _)| c.warehouse.clone())
            .collect();
        ids.dedup();
        MessageResult(ids)
    }
}

/// Where an order's lines would be served from if it were placed now: allocation as placing
/// runs it ([`crate::domain::inventory::Ledger::allocate`]), reserving nothing (a quote).
#[derive(Message)]
#[rtype(result = "Result<Vec<Allocation>, Short>")]
pub struct PlanAllocation {
    pub lines: Vec<LineQty>,
    pub country: String,
    /// The order's own say on splitting (`None`: the shop's policy).
    pub allow_split: Option<bool>,
}

impl Handler<PlanAllocation> for InventoryActor {
    type Result = MessageResult<PlanAllocation>;
    fn handle(&mut self, m: PlanAllocation, _: &mut Context<Self>) -> Self::Result {
        self.reload_if_shared();
        let req = AllocationRequest {
            warehouses: &self.warehouses,
            strategy: self.policy.strategy,
            allow_split: m.allow_split.unwrap_or(self.policy.allow_split),
            country: Some(&m.country),
        };
        MessageResult(
            self.ledger
                .allocate(&m.lines, &req)
                .map(|(plan, _reason)| plan),
        )
    }
}
