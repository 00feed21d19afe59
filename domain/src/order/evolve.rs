//! How events change an order: `evolve` applies one event, `fold` a history. Replaying an
//! order's stored events with `fold` gives its snapshot.

use super::event::{Change, Event};
use super::model::{
    Allocation, Cancellation, CarrierEventKind, DeliveryException, DeliveryPlan, Line, Order,
    Payment, ReturnCase, ReturnParcel, ReturnParcelStatus, ReturnToOrigin, Shipment, ShipmentLine,
    ShipmentStatus, Status, StockState,
};
use crate::ids::WarehouseId;

/// Folds events into a state. Pure and total: an event that does not fit is ignored, which
/// cannot happen for histories produced by `decide`.
pub fn fold(mut state: Option<Order>, events: &[Event]) -> Option<Order> {
    for e in events {
        state = evolve(state, e);
    }
    state
}

/// Applies one event to a state.
pub fn evolve(state: Option<Order>, e: &Event) -> Option<Order> {
    let mut o = match (state, &e.change) {
        (
            None,
            Change::Placed {
                id,
                tracking_token,
                payment_due_at,
                order,
            },
        ) => {
            return Some(Order {
                id: *id,
                version: e.seq,
                external_ref: order.external_ref.clone(),
                tracking_token: tracking_token.clone(),
                status: Status::Placed,
                customer: order.customer.clone(),
                currency: order.currency,
                lines: order
                    .lines
                    .iter()
                    .map(|l| Line {
                        sku: l.sku.clone(),
                        quantity: l.quantity,
                        unit_price: l.unit_price,
                    })
                    .collect(),
                shipping: order.shipping.clone(),
                billing_address: order.billing_address.clone(),
                payment: Payment {
                    method: order.payment.method,
                    status: order.payment.status.into(),
                    amount: None,
                    reference: None,
                },
                stock: StockState::Pending,
                backordered: vec![],
                allow_split: order.allow_split,
                shortages: vec![],
                shipments: vec![],
                return_case: None,
                cancellation: None,
                refunded: None,
                placed_at: e.at,
                updated_at: e.at,
                payment_due_at: *payment_due_at,
                delivered_at: None,
                carrier_event_ids: vec![],
            })
        }
        (None, _) => return None,
        (Some(o), _) => o,
    };
    o.version = e.seq;
    o.updated_at = e.at;
    match &e.change {
        Change::Placed { .. } => {}
        Change::StockReserved { warehouse } => {
            // Before allocation: every line from one warehouse, the order's only shipment.
            let lines = o.line_qtys();
            allocate(
                &mut o,
                &[Allocation {
                    shipment: 1,
                    warehouse: warehouse.clone(),
                    lines,
                    plan: None,
                }],
            );
        }
        Change::Allocated { shipments, .. } => {
            allocate(&mut o, shipments);
            o.backordered.clear();
        }
        Change::Backordered { backordered, .. } => {
            o.stock = StockState::Backordered;
            o.backordered = backordered.clone();
        }
        Change::StockUnavailable { shortages } => {
            o.stock = StockState::Unavailable;
            o.shortages = shortages.clone();
        }
        Change::PaymentRecorded {
            status,
            amount,
            reference,
        } => {
            o.payment.status = *status;
            if status.is_secured() {
                o.payment.amount = Some(*amount);
            }
            o.payment.reference = Some(reference.clone());
        }
        Change::Confirmed => o.status = Status::Confirmed,
        Change::PicksAcknowledged {
            warehouse,
            lines,
            shipment,
        } => {
            if let Some(s) = shipment_mut(&mut o, *shipment, Some(warehouse)) {
                for pl in lines {
                    if let Some(l) = s.lines.iter_mut().find(|l| l.sku == pl.sku) {
                        l.picked = (l.picked + pl.quantity).min(l.quantity);
                    }
                }
            }
        }
        Change::Packed {
            warehouse,
            parcels,
            shipment,
        } => {
            if let Some(s) = shipment_mut(&mut o, *shipment, Some(warehouse)) {
                s.status = ShipmentStatus::Packed;
                s.parcels = parcels.clone();
            }
        }
        Change::ShipmentBooked { booking, shipment } => {
            let target = match shipment {
                Some(id) => o.shipments.iter_mut().find(|s| s.id == *id),
                None => o
                    .shipments
                    .iter_mut()
                    .find(|s| s.status == ShipmentStatus::Packed && s.booking.is_none()),
            };
            if let Some(s) = target {
                let mut booking = booking.clone();
                if let Some(promise) = booking.promise.take() {
                    // The booking revises the plan: the service booked, its price, the rule,
                    // its window. They live on the plan (one place); the event keeps them all.
                    s.plan = Some(DeliveryPlan {
                        carrier: booking.carrier.clone(),
                        service: booking.service.clone(),
                        price: booking.price.take(),
                        rule: booking.rule.take(),
                        promise,
                    });
                }
                s.booking = Some(booking);
            }
        }
        Change::Shipped { shipment } => {
            for s in o.shipments.iter_mut() {
                let this = shipment.is_none_or(|id| s.id == id);
                if this && s.status == ShipmentStatus::Packed {
                    s.status = ShipmentStatus::Shipped;
                }
            }
            if o.stock == StockState::Reserved
                && o.open_shipments().all(|s| s.status.is_handed_over())
            {
                o.stock = StockState::Committed;
            }
        }
        Change::CarrierScanned {
            event_id,
            kind,
            occurred_at,
            location,
            shipment,
            estimated_delivery,
            ..
        } => {
            o.carrier_event_ids.push(event_id.clone());
            let target = match shipment {
                Some(id) => o.shipments.iter_mut().find(|s| s.id == *id),
                None => o.shipments.iter_mut().find(|s| s.booking.is_some()),
            };
            if let Some(s) = target.filter(|_| *kind != CarrierEventKind::Unknown) {
                // Out-of-order events are recorded but do not overwrite a newer scan; an
                // unknown code is only recorded (in the history, with its raw code).
                if s.last_scan_at.is_none_or(|t| *occurred_at >= t) {
                    s.last_scan = Some(*kind);
                    s.last_scan_at = Some(*occurred_at);
                    if location.is_some() {
                        s.last_location = location.clone();
                    }
                    // The carrier's newest word on the date revises the promise.
                    if let (Some(day), Some(plan)) = (estimated_delivery, s.plan.as_mut()) {
                        plan.promise.earliest = *day;
                        plan.promise.latest = *day;
                    }
                }
            }
        }
        Change::Delayed { shipment, .. } => {
            if let Some(s) = o.shipments.iter_mut().find(|s| s.id == *shipment) {
                s.delayed = true;
            }
        }
        Change::Delivered { shipment } => {
            for s in o.shipments.iter_mut() {
                let this = shipment.is_none_or(|id| s.id == id);
                if this && s.status == ShipmentStatus::Shipped {
                    s.status = ShipmentStatus::Delivered;
                    s.delivered_at = Some(e.at);
                }
            }
            if o.shipments.is_empty() {
                // Recorded before shipments were kept from allocation on: nothing to follow.
                o.status = Status::Delivered;
            }
        }
        Change::Cancelled { reason } => {
            o.status = Status::Cancelled;
            if matches!(
                o.stock,
                StockState::Reserved | StockState::Pending | StockState::Backordered
            ) {
                o.stock = StockState::Released;
            }
            for s in o.shipments.iter_mut() {
                if !s.status.is_handed_over() {
                    s.status = ShipmentStatus::Cancelled;
                }
            }
            o.cancellation = Some(Cancellation {
                reason: reason.clone(),
                at: e.at,
                by: e.by.clone(),
            });
        }
        Change::ReturnApproved {
            lines,
            reason,
            tracking_number,
        } => {
            o.return_case = Some(ReturnCase {
                lines: lines.clone(),
                reason: reason.clone(),
                approved_at: e.at,
                tracking_number: tracking_number.clone(),
                received_at: None,
                received_lines: None,
                refund: None,
                parcel: None,
            });
        }
        Change::ReturnReceived { lines, .. } => {
            o.status = Status::Returned;
            if let Some(rc) = o.return_case.as_mut() {
                rc.received_at = Some(e.at);
                rc.received_lines = Some(lines.clone());
            }
        }
        Change::RefundIssued { amount } => {
            // Refunds add up (a cancelled shipment, then a return).
            o.refunded = Some(match o.refunded {
                Some(before) if before.currency == amount.currency => crate::Money {
                    amount: before.amount + amount.amount,
                    currency: amount.currency,
                },
                _ => *amount,
            });
            if let Some(rc) = o.return_case.as_mut().filter(|rc| rc.received_at.is_some()) {
                rc.refund = Some(*amount);
            }
        }
        Change::ShipmentsCancelled { shipments, .. } => {
            for s in o.shipments.iter_mut() {
                if shipments.contains(&s.id) && !s.status.is_handed_over() {
                    s.status = ShipmentStatus::Cancelled;
                }
            }
            if o.stock == StockState::Reserved
                && o.open_shipments().all(|s| s.status.is_handed_over())
            {
                o.stock = StockState::Committed;
            }
        }
        Change::DeliveryFailed {
            shipment,
            reason,
            attempt,
            answer_by,
        } => {
            if let Some(s) = o.shipments.iter_mut().find(|s| s.id == *shipment) {
                s.attempts = *attempt;
                s.exception = Some(DeliveryException {
                    reason: *reason,
                    attempt: *attempt,
                    opened_at: e.at,
                    answer_by: *answer_by,
                    answer: None,
                    answered_at: None,
                });
            }
        }
        Change::ExceptionAnswered { shipment, answer } => {
            let s = o.shipments.iter_mut().find(|s| s.id == *shipment);
            if let Some(x) = s.and_then(|s| s.exception.as_mut()) {
                x.answer = Some(answer.clone());
                x.answered_at = Some(e.at);
            }
        }
        Change::ReturningToOrigin { shipment, reason } => {
            if let Some(s) = o.shipments.iter_mut().find(|s| s.id == *shipment) {
                if matches!(s.status, ShipmentStatus::Packed | ShipmentStatus::Shipped) {
                    s.status = ShipmentStatus::Returning;
                }
                s.return_to_origin = Some(ReturnToOrigin {
                    reason: reason.clone(),
                    at: e.at,
                    received_at: None,
                });
            }
        }
        Change::ReturnedToOrigin { shipment, .. } => {
            if let Some(s) = o.shipments.iter_mut().find(|s| s.id == *shipment) {
                s.status = ShipmentStatus::Returned;
                let back = s.return_to_origin.get_or_insert_with(|| ReturnToOrigin {
                    reason: "returned by the carrier".into(),
                    at: e.at,
                    received_at: None,
                });
                back.received_at = Some(e.at);
            }
            // Nothing delivered and nothing else on its way: the order went back whole.
            if !o.status.is_terminal()
                && o.status_from_shipments().is_none()
                && o.status.rank() >= Status::Shipped.rank()
                && o.status != Status::Delivered
            {
                o.status = Status::Returned;
            }
        }
        Change::ReturnScanned {
            carrier,
            event_id,
            kind,
            occurred_at,
            location,
            ..
        } => {
            o.carrier_event_ids.push(event_id.clone());
            let rc = o.return_case.as_mut();
            if let Some(rc) = rc.filter(|_| kind.means_in_hand()) {
                let newer = rc
                    .parcel
                    .as_ref()
                    .is_none_or(|p| *occurred_at >= p.last_scan_at);
                let was_delivered = rc
                    .parcel
                    .as_ref()
                    .is_some_and(|p| p.status == ReturnParcelStatus::Delivered);
                if newer || *kind == CarrierEventKind::Delivered {
                    let status = if was_delivered || *kind == CarrierEventKind::Delivered {
                        ReturnParcelStatus::Delivered
                    } else {
                        ReturnParcelStatus::InTransit
                    };
                    let last_location = location
                        .clone()
                        .or_else(|| rc.parcel.as_ref().and_then(|p| p.last_location.clone()));
                    rc.parcel = Some(ReturnParcel {
                        status,
                        carrier: carrier.clone(),
                        last_scan: *kind,
                        last_scan_at: *occurred_at,
                        last_location,
                    });
                }
            }
        }
        Change::PickPackLate { shipment, .. } => {
            if let Some(s) = o.shipments.iter_mut().find(|s| s.id == *shipment) {
                s.pick_pack_late = true;
            }
        }
    }
    follow_shipments(&mut o, e);
    Some(o)
}

