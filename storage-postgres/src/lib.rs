//! Orderly's PostgreSQL backend: several Orderly nodes over one database, with the guarantees
//! of the sled default — acknowledged means committed, one writer per order, no oversell,
//! every outbox message and timer carried out after any node dies.
//!
//! # How it keeps the contract
//!
//! * **One transaction per commit, shared between orders** ([`lanes`]): a transition's
//!   snapshot, events, outbox rows, timers and idempotency record are written in one SQL
//!   transaction together with other orders' transitions (group commit), and its [`Commit`]
//!   resolves when that transaction committed.
//! * **One writer per order, by optimistic version checks**: a transition applies only if the
//!   order is still at the version its writer built on; otherwise its commit fails with
//!   `Conflict` and the writer reloads and decides again. Any node may run any order's actor.
//! * **No oversell** ([`stock`]): conditional stock writes (one SQL function call) under row
//!   locks taken in a fixed order, a `CHECK (reserved <= on_hand)` (and, for the skus'
//!   backorder records written with them, `CHECK (waiting <= cap)`), and an append-only
//!   movement record.
//! * **Work survives its node** ([`nodes`]): every outbox row and timer is owned by the node
//!   that wrote it; nodes heartbeat, and a node whose heartbeat is older than the lease has
//!   its rows taken over by a live one (`FOR UPDATE SKIP LOCKED`).
//!
//! The schema is in `migrations/`, embedded and applied at open under an advisory lock, so
//! nodes starting together apply it once.
//!
//! # Threads
//!
//! The storage interface is synchronous for reads. The backend runs its own small tokio
//! runtime (the connections, the lanes, the heartbeat); a read blocks the calling thread until
//! its query answered on that runtime, which is why the engine runs reads on its blocking pool
//! (this backend's `reads_wait_on_network` is true). Commits never block: they queue on a lane
//! and resolve through their [`Commit`]. Connections use TLS (rustls) as the url's `sslmode`
//! says, verifying the server against the system's authorities and `ca_file`.

mod alerts;
mod error;
mod export;
mod lanes;
mod nodes;
mod plans;
mod rows;
mod stock;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use lanes::{AllLanes, Counters, Lane, LaneCommit, Op};
use orderly_domain::inventory::transfer::{Transfer, TransferId};
use orderly_domain::inventory::{Backorders, Reservation, StockLevel};
use orderly_domain::stock_alerts::Subscription;
use orderly_domain::{Event, Order, OrderId, Sku, Status, Timer, WarehouseId};
use orderly_storage::export::ExportRecord;
use orderly_storage::{
    schema, AlertsWrite, BackupStats, BoxFuture, CellAlertRecord, CellKey, Commit, DeadLetter,
    EventsJson, FlushStats, IdempotencyRecord, OrderMessages, OutboxEntry, OutboxMessage, Result,
    SentMessage, StockCell, StockChange, StorageError, TransitionWrite,
};
use orderly_storage::{
    AlertRecords, Archive, Health, OrderReads, Outbox, StockLedger, Timers, Transitions,
};
use rows::{record_body, TimerKey, TransitionRows};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// How to reach the database and how this node takes part.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:port/database` (or key=value form).
    pub url: String,
    /// Connections for reads and stock writes (the commit lanes have their own).
    pub pool_size: usize,
    /// This node's name among the nodes sharing the database; stable across restarts, so a
    /// restarted node picks up its own pending work at once. Two live nodes must not share one.
    pub node_id: String,
    /// A node that has not heartbeaten for this long is dead; its work is taken over.
    pub lease: Duration,
    /// How often this node heartbeats (well below `lease`).
    pub heartbeat: Duration,
    /// Commit lanes (each a connection committing batches one after another).
    pub commit_lanes: usize,
    /// Most writes in one batch.
    pub max_batch: usize,
    /// Extra certificate authorities (PEM) to trust for the server's TLS certificate, besides
    /// the system's.
    pub ca_file: Option<std::path::PathBuf>,
}

impl PostgresConfig {
    /// Defaults for everything but the url and the node's name.
    pub fn new(url: impl Into<String>, node_id: impl Into<String>) -> PostgresConfig {
        PostgresConfig {
            url: url.into(),
            pool_size: 8,
            node_id: node_id.into(),
            lease: Duration::from_secs(10),
            heartbeat: Duration::from_secs(2),
            commit_lanes: 2,
            max_batch: 512,
            ca_file: None,
        }
    }
}

/// The PostgreSQL backend. One per process (per node); share it as `Arc<dyn Storage>`.
pub struct PostgresStorage {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    lane_tasks: Vec<tokio::task::JoinHandle<()>>,
    stock_task: Option<tokio::task::JoinHandle<()>>,
}

