//! The carrier actor: books shipments with the configured carriers.
//!
//! Booking is a pure function of the carrier table, the order id and step, and the clock (see
//! `domain::shipping`), so a redelivered booking request yields the same carrier, tracking
//! number and estimate, and the actor needs no storage of its own. A real carrier integration
//! would sit behind this same message.

use crate::clock::Clock;
use crate::domain::shipping::{self, CarrierSpec};
use crate::domain::{Booking, OrderId, Parcel};
use actix::prelude::*;
use chrono::NaiveDate;
use std::sync::Arc;

pub struct CarrierActor {
    carriers: Arc<Vec<CarrierSpec>>,
    holidays: Arc<Vec<NaiveDate>>,
    clock: Arc<dyn Clock>,
}

impl CarrierActor {
    pub fn new(
        carriers: Arc<Vec<CarrierSpec>>,
        holidays: Arc<Vec<NaiveDate>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        CarrierActor {
            carriers,
            holidays,
            clock,
        }
    }
}

impl Actor for CarrierActor {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "Option<Booking>")]
pub struct Book {
    pub order_id: OrderId,
    pub step: u32,
    pub country: String,
    pub method: Option<String>,
    pub parcels: Vec<Parcel>,
}

impl Handler<Book> for CarrierActor {
    type Result = Option<Booking>;
    fn handle(&mut self, m: Book, _: &mut Context<Self>) -> Option<Booking> {
        shipping::book(
            &self.carriers,
            &self.holidays,
            m.order_id,
            m.step,
            &m.country,
            m.method.as_deref(),
            &m.parcels,
            self.clock.now(),
        )
    }
}
