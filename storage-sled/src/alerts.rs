//! Stock alerts on sled: cells' alert records (`a` + warehouse, NUL, sku) and back-in-stock
//! subscriptions (`s` + sku, NUL, contact) in the inventory tree; stock notices' outbox entries
//! in the orders tree (`y` + message id).
//!
//! [`AlertRecords::write_alerts`] is made atomic like stock writes, with a journal record as its
//! commit point (`q` + sequence number): the new alert records, the subscriptions that end and
//! the notices' outbox entries are written as one record, then applied to their keys, then the
//! record is removed. `open` applies any record a crash left (putting the same values and
//! removing the same keys again is harmless; an outbox entry is put only if absent, so the
//! retry state of one delivered meanwhile is kept — and none can have been: nothing is handed
//! out before the write returned, and sled recovers a prefix of its log). Expected values are
//! checked under a mutex (one process writes a sled database).

use crate::backup::TreeId;
use crate::{keys, OrBackend, SledStorage};
use orderly_domain::stock_alerts::{CellAlert, Subscription};
use orderly_domain::Sku;
use orderly_storage::schema::{self, v2};
use orderly_storage::{
    AlertsWrite, CellAlertRecord, CellKey, Commit, OutboxEntry, Result, StorageError,
};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::atomic::Ordering;

/// A stock cell's (warehouse, sku) as journalled.
type JournalCell<'a> = (Cow<'a, str>, Cow<'a, str>);