struct Shared {
    pool: Pool,
    config: PostgresConfig,
    node: Arc<str>,
    lanes: Vec<Arc<Lane>>,
    hasher: std::collections::hash_map::RandomState,
    counters: Arc<Counters>,
    /// The last heartbeat reached the database.
    reachable: AtomicBool,
    handle: tokio::runtime::Handle,
    stock: Arc<stock::StockPipe>,
}

impl PostgresStorage {
    /// Connects, applies the schema's migrations (once, whichever node gets there first),
    /// registers this node and starts its commit lanes and heartbeat.
    pub fn open(config: PostgresConfig) -> Result<PostgresStorage> {
        let pg: tokio_postgres::Config = tokio_postgres::Config::from_str(&config.url)
            .map_err(|e| StorageError::Backend(format!("storage.postgres.url: {e}").into()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("orderly-postgres")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let node: Arc<str> = config.node_id.as_str().into();
        let tls = tls(&config)?;
        let pool = Pool::builder(Manager::from_config(
            pg.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        ))
        .max_size(config.pool_size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(10)))
        .build()
        .map_err(error::other)?;
        let connect: lanes::Connect = {
            let pg = pg.clone();
            Arc::new(move || {
                let (pg, tls) = (pg.clone(), tls.clone());
                Box::pin(async move {
                    let (client, connection) = pg.connect(tls).await.map_err(error::db)?;
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::warn!(error = %e, "a PostgreSQL connection ended");
                        }
                    });
                    Ok(client)
                })
            })
        };
        let counters = Arc::new(Counters::default());
        // Spawned and waited on rather than `block_on`: the caller may itself be running on
        // an async runtime (actix's), where blocking on another runtime is refused.
        let started = {
            let (pool, node, connect, counters) = (
                pool.clone(),
                node.clone(),
                connect.clone(),
                counters.clone(),
            );
            let (lanes_wanted, max_batch) = (config.commit_lanes.max(1), config.max_batch.max(1));
            handle.spawn(async move {
                migrate(&connect).await?;
                nodes::register(&pool, &node).await?;
                let (lanes, lane_tasks): (Vec<_>, Vec<_>) = (0..lanes_wanted)
                    .map(|_| {
                        lanes::start(node.clone(), connect.clone(), counters.clone(), max_batch)
                    })
                    .unzip();
                let (stock, stock_task) = stock::start(node, connect, lanes.clone());
                Ok::<_, StorageError>((lanes, lane_tasks, stock, stock_task))
            })
        };
        let (lanes, lane_tasks, stock, stock_task) =
            futures::executor::block_on(tokio::task::unconstrained(started))
                .map_err(error::other)??;
        let shared = Arc::new(Shared {
            pool,
            config,
            node,
            lanes,
            hasher: Default::default(),
            counters,
            reachable: AtomicBool::new(true),
            handle,
            stock,
        });
        nodes::spawn_heartbeat(&shared.handle, Arc::downgrade(&shared));
        plans::spawn(
            &shared.handle,
            shared.pool.clone(),
            Arc::downgrade(&shared.counters),
        );
        Ok(PostgresStorage {
            shared,
            runtime: Some(runtime),
            lane_tasks,
            stock_task: Some(stock_task),
        })
    }

    /// This node's name.
    pub fn node_id(&self) -> &str {
        &self.shared.node
    }

    /// Runs `f` on the backend's runtime and blocks until it is done.
    fn block<T, F>(&self, f: impl FnOnce(Arc<Shared>) -> F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        futures::executor::block_on(self.spawn(f))
    }

    /// Runs `f` on the backend's runtime; the returned future resolves with its result, on
    /// whichever executor polls it.
    fn spawn<T, F>(&self, f: impl FnOnce(Arc<Shared>) -> F) -> BoxFuture<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let task = self.shared.handle.spawn(f(self.shared.clone()));
        // Unconstrained: the caller may be a task of another tokio runtime (actix's). Polled
        // there with its cooperative budget spent, the join handle would defer its wake-up to
        // that runtime's next turn, which never comes while a thread blocks on it.
        Box::pin(tokio::task::unconstrained(async move {
            task.await.map_err(error::other)?
        }))
    }

    /// Resolves once every write this node queued so far has its outcome (read-your-writes for
    /// the reads of queued acknowledgements and retry states).
    fn settled(&self) -> impl Future<Output = ()> + Send + 'static {
        let upto: Vec<(Arc<Lane>, u64)> = self
            .shared
            .lanes
            .iter()
            .map(|l| (l.clone(), l.last_ticket()))
            .collect();
        async move {
            for (lane, ticket) in upto {
                lane.reached(ticket).await;
            }
        }
    }

    /// The lane an outbox entry's retry state and acknowledgement go through: its order's
    /// (so they follow the transition that wrote it), or, for a stock notice, its subject's.
    fn entry_lane(&self, entry: &OutboxEntry) -> &Arc<Lane> {
        match &entry.message {
            OutboxMessage::Order(e) => self.lane(e.order_id),
            OutboxMessage::Stock(n) => self.lane(n.subject),
        }
    }

    fn push_for(&self, entry: &OutboxEntry, op: Op) -> Result<Commit> {
        let lane = self.entry_lane(entry);
        let ticket = lane.push(op)?;
        Ok(Commit::new(Arc::new(LaneCommit(lane.clone())), ticket))
    }

    fn lane(&self, id: OrderId) -> &Arc<Lane> {
        let mut h = self.shared.hasher.build_hasher();
        h.write(id.as_bytes());
        &self.shared.lanes[h.finish() as usize % self.shared.lanes.len()]
    }

    fn push(&self, id: OrderId, op: Op) -> Result<Commit> {
        let lane = self.lane(id);
        let ticket = lane.push(op)?;
        Ok(Commit::new(Arc::new(LaneCommit(lane.clone())), ticket))
    }
}

