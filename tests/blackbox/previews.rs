//! `POST /v1/notifications/preview`: a message rendered as its channel would send it, against
//! the built-in sample or a stored order, in the shop's edited templates; admin only; bad
//! names and orders are 4xx naming the field.

use crate::support::*;
use serde_json::{json, Value};

async fn preview(api: &Api, body: Value) -> Resp {
    api.admin().post("/v1/notifications/preview", &body).await
}

#[actix_rt::test]
async fn previews_render_the_sample_and_stored_orders_in_the_shops_templates() {
    let templates = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(templates.path().join("ro")).unwrap();
    std::fs::write(
        templates.path().join("ro/confirmed.sms.txt"),
        "{{ shop.name }}: am primit comanda {{ order.number }} ({{ order.total }}).\n",
    )
    .unwrap();
    let server = Server::start_with(&format!(
        "[notifications]\nshop_name = \"Ceai\"\ntemplates_dir = {:?}\n",
        templates.path().to_str().unwrap()
    ))
    .await;
    let api = server.api();

    // The sample, in Arabic, by e-mail.
    let ar = preview(
        &api,
        json!({"kind": "shipped", "locale": "ar", "channel": "email"}),
    )
    .await
    .expect(200, "sample preview")
    .json;
    assert_eq!(ar["locale"], "ar");
    assert_eq!(ar["fell_back"], false);
    assert_eq!(ar["subject"], "تم شحن الطلب 1042");
    assert!(str_of(&ar["html"]).contains(r#"dir="rtl""#), "{ar}");

    // A stored order, in the shop's own Romanian SMS, with its segments.
    api.set_stock("ams", "MUG", 5).await;
    let placed = api
        .place(
            &new_key(),
            &order_body(&[("MUG", 2, 1250)], ("card", "captured")),
        )
        .await;
    let id = str_of(&placed["id"]);
    let sms = preview(
        &api,
        json!({"kind": "confirmed", "locale": "ro", "channel": "sms", "order_id": id}),
    )
    .await
    .expect(200, "order preview")
    .json;
    assert_eq!(
        sms["text"],
        "Ceai: am primit comanda web-1001 (25,00\u{a0}€)."
    );
    assert_eq!(sms["sms"]["segments"], 1);
    assert_eq!(sms["sms"]["encoding"], "ucs2", "{sms}");

    // WhatsApp: the approved template's name and its parameters.
    let wa = preview(
        &api,
        json!({"kind": "delivered", "locale": "tr", "channel": "whatsapp", "order_id": id}),
    )
    .await
    .expect(200, "whatsapp preview")
    .json;
    assert_eq!(wa["subject"], "orderly_delivered");
    assert_eq!(wa["text"], format!("{NAME}\nweb-1001"));

    // Bad input.
    let p = preview(
        &api,
        json!({"kind": "low_stock", "locale": "en", "channel": "email", "order_id": id}),
    )
    .await
    .problem(422, "a stock message is about no order");
    assert_eq!(p["field"], "order_id");
    preview(
        &api,
        json!({"kind": "shipped", "locale": "en", "channel": "email",
               "order_id": "0193a3c4-0000-7000-8000-000000000001"}),
    )
    .await
    .problem(404, "no such order");
    let p = preview(
        &api,
        json!({"kind": "shipped", "locale": "fr", "channel": "email"}),
    )
    .await;
    assert!(matches!(p.status, 400 | 422), "{}", p.text());
    api.storefront()
        .post(
            "/v1/notifications/preview",
            &json!({"kind": "shipped", "locale": "en", "channel": "email"}),
        )
        .await
        .problem(403, "admin only");
}
