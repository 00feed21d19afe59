//! The sled backend's own tests: what the conformance suite cannot see from outside (key
//! layout, the records' version byte, what a crash leaves in the trees).

use super::*;
use orderly_domain::{Cause, Change, Command, Effect, EffectKind, PaymentMethod};
use orderly_storage::conformance::{new_order, stock_reserved, t0, wait, Step};
use std::time::Duration;

fn open(dir: &Path) -> SledStorage {
    SledStorage::open_patiently(dir, 8 << 20, Duration::from_secs(10)).unwrap()
}

fn placed_cod() -> Step {
    Step::place(new_order(&[("s", 1)], PaymentMethod::Cod), t0())
}

#[test]
fn writes_ahead_of_an_uncommitted_snapshot_are_ignored_and_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let placed = placed_cod();
    placed.commit(&store);
    let order = &placed.after;
    // A cancel that crashed after its leading writes but before its snapshot.
    let id = order.id;
    let ghost = Event {
        seq: 2,
        at: order.placed_at,
        by: Cause::Storefront,
        change: Change::Cancelled { reason: "x".into() },
    };
    store
        .orders
        .insert(keys::event(id, 2), schema::encode_events(&[ghost]).unwrap())
        .unwrap();
    let entry = OutboxEntry::new(
        Effect {
            order_id: id,
            step: 2,
            kind: EffectKind::ReleaseStock { shipments: None },
        },
        None,
    );
    store
        .orders
        .insert(outbox_key(&entry), schema::encode_outbox(&entry).unwrap())
        .unwrap();
    store
        .orders
        .insert(keys::by_status(Status::Cancelled, id), vec![])
        .unwrap();

    assert_eq!(store.history(id, order.version).unwrap().len(), 1);
    assert!(store
        .list_orders(Some(Status::Cancelled), None, 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .list_orders(Some(Status::Placed), None, 10)
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .claim_outbox()
            .unwrap()
            .iter()
            .all(|e| e.effect().unwrap().step < 2),
        "not handed out"
    );
    store.load_order_for_update(id).unwrap();
    assert!(store.outbox_entry(&entry).unwrap().is_none(), "discarded");
    assert_eq!(store.orders.scan_prefix(keys::events_of(id)).count(), 1);
}

#[test]
fn uncommitted_outbox_entries_are_dropped_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let ghost = {
        let store = open(dir.path());
        let placed = placed_cod();
        placed.commit(&store);
        let ghost = placed.then(
            Command::Cancel { reason: "x".into() },
            Cause::Storefront,
            t0(),
        );
        store.write_ahead_of_commit_point(&ghost.write()).unwrap();
        assert_eq!(
            store.outbox_len().unwrap(),
            placed.outbox.len() + ghost.outbox.len()
        );
        wait(store.sync());
        ghost
    };
    let store = open(dir.path());
    for e in &ghost.outbox {
        assert_eq!(store.outbox_entry(e).unwrap(), None);
    }
    assert_eq!(
        store.outbox_len().unwrap(),
        1,
        "the placement's reserve_stock stays"
    );
}

#[test]
fn a_transitions_events_share_one_key_and_read_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let placed = placed_cod();
    placed.commit(&store);
    // Cash on delivery: the reservation also confirms the order, two events in one step.
    let confirmed = placed.then(
        stock_reserved(&placed.after, "ams"),
        Cause::InventoryActor,
        t0(),
    );
    assert_eq!(confirmed.events.len(), 2, "{:?}", confirmed.events);
    confirmed.commit(&store);

    let id = confirmed.after.id;
    let all: Vec<Event> = placed
        .events
        .iter()
        .chain(&confirmed.events)
        .cloned()
        .collect();
    assert_eq!(store.history(id, confirmed.after.version).unwrap(), all);
    let seqs: Vec<u32> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=confirmed.after.version).collect::<Vec<_>>());
    // The version a replay of the placement asks for sees only the first step.
    assert_eq!(
        store.history(id, placed.after.version).unwrap(),
        placed.events
    );
    let raw = store.history_json(id, confirmed.after.version).unwrap();
    let decoded: Vec<Event> = raw
        .iter()
        .flat_map(|v| v.decode::<Event>().unwrap())
        .collect();
    assert_eq!(decoded, all);
    assert_eq!(store.orders.scan_prefix(keys::events_of(id)).count(), 2);
}

