//! The storage conformance suite on the PostgreSQL backend: each check gets a fresh database on
//! a throwaway server (skipped when PostgreSQL is not installed, failed in CI).

use orderly_storage::conformance::{Backend, Place};
use orderly_storage::{Result, Storage};
use orderly_storage_postgres::{PostgresConfig, PostgresStorage};
use orderly_testkit::postgres::shared_or_skip;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

struct Postgres;

struct Database {
    url: String,
    others: AtomicU32,
}

impl Database {
    fn open_as(&self, node: &str) -> Result<Arc<dyn Storage>> {
        Ok(Arc::new(PostgresStorage::open(PostgresConfig::new(
            self.url.clone(),
            node,
        ))?))
    }
}

impl Place for Database {
    fn open(&self) -> Result<Arc<dyn Storage>> {
        self.open_as("node-a")
    }

    fn open_another(&self) -> Option<Result<Arc<dyn Storage>>> {
        let n = self.others.fetch_add(1, Ordering::SeqCst);
        Some(self.open_as(&format!("node-other-{n}")))
    }
}

impl Backend for Postgres {
    fn create(&self) -> Box<dyn Place> {
        let pg = shared_or_skip("conformance").expect("checked by the caller");
        Box::new(Database {
            url: pg.create_database("conformance"),
            others: AtomicU32::new(0),
        })
    }
}

/// Whether the throwaway server runs (false only when PostgreSQL is not installed and CI
/// does not require it).
fn available() -> bool {
    shared_or_skip("conformance").is_some()
}

orderly_storage::conformance_tests!(Postgres, when = available());
