//! Stock alerts: the decisions behind `low_stock` alerts to operations and `back_in_stock`
//! messages to subscribers. Pure: the engine's alerts loop loads the stored alert state and the
//! stock it concerns, asks these functions what is due, and stores their answer (the new state
//! with the messages to send) in one atomic write.
//!
//! **Low stock.** A stock cell (warehouse, sku) may have a *reorder point*. When the units
//! available there (on hand − reserved) fall to or below it, one alert is due; then none until
//! available has risen above the point again, which *re-arms* the cell. Each alert is numbered
//! (the cell's first, second, …), so together with the cell's stable id it names the message:
//! a redelivery or a repeated decision names the same message, never a second one.
//! The decision is a function of the cell's stored state and the units available now
//! ([`watch`]), so a decision lost in a crash is made again, the same, from what is stored.
//!
//! **Back in stock.** A subscriber (a contact: an e-mail address or a phone number) asks to be
//! told once when a sku can be bought again. A subscription waits while the sku's available
//! units (across the warehouses orders are served from, less what backorders wait for) are
//! zero; as soon as they are positive it is due: one message, and the subscription ends
//! ([`due_subscriptions`]). A subscription made while the sku is available is therefore due at
//! once (the sku is in stock now). Subscribing again while subscribed is the same subscription;
//! a bound per sku ([`MAX_SUBSCRIPTIONS_PER_SKU`] unless configured) is kept ([`subscribe`]).

pub use crate::audience::Audience;
use crate::ids::{Sku, WarehouseId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The highest reorder point a cell may have.
pub const MAX_REORDER_POINT: i64 = 1_000_000_000;

/// Most subscriptions waiting for one sku at once, unless the shop configures another bound.
pub const MAX_SUBSCRIPTIONS_PER_SKU: usize = 10_000;

/// Longest contact accepted (the longest e-mail address SMTP allows, RFC 5321).
pub const MAX_CONTACT: usize = 254;

/// A stock cell's reorder point and where its low-stock alerts stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellAlert {
    /// The cell's stable id: the subject of its low-stock messages (part of their ids).
    pub id: Uuid,
    /// Alert when available falls to or below this; `None`: no point (the record stays, so
    /// that a point set again later keeps numbering its alerts).
    pub point: Option<i64>,
    /// An alert went out for the current fall; none again until available rose above the point.
    pub low: bool,
    /// Low-stock alerts sent so far; the n-th has sequence number n.
    pub sent: u32,
}

impl CellAlert {
    /// A cell with no reorder point yet, under a fresh id.
    pub fn new(id: Uuid) -> CellAlert {
        CellAlert {
            id,
            point: None,
            low: false,
            sent: 0,
        }
    }
}

/// What a cell's alert state becomes, and the alert due, if any (its sequence number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watched {
    pub cell: CellAlert,
    pub alert: Option<u32>,
}

/// The decision for one cell at `available` units: at or below the point and armed → one
/// alert (numbered `sent + 1`) and the cell disarmed; above the point → armed again; no point
/// → armed, nothing due.
pub fn watch(cell: &CellAlert, available: i64) -> Watched {
    let mut next = *cell;
    let alert = match cell.point {
        None => {
            next.low = false;
            None
        }
        Some(point) if available <= point => {
            if cell.low {
                None
            } else {
                next.low = true;
                next.sent = cell.sent.saturating_add(1);
                Some(next.sent)
            }
        }
        Some(_) => {
            next.low = false;
            None
        }
    };
    Watched { cell: next, alert }
}

/// Sets (or, with `None`, removes) a cell's reorder point and decides at once on the units
/// available now: a point at or above them is due an alert right away (unless one went out
/// already for this fall). `fresh` is the id a cell without a record gets.
pub fn set_point(
    cell: Option<&CellAlert>,
    fresh: Uuid,
    point: Option<i64>,
    available: i64,
) -> Result<Watched, AlertError> {
    if let Some(p) = point {
        if !(0..=MAX_REORDER_POINT).contains(&p) {
            return Err(AlertError::invalid(
                "reorder_point",
                format!("must be between 0 and {MAX_REORDER_POINT}"),
            ));
        }
    }
    let mut next = cell.copied().unwrap_or_else(|| CellAlert::new(fresh));
    next.point = point;
    Ok(watch(&next, available))
}

/// A subscriber waiting to be told once that a sku can be bought again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Stable id: the subject of its message (part of the message's id).
    pub id: Uuid,
    pub sku: Sku,
    /// An e-mail address (lower case) or a phone number (`+` and digits), as [`contact`] made it.
    pub contact: String,
    pub subscribed_at: DateTime<Utc>,
}

/// What subscribing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscribed {
    /// A new subscription, to be stored.
    New(Subscription),
    /// The contact waits for the sku already: that subscription, unchanged.
    Existing(Subscription),
}

/// Subscribes `new.contact` to `new.sku`, given the subscription the contact has for the sku
/// already (if any) and how many wait for the sku: a repeat is the existing subscription;
/// with `max` waiting already it is refused. The contact must be one [`contact`] accepts as it
/// is (normalised).
pub fn subscribe(
    existing: Option<&Subscription>,
    waiting: usize,
    max: usize,
    new: Subscription,
) -> Result<Subscribed, AlertError> {
    if let Some(s) = existing {
        return Ok(Subscribed::Existing(s.clone()));
    }
    if contact(&new.contact)? != new.contact {
        return Err(AlertError::invalid(
            "contact",
            "must be given as normalised by contact()",
        ));
    }
    if waiting >= max {
        return Err(AlertError::Full { sku: new.sku, max });
    }
    Ok(Subscribed::New(new))
}

