//! Stock alerts over HTTP, delivered to a real webhook receiver, on sled and on PostgreSQL: a
//! warehouse sets a reorder point on a cell and operations get one signed `stock.low_stock`
//! message when the units available there fall to it (none again until they rose above it,
//! then one more, numbered); a storefront subscribes a customer's contact to a sku and the
//! shop's webhook gets one `stock.back_in_stock` message when the sku can be bought again —
//! here through a transfer received at a warehouse — after which the subscription is over.
//! Bad input is refused with its field; a bound warehouse key sets points for its own
//! warehouses only; a sku's subscriptions are bounded.

use crate::nodes::postgres_toml;
use crate::notifications::signature_ok;
use crate::support::*;
use orderly_testkit::postgres::shared_or_skip;
use serde_json::{json, Value};

/// The messages of `kind` (`stock.low_stock`, `stock.back_in_stock`) the receiver answered 200,
/// once each by `webhook-id` (a receiver deduplicates by it), in the order received.
fn delivered(receiver: &Receiver, kind: &str) -> Vec<Value> {
    let mut seen = std::collections::BTreeSet::new();
    receiver
        .hooks()
        .into_iter()
        .filter(|h| h.answered == 200 && h.json()["type"] == kind)
        .filter(|h| seen.insert(h.id()))
        .inspect(|h| assert!(signature_ok(h), "signed: {}", h.body))
        .map(|h| h.json()["data"].clone())
        .collect()
}

async fn wait_for(receiver: &Receiver, kind: &str, n: usize) -> Vec<Value> {
    wait_until(&format!("{n} {kind} delivered"), || async {
        let got = delivered(receiver, kind);
        if got.len() >= n {
            Ok(got)
        } else {
            Err(format!("{} so far: {got:?}", got.len()))
        }
    })
    .await
}

async fn set_point(api: &Api, key: Key, warehouse: &str, sku: &str, point: i64) -> Resp {
    api.with(key)
        .put(
            &format!("/v1/inventory/{warehouse}/{sku}/reorder-point"),
            &json!({ "reorder_point": point }),
        )
        .await
}

async fn sell(api: &Api, sku: &str, quantity: u32) {
    let placed = api
        .place(
            &new_key(),
            &order_body(&[(sku, quantity, 500)], ("card", "captured")),
        )
        .await;
    api.wait_status(&str_of(&placed["id"]), "confirmed").await;
}

