//! The other responses: what warehouse terminals pick, what the public tracking page shows (no
//! address, email or phone), stock levels, the warehouses, availability before purchase,
//! carrier event acknowledgements, notification dead letters and the bodies of the ops
//! endpoints.

use super::values::{CarrierEventKind, Status};
use chrono::{DateTime, NaiveDate, Utc};
use orderly_actors::domain as d;
use orderly_actors::domain::{Sku, WarehouseId};
use orderly_actors::engine::{CarrierEventOutcome, Milestone, SkuAvailability, StockLevel};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct PickLine {
    pub sku: String,
    pub quantity: u32,
    pub picked: u32,
}

/// A confirmed order waiting to be picked.
#[derive(Debug, Serialize, ToSchema)]
pub struct PickOrder {
    pub order_id: Uuid,
    /// The shipment to pick at this warehouse (`/v1/orders/{id}/shipments/{shipment}/…`).
    pub shipment: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    pub confirmed_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_method: Option<String>,
    /// The shipment's lines: what this warehouse sends.
    pub lines: Vec<PickLine>,
}

impl PickOrder {
    /// The order's shipment to pick at `warehouse` (the pick list holds only orders that
    /// have one).
    pub fn at(o: d::Order, warehouse: &str) -> Self {
        let shipment = o
            .shipments
            .into_iter()
            .find(|s| s.warehouse == warehouse && s.status == d::ShipmentStatus::Allocated);
        PickOrder {
            order_id: o.id,
            shipment: shipment.as_ref().map(|s| s.id).unwrap_or(1),
            external_ref: o.external_ref,
            confirmed_at: o.updated_at,
            shipping_method: o.shipping.method,
            lines: shipment
                .map(|s| s.lines)
                .unwrap_or_default()
                .into_iter()
                .map(|l| PickLine {
                    sku: l.sku.into(),
                    quantity: l.quantity,
                    picked: l.picked,
                })
                .collect(),
        }
    }
}

/// A warehouse's pick list, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PickList {
    pub warehouse: String,
    pub orders: Vec<PickOrder>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
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

/// What the customer's tracking page may show: status and timeline, no personal data.
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
    /// When the order should arrive (when its last shipment should).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promised: Option<super::order::Window>,
    /// Each parcel's way (an order served from several warehouses has several).
    pub shipments: Vec<TrackedShipment>,
    /// The return parcel's way back, once its carrier scanned it: `in_transit`, `delivered`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^(in_transit|delivered)$")]
    pub return_parcel: Option<String>,
    pub timeline: Vec<TimelineEntry>,
}

/// One shipment as the customer follows it: its status and carrier, nothing personal.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackedShipment {
    pub id: u32,
    pub status: super::order::ShipmentStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_delivery: Option<NaiveDate>,
    /// The window it should arrive in (revised by the booking and the carrier's dates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promised: Option<super::order::Window>,
    /// Its promised window passed before it was delivered.
    pub delayed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// The latest failed delivery: while `open`, the customer may answer it
    /// (`POST /v1/track/{token}/shipments/{id}/exception`) until `answer_by`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<TrackedException>,
}

/// A failed delivery as the customer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackedException {
    pub reason: super::order::FailureReason,
    pub attempt: u32,
    pub answer_by: DateTime<Utc>,
    /// Waiting for an answer now.
    pub open: bool,
}

