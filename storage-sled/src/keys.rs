//! Key encoding for the `orders` and `inventory` trees. One byte of prefix says what a key
//! is; ids are the 16 raw UUID bytes and numbers are big-endian, so sled's byte order is the
//! order we scan in (UUIDv7 ids sort by creation time, timers by due time).

use chrono::{DateTime, Utc};
use orderly_domain::{CellKey, OrderId, Sku, Status, Timer, TimerKind};

pub const ORDER: u8 = b'O';
pub const EVENT: u8 = b'E';
pub const OUTBOX: u8 = b'X';
pub const TIMER: u8 = b'T';
pub const IDEMPOTENCY: u8 = b'I';
pub const STATUS: u8 = b'S';
pub const PICK: u8 = b'W';
pub const TOKEN: u8 = b'K';
pub const TRACKING: u8 = b'N';
/// The backorder queue: an order waiting for stock (placed and backordered), by id.
pub const BACKORDER: u8 = b'B';
pub const DEAD: u8 = b'D';
pub const STOCK: u8 = b'L';
pub const RESERVATION: u8 = b'R';
pub const RESTOCK: u8 = b'P';
pub const JOURNAL: u8 = b'J';
/// A sku's backorder record (inventory tree), by sku.
pub const SKU: u8 = b'U';
/// A transfer between warehouses (inventory tree), by id.
pub const TRANSFER: u8 = b'M';
/// A transfer's `Idempotency-Key` (inventory tree): the value is the transfer's id.
pub const TRANSFER_KEY: u8 = b'Y';
/// The bench's raw baseline writes (never in a service's data directory).
pub const BASELINE: u8 = b'z';
/// A stock notice's outbox entry (orders tree), by message id: about no order, so apart from
/// the orders' `X` entries, whose visibility their order's snapshot decides.
pub const NOTICE: u8 = b'y';
/// A stock cell's alert record (inventory tree): warehouse, NUL, sku.
pub const CELL_ALERT: u8 = b'a';
/// A back-in-stock subscription (inventory tree): sku, NUL, contact.
pub const SUBSCRIPTION: u8 = b's';
/// A stock-alerts journal record (inventory tree), the commit point of `write_alerts`.
pub const ALERTS_JOURNAL: u8 = b'q';
/// A message delivered to a person (orders tree): order id, then message id.
pub const SENT: u8 = b'G';

