//! Currency codes, display with the currency's minor digits, and the JSON form.

use super::*;

#[test]
fn parses_known_codes_and_rejects_others() {
    assert_eq!(Currency::parse("EUR").unwrap().code(), "EUR");
    assert!(Currency::parse("eur").is_err());
    assert!(Currency::parse("XYZ").is_err());
    assert!(Currency::parse("").is_err());
}

#[test]
fn displays_with_minor_digits() {
    let eur = Currency::parse("EUR").unwrap();
    let jpy = Currency::parse("JPY").unwrap();
    let bhd = Currency::parse("BHD").unwrap();
    assert_eq!(
        Money {
            amount: 1234,
            currency: eur
        }
        .to_string(),
        "12.34 EUR"
    );
    assert_eq!(
        Money {
            amount: -5,
            currency: eur
        }
        .to_string(),
        "-0.05 EUR"
    );
    assert_eq!(
        Money {
            amount: 1234,
            currency: jpy
        }
        .to_string(),
        "1234 JPY"
    );
    assert_eq!(
        Money {
            amount: 1234,
            currency: bhd
        }
        .to_string(),
        "1.234 BHD"
    );
}

#[test]
fn serde_round_trip_validates() {
    let c: Currency = serde_json::from_str("\"USD\"").unwrap();
    assert_eq!(serde_json::to_string(&c).unwrap(), "\"USD\"");
    assert!(serde_json::from_str::<Currency>("\"US\"").is_err());
}
