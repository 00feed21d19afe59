//! Moving a store's data to another store, of the same backend or another (sled to PostgreSQL
//! and back): the records that cross ([`ExportRecord`]), the export file they travel in (NDJSON,
//! [the `format` module](mod@format)), and the two drivers, [`export`] (a store into a file, through
//! [`Archive::export`]) and [`import`] (a file into an empty store, through
//! [`Archive::import`] and a final [`Health::sync`]).
//!
//! # The export file, version 1
//!
//! One JSON object per line (NDJSON, UTF-8):
//!
//! 1. a header: `{"format":"orderly-export","version":1,"schema":2,"created_at":…,"source":…}`
//!    (`schema`: the stored schema the records are written in; `source`: the backend it came
//!    from, for the operator);
//! 2. one line per record, tagged by `"type"`: `order` (the snapshot and its history, one array
//!    of events per stored transition), `idempotency`, `stock`, `backorders` (a sku's backorder
//!    record), `reservation`, `restock`, `transfer` (a transfer between warehouses, with its
//!    receipts), `outbox` (with its retry state), `timer`, `dead_letter` (with its outbox
//!    entry), `stock_alert` (a stock cell's reorder point and low-stock state), `subscription`
//!    (a back-in-stock subscription), in the order [`Archive::export`] hands them out (orders
//!    first);
//! 3. a closing line `{"type":"end","counts":{…}}` with the number of records of each type, so
//!    a truncated file is told from a complete one (`backorders`, `transfer`, `stock_alert` and
//!    `subscription` only when there are some, so a store without them exports what the
//!    release before did).
//!
//! Snapshots, events, outbox entries, idempotency records, dead letters, stock levels,
//! backorder records and reservations are in the stored shapes of the schema the header names (this release writes
//! v2, `schema::v2`, and reads files of schema 1 too, converted as stored v1 records are),
//! which never change: a file exported by this release stays readable by later ones. An
//! order's history is carried as the stored JSON of each transition, byte for byte (v1 or v2
//! event JSON, both the domain event's JSON), so [`OrderReads::history_json`] reads the same
//! after an import.
//!
//! Reading is strict and never panics: every problem is a [`ExportError`] naming its line.

pub mod format;

use crate::domain::inventory::transfer::Transfer;
use crate::domain::inventory::{Backorders, Reservation, StockLevel};
use crate::domain::stock_alerts::{CellAlert, Subscription};
use crate::domain::{Order, OrderId, Sku, Timer, WarehouseId};
use crate::{
    DeadLetter, EventsJson, IdempotencyRecord, OutboxEntry, SentMessage, Storage, StorageError,
};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::io::{BufRead, Write};

/// One record of a store, as it crosses [`Archive::export`] and [`Archive::import`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportRecord {
    /// An order's snapshot with its whole history.
    Order(Box<ExportedOrder>),
    /// What an `Idempotency-Key` was first used for.
    Idempotency {
        key: String,
        record: IdempotencyRecord,
    },
    /// One stock cell.
    Stock {
        warehouse: WarehouseId,
        sku: Sku,
        level: StockLevel,
    },
    /// One sku's backorder record (policy, cap, units waiting).
    Backorders { sku: Sku, backorders: Backorders },
    /// An order's reservation record.
    Reservation(Reservation),
    /// Step `step` of an order moved stock (a [`crate::StockOperation::OrderStep`]); its
    /// `"type"` in a file is `restock`, as written when only restocks had markers.
    OrderStep { order_id: OrderId, step: u32 },
    /// A transfer of stock between warehouses, with its receipts.
    Transfer(Transfer),
    /// A message still to be delivered, with its retry state.
    Outbox(OutboxEntry),
    /// A pending timer.
    Timer(Timer),
    /// A notification that ran out of attempts, with its outbox entry (`entry` is `Some`).
    DeadLetter(DeadLetter),
    /// A stock cell's alert record (reorder point, low-stock state).
    CellAlert {
        warehouse: WarehouseId,
        sku: Sku,
        alert: CellAlert,
    },
    /// A back-in-stock subscription waiting to be told.
    Subscription(Subscription),
    /// A message delivered to a person, on its order's message log.
    SentMessage(SentMessage),
}

impl ExportRecord {
    /// The record's `"type"` in an export file.
    pub fn kind(&self) -> &'static str {
        match self {
            ExportRecord::Order(_) => "order",
            ExportRecord::Idempotency { .. } => "idempotency",
            ExportRecord::Stock { .. } => "stock",
            ExportRecord::Backorders { .. } => "backorders",
            ExportRecord::Reservation(_) => "reservation",
            ExportRecord::OrderStep { .. } => "restock",
            ExportRecord::Transfer(_) => "transfer",
            ExportRecord::Outbox(_) => "outbox",
            ExportRecord::Timer(_) => "timer",
            ExportRecord::DeadLetter(_) => "dead_letter",
            ExportRecord::CellAlert { .. } => "stock_alert",
            ExportRecord::Subscription(_) => "subscription",
            ExportRecord::SentMessage(_) => "sent_message",
        }
    }

    /// The order a record needs stored before it can count (its visibility depends on the
    /// order's snapshot): idempotency records, outbox entries and timers.
    pub fn needs_order(&self) -> Option<OrderId> {
        match self {
            ExportRecord::Idempotency { record, .. } => Some(record.order_id),
            ExportRecord::Outbox(e) => e.order_id(),
            ExportRecord::Timer(t) => Some(t.order_id),
            _ => None,
        }
    }
}

