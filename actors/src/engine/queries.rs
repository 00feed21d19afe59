//! The engine's reads: orders with their history, lists, the pick list, tracking, stock,
//! availability across warehouses, the configured warehouses and the notification dead letters. Reads show committed state only (index entries and history
//! are checked against the committed snapshot); they do not wait for a flush.

use super::inventory::{
    GetAvailability, GetBackorders, GetStock, GetStockedWarehouses, SetBackorders, SetOnHand,
};
use super::notifier::{Deliver, Origin};
use super::{DeadLetter, Engine, EngineError, History, OrderView, StockLevel};
use crate::domain::inventory::Backorders;
use crate::domain::warehouse::Warehouse;
use crate::domain::{Order, OrderId, Sku, Status, WarehouseId};

/// What can be sold of one sku: its stock cells, one per warehouse that has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkuAvailability {
    pub sku: Sku,
    /// (warehouse, level), by warehouse id: the warehouses allocation may use (the configured
    /// ones; every one holding stock when the service runs open).
    pub warehouses: Vec<(WarehouseId, StockLevel)>,
    /// Whether the sku may be backordered, its cap and the units waiting now.
    pub backorders: Backorders,
}

impl SkuAvailability {
    /// Units a new order may still get, across all warehouses: what is available less what
    /// waiting backorders have first call on (never negative).
    pub fn available(&self) -> i64 {
        let free: i64 = self
            .warehouses
            .iter()
            .map(|(_, l)| l.available().max(0))
            .sum();
        (free - self.backorders.waiting).max(0)
    }

    /// Units on their way to these warehouses in transfers.
    pub fn incoming(&self) -> i64 {
        self.warehouses.iter().map(|(_, l)| l.incoming).sum()
    }
}

impl Engine {
    /// The order as committed, without its history.
    pub async fn order(&self, id: OrderId) -> Result<Order, EngineError> {
        self.read(move |s| s.load_order(id))
            .await?
            .ok_or(EngineError::NotFound)
    }

    /// The order with its full history.
    pub async fn order_with_history(&self, id: OrderId) -> Result<OrderView, EngineError> {
        let (order, history) = self
            .store()
            .order_with_history(id)
            .await?
            .ok_or(EngineError::NotFound)?;
        Ok(OrderView {
            order,
            history: History::from_json(history),
        })
    }

    pub(super) async fn with_history(&self, order: Order) -> Result<OrderView, EngineError> {
        let (id, version) = (order.id, order.version);
        let history = History::from_json(self.store().history_json_async(id, version).await?);
        Ok(OrderView { order, history })
    }

    /// Orders, newest first, optionally only those in `status`, after the cursor `after`.
    pub async fn orders(
        &self,
        status: Option<Status>,
        after: Option<OrderId>,
        limit: usize,
    ) -> Result<Vec<Order>, EngineError> {
        self.read(move |s| s.list_orders(status, after, limit))
            .await
    }

    /// Confirmed orders waiting to be picked at `warehouse`, oldest first, after `after`.
    pub async fn picks(
        &self,
        warehouse: &str,
        after: Option<OrderId>,
        limit: usize,
    ) -> Result<Vec<Order>, EngineError> {
        let warehouse = warehouse.to_string();
        self.read(move |s| s.picks(&warehouse, after, limit)).await
    }

    /// The order a customer's tracking token belongs to, with its history.
    pub async fn tracking(&self, token: &str) -> Result<OrderView, EngineError> {
        let token = token.to_string();
        let order = self
            .read(move |s| s.order_by_token(&token))
            .await?
            .ok_or(EngineError::NotFound)?;
        self.with_history(order).await
    }

    /// Sets the counted stock of a sku at a warehouse.
    pub async fn set_stock(
        &self,
        warehouse: WarehouseId,
        sku: Sku,
        on_hand: i64,
    ) -> Result<StockLevel, EngineError> {
        let r = self
            .inner
            .inventory
            .send(SetOnHand {
                warehouse,
                sku,
                on_hand,
            })
            .await
            .map_err(|_| EngineError::Overloaded)?;
        Ok(r?)
    }

    /// Sets whether a sku may be backordered and how many units may wait at most; answers
    /// once durable. Orders already waiting stay backordered.
    pub async fn set_backorders(
        &self,
        sku: Sku,
        allowed: bool,
        cap: i64,
    ) -> Result<Backorders, EngineError> {
        let r = self
            .inner
            .inventory
            .send(SetBackorders { sku, allowed, cap })
            .await
            .map_err(|_| EngineError::Overloaded)?;
        Ok(r?)
    }

    /// A sku's backorder record (not backorderable, nothing waiting, when never set).
    pub async fn backorders(&self, sku: Sku) -> Result<Backorders, EngineError> {
        self.inner
            .inventory
            .send(GetBackorders { sku })
            .await
            .map_err(|_| EngineError::Overloaded)
    }

    /// A sku's stock per warehouse.
    pub async fn stock(&self, sku: Sku) -> Result<Vec<(WarehouseId, StockLevel)>, EngineError> {
        self.inner
            .inventory
            .send(GetStock { sku })
            .await
            .map_err(|_| EngineError::Overloaded)
    }

    /// What is available of each of `skus`, in the order given (one message to the inventory
    /// for all of them). A sku without stock cells answers with none: zero, not an error.
    pub async fn availability(&self, skus: Vec<Sku>) -> Result<Vec<SkuAvailability>, EngineError> {
        let answer = self
            .inner
            .inventory
            .send(GetAvailability { skus })
            .await
            .map_err(|_| EngineError::Overloaded)?;
        Ok(answer
            .into_iter()
            .map(|(sku, warehouses, backorders)| SkuAvailability {
                sku,
                warehouses,
                backorders,
            })
            .collect())
    }

    /// The warehouses as configured (`[[warehouses]]`); empty when the service runs open.
    pub fn warehouses(&self) -> &[Warehouse] {
        &self.config().warehouses
    }

    /// The ids of the warehouses that have stock cells, in id order (what "open" mode knows of).
    pub async fn stocked_warehouses(&self) -> Result<Vec<WarehouseId>, EngineError> {
        self.inner
            .inventory
            .send(GetStockedWarehouses)
            .await
            .map_err(|_| EngineError::Overloaded)
    }

    /// Notifications that ran out of attempts.
    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, EngineError> {
        self.read(move |s| s.dead_letters(limit)).await
    }

    /// Puts a dead letter back into the outbox (durably) and delivers it again. Returns false
    /// when there is no dead letter with this id.
    pub async fn retry_dead_letter(&self, message_id: &str) -> Result<bool, EngineError> {
        let Some((entry, commit)) = self.store().requeue_dead_letter(message_id)? else {
            return Ok(false);
        };
        commit.await?;
        if entry.is_notification() {
            self.inner.notifier.do_send(Deliver {
                entry,
                origin: Origin::Storage,
            });
        } else {
            // A dead-lettered effect (a booking a carrier refused): on its way again.
            let effects = self.inner.ctx.effects.clone();
            actix_rt::spawn(async move { effects.send_stored(vec![entry]).await });
        }
        Ok(true)
    }
}
