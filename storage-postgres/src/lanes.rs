//! Group commit: the writes of many orders share one SQL transaction, the way the sled backend
//! shares one flush.
//!
//! There are a few *lanes*, each with its own connection and queue; an order's writes always
//! go to the same lane (by order id), so they apply in the order its writer issued them. A
//! lane takes everything queued, runs it as one transaction and starts on the next batch while
//! new writes queue up: under load the batches grow and the cost of a commit (two round trips
//! and one WAL flush) is shared among them.
//!
//! A batch runs in two round trips, each a pipeline of statements over arrays (`unnest`), so
//! its cost hardly depends on its size:
//!
//! 1. `BEGIN`; lock the rows of the orders being written (`SELECT … FOR UPDATE`) and read
//!    their versions; claim the idempotency keys of placements (`INSERT … ON CONFLICT DO
//!    NOTHING`). Each transition is then checked in order: it applies only if the stored
//!    version (or the one the batch's earlier transition of the same order left) is the one
//!    its writer built on, and a placement only if its key was free. A transition that fails
//!    the check is left out, and so are the later ones of the same order; their commits fail
//!    with `Conflict`, so their writers reload and decide again. This is what keeps one writer
//!    per order across nodes.
//! 2. The writes of the transitions kept — snapshots (upserted once per order), events
//!    (`PRIMARY KEY (order_id, seq)`), outbox rows, timers set and cleared, the pick-list,
//!    tracking-number and backorder-queue rows that changed (`order_picks`, `order_tracking`,
//!    `order_backorders`: a statement each only when some transition of the batch changed
//!    them, which most do not) — with the
//!    acknowledgements and retry states queued since, then `COMMIT`.
//!
//! If a batch fails on a statement (not the connection), its writes are tried again one per
//! transaction, so one bad write cannot fail the others. If the connection fails, the batch's
//! outcome is unknown: its commits fail (the writers reload, and see whatever did commit) and
//! the lane reconnects.

use crate::error::{self, is_connection};
use crate::rows::{TimerKey, TransitionRows};
use chrono::{DateTime, Utc};
use orderly_storage::{BoxFuture, Durability, FlushStats, Result, StorageError};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, watch};
use tokio_postgres::Statement;
use uuid::Uuid;

/// One queued write.
pub(crate) enum Op {
    Transition(Box<TransitionRows>),
    /// The message was delivered: its outbox row goes.
    AckOutbox(String),
    /// The message was delivered to a person: its outbox row goes, its record is kept.
    AckOutboxSent {
        message_id: String,
        order_id: Uuid,
        sent_at: chrono::DateTime<chrono::Utc>,
        record: Vec<u8>,
    },
    /// An outbox entry's new retry state.
    Attempt {
        message_id: String,
        entry: Vec<u8>,
    },
    /// The timer fired: its row goes.
    AckTimer(TimerKey),
    /// Make everything committed before this was queued durable: a transaction committed with
    /// `synchronous_commit = off` (the stock ledger's) is durable once any later synchronous
    /// commit flushed the WAL past it, which the batch holding this op does.
    Flush,
}

struct Queued {
    ticket: u64,
    op: Op,
}

/// Durability counters shared by the lanes.
#[derive(Default)]
pub(crate) struct Counters {
    pub batches: AtomicU64,
    pub writes: AtomicU64,
    pub micros: AtomicU64,
}

impl Counters {
    pub fn stats(&self) -> FlushStats {
        FlushStats {
            flushes: self.batches.load(Ordering::Relaxed),
            flushed_writes: self.writes.load(Ordering::Relaxed),
            flush_micros: self.micros.load(Ordering::Relaxed),
        }
    }
}

/// A lane's queue and what its writers wait on.
pub(crate) struct Lane {
    /// Tickets are handed out under this lock in queue order.
    queue: Mutex<(u64, Option<mpsc::UnboundedSender<Queued>>)>,
    /// Every ticket up to this one has its outcome.
    done: watch::Sender<u64>,
    /// Tickets whose write failed, with why (kept until far behind `done`).
    failed: Mutex<HashMap<u64, Failure>>,
}

/// Why a queued write failed (kept, and cloned to each writer that asks).
#[derive(Clone)]
pub(crate) enum Failure {
    Conflict(String),
    Backend(String),
}

