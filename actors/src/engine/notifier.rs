//! The notification actor: tells the outside world about customer-visible moments.
//!
//! When an order is confirmed, shipped, delivered, cancelled, ... the order actor does not send
//! anything itself. It writes an outbox entry, one per enabled channel, in the same transition as
//! the events that caused it, and `effects` hands the entry to this actor with [`Deliver`]. That split
//! is what makes notifications reliable: if the process dies after the transition is stored but
//! before the message went out, the entry is still in the outbox and is handed over again at
//! start. Delivery is therefore *at least once*; every attempt of a message carries the same
//! stable id ([`OutboxEntry::message_id`], sent as `webhook-id`), so receivers can drop the
//! duplicates, and this actor never sends a message whose entry is gone.
//!
//! Channels:
//!
//! * `log`: a structured `tracing` line. Cannot fail; useful for development and audits.
//! * `webhook`: an HTTP POST of a JSON body in the Standard Webhooks shape, signed with the
//!   shared secret (see [`super::webhook`]). A 2xx answer is success; anything else, a
//!   connection error or a timeout is a failure.
//!
//! A failed attempt is retried after an exponential backoff with full jitter (so that a
//! receiver coming back from an outage is not hit by every sender at the same instant), capped
//! so retries never drift hours apart. After `max_attempts` failures the entry moves to the
//! dead-letter list, where an operator can inspect the last error and requeue it. Retry state
//! (attempt count, next attempt time, last error) is written back to the outbox entry, so a
//! restart continues the schedule instead of starting it over.
//!
//! Attempts run concurrently as futures spawned in the actor's context: a slow receiver delays
//! only its own messages, never the actor's mailbox.

use super::webhook::{sign, WebhookSecret};
use crate::clock::Clock;
use crate::domain::stock_alerts::{NoticeKind, StockNotice};
use crate::domain::Audience;
use crate::domain::{Effect, EffectKind, NotificationKind, Order};
use actix::prelude::*;
use chrono::{DateTime, SecondsFormat, Utc};
use orderly_storage::{DeadLetter, OutboxEntry, OutboxMessage, Storage};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

const LOG: &str = "log";
const WEBHOOK: &str = "webhook";

fn yes() -> bool {
    true
}

fn default_max_attempts() -> u32 {
    8
}

fn default_backoff_base_ms() -> u64 {
    500
}

fn default_backoff_cap_ms() -> u64 {
    60_000
}

fn default_timeout_ms() -> u64 {
    5_000
}

/// The `notifications` section of the configuration.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    /// Log channel on/off.
    #[serde(default = "yes")]
    pub log: bool,
    /// HTTP webhook channel; off when absent.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// Attempts per message (the first one included) before it is dead-lettered.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Backoff scale: the first retry waits about this long.
    #[serde(default = "default_backoff_base_ms")]
    pub backoff_base_ms: u64,
    /// Longest wait between two attempts.
    #[serde(default = "default_backoff_cap_ms")]
    pub backoff_cap_ms: u64,
    /// Where operations alerts (`low_stock`) go.
    #[serde(default)]
    pub operations: OperationsConfig,
}

/// `[notifications.operations]`: the operations recipients of stock alerts. By default they
/// are logged and, when the shop has a `notifications.webhook`, posted there too.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OperationsConfig {
    /// Log operations alerts (default: on).
    #[serde(default = "yes")]
    pub log: bool,
    /// Where to POST operations alerts, signed like every webhook; absent: the shop's
    /// `notifications.webhook`, if there is one.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
}

