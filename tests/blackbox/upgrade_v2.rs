//! What the v2 release (commit d8146fb: stored schema v2 — orders with shipments, split orders,
//! backorders; PostgreSQL migrations up to V5) wrote opens and carries on, on both storage
//! backends: a sled data directory (`tests/fixtures/v2-data`) and a PostgreSQL database restored
//! from a plain-SQL dump (`tests/fixtures/v2-postgres.sql`), both made by
//! `tests/fixtures/make-v2-data.sh` with the same scenario.
//!
//! One check serves both backends: every order answers with the status its name says, its
//! shipments (warehouse, status, lines, stored booking), its whole history and its tracking
//! page, and is listed under its status and on the pick lists of the warehouses it still has
//! to pick in; the stock in both warehouses reads as the script left it (nothing incoming);
//! the skus' backorder records read as set and availability counts what backorders wait for;
//! the stored idempotency records still recognise a repeated placement; the unpaid order whose
//! deadline passed while the service was down is cancelled by its timer; the webhook
//! notifications left pending are delivered, signed, once a receiver is there. Then everything
//! carries on: single-warehouse orders are picked, packed and handed over, the packed one on
//! its stored booking, scans by the recorded tracking numbers are accepted, an approved return
//! is received; the split orders finish their shipments (the packed one handed over on its
//! stored booking, the one still to pick picked and packed, the partially picked one finished)
//! and are delivered parcel by parcel; the part-cancelled one is delivered on its one parcel;
//! the backordered orders confirm by themselves, oldest first, as stock is counted in; a
//! transfer between the fixture's warehouses (new since the release) is dispatched and
//! received; and the stock moves by exactly what those steps take and give back.
//!
//! The service runs on a copy (sled) or a fresh database (PostgreSQL); the fixtures are never
//! written.

use crate::support::*;
use crate::upgrade_walk::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The orders of the scenario, as left (`upgrade_v3`'s scenario has them too).
pub(crate) const ORDERS: &[Left] = &[
    ("placed", "placed", &["ams:allocated"], &[ALLOCATED]),
    ("timed_out", "placed", &["rtm:allocated"], &[ALLOCATED]),
    ("confirmed", "confirmed", &["ams:allocated"], &[CONFIRMED]),
    ("cod", "confirmed", &["ams:allocated"], &[CONFIRMED]),
    (
        "confirmed_rtm",
        "confirmed",
        &["rtm:allocated"],
        &[CONFIRMED],
    ),
    (
        "partially_picked",
        "confirmed",
        &["rtm:allocated"],
        &[CONFIRMED, &["picks_acknowledged"]],
    ),
    ("packed", "packed", &["ams:packed"], &[CONFIRMED, PACKING]),
    (
        "shipped",
        "shipped",
        &["rtm:shipped"],
        &[
            CONFIRMED,
            &["picks_acknowledged"],
            PACKING,
            SENT,
            &["carrier_scanned"],
        ],
    ),
    (
        "delivered",
        "delivered",
        &["ams:delivered"],
        &[CONFIRMED, PACKING, SENT, &["delivered"]],
    ),
    (
        "cancelled",
        "cancelled",
        &["ams:cancelled"],
        &[CONFIRMED, &["cancelled", "refund_issued"]],
    ),
    (
        "return_approved",
        "delivered",
        &["ams:delivered"],
        &[CONFIRMED, PACKING, SENT, &["delivered", "return_approved"]],
    ),
    (
        "returned",
        "returned",
        &["rtm:delivered"],
        &[
            CONFIRMED,
            PACKING,
            SENT,
            &[
                "delivered",
                "return_approved",
                "return_received",
                "refund_issued",
            ],
        ],
    ),
    (
        "split",
        "confirmed",
        &["ams:packed", "rtm:allocated"],
        &[CONFIRMED, PACKING],
    ),
    (
        "split_shipped",
        "confirmed",
        &["ams:allocated", "rtm:shipped"],
        &[CONFIRMED, PACKING, SENT, &["picks_acknowledged"]],
    ),
    (
        "split_part_cancelled",
        "shipped",
        &["ams:cancelled", "rtm:shipped"],
        &[
            CONFIRMED,
            PACKING,
            &["shipped", "shipments_cancelled", "refund_issued"],
        ],
    ),
    ("backordered", "placed", &[], &[BACKORDERED]),
    ("backordered_later", "placed", &[], &[BACKORDERED]),
];

/// The histories' first events: placed, and the stock's answer (since schema v2, `allocated`
/// or `backordered`), and confirmed.
const ALLOCATED: &[&str] = &["placed", "allocated"];
const BACKORDERED: &[&str] = &["placed", "backordered"];
pub(crate) const CONFIRMED: &[&str] = &["placed", "allocated", "confirmed"];

/// The webhook notifications each order had pending: every customer-visible moment it went
/// through, none delivered (the script's receiver was never there).
pub(crate) fn pending_notifications(name: &str) -> &'static [&'static str] {
    match name {
        "confirmed" | "cod" | "confirmed_rtm" | "partially_picked" | "packed" | "split" => {
            &["confirmed"]
        }
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
        "split_shipped" => &["confirmed", "shipped"],
        "split_part_cancelled" => &["confirmed", "shipped", "cancelled", "refunded"],
        "backordered" | "backordered_later" => &["backordered"],
        _ => &[],
    }
}

