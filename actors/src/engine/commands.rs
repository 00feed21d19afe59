//! The engine's commands: one method per thing a client may ask of an order.
//!
//! Every command runs on the order's actor and answers with the order **only once everything
//! the answer shows is durable**. Most answer as soon as their own transition is committed,
//! with the order as that transition left it. Those whose answer should show what their
//! effects brought back (packing shows the booked label, hand-over the committed stock,
//! cancelling the released stock, receiving a return the restock and refund) wait for the
//! effects ([`Answer::AfterEffects`]) and then read the order again; an answer applied by
//! another actor may be written but not yet flushed, so when the read shows a version newer
//! than the command's own transition, one more group commit is awaited before answering.
//! This rule lives here, once.

use super::effects::Answer;
use super::order_actor::Executed;
use super::{Claim, Engine, EngineError, History, OrderView};
use crate::domain::shipping::network::Consignment;
use crate::domain::WarehouseId;
use crate::domain::{
    fold, CarrierEventKind, Cause, Command, Event, ExceptionAnswer, FailureReason, LineQty,
    NewOrder, OrderId, Parcel, PaymentUpdate, ShipmentRef, Status,
};
use chrono::{DateTime, Utc};
use orderly_storage::StorageError;
use sha2::{Digest, Sha256};

/// Result of placing an order.
#[derive(Debug, Clone)]
pub struct Placed {
    pub view: OrderView,
    /// True when the Idempotency-Key was seen before and the original result is returned.
    pub replayed: bool,
}

/// A carrier's tracking event, as the carrier reports it.
#[derive(Debug, Clone)]
pub struct CarrierScan {
    /// The carrier's id for this event; a repeated id changes nothing.
    pub event_id: String,
    pub tracking_number: String,
    /// What it means in the one tracking vocabulary (`None`: what the carrier's
    /// `tracking_codes` say `code` means).
    pub kind: Option<CarrierEventKind>,
    pub occurred_at: DateTime<Utc>,
    pub location: Option<String>,
    /// The day the carrier now expects to deliver, if it said.
    pub estimated_delivery: Option<chrono::NaiveDate>,
    /// The carrier's own code and text (mapped through its `tracking_codes` when `kind`
    /// is not given; an unmapped code is `unknown`).
    pub code: Option<String>,
    pub description: Option<String>,
    /// Why a delivery failed (a `failed_attempt`'s; absent: `other`).
    pub reason: Option<FailureReason>,
}

/// What a carrier event did to its order.
#[derive(Debug, Clone, Copy)]
pub struct CarrierEventOutcome {
    pub order_status: Status,
    /// The order's version after the event (its history length).
    pub version: u32,
    /// False when the event was a duplicate or changed nothing.
    pub applied: bool,
}

