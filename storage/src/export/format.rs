//! The lines of an export file (version 1): how each [`ExportRecord`] is written as one JSON
//! object tagged by `"type"`, and how a line is read back into one, checked, with a typed error
//! naming the line. The records inside are in the stored schema the header names: this release
//! writes v2 (`schema::v2`) and reads v1 files too (`schema::v1`, converted as stored v1
//! records are).

use super::{Counts, ExportError, ExportRecord, ExportedOrder, StoredTransition};
use crate::domain::inventory::transfer::Transfer;
use crate::domain::{OrderId, Timer, TimerKind};
use crate::schema::{v1, v2};
use crate::{EventsJson, StorageError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The header's `format`.
pub const FORMAT: &str = "orderly-export";
/// The format version this release writes and reads.
pub const VERSION: u64 = 1;
/// The stored schema the records are written in.
pub const SCHEMA: u64 = 2;
/// The stored schemas this release reads records in.
pub const SCHEMAS_READ: [u64; 2] = [1, 2];

type Str<'a> = Cow<'a, str>;

#[derive(Serialize)]
struct Header<'a> {
    format: &'a str,
    version: u64,
    schema: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<DateTime<Utc>>,
    source: &'a str,
}

/// Appends the header line to `out`.
pub fn header(
    out: &mut Vec<u8>,
    source: &str,
    created_at: Option<DateTime<Utc>>,
) -> Result<(), StorageError> {
    line(
        out,
        &Header {
            format: FORMAT,
            version: VERSION,
            schema: SCHEMA,
            created_at,
            source,
        },
    )
}

/// Checks the header line: an export of a version this release reads. Returns the stored
/// schema its records are in (1 when the header does not say: files written before it did).
pub fn check_header(text: &str) -> Result<u64, ExportError> {
    #[derive(Deserialize)]
    struct Peek<'a> {
        #[serde(borrow)]
        format: Option<Str<'a>>,
        version: Option<u64>,
        schema: Option<u64>,
    }
    let h: Peek<'_> = serde_json::from_str(text)
        .map_err(|e| ExportError::NotAnExport(format!("the first line is not a header: {e}")))?;
    if h.format.as_deref() != Some(FORMAT) {
        return Err(ExportError::NotAnExport(format!(
            "the header has no \"format\": \"{FORMAT}\""
        )));
    }
    match h.version {
        Some(VERSION) => {}
        Some(v) => return Err(ExportError::UnsupportedVersion(v)),
        None => return Err(ExportError::NotAnExport("the header has no version".into())),
    }
    let schema = h.schema.unwrap_or(1);
    if !SCHEMAS_READ.contains(&schema) {
        return Err(ExportError::NotAnExport(format!(
            "the records are in stored schema {schema}, this release reads {SCHEMAS_READ:?}"
        )));
    }
    Ok(schema)
}

// ---- record lines ---------------------------------------------------------------------------

// Lines holding a record whose shape depends on the stored schema are generic in it: written
// with v2's types, read with the types of the file's schema.

#[derive(Serialize, Deserialize)]
struct OrderLine<'a, O> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    order: O,
    #[serde(borrow)]
    transitions: Vec<&'a RawValue>,
}

#[derive(Serialize, Deserialize)]
struct IdempotencyLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    #[serde(borrow)]
    key: Str<'a>,
    record: v2::IdempotencyRecord<'a>,
}

#[derive(Serialize, Deserialize)]
struct StockLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    #[serde(borrow)]
    warehouse: Str<'a>,
    #[serde(borrow)]
    sku: Str<'a>,
    level: v2::StockLevel,
}

#[derive(Serialize, Deserialize)]
struct BackordersLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    #[serde(borrow)]
    sku: Str<'a>,
    backorders: v2::Backorders,
}

#[derive(Serialize, Deserialize)]
struct TransferLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    #[serde(borrow)]
    transfer: v2::Transfer<'a>,
}

#[derive(Serialize, Deserialize)]
struct ReservationLine<'a, R> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    reservation: R,
}

#[derive(Serialize, Deserialize)]
struct RestockLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    order_id: OrderId,
    step: u32,
}

