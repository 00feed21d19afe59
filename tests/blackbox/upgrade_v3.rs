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
//! the late shipment is `delayed`; v2's split and backordered orders, the stock (incoming units
//! included), the skus' backorder records and availability (as upgrade_v2 checks them), the
//! reorder point and its alert, the transfers and the idempotency records (orders and
//! transfers) read as left. Then the service's own work: the overdue shipment's promise
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
use crate::upgrade_v2::{self, CONFIRMED};
use crate::upgrade_walk::*;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use orderly_testkit::carrier::LocalCarrier;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// What v3's scenario added to v2's orders (`upgrade_v2::ORDERS`), as left.
pub(crate) const ADDED: &[Left] = &[
    ("weighted", "confirmed", &["ams:allocated"], &[CONFIRMED]),
    ("express", "confirmed", &["ams:allocated"], &[CONFIRMED]),
    (
        "booked_http",
        "packed",
        &["ams:packed"],
        &[CONFIRMED, PACKING],
    ),
    (
        "in_transit",
        "shipped",
        &["ams:shipped"],
        &[CONFIRMED, PACKING, SENT, &["carrier_scanned"]],
    ),
    (
        "late",
        "shipped",
        &["ams:shipped"],
        &[CONFIRMED, PACKING, SENT, &["delayed"]],
    ),
    (
        "cancelled_booked",
        "cancelled",
        &["ams:cancelled"],
        &[CONFIRMED, PACKING, &["cancelled", "refund_issued"]],
    ),
    (
        "overdue",
        "shipped",
        &["ams:shipped"],
        &[CONFIRMED, PACKING, SENT],
    ),
];

/// The orders of the scenario: v2's, and what v3 added.
fn orders() -> Vec<Left> {
    [upgrade_v2::ORDERS, ADDED].concat()
}

/// The webhook notifications each order had pending: every customer-visible moment it went
/// through, none delivered (the script's receiver was never there); v2's orders as upgrade_v2
/// has them. `delayed` goes to the customer and to operations (`OPS_DELAYED`).
pub(crate) fn pending_notifications(name: &str) -> &'static [&'static str] {
    match name {
        "weighted" | "express" | "booked_http" => &["confirmed"],
        "cancelled_booked" => &["confirmed", "cancelled", "refunded"],
        "in_transit" | "overdue" => &["confirmed", "shipped"],
        "late" => &["confirmed", "shipped", "delayed", OPS_DELAYED],
        _ => upgrade_v2::pending_notifications(name),
    }
}

/// A `delayed` notification to operations (the shop's webhook, under an
/// `operations.webhook` message id).
const OPS_DELAYED: &str = "ops:delayed";

/// The two notifications of a `delayed` the service records: to the customer and to
/// operations.
pub(crate) fn delay_notes(order: &str) -> [Note; 2] {
    [
        Note::order(order, "delayed"),
        Note::order(order, OPS_DELAYED),
    ]
}

const SKUS: &[&str] = &[
    "SKU-1", "SKU-2", "SKU-3", "SKU-4", "SKU-5", "SKU-6", "SKU-7", "SKU-8", "SKU-9", "SKU-10",
];

/// The stock cells the script left beyond v2's (`upgrade_v2::STOCK_AS_LEFT`; the cancelled
/// transfer put its 2 SKU-1 back at rtm): SKU-9 in ams, 30 counted: 3 sent to rtm (1 received
/// there, 2 incoming), 3 handed over (in_transit, late, overdue), 4 held by weighted (2),
/// express and booked_http. SKU-8 and SKU-10 are in no warehouse.
pub(crate) const ADDED_AS_LEFT: &[Cell] = &[("ams", "SKU-9", 24, 4, 0), ("rtm", "SKU-9", 1, 0, 2)];

/// The same once everything carried on, beyond v2's moves (`upgrade_v2::STOCK_CARRIED_ON`):
/// weighted, express and booked_http handed over (4 SKU-9 from ams), the open transfer's last
/// 2 SKU-9 received at rtm, and SKU-10 counted in at ams.
pub(crate) const ADDED_CARRIED_ON: &[Cell] = &[
    ("ams", "SKU-9", 20, 0, 0),
    ("ams", "SKU-10", 2, 0, 0),
    ("rtm", "SKU-9", 3, 0, 0),
];

