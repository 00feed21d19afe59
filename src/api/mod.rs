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

pub fn configure(max_body: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(
            web::JsonConfig::default()
                .limit(max_body)
                .error_handler(problem::json_error),
        )
        .app_data(web::PathConfig::default().error_handler(problem::path_error))
        .app_data(web::QueryConfig::default().error_handler(problem::query_error))
        .configure(ops::routes)
        .configure(storefront::routes)
        .configure(warehouse::routes)
        .configure(carrier::routes)
        .configure(inventory::routes)
        .route("/openapi.json", web::get().to(openapi::serve))
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, Problem>(Problem::not_found("no such endpoint"))
        }));
    }
}