/// One `write_alerts` as journalled: what to put and what to remove, as stored values.
#[derive(Debug, Serialize, Deserialize)]
struct AlertsJournal<'a> {
    cells: Vec<(JournalCell<'a>, v2::CellAlert)>,
    /// (sku, contact) of the subscriptions that end.
    ended: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// The notices' outbox entries: (message id, stored record).
    outbox: Vec<(Cow<'a, str>, Vec<u8>)>,
}

impl SledStorage {
    pub(crate) fn cell_alert(&self, warehouse: &str, sku: &str) -> Result<Option<CellAlert>> {
        self.inventory
            .get(keys::cell_alert(warehouse, sku))
            .db()?
            .map(|v| schema::decode_cell_alert(&v))
            .transpose()
    }

    pub(crate) fn all_cell_alerts(&self) -> Result<Vec<CellAlertRecord>> {
        let mut out = Vec::new();
        for kv in self.inventory.scan_prefix([keys::CELL_ALERT]) {
            let (k, v) = kv.db()?;
            let cell = keys::parse_cell_alert(&k).ok_or_else(|| {
                StorageError::Codec("a cell alert key that does not parse".into())
            })?;
            out.push((cell, schema::decode_cell_alert(&v)?));
        }
        Ok(out)
    }

    pub(crate) fn cell_alerts_among(&self, cells: &[CellKey]) -> Result<Vec<CellAlertRecord>> {
        let mut out = Vec::new();
        for cell in cells {
            if let Some(a) = self.cell_alert(&cell.warehouse, &cell.sku)? {
                out.push((cell.clone(), a));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        Ok(out)
    }

    pub(crate) fn stored_subscription(
        &self,
        sku: &str,
        contact: &str,
    ) -> Result<Option<Subscription>> {
        self.inventory
            .get(keys::subscription(sku, contact))
            .db()?
            .map(|v| schema::decode_subscription(&v))
            .transpose()
    }

    pub(crate) fn subscriptions_page(
        &self,
        sku: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Subscription>> {
        let prefix = keys::subscriptions_of(sku);
        let mut end = prefix.clone();
        *end.last_mut().expect("the prefix ends in NUL") = 1;
        let start = match after {
            Some(c) => {
                let mut k = keys::subscription(sku, c);
                k.push(0);
                k
            }
            None => prefix,
        };
        self.inventory
            .range(start..end)
            .values()
            .take(limit)
            .map(|v| schema::decode_subscription(&v.db()?))
            .collect()
    }

    pub(crate) fn count_subscriptions(&self, sku: &str) -> Result<usize> {
        Ok(self
            .inventory
            .scan_prefix(keys::subscriptions_of(sku))
            .count())
    }

    pub(crate) fn skus_subscribed(&self, among: Option<&[Sku]>) -> Result<Vec<Sku>> {
        match among {
            Some(skus) => {
                let mut out = Vec::new();
                for sku in skus {
                    let any = self
                        .inventory
                        .scan_prefix(keys::subscriptions_of(sku))
                        .next()
                        .transpose()
                        .db()?
                        .is_some();
                    if any {
                        out.push(sku.clone());
                    }
                }
                out.sort();
                out.dedup();
                Ok(out)
            }
            None => {
                let mut out: Vec<Sku> = Vec::new();
                for k in self.inventory.scan_prefix([keys::SUBSCRIPTION]).keys() {
                    let sku = keys::parse_subscription_sku(&k.db()?).ok_or_else(|| {
                        StorageError::Codec("a subscription key that does not parse".into())
                    })?;
                    if out.last().is_none_or(|last| *last != sku) {
                        out.push(Sku::from(sku));
                    }
                }
                Ok(out)
            }
        }
    }

    pub(crate) fn insert_subscription(&self, sub: &Subscription, max: usize) -> Result<Commit> {
        self.group.check()?;
        let _w = self.gate.enter();
        let _guard = self.alerts.lock().unwrap_or_else(|e| e.into_inner());
        if self.stored_subscription(&sub.sku, &sub.contact)?.is_some() {
            return Err(StorageError::Conflict(format!(
                "{} is subscribed to {} already",
                sub.contact, sub.sku
            )));
        }
        if self.count_subscriptions(&sub.sku)? >= max {
            return Err(StorageError::Conflict(format!(
                "{max} subscriptions wait for {} already",
                sub.sku
            )));
        }
        self.put(
            TreeId::Inventory,
            keys::subscription(&sub.sku, &sub.contact),
            schema::encode_subscription(sub)?,
        )?;
        Ok(self.commit())
    }

    /// See the module doc: checked under the mutex, then journalled, applied, and the journal
    /// record removed.
    pub(crate) fn write_alerts_journalled(&self, w: &AlertsWrite) -> Result<Commit> {
        self.group.check()?;
        let _w = self.gate.enter();
        let _guard = self.alerts.lock().unwrap_or_else(|e| e.into_inner());
        for c in &w.cells {
            if self.cell_alert(&c.warehouse, &c.sku)? != c.expected {
                return Err(StorageError::Conflict(format!(
                    "the alert record of {} at {} changed",
                    c.sku, c.warehouse
                )));
            }
        }
        for sub in &w.ended {
            let stored = self.stored_subscription(&sub.sku, &sub.contact)?;
            if stored.map(|s| s.id) != Some(sub.id) {
                return Err(StorageError::Conflict(format!(
                    "the subscription of {} to {} ended already",
                    sub.contact, sub.sku
                )));
            }
        }
        let journal = AlertsJournal {
            cells: w
                .cells
                .iter()
                .map(|c| {
                    (
                        (
                            Cow::Borrowed(c.warehouse.as_str()),
                            Cow::Borrowed(c.sku.as_str()),
                        ),
                        v2::CellAlert::from(&c.new),
                    )
                })
                .collect(),
            ended: w
                .ended
                .iter()
                .map(|s| {
                    (
                        Cow::Borrowed(s.sku.as_str()),
                        Cow::Borrowed(s.contact.as_str()),
                    )
                })
                .collect(),
            outbox: w
                .outbox
                .iter()
                .map(|e| Ok((Cow::Owned(notice_id(e)?), schema::encode_outbox(e)?)))
                .collect::<Result<_>>()?,
        };
        let seq = self.journal_seq.fetch_add(1, Ordering::SeqCst);
        let key = keys::alerts_journal(seq);
        self.put(TreeId::Inventory, &key, schema::encode_record(&journal)?)?;
        self.apply_alerts(&journal)?;
        self.del(TreeId::Inventory, key)?;
        Ok(self.commit())
    }

    fn apply_alerts(&self, j: &AlertsJournal<'_>) -> Result<()> {
        for ((w, sku), cell) in &j.cells {
            let cell: CellAlert = (*cell).into();
            self.put(
                TreeId::Inventory,
                keys::cell_alert(w, sku),
                schema::encode_cell_alert(&cell)?,
            )?;
        }
        for (sku, contact) in &j.ended {
            self.del(TreeId::Inventory, keys::subscription(sku, contact))?;
        }
        for (id, record) in &j.outbox {
            let key = keys::notice(id);
            if !self.orders.contains_key(&key).db()? {
                self.put(TreeId::Orders, key, record.clone())?;
            }
        }
        Ok(())
    }

    /// Finishes alert writes interrupted by a crash (see the module doc).
    pub(crate) fn replay_alerts_journal(&self) -> Result<()> {
        for kv in self.inventory.scan_prefix([keys::ALERTS_JOURNAL]) {
            let (k, v) = kv.db()?;
            let journal: AlertsJournal<'_> = match schema::record_body(&v)? {
                (2, body) => serde_json::from_slice(body)?,
                (version, _) => return Err(StorageError::UnknownSchemaVersion(version)),
            };
            self.apply_alerts(&journal)?;
            self.del(TreeId::Inventory, k)?;
        }
        Ok(())
    }

    /// Every stock notice's outbox entry, by message id.
    pub(crate) fn notice_entries(&self) -> Result<Vec<OutboxEntry>> {
        self.orders
            .scan_prefix([keys::NOTICE])
            .values()
            .map(|v| schema::decode_outbox(&v.db()?))
            .collect()
    }
}

/// The message id of a stock notice's entry (the key it is stored under).
fn notice_id(e: &OutboxEntry) -> Result<String> {
    match e.stock_notice() {
        Some(_) => Ok(e.message_id()),
        None => Err(StorageError::Codec(format!(
            "write_alerts takes stock notices only, not {}",
            e.message_id()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderly_domain::stock_alerts::{NoticeKind, StockNotice};
    use orderly_domain::CellKey;
    use orderly_storage::conformance::t0;
    use orderly_storage::roles::*;
    use std::path::Path;
    use std::time::Duration;

    fn open(dir: &Path) -> SledStorage {
        SledStorage::open_patiently(dir, 8 << 20, Duration::from_secs(10)).unwrap()
    }

    fn notice(subject: u128) -> OutboxEntry {
        OutboxEntry::notice(
            StockNotice {
                subject: uuid::Uuid::from_u128(subject),
                seq: 1,
                kind: NoticeKind::BackInStock {
                    sku: "MUG".into(),
                    contact: "a@example.com".into(),
                    available: 2,
                },
            },
            "log".into(),
        )
    }

    /// A crash after the journal record (the commit point) and before (or during) applying it:
    /// the write is finished at open, and an outbox entry already there keeps its retry state.
    #[test]
    fn an_interrupted_alerts_write_is_finished_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let sub = Subscription {
            id: uuid::Uuid::from_u128(1),
            sku: "MUG".into(),
            contact: "a@example.com".into(),
            subscribed_at: t0(),
        };
        let cell = CellAlert {
            id: uuid::Uuid::from_u128(9),
            point: Some(3),
            low: true,
            sent: 1,
        };
        let told = notice(1);
        let mut retried = notice(2);
        {
            let store = open(dir.path());
            orderly_storage::conformance::wait(store.add_subscription(&sub, 10).unwrap());
            // Half applied before the crash: one entry is there, and was attempted since.
            retried.attempts = 3;
            store
                .orders
                .insert(
                    keys::notice(&retried.message_id()),
                    schema::encode_outbox(&retried).unwrap(),
                )
                .unwrap();
            let journal = AlertsJournal {
                cells: vec![(("ams".into(), "MUG".into()), v2::CellAlert::from(&cell))],
                ended: vec![("MUG".into(), "a@example.com".into())],
                outbox: [&told, &notice(2)]
                    .iter()
                    .map(|e| {
                        (
                            Cow::Owned(e.message_id()),
                            schema::encode_outbox(e).unwrap(),
                        )
                    })
                    .collect(),
            };
            store
                .inventory
                .insert(
                    keys::alerts_journal(0),
                    schema::encode_record(&journal).unwrap(),
                )
                .unwrap();
            store.db.flush().unwrap();
        }
        let store = open(dir.path());
        assert_eq!(
            store.cell_alerts().unwrap(),
            vec![(CellKey::new("ams", "MUG"), cell)]
        );
        assert_eq!(store.subscription("MUG", "a@example.com").unwrap(), None);
        let mut pending = store.claim_outbox().unwrap();
        pending.sort_by_key(OutboxEntry::message_id);
        let mut want = vec![told, retried];
        want.sort_by_key(OutboxEntry::message_id);
        assert_eq!(pending, want);
        assert_eq!(
            store.inventory.scan_prefix([keys::ALERTS_JOURNAL]).count(),
            0
        );
    }
}
