//! The data fixtures written by earlier releases, for the tests that check old data still opens:
//! copy them (they are never written in place) and read the ids of their orders by name.
//!
//! - v0: `tests/fixtures/v0-data`, a sled data directory written by the release before the
//!   restructure (made by `tests/fixtures/make-v0-data.sh`).
//! - v1: `tests/fixtures/v1-data` (sled) and `tests/fixtures/v1-postgres.sql` (a plain-SQL
//!   `pg_dump` of a PostgreSQL database), both written by the release with the versioned stored
//!   schema v1 (made by `tests/fixtures/make-v1-data.sh`, the same scenario on each backend).
//! - v2: `tests/fixtures/v2-data` (sled) and `tests/fixtures/v2-postgres.sql` (a plain-SQL
//!   `pg_dump`), both written by the release with stored schema v2 — shipments, split orders,
//!   backorders; PostgreSQL migrations up to V5 (made by `tests/fixtures/make-v2-data.sh`).
//! - v3: `tests/fixtures/v3-data` (sled) and `tests/fixtures/v3-postgres.sql` (a plain-SQL
//!   `pg_dump`), both written by the release with stored schema v3 — delivery promises (plans,
//!   bookings with price, rule and promise, `delayed`), carrier rules and prices, HTTP carriers,
//!   carriers' own tracking codes, transfers and stock alerts; PostgreSQL migrations up to V7
//!   (made by `tests/fixtures/make-v3-data.sh`). Its ids files also name transfers
//!   (`transfer_*`).
//! - v4: `tests/fixtures/v4-data` (sled) and `tests/fixtures/v4-postgres.sql` (a plain-SQL
//!   `pg_dump`), both written by the release with stored schema v4 — failed deliveries (attempts,
//!   delivery exceptions open and answered), shipments returning and returned to origin, a
//!   return parcel tracked under the return label's number, a shipment `pick_pack_late`, and
//!   pending `exception_due` and `deadline_due` timers, besides v3's scenario; PostgreSQL
//!   migrations up to V7 (made by `tests/fixtures/make-v4-data.sh`). Its ids files name the
//!   return label's tracking number too (`tn_return_parcel_return`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `tests/fixtures` of the workspace.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// Copies the v0 data directory to `to` (created if missing).
pub fn copy_v0_data(to: &Path) {
    copy_dir(&dir().join("v0-data"), to);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's directory");
    for entry in std::fs::read_dir(from).expect("read the fixture") {
        let entry = entry.expect("read the fixture");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("read the fixture").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy the fixture");
        }
    }
}

/// The fixture's orders (and tracking numbers) by name: the `name=value` lines of
/// `v0-data.ids`.
pub fn v0_ids() -> BTreeMap<String, String> {
    ids("v0-data.ids")
}

/// Copies the v1 sled data directory to `to` (created if missing).
pub fn copy_v1_data(to: &Path) {
    copy_dir(&dir().join("v1-data"), to);
}

/// The v1 sled fixture's orders (`name=id`) and tracking numbers (`tn_name=number`) by name:
/// `v1-data.ids`.
pub fn v1_ids() -> BTreeMap<String, String> {
    ids("v1-data.ids")
}

/// The v1 PostgreSQL fixture: a plain-SQL dump (no owners, no grants) to restore into a fresh,
/// empty database with `psql -f` (see `postgres::TestPostgres::restore_sql`).
pub fn v1_postgres_sql() -> PathBuf {
    dir().join("v1-postgres.sql")
}

/// The v1 PostgreSQL fixture's orders and tracking numbers by name: `v1-postgres.ids`.
pub fn v1_postgres_ids() -> BTreeMap<String, String> {
    ids("v1-postgres.ids")
}

/// Copies the v2 sled data directory to `to` (created if missing).
pub fn copy_v2_data(to: &Path) {
    copy_dir(&dir().join("v2-data"), to);
}

/// The v2 sled fixture's orders (`name=id`) and tracking numbers (`tn_name=number`) by name:
/// `v2-data.ids`.
pub fn v2_ids() -> BTreeMap<String, String> {
    ids("v2-data.ids")
}

/// The v2 PostgreSQL fixture: a plain-SQL dump (no owners, no grants) to restore into a fresh,
/// empty database with `psql -f` (see `postgres::TestPostgres::restore_sql`).
pub fn v2_postgres_sql() -> PathBuf {
    dir().join("v2-postgres.sql")
}

/// The v2 PostgreSQL fixture's orders and tracking numbers by name: `v2-postgres.ids`.
pub fn v2_postgres_ids() -> BTreeMap<String, String> {
    ids("v2-postgres.ids")
}

/// Copies the v3 sled data directory to `to` (created if missing).
pub fn copy_v3_data(to: &Path) {
    copy_dir(&dir().join("v3-data"), to);
}

/// The v3 sled fixture's orders (`name=id`), transfers (`transfer_name=id`) and tracking
/// numbers (`tn_name=number`) by name: `v3-data.ids`.
pub fn v3_ids() -> BTreeMap<String, String> {
    ids("v3-data.ids")
}

/// The v3 PostgreSQL fixture: a plain-SQL dump (no owners, no grants) to restore into a fresh,
/// empty database with `psql -f` (see `postgres::TestPostgres::restore_sql`).
pub fn v3_postgres_sql() -> PathBuf {
    dir().join("v3-postgres.sql")
}

/// The v3 PostgreSQL fixture's orders, transfers and tracking numbers by name:
/// `v3-postgres.ids`.
pub fn v3_postgres_ids() -> BTreeMap<String, String> {
    ids("v3-postgres.ids")
}

/// Copies the v4 sled data directory to `to` (created if missing).
pub fn copy_v4_data(to: &Path) {
    copy_dir(&dir().join("v4-data"), to);
}

/// The v4 sled fixture's orders (`name=id`), transfers (`transfer_name=id`) and tracking
/// numbers (`tn_name=number`) by name: `v4-data.ids`.
pub fn v4_ids() -> BTreeMap<String, String> {
    ids("v4-data.ids")
}

/// The v4 PostgreSQL fixture: a plain-SQL dump (no owners, no grants) to restore into a fresh,
/// empty database with `psql -f` (see `postgres::TestPostgres::restore_sql`).
pub fn v4_postgres_sql() -> PathBuf {
    dir().join("v4-postgres.sql")
}

/// The v4 PostgreSQL fixture's orders, transfers and tracking numbers by name:
/// `v4-postgres.ids`.
pub fn v4_postgres_ids() -> BTreeMap<String, String> {
    ids("v4-postgres.ids")
}

/// The `name=value` lines of an ids file in `tests/fixtures` (`#` lines are comments).
fn ids(file: &str) -> BTreeMap<String, String> {
    std::fs::read_to_string(dir().join(file))
        .unwrap_or_else(|e| panic!("tests/fixtures/{file}: {e}"))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
