//! Test fixtures: a valid order to place and a carrier with one service. Kept in one place so a
//! new required field on an order touches one builder.
//!
//! Compiled for this crate's unit tests and, through the `test-fixtures` feature, for the unit
//! tests of crates built on the domain (`orderly-actors` enables it from its dev-dependencies).
//! Never part of a normal build.

use super::shipping::{CarrierSpec, ServiceSpec};
use super::*;

/// A valid order shipping to the Netherlands, with `(sku, quantity, unit_price)` lines.
pub fn new_order(
    lines: &[(&str, u32, i64)],
    method: PaymentMethod,
    status: InitialPaymentStatus,
) -> NewOrder {
    NewOrder {
        external_ref: None,
        customer: Customer {
            id: "c".into(),
            email: "c@example.com".into(),
            phone: None,
            channel: None,
            opt_out: Vec::new(),
            locale: None,
        },
        currency: Currency::parse("EUR").unwrap(),
        lines: lines
            .iter()
            .map(|&(sku, quantity, unit_price)| NewLine {
                sku: sku.into(),
                quantity,
                unit_price,
            })
            .collect(),
        shipping: Shipping {
            method: None,
            address: Address {
                name: "N".into(),
                line1: "L".into(),
                line2: None,
                city: "C".into(),
                postal_code: "1".into(),
                country: "NL".into(),
            },
            weight_grams: None,
        },
        billing_address: None,
        payment: NewPayment { method, status },
        allow_split: None,
    }
}

/// A carrier serving every country with one `standard` service: 1 transit day, 17:00 cut-off.
pub fn carrier(id: &str, name: &str, prefix: &str, max_weight_grams: u32) -> CarrierSpec {
    CarrierSpec {
        id: id.into(),
        name: name.into(),
        tracking_prefix: prefix.into(),
        countries: vec![],
        services: vec![ServiceSpec {
            code: "std".into(),
            method: "standard".into(),
            transit_days: 1,
            min_transit_days: None,
            cutoff: "17:00".into(),
            max_weight_grams,
            rates: None,
        }],
        working_days: crate::warehouse::weekdays(),
        tracking_codes: Default::default(),
        holidays: None,
        http: None,
    }
}