impl Failure {
    pub(crate) fn error(&self) -> StorageError {
        match self {
            Failure::Conflict(why) => StorageError::Conflict(why.clone()),
            Failure::Backend(why) => StorageError::Backend(why.clone().into()),
        }
    }
}

/// How many failed tickets a lane remembers behind its progress.
const FAILED_KEPT: u64 = 1 << 20;

impl Lane {
    /// Queues `op`; returns its ticket, or an error if the lane has stopped.
    pub fn push(&self, op: Op) -> Result<u64> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let ticket = q.0 + 1;
        let tx =
            q.1.as_ref()
                .ok_or_else(|| error::other("the storage is closing"))?;
        tx.send(Queued { ticket, op })
            .map_err(|_| error::other("the commit lane stopped"))?;
        q.0 = ticket;
        Ok(ticket)
    }

    /// The last ticket handed out.
    pub fn last_ticket(&self) -> u64 {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    fn close(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).1 = None;
    }

    fn finish(&self, upto: u64, failures: Vec<(u64, Failure)>) {
        if !failures.is_empty() {
            let mut f = self.failed.lock().unwrap_or_else(|e| e.into_inner());
            f.extend(failures);
            if f.len() > 4096 && upto > FAILED_KEPT {
                f.retain(|t, _| *t > upto - FAILED_KEPT);
            }
        }
        self.done.send_replace(upto);
    }

    fn outcome(&self, ticket: u64) -> Result<()> {
        match self
            .failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&ticket)
        {
            Some(f) => Err(f.error()),
            None => Ok(()),
        }
    }

    pub async fn reached(&self, ticket: u64) {
        let mut rx = self.done.subscribe();
        // `wait_for` fails only if the sender is gone, which it never is while `self` lives.
        let _ = rx.wait_for(|done| *done >= ticket).await;
    }
}

/// The [`Durability`] of one lane's writes (a commit's ticket is the lane's).
pub(crate) struct LaneCommit(pub Arc<Lane>);

impl Durability for LaneCommit {
    fn wait(&self, ticket: u64) -> BoxFuture<()> {
        let lane = self.0.clone();
        // Unconstrained: awaited from any executor (see `PostgresStorage::block`).
        Box::pin(tokio::task::unconstrained(async move {
            lane.reached(ticket).await;
            lane.outcome(ticket)
        }))
    }

    fn is_durable(&self, ticket: u64) -> bool {
        *self.0.done.borrow() >= ticket && self.0.outcome(ticket).is_ok()
    }
}

/// Every lane up to the tickets it had handed out when `sync` was called.
pub(crate) struct AllLanes(pub Vec<(Arc<Lane>, u64)>);

impl Durability for AllLanes {
    fn wait(&self, _ticket: u64) -> BoxFuture<()> {
        let lanes = self.0.clone();
        Box::pin(tokio::task::unconstrained(async move {
            for (lane, ticket) in lanes {
                lane.reached(ticket).await;
            }
            Ok(())
        }))
    }

    fn is_durable(&self, _ticket: u64) -> bool {
        self.0.iter().all(|(l, t)| *l.done.borrow() >= *t)
    }
}

/// Connects a lane's own session.
pub(crate) type Connect =
    Arc<dyn Fn() -> BoxFuture<tokio_postgres::Client> + Send + Sync + 'static>;

/// A lane's connection with its statements prepared.
struct Session {
    client: tokio_postgres::Client,
    versions: Statement,
    claim_keys: Statement,
    unclaim_keys: Statement,
    orders: Statement,
    events: Statement,
    outbox: Statement,
    clear_timers: Statement,
    set_timers: Statement,
    acks: Statement,
    attempts: Statement,
    sent: Statement,
    add_picks: Statement,
    remove_picks: Statement,
    add_tracking: Statement,
    remove_tracking: Statement,
    add_backorders: Statement,
    remove_backorders: Statement,
}

