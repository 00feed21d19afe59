//! A durable commit as a value: what a write returns, and what the caller must await before it
//! acknowledges anything the write vouches for.

use crate::Result;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A boxed, sendable future of a storage result.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'static>>;

/// The backend's side of a [`Commit`]: it hands out tickets for its writes and says when a
/// ticket is durable. Sled's group commit is one (the ticket is the write's sequence number).
pub trait Durability: Send + Sync + 'static {
    /// Resolves once the write with `ticket`, and every write the same caller made before it,
    /// is durable; fails if the backend cannot say so (a failed flush).
    ///
    /// The future must not depend on the executor it is polled on (the engine polls commits
    /// on actix's threads and the conformance suite with `futures::executor::block_on`):
    /// resolve it from the backend's own thread or runtime, e.g. through a channel.
    fn wait(&self, ticket: u64) -> BoxFuture<()>;

    /// Whether `ticket` is known to be durable already (lets a commit resolve without
    /// allocating a future). `false` is always a correct answer.
    fn is_durable(&self, _ticket: u64) -> bool {
        false
    }

    /// Resolves once the write with `ticket` is known to be applied (readers see it) or
    /// refused, durable or not yet. Writes whose refusal can only come later (a pipelined
    /// stock write) resolve this sooner than [`Durability::wait`]; the default waits for that.
    fn settled(&self, ticket: u64) -> BoxFuture<()> {
        self.wait(ticket)
    }
}

/// A write that has been applied (readers see it) and will be durable once this resolves.
///
/// Await it (`commit.await?`) before acknowledging anything the write vouches for: the
/// compiler warns about a `Commit` that is dropped unused. It is cheap to clone, so a writer can
/// keep its latest commit and make a later answer that wrote nothing wait for it too.
#[must_use = "a write is durable only once its Commit resolved: await it before acknowledging"]
#[derive(Clone)]
pub struct Commit {
    waiter: Option<Arc<dyn Durability>>,
    ticket: u64,
}

impl std::fmt::Debug for Commit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commit")
            .field("ticket", &self.ticket)
            .field("durable", &self.waiter.is_none())
            .finish()
    }
}

impl Commit {
    /// A commit that resolves once `waiter` says `ticket` is durable.
    pub fn new(waiter: Arc<dyn Durability>, ticket: u64) -> Commit {
        Commit {
            waiter: Some(waiter),
            ticket,
        }
    }

    /// A commit that is durable already (nothing was written, or the backend wrote
    /// synchronously).
    pub fn durable() -> Commit {
        Commit {
            waiter: None,
            ticket: 0,
        }
    }

    /// The backend's ticket for this write (sled: its write sequence number).
    pub fn ticket(&self) -> u64 {
        self.ticket
    }
}

impl Commit {
    /// Resolves once the write is known to be applied or refused (see
    /// [`Durability::settled`]); await the commit itself before acknowledging anything.
    pub fn settled(&self) -> CommitFuture {
        match &self.waiter {
            Some(w) if !w.is_durable(self.ticket) => CommitFuture(Some(w.settled(self.ticket))),
            _ => CommitFuture(None),
        }
    }
}

impl IntoFuture for Commit {
    type Output = Result<()>;
    type IntoFuture = CommitFuture;

    fn into_future(self) -> CommitFuture {
        match self.waiter {
            Some(w) if !w.is_durable(self.ticket) => CommitFuture(Some(w.wait(self.ticket))),
            _ => CommitFuture(None),
        }
    }
}

/// The future of a [`Commit`].
#[must_use = "futures do nothing unless awaited"]
pub struct CommitFuture(Option<BoxFuture<()>>);

impl Future for CommitFuture {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match self.0.as_mut() {
            None => Poll::Ready(Ok(())),
            Some(f) => f.as_mut().poll(cx),
        }
    }
}
