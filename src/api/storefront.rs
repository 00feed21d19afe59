//! Storefront endpoints: place, pay, cancel, return, read.

use super::auth::Role;
use super::body::Body;
use super::problem::Problem;
use super::schema::order::{Order, OrderDetail, OrderPage};
use super::schema::requests::{
    CancelBody, IdempotencyKey, ListQuery, NewOrder, OrderPath, PaymentBody, PreferWait, ReturnBody,
};
use super::schema::views::Pdf;
use super::{page_size, parse_cursor, parse_id, AppState};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use orderly_actors::domain::Status;
use orderly_actors::engine::OrderView;

const STOREFRONT: &[Role] = &[Role::Storefront];

pub(super) fn order_response(status: StatusCode, view: OrderView) -> HttpResponse {
    HttpResponse::build(status).json(OrderDetail::from(view))
}

#[utoipa::path(post, path = "/v1/orders", tag = "storefront", request_body = NewOrder,
    params(IdempotencyKey, PreferWait),
    responses(
        (status = 201, description = "Placed (or, for a repeated key and body, the original answer with `Idempotent-Replayed: true`). With `Prefer: wait=N`, once the stock's outcome is known or N seconds passed", body = OrderDetail,
            headers(("Location" = String, description = "The order's URL"),
                ("Preference-Applied" = String, description = "`wait=N` when the request waited for the stock's outcome"))),
        (status = 400, description = "`/problems/bad_request`: Idempotency-Key missing or not 1-255 visible ASCII characters, or malformed JSON", body = Problem),
        (status = 409, description = "`/problems/idempotency_in_progress`: a request with this key is still running", body = Problem),
        (status = 422, description = "`/problems/validation` (`field` names the culprit, e.g. a sku that appears twice), or `/problems/idempotency_key_reused`: this key was used with another body", body = Problem)),
    security(("storefront" = []), ("admin" = [])))]
pub async fn place(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body<NewOrder>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, STOREFRONT)?;
    let key = IdempotencyKey::from_request(&req)?;
    let order = body.into_inner().try_into()?;
    let wait = PreferWait::from_request(&req);
    let placed = state.engine.place(&key, order).await?;
    let id = placed.view.order.id;
    let view = match wait {
        Some(secs) => {
            let wait = std::time::Duration::from_secs(secs);
            state.engine.wait_for_stock(placed.view, wait).await?.0
        }
        None => placed.view,
    };
    let mut resp = order_response(StatusCode::CREATED, view);
    if let Some(secs) = wait {
        resp.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("preference-applied"),
            actix_web::http::header::HeaderValue::from_str(&format!("wait={secs}")).expect("ASCII"),
        );
    }
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

#[utoipa::path(get, path = "/v1/orders/{id}", tag = "storefront", params(OrderPath),
    responses((status = 200, body = OrderDetail), (status = 404, description = "`/problems/not_found`: no order with this id", body = Problem)),
    security(("storefront" = []), ("admin" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<OrderPath>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, STOREFRONT)?;
    let view = state.engine.order_with_history(parse_id(&path.id)?).await?;
    Ok(order_response(StatusCode::OK, view))
}

#[utoipa::path(get, path = "/v1/orders", tag = "storefront", params(ListQuery),
    responses((status = 200, description = "Orders, newest first", body = OrderPage),
        (status = 400, description = "`/problems/bad_request`: unknown status, limit out of range, bad cursor or unknown parameter", body = Problem)),
    security(("storefront" = []), ("admin" = [])))]
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
    let orders = state.engine.orders(status, cursor, limit).await?;
    let next_cursor = (orders.len() == limit)
        .then(|| orders.last().map(|o| o.id.to_string()))
        .flatten();
    Ok(HttpResponse::Ok().json(OrderPage {
        orders: orders.into_iter().map(Order::from).collect(),
        next_cursor,
    }))
}

#[utoipa::path(post, path = "/v1/orders/{id}/payments", tag = "storefront", params(OrderPath), request_body = PaymentBody,
    responses((status = 200, body = OrderDetail),
        (status = 404, description = "`/problems/not_found`: no order with this id", body = Problem),
        (status = 409, description = "Not allowed now (`/problems/order_closed`, `/problems/payment_already_secured`); `current_status` says the order's status", body = Problem),
        (status = 422, description = "`/problems/validation`: e.g. the amount is not the order total", body = Problem)),
    security(("storefront" = []), ("admin" = [])))]
pub async fn payment(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<OrderPath>,
    body: Body<PaymentBody>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, STOREFRONT)?;
    let id = parse_id(&path.id)?;
    let b = body.into_inner();
    let view = state
        .engine
        .pay(id, b.status.into(), b.amount, b.reference)
        .await?;
    Ok(order_response(StatusCode::OK, view))
}

#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "storefront", params(OrderPath), request_body = CancelBody,
    responses((status = 200, body = OrderDetail),
        (status = 404, description = "`/problems/not_found`: no order with this id", body = Problem),
        (status = 409, description = "`/problems/cancel_not_allowed`: shipped, delivered, cancelled or returned (`current_status`)", body = Problem)),
    security(("storefront" = []), ("admin" = [])))]
pub async fn cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<OrderPath>,
    body: Body<CancelBody>,
) -> Result<HttpResponse, Problem> {
    let role = state.keys.require(&req, STOREFRONT)?.role;
    let id = parse_id(&path.id)?;
    let cause = role.storefront_cause();
    let view = state
        .engine
        .cancel(id, body.into_inner().reason, cause)
        .await?;
    Ok(order_response(StatusCode::OK, view))
}

#[utoipa::path(post, path = "/v1/orders/{id}/returns", tag = "storefront", params(OrderPath), request_body = ReturnBody,
    responses((status = 200, description = "Return approved; see return_case and return_label_url", body = OrderDetail),
        (status = 404, description = "`/problems/not_found`: no order with this id", body = Problem),
        (status = 409, description = "`/problems/return_not_allowed`, `/problems/return_exists` or `/problems/return_window_closed`", body = Problem),
        (status = 422, description = "`/problems/validation`: a sku not on the order, twice, or more than delivered", body = Problem)),
    security(("storefront" = []), ("admin" = [])))]
pub async fn request_return(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<OrderPath>,
    body: Body<ReturnBody>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, STOREFRONT)?;
    let id = parse_id(&path.id)?;
    let b = body.into_inner();
    let lines = b.lines.into_iter().map(Into::into).collect();
    let view = state.engine.request_return(id, lines, b.reason).await?;
    Ok(order_response(StatusCode::OK, view))
}

#[utoipa::path(get, path = "/v1/orders/{id}/returns/label", tag = "storefront", params(OrderPath),
    responses((status = 200, content_type = "application/pdf", description = "Return label", body = Pdf),
        (status = 404, description = "`/problems/not_found`: no such order, or no return approved", body = Problem)),
    security(("storefront" = []), ("warehouse" = []), ("admin" = [])))]
pub async fn return_label(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<OrderPath>,
) -> Result<HttpResponse, Problem> {
    state
        .keys
        .require(&req, &[Role::Storefront, Role::Warehouse])?;
    let order = state.engine.order(parse_id(&path.id)?).await?;
    let pdf = crate::label::return_label(&order)
        .ok_or_else(|| Problem::not_found("no return has been approved for this order"))?;
    Ok(HttpResponse::Ok().content_type("application/pdf").body(pdf))
}
