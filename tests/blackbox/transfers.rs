//! Transfers of stock between warehouses over HTTP, on sled and on PostgreSQL: an admin
//! dispatches units from one warehouse to another (they leave on hand at the source and are
//! incoming at the destination), the destination receives them in one go or in parts (a
//! backordered order waiting for them confirms by itself), an admin calls one off before
//! anything arrived (the units are back at the source). Everything a demanding caller could
//! get wrong is refused with the field named, the `Idempotency-Key` makes a retry harmless, and
//! a warehouse key bound to its warehouses receives only what comes to them.

use crate::nodes::postgres_toml;
use crate::support::*;
use orderly_testkit::postgres::shared_or_skip;
use serde_json::{json, Value};

async fn dispatch(api: &Api, key: &str, body: &Value) -> Value {
    api.admin()
        .idempotency(key)
        .post("/v1/transfers", body)
        .await
        .expect(201, "transfer dispatched")
        .json
}

async fn cell(api: &Api, warehouse: &str, sku: &str) -> (i64, i64, i64) {
    let stock = api.stock(sku).await;
    stock["warehouses"]
        .as_array()
        .expect("warehouses")
        .iter()
        .find(|c| c["warehouse"] == warehouse)
        .map(|c| {
            (
                c["on_hand"].as_i64().unwrap(),
                c["reserved"].as_i64().unwrap(),
                c["incoming"].as_i64().unwrap(),
            )
        })
        .unwrap_or((0, 0, 0))
}

async fn availability(api: &Api, sku: &str) -> Value {
    api.storefront()
        .get(&format!("/v1/availability?sku={sku}"))
        .await
        .expect(200, "availability")
        .json["skus"][0]
        .clone()
}

