//! The stock ledger: on hand, reserved and available units per warehouse and sku, the
//! allocation of an order's lines to warehouses, and the per-order reservations that explain
//! every reserved unit.
//!
//! No I/O here; the inventory actor owns one `Ledger`, asks it what an operation does, and
//! persists the levels and the reservation it returns in one atomic, conditional stock write.
//! Every operation is keyed by order (and shipment, or step for restocks) so that a redelivered
//! message changes nothing twice.
//!
//! **Allocation** ([`Ledger::reserve`]) serves an order from one warehouse when one can serve
//! every line, chosen by the shop's strategy among the warehouses that ship to the order's
//! country; otherwise, when splitting is allowed, from several (a line itself may be split),
//! one shipment per warehouse; otherwise it reports the shortages. Its reason, in words, goes
//! into the order's history.

use super::order::{Allocation, LineQty, OrderId, Shortage};
use super::warehouse::{AllocationStrategy, Warehouse};
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

/// What one shipment of an order holds at its warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservedPart {
    pub shipment: u32,
    pub warehouse: String,
    pub lines: Vec<LineQty>,
    pub state: ReservationState,
}

/// The record of what one order holds, one part per shipment. A `Released` record with no
/// parts is a tombstone: the order was cancelled before its reservation arrived, and a late
/// reserve must not succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub order_id: OrderId,
    pub parts: Vec<ReservedPart>,
    /// Open while any part is; then committed if any part left with a carrier, else released.
    pub state: ReservationState,
}

impl Reservation {
    fn with_parts(order_id: OrderId, parts: Vec<ReservedPart>) -> Reservation {
        let any = |st| parts.iter().any(|p| p.state == st);
        let state = if any(ReservationState::Open) {
            ReservationState::Open
        } else if any(ReservationState::Committed) {
            ReservationState::Committed
        } else {
            ReservationState::Released
        };
        Reservation {
            order_id,
            parts,
            state,
        }
    }

    /// The shipments it plans, as allocation answered them.
    pub fn allocations(&self) -> Vec<Allocation> {
        self.parts
            .iter()
            .map(|p| Allocation {
                shipment: p.shipment,
                warehouse: p.warehouse.clone(),
                lines: p.lines.clone(),
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReserveOutcome {
    /// Every line reserved: one shipment per warehouse, and why.
    Reserved {
        shipments: Vec<Allocation>,
        reason: String,
    },
    Unavailable {
        shortages: Vec<Shortage>,
        reason: String,
    },
    /// The order was cancelled before the reservation was made.
    Released,
}

/// What allocation needs to know besides the ledger: the warehouses and the shop's policy,
/// and the order's destination and its own say on splitting.
#[derive(Debug, Clone, Copy)]
pub struct AllocationRequest<'a> {
    /// The configured warehouses; empty: every warehouse holding stock, by id (no
    /// `[[warehouses]]` configured).
    pub warehouses: &'a [Warehouse],
    pub strategy: AllocationStrategy,
    pub allow_split: bool,
    /// ISO country the order ships to; `None`: anywhere.
    pub country: Option<&'a str>,
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

    /// Warehouses with a stock cell, by id.
    fn stocked_warehouses(&self) -> Vec<String> {
        let mut w: Vec<String> = self.levels.keys().map(|(w, _)| w.clone()).collect();
        w.dedup();
        w
    }

    fn cell(&mut self, warehouse: &str, sku: &str) -> &mut StockLevel {
        self.levels
            .entry((warehouse.to_string(), sku.to_string()))
            .or_default()
    }

    fn available(&self, warehouse: &str, sku: &str) -> i64 {
        self.level(warehouse, sku).available().max(0)
    }

    /// The warehouses allocation may use for `req`, in the strategy's order of preference
    /// (`MostStock` is ordered per decision, by [`Ledger::rank_by_stock`]).
    fn candidates(&self, req: &AllocationRequest<'_>) -> Vec<(String, u32, bool)> {
        let mut c: Vec<(String, u32, bool)> = if req.warehouses.is_empty() {
            self.stocked_warehouses()
                .into_iter()
                .map(|w| (w, 0, false))
                .collect()
        } else {
            req.warehouses
                .iter()
                .filter(|w| req.country.is_none_or(|c| w.ships_to(c)))
                .map(|w| {
                    (
                        w.id.clone(),
                        w.priority,
                        Some(w.country.as_str()) == req.country,
                    )
                })
                .collect()
        };
        match req.strategy {
            AllocationStrategy::ShipToCountry => {
                c.sort_by(|a, b| (!a.2, a.1, &a.0).cmp(&(!b.2, b.1, &b.0)))
            }
            _ => c.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0))),
        }
        c
    }

