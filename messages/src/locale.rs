//! The languages Orderly speaks, and how each writes money and dates.
//!
//! Four locales ship: `en`, `ro`, `tr` and `ar`. An order's locale is whatever the storefront
//! sent (`ro-RO`, `tr`, `ar_EG`, `en-GB`, …); [`Locale::resolve`] takes its language and falls
//! back to English for the rest, saying so, so the notifier can count the fallback.
//!
//! Formatting is a small table per locale rather than a CLDR library: the four locales need
//! digit grouping, the decimal mark, the currency's place and symbol, month and weekday
//! names, and Arabic-Indic digits for Arabic — a few dozen strings, tested below case by case.
//! Everything here is pure.

use chrono::{Datelike, NaiveDate};
use orderly_domain::Currency;
use std::fmt;

/// A language messages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Locale {
    En,
    Ro,
    Tr,
    Ar,
}

/// What [`Locale::resolve`] made of an order's locale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    pub locale: Locale,
    /// The order asked for a language not shipped (or nothing usable): English was taken.
    pub fell_back: bool,
}

impl Locale {
    pub const ALL: [Locale; 4] = [Locale::En, Locale::Ro, Locale::Tr, Locale::Ar];

    /// The tag used in template paths and `lang` attributes.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Ro => "ro",
            Locale::Tr => "tr",
            Locale::Ar => "ar",
        }
    }

    /// Exactly one of the four tags.
    pub fn parse(tag: &str) -> Option<Locale> {
        Locale::ALL.into_iter().find(|l| l.tag() == tag)
    }

    /// An order's locale (a BCP 47 tag or a POSIX-style `ar_EG`, any case) as one of ours;
    /// `default` when it names none, with `fell_back` set when it named another language.
    pub fn resolve(requested: Option<&str>, default: Locale) -> Resolved {
        let Some(requested) = requested.map(str::trim).filter(|r| !r.is_empty()) else {
            return Resolved {
                locale: default,
                fell_back: false,
            };
        };
        let language = requested
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match Locale::parse(&language) {
            Some(locale) => Resolved {
                locale,
                fell_back: false,
            },
            None => Resolved {
                locale: Locale::En,
                fell_back: true,
            },
        }
    }

    /// Written right to left.
    pub fn is_rtl(self) -> bool {
        self == Locale::Ar
    }

    /// The HTML `dir` attribute's value.
    pub fn dir(self) -> &'static str {
        if self.is_rtl() {
            "rtl"
        } else {
            "ltr"
        }
    }

    /// `amount` minor units of `currency`, as a reader of this locale writes it:
    /// `€1,234.56` (en), `1.234,56 lei` (ro), `₺1.234,56` (tr), `١٬٢٣٤٫٥٦ €` (ar).
    pub fn money(self, amount: i64, currency: Currency) -> String {
        let digits = currency.minor_digits() as u32;
        let scale = 10u64.pow(digits);
        let negative = amount < 0;
        let abs = amount.unsigned_abs();
        let (whole, fraction) = (abs / scale, abs % scale);
        let (group, decimal) = match self {
            Locale::En => (",", "."),
            Locale::Ro | Locale::Tr => (".", ","),
            Locale::Ar => ("\u{066C}", "\u{066B}"),
        };
        let mut number = grouped(whole, group);
        if digits > 0 {
            number.push_str(decimal);
            number.push_str(&format!("{fraction:0width$}", width = digits as usize));
        }
        if self == Locale::Ar {
            number = arabic_digits(&number);
        }
        let code = currency.code();
        let symbol = symbol(self, code);
        let sign = if negative { "-" } else { "" };
        match (self, symbol) {
            // English and Turkish put a symbol first, a code after.
            (Locale::En | Locale::Tr, Some(s)) => format!("{sign}{s}{number}"),
            (Locale::En | Locale::Tr, None) => format!("{sign}{number} {code}"),
            // Romanian and Arabic put either after, with a no-break space; Arabic marks the
            // run right-to-left so a currency symbol stays on the number's left.
            (Locale::Ro, s) => format!("{sign}{number}\u{00A0}{}", s.unwrap_or(code)),
            (Locale::Ar, s) => format!("\u{200F}{sign}{number}\u{00A0}{}", s.unwrap_or(code)),
        }
    }

    /// A day as a message names it: `Thursday 26 November` (en), `joi, 26 noiembrie` (ro),
    /// `26 Kasım Perşembe` (tr), `الخميس، ٢٦ نوفمبر` (ar).
    pub fn date(self, day: NaiveDate) -> String {
        let weekday = WEEKDAYS[self as usize][day.weekday().num_days_from_monday() as usize];
        let month = MONTHS[self as usize][day.month0() as usize];
        let d = day.day();
        match self {
            Locale::En => format!("{weekday} {d} {month}"),
            Locale::Ro => format!("{weekday}, {d} {month}"),
            Locale::Tr => format!("{d} {month} {weekday}"),
            Locale::Ar => format!("{weekday}، {} {month}", arabic_digits(&d.to_string())),
        }
    }

    /// A window of days: one date when both ends are the same, else `earliest – latest`.
    pub fn window(self, earliest: NaiveDate, latest: NaiveDate) -> String {
        if earliest == latest {
            self.date(earliest)
        } else {
            format!("{} – {}", self.date(earliest), self.date(latest))
        }
    }

    /// A count written in this locale's digits.
    pub fn number(self, n: u64) -> String {
        match self {
            Locale::Ar => arabic_digits(&n.to_string()),
            _ => n.to_string(),
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// `1234567` with `sep` between groups of three: `1,234,567`.
fn grouped(n: u64, sep: &str) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 * sep.len());
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

/// ASCII digits as Arabic-Indic digits (٠١٢٣٤٥٦٧٨٩); everything else unchanged.
fn arabic_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32(0x0660 + d).unwrap_or(c),
            None => c,
        })
        .collect()
}

