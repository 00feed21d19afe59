//! Shipping and carrier events: the carrier's scans of a booked shipment, named by its
//! tracking number. The first scan of a packed shipment also ships it (the hand-over was not
//! reported), and a delivery scan delivers it; the order follows its shipments. A scan may
//! bring a new delivery date, which revises the shipment's promise. And the promise timer's
//! check: a shipment whose promise passed before it was delivered is `delayed`, once.
//!
//! Failed deliveries: a `failed_attempt` opens a delivery exception (`delivery_failed`), which
//! the shop or the customer answers (`reattempt` or `return_to_origin`); unanswered by its
//! `answer_by`, or at the policy's last attempt, the parcel goes back by itself
//! (`returning_to_origin`). Back at its warehouse (the carrier's `returned_to_sender`, or its
//! `delivered` while returning) it is received into stock (`returned_to_origin`) with a refund
//! of what was paid for it; an order with nothing else delivered or on its way ends `returned`.
//!
//! Return parcels: a scan under a return's tracking number is the return parcel's
//! (`return_scanned`: in transit, then delivered to the warehouse, whose receipt closes it).

use crate::money::Money;
use crate::order::error::{invalid, rejected, DomainError};
use crate::order::limits;
use crate::order::validate::{opt_text, text};
use crate::order::{
    CarrierEventKind, Change, ExceptionAnswer, ExceptionPolicy, FailureReason, LateShipment, Order,
    Shipment, ShipmentStatus, Status,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};

/// How far ahead a reattempt may be asked for.
pub const MAX_REATTEMPT_DAYS: i64 = 30;

/// What a carrier reports of a shipment.
pub(super) struct Scan<'a> {
    pub carrier: &'a str,
    pub tracking_number: &'a str,
    pub event_id: &'a str,
    pub kind: CarrierEventKind,
    pub occurred_at: DateTime<Utc>,
    pub location: &'a Option<String>,
    pub estimated_delivery: Option<NaiveDate>,
    pub code: &'a Option<String>,
    pub description: &'a Option<String>,
    pub reason: Option<FailureReason>,
    pub exceptions: ExceptionPolicy,
}

