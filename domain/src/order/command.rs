//! What a client or an actor asks of an order: the input of `decide`.

use super::model::{
    Allocation, Booking, CarrierEventKind, ExceptionAnswer, ExceptionPolicy, FailureReason,
    LineQty, Parcel, PaymentUpdate, ShipmentRef, Shortage,
};
use super::new_order::NewOrder;
use crate::ids::WarehouseId;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a client or an actor asks of an order.
// `Place` carries the whole new order; commands are built once and moved, so boxing it would
// only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    Place {
        id: Uuid,
        tracking_token: String,
        order: NewOrder,
        /// Policy: how long a card order may stay unpaid.
        payment_timeout_secs: i64,
    },
    /// The inventory allocated every line: one shipment per warehouse, and why.
    StockAllocated {
        shipments: Vec<Allocation>,
        reason: String,
    },
    /// Some lines must wait for stock (each short sku may be backordered, within its cap):
    /// `held` is what the inventory holds for the order now, `backordered` what it waits for.
    StockBackordered {
        held: Vec<Allocation>,
        backordered: Vec<LineQty>,
        reason: String,
    },
    /// The inventory could not serve every line; `reason` says why in words.
    StockUnavailable {
        shortages: Vec<Shortage>,
        reason: String,
    },
    RecordPayment {
        status: PaymentUpdate,
        amount: i64,
        reference: String,
    },
    Cancel {
        reason: String,
    },
    PaymentTimeout,
    AcknowledgePicks {
        shipment: ShipmentRef,
        lines: Vec<LineQty>,
    },
    Pack {
        shipment: ShipmentRef,
        parcels: Vec<Parcel>,
    },
    RecordBooking {
        /// `None`: the order's first packed, unbooked shipment (answers to bookings asked
        /// before shipments had ids).
        shipment: Option<u32>,
        booking: Booking,
    },
    /// Hands over one shipment, or (`None`) every packed and booked one.
    Handover {
        shipment: Option<u32>,
    },
    CarrierEvent {
        carrier: String,
        /// The tracking number the carrier reported, which names the shipment.
        tracking_number: String,
        event_id: String,
        kind: CarrierEventKind,
        occurred_at: DateTime<Utc>,
        location: Option<String>,
        /// The day the carrier now expects to deliver, if it said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        estimated_delivery: Option<NaiveDate>,
        /// The carrier's own code and text for the event, as it reported them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// Why a delivery failed, for a `failed_attempt` (absent: `other`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<FailureReason>,
        /// Policy: how long a failed delivery waits for an answer, and how many attempts
        /// before the parcel goes back by itself.
        #[serde(default)]
        exceptions: ExceptionPolicy,
    },
    /// The shop or the customer answers a shipment's delivery exception.
    AnswerException {
        shipment: u32,
        answer: ExceptionAnswer,
    },
    /// The exception timer: every shipment whose delivery exception is still unanswered at
    /// its `answer_by` goes back to origin.
    CheckExceptions,
    /// The deadline timer: these shipments were not packed by their warehouse's pick-and-pack
    /// deadline (the shell works the deadline out from the warehouse's working hours).
    CheckDeadlines {
        late: Vec<LateShipment>,
    },
    /// A shipment's promise may have passed (the promise timer): records `delayed` for each
    /// shipment whose promise is broken and not yet recorded.
    CheckPromises,
    RequestReturn {
        lines: Vec<LineQty>,
        reason: String,
        /// Policy: days after delivery during which a return is accepted.
        window_days: u32,
    },
    ReceiveReturn {
        warehouse: WarehouseId,
        lines: Vec<LineQty>,
    },
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Place { .. } => "place",
            Command::StockAllocated { .. } => "stock_allocated",
            Command::StockBackordered { .. } => "stock_backordered",
            Command::StockUnavailable { .. } => "stock_unavailable",
            Command::RecordPayment { .. } => "record_payment",
            Command::Cancel { .. } => "cancel",
            Command::PaymentTimeout => "payment_timeout",
            Command::AcknowledgePicks { .. } => "acknowledge_picks",
            Command::Pack { .. } => "pack",
            Command::RecordBooking { .. } => "record_booking",
            Command::Handover { .. } => "handover",
            Command::CarrierEvent { .. } => "carrier_event",
            Command::CheckPromises => "check_promises",
            Command::AnswerException { .. } => "answer_exception",
            Command::CheckExceptions => "check_exceptions",
            Command::CheckDeadlines { .. } => "check_deadlines",
            Command::RequestReturn { .. } => "request_return",
            Command::ReceiveReturn { .. } => "receive_return",
        }
    }
}

/// A shipment past its pick-and-pack deadline, and the deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LateShipment {
    pub shipment: u32,
    pub due: DateTime<Utc>,
}
