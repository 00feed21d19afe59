//! What the v4 release (commit dd41f7a: stored schema v4 — failed deliveries and their
//! exceptions, shipments going back to origin, return parcels tracked under the return label's
//! number, warehouses' pick-and-pack deadlines; PostgreSQL migrations up to V7) wrote opens and
//! carries on, on both storage backends: a sled data directory (`tests/fixtures/v4-data`) and
//! a PostgreSQL database restored from a plain-SQL dump (`tests/fixtures/v4-postgres.sql`),
//! both made by `tests/fixtures/make-v4-data.sh` with the same scenario (v3's, plus what v4
//! added; the script's header lists it).
//!
//! One check serves both backends, on the warehouses' deadlines the fixture was written with
//! (`DEADLINES`). As stored: every order answers with its status, shipments, history and
//! tracking page, and is listed under its status; every shipment has the plan its allocation
//! recorded; v2's orders and stock records read as upgrade_v2 checks them; and v4's: the
//! failed attempts (`attempts`), each exception with its reason, attempt, answer deadline and
//! answer (the shop's and the customer's reattempts on a date with notes, the shop's return),
//! the shipment `returning` with its reason and the one back at ams (`returned`, received,
//! refunded; PostNL's own codes for its failures), the return parcel scanned under the return
//! label's number, the shipment `pick_pack_late` with its deadline. Then the service's own
//! work, every stored timer firing once: v3's (promises, the payment deadline) and the pending
//! cancellation reaching DHL; exception_overdue's exception timer sends it back (DHL told);
//! the deadline timers record `pick_pack_late` for every shipment still to pack whose deadline
//! passed; every pending notification (delivery failures, returns to origin, `pick_pack_late`
//! to operations, the new ones) arrives signed under its stored id. The open exception is
//! answered by the customer (DHL told; a second answer is 409) — or, once its answer is overdue
//! (30 days after the script ran, the most the config allows), its timer sends it back. Then
//! everything carries on: v1's, v2's and v3's orders as upgrade_v3 walks them; the late
//! shipment packed and delivered; the answered ones delivered by DHL; the shipments going back
//! received at ams by DHL's `returned_to_sender` (the orders `returned`, refunded, the stock
//! back); the return parcel delivered and received; a new order through a failed delivery and
//! a reattempt to delivered; and the stock moves by exactly that.
//!
//! Promises, deadlines and the open exception's answer are of the moment the fixture was
//! written (2026-12-08): the test works out from each stored promise, confirmation and answer
//! deadline what a service started on it now must do, and what (about now) it may.
//!
//! The service runs on a copy (sled) or a fresh database (PostgreSQL); the fixtures are never
//! written.

use crate::support::*;
use crate::upgrade_v2::{self, CONFIRMED};
use crate::upgrade_v3::{
    self, delay_notes, delayed_by_timer, events, first_event, last_event, plans_as_recorded,
    Delays, Upgraded, CARRIER_KEY,
};
use crate::upgrade_walk::*;
use chrono::{DateTime, Duration, Utc};
use orderly_actors::domain::shipping::network::Network;
use orderly_actors::domain::WarehouseId;
use orderly_testkit::carrier::LocalCarrier;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A failed delivery attempt in a history: the carrier's scan and the exception it opens.
const FAILED: &[&str] = &["carrier_scanned", "delivery_failed"];
const ANSWERED: &[&str] = &["exception_answered"];

/// What v4's scenario added to v3's orders (`upgrade_v3::ADDED`), as left.
const ADDED: &[Left] = &[
    (
        "pick_pack_late",
        "confirmed",
        &["ams:allocated"],
        &[CONFIRMED, &["pick_pack_late"]],
    ),
    (
        "exception_open",
        "shipped",
        &["ams:shipped"],
        &[CONFIRMED, PACKING, SENT, FAILED, ANSWERED, FAILED],
    ),
    (
        "reattempt",
        "shipped",
        &["ams:shipped"],
        &[CONFIRMED, PACKING, &["shipped"], FAILED, ANSWERED],
    ),
    (
        "returning",
        "shipped",
        &["ams:returning"],
        &[
            CONFIRMED,
            PACKING,
            &["shipped"],
            FAILED,
            ANSWERED,
            &["returning_to_origin", "carrier_scanned"],
        ],
    ),
    (
        "returned_to_origin",
        "returned",
        &["ams:returned"],
        &[
            CONFIRMED,
            PACKING,
            &["shipped"],
            FAILED,
            ANSWERED,
            FAILED,
            ANSWERED,
            FAILED,
            &[
                "returning_to_origin",
                "carrier_scanned",
                "returned_to_origin",
                "refund_issued",
            ],
        ],
    ),
    (
        "return_parcel",
        "delivered",
        &["ams:delivered"],
        &[
            CONFIRMED,
            PACKING,
            SENT,
            &["delivered", "return_approved", "return_scanned"],
        ],
    ),
    (
        "exception_overdue",
        "shipped",
        &["ams:shipped"],
        &[CONFIRMED, PACKING, &["shipped"], FAILED],
    ),
];

/// The orders whose exception timers may send them back before they are first read (always
/// exception_overdue; exception_open once its answer is overdue): read on their own.
const TIMED: &[&str] = &["exception_open", "exception_overdue"];

/// The orders of the scenario: v2's, v3's and what v4 added.
fn orders() -> Vec<Left> {
    [upgrade_v2::ORDERS, upgrade_v3::ADDED, ADDED].concat()
}

/// Notifications to operations: a shipment late to pack, one going back.
const OPS_PICK_PACK_LATE: &str = "ops:pick_pack_late";
const OPS_RETURNING: &str = "ops:returning_to_origin";

