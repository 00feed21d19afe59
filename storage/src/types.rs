//! The values that cross the storage interface.

use crate::domain::inventory::transfer::Transfer;
use crate::domain::inventory::{Backorders, Reservation, StockLevel};
use crate::domain::stock_alerts::StockNotice;
use crate::domain::{CellKey, Effect, EffectKind, Event, Order, OrderId, Sku, Timer, WarehouseId};
use crate::{Result, StorageError};
use chrono::{DateTime, Utc};

/// The outbox's record of one message still to be delivered.
///
/// Its identity is the message's (order, step, action — or, for a stock notice, subject,
/// sequence number, kind) and the channel: see [`OutboxEntry::message_id`]; the retry state
/// (`attempts`, `next_attempt_at`, `last_error`) changes between deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// What is to be delivered: an order's effect, or a stock notice.
    pub message: OutboxMessage,
    /// Notification channel, for notification messages (one entry per channel).
    pub channel: Option<String>,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// The two things the outbox carries. Orders' effects are keyed by their order; stock notices
/// are about no order (a stock cell, a subscription) and are keyed by their own subject: they
/// never borrow an order's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxMessage {
    /// An effect an order's transition sends (reserve stock, book a shipment, notify the
    /// customer, ...): identified by (order, step, action).
    Order(Effect),
    /// A notice about stock (`low_stock` to operations, `back_in_stock` to a subscriber),
    /// written by the stock alerts with the alert state that decided it: identified by
    /// (subject, sequence number, kind).
    Stock(StockNotice),
}

impl OutboxEntry {
    /// A fresh entry for an order's `effect` (on `channel`, for notifications), no attempt
    /// made yet.
    pub fn new(effect: Effect, channel: Option<String>) -> OutboxEntry {
        OutboxEntry::of(OutboxMessage::Order(effect), channel)
    }

    /// A fresh entry for a stock notice on `channel`, no attempt made yet.
    pub fn notice(notice: StockNotice, channel: String) -> OutboxEntry {
        OutboxEntry::of(OutboxMessage::Stock(notice), Some(channel))
    }

    /// A fresh entry for `message`, no attempt made yet.
    pub fn of(message: OutboxMessage, channel: Option<String>) -> OutboxEntry {
        OutboxEntry {
            message,
            channel,
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
        }
    }

    /// The order's effect, for an order's message.
    pub fn effect(&self) -> Option<&Effect> {
        match &self.message {
            OutboxMessage::Order(e) => Some(e),
            OutboxMessage::Stock(_) => None,
        }
    }

    /// The stock notice, for a stock message.
    pub fn stock_notice(&self) -> Option<&StockNotice> {
        match &self.message {
            OutboxMessage::Order(_) => None,
            OutboxMessage::Stock(n) => Some(n),
        }
    }

    /// The order the message is about (`None`: a stock notice).
    pub fn order_id(&self) -> Option<OrderId> {
        self.effect().map(|e| e.order_id)
    }

    /// The message's kind: the effect's action or notification kind, or the notice's kind.
    pub fn kind_name(&self) -> &'static str {
        match &self.message {
            OutboxMessage::Order(e) => e.kind.name(),
            OutboxMessage::Stock(n) => n.kind.name(),
        }
    }

    /// Whether the notifier delivers it (an order's notification or a stock notice), rather
    /// than another actor.
    pub fn is_notification(&self) -> bool {
        match &self.message {
            OutboxMessage::Order(e) => matches!(e.kind, EffectKind::Notify { .. }),
            OutboxMessage::Stock(_) => true,
        }
    }

    /// Stable id of the message: the same on every redelivery, unique among entries.
    /// `msg_{order}_{step}_{action}` for an order's message, `ntc_{subject}_{seq}_{kind}` for a
    /// stock notice; then `_{channel}` when it has one.
    pub fn message_id(&self) -> String {
        let base = match &self.message {
            OutboxMessage::Order(e) => {
                format!("msg_{}_{}_{}", e.order_id.simple(), e.step, e.kind.name())
            }
            OutboxMessage::Stock(n) => {
                format!("ntc_{}_{}_{}", n.subject.simple(), n.seq, n.kind.name())
            }
        };
        match &self.channel {
            Some(c) => format!("{base}_{c}"),
            None => base,
        }
    }

    /// Whether `other` is the same message (whatever its retry state).
    pub fn same_message(&self, other: &OutboxEntry) -> bool {
        let same = match (&self.message, &other.message) {
            (OutboxMessage::Order(a), OutboxMessage::Order(b)) => {
                a.order_id == b.order_id && a.step == b.step && a.kind.name() == b.kind.name()
            }
            (OutboxMessage::Stock(a), OutboxMessage::Stock(b)) => {
                a.subject == b.subject && a.seq == b.seq && a.kind.name() == b.kind.name()
            }
            _ => false,
        };
        same && self.channel == other.channel
    }
}

/// A notification that ran out of attempts, kept for an operator to inspect and retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub message_id: String,
    /// The order the message was about; `None` for a stock notice.
    pub order_id: Option<OrderId>,
    pub kind: String,
    pub channel: Option<String>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub failed_at: DateTime<Utc>,
    /// The outbox entry it came from (filled when read back from storage).
    pub entry: Option<OutboxEntry>,
}

