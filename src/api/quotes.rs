//! `POST /v1/quotes`: delivery options before purchase (see `orderly_actors::engine::quotes`).

use super::auth::Role;
use super::body::Body;
use super::problem::Problem;
use super::schema::requests::QuoteBody;
use super::schema::views::Quote;
use super::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

const STOREFRONT: &[Role] = &[Role::Storefront];

#[utoipa::path(post, path = "/v1/quotes", tag = "storefront", request_body = QuoteBody,
    responses(
        (status = 200, description = "The delivery options the carrier rules allow, one per shipping method, each with its price and the window of local dates it should arrive in. A prediction from the stock and the clock of now, not a reservation; stores nothing", body = Quote),
        (status = 400, description = "`/problems/bad_request`: malformed JSON", body = Problem),
        (status = 422, description = "`/problems/validation` (`field` names the culprit), `/problems/out_of_stock` (the lines cannot be served now; the detail says which), or `/problems/unreachable` (no carrier service delivers there, or not by that method)", body = Problem)),
    security(("storefront" = []), ("admin" = [])))]
pub async fn quote(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body<QuoteBody>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, STOREFRONT)?;
    let request = body.into_inner().into_request()?;
    let options = state.engine.quote(request).await?;
    Ok(HttpResponse::Ok().json(Quote::from(options)))
}
