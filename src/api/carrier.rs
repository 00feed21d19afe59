//! Carrier webhooks and the public tracking page.

use super::auth::Role;
use super::problem::Problem;
use super::views::{CarrierEventAck, Tracking};
use super::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use orderly_actors::domain::CarrierEventKind;
use orderly_actors::engine::{CarrierScan, EngineError};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CarrierEventBody {
    /// The carrier's id for this event; a repeated id is ignored.
    event_id: String,
    tracking_number: String,
    #[serde(rename = "type")]
    kind: CarrierEventKind,
    occurred_at: DateTime<Utc>,
    location: Option<String>,
}

#[utoipa::path(post, path = "/v1/carriers/{carrier}/events", tag = "carrier", request_body = CarrierEventBody,
    responses((status = 200, body = CarrierEventAck), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn event(
    state: web::Data<AppState>,
    req: HttpRequest,
    carrier: web::Path<String>,
    body: web::Json<CarrierEventBody>,
) -> Result<HttpResponse, Problem> {
    let carrier = carrier.into_inner();
    state
        .keys
        .require(&req, &[Role::Carrier(carrier.clone())])?;
    let b = body.into_inner();
    if b.tracking_number.len() > 64 {
        return Err(Problem::not_found("unknown tracking number"));
    }
    let scan = CarrierScan {
        event_id: b.event_id,
        tracking_number: b.tracking_number,
        kind: b.kind,
        occurred_at: b.occurred_at,
        location: b.location,
    };
    let done = state.engine.carrier_event(carrier, scan).await?;
    Ok(HttpResponse::Ok().json(CarrierEventAck {
        order_status: done.order_status,
        version: done.version,
        applied: done.applied,
    }))
}

#[utoipa::path(get, path = "/v1/track/{token}", tag = "tracking",
    responses((status = 200, description = "Status and timeline; no personal data", body = Tracking), (status = 404, body = Problem)))]
pub async fn track(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let unknown = || Problem::not_found("unknown tracking token");
    if token.len() != 40 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(unknown());
    }
    let view = match state.engine.tracking(&token) {
        Err(EngineError::NotFound) => return Err(unknown()),
        other => other?,
    };
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(Tracking::new(&view.order, &view.history)))
}