impl Drop for PostgresStorage {
    /// Lets the lanes finish what is queued, tells the other nodes this one is gone (so they
    /// take its work over at once) and stops the runtime.
    fn drop(&mut self) {
        // The stock pipe first: its last flushes go to the lanes.
        self.shared.stock.close();
        let stock_task = self.stock_task.take();
        let tasks = std::mem::take(&mut self.lane_tasks);
        let shared = self.shared.clone();
        let done = self.shared.handle.spawn(async move {
            if let Some(t) = stock_task {
                let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
            }
            for lane in &shared.lanes {
                lanes::close(lane);
            }
            let _ = tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(tasks))
                .await;
            nodes::leave(&shared.pool, &shared.node).await;
        });
        let _ = futures::executor::block_on(tokio::task::unconstrained(done));
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// TLS with rustls. Whether a connection uses it is the url's `sslmode` (`disable`, `prefer` —
/// the default: TLS when the server offers it —, `require`); the server's certificate is always
/// verified, against the system's authorities and `ca_file`.
fn tls(config: &PostgresConfig) -> Result<MakeRustlsConnect> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system certificate rustls cannot use is skipped, as every TLS client does.
        let _ = roots.add(cert);
    }
    if let Some(path) = &config.ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| {
                StorageError::Backend(
                    format!("storage.postgres.ca_file {}: {e}", path.display()).into(),
                )
            })?;
        if certs.is_empty() {
            return Err(StorageError::Backend(
                format!(
                    "storage.postgres.ca_file {}: no certificate in it",
                    path.display()
                )
                .into(),
            ));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                StorageError::Backend(format!("storage.postgres.ca_file: {e}").into())
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(client))
}

async fn migrate(connect: &lanes::Connect) -> Result<()> {
    let mut client = connect().await?;
    // Nodes starting together: the first applies the migrations, the others wait and then
    // find nothing left to do.
    client
        .batch_execute("SELECT pg_advisory_lock(7232891190154)")
        .await
        .map_err(error::db)?;
    let applied = embedded::migrations::runner()
        .run_async(&mut client)
        .await
        .map_err(|e| StorageError::Backend(format!("schema migration failed: {e}").into()));
    let _ = client
        .batch_execute("SELECT pg_advisory_unlock(7232891190154)")
        .await;
    applied.map(|_| ())
}

async fn get(shared: &Shared) -> Result<deadpool_postgres::Client> {
    shared.pool.get().await.map_err(|e| {
        let st = shared.pool.status();
        tracing::warn!(error = %e, size = st.size, available = st.available, waiting = st.waiting, "no PostgreSQL connection");
        error::pool(e)
    })
}

impl Shared {
    async fn history_json(&self, id: OrderId, version: u32) -> Result<Vec<EventsJson>> {
        let rows = self
            .query(
                "SELECT first_seq, body FROM events WHERE order_id = $1 AND seq <= $2 ORDER BY seq",
                &[&id, &(version as i32)],
            )
            .await?;
        history(rows.iter().map(|r| (r.get(0), r.get(1))))
    }

    /// Runs a read (prepared once per connection) and returns its rows.
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let c = get(self).await?;
        let st = c.prepare_cached(sql).await.map_err(error::db)?;
        c.query(&st, params).await.map_err(error::db)
    }

    /// Runs a read (prepared once per connection) that finds at most one row.
    async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>> {
        let c = get(self).await?;
        let st = c.prepare_cached(sql).await.map_err(error::db)?;
        c.query_opt(&st, params).await.map_err(error::db)
    }
}

/// An idempotency record with its order's version: `key`, then `record`, then `version`.
const IDEMPOTENCY: &str = "SELECT i.key, i.record, o.version FROM idempotency i \
     JOIN orders o ON o.id = i.order_id WHERE i.key = $1";

/// An idempotency record counts only once its order reached the version it vouches for.
fn counted_idempotency(record: &[u8], order_version: i32) -> Result<Option<IdempotencyRecord>> {
    let rec = schema::decode_idempotency(record)?;
    Ok((order_version as u32 >= rec.version).then_some(rec))
}

