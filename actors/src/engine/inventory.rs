//! The inventory actor: the engine's one writer of stock levels and reservations.
//!
//! One actor serialises every stock operation, so two orders racing for the last unit are
//! decided one after the other against the same in-memory ledger: nothing is oversold. Each
//! operation asks the pure ledger (`domain::inventory`) what it changes, then writes the new
//! absolute values of the touched cells, the order's reservation record and any restock marker
//! through [`Storage::write_stock`] — atomically, and only if storage still holds the values the
//! ledger decided on. A conflict means someone else wrote the ledger (another node sharing the
//! storage): the ledger is reloaded and the operation decided again. The answer comes only once
//! the write is durable. Operations are keyed by order (and step for restocks), so a
//! redelivered message answers the same and changes nothing.

use crate::domain::inventory::{
    Change, Ledger, Reservation, ReserveOutcome, StockError, StockLevel,
};
use crate::domain::{LineQty, OrderId};
use actix::prelude::*;
use orderly_storage::{
    CellWrite, Commit as Durable, ReservationWrite, StockChange, Storage, StorageError,
};
use std::collections::HashMap;
use std::sync::Arc;

/// How often an operation is decided again after conflicting writes before giving up (the
/// message is then retried by its sender).
const ATTEMPTS: usize = 5;

pub struct InventoryActor {
    store: Arc<dyn Storage>,
    ledger: Ledger,
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Stock(#[from] StockError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

type Reply<T> = ResponseFuture<Result<T, InventoryError>>;

fn reply<T: 'static>(r: Result<(T, Durable), InventoryError>) -> Reply<T> {
    Box::pin(async move {
        let (value, durable) = r?;
        durable.await?;
        Ok(value)
    })
}

/// What an operation needs to know about the order it is for.
#[derive(Clone, Copy)]
enum Keyed {
    /// Operations on an order's reservation (reserve, release, commit).
    Order(OrderId),
    /// A restock, once per (order, step).
    Restock(OrderId, u32),
    /// An admin's count.
    Nothing,
}

impl InventoryActor {
    pub fn load(store: Arc<dyn Storage>) -> Result<Self, StorageError> {
        let ledger = Ledger::from_levels(store.stock_levels()?);
        Ok(InventoryActor { store, ledger })
    }

    /// Decides `op` on the ledger and writes what it changed, conditional on the values it was
    /// decided on; decides again on a conflict. `skus` are the skus the operation may touch
    /// (their cells' current values are what the write expects). Returns the operation's value
    /// and the commit to await; an operation that changes nothing still waits for whatever
    /// produced the stored state it answered from.
    fn run<T>(
        &mut self,
        keyed: Keyed,
        skus: &[&str],
        mut op: impl FnMut(&mut Ledger, Option<&Reservation>) -> Result<(T, Change), StockError>,
    ) -> Result<(T, Durable), InventoryError> {
        let mut reloaded = false;
        for _ in 0..ATTEMPTS {
            let existing = match keyed {
                Keyed::Order(id) => self.store.reservation(id)?,
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
                // Nothing to write, so no version check to catch a ledger that other nodes
                // moved on: with other writers, decide once more on a fresh ledger first.
                if self.store.has_other_writers() && !reloaded {
                    reloaded = true;
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
                Ok(durable) => return Ok((value, durable)),
                Err(e) => {
                    // The ledger is ahead of storage now: reload it, so it never drifts.
                    self.reload()?;
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
    fn reload(&mut self) -> Result<(), StorageError> {
        self.ledger = Ledger::from_levels(self.store.stock_levels()?);
        Ok(())
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
    type Result = Reply<ReserveOutcome>;
    fn handle(&mut self, m: Reserve, _: &mut Context<Self>) -> Self::Result {
        let skus: Vec<&str> = m.lines.iter().map(|l| l.sku.as_str()).collect();
        // A repeated request changes nothing and answers once whatever produced the stored
        // answer is durable.
        reply(
            self.run(Keyed::Order(m.order_id), &skus, |ledger, existing| {
                Ok(ledger.reserve(existing, m.order_id, &m.lines))
            }),
        )
    }
}

/// Give back an order's reservation (cancellation). Leaves a tombstone if none exists yet.
#[derive(Message)]
#[rtype(result = "Result<(), InventoryError>")]
pub struct Release {
    pub order_id: OrderId,
}

impl Handler<Release> for InventoryActor {
    type Result = Reply<()>;
    fn handle(&mut self, m: Release, _: &mut Context<Self>) -> Self::Result {
        let held = match self.store.reservation(m.order_id) {
            Ok(r) => r.map(|r| r.lines).unwrap_or_default(),
            Err(e) => return Box::pin(async move { Err(e.into()) }),
        };
        let skus: Vec<&str> = held.iter().map(|l| l.sku.as_str()).collect();
        reply(
            self.run(Keyed::Order(m.order_id), &skus, |ledger, existing| {
                Ok(((), ledger.release(existing, m.order_id)))
            }),
        )
    }
}

/// The reserved units left with the carrier.
#[derive(Message)]
#[rtype(result = "Result<(), InventoryError>")]
pub struct Commit {
    pub order_id: OrderId,
}

impl Handler<Commit> for InventoryActor {
    type Result = Reply<()>;
    fn handle(&mut self, m: Commit, _: &mut Context<Self>) -> Self::Result {
        let held = match self.store.reservation(m.order_id) {
            Ok(r) => r.map(|r| r.lines).unwrap_or_default(),
            Err(e) => return Box::pin(async move { Err(e.into()) }),
        };
        let skus: Vec<&str> = held.iter().map(|l| l.sku.as_str()).collect();
        reply(
            self.run(Keyed::Order(m.order_id), &skus, |ledger, existing| {
                Ok(((), ledger.commit(existing)))
            }),
        )
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
    type Result = Reply<()>;
    fn handle(&mut self, m: Restock, _: &mut Context<Self>) -> Self::Result {
        match self.store.restocked(m.order_id, m.step) {
            Ok(true) => Box::pin(async { Ok(()) }),
            Ok(false) => {
                let skus: Vec<&str> = m.lines.iter().map(|l| l.sku.as_str()).collect();
                let keyed = Keyed::Restock(m.order_id, m.step);
                reply(self.run(keyed, &skus, |ledger, _| {
                    Ok(((), ledger.restock(&m.warehouse, &m.lines)))
                }))
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
    type Result = Reply<StockLevel>;
    fn handle(&mut self, m: SetOnHand, _: &mut Context<Self>) -> Self::Result {
        reply(self.run(Keyed::Nothing, &[&m.sku], |ledger, _| {
            let change = ledger.set_on_hand(&m.warehouse, &m.sku, m.on_hand)?;
            Ok((ledger.level(&m.warehouse, &m.sku), change))
        }))
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
        // Other nodes change the ledger too: answer from storage then.
        if self.store.has_other_writers() {
            if let Err(e) = self.reload() {
                tracing::warn!(error = %e, "could not reload the stock ledger; answering from memory");
            }
        }
        MessageResult(
            self.ledger
                .by_sku(&m.sku)
                .map(|(w, l)| (w.to_string(), l))
                .collect(),
        )
    }
}
