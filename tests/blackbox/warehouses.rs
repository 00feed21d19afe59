//! Configured warehouses over HTTP: the list, the one rule for an unknown warehouse wherever
//! one is named, availability before purchase (totals for everyone, per warehouse for staff),
//! and warehouse keys bound to the warehouses they may act for.
//!
//! The test config is `config.toml`'s: warehouses `ams` and `rtm`. Today's allocation serves an
//! order from the first warehouse, by id, that holds every line, so stock kept at `rtm` only
//! puts an order there.

use crate::support::*;
use serde_json::{json, Value};

/// A warehouse key bound to `ams`, added to the test config by [`bound_key_config`].
const AMS_KEY: &str = "test-warehouse-ams-0001";

fn bound_key_config() -> String {
    format!(
        "[auth]\nwarehouse = [\"{WAREHOUSE_KEY}\", {{ key = \"{AMS_KEY}\", warehouses = [\"ams\"] }}]\n"
    )
}

/// Places a captured-card order for one unit of `sku` and waits until it is confirmed.
async fn confirmed_order(api: &Api, sku: &str) -> String {
    let placed = api
        .place(
            &new_key(),
            &order_body(&[(sku, 1, 1000)], ("card", "captured")),
        )
        .await;
    let id = str_of(&placed["id"]);
    api.wait_status(&id, "confirmed").await;
    id
}

#[actix_rt::test]
async fn configured_warehouses_are_listed_for_every_role_that_may_see_them() {
    let server = Server::start().await;
    let api = server.api();
    for key in [Key::Storefront, Key::Warehouse, Key::Admin] {
        let list = api
            .with(key)
            .get("/v1/warehouses")
            .await
            .expect(200, &format!("list warehouses as {key:?}"))
            .json;
        assert_eq!(list["open"], false, "{list}");
        let ids: Vec<&str> = list["warehouses"]
            .as_array()
            .expect("warehouses")
            .iter()
            .map(|w| w["id"].as_str().expect("id"))
            .collect();
        assert_eq!(ids, ["ams", "rtm"], "{list}");
        assert_eq!(
            list["warehouses"][1],
            json!({
                "id": "rtm", "name": "Rotterdam", "country": "NL", "priority": 2,
                "ships_to": ["NL", "BE", "DE"], "time_zone": "Europe/Amsterdam", "cutoff": "16:00",
                "working_days": ["mon", "tue", "wed", "thu", "fri", "sat"],
                "holidays": ["2026-12-25", "2027-01-01"], "handling_days": 1
            })
        );
        assert_eq!(list["warehouses"][0]["ships_to"], json!([]), "{list}");
    }
    api.anon()
        .get("/v1/warehouses")
        .await
        .problem(401, "warehouses without a key");
    api.postnl()
        .get("/v1/warehouses")
        .await
        .problem(403, "warehouses with a carrier key");
    assert!(
        !server.log().contains("running open"),
        "no open-mode warning with warehouses configured"
    );
}

#[actix_rt::test]
async fn running_open_takes_any_warehouse_id_and_lists_those_with_stock() {
    let server = Server::start_open("").await;
    let api = server.api();
    let empty = api
        .storefront()
        .get("/v1/warehouses")
        .await
        .expect(200, "list warehouses, none stocked")
        .json;
    assert_eq!(empty, json!({"open": true, "warehouses": []}));
    api.set_stock("zz-9", "MUG-RED", 1).await;
    api.set_stock("b_2", "MUG-RED", 1).await;
    api.set_stock("b_2", "TEE-M", 1).await;
    api.warehouse()
        .get("/v1/warehouses/nowhere/picks")
        .await
        .expect(200, "any pick list, running open");
    let list = api
        .storefront()
        .get("/v1/warehouses")
        .await
        .expect(200, "list warehouses")
        .json;
    assert_eq!(
        list,
        json!({"open": true, "warehouses": [{"id": "b_2"}, {"id": "zz-9"}]})
    );
    assert!(
        server.log().contains("running open"),
        "the start warns that the service runs open: {}",
        server.log()
    );
}

