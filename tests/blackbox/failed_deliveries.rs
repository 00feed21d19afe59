//! Failed deliveries and return parcels over HTTP, with PostNL booked at a local carrier
//! (`orderly_testkit::carrier`) so every answer is seen arriving at the carrier, on sled and
//! on PostgreSQL: a failed attempt opens a delivery exception the customer answers through
//! the tracking token (a reattempt on a date, passed on to the carrier; then delivered); one
//! left unanswered goes back to origin by its timer, is received into stock and refunded, the
//! order `returned`; the timers survive kill -9; a return parcel is tracked under its own
//! number to its receipt.

use crate::carrier_integration::{config_with_http_postnl, CARRIER_KEY};
use crate::nodes::postgres_toml;
use crate::support::*;
use orderly_testkit::carrier::LocalCarrier;
use orderly_testkit::postgres::shared_or_skip;
use serde_json::{json, Value};

/// A service whose PostNL books at a fresh local carrier, with failed deliveries answered
/// within `secs`: on sled, or (`postgres`: a database name) on PostgreSQL — `None` when no
/// PostgreSQL is available and the test may skip.
async fn start(secs: u32, postgres: Option<&str>) -> Option<(Server, LocalCarrier)> {
    let mut extra =
        format!("[delivery_exceptions]\nanswer_within_secs = {secs}\nmax_attempts = 3\n");
    if let Some(db) = postgres {
        let pg = shared_or_skip(&format!("failed deliveries on postgres ({db})"))?;
        extra.push_str(&postgres_toml(
            &pg.create_database(db),
            &format!("node-{db}"),
        ));
    }
    let carrier = LocalCarrier::start(CARRIER_KEY, 0, None)
        .await
        .expect("carrier");
    let server = Server::start_on_config(&config_with_http_postnl(&carrier.url, 8), &extra).await;
    Some((server, carrier))
}

/// A shipped card order (captured) of one `sku` from ams: its id, tracking token and number.
async fn shipped(api: &Api, sku: &str) -> (String, String, String) {
    api.set_stock("ams", sku, 5).await;
    let placed = api
        .place(
            &new_key(),
            &order_body(&[(sku, 1, 1250)], ("card", "captured")),
        )
        .await;
    let id = str_of(&placed["id"]);
    let token = str_of(&placed["tracking_token"]);
    api.wait_status(&id, "confirmed").await;
    api.pick_all(&id, "ams").await;
    let packed = api.pack(&id, "ams").await;
    let tn = str_of(&packed["shipments"][0]["booking"]["tracking_number"]);
    api.handover(&id).await;
    (id, token, tn)
}

async fn fail_delivery(api: &Api, tn: &str, event_id: &str) -> Value {
    api.postnl()
        .post(
            "/v1/carriers/postnl/events",
            &json!({"event_id": event_id, "tracking_number": tn, "type": "failed_attempt",
                    "reason": "customer_not_available", "occurred_at": "2026-03-02T10:00:00Z"}),
        )
        .await
        .expect(200, "failed attempt")
        .json
}

async fn answer_by_token(api: &Api, token: &str, body: &Value) -> Resp {
    api.anon()
        .post(&format!("/v1/track/{token}/shipments/1/exception"), body)
        .await
}

/// The instructions the carrier got for the order's shipment 1, once there are `n`.
async fn instructions(carrier: &LocalCarrier, id: &str, n: usize) -> Vec<Value> {
    let shipment = format!("{id}-1");
    wait_until("the carrier is told", || {
        let shipment = &shipment;
        async move {
            let told: Vec<Value> = carrier
                .instructions()
                .into_iter()
                .filter(|(s, _)| s == shipment)
                .map(|(_, body)| body)
                .collect();
            if told.len() >= n {
                Ok(told)
            } else {
                Err(format!("told so far: {told:?}"))
            }
        }
    })
    .await
}

