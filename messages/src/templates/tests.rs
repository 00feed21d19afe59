use super::*;
use crate::context::{self, Shop};
use orderly_domain::fixtures;
use orderly_domain::{
    Booking, Cause, Command, DeliveryException, FailureReason, InitialPaymentStatus, LineQty,
    NotificationKind, Order, PaymentMethod, Promise, Shipment, ShipmentStatus, WarehouseId,
};
use std::fs;

fn shipped() -> Templates {
    Templates::load(None).expect("the shipped templates pass their own check")
}

/// A shop's template directory with `files` in it.
fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, source) in files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, source).unwrap();
    }
    dir
}

/// `load` of a directory holding `files` fails naming `file` (and `line`), with `reason` in
/// its message.
fn check_refused(files: &[(&str, &str)], file: &str, line: Option<usize>, reason: &str) {
    let dir = dir_with(files);
    let e = Templates::load(Some(dir.path())).expect_err("refused");
    assert_eq!(e.file, file, "{e}");
    assert_eq!(e.line, line, "{e}");
    assert!(e.to_string().contains(reason), "{e}");
}

#[test]
fn every_kind_has_every_channel_in_every_locale() {
    let t = shipped();
    for kind in Kind::all() {
        for locale in Locale::ALL {
            for channel in Channel::ALL {
                assert!(
                    t.has(kind, locale, channel),
                    "{} {locale} {}",
                    kind.name(),
                    channel.as_str()
                );
                let r = t
                    .render(kind, locale, channel, &sample::vars(kind, locale))
                    .unwrap();
                assert!(!r.fell_back);
                assert!(!r.text.trim().is_empty(), "{} {locale}", kind.name());
            }
        }
    }
}

