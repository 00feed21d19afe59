//! Stock alerts on PostgreSQL (migration V7): cells' alert records in `stock_alerts`,
//! subscriptions in `stock_subscriptions`, stock notices as `outbox` rows without an order.
//!
//! [`AlertRecords::write_alerts`](orderly_storage::AlertRecords::write_alerts) is one transaction: the
//! touched alert records are locked (`FOR UPDATE`, in (warehouse, sku) order) and checked
//! against what the writer decided on, a record that was not there is inserted (a concurrent
//! insert makes it fail on the primary key: a conflict), the ended subscriptions are deleted by
//! (sku, contact, id) and must each have been there, and the notices' outbox rows are inserted
//! (owned by this node; a row already there is left as it is). Any check failing rolls it all
//! back. Adding a subscription takes a per-sku advisory lock for the count, so nodes adding at
//! once never exceed the bound; the primary key keeps one per contact.

use crate::{error, get, PostgresStorage};
use orderly_domain::stock_alerts::{CellAlert, Subscription};
use orderly_domain::Sku;
use orderly_storage::schema;
use orderly_storage::{
    AlertsWrite, CellAlertRecord, CellKey, Commit, OutboxEntry, Result, StorageError,
};

const CELL_ALERTS: &str = "SELECT warehouse, sku, record FROM stock_alerts ORDER BY warehouse, sku";
const CELL_ALERTS_OF: &str = "SELECT a.warehouse, a.sku, a.record FROM stock_alerts a \
     JOIN unnest($1::text[], $2::text[]) AS x(w, s) ON a.warehouse = x.w AND a.sku = x.s \
     ORDER BY a.warehouse, a.sku";
const SUBSCRIPTION: &str = "SELECT record FROM stock_subscriptions WHERE sku = $1 AND contact = $2";
const SUBSCRIPTIONS: &str = "SELECT record FROM stock_subscriptions \
     WHERE sku = $1 AND ($2::text IS NULL OR contact > $2::text) ORDER BY contact LIMIT $3";
const COUNT: &str = "SELECT count(*) FROM stock_subscriptions WHERE sku = $1";
const SKUS: &str = "SELECT DISTINCT sku FROM stock_subscriptions ORDER BY sku";
const SKUS_AMONG: &str =
    "SELECT DISTINCT sku FROM stock_subscriptions WHERE sku = ANY($1::text[]) ORDER BY sku";

fn cell_of(r: &tokio_postgres::Row) -> Result<CellAlertRecord> {
    Ok((
        CellKey::new(r.get::<_, String>(0), r.get::<_, String>(1)),
        schema::decode_cell_alert(r.get::<_, &[u8]>(2))?,
    ))
}

fn sorted(mut cells: Vec<CellAlertRecord>) -> Vec<CellAlertRecord> {
    // The columns collate as "C": byte order, as the other backends sort.
    cells.sort_by(|a, b| a.0.cmp(&b.0));
    cells
}

impl PostgresStorage {
    pub(crate) fn all_cell_alerts(&self) -> Result<Vec<CellAlertRecord>> {
        self.block(move |s| async move {
            let rows = s.query(CELL_ALERTS, &[]).await?;
            Ok(sorted(rows.iter().map(cell_of).collect::<Result<_>>()?))
        })
    }

    pub(crate) fn cell_alerts_among(&self, cells: &[CellKey]) -> Result<Vec<CellAlertRecord>> {
        let (ws, skus): (Vec<String>, Vec<String>) = cells
            .iter()
            .map(|c| (c.warehouse.to_string(), c.sku.to_string()))
            .unzip();
        self.block(move |s| async move {
            let rows = s.query(CELL_ALERTS_OF, &[&ws, &skus]).await?;
            let mut out: Vec<CellAlertRecord> = rows.iter().map(cell_of).collect::<Result<_>>()?;
            out.dedup_by(|a, b| a.0 == b.0);
            Ok(sorted(out))
        })
    }

    pub(crate) fn stored_subscription(
        &self,
        sku: &str,
        contact: &str,
    ) -> Result<Option<Subscription>> {
        let (sku, contact) = (sku.to_string(), contact.to_string());
        self.block(move |s| async move {
            s.query_opt(SUBSCRIPTION, &[&sku, &contact])
                .await?
                .map(|r| schema::decode_subscription(r.get::<_, &[u8]>(0)))
                .transpose()
        })
    }

