//! The conformance suite: the [`Storage`] contract as executable checks, run against every
//! backend unchanged.
//!
//! A backend's crate runs the whole suite from one of its integration tests:
//!
//! ```ignore
//! struct MyBackend;
//! impl orderly_storage::conformance::Backend for MyBackend { /* create a fresh Place */ }
//! orderly_storage::conformance_tests!(MyBackend);
//! ```
//!
//! which expands to one `#[test]` per check. Each check gets a fresh, empty [`Place`] (a
//! directory, a database schema), opens storage there, and may close every handle and open
//! it again — a restart — to check what survives. The checks are synchronous and await
//! commits with `futures::executor::block_on`, so a backend's commit futures must not depend
//! on the executor they are polled on (see [`crate::Durability::wait`]).
//!
//! What is checked: read-your-commit and every query of a committed transition; index moves
//! over a lifecycle; atomicity (an interrupted transition leaves nothing visible, and the
//! next transition at the same step does not mix with it — for backends that can simulate the
//! interruption, see [`Place::write_interrupted`]); survival of committed data, outbox
//! entries and timers over a restart; redelivery of what was not acknowledged; dead letters;
//! conditional stock writes (all cells, sku backorder records and the reservation, or none);
//! the backorder queue (oldest first, left when filled or cancelled); that the ledger never
//! oversells with several writers racing (each on its own handle when the backend allows
//! several, see [`Place::open_another`]); that an export imported into a fresh place
//! exports the same file again and answers every read the same; and stock alerts: cells'
//! alert records written conditionally with their notices, all or nothing; subscriptions once
//! per contact and bounded per sku, also with writers racing; stock notices redelivered and
//! dead-lettered like orders' messages; all of it carried by an export.

use crate::domain::inventory::{
    AllocationRequest, Backorders, Ledger, Reservation, ReservationState, ReservedPart, StockLevel,
};
use crate::domain::stock_alerts::{CellAlert, NoticeKind, StockNotice, Subscription};
use crate::domain::warehouse::AllocationStrategy;
use crate::domain::{
    decide, fold, reactions, Address, Allocation, Booking, CarrierEventKind, Cause, Command,
    Currency, Customer, EffectKind, Event, InitialPaymentStatus, LineQty, NewLine, NewOrder,
    NewPayment, Order, OrderId, Parcel, PaymentMethod, PaymentUpdate, ShipmentRef, Shipping, Sku,
    Status, StockState, Timer, TimerKind,
};
use crate::export::{self, ExportError};
use crate::{
    AlertsWrite, CellAlertWrite, CellDelta, CellKey, Commit, DeadLetter, ExportRecord,
    IdempotencyRecord, OutboxEntry, Result, SentMessage, SkuDelta, StockChange, StockOperation,
    Storage, StorageError, TransitionWrite,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::sync::Arc;

/// Makes places for the suite's checks.
pub trait Backend: Send + Sync {
    /// A fresh, empty place to keep data. Dropping it removes what was kept there.
    fn create(&self) -> Box<dyn Place>;
}

/// One check's data: a directory, a database schema, ...
pub trait Place: Send + Sync {
    /// Opens storage here: for the first time, or again after every handle from the previous
    /// open was dropped (a restart).
    fn open(&self) -> Result<Arc<dyn Storage>>;

    /// Another handle on the same data while the first is open, as a second node would hold
    /// one; `None` when the backend allows one handle per place (sled).
    fn open_another(&self) -> Option<Result<Arc<dyn Storage>>> {
        None
    }

    /// Writes what a crash in the middle of [`Transitions::commit_transition`] could leave behind
    /// — everything but the commit point — through the handle most recently opened. Returns
    /// `false` when the backend's commit has no such middle (one database transaction): the
    /// atomicity check then only checks the committed side.
    fn write_interrupted(&self, _w: &TransitionWrite<'_>) -> Result<bool> {
        Ok(false)
    }
}

/// One check of the suite.
pub type Check = fn(&dyn Backend);

/// Every check, by name.
pub const ALL: &[(&str, Check)] = &[
    ("read_your_commit", read_your_commit),
    ("indexes_follow_the_lifecycle", indexes_follow_the_lifecycle),
    (
        "interrupted_transition_is_invisible",
        interrupted_transition_is_invisible,
    ),
    (
        "interrupted_placement_is_invisible",
        interrupted_placement_is_invisible,
    ),
    (
        "committed_data_survives_a_restart",
        committed_data_survives_a_restart,
    ),
    (
        "outbox_redelivers_until_acknowledged",
        outbox_redelivers_until_acknowledged,
    ),
    (
        "dead_letters_move_and_requeue",
        dead_letters_move_and_requeue,
    ),
    (
        "an_orders_messages_are_sent_pending_or_dead",
        an_orders_messages_are_sent_pending_or_dead,
    ),
    (
        "timers_redeliver_until_acknowledged",
        timers_redeliver_until_acknowledged,
    ),
    (
        "idempotency_record_counts_once_committed",
        idempotency_record_counts_once_committed,
    ),
    (
        "stock_writes_commute_and_stay_sound",
        stock_writes_commute_and_stay_sound,
    ),
    (
        "transfers_are_written_with_their_stock",
        transfers_are_written_with_their_stock,
    ),
    ("ledger_never_oversells", ledger_never_oversells),
    ("sync_covers_earlier_writes", sync_covers_earlier_writes),
    ("export_import_round_trip", export_import_round_trip),
    (
        "split_orders_are_on_every_pick_list",
        split_orders_are_on_every_pick_list,
    ),
    (
        "reservations_with_several_parts",
        reservations_with_several_parts,
    ),
    (
        "old_records_read_as_one_shipment",
        old_records_read_as_one_shipment,
    ),
    (
        "sku_backorders_change_with_the_stock",
        sku_backorders_change_with_the_stock,
    ),
    (
        "backorder_queue_serves_oldest_first",
        backorder_queue_serves_oldest_first,
    ),
    (
        "cell_alerts_are_written_with_their_notices",
        cell_alerts_are_written_with_their_notices,
    ),
    (
        "subscriptions_are_bounded_and_end_with_their_notice",
        subscriptions_are_bounded_and_end_with_their_notice,
    ),
    (
        "subscriptions_stay_bounded_with_racing_writers",
        subscriptions_stay_bounded_with_racing_writers,
    ),
    (
        "stock_notices_are_redelivered_and_dead_lettered",
        stock_notices_are_redelivered_and_dead_lettered,
    ),
    (
        "stock_alerts_export_and_import",
        stock_alerts_export_and_import,
    ),
];

/// Runs every check, in order.
pub fn run_all(backend: &dyn Backend) {
    for (_, check) in ALL {
        check(backend);
    }
}

/// One `#[test]` per conformance check, for a backend's test crate:
/// `orderly_storage::conformance_tests!(MyBackend::new());`, or
/// `conformance_tests!(MyBackend::new(), when = server_available());` for a backend that needs
/// a server the machine may not have.
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr) => {
        $crate::conformance_tests!($backend, when = true);
    };
    // `when`: checked first by every test; a test whose backend is not available (a database
    // server that is not installed) returns without checking anything.
    ($backend:expr, when = $available:expr) => {
        $crate::conformance_tests!(@each $backend, $available;
            read_your_commit,
            indexes_follow_the_lifecycle,
            interrupted_transition_is_invisible,
            interrupted_placement_is_invisible,
            committed_data_survives_a_restart,
            outbox_redelivers_until_acknowledged,
            dead_letters_move_and_requeue,
            an_orders_messages_are_sent_pending_or_dead,
            timers_redeliver_until_acknowledged,
            idempotency_record_counts_once_committed,
            stock_writes_commute_and_stay_sound,
            transfers_are_written_with_their_stock,
            ledger_never_oversells,
            sync_covers_earlier_writes,
            export_import_round_trip,
            split_orders_are_on_every_pick_list,
            reservations_with_several_parts,
            old_records_read_as_one_shipment,
            sku_backorders_change_with_the_stock,
            backorder_queue_serves_oldest_first,
            cell_alerts_are_written_with_their_notices,
            subscriptions_are_bounded_and_end_with_their_notice,
            subscriptions_stay_bounded_with_racing_writers,
            stock_notices_are_redelivered_and_dead_lettered,
            stock_alerts_export_and_import
        );
    };
    (@each $backend:expr, $available:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if !$available {
                    return;
                }
                $crate::conformance::$name(&$backend);
            }
        )*
    };
}

// ---- building transitions with the domain ---------------------------------------------------

/// The suite's clock: a fixed start, moved by hand.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

/// A valid new order with `(sku, quantity)` lines at 10.00 EUR each.
pub fn new_order(lines: &[(&str, u32)], method: PaymentMethod) -> NewOrder {
    NewOrder {
        external_ref: Some("ext-1".into()),
        customer: Customer {
            id: "cust-1".into(),
            email: "jan@example.nl".into(),
            phone: None,
            locale: Some("nl-NL".into()),
            channel: None,
            opt_out: Vec::new(),
        },
        currency: Currency::parse("EUR").expect("EUR"),
        lines: lines
            .iter()
            .map(|&(sku, quantity)| NewLine {
                sku: sku.into(),
                quantity,
                unit_price: 1000,
            })
            .collect(),
        shipping: Shipping {
            method: Some("standard".into()),
            address: Address {
                name: "Jan Jansen".into(),
                line1: "Keizersgracht 123".into(),
                line2: None,
                city: "Amsterdam".into(),
                postal_code: "1015 CJ".into(),
                country: "NL".into(),
            },
            weight_grams: None,
        },
        billing_address: None,
        payment: NewPayment {
            method,
            status: InitialPaymentStatus::Pending,
        },
        allow_split: None,
    }
}

/// The inventory's answer serving every line of `order` from `warehouse`: one shipment.
pub fn stock_reserved(order: &Order, warehouse: &str) -> Command {
    allocated(
        order,
        &[(
            warehouse,
            &order
                .lines
                .iter()
                .map(|l| (l.sku.as_str(), l.quantity))
                .collect::<Vec<_>>(),
        )],
    )
}

/// The inventory's answer allocating `(warehouse, [(sku, quantity)])`, one shipment each,
/// numbered from 1.
pub fn allocated(_order: &Order, shipments: &[(&str, &[(&str, u32)])]) -> Command {
    Command::StockAllocated {
        shipments: shipments
            .iter()
            .enumerate()
            .map(|(i, (warehouse, lines))| Allocation {
                shipment: i as u32 + 1,
                plan: None,
                warehouse: (*warehouse).into(),
                lines: lines
                    .iter()
                    .map(|&(sku, quantity)| LineQty {
                        sku: sku.into(),
                        quantity,
                    })
                    .collect(),
            })
            .collect(),
        reason: format!(
            "served from {}",
            shipments
                .iter()
                .map(|(w, _)| *w)
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    }
}

/// One decided transition, owning what a [`TransitionWrite`] borrows.
#[derive(Debug, Clone)]
pub struct Step {
    pub before: Option<Order>,
    pub after: Order,
    pub events: Vec<Event>,
    pub outbox: Vec<OutboxEntry>,
    pub set_timers: Vec<Timer>,
    pub clear_timers: Vec<Timer>,
    pub idempotency: Option<(String, IdempotencyRecord)>,
}

impl Step {
    /// Decides `command` on `before` at `now` with the domain, as the engine would.
    /// Notifications get one outbox entry on the `webhook` channel.
    pub fn decide(
        before: Option<&Order>,
        command: Command,
        cause: Cause,
        now: DateTime<Utc>,
    ) -> Step {
        let events = decide(before, &command, &cause, now).expect("the domain accepts the command");
        assert!(!events.is_empty(), "the command changes the order");
        let after = fold(before.cloned(), &events).expect("events fold");
        let r = reactions(before, &after, &events);
        let outbox = r
            .effects
            .iter()
            .map(|e| {
                let channel =
                    matches!(e.kind, EffectKind::Notify { .. }).then(|| "webhook".to_string());
                OutboxEntry::new(e.clone(), channel)
            })
            .collect();
        Step {
            before: before.cloned(),
            after,
            events,
            outbox,
            set_timers: r.set_timers,
            clear_timers: r.clear_timers,
            idempotency: None,
        }
    }

    /// Places a new order (card orders start unpaid and get a payment timer).
    pub fn place(order: NewOrder, now: DateTime<Utc>) -> Step {
        let id = OrderId::now_v7();
        let command = Command::Place {
            id,
            tracking_token: format!("{:040x}", id.as_u128()),
            order,
            payment_timeout_secs: 3600,
        };
        Step::decide(None, command, Cause::Storefront, now)
    }

    /// The next transition on this one's `after`.
    pub fn then(&self, command: Command, cause: Cause, now: DateTime<Utc>) -> Step {
        Step::decide(Some(&self.after), command, cause, now)
    }

    pub fn with_idempotency(mut self, key: &str, fingerprint: &str) -> Step {
        self.idempotency = Some((
            key.to_string(),
            IdempotencyRecord {
                fingerprint: fingerprint.to_string(),
                order_id: self.after.id,
                version: self.after.version,
            },
        ));
        self
    }

    pub fn write(&self) -> TransitionWrite<'_> {
        TransitionWrite {
            before: self.before.as_ref(),
            after: &self.after,
            events: &self.events,
            outbox: &self.outbox,
            set_timers: &self.set_timers,
            clear_timers: &self.clear_timers,
            idempotency: self.idempotency.as_ref().map(|(k, r)| (k.as_str(), r)),
        }
    }

    /// Commits this transition and waits until it is durable.
    pub fn commit(&self, s: &dyn Storage) {
        wait(
            s.commit_transition(&self.write())
                .expect("commit_transition"),
        );
    }
}

/// Awaits a commit.
pub fn wait(commit: Commit) {
    futures::executor::block_on(std::future::IntoFuture::into_future(commit))
        .expect("the commit becomes durable");
}

fn open(place: &dyn Place) -> Arc<dyn Storage> {
    place.open().expect("storage opens")
}

/// Drops the handle and opens the place again: a restart.
fn reopen(place: &dyn Place, s: Arc<dyn Storage>) -> Arc<dyn Storage> {
    drop(s);
    open(place)
}

fn booking(tn: &str) -> Booking {
    Booking {
        carrier: "postnl".into(),
        carrier_name: "PostNL".into(),
        service: "standard".into(),
        tracking_number: tn.into(),
        estimated_delivery: t0().date_naive() + Duration::days(1),
        price: None,
        rule: None,
        promise: None,
        label_url: None,
    }
}

fn all_events(steps: &[&Step]) -> Vec<Event> {
    steps.iter().flat_map(|s| s.events.clone()).collect()
}

fn messages(entries: &[OutboxEntry]) -> Vec<String> {
    let mut ids: Vec<String> = entries.iter().map(OutboxEntry::message_id).collect();
    ids.sort();
    ids
}

fn outbox_of(s: &dyn Storage, id: OrderId) -> Vec<OutboxEntry> {
    s.claim_outbox()
        .expect("claim_outbox")
        .into_iter()
        .filter(|e| e.order_id() == Some(id))
        .collect()
}

/// A placed card order (payment timer set), reserved, paid (confirmed at `ams`).
struct Lifecycle {
    placed: Step,
    reserved: Step,
    paid: Step,
}

fn confirmed_order(s: &dyn Storage, lines: &[(&str, u32)]) -> Lifecycle {
    let placed = Step::place(new_order(lines, PaymentMethod::Card), t0());
    placed.commit(s);
    let reserved = placed.then(
        stock_reserved(&placed.after, "ams"),
        Cause::InventoryActor,
        t0() + Duration::seconds(1),
    );
    reserved.commit(s);
    let paid = reserved.then(
        Command::RecordPayment {
            status: PaymentUpdate::Captured,
            amount: placed.after.total().amount,
            reference: "psp-1".into(),
        },
        Cause::Storefront,
        t0() + Duration::seconds(2),
    );
    paid.commit(s);
    assert_eq!(paid.after.status, Status::Confirmed);
    Lifecycle {
        placed,
        reserved,
        paid,
    }
}

