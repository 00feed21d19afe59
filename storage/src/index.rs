//! The secondary indexes of an order, derived in one place: the status list it is in, its
//! tracking token, the pick lists it is on, the carrier tracking numbers that find it and
//! whether it is in the backorder queue.
//!
//! Backends store what [`OrderIndex::of`] returns and never re-derive a domain rule: a
//! transition moves an order from `OrderIndex::of(before)` to `OrderIndex::of(after)`, and
//! [`Changes::between`] says which entries to add and remove (usually none). Readers that
//! check an index entry against the snapshot it points to (sled, where entries may be written
//! ahead of a snapshot that did not commit) check it against `OrderIndex::of(snapshot)`.
//!
//! An order may be on several warehouses' pick lists (one per shipment still to pick) and have
//! several tracking numbers (one per booked shipment, and its return parcel's). The backorder queue holds the orders
//! waiting for stock — placed and backordered — which the engine serves oldest first when stock
//! arrives.

use crate::domain::{Order, ShipmentStatus, Status, StockState};

/// Where an order is found besides its id. Borrows from the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderIndex<'a> {
    pub status: Status,
    pub tracking_token: &'a str,
    /// The warehouses where the order has a shipment to pick: the order is confirmed or later
    /// and not closed, and the shipment is allocated (not packed yet). Sorted, no duplicates.
    pub picks: Vec<&'a str>,
    /// Every shipment's booked tracking number, and the return parcel's. Sorted, no
    /// duplicates.
    pub tracking_numbers: Vec<&'a str>,
    /// In the backorder queue: the order is placed and waits for stock (backordered).
    pub backordered: bool,
}

impl<'a> OrderIndex<'a> {
    pub fn of(o: &'a Order) -> OrderIndex<'a> {
        let pickable = o.status.rank() >= Status::Confirmed.rank() && !o.status.is_terminal();
        let mut picks: Vec<&str> = if pickable {
            o.shipments
                .iter()
                .filter(|s| s.status == ShipmentStatus::Allocated)
                .map(|s| s.warehouse.as_str())
                .collect()
        } else {
            Vec::new()
        };
        picks.sort_unstable();
        picks.dedup();
        let mut tracking_numbers: Vec<&str> = o
            .shipments
            .iter()
            .filter_map(|s| s.booking.as_ref())
            .map(|b| b.tracking_number.as_str())
            .chain(o.return_case.iter().map(|rc| rc.tracking_number.as_str()))
            .collect();
        tracking_numbers.sort_unstable();
        tracking_numbers.dedup();
        OrderIndex {
            status: o.status,
            tracking_token: &o.tracking_token,
            picks,
            tracking_numbers,
            backordered: o.status == Status::Placed && o.stock == StockState::Backordered,
        }
    }

    /// Whether the order is on `warehouse`'s pick list.
    pub fn on_pick_list(&self, warehouse: &str) -> bool {
        self.picks.contains(&warehouse)
    }

    /// Whether `tracking_number` is booked on the order.
    pub fn has_tracking_number(&self, tracking_number: &str) -> bool {
        self.tracking_numbers.contains(&tracking_number)
    }
}

/// Entries to add and to remove when one list of index entries becomes another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes<'a> {
    pub added: Vec<&'a str>,
    pub removed: Vec<&'a str>,
}

impl<'a> Changes<'a> {
    /// What changes from `before` (none: the order is new) to `after`.
    pub fn between(before: Option<&[&'a str]>, after: &[&'a str]) -> Changes<'a> {
        let before = before.unwrap_or(&[]);
        Changes {
            added: after
                .iter()
                .filter(|e| !before.contains(e))
                .copied()
                .collect(),
            removed: before
                .iter()
                .filter(|e| !after.contains(e))
                .copied()
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// The index changes of a transition from `before` (none: a placement) to `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexChanges<'a> {
    /// The status list the order leaves (`Some` only when the status changed).
    pub status_removed: Option<Status>,
    /// The status list the order joins (`Some` when it is new or its status changed).
    pub status_added: Option<Status>,
    /// The tracking token, when the order is new (a token never changes).
    pub token_added: Option<&'a str>,
    pub picks: Changes<'a>,
    pub tracking_numbers: Changes<'a>,
    /// The order joins the backorder queue.
    pub backorder_added: bool,
    /// The order leaves the backorder queue.
    pub backorder_removed: bool,
}

impl<'a> IndexChanges<'a> {
    pub fn of(before: Option<&'a Order>, after: &'a Order) -> IndexChanges<'a> {
        let b = before.map(OrderIndex::of);
        let a = OrderIndex::of(after);
        let status_changed = b.as_ref().map(|b| b.status) != Some(a.status);
        let was_backordered = b.as_ref().is_some_and(|b| b.backordered);
        IndexChanges {
            status_removed: b.as_ref().map(|b| b.status).filter(|_| status_changed),
            status_added: status_changed.then_some(a.status),
            token_added: b.is_none().then_some(a.tracking_token),
            picks: Changes::between(b.as_ref().map(|b| &b.picks[..]), &a.picks),
            tracking_numbers: Changes::between(
                b.as_ref().map(|b| &b.tracking_numbers[..]),
                &a.tracking_numbers,
            ),
            backorder_added: a.backordered && !was_backordered,
            backorder_removed: was_backordered && !a.backordered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{allocated, new_order, t0, Step};
    use crate::domain::{Cause, Command, LineQty, PaymentMethod};

    #[test]
    fn an_order_is_in_the_backorder_queue_while_placed_and_backordered() {
        let placed = Step::place(new_order(&[("A", 1), ("B", 2)], PaymentMethod::Cod), t0());
        assert!(!OrderIndex::of(&placed.after).backordered);
        let waits = placed.then(
            Command::StockBackordered {
                held: vec![],
                backordered: vec![LineQty {
                    sku: "B".into(),
                    quantity: 2,
                }],
                reason: "out of stock: B".into(),
            },
            Cause::InventoryActor,
            t0(),
        );
        assert!(OrderIndex::of(&waits.after).backordered);
        let joins = IndexChanges::of(Some(&placed.after), &waits.after);
        assert!(joins.backorder_added && !joins.backorder_removed);
        // Still waiting after another transition: no change.
        let still = IndexChanges::of(Some(&waits.after), &waits.after);
        assert!(!still.backorder_added && !still.backorder_removed);

        let filled = waits.then(
            allocated(&waits.after, &[("ams", &[("A", 1), ("B", 2)])]),
            Cause::InventoryActor,
            t0(),
        );
        assert!(!OrderIndex::of(&filled.after).backordered);
        let leaves = IndexChanges::of(Some(&waits.after), &filled.after);
        assert!(leaves.backorder_removed && !leaves.backorder_added);

        let cancelled = waits.then(
            Command::Cancel {
                reason: "too long".into(),
            },
            Cause::Storefront,
            t0(),
        );
        assert!(!OrderIndex::of(&cancelled.after).backordered);
        assert!(IndexChanges::of(Some(&waits.after), &cancelled.after).backorder_removed);
    }

    #[test]
    fn changes_name_what_came_and_went() {
        let c = Changes::between(Some(&["ams", "rtm"]), &["rtm", "utr"]);
        assert_eq!(c.added, vec!["utr"]);
        assert_eq!(c.removed, vec!["ams"]);
        assert!(Changes::between(Some(&["ams"]), &["ams"]).is_empty());
        let new = Changes::between(None, &["ams"]);
        assert_eq!((new.added, new.removed.len()), (vec!["ams"], 0));
    }
}
