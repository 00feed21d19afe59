use super::*;
use crate::clock::{ManualClock, SystemClock};
use crate::domain::{
    decide, fold, Address, Cause, Command, Currency, Customer, Effect, InitialPaymentStatus,
    NewLine, NewOrder, NewPayment, PaymentMethod, Shipping,
};
use crate::domain::{NotificationKind, Order};
use crate::engine::webhook::verify;
use crate::engine::webhook::WebhookSecret;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::{DateTime, Utc};
use orderly_storage::memory::MemoryStorage;
use orderly_storage::TransitionWrite;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Storage holding one placed order; returns it, a guard (nothing to clean up in memory) and
/// the order.
fn store_with_order() -> (Arc<dyn Storage>, (), Order) {
    let store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let cmd = Command::Place {
        id: uuid::Uuid::now_v7(),
        tracking_token: "tok_test".to_string(),
        order: NewOrder {
            external_ref: Some("ext-1".to_string()),
            customer: Customer {
                id: "cust-1".to_string(),
                email: "ann@example.com".to_string(),
                phone: None,
                locale: Some("nl-NL".to_string()),
                channel: None,
                opt_out: Vec::new(),
            },
            currency: Currency::parse("EUR").unwrap(),
            lines: vec![NewLine {
                sku: "SKU-1".into(),
                quantity: 2,
                unit_price: 1250,
            }],
            shipping: Shipping {
                method: None,
                address: Address {
                    name: "Ann".to_string(),
                    line1: "Main 1".to_string(),
                    line2: None,
                    city: "Utrecht".to_string(),
                    postal_code: "3511".to_string(),
                    country: "NL".to_string(),
                },
                weight_grams: None,
            },
            billing_address: None,
            payment: NewPayment {
                method: PaymentMethod::Card,
                status: InitialPaymentStatus::Captured,
            },
            allow_split: None,
        },
        payment_timeout_secs: 900,
    };
    let events = decide(None, &cmd, &Cause::Storefront, start_time()).unwrap();
    let order = fold(None, &events).unwrap();
    // In memory a commit is durable at once.
    let _durable = store
        .commit_transition(&TransitionWrite {
            before: None,
            after: &order,
            events: &events,
            outbox: &[],
            set_timers: &[],
            clear_timers: &[],
            idempotency: None,
        })
        .unwrap();
    (store, (), order)
}

fn entry(order_id: uuid::Uuid, channel: &str) -> OutboxEntry {
    entry_at(order_id, channel, 1)
}

fn entry_at(order_id: uuid::Uuid, channel: &str, step: u32) -> OutboxEntry {
    OutboxEntry::new(
        Effect {
            order_id,
            step,
            kind: EffectKind::Notify {
                kind: NotificationKind::Confirmed,
            },
        },
        Some(channel.to_string()),
    )
}

fn config(webhook_url: Option<String>, max_attempts: u32) -> NotifierConfig {
    NotifierConfig {
        log: true,
        webhook: webhook_url.map(|url| WebhookConfig {
            url,
            secret: SECRET.to_string(),
            timeout_ms: 2_000,
        }),
        max_attempts,
        backoff_base_ms: 10,
        backoff_cap_ms: 50,
        ..Default::default()
    }
}

/// Polls `cond` until it holds, failing the test after 10 s. No fixed sleeps.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
}

struct Received {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A webhook receiver that records every request and answers 500 to the first
/// `fail_first` of them, 204 afterwards.
struct Receiver {
    fail_first: usize,
    requests: Mutex<Vec<Received>>,
}

impl Receiver {
    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, rx: web::Data<Receiver>) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut requests = rx.requests.lock().unwrap();
    let fail = requests.len() < rx.fail_first;
    requests.push(Received {
        headers,
        body: body.to_vec(),
    });
    if fail {
        HttpResponse::InternalServerError().finish()
    } else {
        HttpResponse::NoContent().finish()
    }
}

