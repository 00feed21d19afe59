//! Transfers of stock between warehouses: an admin creates one (`Idempotency-Key` required),
//! the destination's warehouse key receives it (all at once or in parts), an admin may call it
//! off before anything arrived; admin and warehouse keys list and read them (a key bound to
//! warehouses sees the transfers from or to its own).

use super::auth::{Caller, Role};
use super::body::Body;
use super::problem::Problem;
use super::schema::requests::{
    IdempotencyKey, ReceiptBody, TransferBody, TransferPath, TransferQuery,
};
use super::schema::views::{Transfer, TransferPage};
use super::{check_warehouse_field, page_size, parse_cursor, AppState};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use orderly_actors::domain::inventory::transfer::{Transfer as Stored, TransferId};
use orderly_actors::engine::Created;
use uuid::Uuid;

fn parse_transfer_id(s: &str) -> Result<TransferId, Problem> {
    Uuid::parse_str(s).map_err(|_| Problem::not_found(format!("no transfer with id '{s}'")))
}

/// Whether `caller` may see `t`: admin, an unbound warehouse key, or one bound to either end.
fn may_see(caller: &Caller, t: &Stored) -> bool {
    caller.may_act_for(&t.from).is_ok() || caller.may_act_for(&t.to).is_ok()
}

#[utoipa::path(post, path = "/v1/transfers", tag = "admin", params(IdempotencyKey), request_body = TransferBody,
    responses((status = 201, description = "Dispatched: the units left `from` and are incoming at `to`", body = Transfer,
            headers(("Location" = String, description = "The transfer's URL"))),
        (status = 200, description = "The same request again under the same key: the transfer as it is now", body = Transfer),
        (status = 400, description = "`/problems/bad_request`: Idempotency-Key missing or not 1-255 visible ASCII characters, or malformed JSON", body = Problem),
        (status = 422, description = "`/problems/validation` (`field`: `from`, `to`, `lines`, `lines[i].sku`, `lines[i].quantity`): an unknown warehouse, a transfer to itself, a sku twice, a quantity of 0 or above 1,000,000, more than is available at `from`; or `/problems/idempotency_key_reused`", body = Problem)),
    security(("admin" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body<TransferBody>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Admin])?;
    let key = IdempotencyKey::from_request(&req)?;
    let b = body.into_inner();
    let from = check_warehouse_field(&state.engine, "from", &b.from)?;
    let to = check_warehouse_field(&state.engine, "to", &b.to)?;
    let lines = b.lines.into_iter().map(Into::into).collect();
    match state.engine.create_transfer(key, from, to, lines).await? {
        Created::New(t) => Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, format!("/v1/transfers/{}", t.id)))
            .json(Transfer::from(t))),
        Created::Repeated(t) => Ok(HttpResponse::Ok()
            .insert_header(("Idempotent-Replayed", "true"))
            .json(Transfer::from(t))),
    }
}

#[utoipa::path(get, path = "/v1/transfers", tag = "admin", params(TransferQuery),
    responses((status = 200, description = "Newest first; a key bound to warehouses sees those from or to them", body = TransferPage),
        (status = 400, description = "`/problems/bad_request`: a limit out of range or a cursor that is not one", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<TransferQuery>,
) -> Result<HttpResponse, Problem> {
    let caller = state.keys.require(&req, &[Role::Admin, Role::Warehouse])?;
    let limit = page_size(q.limit)?;
    let cursor = parse_cursor(q.cursor.as_deref())?;
    let page = state.engine.transfers(cursor, limit).await?;
    let next_cursor = (page.len() == limit)
        .then(|| page.last().map(|t| t.id.to_string()))
        .flatten();
    Ok(HttpResponse::Ok().json(TransferPage {
        transfers: page
            .into_iter()
            .filter(|t| may_see(&caller, t))
            .map(Transfer::from)
            .collect(),
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/transfers/{id}", tag = "admin", params(TransferPath),
    responses((status = 200, body = Transfer),
        (status = 403, description = "`/problems/forbidden`: a key bound to other warehouses", body = Problem),
        (status = 404, description = "`/problems/not_found`: no transfer with this id", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<TransferPath>,
) -> Result<HttpResponse, Problem> {
    let caller = state.keys.require(&req, &[Role::Admin, Role::Warehouse])?;
    let id = parse_transfer_id(&path.id)?;
    let t = state.engine.transfer(id).await?;
    if !may_see(&caller, &t) {
        caller.may_act_for(&t.to)?;
    }
    Ok(HttpResponse::Ok().json(Transfer::from(t)))
}

#[utoipa::path(post, path = "/v1/transfers/{id}/receive", tag = "warehouse", params(TransferPath), request_body = ReceiptBody,
    responses((status = 200, description = "Received: the units are on hand at the destination (backordered orders waiting for them are filled); `received` once every unit arrived", body = Transfer),
        (status = 403, description = "`/problems/forbidden`: a key not bound to the destination", body = Problem),
        (status = 404, description = "`/problems/not_found`: no transfer with this id", body = Problem),
        (status = 409, description = "`/problems/transfer_closed`: received or cancelled already", body = Problem),
        (status = 422, description = "`/problems/validation` (`field`: `lines`, `lines[i].sku`, `lines[i].quantity`): a sku not on the transfer, twice, or more than is in transit", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn receive(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<TransferPath>,
    body: Body<ReceiptBody>,
) -> Result<HttpResponse, Problem> {
    let caller = state.keys.require(&req, &[Role::Admin, Role::Warehouse])?;
    let id = parse_transfer_id(&path.id)?;
    let t = state.engine.transfer(id).await?;
    caller.may_act_for(&t.to)?;
    let lines = body
        .into_inner()
        .lines
        .into_iter()
        .map(Into::into)
        .collect();
    let t = state.engine.receive_transfer(id, lines).await?;
    Ok(HttpResponse::Ok().json(Transfer::from(t)))
}

#[utoipa::path(post, path = "/v1/transfers/{id}/cancel", tag = "admin", params(TransferPath),
    responses((status = 200, description = "Cancelled: the units are back on hand at the source", body = Transfer),
        (status = 404, description = "`/problems/not_found`: no transfer with this id", body = Problem),
        (status = 409, description = "`/problems/transfer_closed`: received or cancelled already; `/problems/transfer_partly_received`: some units arrived", body = Problem)),
    security(("admin" = [])))]
pub async fn cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<TransferPath>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Admin])?;
    let id = parse_transfer_id(&path.id)?;
    let t = state.engine.cancel_transfer(id).await?;
    Ok(HttpResponse::Ok().json(Transfer::from(t)))
}
