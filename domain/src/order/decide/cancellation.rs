//! Cancellation: the `Cancel` command, and the changes every cancellation records (whether asked
//! for, or decided on a shortage or a missed payment deadline).

use crate::order::error::{rejected, DomainError};
use crate::order::limits;
use crate::order::validate::text;
use crate::order::{Change, Order, PaymentStatus, Status};

/// A client asks to cancel: allowed until the order leaves the warehouse.
pub(super) fn cancel(o: &Order, reason: &str) -> Result<Vec<Change>, DomainError> {
    text("reason", reason, limits::MAX_REASON)?;
    match o.status {
        Status::Placed | Status::Confirmed | Status::Packed => Ok(cancelled(o, reason.to_owned())),
        Status::Shipped | Status::Delivered => Err(rejected(
            o,
            "cancel_not_allowed",
            format!(
                "the order is already {}; it can no longer be cancelled — request a return once it is delivered",
                o.status.as_str()
            ),
        )),
        Status::Cancelled => Err(rejected(
            o,
            "cancel_not_allowed",
            "the order is already cancelled",
        )),
        Status::Returned => Err(rejected(
            o,
            "cancel_not_allowed",
            "the order was returned; it can no longer be cancelled",
        )),
    }
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