impl Tracking {
    pub fn new(order: &d::Order, milestones: Vec<Milestone>) -> Self {
        let booking = order.booking();
        let timeline = milestones
            .into_iter()
            .filter_map(|m| {
                let (step, description) = match m.change.as_str() {
                    "placed" => ("placed", "Order placed"),
                    "backordered" => ("backordered", "Waiting for stock"),
                    "confirmed" => ("confirmed", "Order confirmed"),
                    "packed" => ("packed", "Packed and ready for the carrier"),
                    "shipped" => ("shipped", "Handed to the carrier"),
                    "carrier_scanned" => match m.scan.map(CarrierEventKind::from) {
                        Some(CarrierEventKind::InfoReceived) => {
                            ("info_received", "The carrier has the shipment's details")
                        }
                        Some(CarrierEventKind::PickedUp) => {
                            ("picked_up", "Picked up by the carrier")
                        }
                        Some(CarrierEventKind::AvailableForPickup) => {
                            ("available_for_pickup", "Waiting at the pick-up point")
                        }
                        Some(CarrierEventKind::ReturnedToSender) => {
                            ("returned_to_sender", "On its way back to the sender")
                        }
                        // Nothing the customer can read: left out of their timeline.
                        Some(CarrierEventKind::Unknown) => return None,
                        Some(CarrierEventKind::InTransit) => ("in_transit", "In transit"),
                        Some(CarrierEventKind::OutForDelivery) => {
                            ("out_for_delivery", "Out for delivery")
                        }
                        Some(CarrierEventKind::Delivered) => {
                            ("delivered", "Delivered by the carrier")
                        }
                        Some(CarrierEventKind::FailedAttempt) => {
                            ("failed_attempt", "Delivery attempt failed")
                        }
                        Some(CarrierEventKind::Exception) | None => {
                            ("exception", "Carrier reported a problem")
                        }
                    },
                    "delivered" => ("delivered", "Delivered"),
                    "delayed" => ("delayed", "Later than promised"),
                    "cancelled" => ("cancelled", "Order cancelled"),
                    "shipments_cancelled" => ("cancelled", "Part of the order cancelled"),
                    "return_approved" => ("return_approved", "Return approved"),
                    "return_received" => ("returned", "Return received"),
                    "delivery_failed" => (
                        "delivery_failed",
                        "The carrier could not deliver: ask for another attempt or for it to be sent back",
                    ),
                    "exception_answered" => {
                        ("exception_answered", "Your answer was passed to the carrier")
                    }
                    "returning_to_origin" => ("returning", "On its way back to the shop"),
                    "returned_to_origin" => ("returned_to_origin", "Back at the shop"),
                    "return_scanned" => match m.scan.map(CarrierEventKind::from) {
                        Some(CarrierEventKind::Delivered) => {
                            ("return_delivered", "Your return arrived at the shop")
                        }
                        Some(CarrierEventKind::Unknown | CarrierEventKind::InfoReceived) => {
                            return None
                        }
                        _ => ("return_in_transit", "Your return is on its way"),
                    },
                    "refund_issued" => ("refunded", "Refund issued"),
                    _ => return None,
                };
                Some(TimelineEntry {
                    at: m.at,
                    step: step.to_string(),
                    description: description.to_string(),
                    location: m.location,
                })
            })
            .collect();
        Tracking {
            status: order.status.into(),
            placed_at: order.placed_at,
            carrier: booking.map(|b| b.carrier_name.clone()),
            tracking_number: booking.map(|b| b.tracking_number.clone()),
            estimated_delivery: booking.map(|b| b.estimated_delivery),
            promised: order
                .promised_window()
                .map(|(earliest, latest)| super::order::Window { earliest, latest }),
            shipments: order
                .shipments
                .iter()
                .map(|s| TrackedShipment {
                    id: s.id,
                    status: s.status.into(),
                    carrier: s.booking.as_ref().map(|b| b.carrier_name.clone()),
                    tracking_number: s.booking.as_ref().map(|b| b.tracking_number.clone()),
                    estimated_delivery: s.booking.as_ref().map(|b| b.estimated_delivery),
                    promised: s.plan.as_ref().map(|p| super::order::Window {
                        earliest: p.promise.earliest,
                        latest: p.promise.latest,
                    }),
                    delayed: s.delayed,
                    delivered_at: s.delivered_at,
                    exception: s.exception.as_ref().map(|x| TrackedException {
                        reason: x.reason.into(),
                        attempt: x.attempt,
                        answer_by: x.answer_by,
                        open: s.open_exception().is_some(),
                    }),
                })
                .collect(),
            return_parcel: order
                .return_case
                .as_ref()
                .and_then(|rc| rc.parcel.as_ref())
                .map(|p| p.status.as_str().to_string()),
            timeline,
        }
    }
}

/// Whether a sku may be backordered, its cap, and the units waiting now.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkuBackorders {
    pub sku: String,
    pub allowed: bool,
    pub cap: i64,
    /// Units backordered orders wait for now.
    pub waiting: i64,
}

impl SkuBackorders {
    pub fn new(sku: Sku, b: orderly_actors::domain::inventory::Backorders) -> Self {
        SkuBackorders {
            sku: sku.into(),
            allowed: b.allowed,
            cap: b.cap,
            waiting: b.waiting,
        }
    }
}