fn with(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(prefix);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

pub fn order(id: OrderId) -> Vec<u8> {
    with(ORDER, &[id.as_bytes()])
}

pub fn events_of(id: OrderId) -> Vec<u8> {
    with(EVENT, &[id.as_bytes()])
}

/// The key of one transition's events: the order and the first event's step, so a range up to
/// a snapshot's version holds exactly the transitions that snapshot includes.
pub fn event(id: OrderId, seq: u32) -> Vec<u8> {
    with(EVENT, &[id.as_bytes(), &seq.to_be_bytes()])
}

/// The step of an event key (see [`event`]).
pub fn parse_event_step(k: &[u8]) -> Option<u32> {
    if k.len() != 1 + 16 + 4 || k[0] != EVENT {
        return None;
    }
    Some(u32::from_be_bytes(k[17..21].try_into().ok()?))
}

pub fn outbox_of(id: OrderId) -> Vec<u8> {
    with(OUTBOX, &[id.as_bytes()])
}

pub fn outbox(id: OrderId, step: u32, action: &str, channel: Option<&str>) -> Vec<u8> {
    let mut k = with(
        OUTBOX,
        &[id.as_bytes(), &step.to_be_bytes(), action.as_bytes()],
    );
    if let Some(c) = channel {
        k.push(b':');
        k.extend_from_slice(c.as_bytes());
    }
    k
}

fn kind_byte(k: TimerKind) -> u8 {
    match k {
        TimerKind::PaymentDue => 1,
        TimerKind::PromiseDue => 2,
        TimerKind::ExceptionDue => 3,
        TimerKind::DeadlineDue => 4,
    }
}

fn micros(t: DateTime<Utc>) -> [u8; 8] {
    // Offset so that pre-1970 times would still sort; all real times are positive anyway.
    ((t.timestamp_micros() as u64) ^ (1 << 63)).to_be_bytes()
}

pub fn timer(t: &Timer) -> Vec<u8> {
    with(
        TIMER,
        &[&micros(t.due), t.order_id.as_bytes(), &[kind_byte(t.kind)]],
    )
}

/// Exclusive upper bound of the timers due at or before `now`.
pub fn timer_upper(now: DateTime<Utc>) -> Vec<u8> {
    let m = ((now.timestamp_micros() as u64) ^ (1 << 63)) + 1;
    with(TIMER, &[&m.to_be_bytes()])
}

pub fn parse_timer(k: &[u8]) -> Option<Timer> {
    if k.len() != 1 + 8 + 16 + 1 || k[0] != TIMER {
        return None;
    }
    let m = u64::from_be_bytes(k[1..9].try_into().ok()?) ^ (1 << 63);
    let due = DateTime::<Utc>::from_timestamp_micros(m as i64)?;
    let order_id = OrderId::from_bytes(k[9..25].try_into().ok()?);
    let kind = match k[25] {
        1 => TimerKind::PaymentDue,
        2 => TimerKind::PromiseDue,
        3 => TimerKind::ExceptionDue,
        4 => TimerKind::DeadlineDue,
        _ => return None,
    };
    Some(Timer {
        order_id,
        kind,
        due,
    })
}

pub fn idempotency(key: &str) -> Vec<u8> {
    with(IDEMPOTENCY, &[key.as_bytes()])
}

fn status_byte(s: Status) -> u8 {
    s.rank()
}

pub fn by_status_prefix(s: Status) -> Vec<u8> {
    vec![STATUS, status_byte(s)]
}

pub fn by_status(s: Status, id: OrderId) -> Vec<u8> {
    with(STATUS, &[&[status_byte(s)], id.as_bytes()])
}

pub fn pick_prefix(warehouse: &str) -> Vec<u8> {
    with(PICK, &[warehouse.as_bytes(), &[0]])
}

pub fn pick(warehouse: &str, id: OrderId) -> Vec<u8> {
    with(PICK, &[warehouse.as_bytes(), &[0], id.as_bytes()])
}

pub fn token(t: &str) -> Vec<u8> {
    with(TOKEN, &[t.as_bytes()])
}

pub fn tracking_number(tn: &str) -> Vec<u8> {
    with(TRACKING, &[tn.as_bytes()])
}

pub fn backorder(id: OrderId) -> Vec<u8> {
    with(BACKORDER, &[id.as_bytes()])
}

pub fn dead_letter(message_id: &str) -> Vec<u8> {
    with(DEAD, &[message_id.as_bytes()])
}

/// The dead letters of one order's messages: their ids start `msg_<order>_`.
pub fn dead_letters_of(id: OrderId) -> Vec<u8> {
    with(DEAD, &[format!("msg_{}_", id.simple()).as_bytes()])
}

pub fn sent_of(id: OrderId) -> Vec<u8> {
    with(SENT, &[id.as_bytes()])
}

pub fn sent(id: OrderId, message_id: &str) -> Vec<u8> {
    with(SENT, &[id.as_bytes(), message_id.as_bytes()])
}

pub fn stock(warehouse: &str, sku: &str) -> Vec<u8> {
    with(STOCK, &[warehouse.as_bytes(), &[0], sku.as_bytes()])
}

pub fn parse_stock(k: &[u8]) -> Option<CellKey> {
    parse_cell(k.strip_prefix(&[STOCK])?)
}

/// A cell's key after its prefix: warehouse, NUL, sku.
fn parse_cell(rest: &[u8]) -> Option<CellKey> {
    let nul = rest.iter().position(|b| *b == 0)?;
    Some(CellKey::new(
        String::from_utf8(rest[..nul].to_vec()).ok()?,
        String::from_utf8(rest[nul + 1..].to_vec()).ok()?,
    ))
}

pub fn reservation(id: OrderId) -> Vec<u8> {
    with(RESERVATION, &[id.as_bytes()])
}

pub fn transfer(id: uuid::Uuid) -> Vec<u8> {
    with(TRANSFER, &[id.as_bytes()])
}

pub fn transfer_key(key: &str) -> Vec<u8> {
    with(TRANSFER_KEY, &[key.as_bytes()])
}

pub fn sku(sku: &str) -> Vec<u8> {
    with(SKU, &[sku.as_bytes()])
}

/// The sku of a sku record's key.
pub fn parse_sku(k: &[u8]) -> Option<Sku> {
    String::from_utf8(k.strip_prefix(&[SKU])?.to_vec())
        .ok()
        .map(Sku::from)
}

/// A stock notice's outbox entry, by its message id.
pub fn notice(message_id: &str) -> Vec<u8> {
    with(NOTICE, &[message_id.as_bytes()])
}

pub fn cell_alert(warehouse: &str, sku: &str) -> Vec<u8> {
    with(CELL_ALERT, &[warehouse.as_bytes(), &[0], sku.as_bytes()])
}

/// The (warehouse, sku) of a cell alert key.
pub fn parse_cell_alert(k: &[u8]) -> Option<CellKey> {
    parse_cell(k.strip_prefix(&[CELL_ALERT])?)
}

/// The prefix of a sku's subscriptions.
pub fn subscriptions_of(sku: &str) -> Vec<u8> {
    with(SUBSCRIPTION, &[sku.as_bytes(), &[0]])
}

pub fn subscription(sku: &str, contact: &str) -> Vec<u8> {
    with(SUBSCRIPTION, &[sku.as_bytes(), &[0], contact.as_bytes()])
}

/// The sku of a subscription key.
pub fn parse_subscription_sku(k: &[u8]) -> Option<String> {
    let rest = k.strip_prefix(&[SUBSCRIPTION])?;
    let nul = rest.iter().position(|b| *b == 0)?;
    String::from_utf8(rest[..nul].to_vec()).ok()
}

pub fn alerts_journal(seq: u64) -> Vec<u8> {
    with(ALERTS_JOURNAL, &[&seq.to_be_bytes()])
}

pub fn journal(seq: u64) -> Vec<u8> {
    with(JOURNAL, &[&seq.to_be_bytes()])
}

pub fn restock(id: OrderId, step: u32) -> Vec<u8> {
    with(RESTOCK, &[id.as_bytes(), &step.to_be_bytes()])
}

/// The (order, step) of a order-step marker key.
pub fn parse_restock(k: &[u8]) -> Option<(OrderId, u32)> {
    if k.len() != 1 + 16 + 4 || k[0] != RESTOCK {
        return None;
    }
    Some((
        OrderId::from_bytes(k[1..17].try_into().ok()?),
        u32::from_be_bytes(k[17..21].try_into().ok()?),
    ))
}

#[cfg(test)]
mod tests;
