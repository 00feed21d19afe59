//! Activation of order actors: at most one live actor per order, started on demand from the
//! stored snapshot and forgotten when it stops.
//!
//! The map is sharded behind plain mutexes rather than kept in an actor, so callers on any
//! thread reach an order's address without a hop through a central mailbox. Actors run on a
//! fixed set of arbiters (one per core), chosen by order id.
//!
//! Failure handling (actix 0.13 does not restart an actor whose handler panicked): when a send
//! fails with `Closed`, the caller asks whether the slot it used is still registered. If the
//! actor retired itself for idleness it is gone and the caller simply activates a new one. If
//! it is still registered the actor died; the slot is dropped so the next message activates a
//! fresh actor from the last durable state, and the caller learns whether its own message was
//! the one being handled when it died (`Slot::current`).

use super::order_actor::OrderActor;
use super::{Engine, EngineError};
use crate::domain::OrderId;
use actix::prelude::*;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One live actor: its address, its activation number, and the nonce of the message it is
/// handling (shared with the actor).
pub struct Slot {
    pub addr: Addr<OrderActor>,
    pub generation: u64,
    pub current: Arc<AtomicU64>,
}

pub struct Registry {
    shards: Vec<Mutex<HashMap<OrderId, Arc<Slot>>>>,
    arbiters: Vec<ArbiterHandle>,
    hasher: std::collections::hash_map::RandomState,
}

impl Registry {
    pub fn new(arbiters: Vec<ArbiterHandle>) -> Self {
        Registry {
            shards: (0..64).map(|_| Mutex::new(HashMap::new())).collect(),
            arbiters,
            hasher: Default::default(),
        }
    }

    fn hash(&self, id: &OrderId) -> usize {
        self.hasher.hash_one(id) as usize
    }

    fn shard(&self, id: &OrderId) -> std::sync::MutexGuard<'_, HashMap<OrderId, Arc<Slot>>> {
        self.shards[self.hash(id) % self.shards.len()]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The order's live actor, activating it from storage if needed. `create` allows an actor
    /// for an order that does not exist yet (placing it).
    pub fn get_or_activate(
        &self,
        engine: &Engine,
        id: OrderId,
        create: bool,
    ) -> Result<Arc<Slot>, EngineError> {
        let mut shard = self.shard(&id);
        if let Some(slot) = shard.get(&id) {
            if slot.addr.connected() {
                return Ok(slot.clone());
            }
            // Retired actors leave the map themselves; a registered but dead one has failed.
            engine
                .stats()
                .actor_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!(order_id = %id, "order actor had failed; reactivating it from storage");
        }
        let state = engine.store().load_order(id)?;
        if state.is_none() && !create {
            return Err(EngineError::NotFound);
        }
        // Whatever an interrupted transition wrote ahead of its snapshot must not mix with the
        // writes of the next one, which reuses the same step numbers. A brand-new order has
        // nothing to discard: `place_order` draws a fresh id for every placement attempt.
        if let Some(order) = &state {
            engine.store().discard_uncommitted(id, order.version)?;
        }
        let arbiter = &self.arbiters[self.hash(&id) % self.arbiters.len()];
        let engine = engine.clone();
        engine.stats().activations.fetch_add(1, Ordering::Relaxed);
        let generation = Self::nonce();
        let current = Arc::new(AtomicU64::new(0));
        let shared = current.clone();
        let addr = OrderActor::start_in_arbiter(arbiter, move |_| {
            OrderActor::new(id, state, engine, generation, shared)
        });
        let slot = Arc::new(Slot {
            addr,
            generation,
            current,
        });
        shard.insert(id, slot.clone());
        Ok(slot)
    }

    /// Forgets activation `generation` of the order if it is still the registered one;
    /// returns whether it was.
    pub fn remove_if_same(&self, id: OrderId, generation: u64) -> bool {
        let mut shard = self.shard(&id);
        match shard.get(&id) {
            Some(s) if s.generation == generation => {
                shard.remove(&id);
                true
            }
            _ => false,
        }
    }

    /// Number of live order actors.
    pub fn active(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }

    pub fn nonce() -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}
