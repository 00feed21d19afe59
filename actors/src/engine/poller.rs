//! The tracking poller: for carriers that do not push their events (`[carriers.http]
//! poll_interval_secs`), it asks the carrier, at that interval, for the events of each open
//! shipment booked with it — packed, shipped or going back to its warehouse, not yet delivered,
//! returned or cancelled — and feeds the
//! answers through the same path as pushed events ([`Engine::carrier_event`]: mapped through the
//! carrier's `tracking_codes`, deduplicated by event id, out-of-order ones harmless). A
//! shipment stops being asked about once it is delivered or back (or its order closed). Return
//! parcels are not polled: their carrier is not known until it reports (see README).
//!
//! Every node polls (with several nodes, events arrive more than once and change the order
//! once). A carrier that fails to answer is asked again at the next interval.

use super::carrier::http;
use super::{CarrierScan, Engine, Inner};
use crate::domain::{ShipmentStatus, Status};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Orders read per page while looking for open shipments.
const PAGE: usize = 200;

/// Starts the poller if some carrier is polled. Runs until the engine is gone.
pub(super) fn spawn(engine: &Engine) {
    let polled: Vec<(String, crate::domain::shipping::HttpIntegration, u64)> = engine
        .config()
        .shipping
        .carriers()
        .iter()
        .filter_map(|c| {
            let http = c.http.clone()?;
            let every = http.poll_interval_secs?;
            Some((c.id.clone(), http, every))
        })
        .collect();
    if polled.is_empty() {
        return;
    }
    let tick = polled.iter().map(|(_, _, s)| *s).min().unwrap_or(60);
    let inner: Weak<Inner> = Arc::downgrade(&engine.inner);
    actix_rt::spawn(async move {
        let mut since: Vec<u64> = vec![0; polled.len()];
        loop {
            actix_rt::time::sleep(Duration::from_secs(tick)).await;
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let engine = Engine { inner };
            for (i, (carrier, cfg, every)) in polled.iter().enumerate() {
                since[i] += tick;
                if since[i] < *every {
                    continue;
                }
                since[i] = 0;
                poll_carrier(&engine, carrier, cfg).await;
            }
        }
    });
}

/// One round for one carrier: every open shipment booked with it.
async fn poll_carrier(
    engine: &Engine,
    carrier: &str,
    cfg: &crate::domain::shipping::HttpIntegration,
) {
    for status in [Status::Confirmed, Status::Packed, Status::Shipped] {
        let mut before = None;
        loop {
            let page = match engine.orders(Some(status), before, PAGE).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "the tracking poller could not list orders");
                    return;
                }
            };
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            let more = page.len() == PAGE;
            for order in &page {
                let open = order.open_shipments().filter(|s| {
                    matches!(
                        s.status,
                        ShipmentStatus::Packed
                            | ShipmentStatus::Shipped
                            | ShipmentStatus::Returning
                    )
                });
                for s in open {
                    let Some(b) = s.booking.as_ref().filter(|b| b.carrier == carrier) else {
                        continue;
                    };
                    let events = match http::poll(cfg, &b.tracking_number).await {
                        Ok(events) => events,
                        Err(e) => {
                            tracing::warn!(%carrier, error = %e, "a tracking poll failed; asking again next time");
                            continue;
                        }
                    };
                    for e in events {
                        let scan = CarrierScan {
                            event_id: e.event_id,
                            tracking_number: b.tracking_number.clone(),
                            kind: e.kind,
                            occurred_at: e.occurred_at,
                            location: e.location,
                            estimated_delivery: e.estimated_delivery,
                            code: e.code,
                            description: e.description,
                            reason: e.reason,
                        };
                        if scan.kind.is_none() && scan.code.is_none() {
                            continue;
                        }
                        if let Err(err) = engine.carrier_event(carrier.to_string(), scan).await {
                            tracing::warn!(%carrier, error = %err, "a polled event was refused");
                        }
                    }
                }
            }
            if !more {
                break;
            }
        }
    }
}
