//! The order state machine: `decide` turns (state, command, cause, now) into events or a typed
//! error, `evolve` folds an event into the state, and `reactions` says which messages and
//! timers new events set off.
//!
//! This module is the single source of truth for what may happen to an order. The HTTP layer
//! and the actors never change an order any other way: they build a `Command`, ask `decide`,
//! and store the events it returns.
//!
//! - `model`: the `Order` snapshot and its parts, `Status`, `Cause`.
//! - `new_order`: `NewOrder`, the request to place an order, and its validation.
//! - `command`: `Command`, what a client or an actor asks of an order.
//! - `event`: `Event` and `Change`, what happened to an order.
//! - `error`: `DomainError`, why a command was refused.
//! - `decide`: the rules, one file per group of commands.
//! - `evolve`: `evolve` and `fold`, how events change the snapshot.
//! - `effects`: `reactions`, the messages and timers that follow from new events.
//! - [`limits`]: upper bounds on what a client can make an order hold.
//!
//! Every public item is re-exported here (and at the crate root), so callers name
//! `domain::Order` or `domain::order::Order` and never the file a type lives in.

mod command;
mod decide;
mod effects;
mod error;
mod event;
mod evolve;
pub mod limits;
mod model;
mod new_order;
pub mod validate;

#[cfg(test)]
mod exception_tests;
#[cfg(test)]
mod tests;

pub use command::{Command, LateShipment};
pub use decide::decide;
pub use effects::{
    reactions, BookedShipment, BookingTerms, Effect, EffectKind, NotificationKind, Reactions,
    Timer, TimerKind,
};
pub use error::DomainError;
pub use event::{Change, Event};
pub use evolve::{evolve, fold};
pub use model::{
    Address, Allocation, Booking, Cancellation, CarrierEventKind, Cause, ContactChannel, Customer,
    DeliveryException, DeliveryPlan, ExceptionAnswer, ExceptionPolicy, FailureReason,
    InitialPaymentStatus, Line, LineQty, Order, OrderId, Parcel, Payment, PaymentMethod,
    PaymentStatus, PaymentUpdate, Promise, ReturnCase, ReturnParcel, ReturnParcelStatus,
    ReturnToOrigin, Shipment, ShipmentLine, ShipmentRef, ShipmentStatus, Shipping, Shortage,
    Status, StockState,
};
pub use new_order::{NewLine, NewOrder, NewPayment};
