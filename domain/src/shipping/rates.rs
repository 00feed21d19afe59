//! What a carrier service costs, and which service a shop's rules choose for a shipment.
//!
//! A service's **rate table** prices a parcel by destination zone (a list of countries) and
//! weight band (the first band the weight fits under), in minor units of the table's currency,
//! plus surcharges: cash on delivery, and remote areas (postal-code prefixes of a country). A
//! destination no zone lists, or a weight above the last band, has no price: the service does
//! not take that parcel.
//!
//! The shop's **carrier rules** are tried in order. A rule whose conditions hold (destination
//! country, weight, order value, shipping method, cash on delivery, warehouse — each left out
//! means "any") chooses among the services that can take the parcel (the carrier serves the
//! country, the service fulfils the method and carries the weight, and has a price): the first
//! of its preference list that can, or the cheapest (ties: the faster, then the order
//! configured), or the fastest (ties: the cheaper, then the order configured). A rule that
//! holds but finds no service lets the next rule try; the last rule must hold for everything
//! (the fallback), so [`validate_rules`] refuses a list that could end with no rule holding.
//!
//! Prices compare across services as amounts: every table is in the shop's currency (a check
//! for the configuration's loader). Pure: the facts of the shipment are an argument; the
//! decision names the rule that made it, for the order's history.

use crate::money::{Currency, Money};
use crate::order::validate::is_country_code as is_country;
use serde::{Deserialize, Serialize};

/// The price of one weight band, up to and including `up_to_grams`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub up_to_grams: u32,
    /// Minor units of the table's currency.
    pub price: i64,
}

/// Destinations priced alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub name: String,
    /// ISO 3166-1 alpha-2 codes.
    pub countries: Vec<String>,
    /// Ascending by `up_to_grams`.
    pub bands: Vec<Band>,
}

/// A surcharge for deliveries to postal codes of a country starting with one of `prefixes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteArea {
    pub country: String,
    pub postal_prefixes: Vec<String>,
    pub surcharge: i64,
}

/// A carrier service's prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateTable {
    pub currency: Currency,
    pub zones: Vec<Zone>,
    /// Added when the receiver pays on delivery.
    #[serde(default)]
    pub cash_on_delivery: i64,
    #[serde(default)]
    pub remote_areas: Vec<RemoteArea>,
}

/// What is known of a shipment when its carrier is chosen (or quoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts<'a> {
    pub country: &'a str,
    pub postal_code: &'a str,
    pub weight_grams: u32,
    /// The order's value, minor units of its currency.
    pub value: i64,
    pub method: &'a str,
    pub cash_on_delivery: bool,
    pub warehouse: &'a str,
}

impl RateTable {
    /// The price of a parcel of `f`, or `None` when no zone lists its country or it is heavier
    /// than the last band.
    pub fn price(&self, f: &Facts<'_>) -> Option<Money> {
        let zone = self
            .zones
            .iter()
            .find(|z| z.countries.iter().any(|c| c == f.country))?;
        let band = zone
            .bands
            .iter()
            .find(|b| f.weight_grams <= b.up_to_grams)?;
        let mut amount = band.price;
        if f.cash_on_delivery {
            amount += self.cash_on_delivery;
        }
        let postal = normalised_postal(f.postal_code);
        amount += self
            .remote_areas
            .iter()
            .filter(|r| {
                r.country == f.country
                    && r.postal_prefixes
                        .iter()
                        .any(|p| starts_with_normalised(&postal, p))
            })
            .map(|r| r.surcharge)
            .max()
            .unwrap_or(0);
        Some(Money {
            amount,
            currency: self.currency,
        })
    }

