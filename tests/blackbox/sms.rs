//! SMS and WhatsApp through a provider's HTTP API, against a local provider
//! (`orderly_testkit::provider`) that fails first as scripted: with the `twilio` preset an
//! order's message is posted as Twilio's form fields in the customer's language, with basic
//! auth, through a 429, a 500 and an accepted answer without an id (each retried, under one
//! `Idempotency-Key`), then accepted and its segments counted; with the `whatsapp_cloud` preset
//! it is a template message (name, language, parameters) with a bearer token; a number the
//! provider refuses (400) is dead-lettered at once; an order without a phone number gets no
//! SMS, and a phone number not in E.164 is refused at placing.

use crate::support::*;
use orderly_testkit::provider::{LocalProvider, Shape};
use serde_json::{json, Value};

const SID: &str = "AC0123456789abcdef0123456789abcdef";

fn toml(channel: &str, section: &str) -> String {
    format!(
        "[notifications]\nshop_name = \"Ceai\"\ncustomer_channel = \"{channel}\"\nmax_attempts = 6\nbackoff_base_ms = 20\nbackoff_cap_ms = 100\n\n[notifications.{channel}]\n{section}\n"
    )
}

async fn place(api: &Api, phone: Option<&str>, locale: &str) -> String {
    let mut body = order_body(&[("MUG", 1, 1250)], ("card", "captured"));
    body["customer"]["locale"] = json!(locale);
    match phone {
        Some(p) => body["customer"]["phone"] = json!(p),
        None => {
            body["customer"]
                .as_object_mut()
                .expect("customer")
                .remove("phone");
        }
    }
    let id = str_of(&api.place(&new_key(), &body).await["id"]);
    api.wait_status(&id, "confirmed").await;
    id
}