// ---- the checks --------------------------------------------------------------------------

/// Everything a committed placement wrote is visible through every read.
pub fn read_your_commit(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let placed = Step::place(new_order(&[("SKU-1", 2)], PaymentMethod::Card), t0())
        .with_idempotency("key-1", "fp-1");
    placed.commit(&*s);
    let order = &placed.after;
    let id = order.id;

    assert_eq!(s.load_order(id).unwrap().as_ref(), Some(order));
    assert!(s.order_exists(id).unwrap());
    assert!(!s.order_exists(OrderId::now_v7()).unwrap());
    assert_eq!(s.load_order(OrderId::now_v7()).unwrap(), None);
    assert_eq!(s.history(id, order.version).unwrap(), placed.events);
    let raw = s.history_json(id, order.version).unwrap();
    let decoded: Vec<Event> = raw
        .iter()
        .flat_map(|r| {
            r.decode::<Event>()
                .expect("history_json is domain event JSON")
        })
        .collect();
    assert_eq!(decoded, placed.events);
    assert_eq!(s.order_count().unwrap(), 1);
    assert_eq!(s.list_orders(None, None, 10).unwrap(), vec![order.clone()]);
    assert_eq!(
        s.list_orders(Some(Status::Placed), None, 10).unwrap(),
        vec![order.clone()]
    );
    assert!(s
        .list_orders(Some(Status::Confirmed), None, 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        s.order_by_token(&order.tracking_token).unwrap().as_ref(),
        Some(order)
    );
    assert_eq!(s.order_by_token("no-such-token").unwrap(), None);
    assert_eq!(
        s.idempotency("key-1").unwrap(),
        Some(placed.idempotency.clone().unwrap().1)
    );
    assert_eq!(s.idempotency("key-2").unwrap(), None);
    assert_eq!(
        messages(&s.claim_outbox().unwrap()),
        messages(&placed.outbox),
        "the reserve_stock message is handed out"
    );
    assert_eq!(s.outbox_len().unwrap(), placed.outbox.len());
    assert_eq!(s.pending_timers(10).unwrap(), placed.set_timers);
    assert_eq!(
        placed.set_timers.len(),
        1,
        "an unpaid card order has a payment timer"
    );
    assert!(s.is_healthy());
}

/// Status, pick list, tracking number and timers follow the order through its lifecycle, and
/// history reads stop at the version asked for.
pub fn indexes_follow_the_lifecycle(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let l = confirmed_order(&*s, &[("SKU-1", 1)]);
    let id = l.paid.after.id;
    let other = Step::place(new_order(&[("SKU-9", 1)], PaymentMethod::Cod), t0());
    other.commit(&*s);

    assert_eq!(
        s.picks("ams", None, 10).unwrap(),
        vec![l.paid.after.clone()]
    );
    assert!(s.picks("rtm", None, 10).unwrap().is_empty());
    assert!(
        s.picks("ams", Some(id), 10).unwrap().is_empty(),
        "strictly after the cursor"
    );
    assert!(s.list_orders(Some(Status::Placed), None, 10).unwrap() == vec![other.after.clone()]);
    assert_eq!(
        s.list_orders(Some(Status::Confirmed), None, 10).unwrap(),
        vec![l.paid.after.clone()]
    );
    // Newest first, and strictly before the cursor.
    assert_eq!(
        s.list_orders(None, None, 10).unwrap(),
        vec![other.after.clone(), l.paid.after.clone()]
    );
    assert_eq!(
        s.list_orders(None, Some(other.after.id), 10).unwrap(),
        vec![l.paid.after.clone()]
    );
    assert_eq!(s.list_orders(None, None, 1).unwrap().len(), 1);
    // Confirmation cleared the payment timer.
    assert!(s
        .pending_timers(10)
        .unwrap()
        .iter()
        .all(|t| t.order_id != id));

    let picked = l.paid.then(
        Command::AcknowledgePicks {
            shipment: ShipmentRef::At("ams".into()),
            lines: vec![LineQty {
                sku: "SKU-1".into(),
                quantity: 1,
            }],
        },
        Cause::Warehouse,
        t0() + Duration::seconds(3),
    );
    picked.commit(&*s);
    let packed = picked.then(
        Command::Pack {
            shipment: ShipmentRef::At("ams".into()),
            parcels: vec![Parcel { weight_grams: 900 }],
        },
        Cause::Warehouse,
        t0() + Duration::seconds(4),
    );
    packed.commit(&*s);
    assert!(
        s.picks("ams", None, 10).unwrap().is_empty(),
        "packed orders leave the pick list"
    );
    assert_eq!(
        s.list_orders(Some(Status::Packed), None, 10).unwrap(),
        vec![packed.after.clone()]
    );
    assert!(s
        .list_orders(Some(Status::Confirmed), None, 10)
        .unwrap()
        .is_empty());
    assert_eq!(s.order_by_tracking_number("3STEST1").unwrap(), None);

    let booked = packed.then(
        Command::RecordBooking {
            shipment: None,
            booking: booking("3STEST1"),
        },
        Cause::CarrierActor,
        t0() + Duration::seconds(5),
    );
    booked.commit(&*s);
    assert_eq!(s.order_by_tracking_number("3STEST1").unwrap(), Some(id));
    assert_eq!(s.order_by_tracking_number("3SOTHER").unwrap(), None);

    let steps = [&l.placed, &l.reserved, &l.paid, &picked, &packed, &booked];
    assert_eq!(
        s.history(id, booked.after.version).unwrap(),
        all_events(&steps)
    );
    assert_eq!(
        s.history(id, l.reserved.after.version).unwrap(),
        all_events(&steps[..2]),
        "history stops at the version asked for"
    );
    assert_eq!(s.load_order(id).unwrap(), Some(booked.after.clone()));
    assert_eq!(s.order_count().unwrap(), 2);

    // The snapshot and its history read together: one group per transition, as history_json.
    let (order, history) = futures::executor::block_on(s.order_with_history(id))
        .unwrap()
        .expect("the order is there");
    assert_eq!(order, booked.after);
    assert_eq!(history.len(), steps.len());
    assert_eq!(history, s.history_json(id, booked.after.version).unwrap());
    assert_eq!(
        futures::executor::block_on(s.order_with_history(OrderId::now_v7())).unwrap(),
        None
    );
}

/// A transition interrupted before its commit point shows nowhere, also after a restart, and
/// the next transition at the same step does not mix with what it left.
pub fn interrupted_transition_is_invisible(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let l = confirmed_order(&*s, &[("SKU-1", 1)]);
    let id = l.paid.after.id;
    for e in outbox_of(&*s, id) {
        s.ack_outbox(&e).unwrap();
    }
    // A cancellation that never reached its commit point: release + refund + notification,
    // a status move to cancelled, the pick list entry removed.
    let ghost = l.paid.then(
        Command::Cancel {
            reason: "never happened".into(),
        },
        Cause::Storefront,
        t0() + Duration::seconds(10),
    );
    assert!(!ghost.outbox.is_empty());
    place.write_interrupted(&ghost.write()).unwrap();

    let check = |s: &dyn Storage| {
        assert_eq!(s.load_order(id).unwrap(), Some(l.paid.after.clone()));
        assert_eq!(
            s.history(id, l.paid.after.version).unwrap().len(),
            l.paid.after.version as usize
        );
        assert!(s
            .list_orders(Some(Status::Cancelled), None, 10)
            .unwrap()
            .is_empty());
        assert_eq!(
            s.list_orders(Some(Status::Confirmed), None, 10).unwrap(),
            vec![l.paid.after.clone()]
        );
        assert_eq!(
            s.picks("ams", None, 10).unwrap(),
            vec![l.paid.after.clone()]
        );
        assert!(
            outbox_of(s, id).is_empty(),
            "the ghost's messages are never handed out"
        );
    };
    check(&*s);
    let s = reopen(&*place, s);
    check(&*s);

    // The same again without a restart (a write that failed half-way): the order's writer
    // takes over and decides something else at the same step.
    place.write_interrupted(&ghost.write()).unwrap();
    check(&*s);
    let fresh = s
        .load_order_for_update(id)
        .unwrap()
        .expect("the order exists");
    assert_eq!(fresh, l.paid.after);
    let picked = Step::decide(
        Some(&fresh),
        Command::AcknowledgePicks {
            shipment: ShipmentRef::At("ams".into()),
            lines: vec![LineQty {
                sku: "SKU-1".into(),
                quantity: 1,
            }],
        },
        Cause::Warehouse,
        t0() + Duration::seconds(11),
    );
    let packed = picked.then(
        Command::Pack {
            shipment: ShipmentRef::At("ams".into()),
            parcels: vec![Parcel { weight_grams: 900 }],
        },
        Cause::Warehouse,
        t0() + Duration::seconds(12),
    );
    assert_eq!(
        picked.events[0].seq, ghost.events[0].seq,
        "the same step number"
    );
    picked.commit(&*s);
    packed.commit(&*s);
    let steps = [&l.placed, &l.reserved, &l.paid, &picked, &packed];
    assert_eq!(
        s.history(id, packed.after.version).unwrap(),
        all_events(&steps)
    );
    assert_eq!(
        messages(&outbox_of(&*s, id)),
        messages(&packed.outbox),
        "only the committed transition's messages"
    );
    let s = reopen(&*place, s);
    assert_eq!(
        s.history(id, packed.after.version).unwrap(),
        all_events(&steps)
    );
    assert_eq!(messages(&outbox_of(&*s, id)), messages(&packed.outbox));
}

/// A placement interrupted before its commit point: no order, no token, no timer, no message,
/// no idempotency record.
pub fn interrupted_placement_is_invisible(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let ghost = Step::place(new_order(&[("SKU-1", 1)], PaymentMethod::Card), t0())
        .with_idempotency("ghost-place", "fp");
    place.write_interrupted(&ghost.write()).unwrap();
    let id = ghost.after.id;
    let check = |s: &dyn Storage| {
        assert_eq!(s.load_order(id).unwrap(), None);
        assert!(!s.order_exists(id).unwrap());
        assert_eq!(s.order_count().unwrap(), 0);
        assert!(s.list_orders(None, None, 10).unwrap().is_empty());
        assert!(s
            .list_orders(Some(Status::Placed), None, 10)
            .unwrap()
            .is_empty());
        assert_eq!(s.order_by_token(&ghost.after.tracking_token).unwrap(), None);
        assert_eq!(s.idempotency("ghost-place").unwrap(), None);
        assert!(s.claim_outbox().unwrap().is_empty());
        assert!(s.pending_timers(10).unwrap().is_empty());
        assert!(s
            .claim_due_timers(t0() + Duration::days(30), 10)
            .unwrap()
            .is_empty());
        assert_eq!(s.load_order_for_update(id).unwrap(), None);
    };
    check(&*s);
    let s = reopen(&*place, s);
    check(&*s);
}

/// What was committed (and awaited) is all there after a restart.
pub fn committed_data_survives_a_restart(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let l = confirmed_order(&*s, &[("SKU-1", 3)]);
    let unpaid = Step::place(new_order(&[("SKU-2", 1)], PaymentMethod::Card), t0())
        .with_idempotency("k", "fp");
    unpaid.commit(&*s);
    let id = l.paid.after.id;
    let levels = StockChange {
        cells: vec![cell("ams", "SKU-1", StockLevel::default(), level(10, 3))],
        operation: StockOperation::Reservation(crate::ReservationWrite {
            expected: None,
            new: reservation(id, "ams", "SKU-1", 3),
        }),
        ..StockChange::default()
    };
    wait(s.write_stock(&levels).unwrap());
    let outbox_before = messages(&s.claim_outbox().unwrap());

    let s = reopen(&*place, s);
    assert_eq!(s.load_order(id).unwrap(), Some(l.paid.after.clone()));
    assert_eq!(
        s.load_order(unpaid.after.id).unwrap(),
        Some(unpaid.after.clone())
    );
    let steps = [&l.placed, &l.reserved, &l.paid];
    assert_eq!(
        s.history(id, l.paid.after.version).unwrap(),
        all_events(&steps)
    );
    assert_eq!(
        s.picks("ams", None, 10).unwrap(),
        vec![l.paid.after.clone()]
    );
    assert_eq!(
        s.order_by_token(&unpaid.after.tracking_token).unwrap(),
        Some(unpaid.after.clone())
    );
    assert_eq!(
        s.idempotency("k").unwrap(),
        Some(unpaid.idempotency.clone().unwrap().1)
    );
    assert_eq!(messages(&s.claim_outbox().unwrap()), outbox_before);
    assert_eq!(s.pending_timers(10).unwrap(), unpaid.set_timers);
    assert_eq!(
        s.stock_level(&"ams".into(), &"SKU-1".into()).unwrap(),
        level(10, 3)
    );
    assert_eq!(
        s.stock_levels().unwrap(),
        vec![(cell_key("ams", "SKU-1"), level(10, 3))]
    );
    assert_eq!(
        s.reservation(id).unwrap(),
        Some(reservation(id, "ams", "SKU-1", 3))
    );
    assert_eq!(s.order_count().unwrap(), 2);
}

/// Outbox entries are handed out again after a restart until acknowledged; retry state is
/// kept; acknowledged ones are gone for good.
pub fn outbox_redelivers_until_acknowledged(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let l = confirmed_order(&*s, &[("SKU-1", 1)]);
    let id = l.paid.after.id;
    let all = outbox_of(&*s, id);
    // reserve_stock (placed) and the confirmed notification (paid).
    assert_eq!(
        messages(&all),
        messages(&[l.placed.outbox.clone(), l.paid.outbox.clone()].concat())
    );
    let reserve = all
        .iter()
        .find(|e| {
            matches!(
                e.effect().map(|f| &f.kind),
                Some(EffectKind::ReserveStock { .. })
            )
        })
        .expect("a reserve_stock message")
        .clone();
    let notify = all
        .iter()
        .find(|e| matches!(e.effect().map(|f| &f.kind), Some(EffectKind::Notify { .. })))
        .expect("a notification")
        .clone();
    assert_eq!(notify.channel.as_deref(), Some("webhook"));

    let mut retried = notify.clone();
    retried.attempts = 2;
    retried.last_error = Some("receiver said 503".into());
    retried.next_attempt_at = Some(t0() + Duration::minutes(5));
    s.record_outbox_attempt(&retried).unwrap();
    assert_eq!(s.outbox_entry(&notify).unwrap(), Some(retried.clone()));
    s.ack_outbox(&reserve).unwrap();
    assert_eq!(s.outbox_entry(&reserve).unwrap(), None);
    wait(s.sync());

    let s = reopen(&*place, s);
    let again = outbox_of(&*s, id);
    assert_eq!(
        again,
        vec![retried.clone()],
        "only the unacknowledged one, with its retry state"
    );
    assert_eq!(s.outbox_len().unwrap(), 1);
    s.ack_outbox(&retried).unwrap();
    wait(s.sync());
    let s = reopen(&*place, s);
    assert!(outbox_of(&*s, id).is_empty());
    assert_eq!(s.outbox_len().unwrap(), 0);
}

/// A dead letter leaves the outbox, is listed with its entry, and goes back on requeue.
pub fn dead_letters_move_and_requeue(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let l = confirmed_order(&*s, &[("SKU-1", 1)]);
    let id = l.paid.after.id;
    let mut notify = outbox_of(&*s, id)
        .into_iter()
        .find(|e| matches!(e.effect().map(|f| &f.kind), Some(EffectKind::Notify { .. })))
        .unwrap();
    notify.attempts = 8;
    notify.last_error = Some("timed out".into());
    let letter = DeadLetter {
        message_id: notify.message_id(),
        order_id: Some(id),
        kind: "confirmed".into(),
        channel: notify.channel.clone(),
        attempts: 8,
        last_error: Some("timed out".into()),
        failed_at: t0() + Duration::hours(1),
        entry: None,
    };
    wait(s.dead_letter(&notify, &letter).unwrap());
    assert_eq!(s.outbox_entry(&notify).unwrap(), None);
    let s = reopen(&*place, s);
    assert!(outbox_of(&*s, id)
        .iter()
        .all(|e| !matches!(e.effect().map(|f| &f.kind), Some(EffectKind::Notify { .. }))));
    let letters = s.dead_letters(10).unwrap();
    assert_eq!(
        letters,
        vec![DeadLetter {
            entry: Some(notify.clone()),
            ..letter.clone()
        }]
    );
    assert_eq!(
        s.requeue_dead_letter("msg_nope").unwrap().map(|(e, _)| e),
        None
    );
    let (entry, commit) = s
        .requeue_dead_letter(&letter.message_id)
        .unwrap()
        .expect("the dead letter exists");
    wait(commit);
    assert_eq!(entry.attempts, 0);
    assert_eq!(entry.last_error, None);
    assert_eq!(entry.next_attempt_at, None);
    assert!(entry.same_message(&notify));
    assert!(s.dead_letters(10).unwrap().is_empty());
    let s = reopen(&*place, s);
    assert!(s.dead_letters(10).unwrap().is_empty());
    assert!(outbox_of(&*s, id).contains(&entry));
}

/// An order's messages: one delivered to a person leaves the outbox for the order's message log
/// (once, however often it is acknowledged), one dead-lettered is listed as such, the rest are
/// pending; another order's messages are not among them; all of it survives a restart.
pub fn an_orders_messages_are_sent_pending_or_dead(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let other = confirmed_order(&*s, &[("SKU-2", 1)]).paid.after.id;
    let placed = Step::place(new_order(&[("SKU-1", 1)], PaymentMethod::Card), t0());
    placed.commit(&*s);
    let reserved = placed.then(
        stock_reserved(&placed.after, "ams"),
        Cause::InventoryActor,
        t0() + Duration::seconds(1),
    );
    reserved.commit(&*s);
    let mut paid = reserved.then(
        Command::RecordPayment {
            status: PaymentUpdate::Captured,
            amount: placed.after.total().amount,
            reference: "psp-1".into(),
        },
        Cause::Storefront,
        t0() + Duration::seconds(2),
    );
    let notify = paid
        .outbox
        .iter()
        .find_map(|e| {
            matches!(e.effect().map(|f| &f.kind), Some(EffectKind::Notify { .. }))
                .then(|| e.effect().cloned())
                .flatten()
        })
        .expect("confirming notifies");
    let email = OutboxEntry::new(notify.clone(), Some("email".into()));
    let sms = OutboxEntry::new(notify, Some("sms".into()));
    paid.outbox.extend([email.clone(), sms.clone()]);
    paid.commit(&*s);
    let id = paid.after.id;

    let sent = SentMessage {
        message_id: email.message_id(),
        order_id: id,
        kind: "confirmed".into(),
        channel: "email".into(),
        to: "ann@example.com".into(),
        sent_at: t0() + Duration::seconds(3),
        attempts: 2,
        provider_id: Some("250 2.0.0 Ok: queued as ABC".into()),
        segments: None,
        locale: Some("ro".into()),
    };
    s.ack_outbox_sent(&email, &sent).unwrap();
    // A redelivery after a lost acknowledgement keeps the first record.
    s.ack_outbox_sent(
        &email,
        &SentMessage {
            attempts: 3,
            ..sent.clone()
        },
    )
    .unwrap();
    let letter = DeadLetter {
        message_id: sms.message_id(),
        order_id: Some(id),
        kind: "confirmed".into(),
        channel: Some("sms".into()),
        attempts: 1,
        last_error: Some("HTTP 400".into()),
        failed_at: t0() + Duration::seconds(4),
        entry: None,
    };
    wait(s.dead_letter(&sms, &letter).unwrap());
    let check = |s: &dyn Storage| {
        let m = s.order_messages(id, 50).unwrap();
        assert_eq!(m.sent.len(), 1, "{m:?}");
        assert!(
            m.sent[0] == sent || m.sent[0].attempts == 3,
            "one record for the message: {:?}",
            m.sent
        );
        assert_eq!(m.dead.len(), 1, "{m:?}");
        assert_eq!(m.dead[0].message_id, sms.message_id());
        assert!(m.pending.iter().all(|e| e.order_id() == Some(id)));
        assert!(m
            .pending
            .iter()
            .any(|e| e.channel.as_deref() == Some("webhook")));
        assert!(!m
            .pending
            .iter()
            .any(|e| e.same_message(&email) || e.same_message(&sms)));
        let o = s.order_messages(other, 50).unwrap();
        assert!(o.sent.is_empty() && o.dead.is_empty(), "{o:?}");
        assert!(o.pending.iter().all(|e| e.order_id() == Some(other)));
        let limited = s.order_messages(id, 1).unwrap();
        assert!(limited.pending.len() <= 1);
    };
    check(&*s);
    wait(s.sync());
    let s = reopen(&*place, s);
    check(&*s);
}

/// Due timers are handed out (earliest first) until acknowledged, also after a restart; timers
/// not yet due are not.
pub fn timers_redeliver_until_acknowledged(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let early = Step::place(new_order(&[("SKU-1", 1)], PaymentMethod::Card), t0());
    early.commit(&*s);
    let late = Step::place(
        new_order(&[("SKU-1", 1)], PaymentMethod::Card),
        t0() + Duration::minutes(10),
    );
    late.commit(&*s);
    let (te, tl) = (early.set_timers[0].clone(), late.set_timers[0].clone());
    assert_eq!(te.kind, TimerKind::PaymentDue);
    assert_eq!(s.pending_timers(10).unwrap(), vec![te.clone(), tl.clone()]);
    assert!(s
        .claim_due_timers(te.due - Duration::seconds(1), 10)
        .unwrap()
        .is_empty());
    assert_eq!(s.claim_due_timers(te.due, 10).unwrap(), vec![te.clone()]);
    assert_eq!(
        s.claim_due_timers(tl.due + Duration::hours(1), 10).unwrap(),
        vec![te.clone(), tl.clone()]
    );
    assert_eq!(
        s.claim_due_timers(tl.due, 1).unwrap(),
        vec![te.clone()],
        "limit"
    );

    let s = reopen(&*place, s);
    assert_eq!(
        s.claim_due_timers(tl.due, 10).unwrap(),
        vec![te.clone(), tl.clone()],
        "not acknowledged: handed out again after a restart"
    );
    s.ack_timer(&te).unwrap();
    wait(s.sync());
    assert_eq!(s.claim_due_timers(tl.due, 10).unwrap(), vec![tl.clone()]);
    let s = reopen(&*place, s);
    assert_eq!(s.claim_due_timers(tl.due, 10).unwrap(), vec![tl.clone()]);
    assert_eq!(s.pending_timers(10).unwrap(), vec![tl.clone()]);

    // A transition that clears a timer removes it with the transition.
    let paid = late.then(
        Command::RecordPayment {
            status: PaymentUpdate::Captured,
            amount: 1000,
            reference: "psp".into(),
        },
        Cause::Storefront,
        t0() + Duration::minutes(11),
    );
    let reserved = paid.then(
        stock_reserved(&paid.after, "ams"),
        Cause::InventoryActor,
        t0() + Duration::minutes(11),
    );
    paid.commit(&*s);
    reserved.commit(&*s);
    assert_eq!(reserved.after.status, Status::Confirmed);
    assert!(s.pending_timers(10).unwrap().is_empty());
    assert!(s.claim_due_timers(tl.due, 10).unwrap().is_empty());
}

/// An idempotency record counts only with its transition, and a later use of the key (a retry
/// after a crash) replaces a record whose order never committed.
pub fn idempotency_record_counts_once_committed(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let lost = Step::place(new_order(&[("SKU-1", 1)], PaymentMethod::Cod), t0())
        .with_idempotency("retry-key", "fp");
    place.write_interrupted(&lost.write()).unwrap();
    assert_eq!(s.idempotency("retry-key").unwrap(), None);
    let retry = Step::place(new_order(&[("SKU-1", 1)], PaymentMethod::Cod), t0())
        .with_idempotency("retry-key", "fp");
    retry.commit(&*s);
    let rec = retry.idempotency.clone().unwrap().1;
    assert_eq!(s.idempotency("retry-key").unwrap(), Some(rec.clone()));
    let s = reopen(&*place, s);
    assert_eq!(s.idempotency("retry-key").unwrap(), Some(rec));
    // The record's version is the placement's: a replay rebuilds the first answer from it.
    let later = retry.then(
        stock_reserved(&retry.after, "ams"),
        Cause::InventoryActor,
        t0(),
    );
    later.commit(&*s);
    let rec = s.idempotency("retry-key").unwrap().unwrap();
    assert_eq!(s.history(rec.order_id, rec.version).unwrap(), retry.events);
}

fn level(on_hand: i64, reserved: i64) -> StockLevel {
    StockLevel {
        on_hand,
        reserved,
        incoming: 0,
    }
}

/// The change that takes a cell from `from` to `to`, as a writer that read `from` decides it.
fn cell(w: &str, sku: &str, from: StockLevel, to: StockLevel) -> CellDelta {
    CellDelta {
        warehouse: w.into(),
        sku: sku.into(),
        on_hand: to.on_hand - from.on_hand,
        reserved: to.reserved - from.reserved,
        incoming: to.incoming - from.incoming,
        counted: None,
    }
}

/// An open reservation of one shipment (id 1) of `q` × `sku` at `w`.
fn reservation(id: OrderId, w: &str, sku: &str, q: u32) -> Reservation {
    Reservation {
        order_id: id,
        parts: vec![part(1, w, sku, q, ReservationState::Open)],
        backordered: vec![],
        state: ReservationState::Open,
    }
}

fn part(shipment: u32, w: &str, sku: &str, q: u32, state: ReservationState) -> ReservedPart {
    ReservedPart {
        shipment,
        warehouse: w.into(),
        lines: vec![LineQty {
            sku: sku.into(),
            quantity: q,
        }],
        state,
    }
}

/// `r` with every part in `state`, as the record's state.
fn settled(r: Reservation, state: ReservationState) -> Reservation {
    Reservation {
        parts: r
            .parts
            .into_iter()
            .map(|p| ReservedPart { state, ..p })
            .collect(),
        state,
        ..r
    }
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T>) -> bool {
    matches!(r, Err(StorageError::Conflict(_)))
}

/// Whether a stock write was refused: at once, or through its commit (a backend that
/// pipelines stock writes learns of the refusal later).
fn stock_refused(r: Result<Commit>) -> bool {
    is_conflict(
        r.and_then(|c| futures::executor::block_on(std::future::IntoFuture::into_future(c))),
    )
}

/// Stock changes commute: two changes decided on the same stale read both apply. A change
/// applies whole or not at all, and only if every result is sound and the records keying it
/// (reservation, order-step marker, transfer) hold what it was decided against.
pub fn stock_writes_commute_and_stay_sound(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let zero = StockLevel::default();
    assert_eq!(s.stock_level(&"ams".into(), &"A".into()).unwrap(), zero);
    let init = StockChange {
        cells: vec![
            cell("ams", "A", zero, level(5, 0)),
            cell("ams", "B", zero, level(7, 0)),
        ],
        ..StockChange::default()
    };
    wait(s.write_stock(&init).unwrap());
    // Decided on the same (now stale) read: applies on top of the first.
    wait(s.write_stock(&init).unwrap());
    assert_eq!(
        s.stock_level(&"ams".into(), &"A".into()).unwrap(),
        level(10, 0)
    );
    assert_eq!(
        s.stock_level(&"ams".into(), &"B".into()).unwrap(),
        level(14, 0)
    );

    let id = OrderId::now_v7();
    // One unsound cell among two (more reserved than on hand): nothing at all is written.
    let unsound = StockChange {
        cells: vec![
            cell("ams", "A", level(10, 0), level(10, 2)),
            cell("ams", "B", level(14, 0), level(14, 15)),
        ],
        operation: StockOperation::Reservation(crate::ReservationWrite {
            expected: None,
            new: reservation(id, "ams", "A", 2),
        }),
        ..StockChange::default()
    };
    assert!(stock_refused(s.write_stock(&unsound)));
    assert_eq!(
        s.stock_level(&"ams".into(), &"A".into()).unwrap(),
        level(10, 0)
    );
    assert_eq!(
        s.stock_level(&"ams".into(), &"B".into()).unwrap(),
        level(14, 0)
    );
    assert_eq!(s.reservation(id).unwrap(), None);
    // Nothing may go below zero either: on hand, reserved, incoming.
    for (on_hand, reserved, incoming) in [(-11, 0, 0), (0, -1, 0), (0, 0, -1)] {
        let below = StockChange {
            cells: vec![CellDelta {
                warehouse: "ams".into(),
                sku: "A".into(),
                on_hand,
                reserved,
                incoming,
                counted: None,
            }],
            ..StockChange::default()
        };
        assert!(stock_refused(s.write_stock(&below)), "{below:?}");
    }
    assert_eq!(
        s.stock_level(&"ams".into(), &"A".into()).unwrap(),
        level(10, 0)
    );

    let reserve = StockChange {
        cells: vec![cell("ams", "A", level(10, 0), level(10, 2))],
        operation: StockOperation::Reservation(crate::ReservationWrite {
            expected: None,
            new: reservation(id, "ams", "A", 2),
        }),
        ..StockChange::default()
    };
    wait(s.write_stock(&reserve).unwrap());
    assert_eq!(
        s.reservation(id).unwrap(),
        Some(reservation(id, "ams", "A", 2))
    );
    // The same reservation again (a redelivery, or a second node deciding on the old state):
    // refused by the reservation, though the cell alone would take it.
    assert!(stock_refused(s.write_stock(&reserve)));
    assert_eq!(
        s.stock_level(&"ams".into(), &"A".into()).unwrap(),
        level(10, 2)
    );

    let release = StockChange {
        cells: vec![cell("ams", "A", level(10, 2), level(10, 0))],
        operation: StockOperation::Reservation(crate::ReservationWrite {
            expected: Some(reservation(id, "ams", "A", 2)),
            new: Reservation {
                state: ReservationState::Released,
                ..reservation(id, "ams", "A", 2)
            },
        }),
        ..StockChange::default()
    };
    wait(s.write_stock(&release).unwrap());
    assert!(stock_refused(s.write_stock(&release)), "released already");

    let restock = StockChange {
        cells: vec![cell("ams", "B", level(14, 0), level(15, 0))],
        operation: StockOperation::OrderStep { order: id, step: 9 },
        ..StockChange::default()
    };
    assert!(!s.order_step_applied(id, 9).unwrap());
    wait(s.write_stock(&restock).unwrap());
    assert!(s.order_step_applied(id, 9).unwrap());
    assert!(
        stock_refused(s.write_stock(&restock)),
        "one restock per (order, step)"
    );
    assert_eq!(
        s.stock_level(&"ams".into(), &"B".into()).unwrap(),
        level(15, 0)
    );

    // A count sets on hand, whatever was decided before; never below what is reserved.
    wait(
        s.write_stock(&StockChange {
            cells: vec![cell("ams", "A", level(10, 0), level(10, 3))],
            ..StockChange::default()
        })
        .unwrap(),
    );
    let count = |n: i64| StockChange {
        cells: vec![CellDelta {
            warehouse: "ams".into(),
            sku: "A".into(),
            on_hand: 0,
            reserved: 0,
            incoming: 0,
            counted: Some(n),
        }],
        ..StockChange::default()
    };
    wait(s.write_stock(&count(4)).unwrap());
    assert_eq!(
        s.stock_level(&"ams".into(), &"A".into()).unwrap(),
        level(4, 3)
    );
    assert!(stock_refused(s.write_stock(&count(2))), "below reserved");
    assert_eq!(
        s.stock_level(&"ams".into(), &"A".into()).unwrap(),
        level(4, 3)
    );

    let s = reopen(&*place, s);
    assert_eq!(
        s.stock_level(&"ams".into(), &"A".into()).unwrap(),
        level(4, 3)
    );
    assert_eq!(
        s.stock_level(&"ams".into(), &"B".into()).unwrap(),
        level(15, 0)
    );
    assert!(s.order_step_applied(id, 9).unwrap());
    assert_eq!(
        s.reservation(id).unwrap().map(|r| r.state),
        Some(ReservationState::Released)
    );
}

/// A transfer between warehouses, written with the cells it moves: a new one only when
/// neither its id nor its key is taken, a later version only over the version it was decided
/// on; read by id and by key, listed newest first, kept across a restart and an export.
pub fn transfers_are_written_with_their_stock(backend: &dyn Backend) {
    use crate::domain::inventory::transfer::Transfer;
    let place = backend.create();
    let s = open(&*place);
    wait(
        s.write_stock(&StockChange {
            cells: vec![cell("ams", "A", StockLevel::default(), level(10, 0))],
            ..StockChange::default()
        })
        .unwrap(),
    );
    let lines = [qty("A", 4)];
    let make = |key: &str, at: DateTime<Utc>| {
        Transfer::dispatch(
            OrderId::now_v7(),
            key,
            &"ams".into(),
            &"rtm".into(),
            &lines,
            at,
            |_| true,
        )
        .unwrap()
    };
    let first = make("key-1", t0());
    let dispatch = |t: &Transfer| StockChange {
        cells: vec![
            CellDelta {
                warehouse: "ams".into(),
                sku: "A".into(),
                on_hand: -4,
                reserved: 0,
                incoming: 0,
                counted: None,
            },
            CellDelta {
                warehouse: "rtm".into(),
                sku: "A".into(),
                on_hand: 0,
                reserved: 0,
                incoming: 4,
                counted: None,
            },
        ],
        operation: StockOperation::Transfer(crate::TransferWrite {
            expected_version: None,
            new: t.clone(),
        }),
        ..StockChange::default()
    };
    assert_eq!(s.transfer(first.id).unwrap(), None);
    wait(s.write_stock(&dispatch(&first)).unwrap());
    assert_eq!(s.transfer(first.id).unwrap(), Some(first.clone()));
    assert_eq!(s.transfer_by_key("key-1").unwrap(), Some(first.clone()));
    assert_eq!(s.transfer_by_key("key-2").unwrap(), None);
    assert_eq!(
        s.stock_level(&"rtm".into(), &"A".into()).unwrap(),
        StockLevel {
            on_hand: 0,
            reserved: 0,
            incoming: 4
        }
    );
    // The same transfer again, or another under the same key: refused, nothing moves.
    assert!(stock_refused(s.write_stock(&dispatch(&first))), "same id");
    let same_key = make("key-1", t0() + Duration::seconds(1));
    assert!(
        stock_refused(s.write_stock(&dispatch(&same_key))),
        "same key"
    );
    assert_eq!(
        s.stock_level(&"ams".into(), &"A".into()).unwrap(),
        level(6, 0)
    );
    assert_eq!(s.transfer(same_key.id).unwrap(), None);

    // A receipt over version 1; the same receipt decided on version 1 again is refused.
    let received = first
        .receive(&[qty("A", 3)], t0() + Duration::seconds(5))
        .unwrap();
    let receive = StockChange {
        cells: vec![CellDelta {
            warehouse: "rtm".into(),
            sku: "A".into(),
            on_hand: 3,
            reserved: 0,
            incoming: -3,
            counted: None,
        }],
        operation: StockOperation::Transfer(crate::TransferWrite {
            expected_version: Some(1),
            new: received.clone(),
        }),
        ..StockChange::default()
    };
    wait(s.write_stock(&receive).unwrap());
    assert!(
        stock_refused(s.write_stock(&receive)),
        "decided on version 1"
    );
    assert_eq!(
        s.stock_level(&"rtm".into(), &"A".into()).unwrap(),
        StockLevel {
            on_hand: 3,
            reserved: 0,
            incoming: 1
        }
    );

    let second = make("key-2", t0() + Duration::seconds(10));
    wait(s.write_stock(&dispatch(&second)).unwrap());
    let ids = |ts: Vec<Transfer>| ts.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.transfers(None, 10).unwrap()),
        vec![second.id, first.id]
    );
    assert_eq!(ids(s.transfers(None, 1).unwrap()), vec![second.id]);
    assert_eq!(
        ids(s.transfers(Some(second.id), 10).unwrap()),
        vec![first.id]
    );

    let s = reopen(&*place, s);
    assert_eq!(s.transfer(first.id).unwrap(), Some(received.clone()));
    assert_eq!(s.transfer_by_key("key-2").unwrap(), Some(second.clone()));
    assert_eq!(
        s.stock_level(&"rtm".into(), &"A".into()).unwrap(),
        StockLevel {
            on_hand: 3,
            reserved: 0,
            incoming: 5
        }
    );

    // Through an export: the same transfers and levels elsewhere, and the same file again.
    let file = export_bytes(&*s);
    let to = backend.create();
    let t = open(&*to);
    let counts = export::import(&*t, &mut &file[..]).expect("the export imports");
    assert_eq!(counts.transfer, 2);
    let t = reopen(&*to, t);
    assert_eq!(t.transfer(first.id).unwrap(), Some(received));
    assert_eq!(t.transfer_by_key("key-2").unwrap(), Some(second));
    assert_eq!(
        t.stock_level(&"rtm".into(), &"A".into()).unwrap(),
        s.stock_level(&"rtm".into(), &"A".into()).unwrap()
    );
    assert_eq!(records_of(&file), records_of(&export_bytes(&*t)));
}

