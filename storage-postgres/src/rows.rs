//! The rows one transition writes, encoded on the writer's thread (so the commit lane only
//! sends bytes): the snapshot with its status, one row per event, outbox rows, timer keys, the
//! idempotency record and the order's index changes (pick lists, tracking numbers and the
//! backorder queue, from `orderly_storage::index`: usually none). Records use the stored schema's encoding, the
//! same bytes the sled backend keeps.

use chrono::{DateTime, Utc};
use orderly_domain::{Order, Timer, TimerKind};
use orderly_storage::index::{IndexChanges, OrderIndex};
use orderly_storage::schema;
use orderly_storage::{OutboxEntry, Result, StorageError, TransitionWrite};
use uuid::Uuid;

/// A timer's primary key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TimerKey {
    pub order_id: Uuid,
    pub kind: &'static str,
    pub due: DateTime<Utc>,
}

impl TimerKey {
    pub fn of(t: &Timer) -> TimerKey {
        TimerKey {
            order_id: t.order_id,
            kind: timer_kind_name(t.kind),
            due: t.due,
        }
    }

    pub fn to_timer(&self) -> Result<Timer> {
        Ok(Timer {
            order_id: self.order_id,
            kind: timer_kind(self.kind)?,
            due: self.due,
        })
    }
}

pub(crate) fn timer_kind_name(k: TimerKind) -> &'static str {
    match k {
        TimerKind::PaymentDue => "payment_due",
        TimerKind::PromiseDue => "promise_due",
        TimerKind::ExceptionDue => "exception_due",
        TimerKind::DeadlineDue => "deadline_due",
    }
}

pub(crate) fn timer_kind(name: &str) -> Result<TimerKind> {
    match name {
        "payment_due" => Ok(TimerKind::PaymentDue),
        "promise_due" => Ok(TimerKind::PromiseDue),
        "exception_due" => Ok(TimerKind::ExceptionDue),
        "deadline_due" => Ok(TimerKind::DeadlineDue),
        other => Err(StorageError::Codec(format!("unknown timer kind '{other}'"))),
    }
}

/// The index columns of a snapshot (`orders.status`); its pick lists and tracking numbers are
/// rows of `order_picks` and `order_tracking` (migration V4).
pub(crate) struct OrderColumns {
    pub status: &'static str,
}

impl OrderColumns {
    pub fn of(o: &Order) -> OrderColumns {
        OrderColumns {
            status: OrderIndex::of(o).status.as_str(),
        }
    }
}

/// The side-table rows a transition adds and removes: `(warehouse or tracking number)` for
/// this order, and its row of the backorder queue (`Some(true)`: added, `Some(false)`:
/// removed). Empty for most transitions.
#[derive(Debug, Default)]
pub(crate) struct IndexRows {
    pub picks_added: Vec<String>,
    pub picks_removed: Vec<String>,
    pub tracking_added: Vec<String>,
    pub tracking_removed: Vec<String>,
    pub backorder: Option<bool>,
}

impl IndexRows {
    pub fn of(before: Option<&Order>, after: &Order) -> IndexRows {
        let c = IndexChanges::of(before, after);
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        IndexRows {
            picks_added: owned(&c.picks.added),
            picks_removed: owned(&c.picks.removed),
            tracking_added: owned(&c.tracking_numbers.added),
            tracking_removed: owned(&c.tracking_numbers.removed),
            backorder: if c.backorder_added {
                Some(true)
            } else if c.backorder_removed {
                Some(false)
            } else {
                None
            },
        }
    }
}

pub(crate) struct OutboxRow {
    pub message_id: String,
    pub order_id: Uuid,
    pub step: i32,
    pub entry: Vec<u8>,
}

impl OutboxRow {
    /// The row of an order's message (a stock notice has no order: see `alerts`).
    pub fn of(e: &OutboxEntry) -> Result<OutboxRow> {
        let effect = e.effect().ok_or_else(|| {
            StorageError::Codec(format!(
                "{} is a stock notice, not an order's message",
                e.message_id()
            ))
        })?;
        Ok(OutboxRow {
            message_id: e.message_id(),
            order_id: effect.order_id,
            step: effect.step as i32,
            entry: schema::encode_outbox(e)?,
        })
    }
}

pub(crate) struct EventRow {
    pub seq: i32,
    pub first_seq: i32,
    pub body: Vec<u8>,
}

/// Everything one transition writes.
pub(crate) struct TransitionRows {
    pub id: Uuid,
    /// The version the writer built on (`None`: the transition creates the order).
    pub before: Option<u32>,
    pub version: u32,
    pub columns: OrderColumns,
    pub index: IndexRows,
    pub token: String,
    pub snapshot: Vec<u8>,
    pub events: Vec<EventRow>,
    pub outbox: Vec<OutboxRow>,
    pub set_timers: Vec<TimerKey>,
    pub clear_timers: Vec<TimerKey>,
    pub idempotency: Option<(String, Vec<u8>)>,
}

impl TransitionRows {
    pub fn of(w: &TransitionWrite<'_>) -> Result<TransitionRows> {
        let first_seq = w.events.first().map(|e| e.seq as i32).unwrap_or(0);
        Ok(TransitionRows {
            id: w.after.id,
            before: w.before.map(|o| o.version),
            version: w.after.version,
            columns: OrderColumns::of(w.after),
            index: IndexRows::of(w.before, w.after),
            token: w.after.tracking_token.clone(),
            snapshot: schema::encode_order(w.after)?,
            events: w
                .events
                .iter()
                .map(|e| {
                    Ok(EventRow {
                        seq: e.seq as i32,
                        first_seq,
                        body: encode_event(e)?,
                    })
                })
                .collect::<Result<_>>()?,
            outbox: w.outbox.iter().map(OutboxRow::of).collect::<Result<_>>()?,
            set_timers: w.set_timers.iter().map(TimerKey::of).collect(),
            clear_timers: w.clear_timers.iter().map(TimerKey::of).collect(),
            idempotency: w
                .idempotency
                .map(|(k, rec)| {
                    Ok::<_, StorageError>((k.to_string(), schema::encode_idempotency(rec)?))
                })
                .transpose()?,
        })
    }
}

/// One event as its own record (sled keeps a transition's events as one array record; here
/// each event has its row, and the array is put back together on reading).
pub(crate) fn encode_event(e: &orderly_domain::Event) -> Result<Vec<u8>> {
    schema::encode_event(e)
}

pub(crate) fn decode_event(bytes: &[u8]) -> Result<orderly_domain::Event> {
    schema::decode_event(bytes)
}

/// The JSON body of a stored event (the version byte removed): the domain event's JSON, for
/// every version this release reads.
pub(crate) fn record_body(bytes: &[u8]) -> Result<&[u8]> {
    schema::event_json(bytes)
}