/// The webhook notifications each order had pending (none delivered: the script's receiver
/// was never there); v2's and v3's orders as upgrade_v3 has them.
fn pending_notifications(name: &str) -> &'static [&'static str] {
    match name {
        "pick_pack_late" => &["confirmed", OPS_PICK_PACK_LATE],
        "exception_open" | "reattempt" | "exception_overdue" => {
            &["confirmed", "shipped", "delivery_failed"]
        }
        "returning" => &[
            "confirmed",
            "shipped",
            "delivery_failed",
            "returning_to_origin",
            OPS_RETURNING,
        ],
        "returned_to_origin" => &[
            "confirmed",
            "shipped",
            "delivery_failed",
            "returning_to_origin",
            OPS_RETURNING,
            "refunded",
        ],
        "return_parcel" => &["confirmed", "shipped", "delivered", "return_approved"],
        _ => upgrade_v3::pending_notifications(name),
    }
}

/// The two notifications of a shipment going back: to the customer and to operations.
fn back_notes(order: &str) -> [Note; 2] {
    [
        Note::order(order, "returning_to_origin"),
        Note::order(order, OPS_RETURNING),
    ]
}

const SKUS: &[&str] = &[
    "SKU-1", "SKU-2", "SKU-3", "SKU-4", "SKU-5", "SKU-6", "SKU-7", "SKU-8", "SKU-9", "SKU-10",
    "SKU-11", "SKU-12",
];

/// The stock cells the script left beyond v3's (`upgrade_v3::ADDED_AS_LEFT`): SKU-11 in ams,
/// 10 counted, 5 handed over (exception_open, reattempt, returning, returned_to_origin,
/// exception_overdue), 1 back (returned_to_origin); SKU-12 in ams, 5 counted, 1 handed over
/// (return_parcel), 1 held by pick_pack_late.
const ADDED_AS_LEFT: &[Cell] = &[("ams", "SKU-11", 6, 0, 0), ("ams", "SKU-12", 4, 1, 0)];

/// The same once everything carried on: SKU-11 back from returning and exception_overdue
/// (and exception_open when its timer sent it back), 1 handed over for the new order; SKU-12
/// handed over for pick_pack_late, the return parcel's received.
fn added_carried_on(open_went_back: bool) -> [Cell; 2] {
    let sku11 = 6 + 2 + i64::from(open_went_back) - 1;
    [("ams", "SKU-11", sku11, 0, 0), ("ams", "SKU-12", 4, 0, 0)]
}

/// The node id the PostgreSQL fixture was written by (`make-v4-data.sh`); the test's node has
/// another name, so it takes the dead writer's pending work over.
const FIXTURE_NODE: &str = "v4-fixture-node";

/// The warehouses' deadlines the fixture was written with (`make-v4-data.sh`): every
/// warehouse works 00:00-23:59 on its working days and gives an order one working hour to be
/// packed. The service is started on the same, so that the deadline timers stored with the
/// fixture fall due when the deadlines the service works out when they fire pass.
const DEADLINES: &str = "[warehouses]\nworking_hours = \"00:00-23:59\"\npick_pack_hours = 1\n";

/// How long exception_open had to be answered: 30 days (`answer_within_secs = 2592000`).
const MONTH_SECS: i64 = 2_592_000;

#[actix_rt::test]
async fn a_sled_data_directory_of_the_v4_release_opens_and_serves() {
    let ids = orderly_testkit::fixture::v4_ids();
    let (_work, data) = data_copy(orderly_testkit::fixture::copy_v4_data);
    serves(Some(&data), "", &ids).await;
}

#[actix_rt::test]
async fn a_postgres_database_of_the_v4_release_opens_and_serves() {
    let Some((pg, url, db)) = restored_dump(
        "a_postgres_database_of_the_v4_release_opens_and_serves",
        "v4_fixture",
        &orderly_testkit::fixture::v4_postgres_sql(),
        FIXTURE_NODE,
        "1,2,3,4,5,6,7",
    ) else {
        return;
    };
    let ids = orderly_testkit::fixture::v4_postgres_ids();
    // The writer left its work pending: the cancellation DHL never took, the exception timer
    // that fell due while it was down, the deadline timers of the orders still to pack (the
    // late one's fired).
    let timers = |name: &str, kind: &str| {
        format!(
            "SELECT count(*) FROM timers WHERE order_id = '{}' AND kind = '{kind}'",
            ids[name]
        )
    };
    for (what, query, want) in [
        (
            "the pending cancel_bookings",
            format!(
                "SELECT count(*) FROM outbox WHERE order_id = '{}' AND message_id LIKE '%cancel_bookings%'",
                ids["cancelled_booked"]
            ),
            "1",
        ),
        (
            "exception_overdue's exception timer",
            timers("exception_overdue", "exception_due"),
            "1",
        ),
        (
            "confirmed's deadline timer",
            timers("confirmed", "deadline_due"),
            "1",
        ),
        (
            "split_shipped's deadline timer",
            timers("split_shipped", "deadline_due"),
            "1",
        ),
        (
            "pick_pack_late's deadline timer, fired",
            timers("pick_pack_late", "deadline_due"),
            "0",
        ),
    ] {
        assert_eq!(pg.psql(&db, &query).unwrap().trim(), want, "{what}");
    }
    let node = crate::nodes::postgres_toml(&url, "v4-upgrade-node");
    serves(None, &node, &ids).await;
}

