//! The notification actor: tells the outside world about customer-visible moments.
//!
//! When an order is confirmed, shipped, delivered, cancelled, ... the order actor does not send
//! anything itself. It writes an outbox entry per channel the message goes on (the machine
//! channels, and the person channels its route names for this customer: see
//! `NotifierConfig::person_channels`) in the same transition as the events that caused it, and `effects` hands the entry to this actor with [`Deliver`]. That split
//! is what makes notifications reliable: if the process dies after the transition is stored but
//! before the message went out, the entry is still in the outbox and is handed over again at
//! start. Delivery is therefore *at least once*; every attempt of a message carries the same
//! stable id ([`OutboxEntry::message_id`], sent as `webhook-id`, the e-mail's `Message-ID`, a
//! provider's `Idempotency-Key`), so receivers can drop the duplicates, and this actor never
//! sends a message whose entry is gone. A message delivered to a person is kept on its order's
//! message log (`Outbox::ack_outbox_sent`) as its entry goes.
//!
//! Each channel may bound its attempts under way (`Channel::max_in_flight`: an SMTP pool's
//! size, a provider's rate); the rest wait here in arrival order, an outbox entry each.
//!
//! Channels live behind [`channels::Channel`], one module each (`log`, `webhook`, `email`,
//! `provider` for SMS and WhatsApp):
//! this core knows none of them. It reads what the channel needs, hands it the message, and
//! acts on the outcome.
//!
//! A failed attempt is retried after an exponential backoff with full jitter (so that a
//! receiver coming back from an outage is not hit by every sender at the same instant), capped
//! so retries never drift hours apart. After `max_attempts` failures, or at once when the
//! channel says retrying cannot help (an SMTP server's 5xx), the entry moves to the
//! dead-letter list, where an operator can inspect the last error and requeue it. Retry state
//! (attempt count, next attempt time, last error) is written back to the outbox entry, so a
//! restart continues the schedule instead of starting it over.
//!
//! Attempts run concurrently as futures spawned in the actor's context: a slow receiver delays
//! only its own messages, never the actor's mailbox.

pub mod channels;
mod config;

pub use config::{
    NotifierConfig, OperationsConfig, WebhookConfig, EMAIL, LOG, SMS, WEBHOOK, WHATSAPP,
};

