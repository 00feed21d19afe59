//! Picking and packing: the warehouse acknowledges picks and packs parcels, the carrier actor
//! reports the booking, and the warehouse hands the parcels over to the carrier.

use super::validate_line_qtys;
use crate::order::error::{invalid, rejected, DomainError};
use crate::order::limits;
use crate::order::{Booking, Change, LineQty, Order, Parcel, Status};

/// The warehouse acknowledges picked units; never more than ordered.
pub(super) fn acknowledge_picks(
    o: &Order,
    warehouse: &str,
    lines: &[LineQty],
) -> Result<Vec<Change>, DomainError> {
    if o.status != Status::Confirmed {
        return Err(rejected(
            o,
            "picks_not_allowed",
            format!(
                "picks are acknowledged for confirmed orders; this order is {}",
                o.status.as_str()
            ),
        ));
    }
    check_warehouse(o, warehouse)?;
    validate_line_qtys(o, "lines", lines)?;
    for l in lines {
        let line = o.line(&l.sku).expect("validated above");
        if line.picked as u64 + l.quantity as u64 > line.quantity as u64 {
            return Err(rejected(
                o,
                "over_pick",
                format!(
                    "sku '{}': {} picked + {} exceeds the {} ordered",
                    l.sku, line.picked, l.quantity, line.quantity
                ),
            ));
        }
    }
    Ok(vec![Change::PicksAcknowledged {
        warehouse: warehouse.to_owned(),
        lines: lines.to_vec(),
    }])
}

/// The warehouse packs a fully picked order into parcels; the carrier booking follows.
pub(super) fn pack(
    o: &Order,
    warehouse: &str,
    parcels: &[Parcel],
) -> Result<Vec<Change>, DomainError> {
    if o.status != Status::Confirmed {
        return Err(rejected(
            o,
            "pack_not_allowed",
            format!(
                "only confirmed orders can be packed; this order is {}",
                o.status.as_str()
            ),
        ));
    }
    check_warehouse(o, warehouse)?;
    if parcels.is_empty() || parcels.len() > limits::MAX_PARCELS {
        return Err(invalid(
            "parcels",
            format!("between 1 and {} parcels", limits::MAX_PARCELS),
        ));
    }
    if let Some(i) = parcels
        .iter()
        .position(|p| p.weight_grams == 0 || p.weight_grams > limits::MAX_PARCEL_GRAMS)
    {
        return Err(invalid(
            format!("parcels[{i}].weight_grams"),
            format!("must be between 1 and {}", limits::MAX_PARCEL_GRAMS),
        ));
    }
    if !o.fully_picked() {
        let missing: Vec<String> = o
            .lines
            .iter()
            .filter(|l| l.picked < l.quantity)
            .map(|l| format!("{} ({} of {} picked)", l.sku, l.picked, l.quantity))
            .collect();
        return Err(rejected(
            o,
            "not_fully_picked",
            format!(
                "every line must be picked before packing: {}",
                missing.join(", ")
            ),
        ));
    }
    Ok(vec![Change::Packed {
        warehouse: warehouse.to_owned(),
        parcels: parcels.to_vec(),
    }])
}

/// The carrier actor booked the shipment; a late or repeated booking changes nothing.
pub(super) fn record_booking(o: &Order, booking: &Booking) -> Vec<Change> {
    let unbooked = o.shipments.iter().any(|s| s.booking.is_none());
    if o.status == Status::Packed && unbooked {
        vec![Change::ShipmentBooked {
            booking: booking.clone(),
        }]
    } else {
        vec![]
    }
}

/// The warehouse hands a packed, booked order to the carrier.
pub(super) fn handover(o: &Order) -> Result<Vec<Change>, DomainError> {
    match o.status {
        Status::Packed if o.booking().is_some() => Ok(vec![Change::Shipped]),
        Status::Packed => Err(rejected(
            o,
            "label_not_ready",
            "the carrier booking is not complete yet; try again shortly",
        )),
        _ => Err(rejected(
            o,
            "handover_not_allowed",
            format!(
                "only packed orders can be handed over; this order is {}",
                o.status.as_str()
            ),
        )),
    }
}

/// Only the warehouse holding the order's reservation may pick or pack it.
fn check_warehouse(o: &Order, warehouse: &str) -> Result<(), DomainError> {
    match o.warehouse.as_deref() {
        Some(w) if w == warehouse => Ok(()),
        Some(w) => Err(rejected(
            o,
            "wrong_warehouse",
            format!("the order's stock is reserved in warehouse '{w}', not '{warehouse}'"),
        )),
        None => Err(rejected(
            o,
            "no_reservation",
            "the order has no stock reservation",
        )),
    }
}
