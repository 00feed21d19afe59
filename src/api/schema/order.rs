//! An order as clients see it, and its history.
//!
//! `Order` is the domain's snapshot minus internal bookkeeping: the list of carrier event ids
//! already applied (kept only to ignore redelivered carrier events) is not shown. Storefronts get
//! `OrderDetail` (the order, its label links and its history) from single-order calls and pages
//! of `Order` from the list.
//!
//! The history goes out as the engine hands it over ([`History`]: each event in the domain
//! event's JSON form, usually passed through from storage without being decoded), because that
//! JSON is exactly this module's [`Event`] — `wire_events_are_the_domain_events_json` (tests)
//! holds the two together for every kind of change. Should the wire `Event` ever differ, convert
//! with `Event::from` instead of passing the history through.

use super::requests::NewOrder;
use super::values::{
    Address, CarrierEventKind, Currency, Customer, LineQty, Money, Parcel, PaymentMethod,
    PaymentStatus, Shipping, Status,
};
use chrono::{DateTime, NaiveDate, Utc};
use orderly_actors::domain as d;
use orderly_actors::engine::{History, OrderView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Who caused a change: a client role, or one of Orderly's own automations.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Storefront,
    Warehouse,
    /// A carrier, by its id.
    Carrier(String),
    Admin,
    InventoryActor,
    CarrierActor,
    PaymentTimer,
    /// The timer that checks shipments' delivery promises.
    PromiseTimer,
    /// The timer that sends a parcel back when its failed delivery went unanswered.
    ExceptionTimer,
    /// The timer that checks warehouses' pick-and-pack deadlines.
    DeadlineTimer,
    /// The customer, through the order's tracking token.
    Customer,
}

impl From<d::Cause> for Cause {
    fn from(c: d::Cause) -> Self {
        match c {
            d::Cause::Storefront => Cause::Storefront,
            d::Cause::Warehouse => Cause::Warehouse,
            d::Cause::Carrier(id) => Cause::Carrier(id),
            d::Cause::Admin => Cause::Admin,
            d::Cause::InventoryActor => Cause::InventoryActor,
            d::Cause::CarrierActor => Cause::CarrierActor,
            d::Cause::PaymentTimer => Cause::PaymentTimer,
            d::Cause::PromiseTimer => Cause::PromiseTimer,
            d::Cause::ExceptionTimer => Cause::ExceptionTimer,
            d::Cause::DeadlineTimer => Cause::DeadlineTimer,
            d::Cause::Customer => Cause::Customer,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Payment {
    pub method: PaymentMethod,
    pub status: PaymentStatus,
    /// Amount authorized or captured, in minor units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl From<d::Payment> for Payment {
    fn from(p: d::Payment) -> Self {
        Payment {
            method: p.method.into(),
            status: p.status.into(),
            amount: p.amount,
            reference: p.reference,
        }
    }
}

/// An order line.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Line {
    pub sku: String,
    pub quantity: u32,
    /// Price of one unit in minor units of the order's currency.
    pub unit_price: i64,
    /// Units the warehouses have acknowledged as picked, over every shipment.
    pub picked: u32,
}

/// Where the order's stock reservation stands.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StockState {
    /// Reservation asked for, no answer yet.
    Pending,
    Reserved,
    /// Some lines wait for stock (`backordered`); the order confirms by itself once they
    /// arrive.
    Backordered,
    /// The inventory could not cover every line.
    Unavailable,
    /// The reservation was given back (cancellation).
    Released,
    /// The reserved units left the warehouse (hand-over).
    Committed,
}

impl From<d::StockState> for StockState {
    fn from(s: d::StockState) -> Self {
        match s {
            d::StockState::Pending => StockState::Pending,
            d::StockState::Reserved => StockState::Reserved,
            d::StockState::Backordered => StockState::Backordered,
            d::StockState::Unavailable => StockState::Unavailable,
            d::StockState::Released => StockState::Released,
            d::StockState::Committed => StockState::Committed,
        }
    }
}

/// A line the inventory could not cover.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Shortage {
    pub sku: String,
    pub requested: u32,
    pub available: i64,
}

