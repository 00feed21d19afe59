//! Placement and payment: placing an order, the inventory's answer to the reservation, payments
//! recorded or timed out, and the automatic confirmation once stock and payment are both in.

use super::cancellation::cancelled;
use crate::money::Money;
use crate::order::error::{invalid, rejected, DomainError};
use crate::order::limits;
use crate::order::validate::text;
use crate::order::{
    Allocation, Change, InitialPaymentStatus, LineQty, NewOrder, Order, PaymentMethod,
    PaymentStatus, PaymentUpdate, Shortage, Status, StockState,
};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// `Place` on an order that does not exist yet: a card order still to be paid gets a deadline.
pub(super) fn place(
    id: Uuid,
    tracking_token: &str,
    order: &NewOrder,
    payment_timeout_secs: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Change>, DomainError> {
    order.validate()?;
    let needs_payment = order.payment.method == PaymentMethod::Card
        && order.payment.status == InitialPaymentStatus::Pending;
    let payment_due_at = needs_payment.then(|| now + Duration::seconds(payment_timeout_secs));
    Ok(vec![Change::Placed {
        id,
        tracking_token: tracking_token.to_owned(),
        payment_due_at,
        order: order.clone(),
    }])
}

/// `Place` on an order that already exists.
pub(super) fn place_existing(o: &Order) -> DomainError {
    rejected(o, "already_exists", "an order with this id already exists")
}

/// The inventory allocated the order's lines to one or more warehouses.
pub(super) fn stock_allocated(o: &Order, shipments: &[Allocation], reason: &str) -> Vec<Change> {
    let waiting = matches!(o.stock, StockState::Pending | StockState::Backordered);
    if o.status != Status::Placed || !waiting || shipments.is_empty() {
        // Late or repeated answer: nothing to do (a cancelled order's reservation was
        // already released, and the inventory refuses to re-reserve it).
        vec![]
    } else {
        vec![Change::Allocated {
            shipments: shipments.to_vec(),
            reason: reason.to_owned(),
        }]
    }
}

/// Some lines must wait for stock: the order stays placed, backordered. A repeated answer, or
/// one for an order that moved on, changes nothing.
pub(super) fn stock_backordered(
    o: &Order,
    held: &[Allocation],
    backordered: &[LineQty],
    reason: &str,
) -> Vec<Change> {
    if o.status != Status::Placed || o.stock != StockState::Pending || backordered.is_empty() {
        vec![]
    } else {
        vec![Change::Backordered {
            held: held.to_vec(),
            backordered: backordered.to_vec(),
            reason: reason.to_owned(),
        }]
    }
}

/// The inventory could not cover every line: the order is cancelled, for the reason it gave.
pub(super) fn stock_unavailable(o: &Order, shortages: &[Shortage], reason: &str) -> Vec<Change> {
    if o.status != Status::Placed || o.stock != StockState::Pending {
        vec![]
    } else {
        let mut v = vec![Change::StockUnavailable {
            shortages: shortages.to_vec(),
        }];
        v.extend(cancelled(o, reason.to_owned()));
        v
    }
}

/// The storefront reports a payment authorized, captured or failed.
pub(super) fn record_payment(
    o: &Order,
    status: PaymentUpdate,
    amount: i64,
    reference: &str,
) -> Result<Vec<Change>, DomainError> {
    if o.status.is_terminal() {
        return Err(rejected(
            o,
            "order_closed",
            format!(
                "the order is {}; no payment can be recorded",
                o.status.as_str()
            ),
        ));
    }
    text("reference", reference, limits::MAX_TEXT)?;
    let new: PaymentStatus = status.into();
    let current = o.payment.status;
    if new == PaymentStatus::Failed {
        if current.is_secured() {
            return Err(rejected(
                o,
                "payment_already_secured",
                format!("the payment is already {}", payment_str(current)),
            ));
        }
    } else {
        let total = o.total();
        if amount != total.amount {
            return Err(invalid(
                "amount",
                format!(
                    "{} does not match the order total {}",
                    Money {
                        amount,
                        currency: o.currency
                    },
                    total
                ),
            ));
        }
    }
    let no_op = current == new && o.payment.reference.as_deref() == Some(reference)
        || current == PaymentStatus::Captured && new == PaymentStatus::Authorized;
    if no_op {
        Ok(vec![])
    } else {
        Ok(vec![Change::PaymentRecorded {
            status: new,
            amount,
            reference: reference.to_owned(),
        }])
    }
}

/// The payment timer fired: an unpaid order past its deadline is cancelled.
pub(super) fn payment_timeout(o: &Order, now: DateTime<Utc>) -> Vec<Change> {
    let due = o.payment_due_at.is_some_and(|d| d <= now);
    if o.status == Status::Placed && due && !o.is_paid_enough() {
        cancelled(o, "payment not received in time".to_string())
    } else {
        vec![]
    }
}

/// An automatic change: a placed order is confirmed once its stock is reserved and it is paid
/// (or paid on delivery).
pub(super) fn automatic_confirmation(o: &Order) -> Option<Change> {
    (o.status == Status::Placed && o.stock == StockState::Reserved && o.is_paid_enough())
        .then_some(Change::Confirmed)
}

fn payment_str(p: PaymentStatus) -> &'static str {
    match p {
        PaymentStatus::Pending => "pending",
        PaymentStatus::Authorized => "authorized",
        PaymentStatus::Captured => "captured",
        PaymentStatus::Failed => "failed",
    }
}
