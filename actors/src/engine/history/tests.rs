use super::*;
use crate::domain::fixtures;
use crate::domain::{decide, fold, Cause, Command, InitialPaymentStatus, OrderId, PaymentMethod};
use chrono::TimeZone;

/// A placed, reserved, packed, booked, shipped and scanned order's events.
fn events() -> Vec<Event> {
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
    let place = Command::Place {
        id: OrderId::now_v7(),
        tracking_token: "a".repeat(40),
        order: fixtures::new_order(
            &[("s", 1, 100)],
            PaymentMethod::Cod,
            InitialPaymentStatus::Pending,
        ),
        payment_timeout_secs: 60,
    };
    let mut all = decide(None, &place, &Cause::Storefront, now).unwrap();
    let scan = Command::CarrierEvent {
        carrier: "postnl".into(),
        tracking_number: "3S1".into(),
        event_id: "e1".into(),
        kind: CarrierEventKind::InTransit,
        occurred_at: now,
        location: Some("Utrecht".into()),
        estimated_delivery: None,
        code: None,
        description: None,
        reason: None,
        exceptions: Default::default(),
    };
    for (cmd, cause) in [
        (
            Command::StockAllocated {
                shipments: vec![crate::domain::Allocation {
                    shipment: 1,
                    warehouse: "ams".into(),
                    lines: vec![crate::domain::LineQty {
                        sku: "s".into(),
                        quantity: 1,
                    }],
                    plan: None,
                }],
                reason: "ams can serve every line".into(),
            },
            Cause::InventoryActor,
        ),
        (Command::Cancel { reason: "x".into() }, Cause::Storefront),
    ] {
        let state = fold(None, &all);
        all.extend(decide(state.as_ref(), &cmd, &cause, now).unwrap());
    }
    // A scan event as stored (decide would refuse it on a cancelled order; its JSON is what counts).
    all.push(Event {
        seq: all.len() as u32 + 1,
        at: now,
        by: Cause::Carrier("postnl".into()),
        change: match scan {
            Command::CarrierEvent {
                carrier,
                event_id,
                kind,
                occurred_at,
                location,
                ..
            } => Change::CarrierScanned {
                carrier,
                event_id,
                kind,
                occurred_at,
                location,
                shipment: Some(1),
                estimated_delivery: None,
                code: None,
                description: None,
            },
            _ => unreachable!(),
        },
    });
    all
}

/// The events as storage hands them over: the first alone, the rest as one transition.
fn as_json(events: &[Event]) -> History {
    let (first, rest) = events.split_at(1);
    History::from_json(
        [first, rest]
            .iter()
            .map(|t| EventsJson::new(serde_json::to_vec(t).unwrap()))
            .collect(),
    )
}

#[test]
fn both_forms_serialize_decode_and_reduce_alike() {
    let events = events();
    let typed = History::from(events.clone());
    let json = as_json(&events);
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        serde_json::to_value(&json).unwrap()
    );
    assert_eq!(json.events().unwrap(), events);
    let milestones = json.milestones().unwrap();
    assert_eq!(milestones, typed.milestones().unwrap());
    let scan = milestones.last().unwrap();
    assert_eq!(scan.change, "carrier_scanned");
    assert_eq!(scan.scan, Some(CarrierEventKind::InTransit));
    assert_eq!(scan.location.as_deref(), Some("Utrecht"));
    assert_eq!(milestones[0].change, "placed");
    assert_eq!(milestones[0].scan, None);
}