impl From<d::Shortage> for Shortage {
    fn from(s: d::Shortage) -> Self {
        Shortage {
            sku: s.sku.into(),
            requested: s.requested,
            available: s.available,
        }
    }
}

/// The carrier booking of a shipment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Booking {
    pub carrier: String,
    pub carrier_name: String,
    pub service: String,
    pub tracking_number: String,
    /// The last day of `promise` (for bookings made before windows, the carrier's estimate).
    pub estimated_delivery: NaiveDate,
    /// What the service costs for these parcels (absent: no rate table). In a shipment's
    /// `booking` this, the rule and the window are on the shipment's `plan` instead; the
    /// `shipment_booked` event of the history has them here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    /// The carrier rule that chose the service (absent: no rules; the fastest was taken).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The delivery window from the booking on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promise: Option<Promise>,
    /// The carrier's own label, when it made one (an HTTP carrier).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier_label_url: Option<String>,
}

impl From<d::Booking> for Booking {
    fn from(b: d::Booking) -> Self {
        Booking {
            carrier: b.carrier,
            carrier_name: b.carrier_name,
            service: b.service,
            tracking_number: b.tracking_number,
            estimated_delivery: b.estimated_delivery,
            price: b.price.map(Into::into),
            rule: b.rule,
            promise: b.promise.map(Into::into),
            carrier_label_url: b.label_url,
        }
    }
}

/// A delivery window: local dates in the time zone of the shipment's warehouse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Promise {
    pub earliest: NaiveDate,
    pub latest: NaiveDate,
    /// IANA time zone the dates are in.
    pub time_zone: String,
}

impl From<d::Promise> for Promise {
    fn from(p: d::Promise) -> Self {
        Promise {
            earliest: p.earliest,
            latest: p.latest,
            time_zone: p.time_zone,
        }
    }
}

/// How a shipment is to travel: the carrier service the carrier rules chose, its price, the
/// rule, and the window it should arrive in. Worked out at allocation, revised by the booking
/// and by a carrier's new date.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryPlan {
    pub carrier: String,
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub promise: Promise,
}

impl From<d::DeliveryPlan> for DeliveryPlan {
    fn from(p: d::DeliveryPlan) -> Self {
        DeliveryPlan {
            carrier: p.carrier,
            service: p.service,
            price: p.price.map(Into::into),
            rule: p.rule,
            promise: p.promise.into(),
        }
    }
}

/// When an order should arrive: when its last shipment should.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Window {
    pub earliest: NaiveDate,
    pub latest: NaiveDate,
}

/// Where a shipment stands: `allocated` (stock reserved at its warehouse, to be picked and
/// packed), `packed`, `shipped`, `delivered`, `cancelled`, or after a failed delivery
/// `returning` (the carrier takes it back) and `returned` (back in stock at its warehouse).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    Allocated,
    Packed,
    Shipped,
    Delivered,
    Cancelled,
    Returning,
    Returned,
}

/// Why a carrier could not deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    CustomerNotAvailable,
    AddressProblem,
    Refused,
    CashNotReady,
    Other,
}

impl From<d::FailureReason> for FailureReason {
    fn from(r: d::FailureReason) -> Self {
        use d::FailureReason as D;
        match r {
            D::CustomerNotAvailable => FailureReason::CustomerNotAvailable,
            D::AddressProblem => FailureReason::AddressProblem,
            D::Refused => FailureReason::Refused,
            D::CashNotReady => FailureReason::CashNotReady,
            D::Other => FailureReason::Other,
        }
    }
}

impl From<FailureReason> for d::FailureReason {
    fn from(r: FailureReason) -> Self {
        use d::FailureReason as D;
        match r {
            FailureReason::CustomerNotAvailable => D::CustomerNotAvailable,
            FailureReason::AddressProblem => D::AddressProblem,
            FailureReason::Refused => D::Refused,
            FailureReason::CashNotReady => D::CashNotReady,
            FailureReason::Other => D::Other,
        }
    }
}

