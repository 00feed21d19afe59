//! The inventory actor: the engine's one writer of stock levels and reservations.
//!
//! One actor serialises every stock operation, so two orders racing for the last unit are
//! decided one after the other against the same in-memory ledger: nothing is oversold. Each
//! operation asks the pure ledger (`domain::inventory`) what it changes, then writes the new
//! absolute values of the touched cells, the order's reservation record and any restock marker
//! through [`Storage::write_stock`] — atomically, and only if storage still holds the values the
//! ledger decided on. The answer comes only once the write is durable. Operations are keyed by
//! order (and step for restocks), so a redelivered message answers the same and changes nothing.
//!
//! The actor does not wait for one write before deciding the next: a backend may queue stock
//! writes and check them later (PostgreSQL pipelines them). A refused write means someone else
//! wrote the ledger (another node sharing the storage); whether the refusal comes at once or
//! through the write's commit, the ledger is reloaded before the next decision and the
//! operation is decided again, a few times at most (then its sender retries the message).
//! While writes are being refused (other nodes write the same cells right now), the actor takes
//! the next operation only once the previous write's outcome is known: a write queued behind a
//! refused one would be refused with it, and under steady contention none would get through.
//!
//! The actor remembers the reservations it wrote, so deciding an operation costs no read; a
//! reservation it has not seen is read from storage, except when reserving: a new order has
//! none, and the conditional write checks that it still has none.

