//! What the v3 release (commit 04e2285: stored schema v3 — delivery promises, carrier rules and
//! prices, HTTP carriers, carriers' own tracking codes, `delayed`; PostgreSQL migrations up to
//! V7) wrote opens and carries on, on both storage backends: a sled data directory
//! (`tests/fixtures/v3-data`) and a PostgreSQL database restored from a plain-SQL dump
//! (`tests/fixtures/v3-postgres.sql`), both made by `tests/fixtures/make-v3-data.sh` with the
//! same scenario (v2's, plus what v3 added; the script's header lists it).
//!
//! One check serves both backends. As stored: every order answers with its status, shipments,
//! history and tracking page, and is listed under its status; every allocated shipment has the
//! plan its allocation recorded (carrier, service, price, rule, window), revised only by its
//! booking or a carrier's date; the cart's weight chose DHL, the express method PostNL's
//! evening service, cash on delivery PostNL by its rule; bookings keep their price, rule and
//! promise, the HTTP carrier's its tracking number, label URL and date; PostNL's scans keep
//! their own codes (J01 as in_transit, Z42 as unknown) and the date that revised the promise;
//! the late shipment is `delayed`; the stock (incoming units included), the skus' backorder
//! records, the reorder point and its alert, the transfers and the idempotency records (orders
//! and transfers) read as left. Then the service's own work: the overdue shipment's promise
//! timer, due while the service was down, records `delayed`; the unpaid order's payment timer
//! cancels it; the pending `cancel_bookings` reaches DHL (a local carrier: `DELETE
//! /shipments/{order}-1`); every pending notification (customers', operations' `delayed`, the
//! `low_stock` alert) arrives signed under its stored id. Then everything carries on: v2's
//! orders as upgrade_v2 walks them; the weighted order is packed and booked with DHL over HTTP
//! on its plan's price, the express one on PostNL's evening service; the HTTP-booked one is
//! handed over and delivered by DHL's scan of the stored tracking number; the one in transit
//! is delivered by PostNL's codes; the backordered orders confirm with plans of their own; the
//! open transfer is received in full; the waiting subscription is told when SKU-10 arrives;
//! and the stock moves by exactly what those steps take and give back.
//!
//! The promises are those of the day the fixture was written (2026-12-07): a service started
//! on it later records `delayed` for every open shipment whose promise has passed by then. The
//! test works out from each stored promise which must be recorded, which must not, and (within
//! minutes of a promise breaking) which may be, and checks the history without those events.
//!
//! The service runs on a copy (sled) or a fresh database (PostgreSQL); the fixtures are never
//! written.

use crate::support::*;
use crate::upgrade_walk::*;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use orderly_testkit::carrier::LocalCarrier;
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
    // What v3 added.
    ("weighted", "confirmed", &["ams:allocated"], CONFIRMED),
    ("express", "confirmed", &["ams:allocated"], CONFIRMED),
    ("booked_http", "packed", &["ams:packed"], PACKED),
    (
        "in_transit",
        "shipped",
        &["ams:shipped"],
        &[
            "placed",
            "allocated",
            "confirmed",
            "picks_acknowledged",
            "packed",
            "shipment_booked",
            "shipped",
            "carrier_scanned",
            "carrier_scanned",
        ],
    ),
    (
        "late",
        "shipped",
        &["ams:shipped"],
        &[
            "placed",
            "allocated",
            "confirmed",
            "picks_acknowledged",
            "packed",
            "shipment_booked",
            "shipped",
            "carrier_scanned",
            "delayed",
        ],
    ),
    (
        "cancelled_booked",
        "cancelled",
        &["ams:cancelled"],
        &[
            "placed",
            "allocated",
            "confirmed",
            "picks_acknowledged",
            "packed",
            "shipment_booked",
            "cancelled",
            "refund_issued",
        ],
    ),
    (
        "overdue",
        "shipped",
        &["ams:shipped"],
        &[
            "placed",
            "allocated",
            "confirmed",
            "picks_acknowledged",
            "packed",
            "shipment_booked",
            "shipped",
            "carrier_scanned",
        ],
    ),
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
/// through, none delivered (the script's receiver was never there). `delayed` goes to the
/// customer and to operations (`OPS`).
fn pending_notifications(name: &str) -> &'static [&'static str] {
    match name {
        "confirmed" | "cod" | "confirmed_rtm" | "partially_picked" | "packed" | "split"
        | "weighted" | "express" | "booked_http" => &["confirmed"],
        "shipped" => &["confirmed", "shipped", "out_for_delivery"],
        "delivered" => &["confirmed", "shipped", "delivered"],
        "cancelled" | "cancelled_booked" => &["confirmed", "cancelled", "refunded"],
        "return_approved" => &["confirmed", "shipped", "delivered", "return_approved"],
        "returned" => &[
            "confirmed",
            "shipped",
            "delivered",
            "return_approved",
            "refunded",
        ],
        "split_shipped" | "in_transit" | "overdue" => &["confirmed", "shipped"],
        "split_part_cancelled" => &["confirmed", "shipped", "cancelled", "refunded"],
        "late" => &["confirmed", "shipped", "delayed", OPS_DELAYED],
        "backordered" | "backordered_later" => &["backordered"],
        _ => &[],
    }
}

/// A `delayed` notification to operations (the shop's webhook, under an
/// `operations.webhook` message id).
const OPS_DELAYED: &str = "ops:delayed";

const SKUS: &[&str] = &[
    "SKU-1", "SKU-2", "SKU-3", "SKU-4", "SKU-5", "SKU-6", "SKU-7", "SKU-8", "SKU-9", "SKU-10",
];

/// (warehouse, sku) → (on hand, reserved, incoming) as the script left them: v2's stock (the
/// cancelled transfer put its 2 SKU-1 back at rtm), and SKU-9 in ams, 30 counted: 3 sent to
/// rtm (1 received there, 2 incoming), 3 handed over (in_transit, late, overdue), 4 held by
/// weighted (2), express and booked_http. SKU-4 is held by the timed-out order alone (its
/// release is checked on its own); SKU-8 and SKU-10 are in no warehouse.
const STOCK_AS_LEFT: &[(&str, &str, i64, i64, i64)] = &[
    ("ams", "SKU-1", 95, 5, 0),
    ("ams", "SKU-2", 48, 4, 0),
    ("ams", "SKU-5", 10, 1, 0),
    ("ams", "SKU-6", 2, 2, 0),
    ("ams", "SKU-7", 1, 1, 0),
    ("ams", "SKU-9", 24, 4, 0),
    ("rtm", "SKU-1", 19, 1, 0),
    ("rtm", "SKU-2", 10, 1, 0),
    ("rtm", "SKU-3", 26, 5, 0),
    ("rtm", "SKU-4", 5, 1, 0),
    ("rtm", "SKU-6", 0, 0, 0),
    ("rtm", "SKU-9", 1, 0, 2),
];

