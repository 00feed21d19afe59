//! Stored schema version 1: the shape every record had when the release before versioning
//! wrote it (then simply the domain types' serde shape), frozen here as types of its own.
//!
//! Field names, enum tags and `skip`/`default` rules are exactly what that release wrote; the
//! v0 fixture (`tests/fixtures/v0-data`) and the `same_json_as_the_domain` tests hold them to
//! it. Change nothing here: a new stored shape is a new module (`v2`) with its own conversions.
//!
//! Every type borrows its strings (`Cow<'a, str>`): writing builds a view over a domain value
//! without copying a string (`From<&'a domain::T>`), reading deserializes owned strings and
//! converts into the domain type by moving them (`TryFrom<v1::T<'_>>`).

use crate::domain as d;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use uuid::Uuid;

type Str<'a> = Cow<'a, str>;

/// A stored value that does not fit the domain any more (today only an unknown currency code).
#[derive(Debug, thiserror::Error)]
#[error("stored value is not valid: {0}")]
pub struct Invalid(pub String);

fn b(s: &str) -> Str<'_> {
    Cow::Borrowed(s)
}

fn ob(s: &Option<String>) -> Option<Str<'_>> {
    s.as_deref().map(Cow::Borrowed)
}

fn own(s: Str<'_>) -> String {
    s.into_owned()
}

fn oown(s: Option<Str<'_>>) -> Option<String> {
    s.map(Cow::into_owned)
}

fn map<'a, T: 'a, U: From<&'a T>>(v: &'a [T]) -> Vec<U> {
    v.iter().map(U::from).collect()
}

fn back<T, U: Into<T>>(v: Vec<U>) -> Vec<T> {
    v.into_iter().map(Into::into).collect()
}

fn try_back<T, U: TryInto<T, Error = Invalid>>(v: Vec<U>) -> Result<Vec<T>, Invalid> {
    v.into_iter().map(TryInto::try_into).collect()
}

/// Plain enums: the same variants on both sides, converted by name.
macro_rules! mirror_enum {
    ($(#[$m:meta])* $name:ident = $dom:path { $($v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($v),+ }

        impl From<&$dom> for $name {
            fn from(x: &$dom) -> Self {
                use $dom as D;
                match x { $(D::$v => $name::$v),+ }
            }
        }

        impl From<$name> for $dom {
            fn from(x: $name) -> Self {
                use $dom as D;
                match x { $($name::$v => D::$v),+ }
            }
        }
    };
}

mirror_enum!(
    Status = d::Status {
        Placed,
        Confirmed,
        Packed,
        Shipped,
        Delivered,
        Cancelled,
        Returned
    }
);
mirror_enum!(PaymentMethod = d::PaymentMethod { Card, Cod });
mirror_enum!(
    PaymentStatus = d::PaymentStatus {
        Pending,
        Authorized,
        Captured,
        Failed
    }
);
mirror_enum!(
    InitialPaymentStatus = d::InitialPaymentStatus {
        Pending,
        Authorized,
        Captured
    }
);
mirror_enum!(
    StockState = d::StockState {
        Pending,
        Reserved,
        Unavailable,
        Released,
        Committed
    }
);
mirror_enum!(
    CarrierEventKind = d::CarrierEventKind {
        InTransit,
        OutForDelivery,
        Delivered,
        FailedAttempt,
        Exception
    }
);
mirror_enum!(
    NotificationKind = d::NotificationKind {
        Confirmed,
        Shipped,
        OutForDelivery,
        Delivered,
        Cancelled,
        ReturnApproved,
        Refunded
    }
);
mirror_enum!(
    ReservationState = d::inventory::ReservationState {
        Open,
        Released,
        Committed
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause<'a> {
    Storefront,
    Warehouse,
    Carrier(Str<'a>),
    Admin,
    InventoryActor,
    CarrierActor,
    PaymentTimer,
}

impl<'a> From<&'a d::Cause> for Cause<'a> {
    fn from(c: &'a d::Cause) -> Self {
        match c {
            d::Cause::Storefront => Cause::Storefront,
            d::Cause::Warehouse => Cause::Warehouse,
            d::Cause::Carrier(x) => Cause::Carrier(b(x)),
            d::Cause::Admin => Cause::Admin,
            d::Cause::InventoryActor => Cause::InventoryActor,
            d::Cause::CarrierActor => Cause::CarrierActor,
            d::Cause::PaymentTimer => Cause::PaymentTimer,
        }
    }
}

impl From<Cause<'_>> for d::Cause {
    fn from(c: Cause<'_>) -> Self {
        match c {
            Cause::Storefront => d::Cause::Storefront,
            Cause::Warehouse => d::Cause::Warehouse,
            Cause::Carrier(x) => d::Cause::Carrier(own(x)),
            Cause::Admin => d::Cause::Admin,
            Cause::InventoryActor => d::Cause::InventoryActor,
            Cause::CarrierActor => d::Cause::CarrierActor,
            Cause::PaymentTimer => d::Cause::PaymentTimer,
        }
    }
}

/// Amounts in minor units; the currency as its ISO 4217 code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money<'a> {
    pub amount: i64,
    pub currency: Str<'a>,
}