/// A stock cell's reorder point and where its low-stock alerts stand.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReorderPoint {
    pub warehouse: String,
    pub sku: String,
    /// `null`: no reorder point (no alerts).
    pub reorder_point: Option<i64>,
    /// A `low_stock` alert went out for the current fall; no other until `available` has
    /// risen above the point.
    pub low: bool,
    /// `low_stock` alerts sent for this cell so far.
    pub alerts_sent: u32,
    /// Units available at the cell now (on hand − reserved).
    pub available: i64,
}

impl From<orderly_actors::engine::ReorderPoint> for ReorderPoint {
    fn from(p: orderly_actors::engine::ReorderPoint) -> Self {
        ReorderPoint {
            warehouse: p.warehouse.into(),
            sku: p.sku.into(),
            reorder_point: p.point,
            low: p.low,
            alerts_sent: p.alerts_sent,
            available: p.available,
        }
    }
}

/// A back-in-stock subscription: its contact is told once, with a `back_in_stock` message,
/// when the sku's available units (as `GET /v1/availability` counts them) are positive; then
/// it ends.
#[derive(Debug, Serialize, ToSchema)]
pub struct StockSubscription {
    /// The subscription's id (the message's `subscription_id`).
    pub id: uuid::Uuid,
    pub sku: String,
    /// As stored: an e-mail address in lower case, or `+` and digits.
    pub contact: String,
    pub subscribed_at: DateTime<Utc>,
}

impl From<orderly_actors::engine::Subscription> for StockSubscription {
    fn from(s: orderly_actors::engine::Subscription) -> Self {
        StockSubscription {
            id: s.id,
            sku: s.sku.into(),
            contact: s.contact,
            subscribed_at: s.subscribed_at,
        }
    }
}

/// Stock of one sku at one warehouse.
#[derive(Debug, Serialize, ToSchema)]
pub struct StockCell {
    pub warehouse: String,
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    /// Units on their way here in transfers (dispatched, not received yet).
    pub incoming: i64,
}

impl StockCell {
    pub fn new(warehouse: WarehouseId, sku: Sku, l: StockLevel) -> Self {
        StockCell {
            warehouse: warehouse.into(),
            sku: sku.into(),
            on_hand: l.on_hand,
            reserved: l.reserved,
            available: l.available(),
            incoming: l.incoming,
        }
    }
}

/// Stock of one sku, in total and per warehouse.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkuStock {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub incoming: i64,
    pub warehouses: Vec<StockCell>,
}

impl SkuStock {
    pub fn new(sku: Sku, cells: Vec<(WarehouseId, StockLevel)>) -> Self {
        let cells: Vec<StockCell> = cells
            .into_iter()
            .map(|(w, l)| StockCell::new(w, sku.clone(), l))
            .collect();
        let sum = |f: fn(&StockCell) -> i64| cells.iter().map(f).sum();
        SkuStock {
            on_hand: sum(|c| c.on_hand),
            reserved: sum(|c| c.reserved),
            available: sum(|c| c.available),
            incoming: sum(|c| c.incoming),
            sku: sku.into(),
            warehouses: cells,
        }
    }
}

/// A warehouse as configured. Running open (no warehouses configured) only `id` is known.
#[derive(Debug, Serialize, ToSchema)]
pub struct Warehouse {
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Lower ships first when several warehouses could serve an order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Countries it ships to; empty means everywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ships_to: Option<Vec<String>>,
    /// IANA time zone of its cut-off time, working days and holidays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Local time ("HH:MM") after which orders leave the next working day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cutoff: Option<String>,
    /// `mon`..`sun`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_days: Option<Vec<String>>,
    /// Local dates it does not work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holidays: Option<Vec<NaiveDate>>,
    /// Working days between an order coming in and its parcel leaving.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handling_days: Option<u32>,
}

impl Warehouse {
    /// A warehouse known only by the stock cells it has (running open).
    pub fn id_only(id: WarehouseId) -> Self {
        Warehouse {
            id: id.into(),
            name: None,
            country: None,
            priority: None,
            ships_to: None,
            time_zone: None,
            cutoff: None,
            working_days: None,
            holidays: None,
            handling_days: None,
        }
    }
}

