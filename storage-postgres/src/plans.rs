//! Keeping PostgreSQL's cached plans right while the tables are young.
//!
//! Every statement is prepared once per connection, and after five runs PostgreSQL may switch
//! a prepared statement (and the queries inside `orderly_write_stock`) to a generic plan, made
//! on the table statistics of that moment and kept until the table is analysed again. On a
//! fresh database those statistics say the tables are tiny, and the generic plan of a lookup
//! by key is a sequential scan; autovacuum's first analysis may come a minute or more after
//! the load started (the first bench on a fresh database ran at half speed). Forcing custom
//! plans instead costs planning on every statement (a lifecycle bench ran 40% slower).
//!
//! So a node analyses the tables itself while they are young: each time the number of writes
//! it committed passes a power of two from 2^10 to 2^22. `ANALYZE` takes no lock that blocks
//! writers, and the new statistics make every session of every node plan again.

use crate::lanes::Counters;
use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

/// The tables the commit lanes and the stock pipe query by key.
const TABLES: &str =
    "ANALYZE orders, events, idempotency, outbox, timers, stock, reservations, restocks, \
     order_picks, order_tracking, order_backorders, sku_backorders";

/// Analyses at these many writes of this node: 2^10, 2^11, …, 2^22.
const FIRST: u32 = 10;
const LAST: u32 = 22;

/// Watches this node's write count and analyses the tables at each milestone, until the last.
pub(crate) fn spawn(
    handle: &tokio::runtime::Handle,
    pool: deadpool_postgres::Pool,
    counters: Weak<Counters>,
) {
    handle.spawn(async move {
        let mut next = FIRST;
        while next <= LAST {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let Some(c) = counters.upgrade() else { return };
            let writes = c.writes.load(Ordering::Relaxed);
            drop(c);
            if writes < 1 << next {
                continue;
            }
            while next <= LAST && writes >= 1 << next {
                next += 1;
            }
            let analysed = async {
                let client = pool.get().await.map_err(|e| e.to_string())?;
                client
                    .batch_execute(TABLES)
                    .await
                    .map_err(|e| e.to_string())
            };
            match analysed.await {
                Ok(()) => tracing::debug!(writes, "analysed the young tables"),
                Err(e) => {
                    tracing::warn!(error = %e, "could not analyse the tables; autovacuum will")
                }
            }
        }
    });
}