/// Event rows `(first_seq, body)` in seq order, put back together per transition: one
/// `(step, events)` per transition, each its events' JSON array as sled stores it.
fn transitions<'a>(rows: impl Iterator<Item = (i32, &'a [u8])>) -> Result<Vec<(u32, EventsJson)>> {
    let mut out = Vec::new();
    let mut group: Vec<&[u8]> = Vec::new();
    let mut step: Option<i32> = None;
    for (first, body) in rows {
        if let Some(s) = step.filter(|s| *s != first) {
            out.push((s as u32, events_json(&group)?));
            group.clear();
        }
        step = Some(first);
        group.push(body);
    }
    if let Some(s) = step {
        out.push((s as u32, events_json(&group)?));
    }
    Ok(out)
}

/// An order's history from its event rows `(first_seq, body)` in order: one [`EventsJson`]
/// per transition.
fn history<'a>(rows: impl Iterator<Item = (i32, &'a [u8])>) -> Result<Vec<EventsJson>> {
    Ok(transitions(rows)?
        .into_iter()
        .map(|(_, events)| events)
        .collect())
}

fn decode_orders(rows: Vec<tokio_postgres::Row>) -> Result<Vec<Order>> {
    rows.iter()
        .map(|r| schema::decode_order(r.get::<_, &[u8]>(0)))
        .collect()
}

