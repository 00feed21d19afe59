//! What a template may say: the variables of each kind, built from the order (or the stock
//! notice) as it is when the message goes out.
//!
//! **A template uses only its kind's variables.** [`variables`] names them per kind; the
//! start-up check refuses a template that reaches for another (see `templates`). Every
//! variable is always present (an absent value is `null`, never a missing key), so templates
//! render under strict undefined-checking and a misspelt attribute fails loudly, not as an
//! empty string in a customer's inbox.
//!
//! Money and dates arrive already formatted for the message's locale (`order.total`,
//! `shipment.promised`): a shop's wording never has to know how Romanians group digits.

use crate::locale::Locale;
use orderly_domain::stock_alerts::{NoticeKind, StockNotice};
use orderly_domain::{NotificationKind, Order, PaymentMethod, Shipment, ShipmentStatus};
use serde::Serialize;

/// The shop, as messages name it (from `[notifications]`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Shop {
    pub name: String,
    /// The customer's tracking page, with `{token}` in it; absent: no link in messages.
    pub tracking_url: Option<String>,
}

/// Every kind a template exists for: an order's notifications and the stock notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Order(NotificationKind),
    LowStock,
    BackInStock,
}

impl Kind {
    /// Every kind, in a stable order (the set the tests hold the templates against).
    pub fn all() -> Vec<Kind> {
        let mut out: Vec<Kind> = NotificationKind::ALL.into_iter().map(Kind::Order).collect();
        out.extend([Kind::LowStock, Kind::BackInStock]);
        out
    }

    /// The name in template file names (`shipped`, `low_stock`, …).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Order(k) => k.as_str(),
            Kind::LowStock => "low_stock",
            Kind::BackInStock => "back_in_stock",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::all().into_iter().find(|k| k.name() == name)
    }

    /// Whether messages of this kind are about one shipment (and so have `shipment`).
    fn has_shipment(self) -> bool {
        matches!(
            self,
            Kind::Order(
                NotificationKind::Shipped
                    | NotificationKind::OutForDelivery
                    | NotificationKind::Delivered
                    | NotificationKind::Delayed
                    | NotificationKind::DeliveryFailed
                    | NotificationKind::ReturningToOrigin
                    | NotificationKind::PickPackLate
            )
        )
    }
}

/// The top-level variables a kind's templates may use.
pub fn variables(kind: Kind) -> Vec<&'static str> {
    let mut vars = vec!["shop", "locale", "dir", "kind"];
    match kind {
        Kind::Order(k) => {
            vars.extend(["order", "customer", "tracking_url"]);
            if kind.has_shipment() {
                vars.push("shipment");
            }
            match k {
                NotificationKind::Cancelled => vars.push("cancellation_reason"),
                NotificationKind::Refunded => vars.push("refund"),
                NotificationKind::Backordered => vars.push("backordered"),
                NotificationKind::ReturnApproved => vars.push("return_tracking_number"),
                _ => {}
            }
        }
        Kind::LowStock => vars.extend(["sku", "warehouse", "available", "reorder_point"]),
        Kind::BackInStock => vars.extend(["sku", "available"]),
    }
    vars
}