use crate::domain::inventory::{
    Change, Ledger, Reservation, ReserveOutcome, StockError, StockLevel,
};
use crate::domain::{LineQty, OrderId};
use actix::prelude::*;
use orderly_storage::{
    CellWrite, Commit as Durable, ReservationWrite, StockChange, Storage, StorageError,
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
    store: Arc<dyn Storage>,
    ledger: Ledger,
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
    Storage(#[from] StorageError),
}

type Reply<T> = ResponseFuture<Result<T, InventoryError>>;

/// What an operation needs to know about the order it is for.
#[derive(Clone, Copy)]
enum Keyed {
    /// Reserving stock for an order: its reservation, if not remembered, is taken to be none
    /// (the write checks it).
    Reserve(OrderId),
    /// Other operations on an order's reservation (release, commit).
    Order(OrderId),
    /// A restock, once per (order, step).
    Restock(OrderId, u32),
    /// An admin's count.
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
    pub fn load(store: Arc<dyn Storage>) -> Result<Self, StorageError> {
        let ledger = Ledger::from_levels(store.stock_levels()?);
        Ok(InventoryActor {
            store,
            ledger,
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
        let held: Vec<String> = self
            .reservation(id)?
            .map(|r| r.lines.into_iter().map(|l| l.sku).collect())
            .unwrap_or_default();
        let skus: Vec<&str> = held.iter().map(String::as_str).collect();
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
        skus: &[&str],
        mut op: impl FnMut(&mut Ledger, Option<&Reservation>) -> Result<(T, Change), StockError>,
    ) -> Result<(T, Durable), InventoryError> {
        if self.stale.swap(false, Ordering::SeqCst) {
            self.reload()?;
        }
        let mut reloaded = false;
        let mut known = Known::Remembered;
        for _ in 0..ATTEMPTS {
            let existing = match keyed {
                Keyed::Order(id) | Keyed::Reserve(id) => match self.reservations.get(&id) {
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
            let before: HashMap<(String, String), StockLevel> = skus
                .iter()
                .flat_map(|sku| {
                    self.ledger
                        .by_sku(sku)
                        .map(|(w, l)| ((w.to_string(), sku.to_string()), l))
                })
                .collect();
            let (value, change) = op(&mut self.ledger, existing.as_ref())?;
            let restock = match keyed {
                Keyed::Restock(id, step) => Some((id, step)),
                _ => None,
            };
            if change.reservation.is_none() && change.touched.is_empty() && restock.is_none() {
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
            let mut cells: Vec<CellWrite> = Vec::with_capacity(change.touched.len());
            for (w, s) in change.touched {
                if cells.iter().any(|c| c.warehouse == w && c.sku == s) {
                    continue;
                }
                let key = (w, s);
                let expected = before.get(&key).copied().unwrap_or_default();
                let new = self.ledger.level(&key.0, &key.1);
                cells.push(CellWrite {
                    warehouse: key.0,
                    sku: key.1,
                    expected,
                    new,
                });
            }
            let write = StockChange {
                cells,
                reservation: change.reservation.map(|new| ReservationWrite {
                    expected: existing,
                    new,
                }),
                restock,
            };
            match self.store.write_stock(&write) {
                Ok(durable) => {
                    if let Some(r) = write.reservation {
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
        self.ledger = Ledger::from_levels(self.store.stock_levels()?);
        Ok(())
    }
}

impl Actor for InventoryActor {
    type Context = Context<Self>;
}

/// Reserve every line for an order, in one warehouse.
#[derive(Message, Clone)]
#[rtype(result = "Result<ReserveOutcome, InventoryError>")]
pub struct Reserve {
    pub order_id: OrderId,
    pub lines: Vec<LineQty>,
}

impl StockOp for Reserve {
    type Value = ReserveOutcome;
    fn decide(
        &self,
        actor: &mut InventoryActor,
        again: bool,
    ) -> Result<(ReserveOutcome, Durable), InventoryError> {
        let skus: Vec<&str> = self.lines.iter().map(|l| l.sku.as_str()).collect();
        // A repeated request changes nothing and answers once whatever produced the stored
        // answer is durable.
        let keyed = if again {
            Keyed::Order(self.order_id)
        } else {
            Keyed::Reserve(self.order_id)
        };
        actor.run(keyed, &skus, |ledger, existing| {
            Ok(ledger.reserve(existing, self.order_id, &self.lines))
        })
    }
}

/// Give back an order's reservation (cancellation). Leaves a tombstone if none exists yet.
#[derive(Message, Clone)]
#[rtype(result = "Result<(), InventoryError>")]
pub struct Release {
    pub order_id: OrderId,
}

impl StockOp for Release {
    type Value = ();
    fn decide(
        &self,
        actor: &mut InventoryActor,
        _again: bool,
    ) -> Result<((), Durable), InventoryError> {
        actor.run_on_held(self.order_id, |ledger, existing| {
            ((), ledger.release(existing, self.order_id))
        })
    }
}

/// The reserved units left with the carrier.
#[derive(Message, Clone)]
#[rtype(result = "Result<(), InventoryError>")]
pub struct Commit {
    pub order_id: OrderId,
}

impl StockOp for Commit {
    type Value = ();
    fn decide(
        &self,
        actor: &mut InventoryActor,
        _again: bool,
    ) -> Result<((), Durable), InventoryError> {
        actor.run_on_held(self.order_id, |ledger, existing| {
            ((), ledger.commit(existing))
        })
    }
}

/// Returned goods back on the shelf, once per (order, step).
#[derive(Message, Clone)]
#[rtype(result = "Result<(), InventoryError>")]
pub struct Restock {
    pub order_id: OrderId,
    pub step: u32,
    pub warehouse: String,
    pub lines: Vec<LineQty>,
}

impl StockOp for Restock {
    type Value = ();
    fn decide(
        &self,
        actor: &mut InventoryActor,
        _again: bool,
    ) -> Result<((), Durable), InventoryError> {
        if actor.store.restocked(self.order_id, self.step)? {
            return Ok(((), actor.store.sync()));
        }
        let skus: Vec<&str> = self.lines.iter().map(|l| l.sku.as_str()).collect();
        let keyed = Keyed::Restock(self.order_id, self.step);
        actor.run(keyed, &skus, |ledger, _| {
            Ok(((), ledger.restock(&self.warehouse, &self.lines)))
        })
    }
}

/// An admin's stock count for one cell.
#[derive(Message, Clone)]
#[rtype(result = "Result<StockLevel, InventoryError>")]
pub struct SetOnHand {
    pub warehouse: String,
    pub sku: String,
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
handle_stock_ops!(Reserve, Release, Commit, Restock, SetOnHand);

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
#[rtype(result = "Vec<(String, StockLevel)>")]
pub struct GetStock {
    pub sku: String,
}

impl Handler<GetStock> for InventoryActor {
    type Result = MessageResult<GetStock>;
    fn handle(&mut self, m: GetStock, _: &mut Context<Self>) -> Self::Result {
        self.reload_if_shared();
        MessageResult(
            self.ledger
                .by_sku(&m.sku)
                .map(|(w, l)| (w.to_string(), l))
                .collect(),
        )
    }
}

/// Levels of several skus in every warehouse, from the actor's ledger, in one message: the
/// skus in the order asked, each with the warehouses that have a cell for it.
#[derive(Message)]
#[rtype(result = "Vec<(String, Vec<(String, StockLevel)>)>")]
pub struct GetAvailability {
    pub skus: Vec<String>,
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
        for ((w, sku), level) in self.ledger.levels() {
            if let Some(&i) = index.get(sku.as_str()) {
                cells[i].push((w.clone(), *level));
            }
        }
        MessageResult(m.skus.into_iter().zip(cells).collect())
    }
}

/// The warehouses that have at least one stock cell, by id.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct GetStockedWarehouses;

impl Handler<GetStockedWarehouses> for InventoryActor {
    type Result = MessageResult<GetStockedWarehouses>;
    fn handle(&mut self, _: GetStockedWarehouses, _: &mut Context<Self>) -> Self::Result {
        self.reload_if_shared();
        let mut ids: Vec<String> = self.ledger.levels().map(|((w, _), _)| w.clone()).collect();
        ids.dedup();
        MessageResult(ids)
    }
}
