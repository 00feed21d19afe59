//! What new events set off outside the order: the messages (`Effect`s) the order's actor sends
//! the inventory, the carrier and the notifier, and the timers it sets or clears (payment due,
//! a shipment's promise breaking).
//! `reactions` works them out from the events `decide` returned and the order they lead to.

use super::event::{Change, Event};
use super::model::{
    CarrierEventKind, ExceptionAnswer, LineQty, Order, OrderId, Parcel, PaymentMethod, Promise,
    ShipmentStatus, StockState,
};
use crate::audience::Audience;
use crate::ids::WarehouseId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Customer-visible moments that produce a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    Confirmed,
    /// Some lines wait for stock; the order confirms by itself once they arrive.
    Backordered,
    Shipped,
    OutForDelivery,
    Delivered,
    Cancelled,
    ReturnApproved,
    Refunded,
    /// A shipment's promised window passed before it was delivered.
    Delayed,
    /// The carrier could not deliver: the customer is asked to choose (reattempt, send back).
    DeliveryFailed,
    /// A shipment goes back to its warehouse.
    ReturningToOrigin,
    /// A warehouse missed its pick-and-pack deadline (operations only).
    PickPackLate,
}

impl NotificationKind {
    /// Every kind (the set message templates are checked against).
    pub const ALL: [NotificationKind; 12] = [
        NotificationKind::Confirmed,
        NotificationKind::Backordered,
        NotificationKind::Shipped,
        NotificationKind::OutForDelivery,
        NotificationKind::Delivered,
        NotificationKind::Cancelled,
        NotificationKind::ReturnApproved,
        NotificationKind::Refunded,
        NotificationKind::Delayed,
        NotificationKind::DeliveryFailed,
        NotificationKind::ReturningToOrigin,
        NotificationKind::PickPackLate,
    ];

    pub fn audience(self) -> Audience {
        match self {
            NotificationKind::Delayed | NotificationKind::ReturningToOrigin => {
                Audience::CustomerAndOperations
            }
            NotificationKind::PickPackLate => Audience::Operations,
            _ => Audience::Customer,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Confirmed => "confirmed",
            NotificationKind::Backordered => "backordered",
            NotificationKind::Shipped => "shipped",
            NotificationKind::OutForDelivery => "out_for_delivery",
            NotificationKind::Delivered => "delivered",
            NotificationKind::Cancelled => "cancelled",
            NotificationKind::ReturnApproved => "return_approved",
            NotificationKind::Refunded => "refunded",
            NotificationKind::Delayed => "delayed",
            NotificationKind::DeliveryFailed => "delivery_failed",
            NotificationKind::ReturningToOrigin => "returning_to_origin",
            NotificationKind::PickPackLate => "pick_pack_late",
        }
    }
}

/// An effect: a message an order's transition sends another actor (reserve or release stock,
/// book a shipment, notify the customer…). `step` is the sequence number of the event that
/// caused it: (order id, step, kind) identifies the effect, so a receiver can recognise a
/// redelivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effect {
    pub order_id: OrderId,
    pub step: u32,
    #[serde(rename = "action")]
    pub kind: EffectKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum EffectKind {
    /// Allocate and reserve the order's lines.
    ReserveStock {
        lines: Vec<LineQty>,
        /// Where the order goes (allocation prefers warehouses that ship there); absent in
        /// messages written before allocation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        country: Option<String>,
        /// The order's own say on splitting; absent: the shop's policy.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allow_split: Option<bool>,
    },
    /// Give back the stock of these shipments (`None`: the whole reservation).
    ReleaseStock {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipments: Option<Vec<u32>>,
    },
    /// The stock of a handed-over shipment left the warehouse (`None`: the whole reservation).
    CommitStock {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
    },
    BookShipment {
        warehouse: WarehouseId,
        parcels: Vec<Parcel>,
        country: String,
        method: Option<String>,
        /// The shipment to book (`None`: asked before shipments had ids; the order's only one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<u32>,
        /// What the carrier rules see besides the above (absent: asked before carrier rules).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        terms: Option<BookingTerms>,
    },
    Restock {
        warehouse: WarehouseId,
        lines: Vec<LineQty>,
    },
    Notify {
        kind: NotificationKind,
    },
    /// Tell the carriers that these booked shipments were cancelled before they left.
    CancelBookings {
        bookings: Vec<BookedShipment>,
    },
    /// Tell a shipment's carrier what to do after a failed delivery.
    InstructCarrier {
        shipment: u32,
        carrier: String,
        tracking_number: String,
        instruction: ExceptionAnswer,
    },
}

