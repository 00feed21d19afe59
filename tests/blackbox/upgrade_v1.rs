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
use crate::upgrade_walk::*;
use std::collections::{BTreeMap, BTreeSet};

/// The orders of the scenario: name, the status it was left in, the warehouse it is reserved in
/// and its history's event types (in runs, as `Left`'s). `timed_out` was left placed; its timer
/// may cancel it before the first read.
const ORDERS: &[(&str, &str, &str, History)] = &[
    ("placed", "placed", "ams", &[RESERVED]),
    ("timed_out", "placed", "rtm", &[RESERVED]),
    ("confirmed", "confirmed", "ams", &[CONFIRMED]),
    ("cod", "confirmed", "ams", &[CONFIRMED]),
    ("confirmed_rtm", "confirmed", "rtm", &[CONFIRMED]),
    (
        "partially_picked",
        "confirmed",
        "rtm",
        &[CONFIRMED, &["picks_acknowledged"]],
    ),
    ("packed", "packed", "ams", &[CONFIRMED, PACKING]),
    (
        "shipped",
        "shipped",
        "rtm",
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
        "ams",
        &[CONFIRMED, PACKING, SENT, &["delivered"]],
    ),
    (
        "cancelled",
        "cancelled",
        "ams",
        &[CONFIRMED, &["cancelled", "refund_issued"]],
    ),
    (
        "return_approved",
        "delivered",
        "ams",
        &[CONFIRMED, PACKING, SENT, &["delivered", "return_approved"]],
    ),
    (
        "returned",
        "returned",
        "rtm",
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
];

/// The histories' first events: placed, the stock reserved (v1's answer), confirmed.
const RESERVED: &[&str] = &["placed", "stock_reserved"];
const CONFIRMED: &[&str] = &["placed", "stock_reserved", "confirmed"];

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

/// (warehouse, sku, on hand, reserved, incoming) as the script left them. SKU-3 and SKU-4
/// are only in `rtm`; SKU-4 is held by the timed-out order alone (its release is checked on its own).
const STOCK_AS_LEFT: &[Cell] = &[
    ("ams", "SKU-1", 95, 5, 0),
    ("ams", "SKU-2", 48, 4, 0),
    ("rtm", "SKU-1", 19, 1, 0),
    ("rtm", "SKU-2", 10, 1, 0),
    ("rtm", "SKU-3", 29, 4, 0),
    ("rtm", "SKU-4", 5, 1, 0),
];

/// The same after the timed-out order's release, three hand-overs from `ams` (confirmed: 2 +
/// 1, packed: 1 + 1) and one received return (1 SKU-1), three from `rtm` (confirmed_rtm: 2
/// SKU-3 + 1 SKU-1, partially_picked: 2 SKU-3 + 1 SKU-2).
const STOCK_AFTER: &[Cell] = &[
    ("ams", "SKU-1", 93, 2, 0),
    ("ams", "SKU-2", 46, 2, 0),
    ("rtm", "SKU-1", 18, 0, 0),
    ("rtm", "SKU-2", 9, 0, 0),
    ("rtm", "SKU-3", 25, 0, 0),
    ("rtm", "SKU-4", 5, 0, 0),
];

/// The node id the PostgreSQL fixture was written by (`make-v1-data.sh`); the test's node has
/// another name, so it takes the dead writer's pending work over.
const FIXTURE_NODE: &str = "v1-fixture-node";

#[actix_rt::test]
async fn a_sled_data_directory_of_the_v1_release_opens_and_serves() {
    let ids = orderly_testkit::fixture::v1_ids();
    let (_work, data) = data_copy(orderly_testkit::fixture::copy_v1_data);
    let receiver = Receiver::start(0).await;
    let server = Server::start_on(&data, &receiver.config(100)).await;
    opens_and_serves(&server.api(), &receiver, &ids).await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_postgres_database_of_the_v1_release_opens_and_serves() {
    let Some((_, url, _)) = restored_dump(
        "a_postgres_database_of_the_v1_release_opens_and_serves",
        "v1_fixture",
        &orderly_testkit::fixture::v1_postgres_sql(),
        FIXTURE_NODE,
        "1,2,3",
    ) else {
        return;
    };
    let ids = orderly_testkit::fixture::v1_postgres_ids();
    let receiver = Receiver::start(0).await;
    let node = crate::nodes::postgres_toml(&url, "v1-upgrade-node");
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
        release: "v1",
        scans_on: "2026-11-25",
        new_events: &[],
        opened: chrono::Utc::now(),
    };
    let id = |name: &str| fx.id(name);
    fx.has_orders(ORDERS.iter().map(|o| o.0));

    // Every order answers with its status, its whole history and its tracking page.
    for &(name, status, _, types) in ORDERS {
        let types = types.concat();
        let o = api.order(&id(name)).await;
        assert_history_contiguous(&o);
        if name == "timed_out" && o["status"] == "cancelled" {
            continue; // its timer was quicker than this read
        }
        assert_eq!(o["status"], status, "{name}: {o}");
        assert_eq!(history_types(&o), types, "{name}: {o}");
        tracking_page(api, &o).await;
    }
    let approved = api.order(&id("return_approved")).await;
    assert!(approved["return_label_url"].is_string(), "{approved}");

    // Listed under their statuses, and the confirmed ones on their warehouse's pick list.
    fx.listed_under_statuses(ORDERS.iter().map(|o| (o.0, o.1)))
        .await;
    for warehouse in ["ams", "rtm"] {
        let want: BTreeSet<String> = ORDERS
            .iter()
            .filter(|o| o.1 == "confirmed" && o.2 == warehouse)
            .map(|o| id(o.0))
            .collect();
        assert_eq!(pick_list(api, warehouse).await, want, "{warehouse}'s picks");
    }

    fx.stock_is_as_left(STOCK_AS_LEFT).await;
    stored_idempotency_replays(api, "fx1-confirmed", &id("confirmed")).await;
    fx.timed_out_is_cancelled(&["placed", "stock_reserved", "cancelled"])
        .await;

    // The pending notifications reach the receiver, signed, under their stored message ids;
    // the timed-out order's cancellation follows them.
    let mut expected = fx.pending_notes(ORDERS.iter().map(|o| o.0), pending_notifications);
    assert_eq!(expected.len(), 23);
    expected.insert(Note::order(&id("timed_out"), "cancelled"));
    notifications_arrive(api, receiver, &expected, &expected).await;

    fx.v1_orders_walk_on(&[CONFIRMED, PACKING].concat()).await;

    // Nothing left to pick but the cod order; the stock moved by exactly what went out and
    // came back.
    fx.pick_lists_are(&[("ams", &["cod"]), ("rtm", &[])]).await;
    fx.stock_reaches("the stock after the hand-overs and the return", STOCK_AFTER)
        .await;
}
