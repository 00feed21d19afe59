//! Engine tests: real actors, in-memory storage (`orderly_storage::memory`, which passes the
//! same conformance suite as sled) and a manual clock. Restarts are simulated by running each
//! engine in its own actix system over the same data. The engine on sled is covered by the
//! crate's integration tests and the black-box suite.

use super::effects::Answer;
use super::*;
use crate::clock::ManualClock;
use crate::domain::*;
use chrono::{TimeZone, Utc};
use orderly_storage::memory::MemoryStorage;
use std::future::Future;
use std::time::Instant;

fn run<T: Send + 'static, Fut: Future<Output = T>>(f: impl FnOnce() -> Fut + Send + 'static) -> T {
    std::thread::spawn(move || {
        let sys = actix_rt::System::new();
        let out = sys.block_on(f());
        actix_rt::System::current().stop();
        out
    })
    .join()
    .expect("test system panicked")
}

/// A handle on the test's data, as a (re)started service opens it.
fn open(data: &MemoryStorage) -> Arc<dyn Storage> {
    Arc::new(data.reopen())
}

fn count_timers(e: &Engine, kind: TimerKind) -> usize {
    let timers = e.store().pending_timers(usize::MAX).unwrap();
    timers.iter().filter(|t| t.kind == kind).count()
}

fn config() -> EngineConfig {
    EngineConfig {
        timer_tick: Duration::from_millis(10),
        idle_timeout: Duration::from_millis(200),
        shipping: Arc::new(
            Network::new(
                vec![fixtures::carrier("postnl", "PostNL", "3S", 30_000)],
                vec![],
                vec![],
                vec![],
            )
            .expect("a sound network"),
        ),
        ..EngineConfig::default()
    }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap(),
    ))
}

fn new_order(sku: &str, qty: u32, method: PaymentMethod, status: InitialPaymentStatus) -> NewOrder {
    fixtures::new_order(&[(sku, qty, 1250)], method, status)
}

/// Places an order and returns its id.
async fn place(e: &Engine, key: &str, order: NewOrder) -> OrderId {
    e.place(key, order)
        .await
        .expect("order placed")
        .view
        .order
        .id
}

/// Runs any command on an order, as the engine's command methods do.
async fn execute(
    e: &Engine,
    id: OrderId,
    command: Command,
    cause: Cause,
    answer: Answer,
) -> Result<order_actor::Executed, EngineError> {
    e.inner
        .registry
        .execute(id, command, cause, None, answer)
        .await
}

/// Polls until `check` holds, failing after a deadline.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The order with its history. Reads on the in-memory backend are answered inline, so the
/// engine's read future is ready at once.
fn view(e: &Engine, id: OrderId) -> OrderView {
    futures::executor::block_on(e.order_with_history(id)).unwrap()
}

fn status(e: &Engine, id: OrderId) -> Status {
    view(e, id).order.status
}

/// Warehouses as a shop configures them: ams first by priority, rtm second, par only for FR.
fn warehouses() -> Vec<crate::domain::warehouse::Warehouse> {
    let w = |id: &str, country: &str, priority, ships_to: &[&str]| {
        crate::domain::warehouse::Warehouse {
            id: id.into(),
            name: id.to_uppercase(),
            country: country.into(),
            priority,
            ships_to: ships_to.iter().map(|c| c.to_string()).collect(),
            time_zone: "Europe/Amsterdam".into(),
            cutoff: "17:00".into(),
            working_days: vec!["mon".into(), "tue".into()],
            holidays: vec![],
            handling_days: 0,
            working_hours: "08:00-18:00".into(),
            pick_pack_hours: None,
        }
    };
    vec![
        w("ams", "NL", 1, &[]),
        w("rtm", "NL", 2, &[]),
        w("par", "FR", 0, &["FR"]),
    ]
}

