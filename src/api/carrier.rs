//! Carrier webhooks and the public tracking page.

use super::auth::Role;
use super::body::Body;
use super::problem::Problem;
use super::schema::requests::{CarrierEventBody, CarrierPath, TrackingPath};
use super::schema::views::{CarrierEventAck, Tracking};
use super::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use orderly_actors::engine::EngineError;

#[utoipa::path(post, path = "/v1/carriers/{carrier}/events", tag = "carrier", params(CarrierPath), request_body = CarrierEventBody,
    responses((status = 200, body = CarrierEventAck),
        (status = 404, description = "`/problems/not_found`: unknown tracking number", body = Problem),
        (status = 409, description = "`/problems/no_shipment`, `/problems/wrong_carrier` or `/problems/too_many_events`", body = Problem),
        (status = 422, description = "`/problems/validation`: event_id or location not acceptable", body = Problem)),
    security(("carrier" = []), ("admin" = [])))]
pub async fn event(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<CarrierPath>,
    body: Body<CarrierEventBody>,
) -> Result<HttpResponse, Problem> {
    let carrier = path.into_inner().carrier;
    state
        .keys
        .require(&req, &[Role::Carrier(carrier.clone())])?;
    let b = body.into_inner();
    if b.tracking_number.len() > 64 {
        return Err(Problem::not_found("unknown tracking number"));
    }
    let done = state.engine.carrier_event(carrier, b.try_into()?).await?;
    Ok(HttpResponse::Ok().json(CarrierEventAck::from(done)))
}

#[utoipa::path(get, path = "/v1/track/{token}", tag = "tracking", params(TrackingPath),
    responses((status = 200, description = "Status and timeline; no personal data", body = Tracking,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 404, description = "`/problems/not_found`: unknown tracking token", body = Problem)))]
pub async fn track(
    state: web::Data<AppState>,
    path: web::Path<TrackingPath>,
) -> Result<HttpResponse, Problem> {
    let token = path.into_inner().token;
    let unknown = || Problem::not_found("unknown tracking token");
    if token.len() != 40 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(unknown());
    }
    let view = match state.engine.tracking(&token).await {
        Err(EngineError::NotFound) => return Err(unknown()),
        other => other?,
    };
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(Tracking::new(&view.order, view.history.milestones()?)))
}