/// The same once everything carried on: v2's moves (the timed-out order's release; from ams
/// the hand-overs of confirmed, packed, split and split_shipped, the received return, SKU-7
/// counted to 4 and held by the two backordered orders; from rtm those of confirmed_rtm,
/// partially_picked and split), weighted, express and booked_http handed over (4 SKU-9 from
/// ams), the open transfer's last 2 SKU-9 received at rtm, and SKU-10 counted in at ams.
const STOCK_CARRIED_ON: &[(&str, &str, i64, i64, i64)] = &[
    ("ams", "SKU-1", 93, 2, 0),
    ("ams", "SKU-2", 46, 2, 0),
    ("ams", "SKU-5", 9, 0, 0),
    ("ams", "SKU-6", 0, 0, 0),
    ("ams", "SKU-7", 4, 4, 0),
    ("ams", "SKU-9", 20, 0, 0),
    ("ams", "SKU-10", 2, 0, 0),
    ("rtm", "SKU-1", 18, 0, 0),
    ("rtm", "SKU-2", 9, 0, 0),
    ("rtm", "SKU-3", 21, 0, 0),
    ("rtm", "SKU-4", 5, 0, 0),
    ("rtm", "SKU-6", 0, 0, 0),
    ("rtm", "SKU-9", 3, 0, 0),
];

/// The node id the PostgreSQL fixture was written by (`make-v3-data.sh`); the test's node has
/// another name, so it takes the dead writer's pending work over.
const FIXTURE_NODE: &str = "v3-fixture-node";

/// The key DHL's local carrier expects.
const CARRIER_KEY: &str = "v3-upgrade-dhl-key-0001";

/// The date the script's carrier scans gave `late` and `overdue`: already past.
const PAST: &str = "2026-11-30";

#[actix_rt::test]
async fn a_sled_data_directory_of_the_v3_release_opens_and_serves() {
    let ids = orderly_testkit::fixture::v3_ids();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    orderly_testkit::fixture::copy_v3_data(&data);
    let receiver = Receiver::start(0).await;
    let carrier = LocalCarrier::start(CARRIER_KEY, 0, None)
        .await
        .expect("DHL's local carrier");
    let server = Upgraded::start(Some(&data), &receiver.config(100), &carrier).await;
    opens_and_serves(&server.api(), &receiver, &carrier, &ids).await;
    drop(server);
    carrier.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_postgres_database_of_the_v3_release_opens_and_serves() {
    let test = "a_postgres_database_of_the_v3_release_opens_and_serves";
    let Some(pg) = orderly_testkit::postgres::shared_or_skip(test) else {
        return;
    };
    let ids = orderly_testkit::fixture::v3_postgres_ids();
    let url = pg.create_database("v3_fixture");
    pg.restore_sql(&url, &orderly_testkit::fixture::v3_postgres_sql())
        .unwrap_or_else(|e| panic!("restoring the v3 dump: {e}"));
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
        "1,2,3,4,5,6,7",
        "the dump's migrations"
    );
    // The writer left its work pending: the cancellation DHL never took, the promise timer
    // that fell due while it was down.
    let cancel_bookings = format!(
        "SELECT count(*) FROM outbox WHERE order_id = '{}' AND message_id LIKE '%cancel_bookings%'",
        ids["cancelled_booked"]
    );
    assert_eq!(pg.psql(db, &cancel_bookings).unwrap().trim(), "1");
    // (Its promise, revised to 2026-11-30, broke at the start of 1 December in Amsterdam.)
    let overdue_timer = format!(
        "SELECT count(*) FROM timers WHERE order_id = '{}' AND kind = 'promise_due' AND due = '2026-11-30 23:00:00+00'",
        ids["overdue"]
    );
    assert_eq!(pg.psql(db, &overdue_timer).unwrap().trim(), "1");
    let receiver = Receiver::start(0).await;
    let carrier = LocalCarrier::start(CARRIER_KEY, 0, None)
        .await
        .expect("DHL's local carrier");
    let node = crate::nodes::postgres_toml(&url, "v3-upgrade-node");
    let server = Upgraded::start(None, &format!("{node}{}", receiver.config(100)), &carrier).await;
    opens_and_serves(&server.api(), &receiver, &carrier, &ids).await;
    drop(server);
    carrier.stop().await;
    receiver.stop().await;
}

/// The service started on a fixture with `config.toml` (this tree's) and DHL booked over HTTP
/// at a local carrier: the carrier the fixture's pending cancellation goes to, and the one
/// new DHL bookings are made with. Its log is printed if the test fails.
struct Upgraded(orderly_testkit::Service);

impl Upgraded {
    async fn start(data: Option<&std::path::Path>, extra_toml: &str, dhl: &LocalCarrier) -> Self {
        let base = include_str!("../../config.toml");
        let from = "tracking_prefix = \"JVGL\"\n";
        assert!(base.contains(from), "config.toml has {from:?}");
        let config = base.replacen(
            from,
            &format!(
                "{from}http = {{ base_url = \"{}\", key = \"{CARRIER_KEY}\", timeout_ms = 2000, max_attempts = 100 }}\n",
                dhl.url
            ),
            1,
        );
        let mut builder = orderly_testkit::Service::builder(env!("CARGO_BIN_EXE_orderly"))
            .config_text(config)
            .merge("[engine]\ntimer_tick_ms = 20\nidle_timeout_secs = 1\n")
            .merge(extra_toml)
            .ready_within(std::time::Duration::from_secs(15));
        if let Some(dir) = data {
            builder = builder.data_dir(dir);
        }
        Upgraded(builder.start().await.unwrap_or_else(|e| panic!("{e}")))
    }

    fn api(&self) -> Api {
        Api::new(self.0.base_url())
    }
}

impl Drop for Upgraded {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- orderly log ({}) ----\n{}",
                self.0.log_path().display(),
                self.0.log_tail(60)
            );
        }
    }
}

