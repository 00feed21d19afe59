//! Stock alerts: the shell around `domain::stock_alerts`. One loop per node decides, one thing
//! at a time, what reorder points and back-in-stock subscriptions are due, and records each
//! decision with the messages it sends in one atomic storage write
//! ([`AlertRecords::write_alerts`]): the alert state and the notices' outbox entries are stored
//! together or not at all, then the notices go to the notifier (retries, dead letters, stable
//! ids: `ntc_{subject}_{seq}_{kind}_{channel}`).
//!
//! What it decides on is always read back from storage: the cells' alert records, the
//! subscriptions, the cells' stock levels (and, for a sku's availability, the inventory's
//! answer to `GetAvailability`, which is what `GET /v1/availability` shows). So a decision
//! lost in a crash is made again, the same, from what is stored:
//!
//! * **after each stock write** the inventory tells the loop which cells and skus it touched
//!   ([`StockWatch::written`], with the write's commit, awaited first: a refused write changed
//!   nothing); the loop looks at those that have a reorder point or subscriptions (it keeps
//!   which those are, [`Watching`], so a write touching none of them costs no read);
//! * **at start** it looks at every cell with a reorder point and every sku with
//!   subscriptions (a crash between a stock write and its alert is repaired here), and, with
//!   other nodes sharing storage, again every `reconcile_every` (a node that died between the
//!   two is repaired by the others, and points and subscriptions added on other nodes are
//!   watched here from then on).
//!
//! Writes are conditional on the state they were decided on; a refusal (another node decided
//! first) is decided again on fresh state, so two nodes never send one alert twice under two
//! ids, and a subscription ends exactly once.

use super::inventory::{GetAvailability, InventoryActor};
use super::notifier::{Deliver, Notifier, Origin};
use super::queries::SkuAvailability;
use super::{off_thread, Engine, EngineError};
use crate::clock::Clock;
use crate::domain::inventory::StockLevel;
use crate::domain::stock_alerts::{
    self, due_subscriptions, low_stock_notice, watch, CellAlert, NoticeKind, StockNotice,
    Subscribed, Subscription,
};
use crate::domain::{Audience, Sku, WarehouseId};
use actix::prelude::*;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender};
use futures::channel::oneshot;
use futures::StreamExt;
use orderly_storage::{
    AlertsWrite, CellAlertRecord, CellAlertWrite, CellKey, Commit, OutboxEntry, StockChange,
    Storage, StorageError,
};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Subscriptions told per atomic write.
const PAGE: usize = 500;

/// Skus asked of the inventory per message.
const SKUS_PER_ASK: usize = 100;

/// How often a decision whose write was refused (another writer decided first) is made again.
const ATTEMPTS: usize = 5;

/// What the loop is asked to do.
pub(crate) enum Msg {
    /// A stock write touched these cells and skus; `durable` resolves once it is durable (or
    /// fails if it was refused).
    Written {
        cells: Vec<CellKey>,
        skus: Vec<Sku>,
        durable: Commit,
    },
    SetPoint {
        warehouse: WarehouseId,
        sku: Sku,
        point: Option<i64>,
        reply: oneshot::Sender<Result<ReorderPoint, EngineError>>,
    },
    Subscribe {
        sku: Sku,
        contact: String,
        reply: oneshot::Sender<Result<(Subscription, bool), EngineError>>,
    },
}

/// The inventory's line to the stock alerts: which cells and skus a stock write touched.
#[derive(Clone)]
pub struct StockWatch(UnboundedSender<Msg>);

impl StockWatch {
    pub(crate) fn sender(&self) -> &UnboundedSender<Msg> {
        &self.0
    }

    /// Tells the alerts of a stock write just made (`durable`: its commit).
    pub(crate) fn written(&self, change: &StockChange, durable: &Commit) {
        if change.cells.is_empty() && change.skus.is_empty() {
            return;
        }
        let _ = self.0.unbounded_send(Msg::Written {
            cells: change
                .cells
                .iter()
                .map(|c| CellKey::new(c.warehouse.clone(), c.sku.clone()))
                .collect(),
            skus: change.skus.iter().map(|s| s.sku.clone()).collect(),
            durable: durable.clone(),
        });
    }
}

