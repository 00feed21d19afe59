//! The order machine: every state × every command, and random command sequences.

use super::*;
use crate::fixtures;
use crate::ids::{Sku, WarehouseId};
use crate::inventory::{AllocationRequest, Ledger, ReservationState, ReserveOutcome};
use crate::shipping::{self, CarrierSpec};
use crate::warehouse::AllocationStrategy;
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

/// The inventory's answer: every line of `new_order()` from warehouse `w`, one shipment.
fn reserved(w: &str) -> Command {
    Command::StockAllocated {
        shipments: vec![Allocation {
            shipment: 1,
            warehouse: w.into(),
            lines: vec![lq("a", 2), lq("b", 1)],
            plan: None,
        }],
        reason: "test".into(),
    }
}

fn lq(sku: &str, quantity: u32) -> LineQty {
    LineQty {
        sku: sku.into(),
        quantity,
    }
}

fn at(w: &str) -> ShipmentRef {
    ShipmentRef::At(w.into())
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
        price: None,
        rule: None,
        promise: None,
        label_url: None,
    }
}

fn scan(id: &str, kind: CarrierEventKind) -> Command {
    scan_of("C1-1", id, kind)
}

fn scan_of(tracking_number: &str, id: &str, kind: CarrierEventKind) -> Command {
    Command::CarrierEvent {
        carrier: "c1".into(),
        tracking_number: tracking_number.into(),
        event_id: id.into(),
        kind,
        occurred_at: t0(),
        location: None,
        estimated_delivery: None,
        code: None,
        description: None,
        reason: None,
        exceptions: Default::default(),
    }
}

/// An order in each status, built only through `decide`.
fn order_in(status: Status) -> Order {
    let placed = run(None, &[place()], t0());
    let wh = || "w".to_string();
    let picks = |a, b| Command::AcknowledgePicks {
        shipment: at(&wh()),
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
                reserved(&wh()),
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
                    shipment: at(&wh()),
                    parcels: vec![Parcel { weight_grams: 100 }],
                },
                Command::RecordBooking {
                    shipment: None,
                    booking: booking(),
                },
            ],
            t0(),
        )
    };
    let delivered = || {
        run(
            Some(packed()),
            &[
                Command::Handover { shipment: None },
                scan("d", CarrierEventKind::Delivered),
            ],
            t0(),
        )
    };
    let o = match status {
        Status::Placed => placed.clone(),
        Status::Confirmed => confirmed(),
        Status::Packed => packed(),
        Status::Shipped => run(
            Some(packed()),
            &[Command::Handover { shipment: None }],
            t0(),
        ),
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
                    warehouse: wh().into(),
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
        reserved("w"),
        Command::StockUnavailable {
            shortages: vec![Shortage {
                sku: "a".into(),
                requested: 2,
                available: 0,
            }],
            reason: "out of stock: a".into(),
        },
        pay(PaymentUpdate::Captured, "cap-1"),
        Command::Cancel { reason: "r".into() },
        Command::PaymentTimeout,
        Command::AcknowledgePicks {
            shipment: at("w"),
            lines: vec![LineQty {
                sku: "a".into(),
                quantity: 1,
            }],
        },
        Command::Pack {
            shipment: at("w"),
            parcels: vec![Parcel { weight_grams: 10 }],
        },
        Command::RecordBooking {
            shipment: None,
            booking: booking(),
        },
        Command::Handover { shipment: None },
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
        scan("failed", CarrierEventKind::FailedAttempt),
        Command::AnswerException {
            shipment: 1,
            answer: ExceptionAnswer::Reattempt {
                date: None,
                notes: None,
            },
        },
        Command::CheckExceptions,
        Command::CheckDeadlines {
            late: vec![LateShipment {
                shipment: 1,
                due: t0(),
            }],
        },
    ]
}

