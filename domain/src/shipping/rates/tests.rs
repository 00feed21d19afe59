use super::*;

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn bands(list: &[(u32, i64)]) -> Vec<Band> {
    list.iter()
        .map(|&(up_to_grams, price)| Band { up_to_grams, price })
        .collect()
}

/// Benelux and Germany priced apart, a surcharge for the Wadden islands (postal codes 17xx and
/// 88xx–89xx in NL), cash on delivery €2.50.
fn postnl_standard() -> RateTable {
    RateTable {
        currency: eur(),
        zones: vec![
            Zone {
                name: "benelux".into(),
                countries: vec!["NL".into(), "BE".into(), "LU".into()],
                bands: bands(&[(2_000, 695), (10_000, 995), (30_000, 1_595)]),
            },
            Zone {
                name: "de".into(),
                countries: vec!["DE".into()],
                bands: bands(&[(2_000, 1_095), (30_000, 1_895)]),
            },
        ],
        cash_on_delivery: 250,
        remote_areas: vec![RemoteArea {
            country: "NL".into(),
            postal_prefixes: vec!["17".into(), "88".into(), "89".into()],
            surcharge: 400,
        }],
    }
}

fn flat(price: i64) -> RateTable {
    RateTable {
        currency: eur(),
        zones: vec![Zone {
            name: "eu".into(),
            countries: vec!["NL".into(), "BE".into(), "DE".into(), "FR".into()],
            bands: bands(&[(31_500, price)]),
        }],
        cash_on_delivery: 0,
        remote_areas: vec![],
    }
}

fn facts<'a>(country: &'a str, postal: &'a str, grams: u32) -> Facts<'a> {
    Facts {
        country,
        postal_code: postal,
        weight_grams: grams,
        value: 5_000,
        method: "standard",
        cash_on_delivery: false,
        warehouse: "ams",
    }
}

#[test]
fn prices_by_zone_band_and_surcharges() {
    let t = postnl_standard();
    let cases: &[(&str, Facts<'_>, Option<i64>)] = &[
        ("light, Benelux", facts("NL", "1015 CJ", 1_500), Some(695)),
        (
            "a band's upper bound is in it",
            facts("BE", "1000", 2_000),
            Some(695),
        ),
        ("next band", facts("BE", "1000", 2_001), Some(995)),
        ("heaviest band", facts("LU", "L-1111", 30_000), Some(1_595)),
        (
            "above the last band: not taken",
            facts("NL", "1015CJ", 30_001),
            None,
        ),
        ("another zone", facts("DE", "10115", 500), Some(1_095)),
        ("no zone lists the country", facts("FR", "75001", 500), None),
        (
            "a remote postal code",
            facts("NL", "1791 AB", 500),
            Some(1_095),
        ),
        (
            "prefixes compare without spaces or case",
            facts("NL", "8 8 81xx", 500),
            Some(1_095),
        ),
        (
            "a remote prefix of another country does not count",
            facts("BE", "1700", 500),
            Some(695),
        ),
        (
            "cash on delivery",
            Facts {
                cash_on_delivery: true,
                ..facts("NL", "1015CJ", 500)
            },
            Some(945),
        ),
        (
            "cash on delivery to a remote code",
            Facts {
                cash_on_delivery: true,
                ..facts("NL", "1791AB", 500)
            },
            Some(1_345),
        ),
    ];
    for (what, f, want) in cases {
        assert_eq!(t.price(f).map(|m| m.amount), *want, "{what}");
    }
    assert_eq!(t.price(&facts("NL", "1", 1)).unwrap().currency, eur());
}

#[test]
fn a_bad_rate_table_is_refused_naming_the_field() {
    let good = postnl_standard();
    assert_eq!(good.validate(), Ok(()));
    let cases: Vec<(RateTable, &str)> = vec![
        (
            RateTable {
                zones: vec![],
                ..good.clone()
            },
            "zones",
        ),
        (
            RateTable {
                cash_on_delivery: -1,
                ..good.clone()
            },
            "cash_on_delivery",
        ),
        (
            {
                let mut t = good.clone();
                t.zones[1].bands = bands(&[(2_000, 10), (2_000, 20)]);
                t
            },
            "zones[1].bands[1].up_to_grams",
        ),
        (
            {
                let mut t = good.clone();
                t.zones[0].bands[0].price = -5;
                t
            },
            "zones[0].bands[0].price",
        ),
        (
            {
                let mut t = good.clone();
                t.zones[0].countries.push("nl".into());
                t
            },
            "zones[0].countries",
        ),
        (
            {
                let mut t = good.clone();
                t.remote_areas[0].postal_prefixes.push(" ".into());
                t
            },
            "remote_areas[0].postal_prefixes",
        ),
    ];
    for (t, field) in cases {
        let e = t.validate().expect_err(field);
        assert!(e.starts_with(field), "{field}: {e}");
    }
}

/// The services the rule tests choose among: PostNL standard (1 day, Benelux/DE prices),
/// DHL europlus (3 days, €7.50 flat), DHL express (1 day, €15 flat, express method).
struct Services {
    postnl: RateTable,
    dhl: RateTable,
    express: RateTable,
    benelux: Vec<String>,
}

impl Services {
    fn new() -> Services {
        Services {
            postnl: postnl_standard(),
            dhl: flat(750),
            express: flat(1_500),
            benelux: vec!["NL".into(), "BE".into(), "LU".into(), "DE".into()],
        }
    }

    fn offers(&self) -> Vec<Offer<'_>> {
        vec![
            Offer {
                carrier: "postnl",
                service: "standard",
                countries: &self.benelux,
                method: "standard",
                max_weight_grams: 30_000,
                transit_days: 1,
                rates: &self.postnl,
            },
            Offer {
                carrier: "dhl",
                service: "europlus",
                countries: &[],
                method: "standard",
                max_weight_grams: 31_500,
                transit_days: 3,
                rates: &self.dhl,
            },
            Offer {
                carrier: "dhl",
                service: "express",
                countries: &[],
                method: "express",
                max_weight_grams: 31_500,
                transit_days: 1,
                rates: &self.express,
            },
        ]
    }
}