impl Session {
    async fn open(connect: &Connect) -> Result<Session> {
        let client = connect().await?;
        let p = |sql: &'static str| {
            let c = &client;
            async move { c.prepare(sql).await.map_err(error::db) }
        };
        let (versions, claim_keys, unclaim_keys, orders, events) = futures::try_join!(
            p(VERSIONS),
            p(CLAIM_KEYS),
            p(UNCLAIM_KEYS),
            p(ORDERS),
            p(EVENTS)
        )?;
        let (outbox, clear_timers, set_timers, acks, attempts) = futures::try_join!(
            p(OUTBOX),
            p(CLEAR_TIMERS),
            p(SET_TIMERS),
            p(ACKS),
            p(ATTEMPTS)
        )?;
        let (add_picks, remove_picks, add_tracking, remove_tracking) = futures::try_join!(
            p(ADD_PICKS),
            p(REMOVE_PICKS),
            p(ADD_TRACKING),
            p(REMOVE_TRACKING)
        )?;
        let (add_backorders, remove_backorders, sent) =
            futures::try_join!(p(ADD_BACKORDERS), p(REMOVE_BACKORDERS), p(SENT))?;
        Ok(Session {
            client,
            add_backorders,
            remove_backorders,
            add_picks,
            remove_picks,
            add_tracking,
            remove_tracking,
            versions,
            claim_keys,
            unclaim_keys,
            orders,
            events,
            outbox,
            clear_timers,
            set_timers,
            acks,
            attempts,
            sent,
        })
    }
}

const VERSIONS: &str =
    "SELECT id, version FROM orders WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE";
const CLAIM_KEYS: &str = "INSERT INTO idempotency (key, order_id, record) \
     SELECT * FROM unnest($1::text[], $2::uuid[], $3::bytea[]) \
     ON CONFLICT (key) DO NOTHING RETURNING key";
const UNCLAIM_KEYS: &str = "DELETE FROM idempotency WHERE key = ANY($1::text[])";
const ORDERS: &str = "INSERT INTO orders (id, version, status, tracking_token, snapshot) \
     SELECT * FROM unnest($1::uuid[], $2::int4[], $3::text[], $4::text[], $5::bytea[]) \
     ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status, \
     snapshot = EXCLUDED.snapshot";
/// Pick-list rows `(warehouse, order)` (also the import's).
pub(crate) const ADD_PICKS: &str = "INSERT INTO order_picks (warehouse, order_id) \
     SELECT * FROM unnest($1::text[], $2::uuid[]) ON CONFLICT DO NOTHING";
const REMOVE_PICKS: &str =
    "DELETE FROM order_picks p USING unnest($1::text[], $2::uuid[]) AS x(w, o) \
     WHERE p.warehouse = x.w AND p.order_id = x.o";
/// Tracking-number rows `(number, order)`: the latest booking of a number owns it, as in sled
/// (also the import's).
pub(crate) const ADD_TRACKING: &str = "INSERT INTO order_tracking (tracking_number, order_id) \
     SELECT * FROM unnest($1::text[], $2::uuid[]) \
     ON CONFLICT (tracking_number) DO UPDATE SET order_id = EXCLUDED.order_id";
const REMOVE_TRACKING: &str =
    "DELETE FROM order_tracking t USING unnest($1::text[], $2::uuid[]) AS x(n, o) \
     WHERE t.tracking_number = x.n AND t.order_id = x.o";
/// Backorder-queue rows (also the import's).
pub(crate) const ADD_BACKORDERS: &str = "INSERT INTO order_backorders (order_id) \
     SELECT * FROM unnest($1::uuid[]) ON CONFLICT DO NOTHING";
const REMOVE_BACKORDERS: &str = "DELETE FROM order_backorders WHERE order_id = ANY($1::uuid[])";
const EVENTS: &str = "INSERT INTO events (order_id, seq, first_seq, body) \
     SELECT * FROM unnest($1::uuid[], $2::int4[], $3::int4[], $4::bytea[])";
const OUTBOX: &str = "INSERT INTO outbox (message_id, order_id, step, owner, entry) \
     SELECT m, o, s, $5::text, e FROM unnest($1::text[], $2::uuid[], $3::int4[], $4::bytea[]) AS x(m, o, s, e) \
     ON CONFLICT (message_id) DO UPDATE SET entry = EXCLUDED.entry, owner = EXCLUDED.owner";
const CLEAR_TIMERS: &str =
    "DELETE FROM timers t USING unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS x(o, k, d) \
     WHERE t.order_id = x.o AND t.kind = x.k AND t.due = x.d";
const SET_TIMERS: &str = "INSERT INTO timers (order_id, kind, due, owner) \
     SELECT o, k, d, $4::text FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS x(o, k, d) \
     ON CONFLICT DO NOTHING";
const ACKS: &str = "DELETE FROM outbox WHERE message_id = ANY($1::text[])";
const SENT: &str = "INSERT INTO sent_messages (order_id, message_id, sent_at, record) \
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::bytea[]) \
     ON CONFLICT (order_id, message_id) DO NOTHING";
