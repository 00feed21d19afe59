//! Operations: liveness, readiness, metrics, the notification dead-letter list, and an online
//! backup of the store.

use super::auth::Role;
use super::body::Body;
use super::problem::Problem;
use super::schema::requests::{BackupBody, DeadLetterPath, DeadLetterQuery};
use super::schema::views::{BackupReport, DeadLetter, StatusBody};
use super::{page_size, AppState};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use std::path::PathBuf;

#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "The process is alive: `{\"status\": \"ok\"}`", body = StatusBody)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(StatusBody::new("ok"))
}

#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, description = "Ready: `{\"status\": \"ready\"}`", body = StatusBody),
    (status = 503, description = "Starting, or storage failed: `{\"status\": \"not ready\"}`", body = StatusBody)))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.engine.is_ready() {
        HttpResponse::Ok().json(StatusBody::new("ready"))
    } else {
        HttpResponse::ServiceUnavailable().json(StatusBody::new("not ready"))
    }
}

#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus metrics (OpenMetrics text format)",
    content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let engine = state.engine.metrics().await;
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render(&engine))
}

#[utoipa::path(get, path = "/v1/notifications/dead-letters", tag = "admin", params(DeadLetterQuery),
    responses((status = 200, description = "Notifications that ran out of attempts", body = Vec<DeadLetter>),
        (status = 400, description = "`/problems/bad_request`: limit out of range or unknown parameter", body = Problem)),
    security(("admin" = [])))]
pub async fn dead_letters(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<DeadLetterQuery>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Admin])?;
    let list = state.engine.dead_letters(page_size(q.limit)?).await?;
    let list: Vec<DeadLetter> = list.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(post, path = "/v1/notifications/dead-letters/{id}/retry", tag = "admin", params(DeadLetterPath),
    responses((status = 202, description = "Queued for delivery again: `{\"status\": \"queued\"}`", body = StatusBody),
        (status = 404, description = "`/problems/not_found`: no dead letter with this id", body = Problem)),
    security(("admin" = [])))]
pub async fn retry_dead_letter(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<DeadLetterPath>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Admin])?;
    if !state.engine.retry_dead_letter(&path.id).await? {
        return Err(Problem::not_found("no dead letter with this id"));
    }
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(StatusBody::new("queued")))
}

#[utoipa::path(post, path = "/v1/admin/backup", tag = "admin", request_body = BackupBody,
    responses((status = 200, description = "The backup is made and durable: a consistent copy of the store at one point of its commit sequence, taken while the service runs", body = BackupReport),
        (status = 409, description = "`/problems/backup_target`: the directory exists and is not empty, or cannot be created (`field`: `dir`); `/problems/backup_running`: another backup is running", body = Problem),
        (status = 501, description = "`/problems/backup_unsupported`: this storage backend is backed up with its own tools (the detail says which)", body = Problem)),
    security(("admin" = [])))]
pub async fn backup(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body<BackupBody>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Admin])?;
    let dir = body.into_inner().dir;
    if !dir.starts_with('/') || dir.len() < 2 || dir.contains('\0') {
        return Err(Problem::invalid(
            "dir",
            "dir must be an absolute path (below the root) without NUL characters",
        ));
    }
    let stats = state.engine.backup(PathBuf::from(&dir)).await?;
    Ok(HttpResponse::Ok().json(BackupReport::new(dir, stats)))
}
