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

#[test]
fn split_orders_are_the_share_asked_for_spread_over_the_run() {
    for (share, n, want) in [
        (0.0, 1000, 0),
        (0.1, 1000, 100),
        (0.25, 1000, 250),
        (1.0, 7, 7),
    ] {
        let split = (0..n).filter(|&i| is_split(i, share)).count();
        assert_eq!(split, want, "share {share} of {n}");
    }
    // Spread: no two in a row at a share of a half or less.
    assert!((0..100).all(|i| !(is_split(i, 0.5) && is_split(i + 1, 0.5))));
    let body = split_order_body("r", 3);
    let skus: Vec<&str> = body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, SPLIT_SKUS.to_vec());
}
