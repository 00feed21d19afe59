//! Moving and keeping data with the real binary.
//!
//! * `orderly export` of a stopped service's data and `orderly import` into a fresh data
//!   directory: a service started there answers every read as the first did (orders with their
//!   history, tracking pages, the pick list, the order list, stock, dead letters), and carries on
//!   (a booked tracking number still finds its order).
//! * `orderly backup DIR` while the service takes a light concurrent load: a service started on
//!   DIR holds every order acknowledged before the backup began, each one whole, the stock ledger
//!   agrees with the orders' reservations, and it takes new orders. With the service stopped,
//!   the command makes the backup itself.

use crate::support::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `orderly --config <config> <args>` with extra environment, off the test's runtime.
async fn orderly(config: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_orderly"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    actix_rt::task::spawn_blocking(move || cmd.output())
        .await
        .expect("the command ran")
        .expect("the binary starts")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// How many notifications an order's history has caused (one webhook message each).
fn notifications(order: &Value) -> usize {
    [
        "confirmed",
        "shipped",
        "delivered",
        "cancelled",
        "return_approved",
        "refund_issued",
    ]
    .iter()
    .map(|kind| count_events(order, kind))
    .sum()
}

/// Everything a client can read about `ids` and the shop, by request.
async fn every_read(api: &Api, ids: &[String], skus: &[&str]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for id in ids {
        let o = api.order(id).await;
        let token = str_of(&o["tracking_token"]);
        let track = api
            .anon()
            .get(&format!("/v1/track/{token}"))
            .await
            .expect(200, "tracking page")
            .json;
        out.insert(format!("track {id}"), track);
        out.insert(format!("order {id}"), o);
    }
    out.insert("orders".into(), json!(api.all_orders(None).await));
    for status in [
        "placed",
        "confirmed",
        "packed",
        "delivered",
        "returned",
        "cancelled",
    ] {
        out.insert(
            format!("orders {status}"),
            json!(api.all_orders(Some(status)).await),
        );
    }
    let picks = api
        .warehouse()
        .get("/v1/warehouses/ams/picks?limit=200")
        .await
        .expect(200, "pick list")
        .json;
    out.insert("picks ams".into(), picks);
    for sku in skus {
        out.insert(format!("stock {sku}"), api.stock(sku).await);
    }
    let dead = api
        .admin()
        .get("/v1/notifications/dead-letters?limit=200")
        .await
        .expect(200, "dead letters")
        .json;
    out.insert("dead letters".into(), dead);
    out
}

#[actix_rt::test]
async fn an_export_imported_into_a_fresh_data_directory_serves_the_same_answers() {
    // Every webhook fails, once: each notification becomes a dead letter at once.
    let failing = Receiver::start(usize::MAX).await;
    let mut a = Server::start_with(&failing.config(1)).await;
    let api = a.api();
    api.set_stock("ams", "MUG", 100).await;
    api.set_stock("ams", "TEE", 50).await;
    let captured = ("card", "captured");

    // Placed (card, unpaid: a payment timer), confirmed (on the pick list), packed and booked,
    // delivered with a return approved, returned (received, refunded, restocked), cancelled.
    let placed = api
        .place(
            &new_key(),
            &order_body(&[("MUG", 1, 1250)], ("card", "pending")),
        )
        .await;
    let mut ids = vec![str_of(&placed["id"])];
    let mut confirmed_orders = Vec::new();
    for lines in [
        &[("TEE", 2, 1999)][..],
        &[("MUG", 1, 1250)][..],
        &[("MUG", 2, 1250), ("TEE", 1, 1999)][..],
        &[("MUG", 1, 1250), ("TEE", 1, 1999)][..],
        &[("TEE", 1, 1999)][..],
    ] {
        let o = api.place(&new_key(), &order_body(lines, captured)).await;
        let id = str_of(&o["id"]);
        api.wait_status(&id, "confirmed").await;
        confirmed_orders.push(id.clone());
        ids.push(id);
    }
    let [_confirmed, packed, returned, approved, cancelled] = &confirmed_orders[..] else {
        unreachable!()
    };
    api.pick_all(packed, "ams").await;
    let booked = api.pack(packed, "ams").await;
    let tn = str_of(&booked["shipments"][0]["booking"]["tracking_number"]);
    for id in [returned, approved] {
        api.deliver(id, "ams").await;
        api.storefront()
            .post(
                &format!("/v1/orders/{id}/returns"),
                &json!({"lines": [{"sku": "MUG", "quantity": 1}], "reason": "chipped"}),
            )
            .await
            .expect(200, "request a return");
    }
    api.warehouse()
        .post(
            &format!("/v1/orders/{returned}/returns/receive"),
            &json!({"warehouse": "ams", "lines": [{"sku": "MUG", "quantity": 1}]}),
        )
        .await
        .expect(200, "receive the return");
    api.wait_status(returned, "returned").await;
    api.storefront()
        .post(
            &format!("/v1/orders/{cancelled}/cancel"),
            &json!({"reason": "changed my mind"}),
        )
        .await
        .expect(200, "cancel");
    let mut expected_letters = 0;
    for id in &ids {
        expected_letters += notifications(&api.order(id).await);
    }
    assert!(expected_letters >= 8, "{expected_letters}");
    wait_until("every notification is a dead letter", || async {
        let dead = api
            .admin()
            .get("/v1/notifications/dead-letters?limit=200")
            .await
            .expect(200, "dead letters")
            .json;
        let n = dead.as_array().map_or(0, Vec::len);
        if n == expected_letters {
            Ok(())
        } else {
            Err(format!("{n} of {expected_letters}"))
        }
    })
    .await;
    // A durable change covers every write before it (one group commit): the dead letters,
    // which nobody waits for, are on disk before the service stops.
    api.set_stock("ams", "SPARE", 1).await;
    let skus = ["MUG", "TEE", "SPARE"];
    let before = every_read(&api, &ids, &skus).await;

    // The service holds the data directory: an export says to stop it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shop.ndjson");
    let file_arg = file.to_str().unwrap();
    let refused = orderly(&a.config_path(), &["export", "--out", file_arg], &[]).await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("stop it first"),
        "{}",
        text(&refused)
    );

    a.stop().await;
    let exported = orderly(&a.config_path(), &["export", "--out", file_arg], &[]).await;
    assert!(exported.status.success(), "{}", text(&exported));
    let lines: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(lines[0]["format"], "orderly-export");
    assert_eq!(lines.last().unwrap()["type"], "end");
    assert_eq!(lines.last().unwrap()["counts"]["order"], ids.len());
    assert_eq!(
        lines.last().unwrap()["counts"]["dead_letter"],
        expected_letters
    );

    let fresh = dir.path().join("fresh-data");
    let env = [("ORDERLY_STORAGE__DATA_DIR", fresh.as_path())];
    let imported = orderly(&a.config_path(), &["import", file_arg], &env).await;
    assert!(imported.status.success(), "{}", text(&imported));
    assert!(
        String::from_utf8_lossy(&imported.stderr).contains(&format!("{} orders", ids.len())),
        "{}",
        text(&imported)
    );
    // A second import into the same (no longer empty) directory is refused.
    let again = orderly(&a.config_path(), &["import", file_arg], &env).await;
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{}",
        text(&again)
    );

    // Notifications still pending now reach a receiver that answers; the dead letters stay.
    let receiver = Receiver::start(0).await;
    let b = Server::start_on(&fresh, &receiver.config(8)).await;
    let api_b = b.api();
    let after = every_read(&api_b, &ids, &skus).await;
    for (what, value) in &before {
        assert_eq!(
            Some(value),
            after.get(what),
            "{what} differs after the import"
        );
    }
    assert_eq!(before.len(), after.len());
    // It carries on: the booked tracking number still finds its order.
    let ack = api_b
        .scan(&tn, "ev-moved-1", "in_transit", "2026-03-02T10:00:00Z")
        .await;
    assert_eq!(ack["order_status"], "shipped", "{ack}");
    failing.stop().await;
    receiver.stop().await;
}

