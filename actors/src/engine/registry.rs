//! Activation of order actors and delivery of commands to them: at most one live actor per
//! order, started on demand from the stored snapshot and forgotten when it stops.
//!
//! The map is sharded behind plain mutexes rather than kept in an actor, so callers on any
//! thread reach an order's address without a hop through a central mailbox. Actors run on a
//! fixed set of arbiters (one per core), chosen by order id.
//!
//! Failure handling (actix 0.13 does not restart an actor whose handler panicked): when a send
//! fails with `Closed`, [`Registry::execute`] asks whether the slot it used is still
//! registered. If the actor retired itself for idleness it is gone and the command simply goes
//! to a freshly activated one. If it is still registered the actor died; the slot is dropped so
//! the next message activates a fresh actor from the last durable state, and the caller learns
//! whether its own message was the one being handled when it died (`Slot::current`).
//!
//! Dependencies run one way: the registry creates order actors and hands each a [`Retire`]
//! handle; answers from the effects come back through the [`ApplyAnswer`] trait, which the
//! registry implements.

use super::effects::{Answer, ApplyAnswer};
use super::order_actor::{Execute, Executed, OrderActor, OrderContext, Retire};
use super::EngineError;
use crate::domain::{Cause, Command, Order, OrderId};
use actix::prelude::*;
use futures::future::BoxFuture;
use orderly_storage::StorageError;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One live actor: its address, its activation number, and the nonce of the message it is
/// handling (shared with the actor).
struct Slot {
    addr: Addr<OrderActor>,
    generation: u64,
    current: Arc<AtomicU64>,
}

struct Shards {
    maps: Vec<Mutex<HashMap<OrderId, Arc<Slot>>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Shards {
    fn hash(&self, id: &OrderId) -> usize {
        self.hasher.hash_one(id) as usize
    }

    fn lock(&self, id: &OrderId) -> std::sync::MutexGuard<'_, HashMap<OrderId, Arc<Slot>>> {
        self.maps[self.hash(id) % self.maps.len()]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets activation `generation` of the order if it is still the registered one;
    /// returns whether it was.
    fn remove_if_same(&self, id: OrderId, generation: u64) -> bool {
        let mut shard = self.lock(&id);
        match shard.get(&id) {
            Some(s) if s.generation == generation => {
                shard.remove(&id);
                true
            }
            _ => false,
        }
    }
}

pub struct Registry {
    shards: Arc<Shards>,
    arbiters: Vec<ArbiterHandle>,
    ctx: Arc<OrderContext>,
}

/// Whether an order may be created by the command (placing it) or must exist already.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Activation {
    Existing,
    CreateIfMissing,
}

impl Registry {
    pub fn new(arbiters: Vec<ArbiterHandle>, ctx: Arc<OrderContext>) -> Self {
        Registry {
            shards: Arc::new(Shards {
                maps: (0..64).map(|_| Mutex::new(HashMap::new())).collect(),
                hasher: Default::default(),
            }),
            arbiters,
            ctx,
        }
    }

    /// Runs a command on the order's actor (activating it if needed) and returns once its
    /// transition is durable, and with [`Answer::AfterEffects`] once its effects have run too.
    pub async fn execute(
        &self,
        id: OrderId,
        command: Command,
        cause: Cause,
        idempotency: Option<(String, String)>,
        answer: Answer,
    ) -> Result<Executed, EngineError> {
        let activation = if matches!(command, Command::Place { .. }) {
            Activation::CreateIfMissing
        } else {
            Activation::Existing
        };
        let msg = Execute {
            command,
            cause,
            idempotency,
            answer,
            nonce: 0,
        };
        // A few tries: an actor may retire (idle) between lookup and delivery, or (with other
        // nodes writing) its write may be refused because another node wrote the order first.
        let mut conflicts = 0u32;
        for _ in 0..5 + CONFLICT_RETRIES {
            // A placement's id was made for it a moment ago: there is nothing to load (and
            // if there were, the write's version check would refuse it).
            let preloaded = match activation {
                Activation::CreateIfMissing => Some(None),
                Activation::Existing => self.preload(id).await?,
            };
            let slot = self.get_or_activate(id, activation, preloaded)?;
            let nonce = next_nonce();
            let send = slot.addr.send(Execute {
                nonce,
                ..msg.clone()
            });
            // A command answered after its effects may wait for them too (at most
            // `effect_wait`, after which it answers with what is durable): that wait is not the
            // order being busy.
            let limit = match msg.answer {
                Answer::AfterEffects => self.ctx.config.send_timeout + self.ctx.config.effect_wait,
                Answer::AfterCommit => self.ctx.config.send_timeout,
            };
            let outcome = match actix_rt::time::timeout(limit, send).await {
                Err(_) => return Err(EngineError::Overloaded),
                Ok(r) => r,
            };
            match outcome {
                Ok(Err(EngineError::Retry)) => continue,
                Ok(Err(EngineError::Storage(StorageError::Conflict(why))))
                    if conflicts < CONFLICT_RETRIES =>
                {
                    // Optimistic concurrency: decide again on a fresh activation, which loads
                    // what the other writer committed.
                    conflicts += 1;
                    self.ctx.stats.conflicts.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(order_id = %id, reason = %why, "write refused; deciding again");
                    self.shards.remove_if_same(id, slot.generation);
                    actix_rt::time::sleep(std::time::Duration::from_millis(
                        (1u64 << conflicts.min(6)) + next_nonce() % 3,
                    ))
                    .await;
                    continue;
                }
                Ok(r) => return r,
                Err(MailboxError::Timeout) => return Err(EngineError::Overloaded),
                Err(MailboxError::Closed) => {
                    if self.shards.remove_if_same(id, slot.generation) {
                        // Still registered, so it did not retire: it died.
                        self.ctx
                            .stats
                            .actor_failures
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::error!(order_id = %id, "order actor failed; it will be reactivated from storage");
                        if slot.current.load(Ordering::SeqCst) == nonce {
                            return Err(EngineError::ActorFailed);
                        }
                    }
                    continue;
                }
            }
        }
        Err(EngineError::Overloaded)
    }