impl Engine {
    /// Places an order under an idempotency key: the same key and body return the original
    /// result; the same key with another body is refused. Confirmation follows by itself once
    /// stock is reserved (and payment is in, or cash on delivery).
    pub async fn place(
        &self,
        idempotency_key: &str,
        order: NewOrder,
    ) -> Result<Placed, EngineError> {
        order.validate()?;
        let fingerprint = {
            let bytes = serde_json::to_vec(&order).map_err(StorageError::from)?;
            let digest = Sha256::digest(&bytes);
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let _claim = Claim::take(&self.inner.claims, idempotency_key)?;
        // Twice at most: a placement refused because another node used the same key at the
        // same moment finds that node's record the second time.
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Storage counts a record only once its order committed (a record written ahead
            // of a snapshot that never committed does not count).
            let key = idempotency_key.to_string();
            if let Some(rec) = self.read(move |s| s.idempotency(&key)).await? {
                if rec.fingerprint != fingerprint {
                    return Err(EngineError::IdempotencyMismatch);
                }
                let (oid, version) = (rec.order_id, rec.version);
                let history: Vec<Event> = self.read(move |s| s.history(oid, version)).await?;
                let order = fold(None, &history).ok_or(EngineError::NotFound)?;
                return Ok(Placed {
                    view: OrderView {
                        order,
                        history: history.into(),
                    },
                    replayed: true,
                });
            }
            let id = OrderId::now_v7();
            let command = Command::Place {
                id,
                tracking_token: new_tracking_token(),
                order: order.clone(),
                payment_timeout_secs: self.config().payment_timeout_secs,
            };
            let done = self
                .inner
                .registry
                .execute(
                    id,
                    command,
                    Cause::Storefront,
                    Some((idempotency_key.to_string(), fingerprint.clone())),
                    Answer::AfterCommit,
                )
                .await;
            match done {
                Ok(done) => {
                    return Ok(Placed {
                        view: OrderView {
                            order: done.order,
                            history: done.events.into(),
                        },
                        replayed: false,
                    })
                }
                Err(EngineError::Storage(StorageError::Conflict(_))) if attempt < 2 => continue,
                Err(EngineError::Storage(StorageError::Conflict(_))) => {
                    return Err(EngineError::IdempotencyInProgress)
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until the stock's outcome of a placed order is known — allocated (the order is
    /// then confirmed, or waits for its payment), backordered, or cancelled for shortage — or
    /// `wait` passed, and answers with the order as it then is (durable) and whether the
    /// outcome was known in time.
    pub async fn wait_for_stock(
        &self,
        view: OrderView,
        wait: std::time::Duration,
    ) -> Result<(OrderView, bool), EngineError> {
        let (id, placed) = (view.order.id, view.order.version);
        let deadline = actix_rt::time::Instant::now() + wait;
        let mut view = view;
        loop {
            if stock_outcome_known(&view.order) {
                if view.order.version > placed {
                    // Read after the answers were applied: they may not be flushed yet.
                    self.store().sync().await?;
                }
                return Ok((view, true));
            }
            // Register first, then read: a change between the two still wakes us.
            let changed = self.inner.ctx.watchers.watch(id);
            let (order, history) = self
                .store()
                .order_with_history(id)
                .await?
                .ok_or(EngineError::NotFound)?;
            view = OrderView {
                order,
                history: History::from_json(history),
            };
            if stock_outcome_known(&view.order) {
                self.inner.ctx.watchers.forget(id);
                continue;
            }
            let left = deadline.saturating_duration_since(actix_rt::time::Instant::now());
            if actix_rt::time::timeout(left, changed).await.is_err() {
                self.inner.ctx.watchers.forget(id);
                if view.order.version > placed {
                    self.store().sync().await?;
                }
                return Ok((view, false));
            }
        }
    }

    /// Records a payment reported by the storefront (the amount must equal the order total).
    pub async fn pay(
        &self,
        id: OrderId,
        status: PaymentUpdate,
        amount: i64,
        reference: String,
    ) -> Result<OrderView, EngineError> {
        let command = Command::RecordPayment {
            status,
            amount,
            reference,
        };
        self.run(id, command, Cause::Storefront).await
    }

    /// Cancels the order; `by` is who asked (the storefront or an operator). Answers once the
    /// stock is released.
    pub async fn cancel(
        &self,
        id: OrderId,
        reason: String,
        by: Cause,
    ) -> Result<OrderView, EngineError> {
        self.run_awaiting_effects(id, Command::Cancel { reason }, by)
            .await
    }

    /// Records picked units of one shipment (by id, or the order's shipment at a warehouse);
    /// they add up over several calls.
    pub async fn acknowledge_picks(
        &self,
        id: OrderId,
        shipment: ShipmentRef,
        lines: Vec<LineQty>,
    ) -> Result<OrderView, EngineError> {
        let command = Command::AcknowledgePicks { shipment, lines };
        self.run(id, command, Cause::Warehouse).await
    }

    /// Packs a shipment, refusing up front when no carrier could take the parcels, then waits
    /// for the carrier booking so the answer carries the label.
    pub async fn pack(
        &self,
        id: OrderId,
        shipment: ShipmentRef,
        parcels: Vec<Parcel>,
    ) -> Result<OrderView, EngineError> {
        if let Some(order) = self.read(move |s| s.load_order(id)).await? {
            let address = &order.shipping.address;
            let open =
                order.status.rank() >= Status::Confirmed.rank() && !order.status.is_terminal();
            let warehouse = match &shipment {
                ShipmentRef::Id(n) => order.shipment(*n).map(|s| s.warehouse.clone()),
                ShipmentRef::At(w) => Some(w.clone()),
            };
            if let (true, Some(warehouse)) = (open, warehouse) {
                let c = Consignment::of_order(&order, &warehouse, &parcels);
                if self.config().shipping.select(&c).is_none() {
                    return Err(EngineError::NoCarrier(address.country.clone()));
                }
            }
        }
        let command = Command::Pack { shipment, parcels };
        self.run_awaiting_effects(id, command, Cause::Warehouse)
            .await
    }

    /// Hands a shipment (or, without one, every packed and booked shipment) to the carrier;
    /// answers once the stock is committed.
    pub async fn hand_over(
        &self,
        id: OrderId,
        shipment: Option<u32>,
    ) -> Result<OrderView, EngineError> {
        self.run_awaiting_effects(id, Command::Handover { shipment }, Cause::Warehouse)
            .await
    }

    /// Applies a carrier's tracking event to the order its tracking number belongs to.
    /// Duplicates (by event id) and out-of-order scans change nothing.
    pub async fn carrier_event(
        &self,
        carrier: String,
        scan: CarrierScan,
    ) -> Result<CarrierEventOutcome, EngineError> {
        let id = self
            .store()
            .order_by_tracking_number(&scan.tracking_number)?
            .ok_or_else(|| EngineError::UnknownTrackingNumber(scan.tracking_number.clone()))?;
        let kind = match scan.kind {
            Some(kind) => kind,
            None => {
                let known = scan.code.as_deref().and_then(|code| {
                    let c = self.config().shipping.carrier(&carrier)?;
                    c.tracking_codes.get(code).copied()
                });
                known.unwrap_or_else(|| {
                    self.inner.ctx.stats.unknown_code(&carrier);
                    tracing::warn!(%carrier, code = ?scan.code, "a carrier code its tracking_codes do not map; recorded as unknown");
                    CarrierEventKind::Unknown
                })
            }
        };
        let command = Command::CarrierEvent {
            carrier: carrier.clone(),
            tracking_number: scan.tracking_number,
            event_id: scan.event_id,
            kind,
            occurred_at: scan.occurred_at,
            location: scan.location,
            estimated_delivery: scan.estimated_delivery,
            code: scan.code,
            description: scan.description,
            reason: scan.reason,
            exceptions: self.config().exceptions,
        };
        let done = self
            .inner
            .registry
            .execute(
                id,
                command,
                Cause::Carrier(carrier),
                None,
                Answer::AfterCommit,
            )
            .await?;
        Ok(CarrierEventOutcome {
            order_status: done.order.status,
            version: done.order.version,
            applied: !done.events.is_empty(),
        })
    }

    /// Answers a shipment's delivery exception (reattempt, or send it back); the answer goes
    /// to the shipment's carrier. `by`: the storefront, or the customer through the tracking
    /// token.
    pub async fn answer_exception(
        &self,
        id: OrderId,
        shipment: u32,
        answer: ExceptionAnswer,
        by: Cause,
    ) -> Result<OrderView, EngineError> {
        self.run(id, Command::AnswerException { shipment, answer }, by)
            .await
    }

    /// The customer answers a delivery exception through the order's tracking token (an
    /// unknown token is `NotFound`, as for the tracking view).
    pub async fn answer_exception_by_token(
        &self,
        token: &str,
        shipment: u32,
        answer: ExceptionAnswer,
    ) -> Result<OrderView, EngineError> {
        let token = token.to_string();
        let order = self
            .read(move |s| s.order_by_token(&token))
            .await?
            .ok_or(EngineError::NotFound)?;
        self.answer_exception(order.id, shipment, answer, Cause::Customer)
            .await
    }

    /// Approves a return of delivered lines within the return window.
    pub async fn request_return(
        &self,
        id: OrderId,
        lines: Vec<LineQty>,
        reason: String,
    ) -> Result<OrderView, EngineError> {
        let command = Command::RequestReturn {
            lines,
            reason,
            window_days: self.config().return_window_days,
        };
        self.run(id, command, Cause::Storefront).await
    }

    /// Receives returned goods at `warehouse`: restocks them and refunds the received lines;
    /// answers once the restock is done.
    pub async fn receive_return(
        &self,
        id: OrderId,
        warehouse: WarehouseId,
        lines: Vec<LineQty>,
    ) -> Result<OrderView, EngineError> {
        let command = Command::ReceiveReturn { warehouse, lines };
        self.run_awaiting_effects(id, command, Cause::Warehouse)
            .await
    }

    /// Runs a command; answers with the order as its transition left it, once durable.
    async fn run(
        &self,
        id: OrderId,
        command: Command,
        cause: Cause,
    ) -> Result<OrderView, EngineError> {
        let done = self
            .inner
            .registry
            .execute(id, command, cause, None, Answer::AfterCommit)
            .await?;
        self.with_history(done.order).await
    }

    /// Runs a command and waits for its effects; answers with the order read again, once
    /// everything it shows is durable.
    async fn run_awaiting_effects(
        &self,
        id: OrderId,
        command: Command,
        cause: Cause,
    ) -> Result<OrderView, EngineError> {
        let done: Executed = self
            .inner
            .registry
            .execute(id, command, cause, None, Answer::AfterEffects)
            .await?;
        let (order, history) = self
            .store()
            .order_with_history(id)
            .await?
            .ok_or(EngineError::NotFound)?;
        if order.version > done.order.version {
            // An answer to an effect was applied after the command; it may not be flushed yet.
            self.store().sync().await?;
        }
        Ok(OrderView {
            order,
            history: History::from_json(history),
        })
    }
}

/// Whether the inventory has answered for a placed order (or it moved on some other way).
fn stock_outcome_known(o: &crate::domain::Order) -> bool {
    o.status != Status::Placed || o.stock != crate::domain::StockState::Pending
}

/// 160 random bits, hex: the customer's unguessable handle on their order.
fn new_tracking_token() -> String {
    let mut b = [0u8; 20];
    getrandom::fill(&mut b).expect("the operating system's random source is available");
    b.iter().map(|x| format!("{x:02x}")).collect()
}
