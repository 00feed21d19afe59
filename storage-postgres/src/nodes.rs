//! The nodes sharing the database: registration, heartbeats, and taking over the work of a
//! node that stopped.
//!
//! Every outbox row and timer has an owner, the node that wrote it; only its owner delivers or
//! fires it. Each node heartbeats every `heartbeat`; a node whose heartbeat is older than the
//! `lease` is dead, and any live node moves the dead node's rows to itself with
//! `FOR UPDATE SKIP LOCKED` (two live nodes never take the same row, and neither waits for the
//! other). A node that stops cleanly sets its heartbeat to the distant past, so its work moves
//! at once. A row with no owner (imported) belongs to whoever takes it first.
//!
//! A node that is only slow rather than dead may lose its rows while it still delivers them:
//! the message then goes out twice, which the at-least-once contract allows (receivers
//! recognise repeats by message id), and a timer fires twice, which the order ignores the
//! second time (its command is refused or changes nothing).

use crate::{error, Shared};
use chrono::{DateTime, Utc};
use orderly_storage::{schema, OutboxEntry, Result};
use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;
use uuid::Uuid;

/// Registers (or re-registers, after a restart) this node with a fresh incarnation.
pub(crate) async fn register(pool: &deadpool_postgres::Pool, node: &str) -> Result<()> {
    let c = pool.get().await.map_err(error::pool)?;
    c.execute(
        "INSERT INTO nodes (node_id, incarnation, heartbeat_at) VALUES ($1, $2, now()) \
         ON CONFLICT (node_id) DO UPDATE SET incarnation = EXCLUDED.incarnation, heartbeat_at = now()",
        &[&node, &Uuid::new_v4()],
    )
    .await
    .map_err(error::db)?;
    Ok(())
}

/// Marks this node as gone, so its work is taken over without waiting for the lease.
pub(crate) async fn leave(pool: &deadpool_postgres::Pool, node: &str) {
    let left = async {
        let c = pool.get().await.map_err(error::pool)?;
        c.execute(
            "UPDATE nodes SET heartbeat_at = '-infinity' WHERE node_id = $1",
            &[&node],
        )
        .await
        .map_err(error::db)
    };
    if let Err(e) = tokio::time::timeout(Duration::from_secs(5), left)
        .await
        .unwrap_or_else(|_| Err(error::other("timed out")))
    {
        tracing::warn!(error = %e, "could not tell the other nodes this one is leaving; they take over after the lease");
    }
}

/// Heartbeats until the storage is gone; records whether the database answered.
pub(crate) fn spawn_heartbeat(handle: &tokio::runtime::Handle, shared: Weak<Shared>) {
    handle.spawn(async move {
        loop {
            let Some(s) = shared.upgrade() else { return };
            let every = s.config.heartbeat;
            let beat = async {
                let c = s.pool.get().await.map_err(error::pool)?;
                c.execute(
                    "UPDATE nodes SET heartbeat_at = now() WHERE node_id = $1",
                    &[&&*s.node],
                )
                .await
                .map_err(error::db)
            };
            let ok = match tokio::time::timeout(every.max(Duration::from_millis(100)), beat).await {
                Ok(Ok(1)) => true,
                Ok(Ok(_)) => {
                    // Someone removed our row: register again.
                    register(&s.pool, &s.node).await.is_ok()
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "heartbeat failed");
                    false
                }
                Err(_) => {
                    tracing::warn!("heartbeat timed out");
                    false
                }
            };
            s.reachable.store(ok, Ordering::Relaxed);
            drop(s);
            tokio::time::sleep(every).await;
        }
    });
}

/// The condition "the row's owner is not a live node" on a table aliased `t`, with the dead
/// nodes as `$2`: no owner (an import), or one of them. Owners are always registered nodes (a
/// node registers before it writes, and node rows are never deleted), so the dead ones are
/// found first in the small `nodes` table ([`dead_nodes`]) and their rows through the index on
/// `owner`, rather than by checking every row each time.
const ORPHANED: &str = "(t.owner IS NULL OR t.owner = ANY($2::text[]))";

/// The other nodes whose heartbeat is older than the lease.
async fn dead_nodes(
    c: &deadpool_postgres::Client,
    node: &str,
    lease: Duration,
) -> Result<Vec<String>> {
    let st = c
        .prepare_cached(
            "SELECT node_id FROM nodes WHERE node_id <> $1 \
             AND heartbeat_at <= now() - make_interval(secs => $2)",
        )
        .await
        .map_err(error::db)?;
    Ok(c.query(&st, &[&node, &lease.as_secs_f64()])
        .await
        .map_err(error::db)?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Moves outbox rows of dead nodes (and unowned ones) to this node; returns them.
pub(crate) async fn take_over_outbox(
    c: &deadpool_postgres::Client,
    node: &str,
    lease: Duration,
) -> Result<Vec<OutboxEntry>> {
    let dead = dead_nodes(c, node, lease).await?;
    let sql = format!(
        "UPDATE outbox SET owner = $1 WHERE message_id IN (\
         SELECT t.message_id FROM outbox t WHERE {ORPHANED} \
         LIMIT 10000 FOR UPDATE SKIP LOCKED) RETURNING entry"
    );
    let st = c.prepare_cached(&sql).await.map_err(error::db)?;
    let rows = c.query(&st, &[&node, &dead]).await.map_err(error::db)?;
    if !rows.is_empty() {
        tracing::info!(
            entries = rows.len(),
            "took over outbox entries of a stopped node"
        );
    }
    rows.iter()
        .map(|r| schema::decode_outbox(r.get::<_, &[u8]>(0)))
        .collect()
}

/// Moves due timers of dead nodes (and unowned ones) to this node.
pub(crate) async fn take_over_timers(
    c: &deadpool_postgres::Client,
    node: &str,
    lease: Duration,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<u64> {
    let dead = dead_nodes(c, node, lease).await?;
    let sql = format!(
        "UPDATE timers SET owner = $1 WHERE (order_id, kind, due) IN (\
         SELECT t.order_id, t.kind, t.due FROM timers t WHERE t.due <= $3 AND {ORPHANED} \
         ORDER BY t.due LIMIT $4 FOR UPDATE SKIP LOCKED)"
    );
    let st = c.prepare_cached(&sql).await.map_err(error::db)?;
    let n = c
        .execute(&st, &[&node, &dead, &now, &limit])
        .await
        .map_err(error::db)?;
    if n > 0 {
        tracing::info!(timers = n, "took over due timers of a stopped node");
    }
    Ok(n)
}