#[derive(Serialize, Deserialize)]
struct OutboxLine<'a, E> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    entry: E,
}

#[derive(Serialize, Deserialize)]
struct TimerLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    order_id: OrderId,
    #[serde(rename = "kind")]
    timer: TimerKind,
    due: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct DeadLetterLine<'a, L, E> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    letter: L,
    entry: E,
}

#[derive(Serialize, Deserialize)]
struct CellAlertLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    #[serde(borrow)]
    warehouse: Str<'a>,
    #[serde(borrow)]
    sku: Str<'a>,
    alert: v2::CellAlert,
}

#[derive(Serialize, Deserialize)]
struct SubscriptionLine<'a, S> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    subscription: S,
}

#[derive(Serialize, Deserialize)]
struct SentMessageLine<'a, M> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    message: M,
}

#[derive(Serialize, Deserialize)]
struct EndLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    counts: Counts,
}

/// `value`'s JSON and a line feed, appended to `out`.
fn line<T: Serialize>(out: &mut Vec<u8>, value: &T) -> Result<(), StorageError> {
    serde_json::to_writer(&mut *out, value)?;
    out.push(b'\n');
    Ok(())
}

fn tag(kind: &'static str) -> Str<'static> {
    Cow::Borrowed(kind)
}

/// Appends `record`'s line to `out`.
pub fn record(out: &mut Vec<u8>, record: &ExportRecord) -> Result<(), StorageError> {
    let kind = tag(record.kind());
    match record {
        ExportRecord::Order(o) => {
            let mut transitions = Vec::with_capacity(o.transitions.len());
            for t in &o.transitions {
                let bytes = t.events.as_bytes();
                // Stored JSON is compact; a line break inside would split the line.
                if bytes.contains(&b'\n') || bytes.contains(&b'\r') {
                    return Err(StorageError::Codec(format!(
                        "the stored events of order {} at step {} contain a line break",
                        o.order.id, t.step
                    )));
                }
                transitions.push(serde_json::from_slice::<&RawValue>(bytes)?);
            }
            line(
                out,
                &OrderLine {
                    kind,
                    order: v2::Order::from(&o.order),
                    transitions,
                },
            )
        }
        ExportRecord::Idempotency { key, record } => line(
            out,
            &IdempotencyLine {
                kind,
                key: Cow::Borrowed(key),
                record: record.into(),
            },
        ),
        ExportRecord::Stock {
            warehouse,
            sku,
            level,
        } => line(
            out,
            &StockLine {
                kind,
                warehouse: Cow::Borrowed(warehouse),
                sku: Cow::Borrowed(sku),
                level: level.into(),
            },
        ),
        ExportRecord::Backorders { sku, backorders } => line(
            out,
            &BackordersLine {
                kind,
                sku: Cow::Borrowed(sku),
                backorders: backorders.into(),
            },
        ),
        ExportRecord::Transfer(t) => line(
            out,
            &TransferLine {
                kind,
                transfer: t.into(),
            },
        ),
        ExportRecord::Reservation(r) => line(
            out,
            &ReservationLine {
                kind,
                reservation: v2::Reservation::from(r),
            },
        ),
        ExportRecord::OrderStep { order_id, step } => line(
            out,
            &RestockLine {
                kind,
                order_id: *order_id,
                step: *step,
            },
        ),
        ExportRecord::Outbox(e) => line(
            out,
            &OutboxLine {
                kind,
                entry: v2::OutboxEntry::from(e),
            },
        ),
        ExportRecord::Timer(t) => line(
            out,
            &TimerLine {
                kind,
                order_id: t.order_id,
                timer: t.kind,
                due: t.due,
            },
        ),
        ExportRecord::DeadLetter(d) => {
            let Some(entry) = &d.entry else {
                return Err(StorageError::Codec(format!(
                    "dead letter {} without its outbox entry",
                    d.message_id
                )));
            };
            let v = v2::DeadLetter::new(d, entry);
            line(
                out,
                &DeadLetterLine {
                    kind,
                    letter: v.letter,
                    entry: v.entry,
                },
            )
        }
        ExportRecord::CellAlert {
            warehouse,
            sku,
            alert,
        } => line(
            out,
            &CellAlertLine {
                kind,
                warehouse: Cow::Borrowed(warehouse),
                sku: Cow::Borrowed(sku),
                alert: alert.into(),
            },
        ),
        ExportRecord::Subscription(sub) => line(
            out,
            &SubscriptionLine {
                kind,
                subscription: v2::Subscription::from(sub),
            },
        ),
        ExportRecord::SentMessage(m) => line(
            out,
            &SentMessageLine {
                kind,
                message: v2::SentMessage::from(m),
            },
        ),
    }
}

/// Appends the closing line to `out`.
pub fn end(out: &mut Vec<u8>, counts: &Counts) -> Result<(), StorageError> {
    line(
        out,
        &EndLine {
            kind: tag("end"),
            counts: *counts,
        },
    )
}

// ---- reading --------------------------------------------------------------------------------

/// A line after the header.
// One at a time, moved once: boxing the record would only add an allocation per line.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Line {
    Record(ExportRecord),
    End(Counts),
}

