//! What the v1 release (commit 4b69d41) wrote opens and carries on, on both storage backends:
//! a sled data directory (`tests/fixtures/v1-data`) and a PostgreSQL database restored from a
//! plain-SQL dump (`tests/fixtures/v1-postgres.sql`), both made by
//! `tests/fixtures/make-v1-data.sh` with the same scenario. Later releases change the domain and
//! the stored schema; these tests hold them to reading what this release left behind.
//!
//! One check serves both backends: every order answers with the status its name says, its
//! whole history and its tracking page, and is listed under its status (and, when confirmed,
//! on its warehouse's pick list); the stock in both warehouses reads as the script left it; the
//! stored idempotency records still recognise a repeated placement; the unpaid order whose
//! deadline passed while the service was down is cancelled by its timer; the webhook
//! notifications left pending are delivered, signed, once a receiver is there; confirmed orders
//! in `ams` and in `rtm` (one of them partially picked) walk on through picks, pack and
//! hand-over, the packed one is handed over on its stored booking, carrier scans by the
//! recorded tracking numbers are accepted and an approved return is received; and the stock
//! moves by exactly what those steps take and give back.
//!
//! Assertions stay on what a restructure keeps: statuses, history event types, notifications,
//! the carrier's acknowledgement and stock numbers; never the shape of an order's shipments or
//! warehouse. The service runs on a copy (sled) or a fresh database (PostgreSQL); the fixtures
//! are never written.

use crate::support::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The orders of the scenario: name, the status it was left in, the warehouse it is reserved in
/// and its history's event types. `timed_out` was left placed; its timer may cancel it before
/// the first read.
const ORDERS: &[(&str, &str, &str, &[&str])] = &[
    ("placed", "placed", "ams", &["placed", "stock_reserved"]),
    ("timed_out", "placed", "rtm", &["placed", "stock_reserved"]),
    ("confirmed", "confirmed", "ams", CONFIRMED),
    ("cod", "confirmed", "ams", CONFIRMED),
    ("confirmed_rtm", "confirmed", "rtm", CONFIRMED),
    (
        "partially_picked",
        "confirmed",
        "rtm",
        &[
            "placed",
            "stock_reserved",
            "confirmed",
            "picks_acknowledged",
        ],
    ),
    ("packed", "packed", "ams", PACKED),
    (
        "shipped",
        "shipped",
        "rtm",
        &[
            "placed",
            "stock_reserved",
            "confirmed",
            "picks_acknowledged",
            "picks_acknowledged",
            "packed",
            "shipment_booked",
            "shipped",
            "carrier_scanned",
            "carrier_scanned",
        ],
    ),
    ("delivered", "delivered", "ams", DELIVERED),
    (
        "cancelled",
        "cancelled",
        "ams",
        &[
            "placed",
            "stock_reserved",
            "confirmed",
            "cancelled",
            "refund_issued",
        ],
    ),
    (
        "return_approved",
        "delivered",
        "ams",
        &[
            "placed",
            "stock_reserved",
            "confirmed",
            "picks_acknowledged",
            "packed",
            "shipment_booked",
            "shipped",
            "carrier_scanned",
            "delivered",
            "return_approved",
        ],
    ),
    (
        "returned",
        "returned",
        "rtm",
        &[
            "placed",
            "stock_reserved",
            "confirmed",
            "picks_acknowledged",
            "packed",
            "shipment_booked",
            "shipped",
            "carrier_scanned",
            "delivered",
            "return_approved",
            "return_received",
            "refund_issued",
        ],
    ),
];

const CONFIRMED: &[&str] = &["placed", "stock_reserved", "confirmed"];
const PACKED: &[&str] = &[
    "placed",
    "stock_reserved",
    "confirmed",
    "picks_acknowledged",
    "packed",
    "shipment_booked",
];
const DELIVERED: &[&str] = &[
    "placed",
    "stock_reserved",
    "confirmed",
    "picks_acknowledged",
    "packed",
    "shipment_booked",
    "shipped",
    "carrier_scanned",
    "delivered",
];

