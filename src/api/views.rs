//! Response bodies: how orders look to each kind of client.
//!
//! Storefronts see the whole order; warehouse terminals see what to pick; the public tracking
//! page sees status and timeline only — no address, email or phone.

use chrono::{DateTime, NaiveDate, Utc};
use orderly_actors::domain::inventory::StockLevel;
use orderly_actors::domain::{Event, Money, Order, Status};
use orderly_actors::engine::OrderView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderBody {
    #[serde(flatten)]
    pub order: Order,
    pub total: Money,
    /// Where the shipping label (PDF) can be fetched once the carrier is booked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_url: Option<String>,
    /// Where the return label (PDF) can be fetched once a return is approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_label_url: Option<String>,
    #[schema(value_type = Vec<Event>)]
    pub history: History,
}

/// An order's history in a response: decoded events, or the stored JSON passed through as is
/// (a read does not need to decode and re-encode every event).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum History {
    Events(Vec<Event>),
    Stored(Vec<Box<serde_json::value::RawValue>>),
}

impl OrderBody {
    pub fn new(v: OrderView) -> Self {
        Self::with_history(v.order, History::Events(v.history))
    }

    pub fn with_history(order: Order, history: History) -> Self {
        let v = OrderView {
            order,
            history: Vec::new(),
        };
        let id = v.order.id;
        OrderBody {
            total: v.order.total(),
            label_url: v.order.booking().map(|_| format!("/v1/orders/{id}/label")),
            return_label_url: v
                .order
                .return_case
                .as_ref()
                .map(|_| format!("/v1/orders/{id}/returns/label")),
            order: v.order,
            history,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderSummary {
    #[serde(flatten)]
    pub order: Order,
    pub total: Money,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    pub orders: Vec<OrderSummary>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PickLine {
    pub sku: String,
    pub quantity: u32,
    pub picked: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PickOrder {
    pub order_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    pub confirmed_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_method: Option<String>,
    pub lines: Vec<PickLine>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PickList {
    pub warehouse: String,
    pub orders: Vec<PickOrder>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl PickOrder {
    pub fn new(o: Order) -> Self {
        PickOrder {
            order_id: o.id,
            external_ref: o.external_ref,
            confirmed_at: o.updated_at,
            shipping_method: o.shipping.method,
            lines: o
                .lines
                .into_iter()
                .map(|l| PickLine {
                    sku: l.sku,
                    quantity: l.quantity,
                    picked: l.picked,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// Machine-readable step, e.g. `confirmed`, `in_transit`, `delivered`.
    pub step: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// What the customer's tracking page may show.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tracking {
    pub status: Status,
    pub placed_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_delivery: Option<NaiveDate>,
    pub timeline: Vec<TimelineEntry>,
}

/// The few fields of a stored event the tracking page needs; the rest (the placed order's
/// addresses and contact details among them) is skipped while decoding.
#[derive(Debug, Deserialize)]
pub struct TimelineSource {
    at: DateTime<Utc>,
    #[serde(rename = "type")]
    change: String,
    /// The carrier scan's kind, for `carrier_scanned` events.
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    location: Option<String>,
}

impl Tracking {
    pub fn new(order: &Order, events: Vec<TimelineSource>) -> Self {
        let booking = order.booking();
        let timeline = events
            .into_iter()
            .filter_map(|e| {
                let description = match e.change.as_str() {
                    "placed" => "Order placed",
                    "confirmed" => "Order confirmed",
                    "packed" => "Packed and ready for the carrier",
                    "shipped" => "Handed to the carrier",
                    "carrier_scanned" => match e.kind.as_deref() {
                        Some("in_transit") => "In transit",
                        Some("out_for_delivery") => "Out for delivery",
                        Some("delivered") => "Delivered by the carrier",
                        Some("failed_attempt") => "Delivery attempt failed",
                        _ => "Carrier reported a problem",
                    },
                    "delivered" => "Delivered",
                    "cancelled" => "Order cancelled",
                    "return_approved" => "Return approved",
                    "return_received" => "Return received",
                    "refund_issued" => "Refund issued",
                    _ => return None,
                };
                let step = match e.change.as_str() {
                    "carrier_scanned" => e.kind.unwrap_or_default(),
                    "return_received" => "returned".to_string(),
                    "refund_issued" => "refunded".to_string(),
                    _ => e.change,
                };
                Some(TimelineEntry {
                    at: e.at,
                    step,
                    description: description.to_string(),
                    location: e.location,
                })
            })
            .collect();
        Tracking {
            status: order.status,
            placed_at: order.placed_at,
            carrier: booking.map(|b| b.carrier_name.clone()),
            tracking_number: booking.map(|b| b.tracking_number.clone()),
            estimated_delivery: booking.map(|b| b.estimated_delivery),
            timeline,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StockCell {
    pub warehouse: String,
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
}

impl StockCell {
    pub fn new(warehouse: String, sku: String, l: StockLevel) -> Self {
        StockCell {
            warehouse,
            sku,
            on_hand: l.on_hand,
            reserved: l.reserved,
            available: l.available(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkuStock {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub warehouses: Vec<StockCell>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CarrierEventAck {
    pub order_status: Status,
    /// The order's version after this event (its history length).
    pub version: u32,
    /// False when the event was a duplicate or changed nothing.
    pub applied: bool,
}
