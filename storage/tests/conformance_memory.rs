//! The conformance suite against the in-memory backend: the suite asks nothing that only sled
//! can give. It runs twice: once refusing stock writes at once (as sled does), once through
//! their commits (as PostgreSQL, which pipelines them, does); both are the contract.

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

/// The same backend, refusing stock writes through their commits.
mod refusing_late {
    use super::*;

    struct LateMemory;

    impl Backend for LateMemory {
        fn create(&self) -> Box<dyn Place> {
            Box::new(Data(MemoryStorage::new().refusing_stock_writes_late()))
        }
    }

    orderly_storage::conformance_tests!(LateMemory);
}
