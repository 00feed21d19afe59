//! Transfers of stock between warehouses: what a transfer is, and the rules for dispatching,
//! receiving and cancelling one.
//!
//! A transfer is *dispatched* when it is created: its units leave the source's on hand at once
//! and show as *incoming* at the destination. The destination *receives* them, all at once or
//! in parts (each receipt is kept; what is not received yet stays in transit); once every unit
//! is received the transfer is `received`. Before anything is received it may be *cancelled*:
//! its units go back on hand at the source. After a partial receipt it cannot be cancelled
//! (the units that arrived are on the destination's shelves; what is missing is a matter for a
//! person and a stock count).
//!
//! These are pure functions of the transfer and the request; the ledger moves the units
//! ([`super::Ledger::dispatch`], [`super::Ledger::receive`], [`super::Ledger::cancel_transfer`])
//! and the inventory actor stores the transfer with the levels in one stock write, conditional
//! on the transfer's version, so a redelivered request changes nothing twice.

use super::super::order::{limits, LineQty};
use crate::ids::{Sku, WarehouseId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A transfer's id: a UUIDv7, so ids sort by creation time.
pub type TransferId = Uuid;

/// Most receipts one transfer keeps (one per line at most would be 100; a bound for storage).
pub const MAX_RECEIPTS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferStatus {
    /// On its way: some units (or all) not received yet.
    Dispatched,
    /// Every unit received.
    Received,
    /// Called off before anything was received; the units went back to the source.
    Cancelled,
}

/// One sku on a transfer: how many units were sent, and how many arrived so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferLine {
    pub sku: Sku,
    pub quantity: u32,
    pub received: u32,
}

impl TransferLine {
    pub fn in_transit(&self) -> u32 {
        self.quantity - self.received
    }
}