async fn alerts_reach_operations_and_subscribers(server: &Server, receiver: &Receiver) {
    let api = server.api();
    api.set_stock("ams", "AL-LOW", 10).await;
    let point = set_point(&api, Key::Warehouse, "ams", "AL-LOW", 5)
        .await
        .expect(200, "point set")
        .json;
    assert_eq!(
        point,
        json!({"warehouse": "ams", "sku": "AL-LOW", "reorder_point": 5, "low": false, "alerts_sent": 0, "available": 10})
    );
    // 10 → 6: above the point, nothing. 6 → 4: one alert.
    sell(&api, "AL-LOW", 4).await;
    sell(&api, "AL-LOW", 2).await;
    let low = wait_for(receiver, "stock.low_stock", 1).await;
    assert_eq!(
        (
            &low[0]["warehouse"],
            &low[0]["sku"],
            &low[0]["reorder_point"],
            &low[0]["available"],
            &low[0]["alert"]
        ),
        (
            &json!("ams"),
            &json!("AL-LOW"),
            &json!(5),
            &json!(4),
            &json!(1)
        ),
        "{low:?}"
    );
    // Falling further sends nothing more; the cell says it is low.
    sell(&api, "AL-LOW", 1).await;
    let read = api
        .warehouse()
        .get("/v1/inventory/ams/AL-LOW/reorder-point")
        .await
        .expect(200, "read the point")
        .json;
    assert_eq!(
        (read["low"].as_bool(), read["alerts_sent"].as_u64()),
        (Some(true), Some(1))
    );
    // Restocked above the point re-arms it; the next fall is alert 2.
    api.set_stock("ams", "AL-LOW", 20).await;
    wait_until("the cell re-armed", || async {
        let r = api
            .warehouse()
            .get("/v1/inventory/ams/AL-LOW/reorder-point")
            .await
            .expect(200, "read")
            .json;
        if r["low"] == false {
            Ok(())
        } else {
            Err(format!("{r}"))
        }
    })
    .await;
    sell(&api, "AL-LOW", 10).await;
    let low = wait_for(receiver, "stock.low_stock", 2).await;
    assert_eq!(low[1]["alert"], 2, "{low:?}");
    assert_eq!(low[1]["available"], 3, "20 on hand, 7 + 10 reserved");

    // Back in stock: nothing anywhere, a subscriber waits; a transfer received at rtm tells them.
    let sub = api
        .storefront()
        .post(
            "/v1/stock-subscriptions",
            &json!({"sku": "AL-BACK", "contact": " Jan@Example.COM "}),
        )
        .await
        .expect(201, "subscribed")
        .json;
    assert_eq!(sub["contact"], "jan@example.com");
    let again = api
        .storefront()
        .post(
            "/v1/stock-subscriptions",
            &json!({"sku": "AL-BACK", "contact": "jan@example.com"}),
        )
        .await
        .expect(200, "the same subscription");
    assert_eq!(again.json["id"], sub["id"]);
    assert!(delivered(receiver, "stock.back_in_stock").is_empty());
    // Stock at a warehouse orders are not served from yet (in transit) does not count.
    api.set_stock("ams", "AL-BACK", 2).await;
    let t = api
        .admin()
        .idempotency(&new_key())
        .post(
            "/v1/transfers",
            &json!({"from": "ams", "to": "rtm", "lines": [{"sku": "AL-BACK", "quantity": 2}]}),
        )
        .await
        .expect(201, "dispatched")
        .json;
    api.warehouse()
        .post(
            &format!("/v1/transfers/{}/receive", str_of(&t["id"])),
            &json!({"lines": [{"sku": "AL-BACK", "quantity": 2}]}),
        )
        .await
        .expect(200, "received");
    let back = wait_for(receiver, "stock.back_in_stock", 1).await;
    assert_eq!(
        (
            &back[0]["sku"],
            &back[0]["contact"],
            &back[0]["subscription_id"]
        ),
        (&json!("AL-BACK"), &json!("jan@example.com"), &sub["id"]),
        "{back:?}"
    );
    // Once told, the subscription is over: stock falling and rising again tells no one.
    api.set_stock("rtm", "AL-BACK", 0).await;
    api.set_stock("rtm", "AL-BACK", 5).await;
    // A new subscription while the sku is available is told at once (and the first was not
    // told again: still one message for it).
    let second = api
        .storefront()
        .post(
            "/v1/stock-subscriptions",
            &json!({"sku": "AL-BACK", "contact": "+31 6 1234 5678"}),
        )
        .await
        .expect(201, "subscribed again")
        .json;
    assert_eq!(second["contact"], "+31612345678");
    let back = wait_for(receiver, "stock.back_in_stock", 2).await;
    assert_eq!(back.len(), 2, "{back:?}");
    assert_eq!(back[1]["contact"], "+31612345678");
}

#[actix_rt::test]
async fn alerts_reach_operations_and_subscribers_on_sled() {
    let receiver = Receiver::start(1).await;
    let server = Server::start_with(&receiver.config(8)).await;
    alerts_reach_operations_and_subscribers(&server, &receiver).await;
}

#[actix_rt::test]
async fn alerts_reach_operations_and_subscribers_on_postgres() {
    let Some(pg) = shared_or_skip("alerts_reach_operations_and_subscribers_on_postgres") else {
        return;
    };
    let url = pg.create_database("stock_alerts");
    let receiver = Receiver::start(1).await;
    let server = Server::start_with(&format!(
        "{}{}",
        receiver.config(8),
        postgres_toml(&url, "node-alerts")
    ))
    .await;
    alerts_reach_operations_and_subscribers(&server, &receiver).await;
}

/// A key bound to `ams`.
const AMS_KEY: &str = "test-warehouse-ams-0003";