/// Puts a transition's event rows back into one JSON array, as sled stores it.
fn events_json(bodies: &[&[u8]]) -> Result<EventsJson> {
    let mut out = Vec::with_capacity(bodies.iter().map(|b| b.len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (i, b) in bodies.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(record_body(b)?);
    }
    out.push(b']');
    Ok(EventsJson::new(out))
}

/// Every sku's backorder record, by sku in byte order (as sled's keys and the export sort).
const SKU_BACKORDERS: &str =
    "SELECT sku, allowed, cap, waiting FROM sku_backorders ORDER BY sku COLLATE \"C\"";

/// A row of [`SKU_BACKORDERS`].
fn sku_backorders_of(r: &tokio_postgres::Row) -> (Sku, Backorders) {
    (
        Sku::from(r.get::<_, String>(0)),
        Backorders {
            allowed: r.get(1),
            cap: r.get(2),
            waiting: r.get(3),
        },
    )
}

fn timer_of(r: &tokio_postgres::Row) -> Result<Timer> {
    TimerKey {
        order_id: r.get(0),
        kind: rows::timer_kind_name(rows::timer_kind(r.get(1))?),
        due: r.get(2),
    }
    .to_timer()
}

impl Transitions for PostgresStorage {
    fn commit_transition(&self, w: &TransitionWrite<'_>) -> Result<Commit> {
        let rows = TransitionRows::of(w)?;
        self.push(w.after.id, Op::Transition(Box::new(rows)))
    }

    fn load_order_for_update(&self, id: OrderId) -> Result<Option<Order>> {
        // A transaction leaves nothing half-written to discard.
        self.load_order(id)
    }
}

impl OrderReads for PostgresStorage {
    fn load_order(&self, id: OrderId) -> Result<Option<Order>> {
        self.block(move |s| async move {
            s.query_opt("SELECT snapshot FROM orders WHERE id = $1", &[&id])
                .await?
                .map(|r| schema::decode_order(r.get::<_, &[u8]>(0)))
                .transpose()
        })
    }

    fn order_exists(&self, id: OrderId) -> Result<bool> {
        self.block(move |s| async move {
            Ok(s.query_opt("SELECT 1 FROM orders WHERE id = $1", &[&id])
                .await?
                .is_some())
        })
    }

    fn history(&self, id: OrderId, version: u32) -> Result<Vec<Event>> {
        self.block(move |s| async move {
            s.query(
                "SELECT body FROM events WHERE order_id = $1 AND seq <= $2 ORDER BY seq",
                &[&id, &(version as i32)],
            )
            .await?
            .iter()
            .map(|r| rows::decode_event(r.get::<_, &[u8]>(0)))
            .collect()
        })
    }

    fn history_json(&self, id: OrderId, version: u32) -> Result<Vec<EventsJson>> {
        self.block(move |s| async move { s.history_json(id, version).await })
    }

    fn history_json_async(&self, id: OrderId, version: u32) -> BoxFuture<Vec<EventsJson>> {
        self.spawn(move |s| async move { s.history_json(id, version).await })
    }

    /// One statement, one round trip, on this backend's runtime: the caller's thread is not
    /// held.
    fn order_with_history(&self, id: OrderId) -> BoxFuture<Option<(Order, Vec<EventsJson>)>> {
        self.spawn(move |s| async move {
            let Some(row) = s
                .query_opt(
                    "SELECT o.snapshot, h.firsts, h.bodies FROM orders o LEFT JOIN LATERAL (\
                     SELECT array_agg(e.first_seq ORDER BY e.seq) AS firsts, \
                     array_agg(e.body ORDER BY e.seq) AS bodies \
                     FROM events e WHERE e.order_id = o.id AND e.seq <= o.version) h ON true \
                     WHERE o.id = $1",
                    &[&id],
                )
                .await?
            else {
                return Ok(None);
            };
            let order = schema::decode_order(row.get::<_, &[u8]>(0))?;
            let firsts: Vec<i32> = row.get::<_, Option<Vec<i32>>>(1).unwrap_or_default();
            let bodies: Vec<&[u8]> = row.get::<_, Option<Vec<&[u8]>>>(2).unwrap_or_default();
            Ok(Some((order, history(firsts.into_iter().zip(bodies))?)))
        })
    }

    fn order_by_token(&self, token: &str) -> Result<Option<Order>> {
        let token = token.to_string();
        self.block(move |s| async move {
            s.query_opt(
                "SELECT snapshot FROM orders WHERE tracking_token = $1",
                &[&token],
            )
            .await?
            .map(|r| schema::decode_order(r.get::<_, &[u8]>(0)))
            .transpose()
        })
    }

    fn order_by_tracking_number(&self, tracking_number: &str) -> Result<Option<OrderId>> {
        let tn = tracking_number.to_string();
        self.block(move |s| async move {
            Ok(s.query_opt(
                "SELECT order_id FROM order_tracking WHERE tracking_number = $1",
                &[&tn],
            )
            .await?
            .map(|r| r.get(0)))
        })
    }

    fn list_orders(
        &self,
        status: Option<Status>,
        before: Option<OrderId>,
        limit: usize,
    ) -> Result<Vec<Order>> {
        let limit = limit as i64;
        self.block(move |s| async move {
            let rows = match status {
                Some(status) => {
                    s.query(
                        "SELECT snapshot FROM orders WHERE status = $1 \
                         AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
                        &[&status.as_str(), &before, &limit],
                    )
                    .await?
                }
                None => {
                    s.query(
                        "SELECT snapshot FROM orders WHERE ($1::uuid IS NULL OR id < $1) \
                         ORDER BY id DESC LIMIT $2",
                        &[&before, &limit],
                    )
                    .await?
                }
            };
            decode_orders(rows)
        })
    }

    fn picks(&self, warehouse: &str, after: Option<OrderId>, limit: usize) -> Result<Vec<Order>> {
        let warehouse = warehouse.to_string();
        let limit = limit as i64;
        self.block(move |s| async move {
            decode_orders(
                s.query(
                    "SELECT o.snapshot FROM order_picks p JOIN orders o ON o.id = p.order_id \
                     WHERE p.warehouse = $1 AND ($2::uuid IS NULL OR p.order_id > $2) \
                     ORDER BY p.order_id LIMIT $3",
                    &[&warehouse, &after, &limit],
                )
                .await?,
            )
        })
    }

    fn backorders(&self, after: Option<OrderId>, limit: usize) -> Result<Vec<Order>> {
        let limit = limit as i64;
        self.block(move |s| async move {
            decode_orders(
                s.query(
                    "SELECT o.snapshot FROM order_backorders b JOIN orders o ON o.id = b.order_id \
                     WHERE ($1::uuid IS NULL OR b.order_id > $1) \
                     ORDER BY b.order_id LIMIT $2",
                    &[&after, &limit],
                )
                .await?,
            )
        })
    }

    fn idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>> {
        let key = key.to_string();
        self.block(move |s| async move {
            let Some(row) = s.query_opt(IDEMPOTENCY, &[&key]).await? else {
                return Ok(None);
            };
            counted_idempotency(row.get(1), row.get(2))
        })
    }

    fn order_count(&self) -> Result<usize> {
        self.block(move |s| async move {
            let row = s.query("SELECT count(*) FROM orders", &[]).await?;
            Ok(row[0].get::<_, i64>(0) as usize)
        })
    }
}

impl Outbox for PostgresStorage {
    fn claim_outbox(&self) -> Result<Vec<OutboxEntry>> {
        let settled = self.settled();
        self.block(move |s| async move {
            settled.await;
            let c = get(&s).await?;
            nodes::take_over_outbox(&c, &s.node, s.config.lease).await?;
            let rows = c
                .query(
                    "SELECT entry FROM outbox WHERE owner = $1 ORDER BY message_id",
                    &[&&*s.node],
                )
                .await
                .map_err(error::db)?;
            rows.iter()
                .map(|r| schema::decode_outbox(r.get::<_, &[u8]>(0)))
                .collect()
        })
    }

    fn take_over_outbox(&self) -> Result<Vec<OutboxEntry>> {
        self.block(move |s| async move {
            let c = get(&s).await?;
            nodes::take_over_outbox(&c, &s.node, s.config.lease).await
        })
    }

    fn outbox_entry(&self, entry: &OutboxEntry) -> Result<Option<OutboxEntry>> {
        let id = entry.message_id();
        // Read-your-writes for this node: its queued retry state or acknowledgement first.
        let lane = self.entry_lane(entry).clone();
        let upto = lane.last_ticket();
        self.block(move |s| async move {
            lane.reached(upto).await;
            s.query_opt("SELECT entry FROM outbox WHERE message_id = $1", &[&id])
                .await?
                .map(|r| schema::decode_outbox(r.get::<_, &[u8]>(0)))
                .transpose()
        })
    }

    fn record_outbox_attempt(&self, entry: &OutboxEntry) -> Result<()> {
        let op = Op::Attempt {
            message_id: entry.message_id(),
            entry: schema::encode_outbox(entry)?,
        };
        let _queued = self.push_for(entry, op)?;
        Ok(())
    }

    fn ack_outbox(&self, entry: &OutboxEntry) -> Result<()> {
        let _queued = self.push_for(entry, Op::AckOutbox(entry.message_id()))?;
        Ok(())
    }

    fn ack_outbox_sent(&self, entry: &OutboxEntry, sent: &SentMessage) -> Result<()> {
        let op = Op::AckOutboxSent {
            message_id: entry.message_id(),
            order_id: sent.order_id,
            sent_at: sent.sent_at,
            record: schema::encode_sent(sent)?,
        };
        let _queued = self.push_for(entry, op)?;
        Ok(())
    }

    fn order_messages(&self, order: OrderId, limit: usize) -> Result<OrderMessages> {
        let settled = self.settled();
        let limit = limit as i64;
        let prefix = format!("msg\\_{}\\_%", order.simple());
        self.block(move |s| async move {
            settled.await;
            let c = get(&s).await?;
            let sent = c
                .query(
                    "SELECT record FROM sent_messages WHERE order_id = $1 \
                     ORDER BY message_id LIMIT $2",
                    &[&order, &limit],
                )
                .await
                .map_err(error::db)?;
            let pending = c
                .query(
                    "SELECT entry FROM outbox WHERE order_id = $1 ORDER BY message_id LIMIT $2",
                    &[&order, &limit],
                )
                .await
                .map_err(error::db)?;
            let dead = c
                .query(
                    "SELECT letter FROM dead_letters WHERE message_id LIKE $1 \
                     ORDER BY message_id LIMIT $2",
                    &[&prefix, &limit],
                )
                .await
                .map_err(error::db)?;
            Ok(OrderMessages {
                sent: sent
                    .iter()
                    .map(|r| schema::decode_sent(r.get::<_, &[u8]>(0)))
                    .collect::<Result<_>>()?,
                pending: pending
                    .iter()
                    .map(|r| schema::decode_outbox(r.get::<_, &[u8]>(0)))
                    .collect::<Result<_>>()?,
                dead: dead
                    .iter()
                    .map(|r| schema::decode_dead_letter(r.get::<_, &[u8]>(0)))
                    .collect::<Result<_>>()?,
            })
        })
    }

    fn outbox_len(&self) -> Result<usize> {
        let settled = self.settled();
        self.block(move |s| async move {
            settled.await;
            let c = get(&s).await?;
            let row = c
                .query_one("SELECT count(*) FROM outbox", &[])
                .await
                .map_err(error::db)?;
            Ok(row.get::<_, i64>(0) as usize)
        })
    }

    fn dead_letter(&self, entry: &OutboxEntry, letter: &DeadLetter) -> Result<Commit> {
        let id = entry.message_id();
        let record = schema::encode_dead_letter(letter, entry)?;
        let failed_at = letter.failed_at;
        // Queued writes to the entry (its retry state) go first.
        let queued = self.entry_lane(entry).clone();
        let upto = queued.last_ticket();
        self.block(move |s| async move {
            queued.reached(upto).await;
            let mut c = get(&s).await?;
            let tx = c.transaction().await.map_err(error::db)?;
            tx.execute(
                "INSERT INTO dead_letters (message_id, failed_at, letter) VALUES ($1, $2, $3) \
                 ON CONFLICT (message_id) DO UPDATE SET failed_at = EXCLUDED.failed_at, letter = EXCLUDED.letter",
                &[&id, &failed_at, &record],
            )
            .await
            .map_err(error::db)?;
            tx.execute("DELETE FROM outbox WHERE message_id = $1", &[&id])
                .await
                .map_err(error::db)?;
            tx.commit().await.map_err(error::db)?;
            Ok(Commit::durable())
        })
    }

    fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        let limit = limit as i64;
        self.block(move |s| async move {
            let c = get(&s).await?;
            let rows = c
                .query(
                    "SELECT letter FROM dead_letters ORDER BY message_id LIMIT $1",
                    &[&limit],
                )
                .await
                .map_err(error::db)?;
            rows.iter()
                .map(|r| schema::decode_dead_letter(r.get::<_, &[u8]>(0)))
                .collect()
        })
    }

    fn requeue_dead_letter(&self, message_id: &str) -> Result<Option<(OutboxEntry, Commit)>> {
        let id = message_id.to_string();
        self.block(move |s| async move {
            let mut c = get(&s).await?;
            let tx = c.transaction().await.map_err(error::db)?;
            let Some(row) = tx
                .query_opt(
                    "DELETE FROM dead_letters WHERE message_id = $1 RETURNING letter",
                    &[&id],
                )
                .await
                .map_err(error::db)?
            else {
                return Ok(None);
            };
            let letter = schema::decode_dead_letter(row.get::<_, &[u8]>(0))?;
            let old = letter
                .entry
                .ok_or_else(|| StorageError::Codec("a dead letter without its entry".into()))?;
            let entry = OutboxEntry::of(old.message, old.channel);
            let record = schema::encode_outbox(&entry)?;
            // A stock notice's row has neither order nor step.
            let (order_id, step) = match entry.effect() {
                Some(e) => (Some(e.order_id), Some(e.step as i32)),
                None => (None, None),
            };
            tx.execute(
                "INSERT INTO outbox (message_id, order_id, step, owner, entry) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (message_id) DO UPDATE SET entry = EXCLUDED.entry, owner = EXCLUDED.owner",
                &[&entry.message_id(), &order_id, &step, &&*s.node, &record],
            )
            .await
            .map_err(error::db)?;
            tx.commit().await.map_err(error::db)?;
            Ok(Some((entry, Commit::durable())))
        })
    }
}

