//! The edges of the HTTP contract: who may call what (401/403), idempotent placement, field
//! validation, malformed and oversized bodies, unknown ids and routes, refused transitions,
//! pagination, and the ops endpoints. Clients build against these answers, so every error is
//! checked to be an RFC 9457 problem (`application/problem+json`) with the documented status,
//! and the client helper fails any test that sees a 500.

use crate::support::*;
use serde_json::{json, Value};

fn event_body(tn: &str) -> Value {
    json!({"event_id": "e-1", "tracking_number": tn, "type": "in_transit", "occurred_at": "2026-01-05T10:00:00Z"})
}

/// The problem names `field`, either in its `field` member or in its detail.
fn assert_names_field(problem: &Value, field: &str) {
    let named = problem["field"] == field
        || problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains(field));
    assert!(named, "the problem should name {field:?}: {problem}");
}

#[actix_rt::test]
async fn keys_and_roles_are_enforced() {
    let server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "MUG-RED", 5).await;
    let body = order_body(&[("MUG-RED", 1, 1250)], ("card", "pending"));

    let p = api
        .anon()
        .idempotency(&new_key())
        .post("/v1/orders", &body)
        .await
        .problem(401, "no key");
    assert!(
        p["detail"].as_str().unwrap().contains("Authorization"),
        "{p}"
    );
    api.with(Key::Raw("not-a-real-key-000000000"))
        .idempotency(&new_key())
        .post("/v1/orders", &body)
        .await
        .problem(401, "unknown key");
    api.warehouse()
        .idempotency(&new_key())
        .post("/v1/orders", &body)
        .await
        .problem(403, "warehouse key places an order");
    api.postnl()
        .idempotency(&new_key())
        .post("/v1/orders", &body)
        .await
        .problem(403, "carrier key places an order");

    let order = api.place(&new_key(), &body).await;
    let id = str_of(&order["id"]);
    api.anon()
        .get(&format!("/v1/orders/{id}"))
        .await
        .problem(401, "read an order without a key");
    api.postnl()
        .get(&format!("/v1/orders/{id}"))
        .await
        .problem(403, "carrier reads an order");
    api.admin()
        .get(&format!("/v1/orders/{id}"))
        .await
        .expect(200, "admin reads an order");
    api.anon()
        .get("/v1/orders")
        .await
        .problem(401, "list without a key");

    api.dhl()
        .post("/v1/carriers/postnl/events", &event_body("3SXXXX"))
        .await
        .problem(403, "DHL key posts PostNL events");
    api.storefront()
        .post("/v1/carriers/postnl/events", &event_body("3SXXXX"))
        .await
        .problem(403, "storefront posts carrier events");
    api.anon()
        .post("/v1/carriers/postnl/events", &event_body("3SXXXX"))
        .await
        .problem(401, "carrier event without a key");

    api.storefront()
        .get("/v1/warehouses/ams/picks")
        .await
        .problem(403, "storefront reads the pick list");
    api.anon()
        .get("/v1/warehouses/ams/picks")
        .await
        .problem(401, "pick list without a key");
    api.storefront()
        .post(
            &format!("/v1/orders/{id}/picks"),
            &json!({"warehouse": "ams", "lines": [{"sku": "MUG-RED", "quantity": 1}]}),
        )
        .await
        .problem(403, "storefront acknowledges picks");
    api.storefront()
        .put("/v1/inventory/ams/MUG-RED", &json!({"on_hand": 99}))
        .await
        .problem(403, "storefront sets stock");
    api.warehouse()
        .put("/v1/inventory/ams/MUG-RED", &json!({"on_hand": 99}))
        .await
        .problem(403, "warehouse sets stock");
    api.storefront()
        .get("/v1/notifications/dead-letters")
        .await
        .problem(403, "storefront reads dead letters");
    api.warehouse()
        .get("/v1/notifications/dead-letters")
        .await
        .problem(403, "warehouse reads dead letters");
    api.anon()
        .get("/v1/notifications/dead-letters")
        .await
        .problem(401, "dead letters without a key");
    api.admin()
        .get("/v1/notifications/dead-letters")
        .await
        .expect(200, "admin reads dead letters");

    // Nothing above changed the stock.
    assert_eq!(api.stock("MUG-RED").await["on_hand"], 5);
    // The tracking page needs no key.
    let token = str_of(&order["tracking_token"]);
    api.anon()
        .get(&format!("/v1/track/{token}"))
        .await
        .expect(200, "tracking without a key");
}

