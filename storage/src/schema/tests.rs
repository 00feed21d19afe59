use super::*;
use crate::conformance::{allocated, new_order, stock_reserved, t0, Step};
use crate::domain::inventory::{Reservation, ReservationState, ReservedPart, StockLevel};
use crate::domain::*;
use chrono::Duration;
use serde::Serialize;

fn qty(sku: &str, quantity: u32) -> LineQty {
    LineQty {
        sku: sku.into(),
        quantity,
    }
}

/// A card order through its whole life, a COD order cancelled for a shortage, one cancelled by
/// an admin, one by its payment timer, a COD order split over two warehouses whose second
/// shipment is cancelled after the first left, and a COD order backordered (one line held, one
/// waiting) then filled, and another backordered then cancelled: every kind of event `decide`
/// records, the order after each transition, and every outbox entry they caused.
fn lifecycles() -> Vec<Step> {
    let t = t0();
    let mut steps = Vec::new();
    let placed = Step::place(
        new_order(&[("SKU-1", 2), ("SKU-2", 1)], PaymentMethod::Card),
        t,
    );
    let mut push = |s: &Step| {
        steps.push(s.clone());
        s.clone()
    };
    let s = push(&placed);
    let s = push(&s.then(stock_reserved(&s.after, "ams"), Cause::InventoryActor, t));
    let s = push(&s.then(
        Command::RecordPayment {
            status: PaymentUpdate::Captured,
            amount: 3000,
            reference: "psp-1".into(),
        },
        Cause::Storefront,
        t,
    ));
    let s = push(&s.then(
        Command::AcknowledgePicks {
            shipment: ShipmentRef::At("ams".into()),
            lines: vec![qty("SKU-1", 2), qty("SKU-2", 1)],
        },
        Cause::Warehouse,
        t,
    ));
    let s = push(&s.then(
        Command::Pack {
            shipment: ShipmentRef::At("ams".into()),
            parcels: vec![Parcel { weight_grams: 1200 }],
        },
        Cause::Warehouse,
        t,
    ));
    let s = push(&s.then(
        Command::RecordBooking {
            shipment: None,
            booking: booking("3S123", t),
        },
        Cause::CarrierActor,
        t,
    ));
    let s = push(&s.then(Command::Handover { shipment: None }, Cause::Warehouse, t));
    let scan = |id: &str, kind, location: Option<&str>| Command::CarrierEvent {
        carrier: "postnl".into(),
        tracking_number: "3S123".into(),
        event_id: id.into(),
        kind,
        occurred_at: t + Duration::hours(2),
        location: location.map(Into::into),
        estimated_delivery: None,
        code: None,
        description: None,
        reason: None,
        exceptions: Default::default(),
    };
    let s = push(&s.then(
        scan(
            "ev-1",
            CarrierEventKind::OutForDelivery,
            Some("Utrecht hub"),
        ),
        Cause::Carrier("postnl".into()),
        t,
    ));
    let s = push(&s.then(
        scan("ev-2", CarrierEventKind::Delivered, None),
        Cause::Carrier("postnl".into()),
        t + Duration::hours(3),
    ));
    let s = push(&s.then(
        Command::RequestReturn {
            lines: vec![qty("SKU-1", 1)],
            reason: "too small".into(),
            window_days: 30,
        },
        Cause::Storefront,
        t + Duration::days(2),
    ));
    push(&s.then(
        Command::ReceiveReturn {
            warehouse: "ams".into(),
            lines: vec![qty("SKU-1", 1)],
        },
        Cause::Warehouse,
        t + Duration::days(4),
    ));
    let cod = Step::place(new_order(&[("SKU-3", 1)], PaymentMethod::Cod), t);
    let s = push(&cod);
    push(&s.then(
        Command::StockUnavailable {
            shortages: vec![Shortage {
                sku: "SKU-3".into(),
                requested: 1,
                available: 0,
            }],
            reason: "no warehouse holds SKU-3".into(),
        },
        Cause::InventoryActor,
        t,
    ));
    let admin = Step::place(new_order(&[("SKU-4", 1)], PaymentMethod::Card), t);
    let s = push(&admin);
    push(&s.then(
        Command::Cancel {
            reason: "fraud".into(),
        },
        Cause::Admin,
        t,
    ));
    let timer = Step::place(new_order(&[("SKU-5", 1)], PaymentMethod::Card), t);
    let s = push(&timer);
    push(&s.then(
        Command::PaymentTimeout,
        Cause::PaymentTimer,
        t + Duration::days(2),
    ));
    let split = Step::place(
        new_order(&[("SKU-6", 1), ("SKU-7", 2)], PaymentMethod::Cod),
        t,
    );
    let s = push(&split);
    let s = push(&s.then(
        allocated(
            &s.after,
            &[("ams", &[("SKU-6", 1)]), ("rtm", &[("SKU-7", 2)])],
        ),
        Cause::InventoryActor,
        t,
    ));
    let s = push(&s.then(
        Command::AcknowledgePicks {
            shipment: ShipmentRef::Id(1),
            lines: vec![qty("SKU-6", 1)],
        },
        Cause::Warehouse,
        t,
    ));
    let s = push(&s.then(
        Command::Pack {
            shipment: ShipmentRef::Id(1),
            parcels: vec![Parcel { weight_grams: 300 }],
        },
        Cause::Warehouse,
        t,
    ));
    let s = push(&s.then(
        Command::RecordBooking {
            shipment: Some(1),
            booking: booking("3S456", t),
        },
        Cause::CarrierActor,
        t,
    ));
    let s = push(&s.then(Command::Handover { shipment: Some(1) }, Cause::Warehouse, t));
    push(&s.then(
        Command::Cancel {
            reason: "the rest is too late".into(),
        },
        Cause::Storefront,
        t + Duration::hours(1),
    ));
    let waiting = Step::place(
        new_order(&[("SKU-8", 1), ("SKU-9", 3)], PaymentMethod::Cod),
        t,
    );
    let s = push(&waiting);
    let s = push(&s.then(backordered_answer(), Cause::InventoryActor, t));
    assert_eq!(s.after.stock, StockState::Backordered);
    assert_eq!(s.after.backordered, vec![qty("SKU-9", 2)]);
    push(&s.then(
        allocated(
            &s.after,
            &[
                ("ams", &[("SKU-8", 1), ("SKU-9", 1)]),
                ("rtm", &[("SKU-9", 2)]),
            ],
        ),
        Cause::InventoryActor,
        t + Duration::hours(5),
    ));
    let given_up = Step::place(new_order(&[("SKU-9", 1)], PaymentMethod::Cod), t);
    let s = push(&given_up);
    let s = push(&s.then(
        Command::StockBackordered {
            held: vec![],
            backordered: vec![qty("SKU-9", 1)],
            reason: "out of stock: SKU-9 (backordered)".into(),
        },
        Cause::InventoryActor,
        t,
    ));
    push(&s.then(
        Command::Cancel {
            reason: "too long".into(),
        },
        Cause::Storefront,
        t + Duration::days(1),
    ));
    // Promised: allocated with a plan, booked with a price and a window, a scan moving the
    // date, and the promise timer recording the delay once the date passed.
    let promised = Step::place(new_order(&[("SKU-10", 1)], PaymentMethod::Cod), t);
    let s = push(&promised);
    let mut with_plan = stock_reserved(&s.after, "ams");
    if let Command::StockAllocated { shipments, .. } = &mut with_plan {
        shipments[0].plan = Some(plan(t));
    }
    let s = push(&s.then(with_plan, Cause::InventoryActor, t));
    let s = push(&s.then(
        Command::AcknowledgePicks {
            shipment: ShipmentRef::Id(1),
            lines: vec![qty("SKU-10", 1)],
        },
        Cause::Warehouse,
        t,
    ));
    let s = push(&s.then(
        Command::Pack {
            shipment: ShipmentRef::Id(1),
            parcels: vec![Parcel { weight_grams: 800 }],
        },
        Cause::Warehouse,
        t,
    ));
    let p = plan(t);
    let s = push(&s.then(
        Command::RecordBooking {
            shipment: Some(1),
            booking: Booking {
                price: p.price,
                rule: p.rule.clone(),
                promise: Some(p.promise.clone()),
                label_url: Some("http://carrier.example/labels/3S789.pdf".into()),
                ..booking("3S789", t)
            },
        },
        Cause::CarrierActor,
        t,
    ));
    let s = push(&s.then(Command::Handover { shipment: Some(1) }, Cause::Warehouse, t));
    let s = push(&s.then(
        Command::CarrierEvent {
            carrier: "postnl".into(),
            tracking_number: "3S789".into(),
            event_id: "ev-late".into(),
            kind: CarrierEventKind::PickedUp,
            occurred_at: t + Duration::days(1),
            location: None,
            estimated_delivery: Some(t.date_naive() + Duration::days(4)),
            code: Some("X12".into()),
            description: Some("Sorted at the hub".into()),
            reason: None,
            exceptions: Default::default(),
        },
        Cause::Carrier("postnl".into()),
        t + Duration::days(1),
    ));
    let s = push(&s.then(
        Command::CheckPromises,
        Cause::PromiseTimer,
        t + Duration::days(6),
    ));
    assert!(s.after.shipments[0].delayed);
    // Packed and booked, then cancelled: the booking is cancelled with the carrier.
    let booked = Step::place(new_order(&[("SKU-11", 1)], PaymentMethod::Cod), t);
    let s = push(&booked);
    let s = push(&s.then(stock_reserved(&s.after, "ams"), Cause::InventoryActor, t));
    let s = push(&s.then(
        Command::AcknowledgePicks {
            shipment: ShipmentRef::Id(1),
            lines: vec![qty("SKU-11", 1)],
        },
        Cause::Warehouse,
        t,
    ));
    let s = push(&s.then(
        Command::Pack {
            shipment: ShipmentRef::Id(1),
            parcels: vec![Parcel { weight_grams: 100 }],
        },
        Cause::Warehouse,
        t,
    ));
    let s = push(&s.then(
        Command::RecordBooking {
            shipment: Some(1),
            booking: booking("3S999", t),
        },
        Cause::CarrierActor,
        t,
    ));
    let s = push(&s.then(
        Command::Cancel {
            reason: "changed my mind".into(),
        },
        Cause::Storefront,
        t,
    ));
    assert!(s.outbox.iter().any(|e| e.kind_name() == "cancel_bookings"));
    // v4: failed deliveries answered by the customer, then sent back by the exception timer
    // and received into stock; a return parcel scanned; a missed pick-and-pack deadline.
    let failing = Step::place(new_order(&[("SKU-12", 1)], PaymentMethod::Card), t);
    let s = push(&failing);
    let s = push(&s.then(stock_reserved(&s.after, "ams"), Cause::InventoryActor, t));
    let s = push(&s.then(
        Command::RecordPayment {
            status: PaymentUpdate::Captured,
            amount: 1000,
            reference: "psp-12".into(),
        },
        Cause::Storefront,
        t,
    ));
    let s = push(&s.then(
        Command::CheckDeadlines {
            late: vec![LateShipment {
                shipment: 1,
                due: t,
            }],
        },
        Cause::DeadlineTimer,
        t,
    ));
    assert!(s.after.shipments[0].pick_pack_late);
    let s = push(&s.then(
        Command::AcknowledgePicks {
            shipment: ShipmentRef::Id(1),
            lines: vec![qty("SKU-12", 1)],
        },
        Cause::Warehouse,
        t,
    ));
    let s = push(&s.then(
        Command::Pack {
            shipment: ShipmentRef::Id(1),
            parcels: vec![Parcel { weight_grams: 300 }],
        },
        Cause::Warehouse,
        t,
    ));
    let s = push(&s.then(
        Command::RecordBooking {
            shipment: Some(1),
            booking: booking("3SFAIL", t),
        },
        Cause::CarrierActor,
        t,
    ));
    let s = push(&s.then(Command::Handover { shipment: Some(1) }, Cause::Warehouse, t));
    let failed = |id: &str| Command::CarrierEvent {
        carrier: "postnl".into(),
        tracking_number: "3SFAIL".into(),
        event_id: id.into(),
        kind: CarrierEventKind::FailedAttempt,
        occurred_at: t + Duration::days(1),
        location: Some("Utrecht".into()),
        estimated_delivery: None,
        code: None,
        description: None,
        reason: Some(FailureReason::CustomerNotAvailable),
        exceptions: Default::default(),
    };
    let s = push(&s.then(failed("f-1"), Cause::Carrier("postnl".into()), t));
    let s = push(&s.then(
        Command::AnswerException {
            shipment: 1,
            answer: ExceptionAnswer::Reattempt {
                date: Some(t.date_naive() + Duration::days(2)),
                notes: Some("ring twice".into()),
            },
        },
        Cause::Customer,
        t,
    ));
    assert!(s.outbox.iter().any(|e| e.kind_name() == "instruct_carrier"));
    let s = push(&s.then(failed("f-2"), Cause::Carrier("postnl".into()), t));
    let s = push(&s.then(
        Command::CheckExceptions,
        Cause::ExceptionTimer,
        t + Duration::days(5),
    ));
    assert_eq!(s.after.shipments[0].status, ShipmentStatus::Returning);
    let s = push(&s.then(
        Command::CarrierEvent {
            carrier: "postnl".into(),
            tracking_number: "3SFAIL".into(),
            event_id: "back".into(),
            kind: CarrierEventKind::ReturnedToSender,
            occurred_at: t + Duration::days(6),
            location: None,
            estimated_delivery: None,
            code: None,
            description: None,
            reason: None,
            exceptions: Default::default(),
        },
        Cause::Carrier("postnl".into()),
        t + Duration::days(6),
    ));
    assert_eq!(s.after.shipments[0].status, ShipmentStatus::Returned);
    // A return parcel scanned under the return's own tracking number.
    let returning = steps
        .iter()
        .find(|s| s.after.return_case.is_some() && s.after.status == Status::Delivered)
        .expect("a lifecycle approves a return")
        .clone();
    let tn = returning
        .after
        .return_case
        .as_ref()
        .unwrap()
        .tracking_number
        .clone();
    let s = returning.then(
        Command::CarrierEvent {
            carrier: "postnl".into(),
            tracking_number: tn,
            event_id: "ret-1".into(),
            kind: CarrierEventKind::InTransit,
            occurred_at: t + Duration::days(3),
            location: Some("Rotterdam".into()),
            estimated_delivery: None,
            code: Some("B01".into()),
            description: Some("On its way back".into()),
            reason: None,
            exceptions: Default::default(),
        },
        Cause::Carrier("postnl".into()),
        t + Duration::days(3),
    );
    assert!(s.after.return_case.as_ref().unwrap().parcel.is_some());
    steps.push(s);
    steps
}