#[test]
fn new_records_carry_the_schema_version_and_old_ones_read_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let placed =
        Step::place(new_order(&[("s", 1)], PaymentMethod::Card), t0()).with_idempotency("k", "fp");
    placed.commit(&store);
    let id = placed.after.id;
    let versioned = |k: Vec<u8>| store.orders.get(k).unwrap().unwrap()[0];
    assert_eq!(versioned(keys::order(id)), schema::CURRENT);
    assert_eq!(versioned(keys::event(id, 1)), schema::CURRENT);
    assert_eq!(versioned(outbox_key(&placed.outbox[0])), schema::CURRENT);
    assert_eq!(versioned(keys::idempotency("k")), schema::V2);
    let timer = store
        .orders
        .get(keys::timer(&placed.set_timers[0]))
        .unwrap()
        .unwrap();
    assert_eq!(
        &timer[..],
        &1u32.to_be_bytes(),
        "a timer holds the version that set it"
    );

    // The same records as the release before versioning wrote them: bare JSON, empty timers.
    let old = placed_cod();
    let oid = old.after.id;
    let put = |k: Vec<u8>, v: Vec<u8>| store.orders.insert(k, v).unwrap();
    put(
        keys::event(oid, 1),
        serde_json::to_vec(&old.events).unwrap(),
    );
    put(keys::order(oid), serde_json::to_vec(&old.after).unwrap());
    put(keys::by_status(Status::Placed, oid), vec![]);
    let mut timer = placed.set_timers[0].clone();
    timer.order_id = oid;
    put(keys::timer(&timer), vec![]);
    assert_eq!(store.load_order(oid).unwrap(), Some(old.after.clone()));
    assert_eq!(store.history(oid, 1).unwrap(), old.events);
    assert!(store.pending_timers(10).unwrap().contains(&timer));
    assert_eq!(
        store
            .list_orders(Some(Status::Placed), None, 10)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn an_interrupted_stock_change_is_finished_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let transfer = orderly_domain::inventory::transfer::Transfer::dispatch(
        OrderId::from_u128(9),
        "key-9",
        &"v".into(),
        &"w".into(),
        &[orderly_domain::LineQty {
            sku: "s".into(),
            quantity: 3,
        }],
        chrono::DateTime::UNIX_EPOCH,
        |_| true,
    )
    .unwrap();
    {
        let store = open(dir.path());
        let change: Journal<'_, v2::Reservation<'_>> = Journal {
            levels: vec![(
                ("w".into(), "s".into()),
                v2::StockLevel {
                    on_hand: 7,
                    reserved: 2,
                    incoming: 3,
                },
            )],
            reservations: vec![],
            restock_marker: None,
            skus: vec![(
                "s".into(),
                v2::Backorders {
                    allowed: true,
                    cap: 4,
                    waiting: 1,
                },
            )],
            transfers: vec![v2::Transfer::from(&transfer)],
        };
        // Journalled (the commit point) but not applied: the crash came in between.
        store
            .inventory
            .insert(keys::journal(0), schema::encode_record(&change).unwrap())
            .unwrap();
        store.db.flush().unwrap();
    }
    let store = open(dir.path());
    assert_eq!(
        store.stock_levels().unwrap(),
        vec![(
            orderly_domain::CellKey::new("w", "s"),
            StockLevel {
                on_hand: 7,
                reserved: 2,
                incoming: 3
            }
        )]
    );
    assert_eq!(store.transfer_by_key("key-9").unwrap(), Some(transfer));
    assert_eq!(
        store.sku_backorders().unwrap(),
        vec![(
            "s".into(),
            orderly_domain::inventory::Backorders {
                allowed: true,
                cap: 4,
                waiting: 1
            }
        )]
    );
    assert_eq!(store.inventory.scan_prefix([keys::JOURNAL]).count(), 0);
}

#[test]
fn a_journal_record_of_the_release_before_versioning_is_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let id = OrderId::from_u128(5);
    {
        let store = open(dir.path());
        let old = format!(
            r#"{{"levels":[[["ams","A"],{{"on_hand":4,"reserved":1}}]],"reservations":[{{"order_id":"{id}","warehouse":"ams","lines":[{{"sku":"A","quantity":1}}],"state":"open"}}],"restock_marker":null}}"#
        );
        store
            .inventory
            .insert(keys::journal(3), old.as_bytes())
            .unwrap();
        store.db.flush().unwrap();
    }
    let store = open(dir.path());
    assert_eq!(
        store.stock_level(&"ams".into(), &"A".into()).unwrap(),
        StockLevel {
            on_hand: 4,
            reserved: 1,
            incoming: 0
        }
    );
    let r = store.reservation(id).unwrap().unwrap();
    assert_eq!((r.parts.len(), r.parts[0].shipment), (1, 1));
    assert_eq!(r.parts[0].lines[0].quantity, 1);
    // Applied as the release before wrote it: the same v1 bytes.
    assert_eq!(
        store.inventory.get(keys::reservation(id)).unwrap().unwrap()[0],
        1
    );
}
