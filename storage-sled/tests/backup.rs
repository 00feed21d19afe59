//! The sled backend's online backup (`Archive::backup`): the copy opens as a data directory and
//! holds what the store held; taken while writers race, it is the state at one point of their
//! write sequence (whole transitions, the ledger agreeing with the reservations, every write
//! finished before the backup began in it); a target that exists and is not empty is refused.

use orderly_domain::inventory::{Backorders, Reservation, ReservationState, ReservedPart};
use orderly_domain::{Cause, Command, LineQty, OrderId, PaymentMethod, Status};
use orderly_storage::conformance::{new_order, stock_reserved, t0, wait, Step};
use orderly_storage::export;
use orderly_storage::roles::*;
use orderly_storage::{
    CellDelta, ReservationWrite, SkuDelta, StockChange, StockOperation, StorageError,
};
use orderly_storage_sled::SledStorage;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn open(dir: &Path) -> SledStorage {
    SledStorage::open_patiently(dir, 16 << 20, Duration::from_secs(10)).expect("sled opens")
}

fn export_lines(s: &dyn Storage) -> Vec<String> {
    let mut out = Vec::new();
    export::export(s, &mut out, "sled").unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// One unit of `sku` at `ams` reserved for a new order, then the order's `stock_reserved`
/// transition: the ledger write first, as the inventory actor does it. The unit must be there.
fn place_and_reserve(s: &dyn Storage, sku: &str) -> OrderId {
    let placed = Step::place(new_order(&[(sku, 1)], PaymentMethod::Cod), t0());
    placed.commit(s);
    let id = placed.after.id;
    let change = StockChange {
        cells: vec![CellDelta {
            warehouse: "ams".into(),
            sku: sku.into(),
            on_hand: 0,
            reserved: 1,
            incoming: 0,
            counted: None,
        }],
        operation: StockOperation::Reservation(ReservationWrite {
            expected: None,
            new: Reservation {
                order_id: id,
                parts: vec![ReservedPart {
                    shipment: 1,
                    warehouse: "ams".into(),
                    lines: vec![LineQty {
                        sku: sku.into(),
                        quantity: 1,
                    }],
                    state: ReservationState::Open,
                }],
                backordered: vec![],
                state: ReservationState::Open,
            },
        }),
        ..StockChange::default()
    };
    wait(
        s.write_stock(&change)
            .unwrap_or_else(|e| panic!("write_stock (is there a unit of {sku}?): {e}")),
    );
    let reserved = placed.then(
        stock_reserved(&placed.after, "ams"),
        Cause::InventoryActor,
        t0(),
    );
    reserved.commit(s);
    assert_eq!(reserved.after.status, Status::Confirmed);
    id
}

fn stock(s: &dyn Storage, sku: &str, on_hand: i64) {
    wait(
        s.write_stock(&StockChange {
            cells: vec![CellDelta {
                warehouse: "ams".into(),
                sku: sku.into(),
                on_hand,
                reserved: 0,
                incoming: 0,
                counted: None,
            }],
            ..StockChange::default()
        })
        .unwrap(),
    );
}

#[test]
fn a_backup_opens_as_a_data_directory_with_the_same_content() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir.path().join("data"));
    stock(&s, "A", 100);
    let ids: Vec<OrderId> = (0..5).map(|_| place_and_reserve(&s, "A")).collect();
    let placed = Step::place(new_order(&[("A", 1)], PaymentMethod::Card), t0())
        .with_idempotency("key-1", "fp");
    placed.commit(&s);
    // An order waiting for two B, which may be backordered: the queue and the sku's record.
    let waiting = Step::place(new_order(&[("B", 2)], PaymentMethod::Cod), t0());
    waiting.commit(&s);
    let waiting = waiting.then(
        Command::StockBackordered {
            held: vec![],
            backordered: vec![LineQty {
                sku: "B".into(),
                quantity: 2,
            }],
            reason: "out of stock: B".into(),
        },
        Cause::InventoryActor,
        t0(),
    );
    waiting.commit(&s);
    let b_record = Backorders {
        allowed: true,
        cap: 10,
        waiting: 2,
    };
    wait(
        s.write_stock(&StockChange {
            skus: vec![SkuDelta {
                sku: "B".into(),
                waiting: b_record.waiting,
                policy: Some((b_record.allowed, b_record.cap)),
            }],
            ..StockChange::default()
        })
        .unwrap(),
    );
    let target = dir.path().join("backup");
    let stats = s.backup(&target).expect("the backup is made");
    assert_eq!(stats.orders, 7);
    assert!(stats.records > 0);
    assert!(stats.held <= stats.took);
    let source = export_lines(&s);
    drop(s);
    let b = open(&target);
    assert_eq!(
        export_lines(&b),
        source,
        "the backup holds what the store held"
    );
    assert_eq!(b.picks("ams", None, 10).unwrap().len(), ids.len());
    assert_eq!(
        b.idempotency("key-1").unwrap().map(|r| r.order_id),
        Some(placed.after.id)
    );
    assert_eq!(b.backorders(None, 10).unwrap(), vec![waiting.after.clone()]);
    assert_eq!(b.sku_backorders().unwrap(), vec![("B".into(), b_record)]);
    // The backup is a store of its own: it takes new transitions.
    let next = place_and_reserve(&b, "A");
    assert_eq!(b.order_count().unwrap(), 8);
    assert!(b.load_order(next).unwrap().is_some());
}