/// The subscriptions due at `available` units of their sku: every one of them once it is
/// positive, none while it is zero. Each is told once, and ends.
pub fn due_subscriptions(available: i64, waiting: &[Subscription]) -> Vec<StockNotice> {
    if available <= 0 {
        return Vec::new();
    }
    waiting
        .iter()
        .map(|s| StockNotice {
            subject: s.id,
            seq: 1,
            kind: NoticeKind::BackInStock {
                sku: s.sku.clone(),
                contact: s.contact.clone(),
                available,
            },
        })
        .collect()
}

/// A contact as stored: an e-mail address (trimmed, lower case; one `@`, a local part of at
/// most 64 characters, a domain of dot-separated labels of letters, digits and `-`) or a phone
/// number in international form (`+`, then 8 to 15 digits; spaces, `-`, `(`, `)` and `.`
/// between them are dropped). At most [`MAX_CONTACT`] characters. Anything else is refused,
/// naming the field `contact`.
pub fn contact(raw: &str) -> Result<String, AlertError> {
    let bad = |why: &str| Err(AlertError::invalid("contact", why));
    let s = raw.trim();
    if s.is_empty() {
        return bad("must be an e-mail address or a phone number (+ and digits)");
    }
    if s.chars().count() > MAX_CONTACT {
        return bad("must be at most 254 characters");
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) && s.contains('@') {
        return bad("an e-mail address has no white space or control characters");
    }
    if let Some((local, domain)) = s.split_once('@') {
        if local.is_empty() || local.chars().count() > 64 || domain.contains('@') {
            return bad("not an e-mail address: one '@' after a local part of 1-64 characters");
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return bad("not an e-mail address: misplaced '.' in the local part");
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return bad("not an e-mail address: the domain must be like example.com");
        }
        if local.chars().any(|c| "<>()[],;:\\\"".contains(c)) {
            return bad("not an e-mail address: the local part has a character it may not have");
        }
        return Ok(s.to_lowercase());
    }
    let Some(number) = s.strip_prefix('+') else {
        return bad("must be an e-mail address or a phone number in international form (+31…)");
    };
    let mut digits = String::with_capacity(number.len() + 1);
    digits.push('+');
    for c in number.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => return bad("a phone number is '+' and digits (spaces, '-', '(', ')' allowed)"),
        }
    }
    if !crate::phone::is_e164(&digits) {
        return bad("a phone number has 8 to 15 digits after the '+', the first not 0");
    }
    Ok(digits)
}

/// A message about stock rather than about an order: sent through the outbox and the notifier
/// like an order's notifications, under an id of its own (the subject, the sequence number and
/// the kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockNotice {
    /// What it is about: a stock cell's alert record ([`CellAlert::id`]) or a subscription
    /// ([`Subscription::id`]).
    pub subject: Uuid,
    /// The subject's n-th notice of this kind (a subscription has one, 1).
    pub seq: u32,
    pub kind: NoticeKind,
}

/// What a stock notice says, and so whom it is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum NoticeKind {
    /// To operations: `available` units of `sku` at `warehouse` are at or below its point.
    LowStock {
        warehouse: WarehouseId,
        sku: Sku,
        reorder_point: i64,
        available: i64,
    },
    /// To the subscriber `contact`: `sku` can be bought again (`available` units when decided).
    BackInStock {
        sku: Sku,
        contact: String,
        available: i64,
    },
}

impl NoticeKind {
    /// Short stable name, part of the message's id.
    pub fn name(&self) -> &'static str {
        match self {
            NoticeKind::LowStock { .. } => "low_stock",
            NoticeKind::BackInStock { .. } => "back_in_stock",
        }
    }

    pub fn audience(&self) -> Audience {
        match self {
            NoticeKind::LowStock { .. } => Audience::Operations,
            NoticeKind::BackInStock { .. } => Audience::Customer,
        }
    }

    /// The sku it is about.
    pub fn sku(&self) -> &str {
        match self {
            NoticeKind::LowStock { sku, .. } | NoticeKind::BackInStock { sku, .. } => sku,
        }
    }
}

/// The low-stock alert [`watch`] found due for a cell, as a notice.
pub fn low_stock_notice(
    warehouse: &str,
    sku: &str,
    watched: &Watched,
    available: i64,
) -> Option<StockNotice> {
    let seq = watched.alert?;
    Some(StockNotice {
        subject: watched.cell.id,
        seq,
        kind: NoticeKind::LowStock {
            warehouse: WarehouseId::new(warehouse),
            sku: Sku::new(sku),
            reorder_point: watched.cell.point.unwrap_or_default(),
            available,
        },
    })
}

/// Why a stock-alert request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{max} subscriptions wait for {sku} already; no more are taken until they are told")]
    Full { sku: Sku, max: usize },
}

impl AlertError {
    fn invalid(field: &str, message: impl Into<String>) -> AlertError {
        AlertError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests;
