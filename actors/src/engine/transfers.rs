//! The engine's transfers between warehouses: create one (its units leave the source at once
//! and are incoming at the destination), receive it (all at once or in parts), call it off
//! before anything arrived, and read them. The rules are the domain's
//! (`domain::inventory::transfer`); the inventory actor moves the units and stores the transfer
//! with them in one stock write, so a transfer and the levels it explains never disagree.
//! Units a receipt puts on hand are new stock like a raised count: backordered orders waiting
//! for them are filled, oldest first.

use super::inventory::{Dispatch, InventoryError, MoveTransfer, TransferStep};
use super::{Engine, EngineError};
use crate::domain::inventory::transfer::{Transfer, TransferError, TransferId};
use crate::domain::{warehouse, LineQty, WarehouseId};

/// Whether a create request made its transfer, or found the one made before under its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    New(Transfer),
    /// The same request again under the same `Idempotency-Key`: the transfer as it is now.
    Repeated(Transfer),
}

impl Engine {
    /// Creates a transfer of `lines` from `from` to `to` under `key` (an `Idempotency-Key`):
    /// answers once it is durable. The same request under the same key answers the transfer
    /// made the first time; another request under it is an [`EngineError::IdempotencyMismatch`].
    pub async fn create_transfer(
        &self,
        key: String,
        from: WarehouseId,
        to: WarehouseId,
        lines: Vec<LineQty>,
    ) -> Result<Created, EngineError> {
        let known = |w: &str| warehouse::is_known(self.warehouses(), w);
        let now = self.inner.ctx.clock.now();
        let transfer =
            Transfer::dispatch(TransferId::now_v7(), &key, &from, &to, &lines, now, known)?;
        let id = transfer.id;
        let stored = self
            .inner
            .inventory
            .send(Dispatch { transfer })
            .await
            .map_err(|_| EngineError::Overloaded)??;
        if stored.id == id {
            Ok(Created::New(stored))
        } else if stored.same_request(&from, &to, &lines) {
            Ok(Created::Repeated(stored))
        } else {
            Err(EngineError::IdempotencyMismatch)
        }
    }

    /// The destination received `lines` of transfer `id` (each at most what is in transit).
    pub async fn receive_transfer(
        &self,
        id: TransferId,
        lines: Vec<LineQty>,
    ) -> Result<Transfer, EngineError> {
        self.move_transfer(id, TransferStep::Receive(lines)).await
    }

    /// Calls transfer `id` off before anything of it was received.
    pub async fn cancel_transfer(&self, id: TransferId) -> Result<Transfer, EngineError> {
        self.move_transfer(id, TransferStep::Cancel).await
    }

    async fn move_transfer(
        &self,
        id: TransferId,
        step: TransferStep,
    ) -> Result<Transfer, EngineError> {
        let now = self.inner.ctx.clock.now();
        Ok(self
            .inner
            .inventory
            .send(MoveTransfer { id, step, now })
            .await
            .map_err(|_| EngineError::Overloaded)??)
    }

    /// A transfer by id.
    pub async fn transfer(&self, id: TransferId) -> Result<Transfer, EngineError> {
        self.read(move |s| s.transfer(id))
            .await?
            .ok_or(EngineError::NoTransfer(id))
    }

    /// Transfers newest first, strictly older than `before`, at most `limit`.
    pub async fn transfers(
        &self,
        before: Option<TransferId>,
        limit: usize,
    ) -> Result<Vec<Transfer>, EngineError> {
        self.read(move |s| s.transfers(before, limit)).await
    }
}

impl From<TransferError> for EngineError {
    fn from(e: TransferError) -> Self {
        EngineError::Transfer(e)
    }
}

impl From<InventoryError> for EngineError {
    fn from(e: InventoryError) -> Self {
        match e {
            InventoryError::Stock(s) => EngineError::Stock(s),
            InventoryError::Storage(s) => EngineError::Storage(s),
            InventoryError::Transfer(t) => EngineError::Transfer(t),
            InventoryError::NoTransfer(id) => EngineError::NoTransfer(id),
        }
    }
}
