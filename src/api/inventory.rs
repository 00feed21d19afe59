//! Inventory: stock counts in (admin), levels out (per sku for admin and warehouse keys), what
//! can be sold before purchase (availability, storefronts too), the warehouses stock is kept
//! in, whether a sku may be backordered, and stock alerts: cells' reorder points (admin, and
//! warehouse keys for their own warehouses) and back-in-stock subscriptions (storefronts).

use super::auth::Role;
use super::body::Body;
use super::problem::Problem;
use super::schema::requests::{
    AvailabilityQuery, BackordersBody, ReorderPointBody, SkuPath, StockBody, StockCellPath,
    SubscriptionBody, MAX_AVAILABILITY_SKUS,
};
use super::schema::views::{
    Availability, ReorderPoint, SkuAvailable, SkuBackorders, SkuStock, StockCell,
    StockSubscription, Warehouse, WarehouseList,
};
use super::{check_warehouse, AppState};
use actix_web::{web, HttpRequest, HttpResponse};
use orderly_actors::domain::Sku;

/// The largest backorder cap a sku may have.
const MAX_BACKORDER_CAP: i64 = 1_000_000_000;

/// Skus as the domain accepts them on order lines: 1-64 characters, no white space, no control
/// characters, no '/' (a stock cell for any other sku could never be ordered).
fn check_sku(sku: &str) -> Result<Sku, Problem> {
    Sku::parse("sku", sku)
        .map_err(|_| Problem::invalid("sku", "skus are 1-64 characters without white space or '/'"))
}

#[utoipa::path(put, path = "/v1/skus/{sku}/backorders", tag = "admin", params(SkuPath), request_body = BackordersBody,
    responses((status = 200, description = "Set; orders already waiting stay backordered", body = SkuBackorders),
        (status = 409, description = "`/problems/cap_below_waiting`: the cap is below the units waiting now", body = Problem),
        (status = 422, description = "`/problems/validation`: not a sku, or a cap below 0 or above 1,000,000,000", body = Problem)),
    security(("admin" = [])))]
pub async fn set_backorders(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<SkuPath>,
    body: Body<BackordersBody>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Admin])?;
    let sku = path.into_inner().sku;
    let sku = check_sku(&sku)?;
    let b = body.into_inner();
    if b.cap > MAX_BACKORDER_CAP {
        return Err(Problem::invalid(
            "cap",
            format!("cap: at most {MAX_BACKORDER_CAP}"),
        ));
    }
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
    let sku = check_sku(&sku)?;
    let b = state.engine.backorders(sku.clone()).await?;
    Ok(HttpResponse::Ok().json(SkuBackorders::new(sku, b)))
}

#[utoipa::path(put, path = "/v1/inventory/{warehouse}/{sku}", tag = "admin", params(StockCellPath), request_body = StockBody,
    responses((status = 200, body = StockCell),
        (status = 409, description = "`/problems/below_reserved`: below what open orders hold", body = Problem),
        (status = 422, description = "`/problems/validation`: not a warehouse id or sku, not a configured warehouse (`field`: `warehouse`), or on_hand negative", body = Problem)),
    security(("admin" = [])))]
pub async fn set(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StockCellPath>,
    body: Body<StockBody>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Admin])?;
    let StockCellPath { warehouse, sku } = path.into_inner();
    let warehouse = check_warehouse(&state.engine, &warehouse)?;
    let sku = check_sku(&sku)?;
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
    let sku = check_sku(&sku)?;
    let cells = state.engine.stock(sku.clone()).await?;
    Ok(HttpResponse::Ok().json(SkuStock::new(sku, cells)))
}

