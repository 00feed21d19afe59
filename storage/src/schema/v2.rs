//! Stored schema version 2: orders with shipments of their own.
//!
//! What changed from v1 (every other type is v1's, reused from [`super::v1`]):
//!
//! * **Snapshot**: no order-level `warehouse`; lines without `picked`; `shipments` are today's
//!   shipments (`id`, `warehouse`, `lines` with their `picked`, `status`, parcels, booking,
//!   scans, `delivered_at`).
//! * **Events**: a superset of v1's: the same JSON for the old kinds and fields, plus the new
//!   kinds (`allocated`, `shipments_cancelled`) and an optional `shipment` on
//!   `picks_acknowledged`, `packed`, `shipment_booked`, `shipped`, `carrier_scanned` and
//!   `delivered`; `placed` carries the order's `allow_split`. Like v1's, v2's event JSON is the
//!   domain event's JSON (the `same_json_as_the_domain` tests hold them together), so stored
//!   events of either version pass through `history_json` undecoded, and v1 event JSON reads
//!   as v2 with the same meaning (a missing `shipment` is `None` in both).
//! * **Outbox actions**: `reserve_stock` with `country` and `allow_split`, `release_stock`
//!   with `shipments`, `commit_stock` and `book_shipment` with `shipment` (all optional).
//! * **Reservations**: one part per shipment (`parts`), each with its own state, and the units
//!   the order still waits for (`backordered`, left out when none). A reservation that fits v1
//!   is still written as v1 (see `schema::encode_reservation`).
//! * **Backorders**: the snapshot's `backordered` lines (left out when none) and the stock state
//!   `backordered`; the event kind `backordered` (`held`, `backordered`, `reason`); the
//!   notification kind `backordered`; and a record per sku, [`Backorders`] (whether it may be
//!   backordered, its cap, how many units wait now). `StockState` and `NotificationKind` are
//!   therefore v2's own (v1's hold only what v1 could say, and are read only).
//!
//! * **Stock levels** gain `incoming` (units on their way in transfers; left out when 0, so a
//!   level without it is v1's JSON), and **transfers** between warehouses are a record of
//!   their own ([`Transfer`]).
//!
//! As in v1, every type borrows its strings: writing builds a view over a domain value,
//! reading moves owned strings into the domain type.

use super::v1::{
    self, b, back, currency, map, mirror_enum, ob, oown, own, try_back, Address, CarrierEventKind,
    Cause, Customer, Invalid, LineQty, Money, NewLine, NewPayment, Parcel, Payment, PaymentStatus,
    ReservationState, ReturnCase, Shortage, Status,
};
use crate::domain as d;
use chrono::NaiveDate;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use uuid::Uuid;

pub use super::v1::{Cancellation, IdempotencyRecord};

type Str<'a> = Cow<'a, str>;

mirror_enum!(
    /// v1's stock states and `backordered`.
    StockState = d::StockState {
        Pending,
        Reserved,
        Backordered,
        Unavailable,
        Released,
        Committed
    }
);
mirror_enum!(
    /// v1's notification kinds and `backordered`.
    NotificationKind = d::NotificationKind {
        Confirmed,
        Backordered,
        Shipped,
        OutForDelivery,
        Delivered,
        Cancelled,
        ReturnApproved,
        Refunded,
        Delayed,
        DeliveryFailed,
        ReturningToOrigin,
        PickPackLate
    }
);

mirror_enum!(
    /// Why a delivery failed (v4).
    FailureReason = d::FailureReason {
        CustomerNotAvailable,
        AddressProblem,
        Refused,
        CashNotReady,
        Other
    }
);

mirror_enum!(
    /// A return parcel's way back (v4).
    ReturnParcelStatus = d::ReturnParcelStatus {
        InTransit,
        Delivered
    }
);

/// What is to happen after a failed delivery (v4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ExceptionAnswer<'a> {
    Reattempt {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        date: Option<NaiveDate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<Str<'a>>,
    },
    ReturnToOrigin,
}

impl<'a> From<&'a d::ExceptionAnswer> for ExceptionAnswer<'a> {
    fn from(a: &'a d::ExceptionAnswer) -> Self {
        match a {
            d::ExceptionAnswer::Reattempt { date, notes } => ExceptionAnswer::Reattempt {
                date: *date,
                notes: ob(notes),
            },
            d::ExceptionAnswer::ReturnToOrigin => ExceptionAnswer::ReturnToOrigin,
        }
    }
}

impl From<ExceptionAnswer<'_>> for d::ExceptionAnswer {
    fn from(a: ExceptionAnswer<'_>) -> Self {
        match a {
            ExceptionAnswer::Reattempt { date, notes } => d::ExceptionAnswer::Reattempt {
                date,
                notes: oown(notes),
            },
            ExceptionAnswer::ReturnToOrigin => d::ExceptionAnswer::ReturnToOrigin,
        }
    }
}

/// A shipment's delivery exception (v4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryException<'a> {
    pub reason: FailureReason,
    pub attempt: u32,
    pub opened_at: DateTime<Utc>,
    pub answer_by: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<ExceptionAnswer<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<DateTime<Utc>>,
}

impl<'a> From<&'a d::DeliveryException> for DeliveryException<'a> {
    fn from(x: &'a d::DeliveryException) -> Self {
        DeliveryException {
            reason: (&x.reason).into(),
            attempt: x.attempt,
            opened_at: x.opened_at,
            answer_by: x.answer_by,
            answer: x.answer.as_ref().map(Into::into),
            answered_at: x.answered_at,
        }
    }
}

impl From<DeliveryException<'_>> for d::DeliveryException {
    fn from(x: DeliveryException<'_>) -> Self {
        d::DeliveryException {
            reason: x.reason.into(),
            attempt: x.attempt,
            opened_at: x.opened_at,
            answer_by: x.answer_by,
            answer: x.answer.map(Into::into),
            answered_at: x.answered_at,
        }
    }
}

/// A shipment sent back to its warehouse (v4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnToOrigin<'a> {
    pub reason: Str<'a>,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
}

impl<'a> From<&'a d::ReturnToOrigin> for ReturnToOrigin<'a> {
    fn from(x: &'a d::ReturnToOrigin) -> Self {
        ReturnToOrigin {
            reason: b(&x.reason),
            at: x.at,
            received_at: x.received_at,
        }
    }
}

impl From<ReturnToOrigin<'_>> for d::ReturnToOrigin {
    fn from(x: ReturnToOrigin<'_>) -> Self {
        d::ReturnToOrigin {
            reason: own(x.reason),
            at: x.at,
            received_at: x.received_at,
        }
    }
}

/// A return parcel as its carrier reported it (v4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnParcel<'a> {
    pub status: ReturnParcelStatus,
    pub carrier: Str<'a>,
    pub last_scan: CarrierEventKind,
    pub last_scan_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_location: Option<Str<'a>>,
}

