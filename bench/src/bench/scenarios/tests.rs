use super::*;

#[test]
fn ratio_targets_read_both_ways() {
    let r = |v: f64, target: &'static str| {
        Ratio {
            key: String::new(),
            label: String::new(),
            value: Some(v),
            target,
        }
        .met()
    };
    assert_eq!(r(0.6, ">= 0.5"), Some(true));
    assert_eq!(r(0.4, ">= 0.5"), Some(false));
    assert_eq!(r(1.5, "<= 1.5"), Some(true));
    assert_eq!(r(2.1, "<= 2"), Some(false));
}

#[test]
fn snapshot_size_drops_response_only_fields() {
    let body = br#"{"id":"x","status":"confirmed","total":{"amount":1,"currency":"EUR"},"history":[{"seq":1}],"label_url":"/l"}"#;
    assert_eq!(
        snapshot_size(body),
        Some(br#"{"id":"x","status":"confirmed"}"#.len())
    );
}

#[test]
fn order_bodies_are_valid_new_orders() {
    for i in 0..4 {
        let v = order_body("run", i, "captured");
        let o: orderly_actors::domain::NewOrder = serde_json::from_value(v).expect("a NewOrder");
        o.validate().expect("valid");
    }
}
