//! What happened to an order: the `Event`s that `decide` returns, the store keeps and `evolve`
//! applies, each carrying one `Change`. Stored as the order's history, so their serialized form
//! is part of the stored data.

use super::model::{Booking, CarrierEventKind, Cause, LineQty, Parcel, PaymentStatus, Shortage};
use super::new_order::NewOrder;
use crate::money::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One recorded change in an order's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u32,
    pub at: DateTime<Utc>,
    pub by: Cause,
    #[serde(flatten)]
    pub change: Change,
}

// `Placed` carries the whole new order (see `Command`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    Placed {
        id: Uuid,
        tracking_token: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payment_due_at: Option<DateTime<Utc>>,
        order: NewOrder,
    },
    StockReserved {
        warehouse: String,
    },
    StockUnavailable {
        shortages: Vec<Shortage>,
    },
    PaymentRecorded {
        status: PaymentStatus,
        amount: i64,
        reference: String,
    },
    Confirmed,
    PicksAcknowledged {
        warehouse: String,
        lines: Vec<LineQty>,
    },
    Packed {
        warehouse: String,
        parcels: Vec<Parcel>,
    },
    ShipmentBooked {
        booking: Booking,
    },
    Shipped,
    CarrierScanned {
        carrier: String,
        event_id: String,
        kind: CarrierEventKind,
        occurred_at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
    },
    Delivered,
    Cancelled {
        reason: String,
    },
    ReturnApproved {
        lines: Vec<LineQty>,
        reason: String,
        tracking_number: String,
    },
    ReturnReceived {
        warehouse: String,
        lines: Vec<LineQty>,
    },
    RefundIssued {
        amount: Money,
    },
}

impl Change {
    pub fn name(&self) -> &'static str {
        match self {
            Change::Placed { .. } => "placed",
            Change::StockReserved { .. } => "stock_reserved",
            Change::StockUnavailable { .. } => "stock_unavailable",
            Change::PaymentRecorded { .. } => "payment_recorded",
            Change::Confirmed => "confirmed",
            Change::PicksAcknowledged { .. } => "picks_acknowledged",
            Change::Packed { .. } => "packed",
            Change::ShipmentBooked { .. } => "shipment_booked",
            Change::Shipped => "shipped",
            Change::CarrierScanned { .. } => "carrier_scanned",
            Change::Delivered => "delivered",
            Change::Cancelled { .. } => "cancelled",
            Change::ReturnApproved { .. } => "return_approved",
            Change::ReturnReceived { .. } => "return_received",
            Change::RefundIssued { .. } => "refund_issued",
        }
    }
}
