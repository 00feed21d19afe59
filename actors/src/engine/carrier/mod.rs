//! The carrier actor: books shipments with the configured carriers.
//!
//! The choice is the shipping network's (carriers, their calendars and rates, the carrier
//! rules; see `domain::shipping::network`): the service, its price, the rule and the window. Who
//! then books it is the carrier's **adapter**:
//!
//! - the built-in **table carrier** (no `[carriers.http]`): the booking is a pure function of the
//!   network, the order id and step, the shipment's facts and the clock, so a redelivered
//!   request yields the same tracking number and window, and nothing is stored;
//! - an **HTTP carrier** ([`http`]): the booking is POSTed to the carrier (or a bridge to it)
//!   under the shipment's id as its idempotency key, so a redelivered request — after a crash, a
//!   timeout, a lost answer — is the same booking at the carrier, never a second one; the
//!   carrier's tracking number, label and date replace the table's.
//!
//! A cancelled shipment's booking is undone with its carrier ([`CancelBookings`]: nothing to
//! do for the table carrier, `DELETE {base_url}/shipments/{shipment id}` for an HTTP one).
//!
//! After a failed delivery, the answer (reattempt, on a date, with notes; or return to origin)
//! is passed on to the carrier ([`Instruct`]: noted in the log for the table carrier, `POST
//! {base_url}/shipments/{shipment id}/instructions` for an HTTP one, under an idempotency key
//! of its own per instruction).
//!
//! A failure is a [`CarrierError`]: transient ones (the carrier unreachable, timing out,
//! answering 5xx, 408, 429 or garbage) are retried by the effects loop with backoff, a
//! permanent one (another 4xx) is not; after the carrier's `max_attempts`, or at once when
//! permanent, the booking is dead-lettered for an operator, who can retry it.

pub(super) mod http;

use crate::clock::Clock;
use crate::domain::shipping::network::{Consignment, Network};
use crate::domain::{Address, Booking, Money, OrderId, Parcel, WarehouseId};
use actix::prelude::*;
use std::sync::Arc;

pub struct CarrierActor {
    network: Arc<Network>,
    clock: Arc<dyn Clock>,
}

impl CarrierActor {
    pub fn new(network: Arc<Network>, clock: Arc<dyn Clock>) -> Self {
        CarrierActor { network, clock }
    }
}

impl Actor for CarrierActor {
    type Context = Context<Self>;
}

/// Who receives a parcel and what they pay on delivery: what an HTTP carrier needs besides the
/// facts the rules use (read from the order only when some carrier books over HTTP).
#[derive(Debug, Clone)]
pub struct Consignee {
    pub address: Address,
    /// The amount to collect on delivery (cash-on-delivery orders).
    pub cash_on_delivery: Option<Money>,
}

/// Book one packed shipment.
#[derive(Message)]
#[rtype(result = "Result<Option<Booking>, CarrierError>")]
pub struct Book {
    pub order_id: OrderId,
    pub step: u32,
    /// The shipment's number within the order (`None`: asked before shipments had ids).
    pub shipment: Option<u32>,
    pub warehouse: WarehouseId,
    pub country: String,
    pub postal_code: String,
    pub method: Option<String>,
    pub value: i64,
    pub cash_on_delivery: bool,
    pub parcels: Vec<Parcel>,
    pub consignee: Option<Consignee>,
}

/// Why a call to a carrier (a booking, a cancellation, an instruction) did not go through
/// (yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("carrier {carrier}: {message}")]
pub struct CarrierError {
    pub carrier: String,
    pub message: String,
    /// Not worth retrying: the carrier refused the request itself.
    pub permanent: bool,
    /// Attempts before the call is dead-lettered.
    pub max_attempts: u32,
}

impl Handler<Book> for CarrierActor {
    type Result = ResponseFuture<Result<Option<Booking>, CarrierError>>;

    fn handle(&mut self, m: Book, _: &mut Context<Self>) -> Self::Result {
        let c = Consignment {
            warehouse: &m.warehouse,
            country: &m.country,
            postal_code: &m.postal_code,
            method: m.method.as_deref(),
            value: m.value,
            cash_on_delivery: m.cash_on_delivery,
            parcels: &m.parcels,
        };
        let Some(booking) = self.network.book(m.order_id, m.step, &c, self.clock.now()) else {
            return Box::pin(async { Ok(None) });
        };
        let integration = self
            .network
            .carrier(&booking.carrier)
            .and_then(|c| c.http.clone());
        match integration {
            None => Box::pin(async move { Ok(Some(booking)) }),
            Some(http) => Box::pin(http::book(http, m, booking)),
        }
    }
}

/// Tell the carriers of these booked shipments that they were cancelled before leaving.
#[derive(Message)]
#[rtype(result = "Result<(), CarrierError>")]
pub struct CancelBookings {
    pub order_id: OrderId,
    pub bookings: Vec<crate::domain::BookedShipment>,
}

impl Handler<CancelBookings> for CarrierActor {
    type Result = ResponseFuture<Result<(), CarrierError>>;

    /// The table carrier has nothing to undo; an HTTP carrier is told, one shipment after the
    /// other (a repeat is harmless: the carrier cancels by shipment id).
    fn handle(&mut self, m: CancelBookings, _: &mut Context<Self>) -> Self::Result {
        let calls: Vec<(String, String, crate::domain::shipping::HttpIntegration)> = m
            .bookings
            .iter()
            .filter_map(|b| {
                let http = self.network.carrier(&b.carrier)?.http.clone()?;
                let shipment_id = format!("{}-{}", m.order_id, b.shipment);
                Some((b.carrier.clone(), shipment_id, http))
            })
            .collect();
        Box::pin(async move {
            for (carrier, shipment_id, http) in calls {
                http::cancel(&http, &carrier, &shipment_id).await?;
            }
            Ok(())
        })
    }
}

/// Tell a shipment's carrier what to do after a failed delivery.
#[derive(Message)]
#[rtype(result = "Result<(), CarrierError>")]
pub struct Instruct {
    pub order_id: OrderId,
    /// The step that gave the instruction: with the shipment, the instruction's identity.
    pub step: u32,
    pub shipment: u32,
    pub carrier: String,
    pub tracking_number: String,
    pub instruction: crate::domain::ExceptionAnswer,
}

impl Handler<Instruct> for CarrierActor {
    type Result = ResponseFuture<Result<(), CarrierError>>;

    fn handle(&mut self, m: Instruct, _: &mut Context<Self>) -> Self::Result {
        let http = self
            .network
            .carrier(&m.carrier)
            .and_then(|c| c.http.clone());
        match http {
            None => {
                tracing::info!(order_id = %m.order_id, shipment = m.shipment, carrier = %m.carrier, instruction = ?m.instruction, "instruction for a table carrier: nothing to send");
                Box::pin(async { Ok(()) })
            }
            Some(http) => Box::pin(async move { http::instruct(&http, &m).await }),
        }
    }
}
