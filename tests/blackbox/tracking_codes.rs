//! One tracking vocabulary over HTTP: a carrier posting its own codes (`code`, mapped through
//! its `tracking_codes` in config) moves the shipment as the mapped type would, keeping the
//! raw code and text in the history; a code the table does not know is recorded as `unknown`,
//! moves nothing, is counted in `/metrics`, and is never a 5xx; an event with neither `type` nor
//! `code`, or claiming `unknown` itself, is a 422 naming `type`.

use crate::support::*;
use serde_json::json;

#[actix_rt::test]
async fn carrier_codes_map_onto_the_vocabulary_and_unknown_ones_are_counted() {
    let server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "MUG", 3).await;
    let placed = api
        .place(
            &new_key(),
            &order_body(&[("MUG", 1, 1250)], ("card", "captured")),
        )
        .await;
    let id = str_of(&placed["id"]);
    api.wait_status(&id, "confirmed").await;
    api.pick_all(&id, "ams").await;
    let packed = api.pack(&id, "ams").await;
    let tn = str_of(&packed["shipments"][0]["booking"]["tracking_number"]);
    let post = |event_id: &str, body: serde_json::Value| {
        let mut body = body;
        body["event_id"] = json!(event_id);
        body["tracking_number"] = json!(tn);
        body["occurred_at"] = json!("2026-03-02T10:00:00Z");
        body
    };
    // Details received: the carrier does not have the parcel yet — still packed.
    let ack = api
        .postnl()
        .post(
            "/v1/carriers/postnl/events",
            &post(
                "e1",
                json!({"code": "A01", "description": "Zending aangemeld"}),
            ),
        )
        .await
        .expect(200, "A01")
        .json;
    assert_eq!(ack["order_status"], "packed", "{ack}");
    // Not in the table: recorded, nothing moves.
    let ack = api
        .postnl()
        .post(
            "/v1/carriers/postnl/events",
            &post("e2", json!({"code": "Z99", "description": "?"})),
        )
        .await
        .expect(200, "an unknown code is not an error")
        .json;
    assert_eq!(
        (ack["order_status"].as_str(), ack["applied"].as_bool()),
        (Some("packed"), Some(true)),
        "{ack}"
    );
    // Picked up: in the carrier's hands — shipped.
    let ack = api
        .postnl()
        .post(
            "/v1/carriers/postnl/events",
            &post("e3", json!({"code": "B01"})),
        )
        .await
        .expect(200, "B01")
        .json;
    assert_eq!(ack["order_status"], "shipped", "{ack}");
    let o = api.order(&id).await;
    let scans: Vec<_> = o["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "carrier_scanned")
        .map(|e| {
            (
                str_of(&e["kind"]),
                e["code"].clone(),
                e["description"].clone(),
            )
        })
        .collect();
    assert_eq!(
        scans,
        vec![
            (
                "info_received".into(),
                json!("A01"),
                json!("Zending aangemeld")
            ),
            ("unknown".into(), json!("Z99"), json!("?")),
            ("picked_up".into(), json!("B01"), serde_json::Value::Null),
        ],
        "{o}"
    );
    assert_eq!(o["shipments"][0]["last_scan"], "picked_up");
    // The customer's timeline shows the known ones only.
    let t = api
        .anon()
        .get(&format!("/v1/track/{}", str_of(&o["tracking_token"])))
        .await
        .expect(200, "tracking")
        .json;
    let steps: Vec<String> = t["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| str_of(&e["step"]))
        .collect();
    assert!(
        steps.contains(&"picked_up".to_string()) && !steps.contains(&"unknown".to_string()),
        "{steps:?}"
    );
    // Counted per carrier.
    let metrics = api
        .anon()
        .get("/metrics")
        .await
        .expect(200, "metrics")
        .text();
    assert!(
        metrics.contains("orderly_carrier_unknown_codes_total{carrier=\"postnl\"} 1"),
        "{metrics}"
    );
    // Neither type nor code, or `unknown` as a type: 422 naming `type`.
    for body in [json!({}), json!({"type": "unknown"})] {
        let p = api
            .postnl()
            .post("/v1/carriers/postnl/events", &post("e4", body))
            .await
            .problem(422, "no meaning");
        assert_eq!(p["field"], "type", "{p}");
    }
    // A mapped code delivers it.
    let ack = api
        .postnl()
        .post(
            "/v1/carriers/postnl/events",
            &post("e5", json!({"code": "I01"})),
        )
        .await
        .expect(200, "I01")
        .json;
    assert_eq!(ack["order_status"], "delivered", "{ack}");
}