const SKUS: &[&str] = &[
    "SKU-1", "SKU-2", "SKU-3", "SKU-4", "SKU-5", "SKU-6", "SKU-7", "SKU-8",
];

/// (warehouse, sku, on hand, reserved, incoming) as the script left them (nothing incoming:
/// there were no transfers). SKU-3 and SKU-4 are only in `rtm`, SKU-5 and SKU-7 only in `ams`;
/// SKU-4 is held by the timed-out order alone (its release is checked on its own); SKU-7's one
/// unit is held by the backordered order; SKU-8 is in no warehouse.
pub(crate) const STOCK_AS_LEFT: &[Cell] = &[
    ("ams", "SKU-1", 95, 5, 0),
    ("ams", "SKU-2", 48, 4, 0),
    ("ams", "SKU-5", 10, 1, 0),
    ("ams", "SKU-6", 2, 2, 0),
    ("ams", "SKU-7", 1, 1, 0),
    ("rtm", "SKU-1", 19, 1, 0),
    ("rtm", "SKU-2", 10, 1, 0),
    ("rtm", "SKU-3", 26, 5, 0),
    ("rtm", "SKU-4", 5, 1, 0),
    ("rtm", "SKU-6", 0, 0, 0),
];

/// The same once the orders have carried on, before the transfer: the timed-out order's
/// release; from `ams` the hand-overs of confirmed (2 SKU-1 + 1 SKU-2), packed (1 + 1), split
/// (1 SKU-5) and split_shipped (2 SKU-6), the received return (1 SKU-1 back), and SKU-7
/// counted to 4, all four held by the two backordered orders; from `rtm` the hand-overs of
/// confirmed_rtm (2 SKU-3 + 1 SKU-1), partially_picked (2 SKU-3 + 1 SKU-2) and split (1 SKU-3).
pub(crate) const STOCK_CARRIED_ON: &[Cell] = &[
    ("ams", "SKU-1", 93, 2, 0),
    ("ams", "SKU-2", 46, 2, 0),
    ("ams", "SKU-5", 9, 0, 0),
    ("ams", "SKU-6", 0, 0, 0),
    ("ams", "SKU-7", 4, 4, 0),
    ("rtm", "SKU-1", 18, 0, 0),
    ("rtm", "SKU-2", 9, 0, 0),
    ("rtm", "SKU-3", 21, 0, 0),
    ("rtm", "SKU-4", 5, 0, 0),
    ("rtm", "SKU-6", 0, 0, 0),
];

/// The same after the transfer of 2 SKU-1 and 3 SKU-5 from `ams` to `rtm`, received (a SKU-5
/// cell `rtm` never had).
const STOCK_AFTER: &[Cell] = &[
    ("ams", "SKU-1", 91, 2, 0),
    ("ams", "SKU-2", 46, 2, 0),
    ("ams", "SKU-5", 6, 0, 0),
    ("ams", "SKU-6", 0, 0, 0),
    ("ams", "SKU-7", 4, 4, 0),
    ("rtm", "SKU-1", 20, 0, 0),
    ("rtm", "SKU-2", 9, 0, 0),
    ("rtm", "SKU-3", 21, 0, 0),
    ("rtm", "SKU-4", 5, 0, 0),
    ("rtm", "SKU-5", 3, 0, 0),
    ("rtm", "SKU-6", 0, 0, 0),
];

