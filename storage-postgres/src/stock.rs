//! The stock ledger's conditional writes, pipelined.
//!
//! Each write is one call of `orderly_apply_stock` (migration V6; `orderly_write_stock` of
//! absolute values before), which locks and checks what keys the operation (the order's
//! reservation, the order-step marker, the transfer's version), then adds the changes to the
//! touched cells in a fixed order (so two writers never deadlock) and to the skus' backorder
//! records in sku order, with one append-only movement row per cell. Changes commute: writers
//! (nodes) changing the same cells do not refuse each other. A mismatch of what keys the
//! operation changes nothing and is a `Conflict`; so is a result a `CHECK` refuses (more
//! reserved than on hand, anything negative, more units waiting than the cap: the ledger this
//! node decided on did not hold what the database holds) and a concurrent insert of the same
//! reservation or transfer (a unique violation).
//!
//! A node's inventory decides one change after another on its in-memory ledger, and must not
//! wait a round trip for each. So writes queue on the *stock pipe*: a task with a connection of
//! its own that sends everything queued as one pipeline of calls, in queue order, and answers
//! each once the pipeline is back. Every call is its own transaction, so a refused write
//! refuses nothing else (the inventory then reloads and decides again). The refusal therefore
//! reaches the writer through its [`Commit`], not at once.
//!
//! The pipe's session commits without waiting for the WAL flush (`synchronous_commit =
//! off`). After each pipeline it queues one flush on a commit lane (`Op::Flush`), whose
//! synchronous commit covers the pipeline's changes; a write's commit resolves once that flush
//! did. Another node may read a change before it is durable; whatever it then writes commits
//! later in the WAL, so it can never be durable without this change.
//!
//! Reads of the ledger on this node wait until every write queued before them is answered
//! (read-your-writes), so the inventory never reloads a ledger that lacks its own changes.

use crate::error;
use crate::lanes::{self, Failure, Lane};
use futures::future::{FutureExt, Shared};
use futures::StreamExt;
use orderly_storage::{schema, BoxFuture, Durability, Result, StockChange, StorageError};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::Statement;
use uuid::Uuid;

/// Most calls in one pipeline.
const MAX_PIPELINE: usize = 256;

/// A write's outcome: refused (why), or applied and made durable by this flush.
type Outcome = std::result::Result<(Arc<Lane>, u64), Failure>;

/// One queued call's arguments, owned.
struct Call {
    warehouses: Vec<String>,
    skus: Vec<String>,
    on_hand: Vec<i64>,
    reserved: Vec<i64>,
    incoming: Vec<i64>,
    counted: Vec<Option<i64>>,
    order: Option<Uuid>,
    reservation_expected: Option<Vec<u8>>,
    reservation: Option<Vec<u8>>,
    restock_step: Option<i32>,
    bo_skus: Vec<String>,
    bo_waiting: Vec<i64>,
    bo_allowed: Vec<Option<bool>>,
    bo_cap: Vec<Option<i64>>,
    transfer: Option<Uuid>,
    transfer_key: Option<String>,
    transfer_expected: Option<i32>,
    transfer_version: Option<i32>,
    transfer_body: Option<Vec<u8>>,
}

impl Call {
    fn new(change: &StockChange) -> Result<Call> {
        let mut cells: Vec<&orderly_storage::CellDelta> = change.cells.iter().collect();
        cells.sort_by(|a, b| (&a.warehouse, &a.sku).cmp(&(&b.warehouse, &b.sku)));
        // Locked in sku order too, so two writers never deadlock on sku records.
        let mut skus: Vec<&orderly_storage::SkuDelta> = change.skus.iter().collect();
        skus.sort_by(|a, b| a.sku.cmp(&b.sku));
        let transfer = change.transfer();
        let reservation = change.reservation();
        Ok(Call {
            warehouses: cells.iter().map(|c| c.warehouse.to_string()).collect(),
            skus: cells.iter().map(|c| c.sku.to_string()).collect(),
            on_hand: cells.iter().map(|c| c.on_hand).collect(),
            reserved: cells.iter().map(|c| c.reserved).collect(),
            incoming: cells.iter().map(|c| c.incoming).collect(),
            counted: cells.iter().map(|c| c.counted).collect(),
            order: reservation
                .map(|r| r.new.order_id)
                .or(change.order_step().map(|(id, _)| id)),
            reservation_expected: reservation
                .and_then(|r| r.expected.as_ref())
                .map(schema::encode_reservation)
                .transpose()?,
            reservation: reservation
                .map(|r| schema::encode_reservation(&r.new))
                .transpose()?,
            restock_step: change.order_step().map(|(_, step)| step as i32),
            bo_skus: skus.iter().map(|w| w.sku.to_string()).collect(),
            bo_waiting: skus.iter().map(|w| w.waiting).collect(),
            bo_allowed: skus.iter().map(|w| w.policy.map(|p| p.0)).collect(),
            bo_cap: skus.iter().map(|w| w.policy.map(|p| p.1)).collect(),
            transfer: transfer.map(|t| t.new.id),
            transfer_key: transfer.map(|t| t.new.key.clone()),
            transfer_expected: transfer.and_then(|t| t.expected_version.map(|v| v as i32)),
            transfer_version: transfer.map(|t| t.new.version as i32),
            transfer_body: transfer
                .map(|t| schema::encode_transfer(&t.new))
                .transpose()?,
        })
    }
}

