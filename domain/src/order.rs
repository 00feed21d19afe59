//! The order state machine: `decide` turns (state, command, cause, now) into events or a typed
//! error, `evolve` folds an event into the state, and `reactions` says which messages and
//! timers follow from new events.
//!
//! This file is the single source of truth for what may happen to an order. The HTTP layer and
//! the actors never change an order any other way: they build a `Command`, ask `decide`, and
//! store the events it returns.

use super::money::{Currency, Money};
use super::shipping;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub type OrderId = Uuid;

/// Upper bounds on anything a client can make an order hold, so a body cannot grow state
/// without limit.
pub mod limits {
    pub const MAX_LINES: usize = 100;
    pub const MAX_QUANTITY: u32 = 10_000;
    pub const MAX_UNIT_PRICE: i64 = 1_000_000_000_000;
    pub const MAX_TEXT: usize = 200;
    pub const MAX_REASON: usize = 500;
    pub const MAX_PARCELS: usize = 50;
    pub const MAX_PARCEL_GRAMS: u32 = 1_000_000;
    pub const MAX_CARRIER_EVENTS: usize = 500;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Placed,
    Confirmed,
    Packed,
    Shipped,
    Delivered,
    Cancelled,
    Returned,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Placed,
        Status::Confirmed,
        Status::Packed,
        Status::Shipped,
        Status::Delivered,
        Status::Cancelled,
        Status::Returned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Placed => "placed",
            Status::Confirmed => "confirmed",
            Status::Packed => "packed",
            Status::Shipped => "shipped",
            Status::Delivered => "delivered",
            Status::Cancelled => "cancelled",
            Status::Returned => "returned",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Cancelled and returned orders never change status again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Cancelled | Status::Returned)
    }

    /// Position along the forward path; an order's rank never decreases.
    pub fn rank(self) -> u8 {
        match self {
            Status::Placed => 0,
            Status::Confirmed => 1,
            Status::Packed => 2,
            Status::Shipped => 3,
            Status::Delivered => 4,
            Status::Returned => 5,
            Status::Cancelled => 6,
        }
    }
}

/// Who caused a change: a client role, or one of the engine's own actors and timers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Storefront,
    Warehouse,
    Carrier(String),
    Admin,
    InventoryActor,
    CarrierActor,
    PaymentTimer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    pub id: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code, upper case.
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Shipping {
    /// Shipping method asked for by the storefront (e.g. `standard`, `express`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub address: Address,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Card,
    Cod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Authorized,
    Captured,
    Failed,
}

impl PaymentStatus {
    pub fn is_secured(self) -> bool {
        matches!(self, PaymentStatus::Authorized | PaymentStatus::Captured)
    }
}

/// The payment status a storefront may report when placing an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InitialPaymentStatus {
    Pending,
    Authorized,
    Captured,
}

/// The payment status a storefront may report later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentUpdate {
    Authorized,
    Captured,
    Failed,
}

impl From<PaymentUpdate> for PaymentStatus {
    fn from(p: PaymentUpdate) -> Self {
        match p {
            PaymentUpdate::Authorized => PaymentStatus::Authorized,
            PaymentUpdate::Captured => PaymentStatus::Captured,
            PaymentUpdate::Failed => PaymentStatus::Failed,
        }
    }
}