#[actix_rt::test]
async fn an_unknown_warehouse_is_refused_wherever_one_is_named() {
    let server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "MUG-RED", 5).await;
    let id = confirmed_order(&api, "MUG-RED").await;
    let before = api.order(&id).await;

    let lines = json!([{"sku": "MUG-RED", "quantity": 1}]);
    // (what, key, method, path, body)
    let cases: Vec<(&str, Key, &str, String, Option<Value>)> = vec![
        (
            "stock count",
            Key::Admin,
            "PUT",
            "/v1/inventory/nowhere/MUG-RED".into(),
            Some(json!({"on_hand": 1})),
        ),
        (
            "pick list",
            Key::Warehouse,
            "GET",
            "/v1/warehouses/nowhere/picks".into(),
            None,
        ),
        (
            "picks",
            Key::Warehouse,
            "POST",
            format!("/v1/orders/{id}/picks"),
            Some(json!({"warehouse": "nowhere", "lines": lines})),
        ),
        (
            "pack",
            Key::Warehouse,
            "POST",
            format!("/v1/orders/{id}/pack"),
            Some(json!({"warehouse": "nowhere", "parcels": [{"weight_grams": 500}]})),
        ),
        (
            "returns receive",
            Key::Warehouse,
            "POST",
            format!("/v1/orders/{id}/returns/receive"),
            Some(json!({"warehouse": "nowhere", "lines": lines})),
        ),
    ];
    for (what, key, method, path, body) in cases {
        let body = body.map(|b| ("application/json", b.to_string().into()));
        let p = api
            .with(key)
            .try_send(method, &path, body)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .problem(422, what);
        assert_eq!(p["type"], "/problems/validation", "{what}: {p}");
        assert_eq!(p["field"], "warehouse", "{what}: {p}");
        let detail = str_of(&p["detail"]);
        assert!(
            detail.contains("'nowhere'") && detail.contains("ams, rtm"),
            "{what}: the detail names the warehouse and the configured ones: {detail}"
        );
    }
    let after = api.order(&id).await;
    assert_eq!(after["version"], before["version"], "nothing was recorded");
    let cells = api.stock("MUG-RED").await;
    assert!(
        !cells.to_string().contains("nowhere"),
        "no stock cell for an unknown warehouse: {cells}"
    );
}

#[actix_rt::test]
async fn availability_sums_warehouses_and_shows_them_to_staff_only() {
    let server = Server::start().await;
    let api = server.api();
    api.set_stock("ams", "AV-A", 5).await;
    api.set_stock("rtm", "AV-A", 3).await;
    api.set_stock("rtm", "AV-B", 2).await;
    // Two units of AV-A reserved at ams (the first warehouse that holds the whole order).
    let placed = api
        .place(
            &new_key(),
            &order_body(&[("AV-A", 2, 1000)], ("card", "captured")),
        )
        .await;
    api.wait_status(&str_of(&placed["id"]), "confirmed").await;

    let path = "/v1/availability?sku=AV-A&sku=NO-SUCH-SKU&sku=AV-A&sku=AV-B";
    let totals = |sku: &str, available: i64| json!({"sku": sku, "available": available, "incoming": 0, "backorderable": false, "backorder_remaining": 0});
    let seen = api
        .storefront()
        .get(path)
        .await
        .expect(200, "availability as a storefront")
        .json;
    assert_eq!(
        seen,
        json!({"skus": [totals("AV-A", 6), totals("NO-SUCH-SKU", 0), totals("AV-B", 2)]}),
        "a storefront sees totals only, each sku once, in the order asked"
    );
    for key in [Key::Warehouse, Key::Admin] {
        let seen = api
            .with(key)
            .get(path)
            .await
            .expect(200, &format!("availability as {key:?}"))
            .json;
        let with = |sku: &str, available: i64, warehouses: Value| {
            let mut v = totals(sku, available);
            v["warehouses"] = warehouses;
            v
        };
        assert_eq!(
            seen,
            json!({"skus": [
                with("AV-A", 6, json!([
                    {"warehouse": "ams", "on_hand": 5, "reserved": 2, "available": 3, "incoming": 0},
                    {"warehouse": "rtm", "on_hand": 3, "reserved": 0, "available": 3, "incoming": 0}])),
                with("NO-SUCH-SKU", 0, json!([])),
                with("AV-B", 2, json!([
                    {"warehouse": "rtm", "on_hand": 2, "reserved": 0, "available": 2, "incoming": 0}])),
            ]}),
            "{key:?} sees every warehouse's numbers"
        );
    }
}