impl<'a> From<&'a d::ReturnParcel> for ReturnParcel<'a> {
    fn from(x: &'a d::ReturnParcel) -> Self {
        ReturnParcel {
            status: (&x.status).into(),
            carrier: b(&x.carrier),
            last_scan: (&x.last_scan).into(),
            last_scan_at: x.last_scan_at,
            last_location: ob(&x.last_location),
        }
    }
}

impl From<ReturnParcel<'_>> for d::ReturnParcel {
    fn from(x: ReturnParcel<'_>) -> Self {
        d::ReturnParcel {
            status: x.status.into(),
            carrier: own(x.carrier),
            last_scan: x.last_scan.into(),
            last_scan_at: x.last_scan_at,
            last_location: oown(x.last_location),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    Allocated,
    Packed,
    Shipped,
    Delivered,
    Cancelled,
    /// v4.
    Returning,
    /// v4.
    Returned,
}

impl From<&d::ShipmentStatus> for ShipmentStatus {
    fn from(s: &d::ShipmentStatus) -> Self {
        use d::ShipmentStatus as D;
        match s {
            D::Allocated => ShipmentStatus::Allocated,
            D::Packed => ShipmentStatus::Packed,
            D::Shipped => ShipmentStatus::Shipped,
            D::Delivered => ShipmentStatus::Delivered,
            D::Cancelled => ShipmentStatus::Cancelled,
            D::Returning => ShipmentStatus::Returning,
            D::Returned => ShipmentStatus::Returned,
        }
    }
}

impl From<ShipmentStatus> for d::ShipmentStatus {
    fn from(s: ShipmentStatus) -> Self {
        use d::ShipmentStatus as D;
        match s {
            ShipmentStatus::Allocated => D::Allocated,
            ShipmentStatus::Packed => D::Packed,
            ShipmentStatus::Shipped => D::Shipped,
            ShipmentStatus::Delivered => D::Delivered,
            ShipmentStatus::Cancelled => D::Cancelled,
            ShipmentStatus::Returning => D::Returning,
            ShipmentStatus::Returned => D::Returned,
        }
    }
}

/// An order line: what was bought (picks are per shipment now).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line<'a> {
    pub sku: Str<'a>,
    pub quantity: u32,
    pub unit_price: i64,
}

impl<'a> From<&'a d::Line> for Line<'a> {
    fn from(l: &'a d::Line) -> Self {
        Line {
            sku: b(&l.sku),
            quantity: l.quantity,
            unit_price: l.unit_price,
        }
    }
}

impl From<Line<'_>> for d::Line {
    fn from(l: Line<'_>) -> Self {
        d::Line {
            sku: own(l.sku),
            quantity: l.quantity,
            unit_price: l.unit_price,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentLine<'a> {
    pub sku: Str<'a>,
    pub quantity: u32,
    #[serde(default)]
    pub picked: u32,
}

impl<'a> From<&'a d::ShipmentLine> for ShipmentLine<'a> {
    fn from(l: &'a d::ShipmentLine) -> Self {
        ShipmentLine {
            sku: b(&l.sku),
            quantity: l.quantity,
            picked: l.picked,
        }
    }
}

impl From<ShipmentLine<'_>> for d::ShipmentLine {
    fn from(l: ShipmentLine<'_>) -> Self {
        d::ShipmentLine {
            sku: own(l.sku),
            quantity: l.quantity,
            picked: l.picked,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment<'a> {
    pub id: u32,
    pub warehouse: Str<'a>,
    pub lines: Vec<ShipmentLine<'a>>,
    pub status: ShipmentStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parcels: Vec<Parcel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking: Option<Booking<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan: Option<CarrierEventKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_location: Option<Str<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// v3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<DeliveryPlan<'a>>,
    /// v3.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delayed: bool,
    /// v4.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub attempts: u32,
    /// v4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<DeliveryException<'a>>,
    /// v4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to_origin: Option<ReturnToOrigin<'a>>,
    /// v4.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pick_pack_late: bool,
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

impl<'a> From<&'a d::Shipment> for Shipment<'a> {
    fn from(s: &'a d::Shipment) -> Self {
        Shipment {
            id: s.id,
            warehouse: b(&s.warehouse),
            lines: map(&s.lines),
            status: (&s.status).into(),
            parcels: map(&s.parcels),
            booking: s.booking.as_ref().map(Into::into),
            last_scan: s.last_scan.as_ref().map(Into::into),
            last_scan_at: s.last_scan_at,
            last_location: ob(&s.last_location),
            delivered_at: s.delivered_at,
            plan: s.plan.as_ref().map(Into::into),
            delayed: s.delayed,
            attempts: s.attempts,
            exception: s.exception.as_ref().map(Into::into),
            return_to_origin: s.return_to_origin.as_ref().map(Into::into),
            pick_pack_late: s.pick_pack_late,
        }
    }
}

impl TryFrom<Shipment<'_>> for d::Shipment {
    type Error = Invalid;
    fn try_from(s: Shipment<'_>) -> Result<Self, Invalid> {
        Ok(d::Shipment {
            id: s.id,
            warehouse: own(s.warehouse),
            lines: back(s.lines),
            status: s.status.into(),
            parcels: back(s.parcels),
            booking: s.booking.map(TryInto::try_into).transpose()?,
            last_scan: s.last_scan.map(Into::into),
            last_scan_at: s.last_scan_at,
            last_location: oown(s.last_location),
            delivered_at: s.delivered_at,
            plan: s.plan.map(TryInto::try_into).transpose()?,
            delayed: s.delayed,
            attempts: s.attempts,
            exception: s.exception.map(Into::into),
            return_to_origin: s.return_to_origin.map(Into::into),
            pick_pack_late: s.pick_pack_late,
        })
    }
}

/// How an order is shipped: v1's, and (v3) the order's weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipping<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Str<'a>>,
    pub address: Address<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_grams: Option<u32>,
}

impl<'a> From<&'a d::Shipping> for Shipping<'a> {
    fn from(s: &'a d::Shipping) -> Self {
        Shipping {
            method: ob(&s.method),
            address: (&s.address).into(),
            weight_grams: s.weight_grams,
        }
    }
}

impl From<Shipping<'_>> for d::Shipping {
    fn from(s: Shipping<'_>) -> Self {
        d::Shipping {
            method: oown(s.method),
            address: s.address.into(),
            weight_grams: s.weight_grams,
        }
    }
}

/// A carrier booking: v1's, and (v3) its price, the rule that chose it and its window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking<'a> {
    pub carrier: Str<'a>,
    pub carrier_name: Str<'a>,
    pub service: Str<'a>,
    pub tracking_number: Str<'a>,
    pub estimated_delivery: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<Str<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promise: Option<Promise<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_url: Option<Str<'a>>,
}

