//! Customer notifications over signed webhooks: one message per customer-visible event, each
//! with a stable `webhook-id` across retries and a Standard Webhooks signature a receiver can
//! verify; failed deliveries are retried with backoff, and messages that run out of attempts
//! land on the dead-letter list instead of vanishing. Receivers deduplicate by `webhook-id`,
//! so that id is what "exactly once" is checked against.

use crate::support::*;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet};

/// Checks `webhook-signature` as a Standard Webhooks receiver would.
pub(crate) fn signature_ok(h: &Hook) -> bool {
    let key = B64
        .decode(
            WEBHOOK_SECRET
                .strip_prefix("whsec_")
                .expect("prefixed secret"),
        )
        .expect("base64 secret");
    let (Some(id), Some(ts), Some(sig)) = (
        h.headers.get("webhook-id"),
        h.headers.get("webhook-timestamp"),
        h.headers.get("webhook-signature"),
    ) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(h.body.as_bytes());
    let expected = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
    sig.split(' ').any(|s| s == expected)
}

fn kind_of(h: &Hook) -> String {
    h.json()["type"].as_str().unwrap_or_default().to_string()
}

/// The order a notification is about (the first of `ids` its body mentions).
fn order_of(h: &Hook, ids: &[&str]) -> String {
    ids.iter()
        .find(|id| h.body.contains(**id))
        .map(|s| s.to_string())
        .unwrap_or_default()
}