fn currency(code: &str) -> Result<d::Currency, Invalid> {
    d::Currency::parse(code).map_err(Invalid)
}

impl<'a> From<&'a d::Money> for Money<'a> {
    fn from(m: &'a d::Money) -> Self {
        Money {
            amount: m.amount,
            currency: b(m.currency.code()),
        }
    }
}

impl TryFrom<Money<'_>> for d::Money {
    type Error = Invalid;
    fn try_from(m: Money<'_>) -> Result<Self, Invalid> {
        Ok(d::Money {
            amount: m.amount,
            currency: currency(&m.currency)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer<'a> {
    pub id: Str<'a>,
    pub email: Str<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Str<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<Str<'a>>,
}

impl<'a> From<&'a d::Customer> for Customer<'a> {
    fn from(c: &'a d::Customer) -> Self {
        Customer {
            id: b(&c.id),
            email: b(&c.email),
            phone: ob(&c.phone),
            locale: ob(&c.locale),
        }
    }
}

impl From<Customer<'_>> for d::Customer {
    fn from(c: Customer<'_>) -> Self {
        d::Customer {
            id: own(c.id),
            email: own(c.email),
            phone: oown(c.phone),
            locale: oown(c.locale),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address<'a> {
    pub name: Str<'a>,
    pub line1: Str<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<Str<'a>>,
    pub city: Str<'a>,
    pub postal_code: Str<'a>,
    pub country: Str<'a>,
}

impl<'a> From<&'a d::Address> for Address<'a> {
    fn from(a: &'a d::Address) -> Self {
        Address {
            name: b(&a.name),
            line1: b(&a.line1),
            line2: ob(&a.line2),
            city: b(&a.city),
            postal_code: b(&a.postal_code),
            country: b(&a.country),
        }
    }
}

impl From<Address<'_>> for d::Address {
    fn from(a: Address<'_>) -> Self {
        d::Address {
            name: own(a.name),
            line1: own(a.line1),
            line2: oown(a.line2),
            city: own(a.city),
            postal_code: own(a.postal_code),
            country: own(a.country),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipping<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Str<'a>>,
    pub address: Address<'a>,
}

impl<'a> From<&'a d::Shipping> for Shipping<'a> {
    fn from(s: &'a d::Shipping) -> Self {
        Shipping {
            method: ob(&s.method),
            address: (&s.address).into(),
        }
    }
}

impl From<Shipping<'_>> for d::Shipping {
    fn from(s: Shipping<'_>) -> Self {
        d::Shipping {
            method: oown(s.method),
            address: s.address.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment<'a> {
    pub method: PaymentMethod,
    pub status: PaymentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Str<'a>>,
}

impl<'a> From<&'a d::Payment> for Payment<'a> {
    fn from(p: &'a d::Payment) -> Self {
        Payment {
            method: (&p.method).into(),
            status: (&p.status).into(),
            amount: p.amount,
            reference: ob(&p.reference),
        }
    }
}

impl From<Payment<'_>> for d::Payment {
    fn from(p: Payment<'_>) -> Self {
        d::Payment {
            method: p.method.into(),
            status: p.status.into(),
            amount: p.amount,
            reference: oown(p.reference),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line<'a> {
    pub sku: Str<'a>,
    pub quantity: u32,
    pub unit_price: i64,
    #[serde(default)]
    pub picked: u32,
}

impl<'a> From<&'a d::Line> for Line<'a> {
    fn from(l: &'a d::Line) -> Self {
        Line {
            sku: b(&l.sku),
            quantity: l.quantity,
            unit_price: l.unit_price,
            picked: l.picked,
        }
    }
}

impl From<Line<'_>> for d::Line {
    fn from(l: Line<'_>) -> Self {
        d::Line {
            sku: own(l.sku),
            quantity: l.quantity,
            unit_price: l.unit_price,
            picked: l.picked,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineQty<'a> {
    pub sku: Str<'a>,
    pub quantity: u32,
}

impl<'a> From<&'a d::LineQty> for LineQty<'a> {
    fn from(l: &'a d::LineQty) -> Self {
        LineQty {
            sku: b(&l.sku),
            quantity: l.quantity,
        }
    }
}

impl From<LineQty<'_>> for d::LineQty {
    fn from(l: LineQty<'_>) -> Self {
        d::LineQty {
            sku: own(l.sku),
            quantity: l.quantity,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shortage<'a> {
    pub sku: Str<'a>,
    pub requested: u32,
    pub available: i64,
}

impl<'a> From<&'a d::Shortage> for Shortage<'a> {
    fn from(s: &'a d::Shortage) -> Self {
        Shortage {
            sku: b(&s.sku),
            requested: s.requested,
            available: s.available,
        }
    }
}

impl From<Shortage<'_>> for d::Shortage {
    fn from(s: Shortage<'_>) -> Self {
        d::Shortage {
            sku: own(s.sku),
            requested: s.requested,
            available: s.available,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parcel {
    pub weight_grams: u32,
}

impl From<&d::Parcel> for Parcel {
    fn from(p: &d::Parcel) -> Self {
        Parcel {
            weight_grams: p.weight_grams,
        }
    }
}

impl From<Parcel> for d::Parcel {
    fn from(p: Parcel) -> Self {
        d::Parcel {
            weight_grams: p.weight_grams,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking<'a> {
    pub carrier: Str<'a>,
    pub carrier_name: Str<'a>,
    pub service: Str<'a>,
    pub tracking_number: Str<'a>,
    pub estimated_delivery: NaiveDate,
}

impl<'a> From<&'a d::Booking> for Booking<'a> {
    fn from(x: &'a d::Booking) -> Self {
        Booking {
            carrier: b(&x.carrier),
            carrier_name: b(&x.carrier_name),
            service: b(&x.service),
            tracking_number: b(&x.tracking_number),
            estimated_delivery: x.estimated_delivery,
        }
    }
}

impl From<Booking<'_>> for d::Booking {
    fn from(x: Booking<'_>) -> Self {
        d::Booking {
            carrier: own(x.carrier),
            carrier_name: own(x.carrier_name),
            service: own(x.service),
            tracking_number: own(x.tracking_number),
            estimated_delivery: x.estimated_delivery,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment<'a> {
    pub warehouse: Str<'a>,
    pub parcels: Vec<Parcel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking: Option<Booking<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan: Option<CarrierEventKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_location: Option<Str<'a>>,
}

impl<'a> From<&'a d::Shipment> for Shipment<'a> {
    fn from(s: &'a d::Shipment) -> Self {
        Shipment {
            warehouse: b(&s.warehouse),
            parcels: map(&s.parcels),
            booking: s.booking.as_ref().map(Into::into),
            last_scan: s.last_scan.as_ref().map(Into::into),
            last_scan_at: s.last_scan_at,
            last_location: ob(&s.last_location),
        }
    }
}

impl From<Shipment<'_>> for d::Shipment {
    fn from(s: Shipment<'_>) -> Self {
        d::Shipment {
            warehouse: own(s.warehouse),
            parcels: back(s.parcels),
            booking: s.booking.map(Into::into),
            last_scan: s.last_scan.map(Into::into),
            last_scan_at: s.last_scan_at,
            last_location: oown(s.last_location),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnCase<'a> {
    pub lines: Vec<LineQty<'a>>,
    pub reason: Str<'a>,
    pub approved_at: DateTime<Utc>,
    pub tracking_number: Str<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_lines: Option<Vec<LineQty<'a>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<Money<'a>>,
}

impl<'a> From<&'a d::ReturnCase> for ReturnCase<'a> {
    fn from(r: &'a d::ReturnCase) -> Self {
        ReturnCase {
            lines: map(&r.lines),
            reason: b(&r.reason),
            approved_at: r.approved_at,
            tracking_number: b(&r.tracking_number),
            received_at: r.received_at,
            received_lines: r.received_lines.as_deref().map(map),
            refund: r.refund.as_ref().map(Into::into),
        }
    }
}

impl TryFrom<ReturnCase<'_>> for d::ReturnCase {
    type Error = Invalid;
    fn try_from(r: ReturnCase<'_>) -> Result<Self, Invalid> {
        Ok(d::ReturnCase {
            lines: back(r.lines),
            reason: own(r.reason),
            approved_at: r.approved_at,
            tracking_number: own(r.tracking_number),
            received_at: r.received_at,
            received_lines: r.received_lines.map(back),
            refund: r.refund.map(TryInto::try_into).transpose()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation<'a> {
    pub reason: Str<'a>,
    pub at: DateTime<Utc>,
    pub by: Cause<'a>,
}

impl<'a> From<&'a d::Cancellation> for Cancellation<'a> {
    fn from(c: &'a d::Cancellation) -> Self {
        Cancellation {
            reason: b(&c.reason),
            at: c.at,
            by: (&c.by).into(),
        }
    }
}

impl From<Cancellation<'_>> for d::Cancellation {
    fn from(c: Cancellation<'_>) -> Self {
        d::Cancellation {
            reason: own(c.reason),
            at: c.at,
            by: c.by.into(),
        }
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<Str<'a>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shortages: Vec<Shortage<'a>>,
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
            warehouse: ob(&o.warehouse),
            shortages: map(&o.shortages),
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
            warehouse: oown(o.warehouse),
            shortages: back(o.shortages),
            shipments: back(o.shipments),
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewLine<'a> {
    pub sku: Str<'a>,
    pub quantity: u32,
    pub unit_price: i64,
}

impl<'a> From<&'a d::NewLine> for NewLine<'a> {
    fn from(l: &'a d::NewLine) -> Self {
        NewLine {
            sku: b(&l.sku),
            quantity: l.quantity,
            unit_price: l.unit_price,
        }
    }
}

impl From<NewLine<'_>> for d::NewLine {
    fn from(l: NewLine<'_>) -> Self {
        d::NewLine {
            sku: own(l.sku),
            quantity: l.quantity,
            unit_price: l.unit_price,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPayment {
    pub method: PaymentMethod,
    pub status: InitialPaymentStatus,
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
    },
    Packed {
        warehouse: Str<'a>,
        parcels: Vec<Parcel>,
    },
    ShipmentBooked {
        booking: Booking<'a>,
    },
    Shipped,
    CarrierScanned {
        carrier: Str<'a>,
        event_id: Str<'a>,
        kind: CarrierEventKind,
        occurred_at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<Str<'a>>,
    },
    Delivered,
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
            D::PicksAcknowledged { warehouse, lines } => Change::PicksAcknowledged {
                warehouse: b(warehouse),
                lines: map(lines),
            },
            D::Packed { warehouse, parcels } => Change::Packed {
                warehouse: b(warehouse),
                parcels: map(parcels),
            },
            D::ShipmentBooked { booking } => Change::ShipmentBooked {
                booking: booking.into(),
            },
            D::Shipped => Change::Shipped,
            D::CarrierScanned {
                carrier,
                event_id,
                kind,
                occurred_at,
                location,
            } => Change::CarrierScanned {
                carrier: b(carrier),
                event_id: b(event_id),
                kind: kind.into(),
                occurred_at: *occurred_at,
                location: ob(location),
            },
            D::Delivered => Change::Delivered,
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
            Change::PicksAcknowledged { warehouse, lines } => D::PicksAcknowledged {
                warehouse: own(warehouse),
                lines: back(lines),
            },
            Change::Packed { warehouse, parcels } => D::Packed {
                warehouse: own(warehouse),
                parcels: back(parcels),
            },
            Change::ShipmentBooked { booking } => D::ShipmentBooked {
                booking: booking.into(),
            },
            Change::Shipped => D::Shipped,
            Change::CarrierScanned {
                carrier,
                event_id,
                kind,
                occurred_at,
                location,
            } => D::CarrierScanned {
                carrier: own(carrier),
                event_id: own(event_id),
                kind: kind.into(),
                occurred_at,
                location: oown(location),
            },
            Change::Delivered => D::Delivered,
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
    },
    ReleaseStock,
    CommitStock,
    BookShipment {
        warehouse: Str<'a>,
        parcels: Vec<Parcel>,
        country: Str<'a>,
        method: Option<Str<'a>>,
    },
    Restock {
        warehouse: Str<'a>,
        lines: Vec<LineQty<'a>>,
    },
    Notify {
        kind: NotificationKind,
    },
}

impl<'a> From<&'a d::EffectKind> for Action<'a> {
    fn from(a: &'a d::EffectKind) -> Self {
        use d::EffectKind as D;
        match a {
            D::ReserveStock { lines } => Action::ReserveStock { lines: map(lines) },
            D::ReleaseStock => Action::ReleaseStock,
            D::CommitStock => Action::CommitStock,
            D::BookShipment {
                warehouse,
                parcels,
                country,
                method,
            } => Action::BookShipment {
                warehouse: b(warehouse),
                parcels: map(parcels),
                country: b(country),
                method: ob(method),
            },
            D::Restock { warehouse, lines } => Action::Restock {
                warehouse: b(warehouse),
                lines: map(lines),
            },
            D::Notify { kind } => Action::Notify { kind: kind.into() },
        }
    }
}

impl From<Action<'_>> for d::EffectKind {
    fn from(a: Action<'_>) -> Self {
        use d::EffectKind as D;
        match a {
            Action::ReserveStock { lines } => D::ReserveStock { lines: back(lines) },
            Action::ReleaseStock => D::ReleaseStock,
            Action::CommitStock => D::CommitStock,
            Action::BookShipment {
                warehouse,
                parcels,
                country,
                method,
            } => D::BookShipment {
                warehouse: own(warehouse),
                parcels: back(parcels),
                country: own(country),
                method: oown(method),
            },
            Action::Restock { warehouse, lines } => D::Restock {
                warehouse: own(warehouse),
                lines: back(lines),
            },
            Action::Notify { kind } => D::Notify { kind: kind.into() },
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

/// One message still to be delivered, with its retry state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry<'a> {
    pub effect: Effect<'a>,
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
        OutboxEntry {
            effect: (&e.effect).into(),
            channel: ob(&e.channel),
            attempts: e.attempts,
            next_attempt_at: e.next_attempt_at,
            last_error: ob(&e.last_error),
        }
    }
}

impl From<OutboxEntry<'_>> for crate::OutboxEntry {
    fn from(e: OutboxEntry<'_>) -> Self {
        crate::OutboxEntry {
            effect: e.effect.into(),
            channel: oown(e.channel),
            attempts: e.attempts,
            next_attempt_at: e.next_attempt_at,
            last_error: oown(e.last_error),
        }
    }
}

/// What an `Idempotency-Key` was first used for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord<'a> {
    pub fingerprint: Str<'a>,
    pub order_id: Uuid,
    pub version: u32,
}

impl<'a> From<&'a crate::IdempotencyRecord> for IdempotencyRecord<'a> {
    fn from(r: &'a crate::IdempotencyRecord) -> Self {
        IdempotencyRecord {
            fingerprint: b(&r.fingerprint),
            order_id: r.order_id,
            version: r.version,
        }
    }
}