async fn transfers_move_stock_between_warehouses(api: &Api) {
    api.set_stock("ams", "TR-A", 3).await;
    api.set_stock("ams", "TR-B", 4).await;
    api.admin()
        .put(
            "/v1/skus/TR-A/backorders",
            &json!({"allowed": true, "cap": 10}),
        )
        .await
        .expect(200, "backorders allowed");

    // Dispatched: the units leave ams and are incoming at rtm.
    let key = new_key();
    let body = json!({"from": "ams", "to": "rtm", "lines": [{"sku": "TR-A", "quantity": 3}]});
    let created = api
        .admin()
        .idempotency(&key)
        .post("/v1/transfers", &body)
        .await
        .expect(201, "transfer dispatched");
    let t = created.json.clone();
    let id = str_of(&t["id"]);
    assert_eq!(
        created.header("location").as_deref(),
        Some(format!("/v1/transfers/{id}").as_str())
    );
    assert_eq!(
        (&t["from"], &t["to"], &t["status"]),
        (&json!("ams"), &json!("rtm"), &json!("dispatched"))
    );
    assert_eq!(
        t["lines"],
        json!([{"sku": "TR-A", "quantity": 3, "received": 0, "in_transit": 3}])
    );
    assert_eq!(t["receipts"], json!([]));
    assert_eq!(cell(api, "ams", "TR-A").await, (0, 0, 0));
    assert_eq!(cell(api, "rtm", "TR-A").await, (0, 0, 3));
    let seen = availability(api, "TR-A").await;
    assert_eq!(
        (seen["available"].as_i64(), seen["incoming"].as_i64()),
        (Some(0), Some(3)),
        "{seen}"
    );

    // The same request under the same key: the same transfer, nothing moved twice.
    let again = api
        .admin()
        .idempotency(&key)
        .post("/v1/transfers", &body)
        .await
        .expect(200, "replayed");
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.json["id"], t["id"]);
    assert_eq!(cell(api, "rtm", "TR-A").await, (0, 0, 3));
    // Another body under that key: refused.
    let p = api
        .admin()
        .idempotency(&key)
        .post(
            "/v1/transfers",
            &json!({"from": "ams", "to": "rtm", "lines": [{"sku": "TR-B", "quantity": 1}]}),
        )
        .await
        .problem(422, "key reused with another body");
    assert_eq!(p["type"], "/problems/idempotency_key_reused");
    assert_eq!(cell(api, "ams", "TR-B").await, (4, 0, 0));

    // An order for 3 waits for them (nothing on hand anywhere).
    let order = api
        .storefront()
        .idempotency(&new_key())
        .header("Prefer", "wait=10")
        .post(
            "/v1/orders",
            &order_body(&[("TR-A", 3, 700)], ("card", "captured")),
        )
        .await
        .expect(201, "placed")
        .json;
    assert_eq!(order["stock"], "backordered", "{order}");
    let order_id = str_of(&order["id"]);

    // Two arrive, then the last one: the transfer is received and the order confirmed.
    let part = api
        .warehouse()
        .post(
            &format!("/v1/transfers/{id}/receive"),
            &json!({"lines": [{"sku": "TR-A", "quantity": 2}]}),
        )
        .await
        .expect(200, "received in part")
        .json;
    assert_eq!(part["status"], "dispatched");
    assert_eq!(
        part["lines"],
        json!([{"sku": "TR-A", "quantity": 3, "received": 2, "in_transit": 1}])
    );
    assert_eq!(
        part["receipts"][0]["lines"],
        json!([{"sku": "TR-A", "quantity": 2}])
    );
    let p = api
        .warehouse()
        .post(
            &format!("/v1/transfers/{id}/receive"),
            &json!({"lines": [{"sku": "TR-A", "quantity": 2}]}),
        )
        .await
        .problem(422, "more than in transit");
    assert_eq!(p["field"], "lines[0].quantity", "{p}");
    let p = api
        .warehouse()
        .post(
            &format!("/v1/transfers/{id}/receive"),
            &json!({"lines": [{"sku": "TR-B", "quantity": 1}]}),
        )
        .await
        .problem(422, "a sku not on the transfer");
    assert_eq!(p["field"], "lines[0].sku", "{p}");
    let p = api
        .admin()
        .post(&format!("/v1/transfers/{id}/cancel"), &json!({}))
        .await
        .problem(409, "some units arrived");
    assert_eq!(p["type"], "/problems/transfer_partly_received");
    let done = api
        .warehouse()
        .post(
            &format!("/v1/transfers/{id}/receive"),
            &json!({"lines": [{"sku": "TR-A", "quantity": 1}]}),
        )
        .await
        .expect(200, "received in full")
        .json;
    assert_eq!(done["status"], "received");
    assert_eq!(done["receipts"].as_array().map(Vec::len), Some(2));
    let confirmed = api.wait_status(&order_id, "confirmed").await;
    assert_eq!(confirmed["shipments"][0]["warehouse"], "rtm", "{confirmed}");
    assert_eq!(cell(api, "rtm", "TR-A").await, (3, 3, 0));
    let p = api
        .warehouse()
        .post(
            &format!("/v1/transfers/{id}/receive"),
            &json!({"lines": [{"sku": "TR-A", "quantity": 1}]}),
        )
        .await
        .problem(409, "received already");
    assert_eq!(p["type"], "/problems/transfer_closed");

    // Called off before anything arrived: the units are back at the source.
    let second = dispatch(
        api,
        &new_key(),
        &json!({"from": "ams", "to": "rtm", "lines": [{"sku": "TR-B", "quantity": 2}]}),
    )
    .await;
    let second_id = str_of(&second["id"]);
    assert_eq!(cell(api, "ams", "TR-B").await, (2, 0, 0));
    assert_eq!(cell(api, "rtm", "TR-B").await, (0, 0, 2));
    let cancelled = api
        .admin()
        .post(&format!("/v1/transfers/{second_id}/cancel"), &json!({}))
        .await
        .expect(200, "cancelled")
        .json;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["lines"][0]["in_transit"], 0);
    assert_eq!(cell(api, "ams", "TR-B").await, (4, 0, 0));
    assert_eq!(cell(api, "rtm", "TR-B").await, (0, 0, 0));
    api.admin()
        .post(&format!("/v1/transfers/{second_id}/cancel"), &json!({}))
        .await
        .problem(409, "cancelled already");

    // Newest first, one page at a time.
    let page = api
        .admin()
        .get("/v1/transfers?limit=1")
        .await
        .expect(200, "first page")
        .json;
    assert_eq!(page["transfers"][0]["id"], second["id"]);
    let cursor = str_of(&page["next_cursor"]);
    let page = api
        .warehouse()
        .get(&format!("/v1/transfers?limit=1&cursor={cursor}"))
        .await
        .expect(200, "second page")
        .json;
    assert_eq!(page["transfers"][0]["id"], t["id"]);
    let read = api
        .warehouse()
        .get(&format!("/v1/transfers/{id}"))
        .await
        .expect(200, "read one")
        .json;
    assert_eq!(read, done);
}