impl Default for OperationsConfig {
    fn default() -> Self {
        OperationsConfig {
            log: yes(),
            webhook: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST notifications; `http://` only in this build.
    pub url: String,
    /// Signing secret, `whsec_<base64>` (Standard Webhooks) or a raw string.
    pub secret: String,
    /// Limit on one attempt, connecting included.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl WebhookConfig {
    /// Checks one webhook's settings; `at` names its section in messages.
    fn validate(&self, at: &str) -> Result<(), String> {
        let url = self.url.trim();
        if url.len() >= 8 && url[..8].eq_ignore_ascii_case("https://") {
            return Err(format!(
                "{at}.url: https is not supported by this build (it has no TLS); use an http:// URL, e.g. to a local TLS-terminating proxy: '{url}'"
            ));
        }
        if !url.starts_with("http://") {
            return Err(format!("{at}.url: must start with http://, got '{url}'"));
        }
        match url.parse::<awc::http::Uri>() {
            Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => {}
            Ok(_) => return Err(format!("{at}.url: '{url}' has no host")),
            Err(e) => return Err(format!("{at}.url: '{url}' is not a valid URL: {e}")),
        }
        WebhookSecret::parse(&self.secret).map_err(|e| format!("{at}.secret: {e}"))?;
        if self.timeout_ms == 0 {
            return Err(format!("{at}.timeout_ms: must be at least 1"));
        }
        Ok(())
    }
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            log: yes(),
            webhook: None,
            max_attempts: default_max_attempts(),
            backoff_base_ms: default_backoff_base_ms(),
            backoff_cap_ms: default_backoff_cap_ms(),
            operations: OperationsConfig::default(),
        }
    }
}

impl NotifierConfig {
    /// Names of enabled channels: "log" and/or "webhook", in that order. The engine writes one
    /// outbox entry per channel.
    pub fn channels(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.log {
            out.push(LOG.to_string());
        }
        if self.webhook.is_some() {
            out.push(WEBHOOK.to_string());
        }
        out
    }

    /// Names of the channels operations alerts go to: "log" (`operations.log`) and/or
    /// "webhook" (`operations.webhook`, or else the shop's webhook). The stock alerts write one
    /// outbox entry per channel; the notifier resolves the names against `operations`.
    pub fn operations_channels(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.operations.log {
            out.push(LOG.to_string());
        }
        if self.operations.webhook.is_some() || self.webhook.is_some() {
            out.push(WEBHOOK.to_string());
        }
        out
    }

    /// Checks the section at start, so a bad URL or secret stops the service with a clear
    /// message instead of filling the dead-letter list later.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(w) = &self.webhook {
            w.validate("notifications.webhook")?;
        }
        if let Some(w) = &self.operations.webhook {
            w.validate("notifications.operations.webhook")?;
        }
        if self.max_attempts == 0 {
            return Err("notifications.max_attempts: must be at least 1".to_string());
        }
        if self.backoff_base_ms == 0 {
            return Err("notifications.backoff_base_ms: must be at least 1".to_string());
        }
        if self.backoff_base_ms > self.backoff_cap_ms {
            return Err(format!(
                "notifications.backoff_base_ms: {} is larger than notifications.backoff_cap_ms ({})",
                self.backoff_base_ms, self.backoff_cap_ms
            ));
        }
        Ok(())
    }
}

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
}

#[derive(Debug, Message)]
#[rtype(result = "NotifierStats")]
pub struct GetStats;

pub struct Notifier {
    /// Outbox and order reads (a webhook's body is the order as it is).
    store: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    config: NotifierConfig,
    /// Parsed once; `Err` holds the reason when the secret is unusable (only possible if the
    /// config skipped `validate`), and webhook messages are then dead-lettered with it.
    secret: Option<Result<WebhookSecret, String>>,
    /// The same for `operations.webhook`.
    operations_secret: Option<Result<WebhookSecret, String>>,
    /// Outbox keys with an attempt running or scheduled. A second `Deliver` for one of them
    /// (the engine resending at start while a retry is pending, say) is ignored, so a message
    /// never has two retry chains counting attempts against each other.
    pending: HashSet<String>,
    stats: NotifierStats,
}

/// How one attempt ended.
enum Outcome {
    Delivered,
    /// Worth retrying: the receiver or the storage may recover.
    Failed(String),
    /// Retrying cannot help (the order is gone, the channel is not configured): dead-letter now,
    /// for an operator to look at.
    Permanent(String),
}