/// The answer to a failed delivery: `reattempt` (optionally on a local `date`, with `notes`
/// for the driver) or `return_to_origin`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ExceptionAnswer {
    Reattempt {
        #[serde(skip_serializing_if = "Option::is_none")]
        date: Option<NaiveDate>,
        #[serde(skip_serializing_if = "Option::is_none")]
        notes: Option<String>,
    },
    ReturnToOrigin,
}

impl From<d::ExceptionAnswer> for ExceptionAnswer {
    fn from(a: d::ExceptionAnswer) -> Self {
        match a {
            d::ExceptionAnswer::Reattempt { date, notes } => {
                ExceptionAnswer::Reattempt { date, notes }
            }
            d::ExceptionAnswer::ReturnToOrigin => ExceptionAnswer::ReturnToOrigin,
        }
    }
}

/// A failed delivery and its answer: open (to be answered by `answer_by`) while `answer` is
/// absent and the shipment is shipped.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryException {
    pub reason: FailureReason,
    /// Which failed attempt opened it (1, 2, …).
    pub attempt: u32,
    pub opened_at: DateTime<Utc>,
    /// Unanswered by then, the parcel goes back to its warehouse.
    pub answer_by: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<ExceptionAnswer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<DateTime<Utc>>,
    /// Whether it waits for an answer now.
    pub open: bool,
}

impl DeliveryException {
    fn of(s: &d::Shipment) -> Option<Self> {
        let open = s.open_exception().is_some();
        let x = s.exception.clone()?;
        Some(DeliveryException {
            reason: x.reason.into(),
            attempt: x.attempt,
            opened_at: x.opened_at,
            answer_by: x.answer_by,
            answer: x.answer.map(Into::into),
            answered_at: x.answered_at,
            open,
        })
    }
}

/// A shipment sent back to its warehouse: why, when, and when it arrived there.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReturnToOrigin {
    pub reason: String,
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
}

impl From<d::ReturnToOrigin> for ReturnToOrigin {
    fn from(r: d::ReturnToOrigin) -> Self {
        ReturnToOrigin {
            reason: r.reason,
            at: r.at,
            received_at: r.received_at,
        }
    }
}

/// A return parcel as its carrier reported it: `in_transit`, then `delivered` (to the
/// warehouse, whose receipt closes the return).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReturnParcel {
    #[schema(pattern = "^(in_transit|delivered)$")]
    pub status: String,
    pub carrier: String,
    pub last_scan: CarrierEventKind,
    pub last_scan_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_location: Option<String>,
}

impl From<d::ReturnParcel> for ReturnParcel {
    fn from(p: d::ReturnParcel) -> Self {
        ReturnParcel {
            status: p.status.as_str().into(),
            carrier: p.carrier,
            last_scan: p.last_scan.into(),
            last_scan_at: p.last_scan_at,
            last_location: p.last_location,
        }
    }
}

impl From<d::ShipmentStatus> for ShipmentStatus {
    fn from(s: d::ShipmentStatus) -> Self {
        match s {
            d::ShipmentStatus::Allocated => ShipmentStatus::Allocated,
            d::ShipmentStatus::Packed => ShipmentStatus::Packed,
            d::ShipmentStatus::Shipped => ShipmentStatus::Shipped,
            d::ShipmentStatus::Delivered => ShipmentStatus::Delivered,
            d::ShipmentStatus::Cancelled => ShipmentStatus::Cancelled,
            d::ShipmentStatus::Returning => ShipmentStatus::Returning,
            d::ShipmentStatus::Returned => ShipmentStatus::Returned,
        }
    }
}

/// Units of a sku in a shipment, and how many of them are picked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShipmentLine {
    pub sku: String,
    pub quantity: u32,
    pub picked: u32,
}