    /// Orders `candidates` (already by priority) by the units each can give of `lines`, then
    /// by the units it holds of them, most first; a stable sort keeps priority among equals.
    fn rank_by_stock(&self, candidates: &mut [(String, u32, bool)], lines: &[LineQty]) {
        candidates.sort_by_key(|(w, _, _)| {
            let (gives, holds) = lines.iter().fold((0i64, 0i64), |(g, h), l| {
                let a = self.available(w, &l.sku);
                (g + a.min(l.quantity as i64), h + a)
            });
            (std::cmp::Reverse(gives), std::cmp::Reverse(holds))
        });
    }

    /// Allocates and reserves an order's lines (see the module doc). A redelivered request for
    /// an order that has a reservation answers what it holds and changes nothing.
    pub fn reserve(
        &mut self,
        existing: Option<&Reservation>,
        order_id: OrderId,
        lines: &[LineQty],
        req: &AllocationRequest<'_>,
    ) -> (ReserveOutcome, Change) {
        if let Some(r) = existing {
            let outcome = if r.parts.is_empty() || r.state == ReservationState::Released {
                ReserveOutcome::Released
            } else {
                ReserveOutcome::Reserved {
                    shipments: r.allocations(),
                    reason: "reserved before".into(),
                }
            };
            return (outcome, Change::default());
        }
        let (plan, reason) = match self.allocate(lines, req) {
            Ok(planned) => planned,
            Err((shortages, reason)) => {
                return (
                    ReserveOutcome::Unavailable { shortages, reason },
                    Change::default(),
                )
            }
        };
        let mut touched = Vec::new();
        for a in &plan {
            for l in &a.lines {
                self.cell(&a.warehouse, &l.sku).reserved += l.quantity as i64;
                touched.push((a.warehouse.clone(), l.sku.clone()));
            }
        }
        let parts = plan
            .iter()
            .map(|a| ReservedPart {
                shipment: a.shipment,
                warehouse: a.warehouse.clone(),
                lines: a.lines.clone(),
                state: ReservationState::Open,
            })
            .collect();
        (
            ReserveOutcome::Reserved {
                shipments: plan,
                reason,
            },
            Change {
                reservation: Some(Reservation::with_parts(order_id, parts)),
                touched,
            },
        )
    }

