//! Keeping PostgreSQL's cached plans right while the tables are young.
//!
//! Every statement is prepared once per connection, and after five runs PostgreSQL may switch
//! a prepared statement (and the queries inside `orderly_apply_stock`) to a generic plan, made
//! on the table statistics of that moment and kept until the table is analysed again. While a
//! table is small, the generic plan of a lookup by key is a sequential scan — kept as the table
//! grows, so every lookup reads the whole table. Autovacuum's analysis comes a minute or more
//! after a table grew (its naptime), and forcing custom plans instead costs planning on every
//! statement (a lifecycle bench ran 40% slower).
//!
//! So a node analyses the young tables itself: **each the first time it has seen [`MIN`]
//! changes, and again each time it holds twice the rows it held when last analysed**
//! (`n_live_tup` at least twice its `reltuples`, and at least [`MIN`]). A table that grows is
//! analysed at about 1,000, 2,000, 4,000, … rows, whenever it grows, not when the node's write
//! count says. A table whose rows come and go (the outbox, timers) is analysed once, early:
//! from then on its plans look up by key however many dead rows it gathers before a vacuum.
//! Growth, not changes, after that: analysing such tables at every thousand changes made every
//! session plan again all the time (a lifecycle bench ran at half speed). (A count of the node's writes missed the tables
//! that fill later than the others: `order_tracking` gets its rows at packing, and its lookups
//! by tracking number scanned it whole for the rest of a bench.) Tables past [`OLD_ROWS`] are
//! left to autovacuum. A look at the statistics costs one catalog query, made only while the
//! node writes (and for a few seconds after). `ANALYZE` takes no lock that blocks writers, and
//! the new statistics make every session of every node plan again.

use crate::lanes::Counters;
use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::{Duration, Instant};

/// The tables the commit lanes, the stock pipe and the reads query by key.
const TABLES: &[&str] = &[
    "orders",
    "events",
    "idempotency",
    "outbox",
    "timers",
    "stock",
    "reservations",
    "restocks",
    "order_picks",
    "order_tracking",
    "order_backorders",
    "sku_backorders",
    "transfers",
];

/// Changes before a table's first analysis, and rows below which it is not analysed again.
pub const MIN: i64 = 1_000;

/// Rows past which a table is no longer young: autovacuum's analyses keep up with it.
pub const OLD_ROWS: f64 = 4_194_304.0;

/// How often the node looks, while it writes.
const EVERY: Duration = Duration::from_millis(500);

/// How long it keeps looking after its last write.
const LOOK_AFTER_WRITES: Duration = Duration::from_secs(15);

/// The young tables never analysed that have seen enough changes, and those holding at least
/// twice the rows they held when last analysed (`reltuples` is -1 before the first analysis).
const DUE: &str = "SELECT s.relname::text FROM pg_stat_user_tables s \
     JOIN pg_class c ON c.oid = s.relid \
     WHERE s.schemaname = current_schema() AND s.relname = ANY($1::text[]) \
       AND c.reltuples < $3::float8 \
       AND ((c.reltuples < 0 AND s.n_mod_since_analyze >= $2::bigint) \
         OR s.n_live_tup >= greatest($2::bigint, 2 * c.reltuples::bigint)) \
     ORDER BY 1";

/// Watches the young tables while the node writes, and analyses each that is due.
pub(crate) fn spawn(
    handle: &tokio::runtime::Handle,
    pool: deadpool_postgres::Pool,
    counters: Weak<Counters>,
) {
    handle.spawn(async move {
        let tables: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
        let mut seen = 0u64;
        let mut last_write: Option<Instant> = None;
        loop {
            tokio::time::sleep(EVERY).await;
            let Some(c) = counters.upgrade() else { return };
            let writes = c.writes.load(Ordering::Relaxed);
            drop(c);
            if writes != seen {
                seen = writes;
                last_write = Some(Instant::now());
            }
            // Statistics reach the view up to ten seconds after the writes (a backend gone
            // idle reports them then): keep looking that long after the last one.
            if last_write.is_none_or(|at| at.elapsed() > LOOK_AFTER_WRITES) {
                continue;
            }
            let analysed = async {
                let client = pool.get().await.map_err(|e| e.to_string())?;
                let due: Vec<String> = client
                    .query(DUE, &[&tables, &MIN, &OLD_ROWS])
                    .await
                    .map_err(|e| e.to_string())?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                if !due.is_empty() {
                    let list = due
                        .iter()
                        .map(|t| format!("\"{t}\""))
                        .collect::<Vec<_>>()
                        .join(", ");
                    client
                        .batch_execute(&format!("ANALYZE {list}"))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok::<_, String>(due)
            };
            match analysed.await {
                Ok(due) if !due.is_empty() => {
                    tracing::debug!(writes, tables = ?due, "analysed the young tables that grew")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not analyse the tables; autovacuum will")
                }
            }
        }
    });
}