/// A cell's reorder point and where its alerts stand, with the units available there now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReorderPoint {
    pub warehouse: WarehouseId,
    pub sku: Sku,
    /// `None`: no reorder point.
    pub point: Option<i64>,
    /// An alert went out for the current fall (none again until available rose above the point).
    pub low: bool,
    /// Low-stock alerts sent so far.
    pub alerts_sent: u32,
    /// On hand − reserved at the cell now.
    pub available: i64,
}

impl ReorderPoint {
    fn of(warehouse: WarehouseId, sku: Sku, cell: Option<&CellAlert>, available: i64) -> Self {
        ReorderPoint {
            warehouse,
            sku,
            point: cell.and_then(|c| c.point),
            low: cell.is_some_and(|c| c.low),
            alerts_sent: cell.map_or(0, |c| c.sent),
            available,
        }
    }
}

/// The loop's state: where it reads, asks and sends.
pub(crate) struct Alerts {
    pub store: Arc<dyn Storage>,
    pub inventory: Addr<InventoryActor>,
    pub notifier: Addr<Notifier>,
    pub clock: Arc<dyn Clock>,
    /// Channels of messages to customers (back in stock), and to operations (low stock).
    pub customer_channels: Vec<String>,
    /// Which person channels tell a back-in-stock subscriber.
    pub notifications: super::notifier::NotifierConfig,
    pub operations_channels: Vec<String>,
    /// Most subscriptions waiting for one sku.
    pub max_subscriptions: usize,
    /// What there is to watch, so that a stock write touching none of it costs nothing.
    pub watching: std::sync::Mutex<Watching>,
}

/// The cells with a reorder point and the skus with subscriptions, as of the last reconciling
/// pass and this node's own changes since. Alone on its storage, that is all there is; with
/// other nodes, a point or subscription one of them added is watched here from the next
/// reconciling pass on (until then, that node's own writes and passes look after it).
#[derive(Debug, Default)]
pub struct Watching {
    /// False until the first reconciling pass read what there is: everything is looked at.
    known: bool,
    cells: std::collections::HashSet<CellKey>,
    skus: std::collections::HashSet<Sku>,
}

impl Watching {
    /// Keeps of `cells` and `skus` only what is watched.
    fn filter(&self, cells: &mut BTreeSet<CellKey>, skus: &mut BTreeSet<Sku>) {
        if self.known {
            cells.retain(|c| self.cells.contains(c));
            skus.retain(|s| self.skus.contains(s));
        }
    }
}

/// A new line to the alerts loop: the inventory's watch and the receiving end.
pub(crate) fn channel() -> (StockWatch, UnboundedReceiver<Msg>) {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    (StockWatch(tx), rx)
}

/// Runs the loop until every sender is gone: first a reconciling pass, then what arrives
/// (stock writes coalesced: all that queued while it was busy are looked at together), and,
/// when `reconcile_every` is given, another reconciling pass after each such quiet spell.
pub(crate) async fn run(
    alerts: Alerts,
    mut inbox: UnboundedReceiver<Msg>,
    reconcile_every: Option<Duration>,
) {
    alerts.reconcile().await;
    let mut reconciled = std::time::Instant::now();
    loop {
        // Under steady traffic the quiet spell below never comes: reconcile on schedule too.
        if reconcile_every.is_some_and(|every| reconciled.elapsed() >= every) {
            alerts.reconcile().await;
            reconciled = std::time::Instant::now();
        }
        let first = match reconcile_every {
            Some(every) => match actix_rt::time::timeout(every, inbox.next()).await {
                Ok(Some(m)) => Some(m),
                Ok(None) => return,
                Err(_) => None,
            },
            None => match inbox.next().await {
                Some(m) => Some(m),
                None => return,
            },
        };
        let Some(first) = first else {
            alerts.reconcile().await;
            reconciled = std::time::Instant::now();
            continue;
        };
        let mut batch = vec![first];
        while let Ok(m) = inbox.try_recv() {
            batch.push(m);
        }
        let mut cells = BTreeSet::new();
        let mut skus = BTreeSet::new();
        let mut writes = Vec::new();
        for m in batch {
            match m {
                Msg::Written {
                    cells: c,
                    skus: s,
                    durable,
                } => {
                    skus.extend(c.iter().map(|cell| cell.sku.clone()));
                    cells.extend(c);
                    skus.extend(s);
                    writes.push(durable);
                }
                Msg::SetPoint {
                    warehouse,
                    sku,
                    point,
                    reply,
                } => {
                    let _ = reply.send(alerts.set_point(warehouse, sku, point).await);
                }
                Msg::Subscribe {
                    sku,
                    contact,
                    reply,
                } => {
                    let subscribed = alerts.subscribe(sku.clone(), contact).await;
                    let new = matches!(subscribed, Ok((_, true)));
                    let _ = reply.send(subscribed);
                    if new {
                        // Subscribed while the sku is available: told at once.
                        skus.insert(sku);
                    }
                }
            }
        }
        alerts.watching().filter(&mut cells, &mut skus);
        if cells.is_empty() && skus.is_empty() {
            continue;
        }
        // Decided on what the writes left, once they are durable; a refused one changed nothing.
        for durable in writes {
            let _ = durable.await;
        }
        if !cells.is_empty() || !skus.is_empty() {
            alerts
                .check(cells.into_iter().collect(), skus.into_iter().collect())
                .await;
        }
    }
}

