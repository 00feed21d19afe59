//! Export and import for sled ([`Archive::export`], [`Archive::import`]): the committed records
//! read key by key in key order (which is the export's order), and exported records written with
//! the same keys, index entries and commit point a transition uses.

use crate::backup::TreeId;
use crate::{id_from, keys, outbox_key, OrBackend, SledStorage};
use orderly_domain::inventory::StockLevel;
use orderly_domain::{CellKey, OrderId};
use orderly_storage::index::OrderIndex;
use orderly_storage::roles::*;
use orderly_storage::{
    schema, ExportRecord, ExportedOrder, Result, StorageError, StoredTransition,
};

/// Hands every committed record of `s` to `sink`, in key order, one tree scan per kind.
pub(crate) fn export(
    s: &SledStorage,
    sink: &mut dyn FnMut(ExportRecord) -> Result<()>,
) -> Result<()> {
    for kv in s.orders.scan_prefix([keys::ORDER]) {
        let (_, v) = kv.db()?;
        let order = schema::decode_order(&v)?;
        let id = order.id;
        let mut transitions = Vec::with_capacity(order.version as usize);
        for kv in s
            .orders
            .range(keys::event(id, 0)..=keys::event(id, order.version))
        {
            let (k, v) = kv.db()?;
            let step = keys::parse_event_step(&k)
                .ok_or_else(|| StorageError::Codec("an event key of the wrong length".into()))?;
            transitions.push(StoredTransition {
                step,
                events: schema::history_json(&v)?,
            });
        }
        sink(ExportRecord::Order(Box::new(ExportedOrder {
            order,
            transitions,
        })))?;
    }
    for kv in s.orders.scan_prefix([keys::IDEMPOTENCY]) {
        let (k, v) = kv.db()?;
        let record = schema::decode_idempotency(&v)?;
        if !s.vouched(record.order_id, record.version)? {
            continue;
        }
        let key = String::from_utf8(k[1..].to_vec())
            .map_err(|_| StorageError::Codec("an idempotency key is not UTF-8".into()))?;
        sink(ExportRecord::Idempotency { key, record })?;
    }
    for kv in s.inventory.scan_prefix([keys::STOCK]) {
        let (k, v) = kv.db()?;
        let CellKey { warehouse, sku } = keys::parse_stock(&k)
            .ok_or_else(|| StorageError::Codec("a stock key that does not parse".into()))?;
        let level = schema::decode_stock_level(&v)?;
        sink(ExportRecord::Stock {
            warehouse,
            sku,
            level,
        })?;
    }
    for (sku, backorders) in s.sku_backorders()? {
        sink(ExportRecord::Backorders { sku, backorders })?;
    }
    for v in s.inventory.scan_prefix([keys::RESERVATION]).values() {
        sink(ExportRecord::Reservation(schema::decode_reservation(
            &v.db()?,
        )?))?;
    }
    for k in s.inventory.scan_prefix([keys::RESTOCK]).keys() {
        let (order_id, step) = keys::parse_restock(&k.db()?)
            .ok_or_else(|| StorageError::Codec("a restock key of the wrong length".into()))?;
        sink(ExportRecord::OrderStep { order_id, step })?;
    }
    for v in s.inventory.scan_prefix([keys::TRANSFER]).values() {
        sink(ExportRecord::Transfer(schema::decode_transfer(&v.db()?)?))?;
    }
    for v in s.orders.scan_prefix([keys::OUTBOX]).values() {
        let entry = schema::decode_outbox(&v.db()?)?;
        if s.vouched_entry(&entry)? {
            sink(ExportRecord::Outbox(entry))?;
        }
    }
    // Stock notices after the orders' messages, by message id.
    for entry in s.notice_entries()? {
        sink(ExportRecord::Outbox(entry))?;
    }
    for kv in s.orders.scan_prefix([keys::TIMER]) {
        let (k, v) = kv.db()?;
        if let Some(t) = keys::parse_timer(&k) {
            if s.timer_committed(&t, &v)? {
                sink(ExportRecord::Timer(t))?;
            }
        }
    }
    for v in s.orders.scan_prefix([keys::DEAD]).values() {
        sink(ExportRecord::DeadLetter(schema::decode_dead_letter(
            &v.db()?,
        )?))?;
    }
    for v in s.orders.scan_prefix([keys::SENT]).values() {
        sink(ExportRecord::SentMessage(schema::decode_sent(&v.db()?)?))?;
    }
    for (CellKey { warehouse, sku }, alert) in s.all_cell_alerts()? {
        sink(ExportRecord::CellAlert {
            warehouse,
            sku,
            alert,
        })?;
    }
    for v in s.inventory.scan_prefix([keys::SUBSCRIPTION]).values() {
        sink(ExportRecord::Subscription(schema::decode_subscription(
            &v.db()?,
        )?))?;
    }
    Ok(())
}