/// A carrier reports a scan. A redelivered event id, or any event on a closed order, changes
/// nothing.
pub(super) fn carrier_event(
    o: &Order,
    scan: Scan<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<Change>, DomainError> {
    let Scan {
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
    } = scan;
    text("event_id", event_id, 128)?;
    opt_text("location", location, limits::MAX_TEXT)?;
    opt_text("code", code, 64)?;
    opt_text("description", description, limits::MAX_TEXT)?;
    let is_return = o
        .return_case
        .as_ref()
        .is_some_and(|rc| rc.tracking_number == tracking_number);
    if is_return {
        if o.carrier_event_ids.iter().any(|e| e == event_id) || o.status.is_terminal() {
            return Ok(vec![]);
        }
        too_many_events(o)?;
        return Ok(vec![Change::ReturnScanned {
            carrier: carrier.to_owned(),
            event_id: event_id.to_owned(),
            kind,
            occurred_at,
            location: location.clone(),
            code: code.clone(),
            description: description.clone(),
        }]);
    }
    let Some(shipment) = o.shipment_by_tracking_number(tracking_number) else {
        return Err(rejected(
            o,
            "no_shipment",
            format!("the order has no shipment booked under '{tracking_number}'"),
        ));
    };
    let booking = shipment.booking.as_ref().expect("found by its booking");
    if booking.carrier != carrier {
        return Err(rejected(
            o,
            "wrong_carrier",
            format!("the shipment is with carrier '{}'", booking.carrier),
        ));
    }
    if o.carrier_event_ids.iter().any(|e| e == event_id)
        || o.status.is_terminal()
        || shipment.status == ShipmentStatus::Cancelled
    {
        return Ok(vec![]);
    }
    too_many_events(o)?;
    let id = Some(shipment.id);
    let mut v = Vec::new();
    if shipment.status == ShipmentStatus::Packed && kind.means_in_hand() {
        v.push(Change::Shipped { shipment: id });
    }
    v.push(Change::CarrierScanned {
        carrier: carrier.to_owned(),
        event_id: event_id.to_owned(),
        kind,
        occurred_at,
        location: location.clone(),
        shipment: id,
        estimated_delivery,
        code: code.clone(),
        description: description.clone(),
    });
    let on_its_way = matches!(
        shipment.status,
        ShipmentStatus::Packed | ShipmentStatus::Shipped
    );
    let returning = shipment.status == ShipmentStatus::Returning;
    match kind {
        CarrierEventKind::Delivered if on_its_way => v.push(Change::Delivered { shipment: id }),
        CarrierEventKind::FailedAttempt if on_its_way => {
            let attempt = shipment.attempts + 1;
            v.push(Change::DeliveryFailed {
                shipment: shipment.id,
                reason: reason.unwrap_or(FailureReason::Other),
                attempt,
                answer_by: now + Duration::seconds(exceptions.answer_within_secs.max(0)),
            });
            if attempt >= exceptions.max_attempts {
                v.push(Change::ReturningToOrigin {
                    shipment: shipment.id,
                    reason: format!("{attempt} failed delivery attempts"),
                });
            }
        }
        // Back at origin: the carrier says so, or delivers a parcel it was taking back.
        CarrierEventKind::ReturnedToSender if on_its_way || returning => {
            v.extend(back_at_origin(o, shipment))
        }
        CarrierEventKind::Delivered if returning => v.extend(back_at_origin(o, shipment)),
        _ => {}
    }
    Ok(v)
}

fn too_many_events(o: &Order) -> Result<(), DomainError> {
    if o.carrier_event_ids.len() >= limits::MAX_CARRIER_EVENTS {
        return Err(rejected(
            o,
            "too_many_events",
            "this shipment has too many carrier events",
        ));
    }
    Ok(())
}

/// A shipment is back at its warehouse: received into stock, and what was paid for it
/// refunded (never more than was paid and not yet refunded).
fn back_at_origin(o: &Order, s: &Shipment) -> Vec<Change> {
    let lines = s.line_qtys();
    let amount = o.refund_of(&lines).amount.min(o.refundable());
    let mut v = vec![Change::ReturnedToOrigin {
        shipment: s.id,
        warehouse: s.warehouse.clone(),
        lines,
    }];
    if amount > 0 {
        v.push(Change::RefundIssued {
            amount: Money {
                amount,
                currency: o.currency,
            },
        });
    }
    v
}

/// The shop or the customer answers a shipment's delivery exception: try again (on a date
/// from today at the shipment's warehouse up to [`MAX_REATTEMPT_DAYS`] ahead), or bring it
/// back.
pub(super) fn answer_exception(
    o: &Order,
    shipment: u32,
    answer: &ExceptionAnswer,
    now: DateTime<Utc>,
) -> Result<Vec<Change>, DomainError> {
    let s = o
        .shipment(shipment)
        .ok_or(DomainError::UnknownShipment(shipment))?;
    if o.status.is_terminal() || s.open_exception().is_none() {
        return Err(rejected(
            o,
            "no_open_exception",
            format!("shipment {shipment} has no delivery exception waiting for an answer"),
        ));
    }
    let mut v = vec![Change::ExceptionAnswered {
        shipment,
        answer: answer.clone(),
    }];
    match answer {
        ExceptionAnswer::Reattempt { date, notes } => {
            opt_text("notes", notes, limits::MAX_TEXT)?;
            if let Some(date) = date {
                let today = local_today(s, now);
                if *date < today {
                    return Err(invalid(
                        "date",
                        format!("{date} is in the past (today is {today} where the parcel is)"),
                    ));
                }
                if *date > today + Duration::days(MAX_REATTEMPT_DAYS) {
                    return Err(invalid(
                        "date",
                        format!("at most {MAX_REATTEMPT_DAYS} days ahead (today is {today})"),
                    ));
                }
            }
        }
        ExceptionAnswer::ReturnToOrigin => v.push(Change::ReturningToOrigin {
            shipment,
            reason: "return to origin asked for after a failed delivery".into(),
        }),
    }
    Ok(v)
}

/// Today's date in the shipment's time zone (its promise's: its warehouse's), UTC without one.
fn local_today(s: &Shipment, now: DateTime<Utc>) -> NaiveDate {
    let tz = s
        .plan
        .as_ref()
        .and_then(|p| p.promise.time_zone.parse::<chrono_tz::Tz>().ok());
    match tz {
        Some(tz) => now.with_timezone(&tz).date_naive(),
        None => now.date_naive(),
    }
}

/// The exception timer fired: every delivery exception still unanswered at its `answer_by`
/// sends its parcel back. Nothing when each was answered (or delivered) in time.
pub(super) fn check_exceptions(o: &Order, now: DateTime<Utc>) -> Vec<Change> {
    if o.status.is_terminal() {
        return vec![];
    }
    o.shipments
        .iter()
        .filter_map(|s| {
            let e = s.open_exception()?;
            (e.answer_by <= now).then(|| Change::ReturningToOrigin {
                shipment: s.id,
                reason: format!(
                    "no answer to the failed delivery by {}",
                    e.answer_by.to_rfc3339()
                ),
            })
        })
        .collect()
}

/// The deadline timer fired: `pick_pack_late` for each named shipment still waiting to be
/// packed and not yet recorded late.
pub(super) fn check_deadlines(o: &Order, late: &[LateShipment]) -> Vec<Change> {
    if o.status.is_terminal() || o.status.rank() < Status::Confirmed.rank() {
        return vec![];
    }
    let mut v: Vec<Change> = Vec::new();
    for l in late {
        let waiting = o
            .shipment(l.shipment)
            .is_some_and(|s| s.status == ShipmentStatus::Allocated && !s.pick_pack_late);
        let listed = v
            .iter()
            .any(|c| matches!(c, Change::PickPackLate { shipment, .. } if *shipment == l.shipment));
        if waiting && !listed {
            v.push(Change::PickPackLate {
                shipment: l.shipment,
                due: l.due,
            });
        }
    }
    v
}

/// The promise timer fired: `delayed` for every open shipment not yet delivered whose promise
/// was broken by `now` and is not yet recorded. Nothing when none is (the timer was for a
/// promise since revised, or the shipment was delivered in time).
pub(super) fn check_promises(o: &Order, now: DateTime<Utc>) -> Vec<Change> {
    if o.status.is_terminal() {
        return vec![];
    }
    o.open_shipments()
        .filter(|s| {
            matches!(
                s.status,
                ShipmentStatus::Allocated | ShipmentStatus::Packed | ShipmentStatus::Shipped
            ) && !s.delayed
        })
        .filter_map(|s| {
            let p = &s.plan.as_ref()?.promise;
            (p.broken_at() <= now).then_some(Change::Delayed {
                shipment: s.id,
                promised: p.latest,
            })
        })
        .collect()
}
