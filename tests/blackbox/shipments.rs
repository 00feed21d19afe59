//! Orders served from several warehouses, over HTTP, on sled and on PostgreSQL: an order no
//! single warehouse can serve is split (one shipment per warehouse, the reason in its history),
//! each shipment is picked, packed, labelled, handed over and delivered on its own through the
//! per-shipment routes (or the order-level ones naming a warehouse), the order follows its
//! shipments, and the per-shipment routes refuse a shipment the order does not have.

use crate::nodes::postgres_toml;
use crate::support::*;
use orderly_testkit::postgres::shared_or_skip;
use serde_json::{json, Value};

fn shipment(order: &Value, id: u64) -> &Value {
    order["shipments"]
        .as_array()
        .expect("shipments")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no shipment {id}: {order}"))
}

fn pick_list_entry(list: &Value, order: &str) -> Value {
    list["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .find(|o| o["order_id"] == order)
        .cloned()
        .unwrap_or(Value::Null)
}

/// The whole walk, on whatever backend the server runs.
async fn a_split_order_is_delivered_in_two_parcels(api: &Api) {
    api.set_stock("ams", "MUG", 1).await;
    api.set_stock("rtm", "MUG", 2).await;
    api.set_stock("ams", "TEA", 1).await;
    let body = order_body(&[("MUG", 3, 1000), ("TEA", 1, 500)], ("card", "captured"));
    let placed = api.place(&new_key(), &body).await;
    let id = str_of(&placed["id"]);
    let o = api.wait_status(&id, "confirmed").await;
    assert!(
        o.get("warehouse").is_none(),
        "split: no single warehouse: {o}"
    );
    assert_eq!(o["shipments"].as_array().unwrap().len(), 2, "{o}");
    let ams = shipment(&o, 1);
    assert_eq!(ams["warehouse"], "ams");
    assert_eq!(ams["status"], "allocated");
    assert_eq!(
        ams["lines"],
        json!([{"sku": "MUG", "quantity": 1, "picked": 0}, {"sku": "TEA", "quantity": 1, "picked": 0}])
    );
    assert_eq!(shipment(&o, 2)["warehouse"], "rtm");
    assert_eq!(
        shipment(&o, 2)["lines"],
        json!([{"sku": "MUG", "quantity": 2, "picked": 0}])
    );
    let allocated = o["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "allocated")
        .expect("allocation in the history");
    assert_eq!(
        allocated["reason"],
        "no single warehouse can serve every line; split: ams 1 of 3 MUG, 1 TEA; rtm 2 of 3 MUG"
    );

    // Each warehouse lists its own shipment.
    for (w, sh, lines) in [("ams", 1, 2), ("rtm", 2, 1)] {
        let list = api
            .warehouse()
            .get(&format!("/v1/warehouses/{w}/picks"))
            .await
            .expect(200, "pick list")
            .json;
        let entry = pick_list_entry(&list, &id);
        assert_eq!(entry["shipment"], sh, "{w}: {list}");
        assert_eq!(
            entry["lines"].as_array().unwrap().len(),
            lines,
            "{w}: {list}"
        );
    }

    // rtm through the per-shipment routes.
    let base = format!("/v1/orders/{id}/shipments/2");
    api.warehouse()
        .post(
            &format!("{base}/picks"),
            &json!({"lines": [{"sku": "MUG", "quantity": 2}]}),
        )
        .await
        .expect(200, "picks of shipment 2");
    let packed = api
        .warehouse()
        .post(
            &format!("{base}/pack"),
            &json!({"parcels": [{"weight_grams": 800}]}),
        )
        .await
        .expect(200, "pack shipment 2")
        .json;
    assert_eq!(
        packed["status"], "confirmed",
        "shipment 1 is not packed: {packed}"
    );
    let rtm = shipment(&packed, 2);
    assert_eq!(rtm["status"], "packed");
    let tn_rtm = str_of(&rtm["booking"]["tracking_number"]);
    assert_eq!(rtm["label_url"], format!("{base}/label"));
    let label = api
        .warehouse()
        .get(&format!("{base}/label"))
        .await
        .expect(200, "label");
    assert_eq!(
        label.header("content-type").as_deref(),
        Some("application/pdf")
    );
    assert!(label.text().starts_with("%PDF"));
    let none_yet = api
        .warehouse()
        .get(&format!("/v1/orders/{id}/shipments/1/label"))
        .await
        .problem(404, "shipment 1 is not booked");
    assert!(
        str_of(&none_yet["detail"]).contains("shipment 1"),
        "{none_yet}"
    );
    let shipped = api
        .warehouse()
        .post(&format!("{base}/handover"), &json!({}))
        .await
        .expect(200, "hand over shipment 2")
        .json;
    assert_eq!(shipment(&shipped, 2)["status"], "shipped");
    assert_eq!(shipped["status"], "confirmed");
    let mug = api.stock("MUG").await;
    let at = |w: &str| {
        mug["warehouses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["warehouse"] == w)
            .cloned()
            .unwrap()
    };
    assert_eq!(at("rtm")["on_hand"], 0, "{mug}");
    assert_eq!(at("ams")["reserved"], 1, "{mug}");

    // ams through the order-level routes, which name the warehouse.
    api.warehouse()
        .post(
            &format!("/v1/orders/{id}/picks"),
            &json!({"warehouse": "ams", "lines": [{"sku": "MUG", "quantity": 1}, {"sku": "TEA", "quantity": 1}]}),
        )
        .await
        .expect(200, "order-level picks at ams");
    let both = api.pack(&id, "ams").await;
    assert_eq!(both["status"], "packed", "{both}");
    let tn_ams = str_of(&shipment(&both, 1)["booking"]["tracking_number"]);
    assert_ne!(tn_ams, tn_rtm);
    let out = api.handover(&id).await;
    assert_eq!(out["status"], "shipped", "{out}");

    // One parcel delivered: still shipped; both: delivered.
    let ack = api
        .scan(
            &tn_rtm,
            &format!("{id}-d2"),
            "delivered",
            "2026-03-02T10:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "shipped", "{ack}");
    let ack = api
        .scan(
            &tn_ams,
            &format!("{id}-d1"),
            "delivered",
            "2026-03-02T11:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");
    let done = api.order(&id).await;
    assert_eq!(shipment(&done, 1)["status"], "delivered");
    assert_eq!(shipment(&done, 2)["status"], "delivered");
    assert_history_contiguous(&done);

    // Shipments the order does not have.
    for bad in ["3", "0", "x", "99999999999"] {
        let p = api
            .warehouse()
            .post(
                &format!("/v1/orders/{id}/shipments/{bad}/handover"),
                &json!({}),
            )
            .await
            .problem(404, "no such shipment");
        assert!(str_of(&p["detail"]).contains("shipment"), "{bad}: {p}");
    }
    // Another order's shipment number names nothing on this one.
    let single = api
        .place(
            &new_key(),
            &order_body(&[("TEA", 1, 500)], ("cod", "pending")),
        )
        .await;
    let single = str_of(&single["id"]);
    api.wait_status(&single, "cancelled").await; // no TEA left anywhere
    api.warehouse()
        .post(
            &format!("/v1/orders/{single}/shipments/2/pack"),
            &json!({"parcels": [{"weight_grams": 800}]}),
        )
        .await
        .problem(404, "a shipment of another order");
}

#[actix_rt::test]
async fn a_split_order_is_delivered_in_two_parcels_on_sled() {
    let server = Server::start().await;
    a_split_order_is_delivered_in_two_parcels(&server.api()).await;
}

#[actix_rt::test]
async fn a_split_order_is_delivered_in_two_parcels_on_postgres() {
    let Some(pg) = shared_or_skip("a_split_order_is_delivered_in_two_parcels_on_postgres") else {
        return;
    };
    let url = pg.create_database("split_order");
    let server = Server::start_with(&postgres_toml(&url, "node-split")).await;
    a_split_order_is_delivered_in_two_parcels(&server.api()).await;
}

#[actix_rt::test]
async fn an_order_may_refuse_to_be_split() {
    let server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "MUG", 1).await;
    api.set_stock("rtm", "MUG", 1).await;
    let mut body = order_body(&[("MUG", 2, 1000)], ("cod", "pending"));
    body["allow_split"] = json!(false);
    let placed = api.place(&new_key(), &body).await;
    let o = api.wait_status(&str_of(&placed["id"]), "cancelled").await;
    assert_eq!(
        o["cancellation"]["reason"],
        "no single warehouse can serve every line, and the order may not be split"
    );
    // A non-boolean is refused, naming the field (as every body that does not fit its type).
    body["allow_split"] = json!("no");
    let p = api
        .storefront()
        .idempotency(&new_key())
        .post("/v1/orders", &body)
        .await
        .problem(422, "allow_split must be a boolean");
    assert_eq!(p["field"], "allow_split", "{p}");
    assert!(str_of(&p["detail"]).contains("expected a boolean"), "{p}");
}

/// `Prefer: wait=N` answers once the stock's outcome is known, with `Preference-Applied`.
async fn placing_waits_for_the_stock_outcome(api: &Api) {
    api.set_stock("ams", "PEN", 1).await;
    let place = |body: Value, prefer: Option<&'static str>| {
        let api = api.clone();
        async move {
            let mut call = api.storefront().idempotency(&new_key());
            if let Some(p) = prefer {
                call = call.header("Prefer", p);
            }
            call.post("/v1/orders", &body).await.expect(201, "placed")
        }
    };
    let paid = || order_body(&[("PEN", 1, 300)], ("card", "captured"));
    // Confirmed.
    let r = place(paid(), Some("wait=10")).await;
    assert_eq!(r.header("preference-applied").as_deref(), Some("wait=10"));
    assert_eq!(r.json["status"], "confirmed", "{}", r.json);
    assert_eq!(r.json["shipments"][0]["status"], "allocated");
    // Cancelled for shortage (the one PEN is taken).
    let r = place(paid(), Some("respond-async, wait=3")).await;
    assert_eq!(r.header("preference-applied").as_deref(), Some("wait=3"));
    assert_eq!(r.json["status"], "cancelled", "{}", r.json);
    assert_eq!(r.json["stock"], "unavailable");
    // Allocated, waiting for its payment.
    api.set_stock("ams", "PEN", 2).await;
    let r = place(
        order_body(&[("PEN", 1, 300)], ("card", "pending")),
        Some("wait=60"),
    )
    .await;
    assert_eq!(
        r.header("preference-applied").as_deref(),
        Some("wait=10"),
        "capped"
    );
    assert_eq!(
        (&r.json["status"], &r.json["stock"]),
        (&json!("placed"), &json!("reserved"))
    );
    // Without the preference (or an unreadable one): at once, as placed.
    for prefer in [None, Some("wait=soon")] {
        let r = place(paid(), prefer).await;
        assert_eq!(r.header("preference-applied"), None);
        assert_eq!(r.json["status"], "placed", "{}", r.json);
    }
}

#[actix_rt::test]
async fn placing_waits_for_the_stock_outcome_on_sled() {
    let server = Server::start().await;
    placing_waits_for_the_stock_outcome(&server.api()).await;
}

#[actix_rt::test]
async fn placing_waits_for_the_stock_outcome_on_postgres() {
    let Some(pg) = shared_or_skip("placing_waits_for_the_stock_outcome_on_postgres") else {
        return;
    };
    let url = pg.create_database("prefer_wait");
    let server = Server::start_with(&postgres_toml(&url, "node-wait")).await;
    placing_waits_for_the_stock_outcome(&server.api()).await;
}