impl From<&d::warehouse::Warehouse> for Warehouse {
    fn from(w: &d::warehouse::Warehouse) -> Self {
        Warehouse {
            id: w.id.to_string(),
            name: Some(w.name.clone()),
            country: Some(w.country.clone()),
            priority: Some(w.priority),
            ships_to: Some(w.ships_to.clone()),
            time_zone: Some(w.time_zone.clone()),
            cutoff: Some(w.cutoff.clone()),
            working_days: Some(w.working_days.clone()),
            holidays: Some(w.holidays.clone()),
            handling_days: Some(w.handling_days),
        }
    }
}

/// `GET /v1/warehouses`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarehouseList {
    /// True when no warehouses are configured: any warehouse id is taken as given, and the
    /// list holds the warehouses that have stock cells (with their id only).
    pub open: bool,
    /// Configured: in the order of the configuration. Open: by id.
    pub warehouses: Vec<Warehouse>,
}

/// One sku's stock at one warehouse, as availability shows it to admin and warehouse keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarehouseAvailability {
    pub warehouse: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    /// Units on their way here in transfers.
    pub incoming: i64,
}

/// What can be sold of one sku, across all warehouses.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkuAvailable {
    pub sku: String,
    /// Units a new order may get now across the warehouses orders are served from (on hand
    /// less reserved, less what backordered orders wait for; never negative). An unknown sku
    /// has 0.
    #[schema(minimum = 0)]
    pub available: i64,
    /// Units on their way to these warehouses in transfers (dispatched, not received yet).
    #[schema(minimum = 0)]
    pub incoming: i64,
    /// Whether orders beyond what is available may be taken as backorders
    /// (`PUT /v1/skus/{sku}/backorders`).
    pub backorderable: bool,
    /// How many more units may be backordered (the cap less the units waiting now).
    #[schema(minimum = 0)]
    pub backorder_remaining: i64,
    /// Per warehouse with a stock cell for the sku (admin and warehouse keys only; left out
    /// for storefront keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouses: Option<Vec<WarehouseAvailability>>,
}

impl SkuAvailable {
    /// `per_warehouse`: whether the caller may see the numbers of each warehouse.
    pub fn new(a: SkuAvailability, per_warehouse: bool) -> Self {
        SkuAvailable {
            available: a.available(),
            incoming: a.incoming(),
            backorderable: a.backorders.allowed,
            backorder_remaining: a.backorders.room(),
            warehouses: per_warehouse.then(|| {
                a.warehouses
                    .into_iter()
                    .map(|(warehouse, l)| WarehouseAvailability {
                        warehouse: warehouse.into(),
                        on_hand: l.on_hand,
                        reserved: l.reserved,
                        available: l.available().max(0),
                        incoming: l.incoming,
                    })
                    .collect()
            }),
            sku: a.sku.into(),
        }
    }
}

/// `GET /v1/availability`: the skus asked for, each once, in the order first asked.
#[derive(Debug, Serialize, ToSchema)]
pub struct Availability {
    pub skus: Vec<SkuAvailable>,
}

/// What a carrier event did.
#[derive(Debug, Serialize, ToSchema)]
pub struct CarrierEventAck {
    pub order_status: Status,
    /// The order's version after this event (its history length).
    pub version: u32,
    /// False when the event was a duplicate or changed nothing.
    pub applied: bool,
}

impl From<CarrierEventOutcome> for CarrierEventAck {
    fn from(o: CarrierEventOutcome) -> Self {
        CarrierEventAck {
            order_status: o.order_status.into(),
            version: o.version,
            applied: o.applied,
        }
    }
}

/// A notification that ran out of attempts, kept for an operator to inspect and retry.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetter {
    /// Pass to `POST /v1/notifications/dead-letters/{id}/retry`.
    pub message_id: String,
    /// The order the notification was about; absent for a stock notice (`low_stock`,
    /// `back_in_stock`), which is about no order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Uuid>,
    /// The notification's kind, e.g. `confirmed` (or `low_stock`, `back_in_stock`).
    pub kind: String,
    /// The channel that failed (e.g. `webhook`).
    pub channel: Option<String>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub failed_at: DateTime<Utc>,
}