const ATTEMPTS: &str =
    "UPDATE outbox SET entry = x.e FROM unnest($1::text[], $2::bytea[]) AS x(m, e) \
     WHERE outbox.message_id = x.m";

/// Starts a lane on the current runtime.
pub(crate) fn start(
    node: Arc<str>,
    connect: Connect,
    counters: Arc<Counters>,
    max_batch: usize,
) -> (Arc<Lane>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let lane = Arc::new(Lane {
        queue: Mutex::new((0, Some(tx))),
        done: watch::channel(0).0,
        failed: Mutex::new(HashMap::new()),
    });
    let task = tokio::spawn(run(lane.clone(), rx, node, connect, counters, max_batch));
    (lane, task)
}

/// Stops taking writes; the lane finishes what is queued and its task ends.
pub(crate) fn close(lane: &Lane) {
    lane.close();
}

async fn run(
    lane: Arc<Lane>,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    node: Arc<str>,
    connect: Connect,
    counters: Arc<Counters>,
    max_batch: usize,
) {
    let mut session: Option<Session> = None;
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        if rx.recv_many(&mut batch, max_batch).await == 0 {
            return; // closed and drained
        }
        let last = batch.last().map(|q| q.ticket).unwrap_or(0);
        let started = Instant::now();
        let writes = batch.len() as u64;
        let failures = match ensure(&mut session, &connect).await {
            Err(e) => fail_all(
                &batch,
                Failure::Backend(format!("cannot reach the database: {e}")),
            ),
            Ok(c) => match apply(c, &node, &batch).await {
                Ok(rejected) => rejected,
                Err(e) if is_connection(&e) => {
                    tracing::warn!(error = %e, "commit lane lost its connection; the batch's outcome is unknown");
                    session = None;
                    fail_all(
                        &batch,
                        Failure::Backend(format!("connection lost during commit: {e}")),
                    )
                }
                Err(e) => {
                    tracing::warn!(error = %e, writes, "batch failed; trying its writes one by one");
                    one_by_one(c, &node, &batch).await
                }
            },
        };
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters.writes.fetch_add(writes, Ordering::Relaxed);
        counters
            .micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        lane.finish(last, failures);
        batch.clear();
    }
}

async fn ensure<'a>(session: &'a mut Option<Session>, connect: &Connect) -> Result<&'a Session> {
    if session.as_ref().is_none_or(|s| s.client.is_closed()) {
        *session = Some(Session::open(connect).await?);
    }
    Ok(session.as_ref().expect("connected above"))
}

fn fail_all(batch: &[Queued], f: Failure) -> Vec<(u64, Failure)> {
    batch.iter().map(|q| (q.ticket, f.clone())).collect()
}

async fn one_by_one(c: &Session, node: &str, batch: &[Queued]) -> Vec<(u64, Failure)> {
    let mut failures = Vec::new();
    for q in batch {
        match apply(c, node, std::slice::from_ref(q)).await {
            Ok(r) => failures.extend(r),
            Err(e) => {
                let f = match error::db(e) {
                    StorageError::Conflict(why) => Failure::Conflict(why),
                    other => Failure::Backend(other.to_string()),
                };
                failures.push((q.ticket, f));
            }
        }
    }
    failures
}