/// The whole check on a service started on the fixture (the data directory `data`, or the
/// database `node_toml` names), with a receiver as its webhook, DHL's local carrier and the
/// fixture's deadlines.
async fn serves(data: Option<&std::path::Path>, node_toml: &str, ids: &BTreeMap<String, String>) {
    let receiver = Receiver::start(0).await;
    let carrier = LocalCarrier::start(CARRIER_KEY, 0, None)
        .await
        .expect("DHL's local carrier");
    let config = format!("{node_toml}{}{DEADLINES}", receiver.config(100));
    // Anything the service records from here on is its own doing, not the fixture's.
    let opened = Utc::now();
    let server = Upgraded::start(data, &config, &carrier).await;
    // The warehouses as the service reads them: when each deadline falls.
    let network = orderly::config::Config::load(&server.0.config_path())
        .and_then(|c| c.shipping_network())
        .expect("the service's config");
    let api = server.api();
    let fx = Fixture {
        api: &api,
        ids,
        skus: SKUS,
        release: "v4",
        scans_on: "2026-12-09",
        new_events: &["delayed", "pick_pack_late"],
        opened,
    };
    opens_and_serves(&fx, &receiver, &carrier, &network).await;
    drop(server);
    carrier.stop().await;
    receiver.stop().await;
}

/// The whole check, on a service started on the fixture with `receiver` as its webhook,
/// `carrier` as DHL and `network` as its warehouses.
async fn opens_and_serves(
    fx: &Fixture<'_>,
    receiver: &Receiver,
    carrier: &LocalCarrier,
    network: &Network,
) {
    let api = fx.api;
    let orders = orders();
    let id = |name: &str| fx.id(name);
    fx.has_orders(orders.iter().map(|o| o.0));

    // Which promises and which pick-and-pack deadlines have passed: those the timers must
    // record, those that have not must not be, and those about now may be.
    let delays = Delays::work_out(fx, &orders).await;
    let lates = Lates::work_out(fx, &orders, network).await;

    // Every order answers with its status, its shipments, its whole history (but for what its
    // timers record from now on) and its tracking page; every shipment has its plan, as
    // recorded. The two whose exception timers may be quicker than this are read below.
    let as_left: Vec<Left> = orders
        .iter()
        .filter(|o| !TIMED.contains(&o.0))
        .copied()
        .collect();
    for (name, o, page) in fx.orders_answer_as_left(&as_left).await {
        plans_as_recorded(name, &o);
        if o["shipments"].as_array().is_some_and(|s| !s.is_empty()) && name != "timed_out" {
            assert_eq!(page["promised"], o["promised"], "{name}'s tracking page");
        }
    }
    upgrade_v2::orders_as_stored(fx).await;
    v4_orders_as_stored(fx, network).await;

    // Listed under their statuses (a shipment going back leaves its order shipped); the
    // shipments still to pick on their warehouses' lists.
    fx.listed_under_statuses(orders.iter().map(|o| (o.0, o.1)))
        .await;
    fx.pick_lists_are(&[
        (
            "ams",
            &[
                "confirmed",
                "cod",
                "split_shipped",
                "weighted",
                "express",
                "pick_pack_late",
            ],
        ),
        ("rtm", &["confirmed_rtm", "partially_picked", "split"]),
    ])
    .await;

    fx.stock_is_as_left(
        &[
            upgrade_v2::STOCK_AS_LEFT,
            upgrade_v3::ADDED_AS_LEFT,
            ADDED_AS_LEFT,
        ]
        .concat(),
    )
    .await;
    upgrade_v2::stock_records_as_left(fx).await;
    stock_records_as_left(fx).await;

    stored_idempotency_replays(api, "fx4-confirmed", &id("confirmed")).await;
    let light = fixture_body("fx4-weighted", "card", "captured", &[("SKU-9", 2)]);
    let mut weighted = light.clone();
    weighted["shipping"]["weight_grams"] = json!(4000);
    Record::placement("fx4-weighted", weighted, light)
        .replays(api, &id("weighted"))
        .await;

    // The service's own work, each timer once: the promise timers due record `delayed`; the
    // deadline timers due record `pick_pack_late`; the timed-out order is cancelled; DHL is
    // told of the cancelled booking; exception_overdue goes back by its exception timer; the
    // open exception is answered, unless its timer was due too.
    delays.are_recorded(api).await;
    delayed_by_timer(&api.order(&id("overdue")).await);
    lates.are_recorded(api).await;
    let timed_out = fx
        .timed_out_is_cancelled(&["placed", "allocated", "cancelled"])
        .await;
    assert_eq!(shipments_of(&timed_out), ["rtm:cancelled"]);
    let shipment_id = format!("{}-1", id("cancelled_booked"));
    wait_until("DHL is told of the cancelled booking", || async {
        let cancelled = carrier.cancelled();
        if cancelled.contains(&shipment_id) {
            Ok(())
        } else {
            Err(format!("cancelled so far: {cancelled:?}"))
        }
    })
    .await;
    goes_back_by_its_timer(fx, carrier, "exception_overdue").await;
    let open_went_back = open_exception_is_answered(fx, carrier).await;

    // The pending notifications reach the receiver, signed, under their stored message ids;
    // what the timers did follows them.
    let mut expected = fx.pending_notes(orders.iter().map(|o| o.0), pending_notifications);
    assert_eq!(expected.len(), 72);
    expected.insert(Note::order(&id("timed_out"), "cancelled"));
    expected.extend(delays.must.iter().flat_map(|o| delay_notes(o)));
    expected.extend(
        lates
            .must
            .keys()
            .map(|o| Note::order(o, OPS_PICK_PACK_LATE)),
    );
    expected.extend(back_notes(&id("exception_overdue")));
    if open_went_back {
        expected.extend(back_notes(&id("exception_open")));
    }
    expected.insert(Note::low_stock("ams", "SKU-9"));
    let mut allowed = expected.clone();
    allowed.extend(delays.may.iter().flat_map(|o| delay_notes(o)));
    allowed.extend(lates.may.keys().map(|o| Note::order(o, OPS_PICK_PACK_LATE)));
    let received = notifications_arrive(api, receiver, &expected, &allowed).await;
    let low = received
        .iter()
        .find(|h| Note::of(h).kind == "stock.low_stock")
        .expect("the low-stock alert")
        .json();
    assert_eq!(
        fields(&low["data"], &["reorder_point", "available", "alert"]),
        json!([22, 21, 1]),
        "{low}"
    );

    // Everything carries on: v1's, v2's and v3's orders as upgrade_v3 walks them, then v4's;
    // a new order goes through a failed delivery; the backorders fill.
    fx.v1_orders_walk_on(&[CONFIRMED, PACKING].concat()).await;
    for name in ["confirmed", "confirmed_rtm"] {
        plans_as_recorded(name, &api.order(&id(name)).await);
    }
    upgrade_v2::orders_walk_on(fx).await;
    upgrade_v3::v3_orders_walk_on(fx, carrier).await;
    v4_orders_walk_on(fx, open_went_back).await;
    a_new_order_through_a_failed_delivery(fx, carrier).await;
    upgrade_v2::backorders_fill(fx).await;
    upgrade_v3::transfers_and_alerts_carry_on(api, receiver, fx).await;

    // Nothing left to pick but the cod order and the two filled backorders; the stock moved
    // by exactly what went out, came back and was counted.
    fx.pick_lists_are(&[
        ("ams", &["cod", "backordered", "backordered_later"]),
        ("rtm", &[]),
    ])
    .await;
    fx.stock_reaches(
        "the stock after the orders carried on",
        &[
            upgrade_v2::STOCK_CARRIED_ON,
            upgrade_v3::ADDED_CARRIED_ON,
            &added_carried_on(open_went_back),
        ]
        .concat(),
    )
    .await;
    // Every timer fired once: no promise broke and no deadline passed while the test ran (but
    // those about now), each shipment went back once; nothing was dead-lettered.
    delays.none_but_recorded(fx, &orders).await;
    lates.none_but_recorded(fx, &orders).await;
    for &(name, ..) in &orders {
        let o = api.order(&id(name)).await;
        let back = usize::from(matches!(name, "returning" | "returned_to_origin"))
            + usize::from(
                name == "exception_overdue" || (name == "exception_open" && open_went_back),
            );
        assert_eq!(count_events(&o, "returning_to_origin"), back, "{name}: {o}");
        assert_history_contiguous(&o);
    }
    nothing_dead_lettered(api).await;
}