impl From<orderly_actors::engine::DeadLetter> for DeadLetter {
    fn from(l: orderly_actors::engine::DeadLetter) -> Self {
        DeadLetter {
            message_id: l.message_id,
            order_id: l.order_id,
            kind: l.kind,
            channel: l.channel,
            attempts: l.attempts,
            last_error: l.last_error,
            failed_at: l.failed_at,
        }
    }
}

/// A backup made, and durable: where it is, what it holds, how long writers were held back.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupReport {
    /// The backup's directory: start a service with it as `storage.data_dir`.
    pub dir: String,
    /// Orders in the backup.
    pub orders: u64,
    /// Records copied (the storage backend's unit).
    pub records: u64,
    /// How long writers were held back, in microseconds (the backup's last pass).
    pub held_us: u64,
    /// How long the whole backup took, in milliseconds.
    pub took_ms: u64,
}

impl BackupReport {
    pub fn new(dir: String, s: orderly_actors::engine::BackupStats) -> Self {
        BackupReport {
            dir,
            orders: s.orders,
            records: s.records,
            held_us: s.held.as_micros() as u64,
            took_ms: s.took.as_millis() as u64,
        }
    }
}

/// The body of `/healthz`, `/readyz` and a queued retry: `{"status": "..."}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusBody {
    /// `ok` (healthz), `ready` / `not ready` (readyz), `queued` (retry).
    pub status: String,
}

impl StatusBody {
    pub fn new(status: &str) -> Self {
        StatusBody {
            status: status.to_string(),
        }
    }
}

/// A PDF document (labels).
pub struct Pdf;

impl utoipa::PartialSchema for Pdf {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Binary,
            )))
            .into()
    }
}

impl ToSchema for Pdf {}

/// One sku of a transfer: units sent, received so far, and still on their way.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferLine {
    pub sku: String,
    pub quantity: u32,
    pub received: u32,
    pub in_transit: u32,
}

/// Units the destination received at one time.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferReceipt {
    pub at: DateTime<Utc>,
    pub lines: Vec<super::values::LineQty>,
}

/// A transfer's status: `dispatched` (on its way; partly received, perhaps), `received` (every
/// unit arrived) or `cancelled` (called off before anything arrived).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferStatus {
    Dispatched,
    Received,
    Cancelled,
}