/// Runs one batch as one transaction; returns the transitions left out by the version check.
async fn apply(
    s: &Session,
    node: &str,
    batch: &[Queued],
) -> std::result::Result<Vec<(u64, Failure)>, tokio_postgres::Error> {
    let transitions: Vec<(u64, &TransitionRows)> = batch
        .iter()
        .filter_map(|q| match &q.op {
            Op::Transition(t) => Some((q.ticket, &**t)),
            _ => None,
        })
        .collect();

    // ---- round trip 1: lock, read versions, claim idempotency keys ----
    let ids: Vec<Uuid> = {
        let mut seen = HashSet::new();
        transitions
            .iter()
            .map(|(_, t)| t.id)
            .filter(|id| seen.insert(*id))
            .collect()
    };
    let (keys, key_orders): (Vec<String>, Vec<Uuid>) = transitions
        .iter()
        .filter_map(|(_, t)| t.idempotency.as_ref().map(|(k, _)| (k.clone(), t.id)))
        .unzip();
    let key_records: Vec<Vec<u8>> = transitions
        .iter()
        .filter_map(|(_, t)| t.idempotency.as_ref().map(|(_, r)| r.clone()))
        .collect();
    let c = &s.client;
    let flush = batch.iter().any(|q| matches!(q.op, Op::Flush));
    // `pg_current_xact_id()` gives the transaction an id, so its COMMIT writes a commit record
    // and flushes the WAL up to it even if the batch writes nothing else.
    let begin = c.batch_execute(if flush {
        "BEGIN; SELECT pg_current_xact_id()"
    } else {
        "BEGIN"
    });
    let versions = async { c.query(&s.versions, &[&ids]).await };
    let claim_keys = async {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        c.query(&s.claim_keys, &[&keys, &key_orders, &key_records])
            .await
    };
    let (begun, versions, claimed) = futures::join!(begin, versions, claim_keys);
    begun?;
    let (versions, claimed) = match (versions, claimed) {
        (Ok(v), Ok(k)) => (v, k),
        (Err(e), _) | (_, Err(e)) => {
            let _ = c.batch_execute("ROLLBACK").await;
            return Err(e);
        }
    };
    let mut current: HashMap<Uuid, Option<u32>> = ids.iter().map(|id| (*id, None)).collect();
    for row in versions {
        current.insert(row.get(0), Some(row.get::<_, i32>(1) as u32));
    }
    let claimed: HashSet<String> = claimed.into_iter().map(|r| r.get(0)).collect();

    // ---- the version check, in queue order ----
    let mut rejected: Vec<(u64, Failure)> = Vec::new();
    let mut broken: HashSet<Uuid> = HashSet::new();
    let mut kept: Vec<&TransitionRows> = Vec::with_capacity(transitions.len());
    for (ticket, t) in &transitions {
        let now = current.get(&t.id).copied().flatten();
        let why = if broken.contains(&t.id) {
            Some("an earlier write of the same order in the batch was refused".to_string())
        } else if now != t.before {
            Some(format!(
                "order {} is at version {:?}, the write was built on {:?}",
                t.id, now, t.before
            ))
        } else if t
            .idempotency
            .as_ref()
            .is_some_and(|(k, _)| !claimed.contains(k))
        {
            Some("the Idempotency-Key was used by a concurrent request".to_string())
        } else {
            None
        };
        match why {
            Some(why) => {
                broken.insert(t.id);
                rejected.push((*ticket, Failure::Conflict(why)));
            }
            None => {
                current.insert(t.id, Some(t.version));
                kept.push(t);
            }
        }
    }
    // Keys claimed for placements that were refused go again.
    let unclaim: Vec<String> = transitions
        .iter()
        .filter(|(_, t)| broken.contains(&t.id))
        .filter_map(|(_, t)| t.idempotency.as_ref().map(|(k, _)| k.clone()))
        .filter(|k| claimed.contains(k))
        .collect();

    // ---- round trip 2: the writes, then COMMIT ----
    let w = Writes::collect(&kept, batch);
    // COMMIT goes in the same pipeline: if a write failed, the transaction is aborted and the
    // COMMIT only ends it, so the batch counts as committed only if every statement succeeded.
    let (written, committed) =
        futures::join!(write(s, node, &w, &unclaim), c.batch_execute("COMMIT"));
    written?;
    committed?;
    Ok(rejected)
}

/// A batch's writes as columns, for `unnest`.
#[derive(Default)]
struct Writes {
    o_id: Vec<Uuid>,
    o_version: Vec<i32>,
    o_status: Vec<&'static str>,
    o_token: Vec<String>,
    o_snapshot: Vec<Vec<u8>>,
    /// Index rows to add and remove, `(key, order)` as columns: the last change of the batch
    /// to each row.
    pick_add: (Vec<String>, Vec<Uuid>),
    pick_remove: (Vec<String>, Vec<Uuid>),
    tracking_add: (Vec<String>, Vec<Uuid>),
    tracking_remove: (Vec<String>, Vec<Uuid>),
    /// Orders joining and leaving the backorder queue: the last change of the batch to each.
    backorder_add: Vec<Uuid>,
    backorder_remove: Vec<Uuid>,
    e_order: Vec<Uuid>,
    e_seq: Vec<i32>,
    e_first: Vec<i32>,
    e_body: Vec<Vec<u8>>,
    x_id: Vec<String>,
    x_order: Vec<Uuid>,
    x_step: Vec<i32>,
    x_entry: Vec<Vec<u8>>,
    t_set: Vec<TimerKey>,
    t_clear: Vec<TimerKey>,
    acks: Vec<String>,
    s_order: Vec<Uuid>,
    s_id: Vec<String>,
    s_at: Vec<chrono::DateTime<chrono::Utc>>,
    s_record: Vec<Vec<u8>>,
    a_id: Vec<String>,
    a_entry: Vec<Vec<u8>>,
}

