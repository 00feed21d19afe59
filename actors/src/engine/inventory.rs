//! The inventory actor: the only writer of stock levels and reservations.
//!
//! One actor serialises every stock operation, so two orders racing for the last unit are
//! decided one after the other against the same in-memory ledger: nothing is oversold. Each
//! operation updates the ledger, writes the touched cells and the order's reservation record
//! in one atomic batch, and answers only once that batch is durable. Operations are keyed by
//! order (and step for restocks), so a redelivered message answers the same and changes nothing.

use crate::domain::inventory::{Change, Ledger, ReserveOutcome, StockError, StockLevel};
use crate::domain::{LineQty, OrderId};
use crate::store::{Store, StoreError};
use actix::prelude::*;

pub struct InventoryActor {
    store: Store,
    ledger: Ledger,
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Stock(#[from] StockError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl InventoryActor {
    pub fn load(store: Store) -> Result<Self, StoreError> {
        let ledger = Ledger::from_levels(store.stock_levels()?);
        Ok(InventoryActor { store, ledger })
    }

    /// Persists a change; on failure the in-memory ledger is reloaded from disk so it never
    /// drifts from what is stored.
    fn persist(
        &mut self,
        change: &Change,
        restock: Option<(OrderId, u32)>,
    ) -> Result<u64, StoreError> {
        let levels: Vec<_> = change
            .touched
            .iter()
            .map(|(w, s)| ((w.clone(), s.clone()), self.ledger.level(w, s)))
            .collect();
        match self
            .store
            .write_inventory(&levels, change.reservation.as_ref(), restock)
        {
            Ok(seq) => Ok(seq),
            Err(e) => {
                if let Ok(levels) = self.store.stock_levels() {
                    self.ledger = Ledger::from_levels(levels);
                }
                Err(e)
            }
        }
    }

    fn durable<T: Send + 'static>(
        &self,
        seq: u64,
        value: T,
    ) -> ResponseFuture<Result<T, InventoryError>> {
        let d = self.store.durability().clone();
        Box::pin(async move {
            d.wait(seq).await?;
            Ok(value)
        })
    }

    fn apply(
        &mut self,
        change: Change,
        restock: Option<(OrderId, u32)>,
    ) -> ResponseFuture<Result<(), InventoryError>> {
        match self.persist(&change, restock) {
            Ok(seq) => self.durable(seq, ()),
            Err(e) => Box::pin(async move { Err(e.into()) }),
        }
    }
}

impl Actor for InventoryActor {
    type Context = Context<Self>;
}

/// Reserve every line for an order, in one warehouse.
#[derive(Message)]
#[rtype(result = "Result<ReserveOutcome, InventoryError>")]
pub struct Reserve {
    pub order_id: OrderId,
    pub lines: Vec<LineQty>,
}

impl Handler<Reserve> for InventoryActor {
    type Result = ResponseFuture<Result<ReserveOutcome, InventoryError>>;
    fn handle(&mut self, m: Reserve, _: &mut Context<Self>) -> Self::Result {
        let existing = match self.store.reservation(m.order_id) {
            Ok(r) => r,
            Err(e) => return Box::pin(async move { Err(e.into()) }),
        };
        let (outcome, change) = self.ledger.reserve(existing.as_ref(), m.order_id, &m.lines);
        if change.reservation.is_none() {
            // A repeated request: answer once whatever produced the stored answer is durable.
            let d = self.store.durability().clone();
            return Box::pin(async move {
                let seq = d.mark_written();
                d.wait(seq).await?;
                Ok(outcome)
            });
        }
        match self.persist(&change, None) {
            Ok(seq) => self.durable(seq, outcome),
            Err(e) => Box::pin(async move { Err(e.into()) }),
        }
    }
}

/// Give back an order's reservation (cancellation). Leaves a tombstone if none exists yet.
#[derive(Message)]
#[rtype(result = "Result<(), InventoryError>")]
pub struct Release {
    pub order_id: OrderId,
}

impl Handler<Release> for InventoryActor {
    type Result = ResponseFuture<Result<(), InventoryError>>;
    fn handle(&mut self, m: Release, _: &mut Context<Self>) -> Self::Result {
        match self.store.reservation(m.order_id) {
            Ok(existing) => {
                let change = self.ledger.release(existing.as_ref(), m.order_id);
                self.apply(change, None)
            }
            Err(e) => Box::pin(async move { Err(e.into()) }),
        }
    }
}

/// The reserved units left with the carrier.
#[derive(Message)]
#[rtype(result = "Result<(), InventoryError>")]
pub struct Commit {
    pub order_id: OrderId,
}

impl Handler<Commit> for InventoryActor {
    type Result = ResponseFuture<Result<(), InventoryError>>;
    fn handle(&mut self, m: Commit, _: &mut Context<Self>) -> Self::Result {
        match self.store.reservation(m.order_id) {
            Ok(existing) => {
                let change = self.ledger.commit(existing.as_ref());
                self.apply(change, None)
            }
            Err(e) => Box::pin(async move { Err(e.into()) }),
        }
    }
}

/// Returned goods back on the shelf, once per (order, step).
#[derive(Message)]
#[rtype(result = "Result<(), InventoryError>")]
pub struct Restock {
    pub order_id: OrderId,
    pub step: u32,
    pub warehouse: String,
    pub lines: Vec<LineQty>,
}

impl Handler<Restock> for InventoryActor {
    type Result = ResponseFuture<Result<(), InventoryError>>;
    fn handle(&mut self, m: Restock, _: &mut Context<Self>) -> Self::Result {
        match self.store.restocked(m.order_id, m.step) {
            Ok(true) => Box::pin(async { Ok(()) }),
            Ok(false) => {
                let change = self.ledger.restock(&m.warehouse, &m.lines);
                self.apply(change, Some((m.order_id, m.step)))
            }
            Err(e) => Box::pin(async move { Err(e.into()) }),
        }
    }
}

/// An admin's stock count for one cell.
#[derive(Message)]
#[rtype(result = "Result<StockLevel, InventoryError>")]
pub struct SetOnHand {
    pub warehouse: String,
    pub sku: String,
    pub on_hand: i64,
}

impl Handler<SetOnHand> for InventoryActor {
    type Result = ResponseFuture<Result<StockLevel, InventoryError>>;
    fn handle(&mut self, m: SetOnHand, _: &mut Context<Self>) -> Self::Result {
        let change = match self.ledger.set_on_hand(&m.warehouse, &m.sku, m.on_hand) {
            Ok(c) => c,
            Err(e) => return Box::pin(async move { Err(e.into()) }),
        };
        let level = self.ledger.level(&m.warehouse, &m.sku);
        match self.persist(&change, None) {
            Ok(seq) => self.durable(seq, level),
            Err(e) => Box::pin(async move { Err(e.into()) }),
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
        MessageResult(
            self.ledger
                .by_sku(&m.sku)
                .map(|(w, l)| (w.to_string(), l))
                .collect(),
        )
    }
}
