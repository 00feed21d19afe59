//! Values that travel in both directions — in request bodies and inside responses — with the
//! constraints the domain validates them by, and their conversions from and to the domain.

use orderly_actors::domain as d;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

/// An ISO 4217 currency code Orderly accepts, e.g. `EUR`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Currency(pub String);

/// The codes the domain accepts, asked of the domain itself (it keeps the list).
fn supported_currencies() -> &'static [String] {
    static CODES: OnceLock<Vec<String>> = OnceLock::new();
    CODES.get_or_init(|| {
        let letters = b'A'..=b'Z';
        letters
            .clone()
            .flat_map(|a| letters.clone().map(move |b| (a, b)))
            .flat_map(|(a, b)| (b'A'..=b'Z').map(move |c| [a, b, c]))
            .filter_map(|code| {
                let code = String::from_utf8_lossy(&code).into_owned();
                d::Currency::parse(&code).ok().map(|_| code)
            })
            .collect()
    })
}

impl utoipa::PartialSchema for Currency {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("ISO 4217 currency code (upper case)."))
            .enum_values(Some(supported_currencies().iter().cloned()))
            .examples(["EUR"])
            .into()
    }
}

impl ToSchema for Currency {}

impl From<d::Currency> for Currency {
    fn from(c: d::Currency) -> Self {
        Currency(c.code().to_string())
    }
}

impl TryFrom<Currency> for d::Currency {
    type Error = String;
    fn try_from(c: Currency) -> Result<Self, String> {
        d::Currency::parse(&c.0)
    }
}

/// An amount in minor units of a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Money {
    /// Integer amount in the currency's minor unit (e.g. cents).
    pub amount: i64,
    pub currency: Currency,
}

impl From<d::Money> for Money {
    fn from(m: d::Money) -> Self {
        Money {
            amount: m.amount,
            currency: m.currency.into(),
        }
    }
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

impl From<d::Status> for Status {
    fn from(s: d::Status) -> Self {
        match s {
            d::Status::Placed => Status::Placed,
            d::Status::Confirmed => Status::Confirmed,
            d::Status::Packed => Status::Packed,
            d::Status::Shipped => Status::Shipped,
            d::Status::Delivered => Status::Delivered,
            d::Status::Cancelled => Status::Cancelled,
            d::Status::Returned => Status::Returned,
        }
    }
}

impl From<Status> for d::Status {
    fn from(s: Status) -> Self {
        match s {
            Status::Placed => d::Status::Placed,
            Status::Confirmed => d::Status::Confirmed,
            Status::Packed => d::Status::Packed,
            Status::Shipped => d::Status::Shipped,
            Status::Delivered => d::Status::Delivered,
            Status::Cancelled => d::Status::Cancelled,
            Status::Returned => d::Status::Returned,
        }
    }
}

/// The customer an order is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    #[schema(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub id: String,
    #[schema(
        max_length = 254,
        pattern = r"^[^@\x00-\x1f\x7f-\x9f]+@[^.\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*\.[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub email: String,
    /// In E.164 (`+31612345678`): what the SMS and WhatsApp channels send to. Anything else
    /// is 422 with `field` `customer.phone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 16, pattern = r"^\+[1-9][0-9]{7,14}$")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 35, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub locale: Option<String>,
    /// The channel the customer prefers to be told on (`sms` and `whatsapp` need `phone`);
    /// absent: the shop's `customer_channel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<ContactChannel>,
    /// Channels the customer is not to be told on, whatever the shop's routes say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 3)]
    pub opt_out: Vec<ContactChannel>,
}

/// A way a customer is told things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactChannel {
    Email,
    Sms,
    Whatsapp,
}

impl From<d::ContactChannel> for ContactChannel {
    fn from(c: d::ContactChannel) -> Self {
        match c {
            d::ContactChannel::Email => ContactChannel::Email,
            d::ContactChannel::Sms => ContactChannel::Sms,
            d::ContactChannel::Whatsapp => ContactChannel::Whatsapp,
        }
    }
}

