//! Export and import (`orderly export` / `orderly import`): every committed record in the
//! export file's order, and back, each imported record in a transaction of its own. Imported
//! outbox rows and timers have no owner: the first node to look takes them.
//!
//! Text keys sort with `COLLATE "C"` (byte order), as sled's keys do, so both backends export
//! in the same order. Orders, idempotency records and reservations are read in pages (keyset),
//! so an export holds one page at a time, never the whole store.

use crate::lanes;
use crate::rows::{self, IndexRows, OrderColumns, OutboxRow, TimerKey};
use crate::{error, get, PostgresStorage};
use orderly_storage::export::{ExportRecord, ExportedOrder, StoredTransition};
use orderly_storage::{schema, EventsJson, Result, StorageError};
use uuid::Uuid;

const PAGE: i64 = 500;

impl PostgresStorage {
    pub(crate) fn export_all(
        &self,
        sink: &mut dyn FnMut(ExportRecord) -> Result<()>,
    ) -> Result<()> {
        self.export_orders(sink)?;
        self.export_idempotency(sink)?;
        for r in self.export_small()? {
            sink(r)?;
        }
        Ok(())
    }

    fn export_orders(&self, sink: &mut dyn FnMut(ExportRecord) -> Result<()>) -> Result<()> {
        let mut after = Uuid::nil();
        loop {
            let page: Vec<ExportedOrder> = self.block(move |s| async move {
                let c = get(&s).await?;
                let orders = c
                    .query(
                        "SELECT id, snapshot FROM orders WHERE id > $1 ORDER BY id LIMIT $2",
                        &[&after, &PAGE],
                    )
                    .await
                    .map_err(error::db)?;
                let ids: Vec<Uuid> = orders.iter().map(|r| r.get(0)).collect();
                let events = c
                    .query(
                        "SELECT order_id, first_seq, body FROM events WHERE order_id = ANY($1) \
                         ORDER BY order_id, seq",
                        &[&ids],
                    )
                    .await
                    .map_err(error::db)?;
                let mut out = Vec::with_capacity(orders.len());
                let mut ev = events.iter().peekable();
                for row in &orders {
                    let id: Uuid = row.get(0);
                    let order = schema::decode_order(row.get::<_, &[u8]>(1))?;
                    let mut rows = Vec::new();
                    while let Some(e) = ev.next_if(|e| e.get::<_, Uuid>(0) == id) {
                        rows.push((e.get::<_, i32>(1), e.get::<_, &[u8]>(2)));
                    }
                    let transitions = crate::transitions(rows.into_iter())?
                        .into_iter()
                        .map(|(step, events)| StoredTransition { step, events })
                        .collect();
                    out.push(ExportedOrder { order, transitions });
                }
                Ok(out)
            })?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = last.order.id;
            let full = page.len() as i64 == PAGE;
            for o in page {
                sink(ExportRecord::Order(Box::new(o)))?;
            }
            if !full {
                return Ok(());
            }
        }
    }

