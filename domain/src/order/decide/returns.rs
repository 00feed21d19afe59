//! Returns: a customer asks to return delivered lines within the return window, and the
//! warehouse receives them, which refunds what came back.

use super::validate_line_qtys;
use crate::ids::WarehouseId;
use crate::order::error::{invalid, rejected, DomainError};
use crate::order::limits;
use crate::order::validate::text;
use crate::order::{Change, LineQty, Order, Status};
use crate::shipping;
use chrono::{DateTime, Duration, Utc};

/// A return is requested: one per order, within `window_days` of delivery, for no more than
/// was delivered.
pub(super) fn request_return(
    o: &Order,
    lines: &[LineQty],
    reason: &str,
    window_days: u32,
    now: DateTime<Utc>,
) -> Result<Vec<Change>, DomainError> {
    if o.status != Status::Delivered {
        return Err(rejected(
            o,
            "return_not_allowed",
            format!(
                "returns are accepted for delivered orders; this order is {}",
                o.status.as_str()
            ),
        ));
    }
    if o.return_case.is_some() {
        return Err(rejected(
            o,
            "return_exists",
            "a return was already approved for this order",
        ));
    }
    let delivered = o.delivered_at.unwrap_or(o.updated_at);
    let closes = delivered + Duration::days(window_days as i64);
    if now > closes {
        return Err(rejected(
            o,
            "return_window_closed",
            format!(
                "the {window_days}-day return window closed at {}",
                closes.to_rfc3339()
            ),
        ));
    }
    text("reason", reason, limits::MAX_REASON)?;
    validate_line_qtys(o, "lines", lines)?;
    for l in lines {
        let line = o.line(&l.sku).expect("validated above");
        if l.quantity > line.quantity {
            return Err(invalid(
                "lines",
                format!(
                    "sku '{}': {} exceeds the {} delivered",
                    l.sku, l.quantity, line.quantity
                ),
            ));
        }
    }
    Ok(vec![Change::ReturnApproved {
        lines: lines.to_vec(),
        reason: reason.to_owned(),
        tracking_number: shipping::return_tracking_number(o.id),
    }])
}

/// The warehouse receives an approved return: the order is returned and the received lines
/// refunded.
pub(super) fn receive_return(
    o: &Order,
    warehouse: &str,
    lines: &[LineQty],
) -> Result<Vec<Change>, DomainError> {
    let Some(rc) = o
        .return_case
        .as_ref()
        .filter(|_| o.status == Status::Delivered)
    else {
        return Err(rejected(
            o,
            "no_open_return",
            format!(
                "there is no approved return awaiting receipt; the order is {}",
                o.status.as_str()
            ),
        ));
    };
    text("warehouse", warehouse, 64)?;
    validate_line_qtys(o, "lines", lines)?;
    for l in lines {
        let approved = rc
            .lines
            .iter()
            .find(|a| a.sku == l.sku)
            .map(|a| a.quantity)
            .unwrap_or(0);
        if l.quantity > approved {
            return Err(invalid(
                "lines",
                format!(
                    "sku '{}': {} received but {} approved for return",
                    l.sku, l.quantity, approved
                ),
            ));
        }
    }
    Ok(vec![
        Change::ReturnReceived {
            warehouse: WarehouseId::new(warehouse),
            lines: lines.to_vec(),
        },
        Change::RefundIssued {
            amount: o.refund_of(lines),
        },
    ])
}
