//! The stock ledger's rules: reservations, releases, commits and restocks, example by example,
//! and a property test that reserved units always equal the open reservations.

use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

fn lq(sku: &str, q: u32) -> LineQty {
    LineQty {
        sku: sku.into(),
        quantity: q,
    }
}

#[test]
fn reserves_in_first_warehouse_that_covers_all_lines() {
    let mut l = Ledger::default();
    l.set_on_hand("a", "x", 1).unwrap();
    l.set_on_hand("b", "x", 5).unwrap();
    l.set_on_hand("b", "y", 5).unwrap();
    let id = OrderId::nil();
    let (out, ch) = l.reserve(None, id, &[lq("x", 2), lq("y", 1)]);
    assert_eq!(
        out,
        ReserveOutcome::Reserved {
            warehouse: "b".into()
        }
    );
    assert_eq!(
        l.level("b", "x"),
        StockLevel {
            on_hand: 5,
            reserved: 2
        }
    );
    // Redelivery returns the same answer and touches nothing.
    let (again, ch2) = l.reserve(ch.reservation.as_ref(), id, &[lq("x", 2), lq("y", 1)]);
    assert_eq!(again, out);
    assert!(ch2.touched.is_empty());
    assert_eq!(l.level("b", "x").reserved, 2);
}

#[test]
fn shortage_reports_best_availability() {
    let mut l = Ledger::default();
    l.set_on_hand("a", "x", 1).unwrap();
    let (out, _) = l.reserve(None, OrderId::nil(), &[lq("x", 3)]);
    assert_eq!(
        out,
        ReserveOutcome::Unavailable {
            shortages: vec![Shortage {
                sku: "x".into(),
                requested: 3,
                available: 1
            }]
        }
    );
    assert_eq!(l.level("a", "x").reserved, 0);
}

#[test]
fn release_before_reserve_leaves_a_tombstone_that_blocks_late_reserve() {
    let mut l = Ledger::default();
    l.set_on_hand("a", "x", 5).unwrap();
    let id = OrderId::from_u128(7);
    let tomb = l.release(None, id).reservation.unwrap();
    let (out, ch) = l.reserve(Some(&tomb), id, &[lq("x", 1)]);
    assert_eq!(out, ReserveOutcome::Released);
    assert!(ch.touched.is_empty());
    assert_eq!(l.level("a", "x").reserved, 0);
}

#[test]
fn commit_and_restock_move_on_hand() {
    let mut l = Ledger::default();
    l.set_on_hand("a", "x", 5).unwrap();
    let id = OrderId::from_u128(1);
    let (_, ch) = l.reserve(None, id, &[lq("x", 2)]);
    let r = ch.reservation.unwrap();
    let c = l.commit(Some(&r)).reservation.unwrap();
    assert_eq!(
        l.level("a", "x"),
        StockLevel {
            on_hand: 3,
            reserved: 0
        }
    );
    // Commit twice, release after commit: no change.
    assert_eq!(l.commit(Some(&c)), Change::default());
    assert_eq!(l.release(Some(&c), id), Change::default());
    l.restock("a", &[lq("x", 2)]);
    assert_eq!(
        l.level("a", "x"),
        StockLevel {
            on_hand: 5,
            reserved: 0
        }
    );
}

#[test]
fn set_on_hand_cannot_uncover_reservations() {
    let mut l = Ledger::default();
    l.set_on_hand("a", "x", 5).unwrap();
    l.reserve(None, OrderId::nil(), &[lq("x", 4)]);
    assert_eq!(
        l.set_on_hand("a", "x", 3),
        Err(StockError::BelowReserved {
            on_hand: 3,
            reserved: 4
        })
    );
    assert_eq!(l.set_on_hand("a", "x", -1), Err(StockError::Negative));
    assert!(l.set_on_hand("a", "x", 4).is_ok());
}

#[derive(Debug, Clone)]
enum Op {
    Set(u8, u8, i64),
    Reserve(u8, Vec<(u8, u32)>),
    Release(u8),
    Commit(u8),
    Restock(u8, u8, u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2u8, 0..3u8, 0..20i64).prop_map(|(w, s, n)| Op::Set(w, s, n)),
        (0..8u8, prop::collection::vec((0..3u8, 1..6u32), 1..3))
            .prop_map(|(o, l)| Op::Reserve(o, l)),
        (0..8u8).prop_map(Op::Release),
        (0..8u8).prop_map(Op::Commit),
        (0..2u8, 0..3u8, 1..4u32).prop_map(|(w, s, n)| Op::Restock(w, s, n)),
    ]
}

proptest! {
    /// Whatever the order of operations and redeliveries: reserved stock equals the sum of
    /// open reservations, and nothing is ever oversold (available never negative).
    #[test]
    fn reserved_equals_open_reservations(ops in prop::collection::vec(op(), 1..60)) {
        let mut l = Ledger::default();
        let mut res: HashMap<u8, Reservation> = HashMap::new();
        for op in ops {
            match op {
                Op::Set(w, s, n) => { let _ = l.set_on_hand(&format!("w{w}"), &format!("s{s}"), n); }
                Op::Reserve(o, lines) => {
                    let mut lines: Vec<LineQty> = lines.into_iter().map(|(s, q)| lq(&format!("s{s}"), q)).collect();
                    lines.sort_by(|a, b| a.sku.cmp(&b.sku));
                    lines.dedup_by(|a, b| a.sku == b.sku);
                    let (_, ch) = l.reserve(res.get(&o), OrderId::from_u128(o as u128), &lines);
                    if let Some(r) = ch.reservation { res.insert(o, r); }
                }
                Op::Release(o) => { if let Some(r) = l.release(res.get(&o), OrderId::from_u128(o as u128)).reservation { res.insert(o, r); } }
                Op::Commit(o) => { if let Some(r) = l.commit(res.get(&o)).reservation { res.insert(o, r); } }
                Op::Restock(w, s, n) => { l.restock(&format!("w{w}"), &[lq(&format!("s{s}"), n)]); }
            }
            for ((w, s), level) in l.levels() {
                let open: i64 = res.values()
                    .filter(|r| r.state == ReservationState::Open && r.warehouse.as_deref() == Some(w))
                    .flat_map(|r| r.lines.iter().filter(|x| &x.sku == s).map(|x| x.quantity as i64))
                    .sum();
                prop_assert_eq!(level.reserved, open);
                prop_assert!(level.available() >= 0, "oversold {w}/{s}: {level:?}");
            }
        }
    }
}