/// E: records events, N: accepted but changes nothing (a redelivery), R: refused.
/// Columns follow `every_command`.
const MATRIX: [(Status, &str); 7] = [
    (Status::Placed, "REEEEERRNRRRRRRNN"),
    (Status::Confirmed, "RNNEENERNRRRRRRNE"),
    (Status::Packed, "RNNEENRRNEERRERNN"),
    (Status::Shipped, "RNNERNRRNRERRERNN"),
    (Status::Delivered, "RNNERNRRNREERERNN"),
    (Status::Cancelled, "RNNRRNRRNRRRRRRNN"),
    (Status::Returned, "RNNRRNRRNRNRRNRNN"),
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
                Err(DomainError::Invalid { .. })
                | Err(DomainError::NotFound)
                | Err(DomainError::UnknownShipment(_)) => 'R',
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
    for sh in &after.shipments {
        assert!(sh.lines.iter().all(|l| l.picked <= l.quantity));
    }
    // The order follows its shipments once confirmed.
    if let Some(from_shipments) = after.status_from_shipments() {
        assert_eq!(after.status, from_shipments, "{after:?}");
    }
}

#[test]
fn confirms_by_itself_when_stock_and_payment_are_in_either_order() {
    let placed = run(None, &[place()], t0());
    let a = run(Some(placed.clone()), &[reserved("w")], t0());
    assert_eq!(a.status, Status::Placed);
    let a = run(Some(a), &[pay(PaymentUpdate::Authorized, "p")], t0());
    assert_eq!(a.status, Status::Confirmed);
    let b = run(
        Some(placed),
        &[pay(PaymentUpdate::Captured, "p"), reserved("w")],
        t0(),
    );
    assert_eq!(b.status, Status::Confirmed);
    // Cash on delivery needs stock only.
    let mut cod = place();
    if let Command::Place { order, .. } = &mut cod {
        order.payment.method = PaymentMethod::Cod;
    }
    let c = run(None, &[cod, reserved("w")], t0());
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
        &[place(), pay(PaymentUpdate::Captured, "p"), reserved("w")],
        t0(),
    );
    let events = decide(
        Some(&o),
        &Command::Cancel { reason: "r".into() },
        &Cause::Storefront,
        t0(),
    )
    .unwrap();
    let after = fold(Some(o.clone()), &events).unwrap();
    assert_eq!(after.refunded.map(|m| m.amount), Some(TOTAL));
    let r = reactions(Some(&o), &after, &events);
    let names: Vec<&str> = r.effects.iter().map(|e| e.kind.name()).collect();
    assert_eq!(names, vec!["release_stock", "cancelled", "refunded"]);
}

