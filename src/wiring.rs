//! Start-up wiring: the one place that names a storage backend. The config's
//! `storage.backend` picks it; everything past this file sees only `Arc<dyn Storage>`.

use crate::config::Config;
use orderly_actors::clock::SystemClock;
use orderly_actors::engine::Engine;
use orderly_storage::{Commit, FlushStats, Health, Storage, StorageError};
use orderly_storage_postgres as postgres_backend;
use orderly_storage_sled as sled_backend;
use sled_backend::SledStorage;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The values `storage.backend` may take in this build.
pub const STORAGE_BACKENDS: &[&str] = &["sled", "postgres"];

/// Opens the storage the config names.
pub fn open_storage(config: &Config) -> Result<Arc<dyn Storage>, String> {
    let s = &config.storage;
    match s.backend.as_str() {
        "sled" => {
            // Patient: a previous process on the same directory may still be letting go of
            // its lock.
            let store =
                SledStorage::open_patiently(&s.data_dir, s.cache_mb << 20, Duration::from_secs(5))
                    .map_err(|e| format!("cannot open storage at {}: {e}", s.data_dir.display()))?;
            Ok(Arc::new(store))
        }
        "postgres" => {
            let pg = s
                .postgres
                .as_ref()
                .ok_or("storage.postgres.url: required when storage.backend is 'postgres'")?;
            let node_id = pg
                .node_id
                .clone()
                .unwrap_or_else(|| default_node_id(&config.server.bind));
            let mut c = postgres_backend::PostgresConfig::new(pg.url.clone(), node_id);
            c.pool_size = pg.pool_size;
            c.lease = Duration::from_secs(pg.lease_secs);
            c.heartbeat = Duration::from_millis(pg.heartbeat_ms);
            c.commit_lanes = pg.commit_lanes;
            c.ca_file = pg.ca_file.clone();
            let store = postgres_backend::PostgresStorage::open(c)
                .map_err(|e| format!("cannot open the PostgreSQL storage: {e}"))?;
            tracing::info!(node_id = store.node_id(), "storage: PostgreSQL");
            Ok(Arc::new(store))
        }
        other => Err(format!(
            "storage.backend: '{other}' is not a storage backend of this build (known: {})",
            STORAGE_BACKENDS.join(", ")
        )),
    }
}

/// A node's default name: the host's name and the port it serves on (stable across restarts,
/// distinct for several nodes on one host).
fn default_node_id(bind: &str) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "orderly".into());
    let port = bind.rsplit(':').next().unwrap_or("0");
    format!("{host}:{port}")
}

/// What a command that works on the data without the service needs of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offline {
    /// The data must be there already (export, backup).
    Existing,
    /// Empty storage is created if there is none (import).
    CreateIfMissing,
}

/// Opens the storage the config names for a command that runs without the service (`orderly
/// export`, `import`, a backup when no service answers). With sled the running service holds
/// the data directory's lock: the error then says to stop it.
pub fn open_storage_offline(config: &Config, mode: Offline) -> Result<Arc<dyn Storage>, String> {
    let s = &config.storage;
    match s.backend.as_str() {
        "sled" => {
            if mode == Offline::Existing && !s.data_dir.join("sled").is_dir() {
                return Err(format!(
                    "there is no sled data in {} (storage.data_dir)",
                    s.data_dir.display()
                ));
            }
            match SledStorage::open(&s.data_dir, s.cache_mb << 20) {
                Ok(store) => Ok(Arc::new(store)),
                Err(StorageError::InUse(_)) => Err(format!(
                    "the data directory {} is in use: a service is running on it; stop it first (`orderly backup DIR` makes a backup while it runs)",
                    s.data_dir.display()
                )),
                Err(e) => Err(format!(
                    "cannot open storage at {}: {e}",
                    s.data_dir.display()
                )),
            }
        }
        "postgres" => {
            // A tool is a node of its own while it runs (never the name of a running node,
            // whose work it would otherwise take over and announce as gone when it stops).
            let mut config = config.clone();
            if let Some(pg) = config.storage.postgres.as_mut() {
                let base = pg
                    .node_id
                    .clone()
                    .unwrap_or_else(|| default_node_id(&config.server.bind));
                pg.node_id = Some(format!("{base}-tool-{}", std::process::id()));
            }
            open_storage(&config)
        }
        other => Err(format!(
            "storage.backend: '{other}' is not a storage backend of this build (known: {})",
            STORAGE_BACKENDS.join(", ")
        )),
    }
}

/// Opens the storage the config names and starts the engine on it. Used by
/// [`crate::serve`] and by the tools that drive the engine in-process (`orderly-bench seed`).
/// Must run inside an actix system; returns once the engine is ready.
pub fn start_engine(config: &Config) -> Result<Engine, String> {
    let store = open_storage(config)?;
    Engine::start(store, Arc::new(SystemClock), config.engine_config())
        .map_err(|e| format!("cannot start the engine: {e}"))
}

/// Raw writes with the storage's own durability and nothing else, for the bench's storage
/// baseline (scenario S1): with sled, snapshot-sized inserts acknowledged through the same
/// group commit and `fdatasync` the engine's transitions use.
pub struct BaselineStore {
    store: SledStorage,
}

impl BaselineStore {
    /// A fresh sled store under `dir`.
    pub fn open(dir: &Path) -> Result<BaselineStore, String> {
        let store = SledStorage::open(dir, 64 << 20)
            .map_err(|e| format!("cannot open the baseline store: {e}"))?;
        Ok(BaselineStore { store })
    }

    /// Writes `value` under `key`; durable once the commit resolved.
    pub fn write(&self, key: &[u8], value: &[u8]) -> Result<Commit, String> {
        self.store
            .baseline_write(key, value)
            .map_err(|e| e.to_string())
    }

    pub fn flush_stats(&self) -> FlushStats {
        self.store.flush_stats()
    }
}
