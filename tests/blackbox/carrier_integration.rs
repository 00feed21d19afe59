//! An HTTP carrier, over real HTTP both ways, on sled and on PostgreSQL: PostNL configured with
//! `[carriers.http]` pointing at a local carrier (`orderly_testkit::carrier`) that fails its
//! first bookings with 503. Packing retries the booking under the same idempotency key (the
//! shipment id) until the carrier books, and the carrier booked once: its tracking number, label
//! and date are the shipment's, scans by that number reach the order. A carrier that keeps
//! failing is dead-lettered after its `max_attempts`, the shipment stays packed, and an
//! operator's retry books it — once.

use crate::nodes::postgres_toml;
use crate::support::*;
use orderly_testkit::carrier::LocalCarrier;
use orderly_testkit::postgres::shared_or_skip;
use serde_json::{json, Value};

pub(crate) const CARRIER_KEY: &str = "local-carrier-key-0001";

/// `config.toml` with PostNL booked over HTTP at `url`.
pub(crate) fn config_with_http_postnl(url: &str, max_attempts: u32) -> String {
    let base = include_str!("../../config.toml");
    let from = "tracking_prefix = \"3S\"\n";
    assert!(base.contains(from), "config.toml has {from:?}");
    base.replacen(
        from,
        &format!("{from}http = {{ base_url = \"{url}\", key = \"{CARRIER_KEY}\", timeout_ms = 2000, max_attempts = {max_attempts} }}\n"),
        1,
    )
}

/// The first dead letter, once there is one.
async fn first_dead_letter(api: &Api) -> Value {
    wait_until("the booking is dead-lettered", || async move {
        let list = api
            .admin()
            .get("/v1/notifications/dead-letters")
            .await
            .expect(200, "dead letters")
            .json;
        list.as_array()
            .and_then(|l| l.first().cloned())
            .ok_or_else(|| format!("dead letters: {list}"))
    })
    .await
}

async fn packed_order(api: &Api, sku: &str) -> String {
    api.set_stock("ams", sku, 5).await;
    let placed = api
        .place(
            &new_key(),
            &order_body(&[(sku, 1, 1250)], ("cod", "pending")),
        )
        .await;
    let id = str_of(&placed["id"]);
    api.wait_status(&id, "confirmed").await;
    api.pick_all(&id, "ams").await;
    id
}

async fn a_failing_carrier_books_once(api: &Api, carrier: &LocalCarrier) {
    let id = packed_order(api, "MUG").await;
    let packed = api.pack(&id, "ams").await;
    let booking = &packed["shipments"][0]["booking"];
    assert_eq!(booking["carrier"], "postnl", "{packed}");
    assert_eq!(
        booking["tracking_number"], "LC0000000001",
        "the carrier's: {packed}"
    );
    assert_eq!(
        booking["carrier_label_url"],
        format!("http://carrier.invalid/labels/{id}-1.pdf")
    );
    assert_eq!(booking["estimated_delivery"], "2099-02-03");
    let plan = &packed["shipments"][0]["plan"];
    assert_eq!(plan["promise"]["latest"], "2099-02-03");
    assert_eq!(plan["rule"], "cash on delivery by PostNL");
    let requests = carrier.requests();
    assert_eq!(
        requests.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [503, 503, 201],
        "two failures, then the booking"
    );
    let shipment_id = format!("{id}-1");
    assert!(requests
        .iter()
        .all(|r| r.idempotency_key.as_deref() == Some(shipment_id.as_str())));
    assert_eq!(carrier.bookings(), 1);
    let body = &requests[2].body;
    assert_eq!(body["shipment_id"], shipment_id);
    assert_eq!(body["service"], "standard");
    assert_eq!(body["warehouse"], "ams");
    assert_eq!(body["destination"]["line1"], STREET, "{body}");
    assert_eq!(body["destination"]["postal_code"], POSTAL_CODE);
    assert_eq!(body["parcels"], json!([{"weight_grams": 1200}]));
    assert_eq!(
        body["cash_on_delivery"],
        json!({"amount": 1250, "currency": "EUR"}),
        "an unpaid COD order: the carrier collects the total"
    );
    // Scans by the carrier's number reach the order.
    api.handover(&id).await;
    let ack = api
        .scan(
            "LC0000000001",
            &format!("{id}-d"),
            "delivered",
            "2026-03-02T10:00:00Z",
        )
        .await;
    assert_eq!(ack["order_status"], "delivered", "{ack}");
}

#[actix_rt::test]
async fn a_failing_http_carrier_books_once_on_sled() {
    let carrier = LocalCarrier::start(CARRIER_KEY, 2, Some("2099-02-03"))
        .await
        .expect("local carrier");
    let server = Server::start_on_config(&config_with_http_postnl(&carrier.url, 8), "").await;
    a_failing_carrier_books_once(&server.api(), &carrier).await;
    carrier.stop().await;
}