impl Timers for PostgresStorage {
    fn claim_due_timers(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Timer>> {
        let limit = limit as i64;
        let settled = self.settled();
        self.block(move |s| async move {
            settled.await;
            let c = get(&s).await?;
            nodes::take_over_timers(&c, &s.node, s.config.lease, now, limit).await?;
            let st = c
                .prepare_cached(
                    "SELECT order_id, kind, due FROM timers WHERE owner = $1 AND due <= $2 \
                     ORDER BY due, order_id, kind LIMIT $3",
                )
                .await
                .map_err(error::db)?;
            let rows = c
                .query(&st, &[&&*s.node, &now, &limit])
                .await
                .map_err(error::db)?;
            rows.iter().map(timer_of).collect()
        })
    }

    fn ack_timer(&self, timer: &Timer) -> Result<()> {
        let _queued = self.push(timer.order_id, Op::AckTimer(TimerKey::of(timer)))?;
        Ok(())
    }

    fn pending_timers(&self, limit: usize) -> Result<Vec<Timer>> {
        let limit = limit as i64;
        let settled = self.settled();
        self.block(move |s| async move {
            settled.await;
            let c = get(&s).await?;
            let rows = c
                .query(
                    "SELECT order_id, kind, due FROM timers ORDER BY due, order_id, kind LIMIT $1",
                    &[&limit],
                )
                .await
                .map_err(error::db)?;
            rows.iter().map(timer_of).collect()
        })
    }
}

impl StockLedger for PostgresStorage {
    fn stock_levels(&self) -> Result<Vec<StockCell>> {
        self.block(move |s| async move {
            s.stock.settled().await; // read-your-writes
            let c = get(&s).await?;
            let rows = c
                .query(
                    "SELECT warehouse, sku, on_hand, reserved, incoming FROM stock \
                     ORDER BY warehouse, sku",
                    &[],
                )
                .await
                .map_err(error::db)?;
            Ok(rows
                .iter()
                .map(|r| {
                    (
                        CellKey::new(r.get::<_, String>(0), r.get::<_, String>(1)),
                        StockLevel {
                            on_hand: r.get(2),
                            reserved: r.get(3),
                            incoming: r.get(4),
                        },
                    )
                })
                .collect())
        })
    }

