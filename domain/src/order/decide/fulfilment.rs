//! Picking and packing, per shipment: the warehouse acknowledges picks and packs parcels, the
//! carrier actor reports the booking, and the warehouse hands the parcels over to the carrier.
//!
//! Each shipment walks `allocated → packed → shipped` on its own; the order follows (see
//! `Order::status_from_shipments`). Commands name their shipment by id, or by warehouse (the
//! order-level routes, which serve an order with one shipment as before).

use crate::order::error::{invalid, rejected, DomainError};
use crate::order::limits;
use crate::order::{
    Booking, Change, LineQty, Order, Parcel, Shipment, ShipmentRef, ShipmentStatus, Status,
};

/// The warehouse acknowledges picked units of one shipment; never more than it holds.
pub(super) fn acknowledge_picks(
    o: &Order,
    target: &ShipmentRef,
    lines: &[LineQty],
) -> Result<Vec<Change>, DomainError> {
    named_shipment_exists(o, target)?;
    if o.status.rank() < Status::Confirmed.rank() || o.status.is_terminal() {
        return Err(rejected(
            o,
            "picks_not_allowed",
            format!(
                "picks are acknowledged for confirmed orders; this order is {}",
                o.status.as_str()
            ),
        ));
    }
    let s = shipment(o, target)?;
    if s.status != ShipmentStatus::Allocated {
        return Err(rejected(
            o,
            "picks_not_allowed",
            format!(
                "shipment {} is {}; picks are acknowledged before packing",
                s.id,
                s.status.as_str()
            ),
        ));
    }
    validate_shipment_lines(s, "lines", lines)?;
    for l in lines {
        let line = s.line(&l.sku).expect("validated above");
        if line.picked as u64 + l.quantity as u64 > line.quantity as u64 {
            return Err(rejected(
                o,
                "over_pick",
                format!(
                    "sku '{}': {} picked + {} exceeds the {} in shipment {}",
                    l.sku, line.picked, l.quantity, line.quantity, s.id
                ),
            ));
        }
    }
    Ok(vec![Change::PicksAcknowledged {
        warehouse: s.warehouse.clone(),
        lines: lines.to_vec(),
        shipment: Some(s.id),
    }])
}

/// The warehouse packs a fully picked shipment into parcels; its carrier booking follows.
pub(super) fn pack(
    o: &Order,
    target: &ShipmentRef,
    parcels: &[Parcel],
) -> Result<Vec<Change>, DomainError> {
    named_shipment_exists(o, target)?;
    if o.status.rank() < Status::Confirmed.rank() || o.status.is_terminal() {
        return Err(rejected(
            o,
            "pack_not_allowed",
            format!(
                "only confirmed orders can be packed; this order is {}",
                o.status.as_str()
            ),
        ));
    }
    let s = shipment(o, target)?;
    if s.status != ShipmentStatus::Allocated {
        return Err(rejected(
            o,
            "pack_not_allowed",
            format!("shipment {} is already {}", s.id, s.status.as_str()),
        ));
    }
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
    if !s.fully_picked() {
        let missing: Vec<String> = s
            .lines
            .iter()
            .filter(|l| l.picked < l.quantity)
            .map(|l| format!("{} ({} of {} picked)", l.sku, l.picked, l.quantity))
            .collect();
        return Err(rejected(
            o,
            "not_fully_picked",
            format!(
                "every line of shipment {} must be picked before packing: {}",
                s.id,
                missing.join(", ")
            ),
        ));
    }
    Ok(vec![Change::Packed {
        warehouse: s.warehouse.clone(),
        parcels: parcels.to_vec(),
        shipment: Some(s.id),
    }])
}

/// The carrier actor booked a shipment; a late or repeated booking changes nothing.
pub(super) fn record_booking(o: &Order, shipment: Option<u32>, booking: &Booking) -> Vec<Change> {
    let target = match shipment {
        Some(id) => o.shipment(id),
        None => o
            .shipments
            .iter()
            .find(|s| s.status == ShipmentStatus::Packed && s.booking.is_none()),
    };
    match target {
        Some(s) if s.status == ShipmentStatus::Packed && s.booking.is_none() => {
            vec![Change::ShipmentBooked {
                booking: booking.clone(),
                shipment: Some(s.id),
            }]
        }
        _ => vec![],
    }
}

