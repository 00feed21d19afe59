//! The delivery promise: from the moment an order is placed (or quoted) to the window of local
//! dates it should arrive in.
//!
//! Two calendars meet here. The warehouse's: its time zone, its cut-off time, the days it works
//! and its holidays, and its handling time (working days between an order coming in and the
//! parcel leaving). The carrier service's: the days the carrier moves parcels and the least and
//! most transit days it takes. An order in before the cut-off on a working day is handled from
//! that day, otherwise from the next working day; the parcel leaves `handling_days` working days
//! later; it arrives between `min_days` and `max_days` carrier working days after leaving.
//!
//! Pure: the moment is an argument, the time zone database is compiled in (`chrono-tz`), and a
//! calendar can never loop for ever (it has a working weekday, and holidays are finitely many).
//! The dates are the warehouse's local dates: what a customer reads as "Thursday".

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The days someone works: weekdays, less holidays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    working_days: Vec<Weekday>,
    holidays: Vec<NaiveDate>,
}

/// A calendar that works no day of the week.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a calendar needs at least one working day")]
pub struct NoWorkingDay;

impl Calendar {
    pub fn new(
        working_days: Vec<Weekday>,
        mut holidays: Vec<NaiveDate>,
    ) -> Result<Calendar, NoWorkingDay> {
        if working_days.is_empty() {
            return Err(NoWorkingDay);
        }
        holidays.sort_unstable();
        holidays.dedup();
        Ok(Calendar {
            working_days,
            holidays,
        })
    }

    /// Monday to Friday, no holidays.
    pub fn weekdays() -> Calendar {
        use Weekday::*;
        Calendar {
            working_days: vec![Mon, Tue, Wed, Thu, Fri],
            holidays: vec![],
        }
    }

    /// Monday to Friday, less `holidays`.
    pub fn weekdays_except(holidays: &[NaiveDate]) -> Calendar {
        let mut c = Calendar::weekdays();
        c.holidays = holidays.to_vec();
        c.holidays.sort_unstable();
        c.holidays.dedup();
        c
    }

    pub fn works_on(&self, d: NaiveDate) -> bool {
        self.working_days.contains(&d.weekday()) && self.holidays.binary_search(&d).is_err()
    }

    /// The first working day strictly after `d`. Ends: every week has a working weekday, and
    /// at most `holidays.len()` of those are skipped.
    pub fn next_working_day(&self, mut d: NaiveDate) -> NaiveDate {
        loop {
            d += Duration::days(1);
            if self.works_on(d) {
                return d;
            }
        }
    }

    /// `d` moved on by `n` working days (`d` itself when `n` is 0).
    pub fn add_working_days(&self, mut d: NaiveDate, n: u32) -> NaiveDate {
        for _ in 0..n {
            d = self.next_working_day(d);
        }
        d
    }
}

/// The warehouse's side of a promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    pub time_zone: Tz,
    /// Orders in after this local time are handled from the next working day.
    pub cutoff: NaiveTime,
    pub calendar: Calendar,
    /// Working days between the day an order is handled from and the day its parcel leaves.
    pub handling_days: u32,
}

/// The carrier service's side of a promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transit {
    /// The days the carrier moves parcels.
    pub calendar: Calendar,
    /// Least and most carrier working days from leaving to arriving (`min_days <= max_days`).
    pub min_days: u32,
    pub max_days: u32,
}

/// When an order should arrive: local dates, `earliest <= latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub earliest: NaiveDate,
    pub latest: NaiveDate,
}

/// The day a parcel ordered at `at` leaves the warehouse (its local date).
pub fn dispatch_date(at: DateTime<Utc>, d: &Dispatch) -> NaiveDate {
    let today = at.with_timezone(&d.time_zone).date_naive();
    let from = if d.calendar.works_on(today) && at < cutoff_instant(today, d) {
        today
    } else {
        d.calendar.next_working_day(today)
    };
    d.calendar.add_working_days(from, d.handling_days)
}

/// The moment of `day`'s cut-off. Compared as a moment, not a local time, so that a later
/// order is never promised earlier: when the clocks go back and the cut-off's local time comes
/// twice, the first one counts; when they go forward over it, the first half hour after it
/// that exists.
fn cutoff_instant(day: NaiveDate, d: &Dispatch) -> DateTime<Utc> {
    let mut local = day.and_time(d.cutoff);
    // A gap lasts an hour or two; a day has 48 half hours.
    for _ in 0..48 {
        if let Some(t) = d.time_zone.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
        local += Duration::minutes(30);
    }
    day.and_time(d.cutoff).and_utc()
}

/// The window an order placed at `at` should arrive in.
pub fn promise(at: DateTime<Utc>, d: &Dispatch, t: &Transit) -> Window {
    let leaves = dispatch_date(at, d);
    let (min, max) = (t.min_days.min(t.max_days), t.min_days.max(t.max_days));
    Window {
        earliest: t.calendar.add_working_days(leaves, min),
        latest: t.calendar.add_working_days(leaves, max),
    }
}

#[cfg(test)]
mod tests;
