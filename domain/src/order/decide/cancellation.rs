//! Cancellation: the `Cancel` command, and the changes every cancellation records (whether asked
//! for, or decided on a shortage or a missed payment deadline).
//!
//! An order is cancelled whole until one of its shipments is handed over. After that, a
//! cancellation cancels the shipments still in the warehouse (their stock is released and,
//! when the payment was captured, their value refunded) and the order goes on with the rest.

use crate::money::Money;
use crate::order::error::{rejected, DomainError};
use crate::order::limits;
use crate::order::validate::text;
use crate::order::{Change, Order, PaymentStatus, ShipmentStatus, Status};

/// A client asks to cancel: allowed until every shipment has left the warehouse.
pub(super) fn cancel(o: &Order, reason: &str) -> Result<Vec<Change>, DomainError> {
    text("reason", reason, limits::MAX_REASON)?;
    match o.status {
        Status::Cancelled => {
            return Err(rejected(
                o,
                "cancel_not_allowed",
                "the order is already cancelled",
            ))
        }
        Status::Returned => {
            return Err(rejected(
                o,
                "cancel_not_allowed",
                "the order was returned; it can no longer be cancelled",
            ))
        }
        _ => {}
    }
    let handed_over = o.shipments.iter().any(|s| s.status.is_handed_over());
    if !handed_over {
        return Ok(cancelled(o, reason.to_owned()));
    }
    let still_here: Vec<u32> = o
        .shipments
        .iter()
        .filter(|s| matches!(s.status, ShipmentStatus::Allocated | ShipmentStatus::Packed))
        .map(|s| s.id)
        .collect();
    if still_here.is_empty() {
        return Err(rejected(
            o,
            "cancel_not_allowed",
            format!(
                "the order is already {}; it can no longer be cancelled — request a return once it is delivered",
                o.status.as_str()
            ),
        ));
    }
    let mut out = vec![Change::ShipmentsCancelled {
        shipments: still_here.clone(),
        reason: reason.to_owned(),
    }];
    if o.payment.status == PaymentStatus::Captured {
        let amount: i64 = o
            .shipments
            .iter()
            .filter(|s| still_here.contains(&s.id))
            .flat_map(|s| &s.lines)
            .map(|sl| {
                o.lines
                    .iter()
                    .find(|l| l.sku == sl.sku)
                    .map(|l| l.unit_price * sl.quantity as i64)
                    .unwrap_or(0)
            })
            .sum();
        if amount > 0 {
            out.push(Change::RefundIssued {
                amount: Money {
                    amount,
                    currency: o.currency,
                },
            });
        }
    }
    Ok(out)
}

/// The changes that cancel an order: `Cancelled`, and a refund of the total when the payment
/// was captured.
pub(super) fn cancelled(o: &Order, reason: String) -> Vec<Change> {
    let mut out = vec![Change::Cancelled { reason }];
    if o.payment.status == PaymentStatus::Captured {
        out.push(Change::RefundIssued { amount: o.total() });
    }
    out
}