fn prefer(list: &[(&str, &str)]) -> Choice {
    Choice::Prefer(
        list.iter()
            .map(|(c, s)| ServiceRef {
                carrier: c.to_string(),
                service: s.to_string(),
            })
            .collect(),
    )
}

fn rule(name: &str, when: Conditions, choose: Choice) -> Rule {
    Rule {
        name: name.into(),
        when,
        choose,
    }
}

/// The shop's rules: heavy parcels by DHL; cash on delivery by PostNL only; big orders the
/// fastest; everything else the cheapest.
fn shop_rules() -> Vec<Rule> {
    vec![
        rule(
            "heavy by dhl",
            Conditions {
                min_weight_grams: Some(20_000),
                ..Conditions::default()
            },
            prefer(&[("dhl", "europlus"), ("dhl", "express")]),
        ),
        rule(
            "cod by postnl",
            Conditions {
                cash_on_delivery: Some(true),
                ..Conditions::default()
            },
            prefer(&[("postnl", "standard")]),
        ),
        rule(
            "big orders fast",
            Conditions {
                min_value: Some(20_000),
                ..Conditions::default()
            },
            Choice::Fastest,
        ),
        rule("cheapest", Conditions::default(), Choice::Cheapest),
    ]
}

/// A decision as the cases write it: "carrier/service", price, rule.
type Chosen = (&'static str, i64, &'static str);

