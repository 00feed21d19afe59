use super::*;
use proptest::prelude::*;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn cell(point: Option<i64>, low: bool, sent: u32) -> CellAlert {
    CellAlert {
        id: id(7),
        point,
        low,
        sent,
    }
}

fn sub(n: u128, sku: &str, contact: &str) -> Subscription {
    Subscription {
        id: id(n),
        sku: sku.into(),
        contact: contact.to_string(),
        subscribed_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
    }
}

// ---- low stock: every case of watch ---------------------------------------------------------

#[test]
fn an_armed_cell_falling_to_its_point_is_due_one_alert() {
    let w = watch(&cell(Some(5), false, 0), 5);
    assert_eq!(w.alert, Some(1));
    assert_eq!(w.cell, cell(Some(5), true, 1));
}

#[test]
fn an_armed_cell_below_its_point_is_due_one_alert() {
    let w = watch(&cell(Some(5), false, 3), -2);
    assert_eq!(w.alert, Some(4), "numbered after the ones sent");
    assert_eq!(w.cell, cell(Some(5), true, 4));
}

#[test]
fn a_disarmed_cell_still_low_is_due_nothing() {
    for available in [5, 4, 0] {
        let w = watch(&cell(Some(5), true, 1), available);
        assert_eq!(w.alert, None);
        assert_eq!(w.cell, cell(Some(5), true, 1));
    }
}

#[test]
fn a_cell_above_its_point_is_armed_again_and_due_nothing() {
    let w = watch(&cell(Some(5), true, 1), 6);
    assert_eq!(w.alert, None);
    assert_eq!(w.cell, cell(Some(5), false, 1));
    let w = watch(&cell(Some(5), false, 1), 100);
    assert_eq!((w.alert, w.cell), (None, cell(Some(5), false, 1)));
}

#[test]
fn a_cell_without_a_point_is_armed_and_due_nothing() {
    for (low, available) in [(false, 0), (true, 0), (true, 50)] {
        let w = watch(&cell(None, low, 2), available);
        assert_eq!((w.alert, w.cell), (None, cell(None, false, 2)));
    }
}

#[test]
fn fall_rise_fall_is_two_alerts() {
    let c = cell(Some(2), false, 0);
    let w1 = watch(&c, 2);
    let w2 = watch(&w1.cell, 1);
    let w3 = watch(&w2.cell, 3);
    let w4 = watch(&w3.cell, 2);
    assert_eq!(
        [w1.alert, w2.alert, w3.alert, w4.alert],
        [Some(1), None, None, Some(2)]
    );
}

#[test]
fn the_alert_notice_names_the_cell_and_its_sequence_number() {
    let w = watch(&cell(Some(5), false, 0), 3);
    let n = low_stock_notice("ams", "MUG", &w, 3).expect("due");
    assert_eq!(
        n,
        StockNotice {
            subject: id(7),
            seq: 1,
            kind: NoticeKind::LowStock {
                warehouse: "ams".into(),
                sku: "MUG".into(),
                reorder_point: 5,
                available: 3,
            },
        }
    );
    assert_eq!(n.kind.name(), "low_stock");
    assert_eq!(n.kind.audience(), Audience::Operations);
    assert_eq!(n.kind.sku(), "MUG");
    assert_eq!(low_stock_notice("ams", "MUG", &watch(&w.cell, 3), 3), None);
}

// ---- setting a point ------------------------------------------------------------------------

#[test]
fn a_point_set_at_or_above_what_is_available_is_due_an_alert_at_once() {
    let w = set_point(None, id(9), Some(10), 10).unwrap();
    assert_eq!(w.alert, Some(1));
    assert_eq!(w.cell.id, id(9), "a new cell takes the fresh id");
    let w = set_point(None, id(9), Some(10), 11).unwrap();
    assert_eq!(w.alert, None);
    assert!(!w.cell.low);
}

#[test]
fn changing_the_point_of_a_cell_keeps_its_id_and_count() {
    let before = cell(Some(5), true, 3);
    // Raised while low: still this fall, no second alert.
    let w = set_point(Some(&before), id(9), Some(8), 4).unwrap();
    assert_eq!((w.alert, w.cell), (None, cell(Some(8), true, 3)));
    // Lowered below what is available: armed again.
    let w = set_point(Some(&before), id(9), Some(2), 4).unwrap();
    assert_eq!((w.alert, w.cell), (None, cell(Some(2), false, 3)));
    // Removed: armed, nothing watched; set again later, numbering goes on.
    let w = set_point(Some(&before), id(9), None, 0).unwrap();
    assert_eq!((w.alert, w.cell), (None, cell(None, false, 3)));
    let again = set_point(Some(&w.cell), id(9), Some(1), 0).unwrap();
    assert_eq!(again.alert, Some(4));
}