/// What the load acknowledged: order id → the version of its latest 2xx.
type Acked = Rc<std::cell::RefCell<BTreeMap<String, u64>>>;

/// Places, pays and packs orders until `stop`, recording each acknowledged version.
async fn load(api: Api, acked: Acked, stop: Rc<AtomicBool>, n: usize) {
    let mut i = 0usize;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let sku = if (n + i).is_multiple_of(2) {
            "MUG"
        } else {
            "TEE"
        };
        let payment = if !i.is_multiple_of(3) {
            ("cod", "pending")
        } else {
            ("card", "pending")
        };
        let r = api
            .storefront()
            .idempotency(&new_key())
            .post("/v1/orders", &order_body(&[(sku, 1, 1250)], payment))
            .await;
        if r.status != 201 {
            continue;
        }
        let id = str_of(&r.json["id"]);
        acked
            .borrow_mut()
            .insert(id.clone(), r.json["version"].as_u64().unwrap_or(0));
        if payment.0 == "card" {
            let r = api
                .storefront()
                .post(
                    &format!("/v1/orders/{id}/payments"),
                    &json!({"status": "captured", "amount": 1250, "reference": "psp"}),
                )
                .await;
            if r.status == 200 {
                acked
                    .borrow_mut()
                    .insert(id.clone(), r.json["version"].as_u64().unwrap_or(0));
            }
        }
        // Every other order is picked and packed.
        if i % 2 != 1 {
            let o = api.order(&id).await;
            if o["status"] == "confirmed" {
                let r = api
                    .warehouse()
                    .post(
                        &format!("/v1/orders/{id}/picks"),
                        &json!({"warehouse": "ams", "lines": [{"sku": sku, "quantity": 1}]}),
                    )
                    .await;
                let r = if r.status == 200 {
                    api.warehouse()
                        .post(
                            &format!("/v1/orders/{id}/pack"),
                            &json!({"warehouse": "ams", "parcels": [{"weight_grams": 500}]}),
                        )
                        .await
                } else {
                    r
                };
                if r.status == 200 {
                    acked
                        .borrow_mut()
                        .insert(id.clone(), r.json["version"].as_u64().unwrap_or(0));
                }
            }
        }
    }
}

