//! Carriers as configured, the fastest-fit choice and tracking numbers; [`promise`]: the
//! delivery window an order is promised, from the warehouse's and the carrier's calendars;
//! [`rates`]: what a service costs and which service the shop's carrier rules choose;
//! [`network`]: all of it together, as quotes, allocation and bookings use it.
//!
//! Pure functions of the configuration and the moment they are asked at.

use super::order::{OrderId, Parcel};
use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One carrier as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarrierSpec {
    /// Short id used in URLs (`/v1/carriers/{id}/events`) and keys.
    pub id: String,
    pub name: String,
    /// Prefix of the tracking numbers this carrier issues.
    pub tracking_prefix: String,
    /// ISO country codes served; empty means everywhere.
    #[serde(default)]
    pub countries: Vec<String>,
    pub services: Vec<ServiceSpec>,
    /// Days it moves parcels, `mon`..`sun`; Monday to Friday by default.
    #[serde(default = "crate::warehouse::weekdays")]
    pub working_days: Vec<String>,
    /// Dates it does not move parcels; absent: the shop's `holidays`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holidays: Option<Vec<NaiveDate>>,
    /// Its own event codes and what each means in the one tracking vocabulary
    /// (`[carriers.tracking_codes]`, e.g. `"A96" = "failed_attempt"`); a code not listed is
    /// recorded as `unknown`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tracking_codes: BTreeMap<String, crate::order::CarrierEventKind>,
    /// Where its bookings go (`[carriers.http]`); absent: the built-in table carrier, which
    /// books by itself (tracking numbers from `tracking_prefix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpIntegration>,
}

/// A carrier (or a bridge to one, or an aggregator) behind Orderly's small JSON protocol
/// (README, "Carrier integrations"): bookings are POSTed to `{base_url}/shipments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpIntegration {
    /// `http://host[:port][/path]`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <key>`.
    pub key: String,
    /// How long one request may take (default 5,000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts at a booking before it is dead-lettered for an operator (default 8); a
    /// permanent refusal (a 4xx other than 408 and 429) is dead-lettered at once.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// For a carrier that does not push its events: how often to ask it for those of each open
    /// shipment (`GET {base_url}/shipments/{tracking number}/events`); absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_secs: Option<u64>,
}

fn default_timeout_ms() -> u64 {
    5_000
}

fn default_max_attempts() -> u32 {
    8
}

impl HttpIntegration {
    /// Every rule the integration must satisfy, as one message naming the field under `at`.
    pub fn validate(&self, at: &str) -> Result<(), String> {
        let rest = self
            .base_url
            .strip_prefix("https://")
            .or_else(|| self.base_url.strip_prefix("http://"))
            .ok_or_else(|| format!("{at}.base_url: must start with https:// or http://"))?;
        if rest.is_empty()
            || rest.starts_with('/')
            || self.base_url.chars().any(char::is_whitespace)
        {
            return Err(format!("{at}.base_url: '{}' is not a URL", self.base_url));
        }
        if self.key.len() < 8
            || self
                .key
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "{at}.key: at least 8 characters without white space"
            ));
        }
        if self.timeout_ms == 0 {
            return Err(format!("{at}.timeout_ms: at least 1"));
        }
        if self.max_attempts == 0 {
            return Err(format!("{at}.max_attempts: at least 1"));
        }
        if self.poll_interval_secs == Some(0) {
            return Err(format!("{at}.poll_interval_secs: at least 1"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub code: String,
    /// The storefront shipping method this service fulfils (`standard`, `express`, ...).
    pub method: String,
    /// Most carrier working days from hand-over to delivery.
    pub transit_days: u32,
    /// Least carrier working days from hand-over to delivery; absent: `transit_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_transit_days: Option<u32>,
    /// The carrier's collection time at a warehouse ("HH:MM", the warehouse's local time):
    /// orders in after it, or after the warehouse's own cut-off, leave the next working day.
    pub cutoff: String,
    pub max_weight_grams: u32,
    /// What it costs (`[carriers.services.rates]`); none: it is not offered by price (carrier
    /// rules that choose the cheapest pass it by).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rates: Option<rates::RateTable>,
}

impl ServiceSpec {
    pub fn cutoff_time(&self) -> Result<NaiveTime, String> {
        NaiveTime::parse_from_str(&self.cutoff, "%H:%M")
            .map_err(|_| format!("cutoff '{}' is not HH:MM", self.cutoff))
    }
}

/// Every rule the carriers' prices and the shop's carrier rules must satisfy together, as one
/// message naming the field: each rate table sound, all in one currency (the shop's: prices
/// compare as amounts), and the rules sound, every service they prefer configured. No rules:
/// the fastest service that fits, as before rules existed.
pub fn validate_pricing(carriers: &[CarrierSpec], rules: &[rates::Rule]) -> Result<(), String> {
    let mut currency = None;
    for (i, c) in carriers.iter().enumerate() {
        for (j, s) in c.services.iter().enumerate() {
            let Some(t) = &s.rates else { continue };
            let at = format!("carriers[{i}].services[{j}].rates");
            t.validate().map_err(|m| format!("{at}.{m}"))?;
            match currency {
                None => currency = Some((t.currency, at)),
                Some((first, ref there)) if first != t.currency => {
                    return Err(format!(
                        "{at}.currency: {} where {there} has {first}: every rate table is in the shop's one currency",
                        t.currency
                    ))
                }
                Some(_) => {}
            }
        }
    }
    if rules.is_empty() {
        return Ok(());
    }
    let known: Vec<(&str, &str)> = carriers
        .iter()
        .flat_map(|c| c.services.iter().map(|s| (c.id.as_str(), s.code.as_str())))
        .collect();
    rates::validate_rules(rules, &known)
}

/// Default method when the storefront names none.
pub const DEFAULT_METHOD: &str = "standard";

/// Picks the fastest service (ties: the first configured) that serves the country and method
/// and carries the heaviest parcel.
pub fn choose<'a>(
    carriers: &'a [CarrierSpec],
    country: &str,
    method: Option<&str>,
    parcels: &[Parcel],
) -> Option<(&'a CarrierSpec, &'a ServiceSpec)> {
    let method = method.unwrap_or(DEFAULT_METHOD);
    let heaviest = parcels.iter().map(|p| p.weight_grams).max().unwrap_or(0);
    let mut best: Option<(&CarrierSpec, &ServiceSpec)> = None;
    for c in carriers {
        if !c.countries.is_empty() && !c.countries.iter().any(|x| x == country) {
            continue;
        }
        for s in &c.services {
            if s.method != method || s.max_weight_grams < heaviest {
                continue;
            }
            if best.is_none_or(|(_, b)| s.transit_days < b.transit_days) {
                best = Some((c, s));
            }
        }
    }
    best
}

/// SplitMix64: spreads an id's bits so that tracking numbers look random but stay stable.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn digits(order_id: OrderId, salt: u64) -> u64 {
    let v = order_id.as_u128();
    mix((v as u64) ^ mix((v >> 64) as u64 ^ salt))
}

/// Stable per (order, step): booking the same shipment twice yields the same number.
pub fn tracking_number(prefix: &str, order_id: OrderId, step: u32) -> String {
    format!("{prefix}{:020}", digits(order_id, step as u64))
}

/// The tracking number printed on an order's return label.
pub fn return_tracking_number(order_id: OrderId) -> String {
    format!("RT{:020}", digits(order_id, u64::MAX))
}

pub mod network;
pub mod promise;
pub mod rates;

#[cfg(test)]
mod tests;