/// A time in the API's JSON.
fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&str_of(v))
        .unwrap_or_else(|e| panic!("{v} is not a time: {e}"))
        .with_timezone(&Utc)
}

/// What v4 added, as stored: the late shipment and its deadline; the failed attempts, their
/// exceptions and answers; the shipments going back and back; PostNL's codes for its failures;
/// the return parcel under the return label's number.
async fn v4_orders_as_stored(fx: &Fixture<'_>, network: &Network) {
    let (api, id) = (fx.api, |name: &str| fx.id(name));

    // Not packed an hour of ams's working time after its confirmation: late, once, by its
    // deadline timer.
    let late = api.order(&id("pick_pack_late")).await;
    assert_eq!(
        fields(
            &late["shipments"][0],
            &["status", "pick_pack_late", "attempts", "delayed"]
        ),
        json!(["allocated", true, 0, false]),
        "{late}"
    );
    let recorded = last_event(&late, "pick_pack_late");
    assert_eq!(
        fields(recorded, &["by", "shipment"]),
        json!(["deadline_timer", 1]),
        "{late}"
    );
    let confirmed = time(&first_event(&late, "confirmed")["at"]);
    assert_eq!(
        Some(time(&recorded["due"])),
        network.pick_pack_due(&WarehouseId::from("ams"), confirmed),
        "{late}"
    );
    assert!(time(&recorded["at"]) >= time(&recorded["due"]), "{late}");

    // Failed once, answered by the customer through the tracking token: another attempt on a
    // day, with notes for the driver, passed on to DHL.
    let o = api.order(&id("reattempt")).await;
    let s = &o["shipments"][0];
    assert_eq!(
        fields(
            s,
            &[
                "status",
                "attempts",
                "last_scan",
                "booking/carrier",
                "booking/tracking_number"
            ]
        ),
        json!(["shipped", 1, "failed_attempt", "dhl", id("tn_reattempt")]),
        "{o}"
    );
    let x = &s["exception"];
    assert_eq!(
        fields(
            x,
            &["reason", "attempt", "open", "answer/action", "answer/notes"]
        ),
        json!([
            "customer_not_available",
            1,
            false,
            "reattempt",
            "leave it with the neighbours at 125"
        ]),
        "{o}"
    );
    assert!(x["answer"]["date"].is_string(), "{o}");
    assert!(time(&x["answered_at"]) > time(&x["opened_at"]), "{o}");
    assert_eq!(
        time(&x["answer_by"]) - time(&x["opened_at"]),
        Duration::seconds(MONTH_SECS)
    );
    let answered = last_event(&o, "exception_answered");
    assert_eq!(answered["by"], "customer", "{o}");
    assert_eq!(answered["answer"], x["answer"], "{o}");
    let failed = last_event(&o, "delivery_failed");
    assert_eq!(
        fields(failed, &["by/carrier", "shipment", "reason", "attempt"]),
        json!(["dhl", 1, "customer_not_available", 1]),
        "{o}"
    );
    let page = tracking_page(api, &o).await;
    assert_eq!(page["shipments"][0]["exception"]["open"], false, "{page}");

    // Refused, and sent back by the shop's answer: going back, scanned on the way.
    let o = api.order(&id("returning")).await;
    let s = &o["shipments"][0];
    assert_eq!(
        fields(
            s,
            &[
                "status",
                "attempts",
                "last_scan",
                "exception/reason",
                "exception/open",
                "exception/answer"
            ]
        ),
        json!([
            "returning",
            1,
            "in_transit",
            "refused",
            false,
            {"action": "return_to_origin"}
        ]),
        "{o}"
    );
    assert_eq!(
        s["return_to_origin"]["reason"], "return to origin asked for after a failed delivery",
        "{o}"
    );
    assert!(s["return_to_origin"].get("received_at").is_none(), "{o}");
    assert_eq!(
        fields(last_event(&o, "returning_to_origin"), &["by", "shipment"]),
        json!(["storefront", 1]),
        "{o}"
    );
    assert!(o["refunded"].is_null(), "{o}");

    // PostNL failed three times by its own code (A96), answered twice, the third sending it
    // back by itself; back at ams (K01): received, refunded.
    let o = api.order(&id("returned_to_origin")).await;
    let s = &o["shipments"][0];
    assert_eq!(
        fields(
            s,
            &[
                "status",
                "attempts",
                "booking/carrier",
                "exception/reason",
                "exception/attempt",
                "exception/open",
                "return_to_origin/reason"
            ]
        ),
        json!([
            "returned",
            3,
            "postnl",
            "other",
            3,
            false,
            "3 failed delivery attempts"
        ]),
        "{o}"
    );
    assert!(time(&s["return_to_origin"]["received_at"]) >= time(&s["return_to_origin"]["at"]));
    assert_eq!(
        o["refunded"],
        json!({"amount": 1999, "currency": "EUR"}),
        "{o}"
    );
    let scans: Vec<Value> = events(&o, "carrier_scanned")
        .into_iter()
        .map(|e| fields(e, &["code", "kind"]))
        .collect();
    assert_eq!(
        scans,
        [
            json!(["A96", "failed_attempt"]),
            json!(["A96", "failed_attempt"]),
            json!(["A96", "failed_attempt"]),
            json!(["K01", "returned_to_sender"])
        ],
        "{o}"
    );
    let by: Vec<&Value> = events(&o, "exception_answered")
        .into_iter()
        .map(|e| &e["by"])
        .collect();
    assert_eq!(by, [&json!("storefront"), &json!("customer")], "{o}");
    assert_eq!(
        fields(
            last_event(&o, "returned_to_origin"),
            &["warehouse", "lines"]
        ),
        json!(["ams", [{"sku": "SKU-11", "quantity": 1}]]),
        "{o}"
    );

    // Delivered, a return approved, its parcel scanned under the return label's number.
    let o = api.order(&id("return_parcel")).await;
    let case = &o["return_case"];
    assert_eq!(
        fields(case, &["tracking_number", "reason", "parcel"]),
        json!([
            id("tn_return_parcel_return"),
            "wrong colour",
            {"status": "in_transit", "carrier": "postnl", "last_scan": "in_transit",
             "last_scan_at": "2026-11-24T15:00:00Z", "last_location": "Utrecht hub"}
        ]),
        "{o}"
    );
    assert_eq!(
        fields(
            last_event(&o, "return_scanned"),
            &["carrier", "kind", "event_id"]
        ),
        json!(["postnl", "in_transit", "fx4-ev-22"]),
        "{o}"
    );
    assert_eq!(o["shipments"][0]["last_scan"], "delivered", "{o}");
    let page = tracking_page(api, &o).await;
    assert_eq!(page["return_parcel"], "in_transit", "{page}");

    // The two exceptions left open: what was stored of them (their timers may have closed
    // them since; see below).
    let o = api.order(&id("exception_open")).await;
    let s = &o["shipments"][0];
    assert_eq!(
        fields(
            s,
            &[
                "attempts",
                "booking/tracking_number",
                "exception/reason",
                "exception/attempt"
            ]
        ),
        json!([2, id("tn_exception_open"), "address_problem", 2]),
        "{o}"
    );
    assert_eq!(
        time(&s["exception"]["answer_by"]) - time(&s["exception"]["opened_at"]),
        Duration::seconds(MONTH_SECS)
    );
    let first = first_event(&o, "exception_answered");
    assert_eq!(
        fields(first, &["by", "answer/action", "answer/notes"]),
        json!(["storefront", "reattempt", "ring twice, the bell is broken"]),
        "{o}"
    );
    let reasons: Vec<Value> = events(&o, "delivery_failed")
        .into_iter()
        .map(|e| fields(e, &["reason", "attempt"]))
        .collect();
    assert_eq!(
        reasons,
        [
            json!(["customer_not_available", 1]),
            json!(["address_problem", 2])
        ],
        "{o}"
    );
    let o = api.order(&id("exception_overdue")).await;
    let x = &o["shipments"][0]["exception"];
    assert_eq!(
        fields(x, &["reason", "attempt"]),
        json!(["customer_not_available", 1]),
        "{o}"
    );
    assert_eq!(
        time(&x["answer_by"]) - time(&x["opened_at"]),
        Duration::seconds(5)
    );
}

