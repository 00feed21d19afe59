//! `Engine::order_messages`: what was sent about an order, to which channel and address, when,
//! and how it stands — what a support person needs when a customer says "I never got it".
//! Messages delivered to people come from the order's message log (written by the notifier
//! with the outbox entry's removal); messages still in the outbox are waiting or retrying;
//! dead letters ran out of attempts or were refused for good. Messages delivered to machines
//! (the log, a webhook) leave no record.

use super::{Engine, EngineError};
use crate::domain::{EffectKind, OrderId};
use chrono::{DateTime, Utc};
use orderly_storage::{DeadLetter, OutboxEntry, SentMessage};

/// At most this many of each (sent, pending, dead) are read for one order.
pub const MAX_PER_STATE: usize = 200;

/// How a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    /// Delivered to its receiver (an SMTP server, a provider).
    Sent,
    /// In the outbox, not attempted yet.
    Pending,
    /// In the outbox after a failed attempt; `at` is the next one.
    Retrying,
    /// Given up: out of attempts, or refused for good; `at` is when.
    DeadLettered,
}

impl MessageState {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Sent => "sent",
            MessageState::Pending => "pending",
            MessageState::Retrying => "retrying",
            MessageState::DeadLettered => "dead_lettered",
        }
    }
}

/// One message about an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub message_id: String,
    /// The notification kind (`shipped`).
    pub kind: String,
    pub channel: String,
    pub state: MessageState,
    /// Where it went (known once sent).
    pub to: Option<String>,
    /// Sent: when; retrying: the next attempt; dead-lettered: when it was given up.
    pub at: Option<DateTime<Utc>>,
    pub attempts: u32,
    pub provider_id: Option<String>,
    pub last_error: Option<String>,
    pub segments: Option<u32>,
    pub locale: Option<String>,
}

impl Engine {
    /// The order's messages, oldest step first (`NotFound` for an unknown order).
    pub async fn order_messages(&self, id: OrderId) -> Result<Vec<MessageRecord>, EngineError> {
        let (exists, messages) = self
            .read(move |s| {
                let exists = s.order_exists(id)?;
                let messages = s.order_messages(id, MAX_PER_STATE)?;
                Ok((exists, messages))
            })
            .await?;
        if !exists {
            return Err(EngineError::NotFound);
        }
        let mut out: Vec<(u32, MessageRecord)> = Vec::new();
        out.extend(
            messages
                .sent
                .iter()
                .map(|m| (step_of(&m.message_id), sent(m))),
        );
        out.extend(
            messages
                .pending
                .iter()
                .filter_map(pending)
                .map(|r| (step_of(&r.message_id), r)),
        );
        out.extend(
            messages
                .dead
                .iter()
                .map(|d| (step_of(&d.message_id), dead(d))),
        );
        out.sort_by(|a, b| (a.0, &a.1.message_id).cmp(&(b.0, &b.1.message_id)));
        Ok(out.into_iter().map(|(_, r)| r).collect())
    }
}

/// The step in a message id (`msg_<order>_<step>_<kind>_<channel>`), to order them by.
fn step_of(message_id: &str) -> u32 {
    message_id
        .split('_')
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(u32::MAX)
}

fn notification_kind(entry: &OutboxEntry) -> Option<String> {
    match entry.effect()?.kind {
        EffectKind::Notify { kind } => Some(kind.as_str().to_string()),
        _ => None,
    }
}

fn sent(m: &SentMessage) -> MessageRecord {
    MessageRecord {
        message_id: m.message_id.clone(),
        kind: m.kind.clone(),
        channel: m.channel.clone(),
        state: MessageState::Sent,
        to: Some(m.to.clone()),
        at: Some(m.sent_at),
        attempts: m.attempts,
        provider_id: m.provider_id.clone(),
        last_error: None,
        segments: m.segments,
        locale: m.locale.clone(),
    }
}

/// An outbox entry that is a notification (other actions are not messages).
fn pending(e: &OutboxEntry) -> Option<MessageRecord> {
    let kind = notification_kind(e)?;
    Some(MessageRecord {
        message_id: e.message_id(),
        kind,
        channel: e.channel.clone().unwrap_or_default(),
        state: if e.attempts == 0 {
            MessageState::Pending
        } else {
            MessageState::Retrying
        },
        to: None,
        at: e.next_attempt_at,
        attempts: e.attempts,
        provider_id: None,
        last_error: e.last_error.clone(),
        segments: None,
        locale: None,
    })
}

fn dead(d: &DeadLetter) -> MessageRecord {
    let kind = d
        .entry
        .as_ref()
        .and_then(notification_kind)
        .unwrap_or_else(|| d.kind.clone());
    MessageRecord {
        message_id: d.message_id.clone(),
        kind,
        channel: d.channel.clone().unwrap_or_default(),
        state: MessageState::DeadLettered,
        to: None,
        at: Some(d.failed_at),
        attempts: d.attempts,
        provider_id: None,
        last_error: d.last_error.clone(),
        segments: None,
        locale: None,
    }
}
