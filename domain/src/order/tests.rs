//! The order machine: every state × every command, and random command sequences.

use super::*;
use crate::fixtures;
use crate::inventory::{Ledger, ReservationState, ReserveOutcome};
use crate::shipping::{self, CarrierSpec};
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
}

fn new_order() -> NewOrder {
    fixtures::new_order(
        &[("a", 2, 500), ("b", 1, 250)],
        PaymentMethod::Card,
        InitialPaymentStatus::Pending,
    )
}

const TOTAL: i64 = 1250;

fn place() -> Command {
    Command::Place {
        id: OrderId::from_u128(1),
        tracking_token: "t".repeat(40),
        order: new_order(),
        payment_timeout_secs: 86_400,
    }
}

fn run(state: Option<Order>, cmds: &[Command], now: DateTime<Utc>) -> Order {
    let mut s = state;
    for c in cmds {
        let events = decide(s.as_ref(), c, &Cause::Admin, now)
            .unwrap_or_else(|e| panic!("{} refused: {e}", c.name()));
        s = fold(s, &events);
    }
    s.unwrap()
}

fn pay(status: PaymentUpdate, reference: &str) -> Command {
    Command::RecordPayment {
        status,
        amount: TOTAL,
        reference: reference.into(),
    }
}

fn booking() -> Booking {
    Booking {
        carrier: "c1".into(),
        carrier_name: "C1".into(),
        service: "std".into(),
        tracking_number: "C1-1".into(),
        estimated_delivery: t0().date_naive(),
    }
}

fn scan(id: &str, kind: CarrierEventKind) -> Command {
    Command::CarrierEvent {
        carrier: "c1".into(),
        event_id: id.into(),
        kind,
        occurred_at: t0(),
        location: None,
    }
}

/// An order in each status, built only through `decide`.
fn order_in(status: Status) -> Order {
    let placed = run(None, &[place()], t0());
    let wh = || "w".to_string();
    let picks = |a, b| Command::AcknowledgePicks {
        warehouse: wh(),
        lines: [("a", a), ("b", b)]
            .into_iter()
            .filter(|(_, q)| *q > 0)
            .map(|(s, q)| LineQty {
                sku: s.into(),
                quantity: q,
            })
            .collect(),
    };
    let confirmed = || {
        run(
            Some(placed.clone()),
            &[
                Command::StockReserved { warehouse: wh() },
                pay(PaymentUpdate::Authorized, "auth-1"),
                picks(1, 0),
            ],
            t0(),
        )
    };
    let packed = || {
        run(
            Some(confirmed()),
            &[
                picks(1, 1),
                Command::Pack {
                    warehouse: wh(),
                    parcels: vec![Parcel { weight_grams: 100 }],
                },
                Command::RecordBooking { booking: booking() },
            ],
            t0(),
        )
    };
    let delivered = || {
        run(
            Some(packed()),
            &[Command::Handover, scan("d", CarrierEventKind::Delivered)],
            t0(),
        )
    };
    let o = match status {
        Status::Placed => placed.clone(),
        Status::Confirmed => confirmed(),
        Status::Packed => packed(),
        Status::Shipped => run(Some(packed()), &[Command::Handover], t0()),
        Status::Delivered => delivered(),
        Status::Cancelled => run(
            Some(placed.clone()),
            &[Command::Cancel {
                reason: "changed mind".into(),
            }],
            t0(),
        ),
        Status::Returned => run(
            Some(delivered()),
            &[
                Command::RequestReturn {
                    lines: vec![LineQty {
                        sku: "a".into(),
                        quantity: 1,
                    }],
                    reason: "r".into(),
                    window_days: 30,
                },
                Command::ReceiveReturn {
                    warehouse: wh(),
                    lines: vec![LineQty {
                        sku: "a".into(),
                        quantity: 1,
                    }],
                },
            ],
            t0(),
        ),
    };
    assert_eq!(o.status, status);
    o
}

/// One valid-looking instance of every command, in the order of the matrix columns.
fn every_command() -> Vec<Command> {
    vec![
        place(),
        Command::StockReserved {
            warehouse: "w".into(),
        },
        Command::StockUnavailable {
            shortages: vec![Shortage {
                sku: "a".into(),
                requested: 2,
                available: 0,
            }],
        },
        pay(PaymentUpdate::Captured, "cap-1"),
        Command::Cancel { reason: "r".into() },
        Command::PaymentTimeout,
        Command::AcknowledgePicks {
            warehouse: "w".into(),
            lines: vec![LineQty {
                sku: "a".into(),
                quantity: 1,
            }],
        },
        Command::Pack {
            warehouse: "w".into(),
            parcels: vec![Parcel { weight_grams: 10 }],
        },
        Command::RecordBooking { booking: booking() },
        Command::Handover,
        scan("new", CarrierEventKind::InTransit),
        Command::RequestReturn {
            lines: vec![LineQty {
                sku: "b".into(),
                quantity: 1,
            }],
            reason: "r".into(),
            window_days: 30,
        },
        Command::ReceiveReturn {
            warehouse: "w".into(),
            lines: vec![LineQty {
                sku: "b".into(),
                quantity: 1,
            }],
        },
    ]
}