/// The currencies with a symbol of their own in a locale; the rest are written by code.
fn symbol(locale: Locale, code: &str) -> Option<&'static str> {
    Some(match (locale, code) {
        (_, "EUR") => "€",
        (Locale::Ar, "USD") => "US$",
        (_, "USD") => "$",
        (_, "GBP") => "£",
        (Locale::Ro, "RON") => "lei",
        (Locale::Tr, "TRY") => "₺",
        (Locale::En, "TRY") => "₺",
        (Locale::Ar, "SAR") => "ر.س.\u{200F}",
        (Locale::Ar, "AED") => "د.إ.\u{200F}",
        (Locale::Ar, "EGP") => "ج.م.\u{200F}",
        _ => return None,
    })
}

/// Weekday names, Monday first, per locale (in [`Locale`]'s order).
const WEEKDAYS: [[&str; 7]; 4] = [
    [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ],
    [
        "luni",
        "marți",
        "miercuri",
        "joi",
        "vineri",
        "sâmbătă",
        "duminică",
    ],
    [
        "Pazartesi",
        "Salı",
        "Çarşamba",
        "Perşembe",
        "Cuma",
        "Cumartesi",
        "Pazar",
    ],
    [
        "الاثنين",
        "الثلاثاء",
        "الأربعاء",
        "الخميس",
        "الجمعة",
        "السبت",
        "الأحد",
    ],
];