#[test]
fn splits_an_order_no_warehouse_can_serve_alone_and_ships_it_in_two() {
    let data = MemoryStorage::new();
    let path = data.reopen();
    run(move || async move {
        let c = clock();
        let config = EngineConfig {
            warehouses: warehouses(),
            ..config()
        };
        let e = Engine::start(open(&path), c.clone(), config).unwrap();
        e.set_stock("ams".into(), "a".into(), 1).await.unwrap();
        e.set_stock("rtm".into(), "a".into(), 5).await.unwrap();
        e.set_stock("ams".into(), "b".into(), 1).await.unwrap();
        // par has plenty but does not ship to NL.
        e.set_stock("par".into(), "a".into(), 50).await.unwrap();
        let order = fixtures::new_order(
            &[("a", 3, 1000), ("b", 1, 500)],
            PaymentMethod::Card,
            InitialPaymentStatus::Captured,
        );
        let id = place(&e, "split-1", order).await;
        eventually("confirmed", || status(&e, id) == Status::Confirmed).await;
        let o = view(&e, id).order;
        let plan: Vec<_> = o
            .shipments
            .iter()
            .map(|s| (s.id, s.warehouse.as_str(), s.line_qtys()))
            .collect();
        let lq = |sku: &str, quantity| LineQty {
            sku: sku.into(),
            quantity,
        };
        assert_eq!(
            plan,
            vec![
                (1, "ams", vec![lq("a", 1), lq("b", 1)]),
                (2, "rtm", vec![lq("a", 2)])
            ]
        );
        let history = view(&e, id).history.events().unwrap();
        assert!(history.iter().any(|ev| matches!(&ev.change,
            Change::Allocated { reason, .. } if reason.contains("ams 1 of 3 a, 1 b; rtm 2 of 3 a"))),
            "the reason is in the history: {history:?}");
        // Each warehouse's pick list has the order.
        for w in ["ams", "rtm"] {
            let picks = e.store().picks(w, None, 10).unwrap();
            assert_eq!(
                picks.iter().map(|o| o.id).collect::<Vec<_>>(),
                vec![id],
                "{w}"
            );
        }
        // rtm packs and hands over first; the order waits for ams.
        e.acknowledge_picks(id, ShipmentRef::Id(2), vec![lq("a", 2)])
            .await
            .unwrap();
        let packed = e
            .pack(id, ShipmentRef::Id(2), vec![Parcel { weight_grams: 500 }])
            .await
            .unwrap();
        assert_eq!(packed.order.status, Status::Confirmed);
        assert!(packed.order.shipment(2).unwrap().booking.is_some());
        assert!(e.store().picks("rtm", None, 10).unwrap().is_empty());
        let shipped = e.hand_over(id, Some(2)).await.unwrap();
        assert_eq!(
            shipped.order.shipment(2).unwrap().status,
            ShipmentStatus::Shipped
        );
        assert_eq!(shipped.order.status, Status::Confirmed);
        let rtm = e.stock("a".into()).await.unwrap();
        assert!(
            rtm.contains(&(
                "rtm".into(),
                StockLevel {
                    on_hand: 3,
                    reserved: 0,
                    incoming: 0,
                }
            )),
            "{rtm:?}"
        );
        // ams, through the order-level routes' way of naming the shipment.
        e.acknowledge_picks(
            id,
            ShipmentRef::At("ams".into()),
            vec![lq("a", 1), lq("b", 1)],
        )
        .await
        .unwrap();
        e.pack(
            id,
            ShipmentRef::At("ams".into()),
            vec![Parcel { weight_grams: 900 }],
        )
        .await
        .unwrap();
        let all = e.hand_over(id, None).await.unwrap();
        assert_eq!(all.order.status, Status::Shipped);
        assert_eq!(all.order.stock, StockState::Committed);
        // Two tracking numbers, each finds the order; delivering both delivers it.
        let numbers: Vec<String> = all
            .order
            .shipments
            .iter()
            .map(|s| s.booking.as_ref().unwrap().tracking_number.clone())
            .collect();
        assert_ne!(numbers[0], numbers[1]);
        for (i, tn) in numbers.iter().enumerate() {
            assert_eq!(e.store().order_by_tracking_number(tn).unwrap(), Some(id));
            let scan = CarrierScan {
                event_id: format!("d{i}"),
                tracking_number: tn.clone(),
                kind: Some(CarrierEventKind::Delivered),
                occurred_at: c.now(),
                location: None,
                estimated_delivery: None,
                code: None,
                description: None,
                reason: None,
            };
            e.carrier_event("postnl".into(), scan).await.unwrap();
        }
        assert_eq!(status(&e, id), Status::Delivered);
    });
}

#[test]
fn an_order_that_may_not_be_split_is_cancelled_saying_why() {
    let data = MemoryStorage::new();
    let path = data.reopen();
    run(move || async move {
        let config = EngineConfig {
            warehouses: warehouses(),
            allocation: crate::domain::warehouse::AllocationPolicy {
                allow_split: false,
                ..Default::default()
            },
            ..config()
        };
        let e = Engine::start(open(&path), clock(), config).unwrap();
        e.set_stock("ams".into(), "a".into(), 1).await.unwrap();
        e.set_stock("rtm".into(), "a".into(), 1).await.unwrap();
        let order = |allow_split| {
            let mut o = fixtures::new_order(
                &[("a", 2, 1000)],
                PaymentMethod::Cod,
                InitialPaymentStatus::Pending,
            );
            o.allow_split = allow_split;
            o
        };
        let refused = place(&e, "whole-1", order(None)).await;
        eventually("cancelled", || status(&e, refused) == Status::Cancelled).await;
        let o = view(&e, refused).order;
        assert_eq!(
            o.cancellation.unwrap().reason,
            "no single warehouse can serve every line, and the order may not be split"
        );
        // The order's own say overrides the shop's policy.
        let split = place(&e, "split-2", order(Some(true))).await;
        eventually("confirmed", || status(&e, split) == Status::Confirmed).await;
        assert_eq!(view(&e, split).order.shipments.len(), 2);
    });
}

#[test]
fn placing_may_wait_for_the_stock_outcome() {
    let data = MemoryStorage::new();
    let path = data.reopen();
    run(move || async move {
        let e = Engine::start(open(&path), clock(), config()).unwrap();
        e.set_stock("ams".into(), "a".into(), 2).await.unwrap();
        let wait = Duration::from_secs(5);
        let order = |status| new_order("a", 1, PaymentMethod::Card, status);
        let placed = e
            .place("w1", order(InitialPaymentStatus::Captured))
            .await
            .unwrap();
        assert_eq!(placed.view.order.status, Status::Placed);
        let (v, known) = e.wait_for_stock(placed.view, wait).await.unwrap();
        assert!(known);
        assert_eq!(v.order.status, Status::Confirmed);
        assert_eq!(v.order.shipments.len(), 1);
        assert!(
            v.history.events().unwrap().len() >= 3,
            "placed, allocated, confirmed"
        );
        // Unpaid: the stock is allocated, the order waits for its payment.
        let placed = e
            .place("w2", order(InitialPaymentStatus::Pending))
            .await
            .unwrap();
        let (v, known) = e.wait_for_stock(placed.view, wait).await.unwrap();
        assert!(known);
        assert_eq!(
            (v.order.status, v.order.stock),
            (Status::Placed, StockState::Reserved)
        );
        // Nothing left: cancelled for shortage.
        let placed = e
            .place("w3", order(InitialPaymentStatus::Captured))
            .await
            .unwrap();
        let (v, known) = e.wait_for_stock(placed.view, wait).await.unwrap();
        assert!(known);
        assert_eq!(v.order.status, Status::Cancelled);
        assert_eq!(v.order.stock, StockState::Unavailable);
    });
}