/// The node id the PostgreSQL fixture was written by (`make-v3-data.sh`); the test's node has
/// another name, so it takes the dead writer's pending work over.
const FIXTURE_NODE: &str = "v3-fixture-node";

/// The key DHL's local carrier expects.
pub(crate) const CARRIER_KEY: &str = "v3-upgrade-dhl-key-0001";

/// The date the script's carrier scans gave `late` and `overdue`: already past.
const PAST: &str = "2026-11-30";

#[actix_rt::test]
async fn a_sled_data_directory_of_the_v3_release_opens_and_serves() {
    let ids = orderly_testkit::fixture::v3_ids();
    let (_work, data) = data_copy(orderly_testkit::fixture::copy_v3_data);
    serves(Some(&data), "", &ids).await;
}

#[actix_rt::test]
async fn a_postgres_database_of_the_v3_release_opens_and_serves() {
    let Some((pg, url, db)) = restored_dump(
        "a_postgres_database_of_the_v3_release_opens_and_serves",
        "v3_fixture",
        &orderly_testkit::fixture::v3_postgres_sql(),
        FIXTURE_NODE,
        "1,2,3,4,5,6,7",
    ) else {
        return;
    };
    let ids = orderly_testkit::fixture::v3_postgres_ids();
    // The writer left its work pending: the cancellation DHL never took, the promise timer
    // that fell due while it was down (its promise, revised to 2026-11-30, broke at the start
    // of 1 December in Amsterdam).
    for (what, query) in [
        (
            "the pending cancel_bookings",
            format!(
                "SELECT count(*) FROM outbox WHERE order_id = '{}' AND message_id LIKE '%cancel_bookings%'",
                ids["cancelled_booked"]
            ),
        ),
        (
            "the overdue promise timer",
            format!(
                "SELECT count(*) FROM timers WHERE order_id = '{}' AND kind = 'promise_due' AND due = '2026-11-30 23:00:00+00'",
                ids["overdue"]
            ),
        ),
    ] {
        assert_eq!(pg.psql(&db, &query).unwrap().trim(), "1", "{what}");
    }
    let node = crate::nodes::postgres_toml(&url, "v3-upgrade-node");
    serves(None, &node, &ids).await;
}

/// The whole check on a service started on the fixture (the data directory `data`, or the
/// database `node_toml` names), with a receiver as its webhook and DHL's local carrier.
async fn serves(data: Option<&std::path::Path>, node_toml: &str, ids: &BTreeMap<String, String>) {
    let receiver = Receiver::start(0).await;
    let carrier = LocalCarrier::start(CARRIER_KEY, 0, None)
        .await
        .expect("DHL's local carrier");
    let config = format!("{node_toml}{}", receiver.config(100));
    // Anything the service records from here on is its own doing, not the fixture's.
    let opened = chrono::Utc::now();
    let server = Upgraded::start(data, &config, &carrier).await;
    opens_and_serves(&server.api(), &receiver, &carrier, ids, opened).await;
    drop(server);
    carrier.stop().await;
    receiver.stop().await;
}

/// The service started on a fixture with `config.toml` (this tree's) and DHL booked over HTTP
/// at a local carrier: the carrier the fixture's pending cancellation goes to, and the one
/// new DHL bookings are made with. Its log is printed if the test fails.
pub(crate) struct Upgraded(pub(crate) orderly_testkit::Service);

