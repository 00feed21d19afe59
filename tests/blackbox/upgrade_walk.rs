//! What every release's fixture is checked for after the upgrade, in one place: the orders a
//! release left behind are listed under their statuses, their unpaid order's deadline passes
//! while the service is down and its timer cancels it, the stored idempotency records and
//! pending notifications still work, the stock reads as the script left it, and the orders of
//! the v1 scenario (which every later fixture's scenario extends) walk on: picked, packed and
//! handed over in both warehouses, the packed one on its stored booking, scans by the recorded
//! tracking numbers accepted, an approved return received.
//!
//! `upgrade_v1` and `upgrade_v2` each hold what their release adds and call these for the rest.

use crate::support::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A fixture opened by a service: its API and the ids its script wrote down by name.
pub(crate) struct Fixture<'a> {
    pub api: &'a Api,
    pub ids: &'a BTreeMap<String, String>,
    /// Every sku the script stocked or ordered.
    pub skus: &'a [&'a str],
}

/// (warehouse, sku) → (on hand, reserved, incoming).
pub(crate) type StockLevels = BTreeMap<(String, String), (i64, i64, i64)>;

impl Fixture<'_> {
    /// The id the script wrote down as `name`.
    pub fn id(&self, name: &str) -> String {
        self.ids
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in the fixture's ids"))
            .clone()
    }

    /// The fixture's order names (its ids less the tracking numbers), which must be `want`.
    pub fn has_orders<'n>(&self, want: impl IntoIterator<Item = &'n str>) {
        let names: BTreeSet<&str> = self
            .ids
            .keys()
            .filter(|k| !k.starts_with("tn_"))
            .map(String::as_str)
            .collect();
        assert_eq!(
            names,
            want.into_iter().collect::<BTreeSet<_>>(),
            "the fixture's orders"
        );
    }

    /// Every order (name, status) is listed, and under its status (`timed_out` may have moved
    /// on already).
    pub async fn listed_under_statuses<'n>(
        &self,
        orders: impl IntoIterator<Item = (&'n str, &'n str)>,
    ) {
        let all: BTreeSet<String> = ids_of(&self.api.all_orders(None).await);
        for (name, status) in orders {
            assert!(all.contains(&self.id(name)), "{name} is listed");
            if name != "timed_out" {
                let listed = ids_of(&self.api.all_orders(Some(status)).await);
                assert!(
                    listed.contains(&self.id(name)),
                    "{name} is listed as {status}"
                );
            }
        }
    }

    /// The fixture's skus' stock cells.
    pub async fn stock_levels(&self) -> StockLevels {
        let mut out = BTreeMap::new();
        for sku in self.skus {
            let s = self.api.stock(sku).await;
            for cell in s["warehouses"].as_array().expect("warehouses") {
                out.insert(
                    (str_of(&cell["warehouse"]), sku.to_string()),
                    (
                        cell["on_hand"].as_i64().expect("on_hand"),
                        cell["reserved"].as_i64().expect("reserved"),
                        cell["incoming"].as_i64().expect("incoming"),
                    ),
                );
            }
        }
        out
    }

    /// The stock reads as the script left it, `(warehouse, sku, on hand, reserved)` with
    /// nothing incoming — but for the timed-out order's SKU-4, which its timer may have
    /// released already.
    pub async fn stock_is_as_left(&self, left: &[(&str, &str, i64, i64)]) {
        let stock = self.stock_levels().await;
        for &(w, sku, on_hand, reserved) in left {
            let got = stock.get(&(w.to_string(), sku.to_string())).copied();
            if sku == "SKU-4" {
                assert!(
                    got == Some((on_hand, reserved, 0)) || got == Some((on_hand, 0, 0)),
                    "{sku} at {w}: {got:?}"
                );
            } else {
                assert_eq!(got, Some((on_hand, reserved, 0)), "{sku} at {w}");
            }
        }
        assert_eq!(stock.len(), left.len(), "stock cells: {stock:?}");
    }

    /// Waits until the fixture's stock is exactly `want` (nothing incoming).
    pub async fn stock_reaches(&self, what: &str, want: &[(&str, &str, i64, i64)]) {
        let want: StockLevels = want
            .iter()
            .map(|&(w, s, h, r)| ((w.to_string(), s.to_string()), (h, r, 0)))
            .collect();
        wait_until(what, || async {
            let got = self.stock_levels().await;
            if got == want {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        })
        .await;
    }

    /// The unpaid order whose payment deadline passed while the service was down: its timer
    /// fires at start, the order is cancelled with the history `types` and its SKU-4 at `rtm`
    /// goes back; the placed order's deadline is years away. Returns the cancelled order.
    pub async fn timed_out_is_cancelled(&self, types: &[&str]) -> Value {
        let timed_out = self
            .api
            .wait_status(&self.id("timed_out"), "cancelled")
            .await;
        assert_eq!(history_types(&timed_out), types, "{timed_out}");
        assert_eq!(
            timed_out["cancellation"]["by"], "payment_timer",
            "{timed_out}"
        );
        wait_until("the timed-out order's stock released", || async {
            let got = self.stock_levels().await;
            match got.get(&("rtm".to_string(), "SKU-4".to_string())) {
                Some(&(5, 0, 0)) => Ok(()),
                other => Err(format!("SKU-4 at rtm: {other:?}")),
            }
        })
        .await;
        assert_eq!(self.api.status_of(&self.id("placed")).await, "placed");
        timed_out
    }

    /// The orders of the v1 scenario carry on: `confirmed` (ams) and `confirmed_rtm` are
    /// picked, packed (booked) and handed over; `partially_picked` (rtm) gets the rest of its
    /// picks and the same; `packed` goes out on the booking its release stored; scans by the
    /// recorded tracking numbers (`tn_packed`, `tn_shipped`) find their orders, the second
    /// delivering `shipped`; the approved return is received back into stock. `packed_types`
    /// is a packed order's history as this release's scenario wrote it (placed, the stock's
    /// answer, confirmed, picks, packed, booked); `release` names the scans' event ids.
    pub async fn v1_orders_walk_on(&self, packed_types: &[&str], release: &str) {
        let api = self.api;
        let shipped_types: Vec<&str> = packed_types.iter().copied().chain(["shipped"]).collect();
        for (name, warehouse) in [("confirmed", "ams"), ("confirmed_rtm", "rtm")] {
            api.pick_all(&self.id(name), warehouse).await;
            let packed = api.pack(&self.id(name), warehouse).await;
            assert_eq!(packed["status"], "packed", "{name}: {packed}");
            let shipped = api.handover(&self.id(name)).await;
            assert_eq!(shipped["status"], "shipped", "{name}: {shipped}");
            let o = api.order(&self.id(name)).await;
            assert_history_contiguous(&o);
            assert_eq!(history_types(&o), shipped_types, "{name}: {o}");
        }
        // The partially picked one: the rest of its picks, then the same.
        let partial = self.id("partially_picked");
        api.warehouse()
            .post(
                &format!("/v1/orders/{partial}/picks"),
                &json!({"warehouse": "rtm", "lines": [{"sku": "SKU-3", "quantity": 1}, {"sku": "SKU-2", "quantity": 1}]}),
            )
            .await
            .expect(200, "the rest of the picks");
        assert_eq!(api.pack(&partial, "rtm").await["status"], "packed");
        assert_eq!(api.handover(&partial).await["status"], "shipped");
        let o = api.order(&partial).await;
        assert_history_contiguous(&o);
        let (before_picks, from_picks) = packed_types.split_at(3);
        let want: Vec<&str> = before_picks
            .iter()
            .copied()
            .chain(["picks_acknowledged"])
            .chain(from_picks.iter().copied())
            .chain(["shipped"])
            .collect();
        assert_eq!(history_types(&o), want, "{o}");

        // The packed order goes out on the booking the release stored, and the carrier's
        // scans by the recorded tracking numbers find their orders.
        assert_eq!(api.handover(&self.id("packed")).await["status"], "shipped");
        let ack = api
            .scan(
                &self.id("tn_packed"),
                &format!("{release}-upgrade-ev-1"),
                "in_transit",
                "2026-11-25T10:00:00Z",
            )
            .await;
        assert_eq!(ack["order_status"], "shipped", "{ack}");
        let ack = api
            .scan(
                &self.id("tn_shipped"),
                &format!("{release}-upgrade-ev-2"),
                "delivered",
                "2026-11-25T11:00:00Z",
            )
            .await;
        assert_eq!(ack["order_status"], "delivered", "{ack}");
        assert_eq!(api.status_of(&self.id("shipped")).await, "delivered");

        // The approved return is received back into stock.
        let received = api
            .warehouse()
            .post(
                &format!("/v1/orders/{}/returns/receive", self.id("return_approved")),
                &json!({"warehouse": "ams", "lines": [{"sku": "SKU-1", "quantity": 1}]}),
            )
            .await
            .expect(200, "receive the return");
        assert_eq!(received.json["status"], "returned", "{}", received.text());
    }
}