#[actix_rt::test]
async fn a_backup_taken_under_load_restores_whole_and_consistent() {
    let mut a = Server::start().await;
    let api = a.api();
    api.set_stock("ams", "MUG", 100_000).await;
    api.set_stock("ams", "TEE", 100_000).await;
    let acked: Acked = Default::default();
    let stop = Rc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|n| actix_rt::spawn(load(a.api(), acked.clone(), stop.clone(), n)))
        .collect();
    wait_until("the load has placed some orders", || async {
        let n = acked.borrow().len();
        if n >= 40 {
            Ok(())
        } else {
            Err(format!("{n} orders"))
        }
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("backup");
    let before_backup: BTreeMap<String, u64> = acked.borrow().clone();
    let made = orderly(&a.config_path(), &["backup", target.to_str().unwrap()], &[]).await;
    let during = acked.borrow().len();
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    assert!(made.status.success(), "{}", text(&made));
    let report = String::from_utf8_lossy(&made.stdout);
    assert!(report.contains("backup of "), "{}", text(&made));
    assert!(
        !String::from_utf8_lossy(&made.stderr).contains("no service answered"),
        "the running service made the backup: {}",
        text(&made)
    );
    assert!(
        during > before_backup.len(),
        "the load went on during the backup ({during} orders)"
    );
    // The same directory again: refused by the service, which names it.
    let again = orderly(&a.config_path(), &["backup", target.to_str().unwrap()], &[]).await;
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{}",
        text(&again)
    );
    a.stop().await;
    // With the service stopped, the command opens the data itself.
    let offline = dir.path().join("offline");
    let made = orderly(
        &a.config_path(),
        &["backup", offline.to_str().unwrap()],
        &[],
    )
    .await;
    assert!(made.status.success(), "{}", text(&made));
    assert!(
        String::from_utf8_lossy(&made.stderr).contains("no service answered"),
        "{}",
        text(&made)
    );
    assert!(offline.join("sled").is_dir(), "{}", text(&made));

    let b = Server::start_on(&target, "").await;
    let api_b = b.api();
    let orders = api_b.all_orders(None).await;
    // Every order acknowledged before the backup began, at least as far as acknowledged.
    let in_backup: BTreeMap<String, u64> = orders
        .iter()
        .map(|o| (str_of(&o["id"]), o["version"].as_u64().unwrap()))
        .collect();
    for (id, version) in &before_backup {
        let v = in_backup
            .get(id)
            .unwrap_or_else(|| panic!("order {id}, acknowledged before the backup, is missing"));
        assert!(
            v >= version,
            "order {id}: version {v}, acknowledged {version}"
        );
    }
    // Every order whole: its snapshot's version is its history's last event.
    for id in in_backup.keys() {
        let o = api_b.order(id).await;
        assert_history_contiguous(&o);
        assert_eq!(
            o["version"].as_u64(),
            o["history"].as_array().map(|h| h.len() as u64),
            "order {id}"
        );
    }
    // The ledger agrees with the reservations: once the restored service has finished what
    // the backup left pending (answers to reservations), the reserved units per sku are the
    // orders holding stock.
    wait_until(
        "reserved stock is the sum of the orders' reservations",
        || async {
            let mut held: BTreeMap<String, i64> = BTreeMap::new();
            for o in api_b.all_orders(None).await {
                if o["stock"] == "reserved" {
                    for l in o["lines"].as_array().unwrap() {
                        *held.entry(str_of(&l["sku"])).or_default() +=
                            l["quantity"].as_i64().unwrap();
                    }
                }
            }
            for sku in ["MUG", "TEE"] {
                let reserved = api_b.stock(sku).await["reserved"].as_i64().unwrap_or(-1);
                let want = held.get(sku).copied().unwrap_or(0);
                if reserved != want {
                    return Err(format!("{sku}: {reserved} reserved, orders hold {want}"));
                }
            }
            Ok(())
        },
    )
    .await;
    // And it takes new orders.
    let o = api_b
        .place(
            &new_key(),
            &order_body(&[("MUG", 1, 1250)], ("cod", "pending")),
        )
        .await;
    api_b.wait_status(&str_of(&o["id"]), "confirmed").await;
}

