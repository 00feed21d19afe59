//! The conformance suite against the in-memory backend: the suite asks nothing that only sled
//! can give.

use orderly_storage::conformance::{Backend, Place};
use orderly_storage::memory::MemoryStorage;
use orderly_storage::{Result, Storage};
use std::sync::Arc;

struct Memory;

struct Data(MemoryStorage);

impl Backend for Memory {
    fn create(&self) -> Box<dyn Place> {
        Box::new(Data(MemoryStorage::new()))
    }
}

impl Place for Data {
    fn open(&self) -> Result<Arc<dyn Storage>> {
        Ok(Arc::new(self.0.reopen()))
    }

    fn open_another(&self) -> Option<Result<Arc<dyn Storage>>> {
        Some(Ok(Arc::new(self.0.reopen())))
    }
}

orderly_storage::conformance_tests!(Memory);