async fn start_receiver(
    fail_first: usize,
) -> (String, web::Data<Receiver>, actix_web::dev::ServerHandle) {
    let rx = web::Data::new(Receiver {
        fail_first,
        requests: Mutex::new(Vec::new()),
    });
    let data = rx.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(receive))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let url = format!("http://{}/hooks/orderly", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (url, rx, handle)
}

async fn stats(addr: &Addr<Notifier>) -> NotifierStats {
    addr.send(GetStats).await.unwrap()
}

#[actix_rt::test]
async fn webhook_retries_until_delivered_once_with_a_stable_signed_id() {
    let (store, _dir, order) = store_with_order();
    let (url, rx, server) = start_receiver(3).await;
    let clock = Arc::new(ManualClock::new(start_time()));
    let e = entry(order.id, WEBHOOK);
    store.record_outbox_attempt(&e).unwrap();
    let addr = Notifier::new(store.clone(), clock, config(Some(url), 8)).start();

    // A repeated Deliver while the first chain is pending must not start a second chain.
    addr.do_send(Deliver {
        entry: e.clone(),
        origin: Origin::Storage,
    });
    addr.do_send(Deliver {
        entry: e.clone(),
        origin: Origin::Storage,
    });
    eventually("the entry to leave the outbox", || {
        store.outbox_entry(&e).unwrap().is_none()
    })
    .await;

    let s = stats(&addr).await;
    assert_eq!(
        s,
        NotifierStats {
            delivered: 1,
            failed_attempts: 3,
            dead_lettered: 0,
            locale_fallbacks: 0,
            sms_segments: 0,
            held_back: 0,
        }
    );
    let secret = WebhookSecret::parse(SECRET).unwrap();
    // A copy, so no lock is held across the awaits below.
    let requests: Vec<(HashMap<String, String>, Vec<u8>)> = rx
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| (r.headers.clone(), r.body.clone()))
        .collect();
    assert_eq!(requests.len(), 4, "3 failures then one success");
    for (headers, body) in &requests {
        assert_eq!(headers["webhook-id"], e.message_id());
        assert_eq!(headers["content-type"], "application/json");
        let ts: i64 = headers["webhook-timestamp"].parse().unwrap();
        assert_eq!(ts, start_time().timestamp());
        assert!(verify(
            &secret,
            &e.message_id(),
            ts,
            body,
            &headers["webhook-signature"]
        ));
    }
    let body: serde_json::Value = serde_json::from_slice(&requests[3].1).unwrap();
    assert_eq!(body["type"], "order.confirmed");
    assert_eq!(body["timestamp"], "2024-05-01T12:00:00.000Z");
    let data = &body["data"];
    assert_eq!(data["message_id"], e.message_id());
    assert_eq!(data["order_id"], order.id.to_string());
    assert_eq!(data["external_ref"], "ext-1");
    assert_eq!(data["kind"], "confirmed");
    assert_eq!(data["status"], "placed");
    assert_eq!(data["step"], 1);
    assert_eq!(data["customer"]["email"], "ann@example.com");
    assert_eq!(data["customer"]["locale"], "nl-NL");
    assert_eq!(data["tracking_token"], "tok_test");
    assert!(
        data["carrier"].is_null()
            && data["refunded"].is_null()
            && data["cancellation_reason"].is_null()
    );
    assert!(store.dead_letters(10).unwrap().is_empty());
    server.stop(true).await;
}

