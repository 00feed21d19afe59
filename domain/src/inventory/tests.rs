//! The stock ledger's rules: allocation (whole, split, refused) by each strategy, reservations,
//! releases, commits and restocks, example by example, and a property test that reserved units
//! always equal the open reservations.

use super::*;
use crate::warehouse::AllocationPolicy;
use proptest::prelude::*;
use std::collections::HashMap;

/// Open mode (no configured warehouses), priority by id, splitting allowed.
const ANY: AllocationRequest<'static> = AllocationRequest {
    warehouses: &[],
    strategy: AllocationStrategy::Priority,
    allow_split: true,
    country: None,
};

const WHOLE: AllocationRequest<'static> = AllocationRequest {
    allow_split: false,
    ..ANY
};

fn warehouse(id: &str, country: &str, priority: u32, ships_to: &[&str]) -> Warehouse {
    Warehouse {
        id: id.into(),
        name: id.to_uppercase(),
        country: country.into(),
        priority,
        ships_to: ships_to.iter().map(|c| c.to_string()).collect(),
        time_zone: "UTC".into(),
        cutoff: "17:00".into(),
        working_days: vec!["mon".into()],
        holidays: vec![],
        handling_days: 0,
        working_hours: "08:00-18:00".into(),
        pick_pack_hours: None,
    }
}

fn plan(out: &ReserveOutcome) -> Vec<(String, Vec<(String, u32)>)> {
    match out {
        ReserveOutcome::Reserved { shipments, .. } => shipments
            .iter()
            .map(|a| {
                (
                    a.warehouse.to_string(),
                    a.lines
                        .iter()
                        .map(|l| (l.sku.to_string(), l.quantity))
                        .collect(),
                )
            })
            .collect(),
        other => panic!("not reserved: {other:?}"),
    }
}

fn p(w: &str, lines: &[(&str, u32)]) -> (String, Vec<(String, u32)>) {
    (
        w.into(),
        lines.iter().map(|(s, q)| (s.to_string(), *q)).collect(),
    )
}

fn wh(id: &str) -> WarehouseId {
    WarehouseId::new(id)
}

fn sk(sku: &str) -> Sku {
    Sku::new(sku)
}

fn lq(sku: &str, q: u32) -> LineQty {
    LineQty {
        sku: sku.into(),
        quantity: q,
    }
}

#[test]
fn reserves_in_first_warehouse_that_covers_all_lines() {
    let mut l = Ledger::default();
    l.set_on_hand(&wh("a"), &sk("x"), 1).unwrap();
    l.set_on_hand(&wh("b"), &sk("x"), 5).unwrap();
    l.set_on_hand(&wh("b"), &sk("y"), 5).unwrap();
    let id = OrderId::nil();
    let (out, ch) = l.reserve(None, id, &[lq("x", 2), lq("y", 1)], &ANY);
    assert_eq!(plan(&out), vec![p("b", &[("x", 2), ("y", 1)])]);
    assert_eq!(
        l.level(&wh("b"), &sk("x")),
        StockLevel {
            on_hand: 5,
            reserved: 2,
            incoming: 0
        }
    );
    // Redelivery returns the same answer and touches nothing.
    let (again, ch2) = l.reserve(ch.reservation.as_ref(), id, &[lq("x", 2), lq("y", 1)], &ANY);
    assert_eq!(plan(&again), plan(&out));
    assert!(ch2.touched.is_empty());
    assert_eq!(l.level(&wh("b"), &sk("x")).reserved, 2);
}

#[test]
fn shortage_reports_best_availability() {
    let mut l = Ledger::default();
    l.set_on_hand(&wh("a"), &sk("x"), 1).unwrap();
    let (out, _) = l.reserve(None, OrderId::nil(), &[lq("x", 3)], &ANY);
    assert_eq!(
        out,
        ReserveOutcome::Unavailable {
            shortages: vec![Shortage {
                sku: "x".into(),
                requested: 3,
                available: 1
            }],
            reason: "out of stock: x".into(),
        }
    );
    assert_eq!(l.level(&wh("a"), &sk("x")).reserved, 0);
}

#[test]
fn release_before_reserve_leaves_a_tombstone_that_blocks_late_reserve() {
    let mut l = Ledger::default();
    l.set_on_hand(&wh("a"), &sk("x"), 5).unwrap();
    let id = OrderId::from_u128(7);
    let tomb = l.release(None, id, None).reservation.unwrap();
    let (out, ch) = l.reserve(Some(&tomb), id, &[lq("x", 1)], &ANY);
    assert_eq!(out, ReserveOutcome::Released);
    assert!(ch.touched.is_empty());
    assert_eq!(l.level(&wh("a"), &sk("x")).reserved, 0);
}