/// Where a message goes, resolved from the entry's channel name and the configuration.
enum Channel {
    Log,
    Webhook {
        url: String,
        timeout: Duration,
        secret: WebhookSecret,
    },
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
    order: Result<Option<Option<Order>>, String>,
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
        let secret = config
            .webhook
            .as_ref()
            .map(|w| WebhookSecret::parse(&w.secret));
        let operations_secret = config
            .operations
            .webhook
            .as_ref()
            .map(|w| WebhookSecret::parse(&w.secret));
        Notifier {
            store,
            clock,
            config,
            secret,
            operations_secret,
            pending: HashSet::new(),
            stats: NotifierStats::default(),
        }
    }

    fn channel(&self, name: Option<&str>) -> Result<Channel, String> {
        match name {
            Some(LOG) if self.config.log => Ok(Channel::Log),
            Some(WEBHOOK) => match (&self.config.webhook, &self.secret) {
                (Some(w), Some(Ok(secret))) => Ok(Channel::Webhook {
                    url: w.url.trim().to_string(),
                    timeout: Duration::from_millis(w.timeout_ms),
                    secret: secret.clone(),
                }),
                (Some(_), Some(Err(e))) => Err(format!("webhook secret is unusable: {e}")),
                _ => Err("channel 'webhook' is not configured".to_string()),
            },
            Some(LOG) => Err("channel 'log' is disabled".to_string()),
            Some(other) => Err(format!("unknown notification channel '{other}'")),
            None => Err("outbox entry has no notification channel".to_string()),
        }
    }

    /// Where an entry goes: its channel name resolved for its audience — a stock notice for
    /// operations, or an order's notification on an `operations.<channel>` (a shipment
    /// `delayed`), against `operations` (its webhook, or else the shop's), everything else
    /// (customers' notifications, back-in-stock messages to subscribers) against the shop's
    /// channels.
    fn channel_of(&self, entry: &OutboxEntry) -> Result<Channel, String> {
        let mut name = entry.channel.as_deref();
        let mut for_operations =
            entry.stock_notice().map(|n| n.kind.audience()) == Some(Audience::Operations);
        if let Some(rest) = name.and_then(|n| n.strip_prefix(super::order_actor::OPERATIONS_PREFIX))
        {
            name = Some(rest);
            for_operations = true;
        }
        if !for_operations {
            return self.channel(name);
        }
        match name {
            Some(LOG) if self.config.operations.log => Ok(Channel::Log),
            Some(LOG) => Err("channel 'log' is disabled for operations alerts".to_string()),
            Some(WEBHOOK) => match (&self.config.operations.webhook, &self.operations_secret) {
                (Some(w), Some(Ok(secret))) => Ok(Channel::Webhook {
                    url: w.url.trim().to_string(),
                    timeout: Duration::from_millis(w.timeout_ms),
                    secret: secret.clone(),
                }),
                (Some(_), Some(Err(e))) => {
                    Err(format!("operations webhook secret is unusable: {e}"))
                }
                _ => self.channel(name),
            },
            other => self.channel(other),
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
        let needs = match (self.channel_of(&entry), origin) {
            // A stock notice carries everything its message says, and has no order.
            _ if entry.stock_notice().is_some() => OrderRead::Nothing,
            (Ok(Channel::Log), Origin::Commit) => OrderRead::Nothing,
            (Ok(Channel::Log), Origin::Storage) => OrderRead::Exists,
            (Ok(Channel::Webhook { .. }), _) => OrderRead::Load,
            (Err(_), _) => OrderRead::Nothing,
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
                return;
            }
            Err(e) => {
                tracing::warn!(message_id = %entry.message_id(), error = %e, "notifier could not read the outbox; retrying later");
                let delay = self.backoff_after(entry.attempts.saturating_add(1));
                return self.schedule(entry, delay, ctx);
            }
        };
        let kind = match &entry.message {
            OutboxMessage::Stock(notice) => {
                let notice = notice.clone();
                return match self.channel_of(&entry) {
                    Ok(channel) => self.deliver_notice(entry, notice, channel, ctx),
                    Err(e) => self.finish(entry, Outcome::Permanent(e), ctx),
                };
            }
            OutboxMessage::Order(Effect {
                kind: EffectKind::Notify { kind },
                ..
            }) => *kind,
            OutboxMessage::Order(_) => {
                // Not ours: leave it in the outbox for the actor that handles that action.
                tracing::warn!(message_id = %entry.message_id(), "notifier was handed an outbox entry that is not a notification");
                self.pending.remove(&key);
                return;
            }
        };
        let channel = match self.channel_of(&entry) {
            Ok(c) => c,
            Err(e) => return self.finish(entry, Outcome::Permanent(e), ctx),
        };
        let now = self.clock.now();
        let message_id = entry.message_id();
        match channel {
            Channel::Log => {
                // The log line needs no order data, only the order's existence (a message for a
                // missing order is dead-lettered like on the webhook channel).
                match read.order {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        let missing = Outcome::Permanent("order not found".to_string());
                        return self.finish(entry, missing, ctx);
                    }
                    Err(e) => {
                        let failed = Outcome::Failed(format!("storage: {e}"));
                        return self.finish(entry, failed, ctx);
                    }
                }
                tracing::info!(
                    message_id = %message_id,
                    order_id = %entry.order_id().unwrap_or_default(),
                    kind = kind.as_str(),
                    "notification"
                );
                self.finish(entry, Outcome::Delivered, ctx);
            }
            Channel::Webhook {
                url,
                timeout,
                secret,
            } => {
                // Only the webhook needs the order (for the payload); the log line does not.
                let order = match read.order {
                    Ok(Some(Some(order))) => order,
                    Ok(_) => {
                        return self.finish(
                            entry,
                            Outcome::Permanent("order not found".to_string()),
                            ctx,
                        )
                    }
                    Err(e) => {
                        tracing::warn!(message_id = %entry.message_id(), error = %e, "notifier could not load the order; retrying later");
                        return self.finish(entry, Outcome::Failed(format!("storage: {e}")), ctx);
                    }
                };
                // The body and timestamp are rebuilt per attempt (the timestamp says when this
                // attempt was made); the id stays the same so receivers can deduplicate.
                let body = payload(&message_id, kind, &entry, &order, now)
                    .to_string()
                    .into_bytes();
                self.post_signed(entry, url, timeout, secret, body, ctx);
            }
        }
    }

    /// A stock notice's delivery: everything it says is in the entry.
    fn deliver_notice(
        &mut self,
        entry: OutboxEntry,
        notice: StockNotice,
        channel: Channel,
        ctx: &mut Context<Self>,
    ) {
        let message_id = entry.message_id();
        match channel {
            Channel::Log => {
                // No contact in the log: it is personal data; the subject names the subscription.
                match &notice.kind {
                    NoticeKind::LowStock {
                        warehouse,
                        sku,
                        reorder_point,
                        available,
                    } => tracing::info!(
                        message_id = %message_id,
                        kind = notice.kind.name(),
                        warehouse = %warehouse,
                        sku = %sku,
                        reorder_point,
                        available,
                        "stock alert"
                    ),
                    NoticeKind::BackInStock { sku, available, .. } => tracing::info!(
                        message_id = %message_id,
                        kind = notice.kind.name(),
                        subscription = %notice.subject,
                        sku = %sku,
                        available,
                        "stock alert"
                    ),
                }
                self.finish(entry, Outcome::Delivered, ctx);
            }
            Channel::Webhook {
                url,
                timeout,
                secret,
            } => {
                let body = notice_payload(&message_id, &notice, self.clock.now())
                    .to_string()
                    .into_bytes();
                self.post_signed(entry, url, timeout, secret, body, ctx);
            }
        }
    }

    /// One webhook attempt of `entry`'s message with `body`, signed, finished when answered.
    fn post_signed(
        &mut self,
        entry: OutboxEntry,
        url: String,
        timeout: Duration,
        secret: WebhookSecret,
        body: Vec<u8>,
        ctx: &mut Context<Self>,
    ) {
        // The body and timestamp are rebuilt per attempt (the timestamp says when this attempt
        // was made); the id stays the same so receivers can deduplicate.
        let message_id = entry.message_id();
        let timestamp = self.clock.now().timestamp();
        let signature = sign(&secret, &message_id, timestamp, &body);
        let fut = post(url, timeout, message_id, timestamp, signature, body);
        ctx.spawn(
            fut.into_actor(self)
                .map(move |outcome, act, ctx| act.finish(entry, outcome, ctx)),
        );
    }

    /// Records how an attempt ended and decides what happens next.
    fn finish(&mut self, mut entry: OutboxEntry, outcome: Outcome, ctx: &mut Context<Self>) {
        let key = entry.message_id();
        let (error, permanent) = match outcome {
            Outcome::Delivered => {
                // Not waited on: if the removal is lost, a restart redelivers the message under
                // the same id, which receivers drop.
                if let Err(e) = self.store.ack_outbox(&entry) {
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
        MessageResult(self.stats)
    }
}

/// The message body, in the Standard Webhooks payload shape (`type`, `timestamp`, `data`).
/// Fields the order does not have yet (no booking, no refund) are `null`, so receivers see
/// the same keys for every kind.
fn payload(
    message_id: &str,
    kind: NotificationKind,
    entry: &OutboxEntry,
    order: &Order,
    now: DateTime<Utc>,
) -> serde_json::Value {
    let booking = order.booking();
    serde_json::json!({
        "type": format!("order.{}", kind.as_str()),
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": {
            "message_id": message_id,
            "order_id": order.id,
            "external_ref": order.external_ref,
            "kind": kind.as_str(),
            "status": order.status.as_str(),
            "step": entry.effect().map(|e| e.step),
            "customer": {
                "id": order.customer.id,
                "email": order.customer.email,
                "locale": order.customer.locale,
            },
            "tracking_token": order.tracking_token,
            "carrier": booking.map(|b| &b.carrier),
            "tracking_number": booking.map(|b| &b.tracking_number),
            "estimated_delivery": booking.map(|b| b.estimated_delivery),
            "promised": order.promised_window().map(|(earliest, latest)| serde_json::json!({
                "earliest": earliest,
                "latest": latest,
            })),
            "refunded": order.refunded,
            "cancellation_reason": order.cancellation.as_ref().map(|c| &c.reason),
        }
    })
}

/// A stock notice's body, in the same Standard Webhooks shape: `type` is `stock.low_stock` or
/// `stock.back_in_stock`. A back-in-stock message carries the subscriber's `contact` (an e-mail
/// address or a phone number): the receiver tells them (real e-mail and SMS channels are for
/// later).
fn notice_payload(message_id: &str, notice: &StockNotice, now: DateTime<Utc>) -> serde_json::Value {
    let kind = notice.kind.name();
    let data = match &notice.kind {
        NoticeKind::LowStock {
            warehouse,
            sku,
            reorder_point,
            available,
        } => serde_json::json!({
            "message_id": message_id,
            "kind": kind,
            "warehouse": warehouse,
            "sku": sku,
            "reorder_point": reorder_point,
            "available": available,
            "alert": notice.seq,
        }),
        NoticeKind::BackInStock {
            sku,
            contact,
            available,
        } => serde_json::json!({
            "message_id": message_id,
            "kind": kind,
            "sku": sku,
            "contact": contact,
            "available": available,
            "subscription_id": notice.subject,
        }),
    };
    serde_json::json!({
        "type": format!("stock.{kind}"),
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
    })
}

/// One webhook attempt.
async fn post(
    url: String,
    timeout: Duration,
    id: String,
    timestamp: i64,
    signature: String,
    body: Vec<u8>,
) -> Outcome {
    let sent = http_client()
        .post(url.as_str())
        .timeout(timeout)
        .insert_header(("content-type", "application/json"))
        .insert_header(("user-agent", concat!("orderly/", env!("CARGO_PKG_VERSION"))))
        .insert_header(("webhook-id", id))
        .insert_header(("webhook-timestamp", timestamp.to_string()))
        .insert_header(("webhook-signature", signature))
        .send_body(body)
        .await;
    match sent {
        Ok(res) if res.status().is_success() => Outcome::Delivered,
        Ok(res) => Outcome::Failed(format!("HTTP {}", res.status().as_u16())),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// The HTTP client, shared by every attempt on this thread so connections are reused.
///
/// awc's client is single-threaded (`Rc` inside) and its pooled connections belong to the
/// runtime they were opened on. Keeping it in a thread-local rather than in the actor keeps
/// `Notifier` `Send` (the engine may build it on one thread and start it on another); keying it
/// by the actix `System` makes sure a new system on the same thread (tests) gets a fresh pool
/// instead of connections bound to a runtime that no longer exists.
pub(super) fn http_client() -> awc::Client {
    thread_local! {
        static CLIENT: RefCell<Option<(usize, awc::Client)>> = const { RefCell::new(None) };
    }
    let system = actix_rt::System::try_current().map(|s| s.id());
    CLIENT.with(|cell| {
        let mut cached = cell.borrow_mut();
        match &*cached {
            Some((id, client)) if Some(*id) == system => client.clone(),
            _ => {
                let client = awc::Client::default();
                *cached = system.map(|id| (id, client.clone()));
                client
            }
        }
    })
}

#[cfg(test)]
mod tests;
