//! Answers to failed deliveries: the shop (storefront key) or the customer (tracking token)
//! tells Orderly what to do with a shipment the carrier could not deliver — try again,
//! optionally on a date with notes for the driver, or bring it back. Both routes run the same
//! engine command; the answer then reaches the shipment's carrier through its adapter.

use super::auth::Role;
use super::body::Body;
use super::problem::Problem;
use super::schema::order::OrderDetail;
use super::schema::requests::{ExceptionAnswerBody, ShipmentPath, TrackShipmentPath};
use super::schema::views::Tracking;
use super::storefront::order_response;
use super::warehouse::parse_shipment;
use super::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use orderly_actors::engine::EngineError;

#[utoipa::path(post, path = "/v1/orders/{id}/shipments/{shipment}/exception", tag = "storefront",
    params(ShipmentPath), request_body = ExceptionAnswerBody,
    responses((status = 200, description = "Answered; a reattempt or the return goes to the carrier", body = OrderDetail),
        (status = 404, description = "`/problems/not_found`: no order with this id, or no such shipment on it", body = Problem),
        (status = 409, description = "`/problems/no_open_exception`: the shipment has no failed delivery waiting for an answer", body = Problem),
        (status = 422, description = "`/problems/validation`: a date in the past or more than 30 days ahead, notes too long, or a date or notes with `return_to_origin`", body = Problem)),
    security(("storefront" = []), ("admin" = [])))]
pub async fn answer(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<ShipmentPath>,
    body: Body<ExceptionAnswerBody>,
) -> Result<HttpResponse, Problem> {
    let role = state.keys.require(&req, &[Role::Storefront])?.role;
    let (id, shipment) = parse_shipment(&path)?;
    let answer = body.into_inner().try_into()?;
    let by = role.storefront_cause();
    let view = state
        .engine
        .answer_exception(id, shipment, answer, by)
        .await?;
    Ok(order_response(StatusCode::OK, view))
}

#[utoipa::path(post, path = "/v1/track/{token}/shipments/{shipment}/exception", tag = "tracking",
    params(TrackShipmentPath), request_body = ExceptionAnswerBody,
    responses((status = 200, description = "Answered; the tracking view, no personal data", body = Tracking,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 404, description = "`/problems/not_found`: unknown tracking token, or no such shipment", body = Problem),
        (status = 409, description = "`/problems/no_open_exception`: the shipment has no failed delivery waiting for an answer", body = Problem),
        (status = 422, description = "`/problems/validation`: a date in the past or more than 30 days ahead, notes too long, or a date or notes with `return_to_origin`", body = Problem)))]
pub async fn answer_by_token(
    state: web::Data<AppState>,
    path: web::Path<TrackShipmentPath>,
    body: Body<ExceptionAnswerBody>,
) -> Result<HttpResponse, Problem> {
    let path = path.into_inner();
    let unknown = || Problem::not_found("unknown tracking token");
    if path.token.len() != 40 || !path.token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(unknown());
    }
    let shipment = path
        .shipment
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| Problem::not_found("no such shipment on this order"))?;
    let answer = body.into_inner().try_into()?;
    let view = match state
        .engine
        .answer_exception_by_token(&path.token, shipment, answer)
        .await
    {
        Err(EngineError::NotFound) => return Err(unknown()),
        other => other?,
    };
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(Tracking::new(&view.order, view.history.milestones()?)))
}
