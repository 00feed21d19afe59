//! Response bodies: how orders look to each kind of client.
//!
//! Storefronts see the whole order; warehouse terminals see what to pick; the public tracking
//! page sees status and timeline only — no address, email or phone.

use chrono::{DateTime, NaiveDate, Utc};
use orderly_actors::domain::inventory::StockLevel;
use orderly_actors::domain::{CarrierEventKind, Change, Event, Money, Order, Status};
use orderly_actors::engine::OrderView;
use serde::Serialize;
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
    pub history: Vec<Event>,
}

impl OrderBody {
    pub fn new(v: OrderView) -> Self {
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
            history: v.history,
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

impl Tracking {
    pub fn new(order: &Order, events: &[Event]) -> Self {
        let booking = order.booking();
        let timeline = events
            .iter()
            .filter_map(|e| {
                let (step, description, location) = match &e.change {
                    Change::Placed { .. } => ("placed", "Order placed", None),
                    Change::Confirmed => ("confirmed", "Order confirmed", None),
                    Change::Packed { .. } => ("packed", "Packed and ready for the carrier", None),
                    Change::Shipped => ("shipped", "Handed to the carrier", None),
                    Change::CarrierScanned { kind, location, .. } => {
                        let (step, description) = match kind {
                            CarrierEventKind::InTransit => ("in_transit", "In transit"),
                            CarrierEventKind::OutForDelivery => {
                                ("out_for_delivery", "Out for delivery")
                            }
                            CarrierEventKind::Delivered => {
                                ("delivered", "Delivered by the carrier")
                            }
                            CarrierEventKind::FailedAttempt => {
                                ("failed_attempt", "Delivery attempt failed")
                            }
                            CarrierEventKind::Exception => {
                                ("exception", "Carrier reported a problem")
                            }
                        };
                        (step, description, location.clone())
                    }
                    Change::Delivered => ("delivered", "Delivered", None),
                    Change::Cancelled { .. } => ("cancelled", "Order cancelled", None),
                    Change::ReturnApproved { .. } => ("return_approved", "Return approved", None),
                    Change::ReturnReceived { .. } => ("returned", "Return received", None),
                    Change::RefundIssued { .. } => ("refunded", "Refund issued", None),
                    _ => return None,
                };
                Some(TimelineEntry {
                    at: e.at,
                    step: step.to_string(),
                    description: description.to_string(),
                    location,
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