/// A message delivered to a person (e-mail, SMS, WhatsApp), kept on its order's message log so
/// support can answer "I never got it": where it went, when, and the provider's id for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub message_id: String,
    pub order_id: OrderId,
    /// The notification kind (`shipped`).
    pub kind: String,
    /// The channel as the outbox entry named it (`email`, `operations.email`, `sms`).
    pub channel: String,
    /// The address or number it went to (several, comma-separated, for operations).
    pub to: String,
    pub sent_at: DateTime<Utc>,
    /// Attempts it took, the delivering one included.
    pub attempts: u32,
    /// The receiving side's id for it (an SMTP queue reply, a provider's message id).
    pub provider_id: Option<String>,
    /// An SMS: the parts it went out as.
    pub segments: Option<u32>,
    /// The language it was written in.
    pub locale: Option<String>,
}

/// An order's messages, as storage holds them: delivered to people, still in the outbox
/// (waiting or retrying), and dead-lettered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderMessages {
    pub sent: Vec<SentMessage>,
    pub pending: Vec<OutboxEntry>,
    pub dead: Vec<DeadLetter>,
}

/// What an `Idempotency-Key` was first used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub order_id: OrderId,
    /// The order's version right after the request, so a replay can rebuild the same response.
    pub version: u32,
}

/// Everything one order transition writes, atomically (see [`crate::Transitions::commit_transition`]).
///
/// `before` is the order's committed state as its writer holds it (`None` when placing);
/// `after` is the state after `events`, whose `seq`s run from `before`'s version + 1 to
/// `after.version`. Index changes (status, pick list, tracking token and number) follow from
/// `before` and `after`; the backend works them out.
#[derive(Debug, Clone, Copy)]
pub struct TransitionWrite<'a> {
    pub before: Option<&'a Order>,
    pub after: &'a Order,
    pub events: &'a [Event],
    /// Outbox entries, already expanded per notification channel.
    pub outbox: &'a [OutboxEntry],
    pub set_timers: &'a [Timer],
    pub clear_timers: &'a [Timer],
    /// `(Idempotency-Key, record)` for a request that carried a key. Only a transition that
    /// creates the order (`before` is `None`) carries one: order ids are never reused, so a
    /// record whose order never committed can never count later.
    pub idempotency: Option<(&'a str, &'a IdempotencyRecord)>,
}

/// One stock cell's change, applied on top of whatever the cell holds when it is written: units
/// added to (negative: taken from) on hand, reserved and incoming. Changes commute, so writers
/// (or nodes) changing the same cell never refuse each other; what keeps the ledger sound is
/// checked on the result instead ([`CellDelta::apply`]). A person's count (`counted`) sets on
/// hand instead of changing it. A cell never written holds zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellDelta {
    pub warehouse: WarehouseId,
    pub sku: Sku,
    pub on_hand: i64,
    pub reserved: i64,
    pub incoming: i64,
    /// On hand as counted: set to this value (`on_hand` is then 0).
    pub counted: Option<i64>,
}

impl CellDelta {
    /// The cell after this change, if the result is sound: nothing negative, and no more
    /// reserved than on hand (available never below zero). Otherwise a
    /// [`StorageError::Conflict`]: the writer decided on a ledger that did not hold what
    /// storage holds, and decides again.
    pub fn apply(&self, current: StockLevel) -> Result<StockLevel> {
        let on_hand = match self.counted {
            Some(n) => Some(n),
            None => current.on_hand.checked_add(self.on_hand),
        };
        let after = StockLevel {
            on_hand: on_hand.unwrap_or(-1),
            reserved: current.reserved.checked_add(self.reserved).unwrap_or(-1),
            incoming: current.incoming.checked_add(self.incoming).unwrap_or(-1),
        };
        if after.on_hand < 0 || after.reserved < 0 || after.incoming < 0 {
            return Err(StorageError::Conflict(format!(
                "stock of {} at {} would be {}/{}/{} (on hand/reserved/incoming)",
                self.sku, self.warehouse, after.on_hand, after.reserved, after.incoming
            )));
        }
        if after.reserved > after.on_hand {
            return Err(StorageError::Conflict(format!(
                "stock of {} at {} would have {} reserved of {} on hand",
                self.sku, self.warehouse, after.reserved, after.on_hand
            )));
        }
        Ok(after)
    }
}

/// An order's new reservation record, written only if the stored one still equals `expected`
/// (`None`: the order has none yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationWrite {
    pub expected: Option<Reservation>,
    pub new: Reservation,
}

/// One sku's backorder record's change: units waiting added (negative: taken), applied on top
/// of the stored record; and, when an admin set them, whether the sku may be backordered and
/// its cap. A sku never written counts as `Backorders::default()` (not backorderable, cap 0,
/// nothing waiting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkuDelta {
    pub sku: Sku,
    pub waiting: i64,
    /// `(allowed, cap)` as an admin set them; `None`: unchanged.
    pub policy: Option<(bool, i64)>,
}