#[test]
fn a_target_that_is_not_empty_or_cannot_be_made_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir.path().join("data"));
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("keep.txt"), "mine").unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    for target in [
        full.clone(),
        file.clone(),
        dir.path().join("no/such/parent"),
        dir.path().join("data"),
    ] {
        let err = s.backup(&target).unwrap_err();
        assert!(
            matches!(err, StorageError::BackupTarget(_)),
            "{}: {err}",
            target.display()
        );
    }
    assert_eq!(
        std::fs::read_to_string(full.join("keep.txt")).unwrap(),
        "mine"
    );
    // An empty directory is fine, and the store goes on (the gate was let go).
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    s.backup(&empty).unwrap();
    stock(&s, "A", 1);
    place_and_reserve(&s, "A");
    let again = dir.path().join("again");
    s.backup(&again).expect("one backup after another");
}

/// Writers place and reserve orders without pause while the backup runs. The backup holds a
/// prefix of every writer's sequence, each order whole, the ledger agreeing with the
/// reservations, and every order that was finished before the backup began.
#[test]
fn a_backup_under_concurrent_writes_is_the_state_at_one_point() {
    const WRITERS: usize = 3;
    let dir = tempfile::tempdir().unwrap();
    let s: Arc<dyn Storage> = Arc::new(open(&dir.path().join("data")));
    for w in 0..WRITERS {
        stock(&*s, &format!("SKU-{w}"), 1_000_000);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let done: Arc<Mutex<Vec<Vec<OrderId>>>> = Arc::new(Mutex::new(vec![Vec::new(); WRITERS]));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (s, stop, done) = (s.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let sku = format!("SKU-{w}");
                while !stop.load(Ordering::SeqCst) {
                    let id = place_and_reserve(&*s, &sku);
                    done.lock().unwrap()[w].push(id);
                }
            })
        })
        .collect();
    // Let some orders exist first, polling rather than sleeping a guess.
    let deadline = Instant::now() + Duration::from_secs(30);
    while done.lock().unwrap().iter().map(Vec::len).sum::<usize>() < 500 {
        assert!(Instant::now() < deadline, "the writers made no progress");
        std::thread::yield_now();
    }
    let before: Vec<Vec<OrderId>> = done.lock().unwrap().clone();
    let target = dir.path().join("backup");
    let stats = s.backup(&target).expect("the backup is made under load");
    let after_count: usize = done.lock().unwrap().iter().map(Vec::len).sum();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    let all: Vec<Vec<OrderId>> = done.lock().unwrap().clone();
    drop(s);
    eprintln!("{stats:?}; {after_count} orders finished by the end of the backup");

    let b = open(&target);
    // Every order finished before the backup began is there, confirmed.
    for id in before.iter().flatten() {
        let o = b
            .load_order(*id)
            .unwrap()
            .expect("finished before the backup");
        assert_eq!(o.status, Status::Confirmed);
    }
    let in_backup: BTreeSet<OrderId> = b
        .list_orders(None, None, usize::MAX)
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    for (w, seq) in all.iter().enumerate() {
        // A prefix of each writer's sequence (the last one possibly only placed).
        let n = seq.iter().take_while(|id| in_backup.contains(id)).count();
        assert!(
            seq[n..].iter().skip(1).all(|id| !in_backup.contains(id)),
            "writer {w}: the backup holds a later order without an earlier one"
        );
    }
    let mut reserved_by_sku: BTreeMap<orderly_domain::Sku, i64> = BTreeMap::new();
    for id in &in_backup {
        let o = b.load_order(*id).unwrap().unwrap();
        // Whole: the snapshot's version is its history's last event.
        let history = b.history(*id, o.version).unwrap();
        assert_eq!(
            history.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=o.version).collect::<Vec<_>>(),
            "order {id}"
        );
        let json_events: usize = b
            .history_json(*id, o.version)
            .unwrap()
            .iter()
            .map(|t| t.raw_events().unwrap().len())
            .sum();
        assert_eq!(json_events, history.len());
        let r = b.reservation(*id).unwrap();
        if o.status == Status::Confirmed {
            assert!(
                r.is_some(),
                "order {id} is confirmed without its reservation"
            );
        }
        if let Some(r) = r {
            assert_eq!(r.state, ReservationState::Open);
            for l in r.parts.iter().flat_map(|p| &p.lines) {
                *reserved_by_sku.entry(l.sku.clone()).or_default() += l.quantity as i64;
            }
        }
    }
    for (orderly_domain::CellKey { warehouse: w, sku }, level) in b.stock_levels().unwrap() {
        assert_eq!(w, "ams");
        assert_eq!(
            level.reserved,
            reserved_by_sku.get(&sku).copied().unwrap_or(0),
            "{sku}: reserved is the sum of the reservations"
        );
    }
}