/// Several writers race to reserve the last units, each deciding with the domain's ledger on
/// what it read and retrying on conflict: exactly the units on hand are reserved, never more.
pub fn ledger_never_oversells(backend: &dyn Backend) {
    const ON_HAND: i64 = 24;
    const WRITERS: usize = 4;
    const ATTEMPTS: usize = 10;
    let place = backend.create();
    let s = open(&*place);
    wait(
        s.write_stock(&StockChange {
            cells: vec![cell(
                "ams",
                "LAST",
                StockLevel::default(),
                level(ON_HAND, 0),
            )],
            ..StockChange::default()
        })
        .unwrap(),
    );
    let handles: Vec<Arc<dyn Storage>> = (0..WRITERS)
        .map(|_| match place.open_another() {
            Some(h) => h.expect("a second handle opens"),
            None => s.clone(),
        })
        .collect();
    let reserved_by: Vec<Vec<OrderId>> = std::thread::scope(|scope| {
        let workers: Vec<_> = handles
            .iter()
            .map(|h| {
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    for _ in 0..ATTEMPTS {
                        let id = OrderId::now_v7();
                        let lines = [LineQty {
                            sku: "LAST".into(),
                            quantity: 1,
                        }];
                        loop {
                            let current = h.stock_level(&"ams".into(), &"LAST".into()).unwrap();
                            let mut ledger =
                                Ledger::from_levels([(cell_key("ams", "LAST"), current)]);
                            let (_, change) = ledger.reserve(
                                None,
                                id,
                                &lines,
                                &AllocationRequest {
                                    warehouses: &[],
                                    strategy: AllocationStrategy::Priority,
                                    allow_split: false,
                                    country: None,
                                },
                            );
                            let Some(r) = change.reservation else {
                                break; // sold out
                            };
                            let write = StockChange {
                                cells: vec![cell(
                                    "ams",
                                    "LAST",
                                    current,
                                    ledger.level(&"ams".into(), &"LAST".into()),
                                )],
                                operation: StockOperation::Reservation(crate::ReservationWrite {
                                    expected: None,
                                    new: r,
                                }),
                                ..StockChange::default()
                            };
                            let written = h.write_stock(&write).and_then(|c| {
                                futures::executor::block_on(std::future::IntoFuture::into_future(c))
                            });
                            match written {
                                Ok(()) => {
                                    mine.push(id);
                                    break;
                                }
                                Err(StorageError::Conflict(_)) => continue,
                                Err(e) => panic!("write_stock failed: {e}"),
                            }
                        }
                    }
                    mine
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let winners: Vec<OrderId> = reserved_by.into_iter().flatten().collect();
    assert_eq!(
        winners.len() as i64,
        ON_HAND,
        "every unit sold exactly once"
    );
    let lvl = s.stock_level(&"ams".into(), &"LAST".into()).unwrap();
    assert_eq!(lvl, level(ON_HAND, ON_HAND));
    assert!(lvl.available() >= 0);
    let held: u32 = winners
        .iter()
        .map(|id| {
            s.reservation(*id)
                .unwrap()
                .expect("each winner has its reservation")
                .parts[0]
                .lines[0]
                .quantity
        })
        .sum();
    assert_eq!(
        held as i64, lvl.reserved,
        "reserved = the sum of the reservations"
    );
    drop(handles);
    let s = reopen(&*place, s);
    assert_eq!(
        s.stock_level(&"ams".into(), &"LAST".into()).unwrap(),
        level(ON_HAND, ON_HAND)
    );
}

/// `sync` makes the writes before it durable, including the ones nobody waits for.
pub fn sync_covers_earlier_writes(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let placed = Step::place(new_order(&[("SKU-1", 1)], PaymentMethod::Cod), t0());
    // Not awaited on purpose: the sync below covers it.
    let _pending = s.commit_transition(&placed.write()).unwrap();
    let mut entry = placed.outbox[0].clone();
    entry.attempts = 1;
    s.record_outbox_attempt(&entry).unwrap();
    wait(s.sync());
    drop(_pending);
    let s = reopen(&*place, s);
    assert_eq!(
        s.load_order(placed.after.id).unwrap(),
        Some(placed.after.clone())
    );
    assert_eq!(s.outbox_entry(&placed.outbox[0]).unwrap(), Some(entry));
}

// ---- export and import --------------------------------------------------------------------

/// Picks, packs and books `l`'s order (confirmed at `ams`) with tracking number `tn`.
fn pack_and_book(s: &dyn Storage, l: &Lifecycle, tn: &str, at: DateTime<Utc>) -> Step {
    let lines = l
        .paid
        .after
        .lines
        .iter()
        .map(|x| LineQty {
            sku: x.sku.clone(),
            quantity: x.quantity,
        })
        .collect();
    let picked = l.paid.then(
        Command::AcknowledgePicks {
            shipment: ShipmentRef::At("ams".into()),
            lines,
        },
        Cause::Warehouse,
        at,
    );
    picked.commit(s);
    let packed = picked.then(
        Command::Pack {
            shipment: ShipmentRef::At("ams".into()),
            parcels: vec![Parcel { weight_grams: 900 }],
        },
        Cause::Warehouse,
        at,
    );
    packed.commit(s);
    let booked = packed.then(
        Command::RecordBooking {
            shipment: None,
            booking: booking(tn),
        },
        Cause::CarrierActor,
        at,
    );
    booked.commit(s);
    booked
}

/// Every read of the interface, over what `ids` and `numbers` name, as text: two stores that
/// answer the same give the same text.
fn every_read(s: &dyn Storage, ids: &[OrderId], numbers: &[&str], keys: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |what: String, v: &dyn std::fmt::Debug| out.push(format!("{what}: {v:?}"));
    for &id in ids {
        let order = s.load_order(id).unwrap();
        push(format!("load_order {id}"), &order);
        push(format!("order_exists {id}"), &s.order_exists(id).unwrap());
        let version = order.as_ref().map_or(0, |o| o.version);
        push(format!("history {id}"), &s.history(id, version).unwrap());
        let json: Vec<String> = s
            .history_json(id, version)
            .unwrap()
            .iter()
            .map(|j| String::from_utf8_lossy(j.as_bytes()).into_owned())
            .collect();
        push(format!("history_json {id}"), &json);
        if let Some(o) = &order {
            push(
                format!("order_by_token {id}"),
                &s.order_by_token(&o.tracking_token).unwrap(),
            );
        }
        push(format!("reservation {id}"), &s.reservation(id).unwrap());
        push(
            format!("order_messages {id}"),
            &s.order_messages(id, 100).unwrap(),
        );
        for step in 0..=version + 1 {
            push(
                format!("restocked {id} {step}"),
                &s.order_step_applied(id, step).unwrap(),
            );
        }
        push(
            format!("picks after {id}"),
            &s.picks("ams", Some(id), 100).unwrap(),
        );
        push(
            format!("backorders after {id}"),
            &s.backorders(Some(id), 100).unwrap(),
        );
        push(
            format!("list_orders before {id}"),
            &s.list_orders(None, Some(id), 100).unwrap(),
        );
    }
    for tn in numbers {
        push(
            format!("order_by_tracking_number {tn}"),
            &s.order_by_tracking_number(tn).unwrap(),
        );
    }
    for key in keys {
        push(format!("idempotency {key}"), &s.idempotency(key).unwrap());
    }
    push(
        "list_orders".into(),
        &s.list_orders(None, None, 100).unwrap(),
    );
    for status in [
        Status::Placed,
        Status::Confirmed,
        Status::Packed,
        Status::Shipped,
        Status::Delivered,
        Status::Cancelled,
        Status::Returned,
    ] {
        push(
            format!("list_orders {status:?}"),
            &s.list_orders(Some(status), None, 100).unwrap(),
        );
    }
    for w in ["ams", "rtm"] {
        push(format!("picks {w}"), &s.picks(w, None, 100).unwrap());
    }
    push("backorders".into(), &s.backorders(None, 100).unwrap());
    push("order_count".into(), &s.order_count().unwrap());
    push("stock_levels".into(), &s.stock_levels().unwrap());
    push("sku_backorders".into(), &s.sku_backorders().unwrap());
    push(
        "stock_level ams SKU-1".into(),
        &s.stock_level(&"ams".into(), &"SKU-1".into()).unwrap(),
    );
    let mut outbox = s.claim_outbox().unwrap();
    outbox.sort_by_key(OutboxEntry::message_id);
    push("claim_outbox".into(), &outbox);
    for e in &outbox {
        push(
            format!("outbox_entry {}", e.message_id()),
            &s.outbox_entry(e).unwrap(),
        );
    }
    push("outbox_len".into(), &s.outbox_len().unwrap());
    push("pending_timers".into(), &s.pending_timers(100).unwrap());
    push(
        "claim_due_timers".into(),
        &s.claim_due_timers(t0() + Duration::days(365), 100).unwrap(),
    );
    push("dead_letters".into(), &s.dead_letters(100).unwrap());
    out
}

fn export_bytes(s: &dyn Storage) -> Vec<u8> {
    let mut out = Vec::new();
    export::export(s, &mut out, "conformance").expect("the store exports");
    out
}

/// The lines of an export after its header (which holds the time it was made).
fn records_of(export: &[u8]) -> Vec<String> {
    String::from_utf8(export.to_vec())
        .expect("an export is UTF-8")
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// A store with orders in every kind of state and everything that goes with them is exported,
/// imported into a fresh place (and reopened there), and exported again: the two exports are
/// the same line for line, and every read answers the same in both stores. Importing what is
/// stored already changes nothing; a different record under a stored identity is refused.
pub fn export_import_round_trip(backend: &dyn Backend) {
    let from = backend.create();
    let s = open(&*from);

    // Placed: an unpaid card order with its payment timer and reserve message, by key.
    let placed = Step::place(new_order(&[("SKU-1", 1)], PaymentMethod::Card), t0())
        .with_idempotency("key-placed", "fp-placed");
    placed.commit(&*s);
    // Confirmed at ams: on the pick list.
    let confirmed = confirmed_order(&*s, &[("SKU-2", 2)]);
    // Packed and booked: found by its tracking number.
    let packed = confirmed_order(&*s, &[("SKU-1", 1)]);
    let packed_booked = pack_and_book(&*s, &packed, "3SPACKED1", t0() + Duration::seconds(5));
    // Delivered with a return, received: returned, restocked.
    let delivered = confirmed_order(&*s, &[("SKU-1", 2), ("SKU-2", 1)]);
    let booked = pack_and_book(&*s, &delivered, "3SDELIVERED1", t0() + Duration::seconds(5));
    let shipped = booked.then(
        Command::Handover { shipment: None },
        Cause::Warehouse,
        t0() + Duration::seconds(6),
    );
    shipped.commit(&*s);
    let arrived = shipped.then(
        Command::CarrierEvent {
            carrier: "postnl".into(),
            tracking_number: "3SDELIVERED1".into(),
            event_id: "ev-1".into(),
            kind: CarrierEventKind::Delivered,
            occurred_at: t0() + Duration::hours(20),
            location: Some("Utrecht".into()),
            estimated_delivery: None,
            code: None,
            description: None,
            reason: None,
            exceptions: Default::default(),
        },
        Cause::Carrier("postnl".into()),
        t0() + Duration::hours(20),
    );
    arrived.commit(&*s);
    assert_eq!(arrived.after.status, Status::Delivered);
    let return_lines = vec![LineQty {
        sku: "SKU-1".into(),
        quantity: 1,
    }];
    let approved = arrived.then(
        Command::RequestReturn {
            lines: return_lines.clone(),
            reason: "too small".into(),
            window_days: 30,
        },
        Cause::Storefront,
        t0() + Duration::days(2),
    );
    approved.commit(&*s);
    let received = approved.then(
        Command::ReceiveReturn {
            warehouse: "ams".into(),
            lines: return_lines,
        },
        Cause::Warehouse,
        t0() + Duration::days(4),
    );
    received.commit(&*s);
    assert_eq!(received.after.status, Status::Returned);
    // Cancelled after confirmation: release, refund and notifications follow.
    let cancelled_l = confirmed_order(&*s, &[("SKU-2", 1)]);
    let cancelled = cancelled_l.paid.then(
        Command::Cancel {
            reason: "changed my mind".into(),
        },
        Cause::Storefront,
        t0() + Duration::seconds(9),
    );
    cancelled.commit(&*s);
    assert_eq!(cancelled.after.status, Status::Cancelled);
    // Backordered: one SKU-3 held at ams, two waiting; in the backorder queue.
    let waiting = backordered_order(&*s, &[("SKU-3", 3)], &[("ams", &[("SKU-3", 1)])]);

    // The stock ledger: cells, reservations agreeing with them, a order-step marker, a sku's
    // backorder record agreeing with the units waiting.
    let open_res = |id: OrderId, sku: &str, q: u32| reservation(id, "ams", sku, q);
    let reservations = [
        open_res(placed.after.id, "SKU-1", 1),
        open_res(confirmed.paid.after.id, "SKU-2", 2),
        settled(
            open_res(packed.paid.after.id, "SKU-1", 1),
            ReservationState::Committed,
        ),
        settled(
            open_res(cancelled.after.id, "SKU-2", 1),
            ReservationState::Released,
        ),
        Reservation {
            backordered: waiting.after.backordered.clone(),
            ..open_res(waiting.after.id, "SKU-3", 1)
        },
    ];
    wait(
        s.write_stock(&StockChange {
            cells: vec![
                cell("ams", "SKU-1", StockLevel::default(), level(10, 1)),
                cell("ams", "SKU-2", StockLevel::default(), level(4, 2)),
                cell("rtm", "SKU-1", StockLevel::default(), level(3, 0)),
                cell("ams", "SKU-3", StockLevel::default(), level(1, 1)),
            ],
            skus: vec![
                sku_write("SKU-3", Backorders::default(), backorders(true, 5, 2)),
                sku_write("SKU-1", Backorders::default(), backorders(false, 0, 0)),
            ],
            ..StockChange::default()
        })
        .unwrap(),
    );
    for r in &reservations {
        wait(
            s.write_stock(&StockChange {
                operation: StockOperation::Reservation(crate::ReservationWrite {
                    expected: None,
                    new: r.clone(),
                }),
                ..StockChange::default()
            })
            .unwrap(),
        );
    }
    let restock_step = received.events[0].seq;
    wait(
        s.write_stock(&StockChange {
            operation: StockOperation::OrderStep {
                order: received.after.id,
                step: restock_step,
            },
            ..StockChange::default()
        })
        .unwrap(),
    );

    // Pending work: an entry with retry state, an acknowledged one gone, a dead letter.
    let mut retried = outbox_of(&*s, confirmed.paid.after.id)
        .into_iter()
        .find(|e| matches!(e.effect().map(|f| &f.kind), Some(EffectKind::Notify { .. })))
        .expect("a confirmation notification");
    retried.attempts = 3;
    retried.next_attempt_at = Some(t0() + Duration::minutes(5));
    retried.last_error = Some("503 from the receiver".into());
    s.record_outbox_attempt(&retried).unwrap();
    // One delivered to a person leaves a record on its order's message log, which moves too.
    for e in outbox_of(&*s, packed.paid.after.id) {
        match e.effect().map(|f| &f.kind) {
            Some(EffectKind::Notify { .. }) => s
                .ack_outbox_sent(
                    &e,
                    &SentMessage {
                        message_id: e.message_id(),
                        order_id: packed.paid.after.id,
                        kind: "confirmed".into(),
                        channel: "webhook".into(),
                        to: "+31612345678".into(),
                        sent_at: t0() + Duration::minutes(1),
                        attempts: 1,
                        provider_id: Some("SM1".into()),
                        segments: Some(2),
                        locale: Some("tr".into()),
                    },
                )
                .unwrap(),
            _ => s.ack_outbox(&e).unwrap(),
        }
    }
    let mut failed = outbox_of(&*s, cancelled.after.id)
        .into_iter()
        .find(|e| matches!(e.effect().map(|f| &f.kind), Some(EffectKind::Notify { .. })))
        .expect("a notification of the cancelled order");
    failed.attempts = 8;
    failed.last_error = Some("timed out".into());
    let letter = DeadLetter {
        message_id: failed.message_id(),
        order_id: Some(cancelled.after.id),
        kind: failed.kind_name().into(),
        channel: failed.channel.clone(),
        attempts: 8,
        last_error: Some("timed out".into()),
        failed_at: t0() + Duration::hours(1),
        entry: None,
    };
    wait(s.dead_letter(&failed, &letter).unwrap());
    wait(s.sync());
    assert_eq!(s.pending_timers(10).unwrap(), placed.set_timers);
    assert!(s.outbox_entry(&retried).unwrap() == Some(retried.clone()));

    let ids: Vec<OrderId> = [
        &placed.after,
        &confirmed.paid.after,
        &packed_booked.after,
        &received.after,
        &cancelled.after,
        &waiting.after,
    ]
    .iter()
    .map(|o| o.id)
    .collect();
    let numbers = ["3SPACKED1", "3SDELIVERED1", "3SNONE"];
    let keys = ["key-placed", "key-none"];
    let before = every_read(&*s, &ids, &numbers, &keys);

    // What the store hands out, in its order, and the file made of it.
    let mut records = Vec::new();
    s.export(&mut |r| {
        records.push(r);
        Ok(())
    })
    .unwrap();
    let kinds: Vec<&str> = records.iter().map(ExportRecord::kind).collect();
    let mut order_of_kinds = kinds.clone();
    order_of_kinds.dedup();
    assert_eq!(
        order_of_kinds,
        [
            "order",
            "idempotency",
            "stock",
            "backorders",
            "reservation",
            "restock",
            "outbox",
            "timer",
            "dead_letter",
            "sent_message"
        ],
        "every kind of record, in the export's order"
    );
    assert_eq!(kinds.iter().filter(|k| **k == "order").count(), ids.len());
    let mut sorted_ids = ids.clone();
    sorted_ids.sort();
    let exported_ids: Vec<OrderId> = records
        .iter()
        .filter_map(|r| match r {
            ExportRecord::Order(o) => Some(o.order.id),
            _ => None,
        })
        .collect();
    assert_eq!(exported_ids, sorted_ids, "orders by id");
    let first = export_bytes(&*s);

    // Into a fresh place, which is then reopened (a restart: the import is durable).
    let to = backend.create();
    let t = open(&*to);
    let counts = export::import(&*t, &mut &first[..]).expect("the export imports");
    assert_eq!(counts.order, ids.len() as u64);
    assert_eq!(counts.backorders, 2);
    assert_eq!(counts.total(), records.len() as u64);
    let t = reopen(&*to, t);
    let second = export_bytes(&*t);
    assert_eq!(
        records_of(&first),
        records_of(&second),
        "the export of the imported store is the export it was imported from"
    );
    let after = every_read(&*t, &ids, &numbers, &keys);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "a read answers differently after the import");
    }
    assert_eq!(before.len(), after.len());

    // The same records again: nothing changes. A different order under a stored id: refused.
    for r in &records {
        t.import(r).expect("importing what is stored already");
    }
    let ExportRecord::Order(first_order) = &records[0] else {
        panic!("orders come first");
    };
    let mut other = first_order.clone();
    other.order.external_ref = Some("someone else's".into());
    assert!(
        is_conflict(t.import(&ExportRecord::Order(other))),
        "a different order under a stored id"
    );
    assert_eq!(every_read(&*t, &ids, &numbers, &keys), after);
    assert!(matches!(
        export::import(&*t, &mut &first[..]),
        Err(ExportError::TargetNotEmpty(_))
    ));
    // Several records at once: what is stored already changes nothing; a record that does not
    // fit is named by its index, and the records before it are stored.
    t.import_many(&records)
        .expect("importing what is stored already, together");
    let fresh = |n: u8| {
        let mut o = first_order.clone();
        o.order.id = OrderId::now_v7();
        o.order.tracking_token = format!("imported-together-{n}");
        ExportRecord::Order(o)
    };
    let (before_fault, after_fault) = (fresh(1), fresh(2));
    let mut other = first_order.clone();
    other.order.external_ref = Some("someone else's".into());
    let batch = [
        before_fault.clone(),
        ExportRecord::Order(other),
        after_fault,
    ];
    match t.import_many(&batch) {
        Err((1, StorageError::Conflict(_))) => {}
        other => panic!("the second record is at fault, got {other:?}"),
    }
    let ExportRecord::Order(stored) = &before_fault else {
        unreachable!()
    };
    assert_eq!(
        t.load_order(stored.order.id).unwrap().as_ref(),
        Some(&stored.order),
        "the record before the fault is stored"
    );
    // Work the source handed out is still handed out by the copy, and it goes on from there.
    assert_eq!(
        messages(&t.claim_outbox().unwrap()),
        messages(&s.claim_outbox().unwrap())
    );
    let next = confirmed.paid.then(
        Command::AcknowledgePicks {
            shipment: ShipmentRef::At("ams".into()),
            lines: vec![LineQty {
                sku: "SKU-2".into(),
                quantity: 2,
            }],
        },
        Cause::Warehouse,
        t0() + Duration::minutes(30),
    );
    assert_eq!(
        t.load_order_for_update(next.after.id).unwrap().as_ref(),
        next.before.as_ref()
    );
    next.commit(&*t);
    assert_eq!(
        t.load_order(next.after.id).unwrap(),
        Some(next.after.clone())
    );
}

// ---- shipments ------------------------------------------------------------------------------

/// Picks one shipment's lines, packs it and records its booking under `tn`.
fn ship_out(s: &dyn Storage, from: &Step, shipment: u32, tn: &str, at: DateTime<Utc>) -> Step {
    let lines = from
        .after
        .shipment(shipment)
        .expect("the shipment exists")
        .line_qtys();
    let picked = from.then(
        Command::AcknowledgePicks {
            shipment: ShipmentRef::Id(shipment),
            lines,
        },
        Cause::Warehouse,
        at,
    );
    picked.commit(s);
    let packed = picked.then(
        Command::Pack {
            shipment: ShipmentRef::Id(shipment),
            parcels: vec![Parcel { weight_grams: 500 }],
        },
        Cause::Warehouse,
        at,
    );
    packed.commit(s);
    let booked = packed.then(
        Command::RecordBooking {
            shipment: Some(shipment),
            booking: booking(tn),
        },
        Cause::CarrierActor,
        at,
    );
    booked.commit(s);
    booked
}

fn pick_ids(s: &dyn Storage, warehouse: &str) -> Vec<OrderId> {
    s.picks(warehouse, None, 100)
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect()
}

/// An order split over two warehouses is on both pick lists, leaves each as that shipment is
/// packed, and is found by both tracking numbers; after a restart and through an export too.
pub fn split_orders_are_on_every_pick_list(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    // Cash on delivery: confirmed as soon as the stock is allocated.
    let placed = Step::place(
        new_order(&[("SKU-1", 1), ("SKU-2", 2)], PaymentMethod::Cod),
        t0(),
    );
    placed.commit(&*s);
    let split = placed.then(
        allocated(
            &placed.after,
            &[("ams", &[("SKU-1", 1)]), ("rtm", &[("SKU-2", 2)])],
        ),
        Cause::InventoryActor,
        t0() + Duration::seconds(1),
    );
    split.commit(&*s);
    assert_eq!(split.after.status, Status::Confirmed);
    assert_eq!(split.after.shipments.len(), 2);
    let id = split.after.id;
    let single = confirmed_order(&*s, &[("SKU-3", 1)]);
    assert_eq!(pick_ids(&*s, "ams"), vec![id, single.paid.after.id]);
    assert_eq!(pick_ids(&*s, "rtm"), vec![id]);
    assert_eq!(
        s.picks("rtm", None, 10).unwrap(),
        vec![split.after.clone()],
        "the pick list hands out the snapshot"
    );
    assert_eq!(s.picks("ams", None, 1).unwrap().len(), 1, "the limit holds");
    assert_eq!(pick_ids(&*s, "ams")[..1], [id]);
    assert!(pick_ids(&*s, "utr").is_empty());

    let first = ship_out(&*s, &split, 1, "3SSPLIT1", t0() + Duration::seconds(2));
    assert_eq!(
        first.after.status,
        Status::Confirmed,
        "one shipment still to pack"
    );
    assert_eq!(
        pick_ids(&*s, "ams"),
        vec![single.paid.after.id],
        "its packed shipment took it off ams's list"
    );
    assert_eq!(pick_ids(&*s, "rtm"), vec![id], "still to pick at rtm");
    assert_eq!(s.order_by_tracking_number("3SSPLIT1").unwrap(), Some(id));
    assert_eq!(s.order_by_tracking_number("3SSPLIT2").unwrap(), None);

    let second = ship_out(&*s, &first, 2, "3SSPLIT2", t0() + Duration::seconds(3));
    assert_eq!(second.after.status, Status::Packed);
    assert!(pick_ids(&*s, "rtm").is_empty());
    for tn in ["3SSPLIT1", "3SSPLIT2"] {
        assert_eq!(s.order_by_tracking_number(tn).unwrap(), Some(id), "{tn}");
    }
    assert_eq!(
        s.list_orders(Some(Status::Packed), None, 10).unwrap(),
        vec![second.after.clone()]
    );
    assert_eq!(s.load_order(id).unwrap(), Some(second.after.clone()));

    let s = reopen(&*place, s);
    assert_eq!(pick_ids(&*s, "ams"), vec![single.paid.after.id]);
    assert!(pick_ids(&*s, "rtm").is_empty());
    for tn in ["3SSPLIT1", "3SSPLIT2"] {
        assert_eq!(s.order_by_tracking_number(tn).unwrap(), Some(id), "{tn}");
    }
    // Moved to another store, it is found the same ways.
    let ids = [id, single.paid.after.id];
    let numbers = ["3SSPLIT1", "3SSPLIT2", "3SNONE"];
    let file = export_bytes(&*s);
    let to = backend.create();
    let t = open(&*to);
    export::import(&*t, &mut &file[..]).expect("the export imports");
    assert_eq!(records_of(&export_bytes(&*t)), records_of(&file));
    assert_eq!(
        every_read(&*t, &ids, &numbers, &[]),
        every_read(&*s, &ids, &numbers, &[])
    );
}

/// A reservation of two shipments at two warehouses is stored and read back whole, and its
/// conditional writes hold: against what is stored they apply, against anything else they are
/// refused.
pub fn reservations_with_several_parts(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let id = OrderId::now_v7();
    let two = Reservation {
        order_id: id,
        parts: vec![
            part(1, "ams", "SKU-1", 1, ReservationState::Open),
            part(2, "rtm", "SKU-2", 2, ReservationState::Open),
        ],
        backordered: vec![],
        state: ReservationState::Open,
    };
    wait(
        s.write_stock(&StockChange {
            cells: vec![
                cell("ams", "SKU-1", StockLevel::default(), level(5, 1)),
                cell("rtm", "SKU-2", StockLevel::default(), level(5, 2)),
            ],
            operation: StockOperation::Reservation(crate::ReservationWrite {
                expected: None,
                new: two.clone(),
            }),
            ..StockChange::default()
        })
        .expect("the write applies"),
    );
    assert_eq!(s.reservation(id).unwrap(), Some(two.clone()));

    // Shipment 1 leaves with its carrier: committed, shipment 2 still open.
    let mut one_left = two.clone();
    one_left.parts[0].state = ReservationState::Committed;
    let commit_first = |expected: Option<Reservation>| StockChange {
        cells: vec![cell("ams", "SKU-1", level(5, 1), level(4, 0))],
        operation: StockOperation::Reservation(crate::ReservationWrite {
            expected,
            new: one_left.clone(),
        }),
        ..StockChange::default()
    };
    // Expected values that differ from the stored record: none, the single-part record of
    // shipment 1 alone, the parts in another order.
    let mut swapped = two.clone();
    swapped.parts.reverse();
    let mut first_only = two.clone();
    first_only.parts.truncate(1);
    for wrong in [None, Some(first_only), Some(swapped)] {
        assert!(
            stock_refused(s.write_stock(&commit_first(wrong.clone()))),
            "expected {wrong:?} is not what is stored"
        );
        assert_eq!(s.reservation(id).unwrap(), Some(two.clone()));
        assert_eq!(
            s.stock_level(&"ams".into(), &"SKU-1".into()).unwrap(),
            level(5, 1)
        );
    }
    wait(
        s.write_stock(&commit_first(Some(two.clone())))
            .expect("the write applies"),
    );
    assert_eq!(s.reservation(id).unwrap(), Some(one_left.clone()));
    assert_eq!(
        s.stock_level(&"ams".into(), &"SKU-1".into()).unwrap(),
        level(4, 0)
    );

    // Shipment 2 released too: the record is settled, and still conditional on its parts.
    let mut settled_two = one_left.clone();
    settled_two.parts[1].state = ReservationState::Released;
    settled_two.state = ReservationState::Committed;
    let release = |expected| StockChange {
        cells: vec![cell("rtm", "SKU-2", level(5, 2), level(5, 0))],
        operation: StockOperation::Reservation(crate::ReservationWrite {
            expected: Some(expected),
            new: settled_two.clone(),
        }),
        ..StockChange::default()
    };
    assert!(stock_refused(s.write_stock(&release(two.clone()))));
    wait(
        s.write_stock(&release(one_left))
            .expect("the write applies"),
    );
    let s = reopen(&*place, s);
    assert_eq!(s.reservation(id).unwrap(), Some(settled_two));
    assert_eq!(
        s.stock_level(&"rtm".into(), &"SKU-2".into()).unwrap(),
        level(5, 0)
    );
}

/// An order, its history, a message and its reservation as the release before shipments
/// exported them (stored schema 1, written by hand): one shipment at its warehouse, on that
/// warehouse's pick list, found by its booking; the history folds into the snapshot; the order
/// walks on; and the reservation's conditional write holds against the record as stored.
pub fn old_records_read_as_one_shipment(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let id = OrderId::parse_str("0190f3a0-0000-7000-8000-0000000000a1").unwrap();
    let packed_id = OrderId::parse_str("0190f3a0-0000-7000-8000-0000000000a2").unwrap();
    export::import(&*s, &mut V1_EXPORT.as_bytes()).expect("a schema 1 export imports");

    let order = s.load_order(id).unwrap().expect("the confirmed order");
    assert_eq!(order.status, Status::Confirmed);
    assert_eq!(order.shipments.len(), 1);
    let sh = &order.shipments[0];
    assert_eq!((sh.id, sh.warehouse.as_str()), (1, "ams"));
    assert_eq!(sh.status, crate::domain::ShipmentStatus::Allocated);
    assert_eq!(sh.lines[0].picked, 1, "picks carried over");
    assert_eq!(
        fold(None, &s.history(id, order.version).unwrap()),
        Some(order.clone())
    );
    let packed = s.load_order(packed_id).unwrap().expect("the packed order");
    assert_eq!(packed.shipments.len(), 1);
    assert_eq!(
        packed.shipments[0].status,
        crate::domain::ShipmentStatus::Packed
    );
    assert_eq!(
        fold(None, &s.history(packed_id, packed.version).unwrap()),
        Some(packed.clone())
    );
    assert_eq!(pick_ids(&*s, "ams"), vec![id]);
    assert_eq!(
        s.order_by_tracking_number("3SV1OLD").unwrap(),
        Some(packed_id)
    );
    let entry = outbox_of(&*s, packed_id);
    assert!(matches!(
        entry[0].effect().map(|e| &e.kind),
        Some(EffectKind::BookShipment { shipment: None, .. })
    ));

    // The order walks on: packing its one shipment takes it off the pick list.
    let before = s.load_order_for_update(id).unwrap().unwrap();
    let picked = Step::decide(
        Some(&before),
        Command::AcknowledgePicks {
            shipment: ShipmentRef::At("ams".into()),
            lines: vec![LineQty {
                sku: "SKU-1".into(),
                quantity: 1,
            }],
        },
        Cause::Warehouse,
        t0() + Duration::days(1),
    );
    picked.commit(&*s);
    assert_eq!(pick_ids(&*s, "ams"), vec![id], "still to pack");
    let next = picked.then(
        Command::Pack {
            shipment: ShipmentRef::At("ams".into()),
            parcels: vec![Parcel { weight_grams: 700 }],
        },
        Cause::Warehouse,
        t0() + Duration::days(1),
    );
    next.commit(&*s);
    assert!(pick_ids(&*s, "ams").is_empty());
    assert_eq!(
        s.list_orders(Some(Status::Packed), None, 10)
            .unwrap()
            .iter()
            .map(|o| o.id)
            .collect::<Vec<_>>(),
        vec![packed_id, id]
    );

    // The reservation reads as one part, and a write conditional on it applies.
    let r = s.reservation(id).unwrap().expect("the reservation");
    assert_eq!(
        r,
        Reservation {
            order_id: id,
            parts: vec![part(1, "ams", "SKU-1", 2, ReservationState::Open)],
            backordered: vec![],
            state: ReservationState::Open,
        }
    );
    let committed = settled(r.clone(), ReservationState::Committed);
    wait(
        s.write_stock(&StockChange {
            cells: vec![cell("ams", "SKU-1", level(10, 2), level(8, 0))],
            operation: StockOperation::Reservation(crate::ReservationWrite {
                expected: Some(r),
                new: committed.clone(),
            }),
            ..StockChange::default()
        })
        .expect("the write applies against the record as stored"),
    );
    let s = reopen(&*place, s);
    assert_eq!(s.reservation(id).unwrap(), Some(committed));
}

/// A confirmed order (picked, not packed) and a packed, booked one with a pending booking
/// message, their reservation and stock: an export of the release before shipments.
const V1_EXPORT: &str = concat!(
    r#"{"format":"orderly-export","version":1,"schema":1,"source":"sled"}"#,
    "\n",
    r#"{"type":"order","order":{"id":"0190f3a0-0000-7000-8000-0000000000a1","version":4,"tracking_token":"tok-a1","status":"confirmed","customer":{"id":"c1","email":"a@example.nl"},"currency":"EUR","lines":[{"sku":"SKU-1","quantity":2,"unit_price":500,"picked":1}],"shipping":{"address":{"name":"Jan","line1":"Straat 1","city":"Amsterdam","postal_code":"1000 AA","country":"NL"}},"payment":{"method":"cod","status":"pending"},"stock":"reserved","warehouse":"ams","shipments":[],"placed_at":"2026-03-02T09:00:00Z","updated_at":"2026-03-02T09:01:00Z"},"transitions":["#,
    r#"[{"seq":1,"at":"2026-03-02T09:00:00Z","by":"storefront","type":"placed","id":"0190f3a0-0000-7000-8000-0000000000a1","tracking_token":"tok-a1","order":{"customer":{"id":"c1","email":"a@example.nl"},"currency":"EUR","lines":[{"sku":"SKU-1","quantity":2,"unit_price":500}],"shipping":{"address":{"name":"Jan","line1":"Straat 1","city":"Amsterdam","postal_code":"1000 AA","country":"NL"}},"payment":{"method":"cod","status":"pending"}}}],"#,
    r#"[{"seq":2,"at":"2026-03-02T09:00:01Z","by":"inventory_actor","type":"stock_reserved","warehouse":"ams"},{"seq":3,"at":"2026-03-02T09:00:01Z","by":"inventory_actor","type":"confirmed"}],"#,
    r#"[{"seq":4,"at":"2026-03-02T09:01:00Z","by":"warehouse","type":"picks_acknowledged","warehouse":"ams","lines":[{"sku":"SKU-1","quantity":1}]}]"#,
    r#"]}"#,
    "\n",
    r#"{"type":"order","order":{"id":"0190f3a0-0000-7000-8000-0000000000a2","version":6,"tracking_token":"tok-a2","status":"packed","customer":{"id":"c1","email":"a@example.nl"},"currency":"EUR","lines":[{"sku":"SKU-2","quantity":1,"unit_price":500,"picked":1}],"shipping":{"address":{"name":"Jan","line1":"Straat 1","city":"Amsterdam","postal_code":"1000 AA","country":"NL"}},"payment":{"method":"cod","status":"pending"},"stock":"reserved","warehouse":"ams","shipments":[{"warehouse":"ams","parcels":[{"weight_grams":800}],"booking":{"carrier":"postnl","carrier_name":"PostNL","service":"standard","tracking_number":"3SV1OLD","estimated_delivery":"2026-03-03"}}],"placed_at":"2026-03-02T09:00:00Z","updated_at":"2026-03-02T09:03:01Z"},"transitions":["#,
    r#"[{"seq":1,"at":"2026-03-02T09:00:00Z","by":"storefront","type":"placed","id":"0190f3a0-0000-7000-8000-0000000000a2","tracking_token":"tok-a2","order":{"customer":{"id":"c1","email":"a@example.nl"},"currency":"EUR","lines":[{"sku":"SKU-2","quantity":1,"unit_price":500}],"shipping":{"address":{"name":"Jan","line1":"Straat 1","city":"Amsterdam","postal_code":"1000 AA","country":"NL"}},"payment":{"method":"cod","status":"pending"}}}],"#,
    r#"[{"seq":2,"at":"2026-03-02T09:00:01Z","by":"inventory_actor","type":"stock_reserved","warehouse":"ams"},{"seq":3,"at":"2026-03-02T09:00:01Z","by":"inventory_actor","type":"confirmed"}],"#,
    r#"[{"seq":4,"at":"2026-03-02T09:03:00Z","by":"warehouse","type":"picks_acknowledged","warehouse":"ams","lines":[{"sku":"SKU-2","quantity":1}]},{"seq":5,"at":"2026-03-02T09:03:00Z","by":"warehouse","type":"packed","warehouse":"ams","parcels":[{"weight_grams":800}]}],"#,
    r#"[{"seq":6,"at":"2026-03-02T09:03:01Z","by":"carrier_actor","type":"shipment_booked","booking":{"carrier":"postnl","carrier_name":"PostNL","service":"standard","tracking_number":"3SV1OLD","estimated_delivery":"2026-03-03"}}]"#,
    r#"]}"#,
    "\n",
    r#"{"type":"stock","warehouse":"ams","sku":"SKU-1","level":{"on_hand":10,"reserved":2}}"#,
    "\n",
    r#"{"type":"reservation","reservation":{"order_id":"0190f3a0-0000-7000-8000-0000000000a1","warehouse":"ams","lines":[{"sku":"SKU-1","quantity":2}],"state":"open"}}"#,
    "\n",
    r#"{"type":"outbox","entry":{"effect":{"order_id":"0190f3a0-0000-7000-8000-0000000000a2","step":5,"action":{"action":"book_shipment","warehouse":"ams","parcels":[{"weight_grams":800}],"country":"NL","method":null}},"attempts":1}}"#,
    "\n",
    r#"{"type":"end","counts":{"order":2,"stock":1,"reservation":1,"outbox":1}}"#,
    "\n"
);

// ---- backorders -----------------------------------------------------------------------------

fn backorders(allowed: bool, cap: i64, waiting: i64) -> Backorders {
    Backorders {
        allowed,
        cap,
        waiting,
    }
}

/// The change that takes a sku's record from `from` to `to`, as a writer that read `from`
/// decides it (the policy only when it changed).
fn sku_write(sku: &str, from: Backorders, to: Backorders) -> SkuDelta {
    SkuDelta {
        sku: sku.into(),
        waiting: to.waiting - from.waiting,
        policy: ((from.allowed, from.cap) != (to.allowed, to.cap)).then_some((to.allowed, to.cap)),
    }
}

/// One sku's stored backorder record (the default when it has none).
fn sku_record(s: &dyn Storage, sku: &str) -> Backorders {
    s.sku_backorders()
        .expect("sku_backorders")
        .into_iter()
        .find(|(k, _)| k == sku)
        .map(|(_, b)| b)
        .unwrap_or_default()
}

fn qty(sku: &str, quantity: u32) -> LineQty {
    LineQty {
        sku: sku.into(),
        quantity,
    }
}

/// The inventory's answer holding `held` (one shipment per warehouse, numbered from 1) and
/// backordering the rest of `order`'s lines.
fn backordered_answer(order: &Order, held: &[(&str, &[(&str, u32)])]) -> Command {
    let Command::StockAllocated {
        shipments: held, ..
    } = allocated(order, held)
    else {
        unreachable!("`allocated` answers with an allocation")
    };
    let waiting = order
        .lines
        .iter()
        .map(|l| {
            let got: u32 = held
                .iter()
                .flat_map(|a| a.lines.iter())
                .filter(|x| x.sku == l.sku)
                .map(|x| x.quantity)
                .sum();
            qty(&l.sku, l.quantity - got)
        })
        .filter(|l| l.quantity > 0)
        .collect();
    Command::StockBackordered {
        held,
        backordered: waiting,
        reason: "out of stock (backordered)".into(),
    }
}

/// A cash-on-delivery order placed and backordered, holding `held`: in the backorder queue.
fn backordered_order(
    s: &dyn Storage,
    lines: &[(&str, u32)],
    held: &[(&str, &[(&str, u32)])],
) -> Step {
    let placed = Step::place(new_order(lines, PaymentMethod::Cod), t0());
    placed.commit(s);
    let waits = placed.then(
        backordered_answer(&placed.after, held),
        Cause::InventoryActor,
        t0() + Duration::seconds(1),
    );
    waits.commit(s);
    assert_eq!(waits.after.status, Status::Placed);
    assert_eq!(waits.after.stock, StockState::Backordered);
    waits
}

/// Skus' backorder records change by units waiting (and a policy an admin set), never beyond
/// the cap nor below none (a sku never written counts as the default), all together with the
/// cells, the reservation (which may hold units waiting for stock) and the order-step marker, or
/// not at all; they are listed by sku, survive a
/// restart and travel through an export, as does a reservation's `backordered`.
pub fn sku_backorders_change_with_the_stock(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    assert!(
        s.sku_backorders().unwrap().is_empty(),
        "no sku has a record"
    );

    // Two skus at once, listed by sku in byte order ("B" before "a").
    let allow = StockChange {
        skus: vec![
            sku_write("a", Backorders::default(), backorders(true, 2, 0)),
            sku_write("B", Backorders::default(), backorders(true, 5, 0)),
        ],
        ..StockChange::default()
    };
    assert!(
        !allow.is_empty(),
        "a change of sku records alone is a change"
    );
    wait(s.write_stock(&allow).unwrap());
    assert_eq!(
        s.sku_backorders().unwrap(),
        vec![
            ("B".into(), backorders(true, 5, 0)),
            ("a".into(), backorders(true, 2, 0)),
        ]
    );
    // Set again: the same policy, and nothing waits more or less.
    wait(s.write_stock(&allow).unwrap());
    assert_eq!(sku_record(&*s, "a"), backorders(true, 2, 0));

    // An order holds one `a` and waits for three `B`: the cell, the reservation with its
    // waiting lines and `B`'s waiting units, in one change.
    wait(
        s.write_stock(&StockChange {
            cells: vec![cell("ams", "a", StockLevel::default(), level(4, 0))],
            ..StockChange::default()
        })
        .unwrap(),
    );
    let id = OrderId::now_v7();
    let held = Reservation {
        backordered: vec![qty("B", 3)],
        ..reservation(id, "ams", "a", 1)
    };
    let backorder = StockChange {
        cells: vec![cell("ams", "a", level(4, 0), level(4, 1))],
        operation: StockOperation::Reservation(crate::ReservationWrite {
            expected: None,
            new: held.clone(),
        }),
        skus: vec![sku_write(
            "B",
            backorders(true, 5, 0),
            backorders(true, 5, 3),
        )],
    };
    let unchanged = |s: &dyn Storage| {
        assert_eq!(
            s.stock_level(&"ams".into(), &"a".into()).unwrap(),
            level(4, 0)
        );
        assert_eq!(s.reservation(id).unwrap(), None);
        assert_eq!(sku_record(s, "B"), backorders(true, 5, 0));
        assert_eq!(sku_record(s, "a"), backorders(true, 2, 0));
    };
    // More waiting than the cap refuses everything, cells and reservation included.
    let over_cap = StockChange {
        skus: vec![sku_write(
            "B",
            backorders(true, 5, 0),
            backorders(true, 5, 6),
        )],
        ..backorder.clone()
    };
    assert!(
        stock_refused(s.write_stock(&over_cap)),
        "more waiting than the cap"
    );
    unchanged(&*s);
    // One unsound sku among two (fewer than none waiting): neither is written.
    let one_unsound = StockChange {
        skus: vec![
            sku_write("a", backorders(true, 2, 0), backorders(true, 3, 0)),
            sku_write("B", backorders(true, 5, 1), backorders(true, 5, 0)),
        ],
        ..StockChange::default()
    };
    assert!(
        stock_refused(s.write_stock(&one_unsound)),
        "one unsound sku"
    );
    unchanged(&*s);
    // A cap below what waits is refused too.
    let low_cap = StockChange {
        skus: vec![sku_write(
            "B",
            backorders(true, 5, 0),
            backorders(true, 2, 3),
        )],
        ..StockChange::default()
    };
    assert!(stock_refused(s.write_stock(&low_cap)), "cap below waiting");
    unchanged(&*s);
    // An unsound cell refuses the sku records with it.
    let unsound_cell = StockChange {
        cells: vec![cell("ams", "a", level(4, 0), level(4, 5))],
        ..backorder.clone()
    };
    assert!(
        stock_refused(s.write_stock(&unsound_cell)),
        "an unsound cell"
    );
    unchanged(&*s);
    // Against what is stored: all of it.
    wait(s.write_stock(&backorder).unwrap());
    assert_eq!(
        s.stock_level(&"ams".into(), &"a".into()).unwrap(),
        level(4, 1)
    );
    assert_eq!(s.reservation(id).unwrap(), Some(held.clone()));
    assert_eq!(sku_record(&*s, "B"), backorders(true, 5, 3));

    // Stock arrives at rtm and fills the order: its units stop waiting. The write holds
    // against the reservation as stored (with its waiting lines), and only against that.
    wait(
        s.write_stock(&StockChange {
            cells: vec![cell("rtm", "B", StockLevel::default(), level(3, 0))],
            operation: StockOperation::OrderStep { order: id, step: 7 },
            ..StockChange::default()
        })
        .unwrap(),
    );
    let filled = Reservation {
        parts: vec![
            part(1, "ams", "a", 1, ReservationState::Open),
            part(2, "rtm", "B", 3, ReservationState::Open),
        ],
        backordered: vec![],
        ..held.clone()
    };
    let fill = |expected: Reservation| StockChange {
        cells: vec![cell("rtm", "B", level(3, 0), level(3, 3))],
        operation: StockOperation::Reservation(crate::ReservationWrite {
            expected: Some(expected),
            new: filled.clone(),
        }),
        skus: vec![sku_write(
            "B",
            backorders(true, 5, 3),
            backorders(true, 5, 0),
        )],
    };
    let without_waiting = Reservation {
        backordered: vec![],
        ..held.clone()
    };
    assert!(
        stock_refused(s.write_stock(&fill(without_waiting))),
        "the stored reservation waits for units"
    );
    assert_eq!(sku_record(&*s, "B"), backorders(true, 5, 3));
    wait(s.write_stock(&fill(held.clone())).unwrap());
    // Another order waits with nothing held (its record keeps only what it waits for).
    let other = OrderId::now_v7();
    let only_waiting = Reservation {
        order_id: other,
        parts: vec![],
        backordered: vec![qty("B", 2)],
        state: ReservationState::Open,
    };
    wait(
        s.write_stock(&StockChange {
            operation: StockOperation::Reservation(crate::ReservationWrite {
                expected: None,
                new: only_waiting.clone(),
            }),
            skus: vec![sku_write(
                "B",
                backorders(true, 5, 0),
                backorders(true, 5, 2),
            )],
            ..StockChange::default()
        })
        .unwrap(),
    );

    // After a restart: all of it, as written.
    let s = reopen(&*place, s);
    let skus: Vec<(Sku, _)> = vec![
        ("B".into(), backorders(true, 5, 2)),
        ("a".into(), backorders(true, 2, 0)),
    ];
    assert_eq!(s.sku_backorders().unwrap(), skus);
    assert_eq!(s.reservation(id).unwrap(), Some(filled.clone()));
    assert_eq!(s.reservation(other).unwrap(), Some(only_waiting.clone()));
    assert_eq!(
        s.stock_level(&"rtm".into(), &"B".into()).unwrap(),
        level(3, 3)
    );
    assert!(s.order_step_applied(id, 7).unwrap());

    // Through an export: the records and the waiting reservation read the same elsewhere, and
    // the copy exports the same file.
    let first = export_bytes(&*s);
    let to = backend.create();
    let t = open(&*to);
    let counts = export::import(&*t, &mut &first[..]).expect("the export imports");
    assert_eq!(counts.backorders, 2);
    let t = reopen(&*to, t);
    assert_eq!(t.sku_backorders().unwrap(), skus);
    assert_eq!(t.reservation(id).unwrap(), Some(filled));
    assert_eq!(t.reservation(other).unwrap(), Some(only_waiting.clone()));
    assert_eq!(records_of(&first), records_of(&export_bytes(&*t)));
    assert!(matches!(
        export::ensure_empty(&*t),
        Err(ExportError::TargetNotEmpty(_))
    ));
    // The copy goes on: the waiting order is filled there against its record as imported.
    wait(
        t.write_stock(&StockChange {
            operation: StockOperation::Reservation(crate::ReservationWrite {
                expected: Some(only_waiting.clone()),
                new: Reservation {
                    parts: vec![part(1, "rtm", "B", 2, ReservationState::Open)],
                    backordered: vec![],
                    ..only_waiting
                },
            }),
            skus: vec![sku_write(
                "B",
                backorders(true, 5, 2),
                backorders(true, 5, 0),
            )],
            ..StockChange::default()
        })
        .expect("the write applies against the imported records"),
    );
    assert_eq!(sku_record(&*t, "B"), backorders(true, 5, 0));
}

/// The backorder queue holds the orders waiting for stock (placed and backordered), oldest
/// first, paged by id; an order leaves it when it is allocated or cancelled; it survives a
/// restart and an export. A transition interrupted before its commit point puts nothing in it.
pub fn backorder_queue_serves_oldest_first(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let ids = |orders: Vec<Order>| orders.iter().map(|o| o.id).collect::<Vec<_>>();
    assert!(s.backorders(None, 10).unwrap().is_empty());

    // Not waiting: placed and pending, and confirmed.
    let pending = Step::place(new_order(&[("SKU-1", 1)], PaymentMethod::Cod), t0());
    pending.commit(&*s);
    confirmed_order(&*s, &[("SKU-1", 1)]);
    // Waiting: nothing held; SKU-2 held at ams; nothing held.
    let first = backordered_order(&*s, &[("SKU-1", 2)], &[]);
    let second = backordered_order(
        &*s,
        &[("SKU-1", 1), ("SKU-2", 1)],
        &[("ams", &[("SKU-2", 1)])],
    );
    let third = backordered_order(&*s, &[("SKU-1", 4)], &[]);
    let mut queue: Vec<&Step> = vec![&first, &second, &third];
    queue.sort_by_key(|w| w.after.id);
    let queued: Vec<OrderId> = queue.iter().map(|w| w.after.id).collect();
    assert_eq!(
        s.backorders(None, 10).unwrap(),
        queue.iter().map(|w| w.after.clone()).collect::<Vec<_>>(),
        "the waiting orders, oldest first, as committed"
    );
    assert_eq!(ids(s.backorders(None, 2).unwrap()), queued[..2]);
    assert_eq!(ids(s.backorders(Some(queued[0]), 10).unwrap()), queued[1..]);
    assert_eq!(ids(s.backorders(Some(queued[1]), 1).unwrap()), queued[2..]);
    assert!(s.backorders(Some(queued[2]), 10).unwrap().is_empty());
    assert!(s.backorders(None, 0).unwrap().is_empty());

    // A backorder interrupted before its commit point is not in the queue.
    let would_wait = pending.then(
        backordered_answer(&pending.after, &[]),
        Cause::InventoryActor,
        t0() + Duration::seconds(2),
    );
    if place.write_interrupted(&would_wait.write()).unwrap() {
        assert_eq!(ids(s.backorders(None, 10).unwrap()), queued);
    }

    // The oldest is filled (and, paid on delivery, confirmed): it leaves. The next is
    // cancelled: it leaves.
    let oldest = queue[0];
    let filled = oldest.then(
        allocated(
            &oldest.after,
            &[(
                "ams",
                &oldest
                    .after
                    .lines
                    .iter()
                    .map(|l| (l.sku.as_str(), l.quantity))
                    .collect::<Vec<_>>(),
            )],
        ),
        Cause::InventoryActor,
        t0() + Duration::hours(1),
    );
    filled.commit(&*s);
    assert_eq!(filled.after.status, Status::Confirmed);
    assert_eq!(ids(s.backorders(None, 10).unwrap()), queued[1..]);
    let cancelled = queue[1].then(
        Command::Cancel {
            reason: "waited too long".into(),
        },
        Cause::Storefront,
        t0() + Duration::hours(2),
    );
    cancelled.commit(&*s);
    let last = queue[2].after.clone();
    assert_eq!(s.backorders(None, 10).unwrap(), vec![last.clone()]);

    // After a restart, and in a copy made by an export.
    let s = reopen(&*place, s);
    assert_eq!(s.backorders(None, 10).unwrap(), vec![last.clone()]);
    let to = backend.create();
    let t = open(&*to);
    export::import(&*t, &mut &export_bytes(&*s)[..]).expect("the export imports");
    let t = reopen(&*to, t);
    assert_eq!(t.backorders(None, 10).unwrap(), vec![last.clone()]);
    assert!(t.backorders(Some(last.id), 10).unwrap().is_empty());
    // The copy goes on: filled there, the last one leaves its queue.
    let done = queue[2].then(
        allocated(&last, &[("rtm", &[("SKU-1", 4)])]),
        Cause::InventoryActor,
        t0() + Duration::hours(3),
    );
    assert_eq!(
        t.load_order_for_update(last.id).unwrap().as_ref(),
        Some(&last)
    );
    done.commit(&*t);
    assert!(t.backorders(None, 10).unwrap().is_empty());
    assert_eq!(s.backorders(None, 10).unwrap(), vec![last]);
}

// ---- stock alerts ---------------------------------------------------------------------------

fn alert_cell(id: u128, point: Option<i64>, low: bool, sent: u32) -> CellAlert {
    CellAlert {
        id: uuid::Uuid::from_u128(id),
        point,
        low,
        sent,
    }
}

fn cell_key(w: &str, sku: &str) -> CellKey {
    CellKey::new(w, sku)
}

fn low_stock_entry(cell: &CellAlert, w: &str, sku: &str, channel: &str) -> OutboxEntry {
    OutboxEntry::notice(
        StockNotice {
            subject: cell.id,
            seq: cell.sent,
            kind: NoticeKind::LowStock {
                warehouse: w.into(),
                sku: sku.into(),
                reorder_point: cell.point.unwrap_or_default(),
                available: 1,
            },
        },
        channel.into(),
    )
}

fn subscription_of(n: u128, sku: &str, contact: &str) -> Subscription {
    Subscription {
        id: uuid::Uuid::from_u128(n),
        sku: sku.into(),
        contact: contact.into(),
        subscribed_at: t0() + Duration::seconds(n as i64),
    }
}

fn back_in_stock_entry(s: &Subscription, channel: &str) -> OutboxEntry {
    OutboxEntry::notice(
        StockNotice {
            subject: s.id,
            seq: 1,
            kind: NoticeKind::BackInStock {
                sku: s.sku.clone(),
                contact: s.contact.clone(),
                available: 3,
            },
        },
        channel.into(),
    )
}

/// Stock notices in the outbox (handed out by `claim_outbox`), by message id.
fn notices(s: &dyn Storage) -> Vec<String> {
    let mut ids: Vec<String> = s
        .claim_outbox()
        .expect("claim_outbox")
        .iter()
        .filter(|e| e.stock_notice().is_some())
        .map(OutboxEntry::message_id)
        .collect();
    ids.sort();
    ids
}

/// Cells' alert records are written only on top of what the writer decided against, together
/// with the notices they decided, all or nothing; both survive a restart, and a notice written
/// again is still one message.
pub fn cell_alerts_are_written_with_their_notices(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    assert!(s.cell_alerts().unwrap().is_empty());
    // A point set above what is available: the record and its first alert, on two channels.
    let ams = alert_cell(1, Some(5), true, 1);
    let log = low_stock_entry(&ams, "ams", "MUG", "log");
    let hook = low_stock_entry(&ams, "ams", "MUG", "webhook");
    let first = AlertsWrite {
        cells: vec![CellAlertWrite {
            warehouse: "ams".into(),
            sku: "MUG".into(),
            expected: None,
            new: ams,
        }],
        ended: vec![],
        outbox: vec![log.clone(), hook.clone()],
    };
    wait(s.write_alerts(&first).unwrap());
    assert_eq!(
        s.cell_alerts().unwrap(),
        vec![(cell_key("ams", "MUG"), ams)]
    );
    assert_eq!(
        s.cell_alerts_of(&[cell_key("rtm", "MUG"), cell_key("ams", "MUG")])
            .unwrap(),
        vec![(cell_key("ams", "MUG"), ams)]
    );
    assert!(s
        .cell_alerts_of(&[cell_key("ams", "CUP")])
        .unwrap()
        .is_empty());
    assert_eq!(notices(&*s), messages(&[log.clone(), hook.clone()]));
    assert_eq!(s.outbox_entry(&log).unwrap(), Some(log.clone()));
    assert_eq!(log.order_id(), None);
    assert!(log.message_id().starts_with("ntc_"));

    // The same decision again (a writer that did not see the first): refused, nothing changes.
    let refused = s.write_alerts(&first);
    assert!(is_conflict(refused), "a second create of the same record");
    // A decision on a stale record is refused whole: neither the record nor its notice.
    let stale = alert_cell(1, Some(5), true, 2);
    let stale_notice = low_stock_entry(&stale, "ams", "MUG", "log");
    let refused = s.write_alerts(&AlertsWrite {
        cells: vec![
            CellAlertWrite {
                warehouse: "rtm".into(),
                sku: "MUG".into(),
                expected: None,
                new: alert_cell(2, Some(1), false, 0),
            },
            CellAlertWrite {
                warehouse: "ams".into(),
                sku: "MUG".into(),
                expected: Some(alert_cell(1, Some(5), false, 0)),
                new: stale,
            },
        ],
        ended: vec![],
        outbox: vec![stale_notice.clone()],
    });
    assert!(is_conflict(refused));
    assert_eq!(s.cell_alerts().unwrap().len(), 1, "nothing of it applied");
    assert_eq!(s.outbox_entry(&stale_notice).unwrap(), None);

    // Re-armed above the point (no notice), in a write with another cell; then a second fall.
    let armed = alert_cell(1, Some(5), false, 1);
    let rtm = alert_cell(2, Some(0), false, 0);
    wait(
        s.write_alerts(&AlertsWrite {
            cells: vec![
                CellAlertWrite {
                    warehouse: "ams".into(),
                    sku: "MUG".into(),
                    expected: Some(ams),
                    new: armed,
                },
                CellAlertWrite {
                    warehouse: "rtm".into(),
                    sku: "MUG".into(),
                    expected: None,
                    new: rtm,
                },
            ],
            ended: vec![],
            outbox: vec![],
        })
        .unwrap(),
    );
    let second = alert_cell(1, Some(5), true, 2);
    let second_log = low_stock_entry(&second, "ams", "MUG", "log");
    wait(
        s.write_alerts(&AlertsWrite {
            cells: vec![CellAlertWrite {
                warehouse: "ams".into(),
                sku: "MUG".into(),
                expected: Some(armed),
                new: second,
            }],
            ended: vec![],
            // A notice already in the outbox (delivered on another path meanwhile, say) is
            // written again: still one message, its retry state kept.
            outbox: vec![second_log.clone(), log.clone()],
        })
        .unwrap(),
    );
    let mut retried = log.clone();
    retried.attempts = 2;
    retried.last_error = Some("503".into());
    s.record_outbox_attempt(&retried).unwrap();
    assert_ne!(log.message_id(), second_log.message_id());
    wait(s.sync());

    let s = reopen(&*place, s);
    assert_eq!(
        s.cell_alerts().unwrap(),
        vec![
            (cell_key("ams", "MUG"), second),
            (cell_key("rtm", "MUG"), rtm)
        ]
    );
    assert_eq!(
        notices(&*s),
        messages(&[log.clone(), hook.clone(), second_log.clone()])
    );
    assert_eq!(s.outbox_entry(&log).unwrap(), Some(retried.clone()));
    assert_eq!(s.outbox_len().unwrap(), 3);
    s.ack_outbox(&retried).unwrap();
    s.ack_outbox(&hook).unwrap();
    wait(s.sync());
    let s = reopen(&*place, s);
    assert_eq!(notices(&*s), messages(&[second_log]));
}

/// A contact subscribes to a sku once; a sku takes at most `max`; a subscription ends only
/// with the notice that tells it, once.
pub fn subscriptions_are_bounded_and_end_with_their_notice(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let a = subscription_of(1, "MUG", "a@example.com");
    let b = subscription_of(2, "MUG", "+31612345678");
    let c = subscription_of(3, "MUG", "c@example.com");
    let other = subscription_of(4, "CUP", "a@example.com");
    for sub in [&a, &b, &other] {
        wait(s.add_subscription(sub, 2).unwrap());
    }
    assert!(
        is_conflict(s.add_subscription(&subscription_of(9, "MUG", "a@example.com"), 5)),
        "the contact waits for the sku already"
    );
    assert!(is_conflict(s.add_subscription(&c, 2)), "the sku is full");
    assert_eq!(s.subscription_count("MUG").unwrap(), 2);
    assert_eq!(s.subscription_count("CUP").unwrap(), 1);
    assert_eq!(s.subscription_count("NONE").unwrap(), 0);
    assert_eq!(
        s.subscription("MUG", "a@example.com").unwrap(),
        Some(a.clone())
    );
    assert_eq!(s.subscription("MUG", "z@example.com").unwrap(), None);
    // By contact, in pages.
    assert_eq!(
        s.subscriptions("MUG", None, 10).unwrap(),
        vec![b.clone(), a.clone()]
    );
    assert_eq!(s.subscriptions("MUG", None, 1).unwrap(), vec![b.clone()]);
    assert_eq!(
        s.subscriptions("MUG", Some(&b.contact), 10).unwrap(),
        vec![a.clone()]
    );
    assert!(s.subscriptions("MU", None, 10).unwrap().is_empty());
    assert_eq!(
        s.subscribed_skus(None).unwrap(),
        vec!["CUP".to_string(), "MUG".to_string()]
    );
    assert_eq!(
        s.subscribed_skus(Some(&["MUG".into(), "PLATE".into()]))
            .unwrap(),
        vec!["MUG".to_string()]
    );
    wait(s.sync());
    let s = reopen(&*place, s);
    assert_eq!(s.subscription_count("MUG").unwrap(), 2);
    assert!(
        is_conflict(s.add_subscription(&c, 2)),
        "still full after a restart"
    );
    assert!(s.add_subscription(&c, 3).is_ok(), "a larger bound takes it");

    // Told: the subscriptions end with their notices, at once.
    let told = AlertsWrite {
        cells: vec![],
        ended: vec![a.clone(), b.clone()],
        outbox: vec![
            back_in_stock_entry(&a, "log"),
            back_in_stock_entry(&b, "log"),
        ],
    };
    wait(s.write_alerts(&told).unwrap());
    assert_eq!(s.subscriptions("MUG", None, 10).unwrap(), vec![c.clone()]);
    assert_eq!(notices(&*s), messages(&told.outbox));
    // Told twice (another writer decided the same): refused whole.
    let again = AlertsWrite {
        cells: vec![],
        ended: vec![a.clone(), c.clone()],
        outbox: vec![
            back_in_stock_entry(&a, "log"),
            back_in_stock_entry(&c, "log"),
        ],
    };
    assert!(is_conflict(s.write_alerts(&again)));
    assert_eq!(s.subscriptions("MUG", None, 10).unwrap(), vec![c.clone()]);
    assert_eq!(notices(&*s), messages(&told.outbox));
    // A subscription of the same contact made again after it ended is a new one (another id).
    let a2 = subscription_of(5, "MUG", "a@example.com");
    wait(s.add_subscription(&a2, 3).unwrap());
    let ended_old = AlertsWrite {
        cells: vec![],
        ended: vec![a.clone()],
        outbox: vec![],
    };
    assert!(
        is_conflict(s.write_alerts(&ended_old)),
        "the old subscription (another id) ended already"
    );
    wait(s.sync());
    let s = reopen(&*place, s);
    assert_eq!(
        s.subscriptions("MUG", None, 10).unwrap(),
        vec![a2.clone(), c.clone()]
    );
    assert_eq!(notices(&*s), messages(&told.outbox));
}

/// Several writers (nodes) adding subscriptions to one sku at once never store more than the
/// bound, nor two for one contact.
pub fn subscriptions_stay_bounded_with_racing_writers(backend: &dyn Backend) {
    let place = backend.create();
    let first = open(&*place);
    let second = match place.open_another() {
        Some(s) => s.expect("a second handle opens"),
        None => first.clone(),
    };
    let handles = [first.clone(), second];
    let max = 7;
    std::thread::scope(|scope| {
        for (t, s) in handles.iter().enumerate() {
            scope.spawn(move || {
                for i in 0..12u128 {
                    // Both writers try the same contacts, and some of their own.
                    let contact = if i % 2 == 0 {
                        format!("shared{i}@example.com")
                    } else {
                        format!("w{t}-{i}@example.com")
                    };
                    let sub = subscription_of(1000 * t as u128 + i + 1, "HOT", &contact);
                    match s.add_subscription(&sub, max) {
                        Ok(c) => wait(c),
                        Err(StorageError::Conflict(_)) => {}
                        Err(e) => panic!("add_subscription: {e}"),
                    }
                }
            });
        }
    });
    wait(first.sync());
    let stored = first.subscriptions("HOT", None, 100).unwrap();
    assert_eq!(stored.len(), max, "exactly the bound: {stored:?}");
    assert_eq!(first.subscription_count("HOT").unwrap(), max);
    let mut contacts: Vec<&str> = stored.iter().map(|s| s.contact.as_str()).collect();
    contacts.dedup();
    assert_eq!(contacts.len(), max, "one per contact");
}

/// Stock notices go through the outbox like an order's messages: handed out again after a
/// restart until acknowledged, retry state kept, dead-lettered without an order (and listed so)
/// and requeued.
pub fn stock_notices_are_redelivered_and_dead_lettered(backend: &dyn Backend) {
    let place = backend.create();
    let s = open(&*place);
    let cell = alert_cell(7, Some(3), true, 1);
    let a = subscription_of(1, "MUG", "a@example.com");
    wait(s.add_subscription(&a, 10).unwrap());
    let low = low_stock_entry(&cell, "ams", "MUG", "webhook");
    let back = back_in_stock_entry(&a, "webhook");
    wait(
        s.write_alerts(&AlertsWrite {
            cells: vec![CellAlertWrite {
                warehouse: "ams".into(),
                sku: "MUG".into(),
                expected: None,
                new: cell,
            }],
            ended: vec![a.clone()],
            outbox: vec![low.clone(), back.clone()],
        })
        .unwrap(),
    );
    // An order's messages beside them are untouched by them.
    let l = confirmed_order(&*s, &[("SKU-1", 1)]);
    let order_messages = outbox_of(&*s, l.paid.after.id);
    assert!(!order_messages.is_empty());
    let s = reopen(&*place, s);
    assert_eq!(notices(&*s), messages(&[low.clone(), back.clone()]));
    assert_eq!(
        messages(&outbox_of(&*s, l.paid.after.id)),
        messages(&order_messages)
    );

    let mut failing = back.clone();
    failing.attempts = 8;
    failing.last_error = Some("timed out".into());
    let letter = DeadLetter {
        message_id: failing.message_id(),
        order_id: None,
        kind: "back_in_stock".into(),
        channel: failing.channel.clone(),
        attempts: 8,
        last_error: Some("timed out".into()),
        failed_at: t0() + Duration::hours(1),
        entry: None,
    };
    wait(s.dead_letter(&failing, &letter).unwrap());
    assert_eq!(s.outbox_entry(&back).unwrap(), None);
    s.ack_outbox(&low).unwrap();
    wait(s.sync());
    let s = reopen(&*place, s);
    assert!(notices(&*s).is_empty());
    assert_eq!(
        s.dead_letters(10).unwrap(),
        vec![DeadLetter {
            entry: Some(failing.clone()),
            ..letter.clone()
        }]
    );
    let (entry, commit) = s
        .requeue_dead_letter(&letter.message_id)
        .unwrap()
        .expect("the dead letter exists");
    wait(commit);
    assert!(entry.same_message(&back));
    assert_eq!(entry.attempts, 0);
    let s = reopen(&*place, s);
    assert_eq!(notices(&*s), messages(&[back]));
    assert!(s.dead_letters(10).unwrap().is_empty());
}

/// Reorder points with their state, subscriptions and stock notices (pending and dead) travel
/// in an export and read the same after an import into a fresh place.
pub fn stock_alerts_export_and_import(backend: &dyn Backend) {
    let from = backend.create();
    let s = open(&*from);
    let l = confirmed_order(&*s, &[("SKU-1", 1)]);
    let cell = alert_cell(7, Some(3), true, 2);
    let unset = alert_cell(8, None, false, 4);
    let waiting = subscription_of(1, "MUG", "a@example.com");
    let told = subscription_of(2, "CUP", "+31612345678");
    wait(s.add_subscription(&waiting, 10).unwrap());
    wait(s.add_subscription(&told, 10).unwrap());
    let low = low_stock_entry(&cell, "ams", "MUG", "log");
    let back = back_in_stock_entry(&told, "webhook");
    wait(
        s.write_alerts(&AlertsWrite {
            cells: vec![
                CellAlertWrite {
                    warehouse: "ams".into(),
                    sku: "MUG".into(),
                    expected: None,
                    new: cell,
                },
                CellAlertWrite {
                    warehouse: "rtm".into(),
                    sku: "MUG".into(),
                    expected: None,
                    new: unset,
                },
            ],
            ended: vec![told.clone()],
            outbox: vec![low.clone(), back.clone()],
        })
        .unwrap(),
    );
    let mut failing = back.clone();
    failing.attempts = 8;
    let letter = DeadLetter {
        message_id: failing.message_id(),
        order_id: None,
        kind: "back_in_stock".into(),
        channel: failing.channel.clone(),
        attempts: 8,
        last_error: Some("HTTP 500".into()),
        failed_at: t0() + Duration::hours(1),
        entry: None,
    };
    wait(s.dead_letter(&failing, &letter).unwrap());
    wait(s.sync());
    let exported = export_bytes(&*s);
    let lines = records_of(&exported);
    assert!(lines.iter().any(|l| l.contains("\"type\":\"stock_alert\"")));
    assert!(lines
        .iter()
        .any(|l| l.contains("\"type\":\"subscription\"")));

    let to = backend.create();
    let t = open(&*to);
    export::import(&*t, &mut &exported[..]).expect("the export imports");
    let t = reopen(&*to, t);
    assert_eq!(
        records_of(&export_bytes(&*t)),
        lines,
        "exports the same again"
    );
    assert_eq!(t.cell_alerts().unwrap(), s.cell_alerts().unwrap());
    assert_eq!(
        t.subscriptions("MUG", None, 10).unwrap(),
        vec![waiting.clone()]
    );
    assert_eq!(t.subscribed_skus(None).unwrap(), vec!["MUG".to_string()]);
    assert_eq!(notices(&*t), messages(std::slice::from_ref(&low)));
    assert_eq!(
        messages(&outbox_of(&*t, l.paid.after.id)),
        messages(&outbox_of(&*s, l.paid.after.id))
    );
    assert_eq!(t.dead_letters(10).unwrap(), s.dead_letters(10).unwrap());
    // Importing what is stored already changes nothing; a different record is refused.
    t.import(&ExportRecord::Subscription(waiting.clone()))
        .expect("the same subscription again");
    assert!(is_conflict(t.import(&ExportRecord::Subscription(
        Subscription {
            id: uuid::Uuid::from_u128(99),
            ..waiting.clone()
        }
    ))));
    t.import(&ExportRecord::CellAlert {
        warehouse: "ams".into(),
        sku: "MUG".into(),
        alert: cell,
    })
    .expect("the same record again");
    assert!(is_conflict(t.import(&ExportRecord::CellAlert {
        warehouse: "ams".into(),
        sku: "MUG".into(),
        alert: alert_cell(7, Some(4), true, 2),
    })));
    // A store holding only alert records or subscriptions is not empty for an import.
    let only = backend.create();
    let o = open(&*only);
    wait(o.add_subscription(&waiting, 10).unwrap());
    assert!(matches!(
        export::import(&*o, &mut &exported[..]),
        Err(ExportError::TargetNotEmpty(_))
    ));
}
