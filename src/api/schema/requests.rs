//! What clients send: request bodies, query strings, path parameters and headers, with the
//! constraints that are enforced on them (by serde, by the handlers, or by the domain's
//! validation), and their conversions into the domain's types.

use super::values::{
    Address, CarrierEventKind, Currency, Customer, InitialPaymentStatus, LineQty, Parcel,
    PaymentMethod, PaymentUpdate, Shipping, Status,
};
use crate::api::problem::Problem;
use actix_web::HttpRequest;
use chrono::{DateTime, NaiveDate, Utc};
use orderly_actors::domain as d;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A new order, as a storefront places it (and as the `placed` event of its history shows it).
/// Skus must be distinct across lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NewOrder {
    /// The storefront's own reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub external_ref: Option<String>,
    pub customer: Customer,
    pub currency: Currency,
    /// One line per sku (a sku may not appear twice).
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<NewLine>,
    pub shipping: Shipping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address>,
    pub payment: NewPayment,
    /// Whether the order may be split across warehouses when no single one can serve it
    /// (one shipment per warehouse); absent: the shop's `[allocation] allow_split`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_split: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NewLine {
    #[schema(
        pattern = r"^[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000/]{1,64}$"
    )]
    pub sku: String,
    #[schema(minimum = 1, maximum = 10_000)]
    #[serde(deserialize_with = "super::integer::u32")]
    pub quantity: u32,
    /// Price of one unit in minor units.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    #[serde(deserialize_with = "super::integer::i64")]
    pub unit_price: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NewPayment {
    pub method: PaymentMethod,
    pub status: InitialPaymentStatus,
}

impl From<d::NewOrder> for NewOrder {
    fn from(o: d::NewOrder) -> Self {
        NewOrder {
            external_ref: o.external_ref,
            customer: o.customer.into(),
            currency: o.currency.into(),
            lines: o
                .lines
                .into_iter()
                .map(|l| NewLine {
                    sku: l.sku.into(),
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                })
                .collect(),
            shipping: o.shipping.into(),
            billing_address: o.billing_address.map(Into::into),
            payment: NewPayment {
                method: o.payment.method.into(),
                status: o.payment.status.into(),
            },
            allow_split: o.allow_split,
        }
    }
}

impl TryFrom<NewOrder> for d::NewOrder {
    type Error = Problem;
    /// Only the currency can fail here; the domain validates the rest (`NewOrder::validate`).
    fn try_from(o: NewOrder) -> Result<Self, Problem> {
        Ok(d::NewOrder {
            external_ref: o.external_ref,
            customer: o.customer.into(),
            currency: o
                .currency
                .try_into()
                .map_err(|e: String| Problem::invalid("currency", format!("currency: {e}")))?,
            lines: o
                .lines
                .into_iter()
                .map(|l| d::NewLine {
                    sku: l.sku.into(),
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                })
                .collect(),
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

/// A payment reported by the storefront.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentBody {
    pub status: PaymentUpdate,
    /// Minor units; must equal the order total for authorized/captured.
    #[serde(deserialize_with = "super::integer::i64")]
    pub amount: i64,
    /// The payment provider's reference.
    #[schema(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub reference: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    #[schema(
        max_length = 500,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub reason: String,
}

/// A return request: delivered lines (skus on the order, each at most once).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnBody {
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<LineQty>,
    #[schema(
        max_length = 500,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub reason: String,
}

/// Where the service writes a backup of its data.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupBody {
    /// An absolute path on the service's host: a directory that does not exist yet (its parent
    /// must) or is empty. Afterwards it is a data directory (`storage.data_dir`) of its own.
    #[schema(min_length = 2, max_length = 4096, pattern = r"^/[^\x00]*$")]
    pub dir: String,
}

/// Units picked now; they add up over several calls, up to the ordered quantity.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PicksBody {
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub warehouse: String,
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<LineQty>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackBody {
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub warehouse: String,
    #[schema(min_items = 1, max_items = 50)]
    pub parcels: Vec<Parcel>,
}

/// Picked units of one shipment (the shipment is in the path, and so its warehouse).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentPicksBody {
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<LineQty>,
}

/// The parcels one shipment is packed into.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentPackBody {
    #[schema(min_items = 1, max_items = 50)]
    pub parcels: Vec<Parcel>,
}

