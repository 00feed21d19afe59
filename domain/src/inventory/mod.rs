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
//!
//! **Backorders.** A sku may be backordered, up to a cap of units waiting at once
//! ([`Backorders`]). An order short only of such skus, within their caps, is not refused: what
//! is available is held (by the split rules; an order that may not be split holds nothing and
//! waits to be served whole), the rest waits (`Reservation::backordered`), and the sku's
//! waiting units have first call on stock that arrives: new orders are offered only what
//! waiting backorders leave ([`Ledger::allocate`]), and reserving again for a backordered
//! order ([`Ledger::reserve`]) fills it from everything available. The engine reserves again
//! for backordered orders oldest first whenever stock arrives, so they are served in the order
//! they were placed.

pub mod transfer;

use super::order::{Allocation, LineQty, OrderId, Shortage};
use super::warehouse::{AllocationStrategy, Warehouse};
use crate::ids::{CellKey, Sku, WarehouseId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub on_hand: i64,
    pub reserved: i64,
    /// Units on their way here in transfers (not on hand, not available yet).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub incoming: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
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
    pub warehouse: WarehouseId,
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
    /// Units the order still waits for (backordered); empty once it is wholly allocated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backordered: Vec<LineQty>,
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
            backordered: vec![],
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
                plan: None,
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
    /// Some lines wait for stock: `held` is what is reserved now, `backordered` the rest.
    Backordered {
        held: Vec<Allocation>,
        backordered: Vec<LineQty>,
        reason: String,
    },
    Unavailable {
        shortages: Vec<Shortage>,
        reason: String,
    },
    /// The order was cancelled before the reservation was made.
    Released,
}

/// Why allocation could not serve an order: what is short, in words, and whether every line was
/// there but the order may not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Short {
    pub shortages: Vec<Shortage>,
    pub reason: String,
    pub split_refused: bool,
}

/// Whether a sku may be backordered and how many of its units may wait at most, across every
/// order; and how many wait now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backorders {
    pub allowed: bool,
    /// Most units waiting at once.
    pub cap: i64,
    /// Units waiting now: the backordered lines of open reservations.
    pub waiting: i64,
}

impl Backorders {
    /// How many more units may wait.
    pub fn room(&self) -> i64 {
        if self.allowed {
            (self.cap - self.waiting).max(0)
        } else {
            0
        }
    }
}

/// The units allocation may take from each cell: what is available, less what waiting
/// backorders have first call on (for a new order; a backordered order being filled is offered
/// everything).
struct Free<'l> {
    ledger: &'l Ledger,
    earmarked: BTreeMap<CellKey, i64>,
}

impl Free<'_> {
    fn get(&self, warehouse: &WarehouseId, sku: &Sku) -> i64 {
        let marked = self
            .earmarked
            .get(&CellKey::new(warehouse, sku))
            .copied()
            .unwrap_or(0);
        (self.ledger.available(warehouse, sku) - marked).max(0)
    }
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
    #[error("the backorder cap must not be negative")]
    NegativeCap,
    #[error("cap {cap} is below the {waiting} units already waiting for stock")]
    CapBelowWaiting { cap: i64, waiting: i64 },
    /// A transfer asked for more of a sku than its source has available (`line`: its index).
    #[error("only {available} of '{sku}' are available at {warehouse}")]
    NotAvailable {
        line: usize,
        warehouse: WarehouseId,
        sku: Sku,
        available: i64,
    },
}

/// What an operation changed: the reservation record to store (if any), the stock cells and
/// the skus' backorder records it touched, which the caller persists together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub reservation: Option<Reservation>,
    pub touched: Vec<CellKey>,
    /// Skus whose [`Backorders`] changed.
    pub skus: Vec<Sku>,
    /// Set by a person: the touched cells' on hand was counted, the skus' policy and cap
    /// chosen (absolute values, not changes to what is stored).
    pub absolute: bool,
}

/// Stock levels keyed by (warehouse, sku). Ordered, so warehouse choice is deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    levels: BTreeMap<CellKey, StockLevel>,
    backorders: BTreeMap<Sku, Backorders>,
}

impl Ledger {
    pub fn from_levels(levels: impl IntoIterator<Item = (CellKey, StockLevel)>) -> Self {
        Ledger {
            levels: levels.into_iter().collect(),
            backorders: BTreeMap::new(),
        }
    }