impl Upgraded {
    pub(crate) async fn start(
        data: Option<&std::path::Path>,
        extra_toml: &str,
        dhl: &LocalCarrier,
    ) -> Self {
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

    pub(crate) fn api(&self) -> Api {
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
    opened: chrono::DateTime<chrono::Utc>,
) {
    let orders = orders();
    let fx = Fixture {
        api,
        ids,
        skus: SKUS,
        release: "v3",
        scans_on: "2026-12-08",
        new_events: &["delayed"],
        opened,
    };
    let id = |name: &str| fx.id(name);
    fx.has_orders(orders.iter().map(|o| o.0));

    // Which promises have passed: those must be recorded `delayed` by their timers, those
    // that have not must not be, and those breaking about now may be.
    let delays = Delays::work_out(&fx, &orders).await;

    // Every order answers with its status, its shipments, its whole history (but for the
    // `delayed` its timers record from now on) and its tracking page. Every shipment allocated
    // has its plan, as recorded; the order's promise is its shipments' last.
    for (name, o, page) in fx.orders_answer_as_left(&orders).await {
        plans_as_recorded(name, &o);
        if o["shipments"].as_array().is_some_and(|s| !s.is_empty()) && name != "timed_out" {
            assert_eq!(page["promised"], o["promised"], "{name}'s tracking page");
        }
    }
    upgrade_v2::orders_as_stored(&fx).await;
    let first = api.order(&id("backordered")).await;
    assert!(
        first["promised"].is_null(),
        "nothing to promise yet: {first}"
    );
    v3_orders_as_stored(&fx).await;

    // Listed under their statuses; the shipments still to pick on their warehouses' lists.
    fx.listed_under_statuses(orders.iter().map(|o| (o.0, o.1)))
        .await;
    fx.pick_lists_are(&[
        (
            "ams",
            &["confirmed", "cod", "split_shipped", "weighted", "express"],
        ),
        ("rtm", &["confirmed_rtm", "partially_picked", "split"]),
    ])
    .await;

    fx.stock_is_as_left(&[upgrade_v2::STOCK_AS_LEFT, ADDED_AS_LEFT].concat())
        .await;
    upgrade_v2::stock_records_as_left(&fx).await;
    stock_records_as_left(&fx).await;

    stored_idempotency_replays(api, "fx3-confirmed", &id("confirmed")).await;
    // The weighted order's record covers its weight: the same body replays, one without the
    // weight is another request.
    let light = fixture_body("fx3-weighted", "card", "captured", &[("SKU-9", 2)]);
    let mut weighted = light.clone();
    weighted["shipping"]["weight_grams"] = json!(4000);
    Record::placement("fx3-weighted", weighted, light)
        .replays(api, &id("weighted"))
        .await;

    // The service's own work: the promise timers due (the overdue order's, and any that
    // passed since the fixture was written) record `delayed`, once; the timed-out order is
    // cancelled (its promise timer may have recorded `delayed` first); DHL is told of the
    // cancelled booking.
    delays.are_recorded(api).await;
    delayed_by_timer(&api.order(&id("overdue")).await);
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

    // The pending notifications reach the receiver, signed, under their stored message ids;
    // the timed-out order's cancellation, the new delays and the low-stock alert follow them.
    let mut expected = fx.pending_notes(orders.iter().map(|o| o.0), pending_notifications);
    assert_eq!(expected.len(), 46);
    expected.insert(Note::order(&id("timed_out"), "cancelled"));
    expected.extend(delays.must.iter().flat_map(|o| delay_notes(o)));
    expected.insert(Note::low_stock("ams", "SKU-9"));
    let mut allowed = expected.clone();
    allowed.extend(delays.may.iter().flat_map(|o| delay_notes(o)));
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

    // Everything carries on: v1's orders (booked on the rules of the day, the plan revised by
    // the booking), v2's, v3's; the backorders fill with plans of their own.
    fx.v1_orders_walk_on(&[CONFIRMED, PACKING].concat()).await;
    for name in ["confirmed", "confirmed_rtm"] {
        plans_as_recorded(name, &api.order(&id(name)).await);
    }
    upgrade_v2::orders_walk_on(&fx).await;
    v3_orders_walk_on(&fx, carrier).await;
    let [first, later] = upgrade_v2::backorders_fill(&fx).await;
    let plan = &first["shipments"][0]["plan"];
    assert_eq!(
        fields(plan, &["carrier", "price/amount", "rule"]),
        json!(["postnl", 695, "cheapest"]),
        "{first}"
    );
    assert!(
        broken_at(&plan["promise"]) > Utc::now(),
        "a promise from when the stock came: {first}"
    );
    assert_eq!(
        later["shipments"][0]["plan"]["rule"], "cash on delivery by PostNL",
        "{later}"
    );
    transfers_and_alerts_carry_on(api, receiver, &fx).await;

    // Nothing left to pick but the cod order and the two filled backorders; the stock moved
    // by exactly what went out, came back and was counted.
    fx.pick_lists_are(&[
        ("ams", &["cod", "backordered", "backordered_later"]),
        ("rtm", &[]),
    ])
    .await;
    fx.stock_reaches(
        "the stock after the orders carried on",
        &[upgrade_v2::STOCK_CARRIED_ON, ADDED_CARRIED_ON].concat(),
    )
    .await;
    // No promise broke while the test ran (but those breaking about now), and nothing was
    // dead-lettered.
    delays.none_but_recorded(&fx, &orders).await;
    nothing_dead_lettered(api).await;
}

/// The order's one shipment is `delayed`, recorded once by its promise timer with the day it
/// was promised for (`PAST`).
pub(crate) fn delayed_by_timer(o: &Value) {
    assert_eq!(o["shipments"][0]["delayed"], true, "{o}");
    assert_eq!(
        fields(last_event(o, "delayed"), &["by", "shipment", "promised"]),
        json!(["promise_timer", 1, PAST]),
        "{o}"
    );
}

/// What v3 added, as stored: plans chosen by the carrier rules, bookings with their price,
/// rule, promise (and the HTTP carrier's tracking number, label and date), PostNL's own codes,
/// the dates carriers gave, the late shipment `delayed`, the cancelled booking.
async fn v3_orders_as_stored(fx: &Fixture<'_>) {
    let (api, id) = (fx.api, |name: &str| fx.id(name));
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
            fields(plan, &["carrier", "service", "price", "rule"]),
            json!([carrier, service, {"amount": price, "currency": "EUR"}, rule]),
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
        fields(booked, &["carrier", "service", "price/amount", "rule"]),
        json!(["postnl", "standard", 695, "cheapest"]),
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
        fields(
            s,
            &[
                "last_scan",
                "last_location",
                "delayed",
                "plan/promise/earliest",
                "plan/promise/latest"
            ]
        ),
        json!([
            "in_transit",
            "Nieuwegein",
            false,
            "2099-01-05",
            "2099-01-05"
        ]),
        "{in_transit}"
    );
    let scans: Vec<Value> = events(&in_transit, "carrier_scanned")
        .into_iter()
        .map(|e| fields(e, &["kind", "code", "description", "estimated_delivery"]))
        .collect();
    assert_eq!(
        scans,
        [
            json!(["in_transit", "J01", "Zending is onderweg", "2099-01-05"]),
            json!(["unknown", "Z42", "Sorteerafwijking", null])
        ],
        "{in_transit}"
    );
    let page = tracking_page(api, &in_transit).await;
    assert_eq!(page["promised"]["latest"], "2099-01-05", "{page}");

    // Late: the carrier's date was already past; its timer recorded `delayed` once, by the
    // promise timer, with the day it was promised for; the tracking page says so.
    let late = api.order(&id("late")).await;
    assert_eq!(late["shipments"][0]["plan"]["promise"]["latest"], PAST);
    delayed_by_timer(&late);
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
    assert_eq!(
        fields(
            &cancelled,
            &[
                "shipments/0/booking/carrier",
                "shipments/0/booking/tracking_number",
                "refunded/amount",
                "cancellation/reason"
            ]
        ),
        json!([
            "dhl",
            id("tn_cancelled_booked"),
            1999,
            "found it cheaper elsewhere"
        ]),
        "{cancelled}"
    );
}

/// Every shipment with a plan has the one its allocation recorded, unless a booking or a
/// carrier's date revised its window since (then the booking's, or the date); only shipments
/// of backordered orders (none yet) lack one.
pub(crate) fn plans_as_recorded(name: &str, o: &Value) {
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
pub(crate) struct Delays {
    pub(crate) must: BTreeSet<String>,
    pub(crate) may: BTreeSet<String>,
    /// The `delayed` events each order had as stored.
    stored: BTreeMap<String, usize>,
}

impl Delays {
    /// How far around now a promise breaking is left undecided.
    const MARGIN_MINUTES: i64 = 10;

    pub(crate) async fn work_out(fx: &Fixture<'_>, orders: &[Left]) -> Delays {
        let now = Utc::now();
        let mut must = BTreeSet::new();
        let mut may = BTreeSet::new();
        let mut stored = BTreeMap::new();
        for &(name, _, _, types) in orders {
            let types = types.concat();
            let id = fx.id(name);
            let o = fx.api.order(&id).await;
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
    pub(crate) async fn are_recorded(&self, api: &Api) {
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
    pub(crate) async fn none_but_recorded(&self, fx: &Fixture<'_>, orders: &[Left]) {
        for &(name, ..) in orders {
            let id = fx.id(name);
            let o = fx.api.order(&id).await;
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

/// The skus' records v3 added to v2's (`upgrade_v2::stock_records_as_left`): SKU-9's
/// availability (incoming units included), the reorder point and its alert, the transfers (one
/// under way, one called off) and their idempotency records, as the script left them.
async fn stock_records_as_left(fx: &Fixture<'_>) {
    let api = fx.api;
    let seen = availability(api, Key::Admin, &["SKU-9"]).await;
    assert_eq!(
        seen["SKU-9"]["warehouses"],
        json!([
            {"warehouse": "ams", "on_hand": 24, "reserved": 4, "available": 20, "incoming": 0},
            {"warehouse": "rtm", "on_hand": 1, "reserved": 0, "available": 1, "incoming": 2}
        ]),
        "{seen:?}"
    );
    assert_eq!(
        fields(&seen["SKU-9"], &["available", "incoming"]),
        json!([21, 2]),
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
    for (name, want) in [
        ("transfer_open", json!(["ams", "rtm", "dispatched"])),
        ("transfer_cancelled", json!(["rtm", "ams", "cancelled"])),
    ] {
        let t = transfer(api, &fx.id(name)).await;
        assert_eq!(fields(&t, &["from", "to", "status"]), want, "{name}: {t}");
    }
    let open = transfer(api, &fx.id("transfer_open")).await;
    assert_eq!(
        open["lines"],
        json!([{"sku": "SKU-9", "quantity": 3, "received": 1, "in_transit": 2}])
    );
    assert_eq!(open["receipts"].as_array().map(Vec::len), Some(1), "{open}");
    // The same key and body answer the same transfer; another body is refused.
    let body = |quantity: u32| json!({"from": "ams", "to": "rtm", "lines": [{"sku": "SKU-9", "quantity": quantity}]});
    Record {
        who: Key::Admin,
        path: "/v1/transfers",
        key: "fx3-transfer-open",
        status: 200,
        body: body(3),
        other: body(1),
    }
    .replays(api, &fx.id("transfer_open"))
    .await;
}

/// v3's orders carry on: the weighted one booked with DHL over HTTP (the local carrier) on its
/// plan, the express one with PostNL's evening service, both handed over; the HTTP-booked one
/// handed over on its stored booking; both DHL bookings delivered by DHL's scans; the one in
/// transit delivered by PostNL's codes; the late and overdue ones delivered.
pub(crate) async fn v3_orders_walk_on(fx: &Fixture<'_>, carrier: &LocalCarrier) {
    let api = fx.api;
    for (name, grams, booked) in [
        (
            "weighted",
            4000,
            json!(["dhl", "europlus", 750, "cheapest"]),
        ),
        (
            "express",
            1200,
            json!(["postnl", "evening", 1295, "cheapest"]),
        ),
    ] {
        let order = fx.id(name);
        api.pick_all(&order, "ams").await;
        let packed = api
            .warehouse()
            .post(
                &format!("/v1/orders/{order}/pack"),
                &json!({"warehouse": "ams", "parcels": [{"weight_grams": grams}]}),
            )
            .await
            .expect(200, &format!("pack {name}"))
            .json;
        assert_eq!(
            fields(
                &packed["shipments"][0],
                &[
                    "booking/carrier",
                    "booking/service",
                    "plan/price/amount",
                    "plan/rule"
                ]
            ),
            booked,
            "{name}: {packed}"
        );
        assert_eq!(api.handover(&order).await["status"], "shipped", "{name}");
    }
    let asked: Vec<_> = carrier
        .requests()
        .into_iter()
        .filter(|r| r.answered < 300)
        .collect();
    assert_eq!(asked.len(), 1, "one booking with DHL: {asked:?}");
    assert_eq!(
        asked[0].idempotency_key.as_deref(),
        Some(format!("{}-1", fx.id("weighted")).as_str())
    );
    assert_eq!(asked[0].body["service"], "europlus");

    // The booking DHL made for the fixture's writer: handed over; then both DHL bookings
    // delivered by DHL's scans.
    let shipped = api.handover(&fx.id("booked_http")).await;
    assert_eq!(shipped["status"], "shipped", "{shipped}");
    assert_eq!(
        shipped["shipments"][0]["booking"]["tracking_number"],
        fx.id("tn_booked_http").as_str()
    );
    for (name, n) in [("weighted", 8), ("booked_http", 9)] {
        let o = api.order(&fx.id(name)).await;
        let tn = str_of(&o["shipments"][0]["booking"]["tracking_number"]);
        let ack = api
            .dhl()
            .post(
                "/v1/carriers/dhl/events",
                &json!({"event_id": fx.scan_event(n), "tracking_number": tn, "type": "delivered",
                        "occurred_at": fx.scan_time(18)}),
            )
            .await
            .expect(200, "DHL's event")
            .json;
        assert_eq!(ack["order_status"], "delivered", "{name}: {ack}");
    }

    // PostNL's codes: J05 (out for delivery), then I01 (delivered).
    let tn = fx.id("tn_in_transit");
    for (n, code, status) in [(10, "J05", "shipped"), (11, "I01", "delivered")] {
        let ack = api
            .postnl()
            .post(
                "/v1/carriers/postnl/events",
                &json!({"event_id": fx.scan_event(n), "tracking_number": tn, "code": code,
                        "occurred_at": fx.scan_time(17)}),
            )
            .await
            .expect(200, "PostNL's code")
            .json;
        assert_eq!(ack["order_status"], status, "{code}: {ack}");
    }
    let o = api.order(&fx.id("in_transit")).await;
    let scans: Vec<Value> = events(&o, "carrier_scanned")
        .into_iter()
        .map(|e| fields(e, &["code", "kind"]))
        .collect();
    assert_eq!(
        scans,
        [
            json!(["J01", "in_transit"]),
            json!(["Z42", "unknown"]),
            json!(["J05", "out_for_delivery"]),
            json!(["I01", "delivered"])
        ],
        "{o}"
    );

    for (name, n) in [("late", 12), ("overdue", 13)] {
        fx.scan_answers(&format!("tn_{name}"), n, "delivered", "delivered")
            .await;
        let o = api.order(&fx.id(name)).await;
        assert_eq!(count_events(&o, "delayed"), 1, "delayed once: {o}");
    }
}

/// The transfer under way is received in full; the waiting subscription is still there (the
/// same one answers a repeat) and is told once SKU-10 arrives.
pub(crate) async fn transfers_and_alerts_carry_on(
    api: &Api,
    receiver: &Receiver,
    fx: &Fixture<'_>,
) {
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

async fn transfer(api: &Api, id: &str) -> Value {
    api.admin()
        .get(&format!("/v1/transfers/{id}"))
        .await
        .expect(200, "a transfer")
        .json
}

/// The order's history events of `kind`, in order.
pub(crate) fn events<'a>(order: &'a Value, kind: &str) -> Vec<&'a Value> {
    order["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|e| e["type"] == kind)
        .collect()
}

pub(crate) fn first_event<'a>(order: &'a Value, kind: &str) -> &'a Value {
    events(order, kind)
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no {kind} in {order}"))
}

pub(crate) fn last_event<'a>(order: &'a Value, kind: &str) -> &'a Value {
    events(order, kind)
        .last()
        .copied()
        .unwrap_or_else(|| panic!("no {kind} in {order}"))
}
