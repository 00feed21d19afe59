//! A data directory written by the release before the storage interface and the versioned
//! schema (`tests/fixtures/v0-data`, made by `tests/fixtures/make-v0-data.sh`) opens with the
//! sled backend and reads completely: every order with its full history, the pending webhook
//! notifications, the payment timers (one of them already due). The fixture is copied first
//! and never written.

use chrono::TimeZone;
use orderly_domain::inventory::ReservationState;
use orderly_domain::{
    fold, Cause, Change, Command, EffectKind, Event, LineQty, OrderId, Parcel, ShipmentRef, Status,
    TimerKind,
};
use orderly_storage::conformance::Step;
use orderly_storage::roles::*;
use orderly_storage_sled::SledStorage;
use std::collections::BTreeMap;

fn open_copy() -> (tempfile::TempDir, SledStorage) {
    let dir = tempfile::tempdir().unwrap();
    orderly_testkit::fixture::copy_v0_data(dir.path());
    let s = SledStorage::open(dir.path(), 8 << 20).expect("the v0 data directory opens");
    (dir, s)
}

fn id(ids: &BTreeMap<String, String>, name: &str) -> OrderId {
    ids[name].parse().unwrap()
}

/// The status each fixture order is in, by its name.
fn expected_status(name: &str) -> Status {
    match name {
        "placed" | "timed_out" => Status::Placed,
        "confirmed" | "cod" => Status::Confirmed,
        "packed" => Status::Packed,
        "shipped" => Status::Shipped,
        // A return approved but not received yet: the order stays delivered.
        "delivered" | "return_approved" => Status::Delivered,
        "cancelled" => Status::Cancelled,
        "returned" => Status::Returned,
        other => panic!("unknown fixture order {other}"),
    }
}

#[test]
fn every_order_reads_with_its_full_history() {
    let ids = orderly_testkit::fixture::v0_ids();
    let (_dir, s) = open_copy();
    let orders: Vec<(&str, OrderId)> = ids
        .keys()
        .filter(|k| !k.starts_with("tn_"))
        .map(|k| (k.as_str(), id(&ids, k)))
        .collect();
    assert_eq!(orders.len(), 10);
    assert_eq!(s.order_count().unwrap(), 10);
    for &(name, oid) in &orders {
        let order = s
            .load_order(oid)
            .unwrap()
            .unwrap_or_else(|| panic!("{name} exists"));
        assert_eq!(order.status, expected_status(name), "{name}");
        let history = s.history(oid, order.version).unwrap();
        let seqs: Vec<u32> = history.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            (1..=order.version).collect::<Vec<_>>(),
            "{name}: every event"
        );
        assert_eq!(
            fold(None, &history).as_ref(),
            Some(&order),
            "{name}: the history folds into the snapshot"
        );
        // Written before shipments: one shipment (id 1, at its warehouse) once stock was
        // reserved, none before.
        let reserved = history
            .iter()
            .any(|e| matches!(e.change, Change::StockReserved { .. }));
        assert_eq!(order.shipments.len(), usize::from(reserved), "{name}");
        if reserved {
            let sh = &order.shipments[0];
            assert_eq!((sh.id, sh.warehouse.as_str()), (1, "ams"), "{name}");
        }
        let raw: Vec<Event> = s
            .history_json(oid, order.version)
            .unwrap()
            .iter()
            .flat_map(|r| r.decode::<Event>().unwrap())
            .collect();
        assert_eq!(raw, history, "{name}: history_json");
        assert_eq!(
            s.order_by_token(&order.tracking_token).unwrap().as_ref(),
            Some(&order),
            "{name}: by tracking token"
        );
        assert!(
            s.list_orders(Some(order.status), None, 100)
                .unwrap()
                .contains(&order),
            "{name}: in the status index"
        );
        // Placed through the API with Idempotency-Key "fx-<name>".
        let key = format!("fx-{}", name.replace('_', "-"));
        let key = if name == "return_approved" {
            "fx-return".to_string()
        } else {
            key
        };
        let rec = s
            .idempotency(&key)
            .unwrap()
            .unwrap_or_else(|| panic!("{key}"));
        assert_eq!((rec.order_id, rec.version), (oid, 1), "{key}");
    }
    let returned = s.load_order(id(&ids, "return_approved")).unwrap().unwrap();
    assert!(returned
        .return_case
        .as_ref()
        .is_some_and(|r| r.received_at.is_none()));
    assert_eq!(s.list_orders(None, None, 100).unwrap().len(), 10);

    let picks: Vec<OrderId> = s
        .picks("ams", None, 10)
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(picks, vec![id(&ids, "confirmed"), id(&ids, "cod")]);
    assert_eq!(
        s.order_by_tracking_number(&ids["tn_packed"]).unwrap(),
        Some(id(&ids, "packed"))
    );
    assert_eq!(
        s.order_by_tracking_number(&ids["tn_shipped"]).unwrap(),
        Some(id(&ids, "shipped"))
    );
}