/// `Ok(true)` if `stored` is `new`, `Ok(false)` if nothing is stored, a conflict otherwise.
fn same<T: PartialEq + std::fmt::Debug>(what: &str, stored: Option<T>, new: &T) -> Result<bool> {
    match stored {
        None => Ok(false),
        Some(s) if &s == new => Ok(true),
        Some(s) => Err(StorageError::Conflict(format!(
            "{what} is stored already, differently: {s:?}"
        ))),
    }
}

/// The committed version of the order a record refers to, which must be stored.
fn needs_order(s: &SledStorage, id: OrderId) -> Result<u32> {
    s.committed_version(id)?.ok_or_else(|| {
        StorageError::Conflict(format!(
            "the record refers to order {id}, which is not stored (orders come first)"
        ))
    })
}

/// Stores one exported record (the caller is inside the gate).
pub(crate) fn import(s: &SledStorage, record: &ExportRecord) -> Result<()> {
    match record {
        ExportRecord::Order(o) => import_order(s, o),
        ExportRecord::Idempotency { key, record } => {
            let stored = s
                .orders
                .get(keys::idempotency(key))
                .db()?
                .map(|v| schema::decode_idempotency(&v))
                .transpose()?;
            if !same(&format!("idempotency key {key:?}"), stored, record)? {
                if needs_order(s, record.order_id)? < record.version {
                    return Err(StorageError::Conflict(format!(
                        "idempotency key {key:?} refers to version {} of order {}, which is not stored",
                        record.version, record.order_id
                    )));
                }
                s.put(
                    TreeId::Orders,
                    keys::idempotency(key),
                    schema::encode_idempotency(record)?,
                )?;
            }
            Ok(())
        }
        ExportRecord::Stock {
            warehouse,
            sku,
            level,
        } => {
            let key = keys::stock(warehouse, sku);
            let stored: Option<StockLevel> = s
                .inventory
                .get(&key)
                .db()?
                .map(|v| schema::decode_stock_level(&v))
                .transpose()?;
            if !same(&format!("stock of {sku} at {warehouse}"), stored, level)? {
                s.put(TreeId::Inventory, key, schema::encode_stock_level(level)?)?;
            }
            Ok(())
        }
        ExportRecord::Backorders { sku, backorders } => {
            let key = keys::sku(sku);
            let stored = s
                .inventory
                .get(&key)
                .db()?
                .map(|v| schema::decode_backorders(&v))
                .transpose()?;
            if !same(
                &format!("the backorder record of {sku}"),
                stored,
                backorders,
            )? {
                s.put(
                    TreeId::Inventory,
                    key,
                    schema::encode_backorders(backorders)?,
                )?;
            }
            Ok(())
        }
        ExportRecord::Reservation(r) => {
            let stored = s.reservation(r.order_id)?;
            if !same(
                &format!("the reservation of order {}", r.order_id),
                stored,
                r,
            )? {
                s.put(
                    TreeId::Inventory,
                    keys::reservation(r.order_id),
                    schema::encode_reservation(r)?,
                )?;
            }
            Ok(())
        }
        ExportRecord::OrderStep { order_id, step } => {
            s.put(TreeId::Inventory, keys::restock(*order_id, *step), &[])
        }
        ExportRecord::Transfer(t) => {
            if let Some(other) = s.transfer_by_key(&t.key)? {
                if other.id != t.id {
                    return Err(StorageError::Conflict(format!(
                        "transfer key {:?} belongs to transfer {}",
                        t.key, other.id
                    )));
                }
            }
            if !same(&format!("transfer {}", t.id), s.transfer(t.id)?, t)? {
                s.put(
                    TreeId::Inventory,
                    keys::transfer_key(&t.key),
                    t.id.as_bytes(),
                )?;
                s.put(
                    TreeId::Inventory,
                    keys::transfer(t.id),
                    schema::encode_transfer(t)?,
                )?;
            }
            Ok(())
        }
        ExportRecord::Outbox(e) => {
            let stored = s.outbox_entry(e)?;
            if !same(&format!("outbox entry {}", e.message_id()), stored, e)? {
                let past = match e.effect() {
                    Some(effect) => needs_order(s, effect.order_id)? < effect.step,
                    None => false,
                };
                if past {
                    return Err(StorageError::Conflict(format!(
                        "outbox entry {} is past its order's version",
                        e.message_id()
                    )));
                }
                s.put(TreeId::Orders, outbox_key(e), schema::encode_outbox(e)?)?;
            }
            Ok(())
        }
        ExportRecord::Timer(t) => {
            // The timer counts from the order's version now (see `timer_committed`).
            let version = needs_order(s, t.order_id)?;
            s.put(
                TreeId::Orders,
                keys::timer(t),
                version.to_be_bytes().to_vec(),
            )
        }
        ExportRecord::DeadLetter(d) => {
            let Some(entry) = &d.entry else {
                return Err(StorageError::Codec(format!(
                    "dead letter {} without its outbox entry",
                    d.message_id
                )));
            };
            let key = keys::dead_letter(&d.message_id);
            let stored = s
                .orders
                .get(&key)
                .db()?
                .map(|v| schema::decode_dead_letter(&v))
                .transpose()?;
            if !same(&format!("dead letter {}", d.message_id), stored, d)? {
                s.put(TreeId::Orders, key, schema::encode_dead_letter(d, entry)?)?;
            }
            Ok(())
        }
        ExportRecord::CellAlert {
            warehouse,
            sku,
            alert,
        } => {
            let stored = s.cell_alert(warehouse, sku)?;
            if !same(
                &format!("the alert record of {sku} at {warehouse}"),
                stored,
                alert,
            )? {
                s.put(
                    TreeId::Inventory,
                    keys::cell_alert(warehouse, sku),
                    schema::encode_cell_alert(alert)?,
                )?;
            }
            Ok(())
        }
        ExportRecord::SentMessage(m) => {
            let key = keys::sent(m.order_id, &m.message_id);
            let stored = s
                .orders
                .get(&key)
                .db()?
                .map(|v| schema::decode_sent(&v))
                .transpose()?;
            if !same(&format!("sent message {}", m.message_id), stored, m)? {
                s.put(TreeId::Orders, key, schema::encode_sent(m)?)?;
            }
            Ok(())
        }
        ExportRecord::Subscription(sub) => {
            let stored = s.stored_subscription(&sub.sku, &sub.contact)?;
            if !same(
                &format!("the subscription of {} to {}", sub.contact, sub.sku),
                stored,
                sub,
            )? {
                s.put(
                    TreeId::Inventory,
                    keys::subscription(&sub.sku, &sub.contact),
                    schema::encode_subscription(sub)?,
                )?;
            }
            Ok(())
        }
    }
}

