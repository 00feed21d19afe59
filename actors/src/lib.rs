//! Orderly's engine: the sled store with honest group commit (`store`) and the actors that run
//! orders (`engine`), on top of the pure order, inventory and shipping rules of the
//! `orderly-domain` crate.
//!
//! The domain is re-exported as `domain`, so the engine and the service crate keep one path to
//! it (`orderly_actors::domain::…`) and never need to name the domain crate themselves. The
//! service crate (`orderly`) only translates HTTP into calls on [`engine::Engine`].

pub mod clock;
pub mod engine;
pub mod store;

pub use orderly_domain as domain;