#[test]
fn backordered_orders_confirm_by_themselves_when_stock_arrives_oldest_first() {
    let data = MemoryStorage::new();
    let path = data.reopen();
    run(move || async move {
        let e = Engine::start(open(&path), clock(), config()).unwrap();
        e.set_backorders("bo".into(), true, 5).await.unwrap();
        e.set_stock("ams".into(), "bo".into(), 1).await.unwrap();
        let wait = Duration::from_secs(5);
        let order = |q| new_order("bo", q, PaymentMethod::Card, InitialPaymentStatus::Captured);
        let placed = e.place("bo-1", order(2)).await.unwrap();
        let (first, known) = e.wait_for_stock(placed.view, wait).await.unwrap();
        assert!(known);
        assert_eq!(
            (first.order.status, first.order.stock),
            (Status::Placed, StockState::Backordered)
        );
        let lq = |q| {
            vec![LineQty {
                sku: "bo".into(),
                quantity: q,
            }]
        };
        assert_eq!(first.order.backordered, lq(1), "one held, one waits");
        let placed = e.place("bo-2", order(2)).await.unwrap();
        let (second, _) = e.wait_for_stock(placed.view, wait).await.unwrap();
        assert_eq!(second.order.stock, StockState::Backordered);
        assert_eq!(second.order.backordered, lq(2));
        assert_eq!(e.backorders("bo".into()).await.unwrap().waiting, 3);
        // Beyond the cap: refused as before backorders, saying why.
        let placed = e.place("bo-3", order(3)).await.unwrap();
        let (third, _) = e.wait_for_stock(placed.view, wait).await.unwrap();
        assert_eq!(third.order.status, Status::Cancelled);
        assert_eq!(
            third.order.cancellation.unwrap().reason,
            "out of stock: bo (backorder cap of 5 reached)"
        );
        // One unit arrives: the oldest is served, the second keeps waiting.
        e.set_stock("ams".into(), "bo".into(), 2).await.unwrap();
        let (a, b) = (first.order.id, second.order.id);
        eventually("the first confirmed", || status(&e, a) == Status::Confirmed).await;
        assert_eq!(view(&e, b).order.stock, StockState::Backordered);
        let filled = view(&e, a).order;
        assert!(filled.backordered.is_empty());
        assert_eq!(filled.shipments[0].line_qtys(), lq(2));
        // A new order is not offered the unit the second waits for: it queues behind it.
        e.set_stock("ams".into(), "bo".into(), 3).await.unwrap();
        let placed = e.place("bo-4", order(1)).await.unwrap();
        let (fourth, _) = e.wait_for_stock(placed.view, wait).await.unwrap();
        assert_eq!(fourth.order.stock, StockState::Backordered);
        let queue: Vec<OrderId> = e
            .store()
            .backorders(None, 10)
            .unwrap()
            .iter()
            .map(|o| o.id)
            .collect();
        assert_eq!(queue, vec![b, fourth.order.id], "oldest first");
        // Two more arrive: the second is served first (it holds the earmarked unit), then the
        // fourth.
        e.set_stock("ams".into(), "bo".into(), 5).await.unwrap();
        let d = fourth.order.id;
        eventually("the second confirmed", || {
            status(&e, b) == Status::Confirmed
        })
        .await;
        eventually("the fourth confirmed", || {
            status(&e, d) == Status::Confirmed
        })
        .await;
        assert_eq!(e.backorders("bo".into()).await.unwrap().waiting, 0);
        assert_eq!(
            e.stock("bo".into()).await.unwrap()[0].1,
            StockLevel {
                on_hand: 5,
                reserved: 5,
                incoming: 0,
            }
        );
    });
}

#[test]
fn a_cancelled_backorder_stops_waiting_and_a_sku_without_backorders_is_refused() {
    let data = MemoryStorage::new();
    let path = data.reopen();
    run(move || async move {
        let e = Engine::start(open(&path), clock(), config()).unwrap();
        e.set_backorders("bo".into(), true, 10).await.unwrap();
        let wait = Duration::from_secs(5);
        let order =
            |sku: &str| new_order(sku, 2, PaymentMethod::Cod, InitialPaymentStatus::Pending);
        let placed = e.place("c-1", order("bo")).await.unwrap();
        let (v, _) = e.wait_for_stock(placed.view, wait).await.unwrap();
        assert_eq!(v.order.stock, StockState::Backordered);
        assert_eq!(e.backorders("bo".into()).await.unwrap().waiting, 2);
        let cancelled = e
            .cancel(v.order.id, "not needed".into(), Cause::Storefront)
            .await
            .unwrap();
        assert_eq!(cancelled.order.status, Status::Cancelled);
        // The release ran before the cancel answered (it waits for its effects).
        assert_eq!(e.backorders("bo".into()).await.unwrap().waiting, 0);
        assert!(e.store().backorders(None, 10).unwrap().is_empty());
        // A cap below what waits is refused; not backorderable: refused at once.
        let placed = e.place("c-2", order("plain")).await.unwrap();
        let (v, _) = e.wait_for_stock(placed.view, wait).await.unwrap();
        assert_eq!(v.order.status, Status::Cancelled);
        assert_eq!(v.order.cancellation.unwrap().reason, "out of stock: plain");
        assert!(matches!(
            e.set_backorders("bo".into(), true, -1).await,
            Err(EngineError::Stock(_))
        ));
    });
}