#[actix_rt::test]
async fn transfers_move_stock_between_warehouses_on_sled() {
    let server = Server::start().await;
    transfers_move_stock_between_warehouses(&server.api()).await;
}

#[actix_rt::test]
async fn transfers_move_stock_between_warehouses_on_postgres() {
    let Some(pg) = shared_or_skip("transfers_move_stock_between_warehouses_on_postgres") else {
        return;
    };
    let url = pg.create_database("transfers");
    let server = Server::start_with(&postgres_toml(&url, "node-tr")).await;
    transfers_move_stock_between_warehouses(&server.api()).await;
}

#[actix_rt::test]
async fn what_a_transfer_may_not_be_is_refused_with_its_field() {
    let server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "TR-C", 5).await;
    let line = |sku: &str, quantity: i64| json!({"sku": sku, "quantity": quantity});
    for (what, body, field) in [
        (
            "to itself",
            json!({"from": "ams", "to": "ams", "lines": [line("TR-C", 1)]}),
            "to",
        ),
        (
            "from an unknown warehouse",
            json!({"from": "nowhere", "to": "rtm", "lines": [line("TR-C", 1)]}),
            "from",
        ),
        (
            "to an unknown warehouse",
            json!({"from": "ams", "to": "nowhere", "lines": [line("TR-C", 1)]}),
            "to",
        ),
        (
            "more than available",
            json!({"from": "ams", "to": "rtm", "lines": [line("TR-C", 6)]}),
            "lines[0].quantity",
        ),
        (
            "none at all",
            json!({"from": "ams", "to": "rtm", "lines": [line("TR-NONE", 1)]}),
            "lines[0].quantity",
        ),
        (
            "a quantity of 0",
            json!({"from": "ams", "to": "rtm", "lines": [line("TR-C", 0)]}),
            "lines[0].quantity",
        ),
        (
            "a sku twice",
            json!({"from": "ams", "to": "rtm", "lines": [line("TR-C", 1), line("TR-C", 1)]}),
            "lines[1].sku",
        ),
        (
            "no lines",
            json!({"from": "ams", "to": "rtm", "lines": []}),
            "lines",
        ),
    ] {
        let p = api
            .admin()
            .idempotency(&new_key())
            .post("/v1/transfers", &body)
            .await
            .problem(422, what);
        assert_eq!(p["field"], field, "{what}: {p}");
    }
    // Without an Idempotency-Key: 400; as a storefront or warehouse key: 403.
    let ok = json!({"from": "ams", "to": "rtm", "lines": [line("TR-C", 1)]});
    api.admin()
        .post("/v1/transfers", &ok)
        .await
        .problem(400, "no key");
    for key in [Key::Storefront, Key::Warehouse] {
        api.with(key)
            .idempotency(&new_key())
            .post("/v1/transfers", &ok)
            .await
            .problem(403, "not an admin");
    }
    // Nothing moved by any of it.
    assert_eq!(cell(&api, "ams", "TR-C").await, (5, 0, 0));
    assert_eq!(cell(&api, "rtm", "TR-C").await, (0, 0, 0));
    let list = api
        .admin()
        .get("/v1/transfers")
        .await
        .expect(200, "list")
        .json;
    assert_eq!(list["transfers"], json!([]));
    // Reserved units do not travel: 2 of the 5 sold, 4 may not leave.
    let sold = api
        .place(
            &new_key(),
            &order_body(&[("TR-C", 2, 100)], ("card", "captured")),
        )
        .await;
    api.wait_status(&str_of(&sold["id"]), "confirmed").await;
    let p = api
        .admin()
        .idempotency(&new_key())
        .post(
            "/v1/transfers",
            &json!({"from": "ams", "to": "rtm", "lines": [line("TR-C", 4)]}),
        )
        .await
        .problem(422, "reserved units");
    assert!(
        str_of(&p["detail"]).contains('3'),
        "says what is available: {p}"
    );
    // Unknown transfers.
    for id in ["not-a-uuid", "0190b6a4-0000-7000-8000-000000000000"] {
        api.admin()
            .get(&format!("/v1/transfers/{id}"))
            .await
            .problem(404, "no such transfer");
        api.warehouse()
            .post(
                &format!("/v1/transfers/{id}/receive"),
                &json!({"lines": [line("TR-C", 1)]}),
            )
            .await
            .problem(404, "no such transfer");
    }
}

