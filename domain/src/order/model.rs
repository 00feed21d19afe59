//! What an order is: the `Order` snapshot and its parts (customer, lines, payment, stock,
//! shipments, return, cancellation), its `Status`, and the `Cause` of a change.
//!
//! These are the types `evolve` builds and `decide` reads; they are stored as the order's
//! snapshot, so their serialized form is part of the stored data.

use crate::ids::{Sku, WarehouseId};
use crate::money::{Currency, Money};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub type OrderId = Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Storefront,
    Warehouse,
    Carrier(String),
    Admin,
    InventoryActor,
    CarrierActor,
    PaymentTimer,
    /// The timer that checks a shipment's delivery promise.
    PromiseTimer,
    /// The timer that sends a shipment back to origin when its delivery exception went
    /// unanswered.
    ExceptionTimer,
    /// The timer that checks a warehouse's pick-and-pack deadline.
    DeadlineTimer,
    /// The customer, through the order's tracking token.
    Customer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// The channel the customer prefers to be told on (`None`: the shop's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<ContactChannel>,
    /// Channels the customer is not to be told on, whatever the routes say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub opt_out: Vec<ContactChannel>,
}

/// A way a customer is told things: what a customer may prefer, or opt out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactChannel {
    Email,
    Sms,
    Whatsapp,
}

impl ContactChannel {
    pub const ALL: [ContactChannel; 3] = [
        ContactChannel::Email,
        ContactChannel::Sms,
        ContactChannel::Whatsapp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContactChannel::Email => "email",
            ContactChannel::Sms => "sms",
            ContactChannel::Whatsapp => "whatsapp",
        }
    }

    /// Whether it needs the customer's phone number.
    pub fn needs_phone(self) -> bool {
        self != ContactChannel::Email
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipping {
    /// Shipping method asked for by the storefront (e.g. `standard`, `express`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub address: Address,
    /// What the order weighs, as the storefront weighed its cart: the weight carrier rules and
    /// prices see before the parcels are packed (absent: 0, the lightest band).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_grams: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Card,
    Cod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialPaymentStatus {
    Pending,
    Authorized,
    Captured,
}

/// The payment status a storefront may report later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub method: PaymentMethod,
    pub status: PaymentStatus,
    /// Amount authorized or captured, in minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub sku: Sku,
    pub quantity: u32,
    /// Price of one unit in minor units of the order's currency.
    pub unit_price: i64,
}

/// A sku and a number of units, used by picks, reservations and returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineQty {
    pub sku: Sku,
    pub quantity: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockState {
    /// Reservation asked of the inventory actor, no answer yet.
    Pending,
    Reserved,
    /// Some lines wait for stock (backordered); what was available is held. The order confirms
    /// by itself once the rest arrives.
    Backordered,
    /// The inventory could not cover every line.
    Unavailable,
    /// The reservation was given back (cancellation).
    Released,
    /// The reserved units left the warehouse (hand-over).
    Committed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shortage {
    pub sku: Sku,
    pub requested: u32,
    pub available: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parcel {
    pub weight_grams: u32,
}

/// What the carrier actor returns when it books a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub carrier: String,
    pub carrier_name: String,
    pub service: String,
    pub tracking_number: String,
    /// The last day of `promise` (of the window, since bookings carried one).
    pub estimated_delivery: NaiveDate,
    /// What the service costs for these parcels (absent: it has no rate table, or the booking
    /// was recorded before prices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    /// The carrier rule that chose it (absent: no rules configured, the fastest was taken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The delivery window from the booking on: the shipment's promise, revised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promise: Option<Promise>,
    /// Where the carrier's own label is (an HTTP carrier's answer; the built-in one has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_url: Option<String>,
}

/// The window of local dates a shipment should arrive in, and the time zone they are dates in
/// (its warehouse's): the promise is broken once `latest` is over there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promise {
    pub earliest: NaiveDate,
    pub latest: NaiveDate,
    pub time_zone: String,
}

impl Promise {
    /// The moment the promise is broken: the start of the day after `latest`, in its time zone
    /// (UTC if the zone is unknown, which a configured warehouse's never is).
    pub fn broken_at(&self) -> DateTime<Utc> {
        use chrono::TimeZone;
        let next = self.latest.succ_opt().unwrap_or(self.latest);
        let midnight = next.and_time(chrono::NaiveTime::MIN);
        match self.time_zone.parse::<chrono_tz::Tz>() {
            Ok(tz) => tz
                .from_local_datetime(&midnight)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                // Midnight skipped by a clock change: an hour later exists.
                .unwrap_or_else(|| midnight.and_utc()),
            Err(_) => midnight.and_utc(),
        }
    }
}

/// How a shipment is to travel, as worked out when its stock was allocated: the carrier
/// service the rules chose, what it costs, and the window it promises. Revised by the booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryPlan {
    pub carrier: String,
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub promise: Promise,
}

