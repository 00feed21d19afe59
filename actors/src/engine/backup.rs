//! The engine's online backup ([`Engine::backup`]): a consistent copy of the store into a
//! directory while the service runs, made by the storage backend (`Archive::backup`) on a
//! blocking thread, one backup at a time.

use super::{Engine, EngineError, Inner};
use orderly_storage::{BackupStats, StorageError};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A backup in progress; the next may start once it is dropped.
struct Running(Arc<Inner>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.backup_running.store(false, Ordering::SeqCst);
    }
}

impl Engine {
    /// Copies the whole store into `dir` (which must not exist, or be an empty directory) as
    /// it is at one point of the commit sequence, while orders go on; returns once the copy
    /// is durable. Fails with [`EngineError::BackupRunning`] while another backup runs,
    /// [`EngineError::BackupTarget`] when `dir` cannot take it, and
    /// [`EngineError::BackupUnsupported`] when the backend has its own tools for it.
    pub async fn backup(&self, dir: PathBuf) -> Result<BackupStats, EngineError> {
        if self.inner.backup_running.swap(true, Ordering::SeqCst) {
            return Err(EngineError::BackupRunning);
        }
        let store = self.inner.ctx.store.clone();
        let running = Running(self.inner.clone());
        // On a thread of its own: the copy reads the whole store. If the caller goes away, the
        // backup still finishes, and only then may another start.
        let done = actix_rt::task::spawn_blocking(move || {
            let result = store.backup(&dir);
            drop(running);
            result
        })
        .await;
        match done {
            Ok(Ok(stats)) => {
                tracing::info!(
                    orders = stats.orders,
                    held_ms = stats.held.as_millis() as u64,
                    took_ms = stats.took.as_millis() as u64,
                    "backup made"
                );
                Ok(stats)
            }
            Ok(Err(StorageError::BackupTarget(why))) => Err(EngineError::BackupTarget(why)),
            Ok(Err(StorageError::Unsupported(why))) => Err(EngineError::BackupUnsupported(why)),
            Ok(Err(StorageError::Conflict(_))) => Err(EngineError::BackupRunning),
            Ok(Err(e)) => Err(EngineError::Storage(e)),
            Err(e) => Err(EngineError::Storage(StorageError::Backend(
                format!("the backup stopped: {e}").into(),
            ))),
        }
    }
}
