//! A node analyses the young tables itself (`plans.rs`): after its first 2^10 writes the
//! tables have statistics, without waiting for autovacuum.

use orderly_domain::PaymentMethod;
use orderly_storage::conformance::{new_order, t0, Step};
use orderly_storage::roles::*;

use orderly_storage_postgres::{PostgresConfig, PostgresStorage};
use orderly_testkit::postgres::shared_or_skip;
use std::time::{Duration, Instant};

#[test]
fn a_node_analyses_the_young_tables_after_its_first_thousand_writes() {
    let Some(pg) = shared_or_skip("plans") else {
        return;
    };
    let url = pg.create_database("plans");
    let db = url.rsplit('/').next().expect("a database name").to_string();
    let analysed = || {
        pg.psql(
            &db,
            "SELECT count(*) FROM pg_stat_user_tables \
             WHERE relname IN ('orders', 'events') AND last_analyze IS NOT NULL",
        )
        .expect("psql answers")
        .trim()
        .to_string()
    };
    let s = PostgresStorage::open(PostgresConfig::new(url.clone(), "plans-node")).unwrap();
    // Autovacuum must not be the one that analyses them here.
    pg.psql(
        &db,
        "ALTER TABLE orders SET (autovacuum_enabled = false); \
         ALTER TABLE events SET (autovacuum_enabled = false)",
    )
    .expect("psql answers");
    let place = || Step::place(new_order(&[("SKU-1", 1)], PaymentMethod::Cod), t0()).commit(&s);
    for _ in 0..300 {
        place();
    }
    assert_eq!(analysed(), "0", "not analysed before 1,024 writes");
    while s.flush_stats().flushed_writes < 1024 {
        place();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while analysed() != "2" {
        assert!(
            Instant::now() < deadline,
            "the tables were not analysed after 1,024 writes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