#[test]
fn walks_an_order_from_placed_to_returned() {
    let data = MemoryStorage::new();
    let path = data.reopen();
    run(move || async move {
        let c = clock();
        let e = Engine::start(open(&path), c.clone(), config()).unwrap();
        e.set_stock("ams".into(), "sku-1".into(), 5).await.unwrap();
        let placed = e
            .place(
                "k1",
                new_order(
                    "sku-1",
                    2,
                    PaymentMethod::Card,
                    InitialPaymentStatus::Captured,
                ),
            )
            .await
            .unwrap();
        let id = placed.view.order.id;
        assert_eq!(placed.view.order.status, Status::Placed);
        eventually("confirmed", || status(&e, id) == Status::Confirmed).await;
        assert_eq!(
            e.stock("sku-1".into()).await.unwrap(),
            vec![(
                "ams".into(),
                StockLevel {
                    on_hand: 5,
                    reserved: 2,
                    incoming: 0,
                }
            )]
        );
        let picks = e.store().picks("ams", None, 10).unwrap();
        assert_eq!(picks.iter().map(|o| o.id).collect::<Vec<_>>(), vec![id]);

        let pick = Command::AcknowledgePicks {
            shipment: ShipmentRef::At("ams".into()),
            lines: vec![LineQty {
                sku: "sku-1".into(),
                quantity: 2,
            }],
        };
        execute(&e, id, pick, Cause::Warehouse, Answer::AfterCommit)
            .await
            .unwrap();
        e.pack(
            id,
            ShipmentRef::At("ams".into()),
            vec![Parcel { weight_grams: 900 }],
        )
        .await
        .unwrap();
        let packed = view(&e, id).order;
        assert_eq!(packed.status, Status::Packed);
        let booking = packed
            .booking()
            .expect("pack waits for the booking")
            .clone();
        assert!(e.store().picks("ams", None, 10).unwrap().is_empty());

        execute(
            &e,
            id,
            Command::Handover { shipment: None },
            Cause::Warehouse,
            Answer::AfterEffects,
        )
        .await
        .unwrap();
        assert_eq!(status(&e, id), Status::Shipped);
        assert_eq!(
            e.stock("sku-1".into()).await.unwrap()[0].1,
            StockLevel {
                on_hand: 3,
                reserved: 0,
                incoming: 0,
            }
        );

        let scan = |event_id: &str, kind| Command::CarrierEvent {
            carrier: "postnl".into(),
            tracking_number: booking.tracking_number.clone(),
            event_id: event_id.into(),
            kind,
            occurred_at: c.now(),
            location: None,
            estimated_delivery: None,
            code: None,
            description: None,
            reason: None,
            exceptions: Default::default(),
        };
        assert_eq!(
            e.store()
                .order_by_tracking_number(&booking.tracking_number)
                .unwrap(),
            Some(id)
        );
        execute(
            &e,
            id,
            scan("e1", CarrierEventKind::Delivered),
            Cause::Carrier("postnl".into()),
            Answer::AfterCommit,
        )
        .await
        .unwrap();
        let again = execute(
            &e,
            id,
            scan("e1", CarrierEventKind::Delivered),
            Cause::Carrier("postnl".into()),
            Answer::AfterCommit,
        )
        .await
        .unwrap();
        assert!(
            again.events.is_empty(),
            "a repeated carrier event changes nothing"
        );
        assert_eq!(status(&e, id), Status::Delivered);

        let ret = Command::RequestReturn {
            lines: vec![LineQty {
                sku: "sku-1".into(),
                quantity: 1,
            }],
            reason: "too big".into(),
            window_days: 30,
        };
        execute(&e, id, ret, Cause::Storefront, Answer::AfterCommit)
            .await
            .unwrap();
        let recv = Command::ReceiveReturn {
            warehouse: "ams".into(),
            lines: vec![LineQty {
                sku: "sku-1".into(),
                quantity: 1,
            }],
        };
        execute(&e, id, recv, Cause::Warehouse, Answer::AfterEffects)
            .await
            .unwrap();
        let done = view(&e, id).order;
        assert_eq!(done.status, Status::Returned);
        assert_eq!(done.refunded.map(|m| m.amount), Some(1250));
        assert_eq!(
            e.stock("sku-1".into()).await.unwrap()[0].1,
            StockLevel {
                on_hand: 4,
                reserved: 0,
                incoming: 0,
            }
        );
    });
}