#[utoipa::path(put, path = "/v1/inventory/{warehouse}/{sku}/reorder-point", tag = "inventory", params(StockCellPath), request_body = ReorderPointBody,
    responses((status = 200, description = "Set, durably. A point at or above what is available now sends its `low_stock` alert at once (unless one went out for this fall already)", body = ReorderPoint),
        (status = 403, description = "`/problems/forbidden`: a warehouse key bound to other warehouses", body = Problem),
        (status = 422, description = "`/problems/validation`: not a warehouse id or sku, not a configured warehouse (`field`: `warehouse`), or a point below 0 or above 1,000,000,000 (`field`: `reorder_point`)", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn set_reorder_point(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StockCellPath>,
    body: Body<ReorderPointBody>,
) -> Result<HttpResponse, Problem> {
    let caller = state.keys.require(&req, &[Role::Admin, Role::Warehouse])?;
    let StockCellPath { warehouse, sku } = path.into_inner();
    let warehouse = check_warehouse(&state.engine, &warehouse)?;
    caller.may_act_for(&warehouse)?;
    let sku = check_sku(&sku)?;
    let point = body.into_inner().reorder_point;
    let set = state
        .engine
        .set_reorder_point(warehouse, sku, Some(point))
        .await?;
    Ok(HttpResponse::Ok().json(ReorderPoint::from(set)))
}

#[utoipa::path(delete, path = "/v1/inventory/{warehouse}/{sku}/reorder-point", tag = "inventory", params(StockCellPath),
    responses((status = 200, description = "Removed, durably (`reorder_point` is null): no alerts for the cell until a point is set again", body = ReorderPoint),
        (status = 403, description = "`/problems/forbidden`: a warehouse key bound to other warehouses", body = Problem),
        (status = 422, description = "`/problems/validation`: not a warehouse id or sku, or not a configured warehouse (`field`: `warehouse`)", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn remove_reorder_point(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StockCellPath>,
) -> Result<HttpResponse, Problem> {
    let caller = state.keys.require(&req, &[Role::Admin, Role::Warehouse])?;
    let StockCellPath { warehouse, sku } = path.into_inner();
    let warehouse = check_warehouse(&state.engine, &warehouse)?;
    caller.may_act_for(&warehouse)?;
    let sku = check_sku(&sku)?;
    let removed = state.engine.set_reorder_point(warehouse, sku, None).await?;
    Ok(HttpResponse::Ok().json(ReorderPoint::from(removed)))
}

#[utoipa::path(get, path = "/v1/inventory/{warehouse}/{sku}/reorder-point", tag = "inventory", params(StockCellPath),
    responses((status = 200, description = "The cell's reorder point (`null` when none) and its alert state", body = ReorderPoint),
        (status = 403, description = "`/problems/forbidden`: a warehouse key bound to other warehouses", body = Problem),
        (status = 422, description = "`/problems/validation`: not a warehouse id or sku, or not a configured warehouse (`field`: `warehouse`)", body = Problem)),
    security(("warehouse" = []), ("admin" = [])))]
pub async fn get_reorder_point(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StockCellPath>,
) -> Result<HttpResponse, Problem> {
    let caller = state.keys.require(&req, &[Role::Admin, Role::Warehouse])?;
    let StockCellPath { warehouse, sku } = path.into_inner();
    let warehouse = check_warehouse(&state.engine, &warehouse)?;
    caller.may_act_for(&warehouse)?;
    let sku = check_sku(&sku)?;
    let point = state.engine.reorder_point(warehouse, sku).await?;
    Ok(HttpResponse::Ok().json(ReorderPoint::from(point)))
}

#[utoipa::path(post, path = "/v1/stock-subscriptions", tag = "inventory", request_body = SubscriptionBody,
    responses((status = 201, description = "Subscribed, durably. The contact is told once (a `back_in_stock` message) when the sku's available units are positive — at once if they are now — and the subscription ends", body = StockSubscription),
        (status = 200, description = "The contact waits for the sku already: that subscription, unchanged", body = StockSubscription),
        (status = 409, description = "`/problems/subscriptions_full`: 10,000 subscriptions wait for the sku already (`field`: `sku`)", body = Problem),
        (status = 422, description = "`/problems/validation`: not a sku (`field`: `sku`), or a contact that is neither an e-mail address nor a phone number in international form (`field`: `contact`)", body = Problem)),
    security(("storefront" = []), ("admin" = [])))]
pub async fn subscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body<SubscriptionBody>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Storefront])?;
    let SubscriptionBody { sku, contact } = body.into_inner();
    let sku = check_sku(&sku)?;
    let (subscription, new) = state.engine.subscribe(sku, contact).await?;
    let view = StockSubscription::from(subscription);
    Ok(if new {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

#[utoipa::path(get, path = "/v1/warehouses", tag = "inventory",
    responses((status = 200, description = "The configured warehouses; running open, those with stock cells (id only)", body = WarehouseList)),
    security(("storefront" = []), ("warehouse" = []), ("admin" = [])))]
pub async fn warehouses(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    state
        .keys
        .require(&req, &[Role::Storefront, Role::Warehouse])?;
    let configured = state.engine.warehouses();
    let list = if configured.is_empty() {
        WarehouseList {
            open: true,
            warehouses: state
                .engine
                .stocked_warehouses()
                .await?
                .into_iter()
                .map(Warehouse::id_only)
                .collect(),
        }
    } else {
        WarehouseList {
            open: false,
            warehouses: configured.iter().map(Warehouse::from).collect(),
        }
    };
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(get, path = "/v1/availability", tag = "inventory", params(AvailabilityQuery),
    responses((status = 200, description = "Each sku asked, once, in the order first asked; an unknown sku is 0. Per-warehouse numbers for admin and warehouse keys only", body = Availability),
        (status = 400, description = "`/problems/bad_request`: a query parameter other than `sku`", body = Problem),
        (status = 422, description = "`/problems/validation` (`field`: `sku`): no sku, more than 100, or one that is not a sku", body = Problem)),
    security(("storefront" = []), ("warehouse" = []), ("admin" = [])))]
pub async fn availability(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, Problem> {
    let caller = state
        .keys
        .require(&req, &[Role::Storefront, Role::Warehouse])?;
    let skus = availability_skus(query.into_inner())?;
    let per_warehouse = caller.role != Role::Storefront;
    let answer = state.engine.availability(skus).await?;
    Ok(HttpResponse::Ok().json(Availability {
        skus: answer
            .into_iter()
            .map(|a| SkuAvailable::new(a, per_warehouse))
            .collect(),
    }))
}

/// The skus of an availability query: only `sku` parameters, 1 to 100 of them, each a sku;
/// repeats dropped (the first place kept).
fn availability_skus(params: Vec<(String, String)>) -> Result<Vec<Sku>, Problem> {
    if let Some((name, _)) = params.iter().find(|(name, _)| name != "sku") {
        return Err(Problem::bad_request(format!(
            "unknown query parameter '{name}'; ask with sku=A&sku=B"
        )));
    }
    if params.is_empty() || params.len() > MAX_AVAILABILITY_SKUS {
        return Err(Problem::invalid(
            "sku",
            format!(
                "ask for 1 to {MAX_AVAILABILITY_SKUS} skus (sku=A&sku=B), not {}",
                params.len()
            ),
        ));
    }
    let mut skus: Vec<Sku> = Vec::with_capacity(params.len());
    for (_, sku) in params {
        let sku = check_sku(&sku)?;
        if !skus.contains(&sku) {
            skus.push(sku);
        }
    }
    Ok(skus)
}
