//! Messages, for the people who answer for them: `POST /v1/notifications/preview` (admin), a
//! message rendered for a kind, locale and channel against a stored order or the built-in
//! sample — what a shop checks an edited template with (`orderly_actors::engine::previews`);
//! and `GET /v1/orders/{id}/notifications` (storefront, admin), what was sent about an order,
//! where, when and how it stands (`orderly_actors::engine::message_log`).

use super::auth::Role;
use super::body::Body;
use super::problem::Problem;
use super::schema::requests::{OrderPath, PreviewBody};
use super::schema::views::{MessagePreview, OrderMessages};
use super::{parse_id, AppState};
use actix_web::{web, HttpRequest, HttpResponse};

#[utoipa::path(get, path = "/v1/orders/{id}/notifications", tag = "storefront", params(OrderPath),
    responses(
        (status = 200, description = "The order's messages, by step: those delivered to people (e-mail, SMS, WhatsApp: where, when, the provider's id), those waiting or retrying in the outbox, and those dead-lettered (with the last error). Messages to machines (the log, a webhook) are listed only while pending or dead-lettered. At most 200 of each", body = OrderMessages),
        (status = 404, description = "`/problems/not_found`: no order with this id", body = Problem)),
    security(("storefront" = []), ("admin" = [])))]
pub async fn order_messages(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<OrderPath>,
) -> Result<HttpResponse, Problem> {
    state.keys.require(&req, &[Role::Storefront])?;
    let records = state.engine.order_messages(parse_id(&path.id)?).await?;
    Ok(HttpResponse::Ok().json(OrderMessages::from(records)))
}

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