/// The webhook notifications each order had pending: every customer-visible moment it went
/// through, none delivered (the script's receiver was never there).
fn pending_notifications(name: &str) -> &'static [&'static str] {
    match name {
        "confirmed" | "cod" | "confirmed_rtm" | "partially_picked" | "packed" => &["confirmed"],
        "shipped" => &["confirmed", "shipped", "out_for_delivery"],
        "delivered" => &["confirmed", "shipped", "delivered"],
        "cancelled" => &["confirmed", "cancelled", "refunded"],
        "return_approved" => &["confirmed", "shipped", "delivered", "return_approved"],
        "returned" => &[
            "confirmed",
            "shipped",
            "delivered",
            "return_approved",
            "refunded",
        ],
        _ => &[],
    }
}

const SKUS: &[&str] = &["SKU-1", "SKU-2", "SKU-3", "SKU-4"];

/// (warehouse, sku, on hand, reserved) as the script left them. SKU-3 and SKU-4 are only in
/// `rtm`; SKU-4 is held by the timed-out order alone (its release is checked on its own).
const STOCK_AS_LEFT: &[(&str, &str, i64, i64)] = &[
    ("ams", "SKU-1", 95, 5),
    ("ams", "SKU-2", 48, 4),
    ("rtm", "SKU-1", 19, 1),
    ("rtm", "SKU-2", 10, 1),
    ("rtm", "SKU-3", 29, 4),
    ("rtm", "SKU-4", 5, 1),
];

/// The same after the timed-out order's release, three hand-overs from `ams` (confirmed: 2 +
/// 1, packed: 1 + 1) and one received return (1 SKU-1), three from `rtm` (confirmed_rtm: 2
/// SKU-3 + 1 SKU-1, partially_picked: 2 SKU-3 + 1 SKU-2).
const STOCK_AFTER: &[(&str, &str, i64, i64)] = &[
    ("ams", "SKU-1", 93, 2),
    ("ams", "SKU-2", 46, 2),
    ("rtm", "SKU-1", 18, 0),
    ("rtm", "SKU-2", 9, 0),
    ("rtm", "SKU-3", 25, 0),
    ("rtm", "SKU-4", 5, 0),
];

/// The node id the PostgreSQL fixture was written by (`make-v1-data.sh`); the test's node has
/// another name, so it takes the dead writer's pending work over.
const FIXTURE_NODE: &str = "v1-fixture-node";

