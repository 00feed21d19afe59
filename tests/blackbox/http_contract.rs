//! The HTTP contract as written down: responses carry only what clients should see (no
//! internal bookkeeping such as the carrier event dedup list), `/openapi.json` declares every
//! path parameter, every problem as `application/problem+json` and one bearer scheme per role,
//! methods a resource does not serve answer 405 with `Allow`, and integer fields accept any
//! integral JSON number (`5.0` is an integer in JSON Schema).

use crate::support::*;
use serde_json::{json, Value};

/// Walks a JSON value and fails if any object has a key named `key`.
fn assert_no_key(v: &Value, key: &str, what: &str) {
    match v {
        Value::Object(m) => {
            assert!(!m.contains_key(key), "{what}: has `{key}`: {v}");
            m.values().for_each(|x| assert_no_key(x, key, what));
        }
        Value::Array(a) => a.iter().for_each(|x| assert_no_key(x, key, what)),
        _ => {}
    }
}

#[actix_rt::test]
async fn responses_show_no_carrier_event_ids() {
    let server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "MUG-RED", 5).await;
    let order = api
        .place(
            &new_key(),
            &order_body(&[("MUG-RED", 1, 1250)], ("card", "captured")),
        )
        .await;
    let id = str_of(&order["id"]);
    api.wait_status(&id, "confirmed").await;
    api.pick_all(&id, "ams").await;
    let packed = api.pack(&id, "ams").await;
    let tn = str_of(&packed["shipments"][0]["booking"]["tracking_number"]);
    api.handover(&id).await;
    let first = api
        .scan(&tn, "ev-1", "in_transit", "2026-03-01T10:00:00Z")
        .await;
    assert_eq!(first["applied"], true, "{first}");
    // A redelivered event is still recognised (the dedup list is kept, just not shown).
    let again = api
        .scan(&tn, "ev-1", "in_transit", "2026-03-01T10:00:00Z")
        .await;
    assert_eq!(again["applied"], false, "{again}");

    let read = api.order(&id).await;
    assert_eq!(read["status"], "shipped", "{read}");
    assert_eq!(read["shipments"][0]["last_scan"], "in_transit", "{read}");
    assert_eq!(count_events(&read, "carrier_scanned"), 1, "{read}");
    assert_no_key(&read, "carrier_event_ids", "GET /v1/orders/{id}");
    for o in api.all_orders(None).await {
        assert_no_key(&o, "carrier_event_ids", "GET /v1/orders");
    }
    let cancel = api
        .storefront()
        .post(&format!("/v1/orders/{id}/cancel"), &json!({"reason": "x"}))
        .await
        .problem(409, "cancel a shipped order");
    assert_eq!(cancel["current_status"], "shipped", "{cancel}");
    // Everything else the order showed before is still there.
    for field in [
        "id",
        "version",
        "tracking_token",
        "status",
        "customer",
        "currency",
        "lines",
        "shipping",
        "payment",
        "stock",
        "warehouse",
        "shipments",
        "placed_at",
        "updated_at",
        "total",
        "label_url",
        "history",
    ] {
        assert!(!read[field].is_null(), "missing {field}: {read}");
    }
}

