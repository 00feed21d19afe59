use super::*;
use serde_json::json;

fn order(version: u64, status: &str, history: &[(u64, &str)]) -> Value {
    json!({
        "id": "o1",
        "version": version,
        "status": status,
        "history": history.iter().map(|(s, t)| json!({"seq": s, "type": t})).collect::<Vec<_>>(),
    })
}

#[test]
fn the_log_keeps_the_highest_acknowledged_version() {
    let mut log = AckLog::new();
    assert!(log.record(&order(2, "confirmed", &[])));
    assert!(log.record(&order(1, "placed", &[])));
    assert!(!log.record(&json!({"id": "o2"})));
    assert_eq!(log.transitions(), 2);
    assert_eq!(log.orders(), 1);
    assert_eq!(
        log.get("o1"),
        Some(&Acked {
            version: 2,
            status: "confirmed".into()
        })
    );
    assert_eq!(log.take_touched().len(), 1);
    assert!(log.take_touched().is_empty());
    assert_eq!(log.all().len(), 1);
}

#[test]
fn an_order_at_or_past_its_acknowledged_state_is_clean() {
    let acked = Acked {
        version: 2,
        status: "placed".into(),
    };
    let found = order(
        3,
        "confirmed",
        &[(1, "placed"), (2, "stock_reserved"), (3, "confirmed")],
    );
    assert!(check_order("o1", &acked, &found).is_empty());
    // Cancelled is allowed from any status.
    let acked = Acked {
        version: 1,
        status: "shipped".into(),
    };
    assert!(check_order("o1", &acked, &order(1, "cancelled", &[(1, "placed")])).is_empty());
}

#[test]
fn losses_gaps_and_repeats_are_reported_as_data() {
    let acked = Acked {
        version: 3,
        status: "confirmed".into(),
    };
    let found = order(2, "placed", &[(1, "placed"), (3, "placed")]);
    let v = check_order("o1", &acked, &found);
    let kinds: Vec<&ViolationKind> = v.iter().map(|v| &v.kind).collect();
    assert_eq!(
        kinds,
        [
            &ViolationKind::MovedBackwards,
            &ViolationKind::HistoryNotContiguous,
            &ViolationKind::RepeatedStep("placed".into())
        ]
    );
    let report = CheckReport {
        checked: 1,
        violations: v,
    };
    assert_eq!((report.lost(), report.repeats()), (1, 2));
    assert!(!report.is_clean());
    assert_eq!(
        report.violations[0].to_string(),
        "o1: acknowledged v3 confirmed, found v2 placed"
    );
}
