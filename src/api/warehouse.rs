//! Warehouse terminal endpoints: what to pick, picks, packing, labels, hand-over, returns in.
//!
//! Picks, packing, labels and hand-over act on one shipment of an order. The per-shipment
//! routes (`/v1/orders/{id}/shipments/{shipment}/…`) serve every order; the order-level routes
//! (`/v1/orders/{id}/picks`, `/pack`, `/label`, `/handover`) keep serving as before: picks and
//! packing name their warehouse, which names the shipment; the label is the first booked
//! shipment's; hand-over hands over every packed and booked shipment.
//!
//! Each one acts for a warehouse: named in the path or body (checked by `check_warehouse`:
//! valid, and configured when warehouses are), or the shipment's (label, hand-over and every
//! per-shipment route). A key bound to some warehouses gets 403 for the others
//! (`Caller::may_act_for`, `Caller::may_act_for_shipment`).

use super::auth::Role;
use super::body::Body;
use super::problem::Problem;
use super::schema::order::OrderDetail;
use super::schema::requests::{
    OrderPath, PackBody, PickQuery, PicksBody, ReceiveBody, ShipmentPackBody, ShipmentPath,
    ShipmentPicksBody, WarehousePath,
};
use super::schema::values::LineQty;
use super::schema::views::{Pdf, PickList, PickOrder};
use super::storefront::order_response;
use super::{check_warehouse, page_size, parse_cursor, parse_id, AppState};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use orderly_actors::domain as d;
use orderly_actors::domain::WarehouseId;
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
    let warehouse = check_warehouse(&state.engine, &warehouse)?;
    caller.may_act_for(&warehouse)?;
    let limit = page_size(q.limit)?;
    let after = parse_cursor(q.cursor.as_deref())?;
    let orders = state.engine.picks(&warehouse, after, limit).await?;
    let next_cursor = (orders.len() == limit)
        .then(|| orders.last().map(|o| o.id.to_string()))
        .flatten();
    Ok(HttpResponse::Ok().json(PickList {
        warehouse: warehouse.to_string(),
        orders: orders
            .into_iter()
            .map(|o| PickOrder::at(o, &warehouse))
            .collect(),
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
    body: Body<PicksBody>,
) -> Result<HttpResponse, Problem> {
    let b = body.into_inner();
    run(
        &state,
        &req,
        &path.id,
        b.warehouse,
        |engine, id, warehouse| {
            engine.acknowledge_picks(id, d::ShipmentRef::At(warehouse), domain_lines(b.lines))
        },
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
    body: Body<PackBody>,
) -> Result<HttpResponse, Problem> {
    let b = body.into_inner();
    let parcels = b.parcels.into_iter().map(Into::into).collect();
    run(
        &state,
        &req,
        &path.id,
        b.warehouse,
        |engine, id, warehouse| engine.pack(id, d::ShipmentRef::At(warehouse), parcels),
    )
    .await
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
    caller.may_act_for_shipment(&order, None)?;
    let pdf = crate::label::shipping_label(&order, None).ok_or_else(|| {
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
    caller.may_act_for_order_id(&state.engine, id, None).await?;
    let view = state.engine.hand_over(id, None).await?;
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
    body: Body<ReceiveBody>,
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

#[utoipa::path(post, path = "/v1/orders/{id}/shipments/{shipment}/picks", tag = "warehouse", params(ShipmentPath), request_body = ShipmentPicksBody,
    responses((status = 200, body = OrderDetail),
        (status = 403, description = "`/problems/forbidden`: the key's role may not call this, or the key is bound to warehouses other than the shipment's", body = Problem),
        (status = 404, description = "`/problems/not_found`: no order with this id, or no such shipment on it", body = Problem),
        (status = 409, description = "`/problems/picks_not_allowed` (order not confirmed, or the shipment is packed) or `/problems/over_pick`", body = Problem),
        (status = 422, description = "`/problems/validation`: a sku not in the shipment or twice, a zero quantity", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn shipment_picks(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<ShipmentPath>,
    body: Body<ShipmentPicksBody>,
) -> Result<HttpResponse, Problem> {
    let lines = domain_lines(body.into_inner().lines);
    run_on_shipment(&state, &req, &path, |engine, id, shipment| {
        engine.acknowledge_picks(id, d::ShipmentRef::Id(shipment), lines)
    })
    .await
}

#[utoipa::path(post, path = "/v1/orders/{id}/shipments/{shipment}/pack", tag = "warehouse", params(ShipmentPath), request_body = ShipmentPackBody,
    responses((status = 200, description = "Packed; carrier booked and label ready (the shipment's label_url)", body = OrderDetail),
        (status = 403, description = "`/problems/forbidden`: the key's role may not call this, or the key is bound to warehouses other than the shipment's", body = Problem),
        (status = 404, description = "`/problems/not_found`: no order with this id, or no such shipment on it", body = Problem),
        (status = 409, description = "`/problems/pack_not_allowed`, `/problems/not_fully_picked`, or `/problems/no_carrier`: no configured carrier can ship it", body = Problem),
        (status = 422, description = "`/problems/validation`: parcels out of range", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn shipment_pack(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<ShipmentPath>,
    body: Body<ShipmentPackBody>,
) -> Result<HttpResponse, Problem> {
    let parcels = body
        .into_inner()
        .parcels
        .into_iter()
        .map(Into::into)
        .collect();
    run_on_shipment(&state, &req, &path, |engine, id, shipment| {
        engine.pack(id, d::ShipmentRef::Id(shipment), parcels)
    })
    .await
}

#[utoipa::path(get, path = "/v1/orders/{id}/shipments/{shipment}/label", tag = "warehouse", params(ShipmentPath),
    responses((status = 200, content_type = "application/pdf", description = "The shipment's label", body = Pdf),
        (status = 403, description = "`/problems/forbidden`: the key's role may not call this, or the key is bound to warehouses other than the shipment's", body = Problem),
        (status = 404, description = "`/problems/not_found`: no such order or shipment, or the shipment is not booked yet", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn shipment_label(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<ShipmentPath>,
) -> Result<HttpResponse, Problem> {
    let caller = state.keys.require(&req, WAREHOUSE)?;
    let (id, shipment) = parse_shipment(&path)?;
    let order = state.engine.order(id).await?;
    if order.shipment(shipment).is_none() {
        return Err(d::DomainError::UnknownShipment(shipment).into());
    }
    caller.may_act_for_shipment(&order, Some(shipment))?;
    let pdf = crate::label::shipping_label(&order, Some(shipment)).ok_or_else(|| {
        Problem::not_found(format!(
            "the label is not ready: shipment {shipment} is not booked yet"
        ))
    })?;
    Ok(HttpResponse::Ok().content_type("application/pdf").body(pdf))
}

#[utoipa::path(post, path = "/v1/orders/{id}/shipments/{shipment}/handover", tag = "warehouse", params(ShipmentPath),
    responses((status = 200, body = OrderDetail),
        (status = 403, description = "`/problems/forbidden`: the key's role may not call this, or the key is bound to warehouses other than the shipment's", body = Problem),
        (status = 404, description = "`/problems/not_found`: no order with this id, or no such shipment on it", body = Problem),
        (status = 409, description = "`/problems/handover_not_allowed` (the shipment is not packed) or `/problems/label_not_ready`", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn shipment_handover(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<ShipmentPath>,
) -> Result<HttpResponse, Problem> {
    run_on_shipment(&state, &req, &path, |engine, id, shipment| {
        engine.hand_over(id, Some(shipment))
    })
    .await
}

/// The order id and shipment number of a per-shipment path; a number that cannot be a
/// shipment is a 404 naming it, as an unknown one is.
pub(super) fn parse_shipment(path: &ShipmentPath) -> Result<(uuid::Uuid, u32), Problem> {
    let id = parse_id(&path.id)?;
    let shipment = path
        .shipment
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| {
            Problem::not_found(format!(
                "shipment: '{}' is not a shipment of this order",
                path.shipment.chars().take(40).collect::<String>()
            ))
        })?;
    Ok((id, shipment))
}

/// Runs a warehouse command on one shipment, after checking the role, the path and (for a key
/// bound to warehouses) that the shipment is at one of them.
async fn run_on_shipment<'e, F>(
    state: &'e AppState,
    req: &HttpRequest,
    path: &ShipmentPath,
    command: impl FnOnce(&'e Engine, uuid::Uuid, u32) -> F,
) -> Result<HttpResponse, Problem>
where
    F: Future<Output = Result<OrderView, EngineError>>,
{
    let caller = state.keys.require(req, WAREHOUSE)?;
    let (id, shipment) = parse_shipment(path)?;
    caller
        .may_act_for_order_id(&state.engine, id, Some(shipment))
        .await?;
    let view = command(&state.engine, id, shipment).await?;
    Ok(order_response(StatusCode::OK, view))
}

/// Runs a warehouse command that names its warehouse, after checking the role, the id, the
/// warehouse name and that the caller may act for it (in that order, so a caller without the
/// role learns nothing else).
async fn run<'e, F>(
    state: &'e AppState,
    req: &HttpRequest,
    id: &str,
    warehouse: String,
    command: impl FnOnce(&'e Engine, uuid::Uuid, WarehouseId) -> F,
) -> Result<HttpResponse, Problem>
where
    F: Future<Output = Result<OrderView, EngineError>>,
{
    let caller = state.keys.require(req, WAREHOUSE)?;
    let id = parse_id(id)?;
    let warehouse = check_warehouse(&state.engine, &warehouse)?;
    caller.may_act_for(&warehouse)?;
    let view = command(&state.engine, id, warehouse).await?;
    Ok(order_response(StatusCode::OK, view))
}