/// Returned goods received at a warehouse (at most what was approved for return).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveBody {
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub warehouse: String,
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<LineQty>,
}

/// A carrier's tracking event.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CarrierEventBody {
    /// The carrier's id for this event; a repeated id is ignored.
    #[schema(
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub event_id: String,
    /// An unknown tracking number answers 404.
    #[schema(max_length = 64)]
    pub tracking_number: String,
    /// What happened, in the one tracking vocabulary; give this or `code` (`unknown` is
    /// not something a carrier reports: it is what an unmapped `code` becomes).
    #[serde(rename = "type", default)]
    pub kind: Option<CarrierEventKind>,
    /// The carrier's own code for the event, mapped through its `tracking_codes` when `type`
    /// is absent (an unmapped code is recorded as `unknown` and counted); kept as reported.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub code: Option<String>,
    /// The carrier's own words for it, kept as reported.
    #[serde(default)]
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub description: Option<String>,
    pub occurred_at: DateTime<Utc>,
    #[serde(default)]
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub location: Option<String>,
    /// The day the carrier now expects to deliver: revises the shipment's promised window.
    #[serde(default)]
    pub estimated_delivery: Option<NaiveDate>,
    /// Why a delivery failed (a `failed_attempt`'s; absent: `other`).
    #[serde(default)]
    pub reason: Option<super::order::FailureReason>,
}

impl TryFrom<CarrierEventBody> for orderly_actors::engine::CarrierScan {
    type Error = Problem;
    /// `type` or `code` must say what happened; `unknown` is not a type a carrier may send.
    fn try_from(b: CarrierEventBody) -> Result<Self, Problem> {
        if b.kind.is_none() && b.code.is_none() {
            return Err(Problem::invalid(
                "type",
                "give `type` or the carrier's `code`",
            ));
        }
        if b.kind == Some(CarrierEventKind::Unknown) {
            return Err(Problem::invalid(
                "type",
                "`unknown` is what an unmapped `code` becomes; send the `code`",
            ));
        }
        Ok(orderly_actors::engine::CarrierScan {
            event_id: b.event_id,
            tracking_number: b.tracking_number,
            kind: b.kind.map(Into::into),
            occurred_at: b.occurred_at,
            location: b.location,
            estimated_delivery: b.estimated_delivery,
            code: b.code,
            description: b.description,
            reason: b.reason.map(Into::into),
        })
    }
}

/// What to do after a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionAction {
    /// Deliver again (on `date` if given).
    Reattempt,
    /// Bring the parcel back to its warehouse.
    ReturnToOrigin,
}

/// The answer to a shipment's delivery exception.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionAnswerBody {
    pub action: ExceptionAction,
    /// For `reattempt`: the local day to deliver on, from today (at the parcel's warehouse) up
    /// to 30 days ahead; a day in the past is a 422.
    #[serde(default)]
    pub date: Option<NaiveDate>,
    /// For `reattempt`: notes for the driver (where to leave it, a corrected door number).
    #[serde(default)]
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub notes: Option<String>,
}

impl TryFrom<ExceptionAnswerBody> for orderly_actors::domain::ExceptionAnswer {
    type Error = Problem;
    fn try_from(b: ExceptionAnswerBody) -> Result<Self, Problem> {
        use orderly_actors::domain::ExceptionAnswer as A;
        match b.action {
            ExceptionAction::Reattempt => Ok(A::Reattempt {
                date: b.date,
                notes: b.notes,
            }),
            ExceptionAction::ReturnToOrigin if b.date.is_some() => Err(Problem::invalid(
                "date",
                "a date goes with `reattempt` only",
            )),
            ExceptionAction::ReturnToOrigin if b.notes.is_some() => {
                Err(Problem::invalid("notes", "notes go with `reattempt` only"))
            }
            ExceptionAction::ReturnToOrigin => Ok(A::ReturnToOrigin),
        }
    }
}

/// Whether a sku may be backordered, and how many of its units may wait at most.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackordersBody {
    pub allowed: bool,
    /// Most units waiting at once, over every order; not below those waiting now (409).
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    #[serde(deserialize_with = "super::integer::i64")]
    pub cap: i64,
}

/// A stock count.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockBody {
    /// Units counted; not below what open orders hold (409).
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "super::integer::i64")]
    pub on_hand: i64,
}