#[actix_rt::test]
async fn sms_through_a_twilio_style_api_is_retried_until_accepted_under_one_key() {
    let provider = LocalProvider::start(
        Shape::Twilio,
        &[(429, "{}"), (500, "oops"), (201, "<html>not json</html>")],
        None,
    )
    .await
    .expect("provider");
    let server = Server::start_with(&toml(
        "sms",
        &format!(
            "preset = \"twilio\"\nurl = \"{}\"\nusername = \"{SID}\"\npassword = \"tok\"\nfrom = \"+15005550006\"\ntimeout_ms = 2000",
            provider.url
        ),
    ))
    .await;
    let api = server.api();
    api.set_stock("ams", "MUG", 10).await;

    // No phone number: no SMS (the log and the webhook are the shop's own); a customer who
    // opted out of SMS, or prefers e-mail (not configured here), gets none either.
    place(&api, None, "ro").await;
    for (field, value) in [("opt_out", json!(["sms"])), ("channel", json!("email"))] {
        let mut body = order_body(&[("MUG", 1, 1250)], ("card", "captured"));
        body["customer"][field] = value;
        let quiet = str_of(&api.place(&new_key(), &body).await["id"]);
        api.wait_status(&quiet, "confirmed").await;
    }
    let id = place(&api, Some(PHONE), "ro-RO").await;
    let accepted = wait_until("the SMS is accepted", || async {
        let got = provider.accepted();
        if got.is_empty() {
            Err(format!("{} requests so far", provider.requests().len()))
        } else {
            Ok(got)
        }
    })
    .await;
    assert_eq!(
        accepted.len(),
        1,
        "one SMS, for the one order that wants them"
    );
    let requests = provider.requests();
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![429, 500, 201, 201],
        "a 429, a 500 and an answer without an id are retried"
    );
    let keys: std::collections::BTreeSet<&String> = requests
        .iter()
        .map(|r| &r.headers["idempotency-key"])
        .collect();
    assert_eq!(keys.len(), 1, "one key across the attempts: {keys:?}");
    assert!(keys.iter().all(|k| k.contains(&id.replace('-', ""))));
    let sms = &accepted[0];
    assert!(sms.headers["authorization"].starts_with("Basic "));
    assert_eq!(
        sms.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let form = sms.form();
    assert_eq!(form["To"], PHONE);
    assert_eq!(form["From"], "+15005550006");
    // The promised day depends on today: its shape is checked, Romanian weekday and month.
    let text = &form["Body"];
    assert!(
        text.starts_with("Ceai: comanda web-1001 este confirmată, livrare "),
        "{text}"
    );
    let romanian_month = [
        "ianuarie",
        "februarie",
        "martie",
        "aprilie",
        "mai",
        "iunie",
        "iulie",
        "august",
        "septembrie",
        "octombrie",
        "noiembrie",
        "decembrie",
    ];
    assert!(romanian_month.iter().any(|m| text.contains(m)), "{text}");
    assert!(api.metric("orderly_notification_sms_segments").await >= 1.0);
    let log = wait_until("the SMS on the order's log", || async {
        let log = api
            .storefront()
            .get(&format!("/v1/orders/{id}/notifications"))
            .await
            .expect(200, "the order's messages")
            .json;
        let sms = log["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["channel"] == "sms" && m["state"] == "sent")
            .cloned();
        sms.ok_or_else(|| format!("{log}"))
    })
    .await;
    assert_eq!(log["to"], PHONE);
    assert_eq!(log["attempts"], 4, "{log}");
    assert_eq!(log["segments"], 1);
    assert_eq!(log["locale"], "ro");
    assert_eq!(log["provider_id"], json!(accepted[0].id));
}

#[actix_rt::test]
async fn whatsapp_template_messages_and_a_refused_number() {
    let provider = LocalProvider::start(Shape::WhatsappCloud, &[], Some("+905321234567"))
        .await
        .expect("provider");
    let server = Server::start_with(&toml(
        "whatsapp",
        &format!(
            "preset = \"whatsapp_cloud\"\nurl = \"{}\"\ntoken = \"EAAG-secret\"",
            provider.url
        ),
    ))
    .await;
    let api = server.api();
    api.set_stock("ams", "MUG", 10).await;

    place(&api, Some("+905551234567"), "tr").await;
    let refused = place(&api, Some("+905321234567"), "tr").await;
    let got = wait_until("the WhatsApp message", || async {
        provider
            .accepted()
            .first()
            .cloned()
            .ok_or_else(|| "none yet".to_string())
    })
    .await;
    assert_eq!(got.headers["authorization"], "Bearer EAAG-secret");
    let body = got.json();
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["to"], "905551234567");
    assert_eq!(body["type"], "template");
    assert_eq!(body["template"]["name"], "orderly_confirmed");
    assert_eq!(body["template"]["language"]["code"], "tr");
    let params: Vec<Value> = body["template"]["components"][0]["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let texts: Vec<&str> = params.iter().filter_map(|p| p["text"].as_str()).collect();
    assert_eq!(texts, vec![NAME, "web-1001", "€12,50"]);

    let letter = api.dead_letter_of(&refused, "whatsapp").await;
    assert_eq!(letter["attempts"], 1, "a 400 is not retried: {letter}");
    assert!(
        str_of(&letter["last_error"]).contains("HTTP 400"),
        "{letter}"
    );
}

#[actix_rt::test]
async fn sms_goes_over_https_to_a_provider_whose_certificate_the_system_trusts() {
    let provider = LocalProvider::start_tls(Shape::Twilio, &[], None)
        .await
        .expect("provider");
    let certificate = provider.certificate.clone().expect("a certificate");
    let section = format!(
        "preset = \"twilio\"\nurl = \"{}\"\nusername = \"{SID}\"\npassword = \"tok\"\nfrom = \"+15005550006\"\ntimeout_ms = 5000",
        provider.url
    );
    assert!(provider.url.starts_with("https://127.0.0.1:"));
    // The system's roots are read from SSL_CERT_FILE: here, the provider's own certificate.
    let server = Server::start_with_env(
        &toml("sms", &section),
        &[("SSL_CERT_FILE", certificate.to_str().expect("utf-8 path"))],
    )
    .await;
    let api = server.api();
    api.set_stock("ams", "MUG", 10).await;
    place(&api, Some(PHONE), "en").await;
    let got = wait_until("the SMS over HTTPS", || async {
        provider
            .accepted()
            .first()
            .cloned()
            .ok_or_else(|| format!("{} requests", provider.requests().len()))
    })
    .await;
    assert_eq!(got.form()["To"], PHONE);
    assert!(got.form()["Body"].starts_with("Ceai: order web-1001 is confirmed"));
}
