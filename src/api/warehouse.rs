//! Warehouse terminal endpoints: what to pick, picks, packing, labels, hand-over, returns in.
//!
//! Each one acts for a warehouse: named in the path or body (checked by `check_warehouse`:
//! valid, and configured when warehouses are), or, for label and hand-over, the one the order
//! is served from. A key bound to some warehouses gets 403 for the others
//! (`Caller::may_act_for`).

use super::auth::Role;
use super::problem::Problem;
use super::schema::order::OrderDetail;
use super::schema::requests::{
    OrderPath, PackBody, PickQuery, PicksBody, ReceiveBody, WarehousePath,
};
use super::schema::values::LineQty;
use super::schema::views::{Pdf, PickList, PickOrder};
use super::storefront::order_response;
use super::{check_warehouse, page_size, parse_cursor, parse_id, AppState};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use orderly_actors::domain as d;
use orderly_actors::engine::{Engine, EngineError, OrderView};
use std::future::Future;

const WAREHOUSE: &[Role] = &[Role::Warehouse];

fn domain_lines(lines: Vec<LineQty>) -> Vec<d::LineQty> {
    lines.into_iter().map(Into::into).collect()
}

#[utoipa::path(get, path = "/v1/warehouses/{warehouse}/picks", tag = "warehouse", params(WarehousePath, PickQuery),
    responses((status = 200, description = "Confirmed orders to pick, oldest first", body = PickList),
        (status = 400, description = "`/problems/bad_request`: limit out of range, bad cursor or unknown parameter", body = Problem),
        (status = 403, description = "`/problems/forbidden`: the key's role may not call this, or the key is bound to other warehouses", body = Problem),
        (status = 422, description = "`/problems/validation` (`field`: `warehouse`): not a warehouse id, or not a configured warehouse", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn picks(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<WarehousePath>,
    q: web::Query<PickQuery>,
) -> Result<HttpResponse, Problem> {
    let caller = state.keys.require(&req, WAREHOUSE)?;
    let warehouse = path.into_inner().warehouse;
    check_warehouse(&state.engine, &warehouse)?;
    caller.may_act_for(&warehouse)?;
    let limit = page_size(q.limit)?;
    let after = parse_cursor(q.cursor.as_deref())?;
    let orders = state.engine.picks(&warehouse, after, limit).await?;
    let next_cursor = (orders.len() == limit)
        .then(|| orders.last().map(|o| o.id.to_string()))
        .flatten();
    Ok(HttpResponse::Ok().json(PickList {
        warehouse,
        orders: orders.into_iter().map(PickOrder::from).collect(),
        next_cursor,
    }))
}

#[utoipa::path(post, path = "/v1/orders/{id}/picks", tag = "warehouse", params(OrderPath), request_body = PicksBody,
    responses((status = 200, body = OrderDetail),
        (status = 404, description = "`/problems/not_found`: no order with this id", body = Problem),
        (status = 409, description = "`/problems/picks_not_allowed`, `/problems/wrong_warehouse`, `/problems/no_reservation` or `/problems/over_pick`", body = Problem),
        (status = 403, description = "`/problems/forbidden`: the key's role may not call this, or the key is bound to warehouses other than the one named", body = Problem),
        (status = 422, description = "`/problems/validation`: a sku not on the order or twice, a zero quantity; `field` `warehouse`: not a warehouse id, or not a configured warehouse", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn acknowledge_picks(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<OrderPath>,
    body: web::Json<PicksBody>,
) -> Result<HttpResponse, Problem> {
    let b = body.into_inner();
    run(
        &state,
        &req,
        &path.id,
        b.warehouse,
        |engine, id, warehouse| engine.acknowledge_picks(id, warehouse, domain_lines(b.lines)),
    )
    .await
}

#[utoipa::path(post, path = "/v1/orders/{id}/pack", tag = "warehouse", params(OrderPath), request_body = PackBody,
    responses((status = 200, description = "Packed; carrier booked and label ready (label_url)", body = OrderDetail),
        (status = 404, description = "`/problems/not_found`: no order with this id", body = Problem),
        (status = 409, description = "`/problems/pack_not_allowed`, `/problems/not_fully_picked`, `/problems/wrong_warehouse`, or `/problems/no_carrier`: no configured carrier can ship it", body = Problem),
        (status = 403, description = "`/problems/forbidden`: the key's role may not call this, or the key is bound to warehouses other than the one named", body = Problem),
        (status = 422, description = "`/problems/validation`: parcels out of range; `field` `warehouse`: not a warehouse id, or not a configured warehouse", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn pack(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<OrderPath>,
    body: web::Json<PackBody>,
) -> Result<HttpResponse, Problem> {
    let caller = state.keys.require(&req, WAREHOUSE)?;
    let id = parse_id(&path.id)?;
    let b = body.into_inner();
    check_warehouse(&state.engine, &b.warehouse)?;
    caller.may_act_for(&b.warehouse)?;
    let parcels = b.parcels.into_iter().map(Into::into).collect();
    let view = state.engine.pack(id, b.warehouse, parcels).await?;
    Ok(order_response(StatusCode::OK, view))
}

#[utoipa::path(get, path = "/v1/orders/{id}/label", tag = "warehouse", params(OrderPath),
    responses((status = 200, content_type = "application/pdf", description = "Shipping label", body = Pdf),
        (status = 403, description = "`/problems/forbidden`: the key's role may not call this, or the key is bound to warehouses other than the order's", body = Problem),
        (status = 404, description = "`/problems/not_found`: no such order, or no booked shipment yet", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn label(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<OrderPath>,
) -> Result<HttpResponse, Problem> {
    let caller = state.keys.require(&req, WAREHOUSE)?;
    let order = state.engine.order(parse_id(&path.id)?).await?;
    caller.may_act_for_order(&order)?;
    let pdf = crate::label::shipping_label(&order).ok_or_else(|| {
        Problem::not_found("the label is not ready: the order has no booked shipment yet")
    })?;
    Ok(HttpResponse::Ok().content_type("application/pdf").body(pdf))
}

#[utoipa::path(post, path = "/v1/orders/{id}/handover", tag = "warehouse", params(OrderPath),
    responses((status = 200, body = OrderDetail),
        (status = 404, description = "`/problems/not_found`: no order with this id", body = Problem),
        (status = 403, description = "`/problems/forbidden`: the key's role may not call this, or the key is bound to warehouses other than the order's", body = Problem),
        (status = 409, description = "`/problems/handover_not_allowed` (the order is not packed) or `/problems/label_not_ready`", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn handover(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<OrderPath>,
) -> Result<HttpResponse, Problem> {
    let caller = state.keys.require(&req, WAREHOUSE)?;
    let id = parse_id(&path.id)?;
    caller.may_act_for_order_id(&state.engine, id).await?;
    let view = state.engine.hand_over(id).await?;
    Ok(order_response(StatusCode::OK, view))
}

#[utoipa::path(post, path = "/v1/orders/{id}/returns/receive", tag = "warehouse", params(OrderPath), request_body = ReceiveBody,
    responses((status = 200, description = "Restocked and returned; refund issued", body = OrderDetail),
        (status = 404, description = "`/problems/not_found`: no order with this id", body = Problem),
        (status = 409, description = "`/problems/no_open_return`: no approved return awaiting receipt", body = Problem),
        (status = 403, description = "`/problems/forbidden`: the key's role may not call this, or the key is bound to warehouses other than the one named", body = Problem),
        (status = 422, description = "`/problems/validation`: a sku not approved for return, or more than approved; `field` `warehouse`: not a warehouse id, or not a configured warehouse", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn receive_return(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<OrderPath>,
    body: web::Json<ReceiveBody>,
) -> Result<HttpResponse, Problem> {
    let b = body.into_inner();
    run(
        &state,
        &req,
        &path.id,
        b.warehouse,
        |engine, id, warehouse| engine.receive_return(id, warehouse, domain_lines(b.lines)),
    )
    .await
}

/// Runs a warehouse command that names its warehouse, after checking the role, the id, the
/// warehouse name and that the caller may act for it (in that order, so a caller without the
/// role learns nothing else).
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
    let caller = state.keys.require(req, WAREHOUSE)?;
    let id = parse_id(id)?;
    check_warehouse(&state.engine, &warehouse)?;
    caller.may_act_for(&warehouse)?;
    let view = command(&state.engine, id, warehouse).await?;
    Ok(order_response(StatusCode::OK, view))
}
