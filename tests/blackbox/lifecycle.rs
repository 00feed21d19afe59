//! The happy paths end to end, through the HTTP API only: an order is placed, confirms by
//! itself, is picked, packed (carrier booked, label printed), handed over, scanned by the
//! carrier to delivery, tracked by the customer, returned and refunded — with the inventory
//! following every step. These are the flows every shop depends on, so they are checked
//! field by field rather than by status code alone.

use crate::support::*;
use serde_json::{json, Value};

fn ago(minutes: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339()
}

fn steps(tracking: &Value) -> Vec<String> {
    tracking["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| str_of(&e["step"]))
        .collect()
}

/// True if `want` appears in `have` in this order (other steps may sit between).
fn is_subsequence(want: &[&str], have: &[String]) -> bool {
    let mut it = have.iter();
    want.iter().all(|w| it.any(|h| h == w))
}

async fn assert_stock(api: &Api, sku: &str, on_hand: i64, reserved: i64) {
    wait_until(
        &format!("{sku} has on_hand {on_hand} and reserved {reserved}"),
        || async move {
            let s = api.stock(sku).await;
            if s["on_hand"] == on_hand
                && s["reserved"] == reserved
                && s["available"] == on_hand - reserved
            {
                Ok(())
            } else {
                Err(s.to_string())
            }
        },
    )
    .await;
}

#[actix_rt::test]
async fn order_goes_from_placed_to_refunded() {
    let server = Server::start().await;
    let api = server.api();

    let cell = api.set_stock("ams", "MUG-RED", 10).await;
    assert_eq!(
        cell,
        json!({"warehouse": "ams", "sku": "MUG-RED", "on_hand": 10, "reserved": 0, "available": 10, "incoming": 0})
    );
    api.set_stock("ams", "TEE-M", 5).await;

    // Placed, card already captured.
    let body = order_body(
        &[("MUG-RED", 2, 1250), ("TEE-M", 1, 4999)],
        ("card", "captured"),
    );
    let placed = api
        .storefront()
        .idempotency(&new_key())
        .post("/v1/orders", &body)
        .await
        .expect(201, "place order");
    let id = str_of(&placed.json["id"]);
    assert_eq!(placed.json["status"], "placed", "{}", placed.json);
    assert_eq!(
        placed.json["total"],
        json!({"amount": 7499, "currency": "EUR"})
    );
    let token = str_of(&placed.json["tracking_token"]);
    assert!(
        token.len() >= 32,
        "tracking token too short to be unguessable: {token}"
    );
    assert!(!placed.json["history"]
        .as_array()
        .expect("history")
        .is_empty());
    assert_eq!(placed.json["history"][0]["type"], "placed");
    assert!(
        placed.header("idempotent-replayed").is_none(),
        "a first placement is not a replay"
    );

    // Confirms by itself once the stock is reserved.
    let confirmed = api.wait_status(&id, "confirmed").await;
    assert_eq!(confirmed["stock"], "reserved");
    assert_eq!(confirmed["warehouse"], "ams");
    assert_stock(&api, "MUG-RED", 10, 2).await;
    assert_stock(&api, "TEE-M", 5, 1).await;

    // Shows up on the warehouse's pick list.
    let picks = api
        .warehouse()
        .get("/v1/warehouses/ams/picks")
        .await
        .expect(200, "pick list")
        .json;
    assert_eq!(picks["warehouse"], "ams");
    let entry = picks["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .find(|o| o["order_id"] == id.as_str())
        .cloned();
    let entry =
        entry.unwrap_or_else(|| panic!("confirmed order {id} not on the pick list: {picks}"));
    let mut lines: Vec<(String, u64, u64)> = entry["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                str_of(&l["sku"]),
                l["quantity"].as_u64().unwrap(),
                l["picked"].as_u64().unwrap(),
            )
        })
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![("MUG-RED".into(), 2, 0), ("TEE-M".into(), 1, 0)]
    );

    // Picked, then packed: the carrier is booked and the label is ready.
    let picked = api.pick_all(&id, "ams").await;
    assert!(
        picked["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["picked"] == l["quantity"]),
        "{picked}"
    );
    let packed = api.pack(&id, "ams").await;
    assert_eq!(packed["status"], "packed");
    let booking = &packed["shipments"][0]["booking"];
    assert_eq!(
        booking["carrier"], "postnl",
        "a light parcel to NL goes with PostNL: {packed}"
    );
    assert_eq!(booking["carrier_name"], "PostNL");
    assert_eq!(booking["service"], "standard");
    let tn = str_of(&booking["tracking_number"]);
    assert!(
        tn.starts_with("3S"),
        "PostNL tracking numbers start with 3S: {tn}"
    );
    assert!(booking["estimated_delivery"].is_string(), "{booking}");
    assert_eq!(packed["label_url"], format!("/v1/orders/{id}/label"));
    let label = api
        .warehouse()
        .get(&format!("/v1/orders/{id}/label"))
        .await
        .expect(200, "label");
    assert_eq!(
        label.header("content-type").as_deref(),
        Some("application/pdf")
    );
    assert!(label.bytes.starts_with(b"%PDF"), "the label is not a PDF");
    let picks = api
        .warehouse()
        .get("/v1/warehouses/ams/picks")
        .await
        .expect(200, "pick list")
        .json;
    assert!(
        !picks.to_string().contains(&id),
        "a packed order is no longer on the pick list: {picks}"
    );

    // Handed over: shipped, and the reserved units left the shelf.
    let shipped = api.handover(&id).await;
    assert_eq!(shipped["status"], "shipped");
    assert_stock(&api, "MUG-RED", 8, 0).await;
    assert_stock(&api, "TEE-M", 4, 0).await;

    // Carrier scans up to delivery; duplicates and late scans change nothing.
    let ack = api.scan(&tn, "pnl-1", "in_transit", &ago(30)).await;
    assert_eq!(
        (ack["order_status"].clone(), ack["applied"].clone()),
        (json!("shipped"), json!(true))
    );
    let ack = api.scan(&tn, "pnl-2", "out_for_delivery", &ago(20)).await;
    assert_eq!(
        (ack["order_status"].clone(), ack["applied"].clone()),
        (json!("shipped"), json!(true))
    );
    let ack = api.scan(&tn, "pnl-3", "delivered", &ago(10)).await;
    assert_eq!(
        (ack["order_status"].clone(), ack["applied"].clone()),
        (json!("delivered"), json!(true))
    );
    let ack = api.scan(&tn, "pnl-3", "delivered", &ago(10)).await;
    assert_eq!(
        (ack["order_status"].clone(), ack["applied"].clone()),
        (json!("delivered"), json!(false)),
        "a repeated event id is ignored"
    );
    let ack = api.scan(&tn, "pnl-0", "in_transit", &ago(40)).await;
    assert_eq!(
        ack["order_status"], "delivered",
        "a late in_transit scan does not undo delivery: {ack}"
    );
    let delivered = api.order(&id).await;
    assert_eq!(delivered["status"], "delivered");
    assert_eq!(
        delivered["shipments"][0]["last_scan"], "delivered",
        "the newest scan stays the last one: {delivered}"
    );

    // The public tracking page: timeline, carrier, tracking number, and no personal data.
    let track = api
        .anon()
        .get(&format!("/v1/track/{token}"))
        .await
        .expect(200, "tracking page");
    assert_eq!(track.json["status"], "delivered");
    assert_eq!(track.json["carrier"], "PostNL");
    assert_eq!(track.json["tracking_number"], tn.as_str());
    assert!(track.json["placed_at"].is_string());
    let st = steps(&track.json);
    assert!(
        is_subsequence(
            &[
                "placed",
                "confirmed",
                "packed",
                "shipped",
                "in_transit",
                "out_for_delivery",
                "delivered"
            ],
            &st
        ),
        "timeline steps: {st:?}"
    );
    let raw = track.text();
    for pii in [
        EMAIL,
        PHONE,
        NAME,
        STREET,
        POSTAL_CODE,
        CITY,
        "cust-42",
        "2hg",
    ] {
        assert!(!raw.contains(pii), "the tracking page leaks {pii:?}: {raw}");
    }
    api.anon()
        .get(&format!("/v1/track/{}", "0".repeat(40)))
        .await
        .problem(404, "unknown tracking token");

    // Return of one mug: approved with a label, received, refunded, restocked.
    let ret = api
        .storefront()
        .post(
            &format!("/v1/orders/{id}/returns"),
            &json!({"lines": [{"sku": "MUG-RED", "quantity": 1}], "reason": "chipped"}),
        )
        .await
        .expect(200, "request return")
        .json;
    assert_eq!(ret["status"], "delivered");
    assert_eq!(
        ret["return_case"]["lines"],
        json!([{"sku": "MUG-RED", "quantity": 1}])
    );
    assert_eq!(
        ret["return_label_url"],
        format!("/v1/orders/{id}/returns/label")
    );
    let rl = api
        .storefront()
        .get(&format!("/v1/orders/{id}/returns/label"))
        .await
        .expect(200, "return label");
    assert_eq!(
        rl.header("content-type").as_deref(),
        Some("application/pdf")
    );
    assert!(
        rl.bytes.starts_with(b"%PDF"),
        "the return label is not a PDF"
    );

    let returned = api
        .warehouse()
        .post(
            &format!("/v1/orders/{id}/returns/receive"),
            &json!({"warehouse": "ams", "lines": [{"sku": "MUG-RED", "quantity": 1}]}),
        )
        .await
        .expect(200, "receive return")
        .json;
    assert_eq!(returned["status"], "returned");
    assert_eq!(
        returned["refunded"],
        json!({"amount": 1250, "currency": "EUR"})
    );
    assert_stock(&api, "MUG-RED", 9, 0).await;
    assert_stock(&api, "TEE-M", 4, 0).await;

    let final_order = api.order(&id).await;
    assert_history_contiguous(&final_order);
    for kind in [
        "placed",
        "confirmed",
        "packed",
        "shipped",
        "delivered",
        "return_approved",
        "return_received",
        "refund_issued",
    ] {
        assert_eq!(
            count_events(&final_order, kind),
            1,
            "{kind} recorded once: {}",
            final_order["history"]
        );
    }
    let track = api
        .anon()
        .get(&format!("/v1/track/{token}"))
        .await
        .expect(200, "tracking page")
        .json;
    assert_eq!(track["status"], "returned");
    assert!(
        is_subsequence(
            &["delivered", "return_approved", "returned", "refunded"],
            &steps(&track)
        ),
        "{track}"
    );
}