fn summary(hooks: &[Hook]) -> String {
    hooks
        .iter()
        .map(|h| format!("{} {} {}", h.answered, h.id(), kind_of(h)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[actix_rt::test]
async fn webhooks_are_signed_retried_and_delivered_once_per_event() {
    let receiver = Receiver::start(3).await;
    let server = Server::start_with(&receiver.config(8)).await;
    let api = server.api();
    api.set_stock("ams", "MUG-RED", 10).await;

    // Order A walks the whole path; order B is cancelled before it is paid.
    let a = str_of(
        &api.place(
            &new_key(),
            &order_body(&[("MUG-RED", 2, 1250)], ("card", "captured")),
        )
        .await["id"],
    );
    api.wait_status(&a, "confirmed").await;
    api.pick_all(&a, "ams").await;
    let tn = str_of(&api.pack(&a, "ams").await["shipments"][0]["booking"]["tracking_number"]);
    api.handover(&a).await;
    api.scan(&tn, "n-1", "in_transit", "2026-03-02T08:00:00Z")
        .await;
    api.scan(&tn, "n-2", "out_for_delivery", "2026-03-02T09:00:00Z")
        .await;
    api.scan(&tn, "n-3", "delivered", "2026-03-02T10:00:00Z")
        .await;
    api.scan(&tn, "n-3", "delivered", "2026-03-02T10:00:00Z")
        .await; // duplicate: no second notification
    api.storefront()
        .post(
            &format!("/v1/orders/{a}/returns"),
            &json!({"lines": [{"sku": "MUG-RED", "quantity": 1}], "reason": "chipped"}),
        )
        .await
        .expect(200, "request return");
    api.warehouse()
        .post(
            &format!("/v1/orders/{a}/returns/receive"),
            &json!({"warehouse": "ams", "lines": [{"sku": "MUG-RED", "quantity": 1}]}),
        )
        .await
        .expect(200, "receive return");
    let b = str_of(
        &api.place(
            &new_key(),
            &order_body(&[("MUG-RED", 1, 1250)], ("card", "pending")),
        )
        .await["id"],
    );
    api.storefront()
        .post(
            &format!("/v1/orders/{b}/cancel"),
            &json!({"reason": "changed my mind"}),
        )
        .await
        .expect(200, "cancel");

    let ids = [a.as_str(), b.as_str()];
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    for k in [
        "confirmed",
        "shipped",
        "out_for_delivery",
        "delivered",
        "return_approved",
        "refunded",
    ] {
        expected.insert((format!("order.{k}"), a.clone()));
    }
    expected.insert(("order.cancelled".to_string(), b.clone()));

    let hooks = wait_until("every notification is delivered", || {
        let (receiver, expected) = (&receiver, &expected);
        async move {
            let hooks = receiver.hooks();
            let delivered: BTreeSet<(String, String)> = hooks
                .iter()
                .filter(|h| h.answered == 200)
                .map(|h| (kind_of(h), order_of(h, &ids)))
                .collect();
            if expected.is_subset(&delivered) {
                Ok(hooks)
            } else {
                Err(format!(
                    "missing {:?}; received:\n{}",
                    expected.difference(&delivered).collect::<Vec<_>>(),
                    summary(&hooks)
                ))
            }
        }
    })
    .await;

    eprintln!("webhook attempts:\n{}", summary(&hooks));

    // Every attempt is signed, recent, and names its message.
    let now = chrono::Utc::now().timestamp();
    for h in &hooks {
        assert!(!h.id().is_empty(), "an attempt without webhook-id: {h:?}");
        assert!(signature_ok(h), "the signature does not verify: {h:?}");
        let ts: i64 = h
            .headers
            .get("webhook-timestamp")
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("bad webhook-timestamp: {h:?}"));
        assert!(
            (now - ts).abs() < 300,
            "webhook-timestamp {ts} is not current ({now})"
        );
        assert!(
            h.headers
                .get("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{h:?}"
        );
    }

    // The first three attempts failed and were retried under the same webhook-id.
    assert_eq!(
        hooks.iter().take(3).filter(|h| h.answered == 500).count(),
        3,
        "{}",
        summary(&hooks)
    );
    let mut by_id: BTreeMap<String, Vec<&Hook>> = BTreeMap::new();
    for h in &hooks {
        by_id.entry(h.id()).or_default().push(h);
    }
    for h in hooks.iter().take(3) {
        let attempts = &by_id[&h.id()];
        assert!(
            attempts.iter().any(|x| x.answered == 200),
            "failed message {} was never delivered:\n{}",
            h.id(),
            summary(&hooks)
        );
    }
    for (id, attempts) in &by_id {
        let what: BTreeSet<(String, String)> = attempts
            .iter()
            .map(|h| (kind_of(h), order_of(h, &ids)))
            .collect();
        assert_eq!(
            what.len(),
            1,
            "webhook-id {id} was used for different events: {what:?}"
        );
        let ok = attempts.iter().filter(|h| h.answered == 200).count();
        assert!(
            ok <= 1,
            "message {id} was delivered {ok} times after a success:\n{}",
            summary(&hooks)
        );
    }
    let first = &hooks[0];
    assert_eq!(
        kind_of(first),
        "order.confirmed",
        "the first notification is A's confirmation: {}",
        first.body
    );
    assert!(
        by_id[&first.id()].len() >= 2,
        "the failed confirmation was not retried:\n{}",
        summary(&hooks)
    );

    // A receiver deduplicating by webhook-id sees each event exactly once.
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for attempts in by_id.values() {
        *seen
            .entry((kind_of(attempts[0]), order_of(attempts[0], &ids)))
            .or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "events notified under more than one webhook-id: {twice:?}\n{}",
        summary(&hooks)
    );
    let got: BTreeSet<(String, String)> = seen.keys().cloned().collect();
    assert_eq!(
        got, expected,
        "notified events differ from the customer-visible ones"
    );

    // A body a receiver can act on.
    let confirmed = hooks
        .iter()
        .find(|h| kind_of(h) == "order.confirmed")
        .expect("confirmed");
    let body: Value = confirmed.json();
    assert!(body.is_object(), "{}", confirmed.body);
    receiver.stop().await;
}

#[actix_rt::test]
async fn undeliverable_notifications_become_dead_letters() {
    let receiver = Receiver::start(usize::MAX).await;
    let server = Server::start_with(&receiver.config(2)).await;
    let api = server.api();
    api.set_stock("ams", "MUG-RED", 10).await;
    let id = str_of(
        &api.place(
            &new_key(),
            &order_body(&[("MUG-RED", 1, 1250)], ("cod", "pending")),
        )
        .await["id"],
    );
    api.wait_status(&id, "confirmed").await;

    let letter = wait_until("the confirmation is dead-lettered", || {
        let (api, id) = (&api, &id);
        async move {
            let list = api
                .admin()
                .get("/v1/notifications/dead-letters")
                .await
                .expect(200, "dead letters")
                .json;
            list.as_array()
                .and_then(|l| l.iter().find(|d| d["order_id"] == id.as_str()).cloned())
                .ok_or_else(|| format!("dead letters: {list}"))
        }
    })
    .await;
    assert!(
        letter["kind"]
            .as_str()
            .unwrap_or_default()
            .contains("confirmed"),
        "{letter}"
    );
    assert_eq!(letter["attempts"], 2, "max_attempts = 2: {letter}");
    assert!(letter["message_id"].is_string(), "{letter}");
    assert!(
        letter["last_error"].is_string(),
        "the dead letter says why: {letter}"
    );

    let hooks = receiver.hooks();
    let wid = hooks
        .first()
        .map(Hook::id)
        .expect("the receiver was called");
    assert!(
        hooks.iter().all(|h| h.id() == wid && signature_ok(h)),
        "{}",
        summary(&hooks)
    );
    assert_eq!(
        hooks.len(),
        2,
        "exactly max_attempts attempts:\n{}",
        summary(&hooks)
    );

    // An operator can send it again; the receiver sees the same message id.
    let mid = str_of(&letter["message_id"]);
    api.admin()
        .post(
            &format!("/v1/notifications/dead-letters/{mid}/retry"),
            &json!({}),
        )
        .await
        .expect(202, "retry a dead letter");
    eventually("the retried message reaches the receiver", || {
        let receiver = &receiver;
        async move { receiver.hooks().len() > 2 }
    })
    .await;
    assert!(
        receiver.hooks().iter().all(|h| h.id() == wid),
        "{}",
        summary(&receiver.hooks())
    );
    receiver.stop().await;
}
