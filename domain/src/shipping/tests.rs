//! Carrier choice, delivery estimates (cut-off, weekends, holidays) and tracking numbers.

use super::*;
use chrono::TimeZone;

fn svc(code: &str, method: &str, days: u32, max: u32) -> ServiceSpec {
    ServiceSpec {
        code: code.into(),
        method: method.into(),
        transit_days: days,
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
fn estimate_respects_cutoff_weekends_and_holidays() {
    let cutoff = NaiveTime::from_hms_opt(16, 0, 0).unwrap();
    let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
    // Monday 2026-11-23 10:00: leaves today, 2 business days -> Wednesday.
    let mon_am = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
    assert_eq!(estimate_delivery(mon_am, cutoff, 2, &[]), d(2026, 11, 25));
    // After cut-off: leaves Tuesday -> Thursday.
    let mon_pm = Utc.with_ymd_and_hms(2026, 11, 23, 17, 0, 0).unwrap();
    assert_eq!(estimate_delivery(mon_pm, cutoff, 2, &[]), d(2026, 11, 26));
    // Friday after cut-off, 1 day: leaves Monday, arrives Tuesday.
    let fri_pm = Utc.with_ymd_and_hms(2026, 11, 27, 18, 0, 0).unwrap();
    assert_eq!(estimate_delivery(fri_pm, cutoff, 1, &[]), d(2026, 12, 1));
    // Saturday: leaves Monday.
    let sat = Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap();
    assert_eq!(estimate_delivery(sat, cutoff, 0, &[]), d(2026, 11, 30));
    // A holiday on Tuesday pushes the Monday 2-day estimate to Thursday.
    assert_eq!(
        estimate_delivery(mon_am, cutoff, 2, &[d(2026, 11, 24)]),
        d(2026, 11, 26)
    );
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