#[actix_rt::test]
async fn placement_is_idempotent() {
    let server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "MUG-RED", 5).await;
    let body = order_body(&[("MUG-RED", 1, 1250)], ("card", "pending"));

    let p = api
        .storefront()
        .post("/v1/orders", &body)
        .await
        .problem(400, "no Idempotency-Key");
    assert!(
        p["detail"].as_str().unwrap().contains("Idempotency-Key"),
        "{p}"
    );

    let key = new_key();
    let first = api
        .storefront()
        .idempotency(&key)
        .post("/v1/orders", &body)
        .await
        .expect(201, "first placement");
    let again = api
        .storefront()
        .idempotency(&key)
        .post("/v1/orders", &body)
        .await
        .expect(201, "replayed placement");
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(
        again.json, first.json,
        "a replay returns the original response body"
    );

    let mut other = body.clone();
    other["lines"][0]["quantity"] = json!(2);
    api.storefront()
        .idempotency(&key)
        .post("/v1/orders", &other)
        .await
        .problem(422, "same key, different body");

    let all = api.all_orders(None).await;
    assert_eq!(all.len(), 1, "one key, one order: {all:?}");
}

#[actix_rt::test]
async fn invalid_bodies_are_refused_with_the_field_named() {
    let server = Server::start().await;
    let api = server.api();
    let good = order_body(&[("MUG-RED", 1, 1250)], ("card", "pending"));
    let place = |body: Value| {
        let api = &api;
        async move {
            api.storefront()
                .idempotency(&new_key())
                .post("/v1/orders", &body)
                .await
        }
    };

    let mut b = good.clone();
    b["currency"] = json!("EURO");
    assert_names_field(&place(b).await.problem(422, "unknown currency"), "currency");

    let mut b = good.clone();
    b["lines"][0]["quantity"] = json!(0);
    assert_names_field(
        &place(b).await.problem(422, "zero quantity"),
        "lines[0].quantity",
    );

    let mut b = good.clone();
    b["shipping"]["address"]["country"] = json!("Netherlands");
    assert_names_field(
        &place(b)
            .await
            .problem(422, "country is not ISO 3166-1 alpha-2"),
        "shipping.address.country",
    );

    let mut b = good.clone();
    b["shipping"]["address"]["country"] = json!("nl");
    assert_names_field(
        &place(b).await.problem(422, "lower-case country"),
        "shipping.address.country",
    );

    let mut b = good.clone();
    b["customer"]["email"] = json!("not-an-email");
    assert_names_field(&place(b).await.problem(422, "bad email"), "customer.email");

    // A preferred channel the customer cannot be reached on, or also opted out of.
    let mut b = good.clone();
    b["customer"]["channel"] = json!("whatsapp");
    b["customer"].as_object_mut().unwrap().remove("phone");
    assert_names_field(
        &place(b).await.problem(422, "whatsapp without a phone"),
        "customer.channel",
    );
    let mut b = good.clone();
    b["customer"]["channel"] = json!("sms");
    b["customer"]["opt_out"] = json!(["sms"]);
    assert_names_field(
        &place(b).await.problem(422, "preferred and opted out"),
        "customer.channel",
    );
    let mut b = good.clone();
    b["customer"]["opt_out"] = json!(["email", "email"]);
    assert_names_field(
        &place(b).await.problem(422, "opted out twice"),
        "customer.opt_out[1]",
    );

    // A phone number the SMS and WhatsApp channels could not send to is refused now, not
    // dead-lettered later.
    for phone in ["0612345678", "+31 6 12345678", "+0612345678", "+1234567"] {
        let mut b = good.clone();
        b["customer"]["phone"] = json!(phone);
        assert_names_field(
            &place(b).await.problem(422, "phone not in E.164"),
            "customer.phone",
        );
    }

    let mut b = good.clone();
    b["lines"] = json!([]);
    assert_names_field(&place(b).await.problem(422, "no lines"), "lines");

    let mut b = good.clone();
    b["lines"][0]["unit_price"] = json!(-5);
    assert_names_field(
        &place(b).await.problem(422, "negative price"),
        "lines[0].unit_price",
    );

    let mut b = good.clone();
    b["payment"]["method"] = json!("bitcoin");
    place(b).await.problem(422, "unknown payment method");

    let malformed = api
        .storefront()
        .idempotency(&new_key())
        .post_raw(
            "/v1/orders",
            "application/json",
            actix_web::web::Bytes::from_static(br#"{"customer": {"id": "c1", "#),
        )
        .await;
    malformed.problem(400, "malformed JSON");

    let mut big = good.clone();
    big["external_ref"] = json!("x".repeat(70 * 1024));
    place(big).await.problem(413, "a body over 64 KiB");

    // None of it created anything.
    assert!(api.all_orders(None).await.is_empty());
}

#[actix_rt::test]
async fn unknown_ids_and_routes_are_404() {
    let server = Server::start().await;
    let api = server.api();
    let random = uuid::Uuid::new_v4();
    api.storefront()
        .get(&format!("/v1/orders/{random}"))
        .await
        .problem(404, "unknown order id");
    api.storefront()
        .get("/v1/orders/not-a-uuid")
        .await
        .problem(404, "non-uuid order id");
    api.storefront()
        .post(
            &format!("/v1/orders/{random}/cancel"),
            &json!({"reason": "x"}),
        )
        .await
        .problem(404, "cancel an unknown order");
    api.storefront()
        .post(
            &format!("/v1/orders/{random}/payments"),
            &json!({"status": "captured", "amount": 1, "reference": "r"}),
        )
        .await
        .problem(404, "pay an unknown order");
    api.warehouse()
        .get(&format!("/v1/orders/{random}/label"))
        .await
        .problem(404, "label of an unknown order");
    api.postnl()
        .post("/v1/carriers/postnl/events", &event_body("3SNOSUCHPARCEL"))
        .await
        .problem(404, "unknown tracking number");
    api.anon()
        .get("/v1/no/such/route")
        .await
        .problem(404, "unknown route");
    api.storefront()
        .get("/v2/orders")
        .await
        .problem(404, "unknown version");
}

#[actix_rt::test]
async fn refused_transitions_are_409_with_the_current_status() {
    let server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "MUG-RED", 5).await;
    let id = str_of(
        &api.place(
            &new_key(),
            &order_body(&[("MUG-RED", 1, 1250)], ("card", "captured")),
        )
        .await["id"],
    );
    api.wait_status(&id, "confirmed").await;

    let p = api
        .storefront()
        .post(
            &format!("/v1/orders/{id}/returns"),
            &json!({"lines": [{"sku": "MUG-RED", "quantity": 1}], "reason": "meh"}),
        )
        .await
        .problem(409, "return before delivery");
    assert_eq!(p["current_status"], "confirmed", "{p}");
    let p = api
        .warehouse()
        .post(&format!("/v1/orders/{id}/handover"), &json!({}))
        .await
        .problem(409, "handover before packing");
    assert_eq!(p["current_status"], "confirmed", "{p}");
    let p = api
        .warehouse()
        .post(
            &format!("/v1/orders/{id}/pack"),
            &json!({"warehouse": "ams", "parcels": [{"weight_grams": 500}]}),
        )
        .await
        .problem(409, "pack before picking");
    assert_eq!(p["current_status"], "confirmed", "{p}");

    api.pick_all(&id, "ams").await;
    api.pack(&id, "ams").await;
    api.handover(&id).await;
    let p = api
        .storefront()
        .post(
            &format!("/v1/orders/{id}/cancel"),
            &json!({"reason": "changed my mind"}),
        )
        .await
        .problem(409, "cancel after shipping");
    assert_eq!(p["current_status"], "shipped", "{p}");
    let p = api
        .storefront()
        .post(
            &format!("/v1/orders/{id}/returns"),
            &json!({"lines": [{"sku": "MUG-RED", "quantity": 1}], "reason": "meh"}),
        )
        .await
        .problem(409, "return while in transit");
    assert_eq!(p["current_status"], "shipped", "{p}");
    assert_eq!(api.status_of(&id).await, "shipped");

    // A cancelled order stays cancelled.
    let id2 = str_of(
        &api.place(
            &new_key(),
            &order_body(&[("MUG-RED", 1, 1250)], ("card", "pending")),
        )
        .await["id"],
    );
    let c = api
        .storefront()
        .post(
            &format!("/v1/orders/{id2}/cancel"),
            &json!({"reason": "changed my mind"}),
        )
        .await
        .expect(200, "cancel a placed order")
        .json;
    assert_eq!(c["status"], "cancelled");
    assert_eq!(c["cancellation"]["reason"], "changed my mind");
    let p = api
        .storefront()
        .post(
            &format!("/v1/orders/{id2}/cancel"),
            &json!({"reason": "again"}),
        )
        .await
        .problem(409, "cancel twice");
    assert_eq!(p["current_status"], "cancelled", "{p}");
}

