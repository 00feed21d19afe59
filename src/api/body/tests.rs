//! Which field a refused body names, and which refusals are 400 rather than 422.

use super::decode;
use crate::api::schema::requests::{NewOrder, PackBody};
use serde_json::json;

/// `(body, status, field)`: the problem `decode` makes of a body that does not fit.
fn check<T: serde::de::DeserializeOwned + std::fmt::Debug>(
    cases: &[(serde_json::Value, u16, &str)],
) {
    for (body, status, field) in cases {
        let p = decode::<T>(body.to_string().as_bytes()).expect_err("refused");
        assert_eq!(p.status, *status, "{body}: {p:?}");
        assert_eq!(p.field.as_deref().unwrap_or(""), *field, "{body}: {p:?}");
    }
}

#[test]
fn a_value_that_does_not_fit_names_its_field() {
    let mut order = json!({
        "customer": {"id": "c", "email": "c@example.com"}, "currency": "EUR",
        "lines": [{"sku": "A", "quantity": 1, "unit_price": 100}],
        "shipping": {"address": {"name": "N", "line1": "L", "city": "C", "postal_code": "1", "country": "NL"}},
        "payment": {"method": "card", "status": "captured"}
    });
    assert!(decode::<NewOrder>(order.to_string().as_bytes()).is_ok());
    order["allow_split"] = json!("no");
    let mut wrong_quantity = order.clone();
    wrong_quantity["allow_split"] = json!(true);
    wrong_quantity["lines"][0]["quantity"] = json!("two");
    check::<NewOrder>(&[
        (order, 422, "allow_split"),
        (wrong_quantity, 422, "lines[0].quantity"),
    ]);
    check::<PackBody>(&[
        (
            json!({"warehouse": "ams", "parcels": [{"weight_grams": 1.5}]}),
            422,
            "parcels[0].weight_grams",
        ),
        (json!({"warehouse": "ams"}), 422, "parcels"),
        (
            json!({"warehouse": "ams", "parcels": [], "colour": "red"}),
            422,
            "colour",
        ),
        (json!("text"), 422, "body"),
    ]);
}

#[test]
fn malformed_json_and_trailing_bytes_are_400() {
    for bad in [
        "{",
        "{\"warehouse\": }",
        "{\"warehouse\":\"ams\",\"parcels\":[]} x",
    ] {
        let p = decode::<PackBody>(bad.as_bytes()).expect_err("refused");
        assert_eq!(p.status, 400, "{bad}: {p:?}");
    }
}