#[test]
fn pending_webhook_notifications_and_payment_timers_are_handed_out() {
    let ids = orderly_testkit::fixture::v0_ids();
    let (_dir, s) = open_copy();
    let outbox = s.claim_outbox().unwrap();
    let (notifications, other): (Vec<_>, Vec<_>) = outbox
        .iter()
        .partition(|e| matches!(e.effect().unwrap().kind, EffectKind::Notify { .. }));
    // Every customer-visible moment of the nine orders that went past placement, waiting for a
    // webhook receiver that was never there.
    assert_eq!(notifications.len(), 20);
    for e in &notifications {
        assert_eq!(e.channel.as_deref(), Some("webhook"), "{}", e.message_id());
        assert!(
            e.attempts >= 1 && e.last_error.is_some(),
            "{}",
            e.message_id()
        );
        let order = s.load_order(e.effect().unwrap().order_id).unwrap().unwrap();
        assert!(e.effect().unwrap().step <= order.version);
    }
    let cancelled = id(&ids, "cancelled");
    let kinds: Vec<&str> = notifications
        .iter()
        .filter(|e| e.effect().unwrap().order_id == cancelled)
        .map(|e| e.effect().unwrap().kind.name())
        .collect();
    assert_eq!(kinds, vec!["confirmed", "cancelled", "refunded"]);
    // The order written last was killed before its reservation message was acknowledged.
    assert!(other
        .iter()
        .all(|e| e.effect().unwrap().order_id == id(&ids, "timed_out")));
    assert_eq!(s.outbox_len().unwrap(), outbox.len());

    // The fixture was written on 2026-11-24: the timed-out order's timer is due from then on,
    // the placed order's runs for ten years.
    let written = chrono::Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
    let due = s.claim_due_timers(written, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].order_id, id(&ids, "timed_out"));
    assert_eq!(due[0].kind, TimerKind::PaymentDue);
    let timed_out = s.load_order(id(&ids, "timed_out")).unwrap().unwrap();
    // Timers keep microseconds.
    assert_eq!(
        timed_out.payment_due_at.map(|t| t.timestamp_micros()),
        Some(due[0].due.timestamp_micros())
    );
    let pending = s.pending_timers(10).unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[1].order_id, id(&ids, "placed"));
    assert!(pending[1].due > written + chrono::Duration::days(3000));
    assert_eq!(s.claim_due_timers(chrono::Utc::now(), 10).unwrap(), due);
    assert!(s.dead_letters(10).unwrap().is_empty());
}

#[test]
fn the_stock_ledger_reads_and_matches_the_reservations() {
    let ids = orderly_testkit::fixture::v0_ids();
    let (_dir, s) = open_copy();
    let levels = s.stock_levels().unwrap();
    assert_eq!(levels.len(), 2);
    for (orderly_domain::CellKey { warehouse: w, sku }, level) in &levels {
        assert_eq!(w, "ams");
        let held: i64 = ids
            .keys()
            .filter(|k| !k.starts_with("tn_"))
            .filter_map(|k| s.reservation(id(&ids, k)).unwrap())
            .filter(|r| r.state == ReservationState::Open)
            .flat_map(|r| r.parts)
            .flat_map(|p| p.lines)
            .filter(|l| &l.sku == sku)
            .map(|l| l.quantity as i64)
            .sum();
        assert_eq!(
            level.reserved, held,
            "{sku}: reserved = the open reservations"
        );
        assert!(level.available() >= 0);
    }
    assert_eq!(
        s.stock_level(&"ams".into(), &"SKU-1".into())
            .unwrap()
            .on_hand,
        94
    );
    assert!(s.order_step_applied(id(&ids, "returned"), 11).unwrap());
}