#[test]
fn rules_choose_in_order_and_say_which_rule() {
    let s = Services::new();
    let offers = s.offers();
    let rules = shop_rules();
    // (what, facts, chosen "carrier/service", price, rule)
    let cases: Vec<(&str, Facts<'_>, Option<Chosen>)> = vec![
        (
            "light, Benelux: cheapest is PostNL",
            facts("NL", "1015CJ", 500),
            Some(("postnl/standard", 695, "cheapest")),
        ),
        (
            "to a remote NL postal code PostNL costs more: DHL is cheaper",
            facts("NL", "1791AB", 5_000),
            Some(("dhl/europlus", 750, "cheapest")),
        ),
        (
            "France: PostNL does not go there",
            facts("FR", "75001", 500),
            Some(("dhl/europlus", 750, "cheapest")),
        ),
        (
            "heavy: the first rule",
            facts("NL", "1015CJ", 25_000),
            Some(("dhl/europlus", 750, "heavy by dhl")),
        ),
        (
            "cash on delivery: PostNL, with its surcharge",
            Facts {
                cash_on_delivery: true,
                ..facts("NL", "1015CJ", 500)
            },
            Some(("postnl/standard", 945, "cod by postnl")),
        ),
        (
            "cash on delivery where PostNL cannot go: the next rule that finds one",
            Facts {
                cash_on_delivery: true,
                ..facts("FR", "75001", 500)
            },
            Some(("dhl/europlus", 750, "cheapest")),
        ),
        (
            "a big order: the fastest (ties: the cheaper)",
            Facts {
                value: 25_000,
                ..facts("BE", "1000", 500)
            },
            Some(("postnl/standard", 695, "big orders fast")),
        ),
        (
            "express: only DHL express fulfils the method",
            Facts {
                method: "express",
                ..facts("NL", "1015CJ", 500)
            },
            Some(("dhl/express", 1_500, "cheapest")),
        ),
        (
            "too heavy for every service",
            facts("NL", "1015CJ", 40_000),
            None,
        ),
        (
            "a method no service fulfils",
            Facts {
                method: "pallet",
                ..facts("NL", "1015CJ", 500)
            },
            None,
        ),
    ];
    for (what, f, want) in cases {
        let got = decide(&rules, &offers, &f).map(|d| {
            let o = &offers[d.offer];
            (
                format!("{}/{}", o.carrier, o.service),
                d.price.amount,
                d.rule,
            )
        });
        let want = want.map(|(s, p, r)| (s.to_string(), p, r));
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn conditions_hold_each_on_their_own() {
    let f = Facts {
        value: 10_000,
        ..facts("NL", "1015CJ", 1_000)
    };
    let holds = |c: Conditions| c.hold(&f);
    assert!(holds(Conditions::default()));
    assert!(holds(Conditions {
        countries: vec!["BE".into(), "NL".into()],
        ..Conditions::default()
    }));
    assert!(!holds(Conditions {
        countries: vec!["BE".into()],
        ..Conditions::default()
    }));
    assert!(holds(Conditions {
        min_weight_grams: Some(1_000),
        max_weight_grams: Some(1_000),
        min_value: Some(10_000),
        max_value: Some(10_000),
        ..Conditions::default()
    }));
    assert!(!holds(Conditions {
        max_value: Some(9_999),
        ..Conditions::default()
    }));
    assert!(!holds(Conditions {
        methods: vec!["express".into()],
        ..Conditions::default()
    }));
    assert!(!holds(Conditions {
        cash_on_delivery: Some(true),
        ..Conditions::default()
    }));
    assert!(!holds(Conditions {
        warehouses: vec!["rtm".into()],
        ..Conditions::default()
    }));
}

#[test]
fn a_bad_rule_list_is_refused_naming_the_field() {
    let known = [
        ("postnl", "standard"),
        ("dhl", "europlus"),
        ("dhl", "express"),
    ];
    assert_eq!(validate_rules(&shop_rules(), &known), Ok(()));
    let without_fallback: Vec<Rule> = shop_rules().into_iter().take(3).collect();
    let mut unknown = shop_rules();
    unknown[1].choose = prefer(&[("postnl", "sameday")]);
    let mut twice = shop_rules();
    twice[2].name = "cheapest".into();
    let mut bounds = shop_rules();
    bounds[0].when.max_weight_grams = Some(10_000);
    let mut empty = shop_rules();
    empty[0].choose = Choice::Prefer(vec![]);
    let cases: Vec<(Vec<Rule>, &str)> = vec![
        (vec![], "carrier_rules:"),
        (without_fallback, "carrier_rules[2].when: the last rule"),
        (
            unknown,
            "carrier_rules[1].choose.prefer: no service 'sameday'",
        ),
        (twice, "carrier_rules[3].name"),
        (bounds, "carrier_rules[0].when: min_weight_grams"),
        (empty, "carrier_rules[0].choose.prefer: at least one"),
    ];
    for (rules, want) in cases {
        let e = validate_rules(&rules, &known).expect_err(want);
        assert!(e.starts_with(want), "{want}: {e}");
    }
}

#[test]
fn rules_read_from_config() {
    let toml_like = serde_json::json!([
        {"name": "heavy", "when": {"min_weight_grams": 20000}, "choose": {"prefer": [{"carrier": "dhl", "service": "europlus"}]}},
        {"name": "rest", "choose": "cheapest"}
    ]);
    let rules: Vec<Rule> = serde_json::from_value(toml_like).unwrap();
    assert_eq!(rules[1].choose, Choice::Cheapest);
    assert!(rules[1].when.hold(&facts("NL", "1", 1)));
    let typo =
        serde_json::json!([{"name": "x", "when": {"country": ["NL"]}, "choose": "cheapest"}]);
    assert!(
        serde_json::from_value::<Vec<Rule>>(typo).is_err(),
        "unknown fields are refused"
    );
}

proptest::proptest! {
    /// Whatever the parcel: "cheapest" is never dearer than any service that could take it,
    /// "fastest" never slower, and a decision is always a service that can take the parcel,
    /// at the price its table says.
    #[test]
    fn cheapest_and_fastest_are_what_they_say(
        country in proptest::sample::select(vec!["NL", "BE", "DE", "FR", "US"]),
        postal in proptest::sample::select(vec!["1015CJ", "1791AB", "8881", "75001"]),
        grams in 0..40_000u32,
        cod in proptest::bool::ANY,
        express in proptest::bool::ANY,
    ) {
        let s = Services::new();
        let offers = s.offers();
        let f = Facts {
            cash_on_delivery: cod,
            method: if express { "express" } else { "standard" },
            ..facts(country, postal, grams)
        };
        let feasible: Vec<(usize, i64)> = offers
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.quote(&f).map(|p| (i, p.amount)))
            .collect();
        for (choose, by_price) in [(Choice::Cheapest, true), (Choice::Fastest, false)] {
            let rules = vec![rule("only", Conditions::default(), choose)];
            match decide(&rules, &offers, &f) {
                None => proptest::prop_assert!(feasible.is_empty()),
                Some(d) => {
                    let chosen = offers[d.offer].quote(&f);
                    proptest::prop_assert_eq!(chosen, Some(d.price));
                    for &(i, p) in &feasible {
                        if by_price {
                            proptest::prop_assert!(d.price.amount <= p);
                        } else {
                            proptest::prop_assert!(
                                offers[d.offer].transit_days <= offers[i].transit_days
                            );
                        }
                    }
                }
            }
        }
    }
}