#[test]
fn a_panicking_order_actor_is_brought_back_and_others_do_not_notice() {
    let data = MemoryStorage::new();
    let path = data.reopen();
    run(move || async move {
        let e = Engine::start(open(&path), clock(), config()).unwrap();
        e.set_stock("ams".into(), "s".into(), 10).await.unwrap();
        let a = place(
            &e,
            "a",
            new_order("s", 1, PaymentMethod::Card, InitialPaymentStatus::Pending),
        )
        .await;
        let b = place(
            &e,
            "b",
            new_order("s", 1, PaymentMethod::Card, InitialPaymentStatus::Pending),
        )
        .await;
        eventually("reserved", || {
            view(&e, a).order.stock == StockState::Reserved
        })
        .await;

        e.inject_panic(a).unwrap();
        // Order b keeps working throughout.
        let pay = |amount| Command::RecordPayment {
            status: PaymentUpdate::Captured,
            amount,
            reference: "psp-1".into(),
        };
        execute(&e, b, pay(1250), Cause::Storefront, Answer::AfterCommit)
            .await
            .unwrap();
        // Order a is reactivated from its durable state and takes the next command.
        let mut result = execute(&e, a, pay(1250), Cause::Storefront, Answer::AfterCommit).await;
        if matches!(result, Err(EngineError::ActorFailed)) {
            result = execute(&e, a, pay(1250), Cause::Storefront, Answer::AfterCommit).await;
        }
        let done = result.expect("order a works again");
        assert_eq!(done.order.payment.status, PaymentStatus::Captured);
        assert_eq!(e.inner.ctx.stats.actor_failures.load(Ordering::Relaxed), 1);
        eventually("both confirmed", || {
            status(&e, a) == Status::Confirmed && status(&e, b) == Status::Confirmed
        })
        .await;
        // No event was lost or doubled by the crash.
        let seqs: Vec<u32> = view(&e, a)
            .history
            .events()
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=seqs.len() as u32).collect::<Vec<_>>());
    });
}

#[test]
fn idle_actors_stop_and_come_back_on_demand() {
    let data = MemoryStorage::new();
    let path = data.reopen();
    run(move || async move {
        let e = Engine::start(open(&path), clock(), config()).unwrap();
        let id = place(
            &e,
            "k",
            new_order("s", 1, PaymentMethod::Cod, InitialPaymentStatus::Pending),
        )
        .await;
        eventually("settled (out of stock, so cancelled)", || {
            status(&e, id) == Status::Cancelled
        })
        .await;
        eventually("actors retired", || e.inner.registry.active() == 0).await;
        let err = execute(
            &e,
            id,
            Command::Cancel {
                reason: "again".into(),
            },
            Cause::Storefront,
            Answer::AfterCommit,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                EngineError::Domain(DomainError::Rejected {
                    status: Status::Cancelled,
                    ..
                })
            ),
            "{err:?}"
        );
        assert_eq!(e.inner.registry.active(), 1);
    });
}

/// Places `n` cash-on-delivery orders of one unit of `sku` at once (keys `{keys}{i}`), waits
/// until each is confirmed or cancelled, and returns how many were confirmed.
async fn race_for(e: &Engine, sku: &str, keys: &str, n: usize) -> usize {
    let placing = (0..n).map(|i| {
        let e = e.clone();
        let (sku, key) = (sku.to_string(), format!("{keys}{i}"));
        async move {
            place(
                &e,
                &key,
                new_order(&sku, 1, PaymentMethod::Cod, InitialPaymentStatus::Pending),
            )
            .await
        }
    });
    let ids = futures::future::join_all(placing).await;
    eventually("all settled", || {
        ids.iter()
            .all(|id| matches!(status(e, *id), Status::Confirmed | Status::Cancelled))
    })
    .await;
    ids.iter()
        .filter(|id| status(e, **id) == Status::Confirmed)
        .count()
}

#[test]
fn concurrent_orders_never_oversell_the_last_units() {
    let data = MemoryStorage::new();
    let path = data.reopen();
    run(move || async move {
        let e = Engine::start(open(&path), clock(), config()).unwrap();
        e.set_stock("ams".into(), "hot".into(), 5).await.unwrap();
        let confirmed = race_for(&e, "hot", "k", 20).await;
        assert_eq!(confirmed, 5);
        assert_eq!(
            e.stock("hot".into()).await.unwrap()[0].1,
            StockLevel {
                on_hand: 5,
                reserved: 5,
                incoming: 0,
            }
        );
    });
}

/// Another writer (a second node) reserves units under the engine's ledger, and storage refuses
/// the engine's stale writes only through their commits (as PostgreSQL's pipelined stock writes
/// do): the inventory reloads, decides again, and still sells exactly what is there.
#[test]
fn stock_refused_after_the_fact_is_decided_again_without_overselling() {
    use crate::domain::inventory::{AllocationRequest, Ledger, StockLevel};
    use orderly_storage::{CellDelta, ReservationWrite, StockChange, StockOperation};
    let data = MemoryStorage::new().refusing_stock_writes_late();
    let path = data.reopen();
    run(move || async move {
        let e = Engine::start(open(&path), clock(), config()).unwrap();
        e.set_stock("ams".into(), "hot".into(), 6).await.unwrap();
        // The other node takes 2 of the 6 units; the engine's ledger still says 6 free.
        let other = open(&path);
        let before = StockLevel {
            on_hand: 6,
            reserved: 0,
            incoming: 0,
        };
        let mut ledger = Ledger::from_levels([(crate::domain::CellKey::new("ams", "hot"), before)]);
        let elsewhere = OrderId::now_v7();
        let lines = [LineQty {
            sku: "hot".into(),
            quantity: 2,
        }];
        let any = AllocationRequest {
            warehouses: &[],
            strategy: Default::default(),
            allow_split: false,
            country: None,
        };
        let (_, change) = ledger.reserve(None, elsewhere, &lines, &any);
        let written = other.write_stock(&StockChange {
            cells: vec![CellDelta {
                warehouse: "ams".into(),
                sku: "hot".into(),
                on_hand: 0,
                reserved: ledger.level(&"ams".into(), &"hot".into()).reserved - before.reserved,
                incoming: 0,
                counted: None,
            }],
            operation: StockOperation::Reservation(ReservationWrite {
                expected: None,
                new: change.reservation.expect("reserved"),
            }),
            skus: vec![],
        });
        written.unwrap().await.unwrap();

        let confirmed = race_for(&e, "hot", "late", 8).await;
        assert_eq!(confirmed, 4, "6 on hand, 2 taken elsewhere");
        assert_eq!(
            e.store().stock_level(&"ams".into(), &"hot".into()).unwrap(),
            StockLevel {
                on_hand: 6,
                reserved: 6,
                incoming: 0,
            }
        );
    });
}