/// How long writers are held back, for the README: `BACKUP_ORDERS=100000 cargo test --release
/// -p orderly-storage-sled --test backup -- --ignored --nocapture`. Orders are placed, reserved
/// and paid (three transitions each) without waiting for each flush; one writer keeps writing
/// during the backup.
#[test]
#[ignore]
fn measure_how_long_writers_are_held() {
    let n: usize = std::env::var("BACKUP_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let s: Arc<dyn Storage> = Arc::new(open(&dir.path().join("data")));
    let t = Instant::now();
    for _ in 0..n {
        let placed = Step::place(new_order(&[("SKU-1", 1)], PaymentMethod::Card), t0());
        let reserved = placed.then(
            stock_reserved(&placed.after, "ams"),
            Cause::InventoryActor,
            t0(),
        );
        let paid = reserved.then(
            Command::RecordPayment {
                status: orderly_domain::PaymentUpdate::Captured,
                amount: placed.after.total().amount,
                reference: "psp".into(),
            },
            Cause::Storefront,
            t0(),
        );
        for step in [&placed, &reserved, &paid] {
            drop(s.commit_transition(&step.write()).unwrap());
        }
    }
    wait(s.sync());
    eprintln!("seeded {n} orders in {:?}", t.elapsed());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (s, stop) = (s.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut written = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let placed = Step::place(new_order(&[("SKU-1", 1)], PaymentMethod::Cod), t0());
                wait(s.commit_transition(&placed.write()).unwrap());
                written += 1;
            }
            written
        })
    };
    let stats = s.backup(&dir.path().join("backup")).unwrap();
    stop.store(true, Ordering::SeqCst);
    let written = writer.join().unwrap();
    eprintln!(
        "{n} orders: backup took {:?}, writers held {:?}, {} rounds, {} records copied, {} orders in it; {written} durable placements meanwhile",
        stats.took, stats.held, stats.rounds, stats.records, stats.orders
    );
}
