//! Orderly's pure core: the order, inventory and shipping rules, with no I/O, no clock and no
//! actors.
//!
//! Everything here is a plain function of its inputs (the current time is an argument), so the
//! rules can be tested exhaustively and property-tested. It is a crate of its own so that
//! nothing else can creep in: its only dependencies are serde, chrono, chrono-tz (the IANA
//! time-zone database compiled in), uuid and thiserror (the
//! HTTP layer has its own wire types and schemas; storage has its own stored schema). The
//! actors in `orderly-actors` only load state, call these functions, persist what they return
//! and send the resulting messages; that crate re-exports this one as `orderly_actors::domain`.
//!
//! - [`order`]: the order state machine (`decide`, `evolve`, `reactions`), re-exported at the
//!   crate root.
//! - [`inventory`]: the stock ledger and per-order reservations.
//! - [`shipping`]: carrier choice, tracking numbers and delivery estimates.
//! - [`money`]: integer amounts in a validated currency.
//! - [`ids`]: the names stock is kept under (`WarehouseId`, `Sku`, `CellKey`).
//! - [`warehouse`]: warehouses as configured and the allocation policy.
//! - [`stock_alerts`]: low-stock alerts (reorder points) and back-in-stock subscriptions.
//! - [`audience`]: who a notification is for (the customer, operations, or both).

pub mod audience;
#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures;
pub mod ids;
pub mod inventory;
pub mod money;
pub mod order;
pub mod phone;
pub mod shipping;
pub mod stock_alerts;
pub mod warehouse;

pub use audience::Audience;
pub use ids::{CellKey, Sku, WarehouseId};
pub use money::{Currency, Money};
pub use order::*;
