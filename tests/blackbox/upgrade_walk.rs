//! What every release's fixture is checked for after the upgrade, in one place: the dump a
//! release's script left is restored as written (its writer, its migrations); the orders a
//! release left behind answer as left (status, shipments, history, tracking page) and are
//! listed under their statuses; their unpaid order's deadline passes while the service is down
//! and its timer cancels it; the stored idempotency records and pending notifications still
//! work; the stock reads as the script left it; and the orders of the v1 scenario (which every
//! later fixture's scenario extends) walk on: picked, packed and handed over in both
//! warehouses, the packed one on its stored booking, scans by the recorded tracking numbers
//! accepted, an approved return received.
//!
//! `upgrade_v1`, `upgrade_v2` and `upgrade_v3` each hold what their release adds and call these
//! for the rest; `upgrade_v3` also calls `upgrade_v2`'s checks of the v2 scenario, which its
//! own extends. What differs between releases is the fixture's (`Fixture`): its release's name
//! and the day its walk's scans happen on, and the event types the service may add to stored
//! histories by itself once it opens the fixture (v3's promise timers: `delayed`), which the
//! histories are compared without (beyond those stored) and the release's own test checks.

use crate::support::*;
use orderly_testkit::postgres::TestPostgres;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A fixture opened by a service: its API, the ids its script wrote down by name, and what its
/// release's walk differs by.
pub(crate) struct Fixture<'a> {
    pub api: &'a Api,
    pub ids: &'a BTreeMap<String, String>,
    /// Every sku the script stocked or ordered.
    pub skus: &'a [&'a str],
    /// The release's name (`v2`), which the walk's scan event ids start with.
    pub release: &'a str,
    /// The day (`YYYY-MM-DD`) the walk's carrier scans are dated, after the fixture's own.
    pub scans_on: &'a str,
    /// Event types the service may add to the fixture's histories by itself once it opens it
    /// (v3's promise timers: `delayed`): histories are compared without those recorded since
    /// `opened` (the moment before the service started), so a stored one still counts. Empty:
    /// histories are compared whole.
    pub new_events: &'a [&'a str],
    pub opened: chrono::DateTime<chrono::Utc>,
}

/// An order as a release's script left it: name, status, its shipments (`warehouse:status`, in
/// shipment order) and its history's event types (in runs: `&[CONFIRMED, PACKING, SENT]`).
/// `timed_out` was left placed; its timer may cancel it before the first read.
pub(crate) type Left = (&'static str, &'static str, &'static [&'static str], History);