#[test]
fn commit_and_restock_move_on_hand() {
    let mut l = Ledger::default();
    l.set_on_hand(&wh("a"), &sk("x"), 5).unwrap();
    let id = OrderId::from_u128(1);
    let (_, ch) = l.reserve(None, id, &[lq("x", 2)], &ANY);
    let r = ch.reservation.unwrap();
    let c = l.commit(Some(&r), None).reservation.unwrap();
    assert_eq!(
        l.level(&wh("a"), &sk("x")),
        StockLevel {
            on_hand: 3,
            reserved: 0,
            incoming: 0
        }
    );
    // Commit twice, release after commit: no change.
    assert_eq!(l.commit(Some(&c), None), Change::default());
    assert_eq!(l.release(Some(&c), id, None), Change::default());
    l.restock(&wh("a"), &[lq("x", 2)]);
    assert_eq!(
        l.level(&wh("a"), &sk("x")),
        StockLevel {
            on_hand: 5,
            reserved: 0,
            incoming: 0
        }
    );
}

#[test]
fn set_on_hand_cannot_uncover_reservations() {
    let mut l = Ledger::default();
    l.set_on_hand(&wh("a"), &sk("x"), 5).unwrap();
    l.reserve(None, OrderId::nil(), &[lq("x", 4)], &ANY);
    assert_eq!(
        l.set_on_hand(&wh("a"), &sk("x"), 3),
        Err(StockError::BelowReserved {
            on_hand: 3,
            reserved: 4
        })
    );
    assert_eq!(
        l.set_on_hand(&wh("a"), &sk("x"), -1),
        Err(StockError::Negative)
    );
    assert!(l.set_on_hand(&wh("a"), &sk("x"), 4).is_ok());
}

#[test]
fn splits_only_when_no_single_warehouse_can_serve() {
    let mut l = Ledger::default();
    l.set_on_hand(&wh("ams"), &sk("x"), 2).unwrap();
    l.set_on_hand(&wh("rtm"), &sk("x"), 5).unwrap();
    l.set_on_hand(&wh("rtm"), &sk("y"), 1).unwrap();
    // rtm has everything: one shipment, although ams comes first by id.
    let whole = l.allocate(&[lq("x", 3), lq("y", 1)], &ANY).unwrap();
    assert_eq!(whole.0.len(), 1);
    assert_eq!(whole.0[0].warehouse, "rtm");
    assert_eq!(
        whole.1,
        "rtm can serve every line and comes first by priority"
    );
    // 6 of x: ams gives its 2, rtm the rest; a line is split itself.
    let (split, why) = l.allocate(&[lq("x", 6)], &ANY).unwrap();
    let got: Vec<_> = split
        .iter()
        .map(|a| (a.shipment, a.warehouse.as_str(), a.lines[0].quantity))
        .collect();
    assert_eq!(got, vec![(1, "ams", 2), (2, "rtm", 4)]);
    assert_eq!(
        why,
        "no single warehouse can serve every line; split: ams 2 of 6 x; rtm 4 of 6 x"
    );
    // Not allowed to split: refused, saying so.
    let short = l.allocate(&[lq("x", 6)], &WHOLE).unwrap_err();
    assert!(short.split_refused);
    assert_eq!(short.shortages[0].available, 5, "the best single warehouse");
    assert_eq!(
        short.reason,
        "no single warehouse can serve every line, and the order may not be split"
    );
    // More than all warehouses together: out of stock, with the total.
    let short = l.allocate(&[lq("x", 8)], &ANY).unwrap_err();
    assert_eq!(short.shortages[0].available, 7);
}