struct Queued {
    ticket: u64,
    call: Call,
    reply: oneshot::Sender<Outcome>,
}

/// The queue in front of the stock writer's session.
pub(crate) struct StockPipe {
    /// Tickets are handed out under this lock in queue order.
    queue: Mutex<(u64, Option<mpsc::UnboundedSender<Queued>>)>,
    /// Every ticket up to this one has its outcome.
    done: watch::Sender<u64>,
}

impl StockPipe {
    /// Queues `change`; its commit resolves once it is applied and durable, or fails with
    /// `Conflict` if it was refused.
    pub fn write(&self, change: &StockChange) -> Result<orderly_storage::Commit> {
        let call = Call::new(change)?;
        let (reply, outcome) = oneshot::channel();
        let ticket = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let ticket = q.0 + 1;
            let tx =
                q.1.as_ref()
                    .ok_or_else(|| error::other("the storage is closing"))?;
            tx.send(Queued {
                ticket,
                call,
                reply,
            })
            .map_err(|_| error::other("the stock writer stopped"))?;
            q.0 = ticket;
            ticket
        };
        let outcome = outcome
            .map(|o| o.unwrap_or_else(|_| Err(Failure::Backend("the stock writer stopped".into()))))
            .boxed()
            .shared();
        Ok(orderly_storage::Commit::new(
            Arc::new(StockCommit(outcome)),
            ticket,
        ))
    }

    /// Resolves once every write queued so far has its outcome.
    pub fn settled(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let upto = self.queue.lock().unwrap_or_else(|e| e.into_inner()).0;
        let mut rx = self.done.subscribe();
        async move {
            // Fails only if the sender is gone, and then nothing is pending any more.
            let _ = rx.wait_for(|done| *done >= upto).await;
        }
    }

    /// Stops taking writes; the task answers what is queued and ends.
    pub fn close(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).1 = None;
    }
}