    /// Every rule a table must satisfy, as one message naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.zones.is_empty() {
            return Err("zones: at least one".into());
        }
        if self.cash_on_delivery < 0 {
            return Err("cash_on_delivery: not below 0".into());
        }
        for (i, z) in self.zones.iter().enumerate() {
            if z.countries.is_empty() {
                return Err(format!("zones[{i}].countries: at least one"));
            }
            if let Some(c) = z.countries.iter().find(|c| !is_country(c)) {
                return Err(format!(
                    "zones[{i}].countries: '{c}' is not an ISO 3166-1 alpha-2 code"
                ));
            }
            if z.bands.is_empty() {
                return Err(format!("zones[{i}].bands: at least one"));
            }
            for (j, b) in z.bands.iter().enumerate() {
                if b.price < 0 {
                    return Err(format!("zones[{i}].bands[{j}].price: not below 0"));
                }
                if j > 0 && b.up_to_grams <= z.bands[j - 1].up_to_grams {
                    return Err(format!(
                        "zones[{i}].bands[{j}].up_to_grams: bands must grow heavier"
                    ));
                }
            }
        }
        for (i, r) in self.remote_areas.iter().enumerate() {
            if !is_country(&r.country) {
                return Err(format!(
                    "remote_areas[{i}].country: '{}' is not an ISO 3166-1 alpha-2 code",
                    r.country
                ));
            }
            if r.surcharge < 0 {
                return Err(format!("remote_areas[{i}].surcharge: not below 0"));
            }
            if r.postal_prefixes.iter().any(|p| p.trim().is_empty()) {
                return Err(format!(
                    "remote_areas[{i}].postal_prefixes: no empty prefix"
                ));
            }
        }
        Ok(())
    }
}

/// A postal code as compared: upper case, no spaces ("1015 cj" is "1015CJ").
fn normalised_postal(p: &str) -> String {
    normalised(p).collect()
}

fn normalised(p: &str) -> impl Iterator<Item = char> + '_ {
    p.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
}

/// Whether `postal` (normalised) starts with `prefix` normalised, without building it (a
/// table may list dozens of prefixes, tried on every price).
fn starts_with_normalised(postal: &str, prefix: &str) -> bool {
    let mut have = postal.chars();
    normalised(prefix).all(|want| have.next() == Some(want))
}

/// One carrier service as rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer<'a> {
    pub carrier: &'a str,
    pub service: &'a str,
    /// The carrier's countries; empty: everywhere.
    pub countries: &'a [String],
    pub method: &'a str,
    pub max_weight_grams: u32,
    /// Most transit days (what "fastest" compares).
    pub transit_days: u32,
    pub rates: &'a RateTable,
}

impl Offer<'_> {
    /// Its price for `f`, if it can take the parcel at all.
    fn quote(&self, f: &Facts<'_>) -> Option<Money> {
        let serves = self.countries.is_empty() || self.countries.iter().any(|c| c == f.country);
        if !serves || self.method != f.method || f.weight_grams > self.max_weight_grams {
            return None;
        }
        self.rates.price(f)
    }
}

/// A service named by a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceRef {
    pub carrier: String,
    pub service: String,
}

/// How a rule chooses among the services that can take the parcel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Choice {
    /// The first of these that can.
    Prefer(Vec<ServiceRef>),
    Cheapest,
    Fastest,
}

/// When a rule holds; each condition left out holds for everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Conditions {
    pub countries: Vec<String>,
    pub min_weight_grams: Option<u32>,
    pub max_weight_grams: Option<u32>,
    /// Order value bounds, minor units (inclusive).
    pub min_value: Option<i64>,
    pub max_value: Option<i64>,
    pub methods: Vec<String>,
    pub cash_on_delivery: Option<bool>,
    pub warehouses: Vec<String>,
}

impl Conditions {
    pub fn hold(&self, f: &Facts<'_>) -> bool {
        let listed = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
        listed(&self.countries, f.country)
            && listed(&self.methods, f.method)
            && listed(&self.warehouses, f.warehouse)
            && self.min_weight_grams.is_none_or(|m| f.weight_grams >= m)
            && self.max_weight_grams.is_none_or(|m| f.weight_grams <= m)
            && self.min_value.is_none_or(|m| f.value >= m)
            && self.max_value.is_none_or(|m| f.value <= m)
            && self
                .cash_on_delivery
                .is_none_or(|c| c == f.cash_on_delivery)
    }