/// Creates the shipments allocation planned; the stock is then reserved.
fn allocate(o: &mut Order, plan: &[Allocation]) {
    o.stock = StockState::Reserved;
    o.shipments = plan
        .iter()
        .map(|a| Shipment {
            id: a.shipment,
            warehouse: a.warehouse.clone(),
            lines: a
                .lines
                .iter()
                .map(|l| ShipmentLine {
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                    picked: 0,
                })
                .collect(),
            status: ShipmentStatus::Allocated,
            parcels: vec![],
            booking: None,
            last_scan: None,
            last_scan_at: None,
            last_location: None,
            delivered_at: None,
            plan: a.plan.clone(),
            delayed: false,
            attempts: 0,
            exception: None,
            return_to_origin: None,
            pick_pack_late: false,
        })
        .collect();
}

/// The shipment a warehouse event is about: by id, or (events recorded before shipments had
/// ids) the open one at `warehouse`, or the only one.
fn shipment_mut<'a>(
    o: &'a mut Order,
    id: Option<u32>,
    warehouse: Option<&WarehouseId>,
) -> Option<&'a mut Shipment> {
    match id {
        Some(id) => o.shipments.iter_mut().find(|s| s.id == id),
        None => {
            let at = o.shipments.iter().position(|s| {
                s.status != ShipmentStatus::Cancelled && Some(&s.warehouse) == warehouse
            });
            let i = at.or((o.shipments.len() == 1).then_some(0))?;
            o.shipments.get_mut(i)
        }
    }
}

/// An order as far along as its least advanced open shipment: packed once all are packed,
/// shipped once all are shipped, delivered once all are delivered.
fn follow_shipments(o: &mut Order, e: &Event) {
    if let Some(status) = o.status_from_shipments() {
        if status.rank() > o.status.rank() {
            o.status = status;
            if status == Status::Delivered {
                o.delivered_at = Some(e.at);
            }
        }
    }
}
