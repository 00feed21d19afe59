//! The pure core: order, inventory and shipping rules with no I/O, no clock and no actors.
//!
//! Everything here is a plain function of its inputs (the current time is an argument), so the
//! rules can be tested exhaustively and property-tested. The actors in `crate::engine` only
//! load state, call these functions, persist what they return and send the resulting messages.

#[cfg(test)]
pub(crate) mod fixtures;
pub mod inventory;
pub mod money;
pub mod order;
pub mod shipping;

pub use money::{Currency, Money};
pub use order::*;
