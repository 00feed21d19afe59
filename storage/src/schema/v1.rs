//! Stored schema version 1: the shape every record had when the release before versioning
//! wrote it (then simply the domain types' serde shape), frozen here as types of its own.
//!
//! Field names, enum tags and `skip`/`default` rules are exactly what that release wrote; the
//! v0 fixture (`tests/fixtures/v0-data`) and the `same_json_as_the_domain` tests hold them to
//! it. The types never change: a new stored shape is a new module (`v2`, which reuses the
//! types that did not change). Since v2, v1 is read, not written (except a reservation that
//! fits it, see `schema::encode_reservation`): the conversions at the end of this file read a
//! v1 record into today's domain, as folding its v1 history with today's `evolve` would.
//!
//! Every type borrows its strings (`Cow<'a, str>`): writing builds a view over a domain value
//! without copying a string (`From<&'a domain::T>`, for the types v2 shares), reading
//! deserializes owned strings and converts into the domain type by moving them
//! (`TryFrom<v1::T<'_>>`).

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

pub(super) fn b(s: &str) -> Str<'_> {
    Cow::Borrowed(s)
}

pub(super) fn ob(s: &Option<String>) -> Option<Str<'_>> {
    s.as_deref().map(Cow::Borrowed)
}

/// An owned string, or a name made of one (a sku, a warehouse's id).
pub(super) fn own<T: From<String>>(s: Str<'_>) -> T {
    T::from(s.into_owned())
}

pub(super) fn oown(s: Option<Str<'_>>) -> Option<String> {
    s.map(Cow::into_owned)
}

pub(super) fn map<'a, T: 'a, U: From<&'a T>>(v: &'a [T]) -> Vec<U> {
    v.iter().map(U::from).collect()
}

pub(super) fn back<T, U: Into<T>>(v: Vec<U>) -> Vec<T> {
    v.into_iter().map(Into::into).collect()
}

pub(super) fn try_back<T, U: TryInto<T, Error = Invalid>>(v: Vec<U>) -> Result<Vec<T>, Invalid> {
    v.into_iter().map(TryInto::try_into).collect()
}