/// A history's event types, in runs.
pub(crate) type History = &'static [&'static [&'static str]];

/// The run of a history from the picks to the booking, in every release.
pub(crate) const PACKING: &[&str] = &["picks_acknowledged", "packed", "shipment_booked"];
/// The run of a history from the hand-over to the first scan, in every release.
pub(crate) const SENT: &[&str] = &["shipped", "carrier_scanned"];

/// A stock cell: (warehouse, sku, on hand, reserved, incoming).
pub(crate) type Cell = (&'static str, &'static str, i64, i64, i64);

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

    /// The fixture's order names (its ids less the tracking numbers and transfers), which must
    /// be `want`.
    pub fn has_orders<'n>(&self, want: impl IntoIterator<Item = &'n str>) {
        let names: BTreeSet<&str> = self
            .ids
            .keys()
            .filter(|k| !k.starts_with("tn_") && !k.starts_with("transfer_"))
            .map(String::as_str)
            .collect();
        assert_eq!(
            names,
            want.into_iter().collect::<BTreeSet<_>>(),
            "the fixture's orders"
        );
    }

    /// The order's history types, less the events of `new_events` the service recorded by
    /// itself since it opened the fixture.
    pub fn history(&self, order: &Value) -> Vec<String> {
        order["history"]
            .as_array()
            .expect("history")
            .iter()
            .filter(|e| {
                let kind = e["type"].as_str().unwrap_or_default();
                let at = e["at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .expect("an event's time");
                !(self.new_events.contains(&kind) && at >= self.opened)
            })
            .map(|e| str_of(&e["type"]))
            .collect()
    }

    /// A carrier scan's time on the walk's day, at `hour` UTC.
    pub fn scan_time(&self, hour: u32) -> String {
        format!("{}T{hour:02}:00:00Z", self.scans_on)
    }

    /// The walk's `n`th carrier scan's event id.
    pub fn scan_event(&self, n: u32) -> String {
        format!("{}-upgrade-ev-{n}", self.release)
    }

    /// Every order answers with its status, its shipments, its whole history (less the new
    /// events) and its tracking page (its status and as many shipments). Returns each order
    /// read, with its tracking page — all but the timed-out one if its timer was quicker than
    /// the first read.
    pub async fn orders_answer_as_left(
        &self,
        orders: &[Left],
    ) -> Vec<(&'static str, Value, Value)> {
        let mut read = Vec::new();
        for &(name, status, shipments, types) in orders {
            let types = types.concat();
            let o = self.api.order(&self.id(name)).await;
            assert_history_contiguous(&o);
            if name == "timed_out" && o["status"] == "cancelled" {
                continue; // its timer was quicker than this read
            }
            assert_eq!(o["status"], status, "{name}: {o}");
            assert_eq!(shipments_of(&o), shipments, "{name}: {o}");
            assert_eq!(self.history(&o), types, "{name}'s history: {o}");
            let page = tracking_page(self.api, &o).await;
            // (The timed-out order's timer may fire between the two reads.)
            let timer_was_quicker = name == "timed_out" && page["status"] == "cancelled";
            if !timer_was_quicker {
                assert_eq!(page["status"], status, "{name}'s tracking page: {page}");
            }
            assert_eq!(
                page["shipments"].as_array().map(Vec::len),
                Some(shipments.len()),
                "{name}'s tracking page: {page}"
            );
            read.push((name, o, page));
        }
        let approved = self.api.order(&self.id("return_approved")).await;
        assert!(approved["return_label_url"].is_string(), "{approved}");
        read
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

    /// The orders on each warehouse's pick list are exactly those named.
    pub async fn pick_lists_are(&self, want: &[(&str, &[&str])]) {
        for &(warehouse, names) in want {
            let want: BTreeSet<String> = names.iter().map(|n| self.id(n)).collect();
            assert_eq!(
                pick_list(self.api, warehouse).await,
                want,
                "{warehouse}'s picks"
            );
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

    /// The stock reads exactly as the script left it — but for the timed-out order's SKU-4,
    /// which its timer may have released already.
    pub async fn stock_is_as_left(&self, left: &[Cell]) {
        let stock = self.stock_levels().await;
        for &(w, sku, on_hand, reserved, incoming) in left {
            let got = stock.get(&(w.to_string(), sku.to_string())).copied();
            if sku == "SKU-4" {
                assert!(
                    got == Some((on_hand, reserved, incoming))
                        || got == Some((on_hand, 0, incoming)),
                    "{sku} at {w}: {got:?}"
                );
            } else {
                assert_eq!(got, Some((on_hand, reserved, incoming)), "{sku} at {w}");
            }
        }
        assert_eq!(stock.len(), left.len(), "stock cells: {stock:?}");
    }

    /// Waits until the fixture's stock is exactly `want`.
    pub async fn stock_reaches(&self, what: &str, want: &[Cell]) {
        let want: StockLevels = want
            .iter()
            .map(|&(w, s, h, r, i)| ((w.to_string(), s.to_string()), (h, r, i)))
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
    /// fires at start, the order is cancelled with the history `types` (less the new events)
    /// and its SKU-4 at `rtm` goes back; the placed order's deadline is years away. Returns the
    /// cancelled order.
    pub async fn timed_out_is_cancelled(&self, types: &[&str]) -> Value {
        let timed_out = self
            .api
            .wait_status(&self.id("timed_out"), "cancelled")
            .await;
        assert_eq!(self.history(&timed_out), types, "{timed_out}");
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

    /// The notifications the script left pending for the orders `names`: `kinds` of each (by
    /// the order's name; `ops:<kind>` to operations).
    pub fn pending_notes<'n>(
        &self,
        names: impl IntoIterator<Item = &'n str>,
        kinds: fn(&str) -> &'static [&'static str],
    ) -> BTreeSet<Note> {
        names
            .into_iter()
            .flat_map(|name| kinds(name).iter().map(move |kind| (name, kind)))
            .map(|(name, kind)| Note::order(&self.id(name), kind))
            .collect()
    }

    /// The orders of the v1 scenario carry on: `confirmed` (ams) and `confirmed_rtm` are
    /// picked, packed (booked) and handed over; `partially_picked` (rtm) gets the rest of its
    /// picks and the same; `packed` goes out on the booking its release stored; scans by the
    /// recorded tracking numbers (`tn_packed`, `tn_shipped`) find their orders, the second
    /// delivering `shipped`; the approved return is received back into stock. `packed_types`
    /// is a packed order's history as this release's scenario wrote it (placed, the stock's
    /// answer, confirmed, picks, packed, booked).
    pub async fn v1_orders_walk_on(&self, packed_types: &[&str]) {
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
            assert_eq!(self.history(&o), shipped_types, "{name}: {o}");
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
        assert_eq!(self.history(&o), want, "{o}");

        // The packed order goes out on the booking the release stored, and the carrier's
        // scans by the recorded tracking numbers find their orders.
        assert_eq!(api.handover(&self.id("packed")).await["status"], "shipped");
        self.scan_answers("tn_packed", 1, "in_transit", "shipped")
            .await;
        self.scan_answers("tn_shipped", 2, "delivered", "delivered")
            .await;
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

    /// PostNL's scan `kind` of the tracking number `tn` (one the script wrote down, or one
    /// booked since) as the walk's `n`th event, at `9 + n` o'clock on its day: the
    /// acknowledgement says the order is now `order_status`.
    pub async fn scan_answers(&self, tn: &str, n: u32, kind: &str, order_status: &str) {
        let tn = self.ids.get(tn).map_or(tn, String::as_str);
        let ack = self
            .api
            .scan(tn, &self.scan_event(n), kind, &self.scan_time(9 + n))
            .await;
        assert_eq!(ack["order_status"], order_status, "scan {n} of {tn}: {ack}");
    }
}

/// An idempotency record the fixture's script stored: `body`, sent to `path` as `who` under
/// `key`, again answers what it answered (`status`, `idempotent-replayed: true`); `other`
/// under the same key is refused as the key reused.
pub(crate) struct Record<'r> {
    pub who: Key,
    pub path: &'r str,
    pub key: &'r str,
    pub status: u16,
    pub body: Value,
    pub other: Value,
}

impl Record<'_> {
    /// An order's placement, answered 201.
    pub fn placement(key: &str, body: Value, other: Value) -> Record<'_> {
        Record {
            who: Key::Storefront,
            path: "/v1/orders",
            key,
            status: 201,
            body,
            other,
        }
    }

    /// The record replays the request that made `id`, and refuses another body.
    pub async fn replays(&self, api: &Api, id: &str) {
        let replay = api
            .with(self.who)
            .idempotency(self.key)
            .post(self.path, &self.body)
            .await
            .expect(self.status, &format!("{} repeated", self.key));
        assert_eq!(replay.json["id"], id, "{}", replay.text());
        assert_eq!(
            replay.header("idempotent-replayed").as_deref(),
            Some("true")
        );
        let refused = api
            .with(self.who)
            .idempotency(self.key)
            .post(self.path, &self.other)
            .await
            .problem(422, &format!("{} reused with another body", self.key));
        assert_eq!(
            refused["type"], "/problems/idempotency_key_reused",
            "{refused}"
        );
    }
}

/// The fixture's idempotency record under `key` (a captured card order of 2 SKU-1 and 1
/// SKU-2): the same body answers `order` again, replayed; another body is refused.
pub(crate) async fn stored_idempotency_replays(api: &Api, key: &str, order: &str) {
    Record::placement(
        key,
        fixture_body(key, "card", "captured", &[("SKU-1", 2), ("SKU-2", 1)]),
        fixture_body(key, "card", "captured", &[("SKU-1", 3)]),
    )
    .replays(api, order)
    .await;
}

/// A notification the receiver got: what it is about (the order's id, or `warehouse/sku` for
/// a stock alert, or the sku for a back-in-stock message), its type, and whether it went to
/// operations.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Note {
    subject: String,
    pub kind: String,
    operations: bool,
}

