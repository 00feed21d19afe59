use super::*;
use chrono::TimeZone;

#[test]
fn timer_keys_round_trip_and_sort_by_due() {
    let id = OrderId::from_u128(42);
    let early = Timer {
        order_id: id,
        kind: TimerKind::PaymentDue,
        due: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    };
    let late = Timer {
        due: early.due + chrono::Duration::seconds(1),
        ..early.clone()
    };
    assert_eq!(parse_timer(&timer(&early)), Some(early.clone()));
    assert!(timer(&early) < timer(&late));
    assert!(timer(&early) < timer_upper(early.due));
    assert!(timer(&late) >= timer_upper(early.due));
}

#[test]
fn stock_keys_round_trip() {
    assert_eq!(
        parse_stock(&stock("ams", "SKU-1")),
        Some(CellKey::new("ams", "SKU-1"))
    );
}

#[test]
fn event_and_restock_keys_round_trip() {
    let id = OrderId::from_u128(42);
    assert_eq!(parse_event_step(&event(id, 7)), Some(7));
    assert_eq!(parse_event_step(&restock(id, 7)), None);
    assert_eq!(parse_restock(&restock(id, 9)), Some((id, 9)));
    assert_eq!(parse_restock(&event(id, 9)), None);
}

#[test]
fn sku_keys_round_trip_and_sort_by_sku() {
    assert_eq!(parse_sku(&sku("SKU-1")), Some("SKU-1".into()));
    assert_eq!(parse_sku(&stock("ams", "SKU-1")), None);
    assert!(sku("B") < sku("a"), "byte order, as the export's");
    assert!(backorder(OrderId::from_u128(1)) < backorder(OrderId::from_u128(2)));
}

#[test]
fn stock_alert_keys_round_trip_and_sort() {
    assert_eq!(
        parse_cell_alert(&cell_alert("ams", "SKU-1")),
        Some(CellKey::new("ams", "SKU-1"))
    );
    assert_eq!(
        parse_subscription_sku(&subscription("SKU-1", "a@example.com")),
        Some("SKU-1".into())
    );
    // A sku's subscriptions sit under its prefix, by contact; a longer sku is not among them.
    assert!(subscription("SKU", "b@x.nl").starts_with(&subscriptions_of("SKU")));
    assert!(!subscription("SKU-1", "a@x.nl").starts_with(&subscriptions_of("SKU")));
    assert!(subscription("SKU", "a@x.nl") < subscription("SKU", "b@x.nl"));
    assert!(alerts_journal(1) < alerts_journal(256));
}

#[test]
fn prefixes_are_distinct() {
    let all = [
        ORDER,
        EVENT,
        OUTBOX,
        TIMER,
        IDEMPOTENCY,
        STATUS,
        PICK,
        TOKEN,
        TRACKING,
        BACKORDER,
        DEAD,
        STOCK,
        RESERVATION,
        RESTOCK,
        JOURNAL,
        SKU,
        BASELINE,
        NOTICE,
        CELL_ALERT,
        SUBSCRIPTION,
        ALERTS_JOURNAL,
    ];
    let mut seen = std::collections::HashSet::new();
    for p in all {
        assert!(seen.insert(p), "prefix {:?} used twice", p as char);
    }
}