/// A shipment's booking, as a cancellation names it to its carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookedShipment {
    pub shipment: u32,
    pub carrier: String,
    pub tracking_number: String,
}

impl EffectKind {
    /// Short stable name, part of the message's identity.
    pub fn name(&self) -> &'static str {
        match self {
            EffectKind::ReserveStock { .. } => "reserve_stock",
            EffectKind::ReleaseStock { .. } => "release_stock",
            EffectKind::CommitStock { .. } => "commit_stock",
            EffectKind::BookShipment { .. } => "book_shipment",
            EffectKind::Restock { .. } => "restock",
            EffectKind::Notify { kind } => kind.as_str(),
            EffectKind::CancelBookings { .. } => "cancel_bookings",
            EffectKind::InstructCarrier { .. } => "instruct_carrier",
        }
    }
}

/// What the carrier rules and prices see of a shipment to book, besides its parcels,
/// country and method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingTerms {
    pub postal_code: String,
    /// The order's value, minor units of its currency.
    pub value: i64,
    pub cash_on_delivery: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    PaymentDue,
    /// A shipment's promise breaks: check the order's promises ([`Command::CheckPromises`]).
    ///
    /// [`Command::CheckPromises`]: super::Command::CheckPromises
    PromiseDue,
    /// A delivery exception's answer is due: unanswered ones go back to origin
    /// ([`Command::CheckExceptions`]).
    ///
    /// [`Command::CheckExceptions`]: super::Command::CheckExceptions
    ExceptionDue,
    /// A warehouse's pick-and-pack deadline passes ([`Command::CheckDeadlines`], filled in by
    /// the order's actor from the warehouse's working hours).
    ///
    /// [`Command::CheckDeadlines`]: super::Command::CheckDeadlines
    DeadlineDue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub order_id: OrderId,
    pub kind: TimerKind,
    pub due: DateTime<Utc>,
}

/// Messages and timer changes that follow from newly recorded events.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reactions {
    pub effects: Vec<Effect>,
    pub set_timers: Vec<Timer>,
    pub clear_timers: Vec<Timer>,
}

