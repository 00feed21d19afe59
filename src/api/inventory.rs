//! Inventory administration: stock counts in, levels out.

use super::auth::Role;
use super::problem::Problem;
use super::views::{SkuStock, StockCell};
use super::{check_warehouse, AppState};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockBody {
    on_hand: i64,
}

fn check_sku(sku: &str) -> Result<(), Problem> {
    if sku.is_empty() || sku.len() > 64 || sku.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Problem::invalid(
            "sku",
            "skus are 1-64 characters without white space",
        ));
    }
    Ok(())
}

#[utoipa::path(put, path = "/v1/inventory/{warehouse}/{sku}", tag = "admin", request_body = StockBody,
    responses((status = 200, body = StockCell), (status = 409, description = "Below what open orders hold", body = Problem)), security(("bearer" = [])))]
pub async fn set(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<StockBody>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Admin])?;
    let (warehouse, sku) = path.into_inner();
    check_warehouse(&warehouse)?;
    check_sku(&sku)?;
    let level = state
        .engine
        .set_stock(warehouse.clone(), sku.clone(), body.on_hand)
        .await?;
    Ok(HttpResponse::Ok().json(StockCell::new(warehouse, sku, level)))
}

#[utoipa::path(get, path = "/v1/inventory/{sku}", tag = "admin",
    responses((status = 200, body = SkuStock)), security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    sku: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Admin, Role::Warehouse])?;
    let sku = sku.into_inner();
    check_sku(&sku)?;
    let cells: Vec<StockCell> = state
        .engine
        .stock(sku.clone())
        .await?
        .into_iter()
        .map(|(w, l)| StockCell::new(w, sku.clone(), l))
        .collect();
    let sum = |f: fn(&StockCell) -> i64| cells.iter().map(f).sum();
    Ok(HttpResponse::Ok().json(SkuStock {
        on_hand: sum(|c| c.on_hand),
        reserved: sum(|c| c.reserved),
        available: sum(|c| c.available),
        sku,
        warehouses: cells,
    }))
}