#[test]
fn out_of_order_carrier_events_do_not_move_backwards() {
    let o = order_in(Status::Delivered);
    let late = Command::CarrierEvent {
        carrier: "c1".into(),
        tracking_number: "C1-1".into(),
        event_id: "late".into(),
        kind: CarrierEventKind::InTransit,
        occurred_at: t0() - Duration::hours(5),
        location: None,
        estimated_delivery: None,
        code: None,
        description: None,
        reason: None,
        exceptions: Default::default(),
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

const WAREHOUSES: [&str; 3] = ["w", "x", "y"];

fn arb_command() -> impl Strategy<Value = Command> {
    let sku = prop_oneof![
        Just(Sku::new("a")),
        Just(Sku::new("b")),
        Just(Sku::new("zz"))
    ];
    let lq = (sku, 0..4u32).prop_map(|(sku, quantity)| vec![LineQty { sku, quantity }]);
    let wh = prop_oneof![
        Just(WarehouseId::new("w")),
        Just(WarehouseId::new("x")),
        Just(WarehouseId::new("y"))
    ];
    let target = prop_oneof![
        wh.clone().prop_map(ShipmentRef::At),
        (0..4u32).prop_map(ShipmentRef::Id)
    ];
    let kind = prop_oneof![
        Just(CarrierEventKind::InTransit),
        Just(CarrierEventKind::OutForDelivery),
        Just(CarrierEventKind::Delivered),
        Just(CarrierEventKind::FailedAttempt),
        Just(CarrierEventKind::ReturnedToSender),
    ];
    let answer = prop_oneof![
        Just(ExceptionAnswer::ReturnToOrigin),
        Just(ExceptionAnswer::Reattempt {
            date: None,
            notes: None
        }),
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
        (target.clone(), lq.clone())
            .prop_map(|(shipment, lines)| Command::AcknowledgePicks { shipment, lines }),
        (target, 0..3u32).prop_map(|(shipment, g)| Command::Pack {
            shipment,
            parcels: vec![Parcel {
                weight_grams: g * 500
            }]
        }),
        prop::option::of(0..4u32).prop_map(|shipment| Command::Handover { shipment }),
        (0..6u8, 1..4u8, kind).prop_map(|(i, tn, k)| scan_of(
            &format!("C{tn}"),
            &format!("e{i}"),
            k
        )),
        lq.clone().prop_map(|lines| Command::RequestReturn {
            lines,
            reason: "r".into(),
            window_days: 30
        }),
        (wh, lq).prop_map(|(warehouse, lines)| Command::ReceiveReturn { warehouse, lines }),
        (0..4u32, answer)
            .prop_map(|(shipment, answer)| Command::AnswerException { shipment, answer }),
        Just(Command::CheckExceptions),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Whatever clients send and in whatever order, with every inter-actor message played out
    /// (and some delivered twice), over three warehouses with random stock (so orders are
    /// served whole, split, or not at all): no backwards move, terminal stays terminal, the
    /// order follows its shipments, the snapshot is the fold of the history, never oversold,
    /// and the stock reserved in every cell equals the open parts of the reservation.
    #[test]
    fn random_sequences_keep_the_invariants(
        cmds in prop::collection::vec((arb_command(), any::<bool>()), 1..40),
        stock in prop::collection::vec(0..3i64, 6),
        allow_split in any::<bool>(),
        strategy in prop_oneof![Just(AllocationStrategy::Priority), Just(AllocationStrategy::MostStock)],
        // Stock moving between the commands: (after command i, from, to, sku, units, received at
        // once); from = to is a supplier's delivery counted in.
        moves in prop::collection::vec((0..12usize, 0..3usize, 0..3usize, 0..2usize, 1..3u32, any::<bool>()), 0..8),
        backorderable in any::<bool>(),
    ) {
        let mut ledger = Ledger::default();
        for (i, w) in WAREHOUSES.iter().enumerate() {
            ledger.set_on_hand(&(*w).into(), &"a".into(), stock[i]).unwrap();
            ledger.set_on_hand(&(*w).into(), &"b".into(), stock[3 + i]).unwrap();
        }
        if backorderable {
            for sku in ["a", "b"] {
                ledger.set_backorders(&sku.into(), true, 10).unwrap();
            }
        }
        let units = |l: &Ledger| -> i64 { l.levels().map(|(_, c)| c.on_hand + c.incoming).sum() };
        let units_before = units(&ledger);
        let mut restocked = 0i64;
        let mut supplied = 0i64;
        let mut in_transit: Vec<transfer_lines::Moving> = Vec::new();
        let mut last_country: Option<String> = None;
        let mut step = 0usize;
        let id = OrderId::from_u128(1);
        let mut reservation = None;
        let mut history: Vec<Event> = Vec::new();
        let mut order: Option<Order> = None;
        let mut queue: Vec<Command> = vec![place()];
        let mut inputs = cmds.into_iter();
        let mut committed = 0i64;
        let mut redelivered_restock: Vec<u32> = Vec::new();
        let now = t0();
        loop {
            let (cmd, redeliver) = match queue.pop() {
                Some(c) => (c, false),
                None => {
                    // Stock moves between warehouses meanwhile; what arrives fills a backorder.
                    let mut arrived = false;
                    for &(at, from, to, sku, n, receive) in &moves {
                        if at != step { continue; }
                        let (from, to, sku) = (WarehouseId::new(WAREHOUSES[from]), WarehouseId::new(WAREHOUSES[to]), Sku::new(["a", "b"][sku]));
                        if from == to {
                            // Not a transfer: a delivery from a supplier, counted in.
                            let on_hand = ledger.level(&to, &sku).on_hand + n as i64;
                            ledger.set_on_hand(&to, &sku, on_hand).unwrap();
                            supplied += n as i64;
                            arrived = true;
                            continue;
                        }
                        let t = transfer_lines::dispatch(&from, &to, &sku, n, now);
                        if ledger.dispatch(&t).is_ok() {
                            in_transit.push(transfer_lines::Moving { to, sku, n });
                        }
                        if receive {
                            for m in in_transit.drain(..) {
                                ledger.receive(&m.to, &[LineQty { sku: m.sku, quantity: m.n }]);
                                arrived = true;
                            }
                        }
                    }
                    step += 1;
                    let waiting = order.as_ref().is_some_and(|o| o.status == Status::Placed && o.stock == StockState::Backordered);
                    if arrived && waiting {
                        let req = AllocationRequest { warehouses: &[], strategy, allow_split, country: last_country.as_deref() };
                        let lines = order.as_ref().unwrap().line_qtys();
                        let (out, ch) = ledger.reserve(reservation.as_ref(), id, &lines, &req);
                        if ch.reservation.is_some() { reservation = ch.reservation; }
                        match out {
                            ReserveOutcome::Reserved { shipments, reason } => queue.push(Command::StockAllocated { shipments, reason }),
                            ReserveOutcome::Backordered { held, backordered, reason } => queue.push(Command::StockBackordered { held, backordered, reason }),
                            _ => {}
                        }
                    }
                    match queue.pop() {
                        Some(c) => (c, false),
                        None => match inputs.next() { Some(x) => x, None => break },
                    }
                }
            };
            let before = order.clone();
            let Ok(events) = decide(order.as_ref(), &cmd, &Cause::Admin, now) else { continue };
            let after = fold(order.clone(), &events).unwrap();
            if let Some(b) = &before { check_step(b, &after, &events); }
            history.extend(events.iter().cloned());
            // Play out the effects, as the actors would (twice when `redeliver`).
            for effect in reactions(before.as_ref(), &after, &events).effects {
                for _ in 0..(1 + redeliver as usize) {
                    match &effect.kind {
                        EffectKind::ReserveStock { lines, country, .. } => {
                            last_country = country.clone();
                            let req = AllocationRequest {
                                warehouses: &[],
                                strategy,
                                allow_split,
                                country: country.as_deref(),
                            };
                            let (out, ch) = ledger.reserve(reservation.as_ref(), id, lines, &req);
                            if ch.reservation.is_some() { reservation = ch.reservation; }
                            queue.push(match out {
                                ReserveOutcome::Reserved { shipments, reason } => Command::StockAllocated { shipments, reason },
                                ReserveOutcome::Backordered { held, backordered, reason } => Command::StockBackordered { held, backordered, reason },
                                ReserveOutcome::Unavailable { shortages, reason } => Command::StockUnavailable { shortages, reason },
                                ReserveOutcome::Released => continue,
                            });
                        }
                        EffectKind::ReleaseStock { shipments } => {
                            if let Some(r) = ledger.release(reservation.as_ref(), id, shipments.as_deref()).reservation { reservation = Some(r); }
                        }
                        EffectKind::CommitStock { shipment } => {
                            let ch = ledger.commit(reservation.as_ref(), *shipment);
                            committed += ch.touched.len() as i64;
                            if let Some(r) = ch.reservation { reservation = Some(r); }
                        }
                        EffectKind::Restock { warehouse, lines } => {
                            // The inventory restocks once per (order, step): a redelivery is a no-op.
                            if !redelivered_restock.contains(&effect.step) {
                                redelivered_restock.push(effect.step);
                                ledger.restock(warehouse, lines);
                                restocked += lines.iter().map(|l| l.quantity as i64).sum::<i64>();
                            }
                        }
                        EffectKind::BookShipment { parcels, country, method, shipment, .. } => {
                            let network = shipping::network::Network::new(carriers(), vec![], vec![], vec![]).unwrap();
                            let w = crate::WarehouseId::from("w1");
                            let c = shipping::network::Consignment { warehouse: &w, country, postal_code: "1", method: method.as_deref(), value: 0, cash_on_delivery: false, parcels };
                            let mut b = network.book(id, effect.step, &c, now).unwrap();
                            b.tracking_number = format!("C{}", shipment.unwrap_or(1));
                            queue.push(Command::RecordBooking { shipment: *shipment, booking: b });
                        }
                        EffectKind::Notify { .. } | EffectKind::CancelBookings { .. } | EffectKind::InstructCarrier { .. } => {}
                    }
                }
            }
            order = Some(after);
        }
        let order = order.unwrap();
        let replayed = fold(None, &history);
        prop_assert_eq!(replayed.as_ref(), Some(&order), "snapshot equals the fold of its history");
        // Every cell: reserved = the open parts there; never below zero available.
        for w in WAREHOUSES {
            for sku in ["a", "b"] {
                let open: i64 = reservation.iter()
                    .flat_map(|r| r.parts.iter())
                    .filter(|p| p.state == ReservationState::Open && p.warehouse == w)
                    .flat_map(|p| p.lines.iter())
                    .filter(|l| l.sku == sku)
                    .map(|l| l.quantity as i64)
                    .sum();
                let (w, sku) = (WarehouseId::new(w), Sku::new(sku));
                prop_assert_eq!(ledger.level(&w, &sku).reserved, open, "{} {}", w, sku);
                prop_assert!(ledger.level(&w, &sku).available() >= 0);
            }
        }
        // Shipments and reservation parts agree: what a shipment holds is what its part holds.
        if let Some(r) = &reservation {
            for sh in &order.shipments {
                let part = r.parts.iter().find(|p| p.shipment == sh.id);
                prop_assert!(part.is_some(), "shipment {} has no reservation part", sh.id);
                let part = part.unwrap();
                prop_assert_eq!(&part.warehouse, &sh.warehouse);
                prop_assert_eq!(part.lines.clone(), sh.line_qtys());
                let expect = match sh.status {
                    ShipmentStatus::Allocated | ShipmentStatus::Packed => ReservationState::Open,
                    ShipmentStatus::Shipped | ShipmentStatus::Delivered | ShipmentStatus::Returning | ShipmentStatus::Returned => ReservationState::Committed,
                    ShipmentStatus::Cancelled => ReservationState::Released,
                };
                prop_assert_eq!(part.state, expect, "shipment {:?}", sh);
            }
            // Every ordered unit is in exactly one shipment.
            if !order.shipments.is_empty() {
                for l in &order.lines {
                    let units: u32 = order.shipments.iter().filter_map(|s| s.line(&l.sku)).map(|x| x.quantity).sum();
                    prop_assert_eq!(units, l.quantity);
                }
            }
        }
        // Units only leave by shipping (commits) and come back by restocks; transfers move them.
        prop_assert!(units(&ledger) <= units_before + restocked + supplied && committed >= 0);
        for w in WAREHOUSES {
            for sku in ["a", "b"] {
                let moving: i64 = in_transit.iter().filter(|m| m.to == w && m.sku == sku).map(|m| m.n as i64).sum();
                prop_assert_eq!(ledger.level(&w.into(), &sku.into()).incoming, moving, "incoming at {} {}", w, sku);
            }
        }
        let open = reservation.as_ref().filter(|r| r.state == ReservationState::Open);
        // The order's view of its stock matches the inventory's record.
        match order.stock {
            StockState::Reserved => prop_assert!(open.is_some_and(|r| r.backordered.is_empty())),
            StockState::Backordered => prop_assert!(open.is_some_and(|r| !r.backordered.is_empty())),
            StockState::Committed => prop_assert_eq!(reservation.as_ref().map(|r| r.state), Some(ReservationState::Committed)),
            StockState::Released => prop_assert!(open.is_none()),
            StockState::Pending | StockState::Unavailable => prop_assert!(open.is_none()),
        }
    }
}

/// Transfers for the random sequences: one sku between two warehouses.
mod transfer_lines {
    use crate::ids::{Sku, WarehouseId};
    use crate::inventory::transfer::Transfer;
    use crate::LineQty;
    use chrono::{DateTime, Utc};

    /// Units on their way to a warehouse.
    pub struct Moving {
        pub to: WarehouseId,
        pub sku: Sku,
        pub n: u32,
    }

    pub fn dispatch(
        from: &WarehouseId,
        to: &WarehouseId,
        sku: &Sku,
        n: u32,
        now: DateTime<Utc>,
    ) -> Transfer {
        let lines = [LineQty {
            sku: sku.clone(),
            quantity: n,
        }];
        Transfer::dispatch(uuid::Uuid::nil(), "k", from, to, &lines, now, |_| true)
            .expect("a valid transfer")
    }
}

// ---- split orders ------------------------------------------------------------------------

/// A paid order of 2 a and 1 b, allocated to two shipments: a from `w`, b from `x`.
fn split_order() -> Order {
    run(
        None,
        &[
            place(),
            pay(PaymentUpdate::Captured, "p"),
            Command::StockAllocated {
                shipments: vec![
                    Allocation {
                        shipment: 1,
                        warehouse: "w".into(),
                        lines: vec![lq("a", 2)],
                        plan: None,
                    },
                    Allocation {
                        shipment: 2,
                        warehouse: "x".into(),
                        lines: vec![lq("b", 1)],
                        plan: None,
                    },
                ],
                reason: "split".into(),
            },
        ],
        t0(),
    )
}

fn pack_and_book(o: Order, id: u32, sku: &str, q: u32) -> Order {
    let mut b = booking();
    b.tracking_number = format!("C{id}");
    run(
        Some(o),
        &[
            Command::AcknowledgePicks {
                shipment: ShipmentRef::Id(id),
                lines: vec![lq(sku, q)],
            },
            Command::Pack {
                shipment: ShipmentRef::Id(id),
                parcels: vec![Parcel { weight_grams: 100 }],
            },
            Command::RecordBooking {
                shipment: Some(id),
                booking: b,
            },
        ],
        t0(),
    )
}

#[test]
fn a_split_order_follows_its_shipments() {
    let o = split_order();
    assert_eq!(o.status, Status::Confirmed);
    assert_eq!(o.shipments.len(), 2);
    // Picks name their shipment; a sku of the other shipment is refused.
    let wrong = Command::AcknowledgePicks {
        shipment: ShipmentRef::Id(1),
        lines: vec![lq("b", 1)],
    };
    assert!(matches!(
        decide(Some(&o), &wrong, &Cause::Warehouse, t0()),
        Err(DomainError::Invalid { field, .. }) if field == "lines[0].sku"
    ));
    let unknown = Command::Handover { shipment: Some(9) };
    assert_eq!(
        decide(Some(&o), &unknown, &Cause::Warehouse, t0()),
        Err(DomainError::UnknownShipment(9))
    );
    let o = pack_and_book(o, 1, "a", 2);
    assert_eq!(o.status, Status::Confirmed, "shipment 2 is not packed yet");
    assert_eq!(o.shipments[0].status, ShipmentStatus::Packed);
    let o = run(Some(o), &[Command::Handover { shipment: Some(1) }], t0());
    assert_eq!(o.status, Status::Confirmed);
    assert_eq!(
        o.stock,
        StockState::Reserved,
        "shipment 2 still holds stock"
    );
    let o = pack_and_book(o, 2, "b", 1);
    assert_eq!(
        o.status,
        Status::Packed,
        "every open shipment is packed or further"
    );
    let events = decide(
        Some(&o),
        &Command::Handover { shipment: None },
        &Cause::Warehouse,
        t0(),
    )
    .unwrap();
    let names: Vec<_> = reactions(Some(&o), &fold(Some(o.clone()), &events).unwrap(), &events)
        .effects
        .iter()
        .map(|e| e.kind.clone())
        .collect();
    assert!(names.contains(&EffectKind::CommitStock { shipment: Some(2) }));
    let o = fold(Some(o), &events).unwrap();
    assert_eq!(o.status, Status::Shipped);
    assert_eq!(o.stock, StockState::Committed);
    let o = run(
        Some(o),
        &[scan_of("C1", "d1", CarrierEventKind::Delivered)],
        t0(),
    );
    assert_eq!(o.status, Status::Shipped, "one of two delivered");
    assert_eq!(o.shipments[0].status, ShipmentStatus::Delivered);
    let o = run(
        Some(o),
        &[scan_of("C2", "d2", CarrierEventKind::Delivered)],
        t0(),
    );
    assert_eq!(o.status, Status::Delivered);
    assert_eq!(o.delivered_at, Some(t0()));
}

#[test]
fn cancelling_a_partly_shipped_order_cancels_what_is_still_in_the_warehouse() {
    let o = pack_and_book(split_order(), 1, "a", 2);
    let o = run(Some(o), &[Command::Handover { shipment: Some(1) }], t0());
    let events = decide(
        Some(&o),
        &Command::Cancel {
            reason: "rest not needed".into(),
        },
        &Cause::Storefront,
        t0(),
    )
    .unwrap();
    let after = fold(Some(o), &events).unwrap();
    assert_eq!(after.shipments[1].status, ShipmentStatus::Cancelled);
    assert_eq!(
        after.status,
        Status::Shipped,
        "the order goes on with shipment 1"
    );
    assert_eq!(after.refunded.map(|m| m.amount), Some(250), "b's value");
    let effects: Vec<_> = reactions(None, &after, &events)
        .effects
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(effects.contains(&EffectKind::ReleaseStock {
        shipments: Some(vec![2])
    }));
    // Nothing left in the warehouse: a second cancel is refused.
    assert!(matches!(
        decide(
            Some(&after),
            &Command::Cancel { reason: "r".into() },
            &Cause::Storefront,
            t0()
        ),
        Err(DomainError::Rejected {
            code: "cancel_not_allowed",
            ..
        })
    ));
}

#[test]
fn events_recorded_before_shipments_read_as_the_single_shipment() {
    // A history as the previous release wrote it: no `shipment` anywhere.
    let json = r#"[
      {"seq":2,"at":"2026-11-23T10:00:00Z","by":"inventory_actor","type":"stock_reserved","warehouse":"w"},
      {"seq":3,"at":"2026-11-23T10:00:00Z","by":"storefront","type":"payment_recorded","status":"captured","amount":1250,"reference":"p"},
      {"seq":4,"at":"2026-11-23T10:00:00Z","by":"storefront","type":"confirmed"},
      {"seq":5,"at":"2026-11-23T10:00:00Z","by":"warehouse","type":"picks_acknowledged","warehouse":"w","lines":[{"sku":"a","quantity":2},{"sku":"b","quantity":1}]},
      {"seq":6,"at":"2026-11-23T10:00:00Z","by":"warehouse","type":"packed","warehouse":"w","parcels":[{"weight_grams":100}]},
      {"seq":7,"at":"2026-11-23T10:00:00Z","by":"carrier_actor","type":"shipment_booked","booking":{"carrier":"c1","carrier_name":"C1","service":"std","tracking_number":"C1-1","estimated_delivery":"2026-11-24"}},
      {"seq":8,"at":"2026-11-23T10:00:00Z","by":"warehouse","type":"shipped"},
      {"seq":9,"at":"2026-11-23T10:00:00Z","by":{"carrier":"c1"},"type":"delivered"}
    ]"#;
    let old: Vec<Event> = serde_json::from_str(json).unwrap();
    assert!(matches!(old[6].change, Change::Shipped { shipment: None }));
    let placed = run(None, &[place()], t0());
    let o = fold(Some(placed), &old).unwrap();
    assert_eq!(o.status, Status::Delivered);
    assert_eq!(o.shipments.len(), 1);
    let s = &o.shipments[0];
    assert_eq!((s.id, s.warehouse.as_str()), (1, "w"));
    assert_eq!(s.status, ShipmentStatus::Delivered);
    assert!(s.fully_picked());
    assert_eq!(s.booking.as_ref().unwrap().tracking_number, "C1-1");
    // And they serialize back exactly as they were written.
    let again = serde_json::to_value(&old).unwrap();
    let before: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(again, before);
}

// ---- the tracking vocabulary -----------------------------------------------------------------

fn shipment_rank(s: ShipmentStatus) -> u8 {
    s.rank()
}

fn arb_kind() -> impl Strategy<Value = CarrierEventKind> {
    proptest::sample::select(CarrierEventKind::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever a carrier reports and in whatever order (repeats, old scans after new ones,
    /// any kind of the vocabulary, unknown codes), a shipment's status never moves backwards,
    /// its latest scan is the one latest in time, and a delivered one stays delivered.
    #[test]
    fn a_shipments_status_never_moves_backwards(
        scans in proptest::collection::vec((0u8..12, arb_kind(), -48i64..48), 1..25),
        packed in any::<bool>(),
    ) {
        let mut o = order_in(if packed { Status::Packed } else { Status::Shipped });
        for (id, kind, hours) in scans {
            let before = o.shipments[0].clone();
            let cmd = Command::CarrierEvent {
                carrier: "c1".into(),
                tracking_number: "C1-1".into(),
                event_id: format!("e{id}"),
                kind,
                occurred_at: t0() + Duration::hours(hours),
                location: None,
                estimated_delivery: None,
                code: Some(format!("RAW-{id}")),
                description: None,
                reason: None,
                exceptions: Default::default(),
            };
            let Ok(events) = decide(Some(&o), &cmd, &Cause::Carrier("c1".into()), t0()) else {
                continue;
            };
            o = fold(Some(o), &events).expect("folds");
            let after = &o.shipments[0];
            prop_assert!(shipment_rank(after.status) >= shipment_rank(before.status),
                "{:?} -> {:?} on {kind:?}", before.status, after.status);
            if before.status == ShipmentStatus::Delivered {
                prop_assert_eq!(after.status, ShipmentStatus::Delivered);
            }
            // A parcel on its way back never turns into a delivery.
            if matches!(before.status, ShipmentStatus::Returning | ShipmentStatus::Returned) {
                prop_assert!(matches!(after.status, ShipmentStatus::Returning | ShipmentStatus::Returned));
            }
            prop_assert!(after.attempts >= before.attempts);
            prop_assert!(after.last_scan_at >= before.last_scan_at);
            if !kind.means_in_hand() {
                prop_assert_eq!(after.status, before.status, "{:?} moves nothing", kind);
            }
        }
    }
}

#[test]
fn unknown_codes_and_info_received_are_recorded_and_move_nothing() {
    let packed = order_in(Status::Packed);
    for kind in [CarrierEventKind::Unknown, CarrierEventKind::InfoReceived] {
        let cmd = Command::CarrierEvent {
            carrier: "c1".into(),
            tracking_number: "C1-1".into(),
            event_id: format!("{kind:?}"),
            kind,
            occurred_at: t0(),
            location: None,
            estimated_delivery: None,
            code: Some("ZZ9".into()),
            description: Some("Sorting robot confused".into()),
            reason: None,
            exceptions: Default::default(),
        };
        let events = decide(Some(&packed), &cmd, &Cause::Carrier("c1".into()), t0()).unwrap();
        assert_eq!(events.len(), 1, "only the scan: {events:?}");
        match &events[0].change {
            Change::CarrierScanned {
                code,
                description,
                kind: k,
                ..
            } => {
                assert_eq!(code.as_deref(), Some("ZZ9"));
                assert_eq!(description.as_deref(), Some("Sorting robot confused"));
                assert_eq!(*k, kind);
            }
            other => panic!("{other:?}"),
        }
        let after = fold(Some(packed.clone()), &events).unwrap();
        assert_eq!(after.status, Status::Packed);
        let expect_scan = (kind != CarrierEventKind::Unknown).then_some(kind);
        assert_eq!(after.shipments[0].last_scan, expect_scan);
    }
    // A picked-up scan ships it.
    let cmd = Command::CarrierEvent {
        carrier: "c1".into(),
        tracking_number: "C1-1".into(),
        event_id: "p".into(),
        kind: CarrierEventKind::PickedUp,
        occurred_at: t0(),
        location: None,
        estimated_delivery: None,
        code: None,
        description: None,
        reason: None,
        exceptions: Default::default(),
    };
    let after = run(Some(packed), &[cmd], t0());
    assert_eq!(after.status, Status::Shipped);
}
