//! One actor per order: load, decide, persist, then send.
//!
//! The actor holds the order's current state and is the only writer of it. A command is
//! decided and written synchronously inside the handler, so two commands on one order never
//! interleave; the handler then returns a future that awaits the write's [`Commit`] (with sled,
//! the group commit) and only then hands the transition's outbox entries to the effects
//! (`Effects`) and answers. While that future waits, the actor already takes the next command
//! (pipelining): the next write is applied behind the first, and its own commit resolves only
//! once both are durable.
//!
//! The actor knows nothing of the registry or the engine handle: what it needs is in its
//! [`OrderContext`], and leaving the registry when it retires is the [`Retire`] handle the
//! registry gave it. Idle actors stop themselves and are activated again on demand.

use super::effects::{Answer, Effects};
use super::notifier::channels::OPERATIONS_PREFIX;
use super::{EngineConfig, EngineError, EngineStats};
use crate::clock::Clock;
use crate::domain::{
    decide, fold, reactions, Allocation, Cause, Change, Command, Effect, Event, LateShipment,
    Order, OrderId, ShipmentStatus, StockState, Timer, TimerKind,
};
use actix::prelude::*;
use chrono::{DateTime, Utc};
use orderly_storage::{Commit, IdempotencyRecord, OutboxEntry, Storage, TransitionWrite};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What every order actor shares: storage, the clock, policy and where effects go.
pub struct OrderContext {
    pub store: Arc<dyn Storage>,
    pub clock: Arc<dyn Clock>,
    pub config: EngineConfig,
    pub stats: Arc<EngineStats>,
    /// Machine channels (log, webhook): every notification for the customer gets an outbox
    /// entry on each; person channels (e-mail) are chosen per kind and order by
    /// `config.notifications`' routes.
    pub channels: Vec<String>,
    /// Operations channels: notifications operations get (a shipment `delayed`, going back to
    /// origin, a missed pick-and-pack deadline; see `NotificationKind::audience`) add an entry
    /// per operations channel, named `operations.<channel>`.
    pub operations_channels: Vec<String>,
    pub effects: Effects,
    /// Requests waiting for orders to change (placing with `Prefer: wait`).
    pub(crate) watchers: super::watchers::Watchers,
}