#[actix_rt::test]
async fn webhook_that_always_fails_is_dead_lettered_after_max_attempts() {
    let (store, _dir, order) = store_with_order();
    let (url, rx, server) = start_receiver(usize::MAX).await;
    let e = entry(order.id, WEBHOOK);
    store.record_outbox_attempt(&e).unwrap();
    let addr = Notifier::new(store.clone(), Arc::new(SystemClock), config(Some(url), 3)).start();
    addr.do_send(Deliver {
        entry: e.clone(),
        origin: Origin::Storage,
    });

    eventually("a dead letter", || {
        !store.dead_letters(10).unwrap().is_empty()
    })
    .await;
    let letters = store.dead_letters(10).unwrap();
    assert_eq!(letters.len(), 1);
    let l = &letters[0];
    assert_eq!(l.message_id, e.message_id());
    assert_eq!(l.order_id, Some(order.id));
    assert_eq!(l.kind, "confirmed");
    assert_eq!(l.channel.as_deref(), Some(WEBHOOK));
    assert_eq!(l.attempts, 3);
    assert_eq!(l.last_error.as_deref(), Some("HTTP 500"));
    assert!(store.outbox_entry(&e).unwrap().is_none());
    assert_eq!(
        stats(&addr).await,
        NotifierStats {
            delivered: 0,
            failed_attempts: 3,
            dead_lettered: 1,
            locale_fallbacks: 0,
            sms_segments: 0,
            held_back: 0,
        }
    );
    assert_eq!(rx.count(), 3);
    server.stop(true).await;
}

#[actix_rt::test]
async fn unreachable_webhook_records_retry_state_with_the_error() {
    let (store, _dir, order) = store_with_order();
    // Bind then drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let clock = Arc::new(ManualClock::new(start_time()));
    let mut cfg = config(Some(format!("http://127.0.0.1:{port}/")), 2);
    cfg.backoff_base_ms = 40;
    cfg.backoff_cap_ms = 40;
    let e = entry(order.id, WEBHOOK);
    store.record_outbox_attempt(&e).unwrap();
    let addr = Notifier::new(store.clone(), clock, cfg).start();
    addr.do_send(Deliver {
        entry: e.clone(),
        origin: Origin::Storage,
    });

    eventually("the first failure to be recorded", || {
        store
            .outbox_entry(&e)
            .unwrap()
            .is_some_and(|s| s.attempts == 1)
    })
    .await;
    let stored = store.outbox_entry(&e).unwrap().unwrap();
    assert!(stored.last_error.as_deref().is_some_and(|m| !m.is_empty()));
    let next = stored.next_attempt_at.unwrap();
    assert!(
        next >= start_time() + chrono::Duration::milliseconds(20)
            && next <= start_time() + chrono::Duration::milliseconds(40)
    );

    eventually("a dead letter", || {
        !store.dead_letters(10).unwrap().is_empty()
    })
    .await;
    let l = &store.dead_letters(10).unwrap()[0];
    assert_eq!(l.attempts, 2);
    assert!(
        l.last_error
            .as_deref()
            .is_some_and(|m| !m.starts_with("HTTP")),
        "{:?}",
        l.last_error
    );
}

#[actix_rt::test]
async fn log_channel_delivers_immediately() {
    let (store, _dir, order) = store_with_order();
    let e = entry(order.id, LOG);
    store.record_outbox_attempt(&e).unwrap();
    let addr = Notifier::new(store.clone(), Arc::new(SystemClock), config(None, 8)).start();
    addr.do_send(Deliver {
        entry: e.clone(),
        origin: Origin::Storage,
    });
    // Mailbox order: the Deliver is fully handled before GetStats is answered.
    assert_eq!(
        stats(&addr).await,
        NotifierStats {
            delivered: 1,
            failed_attempts: 0,
            dead_lettered: 0,
            locale_fallbacks: 0,
            sms_segments: 0,
            held_back: 0,
        }
    );
    assert!(store.outbox_entry(&e).unwrap().is_none());

    // Delivering it again is harmless: the entry is gone, so nothing happens.
    addr.do_send(Deliver {
        entry: e.clone(),
        origin: Origin::Storage,
    });
    assert_eq!(stats(&addr).await.delivered, 1);
}

