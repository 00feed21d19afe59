//! The OpenAPI document, generated from the handlers' annotations and the wire types in
//! `schema`, and served at `/openapi.json`.
//!
//! The handlers' annotations say what is particular to each operation (its parameters, body,
//! success and the problems its rules produce). [`EdgeProblems`] adds what every operation of a
//! kind can answer because of the HTTP edge, so no operation forgets one: 401/403 where a key is
//! needed, 400/413/415/422 where a JSON body is read, 400 where a query string or header is read,
//! 503 wherever the engine is asked. Every problem is `application/problem+json`.

use super::problem::Problem;
use actix_web::HttpResponse;
use std::sync::OnceLock;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi};

/// The media type of every error body (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One bearer scheme per role; each operation lists the roles that may call it.
struct RoleSchemes;

impl Modify for RoleSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        for (role, what) in [
            ("storefront", "A storefront key (`auth.storefront`)."),
            ("warehouse", "A warehouse terminal key (`auth.warehouse`): a plain key acts for every warehouse, a bound key only for the warehouses it names (403 for the others)."),
            (
                "carrier",
                "A carrier key (`auth.carriers.<id>`): posts events for its own carrier only.",
            ),
            (
                "admin",
                "An admin key (`auth.admin`): may call every operation.",
            ),
        ] {
            c.add_security_scheme(
                role,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(what))
                        .build(),
                ),
            );
        }
    }
}

struct EdgeProblems;

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
                .build(),
        )
        .build()
}

fn string_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some(description))
        .build()
}

fn add(op: &mut Operation, status: &str, response: Response) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert(RefOr::T(response));
}

impl Modify for EdgeProblems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let engine = path.starts_with("/v1/");
            for op in [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                // Problems the annotations name with `body = Problem` are problem+json.
                for r in op.responses.responses.values_mut() {
                    if let RefOr::T(r) = r {
                        if let Some(c) = r.content.shift_remove("application/json") {
                            let is_problem = matches!(&c.schema, Some(RefOr::Ref(rf)) if rf.ref_location.ends_with("/Problem"));
                            let key = if is_problem {
                                PROBLEM_JSON
                            } else {
                                "application/json"
                            };
                            r.content.insert(key.to_string(), c);
                        }
                    }
                }
                let params = op.parameters.as_deref().unwrap_or_default();
                let reads_query_or_header = params
                    .iter()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Query | ParameterIn::Header));
                if op.request_body.is_some() {
                    add(
                        op,
                        "400",
                        problem("`/problems/bad_request`: the body is not JSON"),
                    );
                    add(op, "413", problem("`/problems/body_too_large`: the body is larger than `server.max_body_bytes`"));
                    add(op, "415", problem("`/problems/unsupported_media_type`: the body must be `application/json`"));
                    add(op, "422", problem("`/problems/validation`: the body does not fit the schema or the rules (`field` names the culprit)"));
                }
                if reads_query_or_header {
                    add(
                        op,
                        "400",
                        problem(
                            "`/problems/bad_request`: a query parameter or header is not valid",
                        ),
                    );
                }
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    let mut unauthorized = problem("`/problems/unauthorized`: no `Authorization: Bearer <key>` header, or not a valid key");
                    unauthorized
                        .headers
                        .insert("WWW-Authenticate".to_string(), string_header("`Bearer`"));
                    add(op, "401", unauthorized);
                    add(
                        op,
                        "403",
                        problem(
                            "`/problems/forbidden`: the key's role may not call this operation",
                        ),
                    );
                }
                if engine {
                    let mut unavailable = problem("`/problems/overloaded`, `/problems/actor_failed` or `/problems/storage_unavailable`: nothing was changed; retry");
                    unavailable.headers.insert(
                        "Retry-After".to_string(),
                        string_header("Seconds to wait before retrying"),
                    );
                    add(op, "503", unavailable);
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Orderly", description = "Order lifecycle orchestrator. Errors are RFC 9457 application/problem+json. \
        Every operation but the ops endpoints and tracking needs `Authorization: Bearer <key>` of one of the roles it lists; \
        the admin role may call every operation. A warehouse named in a path or body must be a warehouse id and, when warehouses \
        are configured, one of them: anything else is 422 `/problems/validation` with `field` `warehouse`."),
    paths(
        super::storefront::place, super::storefront::get, super::storefront::list, super::storefront::payment,
        super::storefront::cancel, super::storefront::request_return, super::storefront::return_label,
        super::quotes::quote,
        super::warehouse::picks, super::warehouse::acknowledge_picks, super::warehouse::pack, super::warehouse::label,
        super::warehouse::handover, super::warehouse::receive_return,
        super::warehouse::shipment_picks, super::warehouse::shipment_pack,
        super::warehouse::shipment_label, super::warehouse::shipment_handover,
        super::carrier::event, super::carrier::track,
        super::exceptions::answer, super::exceptions::answer_by_token,
        super::inventory::set, super::inventory::get, super::inventory::warehouses, super::inventory::availability,
        super::inventory::set_backorders, super::inventory::get_backorders,
        super::transfers::create, super::transfers::list, super::transfers::get,
        super::transfers::receive, super::transfers::cancel,
        super::inventory::set_reorder_point, super::inventory::remove_reorder_point, super::inventory::get_reorder_point,
        super::inventory::subscribe,
        super::ops::healthz, super::ops::readyz, super::ops::metrics, super::ops::dead_letters, super::ops::retry_dead_letter,
        super::ops::backup, super::messages::preview, super::messages::order_messages,
    ),
    components(schemas(Problem)),
    modifiers(&RoleSchemes, &EdgeProblems)
)]
pub struct ApiDoc;

/// The document as served (built once).
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .expect("the document serialises")
    })
}

pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}
