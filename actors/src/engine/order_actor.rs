//! One actor per order: load, decide, persist, then send.
//!
//! The actor holds the order's current state and is the only writer of it. A command is
//! decided and written synchronously inside the handler, so two commands on one order never
//! interleave; the handler then returns a future that waits for the group commit and only then
//! hands the transition's outbox entries to the effects (`Effects`) and answers. While that
//! future waits, the actor already takes the next command (pipelining): the next write lands
//! behind the first in sled's log, and its own acknowledgement waits for a flush that covers
//! both.
//!
//! The actor knows nothing of the registry or the engine handle: what it needs is in its
//! [`OrderContext`], and leaving the registry when it retires is the [`Retire`] handle the
//! registry gave it. Idle actors stop themselves and are activated again on demand.

use super::effects::{Answer, Effects};
use super::{EngineConfig, EngineError, EngineStats};
use crate::clock::Clock;
use crate::domain::{decide, fold, reactions, Cause, Command, Effect, Event, Order, OrderId};
use crate::store::{IdempotencyRecord, OutboxEntry, Store, TransitionWrite};
use actix::prelude::*;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What every order actor shares: storage, the clock, policy and where effects go.
pub struct OrderContext {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub config: EngineConfig,
    pub stats: Arc<EngineStats>,
    /// Notification channels: a notification effect becomes one outbox entry per channel.
    pub channels: Vec<String>,
    pub effects: Effects,
}

impl OrderContext {
    /// One outbox entry per effect, and per channel for notifications.
    pub(crate) fn outbox_entries(&self, effects: &[Effect]) -> Vec<OutboxEntry> {
        let mut out = Vec::with_capacity(effects.len());
        for e in effects {
            let blank = |channel| OutboxEntry {
                effect: e.clone(),
                channel,
                attempts: 0,
                next_attempt_at: None,
                last_error: None,
            };
            if matches!(e.action, crate::domain::Action::Notify { .. }) {
                out.extend(self.channels.iter().map(|c| blank(Some(c.clone()))));
            } else {
                out.push(blank(None));
            }
        }
        out
    }
}

/// Takes the actor out of the registry (given by the registry at activation). Returns whether
/// this activation was still the registered one.
pub type Retire = Box<dyn Fn() -> bool + Send>;

pub struct OrderActor {
    id: OrderId,
    state: Option<Order>,
    ctx: Arc<OrderContext>,
    leave_registry: Retire,
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
        ctx: Arc<OrderContext>,
        leave_registry: Retire,
        current: Arc<AtomicU64>,
    ) -> Self {
        // The loaded snapshot may still be in sled's unflushed tail (a previous activation's
        // write): a no-op answer must wait for a flush that covers it.
        let last_seq = ctx.store.durability().mark_written();
        OrderActor {
            id,
            state,
            ctx,
            leave_registry,
            current,
            last_active: Instant::now(),
            last_seq,
            inflight: Arc::new(AtomicUsize::new(0)),
            retired: false,
        }
    }

    /// Leaves the registry first: anyone who still sends to this address gets `Closed`, finds
    /// the slot gone, and activates a fresh actor.
    fn retire(&mut self, ctx: &mut Context<Self>) {
        self.retired = true;
        (self.leave_registry)();
        ctx.stop();
    }
}

impl Actor for OrderActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.ctx.config.order_mailbox);
        let idle = self.ctx.config.idle_timeout;
        ctx.run_interval(idle.max(Duration::from_millis(50)) / 2, move |act, ctx| {
            if act.inflight.load(Ordering::SeqCst) == 0 && act.last_active.elapsed() >= idle {
                act.retire(ctx);
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
    /// When to answer: once the transition is durable, or also once its effects have run.
    pub answer: Answer,
    /// Identifies this delivery, so a caller can tell whether a crash happened on its message.
    pub nonce: u64,
}

#[derive(Debug, Clone)]
pub struct Executed {
    /// The order right after this command (before any answers to its effects).
    pub order: Order,
    /// Events this command recorded; empty when it changed nothing.
    pub events: Vec<Event>,
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
                    self.retire(ctx);
                }
                return Box::pin(async move { Err(e) });
            }
        };
        let order_ctx = self.ctx.clone();
        let inflight = self.inflight.clone();
        inflight.fetch_add(1, Ordering::SeqCst);
        let answer = msg.answer;
        drop(_enter);
        Box::pin(async move {
            let durable = order_ctx.store.durability().wait(seq).await;
            let result = match durable {
                Ok(()) => {
                    order_ctx.effects.send(outbox, answer).await;
                    Ok(executed)
                }
                Err(e) => Err(EngineError::Store(e)),
            };
            inflight.fetch_sub(1, Ordering::SeqCst);
            result
        })
    }
}

type Transition = (Executed, u64, Vec<OutboxEntry>);

impl OrderActor {
    /// Decide and write, synchronously. Nothing here waits, so commands cannot interleave.
    fn transition(&mut self, msg: &Execute) -> Result<Transition, EngineError> {
        let ctx = &self.ctx;
        let now = ctx.clock.now();
        let events =
            decide(self.state.as_ref(), &msg.command, &msg.cause, now).inspect_err(|e| {
                tracing::debug!(error = %e, "command refused");
                ctx.stats.rejected.fetch_add(1, Ordering::Relaxed);
            })?;
        if events.is_empty() {
            let order = self.state.clone().ok_or(EngineError::NotFound)?;
            return Ok((Executed { order, events }, self.last_seq, Vec::new()));
        }
        let after = fold(self.state.clone(), &events).ok_or(EngineError::NotFound)?;
        let r = reactions(&after, &events);
        let outbox = ctx.outbox_entries(&r.effects);
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
        let seq = ctx.store.write_transition(&TransitionWrite {
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
        ctx.stats
            .transitions
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        self.state = Some(after.clone());
        self.last_seq = seq;
        Ok((
            Executed {
                order: after,
                events,
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