/// Works out the reactions to `events`, given the order as it stood before them (`None`: they
/// place it) and as it stands after them.
pub fn reactions(before: Option<&Order>, after: &Order, events: &[Event]) -> Reactions {
    let mut r = Reactions::default();
    let id = after.id;
    let effect = |step, kind| Effect {
        order_id: id,
        step,
        kind,
    };
    let payment_timer = after.payment_due_at.map(|due| Timer {
        order_id: id,
        kind: TimerKind::PaymentDue,
        due,
    });
    let promise_timer = |due| Timer {
        order_id: id,
        kind: TimerKind::PromiseDue,
        due,
    };
    for e in events {
        let step = e.seq;
        match &e.change {
            Change::Placed { order, .. } => {
                r.effects.push(effect(
                    step,
                    EffectKind::ReserveStock {
                        lines: order
                            .lines
                            .iter()
                            .map(|l| LineQty {
                                sku: l.sku.clone(),
                                quantity: l.quantity,
                            })
                            .collect(),
                        country: Some(order.shipping.address.country.clone()),
                        allow_split: order.allow_split,
                    },
                ));
                r.set_timers.extend(payment_timer.clone());
            }
            Change::Backordered { .. } => r.effects.push(effect(
                step,
                EffectKind::Notify {
                    kind: NotificationKind::Backordered,
                },
            )),
            Change::Confirmed => {
                r.effects.push(effect(
                    step,
                    EffectKind::Notify {
                        kind: NotificationKind::Confirmed,
                    },
                ));
                r.clear_timers.extend(payment_timer.clone());
            }
            Change::Packed {
                warehouse,
                parcels,
                shipment,
            } => r.effects.push(effect(
                step,
                EffectKind::BookShipment {
                    warehouse: warehouse.clone(),
                    parcels: parcels.clone(),
                    country: after.shipping.address.country.clone(),
                    method: after.shipping.method.clone(),
                    shipment: *shipment,
                    terms: Some(BookingTerms {
                        postal_code: after.shipping.address.postal_code.clone(),
                        value: after.total().amount,
                        cash_on_delivery: after.payment.method == PaymentMethod::Cod,
                    }),
                },
            )),
            Change::Allocated { shipments, .. } => r.set_timers.extend(
                shipments
                    .iter()
                    .filter_map(|a| a.plan.as_ref())
                    .map(|p| promise_timer(p.promise.broken_at())),
            ),
            Change::ShipmentBooked { booking, shipment } => {
                // A timer is set per due moment: only a window the booking moved needs one.
                let due = booking.promise.as_ref().map(Promise::broken_at);
                let was = shipment
                    .and_then(|id| before?.shipment(id)?.plan.as_ref())
                    .map(|p| p.promise.broken_at());
                if due != was {
                    r.set_timers.extend(due.map(promise_timer));
                }
            }
            Change::CarrierScanned {
                estimated_delivery: Some(_),
                shipment: Some(id),
                kind,
                ..
            } => {
                // The revised promise (evolve keeps the newest scan's date).
                let revised = after.shipment(*id).and_then(|s| s.plan.as_ref());
                r.set_timers
                    .extend(revised.map(|p| promise_timer(p.promise.broken_at())));
                if *kind == CarrierEventKind::OutForDelivery {
                    r.effects.push(effect(
                        step,
                        EffectKind::Notify {
                            kind: NotificationKind::OutForDelivery,
                        },
                    ));
                }
            }
            Change::Delayed { .. } => r.effects.push(effect(
                step,
                EffectKind::Notify {
                    kind: NotificationKind::Delayed,
                },
            )),
            Change::DeliveryFailed {
                shipment,
                answer_by,
                ..
            } => {
                r.effects.push(effect(
                    step,
                    EffectKind::Notify {
                        kind: NotificationKind::DeliveryFailed,
                    },
                ));
                // Not when the same transition already sends the parcel back.
                if after
                    .shipment(*shipment)
                    .is_some_and(|s| s.open_exception().is_some())
                {
                    r.set_timers.push(Timer {
                        order_id: id,
                        kind: TimerKind::ExceptionDue,
                        due: *answer_by,
                    });
                }
            }
            Change::ExceptionAnswered {
                shipment,
                answer: answer @ ExceptionAnswer::Reattempt { .. },
            } => r
                .effects
                .extend(instruct(after, *shipment, answer).map(|k| effect(step, k))),
            Change::ReturningToOrigin { shipment, .. } => {
                r.effects.extend(
                    instruct(after, *shipment, &ExceptionAnswer::ReturnToOrigin)
                        .map(|k| effect(step, k)),
                );
                r.effects.push(effect(
                    step,
                    EffectKind::Notify {
                        kind: NotificationKind::ReturningToOrigin,
                    },
                ));
            }
            Change::ReturnedToOrigin {
                warehouse, lines, ..
            } => r.effects.push(effect(
                step,
                EffectKind::Restock {
                    warehouse: warehouse.clone(),
                    lines: lines.clone(),
                },
            )),
            Change::PickPackLate { .. } => r.effects.push(effect(
                step,
                EffectKind::Notify {
                    kind: NotificationKind::PickPackLate,
                },
            )),
            Change::Shipped { shipment } => {
                r.effects.push(effect(
                    step,
                    EffectKind::CommitStock {
                        shipment: *shipment,
                    },
                ));
                r.effects.push(effect(
                    step,
                    EffectKind::Notify {
                        kind: NotificationKind::Shipped,
                    },
                ));
            }
            Change::CarrierScanned {
                kind: CarrierEventKind::OutForDelivery,
                ..
            } => r.effects.push(effect(
                step,
                EffectKind::Notify {
                    kind: NotificationKind::OutForDelivery,
                },
            )),
            // A delivered shipment's promise timer is left to fire: it finds nothing broken
            // and is removed then, off the delivery's hot path (clearing it here cost a
            // storage write per order on the busiest transition).
            Change::Delivered { .. } => r.effects.push(effect(
                step,
                EffectKind::Notify {
                    kind: NotificationKind::Delivered,
                },
            )),
            Change::Cancelled { .. } => {
                if after.stock == StockState::Released {
                    r.effects
                        .push(effect(step, EffectKind::ReleaseStock { shipments: None }));
                }
                r.effects.extend(
                    cancelled_bookings(after, |_| true)
                        .map(|bookings| effect(step, EffectKind::CancelBookings { bookings })),
                );
                r.effects.push(effect(
                    step,
                    EffectKind::Notify {
                        kind: NotificationKind::Cancelled,
                    },
                ));
                r.clear_timers.extend(payment_timer.clone());
            }
            Change::ReturnApproved { .. } => r.effects.push(effect(
                step,
                EffectKind::Notify {
                    kind: NotificationKind::ReturnApproved,
                },
            )),
            Change::ReturnReceived { warehouse, lines } => r.effects.push(effect(
                step,
                EffectKind::Restock {
                    warehouse: warehouse.clone(),
                    lines: lines.clone(),
                },
            )),
            Change::ShipmentsCancelled { shipments, .. } => {
                r.effects.push(effect(
                    step,
                    EffectKind::ReleaseStock {
                        shipments: Some(shipments.clone()),
                    },
                ));
                r.effects.extend(
                    cancelled_bookings(after, |id| shipments.contains(&id))
                        .map(|bookings| effect(step, EffectKind::CancelBookings { bookings })),
                );
                r.effects.push(effect(
                    step,
                    EffectKind::Notify {
                        kind: NotificationKind::Cancelled,
                    },
                ));
            }
            Change::RefundIssued { .. } => r.effects.push(effect(
                step,
                EffectKind::Notify {
                    kind: NotificationKind::Refunded,
                },
            )),
            _ => {}
        }
    }
    r
}

