//! The stock ledger's conditional write: one call of `orderly_write_stock` (migration V2), which
//! locks the touched cells in a fixed order (so two writers never deadlock), the order's
//! reservation and restock marker, checks they still hold what the caller decided on, and only
//! then writes the new values with one append-only movement row per cell. A mismatch changes
//! nothing and is a `Conflict`; so is a concurrent insert of the same new cell (a unique
//! violation) or a level the `CHECK` refuses (more reserved than on hand), which no correct
//! decision produces.
//!
//! One round trip, on a connection of its own whose commits do not wait for the WAL flush
//! (`synchronous_commit = off`): a node's inventory writes one change after another, and would
//! otherwise wait for one flush each. The caller makes the change durable by queueing a flush on
//! a commit lane (`Op::Flush`), whose synchronous commit covers it together with other writes.
//! Another node may read the change before it is durable; whatever it then writes commits later
//! in the WAL, so it can never be durable without this change.

use crate::{error, lanes};
use orderly_storage::{schema, Result, StockChange, StorageError};
use uuid::Uuid;

/// The stock writer's own session.
#[derive(Default)]
pub(crate) struct StockSession(tokio::sync::Mutex<Option<tokio_postgres::Client>>);

/// Applies `change`; `Ok(())` once committed and visible (durable after the next lane flush).
pub(crate) async fn write(
    session: &StockSession,
    connect: &lanes::Connect,
    node: &str,
    change: &StockChange,
) -> Result<()> {
    let mut cells: Vec<&orderly_storage::CellWrite> = change.cells.iter().collect();
    cells.sort_by(|a, b| (&a.warehouse, &a.sku).cmp(&(&b.warehouse, &b.sku)));
    let warehouses: Vec<&str> = cells.iter().map(|c| c.warehouse.as_str()).collect();
    let skus: Vec<&str> = cells.iter().map(|c| c.sku.as_str()).collect();
    let expected_on_hand: Vec<i64> = cells.iter().map(|c| c.expected.on_hand).collect();
    let expected_reserved: Vec<i64> = cells.iter().map(|c| c.expected.reserved).collect();
    let on_hand: Vec<i64> = cells.iter().map(|c| c.new.on_hand).collect();
    let reserved: Vec<i64> = cells.iter().map(|c| c.new.reserved).collect();
    let order: Option<Uuid> = change
        .reservation
        .as_ref()
        .map(|r| r.new.order_id)
        .or(change.restock.map(|(id, _)| id));
    let reservation_expected = change
        .reservation
        .as_ref()
        .and_then(|r| r.expected.as_ref())
        .map(schema::encode_reservation)
        .transpose()?;
    let reservation = change
        .reservation
        .as_ref()
        .map(|r| schema::encode_reservation(&r.new))
        .transpose()?;
    let restock_step: Option<i32> = change.restock.map(|(_, step)| step as i32);

    let mut guard = session.0.lock().await;
    if guard.as_ref().is_none_or(|c| c.is_closed()) {
        let c = connect().await?;
        c.batch_execute("SET synchronous_commit = off")
            .await
            .map_err(error::db)?;
        *guard = Some(c);
    }
    let c = guard.as_ref().expect("connected above");
    let row = c
        .query_one(
            "SELECT orderly_write_stock($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &warehouses,
                &skus,
                &expected_on_hand,
                &expected_reserved,
                &on_hand,
                &reserved,
                &order,
                &reservation_expected,
                &reservation,
                &restock_step,
                &node,
            ],
        )
        .await;
    let row = match row {
        Ok(row) => row,
        Err(e) => {
            if error::is_connection(&e) {
                *guard = None;
            }
            return Err(error::db(e));
        }
    };
    match row.get::<_, Option<String>>(0) {
        None => Ok(()),
        Some(why) => Err(StorageError::Conflict(why)),
    }
}
