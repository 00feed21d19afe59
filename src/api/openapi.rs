//! The OpenAPI document, generated from the handlers' annotations and served at `/openapi.json`.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Orderly", description = "Order lifecycle orchestrator. Errors are RFC 9457 application/problem+json."),
    paths(
        super::storefront::place, super::storefront::get, super::storefront::list, super::storefront::payment,
        super::storefront::cancel, super::storefront::request_return, super::storefront::return_label,
        super::warehouse::picks, super::warehouse::acknowledge_picks, super::warehouse::pack, super::warehouse::label,
        super::warehouse::handover, super::warehouse::receive_return,
        super::carrier::event, super::carrier::track,
        super::inventory::set, super::inventory::get,
        super::ops::healthz, super::ops::readyz, super::ops::metrics, super::ops::dead_letters, super::ops::retry_dead_letter,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
