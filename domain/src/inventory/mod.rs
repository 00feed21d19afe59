//! The stock ledger: on hand, reserved and available units per warehouse and sku, and the
//! per-order reservations that explain every reserved unit.
//!
//! No I/O here; the inventory actor owns one `Ledger`, asks it what an operation does, and
//! persists the levels and the reservation it returns in one atomic, conditional stock write. Every operation is
//! keyed by order (and step, for restocks) so that a redelivered message changes nothing twice.

use super::order::{LineQty, OrderId, Shortage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub on_hand: i64,
    pub reserved: i64,
}

impl StockLevel {
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    Open,
    Released,
    Committed,
}

/// The record of what one order holds. A `Released` record with no warehouse is a tombstone:
/// the order was cancelled before its reservation arrived, and a late reserve must not succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub order_id: OrderId,
    pub warehouse: Option<String>,
    pub lines: Vec<LineQty>,
    pub state: ReservationState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReserveOutcome {
    Reserved {
        warehouse: String,
    },
    Unavailable {
        shortages: Vec<Shortage>,
    },
    /// The order was cancelled before the reservation was made.
    Released,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StockError {
    #[error("on_hand must not be negative")]
    Negative,
    #[error("on_hand {on_hand} is below the {reserved} units reserved for open orders")]
    BelowReserved { on_hand: i64, reserved: i64 },
}

/// What an operation changed: the reservation record to store (if any) and the stock cells it
/// touched, which the caller persists together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub reservation: Option<Reservation>,
    pub touched: Vec<(String, String)>,
}

/// Stock levels keyed by (warehouse, sku). Ordered, so warehouse choice is deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    levels: BTreeMap<(String, String), StockLevel>,
}

impl Ledger {
    pub fn from_levels(levels: impl IntoIterator<Item = ((String, String), StockLevel)>) -> Self {
        Ledger {
            levels: levels.into_iter().collect(),
        }
    }

    pub fn level(&self, warehouse: &str, sku: &str) -> StockLevel {
        self.levels
            .get(&(warehouse.to_string(), sku.to_string()))
            .copied()
            .unwrap_or_default()
    }

    pub fn levels(&self) -> impl Iterator<Item = (&(String, String), &StockLevel)> {
        self.levels.iter()
    }