impl<'a> From<&'a d::Booking> for Booking<'a> {
    fn from(x: &'a d::Booking) -> Self {
        Booking {
            carrier: b(&x.carrier),
            carrier_name: b(&x.carrier_name),
            service: b(&x.service),
            tracking_number: b(&x.tracking_number),
            estimated_delivery: x.estimated_delivery,
            price: x.price.as_ref().map(Into::into),
            rule: ob(&x.rule),
            promise: x.promise.as_ref().map(Into::into),
            label_url: ob(&x.label_url),
        }
    }
}

impl TryFrom<Booking<'_>> for d::Booking {
    type Error = Invalid;
    fn try_from(x: Booking<'_>) -> Result<Self, Invalid> {
        Ok(d::Booking {
            carrier: own(x.carrier),
            carrier_name: own(x.carrier_name),
            service: own(x.service),
            tracking_number: own(x.tracking_number),
            estimated_delivery: x.estimated_delivery,
            price: x.price.map(TryInto::try_into).transpose()?,
            rule: oown(x.rule),
            promise: x.promise.map(Into::into),
            label_url: oown(x.label_url),
        })
    }
}

/// A delivery window in local dates of `time_zone` (v3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promise<'a> {
    pub earliest: NaiveDate,
    pub latest: NaiveDate,
    pub time_zone: Str<'a>,
}

impl<'a> From<&'a d::Promise> for Promise<'a> {
    fn from(p: &'a d::Promise) -> Self {
        Promise {
            earliest: p.earliest,
            latest: p.latest,
            time_zone: b(&p.time_zone),
        }
    }
}

impl From<Promise<'_>> for d::Promise {
    fn from(p: Promise<'_>) -> Self {
        d::Promise {
            earliest: p.earliest,
            latest: p.latest,
            time_zone: own(p.time_zone),
        }
    }
}

/// A shipment's carrier service, price, rule and promise (v3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryPlan<'a> {
    pub carrier: Str<'a>,
    pub service: Str<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<Str<'a>>,
    pub promise: Promise<'a>,
}

impl<'a> From<&'a d::DeliveryPlan> for DeliveryPlan<'a> {
    fn from(p: &'a d::DeliveryPlan) -> Self {
        DeliveryPlan {
            carrier: b(&p.carrier),
            service: b(&p.service),
            price: p.price.as_ref().map(Into::into),
            rule: ob(&p.rule),
            promise: (&p.promise).into(),
        }
    }
}

impl TryFrom<DeliveryPlan<'_>> for d::DeliveryPlan {
    type Error = Invalid;
    fn try_from(p: DeliveryPlan<'_>) -> Result<Self, Invalid> {
        Ok(d::DeliveryPlan {
            carrier: own(p.carrier),
            service: own(p.service),
            price: p.price.map(TryInto::try_into).transpose()?,
            rule: oown(p.rule),
            promise: p.promise.into(),
        })
    }
}

/// The order's snapshot: the commit point of every transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order<'a> {
    pub id: Uuid,
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<Str<'a>>,
    pub tracking_token: Str<'a>,
    pub status: Status,
    pub customer: Customer<'a>,
    pub currency: Str<'a>,
    pub lines: Vec<Line<'a>>,
    pub shipping: Shipping<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address<'a>>,
    pub payment: Payment<'a>,
    pub stock: StockState,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shortages: Vec<Shortage<'a>>,
    /// Units waiting for stock while the order is backordered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backordered: Vec<LineQty<'a>>,
    /// The order's own say on splitting, as placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_split: Option<bool>,
    pub shipments: Vec<Shipment<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_case: Option<ReturnCase<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<Cancellation<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded: Option<Money<'a>>,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_due_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carrier_event_ids: Vec<Str<'a>>,
}

impl<'a> From<&'a d::Order> for Order<'a> {
    fn from(o: &'a d::Order) -> Self {
        Order {
            id: o.id,
            version: o.version,
            external_ref: ob(&o.external_ref),
            tracking_token: b(&o.tracking_token),
            status: (&o.status).into(),
            customer: (&o.customer).into(),
            currency: b(o.currency.code()),
            lines: map(&o.lines),
            shipping: (&o.shipping).into(),
            billing_address: o.billing_address.as_ref().map(Into::into),
            payment: (&o.payment).into(),
            stock: (&o.stock).into(),
            shortages: map(&o.shortages),
            backordered: map(&o.backordered),
            allow_split: o.allow_split,
            shipments: map(&o.shipments),
            return_case: o.return_case.as_ref().map(Into::into),
            cancellation: o.cancellation.as_ref().map(Into::into),
            refunded: o.refunded.as_ref().map(Into::into),
            placed_at: o.placed_at,
            updated_at: o.updated_at,
            payment_due_at: o.payment_due_at,
            delivered_at: o.delivered_at,
            carrier_event_ids: o.carrier_event_ids.iter().map(|s| b(s)).collect(),
        }
    }
}

impl TryFrom<Order<'_>> for d::Order {
    type Error = Invalid;
    fn try_from(o: Order<'_>) -> Result<Self, Invalid> {
        Ok(d::Order {
            id: o.id,
            version: o.version,
            external_ref: oown(o.external_ref),
            tracking_token: own(o.tracking_token),
            status: o.status.into(),
            customer: o.customer.into(),
            currency: currency(&o.currency)?,
            lines: back(o.lines),
            shipping: o.shipping.into(),
            billing_address: o.billing_address.map(Into::into),
            payment: o.payment.into(),
            stock: o.stock.into(),
            shortages: back(o.shortages),
            backordered: back(o.backordered),
            allow_split: o.allow_split,
            shipments: try_back(o.shipments)?,
            return_case: o.return_case.map(TryInto::try_into).transpose()?,
            cancellation: o.cancellation.map(Into::into),
            refunded: o.refunded.map(TryInto::try_into).transpose()?,
            placed_at: o.placed_at,
            updated_at: o.updated_at,
            payment_due_at: o.payment_due_at,
            delivered_at: o.delivered_at,
            carrier_event_ids: o.carrier_event_ids.into_iter().map(own).collect(),
        })
    }
}

/// The order as placed, inside the `placed` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<Str<'a>>,
    pub customer: Customer<'a>,
    pub currency: Str<'a>,
    pub lines: Vec<NewLine<'a>>,
    pub shipping: Shipping<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address<'a>>,
    pub payment: NewPayment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_split: Option<bool>,
}

impl<'a> From<&'a d::NewOrder> for NewOrder<'a> {
    fn from(o: &'a d::NewOrder) -> Self {
        NewOrder {
            external_ref: ob(&o.external_ref),
            customer: (&o.customer).into(),
            currency: b(o.currency.code()),
            lines: map(&o.lines),
            shipping: (&o.shipping).into(),
            billing_address: o.billing_address.as_ref().map(Into::into),
            payment: NewPayment {
                method: (&o.payment.method).into(),
                status: (&o.payment.status).into(),
            },
            allow_split: o.allow_split,
        }
    }
}

