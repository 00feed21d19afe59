//! Storefront endpoints: place, pay, cancel, return, read.

use super::auth::Role;
use super::problem::Problem;
use super::views::{OrderBody, OrderPage, OrderSummary};
use super::{page_size, parse_cursor, parse_id, AppState};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use orderly_actors::domain::{Cause, LineQty, NewOrder, PaymentUpdate, Status};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

const STOREFRONT: &[Role] = &[Role::Storefront];

fn idempotency_key(req: &HttpRequest) -> Result<String, Problem> {
    let key = req
        .headers()
        .get("idempotency-key")
        .ok_or_else(|| {
            Problem::bad_request("the Idempotency-Key header is required when placing an order")
        })?
        .to_str()
        .map_err(|_| Problem::bad_request("Idempotency-Key must be visible ASCII"))?;
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Problem::bad_request(
            "Idempotency-Key must be 1-255 visible ASCII characters",
        ));
    }
    Ok(key.to_string())
}

pub(super) fn order_response(
    status: StatusCode,
    view: orderly_actors::engine::OrderView,
) -> HttpResponse {
    HttpResponse::build(status).json(OrderBody::new(view))
}

#[utoipa::path(post, path = "/v1/orders", tag = "storefront", request_body = NewOrder,
    params(("Idempotency-Key" = String, Header, description = "Required; the same key and body return the original response")),
    responses((status = 201, body = OrderBody), (status = 422, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn place(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<NewOrder>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, STOREFRONT)?;
    let key = idempotency_key(&req)?;
    let placed = state.engine.place(&key, body.into_inner()).await?;
    let id = placed.view.order.id;
    let mut resp = order_response(StatusCode::CREATED, placed.view);
    resp.headers_mut().insert(
        actix_web::http::header::LOCATION,
        actix_web::http::header::HeaderValue::from_str(&format!("/v1/orders/{id}"))
            .expect("uuid is ASCII"),
    );
    if placed.replayed {
        resp.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("idempotent-replayed"),
            actix_web::http::header::HeaderValue::from_static("true"),
        );
    }
    Ok(resp)
}

#[utoipa::path(get, path = "/v1/orders/{id}", tag = "storefront",
    responses((status = 200, body = OrderBody), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, STOREFRONT)?;
    let view = state.engine.order_with_history(parse_id(&id)?)?;
    Ok(order_response(StatusCode::OK, view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only orders in this status.
    status: Option<String>,
    /// Page size, 1-200 (default 50).
    limit: Option<usize>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/orders", tag = "storefront", params(ListQuery),
    responses((status = 200, body = OrderPage), (status = 400, body = Problem)), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, STOREFRONT)?;
    let limit = page_size(q.limit)?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            Status::parse(s).ok_or_else(|| Problem::bad_request(format!("unknown status '{s}'")))
        })
        .transpose()?;
    let cursor = parse_cursor(q.cursor.as_deref())?;
    let orders = state.engine.orders(status, cursor, limit)?;
    let next_cursor = (orders.len() == limit)
        .then(|| orders.last().map(|o| o.id.to_string()))
        .flatten();
    let orders = orders
        .into_iter()
        .map(|o| OrderSummary {
            total: o.total(),
            order: o,
        })
        .collect();
    Ok(HttpResponse::Ok().json(OrderPage {
        orders,
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentBody {
    status: PaymentUpdate,
    /// Minor units; must equal the order total for authorized/captured.
    amount: i64,
    reference: String,
}

#[utoipa::path(post, path = "/v1/orders/{id}/payments", tag = "storefront", request_body = PaymentBody,
    responses((status = 200, body = OrderBody), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn payment(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<PaymentBody>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, STOREFRONT)?;
    let id = parse_id(&id)?;
    let b = body.into_inner();
    let view = state
        .engine
        .pay(id, b.status, b.amount, b.reference)
        .await?;
    Ok(order_response(StatusCode::OK, view))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    reason: String,
}

#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "storefront", request_body = CancelBody,
    responses((status = 200, body = OrderBody), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<CancelBody>,
) -> Result<HttpResponse, Problem> {
    let role = state.keys.require(&req, STOREFRONT)?;
    let id = parse_id(&id)?;
    let cause = if role == Role::Admin {
        Cause::Admin
    } else {
        Cause::Storefront
    };
    let view = state
        .engine
        .cancel(id, body.into_inner().reason, cause)
        .await?;
    Ok(order_response(StatusCode::OK, view))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnBody {
    lines: Vec<LineQty>,
    reason: String,
}

#[utoipa::path(post, path = "/v1/orders/{id}/returns", tag = "storefront", request_body = ReturnBody,
    responses((status = 200, description = "Return approved; see return_case and return_label_url", body = OrderBody), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn request_return(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<ReturnBody>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, STOREFRONT)?;
    let id = parse_id(&id)?;
    let b = body.into_inner();
    let view = state.engine.request_return(id, b.lines, b.reason).await?;
    Ok(order_response(StatusCode::OK, view))
}

#[utoipa::path(get, path = "/v1/orders/{id}/returns/label", tag = "storefront",
    responses((status = 200, content_type = "application/pdf", description = "Return label"), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn return_label(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    state
        .keys
        .require(&req, &[Role::Storefront, Role::Warehouse])?;
    let order = state.engine.order(parse_id(&id)?)?;
    let pdf = crate::label::return_label(&order)
        .ok_or_else(|| Problem::not_found("no return has been approved for this order"))?;
    Ok(HttpResponse::Ok().content_type("application/pdf").body(pdf))
}
