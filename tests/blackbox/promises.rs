//! Delivery promises over HTTP, on sled and on PostgreSQL, with the repository's `config.toml`
//! (PostNL and DHL with rate tables; carrier rules "cash on delivery by PostNL", then
//! "cheapest"; Amsterdam and Rotterdam warehouses on Amsterdam time):
//!
//! - a quote answers one option per shipping method, priced by the rules, with a window of
//!   local dates, and stores nothing;
//! - an order placed on it is promised the quoted window (on the order and its shipment, with
//!   the carrier, the price and the rule), as long as no cut-off passed between quote and
//!   order;
//! - packing books the service the rules choose for the real parcel, with its price, the rule
//!   and the window from then on, in the history; a carrier's new date revises the promise;
//! - cash on delivery goes by PostNL with its surcharge;
//! - bad quotes are clear 4xx problems: an address no service reaches, lines not in stock, a
//!   malformed field, the wrong role.

use crate::nodes::postgres_toml;
use crate::support::*;
use orderly_testkit::postgres::shared_or_skip;
use serde_json::{json, Value};

fn quote_body(lines: &[(&str, u32, i64)], country: &str, postal_code: &str) -> Value {
    json!({
        "destination": {"country": country, "postal_code": postal_code},
        "lines": lines.iter().map(|(sku, q, p)| json!({"sku": sku, "quantity": q, "unit_price": p})).collect::<Vec<_>>(),
    })
}

async fn quote(api: &Api, body: &Value) -> Value {
    api.storefront()
        .post("/v1/quotes", body)
        .await
        .expect(200, "quote")
        .json
}

fn option<'a>(q: &'a Value, method: &str) -> &'a Value {
    q["options"]
        .as_array()
        .expect("options")
        .iter()
        .find(|o| o["method"] == method)
        .unwrap_or_else(|| panic!("no {method} option: {q}"))
}

fn window(v: &Value) -> (String, String) {
    (str_of(&v["earliest"]), str_of(&v["latest"]))
}

