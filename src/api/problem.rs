//! RFC 9457 problem details: the one shape every error takes at the HTTP edge.
//!
//! Engine errors are typed; this is the single place that maps them to a status code and a
//! message a client developer can act on. Nothing here returns 500 for anything a client sent.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use orderly_actors::domain::inventory::transfer::TransferError;
use orderly_actors::domain::inventory::StockError;
use orderly_actors::domain::stock_alerts::AlertError;
use orderly_actors::domain::DomainError;
use orderly_actors::engine::previews::PreviewError;
use orderly_actors::engine::quotes::QuoteError;
use orderly_actors::engine::EngineError;
use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem, e.g. `/problems/cancel_not_allowed`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The order's status when a command was refused because of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_status: Option<String>,
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip)]
    retry_after: Option<u32>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            current_status: None,
            field: None,
            retry_after: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail);
        p.field = Some(field.to_string());
        p
    }

    fn unavailable(code: &str, detail: impl Into<String>) -> Self {
        let mut p = Problem::new(StatusCode::SERVICE_UNAVAILABLE, code, detail);
        p.retry_after = Some(1);
        p
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST)
    }

    fn error_response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status_code());
        b.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if let Some(s) = self.retry_after {
            b.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        if self.status == 401 {
            b.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        b.body(serde_json::to_string(self).unwrap_or_default())
    }
}

impl From<EngineError> for Problem {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Domain(d) => d.into(),
            EngineError::NotFound => Problem::not_found("no order with this id"),
            EngineError::UnknownTrackingNumber(tn) => {
                Problem::not_found(format!("unknown tracking number '{tn}'"))
            }
            EngineError::Overloaded | EngineError::Retry | EngineError::ShuttingDown => {
                Problem::unavailable("overloaded", "the order is busy; retry shortly")
            }
            EngineError::ActorFailed => Problem::unavailable("actor_failed", e.to_string()),
            EngineError::Storage(s) => {
                tracing::error!(error = %s, "storage error");
                Problem::unavailable(
                    "storage_unavailable",
                    "storage is unavailable; the change was not made",
                )
            }
            EngineError::IdempotencyMismatch => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                e.to_string(),
            ),
            EngineError::IdempotencyInProgress => Problem::new(
                StatusCode::CONFLICT,
                "idempotency_in_progress",
                e.to_string(),
            ),
            EngineError::NoCarrier(_) => {
                Problem::new(StatusCode::CONFLICT, "no_carrier", e.to_string())
            }
            EngineError::Carrier(b) => Problem::unavailable("carrier_unavailable", b.to_string()),
            EngineError::Quote(q @ QuoteError::OutOfStock(_)) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "out_of_stock",
                q.to_string(),
            ),
            EngineError::Quote(q @ QuoteError::Unreachable { .. }) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unreachable",
                q.to_string(),
            ),
            EngineError::BackupRunning => {
                Problem::new(StatusCode::CONFLICT, "backup_running", e.to_string())
            }
            EngineError::BackupTarget(why) => {
                let mut p = Problem::new(StatusCode::CONFLICT, "backup_target", why);
                p.field = Some("dir".into());
                p
            }
            EngineError::BackupUnsupported(why) => {
                Problem::new(StatusCode::NOT_IMPLEMENTED, "backup_unsupported", why)
            }
            EngineError::Stock(StockError::Negative) => {
                Problem::invalid("on_hand", "on_hand must not be negative")
            }
            EngineError::Stock(s @ StockError::BelowReserved { .. }) => {
                Problem::new(StatusCode::CONFLICT, "below_reserved", s.to_string())
            }
            EngineError::Stock(StockError::NegativeCap) => {
                Problem::invalid("cap", "cap must not be negative")
            }
            EngineError::Stock(StockError::NotAvailable {
                line,
                warehouse,
                sku,
                available,
            }) => {
                let field = format!("lines[{line}].quantity");
                Problem::invalid(
                    &field,
                    format!("{field}: only {available} of '{sku}' are available at {warehouse}"),
                )
            }
            EngineError::Transfer(TransferError::Invalid { field, message }) => {
                Problem::invalid(&field, format!("{field}: {message}"))
            }
            EngineError::Transfer(t @ TransferError::NotInTransit(_)) => {
                Problem::new(StatusCode::CONFLICT, "transfer_closed", t.to_string())
            }
            EngineError::Transfer(t @ TransferError::PartlyReceived) => Problem::new(
                StatusCode::CONFLICT,
                "transfer_partly_received",
                t.to_string(),
            ),
            EngineError::NoTransfer(id) => {
                Problem::not_found(format!("no transfer with id '{id}'"))
            }
            EngineError::Alert(AlertError::Invalid { field, message }) => {
                Problem::invalid(&field, format!("{field}: {message}"))
            }
            EngineError::Alert(a @ AlertError::Full { .. }) => {
                let mut p = Problem::new(StatusCode::CONFLICT, "subscriptions_full", a.to_string());
                p.field = Some("sku".into());
                p
            }
            EngineError::Preview(PreviewError::Unknown { field, detail }) => {
                Problem::invalid(field, format!("{field}: {detail}"))
            }
            EngineError::Preview(p @ PreviewError::NotAboutAnOrder(_)) => {
                Problem::invalid("order_id", p.to_string())
            }
            EngineError::Preview(p @ PreviewError::Template(_)) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "template_failed",
                p.to_string(),
            ),
            EngineError::Config(why) => {
                tracing::error!(error = %why, "configuration");
                Problem::unavailable("misconfigured", "the service is misconfigured")
            }
            EngineError::Stock(s @ StockError::CapBelowWaiting { .. }) => {
                let mut p = Problem::new(StatusCode::CONFLICT, "cap_below_waiting", s.to_string());
                p.field = Some("cap".into());
                p
            }
        }
    }
}

impl From<DomainError> for Problem {
    fn from(d: DomainError) -> Self {
        match d {
            DomainError::NotFound => Problem::not_found("no order with this id"),
            DomainError::UnknownShipment(n) => {
                Problem::not_found(format!("shipment: the order has no shipment {n}"))
            }
            DomainError::Invalid { field, message } => {
                Problem::invalid(&field, format!("{field}: {message}"))
            }
            DomainError::Rejected {
                status,
                code,
                message,
            } => {
                let mut p = Problem::new(
                    StatusCode::CONFLICT,
                    code,
                    format!("{message} (current status: {})", status.as_str()),
                );
                p.current_status = Some(status.as_str().to_string());
                p
            }
        }
    }
}

/// Turns actix's path and query errors into problems (bodies: `body::Body`).
pub fn path_error(
    err: actix_web::error::PathError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    Problem::not_found(format!("no such resource: {err}")).into()
}

pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    Problem::bad_request(format!("invalid query string: {err}")).into()
}
