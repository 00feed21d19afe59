//! The storage conformance suite (`orderly_storage::conformance`), run against sled.

use orderly_storage::conformance::{Backend, Place};
use orderly_storage::{Result, Storage, TransitionWrite};
use orderly_storage_sled::SledStorage;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

struct Sled;

/// A temporary directory; the handle most recently opened is kept (weakly) to simulate an
/// interrupted transition on it.
struct Dir {
    dir: tempfile::TempDir,
    last: Mutex<Weak<SledStorage>>,
}

impl Backend for Sled {
    fn create(&self) -> Box<dyn Place> {
        Box::new(Dir {
            dir: tempfile::tempdir().expect("a temporary directory"),
            last: Mutex::new(Weak::new()),
        })
    }
}

impl Place for Dir {
    fn open(&self) -> Result<Arc<dyn Storage>> {
        // Patient: the previous handle's flusher thread lets go of the directory's lock
        // within a few hundred milliseconds of the handle being dropped.
        let s = Arc::new(SledStorage::open_patiently(
            self.dir.path(),
            8 << 20,
            Duration::from_secs(10),
        )?);
        *self.last.lock().unwrap() = Arc::downgrade(&s);
        Ok(s)
    }

    fn write_interrupted(&self, w: &TransitionWrite<'_>) -> Result<bool> {
        let s = self
            .last
            .lock()
            .unwrap()
            .upgrade()
            .expect("a handle is open");
        s.write_ahead_of_commit_point(w)?;
        Ok(true)
    }
}

orderly_storage::conformance_tests!(Sled);
