//! Operations: liveness, readiness, metrics, and the notification dead-letter list.

use super::auth::Role;
use super::problem::Problem;
use super::{page_size, AppState};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use orderly_actors::engine::DeadLetter;
use serde::Deserialize;
use utoipa::IntoParams;

#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "The process is alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, description = "Ready"), (status = 503, description = "Starting, or storage failed")))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.engine.is_ready() {
        HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "not ready"}))
    }
}

#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let engine = state.engine.metrics().await;
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render(&engine))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterQuery {
    /// Page size, 1-200 (default 50).
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/v1/notifications/dead-letters", tag = "admin", params(DeadLetterQuery),
    responses((status = 200, body = Vec<DeadLetter>)), security(("bearer" = [])))]
pub async fn dead_letters(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<DeadLetterQuery>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Admin])?;
    let list = state.engine.dead_letters(page_size(q.limit)?)?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(post, path = "/v1/notifications/dead-letters/{id}/retry", tag = "admin",
    responses((status = 202, description = "Queued for delivery again"), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn retry_dead_letter(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Admin])?;
    if !state.engine.retry_dead_letter(&id).await? {
        return Err(Problem::not_found("no dead letter with this id"));
    }
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(serde_json::json!({"status": "queued"})))
}