/// An entry handed over by its own commit is sent without reading storage back; one read back
/// from storage is sent only if storage still has it.
#[actix_rt::test]
async fn a_just_committed_entry_is_sent_without_reading_it_back() {
    let (store, _dir, order) = store_with_order();
    let addr = Notifier::new(store.clone(), Arc::new(SystemClock), config(None, 8)).start();
    // Not in this store's outbox: read back, it would count as delivered already.
    let stored = entry(order.id, LOG);
    addr.do_send(Deliver {
        entry: stored,
        origin: Origin::Storage,
    });
    assert_eq!(
        stats(&addr).await.delivered,
        0,
        "gone from storage: not sent"
    );
    let committed = entry_at(order.id, LOG, 2);
    addr.do_send(Deliver {
        entry: committed,
        origin: Origin::Commit,
    });
    assert_eq!(
        stats(&addr).await.delivered,
        1,
        "just committed: sent as it is"
    );
}

#[actix_rt::test]
async fn honours_next_attempt_at_by_the_injected_clock() {
    let (store, _dir, order) = store_with_order();
    let clock = Arc::new(ManualClock::new(start_time()));
    let mut e = entry(order.id, LOG);
    e.attempts = 2;
    e.next_attempt_at = Some(start_time() + chrono::Duration::milliseconds(200));
    store.record_outbox_attempt(&e).unwrap();
    let addr = Notifier::new(store.clone(), clock.clone(), config(None, 8)).start();
    addr.do_send(Deliver {
        entry: e.clone(),
        origin: Origin::Storage,
    });
    assert_eq!(stats(&addr).await.delivered, 0, "not due yet");
    assert!(store.outbox_entry(&e).unwrap().is_some());
    eventually("the scheduled delivery", || {
        store.outbox_entry(&e).unwrap().is_none()
    })
    .await;
    assert_eq!(stats(&addr).await.delivered, 1);

    // An entry whose time has passed goes out at once.
    let mut due = entry_at(order.id, LOG, 2);
    due.next_attempt_at = Some(start_time() - chrono::Duration::seconds(5));
    store.record_outbox_attempt(&due).unwrap();
    addr.do_send(Deliver {
        entry: due.clone(),
        origin: Origin::Storage,
    });
    assert_eq!(stats(&addr).await.delivered, 2);
}

#[actix_rt::test]
async fn deliver_for_an_entry_no_longer_stored_does_nothing() {
    let (store, _dir, order) = store_with_order();
    let (url, rx, server) = start_receiver(0).await;
    let addr = Notifier::new(store.clone(), Arc::new(SystemClock), config(Some(url), 8)).start();
    addr.do_send(Deliver {
        entry: entry(order.id, WEBHOOK),
        origin: Origin::Storage,
    });
    addr.do_send(Deliver {
        entry: entry(order.id, LOG),
        origin: Origin::Storage,
    });
    assert_eq!(stats(&addr).await, NotifierStats::default());
    assert_eq!(rx.count(), 0);
    assert!(store.dead_letters(10).unwrap().is_empty());
    server.stop(true).await;
}

#[actix_rt::test]
async fn unusable_messages_are_dead_lettered_at_once() {
    let (store, _dir, order) = store_with_order();
    let addr = Notifier::new(store.clone(), Arc::new(SystemClock), config(None, 8)).start();
    // The order is missing.
    let orphan = entry(uuid::Uuid::now_v7(), LOG);
    // The webhook channel is not configured.
    let unconfigured = entry(order.id, WEBHOOK);
    store.record_outbox_attempt(&orphan).unwrap();
    store.record_outbox_attempt(&unconfigured).unwrap();
    addr.do_send(Deliver {
        entry: orphan.clone(),
        origin: Origin::Storage,
    });
    addr.do_send(Deliver {
        entry: unconfigured.clone(),
        origin: Origin::Storage,
    });
    assert_eq!(stats(&addr).await.dead_lettered, 2);
    let letters = store.dead_letters(10).unwrap();
    let error_of = |id: &str| {
        letters
            .iter()
            .find(|l| l.message_id == id)
            .unwrap()
            .last_error
            .clone()
            .unwrap()
    };
    assert_eq!(error_of(&orphan.message_id()), "order not found");
    assert!(error_of(&unconfigured.message_id()).contains("not configured"));
    assert_eq!(store.outbox_len().unwrap(), 0);
}