impl TryFrom<NewOrder<'_>> for d::NewOrder {
    type Error = Invalid;
    fn try_from(o: NewOrder<'_>) -> Result<Self, Invalid> {
        Ok(d::NewOrder {
            external_ref: oown(o.external_ref),
            customer: o.customer.into(),
            currency: currency(&o.currency)?,
            lines: back(o.lines),
            shipping: o.shipping.into(),
            billing_address: o.billing_address.map(Into::into),
            payment: d::NewPayment {
                method: o.payment.method.into(),
                status: o.payment.status.into(),
            },
            allow_split: o.allow_split,
        })
    }
}

/// Where some of an order's lines are served from (one shipment's plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation<'a> {
    pub shipment: u32,
    pub warehouse: Str<'a>,
    pub lines: Vec<LineQty<'a>>,
    /// v3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<DeliveryPlan<'a>>,
}

impl<'a> From<&'a d::Allocation> for Allocation<'a> {
    fn from(a: &'a d::Allocation) -> Self {
        Allocation {
            shipment: a.shipment,
            warehouse: b(&a.warehouse),
            lines: map(&a.lines),
            plan: a.plan.as_ref().map(Into::into),
        }
    }
}

impl TryFrom<Allocation<'_>> for d::Allocation {
    type Error = Invalid;
    fn try_from(a: Allocation<'_>) -> Result<Self, Invalid> {
        Ok(d::Allocation {
            shipment: a.shipment,
            warehouse: own(a.warehouse),
            lines: back(a.lines),
            plan: a.plan.map(TryInto::try_into).transpose()?,
        })
    }
}

/// One recorded change in an order's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event<'a> {
    pub seq: u32,
    pub at: DateTime<Utc>,
    pub by: Cause<'a>,
    #[serde(flatten)]
    pub change: Change<'a>,
}

