//! The values that cross the stock-alerts part of the storage interface: a stock cell's alert
//! record (reorder point and low-stock state, [`CellAlert`]), back-in-stock subscriptions
//! ([`Subscription`]), and the one atomic write that records what the alerts decided together
//! with the messages it sends ([`AlertsWrite`]).

use crate::domain::stock_alerts::{CellAlert, Subscription};
use crate::domain::{Sku, WarehouseId};
use crate::OutboxEntry;

pub use crate::domain::CellKey;

/// A stock cell's alert record with its key.
pub type CellAlertRecord = (CellKey, CellAlert);

/// One cell's new alert record, written only if the stored one still equals `expected`
/// (`None`: the cell has none yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellAlertWrite {
    pub warehouse: WarehouseId,
    pub sku: Sku,
    pub expected: Option<CellAlert>,
    pub new: CellAlert,
}

/// What the stock alerts decided, written all together or not at all (see
/// [`crate::AlertRecords::write_alerts`]): cells' new alert records, the subscriptions that end
/// because they were told, and the outbox entries of the notices that tell them (low stock,
/// back in stock). A notice is therefore in the outbox exactly when the state that decided it
/// is stored: a crash can lose neither one without the other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertsWrite {
    pub cells: Vec<CellAlertWrite>,
    /// Subscriptions to remove; each must still be stored (same sku, contact and id).
    pub ended: Vec<Subscription>,
    /// The notices' outbox entries (already expanded per channel).
    pub outbox: Vec<OutboxEntry>,
}

impl AlertsWrite {
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty() && self.ended.is_empty() && self.outbox.is_empty()
    }
}
