//! The wire `Event` must serialize exactly as the domain event does: `OrderDetail` passes the
//! engine's history (the domain events' JSON) through as these events.

use super::Event;
use chrono::{TimeZone, Utc};
use orderly_actors::domain::fixtures;
use orderly_actors::domain::shipping;
use orderly_actors::domain::*;

/// Events of every kind of change, from two orders walked through `decide`.
fn every_kind_of_event() -> Vec<orderly_actors::domain::Event> {
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
    let carriers = [fixtures::carrier("postnl", "PostNL", "3S", 30_000)];
    let mut out = Vec::new();
    let mut run = |state: &mut Option<Order>, cmd: Command, cause: Cause| {
        let events = decide(state.as_ref(), &cmd, &cause, now).expect("accepted");
        *state = fold(state.take(), &events);
        out.extend(events);
    };
    let lines = vec![LineQty {
        sku: "s".into(),
        quantity: 2,
    }];
    let mut a = None;
    let mut order = fixtures::new_order(
        &[("s", 2, 1250)],
        PaymentMethod::Card,
        InitialPaymentStatus::Pending,
    );
    order.external_ref = Some("web-1".into());
    order.customer.phone = Some("+31612345678".into());
    let id = OrderId::now_v7();
    run(
        &mut a,
        Command::Place {
            id,
            tracking_token: "a".repeat(40),
            order,
            payment_timeout_secs: 60,
        },
        Cause::Storefront,
    );
    let reserve = Command::StockAllocated {
        shipments: vec![Allocation {
            shipment: 1,
            warehouse: "ams".into(),
            lines: lines.clone(),
            plan: None,
        }],
        reason: "ams can serve every line".into(),
    };
    run(&mut a, reserve, Cause::InventoryActor);
    let pay = Command::RecordPayment {
        status: PaymentUpdate::Captured,
        amount: 2500,
        reference: "psp-1".into(),
    };
    run(&mut a, pay, Cause::Storefront);
    let picks = Command::AcknowledgePicks {
        shipment: ShipmentRef::At("ams".into()),
        lines: lines.clone(),
    };
    run(&mut a, picks, Cause::Warehouse);
    let parcels = vec![Parcel { weight_grams: 900 }];
    let pack = Command::Pack {
        shipment: ShipmentRef::Id(1),
        parcels: parcels.clone(),
    };
    run(&mut a, pack, Cause::Warehouse);
    let step = a.as_ref().unwrap().version;
    let network =
        shipping::network::Network::new(carriers.to_vec(), vec![], vec![], vec![]).unwrap();
    let consignment = shipping::network::Consignment {
        warehouse: &"ams".into(),
        country: "NL",
        postal_code: "1015 CJ",
        method: None,
        value: 2500,
        cash_on_delivery: false,
        parcels: &parcels,
    };
    let booking = network.book(id, step, &consignment, now).expect("booked");
    run(
        &mut a,
        Command::RecordBooking {
            shipment: Some(1),
            booking: booking.clone(),
        },
        Cause::CarrierActor,
    );
    run(
        &mut a,
        Command::Handover { shipment: None },
        Cause::Warehouse,
    );
    for (event_id, kind, location) in [
        (
            "e1",
            CarrierEventKind::InTransit,
            Some("Utrecht hub".to_string()),
        ),
        ("e2", CarrierEventKind::Delivered, None),
    ] {
        let scan = Command::CarrierEvent {
            carrier: "postnl".into(),
            tracking_number: booking.tracking_number.clone(),
            event_id: event_id.into(),
            kind,
            occurred_at: now,
            location,
            estimated_delivery: None,
            code: None,
            description: None,
            reason: None,
            exceptions: Default::default(),
        };
        run(&mut a, scan, Cause::Carrier("postnl".into()));
    }
    let ret = Command::RequestReturn {
        lines: vec![LineQty {
            sku: "s".into(),
            quantity: 1,
        }],
        reason: "too big".into(),
        window_days: 30,
    };
    run(&mut a, ret, Cause::Storefront);
    let receive = Command::ReceiveReturn {
        warehouse: "ams".into(),
        lines: vec![LineQty {
            sku: "s".into(),
            quantity: 1,
        }],
    };
    run(&mut a, receive, Cause::Warehouse);

    let mut b = None;
    let place_b = Command::Place {
        id: OrderId::now_v7(),
        tracking_token: "b".repeat(40),
        order: fixtures::new_order(
            &[("s", 1, 100)],
            PaymentMethod::Cod,
            InitialPaymentStatus::Pending,
        ),
        payment_timeout_secs: 60,
    };
    run(&mut b, place_b, Cause::Storefront);
    let short = Command::StockUnavailable {
        shortages: vec![Shortage {
            sku: "s".into(),
            requested: 1,
            available: 0,
        }],
        reason: "out of stock: s".into(),
    };
    run(&mut b, short, Cause::InventoryActor);

    // A split order, partly handed over, then cancelled: the rest is cancelled.
    let mut c = None;
    let place_c = Command::Place {
        id: OrderId::now_v7(),
        tracking_token: "c".repeat(40),
        order: fixtures::new_order(
            &[("s", 1, 100), ("t", 1, 100)],
            PaymentMethod::Cod,
            InitialPaymentStatus::Pending,
        ),
        payment_timeout_secs: 60,
    };
    run(&mut c, place_c, Cause::Storefront);
    let one = |sku: &str| {
        vec![LineQty {
            sku: sku.into(),
            quantity: 1,
        }]
    };
    let split = Command::StockAllocated {
        shipments: vec![
            Allocation {
                shipment: 1,
                warehouse: "ams".into(),
                lines: one("s"),
                plan: None,
            },
            Allocation {
                shipment: 2,
                warehouse: "rtm".into(),
                lines: one("t"),
                plan: None,
            },
        ],
        reason: "split".into(),
    };
    run(&mut c, split, Cause::InventoryActor);
    for cmd in [
        Command::AcknowledgePicks {
            shipment: ShipmentRef::Id(1),
            lines: one("s"),
        },
        Command::Pack {
            shipment: ShipmentRef::Id(1),
            parcels: parcels.clone(),
        },
        Command::RecordBooking {
            shipment: Some(1),
            booking: booking.clone(),
        },
        Command::Handover { shipment: Some(1) },
        Command::Cancel {
            reason: "rest not needed".into(),
        },
    ] {
        run(&mut c, cmd, Cause::Warehouse);
    }
    // Recorded before allocation: no command makes it any more.
    out.push(orderly_actors::domain::Event {
        seq: 2,
        at: now,
        by: Cause::InventoryActor,
        change: Change::StockReserved {
            warehouse: "ams".into(),
        },
    });
    out
}

#[test]
fn wire_events_are_the_domain_events_json() {
    let events = every_kind_of_event();
    let mut kinds: Vec<&str> = events.iter().map(|e| e.change.name()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert!(
        kinds.len() >= 17,
        "every kind of change is covered: {kinds:?}"
    );
    for e in events {
        let domain = serde_json::to_value(&e).unwrap();
        let wire = serde_json::to_value(Event::from(e)).unwrap();
        assert_eq!(wire, domain);
    }
}