impl From<IdempotencyRecord<'_>> for crate::IdempotencyRecord {
    fn from(r: IdempotencyRecord<'_>) -> Self {
        crate::IdempotencyRecord {
            fingerprint: own(r.fingerprint),
            order_id: r.order_id,
            version: r.version,
        }
    }
}

/// The operator-facing part of a dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterInfo<'a> {
    pub message_id: Str<'a>,
    pub order_id: Uuid,
    pub kind: Str<'a>,
    pub channel: Option<Str<'a>>,
    pub attempts: u32,
    pub last_error: Option<Str<'a>>,
    pub failed_at: DateTime<Utc>,
}

/// A notification that ran out of attempts, with the outbox entry to requeue it from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter<'a> {
    pub letter: DeadLetterInfo<'a>,
    pub entry: OutboxEntry<'a>,
}

impl<'a> DeadLetter<'a> {
    pub fn new(letter: &'a crate::DeadLetter, entry: &'a crate::OutboxEntry) -> Self {
        DeadLetter {
            letter: DeadLetterInfo {
                message_id: b(&letter.message_id),
                order_id: letter.order_id,
                kind: b(&letter.kind),
                channel: ob(&letter.channel),
                attempts: letter.attempts,
                last_error: ob(&letter.last_error),
                failed_at: letter.failed_at,
            },
            entry: entry.into(),
        }
    }
}

