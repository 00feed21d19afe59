//! Shipping and carrier events: the carrier's scans of a booked shipment, named by its
//! tracking number. The first scan of a packed shipment also ships it (the hand-over was not
//! reported), and a delivery scan delivers it; the order follows its shipments. A scan may
//! bring a new delivery date, which revises the shipment's promise. And the promise timer's
//! check: a shipment whose promise passed before it was delivered is `delayed`, once.

use crate::order::error::{rejected, DomainError};
use crate::order::limits;
use crate::order::validate::{opt_text, text};
use crate::order::{CarrierEventKind, Change, Order, ShipmentStatus};
use chrono::{DateTime, NaiveDate, Utc};

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
}

/// A carrier reports a scan. A redelivered event id, or any event on a closed order, changes
/// nothing.
pub(super) fn carrier_event(o: &Order, scan: Scan<'_>) -> Result<Vec<Change>, DomainError> {
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
    } = scan;
    text("event_id", event_id, 128)?;
    opt_text("location", location, limits::MAX_TEXT)?;
    opt_text("code", code, 64)?;
    opt_text("description", description, limits::MAX_TEXT)?;
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
    if o.carrier_event_ids.len() >= limits::MAX_CARRIER_EVENTS {
        return Err(rejected(
            o,
            "too_many_events",
            "this shipment has too many carrier events",
        ));
    }
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
    let open = matches!(
        shipment.status,
        ShipmentStatus::Packed | ShipmentStatus::Shipped
    );
    if kind == CarrierEventKind::Delivered && open {
        v.push(Change::Delivered { shipment: id });
    }
    Ok(v)
}

/// The promise timer fired: `delayed` for every open shipment not yet delivered whose promise
/// was broken by `now` and is not yet recorded. Nothing when none is (the timer was for a
/// promise since revised, or the shipment was delivered in time).
pub(super) fn check_promises(o: &Order, now: DateTime<Utc>) -> Vec<Change> {
    if o.status.is_terminal() {
        return vec![];
    }
    o.open_shipments()
        .filter(|s| s.status != ShipmentStatus::Delivered && !s.delayed)
        .filter_map(|s| {
            let p = &s.plan.as_ref()?.promise;
            (p.broken_at() <= now).then_some(Change::Delayed {
                shipment: s.id,
                promised: p.latest,
            })
        })
        .collect()
}