impl Writes {
    fn collect(kept: &[&TransitionRows], batch: &[Queued]) -> Writes {
        let mut w = Writes::default();
        // One snapshot per order: the last one kept.
        let mut last: HashMap<Uuid, &TransitionRows> = HashMap::new();
        // Timers: the last thing the batch did to each.
        let mut timers: HashMap<TimerKey, bool> = HashMap::new();
        let mut timer_order: Vec<TimerKey> = Vec::new();
        let mut touch = |k: &TimerKey, set: bool, timers: &mut HashMap<TimerKey, bool>| {
            if timers.insert(k.clone(), set).is_none() {
                timer_order.push(k.clone());
            }
        };
        // Index rows: the last thing the batch did to each (order, key), as for timers.
        let mut picks = IndexNet::default();
        let mut tracking = IndexNet::default();
        let mut backorders: HashMap<Uuid, bool> = HashMap::new();
        let mut backorder_order: Vec<Uuid> = Vec::new();
        for t in kept {
            last.insert(t.id, t);
            picks.apply(t.id, &t.index.picks_added, &t.index.picks_removed);
            tracking.apply(t.id, &t.index.tracking_added, &t.index.tracking_removed);
            if let Some(queued) = t.index.backorder {
                if backorders.insert(t.id, queued).is_none() {
                    backorder_order.push(t.id);
                }
            }
            for e in &t.events {
                w.e_order.push(t.id);
                w.e_seq.push(e.seq);
                w.e_first.push(e.first_seq);
                w.e_body.push(e.body.clone());
            }
            for x in &t.outbox {
                w.x_id.push(x.message_id.clone());
                w.x_order.push(x.order_id);
                w.x_step.push(x.step);
                w.x_entry.push(x.entry.clone());
            }
            // As in sled: set first, then cleared.
            for k in &t.set_timers {
                touch(k, true, &mut timers);
            }
            for k in &t.clear_timers {
                touch(k, false, &mut timers);
            }
        }
        (w.pick_add, w.pick_remove) = picks.columns();
        (w.tracking_add, w.tracking_remove) = tracking.columns();
        for id in backorder_order {
            if backorders[&id] {
                w.backorder_add.push(id);
            } else {
                w.backorder_remove.push(id);
            }
        }
        for k in timer_order {
            if timers[&k] {
                w.t_set.push(k);
            } else {
                w.t_clear.push(k);
            }
        }
        let mut seen = HashSet::new();
        for t in kept.iter().rev() {
            if !seen.insert(t.id) {
                continue;
            }
            let t = last[&t.id];
            w.o_id.push(t.id);
            w.o_version.push(t.version as i32);
            w.o_status.push(t.columns.status);
            w.o_token.push(t.token.clone());
            w.o_snapshot.push(t.snapshot.clone());
        }
        for q in batch {
            match &q.op {
                Op::AckOutbox(id) => w.acks.push(id.clone()),
                Op::AckOutboxSent {
                    message_id,
                    order_id,
                    sent_at,
                    record,
                } => {
                    w.acks.push(message_id.clone());
                    w.s_order.push(*order_id);
                    w.s_id.push(message_id.clone());
                    w.s_at.push(*sent_at);
                    w.s_record.push(record.clone());
                }
                Op::Attempt { message_id, entry } => {
                    w.a_id.push(message_id.clone());
                    w.a_entry.push(entry.clone());
                }
                Op::AckTimer(k) => w.t_clear.push(k.clone()),
                Op::Transition(_) | Op::Flush => {}
            }
        }
        w
    }
}

type Fut<'a> = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = std::result::Result<u64, tokio_postgres::Error>>
            + Send
            + 'a,
    >,
>;