#[test]
fn backoff_stays_within_bounds() {
    for attempt in 1..=40 {
        let ceiling = (100u64 << (attempt - 1).min(40)).min(10_000);
        for r in [0.0, 0.1, 0.5, 0.9, 0.999_999] {
            let d = backoff(100, 10_000, attempt, r).as_millis() as u64;
            assert!(d >= 50, "attempt {attempt} r {r}: {d} below base/2");
            assert!(d <= ceiling, "attempt {attempt} r {r}: {d} above {ceiling}");
        }
    }
    // Out-of-range inputs are clamped rather than trusted.
    assert_eq!(backoff(100, 10_000, 1, -1.0), Duration::from_millis(50));
    assert_eq!(backoff(100, 10_000, 1, f64::NAN), Duration::from_millis(50));
    assert!(backoff(100, 10_000, 1, 7.0) <= Duration::from_millis(100));
}

#[test]
fn backoff_grows_exponentially_then_caps() {
    let top = |attempt| backoff(500, 60_000, attempt, 0.999_999).as_millis() as u64;
    assert_eq!(top(1), 499);
    assert_eq!(top(2), 999);
    assert_eq!(top(3), 1_999);
    assert_eq!(top(5), 7_999);
    assert_eq!(top(8), 59_999);
    assert_eq!(top(9), 59_999);
    assert_eq!(top(u32::MAX), 59_999, "no overflow for huge attempt counts");
    assert_eq!(
        backoff(500, 60_000, 0, 0.999_999),
        backoff(500, 60_000, 1, 0.999_999)
    );
    assert_eq!(
        backoff(500, 60_000, 6, 0.0),
        Duration::from_millis(250),
        "never below base/2"
    );
    assert_eq!(backoff(500, 60_000, 6, 0.5), Duration::from_millis(8_000));
}

#[test]
fn rand01_is_in_range() {
    for _ in 0..1000 {
        let r = rand01();
        assert!((0.0..1.0).contains(&r));
    }
}

