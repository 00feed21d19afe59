//! Requests waiting for an order to change: placing with `Prefer: wait` answers once the
//! stock's outcome is known (allocated, backordered, or cancelled for shortage) rather than at
//! once with a `placed` order.
//!
//! A waiter registers before it reads the order, so a change committed between its read and its
//! wait still wakes it; the order's actor wakes every waiter of the order once a transition is
//! durable, and the waiter reads again. Costs one atomic load per transition while nobody waits.

use crate::domain::OrderId;
use futures::channel::oneshot;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub(crate) struct Watchers {
    waiting: AtomicUsize,
    by_order: Mutex<HashMap<OrderId, Vec<oneshot::Sender<()>>>>,
}

impl Watchers {
    /// Resolves at the order's next durable transition (or never, if there is none).
    pub(crate) fn watch(&self, id: OrderId) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut map = self.by_order.lock().expect("watchers lock");
        map.entry(id).or_default().push(tx);
        self.waiting.fetch_add(1, Ordering::SeqCst);
        rx
    }

    /// A transition of `id` is durable: wake whoever waits for it.
    pub(crate) fn changed(&self, id: OrderId) {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        let woken = self.by_order.lock().expect("watchers lock").remove(&id);
        for tx in woken.into_iter().flatten() {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send(());
        }
    }

    /// Drops the waiters of `id` that gave up (their receivers are gone).
    pub(crate) fn forget(&self, id: OrderId) {
        let mut map = self.by_order.lock().expect("watchers lock");
        if let Some(list) = map.get_mut(&id) {
            let before = list.len();
            list.retain(|tx| !tx.is_canceled());
            let gone = before - list.len();
            self.waiting.fetch_sub(gone, Ordering::SeqCst);
            if list.is_empty() {
                map.remove(&id);
            }
        }
    }
}
