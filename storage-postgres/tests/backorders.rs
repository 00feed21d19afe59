//! The skus' backorder records on PostgreSQL (migration V5), beyond the conformance suite:
//! `CHECK (waiting <= cap)` refuses a write that would leave more units waiting than the cap
//! (nothing of it is written, cells included); nodes racing to write the same record or cell
//! that is not there yet get exactly one write through (a row that was not there is inserted,
//! never upserted over a concurrent insert); cell writes still leave their movement rows; and
//! the backorder queue is a side table that holds exactly the queued orders.

use orderly_domain::inventory::{Backorders, StockLevel};
use orderly_domain::{Cause, Command, LineQty, PaymentMethod};
use orderly_storage::conformance::{new_order, t0, wait, Step};
use orderly_storage::roles::*;
use orderly_storage::{CellDelta, SkuDelta, StockChange, Storage, StorageError};
use orderly_storage_postgres::{PostgresConfig, PostgresStorage};
use orderly_testkit::postgres::{shared_or_skip, TestPostgres};
use std::sync::{Arc, Barrier};

fn open(url: &str, node: &str) -> PostgresStorage {
    PostgresStorage::open(PostgresConfig::new(url.to_string(), node)).expect("the store opens")
}

/// A fresh database: (server, its name, its url).
fn database(test: &str) -> Option<(&'static TestPostgres, String, String)> {
    let pg = shared_or_skip(test)?;
    let url = pg.create_database(test);
    let db = url.rsplit('/').next().expect("a database name").to_string();
    Some((pg, db, url))
}

fn backorders(allowed: bool, cap: i64, waiting: i64) -> Backorders {
    Backorders {
        allowed,
        cap,
        waiting,
    }
}

fn level(on_hand: i64, reserved: i64) -> StockLevel {
    StockLevel {
        on_hand,
        reserved,
        incoming: 0,
    }
}

fn add(sku: &str, on_hand: i64) -> CellDelta {
    CellDelta {
        warehouse: "ams".into(),
        sku: sku.into(),
        on_hand,
        reserved: 0,
        incoming: 0,
        counted: None,
    }
}

/// A write's outcome once settled: applied, or refused with `Conflict`.
fn applied(s: &dyn Storage, change: &StockChange) -> bool {
    let outcome = s
        .write_stock(change)
        .and_then(|c| futures::executor::block_on(std::future::IntoFuture::into_future(c)));
    match outcome {
        Ok(()) => true,
        Err(StorageError::Conflict(_)) => false,
        Err(e) => panic!("write_stock failed otherwise: {e}"),
    }
}

#[test]
fn more_units_waiting_than_the_cap_are_refused_by_the_check() {
    let Some((_pg, _db, url)) = database("backorder_cap") else {
        return;
    };
    let s = open(&url, "node-a");
    wait(
        s.write_stock(&StockChange {
            skus: vec![SkuDelta {
                sku: "B".into(),
                waiting: 0,
                policy: Some((true, 2)),
            }],
            ..StockChange::default()
        })
        .unwrap(),
    );
    // Decided wrongly: three waiting under a cap of two, with a cell beside it.
    let over = StockChange {
        cells: vec![add("B", 1)],
        skus: vec![SkuDelta {
            sku: "B".into(),
            waiting: 3,
            policy: None,
        }],
        ..StockChange::default()
    };
    assert!(!applied(&s, &over), "the CHECK refuses it");
    assert_eq!(
        s.sku_backorders().unwrap(),
        vec![("B".into(), backorders(true, 2, 0))]
    );
    assert_eq!(
        s.stock_level(&"ams".into(), &"B".into()).unwrap(),
        StockLevel::default()
    );
    // A negative cap likewise.
    let negative = StockChange {
        skus: vec![SkuDelta {
            sku: "C".into(),
            waiting: 0,
            policy: Some((true, -1)),
        }],
        ..StockChange::default()
    };
    assert!(!applied(&s, &negative));
    assert_eq!(s.sku_backorders().unwrap().len(), 1);
}

#[test]
fn nodes_racing_for_a_new_record_all_get_through_and_add_up() {
    let Some((pg, db, url)) = database("backorder_race") else {
        return;
    };
    let nodes: Vec<Arc<PostgresStorage>> = (0..3)
        .map(|n| Arc::new(open(&url, &format!("node-{n}"))))
        .collect();
    for round in 0..20 {
        let sku = format!("NEW-{round}");
        let barrier = Arc::new(Barrier::new(nodes.len()));
        let outcomes: Vec<bool> = std::thread::scope(|scope| {
            let handles: Vec<_> = nodes
                .iter()
                .enumerate()
                .map(|(n, node)| {
                    let (sku, barrier) = (sku.clone(), barrier.clone());
                    scope.spawn(move || {
                        // Each node restocks a cell none of them has seen written, and puts
                        // units waiting under the same cap: changes that commute.
                        let n = n as i64 + 1;
                        let change = StockChange {
                            cells: vec![add(&sku, n)],
                            skus: vec![SkuDelta {
                                sku: sku.as_str().into(),
                                waiting: n,
                                policy: Some((true, 10)),
                            }],
                            ..StockChange::default()
                        };
                        barrier.wait();
                        applied(&**node, &change)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            outcomes.iter().all(|ok| *ok),
            "round {round}: every write applies: {outcomes:?}"
        );
        let reader = &nodes[0];
        assert_eq!(
            reader
                .stock_level(&"ams".into(), &sku.as_str().into())
                .unwrap(),
            level(6, 0)
        );
        let record = reader
            .sku_backorders()
            .unwrap()
            .into_iter()
            .find(|(k, _)| *k == sku)
            .map(|(_, b)| b);
        assert_eq!(record, Some(backorders(true, 10, 6)), "round {round}");
    }
    // Every applied cell write left its movement row.
    let movements = pg
        .psql(&db, "SELECT count(*) FROM stock_movements")
        .expect("psql answers");
    assert_eq!(movements.trim(), "60");
}

#[test]
fn the_backorder_queue_is_a_side_table_of_the_queued_orders() {
    let Some((pg, db, url)) = database("backorder_queue") else {
        return;
    };
    let s = open(&url, "node-a");
    let rows = || {
        pg.psql(&db, "SELECT count(*) FROM order_backorders")
            .expect("psql answers")
            .trim()
            .to_string()
    };
    let placed = Step::place(new_order(&[("B", 2)], PaymentMethod::Cod), t0());
    placed.commit(&s);
    assert_eq!(rows(), "0");
    let waits = placed.then(
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
    waits.commit(&s);
    assert_eq!(rows(), "1");
    let cancelled = waits.then(
        Command::Cancel {
            reason: "too long".into(),
        },
        Cause::Storefront,
        t0(),
    );
    cancelled.commit(&s);
    assert_eq!(rows(), "0");
    assert!(s.backorders(None, 10).unwrap().is_empty());
}
