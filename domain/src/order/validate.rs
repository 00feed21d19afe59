//! Checks on free-text fields a client sends, shared by `NewOrder::validate` and `decide`, and
//! the one shape of a country code (addresses, warehouses, rate zones, carrier rules).

use super::error::{invalid, DomainError};

/// An ISO 3166-1 alpha-2 country code, upper case (`NL`).
pub fn is_country_code(c: &str) -> bool {
    c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())
}

/// A required text field: not blank, and within [`bounded_text`]'s limits.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    bounded_text(field, value, max)
}

/// A text field that may be blank: at most `max` characters, no control characters.
fn bounded_text(field: &str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// An optional text field: checked like [`bounded_text`] when present.
pub(super) fn opt_text(field: &str, value: &Option<String>, max: usize) -> Result<(), DomainError> {
    value
        .as_deref()
        .map_or(Ok(()), |v| bounded_text(field, v, max))
}
