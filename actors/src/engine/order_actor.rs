//! One actor per order: load, decide, persist, then send.
//!
//! The actor holds the order's current state and is the only writer of it. A command is
//! decided and written synchronously inside the handler, so two commands on one order never
//! interleave; the handler then returns a future that waits for the group commit and only then
//! dispatches the resulting messages and answers. While that future waits, the actor already
//! takes the next command (pipelining): the next write lands behind the first in sled's log,
//! and its own acknowledgement waits for a flush that covers both.
//!
//! Idle actors stop themselves and are activated again from storage on demand (`registry`).

use super::{Engine, EngineError};
use crate::domain::{decide, fold, reactions, Cause, Command, Event, Order, OrderId};
use crate::store::{IdempotencyRecord, TransitionWrite};
use actix::prelude::*;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct OrderActor {
    id: OrderId,
    state: Option<Order>,
    engine: Engine,
    generation: u64,
    /// Nonce of the message being handled, read by the registry if this actor dies.
    current: Arc<AtomicU64>,
    last_active: Instant,
    /// Write sequence of the latest transition, so a no-op answer also waits for it.
    last_seq: u64,
    /// Commands whose acknowledgement is still waiting on a flush or on effects.
    inflight: Arc<AtomicUsize>,
    retired: bool,
}

impl OrderActor {
    pub(super) fn new(
        id: OrderId,
        state: Option<Order>,
        engine: Engine,
        generation: u64,
        current: Arc<AtomicU64>,
    ) -> Self {
        // The loaded snapshot may still be in sled's unflushed tail (a previous activation's
        // write): a no-op answer must wait for a flush that covers it.
        let last_seq = engine.store().durability().mark_written();
        OrderActor {
            id,
            state,
            engine,
            generation,
            current,
            last_active: Instant::now(),
            last_seq,
            inflight: Arc::new(AtomicUsize::new(0)),
            retired: false,
        }
    }
}

impl Actor for OrderActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.engine.config().order_mailbox);
        let idle = self.engine.config().idle_timeout;
        ctx.run_interval(idle.max(Duration::from_millis(50)) / 2, move |act, ctx| {
            if act.inflight.load(Ordering::SeqCst) == 0 && act.last_active.elapsed() >= idle {
                // Leave the registry first: anyone who still sends to this address gets
                // `Closed`, finds the slot gone, and activates a fresh actor.
                act.retired = true;
                act.engine.registry().remove_if_same(act.id, act.generation);
                ctx.stop();
            }
        });
    }
}

/// Runs one command against the order.
#[derive(Message, Clone)]
#[rtype(result = "Result<Executed, EngineError>")]
pub struct Execute {
    pub command: Command,
    pub cause: Cause,
    /// `(key, request fingerprint)` for commands that carry an `Idempotency-Key`.
    pub idempotency: Option<(String, String)>,
    /// Wait for the follow-ups of this transition (stock reservation, carrier booking,
    /// restock) before answering, up to the engine's effect timeout.
    pub await_effects: bool,
    /// Identifies this delivery, so a caller can tell whether a crash happened on its message.
    pub nonce: u64,
}

#[derive(Debug, Clone)]
pub struct Executed {
    /// The order right after this command (before any follow-ups).
    pub order: Order,
    /// Events this command recorded; empty when it changed nothing.
    pub events: Vec<Event>,
    /// The caller asked to wait for follow-ups, so `order` may already be older than what is
    /// stored: read the order again to show their outcome.
    pub awaited_effects: bool,
}

impl Handler<Execute> for OrderActor {
    type Result = ResponseFuture<Result<Executed, EngineError>>;

    fn handle(&mut self, msg: Execute, ctx: &mut Context<Self>) -> Self::Result {
        if self.retired {
            return Box::pin(async { Err(EngineError::Retry) });
        }
        self.last_active = Instant::now();
        self.current.store(msg.nonce, Ordering::SeqCst);
        let span = tracing::info_span!("order", order_id = %self.id, command = msg.command.name());
        let _enter = span.enter();
        let result = self.transition(&msg);
        self.current.store(0, Ordering::SeqCst);
        let (executed, seq, outbox) = match result {
            Ok(v) => v,
            Err(e) => {
                if matches!(e, EngineError::Store(_)) {
                    // A write may have stopped half-way: retire, so the next activation starts
                    // from the committed snapshot and clears what was written ahead of it.
                    self.retired = true;
                    self.engine
                        .registry()
                        .remove_if_same(self.id, self.generation);
                    ctx.stop();
                }
                return Box::pin(async move { Err(e) });
            }
        };
        let engine = self.engine.clone();
        let inflight = self.inflight.clone();
        inflight.fetch_add(1, Ordering::SeqCst);
        let await_effects = msg.await_effects;
        drop(_enter);
        Box::pin(async move {
            let durable = engine.store().durability().wait(seq).await;
            let result = match durable {
                Ok(()) => {
                    engine.dispatch(outbox, await_effects).await;
                    Ok(executed)
                }
                Err(e) => Err(EngineError::Store(e)),
            };
            inflight.fetch_sub(1, Ordering::SeqCst);
            result
        })
    }
}

type Transition = (Executed, u64, Vec<crate::store::OutboxEntry>);

impl OrderActor {
    /// Decide and write, synchronously. Nothing here waits, so commands cannot interleave.
    fn transition(&mut self, msg: &Execute) -> Result<Transition, EngineError> {
        let engine = &self.engine;
        let now = engine.clock().now();
        let events =
            decide(self.state.as_ref(), &msg.command, &msg.cause, now).inspect_err(|e| {
                tracing::debug!(error = %e, "command refused");
                engine.stats().rejected.fetch_add(1, Ordering::Relaxed);
            })?;
        if events.is_empty() {
            let order = self.state.clone().ok_or(EngineError::NotFound)?;
            return Ok((
                Executed {
                    order,
                    events,
                    awaited_effects: msg.await_effects,
                },
                self.last_seq,
                Vec::new(),
            ));
        }
        let after = fold(self.state.clone(), &events).ok_or(EngineError::NotFound)?;
        let r = reactions(&after, &events);
        let outbox = engine.outbox_entries(&r.effects);
        let idempotency = msg.idempotency.as_ref().map(|(key, fingerprint)| {
            (
                key.as_str(),
                IdempotencyRecord {
                    fingerprint: fingerprint.clone(),
                    order_id: after.id,
                    version: after.version,
                },
            )
        });
        let seq = engine.store().write_transition(&TransitionWrite {
            before: self.state.as_ref(),
            after: &after,
            events: &events,
            reactions: &r,
            outbox: &outbox,
            idempotency,
        })?;
        for e in &events {
            tracing::info!(seq = e.seq, event = e.change.name(), "event recorded");
        }
        engine
            .stats()
            .transitions
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        self.state = Some(after.clone());
        self.last_seq = seq;
        Ok((
            Executed {
                order: after,
                events,
                awaited_effects: msg.await_effects,
            },
            seq,
            outbox,
        ))
    }
}

/// Test hook: makes the handler panic, as a bug would. The registry must bring the order back
/// from storage and other orders must not notice.
#[doc(hidden)]
#[derive(Message)]
#[rtype(result = "()")]
pub struct InjectPanic;

impl Handler<InjectPanic> for OrderActor {
    type Result = ();
    fn handle(&mut self, _: InjectPanic, _: &mut Context<Self>) {
        panic!("injected fault in order actor {}", self.id);
    }
}