/// The whole check, on a service started on the fixture with `receiver` as its webhook and
/// `carrier` as DHL.
async fn opens_and_serves(
    api: &Api,
    receiver: &Receiver,
    carrier: &LocalCarrier,
    ids: &BTreeMap<String, String>,
) {
    let fx = Fixture {
        api,
        ids,
        skus: SKUS,
    };
    let id = |name: &str| fx.id(name);
    let names: BTreeSet<&str> = ids
        .keys()
        .map(String::as_str)
        .filter(|k| !k.starts_with("tn_") && !k.starts_with("transfer_"))
        .collect();
    assert_eq!(
        names,
        ORDERS.iter().map(|o| o.0).collect::<BTreeSet<_>>(),
        "the fixture's orders"
    );

    // Which promises have passed: those must be recorded `delayed` by their timers, those
    // that have not must not be, and those breaking about now may be.
    let delays = Delays::work_out(api, &fx).await;

    // Every order answers with its status, its shipments, its whole history (but for the
    // `delayed` its timers record from now on) and its tracking page.
    for &(name, status, shipments, types) in ORDERS {
        let o = api.order(&id(name)).await;
        assert_history_contiguous(&o);
        if name == "timed_out" && o["status"] == "cancelled" {
            continue; // its timer was quicker than this read
        }
        assert_eq!(o["status"], status, "{name}: {o}");
        assert_eq!(shipments_of(&o), shipments, "{name}: {o}");
        assert_eq!(
            types_but_new_delays(&o, types),
            types,
            "{name}'s history: {o}"
        );
        let token = str_of(&o["tracking_token"]);
        let page = api
            .anon()
            .get(&format!("/v1/track/{token}"))
            .await
            .expect(200, &format!("{name}'s tracking page"))
            .json;
        let timer_was_quicker = name == "timed_out" && page["status"] == "cancelled";
        if !timer_was_quicker {
            assert_eq!(page["status"], status, "{name}'s tracking page: {page}");
        }
        assert_eq!(
            page["shipments"].as_array().map(Vec::len),
            Some(shipments.len()),
            "{name}'s tracking page: {page}"
        );
        // Every shipment allocated has its plan, as recorded; the order's promise is its
        // shipments' last.
        plans_as_recorded(name, &o);
        if !shipments.is_empty() && name != "timed_out" {
            assert_eq!(page["promised"], o["promised"], "{name}'s tracking page");
        }
    }
    let approved = api.order(&id("return_approved")).await;
    assert!(approved["return_label_url"].is_string(), "{approved}");

    v2_orders_as_stored(api, &fx).await;
    v3_orders_as_stored(api, &fx).await;

    // Listed under their statuses; the shipments still to pick on their warehouses' lists.
    fx.listed_under_statuses(ORDERS.iter().map(|o| (o.0, o.1)))
        .await;
    for (warehouse, want) in [
        (
            "ams",
            &["confirmed", "cod", "split_shipped", "weighted", "express"][..],
        ),
        ("rtm", &["confirmed_rtm", "partially_picked", "split"][..]),
    ] {
        let want: BTreeSet<String> = want.iter().map(|n| id(n)).collect();
        assert_eq!(pick_list(api, warehouse).await, want, "{warehouse}'s picks");
    }

    stock_is_as_left(&fx).await;
    stock_records_as_left(api, &fx).await;

    stored_idempotency_replays(api, "fx3-confirmed", &id("confirmed")).await;
    // The weighted order's record covers its weight: the same body replays, one without the
    // weight is another request.
    let mut weighted = fixture_body("fx3-weighted", "card", "captured", &[("SKU-9", 2)]);
    let light = weighted.clone();
    weighted["shipping"]["weight_grams"] = json!(4000);
    let replay = api
        .storefront()
        .idempotency("fx3-weighted")
        .post("/v1/orders", &weighted)
        .await
        .expect(201, "the weighted order placed again");
    assert_eq!(
        replay.json["id"],
        id("weighted").as_str(),
        "{}",
        replay.text()
    );
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    api.storefront()
        .idempotency("fx3-weighted")
        .post("/v1/orders", &light)
        .await
        .problem(422, "the weighted order's key with another body");

    // The service's own work: the promise timers due (the overdue order's, and any that
    // passed since the fixture was written) record `delayed`, once; the timed-out order is
    // cancelled; DHL is told of the cancelled booking.
    delays.are_recorded(api).await;
    let overdue = api.order(&id("overdue")).await;
    let delayed = last_event(&overdue, "delayed");
    assert_eq!(
        (&delayed["by"], &delayed["shipment"], &delayed["promised"]),
        (&json!("promise_timer"), &json!(1), &json!(PAST)),
        "{overdue}"
    );
    assert_eq!(overdue["shipments"][0]["delayed"], true, "{overdue}");
    timed_out_is_cancelled(&fx).await;
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

    // The pending notifications reach the receiver, signed, under their stored message ids;
    // the timed-out order's cancellation and the new delays follow them.
    let mut expected: BTreeSet<Note> = BTreeSet::new();
    for &(name, ..) in ORDERS {
        for kind in pending_notifications(name) {
            expected.insert(Note::order(&id(name), kind));
        }
    }
    assert_eq!(expected.len(), 46);
    expected.insert(Note::order(&id("timed_out"), "cancelled"));
    for order in &delays.must {
        expected.insert(Note::order(order, "delayed"));
        expected.insert(Note::order(order, OPS_DELAYED));
    }
    expected.insert(Note::low_stock("ams", "SKU-9"));
    let mut allowed = expected.clone();
    for order in &delays.may {
        allowed.insert(Note::order(order, "delayed"));
        allowed.insert(Note::order(order, OPS_DELAYED));
    }
    notifications_arrive(api, receiver, &expected, &allowed).await;

    // Everything carries on.
    v1_orders_walk_on(api, &fx).await;
    v2_orders_walk_on(api, &fx).await;
    v3_orders_walk_on(api, carrier, &fx).await;
    backorders_fill(api, &fx).await;
    transfers_and_alerts_carry_on(api, receiver, &fx).await;

    // Nothing left to pick but the cod and placed orders and the two filled backorders; the
    // stock moved by exactly what went out, came back and was counted.
    assert_eq!(
        pick_list(api, "ams").await,
        BTreeSet::from([id("cod"), id("backordered"), id("backordered_later")]),
        "ams's picks"
    );
    assert_eq!(pick_list(api, "rtm").await, BTreeSet::new(), "rtm's picks");
    stock_reaches(
        &fx,
        "the stock after the orders carried on",
        STOCK_CARRIED_ON,
    )
    .await;
    // No promise broke while the test ran (but those breaking about now), and nothing was
    // dead-lettered.
    delays.none_but_recorded(api, &fx).await;
    let dead = api
        .admin()
        .get("/v1/notifications/dead-letters")
        .await
        .expect(200, "dead letters");
    assert_eq!(dead.json, json!([]), "nothing dead-lettered");
}

/// What v2's scenario left, as upgrade_v2 checks it: the split orders' shipments, the
/// backordered orders.
async fn v2_orders_as_stored(api: &Api, fx: &Fixture<'_>) {
    let id = |name: &str| fx.id(name);
    let split = api.order(&id("split")).await;
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
    let allocated = first_event(&split_shipped, "allocated");
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

    let first = api.order(&id("backordered")).await;
    assert_eq!(first["stock"], "backordered", "{first}");
    assert_eq!(
        first["backordered"],
        json!([{"sku": "SKU-7", "quantity": 2}])
    );
    assert_eq!(
        first["history"][1]["held"],
        json!([{"shipment": 1, "warehouse": "ams", "lines": [{"sku": "SKU-7", "quantity": 1}]}]),
        "{first}"
    );
    assert!(
        first["promised"].is_null(),
        "nothing to promise yet: {first}"
    );
    let later = api.order(&id("backordered_later")).await;
    assert_eq!(
        later["backordered"],
        json!([{"sku": "SKU-7", "quantity": 1}])
    );
}