/// New writes (versioned records) go next to the old ones (unmarked) and both read back.
#[test]
fn new_transitions_continue_old_orders() {
    let ids = orderly_testkit::fixture::v0_ids();
    let (dir, s) = open_copy();
    let oid = id(&ids, "confirmed");
    let order = s.load_order_for_update(oid).unwrap().unwrap();
    let picked = Step::decide(
        Some(&order),
        Command::AcknowledgePicks {
            shipment: ShipmentRef::At("ams".into()),
            lines: order
                .lines
                .iter()
                .map(|l| LineQty {
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                })
                .collect(),
        },
        Cause::Warehouse,
        chrono::Utc::now(),
    );
    let packed = picked.then(
        Command::Pack {
            shipment: ShipmentRef::At("ams".into()),
            parcels: vec![Parcel { weight_grams: 800 }],
        },
        Cause::Warehouse,
        chrono::Utc::now(),
    );
    picked.commit(&s);
    packed.commit(&s);
    drop(s);
    let s = SledStorage::open_patiently(dir.path(), 8 << 20, std::time::Duration::from_secs(10))
        .unwrap();
    let now = s.load_order(oid).unwrap().unwrap();
    assert_eq!(now, packed.after);
    let history = s.history(oid, now.version).unwrap();
    assert_eq!(history.len() as u32, now.version);
    assert_eq!(fold(None, &history), Some(now));
    assert!(s
        .picks("ams", None, 10)
        .unwrap()
        .iter()
        .all(|o| o.id != oid));
}

/// The previous release's data moves through an export: the export of the imported copy is the
/// same file, and every order reads the same history, byte for byte, by token and by tracking
/// number.
#[test]
fn the_v0_data_exports_and_imports_unchanged() {
    let ids = orderly_testkit::fixture::v0_ids();
    let (_dir, s) = open_copy();
    let mut file = Vec::new();
    let counts = orderly_storage::export::export(&s, &mut file, "sled").unwrap();
    assert_eq!(counts.order, 10);
    assert!(counts.outbox > 0 && counts.timer > 0, "{counts}");
    let target = tempfile::tempdir().unwrap();
    let t = SledStorage::open(target.path(), 8 << 20).unwrap();
    orderly_storage::export::import(&t, &mut &file[..]).expect("the export imports");
    let mut again = Vec::new();
    orderly_storage::export::export(&t, &mut again, "sled").unwrap();
    let records = |f: &[u8]| -> Vec<String> {
        String::from_utf8(f.to_vec())
            .unwrap()
            .lines()
            .skip(1)
            .map(str::to_string)
            .collect()
    };
    assert_eq!(records(&again), records(&file));
    for (name, v) in &ids {
        if let Some(tn) = name.strip_prefix("tn_") {
            assert_eq!(
                t.order_by_tracking_number(v).unwrap(),
                s.order_by_tracking_number(v).unwrap(),
                "tracking number of {tn}"
            );
            continue;
        }
        let oid = id(&ids, name);
        let order = s.load_order(oid).unwrap().unwrap();
        assert_eq!(t.load_order(oid).unwrap().as_ref(), Some(&order), "{name}");
        assert_eq!(
            t.history_json(oid, order.version).unwrap(),
            s.history_json(oid, order.version).unwrap(),
            "{name}: the stored history, byte for byte"
        );
        assert_eq!(
            t.order_by_token(&order.tracking_token).unwrap(),
            Some(order),
            "{name}"
        );
    }
}
