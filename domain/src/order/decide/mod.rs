//! `decide`: what a command does to an order — the events to record, or why it is refused.
//!
//! `decide` places a new order or hands a command on an existing one to the function for that
//! command, one `match` arm each. The functions live with the commands they belong with:
//!
//! - `placement`: placing an order, payment (recorded, timed out), the stock answer
//!   (reserved, unavailable) and the automatic confirmation;
//! - `fulfilment`: picking, packing, the carrier booking and the hand-over;
//! - `carrier`: carrier events (scans) on a shipped order, delivery promises, failed
//!   deliveries and their answers, return parcels' scans, pick-and-pack deadlines;
//! - `returns`: requesting and receiving a return;
//! - `cancellation`: cancelling, and the changes every cancellation records.
//!
//! After a command's own changes, `decide` adds the **automatic changes**: moves that happen by
//! themselves once their conditions hold on the state the command leads to (today: confirm an
//! order once its stock is reserved and its payment is in). They are recorded in the same
//! transition, caused by the same actor, so no one has to ask for them.

mod cancellation;
mod carrier;
mod fulfilment;
mod placement;
mod returns;

use super::command::Command;
use super::error::{invalid, DomainError};
use super::event::{Change, Event};
use super::evolve::fold;
use super::limits;
use super::model::{Cause, LineQty, Order};
use chrono::{DateTime, Utc};

/// Decides what a command does to an order. Returns the events to record (possibly none, when
/// the command was already applied: redeliveries are harmless) or why it is refused.
pub fn decide(
    state: Option<&Order>,
    command: &Command,
    by: &Cause,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, DomainError> {
    let changes = match (state, command) {
        (
            None,
            Command::Place {
                id,
                tracking_token,
                order,
                payment_timeout_secs,
            },
        ) => placement::place(*id, tracking_token, order, *payment_timeout_secs, now)?,
        (None, _) => return Err(DomainError::NotFound),
        (Some(o), cmd) => decide_existing(o, cmd, now)?,
    };
    let mut version = state.map(|o| o.version).unwrap_or(0);
    let mut events: Vec<Event> = changes
        .into_iter()
        .map(|change| {
            version += 1;
            Event {
                seq: version,
                at: now,
                by: by.clone(),
                change,
            }
        })
        .collect();
    // Automatic changes: decided on the state the new events lead to.
    if let Some(after) = fold(state.cloned(), &events) {
        for change in automatic_changes(&after) {
            version += 1;
            events.push(Event {
                seq: version,
                at: now,
                by: by.clone(),
                change,
            });
        }
    }
    Ok(events)
}

/// Hands a command on an existing order to the function for that command.
fn decide_existing(
    o: &Order,
    cmd: &Command,
    now: DateTime<Utc>,
) -> Result<Vec<Change>, DomainError> {
    match cmd {
        Command::Place { .. } => Err(placement::place_existing(o)),
        Command::StockAllocated { shipments, reason } => {
            Ok(placement::stock_allocated(o, shipments, reason))
        }
        Command::StockBackordered {
            held,
            backordered,
            reason,
        } => Ok(placement::stock_backordered(o, held, backordered, reason)),
        Command::StockUnavailable { shortages, reason } => {
            Ok(placement::stock_unavailable(o, shortages, reason))
        }
        Command::RecordPayment {
            status,
            amount,
            reference,
        } => placement::record_payment(o, *status, *amount, reference),
        Command::Cancel { reason } => cancellation::cancel(o, reason),
        Command::PaymentTimeout => Ok(placement::payment_timeout(o, now)),
        Command::AcknowledgePicks { shipment, lines } => {
            fulfilment::acknowledge_picks(o, shipment, lines)
        }
        Command::Pack { shipment, parcels } => fulfilment::pack(o, shipment, parcels),
        Command::RecordBooking { shipment, booking } => {
            Ok(fulfilment::record_booking(o, *shipment, booking))
        }
        Command::Handover { shipment } => fulfilment::handover(o, *shipment),
        Command::CarrierEvent {
            carrier,
            tracking_number,
            event_id,
            kind,
            occurred_at,
            location,
            estimated_delivery,
            code,
            description,
            reason,
            exceptions,
        } => carrier::carrier_event(
            o,
            carrier::Scan {
                carrier,
                tracking_number,
                event_id,
                kind: *kind,
                occurred_at: *occurred_at,
                location,
                estimated_delivery: *estimated_delivery,
                code,
                description,
                reason: *reason,
                exceptions: *exceptions,
            },
            now,
        ),
        Command::CheckPromises => Ok(carrier::check_promises(o, now)),
        Command::AnswerException { shipment, answer } => {
            carrier::answer_exception(o, *shipment, answer, now)
        }
        Command::CheckExceptions => Ok(carrier::check_exceptions(o, now)),
        Command::CheckDeadlines { late } => Ok(carrier::check_deadlines(o, late)),
        Command::RequestReturn {
            lines,
            reason,
            window_days,
        } => returns::request_return(o, lines, reason, *window_days, now),
        Command::ReceiveReturn { warehouse, lines } => returns::receive_return(o, warehouse, lines),
    }
}

/// The automatic changes: transitions that happen by themselves once their conditions hold.
fn automatic_changes(o: &Order) -> Vec<Change> {
    placement::automatic_confirmation(o).into_iter().collect()
}

/// Checks the lines of a return: at least one, each on the order, each sku once, each
/// quantity at least 1.
fn validate_line_qtys(order: &Order, field: &str, lines: &[LineQty]) -> Result<(), DomainError> {
    validate_lines_of(field, lines, |sku| {
        order
            .line(sku)
            .is_none()
            .then(|| format!("sku '{sku}' is not on this order"))
    })
}

/// Checks lines a warehouse or customer names: at least one, at most the limit, each sku once,
/// each quantity at least 1, and each sku one `unknown` says nothing against (it names what
/// is wrong with a sku that does not belong).
fn validate_lines_of(
    field: &str,
    lines: &[LineQty],
    unknown: impl Fn(&str) -> Option<String>,
) -> Result<(), DomainError> {
    if lines.is_empty() {
        return Err(invalid(field, "at least one line is required"));
    }
    if lines.len() > limits::MAX_LINES {
        return Err(invalid(
            field,
            format!("at most {} lines", limits::MAX_LINES),
        ));
    }
    for (i, l) in lines.iter().enumerate() {
        if let Some(why) = unknown(&l.sku) {
            return Err(invalid(format!("{field}[{i}].sku"), why));
        }
        if lines[..i].iter().any(|o| o.sku == l.sku) {
            return Err(invalid(
                format!("{field}[{i}].sku"),
                format!("sku '{}' appears twice", l.sku),
            ));
        }
        if l.quantity == 0 {
            return Err(invalid(
                format!("{field}[{i}].quantity"),
                "must be at least 1",
            ));
        }
    }
    Ok(())
}
