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
        carriers: vec![fixtures::carrier("postnl", "PostNL", "3S", 30_000)],
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
                    reserved: 2
                }
            )]
        );
        let picks = e.store().picks("ams", None, 10).unwrap();
        assert_eq!(picks.iter().map(|o| o.id).collect::<Vec<_>>(), vec![id]);

        let pick = Command::AcknowledgePicks {
            warehouse: "ams".into(),
            lines: vec![LineQty {
                sku: "sku-1".into(),
                quantity: 2,
            }],
        };
        execute(&e, id, pick, Cause::Warehouse, Answer::AfterCommit)
            .await
            .unwrap();
        e.pack(id, "ams".into(), vec![Parcel { weight_grams: 900 }])
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
            Command::Handover,
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
                reserved: 0
            }
        );

        let scan = |event_id: &str, kind| Command::CarrierEvent {
            carrier: "postnl".into(),
            event_id: event_id.into(),
            kind,
            occurred_at: c.now(),
            location: None,
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
                reserved: 0
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
                reserved: 5
            }
        );
    });
}

/// Another writer (a second node) reserves units under the engine's ledger, and storage refuses
/// the engine's stale writes only through their commits (as PostgreSQL's pipelined stock writes
/// do): the inventory reloads, decides again, and still sells exactly what is there.
#[test]
fn stock_refused_after_the_fact_is_decided_again_without_overselling() {
    use crate::domain::inventory::{Ledger, StockLevel};
    use orderly_storage::{CellWrite, ReservationWrite, StockChange};
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
        };
        let mut ledger = Ledger::from_levels([(("ams".to_string(), "hot".to_string()), before)]);
        let elsewhere = OrderId::now_v7();
        let lines = [LineQty {
            sku: "hot".into(),
            quantity: 2,
        }];
        let (_, change) = ledger.reserve(None, elsewhere, &lines);
        let written = other.write_stock(&StockChange {
            cells: vec![CellWrite {
                warehouse: "ams".into(),
                sku: "hot".into(),
                expected: before,
                new: ledger.level("ams", "hot"),
            }],
            reservation: Some(ReservationWrite {
                expected: None,
                new: change.reservation.expect("reserved"),
            }),
            restock: None,
        });
        written.unwrap().await.unwrap();

        let confirmed = race_for(&e, "hot", "late", 8).await;
        assert_eq!(confirmed, 4, "6 on hand, 2 taken elsewhere");
        assert_eq!(
            e.store().stock_level("ams", "hot").unwrap(),
            StockLevel {
                on_hand: 6,
                reserved: 6
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
                reserved: 0
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
        let r = reactions(&placed.view.order, &placed.view.history.events().unwrap());
        e.inner
            .ctx
            .effects
            .send(e.inner.ctx.outbox_entries(&r.effects), Answer::AfterEffects)
            .await;
        assert_eq!(
            e.stock("s".into()).await.unwrap()[0].1,
            StockLevel {
                on_hand: 4,
                reserved: 2
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
        let level = |on_hand, reserved| StockLevel { on_hand, reserved };
        assert_eq!(
            got,
            vec![
                SkuAvailability {
                    sku: "b".into(),
                    warehouses: vec![("ams".into(), level(1, 0))]
                },
                SkuAvailability {
                    sku: "none".into(),
                    warehouses: vec![]
                },
                SkuAvailability {
                    sku: "a".into(),
                    warehouses: vec![("ams".into(), level(5, 2)), ("rtm".into(), level(3, 0))]
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
