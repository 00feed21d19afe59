//! Group commit with an honest flush.
//!
//! Every write gets a sequence number once sled has applied it in memory; the write's
//! [`Commit`](orderly_storage::Commit) carries it, and callers that must not acknowledge before
//! the write is on disk await that commit ([`GroupCommit::wait`]). One flusher thread
//! serves all of them: it notes the highest sequence written so far, calls `sled::Db::flush`
//! and then `fdatasync` on sled's data file, and wakes every waiter at or below that sequence.
//! Writers arriving while a flush runs are served by the next one, so under load many writes
//! share one flush without any artificial delay.
//!
//! Why the extra `fdatasync`: sled 0.34 writes its log with `sync_file_range`, which pushes
//! pages to the device but does not flush the device's volatile cache (sled issue #1452). The
//! `fdatasync` on the same file makes the kernel issue that cache flush, so "acknowledged"
//! survives a power cut on a disk that honours flushes, not only a process kill.
//!
//! If a flush fails the store is poisoned: the outcome of unflushed writes is unknown and
//! retrying `fsync` can report success for lost data, so every later write and wait fails and
//! `/readyz` reports not ready until an operator restarts the process.

use futures::channel::oneshot;
use orderly_storage::{BoxFuture, FlushStats, Result, StorageError};
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// The group commit of one open database: write sequence numbers, the flusher's progress,
/// and the waiters. Commits hold it (as their [`orderly_storage::Durability`]).
pub struct GroupCommit {
    written: AtomicU64,
    done: AtomicU64,
    poisoned: AtomicBool,
    waiters: Mutex<Waiters>,
    wake: Condvar,
    flushes: AtomicU64,
    flushed_writes: AtomicU64,
    flush_micros: AtomicU64,
}

struct Waiters {
    list: Vec<(u64, oneshot::Sender<Result<()>>)>,
    stop: bool,
}

impl GroupCommit {
    pub(crate) fn start(db: sled::Db, sled_dir: &Path) -> Result<Arc<GroupCommit>> {
        let data_file = File::open(sled_dir.join("db"))?;
        // Make the files' directory entries durable once, at start.
        if let Ok(d) = File::open(sled_dir) {
            let _ = d.sync_all();
        }
        let inner = Arc::new(GroupCommit {
            written: AtomicU64::new(0),
            done: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
            waiters: Mutex::new(Waiters {
                list: Vec::new(),
                stop: false,
            }),
            wake: Condvar::new(),
            flushes: AtomicU64::new(0),
            flushed_writes: AtomicU64::new(0),
            flush_micros: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("orderly-flusher".into())
            .spawn(move || flusher(weak, db, data_file))?;
        Ok(inner)
    }

    /// Records that a write has been applied; returns its sequence number.
    pub fn mark_written(&self) -> u64 {
        self.written.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Fails if an earlier flush failed.
    pub fn check(&self) -> Result<()> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(StorageError::Poisoned("an earlier flush failed".into()));
        }
        Ok(())
    }

    pub fn is_healthy(&self) -> bool {
        !self.poisoned.load(Ordering::SeqCst)
    }

    /// Resolves once write `seq` (and every write before it) is on disk. The waiter is
    /// registered at once; the future only receives the flusher's answer, so it runs on any
    /// executor.
    pub fn wait(&self, seq: u64) -> BoxFuture<()> {
        if let Err(e) = self.check() {
            return Box::pin(std::future::ready(Err(e)));
        }
        if self.done.load(Ordering::SeqCst) >= seq {
            return Box::pin(std::future::ready(Ok(())));
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            if self.done.load(Ordering::SeqCst) >= seq {
                return Box::pin(std::future::ready(Ok(())));
            }
            w.list.push((seq, tx));
        }
        self.wake.notify_one();
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(StorageError::Poisoned("the flusher stopped".into())))
        })
    }

    pub fn stats(&self) -> FlushStats {
        FlushStats {
            flushes: self.flushes.load(Ordering::Relaxed),
            flushed_writes: self.flushed_writes.load(Ordering::Relaxed),
            flush_micros: self.flush_micros.load(Ordering::Relaxed),
        }
    }
}

impl orderly_storage::Durability for GroupCommit {
    fn wait(&self, ticket: u64) -> BoxFuture<()> {
        GroupCommit::wait(self, ticket)
    }

    fn is_durable(&self, ticket: u64) -> bool {
        self.is_healthy() && self.done.load(Ordering::SeqCst) >= ticket
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        if let Ok(mut w) = self.waiters.lock() {
            w.stop = true;
        }
        self.wake.notify_all();
    }
}

fn flusher(weak: std::sync::Weak<GroupCommit>, db: sled::Db, data_file: File) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let batch = {
            let mut w = inner.waiters.lock().unwrap_or_else(|e| e.into_inner());
            while w.list.is_empty() && !w.stop {
                // Wake up now and then to notice that the store was dropped.
                let (g, _) = inner
                    .wake
                    .wait_timeout(w, std::time::Duration::from_millis(200))
                    .unwrap_or_else(|e| e.into_inner());
                w = g;
                if w.list.is_empty() && weak.strong_count() <= 1 {
                    return;
                }
            }
            if w.stop {
                return;
            }
            std::mem::take(&mut w.list)
        };
        // Everything applied up to here is covered by the flush below.
        let target = inner.written.load(Ordering::SeqCst);
        let started = Instant::now();
        let result = db
            .flush()
            .map_err(crate::backend)
            .and_then(|_| data_file.sync_data().map_err(StorageError::from));
        match result {
            Ok(()) => {
                inner.done.fetch_max(target, Ordering::SeqCst);
                inner.flushes.fetch_add(1, Ordering::Relaxed);
                inner
                    .flush_micros
                    .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                let mut later = Vec::new();
                let mut served = 0;
                for (seq, tx) in batch {
                    if seq <= target {
                        served += 1;
                        let _ = tx.send(Ok(()));
                    } else {
                        later.push((seq, tx));
                    }
                }
                inner.flushed_writes.fetch_add(served, Ordering::Relaxed);
                if !later.is_empty() {
                    inner
                        .waiters
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .list
                        .extend(later);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "flush failed; storage is now read-only until restart");
                inner.poisoned.store(true, Ordering::SeqCst);
                let msg = e.to_string();
                for (_, tx) in batch {
                    let _ = tx.send(Err(StorageError::Poisoned(msg.clone())));
                }
                let rest = std::mem::take(
                    &mut inner.waiters.lock().unwrap_or_else(|e| e.into_inner()).list,
                );
                for (_, tx) in rest {
                    let _ = tx.send(Err(StorageError::Poisoned(msg.clone())));
                }
            }
        }
    }
}
