//! The rows one transition writes, encoded on the writer's thread (so the commit lane only
//! sends bytes): the snapshot with its index columns, one row per event, outbox rows, timer
//! keys and the idempotency record. Records use the stored schema's v1 encoding, the same
//! bytes the sled backend keeps.

use chrono::{DateTime, Utc};
use orderly_domain::{Order, Status, Timer, TimerKind};
use orderly_storage::schema::{self, v1};
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
    }
}

pub(crate) fn timer_kind(name: &str) -> Result<TimerKind> {
    match name {
        "payment_due" => Ok(TimerKind::PaymentDue),
        other => Err(StorageError::Codec(format!("unknown timer kind '{other}'"))),
    }
}

/// The index columns of a snapshot.
pub(crate) struct OrderColumns {
    pub status: &'static str,
    pub tracking_number: Option<String>,
    pub pick_warehouse: Option<String>,
}

impl OrderColumns {
    pub fn of(o: &Order) -> OrderColumns {
        OrderColumns {
            status: o.status.as_str(),
            tracking_number: o.booking().map(|b| b.tracking_number.clone()),
            // The pick list holds confirmed orders only.
            pick_warehouse: if o.status == Status::Confirmed {
                o.warehouse.clone()
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
    pub fn of(e: &OutboxEntry) -> Result<OutboxRow> {
        Ok(OutboxRow {
            message_id: e.message_id(),
            order_id: e.effect.order_id,
            step: e.effect.step as i32,
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

/// One event as a v1 record (sled keeps a transition's events as one array record; here each
/// event has its row, and the array is put back together on reading).
pub(crate) fn encode_event(e: &orderly_domain::Event) -> Result<Vec<u8>> {
    schema::encode_record(&v1::Event::from(e))
}

pub(crate) fn decode_event(bytes: &[u8]) -> Result<orderly_domain::Event> {
    schema::decode_record::<v1::Event<'static>>(bytes)?
        .try_into()
        .map_err(|e: v1::Invalid| StorageError::Codec(e.0))
}

/// The JSON body of a v1 record (the version byte removed).
pub(crate) fn record_body(bytes: &[u8]) -> Result<&[u8]> {
    match schema::split_version(bytes)? {
        (1, body) => Ok(body),
        (v, _) => Err(StorageError::UnknownSchemaVersion(v)),
    }
}