#[actix_rt::test]
async fn openapi_declares_parameters_problems_and_roles() {
    let server = Server::start().await;
    let api = server.api();
    let doc = api
        .anon()
        .get("/openapi.json")
        .await
        .expect(200, "doc")
        .json;
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    for role in ["storefront", "warehouse", "admin", "carrier"] {
        assert_eq!(schemes[role]["scheme"], "bearer", "{role}: {schemes:?}");
    }
    let paths = doc["paths"].as_object().expect("paths");
    assert_eq!(paths.len(), 40, "{:?}", paths.keys());
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            operations += 1;
            let what = format!("{method} {path}");
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            // Every `{name}` in the path is a declared, required path parameter.
            for name in path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            {
                let p = params
                    .iter()
                    .find(|p| p["name"] == name && p["in"] == "path")
                    .unwrap_or_else(|| panic!("{what}: path parameter {name} not declared"));
                assert_eq!(p["required"], true, "{what}: {p}");
            }
            // Every error is a problem, and only a problem.
            let responses = op["responses"].as_object().expect("responses");
            for (status, r) in responses {
                let content = r["content"].as_object();
                if status.starts_with('4') || (status.starts_with('5') && path != "/readyz") {
                    let content = content.unwrap_or_else(|| panic!("{what} {status}: no content"));
                    assert_eq!(
                        content.keys().collect::<Vec<_>>(),
                        ["application/problem+json"],
                        "{what} {status}"
                    );
                    assert_eq!(
                        content["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{what} {status}"
                    );
                }
            }
            // Every operation that needs a key says which roles, admin among them, and that a
            // missing key is 401 and a wrong role 403.
            if let Some(security) = op["security"].as_array() {
                let roles: Vec<&str> = security
                    .iter()
                    .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
                    .collect();
                assert!(roles.contains(&"admin"), "{what}: {roles:?}");
                for s in ["401", "403", "503"] {
                    assert!(responses.contains_key(s), "{what} lacks {s}");
                }
            }
            if !op["requestBody"].is_null() {
                for s in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(s), "{what} lacks {s}");
                }
            }
        }
    }
    assert_eq!(operations, 45);

    let backup = &doc["paths"]["/v1/admin/backup"]["post"];
    for s in [
        "200", "400", "401", "403", "409", "413", "415", "422", "501", "503",
    ] {
        assert!(
            !backup["responses"][s].is_null(),
            "POST /v1/admin/backup lacks {s}"
        );
    }
    assert_eq!(backup["security"], json!([{"admin": []}]), "admin only");

    let place = &doc["paths"]["/v1/orders"]["post"];
    for s in [
        "201", "400", "401", "403", "409", "413", "415", "422", "503",
    ] {
        assert!(
            !place["responses"][s].is_null(),
            "POST /v1/orders lacks {s}"
        );
    }
    let list = doc["paths"]["/v1/orders"]["get"]["parameters"]
        .as_array()
        .expect("list parameters");
    let limit = list.iter().find(|p| p["name"] == "limit").expect("limit");
    assert_eq!(limit["schema"]["minimum"], 1, "{limit}");
    assert_eq!(limit["schema"]["maximum"], 200, "{limit}");
    let track = &doc["paths"]["/v1/track/{token}"]["get"];
    assert!(track["security"].is_null(), "tracking is public: {track}");
    assert_eq!(
        track["parameters"][0]["schema"]["pattern"], "^[0-9a-fA-F]{40}$",
        "{track}"
    );
    // The response schemas are the HTTP layer's: no internal dedup list.
    let order = &doc["components"]["schemas"]["Order"];
    assert!(order["properties"]["total"].is_object(), "{order}");
    assert!(
        order["properties"]["carrier_event_ids"].is_null(),
        "{order}"
    );
}

#[actix_rt::test]
async fn unsupported_methods_answer_405_with_allow() {
    let server = Server::start().await;
    let api = server.api();
    let r = api
        .admin()
        .try_send("DELETE", "/v1/orders", None)
        .await
        .expect("DELETE");
    assert_eq!(r.header("allow").as_deref(), Some("GET, POST"));
    r.problem(405, "DELETE /v1/orders");
    let r = api
        .admin()
        .try_send("PATCH", "/v1/inventory/ams/MUG-RED", None)
        .await
        .expect("PATCH");
    assert_eq!(r.header("allow").as_deref(), Some("PUT"));
    r.problem(405, "PATCH a stock cell");
    api.admin()
        .get("/v1/no-such-thing")
        .await
        .problem(404, "unknown path");
}

#[actix_rt::test]
async fn integer_fields_take_integral_numbers() {
    let server = Server::start().await;
    let api = server.api();
    let cell = api
        .admin()
        .put("/v1/inventory/ams/MUG-RED", &json!({"on_hand": 5.0}))
        .await
        .expect(200, "on_hand 5.0")
        .json;
    assert_eq!(cell["on_hand"], 5, "{cell}");
    let p = api
        .admin()
        .put("/v1/inventory/ams/MUG-RED", &json!({"on_hand": 5.5}))
        .await
        .problem(422, "on_hand 5.5");
    assert_eq!(p["type"], "/problems/validation", "{p}");
    let mut body = order_body(&[("MUG-RED", 1, 1250)], ("card", "captured"));
    body["lines"][0]["quantity"] = json!(1.0);
    body["lines"][0]["unit_price"] = json!(1250.0);
    let placed = api.place(&new_key(), &body).await;
    assert_eq!(placed["lines"][0]["quantity"], 1, "{placed}");
    assert_eq!(placed["total"]["amount"], 1250, "{placed}");
    // Skus are checked as the domain checks them on order lines: no '/' in a stock cell either.
    api.admin()
        .put("/v1/inventory/ams/MUG%2FRED", &json!({"on_hand": 1}))
        .await
        .problem(422, "sku with a slash");
}
