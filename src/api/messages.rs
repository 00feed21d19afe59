//! `POST /v1/notifications/preview` (admin): a message rendered for a kind, locale and
//! channel, against a stored order or the built-in sample — what a shop checks an edited
//! template with (see `orderly_actors::engine::previews`).

use super::auth::Role;
use super::body::Body;
use super::problem::Problem;
use super::schema::requests::PreviewBody;
use super::schema::views::MessagePreview;
use super::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

#[utoipa::path(post, path = "/v1/notifications/preview", tag = "admin", request_body = PreviewBody,
    responses(
        (status = 200, description = "The message as the channel would send it; nothing is sent or stored", body = MessagePreview),
        (status = 400, description = "`/problems/bad_request`: malformed JSON", body = Problem),
        (status = 404, description = "`/problems/not_found`: no order with `order_id`", body = Problem),
        (status = 422, description = "`/problems/validation` (`field`: `kind`, `locale`, `channel` or `order_id`, e.g. a stock message asked for an order), or `/problems/template_failed` (the template fails on this order's data)", body = Problem)),
    security(("admin" = [])))]
pub async fn preview(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body<PreviewBody>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Admin])?;
    let preview = state
        .engine
        .preview(body.into_inner().into_request())
        .await?;
    Ok(HttpResponse::Ok().json(MessagePreview::from(preview)))
}

#[cfg(test)]
mod tests {
    use super::super::schema::requests::MessageKind;

    #[test]
    fn the_documented_kinds_are_the_engines() {
        let documented: Vec<String> = MessageKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(documented, orderly_actors::engine::previews::kinds());
    }
}