/// Plain enums: the same variants on both sides, converted by name. `read_only`: the domain
/// enum has variants this version cannot hold (a later version has its own type), so only the
/// reading direction exists.
macro_rules! mirror_enum {
    ($(#[$m:meta])* $name:ident = $dom:path { $($v:ident),+ $(,)? }) => {
        mirror_enum!(read_only $(#[$m])* $name = $dom { $($v),+ });

        impl From<&$dom> for $name {
            fn from(x: &$dom) -> Self {
                use $dom as D;
                match x { $(D::$v => $name::$v),+ }
            }
        }
    };
    (read_only $(#[$m:meta])* $name:ident = $dom:path { $($v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($v),+ }

        impl From<$name> for $dom {
            fn from(x: $name) -> Self {
                use $dom as D;
                match x { $($name::$v => D::$v),+ }
            }
        }
    };
}
pub(super) use mirror_enum;

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
    read_only StockState = d::StockState {
        Pending,
        Reserved,
        Unavailable,
        Released,
        Committed
    }
);
mirror_enum!(
    /// v1's kinds, and v3's (`info_received` … `unknown`: the one tracking vocabulary), here
    /// because v2 and v3 records reuse v1's kinds (no v1 or v2 record has them).
    CarrierEventKind = d::CarrierEventKind {
        InTransit,
        OutForDelivery,
        Delivered,
        FailedAttempt,
        Exception,
        InfoReceived,
        PickedUp,
        AvailableForPickup,
        ReturnedToSender,
        Unknown
    }
);
mirror_enum!(
    read_only NotificationKind = d::NotificationKind {
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
    /// New in v3; here because v2 and v3 records reuse v1's causes (no v1 record has it).
    PromiseTimer,
    /// New in v4, likewise.
    ExceptionTimer,
    DeadlineTimer,
    Customer,
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
            d::Cause::PromiseTimer => Cause::PromiseTimer,
            d::Cause::ExceptionTimer => Cause::ExceptionTimer,
            d::Cause::DeadlineTimer => Cause::DeadlineTimer,
            d::Cause::Customer => Cause::Customer,
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
            Cause::PromiseTimer => d::Cause::PromiseTimer,
            Cause::ExceptionTimer => d::Cause::ExceptionTimer,
            Cause::DeadlineTimer => d::Cause::DeadlineTimer,
            Cause::Customer => d::Cause::Customer,
        }
    }
}

/// Amounts in minor units; the currency as its ISO 4217 code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money<'a> {
    pub amount: i64,
    pub currency: Str<'a>,
}

pub(super) fn currency(code: &str) -> Result<d::Currency, Invalid> {
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
    /// v5: the channel the customer prefers (absent in every earlier record: the shop's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<ContactChannel>,
    /// v5: channels the customer opted out of (absent before: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub opt_out: Vec<ContactChannel>,
}

mirror_enum!(
    ContactChannel = d::ContactChannel {
        Email,
        Sms,
        Whatsapp
    }
);

impl<'a> From<&'a d::Customer> for Customer<'a> {
    fn from(c: &'a d::Customer) -> Self {
        Customer {
            id: b(&c.id),
            email: b(&c.email),
            phone: ob(&c.phone),
            locale: ob(&c.locale),
            channel: c.channel.as_ref().map(Into::into),
            opt_out: c.opt_out.iter().map(Into::into).collect(),
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
            channel: c.channel.map(Into::into),
            opt_out: c.opt_out.into_iter().map(Into::into).collect(),
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
            weight_grams: None,
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
            price: None,
            rule: None,
            promise: None,
            label_url: None,
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
    /// New in v4 (v2 and later reuse v1's return case; no v1 record has it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parcel: Option<super::v2::ReturnParcel<'a>>,
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
            parcel: r.parcel.as_ref().map(Into::into),
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
            parcel: r.parcel.map(Into::into),
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effect<'a> {
    pub order_id: Uuid,
    pub step: u32,
    pub action: Action<'a>,
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

impl From<OutboxEntry<'_>> for crate::OutboxEntry {
    fn from(e: OutboxEntry<'_>) -> Self {
        crate::OutboxEntry {
            message: crate::OutboxMessage::Order(e.effect.into()),
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

impl From<DeadLetter<'_>> for crate::DeadLetter {
    fn from(s: DeadLetter<'_>) -> Self {
        let l = s.letter;
        crate::DeadLetter {
            message_id: own(l.message_id),
            order_id: Some(l.order_id),
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
            incoming: 0,
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

// ---- reading v1 into today's domain ---------------------------------------------------------
//
// v1 knew one warehouse and one shipment per order. These conversions give the order today's
// shape exactly as folding its v1 history with today's `evolve` would: its lines at its
// warehouse as shipment 1, events and messages without a shipment (`None` keeps the meaning it
// had when it was written), a reservation as one part.

/// The shipment a v1 order's status stands for.
fn shipment_status(s: Status) -> d::ShipmentStatus {
    match s {
        Status::Placed | Status::Confirmed => d::ShipmentStatus::Allocated,
        Status::Packed => d::ShipmentStatus::Packed,
        Status::Shipped => d::ShipmentStatus::Shipped,
        Status::Delivered | Status::Returned => d::ShipmentStatus::Delivered,
        Status::Cancelled => d::ShipmentStatus::Cancelled,
    }
}

impl TryFrom<Order<'_>> for d::Order {
    type Error = Invalid;
    fn try_from(o: Order<'_>) -> Result<Self, Invalid> {
        let status = o.status;
        let delivered = matches!(status, Status::Delivered | Status::Returned);
        // One shipment once stock was reserved at a warehouse (`StockReserved`), with what
        // packing, booking and the carrier's scans added to it.
        let shipments = match o.warehouse {
            None => vec![],
            Some(warehouse) => {
                let v1_shipment = o.shipments.into_iter().next();
                let (parcels, booking, last_scan, last_scan_at, last_location) = match v1_shipment {
                    Some(s) => (
                        back(s.parcels),
                        s.booking.map(Into::into),
                        s.last_scan.map(Into::into),
                        s.last_scan_at,
                        oown(s.last_location),
                    ),
                    None => (vec![], None, None, None, None),
                };
                vec![d::Shipment {
                    id: 1,
                    warehouse: own(warehouse),
                    lines: o
                        .lines
                        .iter()
                        .map(|l| d::ShipmentLine {
                            sku: d::Sku::new(l.sku.as_ref()),
                            quantity: l.quantity,
                            picked: l.picked,
                        })
                        .collect(),
                    status: shipment_status(status),
                    parcels,
                    booking,
                    plan: None,
                    delayed: false,
                    attempts: 0,
                    exception: None,
                    return_to_origin: None,
                    pick_pack_late: false,
                    last_scan,
                    last_scan_at,
                    last_location,
                    delivered_at: if delivered { o.delivered_at } else { None },
                }]
            }
        };
        Ok(d::Order {
            id: o.id,
            version: o.version,
            external_ref: oown(o.external_ref),
            tracking_token: own(o.tracking_token),
            status: status.into(),
            customer: o.customer.into(),
            currency: currency(&o.currency)?,
            lines: o
                .lines
                .into_iter()
                .map(|l| d::Line {
                    sku: own(l.sku),
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                })
                .collect(),
            shipping: o.shipping.into(),
            billing_address: o.billing_address.map(Into::into),
            payment: o.payment.into(),
            stock: o.stock.into(),
            shortages: back(o.shortages),
            backordered: vec![],
            allow_split: None,
            shipments,
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
            allow_split: None,
        })
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
                shipment: None,
            },
            Change::Packed { warehouse, parcels } => D::Packed {
                warehouse: own(warehouse),
                parcels: back(parcels),
                shipment: None,
            },
            Change::ShipmentBooked { booking } => D::ShipmentBooked {
                booking: booking.into(),
                shipment: None,
            },
            Change::Shipped => D::Shipped { shipment: None },
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
                shipment: None,
                estimated_delivery: None,
                code: None,
                description: None,
            },
            Change::Delivered => D::Delivered { shipment: None },
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

impl From<Action<'_>> for d::EffectKind {
    fn from(a: Action<'_>) -> Self {
        use d::EffectKind as D;
        match a {
            Action::ReserveStock { lines } => D::ReserveStock {
                lines: back(lines),
                country: None,
                allow_split: None,
            },
            Action::ReleaseStock => D::ReleaseStock { shipments: None },
            Action::CommitStock => D::CommitStock { shipment: None },
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
                shipment: None,
                terms: None,
            },
            Action::Restock { warehouse, lines } => D::Restock {
                warehouse: own(warehouse),
                lines: back(lines),
            },
            Action::Notify { kind } => D::Notify { kind: kind.into() },
        }
    }
}

impl From<Reservation<'_>> for d::inventory::Reservation {
    /// A warehouse's reservation is the order's only part (shipment 1); none is a tombstone.
    fn from(r: Reservation<'_>) -> Self {
        let state = r.state.into();
        d::inventory::Reservation {
            order_id: r.order_id,
            parts: match r.warehouse {
                Some(w) => vec![d::inventory::ReservedPart {
                    shipment: 1,
                    warehouse: own(w),
                    lines: back(r.lines),
                    state,
                }],
                None => vec![],
            },
            // v1 knew no backorders.
            backordered: vec![],
            state,
        }
    }
}