/// A stock cell's reorder point: when the units available there (on hand − reserved) fall to
/// or below it, one `low_stock` alert goes to operations; the next only once they have risen
/// above it again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReorderPointBody {
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    #[serde(deserialize_with = "super::integer::i64")]
    pub reorder_point: i64,
}

/// A contact to tell once when a sku can be bought again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionBody {
    #[schema(
        pattern = r"^[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000/]{1,64}$"
    )]
    pub sku: String,
    /// An e-mail address (`jan@example.com`; stored in lower case) or a phone number in
    /// international form (`+31612345678`; spaces, `-`, `(`, `)` and `.` between the digits
    /// are dropped). Anything else is 422 with `field` `contact`.
    #[schema(
        min_length = 3,
        max_length = 254,
        pattern = r"^\s*([A-Za-z0-9._%+=!#$&'*/?^`{|}~-]+@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+|\+[1-9][0-9 ().-]{7,30})\s*$"
    )]
    pub contact: String,
}

/// `GET /v1/orders`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only orders in this status.
    #[param(value_type = Option<Status>)]
    pub status: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// `next_cursor` from the previous page.
    #[param(value_type = Option<Uuid>)]
    pub cursor: Option<String>,
}

/// `GET /v1/warehouses/{warehouse}/picks`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PickQuery {
    /// Page size, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// `next_cursor` from the previous page.
    #[param(value_type = Option<Uuid>)]
    pub cursor: Option<String>,
}

/// `GET /v1/notifications/dead-letters`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// Page size, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
}

/// `GET /v1/availability`: `sku` repeated (`?sku=A&sku=B`), 1 to 100 times.
/// Read by hand from the query string (a repeated key is not a struct field); this type is
/// its OpenAPI description.
pub struct AvailabilityQuery;

/// Most skus one availability request may ask for.
pub const MAX_AVAILABILITY_SKUS: usize = 100;

impl IntoParams for AvailabilityQuery {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn, ParameterStyle};
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        use utoipa::openapi::Required;
        let sku = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(super::patterns::SKU));
        vec![ParameterBuilder::new()
            .name("sku")
            .parameter_in(ParameterIn::Query)
            .required(Required::True)
            .description(Some(
                "A sku (1-64 characters without white space, control characters or '/'), \
                 repeated for each sku asked: 1 to 100; a sku asked twice is answered once.",
            ))
            .style(Some(ParameterStyle::Form))
            .explode(Some(true))
            .schema(Some(
                ArrayBuilder::new()
                    .items(sku)
                    .min_items(Some(1))
                    .max_items(Some(MAX_AVAILABILITY_SKUS)),
            ))
            .build()]
    }
}

/// An order in the path. An id that is not a UUID names no order (404).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrderPath {
    #[param(value_type = Uuid)]
    pub id: String,
}

/// An order and one of its shipments in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ShipmentPath {
    #[param(value_type = Uuid)]
    pub id: String,
    /// The shipment's number within the order (1, 2, …).
    #[param(value_type = u32, minimum = 1, maximum = 1000)]
    pub shipment: String,
}

/// A warehouse in the path (1-64 letters, digits, '-' or '_'; anything else is 422).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WarehousePath {
    #[param(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub warehouse: String,
}

/// A sku in the path (1-64 characters without white space, control characters or '/'; anything
/// else is 422).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SkuPath {
    #[param(
        pattern = r"^[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000/]{1,64}$"
    )]
    pub sku: String,
}

/// A stock cell in the path: warehouse and sku (as [`WarehousePath`] and [`SkuPath`]).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct StockCellPath {
    #[param(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub warehouse: String,
    #[param(
        pattern = r"^[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000/]{1,64}$"
    )]
    pub sku: String,
}

/// A customer's tracking token (40 hexadecimal digits; anything else names nothing: 404).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TrackingPath {
    #[param(pattern = r"^[0-9a-fA-F]{40}$")]
    pub token: String,
}

/// A customer's tracking token and one of the order's shipments.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TrackShipmentPath {
    #[param(pattern = r"^[0-9a-fA-F]{40}$")]
    pub token: String,
    /// The shipment's number within the order (1, 2, …).
    #[param(value_type = u32, minimum = 1, maximum = 1000)]
    pub shipment: String,
}

/// The carrier posting events (a carrier key may post only for its own carrier).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CarrierPath {
    /// The carrier's id, as configured.
    pub carrier: String,
}