/// The ams -> rtm transfer under way (1 of 3 received) and the one called off, as the script
/// left them, and the first's idempotency record; the reorder point on ams/SKU-9, crossed once.
async fn stock_records_as_left(fx: &Fixture<'_>) {
    let api = fx.api;
    for (name, want) in [
        ("transfer_open", json!(["ams", "rtm", "dispatched"])),
        ("transfer_cancelled", json!(["rtm", "ams", "cancelled"])),
    ] {
        let t = api
            .admin()
            .get(&format!("/v1/transfers/{}", fx.id(name)))
            .await
            .expect(200, "a transfer")
            .json;
        assert_eq!(fields(&t, &["from", "to", "status"]), want, "{name}: {t}");
        if name == "transfer_open" {
            assert_eq!(
                t["lines"],
                json!([{"sku": "SKU-9", "quantity": 3, "received": 1, "in_transit": 2}]),
                "{t}"
            );
        }
    }
    let body = |quantity: u32| json!({"from": "ams", "to": "rtm", "lines": [{"sku": "SKU-9", "quantity": quantity}]});
    Record {
        who: Key::Admin,
        path: "/v1/transfers",
        key: "fx4-transfer-open",
        status: 200,
        body: body(3),
        other: body(1),
    }
    .replays(api, &fx.id("transfer_open"))
    .await;
    let point = api
        .warehouse()
        .get("/v1/inventory/ams/SKU-9/reorder-point")
        .await
        .expect(200, "the reorder point")
        .json;
    assert_eq!(
        point,
        json!({"warehouse": "ams", "sku": "SKU-9", "reorder_point": 22, "low": true, "alerts_sent": 1, "available": 20})
    );
}

