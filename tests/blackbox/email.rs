//! E-mail over SMTP, against a real SMTP server (`orderly_testkit::smtp`, aiosmtpd) that
//! parses what it receives: an order's messages arrive multipart (text and HTML) in the
//! customer's language (Arabic right to left, Romanian, English for a language not shipped,
//! counted), from and replied to as configured, each with a `Message-ID` made of the
//! notification's stable id; a temporary refusal (451) is retried, a permanent one (550) is
//! dead-lettered at once; a message the server received but had not yet acknowledged when
//! the service was killed is sent again after the restart under the same `Message-ID`;
//! operations and back-in-stock subscribers are mailed too, the latter with
//! `List-Unsubscribe`.

use crate::support::*;
use orderly_testkit::smtp::{LocalSmtp, SmtpOptions, Tls};
use serde_json::{json, Value};
use std::time::Duration;

const FROM: &str = "orders@shop.example";

/// The `[notifications]` overlay that mails through `smtp`, plus `extra` lines under
/// `[notifications]`.
fn mail_toml(smtp: &LocalSmtp, extra: &str) -> String {
    format!(
        r#"
[notifications]
shop_name = "Tea & Mugs"
tracking_url = "https://shop.example/track/{{token}}"
max_attempts = 4
backoff_base_ms = 20
backoff_cap_ms = 100
{extra}

[notifications.email]
host = "127.0.0.1"
port = {port}
security = "none"
from = "Tea & Mugs <{FROM}>"
reply_to = "help@shop.example"
unsubscribe = "mailto:unsubscribe@shop.example"
timeout_ms = 60000
"#,
        port = smtp.port
    )
}

/// Places a paid order of one MUG for a customer at `email` speaking `locale`; its id.
async fn place(api: &Api, email: &str, locale: &str) -> String {
    let mut body = order_body(&[("MUG", 1, 1250)], ("card", "captured"));
    body["customer"]["email"] = json!(email);
    body["customer"]["locale"] = json!(locale);
    let id = str_of(&api.place(&new_key(), &body).await["id"]);
    api.wait_status(&id, "confirmed").await;
    id
}

fn header(m: &Value, name: &str) -> String {
    m["headers"][name].as_str().unwrap_or_default().to_string()
}

fn to(m: &Value) -> Vec<String> {
    m["rcpt_tos"]
        .as_array()
        .map(|a| a.iter().map(str_of).collect())
        .unwrap_or_default()
}

async fn mail(smtp: &LocalSmtp, n: usize) -> Vec<Value> {
    smtp.wait_for(n, Duration::from_secs(30))
        .await
        .expect("mail arrives")
}