    /// Where each line comes from, and why; or what is short, and why. Changes nothing.
    pub fn allocate(
        &self,
        lines: &[LineQty],
        req: &AllocationRequest<'_>,
    ) -> Result<(Vec<Allocation>, String), (Vec<Shortage>, String)> {
        let mut candidates = self.candidates(req);
        if req.strategy == AllocationStrategy::MostStock {
            self.rank_by_stock(&mut candidates, lines);
        }
        let whole = candidates.iter().find(|(w, _, _)| {
            lines
                .iter()
                .all(|l| self.available(w, &l.sku) >= l.quantity as i64)
        });
        if let Some((w, _, _)) = whole {
            let plan = vec![Allocation {
                shipment: 1,
                warehouse: w.clone(),
                lines: lines.to_vec(),
            }];
            let others = candidates.len() - 1;
            let why = match (req.strategy, others) {
                (_, 0) => format!("{w} can serve every line"),
                (AllocationStrategy::Priority, _) => {
                    format!("{w} can serve every line and comes first by priority")
                }
                (AllocationStrategy::MostStock, _) => {
                    format!("{w} can serve every line and has the most of it")
                }
                (AllocationStrategy::ShipToCountry, _) => {
                    format!("{w} can serve every line and is the nearest by country and priority")
                }
            };
            return Ok((plan, why));
        }
        let total = |sku: &str| -> i64 {
            candidates
                .iter()
                .map(|(w, _, _)| self.available(w, sku))
                .sum()
        };
        let shortages: Vec<Shortage> = lines
            .iter()
            .filter(|l| total(&l.sku) < l.quantity as i64)
            .map(|l| Shortage {
                sku: l.sku.clone(),
                requested: l.quantity,
                available: total(&l.sku),
            })
            .collect();
        if !shortages.is_empty() {
            let skus: Vec<&str> = shortages.iter().map(|s| s.sku.as_str()).collect();
            let why = format!("out of stock: {}", skus.join(", "));
            return Err((shortages, why));
        }
        if !req.allow_split {
            // Every line is there, but not in one warehouse.
            let shortages = lines
                .iter()
                .map(|l| Shortage {
                    sku: l.sku.clone(),
                    requested: l.quantity,
                    available: candidates
                        .iter()
                        .map(|(w, _, _)| self.available(w, &l.sku))
                        .max()
                        .unwrap_or(0),
                })
                .collect();
            return Err((
                shortages,
                "no single warehouse can serve every line, and the order may not be split".into(),
            ));
        }
        // Split: warehouse after warehouse, each giving what it can of what is still
        // missing; with `MostStock`, the one giving most of what is missing first.
        let mut missing: Vec<LineQty> = lines.to_vec();
        let mut plan: Vec<Allocation> = Vec::new();
        let mut said: Vec<String> = Vec::new();
        while missing.iter().any(|l| l.quantity > 0) {
            if req.strategy == AllocationStrategy::MostStock {
                self.rank_by_stock(&mut candidates, &missing);
            }
            let Some(pos) = candidates.iter().position(|(w, _, _)| {
                missing
                    .iter()
                    .any(|l| l.quantity > 0 && self.available(w, &l.sku) > 0)
            }) else {
                break; // cannot happen: the totals were checked above
            };
            let (w, _, _) = candidates.remove(pos);
            let mut taken = Vec::new();
            let mut words = Vec::new();
            for l in missing.iter_mut().filter(|l| l.quantity > 0) {
                let take = self.available(&w, &l.sku).min(l.quantity as i64) as u32;
                if take == 0 {
                    continue;
                }
                let all = take == l.quantity;
                let of = lines.iter().find(|x| x.sku == l.sku).map(|x| x.quantity);
                words.push(match (all, of) {
                    (true, Some(q)) if q == take => format!("{} {}", take, l.sku),
                    (_, Some(q)) => format!("{take} of {q} {}", l.sku),
                    _ => format!("{take} {}", l.sku),
                });
                l.quantity -= take;
                taken.push(LineQty {
                    sku: l.sku.clone(),
                    quantity: take,
                });
            }
            said.push(format!("{w} {}", words.join(", ")));
            plan.push(Allocation {
                shipment: plan.len() as u32 + 1,
                warehouse: w,
                lines: taken,
            });
        }
        Ok((
            plan,
            format!(
                "no single warehouse can serve every line; split: {}",
                said.join("; ")
            ),
        ))
    }

    /// Gives back the open parts of a reservation (`shipments`: only those; `None`: all).
    /// Without a reservation it leaves a tombstone.
    pub fn release(
        &mut self,
        existing: Option<&Reservation>,
        order_id: OrderId,
        shipments: Option<&[u32]>,
    ) -> Change {
        let Some(r) = existing else {
            return Change {
                reservation: Some(Reservation {
                    order_id,
                    parts: vec![],
                    state: ReservationState::Released,
                }),
                touched: vec![],
            };
        };
        self.settle(r, shipments, ReservationState::Released)
    }

    /// The reserved units of a handed-over shipment (`None`: every open part) leave the
    /// building: on hand and reserved both drop.
    pub fn commit(&mut self, existing: Option<&Reservation>, shipment: Option<u32>) -> Change {
        match existing {
            Some(r) => {
                let only = shipment.map(|s| [s]);
                self.settle(
                    r,
                    only.as_ref().map(|s| &s[..]),
                    ReservationState::Committed,
                )
            }
            None => Change::default(),
        }
    }

    /// Moves the open parts named (all when `None`) to `to`, giving back their reserved units
    /// (and, when committing, their units on hand).
    fn settle(
        &mut self,
        r: &Reservation,
        shipments: Option<&[u32]>,
        to: ReservationState,
    ) -> Change {
        let mut touched = Vec::new();
        let mut parts = r.parts.clone();
        for p in parts.iter_mut() {
            let named = shipments.is_none_or(|s| s.contains(&p.shipment));
            if !named || p.state != ReservationState::Open {
                continue;
            }
            for l in &p.lines {
                let c = self.cell(&p.warehouse, &l.sku);
                c.reserved -= l.quantity as i64;
                if to == ReservationState::Committed {
                    c.on_hand -= l.quantity as i64;
                }
                touched.push((p.warehouse.clone(), l.sku.clone()));
            }
            p.state = to;
        }
        if touched.is_empty() {
            return Change::default();
        }
        Change {
            reservation: Some(Reservation::with_parts(r.order_id, parts)),
            touched,
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