#[actix_rt::test]
async fn listing_pages_newest_first() {
    let server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "MUG-RED", 50).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut body = order_body(&[("MUG-RED", 1, 1250)], ("card", "pending"));
        body["external_ref"] = json!(format!("page-{i}"));
        ids.push(str_of(&api.place(&new_key(), &body).await["id"]));
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/orders?limit=2&cursor={c}"),
            None => "/v1/orders?limit=2".to_string(),
        };
        let page = api
            .storefront()
            .get(&path)
            .await
            .expect(200, "list page")
            .json;
        pages += 1;
        let orders = page["orders"].as_array().expect("orders");
        assert!(orders.len() <= 2, "limit=2 returned {}", orders.len());
        seen.extend(orders.iter().map(|o| str_of(&o["id"])));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3, "5 orders at 2 per page");
    assert_eq!(seen, newest_first, "every order once, newest first");

    api.storefront()
        .get("/v1/orders?limit=500")
        .await
        .problem(400, "limit above 200");
    api.storefront()
        .get("/v1/orders?limit=0")
        .await
        .problem(400, "limit 0");
    api.storefront()
        .get("/v1/orders?status=lost")
        .await
        .problem(400, "unknown status filter");
    api.storefront()
        .get("/v1/orders?cursor=garbage")
        .await
        .problem(400, "bad cursor");

    api.storefront()
        .post(
            &format!("/v1/orders/{}/cancel", ids[2]),
            &json!({"reason": "duplicate"}),
        )
        .await
        .expect(200, "cancel");
    let cancelled: Vec<String> = api
        .all_orders(Some("cancelled"))
        .await
        .iter()
        .map(|o| str_of(&o["id"]))
        .collect();
    assert_eq!(cancelled, vec![ids[2].clone()]);
    let placed: Vec<String> = api
        .all_orders(Some("placed"))
        .await
        .iter()
        .map(|o| str_of(&o["id"]))
        .collect();
    let want: Vec<String> = newest_first
        .iter()
        .filter(|i| **i != ids[2])
        .cloned()
        .collect();
    assert_eq!(placed, want);
    assert!(api.all_orders(Some("delivered")).await.is_empty());
}