/// The one tracking vocabulary every carrier's events are mapped onto (through its
/// `tracking_codes` table when it reports its own codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CarrierEventKind {
    InTransit,
    OutForDelivery,
    Delivered,
    FailedAttempt,
    Exception,
    /// The carrier has the shipment's data, not yet the parcel.
    InfoReceived,
    PickedUp,
    /// Waiting at a pick-up point.
    AvailableForPickup,
    ReturnedToSender,
    /// A code the carrier's table does not map: recorded with its raw code, changes nothing.
    Unknown,
}

impl CarrierEventKind {
    pub const ALL: [CarrierEventKind; 10] = [
        CarrierEventKind::InfoReceived,
        CarrierEventKind::PickedUp,
        CarrierEventKind::InTransit,
        CarrierEventKind::OutForDelivery,
        CarrierEventKind::FailedAttempt,
        CarrierEventKind::AvailableForPickup,
        CarrierEventKind::Exception,
        CarrierEventKind::Delivered,
        CarrierEventKind::ReturnedToSender,
        CarrierEventKind::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CarrierEventKind::InfoReceived => "info_received",
            CarrierEventKind::PickedUp => "picked_up",
            CarrierEventKind::InTransit => "in_transit",
            CarrierEventKind::OutForDelivery => "out_for_delivery",
            CarrierEventKind::FailedAttempt => "failed_attempt",
            CarrierEventKind::AvailableForPickup => "available_for_pickup",
            CarrierEventKind::Exception => "exception",
            CarrierEventKind::Delivered => "delivered",
            CarrierEventKind::ReturnedToSender => "returned_to_sender",
            CarrierEventKind::Unknown => "unknown",
        }
    }

    /// Whether the carrier has the parcel in hand when it reports this: the first such scan
    /// of a packed shipment ships it (the hand-over was not reported).
    pub fn means_in_hand(self) -> bool {
        !matches!(
            self,
            CarrierEventKind::InfoReceived | CarrierEventKind::Unknown
        )
    }
}

/// Where a shipment stands. Shipments only move forward; a cancelled one stays cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    /// Its stock is reserved at its warehouse; to be picked and packed.
    Allocated,
    Packed,
    Shipped,
    Delivered,
    Cancelled,
    /// Not delivered: the carrier takes it back to its warehouse.
    Returning,
    /// Back at its warehouse and received into stock.
    Returned,
}

impl ShipmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentStatus::Allocated => "allocated",
            ShipmentStatus::Packed => "packed",
            ShipmentStatus::Shipped => "shipped",
            ShipmentStatus::Delivered => "delivered",
            ShipmentStatus::Cancelled => "cancelled",
            ShipmentStatus::Returning => "returning",
            ShipmentStatus::Returned => "returned",
        }
    }

    /// Position along a shipment's path (never decreases): allocated, packed, shipped, then
    /// one of its ends (delivered; returning, then returned; cancelled).
    pub fn rank(self) -> u8 {
        match self {
            ShipmentStatus::Allocated => 0,
            ShipmentStatus::Packed => 1,
            ShipmentStatus::Shipped => 2,
            ShipmentStatus::Delivered | ShipmentStatus::Returning => 3,
            ShipmentStatus::Returned => 4,
            ShipmentStatus::Cancelled => 5,
        }
    }

    /// The order status a shipment in this status stands for (an order is as far along as
    /// its least advanced open shipment).
    fn order_status(self) -> Option<Status> {
        match self {
            ShipmentStatus::Allocated => Some(Status::Confirmed),
            ShipmentStatus::Packed => Some(Status::Packed),
            ShipmentStatus::Shipped => Some(Status::Shipped),
            ShipmentStatus::Delivered => Some(Status::Delivered),
            // On its way back, it is still with the carrier.
            ShipmentStatus::Returning => Some(Status::Shipped),
            ShipmentStatus::Cancelled | ShipmentStatus::Returned => None,
        }
    }

    /// Handed over to the carrier (shipped, delivered, or sent back after that).
    pub fn is_handed_over(self) -> bool {
        matches!(
            self,
            ShipmentStatus::Shipped
                | ShipmentStatus::Delivered
                | ShipmentStatus::Returning
                | ShipmentStatus::Returned
        )
    }
}