#[test]
fn strategies_choose_by_priority_stock_or_country() {
    let ws = [
        warehouse("ams", "NL", 2, &[]),
        warehouse("ber", "DE", 1, &["DE", "NL"]),
        warehouse("par", "FR", 3, &["FR"]),
    ];
    let mut l = Ledger::default();
    l.set_on_hand(&wh("ams"), &sk("x"), 5).unwrap();
    l.set_on_hand(&wh("ber"), &sk("x"), 3).unwrap();
    l.set_on_hand(&wh("par"), &sk("x"), 9).unwrap();
    let req = |strategy, country| AllocationRequest {
        warehouses: &ws,
        strategy,
        allow_split: AllocationPolicy::default().allow_split,
        country,
    };
    let first =
        |r: &AllocationRequest<'_>| l.allocate(&[lq("x", 2)], r).unwrap().0[0].warehouse.clone();
    assert_eq!(first(&req(AllocationStrategy::Priority, Some("NL"))), "ber");
    assert_eq!(
        first(&req(AllocationStrategy::MostStock, Some("NL"))),
        "ams"
    );
    assert_eq!(
        first(&req(AllocationStrategy::ShipToCountry, Some("NL"))),
        "ams"
    );
    // par ships only to France: never a candidate for NL, the only one for FR.
    assert_eq!(first(&req(AllocationStrategy::Priority, Some("FR"))), "ams");
    assert_eq!(
        first(&req(AllocationStrategy::ShipToCountry, Some("FR"))),
        "par"
    );
    // 9 to NL: ber and ams together have 8, par does not ship there.
    let short = l
        .allocate(
            &[lq("x", 9)],
            &req(AllocationStrategy::Priority, Some("NL")),
        )
        .unwrap_err();
    assert_eq!(short.shortages[0].available, 8);
    // Most stock splits from the fullest first.
    let (split, _) = l
        .allocate(
            &[lq("x", 7)],
            &req(AllocationStrategy::MostStock, Some("NL")),
        )
        .unwrap();
    let got: Vec<_> = split
        .iter()
        .map(|a| (a.warehouse.as_str(), a.lines[0].quantity))
        .collect();
    assert_eq!(got, vec![("ams", 5), ("ber", 2)]);
}

#[test]
fn parts_are_committed_and_released_one_shipment_at_a_time() {
    let mut l = Ledger::default();
    l.set_on_hand(&wh("ams"), &sk("x"), 2).unwrap();
    l.set_on_hand(&wh("rtm"), &sk("x"), 2).unwrap();
    let id = OrderId::from_u128(3);
    let (_, ch) = l.reserve(None, id, &[lq("x", 3)], &ANY);
    let r = ch.reservation.unwrap();
    assert_eq!(r.parts.len(), 2);
    let r = l.commit(Some(&r), Some(2)).reservation.unwrap();
    assert_eq!(r.state, ReservationState::Open, "shipment 1 is still open");
    assert_eq!(
        l.level(&wh("rtm"), &sk("x")),
        StockLevel {
            on_hand: 1,
            reserved: 0,
            incoming: 0
        }
    );
    assert_eq!(l.level(&wh("ams"), &sk("x")).reserved, 2);
    // Commit of shipment 2 again: nothing.
    assert_eq!(l.commit(Some(&r), Some(2)), Change::default());
    let r = l.release(Some(&r), id, Some(&[1])).reservation.unwrap();
    assert_eq!(r.state, ReservationState::Committed);
    assert_eq!(
        l.level(&wh("ams"), &sk("x")),
        StockLevel {
            on_hand: 2,
            reserved: 0,
            incoming: 0
        }
    );
}

#[derive(Debug, Clone)]
enum Op {
    Set(u8, u8, i64),
    Reserve(u8, Vec<(u8, u32)>, bool),
    Release(u8, Option<u32>),
    Commit(u8, Option<u32>),
    Restock(u8, u8, u32),
    /// A transfer from one warehouse to another of one sku.
    Dispatch(u8, u8, u8, u32),
    /// Part of the n-th transfer (modulo how many there are) arrives.
    Receive(usize, u32),
    Cancel(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3u8, 0..3u8, 0..20i64).prop_map(|(w, s, n)| Op::Set(w, s, n)),
        (
            0..8u8,
            prop::collection::vec((0..3u8, 1..6u32), 1..3),
            any::<bool>()
        )
            .prop_map(|(o, l, split)| Op::Reserve(o, l, split)),
        (0..8u8, prop::option::of(1..4u32)).prop_map(|(o, s)| Op::Release(o, s)),
        (0..8u8, prop::option::of(1..4u32)).prop_map(|(o, s)| Op::Commit(o, s)),
        (0..2u8, 0..3u8, 1..4u32).prop_map(|(w, s, n)| Op::Restock(w, s, n)),
        (0..3u8, 0..3u8, 0..3u8, 1..6u32).prop_map(|(f, t, s, n)| Op::Dispatch(f, t, s, n)),
        (0..8usize, 1..4u32).prop_map(|(i, n)| Op::Receive(i, n)),
        (0..8usize).prop_map(Op::Cancel),
    ]
}