#[actix_rt::test]
async fn ops_endpoints_answer() {
    let server = Server::start().await;
    let api = server.api();
    api.anon().get("/healthz").await.expect(200, "healthz");
    api.anon().get("/readyz").await.expect(200, "readyz");
    api.set_stock("ams", "MUG-RED", 5).await;
    api.place(
        &new_key(),
        &order_body(&[("MUG-RED", 1, 1250)], ("cod", "pending")),
    )
    .await;

    let m = api.anon().get("/metrics").await.expect(200, "metrics");
    let text = m.text();
    assert!(
        text.contains("orderly_transitions_total"),
        "metrics lack orderly_transitions_total:\n{text}"
    );
    let transitions: f64 = text
        .lines()
        .find(|l| l.starts_with("orderly_transitions_total"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("a value for orderly_transitions_total");
    assert!(
        transitions >= 1.0,
        "an order was placed, yet transitions = {transitions}"
    );

    let doc = api
        .anon()
        .get("/openapi.json")
        .await
        .expect(200, "openapi")
        .json;
    assert!(
        doc["paths"]["/v1/orders"].is_object(),
        "openapi lacks /v1/orders: {}",
        doc["paths"]
    );
    assert!(
        doc["paths"]["/v1/track/{token}"].is_object()
            || doc["paths"]
                .as_object()
                .unwrap()
                .keys()
                .any(|k| k.starts_with("/v1/track/"))
    );
}

#[actix_rt::test]
async fn odd_inputs_get_client_errors_not_500() {
    let server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "MUG-RED", 5).await;
    let body = order_body(&[("MUG-RED", 2, 1250)], ("card", "pending"));
    let id = str_of(&api.place(&new_key(), &body).await["id"]);
    wait_until("the order's stock is reserved", || {
        let (api, id) = (&api, &id);
        async move {
            let o = api.order(id).await;
            if o["stock"] == "reserved" {
                Ok(())
            } else {
                Err(o["stock"].to_string())
            }
        }
    })
    .await;

    let is_4xx = |r: Resp, what: &str| {
        assert!(
            (400..500).contains(&r.status),
            "{what}: expected a 4xx, got {} {}",
            r.status,
            r.text()
        );
        let status = r.status;
        r.problem(status, what);
    };
    is_4xx(
        api.storefront()
            .idempotency(&new_key())
            .post_raw("/v1/orders", "text/plain", body.to_string())
            .await,
        "text/plain body",
    );
    is_4xx(
        api.storefront()
            .idempotency(&"k".repeat(300))
            .post("/v1/orders", &body)
            .await,
        "300-character Idempotency-Key",
    );
    is_4xx(
        api.storefront().get("/v1/orders?limit=abc").await,
        "non-numeric limit",
    );
    is_4xx(
        api.storefront().get("/v1/orders?limit=-1").await,
        "negative limit",
    );
    is_4xx(
        api.storefront().get("/v1/orders?bogus=1").await,
        "unknown query parameter",
    );
    is_4xx(
        api.storefront()
            .get(&format!("/v1/orders/{}", "9".repeat(500)))
            .await,
        "very long id",
    );
    is_4xx(
        api.warehouse().get("/v1/warehouses/a%20b/picks").await,
        "warehouse id with a space",
    );
    is_4xx(
        api.warehouse()
            .get("/v1/warehouses/ams/picks?cursor=nope")
            .await,
        "bad pick cursor",
    );
    is_4xx(
        api.admin()
            .put("/v1/inventory/ams/MUG-RED", &json!({"on_hand": -1}))
            .await,
        "negative stock",
    );
    let p = api
        .admin()
        .put("/v1/inventory/ams/MUG-RED", &json!({"on_hand": 1}))
        .await
        .problem(409, "stock below what is reserved");
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("reserved"),
        "{p}"
    );
    is_4xx(
        api.admin()
            .put("/v1/inventory/ams/MUG-RED", &json!({"on_hand": "ten"}))
            .await,
        "stock as a string",
    );
    is_4xx(
        api.postnl()
            .post("/v1/carriers/postnl/events", &json!({"event_id": "e", "tracking_number": "3S1", "type": "teleported", "occurred_at": "2026-01-05T10:00:00Z"}))
            .await,
        "unknown carrier event type",
    );
    is_4xx(
        api.postnl()
            .post("/v1/carriers/postnl/events", &json!({"event_id": "e", "tracking_number": "3S1", "type": "in_transit", "occurred_at": "yesterday"}))
            .await,
        "occurred_at is not RFC 3339",
    );
    is_4xx(
        api.storefront()
            .post(
                &format!("/v1/orders/{id}/payments"),
                &json!({"status": "refunded", "amount": 2500, "reference": "r"}),
            )
            .await,
        "unknown payment status",
    );
    is_4xx(
        api.storefront()
            .post(&format!("/v1/orders/{id}/cancel"), &json!({"reason": ""}))
            .await,
        "empty cancellation reason",
    );
    is_4xx(
        api.warehouse()
            .post(
                &format!("/v1/orders/{id}/picks"),
                &json!({"warehouse": "ams", "lines": [{"sku": "MUG-RED", "quantity": 1}]}),
            )
            .await,
        "picks on an unconfirmed order",
    );
    // Still intact after all of that.
    let o = api.order(&id).await;
    assert_eq!(o["status"], "placed");
    assert_history_contiguous(&o);
    assert_eq!(api.stock("MUG-RED").await["on_hand"], 5);
}