/// An order as a transition writes one: its history and index entries first, the snapshot (the
/// commit point) last.
fn import_order(s: &SledStorage, o: &ExportedOrder) -> Result<()> {
    let order = &o.order;
    let id = order.id;
    if let Some(stored) = s.load_order(id)? {
        let history: Vec<StoredTransition> = s
            .orders
            .range(keys::event(id, 0)..=keys::event(id, stored.version))
            .map(|kv| {
                let (k, v) = kv.db()?;
                Ok(StoredTransition {
                    step: keys::parse_event_step(&k).unwrap_or_default(),
                    events: schema::history_json(&v)?,
                })
            })
            .collect::<Result<_>>()?;
        let stored = ExportedOrder {
            order: stored,
            transitions: history,
        };
        same(&format!("order {id}"), Some(stored), o)?;
        return Ok(());
    }
    if let Some(other) = s
        .orders
        .get(keys::token(&order.tracking_token))
        .db()?
        .and_then(|v| id_from(&v))
    {
        if other != id && s.order_exists(other)? {
            return Err(StorageError::Conflict(format!(
                "order {other} has the tracking token of order {id}"
            )));
        }
    }
    // What an interrupted import of this order may have left goes first.
    s.discard_uncommitted(id, 0)?;
    for t in &o.transitions {
        s.put(
            TreeId::Orders,
            keys::event(id, t.step),
            schema::events_record(&t.events),
        )?;
    }
    // The index entries a placement would write, from the same function.
    let ix = OrderIndex::of(order);
    s.put(TreeId::Orders, keys::by_status(ix.status, id), &[])?;
    for wh in &ix.picks {
        s.put(TreeId::Orders, keys::pick(wh, id), &[])?;
    }
    s.put(
        TreeId::Orders,
        keys::token(ix.tracking_token),
        id.as_bytes().to_vec(),
    )?;
    for tn in &ix.tracking_numbers {
        s.put(
            TreeId::Orders,
            keys::tracking_number(tn),
            id.as_bytes().to_vec(),
        )?;
    }
    if ix.backordered {
        s.put(TreeId::Orders, keys::backorder(id), &[])?;
    }
    s.put(
        TreeId::Orders,
        keys::order(id),
        schema::encode_order(order)?,
    )
}