impl Alerts {
    fn watching(&self) -> std::sync::MutexGuard<'_, Watching> {
        self.watching.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A storage call off the loop's thread when storage is across the network.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Storage) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, EngineError> {
        Ok(off_thread(&self.store, f)
            .await
            .ok_or(EngineError::Overloaded)??)
    }

    /// Every cell with a reorder point and every sku with subscriptions, decided again.
    async fn reconcile(&self) {
        self.retrying("reconcile", None).await
    }

    /// The cells and skus a stock write touched, decided again.
    async fn check(&self, cells: Vec<CellKey>, skus: Vec<Sku>) {
        self.retrying("check", Some((cells, skus))).await
    }

    async fn retrying(&self, what: &str, touched: Option<(Vec<CellKey>, Vec<Sku>)>) {
        for _ in 0..ATTEMPTS {
            let asked = touched.clone();
            let looked = self
                .read(move |s| match asked {
                    Some((cells, skus)) => {
                        Ok((s.cell_alerts_of(&cells)?, s.subscribed_skus(Some(&skus))?))
                    }
                    None => Ok((s.cell_alerts()?, s.subscribed_skus(None)?)),
                })
                .await;
            if let (None, Ok((records, skus))) = (&touched, &looked) {
                let mut w = self.watching();
                w.known = true;
                w.cells = records
                    .iter()
                    .filter(|(_, c)| c.point.is_some())
                    .map(|(k, _)| k.clone())
                    .collect();
                w.skus = skus.iter().cloned().collect();
            }
            let outcome = match looked {
                Ok((records, skus)) => self.decide(records, skus).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => return,
                Err(EngineError::Storage(StorageError::Conflict(why))) => {
                    tracing::info!(reason = %why, "stock alerts changed under us; deciding again");
                }
                Err(e) => {
                    tracing::warn!(error = %e, what, "could not decide stock alerts; the next stock change or start decides again");
                    return;
                }
            }
        }
        tracing::warn!(
            what,
            "stock alerts kept changing; the next stock change or start decides again"
        );
    }

    /// Decides every cell of `records` on its stock now, and tells the subscribers of those of
    /// `skus` that are available now.
    async fn decide(
        &self,
        records: Vec<CellAlertRecord>,
        skus: Vec<Sku>,
    ) -> Result<(), EngineError> {
        let keys: Vec<CellKey> = records.iter().map(|(k, _)| k.clone()).collect();
        let levels = self.levels(keys).await?;
        let mut w = AlertsWrite::default();
        for ((CellKey { warehouse, sku }, cell), level) in records.into_iter().zip(levels) {
            let available = level.available();
            let watched = watch(&cell, available);
            if let Some(n) = low_stock_notice(&warehouse, &sku, &watched, available) {
                w.outbox.extend(self.entries(&n));
            }
            if watched.cell != cell {
                w.cells.push(CellAlertWrite {
                    warehouse,
                    sku,
                    expected: Some(cell),
                    new: watched.cell,
                });
            }
        }
        self.write(w).await?;
        for a in self.availability(skus).await? {
            self.tell_subscribers(&a.sku, a.available()).await?;
        }
        Ok(())
    }

    /// The cells' stock levels as stored (zero when never written).
    async fn levels(&self, cells: Vec<CellKey>) -> Result<Vec<StockLevel>, EngineError> {
        if cells.is_empty() {
            return Ok(Vec::new());
        }
        self.read(move |s| {
            cells
                .iter()
                .map(|c| s.stock_level(&c.warehouse, &c.sku))
                .collect()
        })
        .await
    }

    /// What `GET /v1/availability` answers for these skus.
    async fn availability(&self, skus: Vec<Sku>) -> Result<Vec<SkuAvailability>, EngineError> {
        let mut out = Vec::with_capacity(skus.len());
        for chunk in skus.chunks(SKUS_PER_ASK) {
            let answer = self
                .inventory
                .send(GetAvailability {
                    skus: chunk.to_vec(),
                })
                .await
                .map_err(|_| EngineError::Overloaded)?;
            out.extend(
                answer
                    .into_iter()
                    .map(|(sku, warehouses, backorders)| SkuAvailability {
                        sku,
                        warehouses,
                        backorders,
                    }),
            );
        }
        Ok(out)
    }

    /// Tells every subscriber of `sku` once, if `available` is positive: a page of them at a
    /// time, each page's subscriptions ended together with their messages.
    async fn tell_subscribers(&self, sku: &str, available: i64) -> Result<(), EngineError> {
        if available <= 0 {
            return Ok(());
        }
        loop {
            let of = sku.to_string();
            let page = self.read(move |s| s.subscriptions(&of, None, PAGE)).await?;
            let full = page.len() == PAGE;
            let due = due_subscriptions(available, &page);
            if due.is_empty() {
                return Ok(());
            }
            let w = AlertsWrite {
                cells: Vec::new(),
                outbox: due.iter().flat_map(|n| self.entries(n)).collect(),
                ended: page,
            };
            self.write(w).await?;
            if !full {
                return Ok(());
            }
        }
    }

    /// A notice's outbox entries, one per channel of its audience (and by e-mail to a
    /// back-in-stock subscriber who left an address, when the shop mails).
    fn entries(&self, notice: &StockNotice) -> Vec<OutboxEntry> {
        let mut channels = match notice.kind.audience() {
            Audience::Operations => self.operations_channels.clone(),
            Audience::Customer | Audience::CustomerAndOperations => self.customer_channels.clone(),
        };
        if let NoticeKind::BackInStock { contact, .. } = &notice.kind {
            let person = self.notifications.subscriber_channels(contact);
            channels.extend(person.into_iter().map(String::from));
        }
        channels
            .into_iter()
            .map(|c| OutboxEntry::notice(notice.clone(), c))
            .collect()
    }

    /// Stores a decision with its messages, then hands the messages to the notifier.
    async fn write(&self, w: AlertsWrite) -> Result<(), EngineError> {
        if w.is_empty() {
            return Ok(());
        }
        let w = Arc::new(w);
        let written = w.clone();
        let commit = self.read(move |s| s.write_alerts(&written)).await?;
        commit.await?;
        for entry in &w.outbox {
            self.notifier.do_send(Deliver {
                entry: entry.clone(),
                origin: Origin::Commit,
            });
        }
        Ok(())
    }

    async fn set_point(
        &self,
        warehouse: WarehouseId,
        sku: Sku,
        point: Option<i64>,
    ) -> Result<ReorderPoint, EngineError> {
        for _ in 0..ATTEMPTS {
            let key = CellKey::new(warehouse.clone(), sku.clone());
            let (stored, level) = self
                .read(move |s| {
                    let stored = s.cell_alerts_of(std::slice::from_ref(&key))?.pop();
                    Ok((
                        stored.map(|(_, c)| c),
                        s.stock_level(&key.warehouse, &key.sku)?,
                    ))
                })
                .await?;
            let available = level.available();
            if stored.is_none() && point.is_none() {
                return Ok(ReorderPoint::of(warehouse, sku, None, available));
            }
            let watched =
                stock_alerts::set_point(stored.as_ref(), uuid::Uuid::now_v7(), point, available)?;
            if point.is_some() {
                self.watching()
                    .cells
                    .insert(CellKey::new(warehouse.clone(), sku.clone()));
            }
            let mut w = AlertsWrite::default();
            if let Some(n) = low_stock_notice(&warehouse, &sku, &watched, available) {
                w.outbox.extend(self.entries(&n));
            }
            if stored != Some(watched.cell) {
                w.cells.push(CellAlertWrite {
                    warehouse: warehouse.clone(),
                    sku: sku.clone(),
                    expected: stored,
                    new: watched.cell,
                });
            }
            match self.write(w).await {
                Ok(()) => {
                    return Ok(ReorderPoint::of(
                        warehouse,
                        sku,
                        Some(&watched.cell),
                        available,
                    ))
                }
                Err(EngineError::Storage(StorageError::Conflict(why))) => {
                    tracing::info!(reason = %why, "a reorder point changed under us; setting it again");
                }
                Err(e) => return Err(e),
            }
        }
        Err(StorageError::Conflict("the reorder point kept changing".into()).into())
    }

    async fn subscribe(
        &self,
        sku: Sku,
        contact: String,
    ) -> Result<(Subscription, bool), EngineError> {
        let contact = stock_alerts::contact(&contact)?;
        // Watched from now on (a subscription there already is, or one is about to be).
        self.watching().skus.insert(sku.clone());
        for _ in 0..ATTEMPTS {
            let (of, who) = (sku.clone(), contact.clone());
            let (existing, waiting) = self
                .read(move |s| Ok((s.subscription(&of, &who)?, s.subscription_count(&of)?)))
                .await?;
            let new = Subscription {
                id: uuid::Uuid::now_v7(),
                sku: sku.clone(),
                contact: contact.clone(),
                subscribed_at: self.clock.now(),
            };
            let new = match stock_alerts::subscribe(
                existing.as_ref(),
                waiting,
                self.max_subscriptions,
                new,
            )? {
                Subscribed::Existing(s) => return Ok((s, false)),
                Subscribed::New(s) => s,
            };
            let (stored, max) = (new.clone(), self.max_subscriptions);
            let added = self.read(move |s| s.add_subscription(&stored, max)).await;
            match added {
                Ok(commit) => {
                    commit.await?;
                    return Ok((new, true));
                }
                // Another request (or node) subscribed the contact, or filled the sku: look again.
                Err(EngineError::Storage(StorageError::Conflict(_))) => {}
                Err(e) => return Err(e),
            }
        }
        Err(StorageError::Conflict("subscriptions to this sku kept changing".into()).into())
    }
}