/// The instruction DHL got for the order's shipment 1 to `action`, once it has it.
async fn told(carrier: &LocalCarrier, order: &str, action: &str) -> Value {
    let shipment = format!("{order}-1");
    wait_until(&format!("DHL is told to {action} {shipment}"), || {
        let shipment = &shipment;
        async move {
            let told = carrier.instructions();
            told.iter()
                .find(|(s, body)| s == shipment && body["action"] == action)
                .map(|(_, body)| body.clone())
                .ok_or_else(|| format!("told so far: {told:?}"))
        }
    })
    .await
}

/// The order's shipment 1, whose exception was left unanswered past its `answer_by`, goes back
/// by its exception timer (once): `returning`, the order still shipped, DHL told to bring it
/// back, and no answer taken any more.
async fn goes_back_by_its_timer(fx: &Fixture<'_>, carrier: &LocalCarrier, name: &str) {
    let (api, order) = (fx.api, fx.id(name));
    let o = wait_until(&format!("{name} goes back by its timer"), || async {
        let o = api.order(&order).await;
        if o["shipments"][0]["status"] == "returning" {
            Ok(o)
        } else {
            Err(format!("{}", o["shipments"][0]))
        }
    })
    .await;
    assert_eq!(o["status"], "shipped", "still with the carrier: {o}");
    let s = &o["shipments"][0];
    assert_eq!(s["exception"]["open"], false, "{o}");
    assert!(
        str_of(&s["return_to_origin"]["reason"]).starts_with("no answer"),
        "{o}"
    );
    assert!(time(&s["exception"]["answer_by"]) <= time(&s["return_to_origin"]["at"]));
    assert_eq!(
        fields(last_event(&o, "returning_to_origin"), &["by", "shipment"]),
        json!(["exception_timer", 1]),
        "{o}"
    );
    let back = told(carrier, &order, "return_to_origin").await;
    assert_eq!(
        back["tracking_number"],
        fx.id(&format!("tn_{name}")).as_str(),
        "{back}"
    );
    let late = api
        .storefront()
        .post(
            &format!("/v1/orders/{order}/shipments/1/exception"),
            &json!({"action": "reattempt"}),
        )
        .await
        .problem(409, "an answer after the deadline");
    assert_eq!(late["type"], "/problems/no_open_exception", "{late}");
}

/// exception_open, stored waiting for an answer until 30 days after the script ran: the
/// customer answers it through the tracking token with a reattempt (DHL told; a second answer
/// is 409). Past its deadline (the timer fired at start, or fires now), it goes back by its
/// timer instead. Returns whether it went back.
async fn open_exception_is_answered(fx: &Fixture<'_>, carrier: &LocalCarrier) -> bool {
    let (api, order) = (fx.api, fx.id("exception_open"));
    let o = api.order(&order).await;
    if time(&o["shipments"][0]["exception"]["answer_by"]) > fx.opened {
        let token = str_of(&o["tracking_token"]);
        let day = (Utc::now() + Duration::days(2)).date_naive().to_string();
        let answer = json!({"action": "reattempt", "date": day, "notes": "the new address is 125"});
        let answered = api
            .anon()
            .post(&format!("/v1/track/{token}/shipments/1/exception"), &answer)
            .await;
        if answered.status == 200 {
            let t = answered.json;
            assert_eq!(t["shipments"][0]["exception"]["open"], false, "{t}");
            assert!(t.get("customer").is_none(), "no personal data: {t}");
            let reattempt = told(carrier, &order, "reattempt").await;
            assert_eq!(
                fields(&reattempt, &["tracking_number", "date", "notes"]),
                json!([id_tn(fx, "exception_open"), day, "the new address is 125"]),
                "{reattempt}"
            );
            let again = api
                .storefront()
                .post(
                    &format!("/v1/orders/{order}/shipments/1/exception"),
                    &json!({"action": "return_to_origin"}),
                )
                .await
                .problem(409, "a second answer");
            assert_eq!(again["type"], "/problems/no_open_exception", "{again}");
            let o = api.order(&order).await;
            let s = &o["shipments"][0];
            assert_eq!(
                fields(
                    s,
                    &[
                        "status",
                        "attempts",
                        "exception/attempt",
                        "exception/answer"
                    ]
                ),
                json!(["shipped", 2, 2, answer]),
                "{o}"
            );
            let by: Vec<&Value> = events(&o, "exception_answered")
                .into_iter()
                .map(|e| &e["by"])
                .collect();
            assert_eq!(by, [&json!("storefront"), &json!("customer")], "{o}");
            return false;
        }
        // Its deadline passed between the two reads: the timer was quicker.
        assert_eq!(answered.status, 409, "{}", answered.text());
    }
    goes_back_by_its_timer(fx, carrier, "exception_open").await;
    true
}