/// A dead letter, by its message id.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeadLetterPath {
    /// `message_id` from the dead-letter list.
    pub id: String,
}

/// `Prefer: wait=N` (RFC 7240) when placing an order: answer once the stock's outcome is known
/// (allocated, backordered or cancelled for shortage), waiting at most N seconds (at most 10;
/// more counts as 10). The answer then carries `Preference-Applied: wait=N`; without the
/// preference, or with one that cannot be read (ignored, as RFC 7240 asks), placing answers at
/// once with the order as placed.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct PreferWait {
    /// RFC 7240 preferences, e.g. `wait=5`; others, and a `wait` that cannot be read, are
    /// ignored.
    #[param(rename = "Prefer")]
    pub prefer: Option<String>,
}

impl PreferWait {
    /// Most a request may wait.
    pub const MAX_SECS: u64 = 10;

    /// The seconds asked for, capped at [`PreferWait::MAX_SECS`]; `None` without a readable
    /// `wait` preference.
    pub fn from_request(req: &HttpRequest) -> Option<u64> {
        req.headers()
            .get_all("prefer")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|pref| {
                let (name, value) = pref.split_once('=')?;
                if !name.trim().eq_ignore_ascii_case("wait") {
                    return None;
                }
                let value = value.trim().trim_matches('"');
                let secs: u64 = value.parse().ok()?;
                Some(secs.min(Self::MAX_SECS))
            })
            .next()
    }
}

/// `POST /v1/transfers`: units of skus from one warehouse to another.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// The warehouse the units leave (on hand there, not reserved).
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub from: String,
    /// The warehouse they go to; not `from`.
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub to: String,
    /// Each sku once, 1 to 1,000,000 units each.
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<LineQty>,
}

/// `POST /v1/transfers/{id}/receive`: the units that arrived (each at most what is in transit).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<LineQty>,
}

/// A transfer in the path. An id that is not a UUID names no transfer (404).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TransferPath {
    #[param(value_type = Uuid)]
    pub id: String,
}

/// `GET /v1/transfers`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TransferQuery {
    /// Page size, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// `next_cursor` from the previous page.
    #[param(value_type = Option<Uuid>)]
    pub cursor: Option<String>,
}

/// The header that makes placing an order (or creating a transfer) safe to retry.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// Required: 1-255 visible ASCII characters. The same key and body answer the original
    /// response again (with `Idempotent-Replayed: true`); the same key with another body is 422.
    #[param(rename = "Idempotency-Key", pattern = r"^[\x21-\x7e]{1,255}$")]
    pub key: String,
}

impl IdempotencyKey {
    pub fn from_request(req: &HttpRequest) -> Result<String, Problem> {
        let key = req
            .headers()
            .get("idempotency-key")
            .ok_or_else(|| Problem::bad_request("the Idempotency-Key header is required"))?
            .to_str()
            .map_err(|_| Problem::bad_request("Idempotency-Key must be visible ASCII"))?;
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Problem::bad_request(
                "Idempotency-Key must be 1-255 visible ASCII characters",
            ));
        }
        Ok(key.to_string())
    }
}

#[cfg(test)]
mod tests;

/// Where a quote's parcels would go.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// ISO 3166-1 alpha-2, upper case.
    #[schema(pattern = r"^[A-Z]{2}$")]
    pub country: String,
    #[schema(
        min_length = 1,
        max_length = 20,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub postal_code: String,
}

/// One line of a quote: what the cart holds.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteLine {
    #[schema(
        pattern = r"^[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000/]{1,64}$"
    )]
    pub sku: String,
    #[schema(minimum = 1, maximum = 10_000)]
    #[serde(deserialize_with = "super::integer::u32")]
    pub quantity: u32,
    /// Price of one unit in minor units (what carrier rules on order value compare; absent: 0).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub unit_price: Option<i64>,
}

/// `POST /v1/quotes`: the delivery options a cart would get if it were ordered now.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteBody {
    pub destination: Destination,
    /// One line per sku (a sku may not appear twice).
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<QuoteLine>,
    /// Only this shipping method's option (absent: one option per method some carrier
    /// service fulfils).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 32, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub method: Option<String>,
    /// The cart's weight in grams (absent: 0, the lightest band).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub weight_grams: Option<u32>,
    /// How the customer would pay (`cod` adds cash-on-delivery surcharges; absent: `card`).
    #[serde(default)]
    pub payment_method: Option<PaymentMethod>,
    /// Whether the order may be split across warehouses (absent: the shop's policy).
    #[serde(default)]
    pub allow_split: Option<bool>,
}

