//! The HTTP API: translates requests into engine calls and engine results into responses.
//!
//! It decides nothing about orders: every rule lives in `orderly_actors::domain`, and every
//! change and read goes through the engine's API (`orderly_actors::engine::Engine`). What it does
//! own is the edge: authentication, bounded bodies and pages, its wire types and their OpenAPI
//! schemas (`schema`), and RFC 9457 errors.

pub mod auth;
mod body;
mod carrier;
mod exceptions;
mod inventory;
mod messages;
pub mod metrics;
mod openapi;
mod ops;
pub mod problem;
mod quotes;
pub mod schema;
mod storefront;
mod transfers;
mod warehouse;

use actix_web::web;
use auth::Keys;
use orderly_actors::domain::WarehouseId;
use orderly_actors::engine::Engine;
use problem::Problem;
use std::sync::Arc;
use uuid::Uuid;

/// Shared by every worker: built once before `HttpServer::new`.
pub struct AppState {
    pub engine: Engine,
    pub keys: Keys,
    pub metrics: Arc<metrics::HttpMetrics>,
}

/// Largest page a list endpoint returns.
pub const MAX_PAGE: usize = 200;
pub const DEFAULT_PAGE: usize = 50;

pub fn page_size(limit: Option<usize>) -> Result<usize, Problem> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(Problem::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        ))),
    }
}

pub fn parse_id(s: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(s).map_err(|_| Problem::not_found(format!("no order with id '{s}'")))
}

pub fn parse_cursor(s: Option<&str>) -> Result<Option<Uuid>, Problem> {
    s.map(|c| {
        Uuid::parse_str(c).map_err(|_| {
            Problem::bad_request("cursor is not valid; use next_cursor from a previous page")
        })
    })
    .transpose()
}

/// The one rule for a warehouse named in a path or a body: a valid id (1-64 letters, digits,
/// '-' or '_') and, when warehouses are configured, one of them. Anything else is 422
/// `/problems/validation` with `field: "warehouse"`, wherever the warehouse was named. Running
/// open (no `[[warehouses]]`), any valid id passes.
pub fn check_warehouse(engine: &Engine, w: &str) -> Result<WarehouseId, Problem> {
    check_warehouse_field(engine, "warehouse", w)
}

/// [`check_warehouse`] for a warehouse named by another field (a transfer's `from` and `to`).
pub fn check_warehouse_field(
    engine: &Engine,
    field: &str,
    w: &str,
) -> Result<WarehouseId, Problem> {
    if !crate::config::is_warehouse_id(w) {
        return Err(Problem::invalid(
            field,
            format!("{field}: warehouse ids are 1-64 letters, digits, '-' or '_'"),
        ));
    }
    let configured = engine.warehouses();
    if !orderly_actors::domain::warehouse::is_known(configured, w) {
        let ids: Vec<&str> = configured.iter().map(|c| c.id.as_str()).collect();
        return Err(Problem::invalid(
            field,
            format!(
                "{field}: unknown warehouse '{w}'; the configured ones are {}",
                ids.join(", ")
            ),
        ));
    }
    Ok(WarehouseId::new(w))
}