fn id_tn(fx: &Fixture<'_>, name: &str) -> String {
    fx.id(&format!("tn_{name}"))
}

/// The carrier's (`dhl` or `postnl`) scan `kind` of the tracking number `tn` as the walk's
/// `n`th event, in the evening of the walk's day: its acknowledgement.
async fn scan(fx: &Fixture<'_>, carrier: &str, tn: &str, n: u32, kind: &str) -> Value {
    let call = match carrier {
        "dhl" => fx.api.dhl(),
        _ => fx.api.postnl(),
    };
    call.post(
        &format!("/v1/carriers/{carrier}/events"),
        &json!({"event_id": fx.scan_event(n), "tracking_number": tn, "type": kind,
                "occurred_at": fx.scan_time(20), "location": "Amsterdam"}),
    )
    .await
    .expect(200, &format!("{carrier}'s event"))
    .json
}

/// v4's orders carry on: the late one is picked, packed, handed over and delivered (still
/// late); the answered ones are delivered on their reattempts by DHL; the ones going back are
/// received at ams by DHL's `returned_to_sender` (returned, refunded); the return parcel is
/// delivered to ams and received, the order returned and refunded.
async fn v4_orders_walk_on(fx: &Fixture<'_>, open_went_back: bool) {
    let (api, id) = (fx.api, |name: &str| fx.id(name));
    let order = id("pick_pack_late");
    api.pick_all(&order, "ams").await;
    let packed = api.pack(&order, "ams").await;
    let tn = str_of(&packed["shipments"][0]["booking"]["tracking_number"]);
    assert_eq!(api.handover(&order).await["status"], "shipped");
    let ack = scan(fx, "postnl", &tn, 14, "delivered").await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");
    let o = api.order(&order).await;
    assert_eq!(o["shipments"][0]["pick_pack_late"], true, "{o}");
    assert_eq!(count_events(&o, "pick_pack_late"), 1, "{o}");

    let (mut delivered, mut back) = (vec!["reattempt"], vec!["returning", "exception_overdue"]);
    if open_went_back {
        back.push("exception_open");
    } else {
        delivered.push("exception_open");
    }
    let mut n = 15;
    for name in delivered {
        let ack = scan(fx, "dhl", &id_tn(fx, name), n, "delivered").await;
        assert_eq!(ack["order_status"], "delivered", "{name}: {ack}");
        n += 1;
    }
    for name in back {
        let ack = scan(fx, "dhl", &id_tn(fx, name), n, "returned_to_sender").await;
        assert_eq!(ack["order_status"], "returned", "{name}: {ack}");
        n += 1;
        let o = api.order(&id(name)).await;
        let s = &o["shipments"][0];
        assert_eq!(s["status"], "returned", "{name}: {o}");
        assert!(
            s["return_to_origin"]["received_at"].is_string(),
            "{name}: {o}"
        );
        assert_eq!(
            o["refunded"],
            json!({"amount": 1999, "currency": "EUR"}),
            "{name}: {o}"
        );
        assert_eq!(
            fields(
                last_event(&o, "returned_to_origin"),
                &["warehouse", "lines"]
            ),
            json!(["ams", [{"sku": "SKU-11", "quantity": 1}]]),
            "{name}: {o}"
        );
    }

    // The return parcel, delivered to ams, is received there.
    let order = id("return_parcel");
    let ack = scan(fx, "postnl", &id("tn_return_parcel_return"), n, "delivered").await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");
    let o = api.order(&order).await;
    assert_eq!(o["return_case"]["parcel"]["status"], "delivered", "{o}");
    assert_eq!(o["shipments"][0]["status"], "delivered", "{o}");
    let received = api
        .warehouse()
        .post(
            &format!("/v1/orders/{order}/returns/receive"),
            &json!({"warehouse": "ams", "lines": [{"sku": "SKU-12", "quantity": 1}]}),
        )
        .await
        .expect(200, "receive the return parcel")
        .json;
    assert_eq!(received["status"], "returned", "{received}");
    assert_eq!(
        received["refunded"],
        json!({"amount": 1999, "currency": "EUR"}),
        "{received}"
    );
}