/// The fixture's idempotency record under `key` (a captured card order of 2 SKU-1 and 1
/// SKU-2): the same body answers `order` again, replayed; another body is refused.
pub(crate) async fn stored_idempotency_replays(api: &Api, key: &str, order: &str) {
    let body = fixture_body(key, "card", "captured", &[("SKU-1", 2), ("SKU-2", 1)]);
    let replay = api
        .storefront()
        .idempotency(key)
        .post("/v1/orders", &body)
        .await
        .expect(201, "a repeated placement");
    assert_eq!(replay.json["id"], order, "{}", replay.text());
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    let other = fixture_body(key, "card", "captured", &[("SKU-1", 3)]);
    let refused = api
        .storefront()
        .idempotency(key)
        .post("/v1/orders", &other)
        .await
        .problem(422, "a key reused with another body");
    assert_eq!(
        refused["type"], "/problems/idempotency_key_reused",
        "{refused}"
    );
}

/// Every pending notification in `expected` (order id, `order.<kind>`) reaches `receiver`
/// answered 200, signed, under the message id stored with it, and nothing else does; nothing
/// is dead-lettered.
pub(crate) async fn pending_notifications_arrive(
    api: &Api,
    receiver: &Receiver,
    expected: &BTreeSet<(String, String)>,
) {
    let received = wait_until("every pending notification delivered", || {
        let hooks = receiver.hooks();
        let expected = expected.clone();
        async move {
            let got: BTreeSet<(String, String)> = hooks
                .iter()
                .filter(|h| h.answered == 200)
                .map(|h| {
                    let j = h.json();
                    (
                        j["data"]["order_id"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        j["type"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            let missing: Vec<_> = expected.difference(&got).collect();
            if missing.is_empty() {
                Ok(hooks)
            } else {
                Err(format!("missing {missing:?}"))
            }
        }
    })
    .await;
    for h in &received {
        let j = h.json();
        let order = j["data"]["order_id"].as_str().unwrap_or_default();
        let simple = order.replace('-', "");
        assert_eq!(h.id(), j["data"]["message_id"].as_str().unwrap_or_default());
        assert!(
            h.id().starts_with(&format!("msg_{simple}_")) && h.id().ends_with("_webhook"),
            "the stored message id: {}",
            h.id()
        );
        assert!(
            crate::notifications::signature_ok(h),
            "the signature does not verify: {h:?}"
        );
        assert!(
            expected.contains(&(
                order.to_string(),
                j["type"].as_str().unwrap_or_default().to_string()
            )),
            "an unexpected notification: {}",
            h.body
        );
    }
    let dead = api
        .admin()
        .get("/v1/notifications/dead-letters")
        .await
        .expect(200, "dead letters");
    assert_eq!(dead.json, json!([]), "nothing dead-lettered");
}

/// The body `make-v1-data.sh` (and `make-v2-data.sh`) placed the order under `key` with.
pub(crate) fn fixture_body(key: &str, method: &str, status: &str, lines: &[(&str, u32)]) -> Value {
    json!({
        "external_ref": key,
        "customer": {"id": format!("c-{key}"), "email": "jan@example.nl", "phone": "+31612345678", "locale": "nl-NL"},
        "currency": "EUR",
        "lines": lines.iter().map(|(sku, q)| json!({"sku": sku, "quantity": q, "unit_price": 1999})).collect::<Vec<_>>(),
        "shipping": {"method": "standard", "address": {"name": "Jan Jansen", "line1": "Keizersgracht 123", "city": "Amsterdam", "postal_code": "1015 CJ", "country": "NL"}},
        "payment": {"method": method, "status": status}
    })
}

pub(crate) fn ids_of(orders: &[Value]) -> BTreeSet<String> {
    orders.iter().map(|o| str_of(&o["id"])).collect()
}

/// The orders on a warehouse's pick list (one page: the fixtures have few).
pub(crate) async fn pick_list(api: &Api, warehouse: &str) -> BTreeSet<String> {
    let page = api
        .warehouse()
        .get(&format!("/v1/warehouses/{warehouse}/picks?limit=200"))
        .await
        .expect(200, "pick list")
        .json;
    page["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| str_of(&o["order_id"]))
        .collect()
}