impl Note {
    /// The order's notification of `kind` (`ops:<kind>`: to operations).
    pub fn order(order: &str, kind: &str) -> Note {
        let (kind, operations) = match kind.strip_prefix("ops:") {
            Some(kind) => (kind, true),
            None => (kind, false),
        };
        Note {
            subject: order.to_string(),
            kind: format!("order.{kind}"),
            operations,
        }
    }

    /// A low-stock alert for `sku` at `warehouse`.
    pub fn low_stock(warehouse: &str, sku: &str) -> Note {
        Note {
            subject: format!("{warehouse}/{sku}"),
            kind: "stock.low_stock".to_string(),
            operations: false,
        }
    }

    pub fn of(hook: &Hook) -> Note {
        let j = hook.json();
        let d = &j["data"];
        let subject = match (d["order_id"].as_str(), d["warehouse"].as_str()) {
            (Some(order), _) => order.to_string(),
            (None, Some(w)) => format!("{w}/{}", d["sku"].as_str().unwrap_or_default()),
            (None, None) => d["sku"].as_str().unwrap_or_default().to_string(),
        };
        Note {
            subject,
            kind: j["type"].as_str().unwrap_or_default().to_string(),
            operations: hook.id().ends_with("_operations.webhook"),
        }
    }
}

/// Every notification in `expected` reaches `receiver` answered 200, signed, under the message
/// id stored with it (`msg_<order>_…` for an order's, `ntc_…` for a notice; `…_webhook`, or
/// `…_operations.webhook` to operations); nothing arrives that `allowed` does not hold;
/// nothing is dead-lettered. Returns what arrived.
pub(crate) async fn notifications_arrive(
    api: &Api,
    receiver: &Receiver,
    expected: &BTreeSet<Note>,
    allowed: &BTreeSet<Note>,
) -> Vec<Hook> {
    let received = wait_until("every pending notification delivered", || {
        let hooks = receiver.hooks();
        async move {
            let got: BTreeSet<Note> = hooks
                .iter()
                .filter(|h| h.answered == 200)
                .map(Note::of)
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
        let note = Note::of(h);
        assert!(
            allowed.contains(&note),
            "an unexpected notification: {}",
            h.body
        );
        assert_eq!(h.id(), j["data"]["message_id"].as_str().unwrap_or_default());
        let prefix = match j["data"]["order_id"].as_str() {
            Some(order) => format!("msg_{}_", order.replace('-', "")),
            None => "ntc_".to_string(),
        };
        let suffix = if note.operations {
            "_operations.webhook"
        } else {
            "_webhook"
        };
        assert!(
            h.id().starts_with(&prefix) && h.id().ends_with(suffix),
            "the stored message id: {}",
            h.id()
        );
        assert!(
            crate::notifications::signature_ok(h),
            "the signature does not verify: {h:?}"
        );
    }
    nothing_dead_lettered(api).await;
    received
}

/// Every pending notification in `expected` (order id, `order.<kind>`) reaches `receiver`
/// answered 200, signed, under the message id stored with it, and nothing else does; nothing
/// is dead-lettered.
pub(crate) async fn pending_notifications_arrive(
    api: &Api,
    receiver: &Receiver,
    expected: &BTreeSet<(String, String)>,
) {
    let expected: BTreeSet<Note> = expected
        .iter()
        .map(|(order, kind)| Note {
            subject: order.clone(),
            kind: kind.clone(),
            operations: false,
        })
        .collect();
    notifications_arrive(api, receiver, &expected, &expected).await;
}

pub(crate) async fn nothing_dead_lettered(api: &Api) {
    let dead = api
        .admin()
        .get("/v1/notifications/dead-letters")
        .await
        .expect(200, "dead letters");
    assert_eq!(dead.json, json!([]), "nothing dead-lettered");
}

/// A copy of a release's sled data directory (`copy`: the testkit's copier), in a temporary
/// directory that lives as long as the returned guard: the fixture itself is never written.
pub(crate) fn data_copy(copy: fn(&Path)) -> (tempfile::TempDir, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    copy(&data);
    (work, data)
}

/// For the PostgreSQL test `test` (`None`: skipped, no PostgreSQL here): restores a release's
/// dump `sql` into a new database (`prefix_…`) and checks it is what the release's script
/// left: written by the node `writer`, with the migrations `migrations` (`1,2,…`). Returns the
/// server, the database's URL and its name.
pub(crate) fn restored_dump(
    test: &str,
    prefix: &str,
    sql: &Path,
    writer: &str,
    migrations: &str,
) -> Option<(&'static TestPostgres, String, String)> {
    let pg = orderly_testkit::postgres::shared_or_skip(test)?;
    let url = pg.create_database(prefix);
    pg.restore_sql(&url, sql)
        .unwrap_or_else(|e| panic!("restoring {}: {e}", sql.display()));
    let db = url.rsplit('/').next().unwrap().to_string();
    assert_eq!(
        pg.psql(&db, "SELECT node_id FROM nodes ORDER BY node_id")
            .unwrap()
            .trim(),
        writer,
        "the dump's writer"
    );
    assert_eq!(
        pg.psql(
            &db,
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM refinery_schema_history"
        )
        .unwrap()
        .trim(),
        migrations,
        "the dump's migrations"
    );
    Some((pg, url, db))
}

/// The body `make-v1-data.sh` (and the later scripts) placed the order under `key` with.
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

/// The values in `v` at `paths` (keys and indexes joined by `/`: `price/amount`), as a JSON
/// array (null where there is none): several fields compared at once.
pub(crate) fn fields(v: &Value, paths: &[&str]) -> Value {
    paths
        .iter()
        .map(|p| v.pointer(&format!("/{p}")).cloned().unwrap_or(Value::Null))
        .collect()
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

/// The order's tracking page, by its token.
pub(crate) async fn tracking_page(api: &Api, order: &Value) -> Value {
    let token = str_of(&order["tracking_token"]);
    api.anon()
        .get(&format!("/v1/track/{token}"))
        .await
        .expect(200, &format!("{}'s tracking page", order["id"]))
        .json
}

/// An order's shipments as `warehouse:status`, in shipment order.
pub(crate) fn shipments_of(order: &Value) -> Vec<String> {
    order["shipments"]
        .as_array()
        .expect("shipments")
        .iter()
        .map(|s| format!("{}:{}", str_of(&s["warehouse"]), str_of(&s["status"])))
        .collect()
}

/// The order's shipment from `warehouse`.
pub(crate) fn shipment_at<'a>(order: &'a Value, warehouse: &str) -> &'a Value {
    order["shipments"]
        .as_array()
        .expect("shipments")
        .iter()
        .find(|s| s["warehouse"] == warehouse)
        .unwrap_or_else(|| panic!("no shipment from {warehouse}: {order}"))
}

/// A sku's backorder record.
pub(crate) async fn sku_backorders(api: &Api, sku: &str) -> Value {
    api.warehouse()
        .get(&format!("/v1/skus/{sku}/backorders"))
        .await
        .expect(200, "a sku's backorders")
        .json
}

/// `GET /v1/availability` for `skus` as `key` sees it, by sku.
pub(crate) async fn availability(api: &Api, key: Key, skus: &[&str]) -> BTreeMap<String, Value> {
    let query: Vec<String> = skus.iter().map(|s| format!("sku={s}")).collect();
    let answer = api
        .with(key)
        .get(&format!("/v1/availability?{}", query.join("&")))
        .await
        .expect(200, "availability")
        .json;
    answer["skus"]
        .as_array()
        .expect("skus")
        .iter()
        .map(|s| (str_of(&s["sku"]), s.clone()))
        .collect()
}
