//! The network as quotes, allocation and bookings use it: the same choice and dates from each,
//! a booking's window from the packing moment, prices summed over parcels, and what `new`
//! refuses.

use super::*;
use crate::order::Parcel;
use serde_json::json;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date")
}

/// PostNL (NL and BE; Monday to Saturday; standard 1 day at 6.95/9.95, express same-day
/// evening at 12.95) and DHL (everywhere it has a zone; weekdays; europlus 2–3 days at 7.50).
fn carriers() -> Vec<CarrierSpec> {
    serde_json::from_value(json!([
        {
            "id": "postnl", "name": "PostNL", "tracking_prefix": "3S", "countries": ["NL", "BE"],
            "working_days": ["mon", "tue", "wed", "thu", "fri", "sat"],
            "services": [
                { "code": "standard", "method": "standard", "transit_days": 1, "cutoff": "17:00",
                  "max_weight_grams": 30000,
                  "rates": { "currency": "EUR", "cash_on_delivery": 250,
                             "zones": [{ "name": "benelux", "countries": ["NL", "BE"],
                                         "bands": [{ "up_to_grams": 2000, "price": 695 },
                                                   { "up_to_grams": 30000, "price": 995 }] }] } },
                { "code": "evening", "method": "express", "transit_days": 0, "cutoff": "12:00",
                  "max_weight_grams": 10000,
                  "rates": { "currency": "EUR",
                             "zones": [{ "name": "nl", "countries": ["NL"],
                                         "bands": [{ "up_to_grams": 10000, "price": 1295 }] }] } }
            ]
        },
        {
            "id": "dhl", "name": "DHL", "tracking_prefix": "JV",
            "holidays": ["2026-12-28"],
            "services": [
                { "code": "europlus", "method": "standard", "transit_days": 3, "min_transit_days": 2,
                  "cutoff": "16:00", "max_weight_grams": 31500,
                  "rates": { "currency": "EUR",
                             "zones": [{ "name": "eu", "countries": ["NL", "BE", "DE"],
                                         "bands": [{ "up_to_grams": 31500, "price": 750 }] }] } }
            ]
        }
    ]))
    .expect("carriers")
}

fn rules(list: serde_json::Value) -> Vec<Rule> {
    serde_json::from_value(list).expect("rules")
}

/// Amsterdam: cut-off 17:00 local, weekdays, one handling day, Christmas off.
fn ams() -> Warehouse {
    serde_json::from_value(json!({
        "id": "ams", "name": "Amsterdam", "country": "NL", "time_zone": "Europe/Amsterdam",
        "cutoff": "17:00", "holidays": ["2026-12-25"], "handling_days": 1
    }))
    .expect("warehouse")
}

fn network(rules_json: serde_json::Value) -> Network {
    Network::new(carriers(), rules(rules_json), vec![ams()], vec![]).expect("a sound network")
}

fn consignment<'a>(
    w: &'a WarehouseId,
    country: &'a str,
    method: Option<&'a str>,
    parcels: &'a [Parcel],
) -> Consignment<'a> {
    Consignment {
        warehouse: w,
        country,
        postal_code: "1015 CJ",
        method,
        value: 5_000,
        cash_on_delivery: false,
        parcels,
    }
}

fn parcels(weights: &[u32]) -> Vec<Parcel> {
    weights
        .iter()
        .map(|&weight_grams| Parcel { weight_grams })
        .collect()
}

#[test]
fn without_rules_the_fastest_is_taken_and_priced_if_it_can_be() {
    let n = network(json!([]));
    let w = WarehouseId::from("ams");
    let p = parcels(&[1_000]);
    let s = n
        .select(&consignment(&w, "NL", None, &p))
        .expect("a service");
    assert_eq!(
        (s.carrier.id.as_str(), s.service.code.as_str()),
        ("postnl", "standard")
    );
    assert_eq!(s.price.map(|m| m.amount), Some(695));
    assert_eq!(s.rule, None);
    // Germany: only DHL serves it.
    let s = n
        .select(&consignment(&w, "DE", None, &p))
        .expect("a service");
    assert_eq!(s.carrier.id, "dhl");
    // Express to Belgium: the evening service has no Belgian zone, but without rules the
    // fastest that fits is taken by weight and country alone, and has no price there.
    let s = n
        .select(&consignment(&w, "BE", Some("express"), &p))
        .expect("a service");
    assert_eq!((s.service.code.as_str(), s.price), ("evening", None));
}

