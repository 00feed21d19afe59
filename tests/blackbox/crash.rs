//! Durability under SIGKILL: whatever the service acknowledged must survive a crash exactly,
//! and work it had started must finish after the restart without running twice.
//!
//! The first test parks orders in every status, kills the process with SIGKILL and checks each
//! order reads back byte-for-byte the same (and still moves on afterwards). The others kill it
//! in the middle of a burst of 200 concurrent placements — of one warehouse's orders, and of
//! orders split over two warehouses: every 201 must be there afterwards, retrying the
//! unanswered requests with their Idempotency-Keys must not create duplicates, every history
//! must be 1..n with each step once, every order must have the shipments its allocation made,
//! and every stock cell's reserved units must be what the orders' shipments hold there.
//!
//! What the service acknowledged is checked with the shared crash checker
//! (`orderly_testkit::crash`, the one the crash harness uses): version and status at least what
//! a 2xx said, history 1..n, each one-time step at most once.

use crate::support::*;
use orderly_testkit::{AckLog, CheckReport, Checker};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const STATUSES: [&str; 7] = [
    "placed",
    "confirmed",
    "packed",
    "shipped",
    "delivered",
    "cancelled",
    "returned",
];

async fn wait_stock_settled(api: &Api, id: &str) -> Value {
    wait_until(&format!("order {id} has its stock answer"), || async move {
        let o = api.order(id).await;
        if o["stock"] != "pending" {
            Ok(o)
        } else {
            Err(o["stock"].to_string())
        }
    })
    .await
}

/// Reads every acknowledged order back and checks it against what was acknowledged.
async fn check_acknowledged(server: &Server, acks: &AckLog) -> CheckReport {
    let report = Checker::new(&server.base_url(), STOREFRONT_KEY)
        .verify(&acks.all())
        .await;
    assert_eq!(report.checked, acks.orders() as u64);
    assert!(
        report.is_clean(),
        "{} acknowledged changes lost or moved backwards, {} repeats: {:#?}",
        report.lost(),
        report.repeats(),
        report.violations
    );
    report
}

async fn stock_expect(api: &Api, sku: &'static str, on_hand: i64, reserved: i64) -> Value {
    wait_until(
        &format!("{sku} has on_hand {on_hand} and reserved {reserved}"),
        || async move {
            let s = api.stock(sku).await;
            if s["on_hand"] == on_hand && s["reserved"] == reserved {
                Ok(s)
            } else {
                Err(s.to_string())
            }
        },
    )
    .await
}