/// A key bound to `ams`, on a service running open (warehouses `ams`, `rtm`, `ber` as used).
const AMS_KEY: &str = "test-warehouse-ams-0002";

#[actix_rt::test]
async fn a_bound_key_receives_and_sees_only_what_concerns_its_warehouse() {
    let server = Server::start_open(&format!(
        "[auth]\nwarehouse = [\"{WAREHOUSE_KEY}\", {{ key = \"{AMS_KEY}\", warehouses = [\"ams\"] }}]\n"
    ))
    .await;
    let api = server.api();
    let bound = Key::Raw(AMS_KEY);
    for w in ["ams", "rtm", "ber"] {
        api.set_stock(w, "TR-D", 10).await;
    }
    let move_ = |from: &str, to: &str| json!({"from": from, "to": to, "lines": [{"sku": "TR-D", "quantity": 1}]});
    let to_ams = str_of(&dispatch(&api, &new_key(), &move_("rtm", "ams")).await["id"]);
    let from_ams = str_of(&dispatch(&api, &new_key(), &move_("ams", "rtm")).await["id"]);
    let elsewhere = str_of(&dispatch(&api, &new_key(), &move_("rtm", "ber")).await["id"]);
    let receipt = json!({"lines": [{"sku": "TR-D", "quantity": 1}]});

    // It receives what comes to ams, not what leaves it nor what passes elsewhere.
    for id in [&from_ams, &elsewhere] {
        api.with(bound)
            .post(&format!("/v1/transfers/{id}/receive"), &receipt)
            .await
            .problem(403, "not its destination");
    }
    api.with(bound)
        .post(&format!("/v1/transfers/{to_ams}/receive"), &receipt)
        .await
        .expect(200, "its own");
    // It reads and lists those from or to ams only; an unbound key sees all three.
    api.with(bound)
        .get(&format!("/v1/transfers/{from_ams}"))
        .await
        .expect(200, "from ams");
    api.with(bound)
        .get(&format!("/v1/transfers/{elsewhere}"))
        .await
        .problem(403, "rtm to ber");
    let ids = |page: Value| -> Vec<String> {
        page["transfers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| str_of(&t["id"]))
            .collect()
    };
    let seen = api
        .with(bound)
        .get("/v1/transfers")
        .await
        .expect(200, "bound list")
        .json;
    assert_eq!(ids(seen), vec![from_ams.clone(), to_ams.clone()]);
    let seen = api
        .warehouse()
        .get("/v1/transfers")
        .await
        .expect(200, "unbound list")
        .json;
    assert_eq!(ids(seen), vec![elsewhere.clone(), from_ams, to_ams]);
    // The unbound warehouse key receives anywhere.
    api.warehouse()
        .post(&format!("/v1/transfers/{elsewhere}/receive"), &receipt)
        .await
        .expect(200, "anywhere");
    assert_eq!(cell(&api, "ber", "TR-D").await, (11, 0, 0));
    assert_eq!(cell(&api, "ams", "TR-D").await, (10, 0, 0));
    assert_eq!(cell(&api, "rtm", "TR-D").await, (8, 0, 1));
}

/// A burst of transfers, kill -9 once some are acknowledged: after the restart every
/// acknowledged transfer is there and dispatched, the units add up (on hand at the source,
/// incoming at the destination: nothing made or lost), and sending every request again under
/// its key creates each missing transfer once and repeats none.
#[actix_rt::test]
async fn kill9_during_a_burst_of_transfers_loses_and_repeats_nothing() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    const N: usize = 600;
    const KILL_AFTER: usize = 40;
    let mut server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "TR-BURST", 1_000).await;
    let run = uuid::Uuid::new_v4().to_string();
    let key = |i: usize| format!("tr-{run}-{i}");
    let body = json!({"from": "ams", "to": "rtm", "lines": [{"sku": "TR-BURST", "quantity": 1}]});

    let acked = Arc::new(AtomicUsize::new(0));
    let created: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let mut tasks = Vec::new();
    for i in 0..N {
        let (api, acked, created, key, body) = (
            api.clone(),
            acked.clone(),
            created.clone(),
            key(i),
            body.clone(),
        );
        tasks.push(actix_rt::spawn(async move {
            let r = api
                .admin()
                .idempotency(&key)
                .try_send(
                    "POST",
                    "/v1/transfers",
                    Some(("application/json", body.to_string().into())),
                )
                .await;
            match r {
                Ok(r) if r.status == 201 => {
                    created.lock().unwrap().push((i, str_of(&r.json["id"])));
                    acked.fetch_add(1, Ordering::SeqCst);
                }
                Ok(r) => assert!(r.status >= 500, "refused: {} {}", r.status, r.text()),
                Err(_) => {} // no answer: the process died under it
            }
        }));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while acked.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {N} transfers answered in 30 s",
            acked.load(Ordering::SeqCst)
        );
        actix_rt::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    server.kill9();
    let acked_at_kill = acked.load(Ordering::SeqCst);
    for t in tasks {
        t.await.expect("a burst task panicked");
    }
    eprintln!(
        "transfer burst: {acked_at_kill} acknowledged when killed, {} in all, of {N}",
        acked.load(Ordering::SeqCst)
    );
    server.restart().await;
    let api = server.api();
    let created = created.lock().unwrap().clone();
    for (_, id) in &created {
        let t = api
            .admin()
            .get(&format!("/v1/transfers/{id}"))
            .await
            .expect(200, "an acknowledged transfer survives")
            .json;
        assert_eq!(t["status"], "dispatched", "{t}");
    }
    let adds_up = |(ams, rtm): ((i64, i64, i64), (i64, i64, i64)), transfers: usize| {
        assert_eq!(
            ams.0 + rtm.2,
            1_000,
            "on hand at ams + incoming at rtm: {ams:?} {rtm:?}"
        );
        assert_eq!(
            rtm.2 as usize, transfers,
            "one unit in transit per transfer"
        );
    };
    let listed = || async {
        let (mut n, mut cursor) = (0, None::<String>);
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/transfers?limit=200&cursor={c}"),
                None => "/v1/transfers?limit=200".to_string(),
            };
            let page = api.admin().get(&path).await.expect(200, "list").json;
            n += page["transfers"].as_array().map_or(0, Vec::len);
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return n,
            }
        }
    };
    let before = listed().await;
    assert!(
        before >= created.len(),
        "{before} listed, {} acknowledged",
        created.len()
    );
    adds_up(
        (
            cell(&api, "ams", "TR-BURST").await,
            cell(&api, "rtm", "TR-BURST").await,
        ),
        before,
    );
    // Every request again, under its key: the acknowledged ones answer the same transfer, the
    // others are created now; N in all, each once.
    for i in 0..N {
        let r = api
            .admin()
            .idempotency(&key(i))
            .post("/v1/transfers", &body)
            .await;
        assert!(
            r.status == 200 || r.status == 201,
            "{}: {}",
            r.status,
            r.text()
        );
        if let Some((_, id)) = created.iter().find(|(j, _)| *j == i) {
            assert_eq!((r.status, str_of(&r.json["id"])), (200, id.clone()));
        }
    }
    let after = listed().await;
    assert_eq!(after, N);
    adds_up(
        (
            cell(&api, "ams", "TR-BURST").await,
            cell(&api, "rtm", "TR-BURST").await,
        ),
        N,
    );
}