#[actix_rt::test]
async fn availability_refuses_bad_queries_and_keys() {
    let server = Server::start().await;
    let api = server.api();
    let skus = |n: usize| {
        (0..n)
            .map(|i| format!("sku=S-{i}"))
            .collect::<Vec<_>>()
            .join("&")
    };
    let hundred = api
        .storefront()
        .get(&format!("/v1/availability?{}", skus(100)))
        .await
        .expect(200, "100 skus")
        .json;
    assert_eq!(hundred["skus"].as_array().map(Vec::len), Some(100));
    for (what, query) in [
        ("no sku", String::new()),
        ("101 skus", format!("?{}", skus(101))),
        ("an empty sku", "?sku=".to_string()),
        ("a sku with white space", "?sku=A%20B".to_string()),
        ("a sku with a slash", "?sku=A%2FB".to_string()),
        ("a sku of 65 characters", format!("?sku={}", "X".repeat(65))),
    ] {
        let p = api
            .storefront()
            .get(&format!("/v1/availability{query}"))
            .await
            .problem(422, what);
        assert_eq!(p["field"], "sku", "{what}: {p}");
    }
    api.storefront()
        .get("/v1/availability?sku=A&warehouse=ams")
        .await
        .problem(400, "an unknown parameter");
    api.anon()
        .get("/v1/availability?sku=A")
        .await
        .problem(401, "availability without a key");
    api.postnl()
        .get("/v1/availability?sku=A")
        .await
        .problem(403, "availability with a carrier key");
}

/// One warehouse endpoint, called for an order (and the warehouse it names, if it names one).
#[derive(Debug, Clone, Copy)]
enum Step {
    Picks,
    Pack,
    Label,
    Handover,
    ReceiveReturn,
}

impl Step {
    fn request(self, id: &str, warehouse: &str, sku: &str) -> (&'static str, String, Value) {
        let lines = json!([{"sku": sku, "quantity": 1}]);
        match self {
            Step::Picks => (
                "POST",
                format!("/v1/orders/{id}/picks"),
                json!({"warehouse": warehouse, "lines": lines}),
            ),
            Step::Pack => (
                "POST",
                format!("/v1/orders/{id}/pack"),
                json!({"warehouse": warehouse, "parcels": [{"weight_grams": 500}]}),
            ),
            Step::Label => ("GET", format!("/v1/orders/{id}/label"), Value::Null),
            Step::Handover => ("POST", format!("/v1/orders/{id}/handover"), json!({})),
            Step::ReceiveReturn => (
                "POST",
                format!("/v1/orders/{id}/returns/receive"),
                json!({"warehouse": warehouse, "lines": lines}),
            ),
        }
    }
}