/// Units the destination received at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub at: DateTime<Utc>,
    pub lines: Vec<LineQty>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub id: TransferId,
    /// The `Idempotency-Key` it was created with: a repeated request finds it by this key.
    pub key: String,
    pub from: WarehouseId,
    pub to: WarehouseId,
    pub lines: Vec<TransferLine>,
    pub status: TransferStatus,
    /// 1 when dispatched, one more for each receipt and for a cancellation: a write of the
    /// transfer is conditional on the version it was decided on.
    pub version: u32,
    pub receipts: Vec<Receipt>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Why a transfer request was refused. `Invalid` names the request's field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// Receiving or cancelling a transfer that is no longer in transit.
    #[error("the transfer is {0:?}, not in transit")]
    NotInTransit(TransferStatus),
    /// Cancelling a transfer of which some units arrived already.
    #[error("the transfer was partly received; only what is in transit can still be received")]
    PartlyReceived,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> TransferError {
    TransferError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks transfer lines: at least one, at most the order limit, each sku once, each quantity
/// from 1 to the per-line limit, and `unknown` saying nothing against the sku.
fn check_lines(
    lines: &[LineQty],
    unknown: impl Fn(&str) -> Option<String>,
) -> Result<(), TransferError> {
    if lines.is_empty() {
        return Err(invalid("lines", "at least one line is required"));
    }
    if lines.len() > limits::MAX_LINES {
        return Err(invalid(
            "lines",
            format!("at most {} lines", limits::MAX_LINES),
        ));
    }
    for (i, l) in lines.iter().enumerate() {
        if let Some(why) = unknown(&l.sku) {
            return Err(invalid(format!("lines[{i}].sku"), why));
        }
        if lines[..i].iter().any(|o| o.sku == l.sku) {
            return Err(invalid(
                format!("lines[{i}].sku"),
                format!("sku '{}' appears twice", l.sku),
            ));
        }
        if l.quantity == 0 {
            return Err(invalid(
                format!("lines[{i}].quantity"),
                "must be at least 1",
            ));
        }
        if l.quantity > limits::MAX_TRANSFER_QUANTITY {
            return Err(invalid(
                format!("lines[{i}].quantity"),
                format!("must be at most {}", limits::MAX_TRANSFER_QUANTITY),
            ));
        }
    }
    Ok(())
}

impl Transfer {
    /// A new transfer from `from` to `to`, dispatched at `now`. `known` says whether a
    /// warehouse exists (every configured one; any, when none are configured). Whether the
    /// source holds the units is the ledger's to say ([`super::Ledger::dispatch`]).
    pub fn dispatch(
        id: TransferId,
        key: &str,
        from: &WarehouseId,
        to: &WarehouseId,
        lines: &[LineQty],
        now: DateTime<Utc>,
        known: impl Fn(&str) -> bool,
    ) -> Result<Transfer, TransferError> {
        if !known(from) {
            return Err(invalid("from", format!("no warehouse '{from}'")));
        }
        if !known(to) {
            return Err(invalid("to", format!("no warehouse '{to}'")));
        }
        if from == to {
            return Err(invalid("to", "a transfer must go to another warehouse"));
        }
        check_lines(lines, |_| None)?;
        Ok(Transfer {
            id,
            key: key.to_string(),
            from: from.clone(),
            to: to.clone(),
            lines: lines
                .iter()
                .map(|l| TransferLine {
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                    received: 0,
                })
                .collect(),
            status: TransferStatus::Dispatched,
            version: 1,
            receipts: vec![],
            created_at: now,
            updated_at: now,
        })
    }

    /// Whether a request to create a transfer asked for this very transfer (a repeat under the
    /// same `Idempotency-Key`).
    pub fn same_request(&self, from: &WarehouseId, to: &WarehouseId, lines: &[LineQty]) -> bool {
        self.from == *from
            && self.to == *to
            && self.lines.len() == lines.len()
            && self
                .lines
                .iter()
                .zip(lines)
                .all(|(a, b)| a.sku == b.sku && a.quantity == b.quantity)
    }

    /// The units still on their way.
    pub fn in_transit(&self) -> Vec<LineQty> {
        if self.status != TransferStatus::Dispatched {
            return vec![];
        }
        self.lines
            .iter()
            .filter(|l| l.in_transit() > 0)
            .map(|l| LineQty {
                sku: l.sku.clone(),
                quantity: l.in_transit(),
            })
            .collect()
    }

    /// The destination received `lines` at `now` (each at most what is in transit of its
    /// sku): the transfer after the receipt.
    pub fn receive(
        &self,
        lines: &[LineQty],
        now: DateTime<Utc>,
    ) -> Result<Transfer, TransferError> {
        if self.status != TransferStatus::Dispatched {
            return Err(TransferError::NotInTransit(self.status));
        }
        check_lines(lines, |sku| {
            (!self.lines.iter().any(|l| l.sku == sku))
                .then(|| format!("sku '{sku}' is not on this transfer"))
        })?;
        if self.receipts.len() >= MAX_RECEIPTS {
            return Err(invalid(
                "lines",
                format!("a transfer takes at most {MAX_RECEIPTS} receipts"),
            ));
        }
        let mut after = self.clone();
        for (i, l) in lines.iter().enumerate() {
            let line = after
                .lines
                .iter_mut()
                .find(|t| t.sku == l.sku)
                .expect("checked above");
            if l.quantity > line.in_transit() {
                return Err(invalid(
                    format!("lines[{i}].quantity"),
                    format!("only {} of '{}' are in transit", line.in_transit(), l.sku),
                ));
            }
            line.received += l.quantity;
        }
        if after.lines.iter().all(|l| l.in_transit() == 0) {
            after.status = TransferStatus::Received;
        }
        after.receipts.push(Receipt {
            at: now,
            lines: lines.to_vec(),
        });
        after.version += 1;
        after.updated_at = now;
        Ok(after)
    }

    /// Calls the transfer off at `now`: allowed while nothing was received. Its units go back
    /// to the source.
    pub fn cancel(&self, now: DateTime<Utc>) -> Result<Transfer, TransferError> {
        if self.status != TransferStatus::Dispatched {
            return Err(TransferError::NotInTransit(self.status));
        }
        if self.lines.iter().any(|l| l.received > 0) {
            return Err(TransferError::PartlyReceived);
        }
        let mut after = self.clone();
        after.status = TransferStatus::Cancelled;
        after.version += 1;
        after.updated_at = now;
        Ok(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap()
    }

    fn lines(l: &[(&str, u32)]) -> Vec<LineQty> {
        l.iter()
            .map(|(s, q)| LineQty {
                sku: Sku::new(*s),
                quantity: *q,
            })
            .collect()
    }

    fn wh(id: &str) -> WarehouseId {
        WarehouseId::new(id)
    }

    fn known(w: &str) -> bool {
        w == "ams" || w == "rtm"
    }

    fn t() -> Transfer {
        Transfer::dispatch(
            Uuid::nil(),
            "k",
            &wh("ams"),
            &wh("rtm"),
            &lines(&[("A", 5), ("B", 2)]),
            now(),
            known,
        )
        .unwrap()
    }

    /// One data-driven check: a request and the field its refusal names.
    fn check(from: &str, to: &str, l: &[(&str, u32)], field: &str) {
        match Transfer::dispatch(
            Uuid::nil(),
            "k",
            &wh(from),
            &wh(to),
            &lines(l),
            now(),
            known,
        ) {
            Err(TransferError::Invalid { field: f, .. }) => {
                assert_eq!(f, field, "{from}->{to} {l:?}")
            }
            other => panic!("{from}->{to} {l:?}: expected a refusal naming {field}, got {other:?}"),
        }
    }

    #[test]
    fn bad_requests_name_their_field() {
        check("ams", "ams", &[("A", 1)], "to");
        check("xxx", "rtm", &[("A", 1)], "from");
        check("ams", "xxx", &[("A", 1)], "to");
        check("ams", "rtm", &[], "lines");
        check("ams", "rtm", &[("A", 0)], "lines[0].quantity");
        check("ams", "rtm", &[("A", 1), ("A", 2)], "lines[1].sku");
        check(
            "ams",
            "rtm",
            &[("A", limits::MAX_TRANSFER_QUANTITY + 1)],
            "lines[0].quantity",
        );
    }

    #[test]
    fn partial_receipts_then_received() {
        let t = t();
        assert_eq!(t.in_transit(), lines(&[("A", 5), ("B", 2)]));
        let t2 = t.receive(&lines(&[("A", 3)]), now()).unwrap();
        assert_eq!(t2.status, TransferStatus::Dispatched);
        assert_eq!(t2.version, 2);
        assert_eq!(t2.in_transit(), lines(&[("A", 2), ("B", 2)]));
        let t3 = t2.receive(&lines(&[("B", 2), ("A", 2)]), now()).unwrap();
        assert_eq!(t3.status, TransferStatus::Received);
        assert!(t3.in_transit().is_empty());
        assert_eq!(t3.receipts.len(), 2);
        assert_eq!(
            t3.receive(&lines(&[("A", 1)]), now()),
            Err(TransferError::NotInTransit(TransferStatus::Received))
        );
    }

    #[test]
    fn receiving_more_than_in_transit_or_another_sku_is_refused() {
        let t = t();
        assert!(matches!(
            t.receive(&lines(&[("A", 6)]), now()),
            Err(TransferError::Invalid { field, .. }) if field == "lines[0].quantity"
        ));
        assert!(matches!(
            t.receive(&lines(&[("C", 1)]), now()),
            Err(TransferError::Invalid { field, .. }) if field == "lines[0].sku"
        ));
        assert!(matches!(
            t.receive(&[], now()),
            Err(TransferError::Invalid { field, .. }) if field == "lines"
        ));
    }

    #[test]
    fn cancel_only_before_any_receipt() {
        let t = t();
        let c = t.cancel(now()).unwrap();
        assert_eq!(c.status, TransferStatus::Cancelled);
        assert!(c.in_transit().is_empty());
        assert_eq!(
            c.cancel(now()),
            Err(TransferError::NotInTransit(TransferStatus::Cancelled))
        );
        let partly = t.receive(&lines(&[("A", 1)]), now()).unwrap();
        assert_eq!(partly.cancel(now()), Err(TransferError::PartlyReceived));
    }

    #[test]
    fn a_repeat_is_the_same_request() {
        let t = t();
        assert!(t.same_request(&wh("ams"), &wh("rtm"), &lines(&[("A", 5), ("B", 2)])));
        assert!(!t.same_request(&wh("ams"), &wh("rtm"), &lines(&[("A", 5)])));
        assert!(!t.same_request(&wh("rtm"), &wh("ams"), &lines(&[("A", 5), ("B", 2)])));
    }
}