// `Placed` carries the whole new order, as in the domain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change<'a> {
    Placed {
        id: Uuid,
        tracking_token: Str<'a>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payment_due_at: Option<DateTime<Utc>>,
        order: NewOrder<'a>,
    },
    StockReserved {
        warehouse: Str<'a>,
    },
    Allocated {
        shipments: Vec<Allocation<'a>>,
        reason: Str<'a>,
    },
    Backordered {
        held: Vec<Allocation<'a>>,
        backordered: Vec<LineQty<'a>>,
        reason: Str<'a>,
    },
    StockUnavailable {
        shortages: Vec<Shortage<'a>>,
    },
    PaymentRecorded {
        status: PaymentStatus,
        amount: i64,
        reference: Str<'a>,
    },
    Confirmed,
    PicksAcknowledged {
        warehouse: Str<'a>,
        lines: Vec<LineQty<'a>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
    Packed {
        warehouse: Str<'a>,
        parcels: Vec<Parcel>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
    ShipmentBooked {
        booking: Booking<'a>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
    Shipped {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
    CarrierScanned {
        carrier: Str<'a>,
        event_id: Str<'a>,
        kind: CarrierEventKind,
        occurred_at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<Str<'a>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
        /// v3.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        estimated_delivery: Option<NaiveDate>,
        /// v3: the carrier's own code and text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<Str<'a>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<Str<'a>>,
    },
    /// v3.
    Delayed {
        shipment: u32,
        promised: NaiveDate,
    },
    Delivered {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
    Cancelled {
        reason: Str<'a>,
    },
    ReturnApproved {
        lines: Vec<LineQty<'a>>,
        reason: Str<'a>,
        tracking_number: Str<'a>,
    },
    ReturnReceived {
        warehouse: Str<'a>,
        lines: Vec<LineQty<'a>>,
    },
    RefundIssued {
        amount: Money<'a>,
    },
    ShipmentsCancelled {
        shipments: Vec<u32>,
        reason: Str<'a>,
    },
    /// v4.
    DeliveryFailed {
        shipment: u32,
        reason: FailureReason,
        attempt: u32,
        answer_by: DateTime<Utc>,
    },
    /// v4.
    ExceptionAnswered {
        shipment: u32,
        answer: ExceptionAnswer<'a>,
    },
    /// v4.
    ReturningToOrigin {
        shipment: u32,
        reason: Str<'a>,
    },
    /// v4.
    ReturnedToOrigin {
        shipment: u32,
        warehouse: Str<'a>,
        lines: Vec<LineQty<'a>>,
    },
    /// v4.
    ReturnScanned {
        carrier: Str<'a>,
        event_id: Str<'a>,
        kind: CarrierEventKind,
        occurred_at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<Str<'a>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<Str<'a>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<Str<'a>>,
    },
    /// v4.
    PickPackLate {
        shipment: u32,
        due: DateTime<Utc>,
    },
}

impl<'a> From<&'a d::Change> for Change<'a> {
    fn from(c: &'a d::Change) -> Self {
        use d::Change as D;
        match c {
            D::Placed {
                id,
                tracking_token,
                payment_due_at,
                order,
            } => Change::Placed {
                id: *id,
                tracking_token: b(tracking_token),
                payment_due_at: *payment_due_at,
                order: order.into(),
            },
            D::StockReserved { warehouse } => Change::StockReserved {
                warehouse: b(warehouse),
            },
            D::Allocated { shipments, reason } => Change::Allocated {
                shipments: map(shipments),
                reason: b(reason),
            },
            D::Backordered {
                held,
                backordered,
                reason,
            } => Change::Backordered {
                held: map(held),
                backordered: map(backordered),
                reason: b(reason),
            },
            D::StockUnavailable { shortages } => Change::StockUnavailable {
                shortages: map(shortages),
            },
            D::PaymentRecorded {
                status,
                amount,
                reference,
            } => Change::PaymentRecorded {
                status: status.into(),
                amount: *amount,
                reference: b(reference),
            },
            D::Confirmed => Change::Confirmed,
            D::PicksAcknowledged {
                warehouse,
                lines,
                shipment,
            } => Change::PicksAcknowledged {
                warehouse: b(warehouse),
                lines: map(lines),
                shipment: *shipment,
            },
            D::Packed {
                warehouse,
                parcels,
                shipment,
            } => Change::Packed {
                warehouse: b(warehouse),
                parcels: map(parcels),
                shipment: *shipment,
            },
            D::ShipmentBooked { booking, shipment } => Change::ShipmentBooked {
                booking: booking.into(),
                shipment: *shipment,
            },
            D::Shipped { shipment } => Change::Shipped {
                shipment: *shipment,
            },
            D::CarrierScanned {
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
                carrier: b(carrier),
                event_id: b(event_id),
                kind: kind.into(),
                occurred_at: *occurred_at,
                location: ob(location),
                shipment: *shipment,
                estimated_delivery: *estimated_delivery,
                code: ob(code),
                description: ob(description),
            },
            D::Delayed { shipment, promised } => Change::Delayed {
                shipment: *shipment,
                promised: *promised,
            },
            D::Delivered { shipment } => Change::Delivered {
                shipment: *shipment,
            },
            D::Cancelled { reason } => Change::Cancelled { reason: b(reason) },
            D::ReturnApproved {
                lines,
                reason,
                tracking_number,
            } => Change::ReturnApproved {
                lines: map(lines),
                reason: b(reason),
                tracking_number: b(tracking_number),
            },
            D::ReturnReceived { warehouse, lines } => Change::ReturnReceived {
                warehouse: b(warehouse),
                lines: map(lines),
            },
            D::RefundIssued { amount } => Change::RefundIssued {
                amount: amount.into(),
            },
            D::ShipmentsCancelled { shipments, reason } => Change::ShipmentsCancelled {
                shipments: shipments.clone(),
                reason: b(reason),
            },
            D::DeliveryFailed {
                shipment,
                reason,
                attempt,
                answer_by,
            } => Change::DeliveryFailed {
                shipment: *shipment,
                reason: reason.into(),
                attempt: *attempt,
                answer_by: *answer_by,
            },
            D::ExceptionAnswered { shipment, answer } => Change::ExceptionAnswered {
                shipment: *shipment,
                answer: answer.into(),
            },
            D::ReturningToOrigin { shipment, reason } => Change::ReturningToOrigin {
                shipment: *shipment,
                reason: b(reason),
            },
            D::ReturnedToOrigin {
                shipment,
                warehouse,
                lines,
            } => Change::ReturnedToOrigin {
                shipment: *shipment,
                warehouse: b(warehouse),
                lines: map(lines),
            },
            D::ReturnScanned {
                carrier,
                event_id,
                kind,
                occurred_at,
                location,
                code,
                description,
            } => Change::ReturnScanned {
                carrier: b(carrier),
                event_id: b(event_id),
                kind: kind.into(),
                occurred_at: *occurred_at,
                location: ob(location),
                code: ob(code),
                description: ob(description),
            },
            D::PickPackLate { shipment, due } => Change::PickPackLate {
                shipment: *shipment,
                due: *due,
            },
        }
    }
}

impl TryFrom<Change<'_>> for d::Change {
    type Error = Invalid;
    fn try_from(c: Change<'_>) -> Result<Self, Invalid> {
        use d::Change as D;
        Ok(match c {
            Change::Placed {
                id,
                tracking_token,
                payment_due_at,
                order,
            } => D::Placed {
                id,
                tracking_token: own(tracking_token),
                payment_due_at,
                order: order.try_into()?,
            },
            Change::StockReserved { warehouse } => D::StockReserved {
                warehouse: own(warehouse),
            },
            Change::Allocated { shipments, reason } => D::Allocated {
                shipments: try_back(shipments)?,
                reason: own(reason),
            },
            Change::Backordered {
                held,
                backordered,
                reason,
            } => D::Backordered {
                held: try_back(held)?,
                backordered: back(backordered),
                reason: own(reason),
            },
            Change::StockUnavailable { shortages } => D::StockUnavailable {
                shortages: back(shortages),
            },
            Change::PaymentRecorded {
                status,
                amount,
                reference,
            } => D::PaymentRecorded {
                status: status.into(),
                amount,
                reference: own(reference),
            },
            Change::Confirmed => D::Confirmed,
            Change::PicksAcknowledged {
                warehouse,
                lines,
                shipment,
            } => D::PicksAcknowledged {
                warehouse: own(warehouse),
                lines: back(lines),
                shipment,
            },
            Change::Packed {
                warehouse,
                parcels,
                shipment,
            } => D::Packed {
                warehouse: own(warehouse),
                parcels: back(parcels),
                shipment,
            },
            Change::ShipmentBooked { booking, shipment } => D::ShipmentBooked {
                booking: booking.try_into()?,
                shipment,
            },
            Change::Shipped { shipment } => D::Shipped { shipment },
            Change::CarrierScanned {
                carrier,
                event_id,
                kind,
                occurred_at,
                location,
                shipment,
                estimated_delivery,
                code,
                description,
            } => D::CarrierScanned {
                carrier: own(carrier),
                event_id: own(event_id),
                kind: kind.into(),
                occurred_at,
                location: oown(location),
                shipment,
                estimated_delivery,
                code: oown(code),
                description: oown(description),
            },
            Change::Delayed { shipment, promised } => D::Delayed { shipment, promised },
            Change::Delivered { shipment } => D::Delivered { shipment },
            Change::Cancelled { reason } => D::Cancelled {
                reason: own(reason),
            },
            Change::ReturnApproved {
                lines,
                reason,
                tracking_number,
            } => D::ReturnApproved {
                lines: back(lines),
                reason: own(reason),
                tracking_number: own(tracking_number),
            },
            Change::ReturnReceived { warehouse, lines } => D::ReturnReceived {
                warehouse: own(warehouse),
                lines: back(lines),
            },
            Change::RefundIssued { amount } => D::RefundIssued {
                amount: amount.try_into()?,
            },
            Change::ShipmentsCancelled { shipments, reason } => D::ShipmentsCancelled {
                shipments,
                reason: own(reason),
            },
            Change::DeliveryFailed {
                shipment,
                reason,
                attempt,
                answer_by,
            } => D::DeliveryFailed {
                shipment,
                reason: reason.into(),
                attempt,
                answer_by,
            },
            Change::ExceptionAnswered { shipment, answer } => D::ExceptionAnswered {
                shipment,
                answer: answer.into(),
            },
            Change::ReturningToOrigin { shipment, reason } => D::ReturningToOrigin {
                shipment,
                reason: own(reason),
            },
            Change::ReturnedToOrigin {
                shipment,
                warehouse,
                lines,
            } => D::ReturnedToOrigin {
                shipment,
                warehouse: own(warehouse),
                lines: back(lines),
            },
            Change::ReturnScanned {
                carrier,
                event_id,
                kind,
                occurred_at,
                location,
                code,
                description,
            } => D::ReturnScanned {
                carrier: own(carrier),
                event_id: own(event_id),
                kind: kind.into(),
                occurred_at,
                location: oown(location),
                code: oown(code),
                description: oown(description),
            },
            Change::PickPackLate { shipment, due } => D::PickPackLate { shipment, due },
        })
    }
}

impl<'a> From<&'a d::Event> for Event<'a> {
    fn from(e: &'a d::Event) -> Self {
        Event {
            seq: e.seq,
            at: e.at,
            by: (&e.by).into(),
            change: (&e.change).into(),
        }
    }
}

impl TryFrom<Event<'_>> for d::Event {
    type Error = Invalid;
    fn try_from(e: Event<'_>) -> Result<Self, Invalid> {
        Ok(d::Event {
            seq: e.seq,
            at: e.at,
            by: e.by.into(),
            change: e.change.try_into()?,
        })
    }
}

/// A transition's events, stored together under one key (one record per transition).
pub fn events<'a>(events: &'a [d::Event]) -> Vec<Event<'a>> {
    map(events)
}