#[actix_rt::test]
async fn every_status_survives_kill9() {
    let mut server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "MUG-RED", 100).await;
    api.set_stock("ams", "TEE-M", 100).await;
    let body =
        |payment: (&str, &str)| order_body(&[("MUG-RED", 2, 1250), ("TEE-M", 1, 4999)], payment);

    let plan = [
        ("placed", ("card", "pending")),
        ("confirmed", ("card", "captured")),
        ("packed", ("card", "captured")),
        ("shipped", ("card", "captured")),
        ("delivered", ("cod", "pending")),
        ("cancelled", ("card", "authorized")),
        ("returned", ("card", "captured")),
    ];
    let mut orders: BTreeMap<&str, (String, String)> = BTreeMap::new(); // status -> (id, idempotency key)
    for (status, payment) in plan {
        let key = new_key();
        let id = str_of(&api.place(&key, &body(payment)).await["id"]);
        orders.insert(status, (id, key));
    }
    let id_of = |status: &str| orders[status].0.clone();
    let (placed, confirmed, packed, shipped) = (
        id_of("placed"),
        id_of("confirmed"),
        id_of("packed"),
        id_of("shipped"),
    );
    let (delivered, cancelled, returned) =
        (id_of("delivered"), id_of("cancelled"), id_of("returned"));

    wait_stock_settled(&api, &placed).await;
    for id in [
        &confirmed, &packed, &shipped, &delivered, &cancelled, &returned,
    ] {
        api.wait_status(id, "confirmed").await;
    }
    api.pick_all(&packed, "ams").await;
    api.pack(&packed, "ams").await;
    api.pick_all(&shipped, "ams").await;
    api.pack(&shipped, "ams").await;
    api.handover(&shipped).await;
    let delivered_order = api.deliver(&delivered, "ams").await;
    api.storefront()
        .post(
            &format!("/v1/orders/{cancelled}/cancel"),
            &json!({"reason": "changed my mind"}),
        )
        .await
        .expect(200, "cancel");
    api.deliver(&returned, "ams").await;
    api.storefront()
        .post(
            &format!("/v1/orders/{returned}/returns"),
            &json!({"lines": [{"sku": "TEE-M", "quantity": 1}], "reason": "too small"}),
        )
        .await
        .expect(200, "request return");
    api.warehouse()
        .post(
            &format!("/v1/orders/{returned}/returns/receive"),
            &json!({"warehouse": "ams", "lines": [{"sku": "TEE-M", "quantity": 1}]}),
        )
        .await
        .expect(200, "receive return");

    // Everything acknowledged; let the answers to effects settle, then take the picture.
    let mut before: BTreeMap<&str, Value> = BTreeMap::new();
    for (status, (id, _)) in &orders {
        before.insert(status, api.wait_status(id, status).await);
    }
    // placed, confirmed, packed hold 2 mugs and 1 tee each; shipped, delivered and returned
    // took theirs off the shelf; one tee came back.
    let mugs_before = stock_expect(&api, "MUG-RED", 94, 6).await;
    let tees_before = stock_expect(&api, "TEE-M", 98, 3).await;
    for status in STATUSES {
        assert_eq!(before[status]["status"], status);
    }
    drop(api);

    let mut acks = AckLog::new();
    for o in before.values() {
        assert!(acks.record(o), "{o}");
    }

    server.kill9();
    server.restart().await;
    let api = server.api();

    check_acknowledged(&server, &acks).await;
    for (status, (id, _)) in &orders {
        let after = api.order(id).await;
        assert_eq!(
            &after, &before[status],
            "the {status} order {id} changed across kill -9"
        );
    }
    assert_eq!(
        api.stock("MUG-RED").await,
        mugs_before,
        "stock changed across kill -9"
    );
    assert_eq!(
        api.stock("TEE-M").await,
        tees_before,
        "stock changed across kill -9"
    );

    // The same Idempotency-Key still returns the same order.
    let (placed_id, placed_key) = &orders["placed"];
    let replay = api
        .storefront()
        .idempotency(placed_key)
        .post("/v1/orders", &body(("card", "pending")))
        .await
        .expect(201, "replay");
    assert_eq!(&str_of(&replay.json["id"]), placed_id);
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );

    // A carrier event seen before the crash is still a duplicate after it.
    let tn = str_of(&delivered_order["shipments"][0]["booking"]["tracking_number"]);
    let ack = api
        .scan(
            &tn,
            &format!("ev-{delivered}-delivered"),
            "delivered",
            "2026-03-02T10:00:00Z",
        )
        .await;
    assert_eq!(
        (ack["order_status"].clone(), ack["applied"].clone()),
        (json!("delivered"), json!(false))
    );
    let token = str_of(&delivered_order["tracking_token"]);
    assert_eq!(
        api.anon()
            .get(&format!("/v1/track/{token}"))
            .await
            .expect(200, "tracking")
            .json["status"],
        "delivered"
    );

    // The order placed before the crash (stock reserved, card unpaid) confirms once paid.
    api.storefront()
        .post(
            &format!("/v1/orders/{placed}/payments"),
            &json!({"status": "captured", "amount": 7499, "reference": "psp-after-crash"}),
        )
        .await
        .expect(200, "pay after restart");
    let o = api.wait_status(&placed, "confirmed").await;
    assert_history_contiguous(&o);
    assert_eq!(count_events(&o, "allocated"), 1, "{}", o["history"]);
    stock_expect(&api, "MUG-RED", 94, 6).await;
}

/// What one burst request ended with.
#[derive(Debug, Clone)]
enum Outcome {
    Created(String),
    Failed(String),
}

/// What the orders of a burst look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One line, served from one warehouse.
    OneWarehouse,
    /// Two lines, one stocked only in `ams` and one only in `rtm`: every order is split into two
    /// shipments, its allocation one stock write over both warehouses' cells.
    Split,
}

impl Shape {
    /// The cells the burst draws on, each stocked with 10 000 units (more than it takes).
    fn cells(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Shape::OneWarehouse => &[("ams", "BURST-1")],
            Shape::Split => &[("ams", "BURST-A"), ("rtm", "BURST-B")],
        }
    }

    fn external_ref(self, i: usize) -> String {
        match self {
            Shape::OneWarehouse => format!("burst-{i}"),
            Shape::Split => format!("split-burst-{i}"),
        }
    }

    /// Order `i`: cash on delivery (confirms at once) or an unpaid card order, alternating.
    fn body(self, i: usize) -> Value {
        let payment = if i.is_multiple_of(2) {
            ("cod", "pending")
        } else {
            ("card", "pending")
        };
        let q = 1 + (i % 3) as u32;
        let mut b = match self {
            Shape::OneWarehouse => order_body(&[("BURST-1", q, 500)], payment),
            Shape::Split => order_body(&[("BURST-A", q, 500), ("BURST-B", 1, 700)], payment),
        };
        b["external_ref"] = json!(self.external_ref(i));
        b
    }

    /// What order `i` costs.
    fn total(self, i: usize) -> i64 {
        let q = 1 + (i % 3) as i64;
        match self {
            Shape::OneWarehouse => 500 * q,
            Shape::Split => 500 * q + 700,
        }
    }

    /// The shipments (`warehouse:status`) an allocated order of this shape has.
    fn shipments(self) -> Vec<String> {
        self.cells()
            .iter()
            .map(|(w, _)| format!("{w}:allocated"))
            .collect()
    }
}