async fn a_reattempt_then_delivered(api: &Api, carrier: &LocalCarrier) {
    let (id, token, tn) = shipped(api, "MUG").await;
    fail_delivery(api, &tn, "f1").await;
    let o = api.order(&id).await;
    let x = &o["shipments"][0]["exception"];
    assert_eq!(x["reason"], "customer_not_available", "{o}");
    assert_eq!(x["attempt"], 1);
    assert_eq!(x["open"], true);
    assert_eq!(o["shipments"][0]["attempts"], 1);
    assert_eq!(o["status"], "shipped");
    let t = api
        .anon()
        .get(&format!("/v1/track/{token}"))
        .await
        .expect(200, "track")
        .json;
    assert_eq!(t["shipments"][0]["exception"]["open"], true, "{t}");
    assert!(t["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["step"] == "delivery_failed"));

    // A day in the past, or a date with a return, is refused and changes nothing.
    let past = answer_by_token(
        api,
        &token,
        &json!({"action": "reattempt", "date": "2020-01-01"}),
    )
    .await;
    assert_eq!(past.status, 422, "{}", past.json);
    assert_eq!(past.json["field"], "date");
    let mixed = answer_by_token(
        api,
        &token,
        &json!({"action": "return_to_origin", "date": "2099-01-01"}),
    )
    .await;
    assert_eq!(mixed.status, 422, "{}", mixed.json);
    assert_eq!(
        api.order(&id).await["version"],
        o["version"],
        "nothing stored"
    );
    // A token of the right shape that is nobody's: 404, revealing nothing.
    let nobody = answer_by_token(
        api,
        &"ab".repeat(20),
        &json!({"action": "return_to_origin"}),
    )
    .await;
    assert_eq!(nobody.status, 404);

    // The customer asks for another attempt on a day to come.
    let day = (chrono::Utc::now() + chrono::Duration::days(2))
        .date_naive()
        .to_string();
    let t = answer_by_token(
        api,
        &token,
        &json!({"action": "reattempt", "date": day, "notes": "ring twice"}),
    )
    .await
    .expect(200, "answer")
    .json;
    assert_eq!(t["shipments"][0]["exception"]["open"], false, "{t}");
    assert!(t.get("customer").is_none(), "no personal data: {t}");
    let told = instructions(carrier, &id, 1).await;
    assert_eq!(told[0]["action"], "reattempt", "{told:?}");
    assert_eq!(told[0]["date"], day.as_str());
    assert_eq!(told[0]["notes"], "ring twice");
    assert_eq!(told[0]["tracking_number"], tn.as_str());
    // Answered: a second answer is a conflict.
    let again = answer_by_token(api, &token, &json!({"action": "return_to_origin"})).await;
    assert_eq!(again.status, 409, "{}", again.json);
    assert_eq!(again.json["type"], "/problems/no_open_exception");
    let o = api.order(&id).await;
    let answered: Vec<&Value> = o["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "exception_answered")
        .collect();
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0]["by"], "customer");

    // Delivered on the second attempt.
    let ack = api
        .scan(&tn, "d1", "delivered", "2026-03-04T10:00:00Z")
        .await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");
}

#[actix_rt::test]
async fn a_failed_attempt_answered_with_a_reattempt_is_then_delivered_on_sled() {
    let (server, carrier) = start(3600, None).await.expect("sled");
    a_reattempt_then_delivered(&server.api(), &carrier).await;
    carrier.stop().await;
}

#[actix_rt::test]
async fn a_failed_attempt_answered_with_a_reattempt_is_then_delivered_on_postgres() {
    let Some((server, carrier)) = start(3600, Some("reattempt")).await else {
        return;
    };
    a_reattempt_then_delivered(&server.api(), &carrier).await;
    carrier.stop().await;
}

/// Waits until shipment 1 of `id` is `status`.
async fn wait_shipment(api: &Api, id: &str, status: &str) -> Value {
    wait_until(&format!("shipment 1 of {id} is {status}"), || async move {
        let o = api.order(id).await;
        if o["shipments"][0]["status"] == status {
            Ok(o)
        } else {
            Err(format!("shipment: {}", o["shipments"][0]))
        }
    })
    .await
}

async fn unanswered_goes_back(api: &Api, carrier: &LocalCarrier) {
    let (id, _, tn) = shipped(api, "TEA").await;
    assert_eq!(
        api.stock("TEA").await["warehouses"][0]["on_hand"],
        4,
        "one shipped"
    );
    fail_delivery(api, &tn, "f1").await;
    // No answer within the second: the timer sends it back, and the carrier is told.
    let o = wait_shipment(api, &id, "returning").await;
    assert_eq!(o["status"], "shipped", "still with the carrier: {o}");
    let back = &o["shipments"][0]["return_to_origin"];
    assert!(str_of(&back["reason"]).starts_with("no answer"), "{o}");
    let told = instructions(carrier, &id, 1).await;
    assert_eq!(told[0]["action"], "return_to_origin", "{told:?}");
    let by: Vec<&Value> = o["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "returning_to_origin")
        .map(|e| &e["by"])
        .collect();
    assert_eq!(by, [&json!("exception_timer")]);
    // Too late to answer now.
    let late = api
        .storefront()
        .post(
            &format!("/v1/orders/{id}/shipments/1/exception"),
            &json!({"action": "reattempt"}),
        )
        .await;
    assert_eq!(late.status, 409, "{}", late.json);

    // Back at the warehouse: received into stock, refunded, the order returned.
    let ack = api
        .scan(&tn, "back", "returned_to_sender", "2026-03-05T10:00:00Z")
        .await;
    assert_eq!(ack["order_status"], "returned", "{ack}");
    let o = api.order(&id).await;
    assert_eq!(o["shipments"][0]["status"], "returned");
    assert!(
        o["shipments"][0]["return_to_origin"]["received_at"].is_string(),
        "{o}"
    );
    assert_eq!(o["refunded"], json!({"amount": 1250, "currency": "EUR"}));
    eventually("back in stock", || async {
        api.stock("TEA").await["warehouses"][0]["on_hand"] == 5
    })
    .await;
}

#[actix_rt::test]
async fn a_failed_delivery_left_unanswered_goes_back_to_stock_on_sled() {
    let (server, carrier) = start(1, None).await.expect("sled");
    unanswered_goes_back(&server.api(), &carrier).await;
    carrier.stop().await;
}

#[actix_rt::test]
async fn a_failed_delivery_left_unanswered_goes_back_to_stock_on_postgres() {
    let Some((server, carrier)) = start(1, Some("unanswered")).await else {
        return;
    };
    unanswered_goes_back(&server.api(), &carrier).await;
    carrier.stop().await;
}

/// Exception timers pending at a kill -9 fire after the restart, once each.
async fn exception_timers_survive_kill9(mut server: Server, carrier: LocalCarrier) {
    let api = server.api();
    let mut ids = Vec::new();
    for sku in ["JUG", "BOWL"] {
        let (id, _, tn) = shipped(&api, sku).await;
        fail_delivery(&api, &tn, &format!("f-{sku}")).await;
        ids.push(id);
    }
    for id in &ids {
        let o = api.order(id).await;
        assert_eq!(
            o["shipments"][0]["exception"]["open"], true,
            "pending at the kill: {o}"
        );
    }
    server.kill9();
    server.restart().await;
    let api = server.api();
    for id in &ids {
        let o = wait_shipment(&api, id, "returning").await;
        let n = o["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "returning_to_origin")
            .count();
        assert_eq!(n, 1, "fired once: {o}");
        assert_history_contiguous(&o);
    }
    carrier.stop().await;
}

#[actix_rt::test]
async fn exception_timers_survive_kill9_and_fire_once_on_sled() {
    let (server, carrier) = start(10, None).await.expect("sled");
    exception_timers_survive_kill9(server, carrier).await;
}

#[actix_rt::test]
async fn exception_timers_survive_kill9_and_fire_once_on_postgres() {
    let Some((server, carrier)) = start(10, Some("exception_kill9")).await else {
        return;
    };
    exception_timers_survive_kill9(server, carrier).await;
}

async fn a_return_parcel_tracked_to_receipt(api: &Api) {
    api.set_stock("ams", "VASE", 5).await;
    let placed = api
        .place(
            &new_key(),
            &order_body(&[("VASE", 2, 900)], ("cod", "pending")),
        )
        .await;
    let id = str_of(&placed["id"]);
    let token = str_of(&placed["tracking_token"]);
    api.wait_status(&id, "confirmed").await;
    api.deliver(&id, "ams").await;
    let o = api
        .storefront()
        .post(
            &format!("/v1/orders/{id}/returns"),
            &json!({"lines": [{"sku": "VASE", "quantity": 1}], "reason": "chipped"}),
        )
        .await
        .expect(200, "return approved")
        .json;
    let tn = str_of(&o["return_case"]["tracking_number"]);
    let ack = api
        .scan(&tn, "r1", "in_transit", "2026-03-06T10:00:00Z")
        .await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");
    let o = api.order(&id).await;
    assert_eq!(o["return_case"]["parcel"]["status"], "in_transit", "{o}");
    assert_eq!(
        o["shipments"][0]["status"], "delivered",
        "the outbound parcel is untouched"
    );
    let t = api
        .anon()
        .get(&format!("/v1/track/{token}"))
        .await
        .expect(200, "track")
        .json;
    assert_eq!(t["return_parcel"], "in_transit", "{t}");
    api.scan(&tn, "r2", "delivered", "2026-03-07T10:00:00Z")
        .await;
    // A duplicate changes nothing.
    let dup = api
        .scan(&tn, "r2", "delivered", "2026-03-07T10:00:00Z")
        .await;
    assert_eq!(dup["applied"], false, "{dup}");
    let o = api.order(&id).await;
    assert_eq!(o["return_case"]["parcel"]["status"], "delivered", "{o}");
    // The warehouse's receipt closes it.
    api.warehouse()
        .post(
            &format!("/v1/orders/{id}/returns/receive"),
            &json!({"warehouse": "ams", "lines": [{"sku": "VASE", "quantity": 1}]}),
        )
        .await
        .expect(200, "receive");
    let o = api.wait_status(&id, "returned").await;
    let t = api
        .anon()
        .get(&format!("/v1/track/{token}"))
        .await
        .expect(200, "track")
        .json;
    let steps: Vec<String> = t["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| str_of(&e["step"]))
        .collect();
    for step in ["return_in_transit", "return_delivered", "returned"] {
        assert!(steps.iter().any(|s| s == step), "{step} in {steps:?}");
    }
    assert_history_contiguous(&o);
}

#[actix_rt::test]
async fn a_return_parcel_is_tracked_to_its_receipt_on_sled() {
    let server = Server::start().await;
    a_return_parcel_tracked_to_receipt(&server.api()).await;
}

#[actix_rt::test]
async fn a_return_parcel_is_tracked_to_its_receipt_on_postgres() {
    let Some(pg) = shared_or_skip("a_return_parcel_is_tracked_to_its_receipt_on_postgres") else {
        return;
    };
    let url = pg.create_database("return_parcel");
    let server = Server::start_with(&postgres_toml(&url, "node-return-parcel")).await;
    a_return_parcel_tracked_to_receipt(&server.api()).await;
}