    /// With storage across the network, an order about to be activated is loaded on the
    /// blocking pool first, so the caller's thread (an HTTP worker, an actor) is not held for the
    /// round trip. `None`: it is active already, or storage is local (loaded inline).
    async fn preload(&self, id: OrderId) -> Result<Option<Option<Order>>, EngineError> {
        if !self.ctx.store.reads_wait_on_network() || self.shards.lock(&id).contains_key(&id) {
            return Ok(None);
        }
        let loaded = super::off_thread(&self.ctx.store, move |s| s.load_order_for_update(id))
            .await
            .ok_or(EngineError::Overloaded)??;
        Ok(Some(loaded))
    }

    /// The order's live actor, activating it from storage (or from `preloaded`) if needed.
    fn get_or_activate(
        &self,
        id: OrderId,
        activation: Activation,
        preloaded: Option<Option<Order>>,
    ) -> Result<Arc<Slot>, EngineError> {
        let mut shard = self.shards.lock(&id);
        if let Some(slot) = shard.get(&id) {
            if slot.addr.connected() {
                return Ok(slot.clone());
            }
            // Retired actors leave the map themselves; a registered but dead one has failed.
            self.ctx
                .stats
                .actor_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!(order_id = %id, "order actor had failed; reactivating it from storage");
        }
        // Loaded for its writer: storage sets aside whatever an interrupted transition wrote
        // ahead of its commit point, so it never mixes with this actor's next transition.
        let state = match preloaded {
            Some(state) => state,
            None => self.ctx.store.load_order_for_update(id)?,
        };
        if state.is_none() && activation == Activation::Existing {
            return Err(EngineError::NotFound);
        }
        let arbiter = &self.arbiters[self.shards.hash(&id) % self.arbiters.len()];
        self.ctx.stats.activations.fetch_add(1, Ordering::Relaxed);
        let generation = next_nonce();
        let current = Arc::new(AtomicU64::new(0));
        let shared = current.clone();
        let ctx = self.ctx.clone();
        let shards = self.shards.clone();
        let leave: Retire = Box::new(move || shards.remove_if_same(id, generation));
        let addr = OrderActor::start_in_arbiter(arbiter, move |_| {
            OrderActor::new(id, state, ctx, leave, shared)
        });
        let slot = Arc::new(Slot {
            addr,
            generation,
            current,
        });
        shard.insert(id, slot.clone());
        Ok(slot)
    }

    /// Number of live order actors.
    pub fn active(&self) -> usize {
        self.shards
            .maps
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }

    /// Test hook: makes the order's actor panic (see `order_actor::InjectPanic`).
    pub fn inject_panic(&self, id: OrderId) -> Result<(), EngineError> {
        let slot = self.get_or_activate(id, Activation::Existing, None)?;
        slot.addr.do_send(super::order_actor::InjectPanic);
        Ok(())
    }
}

impl ApplyAnswer for Registry {
    fn apply(
        self: Arc<Self>,
        id: OrderId,
        command: Command,
        cause: Cause,
    ) -> BoxFuture<'static, Result<(), EngineError>> {
        Box::pin(async move {
            self.execute(id, command, cause, None, Answer::AfterCommit)
                .await
                .map(|_| ())
        })
    }
}

/// How often a command refused by storage's version check is decided again.
const CONFLICT_RETRIES: u32 = 8;

fn next_nonce() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
