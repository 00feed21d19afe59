//! Online backup: a consistent copy of the open database into a fresh one, while writers go on.
//!
//! sled 0.34 has no snapshots, and holding every writer back for a whole copy would stall the
//! service for seconds on a large store. So the copy is made in passes:
//!
//! 1. Every write operation of [`SledStorage`] runs inside the [`Gate`] (a shared hold, taken
//!    once per operation: a transition, a stock change, an acknowledgement, ...) and, while a
//!    backup runs, notes each key it wrote or removed (after writing it).
//! 2. The backup copies both trees as they are, without holding anyone back: a fuzzy copy.
//! 3. It copies again, from the live trees, the keys noted meanwhile (taking the set and
//!    starting a new one), as long as that set shrinks to a small one, at most a few rounds.
//! 4. It holds writers back (the gate's exclusive side: running operations finish first, new
//!    ones wait), copies the last noted keys, and lets writers go.
//!
//! At the hold, every key of the copy holds what the live tree holds: keys nobody wrote since
//! the fuzzy copy read them were copied as they are, and every key written since was noted and
//! copied again after its last write. The hold falls between operations, so the copy is the
//! state at one point of the write sequence: whole transitions and stock changes, the ledger
//! agreeing with the reservations, and everything applied before the backup began (which
//! includes everything acknowledged) in it. Writers wait only for the last, short pass; its
//! length is in [`BackupStats::held`]. The copy is then flushed and `fdatasync`ed (sled's own
//! flush does not flush the disk cache, see `durability`) before the backup reports success.

use crate::{OrBackend, SledStorage};
use orderly_storage::{BackupStats, Result, StorageError};
use std::collections::HashSet;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

/// The two trees of a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TreeId {
    Orders,
    Inventory,
}

/// The writers' gate: shared by write operations, exclusive for a backup's final pass; and the
/// keys written while a backup runs.
#[derive(Default)]
pub(crate) struct Gate {
    hold: RwLock<()>,
    running: AtomicBool,
    tracking: AtomicBool,
    dirty: Mutex<HashSet<(TreeId, Vec<u8>)>>,
}

/// A pass over the noted keys stops the rounds once this few are left for the hold.
const FINAL_PASS_AT: usize = 1_000;
/// At most this many passes without the hold (under a write load the set may not shrink).
const MAX_ROUNDS: u32 = 6;

impl Gate {
    /// A write operation's pass through the gate: held for the whole operation. Never taken
    /// twice on one thread (a waiting backup would deadlock it).
    pub(crate) fn enter(&self) -> RwLockReadGuard<'_, ()> {
        self.hold.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes that `key` was written (call after the write, inside [`Gate::enter`]).
    pub(crate) fn note(&self, tree: TreeId, key: &[u8]) {
        if self.tracking.load(Ordering::SeqCst) {
            self.dirty
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert((tree, key.to_vec()));
        }
    }

    fn hold_writers(&self) -> RwLockWriteGuard<'_, ()> {
        self.hold.write().unwrap_or_else(|e| e.into_inner())
    }

    fn take_dirty(&self) -> HashSet<(TreeId, Vec<u8>)> {
        std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn dirty_len(&self) -> usize {
        self.dirty.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Starts noting written keys, for one backup at a time.
    fn start(&self) -> Result<Tracking<'_>> {
        if self.running.swap(true, Ordering::SeqCst) {
            return Err(StorageError::Conflict("a backup is running already".into()));
        }
        self.take_dirty();
        self.tracking.store(true, Ordering::SeqCst);
        Ok(Tracking(self))
    }
}

/// Noting written keys, until dropped (also when the backup fails).
struct Tracking<'a>(&'a Gate);

impl Drop for Tracking<'_> {
    fn drop(&mut self) {
        self.0.tracking.store(false, Ordering::SeqCst);
        self.0.take_dirty();
        self.0.running.store(false, Ordering::SeqCst);
    }
}

/// `dir` may take a backup: created if missing (its parent must exist), or an empty directory.
fn prepare(dir: &Path) -> Result<()> {
    let target = |why: String| StorageError::BackupTarget(format!("{}: {why}", dir.display()));
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(target("exists and is not empty".into())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir(dir).map_err(|e| target(format!("cannot be created: {e}")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(target("exists and is not a directory".into()))
        }
        Err(e) => Err(target(format!("cannot be read: {e}"))),
    }
}

/// The copy being written.
struct Copy {
    db: sled::Db,
    orders: sled::Tree,
    inventory: sled::Tree,
    records: u64,
}

impl Copy {
    fn tree(&self, t: TreeId) -> &sled::Tree {
        match t {
            TreeId::Orders => &self.orders,
            TreeId::Inventory => &self.inventory,
        }
    }

    /// Copies a whole tree as it is now.
    fn all(&mut self, from: &sled::Tree, to: TreeId) -> Result<()> {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for kv in from.iter() {
            let (k, v) = kv.db()?;
            batch.insert(k, v);
            n += 1;
            if n % 10_000 == 0 {
                self.tree(to).apply_batch(std::mem::take(&mut batch)).db()?;
            }
        }
        self.tree(to).apply_batch(batch).db()?;
        self.records += n;
        Ok(())
    }

    /// Copies `keys` again from `store`: their value now, or their absence.
    fn again(&mut self, store: &SledStorage, keys: HashSet<(TreeId, Vec<u8>)>) -> Result<()> {
        for (t, k) in keys {
            match store.tree(t).get(&k).db()? {
                Some(v) => self.tree(t).insert(k, v).db()?,
                None => self.tree(t).remove(k).db()?,
            };
            self.records += 1;
        }
        Ok(())
    }
}

/// Backs `store` up into `dir` (see the module doc).
pub(crate) fn run(store: &SledStorage, dir: &Path) -> Result<BackupStats> {
    let started = Instant::now();
    store.group.check()?;
    let tracking = store.gate.start()?;
    prepare(dir)?;
    let db = sled::Config::new()
        .path(dir.join("sled"))
        .cache_capacity(64 << 20)
        .mode(sled::Mode::HighThroughput)
        .open()
        .db()?;
    let mut copy = Copy {
        orders: db.open_tree("orders").db()?,
        inventory: db.open_tree("inventory").db()?,
        db,
        records: 0,
    };
    copy.all(&store.orders, TreeId::Orders)?;
    copy.all(&store.inventory, TreeId::Inventory)?;
    let mut rounds = 0;
    while rounds < MAX_ROUNDS && store.gate.dirty_len() > FINAL_PASS_AT {
        copy.again(store, store.gate.take_dirty())?;
        rounds += 1;
    }
    let held_since = Instant::now();
    let writers = store.gate.hold_writers();
    let last = store.gate.take_dirty();
    let copied = copy.again(store, last);
    drop(writers);
    let held = held_since.elapsed();
    drop(tracking);
    copied?;

    let orders = copy.orders.scan_prefix([crate::keys::ORDER]).count() as u64;
    copy.db.flush().db()?;
    let sled_dir = dir.join("sled");
    File::open(sled_dir.join("db"))?.sync_data()?;
    for d in [Some(sled_dir.as_path()), Some(dir), dir.parent()]
        .into_iter()
        .flatten()
    {
        File::open(d)?.sync_all()?;
    }
    Ok(BackupStats {
        orders,
        records: copy.records,
        rounds,
        held,
        took: started.elapsed(),
    })
}