/// Reads line `line_no` (after the header) of a file whose records are in stored schema
/// `schema` (what [`check_header`] returned).
pub fn decode(schema: u64, line_no: u64, text: &str) -> Result<Line, ExportError> {
    #[derive(Deserialize)]
    struct Peek<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<Str<'a>>,
    }
    let bad_line = |reason: String| ExportError::BadLine {
        line: line_no,
        reason,
    };
    if text.trim().is_empty() {
        return Err(bad_line("an empty line".into()));
    }
    let peek: Peek<'_> =
        serde_json::from_str(text).map_err(|e| bad_line(format!("not a JSON object: {e}")))?;
    let Some(kind) = peek.kind else {
        return Err(bad_line("a record without \"type\"".into()));
    };
    let kind: &'static str = match &*kind {
        "order" => "order",
        "idempotency" => "idempotency",
        "stock" => "stock",
        "backorders" => "backorders",
        "reservation" => "reservation",
        "restock" => "restock",
        "transfer" => "transfer",
        "outbox" => "outbox",
        "timer" => "timer",
        "dead_letter" => "dead_letter",
        "stock_alert" => "stock_alert",
        "subscription" => "subscription",
        "sent_message" => "sent_message",
        "end" => "end",
        other => {
            return Err(bad_line(format!(
                "unknown record type {other:?} (known: order, idempotency, stock, backorders, reservation, restock, transfer, outbox, timer, dead_letter, stock_alert, subscription, sent_message, end)"
            )))
        }
    };
    let bad = |reason: String| ExportError::BadRecord {
        line: line_no,
        kind,
        reason,
    };
    let json = |e: serde_json::Error| bad(e.to_string());
    Ok(match kind {
        "order" => {
            let transfer = if schema == 1 {
                let l: OrderLine<'_, v1::Order<'static>> =
                    serde_json::from_str(text).map_err(json)?;
                let o = l.order.try_into().map_err(|e: v1::Invalid| bad(e.0))?;
                order(o, &l.transitions, |raw| {
                    let events: Vec<v1::Event<'_>> = serde_json::from_str(raw)?;
                    Ok(events
                        .into_iter()
                        .map(TryInto::try_into)
                        .collect::<Result<_, v1::Invalid>>()?)
                })
            } else {
                let l: OrderLine<'_, v2::Order<'static>> =
                    serde_json::from_str(text).map_err(json)?;
                let o = l.order.try_into().map_err(|e: v1::Invalid| bad(e.0))?;
                order(o, &l.transitions, |raw| {
                    Ok(v2::events_back(serde_json::from_str(raw)?)?)
                })
            };
            Line::Record(ExportRecord::Order(Box::new(transfer.map_err(bad)?)))
        }
        "idempotency" => {
            let l: IdempotencyLine<'_> = serde_json::from_str(text).map_err(json)?;
            if l.key.is_empty() {
                return Err(bad("an empty key".into()));
            }
            Line::Record(ExportRecord::Idempotency {
                key: l.key.into_owned(),
                record: l.record.into(),
            })
        }
        "stock" => {
            let l: StockLine<'_> = serde_json::from_str(text).map_err(json)?;
            for (what, v) in [("warehouse", &l.warehouse), ("sku", &l.sku)] {
                if v.is_empty() || v.contains('\0') {
                    return Err(bad(format!("{what} is empty or holds a NUL character")));
                }
            }
            if l.level.on_hand < 0 || l.level.reserved < 0 {
                return Err(bad("negative stock".into()));
            }
            Line::Record(ExportRecord::Stock {
                warehouse: l.warehouse.into_owned().into(),
                sku: l.sku.into_owned().into(),
                level: l.level.into(),
            })
        }
        "backorders" => {
            let l: BackordersLine<'_> = serde_json::from_str(text).map_err(json)?;
            if l.sku.is_empty() || l.sku.contains('\0') {
                return Err(bad("sku is empty or holds a NUL character".into()));
            }
            let b = l.backorders;
            if b.cap < 0 || b.waiting < 0 || b.waiting > b.cap {
                return Err(bad(format!(
                    "{} units waiting with a cap of {}: waiting must lie between 0 and the cap",
                    b.waiting, b.cap
                )));
            }
            Line::Record(ExportRecord::Backorders {
                sku: l.sku.into_owned().into(),
                backorders: b.into(),
            })
        }
        "reservation" => Line::Record(ExportRecord::Reservation(if schema == 1 {
            let l: ReservationLine<'_, v1::Reservation<'static>> =
                serde_json::from_str(text).map_err(json)?;
            l.reservation.into()
        } else {
            let l: ReservationLine<'_, v2::Reservation<'static>> =
                serde_json::from_str(text).map_err(json)?;
            l.reservation.into()
        })),
        "restock" => {
            let l: RestockLine<'_> = serde_json::from_str(text).map_err(json)?;
            Line::Record(ExportRecord::OrderStep {
                order_id: l.order_id,
                step: l.step,
            })
        }
        "transfer" => {
            let l: TransferLine<'_> = serde_json::from_str(text).map_err(json)?;
            let t: Transfer = l.transfer.into();
            if t.from == t.to || t.lines.iter().any(|x| x.received > x.quantity) {
                return Err(bad(format!(
                    "transfer {}: to itself, or more received than sent",
                    t.id
                )));
            }
            Line::Record(ExportRecord::Transfer(t))
        }
        "outbox" => Line::Record(ExportRecord::Outbox(if schema == 1 {
            let l: OutboxLine<'_, v1::OutboxEntry<'static>> =
                serde_json::from_str(text).map_err(json)?;
            l.entry.into()
        } else {
            let l: OutboxLine<'_, v2::OutboxEntry<'static>> =
                serde_json::from_str(text).map_err(json)?;
            l.entry.try_into().map_err(|e: v1::Invalid| bad(e.0))?
        })),
        "timer" => {
            let l: TimerLine<'_> = serde_json::from_str(text).map_err(json)?;
            Line::Record(ExportRecord::Timer(Timer {
                order_id: l.order_id,
                kind: l.timer,
                due: l.due,
            }))
        }
        "dead_letter" => Line::Record(ExportRecord::DeadLetter(if schema == 1 {
            let l: DeadLetterLine<'_, v1::DeadLetterInfo<'static>, v1::OutboxEntry<'static>> =
                serde_json::from_str(text).map_err(json)?;
            v1::DeadLetter {
                letter: l.letter,
                entry: l.entry,
            }
            .into()
        } else {
            let l: DeadLetterLine<'_, v2::DeadLetterInfo<'static>, v2::OutboxEntry<'static>> =
                serde_json::from_str(text).map_err(json)?;
            v2::DeadLetter {
                letter: l.letter,
                entry: l.entry,
            }
            .try_into()
            .map_err(|e: v1::Invalid| bad(e.0))?
        })),
        "stock_alert" => {
            let l: CellAlertLine<'_> = serde_json::from_str(text).map_err(json)?;
            for (what, v) in [("warehouse", &l.warehouse), ("sku", &l.sku)] {
                if v.is_empty() || v.contains('\0') {
                    return Err(bad(format!("{what} is empty or holds a NUL character")));
                }
            }
            if l.alert.point.is_some_and(|p| p < 0) {
                return Err(bad("a negative reorder point".into()));
            }
            Line::Record(ExportRecord::CellAlert {
                warehouse: l.warehouse.into_owned().into(),
                sku: l.sku.into_owned().into(),
                alert: l.alert.into(),
            })
        }
        "subscription" => {
            let l: SubscriptionLine<'_, v2::Subscription<'static>> =
                serde_json::from_str(text).map_err(json)?;
            let s: crate::domain::stock_alerts::Subscription = l.subscription.into();
            if s.sku.is_empty() || s.sku.contains('\0') {
                return Err(bad("sku is empty or holds a NUL character".into()));
            }
            if crate::domain::stock_alerts::contact(&s.contact).as_deref() != Ok(s.contact.as_str())
            {
                return Err(bad(format!("{:?} is not a contact as stored", s.contact)));
            }
            Line::Record(ExportRecord::Subscription(s))
        }
        "sent_message" => {
            let l: SentMessageLine<'_, v2::SentMessage<'static>> =
                serde_json::from_str(text).map_err(json)?;
            let m: crate::SentMessage = l.message.into();
            let expected = format!("msg_{}_", m.order_id.simple());
            if !m.message_id.starts_with(&expected) {
                return Err(bad(format!(
                    "message {} is not about order {}",
                    m.message_id, m.order_id
                )));
            }
            Line::Record(ExportRecord::SentMessage(m))
        }
        _ => {
            let l: EndLine<'_> = serde_json::from_str(text).map_err(json)?;
            Line::End(l.counts)
        }
    })
}

