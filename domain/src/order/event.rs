//! What happened to an order: the `Event`s that `decide` returns, the store keeps and `evolve`
//! applies, each carrying one `Change`. Stored as the order's history, so their serialized form
//! is part of the stored data.
//!
//! **Old kinds are never reinterpreted.** Events recorded before orders had several shipments
//! carry no `shipment`: they are about the order's only shipment (`StockReserved` made it,
//! at its warehouse, with every line). Newer events name their shipment; a `None` always
//! means what it meant when it was written.

use super::model::{
    Allocation, Booking, CarrierEventKind, Cause, ExceptionAnswer, FailureReason, LineQty, Parcel,
    PaymentStatus, Shortage,
};
use super::new_order::NewOrder;
use crate::ids::WarehouseId;
use crate::money::Money;
use chrono::{DateTime, NaiveDate, Utc};
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
    /// Every line reserved in one warehouse: the order's single shipment (recorded before
    /// allocation could split an order; now `Allocated`).
    StockReserved {
        warehouse: WarehouseId,
    },
    /// The inventory allocated every line: one shipment per warehouse, and why it chose so.
    Allocated {
        shipments: Vec<Allocation>,
        reason: String,
    },
    /// Some lines wait for stock; the order stays placed and confirms by itself once they
    /// are allocated (`Allocated`).
    Backordered {
        held: Vec<Allocation>,
        backordered: Vec<LineQty>,
        reason: String,
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
        warehouse: WarehouseId,
        lines: Vec<LineQty>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
    Packed {
        warehouse: WarehouseId,
        parcels: Vec<Parcel>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
    ShipmentBooked {
        booking: Booking,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
    /// A shipment was handed over (`None`: every packed one, as recorded before shipments).
    Shipped {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
    CarrierScanned {
        carrier: String,
        event_id: String,
        kind: CarrierEventKind,
        occurred_at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
        /// The day the carrier now expects to deliver: the shipment's promise, revised.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        estimated_delivery: Option<NaiveDate>,
        /// The carrier's own code and text, kept as reported (`kind` is their meaning in the
        /// one vocabulary; `unknown` when the carrier's table has no entry for the code).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// A shipment's promised window passed before it was delivered (once per shipment).
    Delayed {
        shipment: u32,
        /// The last day it was promised for.
        promised: NaiveDate,
    },
    /// A shipment was delivered (`None`: every shipped one, as recorded before shipments).
    Delivered {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
    /// The whole order was cancelled: every shipment not handed over with it.
    Cancelled {
        reason: String,
    },
    ReturnApproved {
        lines: Vec<LineQty>,
        reason: String,
        tracking_number: String,
    },
    ReturnReceived {
        warehouse: WarehouseId,
        lines: Vec<LineQty>,
    },
    RefundIssued {
        amount: Money,
    },
    /// Some shipments of an order partly handed over were cancelled; the others go on.
    ShipmentsCancelled {
        shipments: Vec<u32>,
        reason: String,
    },
    /// The carrier could not deliver a shipment: a delivery exception opens, to be answered
    /// by `answer_by`.
    DeliveryFailed {
        shipment: u32,
        reason: FailureReason,
        /// 1 for the first failed attempt, 2 for the second, …
        attempt: u32,
        answer_by: DateTime<Utc>,
    },
    /// A delivery exception was answered (a `return_to_origin` answer is followed by
    /// `returning_to_origin`).
    ExceptionAnswered {
        shipment: u32,
        answer: ExceptionAnswer,
    },
    /// A shipment goes back to its warehouse, and why.
    ReturningToOrigin {
        shipment: u32,
        reason: String,
    },
    /// A shipment is back at its warehouse: its lines are received into stock there.
    ReturnedToOrigin {
        shipment: u32,
        warehouse: WarehouseId,
        lines: Vec<LineQty>,
    },
    /// A carrier scanned the return parcel (named by the return's tracking number).
    ReturnScanned {
        carrier: String,
        event_id: String,
        kind: CarrierEventKind,
        occurred_at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// A shipment was not packed by its warehouse's pick-and-pack deadline (once).
    PickPackLate {
        shipment: u32,
        due: DateTime<Utc>,
    },
}

impl Change {
    pub fn name(&self) -> &'static str {
        match self {
            Change::Placed { .. } => "placed",
            Change::StockReserved { .. } => "stock_reserved",
            Change::Allocated { .. } => "allocated",
            Change::Backordered { .. } => "backordered",
            Change::StockUnavailable { .. } => "stock_unavailable",
            Change::PaymentRecorded { .. } => "payment_recorded",
            Change::Confirmed => "confirmed",
            Change::PicksAcknowledged { .. } => "picks_acknowledged",
            Change::Packed { .. } => "packed",
            Change::ShipmentBooked { .. } => "shipment_booked",
            Change::Shipped { .. } => "shipped",
            Change::CarrierScanned { .. } => "carrier_scanned",
            Change::Delivered { .. } => "delivered",
            Change::Delayed { .. } => "delayed",
            Change::Cancelled { .. } => "cancelled",
            Change::ReturnApproved { .. } => "return_approved",
            Change::ReturnReceived { .. } => "return_received",
            Change::RefundIssued { .. } => "refund_issued",
            Change::ShipmentsCancelled { .. } => "shipments_cancelled",
            Change::DeliveryFailed { .. } => "delivery_failed",
            Change::ExceptionAnswered { .. } => "exception_answered",
            Change::ReturningToOrigin { .. } => "returning_to_origin",
            Change::ReturnedToOrigin { .. } => "returned_to_origin",
            Change::ReturnScanned { .. } => "return_scanned",
            Change::PickPackLate { .. } => "pick_pack_late",
        }
    }
}
