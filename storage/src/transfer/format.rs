//! The lines of an export file (version 1): how each [`TransferRecord`] is written as one JSON
//! object tagged by `"type"`, and how a line is read back into one, checked, with a typed error
//! naming the line. The records inside are the stored v1 shapes (`schema::v1`).

use super::{Counts, OrderTransfer, StoredTransition, TransferError, TransferRecord};
use crate::domain::{OrderId, Timer, TimerKind};
use crate::schema::v1;
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
pub const SCHEMA: u64 = 1;

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

/// Checks the header line: an export of a version this release reads.
pub fn check_header(text: &str) -> Result<(), TransferError> {
    #[derive(Deserialize)]
    struct Peek<'a> {
        #[serde(borrow)]
        format: Option<Str<'a>>,
        version: Option<u64>,
        schema: Option<u64>,
    }
    let h: Peek<'_> = serde_json::from_str(text)
        .map_err(|e| TransferError::NotAnExport(format!("the first line is not a header: {e}")))?;
    if h.format.as_deref() != Some(FORMAT) {
        return Err(TransferError::NotAnExport(format!(
            "the header has no \"format\": \"{FORMAT}\""
        )));
    }
    match h.version {
        Some(VERSION) => {}
        Some(v) => return Err(TransferError::UnsupportedVersion(v)),
        None => {
            return Err(TransferError::NotAnExport(
                "the header has no version".into(),
            ))
        }
    }
    if h.schema.unwrap_or(SCHEMA) != SCHEMA {
        return Err(TransferError::NotAnExport(format!(
            "the records are in stored schema {}, this release writes and reads {SCHEMA}",
            h.schema.unwrap_or_default()
        )));
    }
    Ok(())
}

// ---- record lines ---------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct OrderLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    order: v1::Order<'a>,
    #[serde(borrow)]
    transitions: Vec<&'a RawValue>,
}

#[derive(Serialize, Deserialize)]
struct IdempotencyLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    #[serde(borrow)]
    key: Str<'a>,
    record: v1::IdempotencyRecord<'a>,
}

#[derive(Serialize, Deserialize)]
struct StockLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    #[serde(borrow)]
    warehouse: Str<'a>,
    #[serde(borrow)]
    sku: Str<'a>,
    level: v1::StockLevel,
}

#[derive(Serialize, Deserialize)]
struct ReservationLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    reservation: v1::Reservation<'a>,
}

#[derive(Serialize, Deserialize)]
struct RestockLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    order_id: OrderId,
    step: u32,
}

#[derive(Serialize, Deserialize)]
struct OutboxLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    entry: v1::OutboxEntry<'a>,
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
struct DeadLetterLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    letter: v1::DeadLetterInfo<'a>,
    entry: v1::OutboxEntry<'a>,
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
pub fn record(out: &mut Vec<u8>, record: &TransferRecord) -> Result<(), StorageError> {
    let kind = tag(record.kind());
    match record {
        TransferRecord::Order(o) => {
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
                    order: v1::Order::from(&o.order),
                    transitions,
                },
            )
        }
        TransferRecord::Idempotency { key, record } => line(
            out,
            &IdempotencyLine {
                kind,
                key: Cow::Borrowed(key),
                record: record.into(),
            },
        ),
        TransferRecord::Stock {
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
        TransferRecord::Reservation(r) => line(
            out,
            &ReservationLine {
                kind,
                reservation: r.into(),
            },
        ),
        TransferRecord::Restock { order_id, step } => line(
            out,
            &RestockLine {
                kind,
                order_id: *order_id,
                step: *step,
            },
        ),
        TransferRecord::Outbox(e) => line(
            out,
            &OutboxLine {
                kind,
                entry: e.into(),
            },
        ),
        TransferRecord::Timer(t) => line(
            out,
            &TimerLine {
                kind,
                order_id: t.order_id,
                timer: t.kind,
                due: t.due,
            },
        ),
        TransferRecord::DeadLetter(d) => {
            let Some(entry) = &d.entry else {
                return Err(StorageError::Codec(format!(
                    "dead letter {} without its outbox entry",
                    d.message_id
                )));
            };
            let v = v1::DeadLetter::new(d, entry);
            line(
                out,
                &DeadLetterLine {
                    kind,
                    letter: v.letter,
                    entry: v.entry,
                },
            )
        }
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
    Record(TransferRecord),
    End(Counts),
}

