//! The shop's shipping network as one value: its warehouses, its carriers with their calendars
//! and rates, and its carrier rules — what chooses a carrier service for a shipment, prices it
//! and promises the days it arrives in.
//!
//! Three moments use it, with the same rules so that they agree:
//!
//! - a **quote** before purchase ([`Network::plan`] for each shipment the allocation would make,
//!   counting the warehouse's handling days from the moment of the quote);
//! - **allocation**: the order's shell plans each allocated shipment the same way, from the
//!   moment the order was placed (so an order placed on a quote is promised what it was quoted);
//! - **booking** a packed shipment ([`Network::book`]): the service for its real parcels, their
//!   price, and the window revised from the moment of packing (handling is done: the parcel
//!   leaves at the next collection).
//!
//! Choice: with carrier rules configured, [`rates::decide`] among the services that have a rate
//! table; without, the fastest service that fits ([`choose`]), priced if it has a table.
//! Dates: [`promise::promise`] over the warehouse's dispatch (its time zone, the earlier of its
//! cut-off and the service's collection time, its working days and holidays) and the carrier's
//! transit (its working days and holidays, the service's least and most transit days).
//!
//! Built once at start by [`Network::new`], which checks everything (one message naming the
//! field), so that planning and booking never meet a bad calendar.

use super::promise::{self, Calendar, Dispatch, Transit};
use super::rates::{self, Facts, Offer, Rule};
use super::{choose, tracking_number, CarrierSpec, ServiceSpec, DEFAULT_METHOD};
use crate::ids::WarehouseId;
use crate::money::Money;
use crate::order::{
    Allocation, Booking, DeliveryPlan, LineQty, Order, OrderId, Parcel, PaymentMethod, Promise,
};
use crate::warehouse::{Shift, Warehouse};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc, Weekday};
use std::collections::HashMap;

/// The shop's warehouses, carriers and carrier rules, checked.
#[derive(Debug, Clone)]
pub struct Network {
    carriers: Vec<CarrierSpec>,
    /// The carriers' calendars, by index.
    calendars: Vec<Calendar>,
    /// Each service's collection time, by carrier and service index (parsed once).
    collections: Vec<Vec<NaiveTime>>,
    rules: Vec<Rule>,
    /// Each configured warehouse's side of a promise (no handling days), and its zone's name.
    sites: HashMap<WarehouseId, (Dispatch, String)>,
    /// The shop's holidays: a carrier's without its own, an unconfigured warehouse's.
    holidays: Vec<NaiveDate>,
    /// Each warehouse with a pick-and-pack deadline: its working time and the deadline's
    /// working hours.
    deadlines: HashMap<WarehouseId, (Shift, u32)>,
}

/// What is shipped, from where, to where: what the rules, prices and dates depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consignment<'a> {
    pub warehouse: &'a WarehouseId,
    pub country: &'a str,
    pub postal_code: &'a str,
    /// The shipping method asked for; `None`: [`DEFAULT_METHOD`].
    pub method: Option<&'a str>,
    /// The order's value, minor units of its currency.
    pub value: i64,
    pub cash_on_delivery: bool,
    /// Its parcels (before packing: one, of the order's weight).
    pub parcels: &'a [Parcel],
}

/// The service chosen for a consignment, what it costs and the rule that chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection<'n> {
    pub carrier: &'n CarrierSpec,
    pub service: &'n ServiceSpec,
    /// The sum over its parcels; `None` when the service has no rate table.
    pub price: Option<Money>,
    /// `None`: no carrier rules configured (the fastest was taken).
    pub rule: Option<&'n str>,
}

impl<'a> Consignment<'a> {
    /// `parcels` of `order` leaving `warehouse`: its destination, method, value and payment.
    pub fn of_order(
        order: &'a Order,
        warehouse: &'a WarehouseId,
        parcels: &'a [Parcel],
    ) -> Consignment<'a> {
        let address = &order.shipping.address;
        Consignment {
            warehouse,
            country: &address.country,
            postal_code: &address.postal_code,
            method: order.shipping.method.as_deref(),
            value: order.total().amount,
            cash_on_delivery: order.payment.method == PaymentMethod::Cod,
            parcels,
        }
    }
}

