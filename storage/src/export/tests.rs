use super::format;
use super::*;
use crate::conformance::{new_order, t0, Step};
use crate::domain::{PaymentMethod, TimerKind};
use crate::memory::MemoryStorage;
use crate::roles::*;

/// A small store: one placed order (timer, outbox entry, idempotency record) and a stock cell.
fn store() -> (MemoryStorage, Step) {
    let s = MemoryStorage::new();
    let placed = Step::place(new_order(&[("SKU-1", 1)], PaymentMethod::Card), t0())
        .with_idempotency("k", "fp");
    placed.commit(&s);
    crate::conformance::wait(
        s.write_stock(&crate::StockChange {
            cells: vec![crate::CellDelta {
                warehouse: "ams".into(),
                sku: "SKU-1".into(),
                on_hand: 5,
                reserved: 0,
                incoming: 0,
                counted: None,
            }],
            ..Default::default()
        })
        .unwrap(),
    );
    (s, placed)
}

fn exported(s: &dyn Storage) -> String {
    let mut out = Vec::new();
    export(s, &mut out, "memory").unwrap();
    String::from_utf8(out).unwrap()
}

fn import_text(text: &str) -> Result<Counts, ExportError> {
    import(&MemoryStorage::new(), &mut text.as_bytes())
}

/// `text` with line `n` (1-based) replaced by `with`.
fn replace_line(text: &str, n: usize, with: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines[n - 1] = with;
    lines.join("\n") + "\n"
}

#[test]
fn a_file_has_a_header_records_tagged_by_type_and_a_closing_line() {
    let (s, placed) = store();
    let text = exported(&s);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["format"], "orderly-export");
    assert_eq!(lines[0]["version"], 1);
    assert_eq!(lines[0]["schema"], 2);
    assert_eq!(lines[0]["source"], "memory");
    assert!(lines[0]["created_at"].is_string());
    let types: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["order", "idempotency", "stock", "outbox", "timer", "end"]
    );
    // The stored v2 shapes: the snapshot, the history per transition, the retry state.
    assert_eq!(lines[1]["order"]["id"], placed.after.id.to_string());
    assert_eq!(lines[1]["order"]["version"], placed.after.version);
    let history = lines[1]["transitions"].as_array().unwrap();
    assert_eq!(history.len(), 1, "one transition");
    assert_eq!(history[0][0]["type"], "placed");
    assert_eq!(lines[2]["key"], "k");
    assert_eq!(lines[3]["level"]["on_hand"], 5);
    assert_eq!(
        lines[4]["entry"]["effect"]["action"]["action"],
        "reserve_stock"
    );
    assert_eq!(lines[4]["entry"]["attempts"], 0);
    assert_eq!(lines[5]["kind"], "payment_due");
    assert_eq!(lines[6]["counts"]["order"], 1);
    assert_eq!(lines[6]["counts"]["timer"], 1);
    assert_eq!(lines[6]["counts"]["dead_letter"], 0);
}

#[test]
fn every_record_reads_back_as_it_was_written() {
    let (s, placed) = store();
    let mut records = Vec::new();
    s.export(&mut |r| {
        records.push(r);
        Ok(())
    })
    .unwrap();
    use crate::domain::inventory::{Reservation, ReservationState, ReservedPart};
    let part = |shipment, warehouse: &str, state| ReservedPart {
        shipment,
        warehouse: warehouse.into(),
        lines: vec![crate::domain::LineQty {
            sku: "SKU-1".into(),
            quantity: 1,
        }],
        state,
    };
    let single = Reservation {
        order_id: placed.after.id,
        parts: vec![part(1, "ams", ReservationState::Open)],
        backordered: vec![],
        state: ReservationState::Open,
    };
    let split = Reservation {
        order_id: crate::domain::OrderId::from_u128(5),
        parts: vec![
            part(1, "ams", ReservationState::Committed),
            part(2, "rtm", ReservationState::Open),
        ],
        backordered: vec![],
        state: ReservationState::Open,
    };
    let waiting = Reservation {
        order_id: crate::domain::OrderId::from_u128(6),
        parts: vec![part(1, "ams", ReservationState::Open)],
        backordered: vec![crate::domain::LineQty {
            sku: "SKU-2".into(),
            quantity: 3,
        }],
        state: ReservationState::Open,
    };
    let mut entry = placed.outbox[0].clone();
    entry.attempts = 2;
    entry.last_error = Some("nope".into());
    records.extend([
        ExportRecord::Backorders {
            sku: "SKU-2".into(),
            backorders: crate::domain::inventory::Backorders {
                allowed: true,
                cap: 10,
                waiting: 3,
            },
        },
        ExportRecord::Reservation(single),
        ExportRecord::Reservation(split),
        ExportRecord::Reservation(waiting),
        ExportRecord::OrderStep {
            order_id: placed.after.id,
            step: 7,
        },
        ExportRecord::DeadLetter(DeadLetter {
            message_id: entry.message_id(),
            order_id: Some(placed.after.id),
            kind: "reserve_stock".into(),
            channel: None,
            attempts: 2,
            last_error: Some("nope".into()),
            failed_at: t0(),
            entry: Some(entry),
        }),
    ]);
    let file = format::file("memory", &records).unwrap();
    let text = String::from_utf8(file).unwrap();
    let mut lines = text.lines();
    let schema = super::format::check_header(lines.next().unwrap()).unwrap();
    assert_eq!(schema, format::SCHEMA);
    for (i, r) in records.iter().enumerate() {
        match format::decode(schema, i as u64 + 2, lines.next().unwrap()).unwrap() {
            format::Line::Record(back) => assert_eq!(&back, r),
            other => panic!("a record, not {other:?}"),
        }
    }
    assert!(matches!(
        format::decode(schema, 99, lines.next().unwrap()).unwrap(),
        format::Line::End(c) if c.total() == records.len() as u64
    ));
}