#[actix_rt::test]
async fn a_failing_http_carrier_books_once_on_postgres() {
    let Some(pg) = shared_or_skip("a_failing_http_carrier_books_once_on_postgres") else {
        return;
    };
    let url = pg.create_database("http_carrier");
    let carrier = LocalCarrier::start(CARRIER_KEY, 2, Some("2099-02-03"))
        .await
        .expect("local carrier");
    let server = Server::start_on_config(
        &config_with_http_postnl(&carrier.url, 8),
        &postgres_toml(&url, "node-carrier"),
    )
    .await;
    a_failing_carrier_books_once(&server.api(), &carrier).await;
    carrier.stop().await;
}

#[actix_rt::test]
async fn a_booking_out_of_attempts_is_dead_lettered_and_an_operator_retries_it() {
    let carrier = LocalCarrier::start(CARRIER_KEY, 3, None)
        .await
        .expect("local carrier");
    let server = Server::start_on_config(&config_with_http_postnl(&carrier.url, 3), "").await;
    let api = server.api();
    let id = packed_order(&api, "TEA").await;
    api.warehouse()
        .post(
            &format!("/v1/orders/{id}/pack"),
            &json!({"warehouse": "ams", "parcels": [{"weight_grams": 800}]}),
        )
        .await
        .expect(200, "pack (the booking fails behind it)");
    let letter = &first_dead_letter(&api).await;
    assert_eq!(letter["kind"], "book_shipment", "{letter}");
    assert_eq!(letter["attempts"], 3, "max_attempts = 3: {letter}");
    assert!(str_of(&letter["last_error"]).contains("503"), "{letter}");
    let o = api.order(&id).await;
    assert_eq!(o["status"], "packed");
    assert!(o["shipments"][0]["booking"].is_null(), "{o}");
    assert_eq!(carrier.requests().len(), 3);

    // The carrier is back: an operator retries, and it books once.
    let mid = str_of(&letter["message_id"]);
    api.admin()
        .post(
            &format!("/v1/notifications/dead-letters/{mid}/retry"),
            &json!({}),
        )
        .await
        .expect(202, "retry the booking");
    let o = wait_until("booked", || {
        let api = &api;
        let id = &id;
        async move {
            let o = api.order(id).await;
            if o["shipments"][0]["booking"].is_null() {
                Err(format!("not booked yet: {o}"))
            } else {
                Ok(o)
            }
        }
    })
    .await;
    assert_eq!(
        o["shipments"][0]["booking"]["tracking_number"],
        "LC0000000001"
    );
    assert_eq!(carrier.bookings(), 1);
    assert_eq!(carrier.requests().len(), 4);
    carrier.stop().await;
}