impl OrderContext {
    /// One outbox entry per effect, and per channel for notifications (`order`: the order the
    /// transition leads to, whose customer the person channels are chosen for).
    pub(crate) fn outbox_entries(&self, order: &Order, effects: &[Effect]) -> Vec<OutboxEntry> {
        let mut out = Vec::with_capacity(effects.len());
        for e in effects {
            let blank = |channel| OutboxEntry::new(e.clone(), channel);
            if let crate::domain::EffectKind::Notify { kind } = e.kind {
                let audience = kind.audience();
                if audience.includes_customer() {
                    out.extend(self.channels.iter().map(|c| blank(Some(c.clone()))));
                    let person = self.config.notifications.person_channels(kind, order);
                    out.extend(person.into_iter().map(|c| blank(Some(c.to_string()))));
                }
                if audience.includes_operations() {
                    out.extend(
                        self.operations_channels
                            .iter()
                            .map(|c| blank(Some(format!("{OPERATIONS_PREFIX}{c}")))),
                    );
                }
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
    /// The latest transition's commit, so an answer that wrote nothing also waits for it.
    last_commit: Commit,
    /// Commands whose acknowledgement is still waiting on a flush or on effects.
    inflight: Arc<AtomicUsize>,
    /// Transitions written but not yet known to be durable.
    unresolved: Arc<AtomicUsize>,
    /// A commit failed: what this actor holds may be ahead of storage (or, with other nodes
    /// writing, behind it). It takes no more commands; the next activation reloads.
    stale: Arc<AtomicBool>,
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
        // The loaded snapshot may not be durable yet (a previous activation's write still
        // waiting for its flush): an answer that writes nothing must wait for it too.
        let last_commit = ctx.store.sync();
        OrderActor {
            id,
            state,
            ctx,
            leave_registry,
            current,
            last_active: Instant::now(),
            last_commit,
            inflight: Arc::new(AtomicUsize::new(0)),
            unresolved: Arc::new(AtomicUsize::new(0)),
            stale: Arc::new(AtomicBool::new(false)),
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
        if self.stale.load(Ordering::SeqCst) && !self.retired {
            self.retire(ctx);
        }
        if self.retired {
            return Box::pin(async { Err(EngineError::Retry) });
        }
        self.last_active = Instant::now();
        self.current.store(msg.nonce, Ordering::SeqCst);
        let span = tracing::info_span!("order", order_id = %self.id, command = msg.command.name());
        let _enter = span.enter();
        let result = self.transition(&msg);
        self.current.store(0, Ordering::SeqCst);
        let (executed, commit, outbox) = match result {
            Ok(v) => v,
            Err(e) => {
                if matches!(e, EngineError::Storage(_)) {
                    // A write may have stopped half-way: retire, so the next activation starts
                    // from the committed snapshot (storage discards what was written ahead).
                    self.retire(ctx);
                }
                return Box::pin(async move { Err(e) });
            }
        };
        let order_ctx = self.ctx.clone();
        let inflight = self.inflight.clone();
        inflight.fetch_add(1, Ordering::SeqCst);
        let wrote = !executed.events.is_empty();
        let unresolved = self.unresolved.clone();
        let stale = self.stale.clone();
        let answer = msg.answer;
        drop(_enter);
        Box::pin(async move {
            let durable = commit.await;
            if wrote {
                unresolved.fetch_sub(1, Ordering::SeqCst);
            }
            let result = match durable {
                Ok(()) => {
                    if wrote {
                        order_ctx.watchers.changed(executed.order.id);
                    }
                    order_ctx.effects.send(outbox, answer).await;
                    Ok(executed)
                }
                Err(e) => {
                    // Refused (another node wrote the order first) or lost: this actor's state
                    // is not storage's. The registry retries a refused command on a fresh
                    // activation.
                    stale.store(true, Ordering::SeqCst);
                    Err(EngineError::Storage(e))
                }
            };
            inflight.fetch_sub(1, Ordering::SeqCst);
            result
        })
    }
}

type Transition = (Executed, Commit, Vec<OutboxEntry>);

impl OrderActor {
    /// Decide and write, synchronously. Nothing here waits, so commands cannot interleave.
    fn transition(&mut self, msg: &Execute) -> Result<Transition, EngineError> {
        let now = self.ctx.clock.now();
        let planned = self.fill_in(&msg.command, now)?;
        let command = planned.as_ref().unwrap_or(&msg.command);
        let mut decided = decide(self.state.as_ref(), command, &msg.cause, now);
        if self.may_be_behind(&decided)? {
            decided = decide(self.state.as_ref(), command, &msg.cause, now);
        }
        let ctx = &self.ctx;
        let events = decided.inspect_err(|e| {
            tracing::debug!(error = %e, "command refused");
            ctx.stats.rejected.fetch_add(1, Ordering::Relaxed);
        })?;
        if events.is_empty() {
            let order = self.state.clone().ok_or(EngineError::NotFound)?;
            return Ok((
                Executed { order, events },
                self.last_commit.clone(),
                Vec::new(),
            ));
        }
        let after = fold(self.state.clone(), &events).ok_or(EngineError::NotFound)?;
        let mut r = reactions(self.state.as_ref(), &after, &events);
        r.set_timers.extend(self.deadline_timers(&after, &events));
        let outbox = ctx.outbox_entries(&after, &r.effects);
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
        let commit = ctx.store.commit_transition(&TransitionWrite {
            before: self.state.as_ref(),
            after: &after,
            events: &events,
            outbox: &outbox,
            set_timers: &r.set_timers,
            clear_timers: &r.clear_timers,
            idempotency: idempotency.as_ref().map(|(k, rec)| (*k, rec)),
        })?;
        for e in &events {
            tracing::info!(seq = e.seq, event = e.change.name(), "event recorded");
            if let Change::PickPackLate { shipment, .. } = &e.change {
                if let Some(s) = after.shipment(*shipment) {
                    ctx.stats.pick_pack_late.add(&s.warehouse);
                }
            }
        }
        ctx.stats
            .transitions
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        self.state = Some(after.clone());
        self.last_commit = commit.clone();
        self.unresolved.fetch_add(1, Ordering::SeqCst);
        Ok((
            Executed {
                order: after,
                events,
            },
            commit,
            outbox,
        ))
    }
}

impl OrderActor {
    /// The inputs of `decide` the shell works out from configuration (the shipping network,
    /// the warehouses' working hours), filled into the command: `None` when the command needs
    /// none.
    fn fill_in(
        &self,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Option<Command>, EngineError> {
        Ok(match command {
            Command::StockAllocated { .. } => self.with_plans(command, now),
            Command::CheckDeadlines { .. } => self.with_late_shipments(now)?,
            _ => None,
        })
    }

    /// The deadline timer's command with the shipments past their warehouse's pick-and-pack
    /// deadline, counted in the warehouse's working hours from the order's confirmation (the
    /// `confirmed` event's time, read from the history only when some shipment still waits to
    /// be packed at a warehouse with a deadline: most timers find every shipment packed).
    fn with_late_shipments(&self, now: DateTime<Utc>) -> Result<Option<Command>, EngineError> {
        let Some(order) = self.state.as_ref() else {
            return Ok(None);
        };
        let network = &self.ctx.config.shipping;
        let waiting: Vec<_> = order
            .shipments
            .iter()
            .filter(|s| s.status == ShipmentStatus::Allocated && !s.pick_pack_late)
            .filter(|s| network.pick_pack_due(&s.warehouse, now).is_some())
            .collect();
        if waiting.is_empty() {
            return Ok(None);
        }
        let history = self.ctx.store.history(order.id, order.version)?;
        let Some(confirmed) = confirmed_at(&history) else {
            return Ok(None);
        };
        let late = waiting
            .into_iter()
            .filter_map(|s| {
                let due = network.pick_pack_due(&s.warehouse, confirmed)?;
                (due <= now).then_some(LateShipment {
                    shipment: s.id,
                    due,
                })
            })
            .collect();
        Ok(Some(Command::CheckDeadlines { late }))
    }

    /// The deadline timers a transition sets: when it confirms the order, one per distinct
    /// pick-and-pack deadline of its shipments' warehouses (none for warehouses without one).
    fn deadline_timers(&self, after: &Order, events: &[Event]) -> Vec<Timer> {
        let Some(confirmed) = confirmed_at(events) else {
            return vec![];
        };
        let network = &self.ctx.config.shipping;
        let mut timers: Vec<Timer> = Vec::new();
        for s in after.open_shipments() {
            if let Some(due) = network.pick_pack_due(&s.warehouse, confirmed) {
                if !timers.iter().any(|t| t.due == due) {
                    timers.push(Timer {
                        order_id: after.id,
                        kind: TimerKind::DeadlineDue,
                        due,
                    });
                }
            }
        }
        timers
    }

    /// The inventory's allocation with each shipment's delivery plan filled in from the
    /// shipping network (carrier rules, prices, calendars): the one input of `decide` the
    /// shell works out, since it depends on configuration, not on the order alone. Planned
    /// from the moment the order was placed, so that an order placed on a quote is promised
    /// what it was quoted; a backordered order's, from now (its stock came later). `None`:
    /// nothing to plan (another command, or no order).
    fn with_plans(&self, command: &Command, now: DateTime<Utc>) -> Option<Command> {
        let Command::StockAllocated { shipments, reason } = command else {
            return None;
        };
        let order = self.state.as_ref()?;
        let from = if order.stock == StockState::Backordered {
            now
        } else {
            order.placed_at
        };
        let network = &self.ctx.config.shipping;
        let shipments = shipments
            .iter()
            .map(|a| Allocation {
                plan: network.plan_allocation(order, a, from),
                ..a.clone()
            })
            .collect();
        Some(Command::StockAllocated {
            shipments,
            reason: reason.clone(),
        })
    }

    /// With other nodes writing the same orders, what this actor holds may be behind storage.
    /// A write decided on it is refused by storage's version check (and retried), but a refusal
    /// or a no-op writes nothing: before answering one, reload the order, and return whether
    /// it had moved on (decide again then). Skipped while a write of this actor's own is
    /// unresolved: storage is then behind the actor, not ahead of it.
    fn may_be_behind(
        &mut self,
        decided: &Result<Vec<Event>, crate::domain::DomainError>,
    ) -> Result<bool, EngineError> {
        let wrote_nothing = decided.as_ref().map_or(true, |e| e.is_empty());
        if !wrote_nothing
            || !self.ctx.store.has_other_writers()
            || self.unresolved.load(Ordering::SeqCst) > 0
        {
            return Ok(false);
        }
        let stored = self.ctx.store.load_order_for_update(self.id)?;
        let held = self.state.as_ref().map(|o| o.version);
        match stored {
            Some(fresh) if Some(fresh.version) != held => {
                self.ctx.stats.reloads.fetch_add(1, Ordering::Relaxed);
                self.state = Some(fresh);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// When the order was confirmed: the time of the `confirmed` event among `events`.
fn confirmed_at(events: &[Event]) -> Option<DateTime<Utc>> {
    events
        .iter()
        .find(|e| matches!(e.change, Change::Confirmed))
        .map(|e| e.at)
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