/// Month names, January first, per locale.
const MONTHS: [[&str; 12]; 4] = [
    [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    [
        "ianuarie",
        "februarie",
        "martie",
        "aprilie",
        "mai",
        "iunie",
        "iulie",
        "august",
        "septembrie",
        "octombrie",
        "noiembrie",
        "decembrie",
    ],
    [
        "Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz", "Ağustos", "Eylül", "Ekim",
        "Kasım", "Aralık",
    ],
    [
        "يناير",
        "فبراير",
        "مارس",
        "أبريل",
        "مايو",
        "يونيو",
        "يوليو",
        "أغسطس",
        "سبتمبر",
        "أكتوبر",
        "نوفمبر",
        "ديسمبر",
    ],
];

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn money_per_locale() {
        // (locale, minor units, currency, expected)
        let cases = [
            (Locale::En, 123456, "EUR", "€1,234.56"),
            (Locale::En, 5, "USD", "$0.05"),
            (Locale::En, 123456789, "GBP", "£1,234,567.89"),
            (Locale::En, 123456, "RON", "1,234.56 RON"),
            (Locale::En, 1234, "JPY", "1,234 JPY"),
            (Locale::En, -2500, "EUR", "-€25.00"),
            (Locale::Ro, 123456, "RON", "1.234,56\u{a0}lei"),
            (Locale::Ro, 123456, "EUR", "1.234,56\u{a0}€"),
            (Locale::Ro, 99, "USD", "0,99\u{a0}$"),
            (Locale::Ro, 100000, "HUF", "1.000,00\u{a0}HUF"),
            (Locale::Tr, 123456, "TRY", "₺1.234,56"),
            (Locale::Tr, 123456, "EUR", "€1.234,56"),
            (Locale::Tr, 1000, "RON", "10,00 RON"),
            (Locale::Ar, 123456, "EUR", "\u{200F}١٬٢٣٤٫٥٦\u{a0}€"),
            (Locale::Ar, 5000, "SAR", "\u{200F}٥٠٫٠٠\u{a0}ر.س.\u{200F}"),
            (Locale::Ar, 1000, "KWD", "\u{200F}١٫٠٠٠\u{a0}KWD"),
            (Locale::Ar, 1, "USD", "\u{200F}٠٫٠١\u{a0}US$"),
        ];
        for (locale, amount, code, expected) in cases {
            assert_eq!(
                locale.money(amount, cur(code)),
                expected,
                "{locale} {amount} {code}"
            );
        }
    }

    #[test]
    fn dates_per_locale() {
        let cases = [
            (Locale::En, "2026-11-26", "Thursday 26 November"),
            (Locale::En, "2027-01-03", "Sunday 3 January"),
            (Locale::Ro, "2026-11-26", "joi, 26 noiembrie"),
            (Locale::Ro, "2026-02-28", "sâmbătă, 28 februarie"),
            (Locale::Tr, "2026-11-26", "26 Kasım Perşembe"),
            (Locale::Tr, "2026-08-31", "31 Ağustos Pazartesi"),
            (Locale::Ar, "2026-11-26", "الخميس، ٢٦ نوفمبر"),
            (Locale::Ar, "2026-05-01", "الجمعة، ١ مايو"),
        ];
        for (locale, d, expected) in cases {
            assert_eq!(locale.date(day(d)), expected, "{locale} {d}");
        }
    }

    #[test]
    fn a_window_of_one_day_is_one_date() {
        let d = day("2026-11-26");
        assert_eq!(Locale::En.window(d, d), "Thursday 26 November");
        assert_eq!(
            Locale::En.window(d, day("2026-11-27")),
            "Thursday 26 November – Friday 27 November"
        );
    }

    #[test]
    fn resolving_an_orders_locale() {
        let cases = [
            (None, Locale::En, false),
            (Some(""), Locale::En, false),
            (Some("ro-RO"), Locale::Ro, false),
            (Some("TR"), Locale::Tr, false),
            (Some("ar_EG"), Locale::Ar, false),
            (Some("en-GB"), Locale::En, false),
            (Some("nl-NL"), Locale::En, true),
            (Some("-"), Locale::En, true),
        ];
        for (requested, locale, fell_back) in cases {
            assert_eq!(
                Locale::resolve(requested, Locale::En),
                Resolved { locale, fell_back },
                "{requested:?}"
            );
        }
        // Nothing asked: the shop's default, not a fallback.
        assert_eq!(Locale::resolve(None, Locale::Ro).locale, Locale::Ro);
    }

    #[test]
    fn grouping() {
        assert_eq!(grouped(0, ","), "0");
        assert_eq!(grouped(999, ","), "999");
        assert_eq!(grouped(1000, ","), "1,000");
        assert_eq!(grouped(u64::MAX, "."), "18.446.744.073.709.551.615");
    }

    proptest::proptest! {
        #[test]
        fn money_never_panics_and_keeps_its_digits(amount in proptest::prelude::any::<i64>()) {
            for locale in Locale::ALL {
                let s = locale.money(amount, cur("EUR"));
                proptest::prop_assert!(!s.is_empty());
            }
            let en = Locale::En.money(amount, cur("USD"));
            let digits: String = en.chars().filter(char::is_ascii_digit).collect();
            let expected = format!("{:03}", amount.unsigned_abs());
            proptest::prop_assert_eq!(digits, expected);
        }
    }
}