impl SkuDelta {
    /// The record after this change, if sound: a cap not below zero and never more units
    /// waiting than the cap (nor fewer than none); otherwise a [`StorageError::Conflict`].
    pub fn apply(&self, current: Backorders) -> Result<Backorders> {
        let mut after = current;
        if let Some((allowed, cap)) = self.policy {
            after.allowed = allowed;
            after.cap = cap;
        }
        after.waiting = current.waiting.checked_add(self.waiting).unwrap_or(-1);
        if after.cap < 0 || after.waiting < 0 || after.waiting > after.cap {
            return Err(StorageError::Conflict(format!(
                "the backorder record of {} would be cap {}, {} waiting",
                self.sku, after.cap, after.waiting
            )));
        }
        Ok(after)
    }
}

/// A transfer's new record, written only if the stored one is still at `expected_version`
/// (`None`: there is none with its id, and none with its key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferWrite {
    pub expected_version: Option<u32>,
    pub new: Transfer,
}

/// The operation a stock change carries out, and so what makes it happen once: every change
/// is one operation, keyed the way its kind needs, and the write holds only if the key still
/// holds what the operation was decided on. A redelivered operation (at least once) therefore
/// finds its key moved on and changes nothing twice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StockOperation {
    /// What a person set: a cell's counted on hand, a sku's policy and cap. Absolute values,
    /// keyed by nothing: set twice, they are set.
    #[default]
    Set,
    /// A change to an order's reservation (reserve, a backorder filled, release, commit): its
    /// new record, written only over the one it was decided on.
    Reservation(ReservationWrite),
    /// A step of an order that moves stock without its reservation (a return received back
    /// into stock): applied once per (order, step), its marker written with it. (The markers
    /// of earlier releases, written for restocks only, are these.)
    OrderStep { order: OrderId, step: u32 },
    /// A transfer dispatched, received (in part) or cancelled: its new record, over the version
    /// it was decided on (`None`: there is none with its id, and none with its key).
    Transfer(TransferWrite),
}

/// One change to the stock ledger, applied all together or not at all (see
/// [`crate::StockLedger::write_stock`]): the operation that keys it, and cell and sku changes
/// that commute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StockChange {
    pub operation: StockOperation,
    pub cells: Vec<CellDelta>,
    /// The skus' backorder records the change touched (units waiting, policy and cap).
    pub skus: Vec<SkuDelta>,
}

impl StockChange {
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty() && self.skus.is_empty() && self.operation == StockOperation::Set
    }

    /// The reservation record the change writes, if it is an order's reservation's.
    pub fn reservation(&self) -> Option<&ReservationWrite> {
        match &self.operation {
            StockOperation::Reservation(r) => Some(r),
            _ => None,
        }
    }

    /// The transfer record the change writes, if it moves stock for one.
    pub fn transfer(&self) -> Option<&TransferWrite> {
        match &self.operation {
            StockOperation::Transfer(t) => Some(t),
            _ => None,
        }
    }

    /// The (order, step) marker the change writes, if it is a step of an order's own.
    pub fn order_step(&self) -> Option<(OrderId, u32)> {
        match self.operation {
            StockOperation::OrderStep { order, step } => Some((order, step)),
            _ => None,
        }
    }
}

/// Durability counters for `/metrics` and the benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushStats {
    /// Flushes (group commits) done.
    pub flushes: u64,
    /// Writes those flushes made durable: `flushed_writes / flushes` is the group size.
    pub flushed_writes: u64,
    /// Time spent flushing.
    pub flush_micros: u64,
}

/// A stock cell's key and levels.
pub type StockCell = (CellKey, StockLevel);

/// One transition's events as stored: a JSON array of events in the domain `Event`'s JSON shape,
/// not decoded. Reads that only pass a history on (to a client) or need a few fields of each
/// event use this instead of [`OrderReads::history`](crate::OrderReads::history), which decodes
/// everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsJson(Vec<u8>);

impl EventsJson {
    /// Wraps the JSON text of an array of events (a backend's stored value, version byte removed).
    pub fn new(json: Vec<u8>) -> Self {
        EventsJson(json)
    }

    /// The events' JSON values, borrowed (the array is split, not decoded).
    pub fn raw_events(&self) -> crate::Result<Vec<&serde_json::value::RawValue>> {
        Ok(serde_json::from_slice(&self.0)?)
    }

    /// The events decoded as `T`: `Event`, or a type that reads only some fields of each.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> crate::Result<Vec<T>> {
        Ok(serde_json::from_slice(&self.0)?)
    }

    /// The JSON text as stored (an export writes it out as it is).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// What a consistent backup ([`crate::Archive::backup`]) copied and how long it held writers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackupStats {
    /// Orders in the backup.
    pub orders: u64,
    /// Records copied, in the backend's own unit (sled: keys, counting those copied again).
    pub records: u64,
    /// Passes over what changed while copying, before the final one under the hold.
    pub rounds: u32,
    /// How long writers were held back (the final pass).
    pub held: std::time::Duration,
    /// How long the whole backup took, durable flush of the copy included.
    pub took: std::time::Duration,
}
