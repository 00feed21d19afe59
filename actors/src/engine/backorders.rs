//! Filling backorders: when stock arrives for skus that backordered orders wait for (a count
//! raised, a return or a transfer received, a cancellation giving units back), the engine
//! reserves again for every backordered order, oldest first, so they are served in the order
//! they were placed; an order wholly allocated then confirms by itself.
//!
//! Reserving again is the inventory's ordinary `Reserve`, keyed by order (a reservation that
//! waits for units is filled from what is available; one that waits for nothing answers what it
//! holds), so a pass may run any number of times. One pass runs at a time; a request arriving
//! during a pass makes it run once more. The engine also runs a pass at start: an order filled
//! in the inventory whose answer was lost in a crash gets it then. With other nodes on the same
//! storage a pass also runs every [`SHARED_SWEEP`]: stock writes commute, so an order may be
//! backordered on one node just as units arrive through another, after that node's pass read
//! the queue; it waits at most that long.

use super::effects::Effects;
use super::inventory::Reserve;
use super::off_thread;
use crate::domain::Order;
use futures::channel::mpsc::UnboundedReceiver;
use futures::StreamExt;
use orderly_storage::Storage;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Orders read from the queue at a time.
const PAGE: usize = 100;

/// How often a pass runs without a signal when other nodes share the storage.
const SHARED_SWEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs fill passes, one at a time, for as long as `arrived` signals come.
pub(crate) async fn run(
    store: Arc<dyn Storage>,
    effects: Effects,
    mut arrived: UnboundedReceiver<()>,
) {
    let running = Arc::new(AtomicBool::new(false));
    // At start: whatever a crash interrupted.
    pass(&store, &effects).await;
    let shared = store.has_other_writers();
    loop {
        if shared {
            if let Ok(None) = actix_rt::time::timeout(SHARED_SWEEP, arrived.next()).await {
                break;
            }
        } else if arrived.next().await.is_none() {
            break;
        }
        // Signals that came during the pass are served by one more pass.
        while arrived.try_recv().is_ok() {}
        if running.swap(true, Ordering::SeqCst) {
            continue;
        }
        pass(&store, &effects).await;
        running.store(false, Ordering::SeqCst);
    }
}

/// One pass over the queue, oldest first.
async fn pass(store: &Arc<dyn Storage>, effects: &Effects) {
    let mut after = None;
    loop {
        let page = off_thread(store, move |s| s.backorders(after, PAGE)).await;
        let page: Vec<Order> = match page {
            Some(Ok(page)) => page,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "could not read the backorder queue; the next arrival of stock tries again");
                return;
            }
            None => return,
        };
        let Some(last) = page.last() else { return };
        after = Some(last.id);
        let more = page.len() == PAGE;
        for order in page {
            let again = Reserve {
                order_id: order.id,
                lines: order.line_qtys(),
                country: Some(order.shipping.address.country.clone()),
                allow_split: order.allow_split,
            };
            if let Err(e) = effects.reserve_again(again).await {
                tracing::warn!(order_id = %order.id, error = %e, "could not fill a backorder; the next arrival of stock tries again");
            }
        }
        if !more {
            return;
        }
    }
}