#[test]
fn config_defaults_and_channels() {
    let c: NotifierConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(c, NotifierConfig::default());
    assert!(c.log && c.webhook.is_none());
    assert_eq!(
        (c.max_attempts, c.backoff_base_ms, c.backoff_cap_ms),
        (8, 500, 60_000)
    );
    assert_eq!(c.channels(), vec!["log"]);
    assert!(c.validate().is_ok());

    let c: NotifierConfig = serde_json::from_str(
        r#"{"log": false, "webhook": {"url": "http://hooks.local/x", "secret": "s3cret"}}"#,
    )
    .unwrap();
    assert_eq!(c.webhook.as_ref().unwrap().timeout_ms, 5_000);
    assert_eq!(c.channels(), vec!["webhook"]);
    assert!(c.validate().is_ok());
    let both = NotifierConfig { log: true, ..c };
    assert_eq!(both.channels(), vec!["log", "webhook"]);
    let none = NotifierConfig {
        log: false,
        webhook: None,
        ..NotifierConfig::default()
    };
    assert!(none.channels().is_empty());

    assert!(serde_json::from_str::<NotifierConfig>(r#"{"retries": 3}"#).is_err());
    assert!(serde_json::from_str::<NotifierConfig>(
        r#"{"webhook": {"url": "http://x", "secret": "s", "extra": 1}}"#
    )
    .is_err());
}

#[test]
fn config_validation_names_the_field() {
    let with_hook = |url: &str, secret: &str| NotifierConfig {
        webhook: Some(WebhookConfig {
            url: url.to_string(),
            secret: secret.to_string(),
            timeout_ms: 5_000,
        }),
        ..NotifierConfig::default()
    };
    assert!(with_hook("http://127.0.0.1:9000/hooks", SECRET)
        .validate()
        .is_ok());
    assert!(with_hook("https://example.com/hooks", SECRET)
        .validate()
        .is_ok());
    let err = with_hook("ftp://example.com", SECRET)
        .validate()
        .unwrap_err();
    assert!(err.starts_with("notifications.webhook.url:"), "{err}");
    let err = with_hook("http://", SECRET).validate().unwrap_err();
    assert!(err.starts_with("notifications.webhook.url:"), "{err}");
    let err = with_hook("http://example.com", "").validate().unwrap_err();
    assert!(err.starts_with("notifications.webhook.secret:"), "{err}");
    let err = with_hook("http://example.com", "whsec_%%%")
        .validate()
        .unwrap_err();
    assert!(err.starts_with("notifications.webhook.secret:"), "{err}");
    let mut c = with_hook("http://example.com", SECRET);
    c.webhook.as_mut().unwrap().timeout_ms = 0;
    assert!(c
        .validate()
        .unwrap_err()
        .starts_with("notifications.webhook.timeout_ms:"));

    let c = NotifierConfig {
        max_attempts: 0,
        ..NotifierConfig::default()
    };
    assert!(c
        .validate()
        .unwrap_err()
        .starts_with("notifications.max_attempts:"));
    let c = NotifierConfig {
        backoff_base_ms: 0,
        ..NotifierConfig::default()
    };
    assert!(c
        .validate()
        .unwrap_err()
        .starts_with("notifications.backoff_base_ms:"));
    let c = NotifierConfig {
        backoff_base_ms: 2_000,
        backoff_cap_ms: 1_000,
        ..NotifierConfig::default()
    };
    assert!(c
        .validate()
        .unwrap_err()
        .starts_with("notifications.backoff_base_ms:"));
}

/// An order's notification on `operations.<channel>` (a shipment `delayed`) goes where
/// operations alerts go — the operations webhook — and the same notification on the plain
/// channel to the shop's webhook: two receivers, one request each, distinct message ids.
#[actix_rt::test]
async fn a_delay_reaches_the_shop_and_operations_each_on_their_own_webhook() {
    let (store, _dir, order) = store_with_order();
    let (shop_url, shop, shop_server) = start_receiver(0).await;
    let (ops_url, ops, ops_server) = start_receiver(0).await;
    let clock = Arc::new(ManualClock::new(start_time()));
    let mut cfg = config(Some(shop_url), 3);
    cfg.operations.webhook = Some(WebhookConfig {
        url: ops_url,
        secret: SECRET.to_string(),
        timeout_ms: 2_000,
    });
    let delayed = |channel: &str| {
        OutboxEntry::new(
            Effect {
                order_id: order.id,
                step: 9,
                kind: EffectKind::Notify {
                    kind: NotificationKind::Delayed,
                },
            },
            Some(channel.to_string()),
        )
    };
    let (to_shop, to_ops) = (delayed(WEBHOOK), delayed("operations.webhook"));
    assert_ne!(to_shop.message_id(), to_ops.message_id());
    let addr = Notifier::new(store.clone(), clock, cfg).start();
    for e in [&to_shop, &to_ops] {
        store.record_outbox_attempt(e).unwrap();
        addr.do_send(Deliver {
            entry: e.clone(),
            origin: Origin::Storage,
        });
    }
    eventually("both delivered", || shop.count() == 1 && ops.count() == 1).await;
    for rx in [&shop, &ops] {
        let body: serde_json::Value =
            serde_json::from_slice(&rx.requests.lock().unwrap()[0].body).unwrap();
        assert_eq!(body["type"], "order.delayed");
    }
    eventually("both left the outbox", || {
        store.outbox_entry(&to_shop).unwrap().is_none()
            && store.outbox_entry(&to_ops).unwrap().is_none()
    })
    .await;
    assert!(store.dead_letters(10).unwrap().is_empty());
    shop_server.stop(true).await;
    ops_server.stop(true).await;
}

/// A channel's bound on attempts under way holds: with an SMTP server that accepts connections
/// and never greets, two e-mails are under way (two connections) and the rest wait their turn.
#[actix_rt::test]
async fn a_channel_bounds_its_attempts_under_way_and_holds_the_rest_back() {
    let (store, _dir, order) = store_with_order();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let keep = accepted.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            keep.lock().unwrap().push(conn);
        }
    });
    let mut cfg = config(None, 8);
    cfg.email = Some(
        serde_json::from_value(serde_json::json!({
            "host": "127.0.0.1", "port": port, "security": "none",
            "from": "shop@example.com", "pool_size": 2, "timeout_ms": 60000,
        }))
        .unwrap(),
    );
    let addr = Notifier::new(store.clone(), Arc::new(SystemClock), cfg).start();
    for step in 1..=6 {
        addr.do_send(Deliver {
            entry: entry_at(order.id, EMAIL, step),
            origin: Origin::Commit,
        });
    }
    eventually("two connections", || accepted.lock().unwrap().len() >= 2).await;
    let s = stats(&addr).await;
    assert_eq!(s.held_back, 4, "{s:?}");
    assert_eq!(accepted.lock().unwrap().len(), 2);
}