/// Reads line `line_no` (after the header).
pub fn decode(line_no: u64, text: &str) -> Result<Line, TransferError> {
    #[derive(Deserialize)]
    struct Peek<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<Str<'a>>,
    }
    let bad_line = |reason: String| TransferError::BadLine {
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
        "reservation" => "reservation",
        "restock" => "restock",
        "outbox" => "outbox",
        "timer" => "timer",
        "dead_letter" => "dead_letter",
        "end" => "end",
        other => {
            return Err(bad_line(format!(
                "unknown record type {other:?} (known: order, idempotency, stock, reservation, restock, outbox, timer, dead_letter, end)"
            )))
        }
    };
    let bad = |reason: String| TransferError::BadRecord {
        line: line_no,
        kind,
        reason,
    };
    let json = |e: serde_json::Error| bad(e.to_string());
    Ok(match kind {
        "order" => {
            let l: OrderLine<'_> = serde_json::from_str(text).map_err(json)?;
            Line::Record(TransferRecord::Order(Box::new(order(l).map_err(bad)?)))
        }
        "idempotency" => {
            let l: IdempotencyLine<'_> = serde_json::from_str(text).map_err(json)?;
            if l.key.is_empty() {
                return Err(bad("an empty key".into()));
            }
            Line::Record(TransferRecord::Idempotency {
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
            Line::Record(TransferRecord::Stock {
                warehouse: l.warehouse.into_owned(),
                sku: l.sku.into_owned(),
                level: l.level.into(),
            })
        }
        "reservation" => {
            let l: ReservationLine<'_> = serde_json::from_str(text).map_err(json)?;
            Line::Record(TransferRecord::Reservation(l.reservation.into()))
        }
        "restock" => {
            let l: RestockLine<'_> = serde_json::from_str(text).map_err(json)?;
            Line::Record(TransferRecord::Restock {
                order_id: l.order_id,
                step: l.step,
            })
        }
        "outbox" => {
            let l: OutboxLine<'_> = serde_json::from_str(text).map_err(json)?;
            Line::Record(TransferRecord::Outbox(l.entry.into()))
        }
        "timer" => {
            let l: TimerLine<'_> = serde_json::from_str(text).map_err(json)?;
            Line::Record(TransferRecord::Timer(Timer {
                order_id: l.order_id,
                kind: l.timer,
                due: l.due,
            }))
        }
        "dead_letter" => {
            let l: DeadLetterLine<'_> = serde_json::from_str(text).map_err(json)?;
            let letter: crate::DeadLetter = v1::DeadLetter {
                letter: l.letter,
                entry: l.entry,
            }
            .into();
            Line::Record(TransferRecord::DeadLetter(letter))
        }
        _ => {
            let l: EndLine<'_> = serde_json::from_str(text).map_err(json)?;
            Line::End(l.counts)
        }
    })
}

/// An order line's snapshot and history, checked: each transition a non-empty array of valid
/// events, their seqs running from 1 to the snapshot's version without a gap.
fn order(l: OrderLine<'_>) -> Result<OrderTransfer, String> {
    let order: crate::domain::Order = l.order.try_into().map_err(|e: v1::Invalid| e.0)?;
    let mut transitions = Vec::with_capacity(l.transitions.len());
    let mut next = 1u32;
    for (i, raw) in l.transitions.iter().enumerate() {
        let events: Vec<v1::Event<'_>> =
            serde_json::from_str(raw.get()).map_err(|e| format!("transition {}: {e}", i + 1))?;
        let events =
            v1::events_back(events).map_err(|e| format!("transition {}: {}", i + 1, e.0))?;
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
    Ok(OrderTransfer { order, transitions })
}

/// A complete file holding `records`, for tests: header (without a creation time), the
/// records, the closing line.
pub fn file(source: &str, records: &[TransferRecord]) -> Result<Vec<u8>, StorageError> {
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