#[test]
fn idempotency_key_replays_and_rejects_a_different_body() {
    let data = MemoryStorage::new();
    let path = data.reopen();
    run(move || async move {
        let e = Engine::start(open(&path), clock(), config()).unwrap();
        let body = new_order("s", 1, PaymentMethod::Card, InitialPaymentStatus::Pending);
        let first = e.place("same", body.clone()).await.unwrap();
        let second = e.place("same", body.clone()).await.unwrap();
        assert!(second.replayed && !first.replayed);
        assert_eq!(first.view.order, second.view.order);
        assert_eq!(
            first.view.history.events().unwrap(),
            second.view.history.events().unwrap()
        );
        let mut other = body;
        other.lines[0].quantity = 2;
        assert!(matches!(
            e.place("same", other).await,
            Err(EngineError::IdempotencyMismatch)
        ));
        assert_eq!(e.store().order_count().unwrap(), 1);
    });
}

#[test]
fn a_timer_that_fell_due_while_down_fires_once_at_start() {
    let data = MemoryStorage::new();
    let c = clock();
    let (path, c1) = (data.reopen(), c.clone());
    let id = run(move || async move {
        let e = Engine::start(open(&path), c1, config()).unwrap();
        e.set_stock("ams".into(), "s".into(), 3).await.unwrap();
        let id = place(
            &e,
            "k",
            new_order("s", 2, PaymentMethod::Card, InitialPaymentStatus::Pending),
        )
        .await;
        eventually("reserved", || {
            view(&e, id).order.stock == StockState::Reserved
        })
        .await;
        id
    });
    // The service is down for a day and a bit.
    c.advance(chrono::Duration::hours(25));
    let (path, c2) = (data.reopen(), c.clone());
    run(move || async move {
        let e = Engine::start(open(&path), c2, config()).unwrap();
        eventually("cancelled by the payment timer", || {
            status(&e, id) == Status::Cancelled
        })
        .await;
        let view = view(&e, id);
        let history = view.history.events().unwrap();
        let cancels = history
            .iter()
            .filter(|ev| matches!(ev.change, Change::Cancelled { .. }))
            .count();
        assert_eq!(cancels, 1);
        assert_eq!(history.last().unwrap().by, Cause::PaymentTimer);
        eventually("reservation released", || {
            e.store()
                .reservation(id)
                .unwrap()
                .is_some_and(|r| r.state == crate::domain::inventory::ReservationState::Released)
        })
        .await;
        assert_eq!(
            e.stock("s".into()).await.unwrap()[0].1,
            StockLevel {
                on_hand: 3,
                reserved: 0,
                incoming: 0,
            }
        );
        assert_eq!(count_timers(&e, TimerKind::PaymentDue), 0);
    });
}

#[test]
fn redelivered_messages_change_nothing_twice() {
    let data = MemoryStorage::new();
    let path = data.reopen();
    run(move || async move {
        let e = Engine::start(open(&path), clock(), config()).unwrap();
        e.set_stock("ams".into(), "s".into(), 4).await.unwrap();
        let placed = e
            .place(
                "k",
                new_order("s", 2, PaymentMethod::Cod, InitialPaymentStatus::Pending),
            )
            .await
            .unwrap();
        let id = placed.view.order.id;
        eventually("confirmed", || status(&e, id) == Status::Confirmed).await;
        let events_before = view(&e, id).history.events().unwrap().len();
        // Deliver the reservation message again, as a restart after a crash would.
        let r = reactions(
            None,
            &placed.view.order,
            &placed.view.history.events().unwrap(),
        );
        e.inner
            .ctx
            .effects
            .send(
                e.inner.ctx.outbox_entries(&placed.view.order, &r.effects),
                Answer::AfterEffects,
            )
            .await;
        assert_eq!(
            e.stock("s".into()).await.unwrap()[0].1,
            StockLevel {
                on_hand: 4,
                reserved: 2,
                incoming: 0,
            }
        );
        assert_eq!(view(&e, id).history.events().unwrap().len(), events_before);
    });
}

#[test]
fn a_backup_on_a_store_that_cannot_make_one_says_so_and_the_next_may_start() {
    run(|| async {
        let data = MemoryStorage::new();
        let e = Engine::start(open(&data), clock(), config()).unwrap();
        let dir = std::env::temp_dir().join("orderly-never-written");
        for _ in 0..2 {
            match e.backup(dir.clone()).await {
                Err(EngineError::BackupUnsupported(why)) => {
                    assert!(why.contains("export"), "{why}")
                }
                other => panic!("the in-memory store has no backup: {other:?}"),
            }
        }
        assert!(!dir.exists());
    });
}

