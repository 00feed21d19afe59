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
use std::collections::{BTreeMap, BTreeSet};

/// The orders of the scenario: name, the status it was left in, its shipments
/// (`warehouse:status`, in shipment order) and its history's event types. `timed_out` was left
/// placed; its timer may cancel it before the first read.
type Left = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

const ORDERS: &[Left] = &[
    ("placed", "placed", &["ams:allocated"], ALLOCATED),
    ("timed_out", "placed", &["rtm:allocated"], ALLOCATED),
    ("confirmed", "confirmed", &["ams:allocated"], CONFIRMED),
    ("cod", "confirmed", &["ams:allocated"], CONFIRMED),
    ("confirmed_rtm", "confirmed", &["rtm:allocated"], CONFIRMED),
    (
        "partially_picked",
        "confirmed",
        &["rtm:allocated"],
        &["placed", "allocated", "confirmed", "picks_acknowledged"],
    ),
    ("packed", "packed", &["ams:packed"], PACKED),
    (
        "shipped",
        "shipped",
        &["rtm:shipped"],
        &[
            "placed",
            "allocated",
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
    ("delivered", "delivered", &["ams:delivered"], DELIVERED),
    (
        "cancelled",
        "cancelled",
        &["ams:cancelled"],
        &[
            "placed",
            "allocated",
            "confirmed",
            "cancelled",
            "refund_issued",
        ],
    ),
    (
        "return_approved",
        "delivered",
        &["ams:delivered"],
        &[
            "placed",
            "allocated",
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
        &["rtm:delivered"],
        &[
            "placed",
            "allocated",
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
    (
        "split",
        "confirmed",
        &["ams:packed", "rtm:allocated"],
        PACKED,
    ),
    (
        "split_shipped",
        "confirmed",
        &["ams:allocated", "rtm:shipped"],
        &[
            "placed",
            "allocated",
            "confirmed",
            "picks_acknowledged",
            "packed",
            "shipment_booked",
            "shipped",
            "carrier_scanned",
            "picks_acknowledged",
        ],
    ),
    (
        "split_part_cancelled",
        "shipped",
        &["ams:cancelled", "rtm:shipped"],
        &[
            "placed",
            "allocated",
            "confirmed",
            "picks_acknowledged",
            "packed",
            "shipment_booked",
            "shipped",
            "shipments_cancelled",
            "refund_issued",
        ],
    ),
    ("backordered", "placed", &[], BACKORDERED),
    ("backordered_later", "placed", &[], BACKORDERED),
];

const ALLOCATED: &[&str] = &["placed", "allocated"];
const BACKORDERED: &[&str] = &["placed", "backordered"];
const CONFIRMED: &[&str] = &["placed", "allocated", "confirmed"];
const PACKED: &[&str] = &[
    "placed",
    "allocated",
    "confirmed",
    "picks_acknowledged",
    "packed",
    "shipment_booked",
];
const DELIVERED: &[&str] = &[
    "placed",
    "allocated",
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

/// (warehouse, sku, on hand, reserved) as the script left them (nothing incoming: there were
/// no transfers). SKU-3 and SKU-4 are only in `rtm`, SKU-5 and SKU-7 only in `ams`; SKU-4 is
/// held by the timed-out order alone (its release is checked on its own); SKU-7's one unit is
/// held by the backordered order; SKU-8 is in no warehouse.
const STOCK_AS_LEFT: &[(&str, &str, i64, i64)] = &[
    ("ams", "SKU-1", 95, 5),
    ("ams", "SKU-2", 48, 4),
    ("ams", "SKU-5", 10, 1),
    ("ams", "SKU-6", 2, 2),
    ("ams", "SKU-7", 1, 1),
    ("rtm", "SKU-1", 19, 1),
    ("rtm", "SKU-2", 10, 1),
    ("rtm", "SKU-3", 26, 5),
    ("rtm", "SKU-4", 5, 1),
    ("rtm", "SKU-6", 0, 0),
];

/// The same once the orders have carried on, before the transfer: the timed-out order's
/// release; from `ams` the hand-overs of confirmed (2 SKU-1 + 1 SKU-2), packed (1 + 1), split
/// (1 SKU-5) and split_shipped (2 SKU-6), the received return (1 SKU-1 back), and SKU-7
/// counted to 4, all four held by the two backordered orders; from `rtm` the hand-overs of
/// confirmed_rtm (2 SKU-3 + 1 SKU-1), partially_picked (2 SKU-3 + 1 SKU-2) and split (1 SKU-3).
const STOCK_CARRIED_ON: &[(&str, &str, i64, i64)] = &[
    ("ams", "SKU-1", 93, 2),
    ("ams", "SKU-2", 46, 2),
    ("ams", "SKU-5", 9, 0),
    ("ams", "SKU-6", 0, 0),
    ("ams", "SKU-7", 4, 4),
    ("rtm", "SKU-1", 18, 0),
    ("rtm", "SKU-2", 9, 0),
    ("rtm", "SKU-3", 21, 0),
    ("rtm", "SKU-4", 5, 0),
    ("rtm", "SKU-6", 0, 0),
];

/// The same after the transfer of 2 SKU-1 and 3 SKU-5 from `ams` to `rtm`, received (a SKU-5
/// cell `rtm` never had).
const STOCK_AFTER: &[(&str, &str, i64, i64)] = &[
    ("ams", "SKU-1", 91, 2),
    ("ams", "SKU-2", 46, 2),
    ("ams", "SKU-5", 6, 0),
    ("ams", "SKU-6", 0, 0),
    ("ams", "SKU-7", 4, 4),
    ("rtm", "SKU-1", 20, 0),
    ("rtm", "SKU-2", 9, 0),
    ("rtm", "SKU-3", 21, 0),
    ("rtm", "SKU-4", 5, 0),
    ("rtm", "SKU-5", 3, 0),
    ("rtm", "SKU-6", 0, 0),
];

/// The node id the PostgreSQL fixture was written by (`make-v2-data.sh`); the test's node has
/// another name, so it takes the dead writer's pending work over.
const FIXTURE_NODE: &str = "v2-fixture-node";

#[actix_rt::test]
async fn a_sled_data_directory_of_the_v2_release_opens_and_serves() {
    let ids = orderly_testkit::fixture::v2_ids();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    orderly_testkit::fixture::copy_v2_data(&data);
    let receiver = Receiver::start(0).await;
    let server = Server::start_on(&data, &receiver.config(100)).await;
    opens_and_serves(&server.api(), &receiver, &ids).await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_postgres_database_of_the_v2_release_opens_and_serves() {
    let test = "a_postgres_database_of_the_v2_release_opens_and_serves";
    let Some(pg) = orderly_testkit::postgres::shared_or_skip(test) else {
        return;
    };
    let ids = orderly_testkit::fixture::v2_postgres_ids();
    let url = pg.create_database("v2_fixture");
    pg.restore_sql(&url, &orderly_testkit::fixture::v2_postgres_sql())
        .unwrap_or_else(|e| panic!("restoring the v2 dump: {e}"));
    let db = url.rsplit('/').next().unwrap();
    assert_eq!(
        pg.psql(db, "SELECT node_id FROM nodes ORDER BY node_id")
            .unwrap()
            .trim(),
        FIXTURE_NODE,
        "the dump's writer"
    );
    assert_eq!(
        pg.psql(
            db,
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM refinery_schema_history"
        )
        .unwrap()
        .trim(),
        "1,2,3,4,5",
        "the dump's migrations"
    );
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
    };
    let id = |name: &str| fx.id(name);
    fx.has_orders(ORDERS.iter().map(|o| o.0));

    // Every order answers with its status, its shipments, its whole history and its tracking
    // page.
    for &(name, status, shipments, types) in ORDERS {
        let o = api.order(&id(name)).await;
        assert_history_contiguous(&o);
        if name == "timed_out" && o["status"] == "cancelled" {
            continue; // its timer was quicker than this read
        }
        assert_eq!(o["status"], status, "{name}: {o}");
        assert_eq!(shipments_of(&o), shipments, "{name}: {o}");
        assert_eq!(history_types(&o), types, "{name}: {o}");
        let token = str_of(&o["tracking_token"]);
        let page = api
            .anon()
            .get(&format!("/v1/track/{token}"))
            .await
            .expect(200, &format!("{name}'s tracking page"))
            .json;
        // (The timed-out order's timer may fire between the two reads.)
        let timer_was_quicker = name == "timed_out" && page["status"] == "cancelled";
        if !timer_was_quicker {
            assert_eq!(page["status"], status, "{name}'s tracking page: {page}");
        }
        assert_eq!(
            page["shipments"].as_array().map(Vec::len),
            Some(shipments.len()),
            "{name}'s tracking page: {page}"
        );
    }
    let approved = api.order(&id("return_approved")).await;
    assert!(approved["return_label_url"].is_string(), "{approved}");

    // The split orders' shipments: the lines each warehouse serves (a line itself split), what
    // was picked, and the bookings by the recorded tracking numbers.
    let split = api.order(&id("split")).await;
    assert!(split.get("warehouse").is_none(), "split: {split}");
    assert_eq!(
        shipment_at(&split, "ams")["lines"],
        json!([{"sku": "SKU-5", "quantity": 1, "picked": 1}])
    );
    assert_eq!(
        shipment_at(&split, "ams")["booking"]["tracking_number"],
        id("tn_split_ams").as_str()
    );
    assert_eq!(
        shipment_at(&split, "rtm")["lines"],
        json!([{"sku": "SKU-3", "quantity": 1, "picked": 0}])
    );
    let split_shipped = api.order(&id("split_shipped")).await;
    assert_eq!(
        shipment_at(&split_shipped, "ams")["lines"],
        json!([{"sku": "SKU-6", "quantity": 2, "picked": 1}])
    );
    let rtm = shipment_at(&split_shipped, "rtm");
    assert_eq!(
        rtm["lines"],
        json!([{"sku": "SKU-6", "quantity": 1, "picked": 1}, {"sku": "SKU-3", "quantity": 2, "picked": 2}])
    );
    assert_eq!(
        rtm["booking"]["tracking_number"],
        id("tn_split_shipped_rtm").as_str()
    );
    assert_eq!(rtm["last_scan"], "in_transit", "{split_shipped}");
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
    let part = api.order(&id("split_part_cancelled")).await;
    assert_eq!(
        shipment_at(&part, "rtm")["booking"]["tracking_number"],
        id("tn_split_part_cancelled_rtm").as_str()
    );
    assert_eq!(part["refunded"]["amount"], 1999, "the ams part: {part}");

    // The backordered orders: what they wait for, and what the first one holds.
    let first = api.order(&id("backordered")).await;
    assert_eq!(first["stock"], "backordered", "{first}");
    assert_eq!(
        first["backordered"],
        json!([{"sku": "SKU-7", "quantity": 2}])
    );
    let event = &first["history"][1];
    assert_eq!(
        event["held"],
        json!([{"shipment": 1, "warehouse": "ams", "lines": [{"sku": "SKU-7", "quantity": 1}]}]),
        "{first}"
    );
    let later = api.order(&id("backordered_later")).await;
    assert_eq!(later["stock"], "backordered", "{later}");
    assert_eq!(
        later["backordered"],
        json!([{"sku": "SKU-7", "quantity": 1}])
    );

    // Listed under their statuses; the shipments still to pick on their warehouses' lists.
    fx.listed_under_statuses(ORDERS.iter().map(|o| (o.0, o.1)))
        .await;
    for (warehouse, want) in [
        ("ams", ["confirmed", "cod", "split_shipped"]),
        ("rtm", ["confirmed_rtm", "partially_picked", "split"]),
    ] {
        let want: BTreeSet<String> = want.iter().map(|n| id(n)).collect();
        assert_eq!(pick_list(api, warehouse).await, want, "{warehouse}'s picks");
    }

    fx.stock_is_as_left(STOCK_AS_LEFT).await;

    // The skus' backorder records, and availability as allocation sees it: less what
    // backorders wait for, with what more may wait.
    assert_eq!(
        sku_backorders(api, "SKU-7").await,
        json!({"sku": "SKU-7", "allowed": true, "cap": 10, "waiting": 3})
    );
    assert_eq!(
        sku_backorders(api, "SKU-8").await,
        json!({"sku": "SKU-8", "allowed": true, "cap": 5, "waiting": 0})
    );
    let seen = availability(api, Key::Admin, &["SKU-1", "SKU-7", "SKU-8"]).await;
    assert_eq!(
        (
            &seen["SKU-1"]["available"],
            &seen["SKU-1"]["backorderable"],
            &seen["SKU-1"]["incoming"]
        ),
        (&json!(90 + 18), &json!(false), &json!(0)),
        "{seen:?}"
    );
    assert_eq!(
        seen["SKU-1"]["warehouses"],
        json!([
            {"warehouse": "ams", "on_hand": 95, "reserved": 5, "available": 90, "incoming": 0},
            {"warehouse": "rtm", "on_hand": 19, "reserved": 1, "available": 18, "incoming": 0}
        ])
    );
    assert_eq!(
        (
            &seen["SKU-7"]["available"],
            &seen["SKU-7"]["backorderable"],
            &seen["SKU-7"]["backorder_remaining"]
        ),
        (&json!(0), &json!(true), &json!(7)),
        "{seen:?}"
    );
    assert_eq!(
        (
            &seen["SKU-8"]["available"],
            &seen["SKU-8"]["backorderable"],
            &seen["SKU-8"]["backorder_remaining"]
        ),
        (&json!(0), &json!(true), &json!(5)),
        "{seen:?}"
    );
    let storefront = availability(api, Key::Storefront, &["SKU-1"]).await;
    assert_eq!(storefront["SKU-1"]["available"], 108, "{storefront:?}");
    assert!(
        storefront["SKU-1"].get("warehouses").is_none(),
        "storefront keys see no warehouses: {storefront:?}"
    );

    stored_idempotency_replays(api, "fx2-confirmed", &id("confirmed")).await;
    let timed_out = fx
        .timed_out_is_cancelled(&["placed", "allocated", "cancelled"])
        .await;
    assert_eq!(shipments_of(&timed_out), ["rtm:cancelled"]);

    // The pending notifications reach the receiver, signed, under their stored message ids;
    // the timed-out order's cancellation follows them.
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    for &(name, ..) in ORDERS {
        for kind in pending_notifications(name) {
            expected.insert((id(name), format!("order.{kind}")));
        }
    }
    assert_eq!(expected.len(), 32);
    expected.insert((id("timed_out"), "order.cancelled".into()));
    pending_notifications_arrive(api, receiver, &expected).await;

    fx.v1_orders_walk_on(PACKED, "v2").await;

    // The split order: rtm's shipment, still to pick, is picked and packed through the
    // per-shipment routes; then both parcels go out (ams's on the booking the release stored)
    // and are delivered one by one.
    let split_id = id("split");
    let rtm_no = shipment_at(&split, "rtm")["id"].clone();
    let base = format!("/v1/orders/{split_id}/shipments/{rtm_no}");
    api.warehouse()
        .post(
            &format!("{base}/picks"),
            &json!({"lines": [{"sku": "SKU-3", "quantity": 1}]}),
        )
        .await
        .expect(200, "split: picks of rtm's shipment");
    let packed = api
        .warehouse()
        .post(
            &format!("{base}/pack"),
            &json!({"parcels": [{"weight_grams": 800}]}),
        )
        .await
        .expect(200, "split: pack rtm's shipment")
        .json;
    assert_eq!(packed["status"], "packed", "both packed now: {packed}");
    let tn_split_rtm = str_of(&shipment_at(&packed, "rtm")["booking"]["tracking_number"]);
    assert_ne!(tn_split_rtm, id("tn_split_ams"));
    api.warehouse()
        .get(&format!("{base}/label"))
        .await
        .expect(200, "split: rtm's label");
    let shipped = api.handover(&split_id).await;
    assert_eq!(shipped["status"], "shipped", "{shipped}");
    assert_eq!(shipments_of(&shipped), ["ams:shipped", "rtm:shipped"]);
    let ack = api
        .scan(
            &id("tn_split_ams"),
            "v2-upgrade-ev-3",
            "delivered",
            "2026-11-25T12:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "shipped", "one parcel of two: {ack}");
    let ack = api
        .scan(
            &tn_split_rtm,
            "v2-upgrade-ev-4",
            "delivered",
            "2026-11-25T13:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");
    let done = api.order(&split_id).await;
    assert_history_contiguous(&done);
    assert_eq!(shipments_of(&done), ["ams:delivered", "rtm:delivered"]);

    // The other split order: ams's shipment, partially picked, is finished and handed over;
    // rtm's, shipped before the upgrade, is delivered by its recorded tracking number.
    let ss = id("split_shipped");
    let ams_no = shipment_at(&split_shipped, "ams")["id"].clone();
    let base = format!("/v1/orders/{ss}/shipments/{ams_no}");
    api.warehouse()
        .post(
            &format!("{base}/picks"),
            &json!({"lines": [{"sku": "SKU-6", "quantity": 1}]}),
        )
        .await
        .expect(200, "split_shipped: the rest of ams's picks");
    let packed = api
        .warehouse()
        .post(
            &format!("{base}/pack"),
            &json!({"parcels": [{"weight_grams": 800}]}),
        )
        .await
        .expect(200, "split_shipped: pack ams's shipment")
        .json;
    // rtm's shipment is handed over already: the order is as far as ams's.
    assert_eq!(packed["status"], "packed", "{packed}");
    let handed = api
        .warehouse()
        .post(&format!("{base}/handover"), &json!({}))
        .await
        .expect(200, "split_shipped: hand over ams's shipment")
        .json;
    assert_eq!(handed["status"], "shipped", "{handed}");
    let tn_ss_ams = str_of(&shipment_at(&handed, "ams")["booking"]["tracking_number"]);
    let ack = api
        .scan(
            &id("tn_split_shipped_rtm"),
            "v2-upgrade-ev-5",
            "delivered",
            "2026-11-25T14:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "shipped", "one parcel of two: {ack}");
    let ack = api
        .scan(
            &tn_ss_ams,
            "v2-upgrade-ev-6",
            "delivered",
            "2026-11-25T15:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");

    // The part-cancelled order: its one parcel left is delivered, which delivers the order.
    let ack = api
        .scan(
            &id("tn_split_part_cancelled_rtm"),
            "v2-upgrade-ev-7",
            "delivered",
            "2026-11-25T16:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");
    let part = api.order(&id("split_part_cancelled")).await;
    assert_eq!(shipments_of(&part), ["ams:cancelled", "rtm:delivered"]);

    // Stock arrives for SKU-7: the oldest backordered order is filled first and confirms by
    // itself; the later one keeps waiting until more comes.
    api.set_stock("ams", "SKU-7", 3).await;
    let confirmed = api.wait_status(&id("backordered"), "confirmed").await;
    assert!(confirmed.get("backordered").is_none(), "{confirmed}");
    assert_eq!(shipments_of(&confirmed), ["ams:allocated"], "{confirmed}");
    assert_eq!(
        confirmed["shipments"][0]["lines"],
        json!([{"sku": "SKU-7", "quantity": 3, "picked": 0}])
    );
    let later = api.order(&id("backordered_later")).await;
    assert_eq!(
        (&later["status"], &later["stock"]),
        (&json!("placed"), &json!("backordered")),
        "{later}"
    );
    assert_eq!(sku_backorders(api, "SKU-7").await["waiting"], 1);
    api.set_stock("ams", "SKU-7", 4).await;
    let confirmed = api.wait_status(&id("backordered_later"), "confirmed").await;
    assert_eq!(shipments_of(&confirmed), ["ams:allocated"], "{confirmed}");
    assert_eq!(
        sku_backorders(api, "SKU-7").await,
        json!({"sku": "SKU-7", "allowed": true, "cap": 10, "waiting": 0})
    );
    let seen = availability(api, Key::Admin, &["SKU-7"]).await;
    assert_eq!(
        (
            &seen["SKU-7"]["available"],
            &seen["SKU-7"]["backorder_remaining"]
        ),
        (&json!(0), &json!(10)),
        "{seen:?}"
    );

    // Nothing left to pick but the cod order and the two filled backorders; the stock moved by
    // exactly what went out, came back and was counted (hand-overs and restocks take their
    // stock after answering: waited for).
    assert_eq!(
        pick_list(api, "ams").await,
        BTreeSet::from([id("cod"), id("backordered"), id("backordered_later")]),
        "ams's picks"
    );
    assert_eq!(pick_list(api, "rtm").await, BTreeSet::new(), "rtm's picks");
    fx.stock_reaches("the stock after the orders carried on", STOCK_CARRIED_ON)
        .await;

    // A transfer between the fixture's warehouses (new since the release): out of ams's stock
    // as the release left it and the orders moved it, into rtm's (a cell rtm never had, for
    // SKU-5). Dispatched, the units leave ams and are incoming at rtm; received, on hand there.
    let transfer = api
        .admin()
        .idempotency("v2-upgrade-transfer-1")
        .post(
            "/v1/transfers",
            &json!({"from": "ams", "to": "rtm", "lines": [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-5", "quantity": 3}]}),
        )
        .await
        .expect(201, "transfer dispatched")
        .json;
    assert_eq!(transfer["status"], "dispatched", "{transfer}");
    let transfer_id = str_of(&transfer["id"]);
    let stock = fx.stock_levels().await;
    let at = |w: &str, sku: &str| stock.get(&(w.to_string(), sku.to_string())).copied();
    assert_eq!(at("ams", "SKU-1"), Some((91, 2, 0)), "{stock:?}");
    assert_eq!(at("ams", "SKU-5"), Some((6, 0, 0)), "{stock:?}");
    assert_eq!(at("rtm", "SKU-1"), Some((18, 0, 2)), "{stock:?}");
    assert_eq!(at("rtm", "SKU-5"), Some((0, 0, 3)), "{stock:?}");
    let seen = availability(api, Key::Admin, &["SKU-5"]).await;
    assert_eq!(
        (&seen["SKU-5"]["available"], &seen["SKU-5"]["incoming"]),
        (&json!(6), &json!(3)),
        "{seen:?}"
    );
    let received = api
        .warehouse()
        .post(
            &format!("/v1/transfers/{transfer_id}/receive"),
            &json!({"lines": [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-5", "quantity": 3}]}),
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

/// An order's shipments as `warehouse:status`, in shipment order.
fn shipments_of(order: &Value) -> Vec<String> {
    order["shipments"]
        .as_array()
        .expect("shipments")
        .iter()
        .map(|s| format!("{}:{}", str_of(&s["warehouse"]), str_of(&s["status"])))
        .collect()
}

/// The order's shipment from `warehouse`.
fn shipment_at<'a>(order: &'a Value, warehouse: &str) -> &'a Value {
    order["shipments"]
        .as_array()
        .expect("shipments")
        .iter()
        .find(|s| s["warehouse"] == warehouse)
        .unwrap_or_else(|| panic!("no shipment from {warehouse}: {order}"))
}

async fn sku_backorders(api: &Api, sku: &str) -> Value {
    api.warehouse()
        .get(&format!("/v1/skus/{sku}/backorders"))
        .await
        .expect(200, "a sku's backorders")
        .json
}

/// `GET /v1/availability` for `skus` as `key` sees it, by sku.
async fn availability(api: &Api, key: Key, skus: &[&str]) -> BTreeMap<String, Value> {
    let query: Vec<String> = skus.iter().map(|s| format!("sku={s}")).collect();
    let answer = api
        .with(key)
        .get(&format!("/v1/availability?{}", query.join("&")))
        .await
        .expect(200, "availability")
        .json;
    answer["skus"]
        .as_array()
        .expect("skus")
        .iter()
        .map(|s| (str_of(&s["sku"]), s.clone()))
        .collect()
}