#[test]
fn points_out_of_range_are_refused_naming_the_field() {
    for p in [-1, MAX_REORDER_POINT + 1, i64::MIN, i64::MAX] {
        let e = set_point(None, id(1), Some(p), 0).unwrap_err();
        assert!(
            matches!(&e, AlertError::Invalid { field, .. } if field == "reorder_point"),
            "{e:?}"
        );
    }
    assert!(set_point(None, id(1), Some(0), 0).is_ok());
    assert!(set_point(None, id(1), Some(MAX_REORDER_POINT), 0).is_ok());
}

// ---- back in stock --------------------------------------------------------------------------

#[test]
fn nothing_is_due_while_the_sku_is_sold_out() {
    let waiting = [sub(1, "MUG", "a@example.com")];
    assert!(due_subscriptions(0, &waiting).is_empty());
    assert!(due_subscriptions(-3, &waiting).is_empty());
}

#[test]
fn every_subscription_is_due_once_the_sku_is_available() {
    let waiting = [
        sub(1, "MUG", "a@example.com"),
        sub(2, "MUG", "+31612345678"),
    ];
    let due = due_subscriptions(4, &waiting);
    assert_eq!(due.len(), 2);
    assert_eq!(
        due[1],
        StockNotice {
            subject: id(2),
            seq: 1,
            kind: NoticeKind::BackInStock {
                sku: "MUG".into(),
                contact: "+31612345678".into(),
                available: 4,
            },
        }
    );
    assert_eq!(due[0].kind.name(), "back_in_stock");
    assert_eq!(due[0].kind.audience(), Audience::Customer);
    assert!(due_subscriptions(4, &[]).is_empty());
}

#[test]
fn subscribing_again_is_the_same_subscription() {
    let first = sub(1, "MUG", "a@example.com");
    let again = sub(2, "MUG", "a@example.com");
    assert_eq!(
        subscribe(Some(&first), 1, 10, again).unwrap(),
        Subscribed::Existing(first.clone())
    );
    assert_eq!(
        subscribe(None, 0, 10, first.clone()).unwrap(),
        Subscribed::New(first)
    );
}

#[test]
fn subscriptions_are_bounded_per_sku() {
    let s = sub(1, "MUG", "a@example.com");
    let max = MAX_SUBSCRIPTIONS_PER_SKU;
    assert!(subscribe(None, max - 1, max, s.clone()).is_ok());
    let e = subscribe(None, max, max, s.clone()).unwrap_err();
    assert_eq!(
        e,
        AlertError::Full {
            sku: "MUG".into(),
            max
        }
    );
    assert_eq!(
        subscribe(None, 3, 3, s.clone()).unwrap_err(),
        AlertError::Full {
            sku: "MUG".into(),
            max: 3
        }
    );
    // A repeat is answered even when full: it takes no room.
    assert!(subscribe(Some(&s), max, max, s.clone()).is_ok());
}

#[test]
fn a_subscription_must_carry_a_normalised_contact() {
    let e = subscribe(None, 0, 10, sub(1, "MUG", "A@Example.com")).unwrap_err();
    assert!(matches!(e, AlertError::Invalid { ref field, .. } if field == "contact"));
}

// ---- contacts -------------------------------------------------------------------------------

#[test]
fn contacts_accepted_and_how_they_are_stored() {
    for (raw, stored) in [
        ("jan@example.com", "jan@example.com"),
        (
            "  Jan.Jansen+mugs@Example.NL ",
            "jan.jansen+mugs@example.nl",
        ),
        ("a@b.co", "a@b.co"),
        ("x_y-z@sub.mail-host.example", "x_y-z@sub.mail-host.example"),
        ("+31612345678", "+31612345678"),
        ("+31 6 1234 5678", "+31612345678"),
        ("+1 (555) 010-9999", "+15550109999"),
        ("+44.20.7946.0958", "+442079460958"),
    ] {
        assert_eq!(contact(raw).as_deref(), Ok(stored), "{raw}");
    }
    let longest = format!("{}@{}.com", "a".repeat(64), "b".repeat(63)) + &".cd".repeat(40);
    assert!(longest.len() <= MAX_CONTACT, "{}", longest.len());
    assert!(contact(&longest).is_ok());
}

#[test]
fn contacts_refused_name_the_field() {
    for raw in [
        "",
        "   ",
        "jan",
        "jan@",
        "@example.com",
        "jan@example",
        "jan@@example.com",
        "jan@exa mple.com",
        "jan@-example.com",
        "jan@example..com",
        "j an@example.com",
        ".jan@example.com",
        "jan..j@example.com",
        "jan<x>@example.com",
        "jan@exämple.com",
        "jan\u{7}@example.com",
        "0612345678",
        "+0612345678",
        "+3161",
        "+3161234567890123",
        "+31 6 12x45678",
        "+31\n612345678",
    ] {
        match contact(raw) {
            Err(AlertError::Invalid { field, .. }) => assert_eq!(field, "contact", "{raw:?}"),
            other => panic!("{raw:?} gave {other:?}"),
        }
    }
    let local = "a".repeat(65);
    assert!(contact(&format!("{local}@example.com")).is_err());
    let long = format!("a@{}.com", "b".repeat(60)) + &".cd".repeat(70);
    assert!(long.chars().count() > MAX_CONTACT);
    assert!(contact(&long).is_err());
}