/// An order as it is moved: its snapshot and its history exactly as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedOrder {
    pub order: Order,
    /// One element per stored transition, by step; their events run from seq 1 to the
    /// snapshot's version without a gap (checked when a file is read).
    pub transitions: Vec<StoredTransition>,
}

/// One transition's events as stored: the seq of its first event, and the events' JSON (the
/// domain event's shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTransition {
    pub step: u32,
    pub events: EventsJson,
}

/// How many records of each type a file holds (its closing line), or an export wrote, or an
/// import stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Counts {
    pub order: u64,
    pub idempotency: u64,
    pub stock: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub backorders: u64,
    pub reservation: u64,
    /// Order-step markers (`"restock"`, as in the file).
    #[serde(rename = "restock")]
    pub order_step: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub transfer: u64,
    pub outbox: u64,
    pub timer: u64,
    pub dead_letter: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub stock_alert: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub subscription: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub sent_message: u64,
}

impl Counts {
    /// Counts one more record of `r`'s type.
    pub fn add(&mut self, r: &ExportRecord) {
        let n = match r {
            ExportRecord::Order(_) => &mut self.order,
            ExportRecord::Idempotency { .. } => &mut self.idempotency,
            ExportRecord::Stock { .. } => &mut self.stock,
            ExportRecord::Backorders { .. } => &mut self.backorders,
            ExportRecord::Reservation(_) => &mut self.reservation,
            ExportRecord::OrderStep { .. } => &mut self.order_step,
            ExportRecord::Transfer(_) => &mut self.transfer,
            ExportRecord::Outbox(_) => &mut self.outbox,
            ExportRecord::Timer(_) => &mut self.timer,
            ExportRecord::DeadLetter(_) => &mut self.dead_letter,
            ExportRecord::CellAlert { .. } => &mut self.stock_alert,
            ExportRecord::Subscription(_) => &mut self.subscription,
            ExportRecord::SentMessage(_) => &mut self.sent_message,
        };
        *n += 1;
    }

    pub fn total(&self) -> u64 {
        self.order
            + self.idempotency
            + self.stock
            + self.backorders
            + self.reservation
            + self.order_step
            + self.transfer
            + self.outbox
            + self.timer
            + self.dead_letter
            + self.stock_alert
            + self.subscription
            + self.sent_message
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} orders, {} idempotency records, {} stock cells, {} sku backorder records, {} reservations, {} order-step markers, {} transfers, {} outbox entries, {} timers, {} dead letters, {} stock alert records, {} subscriptions",
            self.order,
            self.idempotency,
            self.stock,
            self.backorders,
            self.reservation,
            self.order_step,
            self.transfer,
            self.outbox,
            self.timer,
            self.dead_letter,
            self.stock_alert,
            self.subscription
        )
    }
}

