//! Warehouses as a shop configures them, and the policy that allocates an order's lines to
//! them.
//!
//! Plain data read from config (`[[warehouses]]`, `[allocation]`): the allocation rules in
//! [`crate::inventory`] and the delivery estimates read it, the service validates it at start.

use crate::ids::WarehouseId;
use crate::shipping::promise::{Calendar, Dispatch};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
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
    /// Its local working hours on working days, `"HH:MM-HH:MM"` (08:00-18:00 by default):
    /// what its pick-and-pack deadline counts.
    #[serde(default = "default_working_hours")]
    pub working_hours: String,
    /// Working hours an order may wait between being confirmed and being packed here (absent:
    /// no deadline). A shipment still not packed then is `pick_pack_late`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pick_pack_hours: Option<u32>,
}

/// The longest pick-and-pack deadline a warehouse may set, in working hours (a year of
/// ten-hour days).
pub const MAX_PICK_PACK_HOURS: u32 = 3650;

fn default_working_hours() -> String {
    "08:00-18:00".into()
}

/// A warehouse's working time: its working days (less holidays) between its opening and
/// closing times, in its time zone. Counts deadlines in working hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub time_zone: Tz,
    pub calendar: Calendar,
    pub opens: NaiveTime,
    pub closes: NaiveTime,
}

impl Shift {
    /// The moment `hours` working hours after `from` (from its next working moment when
    /// `from` is outside working time; that moment itself when `hours` is 0).
    pub fn after_working_hours(&self, from: DateTime<Utc>, hours: u32) -> DateTime<Utc> {
        let mut left = Duration::hours(hours as i64);
        let local = from.with_timezone(&self.time_zone).naive_local();
        let mut day = local.date();
        let mut start = local.time();
        // Ends: every week has a working day with a non-empty shift, and `hours` is bounded
        // (a year of days more than covers MAX_PICK_PACK_HOURS and any holidays).
        for _ in 0..(MAX_PICK_PACK_HOURS as usize + 3660) {
            if self.calendar.works_on(day) {
                let begin = start.max(self.opens);
                if begin < self.closes {
                    let available = self.closes - begin;
                    if left <= available {
                        return self.moment(day.and_time(begin) + left).max(from);
                    }
                    left -= available;
                }
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
            start = NaiveTime::MIN;
        }
        from + Duration::hours(hours as i64)
    }

    /// A local time as a moment: the first when clocks go back over it, half an hour on at a
    /// time when they went forward over it.
    fn moment(&self, mut local: NaiveDateTime) -> DateTime<Utc> {
        for _ in 0..8 {
            if let Some(t) = self.time_zone.from_local_datetime(&local).earliest() {
                return t.with_timezone(&Utc);
            }
            local += Duration::minutes(30);
        }
        local.and_utc()
    }
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

    /// Its working time, from `working_hours`.
    pub fn shift(&self) -> Result<Shift, String> {
        let bad = || {
            format!(
                "working_hours '{}' is not HH:MM-HH:MM with the opening before the closing",
                self.working_hours
            )
        };
        let (opens, closes) = self.working_hours.split_once('-').ok_or_else(bad)?;
        let opens = NaiveTime::parse_from_str(opens.trim(), "%H:%M").map_err(|_| bad())?;
        let closes = NaiveTime::parse_from_str(closes.trim(), "%H:%M").map_err(|_| bad())?;
        if opens >= closes {
            return Err(bad());
        }
        Ok(Shift {
            time_zone: self.tz()?,
            calendar: self.calendar()?,
            opens,
            closes,
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
        self.shift().map_err(|e| format!("working_hours: {e}"))?;
        if let Some(h) = self.pick_pack_hours {
            if h == 0 || h > MAX_PICK_PACK_HOURS {
                return Err(format!(
                    "pick_pack_hours: {h} is not between 1 and {MAX_PICK_PACK_HOURS}"
                ));
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn shift(hours: &str, holidays: &[&str]) -> Shift {
        Warehouse {
            id: "ams".into(),
            name: "Amsterdam".into(),
            country: "NL".into(),
            priority: 0,
            ships_to: vec![],
            time_zone: "Europe/Amsterdam".into(),
            cutoff: "17:00".into(),
            working_days: weekdays(),
            holidays: holidays.iter().map(|d| d.parse().unwrap()).collect(),
            handling_days: 0,
            working_hours: hours.into(),
            pick_pack_hours: Some(8),
        }
        .shift()
        .unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        Utc.from_utc_datetime(&NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap())
    }

    /// (from, hours, holidays, expected), all UTC; Amsterdam is UTC+1 in winter, UTC+2 in
    /// summer; working hours 08:00-18:00 local, Monday to Friday.
    #[test]
    fn deadlines_count_working_hours_only() {
        let cases = [
            // Monday 09:00 local + 4 h: the same day, 13:00 local.
            ("2026-11-23 08:00", 4, vec![], "2026-11-23 12:00"),
            // Monday 16:00 local + 4 h: 2 h today, 2 h from Tuesday's opening.
            ("2026-11-23 15:00", 4, vec![], "2026-11-24 09:00"),
            // Friday 17:00 local + 2 h: over the weekend to Monday 09:00 local.
            ("2026-11-27 16:00", 2, vec![], "2026-11-30 08:00"),
            // Saturday: counting starts Monday at the opening.
            ("2026-11-28 10:00", 1, vec![], "2026-11-30 08:00"),
            // Before opening: from the opening.
            ("2026-11-23 05:00", 3, vec![], "2026-11-23 10:00"),
            // A holiday on Tuesday is skipped.
            (
                "2026-11-23 15:00",
                4,
                vec!["2026-11-24"],
                "2026-11-25 09:00",
            ),
            // 0 hours outside working time: the next opening.
            ("2026-11-23 20:00", 0, vec![], "2026-11-24 07:00"),
            // Across the spring clock change (29 March 2026): Friday 17:00 CET + 2 h lands
            // on Monday 09:00 CEST = 07:00 UTC.
            ("2026-03-27 16:00", 2, vec![], "2026-03-30 07:00"),
            // A whole week of ten-hour days: Friday's closing.
            ("2026-11-23 07:00", 50, vec![], "2026-11-27 17:00"),
        ];
        for (from, hours, holidays, expected) in cases {
            let s = shift("08:00-18:00", &holidays);
            assert_eq!(
                s.after_working_hours(utc(from), hours),
                utc(expected),
                "{from} + {hours} h (holidays {holidays:?})"
            );
        }
    }

    #[test]
    fn working_hours_and_deadlines_are_checked() {
        let mut w = Warehouse {
            id: "ams".into(),
            name: "A".into(),
            country: "NL".into(),
            priority: 0,
            ships_to: vec![],
            time_zone: "UTC".into(),
            cutoff: "17:00".into(),
            working_days: weekdays(),
            holidays: vec![],
            handling_days: 0,
            working_hours: "18:00-08:00".into(),
            pick_pack_hours: None,
        };
        assert!(w.validate().unwrap_err().starts_with("working_hours"));
        w.working_hours = "08:00-18:00".into();
        w.pick_pack_hours = Some(0);
        assert!(w.validate().unwrap_err().starts_with("pick_pack_hours"));
        w.pick_pack_hours = Some(24);
        assert_eq!(w.validate(), Ok(()));
    }
}