/// Calls `step` as `key` and checks the answer: `want` 403 must say which warehouses the key
/// may act for; anything else must be exactly `want`.
async fn check(api: &Api, step: Step, key: Key, order: (&str, &str, &str), want: u16) {
    let (id, warehouse, sku) = order;
    let (method, path, body) = step.request(id, warehouse, sku);
    let what = format!("{step:?} as {key:?} for {warehouse}");
    let body = (!body.is_null()).then(|| ("application/json", body.to_string().into()));
    let resp = api
        .with(key)
        .try_send(method, &path, body)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    if want == 403 {
        let p = resp.problem(403, &what);
        let detail = str_of(&p["detail"]);
        assert!(
            detail.contains("ams") && detail.contains(&format!("'{warehouse}'")),
            "{what}: the refusal names the key's warehouses and the one asked: {detail}"
        );
    } else {
        resp.expect(want, &what);
    }
}

#[actix_rt::test]
async fn keys_bound_to_a_warehouse_act_for_it_only() {
    let server = Server::start_with(&bound_key_config()).await;
    let api = server.api();
    let bound = Key::Raw(AMS_KEY);
    api.set_stock("ams", "AT-AMS", 10).await;
    api.set_stock("rtm", "AT-RTM", 10).await;
    let a1 = confirmed_order(&api, "AT-AMS").await;
    let r1 = confirmed_order(&api, "AT-RTM").await;
    let r2 = confirmed_order(&api, "AT-RTM").await;
    for (id, warehouse) in [(&a1, "ams"), (&r1, "rtm"), (&r2, "rtm")] {
        assert_eq!(api.order(id).await["warehouse"], warehouse, "order {id}");
    }

    // The pick list: the bound key reads its own only; unbound and admin read both.
    for (key, warehouse, want) in [
        (bound, "rtm", 403),
        (bound, "ams", 200),
        (Key::Warehouse, "rtm", 200),
        (Key::Warehouse, "ams", 200),
        (Key::Admin, "rtm", 200),
        (Key::Admin, "ams", 200),
    ] {
        let resp = api
            .with(key)
            .get(&format!("/v1/warehouses/{warehouse}/picks"))
            .await;
        let what = format!("pick list of {warehouse} as {key:?}");
        if want == 403 {
            let p = resp.problem(403, &what);
            assert!(str_of(&p["detail"]).contains("ams"), "{what}: {p}");
        } else {
            let list = resp.expect(200, &what).json;
            assert_eq!(list["warehouse"], warehouse, "{what}");
        }
    }

    // Every step of an order's way through a warehouse, in order: the bound key is refused
    // for rtm's order and allowed for ams's; the unbound key and admin move the two rtm
    // orders on.
    let (a1, r1, r2) = (
        (a1.as_str(), "ams", "AT-AMS"),
        (r1.as_str(), "rtm", "AT-RTM"),
        (r2.as_str(), "rtm", "AT-RTM"),
    );
    for step in [Step::Picks, Step::Pack, Step::Label, Step::Handover] {
        check(&api, step, bound, r1, 403).await;
        check(&api, step, bound, a1, 200).await;
        check(&api, step, Key::Warehouse, r1, 200).await;
        check(&api, step, Key::Admin, r2, 200).await;
    }
    // Delivered, and a return approved for each, then received back.
    for (id, _, sku) in [a1, r1, r2] {
        let order = api.wait_status(id, "shipped").await;
        let tn = str_of(&order["shipments"][0]["booking"]["tracking_number"]);
        api.scan(
            &tn,
            &format!("ev-{id}-delivered"),
            "delivered",
            "2026-03-02T10:00:00Z",
        )
        .await;
        api.storefront()
            .post(
                &format!("/v1/orders/{id}/returns"),
                &json!({"lines": [{"sku": sku, "quantity": 1}], "reason": "too small"}),
            )
            .await
            .expect(200, "request a return");
    }
    check(&api, Step::ReceiveReturn, bound, r1, 403).await;
    check(&api, Step::ReceiveReturn, bound, a1, 200).await;
    check(&api, Step::ReceiveReturn, Key::Warehouse, r1, 200).await;
    check(&api, Step::ReceiveReturn, Key::Admin, r2, 200).await;
    for (id, _, _) in [a1, r1, r2] {
        assert_eq!(api.status_of(id).await, "returned", "order {id}");
    }
}
