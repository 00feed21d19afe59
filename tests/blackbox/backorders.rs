//! Backorders over HTTP, on sled and on PostgreSQL: a sku an admin allows to be backordered
//! (with a cap) does not cancel a short order; the order stays placed, backordered, holding
//! what there was, and confirms by itself — oldest first — when stock arrives by a count or a
//! return received back into stock. Beyond the cap, or for a sku that may not wait, the order
//! is refused as before. A kill -9 in the middle of a fill loses nothing: the fill completes
//! after the restart. Two nodes racing for a scarce sku confirm exactly the stock and
//! backorder the rest.

use crate::nodes::postgres_toml;
use crate::support::*;
use orderly_testkit::postgres::shared_or_skip;
use serde_json::{json, Value};

async fn allow_backorders(api: &Api, sku: &str, cap: i64) -> Value {
    api.admin()
        .put(
            &format!("/v1/skus/{sku}/backorders"),
            &json!({"allowed": true, "cap": cap}),
        )
        .await
        .expect(200, "backorders set")
        .json
}

async fn waiting(api: &Api, sku: &str) -> i64 {
    api.warehouse()
        .get(&format!("/v1/skus/{sku}/backorders"))
        .await
        .expect(200, "backorders read")
        .json["waiting"]
        .as_i64()
        .expect("waiting")
}

/// Places an order and waits for the stock's outcome.
async fn place_waiting(api: &Api, body: &Value) -> Value {
    api.storefront()
        .idempotency(&new_key())
        .header("Prefer", "wait=10")
        .post("/v1/orders", body)
        .await
        .expect(201, "placed")
        .json
}

async fn backordered_orders_confirm_when_stock_arrives(api: &Api) {
    let set = allow_backorders(api, "BOOK", 5).await;
    assert_eq!(
        set,
        json!({"sku": "BOOK", "allowed": true, "cap": 5, "waiting": 0})
    );
    api.set_stock("ams", "BOOK", 1).await;
    let paid = |q: u32| order_body(&[("BOOK", q, 1500)], ("card", "captured"));
    let first = place_waiting(api, &paid(3)).await;
    assert_eq!(
        (&first["status"], &first["stock"]),
        (&json!("placed"), &json!("backordered"))
    );
    assert_eq!(
        first["backordered"],
        json!([{"sku": "BOOK", "quantity": 2}])
    );
    let event = first["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "backordered")
        .expect("backordered in the history");
    assert_eq!(event["reason"], "backordered: waiting for 2 BOOK");
    assert_eq!(event["held"][0]["warehouse"], "ams");
    let second = place_waiting(api, &paid(1)).await;
    assert_eq!(second["stock"], "backordered");
    assert_eq!(waiting(api, "BOOK").await, 3);
    // Beyond the cap: cancelled for shortage, saying so.
    let third = place_waiting(api, &paid(3)).await;
    assert_eq!(third["status"], "cancelled");
    assert_eq!(
        third["cancellation"]["reason"],
        "out of stock: BOOK (backorder cap of 5 reached)"
    );
    // A cap below what waits is refused; so is a negative one.
    let p = api
        .admin()
        .put(
            "/v1/skus/BOOK/backorders",
            &json!({"allowed": true, "cap": 2}),
        )
        .await
        .problem(409, "cap below waiting");
    assert_eq!(p["type"], "/problems/cap_below_waiting");
    let p = api
        .admin()
        .put(
            "/v1/skus/BOOK/backorders",
            &json!({"allowed": true, "cap": -1}),
        )
        .await
        .problem(422, "negative cap");
    assert!(str_of(&p["detail"]).contains("cap"), "{p}");
    let p = api
        .admin()
        .put(
            "/v1/skus/BOOK/backorders",
            &json!({"allowed": true, "cap": 1_000_000_001_i64}),
        )
        .await
        .problem(422, "cap above the most");
    assert_eq!(p["field"], "cap", "{p}");
    api.warehouse()
        .put(
            "/v1/skus/BOOK/backorders",
            &json!({"allowed": false, "cap": 0}),
        )
        .await
        .problem(403, "warehouse keys may not set backorders");

    // Two arrive: the first (oldest) is served, the second keeps waiting.
    api.set_stock("ams", "BOOK", 3).await;
    let first_id = str_of(&first["id"]);
    let second_id = str_of(&second["id"]);
    let confirmed = api.wait_status(&first_id, "confirmed").await;
    assert!(confirmed.get("backordered").is_none(), "{confirmed}");
    assert_eq!(confirmed["shipments"][0]["lines"][0]["quantity"], 3);
    assert_eq!(api.order(&second_id).await["stock"], "backordered");
    assert_eq!(waiting(api, "BOOK").await, 1);

    // A return received back into stock serves the second.
    let walk = api.deliver(&first_id, "ams").await;
    assert_eq!(walk["status"], "delivered");
    api.storefront()
        .post(
            &format!("/v1/orders/{first_id}/returns"),
            &json!({"lines": [{"sku": "BOOK", "quantity": 1}], "reason": "damaged"}),
        )
        .await
        .expect(200, "return approved");
    api.warehouse()
        .post(
            &format!("/v1/orders/{first_id}/returns/receive"),
            &json!({"warehouse": "ams", "lines": [{"sku": "BOOK", "quantity": 1}]}),
        )
        .await
        .expect(200, "return received");
    api.wait_status(&second_id, "confirmed").await;
    assert_eq!(waiting(api, "BOOK").await, 0);
    let stock = api.stock("BOOK").await;
    assert_eq!(
        (stock["on_hand"].as_i64(), stock["reserved"].as_i64()),
        (Some(1), Some(1)),
        "{stock}"
    );

    // A sku that may not wait: refused as before.
    let plain = place_waiting(api, &order_body(&[("PLAIN", 1, 100)], ("cod", "pending"))).await;
    assert_eq!(plain["status"], "cancelled");
    assert_eq!(plain["cancellation"]["reason"], "out of stock: PLAIN");
}

#[actix_rt::test]
async fn backordered_orders_confirm_when_stock_arrives_on_sled() {
    let server = Server::start().await;
    backordered_orders_confirm_when_stock_arrives(&server.api()).await;
}

#[actix_rt::test]
async fn backordered_orders_confirm_when_stock_arrives_on_postgres() {
    let Some(pg) = shared_or_skip("backordered_orders_confirm_when_stock_arrives_on_postgres")
    else {
        return;
    };
    let url = pg.create_database("backorders");
    let server = Server::start_with(&postgres_toml(&url, "node-bo")).await;
    backordered_orders_confirm_when_stock_arrives(&server.api()).await;
}

#[actix_rt::test]
async fn a_fill_interrupted_by_kill9_completes_after_the_restart() {
    let mut server = Server::start().await;
    let api = server.api();
    allow_backorders(&api, "LAMP", 100).await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        let o = place_waiting(&api, &order_body(&[("LAMP", 1, 900)], ("cod", "pending"))).await;
        assert_eq!(o["stock"], "backordered");
        ids.push(str_of(&o["id"]));
    }
    assert_eq!(waiting(&api, "LAMP").await, 20);
    // Stock for 15 arrives; the fill starts at once; kill -9 right after the count's 200.
    api.set_stock("ams", "LAMP", 15).await;
    server.kill9();
    server.restart().await;
    let api = server.api();
    // The 15 oldest are confirmed (some before the kill, the rest by the pass at start).
    for id in &ids[..15] {
        api.wait_status(id, "confirmed").await;
    }
    for id in &ids[15..] {
        let o = api.order(id).await;
        assert_eq!(
            (&o["status"], &o["stock"]),
            (&json!("placed"), &json!("backordered")),
            "{o}"
        );
    }
    assert_eq!(waiting(&api, "LAMP").await, 5);
    let stock = api.stock("LAMP").await;
    assert_eq!(stock["reserved"], 15, "{stock}");
}

