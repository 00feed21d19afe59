//! Why a command was refused (`DomainError`), and the two ways `decide` builds a refusal.

use super::model::{Order, Status};

/// Why a command was refused. Carries what the client needs to understand the refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("order not found")]
    NotFound,
    /// A command named a shipment the order does not have.
    #[error("the order has no shipment {0}")]
    UnknownShipment(u32),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The command is well-formed but not allowed in the order's current state.
    #[error("{message}")]
    Rejected {
        status: Status,
        code: &'static str,
        message: String,
    },
}

/// The request itself is wrong: `field` names what to fix.
pub(super) fn invalid(field: impl Into<String>, message: impl Into<String>) -> DomainError {
    DomainError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The request is well-formed but the order's current state does not allow it.
pub(super) fn rejected(
    order: &Order,
    code: &'static str,
    message: impl Into<String>,
) -> DomainError {
    DomainError::Rejected {
        status: order.status,
        code,
        message: message.into(),
    }
}
