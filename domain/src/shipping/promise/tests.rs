use super::*;
use chrono::TimeZone;
use proptest::prelude::*;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date")
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

/// Amsterdam, cut-off 15:00, Monday to Friday, one holiday (Christmas 2026 is a Friday).
fn ams(handling_days: u32) -> Dispatch {
    Dispatch {
        time_zone: chrono_tz::Europe::Amsterdam,
        cutoff: NaiveTime::from_hms_opt(15, 0, 0).unwrap(),
        calendar: Calendar::new(
            vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            vec![date("2026-12-25")],
        )
        .unwrap(),
        handling_days,
    }
}

/// A carrier that moves parcels Monday to Saturday, except 2026-12-26.
fn mon_to_sat(min_days: u32, max_days: u32) -> Transit {
    Transit {
        calendar: Calendar::new(
            vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
            ],
            vec![date("2026-12-26")],
        )
        .unwrap(),
        min_days,
        max_days,
    }
}

fn weekdays(min_days: u32, max_days: u32) -> Transit {
    Transit {
        calendar: Calendar::weekdays(),
        min_days,
        max_days,
    }
}

/// One data-driven check: (what, ordered at, warehouse, carrier, earliest, latest).
fn check(cases: &[(&str, &str, Dispatch, Transit, &str, &str)]) {
    for (what, at, d, t, earliest, latest) in cases {
        let w = promise(utc(at), d, t);
        assert_eq!(
            (w.earliest, w.latest),
            (date(earliest), date(latest)),
            "{what}: ordered at {at}"
        );
    }
}

#[test]
fn delivery_windows() {
    // 2026-12-07 is a Monday; Amsterdam is UTC+1 in December.
    check(&[
        (
            "before the cut-off on a working day: leaves today",
            "2026-12-07T13:59:00Z", // 14:59 local
            ams(0),
            weekdays(1, 2),
            "2026-12-08",
            "2026-12-09",
        ),
        (
            "after the cut-off: leaves the next working day",
            "2026-12-07T14:00:00Z", // 15:00 local
            ams(0),
            weekdays(1, 2),
            "2026-12-09",
            "2026-12-10",
        ),
        (
            "handling time counts working days",
            "2026-12-07T09:00:00Z",
            ams(2),
            weekdays(1, 1),
            "2026-12-10",
            "2026-12-10",
        ),
        (
            "Friday after the cut-off: leaves Monday, weekday carrier",
            "2026-12-11T16:00:00Z",
            ams(0),
            weekdays(1, 3),
            "2026-12-15",
            "2026-12-17",
        ),
        (
            "Friday before the cut-off: a Saturday carrier delivers Saturday",
            "2026-12-11T10:00:00Z",
            ams(0),
            mon_to_sat(1, 2),
            "2026-12-12",
            "2026-12-14",
        ),
        (
            "ordered on a Saturday: handled from Monday",
            "2026-12-12T10:00:00Z",
            ams(0),
            weekdays(1, 1),
            "2026-12-15",
            "2026-12-15",
        ),
        (
            "a warehouse holiday before: Christmas Friday, leaves Monday 28th",
            "2026-12-24T15:00:00Z", // Thursday 16:00 local, after the cut-off
            ams(0),
            weekdays(1, 1),
            "2026-12-29",
            "2026-12-29",
        ),
        (
            "a carrier holiday in transit: leaves Thursday, the carrier's 26th and the Sunday skipped",
            "2026-12-24T08:00:00Z",
            ams(0),
            mon_to_sat(1, 2),
            "2026-12-25",
            "2026-12-28",
        ),
        (
            "UTC evening is the next local day: a Tuesday order, before its cut-off",
            "2026-12-07T23:30:00Z", // Tuesday 00:30 local
            ams(0),
            weekdays(1, 1),
            "2026-12-09",
            "2026-12-09",
        ),
        (
            "across midnight into a Saturday: handled from Monday",
            "2026-12-11T23:30:00Z", // Saturday 00:30 local
            ams(0),
            weekdays(0, 1),
            "2026-12-14",
            "2026-12-15",
        ),
        (
            "summer time moves the cut-off in UTC",
            "2026-07-06T13:30:00Z", // Monday 15:30 local (UTC+2): after the cut-off
            ams(0),
            weekdays(1, 1),
            "2026-07-08",
            "2026-07-08",
        ),
        (
            "same-day delivery leaves and arrives the same day",
            "2026-12-08T08:00:00Z",
            ams(0),
            weekdays(0, 0),
            "2026-12-08",
            "2026-12-08",
        ),
        (
            "min above max is read the right way round",
            "2026-12-08T08:00:00Z",
            ams(0),
            weekdays(3, 1),
            "2026-12-09",
            "2026-12-11",
        ),
    ]);
}