pub fn events_back(events: Vec<Event<'_>>) -> Result<Vec<d::Event>, Invalid> {
    try_back(events)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action<'a> {
    ReserveStock {
        lines: Vec<LineQty<'a>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        country: Option<Str<'a>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allow_split: Option<bool>,
    },
    ReleaseStock {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipments: Option<Vec<u32>>,
    },
    CommitStock {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
    BookShipment {
        warehouse: Str<'a>,
        parcels: Vec<Parcel>,
        country: Str<'a>,
        method: Option<Str<'a>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
        /// v3.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        terms: Option<BookingTerms<'a>>,
    },
    Restock {
        warehouse: Str<'a>,
        lines: Vec<LineQty<'a>>,
    },
    Notify {
        kind: NotificationKind,
    },
    /// v3.
    CancelBookings {
        bookings: Vec<BookedShipment<'a>>,
    },
    /// v4.
    InstructCarrier {
        shipment: u32,
        carrier: Str<'a>,
        tracking_number: Str<'a>,
        instruction: ExceptionAnswer<'a>,
    },
}

/// A cancelled shipment's booking, for its carrier (v3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookedShipment<'a> {
    pub shipment: u32,
    pub carrier: Str<'a>,
    pub tracking_number: Str<'a>,
}

/// What carrier rules see of a shipment to book (v3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingTerms<'a> {
    pub postal_code: Str<'a>,
    pub value: i64,
    pub cash_on_delivery: bool,
}

impl<'a> From<&'a d::EffectKind> for Action<'a> {
    fn from(a: &'a d::EffectKind) -> Self {
        use d::EffectKind as D;
        match a {
            D::ReserveStock {
                lines,
                country,
                allow_split,
            } => Action::ReserveStock {
                lines: map(lines),
                country: ob(country),
                allow_split: *allow_split,
            },
            D::ReleaseStock { shipments } => Action::ReleaseStock {
                shipments: shipments.clone(),
            },
            D::CommitStock { shipment } => Action::CommitStock {
                shipment: *shipment,
            },
            D::BookShipment {
                warehouse,
                parcels,
                country,
                method,
                shipment,
                terms,
            } => Action::BookShipment {
                warehouse: b(warehouse),
                parcels: map(parcels),
                country: b(country),
                method: ob(method),
                shipment: *shipment,
                terms: terms.as_ref().map(|t| BookingTerms {
                    postal_code: b(&t.postal_code),
                    value: t.value,
                    cash_on_delivery: t.cash_on_delivery,
                }),
            },
            D::Restock { warehouse, lines } => Action::Restock {
                warehouse: b(warehouse),
                lines: map(lines),
            },
            D::Notify { kind } => Action::Notify { kind: kind.into() },
            D::CancelBookings { bookings } => Action::CancelBookings {
                bookings: bookings
                    .iter()
                    .map(|b| BookedShipment {
                        shipment: b.shipment,
                        carrier: self::b(&b.carrier),
                        tracking_number: self::b(&b.tracking_number),
                    })
                    .collect(),
            },
            D::InstructCarrier {
                shipment,
                carrier,
                tracking_number,
                instruction,
            } => Action::InstructCarrier {
                shipment: *shipment,
                carrier: b(carrier),
                tracking_number: b(tracking_number),
                instruction: instruction.into(),
            },
        }
    }
}

impl From<Action<'_>> for d::EffectKind {
    fn from(a: Action<'_>) -> Self {
        use d::EffectKind as D;
        match a {
            Action::ReserveStock {
                lines,
                country,
                allow_split,
            } => D::ReserveStock {
                lines: back(lines),
                country: oown(country),
                allow_split,
            },
            Action::ReleaseStock { shipments } => D::ReleaseStock { shipments },
            Action::CommitStock { shipment } => D::CommitStock { shipment },
            Action::BookShipment {
                warehouse,
                parcels,
                country,
                method,
                shipment,
                terms,
            } => D::BookShipment {
                warehouse: own(warehouse),
                parcels: back(parcels),
                country: own(country),
                method: oown(method),
                shipment,
                terms: terms.map(|t| d::BookingTerms {
                    postal_code: own(t.postal_code),
                    value: t.value,
                    cash_on_delivery: t.cash_on_delivery,
                }),
            },
            Action::Restock { warehouse, lines } => D::Restock {
                warehouse: own(warehouse),
                lines: back(lines),
            },
            Action::Notify { kind } => D::Notify { kind: kind.into() },
            Action::CancelBookings { bookings } => D::CancelBookings {
                bookings: bookings
                    .into_iter()
                    .map(|b| d::BookedShipment {
                        shipment: b.shipment,
                        carrier: own(b.carrier),
                        tracking_number: own(b.tracking_number),
                    })
                    .collect(),
            },
            Action::InstructCarrier {
                shipment,
                carrier,
                tracking_number,
                instruction,
            } => D::InstructCarrier {
                shipment,
                carrier: own(carrier),
                tracking_number: own(tracking_number),
                instruction: instruction.into(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effect<'a> {
    pub order_id: Uuid,
    pub step: u32,
    pub action: Action<'a>,
}

impl<'a> From<&'a d::Effect> for Effect<'a> {
    fn from(e: &'a d::Effect) -> Self {
        Effect {
            order_id: e.order_id,
            step: e.step,
            action: (&e.kind).into(),
        }
    }
}

impl From<Effect<'_>> for d::Effect {
    fn from(e: Effect<'_>) -> Self {
        d::Effect {
            order_id: e.order_id,
            step: e.step,
            kind: e.action.into(),
        }
    }
}

/// One message still to be delivered, with its retry state: an order's effect (`effect`, as
/// every entry before stock notices) or a stock notice (`notice`), exactly one of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<StockNotice<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Str<'a>>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<Str<'a>>,
}

impl<'a> From<&'a crate::OutboxEntry> for OutboxEntry<'a> {
    fn from(e: &'a crate::OutboxEntry) -> Self {
        let (effect, notice) = match &e.message {
            crate::OutboxMessage::Order(effect) => (Some(effect.into()), None),
            crate::OutboxMessage::Stock(notice) => (None, Some(notice.into())),
        };
        OutboxEntry {
            effect,
            notice,
            channel: ob(&e.channel),
            attempts: e.attempts,
            next_attempt_at: e.next_attempt_at,
            last_error: ob(&e.last_error),
        }
    }
}

impl TryFrom<OutboxEntry<'_>> for crate::OutboxEntry {
    type Error = Invalid;
    fn try_from(e: OutboxEntry<'_>) -> Result<Self, Invalid> {
        let message = match (e.effect, e.notice) {
            (Some(effect), None) => crate::OutboxMessage::Order(effect.into()),
            (None, Some(notice)) => crate::OutboxMessage::Stock(notice.into()),
            (Some(_), Some(_)) => {
                return Err(Invalid(
                    "an outbox entry with both an effect and a notice".into(),
                ))
            }
            (None, None) => {
                return Err(Invalid(
                    "an outbox entry with neither an effect nor a notice".into(),
                ))
            }
        };
        Ok(crate::OutboxEntry {
            message,
            channel: oown(e.channel),
            attempts: e.attempts,
            next_attempt_at: e.next_attempt_at,
            last_error: oown(e.last_error),
        })
    }
}