use crate::clock::Clock;
use crate::domain::{Effect, EffectKind};
use actix::prelude::*;
use channels::{Attempt, Channels, Needs, Outcome, Outgoing, Subject};
use orderly_storage::{DeadLetter, OutboxEntry, OutboxMessage, Storage};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// Backoff before attempt number `attempt` (1-based count of failures so far): full jitter,
/// exponential, capped: random in [0, min(cap, base * 2^(attempt-1))], but never less than
/// base/2. `rand01` is a number in [0,1) supplied by the caller so this stays pure and testable.
///
/// Full jitter spreads the retries of many messages that failed together (a receiver outage)
/// over the whole window instead of having them return in lockstep; the base/2 floor keeps an
/// unlucky draw from retrying a failing receiver immediately.
pub fn backoff(base_ms: u64, cap_ms: u64, attempt: u32, rand01: f64) -> Duration {
    let doublings = attempt.max(1) - 1;
    let factor = 1u64.checked_shl(doublings).unwrap_or(u64::MAX);
    let ceiling = base_ms.saturating_mul(factor).min(cap_ms);
    let r = if rand01.is_finite() {
        rand01.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let jittered = (r * ceiling as f64) as u64;
    Duration::from_millis(jittered.max(base_ms / 2))
}

/// A number in [0, 1) for the jitter. Not security-sensitive: any spread will do, so if the
/// OS generator fails we fall back to std's per-process random hasher keys.
fn rand01() -> f64 {
    let bits = getrandom::u64().unwrap_or_else(|_| {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    });
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Deliver (or schedule, honouring entry.next_attempt_at) one outbox entry that is a
/// notification (an order's `Notify` effect, or a stock notice) with `channel`
/// Some("log"|"webhook").
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Deliver {
    pub entry: OutboxEntry,
    pub origin: Origin,
}

/// Where a [`Deliver`]'s entry comes from, which says what its first attempt must check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Handed over by the transition that wrote it, right after its commit: it is in the
    /// outbox and its order exists, so the first attempt reads neither back.
    Commit,
    /// Read back from storage (at start, taken over from a stopped node, requeued from the
    /// dead letters): checked against storage first, like every retry.
    Storage,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifierStats {
    /// Messages delivered (one per outbox entry).
    pub delivered: u64,
    /// Attempts that failed, retried or not.
    pub failed_attempts: u64,
    /// Messages moved to the dead-letter list.
    pub dead_lettered: u64,
    /// Messages that went out in English because their locale had no template.
    pub locale_fallbacks: u64,
    /// SMS parts sent (what providers bill).
    pub sms_segments: u64,
    /// Messages held back now, waiting for a channel's attempts under way to end.
    pub held_back: u64,
}

#[derive(Debug, Message)]
#[rtype(result = "NotifierStats")]
pub struct GetStats;

pub struct Notifier {
    /// Outbox and order reads (a webhook's body is the order as it is).
    store: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    config: NotifierConfig,
    channels: Channels,
    /// Outbox keys with an attempt running or scheduled. A second `Deliver` for one of them
    /// (the engine resending at start while a retry is pending, say) is ignored, so a message
    /// never has two retry chains counting attempts against each other.
    pending: HashSet<String>,
    /// Attempts under way per channel name, for the channels that bound them.
    in_flight: HashMap<String, usize>,
    /// Per channel name, the attempts waiting for one under way to end, oldest first.
    waiting: HashMap<String, VecDeque<(OutboxEntry, Origin)>>,
    stats: NotifierStats,
}

/// What an attempt needs to know about the order.
#[derive(Clone, Copy)]
enum OrderRead {
    Nothing,
    Exists,
    Load,
}

/// An attempt's reads: the stored entry, and the order as far as the channel needs it
/// (`Some(None)` when only its existence was asked for and it exists).
struct AttemptRead {
    stored: Result<Option<OutboxEntry>, String>,
    order: Result<Option<Option<crate::domain::Order>>, String>,
}

impl AttemptRead {
    fn of(
        store: &dyn Storage,
        entry: &OutboxEntry,
        needs: OrderRead,
        origin: Origin,
    ) -> AttemptRead {
        let stored = match origin {
            Origin::Commit => Ok(Some(entry.clone())),
            Origin::Storage => store.outbox_entry(entry).map_err(|e| e.to_string()),
        };
        let order = match (entry.order_id(), &stored, needs) {
            (Some(id), Ok(Some(_)), OrderRead::Exists) => store
                .order_exists(id)
                .map(|exists| exists.then_some(None))
                .map_err(|e| e.to_string()),
            (Some(id), Ok(Some(_)), OrderRead::Load) => store
                .load_order(id)
                .map(|o| o.map(Some))
                .map_err(|e| e.to_string()),
            _ => Ok(None),
        };
        AttemptRead { stored, order }
    }

    /// Nothing read: the entry was just committed, with its order (see [`Origin::Commit`]).
    fn committed(entry: OutboxEntry) -> AttemptRead {
        AttemptRead {
            stored: Ok(Some(entry)),
            order: Ok(Some(None)),
        }
    }

    fn failed(why: &str) -> AttemptRead {
        AttemptRead {
            stored: Err(why.to_string()),
            order: Err(why.to_string()),
        }
    }
}

impl Notifier {
    pub fn new(store: Arc<dyn Storage>, clock: Arc<dyn Clock>, config: NotifierConfig) -> Self {
        let speech = channels::Speech::new(&config).map(Arc::new);
        Notifier::with_speech(store, clock, config, speech)
    }

    /// The same, speaking with templates already loaded (the engine's, loaded once at start).
    pub fn with_speech(
        store: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        config: NotifierConfig,
        speech: Result<Arc<channels::Speech>, String>,
    ) -> Self {
        Notifier {
            store,
            clock,
            channels: Channels::build(&config, speech),
            config,
            pending: HashSet::new(),
            in_flight: HashMap::new(),
            waiting: HashMap::new(),
            stats: NotifierStats::default(),
        }
    }

    fn backoff_after(&self, failures: u32) -> Duration {
        backoff(
            self.config.backoff_base_ms,
            self.config.backoff_cap_ms,
            failures,
            rand01(),
        )
    }

    /// Runs an attempt after `delay` of real time. The delay is real time, not the injected
    /// clock's: a timer has to fire even when a test's manual clock stands still.
    fn schedule(&mut self, entry: OutboxEntry, delay: Duration, ctx: &mut Context<Self>) {
        ctx.run_later(delay, move |act, ctx| {
            act.attempt(entry, Origin::Storage, ctx)
        });
    }

    /// One delivery attempt. `entry` is our latest view of the message; the store has the
    /// authoritative one, read first (with the order, when the channel needs it). With storage
    /// across the network those reads run on the blocking pool, so this actor keeps taking
    /// messages while they wait; otherwise they are answered at once.
    fn attempt(&mut self, entry: OutboxEntry, origin: Origin, ctx: &mut Context<Self>) {
        if !self.take_slot(&entry, origin) {
            return;
        }
        let needs = match self.channels.route(&entry) {
            // A stock notice carries everything its message says, and has no order.
            _ if entry.stock_notice().is_some() => OrderRead::Nothing,
            Ok((channel, _)) => match (channel.needs(), origin) {
                (Needs::OrderExists, Origin::Commit) => OrderRead::Nothing,
                (Needs::OrderExists, Origin::Storage) => OrderRead::Exists,
                (Needs::Order, _) => OrderRead::Load,
            },
            Err(_) => OrderRead::Nothing,
        };
        if origin == Origin::Commit && matches!(needs, OrderRead::Nothing) {
            return self.attempt_with(entry.clone(), AttemptRead::committed(entry), ctx);
        }
        let store = self.store.clone();
        let key = entry.clone();
        let read = move || AttemptRead::of(&*store, &key, needs, origin);
        if !self.store.reads_wait_on_network() {
            let read = read();
            return self.attempt_with(entry, read, ctx);
        }
        let reading = async move {
            actix_rt::task::spawn_blocking(read)
                .await
                .unwrap_or_else(|_| AttemptRead::failed("the read did not finish"))
        };
        ctx.spawn(
            reading
                .into_actor(self)
                .map(move |read, act, ctx| act.attempt_with(entry, read, ctx)),
        );
    }

    /// Takes one of the entry's channel's slots for an attempt under way; when they are all
    /// taken, the entry waits for one (false).
    fn take_slot(&mut self, entry: &OutboxEntry, origin: Origin) -> bool {
        let Ok((name, _)) = Channels::name_of(entry) else {
            return true;
        };
        let Some(bound) = self.channels.max_in_flight(&name) else {
            return true;
        };
        let busy = self.in_flight.entry(name.clone()).or_insert(0);
        if *busy < bound {
            *busy += 1;
            return true;
        }
        self.waiting
            .entry(name)
            .or_default()
            .push_back((entry.clone(), origin));
        false
    }

    /// An attempt of `entry` ended (delivered, failed, scheduled again or found gone): its
    /// slot goes to the next waiting entry of the same channel, if any.
    fn release_slot(&mut self, entry: &OutboxEntry, ctx: &mut Context<Self>) {
        let Ok((name, _)) = Channels::name_of(entry) else {
            return;
        };
        if self.channels.max_in_flight(&name).is_none() {
            return;
        }
        if let Some(busy) = self.in_flight.get_mut(&name) {
            *busy = busy.saturating_sub(1);
        }
        let next = self.waiting.get_mut(&name).and_then(VecDeque::pop_front);
        if let Some((next, origin)) = next {
            // Through the mailbox, not a nested call: a run of attempts that end at once
            // (messages that cannot be composed) does not grow the stack.
            ctx.spawn(
                futures::future::ready(())
                    .into_actor(self)
                    .map(move |_, act, ctx| act.attempt(next, origin, ctx)),
            );
        }
    }

    /// The attempt, once its reads are back.
    fn attempt_with(&mut self, entry: OutboxEntry, read: AttemptRead, ctx: &mut Context<Self>) {
        let key = entry.message_id();
        // If the entry is gone the message was delivered (or dead-lettered) already, and
        // sending it again would only make noise.
        let entry = match read.stored {
            Ok(Some(stored)) => {
                // If writing our retry state failed, memory is ahead of the store: keep the
                // larger count so storage trouble cannot make a message retry forever.
                let attempts = stored.attempts.max(entry.attempts);
                OutboxEntry { attempts, ..stored }
            }
            Ok(None) => {
                self.pending.remove(&key);
                return self.release_slot(&entry, ctx);
            }
            Err(e) => {
                tracing::warn!(message_id = %entry.message_id(), error = %e, "notifier could not read the outbox; retrying later");
                self.release_slot(&entry, ctx);
                let delay = self.backoff_after(entry.attempts.saturating_add(1));
                return self.schedule(entry, delay, ctx);
            }
        };
        let (channel, recipient) = match self.channels.route(&entry) {
            Ok(routed) => routed,
            Err(e) => return self.finish(entry, Outcome::Permanent(e), ctx),
        };
        let subject = match &entry.message {
            OutboxMessage::Stock(notice) => Subject::Notice(notice.clone()),
            OutboxMessage::Order(Effect {
                kind: EffectKind::Notify { kind },
                ..
            }) => {
                let order = match read.order {
                    Ok(Some(order)) => order,
                    Ok(None) => {
                        let missing = Outcome::Permanent("order not found".to_string());
                        return self.finish(entry, missing, ctx);
                    }
                    Err(e) => {
                        tracing::warn!(message_id = %entry.message_id(), error = %e, "notifier could not read the order; retrying later");
                        let failed = Outcome::Failed(format!("storage: {e}"));
                        return self.finish(entry, failed, ctx);
                    }
                };
                Subject::Order {
                    kind: *kind,
                    order: order.map(Box::new),
                }
            }
            OutboxMessage::Order(_) => {
                // Not ours: leave it in the outbox for the actor that handles that action.
                tracing::warn!(message_id = %entry.message_id(), "notifier was handed an outbox entry that is not a notification");
                self.pending.remove(&key);
                return self.release_slot(&entry, ctx);
            }
        };
        let message = Outgoing {
            message_id: entry.message_id(),
            entry: entry.clone(),
            subject,
            recipient,
            now: self.clock.now(),
        };
        match channel.send(message) {
            Attempt::Done(outcome) => self.finish(entry, outcome, ctx),
            Attempt::Pending(sending) => {
                ctx.spawn(
                    sending
                        .into_actor(self)
                        .map(move |outcome, act, ctx| act.finish(entry, outcome, ctx)),
                );
            }
        }
    }

    /// Records how an attempt ended and decides what happens next.
    fn finish(&mut self, mut entry: OutboxEntry, outcome: Outcome, ctx: &mut Context<Self>) {
        self.release_slot(&entry, ctx);
        let key = entry.message_id();
        let (error, permanent) = match outcome {
            Outcome::Delivered(receipt) => {
                if receipt.fell_back {
                    self.stats.locale_fallbacks += 1;
                }
                self.stats.sms_segments += u64::from(receipt.segments.unwrap_or(0));
                // Not waited on: if the removal is lost, a restart redelivers the message under
                // the same id, which receivers drop (and the log keeps its first record).
                let acked = match sent_record(&entry, &receipt, self.clock.now()) {
                    Some(sent) => self.store.ack_outbox_sent(&entry, &sent),
                    None => self.store.ack_outbox(&entry),
                };
                if let Err(e) = acked {
                    tracing::warn!(message_id = %entry.message_id(), error = %e, "could not remove a delivered notification from the outbox");
                }
                self.stats.delivered += 1;
                self.pending.remove(&key);
                return;
            }
            Outcome::Failed(e) => (e, false),
            Outcome::Permanent(e) => (e, true),
        };
        self.stats.failed_attempts += 1;
        entry.attempts = entry.attempts.saturating_add(1);
        entry.last_error = Some(error.clone());
        let now = self.clock.now();
        let message_id = entry.message_id();

        if permanent || entry.attempts >= self.config.max_attempts {
            let letter = DeadLetter {
                message_id: message_id.clone(),
                order_id: entry.order_id(),
                kind: entry.kind_name().to_string(),
                channel: entry.channel.clone(),
                attempts: entry.attempts,
                last_error: Some(error.clone()),
                failed_at: now,
                entry: None,
            };
            match self.store.dead_letter(&entry, &letter) {
                Ok(_) => {
                    tracing::warn!(message_id = %message_id, attempts = entry.attempts, error = %error, "notification dead-lettered");
                    self.stats.dead_lettered += 1;
                    self.pending.remove(&key);
                }
                Err(e) => {
                    // The entry is still in the outbox; try the whole thing again later.
                    tracing::warn!(message_id = %message_id, error = %e, "could not dead-letter a notification; retrying later");
                    let delay = self.backoff_after(entry.attempts);
                    self.schedule(entry, delay, ctx);
                }
            }
            return;
        }

        let delay = self.backoff_after(entry.attempts);
        entry.next_attempt_at =
            Some(now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX));
        tracing::info!(message_id = %message_id, attempts = entry.attempts, error = %error, retry_in_ms = delay.as_millis() as u64, "notification attempt failed");
        // Not waited on: losing this only means a restart retries a little early.
        if let Err(e) = self.store.record_outbox_attempt(&entry) {
            tracing::warn!(message_id = %message_id, error = %e, "could not record a notification's retry state");
        }
        self.schedule(entry, delay, ctx);
    }
}

/// What a message delivered to a person leaves on its order's message log (`None`: it went to
/// a machine — the log, a webhook — or is about no order).
fn sent_record(
    entry: &OutboxEntry,
    receipt: &channels::Receipt,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<orderly_storage::SentMessage> {
    let effect = entry.effect()?;
    let EffectKind::Notify { kind } = effect.kind else {
        return None;
    };
    Some(orderly_storage::SentMessage {
        message_id: entry.message_id(),
        order_id: effect.order_id,
        kind: kind.as_str().to_string(),
        channel: entry.channel.clone().unwrap_or_default(),
        to: receipt.to.clone()?,
        sent_at: now,
        attempts: entry.attempts.saturating_add(1),
        provider_id: receipt.provider_id.clone(),
        segments: receipt.segments,
        locale: receipt.locale.clone(),
    })
}

impl Actor for Notifier {
    type Context = Context<Self>;
}

impl Handler<Deliver> for Notifier {
    type Result = ();

    fn handle(&mut self, Deliver { entry, origin }: Deliver, ctx: &mut Context<Self>) {
        if !self.pending.insert(entry.message_id()) {
            tracing::debug!(message_id = %entry.message_id(), "notification already pending; ignoring a repeated Deliver");
            return;
        }
        // A stored entry that failed before (and survived a restart) keeps its schedule.
        let now = self.clock.now();
        let wait = entry
            .next_attempt_at
            .and_then(|at| (at - now).to_std().ok())
            .filter(|d| !d.is_zero());
        match wait {
            Some(wait) => self.schedule(entry, wait, ctx),
            None => self.attempt(entry, origin, ctx),
        }
    }
}

impl Handler<GetStats> for Notifier {
    type Result = MessageResult<GetStats>;

    fn handle(&mut self, _: GetStats, _: &mut Context<Self>) -> Self::Result {
        let held_back = self.waiting.values().map(|w| w.len() as u64).sum();
        MessageResult(NotifierStats {
            held_back,
            ..self.stats
        })
    }
}

#[cfg(test)]
mod tests;