    fn is_everything(&self) -> bool {
        *self == Conditions::default()
    }
}

/// One of the shop's carrier rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Named in the order's history.
    pub name: String,
    #[serde(default)]
    pub when: Conditions,
    pub choose: Choice,
}

/// What the rules chose: the service (an index into the offers), its price, and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<'r> {
    pub offer: usize,
    pub price: Money,
    pub rule: &'r str,
}

/// The first rule that holds and finds a service decides; `None` when none does (no service
/// can take the parcel).
pub fn decide<'r>(rules: &'r [Rule], offers: &[Offer<'_>], f: &Facts<'_>) -> Option<Decision<'r>> {
    let priced: Vec<(usize, Money)> = offers
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.quote(f).map(|p| (i, p)))
        .collect();
    rules.iter().filter(|r| r.when.hold(f)).find_map(|r| {
        let (offer, price) = match &r.choose {
            Choice::Prefer(list) => list.iter().find_map(|want| {
                priced.iter().copied().find(|(i, _)| {
                    offers[*i].carrier == want.carrier && offers[*i].service == want.service
                })
            })?,
            Choice::Cheapest => priced
                .iter()
                .copied()
                .min_by_key(|(i, p)| (p.amount, offers[*i].transit_days, *i))?,
            Choice::Fastest => priced
                .iter()
                .copied()
                .min_by_key(|(i, p)| (offers[*i].transit_days, p.amount, *i))?,
        };
        Some(Decision {
            offer,
            price,
            rule: &r.name,
        })
    })
}

/// Every rule a list of rules must satisfy, as one message naming the field: at least one
/// rule, names unique and not blank, every preferred service one of `known` (carrier,
/// service), bounds in order, and a last rule that holds for everything (the fallback).
pub fn validate_rules(rules: &[Rule], known: &[(&str, &str)]) -> Result<(), String> {
    let Some(last) = rules.last() else {
        return Err("carrier_rules: at least one (the last one holding for everything)".into());
    };
    let mut names = std::collections::HashSet::new();
    for (i, r) in rules.iter().enumerate() {
        if r.name.trim().is_empty() {
            return Err(format!("carrier_rules[{i}].name: not blank"));
        }
        if !names.insert(r.name.as_str()) {
            return Err(format!(
                "carrier_rules[{i}].name: '{}' is used twice",
                r.name
            ));
        }
        let w = &r.when;
        if let (Some(lo), Some(hi)) = (w.min_weight_grams, w.max_weight_grams) {
            if lo > hi {
                return Err(format!(
                    "carrier_rules[{i}].when: min_weight_grams above max_weight_grams"
                ));
            }
        }
        if let (Some(lo), Some(hi)) = (w.min_value, w.max_value) {
            if lo > hi {
                return Err(format!(
                    "carrier_rules[{i}].when: min_value above max_value"
                ));
            }
        }
        if let Some(c) = w.countries.iter().find(|c| !is_country(c)) {
            return Err(format!(
                "carrier_rules[{i}].when.countries: '{c}' is not an ISO 3166-1 alpha-2 code"
            ));
        }
        if let Choice::Prefer(list) = &r.choose {
            if list.is_empty() {
                return Err(format!(
                    "carrier_rules[{i}].choose.prefer: at least one service"
                ));
            }
            if let Some(s) = list.iter().find(|s| {
                !known
                    .iter()
                    .any(|(c, v)| *c == s.carrier && *v == s.service)
            }) {
                return Err(format!(
                    "carrier_rules[{i}].choose.prefer: no service '{}' of carrier '{}'",
                    s.service, s.carrier
                ));
            }
        }
    }
    if !last.when.is_everything() {
        return Err(format!(
            "carrier_rules[{}].when: the last rule is the fallback and must hold for everything",
            rules.len() - 1
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