#[actix_rt::test]
async fn the_backup_endpoint_is_for_admins_and_refuses_bad_targets_as_problems() {
    let server = Server::start().await;
    let api = server.api();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("b1");
    let body = json!({ "dir": target.to_str().unwrap() });
    api.storefront()
        .post("/v1/admin/backup", &body)
        .await
        .problem(403, "a storefront key");
    api.anon()
        .post("/v1/admin/backup", &body)
        .await
        .problem(401, "no key");
    assert!(!target.exists(), "nothing written for a refused caller");
    for (bad, what) in [
        (json!({"dir": "relative/path"}), "a relative path"),
        (json!({"dir": "/"}), "the root"),
        (json!({"dir": "/tmp/a\u{0}b"}), "a NUL character"),
        (json!({"dir": 5}), "not a string"),
        (json!({}), "no dir"),
        (json!({"dir": "/tmp/x", "more": 1}), "an unknown field"),
    ] {
        let p = api
            .admin()
            .post("/v1/admin/backup", &bad)
            .await
            .problem(422, what);
        assert_eq!(p["type"], "/problems/validation", "{what}: {p}");
    }
    let made = api
        .admin()
        .post("/v1/admin/backup", &body)
        .await
        .expect(200, "a backup")
        .json;
    assert_eq!(made["dir"], target.to_str().unwrap());
    assert!(
        made["held_us"].is_u64() && made["took_ms"].is_u64(),
        "{made}"
    );
    assert!(target.join("sled").is_dir());
    // The same directory again is not empty; a file, or a missing parent, cannot be used.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    for t in [target.clone(), file, dir.path().join("no-such-parent/b2")] {
        let p = api
            .admin()
            .post("/v1/admin/backup", &json!({ "dir": t.to_str().unwrap() }))
            .await
            .problem(409, "an unusable target");
        assert_eq!(p["type"], "/problems/backup_target", "{p}");
        assert_eq!(p["field"], "dir", "{p}");
    }
}
