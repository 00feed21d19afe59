//! An HTTP carrier: bookings in Orderly's small JSON protocol (README, "Carrier integrations").
//!
//! `POST {base_url}/shipments` with `Authorization: Bearer <key>` and `Idempotency-Key: <shipment
//! id>` (`<order id>-<shipment number>`, also in the body as `shipment_id`): the carrier books
//! once per shipment id and answers a repeat with the same booking. `200`/`201` with
//! `{"tracking_number": …, "label_url"?: …, "estimated_delivery"?: "YYYY-MM-DD"}` is a booking;
//! `408`, `429`, `5xx`, no answer within `timeout_ms`, or an answer that is not that JSON are
//! transient (retried); any other status is a permanent refusal.

use super::{Book, CarrierError};
use crate::domain::shipping::HttpIntegration;
use crate::domain::Booking;
use chrono::NaiveDate;
use serde::Deserialize;
use std::time::Duration;

/// The largest answer read from a carrier.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
struct Confirmation {
    tracking_number: String,
    #[serde(default)]
    label_url: Option<String>,
    #[serde(default)]
    estimated_delivery: Option<NaiveDate>,
}

/// A tracking number as Orderly keeps it (indexed, and in URLs): 1 to 64 letters, digits, `-`
/// or `_`.
fn is_tracking_number(t: &str) -> bool {
    (1..=64).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_label_url(u: &str) -> bool {
    u.len() <= 2_000
        && (u.starts_with("http://") || u.starts_with("https://"))
        && !u.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Books `m` with the carrier behind `cfg`; `table` is the network's booking (service, price,
/// rule, window), which the carrier's answer completes.
pub(super) async fn book(
    cfg: HttpIntegration,
    m: Book,
    table: Booking,
) -> Result<Option<Booking>, CarrierError> {
    let fail = |message: String, permanent: bool| CarrierError {
        carrier: table.carrier.clone(),
        message,
        permanent,
        max_attempts: cfg.max_attempts,
    };
    let shipment_id = format!("{}-{}", m.order_id, m.shipment.unwrap_or(1));
    let destination = match &m.consignee {
        Some(c) => serde_json::json!({
            "name": c.address.name,
            "line1": c.address.line1,
            "line2": c.address.line2,
            "city": c.address.city,
            "postal_code": c.address.postal_code,
            "country": c.address.country,
        }),
        None => serde_json::json!({"postal_code": m.postal_code, "country": m.country}),
    };
    let cod = m.consignee.as_ref().and_then(|c| c.cash_on_delivery);
    let body = serde_json::json!({
        "shipment_id": shipment_id,
        "order_id": m.order_id,
        "service": table.service,
        "warehouse": m.warehouse,
        "destination": destination,
        "parcels": m.parcels.iter().map(|p| serde_json::json!({"weight_grams": p.weight_grams})).collect::<Vec<_>>(),
        "cash_on_delivery": cod.map(|c| serde_json::json!({"amount": c.amount, "currency": c.currency.code()})),
    });
    let url = format!("{}/shipments", cfg.base_url.trim_end_matches('/'));
    let sent = crate::engine::outbound::http_client()
        .post(&url)
        .insert_header(("authorization", format!("Bearer {}", cfg.key)))
        .insert_header(("idempotency-key", shipment_id.as_str()))
        .timeout(Duration::from_millis(cfg.timeout_ms))
        .send_json(&body)
        .await;
    let mut resp = sent.map_err(|e| fail(format!("POST {url}: {e}"), false))?;
    let status = resp.status().as_u16();
    let answer = resp
        .body()
        .limit(MAX_ANSWER_BYTES)
        .await
        .map_err(|e| fail(format!("reading the answer to POST {url}: {e}"), false))?;
    let snippet = || String::from_utf8_lossy(&answer[..answer.len().min(200)]).into_owned();
    match status {
        200 | 201 => {}
        408 | 429 | 500..=599 => {
            return Err(fail(format!("POST {url}: {status} {}", snippet()), false))
        }
        _ => {
            return Err(fail(
                format!("POST {url} refused: {status} {}", snippet()),
                true,
            ))
        }
    }
    let c: Confirmation = serde_json::from_slice(&answer).map_err(|e| {
        fail(
            format!("POST {url}: not a booking ({e}): {}", snippet()),
            false,
        )
    })?;
    if !is_tracking_number(&c.tracking_number) {
        return Err(fail(
            format!(
                "POST {url}: tracking number {:?} is not 1-64 letters, digits, '-' or '_'",
                c.tracking_number
            ),
            false,
        ));
    }
    if let Some(u) = c.label_url.as_deref().filter(|u| !is_label_url(u)) {
        return Err(fail(
            format!("POST {url}: label_url {u:?} is not a URL"),
            false,
        ));
    }
    let mut booking = table;
    booking.tracking_number = c.tracking_number;
    booking.label_url = c.label_url;
    if let Some(day) = c.estimated_delivery {
        // The carrier's own date revises the window.
        booking.estimated_delivery = day;
        if let Some(p) = booking.promise.as_mut() {
            p.earliest = day;
            p.latest = day;
        }
    }
    Ok(Some(booking))
}

/// Cancels the booking of `shipment_id` with the carrier behind `cfg`: `DELETE
/// {base_url}/shipments/{shipment_id}`; `200`, `202`, `204` and `404` (nothing booked) are done,
/// `408`, `429` and `5xx` are retried, anything else is refused.
pub(super) async fn cancel(
    cfg: &HttpIntegration,
    carrier: &str,
    shipment_id: &str,
) -> Result<(), CarrierError> {
    let url = format!(
        "{}/shipments/{shipment_id}",
        cfg.base_url.trim_end_matches('/')
    );
    let fail = |message: String, permanent: bool| CarrierError {
        carrier: carrier.to_string(),
        message,
        permanent,
        max_attempts: cfg.max_attempts,
    };
    let resp = crate::engine::outbound::http_client()
        .delete(&url)
        .insert_header(("authorization", format!("Bearer {}", cfg.key)))
        .timeout(Duration::from_millis(cfg.timeout_ms))
        .send()
        .await
        .map_err(|e| fail(format!("DELETE {url}: {e}"), false))?;
    answered(
        resp.status().as_u16(),
        &[200, 202, 204, 404],
        "DELETE",
        &url,
        fail,
    )
}

/// A carrier's answer to a call that returns nothing: one of `done` is done; `408`, `429` and
/// `5xx` are worth another try; anything else is a refusal.
fn answered(
    status: u16,
    done: &[u16],
    method: &str,
    url: &str,
    fail: impl Fn(String, bool) -> CarrierError,
) -> Result<(), CarrierError> {
    match status {
        s if done.contains(&s) => Ok(()),
        s @ (408 | 429 | 500..=599) => Err(fail(format!("{method} {url}: {s}"), false)),
        s => Err(fail(format!("{method} {url} refused: {s}"), true)),
    }
}

/// Passes an answer to a failed delivery on to the carrier: `POST
/// {base_url}/shipments/{shipment_id}/instructions` with `Idempotency-Key: <shipment id>-<step>`
/// and `{"shipment_id", "tracking_number", "action": "reattempt" | "return_to_origin",
/// "date"?, "notes"?}`; `200`, `201`, `202` and `204` are done, `408`, `429` and `5xx` are
/// retried, anything else is refused.
pub(super) async fn instruct(
    cfg: &HttpIntegration,
    m: &super::Instruct,
) -> Result<(), CarrierError> {
    let shipment_id = format!("{}-{}", m.order_id, m.shipment);
    let url = format!(
        "{}/shipments/{shipment_id}/instructions",
        cfg.base_url.trim_end_matches('/')
    );
    let fail = |message: String, permanent: bool| CarrierError {
        carrier: m.carrier.clone(),
        message,
        permanent,
        max_attempts: cfg.max_attempts,
    };
    let mut body = serde_json::json!({
        "shipment_id": shipment_id,
        "tracking_number": m.tracking_number,
    });
    let fields = serde_json::to_value(&m.instruction).unwrap_or_default();
    if let (Some(b), Some(f)) = (body.as_object_mut(), fields.as_object()) {
        b.extend(f.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let resp = crate::engine::outbound::http_client()
        .post(&url)
        .insert_header(("authorization", format!("Bearer {}", cfg.key)))
        .insert_header(("idempotency-key", format!("{shipment_id}-{}", m.step)))
        .timeout(Duration::from_millis(cfg.timeout_ms))
        .send_json(&body)
        .await
        .map_err(|e| fail(format!("POST {url}: {e}"), false))?;
    answered(
        resp.status().as_u16(),
        &[200, 201, 202, 204],
        "POST",
        &url,
        fail,
    )
}

/// One event as a carrier answers a tracking poll.
#[derive(Debug, Deserialize)]
pub(crate) struct PolledEvent {
    pub event_id: String,
    #[serde(default, rename = "type")]
    pub kind: Option<crate::domain::CarrierEventKind>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub estimated_delivery: Option<NaiveDate>,
    #[serde(default)]
    pub reason: Option<crate::domain::FailureReason>,
}

#[derive(Debug, Deserialize)]
struct PolledEvents {
    events: Vec<PolledEvent>,
}

/// The events the carrier behind `cfg` has for `tracking_number` (`GET
/// {base_url}/shipments/{tracking_number}/events` → `{"events": [...]}`, each like a pushed
/// event); an error says why there are none this time.
pub(crate) async fn poll(
    cfg: &HttpIntegration,
    tracking_number: &str,
) -> Result<Vec<PolledEvent>, String> {
    let url = format!(
        "{}/shipments/{tracking_number}/events",
        cfg.base_url.trim_end_matches('/')
    );
    let mut resp = crate::engine::outbound::http_client()
        .get(&url)
        .insert_header(("authorization", format!("Bearer {}", cfg.key)))
        .timeout(Duration::from_millis(cfg.timeout_ms))
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .body()
        .limit(MAX_ANSWER_BYTES)
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if status != 200 {
        return Err(format!("GET {url}: {status}"));
    }
    let answer: PolledEvents =
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not events ({e})"))?;
    Ok(answer.events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_numbers_and_label_urls_are_checked() {
        assert!(is_tracking_number("3S12345678901234567890"));
        assert!(is_tracking_number("JVGL-0001_a"));
        for bad in ["", "has space", "a/b", "ü", &"x".repeat(65)] {
            assert!(!is_tracking_number(bad), "{bad:?}");
        }
        assert!(is_label_url("https://carrier.example/l/1.pdf"));
        for bad in ["ftp://x", "https://a b", "javascript:alert(1)"] {
            assert!(!is_label_url(bad), "{bad:?}");
        }
    }
}