    /// Every warehouse's level for one sku.
    pub fn by_sku<'a>(&'a self, sku: &'a str) -> impl Iterator<Item = (&'a str, StockLevel)> + 'a {
        self.levels
            .iter()
            .filter(move |((_, s), _)| s == sku)
            .map(|((w, _), l)| (w.as_str(), *l))
    }

    fn warehouses(&self) -> Vec<String> {
        let mut w: Vec<String> = self.levels.keys().map(|(w, _)| w.clone()).collect();
        w.dedup();
        w
    }

    fn cell(&mut self, warehouse: &str, sku: &str) -> &mut StockLevel {
        self.levels
            .entry((warehouse.to_string(), sku.to_string()))
            .or_default()
    }

    /// Reserves every line in the first warehouse (by name) that can cover them all.
    pub fn reserve(
        &mut self,
        existing: Option<&Reservation>,
        order_id: OrderId,
        lines: &[LineQty],
    ) -> (ReserveOutcome, Change) {
        if let Some(r) = existing {
            let outcome = match (&r.state, &r.warehouse) {
                (ReservationState::Released, _) => ReserveOutcome::Released,
                (_, Some(w)) => ReserveOutcome::Reserved {
                    warehouse: w.clone(),
                },
                (_, None) => ReserveOutcome::Released,
            };
            return (outcome, Change::default());
        }
        let chosen = self.warehouses().into_iter().find(|w| {
            lines
                .iter()
                .all(|l| self.level(w, &l.sku).available() >= l.quantity as i64)
        });
        let Some(warehouse) = chosen else {
            let shortages = lines
                .iter()
                .map(|l| Shortage {
                    sku: l.sku.clone(),
                    requested: l.quantity,
                    available: self
                        .by_sku(&l.sku)
                        .map(|(_, s)| s.available())
                        .max()
                        .unwrap_or(0),
                })
                .filter(|s| s.available < s.requested as i64)
                .collect::<Vec<_>>();
            // Every line fits somewhere but not all in one warehouse: report them all.
            let shortages = if shortages.is_empty() {
                lines
                    .iter()
                    .map(|l| Shortage {
                        sku: l.sku.clone(),
                        requested: l.quantity,
                        available: 0,
                    })
                    .collect()
            } else {
                shortages
            };
            return (ReserveOutcome::Unavailable { shortages }, Change::default());
        };
        let mut touched = Vec::new();
        for l in lines {
            self.cell(&warehouse, &l.sku).reserved += l.quantity as i64;
            touched.push((warehouse.clone(), l.sku.clone()));
        }
        let reservation = Reservation {
            order_id,
            warehouse: Some(warehouse.clone()),
            lines: lines.to_vec(),
            state: ReservationState::Open,
        };
        (
            ReserveOutcome::Reserved { warehouse },
            Change {
                reservation: Some(reservation),
                touched,
            },
        )
    }

    /// Gives an open reservation back. Without a reservation it leaves a tombstone.
    pub fn release(&mut self, existing: Option<&Reservation>, order_id: OrderId) -> Change {
        match existing {
            None => Change {
                reservation: Some(Reservation {
                    order_id,
                    warehouse: None,
                    lines: vec![],
                    state: ReservationState::Released,
                }),
                touched: vec![],
            },
            Some(r) if r.state == ReservationState::Open => {
                let w = r.warehouse.clone().unwrap_or_default();
                let mut touched = Vec::new();
                for l in &r.lines {
                    self.cell(&w, &l.sku).reserved -= l.quantity as i64;
                    touched.push((w.clone(), l.sku.clone()));
                }
                Change {
                    reservation: Some(Reservation {
                        state: ReservationState::Released,
                        ..r.clone()
                    }),
                    touched,
                }
            }
            Some(_) => Change::default(),
        }
    }

    /// The reserved units leave the building: on hand and reserved both drop.
    pub fn commit(&mut self, existing: Option<&Reservation>) -> Change {
        match existing {
            Some(r) if r.state == ReservationState::Open => {
                let w = r.warehouse.clone().unwrap_or_default();
                let mut touched = Vec::new();
                for l in &r.lines {
                    let c = self.cell(&w, &l.sku);
                    c.reserved -= l.quantity as i64;
                    c.on_hand -= l.quantity as i64;
                    touched.push((w.clone(), l.sku.clone()));
                }
                Change {
                    reservation: Some(Reservation {
                        state: ReservationState::Committed,
                        ..r.clone()
                    }),
                    touched,
                }
            }
            _ => Change::default(),
        }
    }

    /// Returned goods go back on hand. The caller guarantees one restock per (order, step).
    pub fn restock(&mut self, warehouse: &str, lines: &[LineQty]) -> Change {
        let mut touched = Vec::new();
        for l in lines {
            self.cell(warehouse, &l.sku).on_hand += l.quantity as i64;
            touched.push((warehouse.to_string(), l.sku.clone()));
        }
        Change {
            reservation: None,
            touched,
        }
    }

    /// An admin's stock count. Refused if it would leave open reservations uncovered.
    pub fn set_on_hand(
        &mut self,
        warehouse: &str,
        sku: &str,
        on_hand: i64,
    ) -> Result<Change, StockError> {
        if on_hand < 0 {
            return Err(StockError::Negative);
        }
        let reserved = self.level(warehouse, sku).reserved;
        if on_hand < reserved {
            return Err(StockError::BelowReserved { on_hand, reserved });
        }
        self.cell(warehouse, sku).on_hand = on_hand;
        Ok(Change {
            reservation: None,
            touched: vec![(warehouse.to_string(), sku.to_string())],
        })
    }
}

#[cfg(test)]
mod tests;