    /// The skus' backorder records, as stored.
    pub fn with_backorders(mut self, skus: impl IntoIterator<Item = (Sku, Backorders)>) -> Self {
        self.backorders = skus.into_iter().collect();
        self
    }

    /// One sku's backorder record (not backorderable, nothing waiting, when never set).
    pub fn backorders(&self, sku: &Sku) -> Backorders {
        self.backorders.get(sku).copied().unwrap_or_default()
    }

    /// Whether units of `sku` are waiting for stock.
    pub fn has_waiting(&self, sku: &Sku) -> bool {
        self.backorders(sku).waiting > 0
    }

    /// An admin sets whether a sku may be backordered and its cap. A cap below the units
    /// already waiting is refused (they stay backordered either way).
    pub fn set_backorders(
        &mut self,
        sku: &Sku,
        allowed: bool,
        cap: i64,
    ) -> Result<Change, StockError> {
        if cap < 0 {
            return Err(StockError::NegativeCap);
        }
        let b = self.backorders.entry(sku.clone()).or_default();
        if cap < b.waiting {
            return Err(StockError::CapBelowWaiting {
                cap,
                waiting: b.waiting,
            });
        }
        b.allowed = allowed;
        b.cap = cap;
        Ok(Change {
            skus: vec![sku.clone()],
            absolute: true,
            ..Change::default()
        })
    }

    fn add_waiting(&mut self, sku: &str, units: i64) {
        self.backorders.entry(Sku::new(sku)).or_default().waiting += units;
    }

    /// What new orders are not offered: each sku's waiting units, marked on the cells the
    /// waiting orders would be served from first (the candidates in order of preference).
    /// Only the skus of `lines` are looked at: the earmarks of others do not matter to them.
    fn free_for_new_orders(&self, req: &AllocationRequest<'_>, lines: &[LineQty]) -> Free<'_> {
        let mut earmarked = BTreeMap::new();
        let waiting: Vec<(&Sku, i64)> = lines
            .iter()
            .map(|l| (&l.sku, self.backorders(&l.sku).waiting))
            .filter(|(_, w)| *w > 0)
            .collect();
        let candidates = if waiting.is_empty() {
            vec![]
        } else {
            self.candidates(req)
        };
        for (sku, waiting) in waiting {
            let mut left = waiting;
            for (w, _, _) in &candidates {
                if left == 0 {
                    break;
                }
                let take = self.available(w, sku).min(left);
                if take > 0 {
                    earmarked.insert(CellKey::new(w.clone(), sku), take);
                    left -= take;
                }
            }
        }
        Free {
            ledger: self,
            earmarked,
        }
    }

    /// Everything available, for filling a backordered order.
    fn free_for_backorders(&self) -> Free<'_> {
        Free {
            ledger: self,
            earmarked: BTreeMap::new(),
        }
    }

    pub fn level(&self, warehouse: &WarehouseId, sku: &Sku) -> StockLevel {
        self.levels
            .get(&CellKey::new(warehouse, sku))
            .copied()
            .unwrap_or_default()
    }

    pub fn levels(&self) -> impl Iterator<Item = (&CellKey, &StockLevel)> {
        self.levels.iter()
    }