/// Why a transition's events do not read.
struct BadEvents(String);

impl From<serde_json::Error> for BadEvents {
    fn from(e: serde_json::Error) -> Self {
        BadEvents(e.to_string())
    }
}

impl From<v1::Invalid> for BadEvents {
    fn from(e: v1::Invalid) -> Self {
        BadEvents(e.0)
    }
}

/// An order line's snapshot and history, checked: each transition a non-empty array of valid
/// events (read by `events`, in the file's schema), their seqs running from 1 to the
/// snapshot's version without a gap.
fn order(
    order: crate::domain::Order,
    raw_transitions: &[&RawValue],
    events: impl Fn(&str) -> Result<Vec<crate::domain::Event>, BadEvents>,
) -> Result<ExportedOrder, String> {
    let mut transitions = Vec::with_capacity(raw_transitions.len());
    let mut next = 1u32;
    for (i, raw) in raw_transitions.iter().enumerate() {
        let events = events(raw.get()).map_err(|e| format!("transition {}: {}", i + 1, e.0))?;
        let Some(first) = events.first() else {
            return Err(format!("transition {} has no events", i + 1));
        };
        let step = first.seq;
        for e in &events {
            if e.seq != next {
                return Err(format!(
                    "transition {}: event seq {} where {next} was due (a history runs 1, 2, … without a gap)",
                    i + 1,
                    e.seq
                ));
            }
            next = next.saturating_add(1);
        }
        transitions.push(StoredTransition {
            step,
            events: EventsJson::new(raw.get().as_bytes().to_vec()),
        });
    }
    if next - 1 != order.version {
        return Err(format!(
            "the history ends at seq {} but the snapshot is at version {}",
            next - 1,
            order.version
        ));
    }
    Ok(ExportedOrder { order, transitions })
}

/// A complete file holding `records`, for tests: header (without a creation time), the
/// records, the closing line.
pub fn file(source: &str, records: &[ExportRecord]) -> Result<Vec<u8>, StorageError> {
    let mut out = Vec::new();
    header(&mut out, source, None)?;
    let mut counts = Counts::default();
    for r in records {
        record(&mut out, r)?;
        counts.add(r);
    }
    end(&mut out, &counts)?;
    Ok(out)
}