/// What v3 added, as stored: plans chosen by the carrier rules, bookings with their price,
/// rule, promise (and the HTTP carrier's tracking number, label and date), PostNL's own codes,
/// the dates carriers gave, the late shipment `delayed`, the cancelled booking.
async fn v3_orders_as_stored(api: &Api, fx: &Fixture<'_>) {
    let id = |name: &str| fx.id(name);
    // The carrier rules' choices at allocation: the cheapest service for the method (PostNL
    // standard 6.95 up to 2 kg; the 4 kg cart by DHL europlus, 7.50 against PostNL's 9.95;
    // express by PostNL's evening service), cash on delivery by PostNL with its surcharge.
    for (name, carrier, service, price, rule) in [
        ("confirmed", "postnl", "standard", 695, "cheapest"),
        ("confirmed_rtm", "postnl", "standard", 695, "cheapest"),
        (
            "cod",
            "postnl",
            "standard",
            945,
            "cash on delivery by PostNL",
        ),
        ("weighted", "dhl", "europlus", 750, "cheapest"),
        ("express", "postnl", "evening", 1295, "cheapest"),
    ] {
        let o = api.order(&id(name)).await;
        let plan = &o["shipments"][0]["plan"];
        assert_eq!(
            (
                &plan["carrier"],
                &plan["service"],
                &plan["price"],
                &plan["rule"]
            ),
            (
                &json!(carrier),
                &json!(service),
                &json!({"amount": price, "currency": "EUR"}),
                &json!(rule)
            ),
            "{name}'s plan: {o}"
        );
        assert_eq!(plan["promise"]["time_zone"], "Europe/Amsterdam", "{o}");
        assert_eq!(
            o["promised"],
            json!({"earliest": plan["promise"]["earliest"], "latest": plan["promise"]["latest"]}),
            "{name}: {o}"
        );
    }
    let weighted = api.order(&id("weighted")).await;
    assert_eq!(weighted["shipping"]["weight_grams"], 4000, "{weighted}");
    let express = api.order(&id("express")).await;
    assert_eq!(express["shipping"]["method"], "express", "{express}");

    // A booking keeps its price, rule and promise (the history's `shipment_booked`).
    let packed = api.order(&id("packed")).await;
    let s = &packed["shipments"][0];
    assert_eq!(s["booking"]["tracking_number"], id("tn_packed").as_str());
    let booked = &last_event(&packed, "shipment_booked")["booking"];
    assert_eq!(
        (
            &booked["carrier"],
            &booked["service"],
            &booked["price"]["amount"],
            &booked["rule"]
        ),
        (
            &json!("postnl"),
            &json!("standard"),
            &json!(695),
            &json!("cheapest")
        ),
        "{packed}"
    );
    assert_eq!(booked["promise"], s["plan"]["promise"], "{packed}");
    assert_eq!(booked["estimated_delivery"], s["plan"]["promise"]["latest"]);

    // Booked with DHL over HTTP: the carrier's tracking number, label URL and date, which
    // revised the promise; priced by the 3 kg parcel (DHL, 7.50), where the plan at
    // allocation, without a weight, was PostNL's 6.95.
    let http = api.order(&id("booked_http")).await;
    let tn = id("tn_booked_http");
    assert!(tn.starts_with("JVGLFX3"), "the bridge's number: {tn}");
    let s = &http["shipments"][0];
    assert_eq!(
        s["booking"],
        json!({"carrier": "dhl", "carrier_name": "DHL Parcel", "service": "europlus",
               "tracking_number": tn, "estimated_delivery": "2099-03-02",
               "carrier_label_url": format!("https://dhl.example/labels/{tn}.pdf")}),
        "{http}"
    );
    assert_eq!(
        s["plan"],
        json!({"carrier": "dhl", "service": "europlus", "price": {"amount": 750, "currency": "EUR"},
               "rule": "cheapest",
               "promise": {"earliest": "2099-03-02", "latest": "2099-03-02", "time_zone": "Europe/Amsterdam"}}),
        "{http}"
    );
    assert_eq!(
        first_event(&http, "allocated")["shipments"][0]["plan"]["carrier"],
        "postnl"
    );
    assert_eq!(
        last_event(&http, "shipment_booked")["booking"]["label_url"],
        format!("https://dhl.example/labels/{tn}.pdf")
    );
    let label = api
        .warehouse()
        .get(&format!("/v1/orders/{}/label", id("booked_http")))
        .await;
    assert!(
        [200, 302, 303, 307].contains(&label.status),
        "the HTTP carrier's label: {} {}",
        label.status,
        label.text()
    );

    // PostNL's own codes: J01 read as in_transit with its text and a new date (which revised
    // the promise), Z42 (not in its table) as unknown, moving nothing.
    let in_transit = api.order(&id("in_transit")).await;
    let s = &in_transit["shipments"][0];
    assert_eq!(
        (&s["last_scan"], &s["last_location"], &s["delayed"]),
        (&json!("in_transit"), &json!("Nieuwegein"), &json!(false)),
        "{in_transit}"
    );
    assert_eq!(
        (
            &s["plan"]["promise"]["earliest"],
            &s["plan"]["promise"]["latest"]
        ),
        (&json!("2099-01-05"), &json!("2099-01-05")),
        "{in_transit}"
    );
    let scans: Vec<&Value> = events(&in_transit, "carrier_scanned");
    assert_eq!(
        (
            &scans[0]["kind"],
            &scans[0]["code"],
            &scans[0]["description"],
            &scans[0]["estimated_delivery"]
        ),
        (
            &json!("in_transit"),
            &json!("J01"),
            &json!("Zending is onderweg"),
            &json!("2099-01-05")
        ),
        "{in_transit}"
    );
    assert_eq!(
        (
            &scans[1]["kind"],
            &scans[1]["code"],
            &scans[1]["description"]
        ),
        (&json!("unknown"), &json!("Z42"), &json!("Sorteerafwijking")),
        "{in_transit}"
    );
    let page = tracking_page(api, &in_transit).await;
    assert_eq!(page["promised"]["latest"], "2099-01-05", "{page}");

    // Late: the carrier's date was already past; its timer recorded `delayed` once, by the
    // promise timer, with the day it was promised for; the tracking page says so.
    let late = api.order(&id("late")).await;
    assert_eq!(late["shipments"][0]["delayed"], true, "{late}");
    assert_eq!(late["shipments"][0]["plan"]["promise"]["latest"], PAST);
    let delayed = last_event(&late, "delayed");
    assert_eq!(
        (&delayed["by"], &delayed["shipment"], &delayed["promised"]),
        (&json!("promise_timer"), &json!(1), &json!(PAST)),
        "{late}"
    );
    let page = tracking_page(api, &late).await;
    assert_eq!(page["shipments"][0]["delayed"], true, "{page}");
    assert!(
        page["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .any(|t| t["step"] == "delayed"),
        "{page}"
    );
    assert_eq!(
        last_event(&api.order(&id("overdue")).await, "carrier_scanned")["estimated_delivery"],
        PAST
    );

    // The booked shipment cancelled with its order keeps its DHL booking; the order refunded.
    let cancelled = api.order(&id("cancelled_booked")).await;
    let s = &cancelled["shipments"][0];
    assert_eq!(
        (&s["booking"]["carrier"], &s["booking"]["tracking_number"]),
        (&json!("dhl"), &json!(id("tn_cancelled_booked"))),
        "{cancelled}"
    );
    assert_eq!(cancelled["refunded"]["amount"], 1999, "{cancelled}");
    assert_eq!(
        cancelled["cancellation"]["reason"],
        "found it cheaper elsewhere"
    );
}

/// Every shipment with a plan has the one its allocation recorded, unless a booking or a
/// carrier's date revised its window since (then the booking's, or the date); only shipments
/// of backordered orders (none yet) lack one.
fn plans_as_recorded(name: &str, o: &Value) {
    let allocated: BTreeMap<u64, Value> = events(o, "allocated")
        .iter()
        .flat_map(|e| e["shipments"].as_array().cloned().unwrap_or_default())
        .map(|a| (a["shipment"].as_u64().expect("shipment"), a["plan"].clone()))
        .collect();
    for s in o["shipments"].as_array().expect("shipments") {
        let n = s["id"].as_u64().expect("id");
        let plan = &s["plan"];
        assert!(plan.is_object(), "{name}'s shipment {n} has a plan: {o}");
        let booked = events(o, "shipment_booked")
            .into_iter()
            .rfind(|e| e["shipment"] == n)
            .map(|e| e["booking"].clone());
        let dated = events(o, "carrier_scanned")
            .into_iter()
            .filter(|e| e["shipment"] == n)
            .filter_map(|e| e["estimated_delivery"].as_str())
            .next_back()
            .map(str::to_string);
        let mut want = allocated
            .get(&n)
            .unwrap_or_else(|| panic!("{name}'s shipment {n} was allocated: {o}"))
            .clone();
        if let Some(b) = booked {
            for k in ["carrier", "service", "price", "rule", "promise"] {
                want[k] = b[k].clone();
            }
        }
        if let Some(day) = dated {
            want["promise"]["earliest"] = json!(day);
            want["promise"]["latest"] = json!(day);
        }
        assert_eq!(*plan, want, "{name}'s shipment {n}'s plan: {o}");
    }
}

/// Which open shipments' promises have passed, worked out from the stored promises when the
/// service started on the fixture: order ids whose timers must record a new `delayed`, and
/// those breaking about now, which may. `late` was recorded before; `overdue`'s is due.
struct Delays {
    must: BTreeSet<String>,
    may: BTreeSet<String>,
    /// The `delayed` events each order had as stored.
    stored: BTreeMap<String, usize>,
}

impl Delays {
    /// How far around now a promise breaking is left undecided.
    const MARGIN_MINUTES: i64 = 10;

    async fn work_out(api: &Api, fx: &Fixture<'_>) -> Delays {
        let now = Utc::now();
        let mut must = BTreeSet::new();
        let mut may = BTreeSet::new();
        let mut stored = BTreeMap::new();
        for &(name, _, _, types) in ORDERS {
            let id = fx.id(name);
            let o = api.order(&id).await;
            stored.insert(
                id.clone(),
                types.iter().filter(|t| **t == "delayed").count(),
            );
            for s in o["shipments"].as_array().expect("shipments") {
                let open = matches!(
                    s["status"].as_str(),
                    Some("allocated" | "packed" | "shipped")
                );
                if !open || s["plan"].is_null() || types.contains(&"delayed") {
                    continue;
                }
                let broken = broken_at(&s["plan"]["promise"]);
                let margin = Duration::minutes(Self::MARGIN_MINUTES);
                if name == "timed_out" {
                    // Its payment timer may cancel it first.
                    if broken <= now + margin {
                        may.insert(id.clone());
                    }
                } else if broken <= now - margin {
                    must.insert(id.clone());
                } else if broken <= now + margin {
                    may.insert(id.clone());
                }
            }
        }
        assert!(
            must.contains(&fx.id("overdue")),
            "the overdue order's promise ({PAST}) has passed"
        );
        may.retain(|o| !must.contains(o));
        Delays { must, may, stored }
    }

    /// The orders whose promises passed get one `delayed` each (per shipment), by their timers.
    async fn are_recorded(&self, api: &Api) {
        for order in &self.must {
            let o = wait_until(&format!("{order}'s delay recorded"), || async {
                let o = api.order(order).await;
                if count_events(&o, "delayed") > self.stored[order] {
                    Ok(o)
                } else {
                    Err(format!("{:?}", history_types(&o)))
                }
            })
            .await;
            let broken: Vec<&Value> = o["shipments"]
                .as_array()
                .expect("shipments")
                .iter()
                .filter(|s| s["delayed"] == true)
                .collect();
            assert!(!broken.is_empty(), "{o}");
        }
    }

    /// No order has a `delayed` but those recorded before or worked out (and, for those
    /// breaking about now, perhaps one), one per shipment at most.
    async fn none_but_recorded(&self, api: &Api, fx: &Fixture<'_>) {
        for &(name, ..) in ORDERS {
            let id = fx.id(name);
            let o = api.order(&id).await;
            let n = count_events(&o, "delayed");
            let stored = self.stored[&id];
            let shipments = o["shipments"].as_array().map_or(0, Vec::len);
            if self.must.contains(&id) {
                assert!(n > stored && n <= shipments, "{name}: {o}");
            } else if self.may.contains(&id) {
                assert!(n <= shipments, "{name}: {o}");
            } else {
                assert_eq!(n, stored, "{name}'s delays: {o}");
            }
        }
    }
}

/// When a promise is broken: the start of the day after its `latest`, in its warehouse's time
/// zone — Europe/Amsterdam for both of the fixture's warehouses (CET, UTC+1; CEST, UTC+2 from
/// the last Sunday of March to the last Sunday of October, switching at 01:00 UTC, so a
/// midnight is summer time when it falls after the first of those Sundays and on or before the
/// second).
fn broken_at(promise: &Value) -> DateTime<Utc> {
    assert_eq!(promise["time_zone"], "Europe/Amsterdam", "{promise}");
    let latest: NaiveDate = str_of(&promise["latest"]).parse().expect("a date");
    let day = latest.succ_opt().expect("a next day");
    let last_sunday = |month: u32| {
        let mut d = NaiveDate::from_ymd_opt(day.year(), month + 1, 1)
            .expect("a month")
            .pred_opt()
            .expect("a day");
        while d.weekday() != Weekday::Sun {
            d = d.pred_opt().expect("a day");
        }
        d
    };
    let summer = day > last_sunday(3) && day <= last_sunday(10);
    let offset = if summer { 2 } else { 1 };
    day.and_hms_opt(0, 0, 0).expect("midnight").and_utc() - Duration::hours(offset)
}

#[test]
fn promises_break_at_midnight_in_amsterdam() {
    let at = |latest: &str| {
        broken_at(&json!({"earliest": latest, "latest": latest, "time_zone": "Europe/Amsterdam"}))
            .to_rfc3339()
    };
    assert_eq!(at("2026-11-30"), "2026-11-30T23:00:00+00:00");
    assert_eq!(at("2026-07-01"), "2026-07-01T22:00:00+00:00");
    // 2026's switches: 29 March and 25 October.
    assert_eq!(at("2026-03-28"), "2026-03-28T23:00:00+00:00");
    assert_eq!(at("2026-03-29"), "2026-03-29T22:00:00+00:00");
    assert_eq!(at("2026-10-24"), "2026-10-24T22:00:00+00:00");
    assert_eq!(at("2026-10-25"), "2026-10-25T23:00:00+00:00");
}

/// The order's history types, less the `delayed` events beyond what `stored` (its history as
/// the script left it) has: those the promise timers record after the upgrade.
fn types_but_new_delays(o: &Value, stored: &[&str]) -> Vec<String> {
    let mut keep = stored.iter().filter(|t| **t == "delayed").count();
    history_types(o)
        .into_iter()
        .filter(|t| {
            if t != "delayed" {
                return true;
            }
            if keep > 0 {
                keep -= 1;
                return true;
            }
            false
        })
        .collect()
}

/// The unpaid order whose payment deadline passed while the service was down: its timer
/// cancels it and its SKU-4 at `rtm` goes back (its promise timer may have recorded `delayed`
/// first); the placed order's deadline is years away.
async fn timed_out_is_cancelled(fx: &Fixture<'_>) {
    let api = fx.api;
    let timed_out = api.wait_status(&fx.id("timed_out"), "cancelled").await;
    assert_eq!(
        types_but_new_delays(&timed_out, &[]),
        ["placed", "allocated", "cancelled"],
        "{timed_out}"
    );
    assert_eq!(
        timed_out["cancellation"]["by"], "payment_timer",
        "{timed_out}"
    );
    assert_eq!(shipments_of(&timed_out), ["rtm:cancelled"]);
    wait_until("the timed-out order's stock released", || async {
        let got = fx.stock_levels().await;
        match got.get(&("rtm".to_string(), "SKU-4".to_string())) {
            Some(&(5, 0, 0)) => Ok(()),
            other => Err(format!("SKU-4 at rtm: {other:?}")),
        }
    })
    .await;
    assert_eq!(api.status_of(&fx.id("placed")).await, "placed");
}

/// The stock reads as the script left it — but for the timed-out order's SKU-4, which its
/// timer may have released already.
async fn stock_is_as_left(fx: &Fixture<'_>) {
    let stock = fx.stock_levels().await;
    for &(w, sku, on_hand, reserved, incoming) in STOCK_AS_LEFT {
        let got = stock.get(&(w.to_string(), sku.to_string())).copied();
        if sku == "SKU-4" {
            assert!(
                got == Some((on_hand, reserved, incoming)) || got == Some((on_hand, 0, incoming)),
                "{sku} at {w}: {got:?}"
            );
        } else {
            assert_eq!(got, Some((on_hand, reserved, incoming)), "{sku} at {w}");
        }
    }
    assert_eq!(stock.len(), STOCK_AS_LEFT.len(), "stock cells: {stock:?}");
}

/// Waits until the fixture's stock is exactly `want`.
async fn stock_reaches(fx: &Fixture<'_>, what: &str, want: &[(&str, &str, i64, i64, i64)]) {
    let want: StockLevels = want
        .iter()
        .map(|&(w, s, h, r, i)| ((w.to_string(), s.to_string()), (h, r, i)))
        .collect();
    wait_until(what, || async {
        let got = fx.stock_levels().await;
        if got == want {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
}

/// The skus' backorder records, availability (incoming units included), the reorder point and
/// its alert, the transfers (one under way, one called off) and their idempotency records, as
/// the script left them.
async fn stock_records_as_left(api: &Api, fx: &Fixture<'_>) {
    assert_eq!(
        sku_backorders(api, "SKU-7").await,
        json!({"sku": "SKU-7", "allowed": true, "cap": 10, "waiting": 3})
    );
    assert_eq!(
        sku_backorders(api, "SKU-8").await,
        json!({"sku": "SKU-8", "allowed": true, "cap": 5, "waiting": 0})
    );
    let seen = availability(api, Key::Admin, &["SKU-1", "SKU-7", "SKU-9"]).await;
    assert_eq!(
        (&seen["SKU-1"]["available"], &seen["SKU-1"]["incoming"]),
        (&json!(90 + 18), &json!(0)),
        "{seen:?}"
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
        seen["SKU-9"]["warehouses"],
        json!([
            {"warehouse": "ams", "on_hand": 24, "reserved": 4, "available": 20, "incoming": 0},
            {"warehouse": "rtm", "on_hand": 1, "reserved": 0, "available": 1, "incoming": 2}
        ]),
        "{seen:?}"
    );
    assert_eq!(
        (&seen["SKU-9"]["available"], &seen["SKU-9"]["incoming"]),
        (&json!(21), &json!(2)),
        "{seen:?}"
    );

    // ams/SKU-9's reorder point, crossed once: one alert sent (its notice pending).
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

    // The transfers: one dispatched with 1 of 3 received, one called off.
    let open = transfer(api, &fx.id("transfer_open")).await;
    assert_eq!(
        (&open["from"], &open["to"], &open["status"]),
        (&json!("ams"), &json!("rtm"), &json!("dispatched")),
        "{open}"
    );
    assert_eq!(
        open["lines"],
        json!([{"sku": "SKU-9", "quantity": 3, "received": 1, "in_transit": 2}])
    );
    assert_eq!(open["receipts"].as_array().map(Vec::len), Some(1), "{open}");
    let called_off = transfer(api, &fx.id("transfer_cancelled")).await;
    assert_eq!(
        (
            &called_off["from"],
            &called_off["to"],
            &called_off["status"]
        ),
        (&json!("rtm"), &json!("ams"), &json!("cancelled")),
        "{called_off}"
    );
    // The same key and body answer the same transfer; another body is refused.
    let body = json!({"from": "ams", "to": "rtm", "lines": [{"sku": "SKU-9", "quantity": 3}]});
    let replay = api
        .admin()
        .idempotency("fx3-transfer-open")
        .post("/v1/transfers", &body)
        .await;
    assert!(
        [200, 201].contains(&replay.status),
        "a repeated transfer: {}",
        replay.text()
    );
    assert_eq!(replay.json["id"], fx.id("transfer_open").as_str());
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    let other = json!({"from": "ams", "to": "rtm", "lines": [{"sku": "SKU-9", "quantity": 1}]});
    api.admin()
        .idempotency("fx3-transfer-open")
        .post("/v1/transfers", &other)
        .await
        .problem(422, "a transfer's key reused with another body");
}

/// A notification the receiver got: what it is about (the order's id, or `warehouse/sku` for
/// a stock alert, or the sku for a back-in-stock message), its type, and whether it went to
/// operations.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Note {
    subject: String,
    kind: String,
    operations: bool,
}

impl Note {
    /// The order's notification of `kind` (`ops:<kind>`: to operations).
    fn order(order: &str, kind: &str) -> Note {
        let (kind, operations) = match kind.strip_prefix("ops:") {
            Some(kind) => (kind, true),
            None => (kind, false),
        };
        Note {
            subject: order.to_string(),
            kind: format!("order.{kind}"),
            operations,
        }
    }

    fn low_stock(warehouse: &str, sku: &str) -> Note {
        Note {
            subject: format!("{warehouse}/{sku}"),
            kind: "stock.low_stock".to_string(),
            operations: false,
        }
    }

    fn of(hook: &Hook) -> Note {
        let j = hook.json();
        let d = &j["data"];
        let subject = match (d["order_id"].as_str(), d["warehouse"].as_str()) {
            (Some(order), _) => order.to_string(),
            (None, Some(w)) => format!("{w}/{}", d["sku"].as_str().unwrap_or_default()),
            (None, None) => d["sku"].as_str().unwrap_or_default().to_string(),
        };
        Note {
            subject,
            kind: j["type"].as_str().unwrap_or_default().to_string(),
            operations: hook.id().ends_with("_operations.webhook"),
        }
    }
}

/// Every notification in `expected` reaches `receiver` answered 200, signed, under the message
/// id stored with it; nothing arrives that `allowed` does not hold; nothing is dead-lettered.
async fn notifications_arrive(
    api: &Api,
    receiver: &Receiver,
    expected: &BTreeSet<Note>,
    allowed: &BTreeSet<Note>,
) {
    let received = wait_until("every pending notification delivered", || {
        let hooks = receiver.hooks();
        async move {
            let got: BTreeSet<Note> = hooks
                .iter()
                .filter(|h| h.answered == 200)
                .map(Note::of)
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
        let note = Note::of(h);
        assert!(
            allowed.contains(&note),
            "an unexpected notification: {}",
            h.body
        );
        assert_eq!(h.id(), j["data"]["message_id"].as_str().unwrap_or_default());
        let prefix = match j["data"]["order_id"].as_str() {
            Some(order) => format!("msg_{}_", order.replace('-', "")),
            None => "ntc_".to_string(),
        };
        assert!(
            h.id().starts_with(&prefix)
                && (h.id().ends_with("_webhook") || h.id().ends_with("_operations.webhook")),
            "the stored message id: {}",
            h.id()
        );
        assert!(
            crate::notifications::signature_ok(h),
            "the signature does not verify: {h:?}"
        );
    }
    let low = received
        .iter()
        .find(|h| Note::of(h).kind == "stock.low_stock")
        .expect("the low-stock alert")
        .json();
    assert_eq!(
        (
            &low["data"]["reorder_point"],
            &low["data"]["available"],
            &low["data"]["alert"]
        ),
        (&json!(22), &json!(21), &json!(1)),
        "{low}"
    );
    let dead = api
        .admin()
        .get("/v1/notifications/dead-letters")
        .await
        .expect(200, "dead letters");
    assert_eq!(dead.json, json!([]), "nothing dead-lettered");
}

/// The orders of the v1 scenario carry on (as upgrade_walk's `v1_orders_walk_on`, with the
/// histories read less the `delayed` the promise timers may record).
async fn v1_orders_walk_on(api: &Api, fx: &Fixture<'_>) {
    let shipped_types: Vec<&str> = PACKED.iter().copied().chain(["shipped"]).collect();
    for (name, warehouse) in [("confirmed", "ams"), ("confirmed_rtm", "rtm")] {
        api.pick_all(&fx.id(name), warehouse).await;
        let packed = api.pack(&fx.id(name), warehouse).await;
        assert_eq!(packed["status"], "packed", "{name}: {packed}");
        let shipped = api.handover(&fx.id(name)).await;
        assert_eq!(shipped["status"], "shipped", "{name}: {shipped}");
        let o = api.order(&fx.id(name)).await;
        assert_history_contiguous(&o);
        assert_eq!(types_but_new_delays(&o, &[]), shipped_types, "{name}: {o}");
        // Booked on the rules of the day, the plan revised by the booking.
        plans_as_recorded(name, &o);
    }
    let partial = fx.id("partially_picked");
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
    let want: Vec<&str> = ["placed", "allocated", "confirmed", "picks_acknowledged"]
        .into_iter()
        .chain(PACKED[3..].iter().copied())
        .chain(["shipped"])
        .collect();
    assert_eq!(types_but_new_delays(&o, &[]), want, "{o}");

    assert_eq!(api.handover(&fx.id("packed")).await["status"], "shipped");
    let ack = api
        .scan(
            &fx.id("tn_packed"),
            "v3-upgrade-ev-1",
            "in_transit",
            "2026-12-08T10:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "shipped", "{ack}");
    let ack = api
        .scan(
            &fx.id("tn_shipped"),
            "v3-upgrade-ev-2",
            "delivered",
            "2026-12-08T11:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");
    let received = api
        .warehouse()
        .post(
            &format!("/v1/orders/{}/returns/receive", fx.id("return_approved")),
            &json!({"warehouse": "ams", "lines": [{"sku": "SKU-1", "quantity": 1}]}),
        )
        .await
        .expect(200, "receive the return");
    assert_eq!(received.json["status"], "returned", "{}", received.text());
}

/// The split orders finish as upgrade_v2 walks them: the packed one's rtm shipment picked and
/// packed, both handed over and delivered parcel by parcel; the partially picked one's ams
/// shipment finished; the part-cancelled one delivered on its one parcel.
async fn v2_orders_walk_on(api: &Api, fx: &Fixture<'_>) {
    let split_id = fx.id("split");
    let split = api.order(&split_id).await;
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
    let shipped = api.handover(&split_id).await;
    assert_eq!(shipments_of(&shipped), ["ams:shipped", "rtm:shipped"]);
    let ack = api
        .scan(
            &fx.id("tn_split_ams"),
            "v3-upgrade-ev-3",
            "delivered",
            "2026-12-08T12:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "shipped", "one parcel of two: {ack}");
    let ack = api
        .scan(
            &tn_split_rtm,
            "v3-upgrade-ev-4",
            "delivered",
            "2026-12-08T13:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");

    let ss = fx.id("split_shipped");
    let split_shipped = api.order(&ss).await;
    let ams_no = shipment_at(&split_shipped, "ams")["id"].clone();
    let base = format!("/v1/orders/{ss}/shipments/{ams_no}");
    api.warehouse()
        .post(
            &format!("{base}/picks"),
            &json!({"lines": [{"sku": "SKU-6", "quantity": 1}]}),
        )
        .await
        .expect(200, "split_shipped: the rest of ams's picks");
    api.warehouse()
        .post(
            &format!("{base}/pack"),
            &json!({"parcels": [{"weight_grams": 800}]}),
        )
        .await
        .expect(200, "split_shipped: pack ams's shipment");
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
            &fx.id("tn_split_shipped_rtm"),
            "v3-upgrade-ev-5",
            "delivered",
            "2026-12-08T14:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "shipped", "one parcel of two: {ack}");
    let ack = api
        .scan(
            &tn_ss_ams,
            "v3-upgrade-ev-6",
            "delivered",
            "2026-12-08T15:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");

    let ack = api
        .scan(
            &fx.id("tn_split_part_cancelled_rtm"),
            "v3-upgrade-ev-7",
            "delivered",
            "2026-12-08T16:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");
    let part = api.order(&fx.id("split_part_cancelled")).await;
    assert_eq!(shipments_of(&part), ["ams:cancelled", "rtm:delivered"]);
}

/// v3's orders carry on: the weighted one booked with DHL over HTTP (the local carrier) on its
/// plan, the express one with PostNL's evening service, both handed over; the HTTP-booked one
/// handed over on its stored booking and delivered by DHL's scan; the one in transit delivered
/// by PostNL's codes; the late and overdue ones delivered.
async fn v3_orders_walk_on(api: &Api, carrier: &LocalCarrier, fx: &Fixture<'_>) {
    let weighted = fx.id("weighted");
    api.pick_all(&weighted, "ams").await;
    let packed = api
        .warehouse()
        .post(
            &format!("/v1/orders/{weighted}/pack"),
            &json!({"warehouse": "ams", "parcels": [{"weight_grams": 4000}]}),
        )
        .await
        .expect(200, "pack the weighted order")
        .json;
    let s = &packed["shipments"][0];
    assert_eq!(
        (
            &s["booking"]["carrier"],
            &s["booking"]["service"],
            &s["plan"]["price"]["amount"],
            &s["plan"]["rule"]
        ),
        (
            &json!("dhl"),
            &json!("europlus"),
            &json!(750),
            &json!("cheapest")
        ),
        "{packed}"
    );
    let tn_weighted = str_of(&s["booking"]["tracking_number"]);
    let asked: Vec<_> = carrier
        .requests()
        .into_iter()
        .filter(|r| r.answered < 300)
        .collect();
    assert_eq!(asked.len(), 1, "one booking with DHL: {asked:?}");
    assert_eq!(
        asked[0].idempotency_key.as_deref(),
        Some(format!("{weighted}-1").as_str())
    );
    assert_eq!(asked[0].body["service"], "europlus");
    assert_eq!(api.handover(&weighted).await["status"], "shipped");
    let ack = dhl_scan(api, &tn_weighted, "v3-upgrade-ev-8", "delivered").await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");

    let express = fx.id("express");
    api.pick_all(&express, "ams").await;
    let packed = api.pack(&express, "ams").await;
    let s = &packed["shipments"][0];
    assert_eq!(
        (
            &s["booking"]["carrier"],
            &s["booking"]["service"],
            &s["plan"]["price"]["amount"]
        ),
        (&json!("postnl"), &json!("evening"), &json!(1295)),
        "{packed}"
    );
    assert_eq!(api.handover(&express).await["status"], "shipped");

    // The booking DHL made for the fixture's writer: handed over, delivered by DHL's scan.
    let http = fx.id("booked_http");
    let shipped = api.handover(&http).await;
    assert_eq!(shipped["status"], "shipped", "{shipped}");
    assert_eq!(
        shipped["shipments"][0]["booking"]["tracking_number"],
        fx.id("tn_booked_http").as_str()
    );
    let ack = dhl_scan(
        api,
        &fx.id("tn_booked_http"),
        "v3-upgrade-ev-9",
        "delivered",
    )
    .await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");

    // PostNL's codes: J05 (out for delivery), then I01 (delivered).
    let tn = fx.id("tn_in_transit");
    for (event, code, status) in [
        ("v3-upgrade-ev-10", "J05", "shipped"),
        ("v3-upgrade-ev-11", "I01", "delivered"),
    ] {
        let ack = api
            .postnl()
            .post(
                "/v1/carriers/postnl/events",
                &json!({"event_id": event, "tracking_number": tn, "code": code,
                        "occurred_at": "2026-12-08T17:00:00Z"}),
            )
            .await
            .expect(200, "PostNL's code")
            .json;
        assert_eq!(ack["order_status"], status, "{code}: {ack}");
    }
    let o = api.order(&fx.id("in_transit")).await;
    let scans = events(&o, "carrier_scanned");
    assert_eq!(
        scans
            .iter()
            .map(|e| (str_of(&e["code"]), str_of(&e["kind"])))
            .collect::<Vec<_>>(),
        [
            ("J01", "in_transit"),
            ("Z42", "unknown"),
            ("J05", "out_for_delivery"),
            ("I01", "delivered")
        ]
        .map(|(c, k)| (c.to_string(), k.to_string())),
        "{o}"
    );

    for (name, event) in [
        ("late", "v3-upgrade-ev-12"),
        ("overdue", "v3-upgrade-ev-13"),
    ] {
        let ack = api
            .scan(
                &fx.id(&format!("tn_{name}")),
                event,
                "delivered",
                "2026-12-08T18:00:00Z",
            )
            .await;
        assert_eq!(ack["order_status"], "delivered", "{name}: {ack}");
        let o = api.order(&fx.id(name)).await;
        assert_eq!(count_events(&o, "delayed"), 1, "delayed once: {o}");
    }
}

/// Stock arrives for SKU-7: the oldest backordered order is filled first and confirms by
/// itself, with a plan worked out from when its stock came; then the later one.
async fn backorders_fill(api: &Api, fx: &Fixture<'_>) {
    api.set_stock("ams", "SKU-7", 3).await;
    let confirmed = api.wait_status(&fx.id("backordered"), "confirmed").await;
    assert_eq!(shipments_of(&confirmed), ["ams:allocated"], "{confirmed}");
    let plan = &confirmed["shipments"][0]["plan"];
    assert_eq!(
        (&plan["carrier"], &plan["price"]["amount"], &plan["rule"]),
        (&json!("postnl"), &json!(695), &json!("cheapest")),
        "{confirmed}"
    );
    assert!(
        broken_at(&plan["promise"]) > Utc::now(),
        "a promise from when the stock came: {confirmed}"
    );
    let later = api.order(&fx.id("backordered_later")).await;
    assert_eq!(later["stock"], "backordered", "{later}");
    api.set_stock("ams", "SKU-7", 4).await;
    let confirmed = api
        .wait_status(&fx.id("backordered_later"), "confirmed")
        .await;
    assert_eq!(
        confirmed["shipments"][0]["plan"]["rule"], "cash on delivery by PostNL",
        "{confirmed}"
    );
    assert_eq!(
        sku_backorders(api, "SKU-7").await,
        json!({"sku": "SKU-7", "allowed": true, "cap": 10, "waiting": 0})
    );
}

/// The transfer under way is received in full; the waiting subscription is still there (the
/// same one answers a repeat) and is told once SKU-10 arrives.
async fn transfers_and_alerts_carry_on(api: &Api, receiver: &Receiver, fx: &Fixture<'_>) {
    let transfer_id = fx.id("transfer_open");
    let received = api
        .warehouse()
        .post(
            &format!("/v1/transfers/{transfer_id}/receive"),
            &json!({"lines": [{"sku": "SKU-9", "quantity": 2}]}),
        )
        .await
        .expect(200, "the rest of the transfer received")
        .json;
    assert_eq!(received["status"], "received", "{received}");
    assert_eq!(received["receipts"].as_array().map(Vec::len), Some(2));

    let again = api
        .storefront()
        .post(
            "/v1/stock-subscriptions",
            &json!({"sku": "SKU-10", "contact": "jan@example.nl"}),
        )
        .await
        .expect(200, "the same subscription");
    let subscription = str_of(&again.json["id"]);
    api.set_stock("ams", "SKU-10", 2).await;
    let told = wait_until("the subscriber is told SKU-10 is back", || async {
        receiver
            .hooks()
            .into_iter()
            .find(|h| h.answered == 200 && h.json()["type"] == "stock.back_in_stock")
            .map(|h| h.json())
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    assert_eq!(
        (
            &told["data"]["sku"],
            &told["data"]["contact"],
            &told["data"]["subscription_id"]
        ),
        (
            &json!("SKU-10"),
            &json!("jan@example.nl"),
            &json!(subscription)
        ),
        "{told}"
    );
}

async fn dhl_scan(api: &Api, tracking_number: &str, event_id: &str, kind: &str) -> Value {
    api.dhl()
        .post(
            "/v1/carriers/dhl/events",
            &json!({"event_id": event_id, "tracking_number": tracking_number, "type": kind,
                    "occurred_at": "2026-12-08T18:00:00Z"}),
        )
        .await
        .expect(200, "DHL's event")
        .json
}

async fn tracking_page(api: &Api, order: &Value) -> Value {
    api.anon()
        .get(&format!("/v1/track/{}", str_of(&order["tracking_token"])))
        .await
        .expect(200, "tracking page")
        .json
}

async fn transfer(api: &Api, id: &str) -> Value {
    api.admin()
        .get(&format!("/v1/transfers/{id}"))
        .await
        .expect(200, "a transfer")
        .json
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

/// The order's history events of `kind`, in order.
fn events<'a>(order: &'a Value, kind: &str) -> Vec<&'a Value> {
    order["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|e| e["type"] == kind)
        .collect()
}

fn first_event<'a>(order: &'a Value, kind: &str) -> &'a Value {
    events(order, kind)
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no {kind} in {order}"))
}

fn last_event<'a>(order: &'a Value, kind: &str) -> &'a Value {
    events(order, kind)
        .last()
        .copied()
        .unwrap_or_else(|| panic!("no {kind} in {order}"))
}