impl From<ContactChannel> for d::ContactChannel {
    fn from(c: ContactChannel) -> Self {
        match c {
            ContactChannel::Email => d::ContactChannel::Email,
            ContactChannel::Sms => d::ContactChannel::Sms,
            ContactChannel::Whatsapp => d::ContactChannel::Whatsapp,
        }
    }
}

impl From<d::Customer> for Customer {
    fn from(c: d::Customer) -> Self {
        Customer {
            id: c.id,
            email: c.email,
            phone: c.phone,
            locale: c.locale,
            channel: c.channel.map(Into::into),
            opt_out: c.opt_out.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<Customer> for d::Customer {
    fn from(c: Customer) -> Self {
        d::Customer {
            id: c.id,
            email: c.email,
            phone: c.phone,
            locale: c.locale,
            channel: c.channel.map(Into::into),
            opt_out: c.opt_out.into_iter().map(Into::into).collect(),
        }
    }
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    #[schema(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    #[schema(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub line2: Option<String>,
    #[schema(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub city: String,
    #[schema(
        max_length = 20,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code, upper case.
    #[schema(pattern = r"^[A-Z]{2}$", example = "NL")]
    pub country: String,
}

impl From<d::Address> for Address {
    fn from(a: d::Address) -> Self {
        Address {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

impl From<Address> for d::Address {
    fn from(a: Address) -> Self {
        d::Address {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

/// Where and how an order ships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Shipping {
    /// Shipping method asked for by the storefront (e.g. `standard`, `express`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 32, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub method: Option<String>,
    pub address: Address,
    /// What the order weighs in grams, as the storefront weighed the cart: carrier rules and
    /// prices see it until the parcels are packed (absent: 0, the lightest band).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 1_000_000_000)]
    pub weight_grams: Option<u32>,
}

impl From<d::Shipping> for Shipping {
    fn from(s: d::Shipping) -> Self {
        Shipping {
            method: s.method,
            address: s.address.into(),
            weight_grams: s.weight_grams,
        }
    }
}

impl From<Shipping> for d::Shipping {
    fn from(s: Shipping) -> Self {
        d::Shipping {
            method: s.method,
            address: s.address.into(),
            weight_grams: s.weight_grams,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Card,
    Cod,
}

impl From<d::PaymentMethod> for PaymentMethod {
    fn from(m: d::PaymentMethod) -> Self {
        match m {
            d::PaymentMethod::Card => PaymentMethod::Card,
            d::PaymentMethod::Cod => PaymentMethod::Cod,
        }
    }
}

impl From<PaymentMethod> for d::PaymentMethod {
    fn from(m: PaymentMethod) -> Self {
        match m {
            PaymentMethod::Card => d::PaymentMethod::Card,
            PaymentMethod::Cod => d::PaymentMethod::Cod,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Authorized,
    Captured,
    Failed,
}

impl From<d::PaymentStatus> for PaymentStatus {
    fn from(s: d::PaymentStatus) -> Self {
        match s {
            d::PaymentStatus::Pending => PaymentStatus::Pending,
            d::PaymentStatus::Authorized => PaymentStatus::Authorized,
            d::PaymentStatus::Captured => PaymentStatus::Captured,
            d::PaymentStatus::Failed => PaymentStatus::Failed,
        }
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

impl From<d::InitialPaymentStatus> for InitialPaymentStatus {
    fn from(s: d::InitialPaymentStatus) -> Self {
        match s {
            d::InitialPaymentStatus::Pending => InitialPaymentStatus::Pending,
            d::InitialPaymentStatus::Authorized => InitialPaymentStatus::Authorized,
            d::InitialPaymentStatus::Captured => InitialPaymentStatus::Captured,
        }
    }
}

impl From<InitialPaymentStatus> for d::InitialPaymentStatus {
    fn from(s: InitialPaymentStatus) -> Self {
        match s {
            InitialPaymentStatus::Pending => d::InitialPaymentStatus::Pending,
            InitialPaymentStatus::Authorized => d::InitialPaymentStatus::Authorized,
            InitialPaymentStatus::Captured => d::InitialPaymentStatus::Captured,
        }
    }
}

/// The payment status a storefront may report later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentUpdate {
    Authorized,
    Captured,
    Failed,
}

impl From<PaymentUpdate> for d::PaymentUpdate {
    fn from(p: PaymentUpdate) -> Self {
        match p {
            PaymentUpdate::Authorized => d::PaymentUpdate::Authorized,
            PaymentUpdate::Captured => d::PaymentUpdate::Captured,
            PaymentUpdate::Failed => d::PaymentUpdate::Failed,
        }
    }
}

/// A sku and a number of units (picks, returns, receipts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LineQty {
    #[schema(
        pattern = r"^[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000/]{1,64}$"
    )]
    pub sku: String,
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "super::integer::u32")]
    pub quantity: u32,
}

impl From<d::LineQty> for LineQty {
    fn from(l: d::LineQty) -> Self {
        LineQty {
            sku: l.sku.into(),
            quantity: l.quantity,
        }
    }
}

impl From<LineQty> for d::LineQty {
    fn from(l: LineQty) -> Self {
        d::LineQty {
            sku: l.sku.into(),
            quantity: l.quantity,
        }
    }
}

/// One parcel of a shipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Parcel {
    #[schema(minimum = 1, maximum = 1_000_000)]
    #[serde(deserialize_with = "super::integer::u32")]
    pub weight_grams: u32,
}

impl From<d::Parcel> for Parcel {
    fn from(p: d::Parcel) -> Self {
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

/// What a carrier reports about a parcel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CarrierEventKind {
    InfoReceived,
    PickedUp,
    InTransit,
    OutForDelivery,
    FailedAttempt,
    AvailableForPickup,
    Exception,
    Delivered,
    ReturnedToSender,
    /// A carrier code its `tracking_codes` do not map (recorded with the raw code).
    Unknown,
}

impl From<d::CarrierEventKind> for CarrierEventKind {
    fn from(k: d::CarrierEventKind) -> Self {
        use d::CarrierEventKind as D;
        match k {
            D::InfoReceived => CarrierEventKind::InfoReceived,
            D::PickedUp => CarrierEventKind::PickedUp,
            D::InTransit => CarrierEventKind::InTransit,
            D::OutForDelivery => CarrierEventKind::OutForDelivery,
            D::FailedAttempt => CarrierEventKind::FailedAttempt,
            D::AvailableForPickup => CarrierEventKind::AvailableForPickup,
            D::Exception => CarrierEventKind::Exception,
            D::Delivered => CarrierEventKind::Delivered,
            D::ReturnedToSender => CarrierEventKind::ReturnedToSender,
            D::Unknown => CarrierEventKind::Unknown,
        }
    }
}

impl From<CarrierEventKind> for d::CarrierEventKind {
    fn from(k: CarrierEventKind) -> Self {
        use d::CarrierEventKind as D;
        match k {
            CarrierEventKind::InfoReceived => D::InfoReceived,
            CarrierEventKind::PickedUp => D::PickedUp,
            CarrierEventKind::InTransit => D::InTransit,
            CarrierEventKind::OutForDelivery => D::OutForDelivery,
            CarrierEventKind::FailedAttempt => D::FailedAttempt,
            CarrierEventKind::AvailableForPickup => D::AvailableForPickup,
            CarrierEventKind::Exception => D::Exception,
            CarrierEventKind::Delivered => D::Delivered,
            CarrierEventKind::ReturnedToSender => D::ReturnedToSender,
            CarrierEventKind::Unknown => D::Unknown,
        }
    }
}

// The schema attributes above repeat `patterns::*` literally (attributes take literals only);
// this keeps the two from drifting apart.
#[cfg(test)]
mod tests;
