//! Warehouses as a shop configures them, and the policy that allocates an order's lines to
//! them.
//!
//! Plain data read from config (`[[warehouses]]`, `[allocation]`): the allocation rules in
//! [`crate::inventory`] and the delivery estimates read it, the service validates it at start.

use crate::ids::WarehouseId;
use crate::shipping::promise::{Calendar, Dispatch};
use chrono::{NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// One warehouse as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Warehouse {
    /// Short id used in URLs, stock cells and keys (`ams`).
    pub id: WarehouseId,
    pub name: String,
    /// ISO 3166-1 alpha-2 country the warehouse is in.
    pub country: String,
    /// Lower ships first when several warehouses could serve an order.
    #[serde(default)]
    pub priority: u32,
    /// Countries it ships to; empty means everywhere.
    #[serde(default)]
    pub ships_to: Vec<String>,
    /// IANA time zone of its cut-off time and working days (`Europe/Amsterdam`).
    #[serde(default = "utc")]
    pub time_zone: String,
    /// Orders confirmed after this local time leave the next working day ("HH:MM").
    #[serde(default = "default_cutoff")]
    pub cutoff: String,
    /// Days it works, `mon`..`sun`; Monday to Friday by default.
    #[serde(default = "weekdays")]
    pub working_days: Vec<String>,
    /// Local dates it does not work.
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    /// Working days between an order coming in (before the cut-off) and its parcel leaving:
    /// picking and packing time (default 0: it leaves the same day).
    #[serde(default)]
    pub handling_days: u32,
}

fn utc() -> String {
    "UTC".into()
}

fn default_cutoff() -> String {
    "17:00".into()
}

pub(crate) fn weekdays() -> Vec<String> {
    ["mon", "tue", "wed", "thu", "fri"]
        .map(String::from)
        .to_vec()
}

/// Whether `id` names a warehouse stock may be kept in and orders served from: one of
/// `configured`, or — none configured, the service running open — any id.
pub fn is_known(configured: &[Warehouse], id: &str) -> bool {
    configured.is_empty() || configured.iter().any(|w| w.id == id)
}

impl Warehouse {
    /// Whether it ships to `country`.
    pub fn ships_to(&self, country: &str) -> bool {
        self.ships_to.is_empty() || self.ships_to.iter().any(|c| c == country)
    }

    pub fn cutoff_time(&self) -> Result<NaiveTime, String> {
        NaiveTime::parse_from_str(&self.cutoff, "%H:%M")
            .map_err(|_| format!("cutoff '{}' is not HH:MM", self.cutoff))
    }

    /// Its time zone, from the IANA database compiled in.
    pub fn tz(&self) -> Result<Tz, String> {
        self.time_zone.parse::<Tz>().map_err(|_| {
            format!(
                "'{}' is not an IANA time zone (e.g. Europe/Amsterdam)",
                self.time_zone
            )
        })
    }

    /// The days it works: its working days less its holidays.
    pub fn calendar(&self) -> Result<Calendar, String> {
        Calendar::new(self.working_weekdays()?, self.holidays.clone()).map_err(|e| e.to_string())
    }

    /// Its side of a delivery promise, with `handling_days` between an order coming in and
    /// its parcel leaving.
    pub fn dispatch(&self, handling_days: u32) -> Result<Dispatch, String> {
        Ok(Dispatch {
            time_zone: self.tz()?,
            cutoff: self.cutoff_time()?,
            calendar: self.calendar()?,
            handling_days,
        })
    }

    pub fn working_weekdays(&self) -> Result<Vec<Weekday>, String> {
        self.working_days
            .iter()
            .map(|d| {
                d.parse::<Weekday>()
                    .map_err(|_| format!("working day '{d}' is not one of mon..sun"))
            })
            .collect()
    }

    /// Every rule a configured warehouse must satisfy, as one message naming the field.
    pub fn validate(&self) -> Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(format!(
                "id '{}': 1 to 64 letters, digits, '-' or '_'",
                self.id
            ));
        }
        let country = crate::order::validate::is_country_code;
        if !country(&self.country) {
            return Err(format!(
                "country '{}': an ISO 3166-1 alpha-2 code, upper case",
                self.country
            ));
        }
        if let Some(c) = self.ships_to.iter().find(|c| !country(c)) {
            return Err(format!(
                "ships_to '{c}': an ISO 3166-1 alpha-2 code, upper case"
            ));
        }
        self.tz().map_err(|e| format!("time_zone: {e}"))?;
        self.cutoff_time().map_err(|e| format!("cutoff: {e}"))?;
        let days = self
            .working_weekdays()
            .map_err(|e| format!("working_days: {e}"))?;
        if days.is_empty() {
            return Err("working_days: at least one day".into());
        }
        Ok(())
    }
}

/// How allocation chooses among the warehouses that could serve an order (or a line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocationStrategy {
    /// By warehouse priority (lower first), then id.
    #[default]
    Priority,
    /// The warehouse with the most units available for what is asked, ties by priority.
    MostStock,
    /// Warehouses in the ship-to country first, ties by priority.
    ShipToCountry,
}

/// `[allocation]` in config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllocationPolicy {
    pub strategy: AllocationStrategy,
    /// Whether an order no single warehouse can serve may be split across several (an order
    /// may say otherwise with `allow_split`).
    pub allow_split: bool,
}

impl Default for AllocationPolicy {
    fn default() -> Self {
        AllocationPolicy {
            strategy: AllocationStrategy::Priority,
            allow_split: true,
        }
    }
}
