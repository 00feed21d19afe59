//! Inventory administration: stock counts in, levels out; whether a sku may be backordered.

use super::auth::Role;
use super::problem::Problem;
use super::schema::requests::{BackordersBody, SkuPath, StockBody, StockCellPath};
use super::schema::views::{SkuBackorders, SkuStock, StockCell};
use super::{check_warehouse, AppState};
use actix_web::{web, HttpRequest, HttpResponse};

/// Skus as the domain accepts them on order lines: 1-64 characters, no white space, no control
/// characters, no '/' (a stock cell for any other sku could never be ordered).
fn check_sku(sku: &str) -> Result<(), Problem> {
    if sku.is_empty()
        || sku.chars().count() > 64
        || sku
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(Problem::invalid(
            "sku",
            "skus are 1-64 characters without white space or '/'",
        ));
    }
    Ok(())
}

#[utoipa::path(put, path = "/v1/skus/{sku}/backorders", tag = "admin", params(SkuPath), request_body = BackordersBody,
    responses((status = 200, description = "Set; orders already waiting stay backordered", body = SkuBackorders),
        (status = 409, description = "`/problems/cap_below_waiting`: the cap is below the units waiting now", body = Problem),
        (status = 422, description = "`/problems/validation`: not a sku, or a negative cap", body = Problem)),
    security(("admin" = [])))]
pub async fn set_backorders(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<SkuPath>,
    body: web::Json<BackordersBody>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Admin])?;
    let sku = path.into_inner().sku;
    check_sku(&sku)?;
    let b = body.into_inner();
    let set = state
        .engine
        .set_backorders(sku.clone(), b.allowed, b.cap)
        .await?;
    Ok(HttpResponse::Ok().json(SkuBackorders::new(sku, set)))
}

#[utoipa::path(get, path = "/v1/skus/{sku}/backorders", tag = "admin", params(SkuPath),
    responses((status = 200, description = "Not backorderable, nothing waiting, for a sku never set", body = SkuBackorders),
        (status = 422, description = "`/problems/validation`: not a sku", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn get_backorders(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<SkuPath>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Admin, Role::Warehouse])?;
    let sku = path.into_inner().sku;
    check_sku(&sku)?;
    let b = state.engine.backorders(sku.clone()).await?;
    Ok(HttpResponse::Ok().json(SkuBackorders::new(sku, b)))
}

#[utoipa::path(put, path = "/v1/inventory/{warehouse}/{sku}", tag = "admin", params(StockCellPath), request_body = StockBody,
    responses((status = 200, body = StockCell),
        (status = 409, description = "`/problems/below_reserved`: below what open orders hold", body = Problem),
        (status = 422, description = "`/problems/validation`: not a warehouse id or sku, or on_hand negative", body = Problem)),
    security(("admin" = [])))]
pub async fn set(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StockCellPath>,
    body: web::Json<StockBody>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Admin])?;
    let StockCellPath { warehouse, sku } = path.into_inner();
    check_warehouse(&warehouse)?;
    check_sku(&sku)?;
    let level = state
        .engine
        .set_stock(warehouse.clone(), sku.clone(), body.on_hand)
        .await?;
    Ok(HttpResponse::Ok().json(StockCell::new(warehouse, sku, level)))
}

#[utoipa::path(get, path = "/v1/inventory/{sku}", tag = "admin", params(SkuPath),
    responses((status = 200, body = SkuStock),
        (status = 422, description = "`/problems/validation`: not a sku", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<SkuPath>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Admin, Role::Warehouse])?;
    let sku = path.into_inner().sku;
    check_sku(&sku)?;
    let cells = state.engine.stock(sku.clone()).await?;
    Ok(HttpResponse::Ok().json(SkuStock::new(sku, cells)))
}
