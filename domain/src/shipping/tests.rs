//! Carrier choice, delivery estimates (cut-off, weekends, holidays) and tracking numbers.

use super::*;

fn svc(code: &str, method: &str, days: u32, max: u32) -> ServiceSpec {
    ServiceSpec {
        code: code.into(),
        method: method.into(),
        transit_days: days,
        min_transit_days: None,
        cutoff: "16:00".into(),
        max_weight_grams: max,
        rates: None,
    }
}

fn carriers() -> Vec<CarrierSpec> {
    vec![
        CarrierSpec {
            id: "slow".into(),
            name: "Slow".into(),
            tracking_prefix: "SL".into(),
            countries: vec![],
            services: vec![svc("eco", "standard", 4, 30_000)],
            working_days: crate::warehouse::weekdays(),
            tracking_codes: Default::default(),
            holidays: None,
            http: None,
        },
        CarrierSpec {
            id: "fast".into(),
            name: "Fast".into(),
            tracking_prefix: "FA".into(),
            countries: vec!["NL".into()],
            services: vec![
                svc("std", "standard", 1, 10_000),
                svc("exp", "express", 0, 5_000),
            ],
            working_days: crate::warehouse::weekdays(),
            tracking_codes: Default::default(),
            holidays: None,
            http: None,
        },
    ]
}

#[test]
fn chooses_fastest_service_that_fits() {
    let cs = carriers();
    let p = |g| vec![Parcel { weight_grams: g }];
    assert_eq!(choose(&cs, "NL", None, &p(1000)).unwrap().0.id, "fast");
    assert_eq!(choose(&cs, "DE", None, &p(1000)).unwrap().0.id, "slow");
    assert_eq!(choose(&cs, "NL", None, &p(20_000)).unwrap().0.id, "slow");
    assert_eq!(
        choose(&cs, "NL", Some("express"), &p(1000)).unwrap().1.code,
        "exp"
    );
    assert!(choose(&cs, "DE", Some("express"), &p(1000)).is_none());
    assert!(choose(&cs, "NL", None, &p(40_000)).is_none());
}

#[test]
fn tracking_numbers_are_stable_and_distinct() {
    let a = OrderId::now_v7();
    let b = OrderId::now_v7();
    assert_eq!(tracking_number("FA", a, 5), tracking_number("FA", a, 5));
    assert_ne!(tracking_number("FA", a, 5), tracking_number("FA", b, 5));
    assert_ne!(tracking_number("FA", a, 5), tracking_number("FA", a, 6));
    assert_eq!(tracking_number("FA", a, 5).len(), 22);
    assert!(return_tracking_number(a).starts_with("RT"));
}
