//! The `webhook` channel: an HTTP POST of a JSON body in the Standard Webhooks shape, signed
//! with the shared secret (see [`crate::engine::webhook`]). A 2xx answer is success; anything
//! else, a connection error or a timeout is a failure worth retrying. The body is the order
//! as it is at the attempt (or the stock notice), rebuilt per attempt with that attempt's
//! timestamp; the id stays the same so receivers can deduplicate.

use super::{Attempt, Channel, Needs, Outcome, Outgoing, Receipt, Subject};
use crate::domain::stock_alerts::{NoticeKind, StockNotice};
use crate::domain::{NotificationKind, Order};
use crate::engine::notifier::config::WebhookConfig;
use crate::engine::outbound::http_client;
use crate::engine::webhook::{sign, WebhookSecret};
use chrono::{DateTime, SecondsFormat, Utc};
use orderly_storage::OutboxEntry;
use std::sync::Arc;
use std::time::Duration;

pub struct Webhook {
    url: String,
    timeout: Duration,
    secret: WebhookSecret,
}

impl Webhook {
    /// The channel for one `[…webhook]` section.
    pub fn channel(config: &WebhookConfig) -> Result<Arc<dyn Channel>, String> {
        let secret = WebhookSecret::parse(&config.secret)
            .map_err(|e| format!("webhook secret is unusable: {e}"))?;
        Ok(Arc::new(Webhook {
            url: config.url.trim().to_string(),
            timeout: Duration::from_millis(config.timeout_ms),
            secret,
        }))
    }
}

impl Channel for Webhook {
    fn needs(&self) -> Needs {
        Needs::Order
    }

    fn send(&self, m: Outgoing) -> Attempt {
        let body = match &m.subject {
            Subject::Order {
                kind,
                order: Some(order),
            } => payload(&m.message_id, *kind, &m.entry, order, m.now),
            Subject::Order { order: None, .. } => {
                return Attempt::Done(Outcome::Permanent("order not found".to_string()))
            }
            Subject::Notice(notice) => notice_payload(&m.message_id, notice, m.now),
        };
        let body = body.to_string().into_bytes();
        let timestamp = m.now.timestamp();
        let signature = sign(&self.secret, &m.message_id, timestamp, &body);
        Attempt::Pending(Box::pin(post(
            self.url.clone(),
            self.timeout,
            m.message_id,
            timestamp,
            signature,
            body,
        )))
    }
}

/// The message body, in the Standard Webhooks payload shape (`type`, `timestamp`, `data`).
/// Fields the order does not have yet (no booking, no refund) are `null`, so receivers see
/// the same keys for every kind.
fn payload(
    message_id: &str,
    kind: NotificationKind,
    entry: &OutboxEntry,
    order: &Order,
    now: DateTime<Utc>,
) -> serde_json::Value {
    let booking = order.booking();
    serde_json::json!({
        "type": format!("order.{}", kind.as_str()),
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": {
            "message_id": message_id,
            "order_id": order.id,
            "external_ref": order.external_ref,
            "kind": kind.as_str(),
            "status": order.status.as_str(),
            "step": entry.effect().map(|e| e.step),
            "customer": {
                "id": order.customer.id,
                "email": order.customer.email,
                "locale": order.customer.locale,
            },
            "tracking_token": order.tracking_token,
            "carrier": booking.map(|b| &b.carrier),
            "tracking_number": booking.map(|b| &b.tracking_number),
            "estimated_delivery": booking.map(|b| b.estimated_delivery),
            "promised": order.promised_window().map(|(earliest, latest)| serde_json::json!({
                "earliest": earliest,
                "latest": latest,
            })),
            "refunded": order.refunded,
            "cancellation_reason": order.cancellation.as_ref().map(|c| &c.reason),
        }
    })
}

/// A stock notice's body, in the same Standard Webhooks shape: `type` is `stock.low_stock` or
/// `stock.back_in_stock`. A back-in-stock message carries the subscriber's `contact` (an e-mail
/// address or a phone number): the receiver tells them (real e-mail and SMS channels are for
/// later).
fn notice_payload(message_id: &str, notice: &StockNotice, now: DateTime<Utc>) -> serde_json::Value {
    let kind = notice.kind.name();
    let data = match &notice.kind {
        NoticeKind::LowStock {
            warehouse,
            sku,
            reorder_point,
            available,
        } => serde_json::json!({
            "message_id": message_id,
            "kind": kind,
            "warehouse": warehouse,
            "sku": sku,
            "reorder_point": reorder_point,
            "available": available,
            "alert": notice.seq,
        }),
        NoticeKind::BackInStock {
            sku,
            contact,
            available,
        } => serde_json::json!({
            "message_id": message_id,
            "kind": kind,
            "sku": sku,
            "contact": contact,
            "available": available,
            "subscription_id": notice.subject,
        }),
    };
    serde_json::json!({
        "type": format!("stock.{kind}"),
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
    })
}

/// One webhook attempt.
async fn post(
    url: String,
    timeout: Duration,
    id: String,
    timestamp: i64,
    signature: String,
    body: Vec<u8>,
) -> Outcome {
    let sent = http_client()
        .post(url.as_str())
        .timeout(timeout)
        .insert_header(("content-type", "application/json"))
        .insert_header(("user-agent", concat!("orderly/", env!("CARGO_PKG_VERSION"))))
        .insert_header(("webhook-id", id))
        .insert_header(("webhook-timestamp", timestamp.to_string()))
        .insert_header(("webhook-signature", signature))
        .send_body(body)
        .await;
    match sent {
        Ok(res) if res.status().is_success() => Outcome::Delivered(Receipt::default()),
        Ok(res) => Outcome::Failed(format!("HTTP {}", res.status().as_u16())),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}