impl Network {
    /// Checks every part (carriers' calendars, rate tables in one currency, the rules and the
    /// services they name, warehouses) and builds the network, or says what is wrong, naming
    /// the field.
    pub fn new(
        carriers: Vec<CarrierSpec>,
        rules: Vec<Rule>,
        warehouses: Vec<Warehouse>,
        holidays: Vec<NaiveDate>,
    ) -> Result<Network, String> {
        let mut calendars = Vec::with_capacity(carriers.len());
        let mut collections = Vec::with_capacity(carriers.len());
        for (i, c) in carriers.iter().enumerate() {
            let days = parse_weekdays(&c.working_days)
                .map_err(|e| format!("carriers[{i}].working_days: {e}"))?;
            let own = c.holidays.clone().unwrap_or_else(|| holidays.clone());
            calendars.push(
                Calendar::new(days, own).map_err(|e| format!("carriers[{i}].working_days: {e}"))?,
            );
            if let Some(http) = &c.http {
                http.validate(&format!("carriers[{i}].http"))?;
            }
            for (code, kind) in &c.tracking_codes {
                let bad =
                    code.trim().is_empty() || code.len() > 64 || code.chars().any(char::is_control);
                if bad {
                    return Err(format!(
                        "carriers[{i}].tracking_codes: {code:?} is not 1-64 characters"
                    ));
                }
                if *kind == crate::order::CarrierEventKind::Unknown {
                    return Err(format!(
                        "carriers[{i}].tracking_codes.{code}: 'unknown' is what an unlisted code means; map it to what it means"
                    ));
                }
            }
            let mut times = Vec::with_capacity(c.services.len());
            for (j, s) in c.services.iter().enumerate() {
                times.push(
                    s.cutoff_time()
                        .map_err(|m| format!("carriers[{i}].services[{j}].cutoff: {m}"))?,
                );
                if s.min_transit_days.is_some_and(|m| m > s.transit_days) {
                    return Err(format!(
                        "carriers[{i}].services[{j}].min_transit_days: not above transit_days"
                    ));
                }
            }
            collections.push(times);
        }
        let mut sites = HashMap::with_capacity(warehouses.len());
        let mut deadlines = HashMap::new();
        for (i, w) in warehouses.iter().enumerate() {
            w.validate().map_err(|m| format!("warehouses[{i}].{m}"))?;
            let dispatch = w.dispatch(w.handling_days)?;
            sites.insert(w.id.clone(), (dispatch, w.time_zone.clone()));
            if let Some(hours) = w.pick_pack_hours {
                deadlines.insert(w.id.clone(), (w.shift()?, hours));
            }
        }
        super::validate_pricing(&carriers, &rules)?;
        Ok(Network {
            carriers,
            calendars,
            collections,
            rules,
            sites,
            holidays,
            deadlines,
        })
    }

    /// No carriers: nothing can be booked, planned or quoted.
    pub fn empty() -> Network {
        Network {
            carriers: vec![],
            calendars: vec![],
            collections: vec![],
            rules: vec![],
            sites: HashMap::new(),
            holidays: vec![],
            deadlines: HashMap::new(),
        }
    }

    /// When a shipment of `warehouse` confirmed at `confirmed_at` must be packed by: its
    /// pick-and-pack hours counted in its working time. `None`: the warehouse sets no deadline.
    pub fn pick_pack_due(
        &self,
        warehouse: &WarehouseId,
        confirmed_at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let (shift, hours) = self.deadlines.get(warehouse)?;
        Some(shift.after_working_hours(confirmed_at, *hours))
    }

    pub fn carriers(&self) -> &[CarrierSpec] {
        &self.carriers
    }

    /// The carrier with this id.
    pub fn carrier(&self, id: &str) -> Option<&CarrierSpec> {
        self.carriers.iter().find(|c| c.id == id)
    }

    /// Whether some carrier books over HTTP (its bookings need the order's address).
    pub fn has_integrations(&self) -> bool {
        self.carriers.iter().any(|c| c.http.is_some())
    }

    /// The shipping methods some service fulfils, each once, in the order configured.
    pub fn methods(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in self.carriers.iter().flat_map(|c| &c.services) {
            if !out.contains(&s.method.as_str()) {
                out.push(&s.method);
            }
        }
        out
    }