impl From<InitialPaymentStatus> for PaymentStatus {
    fn from(p: InitialPaymentStatus) -> Self {
        match p {
            InitialPaymentStatus::Pending => PaymentStatus::Pending,
            InitialPaymentStatus::Authorized => PaymentStatus::Authorized,
            InitialPaymentStatus::Captured => PaymentStatus::Captured,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Payment {
    pub method: PaymentMethod,
    pub status: PaymentStatus,
    /// Amount authorized or captured, in minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Line {
    pub sku: String,
    pub quantity: u32,
    /// Price of one unit in minor units of the order's currency.
    pub unit_price: i64,
    /// Units the warehouse has acknowledged as picked.
    #[serde(default)]
    pub picked: u32,
}

/// A sku and a number of units, used by picks, reservations and returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LineQty {
    pub sku: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StockState {
    /// Reservation asked of the inventory actor, no answer yet.
    Pending,
    Reserved,
    /// The inventory could not cover every line.
    Unavailable,
    /// The reservation was given back (cancellation).
    Released,
    /// The reserved units left the warehouse (hand-over).
    Committed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Shortage {
    pub sku: String,
    pub requested: u32,
    pub available: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Parcel {
    pub weight_grams: u32,
}

/// What the carrier actor returns when it books a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Booking {
    pub carrier: String,
    pub carrier_name: String,
    pub service: String,
    pub tracking_number: String,
    pub estimated_delivery: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CarrierEventKind {
    InTransit,
    OutForDelivery,
    Delivered,
    FailedAttempt,
    Exception,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Shipment {
    pub warehouse: String,
    pub parcels: Vec<Parcel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking: Option<Booking>,
    /// The latest carrier scan by occurrence time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan: Option<CarrierEventKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReturnCase {
    pub lines: Vec<LineQty>,
    pub reason: String,
    pub approved_at: DateTime<Utc>,
    /// Tracking number printed on the return label.
    pub tracking_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_lines: Option<Vec<LineQty>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Cancellation {
    pub reason: String,
    pub at: DateTime<Utc>,
    pub by: Cause,
}

/// An order as stored (the snapshot) and as decided upon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Order {
    pub id: Uuid,
    /// Number of events applied; the sequence number of the latest event.
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    pub tracking_token: String,
    pub status: Status,
    pub customer: Customer,
    pub currency: Currency,
    pub lines: Vec<Line>,
    pub shipping: Shipping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address>,
    pub payment: Payment,
    pub stock: StockState,
    /// Warehouse holding the reservation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shortages: Vec<Shortage>,
    pub shipments: Vec<Shipment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_case: Option<ReturnCase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<Cancellation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded: Option<Money>,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When an unpaid card order is cancelled automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_due_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// Carrier event ids already applied, so a redelivered event changes nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carrier_event_ids: Vec<String>,
}

impl Order {
    pub fn total(&self) -> Money {
        Money {
            amount: self
                .lines
                .iter()
                .map(|l| l.unit_price * l.quantity as i64)
                .sum(),
            currency: self.currency,
        }
    }

    fn is_paid_enough(&self) -> bool {
        self.payment.method == PaymentMethod::Cod || self.payment.status.is_secured()
    }

    fn line(&self, sku: &str) -> Option<&Line> {
        self.lines.iter().find(|l| l.sku == sku)
    }

    pub fn fully_picked(&self) -> bool {
        self.lines.iter().all(|l| l.picked == l.quantity)
    }

    pub fn booking(&self) -> Option<&Booking> {
        self.shipments.iter().find_map(|s| s.booking.as_ref())
    }

    fn refund_of(&self, lines: &[LineQty]) -> Money {
        let amount = lines
            .iter()
            .map(|rl| {
                self.line(&rl.sku)
                    .map(|l| l.unit_price * rl.quantity as i64)
                    .unwrap_or(0)
            })
            .sum();
        Money {
            amount,
            currency: self.currency,
        }
    }
}

/// A validated request to place an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NewOrder {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    pub customer: Customer,
    pub currency: Currency,
    pub lines: Vec<NewLine>,
    pub shipping: Shipping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address>,
    pub payment: NewPayment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NewLine {
    pub sku: String,
    pub quantity: u32,
    /// Price of one unit in minor units.
    pub unit_price: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NewPayment {
    pub method: PaymentMethod,
    pub status: InitialPaymentStatus,
}

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
    StockReserved {
        warehouse: String,
    },
    StockUnavailable {
        shortages: Vec<Shortage>,
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
        warehouse: String,
        lines: Vec<LineQty>,
    },
    Pack {
        warehouse: String,
        parcels: Vec<Parcel>,
    },
    RecordBooking {
        booking: Booking,
    },
    Handover,
    CarrierEvent {
        carrier: String,
        event_id: String,
        kind: CarrierEventKind,
        occurred_at: DateTime<Utc>,
        location: Option<String>,
    },
    RequestReturn {
        lines: Vec<LineQty>,
        reason: String,
        /// Policy: days after delivery during which a return is accepted.
        window_days: u32,
    },
    ReceiveReturn {
        warehouse: String,
        lines: Vec<LineQty>,
    },
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Place { .. } => "place",
            Command::StockReserved { .. } => "stock_reserved",
            Command::StockUnavailable { .. } => "stock_unavailable",
            Command::RecordPayment { .. } => "record_payment",
            Command::Cancel { .. } => "cancel",
            Command::PaymentTimeout => "payment_timeout",
            Command::AcknowledgePicks { .. } => "acknowledge_picks",
            Command::Pack { .. } => "pack",
            Command::RecordBooking { .. } => "record_booking",
            Command::Handover => "handover",
            Command::CarrierEvent { .. } => "carrier_event",
            Command::RequestReturn { .. } => "request_return",
            Command::ReceiveReturn { .. } => "receive_return",
        }
    }
}

/// One recorded change in an order's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub seq: u32,
    pub at: DateTime<Utc>,
    pub by: Cause,
    #[serde(flatten)]
    pub change: Change,
}

// `Placed` carries the whole new order (see `Command`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

/// Why a command was refused. Carries what the client needs to understand the refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("order not found")]
    NotFound,
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The command is well-formed but not allowed in the order's current state.
    #[error("{message}")]
    Rejected {
        status: Status,
        code: &'static str,
        message: String,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> DomainError {
    DomainError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

fn rejected(order: &Order, code: &'static str, message: impl Into<String>) -> DomainError {
    DomainError::Rejected {
        status: order.status,
        code,
        message: message.into(),
    }
}

fn text(field: &str, value: &str, required: bool, max: usize) -> Result<(), DomainError> {
    if required && value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn opt_text(field: &str, value: &Option<String>, max: usize) -> Result<(), DomainError> {
    value
        .as_deref()
        .map_or(Ok(()), |v| text(field, v, false, max))
}

fn validate_address(prefix: &str, a: &Address) -> Result<(), DomainError> {
    text(&format!("{prefix}.name"), &a.name, true, limits::MAX_TEXT)?;
    text(&format!("{prefix}.line1"), &a.line1, true, limits::MAX_TEXT)?;
    opt_text(&format!("{prefix}.line2"), &a.line2, limits::MAX_TEXT)?;
    text(&format!("{prefix}.city"), &a.city, true, limits::MAX_TEXT)?;
    text(&format!("{prefix}.postal_code"), &a.postal_code, true, 20)?;
    if a.country.len() != 2 || !a.country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(
            format!("{prefix}.country"),
            "must be an ISO 3166-1 alpha-2 code in upper case, e.g. NL",
        ));
    }
    Ok(())
}

fn validate_sku(field: &str, sku: &str) -> Result<(), DomainError> {
    text(field, sku, true, 64)?;
    if sku.contains('/') || sku.chars().any(char::is_whitespace) {
        return Err(invalid(field, "must not contain '/' or white space"));
    }
    Ok(())
}

impl NewOrder {
    /// Checks everything about a new order that does not depend on stored state.
    pub fn validate(&self) -> Result<(), DomainError> {
        opt_text("external_ref", &self.external_ref, limits::MAX_TEXT)?;
        text("customer.id", &self.customer.id, true, limits::MAX_TEXT)?;
        text("customer.email", &self.customer.email, true, 254)?;
        let email = &self.customer.email;
        match email.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') => {}
            _ => return Err(invalid("customer.email", "must be an email address")),
        }
        opt_text("customer.phone", &self.customer.phone, 32)?;
        opt_text("customer.locale", &self.customer.locale, 35)?;
        if self.lines.is_empty() {
            return Err(invalid("lines", "an order needs at least one line"));
        }
        if self.lines.len() > limits::MAX_LINES {
            return Err(invalid(
                "lines",
                format!("at most {} lines per order", limits::MAX_LINES),
            ));
        }
        let mut total: i64 = 0;
        for (i, l) in self.lines.iter().enumerate() {
            validate_sku(&format!("lines[{i}].sku"), &l.sku)?;
            if self.lines[..i].iter().any(|o| o.sku == l.sku) {
                return Err(invalid(
                    format!("lines[{i}].sku"),
                    format!("sku '{}' appears twice", l.sku),
                ));
            }
            if l.quantity == 0 || l.quantity > limits::MAX_QUANTITY {
                return Err(invalid(
                    format!("lines[{i}].quantity"),
                    format!("must be between 1 and {}", limits::MAX_QUANTITY),
                ));
            }
            if l.unit_price < 0 || l.unit_price > limits::MAX_UNIT_PRICE {
                return Err(invalid(
                    format!("lines[{i}].unit_price"),
                    "must be a non-negative amount in minor units",
                ));
            }
            total = l
                .unit_price
                .checked_mul(l.quantity as i64)
                .and_then(|t| t.checked_add(total))
                .ok_or_else(|| invalid("lines", "order total is too large"))?;
        }
        opt_text("shipping.method", &self.shipping.method, 32)?;
        validate_address("shipping.address", &self.shipping.address)?;
        if let Some(b) = &self.billing_address {
            validate_address("billing_address", b)?;
        }
        Ok(())
    }
}

fn validate_line_qtys(order: &Order, field: &str, lines: &[LineQty]) -> Result<(), DomainError> {
    if lines.is_empty() {
        return Err(invalid(field, "at least one line is required"));
    }
    if lines.len() > limits::MAX_LINES {
        return Err(invalid(
            field,
            format!("at most {} lines", limits::MAX_LINES),
        ));
    }
    for (i, l) in lines.iter().enumerate() {
        if order.line(&l.sku).is_none() {
            return Err(invalid(
                format!("{field}[{i}].sku"),
                format!("sku '{}' is not on this order", l.sku),
            ));
        }
        if lines[..i].iter().any(|o| o.sku == l.sku) {
            return Err(invalid(
                format!("{field}[{i}].sku"),
                format!("sku '{}' appears twice", l.sku),
            ));
        }
        if l.quantity == 0 {
            return Err(invalid(
                format!("{field}[{i}].quantity"),
                "must be at least 1",
            ));
        }
    }
    Ok(())
}

/// Decides what a command does to an order. Returns the events to record (possibly none, when
/// the command was already applied: redeliveries are harmless) or why it is refused.
pub fn decide(
    state: Option<&Order>,
    command: &Command,
    by: &Cause,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, DomainError> {
    let changes = match (state, command) {
        (
            None,
            Command::Place {
                id,
                tracking_token,
                order,
                payment_timeout_secs,
            },
        ) => {
            order.validate()?;
            let needs_payment = order.payment.method == PaymentMethod::Card
                && order.payment.status == InitialPaymentStatus::Pending;
            let payment_due_at =
                needs_payment.then(|| now + Duration::seconds(*payment_timeout_secs));
            vec![Change::Placed {
                id: *id,
                tracking_token: tracking_token.clone(),
                payment_due_at,
                order: order.clone(),
            }]
        }
        (None, _) => return Err(DomainError::NotFound),
        (Some(o), cmd) => decide_existing(o, cmd, now)?,
    };
    let mut version = state.map(|o| o.version).unwrap_or(0);
    let mut events: Vec<Event> = changes
        .into_iter()
        .map(|change| {
            version += 1;
            Event {
                seq: version,
                at: now,
                by: by.clone(),
                change,
            }
        })
        .collect();
    // Automatic follow-ups: decided on the state the new events lead to.
    if let Some(after) = fold(state.cloned(), &events) {
        let follow = follow_ups(&after);
        for change in follow {
            version += 1;
            events.push(Event {
                seq: version,
                at: now,
                by: by.clone(),
                change,
            });
        }
    }
    Ok(events)
}

/// Transitions that happen by themselves once their conditions hold.
fn follow_ups(o: &Order) -> Vec<Change> {
    let mut out = Vec::new();
    if o.status == Status::Placed && o.stock == StockState::Reserved && o.is_paid_enough() {
        out.push(Change::Confirmed);
    }
    out
}

fn cancellation(o: &Order, reason: String) -> Vec<Change> {
    let mut out = vec![Change::Cancelled { reason }];
    if o.payment.status == PaymentStatus::Captured {
        out.push(Change::RefundIssued { amount: o.total() });
    }
    out
}

fn decide_existing(
    o: &Order,
    cmd: &Command,
    now: DateTime<Utc>,
) -> Result<Vec<Change>, DomainError> {
    use Status::*;
    Ok(match cmd {
        Command::Place { .. } => {
            return Err(rejected(
                o,
                "already_exists",
                "an order with this id already exists",
            ))
        }
        Command::StockReserved { warehouse } => {
            if o.status != Placed || o.stock != StockState::Pending {
                // Late or repeated answer: nothing to do (a cancelled order's reservation was
                // already released, and the inventory refuses to re-reserve it).
                vec![]
            } else {
                vec![Change::StockReserved {
                    warehouse: warehouse.clone(),
                }]
            }
        }
        Command::StockUnavailable { shortages } => {
            if o.status != Placed || o.stock != StockState::Pending {
                vec![]
            } else {
                let skus: Vec<&str> = shortages.iter().map(|s| s.sku.as_str()).collect();
                let mut v = vec![Change::StockUnavailable {
                    shortages: shortages.clone(),
                }];
                v.extend(cancellation(
                    o,
                    format!("out of stock: {}", skus.join(", ")),
                ));
                v
            }
        }
        Command::RecordPayment {
            status,
            amount,
            reference,
        } => {
            if o.status.is_terminal() {
                return Err(rejected(
                    o,
                    "order_closed",
                    format!(
                        "the order is {}; no payment can be recorded",
                        o.status.as_str()
                    ),
                ));
            }
            text("reference", reference, true, limits::MAX_TEXT)?;
            let new: PaymentStatus = (*status).into();
            let current = o.payment.status;
            if new == PaymentStatus::Failed {
                if current.is_secured() {
                    return Err(rejected(
                        o,
                        "payment_already_secured",
                        format!("the payment is already {}", payment_str(current)),
                    ));
                }
            } else {
                let total = o.total();
                if *amount != total.amount {
                    return Err(invalid(
                        "amount",
                        format!(
                            "{} does not match the order total {}",
                            Money {
                                amount: *amount,
                                currency: o.currency
                            },
                            total
                        ),
                    ));
                }
            }
            let no_op = current == new
                && o.payment.reference.as_deref() == Some(reference.as_str())
                || current == PaymentStatus::Captured && new == PaymentStatus::Authorized;
            if no_op {
                vec![]
            } else {
                vec![Change::PaymentRecorded {
                    status: new,
                    amount: *amount,
                    reference: reference.clone(),
                }]
            }
        }
        Command::Cancel { reason } => {
            text("reason", reason, true, limits::MAX_REASON)?;
            match o.status {
                Placed | Confirmed | Packed => cancellation(o, reason.clone()),
                Shipped | Delivered => {
                    return Err(rejected(o, "cancel_not_allowed", format!("the order is already {}; it can no longer be cancelled — request a return once it is delivered", o.status.as_str())))
                }
                Cancelled => return Err(rejected(o, "cancel_not_allowed", "the order is already cancelled")),
                Returned => return Err(rejected(o, "cancel_not_allowed", "the order was returned; it can no longer be cancelled")),
            }
        }
        Command::PaymentTimeout => {
            let due = o.payment_due_at.is_some_and(|d| d <= now);
            if o.status == Placed && due && !o.is_paid_enough() {
                cancellation(o, "payment not received in time".to_string())
            } else {
                vec![]
            }
        }
        Command::AcknowledgePicks { warehouse, lines } => {
            if o.status != Confirmed {
                return Err(rejected(
                    o,
                    "picks_not_allowed",
                    format!(
                        "picks are acknowledged for confirmed orders; this order is {}",
                        o.status.as_str()
                    ),
                ));
            }
            check_warehouse(o, warehouse)?;
            validate_line_qtys(o, "lines", lines)?;
            for l in lines {
                let line = o.line(&l.sku).expect("validated above");
                if line.picked as u64 + l.quantity as u64 > line.quantity as u64 {
                    return Err(rejected(
                        o,
                        "over_pick",
                        format!(
                            "sku '{}': {} picked + {} exceeds the {} ordered",
                            l.sku, line.picked, l.quantity, line.quantity
                        ),
                    ));
                }
            }
            vec![Change::PicksAcknowledged {
                warehouse: warehouse.clone(),
                lines: lines.clone(),
            }]
        }
        Command::Pack { warehouse, parcels } => {
            if o.status != Confirmed {
                return Err(rejected(
                    o,
                    "pack_not_allowed",
                    format!(
                        "only confirmed orders can be packed; this order is {}",
                        o.status.as_str()
                    ),
                ));
            }
            check_warehouse(o, warehouse)?;
            if parcels.is_empty() || parcels.len() > limits::MAX_PARCELS {
                return Err(invalid(
                    "parcels",
                    format!("between 1 and {} parcels", limits::MAX_PARCELS),
                ));
            }
            if let Some(i) = parcels
                .iter()
                .position(|p| p.weight_grams == 0 || p.weight_grams > limits::MAX_PARCEL_GRAMS)
            {
                return Err(invalid(
                    format!("parcels[{i}].weight_grams"),
                    format!("must be between 1 and {}", limits::MAX_PARCEL_GRAMS),
                ));
            }
            if !o.fully_picked() {
                let missing: Vec<String> = o
                    .lines
                    .iter()
                    .filter(|l| l.picked < l.quantity)
                    .map(|l| format!("{} ({} of {} picked)", l.sku, l.picked, l.quantity))
                    .collect();
                return Err(rejected(
                    o,
                    "not_fully_picked",
                    format!(
                        "every line must be picked before packing: {}",
                        missing.join(", ")
                    ),
                ));
            }
            vec![Change::Packed {
                warehouse: warehouse.clone(),
                parcels: parcels.clone(),
            }]
        }
        Command::RecordBooking { booking } => {
            let unbooked = o.shipments.iter().any(|s| s.booking.is_none());
            if o.status == Packed && unbooked {
                vec![Change::ShipmentBooked {
                    booking: booking.clone(),
                }]
            } else {
                vec![]
            }
        }
        Command::Handover => match o.status {
            Packed if o.booking().is_some() => vec![Change::Shipped],
            Packed => {
                return Err(rejected(
                    o,
                    "label_not_ready",
                    "the carrier booking is not complete yet; try again shortly",
                ))
            }
            _ => {
                return Err(rejected(
                    o,
                    "handover_not_allowed",
                    format!(
                        "only packed orders can be handed over; this order is {}",
                        o.status.as_str()
                    ),
                ))
            }
        },
        Command::CarrierEvent {
            carrier,
            event_id,
            kind,
            occurred_at,
            location,
        } => {
            text("event_id", event_id, true, 128)?;
            opt_text("location", location, limits::MAX_TEXT)?;
            let Some(booking) = o.booking() else {
                return Err(rejected(
                    o,
                    "no_shipment",
                    "the order has no booked shipment",
                ));
            };
            if &booking.carrier != carrier {
                return Err(rejected(
                    o,
                    "wrong_carrier",
                    format!("the shipment is with carrier '{}'", booking.carrier),
                ));
            }
            if o.carrier_event_ids.iter().any(|e| e == event_id) || o.status.is_terminal() {
                return Ok(vec![]);
            }
            if o.carrier_event_ids.len() >= limits::MAX_CARRIER_EVENTS {
                return Err(rejected(
                    o,
                    "too_many_events",
                    "this shipment has too many carrier events",
                ));
            }
            let mut v = Vec::new();
            if o.status == Packed {
                v.push(Change::Shipped);
            }
            v.push(Change::CarrierScanned {
                carrier: carrier.clone(),
                event_id: event_id.clone(),
                kind: *kind,
                occurred_at: *occurred_at,
                location: location.clone(),
            });
            if *kind == CarrierEventKind::Delivered && matches!(o.status, Packed | Shipped) {
                v.push(Change::Delivered);
            }
            v
        }
        Command::RequestReturn {
            lines,
            reason,
            window_days,
        } => {
            if o.status != Delivered {
                return Err(rejected(
                    o,
                    "return_not_allowed",
                    format!(
                        "returns are accepted for delivered orders; this order is {}",
                        o.status.as_str()
                    ),
                ));
            }
            if o.return_case.is_some() {
                return Err(rejected(
                    o,
                    "return_exists",
                    "a return was already approved for this order",
                ));
            }
            let delivered = o.delivered_at.unwrap_or(o.updated_at);
            let closes = delivered + Duration::days(*window_days as i64);
            if now > closes {
                return Err(rejected(
                    o,
                    "return_window_closed",
                    format!(
                        "the {window_days}-day return window closed at {}",
                        closes.to_rfc3339()
                    ),
                ));
            }
            text("reason", reason, true, limits::MAX_REASON)?;
            validate_line_qtys(o, "lines", lines)?;
            for l in lines {
                let line = o.line(&l.sku).expect("validated above");
                if l.quantity > line.quantity {
                    return Err(invalid(
                        "lines",
                        format!(
                            "sku '{}': {} exceeds the {} delivered",
                            l.sku, l.quantity, line.quantity
                        ),
                    ));
                }
            }
            vec![Change::ReturnApproved {
                lines: lines.clone(),
                reason: reason.clone(),
                tracking_number: shipping::return_tracking_number(o.id),
            }]
        }
        Command::ReceiveReturn { warehouse, lines } => {
            let Some(rc) = o.return_case.as_ref().filter(|_| o.status == Delivered) else {
                return Err(rejected(
                    o,
                    "no_open_return",
                    format!(
                        "there is no approved return awaiting receipt; the order is {}",
                        o.status.as_str()
                    ),
                ));
            };
            text("warehouse", warehouse, true, 64)?;
            validate_line_qtys(o, "lines", lines)?;
            for l in lines {
                let approved = rc
                    .lines
                    .iter()
                    .find(|a| a.sku == l.sku)
                    .map(|a| a.quantity)
                    .unwrap_or(0);
                if l.quantity > approved {
                    return Err(invalid(
                        "lines",
                        format!(
                            "sku '{}': {} received but {} approved for return",
                            l.sku, l.quantity, approved
                        ),
                    ));
                }
            }
            vec![
                Change::ReturnReceived {
                    warehouse: warehouse.clone(),
                    lines: lines.clone(),
                },
                Change::RefundIssued {
                    amount: o.refund_of(lines),
                },
            ]
        }
    })
}

fn payment_str(p: PaymentStatus) -> &'static str {
    match p {
        PaymentStatus::Pending => "pending",
        PaymentStatus::Authorized => "authorized",
        PaymentStatus::Captured => "captured",
        PaymentStatus::Failed => "failed",
    }
}

fn check_warehouse(o: &Order, warehouse: &str) -> Result<(), DomainError> {
    match o.warehouse.as_deref() {
        Some(w) if w == warehouse => Ok(()),
        Some(w) => Err(rejected(
            o,
            "wrong_warehouse",
            format!("the order's stock is reserved in warehouse '{w}', not '{warehouse}'"),
        )),
        None => Err(rejected(
            o,
            "no_reservation",
            "the order has no stock reservation",
        )),
    }
}

/// Folds events into a state. Pure and total: an event that does not fit is ignored, which
/// cannot happen for histories produced by `decide`.
pub fn fold(mut state: Option<Order>, events: &[Event]) -> Option<Order> {
    for e in events {
        state = evolve(state, e);
    }
    state
}

/// Applies one event to a state.
pub fn evolve(state: Option<Order>, e: &Event) -> Option<Order> {
    let mut o = match (state, &e.change) {
        (
            None,
            Change::Placed {
                id,
                tracking_token,
                payment_due_at,
                order,
            },
        ) => {
            return Some(Order {
                id: *id,
                version: e.seq,
                external_ref: order.external_ref.clone(),
                tracking_token: tracking_token.clone(),
                status: Status::Placed,
                customer: order.customer.clone(),
                currency: order.currency,
                lines: order
                    .lines
                    .iter()
                    .map(|l| Line {
                        sku: l.sku.clone(),
                        quantity: l.quantity,
                        unit_price: l.unit_price,
                        picked: 0,
                    })
                    .collect(),
                shipping: order.shipping.clone(),
                billing_address: order.billing_address.clone(),
                payment: Payment {
                    method: order.payment.method,
                    status: order.payment.status.into(),
                    amount: None,
                    reference: None,
                },
                stock: StockState::Pending,
                warehouse: None,
                shortages: vec![],
                shipments: vec![],
                return_case: None,
                cancellation: None,
                refunded: None,
                placed_at: e.at,
                updated_at: e.at,
                payment_due_at: *payment_due_at,
                delivered_at: None,
                carrier_event_ids: vec![],
            })
        }
        (None, _) => return None,
        (Some(o), _) => o,
    };
    o.version = e.seq;
    o.updated_at = e.at;
    match &e.change {
        Change::Placed { .. } => {}
        Change::StockReserved { warehouse } => {
            o.stock = StockState::Reserved;
            o.warehouse = Some(warehouse.clone());
        }
        Change::StockUnavailable { shortages } => {
            o.stock = StockState::Unavailable;
            o.shortages = shortages.clone();
        }
        Change::PaymentRecorded {
            status,
            amount,
            reference,
        } => {
            o.payment.status = *status;
            if status.is_secured() {
                o.payment.amount = Some(*amount);
            }
            o.payment.reference = Some(reference.clone());
        }
        Change::Confirmed => o.status = Status::Confirmed,
        Change::PicksAcknowledged { lines, .. } => {
            for pl in lines {
                if let Some(l) = o.lines.iter_mut().find(|l| l.sku == pl.sku) {
                    l.picked = (l.picked + pl.quantity).min(l.quantity);
                }
            }
        }
        Change::Packed { warehouse, parcels } => {
            o.status = Status::Packed;
            o.shipments.push(Shipment {
                warehouse: warehouse.clone(),
                parcels: parcels.clone(),
                booking: None,
                last_scan: None,
                last_scan_at: None,
                last_location: None,
            });
        }
        Change::ShipmentBooked { booking } => {
            if let Some(s) = o.shipments.iter_mut().find(|s| s.booking.is_none()) {
                s.booking = Some(booking.clone());
            }
        }
        Change::Shipped => {
            o.status = Status::Shipped;
            if o.stock == StockState::Reserved {
                o.stock = StockState::Committed;
            }
        }
        Change::CarrierScanned {
            event_id,
            kind,
            occurred_at,
            location,
            ..
        } => {
            o.carrier_event_ids.push(event_id.clone());
            if let Some(s) = o.shipments.iter_mut().find(|s| s.booking.is_some()) {
                // Out-of-order events are recorded but do not overwrite a newer scan.
                if s.last_scan_at.is_none_or(|t| *occurred_at >= t) {
                    s.last_scan = Some(*kind);
                    s.last_scan_at = Some(*occurred_at);
                    if location.is_some() {
                        s.last_location = location.clone();
                    }
                }
            }
        }
        Change::Delivered => {
            o.status = Status::Delivered;
            o.delivered_at = Some(e.at);
        }
        Change::Cancelled { reason } => {
            o.status = Status::Cancelled;
            if o.stock == StockState::Reserved || o.stock == StockState::Pending {
                o.stock = StockState::Released;
            }
            o.cancellation = Some(Cancellation {
                reason: reason.clone(),
                at: e.at,
                by: e.by.clone(),
            });
        }
        Change::ReturnApproved {
            lines,
            reason,
            tracking_number,
        } => {
            o.return_case = Some(ReturnCase {
                lines: lines.clone(),
                reason: reason.clone(),
                approved_at: e.at,
                tracking_number: tracking_number.clone(),
                received_at: None,
                received_lines: None,
                refund: None,
            });
        }
        Change::ReturnReceived { lines, .. } => {
            o.status = Status::Returned;
            if let Some(rc) = o.return_case.as_mut() {
                rc.received_at = Some(e.at);
                rc.received_lines = Some(lines.clone());
            }
        }
        Change::RefundIssued { amount } => {
            o.refunded = Some(*amount);
            if let Some(rc) = o.return_case.as_mut().filter(|rc| rc.received_at.is_some()) {
                rc.refund = Some(*amount);
            }
        }
    }
    Some(o)
}

/// Customer-visible moments that produce a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    Confirmed,
    Shipped,
    OutForDelivery,
    Delivered,
    Cancelled,
    ReturnApproved,
    Refunded,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Confirmed => "confirmed",
            NotificationKind::Shipped => "shipped",
            NotificationKind::OutForDelivery => "out_for_delivery",
            NotificationKind::Delivered => "delivered",
            NotificationKind::Cancelled => "cancelled",
            NotificationKind::ReturnApproved => "return_approved",
            NotificationKind::Refunded => "refunded",
        }
    }
}