/// The part of an order served from one warehouse, with its own picks, parcels, carrier
/// booking, scans and status. An order has one per warehouse it is allocated to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Shipment {
    /// 1, 2, … within the order: `/v1/orders/{id}/shipments/{shipment}/…`.
    pub id: u32,
    pub warehouse: String,
    pub status: ShipmentStatus,
    pub lines: Vec<ShipmentLine>,
    pub parcels: Vec<Parcel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking: Option<Booking>,
    /// Where this shipment's label (PDF) is, once booked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_url: Option<String>,
    /// The latest carrier scan by occurrence time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_scan: Option<CarrierEventKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_scan_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// Its carrier service, price and promised window (absent: allocated before promises,
    /// or no service could take it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<DeliveryPlan>,
    /// Its promised window passed before it was delivered.
    pub delayed: bool,
    /// Failed delivery attempts so far.
    pub attempts: u32,
    /// The latest failed delivery and its answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<DeliveryException>,
    /// Sent back to its warehouse: why, when, and when it was received there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_to_origin: Option<ReturnToOrigin>,
    /// Its warehouse's pick-and-pack deadline passed before it was packed.
    pub pick_pack_late: bool,
}

impl Shipment {
    fn of(order: Uuid, s: d::Shipment) -> Self {
        let label_url = s
            .booking
            .as_ref()
            .map(|_| format!("/v1/orders/{order}/shipments/{}/label", s.id));
        let exception = DeliveryException::of(&s);
        Shipment {
            id: s.id,
            warehouse: s.warehouse.into(),
            status: s.status.into(),
            lines: s
                .lines
                .into_iter()
                .map(|l| ShipmentLine {
                    sku: l.sku.into(),
                    quantity: l.quantity,
                    picked: l.picked,
                })
                .collect(),
            parcels: s.parcels.into_iter().map(Into::into).collect(),
            booking: s.booking.map(Into::into),
            label_url,
            last_scan: s.last_scan.map(Into::into),
            last_scan_at: s.last_scan_at,
            last_location: s.last_location,
            delivered_at: s.delivered_at,
            plan: s.plan.map(Into::into),
            delayed: s.delayed,
            attempts: s.attempts,
            exception,
            return_to_origin: s.return_to_origin.map(Into::into),
            pick_pack_late: s.pick_pack_late,
        }
    }
}

/// Where some of an order's lines come from, as allocation decided: one shipment's plan.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Allocation {
    pub shipment: u32,
    pub warehouse: String,
    pub lines: Vec<LineQty>,
    /// Its carrier service and promise, as worked out then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<DeliveryPlan>,
}