/// One line of a shipment: units of a sku sent from the shipment's warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentLine {
    pub sku: Sku,
    pub quantity: u32,
    /// Units the warehouse has acknowledged as picked.
    #[serde(default)]
    pub picked: u32,
}

/// The part of an order served from one warehouse: its own lines, picks, parcels, carrier
/// booking, scans and status. An order has one shipment per warehouse it is allocated to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    /// 1, 2, … within the order.
    pub id: u32,
    pub warehouse: WarehouseId,
    pub lines: Vec<ShipmentLine>,
    pub status: ShipmentStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parcels: Vec<Parcel>,
    /// The carrier's booking: carrier, tracking number, label, estimated day. Its service's
    /// price, rule and window are the `plan`'s (the `shipment_booked` event has them all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking: Option<Booking>,
    /// The latest carrier scan by occurrence time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan: Option<CarrierEventKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// How it is to travel and when it should arrive (absent: allocated before promises, or
    /// no carrier service could take it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<DeliveryPlan>,
    /// Its promise passed before it was delivered (recorded once).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delayed: bool,
    /// Failed delivery attempts the carrier reported.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// The latest failed delivery and what was answered (open while `answer` is `None` and the
    /// shipment is shipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<DeliveryException>,
    /// Why and when it went back to its warehouse, and when it arrived there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to_origin: Option<ReturnToOrigin>,
    /// Its warehouse's pick-and-pack deadline passed before it was packed (recorded once).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pick_pack_late: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Why a carrier could not deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    CustomerNotAvailable,
    AddressProblem,
    Refused,
    CashNotReady,
    Other,
}

impl FailureReason {
    pub const ALL: [FailureReason; 5] = [
        FailureReason::CustomerNotAvailable,
        FailureReason::AddressProblem,
        FailureReason::Refused,
        FailureReason::CashNotReady,
        FailureReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::CustomerNotAvailable => "customer_not_available",
            FailureReason::AddressProblem => "address_problem",
            FailureReason::Refused => "refused",
            FailureReason::CashNotReady => "cash_not_ready",
            FailureReason::Other => "other",
        }
    }
}

/// What is to happen to a shipment after a failed delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ExceptionAnswer {
    /// Try again, on `date` if given (a local date at the destination), with notes for the
    /// driver (e.g. where to leave it, a corrected door number).
    Reattempt {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        date: Option<NaiveDate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<String>,
    },
    /// Bring it back to its warehouse.
    ReturnToOrigin,
}

/// A delivery exception: opened by a failed attempt, answered by the shop or the customer,
/// or (unanswered by `answer_by`) closed by sending the parcel back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryException {
    pub reason: FailureReason,
    /// Which failed attempt opened it (1, 2, …).
    pub attempt: u32,
    pub opened_at: DateTime<Utc>,
    pub answer_by: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<ExceptionAnswer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<DateTime<Utc>>,
}

/// A shipment on its way back to its warehouse (or back there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnToOrigin {
    pub reason: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
}

/// Policy for failed deliveries: how long an exception waits for an answer, and after how
/// many failed attempts the parcel goes back without asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionPolicy {
    pub answer_within_secs: i64,
    pub max_attempts: u32,
}

impl Default for ExceptionPolicy {
    fn default() -> Self {
        ExceptionPolicy {
            answer_within_secs: 48 * 3600,
            max_attempts: 3,
        }
    }
}

impl Shipment {
    /// The delivery exception waiting for an answer, if any.
    pub fn open_exception(&self) -> Option<&DeliveryException> {
        self.exception
            .as_ref()
            .filter(|e| e.answer.is_none() && self.status == ShipmentStatus::Shipped)
    }

    pub fn fully_picked(&self) -> bool {
        self.lines.iter().all(|l| l.picked == l.quantity)
    }

    pub fn line(&self, sku: &str) -> Option<&ShipmentLine> {
        self.lines.iter().find(|l| l.sku == sku)
    }

    /// The shipment's lines as sku and quantity.
    pub fn line_qtys(&self) -> Vec<LineQty> {
        self.lines
            .iter()
            .map(|l| LineQty {
                sku: l.sku.clone(),
                quantity: l.quantity,
            })
            .collect()
    }
}

/// Where some of an order's lines are served from: the plan of one shipment, as allocation
/// decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub shipment: u32,
    pub warehouse: WarehouseId,
    pub lines: Vec<LineQty>,
    /// Its carrier and promise, worked out as it was allocated (absent before promises, and
    /// when no service can take it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<DeliveryPlan>,
}