/// A message one actor sends another because of an event. `step` is the sequence number of
/// the event that caused it: (order id, step, action) identifies the message, so a receiver
/// can recognise a redelivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effect {
    pub order_id: OrderId,
    pub step: u32,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    ReserveStock {
        lines: Vec<LineQty>,
    },
    ReleaseStock,
    CommitStock,
    BookShipment {
        warehouse: String,
        parcels: Vec<Parcel>,
        country: String,
        method: Option<String>,
    },
    Restock {
        warehouse: String,
        lines: Vec<LineQty>,
    },
    Notify {
        kind: NotificationKind,
    },
}

impl Action {
    /// Short stable name, part of the message's identity.
    pub fn name(&self) -> &'static str {
        match self {
            Action::ReserveStock { .. } => "reserve_stock",
            Action::ReleaseStock => "release_stock",
            Action::CommitStock => "commit_stock",
            Action::BookShipment { .. } => "book_shipment",
            Action::Restock { .. } => "restock",
            Action::Notify { kind } => kind.as_str(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    PaymentDue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub order_id: OrderId,
    pub kind: TimerKind,
    pub due: DateTime<Utc>,
}

/// Messages and timer changes that follow from newly recorded events.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reactions {
    pub effects: Vec<Effect>,
    pub set_timers: Vec<Timer>,
    pub clear_timers: Vec<Timer>,
}

/// Works out the reactions to `events`, given the order as it stands after them.
pub fn reactions(after: &Order, events: &[Event]) -> Reactions {
    let mut r = Reactions::default();
    let id = after.id;
    let effect = |step, action| Effect {
        order_id: id,
        step,
        action,
    };
    let payment_timer = after.payment_due_at.map(|due| Timer {
        order_id: id,
        kind: TimerKind::PaymentDue,
        due,
    });
    for e in events {
        let step = e.seq;
        match &e.change {
            Change::Placed { order, .. } => {
                r.effects.push(effect(
                    step,
                    Action::ReserveStock {
                        lines: order
                            .lines
                            .iter()
                            .map(|l| LineQty {
                                sku: l.sku.clone(),
                                quantity: l.quantity,
                            })
                            .collect(),
                    },
                ));
                r.set_timers.extend(payment_timer.clone());
            }
            Change::Confirmed => {
                r.effects.push(effect(
                    step,
                    Action::Notify {
                        kind: NotificationKind::Confirmed,
                    },
                ));
                r.clear_timers.extend(payment_timer.clone());
            }
            Change::Packed { warehouse, parcels } => r.effects.push(effect(
                step,
                Action::BookShipment {
                    warehouse: warehouse.clone(),
                    parcels: parcels.clone(),
                    country: after.shipping.address.country.clone(),
                    method: after.shipping.method.clone(),
                },
            )),
            Change::Shipped => {
                r.effects.push(effect(step, Action::CommitStock));
                r.effects.push(effect(
                    step,
                    Action::Notify {
                        kind: NotificationKind::Shipped,
                    },
                ));
            }
            Change::CarrierScanned {
                kind: CarrierEventKind::OutForDelivery,
                ..
            } => r.effects.push(effect(
                step,
                Action::Notify {
                    kind: NotificationKind::OutForDelivery,
                },
            )),
            Change::Delivered => r.effects.push(effect(
                step,
                Action::Notify {
                    kind: NotificationKind::Delivered,
                },
            )),
            Change::Cancelled { .. } => {
                if after.stock == StockState::Released {
                    r.effects.push(effect(step, Action::ReleaseStock));
                }
                r.effects.push(effect(
                    step,
                    Action::Notify {
                        kind: NotificationKind::Cancelled,
                    },
                ));
                r.clear_timers.extend(payment_timer.clone());
            }
            Change::ReturnApproved { .. } => r.effects.push(effect(
                step,
                Action::Notify {
                    kind: NotificationKind::ReturnApproved,
                },
            )),
            Change::ReturnReceived { warehouse, lines } => r.effects.push(effect(
                step,
                Action::Restock {
                    warehouse: warehouse.clone(),
                    lines: lines.clone(),
                },
            )),
            Change::RefundIssued { .. } => r.effects.push(effect(
                step,
                Action::Notify {
                    kind: NotificationKind::Refunded,
                },
            )),
            _ => {}
        }
    }
    r
}

#[cfg(test)]
#[path = "order_tests.rs"]
mod tests;
