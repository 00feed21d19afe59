use super::*;
use crate::conformance::{new_order, t0, Step};
use crate::domain::inventory::{Reservation, ReservationState, StockLevel};
use crate::domain::*;
use chrono::Duration;
use serde::Serialize;

/// A card order through its whole life and a COD order cancelled for a shortage: every kind of
/// event, the order after each transition, and every outbox entry they caused.
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
    let s = push(&s.then(
        Command::StockReserved {
            warehouse: "ams".into(),
        },
        Cause::InventoryActor,
        t,
    ));
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
            warehouse: "ams".into(),
            lines: vec![
                LineQty {
                    sku: "SKU-1".into(),
                    quantity: 2,
                },
                LineQty {
                    sku: "SKU-2".into(),
                    quantity: 1,
                },
            ],
        },
        Cause::Warehouse,
        t,
    ));
    let s = push(&s.then(
        Command::Pack {
            warehouse: "ams".into(),
            parcels: vec![Parcel { weight_grams: 1200 }],
        },
        Cause::Warehouse,
        t,
    ));
    let s = push(&s.then(
        Command::RecordBooking {
            booking: Booking {
                carrier: "postnl".into(),
                carrier_name: "PostNL".into(),
                service: "standard".into(),
                tracking_number: "3S123".into(),
                estimated_delivery: t.date_naive() + Duration::days(1),
            },
        },
        Cause::CarrierActor,
        t,
    ));
    let s = push(&s.then(Command::Handover, Cause::Warehouse, t));
    let scan = |id: &str, kind, location: Option<&str>| Command::CarrierEvent {
        carrier: "postnl".into(),
        event_id: id.into(),
        kind,
        occurred_at: t + Duration::hours(2),
        location: location.map(Into::into),
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
            lines: vec![LineQty {
                sku: "SKU-1".into(),
                quantity: 1,
            }],
            reason: "too small".into(),
            window_days: 30,
        },
        Cause::Storefront,
        t + Duration::days(2),
    ));
    push(&s.then(
        Command::ReceiveReturn {
            warehouse: "ams".into(),
            lines: vec![LineQty {
                sku: "SKU-1".into(),
                quantity: 1,
            }],
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
    steps
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

#[test]
fn the_lifecycles_cover_every_kind_of_event_status_and_action() {
    let steps = lifecycles();
    let events: Vec<&str> = steps
        .iter()
        .flat_map(|s| s.events.iter().map(|e| e.change.name()))
        .collect();
    for name in [
        "placed",
        "stock_reserved",
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
    ] {
        assert!(events.contains(&name), "no {name} event");
    }
    let statuses: Vec<Status> = steps.iter().map(|s| s.after.status).collect();
    for st in Status::ALL {
        assert!(statuses.contains(&st), "no order {st:?}");
    }
    let actions: Vec<&str> = steps
        .iter()
        .flat_map(|s| s.outbox.iter().map(|e| e.effect.kind.name()))
        .collect();
    for a in [
        "reserve_stock",
        "release_stock",
        "commit_stock",
        "book_shipment",
        "restock",
    ] {
        assert!(actions.contains(&a), "no {a} message");
    }
    let causes: Vec<&Cause> = steps
        .iter()
        .flat_map(|s| s.events.iter().map(|e| &e.by))
        .collect();
    assert!(causes.contains(&&Cause::Carrier("postnl".into())));
    assert!(causes.contains(&&Cause::PaymentTimer));
}

/// v1 is the shape the release before versioning wrote (the domain types' serde shape then and
/// now): the same JSON, byte for byte, so unmarked records read as v1 and `history_json` can
/// pass stored events through as domain event JSON.
#[test]
fn same_json_as_the_domain() {
    for s in lifecycles() {
        assert_eq!(json(&v1::Order::from(&s.after)), json(&s.after));
        assert_eq!(json(&v1::events(&s.events)), json(&s.events));
        for e in &s.events {
            assert_eq!(json(&v1::Event::from(e)), json(e));
        }
        for entry in &s.outbox {
            assert_eq!(
                json(&v1::OutboxEntry::from(entry)),
                json(&legacy::OutboxEntry::from(entry))
            );
        }
    }
    let level = StockLevel {
        on_hand: 7,
        reserved: 2,
    };
    assert_eq!(json(&v1::StockLevel::from(&level)), json(&level));
    for r in reservations() {
        assert_eq!(json(&v1::Reservation::from(&r)), json(&r));
    }
    let rec = idempotency_record();
    assert_eq!(
        json(&v1::IdempotencyRecord::from(&rec)),
        json(&legacy::IdempotencyRecord::from(&rec))
    );
    let (letter, entry) = dead_letter();
    assert_eq!(
        json(&v1::DeadLetter::new(&letter, &entry)),
        json(&legacy::StoredDeadLetter {
            letter: legacy::DeadLetter::from(&letter),
            entry: legacy::OutboxEntry::from(&entry),
        })
    );
}

fn reservations() -> Vec<Reservation> {
    vec![
        Reservation {
            order_id: OrderId::from_u128(7),
            warehouse: Some("ams".into()),
            lines: vec![LineQty {
                sku: "A".into(),
                quantity: 2,
            }],
            state: ReservationState::Open,
        },
        Reservation {
            order_id: OrderId::from_u128(8),
            warehouse: None,
            lines: vec![],
            state: ReservationState::Released,
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
        order_id: entry.effect.order_id,
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
fn records_round_trip_marked_and_unmarked() {
    for s in lifecycles() {
        let marked = encode_order(&s.after).unwrap();
        assert_eq!(marked[0], CURRENT);
        assert_eq!(decode_order(&marked).unwrap(), s.after);
        assert_eq!(decode_order(json(&s.after).as_bytes()).unwrap(), s.after);
        assert_eq!(decode_order_version(&marked).unwrap(), s.after.version);
        assert_eq!(
            decode_order_version(json(&s.after).as_bytes()).unwrap(),
            s.after.version
        );

        let marked = encode_events(&s.events).unwrap();
        assert_eq!(marked[0], CURRENT);
        assert_eq!(decode_events(&marked).unwrap(), s.events);
        assert_eq!(decode_events(json(&s.events).as_bytes()).unwrap(), s.events);
        let raw: Vec<String> = history_json(&marked)
            .unwrap()
            .raw_events()
            .unwrap()
            .iter()
            .map(|r| r.get().to_string())
            .collect();
        let expected: Vec<String> = s.events.iter().map(json).collect();
        assert_eq!(raw, expected);

        for e in &s.outbox {
            assert_eq!(decode_outbox(&encode_outbox(e).unwrap()).unwrap(), *e);
            let unmarked = json(&legacy::OutboxEntry::from(e));
            assert_eq!(decode_outbox(unmarked.as_bytes()).unwrap(), *e);
        }
    }
    for r in reservations() {
        assert_eq!(
            decode_reservation(&encode_reservation(&r).unwrap()).unwrap(),
            r
        );
        assert_eq!(decode_reservation(json(&r).as_bytes()).unwrap(), r);
    }
    let level = StockLevel {
        on_hand: 3,
        reserved: 1,
    };
    assert_eq!(
        decode_stock_level(&encode_stock_level(&level).unwrap()).unwrap(),
        level
    );
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
    record[0] = 2;
    assert!(matches!(
        decode_order(&record),
        Err(StorageError::UnknownSchemaVersion(2))
    ));
    assert!(matches!(
        split_version(b"\x7fjunk"),
        Err(StorageError::UnknownSchemaVersion(0x7f))
    ));
    assert!(decode_order(b"").is_err());
    assert_eq!(split_version(b"{}").unwrap(), (1, &b"{}"[..]));
    assert_eq!(split_version(b"[]").unwrap(), (1, &b"[]"[..]));
    assert_eq!(split_version(b"\x01{}").unwrap(), (1, &b"{}"[..]));
}

#[test]
fn a_stored_value_the_domain_refuses_is_a_codec_error() {
    let s = &lifecycles()[0];
    let bad = json(&s.after).replace("\"EUR\"", "\"XXX\"");
    assert!(matches!(
        decode_order(bad.as_bytes()),
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
                effect: e.effect.clone(),
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
                order_id: l.order_id,
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

/// Rough cost of writing through the v1 views instead of the domain types' own serde (run with
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
        let o = v1::Order::from(&s.after);
        let e = v1::events(&s.events);
        o.lines.len() + e.len()
    });
    println!("snapshot+events: domain serde {direct:?} µs/bytes, v1 views {views:?}, building views alone {build:?}");
}
