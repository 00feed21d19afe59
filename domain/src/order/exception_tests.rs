//! Failed deliveries, return parcels and pick-and-pack deadlines, through `decide`, `evolve`
//! and `reactions` together: one `check` per case, each a story of commands and what it leads
//! to.

use super::*;
use crate::audience::Audience;
use crate::fixtures;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
}

const TOTAL: i64 = 1250;

fn lq(sku: &str, quantity: u32) -> LineQty {
    LineQty {
        sku: sku.into(),
        quantity,
    }
}

fn step(o: Option<Order>, c: Command, now: DateTime<Utc>) -> (Order, Vec<Event>, Reactions) {
    let events = decide(o.as_ref(), &c, &Cause::Admin, now)
        .unwrap_or_else(|e| panic!("{} refused: {e}", c.name()));
    let after = fold(o.clone(), &events).expect("folds");
    let r = reactions(o.as_ref(), &after, &events);
    (after, events, r)
}

fn go(o: Order, cmds: Vec<Command>, now: DateTime<Utc>) -> Order {
    cmds.into_iter().fold(o, |o, c| step(Some(o), c, now).0)
}

/// A shipped order (one shipment, booked as `TN-1` with carrier `c1`), paid by `method`.
fn shipped(method: PaymentMethod) -> Order {
    let placed = step(
        None,
        Command::Place {
            id: OrderId::from_u128(7),
            tracking_token: "t".repeat(40),
            order: fixtures::new_order(
                &[("a", 2, 500), ("b", 1, 250)],
                method,
                InitialPaymentStatus::Pending,
            ),
            payment_timeout_secs: 86_400,
        },
        t0(),
    )
    .0;
    let mut cmds = vec![Command::StockAllocated {
        shipments: vec![Allocation {
            shipment: 1,
            warehouse: "w".into(),
            lines: vec![lq("a", 2), lq("b", 1)],
            plan: None,
        }],
        reason: "test".into(),
    }];
    if method == PaymentMethod::Card {
        cmds.push(Command::RecordPayment {
            status: PaymentUpdate::Captured,
            amount: TOTAL,
            reference: "cap".into(),
        });
    }
    cmds.extend([
        Command::AcknowledgePicks {
            shipment: ShipmentRef::Id(1),
            lines: vec![lq("a", 2), lq("b", 1)],
        },
        Command::Pack {
            shipment: ShipmentRef::Id(1),
            parcels: vec![Parcel { weight_grams: 500 }],
        },
        Command::RecordBooking {
            shipment: Some(1),
            booking: Booking {
                carrier: "c1".into(),
                carrier_name: "C1".into(),
                service: "std".into(),
                tracking_number: "TN-1".into(),
                estimated_delivery: t0().date_naive(),
                price: None,
                rule: None,
                promise: None,
                label_url: None,
            },
        },
        Command::Handover { shipment: Some(1) },
    ]);
    let o = go(placed, cmds, t0());
    assert_eq!(o.status, Status::Shipped);
    o
}

fn scan(tn: &str, id: &str, kind: CarrierEventKind, reason: Option<FailureReason>) -> Command {
    Command::CarrierEvent {
        carrier: "c1".into(),
        tracking_number: tn.into(),
        event_id: id.into(),
        kind,
        occurred_at: t0(),
        location: None,
        estimated_delivery: None,
        code: None,
        description: None,
        reason,
        exceptions: ExceptionPolicy {
            answer_within_secs: 3600,
            max_attempts: 3,
        },
    }
}

fn failed(id: &str) -> Command {
    scan(
        "TN-1",
        id,
        CarrierEventKind::FailedAttempt,
        Some(FailureReason::CustomerNotAvailable),
    )
}

fn answer(a: ExceptionAnswer) -> Command {
    Command::AnswerException {
        shipment: 1,
        answer: a,
    }
}

fn reattempt(date: Option<NaiveDate>) -> ExceptionAnswer {
    ExceptionAnswer::Reattempt {
        date,
        notes: Some("leave it with the neighbour".into()),
    }
}

fn names(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.change.name()).collect()
}

#[test]
fn a_failed_attempt_opens_an_exception_notifies_and_arms_its_timer() {
    let (o, events, r) = step(Some(shipped(PaymentMethod::Card)), failed("f1"), t0());
    assert_eq!(names(&events), ["carrier_scanned", "delivery_failed"]);
    let x = o.shipments[0].open_exception().expect("open");
    assert_eq!(x.reason, FailureReason::CustomerNotAvailable);
    assert_eq!(x.attempt, 1);
    assert_eq!(x.answer_by, t0() + Duration::hours(1));
    assert_eq!(o.shipments[0].attempts, 1);
    assert!(r.effects.iter().any(|e| e.kind
        == EffectKind::Notify {
            kind: NotificationKind::DeliveryFailed
        }));
    assert_eq!(r.set_timers.len(), 1);
    assert_eq!(r.set_timers[0].kind, TimerKind::ExceptionDue);
    assert_eq!(r.set_timers[0].due, t0() + Duration::hours(1));
    // The same event again changes nothing.
    let (_, again, _) = step(Some(o), failed("f1"), t0());
    assert!(again.is_empty());
}