#[actix_rt::test]
async fn two_nodes_racing_for_a_scarce_sku_confirm_the_stock_and_backorder_the_rest() {
    let Some(pg) = shared_or_skip(
        "two_nodes_racing_for_a_scarce_sku_confirm_the_stock_and_backorder_the_rest",
    ) else {
        return;
    };
    let url = pg.create_database("backorder_race");
    let a = Server::start_with(&postgres_toml(&url, "node-a")).await;
    let b = Server::start_with(&postgres_toml(&url, "node-b")).await;
    let (api_a, api_b) = (a.api(), b.api());
    allow_backorders(&api_a, "RARE", 100).await;
    api_a.set_stock("ams", "RARE", 5).await;
    let body = order_body(&[("RARE", 1, 2500)], ("cod", "pending"));
    let placing = (0..20).map(|i| {
        let api = if i % 2 == 0 {
            api_a.clone()
        } else {
            api_b.clone()
        };
        let body = body.clone();
        async move { place_waiting(&api, &body).await }
    });
    let placed = futures::future::join_all(placing).await;
    let confirmed = placed.iter().filter(|o| o["status"] == "confirmed").count();
    let backordered: Vec<String> = placed
        .iter()
        .filter(|o| o["stock"] == "backordered")
        .map(|o| str_of(&o["id"]))
        .collect();
    assert_eq!(confirmed, 5, "exactly the stock is confirmed");
    assert_eq!(backordered.len(), 15, "the rest waits");
    assert_eq!(waiting(&api_b, "RARE").await, 15);
    // Five more arrive (counted on node b): the five oldest waiting orders are served.
    api_b.set_stock("ams", "RARE", 10).await;
    let mut oldest = backordered.clone();
    oldest.sort(); // UUIDv7: by placing time
    for id in &oldest[..5] {
        api_a.wait_status(id, "confirmed").await;
    }
    for id in &oldest[5..] {
        assert_eq!(api_a.order(id).await["stock"], "backordered", "{id}");
    }
    let stock = api_a.stock("RARE").await;
    assert_eq!(
        (stock["on_hand"].as_i64(), stock["reserved"].as_i64()),
        (Some(10), Some(10))
    );
}
