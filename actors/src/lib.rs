//! Orderly's engine: the pure order, inventory and shipping rules (`domain`), the sled store
//! with honest group commit (`store`), and the actors that run orders (`engine`).
//!
//! The service crate (`orderly`) only translates HTTP into calls on [`engine::Engine`].

pub mod clock;
pub mod domain;
pub mod engine;
pub mod store;