#[test]
fn a_reattempt_goes_to_the_carrier_and_a_delivery_then_closes_it() {
    let o = go(shipped(PaymentMethod::Card), vec![failed("f1")], t0());
    let today = t0().date_naive();
    let (o, events, r) = step(Some(o), answer(reattempt(Some(today))), t0());
    assert_eq!(names(&events), ["exception_answered"]);
    assert!(o.shipments[0].open_exception().is_none());
    assert_eq!(
        r.effects[0].kind,
        EffectKind::InstructCarrier {
            shipment: 1,
            carrier: "c1".into(),
            tracking_number: "TN-1".into(),
            instruction: reattempt(Some(today)),
        }
    );
    // Answered: the timer finds nothing to do; a second answer is refused.
    let (_, none, _) = step(
        Some(o.clone()),
        Command::CheckExceptions,
        t0() + Duration::days(1),
    );
    assert!(none.is_empty());
    let again = decide(Some(&o), &answer(reattempt(None)), &Cause::Storefront, t0());
    assert!(matches!(
        again,
        Err(DomainError::Rejected {
            code: "no_open_exception",
            ..
        })
    ));
    let o = go(
        o,
        vec![scan("TN-1", "d", CarrierEventKind::Delivered, None)],
        t0(),
    );
    assert_eq!(o.status, Status::Delivered);
}