/// The instruction to a shipment's carrier (`None`: it has no booking to name it by).
fn instruct(after: &Order, shipment: u32, instruction: &ExceptionAnswer) -> Option<EffectKind> {
    let b = after.shipment(shipment)?.booking.as_ref()?;
    Some(EffectKind::InstructCarrier {
        shipment,
        carrier: b.carrier.clone(),
        tracking_number: b.tracking_number.clone(),
        instruction: instruction.clone(),
    })
}

/// The bookings of `after`'s cancelled shipments that `which` picks; `None` when there are none.
fn cancelled_bookings(after: &Order, which: impl Fn(u32) -> bool) -> Option<Vec<BookedShipment>> {
    let bookings: Vec<BookedShipment> = after
        .shipments
        .iter()
        .filter(|s| s.status == ShipmentStatus::Cancelled && which(s.id))
        .filter_map(|s| {
            let b = s.booking.as_ref()?;
            Some(BookedShipment {
                shipment: s.id,
                carrier: b.carrier.clone(),
                tracking_number: b.tracking_number.clone(),
            })
        })
        .collect();
    (!bookings.is_empty()).then_some(bookings)
}

#[cfg(test)]
mod kind_tests {
    use super::NotificationKind;

    /// `ALL` holds every kind: a new variant breaks this match until it is listed (and the
    /// message templates' check then wants its templates).
    #[test]
    fn all_holds_every_notification_kind() {
        for kind in NotificationKind::ALL {
            let index = match kind {
                NotificationKind::Confirmed => 0,
                NotificationKind::Backordered => 1,
                NotificationKind::Shipped => 2,
                NotificationKind::OutForDelivery => 3,
                NotificationKind::Delivered => 4,
                NotificationKind::Cancelled => 5,
                NotificationKind::ReturnApproved => 6,
                NotificationKind::Refunded => 7,
                NotificationKind::Delayed => 8,
                NotificationKind::DeliveryFailed => 9,
                NotificationKind::ReturningToOrigin => 10,
                NotificationKind::PickPackLate => 11,
            };
            assert_eq!(NotificationKind::ALL[index], kind);
        }
        assert_eq!(NotificationKind::ALL.len(), 12);
    }
}