/// The node id the PostgreSQL fixture was written by (`make-v2-data.sh`); the test's node has
/// another name, so it takes the dead writer's pending work over.
const FIXTURE_NODE: &str = "v2-fixture-node";

#[actix_rt::test]
async fn a_sled_data_directory_of_the_v2_release_opens_and_serves() {
    let ids = orderly_testkit::fixture::v2_ids();
    let (_work, data) = data_copy(orderly_testkit::fixture::copy_v2_data);
    let receiver = Receiver::start(0).await;
    let server = Server::start_on(&data, &receiver.config(100)).await;
    opens_and_serves(&server.api(), &receiver, &ids).await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_postgres_database_of_the_v2_release_opens_and_serves() {
    let Some((_, url, _)) = restored_dump(
        "a_postgres_database_of_the_v2_release_opens_and_serves",
        "v2_fixture",
        &orderly_testkit::fixture::v2_postgres_sql(),
        FIXTURE_NODE,
        "1,2,3,4,5",
    ) else {
        return;
    };
    let ids = orderly_testkit::fixture::v2_postgres_ids();
    let receiver = Receiver::start(0).await;
    let node = crate::nodes::postgres_toml(&url, "v2-upgrade-node");
    let server = Server::start_with(&format!("{node}{}", receiver.config(100))).await;
    opens_and_serves(&server.api(), &receiver, &ids).await;
    receiver.stop().await;
}

/// The whole check, on a service started on the fixture with `receiver` as its webhook.
async fn opens_and_serves(api: &Api, receiver: &Receiver, ids: &BTreeMap<String, String>) {
    let fx = Fixture {
        api,
        ids,
        skus: SKUS,
        release: "v2",
        scans_on: "2026-11-25",
        new_events: &[],
        opened: chrono::Utc::now(),
    };
    let id = |name: &str| fx.id(name);
    fx.has_orders(ORDERS.iter().map(|o| o.0));

    // Every order answers with its status, its shipments, its whole history and its tracking
    // page; the split and backordered orders with what they hold.
    fx.orders_answer_as_left(ORDERS).await;
    orders_as_stored(&fx).await;

    // Listed under their statuses; the shipments still to pick on their warehouses' lists.
    fx.listed_under_statuses(ORDERS.iter().map(|o| (o.0, o.1)))
        .await;
    fx.pick_lists_are(&[
        ("ams", &["confirmed", "cod", "split_shipped"]),
        ("rtm", &["confirmed_rtm", "partially_picked", "split"]),
    ])
    .await;

    fx.stock_is_as_left(STOCK_AS_LEFT).await;
    stock_records_as_left(&fx).await;

    stored_idempotency_replays(api, "fx2-confirmed", &id("confirmed")).await;
    let timed_out = fx
        .timed_out_is_cancelled(&["placed", "allocated", "cancelled"])
        .await;
    assert_eq!(shipments_of(&timed_out), ["rtm:cancelled"]);

    // The pending notifications reach the receiver, signed, under their stored message ids;
    // the timed-out order's cancellation follows them.
    let mut expected = fx.pending_notes(ORDERS.iter().map(|o| o.0), pending_notifications);
    assert_eq!(expected.len(), 32);
    expected.insert(Note::order(&id("timed_out"), "cancelled"));
    notifications_arrive(api, receiver, &expected, &expected).await;

    fx.v1_orders_walk_on(&[CONFIRMED, PACKING].concat()).await;
    orders_walk_on(&fx).await;
    backorders_fill(&fx).await;

    // Nothing left to pick but the cod order and the two filled backorders; the stock moved by
    // exactly what went out, came back and was counted (hand-overs and restocks take their
    // stock after answering: waited for).
    fx.pick_lists_are(&[
        ("ams", &["cod", "backordered", "backordered_later"]),
        ("rtm", &[]),
    ])
    .await;
    fx.stock_reaches("the stock after the orders carried on", STOCK_CARRIED_ON)
        .await;

    // A transfer between the fixture's warehouses (new since the release): out of ams's stock
    // as the release left it and the orders moved it, into rtm's (a cell rtm never had, for
    // SKU-5). Dispatched, the units leave ams and are incoming at rtm; received, on hand there.
    let lines = json!([{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-5", "quantity": 3}]);
    let transfer = api
        .admin()
        .idempotency("v2-upgrade-transfer-1")
        .post(
            "/v1/transfers",
            &json!({"from": "ams", "to": "rtm", "lines": lines}),
        )
        .await
        .expect(201, "transfer dispatched")
        .json;
    assert_eq!(transfer["status"], "dispatched", "{transfer}");
    let transfer_id = str_of(&transfer["id"]);
    let stock = fx.stock_levels().await;
    for (w, sku, cell) in [
        ("ams", "SKU-1", (91, 2, 0)),
        ("ams", "SKU-5", (6, 0, 0)),
        ("rtm", "SKU-1", (18, 0, 2)),
        ("rtm", "SKU-5", (0, 0, 3)),
    ] {
        let got = stock.get(&(w.to_string(), sku.to_string())).copied();
        assert_eq!(got, Some(cell), "{sku} at {w}: {stock:?}");
    }
    let seen = availability(api, Key::Admin, &["SKU-5"]).await;
    assert_eq!(
        fields(&seen["SKU-5"], &["available", "incoming"]),
        json!([6, 3]),
        "{seen:?}"
    );
    let received = api
        .warehouse()
        .post(
            &format!("/v1/transfers/{transfer_id}/receive"),
            &json!({ "lines": lines }),
        )
        .await
        .expect(200, "transfer received")
        .json;
    assert_eq!(received["status"], "received", "{received}");
    let listed = api
        .admin()
        .get("/v1/transfers")
        .await
        .expect(200, "transfers")
        .json;
    assert_eq!(
        listed["transfers"][0]["id"],
        transfer_id.as_str(),
        "{listed}"
    );

    fx.stock_reaches("the stock after the transfer", STOCK_AFTER)
        .await;
}

/// The split orders' shipments as stored: the lines each warehouse serves (a line itself
/// split), what was picked, the bookings by the recorded tracking numbers, the allocation's
/// reason; the part-cancelled one's refund; the backordered orders: what they wait for, and
/// what the first one holds. (`upgrade_v3`'s scenario has them too.)
pub(crate) async fn orders_as_stored(fx: &Fixture<'_>) {
    let (api, id) = (fx.api, |name: &str| fx.id(name));
    let split = api.order(&id("split")).await;
    assert!(split.get("warehouse").is_none(), "split: {split}");
    let shipment = |o: &Value, w: &str, path: &str| {
        shipment_at(o, w)
            .pointer(path)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let split_shipped = api.order(&id("split_shipped")).await;
    let part = api.order(&id("split_part_cancelled")).await;
    for (o, w, path, want) in [
        (
            &split,
            "ams",
            "/lines",
            json!([{"sku": "SKU-5", "quantity": 1, "picked": 1}]),
        ),
        (
            &split,
            "ams",
            "/booking/tracking_number",
            json!(id("tn_split_ams")),
        ),
        (
            &split,
            "rtm",
            "/lines",
            json!([{"sku": "SKU-3", "quantity": 1, "picked": 0}]),
        ),
        (
            &split_shipped,
            "ams",
            "/lines",
            json!([{"sku": "SKU-6", "quantity": 2, "picked": 1}]),
        ),
        (
            &split_shipped,
            "rtm",
            "/lines",
            json!([{"sku": "SKU-6", "quantity": 1, "picked": 1}, {"sku": "SKU-3", "quantity": 2, "picked": 2}]),
        ),
        (
            &split_shipped,
            "rtm",
            "/booking/tracking_number",
            json!(id("tn_split_shipped_rtm")),
        ),
        (&split_shipped, "rtm", "/last_scan", json!("in_transit")),
        (
            &part,
            "rtm",
            "/booking/tracking_number",
            json!(id("tn_split_part_cancelled_rtm")),
        ),
    ] {
        assert_eq!(shipment(o, w, path), want, "{w}{path}: {o}");
    }
    let allocated = split_shipped["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "allocated")
        .expect("allocation in the history");
    assert_eq!(
        allocated["reason"],
        "no single warehouse can serve every line; split: ams 2 of 3 SKU-6; rtm 1 of 3 SKU-6, 2 SKU-3"
    );
    assert_eq!(part["refunded"]["amount"], 1999, "the ams part: {part}");

    for (name, waiting) in [("backordered", 2), ("backordered_later", 1)] {
        let o = api.order(&id(name)).await;
        assert_eq!(o["stock"], "backordered", "{o}");
        assert_eq!(
            o["backordered"],
            json!([{"sku": "SKU-7", "quantity": waiting}]),
            "{name}: {o}"
        );
    }
    let first = api.order(&id("backordered")).await;
    assert_eq!(
        first["history"][1]["held"],
        json!([{"shipment": 1, "warehouse": "ams", "lines": [{"sku": "SKU-7", "quantity": 1}]}]),
        "{first}"
    );
}

/// The skus' backorder records, and availability as allocation sees it: less what backorders
/// wait for, with what more may wait; a storefront key sees no warehouses.
pub(crate) async fn stock_records_as_left(fx: &Fixture<'_>) {
    let api = fx.api;
    assert_eq!(
        sku_backorders(api, "SKU-7").await,
        json!({"sku": "SKU-7", "allowed": true, "cap": 10, "waiting": 3})
    );
    assert_eq!(
        sku_backorders(api, "SKU-8").await,
        json!({"sku": "SKU-8", "allowed": true, "cap": 5, "waiting": 0})
    );
    let seen = availability(api, Key::Admin, &["SKU-1", "SKU-7", "SKU-8"]).await;
    for (sku, paths, want) in [
        (
            "SKU-1",
            ["available", "backorderable", "incoming"],
            json!([90 + 18, false, 0]),
        ),
        (
            "SKU-7",
            ["available", "backorderable", "backorder_remaining"],
            json!([0, true, 7]),
        ),
        (
            "SKU-8",
            ["available", "backorderable", "backorder_remaining"],
            json!([0, true, 5]),
        ),
    ] {
        assert_eq!(fields(&seen[sku], &paths), want, "{sku}: {seen:?}");
    }
    assert_eq!(
        seen["SKU-1"]["warehouses"],
        json!([
            {"warehouse": "ams", "on_hand": 95, "reserved": 5, "available": 90, "incoming": 0},
            {"warehouse": "rtm", "on_hand": 19, "reserved": 1, "available": 18, "incoming": 0}
        ])
    );
    let storefront = availability(api, Key::Storefront, &["SKU-1"]).await;
    assert_eq!(storefront["SKU-1"]["available"], 108, "{storefront:?}");
    assert!(
        storefront["SKU-1"].get("warehouses").is_none(),
        "storefront keys see no warehouses: {storefront:?}"
    );
}

/// The split orders finish their shipments (scans 3 to 7 of the walk). `split`: rtm's
/// shipment, still to pick, is picked and packed through the per-shipment routes; then both
/// parcels go out (ams's on the booking the release stored) and are delivered one by one.
/// `split_shipped`: ams's shipment, partially picked, is finished and handed over; rtm's,
/// shipped before the upgrade, is delivered by its recorded tracking number. The
/// part-cancelled order: its one parcel left is delivered, which delivers the order.
pub(crate) async fn orders_walk_on(fx: &Fixture<'_>) {
    let (api, id) = (fx.api, |name: &str| fx.id(name));
    let packed = finish_shipment(fx, "split", "rtm", "SKU-3").await;
    assert_eq!(packed["status"], "packed", "both packed now: {packed}");
    let tn_split_rtm = str_of(&shipment_at(&packed, "rtm")["booking"]["tracking_number"]);
    assert_ne!(tn_split_rtm, id("tn_split_ams"));
    let rtm_no = &shipment_at(&packed, "rtm")["id"];
    api.warehouse()
        .get(&format!(
            "/v1/orders/{}/shipments/{rtm_no}/label",
            id("split")
        ))
        .await
        .expect(200, "split: rtm's label");
    let shipped = api.handover(&id("split")).await;
    assert_eq!(shipped["status"], "shipped", "{shipped}");
    assert_eq!(shipments_of(&shipped), ["ams:shipped", "rtm:shipped"]);
    fx.scan_answers("tn_split_ams", 3, "delivered", "shipped")
        .await;
    fx.scan_answers(&tn_split_rtm, 4, "delivered", "delivered")
        .await;
    let done = api.order(&id("split")).await;
    assert_history_contiguous(&done);
    assert_eq!(shipments_of(&done), ["ams:delivered", "rtm:delivered"]);

    let packed = finish_shipment(fx, "split_shipped", "ams", "SKU-6").await;
    // rtm's shipment is handed over already: the order is as far as ams's.
    assert_eq!(packed["status"], "packed", "{packed}");
    let ams_no = &shipment_at(&packed, "ams")["id"];
    let handed = api
        .warehouse()
        .post(
            &format!(
                "/v1/orders/{}/shipments/{ams_no}/handover",
                id("split_shipped")
            ),
            &json!({}),
        )
        .await
        .expect(200, "split_shipped: hand over ams's shipment")
        .json;
    assert_eq!(handed["status"], "shipped", "{handed}");
    let tn_ss_ams = str_of(&shipment_at(&handed, "ams")["booking"]["tracking_number"]);
    fx.scan_answers("tn_split_shipped_rtm", 5, "delivered", "shipped")
        .await;
    fx.scan_answers(&tn_ss_ams, 6, "delivered", "delivered")
        .await;

    fx.scan_answers("tn_split_part_cancelled_rtm", 7, "delivered", "delivered")
        .await;
    let part = api.order(&id("split_part_cancelled")).await;
    assert_eq!(shipments_of(&part), ["ams:cancelled", "rtm:delivered"]);
}

/// The order `name`'s shipment from `warehouse` gets its last pick (one `sku`) and is packed,
/// through the per-shipment routes. Returns the packed answer.
async fn finish_shipment(fx: &Fixture<'_>, name: &str, warehouse: &str, sku: &str) -> Value {
    let (api, order) = (fx.api, fx.id(name));
    let no = shipment_at(&api.order(&order).await, warehouse)["id"].clone();
    let base = format!("/v1/orders/{order}/shipments/{no}");
    api.warehouse()
        .post(
            &format!("{base}/picks"),
            &json!({"lines": [{"sku": sku, "quantity": 1}]}),
        )
        .await
        .expect(200, &format!("{name}: the rest of {warehouse}'s picks"));
    api.warehouse()
        .post(
            &format!("{base}/pack"),
            &json!({"parcels": [{"weight_grams": 800}]}),
        )
        .await
        .expect(200, &format!("{name}: pack {warehouse}'s shipment"))
        .json
}

/// Stock arrives for SKU-7: the oldest backordered order is filled first and confirms by
/// itself; the later one keeps waiting until more comes, then confirms too, and nothing waits.
/// Returns the two as they confirmed. (`upgrade_v3`'s scenario has them too.)
pub(crate) async fn backorders_fill(fx: &Fixture<'_>) -> [Value; 2] {
    let (api, id) = (fx.api, |name: &str| fx.id(name));
    api.set_stock("ams", "SKU-7", 3).await;
    let first = api.wait_status(&id("backordered"), "confirmed").await;
    assert!(first.get("backordered").is_none(), "{first}");
    assert_eq!(shipments_of(&first), ["ams:allocated"], "{first}");
    assert_eq!(
        first["shipments"][0]["lines"],
        json!([{"sku": "SKU-7", "quantity": 3, "picked": 0}])
    );
    let later = api.order(&id("backordered_later")).await;
    assert_eq!(
        fields(&later, &["status", "stock"]),
        json!(["placed", "backordered"]),
        "{later}"
    );
    assert_eq!(sku_backorders(api, "SKU-7").await["waiting"], 1);
    api.set_stock("ams", "SKU-7", 4).await;
    let later = api.wait_status(&id("backordered_later"), "confirmed").await;
    assert_eq!(shipments_of(&later), ["ams:allocated"], "{later}");
    assert_eq!(
        sku_backorders(api, "SKU-7").await,
        json!({"sku": "SKU-7", "allowed": true, "cap": 10, "waiting": 0})
    );
    let seen = availability(api, Key::Admin, &["SKU-7"]).await;
    assert_eq!(
        fields(&seen["SKU-7"], &["available", "backorder_remaining"]),
        json!([0, 10]),
        "{seen:?}"
    );
    [first, later]
}