    pub(crate) fn subscriptions_page(
        &self,
        sku: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Subscription>> {
        let (sku, after, limit) = (sku.to_string(), after.map(str::to_string), limit as i64);
        self.block(move |s| async move {
            s.query(SUBSCRIPTIONS, &[&sku, &after, &limit])
                .await?
                .iter()
                .map(|r| schema::decode_subscription(r.get::<_, &[u8]>(0)))
                .collect()
        })
    }

    pub(crate) fn count_subscriptions(&self, sku: &str) -> Result<usize> {
        let sku = sku.to_string();
        self.block(move |s| async move {
            Ok(s.query(COUNT, &[&sku]).await?[0].get::<_, i64>(0) as usize)
        })
    }

    pub(crate) fn skus_subscribed(&self, among: Option<&[Sku]>) -> Result<Vec<Sku>> {
        let among: Option<Vec<String>> =
            among.map(|skus| skus.iter().map(Sku::to_string).collect());
        self.block(move |s| async move {
            let rows = match &among {
                Some(skus) => s.query(SKUS_AMONG, &[skus]).await?,
                None => s.query(SKUS, &[]).await?,
            };
            Ok(rows
                .iter()
                .map(|r| Sku::from(r.get::<_, String>(0)))
                .collect())
        })
    }

    pub(crate) fn insert_subscription(&self, sub: &Subscription, max: usize) -> Result<Commit> {
        let record = schema::encode_subscription(sub)?;
        let (sku, contact, id, max) =
            (sub.sku.to_string(), sub.contact.clone(), sub.id, max as i64);
        self.block(move |s| async move {
            let mut c = get(&s).await?;
            let tx = c.transaction().await.map_err(error::db)?;
            // One adder per sku at a time, across nodes, for the count.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('orderly.subscriptions:' || $1::text, 0))",
                &[&sku],
            )
            .await
            .map_err(error::db)?;
            let count: i64 = tx
                .query_one(COUNT, &[&sku])
                .await
                .map_err(error::db)?
                .get(0);
            if count >= max {
                return Err(StorageError::Conflict(format!(
                    "{max} subscriptions wait for {sku} already"
                )));
            }
            tx.execute(
                "INSERT INTO stock_subscriptions (sku, contact, id, record) VALUES ($1, $2, $3, $4)",
                &[&sku, &contact, &id, &record],
            )
            .await
            .map_err(error::db)?;
            tx.commit().await.map_err(error::db)?;
            Ok(Commit::durable())
        })
    }

    pub(crate) fn write_alerts_in_one(&self, w: &AlertsWrite) -> Result<Commit> {
        let mut cells = w.cells.clone();
        cells.sort_by(|a, b| (&a.warehouse, &a.sku).cmp(&(&b.warehouse, &b.sku)));
        let cells: Vec<(String, String, Option<CellAlert>, Vec<u8>)> = cells
            .into_iter()
            .map(|c| {
                Ok((
                    c.warehouse.into_string(),
                    c.sku.into_string(),
                    c.expected,
                    schema::encode_cell_alert(&c.new)?,
                ))
            })
            .collect::<Result<_>>()?;
        let ended: Vec<(String, String, uuid::Uuid)> = w
            .ended
            .iter()
            .map(|s| (s.sku.to_string(), s.contact.clone(), s.id))
            .collect();
        let outbox: Vec<(String, Vec<u8>)> = w
            .outbox
            .iter()
            .map(|e| Ok((notice_id(e)?, schema::encode_outbox(e)?)))
            .collect::<Result<_>>()?;
        self.block(move |s| async move {
            let mut c = get(&s).await?;
            let tx = c.transaction().await.map_err(error::db)?;
            for (w, sku, expected, record) in &cells {
                let stored = tx
                    .query_opt(
                        "SELECT record FROM stock_alerts WHERE warehouse = $1 AND sku = $2 FOR UPDATE",
                        &[w, sku],
                    )
                    .await
                    .map_err(error::db)?
                    .map(|r| schema::decode_cell_alert(r.get::<_, &[u8]>(0)))
                    .transpose()?;
                if stored != *expected {
                    return Err(StorageError::Conflict(format!(
                        "the alert record of {sku} at {w} changed"
                    )));
                }
                let sql = if stored.is_some() {
                    "UPDATE stock_alerts SET record = $3 WHERE warehouse = $1 AND sku = $2"
                } else {
                    "INSERT INTO stock_alerts (warehouse, sku, record) VALUES ($1, $2, $3)"
                };
                tx.execute(sql, &[w, sku, record])
                    .await
                    .map_err(error::db)?;
            }
            for (sku, contact, id) in &ended {
                let gone = tx
                    .execute(
                        "DELETE FROM stock_subscriptions WHERE sku = $1 AND contact = $2 AND id = $3",
                        &[sku, contact, id],
                    )
                    .await
                    .map_err(error::db)?;
                if gone != 1 {
                    return Err(StorageError::Conflict(format!(
                        "the subscription of {contact} to {sku} ended already"
                    )));
                }
            }
            for (id, entry) in &outbox {
                tx.execute(
                    "INSERT INTO outbox (message_id, order_id, step, owner, entry) \
                     VALUES ($1, NULL, NULL, $2, $3) ON CONFLICT (message_id) DO NOTHING",
                    &[id, &&*s.node, entry],
                )
                .await
                .map_err(error::db)?;
            }
            tx.commit().await.map_err(error::db)?;
            Ok(Commit::durable())
        })
    }
}

/// The message id of a stock notice's entry (its row's key).
pub(crate) fn notice_id(e: &OutboxEntry) -> Result<String> {
    match e.stock_notice() {
        Some(_) => Ok(e.message_id()),
        None => Err(StorageError::Codec(format!(
            "write_alerts takes stock notices only, not {}",
            e.message_id()
        ))),
    }
}