#[actix_rt::test]
async fn cash_on_delivery_confirms_without_payment() {
    let server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "MUG-RED", 3).await;
    let placed = api
        .place(
            &new_key(),
            &order_body(&[("MUG-RED", 1, 1250)], ("cod", "pending")),
        )
        .await;
    let id = str_of(&placed["id"]);
    let o = api.wait_status(&id, "confirmed").await;
    assert_eq!(o["payment"]["method"], "cod");
    assert_eq!(
        o["payment"]["status"], "pending",
        "nothing was paid yet: {o}"
    );
    assert_eq!(o["stock"], "reserved");
}

#[actix_rt::test]
async fn card_order_confirms_once_payment_is_reported() {
    let server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "MUG-RED", 3).await;
    let placed = api
        .place(
            &new_key(),
            &order_body(&[("MUG-RED", 2, 1250)], ("card", "pending")),
        )
        .await;
    let id = str_of(&placed["id"]);
    // Stock is reserved but the order waits for its payment.
    wait_until("stock reserved", || {
        let api = &api;
        let id = &id;
        async move {
            let o = api.order(id).await;
            if o["stock"] == "reserved" {
                Ok(o)
            } else {
                Err(o["stock"].to_string())
            }
        }
    })
    .await;
    assert_eq!(api.status_of(&id).await, "placed");

    let wrong = api
        .storefront()
        .post(
            &format!("/v1/orders/{id}/payments"),
            &json!({"status": "captured", "amount": 2499, "reference": "psp-1"}),
        )
        .await
        .problem(422, "payment amount differs from the total");
    assert!(wrong.to_string().contains("amount"), "{wrong}");

    let paid = api
        .storefront()
        .post(
            &format!("/v1/orders/{id}/payments"),
            &json!({"status": "captured", "amount": 2500, "reference": "psp-1"}),
        )
        .await
        .expect(200, "report payment")
        .json;
    assert_eq!(paid["payment"]["status"], "captured");
    let o = api.wait_status(&id, "confirmed").await;
    assert_eq!(o["payment"]["amount"], 2500);
    assert_history_contiguous(&o);
}