// ---- properties -----------------------------------------------------------------------------

/// One thing that happens to a cell: a new level of available units, or a point set.
#[derive(Debug, Clone)]
enum Step {
    Level(i64),
    Point(Option<i64>),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (-5i64..30).prop_map(Step::Level),
        1 => prop::option::of(0i64..20).prop_map(Step::Point),
    ]
}

proptest! {
    /// With a fixed point, alerts are exactly the falls: an observation at or below the point
    /// whose previous one (if any) was above it; numbered 1, 2, … without gaps.
    #[test]
    fn alerts_are_the_falls(point in 0i64..20, levels in prop::collection::vec(-5i64..30, 1..80)) {
        let mut c = CellAlert { point: Some(point), ..CellAlert::new(id(1)) };
        let mut seqs = Vec::new();
        let mut falls = 0;
        for (i, &a) in levels.iter().enumerate() {
            if a <= point && (i == 0 || levels[i - 1] > point) {
                falls += 1;
            }
            let w = watch(&c, a);
            seqs.extend(w.alert);
            c = w.cell;
        }
        prop_assert_eq!(seqs.len(), falls);
        prop_assert_eq!(seqs, (1..=falls as u32).collect::<Vec<_>>());
    }

    /// Whatever happened before (levels and points in any order, decisions skipped as a crash
    /// would skip them), the state says what the latest level says: low exactly when there is
    /// a point and the level is at or below it. That is why deciding again from the stored
    /// state at start (reconciling) is enough. Deciding twice on the same level sends nothing
    /// the second time, and between two alerts the cell was seen above its point (or without
    /// one).
    #[test]
    fn the_state_follows_the_latest_level(steps in prop::collection::vec((step(), any::<bool>()), 1..80)) {
        let mut c = CellAlert::new(id(1));
        let mut level = 0i64;
        let mut sent = 0u32;
        let mut rearmed_since_alert = true;
        for (s, decided) in steps {
            match s {
                Step::Level(a) => level = a,
                Step::Point(p) => {
                    let w = set_point(Some(&c), id(2), p, level).unwrap();
                    prop_assert_eq!(w.cell.id, id(1));
                    if w.alert.is_some() {
                        prop_assert!(rearmed_since_alert);
                        rearmed_since_alert = false;
                        sent += 1;
                        prop_assert_eq!(w.alert, Some(sent));
                    }
                    if !w.cell.low {
                        rearmed_since_alert = true;
                    }
                    c = w.cell;
                }
            }
            if !decided {
                continue; // a crash between the stock write and the decision
            }
            let w = watch(&c, level);
            if let Some(seq) = w.alert {
                prop_assert!(rearmed_since_alert, "a second alert without a rise");
                rearmed_since_alert = false;
                sent += 1;
                prop_assert_eq!(seq, sent);
            }
            if !w.cell.low {
                rearmed_since_alert = true;
            }
            c = w.cell;
            let low = c.point.is_some_and(|p| level <= p);
            prop_assert_eq!(c.low, low);
            let again = watch(&c, level);
            prop_assert_eq!(again, Watched { cell: c, alert: None });
        }
        prop_assert_eq!(c.sent, sent);
    }

    /// Subscriptions: all due once available is positive, none before; each due notice names
    /// its own subscription, once.
    #[test]
    fn subscriptions_are_due_exactly_when_available(available in -3i64..5, n in 0usize..20) {
        let waiting: Vec<Subscription> = (0..n)
            .map(|i| sub(i as u128 + 1, "SKU", &format!("u{i}@example.com")))
            .collect();
        let due = due_subscriptions(available, &waiting);
        if available > 0 {
            prop_assert_eq!(due.len(), n);
            for (d, s) in due.iter().zip(&waiting) {
                prop_assert_eq!(d.subject, s.id);
                prop_assert_eq!(d.seq, 1);
            }
        } else {
            prop_assert!(due.is_empty());
        }
    }

    /// A contact accepted is stored in a form accepted again unchanged.
    #[test]
    fn contacts_are_stored_normalised(local in "[A-Za-z0-9._+-]{1,20}", host in "[a-z0-9]{1,10}", phone in "[1-9][0-9]{7,14}") {
        let email = format!("{local}@{host}.Example.com");
        if let Ok(stored) = contact(&email) {
            prop_assert_eq!(contact(&stored), Ok(stored.clone()));
            prop_assert_eq!(stored, email.to_lowercase());
        }
        let p = format!("+{phone}");
        prop_assert_eq!(contact(&p), Ok(p.clone()));
    }
}
