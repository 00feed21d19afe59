//! A node analyses the young tables itself (`plans.rs`), each when it holds twice the rows it
//! held when last analysed: at about 1,000 rows, then 2,000, … — without waiting for
//! autovacuum, and whenever the table grows (not when the node's write count says).

use orderly_domain::PaymentMethod;
use orderly_storage::conformance::{new_order, t0, Step};

use orderly_storage_postgres::{PostgresConfig, PostgresStorage};
use orderly_testkit::postgres::shared_or_skip;
use std::time::{Duration, Instant};

#[test]
fn a_node_analyses_a_young_table_each_time_it_has_doubled() {
    let Some(pg) = shared_or_skip("plans") else {
        return;
    };
    let url = pg.create_database("plans");
    let db = url.rsplit('/').next().expect("a database name").to_string();
    // How often `orders` was analysed by hand (not by autovacuum), and its rows then.
    let analyses = || -> (u32, i64) {
        let out = pg
            .psql(
                &db,
                "SELECT s.analyze_count || ' ' || c.reltuples::bigint FROM pg_stat_user_tables s \
                 JOIN pg_class c ON c.oid = s.relid WHERE s.relname = 'orders'",
            )
            .expect("psql answers");
        let mut it = out.split_whitespace();
        let count = it.next().and_then(|n| n.parse().ok()).expect("a count");
        let rows = it.next().and_then(|n| n.parse().ok()).expect("rows");
        (count, rows)
    };
    let wait_for = |count: u32, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = analyses();
            if got.0 >= count {
                return got;
            }
            assert!(Instant::now() < deadline, "{what}: {got:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let s = PostgresStorage::open(PostgresConfig::new(url.clone(), "plans-node")).unwrap();
    // Autovacuum must not be the one that analyses it here.
    pg.psql(&db, "ALTER TABLE orders SET (autovacuum_enabled = false)")
        .expect("psql answers");
    let place = |n: usize| {
        for _ in 0..n {
            Step::place(new_order(&[("SKU-1", 1)], PaymentMethod::Cod), t0()).commit(&s);
        }
        // What the node's look at the statistics sees: flushed by this session's backend.
        std::thread::sleep(Duration::from_millis(1_500));
    };

    place(300);
    assert_eq!(analyses().0, 0, "not analysed before 1,000 rows");
    place(800);
    let (_, rows) = wait_for(1, "analysed once it had 1,000 rows");
    assert!(rows >= 1_000, "analysed at {rows} rows");

    // Grown by less than it held then: not yet; by more: again, at about twice the rows.
    place(rows as usize / 2);
    assert_eq!(analyses().0, 1, "not again before it doubled");
    place(rows as usize / 2 + 200);
    let (_, twice) = wait_for(2, "analysed again once it had doubled");
    assert!(twice >= 2 * rows, "analysed again at {twice} rows");
}