    fn stock_level(&self, warehouse: &WarehouseId, sku: &Sku) -> Result<StockLevel> {
        let (warehouse, sku) = (warehouse.to_string(), sku.to_string());
        self.block(move |s| async move {
            s.stock.settled().await; // read-your-writes
            Ok(s.query_opt(
                "SELECT on_hand, reserved, incoming FROM stock WHERE warehouse = $1 AND sku = $2",
                &[&warehouse, &sku],
            )
            .await?
            .map(|r| StockLevel {
                on_hand: r.get(0),
                reserved: r.get(1),
                incoming: r.get(2),
            })
            .unwrap_or_default())
        })
    }

    fn reservation(&self, id: OrderId) -> Result<Option<Reservation>> {
        self.block(move |s| async move {
            s.stock.settled().await; // read-your-writes
            s.query_opt(
                "SELECT reservation FROM reservations WHERE order_id = $1",
                &[&id],
            )
            .await?
            .map(|r| schema::decode_reservation(r.get::<_, &[u8]>(0)))
            .transpose()
        })
    }

    fn order_step_applied(&self, id: OrderId, step: u32) -> Result<bool> {
        self.block(move |s| async move {
            s.stock.settled().await; // read-your-writes
            let c = get(&s).await?;
            Ok(c.query_opt(
                "SELECT 1 FROM restocks WHERE order_id = $1 AND step = $2",
                &[&id, &(step as i32)],
            )
            .await
            .map_err(error::db)?
            .is_some())
        })
    }