/// A stock write's [`Durability`]: its outcome, then the lane flush that covers it.
struct StockCommit(Shared<futures::future::BoxFuture<'static, Outcome>>);

impl Durability for StockCommit {
    fn wait(&self, _ticket: u64) -> BoxFuture<()> {
        let outcome = self.0.clone();
        // Unconstrained: awaited from any executor (see `PostgresStorage::block`).
        Box::pin(tokio::task::unconstrained(async move {
            let (lane, flush) = outcome.await.map_err(|r| r.error())?;
            lanes::LaneCommit(lane).wait(flush).await
        }))
    }

    fn settled(&self, _ticket: u64) -> BoxFuture<()> {
        let outcome = self.0.clone();
        Box::pin(tokio::task::unconstrained(async move {
            outcome.await.map(|_| ()).map_err(|r| r.error())
        }))
    }

    fn is_durable(&self, _ticket: u64) -> bool {
        match self.0.peek() {
            Some(Ok((lane, flush))) => lanes::LaneCommit(lane.clone()).is_durable(*flush),
            _ => false,
        }
    }
}

/// Starts the pipe on the current runtime; its flushes go to `lanes` in turn.
pub(crate) fn start(
    node: Arc<str>,
    connect: lanes::Connect,
    lanes: Vec<Arc<Lane>>,
) -> (Arc<StockPipe>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let pipe = Arc::new(StockPipe {
        queue: Mutex::new((0, Some(tx))),
        done: watch::channel(0).0,
    });
    let task = tokio::spawn(run(pipe.clone(), rx, node, connect, lanes));
    (pipe, task)
}

struct Session {
    client: tokio_postgres::Client,
    write: Statement,
}

async fn run(
    pipe: Arc<StockPipe>,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    node: Arc<str>,
    connect: lanes::Connect,
    lanes: Vec<Arc<Lane>>,
) {
    let mut session: Option<Session> = None;
    let mut next_lane = 0usize;
    let mut batch = Vec::with_capacity(MAX_PIPELINE);
    loop {
        if rx.recv_many(&mut batch, MAX_PIPELINE).await == 0 {
            return; // closed and drained
        }
        let last = batch.last().map(|q: &Queued| q.ticket).unwrap_or(0);
        let outcomes = match ensure(&mut session, &connect).await {
            Err(e) => {
                let why = format!("cannot reach the database: {e}");
                batch
                    .iter()
                    .map(|_| Err(Failure::Backend(why.clone())))
                    .collect()
            }
            Ok(s) => {
                let outcomes = pipeline(s, &node, &batch).await;
                if s.client.is_closed() {
                    session = None;
                }
                outcomes
            }
        };
        // One flush covers every change of the pipeline.
        let flush = if outcomes.iter().any(|o| o.is_ok()) {
            next_lane = next_lane.wrapping_add(1);
            let lane = &lanes[next_lane % lanes.len()];
            match lane.push(lanes::Op::Flush) {
                Ok(ticket) => Ok((lane.clone(), ticket)),
                Err(e) => Err(Failure::Backend(e.to_string())),
            }
        } else {
            Err(Failure::Backend("nothing to flush".into()))
        };
        for (q, outcome) in batch.drain(..).zip(outcomes) {
            let outcome = outcome.and_then(|()| flush.clone());
            let _ = q.reply.send(outcome);
        }
        pipe.done.send_replace(last);
    }
}

async fn ensure<'a>(
    session: &'a mut Option<Session>,
    connect: &lanes::Connect,
) -> Result<&'a Session> {
    if session.as_ref().is_none_or(|s| s.client.is_closed()) {
        let client = connect().await?;
        client
            .batch_execute("SET synchronous_commit = off")
            .await
            .map_err(error::db)?;
        let write = client
            .prepare(
                "SELECT orderly_apply_stock($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                 $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
            )
            .await
            .map_err(error::db)?;
        *session = Some(Session { client, write });
    }
    Ok(session.as_ref().expect("connected above"))
}

/// Sends every call of `batch` at once (each its own transaction) and collects the outcomes in
/// order.
async fn pipeline(
    s: &Session,
    node: &str,
    batch: &[Queued],
) -> Vec<std::result::Result<(), Failure>> {
    // Each call is polled once as soon as it is queued, which sends it: the calls go out in
    // queue order, so a later change of a cell is checked after the earlier one.
    let mut calls = futures::stream::FuturesOrdered::new();
    let mut answers = Vec::with_capacity(batch.len());
    for q in batch {
        calls.push_back(async move {
            let c = &q.call;
            s.client
                .query_one(
                    &s.write,
                    &[
                        &c.warehouses,
                        &c.skus,
                        &c.on_hand,
                        &c.reserved,
                        &c.incoming,
                        &c.counted,
                        &c.order,
                        &c.reservation_expected,
                        &c.reservation,
                        &c.restock_step,
                        &c.bo_skus,
                        &c.bo_waiting,
                        &c.bo_allowed,
                        &c.bo_cap,
                        &c.transfer,
                        &c.transfer_key,
                        &c.transfer_expected,
                        &c.transfer_version,
                        &c.transfer_body,
                        &node,
                    ],
                )
                .await
        });
        if let std::task::Poll::Ready(Some(answer)) = futures::poll!(calls.next()) {
            answers.push(answer);
        }
    }
    while let Some(answer) = calls.next().await {
        answers.push(answer);
    }
    answers
        .into_iter()
        .map(|r| match r {
            Ok(row) => match row.get::<_, Option<String>>(0) {
                None => Ok(()),
                Some(why) => Err(Failure::Conflict(why)),
            },
            Err(e) if error::is_connection(&e) => Err(Failure::Backend(format!(
                "connection lost; the stock write's outcome is unknown: {e}"
            ))),
            Err(e) => match error::db(e) {
                StorageError::Conflict(why) => Err(Failure::Conflict(why)),
                other => Err(Failure::Backend(other.to_string())),
            },
        })
        .collect()
}
