//! The HTTP API: translates requests into engine calls and engine results into responses.
//!
//! It decides nothing about orders: every rule lives in `orderly_actors::domain`. What it does
//! own is the edge: authentication, bounded bodies and pages, and RFC 9457 errors.

pub mod auth;
mod carrier;
mod inventory;
pub mod metrics;
mod openapi;
mod ops;
pub mod problem;
mod storefront;
pub mod views;
mod warehouse;

use actix_web::web;
use auth::Keys;
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

/// Warehouse ids appear in keys and URLs: keep them plain.
pub fn check_warehouse(w: &str) -> Result<(), Problem> {
    if w.is_empty()
        || w.len() > 64
        || !w
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Problem::invalid(
            "warehouse",
            "warehouse ids are 1-64 letters, digits, '-' or '_'",
        ));
    }
    Ok(())
}

/// The route table, in one place. Paths are grouped under static scopes so a request is
/// matched against a handful of patterns rather than every dynamic route in turn (actix tries
/// routes in order, each dynamic one with a regex; this was measurable on the read path).
fn routes(cfg: &mut web::ServiceConfig) {
    use web::{get, post, put, scope};
    cfg.route("/healthz", get().to(ops::healthz))
        .route("/readyz", get().to(ops::readyz))
        .route("/metrics", get().to(ops::metrics))
        .route("/openapi.json", get().to(openapi::serve))
        .service(scope("/v1/track").route("/{token}", get().to(carrier::track)))
        .service(
            scope("/v1/orders")
                .route("", post().to(storefront::place))
                .route("", get().to(storefront::list))
                .route("/{id}", get().to(storefront::get))
                .route("/{id}/payments", post().to(storefront::payment))
                .route("/{id}/cancel", post().to(storefront::cancel))
                .route("/{id}/returns", post().to(storefront::request_return))
                .route("/{id}/returns/label", get().to(storefront::return_label))
                .route(
                    "/{id}/returns/receive",
                    post().to(warehouse::receive_return),
                )
                .route("/{id}/picks", post().to(warehouse::acknowledge_picks))
                .route("/{id}/pack", post().to(warehouse::pack))
                .route("/{id}/label", get().to(warehouse::label))
                .route("/{id}/handover", post().to(warehouse::handover)),
        )
        .service(scope("/v1/warehouses").route("/{warehouse}/picks", get().to(warehouse::picks)))
        .service(scope("/v1/carriers").route("/{carrier}/events", post().to(carrier::event)))
        .service(
            scope("/v1/inventory")
                .route("/{warehouse}/{sku}", put().to(inventory::set))
                .route("/{sku}", get().to(inventory::get)),
        )
        .service(
            scope("/v1/notifications")
                .route("/dead-letters", get().to(ops::dead_letters))
                .route(
                    "/dead-letters/{id}/retry",
                    post().to(ops::retry_dead_letter),
                ),
        );
}

pub fn configure(max_body: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(
            web::JsonConfig::default()
                .limit(max_body)
                .error_handler(problem::json_error),
        )
        .app_data(web::PathConfig::default().error_handler(problem::path_error))
        .app_data(web::QueryConfig::default().error_handler(problem::query_error))
        .configure(routes)
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, Problem>(Problem::not_found("no such endpoint"))
        }));
    }
}