proptest! {
    /// Whatever the order of operations and redeliveries: reserved stock equals the sum of
    /// open reservations, nothing is ever oversold (available never negative), units incoming
    /// at a warehouse are those in transit to it, and transfers neither make nor lose a unit.
    #[test]
    fn reserved_equals_open_reservations(ops in prop::collection::vec(op(), 1..60)) {
        let mut l = Ledger::default();
        let mut res: HashMap<u8, Reservation> = HashMap::new();
        let mut transfers: Vec<transfer::Transfer> = Vec::new();
        let units = |l: &Ledger| -> i64 { l.levels().map(|(_, c)| c.on_hand + c.incoming).sum() };
        let now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        for op in ops {
            let before = units(&l);
            let moves_units = matches!(op, Op::Dispatch(..) | Op::Receive(..) | Op::Cancel(..));
            match op {
                Op::Set(w, s, n) => { let _ = l.set_on_hand(&wh(&format!("w{w}")), &sk(&format!("s{s}")), n); }
                Op::Reserve(o, lines, split) => {
                    let mut lines: Vec<LineQty> = lines.into_iter().map(|(s, q)| lq(&format!("s{s}"), q)).collect();
                    lines.sort_by(|a, b| a.sku.cmp(&b.sku));
                    lines.dedup_by(|a, b| a.sku == b.sku);
                    let req = if split { ANY } else { WHOLE };
                    let (out, ch) = l.reserve(res.get(&o), OrderId::from_u128(o as u128), &lines, &req);
                    if let (ReserveOutcome::Reserved { shipments, .. }, Some(_)) = (&out, &ch.reservation) {
                        // Every unit asked for is in exactly one shipment.
                        for line in &lines {
                            let got: u32 = shipments.iter().flat_map(|a| &a.lines).filter(|x| x.sku == line.sku).map(|x| x.quantity).sum();
                            prop_assert_eq!(got, line.quantity);
                        }
                        prop_assert!(split || shipments.len() == 1);
                    }
                    if let Some(r) = ch.reservation { res.insert(o, r); }
                }
                Op::Release(o, s) => {
                    let only = s.map(|s| vec![s]);
                    if let Some(r) = l.release(res.get(&o), OrderId::from_u128(o as u128), only.as_deref()).reservation { res.insert(o, r); }
                }
                Op::Commit(o, s) => { if let Some(r) = l.commit(res.get(&o), s).reservation { res.insert(o, r); } }
                Op::Restock(w, s, n) => { l.restock(&wh(&format!("w{w}")), &[lq(&format!("s{s}"), n)]); }
                Op::Dispatch(f, t, s, n) => {
                    let id = uuid::Uuid::from_u128(transfers.len() as u128 + 1);
                    let lines = [lq(&format!("s{s}"), n)];
                    let Ok(t) = transfer::Transfer::dispatch(id, "k", &wh(&format!("w{f}")), &wh(&format!("w{t}")), &lines, now, |_| true) else {
                        prop_assert_eq!(f, t, "only a transfer to itself is refused here");
                        continue;
                    };
                    let available = l.available(&t.from, &lines[0].sku);
                    match l.dispatch(&t) {
                        Ok(_) => { prop_assert!(available >= n as i64); transfers.push(t); }
                        Err(StockError::NotAvailable { available: a, .. }) => { prop_assert_eq!(a, available); prop_assert!(a < n as i64); }
                        Err(e) => prop_assert!(false, "{e:?}"),
                    }
                }
                Op::Receive(i, n) => {
                    if transfers.is_empty() { continue; }
                    let i = i % transfers.len();
                    let t = &transfers[i];
                    let lines = [lq(&t.lines[0].sku, n)];
                    if let Ok(after) = t.receive(&lines, now) {
                        l.receive(&t.to, &lines);
                        transfers[i] = after;
                    }
                }
                Op::Cancel(i) => {
                    if transfers.is_empty() { continue; }
                    let i = i % transfers.len();
                    let t = &transfers[i];
                    if let Ok(after) = t.cancel(now) {
                        l.cancel_transfer(&t.from, &t.to, &t.in_transit());
                        transfers[i] = after;
                    }
                }
            }
            if moves_units {
                prop_assert_eq!(units(&l), before, "a transfer made or lost units");
            }
            for (CellKey { warehouse: w, sku: s }, level) in l.levels() {
                let open: i64 = res.values()
                    .flat_map(|r| r.parts.iter())
                    .filter(|p| p.state == ReservationState::Open && &p.warehouse == w)
                    .flat_map(|p| p.lines.iter().filter(|x| &x.sku == s).map(|x| x.quantity as i64))
                    .sum();
                prop_assert_eq!(level.reserved, open);
                prop_assert!(level.available() >= 0, "oversold {w}/{s}: {level:?}");
                let in_transit: i64 = transfers.iter()
                    .filter(|t| &t.to == w)
                    .flat_map(|t| t.in_transit())
                    .filter(|x| &x.sku == s)
                    .map(|x| x.quantity as i64)
                    .sum();
                prop_assert_eq!(level.incoming, in_transit, "incoming at {}/{}", w, s);
            }
        }
    }
}
