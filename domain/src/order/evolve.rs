//! How events change an order: `evolve` applies one event, `fold` a history. Replaying an
//! order's stored events with `fold` gives its snapshot.

use super::event::{Change, Event};
use super::model::{Cancellation, Line, Order, Payment, ReturnCase, Shipment, Status, StockState};

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
                        picked: 0,
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
                warehouse: None,
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
            o.stock = StockState::Reserved;
            o.warehouse = Some(warehouse.clone());
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
        Change::PicksAcknowledged { lines, .. } => {
            for pl in lines {
                if let Some(l) = o.lines.iter_mut().find(|l| l.sku == pl.sku) {
                    l.picked = (l.picked + pl.quantity).min(l.quantity);
                }
            }
        }
        Change::Packed { warehouse, parcels } => {
            o.status = Status::Packed;
            o.shipments.push(Shipment {
                warehouse: warehouse.clone(),
                parcels: parcels.clone(),
                booking: None,
                last_scan: None,
                last_scan_at: None,
                last_location: None,
            });
        }
        Change::ShipmentBooked { booking } => {
            if let Some(s) = o.shipments.iter_mut().find(|s| s.booking.is_none()) {
                s.booking = Some(booking.clone());
            }
        }
        Change::Shipped => {
            o.status = Status::Shipped;
            if o.stock == StockState::Reserved {
                o.stock = StockState::Committed;
            }
        }
        Change::CarrierScanned {
            event_id,
            kind,
            occurred_at,
            location,
            ..
        } => {
            o.carrier_event_ids.push(event_id.clone());
            if let Some(s) = o.shipments.iter_mut().find(|s| s.booking.is_some()) {
                // Out-of-order events are recorded but do not overwrite a newer scan.
                if s.last_scan_at.is_none_or(|t| *occurred_at >= t) {
                    s.last_scan = Some(*kind);
                    s.last_scan_at = Some(*occurred_at);
                    if location.is_some() {
                        s.last_location = location.clone();
                    }
                }
            }
        }
        Change::Delivered => {
            o.status = Status::Delivered;
            o.delivered_at = Some(e.at);
        }
        Change::Cancelled { reason } => {
            o.status = Status::Cancelled;
            if o.stock == StockState::Reserved || o.stock == StockState::Pending {
                o.stock = StockState::Released;
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
            o.refunded = Some(*amount);
            if let Some(rc) = o.return_case.as_mut().filter(|rc| rc.received_at.is_some()) {
                rc.refund = Some(*amount);
            }
        }
    }
    Some(o)
}