#[test]
fn a_time_zone_east_of_utc_and_across_the_date_line() {
    let auckland = Dispatch {
        time_zone: chrono_tz::Pacific::Auckland,
        cutoff: NaiveTime::from_hms_opt(12, 0, 0).unwrap(),
        calendar: Calendar::weekdays(),
        handling_days: 0,
    };
    // Sunday 20:00 UTC is Monday 09:00 in Auckland (UTC+13 in December): before its cut-off.
    assert_eq!(
        dispatch_date(utc("2026-12-06T20:00:00Z"), &auckland),
        date("2026-12-07")
    );
    let honolulu = Dispatch {
        time_zone: chrono_tz::Pacific::Honolulu,
        ..auckland
    };
    // Monday 09:00 UTC is Sunday 23:00 in Honolulu: handled from Monday.
    assert_eq!(
        dispatch_date(utc("2026-12-07T09:00:00Z"), &honolulu),
        date("2026-12-07")
    );
}

#[test]
fn a_calendar_needs_a_working_day_and_skips_any_run_of_holidays() {
    assert_eq!(Calendar::new(vec![], vec![]), Err(NoWorkingDay));
    let mondays = Calendar::new(
        vec![Weekday::Mon],
        vec![date("2026-12-14"), date("2026-12-21"), date("2026-12-14")],
    )
    .unwrap();
    assert_eq!(
        mondays.next_working_day(date("2026-12-07")),
        date("2026-12-28")
    );
    assert_eq!(
        mondays.add_working_days(date("2026-12-07"), 0),
        date("2026-12-07")
    );
}

fn arb_calendar() -> impl Strategy<Value = Calendar> {
    (
        prop::collection::btree_set(0..7u8, 1..=7),
        prop::collection::vec(0..400i64, 0..30),
    )
        .prop_map(|(days, holidays)| {
            let days = days
                .into_iter()
                .map(|d| Weekday::try_from(d).unwrap())
                .collect();
            let base = date("2026-01-01");
            let holidays = holidays
                .into_iter()
                .map(|n| base + Duration::days(n))
                .collect();
            Calendar::new(days, holidays).unwrap()
        })
}

proptest! {
    /// Whatever the calendars, time zone and moment: the window never starts before the day the
    /// order was placed (there), earliest <= latest, the parcel leaves on a working day of the
    /// warehouse, and a later order is never promised earlier (across daylight-saving changes
    /// too).
    #[test]
    fn the_window_never_starts_before_the_order(
        warehouse in arb_calendar(),
        carrier in arb_calendar(),
        tz in prop::sample::select(vec![
            chrono_tz::Europe::Amsterdam,
            chrono_tz::America::New_York,
            chrono_tz::Asia::Kolkata,
            chrono_tz::Pacific::Auckland,
            chrono_tz::UTC,
        ]),
        cutoff_minutes in 0..(24 * 60u32),
        handling_days in 0..4u32,
        min_days in 0..6u32,
        extra in 0..4u32,
        at in 0..(365 * 24 * 3600i64),
        later in 0..(72 * 3600i64),
    ) {
        let d = Dispatch {
            time_zone: tz,
            cutoff: NaiveTime::from_num_seconds_from_midnight_opt(cutoff_minutes * 60, 0).unwrap(),
            calendar: warehouse,
            handling_days,
        };
        let t = Transit { calendar: carrier, min_days, max_days: min_days + extra };
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let placed = start + Duration::seconds(at);
        let w = promise(placed, &d, &t);
        let local_day = placed.with_timezone(&tz).date_naive();
        prop_assert!(w.earliest >= local_day, "{w:?} before {local_day}");
        prop_assert!(w.earliest <= w.latest);
        let leaves = dispatch_date(placed, &d);
        prop_assert!(leaves >= local_day);
        prop_assert!(w.earliest >= leaves);
        prop_assert!(d.calendar.works_on(leaves));
        let w2 = promise(placed + Duration::seconds(later), &d, &t);
        prop_assert!(w2.earliest >= w.earliest && w2.latest >= w.latest, "{w:?} then {w2:?}");
    }
}

#[test]
fn a_configured_warehouse_gives_its_side_of_the_promise() {
    let w = crate::warehouse::Warehouse {
        id: "ams".into(),
        name: "Amsterdam".into(),
        country: "NL".into(),
        priority: 0,
        ships_to: vec![],
        time_zone: "Europe/Amsterdam".into(),
        cutoff: "15:00".into(),
        working_days: ["mon", "tue", "wed", "thu", "fri"]
            .map(String::from)
            .to_vec(),
        holidays: vec![date("2026-12-25")],
        handling_days: 0,
        working_hours: "08:00-18:00".into(),
        pick_pack_hours: None,
    };
    assert_eq!(w.dispatch(2), Ok(ams(2)));
    let nowhere = crate::warehouse::Warehouse {
        time_zone: "Europe/Amsterdan".into(),
        ..w.clone()
    };
    assert!(nowhere
        .dispatch(0)
        .unwrap_err()
        .contains("Europe/Amsterdan"));
    assert!(nowhere.validate().unwrap_err().starts_with("time_zone:"));
    let idle = crate::warehouse::Warehouse {
        working_days: vec![],
        ..w
    };
    assert!(idle.dispatch(0).is_err());
}
