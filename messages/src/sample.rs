//! A made-up order for every kind: what templates are checked against at start, and what
//! `POST /v1/notifications/preview` renders when it is given no order. Its shape is exactly
//! what [`crate::context`] builds from a real order (a test holds the two together), with
//! every value present.

use crate::context::{Kind, Shop};
use crate::locale::Locale;
use chrono::NaiveDate;
use orderly_domain::{Currency, NotificationKind};

/// The sample's variables for `kind` in `locale`.
pub fn vars(kind: Kind, locale: Locale) -> serde_json::Value {
    vars_for_shop(
        kind,
        locale,
        &Shop {
            name: "Example Shop".to_string(),
            tracking_url: Some("https://shop.example/track/{token}".to_string()),
        },
    )
}

/// The same, naming `shop`.
pub fn vars_for_shop(kind: Kind, locale: Locale, shop: &Shop) -> serde_json::Value {
    let eur = Currency::parse("EUR").unwrap_or_else(|_| unreachable!("EUR is in the table"));
    let money = |amount| locale.money(amount, eur);
    let day = |s: &str| s.parse::<NaiveDate>().unwrap_or_default();
    let window = locale.window(day("2026-11-26"), day("2026-11-27"));
    let common = |kind_name: &str| {
        serde_json::json!({
            "shop": shop,
            "locale": locale.tag(),
            "dir": locale.dir(),
            "kind": kind_name,
        })
    };
    let mut vars = common(kind.name());
    let extra = match kind {
        Kind::Order(k) => {
            let mut extra = serde_json::json!({
                "order": {
                    "id": "0193a3c4-0000-7000-8000-000000000001",
                    "number": "1042",
                    "status": "confirmed",
                    "placed_on": locale.date(day("2026-11-23")),
                    "total": money(4_250),
                    "lines": [
                        {"sku": "MUG", "quantity": 2, "unit_price": money(1_250), "total": money(2_500)},
                        {"sku": "TEA", "quantity": 1, "unit_price": money(1_750), "total": money(1_750)},
                    ],
                    "cash_on_delivery": false,
                    "promised": window,
                },
                "customer": {"name": "Ana Popescu", "email": "ana@example.com"},
                "tracking_url": shop.tracking_url.as_ref().map(|u| u.replace("{token}", "trk_sample")),
            });
            let more = match k {
                NotificationKind::Shipped
                | NotificationKind::OutForDelivery
                | NotificationKind::Delivered
                | NotificationKind::Delayed
                | NotificationKind::DeliveryFailed
                | NotificationKind::ReturningToOrigin
                | NotificationKind::PickPackLate => Some((
                    "shipment",
                    serde_json::json!({
                        "id": 1,
                        "warehouse": "ams",
                        "status": "shipped",
                        "carrier": "PostNL",
                        "tracking_number": "3SABCD1234567",
                        "promised": window,
                        "attempts": 1,
                        "failure_reason": "customer_not_available",
                        "answer_by": locale.date(day("2026-11-28")),
                    }),
                )),
                NotificationKind::Cancelled => {
                    Some(("cancellation_reason", serde_json::json!("customer_request")))
                }
                NotificationKind::Refunded => Some(("refund", serde_json::json!(money(4_250)))),
                NotificationKind::Backordered => Some((
                    "backordered",
                    serde_json::json!([{"sku": "TEA", "quantity": 1}]),
                )),
                NotificationKind::ReturnApproved => {
                    Some(("return_tracking_number", serde_json::json!("RT-1042-0001")))
                }
                _ => None,
            };
            if let (Some((name, value)), Some(map)) = (more, extra.as_object_mut()) {
                map.insert(name.to_string(), value);
            }
            extra
        }
        Kind::LowStock => serde_json::json!({
            "sku": "MUG", "warehouse": "ams", "available": 3, "reorder_point": 5,
        }),
        Kind::BackInStock => serde_json::json!({"sku": "MUG", "available": 12}),
    };
    if let (Some(map), serde_json::Value::Object(extra)) = (vars.as_object_mut(), extra) {
        map.extend(extra);
    }
    vars
}