/// A notice about stock (new in v2, with stock alerts): its subject (a cell's alert record or
/// a subscription), sequence number and what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockNotice<'a> {
    pub subject: Uuid,
    pub seq: u32,
    #[serde(flatten)]
    pub kind: NoticeKind<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum NoticeKind<'a> {
    LowStock {
        warehouse: Str<'a>,
        sku: Str<'a>,
        reorder_point: i64,
        available: i64,
    },
    BackInStock {
        sku: Str<'a>,
        contact: Str<'a>,
        available: i64,
    },
}

impl<'a> From<&'a d::stock_alerts::StockNotice> for StockNotice<'a> {
    fn from(n: &'a d::stock_alerts::StockNotice) -> Self {
        use d::stock_alerts::NoticeKind as D;
        StockNotice {
            subject: n.subject,
            seq: n.seq,
            kind: match &n.kind {
                D::LowStock {
                    warehouse,
                    sku,
                    reorder_point,
                    available,
                } => NoticeKind::LowStock {
                    warehouse: b(warehouse),
                    sku: b(sku),
                    reorder_point: *reorder_point,
                    available: *available,
                },
                D::BackInStock {
                    sku,
                    contact,
                    available,
                } => NoticeKind::BackInStock {
                    sku: b(sku),
                    contact: b(contact),
                    available: *available,
                },
            },
        }
    }
}

impl From<StockNotice<'_>> for d::stock_alerts::StockNotice {
    fn from(n: StockNotice<'_>) -> Self {
        use d::stock_alerts::NoticeKind as D;
        d::stock_alerts::StockNotice {
            subject: n.subject,
            seq: n.seq,
            kind: match n.kind {
                NoticeKind::LowStock {
                    warehouse,
                    sku,
                    reorder_point,
                    available,
                } => D::LowStock {
                    warehouse: own(warehouse),
                    sku: own(sku),
                    reorder_point,
                    available,
                },
                NoticeKind::BackInStock {
                    sku,
                    contact,
                    available,
                } => D::BackInStock {
                    sku: own(sku),
                    contact: own(contact),
                    available,
                },
            },
        }
    }
}

/// The operator-facing part of a dead letter: v1's, with `order_id` left out for a stock
/// notice (a v1 letter reads as it is: it always has one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterInfo<'a> {
    pub message_id: Str<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Uuid>,
    pub kind: Str<'a>,
    pub channel: Option<Str<'a>>,
    pub attempts: u32,
    pub last_error: Option<Str<'a>>,
    pub failed_at: DateTime<Utc>,
}

impl<'a> From<v1::DeadLetterInfo<'a>> for DeadLetterInfo<'a> {
    fn from(l: v1::DeadLetterInfo<'a>) -> Self {
        DeadLetterInfo {
            message_id: l.message_id,
            order_id: Some(l.order_id),
            kind: l.kind,
            channel: l.channel,
            attempts: l.attempts,
            last_error: l.last_error,
            failed_at: l.failed_at,
        }
    }
}

/// A notification that ran out of attempts, with the outbox entry to requeue it from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter<'a> {
    pub letter: DeadLetterInfo<'a>,
    pub entry: OutboxEntry<'a>,
}

/// The operator-facing part of a dead letter.
pub fn dead_letter_info(letter: &crate::DeadLetter) -> DeadLetterInfo<'_> {
    DeadLetterInfo {
        message_id: b(&letter.message_id),
        order_id: letter.order_id,
        kind: b(&letter.kind),
        channel: ob(&letter.channel),
        attempts: letter.attempts,
        last_error: ob(&letter.last_error),
        failed_at: letter.failed_at,
    }
}

impl<'a> DeadLetter<'a> {
    pub fn new(letter: &'a crate::DeadLetter, entry: &'a crate::OutboxEntry) -> Self {
        DeadLetter {
            letter: dead_letter_info(letter),
            entry: entry.into(),
        }
    }
}

impl TryFrom<DeadLetter<'_>> for crate::DeadLetter {
    type Error = Invalid;
    fn try_from(s: DeadLetter<'_>) -> Result<Self, Invalid> {
        let l = s.letter;
        Ok(crate::DeadLetter {
            message_id: own(l.message_id),
            order_id: l.order_id,
            kind: own(l.kind),
            channel: oown(l.channel),
            attempts: l.attempts,
            last_error: oown(l.last_error),
            failed_at: l.failed_at,
            entry: Some(s.entry.try_into()?),
        })
    }
}

/// What one shipment of an order holds at its warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservedPart<'a> {
    pub shipment: u32,
    pub warehouse: Str<'a>,
    pub lines: Vec<LineQty<'a>>,
    pub state: ReservationState,
}

/// What one order holds in stock, one part per shipment (none: a tombstone), and what it
/// still waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation<'a> {
    pub order_id: Uuid,
    pub parts: Vec<ReservedPart<'a>>,
    /// Units the order still waits for (backordered).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backordered: Vec<LineQty<'a>>,
    pub state: ReservationState,
}

impl<'a> From<&'a d::inventory::ReservedPart> for ReservedPart<'a> {
    fn from(p: &'a d::inventory::ReservedPart) -> Self {
        ReservedPart {
            shipment: p.shipment,
            warehouse: b(&p.warehouse),
            lines: map(&p.lines),
            state: (&p.state).into(),
        }
    }
}

impl From<ReservedPart<'_>> for d::inventory::ReservedPart {
    fn from(p: ReservedPart<'_>) -> Self {
        d::inventory::ReservedPart {
            shipment: p.shipment,
            warehouse: own(p.warehouse),
            lines: back(p.lines),
            state: p.state.into(),
        }
    }
}

impl<'a> From<&'a d::inventory::Reservation> for Reservation<'a> {
    fn from(r: &'a d::inventory::Reservation) -> Self {
        Reservation {
            order_id: r.order_id,
            parts: map(&r.parts),
            backordered: map(&r.backordered),
            state: (&r.state).into(),
        }
    }
}

impl From<Reservation<'_>> for d::inventory::Reservation {
    fn from(r: Reservation<'_>) -> Self {
        d::inventory::Reservation {
            order_id: r.order_id,
            parts: back(r.parts),
            backordered: back(r.backordered),
            state: r.state.into(),
        }
    }
}

/// The v1 record a reservation is written as when v1 can say it: nothing backordered, and a
/// single part, shipment 1, in the record's own state (`{warehouse, lines, state}`), or a
/// tombstone (no parts, `warehouse: null`). `None` when it needs v2 (several parts, another
/// shipment id, parts in different states, units waiting for stock).
pub fn reservation_as_v1(r: &d::inventory::Reservation) -> Option<v1::Reservation<'_>> {
    if !r.backordered.is_empty() {
        return None;
    }
    match r.parts.as_slice() {
        [] => Some(v1::Reservation {
            order_id: r.order_id,
            warehouse: None,
            lines: vec![],
            state: (&r.state).into(),
        }),
        [p] if p.shipment == 1 && p.state == r.state => Some(v1::Reservation {
            order_id: r.order_id,
            warehouse: Some(b(&p.warehouse)),
            lines: map(&p.lines),
            state: (&r.state).into(),
        }),
        _ => None,
    }
}

