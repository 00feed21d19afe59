//! The notification actor: tells the outside world about customer-visible moments.
//!
//! When an order is confirmed, shipped, delivered, cancelled, ... the order actor does not send
//! anything itself. It writes an outbox entry, one per enabled channel, in the same atomic batch
//! as the events that caused it, and hands the entry to this actor with [`Deliver`]. That split
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
use crate::domain::{Action, NotificationKind, Order};
use crate::store::{DeadLetter, OutboxEntry, Store};
use actix::prelude::*;
use chrono::{DateTime, SecondsFormat, Utc};
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

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            log: yes(),
            webhook: None,
            max_attempts: default_max_attempts(),
            backoff_base_ms: default_backoff_base_ms(),
            backoff_cap_ms: default_backoff_cap_ms(),
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

    /// Checks the section at start, so a bad URL or secret stops the service with a clear
    /// message instead of filling the dead-letter list later.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(w) = &self.webhook {
            let url = w.url.trim();
            if url.len() >= 8 && url[..8].eq_ignore_ascii_case("https://") {
                return Err(format!(
                    "notifications.webhook.url: https is not supported by this build (it has no TLS); use an http:// URL, e.g. to a local TLS-terminating proxy: '{url}'"
                ));
            }
            if !url.starts_with("http://") {
                return Err(format!(
                    "notifications.webhook.url: must start with http://, got '{url}'"
                ));
            }
            match url.parse::<awc::http::Uri>() {
                Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => {}
                Ok(_) => return Err(format!("notifications.webhook.url: '{url}' has no host")),
                Err(e) => {
                    return Err(format!(
                        "notifications.webhook.url: '{url}' is not a valid URL: {e}"
                    ))
                }
            }
            WebhookSecret::parse(&w.secret)
                .map_err(|e| format!("notifications.webhook.secret: {e}"))?;
            if w.timeout_ms == 0 {
                return Err("notifications.webhook.timeout_ms: must be at least 1".to_string());
            }
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

/// Deliver (or schedule, honouring entry.next_attempt_at) one outbox entry whose effect.action
/// is Action::Notify and whose `channel` is Some("log"|"webhook").
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Deliver(pub OutboxEntry);

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
    store: Store,
    clock: Arc<dyn Clock>,
    config: NotifierConfig,
    /// Parsed once; `Err` holds the reason when the secret is unusable (only possible if the
    /// config skipped `validate`), and webhook messages are then dead-lettered with it.
    secret: Option<Result<WebhookSecret, String>>,
    /// Outbox keys with an attempt running or scheduled. A second `Deliver` for one of them
    /// (the engine resending at start while a retry is pending, say) is ignored, so a message
    /// never has two retry chains counting attempts against each other.
    pending: HashSet<Vec<u8>>,
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

impl Notifier {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: NotifierConfig) -> Self {
        let secret = config
            .webhook
            .as_ref()
            .map(|w| WebhookSecret::parse(&w.secret));
        Notifier {
            store,
            clock,
            config,
            secret,
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
        ctx.run_later(delay, move |act, ctx| act.attempt(entry, ctx));
    }