impl From<DeadLetter<'_>> for crate::DeadLetter {
    fn from(s: DeadLetter<'_>) -> Self {
        let l = s.letter;
        crate::DeadLetter {
            message_id: own(l.message_id),
            order_id: l.order_id,
            kind: own(l.kind),
            channel: oown(l.channel),
            attempts: l.attempts,
            last_error: oown(l.last_error),
            failed_at: l.failed_at,
            entry: Some(s.entry.into()),
        }
    }
}

/// One stock cell's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub on_hand: i64,
    pub reserved: i64,
}

impl From<&d::inventory::StockLevel> for StockLevel {
    fn from(l: &d::inventory::StockLevel) -> Self {
        StockLevel {
            on_hand: l.on_hand,
            reserved: l.reserved,
        }
    }
}

impl From<StockLevel> for d::inventory::StockLevel {
    fn from(l: StockLevel) -> Self {
        d::inventory::StockLevel {
            on_hand: l.on_hand,
            reserved: l.reserved,
        }
    }
}

/// What one order holds in stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation<'a> {
    pub order_id: Uuid,
    pub warehouse: Option<Str<'a>>,
    pub lines: Vec<LineQty<'a>>,
    pub state: ReservationState,
}

impl<'a> From<&'a d::inventory::Reservation> for Reservation<'a> {
    fn from(r: &'a d::inventory::Reservation) -> Self {
        Reservation {
            order_id: r.order_id,
            warehouse: ob(&r.warehouse),
            lines: map(&r.lines),
            state: (&r.state).into(),
        }
    }
}

impl From<Reservation<'_>> for d::inventory::Reservation {
    fn from(r: Reservation<'_>) -> Self {
        d::inventory::Reservation {
            order_id: r.order_id,
            warehouse: oown(r.warehouse),
            lines: back(r.lines),
            state: r.state.into(),
        }
    }
}