/// A new order on the upgraded data: booked with DHL over HTTP (the local carrier), a failed
/// delivery opens an exception (due by the config's `answer_within_secs`), the shop answers
/// with a reattempt (DHL told), and DHL delivers it.
async fn a_new_order_through_a_failed_delivery(fx: &Fixture<'_>, carrier: &LocalCarrier) {
    let api = fx.api;
    let key = "v4-upgrade-new-order";
    let placed = api
        .place(
            key,
            &fixture_body(key, "card", "captured", &[("SKU-11", 1)]),
        )
        .await;
    let order = str_of(&placed["id"]);
    api.wait_status(&order, "confirmed").await;
    api.pick_all(&order, "ams").await;
    let packed = api
        .warehouse()
        .post(
            &format!("/v1/orders/{order}/pack"),
            &json!({"warehouse": "ams", "parcels": [{"weight_grams": 3000}]}),
        )
        .await
        .expect(200, "pack the new order")
        .json;
    let booking = &packed["shipments"][0]["booking"];
    assert_eq!(booking["carrier"], "dhl", "{packed}");
    let tn = str_of(&booking["tracking_number"]);
    assert!(tn.starts_with("LC"), "the local carrier's number: {tn}");
    assert_eq!(api.handover(&order).await["status"], "shipped");
    let before = Utc::now();
    let ack = fx
        .api
        .dhl()
        .post(
            "/v1/carriers/dhl/events",
            &json!({"event_id": fx.scan_event(30), "tracking_number": tn, "type": "failed_attempt",
                    "reason": "address_problem", "occurred_at": fx.scan_time(10)}),
        )
        .await
        .expect(200, "DHL's failed attempt")
        .json;
    assert_eq!(ack["order_status"], "shipped", "{ack}");
    let o = api.order(&order).await;
    let x = &o["shipments"][0]["exception"];
    assert_eq!(
        fields(x, &["reason", "attempt", "open"]),
        json!(["address_problem", 1, true]),
        "{o}"
    );
    // config.toml's [delivery_exceptions]: 48 hours to answer.
    let by = time(&x["answer_by"]);
    assert!(
        by >= before + Duration::hours(48) && by <= Utc::now() + Duration::hours(48),
        "{o}"
    );
    let day = (Utc::now() + Duration::days(1)).date_naive().to_string();
    api.storefront()
        .post(
            &format!("/v1/orders/{order}/shipments/1/exception"),
            &json!({"action": "reattempt", "date": day}),
        )
        .await
        .expect(200, "the shop's answer");
    let reattempt = told(carrier, &order, "reattempt").await;
    assert_eq!(
        fields(&reattempt, &["tracking_number", "date"]),
        json!([tn, day]),
        "{reattempt}"
    );
    let ack = scan(fx, "dhl", &tn, 31, "delivered").await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");
    let o = api.order(&order).await;
    assert_eq!(o["shipments"][0]["attempts"], 1, "{o}");
    assert_history_contiguous(&o);
}

/// Which shipments still to pack had their warehouse's pick-and-pack deadline pass, worked out
/// when the service started on the fixture from each order's confirmation and the service's
/// own warehouses: per order id, how many shipments its deadline timer must record
/// `pick_pack_late` for, and how many (their deadlines about now) it may.
struct Lates {
    must: BTreeMap<String, usize>,
    may: BTreeMap<String, usize>,
    /// The `pick_pack_late` events each order had as stored.
    stored: BTreeMap<String, usize>,
}

impl Lates {
    /// How far around now a deadline passing is left undecided.
    const MARGIN_MINUTES: i64 = 10;

    async fn work_out(fx: &Fixture<'_>, orders: &[Left], network: &Network) -> Lates {
        let now = Utc::now();
        let margin = Duration::minutes(Self::MARGIN_MINUTES);
        let (mut must, mut may, mut stored) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        for &(name, _, _, types) in orders {
            let id = fx.id(name);
            let was = types
                .concat()
                .iter()
                .filter(|t| **t == "pick_pack_late")
                .count();
            stored.insert(id.clone(), was);
            if was > 0 {
                continue; // the scenario's late one: its one shipment
            }
            let o = fx.api.order(&id).await;
            let Some(confirmed) = events(&o, "confirmed").first().map(|e| time(&e["at"])) else {
                continue; // never confirmed: no deadline
            };
            for s in o["shipments"].as_array().expect("shipments") {
                if s["status"] != "allocated" {
                    continue;
                }
                let warehouse = WarehouseId::from(str_of(&s["warehouse"]));
                let Some(due) = network.pick_pack_due(&warehouse, confirmed) else {
                    continue;
                };
                if due <= now - margin {
                    *must.entry(id.clone()).or_insert(0) += 1;
                } else if due <= now + margin {
                    *may.entry(id.clone()).or_insert(0) += 1;
                }
            }
        }
        Lates { must, may, stored }
    }

    /// The orders whose deadlines passed get `pick_pack_late` recorded by their deadline
    /// timers, once per shipment still to pack.
    async fn are_recorded(&self, api: &Api) {
        for (order, &late) in &self.must {
            let want = self.stored[order] + late;
            let o = wait_until(&format!("{order}'s late shipments recorded"), || async {
                let o = api.order(order).await;
                if count_events(&o, "pick_pack_late") >= want {
                    Ok(o)
                } else {
                    Err(format!("{:?}", history_types(&o)))
                }
            })
            .await;
            for e in events(&o, "pick_pack_late") {
                assert_eq!(e["by"], "deadline_timer", "{o}");
            }
            let flagged = o["shipments"]
                .as_array()
                .expect("shipments")
                .iter()
                .filter(|s| s["pick_pack_late"] == true)
                .count();
            assert_eq!(flagged, late, "{o}");
        }
    }

    /// No order has a `pick_pack_late` but those stored and worked out (and, for deadlines
    /// about now, perhaps one).
    async fn none_but_recorded(&self, fx: &Fixture<'_>, orders: &[Left]) {
        for &(name, ..) in orders {
            let id = fx.id(name);
            let o = fx.api.order(&id).await;
            let n = count_events(&o, "pick_pack_late");
            let least = self.stored[&id] + self.must.get(&id).copied().unwrap_or(0);
            let most = least + self.may.get(&id).copied().unwrap_or(0);
            assert!(
                (least..=most).contains(&n),
                "{name}'s pick_pack_late: {n}, not {least}..={most}: {o}"
            );
        }
    }
}