/// E: records events, N: accepted but changes nothing (a redelivery), R: refused.
/// Columns follow `every_command`.
const MATRIX: [(Status, &str); 7] = [
    (Status::Placed, "REEEEERRNRRRR"),
    (Status::Confirmed, "RNNEENERNRRRR"),
    (Status::Packed, "RNNEENRRNEERR"),
    (Status::Shipped, "RNNERNRRNRERR"),
    (Status::Delivered, "RNNERNRRNREER"),
    (Status::Cancelled, "RNNRRNRRNRRRR"),
    (Status::Returned, "RNNRRNRRNRNRR"),
];

#[test]
fn every_state_times_every_command() {
    // Two days later: the payment deadline has passed, the return window is open.
    let now = t0() + Duration::days(2);
    for (status, row) in MATRIX {
        let order = order_in(status);
        for (cmd, expected) in every_command().iter().zip(row.chars()) {
            let got = match decide(Some(&order), cmd, &Cause::Admin, now) {
                Ok(ev) if ev.is_empty() => 'N',
                Ok(_) => 'E',
                Err(DomainError::Rejected { status: s, .. }) => {
                    assert_eq!(s, status, "a refusal names the current status");
                    'R'
                }
                Err(DomainError::Invalid { .. }) | Err(DomainError::NotFound) => 'R',
            };
            assert_eq!(
                got,
                expected,
                "{} on a {} order",
                cmd.name(),
                status.as_str()
            );
            if let Ok(events) = decide(Some(&order), cmd, &Cause::Admin, now) {
                let after = fold(Some(order.clone()), &events).unwrap();
                check_step(&order, &after, &events);
            }
        }
        // Nothing but Place works on an order that does not exist.
        for cmd in every_command().iter().skip(1) {
            assert_eq!(
                decide(None, cmd, &Cause::Admin, now),
                Err(DomainError::NotFound)
            );
        }
    }
}

/// Invariants of a single step.
fn check_step(before: &Order, after: &Order, events: &[Event]) {
    assert_eq!(after.version, before.version + events.len() as u32);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, before.version + 1 + i as u32);
    }
    if before.status.is_terminal() {
        assert_eq!(after.status, before.status, "terminal states stay terminal");
    }
    if after.status == Status::Cancelled {
        assert!(matches!(
            before.status,
            Status::Placed | Status::Confirmed | Status::Packed | Status::Cancelled
        ));
    } else {
        assert!(
            after.status.rank() >= before.status.rank(),
            "no backwards move: {:?} -> {:?}",
            before.status,
            after.status
        );
    }
    assert!(after.lines.iter().all(|l| l.picked <= l.quantity));
}

#[test]
fn confirms_by_itself_when_stock_and_payment_are_in_either_order() {
    let placed = run(None, &[place()], t0());
    let a = run(
        Some(placed.clone()),
        &[Command::StockReserved {
            warehouse: "w".into(),
        }],
        t0(),
    );
    assert_eq!(a.status, Status::Placed);
    let a = run(Some(a), &[pay(PaymentUpdate::Authorized, "p")], t0());
    assert_eq!(a.status, Status::Confirmed);
    let b = run(
        Some(placed),
        &[
            pay(PaymentUpdate::Captured, "p"),
            Command::StockReserved {
                warehouse: "w".into(),
            },
        ],
        t0(),
    );
    assert_eq!(b.status, Status::Confirmed);
    // Cash on delivery needs stock only.
    let mut cod = place();
    if let Command::Place { order, .. } = &mut cod {
        order.payment.method = PaymentMethod::Cod;
    }
    let c = run(
        None,
        &[
            cod,
            Command::StockReserved {
                warehouse: "w".into(),
            },
        ],
        t0(),
    );
    assert_eq!(c.status, Status::Confirmed);
    assert_eq!(c.payment_due_at, None);
}

#[test]
fn payment_amount_must_match_and_failed_cannot_undo_a_capture() {
    let o = run(None, &[place()], t0());
    let wrong = Command::RecordPayment {
        status: PaymentUpdate::Captured,
        amount: TOTAL - 1,
        reference: "p".into(),
    };
    assert!(matches!(
        decide(Some(&o), &wrong, &Cause::Storefront, t0()),
        Err(DomainError::Invalid { .. })
    ));
    let o = run(Some(o), &[pay(PaymentUpdate::Captured, "p")], t0());
    let failed = Command::RecordPayment {
        status: PaymentUpdate::Failed,
        amount: 0,
        reference: "p".into(),
    };
    assert!(matches!(
        decide(Some(&o), &failed, &Cause::Storefront, t0()),
        Err(DomainError::Rejected {
            code: "payment_already_secured",
            ..
        })
    ));
}

