//! The HTTP API's wire types: every request body, query string, path parameter and response
//! body a client sends or sees, with its OpenAPI schema. Handlers and the OpenAPI document use
//! only these; the domain's types never reach the wire directly.
//!
//! One concept, one name, one place:
//! - [`values`] — small values used in both directions (money, addresses, lines, parcels, the
//!   status enums), with the constraints the domain validates them by.
//! - [`order`] — an order as clients see it (`Order`, `OrderDetail`, `OrderPage`) and its
//!   history (`Event`, `Change`). Internal bookkeeping (the carrier event dedup list) is left out.
//! - [`requests`] — request bodies, query strings and path parameters.
//! - [`views`] — the other responses: pick lists, tracking, stock, carrier event acks, dead
//!   letters and the ops endpoints' bodies.
//!
//! Conversions to and from the domain are explicit (`From`/`TryFrom`), so a change in the domain
//! shows up here as a compile error instead of a silent change in what clients see. The JSON
//! shapes are those the API has always answered with; the constraints in the schemas are the
//! ones the domain and the handlers enforce (see `patterns`).

pub mod order;
pub mod requests;
pub mod values;
pub mod views;

/// Regular expressions shared by schemas and by the HTTP layer's own checks. They are written
/// so that ECMA-262 (JSON Schema) and Python (schemathesis) read them the same way.
pub mod patterns {
    /// No control characters (Unicode `Cc`, as `char::is_control`): the domain's free texts.
    pub const TEXT: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";
    /// Like [`TEXT`], and not only white space: the domain's required texts.
    pub const REQUIRED_TEXT: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$";
    /// Skus: 1-64 characters, no white space, no control characters, no '/'.
    pub const SKU: &str =
        r"^[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000/]{1,64}$";
    /// Warehouse ids: 1-64 letters, digits, '-' or '_'.
    pub const WAREHOUSE: &str = r"^[A-Za-z0-9_-]{1,64}$";
    /// An email address as the domain checks it: something, '@', then a domain that has a dot
    /// and does not start with one.
    pub const EMAIL: &str = r"^[^@\x00-\x1f\x7f-\x9f]+@[^.\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*\.[^\x00-\x1f\x7f-\x9f]*$";
    /// ISO 3166-1 alpha-2, upper case.
    pub const COUNTRY: &str = r"^[A-Z]{2}$";
    /// Tracking tokens: 40 hexadecimal digits.
    pub const TOKEN: &str = r"^[0-9a-fA-F]{40}$";
    /// Idempotency keys: 1-255 visible ASCII characters.
    pub const IDEMPOTENCY_KEY: &str = r"^[\x21-\x7e]{1,255}$";
}

/// JSON Schema's `integer` is any number with no fractional part, so `5.0` is an integer; serde
/// reads `5.0` only as a float. Integer fields of request bodies take both.
pub mod integer {
    use serde::de::{Deserializer, Error, Unexpected, Visitor};
    use std::fmt;

    struct Int;

    impl Visitor<'_> for Int {
        type Value = i128;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<i128, E> {
            Ok(v.into())
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<i128, E> {
            Ok(v.into())
        }
        fn visit_f64<E: Error>(self, v: f64) -> Result<i128, E> {
            // Exactly representable integers only (|v| <= 2^53), so nothing is rounded.
            if v.fract() == 0.0 && v.abs() <= 9_007_199_254_740_992.0 {
                Ok(v as i128)
            } else {
                Err(E::invalid_type(Unexpected::Float(v), &self))
            }
        }
    }

    fn read<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D, what: &str) -> Result<T, D::Error> {
        let v = d.deserialize_any(Int)?;
        T::try_from(v).map_err(|_| D::Error::custom(format!("{v} is out of range for {what}")))
    }

    pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        read(d, "a 32-bit unsigned integer")
    }

    pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        read(d, "a 64-bit integer")
    }

    #[cfg(test)]
    mod tests;
}