/// What went wrong reading or writing an export. Problems with the file name its line (1 is the
/// header).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("line 1: not an Orderly export: {0}")]
    NotAnExport(String),
    #[error("line 1: export format version {0}; this release reads version {v}", v = format::VERSION)]
    UnsupportedVersion(u64),
    #[error("line {line}: {reason}")]
    BadLine { line: u64, reason: String },
    #[error("line {line}: {kind} record: {reason}")]
    BadRecord {
        line: u64,
        kind: &'static str,
        reason: String,
    },
    #[error("the file ends after line {lines} without its closing line: it is truncated")]
    Truncated { lines: u64 },
    #[error("line {line}: the closing line counts {expected}, but the file holds {found}")]
    CountMismatch {
        line: u64,
        expected: Box<Counts>,
        found: Box<Counts>,
    },
    #[error("line {line}: something follows the closing line")]
    AfterEnd { line: u64 },
    #[error("the target store is not empty (it holds {0}); import into an empty one")]
    TargetNotEmpty(&'static str),
    #[error("line {line}: storing the {kind} record failed: {source}")]
    Import {
        line: u64,
        kind: &'static str,
        #[source]
        source: StorageError,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Writes `store`'s whole content to `out` as an export file (header, records, closing line)
/// and returns what it wrote. `source` names the backend in the header. Streams: one record
/// in memory at a time.
pub fn export(
    store: &dyn Storage,
    out: &mut dyn Write,
    source: &str,
) -> Result<Counts, ExportError> {
    let mut line = Vec::with_capacity(4096);
    format::header(&mut line, source, Some(chrono::Utc::now()))?;
    out.write_all(&line)?;
    let mut counts = Counts::default();
    store.export(&mut |record| {
        line.clear();
        format::record(&mut line, &record)?;
        out.write_all(&line)?;
        counts.add(&record);
        Ok(())
    })?;
    line.clear();
    format::end(&mut line, &counts)?;
    out.write_all(&line)?;
    out.flush()?;
    Ok(counts)
}

/// Reads an export file from `input` into `store`, which must be empty (no order, stock cell,
/// outbox entry, timer or dead letter: an import never merges two shops' data), then waits
/// until everything is durable. Returns what it stored.
///
/// Every line is checked before it is stored; the first bad line stops the import with an
/// error naming it. What was stored until then stays (an order is never half there): start
/// again with an empty store.
///
/// Records are handed to storage [`IMPORT_BATCH`] at a time ([`Archive::import_many`]), which a
/// backend across the network stores in one transaction. Whether a record refers to an order
/// the file holds earlier is checked against the orders read so far: the store was empty.
pub fn import(store: &dyn Storage, input: &mut dyn BufRead) -> Result<Counts, ExportError> {
    ensure_empty(store)?;
    let mut orders: HashSet<OrderId> = HashSet::new();
    let mut batch: Vec<(u64, ExportRecord)> = Vec::with_capacity(IMPORT_BATCH);
    let mut buf = Vec::with_capacity(4096);
    let mut line_no = 1u64;
    if read_line(input, &mut buf)? == 0 {
        return Err(ExportError::NotAnExport("the file is empty".into()));
    }
    let schema = format::check_header(text(&buf, line_no)?)?;
    let mut counts = Counts::default();
    let mut ended = false;
    loop {
        if read_line(input, &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        if ended {
            return Err(ExportError::AfterEnd { line: line_no });
        }
        match format::decode(schema, line_no, text(&buf, line_no)?)? {
            format::Line::Record(record) => {
                if let Some(id) = record.needs_order() {
                    if !orders.contains(&id) {
                        return Err(ExportError::BadRecord {
                            line: line_no,
                            kind: record.kind(),
                            reason: format!(
                                "refers to order {id}, which no earlier line of the file holds"
                            ),
                        });
                    }
                }
                if let ExportRecord::Order(o) = &record {
                    orders.insert(o.order.id);
                }
                counts.add(&record);
                batch.push((line_no, record));
                if batch.len() >= IMPORT_BATCH {
                    store_batch(store, &mut batch)?;
                }
            }
            format::Line::End(expected) => {
                if expected != counts {
                    return Err(ExportError::CountMismatch {
                        line: line_no,
                        expected: Box::new(expected),
                        found: Box::new(counts),
                    });
                }
                ended = true;
            }
        }
    }
    store_batch(store, &mut batch)?;
    if !ended {
        return Err(ExportError::Truncated { lines: line_no });
    }
    futures::executor::block_on(std::future::IntoFuture::into_future(store.sync()))?;
    Ok(counts)
}

/// How many records an import hands to storage at once.
pub const IMPORT_BATCH: usize = 512;

/// Stores the records read so far (`(line, record)`), naming the line of one that fails.
fn store_batch(
    store: &dyn Storage,
    batch: &mut Vec<(u64, ExportRecord)>,
) -> Result<(), ExportError> {
    if batch.is_empty() {
        return Ok(());
    }
    let (lines, records): (Vec<u64>, Vec<ExportRecord>) = batch.drain(..).unzip();
    store
        .import_many(&records)
        .map_err(|(i, source)| ExportError::Import {
            line: lines[i],
            kind: records[i].kind(),
            source,
        })
}

/// Fails unless `store` holds nothing an import would write.
pub fn ensure_empty(store: &dyn Storage) -> Result<(), ExportError> {
    if !store.list_orders(None, None, 1)?.is_empty() {
        return Err(ExportError::TargetNotEmpty("orders"));
    }
    if !store.stock_levels()?.is_empty() {
        return Err(ExportError::TargetNotEmpty("stock cells"));
    }
    if !store.sku_backorders()?.is_empty() {
        return Err(ExportError::TargetNotEmpty("sku backorder records"));
    }
    if store.outbox_len()? > 0 {
        return Err(ExportError::TargetNotEmpty("outbox entries"));
    }
    if !store.pending_timers(1)?.is_empty() {
        return Err(ExportError::TargetNotEmpty("timers"));
    }
    if !store.dead_letters(1)?.is_empty() {
        return Err(ExportError::TargetNotEmpty("dead letters"));
    }
    if !store.cell_alerts()?.is_empty() {
        return Err(ExportError::TargetNotEmpty("stock alert records"));
    }
    if !store.subscribed_skus(None)?.is_empty() {
        return Err(ExportError::TargetNotEmpty("subscriptions"));
    }
    Ok(())
}

/// Reads one line into `buf` without its line ending; 0 at the end of the input.
fn read_line(input: &mut dyn BufRead, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    buf.clear();
    let n = input.read_until(b'\n', buf)?;
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    Ok(n)
}

fn text(buf: &[u8], line: u64) -> Result<&str, ExportError> {
    std::str::from_utf8(buf).map_err(|e| ExportError::BadLine {
        line,
        reason: format!("not UTF-8: {e}"),
    })
}

#[cfg(test)]
mod tests;
