//! Warehouse terminal endpoints: what to pick, picks, packing, labels, hand-over, returns in.

use super::auth::Role;
use super::problem::Problem;
use super::storefront::order_response;
use super::views::{PickList, PickOrder};
use super::{check_warehouse, page_size, parse_cursor, parse_id, AppState};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use orderly_actors::domain::{LineQty, Parcel};
use orderly_actors::engine::{Engine, EngineError, OrderView};
use serde::Deserialize;
use std::future::Future;
use utoipa::{IntoParams, ToSchema};

const WAREHOUSE: &[Role] = &[Role::Warehouse];

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PickQuery {
    /// Page size, 1-200 (default 50).
    limit: Option<usize>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/warehouses/{warehouse}/picks", tag = "warehouse", params(PickQuery),
    responses((status = 200, description = "Confirmed orders to pick, oldest first", body = PickList)), security(("bearer" = [])))]
pub async fn picks(
    state: web::Data<AppState>,
    req: HttpRequest,
    warehouse: web::Path<String>,
    q: web::Query<PickQuery>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, WAREHOUSE)?;
    check_warehouse(&warehouse)?;
    let limit = page_size(q.limit)?;
    let after = parse_cursor(q.cursor.as_deref())?;
    let orders = state.engine.picks(&warehouse, after, limit)?;
    let next_cursor = (orders.len() == limit)
        .then(|| orders.last().map(|o| o.id.to_string()))
        .flatten();
    Ok(HttpResponse::Ok().json(PickList {
        warehouse: warehouse.into_inner(),
        orders: orders.into_iter().map(PickOrder::new).collect(),
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PicksBody {
    warehouse: String,
    /// Units picked now; they add up over several calls, up to the ordered quantity.
    lines: Vec<LineQty>,
}

#[utoipa::path(post, path = "/v1/orders/{id}/picks", tag = "warehouse", request_body = PicksBody,
    responses((status = 200, body = super::views::OrderBody), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn acknowledge_picks(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<PicksBody>,
) -> Result<HttpResponse, Problem> {
    let b = body.into_inner();
    run(&state, &req, &id, b.warehouse, |engine, id, warehouse| {
        engine.acknowledge_picks(id, warehouse, b.lines)
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackBody {
    warehouse: String,
    parcels: Vec<Parcel>,
}

#[utoipa::path(post, path = "/v1/orders/{id}/pack", tag = "warehouse", request_body = PackBody,
    responses((status = 200, description = "Packed; carrier booked and label ready (label_url)", body = super::views::OrderBody), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn pack(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<PackBody>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, WAREHOUSE)?;
    let id = parse_id(&id)?;
    let b = body.into_inner();
    check_warehouse(&b.warehouse)?;
    let view = state.engine.pack(id, b.warehouse, b.parcels).await?;
    Ok(order_response(StatusCode::OK, view))
}

#[utoipa::path(get, path = "/v1/orders/{id}/label", tag = "warehouse",
    responses((status = 200, content_type = "application/pdf", description = "Shipping label"), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn label(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, WAREHOUSE)?;
    let order = state.engine.order(parse_id(&id)?)?;
    let pdf = crate::label::shipping_label(&order).ok_or_else(|| {
        Problem::not_found("the label is not ready: the order has no booked shipment yet")
    })?;
    Ok(HttpResponse::Ok().content_type("application/pdf").body(pdf))
}

#[utoipa::path(post, path = "/v1/orders/{id}/handover", tag = "warehouse",
    responses((status = 200, body = super::views::OrderBody), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn handover(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, WAREHOUSE)?;
    let id = parse_id(&id)?;
    let view = state.engine.hand_over(id).await?;
    Ok(order_response(StatusCode::OK, view))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveBody {
    warehouse: String,
    lines: Vec<LineQty>,
}

#[utoipa::path(post, path = "/v1/orders/{id}/returns/receive", tag = "warehouse", request_body = ReceiveBody,
    responses((status = 200, description = "Restocked and returned; refund issued", body = super::views::OrderBody), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn receive_return(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<ReceiveBody>,
) -> Result<HttpResponse, Problem> {
    let b = body.into_inner();
    run(&state, &req, &id, b.warehouse, |engine, id, warehouse| {
        engine.receive_return(id, warehouse, b.lines)
    })
    .await
}

/// Runs a warehouse command that names its warehouse, after checking the role, the id and the
/// warehouse name (in that order, so a caller without the role learns nothing else).
async fn run<'e, F>(
    state: &'e AppState,
    req: &HttpRequest,
    id: &str,
    warehouse: String,
    command: impl FnOnce(&'e Engine, uuid::Uuid, String) -> F,
) -> Result<HttpResponse, Problem>
where
    F: Future<Output = Result<OrderView, EngineError>>,
{
    state.keys.require(req, WAREHOUSE)?;
    let id = parse_id(id)?;
    check_warehouse(&warehouse)?;
    let view = command(&state.engine, id, warehouse).await?;
    Ok(order_response(StatusCode::OK, view))
}
