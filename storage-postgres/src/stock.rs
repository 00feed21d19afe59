//! The stock ledger's conditional write: one transaction that locks the touched cells (in a
//! fixed order, so two writers never deadlock), the order's reservation and restock marker,
//! checks they still hold what the caller decided on, and writes the new values with one
//! append-only movement row per cell. A mismatch changes nothing and is a `Conflict`; so is a
//! concurrent insert of the same new cell (a unique violation) or a level the `CHECK` refuses
//! (more reserved than on hand), which no correct decision produces.

use crate::error;
use orderly_domain::inventory::StockLevel;
use orderly_storage::{schema, Result, StockChange, StorageError};
use std::collections::HashMap;
use uuid::Uuid;

/// Applies `change`; `Ok(())` once committed (synchronously: durable on return).
pub(crate) async fn write(
    c: &mut deadpool_postgres::Client,
    node: &str,
    change: &StockChange,
) -> Result<()> {
    let mut cells: Vec<&orderly_storage::CellWrite> = change.cells.iter().collect();
    cells.sort_by(|a, b| (&a.warehouse, &a.sku).cmp(&(&b.warehouse, &b.sku)));
    let warehouses: Vec<&str> = cells.iter().map(|c| c.warehouse.as_str()).collect();
    let skus: Vec<&str> = cells.iter().map(|c| c.sku.as_str()).collect();
    let order_id: Option<Uuid> = change
        .reservation
        .as_ref()
        .map(|r| r.new.order_id)
        .or(change.restock.map(|(id, _)| id));

    let tx = c.transaction().await.map_err(error::db)?;
    let (rows, reservation, restocked) = futures::try_join!(
        async {
            tx.query(
                "SELECT s.warehouse, s.sku, s.on_hand, s.reserved FROM stock s \
                 JOIN unnest($1::text[], $2::text[]) AS x(w, k) ON s.warehouse = x.w AND s.sku = x.k \
                 ORDER BY s.warehouse, s.sku FOR UPDATE OF s",
                &[&warehouses, &skus],
            )
            .await
        },
        async {
            match &change.reservation {
                None => Ok(None),
                Some(r) => {
                    tx.query_opt(
                        "SELECT reservation FROM reservations WHERE order_id = $1 FOR UPDATE",
                        &[&r.new.order_id],
                    )
                    .await
                }
            }
        },
        async {
            match change.restock {
                None => Ok(None),
                Some((id, step)) => {
                    tx.query_opt(
                        "SELECT 1 FROM restocks WHERE order_id = $1 AND step = $2",
                        &[&id, &(step as i32)],
                    )
                    .await
                }
            }
        }
    )
    .map_err(error::db)?;

    let stored: HashMap<(String, String), StockLevel> = rows
        .into_iter()
        .map(|r| {
            (
                (r.get(0), r.get(1)),
                StockLevel {
                    on_hand: r.get(2),
                    reserved: r.get(3),
                },
            )
        })
        .collect();
    for cw in &cells {
        let now = stored
            .get(&(cw.warehouse.clone(), cw.sku.clone()))
            .copied()
            .unwrap_or_default();
        if now != cw.expected {
            return Err(StorageError::Conflict(format!(
                "stock of {} at {} is {:?}, expected {:?}",
                cw.sku, cw.warehouse, now, cw.expected
            )));
        }
    }
    if let Some(r) = &change.reservation {
        let now = reservation
            .map(|row| schema::decode_reservation(row.get::<_, &[u8]>(0)))
            .transpose()?;
        if now != r.expected {
            return Err(StorageError::Conflict(format!(
                "the reservation of order {} changed",
                r.new.order_id
            )));
        }
    }
    if restocked.is_some() {
        return Err(StorageError::Conflict(
            "the restock was done already".into(),
        ));
    }

    let mut on_hand = Vec::with_capacity(cells.len());
    let mut reserved = Vec::with_capacity(cells.len());
    let mut d_on_hand = Vec::with_capacity(cells.len());
    let mut d_reserved = Vec::with_capacity(cells.len());
    for cw in &cells {
        on_hand.push(cw.new.on_hand);
        reserved.push(cw.new.reserved);
        d_on_hand.push(cw.new.on_hand - cw.expected.on_hand);
        d_reserved.push(cw.new.reserved - cw.expected.reserved);
    }
    let new_reservation = change
        .reservation
        .as_ref()
        .map(|r| schema::encode_reservation(&r.new))
        .transpose()?;
    futures::try_join!(
        async {
            if cells.is_empty() {
                return Ok(0);
            }
            tx.execute(
                "INSERT INTO stock (warehouse, sku, on_hand, reserved) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[]) \
                 ON CONFLICT (warehouse, sku) DO UPDATE SET on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved",
                &[&warehouses, &skus, &on_hand, &reserved],
            )
            .await
        },
        async {
            if cells.is_empty() {
                return Ok(0);
            }
            tx.execute(
                "INSERT INTO stock_movements (warehouse, sku, on_hand_delta, reserved_delta, on_hand, reserved, order_id, node_id) \
                 SELECT w, k, dh, dr, h, r, $7::uuid, $8::text \
                 FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[]) AS x(w, k, dh, dr, h, r)",
                &[&warehouses, &skus, &d_on_hand, &d_reserved, &on_hand, &reserved, &order_id, &node],
            )
            .await
        },
        async {
            match (&change.reservation, &new_reservation) {
                (Some(r), Some(bytes)) => {
                    tx.execute(
                        "INSERT INTO reservations (order_id, reservation) VALUES ($1, $2) \
                         ON CONFLICT (order_id) DO UPDATE SET reservation = EXCLUDED.reservation",
                        &[&r.new.order_id, bytes],
                    )
                    .await
                }
                _ => Ok(0),
            }
        },
        async {
            match change.restock {
                Some((id, step)) => {
                    tx.execute(
                        "INSERT INTO restocks (order_id, step) VALUES ($1, $2)",
                        &[&id, &(step as i32)],
                    )
                    .await
                }
                None => Ok(0),
            }
        }
    )
    .map_err(error::db)?;
    tx.commit().await.map_err(error::db)?;
    Ok(())
}