#[test]
fn bad_answers_are_refused_and_store_nothing() {
    let o = go(shipped(PaymentMethod::Card), vec![failed("f1")], t0());
    let yesterday = t0().date_naive() - Duration::days(1);
    let far = t0().date_naive() + Duration::days(31);
    for (cmd, field) in [
        (answer(reattempt(Some(yesterday))), "date"),
        (answer(reattempt(Some(far))), "date"),
        (
            answer(ExceptionAnswer::Reattempt {
                date: None,
                notes: Some("x".repeat(201)),
            }),
            "notes",
        ),
    ] {
        match decide(Some(&o), &cmd, &Cause::Customer, t0()) {
            Err(DomainError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
    let no_such = Command::AnswerException {
        shipment: 9,
        answer: ExceptionAnswer::ReturnToOrigin,
    };
    assert_eq!(
        decide(Some(&o), &no_such, &Cause::Customer, t0()),
        Err(DomainError::UnknownShipment(9))
    );
    // Without a failed delivery there is nothing to answer.
    let calm = shipped(PaymentMethod::Card);
    assert!(matches!(
        decide(
            Some(&calm),
            &answer(ExceptionAnswer::ReturnToOrigin),
            &Cause::Customer,
            t0()
        ),
        Err(DomainError::Rejected {
            code: "no_open_exception",
            ..
        })
    ));
}

#[test]
fn unanswered_the_parcel_goes_back_and_its_return_restocks_refunds_and_closes_the_order() {
    let o = go(shipped(PaymentMethod::Card), vec![failed("f1")], t0());
    // Before the deadline the timer does nothing.
    let (_, early, _) = step(
        Some(o.clone()),
        Command::CheckExceptions,
        t0() + Duration::minutes(59),
    );
    assert!(early.is_empty());
    let (o, events, r) = step(Some(o), Command::CheckExceptions, t0() + Duration::hours(1));
    assert_eq!(names(&events), ["returning_to_origin"]);
    assert_eq!(o.shipments[0].status, ShipmentStatus::Returning);
    assert_eq!(o.status, Status::Shipped);
    assert!(r.effects.iter().any(|e| matches!(
        &e.kind,
        EffectKind::InstructCarrier {
            instruction: ExceptionAnswer::ReturnToOrigin,
            ..
        }
    )));
    // The carrier brings it back.
    let (o, events, r) = step(
        Some(o),
        scan("TN-1", "back", CarrierEventKind::ReturnedToSender, None),
        t0() + Duration::days(3),
    );
    assert_eq!(
        names(&events),
        ["carrier_scanned", "returned_to_origin", "refund_issued"]
    );
    assert_eq!(o.status, Status::Returned);
    assert_eq!(o.shipments[0].status, ShipmentStatus::Returned);
    assert_eq!(o.refunded.map(|m| m.amount), Some(TOTAL));
    let back = o.shipments[0].return_to_origin.as_ref().unwrap();
    assert!(back.reason.starts_with("no answer"));
    assert!(back.received_at.is_some());
    assert!(r.effects.iter().any(|e| e.kind
        == EffectKind::Restock {
            warehouse: "w".into(),
            lines: vec![lq("a", 2), lq("b", 1)],
        }));
    // A late scan changes nothing on the closed order.
    let (_, late, _) = step(Some(o), failed("f-late"), t0() + Duration::days(4));
    assert!(late.is_empty());
}

#[test]
fn an_unpaid_cash_on_delivery_order_goes_back_without_a_refund() {
    let o = go(
        shipped(PaymentMethod::Cod),
        vec![failed("f1"), answer(ExceptionAnswer::ReturnToOrigin)],
        t0(),
    );
    assert_eq!(o.shipments[0].status, ShipmentStatus::Returning);
    let (o, events, _) = step(
        Some(o),
        scan("TN-1", "home", CarrierEventKind::Delivered, None),
        t0(),
    );
    // Delivered while returning: delivered back to the warehouse.
    assert_eq!(names(&events), ["carrier_scanned", "returned_to_origin"]);
    assert_eq!(o.status, Status::Returned);
    assert_eq!(o.refunded, None);
}

#[test]
fn the_last_allowed_attempt_sends_the_parcel_back_at_once() {
    let o = go(
        shipped(PaymentMethod::Card),
        vec![
            failed("f1"),
            answer(reattempt(None)),
            failed("f2"),
            answer(reattempt(None)),
        ],
        t0(),
    );
    let (o, events, r) = step(Some(o), failed("f3"), t0());
    assert_eq!(
        names(&events),
        ["carrier_scanned", "delivery_failed", "returning_to_origin"]
    );
    assert_eq!(o.shipments[0].attempts, 3);
    assert_eq!(o.shipments[0].status, ShipmentStatus::Returning);
    assert!(
        r.set_timers.is_empty(),
        "no answer is awaited for a parcel already going back"
    );
    assert!(o.shipments[0]
        .return_to_origin
        .as_ref()
        .unwrap()
        .reason
        .contains("3 failed"));
}

#[test]
fn return_parcels_are_tracked_under_their_own_number_until_received() {
    let o = go(
        shipped(PaymentMethod::Card),
        vec![scan("TN-1", "d", CarrierEventKind::Delivered, None)],
        t0(),
    );
    let (o, _, _) = step(
        Some(o),
        Command::RequestReturn {
            lines: vec![lq("a", 1)],
            reason: "too small".into(),
            window_days: 30,
        },
        t0(),
    );
    let tn = o.return_case.as_ref().unwrap().tracking_number.clone();
    let (o, events, _) = step(
        Some(o),
        scan(&tn, "r1", CarrierEventKind::InTransit, None),
        t0(),
    );
    assert_eq!(names(&events), ["return_scanned"]);
    let parcel = o.return_case.as_ref().unwrap().parcel.clone().unwrap();
    assert_eq!(parcel.status, ReturnParcelStatus::InTransit);
    assert_eq!(
        o.status,
        Status::Delivered,
        "the outbound shipment is untouched"
    );
    let o = go(
        o,
        vec![
            scan(&tn, "r2", CarrierEventKind::Delivered, None),
            // An older scan arriving late does not move it back.
            scan(&tn, "r0", CarrierEventKind::InTransit, None),
        ],
        t0(),
    );
    let parcel = o.return_case.as_ref().unwrap().parcel.clone().unwrap();
    assert_eq!(parcel.status, ReturnParcelStatus::Delivered);
    let o = go(
        o,
        vec![Command::ReceiveReturn {
            warehouse: "w".into(),
            lines: vec![lq("a", 1)],
        }],
        t0(),
    );
    assert_eq!(o.status, Status::Returned);
    let (_, after, _) = step(
        Some(o),
        scan(&tn, "r3", CarrierEventKind::InTransit, None),
        t0(),
    );
    assert!(after.is_empty(), "closed: later scans change nothing");
}

#[test]
fn a_missed_pick_pack_deadline_is_recorded_once_for_operations() {
    let placed = step(
        None,
        Command::Place {
            id: OrderId::from_u128(8),
            tracking_token: "t".repeat(40),
            order: fixtures::new_order(
                &[("a", 1, 500)],
                PaymentMethod::Cod,
                InitialPaymentStatus::Pending,
            ),
            payment_timeout_secs: 86_400,
        },
        t0(),
    )
    .0;
    let o = go(
        placed,
        vec![Command::StockAllocated {
            shipments: vec![Allocation {
                shipment: 1,
                warehouse: "w".into(),
                lines: vec![lq("a", 1)],
                plan: None,
            }],
            reason: "test".into(),
        }],
        t0(),
    );
    assert_eq!(o.status, Status::Confirmed);
    let late = || Command::CheckDeadlines {
        late: vec![LateShipment {
            shipment: 1,
            due: t0() + Duration::hours(4),
        }],
    };
    let (o, events, r) = step(Some(o), late(), t0() + Duration::hours(4));
    assert_eq!(names(&events), ["pick_pack_late"]);
    assert!(o.shipments[0].pick_pack_late);
    assert_eq!(
        r.effects[0].kind,
        EffectKind::Notify {
            kind: NotificationKind::PickPackLate
        }
    );
    assert_eq!(
        NotificationKind::PickPackLate.audience(),
        Audience::Operations
    );
    let (_, again, _) = step(Some(o), late(), t0() + Duration::hours(5));
    assert!(again.is_empty(), "once");
}