/// The engine's stock-alert calls: through the loop, which decides one thing at a time.
impl Engine {
    /// Sets (or, with `None`, removes) the reorder point of a stock cell; answers once durable.
    /// A point at or above what is available now sends its low-stock alert at once.
    pub async fn set_reorder_point(
        &self,
        warehouse: WarehouseId,
        sku: Sku,
        point: Option<i64>,
    ) -> Result<ReorderPoint, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.alerts()
            .unbounded_send(Msg::SetPoint {
                warehouse,
                sku,
                point,
                reply,
            })
            .map_err(|_| EngineError::ShuttingDown)?;
        answer.await.map_err(|_| EngineError::ShuttingDown)?
    }

    /// A stock cell's reorder point and alert state, with the units available there now.
    pub async fn reorder_point(
        &self,
        warehouse: WarehouseId,
        sku: Sku,
    ) -> Result<ReorderPoint, EngineError> {
        self.read(move |s| {
            let key = CellKey::new(warehouse, sku);
            let cell = s.cell_alerts_of(std::slice::from_ref(&key))?.pop();
            let available = s.stock_level(&key.warehouse, &key.sku)?.available();
            let CellKey { warehouse, sku } = key;
            Ok(ReorderPoint::of(
                warehouse,
                sku,
                cell.as_ref().map(|(_, c)| c),
                available,
            ))
        })
        .await
    }

    /// Subscribes a contact (an e-mail address or a phone number, normalised) to be told once
    /// when `sku` can be bought again; answers once durable, with whether the subscription is
    /// new (a repeat answers the one there is). Refused beyond
    /// `stock_alerts.max_subscriptions_per_sku` per sku. A sku available now is told at once.
    pub async fn subscribe(
        &self,
        sku: Sku,
        contact: String,
    ) -> Result<(Subscription, bool), EngineError> {
        let (reply, answer) = oneshot::channel();
        self.alerts()
            .unbounded_send(Msg::Subscribe {
                sku,
                contact,
                reply,
            })
            .map_err(|_| EngineError::ShuttingDown)?;
        answer.await.map_err(|_| EngineError::ShuttingDown)?
    }
}