#[actix_rt::test]
async fn a_sled_data_directory_of_the_v1_release_opens_and_serves() {
    let ids = orderly_testkit::fixture::v1_ids();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    orderly_testkit::fixture::copy_v1_data(&data);
    let receiver = Receiver::start(0).await;
    let server = Server::start_on(&data, &receiver.config(100)).await;
    opens_and_serves(&server.api(), &receiver, &ids).await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_postgres_database_of_the_v1_release_opens_and_serves() {
    let test = "a_postgres_database_of_the_v1_release_opens_and_serves";
    let Some(pg) = orderly_testkit::postgres::shared_or_skip(test) else {
        return;
    };
    let ids = orderly_testkit::fixture::v1_postgres_ids();
    let url = pg.create_database("v1_fixture");
    pg.restore_sql(&url, &orderly_testkit::fixture::v1_postgres_sql())
        .unwrap_or_else(|e| panic!("restoring the v1 dump: {e}"));
    assert_eq!(
        pg.psql(
            url.rsplit('/').next().unwrap(),
            "SELECT node_id FROM nodes ORDER BY node_id"
        )
        .unwrap()
        .trim(),
        FIXTURE_NODE,
        "the dump's writer"
    );
    let receiver = Receiver::start(0).await;
    let node = crate::nodes::postgres_toml(&url, "v1-upgrade-node");
    let server = Server::start_with(&format!("{node}{}", receiver.config(100))).await;
    opens_and_serves(&server.api(), &receiver, &ids).await;
    receiver.stop().await;
}

/// The whole check, on a service started on the fixture with `receiver` as its webhook.
async fn opens_and_serves(api: &Api, receiver: &Receiver, ids: &BTreeMap<String, String>) {
    let id = |name: &str| -> String {
        ids.get(name)
            .unwrap_or_else(|| panic!("no {name} in the fixture's ids"))
            .clone()
    };
    let names: BTreeSet<&str> = ids
        .keys()
        .filter(|k| !k.starts_with("tn_"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        ORDERS.iter().map(|o| o.0).collect::<BTreeSet<_>>(),
        "the fixture's orders"
    );

    // Every order answers with its status, its whole history and its tracking page.
    for &(name, status, _, types) in ORDERS {
        let o = api.order(&id(name)).await;
        assert_history_contiguous(&o);
        if name == "timed_out" && o["status"] == "cancelled" {
            continue; // its timer was quicker than this read
        }
        assert_eq!(o["status"], status, "{name}: {o}");
        assert_eq!(history_types(&o), types, "{name}: {o}");
        let token = str_of(&o["tracking_token"]);
        api.anon()
            .get(&format!("/v1/track/{token}"))
            .await
            .expect(200, &format!("{name}'s tracking page"));
    }
    let approved = api.order(&id("return_approved")).await;
    assert!(approved["return_label_url"].is_string(), "{approved}");

    // Listed under their statuses, and the confirmed ones on their warehouse's pick list.
    let all: BTreeSet<String> = ids_of(&api.all_orders(None).await);
    for &(name, status, _, _) in ORDERS {
        assert!(all.contains(&id(name)), "{name} is listed");
        if name != "timed_out" {
            let listed = ids_of(&api.all_orders(Some(status)).await);
            assert!(listed.contains(&id(name)), "{name} is listed as {status}");
        }
    }
    for warehouse in ["ams", "rtm"] {
        let want: BTreeSet<String> = ORDERS
            .iter()
            .filter(|o| o.1 == "confirmed" && o.2 == warehouse)
            .map(|o| id(o.0))
            .collect();
        assert_eq!(pick_list(api, warehouse).await, want, "{warehouse}'s picks");
    }

    // The stock reads as the script left it (the timed-out order's SKU-4 may be released
    // already).
    let stock = stock_levels(api).await;
    for &(w, sku, on_hand, reserved) in STOCK_AS_LEFT {
        let got = stock.get(&(w.to_string(), sku.to_string())).copied();
        if sku == "SKU-4" {
            assert!(
                got == Some((on_hand, reserved)) || got == Some((on_hand, 0)),
                "{sku} at {w}: {got:?}"
            );
        } else {
            assert_eq!(got, Some((on_hand, reserved)), "{sku} at {w}");
        }
    }
    assert_eq!(stock.len(), STOCK_AS_LEFT.len(), "stock cells: {stock:?}");

    // The stored idempotency records: the same key and body answer with the original order,
    // another body is refused.
    stored_idempotency_replays(api, "fx1-confirmed", &id("confirmed")).await;

    // Its payment deadline passed while the service was down: the timer fires at start and the
    // reservation goes back.
    let timed_out = api.wait_status(&id("timed_out"), "cancelled").await;
    assert_eq!(
        history_types(&timed_out),
        ["placed", "stock_reserved", "cancelled"],
        "{timed_out}"
    );
    assert_eq!(
        timed_out["cancellation"]["by"], "payment_timer",
        "{timed_out}"
    );
    wait_until("the timed-out order's stock released", || async {
        let got = stock_levels(api).await;
        match got.get(&("rtm".to_string(), "SKU-4".to_string())) {
            Some(&(5, 0)) => Ok(()),
            other => Err(format!("SKU-4 at rtm: {other:?}")),
        }
    })
    .await;
    // The placed order's deadline is years away.
    assert_eq!(api.status_of(&id("placed")).await, "placed");

    // The pending notifications reach the receiver, signed, under their stored message ids;
    // the timed-out order's cancellation follows them.
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    for &(name, ..) in ORDERS {
        for kind in pending_notifications(name) {
            expected.insert((id(name), format!("order.{kind}")));
        }
    }
    assert_eq!(expected.len(), 23);
    expected.insert((id("timed_out"), "order.cancelled".into()));
    pending_notifications_arrive(api, receiver, &expected).await;

    // Confirmed orders carry on in their warehouses: picked, packed (booked), handed over.
    let shipped_types: Vec<&str> = PACKED.iter().copied().chain(["shipped"]).collect();
    for (name, warehouse) in [("confirmed", "ams"), ("confirmed_rtm", "rtm")] {
        api.pick_all(&id(name), warehouse).await;
        let packed = api.pack(&id(name), warehouse).await;
        assert_eq!(packed["status"], "packed", "{name}: {packed}");
        let shipped = api.handover(&id(name)).await;
        assert_eq!(shipped["status"], "shipped", "{name}: {shipped}");
        let o = api.order(&id(name)).await;
        assert_history_contiguous(&o);
        assert_eq!(history_types(&o), shipped_types, "{name}: {o}");
    }
    // The partially picked one: the rest of its picks, then the same.
    let partial = id("partially_picked");
    api.warehouse()
        .post(
            &format!("/v1/orders/{partial}/picks"),
            &json!({"warehouse": "rtm", "lines": [{"sku": "SKU-3", "quantity": 1}, {"sku": "SKU-2", "quantity": 1}]}),
        )
        .await
        .expect(200, "the rest of the picks");
    assert_eq!(api.pack(&partial, "rtm").await["status"], "packed");
    assert_eq!(api.handover(&partial).await["status"], "shipped");
    let o = api.order(&partial).await;
    assert_history_contiguous(&o);
    assert_eq!(
        history_types(&o),
        [
            "placed",
            "stock_reserved",
            "confirmed",
            "picks_acknowledged",
            "picks_acknowledged",
            "packed",
            "shipment_booked",
            "shipped"
        ],
        "{o}"
    );

    // The packed order goes out on the booking the v1 release stored, and the carrier's scans
    // by the recorded tracking numbers find their orders.
    assert_eq!(api.handover(&id("packed")).await["status"], "shipped");
    let ack = api
        .scan(
            &id("tn_packed"),
            "v1-upgrade-ev-1",
            "in_transit",
            "2026-11-25T10:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "shipped", "{ack}");
    let ack = api
        .scan(
            &id("tn_shipped"),
            "v1-upgrade-ev-2",
            "delivered",
            "2026-11-25T11:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");
    assert_eq!(api.status_of(&id("shipped")).await, "delivered");

    // The approved return is received back into stock.
    let received = api
        .warehouse()
        .post(
            &format!("/v1/orders/{}/returns/receive", id("return_approved")),
            &json!({"warehouse": "ams", "lines": [{"sku": "SKU-1", "quantity": 1}]}),
        )
        .await
        .expect(200, "receive the return");
    assert_eq!(received.json["status"], "returned", "{}", received.text());

    // Nothing left to pick but the cod order; the stock moved by exactly what went out and
    // came back.
    assert_eq!(
        pick_list(api, "ams").await,
        BTreeSet::from([id("cod")]),
        "ams's picks"
    );
    assert_eq!(pick_list(api, "rtm").await, BTreeSet::new(), "rtm's picks");
    wait_until("the stock after the hand-overs and the return", || async {
        let got = stock_levels(api).await;
        let want: BTreeMap<(String, String), (i64, i64)> = STOCK_AFTER
            .iter()
            .map(|&(w, s, h, r)| ((w.to_string(), s.to_string()), (h, r)))
            .collect();
        if got == want {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
}

/// The fixture's idempotency record under `key` (a captured card order of 2 SKU-1 and 1
/// SKU-2): the same body answers `order` again, replayed; another body is refused.
pub(crate) async fn stored_idempotency_replays(api: &Api, key: &str, order: &str) {
    let body = fixture_body(key, "card", "captured", &[("SKU-1", 2), ("SKU-2", 1)]);
    let replay = api
        .storefront()
        .idempotency(key)
        .post("/v1/orders", &body)
        .await
        .expect(201, "a repeated placement");
    assert_eq!(replay.json["id"], order, "{}", replay.text());
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    let other = fixture_body(key, "card", "captured", &[("SKU-1", 3)]);
    let refused = api
        .storefront()
        .idempotency(key)
        .post("/v1/orders", &other)
        .await
        .problem(422, "a key reused with another body");
    assert_eq!(
        refused["type"], "/problems/idempotency_key_reused",
        "{refused}"
    );
}

/// Every pending notification in `expected` (order id, `order.<kind>`) reaches `receiver`
/// answered 200, signed, under the message id stored with it, and nothing else does; nothing
/// is dead-lettered.
pub(crate) async fn pending_notifications_arrive(
    api: &Api,
    receiver: &Receiver,
    expected: &BTreeSet<(String, String)>,
) {
    let received = wait_until("every pending notification delivered", || {
        let hooks = receiver.hooks();
        let expected = expected.clone();
        async move {
            let got: BTreeSet<(String, String)> = hooks
                .iter()
                .filter(|h| h.answered == 200)
                .map(|h| {
                    let j = h.json();
                    (
                        j["data"]["order_id"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        j["type"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            let missing: Vec<_> = expected.difference(&got).collect();
            if missing.is_empty() {
                Ok(hooks)
            } else {
                Err(format!("missing {missing:?}"))
            }
        }
    })
    .await;
    for h in &received {
        let j = h.json();
        let order = j["data"]["order_id"].as_str().unwrap_or_default();
        let simple = order.replace('-', "");
        assert_eq!(h.id(), j["data"]["message_id"].as_str().unwrap_or_default());
        assert!(
            h.id().starts_with(&format!("msg_{simple}_")) && h.id().ends_with("_webhook"),
            "the stored message id: {}",
            h.id()
        );
        assert!(
            crate::notifications::signature_ok(h),
            "the signature does not verify: {h:?}"
        );
        assert!(
            expected.contains(&(
                order.to_string(),
                j["type"].as_str().unwrap_or_default().to_string()
            )),
            "an unexpected notification: {}",
            h.body
        );
    }
    let dead = api
        .admin()
        .get("/v1/notifications/dead-letters")
        .await
        .expect(200, "dead letters");
    assert_eq!(dead.json, json!([]), "nothing dead-lettered");
}

/// The body `make-v1-data.sh` (and `make-v2-data.sh`) placed the order under `key` with.
pub(crate) fn fixture_body(key: &str, method: &str, status: &str, lines: &[(&str, u32)]) -> Value {
    json!({
        "external_ref": key,
        "customer": {"id": format!("c-{key}"), "email": "jan@example.nl", "phone": "+31612345678", "locale": "nl-NL"},
        "currency": "EUR",
        "lines": lines.iter().map(|(sku, q)| json!({"sku": sku, "quantity": q, "unit_price": 1999})).collect::<Vec<_>>(),
        "shipping": {"method": "standard", "address": {"name": "Jan Jansen", "line1": "Keizersgracht 123", "city": "Amsterdam", "postal_code": "1015 CJ", "country": "NL"}},
        "payment": {"method": method, "status": status}
    })
}

pub(crate) fn history_types(order: &Value) -> Vec<String> {
    order["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| str_of(&e["type"]))
        .collect()
}

pub(crate) fn ids_of(orders: &[Value]) -> BTreeSet<String> {
    orders.iter().map(|o| str_of(&o["id"])).collect()
}

/// The orders on a warehouse's pick list (one page: the fixture has few).
pub(crate) async fn pick_list(api: &Api, warehouse: &str) -> BTreeSet<String> {
    let page = api
        .warehouse()
        .get(&format!("/v1/warehouses/{warehouse}/picks?limit=200"))
        .await
        .expect(200, "pick list")
        .json;
    page["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| str_of(&o["order_id"]))
        .collect()
}

/// (warehouse, sku) → (on hand, reserved) for the fixture's skus.
async fn stock_levels(api: &Api) -> BTreeMap<(String, String), (i64, i64)> {
    let mut out = BTreeMap::new();
    for sku in SKUS {
        let s = api.stock(sku).await;
        for cell in s["warehouses"].as_array().expect("warehouses") {
            out.insert(
                (str_of(&cell["warehouse"]), sku.to_string()),
                (
                    cell["on_hand"].as_i64().expect("on_hand"),
                    cell["reserved"].as_i64().expect("reserved"),
                ),
            );
        }
    }
    out
}