/// Which shipment a warehouse command is for: named by id, or (the order-level routes) the
/// order's open shipment at a warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentRef {
    Id(u32),
    At(WarehouseId),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The return parcel as its carrier reported it (absent until its first scan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parcel: Option<ReturnParcel>,
}

/// Where a return parcel stands, from its carrier's scans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnParcel {
    pub status: ReturnParcelStatus,
    pub carrier: String,
    pub last_scan: CarrierEventKind,
    pub last_scan_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_location: Option<String>,
}

/// A return parcel's way back: in transit, then delivered to the warehouse (which then
/// receives it: the order's `return_received`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnParcelStatus {
    InTransit,
    Delivered,
}

impl ReturnParcelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnParcelStatus::InTransit => "in_transit",
            ReturnParcelStatus::Delivered => "delivered",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    pub reason: String,
    pub at: DateTime<Utc>,
    pub by: Cause,
}

/// An order as stored (the snapshot) and as decided upon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shortages: Vec<Shortage>,
    /// Units waiting for stock while the order is backordered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backordered: Vec<LineQty>,
    /// The order's own say on being split across warehouses, as placed (`None`: the shop's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_split: Option<bool>,
    /// One per warehouse the order is allocated to, numbered from 1; none before allocation.
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

    pub(super) fn is_paid_enough(&self) -> bool {
        self.payment.method == PaymentMethod::Cod || self.payment.status.is_secured()
    }

    pub(super) fn line(&self, sku: &str) -> Option<&Line> {
        self.lines.iter().find(|l| l.sku == sku)
    }

    /// The order's lines as sku and quantity.
    pub fn line_qtys(&self) -> Vec<LineQty> {
        self.lines
            .iter()
            .map(|l| LineQty {
                sku: l.sku.clone(),
                quantity: l.quantity,
            })
            .collect()
    }

    pub fn shipment(&self, id: u32) -> Option<&Shipment> {
        self.shipments.iter().find(|s| s.id == id)
    }

    /// The shipments not cancelled.
    pub fn open_shipments(&self) -> impl Iterator<Item = &Shipment> {
        self.shipments
            .iter()
            .filter(|s| s.status != ShipmentStatus::Cancelled)
    }

    /// The window the order is promised: when its last open shipment should arrive (the
    /// latest of its shipments' earliest days, and of their latest); `None` before any
    /// shipment has a plan.
    pub fn promised_window(&self) -> Option<(NaiveDate, NaiveDate)> {
        self.open_shipments()
            .filter_map(|s| s.plan.as_ref().map(|p| &p.promise))
            .fold(None, |acc, p| match acc {
                None => Some((p.earliest, p.latest)),
                Some((e, l)) => Some((e.max(p.earliest), l.max(p.latest))),
            })
    }

    /// The first booking (the only one of a one-shipment order).
    pub fn booking(&self) -> Option<&Booking> {
        self.shipments.iter().find_map(|s| s.booking.as_ref())
    }

    /// What was paid and not yet refunded, in minor units (an unpaid cash-on-delivery order:
    /// nothing).
    pub fn refundable(&self) -> i64 {
        let paid = if self.payment.status.is_secured() {
            self.payment.amount.unwrap_or_else(|| self.total().amount)
        } else {
            0
        };
        let refunded = self.refunded.map(|m| m.amount).unwrap_or(0);
        (paid - refunded).max(0)
    }

    /// The shipment booked under a carrier tracking number.
    pub fn shipment_by_tracking_number(&self, tn: &str) -> Option<&Shipment> {
        self.shipments
            .iter()
            .find(|s| s.booking.as_ref().is_some_and(|b| b.tracking_number == tn))
    }

    /// Units of `sku` acknowledged as picked, over every shipment.
    pub fn picked(&self, sku: &str) -> u32 {
        self.open_shipments()
            .filter_map(|s| s.line(sku))
            .map(|l| l.picked)
            .sum()
    }

    /// The status the order's shipments stand for, once it is confirmed: as far along as its
    /// least advanced open shipment. `None` when there is nothing to follow (not confirmed,
    /// closed, or no open shipment).
    pub fn status_from_shipments(&self) -> Option<Status> {
        if self.status.rank() < Status::Confirmed.rank() || self.status.is_terminal() {
            return None;
        }
        self.open_shipments()
            .filter_map(|s| s.status.order_status())
            .min_by_key(|s| s.rank())
    }

    pub(super) fn refund_of(&self, lines: &[LineQty]) -> Money {
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