#[test]
fn rules_choose_and_name_themselves_and_prices_add_up_over_parcels() {
    let n = network(json!([
        { "name": "cod by postnl", "when": { "cash_on_delivery": true },
          "choose": { "prefer": [{ "carrier": "postnl", "service": "standard" }] } },
        { "name": "cheapest", "choose": "cheapest" }
    ]));
    let w = WarehouseId::from("ams");
    let p = parcels(&[1_000]);
    let s = n
        .select(&consignment(&w, "NL", None, &p))
        .expect("a service");
    assert_eq!(
        (s.carrier.id.as_str(), s.rule),
        ("postnl", Some("cheapest"))
    );
    assert_eq!(s.price.map(|m| m.amount), Some(695));
    // Heavier: DHL's flat 7.50 beats PostNL's 9.95.
    let heavy = parcels(&[5_000]);
    let s = n
        .select(&consignment(&w, "NL", None, &heavy))
        .expect("a service");
    assert_eq!(
        (s.carrier.id.as_str(), s.price.map(|m| m.amount)),
        ("dhl", Some(750))
    );
    // Cash on delivery: PostNL by rule, with its surcharge, once per parcel, two parcels.
    let two = parcels(&[1_000, 5_000]);
    let cod = Consignment {
        cash_on_delivery: true,
        ..consignment(&w, "NL", None, &two)
    };
    let s = n.select(&cod).expect("a service");
    assert_eq!(s.rule, Some("cod by postnl"));
    assert_eq!(s.price.map(|m| m.amount), Some(695 + 250 + 995 + 250));
    // Nothing reaches France.
    assert!(n.select(&consignment(&w, "FR", None, &p)).is_none());
}

#[test]
fn a_plan_counts_handling_days_a_booking_leaves_at_the_next_collection() {
    let n = network(json!([]));
    let w = WarehouseId::from("ams");
    let p = parcels(&[1_000]);
    let c = consignment(&w, "NL", None, &p);
    // Thursday 2026-12-03 10:00 in Amsterdam: handled from Thursday, one handling day → leaves
    // Friday; PostNL works Saturdays → arrives Saturday.
    let at = utc("2026-12-03T09:00:00Z");
    let plan = n.plan(&c, at).expect("a plan");
    assert_eq!(plan.carrier, "postnl");
    assert_eq!(
        (plan.promise.earliest, plan.promise.latest),
        (date("2026-12-05"), date("2026-12-05"))
    );
    assert_eq!(plan.promise.time_zone, "Europe/Amsterdam");
    // Packed the same Thursday morning: leaves Thursday, arrives Friday.
    let b = n.book(OrderId::nil(), 7, &c, at).expect("a booking");
    let promise = b.promise.clone().expect("a window");
    assert_eq!(
        (promise.earliest, promise.latest),
        (date("2026-12-04"), date("2026-12-04"))
    );
    assert_eq!(b.estimated_delivery, promise.latest);
    assert_eq!(b.price.map(|m| m.amount), Some(695));
    assert_eq!(
        b.tracking_number,
        tracking_number("3S", OrderId::nil(), 7),
        "stable per order and step"
    );
    // After 17:00 local (16:00 UTC in winter), it leaves the next working day.
    let late = n
        .book(OrderId::nil(), 7, &c, utc("2026-12-03T16:30:00Z"))
        .unwrap();
    assert_eq!(late.estimated_delivery, date("2026-12-05"));
}