fn burst_key(run: &str, i: usize) -> String {
    format!("burst-{run}-{i}")
}

#[actix_rt::test]
async fn kill9_during_a_burst_of_placements_loses_and_repeats_nothing() {
    kill9_during_a_burst(Shape::OneWarehouse).await;
}

#[actix_rt::test]
async fn kill9_during_a_burst_of_split_placements_loses_and_repeats_nothing() {
    kill9_during_a_burst(Shape::Split).await;
}

/// 200 concurrent placements of `shape`, SIGKILL once 50 are acknowledged, restart: every
/// acknowledged order is there at or past what it was acknowledged at, retried requests
/// create each missing order once, every order holds what its shipments say and the ledger's
/// reserved units in every cell are exactly what the orders' shipments hold there.
async fn kill9_during_a_burst(shape: Shape) {
    const N: usize = 200;
    const KILL_AFTER: usize = 50;
    let mut server = Server::start().await;
    let api = server.api();
    for (w, sku) in shape.cells() {
        api.set_stock(w, sku, 10_000).await;
    }
    let run = uuid::Uuid::new_v4().to_string();

    let acked = Arc::new(AtomicUsize::new(0));
    let acks: Arc<Mutex<AckLog>> = Arc::default();
    let outcomes: Arc<Mutex<BTreeMap<usize, Outcome>>> = Arc::default();
    let mut tasks = Vec::new();
    for i in 0..N {
        let (api, acked, acks, outcomes, key) = (
            api.clone(),
            acked.clone(),
            acks.clone(),
            outcomes.clone(),
            burst_key(&run, i),
        );
        tasks.push(actix_rt::spawn(async move {
            let r = api
                .storefront()
                .idempotency(&key)
                .try_send(
                    "POST",
                    "/v1/orders",
                    Some(("application/json", shape.body(i).to_string().into())),
                )
                .await;
            let outcome = match r {
                Ok(r) if r.status == 201 => {
                    acks.lock().unwrap().record(&r.json);
                    acked.fetch_add(1, Ordering::SeqCst);
                    Outcome::Created(str_of(&r.json["id"]))
                }
                Ok(r) => Outcome::Failed(format!("{} {}", r.status, r.text())),
                Err(e) => Outcome::Failed(e),
            };
            outcomes.lock().unwrap().insert(i, outcome);
        }));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while acked.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {N} placements answered in 30 s",
            acked.load(Ordering::SeqCst)
        );
        actix_rt::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill9();
    let acked_at_kill = acked.load(Ordering::SeqCst);
    for t in tasks {
        t.await
            .expect("a burst request task panicked (see above: a 500?)");
    }
    let outcomes = outcomes.lock().unwrap().clone();
    let created: BTreeMap<usize, String> = outcomes
        .iter()
        .filter_map(|(i, o)| {
            if let Outcome::Created(id) = o {
                Some((*i, id.clone()))
            } else {
                None
            }
        })
        .collect();
    eprintln!(
        "burst: {} acknowledged when killed, {} in all, {} without an answer",
        acked_at_kill,
        created.len(),
        N - created.len()
    );
    for o in outcomes.values() {
        if let Outcome::Failed(e) = o {
            assert!(!e.starts_with("4"), "a burst request was refused: {e}");
        }
    }
    drop(api);

    server.restart().await;
    let api = server.api();

    // Every acknowledged order is there.
    for (i, id) in &created {
        let o = api.order(id).await;
        assert!(
            STATUSES.contains(&o["status"].as_str().unwrap_or_default()),
            "{o}"
        );
        assert_eq!(
            o["external_ref"],
            shape.external_ref(*i),
            "acknowledged order {id} reads back as another order"
        );
    }
    // Asking again with the same key gives the same order.
    for (i, id) in created.iter().take(5) {
        let r = api
            .storefront()
            .idempotency(&burst_key(&run, *i))
            .post("/v1/orders", &shape.body(*i))
            .await
            .expect(201, "replay after crash");
        assert_eq!(
            &str_of(&r.json["id"]),
            id,
            "key burst-{i} now names another order"
        );
    }
    // Retrying the unanswered ones (as a client would) must not create a second order for any key.
    let mut by_key = created.clone();
    for i in (0..N).filter(|i| !created.contains_key(i)) {
        let r = api
            .storefront()
            .idempotency(&burst_key(&run, i))
            .post("/v1/orders", &shape.body(i))
            .await
            .expect(201, "retry after crash");
        acks.lock().unwrap().record(&r.json);
        by_key.insert(i, str_of(&r.json["id"]));
    }
    let all = wait_until("every order has its stock answer", || {
        let api = &api;
        async move {
            let all = api.all_orders(None).await;
            let pending = all.iter().filter(|o| o["stock"] == "pending").count();
            if pending == 0 {
                Ok(all)
            } else {
                Err(format!("{pending} orders still wait for stock"))
            }
        }
    })
    .await;
    let refs: Vec<String> = all.iter().map(|o| str_of(&o["external_ref"])).collect();
    let distinct: BTreeSet<&String> = refs.iter().collect();
    assert_eq!(
        distinct.len(),
        refs.len(),
        "some request created two orders"
    );
    assert_eq!(all.len(), N, "one order per Idempotency-Key");
    let listed: BTreeSet<String> = all.iter().map(|o| str_of(&o["id"])).collect();
    let wanted: BTreeSet<String> = by_key.values().cloned().collect();
    assert_eq!(listed, wanted);

    // Nothing acknowledged was lost and nothing ran twice: every order (all of them were
    // acknowledged, before the kill or on retry) is at or past its acknowledged version, its
    // history is 1..n, and each one-time step (placed, stock_reserved, stock_unavailable,
    // confirmed, cancelled, …) is there at most once.
    let acks = std::mem::take(&mut *acks.lock().unwrap());
    let acked_ids: BTreeSet<String> = acks.ids().cloned().collect();
    assert_eq!(acked_ids, listed, "every order was acknowledged once");
    for kind in [
        "placed",
        "allocated",
        "stock_unavailable",
        "confirmed",
        "cancelled",
    ] {
        assert!(orderly_testkit::crash::ONE_TIME_STEPS.contains(&kind));
    }
    check_acknowledged(&server, &acks).await;
    // Every order is allocated as its shape says, and each cell's reserved units are what the
    // orders' shipments hold there.
    let mut held: BTreeMap<(String, String), i64> = BTreeMap::new();
    for id in &listed {
        let o = api.order(id).await;
        assert_eq!(o["stock"], "reserved", "10 000 units cover the burst: {o}");
        let want = if o["payment"]["method"] == "cod" {
            "confirmed"
        } else {
            "placed"
        };
        assert_eq!(o["status"], want, "{o}");
        let shipments = o["shipments"].as_array().expect("shipments");
        let got: Vec<String> = shipments
            .iter()
            .map(|s| format!("{}:{}", str_of(&s["warehouse"]), str_of(&s["status"])))
            .collect();
        assert_eq!(got, shape.shipments(), "{o}");
        for s in shipments {
            for l in s["lines"].as_array().expect("lines") {
                *held
                    .entry((str_of(&s["warehouse"]), str_of(&l["sku"])))
                    .or_default() += l["quantity"].as_i64().expect("quantity");
            }
        }
    }
    let cells = stock_cells(&api, shape.cells()).await;
    for (cell, (on_hand, reserved)) in &cells {
        assert_eq!(*on_hand, 10_000, "{cell:?}");
        assert_eq!(
            Some(reserved),
            held.get(cell),
            "the ledger's reserved units at {cell:?} differ from what the orders hold"
        );
    }

    // A card order placed (and acknowledged) before the kill confirms once its payment comes in.
    let (i, id) = created
        .iter()
        .find(|(i, _)| !i.is_multiple_of(2))
        .or_else(|| by_key.iter().find(|(i, _)| !i.is_multiple_of(2)))
        .expect("a card order");
    let amount = shape.total(*i);
    api.storefront()
        .post(
            &format!("/v1/orders/{id}/payments"),
            &json!({"status": "captured", "amount": amount, "reference": "psp-burst"}),
        )
        .await
        .expect(200, "pay after restart");
    let o = api.wait_status(id, "confirmed").await;
    assert_history_contiguous(&o);
    assert_eq!(
        stock_cells(&api, shape.cells()).await,
        cells,
        "paying must not reserve again"
    );
}

/// (warehouse, sku) → (on hand, reserved) of `cells`.
async fn stock_cells(api: &Api, cells: &[(&str, &str)]) -> BTreeMap<(String, String), (i64, i64)> {
    let mut out = BTreeMap::new();
    for (w, sku) in cells {
        let s = api.stock(sku).await;
        let cell = s["warehouses"]
            .as_array()
            .expect("warehouses")
            .iter()
            .find(|c| c["warehouse"] == *w)
            .unwrap_or_else(|| panic!("no {sku} at {w}: {s}"));
        out.insert(
            (w.to_string(), sku.to_string()),
            (
                cell["on_hand"].as_i64().expect("on_hand"),
                cell["reserved"].as_i64().expect("reserved"),
            ),
        );
    }
    out
}
