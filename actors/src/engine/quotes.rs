//! Quotes: the delivery options an order would get if it were placed now — before purchase.
//!
//! A quote runs placing's allocation over the inventory's ledger without reserving anything
//! ([`PlanAllocation`]), then plans each shipment it would make with the shipping network
//! (the carrier rules and prices, the warehouse's cut-off, handling days and calendar, the
//! carrier's transit days and calendar) from the moment of the quote — the same planning the
//! order's allocation runs from the moment it is placed, so an order placed on a quote is
//! promised what it was quoted (unless the stock or the configuration changed in between).
//! One option per shipping method (the one asked for, or each method some service fulfils);
//! a method whose every shipment some service can take. Nothing is stored.

use super::inventory::PlanAllocation;
use super::{Engine, EngineError};
use crate::domain::shipping::network::Consignment;
use crate::domain::Parcel;
use crate::domain::{Allocation, DeliveryPlan, LineQty, Money};
use chrono::NaiveDate;

/// What a storefront knows before purchase.
#[derive(Debug, Clone)]
pub struct QuoteRequest {
    pub country: String,
    pub postal_code: String,
    pub lines: Vec<LineQty>,
    /// Only this method's option (`None`: every method's).
    pub method: Option<String>,
    /// The cart's weight (`None`: 0, the lightest band).
    pub weight_grams: Option<u32>,
    /// The cart's value, minor units (what value conditions of carrier rules compare).
    pub value: i64,
    pub cash_on_delivery: bool,
    pub allow_split: Option<bool>,
}

/// One way the order could be delivered.
#[derive(Debug, Clone)]
pub struct QuoteOption {
    pub method: String,
    /// The sum over its shipments; `None` when some service has no rate table.
    pub price: Option<Money>,
    /// When the last of its shipments should arrive.
    pub earliest: NaiveDate,
    pub latest: NaiveDate,
    /// One per shipment the allocation would make.
    pub shipments: Vec<(Allocation, DeliveryPlan)>,
}

/// Why there is nothing to quote.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QuoteError {
    #[error("{0}")]
    OutOfStock(String),
    #[error("no carrier service delivers {method}to {country} {postal_code}")]
    Unreachable {
        method: String,
        country: String,
        postal_code: String,
    },
}

impl Engine {
    /// The delivery options for `q`, cheapest first is not implied: in the order the methods
    /// are configured.
    pub async fn quote(&self, q: QuoteRequest) -> Result<Vec<QuoteOption>, EngineError> {
        let planned = self
            .inner
            .inventory
            .send(PlanAllocation {
                lines: q.lines.clone(),
                country: q.country.clone(),
                allow_split: q.allow_split,
            })
            .await
            .map_err(|_| EngineError::Overloaded)?;
        let allocations =
            planned.map_err(|short| EngineError::Quote(QuoteError::OutOfStock(short.reason)))?;
        let network = &self.config().shipping;
        let now = self.inner.ctx.clock.now();
        let methods: Vec<String> = match &q.method {
            Some(m) => vec![m.clone()],
            None => network.methods().into_iter().map(str::to_owned).collect(),
        };
        let all_units = q
            .lines
            .iter()
            .map(|l| l.quantity as u64)
            .sum::<u64>()
            .max(1);
        let mut options = Vec::new();
        for method in methods {
            let mut shipments = Vec::with_capacity(allocations.len());
            for a in &allocations {
                let units = a.lines.iter().map(|l| l.quantity as u64).sum::<u64>();
                let weight = q.weight_grams.unwrap_or(0) as u64 * units / all_units;
                let parcels = [Parcel {
                    weight_grams: weight.min(u32::MAX as u64) as u32,
                }];
                let c = Consignment {
                    warehouse: &a.warehouse,
                    country: &q.country,
                    postal_code: &q.postal_code,
                    method: Some(&method),
                    value: q.value,
                    cash_on_delivery: q.cash_on_delivery,
                    parcels: &parcels,
                };
                match network.plan(&c, now) {
                    Some(plan) => shipments.push((a.clone(), plan)),
                    None => break,
                }
            }
            if shipments.len() == allocations.len() {
                options.push(option(method, shipments));
            }
        }
        if options.is_empty() {
            return Err(EngineError::Quote(QuoteError::Unreachable {
                method: q.method.map(|m| format!("'{m}' ")).unwrap_or_default(),
                country: q.country,
                postal_code: q.postal_code,
            }));
        }
        Ok(options)
    }
}

fn option(method: String, shipments: Vec<(Allocation, DeliveryPlan)>) -> QuoteOption {
    let mut price: Option<Money> = None;
    let mut priced = true;
    for (_, p) in &shipments {
        match (p.price, price) {
            (Some(x), Some(sum)) => {
                price = Some(Money {
                    amount: sum.amount + x.amount,
                    currency: sum.currency,
                })
            }
            (Some(x), None) => price = Some(x),
            (None, _) => priced = false,
        }
    }
    let earliest = shipments
        .iter()
        .map(|(_, p)| p.promise.earliest)
        .max()
        .expect("at least one shipment");
    let latest = shipments
        .iter()
        .map(|(_, p)| p.promise.latest)
        .max()
        .expect("at least one shipment");
    QuoteOption {
        method,
        price: price.filter(|_| priced),
        earliest,
        latest,
        shipments,
    }
}