/// A transfer of stock between warehouses.
#[derive(Debug, Serialize, ToSchema)]
pub struct Transfer {
    pub id: Uuid,
    pub from: String,
    pub to: String,
    pub status: TransferStatus,
    pub lines: Vec<TransferLine>,
    pub receipts: Vec<TransferReceipt>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<d::inventory::transfer::Transfer> for Transfer {
    fn from(t: d::inventory::transfer::Transfer) -> Self {
        use d::inventory::transfer::TransferStatus as S;
        Transfer {
            id: t.id,
            status: match t.status {
                S::Dispatched => TransferStatus::Dispatched,
                S::Received => TransferStatus::Received,
                S::Cancelled => TransferStatus::Cancelled,
            },
            lines: t
                .lines
                .iter()
                .map(|l| TransferLine {
                    sku: l.sku.to_string(),
                    quantity: l.quantity,
                    received: l.received,
                    in_transit: if t.status == S::Dispatched {
                        l.in_transit()
                    } else {
                        0
                    },
                })
                .collect(),
            receipts: t
                .receipts
                .into_iter()
                .map(|r| TransferReceipt {
                    at: r.at,
                    lines: r.lines.into_iter().map(Into::into).collect(),
                })
                .collect(),
            from: t.from.into(),
            to: t.to.into(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// `GET /v1/transfers`: newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferPage {
    pub transfers: Vec<Transfer>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One shipment of a quoted option: where it would leave from, what it holds, its carrier
/// service and price, and when it should arrive.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuotedShipment {
    pub warehouse: String,
    pub lines: Vec<super::values::LineQty>,
    pub carrier: String,
    pub service: String,
    /// Absent when the service has no rate table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<super::values::Money>,
    /// The carrier rule that chose the service (absent: no rules configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Local dates in `time_zone` (the warehouse's).
    pub earliest: NaiveDate,
    pub latest: NaiveDate,
    pub time_zone: String,
}

/// One way a cart could be delivered: a shipping method, its price, and when the order should
/// arrive (when its last shipment should).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuoteOption {
    pub method: String,
    /// The sum over its shipments (absent when some service has no rate table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<super::values::Money>,
    pub earliest: NaiveDate,
    pub latest: NaiveDate,
    pub shipments: Vec<QuotedShipment>,
}

/// The delivery options a cart would get if it were ordered now: a prediction, not a
/// reservation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Quote {
    pub options: Vec<QuoteOption>,
}

impl From<Vec<orderly_actors::engine::quotes::QuoteOption>> for Quote {
    fn from(options: Vec<orderly_actors::engine::quotes::QuoteOption>) -> Self {
        Quote {
            options: options
                .into_iter()
                .map(|o| QuoteOption {
                    method: o.method,
                    price: o.price.map(Into::into),
                    earliest: o.earliest,
                    latest: o.latest,
                    shipments: o
                        .shipments
                        .into_iter()
                        .map(|(a, p)| QuotedShipment {
                            warehouse: a.warehouse.into(),
                            lines: a.lines.into_iter().map(Into::into).collect(),
                            carrier: p.carrier,
                            service: p.service,
                            price: p.price.map(Into::into),
                            rule: p.rule,
                            earliest: p.promise.earliest,
                            latest: p.promise.latest,
                            time_zone: p.promise.time_zone,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// A message rendered as its channel would send it (nothing is sent).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessagePreview {
    pub kind: String,
    /// The locale rendered: `en` when the one asked for has no template (`fell_back`).
    pub locale: String,
    pub channel: String,
    pub fell_back: bool,
    /// E-mail: the subject; WhatsApp: the approved template's name; SMS: absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// E-mail: the text part; SMS: the text; WhatsApp: the template's parameters, one per line.
    pub text: String,
    /// E-mail: the HTML part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// SMS: the parts the text goes out as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsSegments>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SmsSegments {
    #[schema(minimum = 0)]
    pub segments: u32,
    /// `gsm7` (160 characters in one part, 153 per part) or `ucs2` (70, 67).
    pub encoding: String,
}

impl From<orderly_actors::engine::previews::Preview> for MessagePreview {
    fn from(p: orderly_actors::engine::previews::Preview) -> Self {
        MessagePreview {
            kind: p.kind,
            locale: p.locale,
            channel: p.channel,
            fell_back: p.fell_back,
            subject: p.subject,
            text: p.text,
            html: p.html,
            sms: p.sms_segments.map(|(segments, encoding)| SmsSegments {
                segments,
                encoding: encoding.to_string(),
            }),
        }
    }
}

/// What was sent about an order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderMessages {
    pub items: Vec<OrderMessage>,
}

/// One message about an order, and how it stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderMessage {
    /// The same on every attempt: the e-mail's `Message-ID`, the webhook's `webhook-id`, the
    /// provider's `Idempotency-Key`.
    pub message_id: String,
    /// The notification kind (`shipped`).
    pub kind: String,
    /// `email`, `sms`, `whatsapp`, `webhook`, `log`; `operations.<channel>` for the operations
    /// recipients.
    pub channel: String,
    pub state: MessageState,
    /// The address or number it went to (once sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Sent: when; retrying: the next attempt; dead-lettered: when it was given up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    #[schema(minimum = 0)]
    pub attempts: u32,
    /// The receiver's id for it (an SMTP server's queue reply, a provider's message id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// An SMS: the parts it went out as.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub segments: Option<u32>,
    /// The language it was written in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    Sent,
    Pending,
    Retrying,
    DeadLettered,
}

impl From<Vec<orderly_actors::engine::message_log::MessageRecord>> for OrderMessages {
    fn from(records: Vec<orderly_actors::engine::message_log::MessageRecord>) -> Self {
        use orderly_actors::engine::message_log::MessageState as S;
        OrderMessages {
            items: records
                .into_iter()
                .map(|r| OrderMessage {
                    message_id: r.message_id,
                    kind: r.kind,
                    channel: r.channel,
                    state: match r.state {
                        S::Sent => MessageState::Sent,
                        S::Pending => MessageState::Pending,
                        S::Retrying => MessageState::Retrying,
                        S::DeadLettered => MessageState::DeadLettered,
                    },
                    to: r.to,
                    at: r.at,
                    attempts: r.attempts,
                    provider_id: r.provider_id,
                    last_error: r.last_error,
                    segments: r.segments,
                    locale: r.locale,
                })
                .collect(),
        }
    }
}