#[test]
fn the_earlier_cut_off_and_the_carriers_own_calendar_count() {
    let n = network(json!([]));
    let w = WarehouseId::from("ams");
    let p = parcels(&[1_000]);
    // Express (PostNL evening, collected at 12:00): at 12:30 local it leaves the next day.
    let c = consignment(&w, "NL", Some("express"), &p);
    let b = n
        .book(OrderId::nil(), 1, &c, utc("2026-12-03T11:30:00Z"))
        .unwrap();
    assert_eq!(b.estimated_delivery, date("2026-12-04"));
    // DHL to Germany, 2–3 days over weekdays less its own holiday (Monday 28th), packed
    // Wednesday 23rd: leaves the 23rd (16:00 cut-off), Christmas is the warehouse's holiday
    // not DHL's: 24, 25 → earliest the 25th; latest skips the weekend and the 28th → the 29th.
    let de = consignment(&w, "DE", None, &p);
    let b = n
        .book(OrderId::nil(), 1, &de, utc("2026-12-23T09:00:00Z"))
        .unwrap();
    let pr = b.promise.unwrap();
    assert_eq!(
        (pr.earliest, pr.latest),
        (date("2026-12-25"), date("2026-12-29"))
    );
}

#[test]
fn an_unconfigured_warehouse_runs_on_utc_weekdays_and_the_shops_holidays() {
    let n = Network::new(carriers(), vec![], vec![], vec![date("2026-12-04")]).unwrap();
    let w = WarehouseId::from("anywhere");
    let p = parcels(&[1_000]);
    // Thursday 17:30 UTC: after the 17:00 cut-off, so it leaves the next working day: Friday
    // is a shop holiday and the warehouse does not work weekends → Monday 7th; PostNL takes
    // the shop's holidays as its own → arrives Tuesday 8th.
    let c = consignment(&w, "NL", None, &p);
    let b = n
        .book(OrderId::nil(), 1, &c, utc("2026-12-03T17:30:00Z"))
        .unwrap();
    assert_eq!(b.estimated_delivery, date("2026-12-08"));
    assert_eq!(b.promise.unwrap().time_zone, "UTC");
}

#[test]
fn methods_are_listed_once_each_in_the_order_configured() {
    assert_eq!(network(json!([])).methods(), vec!["standard", "express"]);
    assert!(Network::empty().methods().is_empty());
}

#[test]
fn new_names_what_is_wrong() {
    let check = |carriers: serde_json::Value, rules_json: serde_json::Value, field: &str| {
        let carriers: Vec<CarrierSpec> = serde_json::from_value(carriers).unwrap();
        let err = Network::new(carriers, rules(rules_json), vec![], vec![]).expect_err("refused");
        assert!(err.starts_with(field), "{err} names {field}");
    };
    let service = json!({ "code": "s", "method": "standard", "transit_days": 1,
                          "cutoff": "17:00", "max_weight_grams": 1000 });
    let carrier = |extra: serde_json::Value, service: serde_json::Value| {
        let mut c =
            json!({ "id": "c", "name": "C", "tracking_prefix": "C", "services": [service] });
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!([c])
    };
    check(
        carrier(
            json!({ "working_days": ["mon", "funday"] }),
            service.clone(),
        ),
        json!([]),
        "carriers[0].working_days",
    );
    check(
        carrier(json!({ "working_days": [] }), service.clone()),
        json!([]),
        "carriers[0].working_days",
    );
    let mut slow = service.clone();
    slow["min_transit_days"] = json!(2);
    check(
        carrier(json!({}), slow),
        json!([]),
        "carriers[0].services[0].min_transit_days",
    );
    let mut bad_cutoff = service.clone();
    bad_cutoff["cutoff"] = json!("5pm");
    check(
        carrier(json!({}), bad_cutoff),
        json!([]),
        "carriers[0].services[0].cutoff",
    );
    check(
        carrier(json!({}), service),
        json!([{ "name": "x", "choose": { "prefer": [{ "carrier": "c", "service": "nope" }] } }]),
        "carrier_rules[0].choose.prefer",
    );
}