#[test]
fn availability_answers_every_sku_asked_in_order_and_unknown_ones_empty() {
    let data = MemoryStorage::new();
    let path = data.reopen();
    run(move || async move {
        let e = Engine::start(open(&path), clock(), config()).unwrap();
        e.set_stock("rtm".into(), "a".into(), 3).await.unwrap();
        e.set_stock("ams".into(), "a".into(), 5).await.unwrap();
        e.set_stock("ams".into(), "b".into(), 1).await.unwrap();
        let id = place(
            &e,
            "k1",
            new_order("a", 2, PaymentMethod::Card, InitialPaymentStatus::Captured),
        )
        .await;
        eventually("confirmed", || status(&e, id) == Status::Confirmed).await;
        let got = e
            .availability(vec!["b".into(), "none".into(), "a".into()])
            .await
            .unwrap();
        let level = |on_hand, reserved| StockLevel {
            on_hand,
            reserved,
            incoming: 0,
        };
        assert_eq!(
            got,
            vec![
                SkuAvailability {
                    sku: "b".into(),
                    warehouses: vec![("ams".into(), level(1, 0))],
                    backorders: Default::default(),
                },
                SkuAvailability {
                    sku: "none".into(),
                    warehouses: vec![],
                    backorders: Default::default(),
                },
                SkuAvailability {
                    sku: "a".into(),
                    warehouses: vec![("ams".into(), level(5, 2)), ("rtm".into(), level(3, 0))],
                    backorders: Default::default(),
                },
            ]
        );
        assert_eq!(
            got.iter()
                .map(SkuAvailability::available)
                .collect::<Vec<_>>(),
            [1, 0, 6]
        );
        assert_eq!(e.stocked_warehouses().await.unwrap(), ["ams", "rtm"]);
        assert!(e.warehouses().is_empty(), "none configured");
    });
}

/// A shipment's promise: planned at allocation (the shop's network: one PostNL service, one
/// transit day, the open warehouse on UTC weekdays with a 17:00 cut-off), a timer set for the
/// moment it breaks, `delayed` recorded once by that timer when the shipment is not delivered,
/// with a notification to the customer and to operations; a shipment delivered in time has its
/// timer fire all the same, record nothing, and go.
#[test]
fn a_broken_promise_is_recorded_once_by_its_timer() {
    let data = MemoryStorage::new();
    let c = clock();
    let (path, c1) = (data.reopen(), c.clone());
    run(move || async move {
        let e = Engine::start(open(&path), c1.clone(), config()).unwrap();
        e.set_stock("ams".into(), "s".into(), 5).await.unwrap();
        let paid = || new_order("s", 1, PaymentMethod::Cod, InitialPaymentStatus::Pending);
        let late = place(&e, "late", paid()).await;
        let on_time = place(&e, "on-time", paid()).await;
        for id in [late, on_time] {
            eventually("confirmed", || status(&e, id) == Status::Confirmed).await;
        }
        // Monday 10:00 UTC: leaves Monday, one transit day → Tuesday the 24th.
        let o = view(&e, late).order;
        let plan = o.shipments[0].plan.clone().expect("planned at allocation");
        assert_eq!(
            (plan.carrier.as_str(), plan.service.as_str()),
            ("postnl", "std")
        );
        let tuesday = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        assert_eq!(
            (plan.promise.earliest, plan.promise.latest),
            (tuesday, tuesday)
        );
        assert_eq!(o.promised_window(), Some((tuesday, tuesday)));
        assert_eq!(count_timers(&e, TimerKind::PromiseDue), 2);

        // The on-time one is delivered on Tuesday: its timer goes.
        e.acknowledge_picks(on_time, ShipmentRef::Id(1), o.line_qtys())
            .await
            .unwrap();
        let packed = e
            .pack(
                on_time,
                ShipmentRef::Id(1),
                vec![Parcel { weight_grams: 500 }],
            )
            .await
            .unwrap();
        let booking = packed.order.shipments[0].booking.clone().expect("booked");
        // The booking's window is kept on the plan (the event has it too).
        let plan = packed.order.shipments[0].plan.as_ref().expect("planned");
        assert_eq!(plan.promise.latest, tuesday);
        assert_eq!(booking.promise, None);
        e.hand_over(on_time, None).await.unwrap();
        c1.advance(chrono::Duration::hours(24));
        let scan = CarrierScan {
            event_id: "d1".into(),
            tracking_number: booking.tracking_number.clone(),
            kind: Some(CarrierEventKind::Delivered),
            occurred_at: c1.now(),
            location: None,
            estimated_delivery: None,
            code: None,
            description: None,
            reason: None,
        };
        e.carrier_event("postnl".into(), scan).await.unwrap();
        assert_eq!(status(&e, on_time), Status::Delivered);
        assert_eq!(
            count_timers(&e, TimerKind::PromiseDue),
            2,
            "the delivered one's is left to fire, and will find nothing"
        );

        // Wednesday 00:00 UTC: the late one's promise is broken.
        c1.advance(chrono::Duration::hours(14));
        eventually("delayed", || view(&e, late).order.shipments[0].delayed).await;
        let history = view(&e, late).history.events().unwrap();
        let delayed: Vec<&Event> = history
            .iter()
            .filter(|ev| matches!(ev.change, Change::Delayed { .. }))
            .collect();
        assert_eq!(delayed.len(), 1);
        assert_eq!(delayed[0].by, Cause::PromiseTimer);
        assert_eq!(
            delayed[0].change,
            Change::Delayed {
                shipment: 1,
                promised: tuesday
            }
        );
        eventually("the timer acknowledged", || {
            count_timers(&e, TimerKind::PromiseDue) == 0
        })
        .await;
        // Asked again, nothing more is recorded; the delivered order never was delayed.
        let again = execute(
            &e,
            late,
            Command::CheckPromises,
            Cause::PromiseTimer,
            Answer::AfterCommit,
        )
        .await
        .unwrap();
        assert!(again.events.is_empty());
        assert!(!view(&e, on_time).order.shipments[0].delayed);
    });
}