#[actix_rt::test]
async fn bad_points_and_subscriptions_are_refused() {
    let server = Server::start_with(&format!(
        "[auth]\nwarehouse = [\"{WAREHOUSE_KEY}\", {{ key = \"{AMS_KEY}\", warehouses = [\"ams\"] }}]\n[stock_alerts]\nmax_subscriptions_per_sku = 2\n"
    ))
    .await;
    let api = server.api();
    for (what, point, field) in [
        ("negative", json!({"reorder_point": -1}), "reorder_point"),
        (
            "too high",
            json!({"reorder_point": 1_000_000_001_i64}),
            "reorder_point",
        ),
        (
            "not a number",
            json!({"reorder_point": "5"}),
            "reorder_point",
        ),
    ] {
        let p = api
            .warehouse()
            .put("/v1/inventory/ams/AL-X/reorder-point", &point)
            .await
            .problem(422, what);
        assert_eq!(p["field"], field, "{what}: {p}");
    }
    let p = set_point(&api, Key::Warehouse, "nowhere", "AL-X", 1)
        .await
        .problem(422, "unknown warehouse");
    assert_eq!(p["field"], "warehouse");
    // A bound key: its own warehouse only. Storefronts not at all.
    set_point(&api, Key::Raw(AMS_KEY), "rtm", "AL-X", 1)
        .await
        .problem(403, "another warehouse");
    set_point(&api, Key::Raw(AMS_KEY), "ams", "AL-X", 1)
        .await
        .expect(200, "its own");
    set_point(&api, Key::Storefront, "ams", "AL-X", 1)
        .await
        .problem(403, "a storefront");
    // Removing the point: no alerts for the cell.
    let removed = api
        .with(Key::Raw(AMS_KEY))
        .delete("/v1/inventory/ams/AL-X/reorder-point")
        .await
        .expect(200, "removed")
        .json;
    assert_eq!(removed["reorder_point"], Value::Null);

    for (what, body, field) in [
        (
            "not a contact",
            json!({"sku": "AL-Y", "contact": "jan"}),
            "contact",
        ),
        (
            "a short phone number",
            json!({"sku": "AL-Y", "contact": "+3161"}),
            "contact",
        ),
        (
            "not a sku",
            json!({"sku": "a b", "contact": "jan@example.com"}),
            "sku",
        ),
    ] {
        let p = api
            .storefront()
            .post("/v1/stock-subscriptions", &body)
            .await
            .problem(422, what);
        assert_eq!(p["field"], field, "{what}: {p}");
    }
    for who in ["a@example.com", "b@example.com"] {
        api.storefront()
            .post(
                "/v1/stock-subscriptions",
                &json!({"sku": "AL-Y", "contact": who}),
            )
            .await
            .expect(201, who);
    }
    let p = api
        .storefront()
        .post(
            "/v1/stock-subscriptions",
            &json!({"sku": "AL-Y", "contact": "c@example.com"}),
        )
        .await
        .problem(409, "the bound of 2");
    assert_eq!(p["type"], "/problems/subscriptions_full");
    api.warehouse()
        .post(
            "/v1/stock-subscriptions",
            &json!({"sku": "AL-Y", "contact": "d@example.com"}),
        )
        .await
        .problem(403, "warehouse keys do not subscribe customers");
}

/// What is watched is read back at start: a point set before a restart alerts after it.
#[actix_rt::test]
async fn reorder_points_are_watched_after_a_restart() {
    let receiver = Receiver::start(0).await;
    let mut server = Server::start_with(&receiver.config(8)).await;
    let api = server.api();
    api.set_stock("rtm", "AL-RESTART", 10).await;
    set_point(&api, Key::Admin, "rtm", "AL-RESTART", 5)
        .await
        .expect(200, "point set");
    server.kill9();
    server.restart().await;
    let api = server.api();
    sell(&api, "AL-RESTART", 6).await;
    let low = wait_for(&receiver, "stock.low_stock", 1).await;
    assert_eq!(
        (&low[0]["warehouse"], &low[0]["available"]),
        (&json!("rtm"), &json!(4)),
        "{low:?}"
    );
}