#[actix_rt::test]
async fn orders_are_mailed_in_the_customers_language_through_temporary_refusals() {
    let smtp = LocalSmtp::start(SmtpOptions {
        fail_first: 2,
        ..Default::default()
    })
    .await
    .expect("SMTP server");
    let server = Server::start_with(&mail_toml(&smtp, "")).await;
    let api = server.api();
    api.set_stock("ams", "MUG", 10).await;

    let ar = place(&api, "layla@example.com", "ar-EG").await;
    let got = mail(&smtp, 1).await;
    let m = &got[0];
    assert_eq!(to(m), vec!["layla@example.com"]);
    assert!(header(m, "from").contains(FROM), "{m}");
    assert_eq!(header(m, "reply-to"), "help@shop.example");
    assert_eq!(header(m, "subject"), "تم تأكيد الطلب web-1001");
    assert_eq!(header(m, "content-language"), "ar");
    let simple = ar.replace('-', "");
    let message_id = header(m, "message-id");
    assert!(
        message_id.starts_with(&format!("<msg_{simple}_"))
            && message_id.ends_with("_email@shop.example>"),
        "{message_id}"
    );
    assert_eq!(m["content_type"], "multipart/alternative");
    let html = str_of(&m["html"]);
    assert!(html.contains(r#"<html lang="ar" dir="rtl">"#), "{html}");
    assert!(html.contains("Tea &amp; Mugs"), "escaped in HTML: {html}");
    let text = str_of(&m["text"]);
    assert!(text.contains("١٢٫٥٠"), "Arabic digits: {text}");
    assert!(text.contains("Tea & Mugs"), "plain in text: {text}");
    assert!(
        text.contains(&format!(
            "https://shop.example/track/{}",
            order_token(&api, &ar).await
        )),
        "{text}"
    );

    place(&api, "ana@example.ro", "ro-RO").await;
    place(&api, "jan@example.nl", "nl-NL").await;
    let got = mail(&smtp, 3).await;
    assert_eq!(
        header(&got[1], "subject"),
        "Comanda web-1001 este confirmată"
    );
    assert!(
        str_of(&got[1]["text"]).contains("12,50\u{a0}€"),
        "{}",
        got[1]
    );
    // Dutch is not shipped: English, and counted.
    assert_eq!(header(&got[2], "subject"), "Order web-1001 is confirmed");
    assert_eq!(header(&got[2], "content-language"), "en");
    assert!(api.metric("orderly_notification_locale_fallbacks").await >= 1.0);
    // The two 451s were retried, not lost: each message arrived once.
    assert!(api.metric("orderly_notification_failures").await >= 2.0);
    let ids: std::collections::BTreeSet<String> =
        got.iter().map(|m| header(m, "message-id")).collect();
    assert_eq!(ids.len(), 3, "{got:?}");
}

async fn order_token(api: &Api, id: &str) -> String {
    str_of(&api.order(id).await["tracking_token"])
}

#[actix_rt::test]
async fn a_permanent_refusal_is_dead_lettered_at_once_and_the_rest_keeps_moving() {
    let smtp = LocalSmtp::start(SmtpOptions {
        refuse: Some("gone@example.com".to_string()),
        ..Default::default()
    })
    .await
    .expect("SMTP server");
    let server = Server::start_with(&mail_toml(&smtp, "")).await;
    let api = server.api();
    api.set_stock("ams", "MUG", 10).await;

    let refused = place(&api, "gone@example.com", "en").await;
    let here = place(&api, "here@example.com", "en").await;
    let got = mail(&smtp, 1).await;
    assert_eq!(to(&got[0]), vec!["here@example.com"]);

    let letter = api.dead_letter_of(&refused, "email").await;
    assert_eq!(letter["attempts"], 1, "not retried: {letter}");
    assert!(str_of(&letter["last_error"]).contains("550"), "{letter}");
    assert_eq!(
        smtp.messages().len(),
        1,
        "nothing sent to the refused address"
    );

    // What support sees for each order.
    let log = |id: String| {
        let api = &api;
        async move {
            api.storefront()
                .get(&format!("/v1/orders/{id}/notifications"))
                .await
                .expect(200, "the order's messages")
                .json
        }
    };
    let email_of = |log: &Value| -> Value {
        log["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["channel"] == "email")
            .cloned()
            .unwrap_or(Value::Null)
    };
    let delivered = wait_until("the delivered mail on the order's log", || async {
        let m = email_of(&log(here.clone()).await);
        if m["state"] == "sent" {
            Ok(m)
        } else {
            Err(format!("{m}"))
        }
    })
    .await;
    assert_eq!(delivered["kind"], "confirmed");
    assert_eq!(delivered["to"], "here@example.com");
    assert_eq!(delivered["locale"], "en");
    assert_eq!(delivered["attempts"], 1);
    assert!(
        str_of(&delivered["provider_id"]).contains("queued as SINK"),
        "{delivered}"
    );
    assert_eq!(
        delivered["message_id"]
            .as_str()
            .map(|m| format!("<{m}@shop.example>")),
        Some(header(&got[0], "message-id"))
    );
    let gone = email_of(&log(refused.clone()).await);
    assert_eq!(gone["state"], "dead_lettered", "{gone}");
    assert!(str_of(&gone["last_error"]).contains("550"), "{gone}");
    api.warehouse()
        .get(&format!("/v1/orders/{here}/notifications"))
        .await
        .problem(403, "not the warehouse's business");
    api.storefront()
        .get("/v1/orders/0193a3c4-0000-7000-8000-000000000001/notifications")
        .await
        .problem(404, "no such order");
}

#[actix_rt::test]
async fn a_message_unacknowledged_at_a_kill_9_is_sent_again_under_the_same_message_id() {
    let smtp = LocalSmtp::start(SmtpOptions {
        hold_first: Some(Duration::from_secs(60)),
        ..Default::default()
    })
    .await
    .expect("SMTP server");
    let mut server = Server::start_with(&mail_toml(&smtp, "")).await;
    let api = server.api();
    api.set_stock("ams", "MUG", 10).await;
    let first = place(&api, "first@example.com", "en").await;
    // The server has the message but has not said so: the service dies now.
    let got = mail(&smtp, 1).await;
    server.kill9();
    server.restart().await;
    let api = server.api();
    let second = place(&api, "second@example.com", "tr").await;

    let got_after = wait_until("the first message again, and the second", || async {
        let all = smtp.messages();
        let firsts = all
            .iter()
            .filter(|m| to(m) == ["first@example.com"])
            .count();
        let seconds = all
            .iter()
            .filter(|m| to(m) == ["second@example.com"])
            .count();
        if firsts >= 2 && seconds >= 1 {
            Ok(all)
        } else {
            Err(format!("{firsts} first, {seconds} second"))
        }
    })
    .await;
    let again: Vec<&Value> = got_after
        .iter()
        .filter(|m| to(m) == ["first@example.com"])
        .collect();
    assert_eq!(
        header(again[0], "message-id"),
        header(again[1], "message-id"),
        "one message, one id"
    );
    assert_eq!(
        header(again[0], "message-id"),
        header(&got[0], "message-id")
    );
    assert!(header(again[0], "message-id").contains(&first.replace('-', "")));
    let turkish = got_after
        .iter()
        .find(|m| to(m) == ["second@example.com"])
        .unwrap();
    assert!(header(turkish, "message-id").contains(&second.replace('-', "")));
    assert_eq!(
        header(turkish, "subject"),
        "web-1001 numaralı siparişiniz onaylandı"
    );
}

#[actix_rt::test]
async fn operations_and_back_in_stock_subscribers_are_mailed() {
    let smtp = LocalSmtp::start(SmtpOptions::default())
        .await
        .expect("SMTP server");
    let server = Server::start_with(&format!(
        "{}\n[notifications.operations]\nemail = [\"ops@shop.example\", \"Floor <floor@shop.example>\"]\n",
        mail_toml(&smtp, "")
    ))
    .await;
    let api = server.api();

    // Low stock: operations get one message, to both addresses.
    api.set_stock("ams", "MUG", 3).await;
    api.warehouse()
        .put(
            "/v1/inventory/ams/MUG/reorder-point",
            &json!({"reorder_point": 2}),
        )
        .await
        .expect(200, "reorder point");
    place(&api, "buyer@example.com", "en").await;
    let low = wait_until("the low-stock mail", || async {
        smtp.messages()
            .into_iter()
            .find(|m| header(m, "subject").starts_with("Low stock"))
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    assert_eq!(to(&low), vec!["ops@shop.example", "floor@shop.example"]);
    assert_eq!(header(&low, "subject"), "Low stock: MUG at ams");
    assert!(header(&low, "list-unsubscribe").is_empty(), "{low}");

    // Back in stock: the subscriber is mailed, with a way to unsubscribe.
    api.set_stock("ams", "TEA", 0).await;
    api.storefront()
        .post(
            "/v1/stock-subscriptions",
            &json!({"sku": "TEA", "contact": "waiting@example.com"}),
        )
        .await
        .expect(201, "subscribed");
    api.set_stock("ams", "TEA", 4).await;
    let back = wait_until("the back-in-stock mail", || async {
        smtp.messages()
            .into_iter()
            .find(|m| to(m) == ["waiting@example.com"])
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    assert_eq!(header(&back, "subject"), "TEA is back in stock");
    assert_eq!(
        header(&back, "list-unsubscribe"),
        "<mailto:unsubscribe@shop.example>"
    );
}

/// `[notifications.email]` over TLS (`security`), trusting the server's own certificate, with
/// a user and password.
fn tls_toml(smtp: &LocalSmtp, security: &str) -> String {
    format!(
        r#"
[notifications]
shop_name = "Tea & Mugs"

[notifications.email]
host = "127.0.0.1"
port = {port}
security = "{security}"
ca_file = {ca:?}
username = "orders"
password = "s3cret"
from = "Tea & Mugs <{FROM}>"
"#,
        port = smtp.port,
        ca = smtp
            .certificate
            .as_ref()
            .expect("a TLS server has a certificate")
            .to_str()
            .expect("utf-8 path"),
    )
}

#[actix_rt::test]
async fn mail_goes_over_starttls_or_implicit_tls_with_a_password() {
    for (tls, security) in [(Tls::Starttls, "starttls"), (Tls::Implicit, "tls")] {
        let smtp = LocalSmtp::start(SmtpOptions {
            tls: Some(tls),
            auth: Some(("orders".into(), "s3cret".into())),
            ..Default::default()
        })
        .await
        .expect("SMTP server");
        let server = Server::start_with(&tls_toml(&smtp, security)).await;
        let api = server.api();
        api.set_stock("ams", "MUG", 10).await;
        place(&api, "secure@example.com", "tr").await;
        let got = mail(&smtp, 1).await;
        assert_eq!(to(&got[0]), vec!["secure@example.com"], "{security}");
        assert_eq!(
            header(&got[0], "subject"),
            "web-1001 numaralı siparişiniz onaylandı"
        );
    }
}