/// A `delayed` notification goes to every customer channel and to every operations channel
/// (named `operations.<channel>`); other notifications go to the customers' only.
#[test]
fn delays_are_told_to_operations_as_well() {
    let data = MemoryStorage::new();
    let path = data.reopen();
    run(move || async move {
        let e = Engine::start(open(&path), clock(), config()).unwrap();
        let notify = |kind| Effect {
            order_id: OrderId::nil(),
            step: 3,
            kind: EffectKind::Notify { kind },
        };
        let some_order = view(
            &e,
            place(
                &e,
                "ann",
                new_order("s", 1, PaymentMethod::Card, InitialPaymentStatus::Captured),
            )
            .await,
        )
        .order;
        let channels = |kind| -> Vec<Option<String>> {
            e.inner
                .ctx
                .outbox_entries(&some_order, &[notify(kind)])
                .into_iter()
                .map(|entry| entry.channel)
                .collect()
        };
        assert_eq!(
            channels(NotificationKind::Delayed),
            vec![Some("log".to_string()), Some("operations.log".to_string())]
        );
        assert_eq!(
            channels(NotificationKind::Shipped),
            vec![Some("log".to_string())]
        );
    });
}

/// A warehouse's pick-and-pack deadline: counted in its working hours from the order's
/// confirmation (Monday 10:00 UTC + 4 working hours of 08:00-18:00 = Monday 14:00), a timer set
/// at confirmation; a shipment still not packed by then is recorded `pick_pack_late` once by
/// that timer, operations are told (and not the customer), and the metric counts it by
/// warehouse; one packed in time records nothing.
#[test]
fn a_missed_pick_pack_deadline_is_recorded_once_and_told_to_operations() {
    let data = MemoryStorage::new();
    let c = clock();
    let (path, c1) = (data.reopen(), c.clone());
    run(move || async move {
        let ams = crate::domain::warehouse::Warehouse {
            pick_pack_hours: Some(4),
            ..warehouses().into_iter().next().expect("ams")
        };
        let config = EngineConfig {
            shipping: Arc::new(
                Network::new(
                    vec![fixtures::carrier("postnl", "PostNL", "3S", 30_000)],
                    vec![],
                    vec![ams.clone()],
                    vec![],
                )
                .expect("a sound network"),
            ),
            warehouses: vec![ams.clone()],
            ..config()
        };
        let e = Engine::start(open(&path), c1.clone(), config).unwrap();
        e.set_stock(ams.id.clone(), "s".into(), 5).await.unwrap();
        let cod = || new_order("s", 1, PaymentMethod::Cod, InitialPaymentStatus::Pending);
        let slow = place(&e, "slow", cod()).await;
        let quick = place(&e, "quick", cod()).await;
        for id in [slow, quick] {
            eventually("confirmed", || status(&e, id) == Status::Confirmed).await;
        }
        let confirmed = view(&e, slow)
            .history
            .events()
            .unwrap()
            .into_iter()
            .find(|ev| ev.change == Change::Confirmed)
            .expect("confirmed")
            .at;
        assert_eq!(count_timers(&e, TimerKind::DeadlineDue), 2, "one per order");
        let due = e
            .store()
            .pending_timers(usize::MAX)
            .unwrap()
            .into_iter()
            .find(|t| t.kind == TimerKind::DeadlineDue)
            .unwrap()
            .due;
        let expected = ams.shift().unwrap().after_working_hours(confirmed, 4);
        assert_eq!(due, expected);
        // The quick one is packed in time.
        let lines = view(&e, quick).order.line_qtys();
        e.acknowledge_picks(quick, ShipmentRef::Id(1), lines)
            .await
            .unwrap();
        e.pack(
            quick,
            ShipmentRef::Id(1),
            vec![Parcel { weight_grams: 500 }],
        )
        .await
        .unwrap();
        // Not yet: nothing happens a minute before.
        c1.advance(due - c1.now() - chrono::Duration::minutes(1));
        assert!(!view(&e, slow).order.shipments[0].pick_pack_late);
        c1.advance(chrono::Duration::minutes(1));
        eventually("late", || view(&e, slow).order.shipments[0].pick_pack_late).await;
        let history = view(&e, slow).history.events().unwrap();
        let late: Vec<&Event> = history
            .iter()
            .filter(|ev| matches!(ev.change, Change::PickPackLate { .. }))
            .collect();
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].by, Cause::DeadlineTimer);
        assert_eq!(late[0].change, Change::PickPackLate { shipment: 1, due });
        assert!(!view(&e, quick).order.shipments[0].pick_pack_late);
        assert_eq!(
            e.metrics().await.pick_pack_late,
            vec![(ams.id.to_string(), 1)]
        );
        // Operations are told, the customer is not.
        let notify = Effect {
            order_id: slow,
            step: 9,
            kind: EffectKind::Notify {
                kind: NotificationKind::PickPackLate,
            },
        };
        let channels: Vec<Option<String>> = e
            .inner
            .ctx
            .outbox_entries(&view(&e, slow).order, &[notify])
            .into_iter()
            .map(|entry| entry.channel)
            .collect();
        assert_eq!(channels, vec![Some("operations.log".to_string())]);
        // Fired again (a redelivered timer), nothing more is recorded.
        let again = execute(
            &e,
            slow,
            Command::CheckDeadlines { late: vec![] },
            Cause::DeadlineTimer,
            Answer::AfterCommit,
        )
        .await
        .unwrap();
        assert!(again.events.is_empty());
    });
}
