//! Shipping and carrier events: the carrier's scans of a booked shipment, named by its
//! tracking number. The first scan of a packed shipment also ships it (the hand-over was not
//! reported), and a delivery scan delivers it; the order follows its shipments.

use crate::order::error::{rejected, DomainError};
use crate::order::limits;
use crate::order::validate::{opt_text, text};
use crate::order::{CarrierEventKind, Change, Order, ShipmentStatus};
use chrono::{DateTime, Utc};

/// A carrier reports a scan. A redelivered event id, or any event on a closed order, changes
/// nothing.
pub(super) fn carrier_event(
    o: &Order,
    carrier: &str,
    tracking_number: &str,
    event_id: &str,
    kind: CarrierEventKind,
    occurred_at: DateTime<Utc>,
    location: &Option<String>,
) -> Result<Vec<Change>, DomainError> {
    text("event_id", event_id, 128)?;
    opt_text("location", location, limits::MAX_TEXT)?;
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
    if shipment.status == ShipmentStatus::Packed {
        v.push(Change::Shipped { shipment: id });
    }
    v.push(Change::CarrierScanned {
        carrier: carrier.to_owned(),
        event_id: event_id.to_owned(),
        kind,
        occurred_at,
        location: location.clone(),
        shipment: id,
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