/// The route table, in one place. Paths are grouped under static scopes so a request is
/// matched against a handful of patterns rather than every dynamic route in turn (actix tries
/// routes in order, each dynamic one with a regex; this was measurable on the read path).
/// Each path is one resource: a method it does not serve answers 405 with `Allow`.
fn routes(cfg: &mut web::ServiceConfig) {
    use web::{delete, get, post, put, scope};
    cfg.service(resource("/healthz", "GET").route(get().to(ops::healthz)))
        .service(resource("/readyz", "GET").route(get().to(ops::readyz)))
        .service(resource("/metrics", "GET").route(get().to(ops::metrics)))
        .service(resource("/openapi.json", "GET").route(get().to(openapi::serve)))
        .service(
            scope("/v1/track")
                .service(resource("/{token}", "GET").route(get().to(carrier::track)))
                .service(
                    resource("/{token}/shipments/{shipment}/exception", "POST")
                        .route(post().to(exceptions::answer_by_token)),
                ),
        )
        .service(
            scope("/v1/orders")
                .service(
                    resource("", "GET, POST")
                        .route(post().to(storefront::place))
                        .route(get().to(storefront::list)),
                )
                .service(resource("/{id}", "GET").route(get().to(storefront::get)))
                .service(
                    resource("/{id}/notifications", "GET")
                        .route(get().to(messages::order_messages)),
                )
                .service(resource("/{id}/payments", "POST").route(post().to(storefront::payment)))
                .service(resource("/{id}/cancel", "POST").route(post().to(storefront::cancel)))
                .service(
                    resource("/{id}/returns", "POST").route(post().to(storefront::request_return)),
                )
                .service(
                    resource("/{id}/returns/label", "GET")
                        .route(get().to(storefront::return_label)),
                )
                .service(
                    resource("/{id}/returns/receive", "POST")
                        .route(post().to(warehouse::receive_return)),
                )
                .service(
                    resource("/{id}/picks", "POST").route(post().to(warehouse::acknowledge_picks)),
                )
                .service(resource("/{id}/pack", "POST").route(post().to(warehouse::pack)))
                .service(resource("/{id}/label", "GET").route(get().to(warehouse::label)))
                .service(resource("/{id}/handover", "POST").route(post().to(warehouse::handover)))
                .service(
                    resource("/{id}/shipments/{shipment}/picks", "POST")
                        .route(post().to(warehouse::shipment_picks)),
                )
                .service(
                    resource("/{id}/shipments/{shipment}/pack", "POST")
                        .route(post().to(warehouse::shipment_pack)),
                )
                .service(
                    resource("/{id}/shipments/{shipment}/label", "GET")
                        .route(get().to(warehouse::shipment_label)),
                )
                .service(
                    resource("/{id}/shipments/{shipment}/handover", "POST")
                        .route(post().to(warehouse::shipment_handover)),
                )
                .service(
                    resource("/{id}/shipments/{shipment}/exception", "POST")
                        .route(post().to(exceptions::answer)),
                ),
        )
        .service(
            scope("/v1/warehouses")
                .service(resource("", "GET").route(get().to(inventory::warehouses)))
                .service(resource("/{warehouse}/picks", "GET").route(get().to(warehouse::picks))),
        )
        .service(scope("/v1/quotes").service(resource("", "POST").route(post().to(quotes::quote))))
        .service(
            scope("/v1/availability")
                .service(resource("", "GET").route(get().to(inventory::availability))),
        )
        .service(
            scope("/v1/carriers")
                .service(resource("/{carrier}/events", "POST").route(post().to(carrier::event))),
        )
        .service(
            scope("/v1/inventory")
                .service(resource("/{warehouse}/{sku}", "PUT").route(put().to(inventory::set)))
                .service(
                    resource("/{warehouse}/{sku}/reorder-point", "GET, PUT, DELETE")
                        .route(get().to(inventory::get_reorder_point))
                        .route(put().to(inventory::set_reorder_point))
                        .route(delete().to(inventory::remove_reorder_point)),
                )
                .service(resource("/{sku}", "GET").route(get().to(inventory::get))),
        )
        .service(
            scope("/v1/transfers")
                .service(
                    resource("", "GET, POST")
                        .route(get().to(transfers::list))
                        .route(post().to(transfers::create)),
                )
                .service(resource("/{id}", "GET").route(get().to(transfers::get)))
                .service(resource("/{id}/receive", "POST").route(post().to(transfers::receive)))
                .service(resource("/{id}/cancel", "POST").route(post().to(transfers::cancel))),
        )
        .service(
            scope("/v1/stock-subscriptions")
                .service(resource("", "POST").route(post().to(inventory::subscribe))),
        )
        .service(
            scope("/v1/skus").service(
                resource("/{sku}/backorders", "GET, PUT")
                    .route(get().to(inventory::get_backorders))
                    .route(put().to(inventory::set_backorders)),
            ),
        )
        .service(
            scope("/v1/admin").service(resource("/backup", "POST").route(post().to(ops::backup))),
        )
        .service(
            scope("/v1/notifications")
                .service(resource("/dead-letters", "GET").route(get().to(ops::dead_letters)))
                .service(
                    resource("/dead-letters/{id}/retry", "POST")
                        .route(post().to(ops::retry_dead_letter)),
                )
                .service(resource("/preview", "POST").route(post().to(messages::preview))),
        );
}

/// A resource whose other methods answer 405 with `Allow: {allow}`.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        let mut resp = actix_web::ResponseError::error_response(&Problem::new(
            actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this resource answers {allow} only"),
        ));
        resp.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_static(allow),
        );
        resp
    }))
}

pub fn configure(max_body: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        // Bodies are read by `body::Body`, within this limit.
        cfg.app_data(web::PayloadConfig::new(max_body))
            .app_data(web::PathConfig::default().error_handler(problem::path_error))
            .app_data(web::QueryConfig::default().error_handler(problem::query_error))
            .configure(routes)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, Problem>(Problem::not_found("no such endpoint"))
            }));
    }
}