    fn export_idempotency(&self, sink: &mut dyn FnMut(ExportRecord) -> Result<()>) -> Result<()> {
        let mut after = String::new();
        loop {
            let from = after.clone();
            let page: Vec<(String, Option<orderly_storage::IdempotencyRecord>)> =
                self.block(move |s| async move {
                    let rows = s
                        .query(
                            "SELECT i.key, i.record, o.version FROM idempotency i \
                             JOIN orders o ON o.id = i.order_id \
                             WHERE i.key COLLATE \"C\" > $1 ORDER BY i.key COLLATE \"C\" LIMIT $2",
                            &[&from, &PAGE],
                        )
                        .await?;
                    rows.iter()
                        .map(|r| Ok((r.get(0), crate::counted_idempotency(r.get(1), r.get(2))?)))
                        .collect()
                })?;
            let full = page.len() as i64 == PAGE;
            for (key, record) in page {
                after.clone_from(&key);
                // As everywhere: a record counts only with its order.
                if let Some(record) = record {
                    sink(ExportRecord::Idempotency { key, record })?;
                }
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Stock, skus' backorder records, reservations, order-step markers, transfers, outbox (orders'
    /// messages, then stock notices: their rows have no order, and NULLs sort last), timers,
    /// dead letters, cells' alert records and subscriptions, in that order.
    fn export_small(&self) -> Result<Vec<ExportRecord>> {
        let settled = self.settled();
        self.block(move |s| async move {
            settled.await;
            let c = get(&s).await?;
            let mut out = Vec::new();
            for r in c
                .query(
                    "SELECT warehouse, sku, on_hand, reserved, incoming FROM stock \
                     ORDER BY warehouse COLLATE \"C\", sku COLLATE \"C\"",
                    &[],
                )
                .await
                .map_err(error::db)?
            {
                out.push(ExportRecord::Stock {
                    warehouse: r.get::<_, String>(0).into(),
                    sku: r.get::<_, String>(1).into(),
                    level: orderly_domain::inventory::StockLevel {
                        on_hand: r.get(2),
                        reserved: r.get(3),
                        incoming: r.get(4),
                    },
                });
            }
            for r in c
                .query(crate::SKU_BACKORDERS, &[])
                .await
                .map_err(error::db)?
            {
                let (sku, backorders) = crate::sku_backorders_of(&r);
                out.push(ExportRecord::Backorders { sku, backorders });
            }
            for r in c
                .query(
                    "SELECT reservation FROM reservations ORDER BY order_id",
                    &[],
                )
                .await
                .map_err(error::db)?
            {
                out.push(ExportRecord::Reservation(schema::decode_reservation(
                    r.get::<_, &[u8]>(0),
                )?));
            }
            for r in c
                .query(
                    "SELECT order_id, step FROM restocks ORDER BY order_id, step",
                    &[],
                )
                .await
                .map_err(error::db)?
            {
                out.push(ExportRecord::OrderStep {
                    order_id: r.get(0),
                    step: r.get::<_, i32>(1) as u32,
                });
            }
            for r in c
                .query("SELECT body FROM transfers ORDER BY id", &[])
                .await
                .map_err(error::db)?
            {
                out.push(ExportRecord::Transfer(schema::decode_transfer(
                    r.get::<_, &[u8]>(0),
                )?));
            }
            for r in c
                .query(
                    "SELECT entry FROM outbox ORDER BY order_id, step, message_id COLLATE \"C\"",
                    &[],
                )
                .await
                .map_err(error::db)?
            {
                out.push(ExportRecord::Outbox(schema::decode_outbox(
                    r.get::<_, &[u8]>(0),
                )?));
            }
            for r in c
                .query(
                    "SELECT order_id, kind, due FROM timers ORDER BY due, order_id, kind",
                    &[],
                )
                .await
                .map_err(error::db)?
            {
                out.push(ExportRecord::Timer(crate::timer_of(&r)?));
            }
            for r in c
                .query(
                    "SELECT letter FROM dead_letters ORDER BY message_id COLLATE \"C\"",
                    &[],
                )
                .await
                .map_err(error::db)?
            {
                out.push(ExportRecord::DeadLetter(schema::decode_dead_letter(
                    r.get::<_, &[u8]>(0),
                )?));
            }
            for r in c
                .query(
                    "SELECT record FROM sent_messages ORDER BY order_id, message_id",
                    &[],
                )
                .await
                .map_err(error::db)?
            {
                out.push(ExportRecord::SentMessage(schema::decode_sent(
                    r.get::<_, &[u8]>(0),
                )?));
            }
            for r in c
                .query(
                    "SELECT warehouse, sku, record FROM stock_alerts ORDER BY warehouse, sku",
                    &[],
                )
                .await
                .map_err(error::db)?
            {
                out.push(ExportRecord::CellAlert {
                    warehouse: r.get::<_, String>(0).into(),
                    sku: r.get::<_, String>(1).into(),
                    alert: schema::decode_cell_alert(r.get::<_, &[u8]>(2))?,
                });
            }
            for r in c
                .query(
                    "SELECT record FROM stock_subscriptions ORDER BY sku, contact",
                    &[],
                )
                .await
                .map_err(error::db)?
            {
                out.push(ExportRecord::Subscription(schema::decode_subscription(
                    r.get::<_, &[u8]>(0),
                )?));
            }
            Ok(out)
        })
    }

    pub(crate) fn import_one(&self, record: &ExportRecord) -> Result<()> {
        let record = record.clone();
        self.block(move |s| async move {
            let mut c = get(&s).await?;
            let tx = c.transaction().await.map_err(error::db)?;
            import_in(&tx, &record).await?;
            tx.commit().await.map_err(error::db)
        })
    }

    /// Imports `records` in one transaction, their statements pipelined: orders first, then
    /// the records that refer to them. If that fails, one by one, so the record at fault is
    /// the one named (with its index) and those before it stay.
    pub(crate) fn import_together(
        &self,
        records: &[ExportRecord],
    ) -> std::result::Result<(), (usize, StorageError)> {
        let owned = records.to_vec();
        let together = self.block(move |s| async move {
            let mut c = get(&s).await?;
            let tx = c.transaction().await.map_err(error::db)?;
            let (orders, others): (Vec<&ExportRecord>, Vec<&ExportRecord>) = owned
                .iter()
                .partition(|r| matches!(r, ExportRecord::Order(_)));
            futures::future::try_join_all(orders.into_iter().map(|r| import_in(&tx, r))).await?;
            futures::future::try_join_all(others.into_iter().map(|r| import_in(&tx, r))).await?;
            tx.commit().await.map_err(error::db)
        });
        if together.is_ok() {
            return Ok(());
        }
        for (i, r) in records.iter().enumerate() {
            self.import_one(r).map_err(|e| (i, e))?;
        }
        Ok(())
    }
}

type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// A statement prepared once per connection.
async fn prepared(tx: &Tx<'_>, sql: &str) -> Result<tokio_postgres::Statement> {
    tx.prepare_cached(sql).await.map_err(error::db)
}

/// Stores one record inside `tx` (see [`orderly_storage::Archive::import`]).
async fn import_in(tx: &Tx<'_>, record: &ExportRecord) -> Result<()> {
    match record {
        ExportRecord::Order(o) => import_order(tx, o).await?,
        ExportRecord::Idempotency { key, record } => {
            let bytes = schema::encode_idempotency(record)?;
            let stored = tx
                .query_opt(
                    &prepared(tx, "SELECT record FROM idempotency WHERE key = $1").await?,
                    &[key],
                )
                .await
                .map_err(error::db)?
                .map(|r| schema::decode_idempotency(r.get::<_, &[u8]>(0)))
                .transpose()?;
            match stored {
                Some(s) if &s == record => {}
                Some(_) => return Err(conflict(format!("idempotency key {key:?}"))),
                None => {
                    need_order(tx, record.order_id).await?;
                    tx.execute(
                        &prepared(
                            tx,
                            "INSERT INTO idempotency (key, order_id, record) VALUES ($1, $2, $3)",
                        )
                        .await?,
                        &[key, &record.order_id, &bytes],
                    )
                    .await
                    .map_err(error::db)?;
                }
            }
        }
        ExportRecord::Stock {
            warehouse,
            sku,
            level,
        } => {
            let stored = tx
                .query_opt(
                    &prepared(
                        tx,
                        "SELECT on_hand, reserved, incoming FROM stock \
                         WHERE warehouse = $1 AND sku = $2",
                    )
                    .await?,
                    &[&warehouse.as_str(), &sku.as_str()],
                )
                .await
                .map_err(error::db)?
                .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1), r.get::<_, i64>(2)));
            match stored {
                Some(s) if s == (level.on_hand, level.reserved, level.incoming) => {}
                Some(_) => return Err(conflict(format!("stock of {sku} at {warehouse}"))),
                None => {
                    tx.execute(
                        &prepared(
                            tx,
                            "INSERT INTO stock (warehouse, sku, on_hand, reserved, incoming) \
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .await?,
                        &[
                            &warehouse.as_str(),
                            &sku.as_str(),
                            &level.on_hand,
                            &level.reserved,
                            &level.incoming,
                        ],
                    )
                    .await
                    .map_err(error::db)?;
                }
            }
        }
        ExportRecord::Backorders { sku, backorders } => {
            let stored = tx
                .query_opt(
                    &prepared(
                        tx,
                        "SELECT allowed, cap, waiting FROM sku_backorders WHERE sku = $1",
                    )
                    .await?,
                    &[&sku.as_str()],
                )
                .await
                .map_err(error::db)?
                .map(|r| (r.get::<_, bool>(0), r.get::<_, i64>(1), r.get::<_, i64>(2)));
            match stored {
                Some(s) if s == (backorders.allowed, backorders.cap, backorders.waiting) => {}
                Some(_) => return Err(conflict(format!("the backorder record of {sku}"))),
                None => {
                    tx.execute(
                        &prepared(
                            tx,
                            "INSERT INTO sku_backorders (sku, allowed, cap, waiting) \
                             VALUES ($1, $2, $3, $4)",
                        )
                        .await?,
                        &[
                            &sku.as_str(),
                            &backorders.allowed,
                            &backorders.cap,
                            &backorders.waiting,
                        ],
                    )
                    .await
                    .map_err(error::db)?;
                }
            }
        }
        ExportRecord::Reservation(r) => {
            let stored = tx
                .query_opt(
                    &prepared(
                        tx,
                        "SELECT reservation FROM reservations WHERE order_id = $1",
                    )
                    .await?,
                    &[&r.order_id],
                )
                .await
                .map_err(error::db)?
                .map(|row| schema::decode_reservation(row.get::<_, &[u8]>(0)))
                .transpose()?;
            match stored {
                Some(s) if &s == r => {}
                Some(_) => {
                    return Err(conflict(format!("the reservation of order {}", r.order_id)))
                }
                None => {
                    tx.execute(
                        &prepared(
                            tx,
                            "INSERT INTO reservations (order_id, reservation) VALUES ($1, $2)",
                        )
                        .await?,
                        &[&r.order_id, &schema::encode_reservation(r)?],
                    )
                    .await
                    .map_err(error::db)?;
                }
            }
        }
        ExportRecord::OrderStep { order_id, step } => {
            tx.execute(
                &prepared(
                    tx,
                    "INSERT INTO restocks (order_id, step) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .await?,
                &[order_id, &(*step as i32)],
            )
            .await
            .map_err(error::db)?;
        }
        ExportRecord::Transfer(t) => {
            let body = schema::encode_transfer(t)?;
            let stored = tx
                .query_opt(
                    &prepared(
                        tx,
                        "SELECT id, body FROM transfers WHERE id = $1 OR key = $2",
                    )
                    .await?,
                    &[&t.id, &t.key],
                )
                .await
                .map_err(error::db)?;
            match stored {
                Some(r) if r.get::<_, uuid::Uuid>(0) == t.id && r.get::<_, &[u8]>(1) == body => {}
                Some(_) => return Err(conflict(format!("transfer {} (key {:?})", t.id, t.key))),
                None => {
                    tx.execute(
                        &prepared(
                            tx,
                            "INSERT INTO transfers (id, key, version, body) VALUES ($1, $2, $3, $4)",
                        )
                        .await?,
                        &[&t.id, &t.key, &(t.version as i32), &body],
                    )
                    .await
                    .map_err(error::db)?;
                }
            }
        }
        ExportRecord::Outbox(entry) => {
            // An order's message has its order and step; a stock notice neither.
            let (message_id, order_id, step, bytes) = match entry.effect() {
                Some(_) => {
                    let row = OutboxRow::of(entry)?;
                    (
                        row.message_id,
                        Some(row.order_id),
                        Some(row.step),
                        row.entry,
                    )
                }
                None => (
                    crate::alerts::notice_id(entry)?,
                    None,
                    None,
                    schema::encode_outbox(entry)?,
                ),
            };
            let stored = tx
                .query_opt(
                    &prepared(tx, "SELECT entry FROM outbox WHERE message_id = $1").await?,
                    &[&message_id],
                )
                .await
                .map_err(error::db)?
                .map(|r| schema::decode_outbox(r.get::<_, &[u8]>(0)))
                .transpose()?;
            match stored {
                Some(s) if &s == entry => {}
                Some(_) => return Err(conflict(format!("outbox entry {message_id}"))),
                None => {
                    if let Some(id) = order_id {
                        need_order(tx, id).await?;
                    }
                    tx.execute(
                        &prepared(
                            tx,
                            "INSERT INTO outbox (message_id, order_id, step, owner, entry) \
                         VALUES ($1, $2, $3, NULL, $4)",
                        )
                        .await?,
                        &[&message_id, &order_id, &step, &bytes],
                    )
                    .await
                    .map_err(error::db)?;
                }
            }
        }
        ExportRecord::CellAlert {
            warehouse,
            sku,
            alert,
        } => {
            let stored = tx
                .query_opt(
                    &prepared(
                        tx,
                        "SELECT record FROM stock_alerts WHERE warehouse = $1 AND sku = $2",
                    )
                    .await?,
                    &[&warehouse.as_str(), &sku.as_str()],
                )
                .await
                .map_err(error::db)?
                .map(|r| schema::decode_cell_alert(r.get::<_, &[u8]>(0)))
                .transpose()?;
            match stored {
                Some(s) if &s == alert => {}
                Some(_) => {
                    return Err(conflict(format!(
                        "the alert record of {sku} at {warehouse}"
                    )))
                }
                None => {
                    tx.execute(
                        &prepared(
                            tx,
                            "INSERT INTO stock_alerts (warehouse, sku, record) VALUES ($1, $2, $3)",
                        )
                        .await?,
                        &[
                            &warehouse.as_str(),
                            &sku.as_str(),
                            &schema::encode_cell_alert(alert)?,
                        ],
                    )
                    .await
                    .map_err(error::db)?;
                }
            }
        }
        ExportRecord::SentMessage(m) => {
            let stored = tx
                .query_opt(
                    &prepared(
                        tx,
                        "SELECT record FROM sent_messages WHERE order_id = $1 AND message_id = $2",
                    )
                    .await?,
                    &[&m.order_id, &m.message_id],
                )
                .await
                .map_err(error::db)?
                .map(|r| schema::decode_sent(r.get::<_, &[u8]>(0)))
                .transpose()?;
            match stored {
                Some(s) if &s == m => {}
                Some(_) => return Err(conflict(format!("sent message {}", m.message_id))),
                None => {
                    tx.execute(
                        &prepared(
                            tx,
                            "INSERT INTO sent_messages (order_id, message_id, sent_at, record) \
                             VALUES ($1, $2, $3, $4)",
                        )
                        .await?,
                        &[
                            &m.order_id,
                            &m.message_id,
                            &m.sent_at,
                            &schema::encode_sent(m)?,
                        ],
                    )
                    .await
                    .map_err(error::db)?;
                }
            }
        }
        ExportRecord::Subscription(sub) => {
            let stored = tx
                .query_opt(
                    &prepared(
                        tx,
                        "SELECT record FROM stock_subscriptions WHERE sku = $1 AND contact = $2",
                    )
                    .await?,
                    &[&sub.sku.as_str(), &sub.contact],
                )
                .await
                .map_err(error::db)?
                .map(|r| schema::decode_subscription(r.get::<_, &[u8]>(0)))
                .transpose()?;
            match stored {
                Some(s) if &s == sub => {}
                Some(_) => {
                    return Err(conflict(format!(
                        "the subscription of {} to {}",
                        sub.contact, sub.sku
                    )))
                }
                None => {
                    tx.execute(
                        &prepared(
                            tx,
                            "INSERT INTO stock_subscriptions (sku, contact, id, record) \
                             VALUES ($1, $2, $3, $4)",
                        )
                        .await?,
                        &[
                            &sub.sku.as_str(),
                            &sub.contact,
                            &sub.id,
                            &schema::encode_subscription(sub)?,
                        ],
                    )
                    .await
                    .map_err(error::db)?;
                }
            }
        }
        ExportRecord::Timer(t) => {
            need_order(tx, t.order_id).await?;
            let k = TimerKey::of(t);
            tx.execute(
                &prepared(
                    tx,
                    "INSERT INTO timers (order_id, kind, due, owner) VALUES ($1, $2, $3, NULL) \
                 ON CONFLICT DO NOTHING",
                )
                .await?,
                &[&k.order_id, &k.kind, &k.due],
            )
            .await
            .map_err(error::db)?;
        }
        ExportRecord::DeadLetter(letter) => {
            let entry = letter.entry.clone().ok_or_else(|| {
                StorageError::Codec(format!(
                    "dead letter {} without its outbox entry",
                    letter.message_id
                ))
            })?;
            let bytes = schema::encode_dead_letter(letter, &entry)?;
            let stored = tx
                .query_opt(
                    &prepared(tx, "SELECT letter FROM dead_letters WHERE message_id = $1").await?,
                    &[&letter.message_id],
                )
                .await
                .map_err(error::db)?
                .map(|r| schema::decode_dead_letter(r.get::<_, &[u8]>(0)))
                .transpose()?;
            match stored {
                Some(s) if &s == letter => {}
                Some(_) => return Err(conflict(format!("dead letter {}", letter.message_id))),
                None => {
                    tx.execute(
&prepared(tx, "INSERT INTO dead_letters (message_id, failed_at, letter) VALUES ($1, $2, $3)").await?,
                        &[&letter.message_id, &letter.failed_at, &bytes],
                    )
                    .await
                    .map_err(error::db)?;
                }
            }
        }
    }
    Ok(())
}

fn conflict(what: String) -> StorageError {
    StorageError::Conflict(format!("{what} is stored already, differently"))
}

async fn need_order(tx: &Tx<'_>, id: Uuid) -> Result<()> {
    let found = tx
        .query_opt(
            &prepared(tx, "SELECT 1 FROM orders WHERE id = $1").await?,
            &[&id],
        )
        .await
        .map_err(error::db)?;
    match found {
        Some(_) => Ok(()),
        None => Err(StorageError::Conflict(format!(
            "order {id} must be imported before the records that refer to it"
        ))),
    }
}

async fn import_order(tx: &Tx<'_>, o: &ExportedOrder) -> Result<()> {
    let id = o.order.id;
    let snapshot = schema::encode_order(&o.order)?;
    if let Some(row) = tx
        .query_opt(
            &prepared(tx, "SELECT snapshot FROM orders WHERE id = $1").await?,
            &[&id],
        )
        .await
        .map_err(error::db)?
    {
        let stored = schema::decode_order(row.get::<_, &[u8]>(0))?;
        let events = tx
            .query(
                &prepared(
                    tx,
                    "SELECT first_seq, body FROM events WHERE order_id = $1 ORDER BY seq",
                )
                .await?,
                &[&id],
            )
            .await
            .map_err(error::db)?;
        let history = crate::history(events.iter().map(|r| (r.get(0), r.get(1))))?;
        let given: Vec<EventsJson> = o.transitions.iter().map(|t| t.events.clone()).collect();
        return if stored == o.order && history == given {
            Ok(())
        } else {
            Err(conflict(format!("order {id}")))
        };
    }
    let (mut order_ids, mut seqs, mut firsts, mut bodies) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for t in &o.transitions {
        for (i, raw) in t.events.raw_events()?.iter().enumerate() {
            let mut body = Vec::with_capacity(raw.get().len() + 1);
            body.push(schema::CURRENT);
            body.extend_from_slice(raw.get().as_bytes());
            // Checks the event reads back before it is stored.
            rows::decode_event(&body)?;
            order_ids.push(id);
            seqs.push(t.step as i32 + i as i32);
            firsts.push(t.step as i32);
            bodies.push(body);
        }
    }
    let (events, orders, picks, tracking, backorders) = futures::try_join!(
        prepared(
            tx,
            "INSERT INTO events (order_id, seq, first_seq, body) \
             SELECT * FROM unnest($1::uuid[], $2::int4[], $3::int4[], $4::bytea[])",
        ),
        prepared(
            tx,
            "INSERT INTO orders (id, version, status, tracking_token, snapshot) \
             VALUES ($1, $2, $3, $4, $5)",
        ),
        prepared(tx, lanes::ADD_PICKS),
        prepared(tx, lanes::ADD_TRACKING),
        prepared(tx, lanes::ADD_BACKORDERS),
    )?;
    let cols = OrderColumns::of(&o.order);
    // The index rows a placement would write, from the same function.
    let index = IndexRows::of(None, &o.order);
    let pick_ids = vec![id; index.picks_added.len()];
    let tracking_ids = vec![id; index.tracking_added.len()];
    let backorder_ids: Vec<Uuid> = index
        .backorder
        .filter(|q| *q)
        .map(|_| id)
        .into_iter()
        .collect();
    let version = o.order.version as i32;
    // Sent together (in this order) and committed with the transaction: all or nothing.
    let event_params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&order_ids, &seqs, &firsts, &bodies];
    let order_params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
        &id,
        &version,
        &cols.status,
        &o.order.tracking_token,
        &snapshot,
    ];
    let pick_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
        [&index.picks_added, &pick_ids];
    let tracking_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
        [&index.tracking_added, &tracking_ids];
    let backorder_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&backorder_ids];
    futures::try_join!(
        tx.execute(&events, &event_params),
        tx.execute(&orders, &order_params),
        tx.execute(&picks, &pick_params),
        tx.execute(&tracking, &tracking_params),
        tx.execute(&backorders, &backorder_params),
    )
    .map_err(error::db)?;
    Ok(())
}