    fn sku_backorders(&self) -> Result<Vec<(Sku, Backorders)>> {
        self.block(move |s| async move {
            s.stock.settled().await; // read-your-writes
            Ok(s.query(SKU_BACKORDERS, &[])
                .await?
                .iter()
                .map(sku_backorders_of)
                .collect())
        })
    }

    fn write_stock(&self, change: &StockChange) -> Result<Commit> {
        self.shared.stock.write(change)
    }

    fn transfer(&self, id: TransferId) -> Result<Option<Transfer>> {
        self.block(move |s| async move {
            s.stock.settled().await; // read-your-writes
            s.query_opt("SELECT body FROM transfers WHERE id = $1", &[&id])
                .await?
                .map(|r| schema::decode_transfer(r.get::<_, &[u8]>(0)))
                .transpose()
        })
    }

    fn transfer_by_key(&self, key: &str) -> Result<Option<Transfer>> {
        let key = key.to_string();
        self.block(move |s| async move {
            s.stock.settled().await; // read-your-writes
            s.query_opt("SELECT body FROM transfers WHERE key = $1", &[&key])
                .await?
                .map(|r| schema::decode_transfer(r.get::<_, &[u8]>(0)))
                .transpose()
        })
    }

    fn transfers(&self, before: Option<TransferId>, limit: usize) -> Result<Vec<Transfer>> {
        self.block(move |s| async move {
            s.stock.settled().await; // read-your-writes
            s.query(
                "SELECT body FROM transfers WHERE $1::uuid IS NULL OR id < $1 \
                 ORDER BY id DESC LIMIT $2",
                &[&before, &(limit as i64)],
            )
            .await?
            .iter()
            .map(|r| schema::decode_transfer(r.get::<_, &[u8]>(0)))
            .collect()
        })
    }
}

impl AlertRecords for PostgresStorage {
    fn cell_alerts(&self) -> Result<Vec<CellAlertRecord>> {
        self.all_cell_alerts()
    }

    fn cell_alerts_of(&self, cells: &[CellKey]) -> Result<Vec<CellAlertRecord>> {
        self.cell_alerts_among(cells)
    }

    fn subscription(&self, sku: &str, contact: &str) -> Result<Option<Subscription>> {
        self.stored_subscription(sku, contact)
    }

    fn subscriptions(
        &self,
        sku: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Subscription>> {
        self.subscriptions_page(sku, after, limit)
    }

    fn subscription_count(&self, sku: &str) -> Result<usize> {
        self.count_subscriptions(sku)
    }

    fn subscribed_skus(&self, among: Option<&[Sku]>) -> Result<Vec<Sku>> {
        self.skus_subscribed(among)
    }

    fn add_subscription(&self, s: &Subscription, max: usize) -> Result<Commit> {
        self.insert_subscription(s, max)
    }

    /// One transaction (see `alerts`).
    fn write_alerts(&self, w: &AlertsWrite) -> Result<Commit> {
        self.write_alerts_in_one(w)
    }
}

impl Archive for PostgresStorage {
    fn export(&self, sink: &mut dyn FnMut(ExportRecord) -> Result<()>) -> Result<()> {
        self.export_all(sink)
    }

    fn import(&self, record: &ExportRecord) -> Result<()> {
        self.import_one(record)
    }

    fn import_many(
        &self,
        records: &[ExportRecord],
    ) -> std::result::Result<(), (usize, StorageError)> {
        self.import_together(records)
    }

    fn backup(&self, _dir: &Path) -> Result<BackupStats> {
        Err(StorageError::Unsupported(
            "PostgreSQL is backed up with its own tools: pg_dump -Fc (see the README)".into(),
        ))
    }
}

impl Health for PostgresStorage {
    fn sync(&self) -> Commit {
        let upto = self
            .shared
            .lanes
            .iter()
            .map(|l| (l.clone(), l.last_ticket()))
            .collect();
        Commit::new(Arc::new(AllLanes(upto)), 0)
    }

    fn is_healthy(&self) -> bool {
        self.shared.reachable.load(Ordering::Relaxed)
    }

    fn flush_stats(&self) -> FlushStats {
        self.shared.counters.stats()
    }

    fn has_other_writers(&self) -> bool {
        true
    }

    fn reads_wait_on_network(&self) -> bool {
        true
    }
}