    /// The service the rules choose for `c` (or the fastest, without rules), priced; `None`
    /// when no service can take it.
    pub fn select(&self, c: &Consignment<'_>) -> Option<Selection<'_>> {
        let method = c.method.unwrap_or(DEFAULT_METHOD);
        let heaviest = c.parcels.iter().map(|p| p.weight_grams).max().unwrap_or(0);
        let facts = |weight_grams| Facts {
            country: c.country,
            postal_code: c.postal_code,
            weight_grams,
            value: c.value,
            method,
            cash_on_delivery: c.cash_on_delivery,
            warehouse: c.warehouse,
        };
        let (carrier, service, rule) = if self.rules.is_empty() {
            let (carrier, service) = choose(&self.carriers, c.country, Some(method), c.parcels)?;
            (carrier, service, None)
        } else {
            let offers: Vec<(Offer<'_>, &CarrierSpec, &ServiceSpec)> = self
                .carriers
                .iter()
                .flat_map(|carrier| carrier.services.iter().map(move |s| (carrier, s)))
                .filter_map(|(carrier, s)| {
                    let rates = s.rates.as_ref()?;
                    let offer = Offer {
                        carrier: &carrier.id,
                        service: &s.code,
                        countries: &carrier.countries,
                        method: &s.method,
                        max_weight_grams: s.max_weight_grams,
                        transit_days: s.transit_days,
                        rates,
                    };
                    Some((offer, carrier, s))
                })
                .collect();
            let just_offers: Vec<Offer<'_>> = offers.iter().map(|(o, _, _)| o.clone()).collect();
            let d = rates::decide(&self.rules, &just_offers, &facts(heaviest))?;
            let (_, carrier, service) = offers[d.offer];
            (carrier, service, Some(d.rule))
        };
        let price = service.rates.as_ref().and_then(|t| {
            let weights: Vec<u32> = if c.parcels.is_empty() {
                vec![0]
            } else {
                c.parcels.iter().map(|p| p.weight_grams).collect()
            };
            let mut total: Option<Money> = None;
            for w in weights {
                let p = t.price(&facts(w))?;
                total = Some(match total {
                    Some(t) => Money {
                        amount: t.amount + p.amount,
                        currency: t.currency,
                    },
                    None => p,
                });
            }
            total
        });
        Some(Selection {
            carrier,
            service,
            price,
            rule,
        })
    }

    /// How `c` should travel if it comes in at `at` (a quote, or an order's allocation): the
    /// service chosen and the window counting the warehouse's handling days.
    pub fn plan(&self, c: &Consignment<'_>, at: DateTime<Utc>) -> Option<DeliveryPlan> {
        let sel = self.select(c)?;
        let promise = self.promise(&sel, c.warehouse, at, Handling::Counted);
        Some(DeliveryPlan {
            carrier: sel.carrier.id.clone(),
            service: sel.service.code.clone(),
            price: sel.price,
            rule: sel.rule.map(str::to_owned),
            promise,
        })
    }

    /// The plan of one shipment of `order` as allocation made it, from `at`: its share of the
    /// order's weight (by units), the order's value, method, destination and payment.
    pub fn plan_allocation(
        &self,
        order: &Order,
        a: &Allocation,
        at: DateTime<Utc>,
    ) -> Option<DeliveryPlan> {
        let units = |lines: &[LineQty]| lines.iter().map(|l| l.quantity as u64).sum::<u64>();
        let all = units(&order.line_qtys()).max(1);
        let weight = order.shipping.weight_grams.unwrap_or(0) as u64 * units(&a.lines) / all;
        let parcels = [Parcel {
            weight_grams: weight.min(u32::MAX as u64) as u32,
        }];
        self.plan(&Consignment::of_order(order, &a.warehouse, &parcels), at)
    }

    /// Books `c`, packed at `at`: the service for its parcels, their price, a tracking number
    /// stable per (order, step), and the window from now (it leaves at the next collection).
    pub fn book(
        &self,
        order_id: OrderId,
        step: u32,
        c: &Consignment<'_>,
        at: DateTime<Utc>,
    ) -> Option<Booking> {
        let sel = self.select(c)?;
        let promise = self.promise(&sel, c.warehouse, at, Handling::Done);
        Some(Booking {
            carrier: sel.carrier.id.clone(),
            carrier_name: sel.carrier.name.clone(),
            service: sel.service.code.clone(),
            tracking_number: tracking_number(&sel.carrier.tracking_prefix, order_id, step),
            estimated_delivery: promise.latest,
            price: sel.price,
            rule: sel.rule.map(str::to_owned),
            promise: Some(promise),
            label_url: None,
        })
    }

    /// The window for `sel` from `warehouse`, in at `at`, its handling days still to come or
    /// done. A configured warehouse's side was built by `new`; one not configured (the
    /// service running open) is on UTC, Monday to Friday less the shop's holidays, 17:00.
    fn promise(
        &self,
        sel: &Selection<'_>,
        warehouse: &WarehouseId,
        at: DateTime<Utc>,
        handling: Handling,
    ) -> Promise {
        let (mut dispatch, time_zone) = match self.sites.get(warehouse) {
            Some((d, tz)) => (d.clone(), tz.as_str()),
            None => (
                Dispatch {
                    time_zone: chrono_tz::UTC,
                    cutoff: NaiveTime::from_hms_opt(17, 0, 0).expect("a time"),
                    calendar: Calendar::weekdays_except(&self.holidays),
                    handling_days: 0,
                },
                "UTC",
            ),
        };
        if handling == Handling::Done {
            dispatch.handling_days = 0;
        }
        let i = self
            .carriers
            .iter()
            .position(|c| c.id == sel.carrier.id)
            .expect("selected from the network's carriers");
        let j = self.carriers[i]
            .services
            .iter()
            .position(|s| s.code == sel.service.code)
            .expect("selected from the carrier's services");
        dispatch.cutoff = dispatch.cutoff.min(self.collections[i][j]);
        let transit = Transit {
            calendar: self.calendars[i].clone(),
            min_days: sel
                .service
                .min_transit_days
                .unwrap_or(sel.service.transit_days),
            max_days: sel.service.transit_days,
        };
        let w = promise::promise(at, &dispatch, &transit);
        Promise {
            earliest: w.earliest,
            latest: w.latest,
            time_zone: time_zone.to_string(),
        }
    }
}

/// Whether a warehouse's handling days are still to come (an order coming in) or done (a
/// packed parcel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handling {
    Counted,
    Done,
}

fn parse_weekdays(days: &[String]) -> Result<Vec<Weekday>, String> {
    days.iter()
        .map(|d| {
            d.parse::<Weekday>()
                .map_err(|_| format!("'{d}' is not one of mon..sun"))
        })
        .collect()
}

#[cfg(test)]
mod tests;