#[test]
fn an_email_has_a_subject_a_text_part_and_an_html_part() {
    let t = shipped();
    let kind = Kind::Order(NotificationKind::Shipped);
    let r = t
        .render(
            kind,
            Locale::En,
            Channel::Email,
            &sample::vars(kind, Locale::En),
        )
        .unwrap();
    assert_eq!(r.subject.as_deref(), Some("Order 1042 has shipped"));
    assert!(r.text.starts_with("Hello Ana Popescu,\n\nYour parcel is on its way with PostNL (tracking number 3SABCD1234567).\n\nExpected delivery: Thursday 26 November – Friday 27 November.\n\n"), "{}", r.text);
    assert!(!r.text.contains("\n\n\n"), "{}", r.text);
    let html = r.html.unwrap();
    assert!(html.contains(r#"<html lang="en" dir="ltr">"#), "{html}");
    assert!(html.contains("<p>Hello Ana Popescu,</p>"), "{html}");
    // minijinja escapes `/` too; mail clients read the entity back.
    assert!(
        html.contains(r#"href="https:&#x2f;&#x2f;shop.example&#x2f;track&#x2f;trk_sample""#),
        "{html}"
    );
}

#[test]
fn arabic_email_is_right_to_left_with_arabic_dates() {
    let t = shipped();
    let kind = Kind::Order(NotificationKind::Shipped);
    let r = t
        .render(
            kind,
            Locale::Ar,
            Channel::Email,
            &sample::vars(kind, Locale::Ar),
        )
        .unwrap();
    let html = r.html.unwrap();
    assert!(html.contains(r#"<html lang="ar" dir="rtl">"#), "{html}");
    assert!(html.contains("text-align:right"), "{html}");
    assert!(r.text.contains("الخميس، ٢٦ نوفمبر"), "{}", r.text);
}

#[test]
fn html_parts_escape_values_and_text_parts_do_not() {
    let t = shipped();
    let kind = Kind::Order(NotificationKind::Confirmed);
    let mut vars = sample::vars(kind, Locale::En);
    vars["customer"]["name"] = serde_json::json!("<b>Ann</b> & Co");
    let r = t.render(kind, Locale::En, Channel::Email, &vars).unwrap();
    assert!(r.text.contains("Hello <b>Ann</b> & Co,"), "{}", r.text);
    let html = r.html.unwrap();
    assert!(
        html.contains("Hello &lt;b&gt;Ann&lt;&#x2f;b&gt; &amp; Co,"),
        "{html}"
    );
}

#[test]
fn a_subject_is_one_line_whatever_the_values() {
    let t = shipped();
    let kind = Kind::Order(NotificationKind::Confirmed);
    let mut vars = sample::vars(kind, Locale::En);
    vars["order"]["number"] = serde_json::json!("1042\r\nBcc: x@example.com");
    let r = t.render(kind, Locale::En, Channel::Email, &vars).unwrap();
    assert_eq!(
        r.subject.as_deref(),
        Some("Order 1042 Bcc: x@example.com is confirmed")
    );
}

#[test]
fn whatsapp_names_the_template_and_lists_its_parameters() {
    let t = shipped();
    let kind = Kind::Order(NotificationKind::Shipped);
    let r = t
        .render(
            kind,
            Locale::Tr,
            Channel::Whatsapp,
            &sample::vars(kind, Locale::Tr),
        )
        .unwrap();
    assert_eq!(r.subject.as_deref(), Some("orderly_shipped"));
    assert_eq!(
        r.text,
        "Ana Popescu\n1042\nPostNL\n3SABCD1234567\n26 Kasım Perşembe – 27 Kasım Cuma"
    );
}

#[test]
fn a_shops_file_replaces_the_shipped_one() {
    let dir = dir_with(&[(
        "ro/shipped.sms.txt",
        "{{ shop.name }}: coletul {{ order.number }} e pe drum!",
    )]);
    let t = Templates::load(Some(dir.path())).unwrap();
    let kind = Kind::Order(NotificationKind::Shipped);
    let r = t
        .render(
            kind,
            Locale::Ro,
            Channel::Sms,
            &sample::vars(kind, Locale::Ro),
        )
        .unwrap();
    assert_eq!(r.text, "Example Shop: coletul 1042 e pe drum!");
}

#[test]
fn bad_templates_stop_the_start_naming_file_and_line() {
    // (files, file named, line, words in the reason)
    check_refused(
        &[("en/shipped.sms.txt", "line one\n{{ order.number }\n")],
        "en/shipped.sms.txt",
        Some(2),
        "syntax error",
    );
    check_refused(
        &[(
            "tr/delivered.email.txt",
            "{% block subject %}x{% endblock %}\n{% block body %}\n{{ refund }}\n{% endblock %}",
        )],
        "tr/delivered.email.txt",
        Some(3),
        "uses 'refund', which delivered messages do not have",
    );
    // A misspelt attribute is caught by the sample render.
    check_refused(
        &[("ar/shipped.sms.txt", "{{ shipment.carier }}")],
        "ar/shipped.sms.txt",
        Some(1),
        "undefined",
    );
    check_refused(
        &[("fr/shipped.sms.txt", "x")],
        "fr/shipped.sms.txt",
        None,
        "unknown locale 'fr'",
    );
    check_refused(
        &[("en/shiped.sms.txt", "x")],
        "en/shiped.sms.txt",
        None,
        "unknown kind 'shiped'",
    );
    check_refused(
        &[("en/shipped.fax.txt", "x")],
        "en/shipped.fax.txt",
        None,
        "unknown file 'fax.txt'",
    );
}

#[test]
fn a_missing_locale_falls_back_to_english() {
    // A shop's directory cannot delete a shipped file, so the fallback is seen through a
    // kind × locale whose HTML part the check found missing: simulate by asking `has`.
    let t = shipped();
    let kind = Kind::Order(NotificationKind::Delivered);
    assert!(t.has(kind, Locale::Ro, Channel::Email));
    let mut t = t;
    t.names.remove("ro/delivered.email.html");
    let r = t
        .render(
            kind,
            Locale::Ro,
            Channel::Email,
            &sample::vars(kind, Locale::Ro),
        )
        .unwrap();
    assert!(r.fell_back);
    assert_eq!(r.locale, Locale::En);
    assert_eq!(r.subject.as_deref(), Some("Order 1042 was delivered"));
}

/// The shape of a JSON value: its keys, recursively (arrays by their first element).
fn shape(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.first().map(shape).into_iter().collect())
        }
        _ => serde_json::Value::Null,
    }
}

/// An order with everything a message can name: a booked shipment with a promise and an
/// open exception, a cancellation, a refund, a return.
fn full_order() -> Order {
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let place = Command::Place {
        id: uuid::Uuid::now_v7(),
        tracking_token: "trk_1".to_string(),
        order: fixtures::new_order(
            &[("MUG", 2, 1250), ("TEA", 1, 1750)],
            PaymentMethod::Card,
            InitialPaymentStatus::Captured,
        ),
        payment_timeout_secs: 3600,
    };
    let events = orderly_domain::decide(None, &place, &Cause::Storefront, now).unwrap();
    let mut order = orderly_domain::fold(None, &events).unwrap();
    let day = |s: &str| s.parse().unwrap();
    let promise = Promise {
        earliest: day("2026-11-26"),
        latest: day("2026-11-27"),
        time_zone: "Europe/Amsterdam".to_string(),
    };
    order.backordered = vec![LineQty {
        sku: "TEA".into(),
        quantity: 1,
    }];
    order.shipments = vec![Shipment {
        id: 1,
        warehouse: WarehouseId::new("ams"),
        lines: Vec::new(),
        status: ShipmentStatus::Shipped,
        parcels: Vec::new(),
        booking: Some(Booking {
            carrier: "postnl".to_string(),
            carrier_name: "PostNL".to_string(),
            service: "standard".to_string(),
            tracking_number: "3S1".to_string(),
            estimated_delivery: day("2026-11-27"),
            price: None,
            rule: None,
            promise: Some(promise),
            label_url: None,
        }),
        last_scan: None,
        last_scan_at: None,
        last_location: None,
        delivered_at: None,
        plan: None,
        delayed: true,
        attempts: 1,
        exception: Some(DeliveryException {
            reason: FailureReason::CustomerNotAvailable,
            attempt: 1,
            opened_at: now,
            answer_by: now,
            answer: None,
            answered_at: None,
        }),
        return_to_origin: None,
        pick_pack_late: true,
    }];
    order
}

#[test]
fn the_sample_has_exactly_the_shape_of_a_real_order() {
    let order = full_order();
    let shop = Shop {
        name: "Example Shop".to_string(),
        tracking_url: Some("https://shop.example/track/{token}".to_string()),
    };
    for kind in NotificationKind::ALL {
        let real = context::for_order(kind, &order, &shop, Locale::Ro);
        let sample = sample::vars(Kind::Order(kind), Locale::Ro);
        assert_eq!(shape(&real), shape(&sample), "{}", kind.as_str());
        let keys: BTreeSet<String> = real.as_object().unwrap().keys().cloned().collect();
        let allowed: BTreeSet<String> = context::variables(Kind::Order(kind))
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(keys, allowed, "{}", kind.as_str());
    }
}

#[test]
fn a_real_order_renders_in_every_locale() {
    let t = shipped();
    let order = full_order();
    let shop = Shop {
        name: "Shop".to_string(),
        tracking_url: None,
    };
    for kind in NotificationKind::ALL {
        for locale in Locale::ALL {
            let vars = context::for_order(kind, &order, &shop, locale);
            for channel in Channel::ALL {
                t.render(Kind::Order(kind), locale, channel, &vars)
                    .unwrap_or_else(|e| panic!("{} {locale}: {e}", kind.as_str()));
            }
        }
    }
}