impl From<d::Allocation> for Allocation {
    fn from(a: d::Allocation) -> Self {
        Allocation {
            shipment: a.shipment,
            warehouse: a.warehouse.into(),
            lines: qtys(a.lines),
            plan: a.plan.map(Into::into),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReturnCase {
    pub lines: Vec<LineQty>,
    pub reason: String,
    pub approved_at: DateTime<Utc>,
    /// Tracking number printed on the return label.
    pub tracking_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_lines: Option<Vec<LineQty>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund: Option<Money>,
    /// The return parcel as its carrier reports it (absent before its first scan).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parcel: Option<ReturnParcel>,
}

impl From<d::ReturnCase> for ReturnCase {
    fn from(r: d::ReturnCase) -> Self {
        ReturnCase {
            lines: r.lines.into_iter().map(Into::into).collect(),
            reason: r.reason,
            approved_at: r.approved_at,
            tracking_number: r.tracking_number,
            received_at: r.received_at,
            received_lines: r
                .received_lines
                .map(|ls| ls.into_iter().map(Into::into).collect()),
            refund: r.refund.map(Into::into),
            parcel: r.parcel.map(Into::into),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Cancellation {
    pub reason: String,
    pub at: DateTime<Utc>,
    pub by: Cause,
}

impl From<d::Cancellation> for Cancellation {
    fn from(c: d::Cancellation) -> Self {
        Cancellation {
            reason: c.reason,
            at: c.at,
            by: c.by.into(),
        }
    }
}

/// An order as clients see it (list entries are this; single-order calls add links and history).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Order {
    pub id: Uuid,
    /// Number of events applied; the sequence number of the latest event.
    pub version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    /// The customer's tracking page is `/v1/track/{tracking_token}`.
    pub tracking_token: String,
    pub status: Status,
    pub customer: Customer,
    pub currency: Currency,
    pub lines: Vec<Line>,
    pub shipping: Shipping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address>,
    pub payment: Payment,
    pub stock: StockState,
    /// The warehouse serving the order when one serves all of it (absent when it is split
    /// or not allocated yet; see `shipments`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    /// Present (non-empty) only when stock was short.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shortages: Vec<Shortage>,
    /// Units waiting for stock while the order is backordered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backordered: Vec<LineQty>,
    /// The order's own say on being split across warehouses, as placed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_split: Option<bool>,
    /// One per warehouse the order is allocated to, from allocation on; the order's status
    /// follows them (packed once all are packed, shipped once all are shipped, …).
    pub shipments: Vec<Shipment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_case: Option<ReturnCase>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<Cancellation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunded: Option<Money>,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When an unpaid card order is cancelled automatically.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_due_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// Sum of the lines.
    pub total: Money,
    /// When the order should arrive: when its last shipment should (absent before any
    /// shipment has a promise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promised: Option<Window>,
}

impl From<d::Order> for Order {
    fn from(o: d::Order) -> Self {
        let total = o.total().into();
        let promised = o
            .promised_window()
            .map(|(earliest, latest)| Window { earliest, latest });
        let picked: Vec<u32> = o.lines.iter().map(|l| o.picked(&l.sku)).collect();
        let warehouse = {
            let mut open = o.open_shipments().map(|s| s.warehouse.clone());
            match (open.next(), open.next()) {
                (Some(w), None) => Some(w),
                _ => None,
            }
        };
        // Left out on purpose: `carrier_event_ids` (dedup bookkeeping for carrier events).
        let d::Order {
            id,
            version,
            external_ref,
            tracking_token,
            status,
            customer,
            currency,
            lines,
            shipping,
            billing_address,
            payment,
            stock,
            shortages,
            backordered,
            allow_split,
            shipments,
            return_case,
            cancellation,
            refunded,
            placed_at,
            updated_at,
            payment_due_at,
            delivered_at,
            carrier_event_ids: _,
        } = o;
        Order {
            id,
            version,
            external_ref,
            tracking_token,
            status: status.into(),
            customer: customer.into(),
            currency: currency.into(),
            lines: lines
                .into_iter()
                .zip(picked)
                .map(|(l, picked)| Line {
                    sku: l.sku.into(),
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                    picked,
                })
                .collect(),
            shipping: shipping.into(),
            billing_address: billing_address.map(Into::into),
            payment: payment.into(),
            stock: stock.into(),
            warehouse: warehouse.map(Into::into),
            shortages: shortages.into_iter().map(Into::into).collect(),
            backordered: qtys(backordered),
            allow_split,
            shipments: shipments.into_iter().map(|s| Shipment::of(id, s)).collect(),
            return_case: return_case.map(Into::into),
            cancellation: cancellation.map(Into::into),
            refunded: refunded.map(Into::into),
            placed_at,
            updated_at,
            payment_due_at,
            delivered_at,
            total,
            promised,
        }
    }
}

/// One order with where its labels are and its whole history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderDetail {
    #[serde(flatten)]
    pub order: Order,
    /// Where the shipping label (PDF) can be fetched once the carrier is booked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_url: Option<String>,
    /// Where the return label (PDF) can be fetched once a return is approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_label_url: Option<String>,
    /// Every event so far, oldest first (`Event`s).
    #[schema(value_type = Vec<Event>)]
    pub history: History,
}

impl From<OrderView> for OrderDetail {
    fn from(v: OrderView) -> Self {
        let id = v.order.id;
        let label_url = v.order.booking().map(|_| format!("/v1/orders/{id}/label"));
        let return_label_url = v
            .order
            .return_case
            .as_ref()
            .map(|_| format!("/v1/orders/{id}/returns/label"));
        OrderDetail {
            order: v.order.into(),
            label_url,
            return_label_url,
            history: v.history,
        }
    }
}

/// A page of orders, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderPage {
    pub orders: Vec<Order>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One recorded change in an order's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Event {
    pub seq: u32,
    pub at: DateTime<Utc>,
    pub by: Cause,
    #[serde(flatten)]
    pub change: Change,
}

impl From<d::Event> for Event {
    fn from(e: d::Event) -> Self {
        Event {
            seq: e.seq,
            at: e.at,
            by: e.by.into(),
            change: e.change.into(),
        }
    }
}

/// What an event changed, by `type`.
// `Placed` carries the whole new order, as the domain's event does.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    Placed {
        id: Uuid,
        tracking_token: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        payment_due_at: Option<DateTime<Utc>>,
        order: NewOrder,
    },
    /// Every line reserved in one warehouse (recorded before allocation; now `allocated`).
    StockReserved {
        warehouse: String,
    },
    /// The lines were allocated: one shipment per warehouse, and why.
    Allocated {
        shipments: Vec<Allocation>,
        reason: String,
    },
    /// Some lines wait for stock: `held` is what is reserved meanwhile.
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
        warehouse: String,
        lines: Vec<LineQty>,
        /// The shipment (absent in events recorded before shipments had ids: the only one).
        #[serde(skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
    Packed {
        warehouse: String,
        parcels: Vec<Parcel>,
        #[serde(skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
    ShipmentBooked {
        booking: Booking,
        #[serde(skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
    /// A shipment was handed over (absent `shipment`: every packed one).
    Shipped {
        #[serde(skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
    CarrierScanned {
        carrier: String,
        /// The carrier's id for the event.
        event_id: String,
        kind: CarrierEventKind,
        occurred_at: DateTime<Utc>,
        #[serde(skip_serializing_if = "Option::is_none")]
        location: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
        /// The carrier's new delivery date: the shipment's promise, revised.
        #[serde(skip_serializing_if = "Option::is_none")]
        estimated_delivery: Option<NaiveDate>,
        /// The carrier's own code and text, as reported.
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// A shipment's promised window passed before it was delivered (once per shipment).
    Delayed {
        shipment: u32,
        /// The last day it was promised for.
        promised: NaiveDate,
    },
    /// A shipment was delivered (absent `shipment`: every shipped one).
    Delivered {
        #[serde(skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
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
    /// Shipments still in the warehouse were cancelled; the others go on.
    ShipmentsCancelled {
        shipments: Vec<u32>,
        reason: String,
    },
    /// The carrier could not deliver a shipment: a delivery exception opens, to be answered
    /// by `answer_by`.
    DeliveryFailed {
        shipment: u32,
        reason: FailureReason,
        attempt: u32,
        answer_by: DateTime<Utc>,
    },
    /// A delivery exception was answered.
    ExceptionAnswered {
        shipment: u32,
        answer: ExceptionAnswer,
    },
    /// A shipment goes back to its warehouse, and why.
    ReturningToOrigin {
        shipment: u32,
        reason: String,
    },
    /// A shipment is back at its warehouse, its lines received into stock.
    ReturnedToOrigin {
        shipment: u32,
        warehouse: String,
        lines: Vec<LineQty>,
    },
    /// The carrier scanned the return parcel.
    ReturnScanned {
        carrier: String,
        event_id: String,
        kind: CarrierEventKind,
        occurred_at: DateTime<Utc>,
        #[serde(skip_serializing_if = "Option::is_none")]
        location: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// A shipment was not packed by its warehouse's pick-and-pack deadline.
    PickPackLate {
        shipment: u32,
        due: DateTime<Utc>,
    },
}

fn qtys(lines: Vec<d::LineQty>) -> Vec<LineQty> {
    lines.into_iter().map(Into::into).collect()
}

impl From<d::Change> for Change {
    fn from(c: d::Change) -> Self {
        match c {
            d::Change::Placed {
                id,
                tracking_token,
                payment_due_at,
                order,
            } => Change::Placed {
                id,
                tracking_token,
                payment_due_at,
                order: order.into(),
            },
            d::Change::StockReserved { warehouse } => Change::StockReserved {
                warehouse: warehouse.into(),
            },
            d::Change::Allocated { shipments, reason } => Change::Allocated {
                shipments: shipments.into_iter().map(Into::into).collect(),
                reason,
            },
            d::Change::Backordered {
                held,
                backordered,
                reason,
            } => Change::Backordered {
                held: held.into_iter().map(Into::into).collect(),
                backordered: qtys(backordered),
                reason,
            },
            d::Change::StockUnavailable { shortages } => Change::StockUnavailable {
                shortages: shortages.into_iter().map(Into::into).collect(),
            },
            d::Change::PaymentRecorded {
                status,
                amount,
                reference,
            } => Change::PaymentRecorded {
                status: status.into(),
                amount,
                reference,
            },
            d::Change::Confirmed => Change::Confirmed,
            d::Change::PicksAcknowledged {
                warehouse,
                lines,
                shipment,
            } => Change::PicksAcknowledged {
                warehouse: warehouse.into(),
                lines: qtys(lines),
                shipment,
            },
            d::Change::Packed {
                warehouse,
                parcels,
                shipment,
            } => Change::Packed {
                warehouse: warehouse.into(),
                parcels: parcels.into_iter().map(Into::into).collect(),
                shipment,
            },
            d::Change::ShipmentBooked { booking, shipment } => Change::ShipmentBooked {
                booking: booking.into(),
                shipment,
            },
            d::Change::Shipped { shipment } => Change::Shipped { shipment },
            d::Change::CarrierScanned {
                carrier,
                event_id,
                kind,
                occurred_at,
                location,
                shipment,
                estimated_delivery,
                code,
                description,
            } => Change::CarrierScanned {
                carrier,
                event_id,
                kind: kind.into(),
                occurred_at,
                location,
                shipment,
                estimated_delivery,
                code,
                description,
            },
            d::Change::Delayed { shipment, promised } => Change::Delayed { shipment, promised },
            d::Change::Delivered { shipment } => Change::Delivered { shipment },
            d::Change::Cancelled { reason } => Change::Cancelled { reason },
            d::Change::ReturnApproved {
                lines,
                reason,
                tracking_number,
            } => Change::ReturnApproved {
                lines: qtys(lines),
                reason,
                tracking_number,
            },
            d::Change::ReturnReceived { warehouse, lines } => Change::ReturnReceived {
                warehouse: warehouse.into(),
                lines: qtys(lines),
            },
            d::Change::RefundIssued { amount } => Change::RefundIssued {
                amount: amount.into(),
            },
            d::Change::ShipmentsCancelled { shipments, reason } => {
                Change::ShipmentsCancelled { shipments, reason }
            }
            d::Change::DeliveryFailed {
                shipment,
                reason,
                attempt,
                answer_by,
            } => Change::DeliveryFailed {
                shipment,
                reason: reason.into(),
                attempt,
                answer_by,
            },
            d::Change::ExceptionAnswered { shipment, answer } => Change::ExceptionAnswered {
                shipment,
                answer: answer.into(),
            },
            d::Change::ReturningToOrigin { shipment, reason } => {
                Change::ReturningToOrigin { shipment, reason }
            }
            d::Change::ReturnedToOrigin {
                shipment,
                warehouse,
                lines,
            } => Change::ReturnedToOrigin {
                shipment,
                warehouse: warehouse.into(),
                lines: qtys(lines),
            },
            d::Change::ReturnScanned {
                carrier,
                event_id,
                kind,
                occurred_at,
                location,
                code,
                description,
            } => Change::ReturnScanned {
                carrier,
                event_id,
                kind: kind.into(),
                occurred_at,
                location,
                code,
                description,
            },
            d::Change::PickPackLate { shipment, due } => Change::PickPackLate { shipment, due },
        }
    }
}

#[cfg(test)]
mod tests;