/// Which person channels an order's notification goes to: its route, the customer's channel
/// and opt-outs, and whether the customer can be reached there.
#[test]
fn person_channels_follow_routes_preferences_and_opt_outs() {
    use crate::domain::ContactChannel::{Email as E, Sms as S, Whatsapp as W};
    let (_, _, order) = store_with_order();
    let mut cfg = config(None, 8);
    cfg.email = Some(
        serde_json::from_value(serde_json::json!({
            "host": "127.0.0.1", "security": "none", "from": "shop@example.com",
        }))
        .unwrap(),
    );
    cfg.sms = Some(
        serde_json::from_value(serde_json::json!({
            "url": "http://127.0.0.1:1/sms", "fields": {"to": "{to}", "text": "{text}"},
        }))
        .unwrap(),
    );
    cfg.routes
        .insert("delayed".into(), vec!["customer".into(), "sms".into()]);
    cfg.routes.insert("refunded".into(), vec![]);
    // (preferred, opted out, phone, kind, expected)
    type Case = (
        Option<crate::domain::ContactChannel>,
        Vec<crate::domain::ContactChannel>,
        bool,
        NotificationKind,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (None, vec![], true, NotificationKind::Shipped, vec!["email"]),
        (
            Some(S),
            vec![],
            true,
            NotificationKind::Shipped,
            vec!["sms"],
        ),
        (Some(S), vec![], false, NotificationKind::Shipped, vec![]),
        (None, vec![E], true, NotificationKind::Shipped, vec![]),
        (
            None,
            vec![],
            true,
            NotificationKind::Delayed,
            vec!["email", "sms"],
        ),
        (
            Some(S),
            vec![],
            true,
            NotificationKind::Delayed,
            vec!["sms"],
        ),
        (
            None,
            vec![S],
            true,
            NotificationKind::Delayed,
            vec!["email"],
        ),
        (
            None,
            vec![],
            false,
            NotificationKind::Delayed,
            vec!["email"],
        ),
        (None, vec![], true, NotificationKind::Refunded, vec![]),
        // WhatsApp is not configured here.
        (Some(W), vec![], true, NotificationKind::Shipped, vec![]),
    ];
    for (preferred, opt_out, phone, kind, expected) in cases {
        let mut o = order.clone();
        o.customer.channel = preferred;
        o.customer.opt_out = opt_out.clone();
        o.customer.phone = phone.then(|| "+31612345678".to_string());
        assert_eq!(
            cfg.person_channels(kind, &o),
            expected,
            "{preferred:?} {opt_out:?} phone {phone} {}",
            kind.as_str()
        );
    }
}