/// The inventory's answer holding SKU-8 and one SKU-9 at `ams` and backordering two SKU-9.
fn backordered_answer() -> Command {
    Command::StockBackordered {
        held: vec![Allocation {
            shipment: 1,
            warehouse: "ams".into(),
            lines: vec![qty("SKU-8", 1), qty("SKU-9", 1)],
            plan: None,
        }],
        backordered: vec![qty("SKU-9", 2)],
        reason: "out of stock: SKU-9 (backordered)".into(),
    }
}

fn booking(tn: &str, t: chrono::DateTime<chrono::Utc>) -> Booking {
    Booking {
        carrier: "postnl".into(),
        carrier_name: "PostNL".into(),
        service: "standard".into(),
        tracking_number: tn.into(),
        estimated_delivery: t.date_naive() + Duration::days(1),
        price: None,
        rule: None,
        promise: None,
        label_url: None,
    }
}

/// A shipment's plan as allocation worked it out: PostNL standard, €6.95 by the `cheapest`
/// rule, promised for the 2nd and 3rd day after `t` in Amsterdam.
fn plan(t: chrono::DateTime<chrono::Utc>) -> DeliveryPlan {
    DeliveryPlan {
        carrier: "postnl".into(),
        service: "standard".into(),
        price: Some(Money {
            amount: 695,
            currency: Currency::parse("EUR").unwrap(),
        }),
        rule: Some("cheapest".into()),
        promise: Promise {
            earliest: t.date_naive() + Duration::days(2),
            latest: t.date_naive() + Duration::days(3),
            time_zone: "Europe/Amsterdam".into(),
        },
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

/// Events `decide` no longer records but stored histories hold, in the domain's types.
fn legacy_events() -> Vec<Event> {
    let t = t0();
    let ev = |seq, change| Event {
        seq,
        at: t,
        by: Cause::Warehouse,
        change,
    };
    vec![
        ev(
            2,
            Change::StockReserved {
                warehouse: "ams".into(),
            },
        ),
        ev(3, Change::Shipped { shipment: None }),
        ev(4, Change::Delivered { shipment: None }),
    ]
}

#[test]
fn the_lifecycles_cover_every_kind_of_event_status_and_action() {
    let steps = lifecycles();
    let events: Vec<&str> = steps
        .iter()
        .flat_map(|s| s.events.iter().map(|e| e.change.name()))
        .chain(legacy_events().iter().map(|e| e.change.name()))
        .collect();
    for name in [
        "placed",
        "stock_reserved",
        "allocated",
        "backordered",
        "stock_unavailable",
        "payment_recorded",
        "confirmed",
        "picks_acknowledged",
        "packed",
        "shipment_booked",
        "shipped",
        "carrier_scanned",
        "delivered",
        "cancelled",
        "return_approved",
        "return_received",
        "refund_issued",
        "shipments_cancelled",
        "delayed",
        "delivery_failed",
        "exception_answered",
        "returning_to_origin",
        "returned_to_origin",
        "return_scanned",
        "pick_pack_late",
    ] {
        assert!(events.contains(&name), "no {name} event");
    }
    let statuses: Vec<Status> = steps.iter().map(|s| s.after.status).collect();
    for st in Status::ALL {
        assert!(statuses.contains(&st), "no order {st:?}");
    }
    let shipment_statuses: Vec<ShipmentStatus> = steps
        .iter()
        .flat_map(|s| s.after.shipments.iter().map(|sh| sh.status))
        .collect();
    for st in [
        ShipmentStatus::Allocated,
        ShipmentStatus::Packed,
        ShipmentStatus::Shipped,
        ShipmentStatus::Delivered,
        ShipmentStatus::Cancelled,
        ShipmentStatus::Returning,
        ShipmentStatus::Returned,
    ] {
        assert!(shipment_statuses.contains(&st), "no shipment {st:?}");
    }
    let actions: Vec<&EffectKind> = steps
        .iter()
        .flat_map(|s| s.outbox.iter().filter_map(|e| e.effect().map(|f| &f.kind)))
        .collect();
    for a in [
        "reserve_stock",
        "release_stock",
        "commit_stock",
        "book_shipment",
        "restock",
        "cancel_bookings",
        "instruct_carrier",
    ] {
        assert!(actions.iter().any(|k| k.name() == a), "no {a} message");
    }
    assert!(actions
        .iter()
        .any(|k| matches!(k, EffectKind::ReleaseStock { shipments: Some(_) })));
    assert!(actions
        .iter()
        .any(|k| matches!(k, EffectKind::ReleaseStock { shipments: None })));
    let causes: Vec<&Cause> = steps
        .iter()
        .flat_map(|s| s.events.iter().map(|e| &e.by))
        .collect();
    assert!(causes.contains(&&Cause::Carrier("postnl".into())));
    assert!(causes.contains(&&Cause::PaymentTimer));
    assert!(causes.contains(&&Cause::PromiseTimer));
    assert!(causes.contains(&&Cause::ExceptionTimer));
    assert!(causes.contains(&&Cause::DeadlineTimer));
    assert!(causes.contains(&&Cause::Customer));
    let stock: Vec<StockState> = steps.iter().map(|s| s.after.stock).collect();
    assert!(stock.contains(&StockState::Backordered));
    assert!(actions.iter().any(|k| **k
        == EffectKind::Notify {
            kind: NotificationKind::Backordered
        }));
}

/// v2 is the domain types' serde shape: the same JSON, byte for byte, so `history_json` can
/// pass stored events through as domain event JSON.
#[test]
fn same_json_as_the_domain() {
    for s in lifecycles() {
        assert_eq!(json(&v2::Order::from(&s.after)), json(&s.after));
        assert_eq!(json(&v2::events(&s.events)), json(&s.events));
        for e in &s.events {
            assert_eq!(json(&v2::Event::from(e)), json(e));
        }
        for entry in &s.outbox {
            assert_eq!(
                json(&v2::OutboxEntry::from(entry)),
                json(&legacy::OutboxEntry::from(entry))
            );
        }
    }
    for e in legacy_events() {
        assert_eq!(json(&v2::Event::from(&e)), json(&e));
    }
    for level in [
        StockLevel {
            on_hand: 7,
            reserved: 2,
            incoming: 0,
        },
        StockLevel {
            on_hand: 7,
            reserved: 2,
            incoming: 4,
        },
    ] {
        assert_eq!(json(&v2::StockLevel::from(&level)), json(&level));
    }
    for r in reservations() {
        assert_eq!(json(&v2::Reservation::from(&r)), json(&r));
    }
    let sku = crate::domain::inventory::Backorders {
        allowed: true,
        cap: 10,
        waiting: 4,
    };
    assert_eq!(json(&v2::Backorders::from(&sku)), json(&sku));
    for kind in [NotificationKind::Backordered, NotificationKind::Confirmed] {
        assert_eq!(json(&v2::NotificationKind::from(&kind)), json(&kind));
    }
    let rec = idempotency_record();
    assert_eq!(
        json(&v2::IdempotencyRecord::from(&rec)),
        json(&legacy::IdempotencyRecord::from(&rec))
    );
    let (letter, entry) = dead_letter();
    assert_eq!(
        json(&v2::DeadLetter::new(&letter, &entry)),
        json(&legacy::StoredDeadLetter {
            letter: legacy::DeadLetter::from(&letter),
            entry: legacy::OutboxEntry::from(&entry),
        })
    );
}

/// Every v1 event kind, as the release before shipments wrote it (the domain's field order).
const V1_EVENTS: &str = r#"[
{"seq":1,"at":"2026-03-02T09:00:00Z","by":"storefront","type":"placed","id":"00000000-0000-0000-0000-000000000001","tracking_token":"tok-1","order":{"customer":{"id":"c1","email":"a@example.nl"},"currency":"EUR","lines":[{"sku":"A","quantity":2,"unit_price":500}],"shipping":{"address":{"name":"Jan","line1":"Straat 1","city":"Amsterdam","postal_code":"1000 AA","country":"NL"}},"payment":{"method":"cod","status":"pending"}}},
{"seq":2,"at":"2026-03-02T09:00:01Z","by":"inventory_actor","type":"stock_reserved","warehouse":"ams"},
{"seq":3,"at":"2026-03-02T09:00:01Z","by":"inventory_actor","type":"confirmed"},
{"seq":4,"at":"2026-03-02T09:01:00Z","by":"warehouse","type":"picks_acknowledged","warehouse":"ams","lines":[{"sku":"A","quantity":1}]},
{"seq":5,"at":"2026-03-02T09:02:00Z","by":"warehouse","type":"picks_acknowledged","warehouse":"ams","lines":[{"sku":"A","quantity":1}]},
{"seq":6,"at":"2026-03-02T09:03:00Z","by":"warehouse","type":"packed","warehouse":"ams","parcels":[{"weight_grams":800}]},
{"seq":7,"at":"2026-03-02T09:03:01Z","by":"carrier_actor","type":"shipment_booked","booking":{"carrier":"postnl","carrier_name":"PostNL","service":"standard","tracking_number":"3SV1","estimated_delivery":"2026-03-03"}},
{"seq":8,"at":"2026-03-02T10:00:00Z","by":"warehouse","type":"shipped"},
{"seq":9,"at":"2026-03-02T12:00:00Z","by":{"carrier":"postnl"},"type":"carrier_scanned","carrier":"postnl","event_id":"ev-1","kind":"out_for_delivery","occurred_at":"2026-03-02T11:59:00Z","location":"Utrecht"},
{"seq":10,"at":"2026-03-02T14:00:00Z","by":{"carrier":"postnl"},"type":"delivered"},
{"seq":11,"at":"2026-03-03T09:00:00Z","by":"storefront","type":"return_approved","lines":[{"sku":"A","quantity":1}],"reason":"too big","tracking_number":"RT-1"},
{"seq":12,"at":"2026-03-04T09:00:00Z","by":"warehouse","type":"return_received","warehouse":"ams","lines":[{"sku":"A","quantity":1}]},
{"seq":13,"at":"2026-03-04T09:00:00Z","by":"warehouse","type":"refund_issued","amount":{"amount":500,"currency":"EUR"}}
]"#;

/// The snapshot the release before shipments stored after `V1_EVENTS`.
const V1_SNAPSHOT: &str = r#"{"id":"00000000-0000-0000-0000-000000000001","version":13,"tracking_token":"tok-1","status":"returned","customer":{"id":"c1","email":"a@example.nl"},"currency":"EUR","lines":[{"sku":"A","quantity":2,"unit_price":500,"picked":2}],"shipping":{"address":{"name":"Jan","line1":"Straat 1","city":"Amsterdam","postal_code":"1000 AA","country":"NL"}},"payment":{"method":"cod","status":"pending"},"stock":"committed","warehouse":"ams","shipments":[{"warehouse":"ams","parcels":[{"weight_grams":800}],"booking":{"carrier":"postnl","carrier_name":"PostNL","service":"standard","tracking_number":"3SV1","estimated_delivery":"2026-03-03"},"last_scan":"out_for_delivery","last_scan_at":"2026-03-02T11:59:00Z","last_location":"Utrecht"}],"return_case":{"lines":[{"sku":"A","quantity":1}],"reason":"too big","approved_at":"2026-03-03T09:00:00Z","tracking_number":"RT-1","received_at":"2026-03-04T09:00:00Z","received_lines":[{"sku":"A","quantity":1}],"refund":{"amount":500,"currency":"EUR"}},"refunded":{"amount":500,"currency":"EUR"},"placed_at":"2026-03-02T09:00:00Z","updated_at":"2026-03-04T09:00:00Z","delivered_at":"2026-03-02T14:00:00Z","carrier_event_ids":["ev-1"]}"#;

/// v1 events read into the domain say what they said: re-encoded as domain JSON, every one is
/// the stored JSON again, byte for byte (so passing stored v1 events through `history_json` is
/// the same as decoding them).
#[test]
fn v1_events_read_as_the_same_domain_json() {
    let raw: Vec<&serde_json::value::RawValue> = serde_json::from_str(V1_EVENTS).unwrap();
    for marked in [false, true] {
        let compact = json(&raw);
        let record = if marked {
            let mut r = vec![1];
            r.extend_from_slice(compact.as_bytes());
            r
        } else {
            compact.into_bytes()
        };
        let events = decode_events(&record).unwrap();
        assert_eq!(events.len(), raw.len());
        for (e, r) in events.iter().zip(&raw) {
            assert_eq!(json(e), r.get());
        }
        assert!(matches!(
            events[7].change,
            Change::Shipped { shipment: None }
        ));
    }
}

/// A v1 snapshot reads as the order folding its v1 history with today's `evolve` gives: one
/// shipment (id 1) at its warehouse with the picks, parcels, booking and scans, as far along as
/// the order was. The engine folds histories (idempotent replays) and reads snapshots
/// elsewhere; both must show the same order.
#[test]
fn a_v1_snapshot_reads_as_its_folded_v1_history() {
    let events = decode_events(V1_EVENTS.as_bytes()).unwrap();
    let snapshot = decode_order(V1_SNAPSHOT.as_bytes()).unwrap();
    assert_eq!(fold(None, &events), Some(snapshot.clone()));
    let s = &snapshot.shipments[..];
    assert_eq!(s.len(), 1);
    assert_eq!((s[0].id, s[0].warehouse.as_str()), (1, "ams"));
    assert_eq!(s[0].status, ShipmentStatus::Delivered);
    assert_eq!(s[0].lines[0].picked, 2);
    assert_eq!(s[0].delivered_at, snapshot.delivered_at);
    // Every prefix of the history, too: a v1 snapshot at each status.
    for n in 1..=events.len() {
        let folded = fold(None, &events[..n]).unwrap();
        assert_eq!(folded.shipments.len(), usize::from(n >= 2));
        if let Some(sh) = folded.shipments.first() {
            let expected = match folded.status {
                Status::Placed | Status::Confirmed => ShipmentStatus::Allocated,
                Status::Packed => ShipmentStatus::Packed,
                Status::Shipped => ShipmentStatus::Shipped,
                _ => ShipmentStatus::Delivered,
            };
            assert_eq!(sh.status, expected, "after {n} events");
        }
    }
    // An order cancelled after its stock was reserved: one cancelled shipment; before: none.
    let cancelled = V1_SNAPSHOT
        .replace("\"status\":\"returned\"", "\"status\":\"cancelled\"")
        .replace(",\"delivered_at\":\"2026-03-02T14:00:00Z\"", "");
    let o = decode_order(cancelled.as_bytes()).unwrap();
    assert_eq!(o.shipments[0].status, ShipmentStatus::Cancelled);
    assert_eq!(o.shipments[0].delivered_at, None);
    let no_warehouse = V1_SNAPSHOT.replace("\"warehouse\":\"ams\",\"shipments\"", "\"shipments\"");
    assert!(decode_order(no_warehouse.as_bytes())
        .unwrap()
        .shipments
        .is_empty());
}

/// v1 messages and reservations read with the meaning they had: no shipment named, one part.
#[test]
fn v1_outbox_entries_and_reservations_read_as_before_shipments() {
    let id = "00000000-0000-0000-0000-000000000001";
    let read = |action: &str| {
        decode_outbox(
            format!(r#"{{"effect":{{"order_id":"{id}","step":2,"action":{action}}}}}"#).as_bytes(),
        )
        .unwrap()
        .effect()
        .expect("an order's message")
        .kind
        .clone()
    };
    assert_eq!(
        read(r#"{"action":"reserve_stock","lines":[{"sku":"A","quantity":1}]}"#),
        EffectKind::ReserveStock {
            lines: vec![qty("A", 1)],
            country: None,
            allow_split: None
        }
    );
    assert_eq!(
        read(r#"{"action":"release_stock"}"#),
        EffectKind::ReleaseStock { shipments: None }
    );
    assert_eq!(
        read(r#"{"action":"commit_stock"}"#),
        EffectKind::CommitStock { shipment: None }
    );
    assert!(matches!(
        read(
            r#"{"action":"book_shipment","warehouse":"ams","parcels":[],"country":"NL","method":null}"#
        ),
        EffectKind::BookShipment { shipment: None, .. }
    ));

    let open = format!(
        r#"{{"order_id":"{id}","warehouse":"ams","lines":[{{"sku":"A","quantity":2}}],"state":"committed"}}"#
    );
    let r = decode_reservation(open.as_bytes()).unwrap();
    assert_eq!(
        r.parts,
        vec![ReservedPart {
            shipment: 1,
            warehouse: "ams".into(),
            lines: vec![qty("A", 2)],
            state: ReservationState::Committed,
        }]
    );
    assert_eq!(r.state, ReservationState::Committed);
    let tombstone =
        format!(r#"{{"order_id":"{id}","warehouse":null,"lines":[],"state":"released"}}"#);
    let r = decode_reservation(tombstone.as_bytes()).unwrap();
    assert!(r.parts.is_empty());
    assert_eq!(r.state, ReservationState::Released);
}

/// A reservation v1 can say is written as v1 — the bytes the release before wrote, which the
/// PostgreSQL stock function compares — and one it cannot as v2.
#[test]
fn reservations_that_fit_v1_keep_their_bytes() {
    let [single, tombstone, split, partly, waiting, only_waiting] =
        reservations().try_into().unwrap();
    let id = single.order_id;
    // What the release before wrote for the same records (`0x01` + its JSON).
    let before = |json: String| {
        let mut r = vec![1u8];
        r.extend_from_slice(json.as_bytes());
        r
    };
    assert_eq!(
        encode_reservation(&single).unwrap(),
        before(format!(
            r#"{{"order_id":"{id}","warehouse":"ams","lines":[{{"sku":"A","quantity":2}}],"state":"open"}}"#
        ))
    );
    assert_eq!(
        encode_reservation(&tombstone).unwrap(),
        before(format!(
            r#"{{"order_id":"{}","warehouse":null,"lines":[],"state":"released"}}"#,
            tombstone.order_id
        ))
    );
    for r in [&split, &partly, &waiting, &only_waiting] {
        let bytes = encode_reservation(r).unwrap();
        assert_eq!(bytes[0], 2, "{r:?} needs v2");
        assert_eq!(decode_reservation(&bytes).unwrap(), *r);
    }
    // What waits is written out; a reservation waiting for nothing leaves the field out.
    let bytes = encode_reservation(&waiting).unwrap();
    assert!(std::str::from_utf8(&bytes[1..])
        .unwrap()
        .contains(r#""backordered":[{"sku":"A","quantity":4}]"#));
    assert!(
        !std::str::from_utf8(&encode_reservation(&partly).unwrap()[1..])
            .unwrap()
            .contains("backordered")
    );
    // The same record encodes to the same bytes every time (the stock function compares them).
    assert_eq!(
        encode_reservation(&split).unwrap(),
        encode_reservation(&split.clone()).unwrap()
    );
}

/// One open part (fits v1), a tombstone (fits v1), two parts (v2), one part whose state is not
/// the record's (v2), one open part with units waiting (v2), nothing held and units waiting
/// (v2).
fn reservations() -> Vec<Reservation> {
    let part = |shipment, w: &str, sku: &str, q, state| ReservedPart {
        shipment,
        warehouse: w.into(),
        lines: vec![qty(sku, q)],
        state,
    };
    vec![
        Reservation {
            order_id: OrderId::from_u128(7),
            parts: vec![part(1, "ams", "A", 2, ReservationState::Open)],
            backordered: vec![],
            state: ReservationState::Open,
        },
        Reservation {
            order_id: OrderId::from_u128(8),
            parts: vec![],
            backordered: vec![],
            state: ReservationState::Released,
        },
        Reservation {
            order_id: OrderId::from_u128(10),
            parts: vec![
                part(1, "ams", "A", 1, ReservationState::Committed),
                part(2, "rtm", "A", 1, ReservationState::Released),
            ],
            backordered: vec![],
            state: ReservationState::Committed,
        },
        Reservation {
            order_id: OrderId::from_u128(11),
            parts: vec![part(2, "rtm", "B", 3, ReservationState::Open)],
            backordered: vec![],
            state: ReservationState::Open,
        },
        Reservation {
            order_id: OrderId::from_u128(12),
            parts: vec![part(1, "ams", "A", 1, ReservationState::Open)],
            backordered: vec![qty("A", 4)],
            state: ReservationState::Open,
        },
        Reservation {
            order_id: OrderId::from_u128(13),
            parts: vec![],
            backordered: vec![qty("B", 2), qty("C", 1)],
            state: ReservationState::Open,
        },
    ]
}

fn idempotency_record() -> crate::IdempotencyRecord {
    crate::IdempotencyRecord {
        fingerprint: "ab12".into(),
        order_id: OrderId::from_u128(9),
        version: 3,
    }
}

fn dead_letter() -> (crate::DeadLetter, crate::OutboxEntry) {
    let steps = lifecycles();
    let mut entry = steps
        .iter()
        .flat_map(|s| s.outbox.iter())
        .find(|e| e.channel.is_some())
        .unwrap()
        .clone();
    entry.attempts = 8;
    entry.last_error = Some("HTTP 503".into());
    entry.next_attempt_at = Some(t0() + Duration::minutes(3));
    let letter = crate::DeadLetter {
        message_id: entry.message_id(),
        order_id: entry.order_id(),
        kind: "confirmed".into(),
        channel: entry.channel.clone(),
        attempts: 8,
        last_error: None,
        failed_at: t0(),
        entry: None,
    };
    (letter, entry)
}

#[test]
fn records_round_trip() {
    for s in lifecycles() {
        let marked = encode_order(&s.after).unwrap();
        assert_eq!(marked[0], CURRENT);
        assert_eq!(decode_order(&marked).unwrap(), s.after);
        assert_eq!(decode_order_version(&marked).unwrap(), s.after.version);

        let marked = encode_events(&s.events).unwrap();
        assert_eq!(marked[0], CURRENT);
        assert_eq!(decode_events(&marked).unwrap(), s.events);
        let raw: Vec<String> = history_json(&marked)
            .unwrap()
            .raw_events()
            .unwrap()
            .iter()
            .map(|r| r.get().to_string())
            .collect();
        let expected: Vec<String> = s.events.iter().map(json).collect();
        assert_eq!(raw, expected);
        for e in &s.events {
            assert_eq!(decode_event(&encode_event(e).unwrap()).unwrap(), *e);
        }
        // An imported transition (its JSON as exported) reads back the same.
        let imported = events_record(&history_json(&marked).unwrap());
        assert_eq!(decode_events(&imported).unwrap(), s.events);

        for e in &s.outbox {
            let bytes = encode_outbox(e).unwrap();
            assert_eq!(bytes[0], CURRENT);
            assert_eq!(decode_outbox(&bytes).unwrap(), *e);
        }
    }
    // Unmarked records are v1: the snapshot reads as it did before versioning.
    assert_eq!(decode_order_version(V1_SNAPSHOT.as_bytes()).unwrap(), 13);
    for r in reservations() {
        assert_eq!(
            decode_reservation(&encode_reservation(&r).unwrap()).unwrap(),
            r
        );
    }
    let level = StockLevel {
        on_hand: 3,
        reserved: 1,
        incoming: 0,
    };
    assert_eq!(
        decode_stock_level(&encode_stock_level(&level).unwrap()).unwrap(),
        level
    );
    for sku in [
        crate::domain::inventory::Backorders::default(),
        crate::domain::inventory::Backorders {
            allowed: true,
            cap: 10,
            waiting: 4,
        },
    ] {
        let bytes = encode_backorders(&sku).unwrap();
        assert_eq!(bytes[0], 2);
        assert_eq!(decode_backorders(&bytes).unwrap(), sku);
    }
    // A sku record is new in v2: unmarked (v1) JSON is not one.
    assert!(decode_backorders(br#"{"allowed":true,"cap":1,"waiting":0}"#).is_err());
    assert_eq!(
        decode_stock_level(br#"{"on_hand":3,"reserved":1}"#).unwrap(),
        level
    );
    let rec = idempotency_record();
    assert_eq!(
        decode_idempotency(&encode_idempotency(&rec).unwrap()).unwrap(),
        rec
    );
    let (letter, entry) = dead_letter();
    let back = decode_dead_letter(&encode_dead_letter(&letter, &entry).unwrap()).unwrap();
    assert_eq!(
        back,
        crate::DeadLetter {
            entry: Some(entry),
            ..letter
        }
    );
}

#[test]
fn an_unknown_version_is_refused_not_misread() {
    let s = &lifecycles()[0];
    let mut record = encode_order(&s.after).unwrap();
    record[0] = CURRENT + 1;
    assert!(matches!(
        decode_order(&record),
        Err(StorageError::UnknownSchemaVersion(v)) if v == CURRENT + 1
    ));
    assert!(matches!(
        decode_order_version(&record),
        Err(StorageError::UnknownSchemaVersion(v)) if v == CURRENT + 1
    ));
    assert!(matches!(
        history_json(&record),
        Err(StorageError::UnknownSchemaVersion(v)) if v == CURRENT + 1
    ));
    assert!(matches!(
        split_version(b"\x7fjunk"),
        Err(StorageError::UnknownSchemaVersion(0x7f))
    ));
    assert!(decode_order(b"").is_err());
    assert_eq!(split_version(b"{}").unwrap(), (1, &b"{}"[..]));
    assert_eq!(split_version(b"[]").unwrap(), (1, &b"[]"[..]));
    assert_eq!(split_version(b"\x01{}").unwrap(), (1, &b"{}"[..]));
    assert_eq!(split_version(b"\x02{}").unwrap(), (2, &b"{}"[..]));
    // A v2 record (before promises) reads as v3 with none of v3's additions.
    let mut v2 = encode_order(&s.after).unwrap();
    v2[0] = V2;
    assert_eq!(decode_order(&v2).unwrap(), s.after);
}

#[test]
fn a_stored_value_the_domain_refuses_is_a_codec_error() {
    let s = &lifecycles()[0];
    let mut bad = vec![CURRENT];
    bad.extend_from_slice(json(&s.after).replace("\"EUR\"", "\"XXX\"").as_bytes());
    assert!(matches!(decode_order(&bad), Err(StorageError::Codec(_))));
    let bad_v1 = V1_SNAPSHOT.replace("\"EUR\"", "\"XXX\"");
    assert!(matches!(
        decode_order(bad_v1.as_bytes()),
        Err(StorageError::Codec(_))
    ));
}

/// The serde derives the release before versioning had on the storage crate's own types.
mod legacy {
    use crate::domain::Effect;
    use chrono::{DateTime, Utc};
    use serde::Serialize;

    #[derive(Serialize)]
    pub struct OutboxEntry {
        pub effect: Effect,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub channel: Option<String>,
        #[serde(default)]
        pub attempts: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub next_attempt_at: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub last_error: Option<String>,
    }

    impl From<&crate::OutboxEntry> for OutboxEntry {
        fn from(e: &crate::OutboxEntry) -> Self {
            OutboxEntry {
                effect: e.effect().expect("an order's message").clone(),
                channel: e.channel.clone(),
                attempts: e.attempts,
                next_attempt_at: e.next_attempt_at,
                last_error: e.last_error.clone(),
            }
        }
    }

    #[derive(Serialize)]
    pub struct IdempotencyRecord {
        pub fingerprint: String,
        pub order_id: uuid::Uuid,
        pub version: u32,
    }

    impl From<&crate::IdempotencyRecord> for IdempotencyRecord {
        fn from(r: &crate::IdempotencyRecord) -> Self {
            IdempotencyRecord {
                fingerprint: r.fingerprint.clone(),
                order_id: r.order_id,
                version: r.version,
            }
        }
    }

    #[derive(Serialize)]
    pub struct DeadLetter {
        pub message_id: String,
        pub order_id: uuid::Uuid,
        pub kind: String,
        pub channel: Option<String>,
        pub attempts: u32,
        pub last_error: Option<String>,
        pub failed_at: DateTime<Utc>,
    }

    impl From<&crate::DeadLetter> for DeadLetter {
        fn from(l: &crate::DeadLetter) -> Self {
            DeadLetter {
                message_id: l.message_id.clone(),
                order_id: l.order_id.expect("an order's message"),
                kind: l.kind.clone(),
                channel: l.channel.clone(),
                attempts: l.attempts,
                last_error: l.last_error.clone(),
                failed_at: l.failed_at,
            }
        }
    }

    #[derive(Serialize)]
    pub struct StoredDeadLetter {
        pub letter: DeadLetter,
        pub entry: OutboxEntry,
    }
}

/// Rough cost of writing through the v2 views instead of the domain types' own serde (run with
/// `--ignored --nocapture`; debug builds overstate the views, which are compiled unoptimised).
#[test]
#[ignore]
fn encode_cost() {
    let steps = lifecycles();
    let s = &steps[10];
    let n = 20_000;
    let time = |f: &dyn Fn() -> usize| {
        let t = std::time::Instant::now();
        let mut bytes = 0;
        for _ in 0..n {
            bytes += f();
        }
        (t.elapsed().as_nanos() as f64 / n as f64 / 1000.0, bytes / n)
    };
    let direct = time(&|| {
        serde_json::to_vec(&s.after).unwrap().len() + serde_json::to_vec(&s.events).unwrap().len()
    });
    let views =
        time(&|| encode_order(&s.after).unwrap().len() + encode_events(&s.events).unwrap().len());
    let build = time(&|| {
        let o = v2::Order::from(&s.after);
        let e = v2::events(&s.events);
        o.lines.len() + e.len()
    });
    println!("snapshot+events: domain serde {direct:?} µs/bytes, v2 views {views:?}, building views alone {build:?}");
}