impl QuoteBody {
    /// The engine's request, or the first field that is wrong.
    pub fn into_request(self) -> Result<orderly_actors::engine::quotes::QuoteRequest, Problem> {
        if !d::order::validate::is_country_code(&self.destination.country) {
            return Err(Problem::invalid(
                "destination.country",
                "must be an ISO 3166-1 alpha-2 code in upper case, e.g. NL",
            ));
        }
        d::order::validate::text("destination.postal_code", &self.destination.postal_code, 20)?;
        if let Some(m) = &self.method {
            d::order::validate::text("method", m, 32)?;
        }
        if self.lines.is_empty() || self.lines.len() > 100 {
            return Err(Problem::invalid("lines", "1 to 100 lines"));
        }
        if self.weight_grams.is_some_and(|w| w > 1_000_000_000) {
            return Err(Problem::invalid("weight_grams", "at most 1,000,000,000"));
        }
        let mut lines: Vec<d::LineQty> = Vec::with_capacity(self.lines.len());
        let mut value: i64 = 0;
        for (i, l) in self.lines.iter().enumerate() {
            let sku = d::Sku::parse(&format!("lines[{i}].sku"), &l.sku)?;
            if lines.iter().any(|x| x.sku == sku) {
                return Err(Problem::invalid(
                    &format!("lines[{i}].sku"),
                    format!("sku '{sku}' appears twice"),
                ));
            }
            if !(1..=10_000).contains(&l.quantity) {
                return Err(Problem::invalid(
                    &format!("lines[{i}].quantity"),
                    "1 to 10,000",
                ));
            }
            let price = l.unit_price.unwrap_or(0);
            if !(0..=1_000_000_000_000).contains(&price) {
                return Err(Problem::invalid(
                    &format!("lines[{i}].unit_price"),
                    "0 to 1,000,000,000,000",
                ));
            }
            value += price * l.quantity as i64;
            lines.push(d::LineQty {
                sku,
                quantity: l.quantity,
            });
        }
        Ok(orderly_actors::engine::quotes::QuoteRequest {
            country: self.destination.country,
            postal_code: self.destination.postal_code,
            lines,
            method: self.method,
            weight_grams: self.weight_grams,
            value,
            cash_on_delivery: self.payment_method == Some(PaymentMethod::Cod),
            allow_split: self.allow_split,
        })
    }
}

/// A kind of message, as template files name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
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
    PickPackLate,
    LowStock,
    BackInStock,
}

impl MessageKind {
    pub const ALL: [MessageKind; 14] = [
        MessageKind::Confirmed,
        MessageKind::Backordered,
        MessageKind::Shipped,
        MessageKind::OutForDelivery,
        MessageKind::Delivered,
        MessageKind::Cancelled,
        MessageKind::ReturnApproved,
        MessageKind::Refunded,
        MessageKind::Delayed,
        MessageKind::DeliveryFailed,
        MessageKind::ReturningToOrigin,
        MessageKind::PickPackLate,
        MessageKind::LowStock,
        MessageKind::BackInStock,
    ];

    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }
}

/// A language messages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageLocale {
    En,
    Ro,
    Tr,
    Ar,
}

/// A channel that speaks to people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageChannel {
    Email,
    Sms,
    Whatsapp,
}

/// `POST /v1/notifications/preview`: which message to render, and against what.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    pub kind: MessageKind,
    pub locale: MessageLocale,
    pub channel: MessageChannel,
    /// Render against this stored order (absent: the built-in sample order).
    #[serde(default)]
    pub order_id: Option<uuid::Uuid>,
}

impl PreviewBody {
    pub fn into_request(self) -> orderly_actors::engine::previews::PreviewRequest {
        let name = |v: serde_json::Result<serde_json::Value>| {
            v.ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        };
        orderly_actors::engine::previews::PreviewRequest {
            kind: self.kind.name(),
            locale: name(serde_json::to_value(self.locale)),
            channel: name(serde_json::to_value(self.channel)),
            order_id: self.order_id,
        }
    }
}