/// A carrier without webhooks: the poller asks it for each open shipment's events every
/// second and feeds them through the same path as pushed ones (codes mapped, duplicates
/// dropped), until the shipment is delivered.
async fn the_poller_delivers_an_order(api: &Api, carrier: &LocalCarrier) {
    let id = packed_order(api, "BOWL").await;
    let packed = api.pack(&id, "ams").await;
    let tn = str_of(&packed["shipments"][0]["booking"]["tracking_number"]);
    api.handover(&id).await;
    carrier.add_event(
        &tn,
        json!({"event_id": "p1", "code": "J01", "description": "Sorted", "occurred_at": "2026-03-02T08:00:00Z"}),
    );
    carrier.add_event(
        &tn,
        json!({"event_id": "p2", "code": "I01", "occurred_at": "2026-03-02T12:00:00Z", "location": "Utrecht"}),
    );
    let o = api.wait_status(&id, "delivered").await;
    let scans: Vec<(String, String)> = o["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "carrier_scanned")
        .map(|e| (str_of(&e["kind"]), str_of(&e["code"])))
        .collect();
    assert_eq!(
        scans,
        [
            ("in_transit".to_string(), "J01".to_string()),
            ("delivered".to_string(), "I01".to_string())
        ],
        "each polled event once, however often it was polled: {o}"
    );
    assert!(carrier.polls(&tn) >= 1);
}

fn polling(url: &str) -> String {
    config_with_http_postnl(url, 8).replace(
        "max_attempts = 8 }",
        "max_attempts = 8, poll_interval_secs = 1 }",
    )
}

#[actix_rt::test]
async fn the_poller_delivers_an_order_on_sled() {
    let carrier = LocalCarrier::start(CARRIER_KEY, 0, None)
        .await
        .expect("local carrier");
    let server = Server::start_on_config(&polling(&carrier.url), "").await;
    the_poller_delivers_an_order(&server.api(), &carrier).await;
    carrier.stop().await;
}

#[actix_rt::test]
async fn the_poller_delivers_an_order_on_postgres() {
    let Some(pg) = shared_or_skip("the_poller_delivers_an_order_on_postgres") else {
        return;
    };
    let url = pg.create_database("poller");
    let carrier = LocalCarrier::start(CARRIER_KEY, 0, None)
        .await
        .expect("local carrier");
    let server =
        Server::start_on_config(&polling(&carrier.url), &postgres_toml(&url, "node-poller")).await;
    the_poller_delivers_an_order(&server.api(), &carrier).await;
    carrier.stop().await;
}

/// Cancelling an order whose shipment is packed and booked tells the carrier (`DELETE
/// /shipments/{shipment id}`), once it is durable.
#[actix_rt::test]
async fn cancelling_a_booked_shipment_cancels_its_booking_with_the_carrier() {
    let carrier = LocalCarrier::start(CARRIER_KEY, 0, None)
        .await
        .expect("local carrier");
    let server = Server::start_on_config(&config_with_http_postnl(&carrier.url, 8), "").await;
    let api = server.api();
    let id = packed_order(&api, "JUG").await;
    api.pack(&id, "ams").await;
    api.storefront()
        .post(
            &format!("/v1/orders/{id}/cancel"),
            &json!({"reason": "changed my mind"}),
        )
        .await
        .expect(200, "cancel a packed order");
    let shipment_id = format!("{id}-1");
    wait_until("the carrier is told", || {
        let carrier = &carrier;
        let shipment_id = &shipment_id;
        async move {
            let cancelled = carrier.cancelled();
            if cancelled.contains(shipment_id) {
                Ok(())
            } else {
                Err(format!("cancelled so far: {cancelled:?}"))
            }
        }
    })
    .await;
    let o = api.order(&id).await;
    assert_eq!(o["status"], "cancelled", "{o}");
    assert_eq!(o["shipments"][0]["status"], "cancelled");
    carrier.stop().await;
}

/// A carrier answering garbage is retried up to its `max_attempts`, then dead-lettered; one
/// refusing the request (a 4xx) is dead-lettered at once. Either way the shipment stays packed,
/// nothing is booked half-way, and the service never answers 5xx for it.
#[actix_rt::test]
async fn garbage_is_retried_then_dead_lettered_and_a_refusal_at_once() {
    for (status, body, attempts, says) in [
        (
            200,
            json!({"tracking_number": "not a number"}),
            2,
            "tracking number",
        ),
        (422, json!({"error": "no such service"}), 1, "refused: 422"),
    ] {
        let carrier = LocalCarrier::answering(CARRIER_KEY, status, body)
            .await
            .expect("local carrier");
        let server = Server::start_on_config(&config_with_http_postnl(&carrier.url, 2), "").await;
        let api = server.api();
        let id = packed_order(&api, "VASE").await;
        api.warehouse()
            .post(
                &format!("/v1/orders/{id}/pack"),
                &json!({"warehouse": "ams", "parcels": [{"weight_grams": 800}]}),
            )
            .await
            .expect(200, "pack (the booking fails behind it)");
        let letter = first_dead_letter(&api).await;
        assert_eq!(letter["kind"], "book_shipment", "{letter}");
        assert_eq!(letter["attempts"], attempts, "{letter}");
        assert!(str_of(&letter["last_error"]).contains(says), "{letter}");
        assert_eq!(carrier.requests().len(), attempts as usize);
        let o = api.order(&id).await;
        assert_eq!(o["status"], "packed", "{o}");
        assert!(o["shipments"][0]["booking"].is_null(), "{o}");
        carrier.stop().await;
    }
}

/// A carrier that cannot take the cancellation (503, every time) does not hold up the answer:
/// the cancellation is durable and answered 200 at once, and telling the carrier goes on behind
/// it until its attempts are used up (a dead letter an operator can retry).
#[actix_rt::test]
async fn a_carrier_refusing_a_cancellation_does_not_hold_up_the_answer() {
    let carrier = LocalCarrier::start(CARRIER_KEY, 0, None)
        .await
        .expect("local carrier");
    carrier.answer_cancellations_with(503);
    // Eight attempts with backoff take longer than a request may wait (`send_timeout`).
    let server = Server::start_on_config(&config_with_http_postnl(&carrier.url, 8), "").await;
    let api = server.api();
    let id = packed_order(&api, "PLATE").await;
    api.pack(&id, "ams").await;
    let o = api
        .storefront()
        .post(
            &format!("/v1/orders/{id}/cancel"),
            &json!({"reason": "changed my mind"}),
        )
        .await
        .expect(200, "cancel answered though the carrier is down")
        .json;
    assert_eq!(o["status"], "cancelled", "{o}");
    let letter = first_dead_letter(&api).await;
    assert_eq!(letter["kind"], "cancel_bookings", "{letter}");
    assert_eq!(letter["attempts"], 8, "{letter}");
    assert_eq!(carrier.cancelled().len(), 8);
    carrier.stop().await;
}