/// An order's notification's variables.
pub fn for_order(
    kind: NotificationKind,
    order: &Order,
    shop: &Shop,
    locale: Locale,
) -> serde_json::Value {
    let money = |amount: i64| locale.money(amount, order.currency);
    let tracking_url = shop
        .tracking_url
        .as_ref()
        .map(|u| u.replace("{token}", &order.tracking_token));
    let number = order
        .external_ref
        .clone()
        .unwrap_or_else(|| order.id.to_string()[..8].to_string());
    let mut vars = serde_json::json!({
        "shop": shop,
        "locale": locale.tag(),
        "dir": locale.dir(),
        "kind": kind.as_str(),
        "order": {
            "id": order.id.to_string(),
            "number": number,
            "status": order.status.as_str(),
            "placed_on": locale.date(order.placed_at.date_naive()),
            "total": money(order.total().amount),
            "lines": order.lines.iter().map(|l| serde_json::json!({
                "sku": l.sku.as_str(),
                "quantity": l.quantity,
                "unit_price": money(l.unit_price),
                "total": money(l.unit_price.saturating_mul(i64::from(l.quantity))),
            })).collect::<Vec<_>>(),
            "cash_on_delivery": order.payment.method == PaymentMethod::Cod,
            "promised": order.promised_window().map(|(e, l)| locale.window(e, l)),
        },
        "customer": {
            "name": order.shipping.address.name,
            "email": order.customer.email,
        },
        "tracking_url": tracking_url,
    });
    let extra = match kind {
        _ if Kind::Order(kind).has_shipment() => Some((
            "shipment",
            shipment_of(kind, order).map_or(serde_json::Value::Null, |s| shipment(s, locale)),
        )),
        NotificationKind::Cancelled => Some((
            "cancellation_reason",
            serde_json::json!(order.cancellation.as_ref().map(|c| &c.reason)),
        )),
        NotificationKind::Refunded => Some((
            "refund",
            serde_json::json!(order.refunded.map(|m| locale.money(m.amount, m.currency))),
        )),
        NotificationKind::Backordered => Some((
            "backordered",
            serde_json::json!(order
                .backordered
                .iter()
                .map(|l| serde_json::json!({"sku": l.sku.as_str(), "quantity": l.quantity}))
                .collect::<Vec<_>>()),
        )),
        NotificationKind::ReturnApproved => Some((
            "return_tracking_number",
            serde_json::json!(order.return_case.as_ref().map(|r| &r.tracking_number)),
        )),
        _ => None,
    };
    if let (Some((name, value)), Some(map)) = (extra, vars.as_object_mut()) {
        map.insert(name.to_string(), value);
    }
    vars
}

/// A stock notice's variables.
pub fn for_notice(notice: &StockNotice, shop: &Shop, locale: Locale) -> serde_json::Value {
    let kind = notice.kind.name();
    match &notice.kind {
        NoticeKind::LowStock {
            warehouse,
            sku,
            reorder_point,
            available,
        } => serde_json::json!({
            "shop": shop, "locale": locale.tag(), "dir": locale.dir(), "kind": kind,
            "sku": sku.as_str(), "warehouse": warehouse.as_str(),
            "available": available, "reorder_point": reorder_point,
        }),
        NoticeKind::BackInStock { sku, available, .. } => serde_json::json!({
            "shop": shop, "locale": locale.tag(), "dir": locale.dir(), "kind": kind,
            "sku": sku.as_str(), "available": available,
        }),
    }
}

/// The shipment a per-shipment message is about. A notification names no shipment, so it is
/// the one whose state the kind reports (the latest such, by id): the one with an open
/// exception for `delivery_failed`, going back for `returning_to_origin`, and so on.
fn shipment_of(kind: NotificationKind, order: &Order) -> Option<&Shipment> {
    let about = |s: &&Shipment| match kind {
        NotificationKind::Delayed => s.delayed,
        NotificationKind::DeliveryFailed => s.exception.is_some(),
        NotificationKind::ReturningToOrigin => matches!(
            s.status,
            ShipmentStatus::Returning | ShipmentStatus::Returned
        ),
        NotificationKind::PickPackLate => s.pick_pack_late,
        NotificationKind::Delivered => s.status == ShipmentStatus::Delivered,
        NotificationKind::OutForDelivery | NotificationKind::Shipped => {
            s.status == ShipmentStatus::Shipped
        }
        _ => false,
    };
    order
        .shipments
        .iter()
        .rev()
        .find(about)
        .or_else(|| order.shipments.iter().rev().find(|s| s.booking.is_some()))
        .or_else(|| order.shipments.first())
}

fn shipment(s: &Shipment, locale: Locale) -> serde_json::Value {
    let booking = s.booking.as_ref();
    let promise = booking
        .and_then(|b| b.promise.as_ref())
        .or(s.plan.as_ref().map(|p| &p.promise));
    serde_json::json!({
        "id": s.id,
        "warehouse": s.warehouse.as_str(),
        "status": s.status.as_str(),
        "carrier": booking.map(|b| b.carrier_name.as_str()),
        "tracking_number": booking.map(|b| b.tracking_number.as_str()),
        "promised": promise.map(|p| locale.window(p.earliest, p.latest)),
        "attempts": s.attempts,
        "failure_reason": s.exception.as_ref().map(|e| e.reason.as_str()),
        "answer_by": s.exception.as_ref().map(|e| locale.date(e.answer_by.date_naive())),
    })
}