/// The warehouse hands a packed, booked shipment to the carrier; without a shipment, every
/// one that is ready.
pub(super) fn handover(o: &Order, shipment: Option<u32>) -> Result<Vec<Change>, DomainError> {
    if let Some(id) = shipment {
        named_shipment_exists(o, &ShipmentRef::Id(id))?;
    }
    if o.status.is_terminal() || o.status.rank() < Status::Confirmed.rank() {
        return Err(not_packed(o));
    }
    let candidates: Vec<&Shipment> = match shipment {
        Some(id) => vec![o
            .shipment(id)
            .ok_or_else(|| unknown_shipment(o, &ShipmentRef::Id(id)))?],
        None => o
            .shipments
            .iter()
            .filter(|s| s.status == ShipmentStatus::Packed)
            .collect(),
    };
    if candidates.is_empty()
        || candidates
            .iter()
            .any(|s| s.status != ShipmentStatus::Packed)
    {
        return Err(not_packed(o));
    }
    if let Some(s) = candidates.iter().find(|s| s.booking.is_none()) {
        return Err(rejected(
            o,
            "label_not_ready",
            format!(
                "the carrier booking of shipment {} is not complete yet; try again shortly",
                s.id
            ),
        ));
    }
    Ok(candidates
        .iter()
        .map(|s| Change::Shipped {
            shipment: Some(s.id),
        })
        .collect())
}

/// A shipment named by id that the order does not have is unknown, whatever the order's
/// status (404 rather than a refusal about the status).
fn named_shipment_exists(o: &Order, target: &ShipmentRef) -> Result<(), DomainError> {
    match target {
        ShipmentRef::Id(id) if o.shipment(*id).is_none() => Err(DomainError::UnknownShipment(*id)),
        _ => Ok(()),
    }
}

fn not_packed(o: &Order) -> DomainError {
    rejected(
        o,
        "handover_not_allowed",
        format!(
            "only packed shipments can be handed over; this order is {}",
            o.status.as_str()
        ),
    )
}

/// The shipment a command names: by id, or the open one at a warehouse.
pub(super) fn shipment<'a>(
    o: &'a Order,
    target: &ShipmentRef,
) -> Result<&'a Shipment, DomainError> {
    let found = match target {
        ShipmentRef::Id(id) => o.shipment(*id),
        ShipmentRef::At(w) => o
            .open_shipments()
            .find(|s| &s.warehouse == w && s.status == ShipmentStatus::Allocated)
            .or_else(|| o.open_shipments().find(|s| &s.warehouse == w)),
    };
    found.ok_or_else(|| unknown_shipment(o, target))
}

fn unknown_shipment(o: &Order, target: &ShipmentRef) -> DomainError {
    if o.shipments.is_empty() {
        return rejected(o, "no_reservation", "the order has no stock reservation");
    }
    match target {
        ShipmentRef::Id(id) => DomainError::UnknownShipment(*id),
        ShipmentRef::At(w) => {
            let at: Vec<String> = o
                .open_shipments()
                .map(|s| format!("{} (shipment {})", s.warehouse, s.id))
                .collect();
            rejected(
                o,
                "wrong_warehouse",
                format!(
                    "the order has no shipment from warehouse '{w}'; its stock is reserved in {}",
                    at.join(", ")
                ),
            )
        }
    }
}

/// Checks the lines of a pick: as every list of lines, each sku in the shipment.
fn validate_shipment_lines(
    s: &Shipment,
    field: &str,
    lines: &[LineQty],
) -> Result<(), DomainError> {
    super::validate_lines_of(field, lines, |sku| {
        s.line(sku)
            .is_none()
            .then(|| format!("sku '{sku}' is not in shipment {}", s.id))
    })
}