async fn write(
    s: &Session,
    node: &str,
    w: &Writes,
    unclaim: &[String],
) -> std::result::Result<(), tokio_postgres::Error> {
    let c = &s.client;
    let mut statements: Vec<Fut<'_>> = Vec::new();
    if !unclaim.is_empty() {
        statements.push(Box::pin(async move {
            c.execute(&s.unclaim_keys, &[&unclaim]).await
        }));
    }
    if !w.o_id.is_empty() {
        statements.push(Box::pin(async move {
            c.execute(
                &s.orders,
                &[
                    &w.o_id,
                    &w.o_version,
                    &w.o_status,
                    &w.o_token,
                    &w.o_snapshot,
                ],
            )
            .await
        }));
    }
    // Index rows: removals before additions (a number moving between orders in one batch).
    for (rows, statement) in [
        (&w.pick_remove, &s.remove_picks),
        (&w.tracking_remove, &s.remove_tracking),
        (&w.pick_add, &s.add_picks),
        (&w.tracking_add, &s.add_tracking),
    ] {
        if !rows.0.is_empty() {
            statements.push(Box::pin(async move {
                c.execute(statement, &[&rows.0, &rows.1]).await
            }));
        }
    }
    for (rows, statement) in [
        (&w.backorder_remove, &s.remove_backorders),
        (&w.backorder_add, &s.add_backorders),
    ] {
        if !rows.is_empty() {
            statements.push(Box::pin(async move { c.execute(statement, &[rows]).await }));
        }
    }
    if !w.e_order.is_empty() {
        statements.push(Box::pin(async move {
            c.execute(&s.events, &[&w.e_order, &w.e_seq, &w.e_first, &w.e_body])
                .await
        }));
    }
    if !w.x_id.is_empty() {
        statements.push(Box::pin(async move {
            c.execute(
                &s.outbox,
                &[&w.x_id, &w.x_order, &w.x_step, &w.x_entry, &node],
            )
            .await
        }));
    }
    let (cl_o, cl_k, cl_d) = timer_columns(&w.t_clear);
    if !cl_o.is_empty() {
        statements.push(Box::pin(async move {
            c.execute(&s.clear_timers, &[&cl_o, &cl_k, &cl_d]).await
        }));
    }
    let (st_o, st_k, st_d) = timer_columns(&w.t_set);
    if !st_o.is_empty() {
        statements.push(Box::pin(async move {
            c.execute(&s.set_timers, &[&st_o, &st_k, &st_d, &node])
                .await
        }));
    }
    if !w.s_id.is_empty() {
        statements.push(Box::pin(async move {
            c.execute(&s.sent, &[&w.s_order, &w.s_id, &w.s_at, &w.s_record])
                .await
        }));
    }
    if !w.acks.is_empty() {
        statements.push(Box::pin(
            async move { c.execute(&s.acks, &[&w.acks]).await },
        ));
    }
    if !w.a_id.is_empty() {
        statements.push(Box::pin(async move {
            c.execute(&s.attempts, &[&w.a_id, &w.a_entry]).await
        }));
    }
    // Pipelined: sent together, answered in order.
    futures::future::try_join_all(statements).await?;
    Ok(())
}

/// The net change of a batch to one index table: per (order, key), whether the row is added
/// (`true`) or removed, by the batch's last transition that changed it.
#[derive(Default)]
struct IndexNet {
    last: HashMap<(Uuid, String), bool>,
    order: Vec<(Uuid, String)>,
}

impl IndexNet {
    fn apply(&mut self, id: Uuid, added: &[String], removed: &[String]) {
        for (keys, add) in [(removed, false), (added, true)] {
            for k in keys {
                let key = (id, k.clone());
                if self.last.insert(key.clone(), add).is_none() {
                    self.order.push(key);
                }
            }
        }
    }

    /// `(added, removed)`, each as (keys, orders) columns.
    #[allow(clippy::type_complexity)]
    fn columns(self) -> ((Vec<String>, Vec<Uuid>), (Vec<String>, Vec<Uuid>)) {
        let (mut add, mut remove) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
        for (id, k) in self.order {
            let to = if self.last[&(id, k.clone())] {
                &mut add
            } else {
                &mut remove
            };
            to.0.push(k);
            to.1.push(id);
        }
        (add, remove)
    }
}

fn timer_columns(keys: &[TimerKey]) -> (Vec<Uuid>, Vec<&'static str>, Vec<DateTime<Utc>>) {
    let mut o = Vec::with_capacity(keys.len());
    let mut k = Vec::with_capacity(keys.len());
    let mut d = Vec::with_capacity(keys.len());
    for t in keys {
        o.push(t.order_id);
        k.push(t.kind);
        d.push(t.due);
    }
    (o, k, d)
}