#[test]
fn an_import_stores_everything_and_counts_it() {
    let (s, placed) = store();
    let text = exported(&s);
    let target = MemoryStorage::new();
    let counts = import(&target, &mut text.as_bytes()).unwrap();
    assert_eq!(counts.order, 1);
    assert_eq!(counts.total(), 5);
    assert_eq!(
        target.load_order(placed.after.id).unwrap(),
        Some(placed.after.clone())
    );
    assert_eq!(
        target.pending_timers(10).unwrap()[0].kind,
        TimerKind::PaymentDue
    );
    // Windows line endings read the same.
    let crlf = text.replace('\n', "\r\n");
    assert_eq!(import_text(&crlf).unwrap(), counts);
}

#[test]
fn a_bad_file_is_refused_with_the_line_that_is_wrong() {
    let (s, _) = store();
    let text = exported(&s);
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();

    assert!(matches!(import_text(""), Err(ExportError::NotAnExport(_))));
    assert!(matches!(
        import_text("hello\n"),
        Err(ExportError::NotAnExport(_))
    ));
    assert!(matches!(
        import_text("{\"format\":\"something-else\",\"version\":1}\n"),
        Err(ExportError::NotAnExport(_))
    ));
    assert!(matches!(
        import_text(&replace_line(
            &text,
            1,
            r#"{"format":"orderly-export","version":2,"schema":1,"source":"x"}"#
        )),
        Err(ExportError::UnsupportedVersion(2))
    ));
    // Truncated: the closing line is missing, or the file stops inside a record.
    let without_end = lines[..n - 1].join("\n") + "\n";
    assert!(matches!(
        import_text(&without_end),
        Err(ExportError::Truncated { lines }) if lines == n as u64 - 1
    ));
    let cut = &text[..text.len() - lines[n - 1].len() - lines[n - 2].len() / 2 - 2];
    assert!(matches!(
        import_text(cut),
        Err(ExportError::BadLine { line, .. } | ExportError::BadRecord { line, .. }) if line == n as u64 - 1
    ));
    // A record dropped: the closing line's counts do not match.
    let dropped = [&lines[..3], &lines[4..]].concat().join("\n") + "\n";
    assert!(matches!(
        import_text(&dropped),
        Err(ExportError::CountMismatch { line, .. }) if line == n as u64 - 1
    ));
    assert!(matches!(
        import_text(&(text.clone() + "{}\n")),
        Err(ExportError::AfterEnd { line }) if line == n as u64 + 1
    ));
    for (bad, want_line) in [
        ("", 2),
        ("[1,2]", 2),
        (r#"{"no":"type"}"#, 2),
        (r#"{"type":"mystery"}"#, 2),
        ("\u{0}", 2),
    ] {
        let err = import_text(&replace_line(&text, 2, bad)).unwrap_err();
        assert!(
            matches!(err, ExportError::BadLine { line, .. } if line == want_line),
            "{bad:?}: {err}"
        );
        assert!(err.to_string().starts_with("line 2: "), "{err}");
    }
    let order_line = lines[1];
    for bad in [
        // A field of the wrong type, a currency that does not exist, a gap in the history, a
        // history that does not reach the snapshot's version, a transition with no events.
        order_line.replacen("\"version\":1", "\"version\":\"one\"", 1),
        order_line.replacen("\"currency\":\"EUR\"", "\"currency\":\"XXX\"", 1),
        order_line.replacen("\"seq\":1", "\"seq\":2", 1),
        order_line.replacen("\"version\":1", "\"version\":3", 1),
        order_line.replacen("\"transitions\":[", "\"transitions\":[[],", 1),
        order_line.replacen("\"transitions\":[", "\"transitions\":[{},", 1),
    ] {
        assert_ne!(bad, order_line, "the test changes the line");
        let err = import_text(&replace_line(&text, 2, &bad)).unwrap_err();
        assert!(
            matches!(
                err,
                ExportError::BadRecord {
                    line: 2,
                    kind: "order",
                    ..
                }
            ),
            "{bad}: {err}"
        );
    }
    let stock_line = lines[3];
    for bad in [
        stock_line.replacen("\"on_hand\":5", "\"on_hand\":-5", 1),
        stock_line.replacen("\"sku\":\"SKU-1\"", "\"sku\":\"\"", 1),
    ] {
        assert_ne!(bad, stock_line);
        let err = import_text(&replace_line(&text, 4, &bad)).unwrap_err();
        assert!(
            matches!(
                err,
                ExportError::BadRecord {
                    line: 4,
                    kind: "stock",
                    ..
                }
            ),
            "{bad}: {err}"
        );
    }
    // A sku record whose waiting units exceed its cap, or are negative, or has no sku.
    let sku_line =
        r#"{"type":"backorders","sku":"SKU-1","backorders":{"allowed":true,"cap":2,"waiting":1}}"#;
    let with_sku = |l: &str| {
        lines[..4].join("\n")
            + "\n"
            + l
            + "\n"
            + &lines[4..n - 1].join("\n")
            + "\n"
            + &lines[n - 1].replacen("\"stock\":1", "\"stock\":1,\"backorders\":1", 1)
            + "\n"
    };
    let counts = import_text(&with_sku(sku_line)).expect("a good sku line imports");
    assert_eq!(counts.backorders, 1);
    for bad in [
        sku_line.replacen("\"waiting\":1", "\"waiting\":3", 1),
        sku_line.replacen("\"waiting\":1", "\"waiting\":-1", 1),
        sku_line.replacen("\"cap\":2", "\"cap\":-2", 1),
        sku_line.replacen("\"sku\":\"SKU-1\"", "\"sku\":\"\"", 1),
    ] {
        let err = import_text(&with_sku(&bad)).unwrap_err();
        assert!(
            matches!(
                err,
                ExportError::BadRecord {
                    line: 5,
                    kind: "backorders",
                    ..
                }
            ),
            "{bad}: {err}"
        );
    }
    // A timer of an order the file never gave.
    let stray = lines[..5].join("\n")
        + "\n"
        + r#"{"type":"timer","order_id":"01890a5d-ac96-774b-bcce-b302099a8057","kind":"payment_due","due":"2026-03-02T10:00:00Z"}"#
        + "\n"
        + &lines[5..].join("\n")
        + "\n";
    assert!(matches!(
        import_text(&stray),
        Err(ExportError::BadRecord {
            line: 6,
            kind: "timer",
            ..
        })
    ));
}

#[test]
fn an_import_refuses_a_store_that_is_not_empty() {
    let (s, _) = store();
    let text = exported(&s);
    assert!(matches!(
        import(&s, &mut text.as_bytes()),
        Err(ExportError::TargetNotEmpty("orders"))
    ));
    let stock_only = MemoryStorage::new();
    crate::conformance::wait(
        stock_only
            .write_stock(&crate::StockChange {
                cells: vec![crate::CellDelta {
                    warehouse: "ams".into(),
                    sku: "X".into(),
                    on_hand: 1,
                    reserved: 0,
                    incoming: 0,
                    counted: None,
                }],
                ..Default::default()
            })
            .unwrap(),
    );
    assert!(matches!(
        import(&stock_only, &mut text.as_bytes()),
        Err(ExportError::TargetNotEmpty("stock cells"))
    ));
}

#[test]
fn a_failing_sink_stops_the_export() {
    let (s, _) = store();
    let mut seen = 0;
    let err = s
        .export(&mut |_| {
            seen += 1;
            Err(StorageError::Conflict("stop".into()))
        })
        .unwrap_err();
    assert!(matches!(err, StorageError::Conflict(_)));
    assert_eq!(seen, 1);
}

/// A file exported by the release before shipments (stored schema 1) imports: its order reads
/// as one shipment, its reservation as one part, its messages without a shipment, and its
/// history as it was.
#[test]
fn a_schema_1_file_imports_into_todays_shapes() {
    use crate::domain::inventory::ReservationState;
    use crate::domain::{EffectKind, ShipmentStatus, Status};
    let id = "0190f3a0-0000-7000-8000-000000000001";
    let placed = format!(
        r#"[{{"seq":1,"at":"2026-03-02T09:00:00Z","by":"storefront","type":"placed","id":"{id}","tracking_token":"tok-1","order":{{"customer":{{"id":"c1","email":"a@example.nl"}},"currency":"EUR","lines":[{{"sku":"A","quantity":1,"unit_price":500}}],"shipping":{{"address":{{"name":"Jan","line1":"Straat 1","city":"Amsterdam","postal_code":"1000 AA","country":"NL"}}}},"payment":{{"method":"cod","status":"pending"}}}}}}]"#
    );
    let reserved = r#"[{"seq":2,"at":"2026-03-02T09:00:01Z","by":"inventory_actor","type":"stock_reserved","warehouse":"ams"},{"seq":3,"at":"2026-03-02T09:00:01Z","by":"inventory_actor","type":"confirmed"}]"#;
    let file = [
        r#"{"format":"orderly-export","version":1,"schema":1,"source":"sled"}"#.to_string(),
        format!(
            r#"{{"type":"order","order":{{"id":"{id}","version":3,"tracking_token":"tok-1","status":"confirmed","customer":{{"id":"c1","email":"a@example.nl"}},"currency":"EUR","lines":[{{"sku":"A","quantity":1,"unit_price":500,"picked":0}}],"shipping":{{"address":{{"name":"Jan","line1":"Straat 1","city":"Amsterdam","postal_code":"1000 AA","country":"NL"}}}},"payment":{{"method":"cod","status":"pending"}},"stock":"reserved","warehouse":"ams","shipments":[],"placed_at":"2026-03-02T09:00:00Z","updated_at":"2026-03-02T09:00:01Z"}},"transitions":[{placed},{reserved}]}}"#
        ),
        format!(
            r#"{{"type":"reservation","reservation":{{"order_id":"{id}","warehouse":"ams","lines":[{{"sku":"A","quantity":1}}],"state":"open"}}}}"#
        ),
        format!(
            r#"{{"type":"outbox","entry":{{"effect":{{"order_id":"{id}","step":1,"action":{{"action":"reserve_stock","lines":[{{"sku":"A","quantity":1}}]}}}},"attempts":0}}}}"#
        ),
        r#"{"type":"end","counts":{"order":1,"reservation":1,"outbox":1}}"#.to_string(),
    ]
    .join("\n")
        + "\n";
    let s = MemoryStorage::new();
    import(&s, &mut file.as_bytes()).expect("a schema 1 file imports");
    let id: crate::domain::OrderId = id.parse().unwrap();
    let order = s.load_order(id).unwrap().unwrap();
    assert_eq!(order.status, Status::Confirmed);
    assert_eq!(order.shipments.len(), 1);
    assert_eq!(order.shipments[0].status, ShipmentStatus::Allocated);
    assert_eq!(
        crate::domain::fold(None, &s.history(id, 3).unwrap()),
        Some(order.clone()),
        "the snapshot is what its history folds to"
    );
    assert_eq!(s.picks("ams", None, 10).unwrap(), vec![order]);
    let history = s.history_json(id, 3).unwrap();
    assert_eq!(history[1].as_bytes(), reserved.as_bytes());
    let r = s.reservation(id).unwrap().unwrap();
    assert_eq!((r.parts.len(), r.state), (1, ReservationState::Open));
    let entry = &s.claim_outbox().unwrap()[0];
    assert!(matches!(
        entry.effect().unwrap().kind,
        EffectKind::ReserveStock {
            country: None,
            allow_split: None,
            ..
        }
    ));
    // Exported again, it is a schema 2 file that imports into the same store contents.
    let again = exported(&s);
    assert!(again.starts_with(r#"{"format":"orderly-export","version":1,"schema":2"#));
    let t = MemoryStorage::new();
    import(&t, &mut again.as_bytes()).unwrap();
    assert_eq!(
        exported(&t).lines().skip(1).collect::<Vec<_>>(),
        again.lines().skip(1).collect::<Vec<_>>()
    );
}