/// One sku's backorder record: whether it may be backordered, the most units that may wait at
/// once, and how many wait now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backorders {
    pub allowed: bool,
    pub cap: i64,
    pub waiting: i64,
}

impl From<&d::inventory::Backorders> for Backorders {
    fn from(b: &d::inventory::Backorders) -> Self {
        Backorders {
            allowed: b.allowed,
            cap: b.cap,
            waiting: b.waiting,
        }
    }
}

impl From<Backorders> for d::inventory::Backorders {
    fn from(b: Backorders) -> Self {
        d::inventory::Backorders {
            allowed: b.allowed,
            cap: b.cap,
            waiting: b.waiting,
        }
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// One stock cell's levels: v1's, and the units incoming in transfers (left out when none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub on_hand: i64,
    pub reserved: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub incoming: i64,
}

impl From<&d::inventory::StockLevel> for StockLevel {
    fn from(l: &d::inventory::StockLevel) -> Self {
        StockLevel {
            on_hand: l.on_hand,
            reserved: l.reserved,
            incoming: l.incoming,
        }
    }
}

impl From<StockLevel> for d::inventory::StockLevel {
    fn from(l: StockLevel) -> Self {
        d::inventory::StockLevel {
            on_hand: l.on_hand,
            reserved: l.reserved,
            incoming: l.incoming,
        }
    }
}

mirror_enum!(
    /// A transfer's status.
    TransferStatus = d::inventory::transfer::TransferStatus {
        Dispatched,
        Received,
        Cancelled
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferLine<'a> {
    pub sku: Str<'a>,
    pub quantity: u32,
    pub received: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt<'a> {
    pub at: DateTime<Utc>,
    #[serde(borrow)]
    pub lines: Vec<LineQty<'a>>,
}

/// A transfer of stock between warehouses, with its receipts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer<'a> {
    pub id: Uuid,
    pub key: Str<'a>,
    pub from: Str<'a>,
    pub to: Str<'a>,
    #[serde(borrow)]
    pub lines: Vec<TransferLine<'a>>,
    pub status: TransferStatus,
    pub version: u32,
    #[serde(borrow)]
    pub receipts: Vec<Receipt<'a>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl<'a> From<&'a d::inventory::transfer::Transfer> for Transfer<'a> {
    fn from(t: &'a d::inventory::transfer::Transfer) -> Self {
        Transfer {
            id: t.id,
            key: b(&t.key),
            from: b(&t.from),
            to: b(&t.to),
            lines: t
                .lines
                .iter()
                .map(|l| TransferLine {
                    sku: b(&l.sku),
                    quantity: l.quantity,
                    received: l.received,
                })
                .collect(),
            status: (&t.status).into(),
            version: t.version,
            receipts: t
                .receipts
                .iter()
                .map(|r| Receipt {
                    at: r.at,
                    lines: r.lines.iter().map(Into::into).collect(),
                })
                .collect(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A stock cell's alert record (new in v2, with stock alerts): its id, reorder point,
/// whether an alert went out for the current fall, and how many were sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellAlert {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<i64>,
    pub low: bool,
    pub sent: u32,
}

impl From<&d::stock_alerts::CellAlert> for CellAlert {
    fn from(c: &d::stock_alerts::CellAlert) -> Self {
        CellAlert {
            id: c.id,
            point: c.point,
            low: c.low,
            sent: c.sent,
        }
    }
}

impl From<Transfer<'_>> for d::inventory::transfer::Transfer {
    fn from(t: Transfer<'_>) -> Self {
        d::inventory::transfer::Transfer {
            id: t.id,
            key: own(t.key),
            from: own(t.from),
            to: own(t.to),
            lines: t
                .lines
                .into_iter()
                .map(|l| d::inventory::transfer::TransferLine {
                    sku: own(l.sku),
                    quantity: l.quantity,
                    received: l.received,
                })
                .collect(),
            status: t.status.into(),
            version: t.version,
            receipts: t
                .receipts
                .into_iter()
                .map(|r| d::inventory::transfer::Receipt {
                    at: r.at,
                    lines: r.lines.into_iter().map(Into::into).collect(),
                })
                .collect(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

impl From<CellAlert> for d::stock_alerts::CellAlert {
    fn from(c: CellAlert) -> Self {
        d::stock_alerts::CellAlert {
            id: c.id,
            point: c.point,
            low: c.low,
            sent: c.sent,
        }
    }
}

/// A back-in-stock subscription (new in v2, with stock alerts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription<'a> {
    pub id: Uuid,
    pub sku: Str<'a>,
    pub contact: Str<'a>,
    pub subscribed_at: DateTime<Utc>,
}

impl<'a> From<&'a d::stock_alerts::Subscription> for Subscription<'a> {
    fn from(s: &'a d::stock_alerts::Subscription) -> Self {
        Subscription {
            id: s.id,
            sku: b(&s.sku),
            contact: b(&s.contact),
            subscribed_at: s.subscribed_at,
        }
    }
}

impl From<Subscription<'_>> for d::stock_alerts::Subscription {
    fn from(s: Subscription<'_>) -> Self {
        d::stock_alerts::Subscription {
            id: s.id,
            sku: own(s.sku),
            contact: own(s.contact),
            subscribed_at: s.subscribed_at,
        }
    }
}

/// A message delivered to a person (issue 15): a record of its own, written as `CURRENT` + JSON
/// and read from 4 on (no release before wrote one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage<'a> {
    pub message_id: Str<'a>,
    pub order_id: Uuid,
    pub kind: Str<'a>,
    pub channel: Str<'a>,
    pub to: Str<'a>,
    pub sent_at: DateTime<Utc>,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Str<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<Str<'a>>,
}

impl<'a> From<&'a crate::SentMessage> for SentMessage<'a> {
    fn from(m: &'a crate::SentMessage) -> Self {
        SentMessage {
            message_id: b(&m.message_id),
            order_id: m.order_id,
            kind: b(&m.kind),
            channel: b(&m.channel),
            to: b(&m.to),
            sent_at: m.sent_at,
            attempts: m.attempts,
            provider_id: ob(&m.provider_id),
            segments: m.segments,
            locale: ob(&m.locale),
        }
    }
}

impl From<SentMessage<'_>> for crate::SentMessage {
    fn from(m: SentMessage<'_>) -> Self {
        crate::SentMessage {
            message_id: own(m.message_id),
            order_id: m.order_id,
            kind: own(m.kind),
            channel: own(m.channel),
            to: own(m.to),
            sent_at: m.sent_at,
            attempts: m.attempts,
            provider_id: oown(m.provider_id),
            segments: m.segments,
            locale: oown(m.locale),
        }
    }
}
