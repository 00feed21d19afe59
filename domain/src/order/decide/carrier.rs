//! Shipping and carrier events: the carrier's scans of a booked shipment. The first scan of a
//! packed order also ships it (the hand-over was not reported), and a delivery scan delivers it.

use crate::order::error::{rejected, DomainError};
use crate::order::limits;
use crate::order::validate::{opt_text, text};
use crate::order::{CarrierEventKind, Change, Order, Status};
use chrono::{DateTime, Utc};

/// A carrier reports a scan. A redelivered event id, or any event on a closed order, changes
/// nothing.
pub(super) fn carrier_event(
    o: &Order,
    carrier: &str,
    event_id: &str,
    kind: CarrierEventKind,
    occurred_at: DateTime<Utc>,
    location: &Option<String>,
) -> Result<Vec<Change>, DomainError> {
    text("event_id", event_id, 128)?;
    opt_text("location", location, limits::MAX_TEXT)?;
    let Some(booking) = o.booking() else {
        return Err(rejected(
            o,
            "no_shipment",
            "the order has no booked shipment",
        ));
    };
    if booking.carrier != carrier {
        return Err(rejected(
            o,
            "wrong_carrier",
            format!("the shipment is with carrier '{}'", booking.carrier),
        ));
    }
    if o.carrier_event_ids.iter().any(|e| e == event_id) || o.status.is_terminal() {
        return Ok(vec![]);
    }
    if o.carrier_event_ids.len() >= limits::MAX_CARRIER_EVENTS {
        return Err(rejected(
            o,
            "too_many_events",
            "this shipment has too many carrier events",
        ));
    }
    let mut v = Vec::new();
    if o.status == Status::Packed {
        v.push(Change::Shipped);
    }
    v.push(Change::CarrierScanned {
        carrier: carrier.to_owned(),
        event_id: event_id.to_owned(),
        kind,
        occurred_at,
        location: location.clone(),
    });
    if kind == CarrierEventKind::Delivered && matches!(o.status, Status::Packed | Status::Shipped) {
        v.push(Change::Delivered);
    }
    Ok(v)
}