#[test]
fn payment_timeout_only_cancels_unpaid_orders_after_the_deadline() {
    let o = run(None, &[place()], t0());
    assert!(decide(
        Some(&o),
        &Command::PaymentTimeout,
        &Cause::PaymentTimer,
        t0() + Duration::hours(23)
    )
    .unwrap()
    .is_empty());
    let ev = decide(
        Some(&o),
        &Command::PaymentTimeout,
        &Cause::PaymentTimer,
        t0() + Duration::hours(24),
    )
    .unwrap();
    assert!(matches!(ev[0].change, Change::Cancelled { .. }));
    let paid = run(Some(o), &[pay(PaymentUpdate::Authorized, "p")], t0());
    assert!(decide(
        Some(&paid),
        &Command::PaymentTimeout,
        &Cause::PaymentTimer,
        t0() + Duration::days(3)
    )
    .unwrap()
    .is_empty());
}

#[test]
fn returns_close_after_the_window() {
    let o = order_in(Status::Delivered);
    let ret = Command::RequestReturn {
        lines: vec![LineQty {
            sku: "a".into(),
            quantity: 1,
        }],
        reason: "r".into(),
        window_days: 30,
    };
    let err = decide(
        Some(&o),
        &ret,
        &Cause::Storefront,
        t0() + Duration::days(31),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            DomainError::Rejected {
                code: "return_window_closed",
                status: Status::Delivered,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn cancelling_a_captured_order_refunds_it_and_releases_stock() {
    let o = run(
        None,
        &[
            place(),
            pay(PaymentUpdate::Captured, "p"),
            Command::StockReserved {
                warehouse: "w".into(),
            },
        ],
        t0(),
    );
    let events = decide(
        Some(&o),
        &Command::Cancel { reason: "r".into() },
        &Cause::Storefront,
        t0(),
    )
    .unwrap();
    let after = fold(Some(o), &events).unwrap();
    assert_eq!(after.refunded.map(|m| m.amount), Some(TOTAL));
    let r = reactions(&after, &events);
    let names: Vec<&str> = r.effects.iter().map(|e| e.kind.name()).collect();
    assert_eq!(names, vec!["release_stock", "cancelled", "refunded"]);
}

#[test]
fn out_of_order_carrier_events_do_not_move_backwards() {
    let o = order_in(Status::Delivered);
    let late = Command::CarrierEvent {
        carrier: "c1".into(),
        event_id: "late".into(),
        kind: CarrierEventKind::InTransit,
        occurred_at: t0() - Duration::hours(5),
        location: None,
    };
    let after = run(Some(o), &[late], t0());
    assert_eq!(after.status, Status::Delivered);
    assert_eq!(
        after.shipments[0].last_scan,
        Some(CarrierEventKind::Delivered)
    );
}

#[test]
fn validation_names_the_field() {
    let mut bad = new_order();
    bad.lines[0].quantity = 0;
    let err = bad.validate().unwrap_err();
    assert_eq!(
        err,
        DomainError::Invalid {
            field: "lines[0].quantity".into(),
            message: "must be between 1 and 10000".into()
        }
    );
    let mut bad = new_order();
    bad.shipping.address.country = "nl".into();
    assert!(
        matches!(bad.validate(), Err(DomainError::Invalid { field, .. }) if field == "shipping.address.country")
    );
    let mut bad = new_order();
    bad.lines[1].sku = "a".into();
    assert!(bad.validate().is_err());
}

// ---- property test: random command sequences with the effects played out ----------------

fn carriers() -> Vec<CarrierSpec> {
    vec![fixtures::carrier("c1", "C1", "C", 100_000)]
}

fn arb_command() -> impl Strategy<Value = Command> {
    let sku = prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("zz".to_string())
    ];
    let lq = (sku, 0..4u32).prop_map(|(sku, quantity)| vec![LineQty { sku, quantity }]);
    let wh = prop_oneof![Just("w".to_string()), Just("x".to_string())];
    let kind = prop_oneof![
        Just(CarrierEventKind::InTransit),
        Just(CarrierEventKind::OutForDelivery),
        Just(CarrierEventKind::Delivered),
        Just(CarrierEventKind::FailedAttempt),
    ];
    prop_oneof![
        (
            prop_oneof![
                Just(PaymentUpdate::Authorized),
                Just(PaymentUpdate::Captured),
                Just(PaymentUpdate::Failed)
            ],
            prop_oneof![Just(TOTAL), Just(1)]
        )
            .prop_map(|(status, amount)| Command::RecordPayment {
                status,
                amount,
                reference: "p".into()
            }),
        Just(Command::Cancel { reason: "r".into() }),
        Just(Command::PaymentTimeout),
        (wh.clone(), lq.clone())
            .prop_map(|(warehouse, lines)| Command::AcknowledgePicks { warehouse, lines }),
        (wh.clone(), 0..3u32).prop_map(|(warehouse, g)| Command::Pack {
            warehouse,
            parcels: vec![Parcel {
                weight_grams: g * 500
            }]
        }),
        Just(Command::Handover),
        (0..6u8, kind).prop_map(|(i, k)| scan(&format!("e{i}"), k)),
        lq.clone().prop_map(|lines| Command::RequestReturn {
            lines,
            reason: "r".into(),
            window_days: 30
        }),
        (wh, lq).prop_map(|(warehouse, lines)| Command::ReceiveReturn { warehouse, lines }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Whatever clients send and in whatever order, with every inter-actor message played out
    /// (and some delivered twice): no backwards move, terminal stays terminal, the snapshot is
    /// the fold of the history, and the stock reserved equals the open reservations.
    #[test]
    fn random_sequences_keep_the_invariants(cmds in prop::collection::vec((arb_command(), any::<bool>()), 1..40), stock_a in 0..4i64) {
        let mut ledger = Ledger::default();
        ledger.set_on_hand("w", "a", stock_a).unwrap();
        ledger.set_on_hand("w", "b", 5).unwrap();
        let id = OrderId::from_u128(1);
        let mut reservation = None;
        let mut history: Vec<Event> = Vec::new();
        let mut order: Option<Order> = None;
        let mut queue: Vec<Command> = vec![place()];
        let mut inputs = cmds.into_iter();
        let now = t0();
        loop {
            let (cmd, redeliver) = match queue.pop() {
                Some(c) => (c, false),
                None => match inputs.next() { Some(x) => x, None => break },
            };
            let before = order.clone();
            let Ok(events) = decide(order.as_ref(), &cmd, &Cause::Admin, now) else { continue };
            let after = fold(order.clone(), &events).unwrap();
            if let Some(b) = &before { check_step(b, &after, &events); }
            history.extend(events.iter().cloned());
            // Play out the effects, as the actors would (twice when `redeliver`).
            for effect in reactions(&after, &events).effects {
                for _ in 0..(1 + redeliver as usize) {
                    match &effect.kind {
                        EffectKind::ReserveStock { lines } => {
                            let (out, ch) = ledger.reserve(reservation.as_ref(), id, lines);
                            if ch.reservation.is_some() { reservation = ch.reservation; }
                            queue.push(match out {
                                ReserveOutcome::Reserved { warehouse } => Command::StockReserved { warehouse },
                                ReserveOutcome::Unavailable { shortages } => Command::StockUnavailable { shortages },
                                ReserveOutcome::Released => continue,
                            });
                        }
                        EffectKind::ReleaseStock => { if let Some(r) = ledger.release(reservation.as_ref(), id).reservation { reservation = Some(r); } }
                        EffectKind::CommitStock => { if let Some(r) = ledger.commit(reservation.as_ref()).reservation { reservation = Some(r); } }
                        EffectKind::Restock { .. } => {}
                        EffectKind::BookShipment { parcels, country, method, .. } => {
                            let b = shipping::book(&carriers(), &[], id, effect.step, country, method.as_deref(), parcels, now).unwrap();
                            queue.push(Command::RecordBooking { booking: b });
                        }
                        EffectKind::Notify { .. } => {}
                    }
                }
            }
            order = Some(after);
        }
        let order = order.unwrap();
        let replayed = fold(None, &history);
        prop_assert_eq!(replayed.as_ref(), Some(&order), "snapshot equals the fold of its history");
        let open = reservation.as_ref().filter(|r| r.state == ReservationState::Open);
        let reserved_a: i64 = open.iter().flat_map(|r| r.lines.iter()).filter(|l| l.sku == "a").map(|l| l.quantity as i64).sum();
        prop_assert_eq!(ledger.level("w", "a").reserved, reserved_a);
        prop_assert!(ledger.level("w", "a").available() >= 0);
        // The order's view of its stock matches the inventory's record.
        match order.stock {
            StockState::Reserved => prop_assert!(open.is_some()),
            StockState::Committed => prop_assert_eq!(reservation.as_ref().map(|r| r.state), Some(ReservationState::Committed)),
            StockState::Released => prop_assert!(open.is_none()),
            StockState::Pending | StockState::Unavailable => prop_assert!(open.is_none()),
        }
    }
}