async fn a_quote_is_what_the_order_is_promised(api: &Api) {
    api.set_stock("ams", "MUG", 10).await;
    let body = quote_body(&[("MUG", 2, 1250)], "NL", POSTAL_CODE);
    let q = quote(api, &body).await;
    let standard = option(&q, "standard");
    // Cheapest: PostNL standard (6.95 up to 2 kg) beats DHL europlus (7.50).
    assert_eq!(
        standard["price"],
        json!({"amount": 695, "currency": "EUR"}),
        "{q}"
    );
    let s = &standard["shipments"][0];
    assert_eq!(
        (
            s["warehouse"].as_str(),
            s["carrier"].as_str(),
            s["service"].as_str()
        ),
        (Some("ams"), Some("postnl"), Some("standard")),
        "{q}"
    );
    assert_eq!(s["rule"], "cheapest");
    assert_eq!(s["time_zone"], "Europe/Amsterdam");
    let (earliest, latest) = window(standard);
    assert!(earliest <= latest, "{q}");
    let today = chrono::Utc::now().date_naive().to_string();
    assert!(
        earliest > today,
        "a parcel leaving today arrives tomorrow at the soonest: {q}"
    );
    // Express: PostNL's evening service (12.95) beats DHL express (15.95).
    let express = option(&q, "express");
    assert_eq!(express["price"]["amount"], 1295, "{q}");
    assert_eq!(express["shipments"][0]["service"], "evening");
    // A quote reserves nothing.
    let stock = api.stock("MUG").await;
    assert_eq!(stock["reserved"], 0, "{stock}");

    let placed = api
        .place(
            &new_key(),
            &order_body(&[("MUG", 2, 1250)], ("card", "captured")),
        )
        .await;
    let id = str_of(&placed["id"]);
    let o = api.wait_status(&id, "confirmed").await;
    let plan = &o["shipments"][0]["plan"];
    assert_eq!(
        (
            plan["carrier"].as_str(),
            plan["service"].as_str(),
            plan["rule"].as_str()
        ),
        (Some("postnl"), Some("standard"), Some("cheapest")),
        "{o}"
    );
    assert_eq!(plan["price"]["amount"], 695);
    assert_eq!(o["shipments"][0]["delayed"], false);
    // The same window, unless a cut-off passed between the quote and the order (then a quote
    // now says so too).
    let again = quote(api, &body).await;
    if window(option(&again, "standard")) == (earliest.clone(), latest.clone()) {
        assert_eq!(window(&o["promised"]), (earliest, latest), "{o}");
        assert_eq!(window(&plan["promise"]), window(&o["promised"]));
    }
    let allocated = o["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "allocated")
        .expect("allocated");
    assert_eq!(allocated["shipments"][0]["plan"], *plan, "{allocated}");

    // Packing books the service for the real parcel (1.2 kg), with price, rule and window.
    api.pick_all(&id, "ams").await;
    let packed = api.pack(&id, "ams").await;
    let booking = &packed["shipments"][0]["booking"];
    assert_eq!(booking["carrier"], "postnl", "{packed}");
    // Its price, rule and window are the shipment's plan, revised; the event has them all.
    let plan = &packed["shipments"][0]["plan"];
    assert_eq!(plan["price"]["amount"], 695);
    assert_eq!(plan["rule"], "cheapest");
    let promise = &plan["promise"];
    assert_eq!(promise["time_zone"], "Europe/Amsterdam");
    assert_eq!(booking["estimated_delivery"], promise["latest"]);
    let booked: Vec<&Value> = packed["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "shipment_booked")
        .collect();
    assert_eq!(booked.len(), 1);
    assert_eq!(booked[0]["booking"]["price"]["amount"], 695);
    assert_eq!(booked[0]["booking"]["rule"], "cheapest");
    assert_eq!(booked[0]["booking"]["promise"], *promise);

    // The carrier's new date revises the promise (and the order's).
    api.handover(&id).await;
    let tn = str_of(&booking["tracking_number"]);
    let ack = api
        .postnl()
        .post(
            "/v1/carriers/postnl/events",
            &json!({"event_id": format!("{id}-late"), "tracking_number": tn, "type": "in_transit",
                    "occurred_at": chrono::Utc::now().to_rfc3339(), "estimated_delivery": "2099-01-05"}),
        )
        .await
        .expect(200, "scan with a new date")
        .json;
    assert_eq!(ack["applied"], true, "{ack}");
    let o = api.order(&id).await;
    assert_eq!(
        window(&o["shipments"][0]["plan"]["promise"]),
        ("2099-01-05".to_string(), "2099-01-05".to_string()),
        "{o}"
    );
    assert_eq!(window(&o["promised"]).1, "2099-01-05");
    let scanned = o["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "carrier_scanned")
        .expect("scanned");
    assert_eq!(scanned["estimated_delivery"], "2099-01-05");
    // The customer's tracking view shows the promise too (and nothing personal).
    let t = api
        .anon()
        .get(&format!("/v1/track/{}", str_of(&o["tracking_token"])))
        .await
        .expect(200, "tracking")
        .json;
    assert_eq!(window(&t["promised"]).1, "2099-01-05", "{t}");
    assert_eq!(window(&t["shipments"][0]["promised"]).0, "2099-01-05");
    assert_eq!(t["shipments"][0]["delayed"], false);

    // Cash on delivery: PostNL by rule, with its surcharge.
    let cod = api
        .place(
            &new_key(),
            &order_body(&[("MUG", 1, 1250)], ("cod", "pending")),
        )
        .await;
    let o = api.wait_status(&str_of(&cod["id"]), "confirmed").await;
    let plan = &o["shipments"][0]["plan"];
    assert_eq!(plan["rule"], "cash on delivery by PostNL", "{o}");
    assert_eq!(plan["price"]["amount"], 695 + 250);
    let mut cod_quote = body.clone();
    cod_quote["payment_method"] = json!("cod");
    let q = quote(api, &cod_quote).await;
    assert_eq!(option(&q, "standard")["price"]["amount"], 945, "{q}");
}

#[actix_rt::test]
async fn a_quote_is_what_the_order_is_promised_on_sled() {
    let server = Server::start().await;
    a_quote_is_what_the_order_is_promised(&server.api()).await;
}

#[actix_rt::test]
async fn a_quote_is_what_the_order_is_promised_on_postgres() {
    let Some(pg) = shared_or_skip("a_quote_is_what_the_order_is_promised_on_postgres") else {
        return;
    };
    let url = pg.create_database("promises");
    let server = Server::start_with(&postgres_toml(&url, "node-promise")).await;
    a_quote_is_what_the_order_is_promised(&server.api()).await;
}

#[actix_rt::test]
async fn bad_quotes_are_clear_problems() {
    let server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "MUG", 1).await;
    // No service reaches Japan.
    let p = api
        .storefront()
        .post(
            "/v1/quotes",
            &quote_body(&[("MUG", 1, 100)], "JP", "100-0001"),
        )
        .await
        .problem(422, "unreachable");
    assert_eq!(p["type"], "/problems/unreachable", "{p}");
    assert!(str_of(&p["detail"]).contains("JP"), "{p}");
    // A method no service fulfils is unreachable too.
    let mut body = quote_body(&[("MUG", 1, 100)], "NL", POSTAL_CODE);
    body["method"] = json!("drone");
    let p = api
        .storefront()
        .post("/v1/quotes", &body)
        .await
        .problem(422, "no such method");
    assert_eq!(p["type"], "/problems/unreachable", "{p}");
    // More than is in stock.
    let p = api
        .storefront()
        .post(
            "/v1/quotes",
            &quote_body(&[("MUG", 2, 100)], "NL", POSTAL_CODE),
        )
        .await
        .problem(422, "out of stock");
    assert_eq!(p["type"], "/problems/out_of_stock", "{p}");
    assert!(str_of(&p["detail"]).contains("MUG"), "{p}");
    // Malformed fields name themselves.
    for (body, field) in [
        (
            quote_body(&[("MUG", 1, 100)], "nl", POSTAL_CODE),
            "destination.country",
        ),
        (
            quote_body(&[("MUG", 1, 100)], "NL", "   "),
            "destination.postal_code",
        ),
        (
            quote_body(&[("MUG", 1, 100), ("MUG", 1, 100)], "NL", POSTAL_CODE),
            "lines[1].sku",
        ),
        (
            quote_body(&[("MUG", 0, 100)], "NL", POSTAL_CODE),
            "lines[0].quantity",
        ),
        (
            quote_body(&[("A B", 1, 100)], "NL", POSTAL_CODE),
            "lines[0].sku",
        ),
        (quote_body(&[], "NL", POSTAL_CODE), "lines"),
    ] {
        let p = api
            .storefront()
            .post("/v1/quotes", &body)
            .await
            .problem(422, field);
        assert_eq!(p["field"], field, "{p}");
    }
    let p = api
        .storefront()
        .post(
            "/v1/quotes",
            &json!({"destination": {"country": "NL"}, "lines": []}),
        )
        .await
        .problem(422, "missing postal code");
    assert_eq!(p["field"], "destination.postal_code", "{p}");
    // Storefronts (and admins) only.
    let body = quote_body(&[("MUG", 1, 100)], "NL", POSTAL_CODE);
    api.anon()
        .post("/v1/quotes", &body)
        .await
        .problem(401, "no key");
    api.warehouse()
        .post("/v1/quotes", &body)
        .await
        .problem(403, "warehouse key");
    api.admin()
        .post("/v1/quotes", &body)
        .await
        .expect(200, "admin");
}
