//! The carrier actor: books shipments with the configured carriers.
//!
//! Booking is a pure function of the shipping network (carriers, their calendars and rates,
//! the carrier rules; see `domain::shipping::network`), the order id and step, the shipment's
//! facts and the clock, so a redelivered booking request yields the same carrier, tracking
//! number and window, and the actor needs no storage of its own. A real carrier integration
//! would sit behind this same message.

use crate::clock::Clock;
use crate::domain::shipping::network::{Consignment, Network};
use crate::domain::{Booking, OrderId, Parcel, WarehouseId};
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

/// Book one packed shipment.
#[derive(Message)]
#[rtype(result = "Option<Booking>")]
pub struct Book {
    pub order_id: OrderId,
    pub step: u32,
    pub warehouse: WarehouseId,
    pub country: String,
    pub postal_code: String,
    pub method: Option<String>,
    pub value: i64,
    pub cash_on_delivery: bool,
    pub parcels: Vec<Parcel>,
}

impl Handler<Book> for CarrierActor {
    type Result = Option<Booking>;
    fn handle(&mut self, m: Book, _: &mut Context<Self>) -> Option<Booking> {
        let c = Consignment {
            warehouse: &m.warehouse,
            country: &m.country,
            postal_code: &m.postal_code,
            method: m.method.as_deref(),
            value: m.value,
            cash_on_delivery: m.cash_on_delivery,
            parcels: &m.parcels,
        };
        self.network.book(m.order_id, m.step, &c, self.clock.now())
    }
}
