//! The HTTP client every outbound call shares: webhooks, carriers' APIs.

use std::cell::RefCell;

/// The HTTP client, shared by every attempt on this thread so connections are reused.
///
/// awc's client is single-threaded (`Rc` inside) and its pooled connections belong to the
/// runtime they were opened on. Keeping it in a thread-local rather than in the actor keeps
/// `Notifier` `Send` (the engine may build it on one thread and start it on another); keying it
/// by the actix `System` makes sure a new system on the same thread (tests) gets a fresh pool
/// instead of connections bound to a runtime that no longer exists.
pub(crate) fn http_client() -> awc::Client {
    thread_local! {
        static CLIENT: RefCell<Option<(usize, awc::Client)>> = const { RefCell::new(None) };
    }
    let system = actix_rt::System::try_current().map(|s| s.id());
    CLIENT.with(|cell| {
        let mut cached = cell.borrow_mut();
        match &*cached {
            Some((id, client)) if Some(*id) == system => client.clone(),
            _ => {
                let client = awc::Client::default();
                *cached = system.map(|id| (id, client.clone()));
                client
            }
        }
    })
}