    /// Every warehouse's level for one sku.
    pub fn by_sku<'a>(
        &'a self,
        sku: &'a Sku,
    ) -> impl Iterator<Item = (&'a WarehouseId, StockLevel)> + 'a {
        self.levels
            .iter()
            .filter(move |(c, _)| c.sku == *sku)
            .map(|(c, l)| (&c.warehouse, *l))
    }

    /// Warehouses with a stock cell, by id.
    fn stocked_warehouses(&self) -> Vec<WarehouseId> {
        let mut w: Vec<WarehouseId> = self.levels.keys().map(|c| c.warehouse.clone()).collect();
        w.dedup();
        w
    }

    fn cell(&mut self, warehouse: &WarehouseId, sku: &Sku) -> &mut StockLevel {
        self.levels.entry(CellKey::new(warehouse, sku)).or_default()
    }

    fn available(&self, warehouse: &WarehouseId, sku: &Sku) -> i64 {
        self.level(warehouse, sku).available().max(0)
    }

    /// The warehouses allocation may use for `req`, in the strategy's order of preference
    /// (`MostStock` is ordered per decision, by [`Ledger::rank_by_stock`]).
    fn candidates(&self, req: &AllocationRequest<'_>) -> Vec<(WarehouseId, u32, bool)> {
        let mut c: Vec<(WarehouseId, u32, bool)> = if req.warehouses.is_empty() {
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
    fn rank_by_stock(
        free: &Free<'_>,
        candidates: &mut [(WarehouseId, u32, bool)],
        lines: &[LineQty],
    ) {
        candidates.sort_by_key(|(w, _, _)| {
            let (gives, holds) = lines.iter().fold((0i64, 0i64), |(g, h), l| {
                let a = free.get(w, &l.sku);
                (g + a.min(l.quantity as i64), h + a)
            });
            (std::cmp::Reverse(gives), std::cmp::Reverse(holds))
        });
    }

    /// Allocates and reserves an order's lines (see the module doc). A redelivered request for
    /// an order that has a reservation answers what it holds and changes nothing — unless the
    /// order is backordered: then it is filled from what is available now.
    pub fn reserve(
        &mut self,
        existing: Option<&Reservation>,
        order_id: OrderId,
        lines: &[LineQty],
        req: &AllocationRequest<'_>,
    ) -> (ReserveOutcome, Change) {
        if let Some(r) = existing {
            if r.state == ReservationState::Released
                || (r.parts.is_empty() && r.backordered.is_empty())
            {
                return (ReserveOutcome::Released, Change::default());
            }
            if r.backordered.is_empty() || r.state != ReservationState::Open {
                let outcome = ReserveOutcome::Reserved {
                    shipments: r.allocations(),
                    reason: "reserved before".into(),
                };
                return (outcome, Change::default());
            }
            return self.fill(r, lines, req);
        }
        let short = match self.allocate(lines, req) {
            Ok((plan, reason)) => {
                let reservation = Reservation::with_parts(order_id, vec![]);
                return self.hold(reservation, plan, vec![], reason);
            }
            Err(short) => short,
        };
        if short.split_refused {
            return self.backorder(order_id, lines, req, short, false);
        }
        self.backorder(order_id, lines, req, short, true)
    }

    /// A new order short of stock: backordered when every short sku may be, within its cap;
    /// otherwise unavailable. `out_of_stock`: some sku lacks units altogether (rather than the
    /// order only being refused a split).
    fn backorder(
        &mut self,
        order_id: OrderId,
        lines: &[LineQty],
        req: &AllocationRequest<'_>,
        short: Short,
        out_of_stock: bool,
    ) -> (ReserveOutcome, Change) {
        let unavailable = |short: Short| {
            (
                ReserveOutcome::Unavailable {
                    shortages: short.shortages,
                    reason: short.reason,
                },
                Change::default(),
            )
        };
        if !out_of_stock {
            // Everything is there, just not in one place: waiting would not help.
            return unavailable(short);
        }
        let free = self.free_for_new_orders(req, lines);
        let candidates = self.candidates(req);
        let total =
            |sku: &Sku| -> i64 { candidates.iter().map(|(w, _, _)| free.get(w, sku)).sum() };
        // What can be held now, and what must wait.
        let mut held_lines = Vec::new();
        let mut waiting = Vec::new();
        for l in lines {
            let have = if req.allow_split {
                total(&l.sku).min(l.quantity as i64) as u32
            } else {
                0
            };
            if have > 0 {
                held_lines.push(LineQty {
                    sku: l.sku.clone(),
                    quantity: have,
                });
            }
            // Without a split the whole order waits, but only the short units count as waiting.
            let missing = (l.quantity as i64 - total(&l.sku)).max(0) as u32;
            if missing > 0 {
                waiting.push(LineQty {
                    sku: l.sku.clone(),
                    quantity: if req.allow_split {
                        l.quantity - have
                    } else {
                        missing
                    },
                });
            }
        }
        let over: Vec<String> = waiting
            .iter()
            .filter(|w| self.backorders(&w.sku).room() < w.quantity as i64)
            .map(|w| {
                let b = self.backorders(&w.sku);
                if b.allowed {
                    format!("{} (backorder cap of {} reached)", w.sku, b.cap)
                } else {
                    w.sku.to_string()
                }
            })
            .collect();
        if waiting.is_empty() || !over.is_empty() {
            let reason = format!("out of stock: {}", over.join(", "));
            return unavailable(Short { reason, ..short });
        }
        let held = if held_lines.is_empty() {
            vec![]
        } else {
            let held_req = AllocationRequest {
                allow_split: true,
                ..*req
            };
            match self.plan(&free, &held_lines, &held_req) {
                Ok((plan, _)) => plan,
                Err(_) => vec![], // cannot happen: the totals were counted on the same units
            }
        };
        drop(free);
        let words: Vec<String> = waiting
            .iter()
            .map(|w| format!("{} {}", w.quantity, w.sku))
            .collect();
        let reason = format!("backordered: waiting for {}", words.join(", "));
        let mut reservation = Reservation::with_parts(order_id, vec![]);
        reservation.backordered = waiting.clone();
        reservation.state = ReservationState::Open;
        let mut skus = Vec::new();
        for w in &waiting {
            self.add_waiting(&w.sku, w.quantity as i64);
            skus.push(w.sku.clone());
        }
        let (outcome, mut change) = self.hold(reservation, held, waiting, reason);
        change.skus = skus;
        (outcome, change)
    }

    /// Fills a backordered reservation from everything available: wholly (then it is
    /// reserved), or — when the order may be split — as far as the stock goes.
    fn fill(
        &mut self,
        r: &Reservation,
        lines: &[LineQty],
        req: &AllocationRequest<'_>,
    ) -> (ReserveOutcome, Change) {
        let free = self.free_for_backorders();
        let (plan, words) = if req.allow_split {
            // Only what is missing; as much of it as there is.
            let candidates = self.candidates(req);
            let missing: Vec<LineQty> = r
                .backordered
                .iter()
                .filter_map(|l| {
                    let have: i64 = candidates.iter().map(|(w, _, _)| free.get(w, &l.sku)).sum();
                    let take = have.min(l.quantity as i64) as u32;
                    (take > 0).then(|| LineQty {
                        sku: l.sku.clone(),
                        quantity: take,
                    })
                })
                .collect();
            if missing.is_empty() {
                (vec![], String::new())
            } else {
                // Cannot be short: only what is there was asked for.
                self.plan(&free, &missing, req).unwrap_or_default()
            }
        } else {
            // Nothing is held: the whole order, from one warehouse, or nothing.
            // Not yet in one warehouse: keep waiting.
            self.plan(&free, lines, req).unwrap_or_default()
        };
        drop(free);
        if plan.is_empty() {
            let still = ReserveOutcome::Backordered {
                held: r.allocations(),
                backordered: r.backordered.clone(),
                reason: "still waiting for stock".into(),
            };
            return (still, Change::default());
        }
        // What the plan serves no longer waits.
        let mut waiting = r.backordered.clone();
        let mut skus = Vec::new();
        for a in &plan {
            for l in &a.lines {
                if let Some(w) = waiting.iter_mut().find(|w| w.sku == l.sku) {
                    let served = l.quantity.min(w.quantity);
                    w.quantity -= served;
                    self.add_waiting(&l.sku, -(served as i64));
                    if !skus.contains(&l.sku) {
                        skus.push(l.sku.clone());
                    }
                }
            }
        }
        waiting.retain(|w| w.quantity > 0);
        let reason = if waiting.is_empty() {
            format!("stock arrived: {words}")
        } else {
            "still waiting for stock".into()
        };
        let (outcome, mut change) = self.hold(r.clone(), plan, waiting, reason);
        change.skus = skus;
        (outcome, change)
    }

    /// Reserves `plan` on top of what `r` holds (merging into a part at the same warehouse),
    /// with `waiting` still backordered; reserved once nothing waits.
    fn hold(
        &mut self,
        mut r: Reservation,
        plan: Vec<Allocation>,
        waiting: Vec<LineQty>,
        reason: String,
    ) -> (ReserveOutcome, Change) {
        let mut touched = Vec::new();
        for a in &plan {
            for l in &a.lines {
                self.cell(&a.warehouse, &l.sku).reserved += l.quantity as i64;
                touched.push(CellKey::new(a.warehouse.clone(), l.sku.clone()));
            }
            match r
                .parts
                .iter_mut()
                .find(|p| p.warehouse == a.warehouse && p.state == ReservationState::Open)
            {
                Some(part) => {
                    for l in &a.lines {
                        match part.lines.iter_mut().find(|x| x.sku == l.sku) {
                            Some(x) => x.quantity += l.quantity,
                            None => part.lines.push(l.clone()),
                        }
                    }
                }
                None => {
                    let shipment = r.parts.iter().map(|p| p.shipment).max().unwrap_or(0) + 1;
                    r.parts.push(ReservedPart {
                        shipment,
                        warehouse: a.warehouse.clone(),
                        lines: a.lines.clone(),
                        state: ReservationState::Open,
                    });
                }
            }
        }
        r.backordered = waiting;
        r.state = ReservationState::Open;
        let outcome = if r.backordered.is_empty() {
            ReserveOutcome::Reserved {
                shipments: r.allocations(),
                reason,
            }
        } else {
            ReserveOutcome::Backordered {
                held: r.allocations(),
                backordered: r.backordered.clone(),
                reason,
            }
        };
        (
            outcome,
            Change {
                reservation: Some(r),
                touched,
                ..Change::default()
            },
        )
    }

    /// Where each line of a new order comes from, and why; or what is short, and why.
    /// Units that waiting backorders have first call on are not offered. Changes nothing.
    pub fn allocate(
        &self,
        lines: &[LineQty],
        req: &AllocationRequest<'_>,
    ) -> Result<(Vec<Allocation>, String), Short> {
        self.plan(&self.free_for_new_orders(req, lines), lines, req)
    }

    /// [`Ledger::allocate`] over the units `free` offers.
    fn plan(
        &self,
        free: &Free<'_>,
        lines: &[LineQty],
        req: &AllocationRequest<'_>,
    ) -> Result<(Vec<Allocation>, String), Short> {
        let mut candidates = self.candidates(req);
        if req.strategy == AllocationStrategy::MostStock {
            Self::rank_by_stock(free, &mut candidates, lines);
        }
        let whole = candidates.iter().find(|(w, _, _)| {
            lines
                .iter()
                .all(|l| free.get(w, &l.sku) >= l.quantity as i64)
        });
        if let Some((w, _, _)) = whole {
            let plan = vec![Allocation {
                shipment: 1,
                warehouse: w.clone(),
                lines: lines.to_vec(),
                plan: None,
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
        let total =
            |sku: &Sku| -> i64 { candidates.iter().map(|(w, _, _)| free.get(w, sku)).sum() };
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
            return Err(Short {
                shortages,
                reason: why,
                split_refused: false,
            });
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
                        .map(|(w, _, _)| free.get(w, &l.sku))
                        .max()
                        .unwrap_or(0),
                })
                .collect();
            return Err(Short {
                shortages,
                reason: "no single warehouse can serve every line, and the order may not be split"
                    .into(),
                split_refused: true,
            });
        }
        // Split: warehouse after warehouse, each giving what it can of what is still
        // missing; with `MostStock`, the one giving most of what is missing first.
        let mut missing: Vec<LineQty> = lines.to_vec();
        let mut plan: Vec<Allocation> = Vec::new();
        let mut said: Vec<String> = Vec::new();
        while missing.iter().any(|l| l.quantity > 0) {
            if req.strategy == AllocationStrategy::MostStock {
                Self::rank_by_stock(free, &mut candidates, &missing);
            }
            let Some(pos) = candidates.iter().position(|(w, _, _)| {
                missing
                    .iter()
                    .any(|l| l.quantity > 0 && free.get(w, &l.sku) > 0)
            }) else {
                break; // cannot happen: the totals were checked above
            };
            let (w, _, _) = candidates.remove(pos);
            let mut taken = Vec::new();
            let mut words = Vec::new();
            for l in missing.iter_mut().filter(|l| l.quantity > 0) {
                let take = free.get(&w, &l.sku).min(l.quantity as i64) as u32;
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
                plan: None,
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

    /// Gives back the open parts of a reservation (`shipments`: only those; `None`: all, and
    /// whatever it was still waiting for). Without a reservation it leaves a tombstone.
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
                    backordered: vec![],
                    state: ReservationState::Released,
                }),
                ..Change::default()
            };
        };
        if shipments.is_some() || r.backordered.is_empty() {
            return self.settle(r, shipments, ReservationState::Released);
        }
        // The whole order goes: it waits for nothing any more.
        let mut skus = Vec::new();
        for w in &r.backordered {
            self.add_waiting(&w.sku, -(w.quantity as i64));
            skus.push(w.sku.clone());
        }
        let waited = Reservation {
            backordered: vec![],
            ..r.clone()
        };
        let mut change = self.settle(&waited, None, ReservationState::Released);
        if change.reservation.is_none() {
            change.reservation = Some(Reservation {
                state: ReservationState::Released,
                ..waited
            });
        }
        change.skus = skus;
        change
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
                touched.push(CellKey::new(p.warehouse.clone(), l.sku.clone()));
            }
            p.state = to;
        }
        if touched.is_empty() {
            return Change::default();
        }
        let mut after = Reservation::with_parts(r.order_id, parts);
        after.backordered = r.backordered.clone();
        if !after.backordered.is_empty() && to == ReservationState::Released {
            after.state = ReservationState::Open;
        }
        Change {
            reservation: Some(after),
            touched,
            ..Change::default()
        }
    }

    /// Returned goods go back on hand. The caller guarantees one restock per (order, step).
    pub fn restock(&mut self, warehouse: &WarehouseId, lines: &[LineQty]) -> Change {
        let mut touched = Vec::new();
        for l in lines {
            self.cell(warehouse, &l.sku).on_hand += l.quantity as i64;
            touched.push(CellKey::new(warehouse, l.sku.clone()));
        }
        Change {
            reservation: None,
            touched,
            ..Change::default()
        }
    }

    /// An admin's stock count. Refused if it would leave open reservations uncovered.
    pub fn set_on_hand(
        &mut self,
        warehouse: &WarehouseId,
        sku: &Sku,
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
            touched: vec![CellKey::new(warehouse, sku)],
            absolute: true,
            ..Change::default()
        })
    }

    /// A transfer leaves its source: every line must be available there (on hand and not
    /// reserved); its units leave the source's on hand and are incoming at the destination.
    pub fn dispatch(&mut self, t: &transfer::Transfer) -> Result<Change, StockError> {
        for (i, l) in t.lines.iter().enumerate() {
            let available = self.available(&t.from, &l.sku);
            if available < l.quantity as i64 {
                return Err(StockError::NotAvailable {
                    line: i,
                    warehouse: t.from.clone(),
                    sku: l.sku.clone(),
                    available,
                });
            }
        }
        let mut touched = Vec::new();
        for l in &t.lines {
            self.cell(&t.from, &l.sku).on_hand -= l.quantity as i64;
            self.cell(&t.to, &l.sku).incoming += l.quantity as i64;
            touched.push(CellKey::new(t.from.clone(), l.sku.clone()));
            touched.push(CellKey::new(t.to.clone(), l.sku.clone()));
        }
        Ok(Change {
            touched,
            ..Change::default()
        })
    }

    /// Units of a transfer arrived at `to`: no longer incoming, now on hand.
    pub fn receive(&mut self, to: &WarehouseId, lines: &[LineQty]) -> Change {
        let mut touched = Vec::new();
        for l in lines {
            let cell = self.cell(to, &l.sku);
            cell.incoming -= l.quantity as i64;
            cell.on_hand += l.quantity as i64;
            touched.push(CellKey::new(to, l.sku.clone()));
        }
        Change {
            touched,
            ..Change::default()
        }
    }

    /// A transfer was called off: its units in transit are no longer incoming at `to`, and
    /// are back on hand at `from`.
    pub fn cancel_transfer(
        &mut self,
        from: &WarehouseId,
        to: &WarehouseId,
        lines: &[LineQty],
    ) -> Change {
        let mut touched = Vec::new();
        for l in lines {
            self.cell(to, &l.sku).incoming -= l.quantity as i64;
            self.cell(from, &l.sku).on_hand += l.quantity as i64;
            touched.push(CellKey::new(to, l.sku.clone()));
            touched.push(CellKey::new(from, l.sku.clone()));
        }
        Change {
            touched,
            ..Change::default()
        }
    }
}

#[cfg(test)]
mod tests;