    /// One delivery attempt. `entry` is our latest view of the message; the store has the
    /// authoritative one.
    fn attempt(&mut self, entry: OutboxEntry, ctx: &mut Context<Self>) {
        let key = entry.key();
        // Re-read first: if the entry is gone the message was delivered (or dead-lettered)
        // already, and sending it again would only make noise.
        let entry = match self.store.outbox_entry(&key) {
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
        let Action::Notify { kind } = entry.effect.action else {
            // Not ours: leave it in the outbox for the actor that handles that action.
            tracing::warn!(message_id = %entry.message_id(), "notifier was handed an outbox entry that is not a notification");
            self.pending.remove(&key);
            return;
        };
        let channel = match self.channel(entry.channel.as_deref()) {
            Ok(c) => c,
            Err(e) => return self.finish(entry, kind, Outcome::Permanent(e), ctx),
        };
        let now = self.clock.now();
        let message_id = entry.message_id();
        match channel {
            Channel::Log => {
                // The log line needs no order data, only the order's existence (a message for a
                // missing order is dead-lettered like on the webhook channel).
                match self.store.order_exists(entry.effect.order_id) {
                    Ok(true) => {}
                    Ok(false) => {
                        let missing = Outcome::Permanent("order not found".to_string());
                        return self.finish(entry, kind, missing, ctx);
                    }
                    Err(e) => {
                        let failed = Outcome::Failed(format!("storage: {e}"));
                        return self.finish(entry, kind, failed, ctx);
                    }
                }
                tracing::info!(
                    message_id = %message_id,
                    order_id = %entry.effect.order_id,
                    kind = kind.as_str(),
                    "notification"
                );
                self.finish(entry, kind, Outcome::Delivered, ctx);
            }
            Channel::Webhook {
                url,
                timeout,
                secret,
            } => {
                // Only the webhook needs the order (for the payload); the log line does not.
                let order = match self.store.load_order(entry.effect.order_id) {
                    Ok(Some(order)) => order,
                    Ok(None) => {
                        return self.finish(
                            entry,
                            kind,
                            Outcome::Permanent("order not found".to_string()),
                            ctx,
                        )
                    }
                    Err(e) => {
                        tracing::warn!(message_id = %entry.message_id(), error = %e, "notifier could not load the order; retrying later");
                        return self.finish(
                            entry,
                            kind,
                            Outcome::Failed(format!("storage: {e}")),
                            ctx,
                        );
                    }
                };
                // The body and timestamp are rebuilt per attempt (the timestamp says when this
                // attempt was made); the id stays the same so receivers can deduplicate.
                let body = payload(&message_id, kind, &entry, &order, now)
                    .to_string()
                    .into_bytes();
                let timestamp = now.timestamp();
                let signature = sign(&secret, &message_id, timestamp, &body);
                let fut = post(url, timeout, message_id, timestamp, signature, body);
                ctx.spawn(
                    fut.into_actor(self)
                        .map(move |outcome, act, ctx| act.finish(entry, kind, outcome, ctx)),
                );
            }
        }
    }

    /// Records how an attempt ended and decides what happens next.
    fn finish(
        &mut self,
        mut entry: OutboxEntry,
        kind: NotificationKind,
        outcome: Outcome,
        ctx: &mut Context<Self>,
    ) {
        let key = entry.key();
        let (error, permanent) = match outcome {
            Outcome::Delivered => {
                // Not waited on: if the removal is lost, a restart redelivers the message under
                // the same id, which receivers drop.
                if let Err(e) = self.store.remove_outbox(&key) {
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
                order_id: entry.effect.order_id,
                kind: kind.as_str().to_string(),
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
        if let Err(e) = self.store.update_outbox(&entry) {
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

    fn handle(&mut self, Deliver(entry): Deliver, ctx: &mut Context<Self>) {
        if !self.pending.insert(entry.key()) {
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
            None => self.attempt(entry, ctx),
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
            "step": entry.effect.step,
            "customer": {
                "id": order.customer.id,
                "email": order.customer.email,
                "locale": order.customer.locale,
            },
            "tracking_token": order.tracking_token,
            "carrier": booking.map(|b| &b.carrier),
            "tracking_number": booking.map(|b| &b.tracking_number),
            "estimated_delivery": booking.map(|b| b.estimated_delivery),
            "refunded": order.refunded,
            "cancellation_reason": order.cancellation.as_ref().map(|c| &c.reason),
        }
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
fn http_client() -> awc::Client {
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
mod tests {
    use super::*;
    use crate::clock::{ManualClock, SystemClock};
    use crate::domain::{
        decide, fold, Address, Cause, Command, Currency, Customer, Effect, InitialPaymentStatus,
        NewLine, NewOrder, NewPayment, PaymentMethod, Reactions, Shipping,
    };
    use crate::engine::webhook::verify;
    use crate::store::TransitionWrite;
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Instant;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn start_time() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A store holding one placed order; returns the store, its directory guard and the order.
    fn store_with_order() -> (Store, tempfile::TempDir, Order) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8 << 20).unwrap();
        let cmd = Command::Place {
            id: uuid::Uuid::now_v7(),
            tracking_token: "tok_test".to_string(),
            order: NewOrder {
                external_ref: Some("ext-1".to_string()),
                customer: Customer {
                    id: "cust-1".to_string(),
                    email: "ann@example.com".to_string(),
                    phone: None,
                    locale: Some("nl-NL".to_string()),
                },
                currency: Currency::parse("EUR").unwrap(),
                lines: vec![NewLine {
                    sku: "SKU-1".to_string(),
                    quantity: 2,
                    unit_price: 1250,
                }],
                shipping: Shipping {
                    method: None,
                    address: Address {
                        name: "Ann".to_string(),
                        line1: "Main 1".to_string(),
                        line2: None,
                        city: "Utrecht".to_string(),
                        postal_code: "3511".to_string(),
                        country: "NL".to_string(),
                    },
                },
                billing_address: None,
                payment: NewPayment {
                    method: PaymentMethod::Card,
                    status: InitialPaymentStatus::Captured,
                },
            },
            payment_timeout_secs: 900,
        };
        let events = decide(None, &cmd, &Cause::Storefront, start_time()).unwrap();
        let order = fold(None, &events).unwrap();
        store
            .write_transition(&TransitionWrite {
                before: None,
                after: &order,
                events: &events,
                reactions: &Reactions::default(),
                outbox: &[],
                idempotency: None,
            })
            .unwrap();
        (store, dir, order)
    }

    fn entry(order_id: uuid::Uuid, channel: &str) -> OutboxEntry {
        OutboxEntry {
            effect: Effect {
                order_id,
                step: 1,
                action: Action::Notify {
                    kind: NotificationKind::Confirmed,
                },
            },
            channel: Some(channel.to_string()),
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
        }
    }

    fn config(webhook_url: Option<String>, max_attempts: u32) -> NotifierConfig {
        NotifierConfig {
            log: true,
            webhook: webhook_url.map(|url| WebhookConfig {
                url,
                secret: SECRET.to_string(),
                timeout_ms: 2_000,
            }),
            max_attempts,
            backoff_base_ms: 10,
            backoff_cap_ms: 50,
        }
    }

    /// Polls `cond` until it holds, failing the test after 10 s. No fixed sleeps.
    async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
    }

    struct Received {
        headers: HashMap<String, String>,
        body: Vec<u8>,
    }

    /// A webhook receiver that records every request and answers 500 to the first
    /// `fail_first` of them, 204 afterwards.
    struct Receiver {
        fail_first: usize,
        requests: Mutex<Vec<Received>>,
    }

    impl Receiver {
        fn count(&self) -> usize {
            self.requests.lock().unwrap().len()
        }
    }

    async fn receive(req: HttpRequest, body: web::Bytes, rx: web::Data<Receiver>) -> HttpResponse {
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let mut requests = rx.requests.lock().unwrap();
        let fail = requests.len() < rx.fail_first;
        requests.push(Received {
            headers,
            body: body.to_vec(),
        });
        if fail {
            HttpResponse::InternalServerError().finish()
        } else {
            HttpResponse::NoContent().finish()
        }
    }

    async fn start_receiver(
        fail_first: usize,
    ) -> (String, web::Data<Receiver>, actix_web::dev::ServerHandle) {
        let rx = web::Data::new(Receiver {
            fail_first,
            requests: Mutex::new(Vec::new()),
        });
        let data = rx.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let url = format!("http://{}/hooks/orderly", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        (url, rx, handle)
    }

    async fn stats(addr: &Addr<Notifier>) -> NotifierStats {
        addr.send(GetStats).await.unwrap()
    }

    #[actix_rt::test]
    async fn webhook_retries_until_delivered_once_with_a_stable_signed_id() {
        let (store, _dir, order) = store_with_order();
        let (url, rx, server) = start_receiver(3).await;
        let clock = Arc::new(ManualClock::new(start_time()));
        let e = entry(order.id, WEBHOOK);
        store.update_outbox(&e).unwrap();
        let addr = Notifier::new(store.clone(), clock, config(Some(url), 8)).start();

        // A repeated Deliver while the first chain is pending must not start a second chain.
        addr.do_send(Deliver(e.clone()));
        addr.do_send(Deliver(e.clone()));
        eventually("the entry to leave the outbox", || {
            store.outbox_entry(&e.key()).unwrap().is_none()
        })
        .await;

        let s = stats(&addr).await;
        assert_eq!(
            s,
            NotifierStats {
                delivered: 1,
                failed_attempts: 3,
                dead_lettered: 0
            }
        );
        let secret = WebhookSecret::parse(SECRET).unwrap();
        // A copy, so no lock is held across the awaits below.
        let requests: Vec<(HashMap<String, String>, Vec<u8>)> = rx
            .requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| (r.headers.clone(), r.body.clone()))
            .collect();
        assert_eq!(requests.len(), 4, "3 failures then one success");
        for (headers, body) in &requests {
            assert_eq!(headers["webhook-id"], e.message_id());
            assert_eq!(headers["content-type"], "application/json");
            let ts: i64 = headers["webhook-timestamp"].parse().unwrap();
            assert_eq!(ts, start_time().timestamp());
            assert!(verify(
                &secret,
                &e.message_id(),
                ts,
                body,
                &headers["webhook-signature"]
            ));
        }
        let body: serde_json::Value = serde_json::from_slice(&requests[3].1).unwrap();
        assert_eq!(body["type"], "order.confirmed");
        assert_eq!(body["timestamp"], "2024-05-01T12:00:00.000Z");
        let data = &body["data"];
        assert_eq!(data["message_id"], e.message_id());
        assert_eq!(data["order_id"], order.id.to_string());
        assert_eq!(data["external_ref"], "ext-1");
        assert_eq!(data["kind"], "confirmed");
        assert_eq!(data["status"], "placed");
        assert_eq!(data["step"], 1);
        assert_eq!(data["customer"]["email"], "ann@example.com");
        assert_eq!(data["customer"]["locale"], "nl-NL");
        assert_eq!(data["tracking_token"], "tok_test");
        assert!(
            data["carrier"].is_null()
                && data["refunded"].is_null()
                && data["cancellation_reason"].is_null()
        );
        assert!(store.dead_letters(10).unwrap().is_empty());
        server.stop(true).await;
    }

    #[actix_rt::test]
    async fn webhook_that_always_fails_is_dead_lettered_after_max_attempts() {
        let (store, _dir, order) = store_with_order();
        let (url, rx, server) = start_receiver(usize::MAX).await;
        let e = entry(order.id, WEBHOOK);
        store.update_outbox(&e).unwrap();
        let addr =
            Notifier::new(store.clone(), Arc::new(SystemClock), config(Some(url), 3)).start();
        addr.do_send(Deliver(e.clone()));

        eventually("a dead letter", || {
            !store.dead_letters(10).unwrap().is_empty()
        })
        .await;
        let letters = store.dead_letters(10).unwrap();
        assert_eq!(letters.len(), 1);
        let l = &letters[0];
        assert_eq!(l.message_id, e.message_id());
        assert_eq!(l.order_id, order.id);
        assert_eq!(l.kind, "confirmed");
        assert_eq!(l.channel.as_deref(), Some(WEBHOOK));
        assert_eq!(l.attempts, 3);
        assert_eq!(l.last_error.as_deref(), Some("HTTP 500"));
        assert!(store.outbox_entry(&e.key()).unwrap().is_none());
        assert_eq!(
            stats(&addr).await,
            NotifierStats {
                delivered: 0,
                failed_attempts: 3,
                dead_lettered: 1
            }
        );
        assert_eq!(rx.count(), 3);
        server.stop(true).await;
    }

    #[actix_rt::test]
    async fn unreachable_webhook_records_retry_state_with_the_error() {
        let (store, _dir, order) = store_with_order();
        // Bind then drop a listener to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let clock = Arc::new(ManualClock::new(start_time()));
        let mut cfg = config(Some(format!("http://127.0.0.1:{port}/")), 2);
        cfg.backoff_base_ms = 40;
        cfg.backoff_cap_ms = 40;
        let e = entry(order.id, WEBHOOK);
        store.update_outbox(&e).unwrap();
        let addr = Notifier::new(store.clone(), clock, cfg).start();
        addr.do_send(Deliver(e.clone()));

        eventually("the first failure to be recorded", || {
            store
                .outbox_entry(&e.key())
                .unwrap()
                .is_some_and(|s| s.attempts == 1)
        })
        .await;
        let stored = store.outbox_entry(&e.key()).unwrap().unwrap();
        assert!(stored.last_error.as_deref().is_some_and(|m| !m.is_empty()));
        let next = stored.next_attempt_at.unwrap();
        assert!(
            next >= start_time() + chrono::Duration::milliseconds(20)
                && next <= start_time() + chrono::Duration::milliseconds(40)
        );

        eventually("a dead letter", || {
            !store.dead_letters(10).unwrap().is_empty()
        })
        .await;
        let l = &store.dead_letters(10).unwrap()[0];
        assert_eq!(l.attempts, 2);
        assert!(
            l.last_error
                .as_deref()
                .is_some_and(|m| !m.starts_with("HTTP")),
            "{:?}",
            l.last_error
        );
    }

    #[actix_rt::test]
    async fn log_channel_delivers_immediately() {
        let (store, _dir, order) = store_with_order();
        let e = entry(order.id, LOG);
        store.update_outbox(&e).unwrap();
        let addr = Notifier::new(store.clone(), Arc::new(SystemClock), config(None, 8)).start();
        addr.do_send(Deliver(e.clone()));
        // Mailbox order: the Deliver is fully handled before GetStats is answered.
        assert_eq!(
            stats(&addr).await,
            NotifierStats {
                delivered: 1,
                failed_attempts: 0,
                dead_lettered: 0
            }
        );
        assert!(store.outbox_entry(&e.key()).unwrap().is_none());

        // Delivering it again is harmless: the entry is gone, so nothing happens.
        addr.do_send(Deliver(e.clone()));
        assert_eq!(stats(&addr).await.delivered, 1);
    }

    #[actix_rt::test]
    async fn honours_next_attempt_at_by_the_injected_clock() {
        let (store, _dir, order) = store_with_order();
        let clock = Arc::new(ManualClock::new(start_time()));
        let mut e = entry(order.id, LOG);
        e.attempts = 2;
        e.next_attempt_at = Some(start_time() + chrono::Duration::milliseconds(200));
        store.update_outbox(&e).unwrap();
        let addr = Notifier::new(store.clone(), clock.clone(), config(None, 8)).start();
        addr.do_send(Deliver(e.clone()));
        assert_eq!(stats(&addr).await.delivered, 0, "not due yet");
        assert!(store.outbox_entry(&e.key()).unwrap().is_some());
        eventually("the scheduled delivery", || {
            store.outbox_entry(&e.key()).unwrap().is_none()
        })
        .await;
        assert_eq!(stats(&addr).await.delivered, 1);

        // An entry whose time has passed goes out at once.
        let mut due = entry(order.id, LOG);
        due.effect.step = 2;
        due.next_attempt_at = Some(start_time() - chrono::Duration::seconds(5));
        store.update_outbox(&due).unwrap();
        addr.do_send(Deliver(due.clone()));
        assert_eq!(stats(&addr).await.delivered, 2);
    }

    #[actix_rt::test]
    async fn deliver_for_an_entry_no_longer_stored_does_nothing() {
        let (store, _dir, order) = store_with_order();
        let (url, rx, server) = start_receiver(0).await;
        let addr =
            Notifier::new(store.clone(), Arc::new(SystemClock), config(Some(url), 8)).start();
        addr.do_send(Deliver(entry(order.id, WEBHOOK)));
        addr.do_send(Deliver(entry(order.id, LOG)));
        assert_eq!(stats(&addr).await, NotifierStats::default());
        assert_eq!(rx.count(), 0);
        assert!(store.dead_letters(10).unwrap().is_empty());
        server.stop(true).await;
    }

    #[actix_rt::test]
    async fn unusable_messages_are_dead_lettered_at_once() {
        let (store, _dir, order) = store_with_order();
        let addr = Notifier::new(store.clone(), Arc::new(SystemClock), config(None, 8)).start();
        // The order is missing.
        let orphan = entry(uuid::Uuid::now_v7(), LOG);
        // The webhook channel is not configured.
        let unconfigured = entry(order.id, WEBHOOK);
        store.update_outbox(&orphan).unwrap();
        store.update_outbox(&unconfigured).unwrap();
        addr.do_send(Deliver(orphan.clone()));
        addr.do_send(Deliver(unconfigured.clone()));
        assert_eq!(stats(&addr).await.dead_lettered, 2);
        let letters = store.dead_letters(10).unwrap();
        let error_of = |id: &str| {
            letters
                .iter()
                .find(|l| l.message_id == id)
                .unwrap()
                .last_error
                .clone()
                .unwrap()
        };
        assert_eq!(error_of(&orphan.message_id()), "order not found");
        assert!(error_of(&unconfigured.message_id()).contains("not configured"));
        assert_eq!(store.outbox_len(), 0);
    }

    #[test]
    fn backoff_stays_within_bounds() {
        for attempt in 1..=40 {
            let ceiling = (100u64 << (attempt - 1).min(40)).min(10_000);
            for r in [0.0, 0.1, 0.5, 0.9, 0.999_999] {
                let d = backoff(100, 10_000, attempt, r).as_millis() as u64;
                assert!(d >= 50, "attempt {attempt} r {r}: {d} below base/2");
                assert!(d <= ceiling, "attempt {attempt} r {r}: {d} above {ceiling}");
            }
        }
        // Out-of-range inputs are clamped rather than trusted.
        assert_eq!(backoff(100, 10_000, 1, -1.0), Duration::from_millis(50));
        assert_eq!(backoff(100, 10_000, 1, f64::NAN), Duration::from_millis(50));
        assert!(backoff(100, 10_000, 1, 7.0) <= Duration::from_millis(100));
    }

    #[test]
    fn backoff_grows_exponentially_then_caps() {
        let top = |attempt| backoff(500, 60_000, attempt, 0.999_999).as_millis() as u64;
        assert_eq!(top(1), 499);
        assert_eq!(top(2), 999);
        assert_eq!(top(3), 1_999);
        assert_eq!(top(5), 7_999);
        assert_eq!(top(8), 59_999);
        assert_eq!(top(9), 59_999);
        assert_eq!(top(u32::MAX), 59_999, "no overflow for huge attempt counts");
        assert_eq!(
            backoff(500, 60_000, 0, 0.999_999),
            backoff(500, 60_000, 1, 0.999_999)
        );
        assert_eq!(
            backoff(500, 60_000, 6, 0.0),
            Duration::from_millis(250),
            "never below base/2"
        );
        assert_eq!(backoff(500, 60_000, 6, 0.5), Duration::from_millis(8_000));
    }

    #[test]
    fn rand01_is_in_range() {
        for _ in 0..1000 {
            let r = rand01();
            assert!((0.0..1.0).contains(&r));
        }
    }

    #[test]
    fn config_defaults_and_channels() {
        let c: NotifierConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, NotifierConfig::default());
        assert!(c.log && c.webhook.is_none());
        assert_eq!(
            (c.max_attempts, c.backoff_base_ms, c.backoff_cap_ms),
            (8, 500, 60_000)
        );
        assert_eq!(c.channels(), vec!["log"]);
        assert!(c.validate().is_ok());

        let c: NotifierConfig = serde_json::from_str(
            r#"{"log": false, "webhook": {"url": "http://hooks.local/x", "secret": "s3cret"}}"#,
        )
        .unwrap();
        assert_eq!(c.webhook.as_ref().unwrap().timeout_ms, 5_000);
        assert_eq!(c.channels(), vec!["webhook"]);
        assert!(c.validate().is_ok());
        let both = NotifierConfig { log: true, ..c };
        assert_eq!(both.channels(), vec!["log", "webhook"]);
        let none = NotifierConfig {
            log: false,
            webhook: None,
            ..NotifierConfig::default()
        };
        assert!(none.channels().is_empty());

        assert!(serde_json::from_str::<NotifierConfig>(r#"{"retries": 3}"#).is_err());
        assert!(serde_json::from_str::<NotifierConfig>(
            r#"{"webhook": {"url": "http://x", "secret": "s", "extra": 1}}"#
        )
        .is_err());
    }

    #[test]
    fn config_validation_names_the_field() {
        let with_hook = |url: &str, secret: &str| NotifierConfig {
            webhook: Some(WebhookConfig {
                url: url.to_string(),
                secret: secret.to_string(),
                timeout_ms: 5_000,
            }),
            ..NotifierConfig::default()
        };
        assert!(with_hook("http://127.0.0.1:9000/hooks", SECRET)
            .validate()
            .is_ok());
        let err = with_hook("https://example.com/hooks", SECRET)
            .validate()
            .unwrap_err();
        assert!(
            err.starts_with("notifications.webhook.url:") && err.contains("https is not supported"),
            "{err}"
        );
        let err = with_hook("ftp://example.com", SECRET)
            .validate()
            .unwrap_err();
        assert!(err.starts_with("notifications.webhook.url:"), "{err}");
        let err = with_hook("http://", SECRET).validate().unwrap_err();
        assert!(err.starts_with("notifications.webhook.url:"), "{err}");
        let err = with_hook("http://example.com", "").validate().unwrap_err();
        assert!(err.starts_with("notifications.webhook.secret:"), "{err}");
        let err = with_hook("http://example.com", "whsec_%%%")
            .validate()
            .unwrap_err();
        assert!(err.starts_with("notifications.webhook.secret:"), "{err}");
        let mut c = with_hook("http://example.com", SECRET);
        c.webhook.as_mut().unwrap().timeout_ms = 0;
        assert!(c
            .validate()
            .unwrap_err()
            .starts_with("notifications.webhook.timeout_ms:"));

        let c = NotifierConfig {
            max_attempts: 0,
            ..NotifierConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .starts_with("notifications.max_attempts:"));
        let c = NotifierConfig {
            backoff_base_ms: 0,
            ..NotifierConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .starts_with("notifications.backoff_base_ms:"));
        let c = NotifierConfig {
            backoff_base_ms: 2_000,
            backoff_cap_ms: 1_000,
            ..NotifierConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .starts_with("notifications.backoff_base_ms:"));
    }
}
